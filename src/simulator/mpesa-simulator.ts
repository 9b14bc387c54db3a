// A Daraja-shaped M-Pesa simulator on localhost: OAuth, B2C v3 with its real duplicate answer
// (HTTP 500, 500.002.1001), the asynchronous result callback to ResultURL, Transaction Status
// queries answered on their own ResultURL, deterministic fault injection per MSISDN pattern, and
// a statement of what it executed. It counts executions per OriginatorConversationID so tests can
// prove "paid at most once". The control API (controlRouter) is for tests and demos on localhost.
import { randomBytes, randomUUID } from 'node:crypto';
import express, { type Request, type Response } from 'express';
import type { Logger } from 'pino';
import { z } from 'zod';
import { type ProviderSimulator, faultDelayMaxMs, faultDelaySchema, faultPatternSchema, faultsSchemaOf, maskNumber, statementCsv, statementLinesMax } from './faults.js';

export interface MpesaSimulatorOptions {
  readonly consumerKey: string;
  readonly consumerSecret: string;
  readonly callbackDelayMs: number;
  readonly logger: Logger;
}

/** Transactions kept in memory at most; the simulator is for tests and demos. */
export const simulatorTransactionsMax = 2_000_000;
const callbackAttemptsMax = 3;
const tokenTtlS = 3599;


/**
 * What a matching payout meets. fail: the result callback carries `resultCode` (default 2001);
 * timeout-after-accept: the payment runs, the HTTP answer is held `holdMs` (past the client's
 * timeout); error-500-after-accept: the payment runs, the answer is HTTP 500 500.003.1001;
 * queue-timeout: not processed, the request is echoed to QueueTimeOutURL. `callback` says what
 * happens to the result callback: sent, lost, sent twice.
 */
const faultRuleSchema = z.strictObject({
  // Over PartyB as Daraja sees it: 254…, no "+".
  pattern: faultPatternSchema,
  fault: z.enum(['none', 'fail', 'timeout-after-accept', 'error-500-after-accept', 'queue-timeout']).default('none'),
  resultCode: z.union([z.number().int().min(0).max(99_999), z.string().regex(/^[A-Z0-9_]{1,20}$/)]).optional(),
  holdMs: faultDelaySchema.optional(),
  callback: z.enum(['send', 'lose', 'duplicate']).default('send'),
  callbackDelayMs: faultDelaySchema.optional(),
});
/** latencyMs: added to every B2C answer. */
export const mpesaFaultsSchema = faultsSchemaOf(faultRuleSchema);
export type MpesaFaults = z.input<typeof mpesaFaultsSchema>;
type ParsedFaults = z.output<typeof mpesaFaultsSchema>;

interface Transaction {
  readonly key: string;
  readonly conversationId: string;
  readonly receipt: string;
  readonly amount: string;
  readonly partyB: string;
  readonly resultUrl: string;
  readonly resultCode: number | string;
  readonly at: Date;
  executions: number;
}

export interface StatementLine {
  readonly receipt: string;
  readonly originatorConversationId: string;
  readonly conversationId: string;
  readonly amount: string;
  readonly currency: 'KES';
  readonly status: 'Completed' | 'Failed';
  readonly resultCode: string;
  /** The receiving number, all but its last three digits masked. */
  readonly partyB: string;
  readonly completedAt: string;
}

export type MpesaSimulator = ProviderSimulator<MpesaFaults, StatementLine>;

const gatewayError = (res: Response, status: number, errorCode: string, errorMessage: string) =>
  res.status(status).json({ requestId: randomUUID(), errorCode, errorMessage });

export function createMpesaSimulator(options: MpesaSimulatorOptions): MpesaSimulator {
  const log = options.logger.child({ component: 'simulator', provider: 'mpesa' });
  const tokens = new Map<string, number>();
  const transactions = new Map<string, Transaction>();
  const timers = new Set<NodeJS.Timeout>();
  const pending = new Set<Promise<void>>();
  const router = express.Router();
  let faults: ParsedFaults = mpesaFaultsSchema.parse({});
  const ruleFor = (partyB: string) => faults.rules.find((r) => new RegExp(r.pattern).test(partyB));
  const later = (ms: number, run: () => void) => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      run();
    }, ms);
    timers.add(timer);
  };

  router.get('/oauth/v1/generate', (req, res) => {
    if (req.query.grant_type !== 'client_credentials') return gatewayError(res, 400, '400.008.02', 'Invalid grant type passed');
    const expected = `Basic ${Buffer.from(`${options.consumerKey}:${options.consumerSecret}`).toString('base64')}`;
    if (req.headers.authorization !== expected) return gatewayError(res, 400, '400.008.01', 'Invalid Authentication passed');
    const token = randomBytes(18).toString('base64url');
    tokens.clear(); // Daraja: each new token invalidates the previous one
    tokens.set(token, Date.now() + tokenTtlS * 1000);
    return res.json({ access_token: token, expires_in: String(tokenTtlS) });
  });

  router.post('/mpesa/b2c/v3/paymentrequest', express.json({ limit: '16kb' }), (req: Request, res: Response) => {
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const expiry = token ? tokens.get(token) : undefined;
    if (!expiry || expiry < Date.now()) return gatewayError(res, 401, '401.002.01', 'Error Occurred - Invalid Access Token');
    const b = req.body as Record<string, unknown>;
    const invalid = validateB2C(b);
    if (invalid) return gatewayError(res, 400, '400.002.02', `Bad Request - Invalid ${invalid}`);
    const key = b.OriginatorConversationID as string;
    const seen = transactions.get(key);
    if (seen) {
      return gatewayError(res, 500, '500.002.1001', 'Duplicate OriginatorConversationID.');
    }
    if (transactions.size >= simulatorTransactionsMax) return gatewayError(res, 500, '500.003.03', 'Quota Violation');
    const partyB = String(b.PartyB);
    const rule = ruleFor(partyB);
    const conversationId = `AG_${new Date().toISOString().slice(0, 10).replaceAll('-', '')}_${randomBytes(10).toString('hex')}`;
    const answer = (send: () => void) => (faults.latencyMs > 0 ? later(faults.latencyMs, send) : send());
    if (rule?.fault === 'queue-timeout') {
      // Not processed: the key stays unused, the request is echoed to QueueTimeOutURL.
      scheduleSend(String(b.QueueTimeOutURL), { ...b, SecurityCredential: undefined }, rule.callbackDelayMs);
      return answer(() => res.json({ ConversationID: conversationId, OriginatorConversationID: key, ResponseCode: '0', ResponseDescription: 'Accept the service request successfully.' }));
    }
    const tx: Transaction = {
      key,
      conversationId,
      receipt: randomBytes(5).toString('hex').toUpperCase(),
      amount: String(b.Amount),
      partyB,
      resultUrl: b.ResultURL as string,
      resultCode: rule?.fault === 'fail' ? (rule.resultCode ?? 2001) : 0,
      at: new Date(),
      executions: 1,
    };
    transactions.set(key, tx);
    if (rule?.callback !== 'lose') {
      scheduleCallback(tx, rule?.callbackDelayMs);
      if (rule?.callback === 'duplicate') scheduleCallback(tx, (rule.callbackDelayMs ?? options.callbackDelayMs) + 5);
    }
    if (rule?.fault === 'error-500-after-accept') return answer(() => gatewayError(res, 500, '500.003.1001', 'Internal Server Error'));
    const ack = () => res.json({ ConversationID: tx.conversationId, OriginatorConversationID: key, ResponseCode: '0', ResponseDescription: 'Accept the service request successfully.' });
    if (rule?.fault === 'timeout-after-accept') return later(rule.holdMs ?? faultDelayMaxMs, () => res.headersSent || res.destroyed ? undefined : ack());
    return answer(ack);
  });

  const controlRouter = express.Router();
  controlRouter.put('/faults', express.json({ limit: '64kb' }), (req, res) => {
    const parsed = mpesaFaultsSchema.safeParse(req.body);
    if (!parsed.success) return res.status(400).json({ error: 'invalid faults', problems: parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`) });
    faults = parsed.data;
    return res.json(faults);
  });
  controlRouter.get('/executions/:key', (req, res) => res.json({ key: req.params.key, executions: transactions.get(req.params.key)?.executions ?? 0 }));
  controlRouter.get('/statement', (req, res) => {
    const lines = statement();
    if (req.query.format === 'csv') return res.type('text/csv').send(toCsv(lines));
    if (req.query.format !== undefined && req.query.format !== 'json') return res.status(400).json({ error: 'format is json or csv' });
    return res.json(lines);
  });

  function statement(): StatementLine[] {
    return [...transactions.values()].slice(0, statementLinesMax).map((t) => ({
      receipt: t.receipt,
      originatorConversationId: t.key,
      conversationId: t.conversationId,
      amount: `${t.amount}.00`,
      currency: 'KES',
      status: String(t.resultCode) === '0' ? 'Completed' : 'Failed',
      resultCode: String(t.resultCode),
      partyB: maskNumber(t.partyB),
      completedAt: t.at.toISOString(),
    }));
  }

  // Transaction Status: acknowledged at once, answered later on the query's ResultURL.
  router.post('/mpesa/transactionstatus/v1/query', express.json({ limit: '16kb' }), (req: Request, res: Response) => {
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const expiry = token ? tokens.get(token) : undefined;
    if (!expiry || expiry < Date.now()) return gatewayError(res, 401, '401.002.01', 'Error Occurred - Invalid Access Token');
    const b = req.body as Record<string, unknown>;
    const invalid = validateStatusQuery(b);
    if (invalid) return gatewayError(res, 400, '400.002.02', `Bad Request - Invalid ${invalid}`);
    const queryId = `${randomBytes(4).toString('hex')}-${randomBytes(4).toString('hex')}`;
    const conversationId = `AG_${new Date().toISOString().slice(0, 10).replaceAll('-', '')}_${randomBytes(10).toString('hex')}`;
    const original = typeof b.OriginalConversationID === 'string' ? b.OriginalConversationID : null;
    const receipt = typeof b.TransactionID === 'string' ? b.TransactionID : null;
    const tx = original ? transactions.get(original) : receipt ? [...transactions.values()].find((t) => t.receipt === receipt) : undefined;
    scheduleSend(String(b.ResultURL), statusResult(queryId, conversationId, tx));
    return res.json({ ConversationID: conversationId, OriginatorConversationID: queryId, ResponseCode: '0', ResponseDescription: 'Accept the service request successfully.' });
  });

  function scheduleCallback(tx: Transaction, delayMs?: number): void {
    scheduleSend(tx.resultUrl, String(tx.resultCode) === '0' ? successResult(tx) : failureResult(tx), delayMs);
  }

  function scheduleSend(url: string, payload: unknown, delayMs = options.callbackDelayMs): void {
    later(delayMs, () => {
      const sending = sendCallback(url, payload).finally(() => pending.delete(sending));
      pending.add(sending);
    });
  }

  async function sendCallback(url: string, payload: unknown): Promise<void> {
    const body = JSON.stringify(payload);
    for (let attempt = 1; attempt <= callbackAttemptsMax; attempt++) {
      try {
        const res = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body,
          signal: AbortSignal.timeout(5_000),
        });
        if (res.ok) return;
        log.warn({ status: res.status, attempt }, 'result callback refused');
      } catch (error) {
        log.warn({ err: error, attempt }, 'result callback failed');
      }
      await new Promise((r) => setTimeout(r, 200 * attempt));
    }
  }

  return {
    router,
    controlRouter,
    setFaults(next) {
      faults = mpesaFaultsSchema.parse(next);
    },
    statement,
    executions: (key) => transactions.get(key)?.executions ?? 0,
    async drained() {
      while (timers.size > 0 || pending.size > 0) {
        await Promise.all(pending);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    close() {
      for (const t of timers) clearTimeout(t);
      timers.clear();
    },
  };
}

function validateB2C(b: Record<string, unknown>): string | null {
  const text = (v: unknown, min = 1, max = 100) => typeof v === 'string' && v.length >= min && v.length <= max;
  if (!text(b.OriginatorConversationID)) return 'OriginatorConversationID';
  if (!text(b.InitiatorName)) return 'InitiatorName';
  if (!text(b.SecurityCredential, 1, 2048)) return 'SecurityCredential';
  if (!['SalaryPayment', 'BusinessPayment', 'PromotionPayment'].includes(String(b.CommandID))) return 'CommandID';
  if (!/^[1-9][0-9]{0,8}$/.test(String(b.Amount))) return 'Amount';
  if (!/^[0-9]{5,7}$/.test(String(b.PartyA))) return 'PartyA';
  if (!/^254[0-9]{9}$/.test(String(b.PartyB))) return 'PartyB';
  if (!text(b.Remarks, 2, 100)) return 'Remarks';
  return badUrlField(b, ['QueueTimeOutURL', 'ResultURL']);
}

/** The first of `fields` that is not a URL, or null. */
function badUrlField(b: Record<string, unknown>, fields: readonly string[]): string | null {
  return fields.find((field) => !URL.canParse(String(b[field]))) ?? null;
}

function validateStatusQuery(b: Record<string, unknown>): string | null {
  const text = (v: unknown, min = 1, max = 100) => typeof v === 'string' && v.length >= min && v.length <= max;
  if (!text(b.Initiator)) return 'Initiator';
  if (!text(b.SecurityCredential, 1, 2048)) return 'SecurityCredential';
  if (b.CommandID !== 'TransactionStatusQuery') return 'CommandID';
  if (!text(b.OriginalConversationID) && !text(b.TransactionID)) return 'TransactionID';
  if (!/^[0-9]{5,7}$/.test(String(b.PartyA))) return 'PartyA';
  if (!['1', '2', '4'].includes(String(b.IdentifierType))) return 'IdentifierType';
  return badUrlField(b, ['QueueTimeOutURL', 'ResultURL']);
}

/**
 * The status result Daraja posts. For a transaction it does not know, Daraja's pages document no
 * code: the simulator answers a non-zero ResultCode, which Tuma reads as "the query failed".
 */
function statusResult(queryId: string, conversationId: string, tx: Transaction | undefined) {
  if (!tx) {
    return { Result: { ResultType: 0, ResultCode: 'R000001', ResultDesc: 'The transaction receipt number does not exist.', OriginatorConversationID: queryId, ConversationID: conversationId, TransactionID: '' } };
  }
  return {
    Result: {
      ResultType: 0,
      ResultCode: 0,
      ResultDesc: 'The service request is processed successfully.',
      OriginatorConversationID: queryId,
      ConversationID: conversationId,
      TransactionID: tx.receipt,
      ResultParameters: {
        ResultParameter: [
          { Key: 'ReceiptNo', Value: tx.receipt },
          { Key: 'OriginatorConversationID', Value: tx.key },
          { Key: 'TransactionStatus', Value: String(tx.resultCode) === '0' ? 'Completed' : 'Failed' },
          { Key: 'Amount', Value: Number(tx.amount) },
          { Key: 'ConversationID', Value: tx.conversationId },
          { Key: 'ReasonType', Value: 'Salary Payment via API' },
        ],
      },
    },
  };
}

/** A failed B2C result: same envelope, the fault's ResultCode, no ResultParameters (as Daraja sends it). */
function failureResult(tx: Transaction) {
  return {
    Result: {
      ResultType: 0,
      ResultCode: tx.resultCode,
      ResultDesc: String(tx.resultCode) === '1' ? 'The balance is insufficient for the transaction.' : 'The initiator information is invalid.',
      OriginatorConversationID: tx.key,
      ConversationID: tx.conversationId,
      TransactionID: tx.receipt,
      ReferenceData: { ReferenceItem: { Key: 'QueueTimeoutURL', Value: 'https://sandbox.invalid/mpesa/b2cresults/v1/submit' } },
    },
  };
}

const statementHeader = ['receipt', 'originatorConversationId', 'conversationId', 'amount', 'currency', 'status', 'resultCode', 'partyB', 'completedAt'] as const;
const toCsv = (lines: readonly StatementLine[]): string => statementCsv(statementHeader, lines);

function successResult(tx: Transaction) {
  const completed = new Date();
  const pad = (n: number) => String(n).padStart(2, '0');
  const when = `${pad(completed.getUTCDate())}.${pad(completed.getUTCMonth() + 1)}.${completed.getUTCFullYear()} ${pad(completed.getUTCHours())}:${pad(completed.getUTCMinutes())}:${pad(completed.getUTCSeconds())}`;
  return {
    Result: {
      ResultType: 0,
      ResultCode: 0,
      ResultDesc: 'The service request is processed successfully.',
      OriginatorConversationID: tx.key,
      ConversationID: tx.conversationId,
      TransactionID: tx.receipt,
      ResultParameters: {
        ResultParameter: [
          { Key: 'TransactionAmount', Value: Number(tx.amount) },
          { Key: 'TransactionReceipt', Value: tx.receipt },
          { Key: 'TransactionCompletedDateTime', Value: when },
          { Key: 'B2CRecipientIsRegisteredCustomer', Value: 'Y' },
        ],
      },
      ReferenceData: { ReferenceItem: { Key: 'QueueTimeoutURL', Value: 'https://sandbox.invalid/mpesa/b2cresults/v1/submit' } },
    },
  };
}

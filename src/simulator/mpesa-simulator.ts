// A Daraja-shaped M-Pesa simulator on localhost: OAuth, B2C v3 with its real duplicate answer
// (HTTP 500, 500.002.1001), and the asynchronous result callback to ResultURL. It counts
// executions per OriginatorConversationID so tests can prove "paid at most once".
// Fault injection, status queries and statements arrive with issue #5.
import { randomBytes, randomUUID } from 'node:crypto';
import express, { type Request, type Response } from 'express';
import type { Logger } from 'pino';

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

interface Transaction {
  readonly key: string;
  readonly conversationId: string;
  readonly receipt: string;
  readonly amount: string;
  readonly resultUrl: string;
  executions: number;
}

export interface MpesaSimulator {
  readonly router: express.Router;
  executions(key: string): number;
  /** Resolves when no callback is waiting to be sent. */
  drained(): Promise<void>;
  close(): void;
}

const gatewayError = (res: Response, status: number, errorCode: string, errorMessage: string) =>
  res.status(status).json({ requestId: randomUUID(), errorCode, errorMessage });

export function createMpesaSimulator(options: MpesaSimulatorOptions): MpesaSimulator {
  const log = options.logger.child({ component: 'simulator', provider: 'mpesa' });
  const tokens = new Map<string, number>();
  const transactions = new Map<string, Transaction>();
  const timers = new Set<NodeJS.Timeout>();
  const pending = new Set<Promise<void>>();
  const router = express.Router();

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
    const tx: Transaction = {
      key,
      conversationId: `AG_${new Date().toISOString().slice(0, 10).replaceAll('-', '')}_${randomBytes(10).toString('hex')}`,
      receipt: randomBytes(5).toString('hex').toUpperCase(),
      amount: String(b.Amount),
      resultUrl: b.ResultURL as string,
      executions: 1,
    };
    transactions.set(key, tx);
    scheduleCallback(tx);
    return res.json({
      ConversationID: tx.conversationId,
      OriginatorConversationID: key,
      ResponseCode: '0',
      ResponseDescription: 'Accept the service request successfully.',
    });
  });

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

  function scheduleCallback(tx: Transaction): void {
    scheduleSend(tx.resultUrl, successResult(tx));
  }

  function scheduleSend(url: string, payload: unknown): void {
    const timer = setTimeout(() => {
      timers.delete(timer);
      const sending = sendCallback(url, payload).finally(() => pending.delete(sending));
      pending.add(sending);
    }, options.callbackDelayMs);
    timers.add(timer);
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
  for (const field of ['QueueTimeOutURL', 'ResultURL'] as const) {
    try {
      new URL(String(b[field]));
    } catch {
      return field;
    }
  }
  return null;
}

function validateStatusQuery(b: Record<string, unknown>): string | null {
  const text = (v: unknown, min = 1, max = 100) => typeof v === 'string' && v.length >= min && v.length <= max;
  if (!text(b.Initiator)) return 'Initiator';
  if (!text(b.SecurityCredential, 1, 2048)) return 'SecurityCredential';
  if (b.CommandID !== 'TransactionStatusQuery') return 'CommandID';
  if (!text(b.OriginalConversationID) && !text(b.TransactionID)) return 'TransactionID';
  if (!/^[0-9]{5,7}$/.test(String(b.PartyA))) return 'PartyA';
  if (!['1', '2', '4'].includes(String(b.IdentifierType))) return 'IdentifierType';
  for (const field of ['QueueTimeOutURL', 'ResultURL'] as const) {
    try {
      new URL(String(b[field]));
    } catch {
      return field;
    }
  }
  return null;
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
          { Key: 'TransactionStatus', Value: 'Completed' },
          { Key: 'Amount', Value: Number(tx.amount) },
          { Key: 'ConversationID', Value: tx.conversationId },
          { Key: 'ReasonType', Value: 'Salary Payment via API' },
        ],
      },
    },
  };
}

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

// A Daraja-shaped M-Pesa simulator on localhost: OAuth, B2C v3 with its real duplicate answer
// (HTTP 500, 500.002.1001), the asynchronous result callback to ResultURL, Transaction Status
// queries answered on their own ResultURL, deterministic fault injection per MSISDN pattern (and,
// per idempotency key, latency and transient errors), and a statement of what it executed. It
// counts executions per OriginatorConversationID so tests can prove "paid at most once". The
// control API (controlRouter) is for tests and demos on localhost. Its CSV statement is the M-Pesa
// organisation portal's export (mpesa-org-portal-csv@1), so Tuma's importer reads it as the real one.
import { randomBytes, randomUUID } from 'node:crypto';
import express, { type Request, type Response } from 'express';
import type { Logger } from 'pino';
import { z } from 'zod';
import {
  type ProviderSimulator,
  answerDelayMs,
  createAttemptCounter,
  createSimulatorTasks,
  failsAtErrorRate,
  faultDelayMaxMs,
  faultDelaySchema,
  faultErrorRateSchema,
  faultFloatSchemaOf,
  faultLatencySchema,
  faultPatternSchema,
  faultsSchemaOf,
  csvRow,
  groupedAmount,
  maskNumber,
  picksSecondShape,
  randomHex,
  reportAmountSchemaOf,
  reportReceiptSchemaOf,
  reportReceiverSchema,
  reversedAmount,
  simulatedPayeeName,
  statementLinesMax,
} from './faults.js';

export interface MpesaSimulatorOptions {
  readonly consumerKey: string;
  readonly consumerSecret: string;
  readonly callbackDelayMs: number;
  readonly logger: Logger;
  /**
   * The B2C utility account's balance when the simulator starts, as its statement's running
   * balance begins (KES, a decimal string); default mpesaStatementOpeningFloat.
   */
  readonly statementOpeningFloat?: string;
  /** The shortcode a statement names when no payment says one (no payment yet); default 600000. */
  readonly shortCode?: string;
}

/** Transactions kept in memory at most; the simulator is for tests and demos. */
export const simulatorTransactionsMax = 2_000_000;
const callbackAttemptsMax = 3;
const tokenTtlS = 3599;
/**
 * Integer digits of an amount a rule makes Daraja report: it goes out as a JSON number, as
 * Daraja writes TransactionAmount, and up to 15 significant digits a number says it exactly.
 */
export const mpesaReportAmountIntegerDigitsMax = 13;
/** The B2C utility account's balance a result reports when no float is set (KES). */
const utilityFundsDefault = '100000000.00';
/** The utility account's balance at the simulator's start, where its statement's running balance begins (KES). */
export const mpesaStatementOpeningFloat = utilityFundsDefault;
/** The longest period one statement may be asked for: the importer's own bound (application/reconcile.ts). */
export const mpesaStatementPeriodMaxDays = 366;


/** Daraja's transient gateway error, answered to a request an error rate picks (it documents no 503). */
export const mpesaTransientError = { status: 500, errorCode: '500.003.1001', errorMessage: 'Internal Server Error' } as const;

/**
 * What a matching payout meets. fail: the result callback carries `resultCode` (default 2001);
 * timeout-after-accept: the payment runs, the HTTP answer is held `holdMs` (past the client's
 * timeout); error-500-after-accept: the payment runs, the answer is HTTP 500 500.003.1001;
 * queue-timeout: not processed, the request is echoed to QueueTimeOutURL; reverse-after-success:
 * it is paid as usual, then `delayMs` after its result callback Safaricom reverses it (no
 * callback: a Transaction Status query then reads "Reversed", the statement gets a negative line).
 *
 * `callback` says what happens to the result callback: sent (after `callbackDelayMs`), lost, sent
 * twice, sent `delayMs` late (delay), or out-of-order: the result callback is delivered first and
 * the synchronous acknowledgement (ResponseCode "0", Daraja's only "accepted, not final" message
 * for a B2C payment) is answered only after it, `delayMs` later — B2C has no intermediate result
 * callback that could arrive stale.
 *
 * errorRatePercent: that share of requests (by key and attempt, see failsAtErrorRate) is answered
 * HTTP 500 500.003.1001 before anything runs. latency: a deterministic delay per key on the answer
 * (instead of the global one).
 *
 * What the result callback and the status result REPORT, never what runs (the float, the
 * statement and the execution count keep the truth): reportAmount, a decimal string reported as
 * TransactionAmount / Amount; reportReceiver, the digits reported in ReceiverPartyPublicName /
 * CreditPartyName; reportReceipt, a fixed receipt reported as TransactionID, TransactionReceipt
 * and ReceiptNo instead of a fresh one (a receipt reused on two payouts).
 */
const faultRuleSchema = z.strictObject({
  // Over PartyB as Daraja sees it: 254…, no "+".
  pattern: faultPatternSchema,
  fault: z.enum(['none', 'fail', 'timeout-after-accept', 'error-500-after-accept', 'queue-timeout', 'reverse-after-success']).default('none'),
  resultCode: z.union([z.number().int().min(0).max(99_999), z.string().regex(/^[A-Z0-9_]{1,20}$/)]).optional(),
  holdMs: faultDelaySchema.optional(),
  callback: z.enum(['send', 'lose', 'duplicate', 'delay', 'out-of-order']).default('send'),
  callbackDelayMs: faultDelaySchema.optional(),
  delayMs: faultDelaySchema.optional(),
  errorRatePercent: faultErrorRateSchema.optional(),
  latency: faultLatencySchema.optional(),
  reportAmount: reportAmountSchemaOf(2, mpesaReportAmountIntegerDigitsMax).optional(),
  reportReceiver: reportReceiverSchema.optional(),
  reportReceipt: reportReceiptSchemaOf('A-Z0-9').optional(),
});
/** The float's decimals (KES cents); B2C amounts are whole shillings. */
const floatDecimals = 2;
/**
 * latencyMs: added to every B2C answer; latency: a deterministic delay per key added to it (a
 * rule's own replaces it); floatBalance: when set, the B2C utility account holds this much from
 * the moment the faults are set, every paid payout takes its amount, and a payout it cannot cover
 * fails with ResultCode 1 ("The balance is insufficient for the transaction."); absent: no limit.
 */
export const mpesaFaultsSchema = faultsSchemaOf(faultRuleSchema).extend({
  latency: faultLatencySchema.optional(),
  floatBalance: faultFloatSchemaOf(floatDecimals).optional(),
});
export type MpesaFaults = z.input<typeof mpesaFaultsSchema>;
type ParsedFaults = z.output<typeof mpesaFaultsSchema>;

interface Transaction {
  readonly key: string;
  readonly conversationId: string;
  readonly receipt: string;
  readonly amount: string;
  readonly partyA: string;
  readonly partyB: string;
  /** BusinessPayment, SalaryPayment or PromotionPayment: the statement's Reason Type follows it. */
  readonly commandId: string;
  /** What its result and status messages say (a rule's report* knobs, else the truth). */
  readonly reported: { readonly amount: string; readonly receiver: string; readonly receipt: string };
  /** The utility account's balance after it, as its result reports it (KES, two decimals). */
  readonly utilityFunds: string;
  readonly resultUrl: string;
  readonly resultCode: number | string;
  readonly at: Date;
  /** When Safaricom reversed it (reverse-after-success); null while it stands. */
  reversedAt: Date | null;
  /** The reversal's own receipt (its statement line's Receipt No.); null while it stands. */
  reversalReceipt: string | null;
  executions: number;
}

export interface StatementLine {
  readonly receipt: string;
  readonly originatorConversationId: string;
  readonly conversationId: string;
  readonly amount: string;
  readonly currency: 'KES';
  /** Reversed: the reversal of an earlier Completed line (its amount negative). */
  readonly status: 'Completed' | 'Failed' | 'Reversed';
  readonly resultCode: string;
  /** The receiving number, all but its last three digits masked. */
  readonly partyB: string;
  readonly completedAt: string;
}

export interface MpesaSimulator extends ProviderSimulator<MpesaFaults, StatementLine> {
  /** A B2C payment request, its body parsed, answered on `reply` (what the route does after express.json). */
  paymentRequest(authorization: string | undefined, body: unknown, reply: SimulatorReply): void;
}

/** Daraja's B2C payment request path, and the largest body the simulator reads on it. */
export const mpesaB2cPath = '/mpesa/b2c/v3/paymentrequest';
export const mpesaB2cBodyMaxBytes = 16 * 1024;

/** Where a simulated answer goes: Express's response, or a bare node:http one (bareMpesaB2c). */
export interface SimulatorReply {
  /** Answers `status` with `body` as JSON. */
  json(status: number, body: unknown): void;
  /** Not answered yet, and its connection still open. */
  live(): boolean;
}

const expressReply = (res: Response): SimulatorReply => ({
  json: (status, body) => void res.status(status).json(body),
  live: () => !res.headersSent && !res.destroyed,
});

/** A body that is not JSON (or, as express.json reads strictly, neither an object nor an array): Daraja's invalid-request answer. */
export const answerNotJson = (reply: SimulatorReply): void => gatewayError(reply, 400, '400.002.02', 'Bad Request - Invalid JSON');

/** Daraja's error answer: its requestId, errorCode and errorMessage. */
const gatewayError = (reply: SimulatorReply, status: number, errorCode: string, errorMessage: string): void =>
  reply.json(status, { requestId: randomUUID(), errorCode, errorMessage });

export function createMpesaSimulator(options: MpesaSimulatorOptions): MpesaSimulator {
  if (options.statementOpeningFloat !== undefined && !faultFloatSchemaOf(floatDecimals).safeParse(options.statementOpeningFloat).success) {
    throw new Error('statementOpeningFloat: a decimal string with at most 2 decimals');
  }
  /** Where a statement's default period begins (its whole seconds). */
  const startedAt = new Date(Math.floor(Date.now() / 1000) * 1000);
  const log = options.logger.child({ component: 'simulator', provider: 'mpesa' });
  const tokens = new Map<string, number>();
  const transactions = new Map<string, Transaction>();
  const tasks = createSimulatorTasks();
  const router = express.Router();
  const errorAttempts = createAttemptCounter(simulatorTransactionsMax);
  let faults: ParsedFaults = mpesaFaultsSchema.parse({});
  /** What is left of faults.floatBalance, in cents; null: no limit. */
  let float: bigint | null = null;
  const applyFaults = (next: ParsedFaults) => {
    faults = next;
    float = next.floatBalance === undefined ? null : unitsOf(next.floatBalance);
  };
  /** Takes `amount` from the float; false when the float cannot cover it. */
  const takeFloat = (amount: string): boolean => {
    if (float === null) return true;
    if (unitsOf(amount) > float) return false;
    float -= unitsOf(amount);
    return true;
  };
  const ruleFor = (partyB: string) => faults.rules.find((r) => new RegExp(r.pattern).test(partyB));
  const { later } = tasks;

  router.get('/oauth/v1/generate', (req, res) => {
    if (req.query.grant_type !== 'client_credentials') return gatewayError(expressReply(res), 400, '400.008.02', 'Invalid grant type passed');
    const expected = `Basic ${Buffer.from(`${options.consumerKey}:${options.consumerSecret}`).toString('base64')}`;
    if (req.headers.authorization !== expected) return gatewayError(expressReply(res), 400, '400.008.01', 'Invalid Authentication passed');
    const token = randomBytes(18).toString('base64url');
    tokens.clear(); // Daraja: each new token invalidates the previous one
    tokens.set(token, Date.now() + tokenTtlS * 1000);
    return void res.json({ access_token: token, expires_in: String(tokenTtlS) });
  });

  router.post(mpesaB2cPath, express.json({ limit: mpesaB2cBodyMaxBytes }), (req: Request, res: Response) => {
    paymentRequest(req.headers.authorization, req.body as unknown, expressReply(res));
  });

  /**
   * A B2C payment request, whoever parsed it: the Express route above, or a bare node:http server
   * (bareMpesaB2c, which the load test serves: Express's own work per request cost the simulator as
   * much CPU as the payment itself, on the cores the gateway it measures runs on).
   */
  function paymentRequest(authorization: string | undefined, body: unknown, reply: SimulatorReply): void {
    const token = /^Bearer (.+)$/.exec(authorization ?? '')?.[1];
    const expiry = token ? tokens.get(token) : undefined;
    if (!expiry || expiry < Date.now()) return gatewayError(reply, 401, '401.002.01', 'Error Occurred - Invalid Access Token');
    const b = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
    const invalid = validateB2C(b);
    if (invalid) return gatewayError(reply, 400, '400.002.02', `Bad Request - Invalid ${invalid}`);
    const key = b.OriginatorConversationID as string;
    const partyB = String(b.PartyB);
    const rule = ruleFor(partyB);
    const delayMs = answerDelayMs(faults, rule, key);
    const answer = (send: () => void) => (delayMs > 0 ? later(delayMs, send) : send());
    // A transient gateway error picked by the error rate: answered before anything runs.
    if (rule?.errorRatePercent && failsAtErrorRate(key, errorAttempts.next(key), rule.errorRatePercent)) {
      return answer(() => gatewayError(reply, mpesaTransientError.status, mpesaTransientError.errorCode, mpesaTransientError.errorMessage));
    }
    const seen = transactions.get(key);
    if (seen) {
      return gatewayError(reply, 500, '500.002.1001', 'Duplicate OriginatorConversationID.');
    }
    if (transactions.size >= simulatorTransactionsMax) return gatewayError(reply, 500, '500.003.03', 'Quota Violation');
    const conversationId = newConversationId();
    if (rule?.fault === 'queue-timeout') {
      // Not processed: the key stays unused, the request is echoed to QueueTimeOutURL.
      scheduleSend(String(b.QueueTimeOutURL), { ...b, SecurityCredential: undefined }, rule.callbackDelayMs);
      return answer(() => reply.json(200, { ConversationID: conversationId, OriginatorConversationID: key, ResponseCode: '0', ResponseDescription: 'Accept the service request successfully.' }));
    }
    const receipt = newReceipt();
    // A fail rule decides; otherwise the float, when limited, must cover it (ResultCode 1: insufficient balance).
    const resultCode = rule?.fault === 'fail' ? (rule.resultCode ?? 2001) : takeFloat(String(b.Amount)) ? 0 : 1;
    const tx: Transaction = {
      key,
      conversationId,
      receipt,
      amount: String(b.Amount),
      partyA: String(b.PartyA),
      partyB,
      commandId: String(b.CommandID),
      reported: { amount: rule?.reportAmount ?? String(b.Amount), receiver: rule?.reportReceiver ?? partyB, receipt: rule?.reportReceipt ?? receipt },
      utilityFunds: float === null ? utilityFundsDefault : centsText(float),
      resultUrl: b.ResultURL as string,
      resultCode,
      at: new Date(),
      reversedAt: null,
      reversalReceipt: null,
      executions: 1,
    };
    transactions.set(key, tx);

    const ack = () => (reply.live() ? reply.json(200, { ConversationID: tx.conversationId, OriginatorConversationID: key, ResponseCode: '0', ResponseDescription: 'Accept the service request successfully.' }) : undefined);
    const respond = () => {
      if (rule?.fault === 'timeout-after-accept') return later(rule.holdMs ?? faultDelayMaxMs, ack);
      if (rule?.fault === 'error-500-after-accept') return answer(() => (reply.live() ? gatewayError(reply, 500, '500.003.1001', 'Internal Server Error') : undefined));
      return answer(ack);
    };

    const callbackAt = (rule?.callbackDelayMs ?? options.callbackDelayMs) + (rule?.callback === 'delay' ? (rule.delayMs ?? 0) : 0);
    const reversing = rule?.fault === 'reverse-after-success' && String(tx.resultCode) === '0';
    const reverseLater = () => later(rule?.delayMs ?? 0, () => reverse(tx));
    if (rule?.callback === 'lose') {
      if (reversing) later(callbackAt, reverseLater);
    } else {
      // Each follow-up starts once the callback before it was delivered: the order promised holds.
      scheduleCallback(tx, callbackAt, () => {
        if (reversing) reverseLater();
        if (rule?.callback === 'out-of-order') later(rule.delayMs ?? 0, respond);
      });
      if (rule?.callback === 'duplicate') scheduleCallback(tx, callbackAt + 5);
    }
    if (rule?.callback !== 'out-of-order') respond();
  }

  const controlRouter = express.Router();
  controlRouter.put('/faults', express.json({ limit: '64kb' }), (req, res) => {
    const parsed = mpesaFaultsSchema.safeParse(req.body);
    if (!parsed.success) return res.status(400).json({ error: 'invalid faults', problems: parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`) });
    applyFaults(parsed.data);
    return res.json(faults);
  });
  controlRouter.get('/executions/:key', (req, res) => res.json({ key: req.params.key, executions: transactions.get(req.params.key)?.executions ?? 0 }));
  // ?format=json (default): the simulator's own lines; ?format=csv: the organisation portal's
  // export of one shortcode's utility account. Both for ?from=…&to=… (see statementPeriod).
  controlRouter.get('/statement', (req, res) => {
    if (req.query.format !== undefined && req.query.format !== 'json' && req.query.format !== 'csv') return res.status(400).json({ error: 'format is json or csv' });
    const period = statementPeriod(req.query.from, req.query.to, startedAt, new Date());
    if (typeof period === 'string') return res.status(400).json({ error: period });
    if (req.query.format === 'csv') {
      const shortCode = statementShortCode(req.query.shortCode);
      if (shortCode.error !== undefined) return res.status(400).json({ error: shortCode.error });
      const csv = portalStatement(shortCode.value, period);
      if (csv === null) return res.status(400).json({ error: `more than ${statementLinesMax} lines in the period: ask a shorter one` });
      return res.type('text/csv').send(csv);
    }
    const within = (at: string) => Date.parse(at) >= period.from.getTime() && Date.parse(at) < period.to.getTime();
    return res.json(statement().filter((l) => within(l.completedAt)));
  });

  /** The shortcode a CSV statement is of: the one asked, else the one the payments used, else the default. */
  function statementShortCode(asked: unknown): { value: string; error?: undefined } | { value?: undefined; error: string } {
    if (asked !== undefined) return typeof asked === 'string' && /^[0-9]{5,7}$/.test(asked) ? { value: asked } : { error: 'shortCode: 5 to 7 digits' };
    const used = new Set<string>();
    for (const t of transactions.values()) {
      used.add(t.partyA);
      if (used.size > 1) return { error: 'payments came from several shortcodes: name one with shortCode (one statement per account, as the portal exports)' };
    }
    return { value: used.values().next().value ?? options.shortCode ?? '600000' };
  }

  /**
   * The utility account of `shortCode` as the organisation portal exports it for [from, to): the
   * header block, then one line per B2C payment (Completed: Withdrawn its amount, negative, the
   * balance down by it; Failed: the same Withdrawn, the balance unchanged, as the portal shows a
   * failed one) and one per reversal (its own receipt, Paid In the amount, Linked Transaction ID the
   * payment's receipt), oldest first, with the running balance from the opening float at the
   * simulator's start. No charge lines: the simulator charges nothing (its results report
   * DebitPartyCharges empty and the Charges Paid account at 0.00). Never our
   * OriginatorConversationID or a number in clear. null when the period holds too many lines.
   */
  function portalStatement(shortCode: string, period: StatementPeriod): string | null {
    const events: { readonly at: Date; readonly tx: Transaction; readonly reversal: boolean }[] = [];
    for (const t of transactions.values()) {
      if (t.partyA !== shortCode) continue;
      events.push({ at: t.at, tx: t, reversal: false });
      if (t.reversedAt) events.push({ at: t.reversedAt, tx: t, reversal: true });
    }
    events.sort((a, b) => a.at.getTime() - b.at.getTime());
    let balance = unitsOf(options.statementOpeningFloat ?? mpesaStatementOpeningFloat);
    let opening = balance;
    let paidIn = 0n;
    let withdrawn = 0n;
    const lines: string[] = [];
    for (const e of events) {
      if (e.at.getTime() >= period.to.getTime()) break;
      const amount = unitsOf(e.tx.amount);
      const completed = String(e.tx.resultCode) === '0';
      const delta = e.reversal ? amount : completed ? -amount : 0n;
      balance += delta;
      if (e.at.getTime() < period.from.getTime()) {
        opening = balance;
        continue;
      }
      if (lines.length >= statementLinesMax) return null;
      if (delta > 0n) paidIn += delta;
      else withdrawn -= delta;
      lines.push(portalLine(e.tx, e.reversal, e.at, balance));
    }
    const money = (minor: bigint) => groupedAmount(minor, floatDecimals);
    const closing = opening - withdrawn + paidIn;
    const header = [
      ['Account Holder:', 'TUMA TEST ORGANISATION'],
      ['Short Code:', shortCode],
      ['Account:', 'Utility Account'],
      ['Time Period:', `From ${portalTime(period.from)} To ${portalTime(new Date(period.to.getTime() - 1000))}`],
      ['Operator:', 'tuma-simulator', 'Date of Report:', portalTime(new Date())],
      ['Opening Balance:', money(opening), 'Closing Balance:', money(closing), 'Available Balance:', money(closing), 'Total Paid In:', money(paidIn), 'Total Withdrawn:', money(withdrawn)],
    ];
    return [...header.map(csvRow), csvRow(portalColumns), ...lines].map((l) => `${l}\r\n`).join('');
  }

  /** One transaction line of the portal's export: 13 cells, in portalColumns' order. */
  function portalLine(tx: Transaction, reversal: boolean, at: Date, balance: bigint): string {
    const reason = reasonTypes[tx.commandId] ?? reasonTypes.BusinessPayment!;
    const otherParty = partyName(maskNumber(tx.partyB), simulatedPayeeName);
    const amount = groupedAmount(unitsOf(tx.amount), floatDecimals);
    const time = portalTime(at);
    const after = groupedAmount(balance, floatDecimals);
    if (reversal) {
      return csvRow([tx.reversalReceipt ?? '', time, time, `Reversal of ${tx.receipt}`, 'Completed', amount, '', after, 'true', `${reason.type} Reversal`, otherParty, tx.receipt, '']);
    }
    const status = String(tx.resultCode) === '0' ? 'Completed' : 'Failed';
    return csvRow([tx.receipt, time, time, `${reason.details} to ${otherParty}`, status, '', `-${amount}`, after, 'true', reason.type, otherParty, '', '']);
  }

  function statement(): StatementLine[] {
    const lines: StatementLine[] = [];
    for (const t of transactions.values()) {
      if (lines.length >= statementLinesMax) break;
      const line: StatementLine = {
        receipt: t.receipt,
        originatorConversationId: t.key,
        conversationId: t.conversationId,
        amount: `${t.amount}.00`,
        currency: 'KES',
        status: String(t.resultCode) === '0' ? 'Completed' : 'Failed',
        resultCode: String(t.resultCode),
        partyB: maskNumber(t.partyB),
        completedAt: t.at.toISOString(),
      };
      lines.push(line);
      if (t.reversedAt && lines.length < statementLinesMax) lines.push({ ...line, amount: reversedAmount(line.amount), status: 'Reversed', completedAt: t.reversedAt.toISOString() });
    }
    return lines;
  }

  /** Safaricom reverses a paid payout: the money is back in the float; no B2C callback says so. */
  function reverse(tx: Transaction): void {
    tx.reversedAt = new Date();
    tx.reversalReceipt = newReceipt();
    if (float !== null) float += unitsOf(tx.amount);
  }

  // Transaction Status: acknowledged at once, answered later on the query's ResultURL.
  router.post('/mpesa/transactionstatus/v1/query', express.json({ limit: '16kb' }), (req: Request, res: Response) => {
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const expiry = token ? tokens.get(token) : undefined;
    if (!expiry || expiry < Date.now()) return gatewayError(expressReply(res), 401, '401.002.01', 'Error Occurred - Invalid Access Token');
    const b = req.body as Record<string, unknown>;
    const invalid = validateStatusQuery(b);
    if (invalid) return gatewayError(expressReply(res), 400, '400.002.02', `Bad Request - Invalid ${invalid}`);
    const queryId = `${randomHex(4)}-${randomHex(4)}`;
    const conversationId = newConversationId();
    const original = typeof b.OriginalConversationID === 'string' ? b.OriginalConversationID : null;
    const receipt = typeof b.TransactionID === 'string' ? b.TransactionID : null;
    const tx = original ? transactions.get(original) : receipt ? [...transactions.values()].find((t) => t.receipt === receipt) : undefined;
    scheduleSend(String(b.ResultURL), statusResult(queryId, conversationId, tx));
    return res.json({ ConversationID: conversationId, OriginatorConversationID: queryId, ResponseCode: '0', ResponseDescription: 'Accept the service request successfully.' });
  });

  function scheduleCallback(tx: Transaction, delayMs: number, afterDelivery?: () => void): void {
    scheduleSend(tx.resultUrl, String(tx.resultCode) === '0' ? successResult(tx) : failureResult(tx), delayMs, afterDelivery);
  }

  /** Sends `payload` to `url` after `delayMs`; `afterDelivery` runs once it was delivered (or given up on). */
  function scheduleSend(url: string, payload: unknown, delayMs = options.callbackDelayMs, afterDelivery?: () => void): void {
    later(delayMs, () => tasks.track(sendCallback(url, payload).then(afterDelivery)));
  }

  async function sendCallback(url: string, payload: unknown): Promise<void> {
    const body = JSON.stringify(payload);
    // A closed simulator sends nothing more: no retry outlives it.
    for (let attempt = 1; attempt <= callbackAttemptsMax && !tasks.closed; attempt++) {
      try {
        // One try when its turn comes, read to the end, so the connection is used again.
        const status = await tasks.post(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body, timeoutMs: 5_000 });
        if (status >= 200 && status < 300) return;
        log.warn({ status, attempt }, 'result callback refused');
      } catch (error) {
        log.warn({ err: error, attempt }, 'result callback failed');
      }
      if (attempt < callbackAttemptsMax) await new Promise((r) => setTimeout(r, 200 * attempt));
    }
  }

  // A body express.json cannot read is answered as Daraja answers an invalid request, not with Express's HTML page.
  router.use((error: unknown, _req: Request, res: Response, next: (error?: unknown) => void) => {
    if ((error as { type?: unknown }).type === 'entity.parse.failed') return answerNotJson(expressReply(res));
    return next(error);
  });

  return {
    router,
    controlRouter,
    paymentRequest,
    setFaults(next) {
      applyFaults(mpesaFaultsSchema.parse(next));
    },
    statement,
    executions: (key) => transactions.get(key)?.executions ?? 0,
    drained: () => tasks.drained(),
    close: () => tasks.close(),
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
      ResultCode: wireResultCode(tx, 0),
      ResultDesc: 'The service request is processed successfully.',
      OriginatorConversationID: queryId,
      ConversationID: conversationId,
      TransactionID: tx.reported.receipt,
      ResultParameters: {
        ResultParameter: [
          { Key: 'DebitPartyName', Value: partyName(tx.partyA, 'TUMA TEST ORGANISATION') },
          { Key: 'CreditPartyName', Value: partyName(tx.reported.receiver, simulatedPayeeName) },
          { Key: 'OriginatorConversationID', Value: tx.key },
          { Key: 'InitiatedTime', Value: Number(statusTime(tx.at)) },
          { Key: 'DebitAccountType', Value: 'Utility Account' },
          { Key: 'DebitPartyCharges', Value: '' },
          { Key: 'TransactionReason', Value: '' },
          { Key: 'ReasonType', Value: 'Business Payment to Customer via API' },
          // After a reversal, M-Pesa shows the original transaction as Reversed (not in the reference's pages: see statusOf).
          { Key: 'TransactionStatus', Value: statusOf(tx) },
          { Key: 'FinalisedTime', Value: Number(statusTime(tx.at)) },
          { Key: 'Amount', Value: darajaNumber(tx.reported.amount) },
          { Key: 'ConversationID', Value: tx.conversationId },
          { Key: 'ReceiptNo', Value: tx.reported.receipt },
        ],
      },
    },
  };
}

/**
 * The TransactionStatus a status result gives a payment. Daraja's page shows only "Completed";
 * "Reversed" is the state M-Pesa gives a reversed transaction (the org portal's word), assumed
 * here: Tuma reads any TransactionStatus it does not know as unknown, never paid.
 */
const statusOf = (tx: Transaction): 'Completed' | 'Failed' | 'Reversed' => (tx.reversedAt ? 'Reversed' : String(tx.resultCode) === '0' ? 'Completed' : 'Failed');

/** Daraja's ConversationID: AG_<date>_<20 hex digits>. */
const newConversationId = (): string => `AG_${new Date().toISOString().slice(0, 10).replaceAll('-', '')}_${randomHex(10)}`;
/** An M-Pesa receipt: 10 characters, upper case. */
const newReceipt = (): string => randomHex(5).toUpperCase();

/** Cents as KES with two decimals ("1500.00"). */
const centsText = (cents: bigint): string => `${cents / 100n}.${(cents % 100n).toString().padStart(2, '0')}`;

/**
 * A result's ResultCode as Daraja writes it: a number in its samples and a string in others
 * ("0"), so either, chosen by the hash of the payment's OriginatorConversationID; a code that is
 * not a number (SFC_IC0003) is always a string.
 */
const wireResultCode = (tx: Transaction, code: number | string = tx.resultCode): number | string =>
  /^[0-9]{1,9}$/.test(String(code)) && !picksSecondShape('result-code-as-string', tx.key) ? Number(code) : String(code);

/**
 * A decimal string as Daraja's JSON number (Daraja writes amounts as numbers). Exact for what
 * Tuma reads, the payment's amount: whole shillings, or a rule's reportAmount of at most
 * mpesaReportAmountIntegerDigitsMax + 2 digits, which a double holds exactly. The accounts'
 * balances are informational.
 */
const darajaNumber = (amount: string): number => Number(amount);

/** A party as Daraja names it: "<number> - <NAME>" (the simulator knows no name: a fixed fake one). */
const partyName = (number: string, name: string): string => `${number} - ${name}`;

/** Daraja's timestamps: "19.12.2019 11:45:50" in B2C results, "20191219114550" in status results. */
const pad = (n: number) => String(n).padStart(2, '0');
const b2cTime = (at: Date) => `${pad(at.getUTCDate())}.${pad(at.getUTCMonth() + 1)}.${at.getUTCFullYear()} ${pad(at.getUTCHours())}:${pad(at.getUTCMinutes())}:${pad(at.getUTCSeconds())}`;
const statusTime = (at: Date) => `${at.getUTCFullYear()}${pad(at.getUTCMonth() + 1)}${pad(at.getUTCDate())}${pad(at.getUTCHours())}${pad(at.getUTCMinutes())}${pad(at.getUTCSeconds())}`;

/** An amount in the float's units (cents). */
const unitsOf = (amount: string): bigint => {
  const [whole = '0', fraction = ''] = amount.split('.');
  return BigInt(whole) * 10n ** BigInt(floatDecimals) + BigInt(fraction.padEnd(floatDecimals, '0') || '0');
};

/** A failed B2C result: same envelope, the fault's ResultCode, no ResultParameters (as Daraja sends it). */
function failureResult(tx: Transaction) {
  return {
    Result: {
      ResultType: 0,
      ResultCode: wireResultCode(tx),
      ResultDesc: String(tx.resultCode) === '1' ? 'The balance is insufficient for the transaction.' : 'The initiator information is invalid.',
      OriginatorConversationID: tx.key,
      ConversationID: tx.conversationId,
      TransactionID: tx.reported.receipt,
      ReferenceData: { ReferenceItem: { Key: 'QueueTimeoutURL', Value: 'https://sandbox.invalid/mpesa/b2cresults/v1/submit' } },
    },
  };
}

/**
 * The organisation portal statement's columns, in order, as the CSV export titles them
 * (docs/reconciliation.md (Formats); domain/statement-formats.ts reads them).
 */
export const portalColumns = [
  'Receipt No.', 'Completion Time', 'Initiation Time', 'Details', 'Transaction Status', 'Paid In', 'Withdrawn', 'Balance',
  'Balance Confirmed', 'Reason Type', 'Other Party Info', 'Linked Transaction ID', 'A/C No.',
] as const;

/** Per B2C CommandID: the statement's Reason Type, and how its Details begin ("Business Payment to <party>"). */
const reasonTypes: Readonly<Record<string, { readonly type: string; readonly details: string }>> = {
  BusinessPayment: { type: 'Business Payment to Customer via API', details: 'Business Payment' },
  SalaryPayment: { type: 'Salary Payment via API', details: 'Salary Payment' },
  PromotionPayment: { type: 'Promotion Payment via API', details: 'Promotion Payment' },
};

/** The portal's times: DD-MM-YYYY HH:MM:SS in East Africa Time (UTC+3, no daylight saving). */
const eatOffsetMs = 3 * 3600 * 1000;
const portalTime = (at: Date): string => {
  const eat = new Date(at.getTime() + eatOffsetMs);
  return `${pad(eat.getUTCDate())}-${pad(eat.getUTCMonth() + 1)}-${eat.getUTCFullYear()} ${pad(eat.getUTCHours())}:${pad(eat.getUTCMinutes())}:${pad(eat.getUTCSeconds())}`;
};

/** A statement's period, [from, to), in whole seconds (the portal writes seconds). */
export interface StatementPeriod {
  readonly from: Date;
  readonly to: Date;
}

/** `YYYY-MM-DD` (that day's midnight in East Africa Time, as the portal's days run), or `YYYY-MM-DDTHH:MM:SS` with `Z` or `±HH:MM`. */
const isoInstant = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2}):(\d{2})(?:\.0{1,3})?(Z|[+-](\d{2}):(\d{2})))?$/;

function parseInstant(text: string): Date | null {
  const m = isoInstant.exec(text);
  if (!m) return null;
  const [y, mo, d, h = 0, mi = 0, sec = 0] = [m[1], m[2], m[3], m[4], m[5], m[6]].map((v) => (v === undefined ? undefined : Number(v)));
  const offsetMs = m[7] === undefined ? eatOffsetMs : m[7] === 'Z' ? 0 : (m[7].startsWith('-') ? -1 : 1) * (Number(m[8]) * 60 + Number(m[9])) * 60_000;
  const wall = Date.UTC(y!, mo! - 1, d, h, mi, sec);
  const back = new Date(wall);
  if (back.getUTCFullYear() !== y || back.getUTCMonth() !== mo! - 1 || back.getUTCDate() !== d || h > 23 || mi > 59 || sec > 59 || Math.abs(offsetMs) > 14 * 3600 * 1000) return null;
  return new Date(wall - offsetMs);
}

/**
 * The period a statement is asked for: `from` and `to` (exclusive) as ISO 8601 dates or times in
 * whole seconds, at most mpesaStatementPeriodMaxDays apart. Absent: everything, from the
 * simulator's start to the second after now. A string: what is wrong.
 */
export function statementPeriod(fromText: unknown, toText: unknown, startedAt: Date, now: Date): StatementPeriod | string {
  const read = (text: unknown, name: string, otherwise: Date): Date | string => {
    if (text === undefined) return otherwise;
    const at = typeof text === 'string' ? parseInstant(text) : null;
    return at ?? `${name}: an ISO 8601 date (YYYY-MM-DD, East Africa Time) or time in whole seconds with Z or an offset`;
  };
  const from = read(fromText, 'from', startedAt);
  const to = read(toText, 'to', new Date(Math.floor(now.getTime() / 1000) * 1000 + 1000));
  if (typeof from === 'string') return from;
  if (typeof to === 'string') return to;
  if (from.getTime() >= to.getTime()) return 'from must be before to';
  if (fromText !== undefined || toText !== undefined) {
    if (to.getTime() - from.getTime() > mpesaStatementPeriodMaxDays * 86_400_000) return `from and to at most ${mpesaStatementPeriodMaxDays} days apart`;
    return { from, to };
  }
  // Everything, but never more than one statement may cover: the latest part of it.
  return { from: new Date(Math.max(from.getTime(), to.getTime() - mpesaStatementPeriodMaxDays * 86_400_000)), to };
}

/**
 * A successful B2C result, with every result parameter Daraja documents: the amount as a number,
 * the receiver as "<number without +> - <NAME>", and the accounts' balances after it.
 */
function successResult(tx: Transaction) {
  return {
    Result: {
      ResultType: 0,
      ResultCode: wireResultCode(tx),
      ResultDesc: 'The service request is processed successfully.',
      OriginatorConversationID: tx.key,
      ConversationID: tx.conversationId,
      TransactionID: tx.reported.receipt,
      ResultParameters: {
        ResultParameter: [
          { Key: 'TransactionAmount', Value: darajaNumber(tx.reported.amount) },
          { Key: 'TransactionReceipt', Value: tx.reported.receipt },
          { Key: 'ReceiverPartyPublicName', Value: partyName(tx.reported.receiver, simulatedPayeeName) },
          { Key: 'TransactionCompletedDateTime', Value: b2cTime(new Date()) },
          { Key: 'B2CUtilityAccountAvailableFunds', Value: darajaNumber(tx.utilityFunds) },
          { Key: 'B2CWorkingAccountAvailableFunds', Value: darajaNumber('0.00') },
          { Key: 'B2CChargesPaidAccountAvailableFunds', Value: darajaNumber('0.00') },
          { Key: 'B2CRecipientIsRegisteredCustomer', Value: 'Y' },
        ],
      },
      ReferenceData: { ReferenceItem: { Key: 'QueueTimeoutURL', Value: 'https://sandbox.invalid/mpesa/b2cresults/v1/submit' } },
    },
  };
}

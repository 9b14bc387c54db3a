// An Airtel Money Disbursement v2 simulator on localhost, faithful to
// contracts/providers/airtel-disbursement-v2.openapi.yaml and the 121 platform's Airtel mock: OAuth2 token from client
// credentials (JSON body; expires_in a string), Bearer on every call (403 invalid_token otherwise),
// X-Country (400 ROUTER110 when missing or another market) and X-Currency checked, a synchronous
// disbursement (TS with DP00900001001 when paid), every transaction.id executed at most once (a
// reuse answers HTTP 200, success:false, DP00900001011 "Duplicate exttRID"), the enquiry by id
// (DP00900001015 when unknown), and optional callbacks to the one URL an Airtel application
// registers, signed with the `hash` header (HMAC-SHA256, base64), sent once without retry.
// Faults are deterministic per payee-number pattern (latency and transient errors per
// transaction.id). It counts executions per transaction.id so tests can prove "paid at most once". The PIN is not decrypted (the reference says not to), only
// checked to be base64. The control API (controlRouter) is for tests and demos on localhost. Its
// CSV statement is Airtel's statement "Format 1" (airtel-statement-csv@1), so Tuma's importer
// reads it as the real one.
import { createHmac, randomBytes } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import { z } from 'zod';
import { isCurrencyCode, scaleOf } from '../domain/currency.js';
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
  reversedAmount,
  statementLinesMax,
} from './faults.js';
import { statementPeriod, type StatementPeriod } from './mpesa-simulator.js';

/** Transactions kept in memory at most; beyond it new disbursements answer 503 (nothing recorded). */
export const airtelSimulatorTransactionsMax = 1_000_000;
/** Live access tokens kept at most; the oldest is forgotten first. */
export const airtelSimulatorTokensMax = 1_000;
/** A request body larger than this is refused with 413. */
export const airtelSimulatorBodyBytesMax = 16 * 1024;
/** Decimals the simulator's balance is kept in (Airtel's own mock allows at most 3). */
export const airtelAmountDecimalsMax = 3;
/** Significant digits an amount may have: a JSON number's shortest text is exact up to 15. */
export const airtelAmountDigitsMax = 15;
/** How long the callback listener has. */
export const airtelCallbackTimeoutMs = 5_000;
const tokenTtlDefaultS = 180;
const balanceDefault = '1000000000';
/** The wallet number the statement's `Mobile Number` gives when no option does: a synthetic one. */
export const airtelStatementAccountDefault = '970000000';
/** The account holder's name on the statement when no option gives one: fake. */
const customerNameDefault = 'TUMA TEST ORGANISATION';

type Letter = 'TS' | 'TF' | 'TIP';

/** Refusal codes a `fail` rule may answer with (AIR-CODES), and the router's PIN refusal. */
export const airtelRefusalCodes = [
  'DP00900001003', 'DP00900001004', 'DP00900001005', 'DP00900001007', 'DP00900001009',
  'DP00900001010', 'DP00900001012', 'DP00900001013', 'DP00900001016', 'ROUTER116',
] as const;
/** Codes an `ambiguous-after-execution` rule may answer with: ambiguous, timed out. */
export const airtelAmbiguousCodes = ['DP00900001000', 'DP00900001014'] as const;

const messages: Readonly<Record<string, string>> = {
  DP00900001000: 'Transaction is still processing and is in ambiguous state. Please do the transaction enquiry.',
  DP00900001001: 'Transaction is successful.',
  DP00900001003: 'Maximum transaction limit reached for the day.',
  DP00900001004: 'Amount entered is out of range with respect to defined limits.',
  DP00900001005: 'Transaction failed.',
  DP00900001006: 'Transaction is in process.',
  DP00900001007: 'Not enough funds in account to complete the transaction.',
  DP00900001009: 'Initiatee of the transaction is invalid.',
  DP00900001010: 'Payer is not an allowed user.',
  DP00900001011: 'Duplicate exttRID',
  DP00900001012: 'Mobile number entered is incorrect.',
  DP00900001013: 'The transaction was refused.',
  DP00900001014: 'Transaction Timed Out. The transaction may be processed or failed due to time out. Please do the transaction enquiry.',
  DP00900001015: 'Transaction Not Found.',
  DP00900001016: 'Forbidden: X-signature and payload did not match.',
};

/** Airtel's transient error, answered to a request an error rate picks: HTTP 503 in its envelope. */
export const airtelTransientError = { status: 503, message: 'Service unavailable', resultCode: 'ESB000001' } as const;

/**
 * What a disbursement to a matching payee number (the national number, as Airtel sees it) meets.
 * none (default): nothing but the rule's error rate and latency; fail: refused with
 * `responseCode` (default DP00900001005), nothing paid (ROUTER116: refused by the router, nothing
 * recorded); insufficient-funds: refused DP00900001007; in-process: stays TIP (DP00900001006), no
 * callback; ambiguous-after-execution: paid, answered `responseCode` (DP00900001000 default, or
 * DP00900001014); timeout-after-execution: paid, the answer held `holdMs` (past the client's
 * timeout); error-500-after-execution: paid, answered HTTP 500; lost-callback /
 * duplicate-callback / delay-callback (`delayMs` later than usual): what happens to the callback;
 * reverse-after-success: paid (TS) as usual, then `delayMs` after its callback Airtel reverses it:
 * the money is back on the balance and the statement gets a negative line, while the enquiry still
 * answers TS (Airtel documents no reversed status letter) and no callback says so.
 *
 * errorRatePercent: that share of requests (by transaction.id and attempt, see failsAtErrorRate)
 * is answered HTTP 503 before anything is recorded. latency: a deterministic delay per
 * transaction.id on the answer (instead of the global one).
 */
const faultRuleSchema = z
  .strictObject({
    pattern: faultPatternSchema,
    fault: z
      .enum(['none', 'fail', 'insufficient-funds', 'in-process', 'ambiguous-after-execution', 'timeout-after-execution', 'error-500-after-execution', 'lost-callback', 'duplicate-callback', 'delay-callback', 'reverse-after-success'])
      .default('none'),
    responseCode: z.enum([...airtelRefusalCodes, ...airtelAmbiguousCodes]).optional(),
    holdMs: faultDelaySchema.default(faultDelayMaxMs),
    delayMs: faultDelaySchema.optional(),
    errorRatePercent: faultErrorRateSchema.optional(),
    latency: faultLatencySchema.optional(),
  })
  .superRefine((rule, ctx) => {
    if (rule.responseCode === undefined) return;
    const allowed = rule.fault === 'fail' ? (airtelRefusalCodes as readonly string[]) : rule.fault === 'ambiguous-after-execution' ? (airtelAmbiguousCodes as readonly string[]) : [];
    if (!allowed.includes(rule.responseCode)) ctx.addIssue({ code: 'custom', path: ['responseCode'], message: `not a response code of the ${rule.fault} fault` });
  });
/**
 * latencyMs: added to every disbursement answer; latency: a deterministic delay per
 * transaction.id added to it (a rule's own replaces it); floatBalance: when set, the disbursement
 * wallet holds at most this much from the moment the faults are set, every paid disbursement takes
 * its amount, and one it cannot cover is refused DP00900001007; absent: only the configured
 * availableBalance limits.
 */
export const airtelFaultsSchema = faultsSchemaOf(faultRuleSchema).extend({
  latency: faultLatencySchema.optional(),
  floatBalance: faultFloatSchemaOf(airtelAmountDecimalsMax).optional(),
});
export type AirtelFaults = z.input<typeof airtelFaultsSchema>;
type ParsedFaults = z.output<typeof airtelFaultsSchema>;
type FaultRule = ParsedFaults['rules'][number];

export interface AirtelSimulatorOptions {
  readonly clientId: string;
  readonly clientSecret: string;
  /** The market the partner is provisioned in (X-Country), e.g. ZM. */
  readonly country: string;
  /** The market's currency (X-Currency), e.g. ZMW. */
  readonly currency: string;
  /** Digits of a national number in the market (default 9: ZM, as Airtel's own mock checks; also KE, UG, TZ, RW, MW, CD; NG has 10). */
  readonly msisdnDigits?: number;
  /** Decimals an amount may have in the market (default: the currency's ISO 4217 scale, else 2; at most 3, as Airtel's mock allows). */
  readonly amountDecimals?: number;
  readonly tokenTtlS?: number;
  /** Decimal string, in the market's currency. */
  readonly availableBalance?: string;
  /**
   * The disbursement wallet's balance when the simulator starts, where its CSV statement's running
   * balance begins (a decimal string in the market's currency); default availableBalance.
   */
  readonly statementOpeningFloat?: string;
  /** The disbursement wallet's number (the statement's `Mobile Number`); default airtelStatementAccountDefault. */
  readonly statementAccount?: string;
  /** The wallet holder's name (the statement's `Customer Name`); default a fake one. */
  readonly statementCustomerName?: string;
  /**
   * Callbacks, when the application has a callback URL registered: where (one URL for every
   * transaction) and the shared secret of the `hash` header. Absent: no callbacks (as for 121).
   */
  readonly callback?: { readonly url: string; readonly secret: string | Buffer; readonly delayMs?: number };
  readonly logger: Logger;
}

interface Transaction {
  readonly id: string;
  readonly airtelMoneyId: string;
  readonly referenceId: string;
  readonly reference: string;
  readonly amount: string;
  readonly currency: string;
  readonly msisdn: string;
  status: Letter;
  responseCode: string;
  completedAt: Date | null;
  /** When Airtel reversed it (reverse-after-success); null while it stands. */
  reversedAt: Date | null;
  /** The reversal's own airtel_money_id (its statement line's Transaction ID); null while it stands. */
  reversalId: string | null;
  executions: number;
}

export interface AirtelStatementLine {
  readonly transactionId: string;
  readonly airtelMoneyId: string;
  readonly reference: string;
  readonly amount: string;
  readonly currency: string;
  /** REVERSED: the reversal of an earlier TS line (its amount negative); not a letter Airtel's API answers. */
  readonly status: Letter | 'REVERSED';
  readonly responseCode: string;
  /** ISO time the transaction reached its final state; empty while TIP. */
  readonly completedAt: string;
  /** The payee's national number, all but the last three digits masked. */
  readonly msisdn: string;
}

/** executions() is keyed by transaction.id (a UUID is taken as Tuma's key: its hyphenless form). */
export interface AirtelSimulator extends ProviderSimulator<AirtelFaults, AirtelStatementLine> {
  /** Forgets every issued token: the next call with one answers 403 invalid_token (as after expiry). */
  revokeTokens(): void;
}

const transactionIdPattern = /^[A-Za-z0-9]{5,80}$/;
const referencePattern = /^[A-Za-z0-9]{4,64}$/;
const base64Pattern = /^[A-Za-z0-9+/]+={0,2}$/;
const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** A simulator's executions key: Tuma's UUID key as Airtel sees it (hyphenless), or the id as given. */
const idOf = (key: string): string => (uuidPattern.test(key) ? key.replaceAll('-', '').toLowerCase() : key);

interface Refusal {
  readonly http: number;
  readonly code: string | null;
  readonly message: string;
}

/** Airtel's usual envelope; `code` a string as in Airtel's samples. */
const envelope = (httpCode: number, success: boolean, responseCode: string | null, message: string, resultCode: string, data?: unknown) => ({
  ...(data === undefined ? {} : { data }),
  status: { ...(responseCode ? { response_code: responseCode } : {}), code: String(httpCode), success, result_code: resultCode, message },
});

/** A decimal string in 10^-airtelAmountDecimalsMax units (the simulator's balance arithmetic). */
const toUnits = (amount: string): bigint => {
  const [whole = '0', fraction = ''] = amount.split('.');
  return BigInt(whole) * 10n ** BigInt(airtelAmountDecimalsMax) + BigInt(fraction.padEnd(airtelAmountDecimalsMax, '0') || '0');
};

export function createAirtelSimulator(options: AirtelSimulatorOptions): AirtelSimulator {
  const log = options.logger.child({ component: 'simulator', provider: 'airtel' });
  const tokenTtlS = options.tokenTtlS ?? tokenTtlDefaultS;
  const msisdnDigits = options.msisdnDigits ?? 9;
  const amountDecimals = Math.min(options.amountDecimals ?? (isCurrencyCode(options.currency) ? scaleOf(options.currency) : 2), airtelAmountDecimalsMax);
  const amountPattern = amountDecimals === 0 ? /^[1-9][0-9]*$/ : new RegExp(`^(0|[1-9][0-9]*)(\\.[0-9]{1,${amountDecimals}})?$`);
  if (options.statementOpeningFloat !== undefined && !faultFloatSchemaOf(amountDecimals).safeParse(options.statementOpeningFloat).success) {
    throw new Error(`statementOpeningFloat: a decimal string with at most ${amountDecimals} decimals`);
  }
  if (options.statementAccount !== undefined && !/^[0-9]{1,15}$/.test(options.statementAccount)) throw new Error('statementAccount: 1 to 15 digits');
  if (options.statementCustomerName !== undefined && !/^[A-Za-z0-9 .'&-]{1,100}$/.test(options.statementCustomerName)) throw new Error('statementCustomerName: 1 to 100 letters, digits, spaces and . \' & -');
  /** Where a statement's default period begins (its whole seconds). */
  const startedAt = new Date(Math.floor(Date.now() / 1000) * 1000);
  const callbackSecret = options.callback ? Buffer.from(options.callback.secret) : null;
  const tokens = new Map<string, number>();
  const transactions = new Map<string, Transaction>();
  const tasks = createSimulatorTasks();
  let balance = toUnits(options.availableBalance ?? balanceDefault);
  let sequence = 0;
  let faults: ParsedFaults = airtelFaultsSchema.parse({});
  /** What is left of faults.floatBalance; null: only `balance` limits. */
  let float: bigint | null = null;
  const applyFaults = (next: ParsedFaults) => {
    faults = next;
    float = next.floatBalance === undefined ? null : toUnits(next.floatBalance);
  };
  const errorAttempts = createAttemptCounter(airtelSimulatorTransactionsMax);
  const router = express.Router();

  const { later, delayed } = tasks;

  router.post('/auth/oauth2/token', express.json({ limit: '4kb', type: () => true }), (req, res) => {
    const b = req.body as Record<string, unknown> | undefined;
    if (!b || typeof b !== 'object' || Array.isArray(b)) return res.status(400).json({ error: 'invalid_request', error_description: 'The body must be a JSON object' });
    if (b.grant_type !== 'client_credentials') return res.status(400).json({ error: 'unsupported_grant_type', error_description: 'grant_type must be client_credentials' });
    // As Airtel's gateway (through the 121 mock): HTTP 400 invalid_client.
    if (b.client_id !== options.clientId || b.client_secret !== options.clientSecret) return res.status(400).json({ error: 'invalid_client', error_description: 'Invalid client authentication' });
    const token = randomBytes(24).toString('base64url');
    if (tokens.size >= airtelSimulatorTokensMax) tokens.delete(tokens.keys().next().value as string);
    tokens.set(token, Date.now() + tokenTtlS * 1000);
    return res.json({ token_type: 'bearer', access_token: token, expires_in: String(tokenTtlS) });
  });

  /** The gateway and router checks every API call passes, in Airtel's order: token, X-Country, X-Currency. */
  const gate = (req: Request, res: Response, next: NextFunction) => {
    const token = /^Bearer (.+)$/.exec(req.header('authorization') ?? '')?.[1];
    const expiry = token ? tokens.get(token) : undefined;
    if (expiry === undefined || expiry < Date.now()) return res.status(403).json({ error: 'invalid_token', error_description: 'The access token is invalid or has expired' });
    const country = req.header('x-country');
    if (!country || (/^[A-Z]{2}$/.test(country) && country !== options.country)) return res.status(400).json({ status_code: 'ROUTER110', status_message: `Partner ${options.clientId.slice(0, 8)} not found` });
    if (!/^[A-Z]{2}$/.test(country)) return res.status(400).json(envelope(400, false, 'DP00900001013', 'Invalid Country Code', 'ESB000008'));
    const currency = req.header('x-currency');
    if (!currency) return res.json(envelope(400, false, null, "Missing request header 'x-currency'", 'ESB000008'));
    if (currency !== options.currency) return res.json(envelope(400, false, 'DP00900001013', 'Invalid/Missing Currency', 'ESB000008'));
    return next();
  };

  const mediaType = (req: Request, res: Response, next: NextFunction) => {
    if (!req.is('application/json')) return res.status(415).json(envelope(415, false, null, 'Content-Type must be application/json', 'ESB000008'));
    return next();
  };

  router.post('/standard/v2/disbursements/', gate, mediaType, express.json({ limit: airtelSimulatorBodyBytesMax }), (req, res) => {
    const body = req.body as unknown;
    if (!body || typeof body !== 'object' || Array.isArray(body)) return res.status(400).json(envelope(400, false, null, 'The body must be a JSON object', 'ESB000008'));
    const checked = checkDisbursement(body as Record<string, unknown>);
    if ('refusal' in checked) {
      const { http, code, message } = checked.refusal;
      if (code?.startsWith('ROUTER')) return res.status(http).json({ status_code: code, status_message: message });
      return res.status(http).json(envelope(400, false, code, message, 'ESB000008'));
    }
    const d = checked.disbursement;
    const rule = faults.rules.find((r) => new RegExp(r.pattern).test(d.msisdn));
    // A transient error picked by the error rate: answered before anything is recorded.
    if (rule?.errorRatePercent && failsAtErrorRate(d.id, errorAttempts.next(d.id), rule.errorRatePercent)) {
      const { status, message, resultCode } = airtelTransientError;
      return delayed(answerDelayMs(faults, rule, d.id), () => res.status(status).json(envelope(status, false, null, message, resultCode)));
    }
    if (transactions.has(d.id)) return res.json(envelope(400, false, 'DP00900001011', messages.DP00900001011!, '521050'));
    if (transactions.size >= airtelSimulatorTransactionsMax) return res.status(503).json(envelope(503, false, null, 'Service unavailable', 'ESB000001'));
    // The router refuses a PIN it cannot decrypt before the disbursement service sees anything.
    if (rule?.fault === 'fail' && rule.responseCode === 'ROUTER116') return res.status(400).json({ status_code: 'ROUTER116', status_message: 'PIN decryption failed' });
    const t = execute(d, rule);
    scheduleCallbacks(t, rule);
    return answer(res, t, rule);
  });

  /** The first problem with a disbursement body, answered as Airtel answers it (the 121 mock's codes), or the disbursement. */
  function checkDisbursement(b: Record<string, unknown>): { refusal: Refusal } | { disbursement: { id: string; msisdn: string; amount: string; reference: string } } {
    const refuse = (code: string | null, message: string, http = 200) => ({ refusal: { http, code, message } });
    const payee = b.payee as Record<string, unknown> | undefined;
    const transaction = b.transaction as Record<string, unknown> | undefined;
    if (!payee || typeof payee !== 'object' || !transaction || typeof transaction !== 'object' || typeof b.pin !== 'string' || b.pin.length === 0) return refuse('DP00900001013', 'Missing header/body params');
    const id = transaction.id;
    if (typeof id !== 'string' || !transactionIdPattern.test(id)) {
      return refuse(null, 'transaction.id must not be null or blank and should only contain alphanumeric characters with length between 5 and 80 characters', 400);
    }
    if (transaction.type !== 'B2C' && transaction.type !== 'B2B') return refuse('DP00900001013', 'transaction.type must be B2C or B2B');
    const msisdn = payee.msisdn;
    if (typeof msisdn !== 'string' || !/^[0-9]+$/.test(msisdn) || msisdn.length !== msisdnDigits) return refuse('DP00900001013', `Invalid Msisdn Length. Msisdn Length should be ${msisdnDigits}`);
    if (payee.currency !== undefined && payee.currency !== options.currency) return refuse('DP00900001013', 'Invalid/Missing Currency');
    if (typeof b.reference !== 'string' || !referencePattern.test(b.reference)) return refuse('DP00900001013', 'reference must be alphanumeric, 4 to 64 characters');
    // The JSON number back as text: its shortest form is the literal sent, up to 15 significant digits.
    const amount = typeof transaction.amount === 'number' && Number.isFinite(transaction.amount) ? String(transaction.amount) : null;
    if (amount === null || !amountPattern.test(amount) || amount.replace(/[.]|^0+/g, '').length > airtelAmountDigitsMax || toUnits(amount) === 0n) {
      return refuse('DP00900001004', `Invalid Amount: a positive JSON number with at most ${amountDecimals} decimals`);
    }
    // Not decrypted (the reference says the simulator should not): only unreadable ciphertext is refused.
    if (b.pin.length > 1024 || !base64Pattern.test(b.pin)) return { refusal: { http: 400, code: 'ROUTER116', message: 'PIN decryption failed' } };
    return { disbursement: { id, msisdn, amount, reference: b.reference } };
  }

  /** Records the transaction and settles it now (TS or TF), unless a fault keeps it in progress. */
  function execute(d: { id: string; msisdn: string; amount: string; reference: string }, rule: FaultRule | undefined): Transaction {
    const n = ++sequence;
    const t: Transaction = {
      id: d.id,
      airtelMoneyId: `AM${String(n).padStart(10, '0')}`,
      referenceId: `CI${String(n).padStart(10, '0')}`,
      reference: d.reference,
      amount: d.amount,
      currency: options.currency,
      msisdn: d.msisdn,
      status: 'TIP',
      responseCode: 'DP00900001006',
      completedAt: null,
      reversedAt: null,
      reversalId: null,
      executions: 1,
    };
    transactions.set(t.id, t);
    if (rule?.fault === 'in-process') return t;
    const units = toUnits(t.amount);
    const short = units > balance || (float !== null && units > float);
    const refusal = rule?.fault === 'fail' ? (rule.responseCode ?? 'DP00900001005') : rule?.fault === 'insufficient-funds' || short ? 'DP00900001007' : null;
    t.completedAt = new Date();
    if (refusal) {
      t.status = 'TF';
      t.responseCode = refusal;
      return t;
    }
    balance -= units;
    if (float !== null) float -= units;
    t.status = 'TS';
    t.responseCode = 'DP00900001001';
    return t;
  }

  /** data.transaction as Airtel shows it: airtel_money_id only once it succeeded. */
  const transactionOf = (t: Transaction) => ({
    id: t.id,
    status: t.status,
    message: t.status === 'TS' ? 'Transaction is successful.' : t.status === 'TF' ? 'Transaction failed.' : 'Transaction is in process.',
    ...(t.status === 'TS' ? { airtel_money_id: t.airtelMoneyId, reference_id: t.referenceId } : {}),
  });

  function answer(res: Response, t: Transaction, rule: FaultRule | undefined): void {
    let send: () => void;
    if (rule?.fault === 'error-500-after-execution') send = () => res.status(500).json(envelope(500, false, null, 'Internal Server Error', 'ESB000001'));
    else if (rule?.fault === 'ambiguous-after-execution') {
      const code = rule.responseCode ?? 'DP00900001000';
      send = () => res.json(envelope(200, false, code, messages[code]!, 'ESB000001', { transaction: { id: t.id, status: 'TA' } }));
    } else if (t.status === 'TS') send = () => res.json(envelope(200, true, 'DP00900001001', `You have sent ${t.currency} ${t.amount}.`, 'ESB000010', { transaction: transactionOf(t) }));
    else if (t.status === 'TIP') send = () => res.json(envelope(200, true, 'DP00900001006', messages.DP00900001006!, 'ESB000010', { transaction: transactionOf(t) }));
    else send = () => res.json(envelope(400, false, t.responseCode, messages[t.responseCode] ?? 'Transaction failed.', 'ESB000008'));

    if (rule?.fault === 'timeout-after-execution') {
      tasks.hold(res, rule.holdMs, send);
      return;
    }
    delayed(answerDelayMs(faults, rule, t.id), send);
  }

  function scheduleCallbacks(t: Transaction, rule: FaultRule | undefined): void {
    if (t.status === 'TIP') return;
    const delayMs = (options.callback?.delayMs ?? 0) + (rule?.fault === 'delay-callback' ? (rule.delayMs ?? 0) : 0);
    // reverse-after-success: delayMs after the callback was delivered (or was due, when there is none).
    const reverseLater = rule?.fault === 'reverse-after-success' && t.status === 'TS' ? () => later(rule.delayMs ?? 0, () => reverse(t)) : undefined;
    if (!options.callback || rule?.fault === 'lost-callback') {
      if (reverseLater) later(delayMs, reverseLater);
      return;
    }
    later(delayMs, () => send(t, reverseLater));
    if (rule?.fault === 'duplicate-callback') later(delayMs + 5, () => send(t));
  }

  /** Airtel reverses a paid disbursement: the money is back; the enquiry still answers TS (no reversed letter is documented). */
  function reverse(t: Transaction): void {
    t.reversedAt = new Date();
    t.reversalId = `AM${String(++sequence).padStart(10, '0')}`;
    const units = toUnits(t.amount);
    balance += units;
    if (float !== null) float += units;
  }

  /** Sends the callback; `afterDelivery` runs once it was delivered or failed. */
  function send(t: Transaction, afterDelivery?: () => void): void {
    tasks.track(deliver(t).then(afterDelivery));
  }

  /** Sent once, no retry (nothing documents one); logged without the URL. */
  async function deliver(t: Transaction): Promise<void> {
    if (!options.callback || !callbackSecret) return;
    const callbackUrl = options.callback.url;
    const body = Buffer.from(
      JSON.stringify({
        transaction: {
          id: t.id,
          message: t.status === 'TS' ? 'Transaction is successful.' : 'Transaction failed.',
          status_code: t.status,
          ...(t.status === 'TS' ? { airtel_money_id: t.airtelMoneyId } : {}),
        },
      }),
    );
    try {
      // When its turn comes, its answer read to the end.
      const status = await tasks.post(callbackUrl, {
        method: 'POST', headers: { 'content-type': 'application/json', hash: createHmac('sha256', callbackSecret).update(body).digest('base64') }, body, timeoutMs: airtelCallbackTimeoutMs,
      });
      if (status < 200 || status >= 300) log.warn({ status }, 'disbursement callback refused');
    } catch (error) {
      log.warn({ err: error instanceof Error ? error.name : 'error' }, 'disbursement callback failed');
    }
  }

  router.get('/standard/v2/disbursements/:id', gate, (req, res) => {
    const id = String(req.params.id);
    if (!transactionIdPattern.test(id)) return res.status(400).json(envelope(400, false, null, 'The transaction id must be 5 to 80 alphanumeric characters', 'ESB000008'));
    if (req.query.transactionType !== 'B2C' && req.query.transactionType !== 'B2B') return res.status(400).json(envelope(400, false, null, 'transactionType must be B2C or B2B', 'ESB000008'));
    const t = transactions.get(id);
    if (!t) return res.json(envelope(404, false, 'DP00900001015', messages.DP00900001015!, 'ESB000001'));
    return res.json(envelope(200, true, t.responseCode, messages[t.responseCode] ?? 'SUCCESS', 'ESB000010', { transaction: transactionOf(t) }));
  });

  // A body express could not parse or would not read: Airtel's envelope, not express's HTML page.
  router.use((error: unknown, req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) return next(error);
    const status = (error as { status?: unknown }).status;
    if (req.path.startsWith('/auth/')) return res.status(400).json({ error: 'invalid_request', error_description: status === 413 ? 'The body is too large' : 'The body is not valid JSON' });
    if (status === 413) return res.status(413).json(envelope(413, false, null, `The body is larger than ${airtelSimulatorBodyBytesMax} bytes`, 'ESB000008'));
    return res.status(400).json(envelope(400, false, null, 'The body is not valid JSON', 'ESB000008'));
  });

  const controlRouter = express.Router();
  controlRouter.put('/faults', express.json({ limit: '64kb' }), (req, res) => {
    const parsed = airtelFaultsSchema.safeParse(req.body);
    if (!parsed.success) return res.status(400).json({ error: 'invalid faults', problems: parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`) });
    applyFaults(parsed.data);
    return res.json(faults);
  });
  controlRouter.get('/executions/:id', (req, res) => {
    const id = idOf(String(req.params.id));
    res.json({ transactionId: id, executions: transactions.get(id)?.executions ?? 0 });
  });
  // ?format=json (default): the simulator's own lines (all of them, TIP ones too, unless a period
  // is asked); ?format=csv: the statement, Format 1. Both for ?from=…&to=… (ISO 8601 times; a
  // date alone is midnight in Zambia).
  controlRouter.get('/statement', (req, res) => {
    if (req.query.format !== undefined && req.query.format !== 'json' && req.query.format !== 'csv') return res.status(400).json({ error: 'format is json or csv' });
    const period = statementPeriod(zambianDate(req.query.from), zambianDate(req.query.to), startedAt, new Date());
    if (typeof period === 'string') return res.status(400).json({ error: period.replace('East Africa Time', 'Central Africa Time') });
    if (req.query.format === 'csv') {
      const csv = statementCsvOf(period);
      if (csv === null) return res.status(400).json({ error: `more than ${statementLinesMax} lines in the period: ask a shorter one` });
      return res.type('text/csv').send(csv);
    }
    if (req.query.from === undefined && req.query.to === undefined) return res.json(statement());
    const within = (at: string) => at !== '' && Date.parse(at) >= period.from.getTime() && Date.parse(at) < period.to.getTime();
    return res.json(statement().filter((l) => within(l.completedAt)));
  });
  controlRouter.use((_error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    res.status(400).json({ error: 'invalid faults', problems: ['(body): not JSON'] });
  });

  /**
   * The disbursement wallet's statement, Format 1, for [from, to): the header block (Customer
   * Name, Mobile Number, then the balances and totals of the period written `ZMW 1,000.00`), the
   * column-header line, then one line per transaction that reached its end in the period, oldest
   * first: a disbursement (Debit; Success takes it from the balance, Failed leaves the balance as
   * it was) and a reversal as its own Credit line (its own Transaction ID, `Reversal of <the
   * disbursement's airtel_money_id>`). Unsigned amounts with thousands separators and the
   * currency's decimals; Fee 0.00 (the simulator charges nothing); Balance the running balance
   * from the opening float at the simulator's start; times in Zambia's (UTC+2), to the minute. The
   * payee masked to its last three digits. null when the period holds too many lines.
   */
  function statementCsvOf(period: StatementPeriod): string | null {
    const events: { readonly at: Date; readonly t: Transaction; readonly reversal: boolean }[] = [];
    for (const t of transactions.values()) {
      if (t.status === 'TIP' || !t.completedAt) continue;
      events.push({ at: t.completedAt, t, reversal: false });
      if (t.reversedAt) events.push({ at: t.reversedAt, t, reversal: true });
    }
    // Stable: two lines of the same millisecond keep the order they happened in.
    events.sort((a, b) => a.at.getTime() - b.at.getTime());
    /** The simulator's units (10^-airtelAmountDecimalsMax) in the statement's (10^-amountDecimals): exact, amounts have at most amountDecimals. */
    const minor = (units: bigint) => units / 10n ** BigInt(airtelAmountDecimalsMax - amountDecimals);
    let running = minor(toUnits(options.statementOpeningFloat ?? options.availableBalance ?? balanceDefault));
    let opening = running;
    let credit = 0n;
    let debit = 0n;
    const fee = 0n;
    const lines: string[] = [];
    for (const e of events) {
      if (e.at.getTime() >= period.to.getTime()) break;
      const amount = minor(toUnits(e.t.amount));
      const delta = e.reversal ? amount : e.t.status === 'TS' ? -amount - fee : 0n;
      running += delta;
      if (e.at.getTime() < period.from.getTime()) {
        opening = running;
        continue;
      }
      if (lines.length >= statementLinesMax) return null;
      if (e.reversal) credit += amount;
      else if (e.t.status === 'TS') debit += amount;
      const money = (m: bigint) => groupedAmount(m, amountDecimals);
      lines.push(
        e.reversal
          ? csvRow([e.t.reversalId ?? '', airtelStatementTime(e.at), `Reversal of ${e.t.airtelMoneyId}`, 'Success', money(amount), 'Credit', money(0n), money(running)])
          : csvRow([e.t.airtelMoneyId, airtelStatementTime(e.at), `Disbursement to ${maskNumber(e.t.msisdn)}`, e.t.status === 'TS' ? 'Success' : 'Failed', money(amount), 'Debit', money(e.t.status === 'TS' ? fee : 0n), money(running)]),
      );
    }
    const withCurrency = (m: bigint) => `${options.currency} ${groupedAmount(m, amountDecimals)}`;
    const header = [
      ['Customer Name', options.statementCustomerName ?? customerNameDefault],
      ['Mobile Number', options.statementAccount ?? airtelStatementAccountDefault],
      ['Opening Balance', withCurrency(opening)],
      ['Closing Balance', withCurrency(running)],
      ['Total Credit', withCurrency(credit)],
      ['Total Debit', withCurrency(debit)],
    ];
    return [...header.map(csvRow), csvRow(airtelStatementColumns), ...lines].map((l) => `${l}\r\n`).join('');
  }

  function statement(): AirtelStatementLine[] {
    const lines: AirtelStatementLine[] = [];
    for (const t of transactions.values()) {
      if (lines.length >= statementLinesMax) break;
      const line: AirtelStatementLine = {
        transactionId: t.id,
        airtelMoneyId: t.status === 'TS' ? t.airtelMoneyId : '',
        reference: t.reference,
        amount: t.amount,
        currency: t.currency,
        status: t.status,
        responseCode: t.responseCode,
        completedAt: t.completedAt?.toISOString() ?? '',
        msisdn: maskNumber(t.msisdn),
      };
      lines.push(line);
      if (t.reversedAt && lines.length < statementLinesMax) lines.push({ ...line, amount: reversedAmount(line.amount), status: 'REVERSED', completedAt: t.reversedAt.toISOString() });
    }
    return lines;
  }

  return {
    router,
    controlRouter,
    setFaults(next) {
      applyFaults(airtelFaultsSchema.parse(next));
    },
    statement,
    executions: (key) => transactions.get(idOf(key))?.executions ?? 0,
    revokeTokens: () => tokens.clear(),
    drained: () => tasks.drained(),
    close: () => tasks.close(),
  };
}

/**
 * The statement's columns, Format 1, in order, as it titles them (docs/reconciliation.md
 * (Formats); domain/statement-formats.ts reads them).
 */
export const airtelStatementColumns = ['Transaction ID', 'Transaction Date', 'Description', 'Status', 'Transaction Amount', 'Credit/Debit', 'Fee', 'Balance'] as const;

/** The statement's times: DD-MM-YY hh:mm AM in the market's time (Zambia: Central Africa Time, UTC+2, no daylight saving), to the minute. */
const zambiaOffsetMs = 2 * 3600 * 1000;
const pad = (n: number) => String(n).padStart(2, '0');
export const airtelStatementTime = (at: Date): string => {
  const local = new Date(at.getTime() + zambiaOffsetMs);
  const hours = local.getUTCHours();
  return `${pad(local.getUTCDate())}-${pad(local.getUTCMonth() + 1)}-${pad(local.getUTCFullYear() % 100)} ${pad(hours % 12 === 0 ? 12 : hours % 12)}:${pad(local.getUTCMinutes())} ${hours < 12 ? 'AM' : 'PM'}`;
};

/** A period bound as statementPeriod reads it: a date alone (`YYYY-MM-DD`) is that day's midnight in Zambia, not in East Africa. */
const zambianDate = (text: unknown): unknown => (typeof text === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(text) ? `${text}T00:00:00+02:00` : text);

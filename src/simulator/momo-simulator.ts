// An MTN MoMo Disbursement simulator on localhost, faithful to contracts/providers/mtn-momo-disbursement.openapi.yaml:
// token with Basic auth (a body is refused), Bearer + Ocp-Apim-Subscription-Key on every call,
// X-Target-Environment checked, X-Reference-Id a UUID executed at most once (a reuse answers 409
// RESOURCE_ALREADY_EXIST), 202 with an empty body, status by reference id (404 for an unknown one),
// balance, and the TransferResult callback (PUT by default) sent once, without retry, as MoMo does.
// Faults are deterministic: the sandbox trigger numbers (46733123450…464), per-MSISDN-pattern
// rules, and latency and transient errors drawn from the hash of the reference id. It counts
// executions per reference id so tests can prove "paid at most once". The control API
// (controlRouter) is for tests and demos on localhost. Its CSV statement is the MoMo partner
// portal's transaction export (mtn-momo-portal-csv@1), so Tuma's importer reads it as the real one.
import { randomBytes } from 'node:crypto';
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
  maskNumber,
  picksSecondShape,
  reportAmountSchemaOf,
  reportCurrencySchema,
  reportReceiptSchemaOf,
  reportReceiverSchema,
  csvRow,
  reversedAmount,
  simulatedPayeeName,
  statementLinesMax,
} from './faults.js';
import { statementPeriod, type StatementPeriod } from './mpesa-simulator.js';

/** Transfers kept in memory at most; beyond it new transfers answer 503 (nothing recorded). */
export const momoSimulatorTransfersMax = 1_000_000;
/** Live access tokens kept at most; the oldest is forgotten first. */
export const momoSimulatorTokensMax = 1_000;
/** Decimals an amount may have; the balance is kept in these units. */
export const momoAmountDecimalsMax = 4;
/** Integer digits an amount may have. */
export const momoAmountIntegerDigitsMax = 15;
/** MoMo's limit on payerMessage / payeeNote. */
export const momoSimulatorMessageCharsMax = 160;
/** MoMo's older portal: the callback listener has 2 s. */
export const momoCallbackTimeoutMs = 2_000;
/** How long a sandbox "Delayed" transfer (46733123454) stays PENDING. */
export const momoSandboxDelayedMs = 1_000;
const tokenTtlDefaultS = 3600;
const balanceDefault = '1000000000';
/** The disbursement account as the statement names it (`FRI:<it>/MSISDN`) when no option does: a synthetic number. */
export const momoStatementAccountDefault = '256000000000';
/** The account holder's name on the statement: fake, as the simulator knows no organisation. */
const organisationName = 'TUMA TEST ORGANISATION';

type TransferStatus = 'PENDING' | 'SUCCESSFUL' | 'FAILED';

/**
 * The sandbox test numbers (AE-MTN). Failures end FAILED with the reference's reason code (the
 * trigger name where no code is documented); Ongoing stays PENDING; Delayed completes later.
 */
export const momoSandboxTriggers: Readonly<Record<string, { readonly name: string; readonly reason: string | 'ongoing' | 'delayed' }>> = {
  '46733123450': { name: 'Failed', reason: 'INTERNAL_PROCESSING_ERROR' },
  '46733123451': { name: 'Rejected', reason: 'APPROVAL_REJECTED' },
  '46733123452': { name: 'Expired', reason: 'EXPIRED' },
  '46733123453': { name: 'Ongoing', reason: 'ongoing' },
  '46733123454': { name: 'Delayed', reason: 'delayed' },
  '46733123455': { name: 'NotEnoughFunds', reason: 'NOT_ENOUGH_FUNDS' },
  '46733123456': { name: 'PayerLimitReached', reason: 'PAYER_LIMIT_REACHED' },
  '46733123457': { name: 'NotFound', reason: 'PAYEE_NOT_FOUND' },
  '46733123458': { name: 'NotAllowed', reason: 'NOT_ALLOWED' },
  '46733123459': { name: 'NotAllowedTargetEnvironment', reason: 'NOT_ALLOWED_TARGET_ENVIRONMENT' },
  '46733123460': { name: 'InvalidCallbackUrlHost', reason: 'INVALID_CALLBACK_URL_HOST' },
  '46733123461': { name: 'InvalidCurrency', reason: 'INVALID_CURRENCY' },
  '46733123462': { name: 'InternalProcessingError', reason: 'INTERNAL_PROCESSING_ERROR' },
  '46733123463': { name: 'ServiceUnavailable', reason: 'SERVICE_UNAVAILABLE' },
  '46733123464': { name: 'TransfertypeUnknown', reason: 'TransfertypeUnknown' },
};

/** A rule's pattern, over partyId (the MSISDN without "+"). */
const regexSource = faultPatternSchema;

/** MoMo's transient error, answered to a request an error rate picks: 503 SERVICE_UNAVAILABLE (the contract's 503). */
export const momoTransientError = { status: 503, code: 'SERVICE_UNAVAILABLE', message: 'Service unavailable.' } as const;

/**
 * What a transfer to a matching partyId meets. none (default): nothing but the rule's error rate
 * and latency; fail: ends FAILED with `reason`; pending-forever: stays PENDING, no callback;
 * timeout-after-accept: recorded, the 202 held `holdMs` (past the client's timeout);
 * lost-callback / duplicate-callback / delay-callback (sent `delayMs` after the transfer instead
 * of the usual delay): what happens to the callback; out-of-order-callback: the final callback,
 * then `delayMs` (default 5) after its delivery a stale PENDING one; error-500-after-accept:
 * recorded, answered 500 INTERNAL_PROCESSING_ERROR; insufficient-float: ends FAILED
 * NOT_ENOUGH_FUNDS; reverse-after-success: SUCCESSFUL as usual, then `delayMs` after its callback
 * MTN reverses it: the money is back on the balance and the statement gets a negative line, while
 * the status stays SUCCESSFUL (MoMo has no reversed status) and no callback says so.
 *
 * errorRatePercent: that share of requests (by reference id and attempt, see failsAtErrorRate)
 * is answered 503 SERVICE_UNAVAILABLE before anything is recorded. latency: a deterministic delay
 * per reference id on the answer (instead of the global one).
 *
 * What the TransferResult (callback and status answer) REPORTS, never what runs (the balance,
 * the statement and the execution count keep the truth): reportAmount, reportCurrency,
 * reportReceiver (payee.partyId, digits) and reportReceipt (a fixed financialTransactionId
 * instead of a fresh one: a receipt reused on two payouts).
 */
const faultRuleSchema = z.strictObject({
  pattern: regexSource,
  fault: z
    .enum(['none', 'fail', 'pending-forever', 'timeout-after-accept', 'lost-callback', 'duplicate-callback', 'delay-callback', 'out-of-order-callback', 'error-500-after-accept', 'insufficient-float', 'reverse-after-success'])
    .default('none'),
  reason: z.string().regex(/^[A-Za-z0-9_]{1,64}$/).default('COULD_NOT_PERFORM_TRANSACTION'),
  holdMs: faultDelaySchema.default(faultDelayMaxMs),
  delayMs: faultDelaySchema.optional(),
  errorRatePercent: faultErrorRateSchema.optional(),
  latency: faultLatencySchema.optional(),
  reportAmount: reportAmountSchemaOf(momoAmountDecimalsMax, momoAmountIntegerDigitsMax).optional(),
  reportCurrency: reportCurrencySchema.optional(),
  reportReceiver: reportReceiverSchema.optional(),
  reportReceipt: reportReceiptSchemaOf('A-Za-z0-9').optional(),
});
/**
 * latencyMs: added to every transfer answer; latency: a deterministic delay per reference id
 * added to it (a rule's own replaces it); floatBalance: when set, the disbursement account holds
 * at most this much from the moment the faults are set (the balance reads it), every SUCCESSFUL
 * transfer takes its amount, and one it cannot cover ends FAILED NOT_ENOUGH_FUNDS; absent: only
 * the configured availableBalance limits.
 */
export const momoFaultsSchema = faultsSchemaOf(faultRuleSchema).extend({
  latency: faultLatencySchema.optional(),
  floatBalance: faultFloatSchemaOf(momoAmountDecimalsMax).optional(),
});
export type MomoFaults = z.input<typeof momoFaultsSchema>;
type ParsedFaults = z.output<typeof momoFaultsSchema>;
type FaultRule = ParsedFaults['rules'][number];

export interface MomoSimulatorOptions {
  readonly apiUserId: string;
  readonly apiKey: string;
  readonly subscriptionKey: string;
  readonly targetEnvironment: string;
  /** The one currency the target environment takes (sandbox: EUR). */
  readonly currency?: string;
  readonly callbackDelayMs: number;
  /** MoMo says to allow both; PUT by default. */
  readonly callbackMethod?: 'PUT' | 'POST';
  /**
   * Production sends reason as a string; the swagger SDKs model {code, message}. Absent: either,
   * chosen by the hash of the reference id (a few failed transfers show both).
   */
  readonly reasonShape?: 'string' | 'object';
  /** The registered providerCallbackHost; null or absent: any host. */
  readonly callbackHost?: string | null;
  /** The reference says MoMo wants a UUIDv4; Tuma's keys are UUIDv5. Off by default (any UUID). */
  readonly requireUuidV4?: boolean;
  readonly tokenTtlS?: number;
  /** Decimal string, in the target currency. */
  readonly availableBalance?: string;
  /**
   * The disbursement account's balance when the simulator starts, where its CSV statement's
   * running balance begins (a decimal string in the target currency); default availableBalance.
   */
  readonly statementOpeningFloat?: string;
  /** The disbursement account's number or id as its statement writes it (`FRI:<it>/MSISDN`); default momoStatementAccountDefault. */
  readonly statementAccount?: string;
  readonly logger: Logger;
}

interface Transfer {
  readonly referenceId: string;
  readonly externalId: string;
  readonly amount: string;
  readonly currency: string;
  readonly payee: { readonly partyIdType: string; readonly partyId: string };
  readonly payerMessage: string | undefined;
  readonly payeeNote: string | undefined;
  status: TransferStatus;
  reason: string | null;
  financialTransactionId: string | null;
  /** A FAILED transfer's own id on the portal statement (MoMo reports none for it); null otherwise. */
  failedId: string | null;
  completedAt: Date | null;
  /** When MTN reversed it (reverse-after-success); null while it stands. */
  reversedAt: Date | null;
  /** The reversal's own id (its statement line's Id); null while it stands. */
  reversalId: string | null;
  readonly callbackUrl: string | null;
  /** What its TransferResult says (a rule's report* knobs; null: the truth). */
  readonly reported: { readonly amount: string | null; readonly currency: string | null; readonly receiver: string | null; readonly receipt: string | null };
  executions: number;
}

export interface MomoStatementLine {
  readonly referenceId: string;
  readonly externalId: string;
  readonly amount: string;
  readonly currency: string;
  /** REVERSED: the reversal of an earlier SUCCESSFUL line (its amount negative); not a status MoMo's API answers. */
  readonly status: TransferStatus | 'REVERSED';
  readonly financialTransactionId: string;
  /** ISO time the transfer reached its final state; empty while PENDING. */
  readonly completedAt: string;
  /** The payee, all but the last three digits masked. */
  readonly payee: string;
}

/** executions() is keyed by X-Reference-Id. */
export interface MomoSimulator extends ProviderSimulator<MomoFaults, MomoStatementLine> {
  /** Forgets every issued token: the next call with one answers 401 (as after expiry). */
  revokeTokens(): void;
}

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;
const uuidV4Pattern = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;
const amountPattern = new RegExp(`^[0-9]{1,${momoAmountIntegerDigitsMax}}(\\.[0-9]{1,${momoAmountDecimalsMax}})?$`);
const messageSchema = z.string().max(momoSimulatorMessageCharsMax).regex(/^[^']*$/, 'no apostrophes');
const transferSchema = z.object({
  amount: z.string().regex(amountPattern),
  currency: z.string().regex(/^[A-Z]{3}$/),
  externalId: z.string().min(1).max(200),
  payee: z.object({ partyIdType: z.enum(['MSISDN', 'EMAIL', 'PARTY_CODE']), partyId: z.string().min(1).max(160) }),
  payerMessage: messageSchema.optional(),
  payeeNote: messageSchema.optional(),
});

const errorReason = (res: Response, status: number, code: string, message: string) => res.status(status).json({ code, message });
const apimDenied = (res: Response, message: string) => res.status(401).json({ statusCode: 401, message });

/** A decimal string in 10^-momoAmountDecimalsMax units (the simulator's balance arithmetic). */
const toUnits = (amount: string): bigint => {
  const [whole = '0', fraction = ''] = amount.split('.');
  return BigInt(whole) * 10n ** BigInt(momoAmountDecimalsMax) + BigInt(fraction.padEnd(momoAmountDecimalsMax, '0') || '0');
};
const fromUnits = (units: bigint): string => {
  const scale = 10n ** BigInt(momoAmountDecimalsMax);
  const fraction = (units % scale).toString().padStart(momoAmountDecimalsMax, '0').replace(/0+$/, '');
  return fraction ? `${units / scale}.${fraction}` : `${units / scale}`;
};

export function createMomoSimulator(options: MomoSimulatorOptions): MomoSimulator {
  const floatPattern = faultFloatSchemaOf(momoAmountDecimalsMax);
  if (options.statementOpeningFloat !== undefined && !floatPattern.safeParse(options.statementOpeningFloat).success) {
    throw new Error(`statementOpeningFloat: a decimal string with at most ${momoAmountDecimalsMax} decimals`);
  }
  if (options.statementAccount !== undefined && !/^[A-Za-z0-9.]{1,64}$/.test(options.statementAccount)) throw new Error('statementAccount: 1 to 64 of A-Z, a-z, 0-9 and .');
  /** Where a statement's default period begins (its whole seconds). */
  const startedAt = new Date(Math.floor(Date.now() / 1000) * 1000);
  const log = options.logger.child({ component: 'simulator', provider: 'mtn-momo' });
  const currency = options.currency ?? 'EUR';
  /** The statement writes amounts with the currency's scale (EUR 2, UGX 0); one it does not know: 2. */
  const statementScale = isCurrencyCode(currency) ? scaleOf(currency) : 2;
  const statementAccount = `FRI:${options.statementAccount ?? momoStatementAccountDefault}/MSISDN`;
  const tokenTtlS = options.tokenTtlS ?? tokenTtlDefaultS;
  const tokens = new Map<string, number>();
  const transfers = new Map<string, Transfer>();
  const tasks = createSimulatorTasks();
  let balance = toUnits(options.availableBalance ?? balanceDefault);
  let sequence = 0;
  let faults: ParsedFaults = momoFaultsSchema.parse({});
  /** What is left of faults.floatBalance; null: only `balance` limits. */
  let float: bigint | null = null;
  const applyFaults = (next: ParsedFaults) => {
    faults = next;
    float = next.floatBalance === undefined ? null : toUnits(next.floatBalance);
  };
  const errorAttempts = createAttemptCounter(momoSimulatorTransfersMax);
  const router = express.Router();

  const { later, delayed } = tasks;

  /** Answers 401 when the subscription key or the Bearer token is not valid; true when it answered. */
  const refused = (req: Request, res: Response): boolean => {
    if (req.header('ocp-apim-subscription-key') !== options.subscriptionKey) {
      apimDenied(res, 'Access denied due to invalid subscription key. Make sure to provide a valid key for an active subscription.');
      return true;
    }
    const token = /^Bearer (.+)$/.exec(req.header('authorization') ?? '')?.[1];
    const expiry = token ? tokens.get(token) : undefined;
    if (expiry === undefined || expiry < Date.now()) {
      apimDenied(res, 'Access token is missing or invalid.');
      return true;
    }
    return false;
  };

  /** Answers when X-Target-Environment is missing (400) or another market (500); true when it answered. */
  const wrongEnvironment = (req: Request, res: Response): boolean => {
    const environment = req.header('x-target-environment');
    if (!environment) errorReason(res, 400, 'BAD_REQUEST', 'X-Target-Environment is required');
    else if (environment !== options.targetEnvironment) errorReason(res, 500, 'NOT_ALLOWED_TARGET_ENVIRONMENT', 'Access to target environment is forbidden.');
    return !environment || environment !== options.targetEnvironment;
  };

  const validReferenceId = (id: string | undefined): id is string => typeof id === 'string' && (options.requireUuidV4 ? uuidV4Pattern : uuidPattern).test(id);

  router.post('/disbursement/token/', (req, res) => {
    if (Number(req.header('content-length') ?? 0) > 0 || req.header('transfer-encoding')) return errorReason(res, 400, 'BAD_REQUEST', 'The token request takes no body');
    if (req.header('ocp-apim-subscription-key') !== options.subscriptionKey) return apimDenied(res, 'Access denied due to invalid subscription key. Make sure to provide a valid key for an active subscription.');
    const expected = `Basic ${Buffer.from(`${options.apiUserId}:${options.apiKey}`).toString('base64')}`;
    if (req.header('authorization') !== expected) return res.status(401).json({ error: 'login_failed' });
    const token = randomBytes(24).toString('base64url');
    if (tokens.size >= momoSimulatorTokensMax) tokens.delete(tokens.keys().next().value as string);
    tokens.set(token, Date.now() + tokenTtlS * 1000);
    return res.json({ access_token: token, token_type: 'access_token', expires_in: tokenTtlS });
  });

  router.post('/disbursement/v1_0/transfer', express.json({ limit: '16kb' }), (req, res) => {
    if (refused(req, res) || wrongEnvironment(req, res)) return;
    const referenceId = req.header('x-reference-id');
    if (!validReferenceId(referenceId)) return errorReason(res, 400, 'BAD_REQUEST', 'X-Reference-Id must be a UUID');
    const parsed = transferSchema.safeParse(req.body);
    if (!parsed.success) return errorReason(res, 400, 'BAD_REQUEST', `Invalid ${parsed.error.issues[0]?.path.join('.') || 'body'}`);
    const callbackUrl = req.header('x-callback-url') ?? null;
    if (callbackUrl !== null && !callbackAllowed(callbackUrl)) return errorReason(res, 500, 'INVALID_CALLBACK_URL_HOST', 'Callback URL host is not registered.');
    if (parsed.data.currency !== currency) return errorReason(res, 500, 'INVALID_CURRENCY', 'Currency not supported.');
    const key = referenceId.toLowerCase();
    const rule = faults.rules.find((r) => new RegExp(r.pattern).test(parsed.data.payee.partyId));
    // A transient error picked by the error rate: answered before anything is recorded.
    if (rule?.errorRatePercent && failsAtErrorRate(key, errorAttempts.next(key), rule.errorRatePercent)) {
      return delayed(answerDelayMs(faults, rule, key), () => errorReason(res, momoTransientError.status, momoTransientError.code, momoTransientError.message));
    }
    if (transfers.has(key)) return errorReason(res, 409, 'RESOURCE_ALREADY_EXIST', 'Duplicated reference id. Creation of resource failed.');
    if (transfers.size >= momoSimulatorTransfersMax) return errorReason(res, 503, 'SERVICE_UNAVAILABLE', 'Service unavailable.');
    const transfer = execute(key, parsed.data, callbackUrl, rule);
    scheduleCallbacks(transfer, parsed.data.payee.partyId, rule);
    return answerTransfer(res, rule, key);
  });


  function callbackAllowed(url: string): boolean {
    try {
      const host = new URL(url).hostname;
      return !options.callbackHost || host === options.callbackHost;
    } catch {
      return false;
    }
  }

  /** Records the transfer and settles it now, unless a trigger or fault keeps it PENDING. */
  function execute(referenceId: string, body: z.output<typeof transferSchema>, callbackUrl: string | null, rule: FaultRule | undefined): Transfer {
    const transfer: Transfer = {
      referenceId,
      externalId: body.externalId,
      amount: body.amount,
      currency: body.currency,
      payee: body.payee,
      payerMessage: body.payerMessage,
      payeeNote: body.payeeNote,
      status: 'PENDING',
      reason: null,
      financialTransactionId: null,
      failedId: null,
      completedAt: null,
      reversedAt: null,
      reversalId: null,
      callbackUrl,
      reported: { amount: rule?.reportAmount ?? null, currency: rule?.reportCurrency ?? null, receiver: rule?.reportReceiver ?? null, receipt: rule?.reportReceipt ?? null },
      executions: 1,
    };
    transfers.set(referenceId, transfer);
    const trigger = momoSandboxTriggers[body.payee.partyId];
    const stays = trigger?.reason === 'ongoing' || trigger?.reason === 'delayed' || rule?.fault === 'pending-forever';
    if (!stays) settle(transfer, failureOf(trigger?.reason, rule));
    return transfer;
  }

  function failureOf(triggerReason: string | undefined, rule: FaultRule | undefined): string | null {
    if (triggerReason) return triggerReason;
    if (rule?.fault === 'fail') return rule.reason;
    if (rule?.fault === 'insufficient-float') return 'NOT_ENOUGH_FUNDS';
    return null;
  }

  function settle(transfer: Transfer, reason: string | null): void {
    const units = toUnits(transfer.amount);
    const failure = reason ?? (units > balance || (float !== null && units > float) ? 'NOT_ENOUGH_FUNDS' : null);
    transfer.completedAt = new Date();
    if (failure) {
      transfer.status = 'FAILED';
      transfer.reason = failure;
      transfer.failedId = String(100_000_000 + ++sequence);
      return;
    }
    balance -= units;
    if (float !== null) float -= units;
    transfer.status = 'SUCCESSFUL';
    transfer.financialTransactionId = String(100_000_000 + ++sequence);
  }

  function scheduleCallbacks(transfer: Transfer, partyId: string, rule: FaultRule | undefined): void {
    const trigger = momoSandboxTriggers[partyId];
    if (trigger?.reason === 'delayed') {
      later(momoSandboxDelayedMs, () => {
        settle(transfer, null);
        send(transfer);
      });
      return;
    }
    if (transfer.status === 'PENDING') return;
    const delayMs = rule?.fault === 'delay-callback' ? (rule.delayMs ?? options.callbackDelayMs) : options.callbackDelayMs;
    const reverseLater = () => later(rule?.delayMs ?? 0, () => reverse(transfer));
    if (rule?.fault === 'reverse-after-success' && transfer.status === 'SUCCESSFUL') {
      // delayMs after the callback was delivered (or was due, when there is none).
      if (transfer.callbackUrl) later(delayMs, () => send(transfer, resultOf(transfer), reverseLater));
      else later(delayMs, reverseLater);
      return;
    }
    if (!transfer.callbackUrl || rule?.fault === 'lost-callback') return;
    if (rule?.fault === 'out-of-order-callback') {
      // The final result, then (once it was delivered) a stale PENDING one, as a slow path would deliver it.
      const { financialTransactionId: _id, reason: _reason, ...rest } = resultOf(transfer);
      const stale = { ...rest, status: 'PENDING' };
      later(delayMs, () => send(transfer, resultOf(transfer), () => later(rule.delayMs ?? 5, () => send(transfer, stale))));
      return;
    }
    later(delayMs, () => send(transfer));
    if (rule?.fault === 'duplicate-callback') later(delayMs + 5, () => send(transfer));
  }

  /** MTN reverses a SUCCESSFUL transfer: the money is back; its status stays SUCCESSFUL (MoMo has no other). */
  function reverse(transfer: Transfer): void {
    transfer.reversedAt = new Date();
    transfer.reversalId = String(100_000_000 + ++sequence);
    const units = toUnits(transfer.amount);
    balance += units;
    if (float !== null) float += units;
  }

  function answerTransfer(res: Response, rule: FaultRule | undefined, key: string): void {
    const accepted = () => res.status(202).end();
    if (rule?.fault === 'timeout-after-accept') {
      tasks.hold(res, rule.holdMs, accepted);
      return;
    }
    const answer = rule?.fault === 'error-500-after-accept' ? () => errorReason(res, 500, 'INTERNAL_PROCESSING_ERROR', 'An internal error occurred while processing.') : accepted;
    delayed(answerDelayMs(faults, rule, key), answer);
  }

  /** The TransferResult of `t`, as its callback and the status answer report it. */
  function resultOf(t: Transfer): Record<string, unknown> {
    const asObject = (options.reasonShape ?? (picksSecondShape('momo-reason-object', t.referenceId) ? 'object' : 'string')) === 'object';
    const reason = t.reason === null ? undefined : asObject ? { code: t.reason, message: `Transfer failed: ${t.reason}` } : t.reason;
    return {
      amount: t.reported.amount ?? t.amount,
      currency: t.reported.currency ?? t.currency,
      ...(t.financialTransactionId ? { financialTransactionId: t.reported.receipt ?? t.financialTransactionId } : {}),
      externalId: t.externalId,
      payee: t.reported.receiver === null ? t.payee : { ...t.payee, partyId: t.reported.receiver },
      ...(t.payerMessage === undefined ? {} : { payerMessage: t.payerMessage }),
      ...(t.payeeNote === undefined ? {} : { payeeNote: t.payeeNote }),
      status: t.status,
      ...(reason === undefined ? {} : { reason }),
    };
  }

  /** Sends `payload` (the transfer's result by default) to its callback URL; `afterDelivery` runs once it was delivered or failed. */
  function send(transfer: Transfer, payload: Record<string, unknown> = resultOf(transfer), afterDelivery?: () => void): void {
    if (!transfer.callbackUrl) return;
    tasks.track(deliver(transfer.callbackUrl, payload).then(afterDelivery));
  }

  /** Sent once, no retry: MoMo's current page says so. Logged without the URL (it carries the attempt token). */
  async function deliver(url: string, payload: unknown): Promise<void> {
    try {
      // When its turn comes, its answer read to the end.
      const status = await tasks.post(url, { method: options.callbackMethod ?? 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(payload), timeoutMs: momoCallbackTimeoutMs });
      if (status < 200 || status >= 300) log.warn({ status }, 'transfer callback refused');
    } catch (error) {
      log.warn({ err: error instanceof Error ? error.name : 'error' }, 'transfer callback failed');
    }
  }

  router.get('/disbursement/v1_0/transfer/:referenceId', (req, res) => {
    if (refused(req, res) || wrongEnvironment(req, res)) return;
    const referenceId = String(req.params.referenceId);
    if (!validReferenceId(referenceId)) return errorReason(res, 400, 'BAD_REQUEST', 'The reference id must be a UUID');
    const transfer = transfers.get(referenceId.toLowerCase());
    if (!transfer) return errorReason(res, 404, 'RESOURCE_NOT_FOUND', 'Requested resource was not found.');
    return res.json(resultOf(transfer));
  });

  router.get('/disbursement/v1_0/account/balance', (req, res) => {
    if (refused(req, res) || wrongEnvironment(req, res)) return;
    return res.json({ availableBalance: fromUnits(float !== null && float < balance ? float : balance), currency });
  });

  // A body express could not parse: MoMo's shape, not express's HTML page.
  router.use((error: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) return next(error);
    return errorReason(res, 400, 'BAD_REQUEST', 'The request body is not valid JSON');
  });

  const controlRouter = express.Router();
  controlRouter.put('/faults', express.json({ limit: '64kb' }), (req, res) => {
    const parsed = momoFaultsSchema.safeParse(req.body);
    if (!parsed.success) return res.status(400).json({ error: 'invalid faults', problems: parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`) });
    applyFaults(parsed.data);
    return res.json(faults);
  });
  controlRouter.get('/executions/:referenceId', (req, res) => {
    const referenceId = String(req.params.referenceId);
    res.json({ referenceId, executions: transfers.get(referenceId.toLowerCase())?.executions ?? 0 });
  });
  // ?format=json (default): the simulator's own lines (all of them, PENDING ones too, unless a
  // period is asked); ?format=csv: the partner portal's export. Both for ?from=…&to=… (ISO 8601,
  // a date alone is midnight in Uganda; see statementPeriod).
  controlRouter.get('/statement', (req, res) => {
    if (req.query.format !== undefined && req.query.format !== 'json' && req.query.format !== 'csv') return res.status(400).json({ error: 'format is json or csv' });
    const period = statementPeriod(req.query.from, req.query.to, startedAt, new Date());
    if (typeof period === 'string') return res.status(400).json({ error: period });
    if (req.query.format === 'csv') {
      const csv = portalStatement(period);
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
   * The disbursement account as the partner portal exports it for [from, to): no header block,
   * the column-header line, then one line per transaction that reached its end in the period,
   * oldest first: a transfer (Type transfer, Amount negative; SUCCESSFUL takes it from the
   * balance, FAILED leaves the balance as it was), and a reversal as its own line (Type reversal,
   * its own Id, Amount positive: the money back, from the payee to the account). Times in Uganda's
   * (UTC+3); Fee 0 (the simulator charges nothing); Balance the running balance from the opening
   * float at the simulator's start. The payee masked to its last three digits, the names fake.
   * null when the period holds too many lines.
   */
  function portalStatement(period: StatementPeriod): string | null {
    const events: { readonly at: Date; readonly t: Transfer; readonly reversal: boolean }[] = [];
    for (const t of transfers.values()) {
      if (t.status === 'PENDING' || !t.completedAt) continue;
      events.push({ at: t.completedAt, t, reversal: false });
      if (t.reversedAt) events.push({ at: t.reversedAt, t, reversal: true });
    }
    // Stable: two lines of the same millisecond keep the order they happened in.
    events.sort((a, b) => a.at.getTime() - b.at.getTime());
    let running = toUnits(options.statementOpeningFloat ?? options.availableBalance ?? balanceDefault);
    const lines: string[] = [];
    for (const e of events) {
      if (e.at.getTime() >= period.to.getTime()) break;
      const amount = toUnits(e.t.amount);
      running += e.reversal ? amount : e.t.status === 'SUCCESSFUL' ? -amount : 0n;
      if (e.at.getTime() < period.from.getTime()) continue;
      if (lines.length >= statementLinesMax) return null;
      lines.push(portalLine(e.t, e.reversal, e.at, running));
    }
    return [csvRow(momoPortalColumns), ...lines].map((l) => `${l}\r\n`).join('');
  }

  /** One line of the export: 11 cells, in momoPortalColumns' order. */
  function portalLine(t: Transfer, reversal: boolean, at: Date, balanceAfter: bigint): string {
    const payee = `FRI:${maskNumber(t.payee.partyId)}/${t.payee.partyIdType}`;
    const amount = portalAmount(toUnits(t.amount), statementScale);
    const fee = portalAmount(0n, statementScale);
    const after = portalAmount(balanceAfter, statementScale);
    if (reversal) return csvRow([t.reversalId ?? '', momoPortalTime(at), 'SUCCESSFUL', 'reversal', payee, simulatedPayeeName, statementAccount, organisationName, amount, fee, after]);
    const id = t.status === 'SUCCESSFUL' ? (t.financialTransactionId ?? '') : (t.failedId ?? '');
    return csvRow([id, momoPortalTime(at), t.status, 'transfer', statementAccount, organisationName, payee, simulatedPayeeName, `-${amount}`, fee, after]);
  }

  function statement(): MomoStatementLine[] {
    const lines: MomoStatementLine[] = [];
    for (const t of transfers.values()) {
      if (lines.length >= statementLinesMax) break;
      const line: MomoStatementLine = {
        referenceId: t.referenceId,
        externalId: t.externalId,
        amount: t.amount,
        currency: t.currency,
        status: t.status,
        financialTransactionId: t.financialTransactionId ?? '',
        completedAt: t.completedAt?.toISOString() ?? '',
        payee: maskNumber(t.payee.partyId),
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
      applyFaults(momoFaultsSchema.parse(next));
    },
    statement,
    executions: (referenceId) => transfers.get(referenceId.toLowerCase())?.executions ?? 0,
    revokeTokens: () => tokens.clear(),
    drained: () => tasks.drained(),
    close: () => tasks.close(),
  };
}

/**
 * The partner portal export's columns, in order, as it titles them (docs/reconciliation.md
 * (Formats); domain/statement-formats.ts reads them).
 */
export const momoPortalColumns = ['Id', 'Date', 'Status', 'Type', 'From', 'From Name', 'To', 'To Name', 'Amount', 'Fee', 'Balance'] as const;

/** The portal's times: YYYY-MM-DD HH:MM:SS in the market's time (Uganda: East Africa Time, UTC+3, no daylight saving). */
const ugandaOffsetMs = 3 * 3600 * 1000;
const pad = (n: number) => String(n).padStart(2, '0');
export const momoPortalTime = (at: Date): string => {
  const local = new Date(at.getTime() + ugandaOffsetMs);
  return `${local.getUTCFullYear()}-${pad(local.getUTCMonth() + 1)}-${pad(local.getUTCDate())} ${pad(local.getUTCHours())}:${pad(local.getUTCMinutes())}:${pad(local.getUTCSeconds())}`;
};

/**
 * Units (10^-momoAmountDecimalsMax) as the portal writes an amount: no thousands separator, the
 * currency's `scale` fraction digits (more only where the amount has them), a leading minus when
 * negative: 500000000n, 0 → "50000"; 125000n, 2 → "12.50".
 */
function portalAmount(units: bigint, scale: number): string {
  const negative = units < 0n;
  const magnitude = negative ? -units : units;
  const one = 10n ** BigInt(momoAmountDecimalsMax);
  const fraction = (magnitude % one).toString().padStart(momoAmountDecimalsMax, '0').replace(/0+$/, '').padEnd(scale, '0');
  return `${negative ? '-' : ''}${magnitude / one}${fraction ? `.${fraction}` : ''}`;
}

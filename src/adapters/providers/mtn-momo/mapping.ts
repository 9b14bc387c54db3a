// MTN MoMo Open API, Disbursement product: pure mapping between Tuma and the provider's JSON (no I/O).
// Contract: contracts/providers/mtn-momo-disbursement.openapi.yaml, from
// contracts/providers/mtn-momo-disbursement.openapi.yaml. The X-Reference-Id of a transfer is Tuma's idempotency key:
// a resend under the same id answers 409 and never pays twice.
import { parsedCallbackOf, type CallbackFacts, type ParsedCallback } from '../../../application/record-callback.js';
import type { SubmitRequest } from '../../../application/ports.js';
import { scaleOf, type CurrencyCode } from '../../../domain/currency.js';
import { absent, failed, paid, pending, unknown, type FailureReason, type ProviderOutcome } from '../../../domain/provider-outcome.js';
import { amountFact, callbackFactsOf, currencyFact, receiverFact } from '../callback-facts.js';

/** MoMo refuses payerMessage / payeeNote longer than this, and any apostrophe in them. */
export const momoMessageCharsMax = 160;
/** A reason or error code longer than this (or not [A-Za-z0-9_]) is not MoMo's and is not echoed. */
export const momoCodeCharsMax = 64;

/** What the payer (our account statement) and the payee see; no beneficiary data. */
export const momoPayerMessage = 'Tuma cash transfer';
export const momoPayeeNote = 'Cash assistance';

/** Any RFC 9562 UUID: MoMo's resource id. Tuma's keys are UUIDv5 (see the report on v4). */
export const referenceIdPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;
const e164Pattern = /^\+[1-9][0-9]{6,14}$/;
const codePattern = new RegExp(`^[A-Za-z0-9_]{1,${momoCodeCharsMax}}$`);

export type PartyIdType = 'MSISDN' | 'EMAIL' | 'PARTY_CODE';

export interface MomoTransfer {
  readonly amount: string;
  readonly currency: string;
  readonly externalId: string;
  readonly payee: { readonly partyIdType: PartyIdType; readonly partyId: string };
  readonly payerMessage: string;
  readonly payeeNote: string;
}

export interface MomoTransferHeaders {
  readonly 'X-Reference-Id': string;
  readonly 'X-Target-Environment': string;
  readonly 'X-Callback-Url': string;
  readonly 'Content-Type': 'application/json';
}

export interface MomoRequestSettings {
  readonly targetEnvironment: string;
}

/** Throws when `key` cannot be a MoMo resource id: a programming error, never provider trouble. */
export function assertReferenceId(key: string): string {
  if (!referenceIdPattern.test(key)) throw new Error('invariant violated: a MoMo X-Reference-Id must be a UUID (Tuma derives attempt keys as UUIDv5)');
  return key.toLowerCase();
}

/**
 * The X-Reference-Id for an attempt key. MoMo documents X-Reference-Id as a UUID version 4;
 * Tuma's attempt keys are UUIDv5 (derived, so that a resend reuses them). The reference id is
 * the key with its version digit set to 4: still derived from the key alone (a resend, or a
 * status query, finds the same transfer) and still unique (the other 122 bits are the key's).
 */
export function momoReferenceId(key: string): string {
  const id = assertReferenceId(key);
  return `${id.slice(0, 14)}4${id.slice(15)}`;
}

/** Minor units as MoMo's decimal string: "5", "12.50", "5000" (scale from ISO 4217). */
export function formatMomoAmount(amountMinor: bigint, currency: CurrencyCode): string {
  if (amountMinor <= 0n) throw new Error('invariant violated: a MoMo transfer amount is positive');
  const scale = scaleOf(currency);
  const unit = 10n ** BigInt(scale);
  const whole = amountMinor / unit;
  const fraction = amountMinor % unit;
  // Whole amounts go without decimals: some markets (UGX, XAF) refuse "5000.00".
  return fraction === 0n ? whole.toString() : `${whole}.${fraction.toString().padStart(scale, '0')}`;
}

/**
 * The transfer request. externalId is the attempt key too: MoMo's callback body carries no
 * referenceId, so externalId is what ties a callback to its attempt (and it is no beneficiary data).
 */
export function toTransferRequest(req: SubmitRequest, settings: MomoRequestSettings): { headers: MomoTransferHeaders; body: MomoTransfer } {
  const key = assertReferenceId(req.idempotencyKey);
  const referenceId = momoReferenceId(key);
  if (!e164Pattern.test(req.msisdn)) throw new Error('invariant violated: the payee number is not E.164 (validated at ingest)');
  return {
    headers: {
      'X-Reference-Id': referenceId,
      'X-Target-Environment': settings.targetEnvironment,
      'X-Callback-Url': req.callbackUrl,
      'Content-Type': 'application/json',
    },
    body: {
      amount: formatMomoAmount(req.amountMinor, req.currency),
      currency: req.currency,
      externalId: key,
      payee: { partyIdType: 'MSISDN', partyId: req.msisdn.slice(1) },
      payerMessage: momoPayerMessage,
      payeeNote: momoPayeeNote,
    },
  };
}

/**
 * Every reason code the reference lists (SPARK common.ts, MOMO-ERR, MOMO-RSN) and the sandbox
 * trigger names, as the failure reason of a transfer whose status is FAILED. A FAILED status is
 * final whatever the reason; on a POST answer some of these mean nothing certain (postAmbiguousCodes).
 */
export const reasonTable: Readonly<Record<string, FailureReason>> = {
  PAYEE_NOT_FOUND: 'payee_not_found',
  PAYER_NOT_FOUND: 'not_permitted', // our disbursement account is not known in this environment
  NOT_ALLOWED: 'not_permitted', // MOMO-RSN: blocked partner
  NOT_ALLOWED_TARGET_ENVIRONMENT: 'not_permitted',
  INVALID_CALLBACK_URL_HOST: 'request_invalid', // not the registered providerCallbackHost
  INVALID_CURRENCY: 'amount_invalid',
  SERVICE_UNAVAILABLE: 'provider_failure',
  INTERNAL_PROCESSING_ERROR: 'provider_failure',
  // MOMO-RSN: also sent when the receiver's limit is exceeded; float is the common cause.
  NOT_ENOUGH_FUNDS: 'insufficient_float',
  PAYER_LIMIT_REACHED: 'payer_limit_exceeded',
  PAYEE_NOT_ALLOWED_TO_RECEIVE: 'payee_not_allowed', // MOMO-RSN: blocked payee
  PAYMENT_NOT_APPROVED: 'declined',
  RESOURCE_NOT_FOUND: 'provider_failure',
  APPROVAL_REJECTED: 'declined',
  EXPIRED: 'expired',
  TRANSACTION_CANCELED: 'declined',
  RESOURCE_ALREADY_EXIST: 'provider_failure',
  COULD_NOT_PERFORM_TRANSACTION: 'provider_failure',
  SENDER_ACCOUNT_NOT_ACTIVE: 'not_permitted', // our account is inactive
  // Sandbox trigger names (AE-MTN, payee 46733123450…464); Ongoing and Delayed are PENDING, not failures.
  Failed: 'provider_failure',
  Rejected: 'declined',
  Expired: 'expired',
  NotEnoughFunds: 'insufficient_float',
  PayerLimitReached: 'payer_limit_exceeded',
  NotFound: 'payee_not_found',
  NotAllowed: 'not_permitted',
  NotAllowedTargetEnvironment: 'not_permitted',
  InvalidCallbackUrlHost: 'request_invalid',
  InvalidCurrency: 'amount_invalid',
  InternalProcessingError: 'provider_failure',
  ServiceUnavailable: 'provider_failure',
  TransfertypeUnknown: 'request_invalid',
};

/**
 * Codes that, as the answer to a POST, say nothing certain about the money: the provider was
 * overloaded or broke mid-way (it may have moved), or the first request with this reference exists.
 * Resolved by a status query with the same reference id, never failed.
 */
export const postAmbiguousCodes: ReadonlySet<string> = new Set([
  'SERVICE_UNAVAILABLE',
  'INTERNAL_PROCESSING_ERROR',
  'RESOURCE_ALREADY_EXIST',
  'COULD_NOT_PERFORM_TRANSACTION',
  'RESOURCE_NOT_FOUND',
  'Failed',
  'InternalProcessingError',
  'ServiceUnavailable',
]);

const record = (body: unknown): Record<string, unknown> => (body && typeof body === 'object' && !Array.isArray(body) ? (body as Record<string, unknown>) : {});

/** A code as MoMo writes it, or null when absent or not code-shaped (never echoed raw). */
const codeOf = (raw: unknown): string | null => (typeof raw === 'string' && codePattern.test(raw) ? raw : null);

/** The reason of a transfer result: a plain string in production, {code, message} in the swagger SDKs. */
export function reasonCodeOf(reason: unknown): string | null {
  return codeOf(typeof reason === 'string' ? reason : record(reason).code);
}

/** The answer to POST /transfer. Only a 400 with a reason that says "refused, nothing ran" is failed. */
export function mapTransferResponse(status: number, body: unknown): ProviderOutcome {
  if (status === 202) return pending(null);
  const code = codeOf(record(body).code);
  const providerCode = code ? `momo:${code}` : null;
  if (status === 409) return unknown(providerCode ?? 'momo:RESOURCE_ALREADY_EXIST', 'reference id exists: query its status');
  if (status === 401) return unknown(providerCode, 'token or subscription key refused');
  if (status === 400 && code && Object.hasOwn(reasonTable, code) && !postAmbiguousCodes.has(code)) return failed(reasonTable[code]!, `momo:${code}`);
  return unknown(providerCode, `HTTP ${status}${code ? ` ${code}` : ''}`);
}

/** A TransferResult (status answer or callback body) in Tuma's words. */
export function mapTransferResult(body: unknown): ProviderOutcome {
  const b = record(body);
  const reference = codeOf(b.financialTransactionId);
  if (b.status === 'SUCCESSFUL') return paid(reference, transferResultFacts(b));
  if (b.status === 'PENDING') return pending(reference);
  if (b.status === 'FAILED') {
    const code = reasonCodeOf(b.reason);
    // FAILED is final whatever the reason: an unknown reason is still a failure, just unexplained.
    return failed(code && Object.hasOwn(reasonTable, code) ? reasonTable[code]! : 'provider_failure', `momo:${code ?? 'FAILED'}`);
  }
  const status = codeOf(b.status);
  return unknown(status ? `momo:status:${status}` : null, 'undocumented transfer status');
}

/** The answer to GET /transfer/{referenceId}. 404: MoMo has not registered the reference (yet). */
export function mapTransferStatus(status: number, body: unknown): ProviderOutcome {
  if (status === 200) return mapTransferResult(body);
  const code = codeOf(record(body).code);
  if (status === 404) return absent(`momo:${code ?? 'RESOURCE_NOT_FOUND'}`, 'transfer not registered: resend with the same reference id, then ask again');
  if (status === 401) return unknown(code ? `momo:${code}` : null, 'token or subscription key refused');
  return unknown(code ? `momo:${code}` : null, `status query answered HTTP ${status}`);
}

export interface MomoCallback {
  /** Equal for every delivery of the same message: one final status per transfer. */
  readonly dedupeKey: string;
  /** The attempt key, echoed as externalId (MoMo's body has no referenceId). */
  readonly idempotencyKey: string | null;
  readonly outcome: ProviderOutcome;
}

/** A callback body (a TransferResult, sent by PUT or POST); null when it is not MoMo's shape. */
export function mapCallback(body: unknown): MomoCallback | null {
  const b = record(body);
  const status = codeOf(b.status);
  if (!status) return null;
  const externalId = typeof b.externalId === 'string' && referenceIdPattern.test(b.externalId) ? b.externalId.toLowerCase() : null;
  const ftid = codeOf(b.financialTransactionId);
  const identity = externalId ?? (ftid ? `ftid:${ftid}` : null);
  if (!identity) return null;
  return { dedupeKey: `${identity}:${status}`, idempotencyKey: externalId, outcome: mapTransferResult(b) };
}

/** The callback as record-callback stores it; null when the body is not JSON or not MoMo's shape. */
export function parseMomoCallback(raw: Buffer): ParsedCallback | null {
  let body: unknown;
  try {
    body = JSON.parse(raw.toString('utf8'));
  } catch {
    return null;
  }
  const parsed = mapCallback(body);
  if (!parsed) return null;
  return parsedCallbackOf(parsed.dedupeKey, parsed.idempotencyKey, parsed.outcome, transferResultFacts(body));
}

/**
 * What a TransferResult says about the money: amount, currency, and the payee's number when the
 * payee is named by MSISDN (an EMAIL or PARTY_CODE payee names no number).
 */
export function transferResultFacts(body: unknown): CallbackFacts | undefined {
  const b = record(body);
  const payee = record(b.payee);
  const byNumber = typeof payee.partyIdType === 'string' && payee.partyIdType.toUpperCase() === 'MSISDN';
  return callbackFactsOf({
    amount: amountFact(b.amount),
    currency: currencyFact(b.currency),
    receiver: byNumber ? receiverFact(payee.partyId) : null,
    fee: null,
  });
}

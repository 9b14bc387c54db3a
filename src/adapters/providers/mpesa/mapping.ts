// M-Pesa Daraja B2C v3: pure mapping between Tuma and the provider's JSON (no I/O here).
// Contract: contracts/providers/mpesa-daraja.openapi.yaml; full code tables arrive with issue #5.
import { parsedCallbackOf, type CallbackFacts, type ParsedCallback } from '../../../application/record-callback.js';
import type { StatusQuery, SubmitRequest } from '../../../application/ports.js';
import { scaleOf } from '../../../domain/currency.js';
import { failed, paid, pending, unknown, type FailureReason, type ProviderOutcome } from '../../../domain/provider-outcome.js';
import { amountFact, callbackFactsOf, partyNameReceiverFact } from '../callback-facts.js';

export interface B2CRequest {
  readonly OriginatorConversationID: string;
  readonly InitiatorName: string;
  readonly SecurityCredential: string;
  readonly CommandID: 'BusinessPayment';
  readonly Amount: string;
  readonly PartyA: string;
  readonly PartyB: string;
  readonly Remarks: string;
  readonly QueueTimeOutURL: string;
  readonly ResultURL: string;
  readonly Occassion: string;
}

export interface B2CCredentials {
  readonly shortcode: string;
  readonly initiatorName: string;
  readonly securityCredential: string;
}

/** Builds the B2C body. Remarks carry no beneficiary data; PartyB is the MSISDN without "+". */
export function toB2CRequest(req: SubmitRequest, credentials: B2CCredentials): B2CRequest {
  const unit = 10n ** BigInt(scaleOf(req.currency));
  if (req.amountMinor % unit !== 0n) throw new Error('invariant violated: M-Pesa amounts are whole units (validated at ingest)');
  return {
    OriginatorConversationID: req.idempotencyKey,
    InitiatorName: credentials.initiatorName,
    SecurityCredential: credentials.securityCredential,
    CommandID: 'BusinessPayment',
    Amount: (req.amountMinor / unit).toString(),
    PartyA: credentials.shortcode,
    PartyB: req.msisdn.replace(/^\+/, ''),
    Remarks: 'Tuma payout',
    QueueTimeOutURL: `${req.callbackUrl}/timeout`,
    ResultURL: req.callbackUrl,
    Occassion: req.payoutId.slice(0, 36),
  };
}


/**
 * Maps the synchronous HTTP answer of a B2C request. "0" only means Daraja has the request
 * (pending: the result comes by callback); a gateway code that says the request never ran is a
 * failure; anything else, including 500.002.1001 "Duplicate OriginatorConversationID" (the first
 * request exists), is unknown: resolved by a status query, never by a new key.
 */
export function mapB2CResponse(status: number, body: unknown): ProviderOutcome {
  const b = (body && typeof body === 'object' ? body : {}) as Record<string, unknown>;
  if (status === 200 && String(b.ResponseCode) === '0') return pending(typeof b.ConversationID === 'string' ? b.ConversationID : null);
  const code = typeof b.errorCode === 'string' ? b.errorCode : undefined;
  if (code && Object.hasOwn(gatewayRejectionTable, code)) return failed(gatewayRejectionTable[code]!, `mpesa:${code}`);
  if (status === 200 && b.ResponseCode !== undefined) return failed('provider_failure', `mpesa:response:${String(b.ResponseCode)}`);
  return unknown(code ? `mpesa:${code}` : null, `HTTP ${status}${code ? ` ${code}` : ''}`);
}

/**
 * Every documented B2C and generic ApiResult code (contracts/providers/mpesa-daraja.openapi.yaml), as the
 * outcome of a *result* message. Only codes that say the request was refused before any money
 * moved are failures; Duplicate Detected (15) means an earlier request with the key exists, and
 * internal, sequencing or load failures say nothing certain: those are resolved by a status query.
 */
export const resultCodeTable: Readonly<Record<string, FailureReason | 'paid' | 'unknown'>> = {
  '0': 'paid',
  '1': 'insufficient_float', // the B2C utility account's balance is too low
  '2': 'amount_below_minimum',
  '3': 'amount_above_maximum',
  '4': 'payee_limit_exceeded', // would exceed the customer's daily transfer limit
  '8': 'payee_limit_exceeded', // would exceed the customer's maximum balance
  '11': 'not_permitted', // the debit party (our shortcode) is in an invalid state
  '15': 'unknown', // Duplicate Detected: the first request with this OriginatorConversationID exists
  '17': 'unknown', // Internal Failure
  '18': 'credentials_invalid', // initiator credential check failure
  '19': 'unknown', // message sequencing failure
  '20': 'credentials_invalid', // unresolved initiator
  '21': 'not_permitted', // initiator not allowed to initiate this request
  '22': 'not_permitted', // initiator permission failure
  '24': 'request_invalid', // missing mandatory fields
  '25': 'request_invalid', // invalid request parameters
  '26': 'unknown', // System Too Busy: not known to be unprocessed
  '29': 'request_invalid', // invalid command
  '2001': 'credentials_invalid', // the initiator information is invalid
  '2006': 'payee_not_allowed', // the account status does not allow the transaction
  '2028': 'not_permitted', // not permitted according to product assignment
  '2040': 'payee_not_allowed', // the credit party's customer type is not supported (unregistered)
  '8006': 'credentials_invalid', // the security credential is locked
  SFC_IC0003: 'payee_not_found', // the operator (MSISDN) does not exist
};

/**
 * Daraja gateway error codes on the synchronous answer: the ones that mean "refused as sent, it
 * never ran"; 401.002.01 (token) is retried by the client; everything else is unknown.
 * 500.002.1001 "Duplicate OriginatorConversationID" means the first request exists: never failed.
 */
export const gatewayRejectionTable: Readonly<Record<string, FailureReason>> = {
  '400.002.02': 'request_invalid',
  '400.002.05': 'request_invalid',
  '404.002.01': 'request_invalid',
  '404.001.04': 'credentials_invalid',
  '405.001': 'request_invalid',
  '400.008.01': 'credentials_invalid',
  '400.008.02': 'credentials_invalid',
};

/** The outcome of a Result message (B2C or transaction status), by the table above; null when it is not Daraja's shape. */
export function mapResult(result: Record<string, unknown>): ProviderOutcome {
  const code = String(result.ResultCode);
  const receipt = typeof result.TransactionID === 'string' && result.TransactionID.length > 0 ? result.TransactionID : null;
  // ResultType 1: "waiting for further messages": not final yet.
  if (String(result.ResultType) === '1') return pending(receipt);
  const mapped = resultCodeTable[code];
  if (mapped === 'paid') return paid(receipt);
  if (mapped === undefined || mapped === 'unknown') return unknown(`mpesa:${code}`, mapped === undefined ? 'undocumented result code' : 'result code says nothing certain');
  return failed(mapped, `mpesa:${code}`);
}

/** Parses a ResultURL or QueueTimeOutURL callback body; null if it is not the Daraja shape. */
export function parseB2CCallback(raw: Buffer, kind: 'result' | 'timeout'): ParsedCallback | null {
  let body: unknown;
  try {
    body = JSON.parse(raw.toString('utf8'));
  } catch {
    return null;
  }
  if (kind === 'timeout') {
    // The queue-timeout body echoes the request (undocumented shape): "not processed", to be confirmed by status query.
    const key = body && typeof body === 'object' ? (body as Record<string, unknown>).OriginatorConversationID : undefined;
    if (typeof key !== 'string') return null;
    return { dedupeKey: `${key}:timeout`, idempotencyKey: key, outcome: 'ambiguous', reasonCode: 'mpesa:queue_timeout', providerReference: null };
  }
  const result = body && typeof body === 'object' ? (body as { Result?: unknown }).Result : undefined;
  if (!result || typeof result !== 'object') return null;
  const r = result as Record<string, unknown>;
  const key = r.OriginatorConversationID;
  const code = r.ResultCode;
  if (typeof key !== 'string' || (typeof code !== 'number' && typeof code !== 'string')) return null;
  const resultCode = String(code);
  const mapped = mapResult(r);
  const outcome = mapped.kind === 'paid' ? 'paid' : mapped.kind === 'failed' ? 'failed' : 'ambiguous';
  const receipt = mapped.kind === 'paid' || mapped.kind === 'pending' ? mapped.providerReference : null;
  const facts = b2cResultFacts(r);
  return {
    ...(facts ? { facts } : {}),
    dedupeKey: `${key}:${resultCode}`,
    idempotencyKey: key,
    outcome,
    reasonCode: resultCode === '0' ? null : mapped.kind === 'failed' ? `${mapped.reason}:mpesa:${resultCode}` : `mpesa:${resultCode}`,
    providerReference: receipt,
  };
}

/**
 * What a B2C result says about the money: TransactionAmount (a number or a string) and the
 * number of ReceiverPartyPublicName ("254712345678 - JOHN DOE"). Daraja reports no currency
 * (the shortcode's, KES) and no fee for the payee.
 */
export function b2cResultFacts(result: Record<string, unknown>): CallbackFacts | undefined {
  return callbackFactsOf({
    amount: amountFact(resultParameter(result, 'TransactionAmount')),
    currency: null,
    receiver: partyNameReceiverFact(resultParameter(result, 'ReceiverPartyPublicName')),
    fee: null,
  });
}

// ---------- Transaction Status (the "secondary reconciliation mechanism when callbacks are not received") ----------

export interface StatusQueryRequest {
  readonly Initiator: string;
  readonly SecurityCredential: string;
  readonly CommandID: 'TransactionStatusQuery';
  readonly TransactionID?: string;
  readonly OriginalConversationID: string;
  readonly PartyA: string;
  readonly IdentifierType: '4';
  readonly ResultURL: string;
  readonly QueueTimeOutURL: string;
  readonly Remarks: string;
  readonly Occasion: string;
}

/**
 * Asks about the payment sent under `query.idempotencyKey` (our OriginatorConversationID, which
 * Daraja accepts as OriginalConversationID), and by receipt too when we have it. The answer is
 * asynchronous: it is posted to the attempt's callback URL + "/status".
 */
export function toStatusQueryRequest(query: StatusQuery, credentials: B2CCredentials): StatusQueryRequest {
  return {
    Initiator: credentials.initiatorName,
    SecurityCredential: credentials.securityCredential,
    CommandID: 'TransactionStatusQuery',
    ...(query.providerReference ? { TransactionID: query.providerReference } : {}),
    OriginalConversationID: query.idempotencyKey,
    PartyA: credentials.shortcode,
    IdentifierType: '4',
    ResultURL: `${query.callbackUrl}/status`,
    QueueTimeOutURL: `${query.callbackUrl}/status/timeout`,
    Remarks: 'Tuma status query',
    Occasion: query.payoutId.slice(0, 36),
  };
}

/** The synchronous answer to a status query: accepted means "the result will be posted", never an outcome of the payout. */
export function mapStatusQueryAck(status: number, body: unknown): ProviderOutcome {
  const b = (body && typeof body === 'object' ? body : {}) as Record<string, unknown>;
  if (status === 200 && String(b.ResponseCode) === '0') return pending(null);
  const code = typeof b.errorCode === 'string' ? b.errorCode : b.ResponseCode !== undefined ? `response:${String(b.ResponseCode)}` : null;
  return unknown(code ? `mpesa:${code}` : null, `status query not accepted (HTTP ${status})`);
}

/** The TransactionStatus values of a status result, in Tuma's words; anything else is unknown. */
export const transactionStatusTable: Readonly<Record<string, 'paid' | 'pending' | FailureReason>> = {
  completed: 'paid',
  pending: 'pending',
  failed: 'provider_failure',
  declined: 'declined',
  cancelled: 'declined',
  expired: 'expired',
};

/** The ResultParameter items of a result (a list, or Daraja's single object), those with a Key. */
const resultParameterItems = (r: Record<string, unknown>): { Key: string; Value: unknown }[] => {
  const parameters = r.ResultParameters;
  const list = parameters && typeof parameters === 'object' ? (parameters as { ResultParameter?: unknown }).ResultParameter : undefined;
  const items: unknown[] = Array.isArray(list) ? list : list && typeof list === 'object' ? [list] : [];
  return items.filter((p): p is { Key: string; Value: unknown } => !!p && typeof p === 'object' && typeof (p as { Key?: unknown }).Key === 'string');
};

const resultParameters = (r: Record<string, unknown>): Map<string, unknown> => new Map(resultParameterItems(r).map((p) => [p.Key, p.Value]));

/** The one value of a result parameter; undefined when absent, or given twice with different values (which one would be the fact?). */
function resultParameter(r: Record<string, unknown>, key: string): unknown {
  const values = resultParameterItems(r).filter((p) => p.Key === key).map((p) => p.Value);
  return values.length > 0 && values.every((v) => v === values[0]) ? values[0] : undefined;
}

/**
 * A status result (posted to ResultURL): ResultCode 0 with TransactionStatus "Completed" is paid
 * (ReceiptNo is the receipt). A non-zero ResultCode means the *query* failed, which says nothing
 * about the payment: unknown, asked again later.
 */
export function mapStatusResult(result: Record<string, unknown>): ProviderOutcome {
  const code = String(result.ResultCode);
  if (code !== '0') return unknown(`mpesa:${code}`, 'the status query failed');
  const params = resultParameters(result);
  const status = String(params.get('TransactionStatus') ?? '').trim().toLowerCase();
  const receipt = params.get('ReceiptNo');
  const reference = typeof receipt === 'string' && receipt.length > 0 ? receipt : null;
  const mapped = transactionStatusTable[status];
  if (mapped === undefined) return unknown(`mpesa:status:${status || '(none)'}`, 'undocumented transaction status');
  if (mapped === 'paid') return paid(reference);
  if (mapped === 'pending') return pending(reference);
  return failed(mapped, `mpesa:status:${status}`);
}

/** Parses a status result callback into a stored result; null if it is not the Daraja shape. */
export function parseStatusCallback(raw: Buffer): ParsedCallback | null {
  let body: unknown;
  try {
    body = JSON.parse(raw.toString('utf8'));
  } catch {
    return null;
  }
  const result = body && typeof body === 'object' ? (body as { Result?: unknown }).Result : undefined;
  if (!result || typeof result !== 'object') return null;
  const r = result as Record<string, unknown>;
  if (typeof r.ResultCode !== 'number' && typeof r.ResultCode !== 'string') return null;
  // The payment's own key is a result parameter; the envelope's OriginatorConversationID is the query's.
  const original = resultParameters(r).get('OriginatorConversationID');
  const answer = typeof r.ConversationID === 'string' ? r.ConversationID : String(r.ResultCode);
  if (typeof original !== 'string') {
    // A query Daraja could not answer ("the transaction receipt number does not exist"): no
    // parameters, so no payment key. The status token in the URL names the attempt; the answer is
    // kept as the evidence it is and moves nothing (the query failed: unknown). A success code
    // without the payment's key is no answer about this payment: refused.
    const queryKey = r.OriginatorConversationID;
    if (String(r.ResultCode) === '0' || typeof queryKey !== 'string') return null;
    return parsedCallbackOf(`${queryKey}:status:${answer}`, null, mapStatusResult(r), undefined);
  }
  return parsedCallbackOf(`${original}:status:${answer}`, original, mapStatusResult(r), statusResultFacts(r));
}

/**
 * What a status result says about the payment asked about: Amount and the number of
 * CreditPartyName ("<number> - <NAME>"). No currency, no fee (DebitPartyCharges are ours, not
 * the payee's, and come as free text).
 */
export function statusResultFacts(result: Record<string, unknown>): CallbackFacts | undefined {
  return callbackFactsOf({
    amount: amountFact(resultParameter(result, 'Amount')),
    currency: null,
    receiver: partyNameReceiverFact(resultParameter(result, 'CreditPartyName')),
    fee: null,
  });
}

/** A status query that timed out in Daraja's queue (undocumented echo of the query): stored, and the payout stays unresolved. */
export function parseStatusTimeoutCallback(raw: Buffer): ParsedCallback | null {
  let body: unknown;
  try {
    body = JSON.parse(raw.toString('utf8'));
  } catch {
    return null;
  }
  const b = body && typeof body === 'object' ? (body as Record<string, unknown>) : {};
  const key = typeof b.OriginalConversationID === 'string' ? b.OriginalConversationID : b.OriginatorConversationID;
  if (typeof key !== 'string') return null;
  return { dedupeKey: `${key}:status-timeout`, idempotencyKey: key, outcome: 'ambiguous', reasonCode: 'mpesa:status_queue_timeout', providerReference: null };
}

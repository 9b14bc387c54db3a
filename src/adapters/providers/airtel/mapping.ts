// Airtel Money Open API, Disbursement v2: pure mapping between Tuma and the provider's JSON (no I/O).
// Contract: contracts/providers/airtel-disbursement-v2.openapi.yaml, from
// contracts/providers/airtel-disbursement-v2.openapi.yaml. transaction.id is Tuma's idempotency key: a resend
// under the same id answers DP00900001011/017 ("exists") and never pays twice.
//
// The rule of every table here: only an answer that says the request was refused (no money can
// have moved) or that the transaction ended failed is `failed`. Ambiguous, processing, timed out,
// duplicate, not found, anything undocumented or contradictory is `unknown` or `pending`, resolved
// by an enquiry under the same transaction.id.
//
// Airtel's status.message and transaction.message can name the payee and their number ("You have
// sent ZMW 10.00 to 97… John Doe"): nothing here ever copies them into an outcome.
import { getCountryCallingCode, isSupportedCountry, parsePhoneNumberFromString } from 'libphonenumber-js/mobile';
import { createHmac } from 'node:crypto';
import { verifyHmac, type CallbackCheck } from '../../http/callback-auth.js';
import { parsedCallbackOf, type ParsedCallback } from '../../../application/record-callback.js';
import type { SubmitRequest } from '../../../application/ports.js';
import { scaleOf, type CurrencyCode } from '../../../domain/currency.js';
import { absent, failed, paid, pending, unknown, type FailureReason, type ProviderOutcome } from '../../../domain/provider-outcome.js';

/**
 * Airtel refuses a transaction.id unless it "must not be null or blank and should only contain
 * alphanumeric characters with length between 5 and 80 characters" (the error text quoted by the
 * 121 platform's Airtel integration). A UUID has hyphens, so Tuma sends its key without them.
 */
export const transactionIdPattern = /^[A-Za-z0-9]{5,80}$/;
/** reference: "alphanumeric 4–64" (provider-apis.md §4). */
export const referencePattern = /^[A-Za-z0-9]{4,64}$/;
/** Tuma's attempt keys are UUIDs (v5): 32 hex digits in 8-4-4-4-12 groups. */
export const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Our transaction.id: a UUID key with its hyphens removed, lower case. */
const hyphenlessKeyPattern = /^[0-9a-f]{32}$/;
/** An id or reference Airtel sends back (airtel_money_id "disbursement-Y79C…", reference_id "CI250506.1824.H00006"); anything else is not echoed. */
const providerReferencePattern = /^[A-Za-z0-9._-]{1,128}$/;
/** A response, router or status code as Airtel writes it; anything else is not echoed. */
const codePattern = /^[A-Za-z0-9_]{1,64}$/;
const e164Pattern = /^\+[1-9][0-9]{6,14}$/;
const nationalNumberPattern = /^[0-9]{4,15}$/;

export const airtelTransactionType = 'B2C';

/** The transaction.id Airtel sees for an attempt key: the UUID without hyphens, lower case (32 alphanumeric characters). */
export function airtelTransactionId(idempotencyKey: string): string {
  if (!uuidPattern.test(idempotencyKey)) throw new Error('invariant violated: an Airtel transaction.id is derived from a UUID attempt key');
  return idempotencyKey.replaceAll('-', '').toLowerCase();
}

/** The attempt key an Airtel transaction.id stands for; null when the id is not one Tuma made. */
export function idempotencyKeyOf(transactionId: string): string | null {
  const id = transactionId.toLowerCase();
  if (!hyphenlessKeyPattern.test(id)) return null;
  return `${id.slice(0, 8)}-${id.slice(8, 12)}-${id.slice(12, 16)}-${id.slice(16, 20)}-${id.slice(20)}`;
}

/**
 * Minor units as the decimal text of Airtel's JSON number: "10", "12.50", "0.05", "5000" (UGX).
 * Whole amounts go without decimals (as for MoMo: some markets refuse decimals on whole-unit
 * currencies); digits are moved, never computed in floating point.
 */
export function formatAirtelAmount(amountMinor: bigint, currency: CurrencyCode): string {
  if (amountMinor <= 0n) throw new Error('invariant violated: an Airtel disbursement amount is positive');
  const scale = scaleOf(currency);
  const unit = 10n ** BigInt(scale);
  const whole = amountMinor / unit;
  const fraction = amountMinor % unit;
  return fraction === 0n ? whole.toString() : `${whole}.${fraction.toString().padStart(scale, '0')}`;
}

/**
 * The payee's number as Airtel wants it: the national number, without the country code.
 * Refuses a number of another country than the account's: its national digits sent to this
 * market's account would name somebody else's wallet (or nobody's). Errors never echo the number.
 */
export function nationalNumberOf(msisdn: string, country: string): string {
  if (!/^[A-Z]{2}$/.test(country) || !isSupportedCountry(country)) throw new Error('invariant violated: the Airtel account country is not an ISO 3166-1 alpha-2 code');
  if (!e164Pattern.test(msisdn)) throw new Error('invariant violated: the payee number is not E.164 (validated at ingest)');
  const parsed = parsePhoneNumberFromString(msisdn);
  if (!parsed || parsed.countryCallingCode !== getCountryCallingCode(country)) {
    throw new Error(`invariant violated: the payee number is not a number of ${country}, the Airtel account's country`);
  }
  const national = String(parsed.nationalNumber);
  if (!nationalNumberPattern.test(national)) throw new Error('invariant violated: the payee national number is not 4 to 15 digits');
  return national;
}

export interface AirtelRequestSettings {
  /** X-Country: the account's market, ISO 3166-1 alpha-2 (e.g. ZM). */
  readonly country: string;
  /** X-Currency: the one currency the market pays in. */
  readonly currency: CurrencyCode;
  /** The PIN encrypted with Airtel's public key, base64 (pin.ts). */
  readonly encryptedPin: string;
}

export interface AirtelDisbursementBody {
  readonly payee: { readonly currency: string; readonly msisdn: string };
  readonly reference: string;
  readonly pin: string;
  /** amount is the decimal text of the JSON number; disbursementJson writes it as a number. */
  readonly transaction: { readonly amount: string; readonly id: string; readonly type: typeof airtelTransactionType };
}

export interface AirtelHeaders {
  readonly 'X-Country': string;
  readonly 'X-Currency': string;
  readonly 'Content-Type': 'application/json';
  readonly Accept: '*/*';
}

export interface AirtelDisbursementRequest {
  readonly headers: AirtelHeaders;
  readonly body: AirtelDisbursementBody;
  /** The exact bytes to send (amount a JSON number written from its decimal text). */
  readonly json: string;
}

/** The headers of every call but the token: X-Country and X-Currency name the partner account. */
export function airtelHeaders(settings: Pick<AirtelRequestSettings, 'country' | 'currency'>): AirtelHeaders {
  return { 'X-Country': settings.country, 'X-Currency': settings.currency, 'Content-Type': 'application/json', Accept: '*/*' };
}

/**
 * POST /standard/v2/disbursements/. transaction.id is the attempt key (hyphenless); reference,
 * shown on Airtel's statement, is the same 32 characters (alphanumeric, within 4–64) so finance can
 * match a statement line to an attempt; no name is sent (121 sends none either). Throws an
 * invariant error for a request that cannot be built; nothing of the beneficiary is in the message.
 */
export function toDisbursementRequest(req: SubmitRequest, settings: AirtelRequestSettings): AirtelDisbursementRequest {
  const id = airtelTransactionId(req.idempotencyKey);
  if (req.currency !== settings.currency) throw new Error(`invariant violated: an Airtel ${settings.currency} account cannot pay ${req.currency}`);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(settings.encryptedPin)) throw new Error('invariant violated: the encrypted PIN is not base64 (pin.ts makes it)');
  const body: AirtelDisbursementBody = {
    payee: { currency: settings.currency, msisdn: nationalNumberOf(req.msisdn, settings.country) },
    reference: id,
    pin: settings.encryptedPin,
    transaction: { amount: formatAirtelAmount(req.amountMinor, req.currency), id, type: airtelTransactionType },
  };
  return { headers: airtelHeaders(settings), body, json: disbursementJson(body) };
}

/** Placeholder for the amount while the rest is serialised; no other field can contain a NUL. */
const amountSlot = '\u0000amount\u0000';
const jsonNumberPattern = /^(0|[1-9][0-9]*)(\.[0-9]+)?$/;

/**
 * The body as JSON text with transaction.amount a JSON number written from its decimal text:
 * `"amount":12.50`, never a JS number (which could not hold every amount exactly). Node 20 has no
 * JSON.rawJSON, hence the placeholder.
 */
export function disbursementJson(body: AirtelDisbursementBody): string {
  if (!jsonNumberPattern.test(body.transaction.amount)) throw new Error('invariant violated: the amount is not a plain decimal');
  const text = JSON.stringify({ ...body, transaction: { ...body.transaction, amount: amountSlot } });
  const slot = JSON.stringify(amountSlot);
  if (text.indexOf(slot) !== text.lastIndexOf(slot)) throw new Error('invariant violated: the amount placeholder occurs twice');
  return text.replace(slot, body.transaction.amount);
}

// ---------- response codes and status letters ----------

/** What a code or letter says, before the envelope around it is checked. */
export type Verdict =
  | { readonly kind: 'paid' }
  | { readonly kind: 'pending' }
  | { readonly kind: 'unknown'; readonly detail: string }
  | { readonly kind: 'absent'; readonly detail: string }
  | { readonly kind: 'failed'; readonly reason: FailureReason };

const paidV: Verdict = { kind: 'paid' };
const pendingV: Verdict = { kind: 'pending' };
const unknownV = (detail: string): Verdict => ({ kind: 'unknown', detail });
const absentV = (detail: string): Verdict => ({ kind: 'absent', detail });
const failedV = (reason: FailureReason): Verdict => ({ kind: 'failed', reason });

export interface CodeEntry {
  /** What Airtel says the code means (AIR-CODES), for people reading the table. */
  readonly meaning: string;
  /** As the answer to POST /standard/v2/disbursements/. */
  readonly onDisburse: Verdict;
  /** As status.response_code of an enquiry answer that carries no transaction status letter. */
  readonly onEnquiry: Verdict;
}

export const existsDetail = 'transaction.id exists: enquire, never resend with a new id';
export const notFoundDetail = 'not found: after a safe delay resend with the same transaction.id, then enquire again';
const enquiryRefused = (what: string) => unknownV(`enquiry refused (${what}): says nothing about the transaction`);

/**
 * Every disbursement response code of the reference (AIR-CODES, developers.airtel.ug; meanings as
 * transcribed there). Reasons, where the code names no party:
 * - 003 "Maximum transaction limit reached (for the day)": on a disbursement the usual limit is the
 *   receiving wallet's tier (as for GSMA's volume/value limits); an account-wide limit of ours shows
 *   as the same code on every payout of a batch, which finance will see.
 * - 009 "Initiatee of the transaction is invalid": the initiatee of a disbursement is the payee.
 * - 010 "Payer is not an allowed user": the payer is our disbursement account.
 * - 016 "x-signature and payload did not match": v3 message signing refused (keys of ours).
 * On an enquiry without a status letter a refusal code is the enquiry's own refusal, not the
 * transaction's end: unknown, never failed.
 */
export const responseCodeTable: Readonly<Record<string, CodeEntry>> = {
  DP00900001000: { meaning: 'Ambiguous: still processing, do the transaction enquiry', onDisburse: unknownV('ambiguous: enquire'), onEnquiry: unknownV('ambiguous: enquire again later') },
  DP00900001001: { meaning: 'Success', onDisburse: paidV, onEnquiry: unknownV('success code without a transaction status') },
  DP00900001003: { meaning: 'Maximum transaction limit reached', onDisburse: failedV('payee_limit_exceeded'), onEnquiry: enquiryRefused('DP00900001003') },
  DP00900001004: { meaning: 'Invalid amount: out of range with respect to defined limits', onDisburse: failedV('amount_invalid'), onEnquiry: enquiryRefused('DP00900001004') },
  DP00900001005: { meaning: 'Transaction failed', onDisburse: failedV('provider_failure'), onEnquiry: enquiryRefused('DP00900001005') },
  DP00900001006: { meaning: 'Transaction is in process', onDisburse: pendingV, onEnquiry: pendingV },
  DP00900001007: { meaning: 'Insufficient funds in our account', onDisburse: failedV('insufficient_float'), onEnquiry: enquiryRefused('DP00900001007') },
  DP00900001009: { meaning: 'Invalid initiatee (the payee)', onDisburse: failedV('payee_not_found'), onEnquiry: enquiryRefused('DP00900001009') },
  DP00900001010: { meaning: 'User not allowed (the payer: our account)', onDisburse: failedV('not_permitted'), onEnquiry: enquiryRefused('DP00900001010') },
  DP00900001011: { meaning: 'Transaction with similar information already exists', onDisburse: unknownV(existsDetail), onEnquiry: unknownV('duplicate code on an enquiry: enquire again') },
  DP00900001012: { meaning: 'Invalid mobile number', onDisburse: failedV('payee_not_found'), onEnquiry: enquiryRefused('DP00900001012') },
  DP00900001013: { meaning: 'Refused', onDisburse: failedV('declined'), onEnquiry: enquiryRefused('DP00900001013') },
  DP00900001014: { meaning: 'Timed out: may be processed or failed, do the transaction enquiry', onDisburse: unknownV('timed out at Airtel: enquire'), onEnquiry: unknownV('timed out at Airtel: enquire again later') },
  DP00900001015: { meaning: 'Transaction not found', onDisburse: unknownV('not-found code on a disbursement: enquire'), onEnquiry: absentV(notFoundDetail) },
  DP00900001016: { meaning: 'Forbidden: x-signature and payload did not match', onDisburse: failedV('credentials_invalid'), onEnquiry: enquiryRefused('DP00900001016') },
  DP00900001017: { meaning: 'Duplicate transaction id: do the transaction enquiry', onDisburse: unknownV(existsDetail), onEnquiry: unknownV('duplicate code on an enquiry: enquire again') },
};

/**
 * Codes of Airtel's router, in `{"status_code","status_message"}` answers (HTTP 400): the request
 * never reached the disbursement service. ROUTER110 "Partner … not found": X-Country missing, or
 * our application is not provisioned in that market (setup). ROUTER116 "PIN decryption failed":
 * our encrypted PIN (key, padding or PIN) is wrong. Undocumented router codes read unknown.
 */
export const routerCodeTable: Readonly<Record<string, CodeEntry>> = {
  ROUTER110: { meaning: 'Partner not found (X-Country missing or not provisioned)', onDisburse: failedV('not_permitted'), onEnquiry: enquiryRefused('ROUTER110') },
  ROUTER116: { meaning: 'PIN decryption failed', onDisburse: failedV('credentials_invalid'), onEnquiry: enquiryRefused('ROUTER116') },
};

export type StatusLetter = 'TS' | 'TF' | 'TA' | 'TIP' | 'TE';

/**
 * The transaction status letters (AIR-TD): the transaction's own state, in enquiry answers and
 * callbacks. TF and TE are final failures (Airtel's ledger says the money did not move); TA is
 * Airtel's own "ambiguous"; TIP is still running.
 */
export const statusLetterTable: Readonly<Record<StatusLetter, { readonly meaning: string; readonly verdict: Verdict }>> = {
  TS: { meaning: 'Success', verdict: paidV },
  TF: { meaning: 'Failed', verdict: failedV('provider_failure') },
  TA: { meaning: 'Ambiguous', verdict: unknownV('transaction ambiguous at Airtel: enquire again later') },
  TIP: { meaning: 'In progress', verdict: pendingV },
  TE: { meaning: 'Expired', verdict: failedV('expired') },
};

const isLetter = (s: string): s is StatusLetter => Object.hasOwn(statusLetterTable, s);

// ---------- reading answers ----------

const record = (v: unknown): Record<string, unknown> | null => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null);
const codeOf = (v: unknown): string | null => (typeof v === 'string' && codePattern.test(v) ? v : null);
const referenceOf = (v: unknown): string | null => (typeof v === 'string' && providerReferencePattern.test(v) ? v : null);

/** What an answer body says, whatever its envelope; fields that are not well-formed are null. */
export interface AirtelAnswer {
  /** `error` of a gateway or OAuth refusal: invalid_token, invalid_client. */
  readonly oauthError: string | null;
  /** `status_code` of a router refusal (ROUTER110), or a ROUTERnnn in status.response_code. */
  readonly routerCode: string | null;
  readonly responseCode: string | null;
  /** status.success: true, false, or null when absent or not a boolean. */
  readonly success: boolean | null;
  /** data.transaction.id as sent back (compared with ours). */
  readonly transactionId: string | null;
  /** data.transaction.status: a status letter (or another code-shaped word). */
  readonly letter: string | null;
  readonly airtelMoneyId: string | null;
}

export function readAnswer(body: unknown): AirtelAnswer {
  const b = record(body);
  const status = record(b?.status);
  const transaction = record(record(b?.data)?.transaction);
  const responseCode = codeOf(status?.response_code);
  const statusCode = codeOf(b?.status_code);
  const routerCode = statusCode && /^ROUTER[0-9]+$/.test(statusCode) ? statusCode : responseCode && /^ROUTER[0-9]+$/.test(responseCode) ? responseCode : null;
  return {
    oauthError: codeOf(b?.error),
    routerCode,
    responseCode: routerCode === responseCode ? null : responseCode,
    success: typeof status?.success === 'boolean' ? status.success : null,
    transactionId: typeof transaction?.id === 'string' ? transaction.id : null,
    letter: codeOf(transaction?.status),
    airtelMoneyId: referenceOf(transaction?.airtel_money_id),
  };
}

/** True when the answer is the gateway refusing our token: the client forgets that token. */
export function isTokenRefusal(httpStatus: number, body: unknown): boolean {
  return httpStatus === 401 || (httpStatus === 403 && readAnswer(body).oauthError === 'invalid_token');
}

const provider = (code: string) => `airtel:${code}`;

/** An answer about another transaction than ours (a misrouted or proxied answer) decides nothing. */
function otherTransaction(answer: AirtelAnswer, transactionId: string): boolean {
  return answer.transactionId !== null && answer.transactionId.toLowerCase() !== transactionId.toLowerCase();
}

function outcomeOf(verdict: Verdict, code: string, reference: string | null): ProviderOutcome {
  switch (verdict.kind) {
    case 'paid':
      return paid(reference);
    case 'pending':
      return pending(reference);
    case 'failed':
      return failed(verdict.reason, provider(code));
    case 'unknown':
      return unknown(provider(code), verdict.detail);
    case 'absent':
      return absent(provider(code), verdict.detail);
  }
}

/**
 * The answer to POST /standard/v2/disbursements/ for our `transactionId`. 5xx (whatever the body),
 * undocumented codes and contradictions (success:true beside a refusal code, a TS letter beside
 * one) are unknown. A paid answer needs DP00900001001, success:true and a TS letter (or none).
 */
export function mapDisburseResponse(httpStatus: number, body: unknown, transactionId: string): ProviderOutcome {
  const answer = readAnswer(body);
  if (httpStatus >= 500) return unknown(answer.responseCode ? provider(answer.responseCode) : null, `HTTP ${httpStatus}`);
  // Refused by the gateway before anything ran. The client has already retried once with a new token.
  if ((httpStatus === 401 || httpStatus === 403) && answer.oauthError === 'invalid_token') return failed('credentials_invalid', provider('invalid_token'));
  // Refused before the body was even read: a request we built wrong.
  if (httpStatus === 415) return failed('request_invalid', provider('http-415'));
  if (answer.routerCode) {
    const entry = Object.hasOwn(routerCodeTable, answer.routerCode) ? routerCodeTable[answer.routerCode]! : null;
    return entry ? outcomeOf(entry.onDisburse, answer.routerCode, null) : unknown(provider(answer.routerCode), 'undocumented router code');
  }
  if (!answer.responseCode) return unknown(null, `HTTP ${httpStatus} without a response code`);
  if (otherTransaction(answer, transactionId)) return unknown(provider(answer.responseCode), 'the answer names another transaction');
  const code = answer.responseCode;
  const entry = Object.hasOwn(responseCodeTable, code) ? responseCodeTable[code]! : null;
  if (!entry) return unknown(provider(code), 'undocumented response code');
  const verdict = entry.onDisburse;
  if (verdict.kind === 'paid') {
    if (answer.success !== true) return unknown(provider(code), 'success code without success:true');
    if (answer.letter === null || answer.letter === 'TS') return paid(answer.airtelMoneyId);
    if (answer.letter === 'TIP') return pending(answer.airtelMoneyId);
    if (answer.letter === 'TA') return unknown(provider('TA'), 'success code with an ambiguous transaction: enquire');
    return unknown(provider(code), `success code with transaction status ${answer.letter}`);
  }
  if (verdict.kind === 'failed') {
    if (answer.success !== false) return unknown(provider(code), 'refusal code without success:false');
    // A refusal beside a letter that is not a failure (TS, TIP, TA) is a contradiction: ask again.
    if (answer.letter !== null && answer.letter !== 'TF' && answer.letter !== 'TE') return unknown(provider(code), `refusal code with transaction status ${answer.letter}: enquire`);
    return failed(verdict.reason, provider(code));
  }
  return outcomeOf(verdict, code, answer.airtelMoneyId);
}

/**
 * The answer to GET /standard/v2/disbursements/{id}. The transaction's status letter decides when
 * there is one: TS paid (with success:true), TF/TE failed (TF with the reason of a documented
 * refusal code beside it), TIP pending, TA unknown. Without a letter the code decides, and only
 * towards pending or unknown: an enquiry that is itself refused says nothing about the money.
 */
export function mapEnquiryResponse(httpStatus: number, body: unknown, transactionId: string): ProviderOutcome {
  const answer = readAnswer(body);
  if (httpStatus >= 500) return unknown(answer.responseCode ? provider(answer.responseCode) : null, `enquiry answered HTTP ${httpStatus}`);
  if ((httpStatus === 401 || httpStatus === 403) && answer.oauthError === 'invalid_token') return unknown(provider('invalid_token'), 'token refused: enquire again');
  if (answer.routerCode) {
    const entry = Object.hasOwn(routerCodeTable, answer.routerCode) ? routerCodeTable[answer.routerCode]! : null;
    return entry ? outcomeOf(entry.onEnquiry, answer.routerCode, null) : unknown(provider(answer.routerCode), 'undocumented router code');
  }
  if (otherTransaction(answer, transactionId)) return unknown(answer.responseCode ? provider(answer.responseCode) : null, 'the answer names another transaction');
  const letter = answer.letter;
  if (letter !== null) {
    if (!isLetter(letter)) return unknown(provider(`status:${letter}`), 'undocumented transaction status');
    const verdict = statusLetterTable[letter].verdict;
    if (verdict.kind === 'paid') return answer.success === true ? paid(answer.airtelMoneyId) : unknown(provider('TS'), 'successful transaction without success:true');
    if (letter === 'TF') {
      const code = answer.responseCode;
      const entry = code && Object.hasOwn(responseCodeTable, code) ? responseCodeTable[code]! : null;
      // The code beside TF explains the failure when it is a documented refusal.
      return entry?.onDisburse.kind === 'failed' ? failed(entry.onDisburse.reason, provider(code!)) : failed('provider_failure', provider('TF'));
    }
    return outcomeOf(verdict, letter, answer.airtelMoneyId);
  }
  const code = answer.responseCode;
  if (!code) return unknown(null, `enquiry answered HTTP ${httpStatus} without a status`);
  const entry = Object.hasOwn(responseCodeTable, code) ? responseCodeTable[code]! : null;
  if (!entry) return unknown(provider(code), 'undocumented response code');
  return outcomeOf(entry.onEnquiry, code, answer.airtelMoneyId);
}

// ---------- callbacks ----------

/** What a callback says; message is left out on purpose (it may name the payee). */
export interface AirtelCallback {
  /** transaction.id as Airtel sent it. */
  readonly transactionId: string;
  /** The attempt key it stands for; null when the id is not one Tuma made. */
  readonly idempotencyKey: string | null;
  /** status_code: a status letter, TS or TF in practice. */
  readonly statusCode: string;
  readonly airtelMoneyId: string | null;
}

/** A callback body `{"transaction":{"id","message","status_code","airtel_money_id"}}`; null when malformed. */
export function parseAirtelCallback(raw: Buffer): AirtelCallback | null {
  let body: unknown;
  try {
    body = JSON.parse(raw.toString('utf8'));
  } catch {
    return null;
  }
  const transaction = record(record(body)?.transaction);
  const id = transaction?.id;
  const statusCode = codeOf(transaction?.status_code);
  if (typeof id !== 'string' || !transactionIdPattern.test(id) || !statusCode) return null;
  return { transactionId: id, idempotencyKey: idempotencyKeyOf(id), statusCode, airtelMoneyId: referenceOf(transaction?.airtel_money_id) };
}

/** A callback's outcome: the status letter as in an enquiry; anything else is unknown. */
export function mapAirtelCallback(callback: AirtelCallback): ProviderOutcome {
  const letter = callback.statusCode;
  if (!isLetter(letter)) return unknown(provider(`status:${letter}`), 'undocumented callback status');
  return outcomeOf(statusLetterTable[letter].verdict, letter, callback.airtelMoneyId);
}

/**
 * The callback as record-callback stores it; null when malformed. The dedupe key is the same for
 * every delivery of one final status of one transaction.
 */
export function parseAirtelCallbackRecord(raw: Buffer): ParsedCallback | null {
  const callback = parseAirtelCallback(raw);
  if (!callback) return null;
  const who = callback.idempotencyKey ?? `txid:${callback.transactionId}`;
  return parsedCallbackOf(`${who}:${callback.statusCode}`, callback.idempotencyKey, mapAirtelCallback(callback));
}

/** The callback's `hash` header: base64(HMAC-SHA256(raw body, shared secret)), checked in constant time. */
export function verifyAirtelCallback(secret: Buffer, rawBody: Buffer, hash: string | undefined, nowMs: number = Date.now()): CallbackCheck {
  return verifyHmac({ secret, encoding: 'base64', timestamp: null }, rawBody, hash, undefined, nowMs);
}

/** The `hash` Airtel (and the simulator) puts on a callback body. */
export function airtelCallbackHash(secret: Buffer, rawBody: Buffer): string {
  return createHmac('sha256', secret).update(rawBody).digest('base64');
}

// GSMA Mobile Money API v1.2 disbursements: pure mapping between Tuma and the provider's JSON
// (no I/O here). Contract: contracts/providers/gsma-mmapi-v1.2.openapi.yaml (the GSMA v1.2
// specification's schemas, patterns and enums).
import { createHash } from 'node:crypto';
import { parsedCallbackOf, type CallbackFacts, type ParsedCallback } from '../../../application/record-callback.js';
import type { SubmitRequest } from '../../../application/ports.js';
import { scaleOf, type CurrencyCode } from '../../../domain/currency.js';
import { parseAmount } from '../../../domain/money.js';
import { absent, failed, paid, pending, reversed, unknown, type FailureReason, type ProviderOutcome } from '../../../domain/provider-outcome.js';
import { amountFact, callbackFactsOf, currencyFact, feeSumFact, receiverFact } from '../callback-facts.js';

/** GSMA: creditParty/debitParty hold 1..10 key/value pairs. */
export const partyItemsMax = 10;
/** GSMA: amount has at most 4 decimals. */
export const amountDecimalsMax = 4;
/** GSMA: requestingOrganisationTransactionReference and most free strings are 1..256 chars. */
export const referenceCharsMax = 256;
/** A transaction reference taken from a /responses link is at most this long (and URL-safe). */
export const linkReferenceCharsMax = 256;

/** X-CorrelationID must be a UUID (GSMA-FUND); our idempotency keys are UUID v5. */
export const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface GsmaParty {
  readonly key: string;
  readonly value: string;
}

/**
 * The specification's two ways to create a disbursement: `POST /transactions/type/disbursement`
 * (type-in-path), or `POST /transactions` with `"type": "disbursement"` in the body (type-in-body).
 * A provider may serve only one of them.
 */
export const gsmaDisbursementForms = ['type-in-path', 'type-in-body'] as const;
export type GsmaDisbursementForm = (typeof gsmaDisbursementForms)[number];
/**
 * How X-Date is written: an RFC 3339 date-time (the OAS), an HTTP-date (RFC 7231, the developer
 * portal's table), or not sent at all (it is optional in the specification).
 */
export const gsmaDateHeaders = ['date-time', 'http-date', 'none'] as const;
export type GsmaDateHeader = (typeof gsmaDateHeaders)[number];
/** X-Client-Id: printable ASCII without spaces, as a header value can carry it unquoted. */
export const gsmaClientIdPattern = /^[\x21-\x7e]{1,256}$/;

export interface GsmaMappingSettings {
  /** Our disbursement account at the provider, e.g. [{ key: 'walletid', value: '1' }]. */
  readonly debitParty: readonly GsmaParty[];
  readonly disbursementForm?: GsmaDisbursementForm;
}

/** What the account sends on every call: X-API-Key, X-Client-Id and X-Date as it is configured. */
export function accountHeaders(settings: { readonly apiKey?: string; readonly clientId?: string; readonly dateHeader?: GsmaDateHeader }, now: Date): Record<string, string> {
  const date = settings.dateHeader ?? 'date-time';
  return {
    ...(settings.apiKey ? { 'X-API-Key': settings.apiKey } : {}),
    ...(settings.clientId ? { 'X-Client-Id': settings.clientId } : {}),
    ...(date === 'date-time' ? { 'X-Date': now.toISOString() } : date === 'http-date' ? { 'X-Date': now.toUTCString() } : {}),
  };
}

export interface GsmaTransactionRequest {
  /** Only in the type-in-body form. */
  readonly type?: 'disbursement';
  readonly amount: string;
  readonly currency: string;
  readonly creditParty: readonly GsmaParty[];
  readonly debitParty: readonly GsmaParty[];
  readonly requestingOrganisationTransactionReference: string;
  readonly descriptionText: string;
  readonly requestDate: string;
}

export interface GsmaDisbursementRequest {
  /** Under the base URL: /transactions/type/disbursement or /transactions. */
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: GsmaTransactionRequest;
}

/**
 * The GSMA v1.2 `amount` pattern, verbatim from the specification: no leading zero but "0", at most
 * 18 integer digits, 1-4 decimals of which the last is not 0 ("50", "50.5", "0.05"; never "50.00",
 * "50.", "050"). A strict provider refuses anything else (formatError).
 */
export const gsmaAmountPattern = /^([0]|([1-9][0-9]{0,17}))([.][0-9]{0,3}[1-9])?$/;

/**
 * Minor units as GSMA's decimal string, in the specification's form: the currency's decimals with
 * the insignificant trailing zeros dropped, and no dot when nothing is left of them. 5000n at
 * scale 2 → "50", 5050n → "50.5", 5n → "0.05", 200n at scale 0 → "200", 1500n at scale 3 → "1.5".
 * Digits are moved, never computed through a number.
 */
export function formatAmount(amountMinor: bigint, scale: number): string {
  if (amountMinor <= 0n) throw new Error('invariant violated: a payout amount is positive');
  if (scale > amountDecimalsMax) throw new Error(`invariant violated: GSMA amounts have at most ${amountDecimalsMax} decimals`);
  const digits = amountMinor.toString().padStart(scale + 1, '0');
  const whole = digits.slice(0, digits.length - scale);
  const fraction = digits.slice(digits.length - scale).replace(/0+$/, '');
  const text = fraction.length > 0 ? `${whole}.${fraction}` : whole;
  if (!gsmaAmountPattern.test(text)) throw new Error('invariant violated: the amount is beyond what GSMA can carry (18 integer digits)');
  return text;
}

/**
 * A GSMA amount read back into minor units of `currency`, exactly: the specification's form
 * ("50", "50.5") and the padded form some providers still write ("50.00", "50.50") both read
 * 5000n / 5050n; more significant decimals than the currency has, a sign, an exponent, a number
 * instead of a string, zero, or anything else is null (never rounded).
 */
export function parseGsmaAmount(text: unknown, currency: CurrencyCode): bigint | null {
  if (typeof text !== 'string' || text.length > 24) return null;
  // The padded form: the spec's digits, then zeros after the dot.
  if (!gsmaAmountPattern.test(text) && !/^([0]|([1-9][0-9]{0,17}))[.][0-9]{0,3}0$/.test(text)) return null;
  const minor = parseAmount(text, currency);
  return minor.ok ? minor.value : null;
}

/**
 * Builds POST /transactions/type/disbursement, or POST /transactions with the type in the body
 * (the account's disbursementForm); X-Date and the account's headers are added on sending. X-CorrelationID is the idempotency key: a resend
 * with the same key is refused by the provider as a duplicate, never executed twice.
 * creditParty is keyed 'msisdn' with the E.164 number *with* its '+': the GSMA msisdn format
 * ("Must be in E.164 format, may contain a leading '+'") accepts it, and keeping it avoids a
 * national-vs-international ambiguity at providers that accept both.
 * descriptionText carries no beneficiary data.
 */
export function toDisbursementRequest(req: SubmitRequest, settings: GsmaMappingSettings, now: Date = new Date()): GsmaDisbursementRequest {
  if (!uuidPattern.test(req.idempotencyKey)) throw new Error('invariant violated: the GSMA X-CorrelationID (idempotency key) must be a UUID');
  if (!/^\+[1-9][0-9]{6,14}$/.test(req.msisdn)) throw new Error('invariant violated: the msisdn is E.164 (validated at ingest)');
  if (settings.debitParty.length < 1 || settings.debitParty.length > partyItemsMax) throw new Error(`invariant violated: debitParty has 1..${partyItemsMax} items`);
  const inBody = settings.disbursementForm === 'type-in-body';
  return {
    path: inBody ? '/transactions' : '/transactions/type/disbursement',
    headers: {
      'X-CorrelationID': req.idempotencyKey,
      'X-Callback-URL': req.callbackUrl,
      'Content-Type': 'application/json',
    },
    body: {
      ...(inBody ? { type: 'disbursement' as const } : {}),
      amount: formatAmount(req.amountMinor, scaleOf(req.currency)),
      currency: req.currency,
      creditParty: [{ key: 'msisdn', value: req.msisdn }],
      debitParty: settings.debitParty.map((p) => ({ key: p.key, value: p.value })),
      requestingOrganisationTransactionReference: req.payoutId.slice(0, referenceCharsMax),
      descriptionText: 'Tuma payout',
      requestDate: now.toISOString(),
    },
  };
}

// ---------- error objects ----------

/**
 * Every errorCode of the GSMA v1.2 OAS ErrorObject enum, as the outcome of a request the provider
 * *refused* (businessRule, validation, authorisation or identification category, answered before
 * execution). Keys are lower-case: codes are compared case-insensitively because the OAS spells
 * them camelCase and the developer portal PascalCase.
 *
 * unknown, on purpose:
 * - duplicateRequest: a request with this X-CorrelationID exists; it may have paid. Query it.
 * - rateLimitError: the request did not run, but that is a fact about the provider's load, not
 *   about the payout. Failing the payout would make a person re-release a payment that would
 *   succeed a minute later; unknown keeps it in reconciliation (GET /responses answers 404, and
 *   the same X-CorrelationID may be sent again) and counts against the circuit breaker, which
 *   backs off — exactly what a rate limit asks for.
 *
 * GSMA does not say *which* party exceeded a volume/value limit; on a disbursement the usual cause
 * is the recipient's tiered wallet limit, so they read payee_limit_exceeded (an account-wide
 * limit of ours shows as the same code on every payout of the batch, which finance will see).
 */
export const errorCodeTable: Readonly<Record<string, FailureReason | 'unknown'>> = {
  genericerror: 'provider_failure', // final only in a refusing category; internal/serviceUnavailable stay unknown (see mapErrorAnswer)
  dailyvolumelimitexceeded: 'payee_limit_exceeded',
  dailyvaluelimitexceeded: 'payee_limit_exceeded',
  weeklyvolumelimitexceeded: 'payee_limit_exceeded',
  weeklyvaluelimitexceeded: 'payee_limit_exceeded',
  monthlyvolumelimitexceeded: 'payee_limit_exceeded',
  monthlyvaluelimitexceeded: 'payee_limit_exceeded',
  accountmaxtotalvolumeexceeded: 'payee_limit_exceeded',
  accountmaxtotalvalueexceeded: 'payee_limit_exceeded',
  lessthantransactionminvalue: 'amount_below_minimum',
  greaterthantransactionmaxvalue: 'amount_above_maximum',
  maxbalanceexceeded: 'payee_limit_exceeded', // the credit party's balance would exceed its limit
  samepartieserror: 'request_invalid', // debit and credit party are the same: a setup error
  duplicaterequest: 'unknown', // the first request with this X-CorrelationID exists: query it
  insufficientfunds: 'insufficient_float', // the debited party is our disbursement account
  incorrectstate: 'payee_not_allowed', // "the account is in a state that does not permit the service"
  underpaymentnotallowed: 'amount_invalid',
  overpaymentnotallowed: 'amount_invalid',
  ratelimiterror: 'unknown', // see above: transient, resolved by query and same-key resend
  transactiontypeerror: 'not_permitted', // our product does not allow this transaction type
  nomandateauthority: 'not_permitted',
  linkviolation: 'not_permitted',
  countryoforiginnotpermitted: 'payee_not_allowed',
  nationalitynotpermitted: 'payee_not_allowed',
  iddocumentnotsupported: 'payee_not_allowed',
  issuingcountrynotsupported: 'payee_not_allowed',
  quotehasexpired: 'expired',
  identifiererror: 'payee_not_found', // identification (404): the msisdn is not a wallet here
  lengtherror: 'request_invalid',
  formaterror: 'request_invalid',
  negativevalue: 'amount_invalid',
  currencynotsupported: 'amount_invalid',
  mandatoryvaluenotsupplied: 'request_invalid',
  invalidoffset: 'request_invalid',
  clientauthorisationerror: 'credentials_invalid',
  requestdeclined: 'declined',
  servicingpartyauthorisationerror: 'not_permitted',
  requestingpartyauthorisationerror: 'not_permitted',
};

/** Error categories that mean "refused before execution"; internal and serviceUnavailable say nothing certain. */
export const refusingCategories: ReadonlySet<string> = new Set(['businessrule', 'validation', 'authorisation', 'identification']);

export interface GsmaError {
  readonly category: string | null;
  readonly code: string;
  readonly description: string | null;
  readonly dateTime: string | null;
}

const record = (body: unknown): Record<string, unknown> | null => (body && typeof body === 'object' && !Array.isArray(body) ? (body as Record<string, unknown>) : null);
const text = (v: unknown, max = referenceCharsMax): string | null => (typeof v === 'string' && v.length > 0 && v.length <= max ? v : null);
/** Provider codes as stored: "gsma:<code as sent>", bounded. */
const codeOf = (code: string) => `gsma:${code.slice(0, 64)}`;

/** Reads an ErrorObject; accepts errorDescription and the OAS spelling errordescription. */
export function readErrorObject(body: unknown): GsmaError | null {
  const b = record(body);
  const code = text(b?.errorCode, 64);
  if (!b || !code) return null;
  return {
    category: text(b.errorCategory, 64),
    code,
    description: text(b.errorDescription) ?? text(b.errordescription),
    dateTime: text(b.errorDateTime, 64),
  };
}

/** The table's verdict on a code, case-insensitively; undefined when the code is not documented. */
export function lookupErrorCode(code: string): FailureReason | 'unknown' | undefined {
  const key = code.toLowerCase();
  return Object.hasOwn(errorCodeTable, key) ? errorCodeTable[key] : undefined;
}

/**
 * An ErrorObject on a synchronous HTTP answer: a failure only when the status is 4xx, the
 * category is one that refuses before execution, and the code is documented as final.
 */
export function mapErrorAnswer(status: number, body: unknown): ProviderOutcome {
  const error = readErrorObject(body);
  if (!error) return unknown(null, `HTTP ${status}`);
  const verdict = lookupErrorCode(error.code);
  if (verdict === 'unknown' && error.code.toLowerCase() === 'duplicaterequest') return unknown(codeOf(error.code), 'exists: query');
  const category = error.category?.toLowerCase() ?? '';
  if (status < 400 || status >= 500 || !refusingCategories.has(category)) return unknown(codeOf(error.code), `HTTP ${status} ${category || 'no category'}`);
  if (verdict === undefined) return unknown(codeOf(error.code), 'undocumented error code');
  if (verdict === 'unknown') return unknown(codeOf(error.code), `HTTP ${status} says nothing certain`);
  return failed(verdict, codeOf(error.code));
}

/**
 * An ErrorObject that *reports* the failure of the request (a callback, or a failed request
 * state): the provider says this request failed. duplicateRequest still means another request
 * with this key exists; rateLimitError and undocumented codes read as a plain failure reason-less.
 */
function mapReportedError(error: GsmaError | null, what: string): ProviderOutcome {
  if (!error) return failed('provider_failure', `gsma:${what}`);
  if (error.code.toLowerCase() === 'duplicaterequest') return unknown(codeOf(error.code), 'exists: query');
  const verdict = lookupErrorCode(error.code);
  return failed(verdict === undefined || verdict === 'unknown' ? 'provider_failure' : verdict, codeOf(error.code));
}

// ---------- request state, transaction ----------

/** A RequestState (202 answer or GET /requeststates): pending, completed (paid) or failed. */
export function mapRequestStateBody(body: unknown): ProviderOutcome {
  const b = record(body);
  const state = typeof b?.status === 'string' ? b.status.toLowerCase() : null;
  const serverCorrelationId = text(b?.serverCorrelationId, 64);
  const objectReference = text(b?.objectReference);
  if (!b || !serverCorrelationId || !state) return unknown(null, 'unreadable request state');
  if (state === 'pending') return pending(serverCorrelationId);
  // "completed": the disbursement ran; the transaction (objectReference) is the receipt of it.
  if (state === 'completed') return paid(objectReference);
  if (state === 'failed') return mapReportedError(readErrorObject(b.error ?? b.errorReference), 'requeststate:failed');
  return unknown(`gsma:requeststate:${state.slice(0, 32)}`, 'undocumented request state');
}

/**
 * The answer to POST /transactions/type/disbursement. 201: the final Transaction (sync mode);
 * 202: a RequestState; 4xx ErrorObject: refused (or unknown by code); 5xx, timeouts and
 * unreadable answers: unknown, resolved by a status query with the same X-CorrelationID.
 */
export function mapCreateResponse(status: number, body: unknown): ProviderOutcome {
  if (status === 201) return mapTransactionBody(body);
  if (status === 202) return mapRequestStateBody(body);
  if (status >= 400 && status < 500) return mapErrorAnswer(status, body);
  const error = readErrorObject(body);
  return unknown(error ? codeOf(error.code) : null, `HTTP ${status}`);
}

/** GET /requeststates/{serverCorrelationId}. 404: the provider does not know that id (ask /responses). */
export function mapRequestState(status: number, body: unknown): ProviderOutcome {
  if (status === 200) return mapRequestStateBody(body);
  if (status === 404) return unknown(codeOf(readErrorObject(body)?.code ?? 'identifierError'), 'request state not found');
  const error = readErrorObject(body);
  return unknown(error ? codeOf(error.code) : null, `request state query answered HTTP ${status}`);
}

/**
 * transactionStatus is a free string (1–256 chars); compared case-insensitively. Anything not
 * listed reads unknown: a new word from a provider is never taken for a final answer.
 */
export const transactionStatusTable: Readonly<Record<string, 'paid' | 'pending' | 'reversed' | FailureReason>> = {
  completed: 'paid',
  // Completed, then taken back by the provider (a reversal): the money is in our float again.
  reversed: 'reversed',
  success: 'paid',
  successful: 'paid',
  succeeded: 'paid',
  failed: 'provider_failure',
  failure: 'provider_failure',
  rejected: 'declined',
  declined: 'declined',
  cancelled: 'declined',
  canceled: 'declined',
  expired: 'expired',
  pending: 'pending',
  inprogress: 'pending',
  'in progress': 'pending',
  processing: 'pending',
  accepted: 'pending',
  created: 'pending',
  initiated: 'pending',
  submitted: 'pending',
};

/** A Transaction object (201, GET /transactions/{ref}, success callback). */
export function mapTransactionBody(body: unknown): ProviderOutcome {
  const b = record(body);
  const status = text(b?.transactionStatus);
  if (!b || !status) return unknown(null, 'unreadable transaction');
  const reference = text(b.transactionReference);
  const mapped = transactionStatusTable[status.trim().toLowerCase()];
  if (mapped === undefined) return unknown(`gsma:status:${status.slice(0, 32)}`, 'undocumented transaction status');
  if (mapped === 'paid') return paid(reference, transactionFacts(b));
  if (mapped === 'pending') return pending(reference);
  if (mapped === 'reversed') return reversed(reference, `gsma:status:${status.trim().toLowerCase().slice(0, 32)}`);
  return failed(mapped, `gsma:status:${status.trim().toLowerCase().slice(0, 32)}`);
}

/** GET /transactions/{transactionReference}. */
export function mapTransaction(status: number, body: unknown): ProviderOutcome {
  if (status === 200) return mapTransactionBody(body);
  const error = readErrorObject(body);
  return unknown(error ? codeOf(error.code) : null, `transaction query answered HTTP ${status}`);
}

// ---------- missing response retrieval ----------

export type ResponsesLookup =
  /** A resource was created for the correlation id: fetch the transaction. */
  | { readonly kind: 'link'; readonly transactionReference: string }
  /** No resource was created: the same X-CorrelationID may be sent again. */
  | { readonly kind: 'not-created' }
  | { readonly kind: 'unknown'; readonly outcome: ProviderOutcome };

/**
 * GET /responses/{clientCorrelationId}: 200 {link} → the transaction reference (last path segment
 * under /transactions/); 404 → no resource was created for this key.
 */
export function mapResponsesLookup(status: number, body: unknown): ResponsesLookup {
  if (status === 404) return { kind: 'not-created' };
  if (status !== 200) return { kind: 'unknown', outcome: unknown(codeOf(readErrorObject(body)?.code ?? String(status)), `responses lookup answered HTTP ${status}`) };
  const link = text(record(body)?.link, 2048);
  const match = link ? /\/transactions\/([^/?#]+)\/?(?:[?#].*)?$/.exec(link) : null;
  let reference: string | null = null;
  try {
    reference = match?.[1] ? decodeURIComponent(match[1]) : null;
  } catch {
    reference = null;
  }
  if (!reference || reference.length > linkReferenceCharsMax || /[/\\]/.test(reference)) {
    return { kind: 'unknown', outcome: unknown(null, 'responses link names no transaction') };
  }
  return { kind: 'link', transactionReference: reference };
}

/** What a 404 from /responses means for the payout: nothing was created; still unknown to the engine. */
export const notCreated = (): ProviderOutcome => absent('gsma:responses:404', 'not created: resend with the same X-CorrelationID');

// ---------- callbacks ----------

export interface MappedCallback {
  readonly outcome: ProviderOutcome;
  /** Equal for every delivery of the same provider message. */
  readonly dedupeKey: string;
}

/**
 * The PUT to X-Callback-URL: a Transaction (success, or a status update) or an ErrorObject
 * (failure). `correlationId` is the X-CorrelationID header the provider echoes: the only thing
 * that ties an ErrorObject (which names no transaction) to our request.
 */
export function mapCallback(body: unknown, correlationId: string | null = null): MappedCallback | null {
  const b = record(body);
  if (!b) return null;
  const owner = correlationId && uuidPattern.test(correlationId) ? correlationId.toLowerCase() : null;
  if (typeof b.transactionStatus === 'string') {
    const outcome = mapTransactionBody(b);
    const reference = text(b.transactionReference);
    if (!reference && !owner) return null;
    return { outcome, dedupeKey: `${owner ?? reference}:${reference ?? '-'}:${b.transactionStatus.toLowerCase().slice(0, 32)}` };
  }
  const error = readErrorObject(b);
  if (!error) return null;
  // Without the header an ErrorObject names nobody: the body's digest keeps distinct messages apart.
  const who = owner ?? `body-${createHash('sha256').update(JSON.stringify(b)).digest('hex').slice(0, 32)}`;
  return { outcome: mapReportedError(error, 'callback'), dedupeKey: `${who}:error:${error.code.toLowerCase().slice(0, 64)}` };
}

/** A callback as the callback route stores it; null when it is not GSMA's shape. */
export function parseCallback(raw: Buffer, correlationId: string | null = null): ParsedCallback | null {
  let body: unknown;
  try {
    body = JSON.parse(raw.toString('utf8'));
  } catch {
    return null;
  }
  const mapped = mapCallback(body, correlationId);
  if (!mapped) return null;
  return parsedCallbackOf(mapped.dedupeKey, correlationId && uuidPattern.test(correlationId) ? correlationId : null, mapped.outcome, transactionFacts(body));
}

/**
 * What a Transaction says about the money: amount, currency, the creditParty's msisdn (E.164,
 * '+' optional), and the sum of its `fees` charged in its currency. An ErrorObject reports none.
 * Several msisdn items that disagree name no one receiver: null.
 */
export function transactionFacts(body: unknown): CallbackFacts | undefined {
  const b = record(body);
  if (!b || typeof b.transactionStatus !== 'string') return undefined;
  const currency = currencyFact(b.currency);
  const parties = Array.isArray(b.creditParty) && b.creditParty.length <= partyItemsMax ? (b.creditParty as unknown[]) : [];
  const numbers = new Set(parties.flatMap((p) => {
    const party = record(p);
    return party && typeof party.key === 'string' && party.key.toLowerCase() === 'msisdn' ? [party.value] : [];
  }));
  const [number] = numbers;
  return callbackFactsOf({
    amount: amountFact(b.amount),
    currency,
    receiver: numbers.size === 1 ? receiverFact(number) : null,
    fee: feeSumFact(b.fees, currency, (entry) => {
      const fee = record(entry);
      return fee ? { amount: fee.feeAmount, currency: fee.feeCurrency } : null;
    }),
  });
}

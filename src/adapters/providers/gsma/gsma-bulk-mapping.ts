// GSMA Mobile Money API v1.2 bulk disbursement (/batchtransactions): pure mapping between Tuma's
// payouts and the provider's batch JSON (no I/O). A provider batch carries up to the account's
// configured number of payout attempts; each item names its attempt by its idempotency key as
// requestingOrganisationTransactionReference, which is how completions and rejections are read
// back to the payout. The batch has an X-CorrelationID of its own (a reused one is refused as a
// duplicate, never run twice). Contract: contracts/providers/gsma-mmapi-v1.2.openapi.yaml.
import type { SubmitRequest } from '../../../application/ports.js';
import { scaleOf } from '../../../domain/currency.js';
import { failed, paid, pending, unknown, type ProviderOutcome } from '../../../domain/provider-outcome.js';
import { callbackFactsOf, receiverFact } from '../callback-facts.js';
import { formatAmount, lookupErrorCode, mapErrorAnswer, partyItemsMax, readErrorObject, uuidPattern, type GsmaParty } from './mapping.js';

/** The specification's batch statuses. */
export const gsmaBatchStatuses = ['created', 'approved', 'completed'] as const;
export type GsmaBatchStatus = (typeof gsmaBatchStatuses)[number];
/** Items in one provider batch at most, whatever an account says (the specification allows 999,999). */
export const gsmaBatchItemsMax = 10_000;
/** How a provider batch is approved: at once (one-step), or by our own PATCH to approved (two-step, maker-checker at the provider). */
export const gsmaBulkApprovals = ['one-step', 'two-step'] as const;
export type GsmaBulkApproval = (typeof gsmaBulkApprovals)[number];

export interface GsmaBatchRequest {
  readonly path: '/batchtransactions';
  readonly headers: Readonly<Record<string, string>>;
  readonly body: {
    readonly transactions: readonly {
      readonly type: 'disbursement';
      readonly amount: string;
      readonly currency: string;
      readonly creditParty: readonly GsmaParty[];
      readonly debitParty: readonly GsmaParty[];
      readonly requestingOrganisationTransactionReference: string;
      readonly descriptionText: string;
      readonly requestDate: string;
    }[];
    readonly batchTitle: string;
    readonly batchDescription: string;
  };
}

/**
 * POST /batchtransactions for `items` under the batch's own X-CorrelationID `batchKey`; the batch
 * callback goes to `callbackUrl`. Every item's amount is in the specification's form; an item's
 * reference is its attempt key (a UUID), and no item carries beneficiary data besides its number.
 */
export function toBatchRequest(batchKey: string, items: readonly SubmitRequest[], debitParty: readonly GsmaParty[], callbackUrl: string | null, now: Date = new Date()): GsmaBatchRequest {
  if (!uuidPattern.test(batchKey)) throw new Error('invariant violated: a batch X-CorrelationID is a UUID');
  if (items.length < 1 || items.length > gsmaBatchItemsMax) throw new Error(`invariant violated: a provider batch has 1..${gsmaBatchItemsMax} items`);
  if (debitParty.length < 1 || debitParty.length > partyItemsMax) throw new Error(`invariant violated: debitParty has 1..${partyItemsMax} items`);
  const keys = new Set<string>();
  const transactions = items.map((req) => {
    if (!uuidPattern.test(req.idempotencyKey)) throw new Error('invariant violated: an item reference (idempotency key) is a UUID');
    if (keys.has(req.idempotencyKey.toLowerCase())) throw new Error('invariant violated: an attempt is in a provider batch once');
    keys.add(req.idempotencyKey.toLowerCase());
    if (!/^\+[1-9][0-9]{6,14}$/.test(req.msisdn)) throw new Error('invariant violated: the msisdn is E.164 (validated at ingest)');
    return {
      type: 'disbursement' as const,
      amount: formatAmount(req.amountMinor, scaleOf(req.currency)),
      currency: req.currency,
      creditParty: [{ key: 'msisdn', value: req.msisdn }],
      debitParty: debitParty.map((p) => ({ key: p.key, value: p.value })),
      requestingOrganisationTransactionReference: req.idempotencyKey,
      descriptionText: 'Tuma payout',
      requestDate: now.toISOString(),
    };
  });
  return {
    path: '/batchtransactions',
    headers: { 'X-CorrelationID': batchKey, ...(callbackUrl ? { 'X-Callback-URL': callbackUrl } : {}), 'Content-Type': 'application/json' },
    body: { transactions, batchTitle: `Tuma ${batchKey}`, batchDescription: `${items.length} Tuma payouts` },
  };
}

/** The approval of a two-step batch (RFC 6902). */
export const approvalPatch = [{ op: 'replace', path: '/batchStatus', value: 'approved' }] as const;

const record = (body: unknown): Record<string, unknown> | null => (body && typeof body === 'object' && !Array.isArray(body) ? (body as Record<string, unknown>) : null);
const text = (v: unknown, max = 256): string | null => (typeof v === 'string' && v.length > 0 && v.length <= max ? v : null);

export type BatchRequestAnswer =
  /** Accepted: the request runs; the batch id when the provider said it already. */
  | { readonly kind: 'accepted'; readonly serverCorrelationId: string; readonly batchId: string | null }
  /** Refused before anything was created, or rejected whole: every item has this outcome. */
  | { readonly kind: 'refused'; readonly outcome: ProviderOutcome }
  /** Nothing certain (timeout, 5xx, duplicate, unreadable): ask, never resend under another key. */
  | { readonly kind: 'unknown'; readonly outcome: ProviderOutcome };

/** The answer to POST /batchtransactions or PATCH /batchtransactions/{id}: 202 RequestState, or an ErrorObject. */
export function mapBatchRequestAnswer(status: number, body: unknown): BatchRequestAnswer {
  if (status === 202 || status === 200) {
    const b = record(body);
    const serverCorrelationId = text(b?.serverCorrelationId, 64);
    const state = typeof b?.status === 'string' ? b.status.toLowerCase() : null;
    if (!b || !serverCorrelationId || !state) return { kind: 'unknown', outcome: unknown(null, 'unreadable request state') };
    if (state === 'failed') return { kind: 'refused', outcome: reportedBatchFailure(b.error ?? b.errorReference) };
    return { kind: 'accepted', serverCorrelationId, batchId: text(b.objectReference) };
  }
  if (status >= 400 && status < 500) {
    const outcome = mapErrorAnswer(status, body);
    return outcome.kind === 'failed' ? { kind: 'refused', outcome } : { kind: 'unknown', outcome };
  }
  const error = readErrorObject(body);
  return { kind: 'unknown', outcome: unknown(error ? `gsma:${error.code.slice(0, 64)}` : null, `HTTP ${status}`) };
}

/** A whole batch's reported failure (a failed request state, an ErrorObject callback): each item fails with it, by the single-payment table. */
export function reportedBatchFailure(errorBody: unknown): ProviderOutcome {
  const error = readErrorObject(errorBody);
  if (!error) return failed('provider_failure', 'gsma:batch:failed');
  const verdict = lookupErrorCode(error.code);
  if (verdict === 'unknown') return unknown(`gsma:${error.code.slice(0, 64)}`, 'batch failed: says nothing certain');
  return failed(verdict ?? 'provider_failure', `gsma:${error.code.slice(0, 64)}`);
}

export interface BatchView {
  readonly batchId: string;
  readonly status: GsmaBatchStatus;
}

/** A Batch Transaction object (GET /batchtransactions/{id}, the batch callback); null when it is not one. */
export function readBatchObject(body: unknown): BatchView | null {
  const b = record(body);
  const batchId = text(b?.batchId);
  const status = typeof b?.batchStatus === 'string' ? b.batchStatus.toLowerCase() : null;
  if (!batchId || !status || !(gsmaBatchStatuses as readonly string[]).includes(status)) return null;
  return { batchId, status: status as GsmaBatchStatus };
}

/**
 * A completion entry: the item ran; its transactionReference is the receipt, and the number its
 * creditParty names is what the provider says it paid (checked against the payout before it
 * settles, as a callback's would be). Null when unreadable.
 */
export function readCompletion(entry: unknown): { readonly itemKey: string; readonly outcome: ProviderOutcome } | null {
  const e = record(entry);
  const itemKey = text(e?.requestingOrganisationTransactionReference);
  if (!e || !itemKey || !uuidPattern.test(itemKey)) return null;
  const parties = Array.isArray(e.creditParty) && e.creditParty.length <= partyItemsMax ? (e.creditParty as unknown[]) : [];
  const numbers = new Set(parties.flatMap((p) => {
    const party = record(p);
    return party && typeof party.key === 'string' && party.key.toLowerCase() === 'msisdn' ? [party.value] : [];
  }));
  const [number] = numbers;
  const facts = callbackFactsOf({ amount: null, currency: null, receiver: numbers.size === 1 ? receiverFact(number) : null, fee: null });
  return { itemKey: itemKey.toLowerCase(), outcome: paid(text(e.transactionReference), facts) };
}

/**
 * A rejection entry: the item did not run. Its rejectionReason read as an error code by the
 * single-payment table (a documented final code is that failure; duplicateRequest or rateLimitError
 * say nothing certain: unknown; anything else a provider failure). Null when unreadable.
 */
export function readRejection(entry: unknown): { readonly itemKey: string; readonly outcome: ProviderOutcome } | null {
  const e = record(entry);
  const itemKey = text(e?.requestingOrganisationTransactionReference);
  if (!e || !itemKey || !uuidPattern.test(itemKey)) return null;
  const reason = text(e.rejectionReason, 256) ?? 'unspecified';
  const verdict = lookupErrorCode(reason);
  const code = `gsma:batch-rejection:${reason.slice(0, 48)}`;
  if (verdict === 'unknown') return { itemKey: itemKey.toLowerCase(), outcome: unknown(code, 'rejected in a batch: says nothing certain') };
  return { itemKey: itemKey.toLowerCase(), outcome: failed(verdict ?? 'provider_failure', code) };
}

/**
 * What a batch's state says of an item found in neither list: still to run (created: awaiting
 * approval; approved: running) is pending; in a completed batch it is unknown (the provider lost
 * it, or it is on a page we could not read): a query decides, never a resend under another key.
 */
export function unlistedItemOutcome(view: BatchView, reference: string): ProviderOutcome {
  if (view.status === 'completed') return unknown(`gsma:batch:${view.batchId.slice(0, 64)}`, 'batch completed without this item in its completions or rejections');
  return pending(reference);
}

/**
 * The provider reference a batch item's pending outcome carries (stored with its attempt, handed
 * back to its status queries): the batch's own X-CorrelationID, from which the batch is found.
 */
export const batchItemReference = (batchKey: string): string => `gsma-batch:${batchKey.toLowerCase()}`;
/** The batch X-CorrelationID a reference names; null when it names no batch. */
export function batchKeyOfReference(reference: string | null): string | null {
  const key = reference?.startsWith('gsma-batch:') ? reference.slice('gsma-batch:'.length) : null;
  return key && uuidPattern.test(key) ? key : null;
}

// A provider callback: authenticated by the attempt's unguessable token in its URL (M-Pesa signs
// nothing), stored raw and once, and turned into a result in the results outbox in the same
// transaction. The HTTP answer goes out as soon as that commits.
// A callback that cannot be authenticated (recordUnconfirmedCallback) moves no money: it is stored
// the same way, and only makes the payout's status query due (issue #5 item 3).
import { reject, type Rejection } from '../domain/errors.js';
import { deriveId } from '../domain/ids.js';
import type { ProviderOutcome } from '../domain/provider-outcome.js';
import { err, ok, type Result } from '../domain/result.js';
import { callbackTokenHash, callbackTokenLifetimeMs, callbackTokenPattern } from './callback-token.js';
import { reasonCodeMax } from './messages.js';
import { microBatcherPer, type Settled } from './micro-batch.js';
import type { AttemptRecord, BeneficiaryVault, NewCallback, NewResult, Persistence, ResultOutcome } from './ports.js';

/** Longest dedupe key stored (a provider transaction id and a status, in practice far shorter). */
export const callbackDedupeKeyMax = 256;
/** Longest idempotency key looked up (ours are UUIDs; a provider echoing more is not echoing ours). */
export const callbackIdempotencyKeyMax = 128;

/** What a provider adapter reads out of a callback body. */
export interface ParsedCallback {
  /** Equal for every delivery of the same provider message. */
  readonly dedupeKey: string;
  /** The idempotency key the provider echoes (M-Pesa OriginatorConversationID), if any. */
  readonly idempotencyKey: string | null;
  readonly outcome: ResultOutcome;
  readonly reasonCode: string | null;
  readonly providerReference: string | null;
  /** What the callback says about the money and its receiver, checked against the payout; absent when it reports none of it. */
  readonly facts?: CallbackFacts;
}

/**
 * What a callback reports about the payment, each as the provider wrote it (null: not reported).
 * Tuma compares them with the payout before anything settles (issue #19 item 4); none is stored in clear.
 */
export interface CallbackFacts {
  /** The amount moved, as a plain decimal string ("50", "50.00"); a JSON number is converted with String(). */
  readonly amount: string | null;
  /** ISO 4217 code as reported. */
  readonly currency: string | null;
  /**
   * The receiving number in international form, digits only with or without a leading '+'
   * (Daraja "254712345678 - NAME" gives "254712345678"); null when absent, masked or national.
   */
  readonly receiver: string | null;
  /** The provider's fee for this payment, a plain decimal string in the payout's currency. */
  readonly fee: string | null;
}

/**
 * A provider callback's outcome, as stored: paid and failed are final; pending and unknown are
 * recorded as ambiguous (the payout stays unresolved until a final answer). A failure's reason
 * code reads "<Tuma failure reason>:<provider code>".
 */
export function parsedCallbackOf(dedupeKey: string, idempotencyKey: string | null, outcome: ProviderOutcome, facts?: CallbackFacts): ParsedCallback {
  return {
    ...(facts ? { facts } : {}),
    dedupeKey,
    idempotencyKey,
    outcome: outcome.kind === 'paid' || outcome.kind === 'failed' || outcome.kind === 'reversed' ? outcome.kind : 'ambiguous',
    reasonCode:
      outcome.kind === 'failed' ? `${outcome.reason}:${outcome.providerCode}`
      : outcome.kind === 'reversed' ? `reversed:${outcome.providerCode}`
      : outcome.kind === 'unknown' ? outcome.providerCode
      : null,
    providerReference: outcome.kind === 'paid' || outcome.kind === 'pending' || outcome.kind === 'reversed' ? outcome.providerReference : null,
  };
}

export interface RecordCallbackOutput {
  readonly duplicate: boolean;
  readonly orphan: boolean;
}

export async function recordCallback(
  deps: { persistence: Persistence; vault: BeneficiaryVault; now?: () => Date },
  provider: string,
  token: string,
  rawBody: Buffer,
  parse: (raw: Buffer) => ParsedCallback | null,
): Promise<Result<RecordCallbackOutput, Rejection>> {
  const { persistence } = deps;
  if (!callbackTokenPattern.test(token)) return err(reject('CALLBACK_UNAUTHENTICATED'));
  const attempt = await attemptByToken(persistence, callbackTokenHash(token));
  if (!attempt) return err(reject('CALLBACK_UNAUTHENTICATED'));
  // A stale token (a leaked URL replayed long after) authenticates nothing.
  const now = deps.now?.() ?? new Date();
  if (now.getTime() - attempt.tokenIssuedAt.getTime() > callbackTokenLifetimeMs) return err(reject('CALLBACK_UNAUTHENTICATED'));
  return recordAuthenticatedCallback(deps, provider, attempt, rawBody, parse);
}

/**
 * A callback already authenticated as being about `attempt` (its token in the URL, or a valid
 * signature over the body): stored raw and once, and its outcome put in the results outbox in the
 * same transaction.
 */
export async function recordAuthenticatedCallback(
  deps: { persistence: Persistence; vault: BeneficiaryVault },
  provider: string,
  attempt: AttemptRecord,
  rawBody: Buffer,
  parse: (raw: Buffer) => ParsedCallback | null,
): Promise<Result<RecordCallbackOutput, Rejection>> {
  const { persistence } = deps;
  const parsed = parse(rawBody);
  if (!parsed) return err(reject('CALLBACK_MALFORMED'));
  // Authentic but a message about another transaction: keep it for finance, move nothing.
  const orphan = parsed.idempotencyKey !== null && parsed.idempotencyKey !== attempt.idempotencyKey;
  const payout = await payoutById(persistence, attempt.payoutId);
  if (!payout) throw new Error(`invariant violated: attempt without payout ${attempt.payoutId}`);

  // Callbacks name the receiver (Daraja: ReceiverPartyPublicName): sealed like every beneficiary field.
  const sealed = await deps.vault.seal(payout.programmeId, `${provider}:${parsed.dedupeKey}`, 'callback_body', rawBody);
  const result: NewResult | null = orphan
    ? null
    : {
        id: deriveId('result', provider, parsed.dedupeKey),
        payoutId: payout.id,
        batchId: payout.batchId,
        outcome: parsed.outcome,
        reasonCode: parsed.reasonCode?.slice(0, reasonCodeMax) ?? null,
        providerReference: parsed.providerReference,
        source: 'callback',
        attemptNo: attempt.attemptNo,
      };
  const stored = await storeCallback(persistence, { callback: { provider, dedupeKey: parsed.dedupeKey, payoutId: orphan ? null : payout.id, rawBodyEnc: sealed }, result });
  return ok({ duplicate: !stored, orphan });
}

/** Callbacks stored (or looked up) in one statement at most, and such statements at once (see microBatcher). */
export const callbackStoreChunkMax = 128;
export const callbackStoreFlushesMax = 2;

interface CallbackToStore {
  readonly callback: NewCallback;
  /** The result it carries (null: an orphan, stored for finance alone). */
  readonly result: NewResult | null;
}

/**
 * Stores the callback once, and when it is new its result in the outbox, in the same transaction,
 * together with the other callbacks that arrived at the same moment; true when it was new.
 */
const storeCallback = microBatcherPer((persistence: Persistence, items: readonly CallbackToStore[]) => storeCallbacks(persistence, items), callbackStoreChunkMax, callbackStoreFlushesMax);

/** The attempt a callback token (its SHA-256) was issued for, looked up with the other callbacks' of the moment. */
const attemptByToken = microBatcherPer(
  async (persistence: Persistence, hashes: readonly Buffer[]) => (await persistence.read.payouts.findAttemptsByTokens(hashes)).map((value) => ({ ok: true, value }) as const),
  callbackStoreChunkMax,
  callbackStoreFlushesMax,
);

/** A payout, read with the other callbacks' payouts of the moment. */
const payoutById = microBatcherPer(
  async (persistence: Persistence, ids: readonly string[]) => {
    const found = new Map((await persistence.read.payouts.findMany(ids)).map((p) => [p.id, p]));
    return ids.map((id) => ({ ok: true, value: found.get(id) ?? null }) as const);
  },
  callbackStoreChunkMax,
  callbackStoreFlushesMax,
);

async function storeCallbacks(persistence: Persistence, items: readonly CallbackToStore[]): Promise<Settled<boolean>[]> {
  const result = await persistence.transaction(async (tx) => {
    const fresh = await tx.callbacks.insertMany(items.map((i) => i.callback));
    const results = items.flatMap((item, n) => (fresh[n] && item.result ? [item.result] : []));
    await tx.results.insertMany(results);
    // A final answer is in the outbox: no status query about it while the settler catches up.
    await tx.payouts.unscheduleStatusChecks(results.filter((r) => r.outcome !== 'ambiguous').map((r) => r.payoutId));
    return ok(fresh.map((stored) => ({ ok: true, value: stored }) as const));
  });
  if (!result.ok) throw new Error(`invariant violated: storing callbacks rejected: ${result.error.code}`);
  return result.value;
}

/**
 * A callback from a provider that cannot authenticate its callbacks (no signature, no per-attempt
 * token in its URL): "a result from a provider that cannot authenticate its callbacks is confirmed
 * with a status query before the ledger moves" (issue #5 item 3). Anyone could have posted it, so
 * it inserts no result: the raw body is stored sealed and once per (provider, dedupeKey), and the
 * payout's status check is made due now, so that the poller's status query, sent over our own
 * authenticated connection to the provider, decides. A key we do not know (or one of another
 * provider's payout) is kept as an orphan for finance, sealed under the vault's unowned key since
 * no programme can be told, and answered like any other: a forger learns nothing from the answer.
 */
export async function recordUnconfirmedCallback(
  deps: { persistence: Persistence; vault: BeneficiaryVault; now?: () => Date },
  provider: string,
  idempotencyKey: string,
  dedupeKey: string,
  rawBody: Buffer,
): Promise<Result<RecordCallbackOutput, Rejection>> {
  const { persistence } = deps;
  if (dedupeKey.length === 0 || dedupeKey.length > callbackDedupeKeyMax) return err(reject('CALLBACK_MALFORMED'));
  if (idempotencyKey.length === 0 || idempotencyKey.length > callbackIdempotencyKeyMax) return err(reject('CALLBACK_MALFORMED'));
  const attempt = await persistence.read.payouts.findAttemptByKey(idempotencyKey);
  const found = attempt ? await persistence.read.payouts.find(attempt.payoutId) : null;
  if (attempt && !found) throw new Error(`invariant violated: attempt without payout ${attempt.payoutId}`);
  const payout = found && found.provider === provider ? found : null;

  const subject = `${provider}:${dedupeKey}`;
  const sealed = payout ? await deps.vault.seal(payout.programmeId, subject, 'callback_body', rawBody) : await deps.vault.sealUnowned(subject, 'callback_body', rawBody);
  const now = deps.now?.() ?? new Date();
  return persistence.transaction(async (tx) => {
    const fresh = await tx.callbacks.insert(provider, dedupeKey, payout?.id ?? null, sealed);
    if (!fresh || !payout) return ok({ duplicate: !fresh, orphan: !payout });
    // Settled already: nothing to confirm (the stored body stays for finance).
    await tx.payouts.makeStatusCheckDue(payout.id, now);
    return ok({ duplicate: false, orphan: false });
  });
}

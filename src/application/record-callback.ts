// A provider callback is evidence to check, never an order (issue #19). It is authenticated by the
// token in its URL (bound to one attempt, one provider and one route) or a signature over its body,
// stored raw and once per request, and what it may do is decided by its channel alone
// (domain/callback-trust.ts): a paid report whose figures agree with the payout goes into the
// results outbox, in the same transaction; one whose figures disagree holds the payout for
// finance; a failure reported over a URL token only makes the payout's status query due, and the
// answer to that query decides. The HTTP answer goes out as soon as the transaction commits.
// A callback that cannot be authenticated (recordUnconfirmedCallback) moves no money: it is stored
// the same way, and only makes the payout's status query due (issue #5 item 3).
import { timingSafeEqual } from 'node:crypto';
import { callbackVerdict, type CallbackChannel, type ReportedOutcome } from '../domain/callback-trust.js';
import { isCurrencyCode } from '../domain/currency.js';
import { reject, type Rejection } from '../domain/errors.js';
import { deriveId } from '../domain/ids.js';
import type { ProviderOutcome, ReportedFacts } from '../domain/provider-outcome.js';
import { formatAmount, parseAmount } from '../domain/money.js';
import { err, ok, type Result } from '../domain/result.js';
import { callbackTokenHash, callbackTokenLifetimeMs, callbackTokenPattern } from './callback-token.js';
import { reasonCodeMax } from './messages.js';
import { microBatcherPer, type Settled } from './micro-batch.js';
import { logStepFailure, runEvery } from './periodic.js';
import type { Logger } from 'pino';
import type { AttemptRecord, BeneficiaryVault, CallbackSubject, NewCallback, NewResult, PayoutDifference, PayoutRecord, Persistence, TokenPurpose } from './ports.js';

/** Longest dedupe key stored (a provider transaction id and a status, in practice far shorter). */
export const callbackDedupeKeyMax = 256;
/** Longest idempotency key looked up (ours are UUIDs; a provider echoing more is not echoing ours). */
export const callbackIdempotencyKeyMax = 128;

/**
 * A key a callback names that Tuma stores or looks up: 1 to `max` characters, none of them a
 * control character (PostgreSQL refuses NUL in text) and no lone surrogate. Anything else is a
 * malformed callback, answered as one, never a failed query.
 */
export function callbackKeyFits(key: string, max: number): boolean {
  return key.length > 0 && key.length <= max && !/\p{Cc}|[\uD800-\uDFFF]/u.test(key);
}

/**
 * A callback's body, sealed under its payout's programme. A programme whose beneficiary data was
 * erased keeps none: a late callback is still evidence of its outcome (stored, checked), but its
 * body — which may name the person — is not kept, under any key.
 */
async function sealCallbackBody(vault: BeneficiaryVault, programmeId: string, subject: string, rawBody: Buffer): Promise<Buffer> {
  try {
    return await vault.seal(programmeId, subject, 'callback_body', rawBody);
  } catch (error) {
    if (!(error instanceof Error) || error.name !== 'ProgrammeErasedError') throw error;
    return vault.sealUnowned(subject, 'callback_body', Buffer.alloc(0));
  }
}

/** What a provider adapter reads out of a callback body. */
export interface ParsedCallback {
  /** Equal for every delivery of the same provider message. */
  readonly dedupeKey: string;
  /** The idempotency key the provider echoes (M-Pesa OriginatorConversationID), if any. */
  readonly idempotencyKey: string | null;
  readonly outcome: ReportedOutcome;
  readonly reasonCode: string | null;
  readonly providerReference: string | null;
  /** What the callback says about the money and its receiver, checked against the payout; absent when it reports none of it. */
  readonly facts?: CallbackFacts;
}

/** What a callback reports about the payment (domain/provider-outcome.ts): checked against the payout before it settles. */
export type CallbackFacts = ReportedFacts;

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
  /** The callback reported a failure over a channel that cannot confirm one: the payout's status query is due. */
  readonly confirming: boolean;
}

/** How a callback proved where it came from, and the request it answers (its dedupe slot). */
export interface CallbackProof {
  readonly channel: CallbackChannel;
  /** See NewCallback.scope. */
  readonly scope: string;
}

/** The route a callback came in on: a payment request's callback URL, or a status query's answer URL. */
export type CallbackRoute = TokenPurpose;

/**
 * A callback authenticated by the token in its URL: the token must have been issued for an attempt
 * of a payout of `provider`, for this kind of route, and not too long ago. Anything else is
 * answered CALLBACK_UNAUTHENTICATED and stores nothing.
 */
export async function recordCallback(
  deps: { persistence: Persistence; vault: BeneficiaryVault; now?: () => Date },
  provider: string,
  route: CallbackRoute,
  token: string,
  rawBody: Buffer,
  parse: (raw: Buffer) => ParsedCallback | null,
): Promise<Result<RecordCallbackOutput, Rejection>> {
  const { persistence } = deps;
  if (!callbackTokenPattern.test(token)) return err(reject('CALLBACK_UNAUTHENTICATED'));
  const hash = callbackTokenHash(token);
  // The attempt, its payout and the payout's number in one read, with the other callbacks' of the moment.
  const subject = await subjectByToken(persistence, hash);
  // A token answers on the route it was issued for: a payment token is no status answer, nor the reverse.
  if (!subject || subject.attempt.purpose !== route) return err(reject('CALLBACK_UNAUTHENTICATED'));
  const { attempt } = subject;
  // A stale token (a leaked URL replayed long after) authenticates nothing.
  const now = deps.now?.() ?? new Date();
  if (now.getTime() - attempt.tokenIssuedAt.getTime() > callbackTokenLifetimeMs) return err(reject('CALLBACK_UNAUTHENTICATED'));
  const proof: CallbackProof = { channel: route === 'status' ? 'status-token' : 'url-token', scope: `t:${hash.toString('hex')}` };
  return recordAuthenticatedCallback(deps, provider, attempt, proof, rawBody, parse, subject);
}

/**
 * A callback already authenticated as being about `attempt` (its token in the URL, or a valid
 * signature over the body): stored raw and once per request, and what it may do decided by its
 * channel (callbackVerdict) and, for a payment, by its figures against the payout's.
 */
export async function recordAuthenticatedCallback(
  deps: { persistence: Persistence; vault: BeneficiaryVault; now?: () => Date },
  provider: string,
  attempt: AttemptRecord,
  proof: CallbackProof,
  rawBody: Buffer,
  parse: (raw: Buffer) => ParsedCallback | null,
  /** The attempt's payout and its blind-indexed number, when the caller read them with the attempt (else read here). */
  known?: Pick<CallbackSubject, 'payout' | 'msisdnHash'>,
): Promise<Result<RecordCallbackOutput, Rejection>> {
  const { persistence } = deps;
  const parsed = parse(rawBody);
  if (!parsed) return err(reject('CALLBACK_MALFORMED'));
  if (!callbackKeyFits(parsed.dedupeKey, callbackDedupeKeyMax)) return err(reject('CALLBACK_MALFORMED', `the callback's key is 1-${callbackDedupeKeyMax} printable characters`));
  if (parsed.idempotencyKey !== null && !callbackKeyFits(parsed.idempotencyKey, callbackIdempotencyKeyMax)) {
    return err(reject('CALLBACK_MALFORMED', `the callback's request key is 1-${callbackIdempotencyKeyMax} printable characters`));
  }
  if (known && known.payout.id !== attempt.payoutId) throw new Error(`invariant violated: callback subject ${known.payout.id} is not attempt ${attempt.payoutId}'s payout`);
  const payout = known?.payout ?? (await payoutById(persistence, attempt.payoutId));
  if (!payout) throw new Error(`invariant violated: attempt without payout ${attempt.payoutId}`);
  // Bound to its attempt's provider: an M-Pesa attempt's token on the GSMA path proves nothing there.
  if (payout.provider !== provider) return err(reject('CALLBACK_UNAUTHENTICATED'));
  // Authentic but a message about another transaction: keep it for finance, move nothing.
  const orphan = parsed.idempotencyKey !== null && parsed.idempotencyKey !== attempt.idempotencyKey;

  // Callbacks name the receiver (Daraja: ReceiverPartyPublicName): sealed like every beneficiary field.
  const sealed = await sealCallbackBody(deps.vault, payout.programmeId, `${provider}:${proof.scope}:${parsed.dedupeKey}`, rawBody);
  const verdict = orphan ? null : callbackVerdict(proof.channel, parsed.outcome);
  let result: NewResult | null = null;
  let reasonCode = parsed.reasonCode;
  // A status answer that only says "failed" confirms the failure a callback reported before, with its reason.
  if (verdict === 'settle' && proof.channel === 'status-token' && parsed.outcome === 'failed') reasonCode = confirmedReason(parsed.reasonCode, await persistence.read.payouts.reportedFailure(payout.id, attempt.attemptNo));
  if (verdict === 'settle') {
    const about = { id: deriveId('result', provider, proof.scope, parsed.dedupeKey), payoutId: payout.id, batchId: payout.batchId, providerReference: parsed.providerReference, source: 'callback', attemptNo: attempt.attemptNo } as const;
    result = parsed.outcome === 'paid'
      ? { ...about, ...(await paidResultOf(deps, payout, parsed.facts, known?.msisdnHash)) }
      : { ...about, outcome: parsed.outcome, reasonCode: reasonCode?.slice(0, reasonCodeMax) ?? null };
  }
  const stored = await storeCallback(persistence, {
    callback: { provider, scope: proof.scope, authenticated: true, dedupeKey: parsed.dedupeKey, payoutId: orphan ? null : payout.id, rawBodyEnc: sealed },
    result,
    confirm: verdict === 'confirm' ? { payoutId: payout.id, attemptNo: attempt.attemptNo, reasonCode: parsed.outcome === 'failed' || parsed.outcome === 'reversed' ? parsed.reasonCode : null, reversal: parsed.outcome === 'reversed' } : null,
    now: deps.now?.() ?? new Date(),
  });
  return ok({ duplicate: !stored, orphan, confirming: verdict === 'confirm' });
}

/**
 * The reason of a confirmed failure: the confirmation's own, unless it says no more than "failed"
 * (provider_failure) and a callback reported a reason before. Trusting that reason cannot pay
 * anyone twice: the failure itself is confirmed; the reason only chooses a retry (under a new key,
 * after a confirmed failure) or a release.
 */
export function confirmedReason(confirmation: string | null, reported: string | null): string | null {
  if (!reported || (confirmation !== null && !confirmation.startsWith('provider_failure:'))) return confirmation;
  return reported;
}

/**
 * The fields of a paid answer's result, whatever its source (a callback, a status answer, the
 * synchronous answer to a send): `held` with the differences when its figures disagree with the
 * payout, else `paid` with the fee it reported.
 */
export async function paidResultOf(
  deps: { persistence: Persistence; vault: BeneficiaryVault },
  payout: PayoutRecord,
  facts: ReportedFacts | undefined,
  /** The payout's blind-indexed number when the caller has it (else read when the report names a receiver). */
  msisdnHash?: Buffer,
): Promise<Pick<NewResult, 'outcome' | 'reasonCode' | 'feeMinor' | 'differences'>> {
  const checked = await checkReport(deps, payout, facts, msisdnHash);
  if (checked.differences.length === 0) return { outcome: 'paid', reasonCode: null, feeMinor: checked.feeMinor, differences: null };
  return { outcome: 'held', reasonCode: checked.differences.map((d) => d.kind).join(',').slice(0, reasonCodeMax), feeMinor: null, differences: checked.differences };
}

/** The longest reported figure quoted back in a difference's detail. */
const reportedFigureCharsMax = 32;
const quotable = new RegExp(`^[0-9A-Za-z.,-]{1,${reportedFigureCharsMax}}$`);
const quoted = (reported: string) => (quotable.test(reported) ? reported : `(unreadable, ${Math.min(reported.length, 9_999)} characters)`);

/**
 * A paid report's figures against the payout (issue #19 item 4): amount and currency exactly, the
 * receiving number through the programme's blind index (never in clear), and the fee the provider
 * took, parsed exactly. Any difference holds the payout; a figure the provider does not report is
 * not compared.
 */
export async function checkReport(
  deps: { persistence: Persistence; vault: BeneficiaryVault },
  payout: PayoutRecord,
  facts: ReportedFacts | undefined,
  /** The payout's blind-indexed number when the caller has it (else read when the report names a receiver). */
  msisdnHash?: Buffer,
): Promise<{ differences: PayoutDifference[]; feeMinor: bigint | null }> {
  const differences: PayoutDifference[] = [];
  if (!facts) return { differences, feeMinor: null };
  if (facts.currency !== null && facts.currency.trim().toUpperCase() !== payout.currency) {
    differences.push({ kind: 'currency_mismatch', detail: `reported currency ${quoted(facts.currency)}, the payout is in ${payout.currency}` });
  }
  if (facts.amount !== null) {
    const amount = parseAmount(facts.amount.trim(), payout.currency);
    if (!amount.ok || amount.value !== payout.amountMinor) {
      differences.push({ kind: 'amount_mismatch', detail: `reported amount ${quoted(facts.amount)}, the payout is ${formatAmount(payout.amountMinor, payout.currency)} ${payout.currency}` });
    }
  }
  if (facts.receiver !== null) {
    const digits = facts.receiver.replace(/^\+/, '');
    const expected = msisdnHash ?? (await msisdnHashById(deps.persistence, payout.id));
    const reported = /^[1-9][0-9]{7,14}$/.test(digits) ? await deps.vault.blindIndex(payout.programmeId, `+${digits}`) : null;
    if (!expected || !reported || reported.length !== expected.length || !timingSafeEqual(reported, expected)) {
      differences.push({ kind: 'receiver_mismatch', detail: 'the receiving number the provider reported is not the payout\'s' });
    }
  }
  let feeMinor: bigint | null = null;
  if (facts.fee !== null && !/^0+(\.0+)?$/.test(facts.fee.trim())) {
    const fee = isCurrencyCode(payout.currency) ? parseAmount(facts.fee.trim(), payout.currency) : null;
    if (fee?.ok) feeMinor = fee.value;
    else differences.push({ kind: 'amount_mismatch', detail: `reported fee ${quoted(facts.fee)} is not an amount in ${payout.currency}` });
  }
  return { differences, feeMinor };
}

/** Callbacks stored (or looked up) in one statement at most, and such statements at once (see microBatcher). */
export const callbackStoreChunkMax = 128;
export const callbackStoreFlushesMax = 2;

interface CallbackToStore {
  readonly callback: NewCallback;
  /** The result it carries (null: an orphan, or a report that needs confirming, stored as evidence alone). */
  readonly result: NewResult | null;
  /** A payout whose status query this callback makes due (a failure to confirm), and the reason it reported. */
  readonly confirm: { readonly payoutId: string; readonly attemptNo: number; readonly reasonCode: string | null; readonly reversal: boolean } | null;
  readonly now: Date;
}

/**
 * Stores the callback once, and when it is new its result in the outbox, in the same transaction,
 * together with the other callbacks that arrived at the same moment; true when it was new.
 */
const storeCallback = microBatcherPer((persistence: Persistence, items: readonly CallbackToStore[]) => storeCallbacks(persistence, items), callbackStoreChunkMax, callbackStoreFlushesMax);

/** What a callback token (its SHA-256) is about (its attempt, payout and number), looked up with the other callbacks' of the moment. */
const subjectByToken = microBatcherPer(
  async (persistence: Persistence, hashes: readonly Buffer[]) => (await persistence.read.payouts.findCallbackSubjectsByTokens(hashes)).map((value) => ({ ok: true, value }) as const),
  callbackStoreChunkMax,
  callbackStoreFlushesMax,
);

/** A payout's blind-indexed number, read with the other callbacks' of the moment (a paid report naming its receiver). */
const msisdnHashById = microBatcherPer(
  async (persistence: Persistence, ids: readonly string[]) => {
    const found = await persistence.read.payouts.msisdnHashes(ids);
    return ids.map((id) => ({ ok: true, value: found.get(id) ?? null }) as const);
  },
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
    // A failure to confirm: the status query, over our own connection, is due now.
    const confirm = items.flatMap((item, n) => (fresh[n] && item.confirm ? [item.confirm] : []));
    if (confirm.length > 0) {
      await tx.payouts.makeStatusChecksDue(confirm.filter((c) => !c.reversal).map((c) => c.payoutId), items[0]!.now);
      // A reversal of a paid payout is asked about too: the answer, not the callback, releases money.
      await tx.payouts.makeStatusChecksDue(confirm.filter((c) => c.reversal).map((c) => c.payoutId), items[0]!.now, true);
      await tx.payouts.recordReportedFailures(confirm.flatMap((c) => (c.reasonCode ? [{ payoutId: c.payoutId, attemptNo: c.attemptNo, reasonCode: c.reasonCode }] : [])));
    }
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
 * Unauthenticated orphans are purged after their retention (purgeUnauthenticatedOrphans).
 */
export async function recordUnconfirmedCallback(
  deps: { persistence: Persistence; vault: BeneficiaryVault; now?: () => Date },
  provider: string,
  idempotencyKey: string,
  dedupeKey: string,
  rawBody: Buffer,
): Promise<Result<RecordCallbackOutput, Rejection>> {
  const { persistence } = deps;
  if (!callbackKeyFits(dedupeKey, callbackDedupeKeyMax)) return err(reject('CALLBACK_MALFORMED'));
  if (!callbackKeyFits(idempotencyKey, callbackIdempotencyKeyMax)) return err(reject('CALLBACK_MALFORMED'));
  const attempt = await persistence.read.payouts.findAttemptByKey(idempotencyKey);
  const found = attempt ? await persistence.read.payouts.find(attempt.payoutId) : null;
  if (attempt && !found) throw new Error(`invariant violated: attempt without payout ${attempt.payoutId}`);
  const payout = found && found.provider === provider ? found : null;

  const scope = 'u:';
  const subject = `${provider}:${scope}:${dedupeKey}`;
  const sealed = payout ? await sealCallbackBody(deps.vault, payout.programmeId, subject, rawBody) : await deps.vault.sealUnowned(subject, 'callback_body', rawBody);
  const now = deps.now?.() ?? new Date();
  return persistence.transaction<RecordCallbackOutput>(async (tx) => {
    const fresh = await tx.callbacks.insert({ provider, scope, authenticated: false, dedupeKey, payoutId: payout?.id ?? null, rawBodyEnc: sealed });
    if (!payout) return ok({ duplicate: !fresh, orphan: true, confirming: false });
    // Even when its slot was taken (by a forger who guessed the key, say): this is only a reason to ask.
    await tx.payouts.makeStatusChecksDue([payout.id], now);
    return ok({ duplicate: !fresh, orphan: false, confirming: true });
  });
}

/** How long unauthenticated orphans are kept by default, and at most. */
export const unauthenticatedOrphanRetentionDefaultMs = 30 * 86_400_000;
export const unauthenticatedOrphanRetentionMaxMs = 366 * 86_400_000;
/** Rows deleted per purge statement at most. */
export const orphanPurgeChunkMax = 10_000;

/** Deletes the unauthenticated orphans older than `retentionMs`, a bounded chunk per statement, at most `orphanPurgeRoundsMax` chunks per run. */
export async function purgeUnauthenticatedOrphans(persistence: Persistence, retentionMs: number, now: Date): Promise<number> {
  let purged = 0;
  for (let round = 0; round < orphanPurgeRoundsMax; round++) {
    const n = await persistence.read.callbacks.purgeUnauthenticatedOrphans(new Date(now.getTime() - retentionMs), orphanPurgeChunkMax);
    purged += n;
    if (n < orphanPurgeChunkMax) break;
  }
  return purged;
}
/** Purge statements per run at most (the next run carries on). */
export const orphanPurgeRoundsMax = 100;

export function startOrphanPurger(persistence: Persistence, intervalMs: number, retentionMs: number, logger: Logger, now: () => Date = () => new Date()): { stop(): Promise<void> } {
  return runEvery(
    intervalMs,
    async () => {
      const purged = await purgeUnauthenticatedOrphans(persistence, retentionMs, now());
      if (purged > 0) logger.info({ purged, retentionMs }, 'unauthenticated orphan callbacks past their retention purged');
    },
    (error) => logStepFailure(logger, error, 'orphan callback purge failed; trying again next run'),
  );
}

// The settler: applies provider results to payouts and the ledger, a chunk of results in one SQL
// transaction. paid → batch committed to provider float; failed → batch committed back to
// programme available; reversed (after paid) → float back through the batch to the programme.
// Idempotent per payout (the settling transfer's id is derived from the payout id, and the payout's
// state is checked under its lock), and a settled payout never regresses.
//
// A chunk costs a fixed number of statements, not a number per result: the payouts are locked in
// one SELECT, the journals of the whole chunk are merged into one per currency (each account's
// row written once, with its summed deltas), the payouts move in one UPDATE and their moves are
// recorded in one INSERT. Then each batch the chunk touched is locked and completed if it is done.
import type { Logger } from 'pino';
import { accounts, mergeJournals, postings, type Journal } from '../domain/ledger-rules.js';
import { decideRetry, retryDefaults, type RetryPolicy } from '../domain/retry-policy.js';
import { movePayout, settledPayoutStates } from '../domain/payout-state.js';
import { assert, ok } from '../domain/result.js';
import { deadLetter } from './dead-letter.js';
import { decode, resultMessageSchema, type ResultMessage, type Topics } from './messages.js';
import type { Delivery, PayoutException, PayoutRecord, Persistence, Repos, SettleMove, Transport } from './ports.js';

export interface SettleDeps {
  readonly persistence: Persistence;
  readonly transport: Transport;
  readonly topics: Topics;
  readonly logger: Logger;
  /** Retries after a confirmed, retryable failure (domain/retry-policy.ts); retryDefaults when absent. */
  readonly retry?: RetryPolicy;
  /** The clock and the jitter's source (tests fix them); the system's when absent. */
  readonly now?: () => Date;
  readonly random?: () => number;
}

/**
 * settled: the ledger moved. retried: a retryable failure; the next attempt is scheduled.
 * exhausted: a retryable failure of the last attempt; held for operators (dead-lettered).
 * stale: a failure of an attempt older than the payout's latest; nothing moves.
 */
export type SettleOutcome = 'settled' | 'replayed' | 'marked_unknown' | 'held' | 'retried' | 'exhausted' | 'stale' | 'ignored' | 'conflict' | 'missing';

/** Results settled in one transaction at most: SETTLER_CHUNK_MAX's maximum (the transport's chunks are that size at most). */
export const settleChunkMax = 10_000;

/** Applies one result (a chunk of one). */
export async function settleResult(deps: SettleDeps, delivery: Delivery): Promise<SettleOutcome> {
  return (await settleResults(deps, [delivery]))[0]!;
}

/**
 * Applies a chunk of results in order, in one transaction, and answers each one's outcome.
 * Unreadable results, results for unknown payouts and results that contradict a settled payout go
 * to the dead-letter topic after the transaction committed.
 */
export async function settleResults(deps: SettleDeps, deliveries: readonly Delivery[]): Promise<SettleOutcome[]> {
  assert(deliveries.length <= settleChunkMax, `a settling chunk holds at most ${settleChunkMax} results`);
  const messages = deliveries.map((d) => decode(resultMessageSchema, d.value));
  const ids = messages.flatMap((m) => (m ? [m.payoutId] : []));
  let outcomes: SettleOutcome[] = messages.map(() => 'ignored');
  if (ids.length > 0) {
    const done = await deps.persistence.transaction(async (tx) => ok(await settleChunk(deps, tx, messages)));
    if (!done.ok) throw new Error(`invariant violated: settlement rejected: ${done.error.code}`);
    outcomes = done.value;
  }
  for (const [i, outcome] of outcomes.entries()) {
    const delivery = deliveries[i]!;
    const message = messages[i];
    if (!message) await deadLetter(deps, delivery, 'malformed result message');
    else if (outcome === 'missing') await deadLetter(deps, delivery, 'result for an unknown payout');
    else if (outcome === 'exhausted') {
      // The money stays committed: operators requeue it once the cause is fixed, or cancel it.
      const reason = `attempts exhausted (${deps.retry?.attemptsMax ?? retryDefaults.attemptsMax}), last failure ${message.reasonCode ?? 'unspecified'}; requeue with \`tuma payouts requeue ${message.payoutId}\` or cancel the batch`;
      deps.logger.warn({ payoutId: message.payoutId, attemptNo: message.attemptNo, reasonCode: message.reasonCode }, 'retryable failure of the last attempt: payout held and flagged for operators');
      await deadLetter(deps, delivery, reason);
    }
    else if (outcome === 'held') {
      deps.logger.warn({ payoutId: message.payoutId, resultId: message.resultId, differences: message.differences?.map((d) => d.kind) ?? null }, 'payout held for finance: the provider reported something that differs from it');
    }
    else if (outcome === 'conflict') {
      // A provider reported a different final outcome than the one we settled: operators must look.
      deps.logger.error({ payoutId: message.payoutId, resultId: message.resultId, outcome: message.outcome }, 'result contradicts a settled payout');
      await deadLetter(deps, delivery, 'result contradicts a settled payout');
    }
  }
  return outcomes;
}

/** What a chunk writes once all its results are decided. */
interface Pending {
  readonly journals: Journal[];
  readonly moves: SettleMove[];
  readonly batches: Map<string, PayoutRecord>;
  /** Why payouts are held. */
  readonly exceptions: PayoutException[];
  /** Receipts that settle payouts in this chunk, each claimed once per provider account. */
  readonly receipts: { accountId: string; receipt: string; payoutId: string }[];
  /** Per "account\u0000receipt": the payout it settled, before or earlier in this chunk. */
  readonly receiptOwners: Map<string, string>;
  /** The provider account the result's attempt went through (its provider, for results older than accounts). */
  readonly accountOf: (payout: PayoutRecord, message: ResultMessage) => string;
}

const receiptKey = (accountId: string, receipt: string) => `${accountId}\u0000${receipt}`;

async function settleChunk(deps: SettleDeps, tx: Repos, messages: readonly (ResultMessage | null)[]): Promise<SettleOutcome[]> {
  const locked = await tx.payouts.lockMany(messages.flatMap((m) => (m ? [m.payoutId] : [])));
  // Each payout as the results so far leave it: a later result of the chunk sees an earlier one.
  const current = new Map(locked.map((p) => [p.id, p]));
  // A receipt settles one payout per provider account (issue #19 item 4): the accounts of the
  // attempts that report one, and the payouts their receipts settled already, in two queries.
  const paidWithReceipt = messages.flatMap((m) => {
    const p = m && m.outcome === 'paid' && m.providerReference ? current.get(m.payoutId) : undefined;
    return p ? [{ payout: p, message: m!, receipt: m!.providerReference! }] : [];
  });
  const attemptOf = (payout: PayoutRecord, message: ResultMessage) => ({ payoutId: payout.id, attemptNo: message.attemptNo ?? payout.attemptCount });
  const accountsByAttempt = await tx.payouts.attemptAccounts(paidWithReceipt.map((x) => attemptOf(x.payout, x.message)));
  const accountOf = (payout: PayoutRecord, message: ResultMessage) => {
    const { payoutId, attemptNo } = attemptOf(payout, message);
    return accountsByAttempt.get(`${payoutId}:${attemptNo}`) ?? payout.provider;
  };
  const owners = await tx.payouts.receiptOwners(paidWithReceipt.map((x) => ({ accountId: accountOf(x.payout, x.message), receipt: x.receipt })));
  const pending: Pending = { journals: [], moves: [], batches: new Map(), exceptions: [], receipts: [], receiptOwners: new Map(owners), accountOf };
  const outcomes: SettleOutcome[] = [];
  for (const message of messages) {
    const payout = message ? current.get(message.payoutId) : undefined;
    if (!message) outcomes.push('ignored');
    else if (!payout) outcomes.push('missing');
    else {
      const { outcome, after } = await decide(deps, tx, payout, message, pending);
      if (after !== payout) current.set(payout.id, after);
      outcomes.push(outcome);
    }
  }
  for (const journal of mergeJournals(pending.journals)) {
    const posted = await tx.ledger.postJournal(journal);
    // The batch accounts hold exactly what their unsettled payouts need: refusing here is a broken invariant.
    assert(posted.ok && posted.value === 'posted', `settling journal ${journal.id} (${journal.transfers.length} transfers) was refused by the ledger`);
  }
  await tx.payouts.settleMany(pending.moves);
  await tx.payouts.claimReceipts(pending.receipts);
  await tx.payouts.insertExceptions(pending.exceptions);
  // In id order: two settlers finishing the same batches lock them in one order.
  for (const batchId of [...pending.batches.keys()].sort()) await completeBatchIfDone(tx, pending.batches.get(batchId)!);
  return outcomes;
}

/** Decides one result against the payout as the chunk left it; settling effects are added to `pending`. */
async function decide(deps: SettleDeps, tx: Repos, payout: PayoutRecord, message: ResultMessage, pending: Pending): Promise<{ outcome: SettleOutcome; after: PayoutRecord }> {
  const settled = settledPayoutStates.includes(payout.state);
  const unchanged = (outcome: SettleOutcome) => ({ outcome, after: payout });
  if (message.outcome === 'ambiguous') {
    if (settled || payout.state === 'unknown' || !movePayout(payout.state, 'unknown').ok) return unchanged('ignored');
    // Not a settlement: written now (payouts in this state before are not settled in this chunk before it).
    // The checks already sent about this attempt keep counting: an ambiguous answer to a same-key
    // resend (a second queue timeout) must not start them over, or the payout is never flagged.
    await tx.payouts.move([payout.id], payout.state, 'unknown', `result ${message.resultId}: ambiguous (${message.reasonCode ?? 'no code'})`, { keepStatusChecks: true });
    // Flagged for operators already (its checks ran out): it stays theirs, not asked again by itself.
    if (payout.flaggedAt) await tx.payouts.setStatusCheck(payout.id, { at: null });
    return { outcome: 'marked_unknown', after: { ...payout, state: 'unknown' } };
  }
  // Held for finance: no provider message moves it any more; finance decides.
  if (payout.state === 'held') {
    if (message.outcome === 'held') pending.exceptions.push(...exceptionsOf(payout, message));
    return unchanged(message.outcome === 'held' ? 'replayed' : 'held');
  }
  if (message.outcome === 'held') {
    pending.exceptions.push(...exceptionsOf(payout, message));
    // Settled already: a provider now reports figures that contradict what we settled.
    if (settled || !movePayout(payout.state, 'held').ok) return unchanged(settled ? 'conflict' : 'ignored');
    return hold(tx, payout, message);
  }
  if (message.outcome === 'reversed') return reverse(payout, message, pending);
  const target = message.outcome; // 'paid' | 'failed'
  // A newer attempt is in flight (or done): an older one's failure decides nothing now.
  if (target === 'failed' && message.attemptNo !== undefined && message.attemptNo < payout.attemptCount) return unchanged('stale');
  if (payout.state === target) return unchanged('replayed');
  if (settled) return unchanged('conflict');
  if (!movePayout(payout.state, target).ok) return unchanged('ignored');
  if (target === 'failed' && message.attemptNo !== undefined) {
    const retried = await retryAfterFailure(deps, tx, payout, message, message.attemptNo);
    if (retried) return retried;
  }

  if (target === 'paid' && message.providerReference) {
    const accountId = pending.accountOf(payout, message);
    const key = receiptKey(accountId, message.providerReference);
    const owner = pending.receiptOwners.get(key);
    if (owner !== undefined && owner !== payout.id) {
      // The same receipt settled another payout of this account: never two payments on one receipt.
      if (!movePayout(payout.state, 'held').ok) return unchanged('ignored');
      const reused: ResultMessage = { ...message, differences: [{ kind: 'receipt_reused', detail: `receipt ${message.providerReference.slice(0, 64)} already settled another payout of provider account ${accountId}` }] };
      pending.exceptions.push(...exceptionsOf(payout, reused));
      return hold(tx, payout, reused);
    }
    if (owner === undefined) {
      pending.receiptOwners.set(key, payout.id);
      pending.receipts.push({ accountId, receipt: message.providerReference, payoutId: payout.id });
    }
  }

  const owner = { organisationId: payout.organisationId, batchId: payout.batchId, payoutId: payout.id, currency: payout.currency, amountMinor: payout.amountMinor };
  pending.journals.push(
    target === 'paid'
      ? postings.payoutPaid({ ...owner, provider: payout.provider, feeMinor: message.feeMinor ? BigInt(message.feeMinor) : 0n })
      : postings.payoutReleased({ ...owner, programmeId: payout.programmeId }),
  );
  const after: PayoutRecord = {
    ...payout,
    state: target,
    providerReference: message.providerReference ?? payout.providerReference,
    failureCode: target === 'failed' ? (message.reasonCode ?? 'unspecified') : null,
  };
  settle(pending, payout, after, `result ${message.resultId} (${message.source})`);
  return { outcome: 'settled', after };
}

/** A held result's differences, as exceptions of the payout. */
const exceptionsOf = (payout: PayoutRecord, message: ResultMessage): PayoutException[] =>
  (message.differences ?? [{ kind: 'amount_mismatch' as const, detail: 'the provider reported figures that differ from the payout' }]).map((d) => ({ payoutId: payout.id, resultId: message.resultId, kind: d.kind, detail: d.detail }));

/**
 * Holds the payout for finance: the money stays committed in its batch, no status query and no
 * new attempt follow. Not a settlement: written now (as a move into unknown is).
 */
async function hold(tx: Repos, payout: PayoutRecord, message: ResultMessage): Promise<{ outcome: SettleOutcome; after: PayoutRecord }> {
  const kinds = (message.differences ?? []).map((d) => d.kind).join(', ') || 'differences';
  await tx.payouts.move([payout.id], payout.state, 'held', `result ${message.resultId} (${message.source}): held for finance (${kinds})`, {
    providerReference: message.providerReference ?? payout.providerReference,
  });
  return { outcome: 'held', after: { ...payout, state: 'held', providerReference: message.providerReference ?? payout.providerReference } };
}

/**
 * A confirmed failure of the payout's latest attempt that may pass (domain/retry-policy.ts): the
 * payout goes back to queued with the money still committed, due again after the backoff (the
 * relay publishes it then; the worker makes a new attempt under a new key), or, after the last
 * attempt, held there and flagged for operators. Null: the failure is final.
 */
async function retryAfterFailure(deps: SettleDeps, tx: Repos, payout: PayoutRecord, message: ResultMessage, attemptNo: number): Promise<{ outcome: SettleOutcome; after: PayoutRecord } | null> {
  const policy = deps.retry ?? retryDefaults;
  const decision = decideRetry(message.reasonCode, attemptNo, policy, (deps.random ?? Math.random)());
  if (decision.kind === 'final' || !movePayout(payout.state, 'queued').ok) return null;
  const now = (deps.now ?? (() => new Date()))();
  const failureCode = message.reasonCode ?? 'unspecified';
  const source = `result ${message.resultId} (${message.source}): attempt ${attemptNo} failed (${failureCode})`;
  if (decision.kind === 'retry') {
    const dispatchAt = new Date(now.getTime() + decision.delayMs);
    await tx.payouts.scheduleRetry(payout.id, payout.state, { dispatchAt, flaggedAt: null, failureCode, cause: `${source}; attempt ${attemptNo + 1} of ${policy.attemptsMax} due in ${decision.delayMs} ms` });
    return { outcome: 'retried', after: { ...payout, state: 'queued', failureCode, dispatchAt, flaggedAt: null } };
  }
  await tx.payouts.scheduleRetry(payout.id, payout.state, { dispatchAt: null, flaggedAt: now, failureCode, cause: `${source}; no attempt left of ${policy.attemptsMax}: held for operators` });
  return { outcome: 'exhausted', after: { ...payout, state: 'queued', failureCode, dispatchAt: null, flaggedAt: now } };
}

/**
 * The provider took back money it had paid. A paid payout is reversed: the amount returns from the
 * float through the batch to the programme (one journal; the batch account stays at zero). A payout
 * not settled yet was never paid as far as the ledger knows: it is released as failed, with the
 * reversal as its reason. A failed or cancelled payout cannot have been reversed: operators look.
 */
function reverse(payout: PayoutRecord, message: ResultMessage, pending: Pending): { outcome: SettleOutcome; after: PayoutRecord } {
  if (payout.state === 'reversed') return { outcome: 'replayed', after: payout };
  if (payout.state === 'failed' || payout.state === 'cancelled') return { outcome: 'conflict', after: payout };
  const owner = { organisationId: payout.organisationId, batchId: payout.batchId, payoutId: payout.id, programmeId: payout.programmeId, currency: payout.currency, amountMinor: payout.amountMinor };
  const reason = message.reasonCode ?? 'reversed';
  if (payout.state === 'paid') {
    pending.journals.push(postings.payoutReversed({ ...owner, provider: payout.provider }));
    const after: PayoutRecord = { ...payout, state: 'reversed', failureCode: reason };
    settle(pending, payout, after, `result ${message.resultId} (${message.source}): reversed by the provider`);
    return { outcome: 'settled', after };
  }
  if (!movePayout(payout.state, 'failed').ok) return { outcome: 'ignored', after: payout };
  pending.journals.push(postings.payoutReleased(owner));
  const after: PayoutRecord = { ...payout, state: 'failed', providerReference: message.providerReference ?? payout.providerReference, failureCode: reason };
  settle(pending, payout, after, `result ${message.resultId} (${message.source}): reversed before it settled`);
  return { outcome: 'settled', after };
}

function settle(pending: Pending, before: PayoutRecord, after: PayoutRecord, cause: string): void {
  pending.moves.push({ payoutId: after.id, from: before.state, to: after.state, cause, providerReference: after.providerReference, failureCode: after.failureCode });
  pending.batches.set(after.batchId, after);
}

/**
 * Completes the batch once every payout is settled. Two transactions settling the same batch's
 * last payouts cannot both miss it: each posted to the batch's committed account, whose row lock
 * they hold to commit, so the second looks only after the first committed (READ COMMITTED: each
 * statement sees what committed before it began). The batch row is locked only when it is done:
 * a cancellation holds it while it waits for the committed account, but it also leaves payouts
 * unsettled until it commits, so a settler never waits for the batch row while holding that account
 * in front of a cancellation.
 */
export async function completeBatchIfDone(tx: Repos, payout: PayoutRecord): Promise<void> {
  if (await tx.payouts.hasUnsettled(payout.batchId)) return;
  const batch = await tx.batches.lock(payout.batchId);
  if (!batch || (batch.state !== 'approved' && batch.state !== 'dispatching')) return;
  const committed = await tx.ledger.findAccount(payout.currency, accounts.batchCommitted(payout.organisationId, payout.batchId).key);
  assert(committed !== null && committed.creditsPosted === committed.debitsPosted, `batch ${payout.batchId} settled but its committed account is not zero`);
  await tx.batches.setState(batch.id, 'completed');
}

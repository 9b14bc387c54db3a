// The relay drains both outboxes: accepted payouts of approved batches → the provider's dispatch
// topic (then queued; a batch with none left → dispatching),
// stored results → the results topic (then published). Claims use FOR UPDATE SKIP LOCKED, so
// several relays run safely; a crash between publish and mark re-publishes, and consumers dedupe.
import { logStepFailure } from './periodic.js';
import type { Logger } from 'pino';
import { movePayout } from '../domain/payout-state.js';
import { assert, ok } from '../domain/result.js';
import { encode, type DispatchMessage, type ResultMessage, type Topics } from './messages.js';
import type { NewResult, PayoutRecord, Persistence, Transport } from './ports.js';

export interface RelayDeps {
  readonly persistence: Persistence;
  readonly transport: Transport;
  readonly topics: Topics;
  readonly chunkMax: number;
  readonly logger: Logger;
}

/** Approved batches looked at per relay round, oldest approval first. */
export const releasingBatchesPerRound = 16;

/**
 * The in-process transport keeps nothing across a restart: the dispatch messages of queued payouts
 * and the results published but not yet settled were in this process's memory. At start, before
 * the relay runs, they are made the relay's work again (queued payouts due now; those results
 * unpublished). The worker skips a payout that is no longer queued and the settler applies a
 * result once, so whatever had in fact been handled changes nothing.
 */
export async function recoverInProcessWork(persistence: Persistence, logger: Logger, now: Date = new Date()): Promise<{ payouts: number; results: number }> {
  const done = await persistence.transaction(async (tx) => ok({ payouts: await tx.payouts.redispatchQueued(now), results: await tx.results.republishUnapplied() }));
  if (!done.ok) throw new Error(`invariant violated: in-process recovery rejected: ${done.error.code}`);
  if (done.value.payouts > 0 || done.value.results > 0) logger.warn(done.value, 'in-process transport: queued payouts and unsettled results from before the restart are published again');
  return done.value;
}

/** Publishes a dispatch message per payout to its provider's topic, keyed by payout id. */
async function publishDispatch(deps: RelayDeps, payouts: readonly PayoutRecord[]): Promise<void> {
  const byTopic = new Map<string, { key: string; value: Buffer }[]>();
  for (const p of payouts) {
    const message: DispatchMessage = { type: 'tuma.payout.dispatch', version: 1, payoutId: p.id, batchId: p.batchId, provider: p.provider };
    const topic = deps.topics.dispatch(p.provider);
    const messages = byTopic.get(topic) ?? [];
    messages.push({ key: p.id, value: encode(message) });
    byTopic.set(topic, messages);
  }
  for (const [topic, messages] of byTopic) await deps.transport.publish(topic, messages);
}

/** Publishes one chunk of dispatchable payouts (oldest approved batch first, in row order); returns how many. */
export async function relayDispatchOnce(deps: RelayDeps): Promise<number> {
  const done = await deps.persistence.transaction(async (tx) => {
    const batchIds = await tx.batches.releasing(releasingBatchesPerRound);
    const claimed: PayoutRecord[] = [];
    const drained: string[] = [];
    for (const batchId of batchIds) {
      const room = deps.chunkMax - claimed.length;
      if (room === 0) break;
      const rows = await tx.payouts.claimAccepted(batchId, room);
      claimed.push(...rows);
      if (rows.length < room) drained.push(batchId);
    }
    if (claimed.length === 0) {
      await tx.batches.markDispatchingIfDrained(drained);
      return ok(0);
    }
    // Published inside the claim: if the broker refuses, the transaction rolls back and the rows stay accepted.
    await publishDispatch(deps, claimed);
    assert(movePayout('accepted', 'queued').ok, 'accepted → queued is a legal move');
    await tx.payouts.move(claimed.map((p) => p.id), 'accepted', 'queued', 'relay: published for dispatch (batch approved)');
    await tx.batches.markDispatchingIfDrained(drained);
    return ok(claimed.length);
  });
  if (!done.ok) throw new Error(`invariant violated: relay transaction rejected: ${done.error.code}`);
  return done.value;
}

/**
 * Publishes one chunk of queued payouts whose next attempt is due (a retry after a confirmed,
 * retryable failure), earliest first; returns how many. Their due time is cleared in the same
 * transaction: a crash before the commit publishes them again, and the worker skips a payout
 * that is no longer queued.
 */
export async function relayRetriesOnce(deps: RelayDeps, now: Date = new Date()): Promise<number> {
  const done = await deps.persistence.transaction(async (tx) => {
    const due = await tx.payouts.claimDueRetries(now, deps.chunkMax);
    if (due.length === 0) return ok(0);
    await publishDispatch(deps, due);
    await tx.payouts.clearDispatchAt(due.map((p) => p.id));
    return ok(due.length);
  });
  if (!done.ok) throw new Error(`invariant violated: relay transaction rejected: ${done.error.code}`);
  return done.value;
}

/** Publishes one chunk of stored provider results; returns how many. */
export async function relayResultsOnce(deps: RelayDeps): Promise<number> {
  const done = await deps.persistence.transaction(async (tx) => {
    const claimed = await tx.results.claimUnpublished(deps.chunkMax);
    if (claimed.length === 0) return ok(0);
    const messages = claimed.map((r) => ({ key: r.batchId, value: encode(toResultMessage(r)) }));
    await deps.transport.publish(deps.topics.results, messages);
    await tx.results.markPublished(claimed.map((r) => r.id));
    return ok(claimed.length);
  });
  if (!done.ok) throw new Error(`invariant violated: relay transaction rejected: ${done.error.code}`);
  return done.value;
}

function toResultMessage(r: NewResult): ResultMessage {
  return {
    type: 'tuma.payout.result',
    version: 1,
    resultId: r.id,
    payoutId: r.payoutId,
    batchId: r.batchId,
    outcome: r.outcome,
    reasonCode: r.reasonCode,
    providerReference: r.providerReference,
    source: r.source,
    ...(r.attemptNo !== null ? { attemptNo: r.attemptNo } : {}),
    ...(r.feeMinor ? { feeMinor: r.feeMinor.toString() } : {}),
    ...(r.differences && r.differences.length > 0 ? { differences: r.differences.slice(0, 8).map((d) => ({ kind: d.kind, detail: d.detail.slice(0, 500) })) } : {}),
  };
}

/**
 * Runs the relays (dispatch, retries, results) until stopped: drains while there is work, sleeps `pollIntervalMs` when idle.
 * Errors are logged and retried after the interval (the broker or database may be restarting).
 */
export function startRelay(deps: RelayDeps, pollIntervalMs: number): { stop(): Promise<void> } {
  let stopping = false;
  let wake: (() => void) | null = null;
  const loop = (async () => {
    while (!stopping) {
      let moved = 0;
      try {
        moved = (await relayDispatchOnce(deps)) + (await relayRetriesOnce(deps)) + (await relayResultsOnce(deps));
      } catch (error) {
        logStepFailure(deps.logger, error, 'relay pass failed; retrying');
      }
      if (moved === 0 && !stopping) {
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, pollIntervalMs);
        });
        wake = null;
      }
    }
  })();
  return {
    async stop() {
      stopping = true;
      wake?.();
      await loop;
    },
  };
}

// A batch that did not gather its approvals before its expiresAt will never be paid: the signed
// instruction has lapsed. The expirer rejects it and cancels its payouts, so it stops counting as
// pending anywhere. Nothing was committed in the ledger for it (commitment comes with approval),
// so nothing moves there.
import type { Logger } from 'pino';
import { moveBatch } from '../domain/payout-state.js';
import { ok } from '../domain/result.js';
import type { Persistence } from './ports.js';
import { logStepFailure, runEvery } from './periodic.js';

/** Batches looked at per step; the next step takes the rest. */
export const expireBatchesPerStep = 100;

/** Rejects every batch awaiting approval past its expiresAt (up to a step's worth); returns how many. */
export async function expireBatchesOnce(persistence: Persistence, now: Date): Promise<number> {
  const due = await persistence.read.batches.expiredAwaitingApproval(now, expireBatchesPerStep);
  let expired = 0;
  for (const batchId of due) {
    const result = await persistence.transaction(async (tx) => {
      // Re-checked under the lock: an approval may have landed since the list was read.
      const batch = await tx.batches.lock(batchId);
      if (!batch || batch.state !== 'awaiting_approval' || batch.expiresAt.getTime() > now.getTime()) return ok(false);
      if (!moveBatch(batch.state, 'rejected').ok) throw new Error('invariant violated: awaiting_approval → rejected');
      await tx.batches.cancelPayouts(batchId, 'batch expired before its approvals');
      await tx.batches.setState(batchId, 'rejected');
      return ok(true);
    });
    if (result.ok && result.value) expired++;
  }
  return expired;
}

/** Runs the expirer every `intervalMs` until stopped; a failed step is logged and retried next time. */
export function startExpirer(persistence: Persistence, intervalMs: number, logger: Logger, now: () => Date = () => new Date()): { stop(): Promise<void> } {
  return runEvery(
    intervalMs,
    async () => {
      const expired = await expireBatchesOnce(persistence, now());
      if (expired > 0) logger.info({ expired }, 'batches expired before their approvals were rejected');
    },
    (error) => logStepFailure(logger, error, 'batch expirer step failed'),
  );
}

// POST /v1/batches/{id}/cancel: stops every payout not yet handed to a provider (accepted,
// approved or queued) and, for those whose money was committed, releases it to the programme, in
// one SQL transaction. A payout already submitting or beyond is left to finish: only the
// provider's answer can settle it. The worker re-reads the state under a row lock before it
// calls a provider, so a cancelled payout is never sent.
import { reject, type Rejection } from '../domain/errors.js';
import { postings } from '../domain/ledger-rules.js';
import { formatAmount } from '../domain/money.js';
import { moveBatch, settledPayoutStates } from '../domain/payout-state.js';
import { err, ok, type Result } from '../domain/result.js';
import type { Actor, Persistence } from './ports.js';
import { getBatchView, type BatchView } from './queries.js';
import { appendAudit } from './audit.js';
import { auditFreeText } from '../domain/audit.js';

/** Release transfers per ledger journal when a large batch is cancelled. */
export const releaseJournalTransfersMax = 1_000;
/** A cancel reason is a short note. */
export const cancelReasonMaxChars = 200;

export interface CancelBatchOutput {
  readonly batch: BatchView;
  readonly cancelled: { readonly count: number; readonly amount: string };
}

export function parseCancelBody(body: unknown): Result<string | null, Rejection> {
  if (body === undefined || body === null) return ok(null);
  if (typeof body !== 'object' || Array.isArray(body)) return err(reject('REQUEST_MALFORMED', 'expected a JSON object {reason?}'));
  const { reason, ...rest } = body as Record<string, unknown>;
  if (Object.keys(rest).length > 0) return err(reject('REQUEST_MALFORMED', 'the only member is reason'));
  if (reason === undefined) return ok(null);
  if (typeof reason !== 'string' || reason.length > cancelReasonMaxChars) return err(reject('REQUEST_MALFORMED', `reason is a string of at most ${cancelReasonMaxChars} characters`));
  return ok(reason);
}

export async function cancelBatch(persistence: Persistence, actor: Actor, batchId: string, reason: string | null, requestId: string | null = null): Promise<Result<CancelBatchOutput, Rejection>> {
  const result = await persistence.transaction(async (tx) => {
    const batch = await tx.batches.lock(batchId);
    if (!batch || batch.organisationId !== actor.organisationId) return err(reject('NOT_FOUND'));
    if (batch.state === 'completed' || batch.state === 'rejected' || batch.state === 'cancelled') {
      return err(reject('BATCH_NOT_CANCELLABLE', `the batch is ${batch.state}`));
    }
    const moved = await tx.batches.cancelPayouts(batchId, `batch cancelled by ${actor.subject}`);
    if (moved.length === 0) return err(reject('BATCH_NOT_CANCELLABLE', 'every payout has been handed to its provider'));
    // A batch awaiting approval has committed nothing; once approved, every payout's money is committed.
    const committed = batch.state === 'awaiting_approval' ? [] : moved;
    for (let i = 0; i < committed.length; i += releaseJournalTransfersMax) {
      const chunk = committed.slice(i, i + releaseJournalTransfersMax);
      const posted = await tx.ledger.postJournal(postings.payoutsReleased({
        organisationId: batch.organisationId, batchId, programmeId: batch.programmeId, currency: batch.currency, payouts: chunk,
      }));
      if (!posted.ok) return posted;
    }
    const counts = await tx.batches.payoutCounts(batchId);
    // Nothing left in flight: the batch is over, as cancelled if nothing of it was paid.
    const state = counts.every((c) => c.state === 'cancelled') ? 'cancelled' : counts.every((c) => settledPayoutStates.includes(c.state)) ? 'completed' : batch.state;
    if (state !== batch.state && !moveBatch(batch.state, state).ok) throw new Error(`invariant violated: batch ${batch.state} → ${state}`);
    await tx.batches.markCancelled(batchId, actor.subject, reason, state);
    await appendAudit(tx, {
      organisationId: actor.organisationId,
      actor: actor.subject.slice(0, 128),
      requestId,
      action: 'batch.cancel',
      objectId: batchId,
      detail: { payoutsCancelled: String(moved.length), amount: formatAmount(moved.reduce((s, m) => s + m.amountMinor, 0n), batch.currency), ...(reason ? { reason: auditFreeText(reason) } : {}) },
    });
    return ok({ count: moved.length, amountMinor: moved.reduce((s, m) => s + m.amountMinor, 0n), currency: batch.currency });
  });
  if (!result.ok) return result;
  const view = await getBatchView(persistence, actor.organisationId, batchId);
  if (!view) throw new Error(`invariant violated: batch ${batchId} is stored`);
  return ok({ batch: view, cancelled: { count: result.value.count, amount: formatAmount(result.value.amountMinor, result.value.currency) } });
}

// Payout and batch lifecycles as one pure transition function each. A terminal state never
// regresses; every allowed move is listed here and nowhere else.
import { err, ok, type Result } from './result.js';

export const payoutStates = [
  'accepted', 'approved', 'queued', 'submitting', 'submitted', 'unknown', 'held', 'paid', 'failed', 'cancelled', 'reversed',
] as const;
export type PayoutState = (typeof payoutStates)[number];
/** The states a payout row can hold: every state but 'approved', which the API derives (publicPayoutState). */
export const storedPayoutStates: readonly PayoutState[] = payoutStates.filter((s) => s !== 'approved');

/**
 * Moves of the stored state. 'approved' is never stored: a payout stays 'accepted' until the relay
 * queues it, and is dispatchable while its batch is approved (approval is one fact about the batch,
 * not 100,000 row updates); the API shows it as 'approved' (`publicPayoutState`).
 */
const payoutMoves: Record<PayoutState, readonly PayoutState[]> = {
  accepted: ['queued', 'cancelled'],
  approved: [],
  // queued → queued: a re-published payout (relay crashed between publish and mark) is not a move.
  queued: ['submitting', 'cancelled'],
  // A provider may report the result before the worker has recorded its acknowledgement.
  submitting: ['submitted', 'unknown', 'held', 'paid', 'failed', 'queued'],
  // → queued: a confirmed, retryable failure; the next attempt (a new key) waits there (domain/retry-policy.ts).
  submitted: ['paid', 'failed', 'unknown', 'held', 'queued'],
  unknown: ['submitting', 'submitted', 'held', 'paid', 'failed', 'queued'],
  // A callback disagreed with the payout (amount, currency, receiver, a receipt already used): the
  // money stays committed, nothing is asked or sent again, until finance decides paid or failed.
  held: ['paid', 'failed'],
  paid: ['reversed'],
  failed: [],
  cancelled: [],
  reversed: [],
};

export const terminalPayoutStates: readonly PayoutState[] = ['failed', 'cancelled', 'reversed'];
/** Settled states: the ledger has moved for them. `paid` can still be reversed later. */
export const settledPayoutStates: readonly PayoutState[] = ['paid', 'failed', 'cancelled', 'reversed'];
/** Stored states that are not settled: a payout in one of them is still on its way. */
export const unsettledPayoutStates: readonly PayoutState[] = storedPayoutStates.filter((s) => !settledPayoutStates.includes(s));
/**
 * States the status poller asks providers about: the provider has (or may have) the payment and
 * no final answer reached us. (migrations/0006-status-poll.ts indexes exactly these.)
 */
export const statusPolledPayoutStates: readonly PayoutState[] = ['submitted', 'unknown'];

export interface IllegalTransition {
  readonly code: 'ILLEGAL_TRANSITION';
  readonly from: PayoutState;
  readonly to: PayoutState;
}

export function movePayout(from: PayoutState, to: PayoutState): Result<PayoutState, IllegalTransition> {
  return payoutMoves[from].includes(to) ? ok(to) : err({ code: 'ILLEGAL_TRANSITION', from, to });
}

export const batchStates = ['received', 'awaiting_approval', 'approved', 'dispatching', 'completed', 'rejected', 'cancelled'] as const;
export type BatchState = (typeof batchStates)[number];

const batchMoves: Record<BatchState, readonly BatchState[]> = {
  received: ['awaiting_approval', 'approved', 'rejected'],
  awaiting_approval: ['approved', 'rejected', 'cancelled'],
  approved: ['dispatching', 'completed', 'cancelled'],
  dispatching: ['completed', 'cancelled'],
  completed: [],
  rejected: [],
  cancelled: [],
};

export function moveBatch(from: BatchState, to: BatchState): Result<BatchState, { code: 'ILLEGAL_TRANSITION'; from: BatchState; to: BatchState }> {
  return batchMoves[from].includes(to) ? ok(to) : err({ code: 'ILLEGAL_TRANSITION', from, to });
}

/** Batch states in which the batch's accepted payouts are dispatchable (the money is committed). */
export const releasedBatchStates: readonly BatchState[] = ['approved', 'dispatching'];

/** The state the API shows: an accepted payout of an approved batch is 'approved'. */
export function publicPayoutState(stored: PayoutState, batch: BatchState): PayoutState {
  return stored === 'accepted' && releasedBatchStates.includes(batch) ? 'approved' : stored;
}

/**
 * The stored state behind a state the API shows, for a batch in state `batch`; null when no payout
 * of that batch can show it (an awaiting batch has no 'approved' payout, an approved one no 'accepted').
 */
export function storedPayoutStateFor(shown: PayoutState, batch: BatchState): PayoutState | null {
  const released = releasedBatchStates.includes(batch);
  if (shown === 'approved') return released ? 'accepted' : null;
  if (shown === 'accepted') return released ? null : 'accepted';
  return shown;
}

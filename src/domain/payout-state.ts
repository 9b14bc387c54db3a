// Payout and batch lifecycles as one pure transition function each. A terminal state never
// regresses; every allowed move is listed here and nowhere else.
import { err, ok, type Result } from './result.js';

export const payoutStates = [
  'accepted', 'approved', 'queued', 'submitting', 'submitted', 'unknown', 'paid', 'failed', 'cancelled', 'reversed',
] as const;
export type PayoutState = (typeof payoutStates)[number];

const payoutMoves: Record<PayoutState, readonly PayoutState[]> = {
  accepted: ['approved', 'cancelled'],
  approved: ['queued', 'cancelled'],
  // queued → queued: a re-published payout (relay crashed between publish and mark) is not a move.
  queued: ['submitting', 'cancelled'],
  // A provider may report the result before the worker has recorded its acknowledgement.
  submitting: ['submitted', 'unknown', 'paid', 'failed', 'queued'],
  submitted: ['paid', 'failed', 'unknown'],
  unknown: ['submitting', 'submitted', 'paid', 'failed'],
  paid: ['reversed'],
  failed: [],
  cancelled: [],
  reversed: [],
};

export const terminalPayoutStates: readonly PayoutState[] = ['failed', 'cancelled', 'reversed'];
/** Settled states: the ledger has moved for them. `paid` can still be reversed later. */
export const settledPayoutStates: readonly PayoutState[] = ['paid', 'failed', 'cancelled', 'reversed'];

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

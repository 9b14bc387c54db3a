// How many dispatch messages of one partition a worker keeps in hand at once, per provider
// (issue #17 item 3). Provider calls wait on the network, so what bounds a worker at high latency
// is the calls it has in flight: at 300 ms, 128 calls in flight pay at most ~426 payouts/s whatever
// the CPU. Unless WORKER_PARTITION_WINDOW says otherwise, the window is sized from what the
// provider's accounts allow: the sum of their call limits (times the payouts one call carries, for
// an account that sends batches), spread over the partitions a worker works on at once.
import { callLimitsMax, type CallLimits } from '../adapters/providers/call-limiter.js';

/** Calls in flight an account with no call limit is given: the fixed window's 16 × 8 of before. */
export const callsInFlightUnlimitedAccount = 128;

/**
 * The calls an account can have in flight: its concurrency limit; with only a rate, what that
 * rate starts within one provider timeout (no call is in flight longer); with neither, a default.
 * Never more than callLimitsMax.concurrency.
 */
export function callsInFlightOf(limits: CallLimits, providerTimeoutMs: number): number {
  if (limits.concurrency !== null) return limits.concurrency;
  if (limits.ratePerSecond !== null) return Math.min(callLimitsMax.concurrency, Math.max(1, Math.ceil(limits.ratePerSecond * providerTimeoutMs / 1000)));
  return callsInFlightUnlimitedAccount;
}

/**
 * One account of the provider: its call limits and, for an account that sends payouts in batches
 * (GSMA bulk), how many payouts one call carries at most. A call in flight then stands for that
 * many payouts in hand: an account allowed 4 calls at once with batches of 1,000 keeps up to 4,000
 * payouts busy, where counting them as 4 would hold each batch to the few the worker had in hand.
 */
export type WindowAccount = CallLimits & { readonly payoutsPerCall?: number };

export interface WorkerWindowInput {
  /** The call limits of every account of the provider. */
  readonly accounts: readonly WindowAccount[];
  /** WORKER_PARTITION_WINDOW when it is set: it wins. */
  readonly configured: number | null;
  /** Partitions a worker works on at once: the smaller of WORKER_CONCURRENCY_MAX and the topic's partitions. */
  readonly partitionsAtOnce: number;
  readonly providerTimeoutMs: number;
  /** The window's own maximum (limitsMax.workerPartitionWindow). */
  readonly windowMax: number;
}

/** The window of one provider's dispatch topic, and the calls in flight it allows a worker. */
export function workerWindowOf(input: WorkerWindowInput): { window: number; callsInFlight: number } {
  const spread = Math.max(1, input.partitionsAtOnce);
  if (input.configured !== null) return { window: input.configured, callsInFlight: input.configured * spread };
  const wanted = input.accounts.reduce((sum, account) => sum + callsInFlightOf(account, input.providerTimeoutMs) * Math.max(1, account.payoutsPerCall ?? 1), 0);
  const window = Math.min(input.windowMax, Math.max(1, Math.ceil(wanted / spread)));
  return { window, callsInFlight: window * spread };
}

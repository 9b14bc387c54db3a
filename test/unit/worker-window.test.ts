// The worker's dispatch window per provider, sized from its accounts' call limits (issue #17 item 3).
import { callLimitsMax } from '../../src/adapters/providers/call-limiter.js';
import { limitsMax } from '../../src/config/config.js';
import { callsInFlightOf, callsInFlightUnlimitedAccount, workerWindowOf } from '../../src/config/worker-window.js';

const none = { ratePerSecond: null, concurrency: null };
const base = { configured: null, partitionsAtOnce: 16, providerTimeoutMs: 10_000, windowMax: limitsMax.workerPartitionWindow };

describe('calls in flight per provider, from the accounts', () => {
  it('when an account has a concurrency limit, then that many calls are in flight for it', () => {
    expect(callsInFlightOf({ ratePerSecond: 50, concurrency: 40 }, 10_000)).toBe(40);
  });

  it('when it has only a rate, then what that rate starts within one provider timeout, at most the concurrency maximum', () => {
    expect(callsInFlightOf({ ratePerSecond: 5, concurrency: null }, 10_000)).toBe(50);
    expect(callsInFlightOf({ ratePerSecond: 0.25, concurrency: null }, 1_000)).toBe(1);
    expect(callsInFlightOf({ ratePerSecond: 5_000, concurrency: null }, 10_000)).toBe(callLimitsMax.concurrency);
  });

  it('when it has neither, then the fixed window of before: one such account gives 16 partitions × 8', () => {
    expect(callsInFlightOf(none, 10_000)).toBe(callsInFlightUnlimitedAccount);
    expect(workerWindowOf({ ...base, accounts: [none] })).toEqual({ window: 8, callsInFlight: 128 });
  });

  it('when a provider\'s accounts allow 1,500 calls at once, then the window carries them over the partitions a worker holds', () => {
    // 5,000 payouts/s at 300 ms of latency need 1,500 calls in flight.
    const accounts = [{ ratePerSecond: null, concurrency: 1_000 }, { ratePerSecond: null, concurrency: 500 }];
    expect(workerWindowOf({ ...base, accounts })).toEqual({ window: 94, callsInFlight: 1_504 });
    expect(workerWindowOf({ ...base, accounts, partitionsAtOnce: 6 })).toEqual({ window: 250, callsInFlight: 1_500 });
  });

  it('when the accounts ask for more than the window may hold, or for one call, then it is bounded both ways', () => {
    const many = Array.from({ length: 8 }, () => ({ ratePerSecond: null, concurrency: callLimitsMax.concurrency }));
    expect(workerWindowOf({ ...base, accounts: many })).toEqual({ window: limitsMax.workerPartitionWindow, callsInFlight: limitsMax.workerPartitionWindow * 16 });
    expect(workerWindowOf({ ...base, accounts: [{ ratePerSecond: null, concurrency: 1 }] })).toEqual({ window: 1, callsInFlight: 16 });
  });

  it('when an account sends payouts in batches, then each call it may have in flight stands for a batch of them', () => {
    // Two provider batches of up to 1,000 at once: 2,000 payouts in hand, not 2.
    expect(workerWindowOf({ ...base, accounts: [{ ratePerSecond: null, concurrency: 2, payoutsPerCall: 1_000 }] })).toEqual({ window: 125, callsInFlight: 2_000 });
    // Beside a single-payment account of the same provider, each counts its own.
    expect(workerWindowOf({ ...base, accounts: [{ ratePerSecond: null, concurrency: 1, payoutsPerCall: 500 }, { ratePerSecond: null, concurrency: 12 }] })).toEqual({ window: 32, callsInFlight: 512 });
    // No call limit and batches of 1,000: as many as the window may hold.
    expect(workerWindowOf({ ...base, accounts: [{ ...none, payoutsPerCall: 1_000 }] })).toEqual({ window: limitsMax.workerPartitionWindow, callsInFlight: limitsMax.workerPartitionWindow * 16 });
  });

  it('when WORKER_PARTITION_WINDOW is set, then it wins over the accounts', () => {
    expect(workerWindowOf({ ...base, accounts: [{ ratePerSecond: null, concurrency: 1_000 }], configured: 4 })).toEqual({ window: 4, callsInFlight: 64 });
  });
});

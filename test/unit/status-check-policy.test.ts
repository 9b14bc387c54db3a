// The status poller's schedule: the wait doubles from the provider's deadline up to the cap, and
// a policy outside its named maxima is refused before any poll runs.
import { checkPolicy, statusCheckDefaults, statusCheckDelayMs, statusPollMaxima } from '../../src/application/poll-status.js';

describe('status check schedule', () => {
  it('when checks accumulate, then the wait doubles from the deadline and stops at the cap', () => {
    const policy = { firstAfterMs: 60_000, backoffMaxMs: 900_000, checksMax: 10 };
    expect([0, 1, 2, 3, 4, 5, 9].map((n) => statusCheckDelayMs(n, policy))).toEqual([60_000, 120_000, 240_000, 480_000, 900_000, 900_000, 900_000]);
  });

  it('when the count is huge, then the wait is still the cap (no overflow to Infinity or NaN)', () => {
    expect(statusCheckDelayMs(10_000, { firstAfterMs: 1, backoffMaxMs: statusPollMaxima.backoffMaxMs, checksMax: 1 })).toBe(statusPollMaxima.backoffMaxMs);
  });

  it('when the defaults are used, then they are within the maxima', () => {
    expect(() => checkPolicy(statusCheckDefaults)).not.toThrow();
  });

  it.each([
    ['a zero deadline', { firstAfterMs: 0, backoffMaxMs: 1_000, checksMax: 1 }],
    ['a deadline past its maximum', { firstAfterMs: statusPollMaxima.firstAfterMs + 1, backoffMaxMs: statusPollMaxima.backoffMaxMs, checksMax: 1 }],
    ['a cap below the deadline', { firstAfterMs: 2_000, backoffMaxMs: 1_000, checksMax: 1 }],
    ['a cap past its maximum', { firstAfterMs: 1_000, backoffMaxMs: statusPollMaxima.backoffMaxMs + 1, checksMax: 1 }],
    ['no checks', { firstAfterMs: 1_000, backoffMaxMs: 1_000, checksMax: 0 }],
    ['too many checks', { firstAfterMs: 1_000, backoffMaxMs: 1_000, checksMax: statusPollMaxima.checksMax + 1 }],
    ['a fractional count', { firstAfterMs: 1_000, backoffMaxMs: 1_000, checksMax: 1.5 }],
  ])('when a policy has %s, then it is refused', (_what, policy) => {
    expect(() => checkPolicy(policy)).toThrow(/invariant violated/);
  });
});

// After a confirmed failure (issue #6 item 3): which failures are tried again, how long the wait
// is, and when operators are asked instead.
import { decideRetry, failureReasonOf, retryDelayMs, retryableFailureReasons, type RetryPolicy } from '../../src/domain/retry-policy.js';
import { failureReasons } from '../../src/domain/provider-outcome.js';

const policy: RetryPolicy = { reasons: retryableFailureReasons, attemptsMax: 3, backoffMs: 1_000, backoffMaxMs: 3_000 };

describe('retry policy', () => {
  it.each([
    ['insufficient_float:mpesa:1', 'insufficient_float'],
    ['provider_failure', 'provider_failure'],
    ['reversed:gsma:x', null],
    ['not a reason:1', null],
    ['', null],
  ])('when the reason code is %p, then its failure reason is %p', (code, reason) => {
    expect(failureReasonOf(code)).toBe(reason);
  });

  it('when there is no reason code, then there is no failure reason (never retried)', () => {
    expect(failureReasonOf(null)).toBeNull();
    expect(decideRetry(null, 1, policy, 0.5)).toEqual({ kind: 'final' });
  });

  it('when a failure says something about the payee, the amount or our credentials, then it is final', () => {
    const final = failureReasons.filter((r) => !retryableFailureReasons.includes(r));
    expect(final).toEqual(expect.arrayContaining(['payee_not_found', 'payee_not_allowed', 'amount_invalid', 'credentials_invalid', 'declined', 'request_invalid']));
    for (const reason of final) expect(decideRetry(`${reason}:p:1`, 1, policy, 0.5)).toEqual({ kind: 'final' });
  });

  it('when a retryable failure ends an attempt before the last, then the next one is scheduled; after the last, operators are asked', () => {
    for (const reason of retryableFailureReasons) {
      expect(decideRetry(`${reason}:p:1`, 1, policy, 0).kind).toBe('retry');
      expect(decideRetry(`${reason}:p:1`, 2, policy, 0).kind).toBe('retry');
      expect(decideRetry(`${reason}:p:1`, 3, policy, 0)).toEqual({ kind: 'exhausted' });
      // A requeued payout past the maximum: one attempt per requeue, then operators again.
      expect(decideRetry(`${reason}:p:1`, 7, policy, 0)).toEqual({ kind: 'exhausted' });
    }
    expect(decideRetry('insufficient_float:p:1', 1, { ...policy, attemptsMax: 1 }, 0)).toEqual({ kind: 'exhausted' });
  });

  it('when a reason is left out of the policy, then its failures are final', () => {
    expect(decideRetry('insufficient_float:p:1', 1, { ...policy, reasons: ['provider_failure'] }, 0)).toEqual({ kind: 'final' });
    expect(decideRetry('provider_failure', 1, { ...policy, reasons: ['provider_failure'] }, 0).kind).toBe('retry');
    expect(decideRetry('provider_failure', 1, { ...policy, reasons: [] }, 0)).toEqual({ kind: 'final' });
  });

  it('when attempts fail one after another, then the wait doubles up to its cap, with jitter between half and all of it', () => {
    expect([1, 2, 3, 4].map((n) => retryDelayMs(n, policy, 0.999999))).toEqual([1_000, 2_000, 3_000, 3_000]);
    expect([1, 2, 3, 4].map((n) => retryDelayMs(n, policy, 0))).toEqual([500, 1_000, 1_500, 1_500]);
    expect(retryDelayMs(1_000, { reasons: [], attemptsMax: 20, backoffMs: 3_600_000, backoffMaxMs: 86_400_000 }, 0.5)).toBe(64_800_000);
  });
});

// Derived ids are stored and sent to providers as idempotency keys: the derivation never changes.
import { attemptKey, payoutIdOf } from '../../src/domain/ids.js';

describe('derived ids', () => {
  it('when a payout id or an attempt key is derived, then it is the pinned UUIDv5 of its parts', () => {
    expect(payoutIdOf('3f1d7c2e-8a3b-4c5d-9e0f-1a2b3c4d5e6f', 'r-1')).toBe('f95da86b-f605-5b2c-9614-174fc657345c');
    expect(attemptKey('fa2bfdfc-594f-5265-9f8f-dc6708bbb3ae', 1)).toBe('f92eb690-e96f-5867-8066-6f6a85a405b2');
  });

  it('when any part differs, then the id differs', () => {
    const base = payoutIdOf('3f1d7c2e-8a3b-4c5d-9e0f-1a2b3c4d5e6f', 'r-1');
    expect(payoutIdOf('3f1d7c2e-8a3b-4c5d-9e0f-1a2b3c4d5e6f', 'r-2')).not.toBe(base);
    expect(payoutIdOf('3f1d7c2e-8a3b-4c5d-9e0f-1a2b3c4d5e6e', 'r-1')).not.toBe(base);
    expect(attemptKey('fa2bfdfc-594f-5265-9f8f-dc6708bbb3ae', 2)).not.toBe(attemptKey('fa2bfdfc-594f-5265-9f8f-dc6708bbb3ae', 1));
  });
});

import fc from 'fast-check';
import { batchStates, movePayout, payoutStates, publicPayoutState, storedPayoutStateFor, storedPayoutStates, type PayoutState } from '../../src/domain/payout-state.js';

describe('payout state machine', () => {
  it('when a payout is failed, cancelled or reversed, then no move leaves that state', () => {
    for (const from of ['failed', 'cancelled', 'reversed'] as const) {
      for (const to of payoutStates) expect(movePayout(from, to).ok).toBe(false);
    }
  });

  it('when a payout is paid, then the only move is a reversal', () => {
    expect(payoutStates.filter((to) => movePayout('paid', to).ok)).toEqual(['reversed']);
  });

  it('when any sequence of moves is applied, then a paid payout never becomes failed and vice versa', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...payoutStates), { maxLength: 30 }), (targets) => {
        let state: PayoutState = 'accepted';
        const visited: PayoutState[] = [state];
        for (const to of targets) {
          const moved = movePayout(state, to);
          if (moved.ok) {
            state = moved.value;
            visited.push(state);
          }
        }
        expect(visited.includes('paid') && visited.includes('failed')).toBe(false);
      }),
    );
  });
});

describe('the state the API shows', () => {
  it('when a payout is stored accepted, then it shows approved exactly while its batch is approved or dispatching', () => {
    for (const batch of batchStates) {
      expect(publicPayoutState('accepted', batch)).toBe(batch === 'approved' || batch === 'dispatching' ? 'approved' : 'accepted');
    }
    for (const stored of storedPayoutStates.filter((s) => s !== 'accepted')) {
      for (const batch of batchStates) expect(publicPayoutState(stored, batch)).toBe(stored);
    }
  });

  it('when a shown state is filtered on, then the stored state behind it is the one that shows it (or none)', () => {
    for (const shown of payoutStates) {
      for (const batch of batchStates) {
        const stored = storedPayoutStateFor(shown, batch);
        if (stored === null) expect(storedPayoutStates.filter((s) => publicPayoutState(s, batch) === shown)).toEqual([]);
        else expect(publicPayoutState(stored, batch)).toBe(shown);
      }
    }
  });

  it('when a payout is accepted, then its only stored moves are to queued (its batch approved) or cancelled; approved is never stored', () => {
    expect(payoutStates.filter((to) => movePayout('accepted', to).ok)).toEqual(['queued', 'cancelled']);
    expect(payoutStates.filter((from) => movePayout(from, 'approved').ok)).toEqual([]);
  });
});

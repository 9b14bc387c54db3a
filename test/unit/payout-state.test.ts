import fc from 'fast-check';
import { movePayout, payoutStates, type PayoutState } from '../../src/domain/payout-state.js';

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

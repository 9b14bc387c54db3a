// Merging a settling chunk's journals (issue #6 item 5): one journal per currency, every transfer
// kept in order, each merged journal named after its first transfer, ids never shared.
import { mergeJournals, postings, settleId } from '../../src/domain/ledger-rules.js';

const org = '6f0c8a52-3a51-4f0e-9a3c-2b1f0d6a7c10';
const batch = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const payout = (n: number) => `10000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const programme = '20000000-0000-4000-8000-000000000001';

const paid = (n: number, currency: 'KES' | 'UGX') =>
  postings.payoutPaid({ organisationId: org, batchId: batch(n % 2), payoutId: payout(n), provider: 'mpesa', currency, amountMinor: BigInt(100 * n) });

describe('mergeJournals', () => {
  it('when journals of two currencies are merged, then there is one journal per currency with every transfer in order', () => {
    const journals = [paid(1, 'KES'), paid(2, 'UGX'), paid(3, 'KES'), postings.payoutReleased({ organisationId: org, batchId: batch(0), payoutId: payout(4), programmeId: programme, currency: 'KES', amountMinor: 5n })];
    const merged = mergeJournals(journals);
    expect(merged.map((j) => j.currency)).toEqual(['KES', 'UGX']);
    expect(merged[0]!.transfers.map((t) => t.id)).toEqual([settleId(payout(1)), settleId(payout(3)), settleId(payout(4))]);
    expect(merged[1]!.transfers.map((t) => t.id)).toEqual([settleId(payout(2))]);
    // Named after the first transfer: not a payout's own journal id, and the same for the same chunk.
    expect(merged[0]!.id).not.toBe(journals[0]!.id);
    expect(mergeJournals(journals)[0]!.id).toBe(merged[0]!.id);
    expect(mergeJournals([paid(3, 'KES'), paid(1, 'KES')])[0]!.id).not.toBe(merged[0]!.id);
  });

  it('when nothing is merged, then there is no journal', () => {
    expect(mergeJournals([])).toEqual([]);
  });

  it('when one payout appears twice with the same transfer, then the merge refuses (a chunk never settles a payout twice)', () => {
    expect(() => mergeJournals([paid(1, 'KES'), paid(1, 'KES')])).toThrow(/distinct/);
  });
});

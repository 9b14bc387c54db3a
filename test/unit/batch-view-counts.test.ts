// GET /v1/batches/{id} counts a large batch's payouts at most once per batchCountsMaxAgeMs
// (application/queries.ts): its state and approvals are read each time, a small batch is counted
// each time, and what changes a batch reads it exact.
import type { BatchRecord, BatchViewRecord, Persistence, ProviderPayoutCounts } from '../../src/application/ports.js';
import { batchCountsExactPayoutsMax, batchCountsMaxAgeMs, getBatchView } from '../../src/application/queries.js';

const batchId = '00000000-0000-4000-8000-000000000001';

function fakePersistence(payoutCount: number, gate: { wait: Promise<void> | null; fail?: boolean } = { wait: null }) {
  const calls: boolean[] = [];
  let state: BatchRecord['state'] = 'dispatching';
  let paid = 0;
  const persistence = {
    read: {
      batches: {
        async view(id: string, withCounts: boolean): Promise<BatchViewRecord | null> {
          calls.push(withCounts);
          if (withCounts && gate.wait) await gate.wait;
          if (withCounts && gate.fail) throw new Error('database gone');
          if (id !== batchId) return null;
          const batch = {
            id, organisationId: 'org-a', programmeId: 'p', currency: 'KES', state, payoutCount, totalMinor: 100n * BigInt(payoutCount),
            payloadSha256: Buffer.alloc(32), receivedAt: new Date(0), approvalsRequired: 1, makerKid: 'k', submittedBy: null, expiresAt: new Date(0), rejectedRows: [],
          } as BatchRecord;
          const counts: ProviderPayoutCounts[] = [{ provider: 'mpesa', state: 'paid' as const, count: paid, amountMinor: 100n * BigInt(paid) }, { provider: 'mpesa', state: 'submitted' as const, count: payoutCount - paid, amountMinor: 100n * BigInt(payoutCount - paid) }].filter((c) => c.count > 0);
          return { batch, counts: withCounts ? counts : null, approvals: [] };
        },
      },
    },
  } as unknown as Persistence;
  return { persistence, calls, pay: (n: number) => { paid = n; }, setState: (s: BatchRecord['state']) => { state = s; } };
}

describe('batch view counts', () => {
  it('when a large batch is read again within the age, then its counts are reused while its state is read anew; past the age it is counted again', async () => {
    const large = batchCountsExactPayoutsMax + 1;
    const f = fakePersistence(large);
    let clock = 1_000_000;
    const read = () => getBatchView(f.persistence, 'org-a', batchId, { reuseCounts: true, clockMs: () => clock });
    const first = await read();
    expect(first?.payouts).toEqual({ submitted: { count: large, amount: `${large}.00` } });
    // By provider, from the same count (issue #16 item 3), kept as long.
    expect(first?.byProvider).toEqual({ mpesa: { submitted: { count: large, amount: `${large}.00` } } });
    f.pay(1);
    f.setState('completed');
    clock += batchCountsMaxAgeMs - 1;
    const again = await read();
    expect(again?.state).toBe('completed');
    expect(again?.payouts.submitted?.count).toBe(large);
    expect(again?.byProvider.mpesa?.paid).toBeUndefined();
    clock += 1;
    const counted = await read();
    expect(counted?.payouts.paid?.count).toBe(1);
    expect(counted?.byProvider.mpesa?.paid).toEqual({ count: 1, amount: '1.00' });
    expect(f.calls).toEqual([true, false, true]);
    // A read for a change (no reuseCounts) counts, whatever was kept.
    f.pay(2);
    expect((await getBatchView(f.persistence, 'org-a', batchId, { clockMs: () => clock }))?.payouts.paid?.count).toBe(2);
    expect(f.calls).toEqual([true, false, true, true]);
  });

  it('when many reads of a large batch come while its counts are stale, then one of them counts and the others show the last counts', async () => {
    let open: () => void = () => undefined;
    const gate: { wait: Promise<void> | null } = { wait: null };
    const f = fakePersistence(batchCountsExactPayoutsMax + 1, gate);
    let clock = 2_000_000;
    const read = () => getBatchView(f.persistence, 'org-a', batchId, { reuseCounts: true, clockMs: () => clock });
    await read();
    f.pay(1);
    clock += batchCountsMaxAgeMs;
    gate.wait = new Promise<void>((r) => (open = r));
    // The first stale read counts (held at the gate); nine more come meanwhile.
    const counting = read();
    const meanwhile = await Promise.all(Array.from({ length: 9 }, read));
    for (const v of meanwhile) expect(v?.payouts.paid).toBeUndefined();
    open();
    expect((await counting)?.payouts.paid?.count).toBe(1);
    expect(f.calls.filter((c) => c)).toHaveLength(2); // the first read's count and this one's, no other
    expect((await read())?.payouts.paid?.count).toBe(1);
    expect(f.calls.filter((c) => c)).toHaveLength(2);
  });

  it('when the first reads of a large batch come at once, then one counts and the others wait for its counts', async () => {
    let open: () => void = () => undefined;
    const gate: { wait: Promise<void> | null } = { wait: new Promise<void>((r) => (open = r)) };
    const f = fakePersistence(batchCountsExactPayoutsMax + 2, gate);
    f.pay(2);
    const clock = 3_000_000;
    const reads = Array.from({ length: 5 }, () => getBatchView(f.persistence, 'org-a', batchId, { reuseCounts: true, clockMs: () => clock }));
    open();
    for (const v of await Promise.all(reads)) expect(v?.payouts.paid?.count).toBe(2);
    expect(f.calls.filter((c) => c)).toHaveLength(1);
  });

  it('when the count fails, then the reads waiting for it count for themselves, and the next read counts again', async () => {
    let open: () => void = () => undefined;
    const gate: { wait: Promise<void> | null; fail?: boolean } = { wait: new Promise<void>((r) => (open = r)), fail: true };
    const f = fakePersistence(batchCountsExactPayoutsMax + 3, gate);
    const clock = 4_000_000;
    const read = () => getBatchView(f.persistence, 'org-a', batchId, { reuseCounts: true, clockMs: () => clock });
    const first = read();
    const second = read();
    first.catch(() => undefined);
    second.catch(() => undefined);
    open();
    await expect(first).rejects.toThrow('database gone');
    await expect(second).rejects.toThrow('database gone'); // it counted for itself, and failed as well
    gate.fail = false;
    expect((await read())?.payoutCount).toBe(batchCountsExactPayoutsMax + 3);
    expect(f.calls.filter((c) => c)).toHaveLength(3);
  });

  it('when a small batch is read twice at once, then it is counted both times', async () => {
    const f = fakePersistence(batchCountsExactPayoutsMax);
    const clock = 5;
    await getBatchView(f.persistence, 'org-a', batchId, { reuseCounts: true, clockMs: () => clock });
    f.pay(3);
    expect((await getBatchView(f.persistence, 'org-a', batchId, { reuseCounts: true, clockMs: () => clock }))?.payouts.paid?.count).toBe(3);
    expect(f.calls).toEqual([true, true]);
  });

  it('when another database has a batch of the same id, then its counts are its own', async () => {
    const a = fakePersistence(batchCountsExactPayoutsMax + 5);
    const b = fakePersistence(batchCountsExactPayoutsMax + 5);
    b.pay(4);
    const clock = 7;
    await getBatchView(a.persistence, 'org-a', batchId, { reuseCounts: true, clockMs: () => clock });
    expect((await getBatchView(b.persistence, 'org-a', batchId, { reuseCounts: true, clockMs: () => clock }))?.payouts.paid?.count).toBe(4);
    expect(b.calls).toEqual([true]);
  });

  it('when the caller is of another organisation, then the batch is not found', async () => {
    const f = fakePersistence(10);
    expect(await getBatchView(f.persistence, 'org-b', batchId)).toBeNull();
  });
});

// The micro-batcher that lets the worker start attempts, and record answers, a chunk per
// transaction: calls that arrive together share a flush, each gets its own answer, limits hold,
// and a flush that fails as a whole is retried call by call so that only the bad call fails.
import { MicroBatchOverloadedError, microBatcher, microBatcherPer, microBatchLimitsMax, microBatchPendingMax, type Settled } from '../../src/application/micro-batch.js';

const tick = () => new Promise((r) => setImmediate(r));

/** A flush that records its chunks and answers each request doubled; requests < 0 fail alone. */
function recorder() {
  const chunks: number[][] = [];
  let running = 0;
  let mostAtOnce = 0;
  const release: (() => void)[] = [];
  let hold = false;
  const flush = async (requests: readonly number[]): Promise<Settled<number>[]> => {
    chunks.push([...requests]);
    running += 1;
    mostAtOnce = Math.max(mostAtOnce, running);
    if (hold) await new Promise<void>((r) => release.push(r));
    await tick();
    running -= 1;
    return requests.map((n) => (n < 0 ? { ok: false, error: new Error(`bad ${n}`) } : { ok: true, value: n * 2 }));
  };
  return {
    flush,
    chunks,
    mostAtOnce: () => mostAtOnce,
    holdFlushes: () => void (hold = true),
    releaseAll: () => {
      hold = false;
      for (const r of release.splice(0)) r();
    },
  };
}

describe('microBatcher', () => {
  it('when calls arrive in the same turn, then one flush takes them all, in order, and each call gets its own answer', async () => {
    const r = recorder();
    const call = microBatcher(r.flush, 10, 1);
    const answers = await Promise.all([1, 2, 3, 4].map((n) => call(n)));
    expect(answers).toEqual([2, 4, 6, 8]);
    expect(r.chunks).toEqual([[1, 2, 3, 4]]);
  });

  it('when a call fails on its own, then it alone is rejected', async () => {
    const r = recorder();
    const call = microBatcher(r.flush, 10, 1);
    const settled = await Promise.allSettled([1, -1, 3].map((n) => call(n)));
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(r.chunks).toEqual([[1, -1, 3]]);
  });

  it('when more calls wait than a chunk holds, then flushes take at most chunkMax each, and at most flushesMax run at once', async () => {
    const r = recorder();
    const call = microBatcher(r.flush, 3, 2);
    const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => call(i)));
    expect(answers).toEqual(Array.from({ length: 10 }, (_, i) => i * 2));
    expect(r.chunks.every((c) => c.length <= 3)).toBe(true);
    expect(r.chunks.flat()).toEqual(Array.from({ length: 10 }, (_, i) => i));
    expect(r.mostAtOnce()).toBeLessThanOrEqual(2);
  });

  it('when calls arrive while the flushes are busy, then they wait and go together in the next flush', async () => {
    const r = recorder();
    const call = microBatcher(r.flush, 100, 1);
    r.holdFlushes();
    const first = call(1);
    await tick();
    await tick();
    const later = [2, 3, 4].map((n) => call(n));
    await tick();
    expect(r.chunks).toEqual([[1]]);
    r.releaseAll();
    expect(await Promise.all([first, ...later])).toEqual([2, 4, 6, 8]);
    expect(r.chunks).toEqual([[1], [2, 3, 4]]);
  });

  it('when a flush fails as a whole, then it is told, each of its calls is flushed again alone and only the one that cannot succeed fails', async () => {
    const chunks: number[][] = [];
    const told: [string, number][] = [];
    const call = microBatcher(
      async (requests: readonly number[]): Promise<Settled<number>[]> => {
        chunks.push([...requests]);
        // A transaction that rolls back because of one row: 13 poisons any flush it is in.
        if (requests.includes(13)) throw new Error('rolled back');
        return requests.map((n) => ({ ok: true, value: n }));
      },
      10,
      1,
      (error, size) => told.push([String(error), size]),
    );
    const settled = await Promise.allSettled([1, 13, 2].map((n) => call(n)));
    expect(told).toEqual([['Error: rolled back', 3]]);
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((settled[1] as PromiseRejectedResult).reason).toEqual(new Error('rolled back'));
    expect(chunks).toEqual([[1, 13, 2], [1], [13], [2]]);
  });

  it('when a flush answers a different number of calls, then that is an error, not a misattributed answer', async () => {
    const call = microBatcher(async (requests: readonly number[]) => requests.slice(1).map((n) => ({ ok: true as const, value: n })), 10, 1);
    const settled = await Promise.allSettled([1, 2].map((n) => call(n)));
    expect(settled.every((s) => s.status === 'rejected')).toBe(true);
    expect(String((settled[0] as PromiseRejectedResult).reason)).toMatch(/invariant violated/);
  });

  it('when a flush throws synchronously, then its calls are rejected, not lost', async () => {
    const call = microBatcher((): Promise<Settled<number>[]> => {
      throw new Error('sync throw');
    }, 10, 1);
    await expect(call(1)).rejects.toThrow('sync throw');
  });

  it.each([
    [0, 1],
    [microBatchLimitsMax.chunkMax + 1, 1],
    [1.5, 1],
    [1, 0],
    [1, microBatchLimitsMax.flushesMax + 1],
  ])('when chunkMax is %p and flushesMax %p, then it refuses', (chunkMax, flushesMax) => {
    expect(() => microBatcher(async () => [], chunkMax, flushesMax)).toThrow(/whole number/);
  });

  it('when more calls wait than microBatchPendingMax while the flushes are busy, then the next is refused at once and the waiting ones still get their answers', async () => {
    const r = recorder();
    const chunkMax = microBatchLimitsMax.chunkMax;
    const call = microBatcher(r.flush, chunkMax, 1);
    r.holdFlushes();
    // One chunk in the (held) flush, microBatchPendingMax more waiting.
    const waiting = Array.from({ length: chunkMax + microBatchPendingMax }, (_, i) => call(i));
    await tick();
    expect(r.chunks).toHaveLength(1);
    await expect(call(7)).rejects.toBeInstanceOf(MicroBatchOverloadedError);
    r.releaseAll();
    const answers = await Promise.all(waiting);
    expect(answers).toHaveLength(chunkMax + microBatchPendingMax);
    expect(answers[answers.length - 1]).toBe((chunkMax + microBatchPendingMax - 1) * 2);
  });

  it('when two owners call, then each owner has its own flushes', async () => {
    const seen: [string, number[]][] = [];
    const call = microBatcherPer(
      async (owner: { name: string }, requests: readonly number[]) => {
        seen.push([owner.name, [...requests]]);
        return requests.map((n) => ({ ok: true as const, value: `${owner.name}${n}` }));
      },
      10,
      1,
    );
    const a = { name: 'a' };
    const b = { name: 'b' };
    expect(await Promise.all([call(a, 1), call(b, 2), call(a, 3)])).toEqual(['a1', 'b2', 'a3']);
    expect(seen).toEqual([
      ['a', [1, 3]],
      ['b', [2]],
    ]);
  });
});

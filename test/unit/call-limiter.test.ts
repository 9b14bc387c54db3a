// The per-account call limiter: concurrency and rate, first come first served, on a fake clock.
import { CallLimiter, shareOf, type Clock } from '../../src/adapters/providers/call-limiter.js';

/** A clock that moves only when someone sleeps: sleeping is what the limiter does to wait. */
function fakeClock(): Clock & { readonly slept: number[] } {
  let t = 0;
  const slept: number[] = [];
  return {
    slept,
    now: () => t,
    sleep: async (ms) => {
      slept.push(ms);
      t += ms;
    },
  };
}

describe('CallLimiter', () => {
  it('when calls come faster than the rate, then each waits its turn: n calls beyond the burst take (n - burst) / rate seconds', async () => {
    const clock = fakeClock();
    const limiter = new CallLimiter({ ratePerSecond: 10, concurrency: null }, clock);
    const started: number[] = [];
    await Promise.all(Array.from({ length: 25 }, () => limiter.run(async () => void started.push(clock.now()))));
    // A burst of 10 (one second's worth), then one every 100 ms.
    expect(started.slice(0, 10)).toEqual(Array(10).fill(0));
    expect(started.slice(10).map((t) => Math.round(t))).toEqual(Array.from({ length: 15 }, (_, i) => (i + 1) * 100));
  });

  it('when no more than the concurrency may run, then the next starts only when one ends, in arrival order', async () => {
    const limiter = new CallLimiter({ ratePerSecond: null, concurrency: 2 });
    let running = 0;
    let most = 0;
    const order: number[] = [];
    const releases: (() => void)[] = [];
    const calls = Array.from({ length: 6 }, (_, i) =>
      limiter.run(async () => {
        running++;
        most = Math.max(most, running);
        order.push(i);
        await new Promise<void>((r) => releases.push(r));
        running--;
      }),
    );
    for (let k = 0; k < 6; k++) {
      await new Promise((r) => setImmediate(r));
      releases.shift()?.();
    }
    await Promise.all(calls);
    expect(most).toBe(2);
    expect(order).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('when a call throws, then its slot is given back', async () => {
    const limiter = new CallLimiter({ ratePerSecond: null, concurrency: 1 });
    await expect(limiter.run(async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await expect(limiter.run(async () => 'next')).resolves.toBe('next');
  });

  it.each([
    [{ ratePerSecond: 0, concurrency: null }],
    [{ ratePerSecond: 10_001, concurrency: null }],
    [{ ratePerSecond: null, concurrency: 0 }],
    [{ ratePerSecond: null, concurrency: 1.5 }],
    [{ ratePerSecond: null, concurrency: 1_025 }],
  ])('when the limits are %p, then it refuses them', (limits) => {
    expect(() => new CallLimiter(limits)).toThrow();
  });
});

describe('one worker process\'s share of an account\'s limits (WORKER_PROCESSES)', () => {
  it('when N processes call one account, then each takes 1/N of its rate and of its calls at once (rounded down), never more together', () => {
    expect(shareOf({ ratePerSecond: 50, concurrency: 1_024 }, 1)).toEqual({ ratePerSecond: 50, concurrency: 1_024 });
    expect(shareOf({ ratePerSecond: 50, concurrency: 1_024 }, 2)).toEqual({ ratePerSecond: 25, concurrency: 512 });
    expect(shareOf({ ratePerSecond: 10, concurrency: 7 }, 3)).toEqual({ ratePerSecond: 10 / 3, concurrency: 2 });
    expect(shareOf({ ratePerSecond: null, concurrency: null }, 4)).toEqual({ ratePerSecond: null, concurrency: null });
  });

  it('when there are more processes than calls at once, or no process, then it refuses', () => {
    expect(() => shareOf({ ratePerSecond: null, concurrency: 2 }, 3)).toThrow(/cannot share/);
    expect(() => shareOf({ ratePerSecond: null, concurrency: 2 }, 0)).toThrow(/whole number/);
  });
});

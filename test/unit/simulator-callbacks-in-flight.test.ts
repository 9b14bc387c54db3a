// A simulator posts at most simulatorCallbacksInFlightMax callbacks at once (faults.ts inFlight):
// the rest wait their turn, and every one is sent, failures included.
import { createSimulatorTasks, simulatorCallbacksInFlightMax } from '../../src/simulator/faults.js';

describe('simulator callbacks in flight', () => {
  it('when more callbacks are due than the maximum, then no more than it are in flight at once and every one is sent, a failed one freeing its turn', async () => {
    const tasks = createSimulatorTasks();
    const n = simulatorCallbacksInFlightMax * 3 + 5;
    let now = 0;
    let most = 0;
    const opened: (() => void)[] = [];
    const sends = Array.from({ length: n }, (_, i) =>
      tasks.inFlight(async () => {
        now += 1;
        most = Math.max(most, now);
        await new Promise<void>((resolve) => opened.push(resolve));
        now -= 1;
        if (i % 7 === 0) throw new Error('refused');
        return i;
      }).catch(() => -1),
    );
    // Let every send that may start start, then release them in turns.
    for (let done = 0; done < n; ) {
      await new Promise((r) => setImmediate(r));
      expect(opened.length).toBeLessThanOrEqual(simulatorCallbacksInFlightMax);
      const batch = opened.splice(0);
      done += batch.length;
      for (const release of batch) release();
    }
    const results = await Promise.all(sends);
    expect(most).toBe(simulatorCallbacksInFlightMax);
    expect(results.filter((r) => r === -1)).toHaveLength(Math.ceil(n / 7));
    expect(results.filter((r) => r >= 0)).toHaveLength(n - Math.ceil(n / 7));
  });
});

// Calls in flight per provider account (issue #16 item 6): each worker process's CallLimiter counts
// the calls it let through that have not ended; each worker process reports those counts every few
// seconds (startCallsInFlightReporter), and GET /v1/operations/providers lists every process's last
// report with its age, stale ones marked and left out of the total; /metrics exports each process's
// own count as tuma_provider_calls_in_flight{account}.
import { CallLimiter } from '../../src/adapters/providers/call-limiter.js';
import { createMetrics } from '../../src/adapters/metrics/metrics.js';
import { listProviderOperations, type OperatedAccount, type OperationsDeps } from '../../src/application/operations.js';
import {
  callsInFlightReportIntervalMaxMs, callsInFlightReportsPerAccountMax, callsInFlightRetentionMs, callsInFlightStaleAfterIntervals, isStale, startCallsInFlightReporter,
  type CallsInFlightReport, type CallsInFlightStore,
} from '../../src/application/calls-in-flight.js';
import { pino } from 'pino';
import type { BreakerHoldStore } from '../../src/application/breaker-holds.js';

/** A call the test ends when it says so. */
function pending(): { promise: Promise<string>; end: () => void; fail: () => void } {
  let end = () => undefined as void;
  let fail = () => undefined as void;
  const promise = new Promise<string>((resolve, reject) => {
    end = () => resolve('done');
    fail = () => reject(new Error('provider down'));
  });
  return { promise, end, fail };
}

describe('a CallLimiter counts its calls in flight', () => {
  it('when calls are at the provider, then it counts them; when they end, answered or failed, it counts them no more', async () => {
    const limiter = new CallLimiter({ ratePerSecond: null, concurrency: null });
    const a = pending();
    const b = pending();
    const first = limiter.run(() => a.promise);
    const second = limiter.run(() => b.promise).catch((e: Error) => e.message);
    await new Promise((r) => setImmediate(r));
    expect(limiter.callsInFlight).toBe(2);
    a.end();
    await first;
    expect(limiter.callsInFlight).toBe(1);
    b.fail();
    expect(await second).toBe('provider down');
    expect(limiter.callsInFlight).toBe(0);
  });

  it('when calls wait for a slot (concurrency 1), then only the one at the provider is in flight', async () => {
    const limiter = new CallLimiter({ ratePerSecond: null, concurrency: 1 });
    const a = pending();
    const b = pending();
    const first = limiter.run(() => a.promise);
    const second = limiter.run(() => b.promise);
    await new Promise((r) => setImmediate(r));
    expect(limiter.callsInFlight).toBe(1);
    a.end();
    await first;
    await new Promise((r) => setImmediate(r));
    expect(limiter.callsInFlight).toBe(1);
    b.end();
    await second;
    expect(limiter.callsInFlight).toBe(0);
  });
});

const account = (id: string): OperatedAccount => ({ id, provider: 'mpesa', currency: 'KES', country: 'KE', programmes: '*', callLimits: { concurrency: 8, ratePerSecond: null } } as unknown as OperatedAccount);
const holds = { all: async () => [], get: async () => null } as unknown as BreakerHoldStore;
const report = (accountId: string, process: string, calls: number, ageMs: number, intervalMs = 5_000): CallsInFlightReport =>
  ({ accountId, process, calls, intervalMs, ageMs, reportedAt: new Date(Date.UTC(2026, 11, 7, 12, 0, 0) - ageMs) });

describe('GET /v1/operations/providers: calls in flight', () => {
  const base = (reports: CallsInFlightReport[], asked: unknown[] = []): OperationsDeps => ({
    holds,
    reads: { breakerReports: async () => [], callsInFlight: async (...args) => { asked.push(args); return reports; } },
    accounts: () => [account('mpesa-ke'), account('mpesa-tz')],
  });

  it('when worker processes reported, then each account lists every process\'s count with its age, and the total adds up those not stale', async () => {
    const asked: unknown[] = [];
    const view = await listProviderOperations(base([
      report('mpesa-ke', 'host-a/42', 3, 1_200),
      report('mpesa-ke', 'host-b/7', 2, 4_000),
      // Three intervals and more without a report: stale, shown, not added up.
      report('mpesa-ke', 'host-c/9', 5, 15_001),
      report('mpesa-tz', 'host-a/42', 0, 1_200),
    ], asked), { subject: 'ops', organisationId: 'org-1' });
    expect(asked).toEqual([[['mpesa-ke', 'mpesa-tz'], callsInFlightReportsPerAccountMax, callsInFlightRetentionMs]]);
    const ke = view.accounts.find((a) => a.accountId === 'mpesa-ke')!;
    expect(ke.callsInFlight.total).toBe(5);
    expect(ke.callsInFlight.workers.map((w) => [w.process, w.count, w.ageMs, w.stale])).toEqual([
      ['host-a/42', 3, 1_200, false],
      ['host-b/7', 2, 4_000, false],
      ['host-c/9', 5, 15_001, true],
    ]);
    expect(ke.callsInFlight.workers[0]!.reportedAt).toBe('2026-12-07T11:59:58.800Z');
    expect(view.accounts.find((a) => a.accountId === 'mpesa-tz')!.callsInFlight).toMatchObject({ total: 0, workers: [{ process: 'host-a/42', count: 0, stale: false }] });
  });

  it('when no worker process reported an account, then its count is 0 from no worker: nothing is invented', async () => {
    const view = await listProviderOperations(base([]), { subject: 'ops', organisationId: 'org-1' });
    expect(view.accounts.map((a) => a.callsInFlight)).toEqual([{ total: 0, workers: [] }, { total: 0, workers: [] }]);
  });

  it('when a report is exactly three intervals old, then it still counts; a process reporting every minute is stale after three minutes', () => {
    expect(isStale({ ageMs: 15_000, intervalMs: 5_000 })).toBe(false);
    expect(isStale({ ageMs: 15_001, intervalMs: 5_000 })).toBe(true);
    expect(isStale({ ageMs: 170_000, intervalMs: 60_000 })).toBe(false);
    expect(callsInFlightStaleAfterIntervals).toBe(3);
  });
});

describe('a worker process reports its calls in flight', () => {
  const silent = pino({ level: 'silent' });
  function fakeStore(fail = false) {
    const published: { process: string; counts: { accountId: string; calls: number }[]; intervalMs: number; retentionMs: number }[] = [];
    const withdrawn: string[] = [];
    const store: CallsInFlightStore = {
      async publish(process, counts, intervalMs, retentionMs) {
        if (fail) throw new Error('database gone');
        published.push({ process, counts: [...counts], intervalMs, retentionMs });
      },
      async withdraw(process) {
        withdrawn.push(process);
      },
    };
    return { store, published, withdrawn };
  }

  it('when started, then it reports every account\'s count at once and each interval; when stopped, then its timer ends and its rows are removed', async () => {
    const f = fakeStore();
    let inFlight = 2;
    const reporter = startCallsInFlightReporter(f.store, 'host-a/42', () => [{ accountId: 'mpesa-ke', callsInFlight: () => inFlight }, { accountId: 'mpesa-tz', callsInFlight: () => 0 }], 100, silent);
    await new Promise((r) => setTimeout(r, 30));
    expect(f.published).toEqual([{ process: 'host-a/42', counts: [{ accountId: 'mpesa-ke', calls: 2 }, { accountId: 'mpesa-tz', calls: 0 }], intervalMs: 100, retentionMs: callsInFlightRetentionMs }]);
    inFlight = 5;
    await new Promise((r) => setTimeout(r, 150));
    expect(f.published.length).toBeGreaterThanOrEqual(2);
    expect(f.published.at(-1)!.counts[0]).toEqual({ accountId: 'mpesa-ke', calls: 5 });
    await reporter.stop();
    const after = f.published.length;
    expect(f.withdrawn).toEqual(['host-a/42']);
    await new Promise((r) => setTimeout(r, 250));
    expect(f.published.length).toBe(after);
  });

  it('when a report fails, then the reporter goes on and still stops cleanly', async () => {
    const f = fakeStore(true);
    const reporter = startCallsInFlightReporter(f.store, 'host-a/42', () => [{ accountId: 'mpesa-ke', callsInFlight: () => 1 }], 100, silent);
    await new Promise((r) => setTimeout(r, 250));
    await reporter.stop();
    expect(f.withdrawn).toEqual(['host-a/42']);
  });

  it.each([[0], [99], [60_001], [1.5], [Number.NaN]])('when the interval is %p ms, then it refuses to start', (intervalMs) => {
    const f = fakeStore();
    expect(() => startCallsInFlightReporter(f.store, 'host-a/42', () => [], intervalMs, silent)).toThrow(/from 100 to 60000/);
    expect(callsInFlightReportIntervalMaxMs).toBe(60_000);
  });
});

describe('/metrics: tuma_provider_calls_in_flight', () => {
  it('when a scrape comes, then each of this process\'s accounts has its count now, labelled by account and provider', async () => {
    const metrics = createMetrics();
    let inFlight = 2;
    metrics.setSources({
      providers: () => [{ id: 'mpesa', accountId: 'mpesa-ke', breakerState: () => 'closed', callsInFlight: () => inFlight }] as never,
      lag: async () => [],
      payoutCounts: null,
    });
    const line = async () => (await metrics.render()).body.split('\n').find((l) => l.startsWith('tuma_provider_calls_in_flight{'));
    expect(await line()).toBe('tuma_provider_calls_in_flight{account="mpesa-ke",provider="mpesa"} 2');
    inFlight = 0;
    expect(await line()).toBe('tuma_provider_calls_in_flight{account="mpesa-ke",provider="mpesa"} 0');
  });
});

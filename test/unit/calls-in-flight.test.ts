// Calls in flight per provider account (issue #16 item 6): each worker process's CallLimiter counts
// the calls it let through that have not ended; GET /v1/operations/providers gives that count for
// the process that answers, naming it, and null where the process runs no worker; /metrics exports
// it as tuma_provider_calls_in_flight{account}. Counted per process, and said so.
import { CallLimiter } from '../../src/adapters/providers/call-limiter.js';
import { createMetrics } from '../../src/adapters/metrics/metrics.js';
import { listProviderOperations, type OperatedAccount, type OperationsDeps } from '../../src/application/operations.js';
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

describe('GET /v1/operations/providers: calls in flight', () => {
  const base: OperationsDeps = { holds, reads: { breakerReports: async () => [] }, accounts: () => [account('mpesa-ke'), account('mpesa-tz')] };

  it('when the answering process runs workers, then each account has that process\'s count, named by the process', async () => {
    const view = await listProviderOperations({ ...base, callsInFlight: () => ({ process: 'host-a/42', byAccount: new Map([['mpesa-ke', 3], ['mpesa-tz', 0]]) }) }, { subject: 'ops', organisationId: 'org-1' });
    expect(view.accounts.map((a) => [a.accountId, a.callsInFlight, a.callLimits.concurrency])).toEqual([
      ['mpesa-ke', { process: 'host-a/42', count: 3 }, 8],
      ['mpesa-tz', { process: 'host-a/42', count: 0 }, 8],
    ]);
  });

  it('when the answering process runs no worker (or none for an account), then the count is null: it is not known there', async () => {
    const none = await listProviderOperations({ ...base, callsInFlight: () => null }, { subject: 'ops', organisationId: 'org-1' });
    expect(none.accounts.map((a) => a.callsInFlight)).toEqual([null, null]);
    const absent = await listProviderOperations(base, { subject: 'ops', organisationId: 'org-1' });
    expect(absent.accounts.map((a) => a.callsInFlight)).toEqual([null, null]);
    const partly = await listProviderOperations({ ...base, callsInFlight: () => ({ process: 'host-a/42', byAccount: new Map([['mpesa-ke', 1]]) }) }, { subject: 'ops', organisationId: 'org-1' });
    expect(partly.accounts.map((a) => a.callsInFlight)).toEqual([{ process: 'host-a/42', count: 1 }, null]);
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

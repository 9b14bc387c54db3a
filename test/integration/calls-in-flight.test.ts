// Calls in flight from every worker process (issue #16 item 6), on the real PostgreSQL as the
// application's role: two limiter owners (two worker processes, each with its own CallLimiters)
// report their counts every interval; an API that runs no worker lists both, with their ages, and
// adds them up; a process that stops reporting shows stale and leaves the total; a clean stop
// removes its rows; rows nobody wrote for the retention are never shown and are pruned.
import { sql } from 'kysely';
import { pino } from 'pino';
import { callsInFlightStore } from '../../src/adapters/db/calls-in-flight.repository.js';
import { operationsReads } from '../../src/adapters/db/operations-reads.js';
import { appRole, createDb, type DbHandle } from '../../src/adapters/db/pool.js';
import { CallLimiter } from '../../src/adapters/providers/call-limiter.js';
import type { BreakerHoldStore } from '../../src/application/breaker-holds.js';
import { callsInFlightReportsPerAccountMax, callsInFlightRetentionMs, startCallsInFlightReporter, type CallsInFlightStore } from '../../src/application/calls-in-flight.js';
import { listProviderOperations, type OperatedAccount } from '../../src/application/operations.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { net } from '../support/net.js';

const silent = pino({ level: 'silent' });
const intervalMs = 100;
let database: TestDatabase;
let app: DbHandle;
const stops: (() => Promise<void>)[] = [];

beforeAll(async () => {
  database = await createTestDatabase();
  app = createDb(database.url, 4, silent, { role: appRole });
});
afterAll(async () => {
  for (const stop of stops) await stop().catch(() => undefined);
  await app?.close();
  await database?.drop();
});

/** A worker process's accounts: one CallLimiter each, with calls the test ends when it says so. */
function limiterOwner(accountIds: readonly string[]) {
  const limiters = new Map(accountIds.map((id) => [id, new CallLimiter({ ratePerSecond: null, concurrency: null })]));
  const ends: (() => void)[] = [];
  return {
    accounts: () => [...limiters].map(([accountId, l]) => ({ accountId, callsInFlight: () => l.callsInFlight })),
    /** Starts `n` calls of the account that stay in flight until end(). */
    call(accountId: string, n: number) {
      for (let i = 0; i < n; i++) void limiters.get(accountId)!.run(() => new Promise<void>((resolve) => ends.push(resolve)));
    },
    end() {
      for (const e of ends.splice(0)) e();
    },
  };
}

const operated = (id: string): OperatedAccount => ({ id, provider: 'mpesa', currency: 'KES', country: 'KE', programmes: '*', callLimits: { concurrency: 8, ratePerSecond: null } });
const holds = { all: async () => [], get: async () => null, programmesOf: async () => new Set<string>() } as unknown as BreakerHoldStore;
/** What an API process that runs no worker answers: read from the database only. */
const listed = async () =>
  Object.fromEntries((await listProviderOperations({ holds, reads: operationsReads(app.db), accounts: () => [operated('ke-one'), operated('ke-two')] }, { subject: 'ops', organisationId: 'org-1' })).accounts.map((a) => [a.accountId, a.callsInFlight]));

it('when two worker processes report, then the API lists each one\'s count with its age and adds them up; one that stops reporting turns stale and leaves the total; a clean stop removes its rows', async () => {
  // A row nobody wrote for more than the retention (a process gone long ago): never shown, then pruned.
  await sql`INSERT INTO provider_calls_in_flight (process, account_id, calls, interval_ms, reported_at)
    VALUES ('host-gone/1', 'ke-one', 9, 5000, now() - interval '2 hours')`.execute(database.db);
  expect(await operationsReads(app.db).callsInFlight(['ke-one'], callsInFlightReportsPerAccountMax, callsInFlightRetentionMs)).toEqual([]);

  const a = limiterOwner(['ke-one', 'ke-two']);
  const b = limiterOwner(['ke-one']);
  a.call('ke-one', 3);
  a.call('ke-two', 1);
  b.call('ke-one', 2);
  const store = callsInFlightStore(app.db);
  // B's database link can be cut: its reports then fail, as a killed or cut-off process's stop coming.
  let bCut = false;
  const bStore: CallsInFlightStore = {
    publish: async (...args) => {
      if (bCut) throw new Error('connection lost');
      return store.publish(...args);
    },
    withdraw: async () => {
      throw new Error('connection lost');
    },
  };
  const reporterA = startCallsInFlightReporter(store, 'host-a/101', a.accounts, intervalMs, silent);
  const reporterB = startCallsInFlightReporter(bStore, 'host-b/202', b.accounts, intervalMs, silent);
  stops.push(() => reporterA.stop(), () => reporterB.stop());

  const both = await net.eventually(async () => {
    const l = await listed();
    return l['ke-one']!.total === 5 && l['ke-two']!.total === 1 ? l : null;
  }, 5_000, 'both processes reported');
  expect(both['ke-one']!.workers.map((w) => [w.process, w.count, w.stale]).sort()).toEqual([['host-a/101', 3, false], ['host-b/202', 2, false]]);
  for (const w of both['ke-one']!.workers) {
    expect(w.ageMs).toBeGreaterThanOrEqual(0);
    expect(w.ageMs).toBeLessThan(3 * intervalMs + 1_000);
    expect(Date.parse(w.reportedAt)).not.toBeNaN();
  }
  expect(both['ke-two']!.workers.map((w) => [w.process, w.count])).toEqual([['host-a/101', 1]]);
  // The live processes pruned the old row.
  expect((await sql<{ n: number }>`SELECT count(*)::int AS n FROM provider_calls_in_flight WHERE process = 'host-gone/1'`.execute(database.db)).rows[0]!.n).toBe(0);

  // Calls end in A: its next report says so.
  a.end();
  await net.eventually(async () => ((await listed())['ke-one']!.total === 2 ? true : null), 5_000, 'A reports its calls ended');

  // B stops reporting: within a few of its intervals it is stale, shown with its last count, out of the total.
  bCut = true;
  const stale = await net.eventually(async () => {
    const l = await listed();
    return l['ke-one']!.workers.find((w) => w.process === 'host-b/202')?.stale ? l : null;
  }, 5_000, 'B shown stale');
  expect(stale['ke-one']!.total).toBe(0);
  expect(stale['ke-one']!.workers.find((w) => w.process === 'host-b/202')).toMatchObject({ count: 2, stale: true });
  expect(stale['ke-one']!.workers.find((w) => w.process === 'host-b/202')!.ageMs).toBeGreaterThan(3 * intervalMs);

  // A stops cleanly: its timer ends and its rows are gone; B's stop could not reach the database: its rows stay, stale.
  await reporterA.stop();
  await reporterB.stop();
  const rows = (await sql<{ process: string }>`SELECT process FROM provider_calls_in_flight ORDER BY process, account_id`.execute(database.db)).rows.map((r) => r.process);
  expect(rows).toEqual(['host-b/202']);
  await new Promise((r) => setTimeout(r, 3 * intervalMs));
  expect((await sql<{ n: number }>`SELECT count(*)::int AS n FROM provider_calls_in_flight`.execute(database.db)).rows[0]!.n).toBe(1);
  b.end();
}, 30_000);

it('when a process reports, then each report is one upsert of its own rows: the count is replaced, not added, and another process\'s rows are left alone', async () => {
  const store = callsInFlightStore(app.db);
  await store.publish('host-c/1', [{ accountId: 'ke-one', calls: 4 }, { accountId: 'ke-two', calls: 0 }], 5_000, callsInFlightRetentionMs);
  await store.publish('host-d/2', [{ accountId: 'ke-one', calls: 1 }], 5_000, callsInFlightRetentionMs);
  await store.publish('host-c/1', [{ accountId: 'ke-one', calls: 7 }, { accountId: 'ke-two', calls: 2 }], 5_000, callsInFlightRetentionMs);
  const rows = (await sql<{ process: string; account_id: string; calls: number }>`
    SELECT process, account_id, calls FROM provider_calls_in_flight WHERE process IN ('host-c/1', 'host-d/2') ORDER BY process, account_id`.execute(database.db)).rows;
  expect(rows.map((r) => [r.process, r.account_id, r.calls])).toEqual([['host-c/1', 'ke-one', 7], ['host-c/1', 'ke-two', 2], ['host-d/2', 'ke-one', 1]]);
  // What the database refuses: a negative count, an account id that is no account id.
  await expect(store.publish('host-c/1', [{ accountId: 'ke-one', calls: -1 }], 5_000, callsInFlightRetentionMs)).rejects.toThrow(/check constraint/);
  await expect(store.publish('host-c/1', [{ accountId: 'KE One; DROP', calls: 1 }], 5_000, callsInFlightRetentionMs)).rejects.toThrow(/check constraint/);
  expect((await sql<{ calls: number }>`SELECT calls FROM provider_calls_in_flight WHERE process = 'host-c/1' AND account_id = 'ke-one'`.execute(database.db)).rows[0]!.calls).toBe(7);
  await store.withdraw('host-c/1');
  await store.withdraw('host-d/2');
});

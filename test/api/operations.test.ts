// What operators read through the API (issue #16 item 6), over HTTP on the real PostgreSQL:
// GET /v1/operations/providers lists the provider accounts serving a programme of the caller's
// organisation (never another organisation's), each with its hold, what each worker last wrote
// of its own breaker to the audit log and the calls in flight each worker process reported; the organisation's queues and dead-lettered payouts, their
// requeue by an admin (audited; another organisation's payout is not found), and the orphan
// callbacks of the providers serving it; malformed, hostile and oversized input is refused.
import { sql } from 'kysely';
import { pino } from 'pino';
import request from 'supertest';
import type { StatementAccount } from '../../src/application/import-reconciliation.js';
import { breakerAuditor } from '../../src/application/system-audit.js';
import { callsInFlightRetentionMs } from '../../src/application/calls-in-flight.js';
import { callsInFlightStore } from '../../src/adapters/db/calls-in-flight.repository.js';
import { bearer, startTestApi, type TestApi } from '../support/api.js';
import { payoutIdOf } from '../../src/domain/ids.js';
import { batchDocument, kenyanPayout, setUpProgramme, sign, type Scenario } from '../support/fixtures.js';

type Accounts = Record<string, Omit<StatementAccount, 'statementFormat'>>;
const accounts: Accounts = {};
let api: TestApi;
let a: Scenario;
let b: Scenario;

beforeAll(async () => {
  api = await startTestApi({
    statementAccounts: accounts,
    operatedAccounts: { 'ops-a': { provider: 'mpesa', country: 'KE', concurrency: 8 }, 'ops-b': { provider: 'airtel', country: 'UG' }, 'ops-shared': { provider: 'gsma', country: 'KE' } },
  });
  a = await setUpProgramme(api.persistence, 1_000_00n);
  b = await setUpProgramme(api.persistence, 1_000_00n);
  accounts['ops-a'] = { currency: 'KES', programmes: [a.programmeId] };
  accounts['ops-b'] = { currency: 'UGX', programmes: [b.programmeId] };
  accounts['ops-shared'] = { currency: 'KES', programmes: '*' };
}, 60_000);
afterAll(async () => api?.close());

interface Listed {
  accountId: string;
  provider: string;
  country: string;
  currency: string;
  callLimits: { concurrency: number | null };
  hold: string;
  lastChange: { state: string; setBy: string | null; byThisOrganisation: boolean } | null;
  reported: { process: string; state: string; cause: string }[];
}
const list = async (organisationId: string, role = 'admin', query = '') =>
  request(api.app).get(`/v1/operations/providers${query}`).set('authorization', await bearer(organisationId, role));

describe('GET /v1/operations/providers', () => {
  it('when each organisation lists its accounts, then it sees those serving its programmes and the shared one, never the other\'s', async () => {
    const ofA = await list(a.organisationId);
    expect(ofA.status).toBe(200);
    expect((ofA.body.accounts as Listed[]).map((x) => [x.accountId, x.provider, x.currency, x.country, x.callLimits.concurrency, x.hold, x.reported])).toEqual([
      ['ops-a', 'mpesa', 'KES', 'KE', 8, 'automatic', []],
      ['ops-shared', 'gsma', 'KES', 'KE', null, 'automatic', []],
    ]);
    const ofB = await list(b.organisationId, 'auditor');
    expect((ofB.body.accounts as Listed[]).map((x) => x.accountId)).toEqual(['ops-b', 'ops-shared']);
    expect(ofB.text).not.toContain('ops-a');
    // An organisation no account serves but the shared one sees that one only.
    const c = await setUpProgramme(api.persistence, 1_000_00n);
    expect(((await list(c.organisationId)).body.accounts as Listed[]).map((x) => x.accountId)).toEqual(['ops-shared']);
  });

  it('when an admin holds an account and workers report their breakers, then the list shows the hold and each worker\'s latest report; the other organisation sees the shared hold, not by whom', async () => {
    const put = async (account: string, state: string, organisationId: string) =>
      request(api.app).put(`/v1/provider-accounts/${account}/breaker`).set('authorization', await bearer(organisationId, 'admin')).set('content-type', 'application/json').send(JSON.stringify({ state, reason: 'operations test' }));
    expect((await put('ops-shared', 'open', a.organisationId)).status).toBe(200);
    const one = breakerAuditor(api.persistence, 'host-1/101', pino({ level: 'silent' }));
    const two = breakerAuditor(api.persistence, 'host-2/202', pino({ level: 'silent' }));
    one.record({ accountId: 'ops-a', provider: 'mpesa', state: 'open', previous: 'closed', cause: 'calls' });
    one.record({ accountId: 'ops-a', provider: 'mpesa', state: 'half_open', previous: 'open', cause: 'calls' });
    // Each auditor writes in its own order; the second worker's report comes after the first's.
    await one.settled();
    two.record({ accountId: 'ops-a', provider: 'mpesa', state: 'open', previous: 'closed', cause: 'calls' });
    one.record({ accountId: 'ops-shared', provider: 'gsma', state: 'open', previous: 'closed', cause: 'hold' });
    two.record({ accountId: 'ops-b', provider: 'airtel', state: 'open', previous: 'closed', cause: 'calls' });
    await Promise.all([one.settled(), two.settled()]);

    const byId = (res: request.Response) => Object.fromEntries((res.body.accounts as Listed[]).map((x) => [x.accountId, x]));
    const ofA = byId(await list(a.organisationId, 'auditor'));
    expect(ofA['ops-a']!.reported.map((r) => [r.process, r.state, r.cause])).toEqual([['host-2/202', 'open', 'calls'], ['host-1/101', 'half_open', 'calls']]);
    expect(ofA['ops-shared']).toMatchObject({ hold: 'held_open', lastChange: { state: 'open', setBy: 'admin-person', byThisOrganisation: true } });
    expect(ofA['ops-shared']!.reported.map((r) => [r.process, r.state, r.cause])).toEqual([['host-1/101', 'open', 'hold']]);
    const ofB = byId(await list(b.organisationId));
    expect(ofB['ops-shared']).toMatchObject({ hold: 'held_open', lastChange: { setBy: null, byThisOrganisation: false } });
    expect(ofB['ops-b']!.reported.map((r) => r.state)).toEqual(['open']);
    expect(ofB['ops-a']).toBeUndefined();
    expect((await put('ops-shared', 'closed', b.organisationId)).status).toBe(200);
    expect(byId(await list(a.organisationId))['ops-shared']).toMatchObject({ hold: 'automatic', lastChange: { state: 'closed', setBy: null, byThisOrganisation: false } });
  });

  it('when worker processes (none of them this API\'s) reported their calls in flight, then each account lists every process\'s count with its age, the stale one marked and left out of the total; the other organisation sees only its accounts', async () => {
    const store = callsInFlightStore(api.database.db);
    await store.publish('worker-1/11', [{ accountId: 'ops-a', calls: 3 }, { accountId: 'ops-shared', calls: 1 }, { accountId: 'ops-b', calls: 6 }], 5_000, callsInFlightRetentionMs);
    await store.publish('worker-2/22', [{ accountId: 'ops-a', calls: 2 }], 5_000, callsInFlightRetentionMs);
    // A third process stopped reporting 20 s ago (four of its 5 s intervals): stale.
    await store.publish('worker-3/33', [{ accountId: 'ops-a', calls: 4 }], 5_000, callsInFlightRetentionMs);
    await sql`UPDATE provider_calls_in_flight SET reported_at = now() - interval '20 seconds' WHERE process = 'worker-3/33'`.execute(api.database.db);
    try {
      interface InFlight { total: number; workers: { process: string; count: number; reportedAt: string; ageMs: number; stale: boolean }[] }
      const res = await list(a.organisationId, 'auditor');
      expect(res.status).toBe(200);
      const byId = Object.fromEntries((res.body.accounts as (Listed & { callsInFlight: InFlight })[]).map((x) => [x.accountId, x.callsInFlight]));
      expect(byId['ops-a']!.total).toBe(5);
      expect(byId['ops-a']!.workers.map((w) => [w.process, w.count, w.stale]).sort()).toEqual([['worker-1/11', 3, false], ['worker-2/22', 2, false], ['worker-3/33', 4, true]]);
      // Newest first; the stale one last, about 20 s old.
      expect(byId['ops-a']!.workers.at(-1)!.process).toBe('worker-3/33');
      expect(byId['ops-a']!.workers.at(-1)!.ageMs).toBeGreaterThanOrEqual(20_000);
      expect(byId['ops-a']!.workers.at(-1)!.ageMs).toBeLessThan(60_000);
      expect(byId['ops-a']!.workers[0]!.ageMs).toBeLessThan(20_000);
      expect(byId['ops-shared']).toMatchObject({ total: 1, workers: [{ process: 'worker-1/11', count: 1, stale: false }] });
      // Organisation a is not served by ops-b: its count is not in a's answer.
      expect(byId['ops-b']).toBeUndefined();
      const ofB = await list(b.organisationId);
      const bIds = Object.fromEntries((ofB.body.accounts as (Listed & { callsInFlight: InFlight })[]).map((x) => [x.accountId, x.callsInFlight]));
      expect(bIds['ops-b']).toMatchObject({ total: 6, workers: [{ process: 'worker-1/11', count: 6 }] });
      expect(ofB.text).not.toContain('worker-2/22');
    } finally {
      for (const p of ['worker-1/11', 'worker-2/22', 'worker-3/33']) await store.withdraw(p);
    }
    // With no report at all, an account's count is 0 from no worker.
    const none = Object.fromEntries(((await list(a.organisationId)).body.accounts as (Listed & { callsInFlight: unknown })[]).map((x) => [x.accountId, x.callsInFlight]));
    expect(none['ops-a']).toEqual({ total: 0, workers: [] });
  });

  it('when a role other than admin or auditor lists the accounts, then it is forbidden; without a token, unauthenticated', async () => {
    for (const role of ['finance', 'programme_manager', 'approver']) expect((await list(a.organisationId, role)).status).toBe(403);
    expect((await request(api.app).get('/v1/operations/providers')).status).toBe(401);
  });

  it.each([
    ['a query parameter', '?account=ops-b'],
    ['an organisation named in the query', `?organisationId=${'x'.repeat(10)}`],
    ['SQL in the query', `?q=${encodeURIComponent("' OR 1=1 --")}`],
    ['a parameter array', '?account[]=ops-a&account[]=ops-b'],
    ['a prototype member', '?__proto__[x]=1'],
    ['an oversized query', `?pad=${'y'.repeat(6_000)}`],
  ])('when the request carries %s, then it is refused and names no account', async (_what, query) => {
    const res = await list(a.organisationId, 'admin', query);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('QUERY_INVALID');
    expect(res.text).not.toMatch(/ops-/);
  });
});

describe('queues, dead-lettered payouts and their requeue, orphan callbacks', () => {
  /** A submitted batch of `refs` for `s`; its payouts by ref. */
  async function payoutsOf(s: Scenario, refs: string[]): Promise<Record<string, string>> {
    const document = batchDocument(s, refs.map((ref, i) => ({ ...kenyanPayout(ref, `${100 + i}.00`), msisdn: `+25471234567${i}` })));
    const res = await request(api.app).post('/v1/batches').set('authorization', await bearer(s.organisationId, 'programme_manager'))
      .set('content-type', 'application/jose+json').send(JSON.stringify(await sign(document, s.maker)));
    expect(res.status).toBe(201);
    return Object.fromEntries(refs.map((ref) => [ref, payoutIdOf(document.batchId, ref)]));
  }
  /** Puts a payout where the workers leave it when its attempts (queued) or status checks (submitted) ran out. */
  const deadLetter = async (payoutId: string, state: 'queued' | 'submitted') =>
    sql`UPDATE payouts SET state = ${state}, status_flagged_at = now(), dispatch_at = NULL, updated_at = now() WHERE id = ${payoutId}::uuid`.execute(api.database.db);
  const requeue = async (payoutId: string, organisationId: string, role = 'admin') =>
    request(api.app).post(`/v1/payouts/${payoutId}/requeue`).set('authorization', await bearer(organisationId, role, `${role}-ops`));
  const flagged = async (payoutId: string) =>
    (await sql<{ state: string; status_flagged_at: Date | null }>`SELECT state, status_flagged_at FROM payouts WHERE id = ${payoutId}::uuid`.execute(api.database.db)).rows[0]!;
  const requeueEvents = async () => (await sql<{ n: number }>`SELECT count(*)::int AS n FROM audit_events WHERE action = 'payout.requeue'`.execute(api.database.db)).rows[0]!.n;

  let ids: Record<string, string>;
  beforeAll(async () => {
    ids = await payoutsOf(a, ['dl-queued', 'dl-submitted', 'settled']);
    await deadLetter(ids['dl-queued']!, 'queued');
    await deadLetter(ids['dl-submitted']!, 'submitted');
    await sql`UPDATE payouts SET state = 'paid', updated_at = now() WHERE id = ${ids.settled!}::uuid`.execute(api.database.db);
  });

  it('when the organisation reads its queues and dead-lettered payouts, then it sees its own, with amounts as decimal strings, never a beneficiary; the other organisation sees none of them', async () => {
    const depths = (await request(api.app).get('/v1/operations/queues').set('authorization', await bearer(a.organisationId, 'auditor'))).body.depths as { provider: string; stage: string; count: number }[];
    expect(depths.filter((d) => d.stage === 'dead_lettered')).toEqual([expect.objectContaining({ provider: 'mpesa', stage: 'dead_lettered', count: 2 })]);
    const ofB = await request(api.app).get('/v1/operations/queues').set('authorization', await bearer(b.organisationId, 'admin'));
    expect(ofB.body.depths).toEqual([]);

    const page = await request(api.app).get('/v1/operations/dead-lettered').set('authorization', await bearer(a.organisationId, 'admin'));
    expect(page.status).toBe(200);
    const listed = page.body.payouts as { payoutId: string; state: string; amount: string; currency: string; ref: string }[];
    expect(listed.map((p) => [p.payoutId, p.state]).sort()).toEqual([[ids['dl-queued'], 'queued'], [ids['dl-submitted'], 'submitted']].sort());
    expect(listed[0]!.amount).toMatch(/^[0-9]+\.[0-9]{2}$/);
    expect(page.text).not.toMatch(/2547\d{5}/);
    // A page of one, then the next from its cursor.
    const first = await request(api.app).get('/v1/operations/dead-lettered?limit=1').set('authorization', await bearer(a.organisationId, 'admin'));
    expect(first.body.payouts).toHaveLength(1);
    const second = await request(api.app).get(`/v1/operations/dead-lettered?limit=1&after=${encodeURIComponent(first.body.next as string)}`).set('authorization', await bearer(a.organisationId, 'admin'));
    expect([first.body.payouts[0].payoutId, second.body.payouts[0].payoutId].sort()).toEqual([ids['dl-queued'], ids['dl-submitted']].sort());
    const other = await request(api.app).get('/v1/operations/dead-lettered').set('authorization', await bearer(b.organisationId, 'auditor'));
    expect(other.body).toEqual({ payouts: [], next: null });
  });

  it('when another organisation\'s admin, an auditor or finance requeues a payout, then it is not found or forbidden, and nothing changes', async () => {
    const before = await requeueEvents();
    expect((await requeue(ids['dl-queued']!, b.organisationId)).status).toBe(404);
    expect((await requeue(ids['dl-queued']!, b.organisationId)).body.error.code).toBe('NOT_FOUND');
    for (const role of ['auditor', 'finance', 'programme_manager', 'approver']) expect((await requeue(ids['dl-queued']!, a.organisationId, role)).status).toBe(403);
    expect((await flagged(ids['dl-queued']!)).status_flagged_at).not.toBeNull();
    expect(await requeueEvents()).toBe(before);
  });

  it('when the admin requeues its dead-lettered payouts, then each goes on its way, leaves the list and is audited with who asked and the request; a settled payout is refused with why', async () => {
    const queued = await requeue(ids['dl-queued']!, a.organisationId);
    expect(queued.body).toEqual({ payoutId: ids['dl-queued'], outcome: 'dispatch_republished' });
    const submitted = await requeue(ids['dl-submitted']!, a.organisationId);
    expect(submitted.body).toEqual({ payoutId: ids['dl-submitted'], outcome: 'status_checks_restarted' });
    expect(await flagged(ids['dl-queued']!)).toMatchObject({ state: 'queued', status_flagged_at: null });
    expect(await flagged(ids['dl-submitted']!)).toMatchObject({ state: 'submitted', status_flagged_at: null });
    const list = await request(api.app).get('/v1/operations/dead-lettered').set('authorization', await bearer(a.organisationId, 'admin'));
    expect(list.body.payouts).toEqual([]);
    const events = await sql<{ actor: string; request_id: string | null; object_id: string; organisation_id: string }>`
      SELECT actor, request_id, object_id, organisation_id FROM audit_events WHERE action = 'payout.requeue' ORDER BY seq`.execute(api.database.db);
    expect(events.rows.map((e) => [e.actor, e.object_id, e.organisation_id])).toEqual([['admin-ops', ids['dl-queued'], a.organisationId], ['admin-ops', ids['dl-submitted'], a.organisationId]]);
    expect(events.rows.every((e) => typeof e.request_id === 'string' && e.request_id.length > 0)).toBe(true);

    const before = await requeueEvents();
    const settled = await requeue(ids.settled!, a.organisationId);
    expect({ status: settled.status, code: settled.body.error.code }).toEqual({ status: 409, code: 'PAYOUT_NOT_REQUEUEABLE' });
    expect(settled.body.error.detail).toMatch(/settled \(paid\)/);
    expect(await requeueEvents()).toBe(before);
  });

  it.each([
    ['SQL in the id', encodeURIComponent("x' OR '1'='1")],
    ['a NUL in the id', '%00'],
    ['a 300-character id', 'a'.repeat(300)],
    ['an id that does not exist', '00000000-0000-4000-8000-000000000000'],
  ])('when a requeue names %s, then it is not found and nothing changes', async (_what, id) => {
    const before = await requeueEvents();
    const res = await request(api.app).post(`/v1/payouts/${id}/requeue`).set('authorization', await bearer(a.organisationId, 'admin'));
    expect({ status: res.status, code: res.body.error?.code }).toEqual({ status: 404, code: 'NOT_FOUND' });
    expect(await requeueEvents()).toBe(before);
  });

  it('when a requeue carries a body or a query, then it is refused and nothing changes', async () => {
    await deadLetter(ids['dl-queued']!, 'queued');
    const before = await requeueEvents();
    const admin = await bearer(a.organisationId, 'admin');
    const withBody = await request(api.app).post(`/v1/payouts/${ids['dl-queued']}/requeue`).set('authorization', admin).set('content-type', 'application/json').send(JSON.stringify({ payoutId: ids['dl-submitted'] }));
    expect({ status: withBody.status, code: withBody.body.error.code }).toEqual({ status: 400, code: 'REQUEST_MALFORMED' });
    const huge = await request(api.app).post(`/v1/payouts/${ids['dl-queued']}/requeue`).set('authorization', admin).set('content-type', 'application/json').send('x'.repeat(2 * 1024 * 1024));
    expect({ status: huge.status, code: huge.body.error.code }).toEqual({ status: 413, code: 'REQUEST_TOO_LARGE' });
    const notJson = await request(api.app).post(`/v1/payouts/${ids['dl-queued']}/requeue`).set('authorization', admin).set('content-type', 'application/json').send('{"a":1,"a":2}');
    expect({ status: notJson.status, code: notJson.body.error.code }).toEqual({ status: 400, code: 'REQUEST_MALFORMED' });
    for (const body of ['[]', 'null', '"x"', '{"__proto__":{"x":1}}']) {
      const res = await request(api.app).post(`/v1/payouts/${ids['dl-queued']}/requeue`).set('authorization', admin).set('content-type', 'application/json').send(body);
      expect({ body, status: res.status }).toEqual({ body, status: 400 });
    }
    const withQuery = await request(api.app).post(`/v1/payouts/${ids['dl-queued']}/requeue?force=true`).set('authorization', admin);
    expect({ status: withQuery.status, code: withQuery.body.error.code }).toEqual({ status: 400, code: 'QUERY_INVALID' });
    expect((await flagged(ids['dl-queued']!)).status_flagged_at).not.toBeNull();
    expect(await requeueEvents()).toBe(before);
  });

  it.each([
    ['/v1/operations/queues?x=1'],
    ['/v1/operations/dead-lettered?limit=0'],
    ['/v1/operations/dead-lettered?limit=501'],
    ['/v1/operations/dead-lettered?limit=-1'],
    ['/v1/operations/dead-lettered?limit=1e2'],
    ['/v1/operations/dead-lettered?limit=1&limit=2'],
    ['/v1/operations/dead-lettered?after=1:not-a-uuid'],
    [`/v1/operations/dead-lettered?after=${encodeURIComponent("1:' OR 1=1 --")}`],
    ['/v1/operations/dead-lettered?after[]=1'],
    ['/v1/operations/dead-lettered?organisationId=other'],
    [`/v1/operations/dead-lettered?after=${'9'.repeat(5_000)}`],
    ['/v1/operations/orphan-callbacks?after=-1'],
    ['/v1/operations/orphan-callbacks?after=99999999999999999999'],
    ['/v1/operations/orphan-callbacks?after=01'],
    ['/v1/operations/orphan-callbacks?provider=airtel'],
    ['/v1/operations/orphan-callbacks?limit=abc'],
  ])('when %s is asked, then it is refused as QUERY_INVALID', async (path) => {
    const res = await request(api.app).get(path).set('authorization', await bearer(a.organisationId, 'admin'));
    expect({ status: res.status, code: res.body.error?.code }).toEqual({ status: 400, code: 'QUERY_INVALID' });
  });

  it('when orphan callbacks are listed, then each organisation sees those of the providers serving it, without body, a number in a dedupe key masked', async () => {
    const orphan = async (provider: string, key: string, authenticated: boolean) =>
      sql`INSERT INTO callbacks (provider, scope, authenticated, dedupe_key, payout_id, raw_body_enc) VALUES (${provider}, 'result', ${authenticated}, ${key}, NULL, ${Buffer.from('sealed')})`.execute(api.database.db);
    await orphan('mpesa', 'ORPHAN-MPESA-1', true);
    await orphan('airtel', 'ORPHAN-AIRTEL-254722000031', false);
    const ofA = await request(api.app).get('/v1/operations/orphan-callbacks').set('authorization', await bearer(a.organisationId, 'auditor'));
    expect(ofA.status).toBe(200);
    expect(ofA.body.providers).toEqual(['gsma', 'mpesa']);
    expect((ofA.body.orphans as { dedupeKey: string }[]).map((o) => o.dedupeKey)).toEqual(['ORPHAN-MPESA-1']);
    const ofB = await request(api.app).get('/v1/operations/orphan-callbacks').set('authorization', await bearer(b.organisationId, 'admin'));
    expect(ofB.body.providers).toEqual(['airtel', 'gsma']);
    expect(ofB.body.orphans).toEqual([expect.objectContaining({ provider: 'airtel', authenticated: false, dedupeKey: 'ORPHAN-AIRTEL-25••••••••31' })]);
    expect(ofB.text).not.toMatch(/722000031|sealed/);
    // A page of one: its next starts after it.
    const one = await request(api.app).get('/v1/operations/orphan-callbacks?limit=1').set('authorization', await bearer(a.organisationId, 'admin'));
    expect(one.body.next).toBe(one.body.orphans[0].id);
    const after = await request(api.app).get(`/v1/operations/orphan-callbacks?after=${one.body.next as string}`).set('authorization', await bearer(a.organisationId, 'admin'));
    expect(after.body.orphans).toEqual([]);
  });
});

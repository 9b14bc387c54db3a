// Unauthenticated callback intake is bounded (issue #19 item 7): where every Airtel account signs,
// an unsigned callback is refused; an unsigned one naming no payout we know is small, within a
// per-address budget (429 beyond it), and purged after its retention; nothing refused is stored.
// Real PostgreSQL.
import { sql } from 'kysely';
import request from 'supertest';
import { sourceBudget, sourceBudgetSourcesMax } from '../../src/adapters/http/callback-auth.js';
import { purgeUnauthenticatedOrphans } from '../../src/application/record-callback.js';
import { startTestApi, type TestApi } from '../support/api.js';

const airtelBody = (id: string, padding = 0) => JSON.stringify({ transaction: { id, message: 'x'.repeat(padding), status_code: 'TS', airtel_money_id: 'MP210603.1234.L06941' } });
const callbacks = async (api: TestApi) => Number((await sql<{ n: string }>`SELECT count(*)::text AS n FROM callbacks`.execute(api.database.db)).rows[0]!.n);
const post = (api: TestApi, body: string, headers: Record<string, string> = {}) => request(api.app).post('/v1/callbacks/airtel').set('content-type', 'application/json').set(headers).send(body);

describe('where every Airtel account signs its callbacks', () => {
  let api: TestApi;
  beforeAll(async () => (api = await startTestApi({ unsignedCallbacksAccepted: () => false })));
  afterAll(async () => api?.close());

  it('when a callback comes unsigned, or signed with nothing we know, then 401 and nothing is stored', async () => {
    for (const headers of [{}, { hash: 'bm90LWEtc2lnbmF0dXJl' }] as Record<string, string>[]) {
      const res = await post(api, airtelBody('ORPHAN0000000000000000000000000A'), headers);
      expect({ status: res.status, code: res.body.error?.code }).toEqual({ status: 401, code: 'CALLBACK_UNAUTHENTICATED' });
    }
    expect(await callbacks(api)).toBe(0);
  });
});

describe('unsigned callbacks naming no payout we know', () => {
  let api: TestApi;
  let clock = 0;
  beforeAll(async () => (api = await startTestApi({ unsignedOrphanBudget: sourceBudget({ requests: 3, bytes: 2_000, windowMs: 60_000, now: () => clock }) })));
  afterAll(async () => api?.close());

  it('when one is larger than 4 KiB, then 413 and nothing is stored', async () => {
    const res = await post(api, airtelBody('ORPHAN0000000000000000000000000B', 5_000));
    expect({ status: res.status, code: res.body.error?.code }).toEqual({ status: 413, code: 'REQUEST_TOO_LARGE' });
    expect(await callbacks(api)).toBe(0);
  });

  it('when an address sends more than its budget, then 429 with Retry-After and nothing more is stored, until its window passes', async () => {
    clock = 1_000_000;
    const before = await callbacks(api);
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await post(api, airtelBody(`ORPHANBUDGET00000000000000000${i}`))).status);
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
    const refused = await post(api, airtelBody('ORPHANBUDGET000000000000000009'));
    expect({ status: refused.status, code: refused.body.error?.code, retryAfter: refused.headers['retry-after'] }).toEqual({ status: 429, code: 'RATE_LIMITED', retryAfter: '60' });
    expect(await callbacks(api)).toBe(before + 3);
    clock += 60_000;
    expect((await post(api, airtelBody('ORPHANBUDGET000000000000000010'))).status).toBe(200);
  });

  it('when an address sends more bytes than its budget, then 429 although it sent few callbacks', async () => {
    clock = 2_000_000;
    expect((await post(api, airtelBody('ORPHANBYTES0000000000000000001', 1_500))).status).toBe(200);
    expect((await post(api, airtelBody('ORPHANBYTES0000000000000000002', 600))).status).toBe(429);
  });

  it('when orphans pass their retention, then they are purged, and an authenticated orphan is kept', async () => {
    await sql`UPDATE callbacks SET received_at = now() - interval '40 days'`.execute(api.database.db);
    const kept = await sql<{ id: string }>`
      INSERT INTO callbacks (provider, scope, authenticated, dedupe_key, payout_id, raw_body_enc, received_at)
      VALUES ('mpesa', 't:authentic', true, 'authentic-orphan', NULL, '\\x00', now() - interval '40 days') RETURNING id::text`.execute(api.database.db);
    const old = await callbacks(api);
    const purged = await purgeUnauthenticatedOrphans(api.persistence, 30 * 86_400_000, new Date());
    expect(purged).toBe(old - 1);
    const left = await sql<{ id: string }>`SELECT id::text FROM callbacks`.execute(api.database.db);
    expect(left.rows).toEqual(kept.rows);
    expect(await purgeUnauthenticatedOrphans(api.persistence, 30 * 86_400_000, new Date())).toBe(0);
  });
});

describe('sourceBudget', () => {
  it('when its bounds are outside the named maxima, then it is refused at construction', () => {
    expect(() => sourceBudget({ requests: 0, bytes: 1, windowMs: 60_000 })).toThrow();
    expect(() => sourceBudget({ requests: 1, bytes: 0, windowMs: 60_000 })).toThrow();
    expect(() => sourceBudget({ requests: 1, bytes: 1, windowMs: 10 })).toThrow();
    expect(() => sourceBudget({ requests: 1.5, bytes: 1, windowMs: 60_000 })).toThrow();
  });

  it('when more addresses than it tracks send, then the oldest window is forgotten and memory stays bounded', () => {
    const budget = sourceBudget({ requests: 1, bytes: 100, windowMs: 60_000, now: () => 0 });
    expect(budget.take('first', 1)).toBe(true);
    expect(budget.take('first', 1)).toBe(false);
    for (let i = 0; i < sourceBudgetSourcesMax; i++) budget.take(`source-${i}`, 1);
    // Forgotten: a fresh window (a flood of addresses buys each one request, no more).
    expect(budget.take('first', 1)).toBe(true);
  });
});

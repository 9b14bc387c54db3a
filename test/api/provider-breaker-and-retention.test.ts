// A provider account's breaker by hand and the programmes past their retention (issue #15 items 2
// and 3), over HTTP on the real PostgreSQL: an admin holds an account of the organisation open and
// closes it, each change one system event of the account that the organisation's auditors read
// (another organisation's do not, unless the account serves it too); a hold again is a replay;
// malformed, hostile and oversized bodies and another organisation's account change nothing. The
// programmes past their retention are listed for two admins to erase, and nothing is erased by it.
import { sql } from 'kysely';
import request from 'supertest';
import { breakerHoldStore } from '../../src/adapters/db/breaker-hold.repository.js';
import { erasureStore } from '../../src/adapters/db/erasure.repository.js';
import { verifyAuditLog } from '../../src/application/audit.js';
import type { StatementAccount } from '../../src/application/import-reconciliation.js';
import { registerProgramme } from '../../src/application/setup.js';
import { bearer, startTestApi, type TestApi } from '../support/api.js';
import { batchDocument, kenyanPayout, setUpProgramme, sign, type Scenario } from '../support/fixtures.js';

type Accounts = Record<string, Omit<StatementAccount, 'statementFormat'>>;
const accounts: Accounts = {};
let api: TestApi;
let a: Scenario;
let b: Scenario;

beforeAll(async () => {
  api = await startTestApi({ statementAccounts: accounts });
  a = await setUpProgramme(api.persistence, 1_000_00n);
  b = await setUpProgramme(api.persistence, 1_000_00n);
  accounts['mpesa-a'] = { currency: 'KES', programmes: [a.programmeId] };
  accounts['mpesa-b'] = { currency: 'KES', programmes: [b.programmeId] };
  accounts['mpesa-shared'] = { currency: 'KES', programmes: '*' };
}, 60_000);
afterAll(async () => api?.close());

const counts = async () => {
  const r = await sql<{ holds: number; events: number }>`SELECT (SELECT count(*) FROM provider_account_holds)::int AS holds, (SELECT count(*) FROM audit_events)::int AS events`.execute(api.database.db);
  return r.rows[0]!;
};
const put = async (account: string, body: string | Buffer, who = 'admin', organisationId = a.organisationId) =>
  request(api.app).put(`/v1/provider-accounts/${account}/breaker`).set('authorization', await bearer(organisationId, who)).set('content-type', 'application/json').send(body);

describe('a provider account\'s breaker by hand', () => {
  it('when an admin holds an account open, holds it again and closes it, then each change is one system event of the account, a replay none, and the auditors of the organisations it serves read them', async () => {
    const before = await counts();
    const held = await put('mpesa-a', JSON.stringify({ state: 'open', reason: 'M-Pesa maintenance tonight, call +254 722 000 031' }));
    expect(held.status).toBe(200);
    expect(held.body).toMatchObject({ accountId: 'mpesa-a', hold: 'held_open', replayed: false, lastChange: { state: 'open', setBy: 'admin-person', byThisOrganisation: true, revision: '1' } });
    const again = await put('mpesa-a', JSON.stringify({ state: 'open', reason: 'another reason' }));
    expect(again.body).toMatchObject({ hold: 'held_open', replayed: true, lastChange: { revision: '1' } });
    const closed = await put('mpesa-a', JSON.stringify({ state: 'closed', reason: 'maintenance over' }));
    expect(closed.body).toMatchObject({ hold: 'automatic', replayed: false, lastChange: { state: 'closed', revision: '2' } });
    expect(await counts()).toEqual({ holds: before.holds + 1, events: before.events + 2 });

    const events = await sql<{ organisation_id: string | null; actor: string; action: string; object_type: string; object_id: string; detail: Record<string, string> }>`
      SELECT organisation_id, actor, action, object_type, object_id, detail FROM audit_events WHERE object_id = 'mpesa-a' ORDER BY audit_events.seq`.execute(api.database.db);
    expect(events.rows.map((e) => [e.action, e.organisation_id, e.actor, e.object_type, e.detail.organisationId, e.detail.wasHeld, e.detail.revision])).toEqual([
      ['breaker.hold', null, 'admin-person', 'provider_account', a.organisationId, 'false', '1'],
      ['breaker.release', null, 'admin-person', 'provider_account', a.organisationId, 'true', '2'],
    ]);
    // A number typed into the reason is not kept in the audit log.
    expect(JSON.stringify(events.rows)).not.toMatch(/722 000 031/);

    const read = async (organisationId: string) => (await request(api.app).get('/v1/audit?limit=500').set('authorization', await bearer(organisationId, 'auditor'))).body.events as { action: string; object: { id: string }; organisationId: string | null }[];
    expect((await read(a.organisationId)).filter((e) => e.object.id === 'mpesa-a').map((e) => [e.action, e.organisationId])).toEqual([['breaker.hold', null], ['breaker.release', null]]);
    expect((await read(b.organisationId)).some((e) => e.object.id === 'mpesa-a')).toBe(false);

    // The auditor reads the hold; another organisation's admin does not find the account.
    const seen = await request(api.app).get('/v1/provider-accounts/mpesa-a/breaker').set('authorization', await bearer(a.organisationId, 'auditor'));
    expect(seen.body).toMatchObject({ accountId: 'mpesa-a', hold: 'automatic', lastChange: { state: 'closed', reason: 'maintenance over' } });
    expect((await request(api.app).get('/v1/provider-accounts/mpesa-a/breaker').set('authorization', await bearer(b.organisationId, 'admin'))).status).toBe(404);
    expect((await verifyAuditLog(api.persistence)).ok).toBe(true);
  });

  it('when an account serves every programme, then an admin of either organisation may hold it; the other sees that it is held, not by whom, and reads the event', async () => {
    expect((await put('mpesa-shared', JSON.stringify({ state: 'open', reason: 'shared outage' }), 'admin', b.organisationId)).status).toBe(200);
    const seenByA = await request(api.app).get('/v1/provider-accounts/mpesa-shared/breaker').set('authorization', await bearer(a.organisationId, 'admin'));
    expect(seenByA.body).toMatchObject({ hold: 'held_open', lastChange: { setBy: null, byThisOrganisation: false } });
    const eventsOfA = (await request(api.app).get('/v1/audit?limit=500').set('authorization', await bearer(a.organisationId, 'admin'))).body.events as { action: string; object: { id: string } }[];
    expect(eventsOfA.filter((e) => e.object.id === 'mpesa-shared').map((e) => e.action)).toEqual(['breaker.hold']);
    expect((await put('mpesa-shared', JSON.stringify({ state: 'closed', reason: 'back' }), 'admin', a.organisationId)).body.hold).toBe('automatic');
    expect((await breakerHoldStore(api.database.db).get('mpesa-shared'))).toMatchObject({ held: false, organisationId: a.organisationId, revision: 2n });
  });

  const hostileBodies: [string, string | Buffer, number, string][] = [
    ['not JSON', 'state=open', 400, 'REQUEST_MALFORMED'],
    ['a member twice', '{"state":"open","state":"closed","reason":"x"}', 400, 'REQUEST_MALFORMED'],
    ['an array', '[]', 422, 'BREAKER_REQUEST_INVALID'],
    ['null', 'null', 400, 'REQUEST_MALFORMED'],
    ['a string', '"open"', 400, 'REQUEST_MALFORMED'],
    ['a state in capitals', '{"state":"OPEN","reason":"x"}', 422, 'BREAKER_REQUEST_INVALID'],
    ['a numeric state', '{"state":1,"reason":"x"}', 422, 'BREAKER_REQUEST_INVALID'],
    ['no reason', '{"state":"open"}', 422, 'BREAKER_REQUEST_INVALID'],
    ['an empty reason', '{"state":"open","reason":"   "}', 422, 'BREAKER_REQUEST_INVALID'],
    ['a reason of 501 characters', JSON.stringify({ state: 'open', reason: 'x'.repeat(501) }), 422, 'BREAKER_REQUEST_INVALID'],
    ['a NUL in the reason', JSON.stringify({ state: 'open', reason: 'a\u0000b' }), 422, 'BREAKER_REQUEST_INVALID'],
    ['a lone surrogate in the reason', '{"state":"open","reason":"a\\ud800b"}', 422, 'BREAKER_REQUEST_INVALID'],
    ['an object as reason', '{"state":"open","reason":{"$ne":1}}', 422, 'BREAKER_REQUEST_INVALID'],
    ['another member', '{"state":"open","reason":"x","accountId":"mpesa-b"}', 422, 'BREAKER_REQUEST_INVALID'],
    ['a prototype member', '{"state":"open","reason":"x","__proto__":{"held":true}}', 422, 'BREAKER_REQUEST_INVALID'],
    ['deep nesting', `{"state":"open","reason":${'['.repeat(2000)}${']'.repeat(2000)}}`, 422, 'BREAKER_REQUEST_INVALID'],
    ['a body over 4 KiB', JSON.stringify({ state: 'open', reason: 'x', pad: 'y'.repeat(5_000) }), 413, 'REQUEST_TOO_LARGE'],
  ];

  it.each(hostileBodies)('when the body is %s, then it is refused with its code and nothing changes', async (_what, body, status, code) => {
    const before = await counts();
    const res = await put('mpesa-a', body);
    expect({ status: res.status, code: res.body.error?.code }).toEqual({ status, code });
    expect(await counts()).toEqual(before);
  });

  it.each([
    ['another organisation\'s account', 'mpesa-b'],
    ['an account nobody configured', 'mpesa-zz'],
    ['SQL in the id', encodeURIComponent("mpesa-a' OR '1'='1")],
    ['an RTL override in the id', encodeURIComponent('mpesa-\u202ea')],
    ['a homoglyph in the id', encodeURIComponent('mpеsa-a')],
    ['a NUL in the id', '%00'],
    ['a 300-character id', 'a'.repeat(300)],
  ])('when the path names %s, then it is not found, whatever the body, and nothing changes', async (_what, account) => {
    const before = await counts();
    for (const body of [JSON.stringify({ state: 'open', reason: 'x' }), '[]']) {
      const res = await put(account, body);
      expect({ status: res.status, code: res.body.error?.code }).toEqual({ status: 404, code: 'NOT_FOUND' });
    }
    expect(await counts()).toEqual(before);
  });

  it('when a role other than admin changes a breaker, then it is forbidden', async () => {
    for (const role of ['auditor', 'finance', 'programme_manager', 'approver']) {
      expect((await put('mpesa-a', JSON.stringify({ state: 'open', reason: 'x' }), role)).status).toBe(403);
    }
  });
});

describe('programmes past their retention', () => {
  async function submitted(s: Scenario): Promise<string> {
    const document = batchDocument(s, [kenyanPayout('ret-1')]);
    const res = await request(api.app).post('/v1/batches').set('authorization', await bearer(s.organisationId, 'programme_manager'))
      .set('content-type', 'application/jose+json').send(JSON.stringify(await sign(document, s.maker)));
    expect(res.status).toBe(201);
    return document.batchId;
  }

  it('when a programme\'s retention has passed, then it is listed for its organisation with the next step and counted; asking moves it to awaiting confirmation; nothing is erased', async () => {
    const old = await setUpProgramme(api.persistence, 1_000_00n);
    const batchId = await submitted(old);
    const admin = await bearer(old.organisationId, 'admin');
    // Cancelled: nothing of the programme is in flight any more, so its erasure can be asked for.
    expect((await request(api.app).post(`/v1/batches/${batchId}/cancel`).set('authorization', admin).send({ reason: 'not needed' })).status).toBe(200);
    expect((await request(api.app).put(`/v1/programmes/${old.programmeId}/retention`).set('authorization', admin).send({ days: 30 })).status).toBe(200);
    const store = erasureStore(api.database.db);
    const countBefore = await store.countPastRetention(new Date());
    const list = async (org = old.organisationId, role = 'auditor') => request(api.app).get('/v1/programmes/retention-due').set('authorization', await bearer(org, role));
    expect((await list()).body).toEqual({ programmes: [], next: null });

    await sql`UPDATE batches SET updated_at = now() - interval '31 days' WHERE id = ${batchId}::uuid`.execute(api.database.db);
    const due = await list();
    expect(due.status).toBe(200);
    expect(due.body.programmes).toEqual([{ programmeId: old.programmeId, retentionDays: 30, lastActivityAt: expect.any(String), dueAt: expect.any(String), erasure: 'not_requested' }]);
    expect(new Date(due.body.programmes[0].dueAt).getTime() - new Date(due.body.programmes[0].lastActivityAt).getTime()).toBe(30 * 86_400_000);
    expect(await store.countPastRetention(new Date())).toBe(countBefore + 1);
    // Another organisation does not see it.
    expect((await list(b.organisationId)).body.programmes).toEqual([]);

    expect((await request(api.app).post(`/v1/programmes/${old.programmeId}/erasure`).set('authorization', admin).send({ reason: 'retention over' })).status).toBe(201);
    expect((await list(old.organisationId, 'admin')).body.programmes[0].erasure).toBe('awaiting_confirmation');
    const programme = await sql<{ erased_at: Date | null; keys: number }>`SELECT erased_at, (SELECT count(*) FROM data_keys WHERE programme_id = ${old.programmeId})::int AS keys FROM programmes WHERE id = ${old.programmeId}`.execute(api.database.db);
    expect(programme.rows[0]).toEqual({ erased_at: null, keys: 1 });
  });

  it('when there are more than a page, then the pages follow one another by id and end', async () => {
    const org = await setUpProgramme(api.persistence, 0n);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const programmeId = `${org.programmeId}-${i}`;
      // Approvals needed: the batch waits for them (no money is reserved), and is activity all the same.
      await registerProgramme(api.persistence, { id: programmeId, organisationId: org.organisationId, name: `p${i}`, currency: 'KES', approvalsRequired: 1 });
      const batchId = await submitted({ ...org, programmeId });
      await sql`UPDATE programmes SET retention_days = 1 WHERE id = ${programmeId}`.execute(api.database.db);
      await sql`UPDATE batches SET updated_at = now() - interval '2 days' WHERE id = ${batchId}::uuid`.execute(api.database.db);
      ids.push(programmeId);
    }
    const auditor = await bearer(org.organisationId, 'auditor');
    const seen: string[] = [];
    let after: string | null = null;
    for (let i = 0; i < 10; i++) {
      const res: request.Response = await request(api.app).get(`/v1/programmes/retention-due?limit=2${after ? `&after=${encodeURIComponent(after)}` : ''}`).set('authorization', auditor);
      expect(res.status).toBe(200);
      seen.push(...res.body.programmes.map((p: { programmeId: string }) => p.programmeId));
      if (!res.body.next) break;
      after = res.body.next;
    }
    // The organisation's own programme has no retention: it is not listed.
    expect(seen).toEqual(ids);
  });

  it.each(['limit=0', 'limit=501', 'limit=abc', 'limit=1e2', 'after=', 'after=a%20b', `after=${'a'.repeat(65)}`, 'after=x&after=y', 'after=%00'])('when the query is %s, then it is refused 400 QUERY_INVALID', async (query) => {
    const res = await request(api.app).get(`/v1/programmes/retention-due?${query}`).set('authorization', await bearer(a.organisationId, 'admin'));
    expect({ status: res.status, code: res.body.error?.code }).toEqual({ status: 400, code: 'QUERY_INVALID' });
  });
});

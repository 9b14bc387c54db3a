// What operators read through the API (issue #16 item 6), over HTTP on the real PostgreSQL:
// GET /v1/operations/providers lists the provider accounts serving a programme of the caller's
// organisation (never another organisation's), each with its hold and what each worker last wrote
// of its own breaker to the audit log; malformed, hostile and oversized queries are refused.
import { pino } from 'pino';
import request from 'supertest';
import type { StatementAccount } from '../../src/application/import-reconciliation.js';
import { breakerAuditor } from '../../src/application/system-audit.js';
import { bearer, startTestApi, type TestApi } from '../support/api.js';
import { setUpProgramme, type Scenario } from '../support/fixtures.js';

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

// Administrators set a programme's policy; everyone in the organisation can read it.
import request from 'supertest';
import { bearer, startTestApi, type TestApi } from '../support/api.js';
import { setUpProgramme, type Scenario } from '../support/fixtures.js';

let api: TestApi;
let s: Scenario;
beforeAll(async () => {
  api = await startTestApi();
  s = await setUpProgramme(api.persistence, 0n);
});
afterAll(async () => api?.close());

const path = () => `/v1/programmes/${s.programmeId}/policy`;
const policy = { approvals: [{ fromTotal: '0', approvers: 1 }, { fromTotal: '25000.00', approvers: 2 }], providers: ['mpesa'], payoutMax: '50000.00', rowErrors: 'accept_valid_rows' };

it('when an admin sets the policy, then every role of the organisation reads it back the same', async () => {
  const put = await request(api.app).put(path()).set('authorization', await bearer(s.organisationId, 'admin')).send(policy);
  expect(put.status).toBe(200);
  expect(put.body).toEqual(policy);
  for (const role of ['programme_manager', 'approver', 'finance', 'auditor']) {
    const get = await request(api.app).get(path()).set('authorization', await bearer(s.organisationId, role));
    expect(get.body).toEqual(policy);
  }
});

it('when a new programme is read, then its default policy is the registered approvals, M-Pesa, no maximum, reject_batch', async () => {
  const t = await setUpProgramme(api.persistence, 0n);
  const get = await request(api.app).get(`/v1/programmes/${t.programmeId}/policy`).set('authorization', await bearer(t.organisationId, 'auditor'));
  expect(get.body).toEqual({ approvals: [{ fromTotal: '0', approvers: 0 }], providers: ['mpesa'], payoutMax: null, rowErrors: 'reject_batch' });
});

it.each([
  ['tiers not starting at 0', { ...policy, approvals: [{ fromTotal: '10.00', approvers: 1 }] }],
  ['an amount with cents beyond KES', { ...policy, payoutMax: '1.001' }],
  ['an unknown provider', { ...policy, providers: ['venmo'] }],
  ['a missing approvals list', { providers: ['mpesa'] }],
  ['an array body', [policy]],
])('when the policy has %s, then 422 POLICY_INVALID and the stored policy is unchanged', async (_name, body) => {
  const before = (await request(api.app).get(path()).set('authorization', await bearer(s.organisationId, 'admin'))).body;
  const res = await request(api.app).put(path()).set('authorization', await bearer(s.organisationId, 'admin')).set('content-type', 'application/json').send(JSON.stringify(body));
  expect({ status: res.status, code: res.body.error?.code }).toEqual({ status: 422, code: 'POLICY_INVALID' });
  expect((await request(api.app).get(path()).set('authorization', await bearer(s.organisationId, 'admin'))).body).toEqual(before);
});

it.each([['{"approvals": ['], ['"two approvers please"']])('when the body is %s (not a JSON object), then 400 REQUEST_MALFORMED', async (body) => {
  const res = await request(api.app).put(path()).set('authorization', await bearer(s.organisationId, 'admin')).set('content-type', 'application/json').send(body);
  expect({ status: res.status, code: res.body.error?.code }).toEqual({ status: 400, code: 'REQUEST_MALFORMED' });
});

it('when a programme manager sets it, then 403; another organisation, then 404; nobody, then 401', async () => {
  expect((await request(api.app).put(path()).set('authorization', await bearer(s.organisationId, 'programme_manager')).send(policy)).status).toBe(403);
  expect((await request(api.app).put(path()).set('authorization', await bearer('org-elsewhere', 'admin')).send(policy)).status).toBe(404);
  expect((await request(api.app).get(path()).set('authorization', await bearer('org-elsewhere', 'auditor'))).status).toBe(404);
  expect((await request(api.app).get(path())).status).toBe(401);
});

// Privileged actions append their audit event in their own transaction (issue #15 item 2, built on
// the core of issue #14 item 6): a signer key registered and revoked, a programme policy set, a
// batch cancelled, a held payout decided. Each event names the actor, the organisation, the request
// id and the object; a replay or a refusal writes none; the chain verifies. Real PostgreSQL.
import { sql } from 'kysely';
import request from 'supertest';
import { verifyAuditLog } from '../../src/application/audit.js';
import { bearer, startTestApi, type TestApi } from '../support/api.js';
import { batchDocument, setUpProgramme, sign, type Scenario } from '../support/fixtures.js';
import { exportJWK, generateKeyPair } from 'jose';

let api: TestApi;
let s: Scenario;
beforeAll(async () => {
  api = await startTestApi();
  s = await setUpProgramme(api.persistence, 1_000_00n);
});
afterAll(async () => api?.close());

interface Row { organisation_id: string; actor: string; request_id: string | null; action: string; object_id: string; detail: Record<string, string> }
const events = async () => (await sql<Row>`SELECT organisation_id, actor, request_id, action, object_id, detail FROM audit_events ORDER BY seq`.execute(api.database.db)).rows;

it('when an admin registers and revokes a key, sets a policy, and a batch is cancelled, then each is one audit event with its request id, replays and refusals none, and the chain verifies', async () => {
  const admin = await bearer(s.organisationId, 'admin');
  const { publicKey } = await generateKeyPair('ES256', { extractable: true });
  const key = { role: 'maker', alg: 'ES256', publicJwk: await exportJWK(publicKey), holder: 'admin-person' };
  const before = (await events()).length;

  const registered = await request(api.app).post('/v1/signer-keys').set('authorization', admin).set('x-request-id', 'req-register-1').send(key);
  expect(registered.status).toBe(201);
  // The same registration again is a replay: no second event.
  expect((await request(api.app).post('/v1/signer-keys').set('authorization', admin).send(key)).status).toBe(200);
  const kid = registered.body.kid as string;
  expect((await request(api.app).post(`/v1/signer-keys/${kid}/revoke`).set('authorization', admin).set('x-request-id', 'req-revoke-1').send({})).status).toBe(200);
  const policy = { approvals: [{ fromTotal: '0', approvers: 0 }], providers: ['mpesa'], payoutMax: '50000.00', rowErrors: 'reject_batch' };
  expect((await request(api.app).put(`/v1/programmes/${s.programmeId}/policy`).set('authorization', admin).set('x-request-id', 'req-policy-1').send(policy)).status).toBe(200);
  // A refused policy writes nothing.
  expect((await request(api.app).put(`/v1/programmes/${s.programmeId}/policy`).set('authorization', admin).send({ approvals: 'many' })).status).toBe(422);
  const document = batchDocument(s, [{ ref: 'a-1', provider: 'mpesa', msisdn: '+254722000031', amount: '10.00' }]);
  expect((await request(api.app).post('/v1/batches').set('authorization', await bearer(s.organisationId, 'programme_manager')).set('x-request-id', 'req-submit-1')
    .set('content-type', 'application/jose+json').send(JSON.stringify(await sign(document, s.maker)))).status).toBe(201);
  // Donor money recorded by finance; the same key again is a replay and writes no second event.
  const funding = { source: 'echo-2026', amount: '250.00', currency: 'KES', reference: 'grant-7' };
  const fund = () => request(api.app).post(`/v1/programmes/${s.programmeId}/fundings`).set('authorization', admin).set('idempotency-key', 'tranche-1').set('x-request-id', 'req-fund-1').send(funding);
  expect((await fund()).status).toBe(201);
  expect((await fund()).status).toBe(200);
  const cancel = await request(api.app).post(`/v1/batches/${document.batchId}/cancel`).set('authorization', admin).set('x-request-id', 'req-cancel-1')
    .set('content-type', 'application/json').send(JSON.stringify({ reason: 'call +254722000031 first' }));
  expect(cancel.status).toBe(200);

  const written = (await events()).slice(before);
  expect(written.map((e) => [e.action, e.request_id, e.actor, e.organisation_id])).toEqual([
    ['signer_key.register', 'req-register-1', 'admin-person', s.organisationId],
    ['signer_key.revoke', 'req-revoke-1', 'admin-person', s.organisationId],
    ['programme.policy', 'req-policy-1', 'admin-person', s.organisationId],
    // No approval needed: the submission released the batch.
    ['batch.release', 'req-submit-1', 'programme_manager-person', s.organisationId],
    ['funding.record', 'req-fund-1', 'admin-person', s.organisationId],
    ['batch.cancel', 'req-cancel-1', 'admin-person', s.organisationId],
  ]);
  expect(written[4]).toMatchObject({ object_id: s.programmeId, detail: { amount: '250.00', currency: 'KES', source: 'echo-2026', idempotencyKey: 'tranche-1' } });
  expect(written[0]).toMatchObject({ object_id: kid, detail: { role: 'maker', alg: 'ES256' } });
  expect(written[2]!.object_id).toBe(s.programmeId);
  expect(written[5]).toMatchObject({ object_id: document.batchId, detail: { payoutsCancelled: '1', amount: '10.00' } });
  // A number typed into a free-text reason is not kept in the audit log.
  expect(JSON.stringify(written)).not.toMatch(/254722000031/);
  expect((await verifyAuditLog(api.persistence)).ok).toBe(true);
});

it('when an auditor reads the audit log, then it is the organisation\'s own events, oldest first, a page at a time; others may not read it', async () => {
  const auditor = await bearer(s.organisationId, 'auditor');
  const first = await request(api.app).get('/v1/audit?limit=2').set('authorization', auditor);
  expect(first.status).toBe(200);
  expect(first.body.events).toHaveLength(2);
  expect(first.body.events[0]).toMatchObject({ organisationId: s.organisationId, action: 'signer_key.register', object: { type: 'signer_key' }, prevHash: null }); // the first event of this database's chain
  const rest = await request(api.app).get(`/v1/audit?after=${first.body.next}&limit=500`).set('authorization', auditor);
  const all = [...first.body.events, ...rest.body.events];
  expect(all.every((e: { organisationId: string }) => e.organisationId === s.organisationId)).toBe(true);
  expect(all.map((e: { seq: string }) => BigInt(e.seq))).toEqual([...all.map((e: { seq: string }) => BigInt(e.seq))].sort((a, b) => (a < b ? -1 : 1)));
  const other = await setUpProgramme(api.persistence, 0n);
  expect((await request(api.app).get('/v1/audit').set('authorization', await bearer(other.organisationId, 'auditor'))).body.events).toEqual([]);
  expect((await request(api.app).get('/v1/audit').set('authorization', await bearer(s.organisationId, 'finance'))).status).toBe(403);
  for (const query of ['limit=0', 'limit=501', 'after=x', 'after=1&after=2']) {
    expect({ query, status: (await request(api.app).get(`/v1/audit?${query}`).set('authorization', auditor)).status }).toEqual({ query, status: 400 });
  }
});

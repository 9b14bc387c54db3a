// Privileged actions append their audit event in their own transaction (issue #15 item 2, built on
// the core of issue #14 item 6): a signer key registered and revoked, a programme policy set, a
// batch cancelled, a held payout decided. Each event names the actor, the organisation, the request
// id and the object; a replay or a refusal writes none; the chain verifies. Real PostgreSQL.
import { sql } from 'kysely';
import request from 'supertest';
import { verifyAuditLog } from '../../src/application/audit.js';
import { bearer, postJson, startTestApi, type TestApi } from '../support/api.js';
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
  expect((await postJson(api.app, '/v1/batches', await bearer(s.organisationId, 'programme_manager'), await sign(document, s.maker))).status).toBe(201);
  const cancel = await request(api.app).post(`/v1/batches/${document.batchId}/cancel`).set('authorization', admin).set('x-request-id', 'req-cancel-1')
    .set('content-type', 'application/json').send(JSON.stringify({ reason: 'call +254722000031 first' }));
  expect(cancel.status).toBe(200);

  const written = (await events()).slice(before);
  expect(written.map((e) => [e.action, e.request_id, e.actor, e.organisation_id])).toEqual([
    ['signer_key.register', 'req-register-1', 'admin-person', s.organisationId],
    ['signer_key.revoke', 'req-revoke-1', 'admin-person', s.organisationId],
    ['programme.policy', 'req-policy-1', 'admin-person', s.organisationId],
    ['batch.cancel', 'req-cancel-1', 'admin-person', s.organisationId],
  ]);
  expect(written[0]).toMatchObject({ object_id: kid, detail: { role: 'maker', alg: 'ES256' } });
  expect(written[2]!.object_id).toBe(s.programmeId);
  expect(written[3]).toMatchObject({ object_id: document.batchId, detail: { payoutsCancelled: '1', amount: '10.00' } });
  // A number typed into a free-text reason is not kept in the audit log.
  expect(JSON.stringify(written)).not.toMatch(/254722000031/);
  expect((await verifyAuditLog(api.persistence)).ok).toBe(true);
});

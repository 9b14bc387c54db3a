// A 100,000-payout batch at integration level (not timed: bench:ingest measures it): signed,
// submitted over HTTP, stored in chunks in one transaction, approved, committed to the cent, then
// cancelled with its money released in chunked journals. Real PostgreSQL.
import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import request from 'supertest';
import { pino } from 'pino';
import { FlattenedSign } from 'jose';
import { AesGcmVault } from '../../src/adapters/crypto/vault.js';
import { kyselyPersistence } from '../../src/adapters/db/persistence.js';
import { createApp } from '../../src/adapters/http/app.js';
import { createAuthenticator } from '../../src/adapters/http/auth.js';
import type { Persistence } from '../../src/application/ports.js';
import { registerSignerKey } from '../../src/application/setup.js';
import { testAuthConfig, tokenFor } from '../support/auth.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { batchDocument, newKey, setUpProgramme, sign, type PayoutLine } from '../support/fixtures.js';

const payouts = 100_000;
let database: TestDatabase;
let persistence: Persistence;

beforeAll(async () => {
  database = await createTestDatabase();
  persistence = kyselyPersistence(database.db, database.pool);
});
afterAll(async () => database?.drop());

it('when a 100,000-payout batch is submitted, approved and cancelled, then every payout is stored, committed and released to the cent', async () => {
  const amountOf = (i: number) => 100 + (i % 900);
  let totalMinor = 0n;
  const rows: PayoutLine[] = Array.from({ length: payouts }, (_, i) => {
    totalMinor += BigInt(amountOf(i)) * 100n;
    return { ref: `r-${i}`, provider: 'mpesa', msisdn: `+2547${String(10_000_000 + i).padStart(8, '0')}`, amount: `${amountOf(i)}.00` };
  });
  const scenario = await setUpProgramme(persistence, totalMinor);
  await sql`UPDATE programmes SET approvals_required = 1 WHERE id = ${scenario.programmeId}`.execute(database.db);
  const approver = await newKey();
  expect((await registerSignerKey(persistence, { organisationId: scenario.organisationId, role: 'approver', alg: 'ES256', publicJwk: approver.publicJwk as Record<string, unknown>, notBefore: new Date(0), notAfter: null })).ok).toBe(true);
  const app = createApp({
    persistence,
    vault: new AesGcmVault(database.db, randomBytes(32)),
    batchPayoutsMax: payouts,
    now: () => new Date(),
    bodyMaxBytes: 64 * 1024 * 1024,
    logger: pino({ level: 'silent' }),
    readiness: async () => ({ database: true, transport: true }),
    authenticate: createAuthenticator(testAuthConfig),
  });
  const maker = `Bearer ${await tokenFor(scenario.organisationId, ['programme_manager'], { subject: 'maker' })}`;

  const document = batchDocument(scenario, rows);
  const submitted = await request(app).post('/v1/batches').set('authorization', maker).set('content-type', 'application/jose+json').send(JSON.stringify(await sign(document, scenario.maker)));
  expect(submitted.status).toBe(201);
  expect(submitted.body).toMatchObject({ state: 'awaiting_approval', payoutCount: payouts, approvals: { required: 1, received: 0 }, payouts: { accepted: { count: payouts } } });

  const bytes = Buffer.from(JSON.stringify(document));
  const { protected: prot, signature } = await new FlattenedSign(bytes).setProtectedHeader({ alg: 'ES256', kid: approver.kid }).sign(approver.privateKey);
  const approved = await request(app)
    .post(`/v1/batches/${document.batchId}/approvals`)
    .set('authorization', `Bearer ${await tokenFor(scenario.organisationId, ['approver'], { subject: 'checker' })}`)
    .set('content-type', 'application/jose+json')
    .send(JSON.stringify({ protected: prot, signature }));
  expect(approved.status).toBe(201);
  expect(approved.body).toMatchObject({ state: 'approved', payouts: { approved: { count: payouts } } });

  const committed = await sql<{ credits: string; sum: string; n: string }>`
    SELECT (SELECT credits_posted FROM accounts WHERE key = ${`batch:${document.batchId}:committed`})::text AS credits,
           (SELECT sum(amount_minor) FROM payouts WHERE batch_id = ${document.batchId})::text AS sum,
           (SELECT count(*) FROM payout_transitions t JOIN payouts p ON p.id = t.payout_id WHERE p.batch_id = ${document.batchId})::text AS n`.execute(database.db);
  expect(committed.rows[0]).toEqual({ credits: totalMinor.toString(), sum: totalMinor.toString(), n: String(2 * payouts) });

  const cancelled = await request(app).post(`/v1/batches/${document.batchId}/cancel`).set('authorization', maker);
  expect(cancelled.status).toBe(200);
  expect(cancelled.body).toMatchObject({ state: 'cancelled', cancelled: { count: payouts }, payouts: { cancelled: { count: payouts } } });
  const released = await sql<{ n: string; debits: string; available: string }>`
    SELECT (SELECT count(*) FROM transfers WHERE batch_id = ${document.batchId} AND code = 'payout_released')::text AS n,
           (SELECT debits_posted FROM accounts WHERE key = ${`batch:${document.batchId}:committed`})::text AS debits,
           (SELECT credits_posted - debits_posted FROM accounts WHERE key = ${`programme:${scenario.programmeId}:available`})::text AS available`.execute(database.db);
  expect(released.rows[0]).toEqual({ n: String(payouts), debits: totalMinor.toString(), available: totalMinor.toString() });
}, 180_000);

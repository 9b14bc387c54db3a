// A 100,000-payout batch at integration level (not timed: bench:ingest measures it): signed,
// submitted over HTTP, stored in chunks in one transaction, approved, committed to the cent, then
// cancelled with its money released in chunked journals. Real PostgreSQL.
import { sql } from 'kysely';
import request from 'supertest';
import { approval, registerKey, startTestApi, type TestApi } from '../support/api.js';
import { tokenFor } from '../support/auth.js';
import { batchDocument, setUpProgramme, sign, type PayoutLine } from '../support/fixtures.js';

const payouts = 100_000;
let api: TestApi;

beforeAll(async () => (api = await startTestApi({ batchPayoutsMax: payouts, bodyMaxBytes: 64 * 1024 * 1024 })));
afterAll(async () => api?.close());

it('when a 100,000-payout batch is submitted, approved and cancelled, then every payout is stored, committed and released to the cent', async () => {
  const amountOf = (i: number) => 100 + (i % 900);
  let totalMinor = 0n;
  const rows: PayoutLine[] = Array.from({ length: payouts }, (_, i) => {
    totalMinor += BigInt(amountOf(i)) * 100n;
    return { ref: `r-${i}`, provider: 'mpesa', msisdn: `+2547${String(10_000_000 + i).padStart(8, '0')}`, amount: `${amountOf(i)}.00` };
  });
  const { app, database } = api;
  const scenario = await setUpProgramme(api.persistence, totalMinor);
  await sql`UPDATE programmes SET approvals_required = 1 WHERE id = ${scenario.programmeId}`.execute(database.db);
  const approver = await registerKey(api.persistence, scenario.organisationId, 'approver');
  const maker = `Bearer ${await tokenFor(scenario.organisationId, ['programme_manager'], { subject: 'maker' })}`;

  const document = batchDocument(scenario, rows);
  const submitted = await request(app).post('/v1/batches').set('authorization', maker).set('content-type', 'application/jose+json').send(JSON.stringify(await sign(document, scenario.maker)));
  expect(submitted.status).toBe(201);
  expect(submitted.body).toMatchObject({ state: 'awaiting_approval', payoutCount: payouts, approvals: { required: 1, received: 0 }, payouts: { accepted: { count: payouts } } });

  const approved = await request(app)
    .post(`/v1/batches/${document.batchId}/approvals`)
    .set('authorization', `Bearer ${await tokenFor(scenario.organisationId, ['approver'], { subject: 'checker' })}`)
    .set('content-type', 'application/jose+json')
    .send(JSON.stringify(await approval(document, approver)));
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

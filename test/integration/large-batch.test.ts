// A 100,000-payout batch at integration level (not timed: bench:ingest measures it): signed,
// submitted over HTTP, sealed on the sealing thread and stored in chunks in one transaction (each
// sealed value opens to its own row's data), approved without rewriting a payout row, committed
// to the cent, then cancelled with its money released in chunked journals. Real PostgreSQL.
import { sql } from 'kysely';
import request from 'supertest';
import { approval, registerKey, startTestApi, type TestApi } from '../support/api.js';
import { tokenFor } from '../support/auth.js';
import { batchDocument, setUpProgramme, sign, type PayoutLine } from '../support/fixtures.js';

const payouts = 100_000;
const msisdnOf = (i: number) => `+2547${String(10_000_000 + i).padStart(8, '0')}`;
let api: TestApi;

beforeAll(async () => (api = await startTestApi({ batchPayoutsMax: payouts, bodyMaxBytes: 64 * 1024 * 1024 })));
afterAll(async () => api?.close());

it('when a 100,000-payout batch is submitted, approved and cancelled, then every payout is stored, committed and released to the cent', async () => {
  const amountOf = (i: number) => 100 + (i % 900);
  let totalMinor = 0n;
  const rows: PayoutLine[] = Array.from({ length: payouts }, (_, i) => {
    totalMinor += BigInt(amountOf(i)) * 100n;
    // Every third row names its beneficiary, in letters of several UTF-8 lengths.
    const name = i % 3 === 0 ? `Wanjirū Nyambura-Ødegård 𝓐 ${i}` : undefined;
    return { ref: `r-${i}`, provider: 'mpesa', msisdn: msisdnOf(i), amount: `${amountOf(i)}.00`, ...(name ? { name } : {}) };
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

  // Approval is one fact about the batch: no payout row was rewritten and no per-payout history written.
  const committed = await sql<{ credits: string; sum: string; accepted: string; transitions: string }>`
    SELECT (SELECT credits_posted FROM accounts WHERE key = ${`batch:${document.batchId}:committed`})::text AS credits,
           (SELECT sum(amount_minor) FROM payouts WHERE batch_id = ${document.batchId})::text AS sum,
           (SELECT count(*) FROM payouts WHERE batch_id = ${document.batchId} AND state = 'accepted')::text AS accepted,
           (SELECT count(*) FROM payout_transitions t JOIN payouts p ON p.id = t.payout_id WHERE p.batch_id = ${document.batchId})::text AS transitions`.execute(database.db);
  expect(committed.rows[0]).toEqual({ credits: totalMinor.toString(), sum: totalMinor.toString(), accepted: String(payouts), transitions: '0' });

  // Every sealed value was sliced from its chunk at the right place: each opens, under its own
  // payout's additional data, to its own row's number and name, and the blind index matches.
  const stored = await sql<{ id: string; row_no: number; msisdn_enc: Buffer; msisdn_hash: Buffer; name_enc: Buffer | null }>`
    SELECT id, row_no, msisdn_enc, msisdn_hash, name_enc FROM payouts WHERE batch_id = ${document.batchId} ORDER BY row_no`.execute(database.db);
  expect(stored.rows).toHaveLength(payouts);
  const wrong: number[] = [];
  for (const p of stored.rows) {
    const msisdn = (await api.vault.open(scenario.programmeId, p.id, 'msisdn', p.msisdn_enc)).toString('utf8');
    const hashed = p.msisdn_hash.equals(await api.vault.blindIndex(scenario.programmeId, msisdnOf(p.row_no)));
    const name = p.name_enc === null ? undefined : (await api.vault.open(scenario.programmeId, p.id, 'name', p.name_enc)).toString('utf8');
    if (msisdn !== msisdnOf(p.row_no) || !hashed || name !== rows[p.row_no]!.name) wrong.push(p.row_no);
  }
  expect(wrong).toEqual([]);

  const cancelled = await request(app).post(`/v1/batches/${document.batchId}/cancel`).set('authorization', maker);
  expect(cancelled.status).toBe(200);
  expect(cancelled.body).toMatchObject({ state: 'cancelled', cancelled: { count: payouts }, payouts: { cancelled: { count: payouts } } });
  const released = await sql<{ n: string; debits: string; available: string }>`
    SELECT (SELECT count(*) FROM transfers WHERE batch_id = ${document.batchId} AND code = 'payout_released')::text AS n,
           (SELECT debits_posted FROM accounts WHERE key = ${`batch:${document.batchId}:committed`})::text AS debits,
           (SELECT credits_posted - debits_posted FROM accounts WHERE key = ${`programme:${scenario.programmeId}:available`})::text AS available`.execute(database.db);
  expect(released.rows[0]).toEqual({ n: String(payouts), debits: totalMinor.toString(), available: totalMinor.toString() });
}, 180_000);

describe('a batch larger than one chunk with bad rows past the first chunk', () => {
  const rowsFor = (n: number, bad: readonly number[]): PayoutLine[] =>
    Array.from({ length: n }, (_, i) => ({ ref: `b-${i}`, provider: 'mpesa', msisdn: bad.includes(i) ? '+254200000000' : msisdnOf(i), amount: '100.00' }));

  it('when the last of 12,001 rows is bad under reject_batch, then 422 names it and the chunks already written are rolled back', async () => {
    const s = await setUpProgramme(api.persistence, 10_000_000_00n);
    const before = await api.footprint();
    const document = batchDocument(s, rowsFor(12_001, [12_000]));
    const maker = `Bearer ${await tokenFor(s.organisationId, ['programme_manager'], { subject: 'maker' })}`;
    const res = await request(api.app).post('/v1/batches').set('authorization', maker).set('content-type', 'application/jose+json').send(JSON.stringify(await sign(document, s.maker)));
    expect(res.status).toBe(422);
    expect(res.body.error).toMatchObject({ code: 'BATCH_INVALID', errors: [{ row: 12_001, field: 'msisdn', code: 'MSISDN_INVALID', message: expect.any(String) }] });
    expect(await api.footprint()).toEqual(before);
  });

  it('when rows in the first and third chunks are bad under accept_valid_rows, then the others are stored with their own count and total', async () => {
    const s = await setUpProgramme(api.persistence, 10_000_000_00n);
    await sql`UPDATE programmes SET row_errors = 'accept_valid_rows' WHERE id = ${s.programmeId}`.execute(api.database.db);
    const document = batchDocument(s, rowsFor(12_001, [3, 11_000]));
    const maker = `Bearer ${await tokenFor(s.organisationId, ['programme_manager'], { subject: 'maker' })}`;
    const res = await request(api.app).post('/v1/batches').set('authorization', maker).set('content-type', 'application/jose+json').send(JSON.stringify(await sign(document, s.maker)));
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ state: 'approved', payoutCount: 11_999, total: '1199900.00', payouts: { approved: { count: 11_999, amount: '1199900.00' } } });
    expect(res.body.rejectedRows).toEqual([{ row: 4, field: 'msisdn', code: 'MSISDN_INVALID', message: expect.any(String) }, { row: 11_001, field: 'msisdn', code: 'MSISDN_INVALID', message: expect.any(String) }]);
    const stored = await sql<{ n: string; missing: string }>`
      SELECT count(*)::text AS n, (SELECT string_agg(g::text, ',') FROM generate_series(0, 12000) g WHERE NOT EXISTS (SELECT 1 FROM payouts p WHERE p.batch_id = ${document.batchId} AND p.row_no = g))::text AS missing
      FROM payouts WHERE batch_id = ${document.batchId}`.execute(api.database.db);
    expect(stored.rows[0]).toEqual({ n: '11999', missing: '3,11000' });
  });
});

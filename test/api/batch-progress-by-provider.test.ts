// A batch's progress by provider and state (issue #16 item 3): GET /v1/batches/{id} counts its
// payouts by provider and state in the read that counts them by state (one GROUP BY), for a batch
// of any size, with amounts as decimal strings; each state's figures over the providers add up to
// `payouts`. A large batch's figures are kept up to batchCountsMaxAgeMs, both the same age.
// Real PostgreSQL; payouts are put in their states by SQL, as the workers and the settler would.
import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import request from 'supertest';
import { batchCountsExactPayoutsMax, batchCountsMaxAgeMs } from '../../src/application/queries.js';
import { fundProgramme, registerOrganisation, registerProgramme, registerSignerKey } from '../../src/application/setup.js';
import { bearer, postJson, startTestApi, type TestApi } from '../support/api.js';
import { batchDocument, newKey, sign, type PayoutLine, type Scenario } from '../support/fixtures.js';

let api: TestApi;
let s: Scenario;

/** An organisation whose KES programme pays through M-Pesa and Airtel, funded, no approval needed. */
async function twoProviderProgramme(): Promise<Scenario> {
  const suffix = randomBytes(4).toString('hex');
  const organisationId = `org-${suffix}`;
  const programmeId = `prog-${suffix}`;
  await registerOrganisation(api.persistence, organisationId, 'Two providers');
  await registerProgramme(api.persistence, {
    id: programmeId, organisationId, name: 'Two providers', currency: 'KES', approvalsRequired: 0,
    policy: { tiers: [{ fromMinor: 0n, approvers: 0 }], providers: ['mpesa', 'airtel'], payoutMaxMinor: null, rowErrors: 'reject_batch' },
  });
  const maker = await newKey();
  const registered = await registerSignerKey(api.persistence, { organisationId, role: 'maker', alg: 'ES256', publicJwk: maker.publicJwk as Record<string, unknown>, notBefore: new Date(0), notAfter: null });
  if (!registered.ok) throw new Error(registered.error.code);
  await fundProgramme(api.persistence, { idempotencyKey: `fund-${suffix}`, organisationId, programmeId, source: 'donor', currency: 'KES', amountMinor: 100_000_000_00n });
  return { organisationId, programmeId, maker };
}

beforeAll(async () => {
  api = await startTestApi({ batchPayoutsMax: 2_000 });
  s = await twoProviderProgramme();
}, 60_000);
afterAll(async () => api?.close());

const row = (ref: string, provider: 'mpesa' | 'airtel', amount: string, i: number): PayoutLine =>
  ({ ref, provider, msisdn: `+2547${provider === 'mpesa' ? '1' : '3'}${String(1_000_000 + i).slice(-7)}`, amount, name: 'Progress Test' });

async function submit(rows: PayoutLine[]): Promise<string> {
  const document = batchDocument(s, rows);
  const res = await postJson(api.app, '/v1/batches', await bearer(s.organisationId, 'programme_manager'), await sign(document, s.maker));
  expect([res.status, res.status === 201 ? null : res.body]).toEqual([201, null]);
  return document.batchId;
}

const move = async (batchId: string, refs: readonly string[], state: string) =>
  sql`UPDATE payouts SET state = ${state}, updated_at = now() WHERE batch_id = ${batchId}::uuid AND ref = ANY(${[...refs]}::text[])`.execute(api.database.db);

interface Figures { count: number; amount: string }
const read = async (batchId: string, organisationId = s.organisationId) =>
  request(api.app).get(`/v1/batches/${batchId}`).set('authorization', await bearer(organisationId, 'auditor'));

/** Each state's figures over the providers, in minor units (amounts here have 2 decimals). */
function summed(byProvider: Record<string, Record<string, Figures>>): Record<string, Figures> {
  const minor: Record<string, { count: number; minor: bigint }> = {};
  for (const states of Object.values(byProvider)) {
    for (const [state, f] of Object.entries(states)) {
      expect(f.amount).toMatch(/^[0-9]+\.[0-9]{2}$/);
      const t = minor[state] ?? { count: 0, minor: 0n };
      minor[state] = { count: t.count + f.count, minor: t.minor + BigInt(f.amount.replace('.', '')) };
    }
  }
  return Object.fromEntries(Object.entries(minor).map(([state, t]) => [state, { count: t.count, amount: `${t.minor / 100n}.${String(t.minor % 100n).padStart(2, '0')}` }]));
}

describe('GET /v1/batches/{id}: progress by provider and state', () => {
  it('when a batch has payouts on two providers in several states, then it answers each provider\'s count and amount per state, adding up to the counts per state', async () => {
    const rows = [
      row('m-paid-1', 'mpesa', '100.00', 1), row('m-paid-2', 'mpesa', '200.00', 2), row('m-failed', 'mpesa', '50.00', 3), row('m-queued', 'mpesa', '10.00', 4),
      row('a-paid', 'airtel', '1000.00', 5), row('a-submitted-1', 'airtel', '7.50', 6), row('a-submitted-2', 'airtel', '2.50', 7), row('a-unknown', 'airtel', '33.33', 8),
    ];
    const batchId = await submit(rows);
    // Approved at once (no approval needed): every payout shows approved, each provider its own.
    const fresh = await read(batchId);
    expect(fresh.status).toBe(200);
    expect(fresh.body.byProvider).toEqual({
      airtel: { approved: { count: 4, amount: '1043.33' } },
      mpesa: { approved: { count: 4, amount: '360.00' } },
    });
    await move(batchId, ['m-paid-1', 'm-paid-2', 'a-paid'], 'paid');
    await move(batchId, ['m-failed'], 'failed');
    await move(batchId, ['m-queued'], 'queued');
    await move(batchId, ['a-submitted-1', 'a-submitted-2'], 'submitted');
    await move(batchId, ['a-unknown'], 'unknown');

    const res = await read(batchId);
    expect(res.status).toBe(200);
    expect(res.body.byProvider).toEqual({
      airtel: { paid: { count: 1, amount: '1000.00' }, submitted: { count: 2, amount: '10.00' }, unknown: { count: 1, amount: '33.33' } },
      mpesa: { failed: { count: 1, amount: '50.00' }, paid: { count: 2, amount: '300.00' }, queued: { count: 1, amount: '10.00' } },
    });
    expect(res.body.payouts).toEqual({
      failed: { count: 1, amount: '50.00' }, paid: { count: 3, amount: '1300.00' }, queued: { count: 1, amount: '10.00' },
      submitted: { count: 2, amount: '10.00' }, unknown: { count: 1, amount: '33.33' },
    });
    expect(summed(res.body.byProvider)).toEqual(res.body.payouts);
    // No beneficiary number or name in the answer.
    expect(res.text).not.toMatch(/\+?2547[13]\d{7}|Progress Test/);
    // Another organisation does not see it at all.
    const other = await twoProviderProgramme();
    expect((await read(batchId, other.organisationId)).status).toBe(404);
  });

  it('when a batch is larger than counted exactly on each read, then its figures by provider come from the same count as by state, at most batchCountsMaxAgeMs old', async () => {
    const n = batchCountsExactPayoutsMax + 200;
    const rows = Array.from({ length: n }, (_, i) => (i % 3 === 0 ? row(`big-${i}`, 'airtel', '1.25', 100 + i) : row(`big-${i}`, 'mpesa', '20.00', 100 + i)));
    const batchId = await submit(rows);
    const airtelRefs = rows.filter((r) => r.provider === 'airtel').map((r) => r.ref);
    const mpesaRefs = rows.filter((r) => r.provider === 'mpesa').map((r) => r.ref);
    await move(batchId, airtelRefs.slice(0, 100), 'paid');
    await move(batchId, mpesaRefs.slice(0, 250), 'submitting');
    // Past the age of any count kept by an earlier read.
    await new Promise((r) => setTimeout(r, batchCountsMaxAgeMs + 50));
    const first = await read(batchId);
    expect(first.status).toBe(200);
    expect(first.body.payoutCount).toBe(n);
    // M-Pesa pays whole shillings (20.00 each here), Airtel cents too (1.25 each).
    const amount = (minor: number) => `${Math.floor(minor / 100)}.${String(minor % 100).padStart(2, '0')}`;
    expect(first.body.byProvider).toEqual({
      airtel: { approved: { count: airtelRefs.length - 100, amount: amount((airtelRefs.length - 100) * 125) }, paid: { count: 100, amount: '125.00' } },
      mpesa: { approved: { count: mpesaRefs.length - 250, amount: amount((mpesaRefs.length - 250) * 2000) }, submitting: { count: 250, amount: '5000.00' } },
    });
    expect(summed(first.body.byProvider)).toEqual(first.body.payouts);
    // Moved now: a read within the age may show the kept figures, but both kinds always agree; past the age, both are new.
    await move(batchId, mpesaRefs.slice(0, 250), 'paid');
    const within = await read(batchId);
    expect(summed(within.body.byProvider)).toEqual(within.body.payouts);
    await new Promise((r) => setTimeout(r, batchCountsMaxAgeMs + 50));
    const after = await read(batchId);
    expect(after.body.byProvider.mpesa).toEqual({ approved: { count: mpesaRefs.length - 250, amount: amount((mpesaRefs.length - 250) * 2000) }, paid: { count: 250, amount: '5000.00' } });
    expect(summed(after.body.byProvider)).toEqual(after.body.payouts);
  }, 120_000);
});

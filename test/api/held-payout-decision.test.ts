// Finance decides a payout held because a provider reported something that differs from it
// (issue #19 item 4): paid or not paid, with a note, on the record; the ledger moves as for any
// settled payout; anything else is refused and changes nothing. Real PostgreSQL.
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import request from 'supertest';
import { bearer, postJson, startTestApi, type TestApi } from '../support/api.js';
import { batchDocument, setUpProgramme, sign, type Scenario } from '../support/fixtures.js';
import { payoutIdOf } from '../../src/domain/ids.js';
import { pino } from 'pino';
import { runPayoutsCli } from '../../src/cli/payouts-cli.js';
import { testConfig } from '../support/runtime.js';

let api: TestApi;
beforeAll(async () => (api = await startTestApi()));
afterAll(async () => api?.close());

const balance = async (key: string) => BigInt((await sql<{ b: string }>`SELECT (credits_posted - debits_posted)::text AS b FROM accounts WHERE key = ${key}`.execute(api.database.db)).rows[0]?.b ?? '0');

/** An approved batch of two payouts, the first held (as the settler holds it) with one exception. */
async function heldPayout(): Promise<{ s: Scenario; batchId: string; held: string; other: string }> {
  const s = await setUpProgramme(api.persistence, 1_000_00n);
  const document = batchDocument(s, [
    { ref: 'h-1', provider: 'mpesa', msisdn: '+254722000001', amount: '100.00' },
    { ref: 'h-2', provider: 'mpesa', msisdn: '+254722000002', amount: '50.00' },
  ]);
  expect((await postJson(api.app, '/v1/batches', await bearer(s.organisationId, 'programme_manager'), await sign(document, s.maker))).status).toBe(201);
  const held = payoutIdOf(document.batchId, 'h-1');
  await sql`UPDATE payouts SET state = 'held', provider_reference = 'QK1' WHERE id = ${held}::uuid`.execute(api.database.db);
  await sql`INSERT INTO payout_exceptions (payout_id, kind, detail, result_id) VALUES (${held}::uuid, 'amount_mismatch', 'reported amount 999, the payout is 100.00 KES', ${randomUUID()}::uuid)`.execute(api.database.db);
  return { s, batchId: document.batchId, held, other: payoutIdOf(document.batchId, 'h-2') };
}

const decide = (id: string, token: string, body: unknown) =>
  request(api.app).post(`/v1/payouts/${id}/decision`).set('authorization', token).set('content-type', 'application/json').send(typeof body === 'string' ? body : JSON.stringify(body));

describe('a held payout, decided by finance', () => {
  it('when finance says it was not paid, then the money goes back to the programme, the decision is in its history, and a second decision is refused', async () => {
    const { s, batchId, held } = await heldPayout();
    const finance = await bearer(s.organisationId, 'finance');
    const view = await request(api.app).get(`/v1/payouts/${held}`).set('authorization', finance);
    expect(view.body).toMatchObject({ state: 'held', exceptions: [{ kind: 'amount_mismatch', detail: 'reported amount 999, the payout is 100.00 KES' }] });
    const available = await balance(`programme:${s.programmeId}:available`);

    const res = await decide(held, finance, { outcome: 'failed', note: 'not on the provider statement of 6 December' });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ state: 'failed', failureCode: 'finance_decision' });
    expect(await balance(`programme:${s.programmeId}:available`)).toBe(available + 100_00n);
    expect(await balance(`batch:${batchId}:committed`)).toBe(50_00n);
    const history = await sql<{ cause: string }>`SELECT cause FROM payout_transitions WHERE payout_id = ${held}::uuid ORDER BY id DESC LIMIT 1`.execute(api.database.db);
    expect(history.rows[0]!.cause).toBe('finance decision by finance-person: failed (not on the provider statement of 6 December)');

    const again = await decide(held, finance, { outcome: 'paid', note: 'changed my mind' });
    expect({ status: again.status, code: again.body.error?.code }).toEqual({ status: 409, code: 'PAYOUT_NOT_HELD' });
    expect(await balance(`programme:${s.programmeId}:available`)).toBe(available + 100_00n);
  });

  it('when finance says it was paid, then the committed money leaves the float as for any paid payout', async () => {
    const { s, batchId, held } = await heldPayout();
    const res = await decide(held, await bearer(s.organisationId, 'admin'), { outcome: 'paid', note: 'on the statement; the callback misreported the amount' });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ state: 'paid', providerReference: 'QK1', failureCode: null });
    expect(await balance(`batch:${batchId}:committed`)).toBe(50_00n);
    const transfers = await sql<{ code: string; amount: string }>`SELECT code, amount::text FROM transfers WHERE payout_id = ${held}::uuid`.execute(api.database.db);
    expect(transfers.rows).toEqual([{ code: 'payout_paid', amount: '10000' }]);
  });

  it.each([
    ['an empty body', '', 422, 'DECISION_INVALID'],
    ['not JSON', '{outcome', 400, 'REQUEST_MALFORMED'],
    ['an array', [], 422, 'DECISION_INVALID'],
    ['another outcome', { outcome: 'reversed', note: 'x' }, 422, 'DECISION_INVALID'],
    ['no note', { outcome: 'failed' }, 422, 'DECISION_INVALID'],
    ['a blank note', { outcome: 'failed', note: '   ' }, 422, 'DECISION_INVALID'],
    ['a note of 501 characters', { outcome: 'failed', note: 'x'.repeat(501) }, 422, 'DECISION_INVALID'],
    ['a note with a control character', { outcome: 'failed', note: 'a\u0000b' }, 422, 'DECISION_INVALID'],
    ['an unknown member', { outcome: 'failed', note: 'x', amount: '1.00' }, 422, 'DECISION_INVALID'],
    ['an amount as a number', { outcome: 1, note: 'x' }, 422, 'DECISION_INVALID'],
    ['a body over 16 KiB', { outcome: 'failed', note: 'x'.repeat(17_000) }, 413, 'REQUEST_TOO_LARGE'],
  ] as const)('when the decision is %s, then it is refused and nothing changes', async (_what, body, status, code) => {
    const { s, held } = await heldPayout();
    const res = await decide(held, await bearer(s.organisationId, 'finance'), body);
    expect({ status: res.status, code: res.body.error?.code }).toEqual({ status, code });
    expect((await sql<{ state: string }>`SELECT state FROM payouts WHERE id = ${held}::uuid`.execute(api.database.db)).rows[0]!.state).toBe('held');
  });

  it('when the caller may not decide, or the payout is another organisation\'s, not held, or not a payout, then it is refused and nothing changes', async () => {
    const { s, held, other } = await heldPayout();
    const body = { outcome: 'failed', note: 'x' };
    for (const role of ['programme_manager', 'approver', 'auditor'] as const) {
      const res = await decide(held, await bearer(s.organisationId, role), body);
      expect({ role, status: res.status }).toEqual({ role, status: 403 });
    }
    expect((await decide(held, await bearer('another-org', 'finance'), body)).status).toBe(404);
    expect((await decide(randomUUID(), await bearer(s.organisationId, 'finance'), body)).status).toBe(404);
    expect((await decide('not-a-uuid', await bearer(s.organisationId, 'finance'), body)).status).toBe(404);
    const notHeld = await decide(other, await bearer(s.organisationId, 'finance'), body);
    expect({ status: notHeld.status, code: notHeld.body.error?.code }).toEqual({ status: 409, code: 'PAYOUT_NOT_HELD' });
    expect((await request(api.app).post(`/v1/payouts/${held}/decision`).set('content-type', 'application/json').send(JSON.stringify(body))).status).toBe(401);
    expect((await sql<{ state: string }>`SELECT state FROM payouts WHERE id = ${held}::uuid`.execute(api.database.db)).rows[0]!.state).toBe('held');
  });
});

describe('tuma payouts held', () => {
  async function cli(argv: readonly string[], url: string | null = api.database.url): Promise<{ code: number; out: string[]; err: string[] }> {
    const out: string[] = [];
    const err: string[] = [];
    const config = await testConfig(api.database.url, 'in-process');
    const code = await runPayoutsCli(argv, url ? config : { ...config, database: { ...config.database, url: null } } as typeof config, pino({ level: 'silent' }), (l) => out.push(l), (l) => err.push(l));
    return { code, out, err };
  }

  it('when payouts are held, then each is listed oldest first with what differed, never a number or a name, page by page', async () => {
    const first = await heldPayout();
    const second = await heldPayout();
    const page1 = await cli(['held', '--limit', '1']);
    expect(page1.code).toBe(0);
    const [line, next] = page1.out.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(line).toMatchObject({ amount: '100.00', currency: 'KES', providerReference: 'QK1', exceptions: [{ kind: 'amount_mismatch', detail: 'reported amount 999, the payout is 100.00 KES' }] });
    expect(typeof next!.next).toBe('string');
    const all = await cli(['held', '--limit', '1000']);
    const ids = all.out.slice(0, -1).map((l) => (JSON.parse(l) as { payoutId: string }).payoutId);
    expect(ids).toEqual(expect.arrayContaining([first.held, second.held]));
    expect(all.out.join('\n')).not.toMatch(/2547220000\d/);
    const page2 = await cli(['held', '--limit', '1', '--after', String(next!.next)]);
    expect((JSON.parse(page2.out[0]!) as { payoutId: string }).payoutId).not.toBe((line as { payoutId: string }).payoutId);
  });

  it.each([
    [['held', '--limit', '0']], [['held', '--limit', '1001']], [['held', '--limit', 'x']], [['held', '--after', 'nonsense']], [['held', '--bogus']], [['held', 'extra']],
  ])('when the arguments are %j, then it exits 2 with the usage and prints nothing', async (argv) => {
    const r = await cli(argv);
    expect({ code: r.code, out: r.out }).toEqual({ code: 2, out: [] });
    expect(r.err.join('\n')).toContain('usage');
  });

  it('when DATABASE_URL is not set, then it exits 78 and says so', async () => {
    const r = await cli(['held'], null);
    expect(r.code).toBe(78);
    expect(r.err.join('\n')).toContain('DATABASE_URL');
  });
});

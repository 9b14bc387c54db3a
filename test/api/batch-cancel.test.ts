// Cancelling a batch, and reading its payouts page by page. Real PostgreSQL.
import { sql } from 'kysely';
import request from 'supertest';
import { approval, bearer, postJson, registerKey, startTestApi, type TestApi } from '../support/api.js';
import { batchDocument, setUpProgramme, sign, type PayoutLine, type Scenario } from '../support/fixtures.js';

let api: TestApi;
beforeAll(async () => (api = await startTestApi()));
afterAll(async () => api?.close());

const rowsOf = (n: number): PayoutLine[] => Array.from({ length: n }, (_, i) => ({ ref: `c-${i}`, provider: 'mpesa', msisdn: `+2547220${String(10000 + i)}`, amount: `${100 + i}.00`, name: `Person ${i}` }));

async function available(s: Scenario): Promise<bigint> {
  const r = await sql<{ b: string }>`SELECT (credits_posted - debits_posted)::text AS b FROM accounts WHERE key = ${`programme:${s.programmeId}:available`}`.execute(api.database.db);
  return BigInt(r.rows[0]!.b);
}

async function submitted(approvers: 0 | 1, n = 5) {
  const s = await setUpProgramme(api.persistence, 100_000_00n);
  await sql`UPDATE programmes SET approvals_required = ${approvers} WHERE id = ${s.programmeId}`.execute(api.database.db);
  const maker = await bearer(s.organisationId, 'programme_manager');
  const document = batchDocument(s, rowsOf(n));
  const res = await postJson(api.app, '/v1/batches', maker, await sign(document, s.maker));
  expect(res.status).toBe(201);
  return { s, maker, document };
}

const cancel = (id: string, token: string, body?: unknown) => {
  const r = request(api.app).post(`/v1/batches/${id}/cancel`).set('authorization', token);
  return body === undefined ? r : r.set('content-type', 'application/json').send(JSON.stringify(body));
};

describe('cancel', () => {
  it('when a batch awaiting approval is cancelled, then every payout is cancelled and the ledger does not move', async () => {
    const { s, maker, document } = await submitted(1);
    const before = await available(s);
    const transfers = await api.footprint();
    const res = await cancel(document.batchId, maker, { reason: 'wrong list' });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ state: 'cancelled', cancelled: { count: 5, amount: '510.00' }, payouts: { cancelled: { count: 5 } } });
    expect(await available(s)).toBe(before);
    expect((await api.footprint()).transfers).toBe(transfers.transfers);
    const approver = await registerKey(api.persistence, s.organisationId, 'approver');
    const late = await postJson(api.app, `/v1/batches/${document.batchId}/approvals`, await bearer(s.organisationId, 'approver'), await approval(document, approver));
    expect({ status: late.status, code: late.body.error?.code }).toEqual({ status: 409, code: 'BATCH_NOT_AWAITING_APPROVAL' });
  });

  it('when an approved batch is cancelled, then each payout is released back to the programme, to the cent, once', async () => {
    const { s, maker, document } = await submitted(0);
    const fundedBefore = 100_000_00n;
    expect(await available(s)).toBe(fundedBefore - 510_00n);
    const res = await cancel(document.batchId, await bearer(s.organisationId, 'admin'));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ state: 'cancelled', cancelled: { count: 5, amount: '510.00' } });
    expect(await available(s)).toBe(fundedBefore);
    const released = await sql<{ n: string }>`SELECT count(DISTINCT payout_id)::text AS n FROM transfers WHERE batch_id = ${document.batchId} AND code = 'payout_released'`.execute(api.database.db);
    expect(released.rows[0]!.n).toBe('5');
    const again = await cancel(document.batchId, maker);
    expect({ status: again.status, code: again.body.error?.code }).toEqual({ status: 409, code: 'BATCH_NOT_CANCELLABLE' });
  });

  it('when some payouts are already with the provider, then only the others are cancelled and released', async () => {
    const { s, maker, document } = await submitted(0);
    await sql`UPDATE payouts SET state = 'submitting' WHERE batch_id = ${document.batchId} AND ref IN ('c-0', 'c-1')`.execute(api.database.db);
    const res = await cancel(document.batchId, maker);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ state: 'approved', cancelled: { count: 3, amount: '309.00' }, payouts: { cancelled: { count: 3 }, submitting: { count: 2 } } });
    expect(await available(s)).toBe(100_000_00n - 201_00n);
    const states = await sql<{ ref: string; state: string }>`SELECT ref, state FROM payouts WHERE batch_id = ${document.batchId} ORDER BY ref`.execute(api.database.db);
    expect(states.rows.map((r) => r.state)).toEqual(['submitting', 'submitting', 'cancelled', 'cancelled', 'cancelled']);
    const transitions = await sql<{ n: string }>`SELECT count(*)::text AS n FROM payout_transitions t JOIN payouts p ON p.id = t.payout_id WHERE p.batch_id = ${document.batchId} AND t.to_state = 'cancelled'`.execute(api.database.db);
    expect(transitions.rows[0]!.n).toBe('3');
  });

  it('when an approver, another organisation or nobody cancels, then 403 / 404 / 401 and nothing changes', async () => {
    const { s, document } = await submitted(0);
    const before = await api.footprint();
    expect((await cancel(document.batchId, await bearer(s.organisationId, 'approver'))).status).toBe(403);
    expect((await cancel(document.batchId, await bearer('org-elsewhere', 'programme_manager'))).status).toBe(404);
    expect((await request(api.app).post(`/v1/batches/${document.batchId}/cancel`)).status).toBe(401);
    expect(await api.footprint()).toEqual(before);
  });

  it.each([
    ['a reason too long', { reason: 'x'.repeat(201) }],
    ['an unknown member', { reason: 'ok', force: true }],
    ['a reason that is not a string', { reason: 42 }],
  ])('when the body has %s, then 400 and nothing changes', async (_name, body) => {
    const { maker, document } = await submitted(0);
    const before = await api.footprint();
    const res = await cancel(document.batchId, maker, body);
    expect({ status: res.status, code: res.body.error?.code }).toEqual({ status: 400, code: 'REQUEST_MALFORMED' });
    expect(await api.footprint()).toEqual(before);
  });
});

describe('GET /v1/batches/{id}/payouts', () => {
  it('when paged two at a time, then every payout comes once in row order and the last page ends the cursor', async () => {
    const { maker, document } = await submitted(0);
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < 10; page++) {
      const res: request.Response = await request(api.app).get(`/v1/batches/${document.batchId}/payouts`).query({ limit: '2', ...(cursor ? { cursor } : {}) }).set('authorization', maker);
      expect(res.status).toBe(200);
      seen.push(...res.body.items.map((p: { ref: string }) => p.ref));
      cursor = res.body.nextCursor;
      if (!cursor) break;
    }
    expect(seen).toEqual(['c-0', 'c-1', 'c-2', 'c-3', 'c-4']);
  });

  it('when filtered by state, then only that state, and no phone number or name appears', async () => {
    const { maker, document } = await submitted(0);
    await sql`UPDATE payouts SET state = 'queued' WHERE batch_id = ${document.batchId} AND ref = 'c-3'`.execute(api.database.db);
    const res = await request(api.app).get(`/v1/batches/${document.batchId}/payouts?state=queued`).set('authorization', maker);
    expect(res.body.items).toEqual([expect.objectContaining({ ref: 'c-3', state: 'queued', amount: '103.00', row: 4 })]);
    const all = await request(api.app).get(`/v1/batches/${document.batchId}/payouts`).set('authorization', maker);
    expect(JSON.stringify(all.body)).not.toMatch(/254722|Person/);
  });

  it.each([
    ['limit=0'], ['limit=1001'], ['limit=abc'], ['state=flying'], ['cursor=not-ours'], ['cursor=czE6MTA'],
  ])('when the query has %s, then 400 QUERY_INVALID', async (query) => {
    const { maker, document } = await submitted(0);
    const res = await request(api.app).get(`/v1/batches/${document.batchId}/payouts?${query}`).set('authorization', maker);
    expect({ status: res.status, code: res.body.error?.code }).toEqual({ status: 400, code: 'QUERY_INVALID' });
  });

  it("when another organisation asks, then 404", async () => {
    const { document } = await submitted(0);
    const res = await request(api.app).get(`/v1/batches/${document.batchId}/payouts`).set('authorization', await bearer('org-elsewhere', 'auditor'));
    expect(res.status).toBe(404);
  });
});

describe('expiry', () => {
  it('when a batch awaiting approval passes its expiresAt, then the expirer rejects it and cancels its payouts; an approved one is left alone', async () => {
    const waiting = await submitted(1);
    const approved = await submitted(0);
    const { expireBatchesOnce } = await import('../../src/application/expire-batches.js');
    const before = await api.footprint();
    expect(await expireBatchesOnce(api.persistence, new Date())).toBe(0); // not yet expired
    expect(await api.footprint()).toEqual(before);
    const later = new Date(Date.now() + 2 * 86_400_000);
    expect(await expireBatchesOnce(api.persistence, later)).toBeGreaterThanOrEqual(1);
    const view = await request(api.app).get(`/v1/batches/${waiting.document.batchId}`).set('authorization', waiting.maker);
    expect(view.body).toMatchObject({ state: 'rejected', payouts: { cancelled: { count: 5 } } });
    const untouched = await request(api.app).get(`/v1/batches/${approved.document.batchId}`).set('authorization', approved.maker);
    expect(untouched.body.state).toBe('approved');
    expect(await expireBatchesOnce(api.persistence, later)).toBe(0); // nothing left to expire
    const cancel = await request(api.app).post(`/v1/batches/${waiting.document.batchId}/cancel`).set('authorization', waiting.maker);
    expect(cancel.body.error?.code).toBe('BATCH_NOT_CANCELLABLE');
  });
});

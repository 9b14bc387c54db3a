// An approver rejects a batch awaiting approval (issue #16: "approve or reject by signing"): a
// detached signature over the stored bytes whose protected header says "decision": "reject", and
// a reason. The batch is rejected and its payouts cancelled in one transaction, the ledger is not
// touched (nothing was committed before the last approval) and stays balanced, a re-pay request
// its row fulfilled is open again, the act is audited; every refusal has its code and changes
// nothing. Over HTTP against the real PostgreSQL.
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import request from 'supertest';
import { verifyLedger } from '../../src/application/ledger-chain.js';
import { getTrialBalance } from '../../src/application/ledger.js';
import { expireBatchesOnce } from '../../src/application/expire-batches.js';
import { approval, bearer, postJson, registerKey, startTestApi, type TestApi } from '../support/api.js';
import { batchDocument, kenyanPayout, setUpProgramme, sign, type Maker, type PayoutLine, type Scenario } from '../support/fixtures.js';
import { insertPayouts } from '../support/reconciliation-ledger.js';

let api: TestApi;
beforeAll(async () => (api = await startTestApi()));
afterAll(async () => api?.close());

interface World extends Scenario {
  approvers: Maker[];
  makerToken: string;
  approverTokens: string[];
}

/** A programme needing 2 approvers from 1,000.00 (1 below). */
async function world(): Promise<World> {
  const s = await setUpProgramme(api.persistence, 100_000_00n);
  const policy = await request(api.app).put(`/v1/programmes/${s.programmeId}/policy`).set('authorization', await bearer(s.organisationId, 'admin')).send({
    approvals: [{ fromTotal: '0', approvers: 1 }, { fromTotal: '1000.00', approvers: 2 }], providers: ['mpesa'], payoutMax: null, rowErrors: 'reject_batch',
  });
  expect(policy.status).toBe(200);
  return {
    ...s,
    approvers: [await registerKey(api.persistence, s.organisationId, 'approver', { holder: 'approver-1' }), await registerKey(api.persistence, s.organisationId, 'approver', { holder: 'approver-2' })],
    makerToken: await bearer(s.organisationId, 'programme_manager', 'maker-person'),
    approverTokens: [await bearer(s.organisationId, 'approver', 'approver-1'), await bearer(s.organisationId, 'approver', 'approver-2')],
  };
}

async function submit(w: World, rows: (PayoutLine & { repays?: string })[] = [kenyanPayout('a', '600.00'), { ...kenyanPayout('b', '600.00'), msisdn: '+254712345999' }]) {
  const document = batchDocument(w, rows);
  const res = await postJson(api.app, '/v1/batches', w.makerToken, await sign(document, w.maker));
  expect(res.status).toBe(201);
  return document;
}

const rejection = async (document: unknown, key: Maker, reason: unknown = 'The amounts do not match the registration list', header: Record<string, unknown> = { decision: 'reject' }) => ({
  ...(await approval(document, key, header)), reason,
});
const rejectWith = (document: { batchId: string }, body: unknown, token: string) => postJson(api.app, `/v1/batches/${document.batchId}/rejection`, token, body);
const refusal = (res: request.Response) => ({ status: res.status, code: res.body.error?.code });

async function available(w: Scenario): Promise<bigint> {
  const r = await sql<{ b: string }>`SELECT (credits_posted - debits_posted)::text AS b FROM accounts WHERE key = ${`programme:${w.programmeId}:available`}`.execute(api.database.db);
  return BigInt(r.rows[0]!.b);
}
const batchState = async (batchId: string) => (await sql<{ state: string }>`SELECT state FROM batches WHERE id = ${batchId}`.execute(api.database.db)).rows[0]!.state;
const payoutStates = async (batchId: string) => (await sql<{ state: string }>`SELECT state FROM payouts WHERE batch_id = ${batchId} ORDER BY row_no`.execute(api.database.db)).rows.map((r) => r.state);
const rejections = async (batchId: string) => (await sql<{ n: number }>`SELECT count(*)::int AS n FROM batch_rejections WHERE batch_id = ${batchId}`.execute(api.database.db)).rows[0]!.n;
const auditOf = async (batchId: string) =>
  (await sql<{ action: string; actor: string; detail: Record<string, string> }>`SELECT action, actor, detail FROM audit_events WHERE object_id = ${batchId} ORDER BY seq`.execute(api.database.db)).rows;

/** A reversed payout of the programme with an open re-pay request, as finance's repay decision leaves it. */
async function openRepayRequest(w: Scenario) {
  const reversed = (await insertPayouts(api.database.pool, w, [{ receipt: `R${randomUUID().slice(0, 8)}`, amountMinor: 600_00n, state: 'reversed', accountId: 'mpesa-ke' }])).values().next().value!;
  await api.database.pool.query('UPDATE payouts SET msisdn_hash = $2 WHERE id = $1', [reversed, await api.vault.blindIndex(w.programmeId, '+254712345678')]);
  // The decision row is finance's business: the foreign keys are left out here.
  const client = await api.database.pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SET LOCAL ROLE NONE');
    await client.query("SET LOCAL session_replication_role = 'replica'");
    await client.query(`INSERT INTO repay_requests (id, payout_id, organisation_id, programme_id, decision_id, currency, amount_minor, state) VALUES ($1, $2, $3, $4, $5, 'KES', 60000, 'open')`,
      [randomUUID(), reversed, w.organisationId, w.programmeId, randomUUID()]);
    await client.query('COMMIT');
  } finally {
    client.release();
  }
  const requestState = async () => (await api.database.pool.query<{ state: string; by: string | null }>('SELECT state, fulfilled_by_payout_id AS by FROM repay_requests WHERE payout_id = $1', [reversed])).rows[0];
  return { reversed, requestState };
}

describe('an approver rejects a batch awaiting approval', () => {
  it('when a second approver rejects after a first approved, then the batch is rejected, its payouts cancelled, the ledger untouched and balanced, and the rejection audited', async () => {
    const w = await world();
    const before = await available(w);
    const document = await submit(w);
    const first = await postJson(api.app, `/v1/batches/${document.batchId}/approvals`, w.approverTokens[0]!, await approval(document, w.approvers[0]!));
    expect(first.body).toMatchObject({ state: 'awaiting_approval', approvals: { required: 2, received: 1 } });

    const body = await rejection(document, w.approvers[1]!, 'Row 2 is a duplicate of last week’s payment: call +254 712 345 999 first');
    const res = await rejectWith(document, body, w.approverTokens[1]!);
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      batchId: document.batchId, state: 'rejected', replayed: false, payouts: { cancelled: { count: 2, amount: '1200.00' } },
      rejection: { kid: w.approvers[1]!.kid, reason: 'Row 2 is a duplicate of last week’s payment: call [number removed] first', rejectedAt: expect.any(String) },
    });
    expect(await payoutStates(document.batchId)).toEqual(['cancelled', 'cancelled']);
    // Nothing was committed for a batch awaiting approval: nothing moved, and every journal balances.
    expect(await available(w)).toBe(before);
    expect((await getTrialBalance(api.persistence, w.organisationId, 'KES')).balanced).toBe(true);
    expect((await verifyLedger(api.persistence)).ok).toBe(true);
    const audit = await auditOf(document.batchId);
    expect(audit.map((a) => a.action)).toEqual(['batch.approve', 'batch.reject']);
    expect(audit[1]).toMatchObject({ actor: 'approver-2', detail: { kid: w.approvers[1]!.kid, payoutsCancelled: '2', amount: '1200.00', repayRequestsReopened: '0' } });
    expect(audit[1]!.detail.reason).not.toMatch(/712/);

    // The same rejection again is a replay; another decision on the batch is refused.
    const replay = await rejectWith(document, body, w.approverTokens[1]!);
    expect({ status: replay.status, replayed: replay.body.replayed, reason: replay.body.rejection?.reason }).toEqual({ status: 200, replayed: true, reason: res.body.rejection.reason });
    const again = await rejectWith(document, await rejection(document, w.approvers[1]!), w.approverTokens[1]!);
    expect(refusal(again)).toEqual({ status: 409, code: 'REJECTION_DUPLICATE' });
    const approveAfter = await postJson(api.app, `/v1/batches/${document.batchId}/approvals`, w.approverTokens[1]!, await approval(document, w.approvers[1]!));
    expect(refusal(approveAfter)).toEqual({ status: 409, code: 'BATCH_NOT_AWAITING_APPROVAL' });
    expect([await rejections(document.batchId), (await auditOf(document.batchId)).length]).toEqual([1, 2]);
    // The batch reads as rejected, and its maker reads why and from whom.
    const read = await request(api.app).get(`/v1/batches/${document.batchId}`).set('authorization', w.makerToken);
    expect(read.body).toMatchObject({ state: 'rejected', payouts: { cancelled: { count: 2 } } });
    const why = await request(api.app).get(`/v1/batches/${document.batchId}/rejection`).set('authorization', w.makerToken);
    expect(why.body).toEqual({ rejection: { kid: w.approvers[1]!.kid, rejectedBy: 'approver-2', reason: res.body.rejection.reason, rejectedAt: res.body.rejection.rejectedAt } });
    expect(JSON.stringify(why.body)).not.toMatch(/712/);
  });

  it('when a batch row fulfilled a re-pay request, then the rejection opens the request again for the next batch', async () => {
    const w = await world();
    const { reversed, requestState } = await openRepayRequest(w);
    const document = await submit(w, [{ ...kenyanPayout('again', '600.00'), repays: reversed }, { ...kenyanPayout('b', '600.00'), msisdn: '+254712345999' }]);
    expect((await requestState())!.state).toBe('fulfilled');

    const res = await rejectWith(document, await rejection(document, w.approvers[0]!), w.approverTokens[0]!);
    expect(res.status).toBe(201);
    expect(await requestState()).toEqual({ state: 'open', by: null });
    expect((await auditOf(document.batchId)).at(-1)!.detail.repayRequestsReopened).toBe('1');
    // The next batch may pay it again.
    await submit(w, [{ ...kenyanPayout('again-2', '600.00'), repays: reversed }, { ...kenyanPayout('c', '600.00'), msisdn: '+254712345998' }]);
    expect((await requestState())!.state).toBe('fulfilled');
  });

  it('when the maker cancels such a batch, or it expires before its approvals, then its re-pay request is open again too (migration 0025\'s trigger on the payouts\' move)', async () => {
    const w = await world();
    const { reversed, requestState } = await openRepayRequest(w);
    const rows = (ref: string) => [{ ...kenyanPayout(ref, '600.00'), repays: reversed }, { ...kenyanPayout(`${ref}-b`, '600.00'), msisdn: '+254712345999' }];
    const cancelled = await submit(w, rows('again-1'));
    expect((await requestState())!.state).toBe('fulfilled');
    expect((await request(api.app).post(`/v1/batches/${cancelled.batchId}/cancel`).set('authorization', w.makerToken).send({ reason: 'wrong list' })).status).toBe(200);
    expect(await requestState()).toEqual({ state: 'open', by: null });

    const expiring = await submit(w, rows('again-2'));
    expect((await requestState())!.state).toBe('fulfilled');
    await sql`UPDATE batches SET expires_at = now() - interval '1 second' WHERE id = ${expiring.batchId}`.execute(api.database.db);
    expect(await expireBatchesOnce(api.persistence, new Date())).toBeGreaterThanOrEqual(1);
    expect([await batchState(expiring.batchId), await requestState()]).toEqual(['rejected', { state: 'open', by: null }]);
  });

  it('when something tries to reopen a request whose paying payout is not cancelled, then the database refuses it', async () => {
    const w = await world();
    const { reversed, requestState } = await openRepayRequest(w);
    await submit(w, [{ ...kenyanPayout('again', '600.00'), repays: reversed }, { ...kenyanPayout('b', '600.00'), msisdn: '+254712345999' }]);
    await expect(api.database.pool.query("UPDATE repay_requests SET state = 'open', fulfilled_by_payout_id = NULL, fulfilled_at = NULL WHERE payout_id = $1", [reversed])).rejects.toThrow(/only a failed or cancelled payout's is released/);
    expect((await requestState())!.state).toBe('fulfilled');
  });
});

describe('refused rejections change nothing', () => {
  let w: World;
  beforeAll(async () => (w = await world()));

  async function expectUnchanged(document: { batchId: string }) {
    expect([await batchState(document.batchId), await payoutStates(document.batchId), await rejections(document.batchId)]).toEqual(['awaiting_approval', ['accepted', 'accepted'], 0]);
    expect((await auditOf(document.batchId)).filter((a) => a.action === 'batch.reject')).toEqual([]);
  }

  it('when the maker posts a rejection of their own batch, or signs one with the maker key or a key they hold, then REJECTION_BY_MAKER', async () => {
    const document = await submit(w);
    const makerAsApprover = await bearer(w.organisationId, 'approver', 'maker-person');
    const own = await rejectWith(document, await rejection(document, w.approvers[0]!), makerAsApprover);
    expect(refusal(own)).toEqual({ status: 403, code: 'REJECTION_BY_MAKER' });
    const makerKey = await rejectWith(document, await rejection(document, w.maker), w.approverTokens[0]!);
    expect(refusal(makerKey)).toEqual({ status: 403, code: 'REJECTION_BY_MAKER' });
    const heldByMaker = await registerKey(api.persistence, w.organisationId, 'approver', { holder: 'maker-person' });
    const viaHeld = await rejectWith(document, await rejection(document, heldByMaker), w.approverTokens[0]!);
    expect(refusal(viaHeld)).toEqual({ status: 403, code: 'JWS_KEY_NOT_CALLERS' });
    await expectUnchanged(document);
  });

  it('when the key is wrong (another person\'s, another organisation\'s, unknown, a maker key, or the signature is over other bytes), then each has its code', async () => {
    const document = await submit(w);
    const other = await setUpProgramme(api.persistence, 0n);
    const foreignKey = await registerKey(api.persistence, other.organisationId, 'approver');
    const unknownKey = { ...w.approvers[0]!, kid: 'no-such-kid' };
    const otherMaker = await registerKey(api.persistence, w.organisationId, 'maker', { holder: 'approver-1' });
    const cases: [string, unknown, string, number, string][] = [
      ['another person\'s key', await rejection(document, w.approvers[1]!), w.approverTokens[0]!, 403, 'JWS_KEY_NOT_CALLERS'],
      ['another organisation\'s key', await rejection(document, foreignKey), w.approverTokens[0]!, 403, 'JWS_KEY_WRONG_ORGANISATION'],
      ['an unknown kid', await rejection(document, unknownKey), w.approverTokens[0]!, 401, 'JWS_KEY_UNKNOWN'],
      ['a maker key', await rejection(document, otherMaker), w.approverTokens[0]!, 403, 'JWS_KEY_WRONG_ROLE'],
      ['a signature over another document', await rejection({ ...document, declared: { count: 3, total: '1.00' } }, w.approvers[0]!), w.approverTokens[0]!, 401, 'JWS_SIGNATURE_INVALID'],
      ['an approval\'s signature (no decision in its header)', await rejection(document, w.approvers[0]!, 'no', {}), w.approverTokens[0]!, 400, 'JWS_MALFORMED'],
      ['a header naming another decision', await rejection(document, w.approvers[0]!, 'no', { decision: 'approve' }), w.approverTokens[0]!, 400, 'JWS_MALFORMED'],
      ['the finance role', await rejection(document, w.approvers[0]!), await bearer(w.organisationId, 'finance', 'approver-1'), 403, 'AUTH_FORBIDDEN'],
    ];
    const got = [];
    for (const [what, body, token] of cases) got.push([what, refusal(await rejectWith(document, body, token))]);
    expect(got).toEqual(cases.map(([what, , , status, code]) => [what, { status, code }]));
    await expectUnchanged(document);
  });

  it('when a rejection signature is posted as an approval, then JWS_MALFORMED: one signature is never both decisions', async () => {
    const document = await submit(w);
    const { reason: _reason, ...signed } = await rejection(document, w.approvers[0]!);
    const res = await postJson(api.app, `/v1/batches/${document.batchId}/approvals`, w.approverTokens[0]!, signed);
    expect(refusal(res)).toEqual({ status: 400, code: 'JWS_MALFORMED' });
    expect((await sql<{ n: number }>`SELECT count(*)::int AS n FROM batch_approvals WHERE batch_id = ${document.batchId}`.execute(api.database.db)).rows[0]!.n).toBe(0);
  });

  it('when the batch is not awaiting approval (approved, or cancelled by its maker), then BATCH_NOT_AWAITING_APPROVAL', async () => {
    const approved = await submit(w, [kenyanPayout('small', '10.00')]);
    expect((await postJson(api.app, `/v1/batches/${approved.batchId}/approvals`, w.approverTokens[0]!, await approval(approved, w.approvers[0]!))).body.state).toBe('approved');
    const before = await available(w);
    expect(refusal(await rejectWith(approved, await rejection(approved, w.approvers[1]!), w.approverTokens[1]!))).toEqual({ status: 409, code: 'BATCH_NOT_AWAITING_APPROVAL' });
    expect([await batchState(approved.batchId), await available(w)]).toEqual(['approved', before]);
    const cancelled = await submit(w);
    expect((await request(api.app).post(`/v1/batches/${cancelled.batchId}/cancel`).set('authorization', w.makerToken).send({})).status).toBe(200);
    expect(refusal(await rejectWith(cancelled, await rejection(cancelled, w.approvers[1]!), w.approverTokens[1]!))).toEqual({ status: 409, code: 'BATCH_NOT_AWAITING_APPROVAL' });
  });

  it('when the approver approved the batch already, then REJECTION_DUPLICATE; when another approver rejected it already, then BATCH_NOT_AWAITING_APPROVAL', async () => {
    const document = await submit(w);
    expect((await postJson(api.app, `/v1/batches/${document.batchId}/approvals`, w.approverTokens[0]!, await approval(document, w.approvers[0]!))).status).toBe(201);
    expect(refusal(await rejectWith(document, await rejection(document, w.approvers[0]!), w.approverTokens[0]!))).toEqual({ status: 409, code: 'REJECTION_DUPLICATE' });
    expect(await batchState(document.batchId)).toBe('awaiting_approval');
    expect((await rejectWith(document, await rejection(document, w.approvers[1]!), w.approverTokens[1]!)).status).toBe(201);
    const third = await registerKey(api.persistence, w.organisationId, 'approver', { holder: 'approver-3' });
    const late = await rejectWith(document, await rejection(document, third), await bearer(w.organisationId, 'approver', 'approver-3'));
    expect(refusal(late)).toEqual({ status: 409, code: 'BATCH_NOT_AWAITING_APPROVAL' });
    expect(await rejections(document.batchId)).toBe(1);
  });

  it.each([
    ['no reason', undefined, 'REJECTION_REASON_INVALID'],
    ['an empty reason', '', 'REJECTION_REASON_INVALID'],
    ['a blank reason', ' \u00a0 ', 'REJECTION_REASON_INVALID'],
    ['a reason of 501 characters', 'x'.repeat(501), 'REJECTION_REASON_INVALID'],
    ['a reason of 501 astral characters', '😀'.repeat(501), 'REJECTION_REASON_INVALID'],
    ['a reason with a line break', 'first line\nsecond line', 'REJECTION_REASON_INVALID'],
    ['a reason with a NUL', 'bad\u0000reason', 'REJECTION_REASON_INVALID'],
    ['a reason with a bidi-breaking line separator', 'a\u2028b', 'REJECTION_REASON_INVALID'],
    ['a number as reason', 42, 'REJECTION_REASON_INVALID'],
    ['an array as reason', ['a'], 'REJECTION_REASON_INVALID'],
    ['an object as reason', { text: 'a' }, 'REJECTION_REASON_INVALID'],
  ])('when the body has %s, then 400 %s and nothing changes', async (_what, reason, code) => {
    const document = await submit(w);
    const body: Record<string, unknown> = await rejection(document, w.approvers[0]!, reason);
    if (reason === undefined) delete body.reason;
    const res = await rejectWith(document, body, w.approverTokens[0]!);
    expect(refusal(res)).toEqual({ status: 400, code });
    await expectUnchanged(document);
  });

  it('when a reason has 500 astral characters, then it is accepted whole (characters, not UTF-16 units, are counted)', async () => {
    const document = await submit(w);
    const res = await rejectWith(document, await rejection(document, w.approvers[0]!, '😀'.repeat(500)), w.approverTokens[0]!);
    expect(res.status).toBe(201);
    expect([...res.body.rejection.reason]).toHaveLength(500);
    // The audit event keeps what fits its detail budget, marked as cut.
    const audited = (await auditOf(document.batchId)).at(-1)!.detail.reason!;
    expect([Buffer.byteLength(audited) <= 1_200, audited.endsWith('😀…')]).toEqual([true, true]);
  });

  it('when the body is hostile (not JSON, an array, extra members, a payload, an unprotected header, oversized, another media type), then each is refused with its code', async () => {
    const document = await submit(w);
    const good = await rejection(document, w.approvers[0]!);
    const token = w.approverTokens[0]!;
    const cases: [string, request.Response, number, string][] = [
      ['not JSON', await rejectWith(document, '{"protected":', token), 400, 'REQUEST_MALFORMED'],
      ['an array', await rejectWith(document, [good], token), 400, 'JWS_MALFORMED'],
      ['an extra member', await rejectWith(document, { ...good, approve: true }, token), 400, 'JWS_MALFORMED'],
      ['a payload', await rejectWith(document, { ...good, payload: 'eyJ4IjoxfQ' }, token), 400, 'JWS_MALFORMED'],
      ['an unprotected header', await rejectWith(document, { ...good, header: { decision: 'reject' } }, token), 400, 'JWS_MALFORMED'],
      ['a protected header that is not base64url', await rejectWith(document, { ...good, protected: '<script>' }, token), 400, 'JWS_MALFORMED'],
      ['a duplicated member', await rejectWith(document, `{"protected":"${good.protected}","signature":"${good.signature}","reason":"a","reason":"b"}`, token), 400, 'REQUEST_MALFORMED'],
      ['17 KiB', await rejectWith(document, { ...good, reason: 'x'.repeat(17 * 1024) }, token), 413, 'REQUEST_TOO_LARGE'],
      ['text/plain', await postJson(api.app, `/v1/batches/${document.batchId}/rejection`, token, good, 'text/plain'), 415, 'REQUEST_UNSUPPORTED_MEDIA_TYPE'],
      ['no token', await request(api.app).post(`/v1/batches/${document.batchId}/rejection`).set('content-type', 'application/json').send(JSON.stringify(good)), 401, 'AUTH_UNAUTHENTICATED'],
    ];
    expect(cases.map(([what, res]) => [what, refusal(res)])).toEqual(cases.map(([what, , status, code]) => [what, { status, code }]));
    await expectUnchanged(document);
  });

  it('when a batch no approver rejected is read for its rejection, then null; another organisation\'s batch is NOT_FOUND', async () => {
    const document = await submit(w);
    const mine = await request(api.app).get(`/v1/batches/${document.batchId}/rejection`).set('authorization', w.makerToken);
    expect({ status: mine.status, body: mine.body }).toEqual({ status: 200, body: { rejection: null } });
    const other = await world();
    const foreign = await request(api.app).get(`/v1/batches/${document.batchId}/rejection`).set('authorization', other.makerToken);
    expect(refusal(foreign)).toEqual({ status: 404, code: 'NOT_FOUND' });
  });

  it('when the batch is another organisation\'s, unknown or not a UUID, then 404', async () => {
    const document = await submit(w);
    const other = await world();
    const foreign = await rejectWith(document, await rejection(document, other.approvers[0]!), other.approverTokens[0]!);
    expect(refusal(foreign)).toEqual({ status: 404, code: 'NOT_FOUND' });
    expect(refusal(await rejectWith({ batchId: randomUUID() }, await rejection(document, w.approvers[0]!), w.approverTokens[0]!))).toEqual({ status: 404, code: 'NOT_FOUND' });
    expect(refusal(await rejectWith({ batchId: '..%2Fapprovals' }, await rejection(document, w.approvers[0]!), w.approverTokens[0]!))).toEqual({ status: 404, code: 'NOT_FOUND' });
    await expectUnchanged(document);
  });
});

// Maker–checker over HTTP against the real PostgreSQL: the policy decides how many approvers a
// batch needs; approvals arrive as detached signatures (or co-signatures on submission); meeting
// the policy commits the batch total in the ledger in the same transaction; every refusal has its
// own code and stores nothing.
import { sql } from 'kysely';
import request from 'supertest';
import { approval, bearer, bytesOf, postJson, registerKey, signAll, startTestApi, type TestApi } from '../support/api.js';
import { batchDocument, kenyanPayout, newKey, setUpProgramme, sign, type Maker, type Scenario } from '../support/fixtures.js';
import { fundProgramme } from '../../src/application/setup.js';

let api: TestApi;
beforeAll(async () => (api = await startTestApi()));
afterAll(async () => api?.close());

interface World extends Scenario {
  approvers: Maker[];
  makerToken: string;
  approverTokens: string[];
}

/** A programme needing 1 approver below 1,000.00, 2 from 1,000.00, 3 from 5,000.00. */
async function world(fundedMinor = 100_000_00n): Promise<World> {
  const s = await setUpProgramme(api.persistence, fundedMinor);
  const admin = await bearer(s.organisationId, 'admin');
  const policy = await request(api.app).put(`/v1/programmes/${s.programmeId}/policy`).set('authorization', admin).send({
    approvals: [{ fromTotal: '0', approvers: 1 }, { fromTotal: '1000.00', approvers: 2 }, { fromTotal: '5000.00', approvers: 3 }],
    providers: ['mpesa'], payoutMax: null, rowErrors: 'reject_batch',
  });
  expect(policy.status).toBe(200);
  const approvers = [await registerKey(api.persistence, s.organisationId, 'approver'), await registerKey(api.persistence, s.organisationId, 'approver'), await registerKey(api.persistence, s.organisationId, 'approver')];
  return {
    ...s,
    approvers,
    makerToken: await bearer(s.organisationId, 'programme_manager', 'maker-person'),
    approverTokens: [await bearer(s.organisationId, 'approver', 'approver-1'), await bearer(s.organisationId, 'approver', 'approver-2'), await bearer(s.organisationId, 'approver', 'approver-3')],
  };
}

async function submit(w: World, total: string, refs = 1) {
  const per = BigInt(total.replace('.', '')) / BigInt(refs);
  const rows = Array.from({ length: refs }, (_, i) => ({ ...kenyanPayout(`p-${i}`, `${per / 100n}.${String(per % 100n).padStart(2, '0')}`), msisdn: `+25471234${String(5000 + i)}` }));
  const document = batchDocument(w, rows);
  const res = await postJson(api.app, '/v1/batches', w.makerToken, await sign(document, w.maker));
  expect(res.status).toBe(201);
  return { document, batch: res.body };
}

const approve = (w: World, document: { batchId: string }, body: unknown, token: string) => postJson(api.app, `/v1/batches/${document.batchId}/approvals`, token, body);

async function available(w: Scenario): Promise<bigint> {
  const r = await sql<{ b: string }>`SELECT (credits_posted - debits_posted)::text AS b FROM accounts WHERE key = ${`programme:${w.programmeId}:available`}`.execute(api.database.db);
  return BigInt(r.rows[0]!.b);
}

describe('approval policy', () => {
  it.each([
    ['999.00', 1], ['1000.00', 2], ['4999.00', 2], ['5000.00', 3],
  ])('when a batch totals %s, then it needs %s approver(s) and waits for them', async (total, required) => {
    const w = await world();
    const { batch } = await submit(w, total, 1);
    expect(batch).toMatchObject({ state: 'awaiting_approval', approvals: { required, received: 0, approvers: [] }, payouts: { accepted: { count: 1 } } });
  });

  it('when the programme needs no approver, then the batch is approved and committed at submission', async () => {
    const s = await setUpProgramme(api.persistence, 1_000_00n);
    const document = batchDocument(s, [kenyanPayout('a', '100.00')]);
    const res = await postJson(api.app, '/v1/batches', await bearer(s.organisationId, 'programme_manager'), await sign(document, s.maker));
    expect(res.body).toMatchObject({ state: 'approved', approvals: { required: 0, received: 0 }, payouts: { approved: { count: 1 } } });
    expect(await available(s)).toBe(900_00n);
  });

  it('when approvals arrive one by one, then nothing moves until the last one needed, which commits the total and approves every payout', async () => {
    const w = await world();
    const before = await available(w);
    const { document } = await submit(w, '2000.00', 4);
    const first = await approve(w, document, await approval(document, w.approvers[0]!), w.approverTokens[0]!);
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ state: 'awaiting_approval', approvals: { required: 2, received: 1 } });
    expect(await available(w)).toBe(before);

    const second = await approve(w, document, await approval(document, w.approvers[1]!), w.approverTokens[1]!);
    expect(second.status).toBe(201);
    expect(second.body).toMatchObject({ state: 'approved', approvals: { required: 2, received: 2 }, payouts: { approved: { count: 4, amount: '2000.00' } } });
    expect(second.body.approvals.approvers.map((a: { kid: string }) => a.kid).sort()).toEqual([w.approvers[0]!.kid, w.approvers[1]!.kid].sort());
    expect(await available(w)).toBe(before - 2_000_00n);
    const committed = await sql<{ c: string }>`SELECT credits_posted::text AS c FROM accounts WHERE key = ${`batch:${document.batchId}:committed`}`.execute(api.database.db);
    expect(committed.rows[0]!.c).toBe('200000');
    // Each approval, and the release the last one made, is an audit event of its own transaction.
    const audit = await sql<{ action: string; actor: string; detail: Record<string, string> }>`SELECT action, actor, detail FROM audit_events WHERE object_id = ${document.batchId} ORDER BY seq`.execute(api.database.db);
    expect(audit.rows.map((e) => [e.action, e.actor, e.detail.approvals ?? e.detail.total])).toEqual([
      ['batch.approve', 'approver-1', '1'], ['batch.approve', 'approver-2', '2'], ['batch.release', 'approver-2', '2000.00'],
    ]);
  });

  it('when approvers co-sign the submitted JWS, then each counts once and the batch can be approved on arrival', async () => {
    const w = await world();
    const document = batchDocument(w, [kenyanPayout('a', '1500.00')]);
    const res = await postJson(api.app, '/v1/batches', w.makerToken, await signAll(document, [w.maker, w.approvers[0]!, w.approvers[1]!]));
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ state: 'approved', approvals: { required: 2, received: 2 } });
  });

  it('when two approvers send the last approval at once, then the ledger moves exactly once', async () => {
    const w = await world();
    const { document } = await submit(w, '1200.00');
    expect((await approve(w, document, await approval(document, w.approvers[0]!), w.approverTokens[0]!)).status).toBe(201);
    const [a, b] = await Promise.all([
      approve(w, document, await approval(document, w.approvers[1]!), w.approverTokens[1]!),
      approve(w, document, await approval(document, w.approvers[2]!), w.approverTokens[2]!),
    ]);
    expect([a.status, b.status].sort()).toEqual([201, 409]);
    const commits = await sql<{ n: string }>`SELECT count(*)::text AS n FROM transfers WHERE batch_id = ${document.batchId} AND code = 'batch_commit'`.execute(api.database.db);
    expect(commits.rows[0]!.n).toBe('1');
  });

  it('when the programme cannot fund the batch, then the approval is refused, nothing is stored, and the same approval succeeds once funded', async () => {
    const w = await world(500_00n);
    const { document } = await submit(w, '800.00');
    const body = await approval(document, w.approvers[0]!);
    const before = await api.footprint();
    const refused = await approve(w, document, body, w.approverTokens[0]!);
    expect({ status: refused.status, code: refused.body.error?.code }).toEqual({ status: 422, code: 'LEDGER_INSUFFICIENT_FUNDS' });
    expect(await api.footprint()).toEqual(before);
    const view = await request(api.app).get(`/v1/batches/${document.batchId}`).set('authorization', w.makerToken);
    expect(view.body).toMatchObject({ state: 'awaiting_approval', approvals: { received: 0 } });

    await fundProgramme(api.persistence, { idempotencyKey: 'top-up', organisationId: w.organisationId, programmeId: w.programmeId, source: 'donor', currency: 'KES', amountMinor: 500_00n });
    const accepted = await approve(w, document, body, w.approverTokens[0]!);
    expect(accepted.status).toBe(201);
    expect(accepted.body.state).toBe('approved');
  });
});

describe('approval refusals: each has its code and stores nothing', () => {
  let w: World;
  let document: ReturnType<typeof batchDocument>;
  beforeAll(async () => {
    w = await world();
    ({ document } = await submit(w, '1500.00'));
    // One approval in place, so "twice" cases have something to repeat.
    expect((await approve(w, document, await approval(document, w.approvers[0]!), w.approverTokens[0]!)).status).toBe(201);
  });

  async function refused(body: unknown, token: string, status: number, code: string, path?: string) {
    const before = await api.footprint();
    const res = await postJson(api.app, path ?? `/v1/batches/${document.batchId}/approvals`, token, body);
    expect({ status: res.status, code: res.body.error?.code }).toEqual({ status, code });
    expect(await api.footprint()).toEqual(before);
  }

  it('when the exact same approval is posted again, then 200 saying replayed: true, with nothing new', async () => {
    const before = await api.footprint();
    const first = (await sql<{ protected: string; signature: string }>`SELECT protected, signature FROM batch_approvals WHERE batch_id = ${document.batchId}`.execute(api.database.db)).rows[0]!;
    const res = await approve(w, document, first, w.approverTokens[0]!);
    expect({ status: res.status, replayed: res.body.replayed, batchId: res.body.batchId }).toEqual({ status: 200, replayed: true, batchId: document.batchId });
    expect(await api.footprint()).toEqual(before);
  });

  it('when the same key approves again (a fresh signature), then 409 APPROVAL_DUPLICATE', async () => {
    await refused(await approval(document, w.approvers[0]!), w.approverTokens[1]!, 409, 'APPROVAL_DUPLICATE');
  });

  it('when the same person approves again with another key, then 409 APPROVAL_DUPLICATE', async () => {
    await refused(await approval(document, w.approvers[1]!), w.approverTokens[0]!, 409, 'APPROVAL_DUPLICATE');
  });

  it("when the maker's key signs an approval, then 403 APPROVAL_BY_MAKER", async () => {
    await refused(await approval(document, w.maker), w.approverTokens[1]!, 403, 'APPROVAL_BY_MAKER');
  });

  it('when the person who submitted approves, then 403 APPROVAL_BY_MAKER', async () => {
    const both = await bearer(w.organisationId, 'approver', 'maker-person');
    await refused(await approval(document, w.approvers[1]!), both, 403, 'APPROVAL_BY_MAKER');
  });

  it('when another maker key signs an approval, then 403 JWS_KEY_WRONG_ROLE', async () => {
    const otherMaker = await registerKey(api.persistence, w.organisationId, 'maker');
    await refused(await approval(document, otherMaker), w.approverTokens[1]!, 403, 'JWS_KEY_WRONG_ROLE');
  });

  it("when another organisation's approver key signs, then 403 JWS_KEY_WRONG_ORGANISATION", async () => {
    const other = await setUpProgramme(api.persistence, 0n);
    const foreign = await registerKey(api.persistence, other.organisationId, 'approver');
    await refused(await approval(document, foreign), w.approverTokens[1]!, 403, 'JWS_KEY_WRONG_ORGANISATION');
  });

  it.each([
    ['revoked', { revokedAt: new Date(Date.now() - 60_000) }],
    ['expired', { notBefore: new Date(Date.now() - 7_200_000), notAfter: new Date(Date.now() - 3_600_000) }],
    ['not yet valid', { notBefore: new Date(Date.now() + 3_600_000) }],
  ])('when the approver key is %s, then 401 JWS_KEY_NOT_VALID', async (_name, window) => {
    const key = await registerKey(api.persistence, w.organisationId, 'approver', window);
    await refused(await approval(document, key), w.approverTokens[1]!, 401, 'JWS_KEY_NOT_VALID');
  });

  it('when the kid is unknown, then 401 JWS_KEY_UNKNOWN', async () => {
    await refused(await approval(document, await newKey()), w.approverTokens[1]!, 401, 'JWS_KEY_UNKNOWN');
  });

  it('when alg is none, HS256 or not the registered one, then 400 JWS_ALG_NOT_ALLOWED', async () => {
    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    for (const alg of ['none', 'HS256']) {
      await refused({ protected: b64({ alg, kid: w.approvers[1]!.kid }), signature: 'AAAA' }, w.approverTokens[1]!, 400, 'JWS_ALG_NOT_ALLOWED');
    }
    const good = await approval(document, w.approvers[1]!);
    await refused({ ...good, protected: b64({ alg: 'EdDSA', kid: w.approvers[1]!.kid }) }, w.approverTokens[1]!, 400, 'JWS_ALG_NOT_ALLOWED');
  });

  it('when the signature covers other bytes, then 401 JWS_SIGNATURE_INVALID', async () => {
    await refused(await approval({ ...document, expiresAt: new Date(Date.now() + 1_000).toISOString() }, w.approvers[1]!), w.approverTokens[1]!, 401, 'JWS_SIGNATURE_INVALID');
  });

  it('when the signature is stripped, then 401 JWS_SIGNATURE_INVALID', async () => {
    await refused({ ...(await approval(document, w.approvers[1]!)), signature: '' }, w.approverTokens[1]!, 401, 'JWS_SIGNATURE_INVALID');
  });

  it.each([
    ['a payload', async () => ({ ...(await approval(document, w.approvers[1]!)), payload: Buffer.from(bytesOf(document)).toString('base64url') })],
    ['an unprotected header', async () => ({ ...(await approval(document, w.approvers[1]!)), header: { kid: 'x' } })],
    ['an array', async () => []],
    ['a jwk in the header', async () => approval(document, w.approvers[1]!, { jwk: w.approvers[1]!.publicJwk })],
  ])('when the approval carries %s, then 400 JWS_MALFORMED', async (_name, body) => {
    await refused(await body(), w.approverTokens[1]!, 400, 'JWS_MALFORMED');
  });

  it('when a programme manager or nobody posts an approval, then 403 / 401', async () => {
    await refused(await approval(document, w.approvers[1]!), w.makerToken, 403, 'AUTH_FORBIDDEN');
    const res = await request(api.app).post(`/v1/batches/${document.batchId}/approvals`).set('content-type', 'application/json').send(JSON.stringify(await approval(document, w.approvers[1]!)));
    expect(res.status).toBe(401);
  });

  it("when another organisation's approver posts, then 404: the batch is not theirs to see", async () => {
    await refused(await approval(document, w.approvers[1]!), await bearer('org-elsewhere', 'approver'), 404, 'NOT_FOUND');
  });

  it('when the batch is already approved, then 409 BATCH_NOT_AWAITING_APPROVAL', async () => {
    const w2 = await world();
    const { document: d } = await submit(w2, '100.00');
    expect((await approve(w2, d, await approval(d, w2.approvers[0]!), w2.approverTokens[0]!)).status).toBe(201);
    await refused(await approval(d, w2.approvers[1]!), w2.approverTokens[1]!, 409, 'BATCH_NOT_AWAITING_APPROVAL', `/v1/batches/${d.batchId}/approvals`);
  });
});

describe('keys bound to the people who hold them', () => {
  let w: World;
  beforeAll(async () => (w = await world()));

  it("when an approver posts with a key registered to someone else, then 403 JWS_KEY_NOT_CALLERS", async () => {
    const { document } = await submit(w, '100.00');
    const annasKey = await registerKey(api.persistence, w.organisationId, 'approver', { holder: 'anna' });
    const res = await approve(w, document, await approval(document, annasKey), await bearer(w.organisationId, 'approver', 'bob'));
    expect({ status: res.status, code: res.body.error?.code }).toEqual({ status: 403, code: 'JWS_KEY_NOT_CALLERS' });
    const ok = await approve(w, document, await approval(document, annasKey), await bearer(w.organisationId, 'approver', 'anna'));
    expect(ok.status).toBe(201);
  });

  it("when the maker holds an approver key too, then approving with it is 403 APPROVAL_BY_MAKER, posted by anyone", async () => {
    const { document } = await submit(w, '100.00');
    const makersOwnApproverKey = await registerKey(api.persistence, w.organisationId, 'approver', { holder: 'maker-person' });
    const res = await approve(w, document, await approval(document, makersOwnApproverKey), await bearer(w.organisationId, 'approver', 'maker-person'));
    expect({ status: res.status, code: res.body.error?.code }).toEqual({ status: 403, code: 'APPROVAL_BY_MAKER' });
  });

  it('when a maker submits under a maker key registered to someone else, then 403 JWS_KEY_NOT_CALLERS', async () => {
    const carolsKey = await registerKey(api.persistence, w.organisationId, 'maker', { holder: 'carol' });
    const res = await postJson(api.app, '/v1/batches', w.makerToken, await sign(batchDocument(w, [kenyanPayout('a')]), carolsKey));
    expect({ status: res.status, code: res.body.error?.code }).toEqual({ status: 403, code: 'JWS_KEY_NOT_CALLERS' });
  });

  it('when the maker co-signs with an approver key of their own, then 403 APPROVAL_BY_MAKER; two keys of one approver count once: 409 APPROVAL_DUPLICATE', async () => {
    const makersKey = await registerKey(api.persistence, w.organisationId, 'maker', { holder: 'dan' });
    const dansApproverKey = await registerKey(api.persistence, w.organisationId, 'approver', { holder: 'dan' });
    const dan = await bearer(w.organisationId, 'programme_manager', 'dan');
    const eveOne = await registerKey(api.persistence, w.organisationId, 'approver', { holder: 'eve' });
    const eveTwo = await registerKey(api.persistence, w.organisationId, 'approver', { holder: 'eve' });
    const before = await api.footprint();
    const self = await postJson(api.app, '/v1/batches', dan, await signAll(batchDocument(w, [kenyanPayout('a', '1500.00')]), [makersKey, dansApproverKey]));
    expect({ status: self.status, code: self.body.error?.code }).toEqual({ status: 403, code: 'APPROVAL_BY_MAKER' });
    const twice = await postJson(api.app, '/v1/batches', dan, await signAll(batchDocument(w, [kenyanPayout('a', '1500.00')]), [makersKey, eveOne, eveTwo]));
    expect({ status: twice.status, code: twice.body.error?.code }).toEqual({ status: 409, code: 'APPROVAL_DUPLICATE' });
    expect(await api.footprint()).toEqual(before);
  });

  it('when an approver co-signed at submission, then the same person cannot approve again later with another key', async () => {
    const makersKey = await registerKey(api.persistence, w.organisationId, 'maker', { holder: 'fay' });
    const gusOne = await registerKey(api.persistence, w.organisationId, 'approver', { holder: 'gus' });
    const gusTwo = await registerKey(api.persistence, w.organisationId, 'approver', { holder: 'gus' });
    const document = batchDocument(w, [kenyanPayout('a', '1500.00')]);
    const res = await postJson(api.app, '/v1/batches', await bearer(w.organisationId, 'programme_manager', 'fay'), await signAll(document, [makersKey, gusOne]));
    expect(res.body).toMatchObject({ state: 'awaiting_approval', approvals: { required: 2, received: 1 } });
    const again = await approve(w, document, await approval(document, gusTwo), await bearer(w.organisationId, 'approver', 'gus'));
    expect({ status: again.status, code: again.body.error?.code }).toEqual({ status: 409, code: 'APPROVAL_DUPLICATE' });
  });
});

describe('submission signatures', () => {
  let w: World;
  beforeAll(async () => (w = await world()));

  async function refusedSubmission(jws: unknown, status: number, code: string) {
    const before = await api.footprint();
    const res = await postJson(api.app, '/v1/batches', w.makerToken, jws);
    expect({ status: res.status, code: res.body.error?.code }).toEqual({ status, code });
    expect(await api.footprint()).toEqual(before);
  }

  it('when the same key signs twice, then 400 JWS_KEY_REUSED', async () => {
    await refusedSubmission(await signAll(batchDocument(w, [kenyanPayout('a')]), [w.maker, w.maker]), 400, 'JWS_KEY_REUSED');
  });

  it('when two maker keys sign, then 403 JWS_KEY_WRONG_ROLE', async () => {
    const second = await registerKey(api.persistence, w.organisationId, 'maker');
    await refusedSubmission(await signAll(batchDocument(w, [kenyanPayout('a')]), [w.maker, second]), 403, 'JWS_KEY_WRONG_ROLE');
  });

  it('when only approvers sign, then 403 JWS_KEY_WRONG_ROLE: a batch is submitted under a maker key', async () => {
    await refusedSubmission(await signAll(batchDocument(w, [kenyanPayout('a')]), [w.approvers[0]!]), 403, 'JWS_KEY_WRONG_ROLE');
  });

  it('when the maker key is revoked or expired, then 401 JWS_KEY_NOT_VALID', async () => {
    for (const window of [{ revokedAt: new Date(Date.now() - 1_000) }, { notBefore: new Date(Date.now() - 7_200_000), notAfter: new Date(Date.now() - 1_000) }]) {
      const key = await registerKey(api.persistence, w.organisationId, 'maker', window);
      await refusedSubmission(await sign(batchDocument(w, [kenyanPayout('a')]), key), 401, 'JWS_KEY_NOT_VALID');
    }
  });

  it("when the maker key is another organisation's, then 403 JWS_KEY_WRONG_ORGANISATION", async () => {
    const other = await setUpProgramme(api.persistence, 0n);
    await refusedSubmission(await sign(batchDocument(w, [kenyanPayout('a')]), other.maker), 403, 'JWS_KEY_WRONG_ORGANISATION');
  });

  it('when the batch is dated in the future beyond the skew, then 422 BATCH_NOT_YET_VALID', async () => {
    const future = new Date(Date.now() + 10 * 60_000);
    await refusedSubmission(await sign(batchDocument(w, [kenyanPayout('a')], { createdAt: future.toISOString(), expiresAt: new Date(future.getTime() + 86_400_000).toISOString() }), w.maker), 422, 'BATCH_NOT_YET_VALID');
  });

  it('when an approver or finance token submits, then 403 AUTH_FORBIDDEN', async () => {
    for (const role of ['approver', 'finance']) {
      const res = await postJson(api.app, '/v1/batches', await bearer(w.organisationId, role), await sign(batchDocument(w, [kenyanPayout('a')]), w.maker));
      expect({ status: res.status, code: res.body.error?.code }).toEqual({ status: 403, code: 'AUTH_FORBIDDEN' });
    }
  });
});

// Who may post a provider callback: the per-attempt token in the URL authenticates each one, and
// a provider's address allow-list (MPESA_CALLBACK_ALLOWLIST) refuses anyone else before the body
// is read. A refused callback is answered 401 and stores nothing. Real PostgreSQL.
import { sql } from 'kysely';
import request from 'supertest';
import { parseAllowList } from '../../src/adapters/http/callback-auth.js';
import { callbackTokenHash, newCallbackToken } from '../../src/application/callback-token.js';
import { attemptKey, payoutIdOf } from '../../src/domain/ids.js';
import { bearer, postJson, startTestApi, type TestApi } from '../support/api.js';
import { batchDocument, setUpProgramme, sign } from '../support/fixtures.js';

const allowList = (text: string) => {
  const parsed = parseAllowList(text);
  if (!parsed.ok) throw new Error(parsed.problems.join('; '));
  return parsed.allows;
};

async function attemptWithToken(api: TestApi): Promise<{ token: string; key: string }> {
  const s = await setUpProgramme(api.persistence, 100_000_00n);
  const document = batchDocument(s, [{ ref: 'cb-1', provider: 'mpesa', msisdn: '+254712000111', amount: '100.00' }]);
  const res = await postJson(api.app, '/v1/batches', await bearer(s.organisationId, 'programme_manager'), await sign(document, s.maker));
  expect(res.status).toBe(201);
  const payoutId = payoutIdOf(document.batchId, 'cb-1');
  const token = newCallbackToken();
  const key = attemptKey(payoutId, 1);
  await api.persistence.transaction(async (tx) => {
    await tx.payouts.insertAttempt(payoutId, 1, key, callbackTokenHash(token));
    return { ok: true as const, value: undefined };
  });
  return { token, key };
}

const resultBody = (key: string) => JSON.stringify({ Result: { ResultType: 0, ResultCode: 0, ResultDesc: 'ok', OriginatorConversationID: key, ConversationID: 'AG_1', TransactionID: 'SG632NMUAB' } });
const callbacks = async (api: TestApi) => Number((await sql<{ n: string }>`SELECT count(*)::text AS n FROM callbacks`.execute(api.database.db)).rows[0]!.n);

describe('callbacks from outside the allow-list', () => {
  let api: TestApi;
  beforeAll(async () => (api = await startTestApi({ callbackAllowLists: { mpesa: allowList('10.0.0.0/8, 2001:db8::/32') } })));
  afterAll(async () => api?.close());

  it('when a callback with a valid token comes from an address not on the list, then 401 and nothing is stored', async () => {
    const { token, key } = await attemptWithToken(api);
    for (const path of [`/v1/callbacks/mpesa/${token}`, `/v1/callbacks/mpesa/${token}/timeout`, `/v1/callbacks/mpesa/${token}/status`]) {
      const res = await request(api.app).post(path).set('content-type', 'application/json').send(resultBody(key));
      expect({ path, status: res.status, code: res.body.error?.code }).toEqual({ path, status: 401, code: 'CALLBACK_UNAUTHENTICATED' });
    }
    expect(await callbacks(api)).toBe(0);
  });
});

describe('callbacks from inside the allow-list', () => {
  let api: TestApi;
  beforeAll(async () => (api = await startTestApi({ callbackAllowLists: { mpesa: allowList('127.0.0.0/8, ::1') } })));
  afterAll(async () => api?.close());

  it('when a callback with a valid token comes from a listed address, then it is stored once', async () => {
    const { token, key } = await attemptWithToken(api);
    const res = await request(api.app).post(`/v1/callbacks/mpesa/${token}`).set('content-type', 'application/json').send(resultBody(key));
    expect(res.status).toBe(200);
    expect(await callbacks(api)).toBe(1);
  });

  it('when a listed address posts with a forged token, then 401 and nothing is stored', async () => {
    const before = await callbacks(api);
    const res = await request(api.app).post(`/v1/callbacks/mpesa/${newCallbackToken()}`).set('content-type', 'application/json').send(resultBody('k'));
    expect(res.status).toBe(401);
    expect(await callbacks(api)).toBe(before);
  });
});

describe('MTN MoMo and GSMA callbacks', () => {
  let api: TestApi;
  beforeAll(async () => (api = await startTestApi()));
  afterAll(async () => api?.close());

  const transferResult = (key: string) => JSON.stringify({ financialTransactionId: '981569077', externalId: key, amount: '100', currency: 'KES', payee: { partyIdType: 'MSISDN', partyId: '254712000111' }, status: 'SUCCESSFUL' });
  const gsmaTransaction = JSON.stringify({ transactionReference: 'dd82cc6a-8a3b-4c5d-9e0f-1a2b3c4d5e6f', transactionStatus: 'completed', type: 'disbursement', amount: '100.00', currency: 'KES', creditParty: [{ key: 'msisdn', value: '+254712000111' }], debitParty: [{ key: 'accountid', value: '2999' }] });

  it('when MoMo sends a TransferResult by PUT or POST with the attempt\'s token, then it is stored once and answered 200', async () => {
    const { token, key } = await attemptWithToken(api);
    const before = await callbacks(api);
    for (const method of ['put', 'post'] as const) {
      const res = await request(api.app)[method](`/v1/callbacks/mtn-momo/${token}`).set('content-type', 'application/json').send(transferResult(key));
      expect(res.status).toBe(200);
    }
    expect(await callbacks(api)).toBe(before + 1);
    const stored = await sql<{ outcome: string; provider_reference: string | null }>`SELECT outcome, provider_reference FROM payout_results ORDER BY created_at DESC LIMIT 1`.execute(api.database.db);
    expect(stored.rows[0]).toEqual({ outcome: 'paid', provider_reference: '981569077' });
  });

  it('when GSMA PUTs the final transaction with the attempt\'s token and correlation id, then it is stored once and answered 204', async () => {
    const { token, key } = await attemptWithToken(api);
    const before = await callbacks(api);
    for (let i = 0; i < 2; i++) {
      const res = await request(api.app).put(`/v1/callbacks/gsma/${token}`).set('content-type', 'application/json').set('x-correlationid', key).send(gsmaTransaction);
      expect(res.status).toBe(204);
    }
    expect(await callbacks(api)).toBe(before + 1);
  });

  it.each([
    ['mtn-momo', 'post', 'a forged token', false, '{}', 401],
    ['gsma', 'put', 'a forged token', false, '{}', 401],
    ['mtn-momo', 'put', 'a body that is not a TransferResult', true, '{"hello":1}', 400],
    ['gsma', 'put', 'a body that is not JSON', true, 'nope', 400],
  ] as const)('when %s gets a %s callback with %s, then it is refused and nothing is stored', async (provider, method, _what, realToken, body, status) => {
    const { token } = await attemptWithToken(api);
    const before = await callbacks(api);
    const res = await request(api.app)[method](`/v1/callbacks/${provider}/${realToken ? token : newCallbackToken()}`).set('content-type', 'application/json').send(body);
    expect(res.status).toBe(status);
    expect(await callbacks(api)).toBe(before);
  });
});

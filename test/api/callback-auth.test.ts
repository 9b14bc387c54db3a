// Who may post a provider callback: the per-attempt token in the URL authenticates each one, and
// a provider's address allow-list (MPESA_CALLBACK_ALLOWLIST) refuses anyone else before the body
// is read. A refused callback is answered 401 and stores nothing. Real PostgreSQL.
import { createHmac } from 'node:crypto';
import { sql } from 'kysely';
import request from 'supertest';
import { parseAllowList } from '../../src/adapters/http/callback-auth.js';
import { callbackTokenHash, newCallbackToken } from '../../src/application/callback-token.js';
import { MicroBatchOverloadedError } from '../../src/application/micro-batch.js';
import type { Persistence } from '../../src/application/ports.js';
import { attemptKey, payoutIdOf } from '../../src/domain/ids.js';
import { bearer, postJson, startTestApi, type TestApi } from '../support/api.js';
import { batchDocument, setUpProgramme, sign } from '../support/fixtures.js';

const allowList = (text: string) => {
  const parsed = parseAllowList(text);
  if (!parsed.ok) throw new Error(parsed.problems.join('; '));
  return parsed.allows;
};

/**
 * An attempt of a payout of `provider` with its callback token. The test API routes every row to
 * M-Pesa; a payout of another provider is made so by its row (the callback routes read nothing else).
 */
async function attemptWithToken(api: TestApi, provider: 'mpesa' | 'mtn-momo' | 'gsma' = 'mpesa'): Promise<{ token: string; key: string; payoutId: string }> {
  const s = await setUpProgramme(api.persistence, 100_000_00n);
  const document = batchDocument(s, [{ ref: 'cb-1', provider: 'mpesa', msisdn: '+254712000111', amount: '100.00' }]);
  const res = await postJson(api.app, '/v1/batches', await bearer(s.organisationId, 'programme_manager'), await sign(document, s.maker));
  expect(res.status).toBe(201);
  const payoutId = payoutIdOf(document.batchId, 'cb-1');
  const token = newCallbackToken();
  const key = attemptKey(payoutId, 1);
  await api.persistence.transaction(async (tx) => {
    await tx.payouts.insertAttempts([{ payoutId, attemptNo: 1, idempotencyKey: key, callbackTokenSha256: callbackTokenHash(token), accountId: provider }]);
    return { ok: true as const, value: undefined };
  });
  if (provider !== 'mpesa') await sql`UPDATE payouts SET provider = ${provider} WHERE id = ${payoutId}::uuid`.execute(api.database.db);
  return { token, key, payoutId };
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
    const { token, key } = await attemptWithToken(api, 'mtn-momo');
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
    const { token, key } = await attemptWithToken(api, 'gsma');
    const before = await callbacks(api);
    for (let i = 0; i < 2; i++) {
      const res = await request(api.app).put(`/v1/callbacks/gsma/${token}`).set('content-type', 'application/json').set('x-correlationid', key).send(gsmaTransaction);
      expect(res.status).toBe(204);
    }
    expect(await callbacks(api)).toBe(before + 1);
  });

  it('when two GSMA attempts receive byte-identical error bodies without X-CorrelationID, then both are stored (one slot per request), neither releases money, and both payouts\' status queries are due', async () => {
    const first = await attemptWithToken(api, 'gsma');
    const second = await attemptWithToken(api, 'gsma');
    const before = await callbacks(api);
    const error = JSON.stringify({ errorCategory: 'businessRule', errorCode: 'insufficientFunds', errorDescription: 'no float' });
    for (const { token } of [first, second]) {
      const res = await request(api.app).put(`/v1/callbacks/gsma/${token}`).set('content-type', 'application/json').send(error);
      expect(res.status).toBe(204);
    }
    // The same delivery again is no new callback.
    expect((await request(api.app).put(`/v1/callbacks/gsma/${first.token}`).set('content-type', 'application/json').send(error)).status).toBe(204);
    expect(await callbacks(api)).toBe(before + 2);
    const results = await sql<{ n: string }>`SELECT count(*)::text AS n FROM payout_results WHERE payout_id = ANY(${[first.payoutId, second.payoutId]}::uuid[])`.execute(api.database.db);
    expect(results.rows[0]!.n).toBe('0');
    const reported = await sql<{ reported_failure: string | null }>`SELECT reported_failure FROM payout_attempts WHERE payout_id = ANY(${[first.payoutId, second.payoutId]}::uuid[])`.execute(api.database.db);
    expect(reported.rows.map((r) => r.reported_failure)).toEqual(['insufficient_float:gsma:insufficientFunds', 'insufficient_float:gsma:insufficientFunds']);
  });

  it('when a status query\'s token is used on a payment route, or a resend\'s payment token on a status route, then 401 and nothing is stored', async () => {
    const { key, payoutId } = await attemptWithToken(api);
    const statusToken = newCallbackToken();
    const resendToken = newCallbackToken();
    await api.persistence.transaction(async (tx) => {
      await tx.payouts.insertStatusToken(payoutId, 1, callbackTokenHash(statusToken), 'status');
      await tx.payouts.insertStatusToken(payoutId, 1, callbackTokenHash(resendToken), 'payment');
      return { ok: true as const, value: undefined };
    });
    const before = await callbacks(api);
    const refused = [
      await request(api.app).post(`/v1/callbacks/mpesa/${statusToken}`).set('content-type', 'application/json').send(resultBody(key)),
      await request(api.app).post(`/v1/callbacks/mpesa/${statusToken}/timeout`).set('content-type', 'application/json').send(JSON.stringify({ OriginatorConversationID: key })),
      await request(api.app).post(`/v1/callbacks/mpesa/${resendToken}/status`).set('content-type', 'application/json').send(resultBody(key)),
      await request(api.app).post(`/v1/callbacks/mpesa/${resendToken}/status/timeout`).set('content-type', 'application/json').send(JSON.stringify({ OriginalConversationID: key })),
    ];
    expect(refused.map((r) => r.status)).toEqual([401, 401, 401, 401]);
    expect(await callbacks(api)).toBe(before);
    // Each on its own route is taken.
    expect((await request(api.app).post(`/v1/callbacks/mpesa/${resendToken}`).set('content-type', 'application/json').send(resultBody(key))).status).toBe(200);
    expect(await callbacks(api)).toBe(before + 1);
  });

  it('when an attempt\'s token is used on another provider\'s path, then 401 and nothing is stored', async () => {
    const { token, key } = await attemptWithToken(api, 'mtn-momo');
    const before = await callbacks(api);
    const res = await request(api.app).put(`/v1/callbacks/gsma/${token}`).set('content-type', 'application/json').set('x-correlationid', key).send(gsmaTransaction);
    expect(res.status).toBe(401);
    expect((await request(api.app).post(`/v1/callbacks/mpesa/${token}`).set('content-type', 'application/json').send(resultBody(key))).status).toBe(401);
    expect(await callbacks(api)).toBe(before);
  });

  it.each([
    ['mtn-momo', 'post', 'a forged token', false, '{}', 401],
    ['gsma', 'put', 'a forged token', false, '{}', 401],
    ['mtn-momo', 'put', 'a body that is not a TransferResult', true, '{"hello":1}', 400],
    ['gsma', 'put', 'a body that is not JSON', true, 'nope', 400],
  ] as const)('when %s gets a %s callback with %s, then it is refused and nothing is stored', async (provider, method, _what, realToken, body, status) => {
    const { token } = await attemptWithToken(api, provider);
    const before = await callbacks(api);
    const res = await request(api.app)[method](`/v1/callbacks/${provider}/${realToken ? token : newCallbackToken()}`).set('content-type', 'application/json').send(body);
    expect(res.status).toBe(status);
    expect(await callbacks(api)).toBe(before);
  });
});

describe('callbacks while more of them wait for the database than may queue', () => {
  // The refusal itself (microBatchPendingMax calls waiting) is proven in test/unit/micro-batch.test.ts;
  // here the API's token lookup is refused that way, as it would be with 65,536 callbacks queued.
  let api: TestApi;
  const overloaded = (real: Persistence): Persistence => ({
    ...real,
    read: { ...real.read, payouts: { ...real.read.payouts, findCallbackSubjectsByTokens: async () => { throw new MicroBatchOverloadedError(); } } },
  });
  beforeAll(async () => (api = await startTestApi({ persistenceOfApi: overloaded })));
  afterAll(async () => api?.close());

  it('when a callback cannot be queued, then 503 with Retry-After, in our error shape, and nothing is stored (the provider resends)', async () => {
    const { token, key } = await attemptWithToken(api);
    const res = await request(api.app).post(`/v1/callbacks/mpesa/${token}`).set('content-type', 'application/json').send(resultBody(key));
    expect({ status: res.status, code: res.body.error?.code, retryAfter: res.headers['retry-after'] }).toEqual({ status: 503, code: 'SERVICE_UNAVAILABLE', retryAfter: '1' });
    expect(await callbacks(api)).toBe(0);
    expect(Number((await sql<{ n: string }>`SELECT count(*)::text AS n FROM payout_results`.execute(api.database.db)).rows[0]!.n)).toBe(0);
  });
});

describe('stale callback tokens', () => {
  let api: TestApi;
  beforeAll(async () => (api = await startTestApi()));
  afterAll(async () => api?.close());

  it('when a valid token is presented after its lifetime (a leaked URL replayed), then 401 and nothing is stored', async () => {
    const { token, key } = await attemptWithToken(api);
    await sql`UPDATE payout_attempts SET created_at = now() - interval '8 days' WHERE idempotency_key = ${key}`.execute(api.database.db);
    const res = await request(api.app).post(`/v1/callbacks/mpesa/${token}`).set('content-type', 'application/json').send(resultBody(key));
    expect({ status: res.status, code: res.body.error?.code }).toEqual({ status: 401, code: 'CALLBACK_UNAUTHENTICATED' });
    expect(await callbacks(api)).toBe(0);
  });

  it('when it is presented within its lifetime, then it is stored', async () => {
    const { token, key } = await attemptWithToken(api);
    await sql`UPDATE payout_attempts SET created_at = now() - interval '6 days' WHERE idempotency_key = ${key}`.execute(api.database.db);
    expect((await request(api.app).post(`/v1/callbacks/mpesa/${token}`).set('content-type', 'application/json').send(resultBody(key))).status).toBe(200);
    expect(await callbacks(api)).toBe(1);
  });
});

describe('Airtel callbacks (one URL per application: signed, or confirmed by a status query)', () => {
  const secret = 'airtel-callback-secret';
  let api: TestApi;
  beforeAll(async () => (api = await startTestApi({ callbackAuthOf: (accountId) => (accountId === 'airtel-signed' ? { mode: 'hmac', hmacSecret: secret } : { mode: 'status-query', hmacSecret: null }) })));
  afterAll(async () => api?.close());

  async function airtelAttempt(accountId: string): Promise<{ payoutId: string; id: string }> {
    const { key } = await attemptWithToken(api);
    const payoutId = (await sql<{ payout_id: string }>`SELECT payout_id FROM payout_attempts WHERE idempotency_key = ${key}`.execute(api.database.db)).rows[0]!.payout_id;
    // The same attempt as if sent through an Airtel account (the provider column names the topic only).
    // Sent and waiting for its result, as the worker leaves it.
    await sql`UPDATE payouts SET provider = 'airtel', state = 'submitted' WHERE id = ${payoutId}::uuid`.execute(api.database.db);
    await sql`UPDATE payout_attempts SET account_id = ${accountId} WHERE idempotency_key = ${key}`.execute(api.database.db);
    return { payoutId, id: key.replaceAll('-', '') };
  }
  const body = (id: string, status = 'TS') => JSON.stringify({ transaction: { id, message: 'Paid ZMW 100 to Amina Test 0971000111', status_code: status, airtel_money_id: 'MP210603.1234.L06941' } });
  const post = (raw: string, hash?: string) => {
    const r = request(api.app).post('/v1/callbacks/airtel').set('content-type', 'application/json');
    return (hash === undefined ? r : r.set('hash', hash)).send(raw);
  };
  const results = async (payoutId: string) => (await sql<{ source: string }>`SELECT source FROM payout_results WHERE payout_id = ${payoutId}::uuid`.execute(api.database.db)).rows;
  const dueNow = async (payoutId: string) =>
    (await sql<{ due: boolean }>`SELECT status_check_at <= now() AS due FROM payouts WHERE id = ${payoutId}::uuid`.execute(api.database.db)).rows[0]!.due;

  it('when a signed account posts with the right hash, then the callback is a result, once', async () => {
    const { payoutId, id } = await airtelAttempt('airtel-signed');
    const raw = body(id);
    const hash = createHmac('sha256', secret).update(raw).digest('base64');
    expect((await post(raw, hash)).status).toBe(200);
    expect((await post(raw, hash)).status).toBe(200);
    expect(await results(payoutId)).toEqual([{ source: 'callback' }]);
  });

  it.each([
    ['no hash', undefined],
    ['a hash over another body', createHmac('sha256', secret).update('{}').digest('base64')],
    ['a hash with another secret', createHmac('sha256', 'guess').update('x').digest('base64')],
    ['a hash that is not base64', '%%%'],
  ])('when a signed account posts with %s, then 401 and nothing is stored', async (_name, hash) => {
    const { payoutId, id } = await airtelAttempt('airtel-signed');
    const before = await callbacks(api);
    const res = await post(body(id), hash);
    expect({ status: res.status, code: res.body.error?.code }).toEqual({ status: 401, code: 'CALLBACK_UNAUTHENTICATED' });
    expect(await callbacks(api)).toBe(before);
    expect(await results(payoutId)).toEqual([]);
  });

  it('when an unsigned account posts, then the callback is kept and only makes the status query due: no result, no money moves', async () => {
    const { payoutId, id } = await airtelAttempt('airtel-unsigned');
    const before = await callbacks(api);
    expect((await post(body(id))).status).toBe(200);
    expect(await callbacks(api)).toBe(before + 1);
    expect(await results(payoutId)).toEqual([]);
    expect(await dueNow(payoutId)).toBe(true);
  });

  it('when a callback names a transaction Tuma does not know, then it is kept as an orphan and answered alike', async () => {
    const before = await callbacks(api);
    expect((await post(body('ABCDEF0123456789ABCDEF0123456789'))).status).toBe(200);
    const orphans = await sql<{ n: string }>`SELECT count(*)::text AS n FROM callbacks WHERE provider = 'airtel' AND payout_id IS NULL`.execute(api.database.db);
    expect(await callbacks(api)).toBe(before + 1);
    expect(Number(orphans.rows[0]!.n)).toBeGreaterThanOrEqual(1);
  });

  it.each([
    ['not JSON', '{"transaction":'],
    ['no transaction', '{}'],
    ['an id with symbols', JSON.stringify({ transaction: { id: "1' OR '1'='1", status_code: 'TS' } })],
    ['no status', JSON.stringify({ transaction: { id: 'ABCDEF012345' } })],
    ['an array', '[]'],
  ])('when the body is %s, then 400 CALLBACK_MALFORMED and nothing is stored', async (_name, raw) => {
    const before = await callbacks(api);
    const res = await post(raw);
    expect({ status: res.status, code: res.body.error?.code }).toEqual({ status: 400, code: 'CALLBACK_MALFORMED' });
    expect(await callbacks(api)).toBe(before);
  });

  it('when the body is larger than a callback can be, then 413 and nothing is stored', async () => {
    const before = await callbacks(api);
    const res = await post(JSON.stringify({ transaction: { id: 'ABCDEF012345', status_code: 'TS', message: 'x'.repeat(70 * 1024) } }));
    expect(res.status).toBe(413);
    expect(await callbacks(api)).toBe(before);
  });
});

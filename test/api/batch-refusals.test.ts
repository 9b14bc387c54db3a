// Hostile and malformed submissions: each refused with a 4xx and a stable code, nothing stored.
import { sql } from 'kysely';
import request from 'supertest';
import type { createApp } from '../../src/adapters/http/app.js';
import type { Persistence } from '../../src/application/ports.js';
import { startTestApi, type TestApi } from '../support/api.js';
import { tokenFor } from '../support/auth.js';
import type { TestDatabase } from '../support/database.js';
import { batchDocument, kenyanPayout, newKey, setUpProgramme, sign, type Scenario } from '../support/fixtures.js';

let api: TestApi;
let database: TestDatabase;
let persistence: Persistence;
let app: ReturnType<typeof createApp>;
let scenario: Scenario;
const bodyMaxBytes = 64 * 1024;

beforeAll(async () => {
  api = await startTestApi({ batchPayoutsMax: 5, bodyMaxBytes });
  ({ database, persistence, app } = api);
  scenario = await setUpProgramme(persistence, 1_000_00n);
  makerToken = await tokenFor(scenario.organisationId, ['programme_manager'], { subject: 'maker-person' });
});

afterAll(async () => api?.close());

async function storedRows(): Promise<number> {
  const r = await sql<{ n: string }>`
    SELECT ((SELECT count(*) FROM batches) + (SELECT count(*) FROM payouts)
          + (SELECT count(*) FROM transfers WHERE code = 'batch_commit'))::text AS n`.execute(database.db);
  return Number(r.rows[0]!.n);
}

let makerToken: string;
const post = (body: string | object, type = 'application/jose+json') =>
  request(app).post('/v1/batches').set('authorization', `Bearer ${makerToken}`).set('content-type', type).send(typeof body === 'string' ? body : JSON.stringify(body));

async function expectRefused(body: string | object, status: number, code: string, type?: string) {
  const before = await storedRows();
  const res = await post(body, type);
  expect({ status: res.status, code: res.body?.error?.code }).toEqual({ status, code });
  expect(res.body.error.message).toEqual(expect.any(String));
  expect(JSON.stringify(res.body)).not.toMatch(/at .*\.ts:\d+/); // no stack traces
  expect(await storedRows()).toBe(before);
  return res;
}

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
const validDoc = () => batchDocument(scenario, [kenyanPayout('a-1', '100.00')]);

describe('POST /v1/batches refusals', () => {
  it('when the body is not JSON, then 400 REQUEST_MALFORMED', async () => {
    await expectRefused('{"payload": ', 400, 'REQUEST_MALFORMED');
  });

  it('when the content type is not JSON, then 415 and nothing stored', async () => {
    await expectRefused('payload=x', 415, 'REQUEST_UNSUPPORTED_MEDIA_TYPE', 'application/x-www-form-urlencoded');
  });

  it('when the body is larger than the limit, then 413 REQUEST_TOO_LARGE', async () => {
    await expectRefused({ payload: 'a'.repeat(bodyMaxBytes + 10), signatures: [] }, 413, 'REQUEST_TOO_LARGE');
  });

  it.each([
    ['an array', []],
    ['no signatures', { payload: 'eyJ9' }],
    ['an empty signatures list', { payload: 'eyJ9', signatures: [] }],
    ['a non-base64url payload', { payload: 'not base64!', signatures: [{ protected: 'e30', signature: 'AA' }] }],
    ['an unprotected header', { payload: 'e30', signatures: [{ protected: 'e30', header: { kid: 'x' }, signature: 'AA' }] }],
    ['an extra member', { payload: 'e30', signatures: [{ protected: 'e30', signature: 'AA' }], __proto__x: 1 }],
  ])('when the JWS is %s, then 400 JWS_MALFORMED', async (_name, body) => {
    await expectRefused(body, 400, 'JWS_MALFORMED');
  });

  it('when the payload was tampered with after signing, then 401 JWS_SIGNATURE_INVALID', async () => {
    const jws = await sign(validDoc(), scenario.maker);
    const doc = JSON.parse(Buffer.from(jws.payload, 'base64url').toString('utf8'));
    doc.payouts[0].amount = '9000.00';
    doc.declared.total = '9000.00';
    await expectRefused({ ...jws, payload: b64(doc) }, 401, 'JWS_SIGNATURE_INVALID');
  });

  it('when the signature bytes are altered, then 401 JWS_SIGNATURE_INVALID', async () => {
    const jws = await sign(validDoc(), scenario.maker);
    const sig = Buffer.from(jws.signatures[0]!.signature, 'base64url');
    sig[0] = sig[0]! ^ 0xff;
    await expectRefused({ ...jws, signatures: [{ ...jws.signatures[0], signature: sig.toString('base64url') }] }, 401, 'JWS_SIGNATURE_INVALID');
  });

  it('when the key is not registered, then 401 JWS_KEY_UNKNOWN', async () => {
    await expectRefused(await sign(validDoc(), await newKey()), 401, 'JWS_KEY_UNKNOWN');
  });

  it('when alg is none, then 400 JWS_ALG_NOT_ALLOWED', async () => {
    const payload = b64(validDoc());
    await expectRefused({ payload, signatures: [{ protected: b64({ alg: 'none', kid: scenario.maker.kid }), signature: '' }] }, 400, 'JWS_ALG_NOT_ALLOWED');
  });

  it('when alg is HS256 (an HMAC over the public key), then 400 JWS_ALG_NOT_ALLOWED', async () => {
    const payload = b64(validDoc());
    await expectRefused({ payload, signatures: [{ protected: b64({ alg: 'HS256', kid: scenario.maker.kid }), signature: 'AAAA' }] }, 400, 'JWS_ALG_NOT_ALLOWED');
  });

  it('when the signed document is for another organisation, then 403 JWS_KEY_WRONG_ORGANISATION', async () => {
    await expectRefused(await sign({ ...validDoc(), organisationId: 'someone-else' }, scenario.maker), 403, 'JWS_KEY_WRONG_ORGANISATION');
  });

  it('when rows are invalid, then 422 BATCH_INVALID lists each row, field and code', async () => {
    const doc = batchDocument(scenario, [
      { ref: 'x-1', provider: 'mpesa', msisdn: '+256712345678', amount: '10.00' },
      { ref: 'x-2', provider: 'mpesa', msisdn: '+254712345678', amount: 10 },
      { ref: 'x-3', provider: 'mpesa', msisdn: '+254712345678', amount: '10.001' },
      { ref: 'x-3', provider: 'nope', msisdn: '0712345678', amount: '1e3' },
    ], { total: '10.00' });
    const res = await expectRefused(await sign(doc, scenario.maker), 422, 'BATCH_INVALID');
    expect(res.body.error.errors).toEqual(expect.arrayContaining([
      expect.objectContaining({ row: 1, field: 'msisdn', code: 'MSISDN_COUNTRY' }),
      expect.objectContaining({ row: 2, field: 'amount', code: 'AMOUNT_NOT_STRING' }),
      expect.objectContaining({ row: 3, field: 'amount', code: 'AMOUNT_SCALE' }),
      expect.objectContaining({ row: 4, field: 'ref', code: 'REF_DUPLICATE' }),
      expect.objectContaining({ row: 4, field: 'provider', code: 'PROVIDER_UNKNOWN' }),
      expect.objectContaining({ row: 4, field: 'amount', code: 'AMOUNT_INVALID' }),
    ]));
  });

  it('when the batch has more payouts than allowed, then 413 BATCH_TOO_LARGE', async () => {
    const rows = Array.from({ length: 6 }, (_, i) => kenyanPayout(`big-${i}`, '10.00'));
    await expectRefused(await sign(batchDocument(scenario, rows), scenario.maker), 413, 'BATCH_TOO_LARGE');
  });

  it('when the batch has expired, then 422 BATCH_EXPIRED', async () => {
    const doc = { ...validDoc(), createdAt: new Date(Date.now() - 7_200_000).toISOString(), expiresAt: new Date(Date.now() - 3_600_000).toISOString() };
    await expectRefused(await sign(doc, scenario.maker), 422, 'BATCH_EXPIRED');
  });

  it('when the programme cannot fund the batch, then 422 LEDGER_INSUFFICIENT_FUNDS and nothing moves', async () => {
    await expectRefused(await sign(batchDocument(scenario, [kenyanPayout('rich-1', '5000.00')]), scenario.maker), 422, 'LEDGER_INSUFFICIENT_FUNDS');
  });

  it('when the same signed batch comes again, then 200 with the batch as it is and replayed: true, nothing stored twice', async () => {
    const jws = await sign(batchDocument(scenario, [kenyanPayout('again-1', '10.00')]), scenario.maker);
    const first = await post(jws);
    expect({ status: first.status, replayed: first.body.replayed, state: first.body.state }).toEqual({ status: 201, replayed: false, state: 'approved' });
    const before = await storedRows();
    const again = await post(jws);
    expect({ status: again.status, replayed: again.body.replayed }).toEqual({ status: 200, replayed: true });
    expect(again.body).toMatchObject({ batchId: first.body.batchId, state: 'approved', payoutCount: 1, total: '10.00' });
    expect(await storedRows()).toBe(before);
  });

  it('when the same batchId comes with other bytes, then 409 BATCH_CONFLICT', async () => {
    const doc = validDoc();
    expect((await post(await sign(doc, scenario.maker))).status).toBe(201);
    await expectRefused(await sign({ ...doc, payouts: [kenyanPayout('a-1', '200.00')], declared: { count: 1, total: '200.00' } }, scenario.maker), 409, 'BATCH_CONFLICT');
  });
});

describe('callbacks', () => {
  it('when a callback carries an unknown token, then 401 and nothing is stored', async () => {
    const res = await request(app).post(`/v1/callbacks/mpesa/${'A'.repeat(43)}`).set('content-type', 'application/json').send('{"Result":{}}');
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('CALLBACK_UNAUTHENTICATED');
    const n = await sql<{ n: string }>`SELECT count(*)::text AS n FROM callbacks`.execute(database.db);
    expect(n.rows[0]!.n).toBe('0');
  });
});

describe('operations', () => {
  it('when /healthz is asked, then it answers ok with a request id', async () => {
    const res = await request(app).get('/healthz');
    expect(res.status).toBe(200);
    expect(res.headers['x-request-id']).toEqual(expect.any(String));
  });
});

// The M-Pesa simulator's bare B2C path (src/simulator/mpesa-bare.ts, which the load test serves)
// answers as its Express route does: the same status, body and headers (but Express's ETag), the
// same payment run once, the same callback sent. Express routes case-insensitively, so the same
// route spelled `/MPESA/b2c/...` is served by Express: each case is sent both ways and the answers
// compared. Express adds an ETag to a JSON answer and the bare path does not: that is how a test
// tells which one answered.
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import express from 'express';
import { pino } from 'pino';
import request from 'supertest';
import { bareMpesaB2c } from '../../src/simulator/mpesa-bare.js';
import { createMpesaSimulator, mpesaB2cBodyMaxBytes, type MpesaSimulator } from '../../src/simulator/mpesa-simulator.js';
import { net } from '../support/net.js';

const bare = '/mpesa/b2c/v3/paymentrequest';
const viaExpress = '/MPESA/b2c/v3/paymentrequest';
/** Headers that differ between any two answers (or that only Express sends), left out of comparisons. */
const varying = new Set(['date', 'etag', 'connection', 'keep-alive', 'content-length']);
const headersOf = (res: request.Response) => Object.fromEntries(Object.entries(res.headers).filter(([k]) => !varying.has(k)).sort(([a], [b]) => a.localeCompare(b)));
/** An answer's body with what is fresh in each (request and conversation ids, the key sent) replaced. */
const shapeOf = (body: unknown) =>
  JSON.parse(JSON.stringify(body), (k, v: unknown) => (['requestId', 'ConversationID', 'OriginatorConversationID'].includes(k) && typeof v === 'string' ? `<${k}>` : v)) as unknown;

let server: Server;
let simulator: MpesaSimulator;
let base: string;
let token: string;
let n = 0;
const callbacks: { key: string }[] = [];
/** Requests the bare path took (the rest went to Express). */
let takenByBare = 0;

const payment = (key: string, fields: Record<string, unknown> = {}) =>
  JSON.stringify({
    OriginatorConversationID: key, InitiatorName: 'tuma', SecurityCredential: 'c2VjcmV0', CommandID: 'BusinessPayment', Amount: 150, PartyA: 600000, PartyB: 254712345678,
    Remarks: 'Cash transfer', QueueTimeOutURL: `${base}/cb/timeout`, ResultURL: `${base}/cb/result`, Occasion: '', ...fields,
  });
const post = (path: string, body: string | Buffer, headers: Record<string, string> = {}) =>
  request(server).post(path).set({ 'content-type': 'application/json', authorization: `Bearer ${token}`, ...headers }).send(body);
const nextKey = () => `bare-${process.pid}-${++n}`;

beforeAll(async () => {
  simulator = createMpesaSimulator({ consumerKey: 'ck', consumerSecret: 'cs', callbackDelayMs: 0, logger: pino({ level: 'silent' }) });
  const app = express();
  app.disable('x-powered-by');
  app.post('/cb/*rest', express.json(), (req, res) => {
    callbacks.push({ key: String((req.body as { Result?: { OriginatorConversationID?: unknown } }).Result?.OriginatorConversationID) });
    res.json({ ResultCode: 0, ResultDesc: 'Accepted' });
  });
  app.use(simulator.router);
  const b2c = bareMpesaB2c(simulator);
  server = createServer((req, res) => {
    if (b2c(req, res)) takenByBare += 1;
    else app(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const oauth = await request(server).get('/oauth/v1/generate?grant_type=client_credentials').set('authorization', `Basic ${Buffer.from('ck:cs').toString('base64')}`);
  token = (oauth.body as { access_token: string }).access_token;
});

afterAll(async () => {
  simulator.close();
  await new Promise((r) => server.close(r));
});

describe("the M-Pesa simulator's bare B2C path, against its Express route", () => {
  it('when a valid payment request comes, then the bare path answers 200 as Express does, runs the payment once and sends its result callback', async () => {
    const [k1, k2] = [nextKey(), nextKey()];
    const taken = takenByBare;
    const a = await post(bare, payment(k1));
    const b = await post(viaExpress, payment(k2));
    expect(takenByBare).toBe(taken + 1);
    expect({ bare: a.headers.etag, express: typeof b.headers.etag }).toEqual({ bare: undefined, express: 'string' });
    expect({ status: a.status, body: shapeOf(a.body), headers: headersOf(a) }).toEqual({ status: b.status, body: shapeOf(b.body), headers: headersOf(b) });
    expect(a.status).toBe(200);
    expect(a.body).toMatchObject({ OriginatorConversationID: k1, ResponseCode: '0', ConversationID: expect.stringMatching(/^AG_\d{8}_[0-9a-f]{20}$/) });
    expect([simulator.executions(k1), simulator.executions(k2)]).toEqual([1, 1]);
    await net.until(() => ([k1, k2].every((k) => callbacks.some((c) => c.key === k)) ? true : undefined));
    // The same key again: Daraja's duplicate answer both ways, nothing run again.
    const again = [await post(bare, payment(k1)), await post(viaExpress, payment(k2))];
    expect(again.map((r) => ({ status: r.status, body: shapeOf(r.body) }))).toEqual([0, 1].map(() => ({ status: 500, body: { requestId: '<requestId>', errorCode: '500.002.1001', errorMessage: 'Duplicate OriginatorConversationID.' } })));
    expect(again[0]!.headers.etag).toBeUndefined();
    expect([simulator.executions(k1), simulator.executions(k2)]).toEqual([1, 1]);
  });

  it.each([
    ['an unknown access token', () => ({ body: payment(nextKey()), headers: { authorization: 'Bearer not-a-token' } })],
    ['no access token', () => ({ body: payment(nextKey()), headers: { authorization: '' } })],
    ['an amount with cents (B2C takes whole shillings)', () => ({ body: payment(nextKey(), { Amount: '10.50' }) })],
    ['a ResultURL that is no URL', () => ({ body: payment(nextKey(), { ResultURL: 'not a url' }) })],
    ['a body that is not JSON', () => ({ body: '{"OriginatorConversationID": ' })],
    ['a JSON string, not an object', () => ({ body: '"hello"' })],
    ['an empty body', () => ({ body: '' })],
    ['a JSON array', () => ({ body: '[1,2]' })],
  ])('when a request brings %s, then the bare path refuses it as Express does and runs nothing', async (_case, make) => {
    const { body, headers } = make() as { body: string; headers?: Record<string, string> };
    const taken = takenByBare;
    const a = await post(bare, body, headers);
    const b = await post(viaExpress, body, headers);
    expect(takenByBare).toBe(taken + 1);
    expect(a.headers.etag).toBeUndefined();
    expect({ status: a.status, body: shapeOf(a.body), headers: headersOf(a) }).toEqual({ status: b.status, body: shapeOf(b.body), headers: headersOf(b) });
    expect([400, 401]).toContain(a.status);
    expect(a.body).toMatchObject({ requestId: expect.any(String), errorCode: expect.stringMatching(/^40[01]\./) });
  });

  it.each([
    ['a text/plain body', () => ({ body: payment(nextKey()), headers: { 'content-type': 'text/plain' } })],
    ['a body over the route limit', () => ({ body: payment(nextKey(), { Remarks: 'x'.repeat(mpesaB2cBodyMaxBytes) }) })],
    ['a gzip-encoded body', () => ({ body: gzipSync(payment(nextKey())), headers: { 'content-encoding': 'gzip' } })],
    ['a JSON body in latin-1', () => ({ body: payment(nextKey()), headers: { 'content-type': 'application/json; charset=iso-8859-1' } })],
  ])('when a request brings %s, then the bare path leaves it to Express, which answers it', async (_case, make) => {
    const { body, headers } = make() as { body: string | Buffer; headers?: Record<string, string> };
    const taken = takenByBare;
    const a = await post(bare, body, headers);
    const b = await post(viaExpress, body, headers);
    expect(takenByBare).toBe(taken);
    // Express answers both alike: the same status, type and text (its error page names no path).
    expect({ status: a.status, type: a.headers['content-type'], text: shapeOf(a.body), headers: headersOf(a) }).toEqual({ status: b.status, type: b.headers['content-type'], text: shapeOf(b.body), headers: headersOf(b) });
    expect(a.status).not.toBe(500);
  });

  it('when a path has a query, or a body comes chunked without a stated length, then Express answers it', async () => {
    const taken = takenByBare;
    const query = await post(`${bare}?x=1`, payment(nextKey()));
    expect({ status: query.status, etag: typeof query.headers.etag }).toEqual({ status: 200, etag: 'string' });
    const key = nextKey();
    const chunked = await new Promise<{ status: number; etag: unknown }>((resolve, reject) => {
      const req = httpRequest(`${base}${bare}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` } }, (res) => {
        res.resume();
        res.once('end', () => resolve({ status: res.statusCode ?? 0, etag: res.headers.etag }));
      });
      req.once('error', reject);
      const text = payment(key);
      req.write(text.slice(0, 20));
      req.end(text.slice(20));
    });
    expect({ status: chunked.status, etag: typeof chunked.etag }).toEqual({ status: 200, etag: 'string' });
    expect(simulator.executions(key)).toBe(1);
    expect(takenByBare).toBe(taken);
  });
});

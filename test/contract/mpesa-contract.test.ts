// The M-Pesa adapter and the simulator against the Daraja contract (contracts/providers/
// mpesa-daraja.openapi.yaml): every request the client sends is one the contract accepts, every
// answer and callback the simulator sends is one the contract describes; and the status query
// finds a payment by its OriginatorConversationID and reads it as paid.
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express from 'express';
import { pino } from 'pino';
import { MpesaClient } from '../../src/adapters/providers/mpesa/mpesa-client.js';
import { mapResult, mapStatusResult, parseStatusCallback } from '../../src/adapters/providers/mpesa/mapping.js';
import { createMpesaSimulator, type MpesaSimulator } from '../../src/simulator/mpesa-simulator.js';
import { loadContract } from '../support/openapi.js';

const contract = loadContract('providers/mpesa-daraja.openapi.yaml');
const logger = pino({ level: 'silent' });
const credentials = { consumerKey: 'ck', consumerSecret: 'cs', shortcode: '600000', initiatorName: 'tuma', securityCredential: 'c2VjcmV0', callbackAllowList: null };

interface Seen {
  readonly method: string;
  readonly path: string;
  readonly body: unknown;
}

let server: Server;
let simulator: MpesaSimulator;
let base: string;
const requests: Seen[] = [];
const answers: { path: string; status: number; body: unknown }[] = [];
const callbacks: Seen[] = [];

beforeAll(async () => {
  simulator = createMpesaSimulator({ consumerKey: credentials.consumerKey, consumerSecret: credentials.consumerSecret, callbackDelayMs: 5, logger });
  const app = express();
  app.use(express.json({ limit: '64kb' }));
  app.use((req, res, next) => {
    if (req.path.startsWith('/cb/') || req.path.startsWith('/__control')) return next();
    requests.push({ method: req.method, path: req.path, body: req.body });
    const json = res.json.bind(res);
    res.json = (body: unknown) => {
      answers.push({ path: req.path, status: res.statusCode, body });
      return json(body);
    };
    next();
  });
  app.use(simulator.router);
  app.use('/__control', express.json(), simulator.controlRouter);
  app.post('/cb/*rest', (req, res) => {
    callbacks.push({ method: req.method, path: req.path, body: req.body });
    res.json({ ResultCode: 0, ResultDesc: 'Accepted' });
  });
  server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  simulator.close();
  await new Promise((r) => server.close(r));
});

async function until<T>(find: () => T | undefined): Promise<T> {
  for (let i = 0; i < 300; i++) {
    const found = find();
    if (found !== undefined) return found;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('not seen in time');
}

describe('M-Pesa Daraja contract', () => {
  it('when a payout is sent and its status asked, then every request, answer and callback is one the contract describes, and the status reads paid', async () => {
    const client = new MpesaClient({ ...credentials, baseUrl: base }, 2_000, logger);
    const key = '0b7f2a9e-4c1d-5e8f-9a0b-1c2d3e4f5a6b';
    const submitted = await client.submit({ payoutId: 'p-1', idempotencyKey: key, msisdn: '+254712345678', amountMinor: 1_500_00n, currency: 'KES', callbackUrl: `${base}/cb/tok-1` });
    expect(submitted.kind).toBe('pending');
    const result = await until(() => callbacks.find((c) => c.path === '/cb/tok-1'));
    expect(contract.requestProblems('post', '/mpesa/b2c/v3/paymentrequest', requests.find((r) => r.path === '/mpesa/b2c/v3/paymentrequest')!.body)).toEqual([]);
    expect(contract.schemaProblems('ResultCallback', result.body)).toEqual([]);
    expect(mapResult((result.body as { Result: Record<string, unknown> }).Result)).toMatchObject({ kind: 'paid' });

    const asked = await client.status({ payoutId: 'p-1', idempotencyKey: key, providerReference: null, currency: 'KES', callbackUrl: `${base}/cb/tok-1` });
    expect(asked).toEqual({ kind: 'pending', providerReference: null });
    const statusCallback = await until(() => callbacks.find((c) => c.path === '/cb/tok-1/status'));
    expect(contract.requestProblems('post', '/mpesa/transactionstatus/v1/query', requests.find((r) => r.path === '/mpesa/transactionstatus/v1/query')!.body)).toEqual([]);
    expect(contract.schemaProblems('ResultCallback', statusCallback.body)).toEqual([]);
    expect(mapStatusResult((statusCallback.body as { Result: Record<string, unknown> }).Result)).toMatchObject({ kind: 'paid' });
    expect(parseStatusCallback(Buffer.from(JSON.stringify(statusCallback.body)))).toMatchObject({ idempotencyKey: key, outcome: 'paid' });

    for (const a of answers) {
      const method = a.path === '/oauth/v1/generate' ? 'get' : 'post';
      expect({ path: a.path, problems: contract.responseProblems(method, a.path, a.status, a.body) }).toEqual({ path: a.path, problems: [] });
    }
    expect(simulator.executions(key)).toBe(1);
  });

  it('when the same OriginatorConversationID is sent again, then Daraja\'s duplicate answer is in the contract, the outcome is ambiguous and nothing runs twice', async () => {
    const client = new MpesaClient({ ...credentials, baseUrl: base }, 2_000, logger);
    const key = '1b7f2a9e-4c1d-5e8f-9a0b-1c2d3e4f5a6b';
    const request = { payoutId: 'p-2', idempotencyKey: key, msisdn: '+254712345679', amountMinor: 100_00n, currency: 'KES' as const, callbackUrl: `${base}/cb/tok-2` };
    expect((await client.submit(request)).kind).toBe('pending');
    answers.length = 0;
    expect(await client.submit(request)).toEqual({ kind: 'unknown', providerCode: 'mpesa:500.002.1001', detail: 'HTTP 500 500.002.1001' });
    const duplicate = answers.find((a) => a.path === '/mpesa/b2c/v3/paymentrequest')!;
    expect(contract.responseProblems('post', '/mpesa/b2c/v3/paymentrequest', duplicate.status, duplicate.body)).toEqual([]);
    expect(simulator.executions(key)).toBe(1);
  });

  it('when the status of a payment Daraja never saw is asked, then the result is a failed query: unknown, never failed', async () => {
    const client = new MpesaClient({ ...credentials, baseUrl: base }, 2_000, logger);
    expect((await client.status({ payoutId: 'p-3', idempotencyKey: 'never-sent', providerReference: null, currency: 'KES', callbackUrl: `${base}/cb/tok-3` })).kind).toBe('pending');
    const answer = await until(() => callbacks.find((c) => c.path === '/cb/tok-3/status'));
    expect(contract.schemaProblems('ResultCallback', answer.body)).toEqual([]);
    expect(mapStatusResult((answer.body as { Result: Record<string, unknown> }).Result)).toMatchObject({ kind: 'unknown' });
  });
});

describe('M-Pesa simulator faults', () => {
  const client = () => new MpesaClient({ ...credentials, baseUrl: base }, 150, logger);
  const send = (n: number, msisdn: string) =>
    client().submit({ payoutId: `pf-${n}`, idempotencyKey: `fault-key-${n}`, msisdn, amountMinor: 250_00n, currency: 'KES', callbackUrl: `${base}/cb/fault-${n}` });
  afterEach(() => simulator.setFaults({}));

  it('when a number matches a fail rule, then the result callback carries its code, is in the contract, and reads as that failure', async () => {
    simulator.setFaults({ rules: [{ pattern: '^2547000000(0[0-9])$', fault: 'fail', resultCode: 1 }] });
    expect((await send(1, '+254700000001')).kind).toBe('pending');
    const cb = await until(() => callbacks.find((c) => c.path === '/cb/fault-1'));
    expect(contract.schemaProblems('ResultCallback', cb.body)).toEqual([]);
    expect(mapResult((cb.body as { Result: Record<string, unknown> }).Result)).toEqual({ kind: 'failed', reason: 'insufficient_float', providerCode: 'mpesa:1' });
    expect(simulator.statement().find((l) => l.originatorConversationId === 'fault-key-1')).toMatchObject({ status: 'Failed', resultCode: '1', partyB: '*********001' });
  });

  it('when the answer is held past the client\'s timeout after the money moved, then the client sees no outcome, the key ran once, and a status query finds it paid', async () => {
    simulator.setFaults({ rules: [{ pattern: '^254700000002$', fault: 'timeout-after-accept', holdMs: 1_000, callback: 'lose' }] });
    expect(await send(2, '+254700000002')).toMatchObject({ kind: 'unknown', providerCode: null });
    expect(simulator.executions('fault-key-2')).toBe(1);
    await client().status({ payoutId: 'pf-2', idempotencyKey: 'fault-key-2', providerReference: null, currency: 'KES', callbackUrl: `${base}/cb/fault-2` });
    const answer = await until(() => callbacks.find((c) => c.path === '/cb/fault-2/status'));
    expect(mapStatusResult((answer.body as { Result: Record<string, unknown> }).Result)).toMatchObject({ kind: 'paid' });
    expect(callbacks.some((c) => c.path === '/cb/fault-2')).toBe(false); // the result callback was lost
  });

  it('when a rule asks for an HTTP 500 after the money moved or a duplicate callback, then the client sees ambiguity and the callback comes twice, the key ran once', async () => {
    simulator.setFaults({ rules: [{ pattern: '^254700000003$', fault: 'error-500-after-accept', callback: 'duplicate' }] });
    expect(await send(3, '+254700000003')).toEqual({ kind: 'unknown', providerCode: 'mpesa:500.003.1001', detail: 'HTTP 500 500.003.1001' });
    await until(() => (callbacks.filter((c) => c.path === '/cb/fault-3').length === 2 ? true : undefined));
    expect(simulator.executions('fault-key-3')).toBe(1);
  });

  it('when a request times out in Daraja\'s queue, then it is echoed to QueueTimeOutURL and nothing ran', async () => {
    simulator.setFaults({ rules: [{ pattern: '^254700000004$', fault: 'queue-timeout' }] });
    expect((await send(4, '+254700000004')).kind).toBe('pending');
    const echo = await until(() => callbacks.find((c) => c.path === '/cb/fault-4/timeout'));
    expect(echo.body).toMatchObject({ OriginatorConversationID: 'fault-key-4' });
    expect(JSON.stringify(echo.body)).not.toContain('SecurityCredential');
    expect(simulator.executions('fault-key-4')).toBe(0);
  });

  it.each([
    ['not an object', '"x"'],
    ['an unknown member', JSON.stringify({ rules: [], extra: 1 })],
    ['a bad pattern', JSON.stringify({ rules: [{ pattern: '(', fault: 'fail' }] })],
    ['an unknown fault', JSON.stringify({ rules: [{ pattern: '.', fault: 'explode' }] })],
    ['too many rules', JSON.stringify({ rules: Array.from({ length: 65 }, () => ({ pattern: '.' })) })],
    ['a hold past the maximum', JSON.stringify({ rules: [{ pattern: '.', fault: 'timeout-after-accept', holdMs: 10_000_000 }] })],
  ])('when the control API gets %s, then 400 and the faults are unchanged', async (_what, body) => {
    simulator.setFaults({ rules: [{ pattern: '^254799999999$', fault: 'fail' }] });
    const res = await fetch(`${base}/__control/faults`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body });
    expect(res.status).toBe(400);
    expect((await send(90 + body.length, '+254799999999')).kind).toBe('pending');
    const cb = await until(() => callbacks.find((c) => c.path === `/cb/fault-${90 + body.length}`));
    expect((cb.body as { Result: { ResultCode: number } }).Result.ResultCode).toBe(2001);
  });

  it('when the statement is read as CSV, then it has a header, one line per executed payment, and no number in clear', async () => {
    const res = await fetch(`${base}/__control/statement?format=csv`);
    const text = await res.text();
    expect(text.split('\n')[0]).toBe('receipt,originatorConversationId,conversationId,amount,currency,status,resultCode,partyB,completedAt');
    expect(text).not.toMatch(/2547\d{8}/);
    expect((await fetch(`${base}/__control/statement?format=xml`)).status).toBe(400);
  });
});

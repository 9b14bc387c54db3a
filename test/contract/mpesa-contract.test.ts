// The M-Pesa adapter and the simulator against the Daraja contract (contracts/providers/
// mpesa-daraja.openapi.yaml): every request the client sends is one the contract accepts, every
// answer and callback the simulator sends is one the contract describes; and the status query
// finds a payment by its OriginatorConversationID and reads it as paid. The simulator's faults:
// deterministic latency and error rates, late and out-of-order callbacks, reversal after success,
// a float that runs out, and a control API that refuses bad fault bodies.
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { randomUUID } from 'node:crypto';
import express from 'express';
import { pino } from 'pino';
import { MpesaClient } from '../../src/adapters/providers/mpesa/mpesa-client.js';
import { mapResult, mapStatusResult, parseB2CCallback, parseStatusCallback } from '../../src/adapters/providers/mpesa/mapping.js';
import { deterministicDelayMs, failsAtErrorRate } from '../../src/simulator/faults.js';
import { createMpesaSimulator, type MpesaFaults, type MpesaSimulator } from '../../src/simulator/mpesa-simulator.js';
import { net } from '../support/net.js';
import { loadContract } from '../support/openapi.js';
import { clearKenyanNumber } from '../support/privacy.js';

const { until } = net;

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
/** Callbacks received, with the time each arrived. */
const callbacks: (Seen & { readonly at: number })[] = [];

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
    callbacks.push({ method: req.method, path: req.path, body: req.body, at: Date.now() });
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
    // Every result parameter Daraja documents, the receiver named "<number without +> - <NAME>".
    const parameters = (result.body as { Result: { ResultParameters: { ResultParameter: { Key: string; Value: unknown }[] } } }).Result.ResultParameters.ResultParameter;
    expect(Object.fromEntries(parameters.map((p) => [p.Key, p.Value]))).toEqual({
      TransactionAmount: 1500,
      TransactionReceipt: expect.stringMatching(/^[A-Z0-9]{10}$/),
      ReceiverPartyPublicName: '254712345678 - TUMA TEST PAYEE',
      TransactionCompletedDateTime: expect.stringMatching(/^\d{2}\.\d{2}\.\d{4} \d{2}:\d{2}:\d{2}$/),
      B2CUtilityAccountAvailableFunds: expect.any(Number),
      B2CWorkingAccountAvailableFunds: expect.any(Number),
      B2CChargesPaidAccountAvailableFunds: expect.any(Number),
      B2CRecipientIsRegisteredCustomer: 'Y',
    });
    expect(parseB2CCallback(Buffer.from(JSON.stringify(result.body)), 'result')?.facts).toEqual({ amount: '1500', currency: null, receiver: '254712345678', fee: null });

    const asked = await client.status({ payoutId: 'p-1', idempotencyKey: key, providerReference: null, currency: 'KES', callbackUrl: `${base}/cb/tok-1` });
    expect(asked).toEqual({ kind: 'pending', providerReference: null });
    const statusCallback = await until(() => callbacks.find((c) => c.path === '/cb/tok-1/status'));
    expect(contract.requestProblems('post', '/mpesa/transactionstatus/v1/query', requests.find((r) => r.path === '/mpesa/transactionstatus/v1/query')!.body)).toEqual([]);
    expect(contract.schemaProblems('ResultCallback', statusCallback.body)).toEqual([]);
    expect(mapStatusResult((statusCallback.body as { Result: Record<string, unknown> }).Result)).toMatchObject({ kind: 'paid' });
    expect(parseStatusCallback(Buffer.from(JSON.stringify(statusCallback.body)))).toMatchObject({ idempotencyKey: key, outcome: 'paid', facts: { amount: '1500', currency: null, receiver: '254712345678', fee: null } });

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

  it('when a rule makes Daraja report another amount, receiver and a receipt reused on two payouts, then the result and status messages say so, in the contract, while what ran, the float and the statement keep the truth', async () => {
    simulator.setFaults({ floatBalance: '1000.00', rules: [{ pattern: '^25470000006[0-9]$', reportAmount: '249', reportReceiver: '254799999999', reportReceipt: 'QAZ1234567' }] });
    for (const n of [60, 61]) expect((await send(n, `+2547000000${n}`)).kind).toBe('pending');
    const results = await Promise.all([60, 61].map((n) => until(() => callbacks.find((c) => c.path === `/cb/fault-${n}`))));
    for (const result of results) {
      expect(contract.schemaProblems('ResultCallback', result.body)).toEqual([]);
      expect(parseB2CCallback(Buffer.from(JSON.stringify(result.body)), 'result')).toMatchObject({ outcome: 'paid', providerReference: 'QAZ1234567', facts: { amount: '249', currency: null, receiver: '254799999999', fee: null } });
    }
    await client().status({ payoutId: 'pf-60', idempotencyKey: 'fault-key-60', providerReference: null, currency: 'KES', callbackUrl: `${base}/cb/fault-60` });
    const status = await until(() => callbacks.find((c) => c.path === '/cb/fault-60/status'));
    expect(contract.schemaProblems('ResultCallback', status.body)).toEqual([]);
    expect(parseStatusCallback(Buffer.from(JSON.stringify(status.body)))).toMatchObject({ outcome: 'paid', providerReference: 'QAZ1234567', facts: { amount: '249', receiver: '254799999999' } });
    // The truth: each ran once, for 250.00 to its own number, with its own receipt; the float paid 500.00.
    const lines = simulator.statement().filter((l) => l.originatorConversationId === 'fault-key-60' || l.originatorConversationId === 'fault-key-61');
    expect(lines.map((l) => [l.amount, l.partyB, l.status])).toEqual([['250.00', '*********060', 'Completed'], ['250.00', '*********061', 'Completed']]);
    expect(new Set(lines.map((l) => l.receipt)).size).toBe(2);
    expect(lines.some((l) => l.receipt === 'QAZ1234567')).toBe(false);
    for (const n of [60, 61]) expect(simulator.executions(`fault-key-${n}`)).toBe(1);
    const utility = (results[1]!.body as { Result: { ResultParameters: { ResultParameter: { Key: string; Value: unknown }[] } } }).Result.ResultParameters.ResultParameter.find((p) => p.Key === 'B2CUtilityAccountAvailableFunds');
    expect(utility?.Value).toBe(500);
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
    expect(String((cb.body as { Result: { ResultCode: unknown } }).Result.ResultCode)).toBe('2001');
  });

  it('when the statement is read as CSV, then it has a header, one line per executed payment, and no number in clear', async () => {
    const res = await fetch(`${base}/__control/statement?format=csv`);
    const text = await res.text();
    expect(text.split('\n')[0]).toBe('receipt,originatorConversationId,conversationId,amount,currency,status,resultCode,partyB,completedAt');
    expect(text).not.toMatch(clearKenyanNumber);
    expect((await fetch(`${base}/__control/statement?format=xml`)).status).toBe(400);
  });
});

describe('M-Pesa simulator: latency, error rates, late and out-of-order callbacks, reversal, float', () => {
  /** A client that waits long enough for the injected latencies. */
  const patient = () => new MpesaClient({ ...credentials, baseUrl: base }, 2_000, logger);
  const payout = (key: string, msisdn: string) => ({ payoutId: `px-${key}`, idempotencyKey: key, msisdn, amountMinor: 250_00n, currency: 'KES' as const, callbackUrl: `${base}/cb/x-${key}` });
  const resultsOf = (key: string) => callbacks.filter((c) => c.path === `/cb/x-${key}`);
  const putFaults = (body: unknown) => fetch(`${base}/__control/faults`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const resultBody = (c: Seen) => (c.body as { Result: Record<string, unknown> }).Result;
  /** Timers may fire a millisecond early by Date.now(). */
  const slackMs = 2;
  let badRuns = 0;
  afterEach(() => simulator.setFaults({}));

  it("when a latency distribution is set, then each answer waits at least its key's deterministic delay, and a rule's own latency replaces the global one", async () => {
    const latency = { baseMs: 20, jitterMs: 40 };
    const faults: MpesaFaults = { latency, rules: [{ pattern: '^254701000002$', latency: { baseMs: 70, jitterMs: 0 } }] };
    const put = await putFaults(faults);
    expect(put.status).toBe(200);
    expect(await put.json()).toMatchObject({ latencyMs: 0, latency, rules: [{ pattern: '^254701000002$', fault: 'none', callback: 'send', latency: { baseMs: 70, jitterMs: 0 } }] });
    for (const [key, msisdn, expected] of [
      ['lat-1', '+254701000001', deterministicDelayMs('lat-1', latency)],
      ['lat-2', '+254701000002', 70],
    ] as const) {
      const client = patient();
      await client.status({ payoutId: 'px-token', idempotencyKey: 'none', providerReference: null, currency: 'KES', callbackUrl: `${base}/cb/x-token` }); // the token first
      const started = Date.now();
      expect((await client.submit(payout(key, msisdn))).kind).toBe('pending');
      expect({ key, waited: Date.now() - started >= expected - slackMs }).toEqual({ key, waited: true });
    }
    expect(deterministicDelayMs('lat-1', latency)).toBeGreaterThanOrEqual(20);
  });

  it("when the error rate is 100%, then Daraja's transient HTTP 500 answers before anything runs: no execution, no callback, no statement line; at 0% it runs", async () => {
    simulator.setFaults({ rules: [{ pattern: '^254701000003$', errorRatePercent: 100 }, { pattern: '^254701000004$', errorRatePercent: 0 }] });
    expect(await patient().submit(payout('err-1', '+254701000003'))).toEqual({ kind: 'unknown', providerCode: 'mpesa:500.003.1001', detail: 'HTTP 500 500.003.1001' });
    expect(await patient().submit(payout('err-1', '+254701000003'))).toMatchObject({ kind: 'unknown', providerCode: 'mpesa:500.003.1001' });
    expect(simulator.executions('err-1')).toBe(0);
    expect((await patient().submit(payout('err-2', '+254701000004'))).kind).toBe('pending');
    expect(simulator.executions('err-2')).toBe(1);
    await simulator.drained();
    expect(resultsOf('err-1')).toHaveLength(0);
    expect(simulator.statement().some((l) => l.originatorConversationId === 'err-1')).toBe(false);
  });

  it('when the error rate is 50%, then which requests fail is fixed by the hash of their key, and a resend with the same key is a new draw', async () => {
    simulator.setFaults({ rules: [{ pattern: '^25470100001[0-9]$', errorRatePercent: 50 }] });
    const keys = Array.from({ length: 10 }, (_, i) => `mid-${i}`);
    const first = keys.map((k) => failsAtErrorRate(k, 0, 50));
    expect(first).toContain(true);
    expect(first).toContain(false);
    for (const [i, key] of keys.entries()) {
      const outcome = await patient().submit(payout(key, `+25470100001${i}`));
      expect({ key, kind: outcome.kind, executions: simulator.executions(key) }).toEqual({ key, kind: first[i] ? 'unknown' : 'pending', executions: first[i] ? 0 : 1 });
    }
    const resent = keys.filter((_, i) => first[i]);
    const second = resent.map((k) => failsAtErrorRate(k, 1, 50));
    for (const [i, key] of resent.entries()) {
      const outcome = await patient().submit(payout(key, `+25470100001${keys.indexOf(key)}`));
      expect({ key, kind: outcome.kind, executions: simulator.executions(key) }).toEqual({ key, kind: second[i] ? 'unknown' : 'pending', executions: second[i] ? 0 : 1 });
    }
  });

  it('when the callback is delayed, then it arrives once, at least delayMs later than usual, and in the contract', async () => {
    simulator.setFaults({ rules: [{ pattern: '^254701000005$', callback: 'delay', delayMs: 60 }] });
    const started = Date.now();
    expect((await patient().submit(payout('late-1', '+254701000005'))).kind).toBe('pending');
    const result = await until(() => resultsOf('late-1')[0]);
    expect(result.at - started).toBeGreaterThanOrEqual(5 + 60 - slackMs);
    await simulator.drained();
    expect(resultsOf('late-1')).toHaveLength(1);
    expect(contract.schemaProblems('ResultCallback', result.body)).toEqual([]);
    expect(mapResult(resultBody(result))).toMatchObject({ kind: 'paid' });
  });

  it('when the callbacks are out of order, then the final result is delivered first and the acknowledgement (the only "accepted, not final" message of a B2C payment) answers after it', async () => {
    simulator.setFaults({ rules: [{ pattern: '^254701000006$', callback: 'out-of-order', delayMs: 20 }] });
    const outcome = await patient().submit(payout('ooo-1', '+254701000006'));
    const answeredAt = Date.now();
    expect(outcome.kind).toBe('pending');
    const result = resultsOf('ooo-1')[0];
    expect(result).toBeDefined();
    expect(answeredAt - result!.at).toBeGreaterThanOrEqual(20 - slackMs);
    expect(contract.schemaProblems('ResultCallback', result!.body)).toEqual([]);
    expect(mapResult(resultBody(result!))).toMatchObject({ kind: 'paid' });
    expect(simulator.executions('ooo-1')).toBe(1);
  });

  it('when a payout is reversed after success, then it is paid as usual; delayMs after its callback the statement has a negative line and the status query reads Reversed; it ran once', async () => {
    simulator.setFaults({ rules: [{ pattern: '^254701000007$', fault: 'reverse-after-success', delayMs: 30 }] });
    expect((await patient().submit(payout('rev-1', '+254701000007'))).kind).toBe('pending');
    const result = await until(() => resultsOf('rev-1')[0]);
    expect(mapResult(resultBody(result))).toMatchObject({ kind: 'paid' });
    await simulator.drained();
    const lines = simulator.statement().filter((l) => l.originatorConversationId === 'rev-1');
    expect(lines.map((l) => [l.status, l.amount, l.resultCode, l.partyB])).toEqual([
      ['Completed', '250.00', '0', '*********007'],
      ['Reversed', '-250.00', '0', '*********007'],
    ]);
    expect(Date.parse(lines[1]!.completedAt) - result.at).toBeGreaterThanOrEqual(30 - slackMs);
    const csv = await (await fetch(`${base}/__control/statement?format=csv`)).text();
    expect(csv.split('\n').filter((l) => l.includes(',rev-1,'))).toEqual([expect.stringContaining(',250.00,KES,Completed,0,*********007,'), expect.stringContaining(',-250.00,KES,Reversed,0,*********007,')]);
    expect(csv).not.toContain('254701000007');

    await patient().status({ payoutId: 'px-rev-1', idempotencyKey: 'rev-1', providerReference: null, currency: 'KES', callbackUrl: `${base}/cb/x-rev-1` });
    const answer = await until(() => callbacks.find((c) => c.path === '/cb/x-rev-1/status'));
    expect(contract.schemaProblems('ResultCallback', answer.body)).toEqual([]);
    const parameters = (resultBody(answer).ResultParameters as { ResultParameter: { Key: string; Value: unknown }[] }).ResultParameter;
    expect(parameters.find((p) => p.Key === 'TransactionStatus')?.Value).toBe('Reversed');
    expect(mapStatusResult(resultBody(answer)).kind).not.toBe('paid');
    expect(resultsOf('rev-1')).toHaveLength(1); // no callback announces the reversal
    expect(simulator.executions('rev-1')).toBe(1);
  });

  it('when the float holds 250.00, then a payout is paid, its reversal puts the money back, the next one is paid and the one after fails with ResultCode 1', async () => {
    simulator.setFaults({ floatBalance: '250.00', rules: [{ pattern: '^254701000020$', fault: 'reverse-after-success', delayMs: 10 }] });
    expect((await patient().submit(payout('float-0', '+254701000020'))).kind).toBe('pending');
    await simulator.drained();
    for (const n of [1, 2]) expect((await patient().submit(payout(`float-${n}`, `+25470100002${n}`))).kind).toBe('pending');
    await simulator.drained();
    const outcomes = ['float-0', 'float-1', 'float-2'].map((k) => mapResult(resultBody(resultsOf(k)[0]!)));
    expect(outcomes).toEqual([
      { kind: 'paid', providerReference: expect.any(String) },
      { kind: 'paid', providerReference: expect.any(String) },
      { kind: 'failed', reason: 'insufficient_float', providerCode: 'mpesa:1' },
    ]);
    for (const k of ['float-0', 'float-1', 'float-2']) expect(contract.schemaProblems('ResultCallback', resultsOf(k)[0]!.body)).toEqual([]);
    expect(simulator.statement().find((l) => l.originatorConversationId === 'float-2')).toMatchObject({ status: 'Failed', resultCode: '1' });
  });

  it.each([
    ['an error rate above 100', { rules: [{ pattern: '.', errorRatePercent: 101 }] }, 'rules.0.errorRatePercent'],
    ['a negative error rate', { rules: [{ pattern: '.', errorRatePercent: -5 }] }, 'rules.0.errorRatePercent'],
    ['a negative delay', { rules: [{ pattern: '.', callback: 'delay', delayMs: -1 }] }, 'rules.0.delayMs'],
    ['an oversized delay', { rules: [{ pattern: '.', fault: 'reverse-after-success', delayMs: 1e9 }] }, 'rules.0.delayMs'],
    ['a latency past the maximum', { latency: { baseMs: 100_000, jitterMs: 100_000 } }, 'latency'],
    ['a rule latency with a negative jitter', { rules: [{ pattern: '.', latency: { baseMs: 1, jitterMs: -1 } }] }, 'rules.0.latency.jitterMs'],
    ['an unknown callback', { rules: [{ pattern: '.', callback: 'sideways' }] }, 'rules.0.callback'],
    ['an unknown fault', { rules: [{ pattern: '.', fault: 'reverse-before-success' }] }, 'rules.0.fault'],
    ['a float with three decimals', { floatBalance: '12.345' }, 'floatBalance'],
    ['a float as a number', { floatBalance: 100 }, 'floatBalance'],
    ['a reported amount with three decimals', { rules: [{ pattern: '.', reportAmount: '12.345' }] }, 'rules.0.reportAmount'],
    ['a reported amount as a number', { rules: [{ pattern: '.', reportAmount: 12 }] }, 'rules.0.reportAmount'],
    ['a reported amount past the digits a number holds', { rules: [{ pattern: '.', reportAmount: '1'.repeat(14) }] }, 'rules.0.reportAmount'],
    ['a negative reported amount', { rules: [{ pattern: '.', reportAmount: '-1' }] }, 'rules.0.reportAmount'],
    ['a reported receiver with a plus', { rules: [{ pattern: '.', reportReceiver: '+254712345678' }] }, 'rules.0.reportReceiver'],
    ['a reported receiver of 16 digits', { rules: [{ pattern: '.', reportReceiver: '1'.repeat(16) }] }, 'rules.0.reportReceiver'],
    ['a reported receipt in lower case', { rules: [{ pattern: '.', reportReceipt: 'qaz1234567' }] }, 'rules.0.reportReceipt'],
    ['a reported receipt past the maximum', { rules: [{ pattern: '.', reportReceipt: 'Q'.repeat(65) }] }, 'rules.0.reportReceipt'],
    ['a reported currency (Daraja reports none)', { rules: [{ pattern: '.', reportCurrency: 'KES' }] }, 'rules.0'],
  ])('when the control API gets %s, then 400 names the field and the faults in force are unchanged', async (_what, body, field) => {
    simulator.setFaults({ rules: [{ pattern: '^254701000030$', errorRatePercent: 100 }] });
    const res = await putFaults(body);
    expect(res.status).toBe(400);
    const answer = (await res.json()) as { error: string; problems: string[] };
    expect(answer.error).toBe('invalid faults');
    expect(answer.problems.some((p) => p.startsWith(`${field}: `))).toBe(true);
    expect(await patient().submit(payout(`bad-${++badRuns}`, '+254701000030'))).toMatchObject({ kind: 'unknown', providerCode: 'mpesa:500.003.1001' });
  });

  it('when the faults above ran, then every answer and every result callback the simulator sent is one the contract describes', async () => {
    await simulator.drained();
    for (const a of answers) {
      const method = a.path === '/oauth/v1/generate' ? 'get' : 'post';
      expect({ path: a.path, status: a.status, problems: contract.responseProblems(method, a.path, a.status, a.body) }).toEqual({ path: a.path, status: a.status, problems: [] });
    }
    expect(answers.some((a) => a.status === 500 && (a.body as { errorCode?: string }).errorCode === '500.003.1001')).toBe(true);
    for (const c of callbacks.filter((c) => c.path.startsWith('/cb/x-') && !c.path.endsWith('/timeout'))) expect({ path: c.path, problems: contract.schemaProblems('ResultCallback', c.body) }).toEqual({ path: c.path, problems: [] });
  });

  it('when the payouts of this file were answered, then ResultCode came both as a number and as a string, in B2C and in status results, and every one is in the contract', async () => {
    await simulator.drained();
    const results = callbacks.filter((c) => !c.path.endsWith('/timeout') && (c.body as { Result?: unknown }).Result !== undefined);
    for (const c of results) expect({ path: c.path, problems: contract.schemaProblems('ResultCallback', c.body) }).toEqual({ path: c.path, problems: [] });
    const shapes = (status: boolean) => new Set(results.filter((c) => c.path.endsWith('/status') === status).map((c) => typeof resultBody(c).ResultCode));
    expect([...shapes(false)].sort()).toEqual(['number', 'string']);
    expect([...shapes(true)].sort()).toEqual(['number', 'string']);
    // Each shape reads the same: a paid result is paid whichever way its code was written.
    for (const c of results.filter((c) => !c.path.endsWith('/status') && String(resultBody(c).ResultCode) === '0')) expect(mapResult(resultBody(c)).kind).toBe('paid');
  });
});

describe('M-Pesa simulator: a refused result callback', () => {
  /** A simulator whose callbacks go to a receiver that refuses them all with 500; `onRefused` runs at each refusal. */
  async function refusedCallbacks(onRefused: (sim: MpesaSimulator) => void): Promise<{ sim: MpesaSimulator; tried: () => number; close: () => Promise<void> }> {
    const sim = createMpesaSimulator({ consumerKey: credentials.consumerKey, consumerSecret: credentials.consumerSecret, callbackDelayMs: 0, logger });
    let tried = 0;
    const app = express();
    app.use(express.json({ limit: '64kb' }));
    app.use(sim.router);
    app.post('/cb/*rest', (_req, res) => {
      tried += 1;
      onRefused(sim);
      res.status(500).json({ ResultCode: 1, ResultDesc: 'Refused' });
    });
    const receiver = app.listen(0, '127.0.0.1');
    await new Promise((r) => receiver.once('listening', r));
    const at = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
    const client = new MpesaClient({ ...credentials, baseUrl: at }, 2_000, logger);
    expect((await client.submit({ payoutId: 'p-r', idempotencyKey: randomUUID(), msisdn: '+254712345678', amountMinor: 100_00n, currency: 'KES', callbackUrl: `${at}/cb/r` })).kind).toBe('pending');
    return {
      sim,
      tried: () => tried,
      close: async () => {
        sim.close();
        receiver.closeAllConnections();
        await new Promise((r) => receiver.close(r));
      },
    };
  }

  it('when the receiver refuses it, then the simulator tries it again, three times in all', async () => {
    const run = await refusedCallbacks(() => undefined);
    try {
      await run.sim.drained();
      expect(run.tried()).toBe(3);
    } finally {
      await run.close();
    }
  });

  it('when the simulator is closed after the first refusal, then it tries no more (no retry outlives it)', async () => {
    const run = await refusedCallbacks((sim) => sim.close());
    try {
      await until(() => (run.tried() >= 1 ? true : undefined));
      // Longer than the waits before the second and third tries (200 ms and 400 ms).
      await new Promise((r) => setTimeout(r, 1_000));
      expect(run.tried()).toBe(1);
    } finally {
      await run.close();
    }
  });
});

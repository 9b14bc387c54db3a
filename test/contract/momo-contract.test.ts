// The MTN MoMo adapter and the simulator against the Disbursement contract (contracts/providers/
// mtn-momo-disbursement.openapi.yaml): every request the client sends is one the contract accepts
// (body and required headers), every answer and callback the simulator sends is one the contract
// describes; and the client's outcomes through the simulator's faults never pay twice: among them
// deterministic latency and error rates, late and out-of-order callbacks, reversal after success
// and a float that runs out.
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express from 'express';
import { pino } from 'pino';
import { MomoClient, type MomoSettings } from '../../src/adapters/providers/mtn-momo/momo-client.js';
import { mapCallback, momoReferenceId, parseMomoCallback, reasonTable } from '../../src/adapters/providers/mtn-momo/mapping.js';
import { deterministicDelayMs, failsAtErrorRate } from '../../src/simulator/faults.js';
import { createMomoSimulator, momoPortalTime, type MomoFaults, type MomoSimulator } from '../../src/simulator/momo-simulator.js';
import { net } from '../support/net.js';
import { loadContract } from '../support/openapi.js';

const { until } = net;

const contract = loadContract('providers/mtn-momo-disbursement.openapi.yaml');
const logger = pino({ level: 'silent' });
const credentials = { apiUserId: 'b0f3c2d1-0000-4000-8000-000000000001', apiKey: 'api-key-1', subscriptionKey: 'sub-key-1', targetEnvironment: 'sandbox' };

interface Seen {
  readonly method: string;
  readonly path: string;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: unknown;
  status: number;
  answer: unknown;
}

let server: Server;
let simulator: MomoSimulator;
let objectSimulator: MomoSimulator;
let base: string;
const seen: Seen[] = [];
const callbacks: { method: string; token: string; body: unknown; at: number }[] = [];

beforeAll(async () => {
  // As MoMo documents it: X-Reference-Id must be a UUID version 4.
  simulator = createMomoSimulator({ ...credentials, callbackDelayMs: 5, requireUuidV4: true, logger });
  objectSimulator = createMomoSimulator({ ...credentials, callbackDelayMs: 5, callbackMethod: 'POST', reasonShape: 'object', logger });
  const app = express();
  app.use((req, res, next) => {
    // Requests a test sends malformed on purpose are not the client's: kept out of the contract check.
    if (req.path.startsWith('/cb/') || req.path.startsWith('/__control') || req.headers['x-test-malformed']) return next();
    const entry: Seen = { method: req.method, path: req.path.replace(/^\/obj/, ''), headers: req.headers, body: undefined, status: 0, answer: undefined };
    const json = res.json.bind(res);
    res.json = (body: unknown) => {
      entry.answer = body;
      return json(body);
    };
    res.on('finish', () => {
      entry.status = res.statusCode;
      seen.push({ ...entry, body: req.body as unknown });
    });
    next();
  });
  app.use(simulator.router);
  app.use('/obj', objectSimulator.router);
  app.use('/__control', simulator.controlRouter);
  const receive = (req: express.Request, res: express.Response) => {
    callbacks.push({ method: req.method, token: String(req.params.token), body: req.body, at: Date.now() });
    res.status(200).end();
  };
  app.put('/cb/:token', express.json(), receive);
  app.post('/cb/:token', express.json(), receive);
  server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  simulator.close();
  objectSimulator.close();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

beforeEach(() => simulator.setFaults({}));

const client = (overrides: Partial<MomoSettings> = {}) => new MomoClient({ ...credentials, baseUrl: base, timeoutMs: 2_000, ...overrides }, logger);
const keyOf = (n: number) => `0b7f2a9e-4c1d-5e8f-9a0b-${n.toString(16).padStart(12, '0')}`;
/** The X-Reference-Id MoMo sees for an attempt key: the key as a version-4 UUID. */
const refOf = (n: number) => momoReferenceId(keyOf(n));
const request = (n: number, msisdn = '+256772123456') => ({ payoutId: `p-${n}`, idempotencyKey: keyOf(n), msisdn, amountMinor: 12_50n, currency: 'EUR' as const, callbackUrl: `${base}/cb/tok-${n}` });
const query = (n: number) => ({ payoutId: `p-${n}`, idempotencyKey: keyOf(n), providerReference: null, currency: 'EUR' as const, callbackUrl: `${base}/cb/tok-${n}` });
const transfersOf = (key: string) => seen.filter((s) => s.method === 'POST' && s.path === '/disbursement/v1_0/transfer' && s.headers['x-reference-id'] === key);
const malformed = { 'x-test-malformed': '1' };
const setFaults = (faults: MomoFaults) => fetch(`${base}/__control/faults`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(faults) });

/** Every request seen so far is one the contract accepts and every answer one it describes. */
function expectAllInContract(): void {
  expect(seen.length).toBeGreaterThan(0);
  for (const s of seen) {
    const template = contract.templateOf(s.path);
    expect({ path: s.path, template }).toEqual({ path: s.path, template: expect.any(String) });
    const where = `${s.method} ${template!} ${s.status}`;
    expect({ where, headers: contract.parameterProblems(s.method, template!, { headers: s.headers }) }).toEqual({ where, headers: [] });
    if (s.method === 'POST' && template === '/disbursement/v1_0/transfer') expect({ where, body: contract.requestProblems('post', template, s.body) }).toEqual({ where, body: [] });
    if (template === '/disbursement/token/') expect({ where, contentLength: s.headers['content-length'] ?? '0' }).toEqual({ where, contentLength: '0' });
    expect({ where, answer: contract.responseProblems(s.method, template!, s.status, s.answer) }).toEqual({ where, answer: [] });
  }
}

describe('MTN MoMo Disbursement contract', () => {
  it('when the contract lists the known reason codes, then they are exactly the keys of the reason table', () => {
    const known = ((contract.document.components as { schemas: Record<string, { enum?: string[] }> }).schemas.KnownReasonCode?.enum ?? []).slice().sort();
    expect(known).toEqual(Object.keys(reasonTable).sort());
  });

  it('when a payout is sent and its status asked, then it is paid, and every request, answer and callback is in the contract', async () => {
    const momo = client();
    expect(await momo.submit(request(1))).toEqual({ kind: 'pending', providerReference: null });
    const status = await momo.status(query(1));
    expect(status).toMatchObject({ kind: 'paid', providerReference: expect.stringMatching(/^\d+$/) });
    const callback = await until(() => callbacks.find((c) => c.token === 'tok-1'));
    expect(callback.method).toBe('PUT');
    expect(contract.schemaProblems('TransferResult', callback.body)).toEqual([]);
    expect(mapCallback(callback.body)).toEqual({ dedupeKey: `${keyOf(1)}:SUCCESSFUL`, idempotencyKey: keyOf(1), outcome: status });
    const sent = transfersOf(refOf(1))[0]!;
    expect(sent.body).toMatchObject({ amount: '12.50', currency: 'EUR', externalId: keyOf(1), payee: { partyIdType: 'MSISDN', partyId: '256772123456' } });
    expect(sent.headers['x-callback-url']).toBe(`${base}/cb/tok-1`);
    expect(simulator.executions(refOf(1))).toBe(1);

    const balance = await fetch(`${base}/disbursement/v1_0/account/balance`, {
      headers: { authorization: lastBearer(), 'ocp-apim-subscription-key': credentials.subscriptionKey, 'x-target-environment': 'sandbox' },
    });
    expect(balance.status).toBe(200);
    expect(contract.responseProblems('get', '/disbursement/v1_0/account/balance', 200, await balance.json())).toEqual([]);
    expectAllInContract();
  });

  it('when the same reference id is sent again, then MoMo answers 409, the outcome is unknown and nothing runs twice', async () => {
    const momo = client();
    expect((await momo.submit(request(2))).kind).toBe('pending');
    expect(await momo.submit(request(2))).toEqual({ kind: 'unknown', providerCode: 'momo:RESOURCE_ALREADY_EXIST', detail: 'reference id exists: query its status' });
    expect(transfersOf(refOf(2)).map((s) => s.status)).toEqual([202, 409]);
    expect(transfersOf(refOf(2))[1]!.answer).toEqual({ code: 'RESOURCE_ALREADY_EXIST', message: 'Duplicated reference id. Creation of resource failed.' });
    expect(simulator.executions(refOf(2))).toBe(1);
    expectAllInContract();
  });

  it('when MoMo accepts but holds its answer past the client timeout, then the outcome is unknown, the status query says paid and it ran once', async () => {
    expect((await setFaults({ rules: [{ pattern: '^256700000003$', fault: 'timeout-after-accept', holdMs: 1_000 }] })).status).toBe(200);
    const momo = client({ timeoutMs: 200 });
    await momo.status(query(99)); // fetch the token first, so the timeout falls on the transfer
    const outcome = await momo.submit(request(3, '+256700000003'));
    expect(outcome).toMatchObject({ kind: 'unknown', providerCode: null, detail: expect.stringMatching(/^no answer: /) });
    expect(await momo.status(query(3))).toMatchObject({ kind: 'paid' });
    expect(simulator.executions(refOf(3))).toBe(1);
  });

  it('when MoMo records the transfer then answers 500, then the outcome is unknown and the status query says paid', async () => {
    simulator.setFaults({ rules: [{ pattern: '^256700000004$', fault: 'error-500-after-accept' }] });
    const momo = client();
    expect(await momo.submit(request(4, '+256700000004'))).toEqual({ kind: 'unknown', providerCode: 'momo:INTERNAL_PROCESSING_ERROR', detail: 'HTTP 500 INTERNAL_PROCESSING_ERROR' });
    expect(await momo.status(query(4))).toMatchObject({ kind: 'paid' });
    expect(simulator.executions(refOf(4))).toBe(1);
    expectAllInContract();
  });

  it.each([
    ['+46733123450', 'provider_failure', 'INTERNAL_PROCESSING_ERROR'],
    ['+46733123451', 'declined', 'APPROVAL_REJECTED'],
    ['+46733123455', 'insufficient_float', 'NOT_ENOUGH_FUNDS'],
    ['+46733123457', 'payee_not_found', 'PAYEE_NOT_FOUND'],
    ['+46733123464', 'request_invalid', 'TransfertypeUnknown'],
  ])('when the payee is the sandbox trigger %s, then the status is failed with %s', async (msisdn, reason, code) => {
    const n = 100 + Number(msisdn.slice(-2));
    const momo = client();
    expect((await momo.submit(request(n, msisdn))).kind).toBe('pending');
    expect(await momo.status(query(n))).toEqual({ kind: 'failed', reason, providerCode: `momo:${code}` });
    const callback = await until(() => callbacks.find((c) => c.token === `tok-${n}`));
    expect(contract.schemaProblems('TransferResult', callback.body)).toEqual([]);
    expect(mapCallback(callback.body)?.outcome).toEqual({ kind: 'failed', reason, providerCode: `momo:${code}` });
    expectAllInContract();
  });

  it('when the sandbox Ongoing number is paid, then the status stays pending and no callback is sent', async () => {
    const momo = client();
    expect((await momo.submit(request(153, '+46733123453'))).kind).toBe('pending');
    expect(await momo.status(query(153))).toEqual({ kind: 'pending', providerReference: null });
    await simulator.drained();
    expect(callbacks.find((c) => c.token === 'tok-153')).toBeUndefined();
  });

  it('when the simulator sends reasons as {code,message} and callbacks by POST, then both are in the contract and map the same', async () => {
    const momo = client({ baseUrl: `${base}/obj` });
    expect((await momo.submit(request(200, '+46733123456'))).kind).toBe('pending');
    expect(await momo.status(query(200))).toEqual({ kind: 'failed', reason: 'payer_limit_exceeded', providerCode: 'momo:PAYER_LIMIT_REACHED' });
    const callback = await until(() => callbacks.find((c) => c.token === 'tok-200'));
    expect(callback.method).toBe('POST');
    expect(callback.body).toMatchObject({ status: 'FAILED', reason: { code: 'PAYER_LIMIT_REACHED' } });
    expect(contract.schemaProblems('TransferResult', callback.body)).toEqual([]);
    expectAllInContract();
  });

  it('when a configured fault fails the transfer or lacks float, then the status is failed with the mapped reason', async () => {
    simulator.setFaults({ rules: [{ pattern: '^2567000000(05)$', fault: 'fail', reason: 'PAYEE_NOT_ALLOWED_TO_RECEIVE' }, { pattern: '^256700000006$', fault: 'insufficient-float' }] });
    const momo = client();
    await momo.submit(request(5, '+256700000005'));
    await momo.submit(request(6, '+256700000006'));
    expect(await momo.status(query(5))).toEqual({ kind: 'failed', reason: 'payee_not_allowed', providerCode: 'momo:PAYEE_NOT_ALLOWED_TO_RECEIVE' });
    expect(await momo.status(query(6))).toEqual({ kind: 'failed', reason: 'insufficient_float', providerCode: 'momo:NOT_ENOUGH_FUNDS' });
  });

  it('when the callback is duplicated, then both deliveries carry the same dedupe key; when lost, none arrives but the status says paid', async () => {
    simulator.setFaults({ rules: [{ pattern: '^256700000007$', fault: 'duplicate-callback' }, { pattern: '^256700000008$', fault: 'lost-callback' }] });
    const momo = client();
    await momo.submit(request(7, '+256700000007'));
    await momo.submit(request(8, '+256700000008'));
    await simulator.drained();
    const twice = callbacks.filter((c) => c.token === 'tok-7');
    expect(twice).toHaveLength(2);
    expect(mapCallback(twice[0]!.body)?.dedupeKey).toBe(mapCallback(twice[1]!.body)?.dedupeKey);
    expect(callbacks.filter((c) => c.token === 'tok-8')).toHaveLength(0);
    expect(await momo.status(query(8))).toMatchObject({ kind: 'paid' });
  });

  it('when the callback is delayed, then it arrives only after the delay; when the transfer is pending forever, then none arrives', async () => {
    // A delay long enough that a loaded machine's two submissions and a look fit well inside it.
    simulator.setFaults({ rules: [{ pattern: '^256700000015$', fault: 'delay-callback', delayMs: 1_500 }, { pattern: '^256700000016$', fault: 'pending-forever' }] });
    const momo = client();
    const submitted = Date.now();
    await momo.submit(request(15, '+256700000015'));
    await momo.submit(request(16, '+256700000016'));
    await new Promise((r) => setTimeout(r, 20));
    if (Date.now() - submitted < 1_000) expect(callbacks.find((c) => c.token === 'tok-15')).toBeUndefined();
    await simulator.drained();
    expect(callbacks.filter((c) => c.token === 'tok-15')).toHaveLength(1);
    expect(callbacks.find((c) => c.token === 'tok-16')).toBeUndefined();
    expect(await momo.status(query(16))).toEqual({ kind: 'pending', providerReference: null });
  });

  it('when the status of a reference MoMo never saw is asked, then the answer is 404 in the contract and the outcome absent (resend under the same reference id)', async () => {
    expect(await client().status(query(9))).toEqual({ kind: 'absent', providerCode: 'momo:RESOURCE_NOT_FOUND', detail: 'transfer not registered: resend with the same reference id, then ask again' });
    expect(seen.filter((s) => s.path === `/disbursement/v1_0/transfer/${refOf(9)}`).map((s) => s.status)).toEqual([404]);
    expectAllInContract();
  });

  it('when the token was revoked, then the client retries once with a new token and the same reference id, and it runs once', async () => {
    const momo = client();
    await momo.status(query(98));
    simulator.revokeTokens();
    expect((await momo.submit(request(10))).kind).toBe('pending');
    const sent = transfersOf(refOf(10));
    expect(sent.map((s) => s.status)).toEqual([401, 202]);
    expect(sent[0]!.headers.authorization).not.toBe(sent[1]!.headers.authorization);
    expect(simulator.executions(refOf(10))).toBe(1);
    expectAllInContract();
  });

  it('when the credentials are refused, then nothing is sent and the outcome is unknown', async () => {
    const before = seen.length;
    const outcome = await client({ apiKey: 'wrong' }).submit(request(11));
    expect(outcome).toMatchObject({ kind: 'unknown', providerCode: null });
    expect(seen.slice(before).map((s) => `${s.path} ${s.status}`)).toEqual(['/disbursement/token/ 401']);
    expect(simulator.executions(refOf(11))).toBe(0);
    expectAllInContract();
  });

  it('when the simulator is asked without a subscription key, with a token body, a non-UUID reference or another market, then it answers as MoMo does', async () => {
    const token = await fetch(`${base}/disbursement/token/`, { method: 'POST', headers: { ...malformed, authorization: 'Basic x', 'ocp-apim-subscription-key': 'sub-key-1', 'content-type': 'application/json' }, body: '{}' });
    expect(token.status).toBe(400);
    const noKey = await fetch(`${base}/disbursement/v1_0/transfer`, { method: 'POST', headers: { ...malformed, 'content-type': 'application/json' }, body: '{}' });
    expect(noKey.status).toBe(401);
    expect(contract.responseProblems('post', '/disbursement/v1_0/transfer', 401, await noKey.json())).toEqual([]);
    const momo = client();
    await momo.status(query(97));
    const bearer = lastBearer();
    const badRef = await fetch(`${base}/disbursement/v1_0/transfer`, {
      method: 'POST',
      headers: { ...malformed, authorization: bearer, 'ocp-apim-subscription-key': 'sub-key-1', 'x-target-environment': 'sandbox', 'x-reference-id': 'not-a-uuid', 'content-type': 'application/json' },
      body: JSON.stringify({ amount: '1', currency: 'EUR', externalId: 'x', payee: { partyIdType: 'MSISDN', partyId: '256772123456' } }),
    });
    expect(badRef.status).toBe(400);
    expect(contract.responseProblems('post', '/disbursement/v1_0/transfer', 400, await badRef.json())).toEqual([]);
    const wrongEnvironment = await client({ targetEnvironment: 'mtnghana' }).submit(request(13));
    expect(transfersOf(refOf(13)).map((s) => s.status)).toEqual([500]);
    expectAllInContract();
    expect(wrongEnvironment).toEqual({ kind: 'unknown', providerCode: 'momo:NOT_ALLOWED_TARGET_ENVIRONMENT', detail: 'HTTP 500 NOT_ALLOWED_TARGET_ENVIRONMENT' });
    expect(simulator.executions(refOf(13))).toBe(0);
  });
});

/** The Authorization header of the last call the simulator accepted. */
function lastBearer(): string {
  return String([...seen].reverse().find((s) => s.path.startsWith('/disbursement/v1_0/') && s.status !== 401)?.headers.authorization);
}

describe('MTN MoMo simulator control', () => {
  it('when the faults are not valid, then the answer is 400 and the faults in force are unchanged', async () => {
    expect((await setFaults({ rules: [{ pattern: '^256700000014$', fault: 'fail', reason: 'NOT_ALLOWED' }] })).status).toBe(200);
    for (const bad of [{ rules: [{ pattern: '(', fault: 'fail' }] }, { rules: [{ pattern: '.', fault: 'explode' }] }, { latencyMs: -1 }, { unknown: true }]) {
      expect((await fetch(`${base}/__control/faults`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(bad) })).status).toBe(400);
    }
    expect((await fetch(`${base}/__control/faults`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{not json' })).status).toBe(400);
    const momo = client();
    await momo.submit(request(14, '+256700000014'));
    expect(await momo.status(query(14))).toEqual({ kind: 'failed', reason: 'not_permitted', providerCode: 'momo:NOT_ALLOWED' });
    const executions = (await (await fetch(`${base}/__control/executions/${refOf(14)}`)).json()) as { executions: number };
    expect(executions.executions).toBe(1);
  });

  it('when the statement is read as JSON or CSV, then it lists the executed transfers and shows no number in clear', async () => {
    await simulator.drained();
    const json = (await (await fetch(`${base}/__control/statement?format=json`)).json()) as { referenceId: string; payee: string; status: string }[];
    const csv = await (await fetch(`${base}/__control/statement?format=csv`)).text();
    expect(json.find((l) => l.referenceId === refOf(1))).toMatchObject({ status: 'SUCCESSFUL', payee: '*********456' });
    // The CSV is the partner portal's export (momo-statement.test.ts checks it line by line).
    expect(csv.split('\r\n')[0]).toBe('Id,Date,Status,Type,From,From Name,To,To Name,Amount,Fee,Balance');
    const numbers = seen.map((s) => (s.body as { payee?: { partyId?: string } } | undefined)?.payee?.partyId).filter((n): n is string => typeof n === 'string');
    expect(numbers.length).toBeGreaterThan(0);
    for (const number of new Set(numbers)) {
      expect(JSON.stringify(json)).not.toContain(number);
      expect(csv).not.toContain(number);
    }
    // A line per transfer that ended and per reversal: the PENDING ones are not on it yet.
    expect(csv.split('\r\n').filter((l) => l.length > 0)).toHaveLength(json.filter((l) => l.status !== 'PENDING').length + 1);
  });
});

describe('MTN MoMo simulator: latency, error rates, late and out-of-order callbacks, reversal, float', () => {
  /** Timers may fire a millisecond early by Date.now(). */
  const slackMs = 2;
  const callbacksOf = (n: number) => callbacks.filter((c) => c.token === `tok-${n}`);
  const balance = async () => {
    const res = await fetch(`${base}/disbursement/v1_0/account/balance`, { headers: { authorization: lastBearer(), 'ocp-apim-subscription-key': credentials.subscriptionKey, 'x-target-environment': 'sandbox' } });
    return ((await res.json()) as { availableBalance: string }).availableBalance;
  };
  afterEach(() => simulator.setFaults({}));

  it("when a latency distribution is set, then each answer waits at least its reference id's deterministic delay, and a rule's own latency replaces the global one", async () => {
    const latency = { baseMs: 20, jitterMs: 40 };
    const put = await setFaults({ latency, rules: [{ pattern: '^256700000031$', latency: { baseMs: 70, jitterMs: 0 } }] });
    expect(put.status).toBe(200);
    expect(await put.json()).toMatchObject({ latency, rules: [{ fault: 'none', latency: { baseMs: 70, jitterMs: 0 } }] });
    const momo = client();
    await momo.status(query(96)); // the token first
    for (const [n, expected] of [
      [30, deterministicDelayMs(refOf(30), latency)],
      [31, 70],
    ] as const) {
      const started = Date.now();
      expect((await momo.submit(request(n, `+2567000000${n}`))).kind).toBe('pending');
      expect({ n, waited: Date.now() - started >= expected - slackMs }).toEqual({ n, waited: true });
    }
    expectAllInContract();
  });

  it('when the error rate is 100%, then 503 SERVICE_UNAVAILABLE answers before anything is recorded: unknown, no execution, no callback, 404 on status; at 0% it runs', async () => {
    simulator.setFaults({ rules: [{ pattern: '^256700000032$', errorRatePercent: 100 }, { pattern: '^256700000033$', errorRatePercent: 0 }] });
    const momo = client();
    expect(await momo.submit(request(32, '+256700000032'))).toMatchObject({ kind: 'unknown', providerCode: 'momo:SERVICE_UNAVAILABLE' });
    expect(transfersOf(refOf(32)).map((s) => s.status)).toEqual([503]);
    expect(simulator.executions(refOf(32))).toBe(0);
    expect(await momo.status(query(32))).toMatchObject({ kind: 'absent', providerCode: 'momo:RESOURCE_NOT_FOUND' });
    expect((await momo.submit(request(33, '+256700000033'))).kind).toBe('pending');
    expect(simulator.executions(refOf(33))).toBe(1);
    await simulator.drained();
    expect(callbacksOf(32)).toHaveLength(0);
    expect(simulator.statement().some((l) => l.referenceId === refOf(32))).toBe(false);
    expectAllInContract();
  });

  it('when the error rate is 50%, then which requests fail is fixed by the hash of their reference id, and a resend with the same id is a new draw', async () => {
    simulator.setFaults({ rules: [{ pattern: '^25670000004[0-9]$', errorRatePercent: 50 }] });
    const ns = Array.from({ length: 10 }, (_, i) => 40 + i);
    const first = ns.map((n) => failsAtErrorRate(refOf(n), 0, 50));
    expect(first).toContain(true);
    expect(first).toContain(false);
    const momo = client();
    for (const [i, n] of ns.entries()) {
      const outcome = await momo.submit(request(n, `+2567000000${n}`));
      expect({ n, kind: outcome.kind, executions: simulator.executions(refOf(n)) }).toEqual({ n, kind: first[i] ? 'unknown' : 'pending', executions: first[i] ? 0 : 1 });
    }
    const resent = ns.filter((_, i) => first[i]);
    const second = resent.map((n) => failsAtErrorRate(refOf(n), 1, 50));
    for (const [i, n] of resent.entries()) {
      const outcome = await momo.submit(request(n, `+2567000000${n}`));
      expect({ n, kind: outcome.kind, executions: simulator.executions(refOf(n)) }).toEqual({ n, kind: second[i] ? 'unknown' : 'pending', executions: second[i] ? 0 : 1 });
    }
    expectAllInContract();
  });

  it('when the callback is delayed, then it arrives once, at least delayMs after the transfer', async () => {
    simulator.setFaults({ rules: [{ pattern: '^256700000050$', fault: 'delay-callback', delayMs: 60 }] });
    const momo = client();
    await momo.status(query(95));
    const started = Date.now();
    expect((await momo.submit(request(50, '+256700000050'))).kind).toBe('pending');
    const callback = await until(() => callbacksOf(50)[0]);
    expect(callback.at - started).toBeGreaterThanOrEqual(60 - slackMs);
    await simulator.drained();
    expect(callbacksOf(50)).toHaveLength(1);
    expect(contract.schemaProblems('TransferResult', callback.body)).toEqual([]);
  });

  it('when the callbacks are out of order, then the final SUCCESSFUL one comes first and a stale PENDING one at least delayMs after it; both in the contract, with different dedupe keys; the status stays paid', async () => {
    simulator.setFaults({ rules: [{ pattern: '^256700000051$', fault: 'out-of-order-callback', delayMs: 20 }] });
    const momo = client();
    expect((await momo.submit(request(51, '+256700000051'))).kind).toBe('pending');
    await simulator.drained();
    const both = callbacksOf(51);
    expect(both.map((c) => (c.body as { status: string }).status)).toEqual(['SUCCESSFUL', 'PENDING']);
    expect(both[1]!.at - both[0]!.at).toBeGreaterThanOrEqual(20 - slackMs);
    for (const c of both) expect(contract.schemaProblems('TransferResult', c.body)).toEqual([]);
    expect(both[1]!.body).not.toHaveProperty('financialTransactionId');
    expect(mapCallback(both[0]!.body)?.outcome).toMatchObject({ kind: 'paid' });
    expect(mapCallback(both[1]!.body)?.outcome).toMatchObject({ kind: 'pending' });
    expect(mapCallback(both[0]!.body)?.dedupeKey).not.toBe(mapCallback(both[1]!.body)?.dedupeKey);
    expect(await momo.status(query(51))).toMatchObject({ kind: 'paid' });
    expect(simulator.executions(refOf(51))).toBe(1);
  });

  it('when a transfer is reversed after success, then the callback and status say SUCCESSFUL (MoMo has no reversed status), the money is back on the balance, and the statement has a negative line; it ran once', async () => {
    simulator.setFaults({ floatBalance: '100', rules: [{ pattern: '^256700000052$', fault: 'reverse-after-success', delayMs: 30 }] });
    const momo = client();
    expect((await momo.submit(request(52, '+256700000052'))).kind).toBe('pending');
    const callback = await until(() => callbacksOf(52)[0]);
    expect(callback.body).toMatchObject({ status: 'SUCCESSFUL' });
    expect(await balance()).toBe('87.5');
    await simulator.drained();
    expect(await balance()).toBe('100');
    expect(await momo.status(query(52))).toMatchObject({ kind: 'paid' });
    const lines = simulator.statement().filter((l) => l.referenceId === refOf(52));
    expect(lines.map((l) => [l.status, l.amount, l.payee])).toEqual([
      ['SUCCESSFUL', '12.50', '*********052'],
      ['REVERSED', '-12.50', '*********052'],
    ]);
    expect(Date.parse(lines[1]!.completedAt) - callback.at).toBeGreaterThanOrEqual(30 - slackMs);
    const csv = await (await fetch(`${base}/__control/statement?format=csv`)).text();
    const rows = csv.split('\r\n').map((l) => l.split(','));
    expect(rows.filter((r) => r[0] === lines[0]!.financialTransactionId).map((r) => [r[2], r[3], r[6], r[8]])).toEqual([['SUCCESSFUL', 'transfer', 'FRI:*********052/MSISDN', '-12.50']]);
    const reversal = rows.filter((r) => r[3] === 'reversal' && r[4] === 'FRI:*********052/MSISDN');
    expect(reversal.map((r) => [r[1], r[2], r[8]])).toEqual([[momoPortalTime(new Date(lines[1]!.completedAt)), 'SUCCESSFUL', '12.50']]);
    expect(reversal[0]![0]).not.toBe(lines[0]!.financialTransactionId);
    expect(csv).not.toContain('256700000052');
    expect(callbacksOf(52)).toHaveLength(1);
    expect(simulator.executions(refOf(52))).toBe(1);
    expectAllInContract();
  });

  it('when a rule makes MoMo report another amount, currency, payee and a financialTransactionId reused on two transfers, then the callbacks and status answers say so, in the contract, while what ran, the balance and the statement keep the truth', async () => {
    simulator.setFaults({ floatBalance: '100', rules: [{ pattern: '^2567000000(70|71)$', reportAmount: '12.49', reportCurrency: 'UGX', reportReceiver: '256799999999', reportReceipt: '555000111' }] });
    const momo = client();
    for (const n of [70, 71]) expect((await momo.submit(request(n, `+2567000000${n}`))).kind).toBe('pending');
    for (const n of [70, 71]) {
      const callback = await until(() => callbacksOf(n)[0]);
      expect(contract.schemaProblems('TransferResult', callback.body)).toEqual([]);
      expect(callback.body).toMatchObject({ amount: '12.49', currency: 'UGX', financialTransactionId: '555000111', payee: { partyIdType: 'MSISDN', partyId: '256799999999' }, externalId: keyOf(n), status: 'SUCCESSFUL' });
      expect(parseMomoCallback(Buffer.from(JSON.stringify(callback.body)))).toMatchObject({ outcome: 'paid', providerReference: '555000111', facts: { amount: '12.49', currency: 'UGX', receiver: '256799999999', fee: null } });
      expect(await momo.status(query(n))).toMatchObject({ kind: 'paid', providerReference: '555000111' });
      expect(simulator.executions(refOf(n))).toBe(1);
    }
    // The truth: 12.50 EUR each, to its own number, under its own id; the balance paid 25.
    expect(await balance()).toBe('75');
    const lines = simulator.statement().filter((l) => l.referenceId === refOf(70) || l.referenceId === refOf(71));
    expect(lines.map((l) => [l.amount, l.currency, l.payee])).toEqual([['12.50', 'EUR', '*********070'], ['12.50', 'EUR', '*********071']]);
    expect(new Set(lines.map((l) => l.financialTransactionId)).size).toBe(2);
    expect(lines.some((l) => l.financialTransactionId === '555000111')).toBe(false);
    expectAllInContract();
  });

  it('when the float holds 25, then two transfers of 12.50 are paid and the third ends FAILED NOT_ENOUGH_FUNDS; the balance reads the float', async () => {
    simulator.setFaults({ floatBalance: '25' });
    const momo = client();
    for (const n of [53, 54, 55]) expect((await momo.submit(request(n, `+2567000000${n}`))).kind).toBe('pending');
    expect(await momo.status(query(53))).toMatchObject({ kind: 'paid' });
    expect(await momo.status(query(54))).toMatchObject({ kind: 'paid' });
    expect(await momo.status(query(55))).toEqual({ kind: 'failed', reason: 'insufficient_float', providerCode: 'momo:NOT_ENOUGH_FUNDS' });
    expect(await balance()).toBe('0');
    await simulator.drained();
    expect(contract.schemaProblems('TransferResult', callbacksOf(55)[0]!.body)).toEqual([]);
    expectAllInContract();
  });

  it.each([
    ['an error rate above 100', { rules: [{ pattern: '.', errorRatePercent: 101 }] }, 'rules.0.errorRatePercent'],
    ['a negative delay', { rules: [{ pattern: '.', fault: 'delay-callback', delayMs: -1 }] }, 'rules.0.delayMs'],
    ['an oversized delay', { rules: [{ pattern: '.', fault: 'reverse-after-success', delayMs: 1e9 }] }, 'rules.0.delayMs'],
    ['a latency past the maximum', { latency: { baseMs: 100_000, jitterMs: 100_000 } }, 'latency'],
    ['an unknown fault', { rules: [{ pattern: '.', fault: 'reversed-callback' }] }, 'rules.0.fault'],
    ['a float with five decimals', { floatBalance: '1.00001' }, 'floatBalance'],
    ['a reported amount with five decimals', { rules: [{ pattern: '.', reportAmount: '1.00001' }] }, 'rules.0.reportAmount'],
    ['a reported amount as a number', { rules: [{ pattern: '.', reportAmount: 12.5 }] }, 'rules.0.reportAmount'],
    ['a reported amount of 16 integer digits', { rules: [{ pattern: '.', reportAmount: '1'.repeat(16) }] }, 'rules.0.reportAmount'],
    ['a reported currency in lower case', { rules: [{ pattern: '.', reportCurrency: 'ugx' }] }, 'rules.0.reportCurrency'],
    ['a reported receiver that is not digits', { rules: [{ pattern: '.', reportReceiver: '2567-000' }] }, 'rules.0.reportReceiver'],
    ['a reported receipt past the maximum', { rules: [{ pattern: '.', reportReceipt: '1'.repeat(65) }] }, 'rules.0.reportReceipt'],
    ['a reported fee (MoMo reports none)', { rules: [{ pattern: '.', fee: '1' }] }, 'rules.0'],
  ])('when the control API gets %s, then 400 names the field and the faults in force are unchanged', async (_what, body, field) => {
    simulator.setFaults({ rules: [{ pattern: '^256700000060$', errorRatePercent: 100 }] });
    const res = await fetch(`${base}/__control/faults`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect(res.status).toBe(400);
    const answer = (await res.json()) as { error: string; problems: string[] };
    expect(answer.problems.some((p) => p.startsWith(`${field}: `))).toBe(true);
    const n = 600 + ++badRuns;
    expect(await client().submit(request(n, '+256700000060'))).toMatchObject({ kind: 'unknown', providerCode: 'momo:SERVICE_UNAVAILABLE' });
  });
  let badRuns = 0;
});

describe('MTN MoMo simulator: both shapes of a failure reason', () => {
  it('when the transfers of this file failed, then the simulator (no reasonShape set) sent the reason both as a plain string and as {code, message}, every one in the contract and read the same', async () => {
    await simulator.drained();
    // The default simulator PUTs its callbacks; the {code,message}-only one POSTs.
    const failures = callbacks.filter((c) => c.method === 'PUT' && (c.body as { status?: unknown }).status === 'FAILED');
    for (const c of failures) {
      expect(contract.schemaProblems('TransferResult', c.body)).toEqual([]);
      const reason = (c.body as { reason: unknown }).reason;
      const code = typeof reason === 'string' ? reason : (reason as { code: string }).code;
      expect(mapCallback(c.body)?.outcome).toMatchObject({ kind: 'failed', providerCode: `momo:${code}` });
    }
    expect([...new Set(failures.map((c) => typeof (c.body as { reason: unknown }).reason))].sort()).toEqual(['object', 'string']);
  });
});

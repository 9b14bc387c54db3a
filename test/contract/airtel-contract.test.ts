// The Airtel Disbursement v2 adapter and simulator against the contract (contracts/providers/
// airtel-disbursement-v2.openapi.yaml): every request the client sends is one the contract accepts
// (body, headers, query), every answer and callback the simulator sends is one the contract
// describes; the client's outcomes through the simulator's faults never pay twice (among them
// deterministic latency and error rates, a late callback, reversal after success and a float that
// runs out); and the simulator refuses malformed, hostile and oversized input with a clear error,
// running nothing.
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { generateKeyPairSync } from 'node:crypto';
import express from 'express';
import { pino } from 'pino';
import { AirtelClient, airtelSettingsProblems, type AirtelSettings } from '../../src/adapters/providers/airtel/airtel-client.js';
import { airtelTransactionId, existsDetail, notFoundDetail, parseAirtelCallbackRecord, responseCodeTable, routerCodeTable, statusLetterTable, verifyAirtelCallback } from '../../src/adapters/providers/airtel/mapping.js';
import { encryptAirtelPin } from '../../src/adapters/providers/airtel/pin.js';
import { createAirtelSimulator, type AirtelFaults, type AirtelSimulator } from '../../src/simulator/airtel-simulator.js';
import { deterministicDelayMs, failsAtErrorRate } from '../../src/simulator/faults.js';
import { net } from '../support/net.js';
import { loadContract } from '../support/openapi.js';

const { until } = net;

const contract = loadContract('providers/airtel-disbursement-v2.openapi.yaml');
const logger = pino({ level: 'silent' });
const credentials = { clientId: 'airtel-client-1', clientSecret: 'airtel-secret-1' };
const callbackSecret = 'callback-secret-1';
const encryptedPin = encryptAirtelPin('1234', generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }).toString());

interface Seen {
  readonly method: string;
  readonly path: string;
  readonly query: Record<string, unknown>;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: unknown;
  status: number;
  answer: unknown;
}

let server: Server;
let simulator: AirtelSimulator;
let base: string;
const seen: Seen[] = [];
const callbacks: { headers: Record<string, string | string[] | undefined>; raw: Buffer; at: number }[] = [];

beforeAll(async () => {
  const app = express();
  // Requests a test sends malformed on purpose are not the client's: checked one by one, not here.
  const clients = (req: express.Request) => !(req.path.startsWith('/cb/') || req.path.startsWith('/__control') || req.headers['x-test-malformed']);
  // The client's bodies are read here, so that even a request the gateway refuses unread is checked
  // (the simulator's own parser then finds it read; malformed requests skip this and meet that parser).
  const readJson = express.json({ limit: '64kb' });
  app.use((req, res, next) => (clients(req) ? readJson(req, res, next) : next()));
  app.use((req, res, next) => {
    if (!clients(req)) return next();
    const entry: Seen = { method: req.method, path: req.path, query: { ...req.query }, headers: req.headers, body: req.body as unknown, status: 0, answer: undefined };
    const json = res.json.bind(res);
    res.json = (body: unknown) => {
      entry.answer = body;
      return json(body);
    };
    res.on('finish', () => {
      entry.status = res.statusCode;
      seen.push(entry);
    });
    next();
  });
  app.post('/cb/airtel', express.raw({ type: () => true }), (req, res) => {
    callbacks.push({ headers: req.headers, raw: req.body as Buffer, at: Date.now() });
    res.status(200).end();
  });
  server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // The callback URL is the application's, registered once: known only now that the port is.
  simulator = createAirtelSimulator({ ...credentials, country: 'ZM', currency: 'ZMW', callback: { url: `${base}/cb/airtel`, secret: callbackSecret }, logger });
  app.use(simulator.router);
  app.use('/__control', simulator.controlRouter);
});

afterAll(async () => {
  simulator.close();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

beforeEach(() => simulator.setFaults({}));

const settings = (over: Partial<AirtelSettings> = {}): AirtelSettings => ({ baseUrl: base, ...credentials, country: 'ZM', currency: 'ZMW', encryptedPin, timeoutMs: 2_000, ...over });
const client = (over: Partial<AirtelSettings> = {}) => new AirtelClient(settings(over), logger);
const keyOf = (n: number) => `0b7f2a9e-4c1d-5e8f-9a0b-${n.toString(16).padStart(12, '0')}`;
const txOf = (n: number) => airtelTransactionId(keyOf(n));
/** A Zambian number whose national form (what Airtel sees) is 9770NNNNN. */
const msisdnOf = (n: number) => `+2609770${String(n).padStart(5, '0')}`;
const nationalOf = (n: number) => `9770${String(n).padStart(5, '0')}`;
const request = (n: number, msisdn = msisdnOf(n)) => ({ payoutId: `p-${n}`, idempotencyKey: keyOf(n), msisdn, amountMinor: 12_50n, currency: 'ZMW' as const, callbackUrl: `${base}/v1/callbacks/airtel/tok-${n}` });
const query = (n: number) => ({ payoutId: `p-${n}`, idempotencyKey: keyOf(n), providerReference: null, currency: 'ZMW' as const, callbackUrl: `${base}/v1/callbacks/airtel/tok-${n}` });
const disbursementsOf = (n: number) => seen.filter((s) => s.method === 'POST' && s.path === '/standard/v2/disbursements/' && (s.body as { transaction?: { id?: string } } | undefined)?.transaction?.id === txOf(n));
const callbacksOf = (n: number) => callbacks.filter((c) => c.raw.toString('utf8').includes(txOf(n)));
const rule = (n: number) => `^${nationalOf(n)}$`;
const setFaults = (faults: AirtelFaults) => fetch(`${base}/__control/faults`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(faults) });

/** Every request seen so far is one the contract accepts, every answer one it describes, every callback signed and in shape. */
function expectAllInContract(): void {
  expect(seen.length).toBeGreaterThan(0);
  for (const s of seen) {
    const template = contract.templateOf(s.path);
    expect({ path: s.path, template }).toEqual({ path: s.path, template: expect.any(String) });
    const where = `${s.method} ${template!} ${s.status}`;
    expect({ where, parameters: contract.parameterProblems(s.method, template!, s) }).toEqual({ where, parameters: [] });
    if (s.method === 'POST') expect({ where, body: contract.requestProblems('post', template!, s.body) }).toEqual({ where, body: [] });
    expect({ where, answer: contract.responseProblems(s.method, template!, s.status, s.answer) }).toEqual({ where, answer: [] });
  }
  for (const c of callbacks) {
    expect(contract.schemaProblems('CallbackBody', JSON.parse(c.raw.toString('utf8')))).toEqual([]);
    expect(verifyAirtelCallback(Buffer.from(callbackSecret), c.raw, c.headers.hash as string | undefined)).toEqual({ ok: true });
  }
}

describe('Airtel contract codes', () => {
  it('when the contract lists the known codes and letters, then they are exactly the keys of the mapping tables', () => {
    const schemas = (contract.document.components as { schemas: Record<string, { enum?: string[] }> }).schemas;
    expect([...(schemas.KnownResponseCode?.enum ?? [])].sort()).toEqual([...Object.keys(responseCodeTable), ...Object.keys(routerCodeTable)].sort());
    expect([...(schemas.KnownStatusLetter?.enum ?? [])].sort()).toEqual(Object.keys(statusLetterTable).sort());
  });
});

describe('Airtel Disbursement v2 contract', () => {
  afterEach(() => expectAllInContract());


  it('when a payout is sent, then it is paid synchronously, the callback and the enquiry agree, and it ran once', async () => {
    const airtel = client();
    const outcome = await airtel.submit(request(1));
    expect(outcome).toEqual({ kind: 'paid', providerReference: expect.stringMatching(/^AM\d{10}$/) });
    const sent = disbursementsOf(1);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.body).toEqual({ payee: { currency: 'ZMW', msisdn: nationalOf(1) }, reference: txOf(1), pin: encryptedPin, transaction: { amount: 12.5, id: txOf(1), type: 'B2C' } });
    expect(sent[0]!.headers).toMatchObject({ 'x-country': 'ZM', 'x-currency': 'ZMW', 'content-type': 'application/json', accept: '*/*' });
    const callback = await until(() => callbacksOf(1)[0]);
    expect(parseAirtelCallbackRecord(callback.raw)).toEqual({ dedupeKey: `${keyOf(1)}:TS`, idempotencyKey: keyOf(1), outcome: 'paid', reasonCode: null, providerReference: (outcome as { providerReference: string }).providerReference });
    expect(await airtel.status(query(1))).toEqual(outcome);
    const enquiry = seen.find((s) => s.method === 'GET' && s.path === `/standard/v2/disbursements/${txOf(1)}`)!;
    expect(enquiry.query).toEqual({ transactionType: 'B2C' });
    expect(simulator.executions(keyOf(1))).toBe(1);
    expect(simulator.executions(txOf(1))).toBe(1);
  });

  it('when the same transaction.id is sent again, then Airtel answers DP00900001011 (HTTP 200), the outcome is "exists", and it ran once', async () => {
    const airtel = client();
    expect((await airtel.submit(request(2))).kind).toBe('paid');
    expect(await airtel.submit(request(2))).toEqual({ kind: 'unknown', providerCode: 'airtel:DP00900001011', detail: existsDetail });
    expect(disbursementsOf(2).map((s) => [s.status, (s.answer as { status: { response_code?: string } }).status.response_code])).toEqual([
      [200, 'DP00900001001'],
      [200, 'DP00900001011'],
    ]);
    expect(simulator.executions(keyOf(2))).toBe(1);
    expect(simulator.statement().filter((l) => l.transactionId === txOf(2))).toHaveLength(1);
  });

  it.each([
    ['DP00900001000', 'ambiguous: enquire'],
    ['DP00900001014', 'timed out at Airtel: enquire'],
  ] as const)('when the money moved but the answer is %s, then the outcome is unknown, the enquiry says paid once, and a resend never pays twice', async (code, detail) => {
    const n = code === 'DP00900001000' ? 3 : 4;
    simulator.setFaults({ rules: [{ pattern: rule(n), fault: 'ambiguous-after-execution', responseCode: code }] });
    const airtel = client();
    expect(await airtel.submit(request(n))).toEqual({ kind: 'unknown', providerCode: `airtel:${code}`, detail });
    expect(await airtel.status(query(n))).toMatchObject({ kind: 'paid' });
    expect(await airtel.submit(request(n))).toEqual({ kind: 'unknown', providerCode: 'airtel:DP00900001011', detail: existsDetail });
    expect(simulator.executions(keyOf(n))).toBe(1);
  });

  it('when the answer is held past the client timeout after the money moved, then the outcome is unknown and the enquiry says paid, once', async () => {
    simulator.setFaults({ rules: [{ pattern: rule(5), fault: 'timeout-after-execution', holdMs: 1_000 }] });
    const airtel = client({ timeoutMs: 200 });
    expect(await airtel.submit(request(5))).toMatchObject({ kind: 'unknown', providerCode: null, detail: expect.stringMatching(/^no answer: /) });
    expect(simulator.executions(keyOf(5))).toBe(1);
    expect(await airtel.status(query(5))).toMatchObject({ kind: 'paid' });
    expect(simulator.executions(keyOf(5))).toBe(1);
  });

  it('when Airtel answers HTTP 500 after the money moved, then the outcome is unknown, never failed, and the enquiry says paid', async () => {
    simulator.setFaults({ rules: [{ pattern: rule(6), fault: 'error-500-after-execution' }] });
    const airtel = client();
    expect(await airtel.submit(request(6))).toEqual({ kind: 'unknown', providerCode: null, detail: 'HTTP 500' });
    expect(await airtel.status(query(6))).toMatchObject({ kind: 'paid' });
    expect(simulator.executions(keyOf(6))).toBe(1);
  });

  it('when Airtel refuses the payee number, then the answer, the enquiry and the callback say failed with the mapped reason, and nothing was paid', async () => {
    simulator.setFaults({ rules: [{ pattern: rule(7), fault: 'fail', responseCode: 'DP00900001012' }] });
    const airtel = client();
    const expected = { kind: 'failed', reason: 'payee_not_found', providerCode: 'airtel:DP00900001012' };
    expect(await airtel.submit(request(7))).toEqual(expected);
    expect(await airtel.status(query(7))).toEqual(expected);
    const callback = await until(() => callbacksOf(7)[0]);
    expect(parseAirtelCallbackRecord(callback.raw)).toMatchObject({ outcome: 'failed', reasonCode: 'provider_failure:airtel:TF' });
    expect(simulator.statement().find((l) => l.transactionId === txOf(7))).toMatchObject({ status: 'TF', responseCode: 'DP00900001012', airtelMoneyId: '' });
  });

  it('when our float is short, then the outcome is insufficient_float', async () => {
    simulator.setFaults({ rules: [{ pattern: rule(8), fault: 'insufficient-funds' }] });
    expect(await client().submit(request(8))).toEqual({ kind: 'failed', reason: 'insufficient_float', providerCode: 'airtel:DP00900001007' });
  });

  it('when the disbursement stays in process, then it is pending, the enquiry says pending, and no callback comes', async () => {
    simulator.setFaults({ rules: [{ pattern: rule(9), fault: 'in-process' }] });
    const airtel = client();
    expect(await airtel.submit(request(9))).toEqual({ kind: 'pending', providerReference: null });
    expect(await airtel.status(query(9))).toEqual({ kind: 'pending', providerReference: null });
    await simulator.drained();
    expect(callbacksOf(9)).toHaveLength(0);
  });

  it('when the router cannot decrypt our PIN (ROUTER116), then it is failed credentials_invalid, nothing ran, and the enquiry finds nothing', async () => {
    simulator.setFaults({ rules: [{ pattern: rule(10), fault: 'fail', responseCode: 'ROUTER116' }] });
    const airtel = client();
    expect(await airtel.submit(request(10))).toEqual({ kind: 'failed', reason: 'credentials_invalid', providerCode: 'airtel:ROUTER116' });
    expect(simulator.executions(keyOf(10))).toBe(0);
    expect(await airtel.status(query(10))).toEqual({ kind: 'absent', providerCode: 'airtel:DP00900001015', detail: notFoundDetail });
  });

  it('when a transaction Airtel never saw is enquired, then it is absent ("not found"); a resend with the same id then runs it, once', async () => {
    const airtel = client();
    expect(await airtel.status(query(11))).toEqual({ kind: 'absent', providerCode: 'airtel:DP00900001015', detail: notFoundDetail });
    expect(await airtel.submit(request(11))).toMatchObject({ kind: 'paid' });
    expect(await airtel.status(query(11))).toMatchObject({ kind: 'paid' });
    expect(simulator.executions(keyOf(11))).toBe(1);
  });

  it('when the token was revoked, then the client forgets it and retries once with a new token and the same transaction.id, and it runs once', async () => {
    const airtel = client();
    await airtel.status(query(97));
    simulator.revokeTokens();
    expect((await airtel.submit(request(12))).kind).toBe('paid');
    const sent = disbursementsOf(12);
    expect(sent.map((s) => s.status)).toEqual([403, 200]);
    expect(sent[0]!.answer).toEqual({ error: 'invalid_token', error_description: 'The access token is invalid or has expired' });
    expect(sent[0]!.headers.authorization).not.toBe(sent[1]!.headers.authorization);
    expect(simulator.executions(keyOf(12))).toBe(1);
  });

  it('when our client credentials are refused, then no disbursement is sent and the outcome is unknown', async () => {
    const before = seen.length;
    expect(await client({ clientSecret: 'wrong' }).submit(request(13))).toMatchObject({ kind: 'unknown', providerCode: null });
    expect(seen.slice(before).map((s) => `${s.path} ${s.status}`)).toEqual(['/auth/oauth2/token 400']);
    expect(seen.at(-1)!.answer).toEqual({ error: 'invalid_client', error_description: 'Invalid client authentication' });
    expect(simulator.executions(keyOf(13))).toBe(0);
  });

  it('when the account is set up for a market the partner is not provisioned in, then the router answers ROUTER110 and the outcome is failed not_permitted', async () => {
    expect(await client({ country: 'UG', currency: 'UGX' }).submit({ ...request(14, '+256772000014'), currency: 'UGX', amountMinor: 5000n })).toEqual({ kind: 'failed', reason: 'not_permitted', providerCode: 'airtel:ROUTER110' });
    expect(seen.at(-1)).toMatchObject({ status: 400, answer: { status_code: 'ROUTER110' } });
    expect(simulator.executions(keyOf(14))).toBe(0);
  });

  it('when the number is of another market than the account, then nothing is sent and the request is refused locally', async () => {
    const before = seen.length;
    expect(await client().submit(request(15, '+254712000015'))).toEqual({ kind: 'failed', reason: 'request_invalid', providerCode: 'airtel:local:unbuildable-request' });
    expect(seen.length).toBe(before);
  });

  it('when callbacks are lost or duplicated, then the enquiry still tells, and duplicates share a dedupe key and a valid hash', async () => {
    simulator.setFaults({ rules: [{ pattern: rule(16), fault: 'lost-callback' }, { pattern: rule(17), fault: 'duplicate-callback' }] });
    const airtel = client();
    expect((await airtel.submit(request(16))).kind).toBe('paid');
    expect((await airtel.submit(request(17))).kind).toBe('paid');
    await simulator.drained();
    expect(callbacksOf(16)).toHaveLength(0);
    expect(await airtel.status(query(16))).toMatchObject({ kind: 'paid' });
    const twice = callbacksOf(17);
    expect(twice).toHaveLength(2);
    expect(parseAirtelCallbackRecord(twice[0]!.raw)?.dedupeKey).toBe(parseAirtelCallbackRecord(twice[1]!.raw)?.dedupeKey);
  });

  it('when a latency is injected, then the answer comes late and still reads paid', async () => {
    simulator.setFaults({ latencyMs: 50 });
    const started = Date.now();
    expect((await client().submit(request(18))).kind).toBe('paid');
    expect(Date.now() - started).toBeGreaterThanOrEqual(45);
  });
});

describe('Airtel simulator: latency, error rates, a late callback, reversal, float', () => {
  afterEach(() => expectAllInContract());
  /** Timers may fire a millisecond early by Date.now(). */
  const slackMs = 2;
  let badRuns = 0;

  it("when a latency distribution is set, then each answer waits at least its transaction.id's deterministic delay, and a rule's own latency replaces the global one", async () => {
    const latency = { baseMs: 20, jitterMs: 40 };
    const put = await setFaults({ latency, rules: [{ pattern: rule(31), latency: { baseMs: 70, jitterMs: 0 } }] });
    expect(put.status).toBe(200);
    expect(await put.json()).toMatchObject({ latency, rules: [{ fault: 'none', latency: { baseMs: 70, jitterMs: 0 } }] });
    const airtel = client();
    await airtel.status(query(96)); // the token first
    for (const [n, expected] of [
      [30, deterministicDelayMs(txOf(30), latency)],
      [31, 70],
    ] as const) {
      const started = Date.now();
      expect((await airtel.submit(request(n))).kind).toBe('paid');
      expect({ n, waited: Date.now() - started >= expected - slackMs }).toEqual({ n, waited: true });
    }
  });

  it('when the error rate is 100%, then HTTP 503 answers before anything is recorded: unknown, no execution, no callback, not found on enquiry; at 0% it runs', async () => {
    simulator.setFaults({ rules: [{ pattern: rule(32), errorRatePercent: 100 }, { pattern: rule(33), errorRatePercent: 0 }] });
    const airtel = client();
    expect(await airtel.submit(request(32))).toMatchObject({ kind: 'unknown' });
    expect(disbursementsOf(32).map((s) => s.status)).toEqual([503]);
    expect(simulator.executions(keyOf(32))).toBe(0);
    expect(await airtel.status(query(32))).toEqual({ kind: 'absent', providerCode: 'airtel:DP00900001015', detail: notFoundDetail });
    expect((await airtel.submit(request(33))).kind).toBe('paid');
    expect(simulator.executions(keyOf(33))).toBe(1);
    await simulator.drained();
    expect(callbacksOf(32)).toHaveLength(0);
    expect(simulator.statement().some((l) => l.transactionId === txOf(32))).toBe(false);
  });

  it('when the error rate is 50%, then which requests fail is fixed by the hash of their transaction.id, and a resend with the same id is a new draw', async () => {
    simulator.setFaults({ rules: [{ pattern: '^97700004[0-9]$', errorRatePercent: 50 }] });
    const ns = Array.from({ length: 10 }, (_, i) => 40 + i);
    const first = ns.map((n) => failsAtErrorRate(txOf(n), 0, 50));
    expect(first).toContain(true);
    expect(first).toContain(false);
    const airtel = client();
    for (const [i, n] of ns.entries()) {
      const outcome = await airtel.submit(request(n));
      expect({ n, kind: outcome.kind, executions: simulator.executions(keyOf(n)) }).toEqual({ n, kind: first[i] ? 'unknown' : 'paid', executions: first[i] ? 0 : 1 });
    }
    const resent = ns.filter((_, i) => first[i]);
    const second = resent.map((n) => failsAtErrorRate(txOf(n), 1, 50));
    for (const [i, n] of resent.entries()) {
      const outcome = await airtel.submit(request(n));
      expect({ n, kind: outcome.kind, executions: simulator.executions(keyOf(n)) }).toEqual({ n, kind: second[i] ? 'unknown' : 'paid', executions: second[i] ? 0 : 1 });
    }
  });

  it('when the callback is delayed, then it arrives once, at least delayMs after the disbursement, signed', async () => {
    simulator.setFaults({ rules: [{ pattern: rule(50), fault: 'delay-callback', delayMs: 60 }] });
    const airtel = client();
    await airtel.status(query(95));
    const started = Date.now();
    expect((await airtel.submit(request(50))).kind).toBe('paid');
    const callback = await until(() => callbacksOf(50)[0]);
    expect(callback.at - started).toBeGreaterThanOrEqual(60 - slackMs);
    await simulator.drained();
    expect(callbacksOf(50)).toHaveLength(1);
    expect(parseAirtelCallbackRecord(callback.raw)).toMatchObject({ outcome: 'paid' });
  });

  it('when a disbursement is reversed after success, then the answer, callback and enquiry say TS (Airtel has no reversed letter), and delayMs after the callback the statement has a negative line; it ran once', async () => {
    simulator.setFaults({ rules: [{ pattern: rule(51), fault: 'reverse-after-success', delayMs: 30 }] });
    const airtel = client();
    expect((await airtel.submit(request(51))).kind).toBe('paid');
    const callback = await until(() => callbacksOf(51)[0]);
    await simulator.drained();
    expect(await airtel.status(query(51))).toMatchObject({ kind: 'paid' });
    const lines = simulator.statement().filter((l) => l.transactionId === txOf(51));
    expect(lines.map((l) => [l.status, l.amount, l.responseCode, l.msisdn])).toEqual([
      ['TS', '12.5', 'DP00900001001', '******051'],
      ['REVERSED', '-12.5', 'DP00900001001', '******051'],
    ]);
    expect(lines[1]!.airtelMoneyId).toBe(lines[0]!.airtelMoneyId);
    expect(Date.parse(lines[1]!.completedAt) - callback.at).toBeGreaterThanOrEqual(30 - slackMs);
    const csv = await (await fetch(`${base}/__control/statement?format=csv`)).text();
    // The statement, Format 1 (airtel-statement.test.ts checks it line by line): the disbursement, then its reversal as a Credit.
    const rows = csv.split('\r\n').map((l) => l.split(','));
    expect(rows.filter((r) => r[0] === lines[0]!.airtelMoneyId).map((r) => [r[2], r[3], r[4], r[5]])).toEqual([['Disbursement to ******051', 'Success', '12.50', 'Debit']]);
    expect(rows.filter((r) => r[2] === `Reversal of ${lines[0]!.airtelMoneyId}`).map((r) => [r[3], r[4], r[5]])).toEqual([['Success', '12.50', 'Credit']]);
    expect(csv).not.toContain(nationalOf(51));
    expect(callbacksOf(51)).toHaveLength(1);
    expect(simulator.executions(keyOf(51))).toBe(1);
  });

  it('when the float holds 12.50, then a disbursement is paid, its reversal puts the money back, the next is paid and the one after is refused DP00900001007', async () => {
    simulator.setFaults({ floatBalance: '12.5', rules: [{ pattern: rule(52), fault: 'reverse-after-success', delayMs: 10 }] });
    const airtel = client();
    expect((await airtel.submit(request(52))).kind).toBe('paid');
    await simulator.drained();
    expect((await airtel.submit(request(53))).kind).toBe('paid');
    expect(await airtel.submit(request(54))).toEqual({ kind: 'failed', reason: 'insufficient_float', providerCode: 'airtel:DP00900001007' });
    expect(simulator.statement().find((l) => l.transactionId === txOf(54))).toMatchObject({ status: 'TF', responseCode: 'DP00900001007' });
  });

  it.each([
    ['an error rate above 100', { rules: [{ pattern: '.', errorRatePercent: 101 }] }, 'rules.0.errorRatePercent'],
    ['a negative delay', { rules: [{ pattern: '.', fault: 'delay-callback', delayMs: -1 }] }, 'rules.0.delayMs'],
    ['an oversized delay', { rules: [{ pattern: '.', fault: 'reverse-after-success', delayMs: 1e9 }] }, 'rules.0.delayMs'],
    ['a latency past the maximum', { latency: { baseMs: 100_000, jitterMs: 100_000 } }, 'latency'],
    ['a response code on a reversal', { rules: [{ pattern: '.', fault: 'reverse-after-success', responseCode: 'DP00900001005' }] }, 'rules.0.responseCode'],
    ['a float with four decimals', { floatBalance: '1.0001' }, 'floatBalance'],
  ])('when the control API gets %s, then 400 names the field and the faults in force are unchanged', async (_what, body, field) => {
    simulator.setFaults({ rules: [{ pattern: '^977000098$', errorRatePercent: 100 }] });
    const res = await fetch(`${base}/__control/faults`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect(res.status).toBe(400);
    const answer = (await res.json()) as { error: string; problems: string[] };
    expect(answer.problems.some((p) => p.startsWith(`${field}: `))).toBe(true);
    const n = 1100 + ++badRuns;
    expect(await client().submit(request(n, '+260977000098'))).toMatchObject({ kind: 'unknown' });
    expect(simulator.executions(keyOf(n))).toBe(0);
  });
});

describe('Airtel simulator refusing malformed, hostile and oversized input', () => {
  const malformed = { 'x-test-malformed': '1' };
  let bearer = '';
  beforeAll(async () => {
    const res = await fetch(`${base}/auth/oauth2/token`, { method: 'POST', headers: { ...malformed, 'content-type': 'application/json' }, body: JSON.stringify({ client_id: credentials.clientId, client_secret: credentials.clientSecret, grant_type: 'client_credentials' }) });
    bearer = `Bearer ${((await res.json()) as { access_token: string }).access_token}`;
  });
  const headers = (over: Record<string, string | undefined> = {}) =>
    Object.fromEntries(Object.entries({ ...malformed, authorization: bearer, 'x-country': 'ZM', 'x-currency': 'ZMW', 'content-type': 'application/json', ...over }).filter((e): e is [string, string] => e[1] !== undefined));
  const valid = (id: string) => ({ payee: { currency: 'ZMW', msisdn: '977099001' }, reference: id, pin: encryptedPin, transaction: { amount: 10, id, type: 'B2C' } });
  const post = (body: string, over: Record<string, string | undefined> = {}) => fetch(`${base}/standard/v2/disbursements/`, { method: 'POST', headers: headers(over), body });

  /** The answer is in the contract for its status, and carries `message` somewhere a person can read. */
  async function answered(res: Response, path = '/standard/v2/disbursements/', method = 'post'): Promise<{ status: number; body: Record<string, unknown> }> {
    const body = (await res.json()) as Record<string, unknown>;
    expect({ status: res.status, problems: contract.responseProblems(method, path, res.status, body) }).toEqual({ status: res.status, problems: [] });
    return { status: res.status, body };
  }
  const messageOf = (body: Record<string, unknown>) => (body.status as { message?: string } | undefined)?.message ?? body.status_message ?? body.error_description;

  it.each([
    ['no token', { authorization: undefined }, 403, /invalid or has expired/],
    ['an unknown token', { authorization: 'Bearer forged' }, 403, /invalid or has expired/],
    ['no X-Country', { 'x-country': undefined }, 400, /Partner .* not found/],
    ['a market the partner is not in', { 'x-country': 'KE' }, 400, /Partner .* not found/],
    ['a malformed X-Country', { 'x-country': 'zmb' }, 400, /Invalid Country Code/],
    ['no X-Currency', { 'x-currency': undefined }, 200, /Missing request header 'x-currency'/],
    ['another currency', { 'x-currency': 'USD' }, 200, /Invalid\/Missing Currency/],
    ['text/plain', { 'content-type': 'text/plain' }, 415, /Content-Type must be application\/json/],
  ])('when a disbursement comes with %s, then it is refused with a clear message and nothing runs', async (_what, over, status, message) => {
    const id = `hdr${String(status)}${String(Object.keys(over)[0]).replace(/[^a-z]/g, '')}`;
    const res = await answered(await post(JSON.stringify(valid(id)), over));
    expect(res.status).toBe(status);
    expect(messageOf(res.body)).toMatch(message);
    expect(simulator.executions(id)).toBe(0);
  });

  it.each([
    ['not JSON', '{"payee":', 400, null, /not valid JSON/],
    ['a JSON array', '[1,2,3]', 400, null, /must be a JSON object/],
    ['a JSON string', '"hello"', 400, null, /must be a JSON object|not valid JSON/],
    ['larger than 16 kB', JSON.stringify({ ...valid('big000001'), padding: 'x'.repeat(20_000) }), 413, null, /larger than/],
    ['no pin', JSON.stringify({ ...valid('nopin0001'), pin: undefined }), 200, 'DP00900001013', /Missing header\/body params/],
    ['the number with its country code', JSON.stringify({ ...valid('cc0000001'), payee: { currency: 'ZMW', msisdn: '260977099001' } }), 200, 'DP00900001013', /Msisdn Length should be 9/],
    ['the amount as a string', JSON.stringify({ ...valid('amt000001'), transaction: { amount: '10.00', id: 'amt000001', type: 'B2C' } }), 200, 'DP00900001004', /Invalid Amount/],
    ['three decimals in ZMW', JSON.stringify({ ...valid('amt000002'), transaction: { amount: 10.005, id: 'amt000002', type: 'B2C' } }), 200, 'DP00900001004', /Invalid Amount/],
    ['a negative amount', JSON.stringify({ ...valid('amt000003'), transaction: { amount: -10, id: 'amt000003', type: 'B2C' } }), 200, 'DP00900001004', /Invalid Amount/],
    ['an amount past float precision', JSON.stringify({ ...valid('amt000004'), transaction: { amount: 1e21, id: 'amt000004', type: 'B2C' } }), 200, 'DP00900001004', /Invalid Amount/],
    ['a zero amount', JSON.stringify({ ...valid('amt000005'), transaction: { amount: 0, id: 'amt000005', type: 'B2C' } }), 200, 'DP00900001004', /Invalid Amount/],
    ['a UUID (hyphens) as transaction.id', JSON.stringify(valid('0b7f2a9e-4c1d-5e8f-9a0b-000000000099')), 400, null, /alphanumeric characters with length between 5 and 80/],
    ['an 81-character transaction.id', JSON.stringify(valid('a'.repeat(81))), 400, null, /alphanumeric characters with length between 5 and 80/],
    ['a 3-character reference', JSON.stringify({ ...valid('ref000001'), reference: 'abc' }), 200, 'DP00900001013', /reference must be alphanumeric/],
    ['an unknown transaction type', JSON.stringify({ ...valid('typ000001'), transaction: { amount: 10, id: 'typ000001', type: 'P2P' } }), 200, 'DP00900001013', /B2C or B2B/],
    ['a PIN that is not ciphertext', JSON.stringify({ ...valid('pin000001'), pin: '1234 <script>' }), 400, null, /PIN decryption failed/],
  ])('when the body is %s, then it is refused with a clear message and nothing runs', async (_what, text, status, code, message) => {
    const before = simulator.statement().length;
    const res = await answered(await post(text));
    expect(res.status).toBe(status);
    if (code) expect(res.body.status).toMatchObject({ response_code: code, success: false });
    expect(messageOf(res.body)).toMatch(message);
    expect(simulator.statement().length).toBe(before);
  });

  it('when the body tries to pollute prototypes, then nothing is polluted and the keys are ignored', async () => {
    const res = await answered(await post(`{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}},${JSON.stringify(valid('proto0001')).slice(1)}`));
    expect(res.status).toBe(200);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(simulator.executions('proto0001')).toBe(1);
  });

  it.each([
    ['an id of 81 characters', `/standard/v2/disbursements/${'a'.repeat(81)}?transactionType=B2C`, 400, /5 to 80 alphanumeric/],
    ['an id that climbs directories', '/standard/v2/disbursements/..%2F..%2Fetc?transactionType=B2C', 400, /5 to 80 alphanumeric/],
    ['no transactionType', `/standard/v2/disbursements/${txOf(1)}`, 400, /transactionType must be B2C or B2B/],
    ['an unknown transactionType', `/standard/v2/disbursements/${txOf(1)}?transactionType=ANY`, 400, /transactionType must be B2C or B2B/],
  ])('when an enquiry has %s, then it is refused with a clear message', async (_what, path, status, message) => {
    const res = await answered(await fetch(`${base}${path}`, { headers: headers() }), '/standard/v2/disbursements/{id}', 'get');
    expect(res.status).toBe(status);
    expect(messageOf(res.body)).toMatch(message);
  });

  it.each([
    ['wrong client credentials', 'invalid_client', JSON.stringify({ client_id: 'x', client_secret: 'y', grant_type: 'client_credentials' })],
    ['another grant type', 'unsupported_grant_type', JSON.stringify({ client_id: credentials.clientId, client_secret: credentials.clientSecret, grant_type: 'password' })],
    ['not JSON', 'invalid_request', 'client_id=x'],
    ['an array', 'invalid_request', '[]'],
  ])('when the token request has %s, then it is refused as OAuth says (%s)', async (_what, error, body) => {
    const res = await answered(await fetch(`${base}/auth/oauth2/token`, { method: 'POST', headers: { ...malformed, 'content-type': 'application/json' }, body }), '/auth/oauth2/token');
    expect(res.status).toBe(400);
    expect(res.body.error).toBe(error);
  });
});

describe('Airtel simulator control', () => {
  let controlRuns = 0;
  it.each([
    ['not an object', '"x"'],
    ['an unknown member', JSON.stringify({ rules: [], extra: 1 })],
    ['a bad pattern', JSON.stringify({ rules: [{ pattern: '(', fault: 'fail' }] })],
    ['an unknown fault', JSON.stringify({ rules: [{ pattern: '.', fault: 'explode' }] })],
    ['a fail rule with an ambiguous code', JSON.stringify({ rules: [{ pattern: '.', fault: 'fail', responseCode: 'DP00900001000' }] })],
    ['an ambiguous rule with a refusal code', JSON.stringify({ rules: [{ pattern: '.', fault: 'ambiguous-after-execution', responseCode: 'DP00900001007' }] })],
    ['a code on a fault that takes none', JSON.stringify({ rules: [{ pattern: '.', fault: 'lost-callback', responseCode: 'DP00900001005' }] })],
    ['an undocumented code', JSON.stringify({ rules: [{ pattern: '.', fault: 'fail', responseCode: 'DP00900001099' }] })],
    ['too many rules', JSON.stringify({ rules: Array.from({ length: 65 }, () => ({ pattern: '.', fault: 'lost-callback' })) })],
    ['a hold past the maximum', JSON.stringify({ rules: [{ pattern: '.', fault: 'timeout-after-execution', holdMs: 10_000_000 }] })],
    ['a negative latency', JSON.stringify({ latencyMs: -1 })],
    ['malformed JSON', '{"rules": ['],
  ])('when the control API gets %s, then 400 and the faults in force are unchanged', async (_what, body) => {
    expect((await setFaults({ rules: [{ pattern: '^977000099$', fault: 'fail', responseCode: 'DP00900001013' }] })).status).toBe(200);
    const res = await fetch(`${base}/__control/faults`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toBe('invalid faults');
    const n = 1000 + ++controlRuns;
    expect(await client().submit(request(n, '+260977000099'))).toEqual({ kind: 'failed', reason: 'declined', providerCode: 'airtel:DP00900001013' });
    simulator.setFaults({});
  });

  it('when executions are read by attempt key or by transaction.id, then both find the one execution', async () => {
    await client().submit(request(19));
    for (const id of [keyOf(19), txOf(19)]) expect(await (await fetch(`${base}/__control/executions/${id}`)).json()).toEqual({ transactionId: txOf(19), executions: 1 });
    expect(await (await fetch(`${base}/__control/executions/nothing123`)).json()).toEqual({ transactionId: 'nothing123', executions: 0 });
  });

  it('when the statement is read as JSON or CSV, then it lists the transactions with numbers masked to their last three digits', async () => {
    await simulator.drained();
    const json = (await (await fetch(`${base}/__control/statement?format=json`)).json()) as { transactionId: string; msisdn: string; status: string }[];
    const csv = await (await fetch(`${base}/__control/statement?format=csv`)).text();
    expect(json.find((l) => l.transactionId === txOf(1))).toMatchObject({ status: 'TS', msisdn: '******001' });
    // The statement, Format 1: six header lines, the column-header line, a line per transaction that ended (not the TIP ones) and per reversal.
    const lines = csv.split('\r\n').filter((l) => l.length > 0);
    expect(lines[6]).toBe('Transaction ID,Transaction Date,Description,Status,Transaction Amount,Credit/Debit,Fee,Balance');
    expect(lines).toHaveLength(json.filter((l) => l.status !== 'TIP').length + 7);
    const numbers = seen.map((s) => (s.body as { payee?: { msisdn?: string } } | undefined)?.payee?.msisdn).filter((n): n is string => typeof n === 'string');
    expect(numbers.length).toBeGreaterThan(0);
    for (const number of new Set(numbers)) {
      expect(JSON.stringify(json)).not.toContain(number);
      expect(csv).not.toContain(number);
    }
    expect((await fetch(`${base}/__control/statement?format=xml`)).status).toBe(400);
  });
});

describe('Airtel client settings', () => {
  it('when the settings cannot make a request, then the client refuses to start, naming each problem and no secret', () => {
    const bad = { baseUrl: 'ftp://x', clientId: 'id', clientSecret: 'very-secret-value', country: 'ZMB', currency: 'XYZ' as never, encryptedPin: '12 34', timeoutMs: 0 };
    expect(airtelSettingsProblems(bad)).toEqual([
      'baseUrl is not an http(s) URL',
      'country is not an ISO 3166-1 alpha-2 code',
      'currency is not a currency Tuma pays in',
      'encryptedPin is not base64 (encryptAirtelPin makes it)',
      'timeoutMs is not a positive integer',
    ]);
    expect(() => new AirtelClient(bad, logger)).toThrow(/^Airtel settings: baseUrl is not/);
    expect(() => new AirtelClient(bad, logger)).not.toThrow(/very-secret-value/);
    expect(airtelSettingsProblems(settings())).toEqual([]);
  });
});

describe('Airtel client against a misbehaving provider', () => {
  let stub: Server;
  let stubBase: string;
  let tokenFetches = 0;
  const posts: { id: string | undefined; authorization: string | undefined; raw: string }[] = [];
  let refuse = 0;
  let mode: 'ok' | 'huge' | 'garbage' | 'reset' = 'ok';

  beforeAll(async () => {
    const app = express();
    app.post('/auth/oauth2/token', express.json(), (_req, res) => res.json({ token_type: 'bearer', access_token: `t${++tokenFetches}`, expires_in: '180' }));
    app.post('/standard/v2/disbursements/', express.text({ type: () => true }), (req, res) => {
      const raw = req.body as string;
      const id = /"id":"([A-Za-z0-9]+)"/.exec(raw)?.[1];
      posts.push({ id, authorization: req.headers.authorization, raw });
      if (refuse-- > 0) return res.status(403).json({ error: 'invalid_token', error_description: 'The access token is invalid or has expired' });
      if (mode === 'huge') return res.type('application/json').send(`{"status":{"response_code":"DP00900001001","success":true,"message":"${'x'.repeat(100_000)}"}}`);
      if (mode === 'garbage') return res.type('application/json').send('<html>gateway</html>');
      if (mode === 'reset') return res.socket?.destroy();
      return res.json({ data: { transaction: { id, status: 'TS', airtel_money_id: 'MP1' } }, status: { response_code: 'DP00900001001', code: '200', success: true, message: 'ok' } });
    });
    app.get('/standard/v2/disbursements/:id', (_req, res) => res.status(403).json({ error: 'invalid_token' }));
    stub = app.listen(0, '127.0.0.1');
    await new Promise((r) => stub.once('listening', r));
    stubBase = `http://127.0.0.1:${(stub.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    stub.closeAllConnections();
    await new Promise((r) => stub.close(r));
  });

  beforeEach(() => {
    posts.length = 0;
    refuse = 0;
    mode = 'ok';
  });

  it('when expires_in comes as the string "180", then one token serves consecutive calls, and the amount goes on the wire as a JSON number written from its decimal text', async () => {
    const airtel = client({ baseUrl: stubBase });
    const fetchesBefore = tokenFetches;
    expect((await airtel.submit(request(200))).kind).toBe('paid');
    expect((await airtel.submit({ ...request(201), amountMinor: 1_000_000_000_000_000_01n })).kind).toBe('paid');
    expect(tokenFetches - fetchesBefore).toBe(1);
    expect(posts[0]!.raw).toContain('"transaction":{"amount":12.50,');
    expect(posts[1]!.raw).toContain('"amount":1000000000000000.01,');
  });

  it('when the token is refused twice, then exactly two requests went, both with the same transaction.id and different tokens, and the outcome is failed credentials_invalid', async () => {
    refuse = 5;
    expect(await client({ baseUrl: stubBase }).submit(request(202))).toEqual({ kind: 'failed', reason: 'credentials_invalid', providerCode: 'airtel:invalid_token' });
    expect(posts.map((p) => p.id)).toEqual([txOf(202), txOf(202)]);
    expect(posts[0]!.authorization).not.toBe(posts[1]!.authorization);
  });

  it('when the enquiry is refused invalid_token, then the outcome is unknown, never failed', async () => {
    expect(await client({ baseUrl: stubBase }).status(query(203))).toEqual({ kind: 'unknown', providerCode: 'airtel:invalid_token', detail: 'token refused: enquire again' });
  });

  it.each([
    ['larger than the bound', 'huge', 'HTTP 200 without a response code'],
    ['not JSON', 'garbage', 'HTTP 200 without a response code'],
  ] as const)('when the answer is %s, then it is not taken for a result and the outcome is unknown', async (_what, m, detail) => {
    mode = m;
    expect(await client({ baseUrl: stubBase }).submit(request(204))).toEqual({ kind: 'unknown', providerCode: null, detail });
  });

  it('when the connection is reset or nobody listens, then the outcome is unknown, never a throw', async () => {
    mode = 'reset';
    expect(await client({ baseUrl: stubBase }).submit(request(205))).toMatchObject({ kind: 'unknown', providerCode: null, detail: expect.stringMatching(/^no answer: /) });
    expect(await client({ baseUrl: 'http://127.0.0.1:9' }).submit(request(206))).toMatchObject({ kind: 'unknown', providerCode: null });
    expect(await client({ baseUrl: 'http://127.0.0.1:9' }).status(query(206))).toMatchObject({ kind: 'unknown', providerCode: null });
  });
});

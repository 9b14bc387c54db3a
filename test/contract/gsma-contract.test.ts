// The GSMA adapter and simulator against the GSMA MM API v1.2 contract (contracts/providers/
// gsma-mmapi-v1.2.openapi.yaml): every request the client sends is one the contract accepts,
// every answer and callback the simulator sends is one the contract describes; and the recovery
// paths (request state, /responses) find a payment by its X-CorrelationID without paying twice.
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { randomUUID } from 'node:crypto';
import express from 'express';
import { pino } from 'pino';
import { GsmaClient, type GsmaSettings } from '../../src/adapters/providers/gsma/gsma-client.js';
import { gsmaAmountPattern, mapCallback, parseCallback, parseGsmaAmount, readErrorObject } from '../../src/adapters/providers/gsma/mapping.js';
import type { CurrencyCode } from '../../src/domain/currency.js';
import { createGsmaSimulator, type GsmaSimulator } from '../../src/simulator/gsma-simulator.js';
import { net } from '../support/net.js';
import { loadContract } from '../support/openapi.js';
import { clearKenyanNumber } from '../support/privacy.js';

const { until } = net;

const contract = loadContract('providers/gsma-mmapi-v1.2.openapi.yaml');
const logger = pino({ level: 'silent' });
const credentials = { consumerKey: 'ck', consumerSecret: 'cs', apiKey: 'api-key-1' };
const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

interface Seen {
  readonly method: string;
  readonly path: string;
  readonly headers: Record<string, unknown>;
  readonly body: unknown;
}

let server: Server;
let simulator: GsmaSimulator;
let syncSimulator: GsmaSimulator;
let base: string;
const requests: Seen[] = [];
const answers: { method: string; path: string; status: number; body: unknown }[] = [];
const callbacks: Seen[] = [];

beforeAll(async () => {
  simulator = createGsmaSimulator({ ...credentials, callbackDelayMs: 5, logger });
  syncSimulator = createGsmaSimulator({ ...credentials, callbackDelayMs: 5, logger, mode: 'sync' });
  const app = express();
  app.use(express.json({ limit: '64kb' }));
  app.use(express.urlencoded({ extended: false, limit: '4kb' }));
  app.use((req, res, next) => {
    if (req.path.startsWith('/cb/') || req.path.startsWith('/__control')) return next();
    const path = req.path.replace(/^\/sync/, '');
    requests.push({ method: req.method, path, headers: req.headers, body: req.body });
    const json = res.json.bind(res);
    res.json = (body: unknown) => {
      answers.push({ method: req.method, path, status: res.statusCode, body });
      return json(body);
    };
    next();
  });
  app.use('/sync', syncSimulator.router);
  app.use(simulator.router);
  app.use('/__control', simulator.controlRouter);
  app.put('/cb/*rest', (req, res) => {
    callbacks.push({ method: req.method, path: req.path, headers: req.headers, body: req.body });
    res.status(204).end();
  });
  server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  simulator.close();
  syncSimulator.close();
  await new Promise((r) => server.close(r));
});

const settings = (over: Partial<GsmaSettings> = {}): GsmaSettings => ({ baseUrl: base, ...credentials, debitParty: [{ key: 'walletid', value: '1' }], timeoutMs: 800, ...over });
const client = (over: Partial<GsmaSettings> = {}) => new GsmaClient(settings(over), logger);
const payout = (n: number, msisdn: string, key = randomUUID()) => ({ payoutId: `p-${n}`, idempotencyKey: key, msisdn, amountMinor: 1_500_00n, currency: 'KES' as CurrencyCode, callbackUrl: `${base}/cb/tok-${n}` });
const statusOf = (p: ReturnType<typeof payout>, providerReference: string | null = null) => ({ payoutId: p.payoutId, idempotencyKey: p.idempotencyKey, providerReference, currency: p.currency, callbackUrl: p.callbackUrl });

/** Every request and answer seen so far is one the contract describes. */
function expectAllInContract(): void {
  // Requests the test crafts by hand (to see the simulator refuse them) are not the client's.
  for (const r of requests.filter((q) => q.headers['x-test-raw'] === undefined)) {
    const template = contract.templateOf(r.path);
    expect({ path: r.path, template }).toEqual({ path: r.path, template: expect.any(String) });
    if (r.method === 'POST' && template === '/oauth/accesstoken') expect(contract.requestProblems('post', template, r.body, 'application/x-www-form-urlencoded')).toEqual([]);
    if (r.method === 'POST' && template === '/transactions/type/disbursement') {
      expect(contract.requestProblems('post', template, r.body)).toEqual([]);
      expect(String(r.headers['x-correlationid'])).toMatch(uuid);
      expect(r.headers['x-api-key']).toBe(credentials.apiKey);
      expect(String(r.headers.authorization)).toMatch(/^Bearer .+/);
    }
  }
  for (const a of answers) {
    const template = contract.templateOf(a.path)!;
    expect({ path: a.path, status: a.status, problems: contract.responseProblems(a.method, template, a.status, a.body) }).toEqual({ path: a.path, status: a.status, problems: [] });
  }
  for (const c of callbacks) {
    expect(contract.schemaProblems('CallbackBody', c.body)).toEqual([]);
    expect(String(c.headers['x-correlationid'])).toMatch(uuid);
  }
}

describe('GSMA MM API v1.2 contract', () => {
  afterEach(() => {
    simulator.setFaults({});
    expectAllInContract();
  });

  it('when a disbursement is sent, then it is pending, the callback says paid, and the status by request state and by /responses says paid', async () => {
    const p = payout(1, '+254712345601');
    const submitted = await client().submit(p);
    expect(submitted).toEqual({ kind: 'pending', providerReference: expect.stringMatching(uuid) });
    const cb = await until(() => callbacks.find((c) => c.path === '/cb/tok-1'));
    expect(cb.headers['x-correlationid']).toBe(p.idempotencyKey);
    const mapped = mapCallback(cb.body, String(cb.headers['x-correlationid']));
    expect(mapped?.outcome).toMatchObject({ kind: 'paid', providerReference: expect.stringMatching(uuid) });
    const reference = mapped?.outcome.kind === 'paid' ? mapped.outcome.providerReference : null;

    const serverCorrelationId = submitted.kind === 'pending' ? submitted.providerReference : null;
    expect(await client().status(statusOf(p, serverCorrelationId))).toMatchObject({ kind: 'paid', providerReference: reference });
    expect(await client().status(statusOf(p))).toMatchObject({ kind: 'paid', providerReference: reference });
    expect(requests.some((r) => r.path.startsWith('/requeststates/'))).toBe(true);
    expect(requests.some((r) => r.path === `/responses/${p.idempotencyKey}`)).toBe(true);
    expect(simulator.executions(p.idempotencyKey)).toBe(1);
  });

  it('when the same X-CorrelationID is sent again, then the duplicate answer reads "exists: query" and the disbursement ran once', async () => {
    const p = payout(2, '+254712345602');
    expect((await client().submit(p)).kind).toBe('pending');
    expect(await client().submit(p)).toEqual({ kind: 'unknown', providerCode: 'gsma:duplicateRequest', detail: 'exists: query' });
    expect(answers.some((a) => a.status === 400 && (a.body as { errorCode?: string }).errorCode === 'duplicateRequest')).toBe(true);
    expect(simulator.executions(p.idempotencyKey)).toBe(1);
  });

  it('when the answer is held past the client timeout after the disbursement was created, then it is unknown, /responses finds it paid, and it ran once', async () => {
    simulator.setFaults({ rules: [{ pattern: '^\\+254712345603$', fault: 'timeout-after-create', holdMs: 2_000 }] });
    const p = payout(3, '+254712345603');
    expect(await client().submit(p)).toMatchObject({ kind: 'unknown', providerCode: null });
    expect(simulator.executions(p.idempotencyKey)).toBe(1);
    await until(() => callbacks.find((c) => c.path === '/cb/tok-3'));
    expect(await client().status(statusOf(p))).toMatchObject({ kind: 'paid' });
    expect(simulator.executions(p.idempotencyKey)).toBe(1);
  });

  it('when a disbursement fails at the provider, then the callback and the request state say failed with the mapped reason', async () => {
    simulator.setFaults({ rules: [{ pattern: '^\\+2547123456(0[4-9])$', fault: 'fail', errorCode: 'maxBalanceExceeded' }] });
    const p = payout(4, '+254712345604');
    const submitted = await client().submit(p);
    expect(submitted.kind).toBe('pending');
    const cb = await until(() => callbacks.find((c) => c.path === '/cb/tok-4'));
    expect(parseCallback(Buffer.from(JSON.stringify(cb.body)), p.idempotencyKey)).toMatchObject({ outcome: 'failed', reasonCode: 'payee_limit_exceeded:gsma:maxBalanceExceeded' });
    const serverCorrelationId = submitted.kind === 'pending' ? submitted.providerReference : null;
    expect(await client().status(statusOf(p, serverCorrelationId))).toEqual({ kind: 'failed', reason: 'payee_limit_exceeded', providerCode: 'gsma:maxBalanceExceeded' });
    expect(simulator.statement().find((l) => l.correlationId === p.idempotencyKey)).toMatchObject({ status: 'failed', msisdn: '**********604' });
  });

  it('when our float is short, then the outcome is insufficient_float', async () => {
    simulator.setFaults({ rules: [{ pattern: '605$', fault: 'insufficient-float' }] });
    const p = payout(5, '+254712345605');
    const submitted = await client().submit(p);
    await until(() => callbacks.find((c) => c.path === '/cb/tok-5'));
    expect(await client().status(statusOf(p, submitted.kind === 'pending' ? submitted.providerReference : null))).toMatchObject({ kind: 'failed', reason: 'insufficient_float' });
  });

  it('when the provider answers 503 after creating it, then it is unknown and the status finds it paid, run once', async () => {
    simulator.setFaults({ rules: [{ pattern: '606$', fault: 'error-503-after-create' }] });
    const p = payout(6, '+254712345606');
    expect(await client().submit(p)).toEqual({ kind: 'unknown', providerCode: 'gsma:genericError', detail: 'HTTP 503' });
    await until(() => callbacks.find((c) => c.path === '/cb/tok-6'));
    expect(await client().status(statusOf(p))).toMatchObject({ kind: 'paid' });
    expect(simulator.executions(p.idempotencyKey)).toBe(1);
  });

  it('when callbacks are duplicated or a stale pending update follows the final one, then dedupe keys match and the stale one is never final', async () => {
    simulator.setFaults({ rules: [{ pattern: '607$', fault: 'duplicate-callback' }, { pattern: '608$', fault: 'out-of-order-callback' }] });
    const dup = payout(7, '+254712345607');
    const ooo = payout(8, '+254712345608');
    await client().submit(dup);
    await client().submit(ooo);
    const dups = await until(() => { const seen = callbacks.filter((c) => c.path === '/cb/tok-7'); return seen.length === 2 ? seen : undefined; });
    expect(mapCallback(dups[0]!.body, dup.idempotencyKey)?.dedupeKey).toBe(mapCallback(dups[1]!.body, dup.idempotencyKey)?.dedupeKey);
    const both = await until(() => { const seen = callbacks.filter((c) => c.path === '/cb/tok-8'); return seen.length === 2 ? seen : undefined; });
    expect(parseCallback(Buffer.from(JSON.stringify(both[0]!.body)), ooo.idempotencyKey)?.outcome).toBe('paid');
    expect(parseCallback(Buffer.from(JSON.stringify(both[1]!.body)), ooo.idempotencyKey)?.outcome).toBe('ambiguous');
  });

  it('when the callback is lost or never comes, then the status still tells: paid, or pending forever', async () => {
    simulator.setFaults({ rules: [{ pattern: '609$', fault: 'lost-callback' }, { pattern: '610$', fault: 'pending-forever' }] });
    const lost = payout(9, '+254712345609');
    const stuck = payout(10, '+254712345610');
    const lostSubmitted = await client().submit(lost);
    const stuckSubmitted = await client().submit(stuck);
    await simulator.drained();
    expect(callbacks.some((c) => c.path === '/cb/tok-9' || c.path === '/cb/tok-10')).toBe(false);
    expect(await client().status(statusOf(lost, lostSubmitted.kind === 'pending' ? lostSubmitted.providerReference : null))).toMatchObject({ kind: 'paid' });
    expect(await client().status(statusOf(stuck, stuckSubmitted.kind === 'pending' ? stuckSubmitted.providerReference : null))).toMatchObject({ kind: 'pending' });
  });

  it('when the status of a key the provider never saw is asked, then it is absent ("not created": resend under the same key), never failed', async () => {
    expect(await client().status(statusOf(payout(11, '+254712345611')))).toEqual({ kind: 'absent', providerCode: 'gsma:responses:404', detail: 'not created: resend with the same X-CorrelationID' });
  });

  it('when our credentials are refused, then nothing is sent and the outcome is unknown', async () => {
    const p = payout(12, '+254712345612');
    expect((await client({ consumerSecret: 'wrong' }).submit(p)).kind).toBe('unknown');
    expect(simulator.executions(p.idempotencyKey)).toBe(0);
  });

  it('when X-CorrelationID is missing or not a UUID, then the simulator answers a validation error object and runs nothing', async () => {
    const token = (await (await fetch(`${base}/oauth/accesstoken`, {
      method: 'POST', headers: { 'x-test-raw': '1', authorization: `Basic ${Buffer.from('ck:cs').toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials',
    })).json()) as { access_token: string };
    const post = (correlationId?: string) => fetch(`${base}/transactions/type/disbursement`, {
      method: 'POST',
      headers: { 'x-test-raw': '1', authorization: `Bearer ${token.access_token}`, 'x-api-key': credentials.apiKey, 'content-type': 'application/json', ...(correlationId ? { 'x-correlationid': correlationId } : {}) },
      body: JSON.stringify({ amount: '1', currency: 'KES', creditParty: [{ key: 'msisdn', value: '+254712345613' }], debitParty: [{ key: 'walletid', value: '1' }] }),
    });
    const bad = await post('not-a-uuid');
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ errorCategory: 'validation', errorCode: 'formatError' });
    expect((await post()).status).toBe(400);
    expect(simulator.statement().some((l) => l.msisdn.endsWith('613'))).toBe(false);
  });

  it('when a rule makes the provider report another amount, currency, msisdn, a fee and a transactionReference reused on two payouts, then the callbacks and the status say so, in the contract, while what ran and the statement keep the truth', async () => {
    simulator.setFaults({ rules: [{ pattern: '6(20|21)$', reportAmount: '1499.99', reportCurrency: 'UGX', reportReceiver: '254799999999', reportReceipt: 'REUSED-REF-1', fee: '12.5' }] });
    const sent = [payout(20, '+254712345620'), payout(21, '+254712345621')];
    for (const p of sent) expect((await client().submit(p)).kind).toBe('pending');
    for (const [i, p] of sent.entries()) {
      const cb = await until(() => callbacks.find((c) => c.path === `/cb/tok-${20 + i}`));
      expect(cb.body).toMatchObject({ transactionReference: 'REUSED-REF-1', amount: '1499.99', currency: 'UGX', creditParty: [{ key: 'msisdn', value: '+254799999999' }], fees: [{ feeType: 'serviceFee', feeAmount: '12.5', feeCurrency: 'UGX' }] });
      expect(parseCallback(Buffer.from(JSON.stringify(cb.body)), p.idempotencyKey)).toMatchObject({ outcome: 'paid', providerReference: 'REUSED-REF-1', facts: { amount: '1499.99', currency: 'UGX', receiver: '+254799999999', fee: '12.5' } });
      // The status finds the payout by its own lookups and reads what the provider reports.
      expect(await client().status(statusOf(p))).toMatchObject({ kind: 'paid', providerReference: 'REUSED-REF-1' });
      expect(simulator.executions(p.idempotencyKey)).toBe(1);
    }
    const lines = simulator.statement().filter((l) => sent.some((p) => p.idempotencyKey === l.correlationId));
    expect(lines.map((l) => [l.amount, l.currency, l.msisdn, l.status])).toEqual([['1500.00', 'KES', '**********620', 'completed'], ['1500.00', 'KES', '**********621', 'completed']]);
    expect(new Set(lines.map((l) => l.transactionReference)).size).toBe(2);
    expect(lines.some((l) => l.transactionReference === 'REUSED-REF-1')).toBe(false);
  });

  it.each([
    // exponent 0
    ['RWF', 200n, '200'],
    ['RWF', 1_500_000n, '1500000'],
    // exponent 2: whole, one significant decimal, two, and the smallest unit
    ['KES', 5_000n, '50'],
    ['KES', 5_050n, '50.5'],
    ['KES', 5_055n, '50.55'],
    ['KES', 5n, '0.05'],
    ['KES', 10n, '0.1'],
    // exponent 3
    ['JOD', 1_000n, '1'],
    ['JOD', 1_500n, '1.5'],
    ['JOD', 1_230n, '1.23'],
    ['JOD', 1_234n, '1.234'],
    ['JOD', 1n, '0.001'],
  ] as const)('when %s %p minor units are disbursed, then the request carries "%s" in the specification\'s form, the provider takes it, and its callback, transaction and statement read back the same minor units', async (currency, minor, text) => {
    const n = 300 + Number(minor % 97n) + currency.charCodeAt(0);
    const p = { ...payout(n, `+2547123${String(n).padStart(5, '0')}`), amountMinor: minor, currency: currency as CurrencyCode, callbackUrl: `${base}/cb/amt-${currency}-${minor}` };
    const submitted = await client().submit(p);
    expect(submitted.kind).toBe('pending');
    const sent = requests.filter((r) => r.method === 'POST' && r.headers['x-correlationid'] === p.idempotencyKey);
    expect(sent.map((r) => (r.body as { amount: string }).amount)).toEqual([text]);
    expect(text).toMatch(gsmaAmountPattern);
    const cb = await until(() => callbacks.find((c) => c.path === `/cb/amt-${currency}-${minor}`));
    expect((cb.body as { amount: string }).amount).toBe(text);
    expect(parseGsmaAmount((cb.body as { amount: string }).amount, currency)).toBe(minor);
    expect(await client().status(statusOf(p, submitted.kind === 'pending' ? submitted.providerReference : null))).toMatchObject({ kind: 'paid' });
    expect(simulator.executions(p.idempotencyKey)).toBe(1);
  });

  it.each([
    ['a padded amount', '1.00', 'KES', 'formatError'],
    ['a trailing zero', '1.50', 'KES', 'formatError'],
    ['a bare dot', '1.', 'KES', 'formatError'],
    ['a leading zero', '01', 'KES', 'formatError'],
    ['five decimals', '1.12345', 'KES', 'formatError'],
    ['more decimals than the currency has', '1.5', 'RWF', 'formatError'],
    ['three decimals in a two-decimal currency', '1.005', 'KES', 'formatError'],
    ['an exponent', '1e3', 'KES', 'formatError'],
    ['a negative amount', '-1', 'KES', 'negativeValue'],
    ['19 integer digits', '1'.repeat(19), 'RWF', 'formatError'],
    ['a JSON number', 1, 'KES', 'formatError'],
    ['zero', '0', 'KES', 'lessThanTransactionMinValue'],
    ['a currency that is not ISO 4217', '1', 'XYZ', 'currencyNotSupported'],
    ['a currency in lower case', '1', 'kes', 'formatError'],
  ])('when a request carries %s, then the strict simulator refuses it as the specification says and runs nothing', async (_what, amount, currency, code) => {
    const token = (await (await fetch(`${base}/oauth/accesstoken`, {
      method: 'POST', headers: { 'x-test-raw': '1', authorization: `Basic ${Buffer.from('ck:cs').toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials',
    })).json()) as { access_token: string };
    const key = randomUUID();
    const res = await fetch(`${base}/transactions/type/disbursement`, {
      method: 'POST',
      headers: { 'x-test-raw': '1', authorization: `Bearer ${token.access_token}`, 'x-api-key': credentials.apiKey, 'content-type': 'application/json', 'x-correlationid': key },
      body: JSON.stringify({ amount, currency, creditParty: [{ key: 'msisdn', value: '+254712345690' }], debitParty: [{ key: 'walletid', value: '1' }] }),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ errorCode: code });
    expect(simulator.executions(key)).toBe(0);
  });

  it('when GSMA amounts are read back, then the specification\'s form and the padded form give the same minor units exactly, and anything else gives none', () => {
    const cases: [unknown, CurrencyCode, bigint | null][] = [
      ['50', 'KES', 5_000n], ['50.00', 'KES', 5_000n], ['50.5', 'KES', 5_050n], ['50.50', 'KES', 5_050n], ['0.05', 'KES', 5n], ['0.050', 'KES', 5n],
      ['200', 'RWF', 200n], ['200.0', 'RWF', 200n], ['1.5', 'JOD', 1_500n], ['1.500', 'JOD', 1_500n], ['1.2340', 'JOD', 1_234n],
      ['50.555', 'KES', null], ['1.5', 'RWF', null], ['1.2345', 'JOD', null], ['050', 'KES', null], ['50.', 'KES', null], ['-50', 'KES', null],
      ['1e3', 'KES', null], [50, 'KES', null], ['0', 'KES', null], ['', 'KES', null], [' 50', 'KES', null], ['1'.repeat(19), 'RWF', null], [null, 'KES', null],
    ];
    for (const [text, currency, minor] of cases) expect({ text, currency, minor: parseGsmaAmount(text, currency) }).toEqual({ text, currency, minor });
  });

  it('when the simulator runs in sync mode, then 201 reads paid and a synchronous refusal reads failed', async () => {
    syncSimulator.setFaults({ rules: [{ pattern: '615$', fault: 'fail', errorCode: 'identifierError' }] });
    const sync = client({ baseUrl: `${base}/sync` });
    const ok = payout(14, '+254712345614');
    expect(await sync.submit(ok)).toMatchObject({ kind: 'paid', providerReference: expect.stringMatching(uuid) });
    expect(await sync.status(statusOf(ok))).toMatchObject({ kind: 'paid' });
    expect(await sync.submit(payout(15, '+254712345615'))).toEqual({ kind: 'failed', reason: 'payee_not_found', providerCode: 'gsma:identifierError' });
    expect(answers.some((a) => a.status === 201)).toBe(true);
  });
});

describe('GSMA simulator control', () => {
  let controlCase = 0;
  it.each([
    ['not an object', '"x"'],
    ['an unknown member', JSON.stringify({ rules: [], extra: 1 })],
    ['a bad pattern', JSON.stringify({ rules: [{ pattern: '(', fault: 'fail' }] })],
    ['an unknown fault', JSON.stringify({ rules: [{ pattern: '.', fault: 'explode' }] })],
    ['an undocumented error code', JSON.stringify({ rules: [{ pattern: '.', fault: 'fail', errorCode: 'bogus' }] })],
    ['too many rules', JSON.stringify({ rules: Array.from({ length: 65 }, () => ({ pattern: '.' })) })],
    ['a hold past the maximum', JSON.stringify({ rules: [{ pattern: '.', fault: 'timeout-after-create', holdMs: 10_000_000 }] })],
    ['malformed JSON', '{"rules": ['],
    ['a reported amount with five decimals', JSON.stringify({ rules: [{ pattern: '.', reportAmount: '1.00001' }] })],
    ['a reported amount as a number', JSON.stringify({ rules: [{ pattern: '.', reportAmount: 1 }] })],
    ['a negative fee', JSON.stringify({ rules: [{ pattern: '.', fee: '-1' }] })],
    ['a fee with a trailing zero (not a GSMA amount)', JSON.stringify({ rules: [{ pattern: '.', fee: '1.50' }] })],
    ['a reported amount with a trailing zero', JSON.stringify({ rules: [{ pattern: '.', reportAmount: '10.00' }] })],
    ['a fee of 19 integer digits', JSON.stringify({ rules: [{ pattern: '.', fee: '1'.repeat(19) }] })],
    ['a reported currency in lower case', JSON.stringify({ rules: [{ pattern: '.', reportCurrency: 'kes' }] })],
    ['a reported receiver with a plus', JSON.stringify({ rules: [{ pattern: '.', reportReceiver: '+254712345678' }] })],
    ['a reported receipt with a slash', JSON.stringify({ rules: [{ pattern: '.', reportReceipt: 'a/b' }] })],
    ['a reported receipt past the maximum', JSON.stringify({ rules: [{ pattern: '.', reportReceipt: 'r'.repeat(65) }] })],
  ])('when the control API gets %s, then 400 and the faults are unchanged', async (_what, body) => {
    simulator.setFaults({ rules: [{ pattern: '699$', fault: 'fail', errorCode: 'requestDeclined' }] });
    const res = await fetch(`${base}/__control/faults`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body });
    expect(res.status).toBe(400);
    const n = 100 + ++controlCase;
    // A key fixed by n (the case's place in the table): the spellings of its error description are the same on every run (see the last test).
    const p = payout(n, '+254712345699', `0b7f2a9e-4c1d-5e8f-9a0b-${n.toString(16).padStart(12, '0')}`);
    const submitted = await client().submit(p);
    await until(() => callbacks.find((c) => c.path === `/cb/tok-${n}`));
    expect(await client().status(statusOf(p, submitted.kind === 'pending' ? submitted.providerReference : null))).toMatchObject({ kind: 'failed', reason: 'declined' });
    simulator.setFaults({});
  });

  it('when the statement and executions are read, then numbers are masked to their last three digits and the CSV has its header', async () => {
    const executed = simulator.statement()[0]!;
    const res = await fetch(`${base}/__control/executions/${executed.correlationId}`);
    expect(await res.json()).toEqual({ correlationId: executed.correlationId, executions: 1 });
    const json = (await (await fetch(`${base}/__control/statement?format=json`)).json()) as { msisdn: string }[];
    expect(json.length).toBeGreaterThan(0);
    for (const line of json) expect(line.msisdn).toMatch(/^\*+\d{3}$/);
    const csv = await (await fetch(`${base}/__control/statement?format=csv`)).text();
    expect(csv.split('\n')[0]).toBe('transactionReference,correlationId,amount,currency,status,msisdn,completedAt');
    expect(csv).not.toMatch(clearKenyanNumber);
    expect((await fetch(`${base}/__control/statement?format=xml`)).status).toBe(400);
  });
});

describe('GSMA client against a misbehaving provider', () => {
  let stub: Server;
  let stubBase: string;
  const posts: { correlationId: unknown; authorization: unknown }[] = [];
  let refuseNext = 0;

  beforeAll(async () => {
    let tokenNo = 0;
    const app = express();
    app.post('/oauth/accesstoken', (_req, res) => res.json({ access_token: `t${++tokenNo}`, token_type: 'Bearer', expires_in: 3600 }));
    app.post('/transactions/type/disbursement', (req, res) => {
      posts.push({ correlationId: req.headers['x-correlationid'], authorization: req.headers.authorization });
      if (refuseNext-- > 0) return res.status(401).json({ errorCategory: 'authorisation', errorCode: 'clientAuthorisationError' });
      return res.status(202).json({ serverCorrelationId: randomUUID(), status: 'pending', notificationMethod: 'callback' });
    });
    app.get('/responses/:id', (_req, res) => res.type('application/json').send(`{"link":"${'x'.repeat(100_000)}"}`));
    stub = app.listen(0, '127.0.0.1');
    await new Promise((r) => stub.once('listening', r));
    stubBase = `http://127.0.0.1:${(stub.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise((r) => stub.close(r));
  });

  it('when our token is refused with 401, then the request is sent once more with a new token and the SAME X-CorrelationID', async () => {
    refuseNext = 1;
    const p = payout(200, '+254712345700');
    expect((await client({ baseUrl: stubBase }).submit(p)).kind).toBe('pending');
    expect(posts.map((x) => x.correlationId)).toEqual([p.idempotencyKey, p.idempotencyKey]);
    expect(posts[0]!.authorization).not.toBe(posts[1]!.authorization);
  });

  it('when the 401 persists after the retry, then the refusal is final (credentials), and only two requests were sent', async () => {
    posts.length = 0;
    refuseNext = 5;
    expect(await client({ baseUrl: stubBase }).submit(payout(201, '+254712345701'))).toEqual({ kind: 'failed', reason: 'credentials_invalid', providerCode: 'gsma:clientAuthorisationError' });
    expect(posts).toHaveLength(2);
    refuseNext = 0;
  });

  it('when an answer is larger than the bound, then it is not read and the outcome is unknown', async () => {
    expect(await client({ baseUrl: stubBase }).status(statusOf(payout(202, '+254712345702')))).toMatchObject({ kind: 'unknown', detail: 'responses link names no transaction' });
  });

  it('when the provider is not there at all, then the outcome is unknown, never a throw', async () => {
    expect((await client({ baseUrl: 'http://127.0.0.1:9' }).submit(payout(203, '+254712345703'))).kind).toBe('unknown');
  });
});

describe('GSMA simulator: both spellings of an error description', () => {
  it('when the disbursements of this file failed, then their ErrorObjects spelled the description both errorDescription and errordescription, every one in the contract and read the same', async () => {
    await simulator.drained();
    const errors = [
      ...callbacks.map((c) => c.body),
      ...answers.map((a) => (a.body as { error?: unknown }).error ?? a.body),
    ].filter((b): b is Record<string, unknown> => !!b && typeof b === 'object' && typeof (b as { errorCode?: unknown }).errorCode === 'string');
    for (const e of errors) expect(contract.schemaProblems('ErrorObject', e)).toEqual([]);
    const failedCallbacks = callbacks.filter((c) => typeof (c.body as { errorCode?: unknown }).errorCode === 'string');
    const spellings = (bodies: readonly unknown[]) => new Set(bodies.map((b) => ('errordescription' in (b as object) ? 'errordescription' : 'errorDescription' in (b as object) ? 'errorDescription' : 'none')));
    expect([...spellings(failedCallbacks.map((c) => c.body))].sort()).toEqual(['errorDescription', 'errordescription']);
    for (const c of failedCallbacks) {
      expect(readErrorObject(c.body)?.description).toBe('The disbursement failed.');
      expect(parseCallback(Buffer.from(JSON.stringify(c.body)), String(c.headers['x-correlationid']))?.outcome).toBe('failed');
    }
  });
});

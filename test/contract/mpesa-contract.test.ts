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
import { parseDayMonthYearTime, isColumnHeader, parseStatementHeader, splitCsvLine, statementAmountMinor } from '../../src/domain/reconciliation.js';
import { mpesaOrgPortalCsvV1 } from '../../src/domain/statement-formats.js';
import { deterministicDelayMs, failsAtErrorRate, groupedAmount } from '../../src/simulator/faults.js';
import { createMpesaSimulator, mpesaStatementPeriodMaxDays, statementPeriod, type MpesaFaults, type MpesaSimulator } from '../../src/simulator/mpesa-simulator.js';
import { net } from '../support/net.js';
import { loadContract } from '../support/openapi.js';
import { clearKenyanNumber } from '../support/privacy.js';

const { until } = net;

/** The simulator's CSV statement, read as the importer reads it: the header block, and each line's 13 cells by column title. */
async function portalStatement(query = ''): Promise<{ text: string; header: ReturnType<typeof parseStatementHeader>; headerLines: string[]; lines: Record<string, string>[] }> {
  const res = await fetch(`${base}/__control/statement?format=csv${query}`);
  expect({ status: res.status, type: res.headers.get('content-type') }).toEqual({ status: 200, type: expect.stringMatching(/^text\/csv/) });
  const text = await res.text();
  expect(text.endsWith('\r\n')).toBe(true);
  const all = text.slice(0, -2).split('\r\n');
  const at = all.findIndex((l) => isColumnHeader(mpesaOrgPortalCsvV1, l));
  expect(at).toBe(6);
  const titles = mpesaOrgPortalCsvV1.columns.map((c) => c.title);
  const lines = all.slice(at + 1).map((l) => {
    const cells = splitCsvLine(l);
    expect(cells).toHaveLength(titles.length);
    return Object.fromEntries(titles.map((t, i) => [t, cells![i]!]));
  });
  return { text, header: parseStatementHeader(mpesaOrgPortalCsvV1, all.slice(0, at), 'KES'), headerLines: all.slice(0, at), lines };
}
const minor = (amount: string | undefined): bigint => {
  const m = amount === '' || amount === undefined ? 0n : statementAmountMinor(amount, 'KES', ',');
  if (m === null) throw new Error(`not a statement amount: ${String(amount)}`);
  return m;
};

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

  it('when the statement is read as CSV, then it is the organisation portal export: its header block and 13 columns, one line per executed payment, the running balance, EAT times, no number in clear and never our OriginatorConversationID', async () => {
    const { text, header, headerLines, lines } = await portalStatement();
    const executed = simulator.statement();
    expect(executed.length).toBeGreaterThan(0);
    // The header block, as the portal writes it: label/value pairs, several on the last two lines.
    expect(headerLines.slice(0, 4)).toEqual(['Account Holder:,TUMA TEST ORGANISATION', 'Short Code:,600000', 'Account:,Utility Account', expect.stringMatching(/^Time Period:,From \d{2}-\d{2}-\d{4} \d{2}:\d{2}:\d{2} To \d{2}-\d{2}-\d{4} \d{2}:\d{2}:\d{2}$/)]);
    expect(headerLines[4]).toMatch(/^Operator:,tuma-simulator,Date of Report:,\d{2}-\d{2}-\d{4} \d{2}:\d{2}:\d{2}$/);
    expect(headerLines[5]).toMatch(/^Opening Balance:,"?[-0-9,.]+"?,Closing Balance:,"?[-0-9,.]+"?,Available Balance:,"?[-0-9,.]+"?,Total Paid In:,"?[0-9,.]+"?,Total Withdrawn:,"?[0-9,.]+"?$/);
    if (!header.ok) throw new Error(header.error.detail);
    expect(header.value.balances!.openingMinor).toBe(100_000_000_00n); // the fixed opening float at the simulator's start
    // One line per executed payment (and per reversal, none yet), each with its true receipt, amount and outcome.
    expect(lines.map((l) => [l['Receipt No.'], l['Transaction Status'], l.Withdrawn, l['Paid In']])).toEqual(
      executed.map((e) => [e.receipt, e.status, `-${groupedAmount(BigInt(e.amount.replace('.', '')), 2)}`, '']));
    // Running balance: a completed payment takes its amount, a failed one nothing; the header's totals add up.
    let balance = header.value.balances!.openingMinor;
    let withdrawn = 0n;
    for (const l of lines) {
      if (l['Transaction Status'] === 'Completed') {
        balance += minor(l.Withdrawn);
        withdrawn -= minor(l.Withdrawn);
      }
      expect({ receipt: l['Receipt No.'], balance: minor(l.Balance), confirmed: l['Balance Confirmed'] }).toEqual({ receipt: l['Receipt No.'], balance, confirmed: 'true' });
      expect(l['Reason Type']).toBe('Business Payment to Customer via API');
      expect(l.Details).toBe(`Business Payment to ${l['Other Party Info']}`);
      expect(l['Other Party Info']).toMatch(/^\*{9}\d{3} - TUMA TEST PAYEE$/);
      expect([l['Linked Transaction ID'], l['A/C No.']]).toEqual(['', '']);
      expect(l['Completion Time']).toBe(l['Initiation Time']);
    }
    expect([header.value.balances!.closingMinor, minor(header.value.fields.availableBalance!), minor(header.value.fields.totalWithdrawn!), minor(header.value.fields.totalPaidIn!)])
      .toEqual([balance, balance, withdrawn, 0n]);
    // Times: DD-MM-YYYY HH:MM:SS in East Africa Time, the payment's own second.
    for (const [i, e] of executed.entries()) {
      expect(parseDayMonthYearTime(lines[i]!['Completion Time']!, 180)?.getTime()).toBe(Math.floor(Date.parse(e.completedAt) / 1000) * 1000);
    }
    expect(text).not.toMatch(clearKenyanNumber);
    for (const e of executed) expect(text).not.toContain(e.originatorConversationId);
    expect(text).not.toContain('QAZ1234567'); // a reported receipt is a lie of the callbacks, never the statement's
    expect((await fetch(`${base}/__control/statement?format=xml`)).status).toBe(400);
  });

  it('when a statement is asked for a period, then it holds only that period\'s lines, opens with the balance before it, and refuses a bad or too long period or shortcode', async () => {
    const everything = await portalStatement();
    if (!everything.header.ok) throw new Error(everything.header.error.detail);
    const closing = everything.header.value.balances!.closingMinor;
    // A later hour with nothing in it: opening and closing are the balance left by everything before.
    const later = new Date(Math.ceil(Date.now() / 3_600_000) * 3_600_000 + 3_600_000);
    const empty = await portalStatement(`&from=${later.toISOString().replace('.000', '')}&to=${new Date(later.getTime() + 3_600_000).toISOString()}`);
    if (!empty.header.ok) throw new Error(empty.header.error.detail);
    expect([empty.lines.length, empty.header.value.balances!.openingMinor, empty.header.value.balances!.closingMinor]).toEqual([0, closing, closing]);
    expect([empty.header.value.period!.from, empty.header.value.period!.to]).toEqual([later, new Date(later.getTime() + 3_600_000)]);
    // A day given as a date is that day in East Africa Time, as the portal's days run.
    expect(statementPeriod('2026-05-01', '2026-06-01', new Date(0), new Date(0))).toEqual({ from: new Date('2026-04-30T21:00:00Z'), to: new Date('2026-05-31T21:00:00Z') });
    expect(statementPeriod(undefined, undefined, new Date('2026-05-01T00:00:00Z'), new Date('2026-05-02T10:00:00.400Z'))).toEqual({ from: new Date('2026-05-01T00:00:00Z'), to: new Date('2026-05-02T10:00:01Z') });
    for (const query of ['&from=yesterday', '&from=2026-02-30', '&from=2026-05-01T10:00:00.5Z', '&from=2026-05-01T10:00:00', '&from=2026-05-02&to=2026-05-01',
      `&from=2025-01-01&to=${new Date(Date.parse('2025-01-01T00:00:00+03:00') + (mpesaStatementPeriodMaxDays + 1) * 86_400_000).toISOString()}`, '&shortCode=12', '&from=2026-05-01&from=2026-05-02']) {
      const res = await fetch(`${base}/__control/statement?format=csv${query}`);
      expect({ query, status: res.status }).toEqual({ query, status: 400 });
    }
    const other = await portalStatement('&shortCode=600001');
    expect([other.lines.length, other.headerLines[1]]).toEqual([0, 'Short Code:,600001']);
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
    // On the portal's export: the payment, then the reversal with its own receipt, Paid In the amount, linked to the payment.
    const { text: csv, lines: portal } = await portalStatement();
    const payment = portal.find((l) => l['Receipt No.'] === lines[0]!.receipt)!;
    const reversal = portal.find((l) => l['Linked Transaction ID'] === lines[0]!.receipt)!;
    expect(payment).toMatchObject({ 'Transaction Status': 'Completed', 'Paid In': '', Withdrawn: '-250.00', 'Reason Type': 'Business Payment to Customer via API', 'Other Party Info': '*********007 - TUMA TEST PAYEE' });
    expect(reversal).toMatchObject({ 'Transaction Status': 'Completed', 'Paid In': '250.00', Withdrawn: '', Details: `Reversal of ${lines[0]!.receipt}`, 'Reason Type': 'Business Payment to Customer via API Reversal', 'Other Party Info': '*********007 - TUMA TEST PAYEE' });
    expect(reversal['Receipt No.']).toMatch(/^[A-Z0-9]{10}$/);
    expect(reversal['Receipt No.']).not.toBe(lines[0]!.receipt);
    expect(minor(reversal.Balance) - minor(portal[portal.indexOf(reversal) - 1]!.Balance)).toBe(250_00n);
    expect(csv).not.toContain('254701000007');
    expect(csv).not.toContain('rev-1');

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

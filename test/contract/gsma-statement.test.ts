// The GSMA simulator's Account Statement Entries API (GET /accounts/{identifierType}/{identifier}/
// statemententries: newest first, limit/offset paging, X-Records-Available-Count and
// X-Records-Returned-Count, the creationDate and status filters, refusals in GSMA's error shape),
// and the pull client (adapters/providers/gsma/gsma-statement.ts) that writes a closed window's
// entries as the entries CSV gsma-statemententries@1 maps, page by page, refusing a window that
// has not ended, a count that changes while it reads, and more pages than it may read.
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import type { Readable } from 'node:stream';
import express from 'express';
import { pino } from 'pino';
import { GsmaClient, type GsmaSettings } from '../../src/adapters/providers/gsma/gsma-client.js';
import { GsmaStatementError, pullStatementEntries } from '../../src/adapters/providers/gsma/gsma-statement.js';
import { isColumnHeader } from '../../src/domain/reconciliation.js';
import { gsmaStatementEntriesV1 as format } from '../../src/domain/statement-formats.js';
import { createGsmaSimulator, type GsmaSimulator } from '../../src/simulator/gsma-simulator.js';
import { net } from '../support/net.js';
import { expectLinesOfFormat, kindOf, splitStatement } from '../support/statement-checks.js';

const { until } = net;
const logger = pino({ level: 'silent' });
const credentials = { consumerKey: 'ck', consumerSecret: 'cs', apiKey: 'api-key-1' };
const account = { identifierType: 'walletid', identifier: '1', currency: 'SLE' };
const gsmaAmount = /^(0|[1-9][0-9]{0,17})(\.[0-9]{1,4})?$/;

interface Entry {
  readonly transactionReference: string;
  readonly transactionStatus: string;
  readonly amount: string;
  readonly currency: string;
  readonly creationDate: string;
  readonly modificationDate: string;
  readonly requestDate: string;
  readonly descriptionText: string;
  readonly creditParty: { key: string; value: string }[];
  readonly debitParty: { key: string; value: string }[];
  readonly transactionReceipt?: string;
  readonly type?: string;
  readonly displayType?: string;
  readonly originalTransactionReference?: string;
}

let server: Server;
let simulator: GsmaSimulator;
let slow: GsmaSimulator;
let base: string;
/** The statement entries requests seen (path and query), in order. */
const pages: { path: string; query: Record<string, unknown> }[] = [];
/** When set, a statement entries request past the first page waits for it. */
let holdLaterPages: (() => Promise<void>) | null = null;

beforeAll(async () => {
  simulator = createGsmaSimulator({ ...credentials, callbackDelayMs: 5, logger, accounts: [{ key: 'walletid', value: '9' }] });
  // Its disbursements complete 2.5 s after they are created (the count-change test).
  slow = createGsmaSimulator({ ...credentials, callbackDelayMs: 2_500, logger });
  const app = express();
  app.use(async (req, _res, next) => {
    if (!req.path.endsWith('/statemententries')) return next();
    pages.push({ path: req.path, query: { ...req.query } });
    if (holdLaterPages && Number(req.query.offset ?? 0) > 0) await holdLaterPages();
    return next();
  });
  app.put('/cb/*rest', (_req, res) => res.status(204).end());
  app.use('/slow', slow.router);
  app.use(simulator.router);
  server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  simulator.close();
  slow.close();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

const settings = (over: Partial<GsmaSettings> = {}): GsmaSettings => ({ baseUrl: base, ...credentials, debitParty: [{ key: 'walletid', value: '1' }], timeoutMs: 5_000, ...over });
const keyOf = (n: number) => `3e9a1c7d-2b4f-5a6e-9c8d-${n.toString(16).padStart(12, '0')}`;
const msisdnOf = (n: number) => `+2327600${String(n).padStart(4, '0')}`;
const payout = (n: number) => ({ payoutId: `p-${n}`, idempotencyKey: keyOf(n), msisdn: msisdnOf(n), amountMinor: BigInt(100_000 + n * 101), currency: 'SLE' as const, callbackUrl: `${base}/cb/tok-${n}` });
const second = (at: number) => Math.floor(at / 1000) * 1000;
const afterSecond = async (at: number) => new Promise((r) => setTimeout(r, Math.max(0, at - Date.now() + 5)));
const utc = (at: number | string) => new Date(at).toISOString().slice(0, 19).replace('T', ' ');

let token = '';
async function bearer(): Promise<string> {
  if (token) return token;
  const res = await fetch(`${base}/oauth/accesstoken`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from('ck:cs').toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials',
  });
  token = ((await res.json()) as { access_token: string }).access_token;
  return token;
}
async function entries(query: Record<string, string> = {}, path = '/accounts/walletid/1/statemententries') {
  const res = await fetch(`${base}${path}?${new URLSearchParams(query).toString()}`, { headers: { authorization: `Bearer ${await bearer()}`, 'x-api-key': credentials.apiKey } });
  return { status: res.status, available: res.headers.get('x-records-available-count'), returned: res.headers.get('x-records-returned-count'), body: (await res.json()) as unknown };
}
async function readAll(stream: Readable): Promise<string> {
  let text = '';
  for await (const chunk of stream) text += (chunk as Buffer).toString('utf8');
  return text;
}

/** 118 disbursements from walletid 1: 5, 50 and 100 fail, 10 and 60 are reversed: 120 entries. */
const failing = [5, 50, 100];
const reversed = [10, 60];
let window = { from: new Date(0), to: new Date(0) };
/** Three disbursements on the slow simulator, sent first so that they complete while the rest runs. */
let slowFrom = 0;
let slowFirst: Promise<unknown> = Promise.resolve();

beforeAll(async () => {
  slowFrom = second(Date.now());
  const slowClient = new GsmaClient(settings({ baseUrl: `${base}/slow` }), logger);
  slowFirst = Promise.all([201, 202, 203].map((n) => slowClient.submit(payout(n))));
  simulator.setFaults({
    rules: [
      { pattern: `^\\+2327600(${failing.map((n) => String(n).padStart(4, '0')).join('|')})$`, fault: 'fail', errorCode: 'insufficientFunds' },
      { pattern: `^\\+2327600(${reversed.map((n) => String(n).padStart(4, '0')).join('|')})$`, fault: 'reverse-after-success', delayMs: 0 },
    ],
  });
  const from = second(Date.now());
  const client = new GsmaClient(settings(), logger);
  for (let n = 1; n <= 118; n += 1) expect((await client.submit(payout(n))).kind).toBe('pending');
  await simulator.drained();
  const to = second(Date.now()) + 1000;
  await afterSecond(to);
  window = { from: new Date(from), to: new Date(to) };
});

describe('GSMA simulator: Account Statement Entries API', () => {
  it('when the entries are asked without a token or for an account the provider does not hold, then the answer is the GSMA error (401, 404 identifierError); a configured account without entries has none', async () => {
    const anonymous = await fetch(`${base}/accounts/walletid/1/statemententries`);
    expect(anonymous.status).toBe(401);
    expect(await anonymous.json()).toMatchObject({ errorCategory: 'authorisation', errorCode: 'clientAuthorisationError' });
    const unknown = await entries({}, '/accounts/walletid/2/statemententries');
    expect(unknown.status).toBe(404);
    expect(unknown.body).toMatchObject({ errorCategory: 'identification', errorCode: 'identifierError', errorDateTime: expect.any(String) });
    expect(await entries({}, '/accounts/walletid/9/statemententries')).toEqual({ status: 200, available: '0', returned: '0', body: [] });
  });

  it('when the entries are asked without a limit, then 50 come, the newest first, with the counts in X-Records-Available-Count and X-Records-Returned-Count', async () => {
    const first = await entries();
    expect(first).toMatchObject({ status: 200, available: '120', returned: '50' });
    const list = first.body as Entry[];
    expect(list).toHaveLength(50);
    for (let i = 1; i < list.length; i += 1) expect(Date.parse(list[i]!.creationDate)).toBeLessThanOrEqual(Date.parse(list[i - 1]!.creationDate));
  });

  it('when the entries are paged by limit and offset, then the pages are the whole list in order, each with the same available count', async () => {
    const whole = await entries({ limit: '1000' });
    expect(whole).toMatchObject({ available: '120', returned: '120' });
    const paged: Entry[] = [];
    for (const offset of [0, 50, 100, 150]) {
      const page = await entries({ limit: '50', offset: String(offset) });
      expect(page.available).toBe('120');
      expect(page.returned).toBe(String((page.body as Entry[]).length));
      paged.push(...(page.body as Entry[]));
    }
    expect(paged).toEqual(whole.body);
    const refs = paged.map((e) => e.transactionReference);
    expect(new Set(refs).size).toBe(120);
  });

  it('when an entry is read, then it has the Account Statement Entry fields, the payee only as a masked msisdn, and a reversal names the entry it reverses', async () => {
    const list = (await entries({ limit: '1000' })).body as Entry[];
    const ours = [{ key: 'walletid', value: '1' }];
    for (const e of list) {
      expect(e).toMatchObject({ transactionReference: expect.any(String), currency: 'SLE', descriptionText: expect.any(String) });
      expect(e.amount).toMatch(gsmaAmount);
      expect(['completed', 'failed']).toContain(e.transactionStatus);
      for (const field of ['creationDate', 'modificationDate', 'requestDate'] as const) expect(Number.isFinite(Date.parse(e[field]))).toBe(true);
      expect(e.transactionStatus === 'completed').toBe(e.transactionReceipt !== undefined);
      const payee = e.type === 'reversal' ? e.debitParty : e.creditParty;
      expect(payee).toEqual([{ key: 'msisdn', value: expect.stringMatching(/^\*{9}[0-9]{3}$/) }]);
      expect(e.type === 'reversal' ? e.creditParty : e.debitParty).toEqual(ours);
    }
    const reversals = list.filter((e) => e.type === 'reversal');
    expect(reversals).toHaveLength(2);
    for (const r of reversals) {
      expect(r).toMatchObject({ displayType: 'reversal', transactionStatus: 'completed' });
      const original = list.find((e) => e.transactionReference === r.originalTransactionReference)!;
      expect(original).toMatchObject({ type: 'disbursement', transactionStatus: 'completed', amount: r.amount });
      expect(Date.parse(r.creationDate)).toBeGreaterThanOrEqual(Date.parse(original.creationDate));
    }
    expect(list.filter((e) => e.transactionStatus === 'failed')).toHaveLength(3);
    const json = JSON.stringify(list);
    for (let n = 1; n <= 118; n += 1) expect(json).not.toContain(msisdnOf(n).slice(4));
  });

  it('when the entries are filtered by creationDate and transactionStatus, then only those match, and the available count is theirs', async () => {
    const list = (await entries({ limit: '1000' })).body as Entry[];
    const [newest, oldest] = [list[30]!.creationDate, list[89]!.creationDate];
    const between = list.filter((e) => Date.parse(e.creationDate) >= Date.parse(oldest) && Date.parse(e.creationDate) <= Date.parse(newest));
    const filtered = await entries({ limit: '1000', fromDateTime: oldest, toDateTime: newest });
    expect(filtered.body).toEqual(between);
    expect(filtered.available).toBe(String(between.length));
    const failed = await entries({ transactionStatus: 'failed' });
    expect(failed).toMatchObject({ available: '3', returned: '3' });
    expect((failed.body as Entry[]).map((e) => e.transactionStatus)).toEqual(['failed', 'failed', 'failed']);
    const after = await entries({ fromDateTime: new Date(window.to.getTime() + 60_000).toISOString() });
    expect(after).toEqual({ status: 200, available: '0', returned: '0', body: [] });
  });

  it.each([
    ['a limit above 1000', { limit: '1001' }, 'formatError', 'limit'],
    ['a limit of 0', { limit: '0' }, 'formatError', 'limit'],
    ['a limit that is not a number', { limit: 'ten' }, 'formatError', 'limit'],
    ['a negative offset', { offset: '-1' }, 'invalidOffset', 'offset'],
    ['a fromDateTime that is not a date-time', { fromDateTime: 'yesterday' }, 'formatError', 'fromDateTime'],
    ['a toDateTime without a zone', { toDateTime: '2026-03-01T00:00:00' }, 'formatError', 'toDateTime'],
  ])('when the entries are asked with %s (%j), then the answer is 400 validation %s', async (_what, query, code, field) => {
    const answer = await entries(query);
    expect(answer.status).toBe(400);
    expect(answer.body).toMatchObject({ errorCategory: 'validation', errorCode: code, errorDateTime: expect.any(String), errorParameters: [{ key: field, value: expect.any(String) }] });
    const body = answer.body as Record<string, unknown>;
    expect(typeof (body.errorDescription ?? body.errordescription)).toBe('string');
  });

  it('when a query parameter is given twice, then the answer is 400 formatError', async () => {
    const res = await fetch(`${base}/accounts/walletid/1/statemententries?limit=10&limit=20`, { headers: { authorization: `Bearer ${await bearer()}`, 'x-api-key': credentials.apiKey } });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ errorCategory: 'validation', errorCode: 'formatError' });
  });
});

describe('GSMA statement entries pull', () => {
  beforeEach(() => {
    pages.length = 0;
    holdLaterPages = null;
  });

  it('when a closed window of 120 entries is pulled 50 at a time, then three pages are read and the CSV is the preamble and every entry, newest first, exactly', async () => {
    const csv = await readAll(pullStatementEntries(settings(), account, window, { pageSize: 50 }));
    expect(pages.map((p) => [p.query.limit, p.query.offset])).toEqual([['50', '0'], ['50', '50'], ['50', '100']]);
    expect(pages.every((p) => p.query.fromDateTime === window.from.toISOString() && p.query.toDateTime === new Date(window.to.getTime() - 1).toISOString())).toBe(true);

    const list = (await entries({ limit: '1000', fromDateTime: window.from.toISOString(), toDateTime: new Date(window.to.getTime() - 1).toISOString() })).body as Entry[];
    expect(list).toHaveLength(120);
    const lineOf = (e: Entry) => {
      const debit = e.debitParty.some((p) => p.key === 'walletid' && p.value === '1');
      const amount = `${debit ? '-' : ''}${e.amount.includes('.') ? e.amount.padEnd(e.amount.indexOf('.') + 3, '0') : `${e.amount}.00`}`;
      const status = e.transactionStatus === 'completed' ? 'Booked' : 'Failed';
      const kind = e.type === 'reversal' ? 'reversal' : 'payout';
      return [e.transactionReference, utc(e.creationDate), status, amount, kind, e.originalTransactionReference ?? '', '', ''].join(',');
    };
    const expected = [
      'Account,walletid/1',
      'Currency,SLE',
      `Time Period,From ${utc(window.from.getTime())} To ${utc(window.to.getTime() - 1000)}`,
      'Entry Reference,Booked At,Status,Amount,Entry Type,Linked Reference,Our Reference,Balance',
      ...list.map(lineOf),
    ];
    expect(csv).toBe(`${expected.join('\r\n')}\r\n`);

    // What the importer will read: the mapping's header labels, column-header line, statuses, amounts and kinds.
    const { header, columnHeader, rows } = splitStatement(format, csv);
    expect(isColumnHeader(format, columnHeader)).toBe(true);
    expect(header.map((h) => h[0])).toEqual(format.header.filter((h) => h.required).map((h) => h.label));
    expect(rows).toHaveLength(120);
    expectLinesOfFormat(format, rows, 2);
    expect(rows.filter((r) => kindOf(format, r) === 'reversal').map((r) => r[3]!.startsWith('-'))).toEqual([false, false]);
    expect(rows.filter((r) => kindOf(format, r) === 'payout')).toHaveLength(118);
    expect(rows.filter((r) => r[2] === 'Failed')).toHaveLength(3);
    // No party at all, masked or not.
    expect(csv).not.toContain('*');
    for (let n = 1; n <= 118; n += 1) expect(csv).not.toContain(msisdnOf(n).slice(4));
  });

  it('when the window ends in the future, or is not whole seconds, or the page size is past the bound, then the pull is refused before any request', () => {
    const now = second(Date.now());
    const refused = (w: { from: Date; to: Date }, opts = {}) => () => pullStatementEntries(settings(), account, w, opts);
    expect(refused({ from: new Date(now - 3_600_000), to: new Date(now + 60_000) })).toThrow(GsmaStatementError);
    expect(refused({ from: new Date(now - 3_600_000), to: new Date(now + 60_000) })).toThrow(/must have ended/);
    expect(refused({ from: new Date(now - 3_600_000), to: new Date(now - 500) })).toThrow(/whole seconds/);
    expect(refused({ from: new Date(now - 1000), to: new Date(now - 2000) })).toThrow(/before to/);
    expect(refused(window, { pageSize: 1001 })).toThrow(/pageSize/);
    expect(() => pullStatementEntries(settings(), { ...account, currency: 'XXX' }, window)).toThrow(/currency/);
    expect(pages).toEqual([]);
  });

  it('when entries are added to the window while it is read (a disbursement created in it completes), then the changed count stops the pull', async () => {
    const from = slowFrom;
    const client = new GsmaClient(settings({ baseUrl: `${base}/slow` }), logger);
    await slowFirst;
    await slow.drained();
    // Created now, completed 2.5 s later: not an entry yet when the first page is read (at most 1 s from now).
    expect((await client.submit(payout(204))).kind).toBe('pending');
    const to = second(Date.now()) + 1000;
    await afterSecond(to);
    holdLaterPages = () => until(() => (slow.statement().some((l) => l.correlationId === keyOf(204)) ? true : undefined)).then(() => undefined);
    const pull = readAll(pullStatementEntries(settings({ baseUrl: `${base}/slow` }), account, { from: new Date(from), to: new Date(to) }, { pageSize: 2 }));
    await expect(pull).rejects.toThrow(/X-Records-Available-Count changed from 3 to 4/);
    expect(pages.map((p) => p.query.offset)).toEqual(['0', '2']);
  });

  it('when the window needs more pages than pagesMax, then the pull stops with an error after pagesMax pages', async () => {
    const pull = readAll(pullStatementEntries(settings(), account, window, { pageSize: 50, pagesMax: 2 }));
    await expect(pull).rejects.toThrow(GsmaStatementError);
    await expect(readAll(pullStatementEntries(settings(), account, window, { pageSize: 50, pagesMax: 2 }))).rejects.toThrow(/more than 2 pages of 50/);
    expect(pages.length).toBe(4);
  });

  it('when the provider refuses the account, then the pull stops with its error code', async () => {
    const pull = readAll(pullStatementEntries(settings(), { ...account, identifier: '2' }, window));
    await expect(pull).rejects.toThrow(/HTTP 404 identifierError/);
  });

  it('when the caller aborts, then the pull stops with the abort', async () => {
    const controller = new AbortController();
    holdLaterPages = async () => controller.abort(new Error('stopped by the caller'));
    const pull = readAll(pullStatementEntries(settings(), account, window, { pageSize: 50, signal: controller.signal }));
    await expect(pull).rejects.toThrow(/stopped by the caller/);
  });
});

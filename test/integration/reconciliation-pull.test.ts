// `tuma reconcile pull` (issue #14 item 1): a GSMA account's statement entries for a window that
// has ended, pulled from the GSMA simulator through the adapter (gsma-statement-source.ts, page by
// page) and reconciled by the real importer on a real PostgreSQL against a ledger whose provider
// references are the simulator's own transaction references. An open window, an account of
// another organisation, a provider failing mid-pull (a 500 on a later page, the count changing
// while the pages are read) are refused with nothing stored; the same window again is replayed.
// The route (mounted alone on a small express app) and the CLI are checked for their shape.
import http, { type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type NextFunction, type Request, type Response } from 'express';
import { pino } from 'pino';
import { pinoHttp } from 'pino-http';
import request from 'supertest';
import { statementStore } from '../../src/adapters/db/reconciliation.repository.js';
import { statementView } from '../../src/adapters/http/app.js';
import { createAuthenticator } from '../../src/adapters/http/auth.js';
import { sendRejection } from '../../src/adapters/http/errors.js';
import { registerReconciliationPull, type ReconciliationPullRouteDeps } from '../../src/adapters/http/reconciliation-pull-route.js';
import { GsmaClient, type GsmaSettings } from '../../src/adapters/providers/gsma/gsma-client.js';
import { gsmaStatementSource, type StatementSourceAccount } from '../../src/adapters/providers/gsma/gsma-statement-source.js';
import { statementReaders } from '../../src/adapters/statement-readers/index.js';
import type { StatementAccount } from '../../src/application/import-reconciliation.js';
import { pulledStatementFormat, pullFailedCode, pullReconciliation, type PullReconciliationDeps } from '../../src/application/pull-reconciliation.js';
import { runReconcilePullCli } from '../../src/cli/reconcile-pull-cli.js';
import { errorCodes, reject } from '../../src/domain/errors.js';
import { createGsmaSimulator, type GsmaSimulator } from '../../src/simulator/gsma-simulator.js';
import { bearer, contractRecorder, startTestApi, type TestApi } from '../support/api.js';
import { testAuthConfig } from '../support/auth.js';
import { setUpProviderProgramme, type Scenario } from '../support/fixtures.js';
import { net } from '../support/net.js';
import { insertPayouts } from '../support/reconciliation-ledger.js';

const { until } = net;
const logger = pino({ level: 'silent' });
const credentials = { consumerKey: 'ck', consumerSecret: 'cs', apiKey: 'api-key-1' };
const ours = [{ key: 'walletid', value: '1' }];

let api: TestApi;
let s: Scenario;
let other: Scenario;
let server: Server;
let base: string;
let simulator: GsmaSimulator;
/** Its disbursements complete 2.5 s after they are created (the count-change test). */
let slow: GsmaSimulator;
/** The statement entries requests seen (path, offset), in order. */
const pages: { path: string; offset: number }[] = [];
/** When set, entries pages from this offset on answer 500. */
let failFromOffset: number | null = null;
/** When set, an entries page past the first waits for it. */
let holdLaterPages: (() => Promise<void>) | null = null;

type Account = StatementSourceAccount & StatementAccount;
let accounts: Account[] = [];
const gsmaAccount = (id: string, programmes: StatementAccount['programmes'], baseUrl = base): Account => ({
  id, provider: 'gsma', currency: 'SLE', programmes, statementFormat: pulledStatementFormat,
  settings: { baseUrl, tokenBaseUrl: null, ...credentials, debitParty: ours },
});

const settings = (over: Partial<GsmaSettings> = {}): GsmaSettings => ({ baseUrl: base, ...credentials, debitParty: ours, timeoutMs: 5_000, ...over });
const keyOf = (n: number) => `5b1c2d3e-4f5a-4b6c-8d7e-${n.toString(16).padStart(12, '0')}`;
const msisdnOf = (n: number) => `+2327700${String(n).padStart(4, '0')}`;
const amountOf = (n: number) => BigInt(100_000 + n * 101);
const payout = (n: number) => ({ payoutId: `p-${n}`, idempotencyKey: keyOf(n), msisdn: msisdnOf(n), amountMinor: amountOf(n), currency: 'SLE' as const, callbackUrl: `${base}/cb/tok-${n}` });
const second = (at: number) => Math.floor(at / 1000) * 1000;
const afterSecond = async (at: number) => new Promise((r) => setTimeout(r, Math.max(0, at - Date.now() + 5)));

const deps = (over: Partial<PullReconciliationDeps> = {}): PullReconciliationDeps => ({
  store: statementStore(api.database.pool),
  vault: api.vault,
  readers: statementReaders,
  persistence: api.persistence,
  accountOf: (id) => accounts.find((a) => a.id === id) ?? null,
  pullStatement: gsmaStatementSource(accounts, { timeoutMs: 5_000, pageSize: 2, logger }),
  now: () => new Date(),
  ...over,
});
const finance = () => ({ organisationId: s.organisationId, subject: 'finance-1' });
const stored = async (accountId: string) => {
  const { rows } = await api.database.pool.query<{ statements: number; lines: number; files: number }>(
    `SELECT (SELECT count(*) FROM statements WHERE account_id = $1)::int AS statements,
            (SELECT count(*) FROM statement_lines WHERE account_id = $1)::int AS lines,
            (SELECT count(*) FROM statement_files f JOIN statements t ON t.id = f.statement_id WHERE t.account_id = $1)::int AS files`, [accountId]);
  return rows[0]!;
};

/** The main window: disbursements 1-6 from walletid 1 (3 fails, 4 is reversed after success), then nothing. */
let window = { from: new Date(0), to: new Date(0) };
/** The transaction reference of each disbursement (its own entry's). */
const reference = new Map<number, string>();
/** The slow simulator's window: A and B complete in it; C is created in it but completes only after it has ended. */
let slowWindow = { from: new Date(0), to: new Date(0) };
let slowFirst: Promise<unknown> = Promise.resolve();

beforeAll(async () => {
  api = await startTestApi();
  // SLE programmes paying through GSMA (their funding opens the SLE ledger the payouts are in).
  s = await setUpProviderProgramme(api.persistence, { provider: 'gsma', currency: 'SLE', fundedMinor: 1_000_000_00n, floatMinor: 1_000_000_00n });
  other = await setUpProviderProgramme(api.persistence, { provider: 'gsma', currency: 'SLE', fundedMinor: 1_000_00n, floatMinor: 1_000_00n });
  simulator = createGsmaSimulator({ ...credentials, callbackDelayMs: 5, logger });
  slow = createGsmaSimulator({ ...credentials, callbackDelayMs: 2_500, logger });
  const app = express();
  app.use(async (req, res, next) => {
    if (!req.path.endsWith('/statemententries')) return next();
    const offset = Number(req.query.offset ?? 0);
    pages.push({ path: req.path, offset });
    if (failFromOffset !== null && offset >= failFromOffset) {
      return res.status(500).json({ errorCategory: 'internal', errorCode: 'genericError', errorDescription: 'Something went wrong.', errorDateTime: new Date().toISOString() });
    }
    if (holdLaterPages && offset > 0) await holdLaterPages();
    return next();
  });
  app.put('/cb/*rest', (_req, res) => res.status(204).end());
  app.use('/slow', slow.router);
  app.use(simulator.router);
  server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  accounts = [
    gsmaAccount('gsma-sl', [s.programmeId]),
    gsmaAccount('gsma-flaky', '*'),
    gsmaAccount('gsma-slow', '*', `${base}/slow`),
    gsmaAccount('gsma-sl-other', [other.programmeId]),
    { id: 'mpesa-ke', provider: 'mpesa', currency: 'KES', programmes: '*', statementFormat: 'mpesa-org-portal-csv@1' },
  ];

  // The slow simulator first: A and B complete 2.5 s after they are sent, while the rest runs.
  const slowFrom = second(Date.now());
  const slowClient = new GsmaClient(settings({ baseUrl: `${base}/slow` }), logger);
  slowFirst = Promise.all([101, 102].map((n) => slowClient.submit(payout(n))));
  slowWindow = { from: new Date(slowFrom), to: new Date(0) };

  simulator.setFaults({
    rules: [
      { pattern: `^\\${msisdnOf(3)}$`, fault: 'fail', errorCode: 'insufficientFunds' },
      { pattern: `^\\${msisdnOf(4)}$`, fault: 'reverse-after-success', delayMs: 0 },
    ],
  });
  const from = second(Date.now());
  const client = new GsmaClient(settings(), logger);
  for (let n = 1; n <= 6; n += 1) expect((await client.submit(payout(n))).kind).toBe('pending');
  await simulator.drained();
  const to = second(Date.now()) + 1000;
  window = { from: new Date(from), to: new Date(to) };
  for (const line of simulator.statement()) {
    const n = [1, 2, 3, 4, 5, 6].find((k) => keyOf(k) === line.correlationId);
    if (n !== undefined && line.status !== 'reversed') reference.set(n, line.transactionReference);
  }
  expect(reference.size).toBe(6);
  // The ledger of gsma-sl: 1, 2 paid; 3 failed; 4 paid (Tuma heard of no reversal); 5 paid for 50.00 more than
  // the provider paid; 6 unknown; one paid in the window that the provider never listed; one still in flight.
  await insertPayouts(api.database.pool, s, [
    ...[1, 2, 4].map((n) => ({ receipt: reference.get(n)!, amountMinor: amountOf(n), state: 'paid' as const })),
    { receipt: reference.get(3)!, amountMinor: amountOf(3), state: 'failed' as const },
    { receipt: reference.get(5)!, amountMinor: amountOf(5) + 50_00n, state: 'paid' as const },
    { receipt: 'never-at-the-provider', amountMinor: 77_00n, state: 'paid' as const, paidAt: new Date(from + 500) },
    { receipt: 'still-in-flight', amountMinor: 12_00n, state: 'submitted' as const, attemptAt: new Date(from) },
  ].map((p) => ({ ...p, accountId: 'gsma-sl', provider: 'gsma', currency: 'SLE' })));
  await afterSecond(to);
});

afterAll(async () => {
  simulator?.close();
  slow?.close();
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
  await api?.close();
});

beforeEach(() => {
  pages.length = 0;
  failFromOffset = null;
  holdLaterPages = null;
});

describe('pulling a GSMA statement and reconciling it', () => {
  it('when a closed window is pulled, then every entry is read page by page and reconciled into exactly its classes', async () => {
    const result = await pullReconciliation(deps(), finance(), { accountId: 'gsma-sl', period: window });
    if (!result.ok) throw new Error(JSON.stringify(result.error));
    const r = result.value;
    // Seven entries (six disbursements and a reversal), two a page: four pages, the last short.
    expect(pages.map((p) => [p.path, p.offset])).toEqual([0, 2, 4, 6].map((o) => ['/accounts/walletid/1/statemententries', o]));
    expect([r.format, r.formatVersion, r.replayed, r.currency, r.linesTotal, r.linesImported, r.linesRefused]).toEqual(['gsma-statemententries', 1, false, 'SLE', 7, 7, 0]);
    expect([r.periodFrom, r.periodTo]).toEqual([window.from, window.to]);
    const [a1, a2, a3, a4, a5, a6] = [1, 2, 3, 4, 5, 6].map(amountOf) as [bigint, bigint, bigint, bigint, bigint, bigint];
    expect(r.counts).toEqual({
      // 1 and 2 paid, 3 failed on both sides, 4's payout line.
      matched: { count: 4, statementMinor: a1 + a2 + a3 + a4, ledgerMinor: a1 + a2 + a3 + a4 },
      // The provider gave 4 back; the ledger still counts it paid.
      late_reversal: { count: 1, statementMinor: -a4, ledgerMinor: a4 },
      amount_under: { count: 1, statementMinor: a5, ledgerMinor: a5 + 50_00n },
      unknown_reference: { count: 1, statementMinor: a6, ledgerMinor: 0n },
      missing_at_provider: { count: 1, statementMinor: 0n, ledgerMinor: 77_00n },
      timing: { count: 1, statementMinor: 0n, ledgerMinor: 12_00n },
    });
    const { rows } = await api.database.pool.query<{ txn: string; class: string }>(
      'SELECT provider_transaction_id AS txn, class FROM statement_lines WHERE statement_id = $1 ORDER BY line_no', [r.statementId]);
    const classOf = new Map(rows.filter((l) => l.class !== 'late_reversal').map((l) => [l.txn, l.class]));
    expect([1, 2, 3, 4, 5, 6].map((n) => classOf.get(reference.get(n)!))).toEqual(['matched', 'matched', 'matched', 'matched', 'amount_under', 'unknown_reference']);
    expect(await stored('gsma-sl')).toEqual({ statements: 1, lines: 7, files: 1 });
  });

  it('when the same closed window is pulled again with nothing changed at the provider, then the same bytes answer the stored reconciliation (replayed), nothing new stored', async () => {
    const before = await stored('gsma-sl');
    const first = await pullReconciliation(deps(), finance(), { accountId: 'gsma-sl', period: window });
    const again = await pullReconciliation(deps(), { organisationId: s.organisationId, subject: 'admin-1' }, { accountId: 'gsma-sl', period: window });
    if (!first.ok || !again.ok) throw new Error('refused');
    expect([first.value.replayed, again.value.replayed]).toEqual([true, true]);
    expect(again.value.statementId).toBe(first.value.statementId);
    expect(again.value.counts).toEqual(first.value.counts);
    expect(await stored('gsma-sl')).toEqual(before);
  });

  it('when the window has not ended, is not in whole seconds or is backwards, then it is refused before the provider is asked', async () => {
    const now = second(Date.now());
    for (const period of [
      { from: new Date(now - 3_600_000), to: new Date(now + 60_000) },
      { from: new Date(now - 3_600_000), to: new Date(now - 500) },
      { from: window.to, to: window.from },
    ]) {
      const result = await pullReconciliation(deps(), finance(), { accountId: 'gsma-sl', period });
      expect(result.ok ? null : result.error.code).toBe('STATEMENT_REQUEST_INVALID');
    }
    const open = await pullReconciliation(deps(), finance(), { accountId: 'gsma-sl', period: { from: window.from, to: new Date(now + 60_000) } });
    expect(open.ok ? null : open.error.detail).toMatch(/has not ended/);
    expect(pages).toEqual([]);
  });

  it('when the account serves another organisation, does not exist or is not a GSMA account, then the answer is NOT_FOUND, as an import\'s, and the provider is not asked', async () => {
    for (const accountId of ['gsma-sl-other', 'nowhere', 'mpesa-ke']) {
      const result = await pullReconciliation(deps(), finance(), { accountId, period: window });
      expect(result.ok ? null : result.error).toEqual({ code: 'NOT_FOUND', detail: 'no such provider account' });
    }
    // Nor may the other organisation pull ours.
    const theirs = await pullReconciliation(deps(), { organisationId: other.organisationId, subject: 'finance-2' }, { accountId: 'gsma-sl', period: window });
    expect(theirs.ok ? null : theirs.error.code).toBe('NOT_FOUND');
    expect(pages).toEqual([]);
  });

  it('when the provider answers 500 on a later page, then the pull is refused as failed, with the page named, and nothing is stored; once it answers again, the same window imports', async () => {
    failFromOffset = 2;
    const failed = await pullReconciliation(deps(), finance(), { accountId: 'gsma-flaky', period: window });
    expect(failed.ok ? null : failed.error.code).toBe(pullFailedCode);
    expect(failed.ok ? null : failed.error.detail).toMatch(/^the provider's statement could not be pulled: the page at offset 2 was refused: HTTP 500 genericError$/);
    expect(pages.map((p) => p.offset)).toEqual([0, 2]);
    expect(await stored('gsma-flaky')).toEqual({ statements: 0, lines: 0, files: 0 });

    failFromOffset = null;
    const retried = await pullReconciliation(deps(), finance(), { accountId: 'gsma-flaky', period: window });
    expect(retried.ok ? [retried.value.replayed, retried.value.linesTotal] : retried.error).toEqual([false, 7]);
  });

  it('when entries are added to the window while its pages are read, then the changed count refuses the pull and nothing is stored', async () => {
    await slowFirst;
    await slow.drained();
    const client = new GsmaClient(settings({ baseUrl: `${base}/slow` }), logger);
    // Created now, completed 2.5 s later: not an entry yet when the first page is read.
    expect((await client.submit(payout(103))).kind).toBe('pending');
    const to = second(Date.now()) + 1000;
    slowWindow = { from: slowWindow.from, to: new Date(to) };
    await afterSecond(to);
    holdLaterPages = () => until(() => (slow.statement().some((l) => l.correlationId === keyOf(103)) ? true : undefined)).then(() => undefined);

    const result = await pullReconciliation(deps(), finance(), { accountId: 'gsma-slow', period: slowWindow });

    expect(result.ok ? null : result.error.code).toBe(pullFailedCode);
    expect(result.ok ? null : result.error.detail).toMatch(/X-Records-Available-Count changed from 2 to 3 at offset 2/);
    expect(pages.map((p) => [p.path, p.offset])).toEqual([['/slow/accounts/walletid/1/statemententries', 0], ['/slow/accounts/walletid/1/statemententries', 2]]);
    expect(await stored('gsma-slow')).toEqual({ statements: 0, lines: 0, files: 0 });
  });

  it('when the port cannot pull the account at all, then the refusal is the pull\'s and nothing is stored', async () => {
    const before = await stored('gsma-slow');
    const result = await pullReconciliation(deps({ pullStatement: gsmaStatementSource([], { timeoutMs: 1_000 }) }), finance(), { accountId: 'gsma-slow', period: window });
    expect(result.ok ? null : result.error).toEqual({ code: pullFailedCode, detail: "the provider's statement could not be pulled: account gsma-slow is not a GSMA account of this process" });
    expect(await stored('gsma-slow')).toEqual(before);
  });
});

describe('POST /v1/reconciliations/pull', () => {
  let web: express.Express;
  const problems: string[] = [];
  const routeDeps = (pull: boolean): ReconciliationPullRouteDeps => ({
    authenticate: createAuthenticator(testAuthConfig),
    persistence: api.persistence,
    vault: api.vault,
    now: () => new Date(),
    statements: {
      store: statementStore(api.database.pool),
      accounts: () => accounts,
      readers: statementReaders,
      ...(pull ? { pull: gsmaStatementSource(accounts, { timeoutMs: 5_000, pageSize: 2, logger }) } : {}),
    },
  });
  const mount = (pull: boolean) => {
    const app = express();
    app.use(pinoHttp({ logger }));
    app.use(contractRecorder(problems));
    registerReconciliationPull(app, routeDeps(pull), statementView);
    app.use((_req, res) => sendRejection(res, reject('NOT_FOUND')));
    app.use((_error: unknown, _req: Request, res: Response, _next: NextFunction) => sendRejection(res, reject('INTERNAL')));
    return app;
  };
  beforeAll(() => {
    web = mount(true);
  });
  afterAll(() => {
    // Every answer must be one the published contract describes (once it documents the route).
    expect(problems).toEqual([]);
  });
  const query = (accountId: string, period = window) => `account=${accountId}&from=${period.from.toISOString()}&to=${period.to.toISOString()}`;
  const pull = async (q: string, role = 'finance', org = s.organisationId) => request(web).post(`/v1/reconciliations/pull?${q}`).set('authorization', await bearer(org, role));

  it('when finance pulls a window, then 201 with the statement as an import answers it; the same window again is 200, replayed, the same statement', async () => {
    const previous = new Date(window.from.getTime() - 3_600_000);
    const first = await pull(query('gsma-sl', { from: previous, to: window.from }));
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ accountId: 'gsma-sl', currency: 'SLE', format: 'gsma-statemententries@1', replayed: false, version: 1, lines: { total: 0, imported: 0, refused: 0 } });
    expect(first.body.period).toEqual({ from: previous.toISOString(), to: window.from.toISOString() });
    const again = await pull(query('gsma-sl', { from: previous, to: window.from }), 'admin');
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ statementId: first.body.statementId, replayed: true });

    const main = await pull(query('gsma-sl'));
    expect(main.status).toBe(200);
    expect(main.body).toMatchObject({ replayed: true, lines: { total: 7, imported: 7, refused: 0 } });
    expect(main.body.classes).toEqual({
      matched: { count: 4, statementAmount: expect.stringMatching(/^\d+\.\d{2}$/), ledgerAmount: expect.stringMatching(/^\d+\.\d{2}$/) },
      late_reversal: expect.objectContaining({ count: 1 }),
      amount_under: expect.objectContaining({ count: 1 }),
      unknown_reference: expect.objectContaining({ count: 1 }),
      missing_at_provider: { count: 1, statementAmount: '0.00', ledgerAmount: '77.00' },
      timing: { count: 1, statementAmount: '0.00', ledgerAmount: '12.00' },
    });
    // No payee, masked or not.
    expect(JSON.stringify(main.body)).not.toMatch(/\*{3}|\+232/);
  });

  it.each([
    ['no window', 'account=gsma-sl', 400, 'STATEMENT_REQUEST_INVALID'],
    ['a window that is not a date', 'account=gsma-sl&from=yesterday&to=today', 400, 'STATEMENT_REQUEST_INVALID'],
    ['milliseconds', 'account=gsma-sl&from=2026-05-01T00:00:00.500Z&to=2026-05-02T00:00:00Z', 400, 'STATEMENT_REQUEST_INVALID'],
    ['a format', 'account=gsma-sl&from=2026-05-01&to=2026-05-02&format=mt940@1', 400, 'STATEMENT_REQUEST_INVALID'],
    ['two accounts', 'account=gsma-sl&account=gsma-flaky&from=2026-05-01&to=2026-05-02', 400, 'STATEMENT_REQUEST_INVALID'],
    ['a window that has not ended', `account=gsma-sl&from=2026-05-01&to=${new Date(Date.now() + 86_400_000).toISOString().slice(0, 10)}`, 400, 'STATEMENT_REQUEST_INVALID'],
    ['an account of another organisation', 'account=gsma-sl-other&from=2026-05-01&to=2026-05-02', 404, 'NOT_FOUND'],
    ['an M-Pesa account', 'account=mpesa-ke&from=2026-05-01&to=2026-05-02', 404, 'NOT_FOUND'],
  ])('when the pull has %s, then it is refused (%s %s) and the provider is not asked', async (_what, q, status, code) => {
    const res = await pull(q);
    expect({ status: res.status, code: res.body.error?.code }).toEqual({ status, code });
    expect(pages).toEqual([]);
  });

  it('when the request has a body, then it is refused: the statement comes from the provider', async () => {
    const res = await request(web).post(`/v1/reconciliations/pull?${query('gsma-sl')}`).set('authorization', await bearer(s.organisationId, 'finance')).set('content-type', 'text/csv').send('Account,x\r\n');
    expect({ status: res.status, code: res.body.error?.code }).toEqual({ status: 400, code: 'STATEMENT_REQUEST_INVALID' });
  });

  it('when the provider fails mid-pull, then the answer is the pull\'s failure with the page named, and nothing is stored', async () => {
    const before = await stored('gsma-sl');
    failFromOffset = 2;
    const res = await pull(query('gsma-sl', { from: new Date(window.from.getTime() - 1000), to: window.to }));
    expect({ status: res.status, code: res.body.error?.code }).toEqual({ status: errorCodes[pullFailedCode].status, code: pullFailedCode });
    expect(res.body.error.detail).toMatch(/the page at offset 2 was refused: HTTP 500/);
    expect(await stored('gsma-sl')).toEqual(before);
  });

  it('when the caller may not reconcile, then 403 (401 without a token); when no pull is configured, then 503', async () => {
    for (const role of ['programme_manager', 'approver', 'auditor']) expect((await pull(query('gsma-sl'), role)).status).toBe(403);
    expect((await request(web).post(`/v1/reconciliations/pull?${query('gsma-sl')}`)).status).toBe(401);
    const none = await request(mount(false)).post(`/v1/reconciliations/pull?${query('gsma-sl')}`).set('authorization', await bearer(s.organisationId, 'finance'));
    expect({ status: none.status, code: none.body.error?.code }).toEqual({ status: 503, code: 'SERVICE_UNAVAILABLE' });
    expect(pages).toEqual([]);
  });

  describe('tuma reconcile pull', () => {
    let cliServer: http.Server;
    let url: string;
    beforeAll(async () => {
      cliServer = http.createServer(web);
      await new Promise<void>((resolve) => cliServer.listen(0, '127.0.0.1', resolve));
      url = `http://127.0.0.1:${(cliServer.address() as AddressInfo).port}`;
    });
    afterAll(async () => {
      await new Promise<void>((resolve) => cliServer.close(() => resolve()));
    });
    async function cli(argv: string[], env: Record<string, string | undefined> = {}) {
      const out: string[] = [];
      const err: string[] = [];
      const token = (await bearer(s.organisationId, 'finance')).replace(/^Bearer /, '');
      const code = await runReconcilePullCli(argv, {
        out: (l) => out.push(l), err: (l) => err.push(l), write: (t) => out.push(t), env: { TUMA_URL: url, TUMA_TOKEN: token, ...env }, isTTY: false,
        fetch: globalThis.fetch, sleep: async () => undefined, now: () => new Date(),
      });
      return { code, out, err };
    }
    const period = () => ['--from', window.from.toISOString(), '--to', window.to.toISOString()];

    it('when finance pulls a window already reconciled, then it prints the statement and each class, and says it was imported already', async () => {
      const run = await cli(['--account', 'gsma-sl', ...period()]);
      expect(run.code).toBe(0);
      expect(run.out[0]).toMatch(/^already imported: statement [0-9a-f-]{36}, 7 of 7 lines$/);
      expect(run.out.slice(1).join('\n')).toMatch(/missing_at_provider\s+1\s+statement 0\.00 SLE\s+ledger 77\.00 SLE/);
      expect(run.out.slice(1)).toHaveLength(6);
    });

    it('when the pull is refused, then it prints the code and why, and exits 1; without an account or a token, 2; with no API, 69', async () => {
      const refused = await cli(['--account', 'gsma-sl-other', ...period()]);
      expect(refused).toMatchObject({ code: 1, err: [expect.any(String), expect.stringMatching(/^refused: 404 NOT_FOUND/)] });
      expect((await cli(['--from', '2026-05-01', '--to', '2026-05-02'])).code).toBe(2);
      expect((await cli(['--account', 'gsma-sl', ...period(), 'a-file.csv'])).code).toBe(2);
      expect((await cli(['--account', 'gsma-sl', ...period()], { TUMA_TOKEN: undefined })).code).toBe(2);
      expect((await cli(['--account', 'gsma-sl', ...period()], { TUMA_URL: 'http://127.0.0.1:9' })).code).toBe(69);
    });
  });
});

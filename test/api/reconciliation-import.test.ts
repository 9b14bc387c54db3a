// POST /v1/reconciliations (issue #14): finance streams a provider statement into Tuma and gets
// its reconciliation; the same bytes again answer the same one; anything refused stores nothing.
// Real PostgreSQL; the M-Pesa portal fixture of test/fixtures/statements.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runReconcileCli } from '../../src/cli/reconcile-cli.js';
import { sql } from 'kysely';
import request from 'supertest';
import { bearer, startTestApi, type TestApi } from '../support/api.js';
import { setUpProgramme, type Scenario } from '../support/fixtures.js';

const fixture = readFileSync(new URL('../fixtures/statements/mpesa-org-portal-every-class.csv', import.meta.url));
/** The fixture's period, 1-31 May 2026 in East Africa Time. */
const may = 'from=2026-04-30T21:00:00Z&to=2026-05-31T21:00:00Z';

let api: TestApi;
let s: Scenario;
beforeAll(async () => {
  api = await startTestApi({
    statementAccounts: { 'mpesa-ke': { currency: 'KES', programmes: '*' }, 'mpesa-ke-2': { currency: 'KES', programmes: '*' }, 'mpesa-ke-3': { currency: 'KES', programmes: '*' }, 'mpesa-other': { currency: 'KES', programmes: ['another-orgs-programme'] }, 'mpesa-sc': { currency: 'KES', programmes: '*', identifiers: ['654321'] } },
  });
  s = await setUpProgramme(api.persistence, 1_000_00n);
});
afterAll(async () => api?.close());

const statements = async () => Number((await sql<{ n: string }>`SELECT count(*)::text AS n FROM statements`.execute(api.database.db)).rows[0]!.n);
const upload = async (query: string, body: Buffer | string, role = 'finance', type = 'text/csv') =>
  request(api.app).post(`/v1/reconciliations?${query}`).set('authorization', await bearer(s.organisationId, role)).set('content-type', type).send(typeof body === 'string' ? Buffer.from(body) : body);

describe('importing a statement', () => {
  it('when finance uploads an M-Pesa portal statement, then it is reconciled line by line, and the same bytes again answer the same reconciliation', async () => {
    const first = await upload(`account=mpesa-ke&${may}`, fixture);
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ accountId: 'mpesa-ke', currency: 'KES', format: 'mpesa-org-portal-csv@1', openingBalance: '5000000.00', closingBalance: '5009225.00', replayed: false });
    expect(first.body.lines.total).toBeGreaterThan(0);
    const counted = Object.values(first.body.classes as Record<string, { count: number }>).reduce((n, c) => n + c.count, 0);
    expect(counted).toBeGreaterThanOrEqual(first.body.lines.imported);
    // No name or number of the file is in the answer.
    expect(JSON.stringify(first.body)).not.toMatch(/AMINA|2547\*{4}678/);
    const again = await upload(`account=mpesa-ke&${may}`, fixture, 'admin');
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ statementId: first.body.statementId, replayed: true });
    expect(await statements()).toBe(1);
  });

  it.each([
    ['no account', may, 'text/csv', 400, 'STATEMENT_REQUEST_INVALID'],
    ['a malformed account', `account=MPESA%20KE&${may}`, 'text/csv', 400, 'STATEMENT_REQUEST_INVALID'],
    ['no period', 'account=mpesa-ke', 'text/csv', 400, 'STATEMENT_REQUEST_INVALID'],
    ['a period that is not a date', 'account=mpesa-ke&from=yesterday&to=today', 'text/csv', 400, 'STATEMENT_REQUEST_INVALID'],
    ['two accounts', `account=mpesa-ke&account=mpesa-other&${may}`, 'text/csv', 400, 'STATEMENT_REQUEST_INVALID'],
    ['an unknown format', `account=mpesa-ke-2&${may}&format=nope@1`, 'text/csv', 422, 'STATEMENT_FORMAT_UNKNOWN'],
    ['importGoodLines other than true or false', `account=mpesa-ke&${may}&importGoodLines=yes`, 'text/csv', 400, 'STATEMENT_REQUEST_INVALID'],
    ['a JSON body', `account=mpesa-ke&${may}`, 'application/json', 415, 'REQUEST_UNSUPPORTED_MEDIA_TYPE'],
    ['an account of no programme of the caller', `account=mpesa-other&${may}`, 'text/csv', 404, 'NOT_FOUND'],
    ['an account that does not exist', `account=nowhere&${may}`, 'text/csv', 404, 'NOT_FOUND'],
    ['a file of another shortcode than the account\'s', `account=mpesa-sc&${may}`, 'text/csv', 422, 'STATEMENT_ACCOUNT_MISMATCH'],
    ['another period than the file\'s', 'account=mpesa-ke-2&from=2026-06-01&to=2026-06-30', 'text/csv', 422, 'STATEMENT_PERIOD_MISMATCH'],
  ])('when the upload has %s, then it is refused and nothing is stored', async (_what, query, type, status, code) => {
    const before = await statements();
    const res = await upload(query, fixture, 'finance', type);
    expect({ status: res.status, code: res.body.error?.code }).toEqual({ status, code });
    expect(await statements()).toBe(before);
  });

  it('when a line is bad, then the file is refused whole with the line, column and problem named, and never the line\'s content', async () => {
    const text = fixture.toString('utf8').replace('RCP0003,03-05-2026 10:00:00', 'RCP0003,31-02-2026 10:00:00');
    const before = await statements();
    const res = await upload(`account=mpesa-ke-2&${may}`, text);
    expect({ status: res.status, code: res.body.error?.code }).toEqual({ status: 422, code: 'STATEMENT_LINES_INVALID' });
    expect(res.body.error.lines).toEqual([expect.objectContaining({ line: expect.any(Number), column: expect.any(String), problem: expect.any(String) })]);
    expect(res.body.error.badLines).toBe(1);
    expect(JSON.stringify(res.body)).not.toMatch(/MARY|31-02-2026/);
    expect(await statements()).toBe(before);
  });

  it('when the caller may not import, then 403 (or 401 without a token) and nothing is stored', async () => {
    for (const role of ['programme_manager', 'approver', 'auditor']) expect((await upload(`account=mpesa-ke&${may}`, fixture, role)).status).toBe(403);
    expect((await request(api.app).post(`/v1/reconciliations?account=mpesa-ke&${may}`).set('content-type', 'text/csv').send(fixture)).status).toBe(401);
  });
});

describe('tuma reconcile import', () => {
  let server: http.Server;
  let url: string;
  const dir = mkdtempSync(join(tmpdir(), 'tuma-reconcile-cli-'));
  const file = join(dir, 'statement.csv');
  const bad = join(dir, 'bad.csv');
  beforeAll(async () => {
    writeFileSync(file, fixture);
    writeFileSync(bad, fixture.toString('utf8').replace('RCP0003,03-05-2026 10:00:00', 'RCP0003,31-02-2026 10:00:00'));
    server = http.createServer(api.app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  });

  async function cli(argv: string[], env: Record<string, string | undefined> = {}) {
    const out: string[] = [];
    const err: string[] = [];
    const token = (await bearer(s.organisationId, 'finance')).replace(/^Bearer /, '');
    const code = await runReconcileCli(argv, {
      out: (l) => out.push(l), err: (l) => err.push(l), write: (t) => out.push(t), env: { TUMA_URL: url, TUMA_TOKEN: token, ...env }, isTTY: false,
      fetch: globalThis.fetch, sleep: async () => undefined, now: () => new Date(),
    });
    return { code, out, err };
  }
  const period = ['--from', '2026-04-30T21:00:00Z', '--to', '2026-05-31T21:00:00Z'];

  it('when finance imports a file, then it streams with progress, prints the classes, and says so when the bytes were imported already', async () => {
    const first = await cli(['import', '--account', 'mpesa-ke-3', ...period, file]);
    expect(first.code).toBe(0);
    expect(first.out[0]).toMatch(/^imported: statement [0-9a-f-]{36}, \d+ of \d+ lines/);
    expect(first.out.slice(1).join('\n')).toMatch(/unknown_reference\s+\d+\s+statement [\d.]+ KES/);
    expect(first.err.at(-1)).toMatch(/^sent 100% of \d+ bytes$/);
    const again = await cli(['import', '--account', 'mpesa-ke-3', ...period, file]);
    expect({ code: again.code, line: again.out[0]?.slice(0, 25) }).toEqual({ code: 0, line: 'already imported: stateme' });
  });

  it('when a line is bad, then it exits 1 naming the line and column, never its content', async () => {
    const r = await cli(['import', '--account', 'mpesa-ke-2', ...period, bad]);
    expect(r.code).toBe(1);
    expect(r.err.find((l) => l.startsWith('refused:'))).toContain('422 STATEMENT_LINES_INVALID');
    expect(r.err.some((l) => /^ {2}line \d+, column .+: .+/.test(l))).toBe(true);
    expect(r.err.join('\n')).not.toMatch(/MARY|31-02-2026/);
  });

  it.each([
    [['import', '--account', 'mpesa-ke-3', file], 2],
    [['export', '--account', 'mpesa-ke-3', ...period, file], 2],
    [['import', '--account', 'mpesa-ke-3', ...period], 2],
    [['import', '--account', 'mpesa-ke-3', '--bogus', ...period, file], 2],
    [['import', '--account', 'mpesa-ke-3', ...period, '/nonexistent/statement.csv'], 66],
  ])('when the arguments are %j, then it exits %i and says why', async (argv, code) => {
    const r = await cli(argv);
    expect(r.code).toBe(code);
    expect(r.err.length).toBeGreaterThan(0);
    expect(r.out).toEqual([]);
  });

  it('when no token is given or the API does not answer, then it says so and exits 2 or 69', async () => {
    expect((await cli(['import', '--account', 'mpesa-ke-3', ...period, file], { TUMA_TOKEN: undefined })).code).toBe(2);
    const down = await cli(['import', '--account', 'mpesa-ke-3', ...period, file], { TUMA_URL: 'http://127.0.0.1:9' });
    expect(down.code).toBe(69);
    expect(down.err.at(-1)).toMatch(/did not answer/);
  });
});

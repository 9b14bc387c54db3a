// Finance reads its reconciliations (issue #14 item 5): a statement with its classes, the amount
// at risk and the ageing of open exceptions, the items page by page, the CSV report (cells that a
// spreadsheet could run as formulas neutralised), and the months of an account that are overdue.
// Real PostgreSQL; the M-Pesa portal fixture, with a ledger written to match it.
import { readFileSync } from 'node:fs';
import request from 'supertest';
import { bearer, startTestApi, type TestApi } from '../support/api.js';
import { setUpProgramme, type Scenario } from '../support/fixtures.js';
import { insertPayouts } from '../support/reconciliation-ledger.js';
import yauzl from 'yauzl';

/** The first worksheet's XML of an .xlsx in memory. */
async function sheetXml(zip: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    yauzl.fromBuffer(zip, { lazyEntries: true }, (error, file) => {
      if (error || !file) return reject(error ?? new Error('no zip'));
      file.on('entry', (entry: yauzl.Entry) => {
        if (!/^xl\/worksheets\/sheet1\.xml$/i.test(entry.fileName)) return file.readEntry();
        file.openReadStream(entry, (e, stream) => {
          if (e || !stream) return reject(e ?? new Error('no stream'));
          const parts: Buffer[] = [];
          stream.on('data', (c: Buffer) => parts.push(c));
          stream.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
        });
      });
      file.on('end', () => reject(new Error('no worksheet')));
      file.readEntry();
    });
  });
}

const fixture = readFileSync(new URL('../fixtures/statements/mpesa-org-portal-every-class.csv', import.meta.url), 'utf8');
const may = 'from=2026-04-30T21:00:00Z&to=2026-05-31T21:00:00Z';
/** "Now" for this API: mid-June 2026, so May's lines are 2 to 6 weeks old. */
const now = new Date('2026-06-15T12:00:00Z');

let api: TestApi;
let s: Scenario;
let other: Scenario;
beforeAll(async () => {
  api = await startTestApi({
    now: () => now,
    statementAccounts: {
      'mpesa-ke': { currency: 'KES', programmes: '*' },
      'mpesa-hostile': { currency: 'KES', programmes: '*' },
      'mpesa-quiet': { currency: 'KES', programmes: '*' },
    },
    reconciliationOverdueDays: 10,
  });
  s = await setUpProgramme(api.persistence, 1_000_00n);
  other = await setUpProgramme(api.persistence, 1_000_00n);
  await insertPayouts(api.database.pool, s, [
    { receipt: 'RCP0001', amountMinor: 10000n, state: 'paid', accountId: 'mpesa-ke' },
    { receipt: 'RCP0002', amountMinor: 25000n, state: 'paid', accountId: 'mpesa-ke' },
    { receipt: 'RCP0003', amountMinor: 10000n, state: 'paid', accountId: 'mpesa-ke' },
    { receipt: 'RCP0004', amountMinor: 30000n, state: 'paid', accountId: 'mpesa-ke' },
    { receipt: 'RCP0005', amountMinor: 5000n, state: 'failed', accountId: 'mpesa-ke' },
    { receipt: 'RCP0006', amountMinor: 7500n, state: 'paid', accountId: 'mpesa-ke' },
    { receipt: 'RCP0007', amountMinor: 8000n, state: 'paid', accountId: 'mpesa-ke', paidAt: new Date('2026-05-10T09:00:00Z') },
    { receipt: 'RCP0010', amountMinor: 3000n, state: 'failed', accountId: 'mpesa-ke' },
  ]);
});
afterAll(async () => api?.close());

const as = async (role: string, scenario = s) => bearer(scenario.organisationId, role);
const get = async (path: string, role = 'finance', scenario = s) => request(api.app).get(path).set('authorization', await as(role, scenario));
const upload = async (account: string, body: string) =>
  request(api.app).post(`/v1/reconciliations?account=${account}&${may}`).set('authorization', await as('finance')).set('content-type', 'text/csv').send(Buffer.from(body));

let statementId: string;
beforeAll(async () => {
  const res = await upload('mpesa-ke', fixture);
  expect(res.status).toBe(201);
  statementId = res.body.statementId;
});

describe('reading a reconciliation', () => {
  it('when finance reads a statement, then each class has its figures, the open exceptions their amount at risk and their age, and the urgent ones are counted', async () => {
    const res = await get(`/v1/reconciliations/${statementId}`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ statementId, accountId: 'mpesa-ke', version: 1, balances: { total: { ok: true }, runningBreaks: 0 } });
    const byClass: Record<string, { ageing: Record<string, unknown> }> = Object.fromEntries((res.body.classReport as { class: string; ageing: Record<string, unknown> }[]).map((c) => [c.class, c]));
    expect(byClass.amount_over).toMatchObject({ exception: true, count: 1, open: 1, statementAmount: '120.00', ledgerAmount: '100.00', atRisk: '20.00' });
    expect(byClass.amount_under).toMatchObject({ atRisk: '10.00' });
    expect(byClass.fee_mismatch).toMatchObject({ atRisk: '15.00' });
    expect(byClass.missing_at_provider).toMatchObject({ atRisk: '80.00' });
    expect(byClass.late_reversal).toMatchObject({ atRisk: '250.00' });
    expect(byClass.matched).toMatchObject({ exception: false, open: 0, atRisk: '0.00' });
    expect(byClass.non_payout).toMatchObject({ exception: false, open: 0 });
    // Ageing: RCP0003's line is of 3 May, 43 days before "now"; the missing payout dates from the period's end (15 days).
    expect(byClass.amount_over?.ageing['31-90']).toEqual({ count: 1, atRisk: '20.00' });
    expect(byClass.missing_at_provider?.ageing['8-30']).toEqual({ count: 1, atRisk: '80.00' });
    // 20 + 10 + 15 + 50 (paid, ledger failed) + 75 (status) + 80 (missing) + 100 (duplicate) + 60 + 40 (unknown) + 250 (late reversal)
    expect(res.body.exceptions).toEqual({ open: 10, balanceChecks: 0, urgent: 2, atRisk: '700.00' });
    // Three M-Pesa KES accounts share the organisation's one M-Pesa float in the ledger: no float check, and why.
    expect(res.body.float).toEqual({ state: 'not_comparable', note: expect.stringMatching(/shared with 2 other account\(s\): mpesa-hostile, mpesa-quiet/) });
    expect(JSON.stringify(res.body)).not.toMatch(/AMINA|2547/);
  });

  it('when finance lists the items, then the exceptions come a page at a time in file order, and a class can be asked for', async () => {
    const first = await get(`/v1/reconciliations/${statementId}/items?limit=4`);
    expect(first.status).toBe(200);
    expect(first.body.items.map((i: { itemId: string; class: string }) => [i.itemId, i.class])).toEqual([
      ['line-9', 'fee_mismatch'], ['line-11', 'amount_over'], ['line-12', 'amount_under'], ['line-13', 'paid_not_in_ledger'],
    ]);
    expect(first.body.items[1]).toMatchObject({ providerTransactionId: 'RCP0003', statementAmount: '120.00', ledgerAmount: '100.00', atRisk: '20.00', open: true, ageDays: 43, ageing: '31-90' });
    expect(first.body.next).toBe('line-13');
    const rest = await get(`/v1/reconciliations/${statementId}/items?limit=100&after=line-13`);
    expect(rest.body.items.map((i: { itemId: string }) => i.itemId)).toEqual(['line-14', 'line-15', 'line-16', 'line-17', 'line-19', expect.stringMatching(/^payout-/)]);
    expect(rest.body.next).toBeNull();
    const matched = await get(`/v1/reconciliations/${statementId}/items?class=matched`);
    expect(matched.body.items.map((i: { line: number }) => i.line)).toEqual([8, 10, 20]);
    const all = await get(`/v1/reconciliations/${statementId}/items?class=all&limit=1000`);
    expect(all.body.items).toHaveLength(14);
    expect(JSON.stringify(all.body)).not.toMatch(/AMINA|2547/);
  });

  it.each([
    ['an unknown class', 'class=paid', 400, 'QUERY_INVALID'],
    ['a malformed cursor', 'after=line-x', 400, 'QUERY_INVALID'],
    ['a cursor past any line', 'after=line-99999999999', 400, 'QUERY_INVALID'],
    ['a limit too large', 'limit=1001', 400, 'QUERY_INVALID'],
    ['two limits', 'limit=1&limit=2', 400, 'QUERY_INVALID'],
  ])('when the items are asked with %s, then %i %s', async (_what, query, status, code) => {
    const res = await get(`/v1/reconciliations/${statementId}/items?${query}`);
    expect({ status: res.status, code: res.body.error?.code }).toEqual({ status, code });
  });

  it('when another organisation, a programme manager or a made-up id asks, then it is not found or forbidden, and nothing leaks', async () => {
    // A statement of an account that pays for every programme is every organisation's to read; an
    // account of one organisation's programme only is not (see reconciliation-import.test.ts).
    expect((await get(`/v1/reconciliations/${statementId}`, 'programme_manager')).status).toBe(403);
    expect((await get(`/v1/reconciliations/${statementId}`, 'auditor')).status).toBe(200);
    expect((await get('/v1/reconciliations/00000000-0000-4000-8000-000000000000')).status).toBe(404);
    expect((await get('/v1/reconciliations/not-a-uuid/items')).status).toBe(404);
    expect((await get('/v1/reconciliations/00000000-0000-4000-8000-000000000000/report.csv')).status).toBe(404);
    expect((await get(`/v1/reconciliations?account=nowhere`)).status).toBe(404);
    expect((await get(`/v1/reconciliations`, 'finance', other)).body.statements.map((x: { statementId: string }) => x.statementId)).toContain(statementId);
  });

  it('when finance exports the report, then it is CSV with the classes and every item, and a cell a spreadsheet would run is neutralised', async () => {
    // A provider transaction id that is a formula: the file is the provider's, the cell must stay text.
    const hostile = fixture.replace('RCPX001,', '"=HYPERLINK(""http://x"")",').replace('RCP0009,', '+SUM(A1:A9),');
    const imported = await upload('mpesa-hostile', hostile);
    expect(imported.status).toBe(201);
    const res = await get(`/v1/reconciliations/${imported.body.statementId}/report.csv`);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/csv/);
    const lines = res.text.split('\r\n').filter((l) => l.length > 0);
    expect(lines[0]).toMatch(/^statement,[0-9a-f-]{36},mpesa-hostile,KES,/);
    expect(lines).toContain('class,count,open,statement amount,ledger amount,at risk,open 0-7 days,open 8-30 days,open 31-90 days,open 90+ days');
    expect(res.text).toContain(`"'=HYPERLINK(""http://x"")"`);
    expect(res.text).toContain("'+SUM(A1:A9)");
    expect(res.text).not.toMatch(/(^|,)[=+@]/m);
    // Our own negative amounts are amounts, not formulas: they are written as they are.
    expect(res.text).toMatch(/,-10000\.00,/);
    expect(res.text).not.toMatch(/AMINA|2547/);
    const itemLines = lines.slice(lines.findIndex((l) => l.startsWith('item,')) + 1);
    expect(itemLines).toHaveLength(13); // the account paid nothing through Tuma: the lines alone
    // The same report as XLSX: a zip whose worksheet holds the same neutralised text, never a formula.
    const xlsx = await request(api.app).get(`/v1/reconciliations/${imported.body.statementId}/report.xlsx`).set('authorization', await as('finance'))
      .buffer(true).parse((r, done) => { const chunks: Buffer[] = []; r.on('data', (c: Buffer) => chunks.push(c)); r.on('end', () => done(null, Buffer.concat(chunks))); });
    expect(xlsx.status).toBe(200);
    expect(xlsx.headers['content-type']).toBe('application/vnd.openxmlformats-officedocument.spreadsheetml.sheet');
    const zip = xlsx.body as Buffer;
    expect(zip.subarray(0, 2).toString('latin1')).toBe('PK');
    const sheet = await sheetXml(zip);
    expect(sheet).toContain(`'=HYPERLINK(&quot;http://x&quot;)`);
    expect(sheet).not.toMatch(/<f>/);
    expect(sheet).not.toMatch(/AMINA|2547/);
  });
});

describe('overdue periods', () => {
  it('when an account has paid since March and only May has a statement, then March and April are overdue 10 days after they ended, and May and June are not', async () => {
    await insertPayouts(api.database.pool, s, [{ receipt: 'QUIET01', amountMinor: 100n, state: 'paid', accountId: 'mpesa-quiet', attemptAt: new Date('2026-03-05T10:00:00Z') }]);
    const quietMay = fixture.replace(/^RCP[^\n]*\n/gm, '').replace('"5,009,225.00",Available', '"5,000,000.00",Available');
    expect((await upload('mpesa-quiet', quietMay)).status).toBe(201);
    const res = await get('/v1/reconciliations/overdue');
    expect(res.status).toBe(200);
    const quiet = res.body.periods.filter((p: { accountId: string }) => p.accountId === 'mpesa-quiet');
    // Months in East Africa Time: March starts at 21:00 UTC on 28 February.
    expect(quiet).toEqual([
      { accountId: 'mpesa-quiet', from: '2026-02-28T21:00:00.000Z', to: '2026-03-31T21:00:00.000Z', daysOverdue: 65 },
      { accountId: 'mpesa-quiet', from: '2026-03-31T21:00:00.000Z', to: '2026-04-30T21:00:00.000Z', daysOverdue: 35 },
    ]);
    expect(res.body.overdueDays).toBe(10);
  });
});

// The MTN MoMo simulator's CSV statement is the partner portal's export as mtn-momo-portal-csv@1
// maps it: no header block, the 11 columns, one line per transfer that ended in the period and one
// per reversal, times in Uganda's, signed amounts with the currency's scale, the running balance
// from the opening float, the payee masked and the names fake; a bad or too long period is refused.
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express from 'express';
import { pino } from 'pino';
import { MomoClient } from '../../src/adapters/providers/mtn-momo/momo-client.js';
import { momoReferenceId } from '../../src/adapters/providers/mtn-momo/mapping.js';
import { isColumnHeader } from '../../src/domain/reconciliation.js';
import { mtnMomoPortalCsvV1 as format } from '../../src/domain/statement-formats.js';
import { createMomoSimulator, momoPortalTime, momoStatementAccountDefault, type MomoSimulator } from '../../src/simulator/momo-simulator.js';
import { expectLinesOfFormat, kindOf, splitStatement } from '../support/statement-checks.js';

const logger = pino({ level: 'silent' });
const credentials = { apiUserId: 'b0f3c2d1-0000-4000-8000-000000000001', apiKey: 'api-key-1', subscriptionKey: 'sub-key-1', targetEnvironment: 'mtnuganda' };

let server: Server;
let ugx: MomoSimulator;
let eur: MomoSimulator;
let base: string;

beforeAll(async () => {
  ugx = createMomoSimulator({ ...credentials, currency: 'UGX', statementOpeningFloat: '5000000', callbackDelayMs: 5, logger });
  eur = createMomoSimulator({ ...credentials, currency: 'EUR', callbackDelayMs: 5, logger });
  const app = express();
  app.use('/ugx', ugx.router);
  app.use('/eur', eur.router);
  app.use('/__control/ugx', ugx.controlRouter);
  app.use('/__control/eur', eur.controlRouter);
  const receive = (_req: express.Request, res: express.Response) => res.status(200).end();
  app.put('/cb/:token', receive);
  app.post('/cb/:token', receive);
  server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  ugx.close();
  eur.close();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

const client = (market: 'ugx' | 'eur') => new MomoClient({ ...credentials, baseUrl: `${base}/${market}`, timeoutMs: 2_000 }, logger);
const keyOf = (n: number) => `7c1e3a52-9d4b-5f6a-8b7c-${n.toString(16).padStart(12, '0')}`;
const msisdnOf = (n: number) => `+2567720000${String(n).padStart(2, '0')}`;
const request = (n: number, currency: 'UGX' | 'EUR', amountMinor: bigint) => ({ payoutId: `p-${n}`, idempotencyKey: keyOf(n), msisdn: msisdnOf(n), amountMinor, currency, callbackUrl: `${base}/cb/tok-${n}` });
const query = (n: number, currency: 'UGX' | 'EUR') => ({ payoutId: `p-${n}`, idempotencyKey: keyOf(n), providerReference: null, currency, callbackUrl: `${base}/cb/tok-${n}` });
const statementOf = async (market: 'ugx' | 'eur', params: Record<string, string> = {}) => {
  const res = await fetch(`${base}/__control/${market}/statement?${new URLSearchParams({ format: 'csv', ...params }).toString()}`);
  return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
};
const second = (at: number) => Math.floor(at / 1000) * 1000;
const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

describe('MTN MoMo simulator: the partner portal CSV statement', () => {
  const paid = [1, 2, 4, 5];
  const receipts = new Map<number, string>();
  let betweenBatches = 0;

  beforeAll(async () => {
    ugx.setFaults({ rules: [{ pattern: '^256772000003$', fault: 'fail', reason: 'NOT_ALLOWED' }, { pattern: '^256772000002$', fault: 'reverse-after-success', delayMs: 0 }] });
    const momo = client('ugx');
    // 2 last: its reversal comes after its callback, so after every line of the batch.
    for (const n of [1, 3, 2]) expect((await momo.submit(request(n, 'UGX', 50_000n))).kind).toBe('pending');
    await ugx.drained();
    // The next batch starts in a later second, so a period can begin between the two.
    betweenBatches = second(Date.now()) + 1000;
    await new Promise((r) => setTimeout(r, betweenBatches - Date.now() + 5));
    for (const n of [4, 5]) expect((await momo.submit(request(n, 'UGX', 120_000n))).kind).toBe('pending');
    await ugx.drained();
    for (const n of paid) {
      const status = await momo.status(query(n, 'UGX'));
      expect(status).toMatchObject({ kind: 'paid' });
      if (status.kind === 'paid') receipts.set(n, status.providerReference!);
    }
  });

  it('when the statement is read as CSV, then it is the column-header line and one line per transfer and reversal, oldest first, of the mapping\'s shape', async () => {
    const { status, type, text } = await statementOf('ugx');
    expect(status).toBe(200);
    expect(type).toMatch(/^text\/csv/);
    const lines = text.split('\r\n');
    expect(lines[0]).toBe('Id,Date,Status,Type,From,From Name,To,To Name,Amount,Fee,Balance');
    expect(isColumnHeader(format, lines[0]!)).toBe(true);
    const { header, rows } = splitStatement(format, text);
    expect(header).toEqual([]);
    const movements = expectLinesOfFormat(format, rows, 0);
    // 1 paid, 3 failed, 2 paid then reversed, 4 and 5 paid: six lines.
    expect(rows.map((r) => [r[2], r[3], r[8], r[9]])).toEqual([
      ['SUCCESSFUL', 'transfer', '-50000', '0'],
      ['FAILED', 'transfer', '-50000', '0'],
      ['SUCCESSFUL', 'transfer', '-50000', '0'],
      ['SUCCESSFUL', 'reversal', '50000', '0'],
      ['SUCCESSFUL', 'transfer', '-120000', '0'],
      ['SUCCESSFUL', 'transfer', '-120000', '0'],
    ]);
    expect(movements).toEqual([-50_000n, -50_000n, -50_000n, 50_000n, -120_000n, -120_000n]);
    // The running balance starts from the opening float; a failed line leaves it.
    expect(rows.map((r) => r[10])).toEqual(['4950000', '4950000', '4900000', '4950000', '4830000', '4710000']);
    expect(rows.map((r) => kindOf(format, r))).toEqual(['payout', 'payout', 'payout', 'reversal', 'payout', 'payout']);
    for (const r of rows) expect(format.statuses.completed.includes(r[2]!) || format.statuses.failed.includes(r[2]!)).toBe(true);
  });

  it('when a line is a paid transfer, then its Id is the financialTransactionId MoMo reported, its Date the completion in Uganda\'s time, and a reversal has an Id of its own', async () => {
    const { rows } = splitStatement(format, (await statementOf('ugx')).text);
    const json = (await (await fetch(`${base}/__control/ugx/statement?format=json`)).json()) as { referenceId: string; status: string; completedAt: string; financialTransactionId: string }[];
    const transfers = rows.filter((r) => r[3] === 'transfer' && r[2] === 'SUCCESSFUL');
    expect(transfers.map((r) => r[0])).toEqual(paid.map((n) => receipts.get(n)));
    for (const n of paid) {
      const line = json.find((l) => l.referenceId === momoReferenceId(keyOf(n)) && l.status === 'SUCCESSFUL')!;
      const row = rows.find((r) => r[0] === receipts.get(n))!;
      expect(row[1]).toBe(momoPortalTime(new Date(line.completedAt)));
      const utc = new Date(line.completedAt);
      expect(row[1]).toBe(new Date(utc.getTime() + 3 * 3600_000).toISOString().slice(0, 19).replace('T', ' '));
    }
    const reversal = rows.find((r) => r[3] === 'reversal')!;
    const ids = rows.map((r) => r[0]);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.every((id) => /^[0-9]+$/.test(id!))).toBe(true);
    expect(reversal[0]).not.toBe(receipts.get(2));
    expect(momoPortalTime(new Date(Date.UTC(2026, 0, 31, 21, 5, 9)))).toBe('2026-02-01 00:05:09');
  });

  it('when the statement names the parties, then the account is From on a transfer and To on a reversal, the payee is masked to its last three digits, the names are fake, and no payee number is anywhere', async () => {
    const { text } = await statementOf('ugx');
    const { rows } = splitStatement(format, text);
    const account = `FRI:${momoStatementAccountDefault}/MSISDN`;
    for (const r of rows) {
      const [from, fromName, to, toName] = r[3] === 'reversal' ? [r[6], r[7], r[4], r[5]] : [r[4], r[5], r[6], r[7]];
      expect(from).toBe(account);
      expect(to).toMatch(/^FRI:\*{9}[0-9]{3}\/MSISDN$/);
      expect([fromName, toName]).toEqual(['TUMA TEST ORGANISATION', 'TUMA TEST PAYEE']);
    }
    for (const n of [1, 2, 3, 4, 5]) {
      expect(text).not.toContain(msisdnOf(n).slice(1));
      expect(text).not.toContain(msisdnOf(n).slice(4));
      expect(text).toContain(`FRI:*********${msisdnOf(n).slice(-3)}/MSISDN`);
    }
    // Outside the amounts, every run of seven digits or more is an Id or the account's own number.
    const ids = new Set(rows.map((r) => r[0]));
    const words = rows.flatMap((r) => r.filter((_, i) => i < 8)).join(' ');
    for (const run of words.match(/[0-9]{7,}/g) ?? []) expect(ids.has(run) || run === momoStatementAccountDefault).toBe(true);
  });

  it('when a period is asked, then only the lines completed in [from, to) are listed and the balance runs on from the lines before it', async () => {
    const all = splitStatement(format, (await statementOf('ugx')).text).rows;
    const later = splitStatement(format, (await statementOf('ugx', { from: iso(betweenBatches), to: iso(betweenBatches + 3_600_000) })).text).rows;
    expect(later).toEqual(all.slice(4));
    const earlier = splitStatement(format, (await statementOf('ugx', { from: iso(betweenBatches - 3_600_000), to: iso(betweenBatches) })).text).rows;
    expect(earlier).toEqual(all.slice(0, 4));
    const none = await statementOf('ugx', { from: iso(betweenBatches + 3_600_000), to: iso(betweenBatches + 7_200_000) });
    expect(none.text).toBe('Id,Date,Status,Type,From,From Name,To,To Name,Amount,Fee,Balance\r\n');
    // A date alone is midnight in Uganda.
    const today = new Date(Date.now() + 3 * 3600_000).toISOString().slice(0, 10);
    const ugandanMidnight = Date.parse(`${today}T00:00:00+03:00`);
    const fromToday = splitStatement(format, (await statementOf('ugx', { from: today, to: iso(betweenBatches + 3_600_000) })).text).rows;
    expect(fromToday.length).toBe(all.filter((r) => Date.parse(`${r[1]!.replace(' ', 'T')}+03:00`) >= ugandanMidnight).length);
  });

  it.each([
    ['a from that is not a time', { from: 'yesterday' }],
    ['a to before from', { from: '2026-03-02T00:00:00Z', to: '2026-03-01T00:00:00Z' }],
    ['a period longer than 366 days', { from: '2024-01-01T00:00:00Z', to: '2025-06-01T00:00:00Z' }],
    ['a to with milliseconds that are not zero', { to: '2026-03-01T00:00:00.123Z' }],
  ])('when the statement is asked for %s, then it is refused with 400', async (_what, params) => {
    for (const f of ['csv', 'json']) {
      const res = await fetch(`${base}/__control/ugx/statement?${new URLSearchParams({ format: f, ...params }).toString()}`);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: string }).error).toEqual(expect.any(String));
    }
  });

  it('when the statement is read as JSON, then it still lists the simulator\'s own lines, and a period filters them', async () => {
    const json = (await (await fetch(`${base}/__control/ugx/statement?format=json`)).json()) as { status: string; payee: string }[];
    expect(json.map((l) => l.status)).toEqual(['SUCCESSFUL', 'FAILED', 'SUCCESSFUL', 'REVERSED', 'SUCCESSFUL', 'SUCCESSFUL']);
    const later = (await (await fetch(`${base}/__control/ugx/statement?format=json&from=${iso(betweenBatches)}&to=${iso(betweenBatches + 3_600_000)}`)).json()) as unknown[];
    expect(later).toHaveLength(2);
  });

  it('when the currency has two decimals, then the amounts, fee and balance are written with two', async () => {
    const momo = client('eur');
    expect((await momo.submit(request(11, 'EUR', 12_50n))).kind).toBe('pending');
    await eur.drained();
    const { text } = await statementOf('eur');
    const { rows } = splitStatement(format, text);
    expectLinesOfFormat(format, rows, 2);
    expect(rows.map((r) => [r[2], r[8], r[9], r[10]])).toEqual([['SUCCESSFUL', '-12.50', '0.00', '999999987.50']]);
  });
});

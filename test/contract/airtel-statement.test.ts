// The Airtel simulator's CSV statement is Airtel's statement "Format 1" as airtel-statement-csv@1
// maps it: the header block (Customer Name, Mobile Number, the balances and totals written
// `ZMW 1,000.00`), the 8 columns, one line per disbursement that ended in the period and one per
// reversal, times in Zambia's to the minute on a 12-hour clock, unsigned amounts with a
// Credit/Debit flag, the running balance from the opening float, the payee masked; a bad or too
// long period is refused.
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { generateKeyPairSync } from 'node:crypto';
import express from 'express';
import { pino } from 'pino';
import { AirtelClient } from '../../src/adapters/providers/airtel/airtel-client.js';
import { airtelTransactionId } from '../../src/adapters/providers/airtel/mapping.js';
import { encryptAirtelPin } from '../../src/adapters/providers/airtel/pin.js';
import { isColumnHeader } from '../../src/domain/reconciliation.js';
import { airtelStatementCsvV1 as format } from '../../src/domain/statement-formats.js';
import { airtelStatementAccountDefault, airtelStatementTime, createAirtelSimulator, type AirtelSimulator } from '../../src/simulator/airtel-simulator.js';
import { amountGrammar, expectLinesOfFormat, kindOf, minorOf, splitStatement } from '../support/statement-checks.js';

const logger = pino({ level: 'silent' });
const credentials = { clientId: 'airtel-client-1', clientSecret: 'airtel-secret-1' };
const encryptedPin = encryptAirtelPin('1234', generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }).toString());

let server: Server;
let simulator: AirtelSimulator;
let base: string;

beforeAll(async () => {
  simulator = createAirtelSimulator({ ...credentials, country: 'ZM', currency: 'ZMW', statementOpeningFloat: '1000000', logger });
  const app = express();
  app.use(simulator.router);
  app.use('/__control', simulator.controlRouter);
  server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  simulator.close();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

const client = () => new AirtelClient({ baseUrl: base, ...credentials, country: 'ZM', currency: 'ZMW', encryptedPin, timeoutMs: 2_000 }, logger);
const keyOf = (n: number) => `5d2c8e41-7a3b-5c9d-8e0f-${n.toString(16).padStart(12, '0')}`;
const nationalOf = (n: number) => `9771000${String(n).padStart(2, '0')}`;
const request = (n: number, amountMinor: bigint) => ({ payoutId: `p-${n}`, idempotencyKey: keyOf(n), msisdn: `+260${nationalOf(n)}`, amountMinor, currency: 'ZMW' as const, callbackUrl: `${base}/v1/callbacks/airtel/tok-${n}` });
const statementOf = async (params: Record<string, string> = {}) => {
  const res = await fetch(`${base}/__control/statement?${new URLSearchParams({ format: 'csv', ...params }).toString()}`);
  return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
};
const second = (at: number) => Math.floor(at / 1000) * 1000;
const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
const labels = ['Customer Name', 'Mobile Number', 'Opening Balance', 'Closing Balance', 'Total Credit', 'Total Debit'];

describe('Airtel simulator: the statement CSV, Format 1', () => {
  const references = new Map<number, string>();
  let betweenBatches = 0;

  beforeAll(async () => {
    simulator.setFaults({ rules: [{ pattern: `^${nationalOf(3)}$`, fault: 'fail' }, { pattern: `^${nationalOf(2)}$`, fault: 'reverse-after-success', delayMs: 0 }] });
    const airtel = client();
    // 2 last: its reversal comes after it, so after every line of the batch.
    for (const [n, amount] of [[1, 1_020_00n], [3, 500_00n], [2, 250_50n]] as const) {
      const outcome = await airtel.submit(request(n, amount));
      expect(outcome.kind).toBe(n === 3 ? 'failed' : 'paid');
      if (outcome.kind === 'paid') references.set(n, outcome.providerReference!);
    }
    await simulator.drained();
    betweenBatches = second(Date.now()) + 1000;
    await new Promise((r) => setTimeout(r, betweenBatches - Date.now() + 5));
    const outcome = await airtel.submit(request(4, 99_99n));
    expect(outcome.kind).toBe('paid');
    if (outcome.kind === 'paid') references.set(4, outcome.providerReference!);
    await simulator.drained();
  });

  it('when the statement is read as CSV, then it is the header block, the column-header line, and one line per disbursement and reversal, oldest first, of the mapping\'s shape', async () => {
    const { status, type, text } = await statementOf();
    expect(status).toBe(200);
    expect(type).toMatch(/^text\/csv/);
    const lines = text.split('\r\n');
    expect(lines.slice(0, 7)).toEqual([
      'Customer Name,TUMA TEST ORGANISATION',
      `Mobile Number,${airtelStatementAccountDefault}`,
      'Opening Balance,"ZMW 1,000,000.00"',
      'Closing Balance,"ZMW 998,880.01"',
      'Total Credit,ZMW 250.50',
      'Total Debit,"ZMW 1,370.49"',
      'Transaction ID,Transaction Date,Description,Status,Transaction Amount,Credit/Debit,Fee,Balance',
    ]);
    expect(isColumnHeader(format, lines[6]!)).toBe(true);
    const { rows } = splitStatement(format, text);
    const movements = expectLinesOfFormat(format, rows, 2);
    // 1 paid, 3 failed, 2 paid then reversed, 4 paid.
    expect(rows.map((r) => [r[3], r[4], r[5], r[6], r[7]])).toEqual([
      ['Success', '1,020.00', 'Debit', '0.00', '998,980.00'],
      ['Failed', '500.00', 'Debit', '0.00', '998,980.00'],
      ['Success', '250.50', 'Debit', '0.00', '998,729.50'],
      ['Success', '250.50', 'Credit', '0.00', '998,980.00'],
      ['Success', '99.99', 'Debit', '0.00', '998,880.01'],
    ]);
    expect(movements).toEqual([-1_020_00n, -500_00n, -250_50n, 250_50n, -99_99n]);
    expect(rows.map((r) => kindOf(format, r))).toEqual(['payout', 'payout', 'payout', 'reversal', 'payout']);
  });

  it('when the header block is read, then it has the mapping\'s labels, each balance written with the currency ZMW, and closing = opening + credits - debits - fees', async () => {
    const { header, rows } = splitStatement(format, (await statementOf()).text);
    expect(header.map((h) => h[0])).toEqual(labels);
    expect(header.every((h) => h.length === 2)).toBe(true);
    for (const field of format.header) expect(header.some((h) => h[0] === field.label)).toBe(true);
    const value = (label: string) => {
      const cell = header.find((h) => h[0] === label)![1]!;
      expect(cell.startsWith('ZMW ')).toBe(true);
      expect(cell.slice(4)).toMatch(amountGrammar(format, 2, false));
      return minorOf(cell.slice(4), 2);
    };
    const [opening, closing, credit, debit] = ['Opening Balance', 'Closing Balance', 'Total Credit', 'Total Debit'].map(value) as [bigint, bigint, bigint, bigint];
    const completed = rows.filter((r) => r[3] === 'Success');
    const sum = (direction: string) => completed.filter((r) => r[5] === direction).reduce((s, r) => s + minorOf(r[4]!, 2), 0n);
    const fees = completed.reduce((s, r) => s + minorOf(r[6]!, 2), 0n);
    expect([credit, debit]).toEqual([sum('Credit'), sum('Debit')]);
    expect(closing).toBe(opening + credit - debit - fees);
    expect(minorOf(rows.at(-1)![7]!, 2)).toBe(closing);
  });

  it('when a line is a disbursement, then its Transaction ID is the airtel_money_id Airtel reported and its date the completion in Zambia\'s time to the minute; a reversal has an id of its own and names the one it reverses', async () => {
    const { rows } = splitStatement(format, (await statementOf()).text);
    const json = (await (await fetch(`${base}/__control/statement?format=json`)).json()) as { transactionId: string; airtelMoneyId: string; status: string; completedAt: string }[];
    expect(rows.filter((r) => r[3] === 'Success' && r[5] === 'Debit').map((r) => r[0])).toEqual([1, 2, 4].map((n) => references.get(n)));
    for (const r of rows) expect(r[1]).toMatch(/^\d{2}-\d{2}-\d{2} (0[1-9]|1[0-2]):[0-5]\d (AM|PM)$/);
    for (const n of [1, 2, 4]) {
      const line = json.find((l) => l.transactionId === airtelTransactionId(keyOf(n)) && l.status === 'TS')!;
      const row = rows.find((r) => r[0] === references.get(n))!;
      expect(row[1]).toBe(airtelStatementTime(new Date(line.completedAt)));
      expect(row[2]).toBe(`Disbursement to ******${nationalOf(n).slice(-3)}`);
    }
    const reversal = rows.find((r) => r[5] === 'Credit')!;
    expect(reversal[2]).toBe(`Reversal of ${references.get(2)}`);
    expect(reversal[0]).toMatch(/^AM[0-9]{10}$/);
    expect(new Set(rows.map((r) => r[0])).size).toBe(rows.length);
    // A 12-hour clock: midnight and noon are 12, in Zambia (UTC+2).
    expect(airtelStatementTime(new Date(Date.UTC(2026, 0, 31, 22, 5, 59)))).toBe('01-02-26 12:05 AM');
    expect(airtelStatementTime(new Date(Date.UTC(2026, 1, 1, 10, 5)))).toBe('01-02-26 12:05 PM');
    expect(airtelStatementTime(new Date(Date.UTC(2026, 1, 1, 11, 59)))).toBe('01-02-26 01:59 PM');
    expect(airtelStatementTime(new Date(Date.UTC(2026, 1, 1, 7, 17)))).toBe('01-02-26 09:17 AM');
  });

  it('when the statement is read, then no payee number is in it: each is masked to its last three digits', async () => {
    const { text } = await statementOf();
    for (const n of [1, 2, 3, 4]) {
      expect(text).not.toContain(nationalOf(n));
      expect(text).not.toContain(`260${nationalOf(n)}`);
      expect(text).not.toContain(nationalOf(n).slice(2));
    }
    const { rows } = splitStatement(format, text);
    for (const r of rows.filter((row) => row[5] === 'Debit')) expect(r[2]).toMatch(/^Disbursement to \*{6}[0-9]{3}$/);
    // Outside the amounts, every run of seven digits or more is an id or the account's own number.
    const words = [...splitStatement(format, text).header.flat(), ...rows.flatMap((r) => r.slice(0, 3))].join(' ');
    const ids = new Set(rows.map((r) => r[0]!.replace(/^AM/, '')));
    for (const run of words.match(/[0-9]{7,}/g) ?? []) expect(ids.has(run) || run === airtelStatementAccountDefault).toBe(true);
  });

  it('when a period is asked, then only the lines of [from, to) are listed and the header\'s balances are the period\'s', async () => {
    const all = splitStatement(format, (await statementOf()).text).rows;
    const later = splitStatement(format, (await statementOf({ from: iso(betweenBatches), to: iso(betweenBatches + 3_600_000) })).text);
    expect(later.rows).toEqual(all.slice(4));
    expect(later.header.slice(2).map((h) => h[1])).toEqual(['ZMW 998,980.00', 'ZMW 998,880.01', 'ZMW 0.00', 'ZMW 99.99']);
    const earlier = splitStatement(format, (await statementOf({ from: iso(betweenBatches - 3_600_000), to: iso(betweenBatches) })).text);
    expect(earlier.rows).toEqual(all.slice(0, 4));
    expect(earlier.header.slice(2).map((h) => h[1])).toEqual(['ZMW 1,000,000.00', 'ZMW 998,980.00', 'ZMW 250.50', 'ZMW 1,270.50']);
    // A date alone is midnight in Zambia.
    const today = new Date(Date.now() + 2 * 3600_000).toISOString().slice(0, 10);
    const zambianMidnight = Date.parse(`${today}T00:00:00+02:00`);
    const json = (await (await fetch(`${base}/__control/statement?format=json`)).json()) as { completedAt: string }[];
    const fromToday = splitStatement(format, (await statementOf({ from: today, to: iso(betweenBatches + 3_600_000) })).text).rows;
    expect(fromToday.length).toBe(json.filter((l) => Date.parse(l.completedAt) >= zambianMidnight).length);
  });

  it.each([
    ['a from that is not a time', { from: 'yesterday' }],
    ['a to before from', { from: '2026-03-02T00:00:00Z', to: '2026-03-01T00:00:00Z' }],
    ['a period longer than 366 days', { from: '2024-01-01', to: '2025-06-01' }],
  ])('when the statement is asked for %s, then it is refused with 400', async (_what, params) => {
    for (const f of ['csv', 'json']) {
      const res = await fetch(`${base}/__control/statement?${new URLSearchParams({ format: f, ...params }).toString()}`);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: string }).error).toEqual(expect.any(String));
    }
  });
});

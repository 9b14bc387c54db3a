// The MT940 reader: a bank's MT940 statement in, the entries CSV of mt940V1 out, as a stream.
import { readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { isColumnHeader, parseStatementHeader, splitCsvLine } from '../../src/domain/reconciliation.js';
import { mt940V1, camt053V1 } from '../../src/domain/statement-formats.js';
import { StatementReadError } from '../../src/adapters/statement-readers/limits.js';
import { createMt940Reader, pendingMemoryBytes } from '../../src/adapters/statement-readers/mt940-reader.js';
import { clearKenyanNumber } from '../support/privacy.js';

const fixture = readFileSync(join(import.meta.dirname, '../fixtures/statements/bank-mt940.sta'));

/** The reader's whole output for `chunks`, consumed as the importer would (a pipeline into a sink). */
async function read(reader: Transform, chunks: readonly Buffer[], sink?: Writable): Promise<string> {
  const out: Buffer[] = [];
  await pipeline(Readable.from(chunks), reader, sink ?? new Writable({ write(c: Buffer, _e, cb) { out.push(c); cb(); } }));
  return Buffer.concat(out).toString('utf8');
}

const bytesOf = (lines: readonly string[]): Buffer => Buffer.from(`${lines.join('\r\n')}\r\n`, 'latin1');
const heldDirs = (): string[] => readdirSync(tmpdir()).filter((d) => d.startsWith('tuma-mt940-'));
const oneByOne = (b: Buffer): Buffer[] => Array.from(b, (byte) => Buffer.from([byte]));

/** The refusal of `lines`: a StatementReadError whose words quote nothing of the file. */
async function refusal(lines: readonly string[], limits?: Parameters<typeof createMt940Reader>[1]): Promise<StatementReadError> {
  const error = await read(createMt940Reader(mt940V1, limits), [bytesOf(lines)]).then(() => null, (e: unknown) => e);
  expect(error).toBeInstanceOf(StatementReadError);
  const problem = (error as StatementReadError).problem;
  expect((error as StatementReadError).message).toBe(problem);
  for (const word of quotable(lines)) expect(problem).not.toContain(word);
  return error as StatementReadError;
}

/** The file's values that an error must never quote: every run of 4+ letters or digits but the tags and field names it may name. */
function quotable(lines: readonly string[]): string[] {
  const words = new Set(lines.join('\n').match(/[A-Za-z0-9]{4,}/g) ?? []);
  for (const allowed of ['NONREF', 'STMT']) words.delete(allowed);
  return [...words].filter((w) => !/^(20|25|28C|60F|60M|61|62F|62M|64|86)$/.test(w));
}

/** A small valid statement, to be broken one field at a time. */
const statement = (overrides: { opening?: string; entries?: string[]; closing?: string[] } = {}): string[] => [
  ':20:STMT0001',
  ':25:9876543210',
  ':28C:1/1',
  overrides.opening ?? ':60F:C260601KES1000,00',
  ...(overrides.entries ?? [':61:2606010601D100,00NTRFTUMA-AAA111//BNK0001', ':86:PAID TO WANJIRU AKINYI 254711222333']),
  ...(overrides.closing ?? [':62F:C260601KES900,00']),
  '-',
];

const expected = [
  'Account,KCBLKENX/1234567890123',
  'Currency,KES',
  'Time Period,From 2026-06-01 00:00:00 To 2026-06-02 23:59:59',
  'Opening Balance,5000000.00',
  'Closing Balance,5749850.50',
  'Entry Reference,Booked At,Status,Amount,Entry Type,Linked Reference,Our Reference,Balance,Source Line',
  'FT26152ABC01,2026-06-01 00:00:00,Booked,-250000.00,payout,,TUMA-B7K2Q9,,6',
  'FT26152ABC02,2026-06-01 00:00:00,Booked,-180000,payout,,TUMA-C3M8R1,,11',
  'FT26152CHG01,2026-06-01 00:00:00,Booked,-150.00,charge,,,,14',
  'FT26153REV01,2026-06-02 00:00:00,Booked,180000,reversal,,TUMA-C3M8R1,,16',
  'FT26153TOP01,2026-06-02 00:00:00,Booked,1000000.5,other,,,,19',
].map((l) => `${l}\r\n`).join('');

describe('MT940 reader: what it writes', () => {
  test('when the bank fixture is read, then the output is the header block and one line per entry, byte for byte', async () => {
    expect(await read(createMt940Reader(mt940V1), [fixture])).toBe(expected);
  });

  test('when the fixture comes one byte at a time, then the output is the same', async () => {
    expect(await read(createMt940Reader(mt940V1), oneByOne(fixture))).toBe(expected);
  });

  test('when the fixture is read, then no name, phone number or narrative of :86: or of :61:\'s second line is written', async () => {
    const out = await read(createMt940Reader(mt940V1), [fixture]);
    for (const text of ['AMINA', 'WANJIRU', 'OTIENO', 'JOSEPH', 'KAMAU', 'MWANGI', 'EASTLEIGH', 'UNHCR', 'WALLET', 'OCMT', 'HUMANITARIAN', '254712345678', '254722000111']) {
      expect(out).not.toContain(text);
    }
    expect(out).not.toMatch(clearKenyanNumber);
  });

  test('when the output is read as the importer reads it, then the header block parses and the column header is the mapping\'s', async () => {
    const lines = (await read(createMt940Reader(mt940V1), [fixture])).split('\r\n');
    expect(isColumnHeader(mt940V1, lines[5] ?? '')).toBe(true);
    const header = parseStatementHeader(mt940V1, lines.slice(0, 5), 'KES');
    expect(header).toEqual({
      ok: true,
      value: expect.objectContaining({
        period: { from: new Date('2026-06-01T00:00:00Z'), to: new Date('2026-06-03T00:00:00Z') },
        balances: { openingMinor: 500000000n, closingMinor: 574985050n },
      }),
    });
    for (const line of lines.slice(6, -1)) expect(splitCsvLine(line)).toHaveLength(mt940V1.columns.length);
    expect(lines.at(-1)).toBe('');
  });

  test('when an entry has no bank reference, its customer reference is the entry reference; NONREF is never our reference', async () => {
    const out = await read(createMt940Reader(mt940V1), [bytesOf(statement({ entries: [':61:2606010601D35,NCOMCOMM260601', ':61:2606010601C35,NTRFNONREF//BNK02'], closing: [':62F:C260601KES1000,00'] }))]);
    expect(out.split('\r\n').slice(6, 8)).toEqual(['COMM260601,2026-06-01 00:00:00,Booked,-35,charge,,COMM260601,,5', 'BNK02,2026-06-01 00:00:00,Booked,35,other,,,,6']);
  });

  test('when marks, funds codes and amounts vary, then RC is a negative reversal, RD a positive one, and the digits are the file\'s', async () => {
    const entries = [
      ':61:260601RCS0001,NTRFX//R1', ':61:260601RD0,50NTRFX//R2', ':61:260601C00012,340NMSCX//R3', ':61:2606010601D0,NTRFX//R4', ':61:260601CS999999999999999,NTRFX//R5',
    ];
    const out = await read(createMt940Reader(mt940V1), [bytesOf(statement({ entries, closing: [':62F:D260601KES0,'] }))]);
    expect(out.split('\r\n').slice(3, 12)).toEqual([
      'Opening Balance,1000.00',
      'Closing Balance,0',
      'Entry Reference,Booked At,Status,Amount,Entry Type,Linked Reference,Our Reference,Balance,Source Line',
      'R1,2026-06-01 00:00:00,Booked,-1,reversal,,X,,5',
      'R2,2026-06-01 00:00:00,Booked,0.50,reversal,,X,,6',
      'R3,2026-06-01 00:00:00,Booked,12.340,other,,X,,7',
      'R4,2026-06-01 00:00:00,Booked,0,payout,,X,,8',
      'R5,2026-06-01 00:00:00,Booked,999999999999999,other,,X,,9',
      '',
    ]);
  });

  test('when a reference holds a comma, then its field is quoted', async () => {
    const out = await read(createMt940Reader(mt940V1), [bytesOf(statement({ entries: [':61:260601D1,NTRFA,B//C\'D,E'] }))]);
    expect(out.split('\r\n')[6]).toBe('"C\'D,E",2026-06-01 00:00:00,Booked,-1,payout,,"A,B",,5');
  });

  test('when a statement has no entries, then the header block alone is written', async () => {
    const out = await read(createMt940Reader(mt940V1), [bytesOf(statement({ entries: [], closing: [':62F:C260602KES1000,00'] }))]);
    expect(out.split('\r\n')).toHaveLength(7);
    expect(out).toContain('Time Period,From 2026-06-01 00:00:00 To 2026-06-02 23:59:59\r\n');
  });

  test('when the entries outgrow memory, then they wait in a temporary file and come out whole, in order, to a slow consumer', async () => {
    const count = Math.ceil((3 * pendingMemoryBytes) / 60);
    const entries = Array.from({ length: count }, (_, i) => `:61:260601D1,00NTRFTUMA-${i}//B${String(i).padStart(8, '0')}\r\n:86:WANJIRU`);
    const file = bytesOf(statement({ entries, closing: [':62F:C260601KES0,00'] }));
    const out: Buffer[] = [];
    let held: string[] = [];
    const slow = new Writable({
      highWaterMark: 1024,
      write(c: Buffer, _e, cb) {
        if (out.length === 0) held = heldDirs();
        out.push(c);
        setImmediate(cb);
      },
    });
    await read(createMt940Reader(mt940V1), [file], slow);
    const lines = Buffer.concat(out).toString('utf8').split('\r\n');
    expect(lines).toHaveLength(6 + count + 1);
    expect(lines[6]).toBe('B00000000,2026-06-01 00:00:00,Booked,-1.00,payout,,TUMA-0,,5');
    expect(lines[6 + count - 1]).toBe(`B${String(count - 1).padStart(8, '0')},2026-06-01 00:00:00,Booked,-1.00,payout,,TUMA-${count - 1},,${5 + 2 * (count - 1)}`);
    expect(held.length).toBeGreaterThan(0);
    expect(heldDirs().filter((d) => held.includes(d))).toEqual([]);
  }, 30_000);

  test('when the consumer fails while held entries are written out, then the temporary file is removed', async () => {
    const entries = Array.from({ length: Math.ceil((2 * pendingMemoryBytes) / 60) }, (_, i) => `:61:260601D1,00NTRFTUMA-${i}//B${i}`);
    const before = heldDirs();
    let held: string[] = [];
    const failing = new Writable({ write(_c: Buffer, _e, cb) { held = heldDirs().filter((d) => !before.includes(d)); cb(new Error('the database went away')); } });
    await expect(read(createMt940Reader(mt940V1), [bytesOf(statement({ entries }))], failing)).rejects.toThrow('the database went away');
    expect(held.length).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(heldDirs().filter((d) => held.includes(d))).toEqual([]);
  }, 30_000);
});

describe('MT940 reader: what it refuses, saying where and never what', () => {
  test('when an amount is not an amount, then the line is named', async () => {
    const e = await refusal(statement({ entries: [':61:260601D1O0,00NTRFTUMA-AAA111//BNK0001'] }));
    expect(e.line).toBe(5);
    expect(e.problem).toMatch(/^line 5: :61: is not a statement line/);
    await refusal(statement({ opening: ':60F:C260601KES1.000,00' }));
  });

  test('when an amount has more than 15 integer digits, then it is refused', async () => {
    expect((await refusal(statement({ entries: [':61:260601D1234567890123456,NTRFTUMA-AAA111//BNK0001'] }))).problem).toMatch(/more than 15 integer digits/);
    expect((await refusal(statement({ closing: [':62F:C260601KES1234567890123456,'] }))).problem).toMatch(/:62F: its amount has more than 15/);
  });

  test('when a date is no calendar date (30 February), then it is refused', async () => {
    expect((await refusal(statement({ entries: [':61:260230D1,NTRFTUMA-AAA111//BNK0001'] }))).problem).toBe('line 5: :61: its value date is no calendar date');
    expect((await refusal(statement({ entries: [':61:2606011332D1,NTRFTUMA-AAA111//BNK0001'] }))).problem).toMatch(/entry date is no calendar date/);
    expect((await refusal(statement({ opening: ':60F:C260230KES1000,00' }))).problem).toMatch(/:60F: its date is no calendar date/);
  });

  test('when :62F: is missing (a file cut short), or :62M: stands in for it, then it is refused', async () => {
    const cut = statement().slice(0, 5);
    expect((await refusal(cut)).problem).toMatch(/missing :62F:/);
    expect((await refusal(statement({ closing: [':62M:C260601KES900,00'] }))).problem).toMatch(/:62M:.*one whole statement per file/);
    const truncated = await read(createMt940Reader(mt940V1), [fixture.subarray(0, fixture.indexOf(':62F:') + 9)]).then(() => null, (e: unknown) => e);
    expect(truncated).toBeInstanceOf(StatementReadError);
    expect((truncated as StatementReadError).problem).toBe('line 22: :62F: is not a balance (C or D, date YYMMDD, currency, amount with a decimal comma)');
    const midEntry = await read(createMt940Reader(mt940V1), [fixture.subarray(0, fixture.indexOf('ABC02') - 3)]).then(() => null, (e: unknown) => e);
    expect((midEntry as StatementReadError).problem).toBe('missing :62F: (the closing balance): the file may be cut short');
  });

  test('when a file holds two statements, then it is refused, not merged', async () => {
    const e = await refusal([...statement(), ...statement()]);
    expect(e.problem).toMatch(/^line 9: a second :20:: the file holds more than one statement/);
    expect(e.line).toBe(9);
  });

  test('when a field, or a line without end, is longer than the limit, then it is refused', async () => {
    const long = `:86:${'WANJIRU '.repeat(20)}`;
    expect((await refusal(statement({ entries: [':61:260601D1,NTRFX//B1', long] }), { fieldCharsMax: 100 })).problem).toBe('line 6: field :86: longer than 100 characters');
    expect((await refusal(statement({ entries: [':61:260601D1,NTRFX//B1', ':86:A', 'WANJIRU AKINYI', 'WANJIRU AKINYI'] }), { fieldCharsMax: 20 })).problem).toMatch(/^line 8: field :86: longer than 20/);
    const noEnd = Buffer.from(`:20:X\r\n:86:${'A'.repeat(200)}`);
    const e = await read(createMt940Reader(mt940V1, { fieldCharsMax: 100 }), oneByOne(noEnd)).then(() => null, (x: unknown) => x);
    expect((e as StatementReadError).problem).toBe('line 2: longer than 100 characters');
  });

  test('when a balance or an entry is in another currency than the statement, then it is refused', async () => {
    expect((await refusal(statement({ closing: [':62F:C260601UGX900,00'] }))).problem).toMatch(/:62F: its currency is not the opening balance's/);
    expect((await refusal(statement({ entries: [':61:260601DX1,NTRFX//B1'] }))).problem).toMatch(/funds code is not the statement's currency/);
  });

  test('when the statement lacks what the header needs, or puts fields out of order, then it is refused', async () => {
    expect((await refusal(statement().filter((l) => !l.startsWith(':25:')))).problem).toMatch(/missing :25:/);
    expect((await refusal(statement({ opening: ':28C:1/1' }))).problem).toMatch(/:61: outside the entries/);
    expect((await refusal(statement().slice(1))).problem).toMatch(/:25: before :20:/);
    expect((await refusal([...statement().slice(0, -1), ':61:260601D1,NTRFX//B1'])).problem).toMatch(/:61: outside the entries/);
    expect((await refusal(statement({ closing: [':62F:C260531KES900,00'] }))).problem).toMatch(/dated before the opening balance/);
    expect((await refusal(statement({ entries: [':61:260601D1,NTRFNONREF'] }))).problem).toMatch(/no reference/);
    expect((await refusal(statement({ entries: [':61:260601D1,NTRFX//B1234567890123456'] }))).problem).toMatch(/bank reference is not 0-16 SWIFT characters/);
    expect((await refusal(statement({ entries: [':61:260601D1,NTRFX//B1\u00e9'] }))).problem).toMatch(/bank reference is not 0-16 SWIFT characters/);
  });

  test('when a file is empty, not MT940, larger than allowed or has too many entries, then it is refused', async () => {
    await expect(read(createMt940Reader(mt940V1), [])).rejects.toThrow(new StatementReadError('the file is empty'));
    expect((await refusal(['Receipt No.,Completion Time', 'ABC123,01-06-2026 10:00:00'])).problem).toMatch(/no :20:/);
    expect((await refusal(statement(), { bytesMax: 40 })).problem).toBe('the file is larger than 40 bytes');
    expect((await refusal(statement({ entries: [':61:260601D1,NTRFX//B1', ':61:260601D1,NTRFX//B2'] }), { entriesMax: 1 })).problem).toBe('line 6: more than 1 entries');
  });

  test('when the reader is made for another container, then that is a programming error', () => {
    expect(() => createMt940Reader(camt053V1)).toThrow(/invariant violated/);
    expect(() => createMt940Reader(mt940V1, { fieldCharsMax: 0 })).toThrow(/invariant violated/);
  });
});

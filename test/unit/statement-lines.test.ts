// A statement's data lines read and checked while the bytes stream (issue #14): the domain's
// line checks against the rules the SQL pass wrote (amount shapes, the day's times, LIKE), and
// the CSV reader against what COPY (FORMAT csv) did: its cells, its line numbers, its refusals,
// whatever the chunking of the bytes. test/integration/statement-lines.test.ts compares both with
// PostgreSQL itself.
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import fc from 'fast-check';
import { amountShapesOf, isAmountShape } from '../../src/domain/reconciliation.js';
import { mpesaOrgPortalCsvV1, statementFormats } from '../../src/domain/statement-formats.js';
import {
  amountGrammarOf, characterLength, likeLowered, likePattern, lowerAscii, statementLineCheckOf, timeOfDaySeconds, type StatementLineCheck,
} from '../../src/domain/statement-lines.js';
import { csvCells, endOfDataLineProblem, firstInvalidUtf8, StatementLineRefusal, StatementLinesToCopy, type EndOfDataLine } from '../../src/application/statement-lines.js';

/** The rows StatementLinesToCopy writes for `chunks`, or the refusal it ends with. */
async function toCopy(
  chunks: readonly Buffer[], columns = 3, check: StatementLineCheck = () => null, endOfDataLine: EndOfDataLine = 'refuse',
): Promise<{ rows: string[]; refusal?: StatementLineRefusal['problem'] }> {
  const stage = new StatementLinesToCopy(columns, check, endOfDataLine);
  const out: Buffer[] = [];
  try {
    await pipeline(Readable.from(chunks), stage, new Writable({ write(c: Buffer, _e, cb) { out.push(c); cb(); } }));
  } catch (error) {
    if (error instanceof StatementLineRefusal) return { rows: rowsOf(out), refusal: error.problem };
    throw error;
  }
  return { rows: rowsOf(out) };
}
const rowsOf = (out: Buffer[]): string[] => Buffer.concat(out).toString('utf8').split('\n').filter((r) => r !== '');
/** The cells of each written (bad) row: the text[] literal as written (COPY text escapes undone for the test's inputs). */
const cellsOf = (row: string): string => row.split('\t')[11] ?? '';

describe('the amount grammar', () => {
  test('when any text over digits, comma, point and minus is read, then the grammar and the SQL pass\'s shapes agree on it', () => {
    const settings = [[2, ',', false], [2, ',', true], [0, ',', false], [0, null, true], [2, null, true], [3, null, false], [3, ',', true]] as const;
    fc.assert(fc.property(fc.string({ unit: fc.constantFrom('0', '1', '9', ',', '.', '-', ' ', 'x'), maxLength: 24 }), fc.constantFrom(...settings), (text, [scale, thousands, upTo]) => {
      const signed = amountGrammarOf(scale, thousands, upTo, true).test(text);
      expect(signed).toBe(isAmountShape(text, scale, thousands, upTo));
      const { shapes } = amountShapesOf(scale, thousands, upTo);
      const unsigned = amountGrammarOf(scale, thousands, upTo, false).test(text);
      expect(unsigned).toBe(signed && shapes.includes(text.replace(/[0-9]/g, '9')) && !text.startsWith('-'));
    }), { numRuns: 20_000 });
  });
});

describe('the time of day', () => {
  test('when every time of a day is written as the SQL pass generates them, then each is read as its offset, and nothing else is', () => {
    const pad = (n: number) => String(n).padStart(2, '0');
    const seen = new Set<string>();
    const wrong: string[] = [];
    for (let i = 0; i < 86_400; i += 1) {
      const hms = ` ${pad(Math.trunc(i / 3600))}:${pad(Math.trunc(i / 60) % 60)}:${pad(i % 60)}`;
      seen.add(hms);
      if (timeOfDaySeconds(hms, 'DD-MM-YYYY HH:MM:SS') !== i || timeOfDaySeconds(hms, 'YYYY-MM-DD HH:MM:SS') !== i) wrong.push(hms);
    }
    for (let i = 0; i < 1440; i += 1) {
      const hm = ` ${pad((Math.trunc(i / 60) + 11) % 12 + 1)}:${pad(i % 60)} ${i < 720 ? 'AM' : 'PM'}`;
      seen.add(hm);
      if (timeOfDaySeconds(hm, 'DD-MM-YY hh:mm AM') !== i * 60) wrong.push(hm);
    }
    expect(wrong).toEqual([]);
    fc.assert(fc.property(fc.string({ unit: fc.constantFrom('0', '1', '2', '5', '9', ':', ' ', 'A', 'P', 'M', 'a'), minLength: 8, maxLength: 10 }), (text) => {
      for (const f of ['DD-MM-YYYY HH:MM:SS', 'DD-MM-YY hh:mm AM'] as const) {
        if (!seen.has(text) && timeOfDaySeconds(text, f) !== null) return false;
      }
      return true;
    }), { numRuns: 20_000 });
    for (const bad of [' 24:00:00', ' 23:60:00', ' 23:59:60', '23:59:59 ', ' 1:00:00', ' 00:00 AM', ' 13:00 PM', ' 12:00 am', ' 12:00  AM']) {
      expect(timeOfDaySeconds(bad, bad.length === 9 && bad.endsWith('M') ? 'DD-MM-YY hh:mm AM' : 'DD-MM-YYYY HH:MM:SS')).toBeNull();
    }
  });
});

describe('LIKE, lower() and length() as PostgreSQL has them', () => {
  test('when patterns are matched, then % is any run, _ one character (a code point), \\ escapes, and nothing else is special', () => {
    expect(likePattern('%charge%').test('b2c payment charge')).toBe(true);
    expect(likePattern('%charge%').test('b2c payment\ncharge paid')).toBe(true);
    expect(likePattern('reversal%').test('a reversal')).toBe(false);
    expect(likePattern('a_c').test('a𝟘c')).toBe(true);
    expect(likePattern('a_c').test('abbc')).toBe(false);
    expect(likePattern('a\\%').test('a%')).toBe(true);
    expect(likePattern('a\\%').test('ab')).toBe(false);
    expect(likePattern('(x).*[y]').test('(x).*[y]')).toBe(true);
    expect(likePattern('(x).*[y]').test('(x)aa[y]')).toBe(false);
    expect(likePattern('%').test('')).toBe(true);
    expect(likePattern('%%').test('x')).toBe(true);
  });

  test('when text is matched as lower(text) LIKE lower(pattern) in the "C" collation, then only ASCII letters fold, whichever way the pattern is matched', () => {
    const charge = likeLowered('%Charge%');
    expect(charge('B2C PAYMENT CHARGE')).toBe(true);
    expect(charge('b2c payment charge paid')).toBe(true);
    // U+017F (long s) and U+212A (Kelvin) fold to s and k in Unicode, never in lower() of "C".
    expect(likeLowered('%s%')('\u017F')).toBe(false);
    expect(likeLowered('k%')('\u212A')).toBe(false);
    expect(likeLowered('k_')('\u212Ax')).toBe(false);
    expect(likeLowered('k_')('Kx')).toBe(true);
    expect(likeLowered('É%')('é')).toBe(false);
    expect(likeLowered('É%')('É')).toBe(true);
    expect(likeLowered('é%')('É')).toBe(false);
    fc.assert(fc.property(fc.string({ unit: fc.constantFrom('a', 'A', 'k', 'K', 's', 'S', '\u017F', '\u212A', 'é', 'É', '%', '_', '\\', '.', '𝟘'), maxLength: 6 }),
      fc.string({ unit: fc.constantFrom('a', 'A', 'k', 'K', 's', 'S', '\u017F', '\u212A', 'é', 'É', '%', '_', '\\', '.', '𝟘', '\n'), maxLength: 8 }), (pattern, text) => {
        if (/(^|[^\\])(\\\\)*\\$/.test(pattern)) return;
        expect(likeLowered(pattern)(text)).toBe(likePattern(lowerAscii(pattern)).test(lowerAscii(text)));
      }), { numRuns: 20_000 });
  });

  test('when text is lowered or measured, then only ASCII letters change and characters are code points', () => {
    expect(lowerAscii('Business PAYMENT Ä É')).toBe('business payment Ä É');
    expect(characterLength('𝟘'.repeat(100))).toBe(100);
    expect(characterLength('é'.repeat(3))).toBe(3);
  });
});

describe('checking a line', () => {
  const period = { from: new Date('2026-05-01T00:00:00+03:00'), to: new Date('2026-06-01T00:00:00+03:00') };
  const check = statementLineCheckOf(mpesaOrgPortalCsvV1, 2, period);
  const good = ['RKX0001', '03-05-2026 10:15:00', '03-05-2026 10:14:58', 'Business Payment to 2547****123', 'Completed', null, '-1,020.00', '4,998,980.00', 'true',
    'Business Payment to Customer via API', '2547****123 - J DOE', null, null];
  const withCell = (i: number, v: string | null) => good.map((c, k) => (k === i ? v : c));

  test('when a good M-Pesa line is checked, then its typed values are what the SQL pass computed', () => {
    expect(check(good)).toEqual({
      txn: 'RKX0001', kind: 'payout', status: 'completed', completedAtMs: Date.parse('2026-05-03T07:15:00Z'), completedAt: '2026-05-03T10:15:00+03:00',
      paidInMinor: '0', withdrawnMinor: '102000', feeMinor: '0', balanceMinor: '499898000', linked: null, ourRef: null,
    });
    expect(check(withCell(7, '-0.05'))?.balanceMinor).toBe('-5');
    expect(check(withCell(7, '-0.00'))?.balanceMinor).toBe('0');
    expect(check(withCell(9, 'B2C Payment Charge'))?.kind).toBe('charge');
    expect(check(withCell(3, 'Reversal of RKX'))?.kind).toBe('reversal');
  });

  test('when a cell is hostile, then the line is refused', () => {
    for (const [i, v] of [[0, null], [0, ''], [0, 'x'.repeat(101)], [1, '31-04-2026 10:00:00'], [1, '03-05-2026 24:00:00'], [1, '3-5-2026 10:00:00'],
      [1, '01-06-2026 00:00:00'], [1, '30-04-2026 23:59:59'], [4, 'completed'], [4, 'Completed '], [6, '1,020.0'], [6, '01,020.00'], [6, '１,020.00'],
      [6, '10000000000000000.00'], [7, '1.2.3'], [5, '1.00']] as const) {
      expect({ i, v, line: check(withCell(i, v)) }).toEqual({ i, v, line: null });
    }
    expect(check(withCell(0, '𝟘'.repeat(100)))?.txn).toBe('𝟘'.repeat(100));
    expect(check(withCell(1, '31-05-2026 23:59:59'))?.completedAtMs).toBe(Date.parse('2026-05-31T20:59:59Z'));
  });

  test('when an Airtel reversal names its transaction in Details, then only the id is kept, up to 64 characters', () => {
    const airtel = statementLineCheckOf(statementFormats.get('airtel-statement-csv@1')!, 2, period);
    const line = (details: string) => ['AM1', '03-05-26 12:00 AM', details, 'Success', '1,000.00', 'Credit', '0.00', '5,000.00'];
    expect(airtel(line('Reversal of AM0000000012 from 0977 X'))).toMatchObject({ linked: 'AM0000000012', kind: 'reversal', paidInMinor: '100000', completedAtMs: Date.parse('2026-05-02T22:00:00Z'), completedAt: '2026-05-03T00:00:00+02:00' });
    expect(airtel(['AM1', '31-05-26 01:59 PM', 'x', 'Success', '1,000.00', 'Credit', '0.00', '5,000.00'])?.completedAt).toBe('2026-05-31T13:59:00+02:00');
    expect(airtel(line(`Reversal of ${'A'.repeat(65)}`))?.linked).toBeNull();
    expect(airtel(line('Reversal of AM1,x'))?.linked).toBeNull();
    expect(airtel([...line('x').slice(0, 5), 'credit', '0.00', '5,000.00'])).toBeNull();
  });
});

describe('reading the CSV as COPY did', () => {
  const enc = (s: string) => Buffer.from(s, 'utf8');

  test('when cells are quoted, doubled, partly quoted or empty, then each is read as COPY (FORMAT csv) read it', () => {
    expect(csvCells('a,"b,c","d""e"')).toEqual(['a', 'b,c', 'd"e']);
    expect(csvCells(',"",x')).toEqual([null, '', 'x']);
    expect(csvCells('ab"c,d"e,f')).toEqual(['abc,de', 'f']);
    expect(csvCells('"a\nb",c')).toEqual(['a\nb', 'c']);
    expect(csvCells('"a,b')).toBeNull();
    expect(csvCells('a,')).toEqual(['a', null]);
    // A cell quoted whole (the common one), at the end, empty, or followed by more of the cell.
    expect(csvCells('x,"y"')).toEqual(['x', 'y']);
    expect(csvCells('"",')).toEqual(['', null]);
    expect(csvCells('"a"b,c')).toEqual(['ab', 'c']);
    expect(csvCells('"a""b",c')).toEqual(['a"b', 'c']);
    expect(csvCells('"a",b"c""d"')).toEqual(['a', 'bc"d']);
    expect(csvCells('"a"x')).toEqual(['ax']);
    expect(csvCells('"a","b')).toBeNull();
  });

  test('when the bytes are not UTF-8 or hold a NUL, then the first such byte is found', () => {
    expect(firstInvalidUtf8(enc('abc é 𝟘'))).toBe(-1);
    expect(firstInvalidUtf8(Buffer.from([0x61, 0xc3, 0x28]))).toBe(1);
    expect(firstInvalidUtf8(Buffer.from([0x61, 0xed, 0xa0, 0x80]))).toBe(1);
    expect(firstInvalidUtf8(Buffer.from([0x61, 0x62, 0x00, 0xff]))).toBe(2);
    expect(firstInvalidUtf8(Buffer.from([0x61, 0xe2, 0x82]))).toBe(1);
    expect(firstInvalidUtf8(Buffer.from([0xc0, 0x80]))).toBe(0);
  });

  test('when the same bytes come in any chunks, then the rows and the refusal are the same', async () => {
    const inputs = [
      'a,b,c\r\n"x\r\ny",,""\r\nd,"e,""f",g\r\n',
      'a,b,c\nd,e,f\n"g\nh",i,j',
      'a,b,c\nd,e\nf,g,h\n',
      'a,b,c\rd,e,f\r',
      'a,b,c\r\nd,e,f\ng,h,i\r\n',
      'a,b,c\nd,"e\nf\ng,h\n',
      'a,é,c\n\\.\nnot,read,\xff\n',
      'a,b,c\n\\.x,b,c\n',
    ];
    for (const input of inputs) {
      const bytes = enc(input);
      const whole = await toCopy([bytes]);
      await fc.assert(fc.asyncProperty(fc.uniqueArray(fc.integer({ min: 1, max: Math.max(1, bytes.length - 1) }), { maxLength: 6 }), async (cuts) => {
        const at = [0, ...cuts.sort((x, y) => x - y), bytes.length];
        const chunks = at.slice(1).map((end, k) => bytes.subarray(at[k], end));
        expect(await toCopy(chunks)).toEqual(whole);
      }), { numRuns: 60 });
    }
  });

  test('when lines are hostile, then they are refused at the line COPY named, or read as COPY read them', async () => {
    // Line counts as COPY's: one per line, and one per line break inside quotes.
    expect(await toCopy([enc('a,b,c\n"x\ny\nz",b,c\nd,e\n')])).toMatchObject({ refusal: { line: 5, column: '*', problem: 'not CSV with exactly 3 columns' } });
    expect(await toCopy([enc('a,b,c\nd,e,f,g\n')])).toMatchObject({ refusal: { line: 2, problem: 'not CSV with exactly 3 columns' } });
    expect(await toCopy([enc('a,b,c\n\n')])).toMatchObject({ refusal: { line: 2 } });
    expect(await toCopy([enc('a,b,c\nd,"e,f\n')])).toMatchObject({ refusal: { line: 3 } });
    expect(await toCopy([enc('a,b,c\nd,e\rf,g\n')])).toMatchObject({ refusal: { line: 2 } });
    expect(await toCopy([enc('a,b,c\r\nd,e,f\n')])).toMatchObject({ refusal: { line: 2 } });
    expect(await toCopy([Buffer.concat([enc('a,b,c\nd,"e\n'), Buffer.from([0xff]), enc('",f\n')])])).toMatchObject({ refusal: { line: 3, problem: 'not valid UTF-8' } });
    expect(await toCopy([Buffer.concat([enc('a,b,c\nd,e,'), Buffer.from([0x00]), enc('\n')])])).toMatchObject({ refusal: { line: 2, problem: 'not valid UTF-8' } });
    // A line before the bad bytes with too few cells is what COPY refused first.
    expect(await toCopy([Buffer.concat([enc('a,b\nd,e,'), Buffer.from([0xc3]), enc('\n')])])).toMatchObject({ refusal: { line: 1, problem: 'not CSV with exactly 3 columns' } });
    // Bytes cut short at the end of the file.
    expect(await toCopy([Buffer.concat([enc('a,b,c\nd,e,'), Buffer.from([0xe2, 0x82])])])).toMatchObject({ refusal: { line: 2, problem: 'not valid UTF-8' } });
    // `\.` alone, COPY's end-of-data marker, refuses the file at its line: the lines after it are never dropped unread.
    for (const [input, line] of [['a,b,c\n\\.\nd,e,f\n', 2], ['a,b,c\r\n"x\r\ny",b,c\r\n\\.\r\n', 4], ['\\.\n', 1], ['a,b,c\r\\.\rd,e,f\r', 2]] as const) {
      expect(await toCopy([enc(input)])).toMatchObject({ refusal: { line, column: '*', problem: endOfDataLineProblem } });
    }
    expect(await toCopy([enc('a,b,c\n\\.\n'), Buffer.from([0xff, 0x0a])])).toMatchObject({ rows: [expect.any(String)], refusal: { line: 2, problem: endOfDataLineProblem } });
    // Where `\.` is data (more after it on the line, quoted, or last without a line break), it is read as a cell.
    expect(await toCopy([enc('a,b,c\n\\.x,b,c\n"\\.",b,c\n')])).toMatchObject({ rows: [expect.any(String), expect.any(String), expect.any(String)] });
    expect((await toCopy([enc('a,b,c\n\\.x,b,c\n"\\.",b,c\n')])).refusal).toBeUndefined();
    expect(await toCopy([enc('a,b,c\n\\.')])).toMatchObject({ refusal: { line: 2, problem: 'not CSV with exactly 3 columns' } });
    // Read as COPY read it ('end', the mode the tests against COPY use): the data ends there, and nothing after it is read, not even bytes that are not UTF-8.
    const ended = await toCopy([enc('a,b,c\n\\.\n'), Buffer.from([0xff, 0x0a])], 3, () => null, 'end');
    expect(ended.refusal).toBeUndefined();
    expect(ended.rows).toHaveLength(1);
    // Bad lines (here: every line) are written with their cells; NULL for an empty unquoted cell.
    const read = await toCopy([enc('a,"",\n"x\ty","b\\c","q""r"\n')]);
    expect(read.rows.map(cellsOf)).toEqual(['{"a","",NULL}', '{"x\\ty","b\\\\\\\\c","q\\\\"r"}']);
    expect(read.rows.map((r) => r.split('\t')[0])).toEqual(['1', '2']);
  });

  test('when lines run past the pieces the reader decodes at a time (a quoted cell of many lines), then they are read whole, in any chunks', async () => {
    const long = `"${'x\n'.repeat(100_000)}"`;
    const plain = Array.from({ length: 20_000 }, (_, i) => `l${i},"${i}",`).join('\n');
    const bytes = enc(`${plain}\n${long},b,c\n${plain}\n`);
    const whole = await toCopy([bytes]);
    expect(whole.refusal).toBeUndefined();
    expect(whole.rows).toHaveLength(40_001);
    expect(cellsOf(whole.rows[20_000]!)).toBe(`{"${'x\\n'.repeat(100_000)}","b","c"}`);
    for (const size of [4 << 20, 70_000, 65_536, 1000]) {
      const chunks: Buffer[] = [];
      for (let at = 0; at < bytes.length; at += size) chunks.push(bytes.subarray(at, at + size));
      expect(await toCopy(chunks)).toEqual(whole);
    }
  });

  test('when a line is longer than the bound, then it is refused without holding more of it', async () => {
    const long = Buffer.alloc(1024 * 1024, 0x61);
    const stage = new StatementLinesToCopy(3, () => null);
    const chunks = [Buffer.from('a,b,c\n"'), ...Array.from({ length: 65 }, () => long)];
    await expect(pipeline(Readable.from(chunks), stage, new Writable({ write(_c, _e, cb) { cb(); } })))
      .rejects.toMatchObject({ problem: { line: 2, column: '*', problem: 'longer than 67108864 bytes' } });
  });
});

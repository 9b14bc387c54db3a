// The streaming XLSX writer of exported reports: each workbook is read back with yauzl and saxes,
// part by part, so the tests say what a spreadsheet program reads: which parts, which cells, what
// text and number each holds and in which number format; then how it streams (bounded memory, a
// slow reader slowing the rows' source down, a reader gone away closing it, a source that fails).
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { SaxesParser } from 'saxes';
import yauzl from 'yauzl';
import { columnName, xlsxCellTextMax, xlsxStream, XlsxWriteError, type XlsxCell } from '../../src/adapters/export/xlsx-writer.js';
import type { Persistence, ReconciliationItem, ReconciliationReads, StatementRecord } from '../../src/application/ports.js';
import { reconciliationCsv } from '../../src/application/reconciliation-report.js';
import { reconciliationRows } from '../../src/application/reconciliation-xlsx.js';
import { reportCsvLine } from '../../src/domain/reconciliation-report.js';

// ---- reading a workbook back ----------------------------------------------------------------

async function collect(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function unzip(file: Buffer): Promise<Map<string, Buffer>> {
  const zip = await new Promise<yauzl.ZipFile>((resolve, reject) => yauzl.fromBuffer(file, { lazyEntries: true }, (e, z) => (e ? reject(e) : resolve(z))));
  const parts = new Map<string, Buffer>();
  await new Promise<void>((resolve, reject) => {
    zip.on('error', reject);
    zip.on('end', resolve);
    zip.on('entry', (entry: yauzl.Entry) => {
      zip.openReadStream(entry, (e, s) => {
        if (e) return reject(e);
        collect(s).then((data) => {
          parts.set(entry.fileName, data);
          zip.readEntry();
        }, reject);
      });
    });
    zip.readEntry();
  });
  return parts;
}

interface Element { readonly name: string; readonly attributes: Record<string, string>; text: string }

/** Parses a part (throwing on any well-formedness error), calling `onClose` for each element with its own text. */
function parseXml(xml: Buffer | string, onClose: (e: Element, path: readonly string[]) => void = () => undefined): void {
  const parser = new SaxesParser({ xmlns: true, position: false });
  const stack: Element[] = [];
  parser.on('error', (e) => { throw e; });
  parser.on('opentag', (t) => {
    const attributes: Record<string, string> = {};
    for (const a of Object.values(t.attributes)) attributes[a.name] = a.value;
    stack.push({ name: t.local, attributes, text: '' });
  });
  parser.on('text', (t) => { const top = stack[stack.length - 1]; if (top) top.text += t; });
  parser.on('closetag', () => {
    const e = stack.pop()!;
    onClose(e, stack.map((s) => s.name));
  });
  parser.write(typeof xml === 'string' ? xml : xml.toString('utf8')).close();
}

/** ECMA-376 ST_Xstring: `_xHHHH_` is the character HHHH (as Excel reads a string). */
const decodeXstring = (s: string) => s.replace(/_x([0-9A-Fa-f]{4})_/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));

type ReadCell = { ref: string; text: string } | { ref: string; number: string; format: string };

/** The sheet's cells, row by row, as a spreadsheet reads them, with each number's format code. */
function readSheet(parts: Map<string, Buffer>): ReadCell[][] {
  const formats = new Map<string, string>();
  const xfs: string[] = [];
  parseXml(parts.get('xl/styles.xml')!, (e, path) => {
    if (e.name === 'numFmt') formats.set(e.attributes.numFmtId!, e.attributes.formatCode!);
    if (e.name === 'xf' && path[path.length - 1] === 'cellXfs') xfs.push(e.attributes.numFmtId!);
  });
  const rows: ReadCell[][] = [];
  let row: ReadCell[] = [];
  let t = '';
  let v = '';
  parseXml(parts.get('xl/worksheets/sheet1.xml')!, (e) => {
    if (e.name === 't') t += e.text;
    if (e.name === 'v') v = e.text;
    if (e.name === 'c') {
      const ref = e.attributes.r!;
      if (e.attributes.t === 'inlineStr') row.push({ ref, text: decodeXstring(t) });
      else if (e.attributes.t === undefined) row.push({ ref, number: v, format: formats.get(xfs[Number(e.attributes.s ?? 0)]!) ?? 'General' });
      else throw new Error(`unexpected cell type ${e.attributes.t}`);
      t = '';
      v = '';
    }
    if (e.name === 'row') {
      expect(e.attributes.r).toBe(String(rows.length + 1));
      rows.push(row);
      row = [];
    }
  });
  return rows;
}

const workbookOf = async (rows: readonly (readonly XlsxCell[])[]) => unzip(await collect(xlsxStream(rows, { sheetName: 'Reconciliation', mtime: new Date('2026-03-01T00:00:00Z') })));
const textOf = (cell: ReadCell | undefined) => (cell && 'text' in cell ? cell.text : undefined);

// ---- the workbook ---------------------------------------------------------------------------------

describe('the XLSX workbook', () => {
  it('when a workbook is written, then it holds the parts a spreadsheet needs, each well-formed, the workbook naming its one sheet', async () => {
    const parts = await workbookOf([[{ text: 'a' }]]);
    expect([...parts.keys()]).toEqual(['[Content_Types].xml', '_rels/.rels', 'xl/workbook.xml', 'xl/_rels/workbook.xml.rels', 'xl/styles.xml', 'xl/worksheets/sheet1.xml']);
    for (const data of parts.values()) expect(() => parseXml(data)).not.toThrow();
    const overrides: Record<string, string> = {};
    parseXml(parts.get('[Content_Types].xml')!, (e) => { if (e.name === 'Override') overrides[e.attributes.PartName!] = e.attributes.ContentType!; });
    expect(overrides['/xl/workbook.xml']).toBe('application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml');
    expect(overrides['/xl/worksheets/sheet1.xml']).toBe('application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml');
    expect(overrides['/xl/styles.xml']).toBe('application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml');
    const targets: string[] = [];
    parseXml(parts.get('xl/_rels/workbook.xml.rels')!, (e) => { if (e.name === 'Relationship') targets.push(e.attributes.Target!); });
    expect(targets.sort()).toEqual(['styles.xml', 'worksheets/sheet1.xml']);
    const sheets: Record<string, string>[] = [];
    parseXml(parts.get('xl/workbook.xml')!, (e) => { if (e.name === 'sheet') sheets.push(e.attributes); });
    expect(sheets).toEqual([{ name: 'Reconciliation', sheetId: '1', 'r:id': 'rId1' }]);
    expect(readSheet(parts)).toEqual([[{ ref: 'A1', text: 'a' }]]);
  });

  it('when texts hold markup, quotes, emoji, line breaks, controls, lone surrogates or _xHHHH_, then each reads back as written (what XML cannot hold as U+FFFD)', async () => {
    const texts: [string, string][] = [
      [`a&b<c>d"e'f]]>`, `a&b<c>d"e'f]]>`],
      ['💸 Nairobi 🇰🇪 ñ 中文', '💸 Nairobi 🇰🇪 ñ 中文'],
      ['line 1\r\nline 2\rline 3\nend\ttab', 'line 1\r\nline 2\rline 3\nend\ttab'],
      [' padded  ', ' padded  '],
      ['bell\u0007 nul\u0000 vt\u000B esc\u001B', 'bell\uFFFD nul\uFFFD vt\uFFFD esc\uFFFD'],
      ['lone \uD83D high, lone \uDE00 low, \uFFFE\uFFFF', 'lone \uFFFD high, lone \uFFFD low, \uFFFD\uFFFD'],
      ['_x0041_ and _X0041_ and _x00e9_ and _x12_', '_x0041_ and _X0041_ and _x00e9_ and _x12_'],
      ['', ''],
    ];
    const rows = readSheet(await workbookOf(texts.map(([t]) => [{ text: t }])));
    expect(rows.map((r) => textOf(r[0]))).toEqual(texts.map(([, read]) => read));
  });

  it('when a text starts with = + - @, a tab or a CR, then it is written with a leading apostrophe, as the CSV writes it', async () => {
    const texts = ['=HYPERLINK("http://x")', '+254700000001', '-2+3', '@SUM(A1)', '\t=1', '\r=1', 'a=b', "'quoted"];
    const rows = readSheet(await workbookOf(texts.map((t) => [{ text: t }])));
    expect(rows.map((r) => textOf(r[0]))).toEqual([`'=HYPERLINK("http://x")`, `'+254700000001`, `'-2+3`, `'@SUM(A1)`, `'\t=1`, `'\r=1`, 'a=b', "'quoted"]);
    // The same rule as the CSV export's.
    expect(rows.map((r) => textOf(r[0]))).toEqual(texts.map((t) => { const f = reportCsvLine([{ text: t }]); return f.startsWith('"') ? f.slice(1, -1).replaceAll('""', '"') : f; }));
  });

  it(`when a text is longer than Excel's ${xlsxCellTextMax} characters, then it is cut to ${xlsxCellTextMax} with a final …, never inside a surrogate pair`, async () => {
    const exact = 'a'.repeat(xlsxCellTextMax);
    const long = 'b'.repeat(40_000);
    const pairAtCut = 'c'.repeat(xlsxCellTextMax - 2) + '😀' + 'd'.repeat(10);
    const neutralisedOver = '=' + 'e'.repeat(xlsxCellTextMax - 1); // the apostrophe makes it one too many
    const rows = readSheet(await workbookOf([[{ text: exact }], [{ text: long }], [{ text: pairAtCut }], [{ text: neutralisedOver }]]));
    const read = rows.map((r) => textOf(r[0])!);
    expect(read[0]).toBe(exact);
    expect(read[1]).toBe('b'.repeat(xlsxCellTextMax - 1) + '…');
    expect(read[2]).toBe('c'.repeat(xlsxCellTextMax - 2) + '…');
    expect(read[3]).toBe(`'=${'e'.repeat(xlsxCellTextMax - 3)}…`);
    for (const t of read) expect(t.length).toBeLessThanOrEqual(xlsxCellTextMax);
  });

  it('when amounts are written, then each is a number cell holding the exact decimal text, in the number format of its scale', async () => {
    const rows = readSheet(await workbookOf([
      [{ amount: '1250.50' }, { amount: '-0.05' }, { amount: '1250' }, { amount: '0.125' }],
      [{ amount: '92233720368547758.07' }, { amount: '-9223372036854775807' }, { amount: '0.1234' }, { amount: '0' }],
    ]));
    expect(rows).toEqual([
      [{ ref: 'A1', number: '1250.50', format: '#,##0.00' }, { ref: 'B1', number: '-0.05', format: '#,##0.00' }, { ref: 'C1', number: '1250', format: '#,##0' }, { ref: 'D1', number: '0.125', format: '#,##0.000' }],
      [{ ref: 'A2', number: '92233720368547758.07', format: '#,##0.00' }, { ref: 'B2', number: '-9223372036854775807', format: '#,##0' }, { ref: 'C2', number: '0.1234', format: '#,##0.0000' }, { ref: 'D2', number: '0', format: '#,##0' }],
    ]);
  });

  it('when a row has empty cells, then the others keep their columns (A … Z, AA …) and an empty row is still a row', async () => {
    const wide: XlsxCell[] = Array.from({ length: 30 }, () => null);
    wide[27] = { text: 'AB' };
    const rows = readSheet(await workbookOf([[{ text: 'a' }, null, { amount: '1.00' }], [], wide]));
    expect(rows).toEqual([[{ ref: 'A1', text: 'a' }, { ref: 'C1', number: '1.00', format: '#,##0.00' }], [], [{ ref: 'AB3', text: 'AB' }]]);
    expect([0, 25, 26, 701, 702, 16_383].map(columnName)).toEqual(['A', 'Z', 'AA', 'ZZ', 'AAA', 'XFD']);
  });

  it.each(['1e5', '1,000.00', ' 12', '12.', '.5', '+1', '01', '0.1234567', '12.5abc'])('when an amount is %j, then the stream fails rather than write it', async (amount) => {
    await expect(collect(xlsxStream([[{ text: 'x' }], [{ amount }]]))).rejects.toThrow(XlsxWriteError);
  });

  it("when a row has more cells than Excel's columns, or the sheet name is no sheet name, then it is refused", async () => {
    await expect(collect(xlsxStream([Array.from({ length: 16_385 }, (): XlsxCell => ({ text: 'x' }))]))).rejects.toThrow(/16384 columns/);
    for (const sheetName of ['', 'a'.repeat(32), 'a/b', 'a[1]', "'quoted'", 'bell\u0007']) expect(() => xlsxStream([], { sheetName })).toThrow(XlsxWriteError);
  });
});

// ---- streaming -------------------------------------------------------------------------------

/** Report-like rows: 16 cells, ids, times and amounts that differ row to row. */
function* reportRows(count: number, onRow: (n: number) => void = () => undefined): Generator<XlsxCell[]> {
  for (let n = 1; n <= count; n += 1) {
    onRow(n);
    const minor = BigInt(n) * 7919n;
    yield [{ text: `line-${n}` }, { text: String(n) }, { text: 'payout' }, { text: 'amount_over' }, { text: 'completed' }, { text: `QX${(n * 2_654_435_761 % 4_294_967_296).toString(36).toUpperCase()}` },
      { text: `0f6c${n.toString(16).padStart(4, '0')}-6e1a-4c2b-9d7e-${n.toString(16).padStart(12, '0')}` }, { text: new Date(1_770_000_000_000 + n * 61_000).toISOString() },
      { amount: `${minor / 100n}.${(minor % 100n).toString().padStart(2, '0')}` }, { amount: '0.50' }, { amount: `${minor / 100n}.00` }, null, { amount: `-${(minor % 100n).toString()}.00` },
      { text: n % 3 === 0 ? 'true' : 'false' }, { text: String(n % 97) }, null];
  }
}

/** A sink that counts bytes, destroying itself (a client gone away) past `destroyAfter`. */
function sink(destroyAfter = Number.POSITIVE_INFINITY) {
  let bytes = 0;
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      bytes += chunk.length;
      if (bytes > destroyAfter) return void stream.destroy();
      cb();
    },
  });
  return { stream, bytes: () => bytes };
}

describe('streaming', () => {
  it('when 200,000 rows are written, then memory stays bounded (rss grows by less than three quarters of the sheet) and the sheet holds every row', async () => {
    const rowsTotal = 200_000;
    const dir = await mkdtemp(path.join(tmpdir(), 'xlsx-writer-'));
    try {
      const file = path.join(dir, 'report.xlsx');
      const before = process.memoryUsage().rss;
      let peak = before;
      const started = Date.now();
      await pipeline(xlsxStream(reportRows(rowsTotal, (n) => { if (n % 2_000 === 0) peak = Math.max(peak, process.memoryUsage().rss); })), createWriteStream(file));
      peak = Math.max(peak, process.memoryUsage().rss);
      const writtenMs = Date.now() - started;
      const growthMb = (peak - before) / 1024 / 1024;
      // The figure, for the record.
      process.stdout.write(`xlsx-writer: ${rowsTotal} rows, ${((await stat(file)).size / 1024 / 1024).toFixed(1)} MB zipped in ${writtenMs} ms, rss growth ${growthMb.toFixed(1)} MB\n`);

      // Read back, the sheet streamed through the parser: every row is there, in order.
      const zip = await new Promise<yauzl.ZipFile>((resolve, reject) => yauzl.open(file, { lazyEntries: true }, (e, z) => (e ? reject(e) : resolve(z))));
      const sheet = await new Promise<yauzl.Entry>((resolve, reject) => {
        zip.on('entry', (e: yauzl.Entry) => (e.fileName === 'xl/worksheets/sheet1.xml' ? resolve(e) : zip.readEntry()));
        zip.on('error', reject);
        zip.readEntry();
      });
      // Bounded, not held: a writer that kept the sheet (~189 MB) would grow by at least its size. The
      // margin is wide because RSS follows the garbage collector, which lags on a loaded machine
      // (seen here: 3 to 32 MB alone, 108 MB once with the whole suite beside it).
      const sheetMb = sheet.uncompressedSize / 1024 / 1024;
      expect(sheetMb).toBeGreaterThan(150);
      expect(growthMb).toBeLessThan(sheetMb * 0.75);
      const stream = await new Promise<NodeJS.ReadableStream>((resolve, reject) => zip.openReadStream(sheet, (e, s) => (e ? reject(e) : resolve(s))));
      const parser = new SaxesParser();
      let rows = 0;
      let outOfOrder = 0;
      let lastRef = '';
      parser.on('opentag', (t) => {
        if (t.name === 'row') { rows += 1; if (t.attributes.r !== String(rows)) outOfOrder += 1; }
        else if (t.name === 'c') lastRef = String(t.attributes.r);
      });
      for await (const chunk of stream) parser.write((chunk as Buffer).toString('utf8'));
      parser.close();
      zip.close();
      expect(rows).toBe(rowsTotal);
      expect(outOfOrder).toBe(0);
      expect(lastRef).toBe(`O${rowsTotal}`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 240_000); // 200,000 rows written and read back: ~20 s alone, several times that on a loaded 2-core machine (a bound, not a speed claim)

  it('when nobody reads the stream, then the rows are not read ahead beyond a few buffers; reading it resumes them', async () => {
    let read = 0;
    const stream = xlsxStream(reportRows(100_000, (n) => { read = n; }));
    await new Promise((r) => setTimeout(r, 300));
    const paused = read;
    expect(paused).toBeGreaterThan(0);
    expect(paused).toBeLessThan(20_000);
    await new Promise((r) => setTimeout(r, 200));
    expect(read).toBe(paused);
    const file = await collect(stream);
    expect(read).toBe(100_000);
    expect(file.subarray(0, 4).readUInt32LE(0)).toBe(0x04034b50);
  });

  it('when the reader goes away midway, then the writer stops reading the rows and closes their source, with no error left unhandled', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    process.on('uncaughtException', onUnhandled);
    try {
      let read = 0;
      let closed = false;
      async function* endless(): AsyncGenerator<XlsxCell[]> {
        try {
          for (let n = 1; ; n += 1) {
            read = n;
            if (n % 1_000 === 0) await new Promise((r) => setImmediate(r)); // a page read from the database
            yield [{ text: `line-${n}` }, { amount: `${n}.00` }, { text: 'x'.repeat(n % 200) }];
          }
        } finally {
          closed = true;
        }
      }
      const client = sink(256 * 1024);
      await expect(pipeline(xlsxStream(endless()), client.stream)).rejects.toThrow(/premature close/i);
      await new Promise((r) => setTimeout(r, 50));
      expect(closed).toBe(true);
      const atClose = read;
      await new Promise((r) => setTimeout(r, 100));
      expect(read).toBe(atClose);

      // The same when the stream itself is destroyed (what pipeline does when a response closes).
      let closedToo = false;
      const stream = xlsxStream((async function* () { try { for (;;) { await new Promise((r) => setImmediate(r)); yield [{ text: 'y' }]; } } finally { closedToo = true; } })());
      stream.resume();
      await new Promise((r) => setTimeout(r, 50));
      stream.destroy();
      // The source is closed on the next turns of the event loop; a loaded machine takes longer (bounded).
      for (let waited = 0; !closedToo && waited < 5_000; waited += 20) await new Promise((r) => setTimeout(r, 20));
      expect(closedToo).toBe(true);
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
      process.off('uncaughtException', onUnhandled);
    }
  });

  it('when the rows\' source fails midway, then the stream fails with its error: no partial file is ended as if whole', async () => {
    async function* failing(): AsyncGenerator<XlsxCell[]> {
      yield* reportRows(5_000);
      throw new Error('database went away');
    }
    const client = sink();
    await expect(pipeline(xlsxStream(failing()), client.stream)).rejects.toThrow('database went away');
  });
});

// ---- the report's rows ---------------------------------------------------------------------

describe('the reconciliation report as rows', () => {
  const statement: StatementRecord = {
    statementId: '6f0c1f5e-0c5a-4d7e-9a55-0c1b2d3e4f50', accountId: '=cmd|calc', currency: 'KES', organisationId: 'org-1', format: 'mpesa-org-portal-csv', formatVersion: 1,
    periodFrom: new Date('2026-02-01T00:00:00Z'), periodTo: new Date('2026-03-01T00:00:00Z'), sha256Hex: '0'.repeat(64), sizeBytes: 1, version: 2, previousId: null,
    openingBalanceMinor: 100_000n, closingBalanceMinor: -2_550n, linesTotal: 0, linesImported: 0, linesRefused: 0, refusedLines: [], counts: {},
    balances: { linesNetMinor: 12_345n, runningBreaks: 1 } as StatementRecord['balances'], diff: null,
  };
  const items: ReconciliationItem[] = Array.from({ length: 1_500 }, (_, k) => ({
    itemId: `line-${k + 1}`, line: k + 1, kind: 'payout', class: k % 2 ? 'matched' : 'amount_over', status: 'completed', providerTransactionId: k === 3 ? '+SUM(A1), "x"' : `QX${k}`,
    payoutId: null, completedAt: new Date('2026-02-10T10:00:00Z'), statementMinor: BigInt(k) * 101n, feeMinor: k % 5 ? null : 50n, ledgerMinor: BigInt(k) * 100n, ledgerFeeMinor: null,
    atRiskMinor: BigInt(k), happenedAt: new Date('2026-02-10T10:00:00Z'), closedBy: null, decision: null,
  }));
  const reads = {
    classSummary: async () => [{ class: 'amount_over', count: 750, statementMinor: 1n, ledgerMinor: 2n, atRiskMinor: -3n, open: 750, ageing: { '31-90': { count: 750, atRiskMinor: 3n } } }],
    items: async (_id: string, q: { after: { line: number } | null; limit: number }) => items.filter((i) => i.line! > (q.after?.line ?? 0)).slice(0, q.limit),
  } as unknown as ReconciliationReads;
  const deps = { persistence: {} as Persistence, reads, accounts: () => [], overdueDays: 10 };
  const now = new Date('2026-04-01T00:00:00Z');

  it('when the report is read as rows, then they are the CSV export\'s lines, cell for cell, every item over pages', async () => {
    const rows: Parameters<typeof reportCsvLine>[0][] = [];
    for await (const row of reconciliationRows(deps, statement, now)) rows.push(row);
    const csv: string[] = [];
    for await (const line of reconciliationCsv(deps, statement, now)) csv.push(line);
    expect(rows.map((r) => reportCsvLine(r))).toEqual(csv);
    expect(rows).toHaveLength(4 + 1 + 1_500);
    const sheet = readSheet(await unzip(await collect(xlsxStream(reconciliationRows(deps, statement, now)))));
    expect(sheet).toHaveLength(rows.length);
    expect(sheet[0]![2]).toEqual({ ref: 'C1', text: "'=cmd|calc" });
    expect(sheet[1]!.slice(2, 3)).toEqual([{ ref: 'C2', number: '1000.00', format: '#,##0.00' }]);
    expect(sheet[1]![2 + 1]).toEqual({ ref: 'D2', text: 'closing' });
    expect(sheet[1]![4]).toEqual({ ref: 'E2', number: '-25.50', format: '#,##0.00' });
    expect(sheet[8]!.find((c) => c.ref === 'F9')).toEqual({ ref: 'F9', text: `'+SUM(A1), "x"` });
  });
});

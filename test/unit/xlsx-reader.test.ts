// The XLSX statement reader: the first worksheet of an .xlsx upload as the CSV lines the importer
// reads. The .xlsx files are built here, part by part, with a small zip writer (deflateRawSync and
// hand-written headers), so each fixture says exactly what it holds and the refusals can be made
// from archives no spreadsheet program would write.
import { once } from 'node:events';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { crc32, deflateRawSync } from 'node:zlib';
import fc from 'fast-check';
import { StatementReadError } from '../../src/adapters/statement-readers/limits.js';
import { createXlsxReader, isDateFormatCode, serialToTime, } from '../../src/adapters/statement-readers/xlsx-reader.js';
import { isColumnHeader } from '../../src/domain/reconciliation.js';
import { mpesaOrgPortalXlsxV1, type StatementFormat } from '../../src/domain/statement-formats.js';

// ---- a tiny zip writer --------------------------------------------------------------------------

interface ZipPart {
  readonly name: string;
  readonly data: string | Buffer;
  /** 8 deflate (the default), 0 stored, anything else to test a refusal. */
  readonly method?: number;
  /** General-purpose flags (bit 0: encrypted); UTF-8 names (bit 11) are always set. */
  readonly flags?: number;
  /** An uncompressed size to declare instead of the real one (a lying header). */
  readonly declaredSize?: number;
  /** The central directory entry's extra field. */
  readonly extra?: Buffer;
}

function zip(parts: readonly ZipPart[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const p of parts) {
    const data = typeof p.data === 'string' ? Buffer.from(p.data, 'utf8') : p.data;
    const method = p.method ?? 8;
    const body = method === 8 ? deflateRawSync(data) : data;
    const name = Buffer.from(p.name, 'utf8');
    const flags = (p.flags ?? 0) | 0x800;
    const extra = p.extra ?? Buffer.alloc(0);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(flags, 6);
    local.writeUInt16LE(method, 8);
    local.writeUInt16LE(0x21, 12); // 1980-01-01
    local.writeUInt32LE(crc32(data), 14);
    local.writeUInt32LE(body.length, 18);
    local.writeUInt32LE(p.declaredSize ?? data.length, 22);
    local.writeUInt16LE(name.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(flags, 8);
    central.writeUInt16LE(method, 10);
    central.writeUInt16LE(0x21, 14);
    central.writeUInt32LE(crc32(data), 16);
    central.writeUInt32LE(body.length, 20);
    central.writeUInt32LE(p.declaredSize ?? data.length, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt16LE(extra.length, 30);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, body);
    centrals.push(central, name, extra);
    offset += local.length + name.length + body.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(parts.length, 8);
  end.writeUInt16LE(parts.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}

// ---- .xlsx parts ----------------------------------------------------------------------------------

const main = 'http://schemas.openxmlformats.org/spreadsheetml/2006/main';
const officeRels = 'http://schemas.openxmlformats.org/officeDocument/2006/relationships';
const packageRels = 'http://schemas.openxmlformats.org/package/2006/relationships';
const xml = (body: string): string => `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n${body}`;
/** XML escaping; a CR is written as a character reference, as XML parsers turn a literal CR into LF. */
const esc = (s: string): string => s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('"', '&quot;').replaceAll('\r', '&#13;');

const sheetXml = (rows: string): string => xml(`<worksheet xmlns="${main}" xmlns:r="${officeRels}"><dimension ref="A1"/><sheetData>${rows}</sheetData></worksheet>`);
const sharedStringsXml = (strings: readonly string[]): string =>
  xml(`<sst xmlns="${main}" count="${strings.length}" uniqueCount="${strings.length}">${strings.map((s) => `<si><t xml:space="preserve">${esc(s)}</t></si>`).join('')}</sst>`);

/**
 * Cell formats (cellXfs) by index: 0 General, 1 a custom date-time (164), 2 `#,##0.00` (a number),
 * 3 built-in 22 (m/d/yyyy h:mm). cellStyleXfs, and a differential format (dxf) redefining id 4,
 * have date formats that must not count: only cellXfs is what a cell's `s` points at.
 */
const stylesXml = xml(`<styleSheet xmlns="${main}">`
  + '<numFmts count="1"><numFmt numFmtId="164" formatCode="dd\\-mm\\-yyyy\\ hh:mm:ss"/></numFmts>'
  + '<cellStyleXfs count="1"><xf numFmtId="14"/></cellStyleXfs>'
  + '<cellXfs count="4"><xf numFmtId="0" xfId="0"/><xf numFmtId="164" xfId="0" applyNumberFormat="1"/>'
  + '<xf numFmtId="4" xfId="0" applyNumberFormat="1"/><xf numFmtId="22" xfId="0" applyNumberFormat="1"/></cellXfs>'
  + '<dxfs count="1"><dxf><numFmt numFmtId="4" formatCode="dd/mm/yyyy"/></dxf></dxfs>'
  + '</styleSheet>');
const dateStyle = 1;
const amountStyle = 2;
const builtInDateStyle = 3;

interface Book {
  /** The worksheet's `<row>` elements, or the whole part with `sheet`. */
  readonly rows?: string;
  readonly sheet?: string;
  readonly strings?: readonly string[];
  readonly date1904?: boolean;
  /** The workbook's `<sheets>` content (default: one sheet, rId1). */
  readonly sheets?: string;
  /** `sheet-first`: the worksheet is the first entry and the shared strings the last. */
  readonly order?: 'parts-first' | 'sheet-first';
  /** Changes to the worksheet's zip entry (method, flags, declared size). */
  readonly sheetEntry?: Partial<ZipPart>;
}

function xlsxParts(book: Book): ZipPart[] {
  const sheet: ZipPart = { name: 'xl/worksheets/sheet1.xml', data: book.sheet ?? sheetXml(book.rows ?? ''), ...book.sheetEntry };
  const strings: ZipPart = { name: 'xl/sharedStrings.xml', data: sharedStringsXml(book.strings ?? []) };
  const rest: ZipPart[] = [
    { name: '[Content_Types].xml', data: xml('<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/></Types>') },
    { name: '_rels/.rels', data: xml(`<Relationships xmlns="${packageRels}"><Relationship Id="rId1" Type="${officeRels}/officeDocument" Target="xl/workbook.xml"/></Relationships>`) },
    {
      name: 'xl/workbook.xml',
      data: xml(`<workbook xmlns="${main}" xmlns:r="${officeRels}"><workbookPr${book.date1904 ? ' date1904="1"' : ''}/>`
        + `<sheets>${book.sheets ?? '<sheet name="Statement" sheetId="1" r:id="rId1"/>'}</sheets></workbook>`),
    },
    {
      name: 'xl/_rels/workbook.xml.rels',
      data: xml(`<Relationships xmlns="${packageRels}">`
        + `<Relationship Id="rId1" Type="${officeRels}/worksheet" Target="worksheets/sheet1.xml"/>`
        + `<Relationship Id="rId2" Type="${officeRels}/styles" Target="styles.xml"/>`
        + `<Relationship Id="rId3" Type="${officeRels}/sharedStrings" Target="/xl/sharedStrings.xml"/>`
        + `<Relationship Id="rId4" Type="${officeRels}/chartsheet" Target="chartsheets/sheet1.xml"/>`
        + '</Relationships>'),
    },
    { name: 'xl/styles.xml', data: stylesXml },
  ];
  return book.order === 'sheet-first' ? [sheet, ...rest, strings] : [...rest, strings, sheet];
}

const xlsx = (book: Book): Buffer => zip(xlsxParts(book));

// Cells. A row's cells are written as Excel writes them: with their `r` reference.
const row = (r: number, ...cells: string[]): string => `<row r="${r}">${cells.join('')}</row>`;
const num = (ref: string, v: string, style?: number): string => `<c r="${ref}"${style === undefined ? '' : ` s="${style}"`}><v>${v}</v></c>`;
const inline = (ref: string, text: string): string => `<c r="${ref}" t="inlineStr"><is><t>${esc(text)}</t></is></c>`;
const shared = (ref: string, index: number): string => `<c r="${ref}" t="s"><v>${index}</v></c>`;

/** A shared-string table built as cells name their strings. */
function sharedStrings(): { readonly list: string[]; cell(ref: string, text: string): string } {
  const list: string[] = [];
  return {
    list,
    cell(ref, text) {
      const at = list.indexOf(text);
      return shared(ref, at >= 0 ? at : list.push(text) - 1);
    },
  };
}

// ---- running the reader -------------------------------------------------------------------------

let base = '';
beforeEach(async () => {
  base = await mkdtemp(path.join(tmpdir(), 'xlsx-reader-test-'));
});
afterEach(async () => {
  // Every test, whatever its outcome, leaves no spool file behind.
  expect(await readdir(base)).toEqual([]);
  await rm(base, { recursive: true, force: true });
});

interface Run {
  readonly limits?: Parameters<typeof createXlsxReader>[1];
  readonly format?: StatementFormat;
  /** The size of the chunks the file arrives in. */
  readonly chunkBytes?: number;
}

function chunksOf(file: Buffer, size: number): Buffer[] {
  const chunks: Buffer[] = [];
  for (let at = 0; at < file.length; at += size) chunks.push(file.subarray(at, at + size));
  return chunks;
}

/** The CSV text the reader writes for `file`; resolves once the reader has closed (its spool removed). */
async function read(file: Buffer, run: Run = {}): Promise<string> {
  const reader = createXlsxReader(run.format ?? mpesaOrgPortalXlsxV1, run.limits, { tempDirectory: base });
  const closed = new Promise((resolve) => reader.once('close', resolve));
  const out: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      out.push(chunk);
      callback();
    },
  });
  try {
    await pipeline(Readable.from(chunksOf(file, run.chunkBytes ?? 8192)), reader, sink);
  } finally {
    await closed;
  }
  return Buffer.concat(out).toString('utf8');
}

const lines = async (file: Buffer, run?: Run): Promise<string[]> => {
  const text = await read(file, run);
  expect(text === '' || text.endsWith('\r\n')).toBe(true);
  return text === '' ? [] : text.slice(0, -2).split('\r\n');
};

/** The reader's refusal of `file`: a StatementReadError. */
async function refusal(file: Buffer, run?: Run): Promise<StatementReadError> {
  const error = await read(file, run).then(() => null, (e: unknown) => e);
  expect(error).toBeInstanceOf(StatementReadError);
  return error as StatementReadError;
}

// ---- the M-Pesa portal's layout -----------------------------------------------------------------

const columnTitles = mpesaOrgPortalXlsxV1.columns.map((c) => c.title);
const columns = 'ABCDEFGHIJKLM'.split('');

/** The portal's XLSX export: a header block in rows 1-6, the column header in row 7, three lines. */
function mpesaStatement(): Book {
  const s = sharedStrings();
  const rows = [
    row(1, s.cell('A1', 'Account Holder:'), s.cell('B1', 'ACME RELIEF')),
    row(2, s.cell('A2', 'Short Code:'), num('B2', '600000')),
    row(3, s.cell('A3', 'Account:'), s.cell('B3', 'Utility Account')),
    row(4, s.cell('A4', 'Time Period:'), s.cell('B4', 'From 01-06-2024 00:00:00 To 30-06-2024 23:59:59')),
    row(5, s.cell('A5', 'Operator:'), s.cell('B5', 'jdoe'), s.cell('C5', 'Date of Report:'), num('D5', '45474.333333333336', dateStyle)),
    row(6, s.cell('A6', 'Opening Balance:'), num('B6', '100000', amountStyle), s.cell('C6', 'Closing Balance:'), num('D6', '98879.5', amountStyle),
      s.cell('E6', 'Total Withdrawn:'), num('F6', '1120.5', amountStyle)),
    row(7, ...columnTitles.map((title, i) => s.cell(`${columns[i]}7`, title))),
    row(8, s.cell('A8', 'SFG1234ABC'), num('B8', '45444.5', dateStyle), num('C8', '45444.49998842592', builtInDateStyle),
      s.cell('D8', 'Business Payment to Customer via API to 2547****287 - JOHN DOE'), s.cell('E8', 'Completed'),
      num('G8', '1020.5', amountStyle), num('H8', '98979.5', amountStyle), '<c r="I8" t="b"><v>1</v></c>',
      s.cell('J8', 'Business Payment to Customer via API'), s.cell('K8', '254712345678 - JOHN DOE')),
    row(9, s.cell('A9', 'SFG1234ABD'), num('B9', '45444.50001157408', dateStyle), s.cell('D9', 'B2C Payment Charge'), s.cell('E9', 'Completed'),
      num('G9', '-100', amountStyle), num('H9', '98879.5', amountStyle), s.cell('J9', 'Business Payment to Customer Withdrawal Charge Paid'),
      s.cell('L9', 'SFG1234ABC')),
    // A failed line written with inline strings, a name with a comma and quotes, and 5E+2.
    row(10, inline('A10', 'SFG1234ABE'), num('B10', '45445', dateStyle), inline('D10', 'Pay "Fridah, M"'), inline('E10', 'Failed'), num('G10', '5E+2')),
  ];
  return { rows: rows.join(''), strings: s.list };
}

const mpesaLines = [
  'Account Holder:,ACME RELIEF',
  'Short Code:,600000',
  'Account:,Utility Account',
  'Time Period:,From 01-06-2024 00:00:00 To 30-06-2024 23:59:59',
  'Operator:,jdoe,Date of Report:,01-07-2024 08:00:00',
  'Opening Balance:,100000,Closing Balance:,98879.5,Total Withdrawn:,1120.5',
  columnTitles.join(','),
  'SFG1234ABC,01-06-2024 12:00:00,01-06-2024 11:59:59,Business Payment to Customer via API to 2547****287 - JOHN DOE,Completed,,1020.5,98979.5,TRUE,Business Payment to Customer via API,254712345678 - JOHN DOE,,',
  'SFG1234ABD,01-06-2024 12:00:01,,B2C Payment Charge,Completed,,-100,98879.5,,Business Payment to Customer Withdrawal Charge Paid,,SFG1234ABC,',
  'SFG1234ABE,02-06-2024 00:00:00,,"Pay ""Fridah, M""",Failed,,500,,,,,,',
];

describe('the M-Pesa portal XLSX export', () => {
  it('comes out as the CSV export: the header block as it is, then 13 fields a line', async () => {
    const out = await lines(xlsx(mpesaStatement()));
    expect(out).toEqual(mpesaLines);
    expect(isColumnHeader(mpesaOrgPortalXlsxV1, out[6] ?? '')).toBe(true);
  });

  it('reads the shared strings when they are stored after the sheet in the archive', async () => {
    expect(await lines(xlsx({ ...mpesaStatement(), order: 'sheet-first' }))).toEqual(mpesaLines);
  });

  it('gives the same lines whatever the chunks the file arrives in', async () => {
    expect(await lines(xlsx(mpesaStatement()), { chunkBytes: 7 })).toEqual(mpesaLines);
  });

  it('reads a sheet whose elements carry a namespace prefix', async () => {
    const sheet = xml(`<x:worksheet xmlns:x="${main}"><x:sheetData><x:row r="1"><x:c r="A1" t="inlineStr"><x:is><x:t>a</x:t></x:is></x:c>`
      + '<x:c r="B1"><x:v>2</x:v></x:c></x:row></x:sheetData></x:worksheet>');
    expect(await lines(xlsx({ sheet }))).toEqual(['a,2']);
  });

  it('writes times in the date system of the workbook (1904)', async () => {
    const rows = row(1, num('A1', '43982.5', dateStyle));
    expect(await lines(xlsx({ rows, date1904: true }))).toEqual(['01-06-2024 12:00:00']);
  });

  it('writes times in the format of the mapping', async () => {
    const rows = row(1, num('A1', '45444.75', dateStyle), num('B1', '45444.000001', builtInDateStyle));
    const iso: StatementFormat = { ...mpesaOrgPortalXlsxV1, time: { format: 'YYYY-MM-DD HH:MM:SS', utcOffsetMinutes: 180 } };
    const airtel: StatementFormat = { ...mpesaOrgPortalXlsxV1, time: { format: 'DD-MM-YY hh:mm AM', utcOffsetMinutes: 120 } };
    expect(await lines(xlsx({ rows }), { format: iso })).toEqual(['2024-06-01 18:00:00,2024-06-01 00:00:00']);
    expect(await lines(xlsx({ rows }), { format: airtel })).toEqual(['01-06-24 06:00 PM,01-06-24 12:00 AM']);
  });
});

describe('cells and rows', () => {
  it('writes number cells as their decimal text, moving an exponent\'s point in the string', async () => {
    const values = ['1020.5', '-100', '1E-3', '1.5E+3', '2.5e-3', '0.1', '-0', '1020.50', '007', '123456789012345', '-0.0001', '9999.9999'];
    const expected = ['1020.5', '-100', '0.001', '1500', '0.0025', '0.1', '0', '1020.5', '7', '123456789012345', '-0.0001', '9999.9999'];
    const rows = values.map((v, i) => row(i + 1, num(`A${i + 1}`, v))).join('');
    expect(await lines(xlsx({ rows }))).toEqual(expected);
  });

  it('fills missing cells with empty fields, reads cells without a reference in order, leaves out empty rows', async () => {
    const rows = [
      row(1, inline('A1', 'a'), inline('D1', 'd')),
      '<row r="2" spans="1:13"/>', // formatted but empty: no line
      row(3, inline('B3', 'b'), '<c r="C3" s="2"/>', '<c r="E3" t="s"/>'), // styled cells without a value end nothing
      '<row><c t="inlineStr"><is><t>x</t></is></c><c><v>1</v></c><c r="E4"><v>5</v></c><c><v>6</v></c></row>', // row 4, A, B, then E, F
      row(9, num('C9', '3')),
    ].join('');
    expect(await lines(xlsx({ rows }))).toEqual(['a,,,d', ',b', 'x,1,,,5,6', ',,3']);
  });

  it('quotes fields with a comma, a quote or a line break, doubling quotes', async () => {
    const rows = row(1, inline('A1', 'a,b'), inline('B1', 'say "hi"'), inline('C1', 'two\nlines'), inline('D1', 'cr\rhere'), inline('E1', 'plain text'));
    expect(await read(xlsx({ rows }))).toBe('"a,b","say ""hi""","two\nlines","cr\rhere",plain text\r\n');
  });

  it('decodes the _xHHHH_ escapes Excel writes for control characters (and _x005F_ for a literal _x)', async () => {
    const rows = row(1, inline('A1', 'one_x000D_\ntwo'), '<c r="B1" t="str"><f>A1</f><v>tab_x0009_here</v></c>', inline('C1', 'keep _x005F_x0041_ as is'));
    expect(await read(xlsx({ rows, strings: ['a_x000D_b'] }))).toBe('"one\r\ntwo",tab\there,keep _x0041_ as is\r\n');
    expect(await read(xlsx({ rows: row(1, shared('A1', 0)), strings: ['a_x000D_b'] }))).toBe('"a\rb"\r\n');
  });

  it('reads inline rich text, shared rich text without its phonetic runs, booleans and cached formula results', async () => {
    const strings = xml(`<sst xmlns="${main}"><si><r><rPr><b/></rPr><t>ric</t></r><r><t xml:space="preserve">h </t></r><rPh sb="0" eb="1"><t>PHONETIC</t></rPh></si><si><t/></si></sst>`);
    const parts = xlsxParts({
      rows: row(1, '<c r="A1" t="inlineStr"><is><r><t>in</t></r><r><t>line</t></r></is></c>', shared('B1', 0), '<c r="C1" t="b"><v>0</v></c>',
        '<c r="D1" t="str"><f>CONCAT("a","b")</f><v>ab</v></c>', '<c r="E1"><f>1/0</f></c>', shared('F1', 1), '<c r="G1"><f>1+1</f><v>2</v></c>'),
    }).map((p) => (p.name === 'xl/sharedStrings.xml' ? { ...p, data: strings } : p));
    expect(await lines(zip(parts))).toEqual(['inline,rich ,FALSE,ab,,,2']);
  });

  it('takes the first worksheet in tab order, not a chart sheet before it', async () => {
    const sheets = '<sheet name="Chart" sheetId="2" r:id="rId4"/><sheet name="Statement" sheetId="1" r:id="rId1"/>';
    expect(await lines(xlsx({ rows: row(1, inline('A1', 'first')), sheets }))).toEqual(['first']);
  });

  it('writes nothing for a worksheet with no rows', async () => {
    expect(await read(xlsx({ rows: '' }))).toBe('');
  });

  it('hands every line over when the consumer is slow (backpressure), and keeps no spool file', async () => {
    const count = 20_000;
    const rows = Array.from({ length: count }, (_, i) => row(i + 1, inline(`A${i + 1}`, `line ${i + 1}`), num(`B${i + 1}`, `${i}.25`))).join('');
    const reader = createXlsxReader(mpesaOrgPortalXlsxV1, undefined, { tempDirectory: base });
    let received = '';
    const slow = new Writable({
      highWaterMark: 1024,
      write(chunk: Buffer, _encoding, callback) {
        received += chunk.toString('utf8');
        setImmediate(callback);
      },
    });
    await pipeline(Readable.from([xlsx({ rows })]), reader, slow);
    const out = received.slice(0, -2).split('\r\n');
    expect(out).toHaveLength(count);
    expect(out[count - 1]).toBe(`line ${count},${count - 1}.25`);
  });
});

describe('refusals', () => {
  it('refuses an error cell, naming the cell and not its value', async () => {
    const e = await refusal(xlsx({ rows: row(12, '<c r="F12" t="e"><v>#DIV/0!</v></c>') }));
    expect(e.problem).toBe('F12: an error value');
  });

  it.each([
    ['12345678901234567', 'A1: a number with more than 15 integer digits'],
    ['1E+20', 'A1: a number with more than 15 integer digits'],
    ['0.30000000000000004', 'A1: a number with more than 4 fraction digits'],
    ['1E-5', 'A1: a number with more than 4 fraction digits'],
    ['1E-99999', 'A1: a number out of range'],
    ['12,5', 'A1: not a number'],
    ['NaN', 'A1: not a number'],
  ])('refuses the number %s', async (v, problem) => {
    expect((await refusal(xlsx({ rows: row(1, num('A1', v)) }))).problem).toBe(problem);
  });

  it('refuses a shared string that does not exist, and a date before 1900-03-01', async () => {
    expect((await refusal(xlsx({ rows: row(2, shared('C2', 7)) }))).problem).toBe('C2: a shared string that does not exist');
    expect((await refusal(xlsx({ rows: row(2, num('B2', '59.5', dateStyle)) }))).problem).toBe('B2: a date before 1900-03-01');
  });

  it('refuses more rows than the limit', async () => {
    const rows = [1, 2, 3, 4].map((r) => row(r, num(`A${r}`, '1'))).join('');
    expect((await refusal(xlsx({ rows }), { limits: { rowsMax: 3 } })).problem).toBe('more than 3 rows');
    expect((await refusal(xlsx({ rows }), { limits: { entriesMax: 2 } })).problem).toBe('more than 2 rows');
  });

  it('refuses a value past the 64th column', async () => {
    const cells = Array.from({ length: 65 }, (_, i) => `<c t="inlineStr"><is><t>${i}</t></is></c>`);
    expect((await refusal(xlsx({ rows: row(3, ...cells) }))).problem).toBe('BM3: a value past column BL (more than 64 columns)');
  });

  it('refuses rows or cells out of order', async () => {
    expect((await refusal(xlsx({ rows: row(2, num('A2', '1')) + row(2, num('A2', '1')) }))).problem).toBe('row 2: rows out of order');
    expect((await refusal(xlsx({ rows: row(2, num('B2', '1'), num('A2', '1')) }))).problem).toBe('A2: cells out of order');
    expect((await refusal(xlsx({ rows: row(2, num('A3', '1')) }))).problem).toBe('row 2: a cell with a malformed reference');
  });

  it('refuses a cell longer than 32 KiB, inline or shared', async () => {
    const long = 'x'.repeat(32 * 1024 + 1);
    expect((await refusal(xlsx({ rows: row(4, inline('B4', long)) }))).problem).toBe('B4: more than 32768 characters');
    expect((await refusal(xlsx({ rows: row(4, shared('B4', 0)), strings: [long] }))).problem).toBe('shared string 0: more than 32768 characters');
  });

  it('refuses more shared strings, or more of their characters, than the limits', async () => {
    expect((await refusal(xlsx({ strings: ['a', 'b', 'c'] }), { limits: { sharedStringsMax: 2 } })).problem).toBe('more than 2 shared strings');
    expect((await refusal(xlsx({ strings: ['abc', 'def'] }), { limits: { sharedStringCharsMax: 5 } })).problem).toBe('the shared strings have more than 5 characters');
  });

  it('refuses a DOCTYPE in the sheet (entity expansion)', async () => {
    const sheet = xml(`<!DOCTYPE worksheet [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]><worksheet xmlns="${main}"><sheetData>`
      + '<row r="1"><c r="A1" t="inlineStr"><is><t>&lol2;</t></is></c></row></sheetData></worksheet>');
    expect((await refusal(xlsx({ sheet }))).problem).toBe('the worksheet: a DOCTYPE is not allowed');
  });

  it('refuses XML nested deeper than the limit, not well-formed XML, another encoding and an endless token', async () => {
    const deep = xml(`<worksheet xmlns="${main}"><sheetData>${'<a>'.repeat(40)}${'</a>'.repeat(40)}</sheetData></worksheet>`);
    expect((await refusal(xlsx({ sheet: deep }))).problem).toBe('the worksheet: XML nested deeper than 32');
    const broken = sheetXml(row(1, inline('A1', 'a'))).replace('</sheetData>', '</sheetDta>');
    expect((await refusal(xlsx({ sheet: broken }))).problem).toMatch(/^the worksheet: not well-formed XML \(line \d+, column \d+\)$/);
    const latin1 = sheetXml('').replace('UTF-8', 'ISO-8859-1');
    expect((await refusal(xlsx({ sheet: latin1 }))).problem).toBe('the worksheet: XML not in UTF-8');
    // A comment that never ends: stored, not deflated, so the zip-bomb check does not come first.
    const endless = sheetXml('').replace('<sheetData>', `<sheetData><!-- ${'x'.repeat(1100 * 1024)}`);
    expect((await refusal(xlsx({ sheet: endless, sheetEntry: { method: 0 } }))).problem).toBe('the worksheet: an XML token longer than 1048576 characters');
  });

  it('refuses a part compressed more than 200:1 (a zip bomb), and one that inflates past its declared size', async () => {
    const padded = sheetXml(row(1, num('A1', '1')) + ' '.repeat(3 * 1024 * 1024));
    expect((await refusal(xlsx({ sheet: padded }))).problem).toBe('the worksheet: compressed more than 200:1 (a zip bomb)');
    const lying = await refusal(xlsx({ sheet: padded, sheetEntry: { declaredSize: 100_000 } }));
    expect(lying.problem).toBe('a truncated or damaged zip archive (an entry is not the size the directory says)');
  });

  it('refuses parts that inflate past the total limit, and a file past the size limit', async () => {
    expect((await refusal(xlsx(mpesaStatement()), { limits: { uncompressedBytesMax: 2000 } })).problem).toBe('the parts read inflate to more than 2000 bytes');
    expect((await refusal(xlsx(mpesaStatement()), { limits: { compressedBytesMax: 1000 }, chunkBytes: 600 })).problem).toBe('the file is larger than 1000 bytes');
  });

  it('refuses what is not a zip archive at all, and an empty file', async () => {
    const csv = Buffer.from('Account Holder:,ACME RELIEF\r\nShort Code:,600000\r\n');
    expect((await refusal(csv)).problem).toBe('not a zip archive: an .xlsx file is one');
    expect((await refusal(Buffer.alloc(0))).problem).toBe('not a zip archive: an .xlsx file is one');
    expect((await refusal(Buffer.from('PK'))).problem).toBe('not a zip archive: an .xlsx file is one');
  });

  it('refuses a truncated zip archive', async () => {
    const file = xlsx(mpesaStatement());
    expect((await refusal(file.subarray(0, file.length - 10))).problem).toMatch(/^not a zip archive, or a truncated one/);
    expect((await refusal(file.subarray(0, Math.floor(file.length / 2)))).problem).toMatch(/^not a zip archive, or a truncated one/);
  });

  it('refuses an archive with no workbook, and a workbook with no worksheet', async () => {
    expect((await refusal(zip([{ name: 'readme.txt', data: 'hello' }]))).problem).toBe('no workbook in the archive: not an .xlsx file');
    expect((await refusal(xlsx({ sheets: '' }))).problem).toBe('no worksheet in the workbook');
    expect((await refusal(xlsx({ sheets: '<sheet name="Chart" sheetId="2" r:id="rId4"/>' }))).problem).toBe('no worksheet in the workbook');
  });

  it('refuses an encrypted entry, an unsupported compression method, a zip64 entry and a damaged entry', async () => {
    expect((await refusal(xlsx({ rows: '', sheetEntry: { flags: 0x1 } }))).problem).toBe('the worksheet: an encrypted zip entry is not supported');
    expect((await refusal(xlsx({ rows: '', sheetEntry: { method: 12 } }))).problem).toBe('the worksheet: zip compression method 12 is not supported (stored or deflate only)');
    expect((await refusal(xlsx({ rows: '', sheetEntry: { flags: 0x41 } }))).problem).toBe('an encrypted zip archive is not supported'); // strong encryption
    // A zip64 extra field (id 1) with the sizes it would carry: no .xlsx within the limits needs one.
    const zip64 = Buffer.alloc(20);
    zip64.writeUInt16LE(0x0001, 0);
    zip64.writeUInt16LE(16, 2);
    expect((await refusal(xlsx({ rows: '', sheetEntry: { extra: zip64 } }))).problem).toBe('a zip64 entry is not supported');
    const file = zip(xlsxParts({ rows: row(1, inline('A1', 'abc')), sheetEntry: { method: 0 } }));
    const at = file.indexOf('abc');
    file.write('abd', at);
    expect((await refusal(file)).problem).toBe('the worksheet: a damaged zip entry (its CRC-32 does not match)');
  });

  it('refuses unsupported cell types', async () => {
    expect((await refusal(xlsx({ rows: row(1, '<c r="A1" t="d"><v>2024-06-01T12:00:00</v></c>') }))).problem).toBe('A1: an ISO 8601 date cell (t="d") is not supported');
    expect((await refusal(xlsx({ rows: row(1, '<c r="A1" t="b"><v>2</v></c>') }))).problem).toBe('A1: a malformed boolean');
  });

  it('never puts the file\'s content in a message', async () => {
    const secret = 'JOHN DOE 254712345678';
    const files = [
      xlsx({ rows: row(1, `<c r="A1" t="e"><v>${secret}</v></c>`) }),
      xlsx({ rows: row(1, num('A1', secret)) }),
      xlsx({ rows: row(1, `<c r="A1" t="${secret}"><v>1</v></c>`) }),
      xlsx({ sheet: sheetXml(row(1, inline('A1', secret))).replace('</row>', '</rw>') }),
      zip([{ name: `${secret}.xml`, data: secret }]),
    ];
    for (const file of files) expect((await refusal(file)).problem).not.toMatch(/JOHN|2547/);
  });
});

describe('the spool file', () => {
  const big = (): Buffer => xlsx({ rows: Array.from({ length: 20_000 }, (_, i) => row(i + 1, inline(`A${i + 1}`, `line ${i + 1}`))).join('') });

  it('is removed when the reader is destroyed while converting', async () => {
    const reader = createXlsxReader(mpesaOrgPortalXlsxV1, undefined, { tempDirectory: base });
    const closed = new Promise((resolve) => reader.once('close', resolve));
    reader.end(big());
    await once(reader, 'readable'); // converting, and held up: nobody reads
    expect(await readdir(base)).toHaveLength(1);
    reader.destroy();
    await closed;
  });

  it('is removed when the reader is destroyed while the file is still arriving', async () => {
    const reader = createXlsxReader(mpesaOrgPortalXlsxV1, undefined, { tempDirectory: base });
    const closed = new Promise((resolve) => reader.once('close', resolve));
    const file = big();
    await new Promise((resolve) => reader.write(file.subarray(0, 1000), resolve));
    expect(await readdir(base)).toHaveLength(1);
    reader.destroy();
    await closed;
  });

  it('is private to the process user while it exists', async () => {
    const reader = createXlsxReader(mpesaOrgPortalXlsxV1, undefined, { tempDirectory: base });
    const closed = new Promise((resolve) => reader.once('close', resolve));
    await new Promise((resolve) => reader.write(big().subarray(0, 1000), resolve));
    const [directory = ''] = await readdir(base);
    const { stat } = await import('node:fs/promises');
    expect((await stat(path.join(base, directory))).mode & 0o777).toBe(0o700);
    const [file = ''] = await readdir(path.join(base, directory));
    expect((await stat(path.join(base, directory, file))).mode & 0o777).toBe(0o600);
    reader.destroy();
    await closed;
  });
});

describe('date formats and serials', () => {
  it('knows a date or time format code from a number format code', () => {
    for (const code of ['dd/mm/yyyy', 'dd\\-mm\\-yyyy\\ hh:mm:ss', '[h]:mm:ss', '[$-409]mmm d, yyyy', 'h:mm AM/PM', 'yy']) expect(isDateFormatCode(code)).toBe(true);
    for (const code of ['General', '0.00', '#,##0.00;[Red]-#,##0.00', '"days" 0', '0\\d', '0_m', '[Blue]0', '@']) expect(isDateFormatCode(code)).toBe(false);
  });

  it('rounds to the nearest second', () => {
    expect(serialToTime('45444.999999', 'A1', false, 'DD-MM-YYYY HH:MM:SS')).toBe('02-06-2024 00:00:00');
    expect(serialToTime('45444.0000057', 'A1', false, 'DD-MM-YYYY HH:MM:SS')).toBe('01-06-2024 00:00:00');
    expect(serialToTime('45444.0000058', 'A1', false, 'DD-MM-YYYY HH:MM:SS')).toBe('01-06-2024 00:00:01');
    expect(serialToTime('61', 'A1', false, 'YYYY-MM-DD HH:MM:SS')).toBe('1900-03-01 00:00:00');
    expect(serialToTime('4.5444E4', 'A1', false, 'YYYY-MM-DD HH:MM:SS')).toBe('2024-06-01 00:00:00');
  });

  it('refuses a two-digit year outside 20YY and serials out of range', () => {
    expect(() => serialToTime('36526', 'A1', false, 'DD-MM-YY hh:mm AM')).not.toThrow(); // 2000-01-01
    expect(() => serialToTime('36525', 'A1', false, 'DD-MM-YY hh:mm AM')).toThrow('A1: a date outside 2000-2099 (the format has a two-digit year)');
    expect(() => serialToTime('-1', 'A1', false, 'DD-MM-YYYY HH:MM:SS')).toThrow('A1: a date out of range');
    expect(() => serialToTime('2958466', 'A1', false, 'DD-MM-YYYY HH:MM:SS')).toThrow('A1: a date out of range');
  });

  it('agrees with the calendar of Date for every second of 1900-03-01 to 9999-12-31', () => {
    const pad = (n: number, w = 2): string => String(n).padStart(w, '0');
    fc.assert(fc.property(fc.integer({ min: 61, max: 2_958_465 }), fc.integer({ min: 0, max: 86_399 }), (day, second) => {
      const at = new Date(Date.UTC(1899, 11, 30) + (day * 86_400 + second) * 1000);
      const expected = `${pad(at.getUTCDate())}-${pad(at.getUTCMonth() + 1)}-${pad(at.getUTCFullYear(), 4)} ${pad(at.getUTCHours())}:${pad(at.getUTCMinutes())}:${pad(at.getUTCSeconds())}`;
      // The serial as Excel stores it: the shortest decimal of the double.
      expect(serialToTime(String(day + second / 86_400), 'A1', false, 'DD-MM-YYYY HH:MM:SS')).toBe(expected);
    }), { numRuns: 2000 });
  });
});

// A small .xlsx writer for tests that upload a spreadsheet: a zip of the parts an XLSX reader needs
// (content types, relationships, workbook, styles, shared strings, one worksheet), written by hand
// with deflateRawSync, so a test says exactly what each cell is: a shared string, a number, or a
// date-styled serial (as Excel writes a date: days since 1899-12-30, the time of day as the fraction).
// The same zip layout as the XLSX reader's unit tests (test/unit/xlsx-reader.test.ts).
import { crc32, deflateRawSync } from 'node:zlib';

/** One cell: text (a shared string), a number (its `<v>` text), a date-time serial, or nothing. */
export type XlsxCell =
  | string
  | { readonly number: string }
  /** A wall-clock time, written as the serial Excel stores for it with a date style. */
  | { readonly date: { year: number; month: number; day: number; hour: number; minute: number; second: number } }
  | null;

interface ZipPart {
  readonly name: string;
  readonly data: string;
}

function zip(parts: readonly ZipPart[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const p of parts) {
    const data = Buffer.from(p.data, 'utf8');
    const body = deflateRawSync(data);
    const name = Buffer.from(p.name, 'utf8');
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(0x800, 6);
    local.writeUInt16LE(8, 8);
    local.writeUInt16LE(0x21, 12); // 1980-01-01
    local.writeUInt32LE(crc32(data), 14);
    local.writeUInt32LE(body.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(name.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0x800, 8);
    central.writeUInt16LE(8, 10);
    central.writeUInt16LE(0x21, 14);
    central.writeUInt32LE(crc32(data), 16);
    central.writeUInt32LE(body.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, body);
    centrals.push(central, name);
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

const main = 'http://schemas.openxmlformats.org/spreadsheetml/2006/main';
const officeRels = 'http://schemas.openxmlformats.org/officeDocument/2006/relationships';
const packageRels = 'http://schemas.openxmlformats.org/package/2006/relationships';
const xml = (body: string): string => `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n${body}`;
const esc = (s: string): string => s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;');

/** cellXfs: 0 General, 1 a custom date-time (164, as the portal's export formats it), 2 `#,##0.00`. */
const stylesXml = xml(`<styleSheet xmlns="${main}">`
  + '<numFmts count="1"><numFmt numFmtId="164" formatCode="dd\\-mm\\-yyyy\\ hh:mm:ss"/></numFmts>'
  + '<cellXfs count="3"><xf numFmtId="0" xfId="0"/><xf numFmtId="164" xfId="0" applyNumberFormat="1"/><xf numFmtId="4" xfId="0" applyNumberFormat="1"/></cellXfs>'
  + '</styleSheet>');
const dateStyle = 1;
const amountStyle = 2;

/** Excel's serial of a wall-clock time (1900 date system), as its shortest decimal text. */
export function excelSerial(t: { year: number; month: number; day: number; hour: number; minute: number; second: number }): string {
  const days = Date.UTC(t.year, t.month - 1, t.day) / 86_400_000 + 25_569;
  return String(days + (t.hour * 3600 + t.minute * 60 + t.second) / 86_400);
}

const columnLetters = (n: number): string => {
  let letters = '';
  for (let k = n; k > 0; k = Math.floor((k - 1) / 26)) letters = String.fromCharCode(65 + ((k - 1) % 26)) + letters;
  return letters;
};

/** A workbook whose first (and only) worksheet holds `rows`, cell by cell. */
export function xlsxWorkbook(rows: readonly (readonly XlsxCell[])[]): Buffer {
  const strings: string[] = [];
  const stringIndex = (text: string): number => {
    const at = strings.indexOf(text);
    return at >= 0 ? at : strings.push(text) - 1;
  };
  const sheetRows = rows.map((cells, r) => {
    const xmlCells = cells.map((cell, c) => {
      const ref = `${columnLetters(c + 1)}${r + 1}`;
      if (cell === null || cell === '') return '';
      if (typeof cell === 'string') return `<c r="${ref}" t="s"><v>${stringIndex(cell)}</v></c>`;
      if ('number' in cell) return `<c r="${ref}" s="${amountStyle}"><v>${cell.number}</v></c>`;
      return `<c r="${ref}" s="${dateStyle}"><v>${excelSerial(cell.date)}</v></c>`;
    });
    return `<row r="${r + 1}">${xmlCells.join('')}</row>`;
  });
  const parts: ZipPart[] = [
    { name: '[Content_Types].xml', data: xml('<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/>'
      + '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/></Types>') },
    { name: '_rels/.rels', data: xml(`<Relationships xmlns="${packageRels}"><Relationship Id="rId1" Type="${officeRels}/officeDocument" Target="xl/workbook.xml"/></Relationships>`) },
    { name: 'xl/workbook.xml', data: xml(`<workbook xmlns="${main}" xmlns:r="${officeRels}"><workbookPr/><sheets><sheet name="Statement" sheetId="1" r:id="rId1"/></sheets></workbook>`) },
    {
      name: 'xl/_rels/workbook.xml.rels',
      data: xml(`<Relationships xmlns="${packageRels}">`
        + `<Relationship Id="rId1" Type="${officeRels}/worksheet" Target="worksheets/sheet1.xml"/>`
        + `<Relationship Id="rId2" Type="${officeRels}/styles" Target="styles.xml"/>`
        + `<Relationship Id="rId3" Type="${officeRels}/sharedStrings" Target="sharedStrings.xml"/>`
        + '</Relationships>'),
    },
    { name: 'xl/styles.xml', data: stylesXml },
  ];
  const sheet = xml(`<worksheet xmlns="${main}" xmlns:r="${officeRels}"><sheetData>${sheetRows.join('')}</sheetData></worksheet>`);
  const shared = xml(`<sst xmlns="${main}" count="${strings.length}" uniqueCount="${strings.length}">${strings.map((s) => `<si><t xml:space="preserve">${esc(s)}</t></si>`).join('')}</sst>`);
  return zip([...parts, { name: 'xl/sharedStrings.xml', data: shared }, { name: 'xl/worksheets/sheet1.xml', data: sheet }]);
}

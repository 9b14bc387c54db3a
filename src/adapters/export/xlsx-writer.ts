// A streaming XLSX (Office Open XML SpreadsheetML) writer for exported reports (issue #14 item 5):
// one worksheet whose rows are written as they come, zipped as they are written (yazl: entries of
// unknown size with data descriptors, ZIP64 only past 4 GiB), so memory stays bounded whatever
// the number of rows and a consumer that reads slowly slows the rows' source down.
//
// Cells are those of the CSV export: text, written as an inline string (never a formula in
// Excel) and neutralised as the CSV neutralises it (a leading apostrophe before `=`, `+`, `-`,
// `@`, a tab or a CR), so that a user who saves the sheet as CSV gets no formula back; or an
// amount, our own decimal string, written as a number cell whose `<v>` holds that exact text
// (never a JS number) and styled with a number format of its scale (`#,##0.00` for "12.50").
import { PassThrough, Readable } from 'node:stream';
import yazl from 'yazl';
import { neutralisedCell } from '../../domain/reconciliation-report.js';

/** A cell: text, an amount (a plain decimal string, e.g. "-1250.50"), or nothing. */
export type XlsxCell = { readonly text: string } | { readonly amount: string } | null;

/** Excel's limits: characters in a cell (UTF-16 code units), rows and columns in a sheet. */
export const xlsxCellTextMax = 32_767;
export const xlsxRowsMax = 1_048_576;
export const xlsxColumnsMax = 16_384;
/** Decimal places an amount may have: one number format (and cell style) each. */
export const xlsxAmountScaleMax = 6;

/** A text longer than Excel holds is cut to `xlsxCellTextMax`, its last character this mark. */
export const xlsxTruncationMark = '…';

export interface XlsxOptions {
  /** The worksheet's name: 1 to 31 characters, none of `[ ] : * ? / \`. */
  readonly sheetName?: string;
  /** The zip entries' modification time (default: now). */
  readonly mtime?: Date;
}

/** A row past Excel's limits, or a cell that is no cell: the stream fails with it. */
export class XlsxWriteError extends Error {
  override readonly name = 'XlsxWriteError';
}

const mainNs = 'http://schemas.openxmlformats.org/spreadsheetml/2006/main';
const relNs = 'http://schemas.openxmlformats.org/officeDocument/2006/relationships';
const pkgRelNs = 'http://schemas.openxmlformats.org/package/2006/relationships';
const declaration = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n';

const contentTypes = `${declaration}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">`
  + '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
  + '<Default Extension="xml" ContentType="application/xml"/>'
  + '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
  + '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
  + '<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
  + '</Types>';

const rootRels = `${declaration}<Relationships xmlns="${pkgRelNs}">`
  + `<Relationship Id="rId1" Type="${relNs}/officeDocument" Target="xl/workbook.xml"/>`
  + '</Relationships>';

const workbookRels = `${declaration}<Relationships xmlns="${pkgRelNs}">`
  + `<Relationship Id="rId1" Type="${relNs}/worksheet" Target="worksheets/sheet1.xml"/>`
  + `<Relationship Id="rId2" Type="${relNs}/styles" Target="styles.xml"/>`
  + '</Relationships>';

const workbook = (sheetName: string) => `${declaration}<workbook xmlns="${mainNs}" xmlns:r="${relNs}">`
  + `<sheets><sheet name="${escapeXml(sheetName)}" sheetId="1" r:id="rId1"/></sheets></workbook>`;

/** The number format of amounts of `scale` decimals; cell style `1 + scale` uses it (style 0: General). */
export const amountFormatOf = (scale: number): string => (scale === 0 ? '#,##0' : `#,##0.${'0'.repeat(scale)}`);
const amountFormatId = (scale: number) => 164 + scale; // custom number formats start at 164

const scales = Array.from({ length: xlsxAmountScaleMax + 1 }, (_, s) => s);
const styles = `${declaration}<styleSheet xmlns="${mainNs}">`
  + `<numFmts count="${scales.length}">${scales.map((s) => `<numFmt numFmtId="${amountFormatId(s)}" formatCode="${amountFormatOf(s)}"/>`).join('')}</numFmts>`
  + '<fonts count="1"><font><sz val="11"/><name val="Calibri"/><family val="2"/></font></fonts>'
  + '<fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill></fills>'
  + '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
  + '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
  + `<cellXfs count="${1 + scales.length}"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>`
  + scales.map((s) => `<xf numFmtId="${amountFormatId(s)}" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>`).join('')
  + '</cellXfs>'
  + '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
  + '</styleSheet>';

const sheetHead = `${declaration}<worksheet xmlns="${mainNs}" xmlns:r="${relNs}"><sheetData>`;
const sheetTail = '</sheetData></worksheet>';

/** Characters XML 1.0 does not allow (C0 controls but tab, LF and CR; lone surrogates; U+FFFE, U+FFFF). */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const illegalXmlChars = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uD800-\uDFFF\uFFFE\uFFFF]/gu;

function escapeXml(text: string): string {
  // A CR as a character reference: a parser turns a literal CR (and CRLF) into LF.
  return text.replace(/[&<>"\r]/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '"' ? '&quot;' : '&#13;'));
}

/**
 * A text cell's content as Excel is to read it back: neutralised; each character XML cannot hold
 * replaced by U+FFFD; cut to Excel's 32,767 characters (never inside a surrogate pair) with a
 * final `…`; and a literal `_xHHHH_` written `_x005F_xHHHH_`, since Excel reads `_xHHHH_` in a
 * string (ECMA-376 ST_Xstring) as the character HHHH.
 */
export function xlsxText(text: string): string {
  let t = neutralisedCell(text).replace(illegalXmlChars, '\uFFFD');
  if (t.length > xlsxCellTextMax) {
    let cut = xlsxCellTextMax - xlsxTruncationMark.length;
    if (/[\uD800-\uDBFF]/.test(t.charAt(cut - 1))) cut -= 1;
    t = t.slice(0, cut) + xlsxTruncationMark;
  }
  return t.replace(/_(?=x[0-9A-Fa-f]{4}_)/g, '_x005F_');
}

const amountPattern = /^-?(?:0|[1-9][0-9]*)(?:\.([0-9]+))?$/;

/** The column letters of a 0-based index: A, …, Z, AA, …, XFD. */
export function columnName(index: number): string {
  let name = '';
  for (let n = index + 1; n > 0; n = Math.floor((n - 1) / 26)) name = String.fromCharCode(65 + ((n - 1) % 26)) + name;
  return name;
}

function rowXml(r: number, cells: readonly XlsxCell[]): string {
  if (cells.length > xlsxColumnsMax) throw new XlsxWriteError(`row ${r}: ${cells.length} cells, more than Excel's ${xlsxColumnsMax} columns`);
  let xml = `<row r="${r}">`;
  for (let i = 0; i < cells.length; i += 1) {
    const c = cells[i];
    if (c === null || c === undefined) continue;
    const ref = `${columnName(i)}${r}`;
    if ('text' in c) {
      xml += `<c r="${ref}" t="inlineStr"><is><t xml:space="preserve">${escapeXml(xlsxText(c.text))}</t></is></c>`;
    } else {
      const m = amountPattern.exec(c.amount);
      const scale = m ? (m[1]?.length ?? 0) : -1;
      if (scale < 0 || scale > xlsxAmountScaleMax) throw new XlsxWriteError(`cell ${ref}: an amount must be a plain decimal of at most ${xlsxAmountScaleMax} decimals`);
      xml += `<c r="${ref}" s="${1 + scale}"><v>${c.amount}</v></c>`;
    }
  }
  return `${xml}</row>`;
}

/** Sheet XML is handed to the zip in chunks of about this many characters. */
const chunkChars = 64 * 1024;

async function* sheetXml(rows: AsyncIterable<readonly XlsxCell[]> | Iterable<readonly XlsxCell[]>): AsyncGenerator<string> {
  let chunk = sheetHead;
  let r = 0;
  for await (const row of rows) {
    r += 1;
    if (r > xlsxRowsMax) throw new XlsxWriteError(`more than Excel's ${xlsxRowsMax} rows`);
    chunk += rowXml(r, row);
    if (chunk.length >= chunkChars) {
      yield chunk;
      chunk = '';
    }
  }
  yield chunk + sheetTail;
}

function checkedSheetName(name: string): string {
  if (name.length < 1 || name.length > 31 || /[[\]:*?/\\]/.test(name) || name.startsWith("'") || name.endsWith("'") || name.replace(illegalXmlChars, '') !== name) {
    throw new XlsxWriteError('sheet name: 1 to 31 characters, none of [ ] : * ? / \\, not starting or ending with an apostrophe');
  }
  return name;
}

/**
 * The workbook, as a stream of the .xlsx file's bytes: its one sheet holds `rows`, read as the
 * stream is read. The rows' source is read no faster than the stream's consumer reads, and is
 * closed (its `return()`) when the stream is destroyed before the end (a client gone away). A
 * source that fails, or a row past Excel's limits, destroys the stream with that error: a partial
 * file is never ended as if whole. Use it with `stream.pipeline`.
 */
export function xlsxStream(rows: AsyncIterable<readonly XlsxCell[]> | Iterable<readonly XlsxCell[]>, options: XlsxOptions = {}): Readable {
  const sheetName = checkedSheetName(options.sheetName ?? 'Report');
  const mtime = options.mtime ?? new Date();
  const zip = new yazl.ZipFile();
  const out = zip.outputStream as PassThrough;
  const sheet = Readable.from(sheetXml(rows), { objectMode: false });

  const fail = (error: Error) => {
    if (!sheet.destroyed) sheet.destroy();
    if (!out.destroyed) out.destroy(error);
  };
  sheet.once('error', fail);
  zip.once('error', fail);
  // Ended or destroyed: a sheet not yet read to its end is closed, and its source with it.
  out.once('close', () => {
    if (!sheet.destroyed) sheet.destroy();
  });

  const part = (text: string, path: string) => zip.addBuffer(Buffer.from(text, 'utf8'), path, { mtime });
  part(contentTypes, '[Content_Types].xml');
  part(rootRels, '_rels/.rels');
  part(workbook(sheetName), 'xl/workbook.xml');
  part(workbookRels, 'xl/_rels/workbook.xml.rels');
  part(styles, 'xl/styles.xml');
  zip.addReadStream(sheet, 'xl/worksheets/sheet1.xml', { mtime });
  zip.end();
  return out;
}

// The XLSX statement reader (the M-Pesa organisation portal's XLSX export, mpesaOrgPortalXlsxV1):
// a Transform that takes the .xlsx bytes and writes the FIRST worksheet as CSV text (UTF-8, CRLF),
// one line per row, so the importer reads it exactly as it reads the portal's CSV export.
//
// The file is a user upload, so everything is bounded: a zip's central directory is at its end and
// the parts a sheet needs (shared strings, styles, the workbook) may come after the sheet, so the
// bytes are spooled to a private temporary file (removed on end, error and destroy) and the parts
// are read by random access with yauzl, each streamed through saxes. Only the shared strings are
// held in memory (inherent to XLSX), within their own limits. Numbers are copied as decimal text,
// never through a JS number. Error messages name cells, parts, sizes and limits, never content.
import { mkdtemp, open, rm, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { Transform, type TransformCallback } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { crc32 } from 'node:zlib';
import { SaxesParser } from 'saxes';
import yauzl, { type Entry, type ZipFile } from 'yauzl';
import { isColumnHeader } from '../../domain/reconciliation.js';
import { csvField, type StatementFormat, type StatementTimeFormat } from '../../domain/statement-formats.js';
import { StatementReadError, type ReaderLimits } from './limits.js';

const MiB = 1024 * 1024;

/** Bytes of the .xlsx file itself (what is spooled to disk). */
export const xlsxCompressedBytesMax = 512 * MiB;
/** Bytes inflated from all the parts read, together. */
export const xlsxUncompressedBytesMax = 2048 * MiB;
/** Inflated/compressed ratio above which a part is a zip bomb… */
export const xlsxCompressionRatioMax = 200;
/** …once this many bytes of it are inflated (tiny parts compress far better than 200:1). */
export const xlsxCompressionRatioFreeBytes = 1 * MiB;
/** Shared strings, and their characters together (they are held in memory for the sheet). */
export const xlsxSharedStringsMax = 2_000_000;
export const xlsxSharedStringCharsMax = 256 * MiB;
/** Characters of one cell's value (Excel's own limit is 32,767). */
export const xlsxCellCharsMax = 32 * 1024;
/** Columns a row may have a value in (a statement has 13; the header block fewer). */
export const xlsxColumnsMax = 64;
/** Rows of the worksheet. */
export const xlsxRowsMax = 2_000_000;
/** Nesting of XML elements (a sheet needs 5: worksheet, sheetData, row, c, is/r/t). */
export const xlsxXmlDepthMax = 32;

/** Zip entries (an .xlsx has a dozen or so; the central directory is read whole). */
export const xlsxZipEntriesMax = 10_000;
/** Characters the XML parser may take in without completing a token: bounds its own buffers. */
export const xlsxXmlTokenCharsMax = 1 * MiB;
/** Attributes of one element (saxes keeps them until the tag closes). */
export const xlsxXmlAttributesMax = 64;
/** Cell formats (cellXfs) and number formats in styles.xml (Excel's limit is 64,000). */
export const xlsxStylesMax = 65_536;
/** Relationships in one .rels part, and sheets in the workbook. */
export const xlsxRelationshipsMax = 10_000;
/** A number cell's integer and fraction digits: money within the importer's range and scale. */
export const xlsxNumberIntegerDigitsMax = 15;
export const xlsxNumberFractionDigitsMax = 4;
/**
 * Characters given to the XML parser at once. Between slices the reader pushes what it has written
 * and waits for the consumer, so the output held is what one slice can produce (a shared-string
 * cell is ~20 characters of XML: ~200 cells of at most 32 KiB).
 */
const xmlSliceChars = 4096;
/** Excel's last row and column (XFD). */
const sheetRowsLast = 1_048_576;
const sheetColumnsLast = 16_384;
/** Seconds in a day, and the last serial day Excel knows (9999-12-31). */
const secondsPerDay = 86_400n;
const serialDayLast = 2_958_465;
/** Days from 1970-01-01 back to each date system's day 0. */
const epochDays1900 = -25_569; // 1899-12-30: Excel's 1900 system, counted past its phantom 1900-02-29
const epochDays1904 = -24_107; // 1904-01-01
/** Serial 61 is 1900-03-01: before it the 1900 system counts a 29 February 1900 that never was. */
const serialFirst1900 = 61;

/** The limits the reader enforces; each defaults to the constant of the same meaning above. */
export interface XlsxReaderLimits {
  readonly compressedBytesMax: number;
  readonly uncompressedBytesMax: number;
  readonly compressionRatioMax: number;
  readonly compressionRatioFreeBytes: number;
  readonly sharedStringsMax: number;
  readonly sharedStringCharsMax: number;
  readonly cellCharsMax: number;
  readonly columnsMax: number;
  readonly rowsMax: number;
  readonly xmlDepthMax: number;
}

export const xlsxReaderLimits: XlsxReaderLimits = {
  compressedBytesMax: xlsxCompressedBytesMax,
  uncompressedBytesMax: xlsxUncompressedBytesMax,
  compressionRatioMax: xlsxCompressionRatioMax,
  compressionRatioFreeBytes: xlsxCompressionRatioFreeBytes,
  sharedStringsMax: xlsxSharedStringsMax,
  sharedStringCharsMax: xlsxSharedStringCharsMax,
  cellCharsMax: xlsxCellCharsMax,
  columnsMax: xlsxColumnsMax,
  rowsMax: xlsxRowsMax,
  xmlDepthMax: xlsxXmlDepthMax,
};

export interface XlsxReaderOptions {
  /** Where the private spool directory is made (default: the OS temporary directory). */
  readonly tempDirectory?: string;
}

/**
 * The limits: the defaults, then the readers' shared ones where given (`bytesMax` is the file's
 * bytes, `entriesMax` its rows, `fieldCharsMax` a cell's characters, `depthMax` XML nesting), then
 * the XLSX reader's own. A limit that is not a positive integer is a programming error.
 */
export function xlsxLimitsOf(overrides: Partial<XlsxReaderLimits & ReaderLimits> = {}): XlsxReaderLimits {
  const { bytesMax, entriesMax, fieldCharsMax, depthMax, ...own } = overrides;
  const shared: Partial<XlsxReaderLimits> = {
    ...(bytesMax !== undefined && { compressedBytesMax: bytesMax }),
    ...(entriesMax !== undefined && { rowsMax: entriesMax }),
    ...(fieldCharsMax !== undefined && { cellCharsMax: fieldCharsMax }),
    ...(depthMax !== undefined && { xmlDepthMax: depthMax }),
  };
  const limits: XlsxReaderLimits = { ...xlsxReaderLimits, ...shared, ...own };
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value < 1) throw new Error(`invariant violated: the reader limit ${name} is a positive integer`);
  }
  return limits;
}

/** A Transform from the .xlsx bytes to the first worksheet as CSV lines (see the file comment). */
export function createXlsxReader(format: StatementFormat, limits?: Partial<XlsxReaderLimits & ReaderLimits>, options?: XlsxReaderOptions): Transform {
  return new XlsxReader(format, xlsxLimitsOf(limits), options?.tempDirectory ?? tmpdir());
}

const refuse = (problem: string): StatementReadError => new StatementReadError(problem);

// ---------------------------------------------------------------------------------------------
// Cell values
// ---------------------------------------------------------------------------------------------

/** A decimal number as digit strings: no exponent, no leading integer zeros, no trailing fraction zeros. */
interface Decimal {
  readonly negative: boolean;
  readonly integer: string;
  readonly fraction: string;
}

const decimalPattern = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d{1,5}))?$/;
/** Digits a shifted exponent may add: past it the value is outside any limit anyway. */
const decimalShiftMax = 64;

/** Reads `<v>` text (`1020.5`, `-100`, `1E-3`) by moving the decimal point in the string. */
function parseDecimal(text: string, ref: string): Decimal {
  const m = decimalPattern.exec(text);
  const [whole = '', fraction = ''] = [m?.[2], m?.[3]];
  if (!m || whole.length + fraction.length === 0) throw refuse(`${ref}: not a number`);
  const digits = whole + fraction;
  const point = whole.length + Number(m[4] ?? '0');
  if (point > digits.length + decimalShiftMax || point < -decimalShiftMax) throw refuse(`${ref}: a number out of range`);
  const integer = point <= 0 ? '' : point >= digits.length ? digits + '0'.repeat(point - digits.length) : digits.slice(0, point);
  const rest = point <= 0 ? '0'.repeat(-point) + digits : digits.slice(Math.max(point, 0));
  const decimal = { integer: integer.replace(/^0+/, '') || '0', fraction: rest.replace(/0+$/, '') };
  const zero = decimal.integer === '0' && decimal.fraction === '';
  return { negative: m[1] === '-' && !zero, ...decimal };
}

/** A number cell as plain decimal text, within the digits money may have. */
function numberText(text: string, ref: string): string {
  const d = parseDecimal(text, ref);
  if (d.integer.length > xlsxNumberIntegerDigitsMax) throw refuse(`${ref}: a number with more than ${xlsxNumberIntegerDigitsMax} integer digits`);
  if (d.fraction.length > xlsxNumberFractionDigitsMax) throw refuse(`${ref}: a number with more than ${xlsxNumberFractionDigitsMax} fraction digits`);
  return `${d.negative ? '-' : ''}${d.integer}${d.fraction ? `.${d.fraction}` : ''}`;
}

/** Built-in number formats that are dates or times (ECMA-376 Part 1, 18.8.30). */
const builtInDateFormats = new Set([14, 15, 16, 17, 18, 19, 20, 21, 22, 45, 46, 47]);

/**
 * Whether a custom format code shows a date or time: a d, m, y, h or s outside quoted literals,
 * [brackets] (colours, locales, elapsed-time markers), backslash escapes and the `_x`/`*x` pads.
 */
export function isDateFormatCode(code: string): boolean {
  for (let i = 0; i < code.length; i += 1) {
    const c = code[i] ?? '';
    if (c === '"') i = skipTo(code, i, '"');
    else if (c === '[') i = skipTo(code, i, ']');
    else if (c === '\\' || c === '_' || c === '*') i += 1;
    else if ('dmyhsDMYHS'.includes(c)) return true;
  }
  return false;
}

const skipTo = (code: string, from: number, close: string): number => {
  const at = code.indexOf(close, from + 1);
  return at < 0 ? code.length : at;
};

/** A civil date from days since 1970-01-01 (H. Hinnant's days_from_civil, inverted; integers only). */
function civilFromDays(days: number): { year: number; month: number; day: number } {
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const doe = z - era * 146_097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const month = mp < 10 ? mp + 3 : mp - 9;
  return { year: yoe + era * 400 + (month <= 2 ? 1 : 0), month, day: doy - Math.floor((153 * mp + 2) / 5) + 1 };
}

const two = (n: number): string => String(n).padStart(2, '0');

/**
 * A date-styled serial as the mapping's time text, as local wall-clock time (the file's times are
 * in the format's `utcOffsetMinutes` already; no zone is applied), rounded to the nearest second.
 */
export function serialToTime(text: string, ref: string, date1904: boolean, format: StatementTimeFormat): string {
  const d = parseDecimal(text, ref);
  const scale = 10n ** BigInt(d.fraction.length);
  const scaled = BigInt(d.integer + d.fraction);
  const seconds = (scaled * secondsPerDay * 2n + scale) / (2n * scale);
  const serialDay = Number(seconds / secondsPerDay);
  if (d.negative || serialDay > serialDayLast) throw refuse(`${ref}: a date out of range`);
  if (!date1904 && serialDay < serialFirst1900) throw refuse(`${ref}: a date before 1900-03-01`);
  const { year, month, day } = civilFromDays(serialDay + (date1904 ? epochDays1904 : epochDays1900));
  const second = Number(seconds % secondsPerDay);
  const [hh, mm, ss] = [Math.floor(second / 3600), Math.floor(second / 60) % 60, second % 60];
  return formatTime(format, { year, month, day, hh, mm, ss }, ref);
}

function formatTime(format: StatementTimeFormat, t: { year: number; month: number; day: number; hh: number; mm: number; ss: number }, ref: string): string {
  const time = `${two(t.hh)}:${two(t.mm)}:${two(t.ss)}`;
  switch (format) {
    case 'DD-MM-YYYY HH:MM:SS':
      return `${two(t.day)}-${two(t.month)}-${t.year} ${time}`;
    case 'YYYY-MM-DD HH:MM:SS':
      return `${t.year}-${two(t.month)}-${two(t.day)} ${time}`;
    case 'DD-MM-YY hh:mm AM':
      // A two-digit year is read as 20YY: any other century would come back wrong. Minutes only,
      // as a clock shows them (the seconds are dropped, not rounded).
      if (t.year < 2000 || t.year > 2099) throw refuse(`${ref}: a date outside 2000-2099 (the format has a two-digit year)`);
      return `${two(t.day)}-${two(t.month)}-${two(t.year % 100)} ${two(t.hh % 12 || 12)}:${two(t.mm)} ${t.hh < 12 ? 'AM' : 'PM'}`;
  }
}

/**
 * Undoes the `_xHHHH_` escapes of ECMA-376 ST_Xstring: Excel writes a control character such as
 * CR as `_x000D_` in a string, and a literal `_x` as `_x005F_x`.
 */
const decodeXstring = (s: string): string => (s.includes('_x') ? s.replace(/_x([0-9A-Fa-f]{4})_/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16))) : s);

/** A CSV field: quoted when it holds a comma, a quote or a line break (quotes doubled). */

// ---------------------------------------------------------------------------------------------
// The zip archive
// ---------------------------------------------------------------------------------------------

const zipLocalHeaderSignature = Buffer.from([0x50, 0x4b, 0x03, 0x04]);
const zip64ExtraFieldId = 0x0001;
/** Stored and deflate: what Excel and every other XLSX writer use. */
const zipMethods = new Set([0, 8]);

/** yauzl's errors name the entry at times (a file name is content): say what kind of problem it is. */
function zipProblem(error: unknown): StatementReadError {
  if (error instanceof StatementReadError) return error;
  const message = error instanceof Error ? error.message : '';
  if (/end of central directory record signature not found/i.test(message)) return refuse('not a zip archive, or a truncated one (no end of central directory): an .xlsx file is a zip archive');
  if (/multi-disk/i.test(message)) return refuse('a multi-disk zip archive is not supported');
  if (/encrypt/i.test(message)) return refuse('an encrypted zip archive is not supported');
  if (/zip64/i.test(message)) return refuse('a malformed zip64 record');
  if (/unexpected EOF|too many bytes|not enough bytes/i.test(message)) return refuse('a truncated or damaged zip archive (an entry is not the size the directory says)');
  return refuse('a damaged zip archive');
}

/** The archive's entries by lower-cased name (OPC part names are case-insensitive). */
function listEntries(zip: ZipFile): Promise<Map<string, Entry>> {
  return new Promise((resolve, reject) => {
    const entries = new Map<string, Entry>();
    zip.on('entry', (entry: Entry) => {
      const problem = entryProblem(entry, entries);
      if (problem) return reject(refuse(problem));
      entries.set(entry.fileName.toLowerCase(), entry);
      zip.readEntry();
    });
    zip.once('end', () => resolve(entries));
    zip.once('error', (e: unknown) => reject(zipProblem(e)));
    zip.readEntry();
  });
}

function entryProblem(entry: Entry, seen: ReadonlyMap<string, Entry>): string | null {
  if (seen.size >= xlsxZipEntriesMax) return `more than ${xlsxZipEntriesMax} zip entries`;
  if (seen.has(entry.fileName.toLowerCase())) return 'two zip entries have the same name';
  // An .xlsx within these limits never needs zip64; one that has it was made oddly or on purpose.
  if (entry.extraFields.some((f) => f.id === zip64ExtraFieldId)) return 'a zip64 entry is not supported';
  return null;
}

/** What has been inflated so far, against the limits. */
interface InflateBudget {
  used: number;
}

/** Checks an entry's own declarations before a byte of it is inflated. */
function checkEntry(entry: Entry, part: string, limits: XlsxReaderLimits, budget: InflateBudget): void {
  if (entry.isEncrypted()) throw refuse(`${part}: an encrypted zip entry is not supported`);
  if (!zipMethods.has(entry.compressionMethod)) throw refuse(`${part}: zip compression method ${entry.compressionMethod} is not supported (stored or deflate only)`);
  if (budget.used + entry.uncompressedSize > limits.uncompressedBytesMax) throw refuse(`the parts read inflate to more than ${limits.uncompressedBytesMax} bytes`);
  checkRatio(entry.uncompressedSize, entry.compressedSize, part, limits);
}

function checkRatio(inflated: number, compressed: number, part: string, limits: XlsxReaderLimits): void {
  if (inflated > limits.compressionRatioFreeBytes && inflated > compressed * limits.compressionRatioMax) {
    throw refuse(`${part}: compressed more than ${limits.compressionRatioMax}:1 (a zip bomb)`);
  }
}

function openEntry(zip: ZipFile, entry: Entry): Promise<Readable> {
  return new Promise((resolve, reject) => {
    zip.openReadStream(entry, (e, stream) => {
      if (e) return reject(zipProblem(e));
      // The iterator below has its own listener; this one keeps a late error (after we stopped
      // reading) from being an unhandled 'error' event.
      stream.on('error', () => undefined);
      resolve(stream);
    });
  });
}

/** An entry's inflated bytes, counted against the limits as they come and checked against its CRC. */
async function* entryBytes(zip: ZipFile, entry: Entry, part: string, limits: XlsxReaderLimits, budget: InflateBudget, track: (s: Readable | null) => void): AsyncGenerator<Buffer> {
  checkEntry(entry, part, limits, budget);
  const stream = await openEntry(zip, entry);
  track(stream);
  let inflated = 0;
  let crc = 0;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      inflated += chunk.length;
      budget.used += chunk.length;
      if (budget.used > limits.uncompressedBytesMax) throw refuse(`the parts read inflate to more than ${limits.uncompressedBytesMax} bytes`);
      checkRatio(inflated, entry.compressedSize, part, limits);
      crc = crc32(chunk, crc);
      yield chunk;
    }
  } catch (e) {
    throw zipProblem(e);
  } finally {
    track(null);
    stream.destroy();
  }
  if (crc !== entry.crc32) throw refuse(`${part}: a damaged zip entry (its CRC-32 does not match)`);
}

// ---------------------------------------------------------------------------------------------
// XML
// ---------------------------------------------------------------------------------------------

type Attributes = Readonly<Record<string, string>>;

/** What a part's reader does with its elements; names are local (a `x:` prefix is dropped). */
interface XmlHandler {
  open(name: string, attributes: Attributes): void;
  text(text: string): void;
  close(name: string): void;
}

const localName = (name: string): string => name.slice(name.indexOf(':') + 1);

/**
 * Streams a part through saxes. saxes has no limits of its own, so: depth and attributes are
 * counted, a token may not run on for more than `xlsxXmlTokenCharsMax` characters (that bounds
 * its text, name and entity buffers), and a DOCTYPE is refused (entity expansion, external DTDs).
 * `checkpoint` runs between slices: it pushes output, waits for the consumer, and stops on destroy.
 */
async function parseXml(bytes: AsyncIterable<Buffer>, part: string, handler: XmlHandler, limits: XlsxReaderLimits, checkpoint: () => Promise<void>): Promise<void> {
  const parser = new SaxesParser({ position: true });
  const state = { depth: 0, attributes: 0, lastEventAt: 0 };
  const mark = (): void => {
    state.lastEventAt = parser.position;
  };
  listen(parser, part, handler, limits, state, mark);
  const feed = (text: string): void => {
    try {
      parser.write(text);
    } catch (e) {
      throw e instanceof StatementReadError ? e : refuse(`${part}: not well-formed XML (line ${parser.line}, column ${parser.column})`);
    }
    if (parser.position - state.lastEventAt > xlsxXmlTokenCharsMax) throw refuse(`${part}: an XML token longer than ${xlsxXmlTokenCharsMax} characters`);
  };
  const decoder = new StringDecoder('utf8');
  let first = true;
  for await (const chunk of bytes) {
    let text = decoder.write(chunk);
    if (first && text.length > 0) [text, first] = [text.replace(/^\uFEFF/, ''), false];
    for (let at = 0; at < text.length; at += xmlSliceChars) {
      feed(text.slice(at, at + xmlSliceChars));
      await checkpoint();
    }
  }
  feed(decoder.end());
  try {
    parser.close();
  } catch (e) {
    throw e instanceof StatementReadError ? e : refuse(`${part}: not well-formed XML (it ends early)`);
  }
  await checkpoint();
}

function listen(parser: SaxesParser, part: string, handler: XmlHandler, limits: XlsxReaderLimits, state: { depth: number; attributes: number }, mark: () => void): void {
  parser.on('doctype', () => {
    throw refuse(`${part}: a DOCTYPE is not allowed`);
  });
  parser.on('xmldecl', (decl) => {
    mark();
    if (decl.encoding !== undefined && !/^utf-?8$/i.test(decl.encoding)) throw refuse(`${part}: XML not in UTF-8`);
  });
  parser.on('opentagstart', () => {
    mark();
    state.attributes = 0;
    state.depth += 1;
    if (state.depth > limits.xmlDepthMax) throw refuse(`${part}: XML nested deeper than ${limits.xmlDepthMax}`);
  });
  parser.on('attribute', () => {
    mark();
    state.attributes += 1;
    if (state.attributes > xlsxXmlAttributesMax) throw refuse(`${part}: an element with more than ${xlsxXmlAttributesMax} attributes`);
  });
  parser.on('opentag', (tag) => {
    mark();
    handler.open(localName(tag.name), tag.attributes);
  });
  parser.on('closetag', (tag) => {
    mark();
    state.depth -= 1;
    handler.close(localName(tag.name));
  });
  parser.on('text', (text) => {
    mark();
    handler.text(text);
  });
  parser.on('cdata', (text) => {
    mark();
    handler.text(text);
  });
  parser.on('comment', mark);
  parser.on('processinginstruction', mark);
}

// ---------------------------------------------------------------------------------------------
// The parts: relationships, workbook, styles, shared strings, worksheet
// ---------------------------------------------------------------------------------------------

interface Relationship {
  readonly type: string;
  readonly target: string;
}

/** A .rels part: Id → type and target (external targets are left out: they are not parts). */
function relationshipsReader(part: string): XmlHandler & { readonly byId: Map<string, Relationship> } {
  const byId = new Map<string, Relationship>();
  return {
    byId,
    open(name, a) {
      if (name !== 'Relationship' || a.TargetMode === 'External' || !a.Id || !a.Type || !a.Target) return;
      if (byId.size >= xlsxRelationshipsMax) throw refuse(`${part}: more than ${xlsxRelationshipsMax} relationships`);
      byId.set(a.Id, { type: a.Type, target: a.Target });
    },
    text() {},
    close() {},
  };
}

const relationshipOfType = (rels: ReadonlyMap<string, Relationship>, type: string): Relationship | undefined =>
  [...rels.values()].find((r) => r.type.endsWith(`/${type}`));

/** A relationship's target as a zip entry name, relative to the part that holds the relationship. */
function resolveTarget(sourcePart: string, target: string): string | null {
  const name = target.startsWith('/') ? target.slice(1) : path.posix.join(path.posix.dirname(sourcePart), target);
  const normal = path.posix.normalize(name);
  return normal.startsWith('../') || normal === '..' ? null : normal.toLowerCase();
}

/** The relationships part of `part` (`xl/workbook.xml` → `xl/_rels/workbook.xml.rels`). */
const relsOf = (part: string): string => path.posix.join(path.posix.dirname(part), '_rels', `${path.posix.basename(part)}.rels`);

/** workbook.xml: the date system and the sheets' relationship ids, in tab order. */
function workbookReader(): XmlHandler & { date1904: boolean; readonly sheets: string[] } {
  const reader = {
    date1904: false,
    sheets: [] as string[],
    open(name: string, a: Attributes) {
      if (name === 'workbookPr') reader.date1904 = a.date1904 === '1' || a.date1904 === 'true';
      if (name !== 'sheet') return;
      if (reader.sheets.length >= xlsxRelationshipsMax) throw refuse(`the workbook: more than ${xlsxRelationshipsMax} sheets`);
      const id = Object.entries(a).find(([k]) => k.endsWith(':id'))?.[1];
      if (id) reader.sheets.push(id);
    },
    text() {},
    close() {},
  };
  return reader;
}

/**
 * styles.xml: for each cell format (cellXfs, by index), whether it shows a date or time. Only
 * `numFmts` defines the custom codes and only `cellXfs` is what a cell's `s` points at (the `xf`
 * of cellStyleXfs and the `numFmt` of a differential format do neither).
 */
function stylesReader(): XmlHandler & { dateStyles(): boolean[] } {
  const customDate = new Map<number, boolean>();
  const xfFormats: number[] = [];
  let within: string | null = null;
  const count = (): void => {
    if (customDate.size + xfFormats.length >= xlsxStylesMax) throw refuse(`the styles: more than ${xlsxStylesMax} formats`);
  };
  return {
    open(name, a) {
      if (name === 'numFmts' || name === 'cellXfs') within = name;
      else if (name === 'numFmt' && within === 'numFmts' && a.numFmtId !== undefined) {
        count();
        customDate.set(Number(a.numFmtId), isDateFormatCode(a.formatCode ?? ''));
      } else if (name === 'xf' && within === 'cellXfs') {
        count();
        xfFormats.push(Number(a.numFmtId ?? '0'));
      }
    },
    text() {},
    close(name) {
      if (name === within) within = null;
    },
    dateStyles: () => xfFormats.map((id) => customDate.get(id) ?? builtInDateFormats.has(id)),
  };
}

/** sharedStrings.xml: each `<si>` as its text (rich-text runs joined; phonetic `<rPh>` runs left out). */
function sharedStringsReader(limits: XlsxReaderLimits): XmlHandler & { readonly strings: string[] } {
  const strings: string[] = [];
  let current: string | null = null;
  let inText = false;
  let phonetic = 0;
  let chars = 0;
  return {
    strings,
    open(name) {
      if (name === 'si') current = '';
      else if (name === 'rPh') phonetic += 1;
      else if (name === 't' && current !== null && phonetic === 0) inText = true;
    },
    text(text) {
      if (!inText || current === null) return;
      current += text;
      if (current.length > limits.cellCharsMax) throw refuse(`shared string ${strings.length}: more than ${limits.cellCharsMax} characters`);
    },
    close(name) {
      if (name === 't') inText = false;
      else if (name === 'rPh') phonetic -= 1;
      else if (name === 'si' && current !== null) {
        if (strings.length >= limits.sharedStringsMax) throw refuse(`more than ${limits.sharedStringsMax} shared strings`);
        chars += current.length;
        if (chars > limits.sharedStringCharsMax) throw refuse(`the shared strings have more than ${limits.sharedStringCharsMax} characters`);
        strings.push(decodeXstring(current));
        current = null;
      }
    },
  };
}

/** What a worksheet's cells are read with. */
interface SheetContext {
  readonly format: StatementFormat;
  readonly limits: XlsxReaderLimits;
  readonly strings: readonly string[];
  readonly dateStyles: readonly boolean[];
  readonly date1904: boolean;
  /** Receives each CSV line, CRLF included. */
  readonly emit: (line: string) => void;
}

interface OpenCell {
  readonly ref: string;
  readonly column: number;
  readonly type: string;
  readonly style: number;
  value: string | null;
  inlineText: string | null;
  inValue: boolean;
  inInline: boolean;
  inText: boolean;
  phonetic: number;
}

/** `A`…`XFD` as 1…16384. */
function columnNumber(letters: string): number {
  let n = 0;
  for (const c of letters) n = n * 26 + (c.charCodeAt(0) - 64);
  return n;
}

function columnLetters(n: number): string {
  let letters = '';
  for (let k = n; k > 0; k = Math.floor((k - 1) / 26)) letters = String.fromCharCode(65 + ((k - 1) % 26)) + letters;
  return letters;
}

const cellRefPattern = /^([A-Z]{1,3})([1-9]\d{0,6})$/;
const rowNumberPattern = /^[1-9]\d{0,6}$/;

/** The worksheet's rows as CSV lines (see the file comment for what a line holds). */
class SheetReader implements XmlHandler {
  private inSheetData = false;
  private rowNumber = 0;
  private rows = 0;
  private row: string[] | null = null;
  private lastColumn = 0;
  private cell: OpenCell | null = null;
  private headerSeen = false;

  constructor(private readonly c: SheetContext) {}

  open(name: string, a: Attributes): void {
    if (name === 'sheetData') this.inSheetData = true;
    else if (name === 'row' && this.inSheetData) this.startRow(a.r);
    else if (name === 'c' && this.row) this.cell = this.startCell(a);
    else if (this.cell) this.openInCell(this.cell, name);
  }

  text(text: string): void {
    const cell = this.cell;
    if (!cell) return;
    if (cell.inValue) cell.value = (cell.value ?? '') + text;
    else if (cell.inText && cell.phonetic === 0) cell.inlineText = (cell.inlineText ?? '') + text;
    else return;
    if ((cell.value?.length ?? 0) + (cell.inlineText?.length ?? 0) > this.c.limits.cellCharsMax) {
      throw refuse(`${cell.ref}: more than ${this.c.limits.cellCharsMax} characters`);
    }
  }

  close(name: string): void {
    const cell = this.cell;
    if (name === 'c' && cell) this.finishCell(cell);
    else if (cell) this.closeInCell(cell, name);
    else if (name === 'row' && this.row) this.finishRow(this.row);
    else if (name === 'sheetData') this.inSheetData = false;
  }

  private startRow(r: string | undefined): void {
    const number = r === undefined ? this.rowNumber + 1 : rowNumberPattern.test(r) ? Number(r) : 0;
    if (number === 0 || number > sheetRowsLast) throw refuse(`row ${this.rowNumber + 1}: a malformed row number`);
    if (number <= this.rowNumber) throw refuse(`row ${number}: rows out of order`);
    this.rows += 1;
    if (this.rows > this.c.limits.rowsMax) throw refuse(`more than ${this.c.limits.rowsMax} rows`);
    this.rowNumber = number;
    this.row = [];
    this.lastColumn = 0;
  }

  private startCell(a: Attributes): OpenCell {
    const column = a.r === undefined ? this.lastColumn + 1 : this.columnOf(a.r);
    const ref = `${columnLetters(Math.min(column, sheetColumnsLast))}${this.rowNumber}`;
    if (column > sheetColumnsLast) throw refuse(`row ${this.rowNumber}: a cell past column XFD`);
    if (column <= this.lastColumn) throw refuse(`${ref}: cells out of order`);
    this.lastColumn = column;
    return {
      ref, column, type: a.t ?? 'n', style: Number(a.s ?? '0'),
      value: null, inlineText: null, inValue: false, inInline: false, inText: false, phonetic: 0,
    };
  }

  /** A cell reference's column; it must be in the row being read. */
  private columnOf(r: string): number {
    const m = cellRefPattern.exec(r);
    if (!m || Number(m[2]) !== this.rowNumber) throw refuse(`row ${this.rowNumber}: a cell with a malformed reference`);
    return columnNumber(m[1] ?? '');
  }

  private openInCell(cell: OpenCell, name: string): void {
    if (name === 'v') [cell.inValue, cell.value] = [true, cell.value ?? ''];
    else if (name === 'is') cell.inInline = true;
    else if (name === 'rPh' && cell.inInline) cell.phonetic += 1;
    else if (name === 't' && cell.inInline) cell.inText = true;
  }

  private closeInCell(cell: OpenCell, name: string): void {
    if (name === 'v') cell.inValue = false;
    else if (name === 'is') cell.inInline = false;
    else if (name === 'rPh' && cell.inInline) cell.phonetic -= 1;
    else if (name === 't') cell.inText = false;
  }

  private finishCell(cell: OpenCell): void {
    this.cell = null;
    const value = this.valueOf(cell);
    if (value === '') return;
    if (cell.column > this.c.limits.columnsMax) throw refuse(`${cell.ref}: a value past column ${columnLetters(this.c.limits.columnsMax)} (more than ${this.c.limits.columnsMax} columns)`);
    const row = this.row ?? [];
    while (row.length < cell.column - 1) row.push(''); // the cells before it that had no value
    row.push(value);
  }

  /** A cell's value as text (see the file comment); never evaluates a formula. */
  private valueOf(cell: OpenCell): string {
    const v = cell.value;
    switch (cell.type) {
      case 's':
        return v === null ? '' : this.sharedString(v.trim(), cell.ref);
      case 'inlineStr':
        return decodeXstring(cell.inlineText ?? '');
      case 'str':
        return decodeXstring(v ?? '');
      case 'b':
        if (v === null || v.trim() === '') return '';
        if (v.trim() === '1' || v.trim() === '0') return v.trim() === '1' ? 'TRUE' : 'FALSE';
        throw refuse(`${cell.ref}: a malformed boolean`);
      case 'e':
        throw refuse(`${cell.ref}: an error value`);
      case 'n':
        return v === null || v.trim() === '' ? '' : this.numberOf(v.trim(), cell);
      case 'd':
        throw refuse(`${cell.ref}: an ISO 8601 date cell (t="d") is not supported`);
      default:
        throw refuse(`${cell.ref}: an unknown cell type`);
    }
  }

  private sharedString(index: string, ref: string): string {
    const s = /^\d{1,9}$/.test(index) ? this.c.strings[Number(index)] : undefined;
    if (s === undefined) throw refuse(`${ref}: a shared string that does not exist`);
    return s;
  }

  private numberOf(v: string, cell: OpenCell): string {
    if (this.c.dateStyles[cell.style] === true) return serialToTime(v, cell.ref, this.c.date1904, this.c.format.time.format);
    return numberText(v, cell.ref);
  }

  /**
   * A row as a CSV line. A row with no value is left out (after the column-header line a blank
   * line would be a COPY error); after the column-header line a row is padded with empty fields
   * to the format's columns, as the CSV export writes them (the cells past the last value are
   * absent in XLSX, and COPY needs every column).
   */
  private finishRow(cells: string[]): void {
    this.row = null;
    if (cells.length === 0) return;
    const padded = this.headerSeen && cells.length < this.c.format.columns.length
      ? [...cells, ...Array<string>(this.c.format.columns.length - cells.length).fill('')]
      : cells;
    const line = padded.map(csvField).join(',');
    if (!this.headerSeen) this.headerSeen = isColumnHeader(this.c.format, line);
    this.c.emit(`${line}\r\n`);
  }
}

// ---------------------------------------------------------------------------------------------
// The stream
// ---------------------------------------------------------------------------------------------

/** The workbook's parts a sheet is read with, as zip entry names. */
interface WorkbookParts {
  readonly sheet: string;
  readonly sharedStrings: string | null;
  readonly styles: string | null;
  readonly date1904: boolean;
}

class XlsxReader extends Transform {
  private directory: string | null = null;
  private file: FileHandle | null = null;
  private zip: ZipFile | null = null;
  private spooled = 0;
  private readonly signature: Buffer[] = [];
  private signatureChecked = false;
  /** The write or conversion under way: destroy waits for it before the file is closed. */
  private work: Promise<unknown> = Promise.resolve();
  private cleaned: Promise<void> | null = null;
  private entry: Readable | null = null;
  private wanted: (() => void) | null = null;
  private output = '';
  private readonly budget: InflateBudget = { used: 0 };

  constructor(
    private readonly format: StatementFormat,
    private readonly limits: XlsxReaderLimits,
    private readonly tempBase: string,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const spool = this.spool(chunk);
    this.work = spool.catch(() => undefined);
    spool.then(() => callback(), (e: unknown) => callback(e as Error));
  }

  override _flush(callback: TransformCallback): void {
    const convert = this.convert().finally(() => this.cleanup());
    this.work = convert.catch(() => undefined);
    convert.then(() => callback(), (e: unknown) => callback(e as Error));
  }

  /** Called when the consumer wants more: resumes a conversion waiting on backpressure. */
  override _read(size: number): void {
    super._read(size);
    this.wake();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.wake();
    this.entry?.destroy();
    this.work.then(() => this.cleanup()).then(() => callback(error), () => callback(error));
  }

  private wake(): void {
    const wanted = this.wanted;
    this.wanted = null;
    wanted?.();
  }

  private async spool(chunk: Buffer): Promise<void> {
    this.spooled += chunk.length;
    if (this.spooled > this.limits.compressedBytesMax) throw refuse(`the file is larger than ${this.limits.compressedBytesMax} bytes`);
    this.checkSignature(chunk);
    if (!this.file) await this.openSpool();
    await this.file?.write(chunk);
  }

  /** Refuses a file that does not start as a zip archive at once, not after spooling all of it. */
  private checkSignature(chunk: Buffer): void {
    if (this.signatureChecked) return;
    this.signature.push(chunk.subarray(0, zipLocalHeaderSignature.length));
    const head = Buffer.concat(this.signature);
    if (head.length < zipLocalHeaderSignature.length) return;
    this.signatureChecked = true;
    if (!head.subarray(0, zipLocalHeaderSignature.length).equals(zipLocalHeaderSignature)) throw refuse('not a zip archive: an .xlsx file is one');
  }

  private async openSpool(): Promise<void> {
    this.directory = await mkdtemp(path.join(this.tempBase, 'tuma-xlsx-'));
    this.file = await open(path.join(this.directory, 'statement.xlsx'), 'wx+', 0o600);
  }

  private async cleanup(): Promise<void> {
    this.cleaned ??= (async () => {
      this.zip?.close();
      await this.file?.close().catch(() => undefined);
      if (this.directory) await rm(this.directory, { recursive: true, force: true });
    })();
    return this.cleaned;
  }

  private async convert(): Promise<void> {
    if (!this.signatureChecked || !this.file) throw refuse('not a zip archive: an .xlsx file is one');
    this.zip = await yauzl.fromFdPromise(this.file.fd, { lazyEntries: true, autoClose: false, validateEntrySizes: true }).catch((e: unknown) => {
      throw zipProblem(e);
    });
    // A late error on the archive (its fd) must not be an unhandled 'error' event.
    this.zip.on('error', () => undefined);
    const entries = await listEntries(this.zip);
    const parts = await this.findParts(entries);
    const strings = parts.sharedStrings ? await this.readPart(entries, parts.sharedStrings, 'the shared strings', sharedStringsReader(this.limits)) : null;
    const styles = parts.styles ? await this.readPart(entries, parts.styles, 'the styles', stylesReader()) : null;
    const sheet = new SheetReader({
      format: this.format, limits: this.limits, strings: strings?.strings ?? [], dateStyles: styles?.dateStyles() ?? [], date1904: parts.date1904,
      emit: (line) => {
        this.output += line;
      },
    });
    await this.readPart(entries, parts.sheet, 'the worksheet', sheet);
  }

  /** The workbook (from the package relationships), its first worksheet, shared strings and styles. */
  private async findParts(entries: ReadonlyMap<string, Entry>): Promise<WorkbookParts> {
    const root = entries.has('_rels/.rels') ? await this.readPart(entries, '_rels/.rels', 'the package relationships', relationshipsReader('the package relationships')) : null;
    const office = root && relationshipOfType(root.byId, 'officeDocument');
    const workbookPart = office ? resolveTarget('', office.target) : 'xl/workbook.xml';
    if (!workbookPart || !entries.has(workbookPart)) throw refuse('no workbook in the archive: not an .xlsx file');
    const workbook = await this.readPart(entries, workbookPart, 'the workbook', workbookReader());
    const relsPart = relsOf(workbookPart);
    const rels = entries.has(relsPart) ? (await this.readPart(entries, relsPart, 'the workbook relationships', relationshipsReader('the workbook relationships'))).byId : new Map<string, Relationship>();
    const sheetRel = workbook.sheets.map((id) => rels.get(id)).find((r) => r?.type.endsWith('/worksheet'));
    const sheet = sheetRel && resolveTarget(workbookPart, sheetRel.target);
    if (!sheet || !entries.has(sheet)) throw refuse('no worksheet in the workbook');
    const partOf = (type: string): string | null => {
      const rel = relationshipOfType(rels, type);
      const name = rel ? resolveTarget(workbookPart, rel.target) : null;
      return name && entries.has(name) ? name : null;
    };
    return { sheet, sharedStrings: partOf('sharedStrings'), styles: partOf('styles'), date1904: workbook.date1904 };
  }

  private async readPart<H extends XmlHandler>(entries: ReadonlyMap<string, Entry>, name: string, part: string, handler: H): Promise<H> {
    const entry = entries.get(name);
    if (!entry || !this.zip) throw refuse(`${part}: missing from the archive`);
    const bytes = entryBytes(this.zip, entry, part, this.limits, this.budget, (s) => {
      this.entry = s;
    });
    await parseXml(bytes, part, handler, this.limits, () => this.checkpoint());
    return handler;
  }

  /** Between XML slices: stop if destroyed; hand over what was written; wait while the consumer is full. */
  private async checkpoint(): Promise<void> {
    if (this.destroyed) throw refuse('the reader was destroyed');
    if (this.output.length === 0) return;
    const more = this.push(Buffer.from(this.output, 'utf8'));
    this.output = '';
    if (more) return;
    await new Promise<void>((resolve) => {
      this.wanted = resolve;
    });
    if (this.destroyed) throw refuse('the reader was destroyed');
  }
}

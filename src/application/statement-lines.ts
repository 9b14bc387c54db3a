// The data lines of a statement, read and checked while the bytes stream (issue #14): the CSV the
// header splitter passes on is split into lines and cells exactly as PostgreSQL's COPY (FORMAT csv)
// split it, each line checked by the domain's rules (domain/statement-lines.ts), and what COPY
// writes into the typed staging table comes out: for a good line its typed columns, for a bad one
// its cells (the set-based pass names its problems from them). This runs in Node, on the core the
// server's COPY leaves idle; the server then reads typed rows instead of casting text.
//
// What COPY refused, this refuses, at the line COPY named (its physical line count, which also
// counts the line breaks inside quoted cells): a line that is not CSV of the format's columns
// (a cell count other than the format's, a quote that does not close, a line break of another
// style than the first line's outside quotes), and bytes that are not UTF-8 (or a NUL byte). One
// departure: a line `\.` alone, which ended COPY's data without a word (whatever followed was never
// read), refuses the file at that line: a statement is read to its end or not at all.
import { isUtf8 } from 'node:buffer';
import { Transform, type TransformCallback } from 'node:stream';
import type { StatementLineProblem } from '../domain/reconciliation.js';
import type { StatementCell, StatementLineCheck } from '../domain/statement-lines.js';

/** Bytes one line (a CSV record) may have; a longer one is refused (COPY would hold it whole). */
export const statementLineBytesMax = 64 * 1024 * 1024;
/** Bytes decoded and read at a time (at a line break). */
const pieceBytes = 64 * 1024;

/** The columns the typed staging table takes, in the order StatementLinesToCopy writes them. */
export const typedStagingColumns = [
  'line_no', 'txn', 'kind', 'status', 'completed_at', 'paid_in_minor', 'withdrawn_minor', 'fee_minor', 'balance_minor', 'linked', 'our_ref', 'cells',
] as const;

/**
 * What a line `\.` alone is told: COPY's end-of-data marker, which would have dropped every line
 * after it unread (a hostile file could hide lines behind it).
 */
export const endOfDataLineProblem = 'a line \\. alone (an end-of-data marker): the lines after it would not be read';

/**
 * At a line `\.` alone: refuse the file there (what an import does), or end the data as COPY did
 * (the tests that hold this reader to COPY's own reading use this).
 */
export type EndOfDataLine = 'refuse' | 'end';

/** A line COPY would not have read: the whole file is refused with it. */
export class StatementLineRefusal extends Error {
  constructor(readonly problem: StatementLineProblem) {
    super(problem.problem);
    this.name = 'StatementLineRefusal';
  }
}

type Eol = 'unknown' | 'nl' | 'cr' | 'crnl';

const LF = 0x0a;
const CR = 0x0d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const DOT = 0x2e;
const COMMA = 0x2c;

/** How a record's scan ended: its content [p, end) and where the next starts, or why it has not. */
type Scan =
  | { readonly kind: 'record'; readonly end: number; readonly next: number; readonly embedded: number; readonly eol: Eol }
  | { readonly kind: 'incomplete' }
  | { readonly kind: 'error'; readonly embedded: number }
  | { readonly kind: 'end-of-data' };

/** The cells of one record's content as COPY (FORMAT csv) reads them; null when a quote does not close. */
export function csvCells(s: string): StatementCell[] | null {
  const cells: StatementCell[] = [];
  const n = s.length;
  let pos = 0;
  let quote = s.indexOf('"');
  for (;;) {
    if (quote >= 0 && quote < pos) quote = s.indexOf('"', pos);
    const comma = s.indexOf(',', pos);
    if (quote < 0 || (comma >= 0 && comma < quote)) {
      // No quote in the cell: up to the comma, an empty one null.
      const end = comma < 0 ? n : comma;
      cells.push(end === pos ? null : s.slice(pos, end));
      if (comma < 0) return cells;
      pos = comma + 1;
      continue;
    }
    if (quote === pos) {
      // The common quoted cell: quoted whole, no quote inside, a comma or the end right after.
      const q = s.indexOf('"', pos + 1);
      if (q < 0) return null;
      if (q + 1 === n) {
        cells.push(s.slice(pos + 1, q));
        return cells;
      }
      if (s.charCodeAt(q + 1) === COMMA) {
        cells.push(s.slice(pos + 1, q));
        pos = q + 2;
        continue;
      }
    }
    const cell = mixedCell(s, pos);
    if (cell === null) return null;
    cells.push(cell.value);
    if (cell.next < 0) return cells;
    pos = cell.next;
  }
}

/**
 * One cell from `pos` with a quote in it, read part by part: unquoted text as it is, a quoted part
 * up to the quote that is not doubled (`""` inside it is one quote). Its value, and where the next
 * cell starts (-1: it was the last); null when a quote does not close.
 */
function mixedCell(s: string, pos: number): { value: string; next: number } | null {
  let value = '';
  for (;;) {
    const comma = s.indexOf(',', pos);
    const quote = s.indexOf('"', pos);
    if (quote < 0 || (comma >= 0 && comma < quote)) {
      if (comma < 0) return { value: value + s.slice(pos), next: -1 };
      return { value: value + s.slice(pos, comma), next: comma + 1 };
    }
    value += s.slice(pos, quote);
    pos = quote + 1;
    for (;;) {
      const q = s.indexOf('"', pos);
      if (q < 0) return null;
      value += s.slice(pos, q);
      if (s.charCodeAt(q + 1) === QUOTE) {
        value += '"';
        pos = q + 2;
        continue;
      }
      pos = q + 1;
      break;
    }
  }
}

/** The first byte of `bytes` that is not (the start of) valid UTF-8, or is NUL (PostgreSQL refuses both); -1 when none. */
export function firstInvalidUtf8(bytes: Buffer): number {
  const nul = bytes.indexOf(0);
  if (isUtf8(bytes)) return nul;
  let i = 0;
  while (i < bytes.length && (nul < 0 || i < nul)) {
    const b = bytes[i]!;
    if (b < 0x80) { i += 1; continue; }
    let n: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) n = 1;
    else if (b >= 0xe0 && b <= 0xef) { n = 2; if (b === 0xe0) lo = 0xa0; if (b === 0xed) hi = 0x9f; }
    else if (b >= 0xf0 && b <= 0xf4) { n = 3; if (b === 0xf0) lo = 0x90; if (b === 0xf4) hi = 0x8f; }
    else return i;
    for (let k = 1; k <= n; k += 1) {
      const c = bytes[i + k];
      if (c === undefined || (k === 1 ? c < lo || c > hi : c < 0x80 || c > 0xbf)) return i;
    }
    i += n + 1;
  }
  return nul;
}

/** COPY (FORMAT text) escaping of a value: backslash, tab, line feed, carriage return. */
const copyText = (v: string): string => (/[\\\t\n\r]/.test(v) ? v.replace(/[\\\t\n\r]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r')) : v);
const copyOptional = (v: string | null): string => (v === null ? '\\N' : copyText(v));

/** A text[] literal of the cells (NULL for a null cell, every other element quoted). */
const arrayLiteral = (cells: readonly StatementCell[]): string =>
  `{${cells.map((c) => (c === null ? 'NULL' : `"${c.replace(/["\\]/g, '\\$&')}"`)).join(',')}}`;

/**
 * The data lines (bytes) in, the typed staging table's COPY (FORMAT text) rows out, one per line;
 * a line COPY would not have read ends the stream with a
 * StatementLineRefusal naming it (its line counted from the first data line, as COPY counted).
 */
export class StatementLinesToCopy extends Transform {
  /** Lines written (good and bad): the rows COPY lands; a line's number in the staging table. */
  lines = 0;
  private held: Buffer[] = [];
  private heldBytes = 0;
  /** Held bytes at which to try again to finish the held line (doubling: each byte is parsed O(1) times). */
  private retryAt = 0;
  private eol: Eol = 'unknown';
  /** COPY's line count (cur_lineno): one per record, and one per line break inside quotes. */
  private physical = 0;
  /** COPY's end-of-data line was read (endOfDataLine 'end'): nothing after it is. */
  private ended = false;

  constructor(private readonly columns: number, private readonly check: StatementLineCheck, private readonly endOfDataLine: EndOfDataLine = 'refuse') {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.ended || chunk.length === 0) return callback();
    this.held.push(chunk);
    this.heldBytes += chunk.length;
    try {
      let parsed = false;
      if (this.heldBytes >= this.retryAt && (chunk.lastIndexOf(LF) >= 0 || chunk.lastIndexOf(CR) >= 0)) {
        this.parse(false);
        parsed = true;
      }
      if (!this.ended && this.heldBytes > statementLineBytesMax && !parsed) this.parse(false);
      if (!this.ended && this.heldBytes > statementLineBytesMax) {
        throw new StatementLineRefusal({ line: this.physical + 1, column: '*', problem: `longer than ${statementLineBytesMax} bytes` });
      }
      callback();
    } catch (error) {
      callback(error as Error);
    }
  }

  override _flush(callback: TransformCallback): void {
    if (this.ended || this.heldBytes === 0) return callback();
    try {
      this.parse(true);
      callback();
    } catch (error) {
      callback(error as Error);
    }
  }

  /**
   * Parses the held bytes up to the last line break (all of them when `final`); keeps the
   * unfinished line. The bytes are decoded and read in pieces of about pieceBytes, each ending at a
   * line break, and a read chunk is not copied: strings that small die young, and no chunk-sized
   * buffer is allocated per chunk (either made the process's memory grow by ~100 MB over a 1M-line
   * file read in 4 MiB chunks).
   */
  private parse(final: boolean): void {
    let rest: Buffer | null = null;
    /** Bytes of the held ones whose records the joined head below read already: never read twice. */
    let read = 0;
    const [previous, chunk] = this.held;
    if (this.held.length === 2 && previous!.length < pieceBytes) {
      // The unfinished line held and the chunk's first line, joined (small); then the chunk itself,
      // never copied whole.
      let eol = firstLineBreak(chunk!);
      if (eol >= 0 && chunk![eol] === CR && chunk![eol + 1] === LF) eol += 1;
      if (eol >= 0) {
        const joined = Buffer.concat([previous!, chunk!.subarray(0, eol + 1)]);
        const head = this.parseBytes(joined, false);
        if (this.ended) return;
        if (head.length === 0) rest = this.parseBytes(chunk!.subarray(eol + 1), final);
        // The held bytes can end a record of their own that could not be told ended before (a
        // carriage return last: a line feed might have followed). The head then read it, and the
        // rest is read from after it.
        else read = joined.length - head.length;
      }
    }
    rest ??= this.parseBytes((this.held.length === 1 ? this.held[0]! : Buffer.concat(this.held, this.heldBytes)).subarray(read), final);
    if (this.ended) {
      this.held = [];
      this.heldBytes = 0;
      return;
    }
    this.held = rest.length === 0 ? [] : [rest.length < 65536 ? Buffer.from(rest) : rest];
    this.heldBytes = rest.length;
    this.retryAt = rest.length * 2;
  }

  /** Reads the records of `bytes` up to its last line break (all of it when `final`); returns what is left. */
  private parseBytes(bytes: Buffer, final: boolean): Buffer {
    let regionEnd = bytes.length;
    if (!final) regionEnd = Math.max(bytes.lastIndexOf(LF), bytes.lastIndexOf(CR)) + 1;
    let pos = 0;
    let window = pieceBytes;
    while (pos < regionEnd) {
      let end = regionEnd;
      if (regionEnd - pos > window) {
        const slice = bytes.subarray(pos, pos + window);
        const cut = Math.max(slice.lastIndexOf(LF), slice.lastIndexOf(CR));
        if (cut >= 0) end = pos + cut + 1;
      }
      const last = end === regionEnd;
      const used = this.parsePiece(bytes.subarray(pos, end), final && last);
      if (this.ended) return Buffer.alloc(0);
      pos += used;
      if (last) break;
      // A line that goes on past the piece (a line break inside quotes): read it in a larger one.
      window = used === 0 ? window * 2 : pieceBytes;
    }
    return bytes.subarray(pos);
  }

  /** Reads the records of `piece`; returns the bytes they took (the unfinished one's are not). */
  private parsePiece(piece: Buffer, final: boolean): number {
    const bad = firstInvalidUtf8(piece);
    const valid = bad < 0 ? piece : piece.subarray(0, bad);
    const text = valid.toString('utf8');
    // With bytes that are not UTF-8 ahead, the line they are on is read as far as they: COPY named
    // its problem there unless the line was refused before them.
    const consumed = this.parseText(text, final && bad < 0);
    if (this.ended) return 0;
    if (bad >= 0) throw new StatementLineRefusal({ line: this.physical + 1 + this.embeddedBefore(text, consumed), column: '*', problem: 'not valid UTF-8' });
    return consumed === text.length ? valid.length : valid.length - Buffer.byteLength(text.slice(consumed));
  }

  /** Line breaks inside quotes of the unfinished line at `p` (COPY counted them before it stopped there). */
  private embeddedBefore(text: string, p: number): number {
    const scan = this.scan(text, p, false);
    if (scan.kind === 'error') throw new StatementLineRefusal({ line: this.physical + 1 + scan.embedded, column: '*', problem: this.columnsProblem() });
    let inQuote = false;
    let embedded = 0;
    for (let i = p; i < text.length; i += 1) {
      const c = text.charCodeAt(i);
      // A carriage return last: COPY read ahead for a line feed before it counted it, and stopped there.
      if (c === CR && i === text.length - 1) break;
      if (c === QUOTE) inQuote = !inQuote;
      if (inQuote && c === (this.eol === 'nl' ? LF : CR)) embedded += 1;
    }
    return embedded;
  }

  private columnsProblem(): string {
    return `not CSV with exactly ${this.columns} columns`;
  }

  /**
   * The complete records of `text`, written out; returns where the unfinished one starts. `final`:
   * the text ends the data (its last record needs no line break).
   */
  private parseText(text: string, final: boolean): number {
    const out: string[] = [];
    let p = 0;
    const length = text.length;
    // The next carriage return and quote at or after p (-1: none left; -2: not looked for yet):
    // each is looked for once past each line, not from every line to the end of the piece (a file
    // with no carriage return or no quote was read in time quadratic in the piece's lines).
    let nextCr = -2;
    let nextQuote = -2;
    while (p < length) {
      let content: string;
      let next: number;
      // The common line: a line feed after the first line's, no carriage return but a CRLF's, no `\`
      // first, and an even number of quotes (none of its line feeds inside quotes).
      const nl = this.eol === 'nl' || this.eol === 'crnl' ? text.indexOf('\n', p) : -1;
      const lineEnd = this.eol === 'crnl' ? nl - 1 : nl;
      let plain = nl >= 0 && lineEnd >= p && text.charCodeAt(p) !== BACKSLASH && (this.eol === 'nl' || text.charCodeAt(lineEnd) === CR);
      if (plain) {
        if (nextCr !== -1 && nextCr < p) nextCr = text.indexOf('\r', p);
        if (nextCr >= 0 && nextCr < lineEnd) plain = false;
      }
      if (plain) {
        if (nextQuote !== -1 && nextQuote < p) nextQuote = text.indexOf('"', p);
        for (; nextQuote >= 0 && nextQuote < lineEnd; nextQuote = text.indexOf('"', nextQuote + 1)) plain = !plain;
        // An odd count leaves it false: a line feed inside quotes, read by the scan below (the
        // record then ends past the quote remembered, so it is looked for again from the next one).
      }
      if (plain) {
        content = text.slice(p, lineEnd);
        next = nl + 1;
        this.physical += 1;
      } else {
        const scan = this.scan(text, p, final);
        if (scan.kind === 'incomplete') break;
        if (scan.kind === 'end-of-data') {
          if (this.endOfDataLine === 'refuse') {
            this.flushOut(out);
            throw new StatementLineRefusal({ line: this.physical + 1, column: '*', problem: endOfDataLineProblem });
          }
          this.ended = true;
          break;
        }
        if (scan.kind === 'error') {
          this.flushOut(out);
          throw new StatementLineRefusal({ line: this.physical + 1 + scan.embedded, column: '*', problem: this.columnsProblem() });
        }
        this.eol = scan.eol;
        this.physical += 1 + scan.embedded;
        content = text.slice(p, scan.end);
        next = scan.next;
      }
      const cells = content.includes('"') ? csvCells(content) : splitPlain(content);
      if (cells === null || cells.length !== this.columns) {
        this.flushOut(out);
        throw new StatementLineRefusal({ line: this.physical, column: '*', problem: this.columnsProblem() });
      }
      out.push(this.row(cells));
      p = next;
      if (out.length >= 256) this.flushOut(out);
    }
    this.flushOut(out);
    return p;
  }

  private flushOut(out: string[]): void {
    if (out.length === 0) return;
    this.push(Buffer.from(out.join(''), 'utf8'));
    out.length = 0;
  }

  /** The COPY row of one line: typed when it is good, its cells when not. */
  private row(cells: StatementCell[]): string {
    this.lines += 1;
    const line = this.check(cells);
    if (line === null) return `${this.lines}\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t${copyText(arrayLiteral(cells))}\n`;
    return `${this.lines}\t${copyText(line.txn)}\t${line.kind}\t${line.status}\t${line.completedAt}\t${line.paidInMinor}\t${line.withdrawnMinor}\t${line.feeMinor}\t${line.balanceMinor ?? '\\N'}\t${copyOptional(line.linked)}\t${copyOptional(line.ourRef)}\t\\N\n`;
  }

  /**
   * One record from `p` as COPY's line reader (CopyReadLineText, CSV) finds it: quotes toggle; a
   * line break outside quotes ends it, and must be of the first line's style (LF, CR or CRLF); a
   * line `\.` alone ends the data. Line breaks inside quotes are counted as COPY counted them.
   */
  private scan(text: string, p: number, final: boolean): Scan {
    const eol = this.eol;
    let inQuote = false;
    let embedded = 0;
    const length = text.length;
    /** The character at i, '\0' past the end at the end of the data (COPY's padding); -1: not read yet. */
    const peek = (i: number): number => (i < length ? text.charCodeAt(i) : final ? 0 : -1);
    for (let i = p; ; i += 1) {
      if (i >= length) return final ? { kind: 'record', end: length, next: length, embedded, eol } : { kind: 'incomplete' };
      const c = text.charCodeAt(i);
      if (c === QUOTE) inQuote = !inQuote;
      if (inQuote && c === (eol === 'nl' ? LF : CR)) embedded += 1;
      if (c === CR && !inQuote) {
        if (eol === 'unknown' || eol === 'crnl') {
          const n = peek(i + 1);
          if (n < 0) return { kind: 'incomplete' };
          if (n === LF) return { kind: 'record', end: i, next: i + 2, embedded, eol: 'crnl' };
          if (eol === 'crnl') return { kind: 'error', embedded };
          return { kind: 'record', end: i, next: i + 1, embedded, eol: 'cr' };
        }
        if (eol === 'nl') return { kind: 'error', embedded };
        // COPY reads the character after a carriage return before it ends the line, whatever the
        // line breaks' style (a refill: bytes that are not UTF-8 right after it are reported on
        // this line, before the line's own problem): so does the reader.
        if (peek(i + 1) < 0) return { kind: 'incomplete' };
        return { kind: 'record', end: i, next: i + 1, embedded, eol };
      }
      if (c === LF && !inQuote) {
        if (eol === 'cr' || eol === 'crnl') return { kind: 'error', embedded };
        return { kind: 'record', end: i, next: i + 1, embedded, eol: 'nl' };
      }
      if (c === BACKSLASH && i === p) {
        // `\.` alone on a line ends the data; anything else after `\.` makes it data, read on from
        // the character after the backslash.
        if (i + 1 >= length && final) return { kind: 'record', end: length, next: length, embedded, eol };
        const c2 = peek(i + 1);
        if (c2 < 0) return { kind: 'incomplete' };
        if (c2 !== DOT) continue;
        let j = i + 2;
        if (eol === 'crnl') {
          const c3 = peek(j);
          if (c3 < 0) return { kind: 'incomplete' };
          j += 1;
          if (c3 !== CR) continue;
        }
        const c4 = peek(j);
        if (c4 < 0) return { kind: 'incomplete' };
        if (c4 !== CR && c4 !== LF) continue;
        if ((eol === 'nl' && c4 !== LF) || (eol === 'crnl' && c4 !== LF) || (eol === 'cr' && c4 !== CR)) return { kind: 'error', embedded };
        return { kind: 'end-of-data' };
      }
    }
  }
}

/** Cells of a record without quotes: split at commas, an empty cell null (COPY's CSV NULL). */
function splitPlain(content: string): StatementCell[] {
  const cells: StatementCell[] = content.split(',');
  for (let i = 0; i < cells.length; i += 1) if (cells[i] === '') cells[i] = null;
  return cells;
}

/** The first line feed or carriage return of `bytes`; -1 when none. */
function firstLineBreak(bytes: Buffer): number {
  const lf = bytes.indexOf(LF);
  const cr = lf < 0 ? bytes.indexOf(CR) : bytes.subarray(0, lf).indexOf(CR);
  return cr >= 0 ? cr : lf;
}

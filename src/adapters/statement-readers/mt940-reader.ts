// SWIFT MT940 customer statement → the entries CSV (domain/statement-formats.ts mt940V1), as a
// stream (docs/reconciliation.md (Formats)). One statement per file: `:20:` starts it,
// `:25:` names our account, `:60F:`/`:60M:` opens it, each `:61:` is an entry, `:62F:` closes it.
// `:86:` (information to the account owner) and the second line of `:61:` are free text that
// carries names and numbers of the people paid: they are skipped, never kept, never written.
//
// The closing balance comes after the entries but the mapping's header block, which states it,
// comes before them: the entry lines wait, in memory up to pendingMemoryBytes and in a private
// temporary file past that, until `:62F:` has been read; then the header and the entries go out.
import type { FileHandle } from 'node:fs/promises';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { entriesPreamble, type StatementFormat } from '../../domain/statement-formats.js';
import {
  bookedStatus, entryLine, entryReferenceCharsMax, entryTypeOf, lastSecondOfDay, ourReferenceCharsMax, signedDecimal, utcMillisOf, utcText,
} from './entries-csv.js';
import { readerLimitsOf, StatementReadError, type ReaderLimits } from './limits.js';

/** Entry lines held in memory before they go to the temporary file. */
export const pendingMemoryBytes = 1024 * 1024;
/** Bytes read back from the temporary file at a time. */
const pendingReadBytes = 64 * 1024;
/** MT940 references (customer and bank, `16x`) and the account (`:25:`, `35x`). */
export const mt940ReferenceCharsMax = 16;
export const mt940AccountCharsMax = 35;
/** The customer reference that says there is none. */
const noReference = 'NONREF';
/** Transaction types that are the bank's own charges and commissions. */
const chargeTypes: ReadonlySet<string> = new Set(['NCHG', 'NCOM']);

/** A field tag at the start of a line: `:20:`, `:28C:`, `:60F:`, `:NS:`. */
const tagPattern = /^:([0-9]{2}[A-Z]?|NS):/;
/** SWIFT's `x` character set: what MT940 allows in the fields we write (references, account). */
const swiftText = /^[A-Za-z0-9/\-?:().,'+ ]*$/;
/** `:60a:`/`:62a:`/`:64:`: mark, date YYMMDD, currency, amount with a decimal comma. */
const balancePattern = /^([CD])([0-9]{6})([A-Z]{3})([0-9]+),([0-9]*)$/;
/**
 * The first line of `:61:`: value date, optional entry date (MMDD), mark (C, D, RC, RD), optional
 * funds code (the currency's third letter), amount with a decimal comma, transaction type (one of
 * S, N, F and three characters), then the references (format 6!n[4!n]2a[1!a]15d1!a3!c16x[//16x]).
 */
const statementLinePattern = /^([0-9]{6})([0-9]{4})?(RC|RD|C|D)([A-Z])?([0-9]+),([0-9]*)([SNF][A-Z0-9]{3})(.*)$/;

interface Field {
  readonly tag: string;
  /** The field's first line, tag removed; continuation lines are counted, not kept. */
  readonly text: string;
  readonly line: number;
  chars: number;
}

interface Balance {
  readonly amount: string;
  readonly currency: string;
  readonly dayMs: number;
}

/** Where the reader is in the statement. */
type Stage = 'before' | 'header' | 'entries' | 'closed';

export function createMt940Reader(format: StatementFormat, limits?: Partial<ReaderLimits>): Transform {
  if (format.container !== 'mt940') throw new Error(`invariant violated: ${format.id} is not an MT940 mapping`);
  return new Mt940Reader(format, readerLimitsOf(limits));
}

class Mt940Reader extends Transform {
  private bytes = 0;
  private lineNumber = 0;
  /** The start of a line whose end has not come yet. */
  private carry = '';
  private field: Field | null = null;
  private stage: Stage = 'before';
  private account: string | null = null;
  private opening: Balance | null = null;
  private closing: Balance | null = null;
  private entries = 0;
  private readonly pending = new PendingLines();
  /** Resolves when the consumer wants more (while the held entries are written out). */
  private wake: (() => void) | null = null;

  constructor(
    private readonly format: StatementFormat,
    private readonly limits: ReaderLimits,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      this.bytes += chunk.length;
      if (this.bytes > this.limits.bytesMax) throw new StatementReadError(`the file is larger than ${this.limits.bytesMax} bytes`);
      // latin1 maps every byte to one character, so a chunk may end anywhere (inside a UTF-8
      // sequence of a name in :86: too); what is written is checked to be SWIFT `x` text.
      const lines = (this.carry + chunk.toString('latin1')).split('\n');
      this.carry = lines.pop() ?? '';
      for (const line of lines) this.readLine(line);
      if (this.carry.length > this.limits.fieldCharsMax) {
        throw new StatementReadError(`line ${this.lineNumber + 1}: longer than ${this.limits.fieldCharsMax} characters`, this.lineNumber + 1);
      }
    } catch (error) {
      callback(error as Error);
      return;
    }
    if (!this.pending.full) return callback();
    this.pending.spill().then(() => callback(), callback);
  }

  override _flush(callback: TransformCallback): void {
    this.finish().then(() => callback(), callback);
  }

  override _read(size: number): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
    super._read(size);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
    this.pending.discard().then(() => callback(error), () => callback(error));
  }

  private async finish(): Promise<void> {
    if (this.carry.length > 0) this.readLine(this.carry);
    this.carry = '';
    this.endField();
    if (this.bytes === 0) throw new StatementReadError('the file is empty');
    if (this.stage === 'before') throw new StatementReadError('no :20: (the statement\'s reference): not an MT940 statement');
    if (this.account === null) throw new StatementReadError('missing :25: (the account)');
    if (this.opening === null) throw new StatementReadError('missing :60F: (the opening balance)');
    if (this.closing === null) throw new StatementReadError('missing :62F: (the closing balance): the file may be cut short');
    this.push(entriesPreamble(this.format, {
      account: this.account,
      currency: this.opening.currency,
      from: utcText(this.opening.dayMs),
      to: utcText(lastSecondOfDay(this.closing.dayMs)),
      opening: this.opening.amount,
      closing: this.closing.amount,
    }));
    for await (const chunk of this.pending.chunks()) {
      if (this.destroyed) return;
      // Backpressure by hand: a flush cannot return to let the consumer read, so it waits for _read.
      if (!this.push(chunk)) await new Promise<void>((resolve) => { this.wake = resolve; });
    }
    await this.pending.discard();
  }

  private readLine(raw: string): void {
    this.lineNumber += 1;
    const line = unwrapBlocks(raw.replace(/\r$/, ''));
    if (line === null) return this.endField();
    const tag = tagPattern.exec(line);
    if (tag) {
      this.endField();
      this.field = { tag: tag[1] ?? '', text: line.slice(tag[0].length), line: this.lineNumber, chars: line.length - tag[0].length };
    } else if (this.field && line.trim().length > 0) {
      this.field.chars += line.length;
    }
    // A line outside every field (a bank's file header before the first tag) is never read.
    if (this.field && this.field.chars > this.limits.fieldCharsMax) {
      throw new StatementReadError(`line ${this.lineNumber}: field :${this.field.tag}: longer than ${this.limits.fieldCharsMax} characters`, this.lineNumber);
    }
  }

  private endField(): void {
    const field = this.field;
    this.field = null;
    if (field) this.readField(field);
  }

  private readField(f: Field): void {
    const at = `line ${f.line}: `;
    const fail: (problem: string) => never = (problem) => { throw new StatementReadError(at + problem, f.line); };
    if (this.stage === 'before' && f.tag !== '20') fail(`:${f.tag}: before :20: (the statement's reference)`);
    switch (f.tag) {
      case '20':
        if (this.stage !== 'before') fail('a second :20:: the file holds more than one statement; import each statement on its own');
        this.stage = 'header';
        return;
      case '25': {
        if (this.account !== null) fail('a second :25:');
        const account = f.text.trim();
        if (account.length === 0 || account.length > mt940AccountCharsMax || !swiftText.test(account)) {
          fail(`:25: is not an account of 1-${mt940AccountCharsMax} SWIFT characters`);
        }
        this.account = account;
        return;
      }
      case '60F':
      case '60M':
        if (this.stage !== 'header') fail(`:${f.tag}: where no opening balance may come (one per statement, before the entries)`);
        this.opening = this.balance(f, fail);
        this.stage = 'entries';
        return;
      case '61':
        if (this.stage !== 'entries') fail(':61: outside the entries (before the opening balance or after the closing balance)');
        this.entry(f, fail);
        return;
      case '62F':
        if (this.stage !== 'entries') fail(':62F: without an opening balance before it, or twice');
        this.closing = this.balance(f, fail);
        if (this.closing.dayMs < (this.opening?.dayMs ?? 0)) fail(':62F: is dated before the opening balance');
        this.stage = 'closed';
        return;
      case '62M':
        fail(':62M: (an intermediate closing balance): the statement goes on in another message; one whole statement per file');
        return;
      default:
        // :21:, :28C:, :64:, :65:, :86:, :NS: and others carry nothing the entries need.
        return;
    }
  }

  private balance(f: Field, fail: (problem: string) => never): Balance {
    const m = balancePattern.exec(f.text.trim());
    if (!m) return fail(`:${f.tag}: is not a balance (C or D, date YYMMDD, currency, amount with a decimal comma)`);
    const [, mark, date, currency, integer, fraction] = m as unknown as [string, string, string, string, string, string];
    const dayMs = yymmddMillis(date);
    if (dayMs === null) return fail(`:${f.tag}: its date is no calendar date`);
    if (this.opening && currency !== this.opening.currency) fail(`:${f.tag}: its currency is not the opening balance's`);
    const amount = signedDecimal(integer, fraction, mark === 'D');
    if (amount === null) return fail(`:${f.tag}: its amount has more than 15 integer digits`);
    return { amount, currency, dayMs };
  }

  private entry(f: Field, fail: (problem: string) => never): void {
    this.entries += 1;
    if (this.entries > this.limits.entriesMax) fail(`more than ${this.limits.entriesMax} entries`);
    const m = statementLinePattern.exec(f.text.trimEnd());
    if (!m) fail(':61: is not a statement line (value date, [entry date], C/D/RC/RD, [funds code], amount with a decimal comma, type, reference)');
    const [, valueDate, entryDate, mark, fundsCode, integer, fraction, type, references] = m as unknown as [string, string, string | undefined, string, string | undefined, string, string, string, string];
    const dayMs = yymmddMillis(valueDate);
    if (dayMs === null) fail(':61: its value date is no calendar date');
    if (entryDate !== undefined && !isMonthDay(entryDate)) fail(':61: its entry date is no calendar date');
    const currency = this.opening?.currency ?? '';
    // The funds code is the third letter of the entry's currency: another letter, another currency.
    if (fundsCode !== undefined && fundsCode !== currency[2]) fail(':61: its funds code is not the statement\'s currency');
    const debit = mark === 'D' || mark === 'RC';
    const amount = signedDecimal(integer, fraction, debit);
    if (amount === null) fail(':61: its amount has more than 15 integer digits');
    const { customer, bank } = splitReferences(references);
    for (const [name, ref] of [['customer reference', customer], ['bank reference', bank]] as const) {
      if (ref.length > mt940ReferenceCharsMax || !swiftText.test(ref)) fail(`:61: its ${name} is not 0-${mt940ReferenceCharsMax} SWIFT characters`);
    }
    const ours = customer === noReference ? '' : customer;
    const reference = bank.length > 0 ? bank : ours;
    if (reference.length === 0) fail(':61: the entry has no reference (no bank reference, and the customer reference is NONREF or empty)');
    if (reference.length > entryReferenceCharsMax || ours.length > ourReferenceCharsMax) fail(':61: a reference is too long');
    this.pending.add(entryLine({
      reference,
      bookedAt: utcText(dayMs),
      status: bookedStatus,
      amount,
      type: entryTypeOf({ reversal: mark.startsWith('R'), charge: chargeTypes.has(type), debit }),
      linkedReference: '',
      ourReference: ours,
      sourceLine: f.line,
    }));
  }
}

/**
 * A line without SWIFT's block wrappers (`{1:…}{2:…}{3:{108:…}}{4:` before the text, `-}` and
 * `{5:…}` after it); null when nothing of the text block is left (an end of message, a line of
 * blocks only, an empty line): the field before it ends there.
 */
export function unwrapBlocks(line: string): string | null {
  let rest = line;
  while (rest.startsWith('{')) {
    if (rest.startsWith('{4:')) { rest = rest.slice(3); break; }
    const end = closingBrace(rest);
    if (end < 0) return null;
    rest = rest.slice(end + 1);
  }
  if (/^-\}?(\{.*)?$/.test(rest.trimEnd())) return null;
  return rest.trim().length === 0 ? null : rest;
}

/** The index of the brace that closes the one at 0 (blocks nest: `{3:{108:…}}`), or -1. */
function closingBrace(text: string): number {
  let depth = 0;
  for (let i = 0; i < text.length; i += 1) {
    if (text[i] === '{') depth += 1;
    else if (text[i] === '}' && (depth -= 1) === 0) return i;
  }
  return -1;
}

/** `:61:`'s references: the customer's before `//`, the bank's after it (16x each; the bank's may be absent). */
export function splitReferences(text: string): { customer: string; bank: string } {
  const at = text.indexOf('//');
  if (at < 0) return { customer: text.trim(), bank: '' };
  return { customer: text.slice(0, at).trim(), bank: text.slice(at + 2).trim() };
}

/** MT940 dates are YYMMDD of this century (SWIFT: the year 20YY). */
function yymmddMillis(text: string): number | null {
  return utcMillisOf(2000 + Number(text.slice(0, 2)), Number(text.slice(2, 4)), Number(text.slice(4, 6)));
}

/** An entry date MMDD: its year is not written, so 29 February is allowed. */
function isMonthDay(text: string): boolean {
  return utcMillisOf(2000, Number(text.slice(0, 2)), Number(text.slice(2, 4))) !== null;
}

/**
 * Lines that wait for the closing balance: in memory up to pendingMemoryBytes, then appended to a
 * file only this process can read, in a directory of its own that discard() removes (the lines
 * hold references and amounts, never names).
 */
class PendingLines {
  private parts: string[] = [];
  private partsBytes = 0;
  private dir: string | null = null;
  private file: FileHandle | null = null;
  private fileBytes = 0;

  add(line: string): void {
    this.parts.push(line);
    this.partsBytes += Buffer.byteLength(line);
  }

  get full(): boolean {
    return this.partsBytes >= pendingMemoryBytes;
  }

  async spill(): Promise<void> {
    if (this.file === null) {
      this.dir = await mkdtemp(join(tmpdir(), 'tuma-mt940-'));
      this.file = await open(join(this.dir, 'entries.csv'), 'w+', 0o600);
    }
    const bytes = Buffer.from(this.parts.join(''), 'utf8');
    this.parts = [];
    this.partsBytes = 0;
    await this.file.write(bytes, 0, bytes.length, this.fileBytes);
    this.fileBytes += bytes.length;
  }

  /** The held lines in the order they were added. */
  async *chunks(): AsyncGenerator<Buffer> {
    for (let at = 0; this.file !== null && at < this.fileBytes;) {
      const buffer = Buffer.alloc(Math.min(pendingReadBytes, this.fileBytes - at));
      const { bytesRead } = await this.file.read(buffer, 0, buffer.length, at);
      if (bytesRead === 0) throw new Error('invariant violated: the held entries file is shorter than what was written to it');
      at += bytesRead;
      yield buffer.subarray(0, bytesRead);
    }
    if (this.partsBytes > 0) yield Buffer.from(this.parts.join(''), 'utf8');
  }

  async discard(): Promise<void> {
    const { file, dir } = this;
    this.file = null;
    this.dir = null;
    this.parts = [];
    this.partsBytes = 0;
    await file?.close().catch(() => undefined);
    if (dir !== null) await rm(dir, { recursive: true, force: true });
  }
}

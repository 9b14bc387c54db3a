// Import a provider statement and reconcile it (issue #14, architecture §8a): the file's bytes
// stream once — through SHA-256, through the vault (sealed 1 MiB chunks to a temporary file, to be
// stored in the same transaction) and, past the header block, through the line checker
// (statement-lines.ts: each line split and checked as it streams, on the core the server's COPY
// leaves idle) into COPY as typed rows. One set-based SQL pass then inserts the good lines, matches
// them against the account's payouts and classifies every line and every ledger payout of the
// period; the bad lines' problems are named from their cells.
// Idempotent: the same bytes for the same account answer the stored reconciliation again.
import { createHash, randomUUID, type Hash } from 'node:crypto';
import { mkdtemp, open, rm, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Transform, type Readable, type TransformCallback, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { deflate, inflate } from 'node:zlib';
import { isCurrencyCode, scaleOf, type CurrencyCode } from '../domain/currency.js';
import {
  amountPatternOf,
  isColumnHeader,
  parseStatementHeader,
  statementRejection,
  type StatementHeader,
  type StatementRejection,
} from '../domain/reconciliation.js';
import { err, ok, type Result } from '../domain/result.js';
import { mappingProblems, statementFormats, type StatementFormat } from '../domain/statement-formats.js';
import { observingRunningBalance, RunningBalance } from '../domain/running-balance.js';
import { statementLineCheckOf } from '../domain/statement-lines.js';
import type { BeneficiaryVault, StatementFileEncoding, StatementImportSession, StatementRecord, StatementStore } from './ports.js';
import { StatementLineRefusal, StatementLinesToCopy } from './statement-lines.js';

/** Largest statement file accepted: a month of a busy shortcode (1M lines ≈ 204 MB) with room. */
export const statementBytesMax = 512 * 1024 * 1024;
/** Header-block bytes read before the column-header line must have come. */
export const statementHeaderBytesMax = 64 * 1024;
/** Plaintext bytes per sealed chunk of the original file. */
export const statementFileChunkBytes = 1024 * 1024;
/** How the chunks of a file imported now are encoded before they are sealed. */
export const statementFileEncoding: StatementFileEncoding = 'deflate';
/**
 * zlib level of the chunks: 3 takes a portal export to about a sixth at ~8 ms per MiB (level 1:
 * a fifth, hardly faster; 6: 6.5x at three times the CPU), measured on generated M-Pesa lines.
 */
const statementFileDeflateLevel = 3;
/**
 * Chunks being compressed (on libuv's threads) and sealed while the bytes stream on to COPY: the
 * stream waits when this many are in hand (bounds the memory to ~this many MiB).
 */
export const statementFileChunksInFlightMax = 2;
/** Bad lines named in a refusal or a partial import (every bad line is counted). */
export const refusedLinesReportedMax = 1000;
/** The longest period one statement may cover. */
export const statementPeriodMaxMs = 366 * 24 * 3600 * 1000;

export interface ImportStatementInput {
  /** The statement file's bytes, read once. */
  readonly source: Readable;
  readonly accountId: string;
  /** The account's currency: the statement's amounts are in it. */
  readonly currency: string;
  /** `id@version` of a mapping in domain/statement-formats.ts. */
  readonly format: string;
  /** [from, to): must be the period the file's header declares. */
  readonly period: { readonly from: Date; readonly to: Date };
  /** The provider account's own identifiers (an M-Pesa shortcode, a GSMA `type/value`): the file must name one, where its format names its account. */
  readonly accountIdentifiers?: readonly string[];
  readonly options?: {
    /** Store the good lines of a file with bad lines (listed in the answer); default: refuse it whole. */
    readonly importGoodLines?: boolean;
    /** Below statementBytesMax only (tests, a stricter route). */
    readonly sizeBytesMax?: number;
  };
  readonly caller: { readonly organisationId: string; readonly subject: string };
}

/** A reader turns a non-CSV file's bytes into the CSV lines its mapping declares (header block, columns). */
export type StatementReader = (format: StatementFormat) => Transform;

export interface ImportStatementDeps {
  readonly store: StatementStore;
  readonly vault: Pick<BeneficiaryVault, 'sealUnowned'>;
  /** The readers of every container but CSV (adapters/statement-readers). */
  readonly readers?: Partial<Record<Exclude<StatementFormat['container'], 'csv'>, StatementReader>>;
}

/** Running-balance breaks named and stored per statement (every break is counted). */
export const balanceBreaksReportedMax = 100;

export interface ImportedStatement extends StatementRecord {
  /** true when these bytes had been imported before: nothing new was stored. */
  readonly replayed: boolean;
}

/** A refusal found while the bytes stream: it stops the stream, the import answers it. */
class StreamRefusal extends Error {
  constructor(readonly rejection: StatementRejection) {
    super(rejection.code);
  }
}

export async function importStatement(deps: ImportStatementDeps, input: ImportStatementInput): Promise<Result<ImportedStatement, StatementRejection>> {
  const checked = checkInput(input);
  if (!checked.ok) {
    input.source.destroy();
    return checked;
  }
  const { format, currency } = checked.value;
  const reader = format.container === 'csv' ? null : deps.readers?.[format.container];
  if (reader === undefined) {
    input.source.destroy();
    return err(statementRejection('STATEMENT_FORMAT_UNKNOWN', `no reader for ${format.container} files here`));
  }
  const statementId = randomUUID();
  const dir = await mkdtemp(join(tmpdir(), 'tuma-statement-'));
  try {
    const sealedFile = await open(join(dir, 'sealed'), 'w+', 0o600);
    try {
      const ingress = new StatementIngress(input.options?.sizeBytesMax ?? statementBytesMax, statementId, deps.vault, sealedFile);
      const splitter = new HeaderSplitter(format);
      const running = new RunningBalance(balanceBreaksReportedMax);
      const lines = new StatementLinesToCopy(format.columns.length, observingRunningBalance(statementLineCheckOf(format, scaleOf(currency), input.period), running));
      const stages = reader ? [ingress, reader(format), splitter, lines] : [ingress, splitter, lines];
      return await deps.store.importing((session) => importInSession(session, { input, format, currency, statementId, ingress, splitter, stages, sealedFile, running }));
    } finally {
      await sealedFile.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function checkInput(input: ImportStatementInput): Result<{ format: StatementFormat; currency: CurrencyCode }, StatementRejection> {
  const format = statementFormats.get(input.format);
  if (!format) return err(statementRejection('STATEMENT_FORMAT_UNKNOWN', `no format ${input.format.slice(0, 80)}`));
  const problems = mappingProblems(format);
  if (problems.length > 0) throw new Error(`invariant violated: the mapping ${input.format} is invalid: ${problems.join('; ')}`);
  if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(input.accountId)) return err(statementRejection('STATEMENT_REQUEST_INVALID', 'account: not an account id'));
  if (!isCurrencyCode(input.currency)) return err(statementRejection('STATEMENT_REQUEST_INVALID', 'currency: not a currency Tuma pays in'));
  const { from, to } = input.period;
  if (!(from.getTime() < to.getTime()) || to.getTime() - from.getTime() > statementPeriodMaxMs) {
    return err(statementRejection('STATEMENT_REQUEST_INVALID', 'period: from must be before to, at most 366 days apart'));
  }
  const sizeMax = input.options?.sizeBytesMax ?? statementBytesMax;
  if (!Number.isInteger(sizeMax) || sizeMax < 1 || sizeMax > statementBytesMax) {
    return err(statementRejection('STATEMENT_REQUEST_INVALID', `sizeBytesMax: 1 to ${statementBytesMax}`));
  }
  if (input.caller.subject.length < 1 || input.caller.subject.length > 256) return err(statementRejection('STATEMENT_REQUEST_INVALID', 'caller: no subject'));
  return ok({ format, currency: input.currency });
}

interface SessionArgs {
  readonly input: ImportStatementInput;
  readonly format: StatementFormat;
  readonly currency: CurrencyCode;
  readonly statementId: string;
  readonly ingress: StatementIngress;
  readonly splitter: HeaderSplitter;
  /** From the bytes to the typed rows: ingress, the reader if any, the header splitter, the line checker. */
  readonly stages: readonly Transform[];
  /** The running balance, read by the line checker as the lines stream. */
  readonly running: RunningBalance;
  readonly sealedFile: FileHandle;
}

async function importInSession(session: StatementImportSession, a: SessionArgs): Promise<Result<ImportedStatement, StatementRejection>> {
  const { input, format, splitter, ingress } = a;
  try {
    await session.copy((sink: Writable) => pipeline([input.source, ...a.stages, sink]));
  } catch (error) {
    if (error instanceof StreamRefusal) return err(error.rejection);
    if (error instanceof StatementLineRefusal) {
      const line = { ...error.problem, line: error.problem.line + splitter.linesBeforeData };
      return err(statementRejection('STATEMENT_LINES_INVALID', 'a line is not CSV of the format\'s columns', { lines: [line], badLines: 1 }));
    }
    const read = readProblemOf(error);
    if (read) return err(statementRejection('STATEMENT_FILE_INVALID', read));
    throw error;
  }
  const sha256 = ingress.digest();
  const existing = await session.findBySha256(input.accountId, sha256);
  if (existing) return ok({ ...existing, replayed: true });
  const header = parseStatementHeader(format, splitter.headerLines, a.currency);
  if (!header.ok) return err(statementRejection(header.error.code, header.error.detail));
  const named = format.accountField ? header.value.fields[format.accountField] : undefined;
  if (named !== undefined && input.accountIdentifiers && input.accountIdentifiers.length > 0 && !input.accountIdentifiers.includes(named.trim())) {
    return err(statementRejection('STATEMENT_ACCOUNT_MISMATCH', `the file's ${format.header.find((h) => h.key === format.accountField)?.label ?? 'account'} is not this provider account's`));
  }
  const period = checkPeriod(header.value, input.period);
  if (!period.ok) return period;
  const overlap = await session.findOverlapping(input.accountId, input.period.from, input.period.to);
  let previous: { id: string; version: number } | null = null;
  if (overlap) {
    // Other bytes for exactly this period: a new version. Part of it: refused (periods never overlap).
    if (overlap.periodFrom.getTime() !== input.period.from.getTime() || overlap.periodTo.getTime() !== input.period.to.getTime()) {
      return err(statementRejection('STATEMENT_PERIOD_OVERLAP',
        `statement ${overlap.statementId} covers ${overlap.periodFrom.toISOString()} to ${overlap.periodTo.toISOString()}`));
    }
    previous = { id: overlap.statementId, version: overlap.version };
  }
  return store(session, a, sha256, header.value, previous);
}

/** A reader's refusal of the file (adapters/statement-readers): its problem never quotes the file. */
function readProblemOf(error: unknown): string | null {
  if (!(error instanceof Error) || error.name !== 'StatementReadError') return null;
  // The reader's problem names its own place (a file line, an entry and its XML line): as it is.
  const { problem } = error as Error & { problem?: unknown };
  return typeof problem === 'string' ? problem : null;
}

function checkPeriod(header: StatementHeader, period: ImportStatementInput['period']): Result<true, StatementRejection> {
  if (header.period === null) return ok(true);
  if (header.period.from.getTime() === period.from.getTime() && header.period.to.getTime() === period.to.getTime()) return ok(true);
  return err(statementRejection('STATEMENT_PERIOD_MISMATCH',
    `the file covers ${header.period.from.toISOString()} to ${header.period.to.toISOString()}, not ${period.from.toISOString()} to ${period.to.toISOString()}`));
}

async function store(session: StatementImportSession, a: SessionArgs, sha256: Buffer, header: StatementHeader, previous: { id: string; version: number } | null): Promise<Result<ImportedStatement, StatementRejection>> {
  const { input, format, statementId, splitter, ingress } = a;
  const record = {
    statementId, accountId: input.accountId, currency: a.currency, organisationId: input.caller.organisationId,
    format: format.id, formatVersion: format.version, periodFrom: input.period.from, periodTo: input.period.to,
    sha256Hex: sha256.toString('hex'), sizeBytes: ingress.sizeBytes, version: (previous?.version ?? 0) + 1, previousId: previous?.id ?? null,
    openingBalanceMinor: header.balances?.openingMinor ?? null, closingBalanceMinor: header.balances?.closingMinor ?? null,
  };
  await session.insertStatement({ ...record, importedBy: input.caller.subject, fileChunks: ingress.fileChunks, fileEncoding: statementFileEncoding });
  const outcome = await session.classify({
    statementId, accountId: input.accountId, format, amountPattern: amountPatternOf(scaleOf(a.currency), format.amounts.thousandsSeparator),
    scale: scaleOf(a.currency), periodFrom: input.period.from, periodTo: input.period.to, linesBeforeData: splitter.linesBeforeData,
    refusedLinesReportedMax, balances: header.balances, previousId: previous?.id ?? null, running: a.running.outcome(),
  });
  if (outcome.linesRefused > 0 && input.options?.importGoodLines !== true) {
    return err(statementRejection('STATEMENT_LINES_INVALID', `${outcome.linesRefused} of ${outcome.linesTotal} lines are invalid`,
      { lines: outcome.refusedLines, badLines: outcome.linesRefused }));
  }
  const chunks = await session.storeFileChunks(statementId, readSealedChunks(a.sealedFile));
  if (chunks !== ingress.fileChunks) throw new Error('invariant violated: every sealed chunk of the file is stored');
  await session.recordOutcome(statementId, chunks, outcome);
  return ok({ ...record, ...outcome, replayed: false });
}

/** Sealed chunks as the splitter wrote them: a 4-byte big-endian length, then the sealed bytes. */
async function* readSealedChunks(file: FileHandle): AsyncGenerator<Buffer> {
  const length = Buffer.alloc(4);
  let position = 0;
  for (;;) {
    const { bytesRead } = await file.read(length, 0, 4, position);
    if (bytesRead === 0) return;
    if (bytesRead !== 4) throw new Error('invariant violated: a sealed chunk has its length');
    const sealed = Buffer.alloc(length.readUInt32BE(0));
    const body = await file.read(sealed, 0, sealed.length, position + 4);
    if (body.bytesRead !== sealed.length) throw new Error('invariant violated: a sealed chunk is whole');
    position += 4 + sealed.length;
    yield sealed;
  }
}

const deflated = promisify(deflate);
const inflated = promisify(inflate);

/** A stored chunk of a statement's original file, opened: the bytes as they were read. */
export async function openStatementFileChunk(
  vault: Pick<BeneficiaryVault, 'openUnowned'>, statementId: string, chunkNo: number, encoding: StatementFileEncoding, sealed: Buffer,
): Promise<Buffer> {
  const plaintext = await vault.openUnowned(`statement:${statementId}:${chunkNo}`, 'statement_file', sealed);
  return encoding === 'deflate' ? inflated(plaintext, { maxOutputLength: statementFileChunkBytes }) : plaintext;
}

/**
 * The file's bytes as they came: counted against the size limit, hashed, passed on untouched, and
 * in 1 MiB chunks compressed and sealed to a temporary file. Compressing runs on libuv's threads
 * and sealing after it, in order, while the bytes go on to COPY (the server's core parses them);
 * the stream waits only when statementFileChunksInFlightMax chunks are in hand.
 */
class StatementIngress extends Transform {
  sizeBytes = 0;
  fileChunks = 0;
  private readonly hash: Hash = createHash('sha256');
  private plain: Buffer[] = [];
  private plainBytes = 0;
  private fileBytes = 0;
  /** The chunks handed on and not yet written, oldest first: each one's write, chained in order. */
  private readonly inFlight: Promise<void>[] = [];
  private written: Promise<void> = Promise.resolve();

  constructor(
    private readonly sizeMax: number,
    private readonly statementId: string,
    private readonly vault: Pick<BeneficiaryVault, 'sealUnowned'>,
    private readonly file: FileHandle,
  ) {
    super();
  }

  digest(): Buffer {
    return this.hash.digest();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.sizeBytes += chunk.length;
    if (this.sizeBytes > this.sizeMax) {
      callback(new StreamRefusal(statementRejection('STATEMENT_TOO_LARGE', `the file is larger than ${this.sizeMax} bytes`)));
      return;
    }
    this.hash.update(chunk);
    this.push(chunk);
    this.plain.push(chunk);
    this.plainBytes += chunk.length;
    if (this.plainBytes >= statementFileChunkBytes) {
      // One copy of what is in hand (none when it is one read), then every whole chunk a view of it.
      const held = this.plain.length === 1 ? this.plain[0]! : Buffer.concat(this.plain, this.plainBytes);
      let at = 0;
      for (; held.length - at >= statementFileChunkBytes; at += statementFileChunkBytes) this.handOn(held.subarray(at, at + statementFileChunkBytes));
      this.plain = at < held.length ? [held.subarray(at)] : [];
      this.plainBytes = held.length - at;
    }
    if (this.inFlight.length < statementFileChunksInFlightMax) return callback();
    // The oldest chunk's write; a failure of any of them ends the stream with it.
    this.inFlight[0]!.then(() => callback(), callback);
  }

  override _flush(callback: TransformCallback): void {
    if (this.sizeBytes === 0) return callback(new StreamRefusal(statementRejection('STATEMENT_HEADER_INVALID', 'the file is empty')));
    if (this.plainBytes > 0) this.handOn(Buffer.concat(this.plain, this.plainBytes));
    this.written.then(() => callback(), callback);
  }

  /**
   * Compresses `plaintext` (now, on libuv's threads) and seals and writes it after the chunks
   * before: every chunk but the last is exactly statementFileChunkBytes of the file.
   */
  private handOn(plaintext: Buffer): void {
    const compressed = deflated(plaintext, { level: statementFileDeflateLevel });
    // Never unhandled: its failure reaches the stream through `written`.
    compressed.catch(() => undefined);
    const chunkNo = this.fileChunks;
    this.fileChunks += 1;
    const write = this.written.then(async () => {
      const sealed = await this.vault.sealUnowned(`statement:${this.statementId}:${chunkNo}`, 'statement_file', await compressed);
      const length = Buffer.alloc(4);
      length.writeUInt32BE(sealed.length, 0);
      await this.file.write(Buffer.concat([length, sealed]), 0, 4 + sealed.length, this.fileBytes);
      this.fileBytes += 4 + sealed.length;
    });
    write.catch(() => undefined);
    this.written = write;
    this.inFlight.push(write);
    void write.then(() => this.inFlight.shift(), () => undefined);
  }
}

/**
 * Keeps the header block (bounded) for the domain to read and passes the data lines after the
 * column-header line through untouched.
 */
class HeaderSplitter extends Transform {
  readonly headerLines: string[] = [];
  linesBeforeData = 0;
  private header: Buffer | null = Buffer.alloc(0);

  constructor(private readonly format: StatementFormat) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const body = this.header === null ? chunk : this.takeHeader(chunk);
    if (body instanceof StreamRefusal) return callback(body);
    if (body.length > 0) this.push(body);
    callback();
  }

  override _flush(callback: TransformCallback): void {
    if (this.header !== null) {
      callback(new StreamRefusal(statementRejection('STATEMENT_HEADER_INVALID', `no column-header line (${this.format.columns[0]?.title ?? ''}, …) in the file`)));
      return;
    }
    callback();
  }

  /** Adds `chunk` to the header block; once the column-header line has come, returns what follows it. */
  private takeHeader(chunk: Buffer): Buffer | StreamRefusal {
    let pending = Buffer.concat([this.header ?? Buffer.alloc(0), chunk]);
    for (;;) {
      const eol = pending.indexOf(0x0a);
      if (eol < 0) break;
      let line = pending.subarray(0, eol).toString('utf8').replace(/\r$/, '');
      if (this.linesBeforeData === 0) line = line.replace(/^\uFEFF/, '');
      pending = pending.subarray(eol + 1);
      this.linesBeforeData += 1;
      if (isColumnHeader(this.format, line)) {
        this.header = null;
        return pending;
      }
      if (this.linesBeforeData >= this.format.headerLinesMax) {
        return new StreamRefusal(statementRejection('STATEMENT_HEADER_INVALID', `no column-header line in the first ${this.format.headerLinesMax} lines`));
      }
      this.headerLines.push(line);
    }
    if (pending.length > statementHeaderBytesMax) {
      return new StreamRefusal(statementRejection('STATEMENT_HEADER_INVALID', `a header line is longer than ${statementHeaderBytesMax} bytes`));
    }
    this.header = Buffer.from(pending);
    return Buffer.alloc(0);
  }
}

// Limits every statement reader (MT940, camt.053) enforces while the bytes stream, and the one
// error a reader raises. A reader reads a file a person uploaded: each limit bounds the memory or
// the time one file can take, and is named so that the refusal can say which one was reached.

/** The importer's own ceiling on a statement file (application/reconcile.ts statementBytesMax). */
export const readerBytesMaxDefault = 512 * 1024 * 1024;
/** Entries in one statement: a month of a busy disbursement account, with room. */
export const readerEntriesMaxDefault = 2_000_000;
/**
 * Characters of one field (an MT940 field with its continuation lines, an XML element's text). The
 * longest the standards allow is MT940 :86: (6 × 65) and camt.053 AddtlNtryInf (500): 4 KiB is
 * far above either, and small enough that no single field can hold a file's worth of memory.
 */
export const readerFieldCharsMaxDefault = 4 * 1024;
/** XML nesting: camt.053's deepest paths (…/TxDtls/RltdPties/Cdtr/Pty/PstlAdr/AdrLine) are ~12. */
export const readerDepthMaxDefault = 32;

export interface ReaderLimits {
  /** Bytes of the original file. */
  readonly bytesMax: number;
  /** Entries written. */
  readonly entriesMax: number;
  /** Characters of one field or element text (and of one MT940 line). */
  readonly fieldCharsMax: number;
  /** Depth of XML elements (camt.053 only). */
  readonly depthMax: number;
}

export const readerLimitsDefault: ReaderLimits = {
  bytesMax: readerBytesMaxDefault,
  entriesMax: readerEntriesMaxDefault,
  fieldCharsMax: readerFieldCharsMaxDefault,
  depthMax: readerDepthMaxDefault,
};

/** The defaults with `overrides` on top; a limit that is not a positive integer is a programming error. */
export function readerLimitsOf(overrides: Partial<ReaderLimits> = {}): ReaderLimits {
  const given = Object.fromEntries(Object.entries(overrides).filter(([, value]) => value !== undefined));
  const limits: ReaderLimits = { ...readerLimitsDefault, ...given };
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value < 1) throw new Error(`invariant violated: the reader limit ${name} is a positive integer`);
  }
  return limits;
}

/**
 * A statement the reader cannot turn into entries. `problem` says where and what was expected,
 * never what the file holds there (a field may carry a name or a phone number), so it can be
 * logged and shown as it is; the importer turns it into a refusal.
 */
export class StatementReadError extends Error {
  override readonly name = 'StatementReadError';

  constructor(
    /** What is wrong and where, in words (the position is part of it: `line 12: …`, `entry 3 (XML line 40): …`). */
    readonly problem: string,
    /** MT940: the file's line (1-based); camt.053: the entry's ordinal (1-based), when the problem is in an entry. */
    readonly line?: number,
  ) {
    super(problem);
  }
}

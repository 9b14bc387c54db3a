// What both bank statement readers write: one CSV line per entry in the columns of the entries
// mapping (domain/statement-formats.ts entryColumns), amounts as decimal text, times in UTC. Pure
// functions over strings: an amount is never a JS number, so no digit is ever lost or invented.
import { csvField } from '../../domain/statement-formats.js';

/** The importer's `Entry Reference` column holds at most this many characters. */
export const entryReferenceCharsMax = 100;
/** The importer's `Our Reference` column holds at most this many characters. */
export const ourReferenceCharsMax = 128;
/** Integer digits of an amount: the importer's amount grammar stops there (minor units fit a bigint). */
export const amountIntegerDigitsMax = 15;

/** The status the entries mapping counts as completed (statements.completed). */
export const bookedStatus = 'Booked';

/** The kinds the entries mapping recognises (kinds.charge / reversal / payout); anything else is `other`. */
export type EntryType = 'payout' | 'charge' | 'reversal' | 'other';

export interface Entry {
  readonly reference: string;
  /** `YYYY-MM-DD HH:MM:SS` UTC, or empty when the source has no booking date (the importer names the line). */
  readonly bookedAt: string;
  readonly status: string;
  /** Signed decimal text, `.` as decimal mark. */
  readonly amount: string;
  readonly type: EntryType;
  /** Empty unless the source has it in a standard place. */
  readonly linkedReference: string;
  readonly ourReference: string;
  /** The entry's line in the uploaded file (the `Source Line` column): a refusal names it. */
  readonly sourceLine: number;
}

/** A CSV field, as every statement and report writes it. */
export { csvField };

/**
 * One entry as a CSV line of the bank entry columns, `\r\n` ended. `Balance` is left empty:
 * neither source has one per entry.
 */
export function entryLine(e: Entry): string {
  return `${[e.reference, e.bookedAt, e.status, e.amount, e.type, e.linkedReference, e.ourReference, '', String(e.sourceLine)].map(csvField).join(',')}\r\n`;
}

/**
 * Reversal first (a reversed charge is still a reversal: it undoes an entry), then charge, then
 * the side: every other debit is taken for a payout, every other credit is `other`.
 */
export function entryTypeOf(e: { readonly reversal: boolean; readonly charge: boolean; readonly debit: boolean }): EntryType {
  if (e.reversal) return 'reversal';
  if (e.charge) return 'charge';
  return e.debit ? 'payout' : 'other';
}

/**
 * Signed decimal text from an amount's digits: leading zeros of the integer part dropped (they
 * carry no value and the importer's grammar refuses them), the fraction kept digit for digit
 * (`50` stays `50`: the importer checks it against the currency's scale). Zero is written
 * unsigned whatever its side. Null when the integer part has more than amountIntegerDigitsMax digits.
 */
export function signedDecimal(integerDigits: string, fractionDigits: string, negative: boolean): string | null {
  if (!/^[0-9]+$/.test(integerDigits) || !/^[0-9]*$/.test(fractionDigits)) return null;
  const integer = integerDigits.replace(/^0+(?=[0-9])/, '');
  if (integer.length > amountIntegerDigitsMax) return null;
  const isZero = integer === '0' && /^0*$/.test(fractionDigits);
  return `${negative && !isZero ? '-' : ''}${integer}${fractionDigits.length > 0 ? `.${fractionDigits}` : ''}`;
}

/** Milliseconds since the epoch of a UTC calendar time; null when it is no such time (30 February, 24:00). */
export function utcMillisOf(year: number, month: number, day: number, hour = 0, minute = 0, second = 0): number | null {
  if (year < 1 || year > 9999 || month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return null;
  const ms = Date.UTC(year, month - 1, day, hour, minute, second);
  const back = new Date(ms);
  // Date.UTC rolls 30 February over into March: a day that does not come back is no day.
  if (back.getUTCFullYear() !== year || back.getUTCMonth() !== month - 1 || back.getUTCDate() !== day) return null;
  return ms;
}

/** `YYYY-MM-DD HH:MM:SS` of an instant, in UTC (the entries mapping's time format). */
export const utcText = (ms: number): string => new Date(ms).toISOString().slice(0, 19).replace('T', ' ');

/** The last second of the UTC day that starts at `dayStartMs`. */
export const lastSecondOfDay = (dayStartMs: number): number => dayStartMs + 86_400_000 - 1000;

// Reconciliation rules that need no I/O (issue #14): the classes of difference, the refusals, the
// exact amount grammar (the same pattern the SQL pass uses, so a header amount and a line amount
// are read by one rule), and the reading of a statement's header block.
import type { CurrencyCode } from './currency.js';
import { scaleOf } from './currency.js';
import { err, ok, type Result } from './result.js';
import type { HeaderField, StatementFormat } from './statement-formats.js';

/**
 * Every statement line and every ledger payout of the period gets exactly one of these.
 * - matched: the provider and the ledger agree (paid and paid, amount equal; or failed and not paid).
 * - amount_over / amount_under: the provider moved more / less than the ledger's payout.
 * - status_mismatch: the provider says failed, the ledger says paid.
 * - paid_not_in_ledger (urgent): the provider paid a payout of ours whose ledger state is not paid.
 * - missing_at_provider: a payout the ledger counts as paid in the period, absent from the statement.
 * - duplicate_at_provider: a second line for one provider transaction id (in the file or an earlier statement).
 * - unknown_reference: a payout line whose transaction id is no payout of this account (a lost
 *   callback, which a status query resolves, or a payment not made through Tuma).
 * - reversal: a reversal line (linked to its payout in a later step).
 * - non_payout: a charge, a top-up, a withdrawal or any other line that is not a payout.
 */
export const reconciliationClasses = [
  'matched',
  'amount_over',
  'amount_under',
  'status_mismatch',
  'paid_not_in_ledger',
  'missing_at_provider',
  'duplicate_at_provider',
  'unknown_reference',
  'reversal',
  'non_payout',
] as const;
export type ReconciliationClass = (typeof reconciliationClasses)[number];

/**
 * Refusals of a statement import. Stable codes; to be merged into the one catalogue
 * (domain/errors.ts, contracts/error-codes.json) when the HTTP route lands.
 */
export const statementRejectionCodes = {
  STATEMENT_REQUEST_INVALID: 'The import request is invalid; see detail.',
  STATEMENT_FORMAT_UNKNOWN: 'No such statement format.',
  STATEMENT_TOO_LARGE: 'The statement file is larger than allowed.',
  STATEMENT_HEADER_INVALID: 'The statement header block is not the format\'s; see detail.',
  STATEMENT_PERIOD_MISMATCH: 'The statement covers another period than the one given.',
  STATEMENT_PERIOD_OVERLAP: 'Another statement of this account covers part of this period.',
  STATEMENT_LINES_INVALID: 'Lines of the statement are invalid; see lines. Nothing was stored.',
} as const;
export type StatementRejectionCode = keyof typeof statementRejectionCodes;

/** A bad line, named: never the cell's content (it may hold a name or a number). */
export interface StatementLineProblem {
  readonly line: number;
  readonly column: string;
  readonly problem: string;
}

export interface StatementRejection {
  readonly code: StatementRejectionCode;
  readonly detail?: string;
  readonly lines?: readonly StatementLineProblem[];
  /** Bad lines in all (`lines` lists the first of them). */
  readonly badLines?: number;
}

export const statementRejection = (code: StatementRejectionCode, detail?: string, extra: Partial<StatementRejection> = {}): StatementRejection => ({
  code,
  ...(detail === undefined ? {} : { detail }),
  ...extra,
});

/**
 * The grammar of an amount with exactly `scale` fraction digits, optional thousands separators
 * and an optional leading minus: a POSIX regular expression that both JavaScript and PostgreSQL
 * read the same way. At most 15 integer digits, so the minor units always fit a bigint.
 */
export function amountPatternOf(scale: number, thousands: ',' | null): string {
  if (!Number.isInteger(scale) || scale < 0 || scale > 4) throw new Error('invariant violated: a scale is 0 to 4');
  const grouped = thousands ? `|[1-9][0-9]{0,2}(,[0-9]{3}){1,4}` : '';
  const fraction = scale > 0 ? `\\.[0-9]{${scale}}` : '';
  return `^-?(0|[1-9][0-9]{0,14}${grouped})${fraction}$`;
}

/**
 * The same grammar as amountPatternOf, as shapes: an amount is in it when its text with every
 * digit written 9 is one of `shapes` and, unless that shape is one of `singleDigit` (an integer
 * part of one digit, which may be 0), it does not start with 0 or -0. The set-based pass checks
 * amounts this way (a hashed lookup and two prefix compares, ~0.6 µs; the pattern took ~1.6 µs).
 */
export function amountShapesOf(scale: number, thousands: ',' | null): { readonly shapes: readonly string[]; readonly singleDigit: readonly string[] } {
  amountPatternOf(scale, thousands);
  const fraction = scale > 0 ? `.${'9'.repeat(scale)}` : '';
  const integers: string[] = [];
  for (let n = 1; n <= 15; n += 1) integers.push('9'.repeat(n));
  if (thousands) for (let lead = 1; lead <= 3; lead += 1) for (let groups = 1; groups <= 4; groups += 1) integers.push('9'.repeat(lead) + `${thousands}999`.repeat(groups));
  const unsigned = integers.map((i) => i + fraction);
  return { shapes: [...unsigned, ...unsigned.map((u) => `-${u}`)], singleDigit: [`9${fraction}`, `-9${fraction}`] };
}

/** Is `text` an amount of amountShapesOf's grammar? (What the SQL pass computes, for tests.) */
export function isAmountShape(text: string, scale: number, thousands: ',' | null): boolean {
  const { shapes, singleDigit } = amountShapesOf(scale, thousands);
  const shape = text.replace(/[0-9]/g, '9');
  if (!shapes.includes(shape)) return false;
  return singleDigit.includes(shape) || !(text.startsWith('0') || text.startsWith('-0'));
}

/**
 * The local days around a period ([from, to) widened by a day each side), as the statement writes
 * them (`DD-MM-YYYY`), each with the instant its local midnight is: the set-based pass reads a
 * time as one of these days plus one of the day's 86,400 `HH:MM:SS`. A time on no such day is
 * either no time at all or outside the period, and is named as such.
 */
export function periodDaysOf(from: Date, to: Date, utcOffsetMinutes: number): { readonly dmy: string[]; readonly midnight: Date[] } {
  const offsetMs = utcOffsetMinutes * 60_000;
  const day = 86_400_000;
  const first = Math.floor((from.getTime() + offsetMs) / day) - 1;
  const last = Math.floor((to.getTime() + offsetMs) / day) + 1;
  const dmy: string[] = [];
  const midnight: Date[] = [];
  for (let d = first; d <= last; d += 1) {
    const local = new Date(d * day);
    const two = (n: number) => String(n).padStart(2, '0');
    dmy.push(`${two(local.getUTCDate())}-${two(local.getUTCMonth() + 1)}-${String(local.getUTCFullYear()).padStart(4, '0')}`);
    midnight.push(new Date(d * day - offsetMs));
  }
  return { dmy, midnight };
}

/** Minor units of an amount written in the statement's grammar; null when it is not one. */
export function statementAmountMinor(text: string, currency: CurrencyCode, thousands: ',' | null): bigint | null {
  if (!new RegExp(amountPatternOf(scaleOf(currency), thousands)).test(text)) return null;
  return BigInt(text.replaceAll(',', '').replace('.', ''));
}

/**
 * Splits one CSV line (RFC 4180 quoting, no embedded line breaks: header lines are short) into
 * its fields; null when its quotes do not close.
 */
export function splitCsvLine(line: string): string[] | null {
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    if (line[i] === '"') {
      let value = '';
      i += 1;
      for (;;) {
        const q = line.indexOf('"', i);
        if (q < 0) return null;
        value += line.slice(i, q);
        if (line[q + 1] === '"') { value += '"'; i = q + 2; continue; }
        i = q + 1;
        break;
      }
      fields.push(value);
      if (i === line.length) return fields;
      if (line[i] !== ',') return null;
      i += 1;
    } else {
      const c = line.indexOf(',', i);
      if (c < 0) { fields.push(line.slice(i)); return fields; }
      fields.push(line.slice(i, c));
      i = c + 1;
    }
  }
}

/** `DD-MM-YYYY HH:MM:SS` at `utcOffsetMinutes` as an instant; null when it is no such time. */
export function parseDayMonthYearTime(text: string, utcOffsetMinutes: number): Date | null {
  const m = /^(\d{2})-(\d{2})-(\d{4}) (\d{2}):(\d{2}):(\d{2})$/.exec(text);
  if (!m) return null;
  const [d, mo, y, h, mi, s] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  const utc = Date.UTC(y, mo - 1, d, h, mi, s);
  const back = new Date(utc);
  if (y < 1 || back.getUTCDate() !== d || back.getUTCMonth() !== mo - 1 || h > 23 || mi > 59 || s > 59) return null;
  return new Date(utc - utcOffsetMinutes * 60_000);
}

/** What a statement's header block says. Balances in minor units of the statement's currency. */
export interface StatementHeader {
  readonly fields: Readonly<Partial<Record<HeaderField['key'], string>>>;
  /** [from, to): the file's `To` is the last second it covers. */
  readonly periodFrom: Date;
  readonly periodTo: Date;
  readonly openingBalanceMinor: bigint;
  readonly closingBalanceMinor: bigint;
}

/**
 * Reads the header block (the lines before the column-header line): each known label, with or
 * without its colon, is followed by its value in the next cell; several pairs may share a line.
 */
export function parseStatementHeader(format: StatementFormat, lines: readonly string[], currency: CurrencyCode): Result<StatementHeader, string> {
  const byLabel = new Map(format.header.map((h) => [h.label, h]));
  const fields: Partial<Record<HeaderField['key'], string>> = {};
  for (const [n, line] of lines.entries()) {
    const cells = splitCsvLine(line);
    if (!cells) return err(`line ${n + 1}: a quote does not close`);
    for (let i = 0; i + 1 < cells.length; i += 1) {
      const field = byLabel.get((cells[i] ?? '').trim().replace(/:$/, '').trim());
      if (!field) continue;
      fields[field.key] = (cells[i + 1] ?? '').trim();
      i += 1;
    }
  }
  const missing = format.header.filter((h) => h.required && !fields[h.key]).map((h) => h.label);
  if (missing.length > 0) return err(`missing ${missing.join(', ')}`);
  const period = /^From (.+) To (.+)$/.exec(fields.timePeriod ?? '');
  const from = period ? parseDayMonthYearTime(period[1] ?? '', format.time.utcOffsetMinutes) : null;
  const last = period ? parseDayMonthYearTime(period[2] ?? '', format.time.utcOffsetMinutes) : null;
  if (!from || !last || last < from) return err('Time Period: not "From DD-MM-YYYY HH:MM:SS To DD-MM-YYYY HH:MM:SS"');
  const opening = statementAmountMinor(fields.openingBalance ?? '', currency, format.amounts.thousandsSeparator);
  const closing = statementAmountMinor(fields.closingBalance ?? '', currency, format.amounts.thousandsSeparator);
  if (opening === null) return err(`Opening Balance: not an amount with ${scaleOf(currency)} decimals`);
  if (closing === null) return err(`Closing Balance: not an amount with ${scaleOf(currency)} decimals`);
  return ok({ fields, periodFrom: from, periodTo: new Date(last.getTime() + 1000), openingBalanceMinor: opening, closingBalanceMinor: closing });
}

/** Is `line` the format's column-header line? Compared cell by cell, exactly. */
export function isColumnHeader(format: StatementFormat, line: string): boolean {
  const cells = splitCsvLine(line);
  return cells !== null && cells.length === format.columns.length && cells.every((c, i) => c.trim() === format.columns[i]?.title);
}

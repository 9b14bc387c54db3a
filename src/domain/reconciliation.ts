// Reconciliation rules that need no I/O (issue #14): the classes of difference, the refusals, the
// exact amount grammar (the same pattern the SQL pass uses, so a header amount and a line amount
// are read by one rule), and the reading of a statement's header block.
import type { CurrencyCode } from './currency.js';
import { scaleOf } from './currency.js';
import { err, ok, type Result } from './result.js';
import type { HeaderField, StatementFormat, StatementTimeFormat } from './statement-formats.js';

/**
 * Every statement line and every ledger payout of the period gets exactly one of these.
 * - matched: the provider and the ledger agree (paid and paid, amount and fee equal; failed and
 *   not paid; a charge line equal to the ledger's fee of its payout).
 * - amount_over / amount_under: the provider moved more / less than the ledger's payout.
 * - fee_mismatch: the amount agrees, the fee the provider took (on the line, or its charge line) does not.
 * - status_mismatch: the provider says failed, the ledger says paid.
 * - paid_not_in_ledger (urgent): the provider paid a payout of ours whose ledger state is not paid.
 * - missing_at_provider: a payout the ledger counts as paid in the period, named by no line of
 *   this statement or an earlier one.
 * - timing: a payout sent before the cut-off and still in flight at it, named by no line: carried
 *   to the next period, closed when a line of a later statement names it.
 * - duplicate_at_provider: a second line for one provider transaction id (in the file or an earlier period's statement).
 * - unknown_reference: a payout line whose transaction id is no payout of this account (a lost
 *   callback, which a status query resolves, or a payment not made through Tuma).
 * - reversal: a reversal line, of a payout the ledger reversed too (or of nothing Tuma knows).
 * - late_reversal (urgent): a reversal line of a payout the ledger still counts as paid: the money came back.
 * - non_payout: a top-up, a withdrawal, a charge of no payout, or any other line that is not a payout.
 */
export const reconciliationClasses = [
  'matched',
  'amount_over',
  'amount_under',
  'fee_mismatch',
  'status_mismatch',
  'paid_not_in_ledger',
  'missing_at_provider',
  'timing',
  'duplicate_at_provider',
  'unknown_reference',
  'reversal',
  'late_reversal',
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
  STATEMENT_CURRENCY_MISMATCH: 'The statement is in another currency than the provider account.',
  STATEMENT_FILE_INVALID: 'The file is not a valid file of the format; see detail.',
  STATEMENT_ACCOUNT_MISMATCH: 'The statement is of another provider account than the one given.',
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
 * `upToScale`: the fraction may have fewer digits than the scale, or none (`1000`, `1000.5`).
 */
export function amountShapesOf(scale: number, thousands: ',' | null, upToScale = false): { readonly shapes: readonly string[]; readonly singleDigit: readonly string[] } {
  amountPatternOf(scale, thousands);
  const fractions = scale === 0 ? [''] : upToScale ? ['', ...Array.from({ length: scale }, (_, i) => `.${'9'.repeat(i + 1)}`)] : [`.${'9'.repeat(scale)}`];
  const integers: string[] = [];
  for (let n = 1; n <= 15; n += 1) integers.push('9'.repeat(n));
  if (thousands) for (let lead = 1; lead <= 3; lead += 1) for (let groups = 1; groups <= 4; groups += 1) integers.push('9'.repeat(lead) + `${thousands}999`.repeat(groups));
  const unsigned = integers.flatMap((i) => fractions.map((f) => i + f));
  const single = fractions.map((f) => `9${f}`);
  return { shapes: [...unsigned, ...unsigned.map((u) => `-${u}`)], singleDigit: [...single, ...single.map((x) => `-${x}`)] };
}

/** Is `text` an amount of amountShapesOf's grammar? (What the SQL pass computes, for tests.) */
export function isAmountShape(text: string, scale: number, thousands: ',' | null, upToScale = false): boolean {
  const { shapes, singleDigit } = amountShapesOf(scale, thousands, upToScale);
  const shape = text.replace(/[0-9]/g, '9');
  if (!shapes.includes(shape)) return false;
  return singleDigit.includes(shape) || !(text.startsWith('0') || text.startsWith('-0'));
}

/** The day part of each time format as it is written, and its length (the time of day follows it). */
const dayParts: Record<StatementTimeFormat, { readonly length: number; readonly write: (y: number, m: number, d: number) => string }> = {
  'DD-MM-YYYY HH:MM:SS': { length: 10, write: (y, m, d) => `${two(d)}-${two(m)}-${String(y).padStart(4, '0')}` },
  'YYYY-MM-DD HH:MM:SS': { length: 10, write: (y, m, d) => `${String(y).padStart(4, '0')}-${two(m)}-${two(d)}` },
  'DD-MM-YY hh:mm AM': { length: 8, write: (y, m, d) => `${two(d)}-${two(m)}-${two(y % 100)}` },
};
const two = (n: number): string => String(n).padStart(2, '0');

/** Characters of a format's day part: the time of day is the rest of the cell. */
export const dayPartLength = (format: StatementTimeFormat): number => dayParts[format].length;

/**
 * The local days around a period ([from, to) widened by a day each side), as the statement writes
 * them, each with the instant its local midnight is: the set-based pass reads a time as one of
 * these days plus one of the day's times. A time on no such day is either no time at all or
 * outside the period, and is named as such.
 */
export function periodDaysOf(from: Date, to: Date, utcOffsetMinutes: number, format: StatementTimeFormat = 'DD-MM-YYYY HH:MM:SS'): { readonly dmy: string[]; readonly midnight: Date[] } {
  const offsetMs = utcOffsetMinutes * 60_000;
  const day = 86_400_000;
  const first = Math.floor((from.getTime() + offsetMs) / day) - 1;
  const last = Math.floor((to.getTime() + offsetMs) / day) + 1;
  const dmy: string[] = [];
  const midnight: Date[] = [];
  for (let d = first; d <= last; d += 1) {
    const local = new Date(d * day);
    dmy.push(dayParts[format].write(local.getUTCFullYear(), local.getUTCMonth() + 1, local.getUTCDate()));
    midnight.push(new Date(d * day - offsetMs));
  }
  return { dmy, midnight };
}

/** Minor units of an amount written in the statement's grammar; null when it is not one. */
export function statementAmountMinor(text: string, currency: CurrencyCode, thousands: ',' | null, upToScale = false): bigint | null {
  const scale = scaleOf(currency);
  if (!isAmountShape(text, scale, thousands, upToScale)) return null;
  const [whole = '', fraction = ''] = text.replaceAll(',', '').split('.');
  return BigInt(whole + fraction.padEnd(scale, '0'));
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
  return parseStatementTime(text, 'DD-MM-YYYY HH:MM:SS', utcOffsetMinutes);
}

const timePatterns: Record<StatementTimeFormat, RegExp> = {
  'DD-MM-YYYY HH:MM:SS': /^(?<d>\d{2})-(?<mo>\d{2})-(?<y>\d{4}) (?<h>\d{2}):(?<mi>\d{2}):(?<s>\d{2})$/,
  'YYYY-MM-DD HH:MM:SS': /^(?<y>\d{4})-(?<mo>\d{2})-(?<d>\d{2}) (?<h>\d{2}):(?<mi>\d{2}):(?<s>\d{2})$/,
  'DD-MM-YY hh:mm AM': /^(?<d>\d{2})-(?<mo>\d{2})-(?<y>\d{2}) (?<h>\d{2}):(?<mi>\d{2}) (?<ampm>AM|PM)$/,
};

/** A time written in `format` at `utcOffsetMinutes` as an instant; null when it is no such time. */
export function parseStatementTime(text: string, format: StatementTimeFormat, utcOffsetMinutes: number): Date | null {
  const g = timePatterns[format].exec(text)?.groups;
  if (!g) return null;
  let y = Number(g.y);
  const [mo, d, mi, s] = [Number(g.mo), Number(g.d), Number(g.mi), Number(g.s ?? '0')];
  let h = Number(g.h);
  if (g.ampm) {
    if (h < 1 || h > 12) return null;
    h = (h % 12) + (g.ampm === 'PM' ? 12 : 0);
    y += 2000;
  }
  const utc = Date.UTC(y, mo - 1, d, h, mi, s);
  const back = new Date(utc);
  if (y < 1 || back.getUTCFullYear() !== y || back.getUTCDate() !== d || back.getUTCMonth() !== mo - 1 || h > 23 || mi > 59 || s > 59) return null;
  return new Date(utc - utcOffsetMinutes * 60_000);
}

/** The smallest step a time format can write: a period's last instant is its `To` plus this. */
export const timeResolutionMs = (format: StatementTimeFormat): number => (format === 'DD-MM-YY hh:mm AM' ? 60_000 : 1000);

/** What a statement's header block says. Balances in minor units of the statement's currency. */
export interface StatementHeader {
  readonly fields: Readonly<Partial<Record<HeaderField['key'], string>>>;
  /** [from, to): the file's `To` is the last second (minute) it covers; null when the format states no period. */
  readonly period: { readonly from: Date; readonly to: Date } | null;
  /** null when the format states no balances. */
  readonly balances: { readonly openingMinor: bigint; readonly closingMinor: bigint } | null;
}

/** Why a header block is refused: not the format's, or in another currency than the account's. */
export interface HeaderProblem {
  readonly code: 'STATEMENT_HEADER_INVALID' | 'STATEMENT_CURRENCY_MISMATCH';
  readonly detail: string;
}

/**
 * Reads the header block (the lines before the column-header line): each known label, with or
 * without its colon, is followed by its value in the next cell; several pairs may share a line.
 * A `Currency` field, or a currency code before a balance, must be the account's.
 */
export function parseStatementHeader(format: StatementFormat, lines: readonly string[], currency: CurrencyCode): Result<StatementHeader, HeaderProblem> {
  const invalid = (detail: string) => err<HeaderProblem>({ code: 'STATEMENT_HEADER_INVALID', detail });
  const otherCurrency = (stated: string) =>
    err<HeaderProblem>({ code: 'STATEMENT_CURRENCY_MISMATCH', detail: `the statement is in ${stated.slice(0, 3).toUpperCase()}, the account in ${currency}` });
  const byLabel = new Map(format.header.map((h) => [h.label, h]));
  const fields: Partial<Record<HeaderField['key'], string>> = {};
  for (const [n, line] of lines.entries()) {
    const cells = splitCsvLine(line);
    if (!cells) return invalid(`line ${n + 1}: a quote does not close`);
    for (let i = 0; i + 1 < cells.length; i += 1) {
      const field = byLabel.get((cells[i] ?? '').trim().replace(/:$/, '').trim());
      if (!field) continue;
      fields[field.key] = (cells[i + 1] ?? '').trim();
      i += 1;
    }
  }
  const missing = format.header.filter((h) => h.required && !fields[h.key]).map((h) => h.label);
  if (missing.length > 0) return invalid(`missing ${missing.join(', ')}`);
  if (fields.currency !== undefined && fields.currency !== currency) return otherCurrency(fields.currency);
  let period: StatementHeader['period'] = null;
  if (format.period === 'header') {
    const stated = /^From (.+) To (.+)$/.exec(fields.timePeriod ?? '');
    const { format: timeFormat, utcOffsetMinutes } = format.time;
    const from = stated ? parseStatementTime(stated[1] ?? '', timeFormat, utcOffsetMinutes) : null;
    const last = stated ? parseStatementTime(stated[2] ?? '', timeFormat, utcOffsetMinutes) : null;
    if (!from || !last || last < from) return invalid(`Time Period: not "From ${timeFormat} To ${timeFormat}"`);
    period = { from, to: new Date(last.getTime() + timeResolutionMs(timeFormat)) };
  }
  if (format.balances === 'none') return ok({ fields, period, balances: null });
  const amounts: bigint[] = [];
  for (const [key, label] of [['openingBalance', 'Opening Balance'], ['closingBalance', 'Closing Balance']] as const) {
    let text = fields[key] ?? '';
    if (format.amounts.headerCurrencyPrefix) {
      const prefixed = /^([A-Za-z]{3}) (.+)$/.exec(text);
      if (!prefixed) return invalid(`${label}: not a currency code and an amount`);
      if (prefixed[1]?.toUpperCase() !== currency) return otherCurrency(prefixed[1] ?? '');
      text = prefixed[2] ?? '';
    }
    const minor = statementAmountMinor(text, currency, format.amounts.thousandsSeparator, format.amounts.fractionDigits === 'up-to-currency-scale');
    if (minor === null) return invalid(`${label}: not an amount with ${scaleOf(currency)} decimals`);
    amounts.push(minor);
  }
  return ok({ fields, period, balances: { openingMinor: amounts[0] ?? 0n, closingMinor: amounts[1] ?? 0n } });
}

/** Is `line` the format's column-header line? Compared cell by cell, exactly. */
export function isColumnHeader(format: StatementFormat, line: string): boolean {
  const cells = splitCsvLine(line);
  return cells !== null && cells.length === format.columns.length && cells.every((c, i) => c.trim() === format.columns[i]?.title);
}

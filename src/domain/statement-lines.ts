// A statement's data line, read and checked (issue #14): the cells of one line as the CSV gave
// them, turned into what the set-based pass stores (transaction id, kind, status, time, amounts in
// minor units, linked id, our reference) or refused. The rules are exactly those the SQL pass
// applied to the staging table's text cells before (adapters/db/reconciliation.repository.ts,
// `checkedSql`, which still names a refused line's problems): the time is one of the period's
// days (as the format writes them) plus one of the day's times; an amount is in the grammar of
// amountShapesOf; a status is one the format lists; a kind is recognised by SQL LIKE patterns on
// the reason type and details lowered as PostgreSQL's lower() does in the "C" collation.
// Amounts are never JavaScript numbers: they are canonical integer digit strings.
import { amountShapesOf, dayPartLength, periodDaysOf } from './reconciliation.js';
import { columnOf, type ColumnRole, type StatementFormat, type StatementTimeFormat } from './statement-formats.js';

/** A line that passed every check: what the pass stores of it. */
export interface CheckedStatementLine {
  readonly txn: string;
  readonly kind: 'payout' | 'charge' | 'reversal' | 'other';
  readonly status: 'completed' | 'failed';
  /** The instant, in milliseconds since the epoch (whole seconds or minutes). */
  readonly completedAtMs: number;
  /** The same instant as ISO 8601 local time with the format's offset (`2026-05-03T10:15:00+03:00`). */
  readonly completedAt: string;
  /** Minor units, canonical integer digits (no sign: never negative). */
  readonly paidInMinor: string;
  readonly withdrawnMinor: string;
  readonly feeMinor: string;
  /** Minor units, canonical integer digits with a leading minus when negative; null when the line states none. */
  readonly balanceMinor: string | null;
  readonly linked: string | null;
  readonly ourRef: string | null;
}

/** A cell as COPY (FORMAT csv) read it: null for an empty unquoted cell, '' for `""`. */
export type StatementCell = string | null;

/** Checks one line's cells (as many as the format has columns); null when the line is bad. */
export type StatementLineCheck = (cells: readonly StatementCell[]) => CheckedStatementLine | null;

/**
 * The amount grammar of amountShapesOf as one regular expression: an optional minus; an integer
 * part of one digit (which may be 0), or of 2-15 digits not starting with 0, or grouped by the
 * thousands separator (1-3 digits not starting with 0, then 1-4 groups of 3); then the fraction
 * (exactly the scale's digits, or up to them and the point only with digits). Only ASCII digits.
 */
export function amountGrammarOf(scale: number, thousands: ',' | null, upToScale: boolean, signed: boolean): RegExp {
  amountShapesOf(scale, thousands, upToScale);
  const grouped = thousands ? `|[1-9][0-9]{0,2}(?:,[0-9]{3}){1,4}` : '';
  const fraction = scale === 0 ? '' : upToScale ? `(?:\\.[0-9]{1,${scale}})?` : `\\.[0-9]{${scale}}`;
  return new RegExp(`^${signed ? '-?' : ''}(?:[0-9]|[1-9][0-9]{1,14}${grouped})${fraction}$`);
}

/** What an amount's text has besides its digits: a sign, thousands separators, the point. */
const notDigits = /[-,.]/g;

/** Integer digits without leading zeros ('0' for none). */
function canonical(digits: string): string {
  let i = 0;
  while (i < digits.length - 1 && digits.charCodeAt(i) === 0x30) i += 1;
  return i === 0 ? digits : digits.slice(i);
}

/**
 * SQL LIKE (escape `\`) as an anchored regular expression: `%` any run of characters, `_` one
 * character (a code point, as PostgreSQL counts them in UTF-8), anything else itself.
 */
export function likePattern(pattern: string): RegExp {
  return new RegExp(likeSource(pattern), 'u');
}

function likeSource(pattern: string): string {
  let source = '';
  for (let i = 0; i < pattern.length; i += 1) {
    const c = pattern[i]!;
    if (c === '\\') {
      i += 1;
      if (i >= pattern.length) throw new Error('invariant violated: a LIKE pattern does not end with its escape character');
      source += escapeRegExp(pattern[i]!);
    } else if (c === '%') source += '[^]*';
    else if (c === '_') source += '[^]';
    else source += escapeRegExp(c);
  }
  // A leading or trailing run of any characters is what an unanchored search finds anyway.
  source = `^${source}$`;
  while (source.startsWith('^[^]*')) source = source.slice(5);
  while (source.endsWith('[^]*$')) source = source.slice(0, -5);
  return source;
}

/**
 * `lowerAscii(text) LIKE lowerAscii(pattern)` as a test of the text itself. A pattern of ASCII
 * without `_` is matched case-insensitively without the Unicode flag: there ECMAScript's
 * case-insensitive compare never takes a non-ASCII character for an ASCII one, so only ASCII letters
 * match either way, as lower() in the "C" collation has it; any other pattern lowers the text.
 */
export function likeLowered(pattern: string): (text: string) => boolean {
  const lowered = lowerAscii(pattern);
  // eslint-disable-next-line no-control-regex
  if (/^[\x00-\x7f]*$/.test(lowered) && !/(^|[^\\])(\\\\)*_/.test(lowered)) {
    const re = new RegExp(likeSource(lowered), 'i');
    return (text) => re.test(text);
  }
  const re = likePattern(lowered);
  return (text) => re.test(lowerAscii(text));
}

const escapeRegExp = (c: string): string => c.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&');

/** ASCII letters lowered, as PostgreSQL's lower() does in the "C" collation. */
export const lowerAscii = (text: string): string => (/[A-Z]/.test(text) ? text.replace(/[A-Z]+/g, (m) => m.toLowerCase()) : text);

/** PostgreSQL's length(): characters (code points), not UTF-16 units. */
export function characterLength(text: string): number {
  let n = text.length;
  for (let i = 0; i < text.length; i += 1) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) n -= 1;
  }
  return n;
}

/** Is the text at most `max` characters long? (The common case costs no scan.) */
const atMost = (text: string, max: number): boolean => text.length <= max || characterLength(text) <= max;

const pad2 = (n: number): string => (n < 10 ? `0${n}` : String(n));
const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;
const two = (t: string, at: number): number => (t.charCodeAt(at) - 0x30) * 10 + (t.charCodeAt(at + 1) - 0x30);

/**
 * The time of day a format writes after its day part, as seconds since midnight; null when it is
 * not one of the day's times exactly: ` HH:MM:SS` (00-23, 00-59, 00-59) or ` hh:mm AM` (01-12,
 * 00-59, AM or PM; 12:00 AM is midnight, 12:00 PM noon).
 */
export function timeOfDaySeconds(rest: string, format: StatementTimeFormat): number | null {
  if (rest.length !== 9 || rest.charCodeAt(0) !== 0x20) return null;
  if (!isDigit(rest.charCodeAt(1)) || !isDigit(rest.charCodeAt(2)) || rest.charCodeAt(3) !== 0x3a || !isDigit(rest.charCodeAt(4)) || !isDigit(rest.charCodeAt(5))) return null;
  const h = two(rest, 1);
  const m = two(rest, 4);
  if (m > 59) return null;
  if (format === 'DD-MM-YY hh:mm AM') {
    const half = rest.slice(6);
    if (half !== ' AM' && half !== ' PM') return null;
    if (h < 1 || h > 12) return null;
    return ((h % 12) + (half === ' PM' ? 12 : 0)) * 3600 + m * 60;
  }
  if (rest.charCodeAt(6) !== 0x3a || !isDigit(rest.charCodeAt(7)) || !isDigit(rest.charCodeAt(8))) return null;
  const s = two(rest, 7);
  if (h > 23 || s > 59) return null;
  return h * 3600 + m * 60 + s;
}

/** The checker of `format`'s lines for an account of `scale` and the period [from, to). */
export function statementLineCheckOf(format: StatementFormat, scale: number, period: { readonly from: Date; readonly to: Date }): StatementLineCheck {
  const f = format;
  const at = (role: ColumnRole): number => columnOf(f, role);
  const iTxn = at('providerTransactionId');
  const iDone = at('completedAt');
  const iStatus = at('status');
  const iPaidIn = at('paidIn');
  const iWithdrawn = at('withdrawn');
  const iAmount = at('amount');
  const iDirection = at('direction');
  const iFee = at('fee');
  const iBalance = at('balance');
  const iReason = at('reasonType');
  const iDetails = at('details');
  const iLinked = at('linkedTransactionId');
  const iOurs = at('ourReference');
  /** The cell of a column, '' as null (SQL's NULLIF(cell, '')); null where the format has no such column. */
  const cell = (cells: readonly StatementCell[], i: number): string | null => {
    if (i < 0) return null;
    const v = cells[i];
    return v === undefined || v === null || v === '' ? null : v;
  };

  const upTo = f.amounts.fractionDigits === 'up-to-currency-scale';
  const thousands = f.amounts.thousandsSeparator;
  const signedGrammar = amountGrammarOf(scale, thousands, upTo, true);
  const unsignedGrammar = amountGrammarOf(scale, thousands, upTo, false);
  /** Zeros to pad a fraction of k digits to the scale, by k. */
  const padding = Array.from({ length: scale + 1 }, (_, k) => '0'.repeat(scale - k));
  /**
   * An amount in the grammar as minor units: its digits with the sign, separators and point taken
   * out (the fraction padded to the scale), canonical; null when it is not in the grammar. Its sign
   * is the text's first character (`negative`).
   */
  const minorDigits = (text: string | null, grammar: RegExp): string | null => {
    if (text === null || !grammar.test(text)) return null;
    let digits = text.replace(notDigits, '');
    if (upTo) {
      const point = text.indexOf('.');
      digits += padding[point < 0 ? 0 : text.length - point - 1];
    }
    return canonical(digits);
  };
  /** Is the amount text (in the grammar, its digits `digits`) below zero? */
  const negative = (text: string, digits: string): boolean => text.charCodeAt(0) === 0x2d && digits !== '0';

  const completed = new Set(f.statuses.completed);
  const failed = new Set(f.statuses.failed);
  const m = f.amounts.movement;
  const credit = new Set(m.kind === 'direction' ? m.credit : []);
  const debit = new Set(m.kind === 'direction' ? m.debit : []);
  const withdrawnGrammar = m.kind === 'columns' && m.withdrawnMayBeNegative ? signedGrammar : unsignedGrammar;

  const days = periodDaysOf(period.from, period.to, f.time.utcOffsetMinutes, f.time.format);
  const offset = f.time.utcOffsetMinutes;
  const offsetText = `${offset < 0 ? '-' : '+'}${pad2(Math.trunc(Math.abs(offset) / 60))}:${pad2(Math.abs(offset) % 60)}`;
  /** Each day as written: its midnight's instant and its local date (ISO 8601). */
  const dayOf = new Map(days.dmy.map((d, i) => {
    const ms = days.midnight[i]!.getTime();
    return [d, { ms, date: new Date(ms + offset * 60_000).toISOString().slice(0, 10) }];
  }));
  const twelveHour = f.time.format === 'DD-MM-YY hh:mm AM';
  const dayLength = dayPartLength(f.time.format);
  const fromMs = period.from.getTime();
  const toMs = period.to.getTime();

  const patterns = (list: readonly string[]): ((text: string) => boolean)[] => list.map(likeLowered);
  const rules = (['charge', 'reversal', 'payout'] as const).map((kind) => ({ kind, reason: patterns(f.kinds[kind].reasonType), details: patterns(f.kinds[kind].details) }));
  /** The reason type's matches repeat on every line of a kind: remembered per raw text (bounded). */
  const reasonMatches = new Map<string, boolean[]>();
  const linkedPattern = f.linkedInDetails === undefined ? null : new RegExp(f.linkedInDetails);

  return (cells) => {
    const txn = cell(cells, iTxn);
    if (txn === null || !atMost(txn, 100)) return null;
    const done = cell(cells, iDone);
    if (done === null) return null;
    const day = dayOf.get(done.slice(0, dayLength));
    if (day === undefined) return null;
    const rest = done.slice(dayLength);
    const since = timeOfDaySeconds(rest, f.time.format);
    if (since === null) return null;
    const completedAtMs = day.ms + since * 1000;
    if (completedAtMs < fromMs || completedAtMs >= toMs) return null;
    const statusText = cell(cells, iStatus);
    const status = statusText === null ? null : completed.has(statusText) ? 'completed' : failed.has(statusText) ? 'failed' : null;
    if (status === null) return null;

    let paidIn: string;
    let withdrawn: string;
    if (m.kind === 'columns') {
      const paidText = cell(cells, iPaidIn);
      const withdrawnText = cell(cells, iWithdrawn);
      if ((paidText === null) === (withdrawnText === null)) return null;
      const p = minorDigits(paidText, unsignedGrammar);
      if (paidText !== null && p === null) return null;
      const w = minorDigits(withdrawnText, withdrawnGrammar);
      if (withdrawnText !== null && w === null) return null;
      paidIn = p ?? '0';
      withdrawn = w ?? '0';
    } else if (m.kind === 'signed') {
      const text = cell(cells, iAmount);
      const a = minorDigits(text, signedGrammar);
      if (a === null) return null;
      const below = negative(text!, a);
      paidIn = below ? '0' : a;
      withdrawn = below ? a : '0';
    } else {
      const direction = cell(cells, iDirection);
      const isCredit = direction !== null && credit.has(direction);
      if (!isCredit && !(direction !== null && debit.has(direction))) return null;
      const a = minorDigits(cell(cells, iAmount), unsignedGrammar);
      if (a === null) return null;
      paidIn = isCredit ? a : '0';
      withdrawn = isCredit ? '0' : a;
    }
    const feeText = cell(cells, iFee);
    let fee = '0';
    if (feeText !== null) {
      const x = minorDigits(feeText, signedGrammar);
      if (x === null) return null;
      fee = x;
    }
    const balanceText = cell(cells, iBalance);
    const balance = minorDigits(balanceText, signedGrammar);
    if (balanceText !== null && balance === null) return null;
    const details = iDetails < 0 ? null : (cells[iDetails] ?? null);
    let linked: string | null;
    if (linkedPattern) {
      linked = details === null ? null : (linkedPattern.exec(details)?.[1] ?? null);
    } else {
      linked = cell(cells, iLinked);
    }
    if (linked !== null && !atMost(linked, 100)) return null;
    const ourRef = cell(cells, iOurs);
    if (ourRef !== null && !atMost(ourRef, 128)) return null;

    const reasonRaw = iReason < 0 ? null : (cells[iReason] ?? null);
    let byReason: boolean[] | null = null;
    if (reasonRaw !== null) {
      byReason = reasonMatches.get(reasonRaw) ?? null;
      if (byReason === null) {
        const reason = reasonRaw;
        byReason = rules.map((r) => r.reason.some((p) => p(reason)));
        if (reasonMatches.size < 4096) reasonMatches.set(reasonRaw, byReason);
      }
    }
    let kind: CheckedStatementLine['kind'] = 'other';
    for (let k = 0; k < rules.length; k += 1) {
      const rule = rules[k]!;
      if (byReason?.[k] || (details !== null && rule.details.some((p) => p(details)))) {
        kind = rule.kind;
        break;
      }
    }
    const time = twelveHour ? `${pad2(Math.trunc(since / 3600))}:${pad2(Math.trunc(since / 60) % 60)}:00` : rest.slice(1);
    return {
      txn, kind, status, completedAtMs, completedAt: `${day.date}T${time}${offsetText}`, paidInMinor: paidIn, withdrawnMinor: withdrawn, feeMinor: fee,
      balanceMinor: balance === null ? null : negative(balanceText!, balance) ? `-${balance}` : balance, linked, ourRef,
    };
  };
}

// What finance reads of a reconciliation (issue #14 item 5), as rules that need no I/O: which
// classes are exceptions, how old an exception is, which periods of a provider account are
// expected and when one is overdue, and how a cell of an exported report is written so that a
// spreadsheet never reads it as a formula.
import type { ReconciliationClass } from './reconciliation.js';
import { csvField } from './statement-formats.js';

/**
 * Classes that need finance's decision. Matched lines, reversals the ledger holds too and lines
 * that are no payout (top-ups, withdrawals, charges of no payout) need none.
 */
export const exceptionClasses: readonly ReconciliationClass[] = [
  'amount_over', 'amount_under', 'fee_mismatch', 'status_mismatch', 'paid_not_in_ledger', 'missing_at_provider', 'timing',
  'duplicate_at_provider', 'unknown_reference', 'late_reversal',
];

/** Classes that alert: money moved at the provider that the ledger does not know of. */
export const urgentClasses: readonly ReconciliationClass[] = ['paid_not_in_ledger', 'late_reversal'];

/** Ageing buckets of an open exception, in whole days since it happened (its line's time, or the period's end). */
export const ageingBuckets = [
  { label: '0-7', maxDays: 7 },
  { label: '8-30', maxDays: 30 },
  { label: '31-90', maxDays: 90 },
  { label: '90+', maxDays: Number.POSITIVE_INFINITY },
] as const;
export type AgeingBucket = (typeof ageingBuckets)[number]['label'];

export const ageDays = (since: Date, now: Date): number => Math.max(0, Math.floor((now.getTime() - since.getTime()) / 86_400_000));

export function ageingBucketOf(days: number): AgeingBucket {
  return (ageingBuckets.find((b) => days <= b.maxDays) ?? ageingBuckets[ageingBuckets.length - 1]!).label;
}

/** The longest overdue window an account may set: a statement is expected within a quarter at most. */
export const overdueDaysMax = 90;

export interface Period {
  readonly from: Date;
  readonly to: Date;
}

/**
 * The calendar months a provider account is expected to have statements for: from the month of
 * its first payout to the month before `now`'s, in the account's statement time (its offset from
 * UTC: a Kenyan month starts at 21:00 UTC the day before). Bounded: at most `monthsMax`, the latest.
 */
export function expectedMonths(firstActivity: Date, now: Date, utcOffsetMinutes: number, monthsMax = 120): Period[] {
  const offset = utcOffsetMinutes * 60_000;
  const local = (d: Date) => new Date(d.getTime() + offset);
  const start = (y: number, m: number) => new Date(Date.UTC(y, m, 1) - offset);
  const first = local(firstActivity);
  const current = local(now);
  const months: Period[] = [];
  let y = first.getUTCFullYear();
  let m = first.getUTCMonth();
  while (y < current.getUTCFullYear() || (y === current.getUTCFullYear() && m < current.getUTCMonth())) {
    months.push({ from: start(y, m), to: start(m === 11 ? y + 1 : y, (m + 1) % 12) });
    m += 1;
    if (m === 12) { m = 0; y += 1; }
  }
  return months.slice(-monthsMax);
}

/**
 * The expected periods not yet covered by statements (`covered`: periods of statements of the
 * account, which never overlap) `overdueDays` after they ended: each with how long it is overdue.
 */
export function overduePeriods(expected: readonly Period[], covered: readonly Period[], now: Date, overdueDays: number): { period: Period; daysOverdue: number }[] {
  const dueMs = overdueDays * 86_400_000;
  const overdue: { period: Period; daysOverdue: number }[] = [];
  for (const p of expected) {
    const due = p.to.getTime() + dueMs;
    if (due > now.getTime()) continue;
    let coveredMs = 0;
    for (const c of covered) {
      const from = Math.max(c.from.getTime(), p.from.getTime());
      const to = Math.min(c.to.getTime(), p.to.getTime());
      if (to > from) coveredMs += to - from;
    }
    if (coveredMs < p.to.getTime() - p.from.getTime()) overdue.push({ period: p, daysOverdue: ageDays(new Date(due), now) });
  }
  return overdue;
}

/**
 * A cell of an exported report (CSV, XLSX): a text starting with `=`, `+`, `-`, `@`, a tab or a
 * carriage return is one a spreadsheet may run as a formula (CSV injection), so it is written
 * with a leading apostrophe. Amounts are written by us (a minus sign is theirs): they go through
 * `amountCell`, which never neutralises.
 */
export function neutralisedCell(text: string): string {
  return /^[=+\-@\t\r]/.test(text) ? `'${text}` : text;
}

export { csvField };

/** A report line: text cells neutralised, amount cells (our own decimal strings) as they are. */
export function reportCsvLine(cells: readonly ({ readonly text: string } | { readonly amount: string } | null)[]): string {
  return cells.map((c) => (c === null ? '' : 'text' in c ? csvField(neutralisedCell(c.text)) : csvField(c.amount))).join(',');
}

// Provider statement formats as declarative, versioned mappings (issue #14 item 1): a format is
// data — its header block, its columns in order, what role each column plays, how its amounts,
// times and statuses are written, and which lines are payouts, charges or reversals. A new
// provider's export is a new mapping, not new code; a changed export is a new version of it.
// Pure data and pure validation: the importer (application/reconcile.ts) and the set-based SQL
// (adapters/db/reconciliation.repository.ts) read everything they need from here.

/** Columns a mapping may declare: the staging table has this many text columns (c01…c24). */
export const statementColumnsMax = 24;
/** Header-block lines a mapping may declare, the column-header line included. */
export const statementHeaderLinesMax = 16;
/** Patterns a line-kind rule may list. */
export const statementKindPatternsMax = 32;

/** What the importer does with a column. Columns with no role are copied and never read. */
export type ColumnRole =
  | 'providerTransactionId'
  | 'completedAt'
  | 'status'
  | 'paidIn'
  | 'withdrawn'
  | 'balance'
  | 'reasonType'
  /** Free text that may carry a name or a number: read only to recognise a line's kind, never stored. */
  | 'details'
  | 'linkedTransactionId'
  /** Our own reference (a conversation or external id) where the provider echoes it. */
  | 'ourReference';

export interface StatementColumn {
  /** The column's title exactly as the provider writes it in the column-header line. */
  readonly title: string;
  readonly role: ColumnRole | null;
}

/** Time formats the importer can read in SQL; each names one parser there. */
export type StatementTimeFormat = 'DD-MM-YYYY HH:MM:SS';

/** How amounts are written: thousands separators, and whether a debit column carries a minus. */
export interface StatementAmountFormat {
  readonly thousandsSeparator: ',' | null;
  /** Fraction digits are exactly the currency's scale (the export always writes them). */
  readonly fractionDigits: 'currency-scale';
  /** The debit column may be written with a leading minus (its magnitude is the amount). */
  readonly withdrawnMayBeNegative: boolean;
}

/** A rule recognising a line's kind: any pattern (SQL ILIKE) on the reason type or the details. */
export interface KindRule {
  readonly reasonType: readonly string[];
  readonly details: readonly string[];
}

/** One label of the header block, e.g. `Opening Balance:` followed by its value in the next cell. */
export interface HeaderField {
  readonly label: string;
  readonly key: 'accountHolder' | 'shortCode' | 'account' | 'timePeriod' | 'operator' | 'reportedAt' | 'openingBalance' | 'closingBalance' | 'availableBalance' | 'totalPaidIn' | 'totalWithdrawn';
  readonly required: boolean;
}

export interface StatementFormat {
  readonly id: string;
  readonly version: number;
  readonly provider: 'mpesa' | 'mtn-momo' | 'airtel' | 'gsma';
  readonly description: string;
  /** Label/value lines before the column-header line; their number is not fixed, at most `headerLinesMax`. */
  readonly header: readonly HeaderField[];
  readonly headerLinesMax: number;
  readonly columns: readonly StatementColumn[];
  readonly time: { readonly format: StatementTimeFormat; /** Wall-clock offset from UTC of every time in the file. */ readonly utcOffsetMinutes: number };
  readonly amounts: StatementAmountFormat;
  /** `Transaction Status` values, exactly as written; any other value names the line as bad. */
  readonly statuses: { readonly completed: readonly string[]; readonly failed: readonly string[] };
  /** Line kinds, tried in this order: charge, then reversal, then payout; anything else is `other`. */
  readonly kinds: { readonly charge: KindRule; readonly reversal: KindRule; readonly payout: KindRule };
}

/**
 * The M-Pesa organisation portal statement (org.ke.m-pesa.com), CSV export, as
 * ../shared/reference/reconciliation.md §1.1 describes it: a header block of label/value lines
 * (Account Holder, Short Code, Account, Time Period, Operator and Date of Report, then the
 * balances), the column-header line starting `Receipt No.`, then one line per transaction with 13
 * columns. Amounts `"1,020.00"`; times `DD-MM-YYYY HH:MM:SS` in East Africa Time (UTC+3, no
 * daylight saving); charges are their own lines (`B2C Payment Charge`, `… Charge Paid`).
 */
export const mpesaOrgPortalCsvV1: StatementFormat = {
  id: 'mpesa-org-portal-csv',
  version: 1,
  provider: 'mpesa',
  description: 'M-Pesa organisation portal statement, CSV export (header block + 13 columns)',
  header: [
    { label: 'Account Holder', key: 'accountHolder', required: false },
    { label: 'Short Code', key: 'shortCode', required: true },
    { label: 'Account', key: 'account', required: true },
    { label: 'Time Period', key: 'timePeriod', required: true },
    { label: 'Operator', key: 'operator', required: false },
    { label: 'Date of Report', key: 'reportedAt', required: false },
    { label: 'Opening Balance', key: 'openingBalance', required: true },
    { label: 'Closing Balance', key: 'closingBalance', required: true },
    { label: 'Available Balance', key: 'availableBalance', required: false },
    { label: 'Total Paid In', key: 'totalPaidIn', required: false },
    { label: 'Total Withdrawn', key: 'totalWithdrawn', required: false },
  ],
  headerLinesMax: 12,
  columns: [
    { title: 'Receipt No.', role: 'providerTransactionId' },
    { title: 'Completion Time', role: 'completedAt' },
    { title: 'Initiation Time', role: null },
    { title: 'Details', role: 'details' },
    { title: 'Transaction Status', role: 'status' },
    { title: 'Paid In', role: 'paidIn' },
    { title: 'Withdrawn', role: 'withdrawn' },
    { title: 'Balance', role: 'balance' },
    { title: 'Balance Confirmed', role: null },
    { title: 'Reason Type', role: 'reasonType' },
    { title: 'Other Party Info', role: null },
    { title: 'Linked Transaction ID', role: 'linkedTransactionId' },
    { title: 'A/C No.', role: null },
  ],
  time: { format: 'DD-MM-YYYY HH:MM:SS', utcOffsetMinutes: 180 },
  amounts: { thousandsSeparator: ',', fractionDigits: 'currency-scale', withdrawnMayBeNegative: true },
  statuses: { completed: ['Completed'], failed: ['Failed', 'Cancelled', 'Expired', 'Declined'] },
  kinds: {
    charge: { reasonType: ['%charge%'], details: ['%Payment Charge%', '%Charge Paid%'] },
    reversal: { reasonType: ['%reversal%'], details: ['Reversal%'] },
    payout: {
      reasonType: ['Business Payment to Customer via API', 'Salary Payment via API', 'Promotion Payment via API'],
      details: [],
    },
  },
};

/** Every format the importer knows, by `id@version`. */
export const statementFormats: ReadonlyMap<string, StatementFormat> = new Map([[`${mpesaOrgPortalCsvV1.id}@${mpesaOrgPortalCsvV1.version}`, mpesaOrgPortalCsvV1]]);

export const formatKeyOf = (f: Pick<StatementFormat, 'id' | 'version'>): string => `${f.id}@${f.version}`;

/** Roles every format must map, once each. */
const requiredRoles: readonly ColumnRole[] = ['providerTransactionId', 'completedAt', 'status', 'paidIn', 'withdrawn'];

/** The problems of a mapping, in words; empty when it can be used. */
export function mappingProblems(f: StatementFormat): string[] {
  const problems: string[] = [];
  if (!/^[a-z0-9-]{1,64}$/.test(f.id)) problems.push('id: 1-64 characters a-z, 0-9, -');
  if (!Number.isInteger(f.version) || f.version < 1) problems.push('version: a positive integer');
  if (f.columns.length < 1 || f.columns.length > statementColumnsMax) problems.push(`columns: 1 to ${statementColumnsMax}`);
  if (!Number.isInteger(f.headerLinesMax) || f.headerLinesMax < 1 || f.headerLinesMax > statementHeaderLinesMax) problems.push(`headerLinesMax: 1 to ${statementHeaderLinesMax}`);
  const titles = new Set<string>();
  const roles = new Map<ColumnRole, number>();
  for (const c of f.columns) {
    if (c.title.length === 0 || c.title.length > 64) problems.push(`columns: a title of 1-64 characters (${JSON.stringify(c.title.slice(0, 64))})`);
    if (titles.has(c.title)) problems.push(`columns: ${c.title} twice`);
    titles.add(c.title);
    if (c.role) roles.set(c.role, (roles.get(c.role) ?? 0) + 1);
  }
  for (const role of requiredRoles) if (!roles.has(role)) problems.push(`columns: no column has the role ${role}`);
  for (const [role, n] of roles) if (n > 1) problems.push(`columns: ${n} columns have the role ${role}`);
  const labels = new Set(f.header.map((h) => h.label));
  if (labels.size !== f.header.length) problems.push('header: a label twice');
  for (const key of ['openingBalance', 'closingBalance', 'timePeriod'] as const) {
    if (!f.header.some((h) => h.key === key && h.required)) problems.push(`header: ${key} must be a required field`);
  }
  if (!Number.isInteger(f.time.utcOffsetMinutes) || Math.abs(f.time.utcOffsetMinutes) > 14 * 60) problems.push('time.utcOffsetMinutes: an integer within ±840');
  if (f.statuses.completed.length === 0 || f.statuses.failed.length === 0) problems.push('statuses: completed and failed each list a value');
  if (f.statuses.completed.some((s) => f.statuses.failed.includes(s))) problems.push('statuses: a value is both completed and failed');
  for (const [kind, rule] of Object.entries(f.kinds)) {
    const patterns = [...rule.reasonType, ...rule.details];
    if (patterns.length === 0 || patterns.length > statementKindPatternsMax) problems.push(`kinds.${kind}: 1 to ${statementKindPatternsMax} patterns`);
    if (patterns.some((p) => p.length === 0 || p.length > 100)) problems.push(`kinds.${kind}: a pattern of 1-100 characters`);
    if (rule.details.length > 0 && !roles.has('details')) problems.push(`kinds.${kind}: details patterns but no details column`);
    if (rule.reasonType.length > 0 && !roles.has('reasonType')) problems.push(`kinds.${kind}: reason type patterns but no reasonType column`);
  }
  return problems;
}

/** The 0-based position of the column with `role`, or -1. */
export const columnOf = (f: StatementFormat, role: ColumnRole): number => f.columns.findIndex((c) => c.role === role);

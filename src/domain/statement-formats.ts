// Provider statement formats as declarative, versioned mappings (issue #14 item 1): a format is
// data — its header block, its columns in order, what role each column plays, how its amounts,
// times and statuses are written, and which lines are payouts, charges or reversals. A new
// provider's export is a new mapping, not new code; a changed export is a new version of it.
// Pure data and pure validation: the importer (application/reconcile.ts) and the set-based SQL
// (adapters/db/reconciliation.repository.ts) read everything they need from here.

/** Columns a mapping may declare (a bad line is staged as its cells, one text[] of at most this many). */
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
  | 'ourReference'
  /**
   * Where a reader found the line in the file that was uploaded (an MT940 `:61:`'s line, a camt.053
   * entry's XML line), when the file is not the CSV imported: a refused line is named by it.
   */
  | 'sourceLine'
  /** One amount column for the line's movement: signed, or unsigned with a `direction` column (amounts.movement). */
  | 'amount'
  /** Credit or debit, for an unsigned `amount` (amounts.movement.kind = 'direction'). */
  | 'direction'
  /** The provider's fee on the line itself (MoMo, Airtel), taken on top of the amount. */
  | 'fee';

export interface StatementColumn {
  /** The column's title exactly as the provider writes it in the column-header line. */
  readonly title: string;
  readonly role: ColumnRole | null;
}

/**
 * Time formats the importer can read in SQL, each as a day part and a time-of-day part that are
 * looked up (the period's days, the day's times), never parsed row by row:
 * - `DD-MM-YYYY HH:MM:SS` (M-Pesa portal), `YYYY-MM-DD HH:MM:SS` (MTN MoMo portal; the bank and
 *   GSMA readers write this one, in UTC);
 * - `DD-MM-YY hh:mm AM` (Airtel: a two-digit year of 20YY, a 12-hour clock, minutes only).
 */
export const statementTimeFormats = ['DD-MM-YYYY HH:MM:SS', 'YYYY-MM-DD HH:MM:SS', 'DD-MM-YY hh:mm AM'] as const;
export type StatementTimeFormat = (typeof statementTimeFormats)[number];

/** How a line's movement is written. */
export type StatementMovement =
  /** Two columns, `paidIn` (credit) and `withdrawn` (debit), exactly one filled (M-Pesa). */
  | { readonly kind: 'columns'; /** The debit column may carry a leading minus (its magnitude is the amount). */ readonly withdrawnMayBeNegative: boolean }
  /** One `amount` column, negative for a debit (MTN MoMo). */
  | { readonly kind: 'signed' }
  /** An unsigned `amount` and a `direction` column saying which way (Airtel's Credit/Debit). */
  | { readonly kind: 'direction'; readonly credit: readonly string[]; readonly debit: readonly string[] };

/** How amounts are written: thousands separators, fraction digits, and the line's movement. */
export interface StatementAmountFormat {
  readonly thousandsSeparator: ',' | null;
  /**
   * `currency-scale`: exactly the currency's scale (the export always writes them);
   * `up-to-currency-scale`: none up to the scale (`1000`, `1000.5`, `1000.50`), never more.
   */
  readonly fractionDigits: 'currency-scale' | 'up-to-currency-scale';
  readonly movement: StatementMovement;
  /** Header amounts may start with the currency's code and a space (`UGX 1,000`); it must be the account's. */
  readonly headerCurrencyPrefix: boolean;
}

/** A rule recognising a line's kind: any pattern (SQL ILIKE) on the reason type or the details. */
export interface KindRule {
  readonly reasonType: readonly string[];
  readonly details: readonly string[];
}

/** One label of the header block, e.g. `Opening Balance:` followed by its value in the next cell. */
export interface HeaderField {
  readonly label: string;
  readonly key: 'accountHolder' | 'shortCode' | 'account' | 'timePeriod' | 'operator' | 'reportedAt' | 'openingBalance' | 'closingBalance' | 'availableBalance' | 'totalPaidIn' | 'totalWithdrawn' | 'currency';
  readonly required: boolean;
}

export interface StatementFormat {
  readonly id: string;
  readonly version: number;
  readonly provider: 'mpesa' | 'mtn-momo' | 'airtel' | 'gsma' | 'bank';
  readonly description: string;
  /**
   * How the bytes become the CSV lines the importer copies: `csv` as they are; the others through
   * a reader that writes the format's header block and columns as CSV (the original bytes are
   * still what is hashed and sealed).
   */
  readonly container: 'csv' | 'xlsx' | 'mt940' | 'camt053' | 'gsma-statemententries';
  /** Where the period comes from: the header block's `Time Period` (it must be the one given), or the caller alone. */
  readonly period: 'header' | 'caller';
  /**
   * Where the opening and closing balances come from: the header block, or nowhere (the export
   * states none: the checks that need them are not made, and the reconciliation says so).
   */
  readonly balances: 'header' | 'none';
  /** Label/value lines before the column-header line; their number is not fixed, at most `headerLinesMax`. */
  readonly header: readonly HeaderField[];
  /**
   * The header field naming the provider account the statement is of (M-Pesa's Short Code, the
   * entries' Account): it must be one of the configured account's identifiers, when it has any.
   */
  readonly accountField?: 'shortCode' | 'account';
  readonly headerLinesMax: number;
  readonly columns: readonly StatementColumn[];
  readonly time: { readonly format: StatementTimeFormat; /** Wall-clock offset from UTC of every time in the file. */ readonly utcOffsetMinutes: number };
  readonly amounts: StatementAmountFormat;
  /** `Transaction Status` values, exactly as written; any other value names the line as bad. */
  readonly statuses: { readonly completed: readonly string[]; readonly failed: readonly string[] };
  /** Line kinds, tried in this order: charge, then reversal, then payout; anything else is `other`. */
  readonly kinds: { readonly charge: KindRule; readonly reversal: KindRule; readonly payout: KindRule };
  /**
   * Where the format writes the transaction a line reverses or charges for inside its Details
   * (`Reversal of AM0000000012`) rather than in a column of its own: a PostgreSQL regular expression
   * over the cell, anchored at its start, whose first group is that transaction id (at most 64
   * letters, digits, `.`, `-`, `_`). Only the id is kept; the cell itself, which may name a person,
   * never is.
   */
  readonly linkedInDetails?: string;
}

/**
 * A linkedInDetails pattern: anchored at the start, one group of one bracket class of letters,
 * digits, `.`, `-` and `_`, at most 64 long, and no other group.
 */
const linkedInDetailsPattern = /^\^[^()[\]]*\(\[[A-Za-z0-9._-]+\]\{1,([1-9]|[1-5][0-9]|6[0-4])\}\)[^()[\]]*$/;

/**
 * The M-Pesa organisation portal statement (org.ke.m-pesa.com), CSV export, as
 * docs/reconciliation.md (Formats) describes it: a header block of label/value lines
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
  container: 'csv',
  period: 'header',
  balances: 'header',
  accountField: 'shortCode',
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
  amounts: { thousandsSeparator: ',', fractionDigits: 'currency-scale', movement: { kind: 'columns', withdrawnMayBeNegative: true }, headerCurrencyPrefix: false },
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

/**
 * The M-Pesa portal's XLSX export: the same rows as its CSV export, in the first worksheet. The
 * XLSX reader writes each row as a CSV line (number cells as their exact decimal text), so the
 * cells may come without the currency's trailing zeros.
 */
export const mpesaOrgPortalXlsxV1: StatementFormat = {
  ...mpesaOrgPortalCsvV1,
  id: 'mpesa-org-portal-xlsx',
  description: 'M-Pesa organisation portal statement, XLSX export (the CSV export\'s rows in the first worksheet)',
  container: 'xlsx',
  amounts: { ...mpesaOrgPortalCsvV1.amounts, fractionDigits: 'up-to-currency-scale' },
};

/**
 * The MTN MoMo partner portal's transaction export, CSV (docs/reconciliation.md
 * (Formats): one market's parser, confidence medium): no header block, 11 columns; `Id` is the
 * financialTransactionId; one signed `Amount` (negative for money out) and the `Fee` on the same
 * line; `Type` says what the line is (`transfer` for a disbursement, `reversal`, `deposit`, …);
 * times `YYYY-MM-DD HH:MM:SS` in the market's time (Uganda: EAT, UTC+3). `From`/`To` are
 * `FRI:<msisdn>/MSISDN` and the names are in clear: neither is ever read.
 */
export const mtnMomoPortalCsvV1: StatementFormat = {
  id: 'mtn-momo-portal-csv',
  version: 1,
  provider: 'mtn-momo',
  description: 'MTN MoMo partner portal transactions, CSV export (11 columns, no header block; Uganda, UTC+3)',
  container: 'csv',
  period: 'caller',
  balances: 'none',
  header: [],
  headerLinesMax: 1,
  columns: [
    { title: 'Id', role: 'providerTransactionId' },
    { title: 'Date', role: 'completedAt' },
    { title: 'Status', role: 'status' },
    { title: 'Type', role: 'reasonType' },
    { title: 'From', role: null },
    { title: 'From Name', role: null },
    { title: 'To', role: null },
    { title: 'To Name', role: null },
    { title: 'Amount', role: 'amount' },
    { title: 'Fee', role: 'fee' },
    { title: 'Balance', role: 'balance' },
  ],
  time: { format: 'YYYY-MM-DD HH:MM:SS', utcOffsetMinutes: 180 },
  amounts: { thousandsSeparator: null, fractionDigits: 'up-to-currency-scale', movement: { kind: 'signed' }, headerCurrencyPrefix: false },
  statuses: { completed: ['SUCCESSFUL'], failed: ['FAILED', 'REJECTED', 'TIMEOUT'] },
  kinds: {
    charge: { reasonType: ['fee', 'charge'], details: [] },
    reversal: { reasonType: ['reversal'], details: [] },
    payout: { reasonType: ['transfer', 'batch transfer', 'disbursement'], details: [] },
  },
};

/**
 * The same MoMo export where the portal adds `External Transaction Id` as a twelfth column: the
 * externalId Tuma sent with the transfer (its attempt key). Lines whose `Id` names no payout (a
 * callback lost before Tuma learnt the financialTransactionId) are then matched by it. The
 * column's place is not confirmed in a real file (docs/reconciliation.md (Formats)):
 * another place is another version of this mapping, not new code.
 */
export const mtnMomoPortalCsvV2: StatementFormat = {
  ...mtnMomoPortalCsvV1,
  version: 2,
  description: 'MTN MoMo partner portal transactions, CSV export with External Transaction Id (12 columns, no header block; Uganda, UTC+3)',
  columns: [...mtnMomoPortalCsvV1.columns, { title: 'External Transaction Id', role: 'ourReference' }],
};

/**
 * The Airtel Money statement, CSV, "Format 1" (docs/reconciliation.md (Formats),
 * confidence medium-low): a header block (Customer Name, Mobile Number, Opening/Closing Balance
 * written with the currency's code, Total Credit/Debit), then 8 columns with an unsigned
 * `Transaction Amount`, a `Credit/Debit` flag and the `Fee` on the line; `Transaction ID` is the
 * airtel_money_id; times `DD-MM-YY hh:mm AM` in the market's time (Zambia: CAT, UTC+2). The
 * statement states no period: it is the one given.
 */
export const airtelStatementCsvV1: StatementFormat = {
  id: 'airtel-statement-csv',
  version: 1,
  provider: 'airtel',
  description: 'Airtel Money statement, CSV (header block + 8 columns, Credit/Debit flag; Zambia, UTC+2)',
  container: 'csv',
  period: 'caller',
  balances: 'header',
  header: [
    { label: 'Customer Name', key: 'accountHolder', required: false },
    { label: 'Mobile Number', key: 'account', required: false },
    { label: 'Opening Balance', key: 'openingBalance', required: true },
    { label: 'Closing Balance', key: 'closingBalance', required: true },
    { label: 'Total Credit', key: 'totalPaidIn', required: false },
    { label: 'Total Debit', key: 'totalWithdrawn', required: false },
  ],
  headerLinesMax: 10,
  columns: [
    { title: 'Transaction ID', role: 'providerTransactionId' },
    { title: 'Transaction Date', role: 'completedAt' },
    { title: 'Description', role: 'details' },
    { title: 'Status', role: 'status' },
    { title: 'Transaction Amount', role: 'amount' },
    { title: 'Credit/Debit', role: 'direction' },
    { title: 'Fee', role: 'fee' },
    { title: 'Balance', role: 'balance' },
  ],
  time: { format: 'DD-MM-YY hh:mm AM', utcOffsetMinutes: 120 },
  amounts: { thousandsSeparator: ',', fractionDigits: 'currency-scale', movement: { kind: 'direction', credit: ['Credit'], debit: ['Debit'] }, headerCurrencyPrefix: true },
  statuses: { completed: ['Success'], failed: ['Failed'] },
  kinds: {
    charge: { reasonType: [], details: ['%charge%', 'fee%'] },
    reversal: { reasonType: [], details: ['reversal%', '%rollback%'] },
    payout: { reasonType: [], details: ['disbursement%', 'b2c%'] },
  },
  // A reversal line's Description: `Reversal of <airtel_money_id>` (the simulator), `Reversal of <id> from <number> <name>` (the reference).
  linkedInDetails: '^Reversal of ([A-Za-z0-9._-]{1,64})( |$)',
};

/**
 * The entries every structured reader writes (MT940, camt.053, GSMA statemententries): a header
 * block (Account, Currency, Time Period in UTC, and the balances where the source has them), then
 * one line per entry: its reference, its booking time in UTC, Booked or Failed, a signed amount
 * with `.` and no thousands separator, what kind of entry the reader found it to be (payout,
 * charge, reversal, other), the entry it reverses or charges for, and our own reference where the
 * source echoes it. Never a name, a number or a narrative.
 */
const entryColumns: readonly StatementColumn[] = [
  { title: 'Entry Reference', role: 'providerTransactionId' },
  { title: 'Booked At', role: 'completedAt' },
  { title: 'Status', role: 'status' },
  { title: 'Amount', role: 'amount' },
  { title: 'Entry Type', role: 'reasonType' },
  { title: 'Linked Reference', role: 'linkedTransactionId' },
  { title: 'Our Reference', role: 'ourReference' },
  { title: 'Balance', role: 'balance' },
];
const entryHeader = (balances: boolean): HeaderField[] => [
  { label: 'Account', key: 'account', required: true },
  { label: 'Currency', key: 'currency', required: true },
  { label: 'Time Period', key: 'timePeriod', required: true },
  { label: 'Opening Balance', key: 'openingBalance', required: balances },
  { label: 'Closing Balance', key: 'closingBalance', required: balances },
];
const entriesBase = {
  version: 1,
  period: 'header',
  accountField: 'account',
  headerLinesMax: 8,
  columns: entryColumns,
  time: { format: 'YYYY-MM-DD HH:MM:SS', utcOffsetMinutes: 0 },
  amounts: { thousandsSeparator: null, fractionDigits: 'up-to-currency-scale', movement: { kind: 'signed' }, headerCurrencyPrefix: false },
  statuses: { completed: ['Booked'], failed: ['Failed'] },
  kinds: {
    charge: { reasonType: ['charge'], details: [] },
    reversal: { reasonType: ['reversal'], details: [] },
    payout: { reasonType: ['payout'], details: [] },
  },
} as const satisfies Partial<StatementFormat>;

/** The entries a bank file's reader writes: each also says where in the uploaded file it was found. */
const bankEntryColumns: readonly StatementColumn[] = [...entryColumns, { title: 'Source Line', role: 'sourceLine' }];

/** SWIFT MT940 customer statements of a bank account (dates only: an entry's time is 00:00:00 UTC of its value date). */
export const mt940V1: StatementFormat = {
  ...entriesBase, id: 'mt940', provider: 'bank', container: 'mt940', balances: 'header', header: entryHeader(true), columns: bankEntryColumns,
  description: 'SWIFT MT940 customer statement (bank account), read into entries',
};

/** ISO 20022 camt.053 bank-to-customer statements of a bank account. */
export const camt053V1: StatementFormat = {
  ...entriesBase, id: 'camt053', provider: 'bank', container: 'camt053', balances: 'header', header: entryHeader(true), columns: bankEntryColumns,
  description: 'ISO 20022 camt.053 bank-to-customer statement (bank account), read into entries',
};

/** GSMA Mobile Money API v1.2 statement entries, pulled page by page (no balances, no fees on entries). */
export const gsmaStatementEntriesV1: StatementFormat = {
  ...entriesBase, id: 'gsma-statemententries', provider: 'gsma', container: 'gsma-statemententries', balances: 'none', header: entryHeader(false),
  description: 'GSMA Mobile Money API v1.2 statemententries of an account, pulled for a closed window',
};

/** A CSV field as the statements and reports write it: quoted when it holds a comma, a quote or a line break (quotes doubled). */
export const csvField = (text: string): string => (/[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text);

/** The header lines and column-header line a reader writes before the entries, for `format`. */
export function entriesPreamble(format: StatementFormat, h: { account: string; currency: string; from: string; to: string; opening?: string; closing?: string }): string {
  const lines = [`Account,${csvField(h.account)}`, `Currency,${csvField(h.currency)}`, `Time Period,From ${h.from} To ${h.to}`];
  if (h.opening !== undefined) lines.push(`Opening Balance,${h.opening}`);
  if (h.closing !== undefined) lines.push(`Closing Balance,${h.closing}`);
  lines.push(format.columns.map((c) => c.title).join(','));
  return `${lines.join('\r\n')}\r\n`;
}

/** Every format the importer knows, by `id@version`. */
export const statementFormats: ReadonlyMap<string, StatementFormat> = new Map(
  [mpesaOrgPortalCsvV1, mpesaOrgPortalXlsxV1, mtnMomoPortalCsvV1, mtnMomoPortalCsvV2, airtelStatementCsvV1, mt940V1, camt053V1, gsmaStatementEntriesV1].map((f) => [`${f.id}@${f.version}`, f]),
);

export const formatKeyOf = (f: Pick<StatementFormat, 'id' | 'version'>): string => `${f.id}@${f.version}`;

/** Roles every format must map, once each. */
const requiredRoles: readonly ColumnRole[] = ['providerTransactionId', 'completedAt', 'status'];
/** The roles each way of writing a line's movement needs, and those it must not have. */
const movementRoles: Record<StatementMovement['kind'], { readonly needs: readonly ColumnRole[]; readonly excludes: readonly ColumnRole[] }> = {
  columns: { needs: ['paidIn', 'withdrawn'], excludes: ['amount', 'direction'] },
  signed: { needs: ['amount'], excludes: ['paidIn', 'withdrawn', 'direction'] },
  direction: { needs: ['amount', 'direction'], excludes: ['paidIn', 'withdrawn'] },
};

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
  const movement = movementRoles[f.amounts.movement.kind];
  for (const role of movement.needs) if (!roles.has(role)) problems.push(`columns: movement ${f.amounts.movement.kind} needs a column with the role ${role}`);
  for (const role of movement.excludes) if (roles.has(role)) problems.push(`columns: movement ${f.amounts.movement.kind} has no column with the role ${role}`);
  if (f.amounts.movement.kind === 'direction') {
    const { credit, debit } = f.amounts.movement;
    if (credit.length === 0 || debit.length === 0) problems.push('amounts.movement: credit and debit each list a value');
    if (credit.some((c) => debit.includes(c))) problems.push('amounts.movement: a value is both credit and debit');
  }
  if (!(statementTimeFormats as readonly string[]).includes(f.time.format)) problems.push(`time.format: one of ${statementTimeFormats.join(', ')}`);
  if (!['csv', 'xlsx', 'mt940', 'camt053', 'gsma-statemententries'].includes(f.container)) problems.push('container: csv, xlsx, mt940, camt053 or gsma-statemententries');
  for (const [role, n] of roles) if (n > 1) problems.push(`columns: ${n} columns have the role ${role}`);
  if (f.linkedInDetails !== undefined) {
    if (!linkedInDetailsPattern.test(f.linkedInDetails.replace(/\( \|\$\)$/, '')) || f.linkedInDetails.length > 200) {
      problems.push('linkedInDetails: ^…([A-Za-z0-9._-]{1,n})… with n at most 64, and only ( |$) after it');
    }
    if (!roles.has('details')) problems.push('linkedInDetails: needs a column with the role details');
    if (roles.has('linkedTransactionId')) problems.push('linkedInDetails: the format has a linked transaction id column');
  }
  const labels = new Set(f.header.map((h) => h.label));
  if (labels.size !== f.header.length) problems.push('header: a label twice');
  const needed = [...(f.period === 'header' ? ['timePeriod'] as const : []), ...(f.balances === 'header' ? ['openingBalance', 'closingBalance'] as const : [])];
  for (const key of needed) {
    if (!f.header.some((h) => h.key === key && h.required)) problems.push(`header: ${key} must be a required field`);
  }
  if (f.header.length === 0 && f.headerLinesMax !== 1) problems.push('headerLinesMax: 1 when there is no header block');
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

/** The format a provider's statements are in unless the import names another (`id@version`). */
export const defaultStatementFormat: Readonly<Record<'mpesa' | 'mtn-momo' | 'airtel' | 'gsma', string>> = {
  mpesa: formatKeyOf(mpesaOrgPortalCsvV1),
  'mtn-momo': formatKeyOf(mtnMomoPortalCsvV1),
  airtel: formatKeyOf(airtelStatementCsvV1),
  gsma: formatKeyOf(gsmaStatementEntriesV1),
};

/** The provider whose float a format's statement is of (`id@version`); a bank's for bank formats. */
export function providerOfFormat(formatKey: string): StatementFormat['provider'] {
  const format = statementFormats.get(formatKey) ?? [...statementFormats.values()].find((f) => f.id === formatKey);
  if (!format) throw new Error(`invariant violated: ${formatKey} is a statement format`);
  return format.provider;
}

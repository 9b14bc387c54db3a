// Finance reads its reconciliations (issue #14 item 5): a statement with its checks and each
// class's figures (amount at risk, ageing of open exceptions), the items page by page, the
// overdue periods of the accounts it may reconcile, and the whole report as CSV, streamed. A
// statement belongs to a provider account; an organisation sees the statements of the accounts
// that pay for one of its programmes (or for every programme), as imports allow.
import { isCurrencyCode, type CurrencyCode } from '../domain/currency.js';
import { reject, type Rejection } from '../domain/errors.js';
import { formatAmount } from '../domain/money.js';
import { ageDays, ageingBucketOf, ageingBuckets, exceptionClasses, expectedMonths, overduePeriods, reportCsvLine, urgentClasses } from '../domain/reconciliation-report.js';
import { reconciliationClasses } from '../domain/reconciliation.js';
import { err, ok, type Result } from '../domain/result.js';
import { statementFormats } from '../domain/statement-formats.js';
import { erasedBeneficiary, erasedPayouts } from './erase-programme.js';
import { servesCaller, type StatementAccount } from './import-reconciliation.js';
import type { Actor, ItemCursor, Persistence, ReconciliationItem, ReconciliationReads, StatementRecord } from './ports.js';

/** Items per page of the API, and per read of an export. */
export const reconciliationItemsPageMax = 1_000;
/** Statements per page of the list. */
export const reconciliationListPageMax = 200;

export interface ReconciliationReportDeps {
  readonly persistence: Persistence;
  readonly reads: ReconciliationReads;
  /** Every provider account, with what the report needs of it. */
  readonly accounts: () => readonly (StatementAccount & { readonly id: string })[];
  readonly overdueDays: number;
}

/** The caller's accounts: those that pay for one of its organisation's programmes, or for every programme. */
async function accountsOfCaller(deps: ReconciliationReportDeps, caller: Actor): Promise<Map<string, StatementAccount & { readonly id: string }>> {
  const mine = new Map<string, StatementAccount & { readonly id: string }>();
  for (const a of deps.accounts()) if (await servesCaller(deps.persistence, a, caller.organisationId)) mine.set(a.id, a);
  return mine;
}

async function visibleStatement(deps: ReconciliationReportDeps, caller: Actor, statementId: string): Promise<StatementRecord | null> {
  const statement = await deps.reads.statement(statementId);
  if (!statement) return null;
  const account = deps.accounts().find((a) => a.id === statement.accountId);
  // Another organisation's statement, or one of an account no longer configured: not found, either way.
  return account && (await servesCaller(deps.persistence, account, caller.organisationId)) ? statement : null;
}

const moneyOf = (currency: string) => (minor: bigint): string => (isCurrencyCode(currency) ? formatAmount(minor, currency as CurrencyCode) : minor.toString());

/** A statement as finance reads it: its record, and each class's figures. */
export interface ReconciliationReport extends ReturnType<typeof reconciliationView> {
  /** No exception open and every failed balance check acknowledged. */
  readonly closed: boolean;
  /** The result's hash, once closed: the same stored reconciliation always hashes the same. */
  readonly resultSha256: string | null;
  readonly checks: readonly { itemId: string; kind: string; line: number | null; expected: string; actual: string; acknowledged: boolean }[];
  /** The provider's closing balance against the ledger's float at the cut-off; null: not made (no balances stated). */
  readonly float: { state: 'ok' | 'mismatch'; ledgerFloat: string; closing: string } | { state: 'not_comparable'; note: string } | null;
}

export async function getReconciliation(deps: ReconciliationReportDeps, caller: Actor, statementId: string, now: Date): Promise<Result<ReconciliationReport, Rejection>> {
  const statement = await visibleStatement(deps, caller, statementId);
  if (!statement) return err(reject('NOT_FOUND'));
  const summary = await deps.reads.classSummary(statementId, now);
  const checks = await deps.reads.checks(statementId);
  const open = summary.reduce((n, c) => n + c.open, 0);
  // Breaks past the ones stored are counted, never acknowledged: such a file cannot close (import a corrected version).
  const openChecks = checks.filter((c) => !c.acknowledged).length + Math.max(0, statement.balances.runningBreaks - statement.balances.breaks.length);
  const closed = open === 0 && openChecks === 0;
  const float = await deps.reads.floatCheck(statementId);
  const money = moneyOf(statement.currency);
  return ok({ ...reconciliationView(statement, summary, openChecks), closed, resultSha256: closed ? await deps.reads.resultSha256(statementId) : null,
    float: float === null ? null : float.state === 'not_comparable' ? { state: float.state, note: float.note }
      : { state: float.state, ledgerFloat: money(float.ledgerFloatMinor), closing: money(float.closingMinor) },
    checks: checks.map((c) => ({ itemId: `check-${c.checkNo}`, kind: c.kind, line: c.line, expected: moneyOf(statement.currency)(c.expectedMinor), actual: moneyOf(statement.currency)(c.actualMinor), acknowledged: c.acknowledged })) });
}

function reconciliationView(s: StatementRecord, summary: Awaited<ReturnType<ReconciliationReads['classSummary']>>, openChecks: number) {
  const money = moneyOf(s.currency);
  const open = summary.reduce((n, c) => n + c.open, 0);
  return {
    statementId: s.statementId,
    exceptions: {
      open,
      balanceChecks: openChecks,
      urgent: summary.filter((c) => urgentClasses.includes(c.class)).reduce((n, c) => n + c.open, 0),
      atRisk: money(summary.filter((c) => exceptionClasses.includes(c.class)).reduce((n, c) => n + c.atRiskMinor, 0n)),
    },
    classes: summary.map((c) => ({
      class: c.class,
      exception: exceptionClasses.includes(c.class),
      count: c.count,
      open: c.open,
      statementAmount: money(c.statementMinor),
      ledgerAmount: money(c.ledgerMinor),
      atRisk: money(c.atRiskMinor),
      ageing: Object.fromEntries(ageingBuckets.map((b) => [b.label, { count: c.ageing[b.label]?.count ?? 0, atRisk: money(c.ageing[b.label]?.atRiskMinor ?? 0n) }])),
    })),
  };
}

/** An item as the API and the export show it: amounts as decimal strings, never beneficiary data. */
export function itemView(item: ReconciliationItem, currency: string, now: Date) {
  const money = moneyOf(currency);
  const open = exceptionClasses.includes(item.class) && item.closedBy === null && item.decision?.state !== 'applied';
  const age = ageDays(item.happenedAt, now);
  return {
    itemId: item.itemId,
    line: item.line,
    kind: item.kind,
    class: item.class,
    status: item.status,
    providerTransactionId: item.providerTransactionId,
    payoutId: item.payoutId,
    completedAt: item.completedAt?.toISOString() ?? null,
    statementAmount: item.statementMinor === null ? null : money(item.statementMinor),
    fee: item.feeMinor === null ? null : money(item.feeMinor),
    ledgerAmount: item.ledgerMinor === null ? null : money(item.ledgerMinor),
    ledgerFee: item.ledgerFeeMinor === null ? null : money(item.ledgerFeeMinor),
    // What the item still puts at risk, as the class figures count it: nothing once it is closed
    // (decided and applied, or closed by a later period); a decision awaiting its second approval
    // has posted nothing yet, so its item is still open and still at risk.
    atRisk: money(open ? item.atRiskMinor : 0n),
    open,
    ageDays: open ? age : null,
    ageing: open ? ageingBucketOf(age) : null,
    closedBy: item.closedBy,
    decision: item.decision,
  };
}

const itemIdPattern = /^(?:line-([1-9][0-9]{0,9})|payout-([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}))$/;

/** The cursor an item id names (`line-<n>`, `payout-<uuid>`); null when it is no item id. */
export function itemCursorOf(itemId: string): ItemCursor | null {
  const m = itemIdPattern.exec(itemId);
  if (!m) return null;
  if (m[1] !== undefined) {
    const line = Number(m[1]);
    return line <= 2_147_483_647 ? { part: 0, line, payoutId: '00000000-0000-0000-0000-000000000000' } : null;
  }
  return { part: 1, line: 0, payoutId: m[2] ?? '' };
}

export interface ItemsQuery {
  /** Classes to list; null: every exception class; 'all': every class. */
  readonly classes: readonly string[] | 'all' | null;
  readonly after: string | null;
  readonly limit: number;
}

/** A page of a statement's items, in file order (the payouts no line names last), with the next page's cursor. */
export async function listReconciliationItems(deps: ReconciliationReportDeps, caller: Actor, statementId: string, q: ItemsQuery, now: Date) {
  const statement = await visibleStatement(deps, caller, statementId);
  if (!statement) return err(reject('NOT_FOUND'));
  const classes = q.classes === 'all' ? null : q.classes ?? exceptionClasses;
  if (classes && classes.some((c) => !(reconciliationClasses as readonly string[]).includes(c))) {
    return err(reject('QUERY_INVALID', `class: one or more of ${reconciliationClasses.join(', ')}, or all`));
  }
  const after = q.after === null ? null : itemCursorOf(q.after);
  if (q.after !== null && after === null) return err(reject('QUERY_INVALID', 'after: an item id (line-<n> or payout-<id>)'));
  if (!Number.isInteger(q.limit) || q.limit < 1 || q.limit > reconciliationItemsPageMax) return err(reject('QUERY_INVALID', `limit: 1 to ${reconciliationItemsPageMax}`));
  const items = await deps.reads.items(statementId, { classes, after, limit: q.limit });
  // A line or payout of an erased programme says so (its beneficiary's data is gone; the figures stay).
  const erased = await erasedPayouts(deps.persistence, items.flatMap((i) => (i.payoutId ? [i.payoutId] : [])));
  return ok({
    items: items.map((i) => ({ ...itemView(i, statement.currency, now), ...(i.payoutId && erased.has(i.payoutId) ? erasedBeneficiary : {}) })),
    next: items.length === q.limit ? items[items.length - 1]!.itemId : null,
  });
}

/** The caller's statements, newest period first. */
export async function listReconciliations(deps: ReconciliationReportDeps, caller: Actor, q: { accountId: string | null; from: Date | null; to: Date | null; limit: number }) {
  if (!Number.isInteger(q.limit) || q.limit < 1 || q.limit > reconciliationListPageMax) return err(reject('QUERY_INVALID', `limit: 1 to ${reconciliationListPageMax}`));
  const mine = await accountsOfCaller(deps, caller);
  if (q.accountId !== null && !mine.has(q.accountId)) return err(reject('NOT_FOUND', 'no such provider account'));
  const ids = q.accountId !== null ? [q.accountId] : [...mine.keys()];
  if (ids.length === 0) return ok({ statements: [] as StatementRecord[] });
  return ok({ statements: await deps.reads.statementsOf(ids, { from: q.from, to: q.to, after: null, limit: q.limit }) });
}

/** The months of each of the caller's accounts with no statement `overdueDays` after they ended. */
export async function overdueReconciliations(deps: ReconciliationReportDeps, caller: Actor | null, now: Date) {
  const accounts = caller ? [...(await accountsOfCaller(deps, caller)).values()] : deps.accounts();
  const overdue: { accountId: string; from: string; to: string; daysOverdue: number }[] = [];
  for (const account of accounts) {
    const first = await deps.reads.firstActivity(account.id);
    if (!first) continue;
    const offset = statementFormats.get(account.statementFormat)?.time.utcOffsetMinutes ?? 0;
    const expected = expectedMonths(first, now, offset);
    for (const o of overduePeriods(expected, await deps.reads.coveredPeriods(account.id), now, deps.overdueDays)) {
      overdue.push({ accountId: account.id, from: o.period.from.toISOString(), to: o.period.to.toISOString(), daysOverdue: o.daysOverdue });
    }
  }
  return overdue;
}

/** A cell of the report: text (neutralised by whichever format writes it) or an amount (our decimal string). */
export type ReportCell = { readonly text: string } | { readonly amount: string };

/**
 * The report's rows, streamed: the statement, its balances, each class's figures, then every item
 * (read a page at a time). No cell holds beneficiary data; each format (CSV, XLSX) neutralises text cells.
 */
export async function* reconciliationRows(deps: ReconciliationReportDeps, statement: StatementRecord, now: Date): AsyncGenerator<(ReportCell | null)[]> {
  const money = moneyOf(statement.currency);
  const text = (t: string | number | null | undefined): ReportCell | null => (t === null || t === undefined ? null : { text: String(t) });
  const amount = (minor: bigint | null): ReportCell | null => (minor === null ? null : { amount: money(minor) });
  yield [text('statement'), text(statement.statementId), text(statement.accountId), text(statement.currency), text(statement.periodFrom.toISOString()),
    text(statement.periodTo.toISOString()), text(`${statement.format}@${statement.formatVersion}`), text(`version ${statement.version}`)];
  yield [text('balances'), text('opening'), amount(statement.openingBalanceMinor), text('closing'), amount(statement.closingBalanceMinor),
    text('lines net'), amount(statement.balances.linesNetMinor), text('running breaks'), text(statement.balances.runningBreaks)];
  yield [text('class'), text('count'), text('open'), text('statement amount'), text('ledger amount'), text('at risk'), ...ageingBuckets.map((b) => text(`open ${b.label} days`))];
  for (const c of await deps.reads.classSummary(statement.statementId, now)) {
    yield [text(c.class), text(c.count), text(c.open), amount(c.statementMinor), amount(c.ledgerMinor), amount(c.atRiskMinor),
      ...ageingBuckets.map((b) => text(c.ageing[b.label]?.count ?? 0))];
  }
  yield [text('item'), text('line'), text('kind'), text('class'), text('status'), text('provider transaction id'), text('payout id'), text('completed at'),
    text('statement amount'), text('fee'), text('ledger amount'), text('ledger fee'), text('at risk'), text('open'), text('age days'), text('closed by')];
  let after: ItemCursor | null = null;
  for (;;) {
    const page = await deps.reads.items(statement.statementId, { classes: null, after, limit: reconciliationItemsPageMax });
    for (const i of page) {
      const v = itemView(i, statement.currency, now);
      yield [text(v.itemId), text(v.line), text(v.kind), text(v.class), text(v.status), text(v.providerTransactionId), text(v.payoutId), text(v.completedAt),
        amount(i.statementMinor), amount(i.feeMinor), amount(i.ledgerMinor), amount(i.ledgerFeeMinor), amount(v.open ? i.atRiskMinor : 0n), text(String(v.open)), text(v.ageDays), text(v.closedBy)];
    }
    if (page.length < reconciliationItemsPageMax) return;
    after = itemCursorOf(page[page.length - 1]!.itemId);
  }
}

/** The report as CSV lines, streamed: its rows, text cells neutralised against formulas. */
export async function* reconciliationCsv(deps: ReconciliationReportDeps, statement: StatementRecord, now: Date): AsyncGenerator<string> {
  for await (const row of reconciliationRows(deps, statement, now)) yield reportCsvLine(row);
}

/** The statement for an export, if the caller may read it. */
export const statementForExport = visibleStatement;

// The reconciliation report as rows of cells (issue #14 item 5), for the XLSX export: the rows the
// CSV export writes, in the same order with the same cells, before any format writes them.
import { isCurrencyCode, type CurrencyCode } from '../domain/currency.js';
import { formatAmount } from '../domain/money.js';
import { ageingBuckets } from '../domain/reconciliation-report.js';
import type { ItemCursor, StatementRecord } from './ports.js';
import { itemCursorOf, itemView, reconciliationItemsPageMax, type ReconciliationReportDeps } from './reconciliation-report.js';

/** A cell of the report: text (neutralised by whichever format writes it) or an amount (our decimal string). */
export type ReportCell = { readonly text: string } | { readonly amount: string };

const moneyOf = (currency: string) => (minor: bigint): string => (isCurrencyCode(currency) ? formatAmount(minor, currency as CurrencyCode) : minor.toString());

/**
 * The report's rows, streamed: the statement, its balances, each class's figures, then every item
 * (read a page at a time, so no more than a page is held). No cell holds beneficiary data.
 */
// TODO(lead): share with reconciliationCsv (reconciliationCsv = these rows through reportCsvLine).
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
        amount(i.statementMinor), amount(i.feeMinor), amount(i.ledgerMinor), amount(i.ledgerFeeMinor), amount(i.atRiskMinor), text(String(v.open)), text(v.ageDays), text(v.closedBy)];
    }
    if (page.length < reconciliationItemsPageMax) return;
    after = itemCursorOf(page[page.length - 1]!.itemId);
  }
}

// What finance reads of reconciliations (issue #14 item 5), on PostgreSQL: a statement and its
// checks, the statements of accounts, each class's figures with the amount at risk and the ageing
// of its open exceptions, the items page by page, and what the overdue check needs. Reads only;
// no line table holds beneficiary data, so nothing here can return any.
import type pg from 'pg';
import type { ReconciliationItem, ReconciliationReads, ReconciliationClassSummary } from '../../application/ports.js';
import { exceptionClasses } from '../../domain/reconciliation-report.js';
import type { DecisionAction } from '../../domain/reconciliation-decision.js';
import { readStatementRecord, statementSelect, type StatementRow } from './reconciliation.repository.js';

/**
 * The amount at risk of an item, in minor units: what the provider and the ledger disagree on.
 * An amount difference is the difference; a fee the fee difference (a charge line's own amount
 * is its fee); a payout the ledger holds and the provider does not (or not yet) is the ledger's
 * amount; a line the ledger does not hold is the line's amount. Matched, reversal and non-payout
 * items put nothing at risk.
 */
const atRiskSql = `CASE
  WHEN i.class IN ('amount_over', 'amount_under') THEN abs(i.statement_minor - i.ledger_minor)
  WHEN i.class = 'fee_mismatch' THEN abs(CASE WHEN i.kind = 'charge' THEN i.statement_minor + i.fee_minor ELSE i.fee_minor END - i.ledger_fee_minor)
  WHEN i.class IN ('missing_at_provider', 'timing', 'status_mismatch') THEN i.ledger_minor
  WHEN i.class IN ('paid_not_in_ledger', 'duplicate_at_provider', 'unknown_reference', 'late_reversal') THEN abs(i.statement_minor)
  ELSE 0 END`;

/**
 * Every item of statement $1: lines (part 0, by line) then the payouts no line names (part 1, by
 * id), each with its live decision (awaiting or applied), if any.
 */
const itemsCte = `
raw_items AS (
  SELECT 0 AS part, l.line_no, NULL::uuid AS item_payout, 'line-' || l.line_no AS item_id, l.kind, l.class, l.status, l.provider_transaction_id, l.payout_id,
    l.completed_at, l.withdrawn_minor - l.paid_in_minor AS statement_minor, l.fee_minor, l.ledger_minor, l.ledger_fee_minor, l.completed_at AS happened_at
  FROM statement_lines l WHERE l.statement_id = $1
  UNION ALL
  SELECT 1, NULL, r.payout_id, 'payout-' || r.payout_id, 'payout', r.class, NULL, NULL, r.payout_id, NULL, NULL, NULL, r.ledger_minor, NULL, s.period_to
  FROM reconciliation_payouts r JOIN statements s ON s.id = r.statement_id WHERE r.statement_id = $1
),
items AS (
  SELECT i.*, d.id AS decision_id, d.action AS decision_action, d.state AS decision_state
  FROM raw_items i LEFT JOIN reconciliation_decisions d ON d.statement_id = $1 AND d.item_id = i.item_id AND d.state <> 'rejected'
)`;

/**
 * A timing item is closed when a payout line of a later period's statement names its payout: that
 * statement. Such a line names it by its provider reference or, marked so, by our reference.
 */
const closedBySql = `CASE WHEN i.class = 'timing' THEN (
  SELECT x.statement_id FROM (
    SELECT o.statement_id, o.period_from FROM statements s, payouts p, statement_lines o
    WHERE s.id = $1 AND p.id = i.payout_id AND o.account_id = s.account_id AND o.provider_transaction_id = p.provider_reference AND o.kind = 'payout'
      AND o.payout_id = i.payout_id AND o.period_from > s.period_from
    UNION ALL
    SELECT o.statement_id, o.period_from FROM statements s, statement_lines o
    WHERE s.id = $1 AND o.payout_id = i.payout_id AND o.matched_by_our_reference AND o.account_id = s.account_id AND o.kind = 'payout'
      AND o.period_from > s.period_from
  ) x ORDER BY x.period_from LIMIT 1) END`;

interface ItemRow {
  part: number; line_no: number | null; item_payout: string | null; kind: string; class: string; status: string | null;
  provider_transaction_id: string | null; payout_id: string | null; completed_at: Date | null; statement_minor: string | null;
  fee_minor: string | null; ledger_minor: string | null; ledger_fee_minor: string | null; happened_at: Date; at_risk_minor: string;
  closed_by: string | null; decision_id: string | null; decision_action: DecisionAction | null;
  decision_state: 'awaiting_approval' | 'applied' | null;
}

const big = (v: string | null): bigint | null => (v === null ? null : BigInt(v));

function itemOf(r: ItemRow): ReconciliationItem {
  return {
    itemId: r.part === 0 ? `line-${r.line_no}` : `payout-${r.item_payout}`,
    line: r.line_no,
    kind: r.kind,
    class: r.class as ReconciliationItem['class'],
    status: r.status,
    providerTransactionId: r.provider_transaction_id,
    payoutId: r.payout_id,
    completedAt: r.completed_at,
    statementMinor: big(r.statement_minor),
    feeMinor: big(r.fee_minor),
    ledgerMinor: big(r.ledger_minor),
    ledgerFeeMinor: big(r.ledger_fee_minor),
    atRiskMinor: BigInt(r.at_risk_minor),
    happenedAt: r.happened_at,
    closedBy: r.closed_by,
    decision: r.decision_id && r.decision_action && r.decision_state ? { decisionId: r.decision_id, action: r.decision_action, state: r.decision_state } : null,
  };
}

export function reconciliationReads(pool: pg.Pool): ReconciliationReads {
  return {
    async statement(id) {
      const client = await pool.connect();
      try {
        const { rows } = await client.query<StatementRow>(`${statementSelect} WHERE id = $1`, [id]);
        return rows[0] ? await readStatementRecord(client, rows[0]) : null;
      } finally {
        client.release();
      }
    },

    async statementsOf(accountIds, filter) {
      const { rows } = await pool.query<StatementRow>(
        `${statementSelect} WHERE ($1::text[] IS NULL OR account_id = ANY($1)) AND ($2::timestamptz IS NULL OR period_to > $2) AND ($3::timestamptz IS NULL OR period_from < $3)
         AND ($4::timestamptz IS NULL OR (period_from, id) < ($4, $5::uuid))
         ORDER BY period_from DESC, id DESC LIMIT $6`,
        [accountIds, filter.from, filter.to, filter.after?.periodFrom ?? null, filter.after?.statementId ?? null, filter.limit],
      );
      const client = await pool.connect();
      try {
        const records = [];
        for (const r of rows) records.push(await readStatementRecord(client, r));
        return records;
      } finally {
        client.release();
      }
    },

    async classSummary(statementId, now) {
      const { rows } = await pool.query<{ class: string; count: string; statement_minor: string; ledger_minor: string; at_risk_minor: string; open: string; buckets: Record<string, { count: number; atRiskMinor: string }> }>(
        `WITH ${itemsCte},
         scored AS (SELECT i.class, i.statement_minor, i.ledger_minor, ${atRiskSql} AS at_risk,
                      CASE WHEN i.decision_state = 'applied' THEN i.decision_id::text ELSE ${closedBySql}::text END AS closed_by,
                      floor(extract(epoch FROM ($2::timestamptz - i.happened_at)) / 86400)::int AS age FROM items i),
         bucketed AS (SELECT s.*, CASE WHEN s.age <= 7 THEN '0-7' WHEN s.age <= 30 THEN '8-30' WHEN s.age <= 90 THEN '31-90' ELSE '90+' END AS bucket FROM scored s)
         SELECT b.class, count(*)::text AS count, coalesce(sum(b.statement_minor), 0)::text AS statement_minor, coalesce(sum(b.ledger_minor), 0)::text AS ledger_minor,
           -- At risk: what the open exceptions put at risk (a closed one, decided or closed by a later period, no longer does).
           coalesce(sum(b.at_risk) FILTER (WHERE b.closed_by IS NULL), 0)::text AS at_risk_minor,
           count(*) FILTER (WHERE b.class = ANY($3::text[]) AND b.closed_by IS NULL)::text AS open,
           coalesce((SELECT jsonb_object_agg(x.bucket, jsonb_build_object('count', x.n, 'atRiskMinor', x.r::text))
                     FROM (SELECT bucket, count(*) AS n, sum(at_risk) AS r FROM bucketed WHERE class = b.class AND class = ANY($3::text[]) AND closed_by IS NULL GROUP BY bucket) x), '{}') AS buckets
         FROM bucketed b GROUP BY b.class ORDER BY b.class`,
        [statementId, now, exceptionClasses],
      );
      return rows.map((r): ReconciliationClassSummary => ({
        class: r.class as ReconciliationClassSummary['class'],
        count: Number(r.count),
        statementMinor: BigInt(r.statement_minor),
        ledgerMinor: BigInt(r.ledger_minor),
        atRiskMinor: BigInt(r.at_risk_minor),
        open: Number(r.open),
        ageing: Object.fromEntries(Object.entries(r.buckets).map(([k, v]) => [k, { count: v.count, atRiskMinor: BigInt(v.atRiskMinor) }])),
      }));
    },

    async item(statementId, itemId) {
      const { rows } = await pool.query<ItemRow>(
        `WITH ${itemsCte}
         SELECT i.*, ${atRiskSql}::text AS at_risk_minor, ${closedBySql} AS closed_by FROM items i WHERE i.item_id = $2`,
        [statementId, itemId],
      );
      return rows[0] ? itemOf(rows[0]) : null;
    },

    async items(statementId, q) {
      const { rows } = await pool.query<ItemRow>(
        `WITH ${itemsCte}
         SELECT i.*, ${atRiskSql}::text AS at_risk_minor, ${closedBySql} AS closed_by FROM items i
         WHERE ($2::text[] IS NULL OR i.class = ANY($2))
           AND (i.part, coalesce(i.line_no, 0), coalesce(i.item_payout, '00000000-0000-0000-0000-000000000000'::uuid)) > ($3::int, $4::int, $5::uuid)
         ORDER BY i.part, i.line_no, i.item_payout LIMIT $6`,
        [statementId, q.classes, q.after?.part ?? -1, q.after?.line ?? 0, q.after?.payoutId ?? '00000000-0000-0000-0000-000000000000', q.limit],
      );
      return rows.map(itemOf);
    },

    async checks(statementId) {
      const { rows } = await pool.query<{ check_no: number; kind: 'balance_total' | 'running_balance' | 'float_balance'; line_no: number | null; expected_minor: string; actual_minor: string; acknowledged: boolean }>(
        `SELECT c.check_no, c.kind, c.line_no, c.expected_minor::text, c.actual_minor::text,
           EXISTS (SELECT 1 FROM reconciliation_decisions d WHERE d.statement_id = c.statement_id AND d.item_id = 'check-' || c.check_no AND d.state = 'applied') AS acknowledged
         FROM statement_checks c WHERE c.statement_id = $1 ORDER BY c.check_no`, [statementId]);
      return rows.map((r) => ({ checkNo: r.check_no, kind: r.kind, line: r.line_no, expectedMinor: BigInt(r.expected_minor), actualMinor: BigInt(r.actual_minor), acknowledged: r.acknowledged }));
    },

    async floatAt(provider, currency, organisationIds, at) {
      const prefix = `provider:${provider}:`;
      const { rows } = await pool.query<{ float: string }>(
        `WITH floats AS (
           SELECT id FROM accounts
           WHERE currency = $2 AND left(key, length($1)) = $1 AND right(key, 6) = ':float' AND ($3::text[] IS NULL OR organisation_id = ANY($3))
         )
         SELECT (coalesce((SELECT sum(t.amount) FROM transfers t WHERE t.debit_account_id IN (SELECT id FROM floats) AND t.created_at < $4), 0)
               - coalesce((SELECT sum(t.amount) FROM transfers t WHERE t.credit_account_id IN (SELECT id FROM floats) AND t.created_at < $4), 0))::text AS float`,
        [prefix, currency, organisationIds, at]);
      return BigInt(rows[0]?.float ?? '0');
    },

    async floatCheck(statementId) {
      const { rows } = await pool.query<{ float_check: 'ok' | 'mismatch' | 'not_comparable' | null; ledger_float_minor: string | null; closing: string | null; float_note: string | null }>(
        'SELECT float_check, ledger_float_minor::text, closing_balance_minor::text AS closing, float_note FROM statements WHERE id = $1', [statementId]);
      const r = rows[0];
      if (!r || r.float_check === null) return null;
      if (r.float_check === 'not_comparable') return { state: 'not_comparable', note: r.float_note ?? '' };
      return { state: r.float_check, ledgerFloatMinor: BigInt(r.ledger_float_minor ?? '0'), closingMinor: BigInt(r.closing ?? '0') };
    },

    async recordFloatCheck(statementId, check) {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const done = await client.query(
          `UPDATE statements SET float_check = $2, ledger_float_minor = $3, float_note = $4 WHERE id = $1 AND float_check IS NULL`,
          [statementId, check.state, check.state === 'not_comparable' ? null : check.ledgerFloatMinor.toString(), check.state === 'not_comparable' ? check.note.slice(0, 300) : null]);
        if (done.rowCount === 1 && check.state === 'mismatch') {
          await client.query(
            `INSERT INTO statement_checks (statement_id, check_no, kind, expected_minor, actual_minor)
             SELECT $1, coalesce(max(check_no) + 1, 0), 'float_balance', $2, $3 FROM statement_checks WHERE statement_id = $1`,
            [statementId, check.ledgerFloatMinor.toString(), check.closingMinor.toString()]);
        }
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw error;
      } finally {
        client.release();
      }
    },

    async resultSha256(statementId) {
      // Every item with its class, figures and applied decision, and every check with its
      // acknowledgement, in a fixed order: the same stored reconciliation always hashes the same.
      const { rows } = await pool.query<{ hash: string }>(
        `WITH ${itemsCte},
         text_lines AS (
           SELECT 0 AS part, i.part AS sub, i.line_no AS n, i.item_payout AS p,
             concat_ws('|', i.item_id, i.class, i.statement_minor, i.fee_minor, i.ledger_minor, i.ledger_fee_minor,
               CASE WHEN i.decision_state = 'applied' THEN i.decision_action END) AS t
           FROM items i
           UNION ALL
           SELECT 1, 0, c.check_no, NULL, concat_ws('|', 'check-' || c.check_no, c.kind, c.line_no, c.expected_minor, c.actual_minor,
             (SELECT d.action FROM reconciliation_decisions d WHERE d.statement_id = $1 AND d.item_id = 'check-' || c.check_no AND d.state = 'applied'))
           FROM statement_checks c WHERE c.statement_id = $1
         )
         SELECT encode(sha256(convert_to(coalesce(string_agg(t, E'\n' ORDER BY part, sub, n, p), ''), 'UTF8')), 'hex') AS hash FROM text_lines`,
        [statementId]);
      return rows[0]?.hash ?? '';
    },

    async coveredPeriods(accountId) {
      const { rows } = await pool.query<{ period_from: Date; period_to: Date }>(
        'SELECT DISTINCT period_from, period_to FROM statements WHERE account_id = $1 ORDER BY period_from', [accountId]);
      return rows.map((r) => ({ from: r.period_from, to: r.period_to }));
    },

    async firstActivity(accountId) {
      const { rows } = await pool.query<{ first: Date | null }>('SELECT min(created_at) AS first FROM payout_attempts WHERE account_id = $1', [accountId]);
      return rows[0]?.first ?? null;
    },
  };
}

// Statement imports on PostgreSQL (issue #14, architecture §8a): one client, one transaction per
// import, holding the UNLOGGED staging table (one import at a time: an advisory lock, then
// TRUNCATE … RESTART IDENTITY, so line numbers are the identity). The bytes arrive by COPY; one
// INSERT … SELECT with data-modifying CTEs casts and validates every cell, inserts the lines,
// hash-joins the payout lines with the account's payouts and writes one item per line and per
// ledger payout of the period. The staging table is emptied again before the transaction ends.
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type {
  NewStatement,
  ReconciliationClassFigures,
  StatementClassifyOutcome,
  StatementClassifyQuery,
  StatementImportSession,
  StatementRecord,
  StatementStore,
} from '../../application/ports.js';
import { reconciliationClasses, type ReconciliationClass, type StatementLineProblem, type StatementRejection } from '../../domain/reconciliation.js';
import type { Err } from '../../domain/result.js';
import { columnOf, type ColumnRole, type StatementFormat } from '../../domain/statement-formats.js';

/** The advisory lock of the staging table (one import at a time); any fixed number of our own. */
const stagingLockKey = 0x7475_6d61_0014n;
/** Memory the set-based pass may use per sort or hash: a 1M-payout ledger side hashes in ~66 MB. */
const classifyWorkMem = '256MB';

class Rollback extends Error {
  constructor(readonly result: Err<StatementRejection>) {
    super('rolled back');
  }
}

export function statementStore(pool: pg.Pool): StatementStore {
  return {
    async importing(work) {
      const client = await pool.connect();
      let broken: unknown = null;
      try {
        await client.query('BEGIN');
        await client.query('SELECT pg_advisory_xact_lock($1)', [stagingLockKey.toString()]);
        await client.query(`SET LOCAL work_mem = '${classifyWorkMem}'`);
        await client.query('SET LOCAL jit = off');
        await client.query('TRUNCATE statement_staging RESTART IDENTITY');
        const result = await work(session(client));
        if (!result.ok) throw new Rollback(result);
        await client.query('TRUNCATE statement_staging');
        await client.query('COMMIT');
        return result;
      } catch (error) {
        await client.query('ROLLBACK').catch((rollbackError: unknown) => { broken = rollbackError; });
        if (error instanceof Rollback) return error.result;
        throw error;
      } finally {
        client.release(broken instanceof Error ? broken : undefined);
      }
    },
  };
}

const column = (n: number): string => `c${String(n + 1).padStart(2, '0')}`;

function session(client: pg.PoolClient): StatementImportSession {
  return {
    async copy(columns, feed) {
      const names = Array.from({ length: columns }, (_, i) => column(i)).join(', ');
      const sink = client.query(copyFrom(`COPY statement_staging (${names}) FROM STDIN WITH (FORMAT csv)`));
      // Errors reach us through `feed`'s pipeline; a late one (after a refusal) must not go unheard.
      sink.on('error', () => undefined);
      try {
        await feed(sink);
        return null;
      } catch (error) {
        return copyProblem(error, columns);
      }
    },
    async findBySha256(accountId, sha256) {
      const { rows } = await client.query<StatementRow>(`${statementSelect} WHERE account_id = $1 AND sha256 = $2`, [accountId, sha256]);
      return rows[0] ? toRecord(rows[0]) : null;
    },
    async findOverlapping(accountId, from, to) {
      const { rows } = await client.query<{ id: string; period_from: Date; period_to: Date }>(
        `SELECT id, period_from, period_to FROM statements WHERE account_id = $1 AND period_from < $3 AND period_to > $2 ORDER BY period_from LIMIT 1`,
        [accountId, from, to],
      );
      return rows[0] ? { statementId: rows[0].id, periodFrom: rows[0].period_from, periodTo: rows[0].period_to } : null;
    },
    async insertStatement(s: NewStatement) {
      await client.query(
        `INSERT INTO statements (id, account_id, currency, organisation_id, imported_by, format, format_version, period_from, period_to,
           sha256, size_bytes, file_chunks, opening_balance_minor, closing_balance_minor, lines_total, lines_imported, lines_refused)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, 0, 0, 0)`,
        [s.statementId, s.accountId, s.currency, s.organisationId, s.importedBy, s.format, s.formatVersion, s.periodFrom, s.periodTo,
          Buffer.from(s.sha256Hex, 'hex'), s.sizeBytes, Math.max(s.fileChunks, 1), s.openingBalanceMinor.toString(), s.closingBalanceMinor.toString()],
      );
    },
    async storeFileChunks(statementId, chunks) {
      let n = 0;
      for await (const sealed of chunks) {
        await client.query('INSERT INTO statement_files (statement_id, chunk_no, sealed) VALUES ($1, $2, $3)', [statementId, n, sealed]);
        n += 1;
      }
      return n;
    },
    async classify(q) {
      const { rows } = await client.query<ClassifyRow>(classifySql(q.format), classifyParams(q));
      const row = rows[0];
      if (!row) throw new Error('invariant violated: the classifying statement answers one row');
      return {
        linesTotal: row.lines_total,
        linesImported: row.lines_imported,
        linesRefused: row.lines_refused,
        refusedLines: row.refused,
        counts: countsOf(row.counts),
      };
    },
    async recordOutcome(statementId, fileChunks, o: StatementClassifyOutcome) {
      await client.query(
        `UPDATE statements SET file_chunks = $2, lines_total = $3, lines_imported = $4, lines_refused = $5, refused_lines = $6, counts = $7 WHERE id = $1`,
        [statementId, fileChunks, o.linesTotal, o.linesImported, o.linesRefused, JSON.stringify(o.refusedLines), JSON.stringify(countsJson(o.counts))],
      );
    },
  };
}

/** A COPY error names its line ("COPY statement_staging, line 3"): 1 = the first data line. */
function copyProblem(error: unknown, columns: number): StatementLineProblem {
  const e = error as { code?: unknown; where?: unknown };
  const line = typeof e.where === 'string' ? /COPY statement_staging, line (\d+)/.exec(e.where) : null;
  if (typeof e.code !== 'string' || !e.code.startsWith('22') || !line) throw error;
  const problem = e.code === '22021' ? 'not valid UTF-8' : `not CSV with exactly ${columns} columns`;
  return { line: Number(line[1]), column: '*', problem };
}

interface StatementRow {
  id: string; account_id: string; currency: string; organisation_id: string; format: string; format_version: number;
  period_from: Date; period_to: Date; sha256: Buffer; size_bytes: bigint; opening_balance_minor: bigint; closing_balance_minor: bigint;
  lines_total: number; lines_imported: number; lines_refused: number; refused_lines: StatementLineProblem[];
  counts: Record<string, { count: number; statementMinor: string; ledgerMinor: string }>;
}

const statementSelect = `SELECT id, account_id, currency, organisation_id, format, format_version, period_from, period_to, sha256, size_bytes,
  opening_balance_minor, closing_balance_minor, lines_total, lines_imported, lines_refused, refused_lines, counts FROM statements`;

function toRecord(r: StatementRow): StatementRecord {
  return {
    statementId: r.id, accountId: r.account_id, currency: r.currency, organisationId: r.organisation_id, format: r.format,
    formatVersion: r.format_version, periodFrom: r.period_from, periodTo: r.period_to, sha256Hex: r.sha256.toString('hex'),
    sizeBytes: Number(r.size_bytes), openingBalanceMinor: r.opening_balance_minor, closingBalanceMinor: r.closing_balance_minor,
    linesTotal: r.lines_total, linesImported: r.lines_imported, linesRefused: r.lines_refused, refusedLines: r.refused_lines,
    counts: countsOf(r.counts),
  };
}

function countsOf(json: Record<string, { count: number; statementMinor: string; ledgerMinor: string }>): Partial<Record<ReconciliationClass, ReconciliationClassFigures>> {
  const counts: Partial<Record<ReconciliationClass, ReconciliationClassFigures>> = {};
  for (const c of reconciliationClasses) {
    const f = json[c];
    if (f) counts[c] = { count: Number(f.count), statementMinor: BigInt(f.statementMinor), ledgerMinor: BigInt(f.ledgerMinor) };
  }
  return counts;
}

const countsJson = (counts: Partial<Record<ReconciliationClass, ReconciliationClassFigures>>) =>
  Object.fromEntries(Object.entries(counts).map(([c, f]) => [c, { count: f.count, statementMinor: f.statementMinor.toString(), ledgerMinor: f.ledgerMinor.toString() }]));

interface ClassifyRow {
  lines_total: number;
  lines_imported: number;
  lines_refused: number;
  refused: StatementLineProblem[];
  counts: Record<string, { count: number; statementMinor: string; ledgerMinor: string }>;
}

function classifyParams(q: StatementClassifyQuery): unknown[] {
  const f = q.format;
  const title = (role: ColumnRole): string => f.columns[columnOf(f, role)]?.title ?? role;
  return [
    q.statementId, q.accountId, q.amountPattern, f.time.utcOffsetMinutes,
    f.statuses.completed, f.statuses.failed,
    f.kinds.charge.reasonType, f.kinds.charge.details, f.kinds.reversal.reasonType, f.kinds.reversal.details,
    f.kinds.payout.reasonType, f.kinds.payout.details,
    q.periodFrom, q.periodTo, q.linesBeforeData, q.refusedLinesReportedMax,
    [title('providerTransactionId'), title('completedAt'), title('status'), title('paidIn'), title('withdrawn'), title('balance'),
      title('linkedTransactionId'), title('ourReference')],
    f.amounts.withdrawnMayBeNegative,
    `not an amount with exactly ${q.scale} decimals`,
  ];
}

/**
 * The staging column of `role` in the "C" collation (byte-wise: its patterns and ILIKEs cost half
 * as much as under the database's, measured), empty as NULL; a NULL of text where the format has
 * none. Cells are not trimmed: a padded amount or time is not the format's, and is named.
 */
function cell(f: StatementFormat, role: ColumnRole, raw = false): string {
  const i = columnOf(f, role);
  if (i < 0) return 'NULL::text';
  return raw ? `s.${column(i)} COLLATE "C"` : `NULLIF(s.${column(i)} COLLATE "C", '')`;
}

/**
 * The one set-based pass. Parameters: see classifyParams. Column references are built from the
 * mapping's positions (integers), never from text the file brought.
 */
function classifySql(f: StatementFormat): string {
  return `
WITH raw AS (
  SELECT s.line_no + $15::bigint AS line_no, ${cell(f, 'providerTransactionId')} AS txn, ${cell(f, 'completedAt')} AS done_text,
         ${cell(f, 'status')} AS status_text, ${cell(f, 'paidIn')} AS paid_in_text, ${cell(f, 'withdrawn')} AS withdrawn_text,
         ${cell(f, 'balance')} AS balance_text, ${cell(f, 'reasonType', true)} AS reason, ${cell(f, 'details', true)} AS details,
         ${cell(f, 'linkedTransactionId')} AS linked, ${cell(f, 'ourReference')} AS our_ref
  FROM statement_staging s
  OFFSET 0 -- a fence: each trimmed cell is computed once, not at every reference below
),
parsed AS (
  SELECT r.*, tuma_dmy_hms(r.done_text, $4::int) AS completed_at,
    CASE WHEN r.status_text = ANY($5::text[]) THEN 'completed' WHEN r.status_text = ANY($6::text[]) THEN 'failed' END AS status,
    CASE WHEN r.paid_in_text ~ $3::text AND left(r.paid_in_text, 1) <> '-' THEN replace(replace(r.paid_in_text, ',', ''), '.', '')::bigint END AS paid_in_minor,
    CASE WHEN r.withdrawn_text ~ $3::text AND ($18::boolean OR left(r.withdrawn_text, 1) <> '-') THEN abs(replace(replace(r.withdrawn_text, ',', ''), '.', '')::bigint) END AS withdrawn_minor,
    CASE WHEN r.balance_text ~ $3::text THEN replace(replace(r.balance_text, ',', ''), '.', '')::bigint END AS balance_minor,
    CASE WHEN r.reason ILIKE ANY($7::text[]) OR r.details ILIKE ANY($8::text[]) THEN 'charge'
         WHEN r.reason ILIKE ANY($9::text[]) OR r.details ILIKE ANY($10::text[]) THEN 'reversal'
         WHEN r.reason ILIKE ANY($11::text[]) OR r.details ILIKE ANY($12::text[]) THEN 'payout'
         ELSE 'other' END AS kind
  FROM raw r
  OFFSET 0 -- a fence: each cast is computed once, though checked reads it twice
),
checked AS MATERIALIZED (
  SELECT p.line_no, p.txn, p.linked, p.our_ref, p.completed_at, p.status, p.kind, p.balance_minor,
    coalesce(p.paid_in_minor, 0) AS paid_in_minor, coalesce(p.withdrawn_minor, 0) AS withdrawn_minor,
    array_remove(ARRAY[
      CASE WHEN p.txn IS NULL THEN jsonb_build_object('column', ($17::text[])[1], 'problem', 'missing')
           WHEN length(p.txn) > 100 THEN jsonb_build_object('column', ($17::text[])[1], 'problem', 'longer than 100 characters') END,
      CASE WHEN p.completed_at IS NULL THEN jsonb_build_object('column', ($17::text[])[2], 'problem', 'not a time DD-MM-YYYY HH:MM:SS')
           WHEN p.completed_at < $13::timestamptz OR p.completed_at >= $14 THEN jsonb_build_object('column', ($17::text[])[2], 'problem', 'outside the statement''s period') END,
      CASE WHEN p.status IS NULL THEN jsonb_build_object('column', ($17::text[])[3], 'problem', 'not a status of the format') END,
      CASE WHEN p.paid_in_text IS NOT NULL AND p.paid_in_minor IS NULL THEN jsonb_build_object('column', ($17::text[])[4], 'problem', $19::text) END,
      CASE WHEN p.withdrawn_text IS NOT NULL AND p.withdrawn_minor IS NULL THEN jsonb_build_object('column', ($17::text[])[5], 'problem', $19::text) END,
      CASE WHEN (p.paid_in_text IS NULL) = (p.withdrawn_text IS NULL) THEN jsonb_build_object('column', ($17::text[])[4] || ', ' || ($17::text[])[5], 'problem', 'exactly one of them is given') END,
      CASE WHEN p.balance_text IS NOT NULL AND p.balance_minor IS NULL THEN jsonb_build_object('column', ($17::text[])[6], 'problem', $19::text) END,
      CASE WHEN length(p.linked) > 100 THEN jsonb_build_object('column', ($17::text[])[7], 'problem', 'longer than 100 characters') END,
      CASE WHEN length(p.our_ref) > 128 THEN jsonb_build_object('column', ($17::text[])[8], 'problem', 'longer than 128 characters') END
    ], NULL) AS problems
  FROM parsed p
),
good AS MATERIALIZED (
  SELECT c.*, (row_number() OVER (PARTITION BY c.txn, c.kind ORDER BY c.line_no) > 1
      OR EXISTS (SELECT 1 FROM statement_lines o WHERE o.account_id = $2 AND o.provider_transaction_id = c.txn AND o.kind = c.kind AND NOT o.duplicate)) AS duplicate
  FROM checked c WHERE cardinality(c.problems) = 0
),
ins_lines AS (
  INSERT INTO statement_lines (statement_id, line_no, account_id, provider_transaction_id, kind, status, completed_at,
    paid_in_minor, withdrawn_minor, balance_minor, linked_transaction_id, our_reference, duplicate)
  SELECT $1, g.line_no, $2, g.txn, g.kind, g.status, g.completed_at, g.paid_in_minor, g.withdrawn_minor, g.balance_minor, g.linked, g.our_ref, g.duplicate
  FROM good g
  RETURNING 1
),
ledger AS (
  SELECT p.id, p.provider_reference AS ref, p.amount_minor, p.state
  FROM payouts p
  WHERE p.provider_reference IS NOT NULL AND p.id IN (SELECT a.payout_id FROM payout_attempts a WHERE a.account_id = $2)
),
joined AS (
  SELECT l.line_no, l.status, l.withdrawn_minor - l.paid_in_minor AS statement_minor, g.id AS payout_id, g.amount_minor AS ledger_minor, g.state
  FROM (SELECT * FROM good WHERE kind = 'payout' AND NOT duplicate) l
  FULL JOIN ledger g ON g.ref = l.txn
),
items AS (
  SELECT g.line_no, NULL::uuid AS payout_id,
    CASE WHEN g.duplicate THEN 'duplicate_at_provider' WHEN g.kind = 'reversal' THEN 'reversal' ELSE 'non_payout' END AS class,
    g.withdrawn_minor - g.paid_in_minor AS statement_minor, NULL::bigint AS ledger_minor
  FROM good g WHERE g.duplicate OR g.kind <> 'payout'
  UNION ALL
  SELECT j.line_no, j.payout_id,
    CASE WHEN j.line_no IS NULL THEN 'missing_at_provider'
         WHEN j.payout_id IS NULL THEN 'unknown_reference'
         WHEN j.status = 'completed' AND j.state NOT IN ('paid', 'reversed') THEN 'paid_not_in_ledger'
         WHEN j.status = 'failed' AND j.state IN ('paid', 'reversed') THEN 'status_mismatch'
         WHEN j.status = 'failed' THEN 'matched'
         WHEN j.statement_minor > j.ledger_minor THEN 'amount_over'
         WHEN j.statement_minor < j.ledger_minor THEN 'amount_under'
         ELSE 'matched' END,
    j.statement_minor, j.ledger_minor
  FROM joined j
  WHERE CASE WHEN j.line_no IS NOT NULL THEN true
             WHEN j.state <> 'paid' THEN false
             -- A payout no line names belongs to this period when the ledger settled it paid within it.
             ELSE (SELECT max(t.at) FROM payout_transitions t WHERE t.payout_id = j.payout_id AND t.to_state = 'paid') >= $13::timestamptz
              AND (SELECT max(t.at) FROM payout_transitions t WHERE t.payout_id = j.payout_id AND t.to_state = 'paid') < $14::timestamptz END
),
ins_items AS (
  INSERT INTO reconciliation_items (statement_id, line_no, payout_id, class, statement_minor, ledger_minor)
  SELECT $1, i.line_no, i.payout_id, i.class, i.statement_minor, i.ledger_minor FROM items i
  RETURNING class, statement_minor, ledger_minor
)
SELECT
  (SELECT count(*) FROM checked)::int AS lines_total,
  (SELECT count(*) FROM checked WHERE cardinality(problems) > 0)::int AS lines_refused,
  (SELECT count(*) FROM ins_lines)::int AS lines_imported,
  (SELECT coalesce(jsonb_agg(jsonb_build_object('line', b.line_no) || pr ORDER BY b.line_no), '[]')
     FROM (SELECT line_no, problems FROM checked WHERE cardinality(problems) > 0 ORDER BY line_no LIMIT $16::int) b, unnest(b.problems) pr) AS refused,
  (SELECT coalesce(jsonb_object_agg(x.class, jsonb_build_object('count', x.n, 'statementMinor', x.s::text, 'ledgerMinor', x.l::text)), '{}')
     FROM (SELECT class, count(*) AS n, coalesce(sum(statement_minor), 0) AS s, coalesce(sum(ledger_minor), 0) AS l FROM ins_items GROUP BY class) x) AS counts`;
}

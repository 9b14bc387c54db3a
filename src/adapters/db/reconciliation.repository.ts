// Statement imports on PostgreSQL (issue #14, architecture §8a): one client, one transaction per
// import, holding the UNLOGGED staging table (one import at a time: an advisory lock, then
// TRUNCATE … RESTART IDENTITY, so line numbers are the identity). The bytes arrive by COPY; one
// INSERT … SELECT with data-modifying CTEs reads and checks every cell, numbers the lines within
// their transaction id (duplicates), hash-joins them once with the account's payouts, and writes
// one row per line with its class, and one per ledger payout of the period no line names. Only
// when fewer lines were stored than COPY landed are the lines read again to name the bad ones.
// The staging table is emptied again before the transaction ends.
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
import {
  amountShapesOf,
  periodDaysOf,
  reconciliationClasses,
  type ReconciliationClass,
  type StatementLineProblem,
  type StatementRejection,
} from '../../domain/reconciliation.js';
import type { Err } from '../../domain/result.js';
import { columnOf, type ColumnRole, type StatementFormat } from '../../domain/statement-formats.js';

/** The advisory lock of the staging table (one import at a time); any fixed number of our own. */
const stagingLockKey = 0x7475_6d61_0014n;
/**
 * Memory the set-based pass may use per sort, hash or CTE: a 1M-payout ledger side hashes in
 * ~80 MB, 1M lines sort in ~135 MB, and the classified lines (~300 B each) stay off temp files.
 */
const classifyWorkMem = '384MB';

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
        // The staging table has no statistics (it was just filled): with them unknown the planner
        // sorts 1M lines to merge-join them with the day's 86,400 seconds (4 s, EXPLAIN ANALYZE);
        // every join of the pass is an equality the hash join does in one pass.
        await client.query('SET LOCAL enable_mergejoin = off');
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
  /** Lines the last COPY landed in the staging table: the file's data lines. */
  let copiedLines = 0;
  return {
    async copy(columns, feed) {
      const names = Array.from({ length: columns }, (_, i) => column(i)).join(', ');
      const sink = client.query(copyFrom(`COPY statement_staging (${names}) FROM STDIN WITH (FORMAT csv)`));
      // Errors reach us through `feed`'s pipeline; a late one (after a refusal) must not go unheard.
      sink.on('error', () => undefined);
      try {
        await feed(sink);
        copiedLines = sink.rowCount;
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
      const { rows } = await client.query<ClassifyRow>(classifySql(q.format, q.scale), classifyParams(q));
      const row = rows[0];
      if (!row) throw new Error('invariant violated: the classifying statement answers one row');
      const linesTotal = copiedLines;
      let refused: RefusalRow = { lines_refused: 0, refused: [] };
      if (row.lines_imported < linesTotal) {
        const answer = await client.query<RefusalRow>(refusalSql(q.format, q.scale), refusalParams(q));
        refused = answer.rows[0] ?? refused;
      }
      if (row.lines_imported + refused.lines_refused !== linesTotal) throw new Error('invariant violated: every line is stored or refused');
      return {
        linesTotal,
        linesImported: row.lines_imported,
        linesRefused: refused.lines_refused,
        refusedLines: refused.refused,
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
  lines_imported: number;
  counts: Record<string, { count: number; statementMinor: string; ledgerMinor: string }>;
}

interface RefusalRow {
  lines_refused: number;
  refused: StatementLineProblem[];
}

/** ASCII letters lowered, as PostgreSQL's lower() does in the "C" collation (ILIKE is lower() LIKE lower()). */
const lowerAscii = (patterns: readonly string[]): string[] => patterns.map((p) => p.replace(/[A-Z]+/g, (m) => m.toLowerCase()));

/** A text[] literal of shapes built from integers and the separator ',' (never from the file). */
const shapesLiteral = (shapes: readonly string[]): string => `'{${shapes.map((x) => `"${x}"`).join(',')}}'::text[]`;

function classifyParams(q: StatementClassifyQuery): unknown[] {
  const f = q.format;
  const days = periodDaysOf(q.periodFrom, q.periodTo, f.time.utcOffsetMinutes);
  return [
    q.statementId, q.accountId, days.dmy, days.midnight,
    f.statuses.completed, f.statuses.failed,
    lowerAscii(f.kinds.charge.reasonType), lowerAscii(f.kinds.charge.details), lowerAscii(f.kinds.reversal.reasonType), lowerAscii(f.kinds.reversal.details),
    lowerAscii(f.kinds.payout.reasonType), lowerAscii(f.kinds.payout.details),
    q.periodFrom, q.periodTo, q.linesBeforeData,
  ];
}

function refusalParams(q: StatementClassifyQuery): unknown[] {
  const f = q.format;
  const title = (role: ColumnRole): string => f.columns[columnOf(f, role)]?.title ?? role;
  return [
    ...classifyParams(q).slice(0, 15), q.refusedLinesReportedMax,
    [title('providerTransactionId'), title('completedAt'), title('status'), title('paidIn'), title('withdrawn'), title('balance'),
      title('linkedTransactionId'), title('ourReference')],
    f.time.utcOffsetMinutes,
    `not an amount with exactly ${q.scale} decimals`,
  ];
}

/**
 * The staging column of `role` in the "C" collation (byte-wise: compares and hashes cost less
 * than under the database's), empty as NULL; a NULL of text where the format has none. Cells are
 * not trimmed: a padded amount or time is not the format's, and is named.
 */
function cell(f: StatementFormat, role: ColumnRole, raw = false): string {
  const i = columnOf(f, role);
  if (i < 0) return 'NULL::text';
  return raw ? `s.${column(i)} COLLATE "C"` : `NULLIF(s.${column(i)} COLLATE "C", '')`;
}

/**
 * Every staging line read and checked once, as `checked` (a CTE body list, ending in `checked`):
 * the cells; the time as one of the period's days ($3, $4) plus one of the day's seconds (two
 * hashed lookups: no per-row parsing); amounts by shape (digits written 9, a hashed lookup in
 * the grammar's shapes) then cast; the kind by LIKE on the lowered reason and details; `ok` when
 * the line has no problem. OFFSET 0 fences: each expression is computed once per line.
 */
function checkedSql(f: StatementFormat, scale: number): string {
  const { shapes, singleDigit } = amountShapesOf(scale, f.amounts.thousandsSeparator);
  const unsigned = shapes.filter((x) => !x.startsWith('-'));
  const amount = (text: string, shape: string, allowed: readonly string[]) =>
    `CASE WHEN ${shape} = ANY(${shapesLiteral(allowed)}) AND (${shape} = ANY(${shapesLiteral(singleDigit)}) OR (${text} NOT LIKE '0%' AND ${text} NOT LIKE '-0%'))
       THEN replace(replace(${text}, ',', ''), '.', '')::bigint END`;
  const shapeOf = (text: string) => `translate(${text}, '0123456789', '9999999999')`;
  return `
raw AS (
  SELECT s.line_no + $15::bigint AS line_no, ${cell(f, 'providerTransactionId')} AS txn, ${cell(f, 'completedAt')} AS done_text,
         ${cell(f, 'status')} AS status_text, ${cell(f, 'paidIn')} AS paid_in_text, ${cell(f, 'withdrawn')} AS withdrawn_text,
         ${cell(f, 'balance')} AS balance_text, lower(${cell(f, 'reasonType', true)}) AS reason, lower(${cell(f, 'details', true)}) AS details,
         ${cell(f, 'linkedTransactionId')} AS linked, ${cell(f, 'ourReference')} AS our_ref
  FROM statement_staging s
  OFFSET 0
),
shaped AS (
  SELECT r.*, ${shapeOf('r.paid_in_text')} AS paid_in_shape, ${shapeOf('r.withdrawn_text')} AS withdrawn_shape, ${shapeOf('r.balance_text')} AS balance_shape,
    d.midnight + t.since AS completed_at
  FROM raw r
  LEFT JOIN unnest($3::text[], $4::timestamptz[]) AS d (dmy, midnight) ON d.dmy COLLATE "C" = left(r.done_text, 10)
  LEFT JOIN (SELECT ' ' || lpad((i / 3600)::text, 2, '0') || ':' || lpad((i / 60 % 60)::text, 2, '0') || ':' || lpad((i % 60)::text, 2, '0') COLLATE "C" AS hms,
                    make_interval(secs => i) AS since
             FROM generate_series(0, 86399) i) t ON t.hms = substr(r.done_text, 11)
  OFFSET 0
),
parsed AS (
  SELECT p.line_no, p.txn, p.done_text, p.paid_in_text, p.withdrawn_text, p.balance_text, p.linked, p.our_ref, p.completed_at,
    CASE WHEN p.status_text = ANY($5::text[]) THEN 'completed' WHEN p.status_text = ANY($6::text[]) THEN 'failed' END AS status,
    ${amount('p.paid_in_text', 'p.paid_in_shape', unsigned)} AS paid_in_minor,
    abs(${amount('p.withdrawn_text', 'p.withdrawn_shape', f.amounts.withdrawnMayBeNegative ? shapes : unsigned)}) AS withdrawn_minor,
    ${amount('p.balance_text', 'p.balance_shape', shapes)} AS balance_minor,
    CASE WHEN p.reason LIKE ANY($7::text[]) OR p.details LIKE ANY($8::text[]) THEN 'charge'
         WHEN p.reason LIKE ANY($9::text[]) OR p.details LIKE ANY($10::text[]) THEN 'reversal'
         WHEN p.reason LIKE ANY($11::text[]) OR p.details LIKE ANY($12::text[]) THEN 'payout'
         ELSE 'other' END COLLATE "C" AS kind
  FROM shaped p
  OFFSET 0
),
checked AS (
  SELECT p.*, (p.txn IS NOT NULL AND length(p.txn) <= 100
    AND p.completed_at >= $13::timestamptz AND p.completed_at < $14::timestamptz
    AND p.status IS NOT NULL
    AND (p.paid_in_text IS NULL OR p.paid_in_minor IS NOT NULL)
    AND (p.withdrawn_text IS NULL OR p.withdrawn_minor IS NOT NULL)
    AND (p.paid_in_text IS NULL) <> (p.withdrawn_text IS NULL)
    AND (p.balance_text IS NULL OR p.balance_minor IS NOT NULL)
    AND (p.linked IS NULL OR length(p.linked) <= 100)
    AND (p.our_ref IS NULL OR length(p.our_ref) <= 128)) IS TRUE AS ok
  FROM parsed p
)`;
}

/**
 * The one set-based pass. Parameters: see classifyParams. Column references are built from the
 * mapping's positions (integers), never from text the file brought. The good lines are numbered
 * within their transaction id and kind (the one sort), full-joined once with the account's
 * payouts (a line that is no first payout line joins on NULL, i.e. nothing), classed once
 * (`classified`), then written: one row per line, one per payout of the period no line names.
 */
function classifySql(f: StatementFormat, scale: number): string {
  return `
WITH ${checkedSql(f, scale)},
numbered AS (
  SELECT c.line_no, c.txn, c.kind, c.status, c.completed_at, coalesce(c.paid_in_minor, 0) AS paid_in_minor, coalesce(c.withdrawn_minor, 0) AS withdrawn_minor,
    c.balance_minor, c.linked, c.our_ref, row_number() OVER (PARTITION BY c.txn, c.kind ORDER BY c.line_no) > 1 AS repeated
  FROM checked c WHERE c.ok
),
lines AS (
  SELECT n.*, (n.repeated OR EXISTS (SELECT 1 FROM statement_lines o WHERE o.account_id = $2 AND o.provider_transaction_id = n.txn AND o.kind = n.kind AND NOT o.duplicate)) AS duplicate
  FROM numbered n
  OFFSET 0
),
ledger AS (
  SELECT p.id, p.provider_reference COLLATE "C" AS ref, p.amount_minor, p.state
  FROM payouts p
  WHERE p.provider_reference IS NOT NULL AND p.id IN (SELECT a.payout_id FROM payout_attempts a WHERE a.account_id = $2)
),
classified AS MATERIALIZED (
  SELECT l.line_no, l.txn, l.kind, l.status, l.completed_at, l.paid_in_minor, l.withdrawn_minor, l.balance_minor, l.linked, l.our_ref, l.duplicate,
    g.id AS payout_id, g.amount_minor AS ledger_minor,
    CASE WHEN l.line_no IS NULL THEN
           CASE WHEN g.state = 'paid'
                 -- A payout no line names belongs to this period when the ledger settled it paid within it.
                 AND (SELECT max(t.at) FROM payout_transitions t WHERE t.payout_id = g.id AND t.to_state = 'paid') >= $13::timestamptz
                 AND (SELECT max(t.at) FROM payout_transitions t WHERE t.payout_id = g.id AND t.to_state = 'paid') < $14::timestamptz
           THEN 'missing_at_provider' END
         WHEN l.duplicate THEN 'duplicate_at_provider'
         WHEN l.kind = 'reversal' THEN 'reversal'
         WHEN l.kind <> 'payout' THEN 'non_payout'
         WHEN g.id IS NULL THEN 'unknown_reference'
         WHEN l.status = 'completed' AND g.state NOT IN ('paid', 'reversed') THEN 'paid_not_in_ledger'
         WHEN l.status = 'failed' AND g.state IN ('paid', 'reversed') THEN 'status_mismatch'
         WHEN l.status = 'failed' THEN 'matched'
         WHEN l.withdrawn_minor - l.paid_in_minor > g.amount_minor THEN 'amount_over'
         WHEN l.withdrawn_minor - l.paid_in_minor < g.amount_minor THEN 'amount_under'
         ELSE 'matched' END AS class
  FROM (SELECT x.*, CASE WHEN x.kind = 'payout' AND NOT x.duplicate THEN x.txn END AS match_ref FROM lines x) l
  FULL JOIN ledger g ON g.ref = l.match_ref
),
ins_lines AS (
  INSERT INTO statement_lines (statement_id, line_no, account_id, provider_transaction_id, kind, status, completed_at,
    paid_in_minor, withdrawn_minor, balance_minor, linked_transaction_id, our_reference, duplicate, class, payout_id, ledger_minor)
  SELECT $1, c.line_no, $2, c.txn, c.kind, c.status, c.completed_at, c.paid_in_minor, c.withdrawn_minor, c.balance_minor, c.linked, c.our_ref, c.duplicate,
    c.class, c.payout_id, c.ledger_minor
  FROM classified c WHERE c.line_no IS NOT NULL
),
ins_payouts AS (
  INSERT INTO reconciliation_payouts (statement_id, payout_id, class, ledger_minor)
  SELECT $1, c.payout_id, c.class, c.ledger_minor FROM classified c WHERE c.line_no IS NULL AND c.class IS NOT NULL
)
SELECT
  (SELECT count(*) FROM classified WHERE line_no IS NOT NULL)::int AS lines_imported,
  (SELECT coalesce(jsonb_object_agg(x.class, jsonb_build_object('count', x.n, 'statementMinor', x.s::text, 'ledgerMinor', x.l::text)), '{}')
     FROM (SELECT class, count(*) AS n, coalesce(sum(withdrawn_minor - paid_in_minor), 0) AS s, coalesce(sum(ledger_minor), 0) AS l
           FROM classified WHERE class IS NOT NULL GROUP BY class) x) AS counts`;
}

/**
 * The bad lines' problems, only when the pass stored fewer lines than the file has: the lines
 * are read again (the same `checked`), and each problem named by line and column, never by content.
 */
function refusalSql(f: StatementFormat, scale: number): string {
  return `
WITH ${checkedSql(f, scale)},
bad AS (
  SELECT c.line_no, array_remove(ARRAY[
      CASE WHEN c.txn IS NULL THEN jsonb_build_object('column', ($17::text[])[1], 'problem', 'missing')
           WHEN length(c.txn) > 100 THEN jsonb_build_object('column', ($17::text[])[1], 'problem', 'longer than 100 characters') END,
      CASE WHEN c.completed_at IS NULL AND tuma_dmy_hms(c.done_text, $18::int) IS NULL THEN jsonb_build_object('column', ($17::text[])[2], 'problem', 'not a time DD-MM-YYYY HH:MM:SS')
           WHEN c.completed_at IS NULL OR c.completed_at < $13::timestamptz OR c.completed_at >= $14 THEN jsonb_build_object('column', ($17::text[])[2], 'problem', 'outside the statement''s period') END,
      CASE WHEN c.status IS NULL THEN jsonb_build_object('column', ($17::text[])[3], 'problem', 'not a status of the format') END,
      CASE WHEN c.paid_in_text IS NOT NULL AND c.paid_in_minor IS NULL THEN jsonb_build_object('column', ($17::text[])[4], 'problem', $19::text) END,
      CASE WHEN c.withdrawn_text IS NOT NULL AND c.withdrawn_minor IS NULL THEN jsonb_build_object('column', ($17::text[])[5], 'problem', $19::text) END,
      CASE WHEN (c.paid_in_text IS NULL) = (c.withdrawn_text IS NULL) THEN jsonb_build_object('column', ($17::text[])[4] || ', ' || ($17::text[])[5], 'problem', 'exactly one of them is given') END,
      CASE WHEN c.balance_text IS NOT NULL AND c.balance_minor IS NULL THEN jsonb_build_object('column', ($17::text[])[6], 'problem', $19::text) END,
      CASE WHEN length(c.linked) > 100 THEN jsonb_build_object('column', ($17::text[])[7], 'problem', 'longer than 100 characters') END,
      CASE WHEN length(c.our_ref) > 128 THEN jsonb_build_object('column', ($17::text[])[8], 'problem', 'longer than 128 characters') END
    ], NULL) AS problems
  FROM checked c WHERE NOT c.ok
)
SELECT $1::uuid AS statement_id, $2::text AS account_id, (SELECT count(*) FROM bad)::int AS lines_refused,
  (SELECT coalesce(jsonb_agg(jsonb_build_object('line', b.line_no) || pr ORDER BY b.line_no), '[]')
     FROM (SELECT line_no, problems FROM bad ORDER BY line_no LIMIT $16::int) b, unnest(b.problems) pr) AS refused`;
}

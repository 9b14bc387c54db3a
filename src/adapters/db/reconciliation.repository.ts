// Statement imports on PostgreSQL (issue #14, architecture §8a): one client, one transaction per
// import, holding the UNLOGGED staging table (one import at a time: an advisory lock, then
// TRUNCATE). The lines arrive by COPY already read and checked (application/statement-lines.ts):
// a good line as typed columns, a bad one as its cells. One INSERT … SELECT with data-modifying
// CTEs numbers the good lines within their transaction id (duplicates), hash-joins them once with
// the account's payouts, and writes one row per line with its class, and one per ledger payout of
// the period no line names. Only when there are bad lines are their cells read and checked again
// in SQL (`checkedSql`), to name each one's problems. The staging table is emptied again before
// the transaction ends.
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { typedStagingColumns } from '../../application/statement-lines.js';
import type {
  NewStatement,
  ReconciliationClassFigures,
  StatementClassifyOutcome,
  StatementClassifyQuery,
  StatementImportSession,
  StatementBalanceCheck,
  StatementDiff,
  StatementRecord,
  StatementStore,
} from '../../application/ports.js';
import {
  amountShapesOf,
  dayPartLength,
  periodDaysOf,
  reconciliationClasses,
  type ReconciliationClass,
  type StatementLineProblem,
  type StatementRejection,
} from '../../domain/reconciliation.js';
import type { Err } from '../../domain/result.js';
import { columnOf, type ColumnRole, type StatementFormat, type StatementTimeFormat } from '../../domain/statement-formats.js';

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
        await client.query('TRUNCATE statement_staging_lines');
        const result = await work(session(client));
        if (!result.ok) throw new Rollback(result);
        await client.query('TRUNCATE statement_staging_lines');
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

function session(client: pg.PoolClient): StatementImportSession {
  /** Lines the last COPY landed in the staging table: the file's data lines. */
  let copiedLines = 0;
  return {
    async copy(feed) {
      const sink = client.query(copyFrom(`COPY statement_staging_lines (${typedStagingColumns.join(', ')}) FROM STDIN`));
      // Errors reach us through `feed`'s pipeline; a late one (after a refusal) must not go unheard.
      sink.on('error', () => undefined);
      await feed(sink);
      copiedLines = sink.rowCount;
      return copiedLines;
    },
    async findBySha256(accountId, sha256) {
      const { rows } = await client.query<StatementRow>(`${statementSelect} WHERE account_id = $1 AND sha256 = $2`, [accountId, sha256]);
      return rows[0] ? readStatementRecord(client, rows[0]) : null;
    },
    async findOverlapping(accountId, from, to) {
      const { rows } = await client.query<{ id: string; period_from: Date; period_to: Date; version: number }>(
        `SELECT id, period_from, period_to, version FROM statements WHERE account_id = $1 AND period_from < $3 AND period_to > $2
         ORDER BY period_from, version DESC LIMIT 1`,
        [accountId, from, to],
      );
      const r = rows[0];
      return r ? { statementId: r.id, periodFrom: r.period_from, periodTo: r.period_to, version: r.version } : null;
    },
    async insertStatement(s: NewStatement) {
      await client.query(
        `INSERT INTO statements (id, account_id, currency, organisation_id, imported_by, format, format_version, period_from, period_to,
           sha256, size_bytes, file_chunks, opening_balance_minor, closing_balance_minor, balances_stated, version, previous_id,
           lines_total, lines_imported, lines_refused, file_encoding)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, 0, 0, 0, $18)`,
        [s.statementId, s.accountId, s.currency, s.organisationId, s.importedBy, s.format, s.formatVersion, s.periodFrom, s.periodTo,
          Buffer.from(s.sha256Hex, 'hex'), s.sizeBytes, Math.max(s.fileChunks, 1), s.openingBalanceMinor?.toString() ?? null,
          s.closingBalanceMinor?.toString() ?? null, s.openingBalanceMinor !== null, s.version, s.previousId, s.fileEncoding],
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
      const linesTotal = copiedLines;
      let refused: RefusalRow = { lines_refused: 0, refused: [] };
      if (row.lines_imported < linesTotal) {
        const answer = await client.query<RefusalRow>(refusalSql(q.format, q.scale), refusalParams(q));
        refused = answer.rows[0] ?? refused;
        // Node refused these lines by the same rules: SQL must find each bad and name its problems.
        if (answer.rows[0] && (answer.rows[0].lines_staged_bad !== refused.lines_refused || answer.rows[0].lines_unnamed !== 0)) {
          throw new Error('invariant violated: every line refused while it streamed is refused, and named, by the SQL checks');
        }
      }
      if (row.lines_imported + refused.lines_refused !== linesTotal) throw new Error('invariant violated: every line is stored or refused');
      const balances = await checkBalances(client, q, row);
      let diff: StatementDiff | null = null;
      if (q.previousId) {
        const d = await client.query<{ added: number; removed: number; changed: number }>(diffSql, [q.statementId, q.previousId]);
        diff = { previousId: q.previousId, added: d.rows[0]?.added ?? 0, removed: d.rows[0]?.removed ?? 0, changed: d.rows[0]?.changed ?? 0 };
      }
      return {
        linesTotal,
        linesImported: row.lines_imported,
        linesRefused: refused.lines_refused,
        refusedLines: refused.refused,
        counts: countsOf({ ...row.counts, ...row.item_counts }),
        balances,
        diff,
      };
    },
    async recordOutcome(statementId, fileChunks, o: StatementClassifyOutcome) {
      await client.query(
        `UPDATE statements SET file_chunks = $2, lines_total = $3, lines_imported = $4, lines_refused = $5, refused_lines = $6, counts = $7,
           lines_net_minor = $8, balance_order = $9, running_breaks = $10, diff = $11 WHERE id = $1`,
        [statementId, fileChunks, o.linesTotal, o.linesImported, o.linesRefused, JSON.stringify(o.refusedLines), JSON.stringify(countsJson(o.counts)),
          o.balances.linesNetMinor.toString(), o.balances.order, o.balances.runningBreaks, o.diff ? JSON.stringify(o.diff) : null],
      );
    },
  };
}

/**
 * The file's own balance checks, written as statement_checks rows: opening + lines = closing,
 * and the running balance read in the order with fewer breaks (oldest first when equal).
 */
async function checkBalances(client: pg.PoolClient, q: StatementClassifyQuery, row: ClassifyRow): Promise<StatementBalanceCheck> {
  const linesNetMinor = BigInt(row.lines_net);
  let total: StatementBalanceCheck['total'] = null;
  let checkNo = 0;
  if (q.balances) {
    const expectedClosingMinor = q.balances.openingMinor + linesNetMinor;
    total = { expectedClosingMinor, closingMinor: q.balances.closingMinor, ok: expectedClosingMinor === q.balances.closingMinor };
    if (!total.ok) {
      await client.query(`INSERT INTO statement_checks (statement_id, check_no, kind, expected_minor, actual_minor) VALUES ($1, 0, 'balance_total', $2, $3)`,
        [q.statementId, expectedClosingMinor.toString(), q.balances.closingMinor.toString()]);
    }
    checkNo = 1;
  }
  const r = q.running;
  if (r.linesWithBalance === 0) return { linesNetMinor, total, order: null, runningBreaks: 0, breaks: [] };
  const order = r.breaksOldestFirst === 0 ? 'oldest-first' : r.breaksNewestFirst === 0 ? 'newest-first' : null;
  // Continuous neither way: the breaks are named in the order with fewer of them (oldest first when equal).
  const oldestFirst = r.breaksOldestFirst <= r.breaksNewestFirst;
  const runningBreaks = oldestFirst ? r.breaksOldestFirst : r.breaksNewestFirst;
  // Numbered among the file's lines, as every other line of the statement is.
  const breaks = (oldestFirst ? r.firstOldestFirst : r.firstNewestFirst).map((b) => ({ ...b, line: b.line + q.linesBeforeData }));
  if (breaks.length > 0) {
    await client.query(
      `INSERT INTO statement_checks (statement_id, check_no, kind, line_no, expected_minor, actual_minor)
       SELECT $1, $2::int + b.n, 'running_balance', b.line_no, b.expected, b.actual
       FROM unnest($3::int[], $4::bigint[], $5::bigint[]) WITH ORDINALITY AS b (line_no, expected, actual, n)`,
      [q.statementId, checkNo, breaks.map((b) => b.line), breaks.map((b) => b.expectedMinor.toString()), breaks.map((b) => b.balanceMinor.toString())],
    );
  }
  return { linesNetMinor, total, order, runningBreaks, breaks };
}

/** A stored statement as an import answers it, its checks read back. */
export async function readStatementRecord(client: pg.PoolClient, r: StatementRow): Promise<StatementRecord> {
  const checks = await client.query<{ kind: string; line_no: number | null; expected_minor: string; actual_minor: string }>(
    'SELECT kind, line_no, expected_minor::text, actual_minor::text FROM statement_checks WHERE statement_id = $1 ORDER BY check_no', [r.id]);
  const linesNetMinor = BigInt(r.lines_net_minor);
  const opening = r.opening_balance_minor === null ? null : BigInt(r.opening_balance_minor);
  const closing = r.closing_balance_minor === null ? null : BigInt(r.closing_balance_minor);
  const total = opening === null || closing === null ? null : { expectedClosingMinor: opening + linesNetMinor, closingMinor: closing, ok: opening + linesNetMinor === closing };
  const breaks = checks.rows.filter((c) => c.kind === 'running_balance')
    .map((c) => ({ line: c.line_no ?? 0, expectedMinor: BigInt(c.expected_minor), balanceMinor: BigInt(c.actual_minor) }));
  return {
    statementId: r.id, accountId: r.account_id, currency: r.currency, organisationId: r.organisation_id, format: r.format,
    formatVersion: r.format_version, periodFrom: r.period_from, periodTo: r.period_to, sha256Hex: r.sha256.toString('hex'),
    sizeBytes: Number(r.size_bytes), version: r.version, previousId: r.previous_id, openingBalanceMinor: opening, closingBalanceMinor: closing,
    linesTotal: r.lines_total, linesImported: r.lines_imported, linesRefused: r.lines_refused, refusedLines: r.refused_lines,
    counts: countsOf(r.counts),
    balances: { linesNetMinor, total, order: r.balance_order, runningBreaks: r.running_breaks, breaks },
    diff: r.diff,
  };
}

export interface StatementRow {
  id: string; account_id: string; currency: string; organisation_id: string; format: string; format_version: number;
  period_from: Date; period_to: Date; sha256: Buffer; size_bytes: string; opening_balance_minor: string | null; closing_balance_minor: string | null;
  version: number; previous_id: string | null; lines_net_minor: string; balance_order: 'oldest-first' | 'newest-first' | null; running_breaks: number;
  diff: StatementDiff | null;
  lines_total: number; lines_imported: number; lines_refused: number; refused_lines: StatementLineProblem[];
  counts: CountsJson;
}

type CountsJson = Record<string, { count: number; statementMinor: string; ledgerMinor: string }>;

export const statementSelect = `SELECT id, account_id, currency, organisation_id, format, format_version, period_from, period_to, sha256, size_bytes::text,
  opening_balance_minor::text, closing_balance_minor::text, version, previous_id, lines_net_minor::text, balance_order, running_breaks, diff,
  lines_total, lines_imported, lines_refused, refused_lines, counts FROM statements`;

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
  counts: CountsJson;
  /** The ledger payouts no line names, per class (missing at the provider, timing). */
  item_counts: CountsJson;
  lines_net: string;
}

interface RefusalRow {
  lines_refused: number;
  refused: StatementLineProblem[];
  /** Bad lines staged (refused while the lines streamed); of them, those SQL found no problem in. */
  lines_staged_bad?: number;
  lines_unnamed?: number;
}

/** ASCII letters lowered, as PostgreSQL's lower() does in the "C" collation (ILIKE is lower() LIKE lower()). */
const lowerAscii = (patterns: readonly string[]): string[] => patterns.map((p) => p.replace(/[A-Z]+/g, (m) => m.toLowerCase()));

/** A text[] literal of shapes built from integers and the separator ',' (never from the file). */
const shapesLiteral = (shapes: readonly string[]): string => `'{${shapes.map((x) => `"${x}"`).join(',')}}'::text[]`;

/** The set-based pass's parameters: $1 statement, $2 account, $3 period from, $4 period to, $5 lines before the data. */
function classifyParams(q: StatementClassifyQuery): unknown[] {
  return [q.statementId, q.accountId, q.periodFrom, q.periodTo, q.linesBeforeData];
}

/** The parameters of checkedSql ($1-$15): the period's days, the statuses, the kinds' patterns. */
function checkParams(q: StatementClassifyQuery): unknown[] {
  const f = q.format;
  const days = periodDaysOf(q.periodFrom, q.periodTo, f.time.utcOffsetMinutes, f.time.format);
  return [
    q.statementId, q.accountId, days.dmy, days.midnight,
    f.statuses.completed, f.statuses.failed,
    lowerAscii(f.kinds.charge.reasonType), lowerAscii(f.kinds.charge.details), lowerAscii(f.kinds.reversal.reasonType), lowerAscii(f.kinds.reversal.details),
    lowerAscii(f.kinds.payout.reasonType), lowerAscii(f.kinds.payout.details),
    q.periodFrom, q.periodTo, q.linesBeforeData,
  ];
}

/** to_timestamp's pattern of each time format (the refusal pass names a bad time with it). */
const timePatternOf: Record<StatementTimeFormat, string> = {
  'DD-MM-YYYY HH:MM:SS': 'DD-MM-YYYY HH24:MI:SS',
  'YYYY-MM-DD HH:MM:SS': 'YYYY-MM-DD HH24:MI:SS',
  'DD-MM-YY hh:mm AM': 'DD-MM-YY HH12:MI AM',
};

function refusalParams(q: StatementClassifyQuery): unknown[] {
  const f = q.format;
  const title = (role: ColumnRole): string => f.columns[columnOf(f, role)]?.title ?? role;
  const digits = f.amounts.fractionDigits === 'up-to-currency-scale' ? `at most ${q.scale}` : `exactly ${q.scale}`;
  return [
    ...checkParams(q), q.refusedLinesReportedMax,
    [title('providerTransactionId'), title('completedAt'), title('status'), title('paidIn'), title('withdrawn'), title('balance'),
      title('linkedTransactionId'), title('ourReference'), title('amount'), title('direction'), title('fee')],
    timePatternOf[f.time.format],
    `not an amount with ${digits} decimals`,
    `not an unsigned amount with ${digits} decimals`,
    f.time.utcOffsetMinutes,
    `not a time ${f.time.format}`,
  ];
}

/**
 * A bad line's cell of `role` in the "C" collation (byte-wise: compares and hashes cost less
 * than under the database's), empty as NULL; a NULL of text where the format has none. Cells are
 * not trimmed: a padded amount or time is not the format's, and is named.
 */
function cell(f: StatementFormat, role: ColumnRole, raw = false): string {
  const i = columnOf(f, role);
  if (i < 0) return 'NULL::text';
  return raw ? `s.cells[${i + 1}] COLLATE "C"` : `NULLIF(s.cells[${i + 1}] COLLATE "C", '')`;
}

/**
 * The times of a day as a format writes them after its day part, each with its offset from
 * midnight: 86,400 ` HH:MM:SS`, or 1,440 ` hh:mm AM` (12:00 AM is midnight, 12:00 PM noon).
 */
function timesOfDaySql(f: StatementFormat): string {
  if (f.time.format === 'DD-MM-YY hh:mm AM') {
    return `SELECT ' ' || lpad(((i / 60 + 11) % 12 + 1)::text, 2, '0') || ':' || lpad((i % 60)::text, 2, '0') || CASE WHEN i < 720 THEN ' AM' ELSE ' PM' END COLLATE "C" AS hms,
                  make_interval(mins => i) AS since
           FROM generate_series(0, 1439) i`;
  }
  return `SELECT ' ' || lpad((i / 3600)::text, 2, '0') || ':' || lpad((i / 60 % 60)::text, 2, '0') || ':' || lpad((i % 60)::text, 2, '0') COLLATE "C" AS hms,
                make_interval(secs => i) AS since
         FROM generate_series(0, 86399) i`;
}

/** A text literal of the mapping's (never the file's): quotes doubled, no backslash escapes (standard_conforming_strings). */
const sqlText = (value: string): string => `'${value.replaceAll("'", "''")}'`;

/** Text literal of a constant list built from the mapping (never from the file): quotes doubled. */
const textArray = (values: readonly string[]): string => `ARRAY[${values.map(sqlText).join(', ')}]::text[]`;

/**
 * Every bad line of the staging table (its cells) read and checked once, as `checked` (a CTE body
 * list, ending in `checked`), by the rules application/statement-lines.ts applied while the lines
 * streamed (domain/statement-lines.ts): here they name each bad line's problems (refusalSql).
 * the cells; the time as one of the period's days ($3, $4) plus one of the day's times (two
 * hashed lookups: no per-row parsing); amounts by shape (digits written 9, a hashed lookup in
 * the grammar's shapes) then cast; the line's movement as paid in and withdrawn, however the
 * format writes it (two columns, a signed amount, an amount and a direction); the fee on the
 * line; the kind by LIKE on the lowered reason and details; `ok` when the line has no problem.
 * OFFSET 0 fences: each expression is computed once per line.
 */
function checkedSql(f: StatementFormat, scale: number): string {
  const upTo = f.amounts.fractionDigits === 'up-to-currency-scale';
  const { shapes, singleDigit } = amountShapesOf(scale, f.amounts.thousandsSeparator, upTo);
  const unsigned = shapes.filter((x) => !x.startsWith('-'));
  // Exactly the scale: the digits are the minor units. Up to it: the fraction is padded to it.
  const cast = (text: string) => (upTo
    ? `(split_part(replace(${text}, ',', ''), '.', 1) || rpad(split_part(replace(${text}, ',', ''), '.', 2), ${scale}, '0'))::bigint`
    : `replace(replace(${text}, ',', ''), '.', '')::bigint`);
  const amount = (text: string, shape: string, allowed: readonly string[]) =>
    `CASE WHEN ${shape} = ANY(${shapesLiteral(allowed)}) AND (${shape} = ANY(${shapesLiteral(singleDigit)}) OR (${text} NOT LIKE '0%' AND ${text} NOT LIKE '-0%'))
       THEN ${cast(text)} END`;
  const shapeOf = (text: string) => `translate(${text}, '0123456789', '9999999999')`;
  const m = f.amounts.movement;
  const movement = m.kind === 'columns'
    ? { paidIn: amount('p.paid_in_text', 'p.paid_in_shape', unsigned), withdrawn: `abs(${amount('p.withdrawn_text', 'p.withdrawn_shape', m.withdrawnMayBeNegative ? shapes : unsigned)})` }
    : m.kind === 'signed'
      // GREATEST skips a NULL: a malformed amount must stay NULL (refused), never read as 0.
      ? { paidIn: `(SELECT CASE WHEN a >= 0 THEN a WHEN a < 0 THEN 0 END FROM (SELECT ${amount('p.amount_text', 'p.amount_shape', shapes)} AS a) x)`,
        withdrawn: `(SELECT CASE WHEN a < 0 THEN -a WHEN a >= 0 THEN 0 END FROM (SELECT ${amount('p.amount_text', 'p.amount_shape', shapes)} AS a) x)` }
      : {
        paidIn: `CASE WHEN p.direction_text = ANY(${textArray(m.credit)}) THEN ${amount('p.amount_text', 'p.amount_shape', unsigned)} WHEN p.direction_text = ANY(${textArray(m.debit)}) THEN 0 END`,
        withdrawn: `CASE WHEN p.direction_text = ANY(${textArray(m.debit)}) THEN ${amount('p.amount_text', 'p.amount_shape', unsigned)} WHEN p.direction_text = ANY(${textArray(m.credit)}) THEN 0 END`,
      };
  const movementOk = m.kind === 'columns'
    ? `(p.paid_in_text IS NULL OR p.paid_in_minor IS NOT NULL) AND (p.withdrawn_text IS NULL OR p.withdrawn_minor IS NOT NULL) AND (p.paid_in_text IS NULL) <> (p.withdrawn_text IS NULL)`
    : 'p.paid_in_minor IS NOT NULL AND p.withdrawn_minor IS NOT NULL';
  // The cells, their shapes and the time are read in the scan's own projection (one layer: a
  // layer of its own above the joins cost ~0.5 s of CPU per 1M lines); NULLIF is cheap enough to
  // repeat where a cell is both kept and shaped.
  const done = cell(f, 'completedAt');
  return `
raw AS (
  SELECT s.line_no + $15::bigint AS line_no, ${cell(f, 'providerTransactionId')} AS txn, ${done} AS done_text,
         ${cell(f, 'status')} AS status_text, ${cell(f, 'paidIn')} AS paid_in_text, ${cell(f, 'withdrawn')} AS withdrawn_text,
         ${cell(f, 'amount')} AS amount_text, ${cell(f, 'direction')} AS direction_text, ${cell(f, 'fee')} AS fee_text,
         ${cell(f, 'balance')} AS balance_text, lower(${cell(f, 'reasonType', true)}) AS reason, lower(${cell(f, 'details', true)}) AS details,
         ${f.linkedInDetails === undefined ? cell(f, 'linkedTransactionId') : `substring(${cell(f, 'details', true)} FROM ${sqlText(f.linkedInDetails)})`} AS linked,
         ${cell(f, 'ourReference')} AS our_ref, ${cell(f, 'sourceLine')} AS source_line,
         ${shapeOf(cell(f, 'paidIn'))} AS paid_in_shape, ${shapeOf(cell(f, 'withdrawn'))} AS withdrawn_shape, ${shapeOf(cell(f, 'balance'))} AS balance_shape,
         ${shapeOf(cell(f, 'amount'))} AS amount_shape, ${shapeOf(cell(f, 'fee'))} AS fee_shape,
         d.midnight + t.since AS completed_at
  FROM statement_staging_lines s
  LEFT JOIN unnest($3::text[], $4::timestamptz[]) AS d (dmy, midnight) ON d.dmy COLLATE "C" = left(${done}, ${dayPartLength(f.time.format)})
  LEFT JOIN (${timesOfDaySql(f)}) t ON t.hms = substr(${done}, ${dayPartLength(f.time.format) + 1})
  WHERE s.cells IS NOT NULL
  OFFSET 0
),
parsed AS (
  SELECT p.line_no, p.txn, p.done_text, p.paid_in_text, p.withdrawn_text, p.amount_text, p.direction_text, p.fee_text, p.balance_text,
    p.linked, p.our_ref, p.source_line, p.completed_at,
    CASE WHEN p.status_text = ANY($5::text[]) THEN 'completed' WHEN p.status_text = ANY($6::text[]) THEN 'failed' END AS status,
    ${movement.paidIn} AS paid_in_minor,
    ${movement.withdrawn} AS withdrawn_minor,
    CASE WHEN p.fee_text IS NULL THEN 0 ELSE abs(${amount('p.fee_text', 'p.fee_shape', shapes)}) END AS fee_minor,
    ${amount('p.balance_text', 'p.balance_shape', shapes)} AS balance_minor,
    CASE WHEN p.reason LIKE ANY($7::text[]) OR p.details LIKE ANY($8::text[]) THEN 'charge'
         WHEN p.reason LIKE ANY($9::text[]) OR p.details LIKE ANY($10::text[]) THEN 'reversal'
         WHEN p.reason LIKE ANY($11::text[]) OR p.details LIKE ANY($12::text[]) THEN 'payout'
         ELSE 'other' END COLLATE "C" AS kind
  FROM raw p
  OFFSET 0
),
checked AS (
  SELECT p.*, (p.txn IS NOT NULL AND length(p.txn) <= 100
    AND p.completed_at >= $13::timestamptz AND p.completed_at < $14::timestamptz
    AND p.status IS NOT NULL
    AND ${movementOk}
    AND p.fee_minor IS NOT NULL
    AND (p.balance_text IS NULL OR p.balance_minor IS NOT NULL)
    AND (p.linked IS NULL OR length(p.linked) <= 100)
    AND (p.our_ref IS NULL OR length(p.our_ref) <= 128)) IS TRUE AS ok
  FROM parsed p
)`;
}

/**
 * The one set-based pass over the lines. Parameters: see classifyParams. Column references are
 * built from the mapping's positions (integers), never from text the file brought. The good
 * lines are numbered within their transaction id and kind (the one sort); each is joined once
 * with the account's payouts on its key (a payout line: its transaction id; a charge: the payout
 * it names, or its own id, M-Pesa's charge carrying its payout's receipt; a reversal: the payout
 * it names), classed, and written. The same join (a full one) yields the ledger payouts no line
 * names: those no payout line of another period names either are classed missing at the
 * provider or timing and written too (see `items`). The answer: the counts per class and the
 * balance figures.
 */
function classifySql(f: StatementFormat): string {
  const feeOnLine = columnOf(f, 'fee') >= 0;
  const byOurs = "l.line_no IS NOT NULL AND g.id IS NULL AND l.our_ref IS NOT NULL AND l.kind = 'payout' AND NOT l.duplicate";
  const oursId = ourReferencePayoutSql('l.our_ref');
  const payoutId = `coalesce(g.id, CASE WHEN ${byOurs} THEN ${oursId} END)`;
  const ledgerFee = `(SELECT coalesce(sum(t.amount), 0) FROM transfers t WHERE t.payout_id = ${payoutId} AND t.code = 'payout_fee')`;
  return `
WITH numbered AS (
  SELECT s.line_no + $5::bigint AS line_no, s.txn, s.kind, s.status, s.completed_at, s.paid_in_minor, s.withdrawn_minor,
    s.fee_minor, s.balance_minor, s.linked, s.our_ref, row_number() OVER (PARTITION BY s.txn, s.kind ORDER BY s.line_no) > 1 AS repeated
  FROM statement_staging_lines s WHERE s.cells IS NULL
),
lines AS (
  SELECT n.*, (n.repeated OR EXISTS (SELECT 1 FROM statement_lines o WHERE o.account_id = $2 AND o.provider_transaction_id = n.txn COLLATE "default" AND o.kind = n.kind
                                      AND NOT o.duplicate AND o.period_from <> $3::timestamptz)) AS duplicate
  FROM numbered n
  OFFSET 0
),
keyed AS (
  SELECT x.*, CASE WHEN x.duplicate THEN NULL WHEN x.kind = 'payout' THEN x.txn WHEN x.kind = 'charge' THEN coalesce(x.linked, x.txn)
                   WHEN x.kind = 'reversal' THEN x.linked END AS match_ref
  FROM lines x
),
-- Every payout attempted through the account (one without a provider reference matches no line).
ledger AS (
  SELECT p.id, p.provider_reference COLLATE "C" AS ref, p.amount_minor, p.state
  FROM payouts p
  WHERE p.id IN (SELECT a.payout_id FROM payout_attempts a WHERE a.account_id = $2)
),
-- Each line with the payout it names (if any), and each payout no line names (line_no NULL). A
-- payout line whose transaction id names no payout but which carries our reference is matched by
-- it (only those lines look it up: the CASE keeps the lookups off every other line).
joined AS (
  SELECT l.*, g.id AS t_id, g.ref AS g_ref,
    ${payoutId} AS g_id,
    coalesce(g.amount_minor, CASE WHEN ${byOurs} THEN (SELECT p.amount_minor FROM payouts p WHERE p.id = ${oursId}) END) AS g_amount,
    coalesce(g.state, CASE WHEN ${byOurs} THEN (SELECT p.state FROM payouts p WHERE p.id = ${oursId}) END) AS g_state,
    CASE WHEN l.line_no IS NOT NULL AND ${payoutId} IS NOT NULL AND ((l.kind = 'payout' AND ${feeOnLine ? 'true' : 'false'}) OR l.kind = 'charge') THEN ${ledgerFee} END AS g_fee
  FROM keyed l FULL JOIN ledger g ON g.ref = l.match_ref
  OFFSET 0
),
classed AS (
  SELECT j.*,
    CASE WHEN j.line_no IS NULL THEN NULL
         WHEN j.duplicate THEN 'duplicate_at_provider'
         WHEN j.kind = 'payout' THEN
           CASE WHEN j.g_id IS NULL THEN 'unknown_reference'
                WHEN j.status = 'completed' AND j.g_state NOT IN ('paid', 'reversed') THEN 'paid_not_in_ledger'
                WHEN j.status = 'failed' AND j.g_state IN ('paid', 'reversed') THEN 'status_mismatch'
                WHEN j.status = 'failed' THEN 'matched'
                WHEN j.withdrawn_minor - j.paid_in_minor > j.g_amount THEN 'amount_over'
                WHEN j.withdrawn_minor - j.paid_in_minor < j.g_amount THEN 'amount_under'
                WHEN j.g_fee IS NOT NULL AND j.fee_minor <> j.g_fee THEN 'fee_mismatch'
                ELSE 'matched' END
         WHEN j.kind = 'charge' THEN
           CASE WHEN j.g_id IS NULL OR j.status = 'failed' THEN 'non_payout'
                WHEN j.withdrawn_minor - j.paid_in_minor + j.fee_minor = j.g_fee THEN 'matched'
                ELSE 'fee_mismatch' END
         WHEN j.kind = 'reversal' THEN
           CASE WHEN j.g_id IS NULL OR j.status = 'failed' OR j.g_state = 'reversed' THEN 'reversal' ELSE 'late_reversal' END
         ELSE 'non_payout' END AS class
  FROM joined j
  OFFSET 0
),
-- Held once (every later step reads it): the lines, classed, with the payout each names.
stored AS MATERIALIZED (
  SELECT c.*, CASE WHEN c.class IN ('non_payout', 'duplicate_at_provider', 'unknown_reference') THEN NULL
                   WHEN c.class = 'reversal' AND c.status = 'failed' THEN NULL ELSE c.g_id END AS payout_id,
    (c.line_no IS NOT NULL AND c.t_id IS NULL AND c.g_id IS NOT NULL) AS by_ours
  FROM classed c
),
ins_lines AS (
  INSERT INTO statement_lines (statement_id, line_no, account_id, period_from, provider_transaction_id, kind, status, completed_at,
    paid_in_minor, withdrawn_minor, fee_minor, balance_minor, linked_transaction_id, our_reference, duplicate, class, payout_id, ledger_minor, ledger_fee_minor,
    matched_by_our_reference)
  SELECT $1, c.line_no, $2, $3, c.txn, c.kind, c.status, c.completed_at, c.paid_in_minor, c.withdrawn_minor, c.fee_minor, c.balance_minor, c.linked, c.our_ref,
    c.duplicate, c.class, c.payout_id, CASE WHEN c.payout_id IS NOT NULL THEN ${ledgerSide('c')} END, CASE WHEN c.payout_id IS NOT NULL THEN c.g_fee END,
    c.by_ours AND c.payout_id IS NOT NULL
  FROM stored c WHERE c.line_no IS NOT NULL
),
-- Per class, in one read of the lines: what the answer and the statement's figures need.
summary AS (
  SELECT class, count(*) AS n, coalesce(sum(withdrawn_minor - paid_in_minor), 0) AS s, coalesce(sum(CASE WHEN payout_id IS NOT NULL THEN ${ledgerSide('stored')} END), 0) AS l,
    sum(paid_in_minor - withdrawn_minor - fee_minor) FILTER (WHERE status = 'completed') AS net
  FROM stored WHERE line_no IS NOT NULL GROUP BY class
),
-- The account's payouts no payout line of this statement names: no line at all, or only a
-- charge's or a reversal's.
unnamed AS (
  SELECT c.g_id AS id, c.g_ref AS ref, c.g_amount AS amount_minor, c.g_state AS state FROM stored c
  WHERE c.line_no IS NULL AND c.g_id NOT IN (SELECT o.g_id FROM stored o WHERE o.by_ours)
  UNION ALL
  SELECT DISTINCT c.g_id, c.g_ref, c.g_amount, c.g_state FROM stored c
  WHERE c.kind <> 'payout' AND c.g_id IS NOT NULL
    AND NOT EXISTS (SELECT 1 FROM stored n WHERE n.kind = 'payout' AND n.g_id = c.g_id)
),
-- Of those, the ones no payout line of another period names either (an earlier version of this
-- one does not count): missing at the provider when the ledger settled them paid within the
-- period, timing when one was sent before the cut-off and none had settled by it.
items AS (
  SELECT u.id, u.amount_minor,
    CASE WHEN (SELECT max(t.at) FROM payout_transitions t WHERE t.payout_id = u.id AND t.to_state = 'paid') >= $3::timestamptz
              AND (SELECT max(t.at) FROM payout_transitions t WHERE t.payout_id = u.id AND t.to_state = 'paid') < $4::timestamptz THEN 'missing_at_provider'
         WHEN EXISTS (SELECT 1 FROM payout_attempts a WHERE a.payout_id = u.id AND a.account_id = $2 AND a.created_at < $4::timestamptz)
              AND NOT EXISTS (SELECT 1 FROM payout_transitions t WHERE t.payout_id = u.id AND t.to_state IN ('paid', 'failed', 'cancelled', 'reversed') AND t.at < $4::timestamptz)
              AND u.state NOT IN ('accepted', 'queued', 'cancelled') THEN 'timing' END AS class
  FROM unnamed u
  WHERE NOT EXISTS (SELECT 1 FROM statement_lines o WHERE o.account_id = $2 AND o.provider_transaction_id = u.ref COLLATE "default" AND o.kind = 'payout'
                      AND o.payout_id = u.id AND o.period_from <> $3::timestamptz)
    AND NOT EXISTS (SELECT 1 FROM statement_lines o WHERE o.payout_id = u.id AND o.matched_by_our_reference AND o.kind = 'payout' AND o.account_id = $2
                      AND o.period_from <> $3::timestamptz)
),
ins_items AS (
  INSERT INTO reconciliation_payouts (statement_id, payout_id, class, ledger_minor)
  SELECT $1, i.id, i.class, i.amount_minor FROM items i WHERE i.class IS NOT NULL
)
SELECT
  (SELECT coalesce(sum(n), 0) FROM summary)::int AS lines_imported,
  (SELECT coalesce(jsonb_object_agg(x.class, jsonb_build_object('count', x.n, 'statementMinor', x.s::text, 'ledgerMinor', x.l::text)), '{}') FROM summary x) AS counts,
  (SELECT coalesce(sum(net), 0) FROM summary)::text AS lines_net,
  (SELECT coalesce(jsonb_object_agg(x.class, jsonb_build_object('count', x.n, 'statementMinor', '0', 'ledgerMinor', x.l::text)), '{}')
     FROM (SELECT class, count(*) AS n, sum(amount_minor) AS l FROM items WHERE class IS NOT NULL GROUP BY class) x) AS item_counts`;
}

/**
 * The payout our reference `ref` names among the account's ($2) attempts: an attempt's key (what
 * M-Pesa's OriginatorConversationID and MoMo's externalId carry; Airtel's transaction.id is the
 * key without hyphens), else a payout's id (GSMA's requestingOrganisationTransactionReference).
 * A UUID is compared in its canonical form, whatever its case or hyphens on the statement.
 */
function ourReferencePayoutSql(ref: string): string {
  const uuidShaped = `${ref} ~* '^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$'`;
  const canonical = `CASE WHEN ${uuidShaped} THEN ${ref}::uuid::text ELSE ${ref} END`;
  return `(SELECT x.id FROM (
      SELECT a.payout_id AS id, 1 AS preference FROM payout_attempts a WHERE a.idempotency_key = (${canonical} COLLATE "default") AND a.account_id = $2
      UNION ALL
      SELECT a.payout_id, 2 FROM payout_attempts a WHERE ${uuidShaped} AND a.payout_id = (CASE WHEN ${uuidShaped} THEN ${ref}::uuid END) AND a.account_id = $2
    ) x ORDER BY x.preference LIMIT 1)`;
}

/**
 * What the ledger holds for a line that names a payout, beside what the line moved: a charge line's
 * the payout's fee (the charge is compared with it), any other line's the payout's amount.
 */
const ledgerSide = (t: string): string => `CASE WHEN ${t}.kind = 'charge' THEN ${t}.g_fee ELSE ${t}.g_amount END`;

/** Lines added, removed and changed against the previous version, by transaction id and kind (first lines). */
const diffSql = `
SELECT count(*) FILTER (WHERE o.line_no IS NULL)::int AS added, count(*) FILTER (WHERE n.line_no IS NULL)::int AS removed,
  count(*) FILTER (WHERE o.line_no IS NOT NULL AND n.line_no IS NOT NULL AND (o.paid_in_minor, o.withdrawn_minor, o.fee_minor, o.status, o.class)
                   IS DISTINCT FROM (n.paid_in_minor, n.withdrawn_minor, n.fee_minor, n.status, n.class))::int AS changed
FROM (SELECT * FROM statement_lines WHERE statement_id = $1 AND NOT duplicate) n
FULL JOIN (SELECT * FROM statement_lines WHERE statement_id = $2 AND NOT duplicate) o ON o.provider_transaction_id = n.provider_transaction_id AND o.kind = n.kind`;

/** What SQL's own checks (`checkedSql`) read from one staged line's cells. Amounts as text. */
export interface SqlCheckedLine {
  line_no: string; ok: boolean; txn: string | null; kind: string; status: string | null; completed_at: Date | null;
  paid_in_minor: string | null; withdrawn_minor: string | null; fee_minor: string | null; balance_minor: string | null; linked: string | null; our_ref: string | null;
}

/**
 * The lines staged with their cells (as bad lines are), read by the SQL checks that name a bad
 * line's problems: whether each is good, and what it reads. The checks made while the lines stream
 * (domain/statement-lines.ts) must agree with these on every line (test/integration/statement-lines.test.ts).
 */
export async function checkStagedCellsInSql(client: pg.ClientBase, q: StatementClassifyQuery): Promise<SqlCheckedLine[]> {
  const { rows } = await client.query<SqlCheckedLine>(`
WITH ${checkedSql(q.format, q.scale)}
SELECT (c.line_no - $15::bigint)::text AS line_no, c.ok, c.txn, c.kind, c.status, c.completed_at, c.paid_in_minor::text, c.withdrawn_minor::text,
  c.fee_minor::text, c.balance_minor::text, c.linked, c.our_ref
FROM checked c WHERE $1::uuid IS NOT NULL AND $2::text IS NOT NULL ORDER BY c.line_no`, checkParams(q));
  return rows;
}

/**
 * The bad lines' problems, only when the pass stored fewer lines than the file has: the lines
 * are read again (the same `checked`), and each problem named by line and column, never by content.
 * Titles ($17): transaction id, time, status, paid in, withdrawn, balance, linked, our reference,
 * amount, direction, fee.
 */
function refusalSql(f: StatementFormat, scale: number): string {
  const m = f.amounts.movement;
  const title = (n: number) => `($17::text[])[${n}]`;
  const movementProblems = m.kind === 'columns'
    ? `CASE WHEN c.paid_in_text IS NOT NULL AND c.paid_in_minor IS NULL THEN jsonb_build_object('column', ${title(4)}, 'problem', $19::text) END,
      CASE WHEN c.withdrawn_text IS NOT NULL AND c.withdrawn_minor IS NULL THEN jsonb_build_object('column', ${title(5)}, 'problem', $19::text) END,
      CASE WHEN (c.paid_in_text IS NULL) = (c.withdrawn_text IS NULL) THEN jsonb_build_object('column', ${title(4)} || ', ' || ${title(5)}, 'problem', 'exactly one of them is given') END`
    : `CASE WHEN c.amount_text IS NULL THEN jsonb_build_object('column', ${title(9)}, 'problem', 'missing')
           WHEN (c.paid_in_minor IS NULL OR c.withdrawn_minor IS NULL) AND ${m.kind === 'direction' ? `c.direction_text = ANY(${textArray([...m.credit, ...m.debit])})` : 'true'}
             THEN jsonb_build_object('column', ${title(9)}, 'problem', ${m.kind === 'direction' ? '$20::text' : '$19::text'}) END,
      ${m.kind === 'direction'
    ? `CASE WHEN c.direction_text IS NULL OR NOT c.direction_text = ANY(${textArray([...m.credit, ...m.debit])}) THEN jsonb_build_object('column', ${title(10)}, 'problem', 'not one of ${[...m.credit, ...m.debit].join(', ').replaceAll("'", "''")}') END`
    : 'NULL::jsonb'}`;
  return `
WITH ${checkedSql(f, scale)},
bad AS (
  SELECT CASE WHEN c.source_line ~ '^[1-9][0-9]{0,8}$' THEN c.source_line::int ELSE c.line_no END AS line_no, array_remove(ARRAY[
      CASE WHEN c.txn IS NULL THEN jsonb_build_object('column', ${title(1)}, 'problem', 'missing')
           WHEN length(c.txn) > 100 THEN jsonb_build_object('column', ${title(1)}, 'problem', 'longer than 100 characters') END,
      CASE WHEN c.completed_at IS NULL AND tuma_try_timestamp(c.done_text, $18::text, $21::int) IS NULL THEN jsonb_build_object('column', ${title(2)}, 'problem', $22::text)
           WHEN c.completed_at IS NULL OR c.completed_at < $13::timestamptz OR c.completed_at >= $14 THEN jsonb_build_object('column', ${title(2)}, 'problem', 'outside the statement''s period') END,
      CASE WHEN c.status IS NULL THEN jsonb_build_object('column', ${title(3)}, 'problem', 'not a status of the format') END,
      ${movementProblems},
      CASE WHEN c.fee_minor IS NULL THEN jsonb_build_object('column', ${title(11)}, 'problem', $19::text) END,
      CASE WHEN c.balance_text IS NOT NULL AND c.balance_minor IS NULL THEN jsonb_build_object('column', ${title(6)}, 'problem', $19::text) END,
      CASE WHEN length(c.linked) > 100 THEN jsonb_build_object('column', ${title(7)}, 'problem', 'longer than 100 characters') END,
      CASE WHEN length(c.our_ref) > 128 THEN jsonb_build_object('column', ${title(8)}, 'problem', 'longer than 128 characters') END
    ], NULL) AS problems
  FROM checked c WHERE NOT c.ok
)
SELECT $1::uuid AS statement_id, $2::text AS account_id, $20::text AS unsigned_problem, (SELECT count(*) FROM bad)::int AS lines_refused,
  (SELECT count(*) FROM checked)::int AS lines_staged_bad, (SELECT count(*) FROM bad WHERE cardinality(problems) = 0)::int AS lines_unnamed,
  (SELECT coalesce(jsonb_agg(jsonb_build_object('line', b.line_no) || pr ORDER BY b.line_no), '[]')
     FROM (SELECT line_no, problems FROM bad ORDER BY line_no LIMIT $16::int) b, unnest(b.problems) pr) AS refused`;
}

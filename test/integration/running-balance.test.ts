// The running balance read while the lines stream (domain/running-balance.ts) against the window
// the set-based pass ran over the stored lines before it (lag() over the lines in order, each way),
// in PostgreSQL itself: on random statements, continuous one way, the other, or neither, with
// failed lines, lines without a balance, negative balances and amounts past 2^53, the same counts
// and the same first breaks.
import fc from 'fast-check';
import { RunningBalance } from '../../src/domain/running-balance.js';
import type { CheckedStatementLine } from '../../src/domain/statement-lines.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await database?.drop();
});

interface Row { completed: boolean; paid: bigint; withdrawn: bigint; fee: bigint; balance: bigint | null }

/** The pass's window (before this moved into Node), over `rows` numbered from 1. */
const windowSql = `
WITH stored AS (
  SELECT n AS line_no, completed, paid, withdrawn, fee, balance
  FROM unnest($1::boolean[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[]) WITH ORDINALITY AS r (completed, paid, withdrawn, fee, balance, n)
),
running AS (
  SELECT r.line_no, r.balance, lag(r.balance) OVER w AS prev_balance, r.net, lag(r.net) OVER w AS prev_net
  FROM (SELECT line_no, balance, CASE WHEN completed THEN paid - withdrawn - fee ELSE 0 END AS net FROM stored WHERE balance IS NOT NULL) r
  WINDOW w AS (ORDER BY r.line_no)
)
SELECT count(*) FILTER (WHERE balance <> prev_balance + net)::int AS up, count(*) FILTER (WHERE prev_balance <> balance + prev_net)::int AS down,
  (SELECT count(*)::int FROM stored WHERE balance IS NOT NULL) AS with_balance,
  coalesce(jsonb_agg(jsonb_build_array(line_no, (prev_balance + net)::text, balance::text) ORDER BY line_no) FILTER (WHERE balance <> prev_balance + net), '[]') AS first_up,
  coalesce(jsonb_agg(jsonb_build_array(line_no, (prev_balance - prev_net)::text, balance::text) ORDER BY line_no) FILTER (WHERE balance <> prev_balance - prev_net), '[]') AS first_down
FROM running WHERE prev_balance IS NOT NULL`;

// Up to what a statement's amount grammar takes (15 integer digits and the scale's), past 2^53;
// 40 of them added stay inside PostgreSQL's bigint, as the pass's window needed.
const amountMax = 10n ** 17n;
const amount = fc.oneof(fc.constant(0n), fc.bigInt({ min: 1n, max: 100_000n }), fc.bigInt({ min: 1n, max: amountMax }));

/** A statement: the movements, and each line's balance stated (continuing one way), off by some amount, or not stated. */
const statement = fc.record({
  newestFirst: fc.boolean(),
  start: fc.bigInt({ min: -amountMax, max: amountMax }),
  lines: fc.array(fc.record({
    completed: fc.boolean(), paid: amount, withdrawn: amount, fee: fc.oneof(fc.constant(0n), fc.bigInt({ min: 1n, max: 5_000n })),
    stated: fc.constantFrom('continuous', 'continuous', 'continuous', 'off', 'none'), off: fc.bigInt({ min: -1000n, max: 1000n }).filter((x) => x !== 0n),
  }), { maxLength: 40 }),
});

function rowsOf(s: { newestFirst: boolean; start: bigint; lines: { completed: boolean; paid: bigint; withdrawn: bigint; fee: bigint; stated: string; off: bigint }[] }): Row[] {
  // Oldest first the balances build up from the start; newest first they are the same read backwards.
  const ordered = s.newestFirst ? [...s.lines].reverse() : s.lines;
  let balance = s.start;
  const rows = ordered.map((l) => {
    balance += l.completed ? l.paid - l.withdrawn - l.fee : 0n;
    return { completed: l.completed, paid: l.paid, withdrawn: l.withdrawn, fee: l.fee, balance: l.stated === 'none' ? null : l.stated === 'off' ? balance + l.off : balance };
  });
  return s.newestFirst ? rows.reverse() : rows;
}

const checked = (r: Row): CheckedStatementLine => ({
  txn: 'T', kind: 'payout', status: r.completed ? 'completed' : 'failed', completedAtMs: 0, completedAt: '2026-05-01T00:00:00+03:00',
  paidInMinor: r.paid.toString(), withdrawnMinor: r.withdrawn.toString(), feeMinor: r.fee.toString(), balanceMinor: r.balance === null ? null : r.balance.toString(),
  linked: null, ourRef: null,
});

describe('the running balance read in Node is the window the pass ran in PostgreSQL', () => {
  it('on random statements: the same counts each way and the same first breaks', async () => {
    let withBreaks = 0;
    let continuous = 0;
    await fc.assert(fc.asyncProperty(statement, fc.integer({ min: 0, max: 5 }), async (s, reportedMax) => {
      const rows = rowsOf(s);
      const running = new RunningBalance(reportedMax);
      rows.forEach((r, i) => running.observe(i + 1, checked(r)));
      const node = running.outcome();
      const { rows: [sql] } = await database.pool.query<{ up: number; down: number; with_balance: number; first_up: [number, string, string][]; first_down: [number, string, string][] }>(windowSql, [
        rows.map((r) => r.completed), rows.map((r) => r.paid.toString()), rows.map((r) => r.withdrawn.toString()), rows.map((r) => r.fee.toString()),
        rows.map((r) => (r.balance === null ? null : r.balance.toString())),
      ]);
      const named = (list: [number, string, string][]) => list.slice(0, reportedMax).map(([line, e, a]) => ({ line, expectedMinor: BigInt(e), balanceMinor: BigInt(a) }));
      expect(node).toEqual({
        linesWithBalance: sql!.with_balance, breaksOldestFirst: sql!.up, breaksNewestFirst: sql!.down,
        firstOldestFirst: named(sql!.first_up), firstNewestFirst: named(sql!.first_down),
      });
      if (Math.min(node.breaksOldestFirst, node.breaksNewestFirst) > 0) withBreaks += 1;
      if (node.linesWithBalance > 1 && (node.breaksOldestFirst === 0 || node.breaksNewestFirst === 0)) continuous += 1;
    }), { numRuns: 300 });
    // The statements drawn exercised both sides: continuous ones, and ones broken both ways.
    expect(withBreaks).toBeGreaterThan(20);
    expect(continuous).toBeGreaterThan(20);
  });
});

// The running balance read both ways while the lines stream (issue #14 item 4).
import { observingRunningBalance, RunningBalance, type RunningBalanceOutcome } from '../../src/domain/running-balance.js';
import type { CheckedStatementLine, StatementCell } from '../../src/domain/statement-lines.js';

type Move = { paid?: string; withdrawn?: string; fee?: string; balance: string | null; failed?: boolean };

const line = (m: Move): CheckedStatementLine => ({
  txn: 'T', kind: 'payout', status: m.failed ? 'failed' : 'completed', completedAtMs: 0, completedAt: '2026-05-01T00:00:00+03:00',
  paidInMinor: m.paid ?? '0', withdrawnMinor: m.withdrawn ?? '0', feeMinor: m.fee ?? '0', balanceMinor: m.balance, linked: null, ourRef: null,
});

function read(moves: readonly Move[], reportedMax = 100): RunningBalanceOutcome {
  const running = new RunningBalance(reportedMax);
  moves.forEach((m, i) => running.observe(i + 1, line(m)));
  return running.outcome();
}

describe('RunningBalance', () => {
  it('oldest first: each balance is the last one plus this line\'s movement (fee included)', () => {
    const r = read([{ paid: '10000', balance: '10000' }, { withdrawn: '2500', fee: '50', balance: '7450' }, { paid: '50', balance: '7500' }]);
    expect(r).toMatchObject({ linesWithBalance: 3, breaksOldestFirst: 0, breaksNewestFirst: 2 });
  });

  it('newest first: each balance is the next one\'s less the next line\'s movement', () => {
    const r = read([{ paid: '50', balance: '7500' }, { withdrawn: '2500', fee: '50', balance: '7450' }, { paid: '10000', balance: '10000' }]);
    expect(r).toMatchObject({ breaksOldestFirst: 2, breaksNewestFirst: 0, firstNewestFirst: [] });
  });

  it('a failed line moved nothing; a line with no balance is skipped, not a break', () => {
    const r = read([{ paid: '100', balance: '100' }, { withdrawn: '40', balance: '100', failed: true }, { withdrawn: '40', balance: null }, { withdrawn: '30', balance: '70' }]);
    // The line without a balance is passed over: 100 → 70 needs the 30 only (its 40 is not counted).
    expect(r).toMatchObject({ linesWithBalance: 3, breaksOldestFirst: 0 });
  });

  it('names each break with what continuity gives, exactly, beyond 2^53', () => {
    const big = '90071992547409930'; // 2^53 × 10 + 10: a JS number would round it
    const r = read([{ paid: '1', balance: big }, { paid: '1', balance: '90071992547409932' }]);
    expect(r.breaksOldestFirst).toBe(1);
    expect(r.firstOldestFirst).toEqual([{ line: 2, expectedMinor: 90071992547409931n, balanceMinor: 90071992547409932n }]);
    expect(r.firstNewestFirst).toEqual([{ line: 2, expectedMinor: 90071992547409929n, balanceMinor: 90071992547409932n }]);
  });

  it('negative balances (an overdrawn float) follow the same rule', () => {
    const r = read([{ withdrawn: '500', balance: '-500' }, { paid: '200', balance: '-300' }]);
    expect(r).toMatchObject({ breaksOldestFirst: 0 });
  });

  it('counts every break and names at most the reported maximum, in line order', () => {
    const moves: Move[] = Array.from({ length: 10 }, (_, i) => ({ paid: '1', balance: String(i * 10) }));
    const r = read(moves, 3);
    expect(r.breaksOldestFirst).toBe(9);
    expect(r.firstOldestFirst.map((b) => b.line)).toEqual([2, 3, 4]);
    expect(read(moves, 0).firstOldestFirst).toEqual([]);
    expect(() => new RunningBalance(-1)).toThrow(/count/);
  });

  it('no lines, or no line with a balance: nothing to read', () => {
    expect(read([])).toEqual({ linesWithBalance: 0, breaksOldestFirst: 0, breaksNewestFirst: 0, firstOldestFirst: [], firstNewestFirst: [] });
    expect(read([{ paid: '1', balance: null }])).toMatchObject({ linesWithBalance: 0 });
  });

  it('observing a check numbers the lines as they are checked, bad ones included, and shows only good ones', () => {
    const running = new RunningBalance(10);
    const answers: (CheckedStatementLine | null)[] = [line({ paid: '5', balance: '5' }), null, line({ paid: '5', balance: '11' })];
    let call = 0;
    const check = observingRunningBalance(() => answers[call++] ?? null, running);
    const cells: StatementCell[] = [];
    expect([check(cells), check(cells), check(cells)]).toEqual(answers);
    expect(running.outcome().firstOldestFirst).toEqual([{ line: 3, expectedMinor: 10n, balanceMinor: 11n }]);
  });
});

// A statement's running balance, read both ways while its lines stream (issue #14 item 4): each
// good line that states a balance is compared with the one before it, oldest first (this line's
// balance is the last one's plus this line's movement) and newest first (the last one's balance is
// this one's plus the last one's movement). A provider's export is continuous one way or the other;
// the breaks of the way with fewer are the file's exceptions. A line's movement counts only when it
// completed (paid in − withdrawn − fee); a failed line moved nothing.
//
// This was a window over the stored lines in the set-based pass (two sorts of every line, about a
// tenth of the pass's server time); the checked lines pass here in the same order, once.
import type { CheckedStatementLine, StatementLineCheck } from './statement-lines.js';

/** A line where the running balance does not follow: what continuity gives, and what the line states. */
export interface BalanceBreak {
  /** The line's number among the data lines (1 = the first data line of the file). */
  readonly line: number;
  readonly expectedMinor: bigint;
  readonly balanceMinor: bigint;
}

export interface RunningBalanceOutcome {
  /** Good lines that state a balance. */
  readonly linesWithBalance: number;
  /** Breaks read oldest first, and newest first: every one counted. */
  readonly breaksOldestFirst: number;
  readonly breaksNewestFirst: number;
  /** The first breaks each way, in line order (at most the reported maximum). */
  readonly firstOldestFirst: readonly BalanceBreak[];
  readonly firstNewestFirst: readonly BalanceBreak[];
}

const zero = 0n;
/** Minor units as written by the check (canonical digits, a minus when negative): '0' is the common case. */
const minor = (digits: string): bigint => (digits === '0' ? zero : BigInt(digits));

export class RunningBalance {
  private linesWithBalance = 0;
  private previousBalance: bigint | null = null;
  private previousNet = zero;
  private up = 0;
  private down = 0;
  private readonly firstUp: BalanceBreak[] = [];
  private readonly firstDown: BalanceBreak[] = [];

  /** `reportedMax`: breaks named each way (every one is counted). */
  constructor(private readonly reportedMax: number) {
    if (!Number.isSafeInteger(reportedMax) || reportedMax < 0) throw new Error('invariant violated: the breaks reported are a count');
  }

  /** The next good line, in file order; `line` its number among the data lines. */
  observe(line: number, checked: CheckedStatementLine): void {
    if (checked.balanceMinor === null) return;
    this.linesWithBalance += 1;
    const balance = minor(checked.balanceMinor);
    const net = checked.status === 'completed' ? minor(checked.paidInMinor) - minor(checked.withdrawnMinor) - minor(checked.feeMinor) : zero;
    const previous = this.previousBalance;
    if (previous !== null) {
      const expectedUp = previous + net;
      if (balance !== expectedUp) {
        this.up += 1;
        if (this.firstUp.length < this.reportedMax) this.firstUp.push({ line, expectedMinor: expectedUp, balanceMinor: balance });
      }
      // Newest first, the line before this one is the later: its balance less its own movement is this one's.
      const expectedDown = previous - this.previousNet;
      if (balance !== expectedDown) {
        this.down += 1;
        if (this.firstDown.length < this.reportedMax) this.firstDown.push({ line, expectedMinor: expectedDown, balanceMinor: balance });
      }
    }
    this.previousBalance = balance;
    this.previousNet = net;
  }

  outcome(): RunningBalanceOutcome {
    return {
      linesWithBalance: this.linesWithBalance, breaksOldestFirst: this.up, breaksNewestFirst: this.down,
      firstOldestFirst: [...this.firstUp], firstNewestFirst: [...this.firstDown],
    };
  }
}

/**
 * `check` that also shows each good line to `running`, numbered in the order the lines are checked
 * (each call is the next data line, as the line reader calls it).
 */
export function observingRunningBalance(check: StatementLineCheck, running: RunningBalance): StatementLineCheck {
  let line = 0;
  return (cells) => {
    line += 1;
    const checked = check(cells);
    if (checked !== null) running.observe(line, checked);
    return checked;
  };
}

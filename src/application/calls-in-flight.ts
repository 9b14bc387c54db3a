// Calls in flight per provider account, from every worker process (issue #16 item 6).
//
// Each worker process counts the calls its guards let through and that have not ended (one
// CallLimiter per account, in memory). Every callsInFlightReportIntervalMs it writes those counts to
// the database, one row per process and account, in one statement (an upsert that also prunes rows
// no process has written for callsInFlightRetentionMs), so that GET /v1/operations/providers, in
// any process, lists every worker's count with its age. A report older than
// callsInFlightStaleAfterIntervals of its process's interval is stale: that process stopped
// reporting (killed, hung, cut off from the database), so its count is shown but not added up. A
// process that stops cleanly stops its timer, then removes its rows: it has nothing in flight.
import type { Logger } from 'pino';
import { logStepFailure, runEvery } from './periodic.js';

/** How often a worker process reports, by default. */
export const callsInFlightReportIntervalDefaultMs = 5_000;
/** The shortest interval a worker process may report at (a write per account each time). */
export const callsInFlightReportIntervalMinMs = 100;
/** The longest (past it, an operator would read counts a minute old as "now"). */
export const callsInFlightReportIntervalMaxMs = 60_000;
/** A report older than this many of its process's intervals is stale: the process stopped reporting. */
export const callsInFlightStaleAfterIntervals = 3;
/** Rows no process wrote for this long are pruned (and never shown). */
export const callsInFlightRetentionMs = 3_600_000;
/** Reports shown per account at most (the newest): a deployment's worker processes, with room for recent restarts. */
export const callsInFlightReportsPerAccountMax = 100;

/** One process's last report of one account. */
export interface CallsInFlightReport {
  readonly accountId: string;
  readonly process: string;
  readonly calls: number;
  readonly intervalMs: number;
  readonly reportedAt: Date;
  /** How old the report is, by the database's clock (the one that stamped it), in ms. */
  readonly ageMs: number;
}

export interface CallsInFlightStore {
  /**
   * One statement: this process's count per account, written now (upserted), and the rows no
   * process wrote for `retentionMs` removed (other processes' only; rows another process is
   * writing are skipped, never waited for).
   */
  publish(process: string, counts: readonly { readonly accountId: string; readonly calls: number }[], intervalMs: number, retentionMs: number): Promise<void>;
  /** This process's rows removed (a clean stop). */
  withdraw(process: string): Promise<void>;
}

/** What a worker process counts: its guarded accounts. */
export interface CountingAccount {
  readonly accountId: string;
  callsInFlight(): number;
}

/** Whether an interval is one a process may report at. */
export function reportIntervalValid(intervalMs: number): boolean {
  return Number.isInteger(intervalMs) && intervalMs >= callsInFlightReportIntervalMinMs && intervalMs <= callsInFlightReportIntervalMaxMs;
}

/**
 * Starts a worker process's reports: at once, then every `intervalMs`. stop() ends the timer (after
 * the report in progress, if any) and removes the process's rows; a failed write is logged and the
 * next tick tries again.
 */
export function startCallsInFlightReporter(
  store: CallsInFlightStore,
  process: string,
  accounts: () => readonly CountingAccount[],
  intervalMs: number,
  logger: Logger,
): { stop(): Promise<void> } {
  if (!reportIntervalValid(intervalMs)) {
    throw new Error(`the calls in flight report interval must be a whole number of ms from ${callsInFlightReportIntervalMinMs} to ${callsInFlightReportIntervalMaxMs}`);
  }
  if (process.length === 0 || process.length > 128) throw new Error('a process name is 1 to 128 characters');
  const timer = runEvery(
    intervalMs,
    async (stopped) => {
      if (stopped()) return;
      const counts = accounts().map((a) => ({ accountId: a.accountId, calls: a.callsInFlight() }));
      if (counts.length > 0) await store.publish(process, counts, intervalMs, callsInFlightRetentionMs);
    },
    (error) => logStepFailure(logger, error, 'reporting the calls in flight failed; trying again next interval'),
  );
  return {
    async stop() {
      await timer.stop();
      try {
        await store.withdraw(process);
      } catch (error) {
        // Its rows go stale, then are pruned: nothing is wrong for long.
        logStepFailure(logger, error, 'removing this process\'s calls in flight reports failed; they will show stale');
      }
    },
  };
}

/** A report as operations show it: stale when its process missed callsInFlightStaleAfterIntervals reports. */
export function isStale(report: Pick<CallsInFlightReport, 'ageMs' | 'intervalMs'>): boolean {
  return report.ageMs > report.intervalMs * callsInFlightStaleAfterIntervals;
}

// What operators look at (issue #16 item 6): per provider account of the caller's organisation,
// whether an admin holds its breaker open and what each worker last reported of its own breaker.
//
// What is known where: the hold is stored (provider_account_holds); each worker's breaker lives in
// that worker's memory and every change of it is written to the audit log as a system event
// (breaker.open / half_open / close, naming the process: system-audit.ts), so the database knows
// the last state each worker reported, and when. Calls in flight are counted only inside each
// worker (its CallLimiter): nothing stores them, so this read gives the account's bound on them
// (its configured concurrency) and never a count.
import { accountsServing, type BreakerHoldStore, type HoldableAccount } from './breaker-holds.js';
import type { Actor } from './ports.js';

/** A configured provider account as operations show it (no secret, no identifier of the account's own). */
export interface OperatedAccount extends HoldableAccount {
  readonly provider: string;
  readonly currency: string;
  readonly country: string;
  /** The account's agreed limits: calls in flight at most per worker, and calls a second (null: none). */
  readonly callLimits: { readonly concurrency: number | null; readonly ratePerSecond: number | null };
}

export type ReportedBreakerState = 'closed' | 'open' | 'half_open';

/** A worker's last breaker change of an account, as the audit log has it. */
export interface BreakerReport {
  readonly accountId: string;
  readonly process: string;
  readonly state: ReportedBreakerState;
  readonly cause: string;
  readonly at: Date;
}

export interface OperationsReads {
  /** Per account, each process's latest breaker change among the account's last `recent` changes, newest first. */
  breakerReports(accountIds: readonly string[], recent: number): Promise<BreakerReport[]>;
}

/** The changes read per account: enough for every worker of a deployment, bounded whatever the log's size. */
export const breakerReportsRecent = 50;
/** Workers shown per account at most (the most recent reporters). */
export const breakerReportersMax = 10;

export interface ProviderAccountOperationsView {
  readonly accountId: string;
  readonly provider: string;
  readonly currency: string;
  readonly country: string;
  readonly callLimits: OperatedAccount['callLimits'];
  readonly hold: 'held_open' | 'automatic';
  readonly lastChange: { readonly state: 'open' | 'closed'; readonly reason: string; readonly setBy: string | null; readonly byThisOrganisation: boolean; readonly at: string } | null;
  /** Each worker's last reported breaker state, newest first; [] when no worker reported a change (a fresh breaker is closed). */
  readonly reported: readonly { readonly process: string; readonly state: ReportedBreakerState; readonly cause: string; readonly at: string }[];
}

export interface OperationsDeps {
  readonly holds: BreakerHoldStore;
  readonly reads: OperationsReads;
  readonly accounts: () => readonly OperatedAccount[];
}

/** The provider accounts serving a programme of the caller's organisation, by id, with their breakers. */
export async function listProviderOperations(deps: OperationsDeps, actor: Actor): Promise<{ accounts: ProviderAccountOperationsView[] }> {
  const all = deps.accounts();
  const serving = new Set((await accountsServing({ holds: deps.holds, accounts: () => all }, actor.organisationId)).map((a) => a.id));
  const mine = all.filter((a) => serving.has(a.id)).sort((x, y) => x.id.localeCompare(y.id));
  if (mine.length === 0) return { accounts: [] };
  const ids = mine.map((a) => a.id);
  const [holds, reports] = await Promise.all([deps.holds.all(), deps.reads.breakerReports(ids, breakerReportsRecent)]);
  const holdOf = new Map(holds.map((h) => [h.accountId, h]));
  return {
    accounts: mine.map((a) => {
      const h = holdOf.get(a.id) ?? null;
      const seen = new Set<string>();
      const reported = reports
        .filter((r) => r.accountId === a.id && !seen.has(r.process) && seen.add(r.process))
        .slice(0, breakerReportersMax)
        .map((r) => ({ process: r.process, state: r.state, cause: r.cause, at: r.at.toISOString() }));
      return {
        accountId: a.id,
        provider: a.provider,
        currency: a.currency,
        country: a.country,
        callLimits: a.callLimits,
        hold: h?.held ? 'held_open' : 'automatic',
        lastChange: h
          ? { state: h.held ? 'open' : 'closed', reason: h.reason, setBy: h.organisationId === actor.organisationId ? h.setBy : null, byThisOrganisation: h.organisationId === actor.organisationId, at: h.setAt.toISOString() }
          : null,
        reported,
      };
    }),
  };
}

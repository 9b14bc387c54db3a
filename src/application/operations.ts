// What operators look at (issue #16 item 6): per provider account of the caller's organisation,
// whether an admin holds its breaker open, what each worker last reported of its own breaker, and
// the calls each worker process has in flight.
//
// What is known where: the hold is stored (provider_account_holds); each worker's breaker lives in
// that worker's memory and every change of it is written to the audit log as a system event
// (breaker.open / half_open / close, naming the process: system-audit.ts), so the database knows
// the last state each worker reported, and when. Calls in flight are counted inside each worker
// process (its CallLimiters), which writes its counts to the database every few seconds
// (calls-in-flight.ts): this read lists each process's last count with its age, and adds up those
// not stale. Each worker process's /metrics has its own count too (tuma_provider_calls_in_flight).
import { accountsServing, type BreakerHoldStore, type HoldableAccount } from './breaker-holds.js';
import { callsInFlightReportsPerAccountMax, callsInFlightRetentionMs, isStale, type CallsInFlightReport } from './calls-in-flight.js';
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
  /** Per account, the worker processes' last reports of their calls in flight written within `retentionMs`, newest first, at most `perAccount`. */
  callsInFlight(accountIds: readonly string[], perAccount: number, retentionMs: number): Promise<CallsInFlightReport[]>;
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
  /**
   * The account's calls sent and not yet answered, as each worker process last reported them
   * (newest first), and their sum over the reports that are not stale.
   */
  readonly callsInFlight: {
    readonly total: number;
    readonly workers: readonly { readonly process: string; readonly count: number; readonly reportedAt: string; readonly ageMs: number; readonly stale: boolean }[];
  };
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
  const [holds, reports, inFlight] = await Promise.all([
    deps.holds.all(),
    deps.reads.breakerReports(ids, breakerReportsRecent),
    deps.reads.callsInFlight(ids, callsInFlightReportsPerAccountMax, callsInFlightRetentionMs),
  ]);
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
        callsInFlight: callsInFlightOf(inFlight.filter((r) => r.accountId === a.id)),
      };
    }),
  };
}

/** An account's reports as shown: each process's, and the sum of those not stale. */
function callsInFlightOf(reports: readonly CallsInFlightReport[]): ProviderAccountOperationsView['callsInFlight'] {
  const workers = reports.map((r) => ({ process: r.process, count: r.calls, reportedAt: r.reportedAt.toISOString(), ageMs: r.ageMs, stale: isStale(r) }));
  return { total: workers.reduce((n, w) => (w.stale ? n : n + w.count), 0), workers };
}

// ---------------------------------------------------------------- queues, dead-lettered payouts, orphans
//
// What the database knows of the queues: the organisation's payouts still on their way, by provider
// and stage. The transport's own lag (Kafka offsets) is measured by each worker for its
// subscriptions (tuma_consumer_lag); the API process subscribes to nothing.

/** Where a payout on its way waits: for dispatch, for its next attempt, with the provider, or for an operator. */
export type QueueStage = 'queued' | 'retry_later' | 'submitting' | 'awaiting_outcome' | 'dead_lettered';

export interface QueueDepth {
  readonly provider: string;
  readonly stage: QueueStage;
  readonly count: number;
  /** When the longest-waiting of them last changed. */
  readonly oldest: Date;
}

/** A payout flagged for operators: its attempts, or its status checks, ran out without a final answer. */
export interface DeadLetteredPayout {
  readonly payoutId: string;
  readonly batchId: string;
  readonly ref: string;
  readonly provider: string;
  readonly state: string;
  readonly amountMinor: bigint;
  readonly currency: string;
  readonly attempts: number;
  readonly failureCode: string | null;
  readonly flaggedAt: Date;
  /** The page's cursor after this payout. */
  readonly cursor: string;
}

export interface OrphanView {
  readonly id: string;
  readonly provider: string;
  readonly dedupeKey: string;
  readonly authenticated: boolean;
  readonly receivedAt: string;
}

export interface QueueReads {
  queueDepths(organisationId: string, now: Date): Promise<QueueDepth[]>;
  deadLettered(organisationId: string, after: { readonly micros: bigint; readonly id: string } | null, limit: number): Promise<DeadLetteredPayout[]>;
  /** Orphan callbacks of the providers, by id, after `afterId`. */
  orphans(providers: readonly string[], afterId: bigint, limit: number): Promise<{ id: bigint; provider: string; dedupeKey: string; authenticated: boolean; receivedAt: Date }[]>;
}

export const operationsPageDefault = 100;
export const operationsPageMax = 500;
export const deadLetteredCursorPattern = /^([0-9]{1,18}):([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/;
export const orphanCursorPattern = /^(0|[1-9][0-9]{0,17})$/;

/**
 * A run of digits as long as a phone number is masked in what an orphan shows: its dedupe key is
 * the provider's transaction id or our idempotency key, but an unauthenticated callback's body is
 * anyone's, and so is the key read from it.
 */
export function maskedKey(key: string): string {
  return key.slice(0, 128).replace(/[0-9]{9,}/g, (run) => `${run.slice(0, 2)}${'•'.repeat(run.length - 4)}${run.slice(-2)}`);
}

/**
 * Orphan callbacks name no payout, hence no organisation. An organisation's admins and auditors see
 * those of the providers whose accounts serve it (an account of every programme serves every
 * organisation): id, provider, dedupe key (masked as maskedKey says), whether it was authenticated,
 * and when it came; never the body, which is sealed.
 */
export async function listOrphans(deps: OperationsDeps & { readonly queues: QueueReads }, actor: Actor, afterId: bigint, limit: number): Promise<{ orphans: OrphanView[]; providers: string[]; next: string | null }> {
  const all = deps.accounts();
  const serving = new Set((await accountsServing({ holds: deps.holds, accounts: () => all }, actor.organisationId)).map((a) => a.id));
  const providers = [...new Set(all.filter((a) => serving.has(a.id)).map((a) => a.provider))].sort();
  const rows = providers.length > 0 ? await deps.queues.orphans(providers, afterId, limit) : [];
  const last = rows.at(-1);
  return {
    providers,
    orphans: rows.map((o) => ({ id: o.id.toString(), provider: o.provider, dedupeKey: maskedKey(o.dedupeKey), authenticated: o.authenticated, receivedAt: o.receivedAt.toISOString() })),
    next: rows.length === limit && last ? last.id.toString() : null,
  };
}

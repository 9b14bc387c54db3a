// Reads for the API, scoped to the caller's organisation (another organisation's batch is simply
// not found). No beneficiary data leaves through these: phone numbers and names stay sealed.
import { rowProblemOf, type RowProblem } from '../domain/batch-document.js';
import { reject, type Rejection } from '../domain/errors.js';
import { formatAmount } from '../domain/money.js';
import { payoutStates, publicPayoutState, storedPayoutStateFor, type PayoutState } from '../domain/payout-state.js';
import { err, ok, type Result } from '../domain/result.js';
import { erasedBeneficiary, erasedProgrammes } from './erase-programme.js';
import { cursors } from './ledger.js';
import type { BatchRecord, Persistence, PayoutRecord, ProviderPayoutCounts } from './ports.js';

/** Payouts per page of GET /v1/batches/{id}/payouts. */
export const payoutsPageMax = 1_000;

export interface BatchView {
  readonly batchId: string;
  readonly programmeId: string;
  readonly state: string;
  readonly currency: string;
  readonly payoutCount: number;
  readonly total: string;
  readonly receivedAt: string;
  readonly approvals: { readonly required: number; readonly received: number; readonly approvers: { readonly kid: string; readonly approvedAt: string }[] };
  readonly payouts: Record<string, { readonly count: number; readonly amount: string }>;
  /**
   * The same payouts by provider, then state (issue #16 item 3: a batch's progress by state and
   * provider, at any size): counted in the same read as `payouts`, as fresh.
   */
  readonly byProvider: Record<string, Record<string, { readonly count: number; readonly amount: string }>>;
  /** Rows numbered from 1, as in a refusal. */
  readonly rejectedRows: readonly RowProblem[];
}

/**
 * Counting a batch's payouts by provider and state reads every payout of it (some 2 ms of
 * PostgreSQL's CPU for 2,000; one GROUP BY gives both figures): a batch of more payouts than this has its counts kept for GET /v1/batches/{id} for up to
 * batchCountsMaxAgeMs, so that clients polling a large batch do not each count it again. A batch
 * this size or smaller is counted on every read.
 */
export const batchCountsExactPayoutsMax = 1_000;
/** How old the counts GET /v1/batches/{id} shows of a large batch may be, in ms (its state and approvals are read each time). */
export const batchCountsMaxAgeMs = 1_000;
/** Large batches whose counts are kept at most, per process (the oldest forgotten first). */
export const batchCountsKeptMax = 1_000;

interface KeptCounts {
  /** The last counts read, and when (null until the first count of the batch has come). */
  readonly counts: readonly ProviderPayoutCounts[] | null;
  readonly at: number;
  /** A count in flight for the batch, started by one read: the reads that come meanwhile use it (or the last counts) instead of counting too. */
  readonly counting: Promise<readonly ProviderPayoutCounts[] | null> | null;
}
/** Per persistence (per database), batch id -> its counts and when (performance.now(), or the caller's clockMs) they were read. */
const keptCounts = new WeakMap<Persistence, Map<string, KeptCounts>>();

function keptCountsOf(persistence: Persistence): Map<string, KeptCounts> {
  let kept = keptCounts.get(persistence);
  if (!kept) keptCounts.set(persistence, (kept = new Map()));
  return kept;
}

function keep(kept: Map<string, KeptCounts>, batchId: string, entry: KeptCounts): void {
  kept.delete(batchId);
  if (kept.size >= batchCountsKeptMax) kept.delete(kept.keys().next().value!);
  kept.set(batchId, entry);
}

/**
 * The batch as GET /v1/batches/{id} shows it, in one statement (BatchRepo.view): its state and
 * approvals as they are now, and its payouts counted by state, exact, unless `reuseCounts` and the
 * batch is large (batchCountsExactPayoutsMax) and was counted less than batchCountsMaxAgeMs ago.
 * One read at a time counts a large batch: the reads that come while it counts show the counts
 * before it (so at most batchCountsMaxAgeMs plus one count's time old), or wait for it when there
 * are none yet (before, every read that came while the counts were stale counted too: at hundreds
 * of reads a second of one large batch, several counts at once). What changes a batch (approve,
 * cancel, submit) reads it exact.
 */
export async function getBatchView(persistence: Persistence, organisationId: string, batchId: string, options: { reuseCounts?: boolean; clockMs?: () => number } = {}): Promise<BatchView | null> {
  const kept = keptCountsOf(persistence);
  const clock = options.clockMs ?? (() => performance.now());
  const now = clock();
  let reuse: readonly ProviderPayoutCounts[] | null = null;
  let counting: { resolve: (counts: readonly ProviderPayoutCounts[] | null) => void } | null = null;
  if (options.reuseCounts) {
    const entry = kept.get(batchId);
    if (entry?.counts && now - entry.at < batchCountsMaxAgeMs) reuse = entry.counts;
    else if (entry?.counting) reuse = entry.counts ?? (await entry.counting);
    if (reuse === null) {
      // This read counts; the reads that come before it has are given its counts, or the last ones.
      let resolve: (counts: readonly ProviderPayoutCounts[] | null) => void = () => undefined;
      const promise = new Promise<readonly ProviderPayoutCounts[] | null>((r) => (resolve = r));
      counting = { resolve };
      keep(kept, batchId, { counts: entry?.counts ?? null, at: entry?.at ?? 0, counting: promise });
    }
  }
  let read: Awaited<ReturnType<Persistence['read']['batches']['view']>>;
  try {
    read = await persistence.read.batches.view(batchId, reuse === null);
  } catch (error) {
    if (counting) {
      const entry = kept.get(batchId);
      if (entry) keep(kept, batchId, { ...entry, counting: null });
      counting.resolve(null);
    }
    throw error;
  }
  if (counting) {
    const large = read !== null && read.batch.payoutCount > batchCountsExactPayoutsMax && read.counts !== null;
    if (large) keep(kept, batchId, { counts: read!.counts, at: now, counting: null });
    else kept.delete(batchId);
    counting.resolve(large ? read!.counts : null);
  }
  if (!read || read.batch.organisationId !== organisationId) return null;
  const { batch, approvals } = read;
  const counts = read.counts ?? reuse!;
  const { byState, byProvider } = tallied(counts, batch.state);
  const amounts = (t: ReadonlyMap<string, Tally>) => Object.fromEntries([...t].map(([state, v]) => [state, { count: v.count, amount: formatAmount(v.amountMinor, batch.currency) }]));
  return {
    batchId: batch.id,
    programmeId: batch.programmeId,
    state: batch.state,
    currency: batch.currency,
    payoutCount: batch.payoutCount,
    total: formatAmount(batch.totalMinor, batch.currency),
    receivedAt: batch.receivedAt.toISOString(),
    approvals: {
      required: batch.approvalsRequired,
      received: approvals.length,
      approvers: approvals.map((a) => ({ kid: a.kid, approvedAt: a.approvedAt.toISOString() })),
    },
    payouts: amounts(new Map([...byState].sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)))),
    byProvider: Object.fromEntries([...byProvider].map(([provider, states]) => [provider, amounts(states)])),
    rejectedRows: batch.rejectedRows.map(rowProblemOf),
  };
}

interface Tally {
  count: number;
  amountMinor: bigint;
}

/**
 * The counts by provider and state, added up by state (over providers) and by provider, each
 * state as the API names it (an accepted payout of an approved batch is `approved`). Minor units,
 * bigint: exact at any size.
 */
function tallied(counts: readonly ProviderPayoutCounts[], batchState: BatchRecord['state']): { byState: Map<string, Tally>; byProvider: Map<string, Map<string, Tally>> } {
  const byState = new Map<string, Tally>();
  const byProvider = new Map<string, Map<string, Tally>>();
  const add = (into: Map<string, Tally>, state: string, c: ProviderPayoutCounts) => {
    const t = into.get(state) ?? { count: 0, amountMinor: 0n };
    into.set(state, { count: t.count + c.count, amountMinor: t.amountMinor + c.amountMinor });
  };
  for (const c of counts) {
    const state = publicPayoutState(c.state, batchState);
    add(byState, state, c);
    let states = byProvider.get(c.provider);
    if (!states) byProvider.set(c.provider, (states = new Map()));
    add(states, state, c);
  }
  return { byState, byProvider };
}

export interface PayoutView {
  readonly payoutId: string;
  readonly batchId: string;
  /** The payout's row in the batch document, numbered from 1 as row errors are. */
  readonly row: number | null;
  readonly ref: string;
  readonly provider: string;
  readonly state: string;
  readonly amount: string;
  readonly currency: string;
  readonly attempts: number;
  readonly providerReference: string | null;
  readonly failureCode: string | null;
  /** A queued payout waiting for its next attempt after a failure that may pass: when it is due. */
  readonly nextAttemptAt: string | null;
  /** When operators were asked to look at it, or null. */
  readonly flaggedAt: string | null;
  readonly updatedAt: string;
  /** Only when its programme's beneficiary data was erased (application/erase-programme.ts). */
  readonly beneficiary?: 'erased';
}

const payoutView = (p: PayoutRecord, erased = false): PayoutView => ({
  payoutId: p.id,
  batchId: p.batchId,
  row: p.rowNo === undefined || p.rowNo === null ? null : p.rowNo + 1,
  ref: p.ref,
  provider: p.provider,
  state: publicPayoutState(p.state, p.batchState),
  amount: formatAmount(p.amountMinor, p.currency),
  currency: p.currency,
  attempts: p.attemptCount,
  providerReference: p.providerReference,
  failureCode: p.failureCode,
  nextAttemptAt: p.dispatchAt?.toISOString() ?? null,
  flaggedAt: p.flaggedAt?.toISOString() ?? null,
  updatedAt: p.updatedAt.toISOString(),
  ...(erased ? erasedBeneficiary : {}),
});

/** What a provider reported that differs from the payout (issue #19 item 4). */
export interface PayoutExceptionView {
  readonly kind: string;
  readonly detail: string;
  readonly at: string;
}

/** One statement (PayoutRepo.findView): the payout, its exceptions and its programme's erasure, in one round trip. */
export async function getPayout(persistence: Persistence, organisationId: string, payoutId: string): Promise<(PayoutView & { readonly exceptions?: readonly PayoutExceptionView[] }) | null> {
  const read = await persistence.read.payouts.findView(payoutId, payoutExceptionsShownMax);
  if (!read || read.payout.organisationId !== organisationId) return null;
  const { payout: p, exceptions, erased } = read;
  if (exceptions.length === 0) return payoutView(p, erased);
  return { ...payoutView(p, erased), exceptions: exceptions.map((e) => ({ kind: e.kind, detail: e.detail, at: (e.createdAt ?? p.updatedAt).toISOString() })) };
}

/** Exceptions shown with one payout at most (a payout held once has one or two). */
export const payoutExceptionsShownMax = 1_000;

export function parsePayoutState(raw: unknown): PayoutState | null | undefined {
  if (raw === undefined) return null;
  return typeof raw === 'string' && (payoutStates as readonly string[]).includes(raw) ? (raw as PayoutState) : undefined;
}

export async function listBatchPayouts(
  persistence: Persistence,
  organisationId: string,
  batchId: string,
  q: { state: PayoutState | null; cursor: string | null; limit: number },
): Promise<Result<{ items: PayoutView[]; nextCursor: string | null }, Rejection>> {
  const batch = await persistence.read.batches.find(batchId);
  if (!batch || batch.organisationId !== organisationId) return err(reject('NOT_FOUND'));
  let afterRow: number | null = null;
  if (q.cursor !== null) {
    const decoded = cursors.decode('r', q.cursor);
    if (decoded === null || !/^(0|[1-9][0-9]{0,8})$/.test(decoded)) return err(reject('QUERY_INVALID', 'cursor'));
    afterRow = Number(decoded);
  }
  // The filter names the state the API shows; an 'approved' payout is stored accepted in an approved batch.
  const stored = q.state === null ? null : storedPayoutStateFor(q.state, batch.state);
  if (q.state !== null && stored === null) return ok({ items: [], nextCursor: null });
  const rows = await persistence.read.batches.payoutsPage(batchId, stored, afterRow, q.limit);
  const last = rows[rows.length - 1];
  const erased = (await erasedProgrammes(persistence, [batch.programmeId])).has(batch.programmeId);
  return ok({ items: rows.map((p) => payoutView(p, erased)), nextCursor: rows.length === q.limit && last?.rowNo !== undefined ? cursors.encode('r', String(last.rowNo)) : null });
}

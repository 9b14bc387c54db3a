// The soak's operator (issue #17 item 4). With provider faults on, some payouts end where the
// gateway puts them for a person: an ambiguous answer (HTTP 500 before execution) whose status
// checks ran out without a final answer is flagged for operators (`unknown`, status_flagged_at
// set: `GET /v1/operations/dead-lettered`); a provider report that differs from the payout is
// held for finance (`held`). The gateway is right to stop there: M-Pesa does not deduplicate,
// and a blind resend could pay twice. This does what the operators do, through the API as the
// console and `tuma payouts requeue` do, having first asked the provider (the simulator's count
// of executions over every attempt key of the payout):
//   - flagged (queued, submitted or unknown), executed by no key, or by one: requeued
//     (`POST /v1/payouts/{id}/requeue`, admin). The gateway's requeue starts the status checks
//     over: the provider's answer settles one it executed; one it never executed is sent again
//     under the same key (never a new key: requeue-payout.ts). A flagged queued payout (its
//     attempts used up on confirmed failures that may pass) gets one more attempt.
//   - held: decided by finance (`POST /v1/payouts/{id}/decision`): paid when the provider
//     executed it once, failed (the money back to the programme) when it never did.
//   - executed more than once, or requeued `requeuesPerPayoutMax` times already: left alone (the
//     double-execution check reports the first; the drain then fails and names the states).
// A payout that is neither flagged nor held is never touched: each is read again just before the
// operator acts, and the API refuses one that moved on meanwhile (counted, not retried).
// Nothing here logs or reads a phone number: the API's payout views and lists carry none.

/** Payouts one pass reads from the dead-lettered list at most (pages of `deadLetteredPage`). */
export const operatorPassPayoutsMax = 10_000;
const deadLetteredPage = 500;
/** Requeues of one payout at most over a soak: a payout flagged again and again is left for the report. */
export const requeuesPerPayoutMax = 10;
const httpTimeoutMs = 30_000;

const flaggedStates = ['queued', 'submitted', 'unknown'];

export type OperatorAction =
  | { readonly kind: 'requeue'; readonly executed: boolean }
  | { readonly kind: 'decide'; readonly outcome: 'paid' | 'failed' }
  | { readonly kind: 'leave'; readonly why: 'not_flagged' | 'executed_more_than_once' | 'requeued_too_often' };

/**
 * What an operator does with a payout as the API shows it now (`state`, `flaggedAt`), knowing how
 * many times the provider executed its attempt keys and how often it was requeued already.
 */
export function operatorAction(payout: { readonly state: string; readonly flaggedAt: string | null }, executions: number, requeuedBefore: number): OperatorAction {
  const held = payout.state === 'held';
  const flagged = payout.flaggedAt !== null && flaggedStates.includes(payout.state);
  if (!held && !flagged) return { kind: 'leave', why: 'not_flagged' };
  if (executions > 1) return { kind: 'leave', why: 'executed_more_than_once' };
  if (held) return { kind: 'decide', outcome: executions === 1 ? 'paid' : 'failed' };
  if (requeuedBefore >= requeuesPerPayoutMax) return { kind: 'leave', why: 'requeued_too_often' };
  return { kind: 'requeue', executed: executions === 1 };
}

/** What the operator saw and did over a soak. */
export interface OperatorTally {
  /** Distinct payouts seen flagged for operators (dead-lettered). */
  readonly flagged: Set<string>;
  /** Distinct payouts seen held for finance. */
  readonly held: Set<string>;
  /** Requeues per payout. */
  readonly requeues: Map<string, number>;
  requeuedNotExecuted: number;
  requeuedExecuted: number;
  decidedPaid: number;
  decidedFailed: number;
  /** The API refused the action: the payout had moved on between its read and the action. */
  refused: number;
  left: Record<'executed_more_than_once' | 'requeued_too_often', number>;
  passes: number;
  /** Passes that failed (an HTTP error, an IPC timeout); the next pass starts again. */
  passErrors: number;
}

export const newOperatorTally = (): OperatorTally => ({
  flagged: new Set(), held: new Set(), requeues: new Map(), requeuedNotExecuted: 0, requeuedExecuted: 0, decidedPaid: 0, decidedFailed: 0, refused: 0,
  left: { executed_more_than_once: 0, requeued_too_often: 0 }, passes: 0, passErrors: 0,
});

export interface OperatorDeps {
  readonly apiUrl: string;
  readonly token: (role: string, subject: string) => Promise<string>;
  /** The soak's batches: payouts of any other are not the soak's operator's. */
  readonly batchIds: ReadonlySet<string>;
  /** Ids of the soak's payouts held for finance (the database, as `tuma payouts held` reads it; at most `limit`). */
  readonly heldPayoutIds: (limit: number) => Promise<string[]>;
  /** Every attempt key of each payout (and the next, never sent). */
  readonly attemptKeys: (payoutIds: readonly string[]) => Promise<Map<string, string[]>>;
  /** The provider's executions per key, in the keys' order. */
  readonly executions: (keys: readonly string[]) => Promise<number[]>;
}

interface PayoutRead {
  readonly payoutId: string;
  readonly state: string;
  readonly flaggedAt: string | null;
}

async function call(url: string, token: string, method: 'GET' | 'POST', body?: object): Promise<{ status: number; json: unknown }> {
  const res = await fetch(url, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
    signal: AbortSignal.timeout(httpTimeoutMs),
  });
  const text = await res.text();
  let json: unknown = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  return { status: res.status, json };
}

/** The soak's payouts flagged for operators, from `GET /v1/operations/dead-lettered`, oldest first. */
async function deadLettered(deps: OperatorDeps, token: string): Promise<string[]> {
  const ids: string[] = [];
  let after: string | null = null;
  for (let page = 0; page * deadLetteredPage < operatorPassPayoutsMax; page++) {
    const url = new URL('/v1/operations/dead-lettered', deps.apiUrl);
    url.searchParams.set('limit', String(deadLetteredPage));
    if (after) url.searchParams.set('after', after);
    const { status, json } = await call(url.toString(), token, 'GET');
    if (status !== 200) throw new Error(`GET /v1/operations/dead-lettered answered ${status}`);
    const body = json as { payouts: { payoutId: string; batchId: string }[]; next: string | null };
    for (const p of body.payouts) if (deps.batchIds.has(p.batchId)) ids.push(p.payoutId);
    if (!body.next) break;
    after = body.next;
  }
  return ids;
}

/** One look at what waits for a person, and a decision on each: see the file's head. */
export async function operatorPass(deps: OperatorDeps, tally: OperatorTally): Promise<void> {
  tally.passes++;
  const admin = await deps.token('admin', 'soak-operator');
  const flagged = await deadLettered(deps, admin);
  const held = await deps.heldPayoutIds(operatorPassPayoutsMax);
  const ids = [...new Set([...flagged, ...held])];
  if (ids.length === 0) return;
  for (const id of flagged) tally.flagged.add(id);
  for (const id of held) tally.held.add(id);
  // The provider first: how many times did it run any attempt of each?
  const keys = await deps.attemptKeys(ids);
  const all = ids.flatMap((id) => keys.get(id) ?? []);
  const counts = await deps.executions(all);
  const executed = new Map<string, number>();
  let k = 0;
  for (const id of ids) {
    let n = 0;
    for (let j = 0; j < (keys.get(id)?.length ?? 0); j++) n += counts[k++] ?? 0;
    executed.set(id, n);
  }
  const finance = held.length > 0 ? await deps.token('finance', 'soak-finance') : null;
  for (const id of ids) {
    // Read again just before acting: only a payout flagged or held now is acted on.
    const read = await call(new URL(`/v1/payouts/${id}`, deps.apiUrl).toString(), admin, 'GET');
    if (read.status !== 200) throw new Error(`GET /v1/payouts/{id} answered ${read.status}`);
    const payout = read.json as PayoutRead;
    const action = operatorAction(payout, executed.get(id) ?? 0, tally.requeues.get(id) ?? 0);
    if (action.kind === 'leave') {
      if (action.why !== 'not_flagged') tally.left[action.why]++;
      continue;
    }
    if (action.kind === 'requeue') {
      const done = await call(new URL(`/v1/payouts/${id}/requeue`, deps.apiUrl).toString(), admin, 'POST');
      if (done.status === 409) tally.refused++;
      else if (done.status !== 200) throw new Error(`POST /v1/payouts/{id}/requeue answered ${done.status}`);
      else {
        tally.requeues.set(id, (tally.requeues.get(id) ?? 0) + 1);
        if (action.executed) tally.requeuedExecuted++;
        else tally.requeuedNotExecuted++;
      }
      continue;
    }
    const note = action.outcome === 'paid'
      ? 'soak operator: the provider executed this payout once (its executions per attempt key)'
      : 'soak operator: the provider never executed any attempt of this payout (its executions per attempt key)';
    const done = await call(new URL(`/v1/payouts/${id}/decision`, deps.apiUrl).toString(), finance!, 'POST', { outcome: action.outcome, note });
    if (done.status === 409) tally.refused++;
    else if (done.status !== 200) throw new Error(`POST /v1/payouts/{id}/decision answered ${done.status}`);
    else if (action.outcome === 'paid') tally.decidedPaid++;
    else tally.decidedFailed++;
  }
}

/** The tally as the soak's figures (the results markdown renders each as a row). */
export function operatorFigures(tally: OperatorTally): Record<string, number> {
  let requeuedTwiceOrMore = 0;
  for (const n of tally.requeues.values()) if (n > 1) requeuedTwiceOrMore++;
  return {
    flagged_for_operator: tally.flagged.size,
    operator_requeued_not_executed: tally.requeuedNotExecuted,
    operator_requeued_executed: tally.requeuedExecuted,
    operator_payouts_requeued_more_than_once: requeuedTwiceOrMore,
    held_for_finance: tally.held.size,
    finance_decided_paid: tally.decidedPaid,
    finance_decided_failed: tally.decidedFailed,
    operator_refused_moved_on: tally.refused,
    operator_left_executed_more_than_once: tally.left.executed_more_than_once,
    operator_left_requeued_too_often: tally.left.requeued_too_often,
    operator_passes: tally.passes,
    operator_pass_errors: tally.passErrors,
  };
}

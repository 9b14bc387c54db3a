// What a provider answered to one attempt, recorded under the payout's lock: the worker's first
// send and the poller's resend under the same key end here alike. paid, failed and reversed go to
// the results outbox; pending moves the payout to submitted; unknown (or "no such transaction")
// to unknown, with its first status check scheduled.
import { deriveId } from '../domain/ids.js';
import type { ProviderOutcome } from '../domain/provider-outcome.js';
import { ok } from '../domain/result.js';
import { reasonCodeMax } from './messages.js';
import type { AttemptOutcomeUpdate, BeneficiaryVault, NewResult, PayoutRecord, Persistence } from './ports.js';
import { paidResultOf } from './record-callback.js';

/** The result of a provider's synchronous answer to an attempt. */
const syncResultOf = (payout: PayoutRecord, attemptNo: number, outcome: 'paid' | 'failed' | 'reversed', reasonCode: string | null, providerReference: string | null): NewResult => ({
  id: deriveId('result', payout.id, String(attemptNo), 'sync'),
  payoutId: payout.id,
  batchId: payout.batchId,
  outcome,
  reasonCode,
  providerReference,
  source: 'sync',
  attemptNo,
});


/** A failed payout's reason code: "<Tuma failure reason>:<provider code>", e.g. "insufficient_float:mpesa:1". */
const reasonCodeOf = (outcome: Extract<ProviderOutcome, { kind: 'failed' }>) => `${outcome.reason}:${outcome.providerCode}`.slice(0, reasonCodeMax);

/** What a provider answered to one attempt of one payout. */
export interface AttemptAnswer {
  readonly payout: PayoutRecord;
  readonly attemptNo: number;
  readonly outcome: ProviderOutcome;
}

export interface AttemptOutcomeDeps {
  readonly persistence: Persistence;
  /** Compares the receiver a paid answer reports with the payout's (blind index). */
  readonly vault: BeneficiaryVault;
  readonly statusCheckFirstAfterMs: number;
  /**
   * The poller's resend under the same key: the checks counted so far and the next check the
   * poller scheduled stand, whatever the answer (else a payout resent again and again would
   * never be flagged).
   */
  readonly resend?: boolean;
}

/**
 * Records what the provider answered to an attempt (the worker's first send, or the poller's
 * resend under the same key), in one transaction under the payout's lock.
 */
export async function recordAttemptOutcome(deps: AttemptOutcomeDeps, payout: PayoutRecord, attemptNo: number, outcome: ProviderOutcome): Promise<void> {
  await recordAttemptOutcomes(deps, [{ payout, attemptNo, outcome }]);
}

/**
 * recordAttemptOutcome for the answers of many attempts (each of another payout), in one
 * transaction under their payouts' locks: the worker records the answers that came back together.
 */
export async function recordAttemptOutcomes(deps: AttemptOutcomeDeps, answers: readonly AttemptAnswer[]): Promise<void> {
  if (answers.length === 0) return;
  // Submitted or unknown, the payout waits for a callback until the provider's deadline; then the poller asks.
  const statusCheckAt = deps.resend ? undefined : new Date(Date.now() + deps.statusCheckFirstAfterMs);
  const keepStatusChecks = deps.resend ?? false;
  // A paid answer's figures (GSMA's synchronous Transaction, say) are checked before it settles.
  const paidFields = new Map<string, Awaited<ReturnType<typeof paidResultOf>>>();
  for (const { payout, outcome } of answers) {
    if (outcome.kind === 'paid' && outcome.facts) paidFields.set(payout.id, await paidResultOf(deps, payout, outcome.facts));
  }
  await deps.persistence.transaction(async (tx) => {
    const locked = new Map((await tx.payouts.lockMany(answers.map((a) => a.payout.id))).map((p) => [p.id, p]));
    // Gathered, then written a statement per kind for the whole chunk.
    const attempts: AttemptOutcomeUpdate[] = [];
    const results: NewResult[] = [];
    const accepted: { payoutId: string; providerReference: string | null }[] = [];
    for (const { payout, attemptNo, outcome } of answers) {
      const current = locked.get(payout.id);
      if (!current) throw new Error(`invariant violated: payout ${payout.id} vanished`);
      const attempt = (result: AttemptOutcomeUpdate['outcome'], conversationId: string | null, detail: string | null) =>
        attempts.push({ payoutId: payout.id, attemptNo, outcome: result, conversationId, detail });
      const syncResult = (result: 'paid' | 'failed' | 'reversed', reasonCode: string | null, providerReference: string | null) =>
        results.push(syncResultOf(payout, attemptNo, result, reasonCode, providerReference));
      switch (outcome.kind) {
        case 'pending':
          attempt('accepted', outcome.providerReference, null);
          // The callback may have settled it already: then there is nothing to move.
          if (current.state === 'submitting') {
            accepted.push({ payoutId: payout.id, providerReference: outcome.providerReference });
            locked.set(payout.id, { ...current, state: 'submitted' });
          }
          break;
        case 'paid':
          // A provider that answers with the final result at once (Airtel): settled through the results path.
          attempt('accepted', outcome.providerReference, null);
          {
            const checked = paidFields.get(payout.id);
            if (checked) results.push({ ...syncResultOf(payout, attemptNo, 'paid', null, outcome.providerReference), ...checked });
            else syncResult('paid', null, outcome.providerReference);
          }
          break;
        case 'failed':
          attempt('rejected', null, reasonCodeOf(outcome));
          syncResult('failed', reasonCodeOf(outcome), null);
          break;
        case 'reversed':
          // Paid and taken back before we even heard of it: the settler releases the money.
          attempt('accepted', outcome.providerReference, null);
          syncResult('reversed', `reversed:${outcome.providerCode}`.slice(0, reasonCodeMax), outcome.providerReference);
          break;
        // "No such transaction" in answer to a send is no proof of anything: ask again later.
        case 'absent':
        case 'unknown':
          attempt('ambiguous', null, outcome.detail.slice(0, 500));
          if (current.state === 'submitting') {
            // Each with its own cause: one statement each (the rarer answer).
            await tx.payouts.move([payout.id], 'submitting', 'unknown', `ambiguous: ${outcome.detail.slice(0, 200)}`, { statusCheckAt, keepStatusChecks });
            locked.set(payout.id, { ...current, state: 'unknown' });
          }
          break;
      }
    }
    await tx.payouts.setAttemptOutcomes(attempts);
    await tx.results.insertMany(results);
    await tx.payouts.moveAccepted(accepted, { statusCheckAt, keepStatusChecks });
    return ok(undefined);
  });
}

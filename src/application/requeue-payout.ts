// `tuma payouts requeue`: an operator sends a stuck payout on its way again (issue #6 item 3).
// - Flagged by the status poller (its checks ran out without a final answer): its checks start
//   over, now; the poller asks the provider again, and sends it again under the same key if the
//   provider has no record of it. Never a new key: that could pay twice.
// - Queued, but its dispatch message is lost (a broker's data gone): the message is published
//   again; the worker skips a payout that is no longer queued, so a duplicate pays nobody twice.
// - Queued and held after its last attempt failed in a way that may pass (float ran out, provider
//   failure): released, and published; the worker makes one more attempt under a new key.
// Anything else is refused with the reason: a settled payout is never sent again, and one in
// flight is the worker's or the poller's.
import { err, ok, type Result } from '../domain/result.js';
import { encode, type Topics } from './messages.js';
import type { Persistence, Repos, Transport } from './ports.js';
import { appendAudit } from './audit.js';

export type RequeueOutcome = 'status_checks_restarted' | 'dispatch_republished';

/** Why a payout was not requeued (an operator's command, not an API answer). */
export interface RequeueRefusal {
  readonly code: 'PAYOUT_NOT_FOUND' | 'PAYOUT_NOT_REQUEUEABLE';
  readonly detail: string;
}
const refuse = (code: RequeueRefusal['code'], detail: string) => err<RequeueRefusal>({ code, detail });

export async function requeuePayout(
  deps: { persistence: Persistence; transport: Transport | null; topics: Topics; now: () => Date; /** Who asked, for the audit log: `operator:<name>`, or an admin's token subject. */ actor?: string; /** The API request that asked (null: a command). */ requestId?: string | null },
  payoutId: string,
): Promise<Result<RequeueOutcome, RequeueRefusal>> {
  const actor = (deps.actor ?? 'operator:unknown').slice(0, 128);
  const audit = (tx: Repos, organisationId: string, outcome: RequeueOutcome) =>
    appendAudit(tx, { organisationId, actor, requestId: deps.requestId ?? null, action: 'payout.requeue', objectId: payoutId, detail: { outcome } });
  const payout = await deps.persistence.read.payouts.find(payoutId);
  if (!payout) return refuse('PAYOUT_NOT_FOUND', 'no such payout');
  if (payout.state === 'submitted' || payout.state === 'unknown') {
    const done = await deps.persistence.transaction(async (tx) => {
      const restarted = await tx.payouts.restartStatusChecks(payoutId, deps.now());
      if (restarted) await audit(tx, payout.organisationId, 'status_checks_restarted');
      return ok(restarted);
    });
    if (!done.ok) throw new Error(`invariant violated: requeue rejected: ${done.error.code}`);
    if (!done.value) return refuse('PAYOUT_NOT_REQUEUEABLE', 'the payout is no longer waiting for its outcome');
    return ok('status_checks_restarted');
  }
  if (payout.state === 'queued') {
    if (!deps.transport) return refuse('PAYOUT_NOT_REQUEUEABLE', 'a queued payout is republished to Kafka: set KAFKA_BROKERS');
    // Held after its last attempt, or waiting for its next one: released now (the worker skips a
    // flagged payout, and one whose next attempt is not due yet).
    await deps.persistence.transaction(async (tx) => {
      await tx.payouts.clearDispatchAt([payout.id]);
      await audit(tx, payout.organisationId, 'dispatch_republished');
      return ok(undefined);
    });
    await deps.transport.publish(deps.topics.dispatch(payout.provider), [
      { key: payout.id, value: encode({ type: 'tuma.payout.dispatch', version: 1, payoutId: payout.id, batchId: payout.batchId, provider: payout.provider }) },
    ]);
    return ok('dispatch_republished');
  }
  return refuse('PAYOUT_NOT_REQUEUEABLE', whyNot(payout.state));
}

/** Exactly why a payout in this state is not requeued, and what moves it instead (issue #19 item 5). */
function whyNot(state: string): string {
  switch (state) {
    case 'held':
      return 'held for finance: a provider reported an amount, currency, receiving number or receipt that differs from the payout (`tuma payouts held` lists what); it is never sent again, finance decides it';
    case 'submitting':
      return 'a worker is sending it now; if that worker stopped, the status poller takes it up after STATUS_SUBMITTING_STALE_AFTER_MS and asks the provider';
    case 'accepted':
      return 'not dispatched yet: its batch is waiting for approval (or the relay publishes it shortly once approved)';
    case 'paid':
    case 'failed':
    case 'cancelled':
    case 'reversed':
      return `settled (${state}): a settled payout is never sent again`;
    default:
      return `a ${state} payout is not requeued`;
  }
}

// POST /v1/payouts/{id}/decision: finance decides a payout held because a provider reported
// something that differs from it (issue #19 item 4: amount, currency, receiving number, or a
// receipt that settled another payout). Having looked at the provider's statement, finance says
// it was paid (the committed money leaves the float, as a paid payout's does) or not paid (the
// money goes back to the programme), with a note; one SQL transaction, the decision and who made it
// recorded in the payout's history and in the audit log (in the same transaction: no decision
// without its audit event). A decision never sends anything to a provider.
import { auditFreeText } from '../domain/audit.js';
import { reject, type Rejection } from '../domain/errors.js';
import { postings } from '../domain/ledger-rules.js';
import { movePayout } from '../domain/payout-state.js';
import { assert, err, ok, type Result } from '../domain/result.js';
import { appendAudit } from './audit.js';
import type { Actor, Persistence } from './ports.js';
import { getPayout, type PayoutView } from './queries.js';
import { completeBatchIfDone } from './settle-result.js';

/** A decision's note is a short sentence finance can read later. */
export const decisionNoteMaxChars = 500;

export interface HeldPayoutDecision {
  readonly outcome: 'paid' | 'failed';
  readonly note: string;
}

export function parseDecisionBody(body: unknown): Result<HeldPayoutDecision, Rejection> {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return err(reject('DECISION_INVALID', 'expected a JSON object {outcome, note}'));
  const { outcome, note, ...rest } = body as Record<string, unknown>;
  if (Object.keys(rest).length > 0) return err(reject('DECISION_INVALID', 'the only members are outcome and note'));
  if (outcome !== 'paid' && outcome !== 'failed') return err(reject('DECISION_INVALID', 'outcome is "paid" or "failed"'));
  if (typeof note !== 'string' || note.trim().length === 0 || note.length > decisionNoteMaxChars || /\p{Cc}/u.test(note)) {
    return err(reject('DECISION_INVALID', `note is 1-${decisionNoteMaxChars} printable characters saying why`));
  }
  return ok({ outcome, note: note.trim() });
}

/** `requestId`: the API request the decision came in on, for the audit event. */
export async function decideHeldPayout(persistence: Persistence, actor: Actor, payoutId: string, decision: HeldPayoutDecision, requestId: string | null = null): Promise<Result<PayoutView, Rejection>> {
  const done = await persistence.transaction(async (tx) => {
    const payout = await tx.payouts.lock(payoutId);
    if (!payout || payout.organisationId !== actor.organisationId) return err(reject('NOT_FOUND'));
    if (payout.state !== 'held') return err(reject('PAYOUT_NOT_HELD', `the payout is ${payout.state}`));
    assert(movePayout('held', decision.outcome).ok, `held → ${decision.outcome} is a move of the payout state machine`);
    const owner = { organisationId: payout.organisationId, batchId: payout.batchId, payoutId: payout.id, currency: payout.currency, amountMinor: payout.amountMinor };
    const journal = decision.outcome === 'paid' ? postings.payoutPaid({ ...owner, provider: payout.provider }) : postings.payoutReleased({ ...owner, programmeId: payout.programmeId });
    const posted = await tx.ledger.postJournal(journal);
    // The batch account holds exactly what its unsettled payouts need, a held one included.
    assert(posted.ok && posted.value === 'posted', `the decision's journal ${journal.id} was refused by the ledger`);
    await tx.payouts.settleMany([{
      payoutId: payout.id,
      from: 'held',
      to: decision.outcome,
      cause: `finance decision by ${actor.subject.slice(0, 128)}: ${decision.outcome} (${decision.note})`,
      providerReference: payout.providerReference,
      failureCode: decision.outcome === 'failed' ? 'finance_decision' : null,
    }]);
    await completeBatchIfDone(tx, payout);
    // The note is free text: a phone number typed into it must not outlive the programme's data key here.
    await appendAudit(tx, {
      organisationId: payout.organisationId,
      actor: actor.subject.slice(0, 128),
      requestId,
      action: 'payout.decision',
      objectId: payout.id,
      detail: { outcome: decision.outcome, note: auditFreeText(decision.note) },
    });
    return ok(undefined);
  });
  if (!done.ok) return done;
  const view = await getPayout(persistence, actor.organisationId, payoutId);
  if (!view) throw new Error(`invariant violated: decided payout ${payoutId} vanished`);
  return ok(view);
}

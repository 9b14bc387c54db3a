// The settler: applies a provider result to the payout and the ledger in one SQL transaction.
// paid → batch committed to provider float; failed → batch committed back to programme available.
// Idempotent per payout (the settling transfer's id is derived from the payout id), and a
// settled payout never regresses.
import type { Logger } from 'pino';
import { accounts, postings } from '../domain/ledger-rules.js';
import { movePayout, settledPayoutStates } from '../domain/payout-state.js';
import { assert, ok } from '../domain/result.js';
import { deadLetter } from './dead-letter.js';
import { decode, resultMessageSchema, type ResultMessage, type Topics } from './messages.js';
import type { Delivery, PayoutRecord, Persistence, Repos, Transport } from './ports.js';

export interface SettleDeps {
  readonly persistence: Persistence;
  readonly transport: Transport;
  readonly topics: Topics;
  readonly logger: Logger;
}

export type SettleOutcome = 'settled' | 'replayed' | 'marked_unknown' | 'ignored' | 'conflict' | 'missing';

export async function settleResult(deps: SettleDeps, delivery: Delivery): Promise<SettleOutcome> {
  const message = decode(resultMessageSchema, delivery.value);
  if (!message) {
    await deadLetter(deps, delivery, 'malformed result message');
    return 'ignored';
  }
  const done = await deps.persistence.transaction(async (tx) => {
    const payout = await tx.payouts.lock(message.payoutId);
    if (!payout) return ok<SettleOutcome>('missing');
    return ok(await apply(tx, payout, message));
  });
  if (!done.ok) throw new Error(`invariant violated: settlement rejected for ${message.payoutId}: ${done.error.code}`);
  if (done.value === 'missing') await deadLetter(deps, delivery, 'result for an unknown payout');
  if (done.value === 'conflict') {
    // A provider reported a different final outcome than the one we settled: operators must look.
    deps.logger.error({ payoutId: message.payoutId, resultId: message.resultId, outcome: message.outcome }, 'result contradicts a settled payout');
    await deadLetter(deps, delivery, 'result contradicts a settled payout');
  }
  return done.value;
}

async function apply(tx: Repos, payout: PayoutRecord, message: ResultMessage): Promise<SettleOutcome> {
  const settled = settledPayoutStates.includes(payout.state);
  if (message.outcome === 'ambiguous') {
    if (settled || payout.state === 'unknown' || !movePayout(payout.state, 'unknown').ok) return 'ignored';
    await tx.payouts.move([payout.id], payout.state, 'unknown', `result ${message.resultId}: ambiguous (${message.reasonCode ?? 'no code'})`);
    return 'marked_unknown';
  }
  const target = message.outcome; // 'paid' | 'failed'
  if (payout.state === target) return 'replayed';
  if (settled) return 'conflict';
  if (!movePayout(payout.state, target).ok) return 'ignored';

  const owner = { organisationId: payout.organisationId, batchId: payout.batchId, payoutId: payout.id, currency: payout.currency, amountMinor: payout.amountMinor };
  const journal =
    target === 'paid'
      ? postings.payoutPaid({ ...owner, provider: payout.provider })
      : postings.payoutReleased({ ...owner, programmeId: payout.programmeId });
  const posted = await tx.ledger.postJournal(journal);
  // The batch account holds exactly what its unsettled payouts need: refusing here is a broken invariant.
  assert(posted.ok, `settling payout ${payout.id} was refused by the ledger`);
  await tx.payouts.move([payout.id], payout.state, target, `result ${message.resultId} (${message.source})`, {
    providerReference: message.providerReference ?? payout.providerReference,
    failureCode: target === 'failed' ? (message.reasonCode ?? 'unspecified') : null,
  });
  await completeBatchIfDone(tx, payout);
  return 'settled';
}

async function completeBatchIfDone(tx: Repos, payout: PayoutRecord): Promise<void> {
  if ((await tx.payouts.unsettledCount(payout.batchId)) > 0) return;
  const committed = await tx.ledger.findAccount(payout.currency, accounts.batchCommitted(payout.organisationId, payout.batchId).key);
  assert(committed !== null && committed.creditsPosted === committed.debitsPosted, `batch ${payout.batchId} settled but its committed account is not zero`);
  const batch = await tx.batches.find(payout.batchId);
  if (batch && (batch.state === 'approved' || batch.state === 'dispatching')) await tx.batches.setState(batch.id, 'completed');
}

// Finance resolves a reconciliation's exceptions on the record (issue #14 item 6): each decision
// is one of a closed list of actions, allowed for some classes only, and — when it moves money —
// is a balanced journal whose transfer ids derive from the exception (statement and item), so an
// exception can never be posted twice. Rows are never edited to agree: the ledger is corrected by
// transfers, the payout by its state machine, and the provider by a status query.
//
// Which way the money goes, for a difference d (minor units, > 0):
// - the provider holds less than the ledger thinks (it paid more, charged more, paid twice, paid
//   something Tuma did not send): the float is credited by d and the difference is debited to
//   the programme (accept the provider's figure: the beneficiary got it), a claim on the provider
//   (claim it back), or the organisation's reconciliation differences (write it off);
// - the provider holds more (it paid less, charged less, took money in that nobody sent): the
//   float is debited by d and the programme (accept) or the differences (write off) credited.
import type { CurrencyCode } from './currency.js';
import { deriveId } from './ids.js';
import { accounts, postings, type AccountSpec, type Journal } from './ledger-rules.js';
import type { ReconciliationClass } from './reconciliation.js';
import { err, ok, type Result } from './result.js';

/**
 * `repay`: the provider reversed a payout the ledger counted as paid; the reversal is applied (as
 * apply_reversal) and a re-pay request opened, which the programme's next signed batch fulfils by
 * a row naming it: finance never creates a payout itself.
 */
export const decisionActions = ['accept_provider', 'claim', 'write_off', 'apply_reversal', 'requery', 'acknowledge', 'repay'] as const;
export type DecisionAction = (typeof decisionActions)[number];

/** A decision's comment: a sentence finance can read later. */
export const decisionCommentCharsMax = 500;

/** What each class of exception may be resolved by. Balance checks of the file are acknowledged. */
export const actionsByClass: Readonly<Partial<Record<ReconciliationClass | 'balance_check', readonly DecisionAction[]>>> = {
  amount_over: ['accept_provider', 'claim', 'write_off', 'requery'],
  amount_under: ['accept_provider', 'write_off', 'requery'],
  fee_mismatch: ['accept_provider', 'claim', 'write_off'],
  duplicate_at_provider: ['claim', 'write_off'],
  unknown_reference: ['claim', 'write_off', 'acknowledge'],
  // The provider's own answer moves the payout (and the ledger) through the usual path.
  paid_not_in_ledger: ['requery'],
  status_mismatch: ['requery'],
  missing_at_provider: ['requery'],
  timing: ['requery', 'acknowledge'],
  late_reversal: ['apply_reversal', 'repay', 'requery'],
  balance_check: ['acknowledge'],
};

/** The exception as a decision needs it: its class and the figures the statement and the ledger give. */
export interface DecidedException {
  readonly statementId: string;
  readonly itemId: string;
  readonly class: ReconciliationClass | 'balance_check';
  /** The line's kind (payout, charge, reversal, other); null for a payout no line names, or a check. */
  readonly kind: string | null;
  readonly statementMinor: bigint | null;
  readonly feeMinor: bigint | null;
  readonly ledgerMinor: bigint | null;
  readonly ledgerFeeMinor: bigint | null;
}

/**
 * The provider's float against the ledger's for this exception: positive when the provider holds
 * less than the ledger thinks, negative when it holds more, 0 when nothing is to be posted.
 */
export function floatShortfallOf(e: DecidedException): bigint {
  const s = e.statementMinor ?? 0n;
  switch (e.class) {
    case 'amount_over':
    case 'amount_under':
      return s - (e.ledgerMinor ?? 0n);
    case 'fee_mismatch':
      // A charge line's amount is the fee; a payout line carries its fee in its own column.
      return (e.kind === 'charge' ? s + (e.feeMinor ?? 0n) : e.feeMinor ?? 0n) - (e.ledgerFeeMinor ?? 0n);
    case 'duplicate_at_provider':
    case 'unknown_reference':
      return s + (e.feeMinor ?? 0n);
    default:
      return 0n;
  }
}

/** The owner of the money an exception moves: its payout's, or the statement importer's organisation. */
export interface DecisionOwner {
  readonly organisationId: string;
  readonly provider: string;
  readonly currency: CurrencyCode;
  /** The payout's programme, when the exception names a payout (accept_provider needs it). */
  readonly programmeId: string | null;
}

/**
 * The journal a decision posts, or null when it posts none (requery, acknowledge; apply_reversal
 * and repay post the payout's own reversal journal, built by the caller with the payout). Errors are the
 * decisions that cannot be made for this exception, in words.
 */
export function decisionJournal(e: DecidedException, action: DecisionAction, owner: DecisionOwner): Result<Journal | null, string> {
  const allowed = actionsByClass[e.class] ?? [];
  if (!allowed.includes(action)) return err(`${action} is not a decision for ${e.class} (allowed: ${allowed.join(', ') || 'none'})`);
  if (action === 'requery' || action === 'acknowledge' || action === 'apply_reversal' || action === 'repay') return ok(null);
  const shortfall = floatShortfallOf(e);
  if (shortfall === 0n) return err('nothing to post: the provider and the ledger agree on the amount');
  const float = accounts.providerFloat(owner.organisationId, owner.provider);
  let other: AccountSpec;
  if (action === 'claim') {
    if (shortfall < 0n) return err('nothing to claim: the provider holds more than the ledger');
    other = accounts.providerClaims(owner.organisationId, owner.provider);
  } else if (action === 'write_off') {
    other = accounts.reconciliationDifferences(owner.organisationId);
  } else if (e.class === 'fee_mismatch') {
    other = accounts.providerFees(owner.organisationId, owner.provider);
  } else {
    if (owner.programmeId === null) return err('accept_provider needs a payout of a programme');
    other = accounts.programmeAvailable(owner.organisationId, owner.programmeId);
  }
  const amountMinor = shortfall > 0n ? shortfall : -shortfall;
  return ok(postings.reconciliationAdjustment({
    id: decisionTransferId(e.statementId, e.itemId),
    currency: owner.currency,
    // The provider holds less: the float is credited. More: the float is debited.
    debit: shortfall > 0n ? other : float,
    credit: shortfall > 0n ? float : other,
    amountMinor,
  }));
}

/** One transfer per exception, ever: its id derives from the statement and the item. */
export const decisionTransferId = (statementId: string, itemId: string): string => deriveId('reconciliation', statementId, itemId);

/** The money a decision moves, for maker–checker: what it posts, or the payout it reverses. */
export function decisionAmountMinor(e: DecidedException, action: DecisionAction): bigint {
  if (action === 'apply_reversal' || action === 'repay') return e.ledgerMinor ?? 0n;
  if (action === 'requery' || action === 'acknowledge') return 0n;
  const s = floatShortfallOf(e);
  return s < 0n ? -s : s;
}

// Posting rules: which accounts each business event debits and credits. Pure; the application
// layer turns these into rows inside one SQL transaction.
import type { CurrencyCode } from './currency.js';
import { deriveId } from './ids.js';
import { assert } from './result.js';

export type TransferCode = 'funding' | 'float_topup' | 'batch_commit' | 'payout_paid' | 'payout_released';

export interface AccountSpec {
  readonly key: string;
  readonly debitsMustNotExceedCredits: boolean;
  readonly creditsMustNotExceedDebits: boolean;
}

/** Chart of accounts (architecture §3). Keys are unique within a currency's ledger. */
export const accounts = {
  funding: (source: string): AccountSpec => ({ key: `funding:${source}`, debitsMustNotExceedCredits: false, creditsMustNotExceedDebits: false }),
  programmeAvailable: (programmeId: string): AccountSpec => ({
    key: `programme:${programmeId}:available`,
    debitsMustNotExceedCredits: true, // a programme cannot commit money it does not have
    creditsMustNotExceedDebits: false,
  }),
  batchCommitted: (batchId: string): AccountSpec => ({
    key: `batch:${batchId}:committed`,
    debitsMustNotExceedCredits: true, // a batch cannot pay out more than was committed to it
    creditsMustNotExceedDebits: false,
  }),
  providerFloat: (provider: string): AccountSpec => ({
    key: `provider:${provider}:float`,
    debitsMustNotExceedCredits: false,
    creditsMustNotExceedDebits: true, // we cannot pay out more float than we put at the provider
  }),
} as const;

export interface TransferSpec {
  readonly id: string;
  readonly currency: CurrencyCode;
  readonly debit: AccountSpec;
  readonly credit: AccountSpec;
  readonly amountMinor: bigint;
  readonly code: TransferCode;
  readonly batchId: string | null;
  readonly payoutId: string | null;
}

function transfer(spec: TransferSpec): TransferSpec {
  assert(spec.amountMinor > 0n, 'a transfer amount is positive');
  assert(spec.debit.key !== spec.credit.key, 'a transfer moves money between two accounts');
  return spec;
}

export const postings = {
  /** Donor money arrives for a programme. The caller's idempotency key names the event. */
  funding: (p: { idempotencyKey: string; programmeId: string; source: string; currency: CurrencyCode; amountMinor: bigint }) =>
    transfer({
      id: deriveId('funding', p.programmeId, p.idempotencyKey),
      currency: p.currency,
      debit: accounts.funding(p.source),
      credit: accounts.programmeAvailable(p.programmeId),
      amountMinor: p.amountMinor,
      code: 'funding',
      batchId: null,
      payoutId: null,
    }),
  /** Money moved to our float at the provider. */
  floatTopUp: (p: { idempotencyKey: string; provider: string; source: string; currency: CurrencyCode; amountMinor: bigint }) =>
    transfer({
      id: deriveId('float-topup', p.provider, p.idempotencyKey),
      currency: p.currency,
      debit: accounts.providerFloat(p.provider),
      credit: accounts.funding(p.source),
      amountMinor: p.amountMinor,
      code: 'float_topup',
      batchId: null,
      payoutId: null,
    }),
  /** An approved batch reserves its total: the programme can no longer spend it elsewhere. */
  batchCommit: (p: { batchId: string; programmeId: string; currency: CurrencyCode; totalMinor: bigint }) =>
    transfer({
      id: deriveId('batch-commit', p.batchId),
      currency: p.currency,
      debit: accounts.programmeAvailable(p.programmeId),
      credit: accounts.batchCommitted(p.batchId),
      amountMinor: p.totalMinor,
      code: 'batch_commit',
      batchId: p.batchId,
      payoutId: null,
    }),
  /** The provider paid the beneficiary: committed money leaves our float. */
  payoutPaid: (p: { batchId: string; payoutId: string; provider: string; currency: CurrencyCode; amountMinor: bigint }) =>
    transfer({
      id: deriveId('payout-settle', p.payoutId),
      currency: p.currency,
      debit: accounts.batchCommitted(p.batchId),
      credit: accounts.providerFloat(p.provider),
      amountMinor: p.amountMinor,
      code: 'payout_paid',
      batchId: p.batchId,
      payoutId: p.payoutId,
    }),
  /** A confirmed failure or cancellation: the money goes back to the programme. */
  payoutReleased: (p: { batchId: string; payoutId: string; programmeId: string; currency: CurrencyCode; amountMinor: bigint }) =>
    transfer({
      // Same id as payoutPaid on purpose: a payout settles once, either way, never both.
      id: deriveId('payout-settle', p.payoutId),
      currency: p.currency,
      debit: accounts.batchCommitted(p.batchId),
      credit: accounts.programmeAvailable(p.programmeId),
      amountMinor: p.amountMinor,
      code: 'payout_released',
      batchId: p.batchId,
      payoutId: p.payoutId,
    }),
} as const;

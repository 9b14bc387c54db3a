// Posting rules: which accounts each business event debits and credits. Pure; the application
// layer turns these into rows inside one SQL transaction.
import type { CurrencyCode } from './currency.js';
import { deriveId } from './ids.js';
import { assert } from './result.js';

export const transferCodes = ['funding', 'float_topup', 'batch_commit', 'payout_paid', 'payout_fee', 'payout_released', 'payout_reversed', 'reconciliation'] as const;
export type TransferCode = (typeof transferCodes)[number];

/** The side on which an account's balance normally sits: its balance is shown as a positive amount there. */
export type NormalSide = 'debit' | 'credit';

export interface AccountSpec {
  readonly key: string;
  /** The organisation that owns the account: finance reads are scoped by it. */
  readonly organisationId: string;
  readonly normal: NormalSide;
  readonly debitsMustNotExceedCredits: boolean;
  readonly creditsMustNotExceedDebits: boolean;
}

/** Organisation, programme and batch ids: what the schema allows them (they may hold ':'). */
const idPattern = /^[A-Za-z0-9_.:-]{1,64}$/;
/** Funding sources and provider ids: no ':', so a key always splits one way. */
export const namePattern = /^[A-Za-z0-9_.-]{1,64}$/;
const id = (value: string): string => {
  assert(idPattern.test(value), `an id in an account key is 1-64 of [A-Za-z0-9_.:-]: ${JSON.stringify(value)}`);
  return value;
};
const name = (value: string): string => {
  assert(namePattern.test(value), `a name in an account key is 1-64 of [A-Za-z0-9_.-]: ${JSON.stringify(value)}`);
  return value;
};

/**
 * Chart of accounts (architecture §3). Keys are unique within a currency's ledger. Accounts a
 * programme or batch owns are named by that id; the rest carry their organisation, since each
 * organisation has its own donors and its own float at each provider.
 */
export const accounts = {
  funding: (organisationId: string, source: string): AccountSpec => ({
    key: `funding:${id(organisationId)}:${name(source)}`,
    organisationId,
    normal: 'debit',
    debitsMustNotExceedCredits: false,
    creditsMustNotExceedDebits: false,
  }),
  programmeAvailable: (organisationId: string, programmeId: string): AccountSpec => ({
    key: `programme:${id(programmeId)}:available`,
    organisationId,
    normal: 'credit',
    debitsMustNotExceedCredits: true, // a programme cannot commit money it does not have
    creditsMustNotExceedDebits: false,
  }),
  batchCommitted: (organisationId: string, batchId: string): AccountSpec => ({
    key: `batch:${id(batchId)}:committed`,
    organisationId,
    normal: 'credit',
    debitsMustNotExceedCredits: true, // a batch cannot pay out more than was committed to it
    creditsMustNotExceedDebits: false,
  }),
  providerFloat: (organisationId: string, provider: string): AccountSpec => ({
    key: `provider:${name(provider)}:${id(organisationId)}:float`,
    organisationId,
    normal: 'debit',
    debitsMustNotExceedCredits: false,
    creditsMustNotExceedDebits: true, // we cannot pay out more float than we put at the provider
  }),
  providerFees: (organisationId: string, provider: string): AccountSpec => ({
    key: `provider:${name(provider)}:${id(organisationId)}:fees`,
    organisationId,
    normal: 'debit',
    debitsMustNotExceedCredits: false,
    creditsMustNotExceedDebits: true, // fees are charged, never refunded past what was charged
  }),
  /** What a provider owes back after reconciliation found it took more than it should (a claim finance pursues). */
  providerClaims: (organisationId: string, provider: string): AccountSpec => ({
    key: `provider:${name(provider)}:${id(organisationId)}:claims`,
    organisationId,
    normal: 'debit',
    debitsMustNotExceedCredits: false,
    creditsMustNotExceedDebits: true, // a claim is settled at most for what was claimed
  }),
  /** Differences finance wrote off (or found in its favour) when reconciling: the organisation's, either way. */
  reconciliationDifferences: (organisationId: string): AccountSpec => ({
    key: `reconciliation:${id(organisationId)}:differences`,
    organisationId,
    normal: 'debit',
    debitsMustNotExceedCredits: false,
    creditsMustNotExceedDebits: false,
  }),
} as const;

/** The normal side of an account, from its key (the chart above is the only source of keys). */
export function normalSideOf(key: string): NormalSide {
  return key.startsWith('programme:') || key.startsWith('batch:') ? 'credit' : 'debit';
}

export interface TransferSpec {
  readonly id: string;
  readonly currency: CurrencyCode;
  readonly debit: AccountSpec;
  readonly credit: AccountSpec;
  readonly amountMinor: bigint;
  readonly code: TransferCode;
  readonly batchId: string | null;
  readonly payoutId: string | null;
  /** A donor or bank reference (never beneficiary data). */
  readonly reference: string | null;
}

/** Transfers that must happen together: all or none, in this order. */
export interface Journal {
  readonly id: string;
  readonly currency: CurrencyCode;
  readonly transfers: readonly TransferSpec[];
}

export const referencePattern = /^[\x20-\x7E]{1,128}$/;

function transfer(spec: Omit<TransferSpec, 'reference'> & { reference?: string | null }): TransferSpec {
  assert(spec.amountMinor > 0n, 'a transfer amount is positive');
  assert(spec.debit.key !== spec.credit.key, 'a transfer moves money between two accounts');
  assert(spec.reference === undefined || spec.reference === null || referencePattern.test(spec.reference), 'a reference is 1-128 printable ASCII characters');
  return { ...spec, reference: spec.reference ?? null };
}

function journal(id: string, transfers: readonly TransferSpec[]): Journal {
  assert(transfers.length > 0, 'a journal has at least one transfer');
  const currency = transfers[0]!.currency;
  assert(transfers.every((t) => t.currency === currency), 'a journal stays within one ledger (currency)');
  assert(new Set(transfers.map((t) => t.id)).size === transfers.length, 'transfer ids within a journal are distinct');
  return { id, currency, transfers };
}

const single = (t: TransferSpec): Journal => journal(t.id, [t]);

export const postings = {
  /** Donor money arrives for a programme. The caller's idempotency key names the event. */
  funding: (p: { idempotencyKey: string; organisationId: string; programmeId: string; source: string; currency: CurrencyCode; amountMinor: bigint; reference?: string | null }) =>
    single(transfer({
      id: deriveId('funding', p.programmeId, p.idempotencyKey),
      currency: p.currency,
      debit: accounts.funding(p.organisationId, p.source),
      credit: accounts.programmeAvailable(p.organisationId, p.programmeId),
      amountMinor: p.amountMinor,
      code: 'funding',
      batchId: null,
      payoutId: null,
      reference: p.reference ?? null,
    })),
  /** Money moved to the organisation's float at the provider. */
  floatTopUp: (p: { idempotencyKey: string; organisationId: string; provider: string; source: string; currency: CurrencyCode; amountMinor: bigint; reference?: string | null }) =>
    single(transfer({
      id: deriveId('float-topup', p.organisationId, p.provider, p.idempotencyKey),
      currency: p.currency,
      debit: accounts.providerFloat(p.organisationId, p.provider),
      credit: accounts.funding(p.organisationId, p.source),
      amountMinor: p.amountMinor,
      code: 'float_topup',
      batchId: null,
      payoutId: null,
      reference: p.reference ?? null,
    })),
  /** An approved batch reserves its total: the programme can no longer spend it elsewhere. */
  batchCommit: (p: { organisationId: string; batchId: string; programmeId: string; currency: CurrencyCode; totalMinor: bigint }) =>
    single(transfer({
      id: deriveId('batch-commit', p.batchId),
      currency: p.currency,
      debit: accounts.programmeAvailable(p.organisationId, p.programmeId),
      credit: accounts.batchCommitted(p.organisationId, p.batchId),
      amountMinor: p.totalMinor,
      code: 'batch_commit',
      batchId: p.batchId,
      payoutId: null,
    })),
  /**
   * The provider paid the beneficiary: committed money leaves the float. A fee the provider took
   * from the float is a second transfer of the same journal.
   */
  payoutPaid: (p: { organisationId: string; batchId: string; payoutId: string; provider: string; currency: CurrencyCode; amountMinor: bigint; feeMinor?: bigint }) => {
    const paid = transfer({
      id: settleId(p.payoutId),
      currency: p.currency,
      debit: accounts.batchCommitted(p.organisationId, p.batchId),
      credit: accounts.providerFloat(p.organisationId, p.provider),
      amountMinor: p.amountMinor,
      code: 'payout_paid',
      batchId: p.batchId,
      payoutId: p.payoutId,
    });
    const fee = p.feeMinor ?? 0n;
    assert(fee >= 0n, 'a fee is not negative');
    if (fee === 0n) return single(paid);
    return journal(paid.id, [paid, transfer({
      id: deriveId('payout-fee', p.payoutId),
      currency: p.currency,
      debit: accounts.providerFees(p.organisationId, p.provider),
      credit: accounts.providerFloat(p.organisationId, p.provider),
      amountMinor: fee,
      code: 'payout_fee',
      batchId: p.batchId,
      payoutId: p.payoutId,
    })]);
  },
  /** A confirmed failure or cancellation: the money goes back to the programme. */
  payoutReleased: (p: { organisationId: string; batchId: string; payoutId: string; programmeId: string; currency: CurrencyCode; amountMinor: bigint }) =>
    single(transfer({
      // Same id as payoutPaid on purpose: a payout settles once, either way, never both.
      id: settleId(p.payoutId),
      currency: p.currency,
      debit: accounts.batchCommitted(p.organisationId, p.batchId),
      credit: accounts.programmeAvailable(p.organisationId, p.programmeId),
      amountMinor: p.amountMinor,
      code: 'payout_released',
      batchId: p.batchId,
      payoutId: p.payoutId,
    })),
  /**
   * Several payouts of one batch released together (a cancellation): one transfer per payout,
   * each with its settle id, so none of them can later be paid or released again.
   */
  payoutsReleased: (p: { organisationId: string; batchId: string; programmeId: string; currency: CurrencyCode; payouts: readonly { payoutId: string; amountMinor: bigint }[] }) => {
    assert(p.payouts.length > 0, 'a release names at least one payout');
    return journal(deriveId('payouts-released', p.batchId, p.payouts[0]!.payoutId), p.payouts.map((x) => transfer({
      id: settleId(x.payoutId),
      currency: p.currency,
      debit: accounts.batchCommitted(p.organisationId, p.batchId),
      credit: accounts.programmeAvailable(p.organisationId, p.programmeId),
      amountMinor: x.amountMinor,
      code: 'payout_released',
      batchId: p.batchId,
      payoutId: x.payoutId,
    })));
  },
  /**
   * A reconciliation decision (domain/reconciliation-decision.ts): one transfer between the
   * provider's float and the account the decision names, its id derived from the exception.
   */
  reconciliationAdjustment: (p: { id: string; currency: CurrencyCode; debit: AccountSpec; credit: AccountSpec; amountMinor: bigint }) =>
    single(transfer({ id: p.id, currency: p.currency, debit: p.debit, credit: p.credit, amountMinor: p.amountMinor, code: 'reconciliation', batchId: null, payoutId: null })),
  /**
   * A paid payout the provider reversed later: the money is back in the float. The reverse of
   * "paid" (float → batch), then the batch returns it to the programme, as one journal.
   */
  payoutReversed: (p: { organisationId: string; batchId: string; payoutId: string; programmeId: string; provider: string; currency: CurrencyCode; amountMinor: bigint }) => {
    const back = transfer({
      id: deriveId('payout-reversal', p.payoutId),
      currency: p.currency,
      debit: accounts.providerFloat(p.organisationId, p.provider),
      credit: accounts.batchCommitted(p.organisationId, p.batchId),
      amountMinor: p.amountMinor,
      code: 'payout_reversed',
      batchId: p.batchId,
      payoutId: p.payoutId,
    });
    const release = transfer({
      id: deriveId('payout-reversal-release', p.payoutId),
      currency: p.currency,
      debit: accounts.batchCommitted(p.organisationId, p.batchId),
      credit: accounts.programmeAvailable(p.organisationId, p.programmeId),
      amountMinor: p.amountMinor,
      code: 'payout_released',
      batchId: p.batchId,
      payoutId: p.payoutId,
    });
    return journal(back.id, [back, release]);
  },
} as const;

/**
 * Journals that must all happen together, merged into one per currency (a ledger), transfers in
 * their order: posted as one, each account's deltas are summed and its row written once. Each
 * merged journal is named after its first transfer, whose id belongs to no other journal.
 */
export function mergeJournals(journals: readonly Journal[]): Journal[] {
  const byCurrency = new Map<CurrencyCode, TransferSpec[]>();
  for (const j of journals) {
    const list = byCurrency.get(j.currency);
    if (list) list.push(...j.transfers);
    else byCurrency.set(j.currency, [...j.transfers]);
  }
  return [...byCurrency.values()].map((transfers) => journal(deriveId('merged-journal', transfers[0]!.id), transfers));
}

/** The id of the transfer that settles a payout (paid or released): one per payout, ever. */
export const settleId = (payoutId: string): string => deriveId('payout-settle', payoutId);

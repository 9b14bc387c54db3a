// The ledger's arithmetic, pure: applying a journal to locked accounts (the service's own check,
// before the database's CHECKs see it), and the canonical bytes a chain link covers.
import { reject, type Rejection } from './errors.js';
import type { Journal, TransferSpec } from './ledger-rules.js';
import { minorUnitsMax } from './money.js';
import { err, ok, type Result } from './result.js';

export interface Totals {
  readonly debits: bigint;
  readonly credits: bigint;
}

export interface AccountState extends Totals {
  readonly id: bigint;
  readonly key: string;
  readonly debitsMustNotExceedCredits: boolean;
  readonly creditsMustNotExceedDebits: boolean;
  readonly closed: boolean;
}

export interface AppliedTransfer {
  readonly transfer: TransferSpec;
  readonly debitAccountId: bigint;
  readonly creditAccountId: bigint;
  /** The debit account's totals right after this transfer. */
  readonly debitAfter: Totals;
  /** The credit account's totals right after this transfer. */
  readonly creditAfter: Totals;
}

export interface AppliedJournal {
  readonly lines: readonly AppliedTransfer[];
  /** Every touched account's totals after the whole journal, by account id. */
  readonly finalTotals: ReadonlyMap<bigint, Totals>;
}

/** Whether totals break the account's flags (TigerBeetle's debits/credits_must_not_exceed_*). */
export function breaksFlags(account: Pick<AccountState, 'debitsMustNotExceedCredits' | 'creditsMustNotExceedDebits'>, t: Totals): boolean {
  return (account.debitsMustNotExceedCredits && t.debits > t.credits) || (account.creditsMustNotExceedDebits && t.credits > t.debits);
}

/**
 * Applies the journal's transfers in order to the accounts (by key). Each transfer must leave
 * every flagged account within its flags, as in TigerBeetle: a journal cannot borrow from its own
 * later transfers. Nothing is mutated; the caller writes the result.
 */
export function applyJournal(accounts: ReadonlyMap<string, AccountState>, journal: Journal): Result<AppliedJournal, Rejection> {
  const totals = new Map<string, Totals>();
  const current = (key: string): { account: AccountState; totals: Totals } => {
    const account = accounts.get(key);
    if (!account) throw new Error(`invariant violated: account ${key} was not locked`);
    return { account, totals: totals.get(key) ?? account };
  };
  const lines: AppliedTransfer[] = [];
  for (const t of journal.transfers) {
    const debit = current(t.debit.key);
    const credit = current(t.credit.key);
    for (const side of [debit, credit]) {
      if (side.account.closed) return err(reject('LEDGER_ACCOUNT_CLOSED', `account ${side.account.key}`));
    }
    const debitAfter = { debits: debit.totals.debits + t.amountMinor, credits: debit.totals.credits };
    const creditAfter = { debits: credit.totals.debits, credits: credit.totals.credits + t.amountMinor };
    if (debitAfter.debits > minorUnitsMax || creditAfter.credits > minorUnitsMax) {
      return err(reject('LEDGER_TOTAL_OUT_OF_RANGE', `account ${debitAfter.debits > minorUnitsMax ? debit.account.key : credit.account.key}`));
    }
    if (breaksFlags(debit.account, debitAfter)) return err(reject('LEDGER_INSUFFICIENT_FUNDS', `account ${debit.account.key}`));
    if (breaksFlags(credit.account, creditAfter)) return err(reject('LEDGER_INSUFFICIENT_FUNDS', `account ${credit.account.key}`));
    totals.set(t.debit.key, debitAfter);
    totals.set(t.credit.key, creditAfter);
    lines.push({ transfer: t, debitAccountId: debit.account.id, creditAccountId: credit.account.id, debitAfter, creditAfter });
  }
  const finalTotals = new Map<bigint, Totals>();
  for (const [key, t] of totals) finalTotals.set(accounts.get(key)!.id, t);
  return ok({ lines, finalTotals });
}

/** A transfer as stored: what a chain link covers, field by field. */
export interface StoredTransfer {
  readonly id: string;
  readonly seq: bigint;
  readonly journalId: string;
  readonly currency: string;
  readonly debitAccountId: bigint;
  readonly creditAccountId: bigint;
  readonly amount: bigint;
  readonly code: string;
  readonly batchId: string | null;
  readonly payoutId: string | null;
  readonly reference: string | null;
  readonly debitAfter: Totals | null;
  readonly creditAfter: Totals | null;
  /** Microseconds since the epoch: PostgreSQL's precision, which a Date would lose. */
  readonly createdAtMicros: bigint;
}

/**
 * The canonical text of a transfer for its chain link: version tag, then every field in a fixed
 * order, unit-separated (no field can hold U+001F: ids, codes and references are validated).
 */
export function canonicalTransfer(t: StoredTransfer): string {
  const totals = (x: Totals | null) => (x === null ? '-' : `${x.debits}/${x.credits}`);
  return [
    'tuma.transfer.v1',
    t.seq.toString(),
    t.id,
    t.journalId,
    t.currency,
    t.debitAccountId.toString(),
    t.creditAccountId.toString(),
    t.amount.toString(),
    t.code,
    t.batchId ?? '-',
    t.payoutId ?? '-',
    t.reference === null ? '-' : JSON.stringify(t.reference),
    totals(t.debitAfter),
    totals(t.creditAfter),
    t.createdAtMicros.toString(),
  ].join('\u001f');
}

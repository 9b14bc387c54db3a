// Posting a journal: accounts locked in ascending id order (no deadlocks), idempotency checked
// under the lock (no double post), flags checked here and again by the CHECK constraints.
import { sql } from 'kysely';
import type { LedgerRepo } from '../../application/ports.js';
import { scaleOf, type CurrencyCode } from '../../domain/currency.js';
import { reject } from '../../domain/errors.js';
import type { AccountSpec } from '../../domain/ledger-rules.js';
import { err, ok } from '../../domain/result.js';
import type { DbOrTx } from './database.js';

interface LockedAccount {
  id: bigint;
  key: string;
  debits: bigint;
  credits: bigint;
  debitsMustNotExceedCredits: boolean;
  creditsMustNotExceedDebits: boolean;
}

export function ledgerRepository(db: DbOrTx): LedgerRepo {
  return {
    async postJournal(journalId, transfers) {
      if (transfers.length === 0) throw new Error('invariant violated: a journal has at least one transfer');
      const currency = transfers[0]!.currency;
      if (transfers.some((t) => t.currency !== currency)) throw new Error('invariant violated: one journal, one ledger');
      const specs = new Map<string, AccountSpec>();
      for (const t of transfers) for (const a of [t.debit, t.credit]) specs.set(a.key, a);

      await ensureAccounts(db, currency, [...specs.values()]);
      const locked = await lockAccounts(db, currency, [...specs.keys()]);

      const existing = await db.selectFrom('transfers').selectAll().where('id', 'in', transfers.map((t) => t.id)).execute();
      if (existing.length > 0) {
        const same = existing.length === transfers.length && transfers.every((t) => {
          const row = existing.find((e) => e.id === t.id);
          return row !== undefined && row.journal_id === journalId && row.amount === t.amountMinor && row.code === t.code &&
            row.currency === t.currency && row.debit_account_id === locked.get(t.debit.key)!.id &&
            row.credit_account_id === locked.get(t.credit.key)!.id && row.batch_id === t.batchId && row.payout_id === t.payoutId;
        });
        return same ? ok('replayed' as const) : err(reject('LEDGER_TRANSFER_CONFLICT'));
      }

      for (const t of transfers) {
        locked.get(t.debit.key)!.debits += t.amountMinor;
        locked.get(t.credit.key)!.credits += t.amountMinor;
      }
      for (const a of locked.values()) {
        if ((a.debitsMustNotExceedCredits && a.debits > a.credits) || (a.creditsMustNotExceedDebits && a.credits > a.debits)) {
          return err(reject('LEDGER_INSUFFICIENT_FUNDS', `account ${a.key}`));
        }
      }
      for (const a of locked.values()) {
        await db.updateTable('accounts').set({ debits_posted: a.debits, credits_posted: a.credits }).where('id', '=', a.id).execute();
      }
      await db
        .insertInto('transfers')
        .values(transfers.map((t) => ({
          id: t.id,
          journal_id: journalId,
          currency: t.currency,
          debit_account_id: locked.get(t.debit.key)!.id,
          credit_account_id: locked.get(t.credit.key)!.id,
          amount: t.amountMinor,
          code: t.code,
          batch_id: t.batchId,
          payout_id: t.payoutId,
        })))
        .execute();
      return ok('posted' as const);
    },

    async balanceOf(currency, key) {
      const row = await db.selectFrom('accounts').select(['debits_posted', 'credits_posted']).where('currency', '=', currency).where('key', '=', key).executeTakeFirst();
      return row ? { debitsPosted: row.debits_posted, creditsPosted: row.credits_posted } : null;
    },
  };
}

async function ensureAccounts(db: DbOrTx, currency: CurrencyCode, specs: readonly AccountSpec[]): Promise<void> {
  await db.insertInto('ledgers').values({ currency, scale: scaleOf(currency) }).onConflict((oc) => oc.column('currency').doNothing()).execute();
  await db
    .insertInto('accounts')
    .values(specs.map((s) => ({
      currency,
      key: s.key,
      debits_must_not_exceed_credits: s.debitsMustNotExceedCredits,
      credits_must_not_exceed_debits: s.creditsMustNotExceedDebits,
    })))
    .onConflict((oc) => oc.columns(['currency', 'key']).doNothing())
    .execute();
}

async function lockAccounts(db: DbOrTx, currency: CurrencyCode, keys: readonly string[]): Promise<Map<string, LockedAccount>> {
  const rows = await db
    .selectFrom('accounts')
    .select(['id', 'key', 'debits_posted', 'credits_posted', 'debits_must_not_exceed_credits', 'credits_must_not_exceed_debits', 'closed'])
    .where('currency', '=', currency)
    .where('key', 'in', keys)
    .orderBy('id')
    .modifyEnd(sql`FOR UPDATE`)
    .execute();
  if (rows.length !== keys.length) throw new Error('invariant violated: every account of a journal exists after ensureAccounts');
  return new Map(rows.map((r) => [r.key, {
    id: r.id,
    key: r.key,
    debits: r.debits_posted,
    credits: r.credits_posted,
    debitsMustNotExceedCredits: r.debits_must_not_exceed_credits,
    creditsMustNotExceedDebits: r.credits_must_not_exceed_debits,
  }]));
}

// The ledger's storage. Posting is one statement, tuma_post_journal (migration 0002): it locks
// the journal's accounts in ascending id order, checks idempotency under the locks, applies the
// transfers in order refusing closed accounts, overflow and flag breaches with nothing written,
// and writes the transfers with their running totals. One round trip; within a caller's
// transaction it is one step. A lone transfer outside a transaction takes the same steps as one
// prepared statement (postSingle), which the server plans once per connection: the hot path.
//
// The hash chain relies on one property of this path: the transaction holds an xid (taken by the
// row locks of the first step) before any transfer seq is drawn. See ledger-chain.repository.ts.
import { sql } from 'kysely';
import type pg from 'pg';
import type { AccountRecord, LedgerRepo, TransferRecord } from '../../application/ports.js';
import { scaleOf, type CurrencyCode } from '../../domain/currency.js';
import { reject } from '../../domain/errors.js';
import type { AccountSpec, Journal } from '../../domain/ledger-rules.js';
import { err, ok } from '../../domain/result.js';
import type { Selectable } from 'kysely';
import type { AccountsTable, DbOrTx, TransfersTable } from './database.js';

const uniqueViolation = '23505';

/**
 * `pool` (optional) is the same database's pg pool: outside a transaction, a journal of one
 * transfer is posted by one prepared statement on it (see postSingle), the common case at speed.
 */
export function ledgerRepository(db: DbOrTx, pool?: pg.Pool): LedgerRepo {
  const post = (journal: Journal) =>
    pool && !db.isTransaction && journal.transfers.length === 1 ? postSingle(pool, db, journal) : callPost(db, journal);
  return {
    async postJournal(journal) {
      let outcome = await post(journal);
      if (outcome === 'missing') {
        await createAccounts(db, journal);
        outcome = await post(journal);
        if (outcome === 'missing') throw new Error(`invariant violated: the accounts of journal ${journal.id} exist once created`);
      }
      if (outcome === 'posted' || outcome === 'replayed') return ok(outcome);
      if (outcome === 'conflict') return err(reject('LEDGER_TRANSFER_CONFLICT', `journal ${journal.id}`));
      const [kind, key] = [outcome.slice(0, outcome.indexOf(':')), outcome.slice(outcome.indexOf(':') + 1)];
      if (kind === 'insufficient') return err(reject('LEDGER_INSUFFICIENT_FUNDS', `account ${key}`));
      if (kind === 'closed') return err(reject('LEDGER_ACCOUNT_CLOSED', `account ${key}`));
      if (kind === 'range') return err(reject('LEDGER_TOTAL_OUT_OF_RANGE', `account ${key}`));
      throw new Error(`invariant violated: tuma_post_journal answered ${outcome}`);
    },

    async findAccount(currency, key) {
      const row = await db.selectFrom('accounts').selectAll().where('currency', '=', currency).where('key', '=', key).executeTakeFirst();
      return row ? toAccount(row) : null;
    },

    async listAccounts(currency, organisationId, afterKey, limit) {
      let q = db.selectFrom('accounts').selectAll().where('organisation_id', '=', organisationId).where('currency', '=', currency);
      if (afterKey !== null) q = q.where('key', '>', afterKey);
      return (await q.orderBy('key').limit(limit).execute()).map(toAccount);
    },

    async statement(accountId, afterSeq, limit) {
      // Two index range scans (as debit, as credit) merged: no OR across indexes, no sort of the whole history.
      const after = afterSeq ?? -1n;
      const rows = await sql<TransferRow>`
        SELECT * FROM (
          (SELECT ${transferColumns} FROM transfers t WHERE t.debit_account_id = ${accountId} AND t.seq > ${after} ORDER BY t.seq LIMIT ${limit})
          UNION ALL
          (SELECT ${transferColumns} FROM transfers t WHERE t.credit_account_id = ${accountId} AND t.seq > ${after} ORDER BY t.seq LIMIT ${limit})
        ) s ORDER BY s.seq LIMIT ${limit}
      `.execute(db);
      return withKeys(db, rows.rows);
    },

    async journal(journalId) {
      const rows = await sql<TransferRow>`SELECT ${transferColumns} FROM transfers t WHERE t.journal_id = ${journalId} ORDER BY t.seq`.execute(db);
      return withKeys(db, rows.rows);
    },

    async trialBalance(currency, organisationId) {
      const rows = await db
        .selectFrom('accounts')
        .select((eb) => [
          sql<string>`split_part(key, ':', 1)`.as('kind'),
          eb.fn.countAll<bigint>().as('accounts'),
          sql<string>`sum(debits_posted)::text`.as('debits'),
          sql<string>`sum(credits_posted)::text`.as('credits'),
        ])
        .where('currency', '=', currency)
        .where('organisation_id', '=', organisationId)
        .groupBy(sql`split_part(key, ':', 1)`)
        .orderBy('kind')
        .execute();
      // Sums are numeric (they may pass the int8 range): read as text, held as bigint.
      return rows.map((r) => ({ kind: r.kind, accounts: Number(r.accounts), debitsPosted: BigInt(r.debits), creditsPosted: BigInt(r.credits) }));
    },
  };
}

/**
 * One round trip: tuma_post_journal (migration 0002) locks, checks and writes. A unique violation
 * means another transaction inserted one of these ids between our check and our insert (it held
 * other accounts): asking again answers replayed or conflict.
 */
async function callPost(db: DbOrTx, journal: Journal): Promise<string> {
  const keys: string[] = [];
  const position = new Map<string, number>();
  const at = (key: string) => {
    let p = position.get(key);
    if (p === undefined) {
      p = keys.push(key); // 1-based, as PostgreSQL arrays are
      position.set(key, p);
    }
    return p;
  };
  const t = journal.transfers;
  const debit = t.map((x) => at(x.debit.key));
  const credit = t.map((x) => at(x.credit.key));
  const call = () => sql<{ outcome: string }>`
    SELECT tuma_post_journal(${journal.id}::uuid, ${journal.currency}::char(3), ${keys}::text[], ${t.map((x) => x.id)}::uuid[],
      ${debit}::int4[], ${credit}::int4[], ${t.map((x) => x.amountMinor)}::int8[], ${t.map((x) => x.code)}::text[],
      ${t.map((x) => x.batchId)}::uuid[], ${t.map((x) => x.payoutId)}::uuid[], ${t.map((x) => x.reference)}::text[]) AS outcome
  `.execute(db);
  try {
    return (await call()).rows[0]!.outcome;
  } catch (error) {
    if ((error as { code?: string }).code !== uniqueViolation || db.isTransaction) throw error;
    return (await call()).rows[0]!.outcome;
  }
}

/**
 * One transfer, one prepared statement (planned once per connection): the same steps as
 * tuma_post_journal, written as one SQL statement — lock both accounts in id order, check closed,
 * range and flags against the locked totals, insert the transfer with the totals after it, set
 * the totals. The database's CHECKs and triggers still refuse whatever slips through. A transfer
 * id seen already ('prior') is settled by tuma_post_journal, which compares it under the locks;
 * one committed by a concurrent posting after this statement's snapshot makes the insert hit the
 * primary key (23505), and asking again answers replayed or conflict.
 */
const postSingleSql = `
WITH locked AS MATERIALIZED (
  SELECT id, key, debits_posted AS d, credits_posted AS c, debits_must_not_exceed_credits AS df, credits_must_not_exceed_debits AS cf, closed
  FROM accounts WHERE currency = $2 AND key = ANY(ARRAY[$3::text, $4::text]) ORDER BY id FOR UPDATE
), calc AS MATERIALIZED (
  SELECT dr.id AS did, cr.id AS cid, dr.c AS dc, cr.d AS cd,
    CASE WHEN dr.d <= 9223372036854775807 - $5::int8 THEN dr.d + $5::int8 END AS dd,
    CASE WHEN cr.c <= 9223372036854775807 - $5::int8 THEN cr.c + $5::int8 END AS cc,
    CASE WHEN EXISTS (SELECT 1 FROM transfers WHERE id = $1::uuid) THEN 'prior'
         WHEN dr.closed THEN 'closed:' || $3 WHEN cr.closed THEN 'closed:' || $4
         WHEN dr.d > 9223372036854775807 - $5::int8 THEN 'range:' || $3
         WHEN cr.c > 9223372036854775807 - $5::int8 THEN 'range:' || $4
         WHEN (dr.df AND dr.d + $5::int8 > dr.c) OR (dr.cf AND dr.c > dr.d + $5::int8) THEN 'insufficient:' || $3
         WHEN (cr.df AND cr.d > cr.c + $5::int8) OR (cr.cf AND cr.c + $5::int8 > cr.d) THEN 'insufficient:' || $4
         ELSE 'posted' END AS outcome
  FROM locked dr, locked cr WHERE dr.key = $3 AND cr.key = $4
), ins AS (
  INSERT INTO transfers (id, journal_id, currency, debit_account_id, credit_account_id, amount, code, batch_id, payout_id, reference,
                         debit_debits_after, debit_credits_after, credit_debits_after, credit_credits_after)
  SELECT $1::uuid, $6::uuid, $2, did, cid, $5::int8, $7, $8::uuid, $9::uuid, $10, dd, dc, cd, cc FROM calc WHERE outcome = 'posted'
), upd AS (
  UPDATE accounts a SET debits_posted = v.d, credits_posted = v.c
  FROM calc, LATERAL (VALUES (calc.did, calc.dd, calc.dc), (calc.cid, calc.cd, calc.cc)) AS v(id, d, c)
  WHERE a.id = v.id AND calc.outcome = 'posted'
)
SELECT coalesce((SELECT outcome FROM calc), 'missing') AS outcome`;

async function postSingle(pool: pg.Pool, db: DbOrTx, journal: Journal): Promise<string> {
  const t = journal.transfers[0]!;
  const values = [t.id, journal.currency, t.debit.key, t.credit.key, t.amountMinor.toString(), journal.id, t.code, t.batchId, t.payoutId, t.reference];
  const once = async () => (await pool.query<{ outcome: string }>({ name: 'tuma_post_single_v1', text: postSingleSql, values })).rows[0]!.outcome;
  let outcome: string;
  try {
    outcome = await once();
  } catch (error) {
    if ((error as { code?: string }).code !== uniqueViolation) throw error;
    outcome = await once();
  }
  return outcome === 'prior' ? callPost(db, journal) : outcome;
}

/**
 * Creates the journal's accounts as the chart gives them (sorted: two creators wait on each
 * other in one order), then checks that those already there have the chart's flags and owner.
 */
async function createAccounts(db: DbOrTx, journal: Journal): Promise<void> {
  const specs = new Map<string, AccountSpec>();
  for (const t of journal.transfers) for (const a of [t.debit, t.credit]) specs.set(a.key, a);
  const sorted = [...specs.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  await db.insertInto('ledgers').values({ currency: journal.currency, scale: scaleOf(journal.currency) }).onConflict((oc) => oc.column('currency').doNothing()).execute();
  await db
    .insertInto('accounts')
    .values(sorted.map((s) => ({
      currency: journal.currency,
      key: s.key,
      organisation_id: s.organisationId,
      debits_must_not_exceed_credits: s.debitsMustNotExceedCredits,
      credits_must_not_exceed_debits: s.creditsMustNotExceedDebits,
    })))
    .onConflict((oc) => oc.columns(['currency', 'key']).doNothing())
    .execute();
  const rows = await db
    .selectFrom('accounts')
    .select(['key', 'organisation_id', 'debits_must_not_exceed_credits', 'credits_must_not_exceed_debits'])
    .where('currency', '=', journal.currency)
    .where(sql<boolean>`key = ANY(${[...specs.keys()]}::text[])`)
    .execute();
  for (const r of rows) {
    const s = specs.get(r.key)!;
    if (r.organisation_id !== s.organisationId || r.debits_must_not_exceed_credits !== s.debitsMustNotExceedCredits || r.credits_must_not_exceed_debits !== s.creditsMustNotExceedDebits) {
      throw new Error(`invariant violated: account ${r.key} is stored with other flags or another owner than the chart gives`);
    }
  }
}

type TransferRow = Selectable<TransfersTable>;

const transferColumns = sql.raw(
  't.id, t.seq, t.journal_id, t.currency, t.debit_account_id, t.credit_account_id, t.amount, t.code, t.batch_id, t.payout_id, t.reference, ' +
    't.debit_debits_after, t.debit_credits_after, t.credit_debits_after, t.credit_credits_after, t.created_at',
);

async function withKeys(db: DbOrTx, rows: readonly TransferRow[]): Promise<TransferRecord[]> {
  if (rows.length === 0) return [];
  const ids = [...new Set(rows.flatMap((r) => [r.debit_account_id, r.credit_account_id]))];
  const keys = new Map((await db.selectFrom('accounts').select(['id', 'key']).where(sql<boolean>`id = ANY(${ids}::int8[])`).execute()).map((a) => [a.id, a.key]));
  return rows.map((r) => ({
    id: r.id,
    seq: r.seq,
    journalId: r.journal_id,
    currency: r.currency as CurrencyCode,
    debitAccountId: r.debit_account_id,
    debitKey: keys.get(r.debit_account_id) ?? '?',
    creditAccountId: r.credit_account_id,
    creditKey: keys.get(r.credit_account_id) ?? '?',
    amountMinor: r.amount,
    code: r.code,
    batchId: r.batch_id,
    payoutId: r.payout_id,
    reference: r.reference,
    debitAfter: totals(r.debit_debits_after, r.debit_credits_after),
    creditAfter: totals(r.credit_debits_after, r.credit_credits_after),
    createdAt: r.created_at,
  }));
}

/** A transfer's recorded totals for one side; null on rows written before migration 0002. */
export const totals = (debits: bigint | null, credits: bigint | null) => (debits === null || credits === null ? null : { debits, credits });

export function toAccount(r: Selectable<AccountsTable>): AccountRecord {
  return {
    id: r.id,
    currency: r.currency as CurrencyCode,
    key: r.key,
    organisationId: r.organisation_id,
    debitsPosted: r.debits_posted,
    creditsPosted: r.credits_posted,
    debitsMustNotExceedCredits: r.debits_must_not_exceed_credits,
    creditsMustNotExceedDebits: r.credits_must_not_exceed_debits,
    closed: r.closed,
    createdAt: r.created_at,
  };
}

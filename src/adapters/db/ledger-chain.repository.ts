// The hash chain's storage, and the reads of `ledger verify`.
//
// Why the chain may stop short of the newest transfer: transfer seqs are drawn in one order and
// committed in another, so a transaction still running can insert a seq below one already
// visible. The chainer therefore only links up to a horizon proven final:
//   at run k it records the highest visible seq S and its snapshot's xmax X;
//   at a later run, once the oldest running transaction id is >= X, every transaction that
//   could hold a seq <= S has ended (a posting holds its xid before it draws a seq, and seqs are
//   drawn in increasing order), so the transfers visible up to S are all there will ever be.
// Nothing on the posting path waits for the chain.
import { sql, type Selectable } from 'kysely';
import { linkHashBytes } from '../../application/ledger-chain.js';
import type { ChainHead, LedgerAuditRepo, LedgerChainRepo } from '../../application/ports.js';
import { assert } from '../../domain/result.js';
import type { StoredTransfer } from '../../domain/ledger.js';
import type { DbOrTx, TransfersTable } from './database.js';
import { toAccount, totals } from './ledger.repository.js';

/** A transfer row with created_at as exact microseconds (a Date would drop them). */
type StoredRow = Omit<Selectable<TransfersTable>, 'created_at'> & { created_at_us: bigint };

const storedColumns = sql.raw(
  't.id, t.seq, t.journal_id, t.currency, t.debit_account_id, t.credit_account_id, t.amount, t.code, t.batch_id, t.payout_id, t.reference, ' +
    't.debit_debits_after, t.debit_credits_after, t.credit_debits_after, t.credit_credits_after, ' +
    // numeric epoch (PostgreSQL 14+) is exact: microseconds as an integer, no float in between
    '(extract(epoch FROM t.created_at) * 1000000)::int8 AS created_at_us',
);

function toStored(r: StoredRow): StoredTransfer {
  return {
    id: r.id,
    seq: r.seq,
    journalId: r.journal_id,
    currency: r.currency,
    debitAccountId: r.debit_account_id,
    creditAccountId: r.credit_account_id,
    amount: r.amount,
    code: r.code,
    batchId: r.batch_id,
    payoutId: r.payout_id,
    reference: r.reference,
    debitAfter: totals(r.debit_debits_after, r.debit_credits_after),
    creditAfter: totals(r.credit_debits_after, r.credit_credits_after),
    createdAtMicros: r.created_at_us,
  };
}

export function ledgerChainRepository(db: DbOrTx): LedgerChainRepo {
  return {
    async claim() {
      const row = await sql<{ head_seq: bigint | null; head_hash: Buffer | null; candidate_seq: bigint | null; final: boolean }>`
        SELECT head_seq, head_hash, candidate_seq,
               coalesce(candidate_xmax <= pg_snapshot_xmin(pg_current_snapshot()), false) AS final
        FROM ledger_chain FOR UPDATE
      `.execute(db);
      const r = row.rows[0];
      if (!r) throw new Error('invariant violated: the ledger_chain row exists (migration 0002)');
      return { head: { seq: r.head_seq, hash: r.head_hash }, safeUpTo: r.final ? r.candidate_seq : null };
    },

    async transfersAfter(afterSeq, upTo, limit) {
      const rows = await sql<StoredRow>`
        SELECT ${storedColumns} FROM transfers t WHERE t.seq > ${afterSeq ?? -1n} AND t.seq <= ${upTo} ORDER BY t.seq LIMIT ${limit}
      `.execute(db);
      return rows.rows.map(toStored);
    },

    async append(links) {
      if (links.length === 0) return;
      // Every hash of the chunk in one binary bytea parameter that the statement slices: a bytea[]
      // parameter goes as hex text both ways (twice the bytes, a string per hash in this process).
      for (const l of links) assert(l.hash.length === linkHashBytes, `a chain link's hash is ${linkHashBytes} bytes`);
      await sql`
        INSERT INTO transfer_links (seq, prev_seq, hash)
        SELECT u.seq, u.prev_seq, substring(h.bytes FROM ((u.n - 1) * ${linkHashBytes} + 1)::int FOR ${linkHashBytes})
        FROM (SELECT ${Buffer.concat(links.map((l) => l.hash))}::bytea AS bytes) AS h,
             unnest(${links.map((l) => l.seq)}::int8[], ${links.map((l) => l.prevSeq)}::int8[]) WITH ORDINALITY AS u(seq, prev_seq, n)
      `.execute(db);
    },

    async advance(head: ChainHead, renewCandidate) {
      if (renewCandidate) {
        await sql`
          UPDATE ledger_chain SET head_seq = ${head.seq}, head_hash = ${head.hash}, updated_at = now(),
            candidate_seq = (SELECT max(seq) FROM transfers), candidate_xmax = pg_snapshot_xmax(pg_current_snapshot())
        `.execute(db);
      } else {
        await sql`UPDATE ledger_chain SET head_seq = ${head.seq}, head_hash = ${head.hash}, updated_at = now()`.execute(db);
      }
    },
  };
}

export function ledgerAuditRepository(db: DbOrTx): LedgerAuditRepo {
  return {
    async ledgers() {
      return db.selectFrom('ledgers').select(['currency', 'scale']).orderBy('currency').execute();
    },

    async accounts() {
      return (await db.selectFrom('accounts').selectAll().orderBy('id').execute()).map(toAccount);
    },

    async transfersWithLinks(afterSeq, limit) {
      const rows = await sql<StoredRow & { link_seq: bigint | null; prev_seq: bigint | null; hash: Buffer | null }>`
        SELECT ${storedColumns}, l.seq AS link_seq, l.prev_seq, l.hash
        FROM transfers t LEFT JOIN transfer_links l ON l.seq = t.seq
        WHERE t.seq > ${afterSeq ?? -1n} ORDER BY t.seq LIMIT ${limit}
      `.execute(db);
      return rows.rows.map((r) => ({
        ...toStored(r),
        link: r.link_seq === null || r.hash === null ? null : { seq: r.link_seq, prevSeq: r.prev_seq, hash: r.hash },
      }));
    },

    async chainHead() {
      const r = await db.selectFrom('ledger_chain').select(['head_seq', 'head_hash']).executeTakeFirstOrThrow();
      return { seq: r.head_seq, hash: r.head_hash };
    },

    async linkCount() {
      const r = await sql<{ n: bigint }>`SELECT count(*) AS n FROM transfer_links`.execute(db);
      return r.rows[0]!.n;
    },

    async guards() {
      const rows = await sql<{ table: string; name: string; enabled: string }>`
        SELECT c.relname AS table, t.tgname AS name, t.tgenabled AS enabled
        FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
        WHERE NOT t.tgisinternal AND c.relname IN ('transfers', 'transfer_links', 'accounts') AND c.relnamespace = current_schema()::regnamespace
        ORDER BY c.relname, t.tgname
      `.execute(db);
      // 'D' is disabled; 'O', 'A', 'R' fire (origin, always, replica).
      return rows.rows.map((r) => ({ table: r.table, name: r.name, enabled: r.enabled !== 'D' }));
    },
  };
}

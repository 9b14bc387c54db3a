// Provider account holds (migration 0020): one row per account an admin ever held or closed by
// hand, changed under its row lock in the transaction that appends the audit event.
import { sql } from 'kysely';
import type { BreakerHoldRecord, BreakerHoldStore, BreakerHoldTx } from '../../application/breaker-holds.js';
import type { Rejection } from '../../domain/errors.js';
import type { Err } from '../../domain/result.js';
import type { Db, DbOrTx } from './database.js';
import { kyselyPersistence } from './persistence.js';

interface Row { account_id: string; held: boolean; reason: string; set_by: string; organisation_id: string; set_at: Date; revision: string }

const columns = sql.raw('account_id, held, reason, set_by, organisation_id, set_at, revision::text AS revision');
const toRecord = (r: Row): BreakerHoldRecord => ({
  accountId: r.account_id, held: r.held, reason: r.reason, setBy: r.set_by, organisationId: r.organisation_id, setAt: r.set_at, revision: BigInt(r.revision),
});

class Rollback extends Error {
  constructor(readonly result: Err<Rejection>) {
    super(`rolled back: ${result.error.code}`);
  }
}

function holdTx(trx: DbOrTx): BreakerHoldTx {
  return {
    repos: kyselyPersistence(trx as Db).read,
    async lock(accountId) {
      // An account never held has no row to lock yet: its key is locked instead (two first holds at once take turns).
      await sql`SELECT pg_advisory_xact_lock(hashtext(${`tuma:provider-account-hold:${accountId}`}))`.execute(trx);
      const { rows } = await sql<Row>`SELECT ${columns} FROM provider_account_holds WHERE account_id = ${accountId} FOR UPDATE`.execute(trx);
      return rows[0] ? toRecord(rows[0]) : null;
    },
    async put(r) {
      await sql`INSERT INTO provider_account_holds (account_id, held, reason, set_by, organisation_id, set_at, revision)
        VALUES (${r.accountId}, ${r.held}, ${r.reason}, ${r.setBy}, ${r.organisationId}, ${r.setAt}, ${r.revision.toString()}::int8)
        ON CONFLICT (account_id) DO UPDATE SET held = excluded.held, reason = excluded.reason, set_by = excluded.set_by,
          organisation_id = excluded.organisation_id, set_at = excluded.set_at, revision = excluded.revision`.execute(trx);
    },
  };
}

export function breakerHoldStore(db: Db): BreakerHoldStore {
  return {
    async transaction(work) {
      try {
        return await db.transaction().execute(async (trx) => {
          const result = await work(holdTx(trx));
          if (!result.ok) throw new Rollback(result);
          return result;
        });
      } catch (error) {
        if (error instanceof Rollback) return error.result;
        throw error;
      }
    },
    async get(accountId) {
      const { rows } = await sql<Row>`SELECT ${columns} FROM provider_account_holds WHERE account_id = ${accountId}`.execute(db);
      return rows[0] ? toRecord(rows[0]) : null;
    },
    async programmesOf(organisationId, programmeIds) {
      const { rows } = await sql<{ id: string }>`SELECT id FROM programmes WHERE organisation_id = ${organisationId} AND id = ANY(${[...programmeIds]}::text[])`.execute(db);
      return new Set(rows.map((r) => r.id));
    },
    async all() {
      const { rows } = await sql<Row>`SELECT ${columns} FROM provider_account_holds ORDER BY account_id`.execute(db);
      return rows.map(toRecord);
    },
  };
}

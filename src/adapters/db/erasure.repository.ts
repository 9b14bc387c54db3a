// The erasure's storage (migration 0018): requests and their one move, the programme's lock and
// what of it is still in flight, the data key's deletion, and the statement files no live
// programme needs. One SQL transaction per unit of work, with the repositories (the audit log) on
// the same transaction; an Err result rolls it back.
import { sql } from 'kysely';
import type { ErasureRequestRecord, ErasureStore, ErasureTx, ProgrammeErasureState, StatementFileOutcome } from '../../application/erase-programme.js';
import type { Rejection } from '../../domain/errors.js';
import type { Err } from '../../domain/result.js';
import type { Db, DbOrTx } from './database.js';
import { kyselyPersistence } from './persistence.js';

interface ProgrammeRow { id: string; organisation_id: string; retention_days: number | null; erased_at: Date | null; last_activity_at: Date | null }
interface RequestRow {
  id: string; programme_id: string; organisation_id: string; state: ErasureRequestRecord['state']; reason: string; requested_by: string; requested_at: Date;
  expires_at: Date; confirmed_by: string | null; confirmed_at: Date | null; payouts: string | null; data_key_destroyed: boolean | null;
}

const toProgramme = (r: ProgrammeRow): ProgrammeErasureState => ({
  programmeId: r.id, organisationId: r.organisation_id, retentionDays: r.retention_days, erasedAt: r.erased_at, lastActivityAt: r.last_activity_at,
});

const toRequest = (r: RequestRow): ErasureRequestRecord => ({
  erasureId: r.id, programmeId: r.programme_id, organisationId: r.organisation_id, state: r.state, reason: r.reason, requestedBy: r.requested_by,
  requestedAt: r.requested_at, expiresAt: r.expires_at, confirmedBy: r.confirmed_by, confirmedAt: r.confirmed_at,
  payouts: r.payouts === null ? null : BigInt(r.payouts), dataKeyDestroyed: r.data_key_destroyed,
});

const requestColumns = sql.raw(`id, programme_id, organisation_id, state, reason, requested_by, requested_at, expires_at, confirmed_by, confirmed_at,
  payouts::text AS payouts, data_key_destroyed`);

/** The payouts of the programme (batches_programme, then each batch's payouts). */
const payoutsOf = (programmeId: string) => sql`SELECT p.id FROM payouts p JOIN batches b ON b.id = p.batch_id WHERE b.programme_id = ${programmeId}`;

async function programmeOf(db: DbOrTx, programmeId: string, lock: boolean): Promise<ProgrammeErasureState | null> {
  const { rows } = await sql<ProgrammeRow>`
    SELECT p.id, p.organisation_id, p.retention_days, p.erased_at,
           (SELECT max(b.updated_at) FROM batches b WHERE b.programme_id = p.id) AS last_activity_at
    FROM programmes p WHERE p.id = ${programmeId} ${lock ? sql`FOR UPDATE OF p` : sql``}`.execute(db);
  return rows[0] ? toProgramme(rows[0]) : null;
}

function erasureTx(trx: DbOrTx): ErasureTx {
  return {
    repos: kyselyPersistence(trx as Db).read,

    lockProgramme: (programmeId) => programmeOf(trx, programmeId, true),

    async workInFlight(programmeId) {
      const { rows } = await sql<{ batches: number; payouts: number; decisions: number }>`
        SELECT
          (SELECT count(*) FROM batches WHERE programme_id = ${programmeId} AND state IN ('received', 'awaiting_approval', 'approved', 'dispatching'))::int AS batches,
          (SELECT count(*) FROM payouts p JOIN batches b ON b.id = p.batch_id WHERE b.programme_id = ${programmeId}
             AND (p.state NOT IN ('paid', 'failed', 'cancelled', 'reversed') OR (p.state = 'paid' AND p.status_check_at IS NOT NULL)))::int AS payouts,
          (SELECT count(*) FROM reconciliation_decisions d
             LEFT JOIN statement_lines l ON l.statement_id = d.statement_id
               AND l.line_no = CASE WHEN d.item_id LIKE 'line-%' THEN substring(d.item_id FROM 6)::int END
             JOIN payouts p ON p.id = coalesce(l.payout_id, CASE WHEN d.item_id LIKE 'payout-%' THEN substring(d.item_id FROM 8)::uuid END)
             JOIN batches b ON b.id = p.batch_id
           WHERE d.state = 'awaiting_approval' AND b.programme_id = ${programmeId})::int AS decisions`.execute(trx);
      return rows[0]!;
    },

    async liveRequest(programmeId) {
      const { rows } = await sql<RequestRow>`SELECT ${requestColumns} FROM programme_erasures
        WHERE programme_id = ${programmeId} AND state <> 'expired' FOR UPDATE`.execute(trx);
      return rows[0] ? toRequest(rows[0]) : null;
    },

    async insertRequest(r) {
      await sql`INSERT INTO programme_erasures (id, programme_id, organisation_id, state, reason, requested_by, requested_at, request_id, expires_at)
        VALUES (${r.erasureId}, ${r.programmeId}, ${r.organisationId}, 'awaiting_confirmation', ${r.reason}, ${r.requestedBy}, ${r.requestedAt}, ${r.requestId}, ${r.expiresAt})`.execute(trx);
    },

    async expireRequest(erasureId) {
      await sql`UPDATE programme_erasures SET state = 'expired' WHERE id = ${erasureId} AND state = 'awaiting_confirmation'`.execute(trx);
    },

    async confirmRequest(erasureId, c) {
      const r = await sql`UPDATE programme_erasures
        SET state = 'erased', confirmed_by = ${c.by}, confirmed_at = ${c.at}, confirm_request_id = ${c.requestId}, payouts = ${c.payouts.toString()}, data_key_destroyed = ${c.dataKeyDestroyed}
        WHERE id = ${erasureId} AND state = 'awaiting_confirmation'`.execute(trx);
      if (Number(r.numAffectedRows ?? 0) !== 1) throw new Error(`invariant violated: erasure request ${erasureId} awaited confirmation under its lock`);
    },

    async countPayouts(programmeId) {
      const { rows } = await sql<{ n: string }>`SELECT count(*)::text AS n FROM (${payoutsOf(programmeId)}) x`.execute(trx);
      return BigInt(rows[0]!.n);
    },

    async markErased(programmeId, at) {
      await sql`UPDATE programmes SET erased_at = ${at}, updated_at = now() WHERE id = ${programmeId} AND erased_at IS NULL`.execute(trx);
    },

    async destroyDataKey(programmeId) {
      const r = await sql`DELETE FROM data_keys WHERE programme_id = ${programmeId}`.execute(trx);
      return Number(r.numAffectedRows ?? 0) === 1;
    },

    async statementsHoldingFiles(programmeId) {
      // The statements naming a payout of the programme: by a line, or as a ledger payout of their period no line names.
      const { rows } = await sql<{ statement_id: string; programmes_not_erased: number }>`
        WITH mine AS (${payoutsOf(programmeId)}),
        -- Where each payout was sent, and the reference the provider gave it.
        sent AS (
          SELECT DISTINCT a.account_id, p.id, p.provider_reference AS ref FROM mine m JOIN payouts p ON p.id = m.id JOIN payout_attempts a ON a.payout_id = p.id
        ),
        -- A line names a payout by its provider reference (a payout or charge line's transaction
        -- id, a charge or reversal line's linked id) or, marked so, by our reference.
        named AS (
          SELECT l.statement_id FROM sent x JOIN statement_lines l ON l.account_id = x.account_id AND l.provider_transaction_id = x.ref AND l.payout_id = x.id
          UNION
          SELECT l.statement_id FROM sent x JOIN statement_lines l ON l.account_id = x.account_id AND l.linked_transaction_id = x.ref AND l.payout_id = x.id
          UNION
          SELECT l.statement_id FROM statement_lines l WHERE l.matched_by_our_reference AND l.payout_id IN (SELECT id FROM mine)
          UNION
          SELECT r.statement_id FROM reconciliation_payouts r WHERE r.payout_id IN (SELECT id FROM mine)
        )
        SELECT s.id AS statement_id,
          (SELECT count(DISTINCT b.programme_id) FROM (
             SELECT l.payout_id FROM statement_lines l WHERE l.statement_id = s.id AND l.payout_id IS NOT NULL
             UNION
             SELECT r.payout_id FROM reconciliation_payouts r WHERE r.statement_id = s.id
           ) x JOIN payouts p ON p.id = x.payout_id JOIN batches b ON b.id = p.batch_id JOIN programmes pr ON pr.id = b.programme_id
           WHERE pr.erased_at IS NULL)::int AS programmes_not_erased
        FROM statements s
        WHERE s.id IN (SELECT statement_id FROM named) AND s.file_erased_at IS NULL
        ORDER BY s.id
        FOR UPDATE OF s`.execute(trx);
      return rows.map((r) => ({ statementId: r.statement_id, programmesNotErased: r.programmes_not_erased }));
    },

    async eraseStatementFile(statementId, at) {
      await sql`UPDATE statements SET file_erased_at = ${at} WHERE id = ${statementId} AND file_erased_at IS NULL`.execute(trx);
      const deleted = await sql`DELETE FROM statement_files WHERE statement_id = ${statementId}`.execute(trx);
      // Erasures that had to keep it (shared with this programme) now see it erased.
      await sql`UPDATE programme_erasure_statements SET outcome = 'file_erased', programmes_not_erased = 0, at = ${at}
        WHERE statement_id = ${statementId} AND outcome = 'file_kept_shared'`.execute(trx);
      return Number(deleted.numAffectedRows ?? 0);
    },

    async recordStatementOutcome(erasureId, o, at) {
      await sql`INSERT INTO programme_erasure_statements (erasure_id, statement_id, outcome, programmes_not_erased, at)
        VALUES (${erasureId}, ${o.statementId}, ${o.outcome}, ${o.programmesNotErased}, ${at})
        ON CONFLICT (erasure_id, statement_id) DO UPDATE SET outcome = excluded.outcome, programmes_not_erased = excluded.programmes_not_erased, at = excluded.at`.execute(trx);
    },

    async setRetention(programmeId, days) {
      await sql`UPDATE programmes SET retention_days = ${days}, updated_at = now() WHERE id = ${programmeId}`.execute(trx);
    },
  };
}

class Rollback extends Error {
  constructor(readonly result: Err<Rejection>) {
    super(`rolled back: ${result.error.code}`);
  }
}

export function erasureStore(db: Db): ErasureStore {
  return {
    async transaction(work) {
      try {
        return await db.transaction().execute(async (trx) => {
          const result = await work(erasureTx(trx));
          if (!result.ok) throw new Rollback(result);
          return result;
        });
      } catch (error) {
        if (error instanceof Rollback) return error.result;
        throw error;
      }
    },

    programme: (programmeId) => programmeOf(db, programmeId, false),

    async latestRequest(programmeId) {
      const { rows } = await sql<RequestRow>`SELECT ${requestColumns} FROM programme_erasures
        WHERE programme_id = ${programmeId} ORDER BY requested_at DESC, id DESC LIMIT 1`.execute(db);
      return rows[0] ? toRequest(rows[0]) : null;
    },

    async pastRetention(organisationId, at, afterId, limit) {
      const { rows } = await sql<ProgrammeRow & { awaiting: boolean }>`
        SELECT p.id, p.organisation_id, p.retention_days, p.erased_at, a.last_activity_at,
               EXISTS (SELECT 1 FROM programme_erasures e WHERE e.programme_id = p.id AND e.state = 'awaiting_confirmation' AND e.expires_at > ${at}) AS awaiting
        FROM programmes p
        CROSS JOIN LATERAL (SELECT max(b.updated_at) AS last_activity_at FROM batches b WHERE b.programme_id = p.id) a
        WHERE p.organisation_id = ${organisationId} AND p.erased_at IS NULL AND p.retention_days IS NOT NULL
          AND p.id > ${afterId ?? ''} AND a.last_activity_at + p.retention_days * interval '1 day' <= ${at}
        ORDER BY p.id LIMIT ${limit}`.execute(db);
      return rows.map((r) => ({ ...toProgramme(r), awaitingConfirmation: r.awaiting }));
    },

    async countPastRetention(at) {
      const { rows } = await sql<{ n: number }>`
        SELECT count(*)::int AS n FROM programmes p
        CROSS JOIN LATERAL (SELECT max(b.updated_at) AS last_activity_at FROM batches b WHERE b.programme_id = p.id) a
        WHERE p.erased_at IS NULL AND p.retention_days IS NOT NULL AND a.last_activity_at + p.retention_days * interval '1 day' <= ${at}`.execute(db);
      return rows[0]!.n;
    },

    async statementOutcomes(programmeId, limit) {
      const { rows } = await sql<{ statement_id: string; outcome: StatementFileOutcome['outcome']; programmes_not_erased: number }>`
        SELECT o.statement_id, o.outcome, o.programmes_not_erased
        FROM programme_erasure_statements o JOIN programme_erasures e ON e.id = o.erasure_id
        WHERE e.programme_id = ${programmeId} AND e.state = 'erased'
        ORDER BY o.statement_id LIMIT ${limit}`.execute(db);
      return rows.map((r) => ({ statementId: r.statement_id, outcome: r.outcome, programmesNotErased: r.programmes_not_erased }));
    },
  };
}

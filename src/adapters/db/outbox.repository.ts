// The results outbox and the raw callbacks store.
import { sql } from 'kysely';
import type { CallbackRepo, NewCallback, NewResult, PayoutDifference, ResultRepo } from '../../application/ports.js';
import type { DbOrTx } from './database.js';

const resultRow = (r: NewResult) => ({
  id: r.id,
  payout_id: r.payoutId,
  batch_id: r.batchId,
  outcome: r.outcome,
  reason_code: r.reasonCode,
  provider_reference: r.providerReference,
  source: r.source,
  attempt_no: r.attemptNo,
  fee_minor: r.feeMinor ?? null,
  detail: r.differences && r.differences.length > 0 ? JSON.stringify(r.differences) : null,
});

/** A held result's differences as stored; null for anything unreadable (a result stays publishable). */
function differencesOf(detail: string | null): PayoutDifference[] | null {
  if (detail === null) return null;
  try {
    const parsed: unknown = JSON.parse(detail);
    return Array.isArray(parsed) ? parsed.filter((d): d is PayoutDifference => !!d && typeof d.kind === 'string' && typeof d.detail === 'string') : null;
  } catch {
    return null;
  }
}

export function resultRepository(db: DbOrTx): ResultRepo {
  return {
    async insert(r) {
      const inserted = await db
        .insertInto('payout_results')
        .values(resultRow(r))
        .onConflict((oc) => oc.column('id').doNothing())
        .returning('id')
        .executeTakeFirst();
      return inserted !== undefined;
    },

    async insertMany(results) {
      if (results.length === 0) return;
      await db
        .insertInto('payout_results')
        .values(results.map(resultRow))
        .onConflict((oc) => oc.column('id').doNothing())
        .execute();
    },

    async claimUnpublished(limit) {
      const rows = await db
        .selectFrom('payout_results')
        .selectAll()
        .where('published_at', 'is', null)
        .orderBy('created_at')
        .orderBy('id')
        .limit(limit)
        .modifyEnd(sql`FOR UPDATE SKIP LOCKED`)
        .execute();
      return rows.map((r) => ({
        id: r.id,
        payoutId: r.payout_id,
        batchId: r.batch_id,
        outcome: r.outcome,
        reasonCode: r.reason_code,
        providerReference: r.provider_reference,
        source: r.source,
        attemptNo: r.attempt_no,
        feeMinor: r.fee_minor,
        differences: differencesOf(r.detail),
      }));
    },

    async republishUnapplied() {
      const r = await sql`
        UPDATE payout_results r SET published_at = NULL FROM payouts p
        WHERE p.id = r.payout_id AND r.published_at IS NOT NULL
          AND (p.state IN ('submitting', 'submitted', 'unknown') OR (p.state = 'paid' AND r.outcome = 'reversed'))
      `.execute(db);
      return Number(r.numAffectedRows ?? 0n);
    },

    async markPublished(ids) {
      if (ids.length === 0) return;
      await db.updateTable('payout_results').set({ published_at: sql`now()` }).where('id', '=', sql<string>`ANY(${ids}::uuid[])`).execute();
    },
  };
}

const callbackRow = (c: NewCallback) => ({
  provider: c.provider,
  scope: c.scope,
  authenticated: c.authenticated,
  dedupe_key: c.dedupeKey,
  payout_id: c.payoutId,
  raw_body_enc: c.rawBodyEnc,
});

export function callbackRepository(db: DbOrTx): CallbackRepo {
  return {
    async insert(callback) {
      const inserted = await db
        .insertInto('callbacks')
        .values(callbackRow(callback))
        .onConflict((oc) => oc.columns(['provider', 'scope', 'dedupe_key']).doNothing())
        .returning('id')
        .executeTakeFirst();
      return inserted !== undefined;
    },

    async insertMany(callbacks) {
      if (callbacks.length === 0) return [];
      const rows = await db
        .insertInto('callbacks')
        .values(callbacks.map(callbackRow))
        .onConflict((oc) => oc.columns(['provider', 'scope', 'dedupe_key']).doNothing())
        .returning(['provider', 'scope', 'dedupe_key'])
        .execute();
      // Of two equal callbacks in one statement, PostgreSQL stores the first: the first is the fresh one.
      const stored = new Set(rows.map((r) => `${r.provider}\u0000${r.scope}\u0000${r.dedupe_key}`));
      return callbacks.map((c) => stored.delete(`${c.provider}\u0000${c.scope}\u0000${c.dedupeKey}`));
    },

    async purgeUnauthenticatedOrphans(before, limit) {
      // The predicate of the partial index callbacks_unauthenticated_orphans.
      const r = await sql`
        DELETE FROM callbacks WHERE id IN (
          SELECT id FROM callbacks WHERE payout_id IS NULL AND NOT authenticated AND received_at < ${before}::timestamptz
          ORDER BY received_at LIMIT ${limit}
        )
      `.execute(db);
      return Number(r.numAffectedRows ?? 0n);
    },

    async listOrphans(afterId, limit) {
      // The predicate and order of the partial index callbacks_orphans.
      const rows = await db
        .selectFrom('callbacks')
        .select(['id', 'provider', 'dedupe_key', 'received_at'])
        .where('payout_id', 'is', null)
        .where('id', '>', afterId)
        .orderBy('id')
        .limit(limit)
        .execute();
      return rows.map((r) => ({ id: r.id, provider: r.provider, dedupeKey: r.dedupe_key, receivedAt: r.received_at }));
    },
  };
}

// The results outbox and the raw callbacks store.
import { sql } from 'kysely';
import type { CallbackRepo, ResultRepo } from '../../application/ports.js';
import type { DbOrTx } from './database.js';

export function resultRepository(db: DbOrTx): ResultRepo {
  return {
    async insert(r) {
      const inserted = await db
        .insertInto('payout_results')
        .values({
          id: r.id,
          payout_id: r.payoutId,
          batch_id: r.batchId,
          outcome: r.outcome,
          reason_code: r.reasonCode,
          provider_reference: r.providerReference,
          source: r.source,
        })
        .onConflict((oc) => oc.column('id').doNothing())
        .returning('id')
        .executeTakeFirst();
      return inserted !== undefined;
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
      }));
    },

    async markPublished(ids) {
      if (ids.length === 0) return;
      await db.updateTable('payout_results').set({ published_at: sql`now()` }).where('id', 'in', ids).execute();
    },
  };
}

export function callbackRepository(db: DbOrTx): CallbackRepo {
  return {
    async insert(provider, dedupeKey, payoutId, rawBodyEnc) {
      const inserted = await db
        .insertInto('callbacks')
        .values({ provider, dedupe_key: dedupeKey, payout_id: payoutId, raw_body_enc: rawBodyEnc })
        .onConflict((oc) => oc.columns(['provider', 'dedupe_key']).doNothing())
        .returning('id')
        .executeTakeFirst();
      return inserted !== undefined;
    },
  };
}

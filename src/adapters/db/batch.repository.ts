import { sql } from 'kysely';
import type { BatchRecord, BatchRepo } from '../../application/ports.js';
import type { CurrencyCode } from '../../domain/currency.js';
import type { BatchState, PayoutState } from '../../domain/payout-state.js';
import type { DbOrTx } from './database.js';

export function batchRepository(db: DbOrTx): BatchRepo {
  return {
    async findSignerKey(kid) {
      const r = await db.selectFrom('signer_keys').selectAll().where('kid', '=', kid).executeTakeFirst();
      return r
        ? {
            kid: r.kid,
            organisationId: r.organisation_id,
            role: r.role,
            alg: r.alg,
            publicJwk: r.public_jwk,
            notBefore: r.not_before,
            notAfter: r.not_after,
            revokedAt: r.revoked_at,
          }
        : null;
    },

    async findProgramme(programmeId) {
      const r = await db.selectFrom('programmes').selectAll().where('id', '=', programmeId).executeTakeFirst();
      return r ? { id: r.id, organisationId: r.organisation_id, currency: r.currency as CurrencyCode, approvalsRequired: r.approvals_required } : null;
    },

    async find(batchId) {
      const r = await db
        .selectFrom('batches')
        .select(['id', 'organisation_id', 'programme_id', 'currency', 'state', 'payout_count', 'total_minor', 'payload_sha256', 'received_at'])
        .where('id', '=', batchId)
        .executeTakeFirst();
      if (!r) return null;
      const record: BatchRecord = {
        id: r.id,
        organisationId: r.organisation_id,
        programmeId: r.programme_id,
        currency: r.currency as CurrencyCode,
        state: r.state as BatchState,
        payoutCount: r.payout_count,
        totalMinor: r.total_minor,
        payloadSha256: r.payload_sha256,
        receivedAt: r.received_at,
      };
      return record;
    },

    async insert(b) {
      const inserted = await db
        .insertInto('batches')
        .values({
          id: b.id,
          organisation_id: b.organisationId,
          programme_id: b.programmeId,
          currency: b.currency,
          state: b.state,
          payout_count: b.payoutCount,
          total_minor: b.totalMinor,
          payload_enc: b.payloadEnc,
          payload_sha256: b.payloadSha256,
          signatures: JSON.stringify(b.signatures),
          maker_kid: b.makerKid,
          document_created_at: b.documentCreatedAt,
          expires_at: b.expiresAt,
        })
        .onConflict((oc) => oc.column('id').doNothing())
        .returning('id')
        .executeTakeFirst();
      return inserted !== undefined;
    },

    async setState(batchId, to) {
      await db.updateTable('batches').set({ state: to, updated_at: sql`now()` }).where('id', '=', batchId).execute();
    },

    async payoutCounts(batchId) {
      const rows = await db
        .selectFrom('payouts')
        .select((eb) => ['state', eb.fn.countAll<string>().as('n'), eb.fn.sum<bigint | string>('amount_minor').as('amount')])
        .where('batch_id', '=', batchId)
        .groupBy('state')
        .orderBy('state')
        .execute();
      return rows.map((r) => ({ state: r.state as PayoutState, count: Number(r.n), amountMinor: BigInt(r.amount) }));
    },
  };
}

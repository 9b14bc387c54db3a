import { sql } from 'kysely';
import type { PayoutRecord, PayoutRepo } from '../../application/ports.js';
import type { CurrencyCode } from '../../domain/currency.js';
import { settledPayoutStates, type BatchState, type PayoutState } from '../../domain/payout-state.js';
import type { ProviderId } from '../../domain/providers.js';
import type { DbOrTx } from './database.js';
import { assert } from '../../domain/result.js';
import { blindIndexBytes } from '../crypto/aead.mjs';

/** Rows per INSERT statement at most (8 array parameters each): bounds one protocol message. */
export const insertChunkRowsMax = 10_000;

const payoutColumns = [
  'p.id', 'p.row_no', 'p.batch_id', 'b.programme_id', 'b.organisation_id', 'p.ref', 'p.provider', 'p.currency', 'p.amount_minor',
  'p.state', 'b.state as batch_state', 'p.attempt_count', 'p.provider_reference', 'p.failure_code', 'p.updated_at',
] as const;

export function selectPayouts(db: DbOrTx) {
  return db.selectFrom('payouts as p').innerJoin('batches as b', 'b.id', 'p.batch_id').select(payoutColumns);
}

type PayoutSelection = Awaited<ReturnType<ReturnType<typeof selectPayouts>['executeTakeFirstOrThrow']>>;

export const toPayoutRecord = (r: PayoutSelection): PayoutRecord => ({
  id: r.id,
  rowNo: r.row_no,
  batchId: r.batch_id,
  programmeId: r.programme_id,
  organisationId: r.organisation_id,
  ref: r.ref,
  provider: r.provider as ProviderId,
  currency: r.currency as CurrencyCode,
  amountMinor: r.amount_minor,
  state: r.state as PayoutState,
  batchState: r.batch_state as BatchState,
  attemptCount: r.attempt_count,
  providerReference: r.provider_reference,
  failureCode: r.failure_code,
  updatedAt: r.updated_at,
});

export function payoutRepository(db: DbOrTx): PayoutRepo {
  return {
    async insertMany(batchId, currency, state, chunks) {
      // One statement per chunk: each plain column one array parameter, and every sealed value of
      // the chunk in one binary bytea parameter that the statement slices (no hex text either way).
      // The statement for chunk k is sent before chunk k+1 is pulled, so the server writes one chunk
      // while this process produces the next (validation, sealing: see the caller).
      let inserted = 0;
      let writing: Promise<unknown> | null = null;
      for await (const chunk of chunks) {
        if (writing) await writing;
        const n = chunk.ids.length;
        if (n === 0) continue;
        assert(n <= insertChunkRowsMax && chunk.rows.length === n && chunk.sealed.spans.length === n * 3, `a payout chunk has at most ${insertChunkRowsMax} rows, each sealed`);
        const at: number[] = new Array(n);
        const msisdnLen: number[] = new Array(n);
        const nameLen: (number | null)[] = new Array(n);
        for (let i = 0; i < n; i++) {
          at[i] = chunk.sealed.spans[i * 3]! + 1; // SQL substring counts from 1
          msisdnLen[i] = chunk.sealed.spans[i * 3 + 1]!;
          const name = chunk.sealed.spans[i * 3 + 2]!;
          nameLen[i] = name < 0 ? null : name;
        }
        writing = sql`
          INSERT INTO payouts (id, batch_id, row_no, ref, provider, currency, amount_minor, msisdn_enc, msisdn_hash, name_enc, state)
          SELECT u.id, ${batchId}::uuid, u.row_no, u.ref, u.provider, ${currency}, u.amount_minor,
                 substring(s.bytes FROM u.at FOR u.msisdn_len),
                 substring(s.bytes FROM u.at + u.msisdn_len FOR ${blindIndexBytes}),
                 substring(s.bytes FROM u.at + u.msisdn_len + ${blindIndexBytes} FOR u.name_len),
                 ${state}
          FROM (SELECT ${chunk.sealed.bytes}::bytea AS bytes) AS s,
               unnest(${chunk.ids}::uuid[], ${chunk.rows.map((p) => p.rowNo)}::int4[], ${chunk.rows.map((p) => p.ref)}::text[],
                      ${chunk.rows.map((p) => p.provider)}::text[], ${chunk.rows.map((p) => p.amountMinor.toString())}::int8[],
                      ${at}::int4[], ${msisdnLen}::int4[], ${nameLen}::int4[])
            AS u(id, row_no, ref, provider, amount_minor, at, msisdn_len, name_len)
        `.execute(db);
        writing.catch(() => undefined); // awaited before the next statement or at the end
        inserted += n;
        // Let the statement reach the socket before the next chunk's CPU-bound work starts.
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      if (writing) await writing;
      // No transition row per payout: its first state and when are the row's own (state, created_at).
      return inserted;
    },

    async find(payoutId) {
      const row = await selectPayouts(db).where('p.id', '=', payoutId).executeTakeFirst();
      return row ? toPayoutRecord(row) : null;
    },

    async lock(payoutId) {
      const row = await selectPayouts(db).where('p.id', '=', payoutId).modifyEnd(sql`FOR UPDATE OF p`).executeTakeFirst();
      return row ? toPayoutRecord(row) : null;
    },

    async claimAccepted(batchId, limit) {
      const rows = await selectPayouts(db)
        .where('p.batch_id', '=', batchId)
        .where('p.state', '=', 'accepted')
        .orderBy('p.row_no')
        .limit(limit)
        .modifyEnd(sql`FOR UPDATE OF p SKIP LOCKED`)
        .execute();
      return rows.map(toPayoutRecord);
    },

    async move(payoutIds, from, to, cause, fields = {}) {
      if (payoutIds.length === 0) return;
      const result = await db
        .updateTable('payouts')
        .set({
          state: to,
          updated_at: sql`now()`,
          ...(fields.providerReference !== undefined ? { provider_reference: fields.providerReference } : {}),
          ...(fields.failureCode !== undefined ? { failure_code: fields.failureCode } : {}),
          ...(fields.attemptCount !== undefined ? { attempt_count: fields.attemptCount } : {}),
        })
        .where('id', 'in', payoutIds)
        .where('state', '=', from)
        .executeTakeFirst();
      if (result.numUpdatedRows !== BigInt(payoutIds.length)) {
        throw new Error(`invariant violated: moving ${payoutIds.length} payouts ${from} → ${to} updated ${result.numUpdatedRows}`);
      }
      await db
        .insertInto('payout_transitions')
        .values(payoutIds.map((id) => ({ payout_id: id, from_state: from, to_state: to, cause })))
        .execute();
    },

    async unsettledCount(batchId) {
      const row = await db
        .selectFrom('payouts')
        .select((eb) => eb.fn.countAll<string>().as('n'))
        .where('batch_id', '=', batchId)
        .where('state', 'not in', settledPayoutStates)
        .executeTakeFirstOrThrow();
      return Number(row.n);
    },

    async sealedMsisdn(payoutId) {
      const row = await db.selectFrom('payouts').select('msisdn_enc').where('id', '=', payoutId).executeTakeFirst();
      return row?.msisdn_enc ?? null;
    },

    async insertAttempt(payoutId, attemptNo, idempotencyKey, callbackTokenSha256) {
      await db
        .insertInto('payout_attempts')
        .values({ payout_id: payoutId, attempt_no: attemptNo, idempotency_key: idempotencyKey, callback_token_sha256: callbackTokenSha256 })
        .execute();
    },

    async setAttemptOutcome(payoutId, attemptNo, outcome, conversationId, detail) {
      await db
        .updateTable('payout_attempts')
        .set({ outcome, provider_conversation_id: conversationId, detail, updated_at: sql`now()` })
        .where('payout_id', '=', payoutId)
        .where('attempt_no', '=', attemptNo)
        .execute();
    },

    async findAttemptByToken(callbackTokenSha256) {
      const row = await db
        .selectFrom('payout_attempts')
        .select(['payout_id', 'attempt_no', 'idempotency_key'])
        .where('callback_token_sha256', '=', callbackTokenSha256)
        .executeTakeFirst();
      return row ? { payoutId: row.payout_id, attemptNo: row.attempt_no, idempotencyKey: row.idempotency_key } : null;
    },
  };
}

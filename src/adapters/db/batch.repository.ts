import { CompiledQuery, sql, type Selectable } from 'kysely';
import type pg from 'pg';
import type { ApprovalRecord, BatchRecord, BatchRepo, ProgrammeRecord, RejectionRecord, SignerKeyRecord } from '../../application/ports.js';
import type { CurrencyCode } from '../../domain/currency.js';
import type { RowError } from '../../domain/errors.js';
import type { BatchState, PayoutState } from '../../domain/payout-state.js';
import type { ProviderId } from '../../domain/providers.js';
import type { BatchesTable, DbOrTx, ProgrammesTable, SignerKeysTable } from './database.js';
import { selectPayouts, toPayoutRecord } from './payout.repository.js';

export const toSignerKey = (r: Selectable<SignerKeysTable>): SignerKeyRecord => ({
  kid: r.kid,
  organisationId: r.organisation_id,
  role: r.role,
  alg: r.alg,
  publicJwk: r.public_jwk,
  notBefore: r.not_before,
  notAfter: r.not_after,
  revokedAt: r.revoked_at,
  holder: r.holder,
  createdAt: r.created_at,
});

export const toProgramme = (r: Selectable<ProgrammesTable>): ProgrammeRecord => ({
  id: r.id,
  organisationId: r.organisation_id,
  currency: r.currency as CurrencyCode,
  approvalsRequired: r.approvals_required,
  policy: {
    tiers: [{ fromMinor: 0n, approvers: r.approvals_required }, ...r.approval_tiers.map((t) => ({ fromMinor: BigInt(t.fromMinor), approvers: t.approvers }))],
    providers: r.providers as ProviderId[],
    payoutMaxMinor: r.payout_max_minor,
    rowErrors: r.row_errors,
  },
  erasedAt: r.erased_at ?? null,
});

const batchColumns = [
  'id', 'organisation_id', 'programme_id', 'currency', 'state', 'payout_count', 'total_minor', 'payload_sha256', 'received_at',
  'approvals_required', 'maker_kid', 'submitted_by', 'expires_at', 'rejected_rows',
] as const;

type BatchSelection = Pick<Selectable<BatchesTable>, (typeof batchColumns)[number]>;

const toBatch = (r: BatchSelection): BatchRecord => ({
  id: r.id,
  organisationId: r.organisation_id,
  programmeId: r.programme_id,
  currency: r.currency as CurrencyCode,
  state: r.state as BatchState,
  payoutCount: r.payout_count,
  totalMinor: r.total_minor,
  payloadSha256: r.payload_sha256,
  receivedAt: r.received_at,
  approvalsRequired: r.approvals_required,
  makerKid: r.maker_kid,
  submittedBy: r.submitted_by,
  expiresAt: r.expires_at,
  rejectedRows: r.rejected_rows as RowError[],
});

type BatchViewRow = BatchSelection & { count_providers: string[] | null; count_states: string[] | null; count_ns: number[] | null; count_amounts: string[] | null; approval_kids: string[] | null; approval_ats: Date[] | null };

/**
 * GET /v1/batches/{id}'s one statement (one snapshot, one round trip; a prepared statement outside
 * a transaction): the batch, its payouts counted by provider and state when $2 (one GROUP BY over the
 * batch's payouts, found by the (batch_id, state) index: the sums read each row anyway, so grouping
 * by provider too costs no more reads; amounts summed as text, exact), its approvals oldest first.
 * $1: the batch id.
 */
const batchViewSql = `
  SELECT ${batchColumns.map((c) => `b.${c}`).join(', ')},
         c.providers AS count_providers, c.states AS count_states, c.ns AS count_ns, c.amounts AS count_amounts, a.kids AS approval_kids, a.ats AS approval_ats
  FROM batches b
  LEFT JOIN LATERAL (
    SELECT array_agg(g.provider ORDER BY g.provider, g.state) AS providers, array_agg(g.state ORDER BY g.provider, g.state) AS states,
           array_agg(g.n ORDER BY g.provider, g.state) AS ns, array_agg(g.amount ORDER BY g.provider, g.state) AS amounts
    FROM (SELECT provider, state, count(*)::int AS n, sum(amount_minor)::text AS amount FROM payouts WHERE batch_id = b.id AND $2::boolean GROUP BY provider, state) g
  ) c ON true
  LEFT JOIN LATERAL (
    SELECT array_agg(kid ORDER BY approved_at, kid) AS kids, array_agg(approved_at ORDER BY approved_at, kid) AS ats FROM batch_approvals WHERE batch_id = b.id
  ) a ON true
  WHERE b.id = $1`;

/** Bytes of a stored batch payload read per result row. */
export const payloadReadSliceBytes = 1024 * 1024;

/** Payouts not yet handed to a provider: what a cancellation may still stop. */
const cancellableStates: readonly PayoutState[] = ['accepted', 'queued'];

/** `pool` (optional): the same database's pg pool, for the prepared statement of GET /v1/batches/{id} outside a transaction. */
export function batchRepository(db: DbOrTx, pool?: pg.Pool): BatchRepo {
  return {
    async findSignerKey(kid) {
      const r = await db.selectFrom('signer_keys').selectAll().where('kid', '=', kid).executeTakeFirst();
      return r ? toSignerKey(r) : null;
    },

    async findProgramme(programmeId) {
      const r = await db.selectFrom('programmes').selectAll().where('id', '=', programmeId).executeTakeFirst();
      return r ? toProgramme(r) : null;
    },

    async find(batchId) {
      const r = await db.selectFrom('batches').select(batchColumns).where('id', '=', batchId).executeTakeFirst();
      return r ? toBatch(r) : null;
    },

    async lock(batchId) {
      const r = await db.selectFrom('batches').select(batchColumns).where('id', '=', batchId).forUpdate().executeTakeFirst();
      return r ? toBatch(r) : null;
    },

    async sealedPayload(batchId) {
      // Read in slices, one row each: a 100,000-payout payload is some 20 MB as hex text, and the
      // driver reassembles one huge message far more slowly than it reads many small ones.
      const r = await sql<{ part: Buffer }>`
        SELECT substring(b.payload_enc FROM s.at FOR ${payloadReadSliceBytes}) AS part
        FROM batches b CROSS JOIN LATERAL generate_series(1, greatest(octet_length(b.payload_enc), 1), ${payloadReadSliceBytes}) AS s(at)
        WHERE b.id = ${batchId}
        ORDER BY s.at
      `.execute(db);
      return r.rows.length === 0 ? null : Buffer.concat(r.rows.map((x) => x.part));
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
          approvals_required: b.approvalsRequired,
          submitted_by: b.submittedBy,
          rejected_rows: JSON.stringify(b.rejectedRows),
        })
        .onConflict((oc) => oc.column('id').doNothing())
        .returning('id')
        .executeTakeFirst();
      return inserted !== undefined;
    },

    async complete(batchId, c) {
      await db
        .updateTable('batches')
        .set({ payout_count: c.payoutCount, total_minor: c.totalMinor, approvals_required: c.approvalsRequired, rejected_rows: JSON.stringify(c.rejectedRows) })
        .where('id', '=', batchId)
        .execute();
    },

    async setState(batchId, to) {
      await db.updateTable('batches').set({ state: to, updated_at: sql`now()` }).where('id', '=', batchId).execute();
    },

    async markCancelled(batchId, by, reason, state) {
      await db.updateTable('batches').set({ state, cancelled_by: by, cancel_reason: reason, updated_at: sql`now()` }).where('id', '=', batchId).execute();
    },

    async expiredAwaitingApproval(now, limit) {
      const rows = await db.selectFrom('batches').select('id').where('state', '=', 'awaiting_approval').where('expires_at', '<=', now).orderBy('expires_at').limit(limit).execute();
      return rows.map((r) => r.id);
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

    async view(batchId, withCounts) {
      const r = pool && !db.isTransaction
        ? await pool.query<BatchViewRow>({ name: 'tuma_batch_view_v2', text: batchViewSql, values: [batchId, withCounts] })
        : await db.executeQuery<BatchViewRow>(CompiledQuery.raw(batchViewSql, [batchId, withCounts]));
      const row = r.rows[0];
      if (!row) return null;
      const kids = row.approval_kids ?? [];
      return {
        batch: toBatch(row),
        counts: withCounts
          ? (row.count_states ?? []).map((state, i) => ({ provider: row.count_providers![i]!, state: state as PayoutState, count: row.count_ns![i]!, amountMinor: BigInt(row.count_amounts![i]!) }))
          : null,
        approvals: kids.map((kid, i) => ({ kid, approvedAt: row.approval_ats![i]! })),
      };
    },

    async approvals(batchId) {
      const rows = await db.selectFrom('batch_approvals').selectAll().where('batch_id', '=', batchId).orderBy('approved_at').orderBy('kid').execute();
      return rows.map((r): ApprovalRecord => ({ kid: r.kid, protected: r.protected, signature: r.signature, approvedBy: r.approved_by, approvedAt: r.approved_at }));
    },

    async insertApprovals(batchId, approvals) {
      if (approvals.length === 0) return true;
      const inserted = await db
        .insertInto('batch_approvals')
        .values(approvals.map((a) => ({ batch_id: batchId, kid: a.kid, protected: a.protected, signature: a.signature, approved_by: a.approvedBy })))
        .onConflict((oc) => oc.doNothing())
        .returning('kid')
        .execute();
      return inserted.length === approvals.length;
    },

    async rejection(batchId) {
      const { rows } = await sql<{ kid: string; protected: string; signature: string; rejected_by: string; reason: string; rejected_at: Date }>`
        SELECT kid, protected, signature, rejected_by, reason, rejected_at FROM batch_rejections WHERE batch_id = ${batchId}`.execute(db);
      const r = rows[0];
      return r ? ({ kid: r.kid, protected: r.protected, signature: r.signature, rejectedBy: r.rejected_by, reason: r.reason, rejectedAt: r.rejected_at } satisfies RejectionRecord) : null;
    },

    async insertRejection(batchId, r) {
      const { rows } = await sql<{ batch_id: string }>`
        INSERT INTO batch_rejections (batch_id, kid, protected, signature, rejected_by, reason)
        VALUES (${batchId}, ${r.kid}, ${r.protected}, ${r.signature}, ${r.rejectedBy}, ${r.reason})
        ON CONFLICT (batch_id) DO NOTHING RETURNING batch_id`.execute(db);
      return rows.length === 1;
    },

    async markApproved(batchId) {
      await db.updateTable('batches').set({ state: 'approved', approved_at: sql`now()`, updated_at: sql`now()` }).where('id', '=', batchId).execute();
    },

    async releasing(limit) {
      const rows = await db.selectFrom('batches').select('id').where('state', '=', 'approved').orderBy('approved_at').orderBy('id').limit(limit).execute();
      return rows.map((r) => r.id);
    },

    async markDispatchingIfDrained(batchIds) {
      if (batchIds.length === 0) return;
      // A plain (not SKIP LOCKED) look: rows another relay holds are still accepted here, so a batch
      // whose last payouts are in someone else's uncommitted claim is not marked too early.
      await sql`
        UPDATE batches b SET state = 'dispatching', updated_at = now()
        WHERE b.id = ANY(${batchIds}::uuid[]) AND b.state = 'approved'
          AND NOT EXISTS (SELECT 1 FROM payouts p WHERE p.batch_id = b.id AND p.state = 'accepted')
      `.execute(db);
    },

    async cancelPayouts(batchId, cause) {
      // The UPDATE takes each row lock and re-checks the state after waiting, so a payout the
      // worker moved to submitting in the meantime is left alone. Locked in id order, as every
      // transaction that locks several payouts does (the worker's chunks, the settler): no deadlock.
      const r = await sql<{ id: string; amount_minor: bigint; from_state: PayoutState }>`
        WITH before AS (
          SELECT id, state FROM payouts WHERE batch_id = ${batchId} AND state = ANY(${cancellableStates}::text[]) ORDER BY id FOR UPDATE
        ), moved AS (
          UPDATE payouts p SET state = 'cancelled', updated_at = now() FROM before b
          WHERE p.id = b.id AND p.state = ANY(${cancellableStates}::text[])
          RETURNING p.id, p.amount_minor, b.state AS from_state
        ), recorded AS (
          INSERT INTO payout_transitions (payout_id, from_state, to_state, cause) SELECT id, from_state, 'cancelled', ${cause} FROM moved
        )
        SELECT id, amount_minor, from_state FROM moved ORDER BY id
      `.execute(db);
      return r.rows.map((x) => ({ payoutId: x.id, amountMinor: BigInt(x.amount_minor), from: x.from_state }));
    },

    async payoutsPage(batchId, state, afterRow, limit) {
      let q = selectPayouts(db).where('p.batch_id', '=', batchId);
      if (state) q = q.where('p.state', '=', state);
      if (afterRow !== null) q = q.where('p.row_no', '>', afterRow);
      const rows = await q.orderBy('p.row_no').limit(limit).execute();
      return rows.map(toPayoutRecord);
    },
  };
}

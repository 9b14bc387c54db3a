// Re-pay requests (migration 0023), inside the caller's transaction: opened by a `repay`
// reconciliation decision, read per programme.
import { sql } from 'kysely';
import type { RepayRequest, RepayRequestRepo } from '../../application/ports.js';
import type { CurrencyCode } from '../../domain/currency.js';
import type { DbOrTx } from './database.js';

interface RequestRow {
  id: string; payout_id: string; organisation_id: string; programme_id: string; decision_id: string; currency: string; amount_minor: string;
  requested_at: Date; state: RepayRequest['state']; fulfilled_by_payout_id: string | null; fulfilled_at: Date | null; released_payout_ids: string[];
}

const columns = sql.raw('id, payout_id, organisation_id, programme_id, decision_id, currency, amount_minor::text, requested_at, state, fulfilled_by_payout_id, fulfilled_at, released_payout_ids');

const toRequest = (r: RequestRow): RepayRequest => ({
  requestId: r.id, payoutId: r.payout_id, organisationId: r.organisation_id, programmeId: r.programme_id, decisionId: r.decision_id,
  currency: r.currency as CurrencyCode, amountMinor: BigInt(r.amount_minor), requestedAt: r.requested_at, state: r.state,
  fulfilledByPayoutId: r.fulfilled_by_payout_id, fulfilledAt: r.fulfilled_at, releasedPayoutIds: r.released_payout_ids,
});

export function repayRequestRepository(db: DbOrTx): RepayRequestRepo {
  return {
    async open(r) {
      const { rows } = await sql<{ id: string }>`
        INSERT INTO repay_requests (id, payout_id, organisation_id, programme_id, decision_id, currency, amount_minor, state)
        VALUES (${r.requestId}, ${r.payoutId}, ${r.organisationId}, ${r.programmeId}, ${r.decisionId}, ${r.currency}, ${r.amountMinor.toString()}, 'open')
        ON CONFLICT (payout_id) DO NOTHING
        RETURNING id`.execute(db);
      return rows.length === 1;
    },
    async fulfil(f) {
      const { rows } = await sql<{ id: string }>`
        UPDATE repay_requests r SET state = 'fulfilled', fulfilled_by_payout_id = ${f.byPayoutId}, fulfilled_at = now()
        FROM payouts o, payouts n
        WHERE r.payout_id = ${f.payoutId} AND r.state = 'open' AND r.organisation_id = ${f.organisationId} AND r.programme_id = ${f.programmeId}
          AND r.currency = ${f.currency} AND r.amount_minor = ${f.amountMinor.toString()}
          AND o.id = r.payout_id AND n.id = ${f.byPayoutId} AND n.msisdn_hash = o.msisdn_hash
        RETURNING r.id`.execute(db);
      return rows.length === 1;
    },
    async releaseCancelled(batchId) {
      // Migration 0025's trigger released them as the payouts were cancelled, in this transaction:
      // the requests this batch's cancelled payouts released, now open again.
      const { rows } = await sql<{ n: number }>`
        SELECT count(*)::int AS n FROM repay_requests r
        WHERE r.state = 'open' AND EXISTS (SELECT 1 FROM payouts n WHERE n.batch_id = ${batchId} AND n.state = 'cancelled' AND n.id = ANY(r.released_payout_ids))`.execute(db);
      return rows[0]?.n ?? 0;
    },
    async ofProgramme(organisationId, programmeId, state, after, limit) {
      const { rows } = await sql<RequestRow>`
        SELECT ${columns} FROM repay_requests r
        WHERE r.organisation_id = ${organisationId} AND r.programme_id = ${programmeId}
          ${state === 'all' ? sql`` : sql`AND r.state = ${state}`}
          ${after === null ? sql`` : sql`AND (r.requested_at, r.id) > (SELECT a.requested_at, a.id FROM repay_requests a WHERE a.id = ${after})`}
        ORDER BY r.requested_at, r.id
        LIMIT ${limit}`.execute(db);
      return rows.map(toRequest);
    },
  };
}

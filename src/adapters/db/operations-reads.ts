// What operators read of the database (application/operations.ts): the breaker changes workers
// wrote to the audit log, through the system events' index (object_type, object_id, seq), and the
// calls in flight each worker process last reported (provider_calls_in_flight, migration 0030).
import { sql } from 'kysely';
import type { CallsInFlightReport } from '../../application/calls-in-flight.js';
import type { BreakerReport, OperationsReads, QueueReads, QueueStage, ReportedBreakerState } from '../../application/operations.js';
import type { Db } from './database.js';

const stateOf: Record<string, ReportedBreakerState> = { 'breaker.open': 'open', 'breaker.half_open': 'half_open', 'breaker.close': 'closed' };

export function operationsReads(db: Db): OperationsReads {
  return {
    async breakerReports(accountIds, recent) {
      if (accountIds.length === 0) return [];
      const { rows } = await sql<{ account_id: string; action: string; at: Date; process: string | null; cause: string | null }>`
        SELECT a.id AS account_id, e.action, e.at, e.detail->>'process' AS process, e.detail->>'cause' AS cause
        FROM unnest(${[...accountIds]}::text[]) WITH ORDINALITY AS a(id, n)
        CROSS JOIN LATERAL (
          SELECT action, at, detail, seq FROM audit_events
          WHERE organisation_id IS NULL AND object_type = 'provider_account' AND object_id = a.id
            AND action IN ('breaker.open', 'breaker.half_open', 'breaker.close')
          ORDER BY seq DESC LIMIT ${recent}
        ) e
        ORDER BY a.n, e.seq DESC`.execute(db);
      return rows.map((r): BreakerReport => ({ accountId: r.account_id, process: r.process ?? 'unknown', state: stateOf[r.action]!, cause: r.cause ?? 'calls', at: r.at }));
    },
    async callsInFlight(accountIds, perAccount, retentionMs) {
      if (accountIds.length === 0) return [];
      // Ages by the database's clock, the one that stamped each report (workers' clocks may differ).
      const { rows } = await sql<{ account_id: string; process: string; calls: number; interval_ms: number; reported_at: Date; age_ms: string }>`
        SELECT a.id AS account_id, r.process, r.calls, r.interval_ms, r.reported_at,
               greatest(0, floor(extract(epoch FROM (now() - r.reported_at)) * 1000))::bigint::text AS age_ms
        FROM unnest(${[...accountIds]}::text[]) WITH ORDINALITY AS a(id, n)
        CROSS JOIN LATERAL (
          SELECT process, calls, interval_ms, reported_at FROM provider_calls_in_flight
          WHERE account_id = a.id AND reported_at >= now() - make_interval(secs => ${retentionMs / 1000})
          ORDER BY reported_at DESC, process LIMIT ${perAccount}
        ) r
        ORDER BY a.n, r.reported_at DESC, r.process`.execute(db);
      return rows.map((r): CallsInFlightReport => ({ accountId: r.account_id, process: r.process, calls: r.calls, intervalMs: r.interval_ms, reportedAt: r.reported_at, ageMs: Number(r.age_ms) }));
    },
  };
}

export function queueReads(db: Db): QueueReads {
  return {
    async queueDepths(organisationId, now) {
      const { rows } = await sql<{ provider: string; stage: QueueStage; count: string; oldest: Date }>`
        SELECT provider, stage, count(*)::text AS count, min(updated_at) AS oldest FROM (
          SELECT p.provider, p.updated_at, CASE
            WHEN p.status_flagged_at IS NOT NULL THEN 'dead_lettered'
            WHEN p.state = 'queued' AND p.dispatch_at IS NOT NULL AND p.dispatch_at > ${now} THEN 'retry_later'
            WHEN p.state = 'queued' THEN 'queued'
            WHEN p.state = 'submitting' THEN 'submitting'
            ELSE 'awaiting_outcome' END AS stage
          FROM payouts p JOIN batches b ON b.id = p.batch_id
          WHERE b.organisation_id = ${organisationId} AND p.state IN ('queued', 'submitting', 'submitted', 'unknown')
        ) p GROUP BY provider, stage ORDER BY provider, stage`.execute(db);
      return rows.map((r) => ({ provider: r.provider, stage: r.stage, count: Number(r.count), oldest: r.oldest }));
    },
    async deadLettered(organisationId, after, limit) {
      const afterClause = after
        // In whole microseconds, as the cursor is (a JS Date has milliseconds only).
        ? sql`AND ((extract(epoch FROM p.status_flagged_at) * 1000000)::bigint, p.id) > (${after.micros.toString()}::bigint, ${after.id}::uuid)`
        : sql``;
      const { rows } = await sql<{ id: string; batch_id: string; ref: string; provider: string; state: string; amount_minor: string; currency: string; attempt_count: number; failure_code: string | null; status_flagged_at: Date; micros: string }>`
        SELECT p.id, p.batch_id, p.ref, p.provider, p.state, p.amount_minor::text AS amount_minor, p.currency, p.attempt_count, p.failure_code, p.status_flagged_at,
               (extract(epoch FROM p.status_flagged_at) * 1000000)::bigint::text AS micros
        FROM payouts p JOIN batches b ON b.id = p.batch_id
        WHERE b.organisation_id = ${organisationId} AND p.status_flagged_at IS NOT NULL AND p.state IN ('queued', 'submitted', 'unknown') ${afterClause}
        ORDER BY p.status_flagged_at, p.id LIMIT ${limit}`.execute(db);
      return rows.map((r) => ({
        payoutId: r.id, batchId: r.batch_id, ref: r.ref, provider: r.provider, state: r.state, amountMinor: BigInt(r.amount_minor), currency: r.currency,
        attempts: r.attempt_count, failureCode: r.failure_code, flaggedAt: r.status_flagged_at, cursor: `${r.micros}:${r.id}`,
      }));
    },
    async orphans(providers, afterId, limit) {
      const { rows } = await sql<{ id: string; provider: string; dedupe_key: string; authenticated: boolean; received_at: Date }>`
        SELECT id::text AS id, provider, dedupe_key, authenticated, received_at FROM callbacks
        WHERE payout_id IS NULL AND id > ${afterId.toString()}::int8 AND provider = ANY(${[...providers]}::text[])
        ORDER BY id LIMIT ${limit}`.execute(db);
      return rows.map((r) => ({ id: BigInt(r.id), provider: r.provider, dedupeKey: r.dedupe_key, authenticated: r.authenticated, receivedAt: r.received_at }));
    },
  };
}

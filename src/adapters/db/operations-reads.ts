// What operators read of the database (application/operations.ts): the breaker changes workers
// wrote to the audit log, through the system events' index (object_type, object_id, seq).
import { sql } from 'kysely';
import type { BreakerReport, OperationsReads, ReportedBreakerState } from '../../application/operations.js';
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
  };
}

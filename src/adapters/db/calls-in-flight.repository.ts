// Worker processes' calls in flight per provider account (migration 0030): each process upserts
// its own rows, one statement per report, stamped with the database's clock.
import { sql } from 'kysely';
import type { CallsInFlightStore } from '../../application/calls-in-flight.js';
import type { Db } from './database.js';

export function callsInFlightStore(db: Db): CallsInFlightStore {
  return {
    async publish(process, counts, intervalMs, retentionMs) {
      if (counts.length === 0) return;
      // The prune skips this process's own rows (the upsert writes them) and any row another
      // process holds locked at the moment: no statement of one process ever waits for another's.
      await sql`
        WITH old AS (
          SELECT process, account_id FROM provider_calls_in_flight
          WHERE process <> ${process} AND reported_at < now() - make_interval(secs => ${retentionMs / 1000})
          FOR UPDATE SKIP LOCKED
        ), pruned AS (
          DELETE FROM provider_calls_in_flight t USING old WHERE t.process = old.process AND t.account_id = old.account_id
        )
        INSERT INTO provider_calls_in_flight (process, account_id, calls, interval_ms, reported_at)
        SELECT ${process}, c.account_id, c.calls, ${intervalMs}, now()
        FROM unnest(${counts.map((c) => c.accountId)}::text[], ${counts.map((c) => c.calls)}::int[]) AS c(account_id, calls)
        ON CONFLICT (process, account_id) DO UPDATE SET calls = excluded.calls, interval_ms = excluded.interval_ms, reported_at = excluded.reported_at`.execute(db);
    },
    async withdraw(process) {
      await sql`DELETE FROM provider_calls_in_flight WHERE process = ${process}`.execute(db);
    },
  };
}

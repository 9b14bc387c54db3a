// Calls in flight per provider account, from every worker process (issue #16 item 6). Each worker
// process counts its own calls in memory (its CallLimiters); it now writes those counts here every
// few seconds, one row per process and account (upserted: the table holds the last report of each),
// so an API process that runs no worker can show every worker's count and how old it is. A process
// that stops cleanly removes its rows; one that died leaves them, shown stale by their age and
// pruned by the live processes once old. No beneficiary data, no money: counts only.
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE provider_calls_in_flight (
      -- The worker process (host/pid, as its breaker reports in the audit log name it).
      process text NOT NULL CHECK (length(process) BETWEEN 1 AND 128),
      account_id text NOT NULL CHECK (account_id ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
      calls integer NOT NULL CHECK (calls >= 0),
      -- How often the process reports: a row older than a few of its intervals is stale.
      interval_ms integer NOT NULL CHECK (interval_ms BETWEEN 100 AND 60000),
      -- The database's clock, as every reader's age is measured against it.
      reported_at timestamptz NOT NULL,
      PRIMARY KEY (process, account_id)
    );
    CREATE INDEX provider_calls_in_flight_account ON provider_calls_in_flight (account_id, reported_at);
  `.execute(db);
}

export async function down(): Promise<void> {
  throw new Error('migrations are never rolled back; write a new one');
}

// Retries after a confirmed failure (issue #6 item 3). A result names the attempt it is about, so
// that a late answer about an earlier attempt cannot start another one while a newer attempt is in
// flight. A payout waiting for its next attempt is queued with the time it is due (dispatch_at);
// the relay publishes it then, looking only at the few rows waiting (partial index).
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE payout_results ADD COLUMN attempt_no integer CHECK (attempt_no > 0);
    ALTER TABLE payouts ADD COLUMN dispatch_at timestamptz;
    CREATE INDEX payouts_retry_due ON payouts (dispatch_at) WHERE state = 'queued' AND dispatch_at IS NOT NULL;
  `.execute(db);
}

export async function down(): Promise<void> {
  throw new Error('migrations are never rolled back; write a new one');
}

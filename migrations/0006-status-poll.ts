// The status poller (issue #5, architecture §5): callbacks are hints, not guarantees. A payout
// whose outcome is ambiguous (`unknown`) or whose result callback never came (`submitted`) is
// asked about with the provider's status query, on a schedule kept on the payout row:
//   status_check_at    when it is next due (null: not scheduled, e.g. after the operators' flag);
//   status_checks      how many status queries were sent for its current attempt;
//   status_flagged_at  when the poller gave up after its last check and flagged it for operators.
// The partial index is the poller's claim: due payouts of the two polled states, earliest first.
//
// M-Pesa answers a status query asynchronously, to a URL we give it. The attempt's own callback
// token cannot be reused (only its SHA-256 is stored), and replacing it would make a late result
// posted to the original URL unauthenticated. So each status query gets a fresh token of its own,
// its SHA-256 stored here against the attempt: a status answer authenticates exactly like a result.
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE payouts
      ADD COLUMN status_check_at timestamptz,
      ADD COLUMN status_checks integer NOT NULL DEFAULT 0 CHECK (status_checks >= 0),
      ADD COLUMN status_flagged_at timestamptz;
    -- Payouts already waiting when this lands have waited long enough: due now.
    UPDATE payouts SET status_check_at = now() WHERE state IN ('submitted', 'unknown');
    CREATE INDEX payouts_status_due ON payouts (status_check_at) WHERE state IN ('submitted', 'unknown');

    CREATE TABLE payout_status_tokens (
      token_sha256 bytea PRIMARY KEY,
      payout_id uuid NOT NULL,
      attempt_no integer NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      FOREIGN KEY (payout_id, attempt_no) REFERENCES payout_attempts (payout_id, attempt_no)
    );
  `.execute(db);
}

export async function down(): Promise<void> {
  throw new Error('migrations are never rolled back; write a new one');
}

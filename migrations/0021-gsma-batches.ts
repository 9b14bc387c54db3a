// GSMA provider batches (issue #20 item 3): a bulk account sends the payout attempts in hand as
// one POST /batchtransactions under the batch's own X-CorrelationID. The batch and its items'
// attempt keys are recorded here BEFORE the call (as an attempt and its key are recorded before a
// single payment is sent), so that an item whose answer was lost is found again in its batch after
// a restart and asked about there, never sent in a second batch. The ledger and the payouts know
// nothing of provider batches: each item settles its own payout as a single payment does.
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE gsma_batches (
      batch_key uuid PRIMARY KEY,
      account_id text NOT NULL CHECK (account_id ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
      item_count integer NOT NULL CHECK (item_count BETWEEN 1 AND 10000),
      -- What the provider's 202 said: its request state, and the batch's id once known.
      server_correlation_id text CHECK (length(server_correlation_id) BETWEEN 1 AND 64),
      batch_id text CHECK (length(batch_id) BETWEEN 1 AND 256),
      -- Two-step accounts: the X-CorrelationID of our approval, recorded before it is sent.
      approval_key uuid,
      created_at timestamptz NOT NULL DEFAULT now()
    );
    -- An attempt is in one provider batch at most.
    CREATE TABLE gsma_batch_items (
      item_key uuid PRIMARY KEY,
      batch_key uuid NOT NULL REFERENCES gsma_batches(batch_key)
    );
    CREATE INDEX gsma_batch_items_batch ON gsma_batch_items (batch_key);
  `.execute(db);
}

export async function down(): Promise<void> {
  throw new Error('migrations are never rolled back; write a new one');
}

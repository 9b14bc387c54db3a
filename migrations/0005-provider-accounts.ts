// Provider accounts (issue #5 item 6): a provider can be configured with several accounts (per
// programme, per country: each its own credentials, market and limits). Each attempt records the
// account it was sent through, because the provider knows the transaction only under that
// account: a status query must go to the same one. Attempts made before accounts existed went
// through the single account of their provider, which the environment names after the provider.
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE payout_attempts ADD COLUMN account_id text;
    UPDATE payout_attempts a SET account_id = p.provider FROM payouts p WHERE p.id = a.payout_id;
    ALTER TABLE payout_attempts ALTER COLUMN account_id SET NOT NULL;
    ALTER TABLE payout_attempts ADD CONSTRAINT payout_attempts_account_id CHECK (account_id ~ '^[a-z0-9][a-z0-9-]{0,62}$');
  `.execute(db);
}

export async function down(): Promise<void> {
  throw new Error('migrations are never rolled back; write a new one');
}

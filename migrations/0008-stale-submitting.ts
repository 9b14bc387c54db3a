// A payout left in `submitting` (its worker died between recording the attempt and recording the
// provider's answer) is found by the status poller and asked about (issue #6). The poller looks
// for the oldest such rows every poll: a partial index keeps that lookup to the few rows in the
// state, however many payouts there are.
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`CREATE INDEX payouts_submitting ON payouts (updated_at) WHERE state = 'submitting'`.execute(db);
}

export async function down(): Promise<void> {
  throw new Error('migrations are never rolled back; write a new one');
}

// A provider can take back a payout it paid (issue #5 item 4, #6 item 5): such an answer is a
// result of its own ('reversed'), which the settler turns into a reversing journal.
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE payout_results DROP CONSTRAINT payout_results_outcome_check;
    ALTER TABLE payout_results ADD CONSTRAINT payout_results_outcome_check CHECK (outcome IN ('paid', 'failed', 'ambiguous', 'reversed'));
  `.execute(db);
}

export async function down(): Promise<void> {
  throw new Error('migrations are never rolled back; write a new one');
}

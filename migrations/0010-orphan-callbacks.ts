// Callbacks for no payout Tuma knows (orphans, kept for finance: issue #5 item 3) are read by
// operators page by page (`tuma callbacks orphans`): a partial index holds only those few rows, so
// the listing does not read every callback ever received.
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`CREATE INDEX callbacks_orphans ON callbacks (id) WHERE payout_id IS NULL`.execute(db);
}

export async function down(): Promise<void> {
  throw new Error('migrations are never rolled back; write a new one');
}

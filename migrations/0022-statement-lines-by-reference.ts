// Statement lines are found by the provider's references, not by payout id (issue #14 item 9).
// Keeping `statement_lines_payout` (a b-tree on random payout UUIDs) cost about 2.8 s of the
// server's CPU per 1,000,000 lines imported, most of an import's index upkeep. Every reader it
// served reaches the same lines through references it already has: a payout line names its payout
// by the payout's provider reference (its transaction id: the unique index on (account_id,
// provider_transaction_id, kind, statement_id)); a charge by the same or by its linked transaction
// id; a reversal by its linked transaction id, which the narrow partial index below serves (few
// lines carry one); a payout line matched by our reference (its transaction id named no payout)
// is marked so, and only those are indexed by payout id. Readers still check `payout_id` on the
// lines they reach.
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    DROP INDEX statement_lines_payout;
    ALTER TABLE statement_lines ADD COLUMN matched_by_our_reference boolean NOT NULL DEFAULT false;
    ALTER TABLE statement_lines ADD CONSTRAINT statement_lines_our_reference_match CHECK (NOT matched_by_our_reference OR (payout_id IS NOT NULL AND our_reference IS NOT NULL));
    CREATE INDEX statement_lines_by_our_reference ON statement_lines (payout_id) WHERE matched_by_our_reference;
    CREATE INDEX statement_lines_linked ON statement_lines (account_id, linked_transaction_id) WHERE linked_transaction_id IS NOT NULL;
  `.execute(db);
}

export async function down(): Promise<void> {
  throw new Error('migrations are never rolled back; write a new one');
}

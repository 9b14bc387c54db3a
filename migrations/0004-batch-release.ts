// Approval is a fact about the batch, not about each of its payouts (issue #4, scale).
//
// Before: approving a 100,000-payout batch rewrote 100,000 payout rows (accepted → approved) and
// appended 100,000 transition rows, and submitting it appended 100,000 more ('batch submitted');
// about 4 s of a 12 s ingest, for two facts that are each recorded once elsewhere (the payout's
// created_at, the batch's approvals and approved_at).
// Now: a payout is stored 'accepted' and stays so until the relay hands it to a provider's topic;
// it is dispatchable while its batch is 'approved' (the relay claims accepted payouts of approved
// batches and moves the batch to 'dispatching' once none is left). The API still shows such a
// payout as 'approved' (domain/payout-state.ts, publicPayoutState), so the contract is unchanged.
//
// Also, per payout row written: one foreign-key check instead of two (the payout's currency is its
// batch's: one composite key checks both), and the (batch_id, ref) unique index is gone because
// the primary key already is it (a payout's id is UUIDv5 of its batch id and ref, domain/ids.ts).
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE batches ADD COLUMN approved_at timestamptz;
    UPDATE batches SET approved_at = updated_at WHERE state IN ('approved', 'dispatching', 'completed');
    ALTER TABLE batches ADD CONSTRAINT batches_id_currency UNIQUE (id, currency);
    -- What the relay looks for: approved batches, oldest approval first.
    CREATE INDEX batches_releasing ON batches (approved_at, id) WHERE state = 'approved';

    -- No payout is stored as 'approved' any more; the few that were are accepted payouts of approved batches.
    UPDATE payouts SET state = 'accepted' WHERE state = 'approved';
    ALTER TABLE payouts DROP CONSTRAINT payouts_state_check;
    ALTER TABLE payouts ADD CONSTRAINT payouts_state_check
      CHECK (state IN ('accepted', 'queued', 'submitting', 'submitted', 'unknown', 'paid', 'failed', 'cancelled', 'reversed'));
    DROP INDEX payouts_dispatchable;
    -- Per batch and state in row order: the relay's claim, the batch view's counts, filtered pages.
    DROP INDEX payouts_batch_state;
    CREATE INDEX payouts_batch_state ON payouts (batch_id, state, row_no);

    ALTER TABLE payouts DROP CONSTRAINT payouts_batch_id_ref_key;
    ALTER TABLE payouts DROP CONSTRAINT payouts_currency_fkey;
    ALTER TABLE payouts DROP CONSTRAINT payouts_batch_id_fkey;
    ALTER TABLE payouts ADD CONSTRAINT payouts_batch_currency_fkey FOREIGN KEY (batch_id, currency) REFERENCES batches (id, currency);
  `.execute(db);
}

export async function down(): Promise<void> {
  throw new Error('migrations are never rolled back; write a new one');
}

// Callbacks as evidence (issue #19):
//  - a status query's token says what it was issued for: `status` (the URL of the query's
//    asynchronous answer) or `payment` (the URL given with a same-key resend), so a token is
//    accepted on its own route only;
//  - a callback's dedupe slot is its request (the token it came with, or the attempt a signature
//    proves): two attempts never share one, an orphan never takes a real callback's place;
//  - unauthenticated callbacks are marked, so that they can be budgeted and purged;
//  - `held`: a payout whose callback disagrees with it (amount, currency, receiver, a receipt
//    already used) waits for finance, with each difference recorded in payout_exceptions;
//  - provider_receipts: a provider receipt settles one payout per provider account;
//  - a result carries the fee the provider reported (posted to the provider's fees account) and,
//    when held, what differed.
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    -- The failure a URL-token callback reported, kept for the confirmation: a status answer that only
    -- says "failed" (Daraja's TransactionStatus) is confirmed with the reported reason.
    ALTER TABLE payout_attempts ADD COLUMN reported_failure text CHECK (length(reported_failure) <= 100);

    ALTER TABLE payout_status_tokens ADD COLUMN purpose text NOT NULL DEFAULT 'status' CHECK (purpose IN ('status', 'payment'));

    ALTER TABLE callbacks ADD COLUMN scope text NOT NULL DEFAULT 'legacy' CHECK (length(scope) BETWEEN 1 AND 128);
    ALTER TABLE callbacks ADD COLUMN authenticated boolean NOT NULL DEFAULT true;
    ALTER TABLE callbacks DROP CONSTRAINT callbacks_provider_dedupe_key_key;
    ALTER TABLE callbacks ADD CONSTRAINT callbacks_request_dedupe UNIQUE (provider, scope, dedupe_key);
    CREATE INDEX callbacks_unauthenticated_orphans ON callbacks (received_at) WHERE payout_id IS NULL AND NOT authenticated;

    ALTER TABLE payouts DROP CONSTRAINT payouts_state_check;
    ALTER TABLE payouts ADD CONSTRAINT payouts_state_check
      CHECK (state IN ('accepted', 'approved', 'queued', 'submitting', 'submitted', 'unknown', 'held', 'paid', 'failed', 'cancelled', 'reversed'));
    CREATE INDEX payouts_held ON payouts (updated_at, id) WHERE state = 'held';
    -- A paid payout whose reversal a URL-token callback reported: the poller asks the provider once.
    CREATE INDEX payouts_reversal_due ON payouts (status_check_at) WHERE state = 'paid' AND status_check_at IS NOT NULL;

    ALTER TABLE payout_results DROP CONSTRAINT payout_results_outcome_check;
    ALTER TABLE payout_results ADD CONSTRAINT payout_results_outcome_check CHECK (outcome IN ('paid', 'failed', 'ambiguous', 'reversed', 'held'));
    ALTER TABLE payout_results ADD COLUMN fee_minor bigint CHECK (fee_minor > 0);
    ALTER TABLE payout_results ADD COLUMN detail text CHECK (length(detail) <= 1000);

    CREATE TABLE payout_exceptions (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      payout_id uuid NOT NULL REFERENCES payouts(id),
      kind text NOT NULL CHECK (kind IN ('amount_mismatch', 'currency_mismatch', 'receiver_mismatch', 'receipt_reused')),
      -- What differed, in words finance can read; never a phone number or a name.
      detail text NOT NULL CHECK (length(detail) <= 1000),
      result_id uuid NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (result_id, kind)
    );
    CREATE INDEX payout_exceptions_payout ON payout_exceptions (payout_id, id);
    CREATE TRIGGER payout_exceptions_append_only BEFORE UPDATE OR DELETE ON payout_exceptions
      FOR EACH ROW EXECUTE FUNCTION tuma_refuse_change();

    CREATE TABLE provider_receipts (
      account_id text NOT NULL,
      receipt text NOT NULL CHECK (length(receipt) BETWEEN 1 AND 100),
      payout_id uuid NOT NULL REFERENCES payouts(id),
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (account_id, receipt)
    );
  `.execute(db);
}

export async function down(): Promise<void> {
  throw new Error('migrations are never rolled back; write a new one');
}

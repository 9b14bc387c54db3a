// Re-pay as a reconciliation decision (issue #14 item 6). The provider reversed a payout the
// ledger counted as paid (a late reversal): finance decides `repay` (maker–checker above
// RECONCILIATION_APPROVAL_ABOVE), which reverses the payout in the ledger (the money back with the
// programme) and opens a re-pay request. Finance never creates a payout: every payout is a row of
// a batch a programme manager signed and an approver co-signed. The programme's next signed batch
// carries a row that names the request (`repays`), for the same beneficiary and amount; the request
// is then fulfilled by that payout, once (the unique indexes below), and a second row naming it is
// refused.
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE reconciliation_decisions DROP CONSTRAINT reconciliation_decisions_action_check;
    ALTER TABLE reconciliation_decisions ADD CONSTRAINT reconciliation_decisions_action_check
      CHECK (action IN ('accept_provider', 'claim', 'write_off', 'apply_reversal', 'requery', 'acknowledge', 'repay'));

    CREATE TABLE repay_requests (
      id uuid PRIMARY KEY,
      -- The payout to pay again: once, whatever happens to the request.
      payout_id uuid NOT NULL UNIQUE REFERENCES payouts(id),
      organisation_id text NOT NULL REFERENCES organisations(id),
      programme_id text NOT NULL REFERENCES programmes(id),
      decision_id uuid NOT NULL UNIQUE REFERENCES reconciliation_decisions(id),
      currency char(3) NOT NULL REFERENCES ledgers(currency),
      amount_minor bigint NOT NULL CHECK (amount_minor > 0),
      requested_at timestamptz NOT NULL DEFAULT now(),
      state text NOT NULL CHECK (state IN ('open', 'fulfilled')),
      fulfilled_by_payout_id uuid UNIQUE REFERENCES payouts(id),
      fulfilled_at timestamptz,
      CHECK ((state = 'fulfilled') = (fulfilled_by_payout_id IS NOT NULL)),
      CHECK ((fulfilled_by_payout_id IS NULL) = (fulfilled_at IS NULL))
    );
    CREATE INDEX repay_requests_open ON repay_requests (programme_id, requested_at) WHERE state = 'open';

    -- A request only ever moves open → fulfilled, once; nothing else of it changes and it is never deleted.
    CREATE FUNCTION tuma_repay_request_guard() RETURNS trigger LANGUAGE plpgsql AS $fn$
    BEGIN
      IF TG_OP = 'DELETE' OR OLD.state <> 'open' OR NEW.state <> 'fulfilled'
         OR (NEW.id, NEW.payout_id, NEW.organisation_id, NEW.programme_id, NEW.decision_id, NEW.currency, NEW.amount_minor, NEW.requested_at)
            IS DISTINCT FROM (OLD.id, OLD.payout_id, OLD.organisation_id, OLD.programme_id, OLD.decision_id, OLD.currency, OLD.amount_minor, OLD.requested_at) THEN
        RAISE EXCEPTION 're-pay request %: only an open request is fulfilled, once', OLD.id USING ERRCODE = 'integrity_constraint_violation';
      END IF;
      RETURN NEW;
    END
    $fn$;
    CREATE TRIGGER repay_requests_guard BEFORE UPDATE OR DELETE ON repay_requests FOR EACH ROW EXECUTE FUNCTION tuma_repay_request_guard();
  `.execute(db);
}

export async function down(): Promise<void> {
  throw new Error('migrations are never rolled back; write a new one');
}

// Reconciliation decisions (issue #14 item 6): finance resolves each exception on the record.
// A decision names its statement and item (`line-<n>`, `payout-<id>`, `check-<n>` for a balance
// check of the file), the action, a comment and the money it moves; above the approval threshold
// it waits for a second finance user, who can neither be its maker nor change it. Once applied or
// rejected a decision never changes: the ledger is corrected by transfers whose ids derive from
// the exception (code `reconciliation`), and the audit log records both hands.
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE transfers DROP CONSTRAINT transfers_code_check;
    ALTER TABLE transfers ADD CONSTRAINT transfers_code_check
      CHECK (code IN ('funding', 'float_topup', 'batch_commit', 'payout_paid', 'payout_fee', 'payout_released', 'payout_reversed', 'reconciliation'));

    CREATE TABLE reconciliation_decisions (
      id uuid PRIMARY KEY,
      statement_id uuid NOT NULL REFERENCES statements(id),
      item_id text NOT NULL CHECK (item_id ~ '^(line-[1-9][0-9]{0,9}|payout-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|check-[0-9]{1,9})$'),
      organisation_id text NOT NULL REFERENCES organisations(id),
      action text NOT NULL CHECK (action IN ('accept_provider', 'claim', 'write_off', 'apply_reversal', 'requery', 'acknowledge')),
      comment text NOT NULL CHECK (length(comment) BETWEEN 1 AND 500),
      amount_minor bigint NOT NULL CHECK (amount_minor >= 0),
      state text NOT NULL CHECK (state IN ('awaiting_approval', 'applied', 'rejected')),
      decided_by text NOT NULL CHECK (length(decided_by) BETWEEN 1 AND 256),
      decided_at timestamptz NOT NULL DEFAULT now(),
      request_id text CHECK (length(request_id) <= 128),
      checked_by text CHECK (length(checked_by) BETWEEN 1 AND 256),
      checked_at timestamptz,
      check_comment text CHECK (length(check_comment) BETWEEN 1 AND 500),
      CHECK (checked_by IS NULL OR checked_by <> decided_by),
      CHECK ((checked_by IS NULL) = (checked_at IS NULL)),
      CHECK (state <> 'rejected' OR checked_by IS NOT NULL)
    );
    -- One live decision per exception: a rejected one may be followed by another.
    CREATE UNIQUE INDEX reconciliation_decisions_live ON reconciliation_decisions (statement_id, item_id) WHERE state <> 'rejected';
    CREATE INDEX reconciliation_decisions_awaiting ON reconciliation_decisions (organisation_id, decided_at) WHERE state = 'awaiting_approval';

    -- Only an awaiting decision moves, once, to applied or rejected, and only its check columns with it.
    CREATE FUNCTION tuma_decision_guard() RETURNS trigger LANGUAGE plpgsql AS $fn$
    BEGIN
      IF TG_OP = 'DELETE' OR OLD.state <> 'awaiting_approval' OR NEW.state = 'awaiting_approval'
         OR (NEW.id, NEW.statement_id, NEW.item_id, NEW.organisation_id, NEW.action, NEW.comment, NEW.amount_minor, NEW.decided_by, NEW.decided_at, NEW.request_id)
            IS DISTINCT FROM (OLD.id, OLD.statement_id, OLD.item_id, OLD.organisation_id, OLD.action, OLD.comment, OLD.amount_minor, OLD.decided_by, OLD.decided_at, OLD.request_id) THEN
        RAISE EXCEPTION 'reconciliation decision %: only an awaiting decision is approved or rejected, once', OLD.id USING ERRCODE = 'integrity_constraint_violation';
      END IF;
      RETURN NEW;
    END
    $fn$;
    CREATE TRIGGER reconciliation_decisions_guard BEFORE UPDATE OR DELETE ON reconciliation_decisions FOR EACH ROW EXECUTE FUNCTION tuma_decision_guard();
  `.execute(db);
}

export async function down(): Promise<void> {
  throw new Error('migrations are never rolled back; write a new one');
}

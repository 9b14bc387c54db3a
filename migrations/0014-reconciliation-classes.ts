// Reconciliation (issue #14), second slice: every provider's statement, fees, linked charges and
// reversals, timing, versions of a period, and the balance checks.
//
// - Lines carry the fee the provider took on the line itself (MoMo, Airtel write it in a column;
//   M-Pesa writes a charge line of its own, linked to its payout by the same receipt).
// - A charge or reversal line is linked to its payout: a charge whose amount is the ledger's fee
//   is matched, another is fee_mismatch; a reversal of a payout the ledger still counts as paid is
//   late_reversal (the money came back: urgent), of one the ledger reversed is reversal.
// - A ledger payout in flight at the cut-off that no line names is timing: carried to the next
//   period, closed when a line of a later statement names it.
// - Versions: other bytes for the same account and period are a new version of the statement;
//   a line's uniqueness (and "duplicate at the provider") is within the account across periods,
//   never against an earlier version of its own period (period_from names the period: periods of
//   one account never overlap, and the importer holds one lock while it checks and writes).
// - Balance checks of the file: opening + every completed line = closing; the running balance
//   column continuous (in the file's order, either way); each break or mismatch is an exception.
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE statements
      ADD COLUMN version integer NOT NULL DEFAULT 1 CHECK (version > 0),
      ADD COLUMN previous_id uuid REFERENCES statements(id),
      -- What changed against the previous version: lines added, removed, changed (by transaction id and kind).
      ADD COLUMN diff jsonb CHECK (diff IS NULL OR jsonb_typeof(diff) = 'object'),
      -- The header stated the balances (false: the format states none; the checks needing them were not made).
      ADD COLUMN balances_stated boolean NOT NULL DEFAULT true,
      -- Sum over completed lines of paid in - withdrawn - fee.
      ADD COLUMN lines_net_minor bigint NOT NULL DEFAULT 0,
      -- The order in which the running balance reads continuous; NULL: no balance column, or neither order.
      ADD COLUMN balance_order text CHECK (balance_order IN ('oldest-first', 'newest-first')),
      ADD COLUMN running_breaks integer NOT NULL DEFAULT 0 CHECK (running_breaks >= 0),
      ADD CONSTRAINT statements_version_previous CHECK ((version = 1) = (previous_id IS NULL)),
      ALTER COLUMN opening_balance_minor DROP NOT NULL,
      ALTER COLUMN closing_balance_minor DROP NOT NULL,
      ADD CONSTRAINT statements_balances_stated CHECK (balances_stated = (opening_balance_minor IS NOT NULL) AND balances_stated = (closing_balance_minor IS NOT NULL));
    CREATE UNIQUE INDEX statements_period_version ON statements (account_id, period_from, version);

    -- The file's own exceptions, by check: the total (opening + lines <> closing) and each break of
    -- the running balance (the first ones; statements.running_breaks counts them all).
    CREATE TABLE statement_checks (
      statement_id uuid NOT NULL REFERENCES statements(id),
      check_no integer NOT NULL CHECK (check_no >= 0),
      kind text NOT NULL CHECK (kind IN ('balance_total', 'running_balance')),
      line_no integer CHECK (line_no > 0),
      expected_minor bigint NOT NULL,
      actual_minor bigint NOT NULL,
      CHECK (expected_minor <> actual_minor),
      CHECK ((kind = 'running_balance') = (line_no IS NOT NULL)),
      PRIMARY KEY (statement_id, check_no)
    );
    CREATE TRIGGER statement_checks_append_only BEFORE UPDATE OR DELETE ON statement_checks
      FOR EACH ROW EXECUTE FUNCTION tuma_refuse_change();

    ALTER TABLE statement_lines DISABLE TRIGGER statement_lines_append_only;
    ALTER TABLE statement_lines
      ADD COLUMN fee_minor bigint NOT NULL DEFAULT 0 CHECK (fee_minor >= 0),
      ADD COLUMN ledger_fee_minor bigint CHECK (ledger_fee_minor >= 0),
      ADD COLUMN period_from timestamptz;
    UPDATE statement_lines l SET period_from = s.period_from FROM statements s WHERE s.id = l.statement_id;
    ALTER TABLE statement_lines ALTER COLUMN period_from SET NOT NULL;
    ALTER TABLE statement_lines ENABLE TRIGGER statement_lines_append_only;

    DROP INDEX statement_lines_transaction;
    -- One first line per transaction id and kind in a statement; across the account's periods the
    -- importer (one at a time, under its lock) marks a line seen in another period duplicate.
    CREATE UNIQUE INDEX statement_lines_transaction ON statement_lines (account_id, provider_transaction_id, kind, statement_id) WHERE NOT duplicate;
    -- An account's payouts (the ledger side of its reconciliation) and its first payout (its expected periods).
    CREATE INDEX payout_attempts_account ON payout_attempts (account_id, created_at);
    -- The lines that name a payout (a later statement closes an earlier one's timing and missing items).
    CREATE INDEX statement_lines_payout ON statement_lines (payout_id) WHERE payout_id IS NOT NULL;

    ALTER TABLE statement_lines DROP CONSTRAINT statement_lines_class_check;
    ALTER TABLE statement_lines DROP CONSTRAINT statement_lines_check1;
    ALTER TABLE statement_lines ADD CONSTRAINT statement_lines_class_check CHECK (class IN ('matched', 'amount_over', 'amount_under',
      'fee_mismatch', 'status_mismatch', 'paid_not_in_ledger', 'duplicate_at_provider', 'unknown_reference', 'reversal', 'late_reversal', 'non_payout'));
    ALTER TABLE statement_lines ADD CONSTRAINT statement_lines_class_payout CHECK (CASE
      WHEN class IN ('matched', 'amount_over', 'amount_under', 'fee_mismatch', 'status_mismatch', 'paid_not_in_ledger', 'late_reversal') THEN payout_id IS NOT NULL
      WHEN class = 'reversal' THEN true
      ELSE payout_id IS NULL END);
    ALTER TABLE statement_lines ADD CONSTRAINT statement_lines_fee_mismatch CHECK (class <> 'fee_mismatch' OR ledger_fee_minor IS NOT NULL);

    ALTER TABLE reconciliation_payouts DROP CONSTRAINT reconciliation_payouts_class_check;
    ALTER TABLE reconciliation_payouts ADD CONSTRAINT reconciliation_payouts_class_check CHECK (class IN ('missing_at_provider', 'timing'));

    DROP VIEW reconciliation_items;
    CREATE VIEW reconciliation_items AS
      SELECT statement_id, line_no, payout_id, class, withdrawn_minor - paid_in_minor AS statement_minor, ledger_minor, fee_minor, ledger_fee_minor FROM statement_lines
      UNION ALL
      SELECT statement_id, NULL::integer, payout_id, class, NULL::bigint, ledger_minor, NULL::bigint, NULL::bigint FROM reconciliation_payouts;

    -- The instant a statement's time text names, or NULL when it is none (a bad line's problem is
    -- named by it: "not a time" or "outside the period"). Only the refusal pass calls it.
    CREATE FUNCTION tuma_try_timestamp(t text, pattern text, utc_offset_minutes integer) RETURNS timestamptz
      LANGUAGE plpgsql STABLE PARALLEL SAFE SET timezone = 'UTC' AS $fn$
      BEGIN
        RETURN to_timestamp(t, pattern) - make_interval(mins => utc_offset_minutes);
      EXCEPTION WHEN OTHERS THEN
        RETURN NULL;
      END
    $fn$;
  `.execute(db);
}

export async function down(): Promise<void> {
  throw new Error('migrations are never rolled back; write a new one');
}

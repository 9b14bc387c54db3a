// Re-pay requests (migration 0023) whose re-payment never paid (issue #14 item 6). A request is
// fulfilled when a signed batch's row names it; if that payout then fails for good (the provider
// refused it, its attempts ran out and finance decided failed, a held payout decided failed) or is
// cancelled (its batch rejected, expired or cancelled), the beneficiary is still owed: the
// request goes back to open, for the programme's next batch, in the same transaction that moves
// the payout. The database does it (a trigger on the payout's move), so no path that fails or
// cancels a payout can forget it.
//
// A reversed re-payment is not released: the provider paid and took it back, which reconciliation
// shows as a late reversal of that payout, and finance decides again there (a second request of
// its own). Releasing it here as well would open two requests for one debt: paid twice.
//
// The request keeps every payout that was meant to fulfil it and did not (released_payout_ids, in
// order): its history stays on the row. Everything else of a request stays as 0023 and 0024 guard it.
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE repay_requests ADD COLUMN released_payout_ids uuid[] NOT NULL DEFAULT '{}';

    CREATE OR REPLACE FUNCTION tuma_repay_request_guard() RETURNS trigger LANGUAGE plpgsql AS $fn$
    BEGIN
      -- Released: fulfilled → open, only when the fulfilling payout failed or was cancelled, that
      -- payout appended to the released ones and nothing else changed.
      IF TG_OP = 'UPDATE' AND OLD.state = 'fulfilled' AND NEW.state = 'open'
         AND NEW.fulfilled_by_payout_id IS NULL AND NEW.fulfilled_at IS NULL
         AND NEW.released_payout_ids IN (OLD.released_payout_ids || OLD.fulfilled_by_payout_id, OLD.released_payout_ids)
         AND (NEW.id, NEW.payout_id, NEW.organisation_id, NEW.programme_id, NEW.decision_id, NEW.currency, NEW.amount_minor, NEW.requested_at)
             IS NOT DISTINCT FROM (OLD.id, OLD.payout_id, OLD.organisation_id, OLD.programme_id, OLD.decision_id, OLD.currency, OLD.amount_minor, OLD.requested_at)
         AND EXISTS (SELECT 1 FROM payouts p WHERE p.id = OLD.fulfilled_by_payout_id AND p.state IN ('cancelled', 'failed')) THEN
        NEW.released_payout_ids := OLD.released_payout_ids || OLD.fulfilled_by_payout_id;
        RETURN NEW;
      END IF;
      IF TG_OP = 'DELETE' OR OLD.state <> 'open' OR NEW.state <> 'fulfilled'
         OR NEW.released_payout_ids IS DISTINCT FROM OLD.released_payout_ids
         OR (NEW.id, NEW.payout_id, NEW.organisation_id, NEW.programme_id, NEW.decision_id, NEW.currency, NEW.amount_minor, NEW.requested_at)
            IS DISTINCT FROM (OLD.id, OLD.payout_id, OLD.organisation_id, OLD.programme_id, OLD.decision_id, OLD.currency, OLD.amount_minor, OLD.requested_at) THEN
        RAISE EXCEPTION 're-pay request %: only an open request is fulfilled, once, and only a failed or cancelled payout''s is released', OLD.id USING ERRCODE = 'integrity_constraint_violation';
      END IF;
      RETURN NEW;
    END
    $fn$;

    -- A payout that fulfilled a request fails or is cancelled: the request is open again. The
    -- unique index on fulfilled_by_payout_id finds it; most moves match none.
    CREATE FUNCTION tuma_release_repay_request() RETURNS trigger LANGUAGE plpgsql AS $fn$
    BEGIN
      UPDATE repay_requests SET state = 'open', fulfilled_by_payout_id = NULL, fulfilled_at = NULL
      WHERE fulfilled_by_payout_id = NEW.id AND state = 'fulfilled';
      RETURN NULL;
    END
    $fn$;
    CREATE TRIGGER payouts_release_repay_request AFTER UPDATE OF state ON payouts FOR EACH ROW
      WHEN (NEW.state IN ('failed', 'cancelled') AND OLD.state IS DISTINCT FROM NEW.state)
      EXECUTE FUNCTION tuma_release_repay_request();
  `.execute(db);
}

export async function down(): Promise<void> {
  throw new Error('migrations are never rolled back; write a new one');
}

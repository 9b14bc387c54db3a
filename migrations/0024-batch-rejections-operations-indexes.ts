// Issue #16: an approver rejects a batch awaiting approval, and the operations reads get indexes.
//
// batch_rejections: one row per rejected batch (a batch is rejected once), the approver's detached
// signature over the stored batch bytes kept for non-repudiation as approvals are, with the
// reason. Append-only for the application (no UPDATE, DELETE or TRUNCATE for tuma_app).
//
// A rejected (or expired, or cancelled) batch's payouts are cancelled, so a re-pay request one of
// them fulfilled at submission (migration 0023) is released: fulfilled → open, its fulfilling
// payout cleared, and only when that payout is cancelled (it will never be paid). Every other
// change of a request stays refused.
//
// Operations (GET /v1/operations/queues and /dead-lettered) read the organisation's payouts on
// their way, or flagged for operators, through batches: without these indexes both scanned the
// whole payouts table (plans before/after: issue #16's report). The partial indexes hold only the
// few payouts in flight or flagged; batches_organisation finds an organisation's batches.
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE batch_rejections (
      batch_id uuid PRIMARY KEY REFERENCES batches(id),
      kid text NOT NULL REFERENCES signer_keys(kid),
      protected text NOT NULL,
      signature text NOT NULL,
      rejected_by text NOT NULL,
      reason text NOT NULL CHECK (char_length(reason) BETWEEN 1 AND 500),
      rejected_at timestamptz NOT NULL DEFAULT now()
    );
    REVOKE UPDATE, DELETE, TRUNCATE ON batch_rejections FROM tuma_app;

    CREATE OR REPLACE FUNCTION tuma_repay_request_guard() RETURNS trigger LANGUAGE plpgsql AS $fn$
    BEGIN
      IF TG_OP = 'UPDATE' AND OLD.state = 'fulfilled' AND NEW.state = 'open'
         AND NEW.fulfilled_by_payout_id IS NULL AND NEW.fulfilled_at IS NULL
         AND (NEW.id, NEW.payout_id, NEW.organisation_id, NEW.programme_id, NEW.decision_id, NEW.currency, NEW.amount_minor, NEW.requested_at)
             IS NOT DISTINCT FROM (OLD.id, OLD.payout_id, OLD.organisation_id, OLD.programme_id, OLD.decision_id, OLD.currency, OLD.amount_minor, OLD.requested_at)
         AND EXISTS (SELECT 1 FROM payouts p WHERE p.id = OLD.fulfilled_by_payout_id AND p.state = 'cancelled') THEN
        RETURN NEW;
      END IF;
      IF TG_OP = 'DELETE' OR OLD.state <> 'open' OR NEW.state <> 'fulfilled'
         OR (NEW.id, NEW.payout_id, NEW.organisation_id, NEW.programme_id, NEW.decision_id, NEW.currency, NEW.amount_minor, NEW.requested_at)
            IS DISTINCT FROM (OLD.id, OLD.payout_id, OLD.organisation_id, OLD.programme_id, OLD.decision_id, OLD.currency, OLD.amount_minor, OLD.requested_at) THEN
        RAISE EXCEPTION 're-pay request %: only an open request is fulfilled, once, and only a cancelled payout''s is released', OLD.id USING ERRCODE = 'integrity_constraint_violation';
      END IF;
      RETURN NEW;
    END
    $fn$;

    CREATE INDEX payouts_in_flight ON payouts (batch_id) WHERE state IN ('queued', 'submitting', 'submitted', 'unknown');
    CREATE INDEX payouts_dead_lettered ON payouts (status_flagged_at, id) WHERE status_flagged_at IS NOT NULL AND state IN ('queued', 'submitted', 'unknown');
    CREATE INDEX batches_organisation ON batches (organisation_id, id);
  `.execute(db);
}

export async function down(): Promise<void> {
  throw new Error('migrations are never rolled back; write a new one');
}

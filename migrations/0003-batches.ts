// Maker–checker (issue #4): programme policy (approval tiers, enabled providers, per-payout
// maximum, what to do with invalid rows), approvals as stored detached signatures, and what a
// batch records about its submission. Money is bigint minor units, as everywhere.
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    -- Approval tiers above the base (approvals_required applies from a total of 0):
    -- [{"fromMinor": "10000000", "approvers": 2}, ...], strictly increasing fromMinor.
    ALTER TABLE programmes
      ADD COLUMN approval_tiers jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(approval_tiers) = 'array'),
      ADD COLUMN providers text[] NOT NULL DEFAULT '{mpesa}' CHECK (cardinality(providers) BETWEEN 1 AND 16),
      ADD COLUMN payout_max_minor bigint CHECK (payout_max_minor > 0),
      ADD COLUMN row_errors text NOT NULL DEFAULT 'reject_batch' CHECK (row_errors IN ('reject_batch', 'accept_valid_rows')),
      ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();

    CREATE INDEX signer_keys_organisation ON signer_keys (organisation_id, kid);
    ALTER TABLE signer_keys
      -- The person (JWT subject) who holds the private key: a key signs only for its holder, so
      -- one person cannot be maker and approver of the same batch by holding two keys.
      ADD COLUMN holder text CHECK (length(holder) BETWEEN 1 AND 256),
      ADD COLUMN created_by text,
      ADD COLUMN revoked_by text,
      ADD CONSTRAINT signer_keys_kid_format CHECK (kid ~ '^[A-Za-z0-9_-]{43}$') NOT VALID;

    ALTER TABLE batches
      -- Fixed when the batch is stored: a later policy change does not move the goalposts.
      ADD COLUMN approvals_required smallint NOT NULL DEFAULT 0 CHECK (approvals_required BETWEEN 0 AND 16),
      -- The authenticated caller (JWT sub) who submitted: the maker, who may never approve.
      ADD COLUMN submitted_by text,
      -- Rows left out under 'accept_valid_rows': [{row, field, code}] (no beneficiary data).
      ADD COLUMN rejected_rows jsonb NOT NULL DEFAULT '[]',
      ADD COLUMN cancelled_by text,
      ADD COLUMN cancel_reason text CHECK (length(cancel_reason) <= 200);

    -- What the expirer looks for: batches still waiting for approvers past their expiresAt.
    CREATE INDEX batches_awaiting_expiry ON batches (expires_at) WHERE state = 'awaiting_approval';

    -- One row per approving key: the detached signature over the stored payload, for non-repudiation.
    CREATE TABLE batch_approvals (
      batch_id uuid NOT NULL REFERENCES batches(id),
      kid text NOT NULL REFERENCES signer_keys(kid),
      protected text NOT NULL,
      signature text NOT NULL,
      -- The person who approved: the JWT subject who posted it, or for a co-signature that came with
      -- the submission the key's holder (NULL when the key names none). One approval per person.
      approved_by text,
      approved_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (batch_id, kid)
    );
    CREATE UNIQUE INDEX batch_approvals_one_per_subject ON batch_approvals (batch_id, approved_by) WHERE approved_by IS NOT NULL;
    CREATE TRIGGER batch_approvals_append_only BEFORE UPDATE OR DELETE ON batch_approvals
      FOR EACH ROW EXECUTE FUNCTION tuma_refuse_change();
  `.execute(db);
}

export async function down(): Promise<void> {
  throw new Error('migrations are never rolled back; write a new one');
}

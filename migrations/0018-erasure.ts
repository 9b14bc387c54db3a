// Erasure and master-key rotation (issue #15 item 3).
//
// Erasure is crypto-shredding: a programme's beneficiary data (payouts' numbers and names, the
// signed batch documents, the callbacks about its payouts) is sealed under its data key alone, so
// deleting that key (one row of data_keys) makes all of it unreadable, wherever copies of the
// ciphertext sit. An admin asks, a second admin confirms (maker–checker); the confirmation deletes
// the key, marks the programme erased and deletes the sealed statement files no live programme
// still needs, in one transaction. Nothing of the ledger, the audit log or the reconciliation is
// deleted: transfers, payouts (amount, state, provider reference), statement lines and classes hold
// no name or number and stay as they are.
//
// Ciphertext columns are NOT overwritten (payouts.msisdn_enc/msisdn_hash/name_enc,
// batches.payload_enc, callbacks.raw_body_enc): under a destroyed 256-bit key they are noise, and
// rewriting every row of a large programme would write its ciphertext once more into WAL, replicas
// and backups without taking it out of the old ones — the reason for crypto-shredding. The blind
// index (msisdn_hash) is keyed by the destroyed key too: no number can be looked up any more.
// Statement files are different: they are sealed under the programme-independent key (a statement
// of a shared provider account names people of several programmes), which is not destroyed, so
// their chunks are deleted — once every programme the statement's reconciliation names is erased.
//
// Backups hold the data key wrapped by the master key: erasure reaches them once that master key
// is retired (rotate the master key after erasing, then destroy the old one). Rotation rewraps every
// data key, and the programme-independent key (now stored, wrapped, in vault_keys), under a new
// master key; each wrapped key names the master key that wraps it (master_key_id, NULL for keys
// wrapped before ids existed), so a process given two master keys opens both kinds meanwhile.
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    -- retention_days: days the beneficiary data is kept after the programme's last batch activity
    -- (NULL: none set); erasure is due then. erased_at: when its data key was destroyed, for good.
    ALTER TABLE programmes
      ADD COLUMN retention_days integer CHECK (retention_days BETWEEN 1 AND 36600),
      ADD COLUMN erased_at timestamptz;

    CREATE FUNCTION tuma_programme_erased_guard() RETURNS trigger LANGUAGE plpgsql AS $fn$
    BEGIN
      RAISE EXCEPTION 'programme % was erased at %: that never changes', OLD.id, OLD.erased_at USING ERRCODE = 'integrity_constraint_violation';
    END
    $fn$;
    -- Evaluated without calling the function: an ordinary policy change pays nothing for it.
    CREATE TRIGGER programmes_erased_guard BEFORE UPDATE ON programmes FOR EACH ROW
      WHEN (OLD.erased_at IS NOT NULL AND NEW.erased_at IS DISTINCT FROM OLD.erased_at)
      EXECUTE FUNCTION tuma_programme_erased_guard();

    -- Which master key wraps the data key (an id derived from it, never the key); NULL: wrapped before ids existed.
    ALTER TABLE data_keys
      ADD COLUMN master_key_id text CHECK (master_key_id ~ '^[0-9a-f]{16}$'),
      ADD COLUMN rewrapped_at timestamptz;

    -- A data key is deleted only by erasing its programme, and an erased programme never gets one
    -- again (a process still holding the old key in memory cannot seal anything new under a new one).
    -- The programme row is read FOR KEY SHARE: an erasure in progress (FOR UPDATE) is waited for.
    CREATE FUNCTION tuma_data_key_guard() RETURNS trigger LANGUAGE plpgsql AS $fn$
    DECLARE
      pid text := CASE WHEN TG_OP = 'INSERT' THEN NEW.programme_id ELSE OLD.programme_id END;
      erased timestamptz;
    BEGIN
      SELECT erased_at INTO erased FROM programmes WHERE id = pid FOR KEY SHARE;
      IF TG_OP = 'INSERT' THEN
        IF erased IS NOT NULL THEN
          RAISE EXCEPTION 'programme % is erased: its beneficiary data is gone and it takes no new data key', pid USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        RETURN NEW;
      END IF;
      IF erased IS NULL THEN
        RAISE EXCEPTION 'the data key of programme % is deleted only by erasing the programme', pid USING ERRCODE = 'integrity_constraint_violation';
      END IF;
      RETURN OLD;
    END
    $fn$;
    CREATE TRIGGER data_keys_guard BEFORE INSERT OR DELETE ON data_keys FOR EACH ROW EXECUTE FUNCTION tuma_data_key_guard();
    CREATE TRIGGER data_keys_no_truncate BEFORE TRUNCATE ON data_keys FOR EACH STATEMENT EXECUTE FUNCTION tuma_refuse_change();

    -- An erased programme takes no new batch (its data could not be sealed, nor its payouts sent).
    CREATE FUNCTION tuma_batch_programme_guard() RETURNS trigger LANGUAGE plpgsql AS $fn$
    DECLARE
      erased timestamptz;
    BEGIN
      SELECT erased_at INTO erased FROM programmes WHERE id = NEW.programme_id FOR KEY SHARE;
      IF erased IS NOT NULL THEN
        RAISE EXCEPTION 'programme % is erased: it takes no new batch', NEW.programme_id USING ERRCODE = 'integrity_constraint_violation';
      END IF;
      RETURN NEW;
    END
    $fn$;
    CREATE TRIGGER batches_programme_guard BEFORE INSERT ON batches FOR EACH ROW EXECUTE FUNCTION tuma_batch_programme_guard();

    -- Keys of the vault that belong to no programme: today the key of unowned data (statement files,
    -- callbacks about transactions we do not know). Before this table it was derived from the master
    -- key, so rotating the master key would have lost it; now it is stored once, wrapped, and rewrapped.
    CREATE TABLE vault_keys (
      name text PRIMARY KEY CHECK (name IN ('unowned')),
      master_key_id text NOT NULL CHECK (master_key_id ~ '^[0-9a-f]{16}$'),
      wrapped_key bytea NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      rewrapped_at timestamptz
    );
    CREATE TRIGGER vault_keys_no_delete BEFORE DELETE ON vault_keys FOR EACH ROW EXECUTE FUNCTION tuma_refuse_change();
    CREATE TRIGGER vault_keys_no_truncate BEFORE TRUNCATE ON vault_keys FOR EACH STATEMENT EXECUTE FUNCTION tuma_refuse_change();

    -- Erasure requests: an admin asks, another admin of the organisation confirms before expires_at.
    -- At most one live request (awaiting or done) per programme; an expired one may be asked again.
    -- The counts say what erasing did (never a name or a number).
    CREATE TABLE programme_erasures (
      id uuid PRIMARY KEY,
      programme_id text NOT NULL REFERENCES programmes(id),
      organisation_id text NOT NULL REFERENCES organisations(id),
      state text NOT NULL CHECK (state IN ('awaiting_confirmation', 'erased', 'expired')),
      reason text NOT NULL CHECK (length(reason) BETWEEN 1 AND 500),
      requested_by text NOT NULL CHECK (length(requested_by) BETWEEN 1 AND 256),
      requested_at timestamptz NOT NULL,
      request_id text CHECK (length(request_id) BETWEEN 1 AND 128),
      expires_at timestamptz NOT NULL,
      confirmed_by text CHECK (length(confirmed_by) BETWEEN 1 AND 256),
      confirmed_at timestamptz,
      confirm_request_id text CHECK (length(confirm_request_id) BETWEEN 1 AND 128),
      payouts bigint CHECK (payouts >= 0),
      data_key_destroyed boolean,
      CHECK (expires_at > requested_at),
      CHECK (confirmed_by IS NULL OR confirmed_by <> requested_by),
      CHECK ((state = 'erased') = (confirmed_by IS NOT NULL)),
      CHECK ((confirmed_by IS NULL) = (confirmed_at IS NULL)),
      CHECK ((state = 'erased') = (payouts IS NOT NULL AND data_key_destroyed IS NOT NULL))
    );
    CREATE UNIQUE INDEX programme_erasures_live ON programme_erasures (programme_id) WHERE state <> 'expired';

    -- Only an awaiting request moves, once, to erased (with its confirmation) or expired; nothing else changes.
    CREATE FUNCTION tuma_erasure_guard() RETURNS trigger LANGUAGE plpgsql AS $fn$
    BEGIN
      IF TG_OP = 'DELETE' OR OLD.state <> 'awaiting_confirmation' OR NEW.state = 'awaiting_confirmation'
         OR (NEW.id, NEW.programme_id, NEW.organisation_id, NEW.reason, NEW.requested_by, NEW.requested_at, NEW.request_id, NEW.expires_at)
            IS DISTINCT FROM (OLD.id, OLD.programme_id, OLD.organisation_id, OLD.reason, OLD.requested_by, OLD.requested_at, OLD.request_id, OLD.expires_at) THEN
        RAISE EXCEPTION 'erasure request %: only an awaiting request is confirmed or expires, once', OLD.id USING ERRCODE = 'integrity_constraint_violation';
      END IF;
      RETURN NEW;
    END
    $fn$;
    CREATE TRIGGER programme_erasures_guard BEFORE UPDATE OR DELETE ON programme_erasures FOR EACH ROW EXECUTE FUNCTION tuma_erasure_guard();

    -- A statement's sealed file: deleted (its chunks) once every programme its reconciliation names
    -- is erased; file_erased_at says when, for good. Until then, each erasure that had to leave it
    -- (shared with a programme not erased) records so below.
    ALTER TABLE statements ADD COLUMN file_erased_at timestamptz;
    CREATE FUNCTION tuma_statement_file_erased_guard() RETURNS trigger LANGUAGE plpgsql AS $fn$
    BEGIN
      RAISE EXCEPTION 'statement %: its file was erased at %, for good', OLD.id, OLD.file_erased_at USING ERRCODE = 'integrity_constraint_violation';
    END
    $fn$;
    CREATE TRIGGER statements_file_erased_guard BEFORE UPDATE ON statements FOR EACH ROW
      WHEN (OLD.file_erased_at IS NOT NULL AND NEW.file_erased_at IS DISTINCT FROM OLD.file_erased_at)
      EXECUTE FUNCTION tuma_statement_file_erased_guard();

    -- statement_files stays append-only, but for deleting the chunks of a statement whose file is erased.
    CREATE FUNCTION tuma_statement_file_guard() RETURNS trigger LANGUAGE plpgsql AS $fn$
    BEGIN
      IF TG_OP = 'DELETE' AND EXISTS (SELECT 1 FROM statements s WHERE s.id = OLD.statement_id AND s.file_erased_at IS NOT NULL) THEN
        RETURN OLD;
      END IF;
      RAISE EXCEPTION 'rows of % are append-only (% refused)', TG_TABLE_NAME, TG_OP USING ERRCODE = 'integrity_constraint_violation';
    END
    $fn$;
    DROP TRIGGER statement_files_append_only ON statement_files;
    CREATE TRIGGER statement_files_append_only BEFORE UPDATE OR DELETE ON statement_files
      FOR EACH ROW EXECUTE FUNCTION tuma_statement_file_guard();
    CREATE TRIGGER statement_files_no_truncate BEFORE TRUNCATE ON statement_files FOR EACH STATEMENT EXECUTE FUNCTION tuma_refuse_change();

    -- Per erasure, each statement naming the programme's payouts and what became of its file:
    -- erased, or kept because other programmes it names are not erased (how many). A later erasure
    -- (or the same one swept again) that erases the file moves kept to erased.
    CREATE TABLE programme_erasure_statements (
      erasure_id uuid NOT NULL REFERENCES programme_erasures(id),
      statement_id uuid NOT NULL REFERENCES statements(id),
      outcome text NOT NULL CHECK (outcome IN ('file_erased', 'file_kept_shared')),
      programmes_not_erased integer NOT NULL CHECK (programmes_not_erased >= 0),
      at timestamptz NOT NULL,
      CHECK ((outcome = 'file_erased') = (programmes_not_erased = 0)),
      PRIMARY KEY (erasure_id, statement_id)
    );
    CREATE INDEX programme_erasure_statements_kept ON programme_erasure_statements (statement_id) WHERE outcome = 'file_kept_shared';
  `.execute(db);
}

export async function down(): Promise<void> {
  throw new Error('migrations are never rolled back; write a new one');
}

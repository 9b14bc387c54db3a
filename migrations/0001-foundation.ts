// Foundation schema: organisations, signer keys, data keys, the double-entry ledger, batches,
// payouts (the dispatch outbox), attempts, callbacks and results (the results outbox).
// Money is bigint minor units; the database refuses every rule the service also checks.
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE organisations (
      id text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9_.:-]{1,64}$'),
      name text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    );

    CREATE TABLE ledgers (
      currency char(3) PRIMARY KEY CHECK (currency ~ '^[A-Z]{3}$'),
      scale smallint NOT NULL CHECK (scale BETWEEN 0 AND 4)
    );

    CREATE TABLE programmes (
      id text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9_.:-]{1,64}$'),
      organisation_id text NOT NULL REFERENCES organisations(id),
      name text NOT NULL,
      currency char(3) NOT NULL REFERENCES ledgers(currency),
      approvals_required smallint NOT NULL DEFAULT 0 CHECK (approvals_required BETWEEN 0 AND 16),
      created_at timestamptz NOT NULL DEFAULT now()
    );

    -- Per-programme data keys, wrapped by the master key. Deleting one erases (crypto-shreds) the
    -- beneficiary data of its programme while the ledger stays whole.
    CREATE TABLE data_keys (
      programme_id text PRIMARY KEY REFERENCES programmes(id),
      wrapped_key bytea NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    );

    CREATE TABLE signer_keys (
      kid text PRIMARY KEY,
      organisation_id text NOT NULL REFERENCES organisations(id),
      role text NOT NULL CHECK (role IN ('maker', 'approver')),
      alg text NOT NULL CHECK (alg IN ('ES256', 'EdDSA', 'PS256')),
      public_jwk jsonb NOT NULL,
      not_before timestamptz NOT NULL,
      not_after timestamptz,
      revoked_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT now(),
      CHECK (not_after IS NULL OR not_after > not_before)
    );

    CREATE TABLE accounts (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      currency char(3) NOT NULL REFERENCES ledgers(currency),
      key text NOT NULL,
      debits_posted bigint NOT NULL DEFAULT 0 CHECK (debits_posted >= 0),
      credits_posted bigint NOT NULL DEFAULT 0 CHECK (credits_posted >= 0),
      debits_must_not_exceed_credits boolean NOT NULL DEFAULT false,
      credits_must_not_exceed_debits boolean NOT NULL DEFAULT false,
      closed boolean NOT NULL DEFAULT false,
      created_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (currency, key),
      UNIQUE (id, currency),
      CHECK (NOT (debits_must_not_exceed_credits AND credits_must_not_exceed_debits)),
      CONSTRAINT accounts_debits_within_credits CHECK (NOT debits_must_not_exceed_credits OR debits_posted <= credits_posted),
      CONSTRAINT accounts_credits_within_debits CHECK (NOT credits_must_not_exceed_debits OR credits_posted <= debits_posted)
    );

    CREATE TABLE transfers (
      id uuid PRIMARY KEY,
      seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
      journal_id uuid NOT NULL,
      currency char(3) NOT NULL,
      debit_account_id bigint NOT NULL,
      credit_account_id bigint NOT NULL,
      amount bigint NOT NULL CHECK (amount > 0),
      code text NOT NULL CHECK (code IN ('funding', 'float_topup', 'batch_commit', 'payout_paid', 'payout_released')),
      batch_id uuid,
      payout_id uuid,
      created_at timestamptz NOT NULL DEFAULT now(),
      CHECK (debit_account_id <> credit_account_id),
      -- Both accounts belong to the transfer's ledger (currency): composite keys make it a database fact.
      FOREIGN KEY (debit_account_id, currency) REFERENCES accounts(id, currency),
      FOREIGN KEY (credit_account_id, currency) REFERENCES accounts(id, currency)
    );
    CREATE INDEX transfers_journal ON transfers (journal_id);
    CREATE INDEX transfers_debit ON transfers (debit_account_id, seq);
    CREATE INDEX transfers_credit ON transfers (credit_account_id, seq);
    CREATE INDEX transfers_payout ON transfers (payout_id) WHERE payout_id IS NOT NULL;

    -- Transfers are facts: corrections are new transfers, never edits.
    CREATE FUNCTION tuma_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $fn$
    BEGIN
      RAISE EXCEPTION 'rows of % are append-only (% refused)', TG_TABLE_NAME, TG_OP USING ERRCODE = 'integrity_constraint_violation';
    END
    $fn$;
    CREATE TRIGGER transfers_append_only BEFORE UPDATE OR DELETE ON transfers
      FOR EACH ROW EXECUTE FUNCTION tuma_refuse_change();
    CREATE TRIGGER transfers_no_truncate BEFORE TRUNCATE ON transfers
      FOR EACH STATEMENT EXECUTE FUNCTION tuma_refuse_change();

    CREATE TABLE batches (
      id uuid PRIMARY KEY,
      organisation_id text NOT NULL REFERENCES organisations(id),
      programme_id text NOT NULL REFERENCES programmes(id),
      currency char(3) NOT NULL REFERENCES ledgers(currency),
      state text NOT NULL CHECK (state IN ('received', 'awaiting_approval', 'approved', 'dispatching', 'completed', 'rejected', 'cancelled')),
      payout_count integer NOT NULL CHECK (payout_count > 0),
      total_minor bigint NOT NULL CHECK (total_minor > 0),
      -- The exact signed bytes (sealed with the programme's data key: they hold phone numbers
      -- and names) and every signature, kept for non-repudiation.
      payload_enc bytea NOT NULL,
      payload_sha256 bytea NOT NULL,
      signatures jsonb NOT NULL,
      maker_kid text NOT NULL REFERENCES signer_keys(kid),
      document_created_at timestamptz NOT NULL,
      expires_at timestamptz NOT NULL,
      received_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX batches_programme ON batches (programme_id, received_at);

    CREATE TABLE payouts (
      id uuid PRIMARY KEY,
      batch_id uuid NOT NULL REFERENCES batches(id),
      row_no integer NOT NULL CHECK (row_no >= 0),
      ref text NOT NULL,
      provider text NOT NULL,
      currency char(3) NOT NULL REFERENCES ledgers(currency),
      amount_minor bigint NOT NULL CHECK (amount_minor > 0),
      msisdn_enc bytea NOT NULL,
      msisdn_hash bytea NOT NULL,
      name_enc bytea,
      state text NOT NULL CHECK (state IN ('accepted', 'approved', 'queued', 'submitting', 'submitted', 'unknown', 'paid', 'failed', 'cancelled', 'reversed')),
      attempt_count integer NOT NULL DEFAULT 0 CHECK (attempt_count >= 0),
      provider_reference text,
      failure_code text,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (batch_id, ref),
      UNIQUE (batch_id, row_no)
    );
    -- The dispatch outbox: what the relay claims.
    CREATE INDEX payouts_dispatchable ON payouts (created_at, id) WHERE state = 'approved';
    CREATE INDEX payouts_batch_state ON payouts (batch_id, state);

    -- Append-only history of every payout move with its cause.
    CREATE TABLE payout_transitions (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      payout_id uuid NOT NULL REFERENCES payouts(id),
      from_state text,
      to_state text NOT NULL,
      cause text NOT NULL,
      at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX payout_transitions_payout ON payout_transitions (payout_id, id);
    CREATE TRIGGER payout_transitions_append_only BEFORE UPDATE OR DELETE ON payout_transitions
      FOR EACH ROW EXECUTE FUNCTION tuma_refuse_change();

    -- One row per call to a provider, written before the call: the key is never lost.
    CREATE TABLE payout_attempts (
      payout_id uuid NOT NULL REFERENCES payouts(id),
      attempt_no integer NOT NULL CHECK (attempt_no > 0),
      idempotency_key text NOT NULL UNIQUE,
      callback_token_sha256 bytea NOT NULL UNIQUE,
      outcome text NOT NULL DEFAULT 'pending' CHECK (outcome IN ('pending', 'accepted', 'rejected', 'ambiguous')),
      provider_conversation_id text,
      detail text,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (payout_id, attempt_no)
    );

    -- Provider callbacks exactly as received (raw body, sealed: it can name the receiver), once per dedupe key.
    CREATE TABLE callbacks (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      provider text NOT NULL,
      dedupe_key text NOT NULL,
      payout_id uuid REFERENCES payouts(id),
      raw_body_enc bytea NOT NULL,
      received_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (provider, dedupe_key)
    );

    -- The results outbox: every final provider outcome, whatever its source, published by the relay.
    CREATE TABLE payout_results (
      id uuid PRIMARY KEY,
      payout_id uuid NOT NULL REFERENCES payouts(id),
      batch_id uuid NOT NULL REFERENCES batches(id),
      outcome text NOT NULL CHECK (outcome IN ('paid', 'failed', 'ambiguous')),
      reason_code text,
      provider_reference text,
      source text NOT NULL CHECK (source IN ('sync', 'callback', 'status_query')),
      created_at timestamptz NOT NULL DEFAULT now(),
      published_at timestamptz
    );
    CREATE INDEX payout_results_unpublished ON payout_results (created_at, id) WHERE published_at IS NULL;
  `.execute(db);
}

export async function down(): Promise<void> {
  throw new Error('migrations are never rolled back; write a new one');
}

// Reconciliation (issue #14), first slice: provider statements, their lines, and one class per
// line and per ledger payout of the period.
//
// Scope: a statement belongs to a *provider account* (one shortcode's Utility account is one file),
// not to an organisation: an account may pay for several organisations, and the provider's file
// does not say which line is whose. The organisation that imported it is recorded (and the person);
// the ledger side is every payout attempted through the account (payout_attempts.account_id).
//
// Beneficiary data: the original file names people (Details, Other Party Info). It is kept sealed,
// in chunks, under the vault's programme-independent key; no line table holds a name or a number.
// The staging table holds the file's cells in clear only inside the importing transaction: the
// importer empties it before committing, and an UNLOGGED table is emptied by crash recovery.
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE statements (
      id uuid PRIMARY KEY,
      account_id text NOT NULL CHECK (account_id ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
      currency char(3) NOT NULL REFERENCES ledgers(currency),
      organisation_id text NOT NULL REFERENCES organisations(id),
      imported_by text NOT NULL CHECK (length(imported_by) BETWEEN 1 AND 256),
      format text NOT NULL CHECK (format ~ '^[a-z0-9-]{1,64}$'),
      format_version integer NOT NULL CHECK (format_version > 0),
      period_from timestamptz NOT NULL,
      period_to timestamptz NOT NULL,
      sha256 bytea NOT NULL CHECK (length(sha256) = 32),
      size_bytes bigint NOT NULL CHECK (size_bytes > 0),
      file_chunks integer NOT NULL CHECK (file_chunks > 0),
      opening_balance_minor bigint NOT NULL,
      closing_balance_minor bigint NOT NULL,
      lines_total integer NOT NULL CHECK (lines_total >= 0),
      lines_imported integer NOT NULL CHECK (lines_imported >= 0),
      lines_refused integer NOT NULL CHECK (lines_refused >= 0),
      -- Line, column and problem of each refused line (when finance imported the good lines only);
      -- never a cell's content.
      refused_lines jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(refused_lines) = 'array'),
      counts jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(counts) = 'object'),
      imported_at timestamptz NOT NULL DEFAULT now(),
      CHECK (period_to > period_from),
      CHECK (lines_imported + lines_refused = lines_total),
      UNIQUE (account_id, sha256)
    );
    CREATE INDEX statements_account_period ON statements (account_id, period_from);

    -- The original bytes, sealed chunk by chunk (subject statement:<id>:<chunk_no>), in order.
    CREATE TABLE statement_files (
      statement_id uuid NOT NULL REFERENCES statements(id),
      chunk_no integer NOT NULL CHECK (chunk_no >= 0),
      sealed bytea NOT NULL,
      PRIMARY KEY (statement_id, chunk_no)
    );
    CREATE TRIGGER statement_files_append_only BEFORE UPDATE OR DELETE ON statement_files
      FOR EACH ROW EXECUTE FUNCTION tuma_refuse_change();

    -- COPY lands here: a mapping's columns in order as text (c01…c24), and the data line's number
    -- (1 = the first line after the column header). Emptied (RESTART IDENTITY) by each import.
    CREATE UNLOGGED TABLE statement_staging (
      line_no bigint GENERATED ALWAYS AS IDENTITY,
      c01 text, c02 text, c03 text, c04 text, c05 text, c06 text, c07 text, c08 text,
      c09 text, c10 text, c11 text, c12 text, c13 text, c14 text, c15 text, c16 text,
      c17 text, c18 text, c19 text, c20 text, c21 text, c22 text, c23 text, c24 text
    );

    -- One durable row per statement line, its class on it (written once, by the one statement
    -- that reads the staging table, in the transaction that inserts its statement). No foreign
    -- key to statements: an RI check is a query per row (~5 µs, 5 s for a 1M-line statement).
    -- Text that is compared, sorted or indexed is in the "C" collation (byte-wise; the database's
    -- collation sorts through strcoll, measured ~2x slower for the unique index and the sort that
    -- finds duplicates). payout_id/ledger_minor: the ledger payout the line was matched with.
    CREATE TABLE statement_lines (
      statement_id uuid NOT NULL,
      line_no integer NOT NULL CHECK (line_no > 0),
      account_id text COLLATE "C" NOT NULL,
      provider_transaction_id text COLLATE "C" NOT NULL CHECK (length(provider_transaction_id) BETWEEN 1 AND 100),
      kind text COLLATE "C" NOT NULL CHECK (kind IN ('payout', 'charge', 'reversal', 'other')),
      status text NOT NULL CHECK (status IN ('completed', 'failed')),
      completed_at timestamptz NOT NULL,
      paid_in_minor bigint NOT NULL CHECK (paid_in_minor >= 0),
      withdrawn_minor bigint NOT NULL CHECK (withdrawn_minor >= 0),
      balance_minor bigint,
      linked_transaction_id text CHECK (length(linked_transaction_id) BETWEEN 1 AND 100),
      our_reference text CHECK (length(our_reference) BETWEEN 1 AND 128),
      -- A second line for one transaction id and kind (in this file or an earlier one): kept, and
      -- classed duplicate_at_provider; the first line alone is unique.
      duplicate boolean NOT NULL,
      class text NOT NULL CHECK (class IN ('matched', 'amount_over', 'amount_under', 'status_mismatch', 'paid_not_in_ledger',
        'duplicate_at_provider', 'unknown_reference', 'reversal', 'non_payout')),
      payout_id uuid,
      ledger_minor bigint,
      CHECK (paid_in_minor = 0 OR withdrawn_minor = 0),
      CHECK ((class IN ('matched', 'amount_over', 'amount_under', 'status_mismatch', 'paid_not_in_ledger')) = (payout_id IS NOT NULL)),
      CHECK ((payout_id IS NULL) = (ledger_minor IS NULL)),
      CHECK (class <> 'amount_over' OR withdrawn_minor - paid_in_minor > ledger_minor),
      CHECK (class <> 'amount_under' OR withdrawn_minor - paid_in_minor < ledger_minor)
    );
    CREATE UNIQUE INDEX statement_lines_transaction ON statement_lines (account_id, provider_transaction_id, kind) WHERE NOT duplicate;
    -- A statement's lines are written together, so a block range index finds them for a few
    -- pages of index (a btree over 1M lines costs ~1 s per import); its exceptions have their own.
    CREATE INDEX statement_lines_statement ON statement_lines USING brin (statement_id);
    CREATE INDEX statement_lines_exceptions ON statement_lines (statement_id, class) WHERE class <> 'matched';
    CREATE TRIGGER statement_lines_append_only BEFORE UPDATE OR DELETE ON statement_lines
      FOR EACH ROW EXECUTE FUNCTION tuma_refuse_change();

    -- The ledger payouts of the period that no line names (missing_at_provider).
    CREATE TABLE reconciliation_payouts (
      statement_id uuid NOT NULL,
      payout_id uuid NOT NULL,
      class text NOT NULL CHECK (class IN ('missing_at_provider')),
      ledger_minor bigint NOT NULL,
      PRIMARY KEY (statement_id, payout_id)
    );
    CREATE TRIGGER reconciliation_payouts_append_only BEFORE UPDATE OR DELETE ON reconciliation_payouts
      FOR EACH ROW EXECUTE FUNCTION tuma_refuse_change();

    -- Exactly one class per statement line (line_no) and per ledger payout of the period that no
    -- line names (payout_id alone). statement_minor: the line's net debit (withdrawn - paid in).
    CREATE VIEW reconciliation_items AS
      SELECT statement_id, line_no, payout_id, class, withdrawn_minor - paid_in_minor AS statement_minor, ledger_minor FROM statement_lines
      UNION ALL
      SELECT statement_id, NULL::integer, payout_id, class, NULL::bigint, ledger_minor FROM reconciliation_payouts;

    -- DD-MM-YYYY HH:MM:SS at a fixed UTC offset, or NULL when it is no such time. Every part is
    -- checked (real days only; 29 February for its year) before the time is built, so a bad cell
    -- never raises. ~3 µs a line: the import reads times by two hash lookups (the period's days,
    -- the day's seconds) and calls this only to name a bad line's problem. STABLE, so it inlines.
    CREATE FUNCTION tuma_dmy_hms(t text, utc_offset_minutes integer) RETURNS timestamptz
      LANGUAGE sql STABLE PARALLEL SAFE AS $$
      SELECT CASE WHEN translate(t, '012345678', '999999999') = '99-99-9999 99:99:99' THEN
        CASE WHEN substr(t, 4, 2)::int BETWEEN 1 AND 12 AND substr(t, 7, 4)::int >= 1
              AND left(t, 2)::int BETWEEN 1 AND CASE substr(t, 4, 2)::int
                WHEN 2 THEN CASE WHEN substr(t, 7, 4)::int % 4 = 0 AND (substr(t, 7, 4)::int % 100 <> 0 OR substr(t, 7, 4)::int % 400 = 0) THEN 29 ELSE 28 END
                WHEN 4 THEN 30 WHEN 6 THEN 30 WHEN 9 THEN 30 WHEN 11 THEN 30 ELSE 31 END
              AND substr(t, 12, 2)::int < 24 AND substr(t, 15, 2)::int < 60 AND substr(t, 18, 2)::int < 60
        THEN (make_timestamp(substr(t, 7, 4)::int, substr(t, 4, 2)::int, left(t, 2)::int, substr(t, 12, 2)::int, substr(t, 15, 2)::int, substr(t, 18, 2)::int)
              - make_interval(mins => utc_offset_minutes)) AT TIME ZONE 'UTC'
        END
      END
    $$;
  `.execute(db);
}

export async function down(): Promise<void> {
  throw new Error('migrations are never rolled back; write a new one');
}

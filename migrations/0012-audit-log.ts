// The audit log (issue #14 item 6, issue #15 item 2): every privileged action, one row, written in
// the transaction of the action it records and hash-chained as it is written (the encoding and
// the action list are src/domain/audit.ts; the append is src/application/audit.ts).
//
// Append-only: a trigger refuses UPDATE, DELETE and TRUNCATE. The chain is checked as rows go in
// too: an event must link to the newest one (a trigger), and no two events may link to the same
// predecessor (a unique index), so a writer that skipped the lock fails instead of forking the
// chain. Only `tuma audit verify` can tell that a row's hash still covers its fields.
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE audit_events (
      -- Drawn under the audit lock (appendAudit), so seq order is chain order; a rolled-back
      -- action leaves a gap, which the chain does not mind (each row names its predecessor's hash).
      seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      -- The start of the action's transaction: with the lock taken later, not monotonic in seq.
      at timestamptz NOT NULL,
      organisation_id text NOT NULL REFERENCES organisations(id),
      -- The JWT subject, or operator:<name> for a server command.
      actor text NOT NULL CHECK (length(actor) BETWEEN 1 AND 128),
      request_id text CHECK (length(request_id) BETWEEN 1 AND 128),
      action text NOT NULL CHECK (action ~ '^[a-z_]{1,32}\\.[a-z_]{1,32}$'),
      object_type text NOT NULL CHECK (object_type ~ '^[a-z_]{1,32}$'),
      object_id text NOT NULL CHECK (length(object_id) BETWEEN 1 AND 128),
      -- A few short strings, never a phone number or a name (the domain refuses them before this).
      detail jsonb NOT NULL CHECK (jsonb_typeof(detail) = 'object' AND octet_length(detail::text) <= 4096),
      prev_hash bytea UNIQUE CHECK (length(prev_hash) = 32),
      hash bytea NOT NULL CHECK (length(hash) = 32)
    );
    -- Only the first event has no predecessor.
    CREATE UNIQUE INDEX audit_events_one_genesis ON audit_events ((prev_hash IS NULL)) WHERE prev_hash IS NULL;
    -- GET /v1/audit: an organisation's events in order.
    CREATE INDEX audit_events_organisation ON audit_events (organisation_id, seq);

    CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
      FOR EACH ROW EXECUTE FUNCTION tuma_refuse_change();
    CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
      FOR EACH STATEMENT EXECUTE FUNCTION tuma_refuse_change();

    -- A new event links to the newest stored one, past it. The query runs with a snapshot of its
    -- own (a volatile function under READ COMMITTED), so it sees every event committed so far.
    CREATE FUNCTION tuma_audit_link_guard() RETURNS trigger LANGUAGE plpgsql AS $fn$
    DECLARE
      head_seq bigint;
      head_hash bytea;
    BEGIN
      SELECT seq, hash INTO head_seq, head_hash FROM audit_events ORDER BY seq DESC LIMIT 1;
      IF NEW.prev_hash IS DISTINCT FROM head_hash OR NEW.seq <= coalesce(head_seq, 0) THEN
        RAISE EXCEPTION 'audit event % does not link to the newest event (seq %)', NEW.seq, coalesce(head_seq::text, 'none')
          USING ERRCODE = 'integrity_constraint_violation';
      END IF;
      RETURN NEW;
    END
    $fn$;
    CREATE TRIGGER audit_events_link_guard BEFORE INSERT ON audit_events
      FOR EACH ROW EXECUTE FUNCTION tuma_audit_link_guard();
  `.execute(db);
}

export async function down(): Promise<void> {
  throw new Error('migrations are never rolled back; write a new one');
}

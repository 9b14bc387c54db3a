// System events in the audit log, and provider accounts held by hand (issue #15 item 2).
//
// Some privileged changes belong to no organisation: a provider account's configuration (an
// account may pay for several organisations' programmes), its circuit breaker's state, the
// configuration a role started with. They are audit events like the others — in the same table,
// the same hash chain (the encoding writes an absent organisation `~,`, as it writes an absent
// request id), the same append-only guards — with no organisation: organisation_id NULL. A system
// organisation row was the other way; it would be an id a token could name (`org: "system"`) and
// a row every organisation-scoped query would have to leave out. Only the system actions may be
// written without an organisation, and they only without one (the CHECK below, the domain too).
// Who reads them through GET /v1/audit: src/application/audit.ts (listAudit).
//
// provider_account_holds: an admin holds a provider account's breaker open by hand (no call is
// sent through it until released), or closes it. Every worker reads the row and applies it; the
// revision tells a worker a close it has not applied yet. The row is the current state; the audit
// log keeps every change.
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE audit_events ALTER COLUMN organisation_id DROP NOT NULL;
    ALTER TABLE audit_events ADD CONSTRAINT audit_events_system_scope
      CHECK ((organisation_id IS NULL) = (action ~ '^(provider_account|breaker|configuration)\\.'));
    -- The last recorded configuration of a role, the last event of an account: read at every start.
    CREATE INDEX audit_events_system ON audit_events (object_type, object_id, seq) WHERE organisation_id IS NULL;

    CREATE TABLE provider_account_holds (
      account_id text PRIMARY KEY CHECK (account_id ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
      held boolean NOT NULL,
      reason text NOT NULL CHECK (length(reason) BETWEEN 1 AND 500),
      set_by text NOT NULL CHECK (length(set_by) BETWEEN 1 AND 256),
      organisation_id text NOT NULL REFERENCES organisations(id),
      set_at timestamptz NOT NULL,
      -- Raised by every change: a worker applies a close once per revision.
      revision bigint NOT NULL CHECK (revision >= 1)
    );
  `.execute(db);
}

export async function down(): Promise<void> {
  throw new Error('migrations are never rolled back; write a new one');
}

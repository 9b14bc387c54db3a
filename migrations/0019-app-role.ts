// The application's own database role (issue #15 item 2): the processes run their queries as
// `tuma_app` (SET ROLE on every connection), which may read and write what the application
// writes, but may not UPDATE, DELETE or TRUNCATE the audit log, the ledger's transfers or its hash
// chain: those are append-only for the application by privilege, not only by trigger (a trigger
// the table's owner could disable). Migrations keep running as the owner.
//
// Roles are the cluster's, not a database's: the role is created once (concurrent migrations of
// several databases may race to create it: the loser's duplicate_object is the same outcome).
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    DO $do$
    BEGIN
      IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tuma_app') THEN
        CREATE ROLE tuma_app NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
      END IF;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN
      NULL;
    END
    $do$;
    -- The migrating user may become the role (a superuser may anyway).
    DO $do$
    BEGIN
      EXECUTE format('GRANT tuma_app TO %I', current_user);
    EXCEPTION WHEN duplicate_object OR invalid_grant_operation THEN
      NULL;
    END
    $do$;
    GRANT USAGE ON SCHEMA public TO tuma_app;
    GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA public TO tuma_app;
    GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO tuma_app;
    -- Tables and sequences later migrations create (as this same owner) are the role's too.
    ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON TABLES TO tuma_app;
    ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO tuma_app;
    -- Append-only for the application.
    REVOKE UPDATE, DELETE, TRUNCATE ON audit_events, transfers, transfer_links FROM tuma_app;
  `.execute(db);
}

export async function down(): Promise<void> {
  throw new Error('migrations are never rolled back; write a new one');
}

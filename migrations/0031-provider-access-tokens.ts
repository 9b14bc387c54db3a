// A provider credential's access token, one for every process of a deployment (issue #17: roles
// scaled out by process). M-Pesa invalidates a credential's previous token with each new one, so
// processes that each fetched their own made each other's calls fail with 401 (the split load test
// read 482 of 5,000 payments as ambiguous). The token is sealed under the vault's unowned key (it
// is a bearer credential); the row is locked while one process replaces it, so a credential's
// token is fetched by one process at a time, and the others take it from here.
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE provider_access_tokens (
      -- A digest of the provider, its base URL and the client's id (never the secret itself).
      credential text PRIMARY KEY CHECK (credential ~ '^[a-z0-9-]{1,32}:[0-9a-f]{64}$'),
      generation bigint NOT NULL CHECK (generation >= 0),
      -- Null until a process has fetched the credential's first token.
      token_sealed bytea,
      -- When processes stop using it and replace it (before the provider's own expiry).
      refresh_at timestamptz,
      replaced_at timestamptz NOT NULL,
      CHECK ((token_sealed IS NULL) = (refresh_at IS NULL)),
      CHECK (length(token_sealed) <= 16384)
    );
  `.execute(db);
}

export async function down(): Promise<void> {
  throw new Error('migrations are never rolled back; write a new one');
}

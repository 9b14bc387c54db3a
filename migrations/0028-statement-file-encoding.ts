// A statement's original file is kept sealed, chunk by chunk (migration 0013). From here each
// 1 MiB chunk is compressed before it is sealed (zlib's deflate, RFC 1950, whose Adler-32 check
// fails on a wrong encoding), which a portal export takes to about a sixth: a 1M-line M-Pesa
// statement stores ~40 MB instead of ~230 MB, with that much less WAL in the import's transaction.
// Compressing after sealing gains nothing (ciphertext does not compress). Statements stored before
// this migration keep 'identity'.
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE statements ADD COLUMN file_encoding text NOT NULL DEFAULT 'identity' CHECK (file_encoding IN ('identity', 'deflate'));
    -- Sealed bytes do not compress: PostgreSQL's TOAST compression would only try and fail on each chunk.
    ALTER TABLE statement_files ALTER COLUMN sealed SET STORAGE EXTERNAL;
  `.execute(db);
}

export async function down(): Promise<void> {
  throw new Error('migrations are never rolled back; write a new one');
}

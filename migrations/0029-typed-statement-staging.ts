// The statement importer reads and checks each data line in Node while the bytes stream (issue
// #14: the cast and check were ~22% of the set-based pass, on the one core the server's backend
// has, while the other idled), and COPYs typed rows here instead of the cells as text: a good
// line's transaction id, kind, status, time and amounts in minor units; a bad line only its cells
// (as COPY read them: NULL for an empty unquoted cell), from which the refusal pass names its
// problems as before. One import at a time (the advisory lock); emptied by each. The text staging
// table of migration 0013 is no longer written.
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    -- line_no: the data line (1 = the first line after the column header). A good line has its
    -- typed columns and no cells; a bad line its cells and nothing else. Text that is compared,
    -- sorted or hashed is in the "C" collation, as the pass read it from the text cells.
    CREATE UNLOGGED TABLE statement_staging_lines (
      line_no bigint NOT NULL,
      txn text COLLATE "C",
      kind text COLLATE "C",
      status text,
      completed_at timestamptz,
      paid_in_minor bigint,
      withdrawn_minor bigint,
      fee_minor bigint,
      balance_minor bigint,
      linked text COLLATE "C",
      our_ref text COLLATE "C",
      cells text[]
    );
    DROP TABLE statement_staging;
  `.execute(db);
}

export async function down(): Promise<void> {
  throw new Error('migrations are never rolled back; write a new one');
}

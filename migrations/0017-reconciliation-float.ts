// The float check of a statement (issue #14 item 4): the provider's closing balance against the
// ledger's float at the cut-off. The ledger keeps one float per provider and organisation, not
// per provider account: the check is made when the account's float is the ledger's alone (no
// other configured account of the provider and currency shares it), and says why not otherwise.
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE statements
      -- ok, mismatch, or not_comparable (float_note says why); NULL: not made (no balances stated).
      ADD COLUMN float_check text CHECK (float_check IN ('ok', 'mismatch', 'not_comparable')),
      ADD COLUMN ledger_float_minor bigint,
      ADD COLUMN float_note text CHECK (length(float_note) <= 300),
      ADD CONSTRAINT statements_float_check CHECK ((float_check IN ('ok', 'mismatch')) = (ledger_float_minor IS NOT NULL));
    ALTER TABLE statement_checks DROP CONSTRAINT statement_checks_kind_check;
    ALTER TABLE statement_checks ADD CONSTRAINT statement_checks_kind_check CHECK (kind IN ('balance_total', 'running_balance', 'float_balance'));
  `.execute(db);
}

export async function down(): Promise<void> {
  throw new Error('migrations are never rolled back; write a new one');
}

// Applies every pending migration from migrations/index.ts with Kysely's Migrator. Used by
// `npm run migrate`, by every role at start, and by the test setup.
import { Migrator, type MigrationResultSet } from 'kysely';
import { migrations } from '../../../migrations/index.js';
import type { Db } from './database.js';

export async function migrateToLatest(db: Db): Promise<string[]> {
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => migrations },
    migrationTableName: 'tuma_migrations',
    migrationLockTableName: 'tuma_migrations_lock',
  });
  const result: MigrationResultSet = await migrator.migrateToLatest();
  if (result.error) {
    const failed = result.results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new Error(`migration ${failed} failed: ${String(result.error)}`, { cause: result.error });
  }
  return (result.results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

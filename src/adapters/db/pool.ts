// One pool per process, with an error listener (an idle client's error must not crash us
// silently) and one codec: bigint columns arrive as bigint, never as a lossy number.
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Logger } from 'pino';
import type { Database, Db } from './database.js';

const int8Oid = 20;

const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
    if (oid === int8Oid && (format === undefined || format === 'text')) return (value: string) => BigInt(value);
    return pg.types.getTypeParser(oid, format);
  }) as typeof pg.types.getTypeParser,
};

export interface DbHandle {
  readonly db: Db;
  readonly pool: pg.Pool;
  close(): Promise<void>;
}

export function createDb(connectionString: string, poolMax: number, logger: Logger): DbHandle {
  const pool = new pg.Pool({
    connectionString,
    max: poolMax,
    types,
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: 30_000,
    application_name: 'tuma',
  });
  pool.on('error', (error) => logger.error({ err: error }, 'idle PostgreSQL client failed'));
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return { db, pool, close: () => db.destroy() };
}

/** Is PostgreSQL answering? For /readyz. */
export async function databaseReady(pool: pg.Pool, timeoutMs: number): Promise<boolean> {
  const probe = pool.query('SELECT 1').then(() => true, () => false);
  const timeout = new Promise<boolean>((resolve) => setTimeout(() => resolve(false), timeoutMs).unref());
  return Promise.race([probe, timeout]);
}

// One pool per process, with an error listener (an idle client's error must not crash us
// silently) and one codec: bigint columns arrive as bigint, never as a lossy number.
import { isDatabaseShuttingDown } from '../../application/periodic.js';
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
  pool.on('error', (error) => {
    // The server shutting down (the embedded one gets the same Ctrl-C as we do, and stops first):
    // the pool drops the client and opens a new one when it needs one. Not an error of ours.
    if (isDatabaseShuttingDown(error)) logger.warn({ code: (error as { code?: string }).code }, 'PostgreSQL closed an idle connection: the server is shutting down or restarting');
    else logger.error({ err: error }, 'idle PostgreSQL client failed');
  });
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return { db, pool, close: () => db.destroy() };
}

/** Is PostgreSQL answering? For /readyz. */
export async function databaseReady(pool: pg.Pool, timeoutMs: number): Promise<boolean> {
  const probe = pool.query('SELECT 1').then(() => true, () => false);
  const timeout = new Promise<boolean>((resolve) => setTimeout(() => resolve(false), timeoutMs).unref());
  return Promise.race([probe, timeout]);
}

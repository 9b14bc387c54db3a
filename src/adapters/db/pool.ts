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

/** The database role the application's own queries run as (migration 0019): no UPDATE or DELETE on append-only tables. */
export const appRole = 'tuma_app';

/**
 * `role`: every session of the pool runs as it (the processes' pool); none for the owner's
 * connections (migrations, operators' commands).
 */
export function createDb(connectionString: string, poolMax: number, logger: Logger, options: { role?: string } = {}): DbHandle {
  const role = options.role;
  if (role !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(role)) throw new Error(`invariant violated: a role name is a plain identifier: ${JSON.stringify(role)}`);
  const pool = new pg.Pool({
    // The role as a startup parameter (what SET ROLE sets): every session of the pool runs as it from
    // its first query, with nothing to race (a connection never runs as the owner).
    ...(role !== undefined ? { options: `-c role=${role}` } : {}),
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

// Each test file gets a database of its own, created and migrated here, dropped at the end.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { pino } from 'pino';
import type { Db } from '../../src/adapters/db/database.js';
import { migrateToLatest } from '../../src/adapters/db/migrate.js';
import { createDb } from '../../src/adapters/db/pool.js';

export interface TestDatabase {
  readonly url: string;
  readonly db: Db;
  readonly pool: pg.Pool;
  drop(): Promise<void>;
}

function adminUrl(): string {
  const url = process.env.TEST_DATABASE_ADMIN_URL;
  if (!url) throw new Error('TEST_DATABASE_ADMIN_URL is not set: run the tests with `npm test`');
  return url;
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `tuma_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl() });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(adminUrl());
  url.pathname = `/${name}`;
  const handle = createDb(url.toString(), 10, pino({ level: 'silent' }));
  await migrateToLatest(handle.db);
  return {
    url: url.toString(),
    db: handle.db,
    pool: handle.pool,
    async drop() {
      await handle.close();
      const c = new pg.Client({ connectionString: adminUrl() });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

export function kafkaBrokers(): string {
  const brokers = process.env.TEST_KAFKA_BROKERS;
  if (!brokers) throw new Error('TEST_KAFKA_BROKERS is not set: run the tests with `npm test`');
  return brokers;
}

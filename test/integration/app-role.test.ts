// The processes' queries run as the application's role (issue #15 item 2, migration 0019): it
// writes what the application writes, but cannot UPDATE, DELETE or TRUNCATE the audit log, the
// ledger's transfers or its chain — refused by privilege, before any trigger is asked.
import { sql } from 'kysely';
import { pino } from 'pino';
import { appRole, createDb, type DbHandle } from '../../src/adapters/db/pool.js';
import type { Runtime } from '../../src/cli/runtime.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { setUpProgramme } from '../support/fixtures.js';
import { startTestRuntime, testConfig } from '../support/runtime.js';

let database: TestDatabase;
let app: DbHandle;
let runtime: Runtime;
beforeAll(async () => {
  database = await createTestDatabase();
  app = createDb(database.url, 2, pino({ level: 'silent' }), { role: appRole });
  runtime = await startTestRuntime(await testConfig(database.url, 'in-process'));
});
afterAll(async () => {
  await runtime?.stop();
  await app?.close();
  await database?.drop();
});

const code = async (query: string): Promise<string | null> => {
  try {
    await app.pool.query(query);
    return null;
  } catch (error) {
    return (error as { code?: string }).code ?? 'unknown';
  }
};

it('when the processes run, then their queries are the application role\'s, not the owner\'s', async () => {
  expect((await sql<{ u: string }>`SELECT current_user AS u`.execute(runtime.db)).rows[0]!.u).toBe(appRole);
  expect((await app.pool.query<{ u: string }>('SELECT current_user AS u')).rows[0]!.u).toBe(appRole);
});

it('when the application role tries to rewrite the audit log or the ledger, then the privilege is missing; what it writes itself, it may', async () => {
  // Something to rewrite: a programme funded (a transfer) and a policy set (an audit event), by the processes.
  const s = await setUpProgramme(runtime.persistence, 1_000_00n);
  expect(Number((await database.pool.query('SELECT count(*) AS n FROM transfers')).rows[0].n)).toBeGreaterThan(0);
  for (const statement of [
    'UPDATE audit_events SET actor = actor', 'DELETE FROM audit_events', 'TRUNCATE audit_events',
    'UPDATE transfers SET amount = amount', 'DELETE FROM transfers', 'TRUNCATE transfers CASCADE',
    'DELETE FROM transfer_links', 'UPDATE transfer_links SET hash = hash', 'TRUNCATE transfer_links',
  ]) {
    expect({ statement, code: await code(statement) }).toEqual({ statement, code: '42501' });
  }
  // It reads and writes the rest (a payout's row, say), and may not change the schema.
  expect(await code(`UPDATE programmes SET name = name WHERE id = '${s.programmeId}'`)).toBeNull();
  expect(await code('SELECT count(*) FROM audit_events')).toBeNull();
  expect(await code('ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only')).toBe('42501');
  expect(await code('CREATE TABLE sneaky (x int)')).toBe('42501');
});

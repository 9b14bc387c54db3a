// The real runtime (every role, as the application's database role) records its configuration and
// its provider accounts at start, and not again when restarted with the same configuration; a
// changed configuration is recorded with the sections that changed. While it runs, an admin's hold
// of a provider account reaches the worker's breaker (nothing sent through it), is audited by the
// API and by the worker, and shows in the metrics; closing it by hand lets calls through again.
// Real PostgreSQL, in-process transport. (issue #15 item 2)
import { sql } from 'kysely';
import request from 'supertest';
import type { Runtime } from '../../src/cli/runtime.js';
import type { Config } from '../../src/config/config.js';
import { verifyAuditLog } from '../../src/application/audit.js';
import { bearer } from '../support/api.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { setUpProgramme } from '../support/fixtures.js';
import { startTestRuntime, testConfig } from '../support/runtime.js';

let database: TestDatabase;
let config: Config;
let runtime: Runtime | null = null;

beforeAll(async () => {
  database = await createTestDatabase();
  config = await testConfig(database.url, 'in-process');
});
afterAll(async () => {
  await runtime?.stop();
  await database?.drop();
});

interface Row { action: string; object_id: string; actor: string; detail: Record<string, string> }
const systemEvents = async () =>
  (await sql<Row>`SELECT action, object_id, actor, detail FROM audit_events WHERE organisation_id IS NULL ORDER BY audit_events.seq`.execute(database.db)).rows;
const allRoles = 'api+chainer+relay+settler+simulator+worker';

async function until(predicate: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 150; i++) {
    if (await predicate()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

it('when Tuma starts, restarts with the same configuration, and starts with another, then the configuration is recorded twice and each account once', async () => {
  runtime = await startTestRuntime(config);
  await runtime.stop();
  runtime = null;
  const first = await systemEvents();
  const accountIds = config.providers.accounts.map((a) => a.id).sort();
  expect(accountIds).toContain('mpesa');
  expect(first.map((e) => [e.action, e.object_id, e.actor])).toEqual([
    ['configuration.start', allRoles, `system:${allRoles}`],
    ...accountIds.map((id) => ['provider_account.register', id, `system:${allRoles}`]),
  ]);

  runtime = await startTestRuntime(config);
  await runtime.stop();
  runtime = null;
  expect(await systemEvents()).toHaveLength(first.length);

  runtime = await startTestRuntime({ ...config, limits: { ...config.limits, batchPayoutsMax: config.limits.batchPayoutsMax - 1 } });
  await runtime.stop();
  runtime = null;
  const after = await systemEvents();
  expect(after.slice(first.length).map((e) => [e.action, e.detail.changed])).toEqual([['configuration.start', 'limits']]);
  expect(after[first.length]!.detail.previousDigest).toBe(first[0]!.detail.digest);
});

it('when an admin holds the account open while Tuma runs, then the worker holds its breaker, both steps are audited, and a close by hand lets calls through again', async () => {
  runtime = await startTestRuntime(config);
  const rt = runtime;
  const s = await setUpProgramme(rt.persistence, 1_000_00n);
  const admin = await bearer(s.organisationId, 'admin');
  const api = rt.apiUrl!;
  const held = await request(api).put('/v1/provider-accounts/mpesa/breaker').set('authorization', admin).send({ state: 'open', reason: 'provider maintenance' });
  expect(held.status).toBe(200);
  await until(() => rt.mpesa!.isHeld(), 'the worker to hold the breaker');
  expect(rt.mpesa!.available()).toBe(false);
  const metrics = await (await fetch(rt.metricsUrl!)).text();
  expect(metrics).toMatch(/tuma_provider_breaker_state\{account="mpesa",provider="mpesa"\} 2/);
  expect(metrics).toMatch(/tuma_programmes_past_retention 0/);

  expect((await request(api).put('/v1/provider-accounts/mpesa/breaker').set('authorization', admin).send({ state: 'closed', reason: 'maintenance over' })).status).toBe(200);
  await until(() => !rt.mpesa!.isHeld() && rt.mpesa!.available(), 'the worker to close the breaker');
  await until(async () => (await systemEvents()).some((e) => e.action === 'breaker.close'), 'the close to be audited');

  const events = (await systemEvents()).filter((e) => e.action.startsWith('breaker.'));
  expect(events.map((e) => [e.action, e.actor, e.detail.cause ?? null])).toEqual([
    ['breaker.hold', 'admin-person', null],
    ['breaker.open', 'system:worker', 'hold'],
    ['breaker.release', 'admin-person', null],
    ['breaker.close', 'system:worker', 'hand'],
  ]);
  // The organisation's auditor reads them (the account serves every programme), with the configuration starts.
  const audit = await request(api).get('/v1/audit?limit=500').set('authorization', await bearer(s.organisationId, 'auditor'));
  expect(audit.status).toBe(200);
  const actions = (audit.body.events as { action: string }[]).map((e) => e.action);
  expect(actions).toEqual(expect.arrayContaining(['configuration.start', 'provider_account.register', 'breaker.hold', 'breaker.open', 'breaker.release', 'breaker.close']));
  expect((await verifyAuditLog(rt.persistence)).ok).toBe(true);
});

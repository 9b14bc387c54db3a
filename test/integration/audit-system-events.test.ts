// System events of the audit log (issue #15 item 2, migration 0020) on the real PostgreSQL: the
// configuration a role starts with and its provider accounts, recorded only when they differ from
// the last record, never a secret (nor its bare hash); a breaker's states and a hold by hand, each
// one event in order; all in the one hash chain, which verifies; an organisation's auditors see
// the system events of the accounts serving it and no other; the database refuses a system action
// with an organisation and an organisation's action without one.
import { createHash, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { pino } from 'pino';
import { kyselyPersistence } from '../../src/adapters/db/persistence.js';
import { breakerHoldStore } from '../../src/adapters/db/breaker-hold.repository.js';
import { GuardedProvider } from '../../src/adapters/providers/guarded-provider.js';
import { appendAudit, listAudit, verifyAuditLog } from '../../src/application/audit.js';
import { applyHolds, type BreakerHoldRecord } from '../../src/application/breaker-holds.js';
import { ProviderUnavailableError, type Persistence } from '../../src/application/ports.js';
import { breakerAuditor, recordStart } from '../../src/application/system-audit.js';
import { runAuditCli } from '../../src/cli/audit-cli.js';
import { startRecordOf } from '../../src/cli/start-record.js';
import { loadConfig } from '../../src/config/config.js';
import { paid, unknown, type ProviderOutcome } from '../../src/domain/provider-outcome.js';
import { ok } from '../../src/domain/result.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { writeFourProviderAccounts } from '../support/provider-accounts.js';

const silent = pino({ level: 'silent' });
const secrets = {
  T_MPESA_KEY: 'mpesa-consumer-key-1', T_MPESA_SECRET: 'mpesa-consumer-secret-1', T_MPESA_CREDENTIAL: 'mpesa-security-credential-1',
  T_MOMO_USER: '0f6b2e4a-momo-user', T_MOMO_KEY: 'momo-api-key-1', T_MOMO_SUB: 'momo-subscription-1',
  T_GSMA_KEY: 'gsma-consumer-key-1', T_GSMA_SECRET: 'gsma-consumer-secret-1',
  T_AIRTEL_ID: 'airtel-client-id-1', T_AIRTEL_SECRET: 'airtel-client-secret-1', T_AIRTEL_PIN: '4821',
};
const masterKey = Buffer.alloc(32, 9).toString('base64');
const databasePassword = 'db-password-in-url-1';

let database: TestDatabase;
let persistence: Persistence;
let dir: string;
let file: string;

beforeAll(async () => {
  database = await createTestDatabase();
  persistence = kyselyPersistence(database.db, database.pool);
  await sql`INSERT INTO organisations (id, name) VALUES ('org-a', 'A'), ('org-b', 'B')`.execute(database.db);
  dir = mkdtempSync(join(tmpdir(), 'tuma-system-audit-'));
  file = writeFourProviderAccounts(dir, 'http://127.0.0.1:9', { airtelCallbackAuth: { mode: 'status-query', allowList: '127.0.0.1' } });
});
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await database?.drop();
});

const envOf = (extra: Record<string, string> = {}) => ({
  AUTH_ISSUER: 'https://login.example.org',
  AUTH_AUDIENCE: 'tuma',
  AUTH_JWKS: JSON.stringify({ keys: [{ kty: 'EC', crv: 'P-256', x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU', y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0', alg: 'ES256' }] }),
  DATABASE_URL: `postgres://tuma:${databasePassword}@127.0.0.1:5432/tuma`,
  KAFKA_BROKERS: '127.0.0.1:9092',
  TUMA_MASTER_KEY: masterKey,
  PROVIDERS_FILE: file,
  ...secrets,
  ...extra,
});

interface Row { seq: string; organisation_id: string | null; actor: string; action: string; object_type: string; object_id: string; detail: Record<string, string> }
const events = async (afterSeq = '0') =>
  (await sql<Row>`SELECT seq::text, organisation_id, actor, action, object_type, object_id, detail FROM audit_events WHERE seq > ${afterSeq}::int8 ORDER BY audit_events.seq`.execute(database.db)).rows;
const headSeq = async () => (await sql<{ s: string }>`SELECT coalesce(max(seq), 0)::text AS s FROM audit_events`.execute(database.db)).rows[0]!.s;

describe('configuration and provider accounts at start', () => {
  it('when a role starts, then its configuration and each account are recorded once; a restart with the same configuration records nothing; a change records what changed and no secret', async () => {
    const first = await recordStart(persistence, startRecordOf(loadConfig(envOf()), ['worker', 'api']));
    expect(first).toEqual({ configuration: 'recorded', accounts: { registered: ['airtel-zm', 'gsma-sl', 'momo-ug', 'mpesa-ke'], changed: [], removed: [] } });
    const written = await events();
    expect(written.map((e) => [e.action, e.object_type, e.object_id, e.organisation_id, e.actor])).toEqual([
      ['configuration.start', 'process_role', 'api+worker', null, 'system:api+worker'],
      ['provider_account.register', 'provider_account', 'airtel-zm', null, 'system:api+worker'],
      ['provider_account.register', 'provider_account', 'gsma-sl', null, 'system:api+worker'],
      ['provider_account.register', 'provider_account', 'momo-ug', null, 'system:api+worker'],
      ['provider_account.register', 'provider_account', 'mpesa-ke', null, 'system:api+worker'],
    ]);
    expect(written[0]!.detail).toMatchObject({ first: 'true', digest: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(written[4]!.detail).toMatchObject({ provider: 'mpesa', country: 'KE', currency: 'KES', programmes: '*' });
    expect(written[4]!.detail.fields!.split(',').map((f) => f.split('=')[0])).toEqual(['callLimits', 'callbackAuth', 'country', 'credentials', 'currency', 'limits', 'programmes', 'provider', 'settings']);

    // The same configuration read again (Airtel's PIN is encrypted afresh: its ciphertext is not digested).
    const again = await recordStart(persistence, startRecordOf(loadConfig(envOf()), ['api', 'worker']));
    expect(again).toEqual({ configuration: 'unchanged', accounts: { registered: [], changed: [], removed: [] } });
    expect(await events()).toHaveLength(5);

    // Another set of roles is a configuration of its own.
    expect((await recordStart(persistence, startRecordOf(loadConfig(envOf()), ['chainer']))).configuration).toBe('recorded');

    // A secret and a port changed: the account's credentials and the http section are named, nothing of their values.
    const before = await headSeq();
    const changed = await recordStart(persistence, startRecordOf(loadConfig(envOf({ T_MPESA_SECRET: 'mpesa-consumer-secret-2', HTTP_PORT: '8181' })), ['api', 'worker']));
    expect(changed).toEqual({ configuration: 'recorded', accounts: { registered: [], changed: ['mpesa-ke'], removed: [] } });
    const after = await events(before);
    expect(after.map((e) => [e.action, e.object_id, e.detail.changed])).toEqual([
      ['configuration.start', 'api+worker', 'http,providerAccounts'],
      ['provider_account.change', 'mpesa-ke', 'credentials'],
    ]);
    expect(after[0]!.detail.previousDigest).toBe(written[0]!.detail.digest);
  });

  it('when an account is dropped from the file and its limits change, then it is removed and changed; dropped and back, it is registered again', async () => {
    const accounts = JSON.parse(readFileSync(file, 'utf8')) as { accounts: Record<string, unknown>[] };
    const fewer = join(dir, 'fewer.json');
    writeFileSync(fewer, JSON.stringify({ accounts: accounts.accounts.filter((a) => a.id !== 'momo-ug').map((a) => (a.id === 'gsma-sl' ? { ...a, limits: { payoutMax: '5000.00', concurrency: 2 } } : a)) }));
    const before = await headSeq();
    const r = await recordStart(persistence, startRecordOf(loadConfig(envOf({ PROVIDERS_FILE: fewer, T_MPESA_SECRET: 'mpesa-consumer-secret-2', HTTP_PORT: '8181' })), ['api', 'worker']));
    expect(r.accounts).toEqual({ registered: [], changed: ['gsma-sl'], removed: ['momo-ug'] });
    const after = await events(before);
    expect(after.map((e) => [e.action, e.object_id])).toEqual([['configuration.start', 'api+worker'], ['provider_account.change', 'gsma-sl'], ['provider_account.remove', 'momo-ug']]);
    expect(after[1]!.detail.changed).toBe('callLimits,limits');
    // Removed once: a second start without it records nothing more of it.
    expect((await recordStart(persistence, startRecordOf(loadConfig(envOf({ PROVIDERS_FILE: fewer, T_MPESA_SECRET: 'mpesa-consumer-secret-2', HTTP_PORT: '8181' })), ['api', 'worker']))).accounts)
      .toEqual({ registered: [], changed: [], removed: [] });
    expect((await recordStart(persistence, startRecordOf(loadConfig(envOf()), ['api', 'worker']))).accounts).toEqual({ registered: ['momo-ug'], changed: ['gsma-sl', 'mpesa-ke'], removed: [] });
  });

  it('when two processes start at once with a new configuration, then it is recorded once', async () => {
    const record = startRecordOf(loadConfig(envOf({ HTTP_PORT: '8282' })), ['api', 'worker']);
    const before = await headSeq();
    const results = await Promise.all([recordStart(persistence, record), recordStart(persistence, record), recordStart(persistence, record)]);
    expect(results.map((r) => r.configuration).sort()).toEqual(['recorded', 'unchanged', 'unchanged']);
    expect((await events(before)).map((e) => e.action)).toEqual(['configuration.start']);
  });

  it('when every event is read back, then no secret is in the log, nor its SHA-256, and the chain verifies', async () => {
    const text = (await sql<{ t: string }>`SELECT string_agg(actor || ' ' || object_id || ' ' || detail::text, E'\\n') AS t FROM audit_events`.execute(database.db)).rows[0]!.t;
    const values = [...Object.values(secrets), 'mpesa-consumer-secret-2', databasePassword, masterKey];
    for (const value of values) {
      expect({ value, found: text.includes(value) }).toEqual({ value, found: false });
      for (const digest of [createHash('sha256').update(value).digest('hex'), createHash('sha1').update(value).digest('hex')]) {
        expect({ value, digest: text.includes(digest.slice(0, 16)) }).toEqual({ value, digest: false });
      }
    }
    expect((await verifyAuditLog(persistence)).ok).toBe(true);
  });
});

describe('breakers', () => {
  /** An adapter whose next answers the test sets: ambiguous ones count against the breaker. */
  function adapter() {
    const answers: ProviderOutcome[] = [];
    return {
      answers,
      inner: {
        id: 'mpesa' as const,
        submit: async () => answers.shift() ?? paid('R1'),
        status: async () => paid('R1'),
      },
    };
  }
  const request = () => ({ payoutId: randomUUID(), idempotencyKey: randomUUID(), msisdn: '+254700000001', amountMinor: 100n, currency: 'KES' as const, callbackUrl: 'http://127.0.0.1:9/cb' });

  async function until(predicate: () => boolean): Promise<void> {
    for (let i = 0; i < 500 && !predicate(); i++) await new Promise((r) => setTimeout(r, 20));
    expect(predicate()).toBe(true);
  }

  it('when a breaker opens on failures, probes and closes, and is then held and closed by hand, then each change is one system event with its cause, in order', async () => {
    const { answers, inner } = adapter();
    const provider = new GuardedProvider(inner, { timeoutMs: 1_000, errorThresholdPercent: 50, resetTimeoutMs: 100, volumeThreshold: 1 }, silent, 'mpesa-ke');
    const auditor = breakerAuditor(persistence, 'host-1/123', silent);
    provider.onStateChange((c) => auditor.record({ accountId: provider.accountId, provider: provider.id, ...c }));
    const before = await headSeq();
    try {
      answers.push(unknown(null, 'timeout'));
      await provider.submit(request());
      await until(() => provider.breakerState() === 'open');
      await until(() => provider.breakerState() === 'half_open');
      expect((await provider.submit(request())).kind).toBe('paid'); // the probe
      expect(provider.breakerState()).toBe('closed');

      const hold = (revision: bigint, held: boolean): BreakerHoldRecord => ({ accountId: 'mpesa-ke', held, reason: 'maintenance', setBy: 'admin-person', organisationId: 'org-a', setAt: new Date(), revision });
      const applied = new Map<string, bigint>();
      await applyHolds([hold(1n, true)], [provider], applied);
      expect(provider.breakerState()).toBe('open');
      await expect(provider.submit(request())).rejects.toBeInstanceOf(ProviderUnavailableError);
      // Applying the same hold again changes nothing.
      await applyHolds([hold(1n, true)], [provider], applied);
      await applyHolds([hold(2n, false)], [provider], applied);
      expect(provider.breakerState()).toBe('closed');
      // A close this process has applied is not applied again; a newer one is, even on a closed breaker (no change: no event).
      await applyHolds([hold(2n, false)], [provider], applied);
      await applyHolds([hold(3n, false)], [provider], applied);
      await auditor.settled();
    } finally {
      provider.shutdown();
    }
    const written = await events(before);
    expect(written.map((e) => [e.action, e.detail.previous, e.detail.cause, e.object_id, e.organisation_id, e.actor, e.detail.process])).toEqual([
      ['breaker.open', 'closed', 'calls', 'mpesa-ke', null, 'system:worker', 'host-1/123'],
      ['breaker.half_open', 'open', 'calls', 'mpesa-ke', null, 'system:worker', 'host-1/123'],
      ['breaker.close', 'half_open', 'calls', 'mpesa-ke', null, 'system:worker', 'host-1/123'],
      ['breaker.open', 'closed', 'hold', 'mpesa-ke', null, 'system:worker', 'host-1/123'],
      ['breaker.close', 'open', 'hand', 'mpesa-ke', null, 'system:worker', 'host-1/123'],
    ]);
    expect((await verifyAuditLog(persistence)).ok).toBe(true);
  });

  it('when a hold is stored, then a worker starting afterwards holds its breaker at once; a close stored before it started is not re-applied', async () => {
    const holds = breakerHoldStore(database.db);
    const stored = await holds.transaction(async (tx) => {
      await tx.lock('gsma-sl');
      await tx.put({ accountId: 'gsma-sl', held: true, reason: 'provider maintenance tonight', setBy: 'admin-person', organisationId: 'org-a', setAt: new Date(), revision: 1n });
      return ok(undefined);
    });
    expect(stored.ok).toBe(true);
    const { inner } = adapter();
    const gsma = new GuardedProvider({ ...inner, id: 'gsma' as const }, { timeoutMs: 1_000, errorThresholdPercent: 50, resetTimeoutMs: 100, volumeThreshold: 1 }, silent, 'gsma-sl');
    const mpesa = new GuardedProvider(inner, { timeoutMs: 1_000, errorThresholdPercent: 50, resetTimeoutMs: 100, volumeThreshold: 1 }, silent, 'mpesa-ke');
    try {
      const closes: string[] = [];
      mpesa.onStateChange((c) => closes.push(c.state));
      await holds.transaction(async (tx) => {
        await tx.lock('mpesa-ke');
        await tx.put({ accountId: 'mpesa-ke', held: false, reason: 'closed by hand', setBy: 'admin-person', organisationId: 'org-a', setAt: new Date(), revision: 4n });
        return ok(undefined);
      });
      await applyHolds(await holds.all(), [gsma, mpesa], new Map());
      expect({ gsma: gsma.breakerState(), held: gsma.isHeld(), mpesa: mpesa.breakerState(), closes }).toEqual({ gsma: 'open', held: true, mpesa: 'closed', closes: [] });
    } finally {
      gsma.shutdown();
      mpesa.shutdown();
    }
  });
});

describe('who reads system events', () => {
  it('when each organisation reads its audit log, then it sees the configuration starts and the events of the accounts serving it, not those of an account serving only the other', async () => {
    const mine = await listAudit(persistence, { organisationId: 'org-a', accountIds: ['mpesa-ke'] }, { limit: 500 });
    const objects = new Set(mine.events.map((e) => `${e.object.type}:${e.object.id}`));
    expect(objects.has('provider_account:mpesa-ke')).toBe(true);
    expect(objects.has('process_role:api+worker')).toBe(true);
    expect(objects.has('provider_account:gsma-sl')).toBe(false);
    expect(mine.events.every((e) => e.organisationId === null)).toBe(true);
    const other = await listAudit(persistence, { organisationId: 'org-b', accountIds: ['gsma-sl'] }, { limit: 500 });
    expect(other.events.some((e) => e.object.id === 'mpesa-ke')).toBe(false);
    expect(other.events.some((e) => e.object.id === 'gsma-sl')).toBe(true);
    // Pages over both kinds are in seq order and complete.
    await persistence.transaction(async (tx) => ok(await appendAudit(tx, { organisationId: 'org-a', actor: 'admin-person', requestId: null, action: 'programme.retention', objectId: 'prog-a', detail: { days: '30' } })));
    const all: string[] = [];
    let cursor: string | null = null;
    for (let i = 0; i < 100; i++) {
      const page = await listAudit(persistence, { organisationId: 'org-a', accountIds: ['mpesa-ke'] }, { cursor, limit: 3 });
      all.push(...page.events.map((e) => e.seq));
      if (!page.next) break;
      cursor = page.next;
    }
    const full = await listAudit(persistence, { organisationId: 'org-a', accountIds: ['mpesa-ke'] }, { limit: 500 });
    expect(all).toEqual(full.events.map((e) => e.seq));
    expect(full.events[full.events.length - 1]).toMatchObject({ organisationId: 'org-a', action: 'programme.retention' });
  });

  it('when a system action is written with an organisation, or an organisation\'s action without one, then the database refuses it', async () => {
    const insert = (organisationId: string | null, action: string) => database.db.transaction().execute(async (trx) => {
      const head = await sql<{ seq: string; hash: Buffer }>`SELECT seq::text, hash FROM audit_events ORDER BY audit_events.seq DESC LIMIT 1`.execute(trx);
      await sql`INSERT INTO audit_events (seq, at, organisation_id, actor, action, object_type, object_id, detail, prev_hash, hash) OVERRIDING SYSTEM VALUE
        VALUES (${BigInt(head.rows[0]!.seq) + 1000n}, now(), ${organisationId}, 'x', ${action}, 'provider_account', 'mpesa-ke', '{}', ${head.rows[0]!.hash}, ${Buffer.alloc(32)})`.execute(trx);
    });
    await expect(insert('org-a', 'breaker.open')).rejects.toThrow(/audit_events_system_scope/);
    await expect(insert(null, 'payout.decision')).rejects.toThrow(/audit_events_system_scope/);
    await expect(persistence.transaction(async (tx) => ok(await appendAudit(tx, { organisationId: 'org-a', actor: 'x', requestId: null, action: 'breaker.open', objectId: 'mpesa-ke', detail: {} }))))
      .rejects.toThrow(/system event/);
    expect((await verifyAuditLog(persistence)).ok).toBe(true);
  });
});

describe('tuma audit verify over system events', () => {
  it('when the chain holds system events, then verify passes; when one is altered behind the application\'s back, then verify names it as the first broken link', async () => {
    const out: string[] = [];
    expect(await runAuditCli(['verify'], database.url, silent, (l) => out.push(l), () => undefined)).toBe(0);
    const target = (await sql<{ seq: string }>`SELECT seq::text FROM audit_events WHERE action = 'provider_account.change' ORDER BY audit_events.seq LIMIT 1`.execute(database.db)).rows[0]!.seq;
    await database.db.transaction().execute(async (trx) => {
      await sql`ALTER TABLE audit_events DISABLE TRIGGER USER`.execute(trx);
      await sql`UPDATE audit_events SET detail = detail || '{"changed":"limits"}' WHERE seq = ${target}::int8`.execute(trx);
      await sql`ALTER TABLE audit_events ENABLE TRIGGER USER`.execute(trx);
    });
    const report = await verifyAuditLog(persistence);
    expect({ ok: report.ok, kind: report.firstBroken?.kind, seq: report.firstBroken?.seq }).toEqual({ ok: false, kind: 'hash_mismatch', seq: target });
    expect(await runAuditCli(['verify'], database.url, silent, () => undefined, () => undefined)).toBe(1);
  });
});

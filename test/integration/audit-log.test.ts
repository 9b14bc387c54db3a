// The audit log (issue #14 item 6, issue #15 item 2) on the real PostgreSQL: appended in the
// action's transaction and chained as written, refused any change by the database, verified
// from the rows (naming the first broken link), and written by finance's held-payout decision.
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { pino } from 'pino';
import request from 'supertest';
import { kyselyPersistence } from '../../src/adapters/db/persistence.js';
import { appendAudit, auditAnchorsMax, listAudit, verifyAuditLog } from '../../src/application/audit.js';
import type { Persistence } from '../../src/application/ports.js';
import { runAuditCli } from '../../src/cli/audit-cli.js';
import type { AuditEvent } from '../../src/domain/audit.js';
import { err, ok } from '../../src/domain/result.js';
import { reject } from '../../src/domain/errors.js';
import { payoutIdOf } from '../../src/domain/ids.js';
import { bearer, postJson, startTestApi } from '../support/api.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { batchDocument, setUpProgramme, sign } from '../support/fixtures.js';

const silent = pino({ level: 'silent' });

interface Fixture {
  readonly database: TestDatabase;
  readonly persistence: Persistence;
}

/** A database of its own: several tests here break the chain on purpose. */
async function fresh(): Promise<Fixture> {
  const database = await createTestDatabase();
  await sql`INSERT INTO organisations (id, name) VALUES ('org-a', 'A'), ('org-b', 'B')`.execute(database.db);
  return { database, persistence: kyselyPersistence(database.db, database.pool) };
}

const event = (n: number, organisationId = 'org-a'): AuditEvent => ({
  organisationId,
  actor: `admin-${n}`,
  requestId: `req-${n}`,
  action: 'programme.policy',
  objectId: `prog-${n}`,
  detail: { approvalsRequired: String(n) },
});

async function append(f: Fixture, e: AuditEvent): Promise<void> {
  const r = await f.persistence.transaction(async (tx) => ok(await appendAudit(tx, e)));
  expect(r.ok).toBe(true);
}

async function cli(argv: readonly string[], url: string | null): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const errors: string[] = [];
  const code = await runAuditCli(argv, url, silent, (l) => out.push(l), (l) => errors.push(l));
  return { code, out, err: errors };
}

/** What a superuser could do behind the application's back. */
async function asSuperuser(f: Fixture, statement: ReturnType<typeof sql>): Promise<void> {
  await f.database.db.transaction().execute(async (trx) => {
    await sql`ALTER TABLE audit_events DISABLE TRIGGER USER`.execute(trx);
    await statement.execute(trx);
    await sql`ALTER TABLE audit_events ENABLE TRIGGER USER`.execute(trx);
  });
}

describe('the audit log, appended and verified', () => {
  let f: Fixture;
  beforeAll(async () => (f = await fresh()));
  afterAll(async () => f?.database.drop());

  it('when events are appended, then each links to the one before, verify is green and prints the head, and each organisation reads its own', async () => {
    for (let n = 1; n <= 3; n++) await append(f, event(n));
    await append(f, event(4, 'org-b'));
    const report = await verifyAuditLog(f.persistence);
    expect(report).toMatchObject({ ok: true, events: 4, problemCount: 0, firstBroken: null });
    const rows = await sql<{ seq: string; prev_hash: Buffer | null; hash: Buffer; actor: string; request_id: string; action: string; object_type: string; object_id: string; detail: unknown }>`
      SELECT seq::text, prev_hash, hash, actor, request_id, action, object_type, object_id, detail FROM audit_events ORDER BY seq`.execute(f.database.db);
    expect(rows.rows[0]!.prev_hash).toBeNull();
    for (let i = 1; i < rows.rows.length; i++) expect(rows.rows[i]!.prev_hash!.equals(rows.rows[i - 1]!.hash)).toBe(true);
    expect(rows.rows[0]).toMatchObject({ actor: 'admin-1', request_id: 'req-1', action: 'programme.policy', object_type: 'programme', object_id: 'prog-1', detail: { approvalsRequired: '1' } });
    const last = rows.rows[3]!;
    expect(report.head).toEqual({ seq: last.seq, hash: last.hash.toString('hex') });

    const run = await cli(['verify'], f.database.url);
    expect(run.code).toBe(0);
    expect(run.out.join('\n')).toContain(`head ${last.seq}:${last.hash.toString('hex')}`);
    const json = await cli(['verify', '--json', '--anchor', `${last.seq}:${last.hash.toString('hex')}`], f.database.url);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.out.join('\n'))).toMatchObject({ ok: true, events: 4 });

    const page1 = await listAudit(f.persistence, { organisationId: 'org-a', accountIds: [] }, { limit: 2 });
    expect(page1.events.map((e) => e.object.id)).toEqual(['prog-1', 'prog-2']);
    const page2 = await listAudit(f.persistence, { organisationId: 'org-a', accountIds: [] }, { cursor: page1.next, limit: 2 });
    expect({ ids: page2.events.map((e) => e.object.id), next: page2.next }).toEqual({ ids: ['prog-3'], next: null });
    expect((await listAudit(f.persistence, { organisationId: 'org-b', accountIds: [] })).events.map((e) => e.actor)).toEqual(['admin-4']);
    expect(page1.events[0]!.at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
  });

  it('when the action rolls back, then its event is gone with it and the chain still holds (a gap in seq is no break)', async () => {
    const r = await f.persistence.transaction(async (tx) => {
      await appendAudit(tx, event(5));
      return err(reject('NOT_FOUND'));
    });
    expect(r.ok).toBe(false);
    await append(f, event(6));
    const report = await verifyAuditLog(f.persistence);
    expect(report).toMatchObject({ ok: true, events: 5 });
  });

  it('when an anchor does not match, or names no event, then verify exits 1 saying so', async () => {
    const head = (await verifyAuditLog(f.persistence)).head!;
    const wrong = await cli(['verify', '--anchor', `${head.seq}:${'0'.repeat(64)}`], f.database.url);
    expect(wrong.code).toBe(1);
    expect(wrong.out.join('\n')).toContain(`anchor_mismatch [seq ${head.seq}]`);
    const absent = await verifyAuditLog(f.persistence, { anchors: [{ seq: 999_999n, hash: Buffer.alloc(32) }] });
    expect(absent.problems).toEqual([expect.objectContaining({ kind: 'anchor_mismatch' })]);
  });

  it('when anyone updates, deletes or truncates events, or inserts one that does not link to the newest, then the database refuses', async () => {
    await expect(sql`UPDATE audit_events SET detail = '{}'::jsonb WHERE seq = 1`.execute(f.database.db)).rejects.toThrow(/append-only \(UPDATE refused\)/);
    await expect(sql`DELETE FROM audit_events WHERE seq = 1`.execute(f.database.db)).rejects.toThrow(/append-only \(DELETE refused\)/);
    await expect(sql`TRUNCATE audit_events`.execute(f.database.db)).rejects.toThrow(/append-only \(TRUNCATE refused\)/);
    const first = (await sql<{ hash: Buffer }>`SELECT hash FROM audit_events ORDER BY seq LIMIT 1`.execute(f.database.db)).rows[0]!.hash;
    for (const prev of [null, first, Buffer.alloc(32)]) {
      await expect(sql`
        INSERT INTO audit_events (at, organisation_id, actor, action, object_type, object_id, detail, prev_hash, hash)
        VALUES (now(), 'org-a', 'x', 'batch.cancel', 'batch', 'b', '{}'::jsonb, ${prev}, ${Buffer.alloc(32, 1)})`.execute(f.database.db)).rejects.toThrow(/does not link to the newest event|duplicate key/);
    }
    expect((await verifyAuditLog(f.persistence)).ok).toBe(true);
  });

  it('when 20 transactions append at once, then they form one unbroken chain', async () => {
    const before = (await verifyAuditLog(f.persistence)).events;
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => f.persistence.transaction(async (tx) => ok(await appendAudit(tx, event(100 + i))))));
    expect(results.every((r) => r.ok)).toBe(true);
    const report = await verifyAuditLog(f.persistence);
    expect(report).toMatchObject({ ok: true, events: before + 20, problemCount: 0 });
  });

  it.each([
    ['no subcommand', []], ['another subcommand', ['bogus']], ['an extra argument', ['verify', 'extra']], ['an anchor without a hash', ['verify', '--anchor', 'nonsense']],
    ['an anchor hash of 63 digits', ['verify', '--anchor', `1:${'a'.repeat(63)}`]], ['an unknown option', ['verify', '--bogus']],
    [`${auditAnchorsMax + 1} anchors`, ['verify', ...Array.from({ length: auditAnchorsMax + 1 }, (_, i) => ['--anchor', `${i + 1}:${'a'.repeat(64)}`]).flat()]],
  ])('when the arguments are %s, then it exits 2 with the reason and reads nothing', async (_what, argv) => {
    const r = await cli(argv, f.database.url);
    expect({ code: r.code, out: r.out }).toEqual({ code: 2, out: [] });
    expect(r.err.join('\n')).toMatch(/usage|anchor|tuma audit/);
  });

  it('when DATABASE_URL is not set, then it exits 78 naming it', async () => {
    const r = await cli(['verify'], null);
    expect(r.code).toBe(78);
    expect(r.err.join('\n')).toContain('DATABASE_URL');
  });
});

describe('the audit log, tampered with by a superuser', () => {
  let f: Fixture;
  beforeEach(async () => {
    f = await fresh();
    for (let n = 1; n <= 5; n++) await append(f, event(n));
  });
  afterEach(async () => f?.database.drop());

  it('when one event\'s detail is rewritten, then verify exits 1 naming exactly that seq', async () => {
    const third = (await sql<{ seq: string }>`SELECT seq::text FROM audit_events ORDER BY seq OFFSET 2 LIMIT 1`.execute(f.database.db)).rows[0]!.seq;
    await asSuperuser(f, sql`UPDATE audit_events SET detail = '{"approvalsRequired":"0"}'::jsonb WHERE seq = ${third}::int8`);
    const report = await verifyAuditLog(f.persistence);
    expect(report.ok).toBe(false);
    expect(report.problems).toEqual([expect.objectContaining({ kind: 'hash_mismatch', seq: third })]);
    expect(report.firstBroken).toMatchObject({ kind: 'hash_mismatch', seq: third });
    const run = await cli(['verify'], f.database.url);
    expect(run.code).toBe(1);
    expect(run.out.join('\n')).toContain(`first broken link: seq ${third} (hash_mismatch)`);
  });

  it('when an event is deleted, or its hash overwritten, then verify names the first event whose link no longer holds', async () => {
    const seqs = (await sql<{ seq: string }>`SELECT seq::text FROM audit_events ORDER BY seq`.execute(f.database.db)).rows.map((r) => r.seq);
    await asSuperuser(f, sql`DELETE FROM audit_events WHERE seq = ${seqs[1]}::int8`);
    const report = await verifyAuditLog(f.persistence);
    expect(report.firstBroken).toMatchObject({ kind: 'link_broken', seq: seqs[2] });
    expect(report.problems).toHaveLength(1);

    await asSuperuser(f, sql`UPDATE audit_events SET hash = ${Buffer.alloc(32, 7)} WHERE seq = ${seqs[3]}::int8`);
    const again = await verifyAuditLog(f.persistence);
    expect(again.firstBroken).toMatchObject({ seq: seqs[2] });
    expect(again.problems.map((p) => [p.kind, p.seq])).toEqual([['link_broken', seqs[2]], ['hash_mismatch', seqs[3]], ['link_broken', seqs[4]]]);
  });

  it('when a guard trigger is left disabled, then verify says so', async () => {
    await sql`ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only`.execute(f.database.db);
    const report = await verifyAuditLog(f.persistence);
    expect(report).toMatchObject({ ok: false, firstBroken: null, problems: [{ kind: 'guard_missing', detail: 'trigger audit_events_append_only on audit_events is disabled' }] });
  });
});

describe('the held-payout decision, audited', () => {
  it('when finance decides a held payout, then exactly one audit event records who, which organisation, request, payout and outcome, and no phone number', async () => {
    const api = await startTestApi();
    try {
      const s = await setUpProgramme(api.persistence, 1_000_00n);
      const document = batchDocument(s, [{ ref: 'a-1', provider: 'mpesa', msisdn: '+254722000071', amount: '100.00' }]);
      expect((await postJson(api.app, '/v1/batches', await bearer(s.organisationId, 'programme_manager'), await sign(document, s.maker))).status).toBe(201);
      const held = payoutIdOf(document.batchId, 'a-1');
      await sql`UPDATE payouts SET state = 'held' WHERE id = ${held}::uuid`.execute(api.database.db);
      const count = async () => Number((await sql<{ n: string }>`SELECT count(*)::text AS n FROM audit_events`.execute(api.database.db)).rows[0]!.n);
      const before = await count();

      const finance = await bearer(s.organisationId, 'finance');
      const decide = (body: unknown, requestId: string) =>
        request(api.app).post(`/v1/payouts/${held}/decision`).set('authorization', finance).set('x-request-id', requestId).set('content-type', 'application/json').send(JSON.stringify(body));
      // A refused decision records nothing.
      expect((await decide({ outcome: 'lost', note: 'x' }, 'req-refused')).status).toBe(422);
      expect(await count()).toBe(before);

      const requestId = `req-${randomUUID()}`;
      const res = await decide({ outcome: 'failed', note: 'beneficiary +254722000071 says nothing came; not on the statement' }, requestId);
      expect(res.status).toBe(200);
      const rows = await sql<Record<string, unknown>>`
        SELECT organisation_id, actor, request_id, action, object_type, object_id, detail, row_to_json(a)::text AS everything FROM audit_events a ORDER BY seq`.execute(api.database.db);
      expect(rows.rows).toHaveLength(before + 1);
      const { everything, ...row } = rows.rows[rows.rows.length - 1]!;
      expect(row).toEqual({
        organisation_id: s.organisationId,
        actor: 'finance-person',
        request_id: requestId,
        action: 'payout.decision',
        object_type: 'payout',
        object_id: held,
        detail: { outcome: 'failed', note: 'beneficiary [number removed] says nothing came; not on the statement' },
      });
      expect(String(everything)).not.toMatch(/722000071/);
      expect(await verifyAuditLog(api.persistence)).toMatchObject({ ok: true });

      // A second decision is refused: still one event for the payout.
      expect((await decide({ outcome: 'paid', note: 'x' }, 'req-again')).status).toBe(409);
      expect(await count()).toBe(before + 1);
    } finally {
      await api.close();
    }
  });
});

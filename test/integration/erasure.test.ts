// Erasure of a programme's beneficiary data (issue #15 item 3), end to end on the real engine:
// programme P pays through M-Pesa (the simulator's callbacks stored sealed), its statements are
// reconciled — one naming only P's payouts, one shared with programme Q of another organisation.
// Admin A asks; A cannot confirm; admin B confirms. Afterwards the data key is gone and nothing of
// P opens any more (numbers, names, signed batch, callback bodies), P's own statement file is
// deleted and the shared one kept (it still names Q's people) until Q is erased too; the ledger,
// the audit log and both reconciliations verify as before; payout views and statement lines say
// `erased`; no endpoint, log line or export gives a name or a number. Refusals change nothing.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import express, { type NextFunction, type Request, type Response } from 'express';
import { sql } from 'kysely';
import { pino } from 'pino';
import { pinoHttp } from 'pino-http';
import request from 'supertest';
import { AesGcmVault, ProgrammeErasedError } from '../../src/adapters/crypto/vault.js';
import { erasureStore } from '../../src/adapters/db/erasure.repository.js';
import { reconciliationReads } from '../../src/adapters/db/reconciliation-reads.js';
import { statementStore } from '../../src/adapters/db/reconciliation.repository.js';
import { createAuthenticator } from '../../src/adapters/http/auth.js';
import { registerErasureRoutes } from '../../src/adapters/http/erasure-routes.js';
import { sendRejection } from '../../src/adapters/http/errors.js';
import { verifyAuditLog } from '../../src/application/audit.js';
import { verifyLedger } from '../../src/application/ledger-chain.js';
import { importStatement, openStatementFileChunk } from '../../src/application/reconcile.js';
import type { Runtime } from '../../src/cli/runtime.js';
import { runProgrammeCli } from '../../src/cli/programme-cli.js';
import { reject } from '../../src/domain/errors.js';
import { payoutIdOf } from '../../src/domain/ids.js';
import { testAuthConfig, tokenFor } from '../support/auth.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { batchDocument, net, setUpProviderProgramme, sign, type PayoutLine, type Scenario } from '../support/fixtures.js';
import { logSink } from '../support/log-sink.js';
import { clearKenyanNumber } from '../support/privacy.js';
import { insertPayouts } from '../support/reconciliation-ledger.js';
import { startTestRuntime, testConfig } from '../support/runtime.js';

const waitMs = 45_000;
const format = 'mpesa-org-portal-csv@1';
/** P's beneficiaries, and Q's: what must never come back once erased. */
const pPeople = [
  { ref: 'p-1', msisdn: '+254733500001', name: 'Wanjiru Kamau', amount: '120.00' },
  { ref: 'p-2', msisdn: '+254733500002', name: 'Otieno Baraka', amount: '80.00' },
  { ref: 'p-3', msisdn: '+254733500003', name: 'Achieng Njeri', amount: '55.00' },
];
const qPerson = { ref: 'q-1', msisdn: '+254733600001', name: 'Mutua Kilonzo', amount: '40.00' };
const secrets = [...pPeople, qPerson].flatMap((x) => [x.msisdn.slice(1), x.msisdn.slice(4), x.name, x.name.split(' ')[0]!]);
const assertNoBeneficiaryData = (what: string, text: string) => {
  expect({ what, number: clearKenyanNumber.test(text) }).toEqual({ what, number: false });
  for (const s of secrets) expect({ what, found: text.includes(s) ? s : null }).toEqual({ what, found: null });
};

describe('erasing a programme\'s beneficiary data', () => {
  let database: TestDatabase;
  let runtime: Runtime;
  /** The runtime's master key (the test config draws one). */
  let masterKey: Buffer;
  /** The erasure routes' clock. */
  let clock = () => new Date();
  let p: Scenario;
  let q: Scenario;
  let app: express.Express;
  const sink = logSink();
  const ids: Record<string, string> = {};
  const batchIds: Record<string, string> = {};
  const statementIds: { pOnly: string; shared: string } = { pOnly: '', shared: '' };
  const before: { resultSha256: Record<string, string>; items: Record<string, unknown[]>; ledger?: { transfers: number; ledgers: unknown[] } } = { resultSha256: {}, items: {} };

  const bearer = async (s: Scenario, role: string, subject: string) => `Bearer ${await tokenFor(s.organisationId, [role], { subject })}`;
  const api = async (path: string, s: Scenario, role = 'finance') => {
    const res = await fetch(`${runtime.apiUrl}${path}`, { headers: { authorization: await bearer(s, role, `${role}-1`) } });
    return { status: res.status, text: await res.text() };
  };
  const erasure = (s: Scenario) => `/v1/programmes/${s.programmeId}/erasure`;
  const dataKeyOf = async (programmeId: string) => (await sql<{ n: number }>`SELECT count(*)::int AS n FROM data_keys WHERE programme_id = ${programmeId}`.execute(database.db)).rows[0]!.n;
  const chunksOf = async (statementId: string) => (await sql<{ n: number }>`SELECT count(*)::int AS n FROM statement_files WHERE statement_id = ${statementId}::uuid`.execute(database.db)).rows[0]!.n;
  const auditActions = async () => (await sql<{ action: string; actor: string; object_id: string }>`SELECT action, actor, object_id FROM audit_events ORDER BY seq`.execute(database.db)).rows;

  async function submit(s: Scenario, people: readonly { ref: string; msisdn: string; name: string; amount: string }[]): Promise<string> {
    const rows: PayoutLine[] = people.map((x) => ({ ref: x.ref, provider: 'mpesa', msisdn: x.msisdn, amount: x.amount, name: x.name }));
    const total = rows.reduce((t, r) => t + BigInt(String(r.amount).replace('.', '')), 0n);
    const document = batchDocument(s, rows, { total: `${total / 100n}.${String(total % 100n).padStart(2, '0')}` });
    const res = await fetch(`${runtime.apiUrl}/v1/batches`, {
      method: 'POST',
      headers: { authorization: await bearer(s, 'programme_manager', 'pm-1'), 'content-type': 'application/jose+json' },
      body: JSON.stringify(await sign(document, s.maker)),
    });
    expect(res.status).toBe(201);
    for (const x of people) ids[x.ref] = payoutIdOf(document.batchId, x.ref);
    return document.batchId;
  }
  const stateOf = async (id: string) => (await sql<{ state: string }>`SELECT state FROM payouts WHERE id = ${id}::uuid`.execute(database.db)).rows[0]?.state;
  const paid = (id: string) => net.eventually(async () => ((await stateOf(id)) === 'paid' ? true : null), waitMs, `${id} to be paid`);
  async function boundary(): Promise<Date> {
    const at = new Date(Math.floor(Date.now() / 1000) * 1000 + 1000);
    await new Promise((r) => setTimeout(r, at.getTime() - Date.now() + 5));
    return at;
  }
  async function reconcile(s: Scenario, period: { from: Date; to: Date }): Promise<string> {
    const query = new URLSearchParams({ format: 'csv', from: period.from.toISOString(), to: period.to.toISOString() });
    const csv = await (await fetch(`${runtime.simulatorUrl}/__control/mpesa/statement?${query.toString()}`)).text();
    const result = await importStatement({ store: statementStore(database.pool), vault: runtime.vault }, {
      source: Readable.from([Buffer.from(csv)]), accountId: 'mpesa', currency: 'KES', format, period, caller: { organisationId: s.organisationId, subject: 'finance-1' },
    });
    if (!result.ok) throw new Error(JSON.stringify(result.error));
    return result.value.statementId;
  }

  beforeAll(async () => {
    database = await createTestDatabase();
    const config = await testConfig(database.url, 'in-process', { STATUS_CHECK_FIRST_AFTER_MS: '3600000', STATUS_CHECK_BACKOFF_MAX_MS: '3600000' });
    masterKey = config.crypto.masterKey;
    runtime = await startTestRuntime(config);
    p = await setUpProviderProgramme(runtime.persistence, { provider: 'mpesa', currency: 'KES', fundedMinor: 100_000_00n, floatMinor: 1_000_000_00n });
    q = await setUpProviderProgramme(runtime.persistence, { provider: 'mpesa', currency: 'KES', fundedMinor: 100_000_00n, floatMinor: 1_000_000_00n });

    // Period 1: P alone. Period 2: P and Q, through the same provider account.
    const from1 = await boundary();
    batchIds.p1 = await submit(p, pPeople.slice(0, 2));
    for (const x of pPeople.slice(0, 2)) await paid(ids[x.ref]!);
    const to1 = await boundary();
    batchIds.p2 = await submit(p, pPeople.slice(2));
    batchIds.q1 = await submit(q, [qPerson]);
    await paid(ids['p-3']!);
    await paid(ids['q-1']!);
    await runtime.simulator!.drained();
    const to2 = await boundary();
    statementIds.pOnly = await reconcile(p, { from: from1, to: to1 });
    statementIds.shared = await reconcile(p, { from: to1, to: to2 });

    // The erasure routes, on an API of their own (createApp does not mount them yet), logging to a sink.
    app = express();
    app.use(pinoHttp({ logger: pino({ level: 'info' }, sink.stream) }));
    registerErasureRoutes(app, { authenticate: createAuthenticator(testAuthConfig), persistence: runtime.persistence, vault: runtime.vault, now: () => clock(), erasure: erasureStore(runtime.db) });
    app.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
      const type = (error as { type?: string }).type;
      if (type === 'entity.parse.failed') return sendRejection(res, reject('REQUEST_MALFORMED'));
      if (type === 'entity.too.large') return sendRejection(res, reject('REQUEST_TOO_LARGE'));
      sendRejection(res, reject('INTERNAL'));
    });

    const ledger = await verifyLedger(runtime.persistence);
    before.ledger = { transfers: ledger.transfers, ledgers: ledger.ledgers };
    const reads = reconciliationReads(database.pool);
    for (const id of [statementIds.pOnly, statementIds.shared]) {
      before.resultSha256[id] = await reads.resultSha256(id);
      before.items[id] = await reads.items(id, { classes: null, after: null, limit: 1000 });
    }
  }, 120_000);

  afterAll(async () => {
    await runtime?.stop();
    await database?.drop();
  });

  const as = (s: Scenario, subject: string, role = 'admin') => bearer(s, role, subject);

  it('given P\'s paid payouts, callbacks and reconciliations, then their data is sealed under P\'s key and its statements name P (one with Q)', async () => {
    expect(await dataKeyOf(p.programmeId)).toBe(1);
    const callbacks = await sql<{ n: number }>`SELECT count(*)::int AS n FROM callbacks WHERE payout_id = ANY(${pPeople.map((x) => ids[x.ref]!)}::uuid[])`.execute(database.db);
    expect(callbacks.rows[0]!.n).toBeGreaterThanOrEqual(3);
    const classes = await sql<{ statement_id: string; payout_id: string; class: string }>`
      SELECT statement_id, payout_id, class FROM statement_lines WHERE payout_id IS NOT NULL ORDER BY statement_id, line_no`.execute(database.db);
    const byStatement = (id: string) => classes.rows.filter((r) => r.statement_id === id).map((r) => [r.payout_id, r.class]);
    expect(byStatement(statementIds.pOnly)).toEqual([[ids['p-1'], 'matched'], [ids['p-2'], 'matched']]);
    expect(byStatement(statementIds.shared).sort()).toEqual([[ids['p-3'], 'matched'], [ids['q-1'], 'matched']].sort());
    expect(await chunksOf(statementIds.pOnly)).toBeGreaterThan(0);
    // The file itself is about P's people: a masked number and the payee's name per line.
    const chunk = (await sql<{ sealed: Buffer }>`SELECT sealed FROM statement_files WHERE statement_id = ${statementIds.pOnly}::uuid AND chunk_no = 0`.execute(database.db)).rows[0]!.sealed;
    expect((await openStatementFileChunk(runtime.vault, statementIds.pOnly, 0, 'deflate', chunk)).toString()).toMatch(/Business Payment to \*+001 - /);
    const view = await request(app).get(erasure(p)).set('authorization', await as(p, 'admin-a'));
    expect(view.status).toBe(200);
    expect(view.body).toMatchObject({ programmeId: p.programmeId, state: 'not_requested', erasedAt: null, request: null, statements: [], retention: { days: null, dueAt: null } });
  });

  it('when an admin sets a retention period, then the erasure view says when erasure is due, and the change is audited', async () => {
    const res = await request(app).put(`/v1/programmes/${p.programmeId}/retention`).set('authorization', await as(p, 'admin-a')).send({ days: 30 });
    expect(res.status).toBe(200);
    expect(res.body.retention.days).toBe(30);
    expect(new Date(res.body.retention.dueAt).getTime()).toBe(new Date(res.body.retention.lastActivityAt).getTime() + 30 * 86_400_000);
    expect((await request(app).put(`/v1/programmes/${p.programmeId}/retention`).set('authorization', await as(p, 'admin-a')).send({ days: 0 })).status).toBe(422);
    expect((await request(app).put(`/v1/programmes/${p.programmeId}/retention`).set('authorization', await as(p, 'finance-1', 'finance')).send({ days: 10 })).status).toBe(403);
    expect((await auditActions()).filter((e) => e.action === 'programme.retention')).toEqual([{ action: 'programme.retention', actor: 'admin-a', object_id: p.programmeId }]);
  });

  it('when an erasure is asked badly, by a non-admin or for another organisation\'s programme, then it is refused and nothing is stored', async () => {
    const post = async (body: unknown, auth: string, s = p) => request(app).post(erasure(s)).set('authorization', auth).set('content-type', 'application/json').send(typeof body === 'string' ? body : JSON.stringify(body));
    expect((await post({}, await as(p, 'admin-a'))).status).toBe(422);
    expect((await post({ reason: ' ' }, await as(p, 'admin-a'))).status).toBe(422);
    expect((await post({ reason: 'x'.repeat(501) }, await as(p, 'admin-a'))).status).toBe(422);
    expect((await post({ reason: 'ok', extra: 1 }, await as(p, 'admin-a'))).status).toBe(422);
    expect((await post('{not json', await as(p, 'admin-a'))).status).toBe(400);
    expect((await post({ reason: 'ok' }, await as(p, 'pm-1', 'programme_manager'))).status).toBe(403);
    expect((await post({ reason: 'ok' }, await as(p, 'auditor-1', 'auditor'))).status).toBe(403);
    expect((await request(app).post(erasure(p)).send({ reason: 'ok' })).status).toBe(401);
    // Q's admin cannot see or touch P.
    expect((await post({ reason: 'ok' }, await as(q, 'admin-q'), p)).status).toBe(404);
    expect((await request(app).get(erasure(p)).set('authorization', await as(q, 'admin-q'))).status).toBe(404);
    expect((await request(app).get('/v1/programmes/no-such-programme/erasure').set('authorization', await as(p, 'admin-a'))).status).toBe(404);
    expect((await sql<{ n: number }>`SELECT count(*)::int AS n FROM programme_erasures`.execute(database.db)).rows[0]!.n).toBe(0);
  });

  let erasureId = '';
  it('when admin A asks, then the request awaits a second admin; asking again is a replay, another admin asking is refused', async () => {
    const res = await request(app).post(erasure(p)).set('authorization', await as(p, 'admin-a')).send({ reason: 'Retention period of the 2026 cash round has ended' });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ state: 'awaiting_confirmation', erasedAt: null, request: { state: 'awaiting_confirmation', requestedBy: 'admin-a', confirmedBy: null, payouts: null } });
    erasureId = res.body.request.erasureId;
    expect(new Date(res.body.request.expiresAt).getTime() - new Date(res.body.request.requestedAt).getTime()).toBe(72 * 3600 * 1000);
    const again = await request(app).post(erasure(p)).set('authorization', await as(p, 'admin-a')).send({ reason: 'Retention period of the 2026 cash round has ended' });
    expect(again.status).toBe(200);
    expect(again.body.request.erasureId).toBe(erasureId);
    const other = await request(app).post(erasure(p)).set('authorization', await as(p, 'admin-b')).send({ reason: 'another reason' });
    expect(other.status).toBe(409);
    expect(other.body.error.detail).toContain(`request ${erasureId} by admin-a awaits`);
    expect((await auditActions()).filter((e) => e.action === 'programme.erase_request')).toEqual([{ action: 'programme.erase_request', actor: 'admin-a', object_id: p.programmeId }]);
  });

  it('when admin A tries to confirm their own request (or a non-admin, or another organisation), then it is refused and nothing is erased', async () => {
    const mine = await request(app).post(`${erasure(p)}/confirm`).set('authorization', await as(p, 'admin-a'));
    expect(mine.status).toBe(403);
    expect(mine.body.error.detail).toBe('a second admin confirms an erasure, not the admin who asked for it');
    expect((await request(app).post(`${erasure(p)}/confirm`).set('authorization', await as(p, 'finance-1', 'finance'))).status).toBe(403);
    expect((await request(app).post(`${erasure(p)}/confirm`).set('authorization', await as(q, 'admin-q'))).status).toBe(404);
    const wrong = await request(app).post(`${erasure(p)}/confirm`).set('authorization', await as(p, 'admin-b')).send({ erasureId: '00000000-0000-4000-8000-000000000000' });
    expect(wrong.status).toBe(409);
    expect(wrong.body.error.detail).toBe(`the request awaiting confirmation is ${erasureId}`);
    expect(await dataKeyOf(p.programmeId)).toBe(1);
    expect((await sql<{ erased_at: Date | null }>`SELECT erased_at FROM programmes WHERE id = ${p.programmeId}`.execute(database.db)).rows[0]!.erased_at).toBeNull();
    // Still readable, by the same vault and a fresh one.
    const sealed = (await sql<{ msisdn_enc: Buffer }>`SELECT msisdn_enc FROM payouts WHERE id = ${ids['p-1']!}::uuid`.execute(database.db)).rows[0]!.msisdn_enc;
    expect((await runtime.vault.open(p.programmeId, ids['p-1']!, 'msisdn', sealed)).toString()).toBe(pPeople[0]!.msisdn);
  });

  let sealedBefore: { msisdn: Buffer; name: Buffer; payload: Buffer; callback: { subject: string; body: Buffer } };
  it('when admin B confirms, then P\'s data key is destroyed and P erased in one go, its own statement file deleted and the shared one kept', async () => {
    const payout = (await sql<{ msisdn_enc: Buffer; name_enc: Buffer }>`SELECT msisdn_enc, name_enc FROM payouts WHERE id = ${ids['p-1']!}::uuid`.execute(database.db)).rows[0]!;
    const payload = (await sql<{ payload_enc: Buffer }>`SELECT payload_enc FROM batches WHERE id = ${batchIds.p1!}::uuid`.execute(database.db)).rows[0]!.payload_enc;
    const callback = (await sql<{ provider: string; scope: string; dedupe_key: string; raw_body_enc: Buffer }>`
      SELECT provider, scope, dedupe_key, raw_body_enc FROM callbacks WHERE payout_id = ${ids['p-1']!}::uuid ORDER BY id LIMIT 1`.execute(database.db)).rows[0]!;
    sealedBefore = { msisdn: payout.msisdn_enc, name: payout.name_enc, payload, callback: { subject: `${callback.provider}:${callback.scope}:${callback.dedupe_key}`, body: callback.raw_body_enc } };
    // All open before.
    expect((await runtime.vault.open(p.programmeId, sealedBefore.callback.subject, 'callback_body', sealedBefore.callback.body)).length).toBeGreaterThan(0);

    const res = await request(app).post(`${erasure(p)}/confirm`).set('authorization', await as(p, 'admin-b')).send({ erasureId });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      programmeId: p.programmeId,
      state: 'erased',
      request: { erasureId, state: 'erased', requestedBy: 'admin-a', confirmedBy: 'admin-b', payouts: 3, dataKeyDestroyed: true },
    });
    expect(res.body.erasedAt).toEqual(res.body.request.confirmedAt);
    expect([...res.body.statements].sort((a: { statementId: string }, b: { statementId: string }) => a.statementId.localeCompare(b.statementId))).toEqual([
      { statementId: statementIds.pOnly, file: 'erased', programmesNotErased: 0 },
      { statementId: statementIds.shared, file: 'kept_shared', programmesNotErased: 1 },
    ].sort((a, b) => a.statementId.localeCompare(b.statementId)));

    expect(await dataKeyOf(p.programmeId)).toBe(0);
    expect(await dataKeyOf(q.programmeId)).toBe(1);
    expect(await chunksOf(statementIds.pOnly)).toBe(0);
    expect(await chunksOf(statementIds.shared)).toBeGreaterThan(0);
    const files = await sql<{ id: string; file_erased_at: Date | null }>`SELECT id, file_erased_at FROM statements ORDER BY id`.execute(database.db);
    expect(Object.fromEntries(files.rows.map((r) => [r.id, r.file_erased_at !== null]))).toEqual({ [statementIds.pOnly]: true, [statementIds.shared]: false });
    const events = (await auditActions()).filter((e) => e.action.startsWith('programme.erase'));
    expect(events).toEqual([
      { action: 'programme.erase_request', actor: 'admin-a', object_id: p.programmeId },
      { action: 'programme.erase', actor: 'admin-b', object_id: p.programmeId },
    ]);
    const detail = (await sql<{ detail: Record<string, string> }>`SELECT detail FROM audit_events WHERE action = 'programme.erase'`.execute(database.db)).rows[0]!.detail;
    expect(detail).toEqual({ erasureId, requestedBy: 'admin-a', payouts: '3', dataKeyDestroyed: 'true', statementFilesErased: '1', statementFilesKept: '1' });
  });

  it('then nothing of P opens any more: not with the running process\'s vault, not with a fresh one given the same master key; and nothing new is sealed for it', async () => {
    const fresh = new AesGcmVault(runtime.db, masterKey);
    for (const vault of [runtime.vault, fresh]) {
      await expect(vault.open(p.programmeId, ids['p-1']!, 'msisdn', sealedBefore.msisdn)).rejects.toThrow(ProgrammeErasedError);
      await expect(vault.open(p.programmeId, ids['p-1']!, 'name', sealedBefore.name)).rejects.toThrow(ProgrammeErasedError);
      await expect(vault.open(p.programmeId, batchIds.p1!, 'batch_payload', sealedBefore.payload)).rejects.toThrow(ProgrammeErasedError);
      await expect(vault.open(p.programmeId, sealedBefore.callback.subject, 'callback_body', sealedBefore.callback.body)).rejects.toThrow(ProgrammeErasedError);
      await expect(vault.seal(p.programmeId, 'new', 'msisdn', '+254700000000')).rejects.toThrow(ProgrammeErasedError);
      await expect(vault.blindIndex(p.programmeId, '+254733500001')).rejects.toThrow(ProgrammeErasedError);
    }
    await fresh.close();
    // The database refuses P a new key and a new batch, and keeps the erasure for good.
    await expect(sql`INSERT INTO data_keys (programme_id, wrapped_key) VALUES (${p.programmeId}, '\\x00')`.execute(database.db)).rejects.toThrow(/is erased: its beneficiary data is gone/);
    await expect(insertPayouts(database.pool, p, [{ receipt: 'LATE1', amountMinor: 100n, state: 'paid', accountId: 'mpesa' }])).rejects.toThrow(/is erased: it takes no new batch/);
    await expect(sql`UPDATE programmes SET erased_at = NULL WHERE id = ${p.programmeId}`.execute(database.db)).rejects.toThrow(/that never changes/);
    await expect(sql`DELETE FROM data_keys WHERE programme_id = ${q.programmeId}`.execute(database.db)).rejects.toThrow(/deleted only by erasing the programme/);
    await expect(sql`DELETE FROM statement_files WHERE statement_id = ${statementIds.shared}::uuid`.execute(database.db)).rejects.toThrow(/append-only/);
    // Q is untouched: its payout still opens; the shared statement's file still opens.
    const qSealed = (await sql<{ msisdn_enc: Buffer }>`SELECT msisdn_enc FROM payouts WHERE id = ${ids['q-1']!}::uuid`.execute(database.db)).rows[0]!.msisdn_enc;
    expect((await runtime.vault.open(q.programmeId, ids['q-1']!, 'msisdn', qSealed)).toString()).toBe(qPerson.msisdn);
    const chunk = (await sql<{ sealed: Buffer }>`SELECT sealed FROM statement_files WHERE statement_id = ${statementIds.shared}::uuid AND chunk_no = 0`.execute(database.db)).rows[0]!.sealed;
    expect((await openStatementFileChunk(runtime.vault, statementIds.shared, 0, 'deflate', chunk)).length).toBeGreaterThan(0);
  });

  it('then the ledger, the audit log and both reconciliations verify as before; payouts and statement lines say erased', async () => {
    // Whatever the chainer has linked so far verifies (its horizon is the cluster's oldest transaction:
    // other test files' databases can hold it back), and erasing moved no money.
    const ledger = await verifyLedger(runtime.persistence);
    expect({ ok: ledger.ok, problems: ledger.problems }).toEqual({ ok: true, problems: [] });
    expect({ transfers: ledger.transfers, ledgers: ledger.ledgers }).toEqual(before.ledger);
    const audit = await verifyAuditLog(runtime.persistence);
    expect({ ok: audit.ok, problems: audit.problems }).toEqual({ ok: true, problems: [] });
    const reads = reconciliationReads(database.pool);
    for (const id of [statementIds.pOnly, statementIds.shared]) {
      expect(await reads.resultSha256(id)).toBe(before.resultSha256[id]);
      expect(await reads.items(id, { classes: null, after: null, limit: 1000 })).toEqual(before.items[id]);
    }

    // Payout views: P's say erased, with their ledger facts; Q's do not.
    for (const x of pPeople) {
      const view = await api(`/v1/payouts/${ids[x.ref]!}`, p, 'programme_manager');
      expect(view.status).toBe(200);
      expect(JSON.parse(view.text)).toMatchObject({ payoutId: ids[x.ref], state: 'paid', amount: x.amount, beneficiary: 'erased' });
    }
    const page = JSON.parse((await api(`/v1/batches/${batchIds.p1!}/payouts`, p, 'programme_manager')).text) as { items: { beneficiary?: string }[] };
    expect(page.items.map((i) => i.beneficiary)).toEqual(['erased', 'erased']);
    expect(JSON.parse((await api(`/v1/payouts/${ids['q-1']!}`, q, 'programme_manager')).text)).not.toHaveProperty('beneficiary');

    // Statement lines: P's say erased, Q's line on the shared statement does not.
    const items = async (id: string, s: Scenario) => (JSON.parse((await api(`/v1/reconciliations/${id}/items?class=all`, s)).text) as { items: { payoutId: string | null; beneficiary?: string }[] }).items;
    expect((await items(statementIds.pOnly, p)).map((i) => [i.payoutId, i.beneficiary ?? null])).toEqual([[ids['p-1'], 'erased'], [ids['p-2'], 'erased']]);
    expect(Object.fromEntries((await items(statementIds.shared, q)).map((i) => [i.payoutId, i.beneficiary ?? null]))).toEqual({ [ids['p-3']!]: 'erased', [ids['q-1']!]: null });
    expect((await api(`/v1/reconciliations/${statementIds.pOnly}`, p)).status).toBe(200);
  });

  it('then no endpoint, export or log line gives one of their names or numbers', async () => {
    const paths: [string, Scenario, string][] = [
      ...pPeople.map((x): [string, Scenario, string] => [`/v1/payouts/${ids[x.ref]!}`, p, 'programme_manager']),
      [`/v1/batches/${batchIds.p1!}`, p, 'programme_manager'],
      [`/v1/batches/${batchIds.p1!}/payouts`, p, 'programme_manager'],
      [`/v1/batches/${batchIds.p2!}/payouts`, p, 'programme_manager'],
      [`/v1/reconciliations`, p, 'finance'],
      [`/v1/reconciliations/${statementIds.pOnly}`, p, 'finance'],
      [`/v1/reconciliations/${statementIds.pOnly}/items?class=all`, p, 'finance'],
      [`/v1/reconciliations/${statementIds.pOnly}/report.csv`, p, 'finance'],
      [`/v1/reconciliations/${statementIds.shared}/report.csv`, p, 'finance'],
      [`/v1/audit`, p, 'auditor'],
      [`/v1/programmes/${p.programmeId}/policy`, p, 'finance'],
    ];
    for (const [path, s, role] of paths) {
      const res = await api(path, s, role);
      expect({ path, status: res.status }).toEqual({ path, status: 200 });
      assertNoBeneficiaryData(path, res.text);
    }
    const view = await request(app).get(erasure(p)).set('authorization', await as(p, 'auditor-1', 'auditor'));
    expect(view.status).toBe(200);
    assertNoBeneficiaryData('erasure view', JSON.stringify(view.body));
    assertNoBeneficiaryData('erasure routes\' log', sink.lines.join('\n'));
    expect(sink.lines.join('\n')).toContain('programme erased');
  });

  it('when P is asked for again, or its retention changed, then it is refused as erased; confirming again sweeps and answers as a replay', async () => {
    expect((await request(app).post(erasure(p)).set('authorization', await as(p, 'admin-a')).send({ reason: 'again' })).status).toBe(409);
    expect((await request(app).put(`/v1/programmes/${p.programmeId}/retention`).set('authorization', await as(p, 'admin-a')).send({ days: 5 })).status).toBe(409);
    const replay = await request(app).post(`${erasure(p)}/confirm`).set('authorization', await as(p, 'admin-a'));
    expect(replay.status).toBe(200);
    expect(replay.body).toMatchObject({ state: 'erased', request: { erasureId, confirmedBy: 'admin-b' } });
    expect((await auditActions()).filter((e) => e.action === 'programme.erase')).toHaveLength(1);
    // An erased programme takes no new batch: refused as erased, never answered 500 by the vault.
    const document = batchDocument(p, [{ ref: 'late-1', provider: 'mpesa', msisdn: '+254733600099', amount: '10.00' }]);
    const late = await fetch(`${runtime.apiUrl}/v1/batches`, { method: 'POST', headers: { authorization: await bearer(p, 'programme_manager', 'pm-1'), 'content-type': 'application/jose+json' }, body: JSON.stringify(await sign(document, p.maker)) });
    expect({ status: late.status, code: ((await late.json()) as { error?: { code?: string } }).error?.code }).toEqual({ status: 409, code: 'PROGRAMME_ERASED' });
  });

  it('when Q is erased too, then the shared statement\'s file goes with it, and P\'s record of it says erased', async () => {
    expect((await request(app).post(erasure(q)).set('authorization', await as(q, 'admin-q')).send({ reason: 'Programme closed' })).status).toBe(201);
    const done = await request(app).post(`${erasure(q)}/confirm`).set('authorization', await as(q, 'admin-q2'));
    expect(done.status).toBe(200);
    expect(done.body.statements).toEqual([{ statementId: statementIds.shared, file: 'erased', programmesNotErased: 0 }]);
    expect(await chunksOf(statementIds.shared)).toBe(0);
    const pView = await request(app).get(erasure(p)).set('authorization', await as(p, 'admin-a'));
    expect(pView.body.statements.find((s: { statementId: string }) => s.statementId === statementIds.shared)).toEqual({ statementId: statementIds.shared, file: 'erased', programmesNotErased: 0 });
    expect((await verifyAuditLog(runtime.persistence)).ok).toBe(true);
    expect((await verifyLedger(runtime.persistence)).ok).toBe(true);
  });

  it('when a programme still has a payout in flight, then its erasure is refused, asked or confirmed', async () => {
    const r = await setUpProviderProgramme(runtime.persistence, { provider: 'mpesa', currency: 'KES', fundedMinor: 1_000_00n, floatMinor: 1_000_00n });
    await insertPayouts(database.pool, r, [{ receipt: 'INFLIGHT1', amountMinor: 100n, state: 'submitted', accountId: 'mpesa' }]);
    const res = await request(app).post(erasure(r)).set('authorization', await as(r, 'admin-r')).send({ reason: 'too early' });
    expect(res.status).toBe(409);
    expect(res.body.error.detail).toBe('the programme still needs its beneficiaries\' data: 1 payout(s) not settled');
    expect((await sql<{ n: number }>`SELECT count(*)::int AS n FROM programme_erasures WHERE programme_id = ${r.programmeId}`.execute(database.db)).rows[0]!.n).toBe(0);

    // Asked while quiet, then a batch still dispatching comes before the confirmation: refused, nothing erased.
    const s = await setUpProviderProgramme(runtime.persistence, { provider: 'mpesa', currency: 'KES', fundedMinor: 1_000_00n, floatMinor: 1_000_00n });
    expect((await request(app).post(erasure(s)).set('authorization', await as(s, 'admin-s1')).send({ reason: 'quiet now' })).status).toBe(201);
    await insertPayouts(database.pool, s, [{ receipt: 'INFLIGHT2', amountMinor: 100n, state: 'paid', accountId: 'mpesa' }]);
    await sql`UPDATE batches SET state = 'dispatching' WHERE programme_id = ${s.programmeId}`.execute(database.db);
    const confirm = await request(app).post(`${erasure(s)}/confirm`).set('authorization', await as(s, 'admin-s2'));
    expect(confirm.status).toBe(409);
    expect(confirm.body.error.detail).toBe('the programme still needs its beneficiaries\' data: 1 batch(es) not completed, rejected or cancelled');
    expect((await request(app).get(erasure(s)).set('authorization', await as(s, 'admin-s2'))).body).toMatchObject({ state: 'awaiting_confirmation', erasedAt: null });
  });

  it('when a request is not confirmed within 72 hours, then it expires: confirming it is refused, and an admin may ask again', async () => {
    const t = await setUpProviderProgramme(runtime.persistence, { provider: 'mpesa', currency: 'KES', fundedMinor: 1_000_00n, floatMinor: 1_000_00n });
    const asked = await request(app).post(erasure(t)).set('authorization', await as(t, 'admin-t1')).send({ reason: 'end of programme' });
    expect(asked.status).toBe(201);
    const start = Date.now();
    clock = () => new Date(start + 72 * 3600 * 1000 + 1000);
    try {
      const late = await request(app).post(`${erasure(t)}/confirm`).set('authorization', await as(t, 'admin-t2'));
      expect(late.status).toBe(409);
      expect(late.body.error.detail).toBe(`request ${asked.body.request.erasureId} expired at ${asked.body.request.expiresAt}: an admin asks again`);
      expect((await request(app).get(erasure(t)).set('authorization', await as(t, 'admin-t2'))).body).toMatchObject({ state: 'not_requested', request: { state: 'expired' } });
      const again = await request(app).post(erasure(t)).set('authorization', await as(t, 'admin-t2')).send({ reason: 'end of programme, again' });
      expect(again.status).toBe(201);
      expect(again.body.request.erasureId).not.toBe(asked.body.request.erasureId);
      const states = await sql<{ state: string }>`SELECT state FROM programme_erasures WHERE programme_id = ${t.programmeId} ORDER BY requested_at`.execute(database.db);
      expect(states.rows.map((r) => r.state)).toEqual(['expired', 'awaiting_confirmation']);
      expect((await request(app).post(`${erasure(t)}/confirm`).set('authorization', await as(t, 'admin-t1'))).status).toBe(200);
    } finally {
      clock = () => new Date();
    }
  });

  it('when admins use `tuma programme erase`, then one asks, the other confirms, and --status shows it erased', async () => {
    const r = await setUpProviderProgramme(runtime.persistence, { provider: 'mpesa', currency: 'KES', fundedMinor: 1_000_00n, floatMinor: 1_000_00n });
    await insertPayouts(database.pool, r, [{ receipt: 'CLI1', amountMinor: 100n, state: 'paid', accountId: 'mpesa' }]);
    const server = http.createServer(app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const run = async (subject: string, argv: string[]) => {
        const out: string[] = [];
        const err: string[] = [];
        const token = await tokenFor(r.organisationId, ['admin'], { subject });
        const code = await runProgrammeCli(argv, {
          out: (l) => out.push(l), err: (l) => err.push(l), write: () => undefined, env: { TUMA_URL: url, TUMA_TOKEN: token }, isTTY: false,
          fetch: globalThis.fetch, sleep: async () => undefined, now: () => new Date(),
        });
        return { code, out: out.join('\n'), err: err.join('\n') };
      };
      expect((await run('admin-r1', ['erase', '--programme', r.programmeId])).code).toBe(2);
      const asked = await run('admin-r1', ['erase', '--programme', r.programmeId, '--reason', 'Retention ended']);
      expect(asked.code).toBe(0);
      expect(asked.err).toContain(`tuma programme erase --programme ${r.programmeId} --confirm`);
      const own = await run('admin-r1', ['erase', '--programme', r.programmeId, '--confirm']);
      expect(own.code).toBe(1);
      expect(own.err).toMatch(/refused: 403 .*a second admin confirms/);
      const confirmed = await run('admin-r2', ['erase', '--programme', r.programmeId, '--confirm']);
      expect(confirmed.code).toBe(0);
      expect(JSON.parse(confirmed.out)).toMatchObject({ state: 'erased', request: { requestedBy: 'admin-r1', confirmedBy: 'admin-r2', payouts: 1 } });
      expect(confirmed.err).toMatch(/erased at .* \(asked by admin-r1, confirmed by admin-r2\); 1 payout\(s\) now show "erased"/);
      const status = await run('admin-r1', ['erase', '--programme', r.programmeId, '--status']);
      expect(JSON.parse(status.out)).toMatchObject({ state: 'erased' });
      expect((await run('admin-r1', ['retention', '--programme', r.programmeId, '--days', '30'])).code).toBe(1);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    expect(await dataKeyOf(r.programmeId)).toBe(0);
  });
});

// Retries after a confirmed failure (issue #6 item 3), end to end over Kafka and in-process, with
// the M-Pesa simulator: a float that runs out fails payouts with ResultCode 1 (insufficient
// float), which may pass, so each is tried again under a new key after a backoff, the money still
// committed; once the float is topped up they are paid, once. A payout whose every attempt fails
// so is held for operators (flagged, dead-lettered) and `tuma payouts requeue` sends it again.
// A failure that says something about the payee is final at once.
import { sql } from 'kysely';
import { verifyLedger } from '../../src/application/ledger-chain.js';
import type { Delivery } from '../../src/application/ports.js';
import { requeuePayout } from '../../src/application/requeue-payout.js';
import type { Runtime } from '../../src/cli/runtime.js';
import { attemptKey, payoutIdOf } from '../../src/domain/ids.js';
import { tokenFor } from '../support/auth.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { batchDocument, kenyanPayout, net, setUpProgramme, sign, type Scenario } from '../support/fixtures.js';
import { startTestRuntime, testConfig, type TransportKind } from '../support/runtime.js';

const waitMs = 45_000;

describe.each<TransportKind>(['kafka', 'in-process'])('payout retries over %s', (transport) => {
  let database: TestDatabase;
  let runtime: Runtime;
  let s: Scenario;
  let auth: Record<string, string>;
  const dead: Delivery[] = [];
  let dlq: { stop(): Promise<void> } | null = null;

  beforeAll(async () => {
    database = await createTestDatabase();
    runtime = await startTestRuntime(await testConfig(database.url, transport, {
      PAYOUT_ATTEMPTS_MAX: '3',
      PAYOUT_RETRY_BACKOFF_MS: '1000',
      PAYOUT_RETRY_BACKOFF_MAX_MS: '1000',
    }));
    s = await setUpProgramme(runtime.persistence, 50_000_00n);
    auth = { authorization: `Bearer ${await tokenFor(s.organisationId, ['programme_manager'])}` };
    dlq = await runtime.transport.subscribe({ topic: runtime.topics.dlq, groupId: `dlq-reader-${transport}`, concurrency: 1, handle: async (d) => void dead.push(d) });
  });

  afterAll(async () => {
    await dlq?.stop();
    await runtime?.stop();
    await database?.drop();
  });

  async function submit(lines: readonly (readonly [ref: string, msisdn: string])[]): Promise<string> {
    const document = batchDocument(s, lines.map(([ref, msisdn]) => ({ ...kenyanPayout(ref, '100.00'), msisdn })));
    const res = await fetch(`${runtime.apiUrl}/v1/batches`, { method: 'POST', headers: { ...auth, 'content-type': 'application/jose+json' }, body: JSON.stringify(await sign(document, s.maker)) });
    expect(res.status).toBe(201);
    return document.batchId;
  }
  const row = async (payoutId: string) =>
    (await sql<{ state: string; attempt_count: number; failure_code: string | null; status_flagged_at: Date | null; dispatch_at: Date | null }>`
      SELECT state, attempt_count, failure_code, status_flagged_at, dispatch_at FROM payouts WHERE id = ${payoutId}::uuid`.execute(database.db)).rows[0]!;
  const retriesOf = async (payoutId: string) =>
    Number((await sql<{ n: string }>`SELECT count(*)::text AS n FROM payout_transitions WHERE payout_id = ${payoutId}::uuid AND to_state = 'queued' AND from_state <> 'accepted'`.execute(database.db)).rows[0]!.n);
  const committed = async (batchId: string) =>
    BigInt((await sql<{ b: string }>`SELECT (credits_posted - debits_posted)::text AS b FROM accounts WHERE key = ${`batch:${batchId}:committed`}`.execute(database.db)).rows[0]!.b);

  it('when the float runs out, then the payouts it could not cover wait with their money committed, and after the top-up each is paid once under a new key', async () => {
    const prefix = transport === 'kafka' ? '25473320' : '25473321';
    // 250.00 in the float: two of the four 100.00 payouts are paid, two fail with insufficient float.
    runtime.simulator!.setFaults({ rules: [], floatBalance: '250.00' });
    const refs = ['f1', 'f2', 'f3', 'f4'];
    const batchId = await submit(refs.map((ref, i) => [ref, `+${prefix}000${i}`] as const));
    const ids = refs.map((ref) => payoutIdOf(batchId, ref));
    const waiting = await net.eventually(async () => {
      const r = await Promise.all(ids.map(async (id) => ({ id, retries: await retriesOf(id) })));
      const w = r.filter((x) => x.retries >= 1);
      return w.length === 2 ? w.map((x) => x.id) : null;
    }, waitMs, 'two payouts to fail for want of float');
    // While they wait, the API says when their next attempt is due.
    const waitingView = (await (await fetch(`${runtime.apiUrl}/v1/payouts/${waiting[0]}`, { headers: auth })).json()) as { state: string; nextAttemptAt: string | null };
    if (waitingView.state === 'queued') expect(Date.parse(waitingView.nextAttemptAt ?? '')).toBeGreaterThan(Date.now() - 5_000);
    // The top-up: the float no longer limits anything.
    runtime.simulator!.setFaults({ rules: [] });
    await net.eventually(async () => ((await Promise.all(ids.map(row))).every((r) => r.state === 'paid') ? true : null), waitMs, 'every payout paid');
    for (const id of waiting) {
      const r = await row(id);
      expect(r.attempt_count).toBeGreaterThanOrEqual(2);
      expect(r.status_flagged_at).toBeNull();
      // Every key ran once at most, and the payout was paid by exactly one of them.
      const executed = Array.from({ length: r.attempt_count }, (_, i) => runtime.simulator!.executions(attemptKey(id, i + 1)));
      expect(executed.every((n) => n <= 1)).toBe(true);
      const paidTransfers = await sql<{ n: string }>`SELECT count(*)::text AS n FROM transfers WHERE payout_id = ${id}::uuid AND code = 'payout_paid'`.execute(database.db);
      expect(paidTransfers.rows[0]!.n).toBe('1');
    }
    expect(await committed(batchId)).toBe(0n);
    expect(await sql<{ state: string }>`SELECT state FROM batches WHERE id = ${batchId}::uuid`.execute(database.db).then((r) => r.rows[0]!.state)).toBe('completed');
    expect((await verifyLedger(runtime.persistence)).ok).toBe(true);
  });

  it('when every attempt fails for want of float, then the payout is held with its money committed, flagged and dead-lettered; requeued after the top-up, it is paid', async () => {
    const msisdn = transport === 'kafka' ? '254733220001' : '254733221001';
    runtime.simulator!.setFaults({ rules: [{ pattern: `^${msisdn}$`, fault: 'fail', resultCode: 1 }] });
    const batchId = await submit([['held', `+${msisdn}`]]);
    const id = payoutIdOf(batchId, 'held');
    const held = await net.eventually(async () => {
      const r = await row(id);
      return r.state === 'queued' && r.status_flagged_at !== null ? r : null;
    }, waitMs, 'the payout to be held after its last attempt');
    expect(held).toMatchObject({ attempt_count: 3, dispatch_at: null });
    expect(held.failure_code).toMatch(/^insufficient_float:/);
    expect([1, 2, 3, 4].map((n) => runtime.simulator!.executions(attemptKey(id, n)))).toEqual([1, 1, 1, 0]);
    // The money is still committed: nothing was released for a failure that may pass.
    expect(await committed(batchId)).toBe(100_00n);
    const letter = await net.eventually(async () => dead.find((d) => JSON.parse(d.value.toString('utf8')).reason.includes(id)), waitMs, 'the dead letter');
    expect(JSON.parse(letter.value.toString('utf8')).reason).toMatch(/^attempts exhausted \(3\), last failure insufficient_float:/);
    // The programme manager sees why it waits.
    const view = (await (await fetch(`${runtime.apiUrl}/v1/payouts/${id}`, { headers: auth })).json()) as Record<string, unknown>;
    expect(view).toMatchObject({ state: 'queued', attempts: 3, nextAttemptAt: null, flaggedAt: held.status_flagged_at!.toISOString() });
    expect(view.failureCode).toMatch(/^insufficient_float:/);
    // Nothing more happens on its own.
    await new Promise((r) => setTimeout(r, 1_500));
    expect((await row(id)).attempt_count).toBe(3);

    runtime.simulator!.setFaults({ rules: [] });
    const requeued = await requeuePayout({ persistence: runtime.persistence, transport: runtime.transport, topics: runtime.topics, now: () => new Date() }, id);
    expect(requeued).toEqual({ ok: true, value: 'dispatch_republished' });
    await net.eventually(async () => ((await row(id)).state === 'paid' ? true : null), waitMs, 'the requeued payout to be paid');
    expect(runtime.simulator!.executions(attemptKey(id, 4))).toBe(1);
    expect(await committed(batchId)).toBe(0n);
    expect((await verifyLedger(runtime.persistence)).ok).toBe(true);
  });

  it('when a held payout\'s batch is cancelled instead, then its money goes back to the programme and nothing is sent again', async () => {
    const msisdn = transport === 'kafka' ? '254733220003' : '254733221003';
    runtime.simulator!.setFaults({ rules: [{ pattern: `^${msisdn}$`, fault: 'fail', resultCode: 1 }] });
    const batchId = await submit([['given-up', `+${msisdn}`]]);
    const id = payoutIdOf(batchId, 'given-up');
    await net.eventually(async () => ((await row(id)).status_flagged_at !== null ? true : null), waitMs, 'the payout to be held after its last attempt');
    expect(await committed(batchId)).toBe(100_00n);
    const res = await fetch(`${runtime.apiUrl}/v1/batches/${batchId}/cancel`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ reason: 'float not topped up' }) });
    expect(res.status).toBe(200);
    expect(await row(id)).toMatchObject({ state: 'cancelled', attempt_count: 3 });
    expect(await committed(batchId)).toBe(0n);
    expect(await sql<{ state: string }>`SELECT state FROM batches WHERE id = ${batchId}::uuid`.execute(database.db).then((r) => r.rows[0]!.state)).toBe('cancelled');
    // A requeue now is refused: a cancelled payout is never sent again.
    const requeued = await requeuePayout({ persistence: runtime.persistence, transport: runtime.transport, topics: runtime.topics, now: () => new Date() }, id);
    expect(requeued.ok).toBe(false);
    expect(runtime.simulator!.executions(attemptKey(id, 4))).toBe(0);
    expect((await verifyLedger(runtime.persistence)).ok).toBe(true);
  });

  it('when the payee is not a wallet, then the failure is final at once and the money goes back', async () => {
    const msisdn = transport === 'kafka' ? '254733220002' : '254733221002';
    runtime.simulator!.setFaults({ rules: [{ pattern: `^${msisdn}$`, fault: 'fail', resultCode: 2040 }] });
    const batchId = await submit([['final', `+${msisdn}`]]);
    const id = payoutIdOf(batchId, 'final');
    await net.eventually(async () => ((await row(id)).state === 'failed' ? true : null), waitMs, 'the payout to fail');
    expect((await row(id)).attempt_count).toBe(1);
    expect(await retriesOf(id)).toBe(0);
    expect(await committed(batchId)).toBe(0n);
  });
});

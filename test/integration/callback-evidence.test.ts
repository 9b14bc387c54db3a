// Callbacks are evidence, never orders (issue #19), through the whole engine over the real Kafka
// broker and PostgreSQL with the M-Pesa simulator: a token posted on another provider's path or
// route, a forged failure, another payout's message under a valid token, two queue timeouts in a
// row, a paid report with the wrong amount, and one receipt reported for two payouts. After each:
// executions per idempotency key at the simulator never above 1, `tuma ledger verify` green, and
// each payout in the state the issue names.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import type { SubmitRequest } from '../../src/application/ports.js';
import { verifyLedger } from '../../src/application/ledger-chain.js';
import { requeuePayout } from '../../src/application/requeue-payout.js';
import { topicNames } from '../../src/application/messages.js';
import { GsmaClient } from '../../src/adapters/providers/gsma/gsma-client.js';
import { MpesaClient } from '../../src/adapters/providers/mpesa/mpesa-client.js';
import type { Runtime } from '../../src/cli/runtime.js';
import { attemptKey, payoutIdOf } from '../../src/domain/ids.js';
import { tokenFor } from '../support/auth.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { batchDocument, net, setUpProviderProgramme, sign, type PayoutLine, type Scenario } from '../support/fixtures.js';
import { startTestRuntime, testConfig } from '../support/runtime.js';

const waitMs = 45_000;

/** Every callback URL the worker and the poller gave M-Pesa, by the attempt key it was for. */
const callbackUrls = new Map<string, string[]>();
const originalSubmit = MpesaClient.prototype.submit;

describe('callbacks are evidence, over kafka', () => {
  let database: TestDatabase;
  let runtime: Runtime;
  let s: Scenario;
  let auth: Record<string, string>;

  beforeAll(async () => {
    MpesaClient.prototype.submit = function (this: MpesaClient, req: SubmitRequest) {
      callbackUrls.set(req.idempotencyKey, [...(callbackUrls.get(req.idempotencyKey) ?? []), req.callbackUrl]);
      return originalSubmit.call(this, req);
    };
    database = await createTestDatabase();
    runtime = await startTestRuntime(await testConfig(database.url, 'kafka', {
      STATUS_CHECK_FIRST_AFTER_MS: '300',
      STATUS_CHECK_BACKOFF_MAX_MS: '600',
      STATUS_CHECKS_MAX: '4',
      STATUS_POLL_INTERVAL_MS: '50',
    }));
    s = await setUpProviderProgramme(runtime.persistence, { provider: 'mpesa', currency: 'KES', fundedMinor: 100_000_00n, floatMinor: 1_000_000_00n });
    auth = { authorization: `Bearer ${await tokenFor(s.organisationId, ['programme_manager', 'finance'])}` };
  });

  afterAll(async () => {
    MpesaClient.prototype.submit = originalSubmit;
    await runtime?.stop();
    await database?.drop();
  });

  async function submit(rows: PayoutLine[]): Promise<{ batchId: string; id: (ref: string) => string }> {
    const total = rows.reduce((sum, r) => sum + BigInt(String(r.amount).replace('.', '')), 0n);
    const document = batchDocument(s, rows, { total: `${total / 100n}.${String(total % 100n).padStart(2, '0')}` });
    const res = await fetch(`${runtime.apiUrl}/v1/batches`, { method: 'POST', headers: { ...auth, 'content-type': 'application/jose+json' }, body: JSON.stringify(await sign(document, s.maker)) });
    expect(res.status).toBe(201);
    return { batchId: document.batchId, id: (ref) => payoutIdOf(document.batchId, ref) };
  }
  const row = (ref: string, msisdn: string, amount = '10.00'): PayoutLine => ({ ref, provider: 'mpesa', msisdn, amount });
  const payout = async (id: string) => (await sql<{ state: string; attempt_count: number; status_flagged_at: Date | null; failure_code: string | null }>`SELECT state, attempt_count, status_flagged_at, failure_code FROM payouts WHERE id = ${id}::uuid`.execute(database.db)).rows[0]!;
  const reaches = (id: string, states: readonly string[], what: string) => net.eventually(async () => { const p = await payout(id); return states.includes(p.state) ? p : null; }, waitMs, what);
  const callbacksOf = async (id: string) => Number((await sql<{ n: string }>`SELECT count(*)::text AS n FROM callbacks WHERE payout_id = ${id}::uuid`.execute(database.db)).rows[0]!.n);
  const tokenOf = (id: string, attempt = 1) => new URL(callbackUrls.get(attemptKey(id, attempt))![0]!).pathname.split('/')[4]!;
  const post = (path: string, body: unknown, headers: Record<string, string> = {}, method = 'POST') =>
    fetch(`${runtime.apiUrl}${path}`, { method, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const darajaResult = (key: string, code: number, receipt = 'SIM0000001') => ({
    Result: { ResultType: 0, ResultCode: code, ResultDesc: code === 0 ? 'ok' : 'The balance is insufficient for the transaction.', OriginatorConversationID: key, ConversationID: `AG_${key.slice(0, 8)}`, TransactionID: receipt },
  });
  async function settledWell(ids: readonly string[]): Promise<void> {
    for (const id of ids) for (let attempt = 1; attempt <= 4; attempt++) expect(runtime.simulator!.executions(attemptKey(id, attempt))).toBeLessThanOrEqual(1);
    const report = await net.eventually(async () => { const r = await verifyLedger(runtime.persistence); return r.ok ? r : null; }, waitMs, 'the ledger to verify');
    expect(report.ok).toBe(true);
  }

  it('when an M-Pesa attempt\'s token is posted on the GSMA or MoMo path, or on the status route, then 401 and nothing is stored; a forged failure on its own URL releases nothing and the status query settles it paid, once', async () => {
    runtime.simulator!.setFaults({ rules: [{ pattern: '^254711000001$', callback: 'lose' }] });
    const b = await submit([row('forged', '+254711000001')]);
    const id = b.id('forged');
    const key = attemptKey(id, 1);
    await net.eventually(async () => (callbackUrls.has(key) ? true : null), waitMs, 'the attempt to be sent');
    const token = tokenOf(id);
    const failedMomo = { financialTransactionId: '1', externalId: key, amount: '10', currency: 'KES', status: 'FAILED', reason: 'NOT_ENOUGH_FUNDS' };
    const gsmaError = { errorCategory: 'businessRule', errorCode: 'insufficientFunds', errorDescription: 'no float' };
    const misrouted = [
      await post(`/v1/callbacks/mtn-momo/${token}`, failedMomo, {}, 'PUT'),
      await post(`/v1/callbacks/mtn-momo/${token}`, failedMomo),
      await post(`/v1/callbacks/gsma/${token}`, gsmaError, { 'x-correlationid': key }, 'PUT'),
      await post(`/v1/callbacks/gsma/${token}`, gsmaError, {}, 'PUT'),
      await post(`/v1/callbacks/mpesa/${token}/status`, darajaResult(key, 1)),
    ];
    expect(misrouted.map((r) => r.status)).toEqual([401, 401, 401, 401, 401]);
    expect(await callbacksOf(id)).toBe(0);

    // The attempt's own URL, a forged "insufficient funds": kept as evidence, answered as usual, nothing released.
    const forged = await post(`/v1/callbacks/mpesa/${token}`, darajaResult(key, 1));
    expect(forged.status).toBe(200);
    const paid = await reaches(id, ['paid', 'failed', 'queued'], 'the payout to settle');
    expect(paid).toMatchObject({ state: 'paid', attempt_count: 1 });
    expect(runtime.simulator!.executions(key)).toBe(1);
    expect(runtime.simulator!.executions(attemptKey(id, 2))).toBe(0);
    await settledWell([id]);
  });

  it('when another payout\'s message is posted under a valid token, then it is kept as an orphan and the real callback still settles its payout', async () => {
    runtime.simulator!.setFaults({ rules: [{ pattern: '^25471100000[23]$', callback: 'lose' }, { pattern: '^.*$', fault: 'none' }], latencyMs: 0 });
    const b = await submit([row('x', '+254711000002'), row('y', '+254711000003')]);
    const [x, y] = [b.id('x'), b.id('y')];
    await net.eventually(async () => (callbackUrls.has(attemptKey(x, 1)) && callbackUrls.has(attemptKey(y, 1)) ? true : null), waitMs, 'both attempts to be sent');
    // Y's token carrying X's message: authentic sender, but about another transaction.
    const orphan = await post(`/v1/callbacks/mpesa/${tokenOf(y)}`, darajaResult(attemptKey(x, 1), 0, 'ORPHAN0001'));
    expect(orphan.status).toBe(200);
    const orphans = await sql<{ n: string }>`SELECT count(*)::text AS n FROM callbacks WHERE payout_id IS NULL AND dedupe_key = ${`${attemptKey(x, 1)}:0`}`.execute(database.db);
    expect(orphans.rows[0]!.n).toBe('1');
    // X's own message on X's own URL is no duplicate of it.
    const real = await post(`/v1/callbacks/mpesa/${tokenOf(x)}`, darajaResult(attemptKey(x, 1), 0, 'REALX00001'));
    expect(real.status).toBe(200);
    expect(await callbacksOf(x)).toBe(1);
    await reaches(x, ['paid'], 'X to be paid by its own callback');
    await reaches(y, ['paid'], 'Y to be paid by its status query');
    await settledWell([x, y]);
  });

  it('when M-Pesa times out in its queue twice in a row, then each timeout is recorded, the payout is flagged for operators, never paid twice, and requeue moves it', async () => {
    runtime.simulator!.setFaults({ rules: [{ pattern: '^254711000004$', fault: 'queue-timeout' }] });
    const b = await submit([row('tt', '+254711000004')]);
    const id = b.id('tt');
    const flagged = await net.eventually(async () => { const p = await payout(id); return p.status_flagged_at ? p : null; }, waitMs, 'the payout to be flagged');
    expect(['unknown', 'submitted']).toContain(flagged.state);
    // The first send and at least one same-key resend each got their own timeout, each stored.
    const timeouts = await sql<{ n: string }>`SELECT count(*)::text AS n FROM callbacks WHERE payout_id = ${id}::uuid AND dedupe_key = ${`${attemptKey(id, 1)}:timeout`}`.execute(database.db);
    expect(Number(timeouts.rows[0]!.n)).toBeGreaterThanOrEqual(2);
    expect(runtime.simulator!.executions(attemptKey(id, 1))).toBe(0);
    expect(flagged.attempt_count).toBe(1);
    const requeued = await requeuePayout({ persistence: runtime.persistence, transport: null, topics: topicNames(''), now: () => new Date() }, id);
    expect(requeued).toEqual({ ok: true, value: 'status_checks_restarted' });
    // M-Pesa runs it now: the next same-key resend is paid, once.
    runtime.simulator!.setFaults({ rules: [] });
    await reaches(id, ['paid'], 'the requeued payout to be paid');
    expect(runtime.simulator!.executions(attemptKey(id, 1))).toBe(1);
    await settledWell([id]);
  });

  it('when a paid callback reports another amount, or a receipt that settled another payout, then the payout is held for finance with the difference, visible in the API and /metrics, and nothing more is paid', async () => {
    runtime.simulator!.setFaults({
      rules: [
        { pattern: '^254711000005$', reportAmount: '999.00' },
        { pattern: '^25471100000[67]$', reportReceipt: 'QAZ1234567' },
      ],
    });
    const b = await submit([row('amount', '+254711000005'), row('r1', '+254711000006'), row('r2', '+254711000007')]);
    const [amount, r1, r2] = [b.id('amount'), b.id('r1'), b.id('r2')];
    await reaches(amount, ['held'], 'the wrong-amount payout to be held');
    const view = (await (await fetch(`${runtime.apiUrl}/v1/payouts/${amount}`, { headers: auth })).json()) as { state: string; exceptions: { kind: string; detail: string }[] };
    expect(view.state).toBe('held');
    expect(view.exceptions).toEqual([expect.objectContaining({ kind: 'amount_mismatch', detail: expect.stringContaining('reported amount 999') })]);
    // One of the two with the same receipt is paid, the other held.
    const states = await net.eventually(async () => {
      const both = [(await payout(r1)).state, (await payout(r2)).state].sort();
      return both.join() === 'held,paid' ? both : null;
    }, waitMs, 'one receipt to settle one payout and hold the other');
    expect(states).toEqual(['held', 'paid']);
    const heldOne = (await payout(r1)).state === 'held' ? r1 : r2;
    const reused = (await (await fetch(`${runtime.apiUrl}/v1/payouts/${heldOne}`, { headers: auth })).json()) as { exceptions: { kind: string }[] };
    expect(reused.exceptions.map((e) => e.kind)).toEqual(['receipt_reused']);
    // Held money stays committed: no paid transfer for them, and the batch is not complete.
    const paidTransfers = await sql<{ n: string }>`SELECT count(*)::text AS n FROM transfers WHERE code = 'payout_paid' AND payout_id = ANY(${[amount, heldOne]}::uuid[])`.execute(database.db);
    expect(paidTransfers.rows[0]!.n).toBe('0');
    const batch = (await (await fetch(`${runtime.apiUrl}/v1/batches/${b.batchId}`, { headers: auth })).json()) as { state: string };
    expect(batch.state).not.toBe('completed');
    expect(runtime.metricsUrl).not.toBeNull();
    const metrics = await (await fetch(runtime.metricsUrl!)).text();
    expect(metrics).toMatch(/tuma_payouts\{state="held"\} [1-9]/);
    await settledWell([amount, r1, r2]);
  });
});

describe('identical GSMA bodies on two attempts, over kafka', () => {
  let database: TestDatabase;
  let runtime: Runtime;
  const dir = mkdtempSync(join(tmpdir(), 'tuma-evidence-'));
  const gsmaUrls = new Map<string, string>();
  const originalGsmaSubmit = GsmaClient.prototype.submit;

  beforeAll(async () => {
    GsmaClient.prototype.submit = function (this: GsmaClient, req: SubmitRequest) {
      gsmaUrls.set(req.idempotencyKey, req.callbackUrl);
      return originalGsmaSubmit.call(this, req);
    };
    database = await createTestDatabase();
    const simulatorPort = await net.freePort();
    const file = join(dir, 'accounts.json');
    writeFileSync(file, JSON.stringify({
      accounts: [{
        id: 'gsma-sl', provider: 'gsma', country: 'SL', currency: 'SLE', baseUrl: `http://127.0.0.1:${simulatorPort}/gsma`,
        consumerKey: { env: 'T_GSMA_KEY' }, consumerSecret: { env: 'T_GSMA_SECRET' }, debitParty: [{ key: 'walletid', value: '1' }],
      }],
    }));
    runtime = await startTestRuntime(await testConfig(database.url, 'kafka', {
      PROVIDERS_FILE: file, SIMULATOR_PORT: String(simulatorPort), T_GSMA_KEY: 'gsma-key', T_GSMA_SECRET: 'gsma-secret',
      STATUS_CHECK_FIRST_AFTER_MS: '60000', STATUS_POLL_INTERVAL_MS: '50',
    }));
  });

  afterAll(async () => {
    GsmaClient.prototype.submit = originalGsmaSubmit;
    await runtime?.stop();
    await database?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('when two attempts get byte-identical failure bodies without X-CorrelationID, then each is its own callback, neither releases money, and each payout is settled by its own status query: paid once', async () => {
    runtime.gsmaSimulator!.setFaults({ rules: [{ pattern: '^\\+?2327600001[12]$', fault: 'lost-callback' }] });
    const s = await setUpProviderProgramme(runtime.persistence, { provider: 'gsma', currency: 'SLE', fundedMinor: 10_000_00n, floatMinor: 100_000_00n });
    const auth = { authorization: `Bearer ${await tokenFor(s.organisationId, ['programme_manager'])}` };
    const document = { ...batchDocument(s, [
      { ref: 'g-1', provider: 'gsma', msisdn: '+23276000011', amount: '10.00' },
      { ref: 'g-2', provider: 'gsma', msisdn: '+23276000012', amount: '10.00' },
    ], { total: '20.00' }), currency: 'SLE' };
    const res = await fetch(`${runtime.apiUrl}/v1/batches`, { method: 'POST', headers: { ...auth, 'content-type': 'application/jose+json' }, body: JSON.stringify(await sign(document, s.maker)) });
    expect(res.status).toBe(201);
    const ids = ['g-1', 'g-2'].map((ref) => payoutIdOf(document.batchId, ref));
    const submitted = async (id: string) => (await sql<{ state: string }>`SELECT state FROM payouts WHERE id = ${id}::uuid`.execute(database.db)).rows[0]!.state;
    for (const id of ids) await net.eventually(async () => (gsmaUrls.has(attemptKey(id, 1)) && (await submitted(id)) === 'submitted' ? true : null), waitMs, 'the attempt to be submitted');

    const body = JSON.stringify({ errorCategory: 'businessRule', errorCode: 'insufficientFunds', errorDescription: 'no float' });
    for (const id of ids) {
      const put = await fetch(gsmaUrls.get(attemptKey(id, 1))!, { method: 'PUT', headers: { 'content-type': 'application/json' }, body });
      expect(put.status).toBe(204);
    }
    const stored = await sql<{ payout_id: string }>`SELECT payout_id FROM callbacks WHERE payout_id = ANY(${ids}::uuid[])`.execute(database.db);
    expect(stored.rows.map((r) => r.payout_id).sort()).toEqual([...ids].sort());
    // The status queries the forged failures made due find both paid at the provider.
    for (const id of ids) await net.eventually(async () => ((await submitted(id)) === 'paid' ? true : null), waitMs, 'the payout to be settled by its status query');
    for (const id of ids) {
      expect(runtime.gsmaSimulator!.executions(attemptKey(id, 1))).toBe(1);
      expect(runtime.gsmaSimulator!.executions(attemptKey(id, 2))).toBe(0);
    }
    const report = await net.eventually(async () => { const r = await verifyLedger(runtime.persistence); return r.ok ? r : null; }, waitMs, 'the ledger to verify');
    expect(report.ok).toBe(true);
  });
});

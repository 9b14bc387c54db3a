// Provider answers other than "paid", end to end through the engine, with the M-Pesa simulator's
// deterministic faults: a confirmed failure releases the money to the programme with the mapped
// reason; an answer held after the money moved leaves the payout `unknown` (never failed, never
// sent again with a new key) for a status query to resolve; a duplicated callback settles once.
// Real PostgreSQL; the real Kafka broker and the in-process transport.
import { sql } from 'kysely';
import type { Runtime } from '../../src/cli/runtime.js';
import { attemptKey, payoutIdOf } from '../../src/domain/ids.js';
import { tokenFor } from '../support/auth.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { batchDocument, kenyanPayout, net, setUpProgramme, sign, type Scenario } from '../support/fixtures.js';
import { startTestRuntime, testConfig, type TransportKind } from '../support/runtime.js';

const settleTimeoutMs = 45_000;

describe.each<TransportKind>(['kafka', 'in-process'])('provider faults over %s', (transport) => {
  let database: TestDatabase;
  let runtime: Runtime;
  let scenario: Scenario;
  let auth: Record<string, string>;

  beforeAll(async () => {
    database = await createTestDatabase();
    // A short provider timeout, so that a held answer is a timeout quickly; a refusal is final here
    // (the retry after a failure that may pass has its own test: payout-retries).
    runtime = await startTestRuntime(await testConfig(database.url, transport, { PROVIDER_TIMEOUT_MS: '1000', PAYOUT_RETRY_REASONS: 'none' }));
    scenario = await setUpProgramme(runtime.persistence, 50_000_00n);
    auth = { authorization: `Bearer ${await tokenFor(scenario.organisationId, ['programme_manager'])}` };
  });

  afterAll(async () => {
    await runtime?.stop();
    await database?.drop();
  });

  it('when the provider refuses one payout, holds the answer of another after paying it, and sends a third callback twice, then each ends as the provider decided, once', async () => {
    runtime.simulator!.setFaults({
      rules: [
        { pattern: '^254733000001$', fault: 'fail', resultCode: 1 },
        { pattern: '^254733000002$', fault: 'timeout-after-accept', holdMs: 60_000, callback: 'lose' },
        { pattern: '^254733000003$', callback: 'duplicate' },
      ],
    });
    const document = batchDocument(scenario, [
      { ...kenyanPayout('f-1', '100.00'), msisdn: '+254733000001' },
      { ...kenyanPayout('f-2', '200.00'), msisdn: '+254733000002' },
      { ...kenyanPayout('f-3', '300.00'), msisdn: '+254733000003' },
    ]);
    const submitted = await fetch(`${runtime.apiUrl}/v1/batches`, { method: 'POST', headers: { ...auth, 'content-type': 'application/jose+json' }, body: JSON.stringify(await sign(document, scenario.maker)) });
    expect(submitted.status).toBe(201);

    const payoutOf = async (ref: string) => (await (await fetch(`${runtime.apiUrl}/v1/payouts/${payoutIdOf(document.batchId, ref)}`, { headers: auth })).json()) as { state: string; failureCode: string | null };
    await net.eventually(async () => {
      const states = await Promise.all(['f-1', 'f-2', 'f-3'].map(async (ref) => (await payoutOf(ref)).state));
      return states.join() === 'failed,unknown,paid' ? states : null;
    }, settleTimeoutMs, 'failed, unknown and paid');
    expect(await payoutOf('f-1')).toMatchObject({ state: 'failed', failureCode: 'insufficient_float:mpesa:1' });

    // Nothing was sent twice, and the held payment was not retried under a new key.
    for (const ref of ['f-1', 'f-2', 'f-3']) expect(runtime.simulator!.executions(attemptKey(payoutIdOf(document.batchId, ref), 1))).toBe(1);
    for (const ref of ['f-1', 'f-2', 'f-3']) expect(runtime.simulator!.executions(attemptKey(payoutIdOf(document.batchId, ref), 2))).toBe(0);

    // The ledger: the refused 100.00 is back with the programme, the paid 300.00 went to the
    // provider once (a duplicate callback moves nothing), the unknown 200.00 is still committed.
    const committed = await sql<{ balance: string }>`
      SELECT (credits_posted - debits_posted)::text AS balance FROM accounts WHERE key = ${`batch:${document.batchId}:committed`}`.execute(database.db);
    expect(committed.rows[0]!.balance).toBe('20000');
    const paidOut = await sql<{ n: string }>`SELECT count(*)::text AS n FROM transfers WHERE batch_id = ${document.batchId} AND code = 'payout_paid'`.execute(database.db);
    expect(paidOut.rows[0]!.n).toBe('1');
    const batch = (await (await fetch(`${runtime.apiUrl}/v1/batches/${document.batchId}`, { headers: auth })).json()) as { state: string };
    expect(batch.state).not.toBe('completed');
  });
});

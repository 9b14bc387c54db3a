// One payout's whole path, end to end: signed batch → stored and sealed → ledger commit →
// relay → dispatch topic → worker → M-Pesa simulator (through the breaker) → callback →
// results topic → settler → ledger settled → GET shows paid. Real PostgreSQL; the Kafka run
// uses the real broker, the in-process run the single-machine transport behind the same port.
import { sql } from 'kysely';
import { encode } from '../../src/application/messages.js';
import type { Delivery } from '../../src/application/ports.js';
import type { Runtime } from '../../src/cli/runtime.js';
import { attemptKey, payoutIdOf } from '../../src/domain/ids.js';
import { tokenFor } from '../support/auth.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { batchDocument, kenyanPayout, net, setUpProgramme, sign, type Scenario } from '../support/fixtures.js';
import { startTestRuntime, testConfig, type TransportKind } from '../support/runtime.js';

const settleTimeoutMs = 45_000;

describe.each<TransportKind>(['kafka', 'in-process'])('walking skeleton over %s', (transport) => {
  let database: TestDatabase;
  let runtime: Runtime;
  let scenario: Scenario;
  let auth: Record<string, string>;

  beforeAll(async () => {
    database = await createTestDatabase();
    runtime = await startTestRuntime(await testConfig(database.url, transport));
    scenario = await setUpProgramme(runtime.persistence, 50_000_00n);
    auth = { authorization: `Bearer ${await tokenFor(scenario.organisationId, ['programme_manager'])}` };
  });

  afterAll(async () => {
    await runtime?.stop();
    await database?.drop();
  });

  it('when a signed batch is submitted, then its payouts are paid once and the ledger settles to the cent', async () => {
    const document = batchDocument(scenario, [kenyanPayout('p-1', '1250.00'), { ...kenyanPayout('p-2', '99.00'), msisdn: '+254722000111' }]);
    const jws = await sign(document, scenario.maker);
    const submitted = await fetch(`${runtime.apiUrl}/v1/batches`, { method: 'POST', headers: { ...auth, 'content-type': 'application/jose+json' }, body: JSON.stringify(jws) });
    expect(submitted.status).toBe(201);
    expect(await submitted.json()).toMatchObject({ batchId: document.batchId, state: 'approved', currency: 'KES', payoutCount: 2, total: '1349.00', approvals: { required: 0, received: 0 } });

    const batch = await net.eventually(async () => {
      const res = await fetch(`${runtime.apiUrl}/v1/batches/${document.batchId}`, { headers: auth });
      const body = (await res.json()) as { state: string };
      return body.state === 'completed' ? body : null;
    }, settleTimeoutMs, 'the batch to complete');
    expect(batch).toMatchObject({ state: 'completed', payouts: { paid: { count: 2, amount: '1349.00' } } });

    const payoutId = payoutIdOf(document.batchId, 'p-1');
    const payout = (await (await fetch(`${runtime.apiUrl}/v1/payouts/${payoutId}`, { headers: auth })).json()) as Record<string, unknown>;
    expect(payout).toMatchObject({ payoutId, state: 'paid', amount: '1250.00', currency: 'KES', attempts: 1 });
    expect(payout.providerReference).toEqual(expect.stringMatching(/^[0-9A-F]{10}$/));
    expect(JSON.stringify(payout)).not.toContain('254712345678');

    // Each provider idempotency key executed exactly once at the provider.
    for (const ref of ['p-1', 'p-2']) expect(runtime.simulator!.executions(attemptKey(payoutIdOf(document.batchId, ref), 1))).toBe(1);

    // The ledger: balanced, the batch account back to zero, the money moved where it belongs.
    const balances = await sql<{ key: string; debits: string; credits: string }>`
      SELECT key, debits_posted::text AS debits, credits_posted::text AS credits FROM accounts WHERE currency = 'KES'`.execute(database.db);
    const account = (key: string) => balances.rows.find((r) => r.key === key)!;
    const totalDebits = balances.rows.reduce((t, r) => t + BigInt(r.debits), 0n);
    const totalCredits = balances.rows.reduce((t, r) => t + BigInt(r.credits), 0n);
    expect(totalDebits).toBe(totalCredits);
    expect(account(`batch:${document.batchId}:committed`)).toMatchObject({ debits: '134900', credits: '134900' });
    expect(BigInt(account(`programme:${scenario.programmeId}:available`).credits) - BigInt(account(`programme:${scenario.programmeId}:available`).debits)).toBe(50_000_00n - 134900n);
    const transfers = await sql<{ code: string; n: string }>`
      SELECT code, count(*)::text AS n FROM transfers WHERE batch_id = ${document.batchId} GROUP BY code ORDER BY code`.execute(database.db);
    expect(transfers.rows).toEqual([{ code: 'batch_commit', n: '1' }, { code: 'payout_paid', n: '2' }]);

    // Beneficiary data is nowhere in clear at rest.
    const clear = await sql<{ n: string }>`
      SELECT count(*)::text AS n FROM payouts p JOIN batches b ON b.id = p.batch_id
      WHERE position(convert_to('254712345678', 'UTF8') IN p.msisdn_enc) > 0
         OR position(convert_to('254712345678', 'UTF8') IN b.payload_enc) > 0
         OR position(convert_to('Amina', 'UTF8') IN b.payload_enc) > 0`.execute(database.db);
    expect(clear.rows[0]!.n).toBe('0');
    const callbacks = await sql<{ n: string }>`
      SELECT count(*)::text AS n FROM callbacks WHERE position(convert_to('Result', 'UTF8') IN raw_body_enc) > 0`.execute(database.db);
    expect(callbacks.rows[0]!.n).toBe('0');
  });

  it('when the same signed batch is submitted again, then it is answered from the store and nothing moves twice', async () => {
    const document = batchDocument(scenario, [kenyanPayout('r-1', '10.00')]);
    const body = JSON.stringify(await sign(document, scenario.maker));
    const post = () => fetch(`${runtime.apiUrl}/v1/batches`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body });
    expect((await post()).status).toBe(201);
    const replay = await post();
    expect(replay.status).toBe(200);
    expect(await replay.json()).toMatchObject({ batchId: document.batchId, payoutCount: 1, total: '10.00' });
    await net.eventually(async () => {
      const res = await fetch(`${runtime.apiUrl}/v1/batches/${document.batchId}`, { headers: auth });
      return ((await res.json()) as { state: string }).state === 'completed';
    }, settleTimeoutMs, 'the replayed batch to complete');
    const commits = await sql<{ n: string }>`SELECT count(*)::text AS n FROM transfers WHERE batch_id = ${document.batchId} AND code = 'batch_commit'`.execute(database.db);
    expect(commits.rows[0]!.n).toBe('1');
    expect(runtime.simulator!.executions(attemptKey(payoutIdOf(document.batchId, 'r-1'), 1))).toBe(1);
  });

  it('when a poisoned and a duplicate dispatch message arrive, then the poison goes to the DLQ and the duplicate pays nobody twice', async () => {
    const document = batchDocument(scenario, [kenyanPayout('d-1', '20.00')]);
    const payoutId = payoutIdOf(document.batchId, 'd-1');
    await fetch(`${runtime.apiUrl}/v1/batches`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify(await sign(document, scenario.maker)) });
    await net.eventually(async () => {
      const res = await fetch(`${runtime.apiUrl}/v1/payouts/${payoutId}`, { headers: auth });
      return ((await res.json()) as { state: string }).state === 'paid';
    }, settleTimeoutMs, 'the payout to be paid');

    const dead: Delivery[] = [];
    const dlq = await runtime.transport.subscribe({ topic: runtime.topics.dlq, groupId: `dlq-reader-${document.batchId}`, concurrency: 1, handle: async (d) => void dead.push(d) });
    try {
      await runtime.transport.publish(runtime.topics.dispatch('mpesa'), [
        { key: 'poison', value: Buffer.from('{"type":"tuma.payout.dispatch","version":1,"payoutId":"not-a-uuid"') },
        { key: payoutId, value: encode({ type: 'tuma.payout.dispatch', version: 1, payoutId, batchId: document.batchId, provider: 'mpesa' }) },
      ]);
      const poisoned = await net.eventually(async () => dead.find((d) => d.key === 'poison'), settleTimeoutMs, 'the poisoned message in the DLQ');
      expect(JSON.parse(poisoned.value.toString('utf8'))).toMatchObject({ type: 'tuma.dlq', reason: 'malformed dispatch message' });
    } finally {
      await dlq.stop();
    }
    // Give the duplicate time to be handled, then prove it changed nothing.
    await new Promise((r) => setTimeout(r, 500));
    const payout = (await (await fetch(`${runtime.apiUrl}/v1/payouts/${payoutId}`, { headers: auth })).json()) as { state: string; attempts: number };
    expect(payout).toMatchObject({ state: 'paid', attempts: 1 });
    expect(runtime.simulator!.executions(attemptKey(payoutId, 1))).toBe(1);
    expect(runtime.simulator!.executions(attemptKey(payoutId, 2))).toBe(0);
  });

  it('when /readyz is asked, then the database and the transport are reachable', async () => {
    const res = await fetch(`${runtime.apiUrl}/readyz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ready', checks: { database: true, transport: true } });
  });
});

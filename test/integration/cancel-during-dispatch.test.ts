// A batch cancelled while the worker is starting its payouts a chunk at a time. Each payout ends
// paid or cancelled, never both; a cancelled one was never sent; each key is executed at most once;
// the programme gets back exactly what was not paid; the ledger verifies. Real PostgreSQL, the
// in-process transport, the M-Pesa simulator answering slowly enough that the cancellation lands
// mid-dispatch. (The cancellation and the worker's chunks each lock many payouts, both in id order
// so that they cannot deadlock; the window for one is a few milliseconds, and this test is not
// built to hit it: with the cancellation's order reversed, it still passed three runs out of three.)
import { sql } from 'kysely';
import { pino } from 'pino';
import { verifyLedger } from '../../src/application/ledger-chain.js';
import { startRuntime, roles, type Runtime } from '../../src/cli/runtime.js';
import { attemptKey, payoutIdOf } from '../../src/domain/ids.js';
import { tokenFor } from '../support/auth.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { batchDocument, net, setUpProgramme, sign, type Scenario } from '../support/fixtures.js';
import { testConfig } from '../support/runtime.js';

const payouts = 300;
const waitMs = 60_000;
const fundedMinor = 1_000_000_00n;

describe('a batch cancelled mid-dispatch (in-process, M-Pesa simulator)', () => {
  let database: TestDatabase;
  let runtime: Runtime;
  let scenario: Scenario;

  beforeAll(async () => {
    database = await createTestDatabase();
    const config = await testConfig(database.url, 'in-process');
    runtime = await startRuntime(config, new Set(roles), pino({ level: 'silent' }));
    scenario = await setUpProgramme(runtime.persistence, fundedMinor);
    await sql`UPDATE programmes SET approvals_required = 0 WHERE id = ${scenario.programmeId}`.execute(database.db);
  });

  afterAll(async () => {
    await runtime?.stop();
    await database?.drop();
  });

  const statesOf = async (batchId: string) =>
    Object.fromEntries((await sql<{ state: string; n: string }>`SELECT state, count(*)::text AS n FROM payouts WHERE batch_id = ${batchId}::uuid GROUP BY state`.execute(database.db)).rows.map((r) => [r.state, Number(r.n)]));

  it('when cancelled while payouts are being started, then the cancel answers 200 and each payout ends paid or cancelled, once, to the cent', async () => {
    runtime.simulator!.setFaults({ latencyMs: 40 });
    const refs = Array.from({ length: payouts }, (_, i) => `cd-${i}`);
    const document = batchDocument(
      scenario,
      refs.map((ref, i) => ({ ref, provider: 'mpesa', msisdn: `+2547230${String(10000 + i)}`, amount: '10.00', name: `Person ${i}` })),
    );
    const maker = { authorization: `Bearer ${await tokenFor(scenario.organisationId, ['programme_manager'])}` };
    const res = await fetch(`${runtime.apiUrl}/v1/batches`, { method: 'POST', headers: { ...maker, 'content-type': 'application/jose+json' }, body: JSON.stringify(await sign(document, scenario.maker)) });
    expect(res.status).toBe(201);

    // Some payouts are with the provider, most are not yet: cancel now.
    await net.eventually(async () => (((await statesOf(document.batchId)).paid ?? 0) + ((await statesOf(document.batchId)).submitted ?? 0) >= 10 ? true : null), waitMs, 'the first payouts sent');
    const cancelled = await fetch(`${runtime.apiUrl}/v1/batches/${document.batchId}/cancel`, { method: 'POST', headers: maker });
    expect(cancelled.status).toBe(200);

    const settled = (s: Record<string, number>) => (s.paid ?? 0) + (s.cancelled ?? 0) === payouts;
    await net.eventually(async () => (settled(await statesOf(document.batchId)) ? true : null), waitMs, 'every payout paid or cancelled');
    const states = await statesOf(document.batchId);
    expect(states.cancelled).toBeGreaterThan(0);
    expect(states.paid).toBeGreaterThan(0);

    // Paid or cancelled, never both; a cancelled payout was never attempted, a paid one once.
    const cancelledIds = (await sql<{ id: string }>`SELECT id FROM payouts WHERE batch_id = ${document.batchId}::uuid AND state = 'cancelled'`.execute(database.db)).rows.map((r) => r.id);
    const attemptsOfCancelled = await sql<{ n: string }>`SELECT count(*)::text AS n FROM payout_attempts WHERE payout_id = ANY(${cancelledIds}::uuid[])`.execute(database.db);
    expect(attemptsOfCancelled.rows[0]!.n).toBe('0');
    for (const ref of refs) {
      const id = payoutIdOf(document.batchId, ref);
      expect(runtime.simulator!.executions(attemptKey(id, 1))).toBe(cancelledIds.includes(id) ? 0 : 1);
    }

    // The programme has back exactly what was not paid.
    const available = await sql<{ b: string }>`SELECT (credits_posted - debits_posted)::text AS b FROM accounts WHERE key = ${`programme:${scenario.programmeId}:available`}`.execute(database.db);
    expect(BigInt(available.rows[0]!.b)).toBe(fundedMinor - BigInt(states.paid!) * 10_00n);
    await net.eventually(async () => ((await verifyLedger(runtime.persistence)).ok ? true : null), waitMs, 'the ledger verified');
  }, 120_000);
});

// The default single-process run (the in-process transport) restarted mid-batch: what its memory
// held — the dispatch messages of queued payouts, results published but not settled — is the
// relay's work again at the next start, so every payout is paid once and settled once. Real
// PostgreSQL and the M-Pesa simulator; the process is "restarted" by stopping the runtime and
// starting another on the same database and configuration.
import { sql } from 'kysely';
import { pino } from 'pino';
import { verifyLedger } from '../../src/application/ledger-chain.js';
import { roles, startRuntime, type Role, type Runtime } from '../../src/cli/runtime.js';
import type { Config } from '../../src/config/config.js';
import { attemptKey, payoutIdOf } from '../../src/domain/ids.js';
import { tokenFor } from '../support/auth.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { batchDocument, kenyanPayout, net, setUpProgramme, sign, type Scenario } from '../support/fixtures.js';
import { testConfig } from '../support/runtime.js';

const waitMs = 45_000;

describe('the in-process run restarted mid-batch', () => {
  let database: TestDatabase;
  let config: Config;
  let runtime: Runtime | null = null;
  let s: Scenario;

  beforeAll(async () => {
    database = await createTestDatabase();
    config = await testConfig(database.url, 'in-process');
  });

  afterAll(async () => {
    await runtime?.stop();
    await database?.drop();
  });

  const start = async (without: Role | null) => {
    runtime = await startRuntime(config, new Set(roles.filter((r) => r !== without)), pino({ level: 'silent' }));
    return runtime;
  };
  const stop = async () => {
    await runtime?.stop();
    runtime = null;
  };
  const states = async (batchId: string) =>
    (await sql<{ state: string }>`SELECT state FROM payouts WHERE batch_id = ${batchId}::uuid ORDER BY row_no`.execute(database.db)).rows.map((r) => r.state);

  async function submit(r: Runtime, refs: readonly string[], msisdnPrefix: string): Promise<string> {
    s ??= await setUpProgramme(r.persistence, 50_000_00n);
    const auth = { authorization: `Bearer ${await tokenFor(s.organisationId, ['programme_manager'])}` };
    const document = batchDocument(s, refs.map((ref, i) => ({ ...kenyanPayout(ref, '100.00'), msisdn: `+${msisdnPrefix}${i}` })));
    const res = await fetch(`${r.apiUrl}/v1/batches`, { method: 'POST', headers: { ...auth, 'content-type': 'application/jose+json' }, body: JSON.stringify(await sign(document, s.maker)) });
    expect(res.status).toBe(201);
    return document.batchId;
  }

  it('when it stops with payouts queued (their dispatch messages only in memory), then the next start publishes them again and each is paid once', async () => {
    // No worker: the relay queues the payouts, and their messages wait in this process's memory.
    const first = await start('worker');
    const refs = ['q-0', 'q-1', 'q-2'];
    const batchId = await submit(first, refs, '25471155000');
    await net.eventually(async () => ((await states(batchId)).every((st) => st === 'queued') ? true : null), waitMs, 'every payout queued');
    await stop();

    const second = await start(null);
    await net.eventually(async () => ((await states(batchId)).every((st) => st === 'paid') ? true : null), waitMs, 'every payout paid after the restart');
    for (const ref of refs) expect(second.simulator!.executions(attemptKey(payoutIdOf(batchId, ref), 1))).toBe(1);
    const attempts = await sql<{ n: number }>`SELECT count(*)::int AS n FROM payout_attempts a JOIN payouts p ON p.id = a.payout_id WHERE p.batch_id = ${batchId}::uuid`.execute(database.db);
    expect(attempts.rows[0]!.n).toBe(refs.length);
    expect((await verifyLedger(second.persistence)).ok).toBe(true);
    await stop();
  });

  it('when it stops with results published but not settled, then the next start publishes them again and each payout is settled once, without calling the provider again', async () => {
    // No settler: the results reach the outbox and are published into this process's memory.
    const first = await start('settler');
    const refs = ['r-0', 'r-1'];
    const batchId = await submit(first, refs, '25471156000');
    await net.eventually(async () => {
      const r = await sql<{ n: number }>`SELECT count(*)::int AS n FROM payout_results WHERE batch_id = ${batchId}::uuid AND published_at IS NOT NULL`.execute(database.db);
      return r.rows[0]!.n === refs.length;
    }, waitMs, 'every result published');
    for (const ref of refs) expect(first.simulator!.executions(attemptKey(payoutIdOf(batchId, ref), 1))).toBe(1);
    await stop();

    const second = await start(null);
    await net.eventually(async () => ((await states(batchId)).every((st) => st === 'paid') ? true : null), waitMs, 'every payout settled after the restart');
    for (const ref of refs) expect(second.simulator!.executions(attemptKey(payoutIdOf(batchId, ref), 1))).toBe(0);
    const paid = await sql<{ n: number }>`SELECT count(*)::int AS n FROM transfers WHERE batch_id = ${batchId}::uuid AND code = 'payout_paid'`.execute(database.db);
    expect(paid.rows[0]!.n).toBe(refs.length);
    expect((await sql<{ state: string }>`SELECT state FROM batches WHERE id = ${batchId}::uuid`.execute(database.db)).rows[0]!.state).toBe('completed');
    expect((await verifyLedger(second.persistence)).ok).toBe(true);
    await stop();
  });
});

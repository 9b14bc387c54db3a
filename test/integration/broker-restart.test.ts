// The Kafka broker restarted in the middle of a run (issue #6 item 8): a dedicated single-node
// broker (its own port and data, so the other suites' broker is untouched) is stopped while a
// batch is being paid and started again. Every payout ends paid, each provider key was executed
// at most once at the simulator, and the ledger verifies.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import path from 'node:path';
import { verifyLedger } from '../../src/application/ledger-chain.js';
import type { Runtime } from '../../src/cli/runtime.js';
import { attemptKey, payoutIdOf } from '../../src/domain/ids.js';
import { tokenFor } from '../support/auth.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { batchDocument, kenyanPayout, net, setUpProgramme, sign } from '../support/fixtures.js';
import { startTestRuntime, testConfig } from '../support/runtime.js';

const run = promisify(execFile);
const kafkaScript = path.resolve('scripts/kafka.sh');
const payouts = 60;
const settleTimeoutMs = 150_000;

describe('the Kafka broker restarted mid-run', () => {
  let database: TestDatabase;
  let runtime: Runtime;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    const port = await net.freePort();
    const controller = await net.freePort();
    env = { ...process.env, KAFKA_PORT: String(port), KAFKA_CONTROLLER_PORT: String(controller) };
    await run(kafkaScript, ['start'], { env, timeout: 150_000 });
    database = await createTestDatabase();
    // Few workers and slow answers below: the batch takes long enough for the restart to land in it.
    runtime = await startTestRuntime(await testConfig(database.url, 'kafka', { KAFKA_BROKERS: `127.0.0.1:${port}`, WORKER_CONCURRENCY_MAX: '4' }));
  }, 180_000);

  afterAll(async () => {
    await runtime?.stop();
    await database?.drop();
    if (env) await run(kafkaScript, ['stop'], { env, timeout: 60_000 }).catch(() => undefined);
  }, 120_000);

  it('when the broker goes away and comes back while a batch is paid, then every payout is paid once and the ledger verifies', async () => {
    // Slow answers, so that the restart lands in the middle of the batch.
    runtime.simulator!.setFaults({ latencyMs: 500, rules: [] });
    const s = await setUpProgramme(runtime.persistence, 1_000_000_00n);
    const auth = { authorization: `Bearer ${await tokenFor(s.organisationId, ['programme_manager'])}` };
    const rows = Array.from({ length: payouts }, (_, i) => ({ ...kenyanPayout(`k-${i}`, '10.00'), msisdn: `+2547110${String(i).padStart(5, '0')}` }));
    const document = batchDocument(s, rows);
    const res = await fetch(`${runtime.apiUrl}/v1/batches`, { method: 'POST', headers: { ...auth, 'content-type': 'application/jose+json' }, body: JSON.stringify(await sign(document, s.maker)) });
    expect(res.status).toBe(201);

    // Some paid, not all: then the broker stops, and starts again a few seconds later.
    const paidCount = async () => {
      const body = (await (await fetch(`${runtime.apiUrl}/v1/batches/${document.batchId}`, { headers: auth })).json()) as { payouts: { paid?: { count: number } } };
      return body.payouts.paid?.count ?? 0;
    };
    await net.eventually(async () => ((await paidCount()) > 0 ? true : null), settleTimeoutMs, 'the first payouts to be paid');
    await run(kafkaScript, ['stop'], { env, timeout: 60_000 });
    expect(await paidCount()).toBeLessThan(payouts);
    await new Promise((r) => setTimeout(r, 2_000));
    await run(kafkaScript, ['start'], { env, timeout: 150_000 });

    const batch = await net.eventually(async () => {
      const body = (await (await fetch(`${runtime.apiUrl}/v1/batches/${document.batchId}`, { headers: auth })).json()) as { state: string };
      return body.state === 'completed' ? body : null;
    }, settleTimeoutMs, 'the batch to complete after the restart');
    expect(batch).toMatchObject({ state: 'completed', payouts: { paid: { count: payouts, amount: `${payouts * 10}.00` } } });
    for (const row of rows) {
      const payoutId = payoutIdOf(document.batchId, row.ref);
      // However many attempts the restart caused, no key ran twice at the provider.
      for (let attempt = 1; attempt <= 3; attempt++) expect(runtime.simulator!.executions(attemptKey(payoutId, attempt))).toBeLessThanOrEqual(1);
    }
    const report = await verifyLedger(runtime.persistence);
    expect(report.ok).toBe(true);
  }, 300_000);
});

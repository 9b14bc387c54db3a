// A role's process killed with SIGKILL in the middle of its work and started again (issue #6
// item 8), with the real Kafka broker and the M-Pesa simulator. The role under test runs as a
// process of its own (`node <build>/src/main.js worker|settler`, built from src/ here); every
// other role runs in this process with the same configuration. In the end every payout is paid,
// once: one execution at the simulator, one move into paid, one settling transfer; the batch
// completes and the ledger verifies.
//
// Where the kill lands is not left to timing: the worker reaches M-Pesa through a link this test
// controls, which holds the calls of the worker's window; the settler is killed while its chunk's
// transaction waits on a ledger account row this test holds locked.
//
// A killed consumer never leaves its Kafka group: the coordinator notices after the session
// timeout (30 s). Here the test tells the coordinator at once (evictGroupMembers), so the
// restarted role gets the partitions without that wait.
import { randomBytes } from 'node:crypto';
import http, { type ServerResponse } from 'node:http';
import { sql } from 'kysely';
import pg from 'pg';
import { pino } from 'pino';
import { verifyLedger } from '../../src/application/ledger-chain.js';
import { roles, startRuntime, type Role, type Runtime } from '../../src/cli/runtime.js';
import { loadConfig } from '../../src/config/config.js';
import { attemptKey, payoutIdOf } from '../../src/domain/ids.js';
import { accounts } from '../../src/domain/ledger-rules.js';
import { testAuthEnv, tokenFor } from '../support/auth.js';
import { createTestDatabase, kafkaBrokers, type TestDatabase } from '../support/database.js';
import { batchDocument, kenyanPayout, net, setUpProgramme, sign } from '../support/fixtures.js';
import { buildTuma, evictGroupMembers, killRoles, startRole, type RoleProcess, type TumaBuild } from '../support/role-process.js';

const buildTimeoutMs = 180_000;
const roleReadyTimeoutMs = 30_000;
const settleTimeoutMs = 40_000;
const testTimeoutMs = 90_000;

let build: TumaBuild;
beforeAll(async () => {
  build = await buildTuma(buildTimeoutMs);
}, buildTimeoutMs + 10_000);
afterAll(() => build?.remove());

/**
 * The variables of test/support/runtime.ts testConfig, as variables: this process and the role
 * processes share them (master key, database, topic prefix, API and simulator ports).
 */
async function sharedEnv(databaseUrl: string, extra: Record<string, string>): Promise<Record<string, string>> {
  const simulatorPort = await net.freePort();
  return {
    TUMA_DEV_MODE: 'true',
    TUMA_MASTER_KEY: randomBytes(32).toString('base64'),
    // A role process says when it runs at info (startRole waits for it); this process logs as the other tests do.
    LOG_LEVEL: 'info',
    DATABASE_URL: databaseUrl,
    DATABASE_POOL_MAX: '10',
    HTTP_PORT: String(await net.freePort()),
    SIMULATOR_PORT: String(simulatorPort),
    MPESA_BASE_URL: `http://127.0.0.1:${simulatorPort}`,
    SIMULATOR_CALLBACK_DELAY_MS: '10',
    METRICS_PORT: '0',
    RELAY_POLL_INTERVAL_MS: '50',
    LEDGER_CHAIN_INTERVAL_MS: '50',
    ...testAuthEnv,
    KAFKA_BROKERS: kafkaBrokers(),
    KAFKA_TOPIC_PREFIX: `t${randomBytes(4).toString('hex')}.`,
    // Dev mode seeds a demo organisation in every process it starts; its maker key file goes here.
    EMBEDDED_DATA_DIR: build.dataDir,
    // One partition per topic: a batch's dispatch messages are one sequence, in hand a window at a time.
    KAFKA_TOPIC_PARTITIONS: '1',
    ...extra,
  };
}

/** Every role but `role`, in this process. */
async function startOthers(env: Record<string, string>, role: Role): Promise<Runtime> {
  const config = loadConfig({ ...env, LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent' });
  return startRuntime(config, new Set(roles.filter((r) => r !== role)), pino({ level: config.logLevel }));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function statesOf(database: TestDatabase, batchId: string): Promise<Record<string, number>> {
  const r = await sql<{ state: string; n: number }>`SELECT state, count(*)::int AS n FROM payouts WHERE batch_id = ${batchId}::uuid GROUP BY state`.execute(database.db);
  return Object.fromEntries(r.rows.map((row) => [row.state, row.n]));
}

interface Submitted {
  readonly organisationId: string;
  readonly batchId: string;
  readonly payoutIds: readonly string[];
  readonly auth: Record<string, string>;
}

async function submitBatch(runtime: Runtime, payouts: number): Promise<Submitted> {
  const s = await setUpProgramme(runtime.persistence, 1_000_000_00n);
  const auth = { authorization: `Bearer ${await tokenFor(s.organisationId, ['programme_manager'])}` };
  const rows = Array.from({ length: payouts }, (_, i) => ({ ...kenyanPayout(`k-${i}`, '10.00'), msisdn: `+2547120${String(i).padStart(5, '0')}` }));
  const document = batchDocument(s, rows);
  const res = await fetch(`${runtime.apiUrl}/v1/batches`, { method: 'POST', headers: { ...auth, 'content-type': 'application/jose+json' }, body: JSON.stringify(await sign(document, s.maker)) });
  expect([res.status, res.status === 201 ? null : await res.text()]).toEqual([201, null]);
  return { organisationId: s.organisationId, batchId: document.batchId, payoutIds: rows.map((r) => payoutIdOf(document.batchId, r.ref)), auth };
}

/** Waits for the batch to complete (the role under test restarted), then checks that every payout was paid exactly once. */
async function expectPaidOnce(database: TestDatabase, runtime: Runtime, submitted: Submitted, payouts: number, context: () => string): Promise<void> {
  const { batchId, payoutIds, auth } = submitted;
  await net
    .eventually(async () => {
      const r = await sql<{ state: string }>`SELECT state FROM batches WHERE id = ${batchId}::uuid`.execute(database.db);
      return r.rows[0]?.state === 'completed';
    }, settleTimeoutMs, 'the batch to complete after the restart')
    .catch(async (error: Error) => {
      throw new Error(`${error.message}; payouts: ${JSON.stringify(await statesOf(database, batchId))}\n${context()}`);
    });
  expect(await statesOf(database, batchId)).toEqual({ paid: payouts });
  const batch = (await (await fetch(`${runtime.apiUrl}/v1/batches/${batchId}`, { headers: auth })).json()) as unknown;
  expect(batch).toMatchObject({ state: 'completed', payouts: { paid: { count: payouts, amount: `${payouts * 10}.00` } } });

  // Paid once at the provider: no key ran twice, and one of each payout's keys ran.
  const attempts = await sql<{ payout_id: string; idempotency_key: string }>`
    SELECT a.payout_id, a.idempotency_key FROM payout_attempts a JOIN payouts p ON p.id = a.payout_id WHERE p.batch_id = ${batchId}::uuid`.execute(database.db);
  const executed = new Map<string, number>();
  for (const a of attempts.rows) {
    const n = runtime.simulator!.executions(a.idempotency_key);
    expect(n).toBeLessThanOrEqual(1);
    executed.set(a.payout_id, (executed.get(a.payout_id) ?? 0) + n);
  }
  expect(payoutIds.filter((id) => executed.get(id) !== 1)).toEqual([]);
  // Settled once: one move into paid, one settling transfer per payout.
  const moves = await sql<{ payout_id: string; n: number }>`
    SELECT t.payout_id, count(*)::int AS n FROM payout_transitions t JOIN payouts p ON p.id = t.payout_id
    WHERE p.batch_id = ${batchId}::uuid AND t.to_state = 'paid' GROUP BY t.payout_id`.execute(database.db);
  expect(moves.rows.length).toBe(payouts);
  expect(moves.rows.filter((r) => r.n !== 1)).toEqual([]);
  const transfers = await sql<{ code: string; n: number }>`SELECT code, count(*)::int AS n FROM transfers WHERE batch_id = ${batchId}::uuid AND payout_id IS NOT NULL GROUP BY code`.execute(database.db);
  expect(transfers.rows).toEqual([{ code: 'payout_paid', n: payouts }]);
  const report = await verifyLedger(runtime.persistence);
  expect(report.ok).toBe(true);
}

/**
 * The network between a worker and M-Pesa, under the test's control: payment requests pass until
 * `passing` have gone, then either each runs at the simulator and its answer is held back
 * ('answers': the worker waits, the money moved), or none reaches the simulator ('requests': the
 * worker waits, nothing moved). Token and status requests always pass.
 */
interface ProviderLink {
  readonly url: string;
  holdAfter(passing: number, what: 'answers' | 'requests'): void;
  /** Payment requests held so far (their answers, or themselves). */
  held(): number;
  /** Everything passes again; what is held is dropped. */
  release(): void;
  close(): Promise<void>;
}

async function providerLink(target: string): Promise<ProviderLink> {
  let passing = Number.POSITIVE_INFINITY;
  let holding: 'answers' | 'requests' = 'answers';
  const held = new Set<ServerResponse>();
  let heldCount = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const payment = req.url?.startsWith('/mpesa/b2c/') === true;
      const hold = payment && passing <= 0 ? holding : null;
      if (payment && passing > 0) passing -= 1;
      const keep = () => {
        heldCount += 1;
        held.add(res);
      };
      if (hold === 'requests') return keep();
      const headers: Record<string, string> = {};
      for (const name of ['authorization', 'content-type']) if (typeof req.headers[name] === 'string') headers[name] = req.headers[name];
      fetch(`${target}${req.url ?? '/'}`, { method: req.method ?? 'GET', headers, ...(chunks.length > 0 ? { body: Buffer.concat(chunks) } : {}) })
        .then(async (answer) => {
          const body = Buffer.from(await answer.arrayBuffer());
          if (hold === 'answers') return keep();
          res.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'application/json' }).end(body);
        })
        .catch(() => res.writeHead(502).end());
    });
  });
  const port = await net.freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const release = () => {
    passing = Number.POSITIVE_INFINITY;
    for (const res of held) res.destroy();
    held.clear();
  };
  return {
    url: `http://127.0.0.1:${port}`,
    holdAfter(n, what) {
      passing = n;
      holding = what;
      heldCount = 0;
    },
    held: () => heldCount,
    release,
    close: () => {
      release();
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('a worker process killed with SIGKILL mid-chunk and started again', () => {
  // One partition, so the worker holds one window of `window` dispatch messages (its chunk) in
  // hand at once: the first `passing` payments go through, the next `window` are held at the
  // link, and with every message of the window waiting there the worker is killed.
  const payouts = 24;
  const window = 6;
  const passing = 12;

  let database: TestDatabase;
  let runtime: Runtime;
  let link: ProviderLink;
  let env: Record<string, string>;
  const workers: RoleProcess[] = [];
  const workerGroups = () => [`${env.KAFKA_TOPIC_PREFIX}tuma-worker-mpesa`, `${env.KAFKA_TOPIC_PREFIX}tuma-worker-mtn-momo`];

  beforeAll(async () => {
    database = await createTestDatabase();
    env = await sharedEnv(database.url, {
      WORKER_PARTITION_WINDOW: String(window),
      PROVIDER_TIMEOUT_MS: '5000',
      // A payout in submitting with no answer recorded for this long was stranded by its worker.
      STATUS_SUBMITTING_STALE_AFTER_MS: '5500',
      // Later than the result callbacks below, unless they are lost.
      STATUS_CHECK_FIRST_AFTER_MS: '3000',
      STATUS_CHECK_BACKOFF_MAX_MS: '3000',
      STATUS_POLL_INTERVAL_MS: '200',
    });
    runtime = await startOthers(env, 'worker');
    // The worker processes reach M-Pesa through the link; this process's simulator is behind it.
    link = await providerLink(runtime.simulatorUrl!);
    env = { ...env, MPESA_BASE_URL: link.url };
  }, 60_000);

  afterAll(async () => {
    await killRoles(workers);
    await link?.close();
    await runtime?.stop();
    await database?.drop();
  }, 60_000);

  /** Starts a worker, pays a batch through it, and kills it while its window's calls are held at the link. */
  async function killMidWindow(hold: 'answers' | 'requests'): Promise<{ submitted: Submitted; atKill: Record<string, number> }> {
    link.holdAfter(passing, hold);
    workers.push(await startRole(build, 'worker', env, roleReadyTimeoutMs));
    const submitted = await submitBatch(runtime, payouts);
    await net
      .eventually(async () => link.held() === window, 30_000, `the worker's window of ${window} calls held at the link`)
      .catch((error: Error) => {
        throw new Error(`${error.message} (${link.held()} held)\n${workers.at(-1)!.output()}`);
      });
    const worker = workers.at(-1)!;
    worker.kill();
    expect(await worker.exited).toMatchObject({ signal: 'SIGKILL' });
    link.release();
    const atKill = await statesOf(database, submitted.batchId);
    // Some payouts past queued, not all: the ones paid before the window, and the window itself, cut off in submitting.
    expect(payouts - (atKill.queued ?? 0) - (atKill.accepted ?? 0)).toBe(passing + window);
    expect(atKill.submitting).toBe(window);
    // The dead worker's groups (one per provider) hand its partitions to the next one.
    expect(await evictGroupMembers(kafkaBrokers().split(','), workerGroups())).toBeGreaterThanOrEqual(1);
    workers.push(await startRole(build, 'worker', env, roleReadyTimeoutMs));
    return { submitted, atKill };
  }

  // Each test starts with no worker and nothing held.
  afterEach(async () => {
    await killRoles(workers);
    link.release();
    await evictGroupMembers(kafkaBrokers().split(','), workerGroups());
  }, 30_000);

  it('when the worker is killed while its calls wait for M-Pesa\'s answers (the payments ran) and a new one starts, then the result callbacks settle the interrupted attempts: every payout is paid once and the ledger verifies', async () => {
    // The result callbacks come after the kill: the interrupted attempts are still in submitting then.
    runtime.simulator!.setFaults({ rules: [{ pattern: '.*', callbackDelayMs: 1_500 }] });
    const { submitted, atKill } = await killMidWindow('answers');
    await expectPaidOnce(database, runtime, submitted, payouts, () => `states at the kill: ${JSON.stringify(atKill)}\nrestarted worker:\n${workers.at(-1)!.output()}`);
    // The interrupted attempts, and only they, were settled straight from submitting.
    const fromSubmitting = await sql<{ n: number }>`
      SELECT count(DISTINCT t.payout_id)::int AS n FROM payout_transitions t JOIN payouts p ON p.id = t.payout_id
      WHERE p.batch_id = ${submitted.batchId}::uuid AND t.from_state = 'submitting' AND t.to_state = 'paid'`.execute(database.db);
    expect(fromSubmitting.rows[0]!.n).toBe(window);
    expect(workers.at(-1)!.running()).toBe(true);
  }, testTimeoutMs);

  it('when, besides, every result callback is lost, then the restarted worker\'s poller finds the attempts stranded in submitting and asks M-Pesa: every payout is paid once and the ledger verifies', async () => {
    runtime.simulator!.setFaults({ rules: [{ pattern: '.*', callback: 'lose' }] });
    const { submitted, atKill } = await killMidWindow('answers');
    await expectPaidOnce(database, runtime, submitted, payouts, () => `states at the kill: ${JSON.stringify(atKill)}\nrestarted worker:\n${workers.at(-1)!.output()}`);
    // The interrupted attempts went through the stranded-submitting path, and only they did.
    const stranded = await sql<{ n: number }>`
      SELECT count(DISTINCT t.payout_id)::int AS n FROM payout_transitions t JOIN payouts p ON p.id = t.payout_id
      WHERE p.batch_id = ${submitted.batchId}::uuid AND t.from_state = 'submitting' AND t.to_state = 'unknown'`.execute(database.db);
    expect(stranded.rows[0]!.n).toBe(window);
    expect(workers.at(-1)!.running()).toBe(true);
  }, testTimeoutMs);

  it('when the worker is killed after recording its attempts but before the requests reached M-Pesa, then the restarted worker\'s poller sends the stranded payouts again under the same key: every payout is paid once and the ledger verifies', async () => {
    runtime.simulator!.setFaults({ rules: [] });
    const { submitted, atKill } = await killMidWindow('requests');
    // The link held the window's requests: M-Pesa never had those keys until they were sent again.
    await expectPaidOnce(database, runtime, submitted, payouts, () => `states at the kill: ${JSON.stringify(atKill)}\nrestarted worker:\n${workers.at(-1)!.output()}`);
    // Stranded, asked about (M-Pesa's status result about a key it never had tells nothing), then
    // sent again under the same key: the same payouts, each once paid under its first key.
    const moved = async (from: string, to: string, cause: string) =>
      (await sql<{ payout_id: string }>`
        SELECT DISTINCT t.payout_id FROM payout_transitions t JOIN payouts p ON p.id = t.payout_id
        WHERE p.batch_id = ${submitted.batchId}::uuid AND t.from_state = ${from} AND t.to_state = ${to} AND t.cause LIKE ${cause} ORDER BY t.payout_id`.execute(database.db)).rows.map((r) => r.payout_id);
    const stranded = await moved('submitting', 'unknown', 'poller: no answer recorded%');
    expect(stranded.length).toBe(window);
    expect(await moved('unknown', 'submitting', '%sent again under the same key%')).toEqual(stranded);
    expect(stranded.map((id) => runtime.simulator!.executions(attemptKey(id, 1)))).toEqual(Array(window).fill(1));
    const newKeys = await sql<{ n: number }>`SELECT count(*)::int AS n FROM payout_attempts a JOIN payouts p ON p.id = a.payout_id WHERE p.batch_id = ${submitted.batchId}::uuid AND a.attempt_no > 1`.execute(database.db);
    expect(newKeys.rows[0]!.n).toBe(0);
  }, testTimeoutMs);
});

describe('a settler process killed with SIGKILL mid-chunk and started again', () => {
  // Results arrive as the worker (here) is answered, a few per latencyMs; the settler applies them
  // in chunks of two, one transaction each. Once some are settled, the test holds the lock of the
  // batch's committed account: the next chunk's transaction, its payouts locked, waits there to
  // post its journal, and the settler is killed in the middle of it.
  const payouts = 30;
  const latencyMs = 300;
  const settledBeforeKill = 6;

  let database: TestDatabase;
  let runtime: Runtime;
  let env: Record<string, string>;
  let locker: pg.Client | undefined;
  const settlers: RoleProcess[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    env = await sharedEnv(database.url, {
      WORKER_PARTITION_WINDOW: '4',
      SETTLER_CHUNK_MAX: '2',
      STATUS_CHECK_FIRST_AFTER_MS: '3000',
      STATUS_POLL_INTERVAL_MS: '200',
    });
    runtime = await startOthers(env, 'settler');
  }, 60_000);

  afterAll(async () => {
    await killRoles(settlers);
    await locker?.end().catch(() => undefined);
    await runtime?.stop();
    await database?.drop();
  }, 60_000);

  it('when the settler is killed inside a chunk\'s transaction and a new one starts, then every payout is paid once, the batch completes and the ledger verifies', async () => {
    const simulator = runtime.simulator!;
    simulator.setFaults({ latencyMs, rules: [] });
    settlers.push(await startRole(build, 'settler', env, roleReadyTimeoutMs));
    const submitted = await submitBatch(runtime, payouts);
    const keys = submitted.payoutIds.map((id) => attemptKey(id, 1));
    const settled = async () => {
      const r = await sql<{ n: number }>`SELECT count(*)::int AS n FROM payouts WHERE batch_id = ${submitted.batchId}::uuid AND state IN ('paid', 'failed', 'cancelled', 'reversed')`.execute(database.db);
      return r.rows[0]!.n;
    };

    await net.eventually(async () => (await settled()) >= settledBeforeKill, settleTimeoutMs, `${settledBeforeKill} payouts settled`);
    locker = new pg.Client({ connectionString: database.url });
    await locker.connect();
    await locker.query('BEGIN');
    const committedAccount = accounts.batchCommitted(submitted.organisationId, submitted.batchId).key;
    expect((await locker.query('SELECT id FROM accounts WHERE currency = $1 AND key = $2 FOR UPDATE', ['KES', committedAccount])).rowCount).toBe(1);
    const lockerPid = ((await locker.query('SELECT pg_backend_pid() AS pid')).rows[0] as { pid: number }).pid;
    // The settler's next chunk: its transaction open, waiting on the account to post its journal.
    const waiting = await net
      .eventually(async () => {
        const r = await sql<{ pid: number; query: string }>`SELECT pid, query FROM pg_stat_activity WHERE ${lockerPid}::int = ANY(pg_blocking_pids(pid))`.execute(database.db);
        return r.rows.length > 0 ? r.rows : null;
      }, 15_000, 'a settling chunk to wait on the batch account')
      .catch(async (error: Error) => {
        throw new Error(`${error.message} (${await settled()} of ${payouts} settled: did the batch settle before the lock?)`);
      });
    expect(waiting).toHaveLength(1);
    expect(waiting[0]!.query).toContain('tuma_post_journal');
    settlers[0]!.kill();
    expect(await settlers[0]!.exited).toMatchObject({ signal: 'SIGKILL' });
    const settledAtKill = await settled();
    expect(settledAtKill).toBeGreaterThanOrEqual(settledBeforeKill);
    expect(settledAtKill).toBeLessThan(payouts);

    // Let go: the dead settler's session finds its client gone and its chunk rolls back.
    await locker.query('ROLLBACK');
    await locker.end();
    locker = undefined;
    await net.eventually(async () => {
      const r = await sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = ${waiting[0]!.pid}::int`.execute(database.db);
      return r.rows[0]!.n === 0;
    }, 15_000, 'the killed settler\'s session to end');

    // Without a settler the rest of the results wait in their topic: the worker here goes on
    // paying, and nothing settles, not even the chunk the kill interrupted.
    await net.eventually(async () => keys.every((k) => simulator.executions(k) > 0), settleTimeoutMs, 'every payout sent to the provider');
    await sleep(500);
    expect(await settled()).toBe(settledAtKill);
    const atRestart = await statesOf(database, submitted.batchId);

    expect(await evictGroupMembers(kafkaBrokers().split(','), [`${env.KAFKA_TOPIC_PREFIX}tuma-settler`])).toBe(1);
    settlers.push(await startRole(build, 'settler', env, roleReadyTimeoutMs));

    await expectPaidOnce(database, runtime, submitted, payouts, () => `settled at the kill: ${settledAtKill}; states at the restart: ${JSON.stringify(atRestart)}\nrestarted settler:\n${settlers[1]!.output()}`);
    expect(settlers[1]!.running()).toBe(true);
  }, testTimeoutMs);
});

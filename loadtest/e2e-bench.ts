// npm run bench:e2e — N payouts from an approved batch to a settled ledger, end to end (issue #6 item 9):
//   relay     claims the approved batch's payouts in chunks and publishes them to the real Kafka broker;
//   worker    (consumer group per provider) persists each attempt and its key, calls the M-Pesa
//             simulator over HTTP through the payout's breaker;
//   callback  the simulator posts the result to the API, stored once in the results outbox;
//   relay     publishes stored results to the results topic;
//   settler   moves each payout to paid and posts its journal in the ledger.
// All roles (api, relay, worker, settler, chainer, simulator) run in THIS process, as `tuma start`
// does by default: the peak RSS reported is the one process's. Two runs on one runtime and one
// fresh database: simulator latency 0 ms (BENCH_PAYOUTS / --payouts, default 100,000), then 300 ms
// (BENCH_PAYOUTS_300MS / --payouts-300ms, default 1,000: bounded time; 0 skips it).
// Then (issue #20 item 4) the same number of payouts through GSMA twice (BENCH_GSMA_PAYOUTS /
// --gsma-payouts, default 2,000; 0 skips both): through a single-payment GSMA account (one
// POST /transactions/type/disbursement and one result callback per payout), then through a bulk
// GSMA account (POST /batchtransactions of up to --gsma-batch-items items, the batch callback, each
// item's outcome read from the batch's completions and rejections by the status poller), both on
// the GSMA simulator at latency 0 ms, each with a programme of its own; reported side by side with
// the bulk/single ratios per payout.
// Numbers come from the database: the batch's approved_at, and per payout the time of its move to
// a settled state in payout_transitions. CPU per payout is this process's (every role and the
// simulators), PostgreSQL's and the broker's over the phase, from /proc. Then: the phase's
// simulator's executions for every attempt key of every payout (a GSMA batch item is counted under
// its attempt key too; double executions must be 0), and `tuma ledger verify`'s code over the
// database. BENCH_CPU_PROF_PHASE=<label> with BENCH_CPU_PROF_DIR=<dir> writes a V8 CPU profile of
// this process over that one phase, approval to settled (node dist/loadtest/cpuprofile-top.js sums it).
// Every wait is bounded: a run that makes no progress for BENCH_STALL_S (60 s) or lasts past
// BENCH_SETTLE_TIMEOUT_S (900 s) fails with what it had reached.
// Tuning is configuration only: the gateway's own variables (WORKER_CONCURRENCY_MAX, RELAY_CHUNK_MAX,
// DATABASE_POOL_MAX, SIMULATOR_CALLBACK_DELAY_MS, ...) are passed through from the environment.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { FlattenedSign, GeneralSign } from 'jose';
import { Kafka, logLevel } from 'kafkajs';
import { sql } from 'kysely';
import pg from 'pg';
import { pino } from 'pino';
import { verifyLedger } from '../src/application/ledger-chain.js';
import { fundProgramme, registerProgramme, topUpFloat } from '../src/application/setup.js';
import { gsmaBulkMax } from '../src/adapters/providers/gsma/gsma-bulk-provider.js';
import { roles, startRuntime, type Runtime } from '../src/cli/runtime.js';
import { loadConfig, type Env } from '../src/config/config.js';
import { attemptKey } from '../src/domain/ids.js';
import { benchIssuer } from './bench-auth.js';
import { setUpBenchProgramme } from './bench-programme.js';
import { deleteTopics, freePort } from './bench-net.js';

/** Payouts per run at most (the gateway's own BATCH_PAYOUTS_MAX ceiling). */
export const benchPayoutsMax = 1_000_000;
/** The 300 ms run at most: at that latency every in-flight slot is held 300 ms per payout. */
export const benchPayouts300msMax = 100_000;
const settleTimeoutMaxS = 3_600;
/** The GSMA phases' payouts by default: each phase is that many (modest: the single-payment phase is the slow one). */
const gsmaPayoutsDefault = 2_000;
/** Items per provider batch of the bulk GSMA account by default. */
const gsmaBatchItemsDefault = 1_000;
/** The bench's GSMA accounts and their programmes. */
const gsmaSingleAccount = 'bench-gsma-single';
const gsmaBulkAccount = 'bench-gsma-bulk';
const rssSampleMs = 100;
const progressPollMs = 500;
const progressLogEveryMs = 10_000;
const kafkaReadyTimeoutMs = 60_000;
const kafkaStartTimeoutS = 120;
const requestTimeoutMs = 300_000;
const settledStates = ['paid', 'failed', 'cancelled', 'reversed'];
const sqlTop = Number.parseInt(process.env.BENCH_SQL_TOP ?? '0', 10) || 0;

/** The gateway's variables a run may be tuned with, passed through from this process's environment. */
const tunables = [
  'WORKER_CONCURRENCY_MAX', 'WORKER_PARTITION_WINDOW', 'RELAY_CHUNK_MAX', 'RELAY_POLL_INTERVAL_MS', 'DATABASE_POOL_MAX', 'SETTLER_CHUNK_MAX',
  'SIMULATOR_CALLBACK_DELAY_MS', 'PROVIDER_TIMEOUT_MS', 'LEDGER_CHAIN_INTERVAL_MS', 'SEAL_THREADS',
  'STATUS_POLL_INTERVAL_MS', 'STATUS_POLL_LIMIT', 'STATUS_CHECK_FIRST_AFTER_MS', 'STATUS_CHECK_BACKOFF_MAX_MS', 'STATUS_CHECKS_MAX',
  'BREAKER_ERROR_THRESHOLD_PERCENT', 'BREAKER_RESET_TIMEOUT_MS', 'BREAKER_VOLUME_THRESHOLD', 'LOG_LEVEL',
] as const;

const repoDir = fileURLToPath(new URL('../../', import.meta.url));
const adminUrl = process.env.BENCH_DATABASE_ADMIN_URL ?? process.env.TEST_DATABASE_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

function intOption(name: string, raw: string | undefined, fallback: number, min: number, max: number): number {
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(n) || n < min || n > max) throw new Error(`${name} is a whole number from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  return n;
}

function options() {
  const { values } = parseArgs({
    options: { payouts: { type: 'string' }, 'payouts-300ms': { type: 'string' }, 'gsma-payouts': { type: 'string' }, 'gsma-batch-items': { type: 'string' } },
    allowPositionals: false,
  });
  const approval = process.env.BENCH_GSMA_BULK_APPROVAL ?? 'one-step';
  if (approval !== 'one-step' && approval !== 'two-step') throw new Error(`BENCH_GSMA_BULK_APPROVAL is one-step or two-step, got ${JSON.stringify(approval)}`);
  const cpuProfPhase = process.env.BENCH_CPU_PROF_PHASE || null;
  if (cpuProfPhase && !process.env.BENCH_CPU_PROF_DIR) throw new Error('BENCH_CPU_PROF_PHASE needs BENCH_CPU_PROF_DIR (where the profile is written)');
  return {
    gsmaPayouts: intOption('--gsma-payouts / BENCH_GSMA_PAYOUTS', values['gsma-payouts'] ?? process.env.BENCH_GSMA_PAYOUTS, gsmaPayoutsDefault, 0, benchPayoutsMax),
    gsmaBatchItems: intOption('--gsma-batch-items / BENCH_GSMA_BATCH_ITEMS', values['gsma-batch-items'] ?? process.env.BENCH_GSMA_BATCH_ITEMS, gsmaBatchItemsDefault, 1, gsmaBulkMax.itemsMax),
    gsmaBulkApproval: approval as 'one-step' | 'two-step',
    cpuProf: cpuProfPhase ? { phase: cpuProfPhase, dir: process.env.BENCH_CPU_PROF_DIR! } : null,
    payouts: intOption('--payouts / BENCH_PAYOUTS', values.payouts ?? process.env.BENCH_PAYOUTS, 100_000, 1, benchPayoutsMax),
    payouts300ms: intOption('--payouts-300ms / BENCH_PAYOUTS_300MS', values['payouts-300ms'] ?? process.env.BENCH_PAYOUTS_300MS, 1_000, 0, benchPayouts300msMax),
    settleTimeoutS: intOption('BENCH_SETTLE_TIMEOUT_S', process.env.BENCH_SETTLE_TIMEOUT_S, 900, 10, settleTimeoutMaxS),
    stallS: intOption('BENCH_STALL_S', process.env.BENCH_STALL_S, 60, 5, 600),
  };
}

function databaseUrl(name: string): string {
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  return u.toString();
}

const log = (line: string) => process.stderr.write(`bench:e2e: ${line}\n`);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * The broker: KAFKA_BROKERS when set; else the local one on BENCH_KAFKA_PORT (19092, the tests'),
 * started with scripts/kafka.sh when it is not running (bounded), then waited for until it answers
 * a metadata request (bounded). Returns whether this run started it (and so stops it).
 */
async function ensureKafka(): Promise<{ brokers: string; started: (() => void) | null }> {
  if (process.env.KAFKA_BROKERS) return { brokers: process.env.KAFKA_BROKERS, started: null };
  const port = intOption('BENCH_KAFKA_PORT', process.env.BENCH_KAFKA_PORT, 19092, 1, 65_534);
  const env = { ...process.env, KAFKA_PORT: String(port), KAFKA_CONTROLLER_PORT: String(port + 1), KAFKA_START_TIMEOUT_S: String(kafkaStartTimeoutS) };
  const script = `${repoDir}scripts/kafka.sh`;
  let started: (() => void) | null = null;
  if (spawnSync(script, ['status'], { env, stdio: 'ignore', timeout: 10_000 }).status !== 0) {
    log(`no broker on 127.0.0.1:${port}: starting one with scripts/kafka.sh (at most ${kafkaStartTimeoutS} s)`);
    execFileSync(script, ['start'], { env, stdio: ['ignore', 'ignore', 'inherit'], timeout: (kafkaStartTimeoutS + 60) * 1000 });
    started = () => void spawnSync(script, ['stop'], { env, stdio: 'ignore', timeout: 60_000 });
  }
  const brokers = `127.0.0.1:${port}`;
  const admin = new Kafka({ clientId: 'tuma-bench-setup', brokers: [brokers], logLevel: logLevel.NOTHING, retry: { retries: 0 } }).admin();
  const deadline = Date.now() + kafkaReadyTimeoutMs;
  for (;;) {
    try {
      await admin.connect();
      if ((await admin.describeCluster()).brokers.length > 0) break;
    } catch {
      // not ready yet
    }
    if (Date.now() > deadline) throw new Error(`the Kafka broker on ${brokers} did not answer within ${kafkaReadyTimeoutMs} ms`);
    await sleep(250);
  }
  await admin.disconnect();
  return { brokers, started };
}

/** Peak RSS, sampled every 100 ms (process.memoryUsage().rss). */
function rssSampler() {
  let peak = process.memoryUsage().rss;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), rssSampleMs);
  timer.unref();
  return {
    reset() {
      peak = process.memoryUsage().rss;
    },
    peakMb: () => Math.round(Math.max(peak, process.memoryUsage().rss) / 2 ** 20),
    stop: () => clearInterval(timer),
  };
}

/** The process's peak resident set since it started (VmHWM), in MB. */
function vmHwmMb(): number | null {
  try {
    const line = readFileSync('/proc/self/status', 'utf8').split('\n').find((l) => l.startsWith('VmHWM:'));
    return line ? Math.round(Number(line.replace(/\D+/g, '')) / 1024) : null;
  } catch {
    return null;
  }
}

/** CPU ticks so far (user + system) of one process, from /proc/<pid>/stat; null when it is gone. */
function ticksOf(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // f[0] is field 3 (state)
    return Number(f[11]) + Number(f[12]); // utime stime
  } catch {
    return null;
  }
}

/** The run's own broker: the java process of scripts/kafka.sh's instance for its port (null: not found, e.g. a broker elsewhere). */
function brokerPid(brokers: string): number | null {
  const port = /:(\d+)$/.exec(brokers.split(',')[0] ?? '')?.[1];
  if (!port) return null;
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (cmdline.startsWith('java') && cmdline.includes(`broker-${port}/`)) return Number(pid);
    } catch {
      // gone meanwhile
    }
  }
  return null;
}

/**
 * CPU of the run's own processes over a phase (Linux /proc, USER_HZ 100): this process; the
 * PostgreSQL backends of the run's database (sampled while the phase runs, so that a backend that
 * ends meanwhile still counts up to its last sample) and the shared writers (WAL writer,
 * checkpointer, background writer); and the run's broker. Other databases and brokers on the
 * machine (other work on a shared machine) are not counted.
 */
function cpuTracker(admin: pg.Client, database: string, broker: number | null) {
  const start = new Map<number, number>();
  const last = new Map<number, number>();
  let selfStart = 0;
  const pids = async () =>
    (await admin.query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE datname = $1 OR backend_type IN ('checkpointer', 'walwriter', 'background writer')`, [database])).rows.map((r) => r.pid);
  const read = (pid: number, into: Map<number, number>, key: number) => {
    const t = ticksOf(pid);
    if (t !== null) into.set(key, t);
  };
  const sample = async () => {
    for (const pid of await pids()) read(pid, last, pid);
    if (broker !== null) read(broker, last, -broker);
  };
  return {
    async begin() {
      start.clear();
      last.clear();
      const self = process.cpuUsage();
      selfStart = (self.user + self.system) / 1e6;
      for (const pid of await pids()) read(pid, start, pid);
      if (broker !== null) read(broker, start, -broker);
      for (const [k, v] of start) last.set(k, v);
    },
    sample,
    /** CPU seconds since begin(): this process, PostgreSQL, the broker (null when it was not found). */
    async end(): Promise<{ self: number; postgres: number; java: number | null }> {
      await sample();
      const self = process.cpuUsage();
      let postgres = 0;
      for (const [k, v] of last) if (k > 0) postgres += v - (start.get(k) ?? 0);
      const java = broker === null ? null : (last.get(-broker) ?? 0) - (start.get(-broker) ?? 0);
      return { self: (self.user + self.system) / 1e6 - selfStart, postgres: postgres / 100, java: java === null ? null : java / 100 };
    },
  };
}

/**
 * SQL statements this process sends (every role's), counted by their first words: wraps pg's
 * Client.query, which kysely and the gateway's own SQL go through. Per phase: statements per payout,
 * and with BENCH_SQL_TOP=<n> the n most frequent.
 */
const statements = new Map<string, number>();
/** The harness's own clients (the admin connection): not the gateway's statements. */
const uncounted = new WeakSet<object>();
{
  const query = pg.Client.prototype.query as (...args: unknown[]) => unknown;
  pg.Client.prototype.query = function counted(this: pg.Client, ...args: unknown[]) {
    const first = args[0] as string | { text?: string } | undefined;
    if (uncounted.has(this)) return query.apply(this, args);
    const text = typeof first === 'string' ? first : typeof first?.text === 'string' ? first.text : '';
    const head = text.replace(/\s+/g, ' ').trim().slice(0, 90);
    statements.set(head, (statements.get(head) ?? 0) + 1);
    return query.apply(this, args);
  } as typeof pg.Client.prototype.query;
}
const statementCounts = () => new Map(statements);

interface PhaseResult {
  readonly label: string;
  readonly payouts: number;
  readonly latencyMs: number;
  readonly submitSeconds: number;
  readonly settleSeconds: number;
  readonly wallSeconds: number;
  readonly payoutsPerS: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly peakRssMb: number;
  readonly doubleExecutions: number;
  readonly attempts: number;
  readonly states: string;
  readonly results: string;
  readonly cpu: { self: number; postgres: number; java: number | null };
  /** CPU ms per payout: this process, PostgreSQL and the broker together. */
  readonly cpuMsPerPayout: number;
  /** SQL statements this process sent per payout, and the most frequent (BENCH_SQL_TOP). */
  readonly sqlPerPayout: number;
  readonly sqlTop: { readonly head: string; readonly perPayout: number }[];
  /** The provider batches the phase's payouts went in (a bulk account's), or null. */
  readonly providerBatches: { readonly count: number; readonly itemsMean: number; readonly itemsMax: number } | null;
  readonly stages: { stage: string; n: number; p50: number; p99: number; max: number }[];
  readonly reached: { stage: string; n: number; p50: number; p99: number; max: number }[];
}

async function main(): Promise<void> {
  const opts = options();
  const cores = os.cpus().length;
  const name = `tuma_bench_${randomBytes(4).toString('hex')}`;
  const topicPrefix = `bench${randomBytes(4).toString('hex')}.`;
  const kafka = await ensureKafka();
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  uncounted.add(admin);
  const broker = brokerPid(kafka.brokers);
  if (broker === null) log(`no broker process of this run was found for ${kafka.brokers}: its CPU is not counted`);
  const cpu = cpuTracker(admin, name, broker);
  await admin.query(`CREATE DATABASE ${name}`);
  const rss = rssSampler();
  let runtime: Runtime | undefined;
  const accountsDir = mkdtempSync(path.join(os.tmpdir(), 'tuma-bench-e2e-'));
  // Printed once everything is stopped and dropped, so that the JSON object is the last line.
  const lines: string[] = [];
  const out = (line: string) => lines.push(line);
  try {
    const issuer = await benchIssuer();
    const simulatorPort = await freePort();
    // Every account in one file: M-Pesa for every programme; the GSMA accounts, one per programme,
    // on the GSMA simulator (the bulk one first: the simulator takes its approval from the first).
    const gsmaAccount = (id: string, programme: string) => ({
      id, provider: 'gsma', country: 'KE', currency: 'KES', programmes: [programme], baseUrl: `http://127.0.0.1:${simulatorPort}/gsma`,
      consumerKey: { env: 'BENCH_GSMA_CONSUMER_KEY' }, consumerSecret: { env: 'BENCH_GSMA_CONSUMER_SECRET' }, debitParty: [{ key: 'walletid', value: '1' }],
    });
    const providersFile = path.join(accountsDir, 'accounts.json');
    writeFileSync(providersFile, JSON.stringify({
      accounts: [
        {
          id: 'mpesa', provider: 'mpesa', country: 'KE', currency: 'KES', programmes: '*', baseUrl: `http://127.0.0.1:${simulatorPort}`,
          consumerKey: { env: 'BENCH_MPESA_CONSUMER_KEY' }, consumerSecret: { env: 'BENCH_MPESA_CONSUMER_SECRET' }, shortcode: '600000', initiatorName: 'tuma-bench',
          securityCredential: { env: 'BENCH_MPESA_SECURITY_CREDENTIAL' },
        },
        { ...gsmaAccount(gsmaBulkAccount, gsmaBulkAccount), bulk: { itemsMax: opts.gsmaBatchItems, approval: opts.gsmaBulkApproval } },
        gsmaAccount(gsmaSingleAccount, gsmaSingleAccount),
      ],
    }));
    const env: Record<string, string> = {
      TUMA_DEV_MODE: 'false',
      LOG_LEVEL: 'warn',
      TUMA_MASTER_KEY: randomBytes(32).toString('base64'),
      DATABASE_URL: databaseUrl(name),
      KAFKA_BROKERS: kafka.brokers,
      KAFKA_CLIENT_ID: 'tuma-bench',
      KAFKA_TOPIC_PREFIX: topicPrefix,
      HTTP_HOST: '127.0.0.1',
      HTTP_PORT: '0',
      HTTP_BODY_MAX_BYTES: String(64 * 1024 * 1024),
      BATCH_PAYOUTS_MAX: String(Math.max(opts.payouts, opts.payouts300ms, opts.gsmaPayouts)),
      SIMULATOR_PORT: String(simulatorPort),
      PROVIDERS_FILE: providersFile,
      BENCH_MPESA_CONSUMER_KEY: 'bench-consumer-key',
      BENCH_MPESA_CONSUMER_SECRET: 'bench-consumer-secret',
      BENCH_MPESA_SECURITY_CREDENTIAL: 'bench-security-credential',
      BENCH_GSMA_CONSUMER_KEY: 'bench-gsma-key',
      BENCH_GSMA_CONSUMER_SECRET: 'bench-gsma-secret',
      AUTH_ISSUER: issuer.config.issuer,
      AUTH_AUDIENCE: issuer.config.audience,
      AUTH_JWKS: JSON.stringify(issuer.config.jwks),
      METRICS_ENABLED: 'false',
      // Zero latency means the callback too; the other limits are the gateway's defaults unless given.
      SIMULATOR_CALLBACK_DELAY_MS: '0',
      RELAY_POLL_INTERVAL_MS: '50',
    };
    const tuned: Record<string, string> = {};
    for (const k of tunables) {
      const v = process.env[k];
      if (v !== undefined && v !== '') tuned[k] = v;
    }
    const config = loadConfig({ ...env, ...tuned } satisfies Env);
    const logger = pino({ level: config.logLevel }, pino.destination({ fd: 2, sync: false }));
    runtime = await startRuntime(config, new Set(roles), logger);
    const rt = runtime;
    if (!rt.simulator || !rt.gsmaSimulator || !rt.apiUrl) throw new Error('invariant violated: the runtime runs the simulators and the API');
    const mpesaSimulator = rt.simulator;
    const gsmaSimulator = rt.gsmaSimulator;

    // One organisation: the M-Pesa programme (one approver) funded for both M-Pesa runs, float at
    // M-Pesa; a programme per GSMA account, each funded for its run, float at GSMA.
    const { organisationId, programmeId, keys, kids } = await setUpBenchProgramme(rt.persistence);
    const amountOf = (i: number) => 100 + (i % 1000); // whole shillings, 100..1,099
    const fundOf = (first: number, count: number) => {
      let minor = 0n;
      for (let i = first; i < first + count; i++) minor += BigInt(amountOf(i)) * 100n;
      return minor;
    };
    const mpesaPayouts = opts.payouts + opts.payouts300ms;
    const gsmaFirst = { single: mpesaPayouts, bulk: mpesaPayouts + opts.gsmaPayouts };
    for (const id of [gsmaSingleAccount, gsmaBulkAccount]) {
      await registerProgramme(rt.persistence, {
        id, organisationId, name: id, currency: 'KES', approvalsRequired: 1,
        policy: { tiers: [{ fromMinor: 0n, approvers: 1 }], providers: ['gsma'], payoutMaxMinor: null, rowErrors: 'reject_batch' },
      });
    }
    const gsmaFund = { single: fundOf(gsmaFirst.single, opts.gsmaPayouts), bulk: fundOf(gsmaFirst.bulk, opts.gsmaPayouts) };
    for (const posted of [
      await fundProgramme(rt.persistence, { idempotencyKey: 'bench-fund', organisationId, programmeId, source: 'donor', currency: 'KES', amountMinor: fundOf(0, mpesaPayouts) }),
      await topUpFloat(rt.persistence, { idempotencyKey: 'bench-float', organisationId, provider: 'mpesa', source: 'donor', currency: 'KES', amountMinor: fundOf(0, mpesaPayouts) }),
      ...(opts.gsmaPayouts > 0
        ? [
            await fundProgramme(rt.persistence, { idempotencyKey: 'bench-fund-gsma-single', organisationId, programmeId: gsmaSingleAccount, source: 'donor', currency: 'KES', amountMinor: gsmaFund.single }),
            await fundProgramme(rt.persistence, { idempotencyKey: 'bench-fund-gsma-bulk', organisationId, programmeId: gsmaBulkAccount, source: 'donor', currency: 'KES', amountMinor: gsmaFund.bulk }),
            await topUpFloat(rt.persistence, { idempotencyKey: 'bench-float-gsma', organisationId, provider: 'gsma', source: 'donor', currency: 'KES', amountMinor: gsmaFund.single + gsmaFund.bulk }),
          ]
        : []),
    ]) if (!posted.ok) throw new Error(posted.error.code);

    interface Route {
      readonly programmeId: string;
      readonly provider: 'mpesa' | 'gsma';
      readonly simulator: { setFaults(faults: { latencyMs: number }): void; executions(key: string): number };
    }
    const mpesaRoute: Route = { programmeId, provider: 'mpesa', simulator: mpesaSimulator };

    /** One batch of `count` payouts (numbers from `first` on) through `route`, submitted and approved over HTTP, waited for until every payout is settled. */
    async function phase(label: string, count: number, first: number, latencyMs: number, route: Route = mpesaRoute): Promise<PhaseResult> {
      route.simulator.setFaults({ latencyMs });
      let totalMinor = 0n;
      const rows = Array.from({ length: count }, (_, k) => {
        const i = first + k;
        totalMinor += BigInt(amountOf(i)) * 100n;
        return { ref: `r-${i}`, provider: route.provider, msisdn: `+2547${String(10_000_000 + i).padStart(8, '0')}`, amount: `${amountOf(i)}.00`, name: `Beneficiary ${i}` };
      });
      const now = Date.now();
      const batchId = randomUUID();
      const bytes = Buffer.from(JSON.stringify({
        batchId, organisationId, programmeId: route.programmeId, currency: 'KES',
        createdAt: new Date(now - 1_000).toISOString(), expiresAt: new Date(now + 86_400_000).toISOString(),
        declared: { count, total: `${totalMinor / 100n}.${String(totalMinor % 100n).padStart(2, '0')}` },
        payouts: rows,
      }));
      const jws = await new GeneralSign(bytes).addSignature(keys.maker.privateKey).setProtectedHeader({ alg: 'ES256', kid: kids.maker! }).sign();
      const submitStart = process.hrtime.bigint();
      const submitted = await fetch(`${rt.apiUrl}/v1/batches`, {
        method: 'POST',
        headers: { 'content-type': 'application/jose+json', authorization: `Bearer ${await issuer.token(organisationId, 'programme_manager', 'maker-person')}` },
        body: JSON.stringify(jws),
        signal: AbortSignal.timeout(requestTimeoutMs),
      });
      const submitBody = (await submitted.json()) as unknown;
      if (submitted.status !== 201) throw new Error(`${label}: submit answered ${submitted.status} ${JSON.stringify(submitBody).slice(0, 500)}`);
      const submitSeconds = Number(process.hrtime.bigint() - submitStart) / 1e9;

      const { protected: prot, signature } = await new FlattenedSign(bytes).setProtectedHeader({ alg: 'ES256', kid: kids.approver! }).sign(keys.approver.privateKey);
      rss.reset();
      const profiler = opts.cpuProf?.phase === label ? new Session() : null;
      if (profiler) {
        profiler.connect();
        await profiler.post('Profiler.enable');
        await profiler.post('Profiler.start');
      }
      await cpu.begin();
      const sqlBefore = statementCounts();
      const approveStart = process.hrtime.bigint();
      const approved = await fetch(`${rt.apiUrl}/v1/batches/${batchId}/approvals`, {
        method: 'POST',
        headers: { 'content-type': 'application/jose+json', authorization: `Bearer ${await issuer.token(organisationId, 'approver', 'approver-person')}` },
        body: JSON.stringify({ protected: prot, signature }),
        signal: AbortSignal.timeout(requestTimeoutMs),
      });
      const approveBody = (await approved.json()) as { state?: string };
      if (approved.status !== 201 || approveBody.state !== 'approved') throw new Error(`${label}: approve answered ${approved.status} ${JSON.stringify(approveBody).slice(0, 500)}`);

      // Bounded wait: fails when nothing settles for stallS, or past settleTimeoutS in all.
      const deadline = Date.now() + opts.settleTimeoutS * 1000;
      let settled = 0;
      let progressAt = Date.now();
      let loggedAt = Date.now();
      const countStates = async () =>
        (await sql<{ state: string; n: number }>`SELECT state, count(*)::int AS n FROM payouts WHERE batch_id = ${batchId} GROUP BY state ORDER BY state`.execute(rt.db)).rows;
      for (;;) {
        const states = await countStates();
        const now = settledStates.reduce((s, st) => s + (states.find((r) => r.state === st)?.n ?? 0), 0);
        if (now > settled) progressAt = Date.now();
        settled = now;
        if (settled === count) break;
        const elapsedS = Number(process.hrtime.bigint() - approveStart) / 1e9;
        if (Date.now() - loggedAt >= progressLogEveryMs) {
          log(`${label}: ${settled}/${count} settled after ${elapsedS.toFixed(0)} s (${states.map((r) => `${r.state} ${r.n}`).join(', ')})`);
          loggedAt = Date.now();
        }
        if (Date.now() - progressAt > opts.stallS * 1000) {
          throw new Error(`${label}: settlement stalled: no payout settled for ${opts.stallS} s; ${settled}/${count} settled after ${elapsedS.toFixed(0)} s (${states.map((r) => `${r.state} ${r.n}`).join(', ')})`);
        }
        if (Date.now() > deadline) {
          throw new Error(`${label}: not settled within BENCH_SETTLE_TIMEOUT_S=${opts.settleTimeoutS}: ${settled}/${count} (${states.map((r) => `${r.state} ${r.n}`).join(', ')}); lower --payouts`);
        }
        await cpu.sample();
        await sleep(progressPollMs);
      }
      const wallSeconds = Number(process.hrtime.bigint() - approveStart) / 1e9;
      const cpuUsed = await cpu.end();
      const sqlDelta = [...statementCounts()].map(([head, n]) => ({ head, n: n - (sqlBefore.get(head) ?? 0) })).filter((x) => x.n > 0).sort((a, b) => b.n - a.n);
      if (profiler) {
        const { profile } = await profiler.post('Profiler.stop');
        profiler.disconnect();
        mkdirSync(opts.cpuProf!.dir, { recursive: true });
        const file = path.join(opts.cpuProf!.dir, `e2e-${label.replace(/[^a-z0-9]+/gi, '-')}-${Date.now()}.cpuprofile`);
        writeFileSync(file, JSON.stringify(profile));
        log(`${label}: CPU profile of this process over the phase written to ${file}`);
      }
      const peakRssMb = rss.peakMb();

      // Approval → settled, per payout, from the database's own clock.
      const latency = (await sql<{ n: number; p50: number; p99: number; max: number }>`
        WITH s AS (
          SELECT extract(epoch FROM (min(t.at) - b.approved_at)) * 1000 AS ms
          FROM payouts p JOIN batches b ON b.id = p.batch_id JOIN payout_transitions t ON t.payout_id = p.id
          WHERE p.batch_id = ${batchId} AND t.to_state IN ('paid', 'failed', 'cancelled', 'reversed')
          GROUP BY p.id, b.approved_at)
        SELECT count(*)::int AS n, percentile_disc(0.5) WITHIN GROUP (ORDER BY ms)::float8 AS p50,
               percentile_disc(0.99) WITHIN GROUP (ORDER BY ms)::float8 AS p99, max(ms)::float8 AS max FROM s`.execute(rt.db)).rows[0]!;
      if (latency.n !== count) throw new Error(`${label}: ${latency.n} settling transitions for ${count} payouts`);
      const finalStates = (await countStates()).map((r) => `${r.state} ${r.n}`).join(', ');

      // Where the time went: per payout, the time between its moves; and when each stage was reached.
      // One pass: the batch's transitions and results grouped per payout (payout_results has no
      // index on payout_id: a correlated look-up per payout would be quadratic).
      const stats = (i: number, expr: string) =>
        `count(${expr})::int AS n${i}, coalesce(percentile_disc(0.5) WITHIN GROUP (ORDER BY ${expr}), 0)::float8 AS p50_${i}, ` +
        `coalesce(percentile_disc(0.99) WITHIN GROUP (ORDER BY ${expr}), 0)::float8 AS p99_${i}, coalesce(max(${expr}), 0)::float8 AS max${i}`;
      const ms = (a: string, b: string) => `extract(epoch FROM (${b} - ${a})) * 1000`;
      const measured: [kind: 'stage' | 'reached', name: string, from: string, to: string][] = [
        ['stage', 'approval → queued (relay claims and publishes)', 'approved_at', 'queued'],
        ['stage', 'queued → submitting (Kafka, worker picks it up)', 'queued', 'submitting'],
        ['stage', 'submitting → result stored (provider call, callback)', 'submitting', 'result_stored'],
        ['stage', 'result stored → published (relay)', 'result_stored', 'result_published'],
        ['stage', 'published → settled (Kafka, settler)', 'result_published', 'settled'],
        ...(['queued', 'submitting', 'submitted', 'result_stored', 'result_published', 'settled'] as const).map(
          (col): ['reached', string, string, string] => ['reached', col.replace('_', ' '), 'approved_at', col],
        ),
      ];
      const row = (await sql<Record<string, number>>`
        WITH t AS (
          SELECT t.payout_id,
                 min(t.at) FILTER (WHERE t.to_state = 'queued') AS queued,
                 min(t.at) FILTER (WHERE t.to_state = 'submitting') AS submitting,
                 min(t.at) FILTER (WHERE t.to_state = 'submitted') AS submitted,
                 min(t.at) FILTER (WHERE t.to_state IN ('paid', 'failed', 'cancelled', 'reversed')) AS settled
          FROM payout_transitions t JOIN payouts p ON p.id = t.payout_id WHERE p.batch_id = ${batchId} GROUP BY t.payout_id),
        r AS (
          SELECT payout_id, min(created_at) AS result_stored, min(published_at) AS result_published
          FROM payout_results WHERE batch_id = ${batchId} GROUP BY payout_id),
        x AS (
          SELECT t.*, r.result_stored, r.result_published, b.approved_at
          FROM t LEFT JOIN r USING (payout_id) CROSS JOIN (SELECT approved_at FROM batches WHERE id = ${batchId}) b)
        SELECT ${sql.raw(measured.map(([, , from, to], i) => stats(i, ms(from, to))).join(',\n               '))},
               (SELECT count(*) FROM payout_results WHERE batch_id = ${batchId} AND source = 'callback')::int AS callback_results,
               (SELECT count(*) FROM payout_results WHERE batch_id = ${batchId} AND source = 'status_query')::int AS status_results,
               (SELECT count(*) FROM payout_results WHERE batch_id = ${batchId} AND source = 'sync')::int AS sync_results,
               (SELECT count(*) FROM payout_status_tokens s JOIN payouts p ON p.id = s.payout_id WHERE p.batch_id = ${batchId})::int AS status_queries
        FROM x`.execute(rt.db)).rows[0]!;
      const pick = (i: number) => ({ n: row[`n${i}`]!, p50: row[`p50_${i}`]!, p99: row[`p99_${i}`]!, max: row[`max${i}`]! });
      const stages = measured.flatMap(([kind, stage], i) => (kind === 'stage' ? [{ stage, ...pick(i) }] : []));
      const reached = measured.flatMap(([kind, stage], i) => (kind === 'reached' ? [{ stage, ...pick(i) }] : []));
      const results = `callback ${row.callback_results}, status query ${row.status_results}, sync ${row.sync_results}; status queries sent ${row.status_queries}`;

      // Exactly once at the provider: every attempt key of every payout (and the next one, never sent) at the simulator.
      const attempts = (await sql<{ id: string; attempt_count: number; keys: string[] }>`
        SELECT p.id, p.attempt_count, coalesce(array_agg(a.idempotency_key) FILTER (WHERE a.idempotency_key IS NOT NULL), '{}') AS keys
        FROM payouts p LEFT JOIN payout_attempts a ON a.payout_id = p.id WHERE p.batch_id = ${batchId} GROUP BY p.id, p.attempt_count`.execute(rt.db)).rows;
      let doubleExecutions = 0;
      let notExecuted = 0;
      let attemptCount = 0;
      for (const p of attempts) {
        const keysOf = new Set(p.keys);
        for (let n = 1; n <= p.attempt_count + 1; n++) keysOf.add(attemptKey(p.id, n));
        let executions = 0;
        for (const key of keysOf) executions += route.simulator.executions(key);
        attemptCount += p.keys.length;
        if (executions > 1) doubleExecutions += executions - 1;
        if (executions === 0) notExecuted++;
      }
      if (notExecuted > 0 && finalStates.includes('paid')) log(`${label}: WARNING: ${notExecuted} payouts have no execution at the simulator`);

      // The provider batches its payouts' attempts went in (none for a single-payment account).
      const batched = (await sql<{ n: number; items: number; max: number | null }>`
        SELECT count(DISTINCT i.batch_key)::int AS n, count(*)::int AS items, max(g.item_count) AS max
        FROM payout_attempts a JOIN payouts p ON p.id = a.payout_id
        JOIN gsma_batch_items i ON i.item_key::text = lower(a.idempotency_key) JOIN gsma_batches g ON g.batch_key = i.batch_key
        WHERE p.batch_id = ${batchId}`.execute(rt.db)).rows[0]!;
      const providerBatches = batched.n > 0 ? { count: batched.n, itemsMean: batched.items / batched.n, itemsMax: batched.max ?? 0 } : null;

      const settleSeconds = latency.max / 1000;
      return {
        label, payouts: count, latencyMs, submitSeconds, settleSeconds, wallSeconds,
        payoutsPerS: Math.round(count / settleSeconds), p50Ms: Math.round(latency.p50), p99Ms: Math.round(latency.p99), maxMs: Math.round(latency.max),
        peakRssMb, doubleExecutions, attempts: attemptCount, states: finalStates, results,
        cpu: cpuUsed, cpuMsPerPayout: ((cpuUsed.self + cpuUsed.postgres + (cpuUsed.java ?? 0)) * 1000) / count, providerBatches,
        sqlPerPayout: sqlDelta.reduce((sum, x) => sum + x.n, 0) / count,
        sqlTop: sqlDelta.slice(0, sqlTop).map((x) => ({ head: x.head, perPayout: x.n / count })),
        stages, reached,
      };
    }

    log(`run 1: ${opts.payouts} payouts, simulator latency 0 ms`);
    const zero = await phase('latency 0 ms', opts.payouts, 0, 0);
    let slow: PhaseResult | null = null;
    if (opts.payouts300ms > 0) {
      log(`run 2: ${opts.payouts300ms} payouts, simulator latency 300 ms`);
      slow = await phase('latency 300 ms', opts.payouts300ms, opts.payouts, 300);
    }
    // The same number of payouts through each GSMA account, at latency 0 ms.
    let gsmaSingle: PhaseResult | null = null;
    let gsmaBulk: PhaseResult | null = null;
    if (opts.gsmaPayouts > 0) {
      log(`run 3: ${opts.gsmaPayouts} payouts through a single-payment GSMA account, simulator latency 0 ms`);
      gsmaSingle = await phase('gsma single', opts.gsmaPayouts, gsmaFirst.single, 0, { programmeId: gsmaSingleAccount, provider: 'gsma', simulator: gsmaSimulator });
      log(`run 4: ${opts.gsmaPayouts} payouts through a bulk GSMA account (provider batches of at most ${opts.gsmaBatchItems}, ${opts.gsmaBulkApproval}), simulator latency 0 ms`);
      gsmaBulk = await phase('gsma bulk', opts.gsmaPayouts, gsmaFirst.bulk, 0, { programmeId: gsmaBulkAccount, provider: 'gsma', simulator: gsmaSimulator });
    }
    const phases = [zero, slow, gsmaSingle, gsmaBulk].filter((r): r is PhaseResult => r !== null);

    // `tuma ledger verify`'s code, over everything both runs wrote.
    const verify = await verifyLedger(rt.persistence);

    const server_version = (await sql<{ v: string }>`SELECT current_setting('server_version') AS v`.execute(rt.db)).rows[0]!.v;
    const f0 = (n: number) => Math.round(n).toLocaleString('en-US');
    out(`e2e benchmark: PostgreSQL ${server_version}, Kafka ${kafka.brokers}, ${cores} cores, Node ${process.version}`);
    out(`  one process runs every role (api, relay, worker, settler, chainer, simulator); RSS is that process's`);
    if (gsmaBulk) out(`  GSMA bulk account: provider batches of at most ${opts.gsmaBatchItems} items, ${opts.gsmaBulkApproval}, linger 20 ms; STATUS_POLL_INTERVAL_MS=${config.statusPoll.intervalMs} STATUS_POLL_LIMIT=${config.statusPoll.limit}`);
    out(`  config: WORKER_CONCURRENCY_MAX=${config.limits.workerConcurrencyMax} WORKER_PARTITION_WINDOW=${config.limits.workerPartitionWindow} RELAY_CHUNK_MAX=${config.limits.relayChunkMax} RELAY_POLL_INTERVAL_MS=${config.limits.relayPollIntervalMs} DATABASE_POOL_MAX=${config.database.poolMax} SIMULATOR_CALLBACK_DELAY_MS=${config.simulator.callbackDelayMs} STATUS_CHECK_FIRST_AFTER_MS=${config.statusPoll.firstAfterMs}`);
    for (const r of phases) {
      const rows: [string, string][] = [
        ['payouts', `${f0(r.payouts)} (simulator latency ${r.latencyMs} ms)`],
        ['submit (not measured below)', `${r.submitSeconds.toFixed(1)} s`],
        ['approval → all settled', `${r.settleSeconds.toFixed(1)} s (wall ${r.wallSeconds.toFixed(1)} s)`],
        ['payouts/s', f0(r.payoutsPerS)],
        ['approval → settled p50 / p99 / max', `${f0(r.p50Ms)} / ${f0(r.p99Ms)} / ${f0(r.maxMs)} ms`],
        ['peak RSS (sampled every 100 ms)', `${r.peakRssMb} MB`],
        ['final states', r.states],
        ['results stored, by source', r.results],
        ['attempts / double executions', `${f0(r.attempts)} / ${r.doubleExecutions}`],
        ['CPU s: node / postgres / kafka', `${r.cpu.self.toFixed(1)} / ${r.cpu.postgres.toFixed(1)} / ${r.cpu.java === null ? '?' : r.cpu.java.toFixed(1)} (of ${(r.wallSeconds * cores).toFixed(0)} available)`],
        ['CPU ms per payout (node + postgres + kafka)', r.cpuMsPerPayout.toFixed(2)],
        ['SQL statements per payout (this process)', r.sqlPerPayout.toFixed(2)],
        ...(r.providerBatches ? [['provider batches (items mean / max)', `${f0(r.providerBatches.count)} (${r.providerBatches.itemsMean.toFixed(1)} / ${f0(r.providerBatches.itemsMax)})`] as [string, string]] : []),
      ];
      const w = Math.max(...rows.map((x) => x[0].length));
      out(`run: ${r.label}`);
      for (const [a, b] of rows) out(`  ${a.padEnd(w)}  ${b}`);
      for (const x of r.sqlTop) out(`    ${x.perPayout.toFixed(3).padStart(7)} per payout: ${x.head}`);
      const sw = Math.max(...r.stages.map((s) => s.stage.length), ...r.reached.map((s) => s.stage.length + 20));
      out(`  ${'stage, per payout (ms)'.padEnd(sw)}  ${'n'.padStart(8)}  ${'p50'.padStart(8)}  ${'p99'.padStart(8)}  ${'max'.padStart(8)}`);
      for (const s of r.stages) out(`  ${s.stage.padEnd(sw)}  ${f0(s.n).padStart(8)}  ${f0(s.p50).padStart(8)}  ${f0(s.p99).padStart(8)}  ${f0(s.max).padStart(8)}`);
      for (const s of r.reached) out(`  ${`reached ${s.stage} after approval`.padEnd(sw)}  ${f0(s.n).padStart(8)}  ${f0(s.p50).padStart(8)}  ${f0(s.p99).padStart(8)}  ${f0(s.max).padStart(8)}`);
    }
    out(`process peak RSS (VmHWM, including the batch submissions): ${vmHwmMb() ?? '?'} MB`);
    out(`ledger verify: ${verify.ok ? 'OK' : `${verify.problemCount} PROBLEMS`} (transfers ${verify.transfers}, chained ${verify.chained}, awaiting the chainer ${verify.awaitingChain}, accounts ${verify.accounts})`);
    for (const p of verify.problems.slice(0, 10)) out(`  ${p.kind}: ${p.detail}`);
    // Bulk against single, per payout: how many times the payouts per second, how many times less CPU.
    const bulkVsSingle = gsmaSingle && gsmaBulk ? Math.round((gsmaBulk.payoutsPerS / gsmaSingle.payoutsPerS) * 100) / 100 : null;
    const bulkCpuVsSingle = gsmaSingle && gsmaBulk ? Math.round((gsmaSingle.cpuMsPerPayout / gsmaBulk.cpuMsPerPayout) * 100) / 100 : null;
    if (gsmaSingle && gsmaBulk) {
      out(`GSMA bulk vs single, per payout: ${bulkVsSingle}× the payouts/s (${f0(gsmaBulk.payoutsPerS)} against ${f0(gsmaSingle.payoutsPerS)}), ` +
        `${bulkCpuVsSingle}× less CPU (${gsmaBulk.cpuMsPerPayout.toFixed(2)} against ${gsmaSingle.cpuMsPerPayout.toFixed(2)} ms)`);
    }
    const doubleExecutions = phases.reduce((sum, r) => sum + r.doubleExecutions, 0);
    if (!verify.ok || doubleExecutions > 0) process.exitCode = 1;
    out(JSON.stringify({
      payouts: zero.payouts,
      payouts_per_s: zero.payoutsPerS,
      latency_ms_p50: zero.p50Ms,
      latency_ms_p99: zero.p99Ms,
      double_executions: doubleExecutions,
      ledger_verified: verify.ok,
      payouts_per_s_at_300ms: slow ? slow.payoutsPerS : null,
      cpu_ms_per_payout: Math.round(zero.cpuMsPerPayout * 100) / 100,
      gsma_payouts: opts.gsmaPayouts,
      gsma_single_payouts_per_s: gsmaSingle ? gsmaSingle.payoutsPerS : null,
      gsma_bulk_payouts_per_s: gsmaBulk ? gsmaBulk.payoutsPerS : null,
      gsma_bulk_vs_single: bulkVsSingle,
      gsma_single_cpu_ms_per_payout: gsmaSingle ? Math.round(gsmaSingle.cpuMsPerPayout * 100) / 100 : null,
      gsma_bulk_cpu_ms_per_payout: gsmaBulk ? Math.round(gsmaBulk.cpuMsPerPayout * 100) / 100 : null,
      gsma_bulk_cpu_vs_single: bulkCpuVsSingle,
      cores,
    }));
  } finally {
    rss.stop();
    if (runtime) {
      const stopping = runtime.stop();
      const timeout = sleep(60_000).then(() => log('runtime did not stop within 60 s'));
      await Promise.race([stopping, timeout]);
    }
    // pg-pool's end() resolves before its connections have closed: wait for them (bounded) rather
    // than have DROP ... WITH (FORCE) terminate them under the runtime's feet.
    for (let i = 0; i < 100; i++) {
      const open = await admin.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1', [name]);
      if (open.rows[0]!.n === 0) break;
      await sleep(100);
    }
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch((e: unknown) => log(`could not drop ${name}: ${String(e)}`));
    await admin.end();
    await deleteTopics(kafka.brokers, topicPrefix, 'tuma-bench-cleanup').catch((e: unknown) => log(`could not delete the run's topics: ${String(e)}`));
    kafka.started?.();
    rmSync(accountsDir, { recursive: true, force: true });
  }
  for (const line of lines) process.stdout.write(`${line}\n`);
}

main().then(
  () => process.exit(),
  (error: unknown) => {
    process.stderr.write(`bench:e2e failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);

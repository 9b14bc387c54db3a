// The `tuma` command: one codebase, several roles. `tuma start` runs every role in one process.
import { parseArgs } from 'node:util';
import { migrateToLatest } from '../adapters/db/migrate.js';
import { createDb } from '../adapters/db/pool.js';
import type { Logger } from 'pino';
import { embeddedUrl } from '../adapters/db/embedded-postgres.js';
import { loadConfig, loadToolConfig, loadVaultToolConfig, processEnv, type Config, type Env, type ToolConfig } from '../config/config.js';
import { runBatchCli, type BatchCliIo } from './batch-cli.js';
import { CliError, describeFailure, exitCodes } from './cli-errors.js';
import { runReconcileCli } from './reconcile-cli.js';
import { runReconcilePullCli } from './reconcile-pull-cli.js';
import { runKeysRotateCli } from './keys-rotate-cli.js';
import { runProgrammeCli } from './programme-cli.js';
import { runDemo } from './demo.js';
import { runKeysCli } from './keys-cli.js';
import { demoKeyFileName, devDataDirForStart, devIssuerJwks, devIssuerKeyFileName, devMasterKey, findDevData, installRoot, mintDevToken, seedDemo } from './dev.js';
import { runLedgerCli } from './ledger-cli.js';
import { runAuditCli } from './audit-cli.js';
import { runCallbacksCli } from './callbacks-cli.js';
import { runPayoutsCli } from './payouts-cli.js';
import { createLogger } from './logger.js';
import { roles, startRuntime, type Role } from './runtime.js';

const usage = `usage: tuma <command> [--dev]
  start       run every role in one process (embedded PostgreSQL and in-process transport
              when DATABASE_URL / KAFKA_BROKERS are unset)
  api | relay | worker | settler | chainer | simulator
              run one role
  ledger verify [--json] [--anchor <seq>:<hash>]...
              recompute the ledger's hash chain and invariants; exit 1 on any problem
  ledger chain
              link every final transfer into the hash chain now
  audit verify [--json] [--anchor <seq>:<hash>]...
              recompute the audit log's hash chain; exit 1 naming the first broken link
  payouts requeue <payoutId>...
              send stuck payouts on again: a flagged one's status checks start over (a resend,
              if any, under the same key); a queued one's dispatch message is republished;
              any other says exactly why not
  payouts held [--after <cursor>] [--limit <n>]
              list the payouts held for finance, with what the provider reported differently
  reconcile import --account <id> --from <date> --to <date> [--format <id@v>] [--good-lines] FILE
              send a provider statement to POST /v1/reconciliations (TUMA_URL, TUMA_TOKEN), with progress
  programme erase|retention …   ask for (or confirm) the erasure of a programme's beneficiary data; set its retention
              (POST /v1/programmes/{id}/erasure[/confirm], PUT …/retention; TUMA_URL, TUMA_TOKEN)
  programme fund --programme <id> --amount <decimal> --currency <CCY> --source <id> --idempotency-key <key>
              record donor money received for a programme (POST /v1/programmes/{id}/fundings)
  keys rotate-master --new-key-file <path> [--old-key-file <path>]…
              rewrap every data key under a new master key (DATABASE_URL, TUMA_MASTER_KEY)
  reconcile pull --account <id> --from <date> --to <date>
              have a GSMA account's statement for a window that has ended pulled and reconciled
              (POST /v1/reconciliations/pull)
  callbacks orphans [--after <id>] [--limit <n>]
              list the callbacks kept for no known payout (provider, key, when; never the body)
  token --dev --org <id> --role <role>[,<role>] [--subject <s>] [--ttl <seconds>]
              (dev mode) print a bearer token from the dev issuer in the Tuma project's .data/
              (the subject defaults to dev-user)
  migrate     apply pending database migrations and exit
  demo        submit a signed demo batch to a running dev instance and follow it
  keys generate --alg ES256|EdDSA|PS256 --out <private.jwk>
              make a signing key pair; prints the public JWK to register
  keys register --role maker|approver --holder <sub> <public.jwk>
              (admin) register a maker's or an approver's public key (POST /v1/signer-keys)
  batch build|sign|submit|approve|status
              build a batch from a CSV, sign or co-sign it, submit it, approve it, follow it
              (\`tuma batch\` alone shows how)
  --dev       dev mode: local master key, provider credentials for the simulator, demo data`;

/** What `tuma` reads and writes: the process's streams, environment and directory (tests pass their own). */
export interface TumaIo extends BatchCliIo {
  /** The working directory: where dev mode's `.data/` is looked for first. */
  readonly cwd: string;
  /** The Tuma project this tuma runs from, where dev mode's `.data/` is looked for next. */
  readonly installRoot: string | null;
  readonly isStderrTTY: boolean;
}

const isDev = (env: Env, dev: boolean) => dev || env.TUMA_DEV_MODE === 'true' || env.TUMA_DEV_MODE === '1';

/** The whole configuration, for `start` and the roles; in dev mode the local key, issuer and data directory are filled in. */
function config(dev: boolean, io: TumaIo): Config {
  const env = { ...io.env };
  if (dev) env.TUMA_DEV_MODE = 'true';
  if (!env.EMBEDDED_DATA_DIR) env.EMBEDDED_DATA_DIR = devDataDirForStart(io);
  if (isDev(env, dev) && !env.TUMA_MASTER_KEY) env.TUMA_MASTER_KEY = devMasterKey(env.EMBEDDED_DATA_DIR);
  if (isDev(env, dev) && !env.AUTH_JWKS && !env.AUTH_JWKS_URL) env.AUTH_JWKS = devIssuerJwks(env.EMBEDDED_DATA_DIR);
  return loadConfig(env);
}

/** What a command beside a running Tuma needs of the configuration (no secret): see ToolConfig. */
function toolConfig(dev: boolean, io: TumaIo): ToolConfig {
  const cfg = loadToolConfig(io.env);
  return dev && !cfg.devMode ? { ...cfg, devMode: true } : cfg;
}

/**
 * The database a command reads: DATABASE_URL, or in dev mode the embedded PostgreSQL of the
 * running dev instance (found as `tuma token` finds its issuer); null: neither.
 */
function withDatabase(cfg: ToolConfig, io: TumaIo): ToolConfig {
  if (cfg.database.url || !cfg.devMode) return cfg;
  const dataDir = findDevData(io, 'pg-password');
  return { ...cfg, database: { ...cfg.database, url: embeddedUrl(dataDir, cfg.database.embeddedPort), embeddedDataDir: dataDir } };
}

/** `tuma <command> [<sub>]`, as failures name the command. */
function commandName(positionals: readonly string[]): string {
  const [command, sub] = positionals;
  const withSub = ['keys', 'batch', 'ledger', 'audit', 'payouts', 'reconcile', 'callbacks'];
  return ['tuma', command, command && withSub.includes(command) && sub && /^[a-z]+$/.test(sub) ? sub : undefined].filter(Boolean).join(' ');
}

/**
 * Runs one `tuma` command and answers its exit code. Never throws: a failure is one sentence on
 * stderr and an exit code (cli-errors.ts), the stack only with TUMA_DEBUG=1.
 */
export async function runCli(argv: readonly string[], io: TumaIo = processIo()): Promise<number> {
  const { positionals } = parseArgs({ args: [...argv], allowPositionals: true, strict: false, options: { dev: { type: 'boolean', default: false }, help: { type: 'boolean', default: false } } });
  try {
    return await dispatch(argv, io);
  } catch (error) {
    const { message, exitCode } = describeFailure(error);
    io.err(`${commandName(positionals)}: ${message}`);
    if (io.env.TUMA_DEBUG === '1' && error instanceof Error && error.stack) io.err(error.stack);
    return exitCode;
  }
}

async function dispatch(argv: readonly string[], io: TumaIo): Promise<number> {
  const { positionals, values } = parseArgs({ args: [...argv], allowPositionals: true, strict: false, options: { dev: { type: 'boolean', default: false }, help: { type: 'boolean', default: false } } });
  const dev = values.dev === true;
  const command = positionals[0];
  const rest = (name: string) => argv.slice(argv.indexOf(name) + 1);
  // Client commands need no configuration, database or broker: they run on a programme manager's machine.
  // An operator's command beside a running Tuma: the vault's master key and the database.
  if (command === 'keys' && positionals[1] === 'rotate-master') {
    // Dev mode has its master key in .data/; otherwise only DATABASE_URL and TUMA_MASTER_KEY are read.
    const vault = dev ? config(dev, io) : loadVaultToolConfig(io.env);
    const cfg = { ...vault, ...withDatabase(vault, io) };
    return runKeysRotateCli(rest('rotate-master'), cfg, createLogger(cfg.logLevel), io.out, io.err);
  }
  if (command === 'keys') return runKeysCli(rest('keys'), io);
  if (command === 'programme') return runProgrammeCli(rest('programme'), io);
  if (command === 'batch') return runBatchCli(rest('batch'), io);
  if (command === 'reconcile' && positionals[1] === 'pull') return runReconcilePullCli(rest('pull'), io);
  if (command === 'reconcile') return runReconcileCli(rest('reconcile'), io);
  if (!command || values.help) {
    (command ? io.out : io.err)(usage);
    return command ? 0 : 2;
  }
  // An auditor's command: DATABASE_URL is all it needs of the configuration (no master key, no issuer).
  if (command === 'audit') {
    const databaseUrl = io.env.DATABASE_URL;
    return runAuditCli(rest('audit'), databaseUrl ? databaseUrl : null, createLogger('warn'), io.out, io.err);
  }
  if (command === 'token') return token(argv, toolConfig(dev, io), io);
  if (command === 'demo') {
    const cfg = toolConfig(dev, io);
    if (!cfg.devMode) throw new CliError('dev mode only (--dev): it signs with the demo maker key of a dev instance', exitCodes.usage);
    const dataDir = findDevData(io, demoKeyFileName);
    const ok = await runDemo(`http://${cfg.http.host}:${cfg.http.port}`, dataDir, io.out);
    return ok ? 0 : 1;
  }
  if (command === 'migrate') {
    const cfg = toolConfig(dev, io);
    if (!cfg.database.url) throw new CliError('needs DATABASE_URL, the database to migrate (`tuma start` applies the migrations itself)', exitCodes.config);
    const handle = createDb(cfg.database.url, 2, createLogger(cfg.logLevel));
    try {
      const applied = await migrateToLatest(handle.db);
      io.out(applied.length > 0 ? `applied ${applied.length} migration${applied.length === 1 ? '' : 's'}: ${applied.join(', ')}` : 'the database is up to date: no migration to apply');
    } finally {
      await handle.close();
    }
    return 0;
  }
  if (command === 'ledger') {
    const cfg = withDatabase(toolConfig(dev, io), io);
    return runLedgerCli(rest('ledger'), cfg, createLogger(cfg.logLevel), io.out);
  }
  if (command === 'payouts') {
    const cfg = withDatabase(toolConfig(dev, io), io);
    return runPayoutsCli(rest('payouts'), cfg, createLogger(cfg.logLevel), io.out, io.err);
  }
  if (command === 'callbacks') {
    const cfg = withDatabase(toolConfig(dev, io), io);
    return runCallbacksCli(rest('callbacks'), cfg, createLogger(cfg.logLevel), io.out, io.err);
  }
  const active: Set<Role> | null = command === 'start' ? new Set(roles) : (roles as readonly string[]).includes(command) ? new Set([command as Role]) : null;
  if (!active) {
    io.err(`tuma: unknown command ${command}\n${usage}`);
    return 2;
  }
  const cfg = config(dev, io);
  if (command !== 'start' && (!cfg.database.url || (!cfg.kafka.brokers && command !== 'simulator'))) {
    io.err('tuma: a single role needs DATABASE_URL and KAFKA_BROKERS (use `tuma start` for the embedded default)');
    return 78;
  }
  const logger = createLogger(cfg.logLevel);
  return serve(cfg, active, logger, io);
}

/**
 * Runs the roles until SIGINT or SIGTERM, then stops them in order within SHUTDOWN_TIMEOUT_MS.
 * The signals are Tuma's from before the start: embedded-postgres installs an exit hook on both
 * (async-exit-hook) that stops its server and calls process.exit(130 or 143) at once, cutting our
 * own stop short and stopping the database under work still in flight. Tuma's stop stops the
 * embedded server last, itself. A second signal ends the process at once.
 */
async function serve(cfg: Config, active: ReadonlySet<Role>, logger: Logger, io: TumaIo): Promise<number> {
  const signalled = takeOverSignals(logger);
  const runtime = await startRuntime(cfg, active, logger);
  if (cfg.devMode) await seedDemo(runtime.persistence, cfg.database.embeddedDataDir, logger);
  logger.info({ api: runtime.apiUrl, simulator: runtime.simulatorUrl, roles: [...active] }, 'tuma is running');
  if (runtime.apiUrl) io.out(`Tuma API listening on ${runtime.apiUrl}${cfg.devMode ? ` (dev mode, keys and tokens in ${cfg.database.embeddedDataDir}: try \`npm run demo\` in another terminal)` : ''}`);
  const signal = await signalled;
  logger.info({ signal }, 'shutting down: intake stops, in-flight work finishes');
  const timer = setTimeout(() => {
    logger.fatal({ timeoutMs: cfg.limits.shutdownTimeoutMs }, 'shutdown timed out; exiting');
    process.exit(1);
  }, cfg.limits.shutdownTimeoutMs);
  timer.unref();
  await runtime.stop();
  logger.info('stopped');
  return 0;
}

/** Token lifetimes `tuma token` accepts: a dev convenience, still short-lived. */
const tokenTtlMaxSeconds = 24 * 3600;

async function token(argv: readonly string[], cfg: ToolConfig, io: TumaIo): Promise<number> {
  if (!cfg.devMode) {
    io.err('tuma token: dev mode only (--dev): it signs with the local issuer of `npm start`; outside dev mode tokens come from your identity provider');
    return 2;
  }
  let values: { org?: string; role?: string; subject?: string; ttl?: string };
  try {
    ({ values } = parseArgs({
      args: [...argv.slice(argv.indexOf('token') + 1)],
      options: { org: { type: 'string' }, role: { type: 'string' }, subject: { type: 'string', default: 'dev-user' }, ttl: { type: 'string', default: '3600' }, dev: { type: 'boolean' } },
    }));
  } catch (error) {
    throw new CliError(`${(error as Error).message}\n${tokenUsage}`, exitCodes.usage);
  }
  const ttl = Number(values.ttl);
  if (!values.org || !values.role || !Number.isInteger(ttl) || ttl < 1 || ttl > tokenTtlMaxSeconds) {
    io.err(tokenUsage);
    return 2;
  }
  const dataDir = findDevData(io, devIssuerKeyFileName);
  const subject = values.subject ?? 'dev-user';
  const roleList = values.role.split(',');
  const jwt = await mintDevToken(dataDir, { subject, organisationId: values.org, roles: roleList, ttlSeconds: ttl });
  io.out(jwt);
  io.err(`tuma token: a token for ${subject} in ${values.org} as ${roleList.join(', ')}, valid ${ttl} s, from the dev issuer in ${dataDir}`);
  return 0;
}

const tokenUsage = `usage: tuma token --dev --org <id> --role <role>[,<role>] [--subject <s>, default dev-user] [--ttl 1..${tokenTtlMaxSeconds}]`;

/** The real process: its streams, environment and working directory. */
export function processIo(): TumaIo {
  return {
    out: (l) => process.stdout.write(`${l}\n`),
    err: (l) => process.stderr.write(`${l}\n`),
    write: (t) => process.stdout.write(t),
    env: processEnv(),
    isTTY: process.stdout.isTTY === true,
    isStderrTTY: process.stderr.isTTY === true,
    fetch: globalThis.fetch,
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
    now: () => new Date(),
    cwd: process.cwd(),
    installRoot: installRoot(),
  };
}

/** Resolves with the first SIGINT or SIGTERM; the listeners others put on them are removed (see serve). */
function takeOverSignals(logger: Logger): Promise<NodeJS.Signals> {
  const signals = ['SIGINT', 'SIGTERM'] as const;
  for (const s of signals) process.removeAllListeners(s);
  return new Promise((resolve) => {
    let received = false;
    const on = (signal: NodeJS.Signals) => {
      if (!received) {
        received = true;
        resolve(signal);
        return;
      }
      logger.warn({ signal }, 'a second signal: exiting now, without waiting for the stop');
      process.exit(signal === 'SIGINT' ? 130 : 143);
    };
    for (const s of signals) process.on(s, on);
  });
}

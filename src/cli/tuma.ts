// The `tuma` command: one codebase, several roles. `tuma start` runs every role in one process.
import { parseArgs } from 'node:util';
import { migrateToLatest } from '../adapters/db/migrate.js';
import { createDb } from '../adapters/db/pool.js';
import { ConfigError, loadConfig, processEnv, type Config } from '../config/config.js';
import { runBatchCli, type BatchCliIo } from './batch-cli.js';
import { runReconcileCli } from './reconcile-cli.js';
import { runReconcilePullCli } from './reconcile-pull-cli.js';
import { runDemo } from './demo.js';
import { runKeysCli } from './keys-cli.js';
import { devIssuerJwks, devMasterKey, mintDevToken, seedDemo } from './dev.js';
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
  reconcile pull --account <id> --from <date> --to <date>
              have a GSMA account's statement for a window that has ended pulled and reconciled
              (POST /v1/reconciliations/pull)
  callbacks orphans [--after <id>] [--limit <n>]
              list the callbacks kept for no known payout (provider, key, when; never the body)
  token --org <id> --role <role>[,<role>] [--subject <s>] [--ttl <seconds>]
              (dev mode) print a bearer token from the local dev issuer
  migrate     apply pending database migrations and exit
  demo        submit a signed demo batch to a running dev instance and follow it
  keys generate --alg ES256|EdDSA|PS256 --out <private.jwk>
              make a signing key pair; prints the public JWK to register
  batch build|sign|submit|approve|status
              build a batch from a CSV, sign or co-sign it, submit it, approve it, follow it
              (\`tuma batch\` alone shows how)
  --dev       dev mode: local master key, provider credentials for the simulator, demo data`;

function config(dev: boolean): Config {
  const env = { ...processEnv() };
  if (dev) env.TUMA_DEV_MODE = 'true';
  if ((env.TUMA_DEV_MODE === 'true' || env.TUMA_DEV_MODE === '1') && !env.TUMA_MASTER_KEY) {
    env.TUMA_MASTER_KEY = devMasterKey(env.EMBEDDED_DATA_DIR || '.data');
  }
  if ((env.TUMA_DEV_MODE === 'true' || env.TUMA_DEV_MODE === '1') && !env.AUTH_JWKS && !env.AUTH_JWKS_URL) {
    env.AUTH_JWKS = devIssuerJwks(env.EMBEDDED_DATA_DIR || '.data');
  }
  return loadConfig(env);
}

export async function runCli(argv: readonly string[]): Promise<number> {
  const { positionals, values } = parseArgs({ args: [...argv], allowPositionals: true, strict: false, options: { dev: { type: 'boolean', default: false }, help: { type: 'boolean', default: false } } });
  const dev = values.dev === true;
  const command = positionals[0];
  // Client commands need no configuration, database or broker: they run on a programme manager's machine.
  if (command === 'keys') return runKeysCli(argv.slice(argv.indexOf('keys') + 1), { out: (l) => process.stdout.write(`${l}\n`), err: (l) => process.stderr.write(`${l}\n`) });
  if (command === 'batch') return runBatchCli(argv.slice(argv.indexOf('batch') + 1), processBatchIo());
  if (command === 'reconcile' && positionals[1] === 'pull') return runReconcilePullCli(argv.slice(argv.indexOf('pull') + 1), processBatchIo());
  if (command === 'reconcile') return runReconcileCli(argv.slice(argv.indexOf('reconcile') + 1), { ...processBatchIo(), isStderrTTY: process.stderr.isTTY === true });
  if (!command || values.help) {
    process.stdout.write(`${usage}\n`);
    return command ? 0 : 2;
  }
  // An auditor's command: DATABASE_URL is all it needs of the configuration (no master key, no issuer).
  if (command === 'audit') {
    const databaseUrl = processEnv().DATABASE_URL;
    return runAuditCli(argv.slice(argv.indexOf('audit') + 1), databaseUrl ? databaseUrl : null, createLogger('warn'), (l) => process.stdout.write(`${l}\n`), (l) => process.stderr.write(`${l}\n`));
  }
  let cfg: Config;
  try {
    cfg = config(dev);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`tuma: ${error.message}\n`);
      return 78; // EX_CONFIG
    }
    throw error;
  }
  const logger = createLogger(cfg.logLevel);

  if (command === 'migrate') {
    if (!cfg.database.url) throw new Error('tuma migrate needs DATABASE_URL (start applies migrations itself)');
    const handle = createDb(cfg.database.url, 2, logger);
    try {
      const applied = await migrateToLatest(handle.db);
      logger.info({ applied }, applied.length > 0 ? 'migrations applied' : 'database is up to date');
    } finally {
      await handle.close();
    }
    return 0;
  }
  if (command === 'ledger') {
    return runLedgerCli(argv.slice(argv.indexOf('ledger') + 1), cfg, logger, (l) => process.stdout.write(`${l}\n`));
  }
  if (command === 'token') return token(argv, cfg);
  if (command === 'payouts') {
    return runPayoutsCli(argv.slice(argv.indexOf('payouts') + 1), cfg, logger, (l) => process.stdout.write(`${l}\n`), (l) => process.stderr.write(`${l}\n`));
  }
  if (command === 'callbacks') {
    return runCallbacksCli(argv.slice(argv.indexOf('callbacks') + 1), cfg, logger, (l) => process.stdout.write(`${l}\n`), (l) => process.stderr.write(`${l}\n`));
  }
  if (command === 'demo') {
    const ok = await runDemo(`http://${cfg.http.host}:${cfg.http.port}`, cfg.database.embeddedDataDir, (l) => process.stdout.write(`${l}\n`));
    return ok ? 0 : 1;
  }
  const active: Set<Role> | null = command === 'start' ? new Set(roles) : (roles as readonly string[]).includes(command) ? new Set([command as Role]) : null;
  if (!active) {
    process.stderr.write(`tuma: unknown command ${command}\n${usage}\n`);
    return 2;
  }
  if (command !== 'start' && (!cfg.database.url || (!cfg.kafka.brokers && command !== 'simulator'))) {
    process.stderr.write('tuma: a single role needs DATABASE_URL and KAFKA_BROKERS (use `tuma start` for the embedded default)\n');
    return 78;
  }
  const runtime = await startRuntime(cfg, active, logger);
  if (cfg.devMode) await seedDemo(runtime.persistence, cfg.database.embeddedDataDir, logger);
  logger.info({ api: runtime.apiUrl, simulator: runtime.simulatorUrl, roles: [...active] }, 'tuma is running');
  if (runtime.apiUrl) process.stdout.write(`Tuma API listening on ${runtime.apiUrl}${cfg.devMode ? ' (dev mode: try `npm run demo` in another terminal)' : ''}\n`);
  await waitForSignal();
  logger.info('shutting down: intake stops, in-flight work finishes');
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

async function token(argv: readonly string[], cfg: Config): Promise<number> {
  if (!cfg.devMode) {
    process.stderr.write('tuma token: dev mode only; production tokens come from your identity provider\n');
    return 2;
  }
  const { values } = parseArgs({
    args: [...argv.slice(argv.indexOf('token') + 1)],
    options: { org: { type: 'string' }, role: { type: 'string' }, subject: { type: 'string', default: 'dev-user' }, ttl: { type: 'string', default: '3600' }, dev: { type: 'boolean' } },
  });
  const ttl = Number(values.ttl);
  if (!values.org || !values.role || !Number.isInteger(ttl) || ttl < 1 || ttl > tokenTtlMaxSeconds) {
    process.stderr.write(`usage: tuma token --dev --org <id> --role <role>[,<role>] [--subject <s>] [--ttl 1..${tokenTtlMaxSeconds}]\n`);
    return 2;
  }
  const jwt = await mintDevToken(cfg.database.embeddedDataDir, { subject: values.subject ?? 'dev-user', organisationId: values.org, roles: values.role.split(','), ttlSeconds: ttl });
  process.stdout.write(`${jwt}\n`);
  return 0;
}

function processBatchIo(): BatchCliIo {
  return {
    out: (l) => process.stdout.write(`${l}\n`),
    err: (l) => process.stderr.write(`${l}\n`),
    write: (t) => process.stdout.write(t),
    env: processEnv(),
    isTTY: process.stdout.isTTY === true,
    fetch: globalThis.fetch,
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
    now: () => new Date(),
  };
}

function waitForSignal(): Promise<void> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
}

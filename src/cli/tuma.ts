// The `tuma` command: one codebase, several roles. `tuma start` runs every role in one process.
import { parseArgs } from 'node:util';
import { migrateToLatest } from '../adapters/db/migrate.js';
import { createDb } from '../adapters/db/pool.js';
import { ConfigError, loadConfig, processEnv, type Config } from '../config/config.js';
import { runDemo } from './demo.js';
import { devMasterKey, seedDemo } from './dev.js';
import { createLogger } from './logger.js';
import { roles, startRuntime, type Role } from './runtime.js';

const usage = `usage: tuma <command> [--dev]
  start       run every role in one process (embedded PostgreSQL and in-process transport
              when DATABASE_URL / KAFKA_BROKERS are unset)
  api | relay | worker | settler | simulator
              run one role
  migrate     apply pending database migrations and exit
  demo        submit a signed demo batch to a running dev instance and follow it
  --dev       dev mode: local master key, provider credentials for the simulator, demo data`;

function config(dev: boolean): Config {
  const env = { ...processEnv() };
  if (dev) env.TUMA_DEV_MODE = 'true';
  if ((env.TUMA_DEV_MODE === 'true' || env.TUMA_DEV_MODE === '1') && !env.TUMA_MASTER_KEY) {
    env.TUMA_MASTER_KEY = devMasterKey(env.EMBEDDED_DATA_DIR || '.data');
  }
  return loadConfig(env);
}

export async function runCli(argv: readonly string[]): Promise<number> {
  const { positionals, values } = parseArgs({ args: [...argv], allowPositionals: true, options: { dev: { type: 'boolean', default: false }, help: { type: 'boolean', default: false } } });
  const command = positionals[0];
  if (!command || values.help) {
    process.stdout.write(`${usage}\n`);
    return command ? 0 : 2;
  }
  let cfg: Config;
  try {
    cfg = config(values.dev);
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

function waitForSignal(): Promise<void> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
}

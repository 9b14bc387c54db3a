// Starts Tuma's real runtime (every role) against the test database and, optionally, the real Kafka broker.
import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { startRuntime, roles, type Runtime } from '../../src/cli/runtime.js';
import { loadConfig, type Config } from '../../src/config/config.js';
import { testAuthEnv } from './auth.js';
import { kafkaBrokers } from './database.js';
import { net } from './net.js';

export type TransportKind = 'kafka' | 'in-process';

export async function testConfig(databaseUrl: string, transport: TransportKind, extra: Record<string, string> = {}): Promise<Config> {
  const simulatorPort = extra.SIMULATOR_PORT ? Number(extra.SIMULATOR_PORT) : await net.freePort();
  return loadConfig({
    TUMA_DEV_MODE: 'true',
    TUMA_MASTER_KEY: randomBytes(32).toString('base64'),
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    DATABASE_URL: databaseUrl,
    DATABASE_POOL_MAX: '10',
    HTTP_PORT: String(await net.freePort()),
    SIMULATOR_PORT: String(simulatorPort),
    // An accounts file configures every provider itself (MPESA_* beside it is refused).
    ...(extra.PROVIDERS_FILE ? {} : { MPESA_BASE_URL: `http://127.0.0.1:${simulatorPort}` }),
    SIMULATOR_CALLBACK_DELAY_MS: '10',
    METRICS_PORT: '0',
    RELAY_POLL_INTERVAL_MS: '50',
    LEDGER_CHAIN_INTERVAL_MS: '50',
    ...testAuthEnv,
    ...(transport === 'kafka' ? { KAFKA_BROKERS: kafkaBrokers(), KAFKA_TOPIC_PREFIX: `t${randomBytes(4).toString('hex')}.` } : {}),
    ...extra,
  });
}

export async function startTestRuntime(config: Config): Promise<Runtime> {
  return startRuntime(config, new Set(roles), pino({ level: config.logLevel }));
}

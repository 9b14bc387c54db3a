// The composition root: builds the adapters a set of roles needs, starts them, and stops them
// in order (intake first, then in-flight work, then consumers, transport and the pool).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import type { Logger } from 'pino';
import { executePayout } from '../application/execute-payout.js';
import { allTopics, topicNames, type Topics } from '../application/messages.js';
import type { Persistence, Subscription, Transport } from '../application/ports.js';
import { startRelay } from '../application/relay.js';
import { settleResult } from '../application/settle-result.js';
import type { Config } from '../config/config.js';
import { AesGcmVault } from '../adapters/crypto/vault.js';
import { parseAllowList } from '../adapters/http/callback-auth.js';
import type { Db } from '../adapters/db/database.js';
import { startEmbeddedPostgres } from '../adapters/db/embedded-postgres.js';
import { migrateToLatest } from '../adapters/db/migrate.js';
import { kyselyPersistence } from '../adapters/db/persistence.js';
import { createDb, databaseReady } from '../adapters/db/pool.js';
import { createApp } from '../adapters/http/app.js';
import { createAuthenticator } from '../adapters/http/auth.js';
import { startExpirer } from '../application/expire-batches.js';
import { startChainer } from '../application/ledger-chain.js';
import { createKafkaTransport } from '../adapters/kafka/kafka-transport.js';
import { GuardedProvider } from '../adapters/providers/guarded-provider.js';
import { MpesaClient } from '../adapters/providers/mpesa/mpesa-client.js';
import { createInProcessTransport } from '../adapters/transport/in-process-transport.js';
import { createMpesaSimulator, type MpesaSimulator } from '../simulator/mpesa-simulator.js';
import { createMomoSimulator, type MomoSimulator } from '../simulator/momo-simulator.js';
import { MomoClient } from '../adapters/providers/mtn-momo/momo-client.js';
import type { ProviderId } from '../domain/providers.js';

export const roles = ['api', 'relay', 'worker', 'settler', 'chainer', 'simulator'] as const;
export type Role = (typeof roles)[number];

export interface Runtime {
  readonly db: Db;
  readonly persistence: Persistence;
  readonly transport: Transport;
  readonly topics: Topics;
  readonly apiUrl: string | null;
  readonly simulatorUrl: string | null;
  readonly simulator: MpesaSimulator | null;
  /** The MTN MoMo simulator, when MoMo is configured to use it (dev mode). */
  readonly momoSimulator: MomoSimulator | null;
  readonly mpesa: GuardedProvider | null;
  stop(): Promise<void>;
}

async function listen(app: express.Express, host: string, port: number): Promise<{ server: http.Server; url: string }> {
  const server = http.createServer(app);
  server.headersTimeout = 30_000;
  server.requestTimeout = 120_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  return { server, url: `http://${host}:${address.port}` };
}

const closeServer = (server: http.Server) =>
  new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
  });

export async function startRuntime(config: Config, active: ReadonlySet<Role>, logger: Logger): Promise<Runtime> {
  const stops: (() => Promise<void>)[] = []; // run in reverse order of start
  const stopAll = async () => {
    for (const stop of stops.reverse()) {
      try {
        await stop();
      } catch (error) {
        logger.error({ err: error }, 'shutdown step failed');
      }
    }
  };
  try {
    let databaseUrl = config.database.url;
    if (!databaseUrl) {
      const embedded = await startEmbeddedPostgres(config.database.embeddedDataDir, config.database.embeddedPort, logger);
      stops.push(() => embedded.stop());
      databaseUrl = embedded.url;
      logger.info({ dataDir: config.database.embeddedDataDir }, 'using the embedded PostgreSQL');
    }
    const handle = createDb(databaseUrl, config.database.poolMax, logger);
    stops.push(() => handle.close());
    const applied = await migrateToLatest(handle.db);
    if (applied.length > 0) logger.info({ applied }, 'migrations applied');

    const topics = topicNames(config.kafka.topicPrefix);
    const transport = config.kafka.brokers
      ? await createKafkaTransport({ brokers: config.kafka.brokers, clientId: config.kafka.clientId, topics: allTopics(topics), logger })
      : createInProcessTransport(logger);
    stops.push(() => transport.close());
    logger.info({ transport: config.kafka.brokers ? 'kafka' : 'in-process' }, 'transport ready');

    const persistence = kyselyPersistence(handle.db, handle.pool);
    const vault = new AesGcmVault(handle.db, config.crypto.masterKey, { sealThreads: config.crypto.sealThreads });
    stops.push(() => vault.close());

    let simulator: MpesaSimulator | null = null;
    let momoSimulator: MomoSimulator | null = null;
    let simulatorUrl: string | null = null;
    if (active.has('simulator')) {
      simulator = createMpesaSimulator({ ...config.providers.mpesa, callbackDelayMs: config.simulator.callbackDelayMs, logger });
      const app = express();
      app.disable('x-powered-by');
      app.use(simulator.router);
      // Fault injection, execution counts and statements (localhost only: the simulator listens on 127.0.0.1).
      app.use('/__control/mpesa', simulator.controlRouter);
      // MoMo's paths (/disbursement/...) do not collide with Daraja's: one simulator address serves both.
      const momo = config.providers.momo;
      if (momo) {
        momoSimulator = createMomoSimulator({ ...momo, callbackDelayMs: config.simulator.callbackDelayMs, requireUuidV4: true, logger });
        app.use(momoSimulator.router);
        app.use('/__control/mtn-momo', momoSimulator.controlRouter);
      }
      const { server, url } = await listen(app, '127.0.0.1', config.simulator.port);
      const sim = simulator;
      const momoSim = momoSimulator;
      stops.push(async () => {
        sim.close();
        momoSim?.close();
        await closeServer(server);
      });
      simulatorUrl = url;
    }

    const subscriptions: Subscription[] = [];
    stops.push(async () => {
      await Promise.all(subscriptions.map((s) => s.stop()));
    });

    let apiUrl: string | null = null;
    let apiServer: http.Server | null = null;
    if (active.has('api')) {
      const app = createApp({
        persistence,
        vault,
        batchPayoutsMax: config.limits.batchPayoutsMax,
        now: () => new Date(),
        bodyMaxBytes: config.http.bodyMaxBytes,
        logger: logger.child({ role: 'api' }),
        readiness: async () => ({ database: await databaseReady(handle.pool, 2_000), transport: await transport.ready() }),
        authenticate: createAuthenticator(config.auth),
        callbackAllowLists: { ...(config.providers.mpesa.callbackAllowList ? { mpesa: allowListOf(config.providers.mpesa.callbackAllowList) } : {}) },
      });
      const { server, url } = await listen(app, config.http.host, config.http.port);
      apiServer = server;
      apiUrl = url;
    }

    const publicBaseUrl = config.http.publicBaseUrl ?? apiUrl ?? `http://${config.http.host}:${config.http.port}`;

    let mpesa: GuardedProvider | null = null;
    if (active.has('worker')) {
      // One guarded adapter (its own breaker) and one consumer group per configured provider.
      const breaker = { timeoutMs: config.limits.providerTimeoutMs, ...config.breaker };
      mpesa = new GuardedProvider(new MpesaClient(config.providers.mpesa, config.limits.providerTimeoutMs, logger), breaker, logger);
      const providers: Partial<Record<ProviderId, GuardedProvider>> = { mpesa };
      const momo = config.providers.momo;
      if (momo) providers['mtn-momo'] = new GuardedProvider(new MomoClient({ ...momo, timeoutMs: config.limits.providerTimeoutMs }, logger), breaker, logger);
      const deps = { persistence, vault, transport, topics, providers, publicBaseUrl, logger: logger.child({ role: 'worker' }) };
      for (const [id, provider] of Object.entries(providers) as [ProviderId, GuardedProvider][]) {
        stops.push(async () => provider.shutdown());
        subscriptions.push(
          await transport.subscribe({
            topic: topics.dispatch(id),
            groupId: `${config.kafka.topicPrefix}tuma-worker-${id}`,
            concurrency: config.limits.workerConcurrencyMax,
            handle: (d) => executePayout(deps, d),
          }),
        );
      }
    }
    if (active.has('settler')) {
      const deps = { persistence, transport, topics, logger: logger.child({ role: 'settler' }) };
      subscriptions.push(
        await transport.subscribe({
          topic: topics.results,
          groupId: `${config.kafka.topicPrefix}tuma-settler`,
          concurrency: config.limits.workerConcurrencyMax,
          handle: async (d) => {
            await settleResult(deps, d);
          },
        }),
      );
    }
    if (active.has('relay')) {
      const relay = startRelay({ persistence, transport, topics, chunkMax: config.limits.relayChunkMax, logger: logger.child({ role: 'relay' }) }, config.limits.relayPollIntervalMs);
      stops.push(() => relay.stop());
      // Housekeeping of the same kind: batches whose approvals never came are rejected.
      const expirer = startExpirer(persistence, config.limits.batchExpiryIntervalMs, logger.child({ role: 'relay' }));
      stops.push(() => expirer.stop());
    }

    if (active.has('chainer')) {
      const chainer = startChainer(persistence, config.ledger.chainIntervalMs, logger.child({ role: 'chainer' }));
      stops.push(() => chainer.stop());
    }

    if (apiServer) {
      const server = apiServer;
      // Stopping intake comes first at shutdown: it is pushed last.
      stops.push(() => closeServer(server));
    }
    return { db: handle.db, persistence, transport, topics, apiUrl, simulatorUrl, simulator, momoSimulator, mpesa, stop: stopAll };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/** An allow-list the configuration already validated. */
function allowListOf(text: string): (address: string | undefined) => boolean {
  const parsed = parseAllowList(text);
  if (!parsed.ok) throw new Error(`invariant violated: the configuration validated the allow-list (${parsed.problems.join('; ')})`);
  return parsed.allows;
}

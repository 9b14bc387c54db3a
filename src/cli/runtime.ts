// The composition root: builds the adapters a set of roles needs, starts them, and stops them
// in order (intake first, then in-flight work, then consumers, transport and the pool).
import { existsSync } from 'node:fs';
import path from 'node:path';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import type { Logger } from 'pino';
import { executePayout } from '../application/execute-payout.js';
import { allTopics, encode, topicNames, type Topics } from '../application/messages.js';
import type { Persistence, Subscription, Transport } from '../application/ports.js';
import { recoverInProcessWork, startRelay } from '../application/relay.js';
import { settleResults } from '../application/settle-result.js';
import { startStatusPoller } from '../application/poll-status.js';
import type { Config } from '../config/config.js';
import { AesGcmVault } from '../adapters/crypto/vault.js';
import { parseAllowList, sourceBudget } from '../adapters/http/callback-auth.js';
import { startOrphanPurger } from '../application/record-callback.js';
import type { Db } from '../adapters/db/database.js';
import { startEmbeddedPostgres } from '../adapters/db/embedded-postgres.js';
import { migrateToLatest } from '../adapters/db/migrate.js';
import { kyselyPersistence } from '../adapters/db/persistence.js';
import { createDb, databaseReady } from '../adapters/db/pool.js';
import { statementStore } from '../adapters/db/reconciliation.repository.js';
import { reconciliationReads } from '../adapters/db/reconciliation-reads.js';
import { statementReaders } from '../adapters/statement-readers/index.js';
import { gsmaStatementSource } from '../adapters/providers/gsma/gsma-statement-source.js';
import { erasureStore } from '../adapters/db/erasure.repository.js';
import { operationsReads, queueReads } from '../adapters/db/operations-reads.js';
import { breakerHoldStore } from '../adapters/db/breaker-hold.repository.js';
import { startHoldFollower } from '../application/breaker-holds.js';
import { startCallsInFlightReporter } from '../application/calls-in-flight.js';
import { callsInFlightStore } from '../adapters/db/calls-in-flight.repository.js';
import { breakerAuditor, recordStart } from '../application/system-audit.js';
import { startRecordOf } from './start-record.js';
import { hostname } from 'node:os';
import { defaultStatementFormat } from '../domain/statement-formats.js';
import type { CurrencyCode } from '../domain/currency.js';
import { overdueReconciliations } from '../application/reconciliation-report.js';
import { createApiHandler, type ApiHandler } from '../adapters/http/app.js';
import { createAuthenticator } from '../adapters/http/auth.js';
import type { ConsoleDeps } from '../adapters/http/console.js';
import { devAuth, limitsMax } from '../config/config.js';
import { workerWindowOf } from '../config/worker-window.js';
import { devIssuerKeyFileName, installRoot, mintDevToken } from './dev.js';
import { startExpirer } from '../application/expire-batches.js';
import { startChainer } from '../application/ledger-chain.js';
import { createKafkaTransport } from '../adapters/kafka/kafka-transport.js';
import { shareOf } from '../adapters/providers/call-limiter.js';
import { GuardedProvider } from '../adapters/providers/guarded-provider.js';
import { MpesaClient } from '../adapters/providers/mpesa/mpesa-client.js';
import { createInProcessTransport } from '../adapters/transport/in-process-transport.js';
import { createMpesaSimulator, type MpesaSimulator } from '../simulator/mpesa-simulator.js';
import { createMomoSimulator, type MomoSimulator } from '../simulator/momo-simulator.js';
import { createGsmaSimulator, type GsmaSimulator } from '../simulator/gsma-simulator.js';
import { MomoClient } from '../adapters/providers/mtn-momo/momo-client.js';
import type { ProviderId } from '../domain/providers.js';
import { routesFor, type ProviderAccount } from '../config/provider-accounts.js';
import { providerDirectory } from '../adapters/providers/directory.js';
import { createMetrics, serveMetrics } from '../adapters/metrics/metrics.js';
import { providerTokenStore } from '../adapters/db/provider-tokens.repository.js';
import type { SharedTokenStore } from '../adapters/providers/token-cache.js';
import { GsmaClient, gsmaClientSettings } from '../adapters/providers/gsma/gsma-client.js';
import { GsmaBulkProvider } from '../adapters/providers/gsma/gsma-bulk-provider.js';
import { gsmaBatchIndex } from '../adapters/db/gsma-batch-index.repository.js';
import { AirtelClient } from '../adapters/providers/airtel/airtel-client.js';
import { createAirtelSimulator, type AirtelSimulator } from '../simulator/airtel-simulator.js';
import type { BeneficiaryVault, PayoutProvider, ProviderAdapter, ProviderDirectory } from '../application/ports.js';

export const roles = ['api', 'relay', 'worker', 'settler', 'chainer', 'simulator'] as const;
export type Role = (typeof roles)[number];

export interface Runtime {
  readonly db: Db;
  readonly persistence: Persistence;
  /** Seals and opens beneficiary data (tests that drive a use case directly need it). */
  readonly vault: BeneficiaryVault;
  readonly transport: Transport;
  readonly topics: Topics;
  readonly apiUrl: string | null;
  readonly simulatorUrl: string | null;
  readonly simulator: MpesaSimulator | null;
  /** The MTN MoMo simulator, when MoMo is configured to use it (dev mode). */
  readonly momoSimulator: MomoSimulator | null;
  /** The GSMA MM API simulator (under /gsma of the simulator address), when the simulator role runs. */
  readonly gsmaSimulator: GsmaSimulator | null;
  /** The Airtel simulator (under /airtel), when an Airtel account is configured and the simulator role runs. */
  readonly airtelSimulator: AirtelSimulator | null;
  /** The first M-Pesa account's guarded adapter, when the worker role runs. */
  readonly mpesa: GuardedProvider | null;
  /** Every provider account's guarded adapter, when the worker role runs. */
  readonly providers: ProviderDirectory | null;
  /** Where this process serves its Prometheus metrics, when enabled. */
  readonly metricsUrl: string | null;
  stop(): Promise<void>;
}

async function listen(app: ApiHandler | express.Express, host: string, port: number): Promise<{ server: http.Server; url: string }> {
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

/** Where the built web console is: dist/console of the Tuma project this code runs from (`npm run build` makes it). */
export function defaultConsoleDir(): string | null {
  const root = installRoot();
  return root ? path.join(root, 'dist', 'console') : null;
}

/**
 * The web console's sign-in: in dev mode, when the API trusts the dev issuer whose key is in the
 * data directory, tokens minted as `tuma token --dev` does; OIDC through the issuer when configured.
 */
export function consoleDeps(config: Config, dir: string | null): ConsoleDeps {
  const dataDir = config.database.embeddedDataDir;
  const devIssuer = config.devMode && config.auth.issuer === devAuth.issuer && existsSync(path.join(dataDir, devIssuerKeyFileName));
  return {
    dir,
    devSignIn: devIssuer ? (claims) => mintDevToken(dataDir, claims) : null,
    oidc: config.auth.consoleOidc ? { issuer: config.auth.issuer, ...config.auth.consoleOidc } : null,
  };
}

export interface RuntimeOptions {
  /** The built web console to serve at /console (default: defaultConsoleDir()). */
  readonly consoleDir?: string | null;
}

export async function startRuntime(config: Config, active: ReadonlySet<Role>, logger: Logger, options: RuntimeOptions = {}): Promise<Runtime> {
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
    // Migrations as the owner, on their own connection; the processes' pool runs as the app role.
    const owner = createDb(databaseUrl, 1, logger);
    try {
      const applied = await migrateToLatest(owner.db);
      if (applied.length > 0) logger.info({ applied }, 'migrations applied');
    } finally {
      await owner.close();
    }
    const handle = createDb(databaseUrl, config.database.poolMax, logger, config.database.appRole ? { role: config.database.appRole } : {});
    stops.push(() => handle.close());

    const topics = topicNames(config.kafka.topicPrefix);
    const transport = config.kafka.brokers
      ? await createKafkaTransport({ brokers: config.kafka.brokers, clientId: config.kafka.clientId, topics: allTopics(topics), partitions: config.kafka.topicPartitions, sessionTimeoutMs: config.kafka.sessionTimeoutMs, rebalanceTimeoutMs: drainTimeoutMs(config), logger })
      : createInProcessTransport(logger);
    stops.push(() => transport.close());
    logger.info({ transport: config.kafka.brokers ? 'kafka' : 'in-process' }, 'transport ready');

    const persistence = kyselyPersistence(handle.db, handle.pool);
    // The configuration this process starts with, and its provider accounts, in the audit log when they changed.
    const recorded = await recordStart(persistence, startRecordOf(config, [...active]));
    if (recorded.configuration === 'recorded' || Object.values(recorded.accounts).some((ids) => ids.length > 0)) logger.info(recorded, 'configuration changes recorded in the audit log');
    const holds = breakerHoldStore(handle.db);
    const metrics = createMetrics();
    const vault = new AesGcmVault(handle.db, config.crypto.masterKey, { sealThreads: config.crypto.sealThreads });
    stops.push(() => vault.close());

    let simulator: MpesaSimulator | null = null;
    let momoSimulator: MomoSimulator | null = null;
    let gsmaSimulator: GsmaSimulator | null = null;
    let airtelSimulator: AirtelSimulator | null = null;
    let simulatorUrl: string | null = null;
    if (active.has('simulator')) {
      // The simulator accepts the credentials of the first account of each provider (dev and tests).
      const mpesaAccount = firstAccount(config.providers.accounts, 'mpesa');
      simulator = createMpesaSimulator({
        consumerKey: mpesaAccount?.settings.consumerKey ?? 'dev-consumer-key',
        consumerSecret: mpesaAccount?.settings.consumerSecret ?? 'dev-consumer-secret',
        callbackDelayMs: config.simulator.callbackDelayMs,
        logger,
      });
      const app = express();
      app.disable('x-powered-by');
      app.use(simulator.router);
      // Fault injection, execution counts and statements (localhost only: the simulator listens on 127.0.0.1).
      app.use('/__control/mpesa', simulator.controlRouter);
      // MoMo's paths (/disbursement/...) do not collide with Daraja's: one simulator address serves both.
      const momo = firstAccount(config.providers.accounts, 'mtn-momo');
      if (momo) {
        momoSimulator = createMomoSimulator({ ...momo.settings, currency: momo.currency, callbackDelayMs: config.simulator.callbackDelayMs, requireUuidV4: true, logger });
        app.use(momoSimulator.router);
        app.use('/__control/mtn-momo', momoSimulator.controlRouter);
      }
      // GSMA's paths (/transactions/..., /oauth/accesstoken) are generic: they live under /gsma, so a
      // GSMA account points its baseUrl at <simulator>/gsma.
      const gsma = firstAccount(config.providers.accounts, 'gsma');
      const gsmaSim = createGsmaSimulator({
        consumerKey: gsma?.settings.consumerKey ?? 'dev-gsma-key',
        consumerSecret: gsma?.settings.consumerSecret ?? 'dev-gsma-secret',
        ...(gsma?.settings.apiKey ? { apiKey: gsma.settings.apiKey } : {}),
        // The dev simulator insists on what the first GSMA account is configured to send.
        ...(gsma?.settings.clientId ? { clientId: gsma.settings.clientId } : {}),
        ...(gsma?.settings.disbursementForm ? { disbursementForm: gsma.settings.disbursementForm } : {}),
        ...(gsma?.settings.dateHeader && gsma.settings.dateHeader !== 'none' ? { requireDate: gsma.settings.dateHeader } : {}),
        ...(gsma?.settings.bulk ? { bulkApproval: gsma.settings.bulk.approval } : {}),
        callbackDelayMs: config.simulator.callbackDelayMs,
        logger,
      });
      gsmaSimulator = gsmaSim;
      app.use('/gsma', gsmaSim.router);
      app.use('/__control/gsma', gsmaSim.controlRouter);
      // Airtel: one market per simulator, the first Airtel account's; it posts callbacks to the one
      // URL an Airtel application registers, signed with the account's secret in hmac mode.
      const airtel = firstAccount(config.providers.accounts, 'airtel');
      if (airtel) {
        const apiBase = config.http.publicBaseUrl ?? `http://${config.http.host}:${config.http.port}`;
        airtelSimulator = createAirtelSimulator({
          clientId: airtel.settings.clientId,
          clientSecret: airtel.settings.clientSecret,
          country: airtel.country,
          currency: airtel.currency,
          ...(airtel.country === 'NG' ? { msisdnDigits: 10 } : {}),
          callback: { url: `${apiBase}/v1/callbacks/airtel`, secret: airtel.callbackAuth.hmacSecret ?? 'unsigned', delayMs: config.simulator.callbackDelayMs },
          logger,
        });
        app.use('/airtel', airtelSimulator.router);
        app.use('/__control/airtel', airtelSimulator.controlRouter);
      }
      const { server, url } = await listen(app, '127.0.0.1', config.simulator.port);
      const sim = simulator;
      const airtelSim = airtelSimulator;
      const momoSim = momoSimulator;
      stops.push(async () => {
        sim.close();
        momoSim?.close();
        gsmaSim.close();
        airtelSim?.close();
        await closeServer(server);
      });
      simulatorUrl = url;
    }

    // Stopped after the consumers (pushed before them): once they finished the calls in hand, the
    // reporter stops and removes this process's rows.
    let inFlightReporter: { stop(): Promise<void> } | null = null;
    stops.push(async () => inFlightReporter?.stop());
    const subscriptions: Subscription[] = [];
    stops.push(async () => {
      await Promise.all(subscriptions.map((s) => s.stop()));
    });

    const reconciliation = {
      store: statementStore(handle.pool),
      reads: reconciliationReads(handle.pool),
      accounts: () => config.providers.accounts.map((a) => ({
        id: a.id, currency: a.currency, programmes: a.programmes, statementFormat: defaultStatementFormat[a.provider],
        identifiers: a.provider === 'mpesa' ? [a.settings.shortcode] : a.provider === 'gsma' ? a.settings.debitParty.map((p) => `${p.key}/${p.value}`) : [],
      })),
      overdueDays: config.reconciliation.overdueDays,
      readers: statementReaders,
      pull: gsmaStatementSource(config.providers.accounts, { timeoutMs: config.limits.providerTimeoutMs, logger: logger.child({ component: 'statement-pull' }) }),
      approvalAbove: (currency: CurrencyCode) => config.reconciliation.approvalAbove[currency] ?? null,
      tolerance: (currency: CurrencyCode) => config.reconciliation.tolerance[currency] ?? null,
    };
    let apiUrl: string | null = null;
    let apiServer: http.Server | null = null;
    const processName = `${hostname()}/${process.pid}`.slice(0, 128);
    if (active.has('api')) {
      const app = createApiHandler({
        persistence,
        vault,
        batchPayoutsMax: config.limits.batchPayoutsMax,
        now: () => new Date(),
        bodyMaxBytes: config.http.bodyMaxBytes,
        logger: logger.child({ role: 'api' }),
        readiness: async () => ({ database: await databaseReady(handle.pool, 2_000), transport: await transport.ready() }),
        authenticate: createAuthenticator(config.auth),
        limits: config.httpLimits,
        callbackAllowLists: callbackAllowLists(config.providers.accounts),
        providerRoutes: (programmeId, currency) => routesFor(config.providers.accounts, programmeId, currency),
        callbackAuthOf: (accountId) => config.providers.accounts.find((a) => a.id === accountId)?.callbackAuth ?? null,
        unsignedCallbacksAccepted: (provider) => config.providers.accounts.some((a) => a.provider === provider && a.callbackAuth.mode !== 'hmac'),
        statements: reconciliation,
        erasure: erasureStore(handle.db),
        breakerHolds: holds,
        operations: {
          accounts: () => config.providers.accounts.map((a) => ({ id: a.id, provider: a.provider, currency: a.currency, country: a.country, programmes: a.programmes, callLimits: a.callLimits })),
          reads: operationsReads(handle.db),
          queues: queueReads(handle.db),
          // The in-process transport reaches only this process's workers.
          requeue: { transport: config.kafka.brokers || active.has('worker') ? transport : null, topics },
        },
        console: consoleDeps(config, options.consoleDir === undefined ? defaultConsoleDir() : options.consoleDir),
        unsignedOrphanBudget: sourceBudget({ requests: config.unsignedCallbacks.orphansPerMinute, bytes: config.unsignedCallbacks.orphanBytesPerMinute, windowMs: 60_000 }),
      });
      const { server, url } = await listen(app, config.http.host, config.http.port);
      apiServer = server;
      apiUrl = url;
    }

    const publicBaseUrl = config.http.publicBaseUrl ?? apiUrl ?? `http://${config.http.host}:${config.http.port}`;

    let mpesa: GuardedProvider | null = null;
    let directory: ProviderDirectory | null = null;
    let guarded: GuardedProvider[] = [];
    if (active.has('worker')) {
      // One guarded adapter (its own breaker) per account, and one consumer group per provider.
      const breaker = { timeoutMs: config.limits.providerTimeoutMs, ...config.breaker };
      // This process's share of each account's call limits (WORKER_PROCESSES processes call it).
      const callLimitsOf = (account: ProviderAccount) => shareOf(account.callLimits, config.limits.workerProcesses);
      // A credential's access token is one for every process (M-Pesa invalidates the previous one with each new one).
      const tokens = providerTokenStore(handle.db, vault);
      const entries = config.providers.accounts.map((account) => {
        // A GSMA account that takes batches: its attempts go as provider batches, its guard counts batches.
        if (account.provider === 'gsma' && account.settings.bulk) {
          const client = new GsmaClient(gsmaClientSettings(account.settings, config.limits.providerTimeoutMs), logger.child({ account: account.id }));
          const bulk = new GsmaBulkProvider(client, gsmaBatchIndex(handle.db), account.settings.bulk, account.id, breaker, logger, metrics.observer, callLimitsOf(account));
          stops.push(async () => bulk.shutdown());
          return { account, provider: bulk as PayoutProvider, guard: bulk.guard };
        }
        const provider = new GuardedProvider(adapterFor(account, config.limits.providerTimeoutMs, logger, tokens), breaker, logger, account.id, metrics.observer, callLimitsOf(account));
        stops.push(async () => provider.shutdown());
        return { account, provider: provider as PayoutProvider, guard: provider };
      });
      directory = providerDirectory(entries);
      guarded = entries.map((e) => e.guard);
      // Its calls in flight per account, written every few seconds for every process's API to read.
      inFlightReporter = startCallsInFlightReporter(callsInFlightStore(handle.db), processName, () => guarded, config.limits.callsInFlightReportIntervalMs, logger.child({ role: 'worker' }));
      // Every breaker change is audited (from each worker process), and admins' holds are applied here.
      const auditor = breakerAuditor(persistence, processName, logger.child({ role: 'worker' }));
      for (const p of guarded) p.onStateChange((change) => auditor.record({ accountId: p.accountId, provider: p.id, ...change }));
      const follower = startHoldFollower(holds, guarded, logger.child({ role: 'worker' }));
      stops.push(async () => {
        await follower.stop();
        await auditor.settled();
      });
      mpesa = entries.find((e) => e.account.provider === 'mpesa')?.guard ?? null;
      const { intervalMs: pollIntervalMs, limit: pollLimit, submittingStaleAfterMs, ...policy } = config.statusPoll;
      const deps = { persistence, vault, transport, topics, providers: directory, publicBaseUrl, statusCheckFirstAfterMs: policy.firstAfterMs, logger: logger.child({ role: 'worker' }) };
      // Payouts whose result did not come by their deadline, or whose outcome was ambiguous, are asked about.
      const deadLetter = async (payoutId: string, reason: string) => {
        const value = encode({ payoutId });
        await transport.publish(topics.dlq, [{ key: payoutId, value: encode({ type: 'tuma.dlq', version: 1, sourceTopic: 'status-poller', reason, valueBase64: value.toString('base64') }) }]);
      };
      const poller = startStatusPoller({ persistence, vault, providers: directory, publicBaseUrl, policy, submittingStaleAfterMs, deadLetter, logger: logger.child({ role: 'poller' }) }, pollIntervalMs, pollLimit);
      stops.push(() => poller.stop());
      for (const id of new Set(config.providers.accounts.map((a) => a.provider))) {
        const { window, callsInFlight } = workerWindowOf({
          accounts: config.providers.accounts.filter((a) => a.provider === id).map((a) => ({ ...callLimitsOf(a), payoutsPerCall: a.provider === 'gsma' ? (a.settings.bulk?.itemsMax ?? 1) : 1 })),
          configured: config.limits.workerPartitionWindow,
          partitionsAtOnce: Math.min(config.limits.workerConcurrencyMax, config.kafka.topicPartitions),
          providerTimeoutMs: config.limits.providerTimeoutMs,
          windowMax: limitsMax.workerPartitionWindow,
        });
        logger.info({ provider: id, window, callsInFlight }, 'worker: dispatch messages in hand per partition');
        const subscription = await transport.subscribe({
          topic: topics.dispatch(id),
          groupId: `${config.kafka.topicPrefix}tuma-worker-${id}`,
          concurrency: config.limits.workerConcurrencyMax,
          window,
          handle: (d) => executePayout(deps, d),
        });
        subscriptions.push(subscription);
        // While every account of the provider has its breaker open, its topic is paused: nothing is
        // fetched, nothing dropped, no offset committed past unfinished work. A half-open breaker
        // resumes it, so that the next message is the probe; a failed probe opens and pauses again.
        const accounts = entries.filter((e) => e.account.provider === id).map((e) => e.guard);
        let paused = false;
        const follow = () => {
          const down = accounts.every((p) => p.breakerState() === 'open');
          if (down === paused) return;
          paused = down;
          if (down) subscription.pause();
          else subscription.resume();
          logger.warn({ provider: id, paused: down }, down ? 'every account of the provider is unavailable: its topic is paused' : 'provider topic resumed');
        };
        for (const p of accounts) p.onStateChange(follow);
      }
    }
    if (active.has('settler')) {
      const deps = { persistence, transport, topics, retry: config.retry, logger: logger.child({ role: 'settler' }) };
      subscriptions.push(
        await transport.subscribeChunks({
          topic: topics.results,
          groupId: `${config.kafka.topicPrefix}tuma-settler`,
          concurrency: config.limits.workerConcurrencyMax,
          chunkMax: config.limits.settlerChunkMax,
          handle: async (chunk) => {
            await settleResults(deps, chunk);
          },
        }),
      );
    }
    if (active.has('relay')) {
      if (!config.kafka.brokers) await recoverInProcessWork(persistence, logger.child({ role: 'relay' }));
      const relay = startRelay({ persistence, transport, topics, chunkMax: config.limits.relayChunkMax, logger: logger.child({ role: 'relay' }) }, config.limits.relayPollIntervalMs);
      stops.push(() => relay.stop());
      // Housekeeping of the same kind: batches whose approvals never came are rejected.
      const expirer = startExpirer(persistence, config.limits.batchExpiryIntervalMs, logger.child({ role: 'relay' }));
      stops.push(() => expirer.stop());
      // Unauthenticated orphan callbacks are kept for their retention only.
      const purger = startOrphanPurger(persistence, config.unsignedCallbacks.purgeIntervalMs, config.unsignedCallbacks.orphanRetentionMs, logger.child({ role: 'relay' }));
      stops.push(() => purger.stop());
    }

    if (active.has('chainer')) {
      const chainer = startChainer(persistence, config.ledger.chainIntervalMs, logger.child({ role: 'chainer' }));
      stops.push(() => chainer.stop());
    }

    let metricsUrl: string | null = null;
    if (config.metrics) {
      const providers = guarded;
      metrics.setSources({
        providers: () => providers,
        lag: () => transport.lag(),
        // Counted where the API runs: one process reports them, not every worker.
        payoutCounts: active.has('api') ? () => persistence.read.payouts.countByState() : null,
        programmesPastRetention: active.has('api') ? () => erasureStore(handle.db).countPastRetention(new Date()) : null,
        reconciliationOverdue: active.has('api') ? async () => {
          const periods = await overdueReconciliations({ ...reconciliation, persistence }, null, new Date());
          return reconciliation.accounts().map((a) => ({ accountId: a.id, periods: periods.filter((p) => p.accountId === a.id).length }));
        } : null,
      });
      const served = await serveMetrics(metrics, config.metrics.host, config.metrics.port, logger);
      stops.push(() => served.close());
      metricsUrl = served.url;
    }

    if (apiServer) {
      const server = apiServer;
      // Stopping intake comes first at shutdown: it is pushed last.
      stops.push(() => closeServer(server));
    }
    return { db: handle.db, persistence, vault, transport, topics, apiUrl, simulatorUrl, simulator, momoSimulator, gsmaSimulator, airtelSimulator, mpesa, providers: directory, metricsUrl, stop: stopAll };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/**
 * How long a worker may take, in a rebalance, to finish the provider calls it has in hand before
 * it rejoins: a token fetch and a call, each up to the provider timeout, and a margin. A call still
 * waiting its turn under an account's rate limit may take longer; the notes say so.
 */
function drainTimeoutMs(config: Config): number {
  return 2 * config.limits.providerTimeoutMs + 10_000;
}

function firstAccount<P extends ProviderAccount['provider']>(accounts: readonly ProviderAccount[], provider: P): Extract<ProviderAccount, { provider: P }> | undefined {
  return accounts.find((a): a is Extract<ProviderAccount, { provider: P }> => a.provider === provider);
}

/** The adapter that speaks an account's provider API with its credentials. */
function adapterFor(account: ProviderAccount, timeoutMs: number, logger: Logger, tokens: SharedTokenStore): ProviderAdapter & { readonly id: ProviderId } {
  const log = logger.child({ account: account.id });
  switch (account.provider) {
    case 'mpesa':
      return new MpesaClient(account.settings, timeoutMs, log, tokens);
    case 'mtn-momo':
      return new MomoClient({ ...account.settings, timeoutMs }, log);
    case 'gsma':
      return new GsmaClient(gsmaClientSettings(account.settings, timeoutMs), log);
    case 'airtel':
      return new AirtelClient({ ...account.settings, country: account.country, currency: account.currency, timeoutMs }, log);
  }
}

/**
 * Per provider, where its callbacks may come from: when every account of the provider has an
 * allow-list, their union; when one has none, any address (its per-attempt token or signature
 * still authenticates each callback).
 */
function callbackAllowLists(accounts: readonly ProviderAccount[]): Partial<Record<ProviderId, (address: string | undefined) => boolean>> {
  const lists: Partial<Record<ProviderId, ((address: string | undefined) => boolean)[] | null>> = {};
  for (const a of accounts) {
    const current = lists[a.provider];
    if (current === null) continue;
    if (a.callbackAuth.allowList === null) lists[a.provider] = null;
    else lists[a.provider] = [...(current ?? []), allowListOf(a.callbackAuth.allowList)];
  }
  const result: Partial<Record<ProviderId, (address: string | undefined) => boolean>> = {};
  for (const [provider, fns] of Object.entries(lists) as [ProviderId, ((address: string | undefined) => boolean)[] | null][]) {
    if (fns) result[provider] = (address) => fns.some((allows) => allows(address));
  }
  return result;
}

/** An allow-list the configuration already validated. */
function allowListOf(text: string): (address: string | undefined) => boolean {
  const parsed = parseAllowList(text);
  if (!parsed.ok) throw new Error(`invariant violated: the configuration validated the allow-list (${parsed.problems.join('; ')})`);
  return parsed.allows;
}

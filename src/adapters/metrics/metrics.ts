// Operators' metrics (issue #6 item 7) in Prometheus' text format, one registry per process:
// per provider account — breaker state, calls by outcome, call latency, calls in flight (this process's); consumer lag per
// subscription; payouts by state; programmes past their retention. Labels are account, provider, operation, outcome, state, topic
// and group: never a payout, a phone number or a name.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Logger } from 'pino';
import type { ConsumerLag, PayoutProvider } from '../../application/ports.js';
import type { ProviderCallObserver } from '../providers/guarded-provider.js';

/** Payouts by state are counted at most this often (a GROUP BY over the payouts table), whatever the scrape rate. */
export const payoutCountsCacheMs = 5_000;
/** Overdue statement periods are computed at most this often (a query per provider account). */
export const reconciliationOverdueCacheMs = 60_000;
/** Programmes past their retention are counted at most this often (a scan of the programmes and their batches). */
export const retentionCountCacheMs = 60_000;
/** A scrape that takes longer than this is answered 503: metrics never hold a connection open. */
export const scrapeTimeoutMs = 10_000;
/** Call latency buckets, in seconds: mobile-money APIs answer in tens of milliseconds to tens of seconds. */
const latencyBuckets = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const breakerValue = { closed: 0, half_open: 1, open: 2 } as const;

export interface MetricSources {
  /** The guarded provider accounts of this process (worker role), each with its breaker. */
  providers: () => readonly (PayoutProvider & { breakerState(): keyof typeof breakerValue; callsInFlight(): number })[];
  /** Subscriptions of this process and how far behind they are. */
  lag: () => Promise<readonly ConsumerLag[]>;
  /** Payouts per stored state, or null when this process does not report them. */
  payoutCounts: (() => Promise<readonly { state: string; count: number }[]>) | null;
  /** Overdue statement periods per provider account (issue #14), or null when this process does not report them. */
  reconciliationOverdue?: (() => Promise<readonly { accountId: string; periods: number }[]>) | null;
  /** Programmes past their retention and not erased, all organisations (issue #15), or null when this process does not report them. */
  programmesPastRetention?: (() => Promise<number>) | null;
}

export interface Metrics {
  readonly registry: Registry;
  readonly observer: ProviderCallObserver;
  /** Where the providers, the transport and the database are read from at each scrape (set once the runtime built them). */
  setSources(sources: MetricSources): void;
  render(): Promise<{ contentType: string; body: string }>;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'tuma_' });
  let sources: MetricSources | null = null;

  const calls = new Counter({
    name: 'tuma_provider_calls_total',
    help: 'Provider calls by account, operation (submit, status) and outcome (paid, failed, pending, unknown, reversed; refused = not sent, breaker open).',
    labelNames: ['account', 'provider', 'operation', 'outcome'] as const,
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'tuma_provider_call_duration_seconds',
    help: 'Provider call duration by account and operation.',
    labelNames: ['account', 'provider', 'operation'] as const,
    buckets: latencyBuckets,
    registers: [registry],
  });
  new Gauge({
    name: 'tuma_provider_breaker_state',
    help: 'Circuit breaker per provider account: 0 closed, 1 half-open, 2 open.',
    labelNames: ['account', 'provider'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const p of sources?.providers() ?? []) this.set({ account: p.accountId, provider: p.id }, breakerValue[p.breakerState()]);
    },
  });
  new Gauge({
    name: 'tuma_provider_calls_in_flight',
    help: 'Provider calls sent and not yet answered per account, by this process (each worker process counts its own: add them up across processes).',
    labelNames: ['account', 'provider'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const p of sources?.providers() ?? []) this.set({ account: p.accountId, provider: p.id }, p.callsInFlight());
    },
  });
  new Gauge({
    name: 'tuma_consumer_lag_messages',
    help: 'Messages published to a topic and not yet done by this process\'s consumer group.',
    labelNames: ['topic', 'group'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const l of (await sources?.lag()) ?? []) this.set({ topic: l.topic, group: l.groupId }, l.lag);
    },
  });
  let counted: { at: number; rows: readonly { state: string; count: number }[] } | null = null;
  new Gauge({
    name: 'tuma_payouts',
    help: 'Payouts by state, all organisations.',
    labelNames: ['state'] as const,
    registers: [registry],
    async collect() {
      const count = sources?.payoutCounts;
      if (!count) return;
      if (!counted || Date.now() - counted.at > payoutCountsCacheMs) counted = { at: Date.now(), rows: await count() };
      this.reset();
      for (const r of counted.rows) this.set({ state: r.state }, r.count);
    },
  });

  let overdue: { at: number; rows: readonly { accountId: string; periods: number }[] } | null = null;
  new Gauge({
    name: 'tuma_reconciliation_overdue_periods',
    help: 'Months of a provider account with no statement RECONCILIATION_OVERDUE_DAYS after they ended.',
    labelNames: ['account'] as const,
    registers: [registry],
    async collect() {
      const count = sources?.reconciliationOverdue;
      if (!count) return;
      if (!overdue || Date.now() - overdue.at > reconciliationOverdueCacheMs) overdue = { at: Date.now(), rows: await count() };
      this.reset();
      for (const r of overdue.rows) this.set({ account: r.accountId }, r.periods);
    },
  });

  let pastRetention: { at: number; count: number } | null = null;
  new Gauge({
    name: 'tuma_programmes_past_retention',
    help: 'Programmes whose beneficiary data is past its retention period and not erased, all organisations: two admins should erase them (GET /v1/programmes/retention-due).',
    registers: [registry],
    async collect() {
      const count = sources?.programmesPastRetention;
      if (!count) return;
      if (!pastRetention || Date.now() - pastRetention.at > retentionCountCacheMs) pastRetention = { at: Date.now(), count: await count() };
      this.set(pastRetention.count);
    },
  });

  return {
    registry,
    observer: {
      call(account, provider, operation, outcome, seconds) {
        calls.inc({ account, provider, operation, outcome });
        latency.observe({ account, provider, operation }, seconds);
      },
    },
    setSources(next) {
      sources = next;
    },
    async render() {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
}

/** Serves GET /metrics (and nothing else) on its own address: scraped by Prometheus, not exposed with the API. */
export async function serveMetrics(metrics: Metrics, host: string, port: number, logger: Logger): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    const timeout = new Promise<null>((resolve) => setTimeout(() => resolve(null), scrapeTimeoutMs).unref());
    void Promise.race([metrics.render(), timeout]).then(
      (rendered) => {
        if (!rendered) res.writeHead(503, { 'content-type': 'text/plain' }).end('metrics took too long\n');
        else res.writeHead(200, { 'content-type': rendered.contentType }).end(rendered.body);
      },
      (error: unknown) => {
        logger.warn({ err: error }, 'metrics scrape failed');
        res.writeHead(503, { 'content-type': 'text/plain' }).end('metrics unavailable\n');
      },
    );
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  return {
    url: `http://${host}:${address.port}/metrics`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}

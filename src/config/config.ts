// The one place that reads the environment. Everything else receives the frozen Config.
import { overdueDaysMax } from '../domain/reconciliation-report.js';
import { z } from 'zod';
import { providerRules } from '../domain/providers.js';
import { readFileSync } from 'node:fs';
import { parseAllowList, sourceBudgetBytesMax, sourceBudgetRequestsMax } from '../adapters/http/callback-auth.js';
import { rateLimitDefaults, rateLimitMax, requestTimeoutDefaults, requestTimeoutMaxMs, requestTimeoutMinMs, type HttpLimits } from '../adapters/http/limits.js';
import { unauthenticatedOrphanRetentionDefaultMs, unauthenticatedOrphanRetentionMaxMs } from '../application/record-callback.js';
import { mpesaSecurityCredential } from '../adapters/providers/mpesa/security-credential.js';
import { callLimitsMax } from '../adapters/providers/call-limiter.js';
import { checkAccounts, loadProviderAccounts, type ProviderAccount } from './provider-accounts.js';
import { isCurrencyCode, type CurrencyCode } from '../domain/currency.js';
import { parseAmount } from '../domain/money.js';
import { kafkaSessionTimeoutMsDefault, kafkaSessionTimeoutMsMax, kafkaSessionTimeoutMsMin, topicPartitionsDefault, topicPartitionsMax } from '../adapters/kafka/kafka-transport.js';
import { statusCheckDefaults, statusPollMaxima, submittingStaleAfterDefaultMs, submittingStaleAfterMaxMs } from '../application/poll-status.js';
import type { FailureReason } from '../domain/provider-outcome.js';
import { retryDefaults, retryMaxima, retryableFailureReasons, type RetryPolicy } from '../domain/retry-policy.js';
import { settleChunkMax } from '../application/settle-result.js';
import { callsInFlightReportIntervalDefaultMs, callsInFlightReportIntervalMaxMs, callsInFlightReportIntervalMinMs } from '../application/calls-in-flight.js';

/** Named maxima for every configurable limit: a value past one is refused at start. */
export const limitsMax = {
  httpBodyMaxBytes: 64 * 1024 * 1024,
  batchPayoutsMax: 1_000_000,
  databasePoolMax: 200,
  relayChunkMax: 10_000,
  relayPollIntervalMs: 60_000,
  workerConcurrencyMax: 256,
  workerPartitionWindow: 256,
  workerProcesses: 64,
  settlerChunkMax: settleChunkMax,
  providerTimeoutMs: 120_000,
  breakerResetTimeoutMs: 600_000,
  breakerVolumeThreshold: 10_000,
  shutdownTimeoutMs: 300_000,
  callbackDelayMs: 60_000,
  authJwksBytes: 64 * 1024,
  ledgerChainIntervalMs: 60_000,
  batchExpiryIntervalMs: 3_600_000,
  sealThreads: 16,
  statusPollIntervalMs: statusPollMaxima.intervalMs,
  statusPollLimit: statusPollMaxima.limit,
  statusCheckFirstAfterMs: statusPollMaxima.firstAfterMs,
  statusCheckBackoffMaxMs: statusPollMaxima.backoffMaxMs,
  statusChecksMax: statusPollMaxima.checksMax,
  unsignedOrphansPerMinute: sourceBudgetRequestsMax,
  unsignedOrphanBytesPerMinute: sourceBudgetBytesMax,
  orphanPurgeIntervalMs: 86_400_000,
  callsInFlightReportIntervalMs: callsInFlightReportIntervalMaxMs,
} as const;

const bool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');

function intIn(min: number, max: number) {
  return z
    .string()
    .regex(/^\d+$/, 'must be a whole number')
    .transform((v) => Number(v))
    .pipe(z.number().int().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));
}

const port = intIn(0, 65_535);
const url = z.url({ protocol: /^(https?|postgres(ql)?)$/, error: 'must be a URL' });
const secret = z.string().min(1, 'must not be empty');

/** `KES:1000.00,UGX:50000`: an amount per currency (each once, at its scale), in minor units. */
const currencyAmounts = z
  .string()
  .max(1_024)
  .transform((v, ctx) => {
    const limits: Partial<Record<CurrencyCode, bigint>> = {};
    for (const part of v.split(',').map((p) => p.trim()).filter((p) => p.length > 0)) {
      const [code = '', amount = ''] = part.split(':');
      const minor = isCurrencyCode(code) ? parseAmount(amount, code) : null;
      if (!minor?.ok || !isCurrencyCode(code) || limits[code] !== undefined) {
        ctx.addIssue({ code: 'custom', message: `"${part.slice(0, 40)}": CUR:amount (a currency Tuma pays in, once, and a decimal amount of its scale)` });
        return z.NEVER;
      }
      limits[code] = minor.value;
    }
    return limits;
  })
  .default({});

const envSchema = z.object({
  TUMA_DEV_MODE: bool.default(false),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),

  HTTP_HOST: z.string().min(1).default('127.0.0.1'),
  HTTP_PORT: port.default(8080),
  HTTP_BODY_MAX_BYTES: intIn(1024, limitsMax.httpBodyMaxBytes).default(16 * 1024 * 1024),
  PUBLIC_BASE_URL: url.optional(),

  DATABASE_URL: url.optional(),
  DATABASE_POOL_MAX: intIn(1, limitsMax.databasePoolMax).default(20),
  // The role the processes' queries run as (SET ROLE; migration 0019 creates tuma_app). `none`: the
  // connecting user's own (e.g. when DATABASE_URL already logs in as a role of that kind).
  DATABASE_APP_ROLE: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, 'a plain role name, or none').default('tuma_app'),
  EMBEDDED_DATA_DIR: z.string().min(1).default('.data'),
  EMBEDDED_DATABASE_PORT: port.default(54329),

  KAFKA_BROKERS: z
    .string()
    .regex(/^[^\s,]+:\d+(,[^\s,]+:\d+)*$/, 'must be host:port[,host:port...]')
    .optional(),
  KAFKA_CLIENT_ID: z.string().regex(/^[\w.-]{1,64}$/, 'must be 1-64 of [A-Za-z0-9_.-]').default('tuma'),
  KAFKA_TOPIC_PREFIX: z.string().regex(/^[\w.-]{0,64}$/, 'must be 0-64 of [A-Za-z0-9_.-]').default(''),
  // Partitions of the topics Tuma creates: a worker group works on at most this many messages of a
  // provider's topic at once (with WORKER_CONCURRENCY_MAX, the smaller bounds it). Existing topics keep theirs.
  KAFKA_TOPIC_PARTITIONS: intIn(1, topicPartitionsMax).default(topicPartitionsDefault),
  // A consumer the broker has not heard from for this long is expelled and its partitions handed on.
  // Consumers heartbeat every tenth of it, also while a slow provider call is in hand. The broker
  // must accept it (group.min/max.session.timeout.ms, 6 s and 30 min by default).
  KAFKA_SESSION_TIMEOUT_MS: intIn(kafkaSessionTimeoutMsMin, kafkaSessionTimeoutMsMax).default(kafkaSessionTimeoutMsDefault),

  // Threads that seal a large batch's beneficiary data beside the main thread; 0 seals on the main thread.
  SEAL_THREADS: intIn(0, limitsMax.sealThreads).default(2),
  TUMA_MASTER_KEY: z
    .string()
    .regex(/^[A-Za-z0-9+/]{43}=$/, 'must be 32 bytes in base64 (44 characters)')
    .optional(),

  // The provider accounts file (src/config/provider-accounts.ts); instead of the MPESA_* / MOMO_* variables,
  // which configure one account of each.
  PROVIDERS_FILE: z.string().min(1).max(4096).optional(),
  MPESA_BASE_URL: url.optional(),
  MPESA_CONSUMER_KEY: secret.optional(),
  MPESA_CONSUMER_SECRET: secret.optional(),
  MPESA_SHORTCODE: z.string().regex(/^\d{5,7}$/, 'must be a 5-7 digit shortcode').optional(),
  MPESA_INITIATOR_NAME: secret.optional(),
  MPESA_SECURITY_CREDENTIAL: secret.optional(),
  // Or let Tuma compute it: the initiator password and the Safaricom certificate (PEM file) for the environment.
  MPESA_INITIATOR_PASSWORD: secret.optional(),
  // MTN MoMo Disbursement (one market): unset outside dev mode = MoMo not offered.
  MOMO_BASE_URL: url.optional(),
  MOMO_API_USER_ID: secret.optional(),
  MOMO_API_KEY: secret.optional(),
  MOMO_SUBSCRIPTION_KEY: secret.optional(),
  MOMO_TARGET_ENVIRONMENT: z.string().regex(/^[a-z]{3,40}$/, 'must be "sandbox" or a market such as "mtnuganda"').optional(),
  MOMO_CURRENCY: z.string().regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code').optional(),
  MPESA_CERTIFICATE_FILE: z.string().min(1).optional(),
  // The M-Pesa account's call limits (what Safaricom allows the shortcode), as the accounts file's
  // limits.concurrency and limits.ratePerSecond: calls at once and calls started per second. They
  // also size the worker's calls in flight (config/worker-window.ts). Unset: none.
  MPESA_CONCURRENCY: intIn(1, callLimitsMax.concurrency).optional(),
  MPESA_RATE_PER_SECOND: z.coerce.number().positive().max(callLimitsMax.ratePerSecond).optional(),
  // Where Daraja's callbacks may come from (its published addresses), comma-separated IPs or CIDR
  // blocks; unset = any address (the per-attempt token in the URL still authenticates each callback).
  MPESA_CALLBACK_ALLOWLIST: z
    .string()
    .superRefine((v, ctx) => {
      const parsed = parseAllowList(v);
      if (!parsed.ok) ctx.addIssue({ code: 'custom', message: parsed.problems.join('; ') });
    })
    .optional(),

  AUTH_ISSUER: z.string().min(1).max(256).optional(),
  AUTH_AUDIENCE: z.string().min(1).max(256).optional(),
  /** The issuer's public keys as an inline JWKS ({"keys":[...]}), or a URL to fetch them from. */
  AUTH_JWKS: z.string().min(2).max(limitsMax.authJwksBytes).optional(),
  AUTH_JWKS_URL: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).optional(),
  AUTH_CLOCK_TOLERANCE_S: intIn(0, 300).default(30),
  /** The web console's OpenID Connect client (a public client: authorization code + PKCE); unset: no OIDC sign-in. */
  CONSOLE_OIDC_CLIENT_ID: z.string().regex(/^[\x21-\x7e]{1,256}$/, 'must be 1-256 printable characters').optional(),
  CONSOLE_OIDC_SCOPE: z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]+( [\x21\x23-\x5b\x5d-\x7e]+){0,15}$/, 'must be space-separated scope tokens').max(512).default('openid'),

  LEDGER_CHAIN_INTERVAL_MS: intIn(10, limitsMax.ledgerChainIntervalMs).default(1_000),
  BATCH_EXPIRY_INTERVAL_MS: intIn(100, limitsMax.batchExpiryIntervalMs).default(60_000),

  // Prometheus metrics of this process (GET /metrics) on their own address; METRICS_PORT=0 picks a free port.
  METRICS_ENABLED: bool.default(true),
  METRICS_HOST: z.string().min(1).default('127.0.0.1'),
  METRICS_PORT: port.default(9464),
  SIMULATOR_PORT: port.default(8090),
  SIMULATOR_CALLBACK_DELAY_MS: intIn(0, limitsMax.callbackDelayMs).default(50),

  BATCH_PAYOUTS_MAX: intIn(1, limitsMax.batchPayoutsMax).default(100_000),
  RELAY_CHUNK_MAX: intIn(1, limitsMax.relayChunkMax).default(500),
  RELAY_POLL_INTERVAL_MS: intIn(10, limitsMax.relayPollIntervalMs).default(200),
  WORKER_CONCURRENCY_MAX: intIn(1, limitsMax.workerConcurrencyMax).default(16),
  // Dispatch messages of one partition a worker has in hand at once: provider calls wait on the
  // network, so a partition's messages overlap (each payout is locked on its own; offsets are
  // committed up to the first unfinished one). Per provider and process, at most
  // min(WORKER_CONCURRENCY_MAX, KAFKA_TOPIC_PARTITIONS) × WORKER_PARTITION_WINDOW calls are in
  // flight (the accounts' own limits apply on top). Unset: sized per provider from its accounts'
  // call limits (config/worker-window.ts), 128 calls for an account with none.
  WORKER_PARTITION_WINDOW: intIn(1, limitsMax.workerPartitionWindow).optional(),
  // How many worker processes share the provider accounts. A partner's call limits are per
  // account, not per process: each worker process takes its share of them (call-limiter.ts
  // shareOf), so N processes together never exceed what the partner agreed.
  WORKER_PROCESSES: intIn(1, limitsMax.workerProcesses).default(1),
  // How often each worker process writes its calls in flight per account (GET /v1/operations/providers).
  CALLS_IN_FLIGHT_REPORT_INTERVAL_MS: intIn(callsInFlightReportIntervalMinMs, limitsMax.callsInFlightReportIntervalMs).default(callsInFlightReportIntervalDefaultMs),
  SETTLER_CHUNK_MAX: intIn(1, limitsMax.settlerChunkMax).default(500),
  PROVIDER_TIMEOUT_MS: intIn(100, limitsMax.providerTimeoutMs).default(10_000),
  BREAKER_ERROR_THRESHOLD_PERCENT: intIn(1, 100).default(50),
  BREAKER_RESET_TIMEOUT_MS: intIn(100, limitsMax.breakerResetTimeoutMs).default(10_000),
  BREAKER_VOLUME_THRESHOLD: intIn(1, limitsMax.breakerVolumeThreshold).default(10),
  SHUTDOWN_TIMEOUT_MS: intIn(100, limitsMax.shutdownTimeoutMs).default(15_000),
  // The status poller (worker role): how often it looks for payouts whose provider deadline passed,
  // how many it claims per look, the deadline itself, the backoff cap and the checks per attempt
  // before a payout is flagged for operators.
  STATUS_POLL_INTERVAL_MS: intIn(10, limitsMax.statusPollIntervalMs).default(1_000),
  // A claim is one statement whatever its size, and its tokens and next checks one each; the
  // queries still go statusQueriesInFlightMax at a time. 1,000 claims a whole provider batch's
  // items at once (GSMA bulk: 100 held a 10,000-payout bulk run to ~540 payouts/s, 1,000 gave
  // ~1,100/s, loadtest/README.md).
  STATUS_POLL_LIMIT: intIn(1, limitsMax.statusPollLimit).default(1_000),
  STATUS_CHECK_FIRST_AFTER_MS: intIn(1, limitsMax.statusCheckFirstAfterMs).default(statusCheckDefaults.firstAfterMs),
  STATUS_CHECK_BACKOFF_MAX_MS: intIn(1, limitsMax.statusCheckBackoffMaxMs).default(statusCheckDefaults.backoffMaxMs),
  STATUS_CHECKS_MAX: intIn(1, limitsMax.statusChecksMax).default(statusCheckDefaults.checksMax),
  // A payout in submitting this long without a recorded answer was stranded by a worker that
  // stopped mid-call: the poller asks the provider about it. More than PROVIDER_TIMEOUT_MS.
  // After a confirmed failure that may pass (float ran out, our limit, expired, provider failure):
  // attempts in all, each under a new key, the first wait doubling per attempt up to the cap.
  // Which of those are tried again: a comma-separated list, or "none" (every confirmed failure final).
  PAYOUT_RETRY_REASONS: z
    .string()
    .transform((v) => (v.trim() === 'none' ? [] : v.split(',').map((r) => r.trim())))
    .refine((rs) => rs.every((r) => (retryableFailureReasons as readonly string[]).includes(r)), `one or more of ${retryableFailureReasons.join(', ')}, comma-separated, or none`)
    .transform((rs) => rs as FailureReason[])
    .optional(),
  PAYOUT_ATTEMPTS_MAX: intIn(1, retryMaxima.attemptsMax).default(retryDefaults.attemptsMax),
  PAYOUT_RETRY_BACKOFF_MS: intIn(1, retryMaxima.backoffMs).default(retryDefaults.backoffMs),
  PAYOUT_RETRY_BACKOFF_MAX_MS: intIn(1, retryMaxima.backoffMaxMs).default(retryDefaults.backoffMaxMs),
  STATUS_SUBMITTING_STALE_AFTER_MS: intIn(1, submittingStaleAfterMaxMs).default(submittingStaleAfterDefaultMs),
  // Unauthenticated callbacks that name no payout we know (an Airtel application posts to one URL):
  // per source address and minute, how many and how many bytes are kept; beyond that 429. They are
  // purged (by the relay role) after the retention.
  CALLBACK_UNSIGNED_ORPHANS_PER_MINUTE: intIn(1, limitsMax.unsignedOrphansPerMinute).default(60),
  CALLBACK_UNSIGNED_ORPHAN_BYTES_PER_MINUTE: intIn(1_024, limitsMax.unsignedOrphanBytesPerMinute).default(256 * 1024),
  // Per route class (src/adapters/http/permissions.ts, limits.ts): requests a minute from one source address (0: not limited), 429 past it.
  HTTP_RATE_READ_PER_MINUTE: intIn(0, rateLimitMax).default(rateLimitDefaults.read),
  HTTP_RATE_WRITE_PER_MINUTE: intIn(0, rateLimitMax).default(rateLimitDefaults.write),
  HTTP_RATE_BULK_PER_MINUTE: intIn(0, rateLimitMax).default(rateLimitDefaults.bulk),
  HTTP_RATE_CALLBACK_PER_MINUTE: intIn(0, rateLimitMax).default(rateLimitDefaults.callback),
  // Per route class: the longest a request may take, from its route to its answer's last byte; past it the connection is closed.
  HTTP_TIMEOUT_READ_MS: intIn(requestTimeoutMinMs, requestTimeoutMaxMs).default(requestTimeoutDefaults.read),
  HTTP_TIMEOUT_WRITE_MS: intIn(requestTimeoutMinMs, requestTimeoutMaxMs).default(requestTimeoutDefaults.write),
  HTTP_TIMEOUT_BULK_MS: intIn(requestTimeoutMinMs, requestTimeoutMaxMs).default(requestTimeoutDefaults.bulk),
  HTTP_TIMEOUT_CALLBACK_MS: intIn(requestTimeoutMinMs, requestTimeoutMaxMs).default(requestTimeoutDefaults.callback),
  CALLBACK_ORPHAN_RETENTION_MS: intIn(60_000, unauthenticatedOrphanRetentionMaxMs).default(unauthenticatedOrphanRetentionDefaultMs),
  CALLBACK_ORPHAN_PURGE_INTERVAL_MS: intIn(1_000, limitsMax.orphanPurgeIntervalMs).default(3_600_000),
  // Reconciliation: a provider account's month with no statement this many days after it ends is overdue.
  RECONCILIATION_OVERDUE_DAYS: intIn(1, overdueDaysMax).default(10),
  // Money a reconciliation decision may move without a second finance user, per currency:
  // `KES:1000.00,UGX:50000`. A currency not listed: every decision that moves money needs one.
  RECONCILIATION_APPROVAL_ABOVE: currencyAmounts,
  // A difference of amount or fee Tuma writes off by itself (to the organisation's reconciliation
  // differences, audited): `KES:1.00`. A currency not listed: none, every difference is finance's.
  RECONCILIATION_TOLERANCE: currencyAmounts,
});

export type Env = Readonly<Record<string, string | undefined>>;

export type { ProviderAccount } from './provider-accounts.js';

/** One MTN MoMo Disbursement account as the MOMO_* variables give it (a market: one target environment, one currency). */
interface MomoEnvConfig {
  readonly baseUrl: string;
  readonly apiUserId: string;
  readonly apiKey: string;
  readonly subscriptionKey: string;
  readonly targetEnvironment: string;
  readonly currency: string;
}

/**
 * The country of each MTN MoMo market (target environment), for the MOMO_* shorthand: the accounts
 * file names the country itself. Markets sharing a currency (XAF, XOF) are told apart here.
 */
export const momoMarketCountries: Readonly<Record<string, string>> = {
  mtnuganda: 'UG', mtnghana: 'GH', mtnrwanda: 'RW', mtnzambia: 'ZM', mtncameroon: 'CM', mtnivorycoast: 'CI',
  mtnbenin: 'BJ', mtncongo: 'CG', mtnswaziland: 'SZ', mtnguineaconakry: 'GN', mtnsouthafrica: 'ZA', mtnliberia: 'LR',
  mtnsouthsudan: 'SS', mtnnigeria: 'NG',
};

export interface Config {
  readonly devMode: boolean;
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** publicBaseUrl null: callbacks go to the address the API listens on. */
  readonly http: { readonly host: string; readonly port: number; readonly bodyMaxBytes: number; readonly publicBaseUrl: string | null };
  /** url null = embedded PostgreSQL under embeddedDataDir. */
  readonly database: {
    readonly url: string | null;
    readonly poolMax: number;
    /** SET ROLE for every connection of the processes' pool; null: none. */
    readonly appRole: string | null;
    readonly embeddedDataDir: string;
    readonly embeddedPort: number;
  };
  /** brokers null = the in-process transport. */
  readonly kafka: { readonly brokers: readonly string[] | null; readonly clientId: string; readonly topicPrefix: string; readonly topicPartitions: number; readonly sessionTimeoutMs: number };
  readonly crypto: { readonly masterKey: Buffer; readonly sealThreads: number };
  /** Every provider account Tuma pays through (PROVIDERS_FILE, or one account per provider from MPESA_* / MOMO_*). */
  readonly providers: { readonly accounts: readonly ProviderAccount[] };
  readonly simulator: { readonly port: number; readonly callbackDelayMs: number };
  /** null: no metrics listener. */
  readonly metrics: { readonly host: string; readonly port: number } | null;
  /** Bearer JWTs: the issuer, the audience, and its keys (inline JWKS or a URL). */
  readonly auth: {
    readonly issuer: string;
    readonly audience: string;
    readonly jwks: { readonly keys: readonly Record<string, unknown>[] } | null;
    readonly jwksUrl: string | null;
    readonly clockToleranceSeconds: number;
    /** The web console's OIDC sign-in through `issuer` (null: none). */
    readonly consoleOidc: { readonly clientId: string; readonly scope: string } | null;
  };
  readonly ledger: { readonly chainIntervalMs: number };
  readonly limits: {
    readonly batchPayoutsMax: number;
    /** How often the relay role rejects batches whose approvals did not come before their expiresAt. */
    readonly batchExpiryIntervalMs: number;
    readonly relayChunkMax: number;
    readonly relayPollIntervalMs: number;
    readonly workerConcurrencyMax: number;
    /** Messages of one dispatch partition in hand at once; null: sized per provider from its accounts' call limits. */
    readonly workerPartitionWindow: number | null;
    /** Worker processes sharing the accounts' call limits: each takes 1/N of them. */
    readonly workerProcesses: number;
    /** How often each worker process writes its calls in flight per account to the database. */
    readonly callsInFlightReportIntervalMs: number;
    readonly settlerChunkMax: number;
    readonly providerTimeoutMs: number;
    readonly shutdownTimeoutMs: number;
  };
  /** The status poller: a payout unresolved `firstAfterMs` after it was submitted (or went unknown) is asked about. */
  readonly statusPoll: {
    readonly intervalMs: number;
    readonly limit: number;
    readonly firstAfterMs: number;
    readonly backoffMaxMs: number;
    readonly checksMax: number;
    /** A payout in submitting this long without a recorded answer is asked about (its worker stopped mid-call). */
    readonly submittingStaleAfterMs: number;
  };
  /** Attempts after confirmed, retryable failures (domain/retry-policy.ts). */
  readonly retry: RetryPolicy;
  /** Callbacks nothing authenticates (issue #19 item 7): a per-address budget of orphans, and how long orphans are kept. */
  readonly reconciliation: {
    /** Days after a month ends before a provider account without its statement is overdue. */
    readonly overdueDays: number;
    /** Money (minor units) a decision may move without a second finance user, per currency; absent: none. */
    readonly approvalAbove: Readonly<Partial<Record<CurrencyCode, bigint>>>;
    /** A difference Tuma writes off by itself, per currency (minor units); absent: none. */
    readonly tolerance: Readonly<Partial<Record<CurrencyCode, bigint>>>;
  };
  /** Per API route class: a rate per source address and a request timeout (HTTP_RATE_*_PER_MINUTE, HTTP_TIMEOUT_*_MS). */
  readonly httpLimits: HttpLimits;
  readonly unsignedCallbacks: {
    readonly orphansPerMinute: number;
    readonly orphanBytesPerMinute: number;
    readonly orphanRetentionMs: number;
    readonly purgeIntervalMs: number;
  };
  readonly breaker: {
    readonly errorThresholdPercent: number;
    readonly resetTimeoutMs: number;
    readonly volumeThreshold: number;
  };
}

export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

/** Dev-mode stand-ins for secrets. Only ever used when TUMA_DEV_MODE is on; never in production. */
const devSecrets = {
  MPESA_CONSUMER_KEY: 'dev-consumer-key',
  MPESA_CONSUMER_SECRET: 'dev-consumer-secret',
  MPESA_SHORTCODE: '600000',
  MPESA_INITIATOR_NAME: 'tuma-dev',
  MPESA_SECURITY_CREDENTIAL: 'dev-security-credential',
} as const;

/** The dev-mode token issuer (its key is created under the data directory by the CLI). */
export const devAuth = { issuer: 'tuma-dev', audience: 'tuma' } as const;

const jwksSchema = z.object({ keys: z.array(z.record(z.string(), z.unknown())).min(1).max(32) });

function parseJwks(raw: string | undefined, problems: string[]): { keys: Record<string, unknown>[] } | null {
  if (raw === undefined) return null;
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    problems.push('AUTH_JWKS: must be a JSON Web Key Set');
    return null;
  }
  const parsed = jwksSchema.safeParse(json);
  if (!parsed.success) {
    problems.push('AUTH_JWKS: must be {"keys":[...]} with 1-32 public keys');
    return null;
  }
  if (parsed.data.keys.some((k) => 'd' in k)) {
    problems.push('AUTH_JWKS: holds a private key; give the public keys only');
    return null;
  }
  return parsed.data;
}

/**
 * The M-Pesa SecurityCredential: given as is (MPESA_SECURITY_CREDENTIAL), or computed from the
 * initiator password and Safaricom's certificate (MPESA_INITIATOR_PASSWORD + MPESA_CERTIFICATE_FILE).
 */
function mpesaCredential(e: z.infer<typeof envSchema>, dev: boolean, problems: string[]): string {
  const given = e.MPESA_SECURITY_CREDENTIAL;
  const password = e.MPESA_INITIATOR_PASSWORD;
  const file = e.MPESA_CERTIFICATE_FILE;
  if (given !== undefined && (password !== undefined || file !== undefined)) {
    problems.push('MPESA_SECURITY_CREDENTIAL: set it, or MPESA_INITIATOR_PASSWORD with MPESA_CERTIFICATE_FILE, not both');
    return '';
  }
  if (given !== undefined) return given;
  if (password === undefined && file === undefined) return dev ? devSecrets.MPESA_SECURITY_CREDENTIAL : missing('MPESA_SECURITY_CREDENTIAL', problems);
  if (password === undefined || file === undefined) {
    problems.push(`${password === undefined ? 'MPESA_INITIATOR_PASSWORD' : 'MPESA_CERTIFICATE_FILE'}: is required with ${password === undefined ? 'MPESA_CERTIFICATE_FILE' : 'MPESA_INITIATOR_PASSWORD'}`);
    return '';
  }
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (error) {
    problems.push(`MPESA_CERTIFICATE_FILE: cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
    return '';
  }
  try {
    return mpesaSecurityCredential(password, pem);
  } catch (error) {
    problems.push(`MPESA_CERTIFICATE_FILE: ${(error as Error).message}`);
    return '';
  }
}

const momoDev = { apiUserId: 'dev-momo-user', apiKey: 'dev-momo-key', subscriptionKey: 'dev-momo-subscription', targetEnvironment: 'mtnuganda', currency: 'UGX' } as const;

/** MoMo is offered when configured (every MOMO_* variable), or in dev mode against the simulator. */
function momoConfig(e: z.infer<typeof envSchema>, dev: boolean, problems: string[]): MomoEnvConfig | null {
  const given = {
    MOMO_BASE_URL: e.MOMO_BASE_URL, MOMO_API_USER_ID: e.MOMO_API_USER_ID, MOMO_API_KEY: e.MOMO_API_KEY,
    MOMO_SUBSCRIPTION_KEY: e.MOMO_SUBSCRIPTION_KEY, MOMO_TARGET_ENVIRONMENT: e.MOMO_TARGET_ENVIRONMENT, MOMO_CURRENCY: e.MOMO_CURRENCY,
  };
  const set = Object.entries(given).filter(([, v]) => v !== undefined);
  if (set.length === 0) return dev ? { baseUrl: `http://127.0.0.1:${e.SIMULATOR_PORT}`, ...momoDev } : null;
  if (set.length < Object.keys(given).length) {
    for (const [name, v] of Object.entries(given)) if (v === undefined) problems.push(`${name}: is required with the other MOMO_* variables`);
    return null;
  }
  const currency = given.MOMO_CURRENCY!;
  if (!(providerRules['mtn-momo'].currencies as readonly string[]).includes(currency)) {
    problems.push(`MOMO_CURRENCY: MTN MoMo does not pay in ${currency} (${providerRules['mtn-momo'].currencies.join(', ')})`);
  }
  if (!Object.hasOwn(momoMarketCountries, given.MOMO_TARGET_ENVIRONMENT!)) {
    problems.push(`MOMO_TARGET_ENVIRONMENT: ${given.MOMO_TARGET_ENVIRONMENT} is not a market Tuma knows (${Object.keys(momoMarketCountries).join(', ')}); configure it in PROVIDERS_FILE with its country`);
  }
  return {
    baseUrl: given.MOMO_BASE_URL!.replace(/\/+$/, ''),
    apiUserId: given.MOMO_API_USER_ID!,
    apiKey: given.MOMO_API_KEY!,
    subscriptionKey: given.MOMO_SUBSCRIPTION_KEY!,
    targetEnvironment: given.MOMO_TARGET_ENVIRONMENT!,
    currency,
  };
}

/** Records a missing variable; the placeholder returned is never used, because loadConfig throws. */
function missing(name: string, problems: string[]): string {
  problems.push(`${name}: is required (no default outside TUMA_DEV_MODE=true)`);
  return '';
}

/** The variables that the accounts file replaces: set both, and which one counts would be a guess. */
const perProviderVariables = /^(MPESA|MOMO)_/;

function accountsFromFile(e: z.infer<typeof envSchema>, env: Env, problems: string[]): ProviderAccount[] {
  const both = Object.keys(e).filter((k) => perProviderVariables.test(k));
  if (both.length > 0) problems.push(`PROVIDERS_FILE: is set, so ${both.join(', ')} must not be: configure every account in the file`);
  return loadProviderAccounts(e.PROVIDERS_FILE!, env, problems, { devMode: e.TUMA_DEV_MODE }) ?? [];
}

/** One M-Pesa account (always) and one MoMo account (when configured, or in dev mode), named after their provider. */
function accountsFromEnv(
  e: z.infer<typeof envSchema>,
  dev: boolean,
  problems: string[],
  secretOf: (name: keyof typeof devSecrets) => string,
): ProviderAccount[] {
  const accounts: ProviderAccount[] = [];
  const mpesaBaseUrl = e.MPESA_BASE_URL ?? (dev ? `http://127.0.0.1:${e.SIMULATOR_PORT}` : missing('MPESA_BASE_URL', problems));
  accounts.push({
    id: 'mpesa',
    provider: 'mpesa',
    country: 'KE',
    currency: 'KES',
    programmes: '*',
    limits: { minMinor: null, maxMinor: null },
    callLimits: { ratePerSecond: e.MPESA_RATE_PER_SECOND ?? null, concurrency: e.MPESA_CONCURRENCY ?? null },
    callbackAuth: { mode: 'url-token', allowList: e.MPESA_CALLBACK_ALLOWLIST ?? null, hmacSecret: null },
    settings: {
      baseUrl: mpesaBaseUrl.replace(/\/+$/, ''),
      consumerKey: secretOf('MPESA_CONSUMER_KEY'),
      consumerSecret: secretOf('MPESA_CONSUMER_SECRET'),
      shortcode: secretOf('MPESA_SHORTCODE'),
      initiatorName: secretOf('MPESA_INITIATOR_NAME'),
      securityCredential: mpesaCredential(e, dev, problems),
    },
  });
  const momo = momoConfig(e, dev, problems);
  if (momo && isCurrencyCode(momo.currency) && Object.hasOwn(momoMarketCountries, momo.targetEnvironment)) {
    const { currency, ...settings } = momo;
    accounts.push({
      id: 'mtn-momo',
      provider: 'mtn-momo',
      country: momoMarketCountries[momo.targetEnvironment]!,
      currency,
      programmes: '*',
      limits: { minMinor: null, maxMinor: null },
      callLimits: { ratePerSecond: null, concurrency: null },
      callbackAuth: { mode: 'url-token', allowList: null, hmacSecret: null },
      settings,
    });
  }
  checkAccounts(accounts, (m) => problems.push(m));
  return accounts;
}

/**
 * What the commands beside a running Tuma use (ledger, payouts, callbacks, migrate, token, demo):
 * the mode, the log level and where the API, the database and the broker are. No secret is
 * required, so such a command asks only for what it reads (issue #21).
 */
export type ToolConfig = Pick<Config, 'devMode' | 'logLevel' | 'http' | 'database' | 'kafka'>;

const toolEnvSchema = envSchema.pick({
  TUMA_DEV_MODE: true, LOG_LEVEL: true, HTTP_HOST: true, HTTP_PORT: true, HTTP_BODY_MAX_BYTES: true, PUBLIC_BASE_URL: true,
  DATABASE_URL: true, DATABASE_POOL_MAX: true, DATABASE_APP_ROLE: true, EMBEDDED_DATA_DIR: true, EMBEDDED_DATABASE_PORT: true,
  KAFKA_BROKERS: true, KAFKA_CLIENT_ID: true, KAFKA_TOPIC_PREFIX: true, KAFKA_TOPIC_PARTITIONS: true, KAFKA_SESSION_TIMEOUT_MS: true,
});

function toolConfigOf(e: z.infer<typeof toolEnvSchema>): ToolConfig {
  return {
    devMode: e.TUMA_DEV_MODE,
    logLevel: e.LOG_LEVEL,
    http: { host: e.HTTP_HOST, port: e.HTTP_PORT, bodyMaxBytes: e.HTTP_BODY_MAX_BYTES, publicBaseUrl: e.PUBLIC_BASE_URL ? e.PUBLIC_BASE_URL.replace(/\/+$/, '') : null },
    database: {
      url: e.DATABASE_URL ?? null,
      poolMax: e.DATABASE_POOL_MAX,
      appRole: e.DATABASE_APP_ROLE === 'none' ? null : e.DATABASE_APP_ROLE,
      embeddedDataDir: e.EMBEDDED_DATA_DIR,
      embeddedPort: e.EMBEDDED_DATABASE_PORT,
    },
    kafka: {
      brokers: e.KAFKA_BROKERS ? e.KAFKA_BROKERS.split(',') : null,
      clientId: e.KAFKA_CLIENT_ID,
      topicPrefix: e.KAFKA_TOPIC_PREFIX,
      topicPartitions: e.KAFKA_TOPIC_PARTITIONS,
      sessionTimeoutMs: e.KAFKA_SESSION_TIMEOUT_MS,
    },
  };
}

/** Reads and validates only ToolConfig's variables (as loadConfig does); throws ConfigError naming a bad one. */
export function loadToolConfig(env: Env): ToolConfig {
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = toolEnvSchema.safeParse(present);
  if (!parsed.success) throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join('.') || '(env)'}: ${i.message}`));
  return deepFreeze(toolConfigOf(parsed.data));
}

/** What an operator's command on the vault needs (`tuma keys rotate-master`): the tools' part and the master key. */
export type VaultToolConfig = ToolConfig & { readonly crypto: { readonly masterKey: Buffer } };

/** The tools' part of the configuration and TUMA_MASTER_KEY, nothing else (no provider, issuer or port). */
export function loadVaultToolConfig(env: Env): VaultToolConfig {
  const tool = loadToolConfig(env);
  const masterKey = env.TUMA_MASTER_KEY;
  if (!masterKey) throw new ConfigError(['TUMA_MASTER_KEY: is required (the master key that wraps the data keys today)']);
  if (!/^[A-Za-z0-9+/]{43}=$/.test(masterKey)) throw new ConfigError(['TUMA_MASTER_KEY: must be 32 bytes in base64 (44 characters)']);
  return deepFreeze({ ...tool, crypto: { masterKey: Buffer.from(masterKey, 'base64') } });
}

/** Reads, validates and freezes the configuration. Throws ConfigError naming every bad variable. */
export function loadConfig(env: Env): Config {
  // Empty strings count as unset: `FOO= tuma start` should not mean "FOO is the empty string".
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = envSchema.safeParse(present);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join('.') || '(env)'}: ${i.message}`));
  }
  const e = parsed.data;
  const problems: string[] = [];
  const dev = e.TUMA_DEV_MODE;
  const secretOf = (name: keyof typeof devSecrets): string => e[name] ?? (dev ? devSecrets[name] : missing(name, problems));

  const masterKeyB64 = e.TUMA_MASTER_KEY ?? missing('TUMA_MASTER_KEY', problems);
  const accounts = e.PROVIDERS_FILE !== undefined ? accountsFromFile(e, env, problems) : accountsFromEnv(e, dev, problems, secretOf);
  const jwks = parseJwks(e.AUTH_JWKS, problems);
  if (e.AUTH_JWKS === undefined && !e.AUTH_JWKS_URL) problems.push('AUTH_JWKS: is required, or AUTH_JWKS_URL (in dev mode `tuma` creates a local issuer)');
  const issuer = e.AUTH_ISSUER ?? (dev ? devAuth.issuer : missing('AUTH_ISSUER', problems));
  const audience = e.AUTH_AUDIENCE ?? (dev ? devAuth.audience : missing('AUTH_AUDIENCE', problems));
  if (e.STATUS_CHECK_BACKOFF_MAX_MS < e.STATUS_CHECK_FIRST_AFTER_MS) problems.push('STATUS_CHECK_BACKOFF_MAX_MS: must be at least STATUS_CHECK_FIRST_AFTER_MS');
  if (e.PAYOUT_RETRY_BACKOFF_MAX_MS < e.PAYOUT_RETRY_BACKOFF_MS) problems.push('PAYOUT_RETRY_BACKOFF_MAX_MS: must be at least PAYOUT_RETRY_BACKOFF_MS');
  if (e.STATUS_SUBMITTING_STALE_AFTER_MS <= e.PROVIDER_TIMEOUT_MS) problems.push('STATUS_SUBMITTING_STALE_AFTER_MS: must be more than PROVIDER_TIMEOUT_MS (a live call stays in submitting that long)');
  for (const a of accounts) {
    if (a.callLimits.concurrency !== null && a.callLimits.concurrency < e.WORKER_PROCESSES) {
      problems.push(`WORKER_PROCESSES: ${e.WORKER_PROCESSES} worker processes cannot share account ${a.id}'s ${a.callLimits.concurrency} call(s) at once (each needs one)`);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);

  const config: Config = {
    ...toolConfigOf(e),
    crypto: { masterKey: Buffer.from(masterKeyB64, 'base64'), sealThreads: e.SEAL_THREADS },
    providers: { accounts },
    simulator: { port: e.SIMULATOR_PORT, callbackDelayMs: e.SIMULATOR_CALLBACK_DELAY_MS },
    metrics: e.METRICS_ENABLED ? { host: e.METRICS_HOST, port: e.METRICS_PORT } : null,
    auth: { issuer, audience, jwks, jwksUrl: e.AUTH_JWKS_URL ?? null, clockToleranceSeconds: e.AUTH_CLOCK_TOLERANCE_S, consoleOidc: e.CONSOLE_OIDC_CLIENT_ID ? { clientId: e.CONSOLE_OIDC_CLIENT_ID, scope: e.CONSOLE_OIDC_SCOPE } : null },
    ledger: { chainIntervalMs: e.LEDGER_CHAIN_INTERVAL_MS },
    limits: {
      batchPayoutsMax: e.BATCH_PAYOUTS_MAX,
      batchExpiryIntervalMs: e.BATCH_EXPIRY_INTERVAL_MS,
      relayChunkMax: e.RELAY_CHUNK_MAX,
      relayPollIntervalMs: e.RELAY_POLL_INTERVAL_MS,
      workerConcurrencyMax: e.WORKER_CONCURRENCY_MAX,
      workerProcesses: e.WORKER_PROCESSES,
      callsInFlightReportIntervalMs: e.CALLS_IN_FLIGHT_REPORT_INTERVAL_MS,
      workerPartitionWindow: e.WORKER_PARTITION_WINDOW ?? null,
      settlerChunkMax: e.SETTLER_CHUNK_MAX,
      providerTimeoutMs: e.PROVIDER_TIMEOUT_MS,
      shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    },
    statusPoll: {
      intervalMs: e.STATUS_POLL_INTERVAL_MS,
      limit: e.STATUS_POLL_LIMIT,
      firstAfterMs: e.STATUS_CHECK_FIRST_AFTER_MS,
      backoffMaxMs: e.STATUS_CHECK_BACKOFF_MAX_MS,
      checksMax: e.STATUS_CHECKS_MAX,
      submittingStaleAfterMs: e.STATUS_SUBMITTING_STALE_AFTER_MS,
    },
    reconciliation: { overdueDays: e.RECONCILIATION_OVERDUE_DAYS, approvalAbove: e.RECONCILIATION_APPROVAL_ABOVE, tolerance: e.RECONCILIATION_TOLERANCE },
    httpLimits: {
      ratePerMinute: { read: e.HTTP_RATE_READ_PER_MINUTE, write: e.HTTP_RATE_WRITE_PER_MINUTE, bulk: e.HTTP_RATE_BULK_PER_MINUTE, callback: e.HTTP_RATE_CALLBACK_PER_MINUTE },
      timeoutMs: { read: e.HTTP_TIMEOUT_READ_MS, write: e.HTTP_TIMEOUT_WRITE_MS, bulk: e.HTTP_TIMEOUT_BULK_MS, callback: e.HTTP_TIMEOUT_CALLBACK_MS },
    },
    unsignedCallbacks: {
      orphansPerMinute: e.CALLBACK_UNSIGNED_ORPHANS_PER_MINUTE,
      orphanBytesPerMinute: e.CALLBACK_UNSIGNED_ORPHAN_BYTES_PER_MINUTE,
      orphanRetentionMs: e.CALLBACK_ORPHAN_RETENTION_MS,
      purgeIntervalMs: e.CALLBACK_ORPHAN_PURGE_INTERVAL_MS,
    },
    retry: { reasons: e.PAYOUT_RETRY_REASONS ?? retryableFailureReasons, attemptsMax: e.PAYOUT_ATTEMPTS_MAX, backoffMs: e.PAYOUT_RETRY_BACKOFF_MS, backoffMaxMs: e.PAYOUT_RETRY_BACKOFF_MAX_MS },
    breaker: {
      errorThresholdPercent: e.BREAKER_ERROR_THRESHOLD_PERCENT,
      resetTimeoutMs: e.BREAKER_RESET_TIMEOUT_MS,
      volumeThreshold: e.BREAKER_VOLUME_THRESHOLD,
    },
  };
  return deepFreeze(config);
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Buffer.isBuffer(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/** The process environment, read here and only here. */
export function processEnv(): Env {
  return process.env;
}

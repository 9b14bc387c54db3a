import { ConfigError, loadConfig } from '../../src/config/config.js';

const key = Buffer.alloc(32, 7).toString('base64');
const jwks = JSON.stringify({ keys: [{ kty: 'EC', crv: 'P-256', x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU', y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0', alg: 'ES256' }] });
const production = {
  AUTH_ISSUER: 'https://login.example.org',
  AUTH_AUDIENCE: 'tuma',
  AUTH_JWKS: jwks,
  DATABASE_URL: 'postgres://u@127.0.0.1:5432/tuma',
  KAFKA_BROKERS: '127.0.0.1:9092',
  TUMA_MASTER_KEY: key,
  MPESA_BASE_URL: 'https://api.example.org',
  MPESA_CONSUMER_KEY: 'ck',
  MPESA_CONSUMER_SECRET: 'cs',
  MPESA_SHORTCODE: '600000',
  MPESA_INITIATOR_NAME: 'init',
  MPESA_SECURITY_CREDENTIAL: 'cred',
};

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return [...error.problems];
    throw error;
  }
  return [];
}

describe('config', () => {
  it('when every production variable is set, then it loads, frozen', () => {
    const config = loadConfig(production);
    expect(config.database.url).toBe(production.DATABASE_URL);
    expect(config.kafka.brokers).toEqual(['127.0.0.1:9092']);
    expect(config.kafka.sessionTimeoutMs).toBe(30_000);
    expect(loadConfig({ ...production, KAFKA_SESSION_TIMEOUT_MS: '6000' }).kafka.sessionTimeoutMs).toBe(6_000);
    // Unset, the worker's window is sized from the accounts' call limits (config/worker-window.ts).
    expect(config.limits.workerPartitionWindow).toBeNull();
    expect(loadConfig({ ...production, WORKER_PARTITION_WINDOW: '12' }).limits.workerPartitionWindow).toBe(12);
    // The M-Pesa shorthand's call limits reach its account (and so the worker's window).
    expect(config.providers.accounts.find((x) => x.id === 'mpesa')!.callLimits).toEqual({ ratePerSecond: null, concurrency: null });
    expect(loadConfig({ ...production, MPESA_CONCURRENCY: '1000', MPESA_RATE_PER_SECOND: '12.5' }).providers.accounts.find((x) => x.id === 'mpesa')!.callLimits)
      .toEqual({ ratePerSecond: 12.5, concurrency: 1000 });
    // One worker process unless told: it takes the accounts' whole limits.
    expect(config.limits.workerProcesses).toBe(1);
    expect(loadConfig({ ...production, WORKER_PROCESSES: '2', MPESA_CONCURRENCY: '2' }).limits.workerProcesses).toBe(2);
    expect(loadConfig(production).limits.callsInFlightReportIntervalMs).toBe(5_000);
    expect(loadConfig({ ...production, CALLS_IN_FLIGHT_REPORT_INTERVAL_MS: '60000' }).limits.callsInFlightReportIntervalMs).toBe(60_000);
    expect(config.crypto.masterKey.length).toBe(32);
    expect(Object.isFrozen(config.limits)).toBe(true);
    expect(() => {
      (config.limits as { batchPayoutsMax: number }).batchPayoutsMax = 1;
    }).toThrow();
  });

  it('when secrets are missing outside dev mode, then it refuses and names each variable', () => {
    const { TUMA_MASTER_KEY: _k, MPESA_CONSUMER_SECRET: _s, ...rest } = production;
    const found = problems(rest);
    expect(found).toEqual(expect.arrayContaining([expect.stringMatching(/^TUMA_MASTER_KEY: /), expect.stringMatching(/^MPESA_CONSUMER_SECRET: /)]));
  });

  it.each([
    ['HTTP_PORT', '70000'],
    ['HTTP_PORT', 'eighty'],
    ['BATCH_PAYOUTS_MAX', '0'],
    ['BATCH_PAYOUTS_MAX', '99999999'],
    ['DATABASE_POOL_MAX', '-1'],
    ['KAFKA_BROKERS', 'localhost'],
    ['TUMA_MASTER_KEY', 'c2hvcnQ='],
    ['DATABASE_URL', 'not a url'],
    ['TUMA_DEV_MODE', 'yes'],
    ['LOG_LEVEL', 'loud'],
    ['AUTH_JWKS', 'not json'],
    ['AUTH_JWKS', '{"keys":[]}'],
    ['AUTH_JWKS', JSON.stringify({ keys: [{ kty: 'EC', d: 'private' }] })],
    ['AUTH_JWKS_URL', 'ftp://keys.example.org'],
    ['LEDGER_CHAIN_INTERVAL_MS', '0'],
    ['SEAL_THREADS', '17'],
    ['SEAL_THREADS', 'two'],
    ['MPESA_CALLBACK_ALLOWLIST', '10.0.0.0/33'],
    ['MPESA_CALLBACK_ALLOWLIST', 'safaricom.co.ke'],
    ['WORKER_PARTITION_WINDOW', '0'],
    ['PAYOUT_RETRY_REASONS', 'payee_not_found'],
    ['PAYOUT_RETRY_REASONS', 'insufficient_float,sometimes'],
    ['PAYOUT_ATTEMPTS_MAX', '21'],
    ['PAYOUT_RETRY_BACKOFF_MS', '0'],
    ['WORKER_PARTITION_WINDOW', '257'],
    ['MPESA_CONCURRENCY', '0'],
    ['MPESA_CONCURRENCY', '1025'],
    ['MPESA_RATE_PER_SECOND', '-1'],
    ['MPESA_RATE_PER_SECOND', 'fast'],
    ['WORKER_PROCESSES', '0'],
    ['WORKER_PROCESSES', '65'],
    // Calls in flight reported at most every minute, at least every 100 ms.
    ['CALLS_IN_FLIGHT_REPORT_INTERVAL_MS', '99'],
    ['CALLS_IN_FLIGHT_REPORT_INTERVAL_MS', '60001'],
    ['CALLS_IN_FLIGHT_REPORT_INTERVAL_MS', '5s'],
    // Three processes cannot share two calls at once: each needs one.
    ['WORKER_PROCESSES', '3', { MPESA_CONCURRENCY: '2' }],
    // Below the broker's group.min.session.timeout.ms, above five minutes, or not whole.
    ['KAFKA_SESSION_TIMEOUT_MS', '5999'],
    ['KAFKA_SESSION_TIMEOUT_MS', '300001'],
    ['KAFKA_SESSION_TIMEOUT_MS', '30s'],
    ['STATUS_SUBMITTING_STALE_AFTER_MS', '3600001'],
    // Not more than the provider timeout (10 s by default): a live call would be taken for stranded.
    ['STATUS_SUBMITTING_STALE_AFTER_MS', '10000'],
  ] as [string, string, Record<string, string>?][])('when %s is %p, then the start is refused naming it', (name, value, beside = {}) => {
    expect(problems({ ...production, ...beside, [name]: value })).toEqual([expect.stringMatching(new RegExp(`^${name}: `))]);
  });

  it('when the token issuer is missing outside dev mode, then it refuses and names each variable', () => {
    const { AUTH_ISSUER: _i, AUTH_AUDIENCE: _a, AUTH_JWKS: _j, ...rest } = production;
    expect(problems(rest)).toEqual(expect.arrayContaining([expect.stringMatching(/^AUTH_JWKS: /), expect.stringMatching(/^AUTH_ISSUER: /), expect.stringMatching(/^AUTH_AUDIENCE: /)]));
  });

  it('when dev mode is on, then provider secrets have dev stand-ins but the master key and issuer keys are still required', () => {
    expect(problems({ TUMA_DEV_MODE: 'true' })).toEqual([expect.stringMatching(/^TUMA_MASTER_KEY: /), expect.stringMatching(/^AUTH_JWKS: /)]);
    const config = loadConfig({ TUMA_DEV_MODE: 'true', TUMA_MASTER_KEY: key, AUTH_JWKS: jwks });
    expect(config.auth.issuer).toBe('tuma-dev');
    expect(config.database.url).toBeNull();
    expect(config.kafka.brokers).toBeNull();
    expect(config.providers.accounts.map((a) => [a.id, a.provider, a.country, a.currency, a.settings.baseUrl])).toEqual([
      ['mpesa', 'mpesa', 'KE', 'KES', 'http://127.0.0.1:8090'],
      ['mtn-momo', 'mtn-momo', 'UG', 'UGX', 'http://127.0.0.1:8090'],
    ]);
  });

  it('when PAYOUT_RETRY_REASONS is a list or none, then the retry policy tries exactly those again', () => {
    expect(loadConfig({ ...production, PAYOUT_RETRY_REASONS: 'none' }).retry.reasons).toEqual([]);
    expect(loadConfig({ ...production, PAYOUT_RETRY_REASONS: 'expired, provider_failure' }).retry.reasons).toEqual(['expired', 'provider_failure']);
    expect(loadConfig(production).retry).toEqual({ reasons: ['insufficient_float', 'payer_limit_exceeded', 'expired', 'provider_failure'], attemptsMax: 3, backoffMs: 60_000, backoffMaxMs: 900_000 });
    expect(problems({ ...production, PAYOUT_RETRY_BACKOFF_MS: '5000', PAYOUT_RETRY_BACKOFF_MAX_MS: '4000' })).toEqual([expect.stringMatching(/^PAYOUT_RETRY_BACKOFF_MAX_MS: /)]);
  });

  it('when a variable is set to the empty string, then it counts as unset', () => {
    expect(loadConfig({ ...production, HTTP_PORT: '' }).http.port).toBe(8080);
  });

  describe('MTN MoMo', () => {
    const momo = { MOMO_BASE_URL: 'https://proxy.momoapi.mtn.com', MOMO_API_USER_ID: 'u', MOMO_API_KEY: 'k', MOMO_SUBSCRIPTION_KEY: 's', MOMO_TARGET_ENVIRONMENT: 'mtnuganda', MOMO_CURRENCY: 'UGX' };

    it('when no MOMO_* variable is set outside dev mode, then MoMo is not offered', () => {
      expect(loadConfig(production).providers.accounts.map((a) => a.provider)).toEqual(['mpesa']);
    });

    it('when every MOMO_* variable is set, then MoMo is configured for that market', () => {
      expect(loadConfig({ ...production, ...momo }).providers.accounts[1]).toEqual({
        id: 'mtn-momo',
        provider: 'mtn-momo',
        country: 'UG',
        currency: 'UGX',
        programmes: '*',
        limits: { minMinor: null, maxMinor: null },
        callLimits: { ratePerSecond: null, concurrency: null },
        callbackAuth: { mode: 'url-token', allowList: null, hmacSecret: null },
        settings: { baseUrl: 'https://proxy.momoapi.mtn.com', apiUserId: 'u', apiKey: 'k', subscriptionKey: 's', targetEnvironment: 'mtnuganda' },
      });
    });

    it('when only some MOMO_* variables are set, then each missing one is named', () => {
      expect(problems({ ...production, MOMO_BASE_URL: momo.MOMO_BASE_URL, MOMO_API_KEY: 'k' }).sort()).toEqual(
        ['MOMO_API_USER_ID', 'MOMO_CURRENCY', 'MOMO_SUBSCRIPTION_KEY', 'MOMO_TARGET_ENVIRONMENT'].map((n) => `${n}: is required with the other MOMO_* variables`),
      );
    });

    it.each([
      ['MOMO_CURRENCY', 'KES', /MTN MoMo does not pay in KES/],
      ['MOMO_CURRENCY', 'ugx', /ISO 4217/],
      ['MOMO_TARGET_ENVIRONMENT', 'MTN Uganda', /market/],
    ])('when %s is %p, then the start is refused naming it', (name, value, reason) => {
      expect(problems({ ...production, ...momo, [name]: value })).toEqual([expect.stringMatching(new RegExp(`^${name}: .*${reason.source}`))]);
    });
  });
});


describe('the vault tool configuration (tuma keys rotate-master)', () => {
  it('when only DATABASE_URL and TUMA_MASTER_KEY are set, then it loads them and asks for nothing else; without the key it names only the key', async () => {
    const { loadVaultToolConfig, ConfigError } = await import('../../src/config/config.js');
    const key = Buffer.alloc(32, 7).toString('base64');
    const cfg = loadVaultToolConfig({ DATABASE_URL: 'postgres://tuma@127.0.0.1:5432/tuma', TUMA_MASTER_KEY: key });
    expect([cfg.database.url, cfg.crypto.masterKey.equals(Buffer.alloc(32, 7))]).toEqual(['postgres://tuma@127.0.0.1:5432/tuma', true]);
    expect(() => loadVaultToolConfig({ DATABASE_URL: 'postgres://x@127.0.0.1/x' })).toThrow(ConfigError);
    try {
      loadVaultToolConfig({ TUMA_MASTER_KEY: 'short' });
    } catch (error) {
      expect((error as InstanceType<typeof ConfigError>).message).toMatch(/TUMA_MASTER_KEY/);
      expect((error as InstanceType<typeof ConfigError>).message).not.toMatch(/MPESA|AUTH_/);
    }
  });
});

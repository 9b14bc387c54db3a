// Provider accounts (issue #5 item 6): the accounts file is validated at start with every problem
// named by its place; credentials are references resolved from the environment or files; a payout
// is routed to exactly one account by programme, provider, currency and country.
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../../src/config/config.js';
import { accountFor, routesFor, type ProviderAccount } from '../../src/config/provider-accounts.js';
import { parseBatchDocument, type RowPolicy } from '../../src/domain/batch-document.js';

const dir = mkdtempSync(join(tmpdir(), 'tuma-accounts-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const key = Buffer.alloc(32, 7).toString('base64');
const jwks = JSON.stringify({ keys: [{ kty: 'EC', crv: 'P-256', x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU', y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0', alg: 'ES256' }] });
const base = { AUTH_ISSUER: 'https://login.example.org', AUTH_AUDIENCE: 'tuma', AUTH_JWKS: jwks, DATABASE_URL: 'postgres://u@127.0.0.1:5432/tuma', TUMA_MASTER_KEY: key };
const secrets = { KE_KEY: 'ck', KE_SECRET: 'cs', KE_CRED: 'credential', UG_USER: 'user', UG_KEY: 'apikey', UG_SUB: 'sub', GH_USER: 'user-gh' };

const mpesaKe = {
  id: 'mpesa-ke',
  provider: 'mpesa',
  country: 'KE',
  currency: 'KES',
  baseUrl: 'https://api.safaricom.co.ke/',
  consumerKey: { env: 'KE_KEY' },
  consumerSecret: { env: 'KE_SECRET' },
  shortcode: '600000',
  initiatorName: 'tuma',
  securityCredential: { env: 'KE_CRED' },
  callbackAuth: { allowList: '196.201.214.0/24' },
};
const momoUg = {
  id: 'momo-ug',
  provider: 'mtn-momo',
  country: 'UG',
  currency: 'UGX',
  baseUrl: 'https://proxy.momoapi.mtn.com',
  apiUserId: { env: 'UG_USER' },
  apiKey: { env: 'UG_KEY' },
  subscriptionKey: { env: 'UG_SUB' },
  targetEnvironment: 'mtnuganda',
  limits: { payoutMin: '500', payoutMax: '2000000', ratePerSecond: 20, concurrency: 8 },
};

const airtelKey = join(dir, 'airtel.pem');
writeFileSync(airtelKey, generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }));
const airtelZm = {
  id: 'airtel-zm',
  provider: 'airtel',
  country: 'ZM',
  currency: 'ZMW',
  baseUrl: 'https://openapi.airtel.africa',
  clientId: { env: 'ZM_ID' },
  clientSecret: { env: 'ZM_SECRET' },
  pin: { env: 'ZM_PIN' },
  pinPublicKeyFile: airtelKey,
};
const airtelEnv = { ZM_ID: 'id', ZM_SECRET: 'secret', ZM_PIN: '1234', ZM_HMAC: 'hmac-secret' };

let files = 0;
function accountsFile(content: unknown): string {
  const path = join(dir, `accounts-${files++}.json`);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

function load(accounts: unknown, env: Record<string, string> = {}) {
  return loadConfig({ ...base, ...secrets, ...env, PROVIDERS_FILE: accountsFile({ accounts }) });
}

function problems(accounts: unknown, env: Record<string, string> = {}): string[] {
  try {
    load(accounts, env);
  } catch (error) {
    if (error instanceof ConfigError) return [...error.problems];
    throw error;
  }
  return [];
}

describe('provider accounts file', () => {
  it('when it lists valid accounts, then each is resolved with its secrets, market, limits and callback authentication', () => {
    const accounts = load([mpesaKe, momoUg]).providers.accounts;
    expect(accounts).toEqual([
      {
        id: 'mpesa-ke', provider: 'mpesa', country: 'KE', currency: 'KES', programmes: '*',
        limits: { minMinor: null, maxMinor: null },
        callLimits: { ratePerSecond: null, concurrency: null },
        callbackAuth: { mode: 'url-token', allowList: '196.201.214.0/24', hmacSecret: null },
        settings: { baseUrl: 'https://api.safaricom.co.ke', consumerKey: 'ck', consumerSecret: 'cs', shortcode: '600000', initiatorName: 'tuma', securityCredential: 'credential' },
      },
      {
        id: 'momo-ug', provider: 'mtn-momo', country: 'UG', currency: 'UGX', programmes: '*',
        limits: { minMinor: 500n, maxMinor: 2_000_000n },
        callLimits: { ratePerSecond: 20, concurrency: 8 },
        callbackAuth: { mode: 'url-token', allowList: null, hmacSecret: null },
        settings: { baseUrl: 'https://proxy.momoapi.mtn.com', apiUserId: 'user', apiKey: 'apikey', subscriptionKey: 'sub', targetEnvironment: 'mtnuganda' },
      },
    ]);
  });

  it('when a secret is a file reference, then the file is read without its trailing newline', () => {
    const secretFile = join(dir, 'ke-secret');
    writeFileSync(secretFile, 'from-a-file\n');
    const account = load([{ ...mpesaKe, consumerSecret: { file: secretFile } }]).providers.accounts[0]!;
    expect(account.provider === 'mpesa' && account.settings.consumerSecret).toBe('from-a-file');
  });

  it('when the M-Pesa credential is computed from a password and a certificate, then it is RSA-encrypted at start', () => {
    const certificate = join(dir, 'cert.pem');
    writeFileSync(certificate, generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }));
    const { securityCredential: _c, ...rest } = mpesaKe;
    const account = load([{ ...rest, initiatorPassword: { env: 'KE_PASSWORD' }, certificateFile: certificate }], { KE_PASSWORD: 'pw' }).providers.accounts[0]!;
    expect(account.provider === 'mpesa' && Buffer.from(account.settings.securityCredential, 'base64').length).toBe(256);
  });

  it('when an Airtel account confirms its callbacks by status query without an allow-list, then the start is refused outside dev mode only', () => {
    expect(problems([airtelZm], airtelEnv)).toEqual([expect.stringMatching(/^PROVIDERS_FILE accounts\[0\]\.callbackAuth\.allowList: is required in status-query mode/)]);
    expect(load([airtelZm], { ...airtelEnv, TUMA_DEV_MODE: 'true' }).providers.accounts[0]!.callbackAuth).toMatchObject({ mode: 'status-query', allowList: null });
    expect(problems([{ ...airtelZm, callbackAuth: { mode: 'hmac', hmacSecret: { env: 'ZM_HMAC' } } }], airtelEnv)).toEqual([]);
  });

  it('when an Airtel account is given, then its PIN is encrypted at start and its callbacks default to confirmation by status query', () => {
    const account = load([{ ...airtelZm, callbackAuth: { allowList: '196.46.0.0/16' } }], airtelEnv).providers.accounts[0]!;
    expect(account).toMatchObject({ id: 'airtel-zm', provider: 'airtel', country: 'ZM', currency: 'ZMW', callbackAuth: { mode: 'status-query', hmacSecret: null } });
    expect(account.provider === 'airtel' && Buffer.from(account.settings.encryptedPin, 'base64').length).toBe(256);
    const signed = load([{ ...airtelZm, callbackAuth: { mode: 'hmac', hmacSecret: { env: 'ZM_HMAC' } } }], airtelEnv).providers.accounts[0]!;
    expect(signed.callbackAuth).toEqual({ mode: 'hmac', allowList: null, hmacSecret: 'hmac-secret' });
  });

  it.each<[string, unknown, Record<string, string>, RegExp]>([
    ['a PIN that is not four digits', [airtelZm], { ...airtelEnv, ZM_PIN: '12a4' }, /accounts\[0\]\.pinPublicKeyFile: .*four/i],
    ['a missing public key file', [{ ...airtelZm, pinPublicKeyFile: '/nonexistent/airtel.pem' }], airtelEnv, /accounts\[0\]\.pinPublicKeyFile: the file \/nonexistent\/airtel.pem cannot be read/],
    ['an unknown PIN padding', [{ ...airtelZm, pinPadding: 'oaep-sha1' }], airtelEnv, /accounts\[0\]\.pinPadding: /],
    ['hmac mode without a secret', [{ ...airtelZm, callbackAuth: { mode: 'hmac' } }], airtelEnv, /accounts\[0\]\.callbackAuth\.hmacSecret: is required in hmac mode/],
    ['a country Airtel is not in', [{ ...airtelZm, country: 'GH', currency: 'GHS' }], airtelEnv, /accounts\[0\]\.country: airtel does not operate in GH/],
  ])('when an Airtel account has %s, then the start is refused naming it', (_name, accounts, env, message) => {
    expect(problems(accounts, env)).toEqual(expect.arrayContaining([expect.stringMatching(message)]));
  });

  it.each<[string, unknown, RegExp]>([
    ['an unknown provider', [{ ...mpesaKe, provider: 'orange' }], /accounts\[0\]\.provider: provider must be one of/],
    ['a bad id', [{ ...mpesaKe, id: 'M-Pesa KE' }], /accounts\[0\]\.id: must be 1-63/],
    ['a country the provider does not serve', [{ ...mpesaKe, country: 'UG' }], /accounts\[0\]\.country: mpesa does not operate in UG/],
    ['a currency the provider does not pay in', [{ ...mpesaKe, currency: 'UGX' }], /accounts\[0\]\.currency: mpesa does not pay in UGX/],
    ['a currency Tuma does not know', [{ ...momoUg, currency: 'XYZ' }], /accounts\[0\]\.currency: XYZ is not a currency Tuma pays in/],
    ['a secret written in the file', [{ ...mpesaKe, consumerKey: 'ck-in-clear' }], /accounts\[0\]\.consumerKey: must be \{"env": "VARIABLE"\} or \{"file": "\/path"\}/],
    ['a secret variable that is not set', [{ ...mpesaKe, consumerKey: { env: 'NOT_SET' } }], /accounts\[0\]\.consumerKey: the environment variable NOT_SET is not set/],
    ['a secret file that does not exist', [{ ...mpesaKe, consumerKey: { file: '/nonexistent/secret' } }], /accounts\[0\]\.consumerKey: the file \/nonexistent\/secret cannot be read \(ENOENT\)/],
    ['both kinds of M-Pesa credential', [{ ...mpesaKe, initiatorPassword: { env: 'KE_KEY' } }], /accounts\[0\]\.securityCredential: give it, or initiatorPassword with certificateFile, not both/],
    ['no M-Pesa credential', [{ ...mpesaKe, securityCredential: undefined }], /accounts\[0\]\.initiatorPassword: is required/],
    ['a limit that is not an amount', [{ ...momoUg, limits: { payoutMax: '1.5' } }], /accounts\[0\]\.limits\.payoutMax: must be a positive decimal string in UGX/],
    ['a rate that is not positive', [{ ...momoUg, limits: { ratePerSecond: 0 } }], /accounts\[0\]\.limits\.ratePerSecond: /],
    ['a concurrency that is not whole', [{ ...momoUg, limits: { concurrency: 2.5 } }], /accounts\[0\]\.limits\.concurrency: /],
    ['a concurrency past its maximum', [{ ...momoUg, limits: { concurrency: 5000 } }], /accounts\[0\]\.limits\.concurrency: /],
    ['a minimum above the maximum', [{ ...momoUg, limits: { payoutMin: '5000', payoutMax: '100' } }], /accounts\[0\]\.limits: payoutMin is above payoutMax/],
    ['a maximum above the provider maximum', [{ ...mpesaKe, limits: { payoutMax: '300000' } }], /accounts\[0\]\.limits\.payoutMax: is above what mpesa pays in one transaction/],
    ['a callback mode the provider cannot use', [{ ...mpesaKe, callbackAuth: { mode: 'status-query' } }], /accounts\[0\]\.callbackAuth\.mode: mpesa callbacks can be authenticated by url-token, not status-query/],
    ['an HMAC secret outside hmac mode', [{ ...mpesaKe, callbackAuth: { hmacSecret: { env: 'KE_KEY' } } }], /accounts\[0\]\.callbackAuth\.hmacSecret: is used in hmac mode only/],
    ['a bad allow-list', [{ ...mpesaKe, callbackAuth: { allowList: 'safaricom.co.ke' } }], /accounts\[0\]\.callbackAuth\.allowList: /],
    ['an unknown member', [{ ...mpesaKe, password: 'x' }], /accounts\[0\]: Unrecognized key/],
    ['two accounts with one id', [mpesaKe, { ...mpesaKe, programmes: ['prog-1'] }], /two accounts have the id mpesa-ke/],
    ['two accounts for every programme in one market', [mpesaKe, { ...mpesaKe, id: 'mpesa-ke-2' }], /accounts mpesa-ke and mpesa-ke-2 both pay every programme in mpesa\/KES\/KE: a payout must have one payer/],
    ['two accounts listing one programme in one market', [{ ...mpesaKe, programmes: ['p-1'] }, { ...mpesaKe, id: 'b', programmes: ['p-2', 'p-1'] }], /both pay programme p-1 in mpesa\/KES\/KE/],
    ['no account', [], /PROVIDERS_FILE accounts: /],
  ])('when it has %s, then the start is refused naming it', (_name, accounts, message) => {
    expect(problems(accounts)).toEqual(expect.arrayContaining([expect.stringMatching(message)]));
  });

  it('when several accounts are wrong, then every problem is named at once', () => {
    expect(problems([{ ...mpesaKe, country: 'UG' }, { ...momoUg, apiKey: { env: 'NOPE' } }])).toEqual([
      'PROVIDERS_FILE accounts[0].country: mpesa does not operate in UG',
      'PROVIDERS_FILE accounts[1].apiKey: the environment variable NOPE is not set',
    ]);
  });

  it.each<[string, string, RegExp]>([
    ['not JSON', '{"accounts": [', /^PROVIDERS_FILE: is not JSON/],
    ['not an object of accounts', '[1,2]', /^PROVIDERS_FILE \(top\): /],
    ['larger than its maximum', `{"accounts": [], "pad": "${'x'.repeat(1024 * 1024)}"}`, /^PROVIDERS_FILE: is larger than/],
  ])('when the file is %s, then the start is refused', (_name, content, message) => {
    const path = accountsFile(content);
    expect(() => loadConfig({ ...base, PROVIDERS_FILE: path })).toThrow(ConfigError);
    try {
      loadConfig({ ...base, PROVIDERS_FILE: path });
    } catch (error) {
      expect((error as ConfigError).problems).toEqual([expect.stringMatching(message)]);
    }
  });

  it('when the file cannot be read, then the start is refused naming the reason', () => {
    expect(() => loadConfig({ ...base, PROVIDERS_FILE: join(dir, 'missing.json') })).toThrow(/PROVIDERS_FILE: cannot be read \(ENOENT\)/);
  });

  it('when MPESA_* variables are set beside the file, then the start is refused: which one counts would be a guess', () => {
    expect(problems([mpesaKe], { MPESA_SHORTCODE: '600001' })).toEqual([expect.stringMatching(/^PROVIDERS_FILE: is set, so MPESA_SHORTCODE must not be/)]);
  });
});

describe('routing a payout to its account', () => {
  const account = (id: string, country: string, programmes: readonly string[] | '*', currency = 'XAF') =>
    ({ id, provider: 'mtn-momo' as const, country, currency, programmes });
  const accounts = [account('cm-all', 'CM', '*'), account('cm-unhcr', 'CM', ['prog-unhcr']), account('cg-all', 'CG', '*')];

  it('when an account lists the programme, then it pays before the account for every programme', () => {
    expect(accountFor(accounts, { provider: 'mtn-momo', programmeId: 'prog-unhcr', currency: 'XAF' }, 'CM')?.id).toBe('cm-unhcr');
    expect(accountFor(accounts, { provider: 'mtn-momo', programmeId: 'prog-other', currency: 'XAF' }, 'CM')?.id).toBe('cm-all');
  });

  it('when two markets share a currency, then the country decides', () => {
    expect(accountFor(accounts, { provider: 'mtn-momo', programmeId: 'prog-unhcr', currency: 'XAF' }, 'CG')?.id).toBe('cg-all');
  });

  it('when no account serves the country, currency or provider, then there is none', () => {
    expect(accountFor(accounts, { provider: 'mtn-momo', programmeId: 'p', currency: 'XAF' }, 'CI')).toBeNull();
    expect(accountFor(accounts, { provider: 'mtn-momo', programmeId: 'p', currency: 'XOF' }, 'CM')).toBeNull();
    expect(accountFor(accounts, { provider: 'airtel', programmeId: 'p', currency: 'XAF' }, 'CM')).toBeNull();
  });
});

describe('batch rows against the programme accounts', () => {
  const accounts = load([{ ...momoUg, programmes: ['prog-ug'] }, { ...mpesaKe, limits: { payoutMax: '5000' } }]).providers.accounts as ProviderAccount[];
  const policy = (programmeId: string, currency: string): RowPolicy => ({
    providers: ['mpesa', 'mtn-momo'],
    payoutMaxMinor: null,
    rowErrors: 'reject_batch',
    routes: routesFor(accounts, programmeId, currency),
  });
  const document = (currency: string, programmeId: string, rows: { provider: string; msisdn: string; amount: string }[]) => ({
    batchId: '8d0f4b6e-1c2a-4f3b-9e7d-5a6b7c8d9e0f',
    organisationId: 'org-1',
    programmeId,
    currency,
    createdAt: '2026-11-25T08:00:00Z',
    expiresAt: '2026-11-26T08:00:00Z',
    declared: { count: rows.length, total: rows.reduce((t, r) => t + Number(r.amount), 0).toFixed(currency === 'KES' ? 2 : 0) },
    payouts: rows.map((r, i) => ({ ref: `r-${i}`, ...r })),
  });
  const codes = (result: ReturnType<typeof parseBatchDocument>) => (result.ok ? [] : result.error.map((e) => `${e.row}:${e.field}:${e.code}`));

  it('when the programme has an account for the provider, currency and country, then the row passes', () => {
    expect(codes(parseBatchDocument(document('UGX', 'prog-ug', [{ provider: 'mtn-momo', msisdn: '+256772000001', amount: '1000' }]), policy('prog-ug', 'UGX')))).toEqual([]);
  });

  it('when no account of the provider serves the programme, then the row is PROVIDER_NOT_CONFIGURED', () => {
    expect(codes(parseBatchDocument(document('UGX', 'prog-other', [{ provider: 'mtn-momo', msisdn: '+256772000001', amount: '1000' }]), policy('prog-other', 'UGX')))).toEqual(['0:provider:PROVIDER_NOT_CONFIGURED']);
  });

  it("when an amount is outside the account's limits, then it is refused with the amount codes", () => {
    const rows = [
      { provider: 'mtn-momo', msisdn: '+256772000001', amount: '100' },
      { provider: 'mtn-momo', msisdn: '+256772000002', amount: '2000001' },
    ];
    expect(codes(parseBatchDocument(document('UGX', 'prog-ug', rows), policy('prog-ug', 'UGX')))).toEqual(['0:amount:AMOUNT_BELOW_MINIMUM', '1:amount:AMOUNT_ABOVE_MAXIMUM']);
    expect(codes(parseBatchDocument(document('KES', 'p', [{ provider: 'mpesa', msisdn: '+254712345678', amount: '5001.00' }]), policy('p', 'KES')))).toEqual(['0:amount:AMOUNT_ABOVE_MAXIMUM']);
  });
});

// Provider accounts (issue #5 item 6): every account Tuma pays through — its provider, its market
// (country and currency), which programmes it serves, its limits, how its callbacks are
// authenticated and its credentials — read once at start from PROVIDERS_FILE and validated, every
// problem named by its place in the file. Credentials are never written in the file itself: each
// is a reference to an environment variable or a file (a mounted secret), resolved here.
//
// Routing: a payout goes through the account of its provider, currency and beneficiary country
// that lists its programme, or else the one that serves every programme ("*"). Two accounts that
// could both take the same payout are refused at start: a payout never has two possible payers.
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { isCurrencyCode, type CurrencyCode } from '../domain/currency.js';
import { parseAmount } from '../domain/money.js';
import { paysIn, providerRules, servesCountry, type AccountLimits, type ProviderId } from '../domain/providers.js';
import { parseAllowList } from '../adapters/http/callback-auth.js';
import { mpesaSecurityCredential } from '../adapters/providers/mpesa/security-credential.js';
import { encryptAirtelPin } from '../adapters/providers/airtel/pin.js';
import { airtelSettingsProblems, type AirtelSettings } from '../adapters/providers/airtel/airtel-client.js';
import type { MpesaSettings } from '../adapters/providers/mpesa/mpesa-client.js';
import type { MomoSettings } from '../adapters/providers/mtn-momo/momo-client.js';
import { callLimitsMax, type CallLimits } from '../adapters/providers/call-limiter.js';
import { gsmaBulkMax, type GsmaBulkSettings } from '../adapters/providers/gsma/gsma-bulk-provider.js';
import { gsmaBulkApprovals } from '../adapters/providers/gsma/gsma-bulk-mapping.js';
import { gsmaClientIdPattern, gsmaDateHeaders, gsmaDisbursementForms, type GsmaDateHeader, type GsmaDisbursementForm } from '../adapters/providers/gsma/mapping.js';

/** Named maxima of the accounts file. */
export const providerAccountsMax = {
  fileBytes: 1024 * 1024,
  accounts: 256,
  programmesPerAccount: 1_000,
  secretBytes: 16 * 1024,
} as const;

/** How an account's callbacks are authenticated (issue #5 item 3). */
export type CallbackAuthMode =
  /** An unguessable per-attempt token in the callback URL (providers that take a callback URL per request). */
  | 'url-token'
  /** An HMAC-SHA-256 signature over the raw body with a shared secret. */
  | 'hmac'
  /** Unauthenticated: a callback only triggers a status query; the query's answer moves the ledger. */
  | 'status-query';

/** Which modes a provider's callbacks can use; the first is the default. */
export const callbackModes: Readonly<Record<ProviderId, readonly CallbackAuthMode[]>> = {
  mpesa: ['url-token'],
  'mtn-momo': ['url-token'],
  gsma: ['url-token'],
  // Airtel's callback URL is set once in its portal: no per-payout token is possible.
  airtel: ['status-query', 'hmac'],
};

export interface CallbackAuth {
  readonly mode: CallbackAuthMode;
  /** Addresses callbacks may come from (IPs or CIDR blocks, comma-separated); null = any. */
  readonly allowList: string | null;
  /** The shared secret of 'hmac' mode. */
  readonly hmacSecret: string | null;
}

/** An account's settings are its client's, less what the account says itself (market) or the runtime adds (timeout). */
export type MomoAccountSettings = Omit<MomoSettings, 'timeoutMs'>;
export type AirtelAccountSettings = Omit<AirtelSettings, 'timeoutMs' | 'country' | 'currency'>;

export interface GsmaAccountSettings {
  readonly baseUrl: string;
  readonly tokenBaseUrl: string | null;
  readonly consumerKey: string;
  readonly consumerSecret: string;
  readonly apiKey: string | null;
  /** X-Client-Id on every call, when the provider asks for one. */
  readonly clientId?: string | null;
  /** POST /transactions/type/disbursement (type-in-path) or POST /transactions with the type in the body; absent: type-in-path. */
  readonly disbursementForm?: GsmaDisbursementForm;
  /** X-Date as an RFC 3339 date-time, an HTTP-date, or not sent; absent: date-time. */
  readonly dateHeader?: GsmaDateHeader;
  /** Bulk disbursement (POST /batchtransactions), when the provider offers it for this account; absent: one request per payout. */
  readonly bulk?: GsmaBulkSettings | null;
  readonly debitParty: readonly { readonly key: string; readonly value: string }[];
}

interface AccountBase {
  /** Stored with every attempt: lower-case letters, digits and dashes. */
  readonly id: string;
  readonly country: string;
  readonly currency: CurrencyCode;
  /** The programme ids this account pays for, or '*' for every programme without an account of its own. */
  readonly programmes: readonly string[] | '*';
  readonly limits: AccountLimits;
  /** How fast and how many at once Tuma may call the account (the partner's agreed rates). */
  readonly callLimits: CallLimits;
  readonly callbackAuth: CallbackAuth;
}

export type ProviderAccount =
  | (AccountBase & { readonly provider: 'mpesa'; readonly settings: MpesaSettings })
  | (AccountBase & { readonly provider: 'mtn-momo'; readonly settings: MomoAccountSettings })
  | (AccountBase & { readonly provider: 'gsma'; readonly settings: GsmaAccountSettings })
  | (AccountBase & { readonly provider: 'airtel'; readonly settings: AirtelAccountSettings });

// ---------- the file's schema ----------

const secretRef = z.union([
  z.object({ env: z.string().regex(/^[A-Z_][A-Z0-9_]{0,127}$/, 'must be an environment variable name') }).strict(),
  z.object({ file: z.string().min(1).max(4096) }).strict(),
], { error: 'must be {"env": "VARIABLE"} or {"file": "/path"}: credentials are referenced, never written in this file' });
type SecretRef = z.infer<typeof secretRef>;

const httpUrl = z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' });
const amountText = z.string().max(40);

const base = {
  id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be 1-63 of a-z, 0-9 and "-", starting with a letter or digit'),
  country: z.string().regex(/^[A-Z]{2}$/, 'must be an ISO 3166-1 alpha-2 code'),
  currency: z.string().regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code'),
  programmes: z
    .union([z.literal('*'), z.array(z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'must be a programme id')).min(1).max(providerAccountsMax.programmesPerAccount)], {
      error: 'must be "*" or a list of programme ids',
    })
    .default('*'),
  limits: z
    .object({
      payoutMin: amountText.optional(),
      payoutMax: amountText.optional(),
      ratePerSecond: z.number().positive().max(callLimitsMax.ratePerSecond).optional(),
      concurrency: z.number().int().min(1).max(callLimitsMax.concurrency).optional(),
    })
    .strict()
    .default({}),
  callbackAuth: z
    .object({
      mode: z.enum(['url-token', 'hmac', 'status-query']).optional(),
      allowList: z.string().max(4096).optional(),
      hmacSecret: secretRef.optional(),
    })
    .strict()
    .default({}),
  baseUrl: httpUrl,
};

const accountSchema = z.discriminatedUnion('provider', [
  z
    .object({
      ...base,
      provider: z.literal('mpesa'),
      consumerKey: secretRef,
      consumerSecret: secretRef,
      shortcode: z.string().regex(/^\d{5,7}$/, 'must be a 5-7 digit shortcode'),
      initiatorName: z.string().min(1).max(64),
      // Either the SecurityCredential itself, or the initiator password with Safaricom's certificate.
      securityCredential: secretRef.optional(),
      initiatorPassword: secretRef.optional(),
      certificateFile: z.string().min(1).max(4096).optional(),
    })
    .strict(),
  z
    .object({
      ...base,
      provider: z.literal('mtn-momo'),
      apiUserId: secretRef,
      apiKey: secretRef,
      subscriptionKey: secretRef,
      targetEnvironment: z.string().regex(/^[a-z]{3,40}$/, 'must be "sandbox" or a market such as "mtnuganda"'),
    })
    .strict(),
  z
    .object({
      ...base,
      provider: z.literal('gsma'),
      tokenBaseUrl: httpUrl.optional(),
      consumerKey: secretRef,
      consumerSecret: secretRef,
      apiKey: secretRef.optional(),
      clientId: z.string().regex(gsmaClientIdPattern, 'must be 1-256 printable ASCII characters without spaces (it is sent as the X-Client-Id header)').optional(),
      disbursementForm: z
        .enum(gsmaDisbursementForms, { error: 'must be "type-in-path" (POST /transactions/type/disbursement) or "type-in-body" (POST /transactions with "type": "disbursement")' })
        .default('type-in-path'),
      dateHeader: z.enum(gsmaDateHeaders, { error: 'must be "date-time" (RFC 3339), "http-date" (RFC 7231) or "none" (X-Date not sent)' }).default('date-time'),
      bulk: z
        .object({
          itemsMax: z.number({ error: `must be a whole number from 1 to ${gsmaBulkMax.itemsMax}` }).int(`must be a whole number from 1 to ${gsmaBulkMax.itemsMax}`).min(1, `must be a whole number from 1 to ${gsmaBulkMax.itemsMax}`).max(gsmaBulkMax.itemsMax, `must be a whole number from 1 to ${gsmaBulkMax.itemsMax}`),
          approval: z.enum(gsmaBulkApprovals, { error: 'must be "one-step" (the provider runs a batch at once) or "two-step" (Tuma approves each batch: PATCH to approved)' }).default('one-step'),
          lingerMs: z.number({ error: `must be a whole number from 0 to ${gsmaBulkMax.lingerMs}` }).int(`must be a whole number from 0 to ${gsmaBulkMax.lingerMs}`).min(0, `must be a whole number from 0 to ${gsmaBulkMax.lingerMs}`).max(gsmaBulkMax.lingerMs, `must be a whole number from 0 to ${gsmaBulkMax.lingerMs}`).default(20),
        })
        .strict()
        .optional(),
      debitParty: z.array(z.object({ key: z.string().min(1).max(64), value: z.string().min(1).max(256) }).strict()).min(1).max(10),
    })
    .strict(),
  z
    .object({
      ...base,
      provider: z.literal('airtel'),
      clientId: secretRef,
      clientSecret: secretRef,
      pin: secretRef,
      pinPublicKeyFile: z.string().min(1).max(4096),
      pinPadding: z.enum(['pkcs1', 'oaep-sha256']).default('pkcs1'),
    })
    .strict(),
], { error: 'provider must be one of mpesa, mtn-momo, gsma, airtel' });

const fileSchema = z.object({ accounts: z.array(z.unknown()).min(1).max(providerAccountsMax.accounts) }).strict();

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Reads PROVIDERS_FILE and resolves every account, or pushes every problem found (prefixed with
 * its place, e.g. "PROVIDERS_FILE accounts[1].consumerKey: ...") and returns null.
 */
export function loadProviderAccounts(path: string, env: Env, problems: string[], options: { readonly devMode: boolean } = { devMode: false }): ProviderAccount[] | null {
  const at = (where: string, message: string) => problems.push(`PROVIDERS_FILE${where ? ` ${where}` : ''}: ${message}`);
  let text: string;
  try {
    const raw = readFileSync(path);
    if (raw.length > providerAccountsMax.fileBytes) {
      at('', `is larger than ${providerAccountsMax.fileBytes} bytes`);
      return null;
    }
    text = raw.toString('utf8');
  } catch (error) {
    problems.push(`PROVIDERS_FILE: cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
    return null;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    problems.push(`PROVIDERS_FILE: is not JSON (${(error as Error).message.slice(0, 120)})`);
    return null;
  }
  const file = fileSchema.safeParse(json);
  if (!file.success) {
    for (const issue of file.error.issues) at(issue.path.join('.') || '(top)', issue.message);
    return null;
  }
  const accounts: ProviderAccount[] = [];
  file.data.accounts.forEach((raw, i) => {
    const parsed = accountSchema.safeParse(raw);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) at(`accounts[${i}]${issue.path.length ? '.' + issue.path.join('.') : ''}`, issue.message);
      return;
    }
    const account = resolveAccount(parsed.data, `accounts[${i}]`, env, problems, options.devMode);
    if (account) accounts.push(account);
  });
  checkAccounts(accounts, (m) => problems.push(`PROVIDERS_FILE: ${m}`));
  return problems.length === 0 ? accounts : null;
}

function readSecret(ref: SecretRef, where: string, env: Env, at: (where: string, message: string) => void): string {
  if ('env' in ref) {
    const value = env[ref.env];
    if (value === undefined || value === '') at(where, `the environment variable ${ref.env} is not set`);
    else if (Buffer.byteLength(value) > providerAccountsMax.secretBytes) at(where, `the environment variable ${ref.env} is longer than ${providerAccountsMax.secretBytes} bytes`);
    else return value;
    return '';
  }
  try {
    const value = readFileSync(ref.file);
    if (value.length > providerAccountsMax.secretBytes) at(where, `the file ${ref.file} is larger than ${providerAccountsMax.secretBytes} bytes`);
    // A trailing newline is how such files are usually written; it is not part of the secret.
    else if (value.toString('utf8').trim() === '') at(where, `the file ${ref.file} is empty`);
    else return value.toString('utf8').replace(/\r?\n$/, '');
  } catch (error) {
    at(where, `the file ${ref.file} cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  return '';
}

function readPem(file: string, problem: (message: string) => void): string | null {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    problem(`the file ${file} cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
    return null;
  }
}

type ParsedAccount = z.infer<typeof accountSchema>;

function resolveAccount(a: ParsedAccount, where: string, env: Env, problems: string[], devMode: boolean): ProviderAccount | null {
  let noted = 0;
  const note = (field: string, message: string) => {
    noted++;
    problems.push(`PROVIDERS_FILE ${where}${field ? `.${field}` : ''}: ${message}`);
  };
  const rules = providerRules[a.provider];
  if (!isCurrencyCode(a.currency)) note('currency', `${a.currency} is not a currency Tuma pays in`);
  else if (!paysIn(rules, a.currency)) note('currency', `${a.provider} does not pay in ${a.currency}`);
  if (!servesCountry(rules, a.country)) note('country', `${a.provider} does not operate in ${a.country}`);
  const currency = a.currency as CurrencyCode;

  const limits = { minMinor: null as bigint | null, maxMinor: null as bigint | null };
  if (isCurrencyCode(a.currency)) {
    for (const [field, key] of [['payoutMin', 'minMinor'], ['payoutMax', 'maxMinor']] as const) {
      const text = a.limits[field];
      if (text === undefined) continue;
      const amount = parseAmount(text, currency);
      if (!amount.ok) note(`limits.${field}`, `must be a positive decimal string in ${currency} (${amount.error})`);
      else limits[key] = amount.value;
    }
    if (limits.minMinor !== null && limits.maxMinor !== null && limits.minMinor > limits.maxMinor) note('limits', 'payoutMin is above payoutMax');
    const own = (rules.amountLimits as Partial<Record<CurrencyCode, { minMinor: bigint; maxMinor: bigint }>>)[currency];
    if (own && limits.maxMinor !== null && limits.maxMinor > own.maxMinor) note('limits.payoutMax', `is above what ${a.provider} pays in one transaction`);
  }

  const modes = callbackModes[a.provider];
  const mode = a.callbackAuth.mode ?? modes[0]!;
  if (!modes.includes(mode)) note('callbackAuth.mode', `${a.provider} callbacks can be authenticated by ${modes.join(' or ')}, not ${mode}`);
  if (mode === 'hmac' && !a.callbackAuth.hmacSecret) note('callbackAuth.hmacSecret', 'is required in hmac mode');
  if (mode !== 'hmac' && a.callbackAuth.hmacSecret) note('callbackAuth.hmacSecret', `is used in hmac mode only (this account: ${mode})`);
  if (a.callbackAuth.allowList !== undefined) {
    const parsed = parseAllowList(a.callbackAuth.allowList);
    if (!parsed.ok) note('callbackAuth.allowList', parsed.problems.join('; '));
  } else if (mode === 'status-query' && !devMode) {
    // Nothing authenticates these callbacks: anyone who can reach the route can have rows stored
    // and status queries sent. Outside dev mode they are taken from the provider's addresses only.
    note('callbackAuth.allowList', "is required in status-query mode (outside TUMA_DEV_MODE): list the provider's callback addresses, or use hmac mode");
  }
  const secret = (ref: SecretRef, field: string) => readSecret(ref, field, env, (_w, m) => note(field, m));
  const hmacSecret = a.callbackAuth.hmacSecret ? secret(a.callbackAuth.hmacSecret, 'callbackAuth.hmacSecret') : null;
  const callbackAuth: CallbackAuth = { mode, allowList: a.callbackAuth.allowList ?? null, hmacSecret };
  const baseUrl = a.baseUrl.replace(/\/+$/, '');
  const callLimits: CallLimits = { ratePerSecond: a.limits.ratePerSecond ?? null, concurrency: a.limits.concurrency ?? null };
  const common = { id: a.id, country: a.country, currency, programmes: a.programmes, limits, callLimits, callbackAuth };

  let account: ProviderAccount;
  switch (a.provider) {
    case 'mpesa': {
      let securityCredential = '';
      const viaPassword = a.initiatorPassword !== undefined || a.certificateFile !== undefined;
      if (a.securityCredential !== undefined && viaPassword) note('securityCredential', 'give it, or initiatorPassword with certificateFile, not both');
      else if (a.securityCredential !== undefined) securityCredential = secret(a.securityCredential, 'securityCredential');
      else if (a.initiatorPassword === undefined || a.certificateFile === undefined) {
        note(a.initiatorPassword === undefined ? 'initiatorPassword' : 'certificateFile', 'is required: securityCredential, or initiatorPassword with certificateFile');
      } else {
        const password = secret(a.initiatorPassword, 'initiatorPassword');
        const pem = readPem(a.certificateFile, (m) => note('certificateFile', m));
        if (password && pem) {
          try {
            securityCredential = mpesaSecurityCredential(password, pem);
          } catch (error) {
            note('certificateFile', (error as Error).message);
          }
        }
      }
      account = {
        ...common,
        provider: 'mpesa',
        settings: {
          baseUrl,
          consumerKey: secret(a.consumerKey, 'consumerKey'),
          consumerSecret: secret(a.consumerSecret, 'consumerSecret'),
          shortcode: a.shortcode,
          initiatorName: a.initiatorName,
          securityCredential,
        },
      };
      break;
    }
    case 'mtn-momo':
      account = {
        ...common,
        provider: 'mtn-momo',
        settings: {
          baseUrl,
          apiUserId: secret(a.apiUserId, 'apiUserId'),
          apiKey: secret(a.apiKey, 'apiKey'),
          subscriptionKey: secret(a.subscriptionKey, 'subscriptionKey'),
          targetEnvironment: a.targetEnvironment,
        },
      };
      break;
    case 'gsma':
      account = {
        ...common,
        provider: 'gsma',
        settings: {
          baseUrl,
          tokenBaseUrl: a.tokenBaseUrl ? a.tokenBaseUrl.replace(/\/+$/, '') : null,
          consumerKey: secret(a.consumerKey, 'consumerKey'),
          consumerSecret: secret(a.consumerSecret, 'consumerSecret'),
          apiKey: a.apiKey ? secret(a.apiKey, 'apiKey') : null,
          clientId: a.clientId ?? null,
          disbursementForm: a.disbursementForm,
          dateHeader: a.dateHeader,
          bulk: a.bulk ?? null,
          debitParty: a.debitParty,
        },
      };
      break;
    case 'airtel': {
      const pin = secret(a.pin, 'pin');
      const pem = readPem(a.pinPublicKeyFile, (m) => note('pinPublicKeyFile', m));
      let encryptedPin = '';
      if (pin && pem) {
        try {
          encryptedPin = encryptAirtelPin(pin, pem, a.pinPadding);
        } catch (error) {
          note('pinPublicKeyFile', (error as Error).message);
        }
      }
      account = {
        ...common,
        provider: 'airtel',
        settings: { baseUrl, clientId: secret(a.clientId, 'clientId'), clientSecret: secret(a.clientSecret, 'clientSecret'), encryptedPin },
      };
      if (noted === 0) {
        for (const problem of airtelSettingsProblems({ ...account.settings, country: a.country, currency, timeoutMs: 1_000 })) note('', problem);
      }
      break;
    }
  }
  return noted === 0 ? account : null;
}

/**
 * Checks across accounts: unique ids, and no payout with two possible payers — per provider,
 * currency and country, at most one account serves every programme and each programme is listed
 * by at most one account.
 */
export function checkAccounts(accounts: readonly ProviderAccount[], problem: (message: string) => void): void {
  const ids = new Set<string>();
  const claims = new Map<string, string>();
  for (const a of accounts) {
    if (ids.has(a.id)) problem(`two accounts have the id ${a.id}`);
    ids.add(a.id);
    const market = `${a.provider}/${a.currency}/${a.country}`;
    for (const programme of a.programmes === '*' ? ['*'] : a.programmes) {
      const key = `${market}/${programme}`;
      const other = claims.get(key);
      if (other) problem(`accounts ${other} and ${a.id} both pay ${programme === '*' ? 'every programme' : `programme ${programme}`} in ${market}: a payout must have one payer`);
      else claims.set(key, a.id);
    }
  }
}

/**
 * The account that pays a payout: its provider, currency and country, the account listing the
 * programme first, else the one serving every programme. Pure; the runtime builds a directory of
 * guarded adapters on top of it.
 */
export function accountFor<A extends { readonly provider: ProviderId; readonly currency: string; readonly country: string; readonly programmes: readonly string[] | '*' }>(
  accounts: readonly A[],
  payout: { readonly provider: ProviderId; readonly programmeId: string; readonly currency: string },
  country: string,
): A | null {
  let fallback: A | null = null;
  for (const a of accounts) {
    if (a.provider !== payout.provider || a.currency !== payout.currency || a.country !== country) continue;
    if (a.programmes === '*') fallback ??= a;
    else if (a.programmes.includes(payout.programmeId)) return a;
  }
  return fallback;
}

/**
 * Where a programme can pay in a currency, per provider and country, with that account's limits:
 * what batch validation checks rows against (domain RowPolicy.routes).
 */
export function routesFor(
  accounts: readonly ProviderAccount[],
  programmeId: string,
  currency: string,
): Map<ProviderId, Map<string, AccountLimits>> {
  const routes = new Map<ProviderId, Map<string, AccountLimits>>();
  for (const a of accounts) {
    if (a.currency !== currency) continue;
    const chosen = accountFor(accounts, { provider: a.provider, programmeId, currency }, a.country);
    if (chosen !== a) continue;
    let byCountry = routes.get(a.provider);
    if (!byCountry) routes.set(a.provider, (byCountry = new Map()));
    byCountry.set(a.country, a.limits);
  }
  return routes;
}

// What a start records in the audit log (issue #15 item 2; application/system-audit.ts): the
// digest of the process's effective configuration, section by section, and each provider account's
// digest, field by field. Secrets enter only as fingerprints keyed by the master key; the
// programme ids an account lists enter only its digest (an account may serve several
// organisations, and its events are shown to each).
import type { Config } from '../config/config.js';
import type { ProviderAccount } from '../config/provider-accounts.js';
import { digestParts, fingerprintKeyOf, type AccountDescription, type StartRecord } from '../application/system-audit.js';

/** The settings of an account that are credentials (the rest — URLs, shortcodes, market names — are its settings). */
const credentialName = /(secret|password|pin|key|token|credential|clientid|userid)$/i;

function accountParts(account: ProviderAccount): Record<string, unknown> {
  const settings: Record<string, unknown> = {};
  const credentials: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(account.settings as unknown as Record<string, unknown>)) {
    // Airtel's PIN is encrypted at each start with random padding: its ciphertext would differ at every restart.
    if (name === 'encryptedPin') continue;
    (credentialName.test(name) ? credentials : settings)[name] = value;
  }
  const { hmacSecret, ...callbackAuth } = account.callbackAuth;
  return {
    provider: account.provider,
    country: account.country,
    currency: account.currency,
    programmes: account.programmes,
    limits: account.limits,
    callLimits: account.callLimits,
    callbackAuth,
    settings,
    credentials: { ...credentials, hmacSecret },
  };
}

export function describeAccount(account: ProviderAccount, fingerprintKey: Buffer): AccountDescription {
  return {
    accountId: account.id,
    provider: account.provider,
    country: account.country,
    currency: account.currency,
    programmes: account.programmes === '*' ? '*' : `${account.programmes.length} programme(s)`,
    digested: digestParts(accountParts(account), fingerprintKey),
  };
}

/** The record of a start of `roles` with `config`. */
export function startRecordOf(config: Config, roles: readonly string[]): StartRecord {
  const key = fingerprintKeyOf(config.crypto.masterKey);
  // Every section of the configuration; the accounts are recorded one by one, and in the digest as their digests.
  const { providers, ...sections } = config;
  const accounts = providers.accounts.map((a) => describeAccount(a, key));
  return {
    roles: [...roles].sort().join('+'),
    configuration: digestParts({ ...sections, providerAccounts: accounts.map((a) => `${a.accountId}=${a.digested.digest}`) }, key),
    accounts,
  };
}

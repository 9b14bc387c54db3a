// What the domain knows about each provider: where and in what it pays. Credentials, URLs and
// per-programme settings are configuration, not domain.
import type { CountryCode } from 'libphonenumber-js';
import type { CurrencyCode } from './currency.js';

export interface ProviderRules {
  readonly countries: readonly CountryCode[];
  readonly currencies: readonly CurrencyCode[];
  /** Daraja B2C takes whole shillings only: an amount with cents cannot be sent as it is. */
  readonly wholeUnitsOnly: boolean;
}

export const providerRules = {
  mpesa: { countries: ['KE'], currencies: ['KES'], wholeUnitsOnly: true },
} as const satisfies Record<string, ProviderRules>;

export type ProviderId = keyof typeof providerRules;

export function isProviderId(id: string): id is ProviderId {
  return Object.hasOwn(providerRules, id);
}

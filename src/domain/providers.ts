// What the domain knows about each provider: where and in what it pays. Credentials, URLs and
// per-programme settings are configuration, not domain.
import type { CountryCode } from 'libphonenumber-js';
import type { CurrencyCode } from './currency.js';

export interface ProviderRules {
  readonly countries: readonly CountryCode[];
  readonly currencies: readonly CurrencyCode[];
  /** Daraja B2C takes whole shillings only: an amount with cents cannot be sent as it is. */
  readonly wholeUnitsOnly: boolean;
  /** The provider's own per-transaction limits, in minor units of each currency it pays in. */
  readonly amountLimits: Readonly<Partial<Record<CurrencyCode, { readonly minMinor: bigint; readonly maxMinor: bigint }>>>;
}

export const providerRules = {
  // Daraja B2C: KES 10 to 250,000 per transaction (shared/reference/provider-apis.md).
  mpesa: { countries: ['KE'], currencies: ['KES'], wholeUnitsOnly: true, amountLimits: { KES: { minMinor: 10_00n, maxMinor: 250_000_00n } } },
  // MTN MoMo Disbursement: one target environment (market) per account, each in its own currency
  // (shared/reference/provider-apis.md §2); per-market limits are not published, so none here.
  'mtn-momo': {
    countries: ['UG', 'GH', 'RW', 'ZM', 'CM', 'CI', 'BJ', 'CG', 'SZ', 'GN', 'ZA', 'LR', 'SS', 'NG'],
    currencies: ['UGX', 'GHS', 'RWF', 'ZMW', 'XAF', 'XOF', 'SZL', 'GNF', 'ZAR', 'LRD', 'SSP', 'NGN'],
    wholeUnitsOnly: false,
    amountLimits: {},
  },
} as const satisfies Record<string, ProviderRules>;

export type ProviderId = keyof typeof providerRules;

export function isProviderId(id: string): id is ProviderId {
  return Object.hasOwn(providerRules, id);
}

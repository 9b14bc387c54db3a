// What the domain knows about each provider: where and in what it pays. Credentials, URLs and
// per-programme settings are configuration, not domain.
import type { CountryCode } from 'libphonenumber-js';
import type { CurrencyCode } from './currency.js';

export interface ProviderRules {
  /** 'any': the provider is a standard (GSMA MM API) spoken by many operators; each account names its market. */
  readonly countries: readonly CountryCode[] | 'any';
  readonly currencies: readonly CurrencyCode[] | 'any';
  /** Daraja B2C takes whole shillings only: an amount with cents cannot be sent as it is. */
  readonly wholeUnitsOnly: boolean;
  /** The provider's own per-transaction limits, in minor units of each currency it pays in. */
  readonly amountLimits: Readonly<Partial<Record<CurrencyCode, { readonly minMinor: bigint; readonly maxMinor: bigint }>>>;
}

export const providerRules = {
  // Daraja B2C: KES 10 to 250,000 per transaction (contracts/providers/mpesa-daraja.openapi.yaml).
  mpesa: { countries: ['KE'], currencies: ['KES'], wholeUnitsOnly: true, amountLimits: { KES: { minMinor: 10_00n, maxMinor: 250_000_00n } } },
  // MTN MoMo Disbursement: one target environment (market) per account, each in its own currency
  // (contracts/providers/mtn-momo-disbursement.openapi.yaml); per-market limits are not published, so none here.
  'mtn-momo': {
    countries: ['UG', 'GH', 'RW', 'ZM', 'CM', 'CI', 'BJ', 'CG', 'SZ', 'GN', 'ZA', 'LR', 'SS', 'NG'],
    currencies: ['UGX', 'GHS', 'RWF', 'ZMW', 'XAF', 'XOF', 'SZL', 'GNF', 'ZAR', 'LRD', 'SSP', 'NGN'],
    wholeUnitsOnly: false,
    amountLimits: {},
  },
  // Airtel Money disbursement (Open API v2): one account per operating country, paying in its currency.
  airtel: {
    countries: ['NG', 'KE', 'UG', 'TZ', 'RW', 'ZM', 'MW', 'CD', 'CG', 'GA', 'TD', 'NE', 'MG', 'SC'],
    currencies: ['NGN', 'KES', 'UGX', 'TZS', 'RWF', 'ZMW', 'MWK', 'CDF', 'USD', 'XAF', 'XOF', 'MGA', 'SCR'],
    wholeUnitsOnly: false,
    amountLimits: {},
  },
  // Any operator speaking the GSMA Mobile Money API v1.2: where and in what is the account's to say.
  gsma: { countries: 'any', currencies: 'any', wholeUnitsOnly: false, amountLimits: {} },
} as const satisfies Record<string, ProviderRules>;

export type ProviderId = keyof typeof providerRules;

export function isProviderId(id: string): id is ProviderId {
  return Object.hasOwn(providerRules, id);
}

export function paysIn(rules: ProviderRules, currency: string): boolean {
  return rules.currencies === 'any' || (rules.currencies as readonly string[]).includes(currency);
}

export function servesCountry(rules: ProviderRules, country: string): boolean {
  return rules.countries === 'any' || (rules.countries as readonly string[]).includes(country);
}

/** An account's own per-payout bounds in minor units (null: only the provider's apply). */
export interface AccountLimits {
  readonly minMinor: bigint | null;
  readonly maxMinor: bigint | null;
}

/**
 * Where a programme can pay through each provider in the batch currency: per beneficiary country,
 * the limits of the account that serves it (issue #5 item 6). A provider missing here has no
 * account for the programme and currency; a country missing has no account in that country.
 */
export type ProviderRoutes = ReadonlyMap<ProviderId, ReadonlyMap<string, AccountLimits>>;

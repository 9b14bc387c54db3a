// ISO 4217 minor-unit scales for the currencies Tuma pays in: every country where M-Pesa,
// MTN MoMo, Airtel Money or Orange Money operates, plus the usual donor currencies.
// A currency's scale is a fact of the standard, not a setting.

export const currencyScales = {
  AFN: 2, BIF: 0, BWP: 2, CDF: 2, CHF: 2, CVE: 2, DJF: 0, EGP: 2, ETB: 2, EUR: 2, GBP: 2,
  GHS: 2, GMD: 2, GNF: 0, INR: 2, IRR: 2, JOD: 3, KES: 2, KMF: 0, LRD: 2, LSL: 2, MAD: 2, MGA: 2,
  MUR: 2, MWK: 2, MZN: 2, NGN: 2, RWF: 0, SCR: 2, SDG: 2, SLE: 2, SOS: 2, SSP: 2, SYP: 2, SZL: 2,
  TND: 3, TZS: 2, UGX: 0, USD: 2, XAF: 0, XOF: 0, YER: 2, ZAR: 2, ZMW: 2,
} as const satisfies Record<string, 0 | 2 | 3>;

export type CurrencyCode = keyof typeof currencyScales;

export function isCurrencyCode(code: string): code is CurrencyCode {
  return Object.hasOwn(currencyScales, code);
}

export function scaleOf(currency: CurrencyCode): number {
  return currencyScales[currency];
}

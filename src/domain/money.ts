// Money is a decimal string outside and integer minor units (bigint) inside. decimal.js does the
// conversion; no JS number ever holds an amount.
import { Decimal } from 'decimal.js';
import { scaleOf, type CurrencyCode } from './currency.js';
import { err, ok, type Result } from './result.js';

/** PostgreSQL bigint: the column range every amount and running total must fit. */
export const minorUnitsMax = 2n ** 63n - 1n;

/** Plenty for 19 integer digits plus 3 decimals; conversion never rounds. */
const Exact = Decimal.clone({ precision: 64, rounding: Decimal.ROUND_DOWN, toExpNeg: -64, toExpPos: 64 });

/** Plain decimal notation only: no sign, no exponent, no leading zeros, no bare dot. */
const decimalPattern = /^(0|[1-9][0-9]{0,30})(\.[0-9]{1,30})?$/;

export type AmountError = 'AMOUNT_NOT_STRING' | 'AMOUNT_INVALID' | 'AMOUNT_SCALE' | 'AMOUNT_RANGE';

/** Parses a positive amount ("1250.50") into minor units of `currency`, refusing anything it would have to round. */
export function parseAmount(input: unknown, currency: CurrencyCode): Result<bigint, AmountError> {
  if (typeof input !== 'string') return err('AMOUNT_NOT_STRING');
  if (!decimalPattern.test(input)) return err('AMOUNT_INVALID');
  // Exact by construction: digits are moved, never computed (this runs once per payout row).
  const scale = scaleOf(currency);
  const dot = input.indexOf('.');
  const whole = dot < 0 ? input : input.slice(0, dot);
  const fraction = dot < 0 ? '' : input.slice(dot + 1).replace(/0+$/, '');
  if (fraction.length > scale) return err('AMOUNT_SCALE');
  const minor = BigInt(whole + fraction.padEnd(scale, '0'));
  if (minor <= 0n) return err('AMOUNT_INVALID');
  if (minor > minorUnitsMax) return err('AMOUNT_RANGE');
  return ok(minor);
}

/** Formats minor units as the currency's decimal string, always with its full scale ("10.00"). */
export function formatAmount(minor: bigint, currency: CurrencyCode): string {
  const scale = scaleOf(currency);
  return new Exact(minor.toString()).dividedBy(new Exact(10).pow(scale)).toFixed(scale);
}

/** Sums minor units, refusing a total past the column range. */
export function sumMinor(amounts: Iterable<bigint>): Result<bigint, 'AMOUNT_RANGE'> {
  let total = 0n;
  for (const a of amounts) {
    total += a;
    if (total > minorUnitsMax) return err('AMOUNT_RANGE');
  }
  return ok(total);
}

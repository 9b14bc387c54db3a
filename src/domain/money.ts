// Money is a decimal string outside and integer minor units (bigint) inside. The conversions both
// ways move digits, never compute them; no JS number ever holds an amount.
import { scaleOf, type CurrencyCode } from './currency.js';
import { err, ok, type Result } from './result.js';

/** PostgreSQL bigint: the column range every amount and running total must fit. */
export const minorUnitsMax = 2n ** 63n - 1n;

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

/**
 * Formats minor units as the currency's decimal string, always with its full scale ("10.00",
 * "-0.05", "0.000"). The digits are moved, as parseAmount moves them: a status read formats a
 * batch's every total, and decimal.js's division and power per amount were a tenth of what a read
 * allocated (issue #17). test/unit/money.test.ts holds it to decimal.js's answer.
 */
export function formatAmount(minor: bigint, currency: CurrencyCode): string {
  const scale = scaleOf(currency);
  const negative = minor < 0n;
  const digits = (negative ? -minor : minor).toString();
  if (scale === 0) return negative ? `-${digits}` : digits;
  const padded = digits.padStart(scale + 1, '0');
  return `${negative ? '-' : ''}${padded.slice(0, -scale)}.${padded.slice(-scale)}`;
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

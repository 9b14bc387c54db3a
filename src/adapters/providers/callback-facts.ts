// What a provider callback says about the money (amount, currency, receiver, fee), read the same
// way for every provider: exactly as written, never through a JS number, and totally: a field
// that is absent, hostile or not in the expected shape reads null, never throws (issue #19 item 8).
import { Decimal } from 'decimal.js';
import type { CallbackFacts } from '../../application/record-callback.js';

/** Longest amount (or fee) string read: 30 integer digits and a fraction fit; longer is not a provider's amount. */
export const callbackAmountCharsMax = 40;
/** Longest party name read (Daraja "254712345678 - JOHN DOE"); longer is not Daraja's. */
export const callbackPartyNameCharsMax = 256;
/** Fee entries summed at most (GSMA bounds `fees` to 20 items on a request). */
export const callbackFeesMax = 20;

/** A plain, non-negative decimal: no sign, exponent, spaces or leading zeros. */
const amountPattern = new RegExp(`^(0|[1-9][0-9]*)(\\.[0-9]+)?$`);
/** A receiving number in international form: 8–15 digits, not starting with 0 (a national number), '+' optional. */
const receiverPattern = /^\+?[1-9][0-9]{7,14}$/;
const currencyPattern = /^[A-Z]{3}$/;

/** Exact for any sum of callbackFeesMax amounts of callbackAmountCharsMax characters; never rounds. */
const Exact = Decimal.clone({ precision: 2 * callbackAmountCharsMax, rounding: Decimal.ROUND_DOWN, toExpNeg: -2 * callbackAmountCharsMax, toExpPos: 2 * callbackAmountCharsMax });

/**
 * An amount as the provider wrote it: a plain decimal string, or a JSON number converted with
 * String() when that gives plain notation (1e21, NaN or Infinity do not); null otherwise.
 */
export function amountFact(value: unknown): string | null {
  const text = typeof value === 'string' ? value : typeof value === 'number' && Number.isFinite(value) ? String(value) : null;
  if (text === null || text.length > callbackAmountCharsMax || text.includes('e')) return null;
  return amountPattern.test(text) ? text : null;
}

/** An ISO 4217 code as reported (upper-case letters); null otherwise. */
export function currencyFact(value: unknown): string | null {
  return typeof value === 'string' && currencyPattern.test(value) ? value : null;
}

/** A receiving number as reported, digits with an optional leading '+'; null when masked, national or not a number. */
export function receiverFact(value: unknown): string | null {
  return typeof value === 'string' && receiverPattern.test(value) ? value : null;
}

/**
 * The number of a Daraja party name, "<number> - <NAME>" (ReceiverPartyPublicName,
 * CreditPartyName); a bare number too. Masked ("2547****678") or national ("0712…") reads null.
 */
export function partyNameReceiverFact(value: unknown): string | null {
  if (typeof value !== 'string' || value.length > callbackPartyNameCharsMax) return null;
  const match = /^\s*([^\s-]+)\s*(?:-[\s\S]*)?$/.exec(value);
  return match ? receiverFact(match[1]) : null;
}

/**
 * The sum of the fees charged in `currency`, as an exact decimal string with the most decimals
 * of its parts ("1.50" + "0.25" = "1.75"); fees in another currency are not ours to add. null
 * when there are none in `currency`, or when any entry is unreadable (a partial sum would
 * understate the fee).
 */
export function feeSumFact(fees: unknown, currency: string | null, read: (entry: unknown) => { amount: unknown; currency: unknown } | null): string | null {
  if (currency === null || !Array.isArray(fees) || fees.length === 0 || fees.length > callbackFeesMax) return null;
  let total = new Exact(0);
  let decimals = 0;
  let counted = 0;
  for (const entry of fees as unknown[]) {
    const fee = read(entry);
    if (!fee) return null;
    if (fee.currency !== currency) {
      if (currencyFact(fee.currency) === null) return null;
      continue;
    }
    const amount = amountFact(fee.amount);
    if (amount === null) return null;
    total = total.plus(new Exact(amount));
    decimals = Math.max(decimals, amount.split('.')[1]?.length ?? 0);
    counted += 1;
  }
  return counted === 0 ? null : total.toFixed(decimals);
}

/** The facts, or undefined when the callback reports none of them. */
export function callbackFactsOf(facts: CallbackFacts): CallbackFacts | undefined {
  return facts.amount === null && facts.currency === null && facts.receiver === null && facts.fee === null ? undefined : facts;
}

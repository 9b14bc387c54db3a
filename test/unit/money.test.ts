import { Decimal } from 'decimal.js';
import fc from 'fast-check';
import { currencyScales, type CurrencyCode } from '../../src/domain/currency.js';
import { formatAmount, minorUnitsMax, parseAmount } from '../../src/domain/money.js';

const currencies = Object.keys(currencyScales) as CurrencyCode[];

/** Where each operator runs (country: ISO 4217 currency), and the minor-unit scale ISO 4217 gives each currency. */
const operatorCountries = {
  mpesa: { KE: 'KES', TZ: 'TZS', CD: 'CDF', MZ: 'MZN', LS: 'LSL', GH: 'GHS', EG: 'EGP', ET: 'ETB', AF: 'AFN' },
  mtnMomo: { GH: 'GHS', UG: 'UGX', RW: 'RWF', CM: 'XAF', CI: 'XOF', BJ: 'XOF', CG: 'XAF', GN: 'GNF', GW: 'XOF', LR: 'LRD', ZM: 'ZMW', ZA: 'ZAR', SZ: 'SZL', NG: 'NGN', SS: 'SSP', SD: 'SDG', AF: 'AFN', SY: 'SYP', YE: 'YER', IR: 'IRR' },
  airtelMoney: { KE: 'KES', UG: 'UGX', TZ: 'TZS', RW: 'RWF', MW: 'MWK', ZM: 'ZMW', CD: 'CDF', CG: 'XAF', GA: 'XAF', TD: 'XAF', NE: 'XOF', MG: 'MGA', SC: 'SCR', NG: 'NGN', IN: 'INR' },
  orangeMoney: { SN: 'XOF', ML: 'XOF', CI: 'XOF', BF: 'XOF', GN: 'GNF', CM: 'XAF', CF: 'XAF', CD: 'CDF', MG: 'MGA', BW: 'BWP', LR: 'LRD', SL: 'SLE', JO: 'JOD', TN: 'TND', MA: 'MAD', EG: 'EGP', GW: 'XOF', NE: 'XOF', MU: 'MUR' },
  donors: { US: 'USD', EU: 'EUR', CH: 'CHF', GB: 'GBP' },
} as const;
const isoScales: Record<string, number> = {
  AFN: 2, BWP: 2, CDF: 2, CHF: 2, EGP: 2, ETB: 2, EUR: 2, GBP: 2, GHS: 2, GNF: 0, INR: 2, IRR: 2, JOD: 3, KES: 2, LRD: 2, LSL: 2,
  MAD: 2, MGA: 2, MUR: 2, MWK: 2, MZN: 2, NGN: 2, RWF: 0, SCR: 2, SDG: 2, SLE: 2, SSP: 2, SYP: 2, SZL: 2, TND: 3, TZS: 2, UGX: 0,
  USD: 2, XAF: 0, XOF: 0, YER: 2, ZAR: 2, ZMW: 2,
};

describe('currencies', () => {
  it.each(Object.entries(operatorCountries).flatMap(([operator, countries]) => Object.entries(countries).map(([country, currency]) => [operator, country, currency])))(
    'when %s pays in %s, then %s is known with its ISO 4217 scale',
    (_operator, _country, currency) => {
      expect({ currency, scale: currencyScales[currency as CurrencyCode] }).toEqual({ currency, scale: isoScales[currency] });
    },
  );
});

describe('money', () => {
  it.each([
    ['1250.50', 'KES', 125050n],
    ['1250.5', 'KES', 125050n],
    ['10', 'KES', 1000n],
    ['0.01', 'USD', 1n],
    ['5000', 'UGX', 5000n],
    ['1.234', 'JOD', 1234n],
    ['92233720368547758.07', 'USD', minorUnitsMax],
  ] as const)('when %s %s is parsed, then it is %p minor units', (input, currency, minor) => {
    expect(parseAmount(input, currency)).toEqual({ ok: true, value: minor });
  });

  it.each([
    [1250.5, 'KES', 'AMOUNT_NOT_STRING'],
    [null, 'KES', 'AMOUNT_NOT_STRING'],
    ['10.001', 'KES', 'AMOUNT_SCALE'],
    ['10.5', 'UGX', 'AMOUNT_SCALE'],
    ['1e3', 'KES', 'AMOUNT_INVALID'],
    ['-5', 'KES', 'AMOUNT_INVALID'],
    ['+5', 'KES', 'AMOUNT_INVALID'],
    ['05', 'KES', 'AMOUNT_INVALID'],
    ['.5', 'KES', 'AMOUNT_INVALID'],
    ['5.', 'KES', 'AMOUNT_INVALID'],
    ['0', 'KES', 'AMOUNT_INVALID'],
    ['0.00', 'KES', 'AMOUNT_INVALID'],
    [' 5', 'KES', 'AMOUNT_INVALID'],
    ['1,000', 'KES', 'AMOUNT_INVALID'],
    ['NaN', 'KES', 'AMOUNT_INVALID'],
    ['Infinity', 'KES', 'AMOUNT_INVALID'],
    ['92233720368547758.08', 'USD', 'AMOUNT_RANGE'],
  ] as const)('when %p %s is parsed, then it is refused with %s', (input, currency, code) => {
    expect(parseAmount(input, currency)).toEqual({ ok: false, error: code });
  });

  it('when any number of minor units is formatted, negative and zero included, then it is what decimal.js makes of it at the currency scale', () => {
    const Exact = Decimal.clone({ precision: 64, rounding: Decimal.ROUND_DOWN, toExpNeg: -64, toExpPos: 64 });
    const byDecimal = (minor: bigint, currency: CurrencyCode) => {
      const scale = currencyScales[currency];
      return new Exact(minor.toString()).dividedBy(new Exact(10).pow(scale)).toFixed(scale);
    };
    fc.assert(
      fc.property(fc.constantFrom(...currencies), fc.oneof(fc.bigInt({ min: -minorUnitsMax, max: minorUnitsMax }), fc.bigInt({ min: -1_000n, max: 1_000n })), (currency, minor) => {
        expect(formatAmount(minor, currency)).toBe(byDecimal(minor, currency));
      }),
      { numRuns: 5_000 },
    );
    expect([formatAmount(0n, 'KES'), formatAmount(-5n, 'KES'), formatAmount(5n, 'JOD'), formatAmount(-7n, 'UGX'), formatAmount(150n, 'KES')]).toEqual(['0.00', '-0.05', '0.005', '-7', '1.50']);
  });

  it('when any amount is formatted and parsed again, then it is the same number of minor units', () => {
    fc.assert(
      fc.property(fc.constantFrom(...currencies), fc.bigInt({ min: 1n, max: minorUnitsMax }), (currency, minor) => {
        const text = formatAmount(minor, currency);
        expect(text).toMatch(/^(0|[1-9][0-9]*)(\.[0-9]+)?$/);
        expect(parseAmount(text, currency)).toEqual({ ok: true, value: minor });
      }),
      { numRuns: 2_000 },
    );
  });
});

import fc from 'fast-check';
import { currencyScales, type CurrencyCode } from '../../src/domain/currency.js';
import { formatAmount, minorUnitsMax, parseAmount } from '../../src/domain/money.js';

const currencies = Object.keys(currencyScales) as CurrencyCode[];

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

// The amount each provider's request carries, against that provider's documented format (issue
// #20 item 5), built by the adapters' own request builders:
// - M-Pesa Daraja B2C: `Amount` whole shillings as a digit string ("10", sent as the sample does),
//   KES 10 to 250,000; a fraction cannot be sent at all;
// - MTN MoMo transfer: `amount` a decimal string; whole amounts without decimals ("5000": some
//   markets refuse "5000.00"), others with the currency's decimals ("12.50");
// - Airtel disbursement v2: `transaction.amount` a JSON number (0.01 in Airtel's samples), written
//   from its decimal text so that no float ever holds it;
// - GSMA v1.2: the specification's pattern (gsma-contract.test.ts holds every exponent).
// Each is checked against the provider's contract in contracts/providers/ and read back exactly.
import { randomUUID } from 'node:crypto';
import { toB2CRequest } from '../../src/adapters/providers/mpesa/mapping.js';
import { toTransferRequest } from '../../src/adapters/providers/mtn-momo/mapping.js';
import { disbursementJson, toDisbursementRequest as toAirtelRequest } from '../../src/adapters/providers/airtel/mapping.js';
import { formatAmount as formatGsmaAmount, gsmaAmountPattern, parseGsmaAmount, toDisbursementRequest as toGsmaRequest } from '../../src/adapters/providers/gsma/mapping.js';
import { parseAmount } from '../../src/domain/money.js';
import { scaleOf, type CurrencyCode } from '../../src/domain/currency.js';
import { loadContract } from '../support/openapi.js';

const mpesa = loadContract('providers/mpesa-daraja.openapi.yaml');
const momo = loadContract('providers/mtn-momo-disbursement.openapi.yaml');
const airtel = loadContract('providers/airtel-disbursement-v2.openapi.yaml');
const gsma = loadContract('providers/gsma-mmapi-v1.2.openapi.yaml');

const request = (currency: CurrencyCode, amountMinor: bigint, msisdn: string) => ({
  payoutId: 'p-1', idempotencyKey: randomUUID(), msisdn, amountMinor, currency, callbackUrl: 'https://tuma.example/v1/callbacks/x/tok',
});
/** The minor units a decimal text means in `currency`, exactly (null when it is not one). */
const minorOf = (text: string, currency: CurrencyCode) => {
  const parsed = parseAmount(text, currency);
  return parsed.ok ? parsed.value : null;
};

describe('M-Pesa B2C Amount: whole shillings as a digit string', () => {
  it.each([
    [10_00n, '10'],
    [1_234_00n, '1234'],
    [250_000_00n, '250000'],
  ])('when %p minor units of KES are sent, then Amount is "%s", in the contract and read back exactly', (minor, text) => {
    const body = toB2CRequest(request('KES', minor, '+254712345678'), { shortcode: '600000', initiatorName: 'tuma', securityCredential: 'c2VjcmV0' });
    expect(body.Amount).toBe(text);
    expect(body.Amount).toMatch(/^[1-9][0-9]*$/);
    expect(mpesa.requestProblems('post', '/mpesa/b2c/v3/paymentrequest', body)).toEqual([]);
    expect(minorOf(body.Amount, 'KES')).toBe(minor);
  });

  it('when an amount has cents, then no request is built (M-Pesa cannot carry it; ingest refuses it first)', () => {
    expect(() => toB2CRequest(request('KES', 10_50n, '+254712345678'), { shortcode: '600000', initiatorName: 'tuma', securityCredential: 'c2VjcmV0' })).toThrow(/whole units/);
  });

  it('when the contract is given a padded or fractional Amount, then it refuses it (the check can fail)', () => {
    const body = toB2CRequest(request('KES', 10_00n, '+254712345678'), { shortcode: '600000', initiatorName: 'tuma', securityCredential: 'c2VjcmV0' });
    for (const Amount of ['10.00', '10.5', '010', '-10']) expect(mpesa.requestProblems('post', '/mpesa/b2c/v3/paymentrequest', { ...body, Amount })).not.toEqual([]);
  });
});

describe('MTN MoMo transfer amount: a decimal string, whole amounts without decimals', () => {
  it.each([
    ['UGX', 5_000n, '5000'],
    ['UGX', 1n, '1'],
    ['XAF', 25_000n, '25000'],
    ['GHS', 12_50n, '12.50'],
    ['GHS', 12_05n, '12.05'],
    ['GHS', 12_00n, '12'],
    ['ZMW', 5n, '0.05'],
  ] as const)('when %s %p minor units are sent, then amount is "%s", in the contract and read back exactly', (currency, minor, text) => {
    const { body } = toTransferRequest(request(currency, minor, '+256701234567'), { targetEnvironment: 'mtnuganda' });
    expect(body.amount).toBe(text);
    expect(body.amount).toMatch(scaleOf(currency) === 0 ? /^[1-9][0-9]*$/ : /^(0|[1-9][0-9]*)(\.[0-9]{2})?$/);
    expect(momo.requestProblems('post', '/disbursement/v1_0/transfer', body)).toEqual([]);
    expect(minorOf(body.amount, currency)).toBe(minor);
  });

  it('when the contract is given an amount as a number or with a sign, then it refuses it (the check can fail)', () => {
    const { body } = toTransferRequest(request('UGX', 5_000n, '+256701234567'), { targetEnvironment: 'mtnuganda' });
    for (const amount of [5000, '-5000', '5e3', '']) expect(momo.requestProblems('post', '/disbursement/v1_0/transfer', { ...body, amount })).not.toEqual([]);
  });
});

describe('Airtel disbursement amount: a JSON number written from its decimal text', () => {
  const pin = Buffer.from('encrypted-pin').toString('base64');
  it.each([
    ['ZM', 'ZMW', '+260978980279', 12_50n, '12.50'],
    ['ZM', 'ZMW', '+260978980279', 1n, '0.01'],
    ['ZM', 'ZMW', '+260978980279', 10_00n, '10'],
    ['UG', 'UGX', '+256701234567', 5_000n, '5000'],
    ['KE', 'KES', '+254712345678', 99_99n, '99.99'],
  ] as const)('when %s %s %s gets %p minor units, then the JSON carries "amount":%s, in the contract and read back exactly', (country, currency, msisdn, minor, literal) => {
    const built = toAirtelRequest(request(currency, minor, msisdn), { country, currency, encryptedPin: pin });
    const json = disbursementJson(built.body);
    // The literal as it is on the wire: a JSON number, never a string, never a float's rounding.
    const onWire = /"amount":([^,}]+)/.exec(json)?.[1];
    expect(onWire).toBe(literal);
    expect(onWire).toMatch(/^(0|[1-9][0-9]*)(\.[0-9]+)?$/);
    expect(airtel.requestProblems('post', '/standard/v2/disbursements/', JSON.parse(json))).toEqual([]);
    expect(minorOf(onWire!, currency)).toBe(minor);
  });

  it('when the contract is given the amount as a string or zero, then it refuses it (the check can fail)', () => {
    const built = toAirtelRequest(request('ZMW', 12_50n, '+260978980279'), { country: 'ZM', currency: 'ZMW', encryptedPin: pin });
    const body = JSON.parse(disbursementJson(built.body)) as { transaction: Record<string, unknown> };
    for (const amount of ['12.50', 0, -1]) expect(airtel.requestProblems('post', '/standard/v2/disbursements/', { ...body, transaction: { ...body.transaction, amount } })).not.toEqual([]);
  });
});

describe('GSMA amount: the specification\'s pattern', () => {
  it.each([
    ['SLE', 150_00n, '150'],
    ['SLE', 75_50n, '75.5'],
    ['RWF', 200n, '200'],
    ['TND', 1_005n, '1.005'],
  ] as const)('when %s %p minor units are sent, then amount is "%s", in the contract, and the padded form is not', (currency, minor, text) => {
    const { body } = toGsmaRequest(request(currency, minor, '+23276000001'), { debitParty: [{ key: 'walletid', value: '1' }] });
    expect(body.amount).toBe(text);
    expect(body.amount).toMatch(gsmaAmountPattern);
    expect(gsma.requestProblems('post', '/transactions/type/disbursement', body)).toEqual([]);
    expect(parseGsmaAmount(body.amount, currency)).toBe(minor);
    const padded = scaleOf(currency) === 0 ? `${text}.0` : Number(minor % 10n) === 0 ? `${text}${text.includes('.') ? '' : '.'}0` : null;
    if (padded) expect(gsma.requestProblems('post', '/transactions/type/disbursement', { ...body, amount: padded })).not.toEqual([]);
    expect(formatGsmaAmount(minor, scaleOf(currency))).toBe(text);
  });
});

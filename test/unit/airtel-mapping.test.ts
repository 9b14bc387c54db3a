// The Airtel Disbursement v2 mapping against the documented samples of
// contracts/providers/airtel-disbursement-v2.openapi.yaml: every response code, router code and status letter, the
// request as it goes on the wire, and the callback with its `hash`.
import { createHmac } from 'node:crypto';
import {
  airtelCallbackHash,
  airtelTransactionId,
  disbursementJson,
  existsDetail,
  formatAirtelAmount,
  idempotencyKeyOf,
  mapAirtelCallback,
  mapDisburseResponse,
  mapEnquiryResponse,
  nationalNumberOf,
  notFoundDetail,
  parseAirtelCallback,
  parseAirtelCallbackRecord,
  responseCodeTable,
  routerCodeTable,
  statusLetterTable,
  toDisbursementRequest,
  transactionIdPattern,
  verifyAirtelCallback,
} from '../../src/adapters/providers/airtel/mapping.js';
import { failureReasons, type ProviderOutcome } from '../../src/domain/provider-outcome.js';

const key = '0b7f2a9e-4c1d-5e8f-9a0b-1c2d3e4f5a6b';
const txid = '0b7f2a9e4c1d5e8f9a0b1c2d3e4f5a6b';
const pin = 'S2V5SXNFbmNyeXB0ZWQ=';
const settings = { country: 'ZM', currency: 'ZMW' as const, encryptedPin: pin };
const request = { payoutId: 'p-1', idempotencyKey: key, msisdn: '+260978980279', amountMinor: 1250n, currency: 'ZMW' as const, callbackUrl: 'https://t.example/v1/callbacks/airtel/tok' };

// The documented samples (121 mock, quoted by the reference), with our transaction id where theirs is a placeholder.
const successSample = {
  data: { transaction: { reference_id: 'CI250506.1824.H00006', airtel_money_id: 'disbursement-Y79CTORHGI-wxBOCniOBPLNfBnUPCLIDW0i4m48AXmTWAyB4gN8', id: txid, status: 'TS' } },
  status: { response_code: 'DP00900001001', code: 200, success: true, result_code: 'ESB000010', message: 'You have sent ZMW 10.00 to 978980279 John Doe. Bal ZMW 19999.91' },
};
const duplicateSample = { status: { code: 400, message: 'Duplicate exttRID', response_code: 'DP00900001011', result_code: '521050', success: false } };
const invalidTokenSample = { error: 'invalid_token', error_description: 'The access token is invalid or has expired' };
const routerSample = { status_code: 'ROUTER110', status_message: 'Partner 2d9647ada26843468f68e7090619d40b not found' };
/** The shape of a refusal: HTTP 200, success false, a response code (121 mock). */
const refusal = (code: string, extra: Record<string, unknown> = {}) => ({ status: { response_code: code, code: '400', success: false, result_code: 'ESB000008', message: 'x', ...extra } });
/** An enquiry answer with a status letter (Airtel's sample shape: code a string). */
const enquiry = (letter: string, code = 'DP00900001001', success = true, extra: Record<string, unknown> = {}) => ({
  data: { transaction: { id: txid, status: letter, message: 'm', ...(letter === 'TS' ? { airtel_money_id: 'MP210603.1234.A00001' } : {}), ...extra } },
  status: { response_code: code, code: '200', success, result_code: 'ESB000010', message: 'SUCCESS' },
});

describe('Airtel disbursement request', () => {
  it('when an attempt key becomes a transaction.id, then it is the key without hyphens, alphanumeric within 5–80, and it maps back to the key', () => {
    expect(airtelTransactionId(key)).toBe(txid);
    expect(airtelTransactionId(key.toUpperCase())).toBe(txid);
    expect(transactionIdPattern.test(txid)).toBe(true);
    expect(idempotencyKeyOf(txid)).toBe(key);
    expect(idempotencyKeyOf(txid.toUpperCase())).toBe(key);
    expect(idempotencyKeyOf('MP210603.1234')).toBeNull();
    expect(idempotencyKeyOf('abc123')).toBeNull();
    expect(() => airtelTransactionId('key-1')).toThrow(/invariant/);
  });

  it('when a payout is mapped, then msisdn is the national number, amount a JSON number written from its decimal text, id and reference the hyphenless key', () => {
    const built = toDisbursementRequest(request, settings);
    expect(built.headers).toEqual({ 'X-Country': 'ZM', 'X-Currency': 'ZMW', 'Content-Type': 'application/json', Accept: '*/*' });
    expect(built.body).toEqual({ payee: { currency: 'ZMW', msisdn: '978980279' }, reference: txid, pin, transaction: { amount: '12.50', id: txid, type: 'B2C' } });
    expect(built.json).toBe(`{"payee":{"currency":"ZMW","msisdn":"978980279"},"reference":"${txid}","pin":"${pin}","transaction":{"amount":12.50,"id":"${txid}","type":"B2C"}}`);
    expect(JSON.parse(built.json)).toEqual({ ...built.body, transaction: { ...built.body.transaction, amount: 12.5 } });
  });

  it('when the amount has more digits than a float holds, then the wire text still carries it exactly', () => {
    const body = { ...toDisbursementRequest(request, settings).body, transaction: { amount: formatAirtelAmount(123456789012345678901n, 'ZMW'), id: txid, type: 'B2C' as const } };
    expect(disbursementJson(body)).toContain('"amount":1234567890123456789.01,');
    expect(() => disbursementJson({ ...body, transaction: { ...body.transaction, amount: '1e5' } })).toThrow(/invariant/);
  });

  it.each([
    [1000n, 'ZMW', '10'],
    [1250n, 'ZMW', '12.50'],
    [1205n, 'ZMW', '12.05'],
    [5n, 'ZMW', '0.05'],
    [5000n, 'UGX', '5000'],
    [12345n, 'TND', '12.345'],
  ] as const)('when %p minor units of %s are formatted, then Airtel gets %p', (minor, currency, text) => {
    expect(formatAirtelAmount(minor, currency)).toBe(text);
  });

  it('when the amount is not positive, then it is refused as an invariant', () => {
    expect(() => formatAirtelAmount(0n, 'ZMW')).toThrow(/invariant/);
    expect(() => formatAirtelAmount(-1n, 'ZMW')).toThrow(/invariant/);
  });

  it.each([
    ['+260978980279', 'ZM', '978980279'],
    ['+256772123456', 'UG', '772123456'],
    ['+254712345678', 'KE', '712345678'],
    ['+243991234567', 'CD', '991234567'],
  ])('when %s is sent through the %s account, then msisdn is %s', (msisdn, country, national) => {
    expect(nationalNumberOf(msisdn, country)).toBe(national);
  });

  it.each([
    ['a number of another market', '+254712345678', 'ZM', /not a number of ZM/],
    ['a number that is not E.164', '0978980279', 'ZM', /not E\.164/],
    ['a lower-case country', '+260978980279', 'zm', /ISO 3166-1/],
    ['an unknown country', '+260978980279', 'XX', /ISO 3166-1/],
  ])('when the request has %s, then it is refused without echoing the number', (_what, msisdn, country, reason) => {
    let message = '';
    try {
      nationalNumberOf(msisdn, country);
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(reason);
    expect(message).toMatch(/invariant/);
    expect(message).not.toContain(msisdn.slice(-9));
  });

  it('when the payout currency is not the account currency or the PIN is not base64, then the request is not built', () => {
    expect(() => toDisbursementRequest({ ...request, currency: 'UGX' }, settings)).toThrow(/cannot pay UGX/);
    expect(() => toDisbursementRequest(request, { ...settings, encryptedPin: '1234 ' })).toThrow(/not base64/);
  });
});

// Hand-written expectations (not read from the table, so that a changed table fails here).
const expectedOnDisburse: Record<string, ProviderOutcome> = {
  DP00900001000: { kind: 'unknown', providerCode: 'airtel:DP00900001000', detail: 'ambiguous: enquire' },
  DP00900001003: { kind: 'failed', reason: 'payee_limit_exceeded', providerCode: 'airtel:DP00900001003' },
  DP00900001004: { kind: 'failed', reason: 'amount_invalid', providerCode: 'airtel:DP00900001004' },
  DP00900001005: { kind: 'failed', reason: 'provider_failure', providerCode: 'airtel:DP00900001005' },
  DP00900001006: { kind: 'pending', providerReference: null },
  DP00900001007: { kind: 'failed', reason: 'insufficient_float', providerCode: 'airtel:DP00900001007' },
  DP00900001009: { kind: 'failed', reason: 'payee_not_found', providerCode: 'airtel:DP00900001009' },
  DP00900001010: { kind: 'failed', reason: 'not_permitted', providerCode: 'airtel:DP00900001010' },
  DP00900001011: { kind: 'unknown', providerCode: 'airtel:DP00900001011', detail: existsDetail },
  DP00900001012: { kind: 'failed', reason: 'payee_not_found', providerCode: 'airtel:DP00900001012' },
  DP00900001013: { kind: 'failed', reason: 'declined', providerCode: 'airtel:DP00900001013' },
  DP00900001014: { kind: 'unknown', providerCode: 'airtel:DP00900001014', detail: 'timed out at Airtel: enquire' },
  DP00900001015: { kind: 'unknown', providerCode: 'airtel:DP00900001015', detail: 'not-found code on a disbursement: enquire' },
  DP00900001016: { kind: 'failed', reason: 'credentials_invalid', providerCode: 'airtel:DP00900001016' },
  DP00900001017: { kind: 'unknown', providerCode: 'airtel:DP00900001017', detail: existsDetail },
};

describe('Airtel disbursement answer (POST)', () => {
  it.each([
    ['the documented success sample', 200, successSample, { kind: 'paid', providerReference: 'disbursement-Y79CTORHGI-wxBOCniOBPLNfBnUPCLIDW0i4m48AXmTWAyB4gN8' }],
    ['success without a status letter', 200, { status: successSample.status }, { kind: 'paid', providerReference: null }],
    ['success with our id in upper case', 200, { ...successSample, data: { transaction: { ...successSample.data.transaction, id: txid.toUpperCase() } } }, { kind: 'paid', providerReference: expect.any(String) }],
    ['success with TIP', 200, { ...successSample, data: { transaction: { id: txid, status: 'TIP' } } }, { kind: 'pending', providerReference: null }],
    ['success with TA', 200, { ...successSample, data: { transaction: { id: txid, status: 'TA' } } }, { kind: 'unknown', providerCode: 'airtel:TA', detail: 'success code with an ambiguous transaction: enquire' }],
    ['success with TF (a contradiction)', 200, { ...successSample, data: { transaction: { id: txid, status: 'TF' } } }, { kind: 'unknown', providerCode: 'airtel:DP00900001001', detail: 'success code with transaction status TF' }],
    ['success code with success:false', 200, { ...successSample, status: { ...successSample.status, success: false } }, { kind: 'unknown', providerCode: 'airtel:DP00900001001', detail: 'success code without success:true' }],
    ['the documented duplicate sample', 200, duplicateSample, { kind: 'unknown', providerCode: 'airtel:DP00900001011', detail: existsDetail }],
    ['a refusal with success:true (a contradiction)', 200, refusal('DP00900001007', { success: true }), { kind: 'unknown', providerCode: 'airtel:DP00900001007', detail: 'refusal code without success:false' }],
    ['a refusal beside a TS letter', 200, { ...refusal('DP00900001007'), data: { transaction: { id: txid, status: 'TS' } } }, { kind: 'unknown', providerCode: 'airtel:DP00900001007', detail: 'refusal code with transaction status TS: enquire' }],
    ['a refusal beside a TF letter', 200, { ...refusal('DP00900001012'), data: { transaction: { id: txid, status: 'TF' } } }, { kind: 'failed', reason: 'payee_not_found', providerCode: 'airtel:DP00900001012' }],
    ['the 403 invalid_token sample', 403, invalidTokenSample, { kind: 'failed', reason: 'credentials_invalid', providerCode: 'airtel:invalid_token' }],
    ['401 invalid_token', 401, invalidTokenSample, { kind: 'failed', reason: 'credentials_invalid', providerCode: 'airtel:invalid_token' }],
    ['403 from something else than the gateway', 403, { message: 'Forbidden' }, { kind: 'unknown', providerCode: null, detail: 'HTTP 403 without a response code' }],
    ['the 400 ROUTER110 sample', 400, routerSample, { kind: 'failed', reason: 'not_permitted', providerCode: 'airtel:ROUTER110' }],
    ['400 ROUTER116 PIN decryption failed', 400, { status_code: 'ROUTER116', status_message: 'PIN decryption failed' }, { kind: 'failed', reason: 'credentials_invalid', providerCode: 'airtel:ROUTER116' }],
    ['ROUTER116 inside a status envelope', 200, refusal('ROUTER116'), { kind: 'failed', reason: 'credentials_invalid', providerCode: 'airtel:ROUTER116' }],
    ['an undocumented router code', 400, { status_code: 'ROUTER999', status_message: 'x' }, { kind: 'unknown', providerCode: 'airtel:ROUTER999', detail: 'undocumented router code' }],
    ['415 (wrong content type)', 415, null, { kind: 'failed', reason: 'request_invalid', providerCode: 'airtel:http-415' }],
    ["the 121 mock's HTTP 400 invalid country envelope", 400, refusal('DP00900001013', { message: 'Invalid Country Code' }), { kind: 'failed', reason: 'declined', providerCode: 'airtel:DP00900001013' }],
    ["the 121 mock's missing X-Currency answer (no response code)", 200, { status: { code: '400', success: false, result_code: 'ESB000008', message: "Missing request header 'x-wallet-id'" } }, { kind: 'unknown', providerCode: null, detail: 'HTTP 200 without a response code' }],
    ['500 carrying a refusal code', 500, refusal('DP00900001007'), { kind: 'unknown', providerCode: 'airtel:DP00900001007', detail: 'HTTP 500' }],
    ['503 with an HTML page', 503, '<html>down</html>', { kind: 'unknown', providerCode: null, detail: 'HTTP 503' }],
    ['an empty 200', 200, null, { kind: 'unknown', providerCode: null, detail: 'HTTP 200 without a response code' }],
    ['an undocumented code', 200, refusal('DP00900001099'), { kind: 'unknown', providerCode: 'airtel:DP00900001099', detail: 'undocumented response code' }],
    ['a code that is not code-shaped', 200, refusal('DP009 +260978980279'), { kind: 'unknown', providerCode: null, detail: 'HTTP 200 without a response code' }],
    ['an answer about another transaction', 200, { ...successSample, data: { transaction: { ...successSample.data.transaction, id: 'ffffffffffffffffffffffffffffffff' } } }, { kind: 'unknown', providerCode: 'airtel:DP00900001001', detail: 'the answer names another transaction' }],
  ])('when Airtel answers %s, then the outcome is as mapped', (_what, status, body, outcome) => {
    expect(mapDisburseResponse(status, body, txid)).toEqual(outcome);
  });

  it.each(Object.entries(expectedOnDisburse))('when a disbursement is answered %s, then the outcome is %j', (code, outcome) => {
    expect(mapDisburseResponse(200, refusal(code), txid)).toEqual(outcome);
  });

  it('when the success message names the payee and their number, then the outcome carries neither', () => {
    expect(JSON.stringify(mapDisburseResponse(200, successSample, txid))).not.toMatch(/978980279|John/);
    expect(JSON.stringify(mapDisburseResponse(200, { ...successSample, status: { ...successSample.status, success: false } }, txid))).not.toMatch(/978980279|John/);
  });

  it('when the tables are read, then they hold exactly the documented codes and letters, and every reason is one the domain knows', () => {
    expect(Object.keys(responseCodeTable).sort()).toEqual([...Object.keys(expectedOnDisburse), 'DP00900001001'].sort());
    expect(Object.keys(routerCodeTable).sort()).toEqual(['ROUTER110', 'ROUTER116']);
    expect(Object.keys(statusLetterTable).sort()).toEqual(['TA', 'TE', 'TF', 'TIP', 'TS']);
    const verdicts = [...Object.values(responseCodeTable).flatMap((e) => [e.onDisburse, e.onEnquiry]), ...Object.values(routerCodeTable).flatMap((e) => [e.onDisburse, e.onEnquiry]), ...Object.values(statusLetterTable).map((e) => e.verdict)];
    for (const v of verdicts) if (v.kind === 'failed') expect(failureReasons).toContain(v.reason);
    // An enquiry that carries no letter never fails a payout: only the transaction's own status can.
    for (const e of [...Object.values(responseCodeTable), ...Object.values(routerCodeTable)]) expect(['pending', 'unknown', 'absent']).toContain(e.onEnquiry.kind);
  });
});

describe('Airtel enquiry answer (GET)', () => {
  it.each([
    ['TS', 200, enquiry('TS'), { kind: 'paid', providerReference: 'MP210603.1234.A00001' }],
    ['TS with success:false', 200, enquiry('TS', 'DP00900001001', false), { kind: 'unknown', providerCode: 'airtel:TS', detail: 'successful transaction without success:true' }],
    ['TF beside the success code', 200, enquiry('TF'), { kind: 'failed', reason: 'provider_failure', providerCode: 'airtel:TF' }],
    ['TF beside insufficient funds', 200, enquiry('TF', 'DP00900001007'), { kind: 'failed', reason: 'insufficient_float', providerCode: 'airtel:DP00900001007' }],
    ['TF beside an undocumented code', 200, enquiry('TF', 'DP00900001099', false), { kind: 'failed', reason: 'provider_failure', providerCode: 'airtel:TF' }],
    ['TE', 200, enquiry('TE'), { kind: 'failed', reason: 'expired', providerCode: 'airtel:TE' }],
    ['TIP', 200, enquiry('TIP', 'DP00900001006'), { kind: 'pending', providerReference: null }],
    ['TA', 200, enquiry('TA', 'DP00900001000'), { kind: 'unknown', providerCode: 'airtel:TA', detail: 'transaction ambiguous at Airtel: enquire again later' }],
    ['an undocumented letter', 200, enquiry('TX'), { kind: 'unknown', providerCode: 'airtel:status:TX', detail: 'undocumented transaction status' }],
    ['015 not found', 200, refusal('DP00900001015', { code: '404' }), { kind: 'absent', providerCode: 'airtel:DP00900001015', detail: notFoundDetail }],
    ['a refusal code without a letter', 200, refusal('DP00900001007'), { kind: 'unknown', providerCode: 'airtel:DP00900001007', detail: 'enquiry refused (DP00900001007): says nothing about the transaction' }],
    ['the 403 invalid_token sample', 403, invalidTokenSample, { kind: 'unknown', providerCode: 'airtel:invalid_token', detail: 'token refused: enquire again' }],
    ['the 400 ROUTER110 sample', 400, routerSample, { kind: 'unknown', providerCode: 'airtel:ROUTER110', detail: 'enquiry refused (ROUTER110): says nothing about the transaction' }],
    ['500', 500, null, { kind: 'unknown', providerCode: null, detail: 'enquiry answered HTTP 500' }],
    ['an unreadable 200', 200, 'not json', { kind: 'unknown', providerCode: null, detail: 'enquiry answered HTTP 200 without a status' }],
    ['TS about another transaction', 200, enquiry('TS', 'DP00900001001', true, { id: 'someoneelse1' }), { kind: 'unknown', providerCode: 'airtel:DP00900001001', detail: 'the answer names another transaction' }],
  ])('when the enquiry answers %s, then the outcome is as mapped', (_what, status, body, outcome) => {
    expect(mapEnquiryResponse(status, body, txid)).toEqual(outcome);
  });

  it.each([
    ['DP00900001000', 'unknown'],
    ['DP00900001001', 'unknown'],
    ['DP00900001003', 'unknown'],
    ['DP00900001004', 'unknown'],
    ['DP00900001005', 'unknown'],
    ['DP00900001006', 'pending'],
    ['DP00900001007', 'unknown'],
    ['DP00900001009', 'unknown'],
    ['DP00900001010', 'unknown'],
    ['DP00900001011', 'unknown'],
    ['DP00900001012', 'unknown'],
    ['DP00900001013', 'unknown'],
    ['DP00900001014', 'unknown'],
    ['DP00900001015', 'absent'],
    ['DP00900001016', 'unknown'],
    ['DP00900001017', 'unknown'],
  ])('when an enquiry without a transaction status answers %s, then the outcome is %s, never failed', (code, kind) => {
    const outcome = mapEnquiryResponse(200, refusal(code), txid);
    expect(outcome.kind).toBe(kind);
    expect(outcome).not.toHaveProperty('reason');
  });
});

describe('Airtel callback', () => {
  const secret = Buffer.from('shared-callback-secret');
  const body = (transaction: Record<string, unknown>) => Buffer.from(JSON.stringify({ transaction }));
  const ts = body({ id: txid, message: 'Paid ZMW 10 to 978980279 John', status_code: 'TS', airtel_money_id: 'MP210603.1234.A00001' });

  it('when the documented success callback arrives, then its id, status and Airtel id are read, not its message, and it is paid', () => {
    expect(parseAirtelCallback(ts)).toEqual({ transactionId: txid, idempotencyKey: key, statusCode: 'TS', airtelMoneyId: 'MP210603.1234.A00001' });
    expect(parseAirtelCallbackRecord(ts)).toEqual({ dedupeKey: `${key}:TS`, idempotencyKey: key, outcome: 'paid', reasonCode: null, providerReference: 'MP210603.1234.A00001' });
    expect(JSON.stringify(parseAirtelCallbackRecord(ts))).not.toMatch(/978980279|John/);
  });

  it.each([
    ['TF', { kind: 'failed', reason: 'provider_failure', providerCode: 'airtel:TF' }],
    ['TE', { kind: 'failed', reason: 'expired', providerCode: 'airtel:TE' }],
    ['TIP', { kind: 'pending', providerReference: null }],
    ['TA', { kind: 'unknown', providerCode: 'airtel:TA', detail: 'transaction ambiguous at Airtel: enquire again later' }],
    ['XX', { kind: 'unknown', providerCode: 'airtel:status:XX', detail: 'undocumented callback status' }],
  ])('when a callback says %s, then the outcome is %j', (statusCode, outcome) => {
    expect(mapAirtelCallback({ transactionId: txid, idempotencyKey: key, statusCode, airtelMoneyId: null })).toEqual(outcome);
  });

  it('when a failure callback is stored, then it reads failed with the reason and Airtel letter', () => {
    expect(parseAirtelCallbackRecord(body({ id: txid, message: 'x', status_code: 'TF' }))).toEqual({ dedupeKey: `${key}:TF`, idempotencyKey: key, outcome: 'failed', reasonCode: 'provider_failure:airtel:TF', providerReference: null });
  });

  it('when the same callback arrives twice, then both have the same dedupe key; a callback about an id Tuma did not make names no attempt', () => {
    expect(parseAirtelCallbackRecord(Buffer.from(ts))?.dedupeKey).toBe(parseAirtelCallbackRecord(ts)?.dedupeKey);
    expect(parseAirtelCallbackRecord(body({ id: 'MP2106031234', status_code: 'TS' }))).toMatchObject({ dedupeKey: 'txid:MP2106031234:TS', idempotencyKey: null });
  });

  it.each([
    ['not JSON', Buffer.from('{"transaction":')],
    ['an array', Buffer.from('[]')],
    ['no transaction', Buffer.from('{"id":"abcdef"}')],
    ['an id with hyphens (not Airtel-shaped)', body({ id: key, status_code: 'TS' })],
    ['a too short id', body({ id: 'abc', status_code: 'TS' })],
    ['no status code', body({ id: txid })],
    ['a status code that is not code-shaped', body({ id: txid, status_code: 'T S' })],
    ['a number as id', body({ id: 12345678, status_code: 'TS' })],
  ])('when the callback is %s, then it is malformed (null)', (_what, raw) => {
    expect(parseAirtelCallback(raw)).toBeNull();
    expect(parseAirtelCallbackRecord(raw)).toBeNull();
  });

  it('when the hash header is checked, then only base64 HMAC-SHA256 of the exact body under the shared secret passes', () => {
    const hash = createHmac('sha256', secret).update(ts).digest('base64');
    expect(airtelCallbackHash(secret, ts)).toBe(hash);
    expect(verifyAirtelCallback(secret, ts, hash)).toEqual({ ok: true });
    expect(verifyAirtelCallback(secret, Buffer.concat([ts, Buffer.from(' ')]), hash)).toEqual({ ok: false, reason: 'bad signature' });
    expect(verifyAirtelCallback(Buffer.from('another secret'), ts, hash)).toEqual({ ok: false, reason: 'bad signature' });
    expect(verifyAirtelCallback(secret, ts, createHmac('sha256', secret).update(ts).digest('hex'))).toEqual({ ok: false, reason: 'bad signature' });
    expect(verifyAirtelCallback(secret, ts, undefined)).toEqual({ ok: false, reason: 'no signature' });
    expect(verifyAirtelCallback(secret, ts, '')).toEqual({ ok: false, reason: 'no signature' });
  });
});

import {
  momoReferenceId,
  formatMomoAmount,
  mapCallback,
  mapTransferResponse,
  mapTransferStatus,
  parseMomoCallback,
  postAmbiguousCodes,
  reasonTable,
  toTransferRequest,
  transferResultFacts,
} from '../../src/adapters/providers/mtn-momo/mapping.js';
import { failureReasons } from '../../src/domain/provider-outcome.js';

// The documented samples of contracts/providers/mtn-momo-disbursement.openapi.yaml.
const statusSample = {
  amount: '5', currency: 'EUR', financialTransactionId: '981569077', externalId: '6353636',
  payee: { partyIdType: 'MSISDN', partyId: '0248888736' }, payerMessage: 'Pay for product a', payeeNote: 'payer note', status: 'SUCCESSFUL',
};
const failedSample = { ...statusSample, financialTransactionId: undefined, status: 'FAILED', reason: 'NOT_ENOUGH_FUNDS' };
const failedObjectSample = { ...failedSample, reason: { code: 'NOT_ENOUGH_FUNDS', message: 'The payer does not have enough funds.' } };

const key = '0b7f2a9e-4c1d-5e8f-9a0b-1c2d3e4f5a6b';
const request = { payoutId: 'p-1', idempotencyKey: key, msisdn: '+256772123456', amountMinor: 1250n, currency: 'EUR' as const, callbackUrl: 'https://t.example/v1/callbacks/mtn-momo/tok' };

describe('MoMo transfer request', () => {
  it('when an attempt key becomes a reference id, then it is the same key with version 4, so a resend and a status query find the same transfer', () => {
    expect(momoReferenceId(key)).toBe('0b7f2a9e-4c1d-4e8f-9a0b-1c2d3e4f5a6b');
    expect(momoReferenceId(key.toUpperCase())).toBe(momoReferenceId(key));
    expect(momoReferenceId('0b7f2a9e-4c1d-5e8f-9a0b-1c2d3e4f5a6c')).not.toBe(momoReferenceId(key));
    expect(() => momoReferenceId('not-a-uuid')).toThrow(/invariant/);
  });

  it('when a payout is mapped, then partyId is the MSISDN without "+", the amount a decimal string, the reference id the key as a v4 UUID and externalId the key', () => {
    expect(toTransferRequest(request, { targetEnvironment: 'mtnuganda' })).toEqual({
      headers: { 'X-Reference-Id': '0b7f2a9e-4c1d-4e8f-9a0b-1c2d3e4f5a6b', 'X-Target-Environment': 'mtnuganda', 'X-Callback-Url': request.callbackUrl, 'Content-Type': 'application/json' },
      body: { amount: '12.50', currency: 'EUR', externalId: key, payee: { partyIdType: 'MSISDN', partyId: '256772123456' }, payerMessage: 'Tuma cash transfer', payeeNote: 'Cash assistance' },
    });
  });

  it.each([
    [500n, 'EUR', '5'],
    [1250n, 'EUR', '12.50'],
    [1205n, 'EUR', '12.05'],
    [1n, 'EUR', '0.01'],
    [5000n, 'UGX', '5000'],
    [5000n, 'XAF', '5000'],
    [12345n, 'JOD', '12.345'],
    [12000n, 'JOD', '12'],
  ] as const)('when %p minor units of %s are formatted, then MoMo gets %p', (minor, currency, text) => {
    expect(formatMomoAmount(minor, currency)).toBe(text);
  });

  it('when the amount is not positive, then the mapping refuses it as an invariant', () => {
    expect(() => formatMomoAmount(0n, 'EUR')).toThrow(/invariant/);
  });

  it('when the idempotency key is not a UUID, then the mapping throws an invariant error naming no beneficiary data', () => {
    expect(() => toTransferRequest({ ...request, idempotencyKey: 'key-1' }, { targetEnvironment: 'sandbox' })).toThrow(/invariant violated: a MoMo X-Reference-Id must be a UUID/);
  });

  it('when the number is not E.164, then the mapping throws without echoing the number', () => {
    let message = '';
    try {
      toTransferRequest({ ...request, msisdn: '0772123456' }, { targetEnvironment: 'sandbox' });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/invariant/);
    expect(message).not.toContain('772123456');
  });

  it('when the payer message and payee note are read, then they fit MoMo (≤160 chars, no apostrophe)', () => {
    const { body } = toTransferRequest(request, { targetEnvironment: 'sandbox' });
    for (const text of [body.payerMessage, body.payeeNote]) expect(text.length <= 160 && !text.includes("'")).toBe(true);
  });
});

describe('MoMo transfer answer (POST)', () => {
  it.each([
    [202, null, { kind: 'pending', providerReference: null }],
    [202, '', { kind: 'pending', providerReference: null }],
    [409, { code: 'RESOURCE_ALREADY_EXIST', message: 'Duplicated reference id. Creation of resource failed.' }, { kind: 'unknown', providerCode: 'momo:RESOURCE_ALREADY_EXIST', detail: 'reference id exists: query its status' }],
    [409, null, { kind: 'unknown', providerCode: 'momo:RESOURCE_ALREADY_EXIST', detail: 'reference id exists: query its status' }],
    [401, { statusCode: 401, message: 'Access denied due to invalid subscription key.' }, { kind: 'unknown', providerCode: null, detail: 'token or subscription key refused' }],
    [400, { code: 'PAYEE_NOT_FOUND', message: 'Payee not found' }, { kind: 'failed', reason: 'payee_not_found', providerCode: 'momo:PAYEE_NOT_FOUND' }],
    [400, { code: 'INVALID_CURRENCY', message: 'Currency not supported' }, { kind: 'failed', reason: 'amount_invalid', providerCode: 'momo:INVALID_CURRENCY' }],
    [400, { code: 'BAD_REQUEST', message: 'Invalid X-Reference-Id' }, { kind: 'unknown', providerCode: 'momo:BAD_REQUEST', detail: 'HTTP 400 BAD_REQUEST' }],
    [400, { code: 'SERVICE_UNAVAILABLE', message: '' }, { kind: 'unknown', providerCode: 'momo:SERVICE_UNAVAILABLE', detail: 'HTTP 400 SERVICE_UNAVAILABLE' }],
    [500, { code: 'INTERNAL_PROCESSING_ERROR', message: 'An internal error occurred while processing.' }, { kind: 'unknown', providerCode: 'momo:INTERNAL_PROCESSING_ERROR', detail: 'HTTP 500 INTERNAL_PROCESSING_ERROR' }],
    [500, { code: 'NOT_ALLOWED', message: 'Authorization failed.' }, { kind: 'unknown', providerCode: 'momo:NOT_ALLOWED', detail: 'HTTP 500 NOT_ALLOWED' }],
    [503, { code: 'SERVICE_UNAVAILABLE', message: 'Service unavailable' }, { kind: 'unknown', providerCode: 'momo:SERVICE_UNAVAILABLE', detail: 'HTTP 503 SERVICE_UNAVAILABLE' }],
    [500, '<html>oops</html>', { kind: 'unknown', providerCode: null, detail: 'HTTP 500' }],
    [403, { code: 'FORBIDDEN IP', message: 'IP not whitelisted' }, { kind: 'unknown', providerCode: null, detail: 'HTTP 403' }],
  ])('when MoMo answers HTTP %i %j, then the outcome is %j', (status, body, outcome) => {
    expect(mapTransferResponse(status, body)).toEqual(outcome);
  });

  it.each([...postAmbiguousCodes])('when a POST is answered 400 %s (the money may have moved or the first request exists), then the outcome is unknown, never failed', (code) => {
    expect(mapTransferResponse(400, { code, message: 'x' }).kind).toBe('unknown');
  });
});

describe('MoMo transfer status (GET)', () => {
  it.each([
    ['the documented success sample', 200, statusSample, { kind: 'paid', providerReference: '981569077' }],
    ['the failed sample with a string reason', 200, failedSample, { kind: 'failed', reason: 'insufficient_float', providerCode: 'momo:NOT_ENOUGH_FUNDS' }],
    ['the failed sample with an {code,message} reason', 200, failedObjectSample, { kind: 'failed', reason: 'insufficient_float', providerCode: 'momo:NOT_ENOUGH_FUNDS' }],
    ['a pending transfer', 200, { ...statusSample, financialTransactionId: undefined, status: 'PENDING' }, { kind: 'pending', providerReference: null }],
    ['a failure with an undocumented reason', 200, { ...failedSample, reason: 'SOMETHING_NEW' }, { kind: 'failed', reason: 'provider_failure', providerCode: 'momo:SOMETHING_NEW' }],
    ['a failure with no reason', 200, { ...failedSample, reason: undefined }, { kind: 'failed', reason: 'provider_failure', providerCode: 'momo:FAILED' }],
    ['a failure with an unreadable reason', 200, { ...failedSample, reason: 'not a code; +256772123456' }, { kind: 'failed', reason: 'provider_failure', providerCode: 'momo:FAILED' }],
    ['an undocumented status', 200, { ...statusSample, status: 'CREATED' }, { kind: 'unknown', providerCode: 'momo:status:CREATED', detail: 'undocumented transfer status' }],
    ['404 RESOURCE_NOT_FOUND', 404, { code: 'RESOURCE_NOT_FOUND', message: 'Requested resource was not found.' }, { kind: 'absent', providerCode: 'momo:RESOURCE_NOT_FOUND', detail: 'transfer not registered: resend with the same reference id, then ask again' }],
    ['500', 500, { code: 'INTERNAL_PROCESSING_ERROR', message: 'x' }, { kind: 'unknown', providerCode: 'momo:INTERNAL_PROCESSING_ERROR', detail: 'status query answered HTTP 500' }],
    ['401', 401, null, { kind: 'unknown', providerCode: null, detail: 'token or subscription key refused' }],
  ])('when the status answer is %s, then the outcome is as mapped', (_what, status, body, outcome) => {
    expect(mapTransferStatus(status, body)).toMatchObject(outcome);
  });

  it.each(Object.entries(reasonTable))('when a FAILED status carries reason %s, then it is failed with %s, as a string or as {code,message}', (code, reason) => {
    const expected = { kind: 'failed', reason, providerCode: `momo:${code}` };
    expect(mapTransferStatus(200, { ...failedSample, reason: code })).toEqual(expected);
    expect(mapTransferStatus(200, { ...failedSample, reason: { code, message: 'm' } })).toEqual(expected);
  });

  it('when the reason table is read, then it covers every reason code of the reference and maps to reasons the domain knows', () => {
    const documented = [
      'PAYEE_NOT_FOUND', 'PAYER_NOT_FOUND', 'NOT_ALLOWED', 'NOT_ALLOWED_TARGET_ENVIRONMENT', 'INVALID_CALLBACK_URL_HOST', 'INVALID_CURRENCY',
      'SERVICE_UNAVAILABLE', 'INTERNAL_PROCESSING_ERROR', 'NOT_ENOUGH_FUNDS', 'PAYER_LIMIT_REACHED', 'PAYEE_NOT_ALLOWED_TO_RECEIVE', 'PAYMENT_NOT_APPROVED',
      'RESOURCE_NOT_FOUND', 'APPROVAL_REJECTED', 'EXPIRED', 'TRANSACTION_CANCELED', 'RESOURCE_ALREADY_EXIST', 'COULD_NOT_PERFORM_TRANSACTION', 'SENDER_ACCOUNT_NOT_ACTIVE',
      'Failed', 'Rejected', 'Expired', 'NotEnoughFunds', 'PayerLimitReached', 'NotFound', 'NotAllowed', 'NotAllowedTargetEnvironment', 'InvalidCallbackUrlHost',
      'InvalidCurrency', 'InternalProcessingError', 'ServiceUnavailable', 'TransfertypeUnknown',
    ];
    expect(Object.keys(reasonTable).sort()).toEqual([...documented].sort());
    for (const reason of Object.values(reasonTable)) expect(failureReasons).toContain(reason);
    for (const code of postAmbiguousCodes) expect(Object.keys(reasonTable)).toContain(code);
  });
});

describe('MoMo callback', () => {
  const callback = { ...statusSample, externalId: key.toUpperCase() };

  it('when the success callback arrives, then it is paid, keyed by the attempt key echoed as externalId', () => {
    expect(mapCallback(callback)).toMatchObject({ dedupeKey: `${key}:SUCCESSFUL`, idempotencyKey: key, outcome: { kind: 'paid', providerReference: '981569077' } });
  });

  it('when the same callback arrives twice, then both deliveries have the same dedupe key', () => {
    expect(mapCallback(callback)?.dedupeKey).toBe(mapCallback(JSON.parse(JSON.stringify(callback)))?.dedupeKey);
  });

  it('when a failed callback arrives, then record-callback gets the failure with the reason and the provider code', () => {
    expect(parseMomoCallback(Buffer.from(JSON.stringify({ ...failedObjectSample, externalId: key })))).toEqual({
      dedupeKey: `${key}:FAILED`, idempotencyKey: key, outcome: 'failed', reasonCode: 'insufficient_float:momo:NOT_ENOUGH_FUNDS', providerReference: null,
      // The sample's payee is a national number: not a receiver Tuma can compare.
      facts: { amount: '5', currency: 'EUR', receiver: null, fee: null },
    });
  });

  it('when the externalId is not an attempt key, then the callback is keyed by the financial transaction id and names no attempt', () => {
    expect(mapCallback(statusSample)).toMatchObject({ dedupeKey: 'ftid:981569077:SUCCESSFUL', idempotencyKey: null });
  });

  it.each(['not json', '{}', '[]', '{"status":"SUCCESSFUL"}', '{"externalId":"x","status":7}'])('when the callback body is %p, then it is not accepted', (raw) => {
    expect(parseMomoCallback(Buffer.from(raw))).toBeNull();
  });
});

describe('MoMo callback facts (what a TransferResult says about the money)', () => {
  const payee = { partyIdType: 'MSISDN', partyId: '256772123456' };
  const success = { ...statusSample, externalId: key, payee, amount: '12.50', currency: 'UGX' };
  const factsOf = (body: unknown) => parseMomoCallback(Buffer.from(JSON.stringify(body)))?.facts;

  it('when a SUCCESSFUL callback names its amount, currency and MSISDN payee, then those are its facts (MoMo reports no fee)', () => {
    expect(factsOf(success)).toEqual({ amount: '12.50', currency: 'UGX', receiver: '256772123456', fee: null });
    expect(transferResultFacts(success)).toEqual({ amount: '12.50', currency: 'UGX', receiver: '256772123456', fee: null });
  });

  it.each([
    ['MSISDN', '256772123456'],
    ['msisdn', '256772123456'],
    ['Msisdn', '256772123456'],
    ['EMAIL', null],
    ['PARTY_CODE', null],
    [undefined, null],
    [7, null],
  ])('when the payee is typed %p, then the receiver reads %p', (partyIdType, receiver) => {
    expect(factsOf({ ...success, payee: { partyIdType, partyId: '256772123456' } })?.receiver).toBe(receiver);
  });

  it.each([
    ['+256772123456', '+256772123456'],
    ['0772123456', null],
    ['2567****456', null],
    ['1234567', null],
    ['1234567890123456', null],
    [256772123456, null],
    ['x'.repeat(100_000), null],
  ])('when the MSISDN payee is %p, then the receiver reads %p', (partyId, receiver) => {
    expect(factsOf({ ...success, payee: { partyIdType: 'MSISDN', partyId } })?.receiver).toBe(receiver);
  });

  it.each([
    [12.5, '12.5'],
    ['5000', '5000'],
    [1e21, null],
    ['1e21', null],
    ['-12.50', null],
    [-12.5, null],
    [['12.50'], null],
    [{ value: '12.50' }, null],
    ['1'.repeat(100_000), null],
    ['', null],
  ])('when the amount is %p, then it reads %p', (amount, expected) => {
    expect(factsOf({ ...success, amount })?.amount).toBe(expected);
  });

  it.each([
    ['ugx', null],
    ['UGXX', null],
    [800, null],
    [['UGX'], null],
  ])('when the currency is %p, then it reads %p', (currency, expected) => {
    expect(factsOf({ ...success, currency })?.currency).toBe(expected);
  });

  it.each([
    ['no amount, currency or payee', { externalId: key, status: 'SUCCESSFUL' }],
    ['a payee that is not an object', { externalId: key, status: 'SUCCESSFUL', payee: '256772123456' }],
    ['a payee that is a list', { externalId: key, status: 'SUCCESSFUL', payee: [payee] }],
    ['hostile values everywhere', { externalId: key, status: 'SUCCESSFUL', amount: 1e21, currency: {}, payee: { partyIdType: 'MSISDN', partyId: null } }],
  ])('when the callback has %s, then it is still parsed, with no facts', (_what, body) => {
    const parsed = parseMomoCallback(Buffer.from(JSON.stringify(body)));
    expect(parsed).toMatchObject({ outcome: 'paid', idempotencyKey: key });
    expect(parsed).not.toHaveProperty('facts');
  });
});

import { gatewayRejectionTable, mapB2CResponse, mapResult, mapStatusQueryAck, mapStatusResult, parseB2CCallback, parseStatusCallback, resultCodeTable, toB2CRequest, toStatusQueryRequest, transactionStatusTable } from '../../src/adapters/providers/mpesa/mapping.js';
import { failureReasons } from '../../src/domain/provider-outcome.js';

const sampleSuccess = {
  Result: {
    ResultType: 0, ResultCode: 0, ResultDesc: 'The service request is processed successfully.',
    OriginatorConversationID: '53e3-4aa8-9fe0-8fb5e4092cdd3533373', ConversationID: 'AG_20240706_2010364430d9bbdaf872', TransactionID: 'SG632NMUAB',
    ResultParameters: { ResultParameter: [{ Key: 'TransactionAmount', Value: 10 }, { Key: 'TransactionReceipt', Value: 'SG632NMUAB' }] },
  },
};

describe('M-Pesa B2C mapping', () => {
  it('when a payout is mapped, then PartyB has no plus, the amount is whole shillings and the key is the OriginatorConversationID', () => {
    const body = toB2CRequest(
      { payoutId: 'p', idempotencyKey: 'key-1', msisdn: '+254712345678', amountMinor: 125000n, currency: 'KES', callbackUrl: 'https://t.example/v1/callbacks/mpesa/tok' },
      { shortcode: '600000', initiatorName: 'init', securityCredential: 'cred' },
    );
    expect(body).toMatchObject({ OriginatorConversationID: 'key-1', PartyB: '254712345678', Amount: '1250', QueueTimeOutURL: 'https://t.example/v1/callbacks/mpesa/tok/timeout' });
  });

  it.each([
    [200, { ResponseCode: '0', ConversationID: 'AG_1' }, { kind: 'pending', providerReference: 'AG_1' }],
    [500, { errorCode: '500.002.1001', errorMessage: 'Duplicate OriginatorConversationID.' }, { kind: 'unknown', providerCode: 'mpesa:500.002.1001', detail: 'HTTP 500 500.002.1001' }],
    [503, null, { kind: 'unknown', providerCode: null, detail: 'HTTP 503' }],
    [400, { errorCode: '400.002.02' }, { kind: 'failed', reason: 'request_invalid', providerCode: 'mpesa:400.002.02' }],
    [200, { ResponseCode: '1', ConversationID: 'AG_1' }, { kind: 'failed', reason: 'provider_failure', providerCode: 'mpesa:response:1' }],
  ])('when Daraja answers HTTP %i %j, then the outcome is %j', (status, body, outcome) => {
    expect(mapB2CResponse(status, body)).toEqual(outcome);
  });

  it('when the documented success callback arrives, then it is paid with the receipt', () => {
    expect(parseB2CCallback(Buffer.from(JSON.stringify(sampleSuccess)), 'result')).toEqual({
      dedupeKey: '53e3-4aa8-9fe0-8fb5e4092cdd3533373:0', idempotencyKey: '53e3-4aa8-9fe0-8fb5e4092cdd3533373', outcome: 'paid', reasonCode: null, providerReference: 'SG632NMUAB',
      facts: { amount: '10', currency: null, receiver: null, fee: null },
    });
  });

  it.each([
    [2001, 'failed'],
    ['2001', 'failed'],
    [15, 'ambiguous'],
    [17, 'ambiguous'],
  ])('when the result code is %p, then the outcome is %s', (code, outcome) => {
    const body = { Result: { ...sampleSuccess.Result, ResultCode: code, ResultParameters: undefined } };
    expect(parseB2CCallback(Buffer.from(JSON.stringify(body)), 'result')?.outcome).toBe(outcome);
  });

  it.each(['not json', '{}', '{"Result":{"ResultCode":0}}', '[]'])('when the callback body is %p, then it is not accepted', (raw) => {
    expect(parseB2CCallback(Buffer.from(raw), 'result')).toBeNull();
  });
});

describe('M-Pesa result codes, every one documented', () => {
  const result = (code: number | string, type: number | string = 0) => ({ ResultType: type, ResultCode: code, OriginatorConversationID: 'k', TransactionID: 'SG632NMUAB' });

  it.each(Object.entries(resultCodeTable))('when a result carries code %s, then it maps to %s', (code, mapped) => {
    const outcome = mapResult(result(/^\d+$/.test(code) ? Number(code) : code));
    if (mapped === 'paid') expect(outcome).toEqual({ kind: 'paid', providerReference: 'SG632NMUAB' });
    else if (mapped === 'unknown') expect(outcome).toMatchObject({ kind: 'unknown', providerCode: `mpesa:${code}` });
    else expect(outcome).toEqual({ kind: 'failed', reason: mapped, providerCode: `mpesa:${code}` });
  });

  it('when a result code is not documented, then the outcome is unknown, never failed', () => {
    expect(mapResult(result(9999))).toMatchObject({ kind: 'unknown', providerCode: 'mpesa:9999' });
  });

  it('when the result says it waits for further messages (ResultType 1), then the payout is pending', () => {
    expect(mapResult(result(0, '1'))).toEqual({ kind: 'pending', providerReference: 'SG632NMUAB' });
  });

  it('when every failure in the table is read, then each is a failure reason the domain knows', () => {
    for (const mapped of Object.values(resultCodeTable)) if (mapped !== 'paid' && mapped !== 'unknown') expect(failureReasons).toContain(mapped);
    for (const mapped of Object.values(gatewayRejectionTable)) expect(failureReasons).toContain(mapped);
  });
});

describe('M-Pesa transaction status', () => {
  const statusResult = (code: number | string, status?: string) => ({
    ResultType: 0, ResultCode: code, OriginatorConversationID: 'query-1', ConversationID: 'AG_2',
    ResultParameters: { ResultParameter: [{ Key: 'ReceiptNo', Value: 'SG632NMUAB' }, { Key: 'OriginatorConversationID', Value: 'key-1' }, ...(status ? [{ Key: 'TransactionStatus', Value: status }] : [])] },
  });

  it('when a status query is built, then it asks by our key, adds the receipt when known, and is answered on the attempt\'s /status URL', () => {
    const q = toStatusQueryRequest({ payoutId: 'p-1', idempotencyKey: 'key-1', providerReference: 'SG632NMUAB', currency: 'KES', callbackUrl: 'https://t.example/cb/tok' }, { shortcode: '600000', initiatorName: 'init', securityCredential: 'cred' });
    expect(q).toMatchObject({ CommandID: 'TransactionStatusQuery', OriginalConversationID: 'key-1', TransactionID: 'SG632NMUAB', PartyA: '600000', IdentifierType: '4', ResultURL: 'https://t.example/cb/tok/status' });
    expect(toStatusQueryRequest({ payoutId: 'p-1', idempotencyKey: 'key-1', providerReference: null, currency: 'KES', callbackUrl: 'https://t.example/cb/tok' }, { shortcode: '600000', initiatorName: 'init', securityCredential: 'cred' })).not.toHaveProperty('TransactionID');
  });

  it.each(Object.entries(transactionStatusTable))('when the transaction status is %s, then the payout is %s', (status, mapped) => {
    const outcome = mapStatusResult(statusResult(0, status[0]!.toUpperCase() + status.slice(1)));
    if (mapped === 'paid' || mapped === 'pending') expect(outcome).toEqual({ kind: mapped, providerReference: 'SG632NMUAB' });
    else expect(outcome).toEqual({ kind: 'failed', reason: mapped, providerCode: `mpesa:status:${status}` });
  });

  it.each([
    ['a failed query (non-zero code)', statusResult('R000001', 'Completed')],
    ['no TransactionStatus', statusResult(0)],
    ['an undocumented status', statusResult(0, 'Mysterious')],
  ])('when the status result has %s, then the payout is unknown', (_what, body) => {
    expect(mapStatusResult(body).kind).toBe('unknown');
  });

  it('when the status callback arrives, then it is matched by the payment\'s own key, not the query\'s', () => {
    expect(parseStatusCallback(Buffer.from(JSON.stringify({ Result: statusResult(0, 'Completed') })))).toEqual({
      dedupeKey: 'key-1:status:AG_2', idempotencyKey: 'key-1', outcome: 'paid', reasonCode: null, providerReference: 'SG632NMUAB',
    });
    expect(parseStatusCallback(Buffer.from(JSON.stringify({ Result: statusResult('0', 'Completed') })))).toMatchObject({ dedupeKey: 'key-1:status:AG_2', outcome: 'paid' });
    expect(parseStatusCallback(Buffer.from('{"Result":{"ResultCode":0}}'))).toBeNull();
  });

  it('when Daraja answers that the transaction does not exist, then the answer is kept, about the attempt the token names, and moves nothing', () => {
    const notFound = { Result: { ResultType: 0, ResultCode: 'R000001', ResultDesc: 'The transaction receipt number does not exist.', OriginatorConversationID: 'q-1', ConversationID: 'AG_9', TransactionID: '' } };
    expect(parseStatusCallback(Buffer.from(JSON.stringify(notFound)))).toEqual({
      dedupeKey: 'q-1:status:AG_9', idempotencyKey: null, outcome: 'ambiguous', reasonCode: 'mpesa:R000001', providerReference: null,
    });
    // Without the query's own key, or with a success code and no payment key, it is no Daraja answer.
    expect(parseStatusCallback(Buffer.from(JSON.stringify({ Result: { ...notFound.Result, OriginatorConversationID: undefined } })))).toBeNull();
    expect(parseStatusCallback(Buffer.from(JSON.stringify({ Result: { ...notFound.Result, ResultCode: 0 } })))).toBeNull();
  });

  it.each([
    [200, { ResponseCode: '0', ConversationID: 'AG_1' }, 'pending'],
    [500, { errorCode: '500.003.1001' }, 'unknown'],
    [401, { errorCode: '401.002.01' }, 'unknown'],
  ])('when the status query is answered HTTP %i %j, then it is %s (never an outcome of the payment)', (status, body, kind) => {
    expect(mapStatusQueryAck(status, body).kind).toBe(kind);
  });
});

describe('M-Pesa callback facts (what a result says about the money)', () => {
  /** Daraja's documented B2C result sample (developer.safaricom.co.ke), every result parameter. */
  const documentedB2C = {
    Result: {
      ResultType: 0, ResultCode: 0, ResultDesc: 'The service request is processed successfully.',
      OriginatorConversationID: '10571-7910404-1', ConversationID: 'AG_20191219_00004e48cf7e3533f581', TransactionID: 'NLJ41HAY6Q',
      ResultParameters: {
        ResultParameter: [
          { Key: 'TransactionAmount', Value: 10 },
          { Key: 'TransactionReceipt', Value: 'NLJ41HAY6Q' },
          { Key: 'B2CRecipientIsRegisteredCustomer', Value: 'Y' },
          { Key: 'B2CChargesPaidAccountAvailableFunds', Value: -4510.0 },
          { Key: 'ReceiverPartyPublicName', Value: '254708374149 - John Doe' },
          { Key: 'TransactionCompletedDateTime', Value: '19.12.2019 11:45:50' },
          { Key: 'B2CUtilityAccountAvailableFunds', Value: 10116.0 },
          { Key: 'B2CWorkingAccountAvailableFunds', Value: 900000.0 },
        ],
      },
      ReferenceData: { ReferenceItem: { Key: 'QueueTimeoutURL', Value: 'https://internalsandbox.safaricom.co.ke/mpesa/b2cresults/v1/submit' } },
    },
  };
  /** A B2C result whose parameters are `parameters` (raw: anything a hostile body could hold). */
  const b2cWith = (parameters: unknown) => ({ Result: { ...documentedB2C.Result, ResultParameters: parameters } });
  const b2cFacts = (body: unknown) => parseB2CCallback(Buffer.from(JSON.stringify(body)), 'result')?.facts;
  const amountIn = (value: unknown) => b2cFacts(b2cWith({ ResultParameter: [{ Key: 'TransactionAmount', Value: value }] }))?.amount ?? null;
  const receiverIn = (value: unknown) => b2cFacts(b2cWith({ ResultParameter: [{ Key: 'ReceiverPartyPublicName', Value: value }] }))?.receiver ?? null;

  it('when Daraja\'s documented B2C result arrives, then the facts are its amount and the receiver\'s number, no currency and no fee', () => {
    expect(parseB2CCallback(Buffer.from(JSON.stringify(documentedB2C)), 'result')).toEqual({
      dedupeKey: '10571-7910404-1:0', idempotencyKey: '10571-7910404-1', outcome: 'paid', reasonCode: null, providerReference: 'NLJ41HAY6Q',
      facts: { amount: '10', currency: null, receiver: '254708374149', fee: null },
    });
  });

  it.each([
    [10, '10'],
    ['10', '10'],
    [1500.5, '1500.5'],
    ['1500.00', '1500.00'],
    [0, '0'],
    [1e21, null],
    [1e-7, null],
    [-5, null],
    ['-5', null],
    ['1e3', null],
    [' 10', null],
    ['010', null],
    ['10.', null],
    ['', null],
    [[10], null],
    [{ value: 10 }, null],
    [true, null],
    [null, null],
    ['9'.repeat(41), null],
    ['9'.repeat(100_000), null],
  ])('when TransactionAmount is %p, then the amount reads %p', (value, amount) => {
    expect(amountIn(value)).toBe(amount);
  });

  it.each([
    ['254712345678 - JOHN DOE', '254712345678'],
    ['+254712345678 - JOHN DOE', '+254712345678'],
    ['254712345678-JOHN DOE', '254712345678'],
    ['254712345678 - MARY - ANNE', '254712345678'],
    ['254712345678', '254712345678'],
    ['2547****678 - JOHN DOE', null],
    ['254712***678', null],
    ['0712345678 - JOHN DOE', null],
    ['1234567 - TOO SHORT', null],
    ['1234567890123456 - TOO LONG', null],
    [' - JOHN DOE', null],
    ['JOHN DOE', null],
    ['', null],
    [254712345678, null],
    [['254712345678 - JOHN DOE'], null],
    [`254712345678 - ${'A'.repeat(100_000)}`, null],
  ])('when ReceiverPartyPublicName is %p, then the receiver reads %p', (value, receiver) => {
    expect(receiverIn(value)).toBe(receiver);
  });

  it('when the parameters are one object instead of a list, then its fact is read', () => {
    expect(b2cFacts(b2cWith({ ResultParameter: { Key: 'TransactionAmount', Value: '250' } }))).toEqual({ amount: '250', currency: null, receiver: null, fee: null });
  });

  it('when a parameter is given twice with different values, then it reads null (which one would be the fact?); twice the same, it reads', () => {
    expect(amountIn(10)).toBe('10');
    expect(b2cFacts(b2cWith({ ResultParameter: [{ Key: 'TransactionAmount', Value: 10 }, { Key: 'TransactionAmount', Value: 1000 }] }))).toBeUndefined();
    expect(b2cFacts(b2cWith({ ResultParameter: [{ Key: 'TransactionAmount', Value: 10 }, { Key: 'TransactionAmount', Value: 10 }] }))?.amount).toBe('10');
  });

  it.each([
    ['no ResultParameters (a failure, as Daraja sends it)', undefined],
    ['ResultParameters as a string', 'TransactionAmount=10'],
    ['ResultParameter null', { ResultParameter: null }],
    ['items that are not parameters', { ResultParameter: [null, 7, 'x', [], { Value: 10 }, { Key: 7, Value: 10 }] }],
    ['only parameters that say nothing of the money', { ResultParameter: [{ Key: 'B2CRecipientIsRegisteredCustomer', Value: 'Y' }] }],
  ])('when the result has %s, then it is still parsed, with no facts', (_what, parameters) => {
    const parsed = parseB2CCallback(Buffer.from(JSON.stringify(b2cWith(parameters))), 'result');
    expect(parsed).toMatchObject({ outcome: 'paid', idempotencyKey: '10571-7910404-1' });
    expect(parsed).not.toHaveProperty('facts');
  });

  it('when a failure result carries ResultCode as a string, then it fails like the number and reports no facts', () => {
    const body = { Result: { ...documentedB2C.Result, ResultCode: '2001', ResultParameters: undefined } };
    expect(parseB2CCallback(Buffer.from(JSON.stringify(body)), 'result')).toEqual({
      dedupeKey: '10571-7910404-1:2001', idempotencyKey: '10571-7910404-1', outcome: 'failed', reasonCode: 'credentials_invalid:mpesa:2001', providerReference: null,
    });
  });

  /** A status result of a payment, as Daraja's transaction status page documents it. */
  const documentedStatus = (parameters: readonly { Key: string; Value: unknown }[]) => ({
    Result: {
      ResultType: 0, ResultCode: '0', ResultDesc: 'The service request is processed successfully.', OriginatorConversationID: 'query-1', ConversationID: 'AG_3', TransactionID: 'NLJ41HAY6Q',
      ResultParameters: {
        ResultParameter: [
          { Key: 'DebitPartyName', Value: '600310 - Safaricom333' },
          { Key: 'OriginatorConversationID', Value: 'key-1' },
          { Key: 'InitiatedTime', Value: 20191219114550 },
          { Key: 'DebitAccountType', Value: 'Utility Account' },
          { Key: 'DebitPartyCharges', Value: '' },
          { Key: 'TransactionReason', Value: '' },
          { Key: 'ReasonType', Value: 'Business Payment to Customer via API' },
          { Key: 'TransactionStatus', Value: 'Completed' },
          { Key: 'FinalisedTime', Value: 20191219114550 },
          { Key: 'ReceiptNo', Value: 'NLJ41HAY6Q' },
          ...parameters,
        ],
      },
    },
  });
  const statusFacts = (parameters: readonly { Key: string; Value: unknown }[]) => parseStatusCallback(Buffer.from(JSON.stringify(documentedStatus(parameters))))?.facts;

  it('when a status result names the amount and the credit party, then those are its facts; the debit party (our shortcode) is not the receiver', () => {
    expect(statusFacts([{ Key: 'Amount', Value: 10 }, { Key: 'CreditPartyName', Value: '254708374149 - John Doe' }])).toEqual({ amount: '10', currency: null, receiver: '254708374149', fee: null });
    expect(statusFacts([{ Key: 'Amount', Value: '1500.00' }])).toEqual({ amount: '1500.00', currency: null, receiver: null, fee: null });
    expect(statusFacts([])).toBeUndefined();
  });

  it.each([
    ['an amount of 1e21', [{ Key: 'Amount', Value: 1e21 }]],
    ['a negative amount', [{ Key: 'Amount', Value: -10 }]],
    ['an amount in an array', [{ Key: 'Amount', Value: [10] }]],
    ['a huge amount string', [{ Key: 'Amount', Value: '1'.repeat(50_000) }]],
    ['a masked credit party', [{ Key: 'CreditPartyName', Value: '2547****149 - John Doe' }]],
    ['a national credit party', [{ Key: 'CreditPartyName', Value: '0708374149 - John Doe' }]],
    ['a credit party as an object', [{ Key: 'CreditPartyName', Value: { number: '254708374149' } }]],
  ])('when a status result has %s, then it is still parsed and that fact reads null', (_what, parameters) => {
    const parsed = parseStatusCallback(Buffer.from(JSON.stringify(documentedStatus(parameters))));
    expect(parsed).toMatchObject({ outcome: 'paid', idempotencyKey: 'key-1' });
    expect(parsed).not.toHaveProperty('facts');
  });
});

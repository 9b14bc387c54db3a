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
    expect(parseStatusCallback(Buffer.from('{"Result":{"ResultCode":0}}'))).toBeNull();
  });

  it.each([
    [200, { ResponseCode: '0', ConversationID: 'AG_1' }, 'pending'],
    [500, { errorCode: '500.003.1001' }, 'unknown'],
    [401, { errorCode: '401.002.01' }, 'unknown'],
  ])('when the status query is answered HTTP %i %j, then it is %s (never an outcome of the payment)', (status, body, kind) => {
    expect(mapStatusQueryAck(status, body).kind).toBe(kind);
  });
});

import { mapB2CResponse, parseB2CCallback, toB2CRequest } from '../../src/adapters/providers/mpesa/mapping.js';

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
    [200, { ResponseCode: '0', ConversationID: 'AG_1' }, { kind: 'accepted', conversationId: 'AG_1' }],
    [500, { errorCode: '500.002.1001', errorMessage: 'Duplicate OriginatorConversationID.' }, { kind: 'ambiguous', reason: 'HTTP 500 500.002.1001' }],
    [503, null, { kind: 'ambiguous', reason: 'HTTP 503' }],
    [400, { errorCode: '400.002.02' }, { kind: 'rejected', reasonCode: 'mpesa:400.002.02' }],
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

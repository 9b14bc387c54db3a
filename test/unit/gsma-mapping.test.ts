import {
  errorCodeTable,
  formatAmount,
  lookupErrorCode,
  mapCallback,
  mapCreateResponse,
  mapErrorAnswer,
  mapRequestState,
  mapResponsesLookup,
  mapTransaction,
  parseCallback,
  readErrorObject,
  toDisbursementRequest,
  transactionFacts,
  transactionStatusTable,
} from '../../src/adapters/providers/gsma/mapping.js';
import { failureReasons } from '../../src/domain/provider-outcome.js';
import { loadContract } from '../support/openapi.js';

const contract = loadContract('providers/gsma-mmapi-v1.2.openapi.yaml');
const documentedCodes = (((contract.document.components as Record<string, Record<string, Record<string, unknown>>>).schemas!.ErrorObject!.properties as Record<string, { enum: string[] }>).errorCode!.enum).filter((c) => /^[a-z]/.test(c));
const pascal = (code: string) => `${code[0]!.toUpperCase()}${code.slice(1)}`;

/** The reference's RequestState sample (provider-apis.md §3). */
const sampleRequestState = { serverCorrelationId: '878be43d-9fde-467b-a26b-889c80bf8830', objectReference: '12345', status: 'pending', notificationMethod: 'callback', pollLimit: 5 };
/** The reference's final Transaction sample, its elisions filled in. */
const sampleTransaction = {
  transactionReference: 'dd82cc6a-4d6a-4c7b-9c16-7e2f1b0b5a11',
  requestingOrganisationTransactionReference: 'payout-1',
  creditParty: [{ key: 'msisdn', value: '+44012345678' }],
  debitParty: [{ key: 'walletid', value: '1' }],
  type: 'disbursement',
  transactionStatus: 'completed',
  amount: '123.45',
  currency: 'GBP',
  transactionReceipt: 'f2d184b3-1c1e-4f7e-8d3f-1f5c0b6a7e21',
  creationDate: '2017-07-21T17:32:28Z',
  modificationDate: '2017-07-21T17:32:28Z',
  requestDate: '2017-07-21T17:32:28Z',
  fees: [{ feeType: 'transfer', feeAmount: '2', feeCurrency: 'GBP' }],
};
/** The reference's errorObject sample. */
const sampleError = { errorCategory: 'businessRule', errorCode: 'genericError', errorDescription: 'string', errorDateTime: '2017-07-21T17:32:28Z', errorParameters: [{ key: 'providedValue', value: '+33555789123' }] };

const request = { payoutId: 'payout-1', idempotencyKey: '0b7f2a9e-4c1d-5e8f-9a0b-1c2d3e4f5a6b', msisdn: '+254712345678', amountMinor: 125000n, currency: 'KES' as const, callbackUrl: 'https://t.example/v1/callbacks/gsma/tok' };
const settings = { debitParty: [{ key: 'walletid', value: '1' }] };

describe('GSMA request mapping', () => {
  it('when a payout is mapped, then the key is the X-CorrelationID, the callback is X-Callback-URL, the msisdn keeps its plus and the body is one the contract accepts', () => {
    const { headers, body } = toDisbursementRequest(request, settings, new Date('2026-01-02T03:04:05Z'));
    expect(headers).toEqual({ 'X-CorrelationID': request.idempotencyKey, 'X-Callback-URL': request.callbackUrl, 'Content-Type': 'application/json' });
    expect(body).toEqual({
      amount: '1250', currency: 'KES', creditParty: [{ key: 'msisdn', value: '+254712345678' }], debitParty: [{ key: 'walletid', value: '1' }],
      requestingOrganisationTransactionReference: 'payout-1', descriptionText: 'Tuma payout', requestDate: '2026-01-02T03:04:05.000Z',
    });
    expect(contract.requestProblems('post', '/transactions/type/disbursement', body)).toEqual([]);
    expect(JSON.stringify(body.descriptionText)).not.toContain('254');
  });

  it.each([
    [125000n, 2, '1250'],
    [125050n, 2, '1250.5'],
    [125055n, 2, '1250.55'],
    [5n, 2, '0.05'],
    [10n, 2, '0.1'],
    [200n, 0, '200'],
    [1234n, 3, '1.234'],
    [1230n, 3, '1.23'],
    [1000n, 3, '1'],
    [999999999999999999n, 0, '999999999999999999'],
  ])('when %p minor units of scale %i are formatted, then the GSMA amount is %s', (minor, scale, amount) => {
    expect(formatAmount(minor, scale)).toBe(amount);
    expect(contract.schemaProblems('Amount', amount)).toEqual([]);
  });

  it('when an amount is zero or negative, or the scale exceeds four decimals, then it is refused before anything is sent', () => {
    expect(() => formatAmount(0n, 2)).toThrow(/positive/);
    expect(() => formatAmount(-1n, 2)).toThrow(/positive/);
    expect(() => formatAmount(1n, 5)).toThrow(/decimals/);
  });

  it('when the idempotency key is not a UUID, then the request is not built', () => {
    expect(() => toDisbursementRequest({ ...request, idempotencyKey: 'not-a-uuid' }, settings)).toThrow(/UUID/);
  });

  it('when the currency has no minor unit (RWF), then the amount has no decimals', () => {
    expect(toDisbursementRequest({ ...request, currency: 'RWF', amountMinor: 200n }, settings).body.amount).toBe('200');
  });
});

describe('GSMA create answers', () => {
  it.each([
    ['the documented 202 request state', 202, sampleRequestState, { kind: 'pending', providerReference: '878be43d-9fde-467b-a26b-889c80bf8830' }],
    ['the documented final transaction (sync 201)', 201, sampleTransaction, { kind: 'paid', providerReference: 'dd82cc6a-4d6a-4c7b-9c16-7e2f1b0b5a11' }],
    ['a 202 already completed', 202, { ...sampleRequestState, status: 'completed' }, { kind: 'paid', providerReference: '12345' }],
    ['a 202 failed with insufficientFunds', 202, { ...sampleRequestState, status: 'failed', error: { errorCategory: 'businessRule', errorCode: 'insufficientFunds' } }, { kind: 'failed', reason: 'insufficient_float', providerCode: 'gsma:insufficientFunds' }],
    ['a 202 failed without an error object', 202, { ...sampleRequestState, status: 'failed' }, { kind: 'failed', reason: 'provider_failure', providerCode: 'gsma:requeststate:failed' }],
    ['the documented error object (400 businessRule genericError)', 400, sampleError, { kind: 'failed', reason: 'provider_failure', providerCode: 'gsma:genericError' }],
    ['400 duplicateRequest', 400, { errorCategory: 'businessRule', errorCode: 'duplicateRequest' }, { kind: 'unknown', providerCode: 'gsma:duplicateRequest', detail: 'exists: query' }],
    ['400 DuplicateRequest (PascalCase)', 400, { errorCategory: 'BusinessRule', errorCode: 'DuplicateRequest' }, { kind: 'unknown', providerCode: 'gsma:DuplicateRequest', detail: 'exists: query' }],
    ['500 internal genericError', 500, { errorCategory: 'internal', errorCode: 'genericError' }, { kind: 'unknown', providerCode: 'gsma:genericError', detail: 'HTTP 500' }],
    ['503 serviceUnavailable', 503, { errorCategory: 'serviceUnavailable', errorCode: 'genericError' }, { kind: 'unknown', providerCode: 'gsma:genericError', detail: 'HTTP 503' }],
    ['503 with no body', 503, null, { kind: 'unknown', providerCode: null, detail: 'HTTP 503' }],
    ['a 400 in the internal category', 400, { errorCategory: 'internal', errorCode: 'genericError' }, { kind: 'unknown', providerCode: 'gsma:genericError', detail: 'HTTP 400 internal' }],
    ['a 400 with an undocumented code', 400, { errorCategory: 'businessRule', errorCode: 'somethingNew' }, { kind: 'unknown', providerCode: 'gsma:somethingNew', detail: 'undocumented error code' }],
    ['a 404 from a proxy (no error object)', 404, '<html>', { kind: 'unknown', providerCode: null, detail: 'HTTP 404' }],
    ['a 202 that is unreadable', 202, { status: 'pending' }, { kind: 'unknown', providerCode: null, detail: 'unreadable request state' }],
    ['a 202 with an undocumented state', 202, { ...sampleRequestState, status: 'queued' }, { kind: 'unknown', providerCode: 'gsma:requeststate:queued', detail: 'undocumented request state' }],
    ['a 200 (not documented for create)', 200, sampleTransaction, { kind: 'unknown', providerCode: null, detail: 'HTTP 200' }],
  ])('when the provider answers %s, then the outcome is as expected', (_what, status, body, outcome) => {
    expect(mapCreateResponse(status, body)).toMatchObject(outcome);
  });

  it('when the documented samples are checked against the contract, then they are valid', () => {
    expect(contract.schemaProblems('RequestState', sampleRequestState)).toEqual([]);
    expect(contract.schemaProblems('Transaction', sampleTransaction)).toEqual([]);
    expect(contract.schemaProblems('ErrorObject', sampleError)).toEqual([]);
    // The portal's PascalCase is not the specification's: outside the contract, yet read the same.
    const pascal = { errorCategory: 'BusinessRule', errorCode: 'GenericError', errordescription: 'OAS spelling' };
    expect(contract.schemaProblems('ErrorObject', pascal)).not.toEqual([]);
    expect(mapErrorAnswer(400, pascal)).toEqual({ kind: 'failed', reason: 'provider_failure', providerCode: 'gsma:GenericError' });
  });

  it('when the error object uses the OAS spelling errordescription, then its description is read', () => {
    expect(readErrorObject({ errorCategory: 'validation', errorCode: 'formatError', errordescription: 'bad' })).toMatchObject({ code: 'formatError', description: 'bad' });
    expect(readErrorObject({ errorCategory: 'validation', errorCode: 'formatError', errorDescription: 'bad' })).toMatchObject({ description: 'bad' });
  });
});

describe('GSMA error codes, every one documented', () => {
  it('when the table is compared with the contract, then it covers exactly the documented codes', () => {
    expect(documentedCodes.length).toBeGreaterThanOrEqual(38);
    expect(Object.keys(errorCodeTable).sort()).toEqual(documentedCodes.map((c) => c.toLowerCase()).sort());
  });

  const cases = documentedCodes.flatMap((code) => [code, pascal(code)]);
  it.each(cases)('when a 4xx refusal carries code %s, then it maps by the table in any casing', (code) => {
    const verdict = lookupErrorCode(code);
    expect(verdict).toBeDefined();
    const outcome = mapErrorAnswer(400, { errorCategory: 'businessRule', errorCode: code });
    if (verdict === 'unknown') expect(outcome).toMatchObject({ kind: 'unknown', providerCode: `gsma:${code}` });
    else expect(outcome).toEqual({ kind: 'failed', reason: verdict, providerCode: `gsma:${code}` });
  });

  it.each([
    ['duplicateRequest', 'unknown'],
    ['rateLimitError', 'unknown'],
    ['insufficientFunds', 'insufficient_float'],
    ['identifierError', 'payee_not_found'],
    ['clientAuthorisationError', 'credentials_invalid'],
    ['requestDeclined', 'declined'],
    ['lessThanTransactionMinValue', 'amount_below_minimum'],
    ['greaterThanTransactionMaxValue', 'amount_above_maximum'],
    ['maxBalanceExceeded', 'payee_limit_exceeded'],
    ['currencyNotSupported', 'amount_invalid'],
  ])('when the code is %s, then the table says %s', (code, verdict) => {
    expect(lookupErrorCode(code)).toBe(verdict);
    expect(lookupErrorCode(code.toUpperCase())).toBe(verdict);
  });

  it('when every failure in the tables is read, then each is a failure reason the domain knows', () => {
    for (const mapped of Object.values(errorCodeTable)) if (mapped !== 'unknown') expect(failureReasons).toContain(mapped);
    for (const mapped of Object.values(transactionStatusTable)) if (mapped !== 'paid' && mapped !== 'pending' && mapped !== 'reversed') expect(failureReasons).toContain(mapped);
  });

  it('when a refusal code arrives on a 5xx or in a non-refusing category, then it stays unknown', () => {
    expect(mapErrorAnswer(500, { errorCategory: 'businessRule', errorCode: 'insufficientFunds' }).kind).toBe('unknown');
    expect(mapErrorAnswer(400, { errorCategory: 'serviceUnavailable', errorCode: 'insufficientFunds' }).kind).toBe('unknown');
    expect(mapErrorAnswer(400, { errorCode: 'insufficientFunds' }).kind).toBe('unknown');
  });
});

describe('GSMA status queries', () => {
  it.each([
    ['completed', 'paid'],
    ['COMPLETED', 'paid'],
    ['Success', 'paid'],
    ['successful', 'paid'],
    ['failed', 'failed'],
    ['Rejected', 'failed'],
    ['declined', 'failed'],
    ['pending', 'pending'],
    ['inProgress', 'pending'],
    ['InProgress', 'pending'],
    ['reversed', 'reversed'],
    ['somethingNew', 'unknown'],
  ])('when the transaction status is %s, then the outcome is %s', (transactionStatus, kind) => {
    expect(mapTransaction(200, { ...sampleTransaction, transactionStatus }).kind).toBe(kind);
  });

  it('when the transaction is paid, then its reference is the transaction reference; when it failed, the status is the code', () => {
    expect(mapTransaction(200, sampleTransaction)).toMatchObject({ kind: 'paid', providerReference: sampleTransaction.transactionReference });
    expect(mapTransaction(200, { ...sampleTransaction, transactionStatus: 'Declined' })).toEqual({ kind: 'failed', reason: 'declined', providerCode: 'gsma:status:declined' });
  });

  it.each([
    [404, sampleError],
    [500, null],
    [200, { transactionStatus: '' }],
  ])('when the transaction query answers HTTP %i, then the outcome is unknown', (status, body) => {
    expect(mapTransaction(status, body).kind).toBe('unknown');
  });

  it('when the request state is asked, then pending, completed and failed map, and 404 stays unknown', () => {
    expect(mapRequestState(200, sampleRequestState)).toEqual({ kind: 'pending', providerReference: sampleRequestState.serverCorrelationId });
    expect(mapRequestState(200, { ...sampleRequestState, status: 'Completed' })).toEqual({ kind: 'paid', providerReference: '12345' });
    expect(mapRequestState(200, { ...sampleRequestState, status: 'failed', errorReference: { errorCategory: 'Validation', errorCode: 'FormatError' } })).toEqual({ kind: 'failed', reason: 'request_invalid', providerCode: 'gsma:FormatError' });
    expect(mapRequestState(404, { errorCategory: 'identification', errorCode: 'identifierError' })).toMatchObject({ kind: 'unknown', detail: 'request state not found' });
    expect(mapRequestState(503, null).kind).toBe('unknown');
  });

  it.each([
    [200, { link: 'https://sandbox.mobilemoneyapi.io/simulator/v1.2/passthrough/mm/transactions/REF-1552982701423' }, { kind: 'link', transactionReference: 'REF-1552982701423' }],
    [200, { link: '/transactions/dd82cc6a-4d6a-4c7b-9c16-7e2f1b0b5a11/' }, { kind: 'link', transactionReference: 'dd82cc6a-4d6a-4c7b-9c16-7e2f1b0b5a11' }],
    [404, { errorCategory: 'identification', errorCode: 'identifierError' }, { kind: 'not-created' }],
    [404, null, { kind: 'not-created' }],
  ])('when /responses answers HTTP %i %j, then the lookup is %j', (status, body, lookup) => {
    expect(mapResponsesLookup(status, body)).toEqual(lookup);
  });

  it.each([
    [200, { link: 'https://x.example/quotes/1' }],
    [200, { link: 'https://x.example/transactions/%2E%2E%2Fetc' }],
    [200, {}],
    [500, null],
  ])('when /responses answers HTTP %i %j, then the lookup is unknown', (status, body) => {
    expect(mapResponsesLookup(status, body).kind).toBe('unknown');
  });
});

describe('GSMA callbacks', () => {
  const correlationId = request.idempotencyKey;

  it('when the final transaction is put, then it is paid with its reference, and a second delivery has the same dedupe key', () => {
    const first = mapCallback(sampleTransaction, correlationId);
    expect(first).toMatchObject({ outcome: { kind: 'paid', providerReference: sampleTransaction.transactionReference }, dedupeKey: `${correlationId}:${sampleTransaction.transactionReference}:completed` });
    expect(mapCallback(JSON.parse(JSON.stringify(sampleTransaction)), correlationId)?.dedupeKey).toBe(first?.dedupeKey);
  });

  it('when an error object is put, then the request failed with the mapped reason', () => {
    expect(mapCallback({ errorCategory: 'businessRule', errorCode: 'insufficientFunds' }, correlationId)).toEqual({
      outcome: { kind: 'failed', reason: 'insufficient_float', providerCode: 'gsma:insufficientFunds' },
      dedupeKey: `${correlationId}:error:insufficientfunds`,
    });
    expect(mapCallback({ errorCategory: 'businessRule', errorCode: 'genericError' }, correlationId)?.outcome).toEqual({ kind: 'failed', reason: 'provider_failure', providerCode: 'gsma:genericError' });
    expect(mapCallback({ errorCategory: 'businessRule', errorCode: 'duplicateRequest' }, correlationId)?.outcome).toMatchObject({ kind: 'unknown', detail: 'exists: query' });
  });

  it('when two error callbacks without a correlation id differ, then their dedupe keys differ', () => {
    const a = mapCallback({ errorCategory: 'businessRule', errorCode: 'insufficientFunds', errorDateTime: '2026-01-01T00:00:00Z' });
    const b = mapCallback({ errorCategory: 'businessRule', errorCode: 'insufficientFunds', errorDateTime: '2026-01-01T00:00:01Z' });
    expect(a?.dedupeKey).not.toBe(b?.dedupeKey);
  });

  it('when a stale pending update arrives, then it is stored as ambiguous and never as a final outcome', () => {
    const parsed = parseCallback(Buffer.from(JSON.stringify({ ...sampleTransaction, transactionStatus: 'pending' })), correlationId);
    expect(parsed).toMatchObject({ outcome: 'ambiguous', idempotencyKey: correlationId, providerReference: sampleTransaction.transactionReference });
  });

  it('when a callback is parsed, then the key is the echoed X-CorrelationID and the reason code carries the provider code', () => {
    expect(parseCallback(Buffer.from(JSON.stringify(sampleTransaction)), correlationId)).toEqual({
      dedupeKey: `${correlationId}:${sampleTransaction.transactionReference}:completed`, idempotencyKey: correlationId, outcome: 'paid', reasonCode: null, providerReference: sampleTransaction.transactionReference,
      facts: { amount: '123.45', currency: 'GBP', receiver: '+44012345678', fee: '2' },
    });
    expect(parseCallback(Buffer.from(JSON.stringify({ errorCategory: 'identification', errorCode: 'IdentifierError' })), correlationId)).toMatchObject({ outcome: 'failed', reasonCode: 'payee_not_found:gsma:IdentifierError' });
  });

  it.each(['not json', '[]', '{}', '"x"', '{"transactionStatus":"completed"}'])('when the callback body is %p, then it is not accepted', (raw) => {
    expect(parseCallback(Buffer.from(raw))).toBeNull();
  });
});

describe('GSMA callback facts (what a Transaction says about the money)', () => {
  const correlationId = request.idempotencyKey;
  const transaction = { ...sampleTransaction, amount: '1500.00', currency: 'KES', creditParty: [{ key: 'msisdn', value: '+254712345678' }], fees: undefined as unknown };
  const factsOf = (body: unknown) => parseCallback(Buffer.from(JSON.stringify(body)), correlationId)?.facts;
  const fee = (feeAmount: unknown, feeCurrency: unknown = 'KES', feeType = 'serviceFee') => ({ feeType, feeAmount, feeCurrency });

  it('when a completed transaction names its amount, currency and msisdn, then those are its facts; without fees the fee is null', () => {
    expect(factsOf(transaction)).toEqual({ amount: '1500.00', currency: 'KES', receiver: '+254712345678', fee: null });
    expect(transactionFacts(transaction)).toEqual(factsOf(transaction));
  });

  it.each([
    ['one fee', [fee('25')], '25'],
    ['two fees, added exactly', [fee('1.50'), fee('0.25')], '1.75'],
    ['fees a float would add wrong', [fee('0.1'), fee('0.2')], '0.3'],
    ['fees of different scales, at the larger scale', [fee('1'), fee('0.0001')], '1.0001'],
    ['two of the largest amounts', [fee('999999999999999999.9999'), fee('999999999999999999.9999')], '1999999999999999999.9998'],
    ['a fee as a JSON number', [fee(2.5)], '2.5'],
    ['a fee in another currency beside ours', [fee('1.00'), fee('3.00', 'USD')], '1.00'],
    ['only fees in another currency', [fee('3.00', 'USD')], null],
    ['no fee entries', [], null],
    ['fees that are not a list', { feeAmount: '1' }, null],
    ['a negative fee', [fee('-1.00')], null],
    ['a fee of 1e21', [fee(1e21)], null],
    ['a fee in an array', [fee(['1.00'])], null],
    ['a huge fee string', [fee('9'.repeat(100_000))], null],
    ['an entry that is not an object', [fee('1.00'), 'fee'], null],
    ['an entry with an unreadable currency', [fee('1.00'), fee('1.00', 'kes')], null],
    ['more entries than the bound', Array.from({ length: 21 }, () => fee('1')), null],
  ])('when the transaction has %s, then the fee reads %p', (_what, fees, expected) => {
    expect(factsOf({ ...transaction, fees })?.fee).toBe(expected);
  });

  it('when the currency is unreadable, then no fee can be said to be in it', () => {
    expect(factsOf({ ...transaction, currency: 'kes', fees: [fee('1.00', 'kes')] })).toEqual({ amount: '1500.00', currency: null, receiver: '+254712345678', fee: null });
  });

  it.each([
    [[{ key: 'msisdn', value: '254712345678' }], '254712345678'],
    [[{ key: 'MSISDN', value: '+254712345678' }], '+254712345678'],
    [[{ key: 'walletid', value: '1' }, { key: 'msisdn', value: '+254712345678' }], '+254712345678'],
    [[{ key: 'msisdn', value: '+254712345678' }, { key: 'msisdn', value: '+254712345678' }], '+254712345678'],
    [[{ key: 'msisdn', value: '+254712345678' }, { key: 'msisdn', value: '+254799999999' }], null],
    [[{ key: 'walletid', value: '254712345678' }], null],
    [[{ key: 'msisdn', value: '0712345678' }], null],
    [[{ key: 'msisdn', value: '+2547****678' }], null],
    [[{ key: 'msisdn', value: 254712345678 }], null],
    [[null, 'msisdn', 7], null],
    [Array.from({ length: 11 }, () => ({ key: 'msisdn', value: '+254712345678' })), null],
    [{ key: 'msisdn', value: '+254712345678' }, null],
  ])('when the creditParty is %j, then the receiver reads %p', (creditParty, receiver) => {
    expect(factsOf({ ...transaction, creditParty })?.receiver ?? null).toBe(receiver);
  });

  it.each([
    [1500, '1500'],
    ['1500.0000', '1500.0000'],
    [1e21, null],
    ['-1500', null],
    [[1500], null],
    ['1'.repeat(100_000), null],
  ])('when the amount is %p, then it reads %p', (amount, expected) => {
    expect(factsOf({ ...transaction, amount })?.amount).toBe(expected);
  });

  it('when an ErrorObject is put, then it reports no facts', () => {
    const parsed = parseCallback(Buffer.from(JSON.stringify({ ...sampleError, errordescription: 'x', amount: '1500.00', currency: 'KES' })), correlationId);
    expect(parsed).toMatchObject({ outcome: 'failed' });
    expect(parsed).not.toHaveProperty('facts');
  });

  it('when a transaction reports nothing about the money, then it is still parsed, with no facts', () => {
    const parsed = parseCallback(Buffer.from(JSON.stringify({ transactionStatus: 'completed', transactionReference: 'r-1', amount: {}, currency: null, creditParty: 'x', fees: 'x' })), correlationId);
    expect(parsed).toMatchObject({ outcome: 'paid', providerReference: 'r-1' });
    expect(parsed).not.toHaveProperty('facts');
  });
});

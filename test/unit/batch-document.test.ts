// The batch document against a programme's row policy: what is set aside, what sinks the batch.
import { randomUUID } from 'node:crypto';
import { parseBatchDocument, readBatchHeader, type RowPolicy } from '../../src/domain/batch-document.js';

const strict: RowPolicy = { providers: ['mpesa'], payoutMaxMinor: null, rowErrors: 'reject_batch' };
const lenient: RowPolicy = { ...strict, rowErrors: 'accept_valid_rows' };

const row = (ref: string, msisdn: string, amount: unknown) => ({ ref, provider: 'mpesa', msisdn, amount });
function doc(payouts: unknown[], total: string, overrides: Record<string, unknown> = {}) {
  return {
    batchId: randomUUID(), organisationId: 'org', programmeId: 'prog', currency: 'KES',
    createdAt: '2026-11-25T10:00:00Z', expiresAt: '2026-11-26T10:00:00Z',
    declared: { count: payouts.length, total }, payouts, ...overrides,
  };
}

describe('parseBatchDocument', () => {
  const mixed = () => doc([
    row('a', '+254712345678', '100.00'),
    row('b', '+254712000000', 'ten'),
    row('c', '+254722000111', '200.00'),
    { ref: 'd', provider: 'mpesa', msisdn: '+254733000222', amount: '50.00', colour: 'red' },
  ], '350.00');

  it('when every row is valid, then the document carries them all and nothing is set aside', () => {
    const parsed = parseBatchDocument(doc([row('a', '+254712345678', '100.00'), row('b', '+254722000111', '250.00')], '350.00'), strict);
    expect(parsed.ok && { total: parsed.value.document.totalMinor, rows: parsed.value.document.payouts.length, rejected: parsed.value.rejectedRows }).toEqual({ total: 350_00n, rows: 2, rejected: [] });
  });

  it('when some rows are invalid under reject_batch, then the batch is refused with every problem', () => {
    const parsed = parseBatchDocument(doc(mixed().payouts, '350.00'), strict);
    expect(parsed.ok).toBe(false);
    expect(!parsed.ok && parsed.error).toEqual(expect.arrayContaining([
      { row: 1, field: 'amount', code: 'AMOUNT_INVALID' },
      { row: 3, field: 'colour', code: 'FIELD_UNKNOWN' },
    ]));
  });

  it('when some rows are invalid under accept_valid_rows, then only the valid rows are kept, with their own total', () => {
    const d = mixed();
    const parsed = parseBatchDocument(d, lenient);
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect(parsed.value.document.payouts.map((p) => p.ref)).toEqual(['a', 'c']);
    expect(parsed.value.document.totalMinor).toBe(300_00n);
    expect(parsed.value.rejectedRows).toEqual(expect.arrayContaining([{ row: 1, field: 'amount', code: 'AMOUNT_INVALID' }, { row: 3, field: 'colour', code: 'FIELD_UNKNOWN' }]));
  });

  it('when every row is invalid under accept_valid_rows, then the batch is refused', () => {
    expect(parseBatchDocument(doc([row('a', '+1', '100.00')], '100.00'), lenient).ok).toBe(false);
  });

  it('when a document-level total is wrong, then even accept_valid_rows refuses the batch', () => {
    const parsed = parseBatchDocument(doc([row('a', '+254712345678', '100.00'), row('b', 'nope', '100.00')], '150.00'), lenient);
    expect(!parsed.ok && parsed.error).toEqual(expect.arrayContaining([{ row: null, field: 'declared.total', code: 'DECLARED_TOTAL_MISMATCH' }]));
  });

  it('when the same phone number is paid the same amount twice, then the second is flagged; another amount is not', () => {
    const parsed = parseBatchDocument(doc([
      row('a', '+254712345678', '100.00'), row('b', '+254712345678', '100.00'), row('c', '+254712345678', '150.00'),
    ], '350.00'), strict);
    expect(!parsed.ok && parsed.error).toEqual([{ row: 1, field: 'msisdn', code: 'BENEFICIARY_DUPLICATE' }]);
  });

  it('when an amount passes the programme maximum or the provider limits, then the row says which', () => {
    const parsed = parseBatchDocument(doc([
      row('a', '+254712345678', '5000.00'), row('b', '+254722000111', '9.00'), row('c', '+254733000222', '250001.00'),
    ], '255010.00'), { ...strict, payoutMaxMinor: 1_000_00n });
    expect(!parsed.ok && parsed.error).toEqual([
      { row: 0, field: 'amount', code: 'AMOUNT_ABOVE_MAXIMUM' },
      { row: 1, field: 'amount', code: 'AMOUNT_BELOW_MINIMUM' },
      { row: 2, field: 'amount', code: 'AMOUNT_ABOVE_MAXIMUM' },
    ]);
  });

  it('when a provider is not enabled for the programme, then its rows are refused', () => {
    const parsed = parseBatchDocument(doc([row('a', '+254712345678', '100.00')], '100.00'), { ...strict, providers: [] });
    expect(!parsed.ok && parsed.error).toEqual([{ row: 0, field: 'provider', code: 'PROVIDER_NOT_ENABLED' }]);
  });

  it('when the number is a Kenyan landline, then it is refused: mobile money pays mobile numbers', () => {
    const parsed = parseBatchDocument(doc([row('a', '+254202222222', '100.00')], '100.00'), strict);
    expect(!parsed.ok && parsed.error).toEqual([{ row: 0, field: 'msisdn', code: 'MSISDN_INVALID' }]);
  });
});

describe('readBatchHeader', () => {
  it('when only the header is read, then rows are not looked at', () => {
    const header = readBatchHeader(doc([{ nonsense: true }], 'x'));
    expect(header.ok && header.value.programmeId).toBe('prog');
  });

  it('when the dates are the wrong way round, then DATES_INVALID', () => {
    expect(readBatchHeader(doc([], '0', { expiresAt: '2026-11-24T10:00:00Z' }))).toEqual({ ok: false, error: [{ row: null, field: 'expiresAt', code: 'DATES_INVALID' }] });
  });
});

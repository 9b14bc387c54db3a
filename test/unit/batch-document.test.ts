// The batch document against a programme's row policy: what is set aside, what sinks the batch.
import { randomUUID } from 'node:crypto';
import { parseBatchDocument, payoutRowChecker, readBatchHeader, rowErrorSentence, rowProblemOf, type RowPolicy } from '../../src/domain/batch-document.js';
import { rowErrorCodes, type RowError, type RowErrorCode } from '../../src/domain/errors.js';

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

// The row rules the server's batch intake and `tuma batch build` share (issue #21 item 2).
describe('payoutRowChecker: the row rules shared by the server and the command line', () => {
  const checker = () => payoutRowChecker('KES', strict);

  it('when rows are checked one by one, then each is what parseBatchDocument says of it in the whole document', () => {
    const rows = [
      row('a', '+254712345678', '100.00'), row('b', '+256772123456', '100'), row('c', '+254712000000', '100.50'), { ...row('d', '+254722000111', '100'), provider: 'paypal' },
      row('a', '+254733000222', '200'), row('f', '+254712345678', '100'), { ref: 'g', provider: 'mpesa', amount: '10' }, { ...row('h', '+254733000333', '10'), nickname: 'x' },
    ];
    const c = checker();
    const oneByOne = rows.flatMap((r, i) => {
      const checked = c.check(r, i);
      return [...checked.structural, ...checked.semantic];
    });
    const whole = parseBatchDocument(doc(rows, '720.50'), strict);
    expect(!whole.ok && [...whole.error].sort(byRowField)).toEqual([...oneByOne].sort(byRowField));
    expect(oneByOne.map((e) => [e.row, e.field, e.code])).toEqual([
      [1, 'msisdn', 'MSISDN_COUNTRY'],
      [2, 'amount', 'AMOUNT_PROVIDER_SCALE'],
      [3, 'provider', 'PROVIDER_UNKNOWN'],
      [4, 'ref', 'REF_DUPLICATE'],
      [5, 'msisdn', 'BENEFICIARY_DUPLICATE'],
      [6, 'msisdn', 'FIELD_MISSING'],
      [7, 'nickname', 'FIELD_UNKNOWN'],
    ]);
  });

  it('when a row is valid, then it comes back normalised with its amount in minor units; an invalid one comes back null', () => {
    const c = checker();
    expect(c.check(row('a', '+254712345678', '1500'), 0)).toEqual({ payout: { row: 0, ref: 'a', provider: 'mpesa', msisdn: '+254712345678', amountMinor: 1500_00n, name: null, note: null, repays: null }, structural: [], semantic: [] });
    expect(c.check(row('b', '+254712345678', '1500.00'), 1).payout).toBeNull(); // the same number, the same amount
    expect(c.check(null, 2)).toEqual({ payout: null, structural: [{ row: 2, field: '(row)', code: 'FIELD_INVALID' }], semantic: [] });
  });

  it("when an empty ref breaks two of zod's checks, then it is one problem", () => {
    expect(checker().check(row('', '+254712345678', '100'), 0).structural).toEqual([{ row: 0, field: 'ref', code: 'FIELD_INVALID' }]);
  });

  it("when the programme's accounts are given, then a provider without one, a country none serves and an account's limits are refused", () => {
    const routes = new Map([['mpesa' as const, new Map([['KE', { minMinor: 50_00n, maxMinor: 1_000_00n }]])]]);
    const c = payoutRowChecker('KES', { ...strict, providers: ['mpesa', 'airtel'], routes });
    const codes = (r: unknown, i: number) => c.check(r, i).semantic.map((e) => e.code);
    expect(codes(row('a', '+254712345678', '20'), 0)).toEqual(['AMOUNT_BELOW_MINIMUM']);
    expect(codes(row('b', '+254712345679', '1001'), 1)).toEqual(['AMOUNT_ABOVE_MAXIMUM']);
    expect(codes({ ...row('c', '+254712345670', '100'), provider: 'airtel' }, 2)).toEqual(['PROVIDER_NOT_CONFIGURED']);
  });
});

describe('rowErrorSentence and rowProblemOf: how a row error is shown', () => {
  it('when a row error is shown, then its row counts from 1 and it carries a sentence; a document-level one has no row', () => {
    expect(rowProblemOf({ row: 0, field: 'amount', code: 'AMOUNT_PROVIDER_SCALE' })).toEqual({ row: 1, field: 'amount', code: 'AMOUNT_PROVIDER_SCALE', message: 'The provider pays whole units of this currency only.' });
    expect(rowProblemOf({ row: null, field: 'declared.total', code: 'DECLARED_TOTAL_MISMATCH' })).toEqual({ row: null, field: 'declared.total', code: 'DECLARED_TOTAL_MISMATCH', message: rowErrorCodes.DECLARED_TOTAL_MISMATCH });
  });

  it('when a field of a row is missing or malformed, then the sentence says what the field is; otherwise it is the catalogue message', () => {
    expect(rowErrorSentence({ row: 3, field: 'msisdn', code: 'FIELD_MISSING' })).toBe("The payout has no msisdn. An msisdn is the beneficiary's mobile number in international E.164 form with its +, like +254712345678.");
    expect(rowErrorSentence({ row: 3, field: 'ref', code: 'FIELD_INVALID' })).toBe('The ref has the wrong type or format. A ref is 1 to 64 printable ASCII characters without spaces.');
    expect(rowErrorSentence({ row: 3, field: 'iban', code: 'FIELD_UNKNOWN' })).toBe(rowErrorCodes.FIELD_UNKNOWN);
    expect(rowErrorSentence({ row: null, field: 'currency', code: 'FIELD_INVALID' })).toBe(rowErrorCodes.FIELD_INVALID);
    // Every row code has a sentence that ends as one, and none repeats a value of the row.
    for (const code of Object.keys(rowErrorCodes) as RowErrorCode[]) expect(rowErrorSentence({ row: 0, field: 'msisdn', code })).toMatch(/^[A-Za-z].*\.$/);
  });
});

const byRowField = (a: RowError, b: RowError) => (a.row ?? -1) - (b.row ?? -1) || a.field.localeCompare(b.field) || a.code.localeCompare(b.code);

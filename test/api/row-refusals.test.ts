// A table of invalid rows and documents: each submitted in a signed batch, each refused with its
// exact row (numbered from 1), field, code and sentence, and nothing stored. Row 1 is always
// valid; the bad row is row 2.
import request from 'supertest';
import { rowErrorSentence } from '../../src/domain/batch-document.js';
import { rowErrorCodes, type RowErrorCode } from '../../src/domain/errors.js';
import { bearer, postJson, startTestApi, type TestApi } from '../support/api.js';
import { batchDocument, kenyanPayout, setUpProgramme, sign, type Scenario } from '../support/fixtures.js';

let api: TestApi;
let s: Scenario;
let other: Scenario;
let maker: string;
const batchPayoutsMax = 50;
const bodyMaxBytes = 256 * 1024;

beforeAll(async () => {
  api = await startTestApi({ batchPayoutsMax, bodyMaxBytes });
  s = await setUpProgramme(api.persistence, 100_000_00n);
  other = await setUpProgramme(api.persistence, 0n);
  maker = await bearer(s.organisationId, 'programme_manager');
  const policy = await request(api.app).put(`/v1/programmes/${s.programmeId}/policy`).set('authorization', await bearer(s.organisationId, 'admin'))
    .send({ approvals: [{ fromTotal: '0', approvers: 0 }], providers: ['mpesa'], payoutMax: '100000.00', rowErrors: 'reject_batch' });
  expect(policy.status).toBe(200);
});
afterAll(async () => api?.close());

const good = { ref: 'ok-0', provider: 'mpesa', msisdn: '+254700000001', amount: '100.00', name: 'Wanjiru' };

async function refused(document: unknown, status: number, code: string) {
  const before = await api.footprint();
  const res = await postJson(api.app, '/v1/batches', maker, await sign(document, s.maker));
  expect({ status: res.status, code: res.body.error?.code }).toEqual({ status, code });
  expect(JSON.stringify(res.body)).not.toContain('254700000001'); // refusals never echo phone numbers
  expect(await api.footprint()).toEqual(before);
  return res.body.error;
}

type Row = Record<string, unknown>;
const withRow = (row: Row, total?: string) => {
  const rows = [good, row] as never[];
  const amount = row && typeof row.amount === 'string' && /^\d+\.\d\d$/.test(row.amount) ? row.amount : null;
  return batchDocument(s, rows, { total: total ?? (amount ? addKes('100.00', amount) : '100.00') });
};
function addKes(a: string, b: string): string {
  const cents = BigInt(a.replace('.', '')) + BigInt(b.replace('.', ''));
  return `${cents / 100n}.${String(cents % 100n).padStart(2, '0')}`;
}
const row = (overrides: Row, omit: string[] = []): Row => {
  const r: Row = { ref: 'bad-1', provider: 'mpesa', msisdn: '+254700000002', amount: '200.00', ...overrides };
  for (const k of omit) delete r[k];
  return r;
};

describe('one bad row next to a good one: every problem named by row, field and code', () => {
  it.each<[string, Row, string, string]>([
    ['no ref', row({}, ['ref']), 'ref', 'FIELD_MISSING'],
    ['no provider', row({}, ['provider']), 'provider', 'FIELD_MISSING'],
    ['no msisdn', row({}, ['msisdn']), 'msisdn', 'FIELD_MISSING'],
    ['an empty ref', row({ ref: '' }), 'ref', 'FIELD_INVALID'],
    ['a ref with a space', row({ ref: 'bad 1' }), 'ref', 'FIELD_INVALID'],
    ['a ref of 65 characters', row({ ref: 'r'.repeat(65) }), 'ref', 'FIELD_INVALID'],
    ['a ref that is a number', row({ ref: 7 }), 'ref', 'FIELD_INVALID'],
    ['an unknown member', row({ iban: 'KE00' }), 'iban', 'FIELD_UNKNOWN'],
    ['an amount as a JSON number', row({ amount: 200 }), 'amount', 'AMOUNT_NOT_STRING'],
    ['an amount of zero', row({ amount: '0' }), 'amount', 'AMOUNT_INVALID'],
    ['a negative amount', row({ amount: '-200.00' }), 'amount', 'AMOUNT_INVALID'],
    ['an amount in exponent form', row({ amount: '2e2' }), 'amount', 'AMOUNT_INVALID'],
    ['an amount with a leading zero', row({ amount: '0200.00' }), 'amount', 'AMOUNT_INVALID'],
    ['an amount with a bare dot', row({ amount: '.50' }), 'amount', 'AMOUNT_INVALID'],
    ['an amount ending in a dot', row({ amount: '200.' }), 'amount', 'AMOUNT_INVALID'],
    ['an amount with a thousands separator', row({ amount: '2,000.00' }), 'amount', 'AMOUNT_INVALID'],
    ['an amount with three decimals', row({ amount: '200.001' }), 'amount', 'AMOUNT_SCALE'],
    ['cents that M-Pesa cannot pay', row({ amount: '200.50' }), 'amount', 'AMOUNT_PROVIDER_SCALE'],
    ['an amount below the M-Pesa minimum', row({ amount: '9.00' }), 'amount', 'AMOUNT_BELOW_MINIMUM'],
    ["an amount above the programme's payoutMax", row({ amount: '100001.00' }), 'amount', 'AMOUNT_ABOVE_MAXIMUM'],
    ['an amount past the bigint range', row({ amount: '92233720368547758.08' }), 'amount', 'AMOUNT_RANGE'],
    ['a phone number without +', row({ msisdn: '254700000002' }), 'msisdn', 'MSISDN_INVALID'],
    ['a phone number with spaces', row({ msisdn: '+254 700 000 002' }), 'msisdn', 'MSISDN_INVALID'],
    ['a phone number too short', row({ msisdn: '+2547000' }), 'msisdn', 'MSISDN_INVALID'],
    ['a Kenyan landline', row({ msisdn: '+254202222222' }), 'msisdn', 'MSISDN_INVALID'],
    ['a Ugandan number for M-Pesa Kenya', row({ msisdn: '+256772123456' }), 'msisdn', 'MSISDN_COUNTRY'],
    ['an unknown provider', row({ provider: 'paypal' }), 'provider', 'PROVIDER_UNKNOWN'],
    ['the same ref as row 1', row({ ref: 'ok-0' }), 'ref', 'REF_DUPLICATE'],
    ['the same phone number and amount as row 1', row({ msisdn: '+254700000001', amount: '100.00' }), 'msisdn', 'BENEFICIARY_DUPLICATE'],
    ['a name of 201 characters', row({ name: 'n'.repeat(201) }), 'name', 'FIELD_INVALID'],
    ['a name that is a number', row({ name: 42 }), 'name', 'FIELD_INVALID'],
    ['an empty name', row({ name: '' }), 'name', 'FIELD_INVALID'],
    ['a note of 201 characters', row({ note: 'n'.repeat(201) }), 'note', 'FIELD_INVALID'],
    ['a row that is null', null as unknown as Row, '(row)', 'FIELD_INVALID'],
    ['deep nesting in a name', row({ name: JSON.parse('['.repeat(500) + ']'.repeat(500)) }), 'name', 'FIELD_INVALID'],
  ])('when the row has %s, then 422 BATCH_INVALID with {row: 2, field, code, message}', async (_name, bad, field, code) => {
    const error = await refused(withRow(bad), 422, 'BATCH_INVALID');
    // Rows are numbered from 1: the good first row is row 1 and is never named.
    expect(error.errors).toEqual(expect.arrayContaining([{ row: 2, field, code, message: rowErrorSentence({ row: 1, field, code: code as RowErrorCode }) }]));
    expect(error.errors.every((e: { row: number | null }) => e.row !== 1 && e.row !== 0)).toBe(true);
    for (const e of error.errors as { message: string }[]) expect(e.message).toMatch(/^[A-Za-z(].*\.$/);
  });

  it('when the same phone number comes with another amount, then it is accepted', async () => {
    const res = await postJson(api.app, '/v1/batches', maker, await sign(withRow(row({ msisdn: '+254700000001', amount: '150.00' })), s.maker));
    expect(res.status).toBe(201);
  });
});

describe('document-level refusals', () => {
  const now = Date.now();
  it.each<[string, () => unknown, number, string, { field: string; code: string } | null]>([
    ['declared.count wrong', () => batchDocument(s, [kenyanPayout('a')], { declared: { count: 2, total: '100.00' } }), 422, 'BATCH_INVALID', { field: 'declared.count', code: 'DECLARED_COUNT_MISMATCH' }],
    ['declared.total wrong', () => batchDocument(s, [kenyanPayout('a')], { total: '100.01' }), 422, 'BATCH_INVALID', { field: 'declared.total', code: 'DECLARED_TOTAL_MISMATCH' }],
    ['declared.total as a number', () => batchDocument(s, [kenyanPayout('a')], { total: 100 }), 422, 'BATCH_INVALID', { field: 'declared.total', code: 'AMOUNT_NOT_STRING' }],
    ['an unknown currency', () => batchDocument(s, [kenyanPayout('a')], { currency: 'XYZ' }), 422, 'BATCH_INVALID', { field: 'currency', code: 'CURRENCY_UNKNOWN' }],
    ['another currency than the programme', () => batchDocument(s, [{ ...kenyanPayout('a') }], { currency: 'UGX' }), 422, 'PROGRAMME_CURRENCY_MISMATCH', null],
    ['expiresAt before createdAt', () => batchDocument(s, [kenyanPayout('a')], { expiresAt: new Date(now - 60_000).toISOString() }), 422, 'BATCH_INVALID', { field: 'expiresAt', code: 'DATES_INVALID' }],
    ['createdAt ten minutes ahead', () => batchDocument(s, [kenyanPayout('a')], { createdAt: new Date(now + 600_000).toISOString() }), 422, 'BATCH_NOT_YET_VALID', null],
    ['a date without an offset', () => batchDocument(s, [kenyanPayout('a')], { createdAt: '2026-11-25T10:00:00' }), 422, 'BATCH_INVALID', { field: 'createdAt', code: 'FIELD_INVALID' }],
    ['no payouts', () => batchDocument(s, [], { total: '0.00' }), 422, 'BATCH_INVALID', { field: 'payouts', code: 'FIELD_INVALID' }],
    ['an extra top-level member', () => batchDocument(s, [kenyanPayout('a')], { approvedBy: 'me' }), 422, 'BATCH_INVALID', { field: 'approvedBy', code: 'FIELD_UNKNOWN' }],
    ['a batchId that is not a UUID', () => batchDocument(s, [kenyanPayout('a')], { batchId: 'batch-1' }), 422, 'BATCH_INVALID', { field: 'batchId', code: 'FIELD_INVALID' }],
    ["another organisation's programme", () => batchDocument({ organisationId: s.organisationId, programmeId: other.programmeId }, [kenyanPayout('a')]), 422, 'PROGRAMME_NOT_FOUND', null],
    ['a programme that does not exist', () => batchDocument({ organisationId: s.organisationId, programmeId: 'nope' }, [kenyanPayout('a')]), 422, 'PROGRAMME_NOT_FOUND', null],
    ['more payouts than allowed', () => batchDocument(s, Array.from({ length: batchPayoutsMax + 1 }, (_, i) => ({ ...kenyanPayout(`m-${i}`), msisdn: `+2547000${String(10000 + i)}` }))), 413, 'BATCH_TOO_LARGE', null],
  ])('when the document has %s, then it is refused with its code', async (_name, document, status, code, problem) => {
    const error = await refused(document(), status, code);
    if (problem) expect(error.errors).toEqual(expect.arrayContaining([{ row: null, ...problem, message: rowErrorCodes[problem.code as RowErrorCode] }]));
  });

  it('when the signed payload is not JSON, then 422 BATCH_INVALID', async () => {
    const { GeneralSign } = await import('jose');
    const jws = await new GeneralSign(new TextEncoder().encode('{"batchId": ')).addSignature(s.maker.privateKey).setProtectedHeader({ alg: 'ES256', kid: s.maker.kid }).sign();
    const before = await api.footprint();
    const res = await postJson(api.app, '/v1/batches', maker, jws);
    expect({ status: res.status, code: res.body.error?.code }).toEqual({ status: 422, code: 'BATCH_INVALID' });
    expect(await api.footprint()).toEqual(before);
  });

  it('when the body is larger than allowed (a 1 MB name), then 413 REQUEST_TOO_LARGE before any work', async () => {
    const before = await api.footprint();
    const res = await postJson(api.app, '/v1/batches', maker, await sign(batchDocument(s, [{ ...kenyanPayout('a'), name: 'n'.repeat(1024 * 1024) }]), s.maker));
    expect({ status: res.status, code: res.body.error?.code }).toEqual({ status: 413, code: 'REQUEST_TOO_LARGE' });
    expect(await api.footprint()).toEqual(before);
  });
});

describe('accept_valid_rows', () => {
  it('when the programme accepts valid rows, then the good rows are stored with their own total and the bad ones listed', async () => {
    const t = await setUpProgramme(api.persistence, 100_000_00n);
    const put = await request(api.app).put(`/v1/programmes/${t.programmeId}/policy`).set('authorization', await bearer(t.organisationId, 'admin'))
      .send({ approvals: [{ fromTotal: '0', approvers: 0 }], providers: ['mpesa'], payoutMax: null, rowErrors: 'accept_valid_rows' });
    expect(put.status).toBe(200);
    const rows = [
      { ref: 'v-0', provider: 'mpesa', msisdn: '+254700000010', amount: '100.00' },
      { ref: 'v-1', provider: 'mpesa', msisdn: '+256772123456', amount: '200.00' },
      { ref: 'v-2', provider: 'mpesa', msisdn: '+254700000012', amount: '300.00' },
      { ref: 'v-3', provider: 'mpesa', msisdn: '+254700000013', amount: '400.50' },
      { ref: 'v-4', provider: 'mpesa', msisdn: '+254700000014', amount: '500.00' },
    ];
    const res = await postJson(api.app, '/v1/batches', await bearer(t.organisationId, 'programme_manager'), await sign(batchDocument(t, rows), t.maker));
    expect(res.status).toBe(201);
    // Rows numbered from 1, in the rows left out as in the payouts stored: v-1 is row 2, v-3 row 4.
    expect(res.body).toMatchObject({ state: 'approved', payoutCount: 3, total: '900.00', replayed: false, rejectedRows: [
      { row: 2, field: 'msisdn', code: 'MSISDN_COUNTRY', message: rowErrorCodes.MSISDN_COUNTRY },
      { row: 4, field: 'amount', code: 'AMOUNT_PROVIDER_SCALE', message: rowErrorCodes.AMOUNT_PROVIDER_SCALE },
    ] });
    const payouts = await request(api.app).get(`/v1/batches/${res.body.batchId}/payouts`).set('authorization', await bearer(t.organisationId, 'auditor'));
    expect(payouts.body.items.map((p: { ref: string; row: number }) => [p.ref, p.row])).toEqual([['v-0', 1], ['v-2', 3], ['v-4', 5]]);
    const read = await request(api.app).get(`/v1/batches/${res.body.batchId}`).set('authorization', await bearer(t.organisationId, 'auditor'));
    expect(read.body.rejectedRows).toEqual(res.body.rejectedRows);
  });
});

// Re-pay as a reconciliation decision (issue #14 item 6): the provider reversed a payout the ledger
// counted as paid. Finance decides `repay` (maker–checker above the threshold): the payout is
// reversed in the ledger, the money back with the programme, and a re-pay request is opened for the
// programme's next signed batch — finance never creates a payout. Real PostgreSQL.
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { verifyLedger } from '../../src/application/ledger-chain.js';
import { bearer, postJson, startTestApi, type TestApi } from '../support/api.js';
import { batchDocument, kenyanPayout, setUpProgramme, sign, type PayoutLine, type Scenario } from '../support/fixtures.js';
import { insertPayouts } from '../support/reconciliation-ledger.js';

const may = 'from=2026-04-30T21:00:00Z&to=2026-05-31T21:00:00Z';
const statement = [
  'Account Holder:,UNHCR KENYA CASH PROGRAMME',
  'Short Code:,600000',
  'Account:,Utility Account',
  'Time Period:,From 01-05-2026 00:00:00 To 31-05-2026 23:59:59',
  'Operator:,finance.ke,Date of Report:,01-06-2026 08:00:00',
  'Opening Balance:,"5,000,000.00",Closing Balance:,"4,999,880.00"',
  'Receipt No.,Completion Time,Initiation Time,Details,Transaction Status,Paid In,Withdrawn,Balance,Balance Confirmed,Reason Type,Other Party Info,Linked Transaction ID,A/C No.',
  'RCP0101,02-05-2026 09:15:02,02-05-2026 09:15:02,Business Payment to 2547****678 - AMINA T,Completed,,-100.00,"4,999,900.00","4,999,900.00",Business Payment to Customer via API,2547****678 - AMINA T,,',
  'RCP0102,02-05-2026 09:16:40,02-05-2026 09:16:40,Business Payment to 2547****111 - JOHN K,Completed,,-120.00,"4,999,780.00","4,999,780.00",Business Payment to Customer via API,2547****111 - JOHN K,,',
  'RCPR101,08-05-2026 14:20:00,08-05-2026 14:20:00,Reversal of RCP0101,Completed,100.00,,"4,999,880.00","4,999,880.00",Business Payment to Customer via API Reversal,2547****678 - AMINA T,RCP0101,',
].map((l) => `${l}\r\n`).join('');

let api: TestApi;
let s: Scenario;
let other: Scenario;
let ids: Map<string, string>;
let statementId: string;

beforeAll(async () => {
  api = await startTestApi({ statementAccounts: { 'mpesa-ke': { currency: 'KES', programmes: '*' } }, reconciliationApprovalAbove: { KES: 50_00n } });
  s = await setUpProgramme(api.persistence, 1_000_00n);
  other = await setUpProgramme(api.persistence, 1_000_00n);
  ids = await insertPayouts(api.database.pool, s, [
    { receipt: 'RCP0101', amountMinor: 10000n, state: 'paid', accountId: 'mpesa-ke' },
    { receipt: 'RCP0102', amountMinor: 10000n, state: 'paid', accountId: 'mpesa-ke' },
  ]);
  // The reversed payout paid +254712345678 (its blind index, as a batch would have stored it).
  await api.database.pool.query('UPDATE payouts SET msisdn_hash = $2 WHERE id = $1', [ids.get('RCP0101'), await api.vault.blindIndex(s.programmeId, '+254712345678')]);
  const res = await request(api.app).post(`/v1/reconciliations?account=mpesa-ke&${may}`).set('authorization', await bearer(s.organisationId, 'finance'))
    .set('content-type', 'text/csv').send(Buffer.from(statement));
  expect(res.status).toBe(201);
  statementId = res.body.statementId;
});
afterAll(async () => api?.close());

const decide = async (itemId: string, body: unknown, subject: string) =>
  request(api.app).post(`/v1/reconciliations/${statementId}/items/${itemId}/decisions`).set('authorization', await bearer(s.organisationId, 'finance', subject)).send(body as object);
const check = async (decisionId: string, body: unknown, subject: string) =>
  request(api.app).post(`/v1/reconciliations/decisions/${decisionId}/approval`).set('authorization', await bearer(s.organisationId, 'finance', subject)).send(body as object);
const requests = async (query = '', who: Scenario = s, programmeId = s.programmeId, role = 'programme_manager') =>
  request(api.app).get(`/v1/programmes/${programmeId}/repay-requests${query}`).set('authorization', await bearer(who.organisationId, role));

async function available(): Promise<bigint> {
  const { rows } = await api.database.pool.query<{ c: string; d: string }>('SELECT credits_posted::text AS c, debits_posted::text AS d FROM accounts WHERE key = $1', [`programme:${s.programmeId}:available`]);
  return BigInt(rows[0]!.c) - BigInt(rows[0]!.d);
}
const stateOf = async (payoutId: string) => (await api.database.pool.query<{ state: string }>('SELECT state FROM payouts WHERE id = $1', [payoutId])).rows[0]!.state;
const requestCount = async () => (await api.database.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM repay_requests')).rows[0]!.n;

describe('re-paying a payout the provider reversed', () => {
  it('when finance decides repay on a late reversal, then after a second finance user approves the payout is reversed, the money is back with the programme and one re-pay request is open', async () => {
    const items = await request(api.app).get(`/v1/reconciliations/${statementId}/items?class=late_reversal`).set('authorization', await bearer(s.organisationId, 'finance'));
    expect(items.body.items.map((i: { itemId: string }) => i.itemId)).toEqual(['line-10']);
    const before = await available();

    const made = await decide('line-10', { action: 'repay', comment: 'Safaricom reversed RCP0101 (wrong number); pay again' }, 'finance-maker');
    expect(made.status).toBe(201);
    expect(made.body).toMatchObject({ action: 'repay', amount: '100.00', state: 'awaiting_approval' });
    // Nothing moves before the second hand.
    expect([await stateOf(ids.get('RCP0101')!), await requestCount(), await available()]).toEqual(['paid', 0, before]);
    const byMaker = await check(made.body.decisionId, { approve: true, comment: 'mine' }, 'finance-maker');
    expect({ status: byMaker.status, code: byMaker.body.error?.code }).toEqual({ status: 403, code: 'RECONCILIATION_CHECKER_IS_MAKER' });

    const approved = await check(made.body.decisionId, { approve: true, comment: 'the reversal is on the statement' }, 'finance-checker');
    expect(approved.body).toMatchObject({ state: 'applied', checkedBy: 'finance-checker' });
    expect(await stateOf(ids.get('RCP0101')!)).toBe('reversed');
    expect((await available()) - before).toBe(100_00n);
    // Decided, the exception is closed: it puts nothing at risk any more.
    const summary = await request(api.app).get(`/v1/reconciliations/${statementId}`).set('authorization', await bearer(s.organisationId, 'finance'));
    expect(summary.body.classReport.find((c: { class: string }) => c.class === 'late_reversal')).toMatchObject({ count: 1, open: 0, atRisk: '0.00' });

    const open = await requests();
    expect(open.status).toBe(200);
    expect(open.body).toEqual({
      items: [{
        requestId: expect.any(String), payoutId: ids.get('RCP0101'), decisionId: made.body.decisionId, amount: '100.00', currency: 'KES',
        state: 'open', requestedAt: expect.any(String), fulfilledByPayoutId: null, fulfilledAt: null, releasedPayoutIds: [],
      }],
      next: null,
    });
    // No beneficiary data in the answer.
    expect(JSON.stringify(open.body)).not.toMatch(/AMINA|2547/);
    expect((await requests('?state=fulfilled')).body).toEqual({ items: [], next: null });
    expect((await requests('?state=all', s, s.programmeId, 'finance')).body.items).toHaveLength(1);
    expect((await verifyLedger(api.persistence)).ok).toBe(true);
  });

  it('when the same exception is decided again, then it is a conflict and no second request is opened', async () => {
    const again = await decide('line-10', { action: 'repay', comment: 'again' }, 'finance-maker');
    expect({ status: again.status, code: again.body.error?.code }).toEqual({ status: 409, code: 'RECONCILIATION_ALREADY_DECIDED' });
    expect(await requestCount()).toBe(1);
  });

  it('when repay names an exception that is not a late reversal, then it is refused and nothing changes', async () => {
    // Line 9 paid 120.00 against 100.00: an amount difference, not a reversal.
    const res = await decide('line-9', { action: 'repay', comment: 'x' }, 'finance-maker');
    expect({ status: res.status, code: res.body.error?.code }).toEqual({ status: 422, code: 'RECONCILIATION_DECISION_INVALID' });
    expect([await stateOf(ids.get('RCP0102')!), await requestCount()]).toEqual(['paid', 1]);
  });

  it.each([
    ['a state that is not one', '?state=closed'],
    ['two states', '?state=open&state=all'],
    ['an after that is no request id', `?after=${'x'.repeat(40)}`],
    ['a limit of 0', '?limit=0'],
    ['a limit above the maximum', '?limit=1001'],
    ['a limit that is not a number', '?limit=1e3'],
  ])('when the list is asked with %s, then 400 QUERY_INVALID', async (_what, query) => {
    const res = await requests(query);
    expect({ status: res.status, code: res.body.error?.code }).toEqual({ status: 400, code: 'QUERY_INVALID' });
  });

  it('when another organisation or an unknown programme is named, then 404 as for any id that is not the caller\'s', async () => {
    const foreign = await requests('', other, s.programmeId);
    expect({ status: foreign.status, code: foreign.body.error?.code }).toEqual({ status: 404, code: 'NOT_FOUND' });
    const unknown = await requests('', s, `p-${randomUUID().slice(0, 8)}`);
    expect({ status: unknown.status, code: unknown.body.error?.code }).toEqual({ status: 404, code: 'NOT_FOUND' });
  });

  it('when a page is full, then next names the last request and the next page starts after it', async () => {
    const first = await requests('?state=all&limit=1');
    expect(first.body.items).toHaveLength(1);
    expect(first.body.next).toBe(first.body.items[0].requestId);
    expect((await requests(`?state=all&after=${first.body.next}`)).body).toEqual({ items: [], next: null });
  });
});

describe('a signed batch paying a reversed payout again', () => {
  const submit = async (rows: (PayoutLine & { repays?: string })[]) => {
    const doc = batchDocument(s, rows);
    return postJson(api.app, '/v1/batches', await bearer(s.organisationId, 'programme_manager'), await sign(doc, s.maker));
  };
  const refusedWith = (res: request.Response) => ({ status: res.status, code: res.body.error?.code, errors: res.body.error?.errors?.map((e: { row: number; field: string; code: string }) => [e.row, e.field, e.code]) });
  const batches = async () => (await api.database.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM batches WHERE programme_id = $1', [s.programmeId])).rows[0]!.n;
  let reversed: string;
  beforeAll(() => { reversed = ids.get('RCP0101')!; });

  it.each([
    ['another amount', [{ ...kenyanPayout('again-1', '90.00'), repays: 'x' }], [[1, 'repays', 'REPAY_REQUEST_INVALID']]],
    ['another number', [{ ...kenyanPayout('again-1', '100.00'), msisdn: '+254722000111', repays: 'x' }], [[1, 'repays', 'REPAY_REQUEST_INVALID']]],
    ['a payout with no re-pay request', [{ ...kenyanPayout('again-1', '100.00'), repays: 'other' }], [[1, 'repays', 'REPAY_REQUEST_INVALID']]],
    ['the same payout on two rows', [{ ...kenyanPayout('again-1', '100.00'), repays: 'x' }, { ...kenyanPayout('again-2', '50.00'), repays: 'x' }], [[2, 'repays', 'REPAY_DUPLICATE']]],
    ['an id in upper case', [{ ...kenyanPayout('again-1', '100.00'), repays: 'upper' }], [[1, 'repays', 'FIELD_INVALID']]],
  ])('when a row names it with %s, then the batch is refused with the row named and nothing is stored', async (_what, rows, errors) => {
    const before = await batches();
    const named = rows.map((r) => ({ ...r, repays: r.repays === 'x' ? reversed : r.repays === 'other' ? ids.get('RCP0102')! : reversed.toUpperCase() }));
    const res = await submit(named);
    expect(refusedWith(res)).toEqual({ status: 422, code: 'BATCH_INVALID', errors });
    expect(await batches()).toBe(before);
    expect((await requests()).body.items.map((r: { state: string }) => r.state)).toEqual(['open']);
  });

  it('when a row pays the same number the same amount and names it, then the request is fulfilled by that row\'s payout, once', async () => {
    const res = await submit([{ ...kenyanPayout('again-1', '100.00'), repays: reversed }]);
    expect(res.status).toBe(201);
    const { rows } = await api.database.pool.query<{ id: string }>('SELECT id FROM payouts WHERE batch_id = $1', [res.body.batchId]);
    const fulfilled = (await requests('?state=all')).body.items;
    expect(fulfilled).toEqual([expect.objectContaining({ payoutId: reversed, state: 'fulfilled', fulfilledByPayoutId: rows[0]!.id, fulfilledAt: expect.any(String) })]);
    expect((await requests()).body).toEqual({ items: [], next: null });

    // A second batch naming it: refused, the first one's payout stays the one that fulfilled it.
    const again = await submit([{ ...kenyanPayout('again-2', '100.00'), repays: reversed }]);
    expect(refusedWith(again)).toEqual({ status: 422, code: 'BATCH_INVALID', errors: [[1, 'repays', 'REPAY_REQUEST_INVALID']] });
    expect((await requests('?state=all')).body.items[0].fulfilledByPayoutId).toBe(rows[0]!.id);
    // The trigger keeps a fulfilled request as it is.
    await expect(api.database.pool.query("UPDATE repay_requests SET state = 'open', fulfilled_by_payout_id = NULL, fulfilled_at = NULL")).rejects.toThrow(/only an open request is fulfilled/);
    await expect(api.database.pool.query('DELETE FROM repay_requests')).rejects.toThrow(/only an open request is fulfilled/);
  });

  it('when the re-payment then fails for good, then the request is open again, naming the payout that failed, and the next batch pays it', async () => {
    const first = (await requests('?state=all')).body.items[0].fulfilledByPayoutId as string;
    // The provider reported figures that differ (the settler holds it); finance decides it was not paid.
    await api.database.pool.query("UPDATE payouts SET state = 'held', provider_reference = 'QKF1' WHERE id = $1", [first]);
    const decided = await request(api.app).post(`/v1/payouts/${first}/decision`).set('authorization', await bearer(s.organisationId, 'finance'))
      .set('content-type', 'application/json').send(JSON.stringify({ outcome: 'failed', note: 'not on the provider statement' }));
    expect(decided.status).toBe(200);
    expect(await stateOf(first)).toBe('failed');
    expect((await requests()).body.items).toEqual([expect.objectContaining({ payoutId: reversed, state: 'open', fulfilledByPayoutId: null, fulfilledAt: null, releasedPayoutIds: [first] })]);

    // The next batch pays it; that payout paid, the request stays fulfilled by it.
    const res = await submit([{ ...kenyanPayout('again-3', '100.00'), repays: reversed }]);
    expect(res.status).toBe(201);
    const second = (await api.database.pool.query<{ id: string }>('SELECT id FROM payouts WHERE batch_id = $1', [res.body.batchId])).rows[0]!.id;
    expect((await requests('?state=all')).body.items).toEqual([expect.objectContaining({ state: 'fulfilled', fulfilledByPayoutId: second, releasedPayoutIds: [first] })]);
    // Neither a payout that is not the fulfilling one failing, nor a reversal of the fulfilling one, releases it:
    // a reversal is reconciliation's to see (a late reversal), decided there.
    await api.database.pool.query("UPDATE payouts SET state = 'paid' WHERE id = $1", [second]);
    await api.database.pool.query("UPDATE payouts SET state = 'reversed' WHERE id = $1", [second]);
    expect((await requests('?state=all')).body.items).toEqual([expect.objectContaining({ state: 'fulfilled', fulfilledByPayoutId: second, releasedPayoutIds: [first] })]);
    // By hand, the release is refused unless the fulfilling payout failed or was cancelled, and its history cannot be rewritten.
    await expect(api.database.pool.query("UPDATE repay_requests SET state = 'open', fulfilled_by_payout_id = NULL, fulfilled_at = NULL"))
      .rejects.toThrow(/only a failed or cancelled payout's is released/);
    await expect(api.database.pool.query("UPDATE repay_requests SET released_payout_ids = '{}'")).rejects.toThrow(/only an open request is fulfilled/);
  });
});

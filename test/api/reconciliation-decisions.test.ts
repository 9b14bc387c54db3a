// Finance resolves a reconciliation's exceptions on the record (issue #14 item 6): one decision
// per exception, each action allowed for some classes only, balanced transfers whose ids derive
// from the exception, maker–checker above RECONCILIATION_APPROVAL_ABOVE, the payout's own reversal
// for a late reversal, a status query for what the provider must answer, every step in the audit
// log, and the ledger still verified. Real PostgreSQL; the M-Pesa portal fixture.
import { readFileSync } from 'node:fs';
import request from 'supertest';
import { verifyLedger } from '../../src/application/ledger-chain.js';
import { verifyAuditLog } from '../../src/application/audit.js';
import { bearer, startTestApi, type TestApi } from '../support/api.js';
import { setUpProgramme, type Scenario } from '../support/fixtures.js';
import { insertPayouts } from '../support/reconciliation-ledger.js';

const fixture = readFileSync(new URL('../fixtures/statements/mpesa-org-portal-every-class.csv', import.meta.url), 'utf8');
const may = 'from=2026-04-30T21:00:00Z&to=2026-05-31T21:00:00Z';

let api: TestApi;
let s: Scenario;
let ids: Map<string, string>;
let statementId: string;

beforeAll(async () => {
  api = await startTestApi({ statementAccounts: { 'mpesa-ke': { currency: 'KES', programmes: '*' }, 'mpesa-broken': { currency: 'KES', programmes: '*' } }, reconciliationApprovalAbove: { KES: 50_00n } });
  s = await setUpProgramme(api.persistence, 1_000_00n);
  ids = await insertPayouts(api.database.pool, s, [
    { receipt: 'RCP0001', amountMinor: 10000n, state: 'paid', accountId: 'mpesa-ke' },
    { receipt: 'RCP0002', amountMinor: 25000n, state: 'paid', accountId: 'mpesa-ke' },
    { receipt: 'RCP0003', amountMinor: 10000n, state: 'paid', accountId: 'mpesa-ke' },
    { receipt: 'RCP0004', amountMinor: 30000n, state: 'paid', accountId: 'mpesa-ke' },
    { receipt: 'RCP0005', amountMinor: 5000n, state: 'failed', accountId: 'mpesa-ke' },
    { receipt: 'RCP0006', amountMinor: 7500n, state: 'paid', accountId: 'mpesa-ke' },
    { receipt: 'RCP0007', amountMinor: 8000n, state: 'paid', accountId: 'mpesa-ke', paidAt: new Date('2026-05-10T09:00:00Z') },
    { receipt: 'RCP0010', amountMinor: 3000n, state: 'failed', accountId: 'mpesa-ke' },
  ]);
  const res = await request(api.app).post(`/v1/reconciliations?account=mpesa-ke&${may}`).set('authorization', await bearer(s.organisationId, 'finance'))
    .set('content-type', 'text/csv').send(Buffer.from(fixture));
  expect(res.status).toBe(201);
  statementId = res.body.statementId;
});
afterAll(async () => api?.close());

const decide = async (itemId: string, body: unknown, role = 'finance', subject?: string) =>
  request(api.app).post(`/v1/reconciliations/${statementId}/items/${itemId}/decisions`).set('authorization', await bearer(s.organisationId, role, subject)).send(body as object);
const check = async (decisionId: string, body: unknown, subject: string) =>
  request(api.app).post(`/v1/reconciliations/decisions/${decisionId}/approval`).set('authorization', await bearer(s.organisationId, 'finance', subject)).send(body as object);

/** An account's posted totals by key, in minor units. */
async function account(key: string): Promise<{ debits: bigint; credits: bigint } | null> {
  const { rows } = await api.database.pool.query<{ d: string; c: string }>('SELECT debits_posted::text AS d, credits_posted::text AS c FROM accounts WHERE key = $1', [key]);
  return rows[0] ? { debits: BigInt(rows[0].d), credits: BigInt(rows[0].c) } : null;
}

async function item(itemId: string) {
  const res = await request(api.app).get(`/v1/reconciliations/${statementId}/items?class=all&limit=1000`).set('authorization', await bearer(s.organisationId, 'finance'));
  return (res.body.items as { itemId: string; open: boolean; atRisk: string; decision: unknown }[]).find((i) => i.itemId === itemId);
}

/** What a class puts at risk, as the reconciliation's summary says. */
async function classAtRisk(cls: string): Promise<string | undefined> {
  const res = await request(api.app).get(`/v1/reconciliations/${statementId}`).set('authorization', await bearer(s.organisationId, 'finance'));
  return (res.body.classReport as { class: string; atRisk: string }[]).find((c) => c.class === cls)?.atRisk;
}

describe('deciding exceptions', () => {
  it('when finance claims an over-payment under the threshold, then it is applied at once: the float is credited and a claim on the provider debited, once', async () => {
    const floatBefore = await account(`provider:mpesa:${s.organisationId}:float`);
    const res = await decide('line-11', { action: 'claim', comment: 'RCP0003 paid 120.00 against 100.00; claim 20.00 back' });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ itemId: 'line-11', action: 'claim', amount: '20.00', state: 'applied', decidedBy: 'finance-person', checkedBy: null });
    expect(await account(`provider:mpesa:${s.organisationId}:claims`)).toEqual({ debits: 20_00n, credits: 0n });
    const floatAfter = await account(`provider:mpesa:${s.organisationId}:float`);
    expect(floatAfter!.credits - floatBefore!.credits).toBe(20_00n);
    // Decided and applied: it puts nothing at risk any more, on its row as in its class's figure.
    expect(await item('line-11')).toMatchObject({ open: false, atRisk: '0.00', decision: { action: 'claim', state: 'applied' } });
    expect(await classAtRisk('amount_over')).toBe('0.00');
    // A second decision for the same exception: refused, and nothing posted again.
    const again = await decide('line-11', { action: 'write_off', comment: 'again' });
    expect({ status: again.status, code: again.body.error?.code }).toEqual({ status: 409, code: 'RECONCILIATION_ALREADY_DECIDED' });
    expect(await account(`provider:mpesa:${s.organisationId}:claims`)).toEqual({ debits: 20_00n, credits: 0n });
  });

  it('when finance accepts the provider\'s charge the ledger did not record, then the fee is posted from the float to the provider\'s fees', async () => {
    const res = await decide('line-9', { action: 'accept_provider', comment: 'B2C charge per tariff' });
    expect(res.body).toMatchObject({ state: 'applied', amount: '15.00' });
    expect(await account(`provider:mpesa:${s.organisationId}:fees`)).toEqual({ debits: 15_00n, credits: 0n });
  });

  it('when a late reversal is applied, then it waits for a second finance user; its maker cannot approve it; once approved the payout is reversed and the money is back with the programme', async () => {
    const programmeBefore = await account(`programme:${s.programmeId}:available`);
    const made = await decide('line-19', { action: 'apply_reversal', comment: 'Safaricom reversed RCP0002 on 8 May' }, 'finance', 'finance-maker');
    expect(made.status).toBe(201);
    expect(made.body).toMatchObject({ state: 'awaiting_approval', amount: '250.00' });
    // Awaiting its second approval, nothing is posted yet: the reversal is still at risk, on its row and in its class.
    expect(await item('line-19')).toMatchObject({ open: true, atRisk: '250.00', decision: { state: 'awaiting_approval' } });
    expect(await classAtRisk('late_reversal')).toBe('250.00');
    const payout = ids.get('RCP0002')!;
    const stateOf = async () => (await api.database.pool.query<{ state: string }>('SELECT state FROM payouts WHERE id = $1', [payout])).rows[0]!.state;
    expect(await stateOf()).toBe('paid');

    const byMaker = await check(made.body.decisionId, { approve: true, comment: 'me again' }, 'finance-maker');
    expect({ status: byMaker.status, code: byMaker.body.error?.code }).toEqual({ status: 403, code: 'RECONCILIATION_CHECKER_IS_MAKER' });
    const approved = await check(made.body.decisionId, { approve: true, comment: 'seen on the statement' }, 'finance-checker');
    expect(approved.status).toBe(200);
    expect(approved.body).toMatchObject({ state: 'applied', checkedBy: 'finance-checker' });
    expect(await stateOf()).toBe('reversed');
    // Approved and applied: nothing at risk, on its row as in its class (the row kept 250.00 while the class said 0).
    expect(await item('line-19')).toMatchObject({ open: false, atRisk: '0.00', decision: { state: 'applied' } });
    expect(await classAtRisk('late_reversal')).toBe('0.00');
    expect((await account(`programme:${s.programmeId}:available`))!.credits - programmeBefore!.credits).toBe(250_00n);
    const twice = await check(made.body.decisionId, { approve: true, comment: 'again' }, 'finance-third');
    expect({ status: twice.status, code: twice.body.error?.code }).toEqual({ status: 409, code: 'RECONCILIATION_DECISION_NOT_AWAITING' });
  });

  it('when a decision above the threshold is rejected, then nothing is posted and a new decision may be made', async () => {
    // Line 17 is RCP0001 a second time: 100.00 left the float twice.
    const made = await decide('line-17', { action: 'write_off', comment: 'duplicate' }, 'finance', 'finance-maker');
    expect(made.body.state).toBe('awaiting_approval');
    const rejected = await check(made.body.decisionId, { approve: false, comment: 'claim it instead' }, 'finance-checker');
    expect(rejected.body).toMatchObject({ state: 'rejected' });
    expect(await account(`reconciliation:${s.organisationId}:differences`)).toBeNull();
    const claimed = await decide('line-17', { action: 'claim', comment: 'claim the duplicate' }, 'finance', 'finance-maker');
    expect(claimed.status).toBe(201);
    expect(claimed.body.state).toBe('awaiting_approval');
    expect((await check(claimed.body.decisionId, { approve: true, comment: 'agreed' }, 'finance-checker')).body.state).toBe('applied');
    expect(await account(`provider:mpesa:${s.organisationId}:claims`)).toEqual({ debits: 120_00n, credits: 0n });
  });

  it('when a payout the provider does not show is requeried, then its status query is due now and nothing is posted', async () => {
    const missing = `payout-${ids.get('RCP0007')}`;
    const res = await decide(missing, { action: 'requery', comment: 'ask Safaricom' });
    expect(res.body).toMatchObject({ action: 'requery', amount: '0.00', state: 'applied' });
    const { rows } = await api.database.pool.query<{ due: Date | null }>('SELECT status_check_at AS due FROM payouts WHERE id = $1', [ids.get('RCP0007')]);
    expect(rows[0]!.due).not.toBeNull();
  });

  it.each([
    ['an action the class does not allow', 'line-13', { action: 'claim', comment: 'x' }, 'finance', 422, 'RECONCILIATION_DECISION_INVALID'],
    ['a matched line', 'line-8', { action: 'acknowledge', comment: 'x' }, 'finance', 422, 'RECONCILIATION_DECISION_INVALID'],
    ['an unknown action', 'line-12', { action: 'pay', comment: 'x' }, 'finance', 422, 'RECONCILIATION_DECISION_INVALID'],
    ['no comment', 'line-12', { action: 'write_off' }, 'finance', 422, 'RECONCILIATION_DECISION_INVALID'],
    ['a comment with a control character', 'line-12', { action: 'write_off', comment: 'a\u0000b' }, 'finance', 422, 'RECONCILIATION_DECISION_INVALID'],
    ['a comment too long', 'line-12', { action: 'write_off', comment: 'x'.repeat(501) }, 'finance', 422, 'RECONCILIATION_DECISION_INVALID'],
    ['an extra member', 'line-12', { action: 'write_off', comment: 'x', amount: '1.00' }, 'finance', 422, 'RECONCILIATION_DECISION_INVALID'],
    ['no such line', 'line-999', { action: 'write_off', comment: 'x' }, 'finance', 404, 'NOT_FOUND'],
    ['a balance check that did not fail', 'check-0', { action: 'acknowledge', comment: 'x' }, 'finance', 404, 'NOT_FOUND'],
    ['a malformed item id', 'line-0x1', { action: 'write_off', comment: 'x' }, 'finance', 404, 'NOT_FOUND'],
    ['an auditor', 'line-12', { action: 'write_off', comment: 'x' }, 'auditor', 403, 'AUTH_FORBIDDEN'],
    ['a programme manager', 'line-12', { action: 'write_off', comment: 'x' }, 'programme_manager', 403, 'AUTH_FORBIDDEN'],
  ])('when a decision names %s, then %i %s and nothing changes', async (_what, itemId, body, role, status, code) => {
    const before = await api.database.pool.query('SELECT count(*)::int AS n FROM reconciliation_decisions');
    const res = await decide(itemId, body, role);
    expect({ status: res.status, code: res.body.error?.code }).toEqual({ status, code });
    expect((await api.database.pool.query('SELECT count(*)::int AS n FROM reconciliation_decisions')).rows).toEqual(before.rows);
  });

  it('when the decisions are read, then each is listed with both hands, the audit log holds each step, and the ledger and the audit log verify', async () => {
    const res = await request(api.app).get(`/v1/reconciliations/${statementId}/decisions`).set('authorization', await bearer(s.organisationId, 'auditor'));
    expect(res.status).toBe(200);
    expect(res.body.decisions.map((d: { itemId: string; state: string }) => [d.itemId, d.state])).toEqual(expect.arrayContaining([
      ['line-11', 'applied'], ['line-9', 'applied'], ['line-19', 'applied'], ['line-17', 'rejected'], ['line-17', 'applied'],
    ]));
    const audit = await api.database.pool.query<{ action: string; n: number }>(
      `SELECT action, count(*)::int AS n FROM audit_events WHERE organisation_id = $1 AND action LIKE 'reconciliation.%' GROUP BY action ORDER BY action`, [s.organisationId]);
    expect(audit.rows).toEqual([{ action: 'reconciliation.approval', n: 3 }, { action: 'reconciliation.decision', n: 6 }]);
    expect((await verifyLedger(api.persistence)).ok).toBe(true);
    expect((await verifyAuditLog(api.persistence)).ok).toBe(true);
    const view = await request(api.app).get(`/v1/reconciliations/${statementId}`).set('authorization', await bearer(s.organisationId, 'finance'));
    // 10 exceptions, 5 resolved (claim, fee, reversal, duplicate, requery).
    expect(view.body.exceptions.open).toBe(5);
  });

  it('when every exception is decided, then the reconciliation is closed and its result hash is the same each time it is read', async () => {
    for (const [itemId, action] of [['line-12', 'write_off'], ['line-13', 'requery'], ['line-14', 'requery'], ['line-15', 'acknowledge'], ['line-16', 'acknowledge']] as const) {
      const res = await decide(itemId, { action, comment: 'closing May' });
      expect({ itemId, status: res.status, state: res.body.state }).toEqual({ itemId, status: 201, state: 'applied' });
    }
    const read = async () => (await request(api.app).get(`/v1/reconciliations/${statementId}`).set('authorization', await bearer(s.organisationId, 'finance'))).body;
    const first = await read();
    expect(first.exceptions.open).toBe(0);
    expect([first.closed, first.resultSha256]).toEqual([true, expect.stringMatching(/^[0-9a-f]{64}$/)]);
    expect((await read()).resultSha256).toBe(first.resultSha256);
  });

  it('when the file\'s own balances do not add up, then the failed check is an exception until acknowledged, and only acknowledged', async () => {
    // One top-up line; the header's closing balance is 1.00 short of opening + lines.
    const broken = [
      'Account Holder:,TUMA', 'Short Code:,600001', 'Account:,Utility Account', 'Time Period:,From 01-05-2026 00:00:00 To 31-05-2026 23:59:59',
      'Opening Balance:,"1,000.00",Closing Balance:,"1,099.00"',
      'Receipt No.,Completion Time,Initiation Time,Details,Transaction Status,Paid In,Withdrawn,Balance,Balance Confirmed,Reason Type,Other Party Info,Linked Transaction ID,A/C No.',
      'TOP0001,02-05-2026 09:00:00,02-05-2026 09:00:00,Funds Transfer,Completed,100.00,,"1,100.00","1,100.00",Organization Account Funds Transfer,,,',
      '',
    ].join('\r\n');
    const imported = await request(api.app).post(`/v1/reconciliations?account=mpesa-broken&${may}`).set('authorization', await bearer(s.organisationId, 'finance'))
      .set('content-type', 'text/csv').send(Buffer.from(broken));
    expect(imported.status).toBe(201);
    const id = imported.body.statementId as string;
    expect(imported.body.balances.total).toEqual({ expectedClosing: '1100.00', closing: '1099.00', ok: false });
    const read = async () => (await request(api.app).get(`/v1/reconciliations/${id}`).set('authorization', await bearer(s.organisationId, 'finance'))).body;
    const before = await read();
    expect([before.closed, before.exceptions.balanceChecks, before.checks]).toEqual([false, 1, [{ itemId: 'check-0', kind: 'balance_total', line: null, expected: '1100.00', actual: '1099.00', acknowledged: false }]]);
    const url = `/v1/reconciliations/${id}/items/check-0/decisions`;
    const write = await request(api.app).post(url).set('authorization', await bearer(s.organisationId, 'finance')).send({ action: 'write_off', comment: 'x' });
    expect({ status: write.status, code: write.body.error?.code }).toEqual({ status: 422, code: 'RECONCILIATION_DECISION_INVALID' });
    const ack = await request(api.app).post(url).set('authorization', await bearer(s.organisationId, 'finance')).send({ action: 'acknowledge', comment: 'Safaricom to correct the header' });
    expect(ack.body.state).toBe('applied');
    const after = await read();
    expect([after.closed, after.exceptions.balanceChecks, after.checks[0].acknowledged]).toEqual([true, 0, true]);
  });
});

// A configured tolerance (issue #14 item 3: "a configured tolerance posts the difference
// automatically to a named account"): differences of amount or fee within it are written off by
// Tuma at import, to the organisation's reconciliation differences, one transfer each, audited as
// tuma:tolerance; anything larger stays open for finance. With none configured, nothing is.
import { readFileSync } from 'node:fs';
import request from 'supertest';
import { verifyLedger } from '../../src/application/ledger-chain.js';
import { bearer, startTestApi, type TestApi } from '../support/api.js';
import { setUpProgramme, type Scenario } from '../support/fixtures.js';
import { insertPayouts } from '../support/reconciliation-ledger.js';

const fixture = readFileSync(new URL('../fixtures/statements/mpesa-org-portal-every-class.csv', import.meta.url), 'utf8');
const may = 'from=2026-04-30T21:00:00Z&to=2026-05-31T21:00:00Z';

let api: TestApi;
let s: Scenario;
beforeAll(async () => {
  api = await startTestApi({ statementAccounts: { 'mpesa-ke': { currency: 'KES', programmes: '*' } }, reconciliationTolerance: { KES: 15_00n } });
  s = await setUpProgramme(api.persistence, 1_000_00n);
  await insertPayouts(api.database.pool, s, [
    { receipt: 'RCP0001', amountMinor: 10000n, state: 'paid', accountId: 'mpesa-ke' },
    { receipt: 'RCP0002', amountMinor: 25000n, state: 'paid', accountId: 'mpesa-ke' },
    { receipt: 'RCP0003', amountMinor: 10000n, state: 'paid', accountId: 'mpesa-ke' },
    { receipt: 'RCP0004', amountMinor: 30000n, state: 'paid', accountId: 'mpesa-ke' },
  ]);
});
afterAll(async () => api?.close());

it('when a statement is imported, then the differences within the tolerance are written off by Tuma and the larger ones stay open', async () => {
  const res = await request(api.app).post(`/v1/reconciliations?account=mpesa-ke&${may}`).set('authorization', await bearer(s.organisationId, 'finance'))
    .set('content-type', 'text/csv').send(Buffer.from(fixture));
  expect(res.status).toBe(201);
  const items = await request(api.app).get(`/v1/reconciliations/${res.body.statementId}/items?class=amount_over,amount_under,fee_mismatch`)
    .set('authorization', await bearer(s.organisationId, 'finance'));
  // RCP0003: 120.00 against 100.00 (20.00: above); RCP0004: 290.00 against 300.00 (10.00); RCP0001's charge: 15.00 (at the tolerance).
  expect(items.body.items.map((i: { itemId: string; open: boolean; decision: { action: string } | null }) => [i.itemId, i.open, i.decision?.action ?? null])).toEqual([
    ['line-9', false, 'write_off'], ['line-11', true, null], ['line-12', false, 'write_off'],
  ]);
  const { rows } = await api.database.pool.query<{ d: string; c: string }>('SELECT debits_posted::text AS d, credits_posted::text AS c FROM accounts WHERE key = $1',
    [`reconciliation:${s.organisationId}:differences`]);
  // The charge took 15.00 more from the float (debit the differences); RCP0004 took 10.00 less (credit them).
  expect(rows[0]).toEqual({ d: '1500', c: '1000' });
  const decisions = await request(api.app).get(`/v1/reconciliations/${res.body.statementId}/decisions`).set('authorization', await bearer(s.organisationId, 'auditor'));
  expect(decisions.body.decisions.map((d: { decidedBy: string; state: string }) => [d.decidedBy, d.state])).toEqual([['tuma:tolerance', 'applied'], ['tuma:tolerance', 'applied']]);
  expect((await verifyLedger(api.persistence)).ok).toBe(true);
  // The same bytes again: replayed, nothing decided twice.
  const again = await request(api.app).post(`/v1/reconciliations?account=mpesa-ke&${may}`).set('authorization', await bearer(s.organisationId, 'finance'))
    .set('content-type', 'text/csv').send(Buffer.from(fixture));
  expect(again.status).toBe(200);
  const after = await request(api.app).get(`/v1/reconciliations/${res.body.statementId}/decisions`).set('authorization', await bearer(s.organisationId, 'auditor'));
  expect(after.body.decisions).toHaveLength(2);
  // The float check: the only M-Pesa KES account, so its float is the ledger's alone. At May's
  // cut-off the ledger had no float yet (everything here was posted today): a mismatch, an exception.
  const view = await request(api.app).get(`/v1/reconciliations/${res.body.statementId}`).set('authorization', await bearer(s.organisationId, 'finance'));
  expect(view.body.float).toEqual({ state: 'mismatch', ledgerFloat: '0.00', closing: '5009225.00' });
  expect(view.body.checks).toEqual([{ itemId: 'check-0', kind: 'float_balance', line: null, expected: '0.00', actual: '5009225.00', acknowledged: false }]);
});

it('when the statement\'s closing balance is the ledger\'s float at its cut-off, then the float check is ok and no exception is raised', async () => {
  // A period of whole East Africa days ending tomorrow: the float at its end is today's.
  const dayMs = 86_400_000;
  const eat = 3 * 3_600_000;
  const endLocal = Math.floor((Date.now() + eat) / dayMs) * dayMs + dayMs;
  const from = new Date(endLocal - 7 * dayMs - eat);
  const to = new Date(endLocal - eat);
  const dmy = (ms: number) => new Date(ms).toISOString().slice(0, 10).split('-').reverse().join('-');
  // 10,000,000.00 topped up; the tolerance above wrote off 15.00 of charge and gave back 10.00.
  const float = '"9,999,995.00"';
  const file = [
    'Account Holder:,TUMA', 'Short Code:,600000', 'Account:,Utility Account',
    `Time Period:,From ${dmy(endLocal - 7 * dayMs)} 00:00:00 To ${dmy(endLocal - dayMs)} 23:59:59`,
    `Opening Balance:,${float},Closing Balance:,${float}`,
    'Receipt No.,Completion Time,Initiation Time,Details,Transaction Status,Paid In,Withdrawn,Balance,Balance Confirmed,Reason Type,Other Party Info,Linked Transaction ID,A/C No.',
    '',
  ].join('\r\n');
  const res = await request(api.app).post(`/v1/reconciliations?account=mpesa-ke&from=${from.toISOString()}&to=${to.toISOString()}`)
    .set('authorization', await bearer(s.organisationId, 'finance')).set('content-type', 'text/csv').send(Buffer.from(file));
  expect(res.status).toBe(201);
  const view = await request(api.app).get(`/v1/reconciliations/${res.body.statementId}`).set('authorization', await bearer(s.organisationId, 'finance'));
  expect(view.body.float).toEqual({ state: 'ok', ledgerFloat: '9999995.00', closing: '9999995.00' });
  expect([view.body.checks, view.body.closed]).toEqual([[], true]);
});

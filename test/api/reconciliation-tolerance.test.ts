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
});

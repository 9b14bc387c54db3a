// A Ugandan batch paid through MTN MoMo, end to end: signed batch in UGX → relay → the MoMo
// dispatch topic → worker → MoMo client (X-Reference-Id derived from the attempt key, as a v4
// UUID) → MoMo simulator → PUT callback → results → settler → ledger. A payout MoMo refuses
// (NOT_ENOUGH_FUNDS on FAILED) is released with the mapped reason. Real PostgreSQL; the real
// Kafka broker and the in-process transport.
import { sql } from 'kysely';
import { momoReferenceId } from '../../src/adapters/providers/mtn-momo/mapping.js';
import type { Runtime } from '../../src/cli/runtime.js';
import { attemptKey, payoutIdOf } from '../../src/domain/ids.js';
import { tokenFor } from '../support/auth.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { batchDocument, net, setUpProviderProgramme, sign, type Scenario } from '../support/fixtures.js';
import { startTestRuntime, testConfig, type TransportKind } from '../support/runtime.js';

const settleTimeoutMs = 45_000;

const ugandanProgramme = (runtime: Runtime): Promise<Scenario> => setUpProviderProgramme(runtime.persistence, { provider: 'mtn-momo', currency: 'UGX', fundedMinor: 10_000_000n, floatMinor: 100_000_000n });

describe.each<TransportKind>(['kafka', 'in-process'])('MTN MoMo end to end over %s', (transport) => {
  let database: TestDatabase;
  let runtime: Runtime;

  beforeAll(async () => {
    database = await createTestDatabase();
    // A refusal here is to be final (the retry after a failure that may pass has its own test: payout-retries).
    runtime = await startTestRuntime(await testConfig(database.url, transport, { PAYOUT_RETRY_REASONS: 'none', STATUS_CHECK_FIRST_AFTER_MS: '300', STATUS_POLL_INTERVAL_MS: '50' }));
  });

  afterAll(async () => {
    await runtime?.stop();
    await database?.drop();
  });

  it('when a UGX batch for MoMo numbers is submitted, then one payout is paid once and the refused one is released with its reason', async () => {
    const momo = runtime.momoSimulator!;
    momo.setFaults({ rules: [{ pattern: '^256772000002$', fault: 'fail', reason: 'NOT_ENOUGH_FUNDS' }] });
    const s = await ugandanProgramme(runtime);
    const auth = { authorization: `Bearer ${await tokenFor(s.organisationId, ['programme_manager'])}` };
    const document = {
      ...batchDocument(s, [
        { ref: 'ug-1', provider: 'mtn-momo', msisdn: '+256772000001', amount: '50000' },
        { ref: 'ug-2', provider: 'mtn-momo', msisdn: '+256772000002', amount: '25000' },
      ], { total: '75000' }),
      currency: 'UGX',
    };
    const submitted = await fetch(`${runtime.apiUrl}/v1/batches`, { method: 'POST', headers: { ...auth, 'content-type': 'application/jose+json' }, body: JSON.stringify(await sign(document, s.maker)) });
    expect({ status: submitted.status, body: await submitted.json() }).toMatchObject({ status: 201, body: { state: 'approved', currency: 'UGX', total: '75000' } });

    const batch = await net.eventually(async () => {
      const body = (await (await fetch(`${runtime.apiUrl}/v1/batches/${document.batchId}`, { headers: auth })).json()) as { state: string };
      return body.state === 'completed' ? body : null;
    }, settleTimeoutMs, 'the batch to complete');
    expect(batch).toMatchObject({ state: 'completed', payouts: { paid: { count: 1, amount: '50000' }, failed: { count: 1, amount: '25000' } } });
    const refused = (await (await fetch(`${runtime.apiUrl}/v1/payouts/${payoutIdOf(document.batchId, 'ug-2')}`, { headers: auth })).json()) as Record<string, unknown>;
    expect(refused).toMatchObject({ state: 'failed', failureCode: 'insufficient_float:momo:NOT_ENOUGH_FUNDS' });

    // Each transfer ran once at MoMo, under the reference id derived from its attempt key.
    for (const ref of ['ug-1', 'ug-2']) expect(momo.executions(momoReferenceId(attemptKey(payoutIdOf(document.batchId, ref), 1)))).toBe(1);

    // The ledger: the paid 50,000 went to MoMo's float account, the refused 25,000 back to the programme.
    const accounts = await sql<{ key: string; balance: string }>`
      SELECT key, (credits_posted - debits_posted)::text AS balance FROM accounts
      WHERE currency = 'UGX' AND key IN (${`batch:${document.batchId}:committed`}, ${`programme:${s.programmeId}:available`})`.execute(database.db);
    expect(Object.fromEntries(accounts.rows.map((r) => [r.key, r.balance]))).toEqual({
      [`batch:${document.batchId}:committed`]: '0',
      [`programme:${s.programmeId}:available`]: String(10_000_000 - 50_000),
    });
  });

  it('when MoMo\'s callback is lost and its status answer reports another amount, then the payout is held for finance, never settled at its own amount', async () => {
    const momo = runtime.momoSimulator!;
    momo.setFaults({ rules: [{ pattern: '^256772000003$', fault: 'lost-callback', reportAmount: '99999' }] });
    const s = await ugandanProgramme(runtime);
    const auth = { authorization: `Bearer ${await tokenFor(s.organisationId, ['programme_manager'])}` };
    const document = { ...batchDocument(s, [{ ref: 'ug-3', provider: 'mtn-momo', msisdn: '+256772000003', amount: '40000' }], { total: '40000' }), currency: 'UGX' };
    const submitted = await fetch(`${runtime.apiUrl}/v1/batches`, { method: 'POST', headers: { ...auth, 'content-type': 'application/jose+json' }, body: JSON.stringify(await sign(document, s.maker)) });
    expect(submitted.status).toBe(201);
    const id = payoutIdOf(document.batchId, 'ug-3');
    const held = await net.eventually(async () => {
      const body = (await (await fetch(`${runtime.apiUrl}/v1/payouts/${id}`, { headers: auth })).json()) as { state: string; exceptions?: { kind: string; detail: string }[] };
      return body.state === 'held' ? body : null;
    }, settleTimeoutMs, 'the payout to be held');
    expect(held.exceptions).toEqual([expect.objectContaining({ kind: 'amount_mismatch', detail: 'reported amount 99999, the payout is 40000 UGX' })]);
    const source = await sql<{ source: string }>`SELECT source FROM payout_results WHERE payout_id = ${id}::uuid AND outcome = 'held'`.execute(database.db);
    expect(source.rows).toEqual([{ source: 'status_query' }]);
    expect(momo.executions(momoReferenceId(attemptKey(id, 1)))).toBe(1);
    const paid = await sql<{ n: string }>`SELECT count(*)::text AS n FROM transfers WHERE payout_id = ${id}::uuid`.execute(database.db);
    expect(paid.rows[0]!.n).toBe('0');
  });
});

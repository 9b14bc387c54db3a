// An operator speaking the GSMA Mobile Money API, configured only through a provider accounts file
// (issue #5 item 6): a Sierra Leonean batch in SLE → relay → the gsma dispatch topic → worker →
// GSMA client (X-CorrelationID = the attempt key) → the GSMA simulator → PUT callback (204) →
// results → settler → ledger. A payout refused for insufficient funds is released with the mapped
// reason; a stale "pending" callback after the final one changes nothing. Real PostgreSQL; the
// real Kafka broker and the in-process transport.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import type { Runtime } from '../../src/cli/runtime.js';
import { attemptKey, payoutIdOf } from '../../src/domain/ids.js';
import { tokenFor } from '../support/auth.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { batchDocument, net, setUpProviderProgramme, sign, type Scenario } from '../support/fixtures.js';
import { startTestRuntime, testConfig, type TransportKind } from '../support/runtime.js';

const settleTimeoutMs = 45_000;

const sierraLeoneProgramme = (runtime: Runtime): Promise<Scenario> => setUpProviderProgramme(runtime.persistence, { provider: 'gsma', currency: 'SLE', fundedMinor: 10_000_00n, floatMinor: 100_000_00n });

describe.each<TransportKind>(['kafka', 'in-process'])('GSMA MM API end to end over %s', (transport) => {
  let database: TestDatabase;
  let runtime: Runtime;
  const dir = mkdtempSync(join(tmpdir(), 'tuma-gsma-'));

  beforeAll(async () => {
    database = await createTestDatabase();
    const simulatorPort = await net.freePort();
    const file = join(dir, 'accounts.json');
    writeFileSync(file, JSON.stringify({
      accounts: [{
        id: 'gsma-sl', provider: 'gsma', country: 'SL', currency: 'SLE', baseUrl: `http://127.0.0.1:${simulatorPort}/gsma`,
        consumerKey: { env: 'T_GSMA_KEY' }, consumerSecret: { env: 'T_GSMA_SECRET' }, debitParty: [{ key: 'walletid', value: '1' }],
      }],
    }));
    // A refusal here is to be final (the retry after a failure that may pass has its own test: payout-retries).
    runtime = await startTestRuntime(await testConfig(database.url, transport, {
      PAYOUT_RETRY_REASONS: 'none',
      PROVIDERS_FILE: file, SIMULATOR_PORT: String(simulatorPort), T_GSMA_KEY: 'gsma-key', T_GSMA_SECRET: 'gsma-secret',
    }));
  });

  afterAll(async () => {
    await runtime?.stop();
    await database?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('when an SLE batch is submitted, then the payouts are paid once or released with their reason, whatever the callbacks do', async () => {
    const gsma = runtime.gsmaSimulator!;
    gsma.setFaults({
      rules: [
        { pattern: '^\\+?23276000002$', fault: 'insufficient-float' },
        { pattern: '^\\+?23276000003$', fault: 'out-of-order-callback' },
        { pattern: '^\\+?23276000004$', fault: 'reverse-after-success', delayMs: 50 },
      ],
    });
    const s = await sierraLeoneProgramme(runtime);
    const auth = { authorization: `Bearer ${await tokenFor(s.organisationId, ['programme_manager'])}` };
    const rows = [
      { ref: 'sl-1', provider: 'gsma', msisdn: '+23276000001', amount: '150.00' },
      { ref: 'sl-2', provider: 'gsma', msisdn: '+23276000002', amount: '75.50' },
      { ref: 'sl-3', provider: 'gsma', msisdn: '+23276000003', amount: '20.25' },
      { ref: 'sl-4', provider: 'gsma', msisdn: '+23276000004', amount: '30.00' },
    ];
    const document = { ...batchDocument(s, rows, { total: '275.75' }), currency: 'SLE' };
    const submitted = await fetch(`${runtime.apiUrl}/v1/batches`, { method: 'POST', headers: { ...auth, 'content-type': 'application/jose+json' }, body: JSON.stringify(await sign(document, s.maker)) });
    expect({ status: submitted.status, body: await submitted.json() }).toMatchObject({ status: 201, body: { state: 'approved', currency: 'SLE', total: '275.75' } });

    // The reversed one is paid first, then taken back: the batch is complete once it is reversed.
    const batch = await net.eventually(async () => {
      const body = (await (await fetch(`${runtime.apiUrl}/v1/batches/${document.batchId}`, { headers: auth })).json()) as { state: string; payouts: Record<string, unknown> };
      return body.state === 'completed' && body.payouts.reversed ? body : null;
    }, settleTimeoutMs, 'the batch to complete and the reversal to settle');
    expect(batch).toMatchObject({ state: 'completed', payouts: { paid: { count: 2, amount: '170.25' }, failed: { count: 1, amount: '75.50' }, reversed: { count: 1, amount: '30.00' } } });
    const taken = (await (await fetch(`${runtime.apiUrl}/v1/payouts/${payoutIdOf(document.batchId, 'sl-4')}`, { headers: auth })).json()) as Record<string, unknown>;
    expect(taken).toMatchObject({ state: 'reversed', failureCode: 'reversed:gsma:status:reversed' });
    // The provider's statement shows the payment and its reversal.
    const reversals = gsma.statement().filter((l) => l.status === 'reversed');
    expect(reversals).toEqual([expect.objectContaining({ amount: '-30.00', correlationId: attemptKey(payoutIdOf(document.batchId, 'sl-4'), 1) })]);
    const refused = (await (await fetch(`${runtime.apiUrl}/v1/payouts/${payoutIdOf(document.batchId, 'sl-2')}`, { headers: auth })).json()) as Record<string, unknown>;
    expect(refused).toMatchObject({ state: 'failed', failureCode: expect.stringMatching(/^insufficient_float:gsma:insufficientFunds/) });

    for (const row of rows) expect(gsma.executions(attemptKey(payoutIdOf(document.batchId, row.ref), 1))).toBe(1);
    const attempts = await sql<{ account_id: string }>`SELECT DISTINCT account_id FROM payout_attempts`.execute(database.db);
    expect(attempts.rows).toEqual([{ account_id: 'gsma-sl' }]);
    // The ledger: the batch account at zero; the programme has back everything but what was paid and kept.
    const balances = await sql<{ key: string; balance: string }>`
      SELECT key, (credits_posted - debits_posted)::text AS balance FROM accounts
      WHERE currency = 'SLE' AND key IN (${`batch:${document.batchId}:committed`}, ${`programme:${s.programmeId}:available`})`.execute(database.db);
    expect(Object.fromEntries(balances.rows.map((r) => [r.key, r.balance]))).toEqual({
      [`batch:${document.batchId}:committed`]: '0',
      [`programme:${s.programmeId}:available`]: String(10_000_00 - 170_25),
    });
    const codes = await sql<{ code: string }>`SELECT code FROM transfers WHERE payout_id = ${payoutIdOf(document.batchId, 'sl-4')}::uuid ORDER BY seq`.execute(database.db);
    expect(codes.rows.map((r) => r.code)).toEqual(['payout_paid', 'payout_reversed', 'payout_released']);
  });
});

// A GSMA account that takes batches (issue #20 item 3), configured through the accounts file: an
// SLE batch of Tuma's → relay → the gsma dispatch topic → worker → the bulk account, which sends
// the attempts in hand as provider batches (POST /batchtransactions; two-step: approved by PATCH)
// → the poller reads each item's outcome from its batch's completions and rejections → results →
// settler → ledger. Each payout settles once, with the same postings as a single payment; the
// provider batches and their items were recorded before they were sent (migration 0021). Real
// PostgreSQL; the real Kafka broker (one-step) and the in-process transport (two-step).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import type { Runtime } from '../../src/cli/runtime.js';
import { attemptKey, payoutIdOf } from '../../src/domain/ids.js';
import { tokenFor } from '../support/auth.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { batchDocument, net, setUpProviderProgramme, sign } from '../support/fixtures.js';
import { startTestRuntime, testConfig, type TransportKind } from '../support/runtime.js';

const settleTimeoutMs = 60_000;

describe.each<[TransportKind, 'one-step' | 'two-step']>([['kafka', 'one-step'], ['in-process', 'two-step']])('GSMA bulk end to end over %s, %s', (transport, approval) => {
  let database: TestDatabase;
  let runtime: Runtime;
  const dir = mkdtempSync(join(tmpdir(), 'tuma-gsma-bulk-'));

  beforeAll(async () => {
    database = await createTestDatabase();
    const simulatorPort = await net.freePort();
    const file = join(dir, 'accounts.json');
    writeFileSync(file, JSON.stringify({
      accounts: [{
        id: 'gsma-sl-bulk', provider: 'gsma', country: 'SL', currency: 'SLE', baseUrl: `http://127.0.0.1:${simulatorPort}/gsma`,
        consumerKey: { env: 'T_GSMA_KEY' }, consumerSecret: { env: 'T_GSMA_SECRET' }, debitParty: [{ key: 'walletid', value: '1' }],
        bulk: { itemsMax: 5, approval, lingerMs: 50 },
      }],
    }));
    runtime = await startTestRuntime(await testConfig(database.url, transport, {
      PAYOUT_RETRY_REASONS: 'none',
      STATUS_POLL_INTERVAL_MS: '100', STATUS_CHECK_FIRST_AFTER_MS: '300', STATUS_CHECK_BACKOFF_MAX_MS: '1000',
      PROVIDERS_FILE: file, SIMULATOR_PORT: String(simulatorPort), T_GSMA_KEY: 'gsma-key', T_GSMA_SECRET: 'gsma-secret',
    }));
  });

  afterAll(async () => {
    await runtime?.stop();
    await database?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('when an SLE batch is submitted, then its payouts go in provider batches of at most 5, each settles once (paid, or released with its reason) with a single payment\'s postings', async () => {
    const gsma = runtime.gsmaSimulator!;
    gsma.setFaults({ rules: [{ pattern: '^\\+?2327600001[12]$', fault: 'fail', errorCode: 'identifierError' }] });
    const s = await setUpProviderProgramme(runtime.persistence, { provider: 'gsma', currency: 'SLE', fundedMinor: 10_000_00n, floatMinor: 100_000_00n });
    const auth = { authorization: `Bearer ${await tokenFor(s.organisationId, ['programme_manager'])}` };
    const rows = Array.from({ length: 12 }, (_, i) => ({ ref: `b-${i + 1}`, provider: 'gsma', msisdn: `+232760000${String(i + 1).padStart(2, '0')}`, amount: `${10 + i}.50` }));
    const total = rows.reduce((sum, r) => sum + Number(r.amount) * 100, 0);
    const document = { ...batchDocument(s, rows, { total: (total / 100).toFixed(2) }), currency: 'SLE' };
    const submitted = await fetch(`${runtime.apiUrl}/v1/batches`, { method: 'POST', headers: { ...auth, 'content-type': 'application/jose+json' }, body: JSON.stringify(await sign(document, s.maker)) });
    expect(submitted.status).toBe(201);

    const batch = await net.eventually(async () => {
      const body = (await (await fetch(`${runtime.apiUrl}/v1/batches/${document.batchId}`, { headers: auth })).json()) as { state: string; payouts: Record<string, { count: number; amount: string }> };
      return body.state === 'completed' ? body : null;
    }, settleTimeoutMs, 'the batch to complete');
    // b-11 and b-12 were refused by the provider (rejections of their batch); the other ten paid.
    expect(batch.payouts).toMatchObject({ paid: { count: 10 }, failed: { count: 2, amount: '42.00' } });
    for (const ref of ['b-11', 'b-12']) {
      const payout = (await (await fetch(`${runtime.apiUrl}/v1/payouts/${payoutIdOf(document.batchId, ref)}`, { headers: auth })).json()) as Record<string, unknown>;
      expect(payout).toMatchObject({ state: 'failed', failureCode: expect.stringMatching(/^payee_not_found:gsma:batch-rejection:identifierError/) });
    }
    // Every payout ran at most once, in provider batches of at most 5 recorded before they were sent.
    for (const [i, row] of rows.entries()) expect(gsma.executions(attemptKey(payoutIdOf(document.batchId, row.ref), 1))).toBe(i < 10 ? 1 : 0);
    const batches = await sql<{ item_count: number; account_id: string; approval: boolean }>`SELECT item_count, account_id, approval_key IS NOT NULL AS approval FROM gsma_batches`.execute(database.db);
    expect(batches.rows.reduce((sum, b) => sum + b.item_count, 0)).toBe(12);
    for (const b of batches.rows) expect(b).toMatchObject({ account_id: 'gsma-sl-bulk', approval: approval === 'two-step' });
    expect(Math.max(...batches.rows.map((b) => b.item_count))).toBeLessThanOrEqual(5);
    expect(batches.rows.length).toBeLessThan(12);
    const items = await sql<{ n: string }>`SELECT count(*)::text AS n FROM gsma_batch_items`.execute(database.db);
    expect(items.rows).toEqual([{ n: '12' }]);
    // The ledger: one settlement per payout, as single payments have them; the batch account at zero.
    const codes = await sql<{ code: string; n: string }>`SELECT code, count(*)::text AS n FROM transfers WHERE batch_id = ${document.batchId}::uuid AND payout_id IS NOT NULL GROUP BY code ORDER BY code`.execute(database.db);
    expect(codes.rows).toEqual([{ code: 'payout_paid', n: '10' }, { code: 'payout_released', n: '2' }]);
    const balances = await sql<{ key: string; balance: string }>`
      SELECT key, (credits_posted - debits_posted)::text AS balance FROM accounts
      WHERE currency = 'SLE' AND key IN (${`batch:${document.batchId}:committed`}, ${`programme:${s.programmeId}:available`})`.execute(database.db);
    expect(Object.fromEntries(balances.rows.map((r) => [r.key, r.balance]))).toEqual({
      [`batch:${document.batchId}:committed`]: '0',
      [`programme:${s.programmeId}:available`]: String(10_000_00 - (total - 4_200)),
    });
  });
});

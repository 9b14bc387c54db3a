// Airtel Money, configured through a provider accounts file (issue #5 item 6): a Zambian batch in
// ZMW → relay → the airtel dispatch topic → worker → Airtel client (transaction.id = the attempt
// key without hyphens, the PIN RSA-encrypted at start with the configured public key) → the
// Airtel simulator, which answers synchronously → results → settler → ledger. A payout refused for
// insufficient funds is released with the mapped reason. One whose answer is ambiguous after the
// money moved stays unknown until Airtel's callback: signed (hmac mode), it settles the payout;
// unsigned (status-query mode), it only makes the status query due, whose answer settles it.
// Forged callbacks change nothing. Real PostgreSQL; the real Kafka broker and the in-process transport.
import { generateKeyPairSync } from 'node:crypto';
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

const zambianProgramme = (runtime: Runtime): Promise<Scenario> => setUpProviderProgramme(runtime.persistence, { provider: 'airtel', currency: 'ZMW', fundedMinor: 10_000_00n, floatMinor: 100_000_00n });

type CallbackMode = 'status-query' | 'hmac';

describe.each<[TransportKind, CallbackMode]>([
  ['kafka', 'status-query'],
  ['in-process', 'status-query'],
  ['in-process', 'hmac'],
])('Airtel Money end to end over %s, callbacks by %s', (transport, mode) => {
  let database: TestDatabase;
  let runtime: Runtime;
  const dir = mkdtempSync(join(tmpdir(), 'tuma-airtel-'));

  beforeAll(async () => {
    database = await createTestDatabase();
    const simulatorPort = await net.freePort();
    const publicKey = join(dir, 'airtel-public.pem');
    writeFileSync(publicKey, generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }));
    const file = join(dir, 'accounts.json');
    writeFileSync(file, JSON.stringify({
      accounts: [{
        id: 'airtel-zm', provider: 'airtel', country: 'ZM', currency: 'ZMW', baseUrl: `http://127.0.0.1:${simulatorPort}/airtel`,
        clientId: { env: 'T_AIRTEL_ID' }, clientSecret: { env: 'T_AIRTEL_SECRET' }, pin: { env: 'T_AIRTEL_PIN' }, pinPublicKeyFile: publicKey,
        callbackAuth: mode === 'hmac' ? { mode, hmacSecret: { env: 'T_AIRTEL_HMAC' } } : { mode },
      }],
    }));
    // A refusal here is to be final (the retry after a failure that may pass has its own test: payout-retries).
    runtime = await startTestRuntime(await testConfig(database.url, transport, {
      PAYOUT_RETRY_REASONS: 'none',
      PROVIDERS_FILE: file, SIMULATOR_PORT: String(simulatorPort), T_AIRTEL_ID: 'airtel-client', T_AIRTEL_SECRET: 'airtel-secret', T_AIRTEL_PIN: '1234', T_AIRTEL_HMAC: 'callback-secret',
    }));
  });

  afterAll(async () => {
    await runtime?.stop();
    await database?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('when a ZMW batch is submitted, then the payouts are paid once or released with their reason', async () => {
    const airtel = runtime.airtelSimulator!;
    airtel.setFaults({
      rules: [
        { pattern: '^971000002$', fault: 'insufficient-funds' },
        // The money moves, the answer is "ambiguous": unknown until the callback (and, unsigned, the status query) settles it.
        { pattern: '^971000003$', fault: 'ambiguous-after-execution' },
      ],
    });
    const s = await zambianProgramme(runtime);
    const auth = { authorization: `Bearer ${await tokenFor(s.organisationId, ['programme_manager'])}` };
    const rows = [
      { ref: 'zm-1', provider: 'airtel', msisdn: '+260971000001', amount: '150.00' },
      { ref: 'zm-2', provider: 'airtel', msisdn: '+260971000002', amount: '75.50' },
      { ref: 'zm-3', provider: 'airtel', msisdn: '+260971000003', amount: '10.25' },
    ];
    const document = { ...batchDocument(s, rows, { total: '235.75' }), currency: 'ZMW' };
    const submitted = await fetch(`${runtime.apiUrl}/v1/batches`, { method: 'POST', headers: { ...auth, 'content-type': 'application/jose+json' }, body: JSON.stringify(await sign(document, s.maker)) });
    expect({ status: submitted.status, body: await submitted.json() }).toMatchObject({ status: 201, body: { state: 'approved', currency: 'ZMW', total: '235.75' } });

    const batch = await net.eventually(async () => {
      const body = (await (await fetch(`${runtime.apiUrl}/v1/batches/${document.batchId}`, { headers: auth })).json()) as { state: string };
      return body.state === 'completed' ? body : null;
    }, settleTimeoutMs, 'the batch to complete');
    expect(batch).toMatchObject({ state: 'completed', payouts: { paid: { count: 2, amount: '160.25' }, failed: { count: 1, amount: '75.50' } } });
    const refused = (await (await fetch(`${runtime.apiUrl}/v1/payouts/${payoutIdOf(document.batchId, 'zm-2')}`, { headers: auth })).json()) as Record<string, unknown>;
    expect(refused).toMatchObject({ state: 'failed', failureCode: expect.stringMatching(/^insufficient_float:airtel:/) });

    for (const row of rows) expect(airtel.executions(attemptKey(payoutIdOf(document.batchId, row.ref), 1))).toBe(1);
    // The ambiguous one: settled by the signed callback itself, or by the status query an unsigned one made due.
    const sources = await sql<{ source: string }>`
      SELECT source FROM payout_results WHERE payout_id = ${payoutIdOf(document.batchId, 'zm-3')}::uuid AND outcome = 'paid'`.execute(database.db);
    expect(sources.rows).toEqual([{ source: mode === 'hmac' ? 'callback' : 'status_query' }]);
    const attempts = await sql<{ account_id: string }>`SELECT DISTINCT account_id FROM payout_attempts`.execute(database.db);
    expect(attempts.rows).toEqual([{ account_id: 'airtel-zm' }]);
    // A forged callback (unsigned or wrongly signed in hmac mode; unsigned is never trusted in status-query mode) moves nothing.
    const forged = JSON.stringify({ transaction: { id: attemptKey(payoutIdOf(document.batchId, 'zm-2'), 1).replaceAll('-', ''), status_code: 'TS', airtel_money_id: 'forged-1', message: 'x' } });
    const answer = await fetch(`${runtime.apiUrl}/v1/callbacks/airtel`, { method: 'POST', headers: { 'content-type': 'application/json', hash: 'bm90IGEgc2lnbmF0dXJl' }, body: forged });
    expect(answer.status).toBe(mode === 'hmac' ? 401 : 200);
    await new Promise((r) => setTimeout(r, 300));
    expect((await (await fetch(`${runtime.apiUrl}/v1/payouts/${payoutIdOf(document.batchId, 'zm-2')}`, { headers: auth })).json())).toMatchObject({ state: 'failed' });

    const committed = await sql<{ balance: string }>`
      SELECT (credits_posted - debits_posted)::text AS balance FROM accounts WHERE currency = 'ZMW' AND key = ${`batch:${document.batchId}:committed`}`.execute(database.db);
    expect(committed.rows).toEqual([{ balance: '0' }]);
  });
});

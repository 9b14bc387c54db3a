// Provider accounts end to end (issue #5 item 6): with an accounts file, a programme's payouts go
// through the account that lists the programme, others through the account for every programme;
// each attempt records its account; a provider enabled for a programme but with no account for it
// is refused at submission with PROVIDER_NOT_CONFIGURED and nothing is stored.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { runBatchCli } from '../../src/cli/batch-cli.js';
import type { Runtime } from '../../src/cli/runtime.js';
import { rowErrorCodes } from '../../src/domain/errors.js';
import { payoutIdOf } from '../../src/domain/ids.js';
import { tokenFor } from '../support/auth.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { batchDocument, kenyanPayout, net, setUpProgramme, sign, type Scenario } from '../support/fixtures.js';
import { startTestRuntime, testConfig } from '../support/runtime.js';

const settleTimeoutMs = 45_000;

describe('provider accounts', () => {
  let database: TestDatabase;
  let runtime: Runtime;
  let dedicated: Scenario;
  let shared: Scenario;
  const dir = mkdtempSync(join(tmpdir(), 'tuma-accounts-it-'));

  beforeAll(async () => {
    database = await createTestDatabase();
    const simulatorPort = await net.freePort();
    const simulator = `http://127.0.0.1:${simulatorPort}`;
    // The dedicated programme's id is known only once it is set up: set up first on a bare database.
    const mpesa = {
      provider: 'mpesa', country: 'KE', currency: 'KES', baseUrl: simulator, shortcode: '600000', initiatorName: 'tuma-dev',
      consumerKey: { env: 'T_MPESA_KEY' }, consumerSecret: { env: 'T_MPESA_SECRET' }, securityCredential: { env: 'T_MPESA_CRED' },
    };
    const env = { T_MPESA_KEY: 'dev-consumer-key', T_MPESA_SECRET: 'dev-consumer-secret', T_MPESA_CRED: 'dev-security-credential' };
    const bootstrap = await startTestRuntime(await testConfig(database.url, 'in-process'));
    dedicated = await setUpProgramme(bootstrap.persistence, 50_000_00n);
    shared = await setUpProgramme(bootstrap.persistence, 50_000_00n);
    await bootstrap.stop();

    const file = join(dir, 'accounts.json');
    writeFileSync(file, JSON.stringify({
      accounts: [
        { ...mpesa, id: 'mpesa-ke-shared' },
        { ...mpesa, id: 'mpesa-ke-dedicated', programmes: [dedicated.programmeId], limits: { payoutMax: '1000' } },
      ],
    }));
    runtime = await startTestRuntime(await testConfig(database.url, 'in-process', { ...env, PROVIDERS_FILE: file, SIMULATOR_PORT: String(simulatorPort) }));
  });

  afterAll(async () => {
    await runtime?.stop();
    await database?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function pay(s: Scenario, ref: string, amount: string) {
    const auth = { authorization: `Bearer ${await tokenFor(s.organisationId, ['programme_manager'])}` };
    const document = batchDocument(s, [kenyanPayout(ref, amount)]);
    const submitted = await fetch(`${runtime.apiUrl}/v1/batches`, { method: 'POST', headers: { ...auth, 'content-type': 'application/jose+json' }, body: JSON.stringify(await sign(document, s.maker)) });
    return { document, auth, submitted };
  }

  async function accountOf(payoutId: string): Promise<string[]> {
    const rows = await sql<{ account_id: string }>`SELECT account_id FROM payout_attempts WHERE payout_id = ${payoutId}::uuid`.execute(database.db);
    return rows.rows.map((r) => r.account_id);
  }

  it.each([
    ['the dedicated programme', () => dedicated, 'mpesa-ke-dedicated'],
    ['any other programme', () => shared, 'mpesa-ke-shared'],
  ])('when %s pays, then its payout goes through its own account and is paid once', async (_name, scenario, account) => {
    const s = scenario();
    const { document, auth, submitted } = await pay(s, 'acc-1', '500.00');
    expect(submitted.status).toBe(201);
    await net.eventually(async () => {
      const body = (await (await fetch(`${runtime.apiUrl}/v1/batches/${document.batchId}`, { headers: auth })).json()) as { state: string };
      return body.state === 'completed' ? body : null;
    }, settleTimeoutMs, 'the batch to complete');
    expect(await accountOf(payoutIdOf(document.batchId, 'acc-1'))).toEqual([account]);
  });

  it("when an amount is above the programme's account limit, then the batch is refused and nothing is stored", async () => {
    const { document, submitted } = await pay(dedicated, 'acc-big', '1500.00');
    expect(submitted.status).toBe(422);
    expect(await submitted.json()).toMatchObject({ error: { code: 'BATCH_INVALID', errors: [{ row: 1, field: 'amount', code: 'AMOUNT_ABOVE_MAXIMUM', message: expect.any(String) }] } });
    const stored = await sql<{ n: string }>`SELECT count(*)::text AS n FROM batches WHERE id = ${document.batchId}::uuid`.execute(database.db);
    expect(stored.rows[0]!.n).toBe('0');
  });

  it("when a programme's provider accounts are read, then each is its provider, country and own limits as batch intake routes to them, and another organisation's programme is not found", async () => {
    const read = async (s: Scenario, programmeId = s.programmeId) => {
      const res = await fetch(`${runtime.apiUrl}/v1/programmes/${programmeId}/provider-accounts`, { headers: { authorization: `Bearer ${await tokenFor(s.organisationId, ['approver'])}` } });
      return { status: res.status, body: (await res.json()) as unknown };
    };
    expect(await read(dedicated)).toEqual({ status: 200, body: { programmeId: dedicated.programmeId, currency: 'KES', accounts: [{ provider: 'mpesa', country: 'KE', payoutMin: null, payoutMax: '1000.00' }] } });
    expect(await read(shared)).toEqual({ status: 200, body: { programmeId: shared.programmeId, currency: 'KES', accounts: [{ provider: 'mpesa', country: 'KE', payoutMin: null, payoutMax: null }] } });
    expect(await read(shared, dedicated.programmeId)).toMatchObject({ status: 404, body: { error: { code: 'NOT_FOUND' } } });
  });

  it("when `tuma batch build` checks a CSV against the programme, then the account's limit refuses the row with the server's code, and the same row fits the other programme", async () => {
    const csv = join(dir, 'payouts.csv');
    writeFileSync(csv, 'ref,msisdn,amount,provider\nacc-big,+254712345678,1500,mpesa\n');
    const build = async (s: Scenario) => {
      const errors: string[] = [];
      const raw: string[] = [];
      const code = await runBatchCli(['build', '--csv', csv, '--org', s.organisationId, '--programme', s.programmeId, '--currency', 'KES'], {
        out: () => undefined, err: (l) => errors.push(l), write: (t) => raw.push(t), isTTY: false, fetch: globalThis.fetch, sleep: async () => undefined, now: () => new Date(),
        env: { TUMA_URL: runtime.apiUrl ?? undefined, TUMA_TOKEN: await tokenFor(s.organisationId, ['programme_manager']) },
      });
      return { code, errors, raw };
    };
    const refused = await build(dedicated);
    expect(refused.code).toBe(1);
    // The server's refusal of the same row above: row 1, amount, AMOUNT_ABOVE_MAXIMUM; here its CSV line and column.
    expect(refused.errors[0]).toBe(`line 2, column 3 (amount): ${rowErrorCodes.AMOUNT_ABOVE_MAXIMUM} (AMOUNT_ABOVE_MAXIMUM)`);
    expect(refused.raw).toEqual([]);
    const built = await build(shared);
    expect(built.code).toBe(0);
    expect(JSON.parse(built.raw.join(''))).toMatchObject({ declared: { count: 1, total: '1500.00' } });
  });
});

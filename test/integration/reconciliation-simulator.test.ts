// Reconciliation of the M-Pesa simulator's own statement (issue #14 item 1): M-Pesa payouts run
// through the real engine (API, Kafka, worker, settler, PostgreSQL) against the simulator, whose
// CSV statement is the organisation portal's export; importStatement reads it with the real
// mapping (mpesa-org-portal-csv@1). A clean period reconciles with every line and every payout
// matched. A second period holds the two differences the engine really leaves: a payout Safaricom
// reversed after its result (no callback says so: Tuma still counts it paid) and a payout the
// simulator paid whose result callback was lost, with no status query yet (Tuma knows no receipt
// for it). Reconciliation names exactly those.
import { Readable } from 'node:stream';
import { sql } from 'kysely';
import { statementStore } from '../../src/adapters/db/reconciliation.repository.js';
import { importStatement, type ImportedStatement } from '../../src/application/reconcile.js';
import type { Runtime } from '../../src/cli/runtime.js';
import { attemptKey, payoutIdOf } from '../../src/domain/ids.js';
import { tokenFor } from '../support/auth.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { batchDocument, net, setUpProviderProgramme, sign, type PayoutLine, type Scenario } from '../support/fixtures.js';
import { clearKenyanNumber } from '../support/privacy.js';
import { startTestRuntime, testConfig } from '../support/runtime.js';

const waitMs = 45_000;
const format = 'mpesa-org-portal-csv@1';

describe('reconciling the M-Pesa simulator\'s statement, over kafka', () => {
  let database: TestDatabase;
  let runtime: Runtime;
  let s: Scenario;
  let auth: Record<string, string>;

  beforeAll(async () => {
    database = await createTestDatabase();
    // No status query within the test: a lost callback stays unresolved, as before the first check.
    runtime = await startTestRuntime(await testConfig(database.url, 'kafka', { STATUS_CHECK_FIRST_AFTER_MS: '3600000', STATUS_CHECK_BACKOFF_MAX_MS: '3600000' }));
    s = await setUpProviderProgramme(runtime.persistence, { provider: 'mpesa', currency: 'KES', fundedMinor: 1_000_000_00n, floatMinor: 10_000_000_00n });
    auth = { authorization: `Bearer ${await tokenFor(s.organisationId, ['programme_manager', 'finance'])}` };
  });

  afterAll(async () => {
    await runtime?.stop();
    await database?.drop();
  });

  async function submit(rows: PayoutLine[]): Promise<(ref: string) => string> {
    const total = rows.reduce((sum, r) => sum + BigInt(String(r.amount).replace('.', '')), 0n);
    const document = batchDocument(s, rows, { total: `${total / 100n}.${String(total % 100n).padStart(2, '0')}` });
    const res = await fetch(`${runtime.apiUrl}/v1/batches`, { method: 'POST', headers: { ...auth, 'content-type': 'application/jose+json' }, body: JSON.stringify(await sign(document, s.maker)) });
    expect(res.status).toBe(201);
    return (ref) => payoutIdOf(document.batchId, ref);
  }
  const row = (ref: string, msisdn: string, amount: string): PayoutLine => ({ ref, provider: 'mpesa', msisdn, amount });
  const stateOf = async (id: string) => (await sql<{ state: string }>`SELECT state FROM payouts WHERE id = ${id}::uuid`.execute(database.db)).rows[0]?.state;
  const reaches = (id: string, state: string) => net.eventually(async () => ((await stateOf(id)) === state ? true : null), waitMs, `${id} to be ${state}`);
  /** The account the payouts went out through (payout_attempts.account_id): one for all. */
  async function accountOf(ids: readonly string[]): Promise<string> {
    const { rows } = await sql<{ account_id: string }>`SELECT DISTINCT account_id FROM payout_attempts WHERE payout_id = ANY(${ids}::uuid[])`.execute(database.db);
    expect(rows).toHaveLength(1);
    return rows[0]!.account_id;
  }
  /** A second boundary after every event so far, and not before the next whole second has begun. */
  async function boundary(): Promise<Date> {
    const at = new Date(Math.floor(Date.now() / 1000) * 1000 + 1000);
    await new Promise((r) => setTimeout(r, at.getTime() - Date.now() + 5));
    return at;
  }
  async function reconcile(accountId: string, period: { from: Date; to: Date }): Promise<{ csv: string; imported: ImportedStatement; items: { class: string; payout_id: string | null; line_no: number | null }[] }> {
    const query = new URLSearchParams({ format: 'csv', from: period.from.toISOString(), to: period.to.toISOString() });
    const res = await fetch(`${runtime.simulatorUrl}/__control/mpesa/statement?${query.toString()}`);
    expect(res.status).toBe(200);
    const csv = await res.text();
    expect(csv).not.toMatch(clearKenyanNumber);
    const result = await importStatement({ store: statementStore(database.pool), vault: runtime.vault }, {
      source: Readable.from([Buffer.from(csv)]), accountId, currency: 'KES', format, period, caller: { organisationId: s.organisationId, subject: 'finance-1' },
    });
    if (!result.ok) throw new Error(JSON.stringify(result.error));
    const { rows } = await database.pool.query<{ class: string; payout_id: string | null; line_no: number | null }>(
      'SELECT class, payout_id, line_no FROM reconciliation_items WHERE statement_id = $1 ORDER BY line_no NULLS LAST', [result.value.statementId]);
    return { csv, imported: result.value, items: rows };
  }

  it('when M-Pesa payouts are paid through the engine, then the simulator\'s statement of their period reconciles: every line and every payout matched, the balances add up', async () => {
    const from = await boundary();
    const amounts = ['10.00', '250.00', '1500.00', '12345.00', '75.00'];
    const id = await submit(amounts.map((a, i) => row(`clean-${i}`, `+25472200000${i}`, a)));
    const ids = amounts.map((_, i) => id(`clean-${i}`));
    for (const p of ids) await reaches(p, 'paid');
    const to = await boundary();
    const accountId = await accountOf(ids);
    expect(accountId).toBe('mpesa'); // the default M-Pesa account when no PROVIDERS_FILE is set

    const { csv, imported, items } = await reconcile(accountId, { from, to });

    const total = 10_00n + 250_00n + 1500_00n + 12345_00n + 75_00n;
    expect([imported.linesTotal, imported.linesImported, imported.linesRefused]).toEqual([5, 5, 0]);
    expect(imported.counts).toEqual({ matched: { count: 5, statementMinor: total, ledgerMinor: total } });
    expect(imported.openingBalanceMinor! - imported.closingBalanceMinor!).toBe(total);
    expect(items.map((i) => i.class)).toEqual(['matched', 'matched', 'matched', 'matched', 'matched']);
    expect(new Set(items.map((i) => i.payout_id))).toEqual(new Set(ids));
    expect(csv).toContain('"-12,345.00"'); // thousands separators, as the portal writes them
    for (let n = 1; n <= 2; n++) for (const p of ids) expect(runtime.simulator!.executions(attemptKey(p, n))).toBeLessThanOrEqual(1);
  });

  it('when a paid payout is reversed by Safaricom and another one\'s result callback is lost, then the next period\'s statement reconciles with exactly those differences: a reversal line and a receipt Tuma does not know', async () => {
    runtime.simulator!.setFaults({ rules: [
      { pattern: '^254733000001$', fault: 'reverse-after-success', delayMs: 50 },
      { pattern: '^254733000002$', callback: 'lose' },
    ] });
    const from = await boundary();
    const id = await submit([row('plain', '+254733000000', '100.00'), row('reversed', '+254733000001', '200.00'), row('lost', '+254733000002', '300.00')]);
    const [plain, reversed, lost] = [id('plain'), id('reversed'), id('lost')];
    await reaches(plain, 'paid');
    await reaches(reversed, 'paid');
    await net.eventually(async () => (runtime.simulator!.statement().some((l) => l.status === 'Reversed' && l.originatorConversationId === attemptKey(reversed, 1)) ? true : null), waitMs, 'the reversal');
    await net.eventually(async () => (runtime.simulator!.executions(attemptKey(lost, 1)) === 1 ? true : null), waitMs, 'the lost one to be paid at the simulator');
    await runtime.simulator!.drained();
    const to = await boundary();
    runtime.simulator!.setFaults({});
    // What the engine is left with: the reversed one still paid (no callback announces a reversal), the lost one not settled.
    expect([await stateOf(plain), await stateOf(reversed)]).toEqual(['paid', 'paid']);
    expect(await stateOf(lost)).not.toMatch(/^(paid|failed)$/);

    const { imported, items } = await reconcile(await accountOf([plain, reversed, lost]), { from, to });

    expect([imported.linesTotal, imported.linesImported, imported.linesRefused]).toEqual([4, 4, 0]);
    expect(imported.counts).toEqual({
      matched: { count: 2, statementMinor: 300_00n, ledgerMinor: 300_00n },
      // The reversal line names the reversed payout, which the ledger still counts as paid: the money came back.
      late_reversal: { count: 1, statementMinor: -200_00n, ledgerMinor: 200_00n },
      // The lost one's line carries a receipt Tuma never heard of; the payout itself was in flight at the cut-off.
      unknown_reference: { count: 1, statementMinor: 300_00n, ledgerMinor: 0n },
      timing: { count: 1, statementMinor: 0n, ledgerMinor: 300_00n },
    });
    const byPayout = new Map<string, string[]>();
    for (const i of items.filter((x) => x.payout_id)) byPayout.set(i.payout_id!, [...(byPayout.get(i.payout_id!) ?? []), i.class].sort());
    expect(Object.fromEntries([plain, reversed, lost].map((p) => [p, byPayout.get(p) ?? null])))
      .toEqual({ [plain]: ['matched'], [reversed]: ['late_reversal', 'matched'], [lost]: ['timing'] });
    expect(items.filter((i) => !i.payout_id).map((i) => i.class).sort()).toEqual(['unknown_reference']);
    // The file's own balances hold: opening + lines = closing, the running balance continuous.
    expect([imported.balances.total?.ok, imported.balances.order, imported.balances.runningBreaks]).toEqual([true, 'oldest-first', 0]);
    // Money: the period took 100 + 200 + 300 and gave 200 back.
    expect(imported.openingBalanceMinor! - imported.closingBalanceMinor!).toBe(400_00n);
  });
});

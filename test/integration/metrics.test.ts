// Operators' metrics (issue #6 item 7): after a batch is paid, this process's /metrics shows the
// provider calls by account and outcome with their latency, each breaker's state, the consumer lag
// per subscription and the payouts by state, in Prometheus' text format, and no beneficiary data.
// Real PostgreSQL; the real Kafka broker and the in-process transport.
import type { Runtime } from '../../src/cli/runtime.js';
import { expectedMonths, overduePeriods } from '../../src/domain/reconciliation-report.js';
import { tokenFor } from '../support/auth.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { batchDocument, kenyanPayout, net, setUpProgramme, sign } from '../support/fixtures.js';
import { clearKenyanNumber } from '../support/privacy.js';
import { startTestRuntime, testConfig, type TransportKind } from '../support/runtime.js';

const settleTimeoutMs = 45_000;

/** The value of one sample line, e.g. sample(text, 'tuma_payouts{state="paid"}'). */
function sample(text: string, series: string): number | null {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? null : Number(line.slice(series.length + 1));
}

describe.each<TransportKind>(['kafka', 'in-process'])('metrics over %s', (transport) => {
  let database: TestDatabase;
  let runtime: Runtime;

  beforeAll(async () => {
    database = await createTestDatabase();
    runtime = await startTestRuntime(await testConfig(database.url, transport));
  });

  afterAll(async () => {
    await runtime?.stop();
    await database?.drop();
  });

  it('when a batch has been paid, then /metrics shows the calls, the breakers, the lag and the payouts by state', async () => {
    const s = await setUpProgramme(runtime.persistence, 50_000_00n);
    const auth = { authorization: `Bearer ${await tokenFor(s.organisationId, ['programme_manager'])}` };
    const document = batchDocument(s, [kenyanPayout('m-1', '100.00'), { ...kenyanPayout('m-2', '200.00'), msisdn: '+254722000333' }]);
    const res = await fetch(`${runtime.apiUrl}/v1/batches`, { method: 'POST', headers: { ...auth, 'content-type': 'application/jose+json' }, body: JSON.stringify(await sign(document, s.maker)) });
    expect(res.status).toBe(201);
    await net.eventually(async () => {
      const body = (await (await fetch(`${runtime.apiUrl}/v1/batches/${document.batchId}`, { headers: auth })).json()) as { state: string };
      return body.state === 'completed' ? body : null;
    }, settleTimeoutMs, 'the batch to complete');

    // The account paid 100 days ago as far as reconciliation knows, and has no statement: its full
    // months that ended more than RECONCILIATION_OVERDUE_DAYS ago are overdue.
    const paidSince = new Date(Date.now() - 100 * 86_400_000);
    await database.pool.query("UPDATE payout_attempts SET created_at = $1 WHERE account_id = 'mpesa'", [paidSince]);
    const overdue = overduePeriods(expectedMonths(paidSince, new Date(), 180), [], new Date(), 10).length;
    expect(overdue).toBeGreaterThan(0);

    const scraped = await fetch(runtime.metricsUrl!);
    expect(scraped.status).toBe(200);
    expect(scraped.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await scraped.text();
    expect(sample(text, 'tuma_provider_calls_total{account="mpesa",provider="mpesa",operation="submit",outcome="pending"}')).toBe(2);
    expect(sample(text, 'tuma_provider_call_duration_seconds_count{account="mpesa",provider="mpesa",operation="submit"}')).toBe(2);
    expect(sample(text, 'tuma_provider_breaker_state{account="mpesa",provider="mpesa"}')).toBe(0);
    expect(sample(text, 'tuma_payouts{state="paid"}')).toBe(2);
    expect(sample(text, 'tuma_reconciliation_overdue_periods{account="mpesa"}')).toBe(overdue);
    // Every subscription of the process reports its lag; once the batch is settled nothing is waiting.
    await net.eventually(async () => {
      const again = await (await fetch(runtime.metricsUrl!)).text();
      const lags = again.split('\n').filter((l) => l.startsWith('tuma_consumer_lag_messages{'));
      return lags.length >= 3 && lags.every((l) => l.endsWith(' 0')) ? lags : null;
    }, settleTimeoutMs, 'the consumer lag to drain');
    // Nothing about the people paid.
    expect(text).not.toMatch(clearKenyanNumber);
    expect(text).not.toMatch(/Amina/);
  });

  it("when a provider account's breaker opens, then its state reads 2 until it closes", async () => {
    const breaker = runtime.mpesa!.breaker;
    breaker.open();
    try {
      expect(sample(await (await fetch(runtime.metricsUrl!)).text(), 'tuma_provider_breaker_state{account="mpesa",provider="mpesa"}')).toBe(2);
    } finally {
      breaker.close();
    }
    expect(sample(await (await fetch(runtime.metricsUrl!)).text(), 'tuma_provider_breaker_state{account="mpesa",provider="mpesa"}')).toBe(0);
  });

  it('when anything but GET /metrics is asked of the metrics address, then 404', async () => {
    const base = runtime.metricsUrl!.replace(/\/metrics$/, '');
    expect((await fetch(`${base}/`)).status).toBe(404);
    expect((await fetch(`${base}/metrics`, { method: 'POST' })).status).toBe(404);
    expect((await fetch(`${base}/v1/batches`)).status).toBe(404);
  });
});

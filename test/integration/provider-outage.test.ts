// A provider down for a while (issue #6 item 8): MTN MoMo answers every transfer 503 before
// running anything. The account's breaker opens and its topic pauses; while it is open nothing is
// sent but the half-open probes. When MoMo comes back, the probe closes the breaker, the topic
// resumes, and the payouts whose send was ambiguous are asked about: MoMo has no record of them
// (404), so they are sent again under the same reference id. Every payout ends paid, each
// reference ran once at MoMo, and the ledger verifies. Real PostgreSQL; the real Kafka broker and
// the in-process transport.
import { sql } from 'kysely';
import { GuardedProvider } from '../../src/adapters/providers/guarded-provider.js';
import { momoReferenceId } from '../../src/adapters/providers/mtn-momo/mapping.js';
import { verifyLedger } from '../../src/application/ledger-chain.js';
import type { Runtime } from '../../src/cli/runtime.js';
import { attemptKey, payoutIdOf } from '../../src/domain/ids.js';
import { tokenFor } from '../support/auth.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { batchDocument, net, setUpProviderProgramme, sign, type Scenario } from '../support/fixtures.js';
import { startTestRuntime, testConfig, type TransportKind } from '../support/runtime.js';

const settleTimeoutMs = 60_000;
const payouts = 12;

const ugandanProgramme = (runtime: Runtime): Promise<Scenario> => setUpProviderProgramme(runtime.persistence, { provider: 'mtn-momo', currency: 'UGX', fundedMinor: 10_000_000n, floatMinor: 100_000_000n });

/**
 * Counts the submit calls the account's breaker lets through from now on: every fire but those it
 * rejects unsent. Counted when a call starts, not when it ends, so calls already in flight when the
 * breaker opened (their answers arrive later) are not mistaken for calls sent while it was open.
 */
function countCallsLetThrough(runtime: Runtime): { readonly sent: () => number; readonly stop: () => void } {
  const guarded = runtime.providers!.account('mtn-momo');
  if (!(guarded instanceof GuardedProvider)) throw new Error('the mtn-momo account is not behind a breaker');
  const breaker = guarded.breaker;
  let fired = 0;
  let rejected = 0;
  const onFire = (): void => void fired++;
  const onReject = (): void => void rejected++;
  breaker.on('fire', onFire);
  breaker.on('reject', onReject);
  return {
    sent: () => fired - rejected,
    stop: () => {
      breaker.removeListener('fire', onFire);
      breaker.removeListener('reject', onReject);
    },
  };
}

describe.each<TransportKind>(['kafka', 'in-process'])('a provider down for a while, over %s', (transport) => {
  let database: TestDatabase;
  let runtime: Runtime;

  beforeAll(async () => {
    database = await createTestDatabase();
    runtime = await startTestRuntime(await testConfig(database.url, transport, {
      WORKER_CONCURRENCY_MAX: '2',
      BREAKER_VOLUME_THRESHOLD: '3',
      BREAKER_ERROR_THRESHOLD_PERCENT: '50',
      BREAKER_RESET_TIMEOUT_MS: '2000',
      STATUS_CHECK_FIRST_AFTER_MS: '300',
      STATUS_CHECK_BACKOFF_MAX_MS: '1000',
      STATUS_CHECKS_MAX: '50',
      STATUS_POLL_INTERVAL_MS: '100',
    }));
  });

  afterAll(async () => {
    await runtime?.stop();
    await database?.drop();
  });

  it('when MoMo fails every transfer for a while, then the breaker opens, only probes are sent, and after recovery every payout is paid once', async () => {
    const momo = runtime.momoSimulator!;
    momo.setFaults({ rules: [{ pattern: '^256', errorRatePercent: 100 }] });
    const s = await ugandanProgramme(runtime);
    const auth = { authorization: `Bearer ${await tokenFor(s.organisationId, ['programme_manager'])}` };
    const rows = Array.from({ length: payouts }, (_, i) => ({ ref: `out-${i}`, provider: 'mtn-momo', msisdn: `+2567720001${String(i).padStart(2, '0')}`, amount: '1000' }));
    const document = { ...batchDocument(s, rows, { total: String(payouts * 1000) }), currency: 'UGX' };
    const submitted = await fetch(`${runtime.apiUrl}/v1/batches`, { method: 'POST', headers: { ...auth, 'content-type': 'application/jose+json' }, body: JSON.stringify(await sign(document, s.maker)) });
    expect(submitted.status).toBe(201);

    // The breaker opens; while it stays open (2 s), at most the one probe its reset allows is sent.
    await net.eventually(async () => (runtime.providers!.account('mtn-momo')!.available() ? null : true), settleTimeoutMs, 'the breaker to open');
    const whileOpen = countCallsLetThrough(runtime);
    await new Promise((r) => setTimeout(r, 1_500));
    whileOpen.stop();
    expect(whileOpen.sent()).toBeLessThanOrEqual(1);

    // MoMo is back.
    momo.setFaults({ rules: [] });
    const batch = await net.eventually(async () => {
      const body = (await (await fetch(`${runtime.apiUrl}/v1/batches/${document.batchId}`, { headers: auth })).json()) as { state: string };
      return body.state === 'completed' ? body : null;
    }, settleTimeoutMs, 'every payout to be paid after the outage');
    expect(batch).toMatchObject({ state: 'completed', payouts: { paid: { count: payouts, amount: String(payouts * 1000) } } });
    for (const row of rows) {
      const payoutId = payoutIdOf(document.batchId, row.ref);
      // Sent again under the same reference id where MoMo had no record; a new attempt (and key)
      // only where the breaker refused the send before anything left: one transfer each in all.
      const executions = [1, 2, 3, 4, 5].map((n) => momo.executions(momoReferenceId(attemptKey(payoutId, n))));
      expect(executions.every((e) => e <= 1)).toBe(true);
      expect(executions.reduce((a, b) => a + b, 0)).toBe(1);
    }
    // The sends the outage answered 503 were ambiguous; each was resolved by asking MoMo, which had
    // no record, and sending again under the same reference id.
    const resent = await sql<{ n: string }>`
      SELECT count(DISTINCT payout_id)::text AS n FROM payout_transitions
      WHERE cause LIKE 'poller: attempt % sent again under the same key (the provider has no record of it)' AND payout_id = ANY(${rows.map((r) => payoutIdOf(document.batchId, r.ref))}::uuid[])`.execute(database.db);
    expect(Number(resent.rows[0]!.n)).toBeGreaterThanOrEqual(3);
    expect((await verifyLedger(runtime.persistence)).ok).toBe(true);
  });
});

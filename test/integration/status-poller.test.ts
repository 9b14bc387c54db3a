// The status poller end to end, and callbacks that cannot be authenticated: real PostgreSQL, the
// in-process transport, the M-Pesa simulator with its deterministic faults (an answer held after
// the money moved, lost callbacks, a refused payment, a queue timeout). The poller is driven here
// with the runtime's persistence and its provider directory; the runtime's own poller ticks at its
// slowest (60 s), so that it does not take a due check before the test's poll does.
import { Writable } from 'node:stream';
import { sql } from 'kysely';
import { pino, type Logger } from 'pino';
import { AesGcmVault } from '../../src/adapters/crypto/vault.js';
import { pollStatuses, startStatusPoller, statusCheckDefaults, statusCheckDelayMs, statusPollMaxima, type StatusCheckPolicy, type StatusPollDeps } from '../../src/application/poll-status.js';
import type { PayoutProvider, ProviderDirectory, StatusQuery } from '../../src/application/ports.js';
import { recordUnconfirmedCallback } from '../../src/application/record-callback.js';
import type { Runtime } from '../../src/cli/runtime.js';
import type { Config } from '../../src/config/config.js';
import { attemptKey, payoutIdOf } from '../../src/domain/ids.js';
import { failed } from '../../src/domain/provider-outcome.js';
import { tokenFor } from '../support/auth.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { batchDocument, kenyanPayout, net, setUpProgramme, sign, type Scenario } from '../support/fixtures.js';
import { startTestRuntime, testConfig } from '../support/runtime.js';

const settleTimeoutMs = 30_000;
/** Past the first status check of anything the worker just submitted (its deadline is the default). */
const pastDeadlineMs = statusCheckDefaults.firstAfterMs + 1_000;

interface PayoutRow {
  state: string;
  failure_code: string | null;
  status_check_at: Date | null;
  status_checks: number;
  status_flagged_at: Date | null;
}

describe('status poller (in-process, M-Pesa simulator)', () => {
  let database: TestDatabase;
  let config: Config;
  let runtime: Runtime;
  let scenario: Scenario;
  let auth: Record<string, string>;
  let directory: ProviderDirectory;
  const silent = pino({ level: 'silent' });

  beforeAll(async () => {
    database = await createTestDatabase();
    // A short provider timeout, so that an answer held after the money moved is a timeout quickly.
    // Refusals found by a status query are to be final here (retries: payout-retries.test.ts).
    // The runtime's poller at its slowest: a check made due now is this test's to take (it raced the test's poll once in CI).
    config = await testConfig(database.url, 'in-process', { PROVIDER_TIMEOUT_MS: '1000', PAYOUT_RETRY_REASONS: 'none', STATUS_POLL_INTERVAL_MS: String(statusPollMaxima.intervalMs) });
    runtime = await startTestRuntime(config);
    scenario = await setUpProgramme(runtime.persistence, 50_000_00n);
    auth = { authorization: `Bearer ${await tokenFor(scenario.organisationId, ['programme_manager'])}` };
    directory = runtime.providers!;
  });

  afterAll(async () => {
    await runtime?.stop();
    await database?.drop();
  });

  const pollerDeps = (overrides: Partial<StatusPollDeps> = {}): StatusPollDeps => ({
    persistence: runtime.persistence,
    vault: runtime.vault,
    providers: directory,
    publicBaseUrl: runtime.apiUrl!,
    logger: silent,
    ...overrides,
  });

  const payoutRow = async (payoutId: string): Promise<PayoutRow> =>
    (await sql<PayoutRow>`SELECT state, failure_code, status_check_at, status_checks, status_flagged_at FROM payouts WHERE id = ${payoutId}::uuid`.execute(database.db)).rows[0]!;

  const count = async (query: ReturnType<typeof sql<{ n: string }>>): Promise<number> => Number((await query.execute(database.db)).rows[0]!.n);

  /** Submits one signed batch of the given (ref, number) payouts of 100.00 each; returns its payout ids by ref. */
  async function submit(lines: readonly (readonly [ref: string, msisdn: string])[]): Promise<{ batchId: string; ids: Record<string, string> }> {
    const document = batchDocument(scenario, lines.map(([ref, msisdn]) => ({ ...kenyanPayout(ref, '100.00'), msisdn })));
    const res = await fetch(`${runtime.apiUrl}/v1/batches`, { method: 'POST', headers: { ...auth, 'content-type': 'application/jose+json' }, body: JSON.stringify(await sign(document, scenario.maker)) });
    expect(res.status).toBe(201);
    return { batchId: document.batchId, ids: Object.fromEntries(lines.map(([ref]) => [ref, payoutIdOf(document.batchId, ref)])) };
  }

  const reaches = (payoutId: string, state: string) =>
    net.eventually(async () => {
      const row = await payoutRow(payoutId);
      return row.state === state ? row : null;
    }, settleTimeoutMs, `payout ${payoutId} to be ${state}`);

  const balance = async (key: string): Promise<bigint> =>
    BigInt((await sql<{ balance: string }>`SELECT (credits_posted - debits_posted)::text AS balance FROM accounts WHERE key = ${key}`.execute(database.db)).rows[0]!.balance);

  it('when the answer was held after the money moved (unknown), then the poller asks after the deadline and the payout is paid exactly once, the ledger settled', async () => {
    runtime.simulator!.setFaults({ rules: [{ pattern: '^254733100001$', fault: 'timeout-after-accept', holdMs: 60_000, callback: 'lose' }] });
    const { batchId, ids } = await submit([['held', '+254733100001']]);
    const payoutId = ids.held!;
    const unknownRow = await reaches(payoutId, 'unknown');
    // Scheduled after the provider's deadline, not at once: a callback may still come.
    expect(unknownRow.status_check_at!.getTime()).toBeGreaterThan(Date.now() + statusCheckDefaults.firstAfterMs / 2);
    expect(unknownRow.status_checks).toBe(0);
    expect((await pollStatuses(pollerDeps(), { limit: 10, now: new Date() })).claimed).toBe(0);

    const poller = startStatusPoller(pollerDeps({ now: () => new Date(Date.now() + pastDeadlineMs) }), 50, 10);
    try {
      const paid = await reaches(payoutId, 'paid');
      expect(paid.status_check_at).toBeNull();
    } finally {
      await poller.stop();
    }
    expect((await payoutRow(payoutId)).status_checks).toBe(1);
    // Paid once, never resent under a new key.
    expect(runtime.simulator!.executions(attemptKey(payoutId, 1))).toBe(1);
    expect(runtime.simulator!.executions(attemptKey(payoutId, 2))).toBe(0);
    // The M-Pesa status answer came to the query's own token and was the result that settled it.
    expect(await count(sql`SELECT count(*)::text AS n FROM payout_status_tokens WHERE payout_id = ${payoutId}::uuid`)).toBe(1);
    expect(await count(sql`SELECT count(*)::text AS n FROM payout_results WHERE payout_id = ${payoutId}::uuid AND outcome = 'paid'`)).toBe(1);
    // The ledger: one payout_paid transfer, the batch account back to zero, the batch completed.
    expect(await count(sql`SELECT count(*)::text AS n FROM transfers WHERE payout_id = ${payoutId}::uuid AND code = 'payout_paid'`)).toBe(1);
    expect(await balance(`batch:${batchId}:committed`)).toBe(0n);
    await net.eventually(async () => (await sql<{ state: string }>`SELECT state FROM batches WHERE id = ${batchId}::uuid`.execute(database.db)).rows[0]!.state === 'completed', settleTimeoutMs, 'the batch to complete');
  });

  it('when the result callback is lost (submitted), then the poller\'s status query pays it', async () => {
    runtime.simulator!.setFaults({ rules: [{ pattern: '^254733100002$', callback: 'lose' }] });
    const { batchId, ids } = await submit([['lost', '+254733100002']]);
    const payoutId = ids.lost!;
    await reaches(payoutId, 'submitted');
    const poller = startStatusPoller(pollerDeps({ now: () => new Date(Date.now() + pastDeadlineMs) }), 50, 10);
    try {
      await reaches(payoutId, 'paid');
    } finally {
      await poller.stop();
    }
    expect(runtime.simulator!.executions(attemptKey(payoutId, 1))).toBe(1);
    expect(await count(sql`SELECT count(*)::text AS n FROM transfers WHERE payout_id = ${payoutId}::uuid AND code = 'payout_paid'`)).toBe(1);
    expect(await balance(`batch:${batchId}:committed`)).toBe(0n);
  });

  it('when a worker stopped between recording its attempt and recording the answer (stranded in submitting), then a poll past the stale time asks the provider and the payout is paid once; a fresh one is left alone', async () => {
    runtime.simulator!.setFaults({ rules: [{ pattern: '^25473310002[0-9]$', callback: 'lose' }] });
    const { ids } = await submit([['stranded', '+254733100020'], ['fresh', '+254733100021']]);
    await reaches(ids.stranded!, 'submitted');
    await reaches(ids.fresh!, 'submitted');
    // What a worker killed mid-call leaves behind: the attempt and its key recorded, no answer.
    const strand = async (payoutId: string, agoMs: number) => {
      await sql`UPDATE payout_attempts SET outcome = 'pending' WHERE payout_id = ${payoutId}::uuid`.execute(database.db);
      await sql`UPDATE payouts SET state = 'submitting', status_check_at = NULL, updated_at = now() - make_interval(secs => ${agoMs / 1000}) WHERE id = ${payoutId}::uuid`.execute(database.db);
    };
    await strand(ids.stranded!, 120_000);
    await strand(ids.fresh!, 1_000);
    const summary = await pollStatuses(pollerDeps({ submittingStaleAfterMs: 60_000 }), { limit: 10, now: new Date() });
    // M-Pesa answers a status query later, at the URL given with it: the payout settles from that answer.
    expect(summary).toMatchObject({ stranded: 1, queried: 1 });
    await reaches(ids.stranded!, 'paid');
    expect(runtime.simulator!.executions(attemptKey(ids.stranded!, 1))).toBe(1);
    expect(runtime.simulator!.executions(attemptKey(ids.stranded!, 2))).toBe(0);
    const causes = await sql<{ to_state: string; cause: string }>`SELECT to_state, cause FROM payout_transitions WHERE payout_id = ${ids.stranded!}::uuid ORDER BY id DESC LIMIT 2`.execute(database.db);
    expect(causes.rows.map((r) => r.to_state)).toEqual(['paid', 'unknown']);
    expect(causes.rows[1]!.cause).toMatch(/no answer recorded 60000 ms after the attempt started/);
    // Younger than the stale time: a live worker may still be waiting for the provider.
    expect((await payoutRow(ids.fresh!)).state).toBe('submitting');
    await sql`UPDATE payouts SET state = 'submitted', status_check_at = now() + interval '1 hour' WHERE id = ${ids.fresh!}::uuid`.execute(database.db);
  });

  it('when the provider refused the payment and the callback is lost, then the status query finds the refusal: failed, and the money goes back to the programme', async () => {
    runtime.simulator!.setFaults({ rules: [{ pattern: '^254733100003$', fault: 'fail', resultCode: 1, callback: 'lose' }] });
    const available = `programme:${scenario.programmeId}:available`;
    const before = await balance(available);
    const { batchId, ids } = await submit([['refused', '+254733100003']]);
    const payoutId = ids.refused!;
    await reaches(payoutId, 'submitted');
    expect(await balance(available)).toBe(before - 100_00n); // committed to the batch meanwhile
    const poller = startStatusPoller(pollerDeps({ now: () => new Date(Date.now() + pastDeadlineMs) }), 50, 10);
    try {
      const failed = await reaches(payoutId, 'failed');
      expect(failed.failure_code).toBe('provider_failure:mpesa:status:failed');
    } finally {
      await poller.stop();
    }
    expect(await balance(available)).toBe(before);
    expect(await balance(`batch:${batchId}:committed`)).toBe(0n);
    expect(await count(sql`SELECT count(*)::text AS n FROM transfers WHERE payout_id = ${payoutId}::uuid AND code = 'payout_paid'`)).toBe(0);
  });

  it('when the account\'s breaker is open, then a poll asks nothing and writes nothing but the next check time', async () => {
    runtime.simulator!.setFaults({ rules: [{ pattern: '^254733100004$', callback: 'lose' }] });
    const { ids } = await submit([['breaker', '+254733100004']]);
    const payoutId = ids.breaker!;
    const submitted = await reaches(payoutId, 'submitted');
    const counts = async () => ({
      tokens: await count(sql`SELECT count(*)::text AS n FROM payout_status_tokens WHERE payout_id = ${payoutId}::uuid`),
      results: await count(sql`SELECT count(*)::text AS n FROM payout_results WHERE payout_id = ${payoutId}::uuid`),
      transitions: await count(sql`SELECT count(*)::text AS n FROM payout_transitions WHERE payout_id = ${payoutId}::uuid`),
      callbacks: await count(sql`SELECT count(*)::text AS n FROM callbacks WHERE payout_id = ${payoutId}::uuid`),
    });
    const before = await counts();
    const breaker = runtime.mpesa!.breaker;
    const now = new Date(submitted.status_check_at!.getTime() + 1);
    breaker.open();
    try {
      const summary = await pollStatuses(pollerDeps(), { limit: 10, now });
      expect(summary).toMatchObject({ queried: 0, resolved: 0, flagged: 0 });
      expect(summary.skipped).toBeGreaterThanOrEqual(1);
    } finally {
      breaker.close();
    }
    const after = await payoutRow(payoutId);
    expect(after).toMatchObject({ state: 'submitted', status_checks: 0, status_flagged_at: null });
    expect(after.status_check_at!.getTime()).toBe(now.getTime() + statusCheckDelayMs(0));
    expect(await counts()).toEqual(before);

    // Closed again: the next due poll asks, and the payout is paid.
    const summary = await pollStatuses(pollerDeps(), { limit: 10, now: after.status_check_at! });
    expect(summary.queried).toBeGreaterThanOrEqual(1);
    await reaches(payoutId, 'paid');
  });

  it('when two pollers run at once, then each due payout is asked about once', async () => {
    const refs = ['c-1', 'c-2', 'c-3', 'c-4', 'c-5', 'c-6'] as const;
    runtime.simulator!.setFaults({ rules: [{ pattern: '^25473310005[0-9]$', callback: 'lose' }] });
    const { ids } = await submit(refs.map((ref, i) => [ref, `+25473310005${i}`] as const));
    for (const ref of refs) await reaches(ids[ref]!, 'submitted');

    // Every status question counted per payout; the first poller's questions are held until the
    // second poller has run, so the second runs while the first is mid-query (its claim committed).
    const asked = new Map<string, number>();
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const counting = (gate: Promise<void> | null): ProviderDirectory => ({
      route: (payout, country) => directory.route(payout, country),
      all: () => directory.all(),
      account(accountId) {
        const inner = directory.account(accountId);
        if (!inner) return null;
        const wrapped: PayoutProvider = {
          id: inner.id,
          accountId: inner.accountId,
          available: () => inner.available(),
          submit: (request) => inner.submit(request),
          async status(query: StatusQuery) {
            asked.set(query.payoutId, (asked.get(query.payoutId) ?? 0) + 1);
            if (gate) await gate;
            return inner.status(query);
          },
        };
        return wrapped;
      },
    });
    const now = new Date(Date.now() + pastDeadlineMs);
    const first = pollStatuses(pollerDeps({ providers: counting(held) }), { limit: 10, now });
    try {
      await net.eventually(async () => refs.every((ref) => asked.has(ids[ref]!)), settleTimeoutMs, 'the first poller to ask about every payout');
      const second = await pollStatuses(pollerDeps({ providers: counting(null) }), { limit: 10, now });
      expect(second.queried).toBe(0);
    } finally {
      release();
    }
    expect((await first).queried).toBe(asked.size);
    for (const ref of refs) expect(asked.get(ids[ref]!)).toBe(1);
    for (const ref of refs) expect((await payoutRow(ids[ref]!)).status_checks).toBe(1);
    for (const ref of refs) await reaches(ids[ref]!, 'paid');
  });

  it('when many final answers come at once, then they are written in one or two transactions, not one per 16 queries, each payout once', async () => {
    const refs = Array.from({ length: 64 }, (_, i) => `g-${i}`);
    runtime.simulator!.setFaults({ rules: [{ pattern: '^2547331002[0-9][0-9]$', callback: 'lose' }] });
    const { ids } = await submit(refs.map((ref, i) => [ref, `+2547331002${String(i).padStart(2, '0')}`] as const));
    for (const ref of refs) await reaches(ids[ref]!, 'submitted');
    const ours = new Set(refs.map((ref) => ids[ref]!));
    // The provider answers every question at once, finally (as a provider batch's items are
    // answered from one read of the batch); every transaction the poll opens is counted.
    let transactions = 0;
    const counted = new Proxy(runtime.persistence, {
      get(target, key, receiver) {
        if (key === 'transaction') return (work: Parameters<typeof target.transaction>[0]) => ((transactions += 1), target.transaction(work));
        return Reflect.get(target, key, receiver) as unknown;
      },
    });
    const answering: ProviderDirectory = {
      route: (payout, country) => directory.route(payout, country),
      all: () => directory.all(),
      account(accountId) {
        const inner = directory.account(accountId);
        if (!inner) return null;
        return { id: inner.id, accountId: inner.accountId, available: () => inner.available(), submit: (r) => inner.submit(r), status: async (q: StatusQuery) => (ours.has(q.payoutId) ? failed('payee_not_found', 'test:batch-item-rejected') : inner.status(q)) };
      },
    };
    const summary = await pollStatuses(pollerDeps({ persistence: counted, providers: answering }), { limit: 100, now: new Date(Date.now() + pastDeadlineMs) });
    expect(summary.queried).toBe(64);
    expect(summary.resolved).toBe(64);
    // The stranded release and the claim, then the answers: 4 more transactions when each 16 queries wrote their own.
    expect(transactions).toBeLessThanOrEqual(4);
    for (const ref of refs) await reaches(ids[ref]!, 'failed');
    expect(await count(sql<{ n: string }>`SELECT count(*)::text AS n FROM payout_results WHERE payout_id = ANY(${[...ours]}::uuid[])`)).toBe(64);
  });

  it('when no final answer ever comes, then the checks back off (doubling, capped) and after the last one the payout is flagged for operators, without its number in the logs', async () => {
    // Not processed at M-Pesa (queue timeout): the payout turns unknown, and every status answer is "no such transaction".
    runtime.simulator!.setFaults({ rules: [{ pattern: '^254733100006$', fault: 'queue-timeout' }] });
    const { ids } = await submit([['never', '+254733100006']]);
    const payoutId = ids.never!;
    const start = await reaches(payoutId, 'unknown');
    expect(start.status_checks).toBe(0);

    const lines: string[] = [];
    const logger: Logger = pino({ level: 'info' }, new Writable({ write(chunk: Buffer, _encoding, done) { lines.push(chunk.toString('utf8')); done(); } }));
    const policy: StatusCheckPolicy = { firstAfterMs: 1_000, backoffMaxMs: 5_000, checksMax: 4 };
    const deps = pollerDeps({ logger, policy });
    let due = start.status_check_at!;
    const waits: number[] = [];
    for (let check = 1; check <= policy.checksMax; check++) {
      // Not a moment early.
      await pollStatuses(deps, { limit: 10, now: new Date(due.getTime() - 1) });
      expect((await payoutRow(payoutId)).status_checks).toBe(check - 1);
      // Due: claimed by this poll, unless another transaction holds the row at that instant (the
      // settler applying the resend's own queue timeout, which arrives when it will): the claim
      // skips locked rows and the next poll takes it. A few polls at the same instant, bounded.
      for (let poll = 0; poll < 50; poll++) {
        await pollStatuses(deps, { limit: 10, now: due });
        if ((await payoutRow(payoutId)).status_checks >= check) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      const row = await payoutRow(payoutId);
      expect(row.status_checks).toBe(check);
      if (check < policy.checksMax) {
        waits.push(row.status_check_at!.getTime() - due.getTime());
        due = row.status_check_at!;
      } else {
        // The last check: no further schedule, flagged at that poll's time. (Unknown, or submitted
        // if M-Pesa took the resend of check 2 and timed it out in its queue again, unanswered.)
        expect(['unknown', 'submitted']).toContain(row.state);
        expect(row.status_check_at).toBeNull();
        expect(row.status_flagged_at!.getTime()).toBe(due.getTime());
      }
    }
    expect(waits).toEqual([2_000, 4_000, 5_000]);
    // Every second check brought no answer: the payout was sent again under its key then (check 2;
    // check 4 is the last, which asks operators instead), and M-Pesa never ran it.
    const resends = await sql<{ cause: string }>`SELECT cause FROM payout_transitions WHERE payout_id = ${payoutId}::uuid AND from_state = 'unknown' AND to_state = 'submitting'`.execute(database.db);
    expect(resends.rows.map((r) => r.cause)).toEqual(['poller: attempt 1 sent again under the same key (no final answer after 2 status checks)']);
    expect(runtime.simulator!.executions(attemptKey(payoutId, 1))).toBe(0);
    // Flagged: never asked again by the schedule.
    await pollStatuses(deps, { limit: 10, now: new Date(due.getTime() + 86_400_000) });
    expect((await payoutRow(payoutId)).status_checks).toBe(policy.checksMax);
    // A token per status query, and the resend's own (payment) token: a status token answers on the status route only.
    expect(await count(sql`SELECT count(*)::text AS n FROM payout_status_tokens WHERE payout_id = ${payoutId}::uuid AND purpose = 'status'`)).toBe(policy.checksMax);
    expect(await count(sql`SELECT count(*)::text AS n FROM payout_status_tokens WHERE payout_id = ${payoutId}::uuid AND purpose = 'payment'`)).toBe(1);
    expect(await count(sql`SELECT count(*)::text AS n FROM payout_results WHERE payout_id = ${payoutId}::uuid AND outcome <> 'ambiguous'`)).toBe(0);

    const flags = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.payoutId === payoutId && String(l.msg).includes('flagged for operators'));
    expect(flags).toHaveLength(1);
    expect(flags[0]).toMatchObject({ checks: policy.checksMax, level: 40 });
    expect(lines.join('\n')).not.toContain('733100006');
  });

  describe('callbacks that cannot be authenticated', () => {
    let vault: AesGcmVault;
    beforeAll(() => {
      vault = new AesGcmVault(runtime.db, config.crypto.masterKey);
    });
    afterAll(async () => {
      await vault?.close();
    });

    const body = (key: string, status: string) => Buffer.from(JSON.stringify({ transaction: { id: key, status_code: status, message: 'sent to 254733100007' } }));
    const callbackRow = async (dedupeKey: string) =>
      (await sql<{ payout_id: string | null; raw_body_enc: Buffer }>`SELECT payout_id, raw_body_enc FROM callbacks WHERE provider = 'airtel' AND dedupe_key = ${dedupeKey}`.execute(database.db)).rows;

    it('when a callback claims "paid" for a payout the provider refused, then it is stored once, moves no money, and the status query it triggers decides: failed', async () => {
      runtime.simulator!.setFaults({ rules: [{ pattern: '^254733100007$', fault: 'fail', resultCode: 1, callback: 'lose' }] });
      const { ids } = await submit([['claimed', '+254733100007']]);
      const payoutId = ids.claimed!;
      const submitted = await reaches(payoutId, 'submitted');
      const key = attemptKey(payoutId, 1);
      // The mpesa payout's attempt, as an unauthenticating provider would report it.
      const deps = { persistence: runtime.persistence, vault };
      const raw = body(key, 'TS');
      const before = new Date();
      const first = await recordUnconfirmedCallback(deps, 'mpesa', key, `${key}:TS`, raw);
      expect(first).toEqual({ ok: true, value: { duplicate: false, orphan: false, confirming: true } });
      const replay = await recordUnconfirmedCallback(deps, 'mpesa', key, `${key}:TS`, raw);
      expect(replay).toEqual({ ok: true, value: { duplicate: true, orphan: false, confirming: true } });

      const stored = (await sql<{ payout_id: string; raw_body_enc: Buffer }>`SELECT payout_id, raw_body_enc FROM callbacks WHERE provider = 'mpesa' AND dedupe_key = ${`${key}:TS`}`.execute(database.db)).rows;
      expect(stored).toHaveLength(1);
      expect(stored[0]!.payout_id).toBe(payoutId);
      expect(stored[0]!.raw_body_enc.includes(Buffer.from('254733100007'))).toBe(false);
      expect((await vault.open(scenario.programmeId, `mpesa:u::${key}:TS`, 'callback_body', stored[0]!.raw_body_enc)).equals(raw)).toBe(true);
      // No result: the ledger cannot move on this callback's word.
      expect(await count(sql`SELECT count(*)::text AS n FROM payout_results WHERE payout_id = ${payoutId}::uuid`)).toBe(0);
      const due = await payoutRow(payoutId);
      expect(due.state).toBe('submitted');
      expect(due.status_check_at!.getTime()).toBeLessThan(submitted.status_check_at!.getTime());
      expect(due.status_check_at!.getTime()).toBeGreaterThanOrEqual(before.getTime());

      // Due now, with the real clock: the poller asks, and the provider's answer is what counts.
      const summary = await pollStatuses(pollerDeps(), { limit: 10, now: new Date() });
      expect(summary.queried).toBeGreaterThanOrEqual(1);
      const failed = await reaches(payoutId, 'failed');
      expect(failed.failure_code).toBe('provider_failure:mpesa:status:failed');
      expect(await count(sql`SELECT count(*)::text AS n FROM transfers WHERE payout_id = ${payoutId}::uuid AND code = 'payout_paid'`)).toBe(0);

      // A callback for a payout already settled is kept, and schedules nothing.
      const late = await recordUnconfirmedCallback(deps, 'mpesa', key, `${key}:TS:late`, raw);
      expect(late).toEqual({ ok: true, value: { duplicate: false, orphan: false, confirming: true } });
      expect((await payoutRow(payoutId)).status_check_at).toBeNull();
    });

    it('when the key is unknown, or belongs to another provider\'s payout, then the callback is kept as an orphan, sealed, and moves nothing', async () => {
      const deps = { persistence: runtime.persistence, vault };
      const unknownKey = '6b1a7a52-0000-5000-8000-000000000000';
      const raw = body(unknownKey, 'TS');
      expect(await recordUnconfirmedCallback(deps, 'airtel', unknownKey, 'orphan-1', raw)).toEqual({ ok: true, value: { duplicate: false, orphan: true, confirming: false } });
      expect(await recordUnconfirmedCallback(deps, 'airtel', unknownKey, 'orphan-1', raw)).toEqual({ ok: true, value: { duplicate: true, orphan: true, confirming: false } });
      const rows = await callbackRow('orphan-1');
      expect(rows).toHaveLength(1);
      expect(rows[0]!.payout_id).toBeNull();
      expect(rows[0]!.raw_body_enc.includes(Buffer.from('254733100007'))).toBe(false);
      expect((await vault.openUnowned('airtel:u::orphan-1', 'callback_body', rows[0]!.raw_body_enc)).equals(raw)).toBe(true);
      // Bound to its subject: it does not open as another callback's body.
      await expect(vault.openUnowned('airtel:u::orphan-2', 'callback_body', rows[0]!.raw_body_enc)).rejects.toThrow();

      // An M-Pesa payout's real key, reported as Airtel's: not that payout's callback.
      runtime.simulator!.setFaults({ rules: [{ pattern: '^254733100008$', callback: 'lose' }] });
      const { ids } = await submit([['other', '+254733100008']]);
      const payoutId = ids.other!;
      const submitted = await reaches(payoutId, 'submitted');
      const key = attemptKey(payoutId, 1);
      expect(await recordUnconfirmedCallback(deps, 'airtel', key, 'orphan-2', body(key, 'TS'))).toEqual({ ok: true, value: { duplicate: false, orphan: true, confirming: false } });
      expect((await callbackRow('orphan-2'))[0]!.payout_id).toBeNull();
      expect((await payoutRow(payoutId)).status_check_at).toEqual(submitted.status_check_at);
      expect(await count(sql`SELECT count(*)::text AS n FROM payout_results WHERE payout_id = ${payoutId}::uuid`)).toBe(0);
    });

    it('when the keys are empty or oversized, then the callback is refused as malformed and nothing is stored', async () => {
      const deps = { persistence: runtime.persistence, vault };
      const before = await count(sql`SELECT count(*)::text AS n FROM callbacks`);
      for (const [key, dedupe] of [['', 'd'], ['k', ''], ['k'.repeat(129), 'd'], ['k', 'd'.repeat(257)]] as const) {
        const result = await recordUnconfirmedCallback(deps, 'airtel', key, dedupe, Buffer.from('{}'));
        expect(result).toMatchObject({ ok: false, error: { code: 'CALLBACK_MALFORMED' } });
      }
      expect(await count(sql`SELECT count(*)::text AS n FROM callbacks`)).toBe(before);
    });
  });
});

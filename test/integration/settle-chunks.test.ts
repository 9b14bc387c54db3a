// The settler applies results in chunks (issue #6 item 5): one transaction per chunk, one merged
// journal per currency, the payouts moved in one statement. Results within a chunk see each
// other (ambiguous then paid; paid then reversed; paid twice), results that cannot apply are
// dead-lettered, a redelivered chunk changes nothing, and two chunks settling the last payouts of
// one batch at once complete it. Real PostgreSQL; the payouts' first life goes through the M-Pesa
// simulator with every callback lost, so they wait in `submitted` for the results made here.
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { pino } from 'pino';
import { encode, type ResultMessage } from '../../src/application/messages.js';
import type { Delivery } from '../../src/application/ports.js';
import { settleResults } from '../../src/application/settle-result.js';
import { verifyLedger } from '../../src/application/ledger-chain.js';
import type { Runtime } from '../../src/cli/runtime.js';
import { payoutIdOf } from '../../src/domain/ids.js';
import { tokenFor } from '../support/auth.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { batchDocument, kenyanPayout, net, setUpProgramme, sign, type Scenario } from '../support/fixtures.js';
import { startTestRuntime, testConfig } from '../support/runtime.js';

const settleTimeoutMs = 45_000;

describe('settling results in chunks', () => {
  let database: TestDatabase;
  let runtime: Runtime;
  let s: Scenario;
  let auth: Record<string, string>;

  beforeAll(async () => {
    database = await createTestDatabase();
    // A late first status check: with every callback lost, the payouts stay submitted.
    runtime = await startTestRuntime(await testConfig(database.url, 'in-process', { STATUS_CHECK_FIRST_AFTER_MS: '600000' }));
    s = await setUpProgramme(runtime.persistence, 50_000_00n);
    auth = { authorization: `Bearer ${await tokenFor(s.organisationId, ['programme_manager'])}` };
    runtime.simulator!.setFaults({ rules: [{ pattern: '.*', fault: 'none', callback: 'lose' }] });
  });

  afterAll(async () => {
    await runtime?.stop();
    await database?.drop();
  });

  /** Submits a batch of `refs` (10.00, 20.00, … KES) and waits until every payout is submitted. */
  let batches = 0;
  async function submittedBatch(refs: readonly string[]): Promise<string> {
    batches += 1;
    const document = batchDocument(s, refs.map((ref, i) => ({ ...kenyanPayout(ref, `${(i + 1) * 10}.00`), msisdn: `+2547110${String(batches * 100 + i).padStart(5, '0')}` })));
    const res = await fetch(`${runtime.apiUrl}/v1/batches`, { method: 'POST', headers: { ...auth, 'content-type': 'application/jose+json' }, body: JSON.stringify(await sign(document, s.maker)) });
    expect([res.status, res.status === 201 ? null : await res.text()]).toEqual([201, null]);
    await net.eventually(async () => {
      const r = await sql<{ n: string }>`SELECT count(*)::text AS n FROM payouts WHERE batch_id = ${document.batchId}::uuid AND state = 'submitted'`.execute(database.db);
      return Number(r.rows[0]!.n) === refs.length;
    }, settleTimeoutMs, 'every payout submitted');
    return document.batchId;
  }

  const deps = () => ({ persistence: runtime.persistence, transport: runtime.transport, topics: runtime.topics, logger: pino({ level: 'silent' }) });
  const result = (batchId: string, ref: string, outcome: ResultMessage['outcome'], reasonCode: string | null = null): Delivery => {
    const message: ResultMessage = {
      type: 'tuma.payout.result', version: 1, resultId: randomUUID(), payoutId: payoutIdOf(batchId, ref), batchId,
      outcome, reasonCode, providerReference: outcome === 'paid' ? `REF-${ref}` : null, source: 'callback',
    };
    return { topic: runtime.topics.results, key: batchId, value: encode(message), position: 'test' };
  };
  const states = async (batchId: string) =>
    Object.fromEntries((await sql<{ ref: string; state: string }>`SELECT ref, state FROM payouts WHERE batch_id = ${batchId}::uuid`.execute(database.db)).rows.map((r) => [r.ref, r.state]));
  const batchState = async (batchId: string) => (await sql<{ state: string }>`SELECT state FROM batches WHERE id = ${batchId}::uuid`.execute(database.db)).rows[0]!.state;
  const counts = async () =>
    (await sql<{ t: string; m: string }>`SELECT (SELECT count(*) FROM transfers)::text AS t, (SELECT count(*) FROM payout_transitions)::text AS m`.execute(database.db)).rows[0]!;

  it('when a chunk holds every kind of result, then each applies in order, in one journal, and what cannot apply is dead-lettered', async () => {
    const refs = ['c-paid-1', 'c-paid-2', 'c-fail', 'c-twice', 'c-amb', 'c-rev', 'c-conflict'];
    const batchId = await submittedBatch(refs);
    const dead: Delivery[] = [];
    const dlq = await runtime.transport.subscribe({ topic: runtime.topics.dlq, groupId: `dlq-reader-${batchId}`, concurrency: 1, handle: async (d) => void dead.push(d) });
    try {
      const chunk = [
        result(batchId, 'c-paid-1', 'paid'),
        result(batchId, 'c-paid-2', 'paid'),
        result(batchId, 'c-fail', 'failed', 'insufficient_float'),
        result(batchId, 'c-twice', 'paid'),
        result(batchId, 'c-twice', 'paid'),
        result(batchId, 'c-amb', 'ambiguous', 'timeout'),
        result(batchId, 'c-amb', 'paid'),
        result(batchId, 'c-rev', 'paid'),
        result(batchId, 'c-rev', 'reversed', 'reversed:test:R1'),
        result(batchId, 'c-conflict', 'paid'),
        result(batchId, 'c-conflict', 'failed', 'provider_failure'),
        { topic: runtime.topics.results, key: batchId, value: Buffer.from('{"not":"a result"'), position: 'test' },
        result(randomUUID(), 'nobody', 'paid'),
      ];
      const outcomes = await settleResults(deps(), chunk);
      expect(outcomes).toEqual(['settled', 'settled', 'settled', 'settled', 'replayed', 'marked_unknown', 'settled', 'settled', 'settled', 'settled', 'conflict', 'ignored', 'missing']);
      expect(await states(batchId)).toEqual({
        'c-paid-1': 'paid', 'c-paid-2': 'paid', 'c-fail': 'failed', 'c-twice': 'paid', 'c-amb': 'paid', 'c-rev': 'reversed', 'c-conflict': 'paid',
      });
      // Every payout settled: the batch is complete and its committed account is at zero.
      expect(await batchState(batchId)).toBe('completed');
      const committed = await sql<{ b: string }>`SELECT (credits_posted - debits_posted)::text AS b FROM accounts WHERE key = ${`batch:${batchId}:committed`}`.execute(database.db);
      expect(committed.rows[0]!.b).toBe('0');
      // One journal for the chunk (one currency), the transfers in the results' order.
      const transfers = await sql<{ journal_id: string; code: string; ref: string }>`
        SELECT t.journal_id, t.code, p.ref FROM transfers t JOIN payouts p ON p.id = t.payout_id
        WHERE t.batch_id = ${batchId}::uuid AND t.code <> 'batch_commit' ORDER BY t.seq`.execute(database.db);
      expect(new Set(transfers.rows.map((t) => t.journal_id)).size).toBe(1);
      expect(transfers.rows.map((t) => `${t.ref}:${t.code}`)).toEqual([
        'c-paid-1:payout_paid', 'c-paid-2:payout_paid', 'c-fail:payout_released', 'c-twice:payout_paid', 'c-amb:payout_paid',
        'c-rev:payout_paid', 'c-rev:payout_reversed', 'c-rev:payout_released', 'c-conflict:payout_paid',
      ]);
      // Each move recorded, in order, with its cause.
      const moves = await sql<{ from_state: string; to_state: string }>`
        SELECT from_state, to_state FROM payout_transitions WHERE payout_id = ${payoutIdOf(batchId, 'c-rev')}::uuid ORDER BY id`.execute(database.db);
      expect(moves.rows.slice(-2)).toEqual([{ from_state: 'submitted', to_state: 'paid' }, { from_state: 'paid', to_state: 'reversed' }]);
      const amb = await sql<{ to_state: string }>`SELECT to_state FROM payout_transitions WHERE payout_id = ${payoutIdOf(batchId, 'c-amb')}::uuid ORDER BY id`.execute(database.db);
      expect(amb.rows.map((r) => r.to_state).slice(-2)).toEqual(['unknown', 'paid']);
      const reference = await sql<{ provider_reference: string | null; status_check_at: Date | null }>`SELECT provider_reference, status_check_at FROM payouts WHERE id = ${payoutIdOf(batchId, 'c-paid-1')}::uuid`.execute(database.db);
      expect(reference.rows[0]).toEqual({ provider_reference: 'REF-c-paid-1', status_check_at: null });

      await net.eventually(async () => (dead.length >= 3 ? true : null), settleTimeoutMs, 'three dead letters');
      expect(dead.map((d) => (JSON.parse(d.value.toString('utf8')) as { reason: string }).reason).sort()).toEqual(
        ['malformed result message', 'result contradicts a settled payout', 'result for an unknown payout'],
      );

      // The same chunk again (a redelivery after the commit): nothing moves.
      const before = await counts();
      const again = await settleResults(deps(), chunk.slice(0, 11));
      expect(again.filter((o) => o === 'settled' || o === 'marked_unknown')).toEqual([]);
      expect(await counts()).toEqual(before);
      const verified = await verifyLedger(runtime.persistence);
      expect(verified.ok).toBe(true);
    } finally {
      await dlq.stop();
    }
  });

  it('when two chunks settle the last payouts of one batch at once, then both apply and the batch completes', async () => {
    const refs = Array.from({ length: 40 }, (_, i) => `p-${i}`);
    const batchId = await submittedBatch(refs);
    const first = refs.filter((_, i) => i % 2 === 0).map((ref) => result(batchId, ref, 'paid'));
    const second = refs.filter((_, i) => i % 2 === 1).map((ref) => result(batchId, ref, i(ref) % 3 === 0 ? 'failed' : 'paid', 'provider_failure'));
    function i(ref: string) {
      return Number(ref.slice(2));
    }
    const [a, b] = await Promise.all([settleResults(deps(), first), settleResults(deps(), second)]);
    expect([...a, ...b].every((o) => o === 'settled')).toBe(true);
    expect(await batchState(batchId)).toBe('completed');
    const paid = Object.values(await states(batchId)).filter((st) => st === 'paid').length;
    expect(paid).toBe(40 - refs.filter((ref) => i(ref) % 2 === 1 && i(ref) % 3 === 0).length);
  });
});

// A provider that takes back money it paid (issue #5 item 4, #6 item 5): the settler turns a
// 'reversed' result into a reversing journal for a paid payout (float → batch → programme, the
// batch account back at zero), releases an unsettled one as failed, replays a repeat as nothing,
// and refuses to reverse a payout that failed. Real PostgreSQL, the in-process transport, the
// M-Pesa simulator for the payouts' first life.
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { encode, type ResultMessage } from '../../src/application/messages.js';
import { settleResult } from '../../src/application/settle-result.js';
import type { Runtime } from '../../src/cli/runtime.js';
import { payoutIdOf } from '../../src/domain/ids.js';
import { pino } from 'pino';
import { tokenFor } from '../support/auth.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { batchDocument, kenyanPayout, net, setUpProgramme, sign, type Scenario } from '../support/fixtures.js';
import { startTestRuntime, testConfig } from '../support/runtime.js';

const settleTimeoutMs = 45_000;

describe('settling a reversal', () => {
  let database: TestDatabase;
  let runtime: Runtime;
  let s: Scenario;
  let auth: Record<string, string>;
  let batchId: string;

  beforeAll(async () => {
    database = await createTestDatabase();
    // A late first status check: a payout whose callback is lost stays submitted for this test.
    runtime = await startTestRuntime(await testConfig(database.url, 'in-process', { STATUS_CHECK_FIRST_AFTER_MS: '600000' }));
    s = await setUpProgramme(runtime.persistence, 50_000_00n);
    auth = { authorization: `Bearer ${await tokenFor(s.organisationId, ['programme_manager'])}` };
    runtime.simulator!.setFaults({
      rules: [
        { pattern: '^254711000002$', fault: 'none', callback: 'lose' },
        { pattern: '^254711000003$', fault: 'fail', resultCode: 2001 },
      ],
    });
    const document = batchDocument(s, [
      { ...kenyanPayout('rv-paid', '100.00'), msisdn: '+254711000001' },
      { ...kenyanPayout('rv-waiting', '200.00'), msisdn: '+254711000002' },
      { ...kenyanPayout('rv-failed', '300.00'), msisdn: '+254711000003' },
    ]);
    batchId = document.batchId;
    const res = await fetch(`${runtime.apiUrl}/v1/batches`, { method: 'POST', headers: { ...auth, 'content-type': 'application/jose+json' }, body: JSON.stringify(await sign(document, s.maker)) });
    expect(res.status).toBe(201);
    await net.eventually(async () => {
      const states = await Promise.all(['rv-paid', 'rv-waiting', 'rv-failed'].map(async (ref) => ((await (await fetch(`${runtime.apiUrl}/v1/payouts/${payoutIdOf(batchId, ref)}`, { headers: auth })).json()) as { state: string }).state));
      return states.join() === 'paid,submitted,failed' ? states : null;
    }, settleTimeoutMs, 'paid, submitted and failed payouts');
  });

  afterAll(async () => {
    await runtime?.stop();
    await database?.drop();
  });

  const settle = (ref: string) => {
    const message: ResultMessage = {
      type: 'tuma.payout.result', version: 1, resultId: randomUUID(), payoutId: payoutIdOf(batchId, ref), batchId,
      outcome: 'reversed', reasonCode: 'reversed:test:R1', providerReference: null, source: 'callback',
    };
    const deps = { persistence: runtime.persistence, transport: runtime.transport, topics: runtime.topics, logger: pino({ level: 'silent' }) };
    return settleResult(deps, { topic: runtime.topics.results, key: message.payoutId, value: encode(message), position: 'test' });
  };
  const payout = async (ref: string) => (await (await fetch(`${runtime.apiUrl}/v1/payouts/${payoutIdOf(batchId, ref)}`, { headers: auth })).json()) as Record<string, unknown>;
  const balance = async (key: string) =>
    (await sql<{ b: string }>`SELECT (credits_posted - debits_posted)::text AS b FROM accounts WHERE currency = 'KES' AND key = ${key}`.execute(database.db)).rows[0]!.b;

  it('when a paid payout is reversed, then its amount returns to the programme and the batch account stays at zero; a repeat changes nothing', async () => {
    const available = BigInt(await balance(`programme:${s.programmeId}:available`));
    expect(await settle('rv-paid')).toBe('settled');
    expect(await payout('rv-paid')).toMatchObject({ state: 'reversed', failureCode: 'reversed:test:R1' });
    expect(BigInt(await balance(`programme:${s.programmeId}:available`))).toBe(available + 100_00n);
    expect(await settle('rv-paid')).toBe('replayed');
    expect(BigInt(await balance(`programme:${s.programmeId}:available`))).toBe(available + 100_00n);
    const codes = await sql<{ code: string }>`SELECT code FROM transfers WHERE payout_id = ${payoutIdOf(batchId, 'rv-paid')}::uuid ORDER BY seq`.execute(database.db);
    expect(codes.rows.map((r) => r.code)).toEqual(['payout_paid', 'payout_reversed', 'payout_released']);
  });

  it('when a payout still waiting for its result is reversed, then it is released as failed with the reversal as its reason', async () => {
    expect(await settle('rv-waiting')).toBe('settled');
    expect(await payout('rv-waiting')).toMatchObject({ state: 'failed', failureCode: 'reversed:test:R1' });
  });

  it('when a failed payout is said to be reversed, then nothing moves: operators look', async () => {
    const available = await balance(`programme:${s.programmeId}:available`);
    expect(await settle('rv-failed')).toBe('conflict');
    expect(await payout('rv-failed')).toMatchObject({ state: 'failed' });
    expect(await balance(`programme:${s.programmeId}:available`)).toBe(available);
  });

  it('when every payout is settled, then the batch account is at zero', async () => {
    expect(await balance(`batch:${batchId}:committed`)).toBe('0');
  });
});

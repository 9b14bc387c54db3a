// The worker starts the attempts of the messages it has in hand at the same moment in one
// transaction, and records the answers that come back together in one more. Here dispatch
// messages arrive all at once, some twice, one for a payout that does not exist and one for a
// payout whose sealed number cannot be opened: each good payout starts exactly one attempt and is
// paid once, the duplicate starts nothing, the unknown payout is dead-lettered, and the broken one
// fails alone (its message would come again) without holding the others back.
//
// Two runtimes on one database: one without a worker (API, relay, settler, simulator), whose
// relay marks the payouts queued; one with the worker alone, whose provider directory the test
// drives executePayout with, so that the deliveries arrive exactly as the test arranges them.
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { sql } from 'kysely';
import { pino } from 'pino';
import { executePayout } from '../../src/application/execute-payout.js';
import { encode } from '../../src/application/messages.js';
import type { Delivery } from '../../src/application/ports.js';
import { roles, startRuntime, type Runtime } from '../../src/cli/runtime.js';
import type { Config } from '../../src/config/config.js';
import { attemptKey, payoutIdOf } from '../../src/domain/ids.js';
import { tokenFor } from '../support/auth.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { batchDocument, kenyanPayout, net, setUpProgramme, sign, type Scenario } from '../support/fixtures.js';
import { testConfig } from '../support/runtime.js';

const waitMs = 30_000;

describe('the worker starts and records attempts a chunk at a time (in-process, M-Pesa simulator)', () => {
  const silent = pino({ level: 'silent' });
  let database: TestDatabase;
  let config: Config;
  let front: Runtime;
  let worker: Runtime;
  let scenario: Scenario;

  beforeAll(async () => {
    database = await createTestDatabase();
    config = await testConfig(database.url, 'in-process');
    front = await startRuntime(config, new Set(roles.filter((r) => r !== 'worker')), silent);
    worker = await startRuntime(config, new Set(['worker'] as const), silent);
    scenario = await setUpProgramme(front.persistence, 50_000_00n);
  });

  afterAll(async () => {
    await worker?.stop();
    await front?.stop();
    await database?.drop();
  });

  const stateOf = async (id: string) => (await sql<{ state: string }>`SELECT state FROM payouts WHERE id = ${id}::uuid`.execute(database.db)).rows[0]?.state;
  const attemptsOf = async (id: string) => Number((await sql<{ n: string }>`SELECT count(*) AS n FROM payout_attempts WHERE payout_id = ${id}::uuid`.execute(database.db)).rows[0]!.n);

  it('when messages arrive together, twice, for no payout and for a broken payout, then each good payout is attempted and paid once and the bad ones fail alone', async () => {
    const refs = ['w-1', 'w-2', 'w-3', 'w-4', 'w-5', 'w-6'];
    const document = batchDocument(scenario, refs.map((ref, i) => ({ ...kenyanPayout(ref, '10.00'), msisdn: `+25471234560${i}` })));
    const auth = { authorization: `Bearer ${await tokenFor(scenario.organisationId, ['programme_manager'])}`, 'content-type': 'application/jose+json' };
    const res = await fetch(`${front.apiUrl}/v1/batches`, { method: 'POST', headers: auth, body: JSON.stringify(await sign(document, scenario.maker)) });
    expect({ status: res.status, body: res.status === 201 ? null : await res.text() }).toEqual({ status: 201, body: null });
    const ids = refs.map((ref) => payoutIdOf(document.batchId, ref));
    for (const id of ids) await net.eventually(async () => ((await stateOf(id)) === 'queued' ? true : null), waitMs, `${id} queued`);

    // w-6's sealed number no longer opens (its authentication tag fails).
    const broken = ids[5]!;
    await sql`UPDATE payouts SET msisdn_enc = msisdn_enc || '\\x00'::bytea WHERE id = ${broken}::uuid`.execute(database.db);
    const good = ids.slice(0, 5);
    const nobody = randomUUID();

    const dead: Delivery[] = [];
    const dlq = await front.transport.subscribe({ topic: front.topics.dlq, groupId: `dlq-${document.batchId}`, concurrency: 1, handle: async (d) => void dead.push(d) });
    // The chunk itself must handle these cases: a chunk that failed as a whole (then retried one by one) is logged, and counted here.
    const warnings: string[] = [];
    const logger = pino({ level: 'warn' }, new Writable({ write: (line: Buffer, _enc, done) => void (warnings.push(line.toString('utf8')), done()) }));
    const deps = { persistence: worker.persistence, vault: worker.vault, transport: front.transport, topics: front.topics, providers: worker.providers!, publicBaseUrl: front.apiUrl!, logger };
    const delivery = (payoutId: string, n: number): Delivery => ({
      topic: front.topics.dispatch('mpesa'),
      key: payoutId,
      value: encode({ type: 'tuma.payout.dispatch', version: 1, payoutId, batchId: document.batchId, provider: 'mpesa' }),
      position: `test@${n}`,
    });
    try {
      // All at once, in one turn: w-1 and w-2 twice.
      const order = [...ids, ids[0]!, ids[1]!, nobody];
      const settled = await Promise.allSettled(order.map((id, n) => executePayout(deps, delivery(id, n))));
      expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled', 'fulfilled']);

      expect(warnings.filter((w) => w.includes('a chunk failed as a whole'))).toEqual([]);
      for (const id of good) expect(await attemptsOf(id)).toBe(1);
      expect(await attemptsOf(broken)).toBe(0);
      expect(await stateOf(broken)).toBe('queued');
      await net.eventually(async () => (dead.length >= 1 ? true : null), waitMs, 'the dead letter for no payout');
      expect(JSON.parse(dead[0]!.value.toString('utf8'))).toMatchObject({ type: 'tuma.dlq', reason: 'no such payout' });

      for (const id of good) await net.eventually(async () => ((await stateOf(id)) === 'paid' ? true : null), waitMs, `${id} paid`);
      for (const id of good) expect(front.simulator!.executions(attemptKey(id, 1))).toBe(1);
      const moves = await sql<{ cause: string }>`SELECT cause FROM payout_transitions WHERE payout_id = ${good[0]!}::uuid AND from_state = 'queued' AND to_state = 'submitting'`.execute(database.db);
      expect(moves.rows).toEqual([{ cause: 'worker: attempt 1' }]);

      // Mended, the broken payout's message (delivered again) starts its attempt and pays it.
      await sql`UPDATE payouts SET msisdn_enc = substring(msisdn_enc FROM 1 FOR length(msisdn_enc) - 1) WHERE id = ${broken}::uuid`.execute(database.db);
      await executePayout(deps, delivery(broken, 99));
      await net.eventually(async () => ((await stateOf(broken)) === 'paid' ? true : null), waitMs, 'the mended payout paid');
      expect(front.simulator!.executions(attemptKey(broken, 1))).toBe(1);
    } finally {
      await dlq.stop();
    }
  });
});

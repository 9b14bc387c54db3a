// Approval releases a batch as one fact: its payouts stay stored 'accepted', the API shows them
// 'approved', and the relay hands them to the provider's topic in row order, oldest approved batch
// first, then moves the batch to 'dispatching'. A batch still awaiting approval is never touched.
// Real PostgreSQL and the in-process transport the default run uses.
import { sql } from 'kysely';
import { pino } from 'pino';
import request from 'supertest';
import { createInProcessTransport } from '../../src/adapters/transport/in-process-transport.js';
import { topicNames, type DispatchMessage } from '../../src/application/messages.js';
import type { Delivery, Transport } from '../../src/application/ports.js';
import { relayDispatchOnce } from '../../src/application/relay.js';
import { bearer, postJson, startTestApi, type TestApi } from '../support/api.js';
import { batchDocument, setUpProgramme, sign, type PayoutLine } from '../support/fixtures.js';

let api: TestApi;
let transport: Transport;
const dispatched: DispatchMessage[] = [];
const topics = topicNames('release-test.');
const logger = pino({ level: 'silent' });

beforeAll(async () => {
  api = await startTestApi();
  transport = createInProcessTransport(logger);
  await transport.subscribe({
    topic: topics.dispatch('mpesa'),
    groupId: 'observer',
    concurrency: 1,
    handle: async (d: Delivery) => void dispatched.push(JSON.parse(d.value.toString('utf8')) as DispatchMessage),
  });
});
afterAll(async () => {
  await transport?.close();
  await api?.close();
});

const rowsOf = (tag: string, n: number): PayoutLine[] =>
  Array.from({ length: n }, (_, i) => ({ ref: `${tag}-${i}`, provider: 'mpesa', msisdn: `+2547230${String(10000 + i)}`, amount: `${100 + i}.00` }));

async function submitted(approvers: 0 | 1, tag: string, n: number) {
  const s = await setUpProgramme(api.persistence, 100_000_00n);
  await sql`UPDATE programmes SET approvals_required = ${approvers} WHERE id = ${s.programmeId}`.execute(api.database.db);
  const maker = await bearer(s.organisationId, 'programme_manager');
  const document = batchDocument(s, rowsOf(tag, n));
  const res = await postJson(api.app, '/v1/batches', maker, await sign(document, s.maker));
  expect(res.status).toBe(201);
  return { s, maker, document, body: res.body as { state: string; payouts: Record<string, { count: number }> } };
}

const relay = () => relayDispatchOnce({ persistence: api.persistence, transport, topics, chunkMax: 3, logger });
const storedStates = async (batchId: string) =>
  (await sql<{ state: string }>`SELECT state FROM payouts WHERE batch_id = ${batchId} ORDER BY row_no`.execute(api.database.db)).rows.map((r) => r.state);
const batchState = async (batchId: string) => (await sql<{ state: string }>`SELECT state FROM batches WHERE id = ${batchId}`.execute(api.database.db)).rows[0]!.state;
async function settled(count: number): Promise<void> {
  for (let i = 0; i < 200 && dispatched.length < count; i++) await new Promise((r) => setTimeout(r, 10));
}

describe('release of an approved batch', () => {
  it('when a batch is approved, then its payouts are shown approved, stored accepted, and no payout row was rewritten', async () => {
    const { maker, document, body } = await submitted(0, 'shown', 4);
    expect(body).toMatchObject({ state: 'approved', payouts: { approved: { count: 4 } } });
    expect(body.payouts.accepted).toBeUndefined();
    expect(await storedStates(document.batchId)).toEqual(['accepted', 'accepted', 'accepted', 'accepted']);
    const page = await request(api.app).get(`/v1/batches/${document.batchId}/payouts?state=approved`).set('authorization', maker);
    expect(page.status).toBe(200);
    expect(page.body.items.map((p: { ref: string; state: string }) => [p.ref, p.state])).toEqual([['shown-0', 'approved'], ['shown-1', 'approved'], ['shown-2', 'approved'], ['shown-3', 'approved']]);
    const none = await request(api.app).get(`/v1/batches/${document.batchId}/payouts?state=accepted`).set('authorization', maker);
    expect({ status: none.status, items: none.body.items }).toEqual({ status: 200, items: [] });
    const one = await request(api.app).get(`/v1/payouts/${page.body.items[0].payoutId}`).set('authorization', maker);
    expect(one.body).toMatchObject({ ref: 'shown-0', state: 'approved' });
    const transitions = await sql<{ n: string }>`SELECT count(*)::text AS n FROM payout_transitions t JOIN payouts p ON p.id = t.payout_id WHERE p.batch_id = ${document.batchId}`.execute(api.database.db);
    expect(transitions.rows[0]!.n).toBe('0');
  });

  it('when the relay runs, then it queues only approved batches\' payouts, oldest approval first and in row order, and marks each drained batch dispatching', async () => {
    // Drain whatever earlier tests approved, so this test sees only its own batches.
    for (let i = 0; i < 100 && (await relay()) > 0; i++);
    await settled(0);
    dispatched.length = 0;

    const waiting = await submitted(1, 'wait', 2);
    const first = await submitted(0, 'first', 4);
    const second = await submitted(0, 'second', 2);
    expect(await relay()).toBe(3);
    expect(await relay()).toBe(3); // first-3, then second-0 and second-1
    expect(await relay()).toBe(0);
    await settled(6);
    const ids = async (batchId: string) => (await sql<{ id: string }>`SELECT id FROM payouts WHERE batch_id = ${batchId} ORDER BY row_no`.execute(api.database.db)).rows.map((r) => r.id);
    expect(dispatched.map((m) => m.payoutId)).toEqual([...(await ids(first.document.batchId)), ...(await ids(second.document.batchId))]);

    expect(await storedStates(first.document.batchId)).toEqual(['queued', 'queued', 'queued', 'queued']);
    expect(await batchState(first.document.batchId)).toBe('dispatching');
    expect(await batchState(second.document.batchId)).toBe('dispatching');
    expect(await storedStates(waiting.document.batchId)).toEqual(['accepted', 'accepted']);
    expect(await batchState(waiting.document.batchId)).toBe('awaiting_approval');
    const view = await request(api.app).get(`/v1/batches/${first.document.batchId}`).set('authorization', first.maker);
    expect(view.body).toMatchObject({ state: 'dispatching', payouts: { queued: { count: 4 } } });
    const waitingView = await request(api.app).get(`/v1/batches/${waiting.document.batchId}`).set('authorization', waiting.maker);
    expect(waitingView.body).toMatchObject({ state: 'awaiting_approval', payouts: { accepted: { count: 2 } } });
  });

  it('when a dispatching batch is cancelled, then its queued payouts are cancelled and released', async () => {
    for (let i = 0; i < 100 && (await relay()) > 0; i++);
    const { maker, document } = await submitted(0, 'late', 2);
    for (let i = 0; i < 100 && (await relay()) > 0; i++);
    expect(await batchState(document.batchId)).toBe('dispatching');
    const res = await request(api.app).post(`/v1/batches/${document.batchId}/cancel`).set('authorization', maker);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ state: 'cancelled', cancelled: { count: 2, amount: '201.00' } });
  });
});

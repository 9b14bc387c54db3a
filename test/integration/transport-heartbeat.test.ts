// A handler that takes longer than the consumer's session (a provider that answers slowly, or a
// call waiting its turn under an account's rate limit) does not cost the consumer its membership:
// the transport heartbeats while it waits, so the group is not rebalanced and the message is not
// delivered a second time. And a handler that throws what kafkajs counts as unrecoverable (a
// TypeError) gets its message again after a backoff, like any failure, instead of stopping the
// consumer for good. And when a second member joins mid-call, the first finishes its calls while
// it goes on heartbeating before it gives its partitions up: no message is in two hands at once.
// Kafka only: the in-process transport has no sessions, no rebalances and no such give-up.
import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { createKafkaTransport, kafkaSessionTimeoutMsMin } from '../../src/adapters/kafka/kafka-transport.js';
import type { Delivery, Subscription, Transport } from '../../src/application/ports.js';
import { kafkaBrokers } from '../support/database.js';
import { net } from '../support/net.js';

const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
/** The shortest session a broker accepts by default (group.min.session.timeout.ms). */
const sessionTimeoutMs = kafkaSessionTimeoutMsMin;
/** Well past the session: without heartbeats during the wait, the broker expels the member. */
const slowHandlerMs = sessionTimeoutMs * 2 + 3_000;
const waitMs = 90_000;

/** Waits (at most waitMs) until `done`; on a timeout, says what was handled by then. */
const waitUntil = (done: () => boolean, what: string, handled: unknown) =>
  net.eventually(async () => (done() ? true : null), waitMs, what).catch((error: unknown) => {
    throw new Error(`${String(error)}; handled: ${JSON.stringify(handled)}`);
  });

describe('a handler slower than the Kafka session', () => {
  const prefix = `t${randomBytes(4).toString('hex')}`;
  const topics = { one: `${prefix}.hb-one`, window: `${prefix}.hb-window`, chunks: `${prefix}.hb-chunks` };
  const typeErrorTopics = { one: `${prefix}.te-one`, chunks: `${prefix}.te-chunks` };
  let transport: Transport;

  beforeAll(async () => {
    transport = await createKafkaTransport({ brokers: kafkaBrokers().split(','), clientId: 'heartbeat-test', topics: [...Object.values(topics), ...Object.values(typeErrorTopics)], partitions: 1, sessionTimeoutMs, logger });
  });
  afterAll(async () => transport?.close());

  it('when the first message takes twice the session, then every message is handled once, one at a time, in a window, and in chunks', async () => {
    const handled = { one: [] as string[], window: [] as string[], chunks: [] as string[] };
    const slowOnce = new Set<string>();
    const work = async (kind: keyof typeof handled, d: Delivery) => {
      handled[kind].push(d.key);
      if (d.key === 'k0' && !slowOnce.has(kind)) {
        slowOnce.add(kind);
        await new Promise((r) => setTimeout(r, slowHandlerMs));
      }
    };
    const subscriptions: Subscription[] = [
      await transport.subscribe({ topic: topics.one, groupId: `${topics.one}.group`, concurrency: 1, window: 1, handle: (d) => work('one', d) }),
      await transport.subscribe({ topic: topics.window, groupId: `${topics.window}.group`, concurrency: 1, window: 4, handle: (d) => work('window', d) }),
      await transport.subscribeChunks({
        topic: topics.chunks,
        groupId: `${topics.chunks}.group`,
        concurrency: 1,
        chunkMax: 2,
        handle: async (chunk) => {
          for (const d of chunk) await work('chunks', d);
        },
      }),
    ];
    try {
      const messages = ['k0', 'k1', 'k2', 'k3', 'k4'].map((key) => ({ key, value: Buffer.from(key) }));
      await Promise.all(Object.values(topics).map((t) => transport.publish(t, messages)));
      const all = () => Object.values(handled).every((h) => h.length >= messages.length);
      await waitUntil(all, 'every message on every topic', handled);
      // A member expelled while it waited would find its commit refused and get k0 again on rejoining.
      await new Promise((r) => setTimeout(r, sessionTimeoutMs));
      for (const kind of Object.keys(handled) as (keyof typeof handled)[]) {
        expect({ kind, keys: [...handled[kind]].sort() }).toEqual({ kind, keys: ['k0', 'k1', 'k2', 'k3', 'k4'] });
      }
    } finally {
      await Promise.all(subscriptions.map((s) => s.stop()));
    }
  }, 150_000);

  it('when a handler throws a TypeError, then the message comes again and the consumer goes on, one at a time and in chunks', async () => {
    const handled = { one: [] as string[], chunks: [] as string[] };
    const thrown = new Set<string>();
    const work = (kind: keyof typeof handled, d: Delivery) => {
      if (d.key === 'k1' && !thrown.has(kind)) {
        thrown.add(kind);
        // What a bug or a driver's surprise looks like: kafkajs gives a consumer up on it.
        throw new TypeError(`cannot read properties of undefined (${kind})`);
      }
      handled[kind].push(d.key);
    };
    const subscriptions: Subscription[] = [
      await transport.subscribe({ topic: typeErrorTopics.one, groupId: `${typeErrorTopics.one}.group`, concurrency: 1, handle: async (d) => work('one', d) }),
      await transport.subscribeChunks({
        topic: typeErrorTopics.chunks,
        groupId: `${typeErrorTopics.chunks}.group`,
        concurrency: 1,
        chunkMax: 1,
        handle: async (chunk) => {
          for (const d of chunk) work('chunks', d);
        },
      }),
    ];
    try {
      const messages = ['k0', 'k1', 'k2'].map((key) => ({ key, value: Buffer.from(key) }));
      await Promise.all(Object.values(typeErrorTopics).map((t) => transport.publish(t, messages)));
      const all = () => Object.values(handled).every((h) => h.length >= messages.length);
      await waitUntil(all, 'every message on both topics', handled);
      expect(thrown.size).toBe(2);
      expect(handled).toEqual({ one: ['k0', 'k1', 'k2'], chunks: ['k0', 'k1', 'k2'] });
      expect(await transport.ready()).toBe(true);
    } finally {
      await Promise.all(subscriptions.map((s) => s.stop()));
    }
  }, 150_000);

  it('when a second member joins while a slow message is in hand, then the first finishes it before giving up its partitions, and every message is handled, none in two hands at once', async () => {
    const topic = `${prefix}.hb-join`;
    const groupId = `${topic}.group`;
    const firstMember = await createKafkaTransport({ brokers: kafkaBrokers().split(','), clientId: 'heartbeat-test-2', topics: [topic], partitions: 2, sessionTimeoutMs, logger });
    const inHand = new Map<string, number>(); // key -> handlers running now
    const overlaps: string[] = [];
    const handled: { key: string; by: string }[] = [];
    let slowStarted = false;
    const handle = (by: string) => async (d: Delivery) => {
      const running = (inHand.get(d.key) ?? 0) + 1;
      inHand.set(d.key, running);
      if (running > 1) overlaps.push(`${d.key} by ${by} at ${d.position}`);
      try {
        if (d.key === 'slow' && !slowStarted) {
          slowStarted = true;
          await new Promise((r) => setTimeout(r, slowHandlerMs));
        }
        handled.push({ key: d.key, by });
      } finally {
        inHand.set(d.key, (inHand.get(d.key) ?? 1) - 1);
      }
    };
    const subscriptions: Subscription[] = [];
    try {
      subscriptions.push(await firstMember.subscribe({ topic, groupId, concurrency: 2, window: 4, handle: handle('first') }));
      const keys = ['slow', ...Array.from({ length: 19 }, (_, i) => `k${i}`)];
      await firstMember.publish(topic, keys.map((key) => ({ key, value: Buffer.from(key) })));
      await net.eventually(async () => (slowStarted ? true : null), waitMs, 'the slow message in hand');
      // A second member joins the group mid-call: the group rebalances around the first, which must
      // keep heartbeating while it finishes, or the broker drops it and hands its partition on.
      subscriptions.push(await transport.subscribe({ topic, groupId, concurrency: 2, window: 4, handle: handle('second') }));
      const distinct = () => new Set(handled.map((h) => h.key)).size;
      await waitUntil(() => distinct() >= keys.length, 'every message', handled);
      await new Promise((r) => setTimeout(r, sessionTimeoutMs));
      expect({ overlaps, handled }).toEqual({ overlaps: [], handled });
      expect(new Set(handled.map((h) => h.key))).toEqual(new Set(keys));
      // The slow message finished in the first member's hands and was committed before it let go.
      expect(handled.filter((h) => h.key === 'slow')).toEqual([{ key: 'slow', by: 'first' }]);
    } finally {
      await Promise.all(subscriptions.map((s) => s.stop()));
      await firstMember.close();
    }
  }, 150_000);
});

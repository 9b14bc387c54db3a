// Chunked delivery (issue #6 item 5: the settler applies results in bounded chunks). Over both
// transports, the real Kafka broker and the in-process one: no chunk is larger than asked, each
// key's messages arrive in the order they were published, a chunk whose handler failed is
// delivered again whole, and every message is handled.
import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { createKafkaTransport } from '../../src/adapters/kafka/kafka-transport.js';
import { createInProcessTransport } from '../../src/adapters/transport/in-process-transport.js';
import type { Transport } from '../../src/application/ports.js';
import { kafkaBrokers } from '../support/database.js';
import { net } from '../support/net.js';

const logger = pino({ level: 'silent' });
const waitMs = 45_000;
const chunkMax = 7;
const keys = ['a', 'b', 'c', 'd'];
const perKey = 25;

describe.each(['kafka', 'in-process'] as const)('chunked delivery over %s', (kind) => {
  const topic = `t${randomBytes(4).toString('hex')}.chunk-test`;
  let transport: Transport;

  beforeAll(async () => {
    transport = kind === 'kafka' ? await createKafkaTransport({ brokers: kafkaBrokers().split(','), clientId: 'chunk-test', topics: [topic], partitions: 2, logger }) : createInProcessTransport(logger);
  });
  afterAll(async () => transport?.close());

  it('when 100 messages of 4 keys are published, then chunks hold at most chunkMax, keys keep their order, a failed chunk comes again whole', async () => {
    const sizes: number[] = [];
    const seen = new Map<string, number[]>(); // per key, the sequence numbers in handling order
    let failed: string[] | null = null;
    let redelivered = false;
    const subscription = await transport.subscribeChunks({
      topic,
      groupId: `${topic}.group`,
      concurrency: 2,
      chunkMax,
      handle: async (chunk) => {
        const values = chunk.map((d) => d.value.toString('utf8'));
        sizes.push(chunk.length);
        if (failed === null && chunk.length > 1) {
          failed = values;
          throw new Error('the database went away');
        }
        if (failed !== null && !redelivered && values.includes(failed[0]!)) {
          // Everything the failed chunk held is back, from its first message on.
          expect(values.slice(0, failed.length)).toEqual(failed.slice(0, values.length));
          redelivered = true;
        }
        for (const d of chunk) {
          const [key, n] = d.value.toString('utf8').split(':') as [string, string];
          expect(d.key).toBe(key);
          seen.set(key, [...(seen.get(key) ?? []), Number(n)]);
        }
      },
    });
    try {
      const messages = [];
      for (let n = 0; n < perKey; n += 1) for (const key of keys) messages.push({ key, value: Buffer.from(`${key}:${n}`) });
      await transport.publish(topic, messages);
      await net.eventually(async () => (keys.every((k) => new Set(seen.get(k) ?? []).size === perKey) ? true : null), waitMs, 'every message');
      expect(Math.max(...sizes)).toBeLessThanOrEqual(chunkMax);
      expect(failed).not.toBeNull();
      expect(redelivered).toBe(true);
      for (const key of keys) {
        const order = seen.get(key)!;
        // At least once: a redelivery repeats a run, but never goes backwards within one.
        const distinct = order.filter((n, i) => order.indexOf(n) === i);
        expect(distinct).toEqual(Array.from({ length: perKey }, (_, n) => n));
      }
    } finally {
      await subscription.stop();
    }
  });
});

describe.each(['kafka', 'in-process'] as const)('a windowed subscription over %s', (kind) => {
  const topic = `t${randomBytes(4).toString('hex')}.window-test`;
  const window = 5;
  let transport: Transport;

  beforeAll(async () => {
    // One partition: whatever overlaps below overlaps within a partition.
    transport = kind === 'kafka' ? await createKafkaTransport({ brokers: kafkaBrokers().split(','), clientId: 'window-test', topics: [topic], partitions: 1, logger }) : createInProcessTransport(logger);
  });
  afterAll(async () => transport?.close());

  it('when messages take a while, then up to window of them are in hand at once, a failed one comes again, and everything finished is committed', async () => {
    const handled = new Set<string>();
    let inHand = 0;
    let most = 0;
    let failedOnce = false;
    const group = `${topic}.group`;
    const subscription = await transport.subscribe({
      topic,
      groupId: group,
      concurrency: 1,
      window,
      handle: async (d) => {
        inHand += 1;
        most = Math.max(most, inHand);
        try {
          await new Promise((r) => setTimeout(r, 5 + (d.value[0]! % 4) * 10));
          if (d.key === 'k7' && !failedOnce) {
            failedOnce = true;
            throw new Error('provider unavailable');
          }
          handled.add(d.key);
        } finally {
          inHand -= 1;
        }
      },
    });
    const total = 60;
    try {
      await transport.publish(topic, Array.from({ length: total }, (_, i) => ({ key: `k${i}`, value: Buffer.from([i]) })));
      await net.eventually(async () => (handled.size === total ? true : null), waitMs, 'every message');
      expect(failedOnce).toBe(true);
      expect(most).toBeGreaterThan(1);
      expect(most).toBeLessThanOrEqual(window);
    } finally {
      await subscription.stop();
    }
    if (kind === 'kafka') {
      // The group committed everything it finished: a new member of it gets nothing again.
      const again: string[] = [];
      const second = await transport.subscribe({ topic, groupId: group, concurrency: 1, window, handle: async (d) => void again.push(d.key) });
      try {
        await transport.publish(topic, [{ key: 'last', value: Buffer.from([0]) }]);
        await net.eventually(async () => (again.includes('last') ? true : null), waitMs, 'the message published after the restart');
        expect(again).toEqual(['last']);
      } finally {
        await second.stop();
      }
    }
  });
});

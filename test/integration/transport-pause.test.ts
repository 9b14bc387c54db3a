// A paused subscription (issue #6 item 2: a provider whose breakers are all open) fetches nothing,
// drops nothing and commits nothing past unfinished work; after resume every message is handled,
// a message whose handler failed while paused included. Both transports: the real Kafka broker
// and the in-process one.
import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { createKafkaTransport } from '../../src/adapters/kafka/kafka-transport.js';
import { createInProcessTransport } from '../../src/adapters/transport/in-process-transport.js';
import type { Transport } from '../../src/application/ports.js';
import { kafkaBrokers } from '../support/database.js';
import { net } from '../support/net.js';

const logger = pino({ level: 'silent' });
const waitMs = 45_000;

describe.each(['kafka', 'in-process'] as const)('pausing a subscription over %s', (kind) => {
  const topic = `t${randomBytes(4).toString('hex')}.pause-test`;
  let transport: Transport;

  beforeAll(async () => {
    transport = kind === 'kafka' ? await createKafkaTransport({ brokers: kafkaBrokers().split(','), clientId: 'pause-test', topics: [topic], logger }) : createInProcessTransport(logger);
  });
  afterAll(async () => transport?.close());

  it('when paused, then nothing is handled; when resumed, then everything is, once', async () => {
    const handled: string[] = [];
    let failFirst = true;
    const subscription = await transport.subscribe({
      topic,
      groupId: `${topic}.group`,
      concurrency: 2,
      handle: async (d) => {
        // The first delivery fails, as a worker does when its provider is unavailable.
        if (failFirst) {
          failFirst = false;
          subscription.pause();
          throw new Error('provider unavailable');
        }
        handled.push(d.key);
      },
    });
    try {
      await transport.publish(topic, [{ key: 'a', value: Buffer.from('1') }]);
      await net.eventually(async () => (!failFirst ? true : null), waitMs, 'the first delivery');
      await transport.publish(topic, [{ key: 'b', value: Buffer.from('2') }, { key: 'c', value: Buffer.from('3') }]);
      await new Promise((r) => setTimeout(r, 1_500));
      expect(handled).toEqual([]);
      subscription.resume();
      await net.eventually(async () => (handled.length >= 3 ? handled : null), waitMs, 'every message after resume');
      await new Promise((r) => setTimeout(r, 300));
      expect([...handled].sort()).toEqual(['a', 'b', 'c']);
    } finally {
      await subscription.stop();
    }
  });
});

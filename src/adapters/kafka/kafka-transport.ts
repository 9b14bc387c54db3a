// The Transport port on Apache Kafka (kafkajs). The producer is idempotent and waits for all
// in-sync replicas; consumers commit an offset only after the handler of that message resolved,
// i.e. after the work it carries is durable in PostgreSQL.
import { Kafka, logLevel, type Consumer, type LogEntry, type Producer } from 'kafkajs';
import type { Logger } from 'pino';
import type { Delivery, Subscription, Transport } from '../../application/ports.js';

/** Partitions of each topic Tuma creates: the ceiling of consumer parallelism per group. */
export const topicPartitions = 6;
/** A failing handler is retried after this long at most (doubling from 100 ms). */
export const handlerRetryBackoffMaxMs = 5_000;
const readyTimeoutMs = 3_000;

export interface KafkaTransportOptions {
  readonly brokers: readonly string[];
  readonly clientId: string;
  readonly topics: readonly string[];
  readonly logger: Logger;
}

function pinoLogCreator(logger: Logger) {
  return () =>
    ({ level, log }: LogEntry) => {
      const { message, ...extra } = log;
      const fields = { kafka: extra };
      if (level === logLevel.ERROR) logger.error(fields, message);
      else if (level === logLevel.WARN) logger.warn(fields, message);
      else logger.debug(fields, message);
    };
}

export async function createKafkaTransport(options: KafkaTransportOptions): Promise<Transport> {
  const logger = options.logger.child({ component: 'kafka' });
  const kafka = new Kafka({
    clientId: options.clientId,
    brokers: [...options.brokers],
    logLevel: logLevel.WARN,
    logCreator: pinoLogCreator(logger),
    retry: { initialRetryTime: 200, retries: 8, maxRetryTime: 5_000 },
  });
  const admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin, options.topics);
  // One in-flight request keeps the idempotent producer's ordering guarantee in kafkajs.
  const producer: Producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
  await producer.connect();
  const consumers = new Set<Consumer>();

  return {
    async publish(topic, messages) {
      if (messages.length === 0) return;
      await producer.send({ topic, acks: -1, messages: messages.map((m) => ({ key: m.key, value: m.value })) });
    },

    async subscribe({ topic, groupId, concurrency, handle }): Promise<Subscription> {
      const consumer = kafka.consumer({ groupId, allowAutoTopicCreation: false, sessionTimeout: 30_000, heartbeatInterval: 3_000 });
      consumers.add(consumer);
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      const failures = new Map<string, number>();
      await consumer.run({
        autoCommit: false,
        partitionsConsumedConcurrently: concurrency,
        eachMessage: async ({ partition, message }) => {
          const position = `${topic}/${partition}@${message.offset}`;
          const delivery: Delivery = { topic, key: message.key?.toString('utf8') ?? '', value: message.value ?? Buffer.alloc(0), position };
          try {
            await handle(delivery);
          } catch (error) {
            const failed = (failures.get(position) ?? 0) + 1;
            failures.set(position, failed);
            logger.warn({ err: error, position, failed }, 'handler failed; the message will be delivered again');
            // Not committed: kafkajs re-fetches from this offset. The pause keeps it from spinning.
            await new Promise((r) => setTimeout(r, Math.min(handlerRetryBackoffMaxMs, 100 * 2 ** Math.min(failed, 10))));
            throw error;
          }
          failures.delete(position);
          await consumer.commitOffsets([{ topic, partition, offset: (BigInt(message.offset) + 1n).toString() }]);
        },
      });
      return {
        async stop() {
          // disconnect() lets the message in hand finish; its offset is committed by the handler above.
          await consumer.disconnect();
          consumers.delete(consumer);
        },
      };
    },

    async ready() {
      const probe = admin.describeCluster().then((c) => c.brokers.length > 0, () => false);
      const timeout = new Promise<boolean>((resolve) => setTimeout(() => resolve(false), readyTimeoutMs).unref());
      return Promise.race([probe, timeout]);
    },

    async close() {
      await Promise.all([...consumers].map((c) => c.disconnect()));
      consumers.clear();
      await producer.disconnect();
      await admin.disconnect();
    },
  };
}

async function ensureTopics(admin: ReturnType<Kafka['admin']>, topics: readonly string[]): Promise<void> {
  const existing = new Set(await admin.listTopics());
  const missing = topics.filter((t) => !existing.has(t));
  if (missing.length === 0) return;
  await admin.createTopics({
    waitForLeaders: true,
    topics: missing.map((topic) => ({ topic, numPartitions: topicPartitions })),
  });
}

// What the benchmark harnesses share about their local services: a free port on 127.0.0.1 and
// removing a run's own Kafka topics (its prefix) from the broker at the end.
import { createServer } from 'node:net';
import { Kafka, logLevel } from 'kafkajs';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** The run's own topics (its prefix) are removed from the broker. */
export async function deleteTopics(brokers: string, prefix: string, clientId: string): Promise<void> {
  const admin = new Kafka({ clientId, brokers: [brokers], logLevel: logLevel.NOTHING, retry: { retries: 2 } }).admin();
  await admin.connect();
  try {
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(prefix));
    if (topics.length > 0) await admin.deleteTopics({ topics, timeout: 10_000 });
  } finally {
    await admin.disconnect();
  }
}

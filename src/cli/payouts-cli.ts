// `tuma payouts requeue <payoutId>...`: the operators' way to send stuck payouts on again
// (application/requeue-payout.ts says which, and how). Needs DATABASE_URL; a queued payout's
// dispatch message is republished to KAFKA_BROKERS.
import { parseArgs } from 'node:util';
import type { Logger } from 'pino';
import { createKafkaTransport } from '../adapters/kafka/kafka-transport.js';
import { kyselyPersistence } from '../adapters/db/persistence.js';
import { createDb } from '../adapters/db/pool.js';
import { allTopics, topicNames } from '../application/messages.js';
import type { Transport } from '../application/ports.js';
import { requeuePayout } from '../application/requeue-payout.js';
import type { Config } from '../config/config.js';

/** Payouts one command requeues at most: a bigger incident is a script's job, reviewed first. */
export const requeuePayoutsMax = 1_000;
const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const usage = `usage: tuma payouts requeue <payoutId>... (at most ${requeuePayoutsMax})`;

export async function runPayoutsCli(argv: readonly string[], cfg: Config, logger: Logger, out: (line: string) => void, err: (line: string) => void): Promise<number> {
  const { positionals } = parseArgs({ args: [...argv], allowPositionals: true, strict: false, options: { dev: { type: 'boolean' } } });
  const [sub, ...ids] = positionals;
  if (sub !== 'requeue' || ids.length === 0 || ids.length > requeuePayoutsMax) {
    err(usage);
    return 2;
  }
  const bad = ids.filter((id) => !uuidPattern.test(id.toLowerCase()));
  if (bad.length > 0) {
    err(`tuma payouts requeue: not a payout id: ${bad.slice(0, 5).join(', ')}`);
    return 2;
  }
  if (!cfg.database.url) {
    err('tuma payouts requeue: needs DATABASE_URL (and KAFKA_BROKERS for queued payouts)');
    return 78;
  }
  const handle = createDb(cfg.database.url, 2, logger);
  const topics = topicNames(cfg.kafka.topicPrefix);
  let transport: Transport | null = null;
  try {
    if (cfg.kafka.brokers) transport = await createKafkaTransport({ brokers: cfg.kafka.brokers, clientId: `${cfg.kafka.clientId}-requeue`, topics: allTopics(topics), logger });
    const persistence = kyselyPersistence(handle.db, handle.pool);
    let failed = 0;
    for (const id of ids.map((i) => i.toLowerCase())) {
      const result = await requeuePayout({ persistence, transport, topics, now: () => new Date() }, id);
      if (result.ok) out(`${id}: ${result.value.replaceAll('_', ' ')}`);
      else {
        failed++;
        err(`${id}: ${result.error.code} (${result.error.detail})`);
      }
    }
    return failed === 0 ? 0 : 1;
  } finally {
    await transport?.close();
    await handle.close();
  }
}

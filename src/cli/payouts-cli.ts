// `tuma payouts requeue <payoutId>...`: the operators' way to send stuck payouts on again
// (application/requeue-payout.ts says which, and how). Needs DATABASE_URL; a queued payout's
// dispatch message is republished to KAFKA_BROKERS.
import { userInfo } from 'node:os';
import { parseArgs } from 'node:util';
import type { Logger } from 'pino';
import { createKafkaTransport } from '../adapters/kafka/kafka-transport.js';
import { kyselyPersistence } from '../adapters/db/persistence.js';
import { createDb } from '../adapters/db/pool.js';
import { allTopics, topicNames } from '../application/messages.js';
import type { Transport } from '../application/ports.js';
import { requeuePayout } from '../application/requeue-payout.js';
import type { ToolConfig } from '../config/config.js';
import { formatAmount } from '../domain/money.js';

/** Payouts one command requeues at most: a bigger incident is a script's job, reviewed first. */
export const requeuePayoutsMax = 1_000;
const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** Held payouts listed per page at most. */
export const heldPageMax = 1_000;
const usage = `usage: tuma payouts requeue <payoutId>... (at most ${requeuePayoutsMax})\n       tuma payouts held [--after <cursor>] [--limit <n>] (at most ${heldPageMax})`;

export async function runPayoutsCli(argv: readonly string[], cfg: ToolConfig, logger: Logger, out: (line: string) => void, err: (line: string) => void): Promise<number> {
  const { positionals } = parseArgs({ args: [...argv], allowPositionals: true, strict: false, options: { dev: { type: 'boolean' } } });
  const [sub, ...ids] = positionals;
  if (sub === 'held') return listHeld(argv, cfg, logger, out, err);
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
      const result = await requeuePayout({ persistence, transport, topics, now: () => new Date(), actor: `operator:${operatorName()}` }, id);
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

/**
 * `tuma payouts held`: the payouts held for finance (a provider reported an amount, currency,
 * receiving number or receipt that differs from the payout), oldest first, one JSON line each with
 * what differed; never a phone number or a name. The last line names the next page's `--after`.
 */
async function listHeld(argv: readonly string[], cfg: ToolConfig, logger: Logger, out: (line: string) => void, err: (line: string) => void): Promise<number> {
  let values: { after?: string | boolean; limit?: string | boolean };
  try {
    ({ values } = parseArgs({ args: argv.slice(1).filter((a) => a !== '--dev'), allowPositionals: false, strict: true, options: { after: { type: 'string' }, limit: { type: 'string' } } }));
  } catch {
    err(usage);
    return 2;
  }
  const limit = values.limit === undefined ? 100 : /^[1-9][0-9]{0,3}$/.test(String(values.limit)) ? Number(values.limit) : NaN;
  const afterMatch = values.after === undefined ? null : /^([0-9]{1,18}):([0-9a-f-]{36})$/.exec(String(values.after).toLowerCase());
  if (!(limit >= 1 && limit <= heldPageMax) || (values.after !== undefined && (!afterMatch || !uuidPattern.test(afterMatch[2]!)))) {
    err(usage);
    return 2;
  }
  if (!cfg.database.url) {
    err('tuma payouts held: needs DATABASE_URL');
    return 78;
  }
  const handle = createDb(cfg.database.url, 2, logger);
  try {
    const persistence = kyselyPersistence(handle.db, handle.pool);
    const page = await persistence.read.payouts.listHeld(afterMatch ? { micros: BigInt(afterMatch[1]!), id: afterMatch[2]! } : null, limit);
    const exceptions = await persistence.read.payouts.exceptionsOf(page.map((h) => h.payout.id));
    for (const { payout: p } of page) {
      out(JSON.stringify({
        payoutId: p.id,
        organisationId: p.organisationId,
        batchId: p.batchId,
        provider: p.provider,
        amount: formatAmount(p.amountMinor, p.currency),
        currency: p.currency,
        providerReference: p.providerReference,
        heldSince: p.updatedAt.toISOString(),
        exceptions: exceptions.filter((e) => e.payoutId === p.id).map((e) => ({ kind: e.kind, detail: e.detail })),
      }));
    }
    const last = page.length === limit ? page[page.length - 1] : undefined;
    out(JSON.stringify({ next: last ? last.cursor : null }));
    return 0;
  } finally {
    await handle.close();
  }
}

/** The operator running the command, for the audit log: the OS user (a server command has no token). */
function operatorName(): string {
  let name = '';
  try {
    name = userInfo().username;
  } catch {
    // no passwd entry (a container's arbitrary uid): unknown
  }
  return /^[A-Za-z0-9._-]{1,64}$/.test(name) ? name : 'unknown';
}

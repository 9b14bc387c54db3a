// `tuma callbacks orphans [--after <id>] [--limit <n>]`: the callbacks kept for no payout Tuma
// knows (issue #5 item 3: "kept as an orphan for finance"), oldest first, one JSON line each:
// id, provider, dedupe key (the provider's transaction or our idempotency key) and when it came.
// Never the body: it is sealed, and may name the person paid. A last line says where the next page
// starts. Needs DATABASE_URL.
import { parseArgs } from 'node:util';
import type { Logger } from 'pino';
import { kyselyPersistence } from '../adapters/db/persistence.js';
import { createDb } from '../adapters/db/pool.js';
import type { ToolConfig } from '../config/config.js';

/** Orphans one call lists at most (the default is a screenful). */
export const orphansListMax = 1_000;
const orphansListDefault = 100;
const usage = `usage: tuma callbacks orphans [--after <id>] [--limit <1..${orphansListMax}>]`;
const idPattern = /^(0|[1-9]\d{0,18})$/;

export async function runCallbacksCli(argv: readonly string[], cfg: ToolConfig, logger: Logger, out: (line: string) => void, err: (line: string) => void): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], allowPositionals: true, strict: true, options: { dev: { type: 'boolean' }, after: { type: 'string' }, limit: { type: 'string' } } });
  } catch (error) {
    err(`tuma callbacks: ${(error as Error).message}\n${usage}`);
    return 2;
  }
  const { positionals, values } = parsed;
  if (positionals.length !== 1 || positionals[0] !== 'orphans') {
    err(usage);
    return 2;
  }
  const after = values.after ?? '0';
  const limit = values.limit ?? String(orphansListDefault);
  // Whole numbers only: the cursor is a bigint id, and PostgreSQL's bigint ends at 19 digits.
  if (!idPattern.test(after) || BigInt(after) > 9_223_372_036_854_775_807n) {
    err(`tuma callbacks orphans: --after is a callback id (a whole number)\n${usage}`);
    return 2;
  }
  if (!/^[1-9]\d{0,3}$/.test(limit) || Number(limit) > orphansListMax) {
    err(`tuma callbacks orphans: --limit is a whole number from 1 to ${orphansListMax}\n${usage}`);
    return 2;
  }
  if (!cfg.database.url) {
    err('tuma callbacks orphans: needs DATABASE_URL');
    return 78;
  }
  const handle = createDb(cfg.database.url, 1, logger);
  try {
    const orphans = await kyselyPersistence(handle.db, handle.pool).read.callbacks.listOrphans(BigInt(after), Number(limit));
    for (const o of orphans) out(JSON.stringify({ id: o.id.toString(), provider: o.provider, dedupeKey: o.dedupeKey, receivedAt: o.receivedAt.toISOString() }));
    const last = orphans.at(-1);
    out(JSON.stringify(orphans.length === Number(limit) && last ? { next: `--after ${last.id}` } : { next: null }));
    return 0;
  } finally {
    await handle.close();
  }
}

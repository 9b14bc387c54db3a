// `tuma audit verify`: an auditor's check of the audit log without trusting the service that
// wrote it. Exits 0 printing the head when every link holds, 1 with a report naming the first
// broken link, 2 on bad arguments, 78 without DATABASE_URL.
import { parseArgs } from 'node:util';
import type { Logger } from 'pino';
import { kyselyPersistence } from '../adapters/db/persistence.js';
import { createDb } from '../adapters/db/pool.js';
import { auditAnchorsMax, verifyAuditLog, type AuditAnchor, type AuditVerifyReport } from '../application/audit.js';

const auditUsage = `usage: tuma audit verify [--json] [--anchor <seq>:<sha256 hex>]... (at most ${auditAnchorsMax})
              recompute the audit log's hash chain; exit 1 naming the first broken link.
              An anchor is a head printed by an earlier verify: the chain must still hold it.`;

function parseAnchor(text: string): AuditAnchor | null {
  const m = /^([0-9]{1,19}):([0-9a-f]{64})$/.exec(text);
  return m ? { seq: BigInt(m[1]!), hash: Buffer.from(m[2]!, 'hex') } : null;
}

function parse(argv: readonly string[]): { json: boolean; anchors: AuditAnchor[] } | string {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: { json: { type: 'boolean', default: false }, anchor: { type: 'string', multiple: true, default: [] }, dev: { type: 'boolean', default: false } },
    });
  } catch (error) {
    return `tuma audit: ${error instanceof Error ? error.message : String(error)}`;
  }
  const { positionals, values } = parsed;
  if (positionals.length !== 1 || positionals[0] !== 'verify') return auditUsage;
  const texts = values.anchor ?? [];
  if (texts.length > auditAnchorsMax) return `tuma audit: at most ${auditAnchorsMax} anchors`;
  const anchors: AuditAnchor[] = [];
  for (const a of texts) {
    const anchor = parseAnchor(a);
    if (!anchor) return `tuma audit: --anchor must be <seq>:<64 hex digits>, got ${JSON.stringify(a)}`;
    anchors.push(anchor);
  }
  return { json: values.json === true, anchors };
}

/** `databaseUrl`: DATABASE_URL, the only setting it needs (an auditor's machine has none of the server's secrets). */
export async function runAuditCli(argv: readonly string[], databaseUrl: string | null, logger: Logger, out: (line: string) => void, err: (line: string) => void): Promise<number> {
  const args = parse(argv);
  if (typeof args === 'string') {
    err(args);
    return 2;
  }
  if (!databaseUrl) {
    err('tuma audit: needs DATABASE_URL');
    return 78;
  }
  const handle = createDb(databaseUrl, 2, logger);
  try {
    const report = await verifyAuditLog(kyselyPersistence(handle.db, handle.pool), { anchors: args.anchors });
    if (args.json) out(JSON.stringify(report, null, 2));
    else printReport(report, out);
    return report.ok ? 0 : 1;
  } finally {
    await handle.close();
  }
}

function printReport(r: AuditVerifyReport, out: (line: string) => void): void {
  out(`audit verify: ${r.ok ? 'OK' : `${r.problemCount} PROBLEM${r.problemCount === 1 ? '' : 'S'}`}`);
  out(`  events ${r.events}, head ${r.head ? `${r.head.seq}:${r.head.hash}` : 'none'}`);
  if (r.firstBroken) out(`  first broken link: seq ${r.firstBroken.seq} (${r.firstBroken.kind}): ${r.firstBroken.detail}`);
  for (const p of r.problems) out(`  ${p.kind}${p.seq ? ` [seq ${p.seq}]` : ''}: ${p.detail}`);
  if (r.problemCount > r.problems.length) out(`  … and ${r.problemCount - r.problems.length} more`);
}

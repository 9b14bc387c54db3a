// `tuma ledger verify` and `tuma ledger chain`: finance's tools to check the ledger without
// trusting the service that wrote it. verify exits 0 when every invariant holds, 1 otherwise,
// with a report precise enough to find each bad row.
import { parseArgs } from 'node:util';
import type { Logger } from 'pino';
import { embeddedUrl } from '../adapters/db/embedded-postgres.js';
import { kyselyPersistence } from '../adapters/db/persistence.js';
import { createDb } from '../adapters/db/pool.js';
import { chainOnce, chainBatchMax, verifyLedger, type Anchor, type VerifyReport } from '../application/ledger-chain.js';
import type { ToolConfig } from '../config/config.js';
import { isCurrencyCode } from '../domain/currency.js';
import { formatAmount } from '../domain/money.js';

/** Steps `ledger chain` takes before it gives up catching up (each links up to chainBatchMax). */
export const chainStepsMax = 10_000;

const ledgerUsage = `usage: tuma ledger <verify|chain> [options]
  verify [--json] [--anchor <seq>:<sha256 hex>]...
              recompute the hash chain and every ledger invariant; exit 1 on any problem.
              An anchor is a head printed by an earlier verify: the chain must still hold it.
  chain       link every transfer that is final now, then exit`;

function parseAnchor(text: string): Anchor | null {
  const m = /^([0-9]{1,19}):([0-9a-f]{64})$/.exec(text);
  return m ? { seq: BigInt(m[1]!), hash: Buffer.from(m[2]!, 'hex') } : null;
}

export async function runLedgerCli(argv: readonly string[], cfg: ToolConfig, logger: Logger, out: (line: string) => void): Promise<number> {
  const { positionals, values } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: { json: { type: 'boolean', default: false }, anchor: { type: 'string', multiple: true, default: [] }, dev: { type: 'boolean', default: false } },
  });
  const sub = positionals[0];
  if (sub !== 'verify' && sub !== 'chain') {
    out(ledgerUsage);
    return 2;
  }
  const anchors: Anchor[] = [];
  for (const a of values.anchor ?? []) {
    const anchor = parseAnchor(a);
    if (!anchor) {
      out(`tuma ledger: --anchor must be <seq>:<64 hex digits>, got ${JSON.stringify(a)}`);
      return 2;
    }
    anchors.push(anchor);
  }
  const url = cfg.database.url ?? (cfg.devMode ? embeddedUrl(cfg.database.embeddedDataDir, cfg.database.embeddedPort) : null);
  if (!url) {
    out('tuma ledger: needs DATABASE_URL (or, in dev mode, a running `tuma start` with its embedded PostgreSQL)');
    return 78;
  }
  const handle = createDb(url, 2, logger);
  try {
    const persistence = kyselyPersistence(handle.db, handle.pool);
    if (sub === 'chain') {
      let linked = 0;
      for (let i = 0; i < chainStepsMax; i++) {
        const step = await chainOnce(persistence);
        linked += step.linked;
        if (step.linked < chainBatchMax) {
          out(`linked ${linked} transfers; head ${step.head.seq ?? 'none'} ${step.head.hash?.toString('hex') ?? ''}`.trim());
          return 0;
        }
      }
      out(`linked ${linked} transfers and stopped after ${chainStepsMax} steps; run it again`);
      return 0;
    }
    const report = await verifyLedger(persistence, { anchors });
    if (values.json) out(JSON.stringify(report, null, 2));
    else printReport(report, out);
    return report.ok ? 0 : 1;
  } finally {
    await handle.close();
  }
}

function printReport(r: VerifyReport, out: (line: string) => void): void {
  out(`ledger verify: ${r.ok ? 'OK' : `${r.problemCount} PROBLEM${r.problemCount === 1 ? '' : 'S'}`}`);
  out(`  transfers ${r.transfers} (chained ${r.chained}, awaiting the chainer ${r.awaitingChain}), accounts ${r.accounts}`);
  out(`  chain head ${r.head.seq ?? 'none'}${r.head.hash ? `:${r.head.hash}` : ''}`);
  for (const l of r.ledgers) {
    const show = (minor: string) => (isCurrencyCode(l.currency) ? formatAmount(BigInt(minor), l.currency) : `${minor} minor units`);
    out(`  ledger ${l.currency}: Σ debits ${show(l.debits)} ${l.balanced ? '=' : '≠'} Σ credits ${show(l.credits)}`);
  }
  for (const p of r.problems) {
    const where = [p.seq ? `seq ${p.seq}` : null, p.transferId ? `transfer ${p.transferId}` : null].filter(Boolean).join(' ');
    out(`  ${p.kind}${where ? ` [${where}]` : ''}: ${p.detail}`);
  }
  if (r.problemCount > r.problems.length) out(`  … and ${r.problemCount - r.problems.length} more`);
}

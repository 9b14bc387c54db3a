// npm run fuzz — the fuzz targets of test/fuzz/ (the same properties the test suite runs with a
// few hundred inputs), each with FUZZ_RUNS generated inputs (default 10,000): the batch document
// (POST /v1/batches), the CSV rows of `tuma batch build`, the provider callbacks and the
// reconciliation statement imports. Properties: never a 5xx, never a partial write (a refusal
// stores nothing), every refusal a documented error code; see each target's header.
// Bounded: each target stops generating after FUZZ_TIME_LIMIT_S (default 900 s) and reports the
// runs it made; each API target works on a fresh database on the local PostgreSQL that it creates
// and drops (FUZZ_DATABASE_ADMIN_URL, else TEST_DATABASE_ADMIN_URL, else postgres on 127.0.0.1).
// FUZZ_TARGETS=batch,csv,callbacks,statements runs some of them; FUZZ_SEED replays a run.
// Prints a table (target, runs, 2xx, refusals by code, known defects, seconds) and a last JSON line;
// exits 1 when a property failed (the shrunk input and the seed are printed).
import { fuzzBatch } from '../test/fuzz/batch.js';
import { fuzzCallbacks } from '../test/fuzz/callbacks.js';
import type { FuzzOptions, FuzzReport } from '../test/fuzz/common.js';
import { fuzzBatchCsv } from '../test/fuzz/csv.js';
import { fuzzStatements } from '../test/fuzz/statements.js';

const runs = Number(process.env.FUZZ_RUNS ?? 10_000);
const timeLimitS = Number(process.env.FUZZ_TIME_LIMIT_S ?? 900);
const adminUrl = process.env.FUZZ_DATABASE_ADMIN_URL ?? process.env.TEST_DATABASE_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const seed = process.env.FUZZ_SEED;

const targets: Record<string, (runs: number, options: FuzzOptions) => Promise<FuzzReport>> = {
  batch: fuzzBatch,
  csv: fuzzBatchCsv,
  callbacks: fuzzCallbacks,
  statements: fuzzStatements,
};

function usage(problem: string): never {
  process.stderr.write(`npm run fuzz: ${problem}\n`);
  process.exit(2);
}

async function main(): Promise<void> {
  if (!Number.isInteger(runs) || runs < 1 || runs > 10_000_000) usage('FUZZ_RUNS is a positive integer');
  if (!(timeLimitS > 0)) usage('FUZZ_TIME_LIMIT_S is a positive number of seconds');
  if (seed !== undefined && !/^-?\d+$/.test(seed)) usage('FUZZ_SEED is an integer');
  const host = new URL(adminUrl).hostname;
  if (host !== '127.0.0.1' && host !== 'localhost') usage('the fuzz run talks to a local PostgreSQL only');
  // test/support/database.ts creates (and drops) each target's database through this URL.
  process.env.TEST_DATABASE_ADMIN_URL = adminUrl;
  const chosen = (process.env.FUZZ_TARGETS ?? Object.keys(targets).join(',')).split(',').map((t) => t.trim()).filter((t) => t !== '');
  for (const t of chosen) if (!targets[t]) usage(`unknown target ${t}; the targets are ${Object.keys(targets).join(', ')}`);

  const reports: (FuzzReport & { readonly name: string })[] = [];
  for (const name of chosen) {
    process.stdout.write(`fuzzing ${name}: ${runs} inputs at most, ${timeLimitS} s at most\n`);
    const options: FuzzOptions = { timeLimitMs: timeLimitS * 1000, ...(seed !== undefined ? { seed: Number(seed) } : {}) };
    const report = await targets[name]!(runs, options);
    reports.push({ ...report, name });
    if (report.failure) process.stdout.write(`  FAILED (seed ${report.seed}):\n${report.failure.split('\n').map((l) => `    ${l}`).join('\n')}\n`);
  }

  const codes = (r: Readonly<Record<string, number>>) => Object.entries(r).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`);
  const rows = reports.map((r) => ({
    target: r.target,
    runs: `${r.runs}${r.interrupted ? ' (time limit)' : ''}`,
    accepted: String(r.accepted),
    refused: codes(r.refusals),
    known: codes(r.knownDefects),
    seconds: r.seconds.toFixed(1),
    result: r.failure ? `FAILED (seed ${r.seed})` : 'held',
  }));
  const widths = {
    target: Math.max(6, ...rows.map((r) => r.target.length)),
    runs: Math.max(4, ...rows.map((r) => r.runs.length)),
    accepted: Math.max(8, ...rows.map((r) => r.accepted.length)),
    refused: Math.max(17, ...rows.flatMap((r) => r.refused.map((c) => c.length))),
  };
  const line = (a: string, b: string, c: string, d: string, e: string, f: string, g: string) =>
    `  ${a.padEnd(widths.target)}  ${b.padStart(widths.runs)}  ${c.padStart(widths.accepted)}  ${d.padEnd(widths.refused)}  ${e.padStart(7)}  ${f.padEnd(7)}  ${g}\n`;
  process.stdout.write('\n');
  process.stdout.write(line('target', 'runs', '2xx/ok', 'refusals by code', 'seconds', 'result', 'known defects (skipped BUG tests) and inputs kept off'));
  for (const r of rows) {
    const height = Math.max(1, r.refused.length, r.known.length);
    for (let i = 0; i < height; i++) {
      process.stdout.write(i === 0
        ? line(r.target, r.runs, r.accepted, r.refused[0] ?? '-', r.seconds, r.result, r.known[0] ?? '-')
        : line('', '', '', r.refused[i] ?? '', '', '', r.known[i] ?? ''));
    }
  }
  process.stdout.write('\n');
  const held = reports.every((r) => r.failure === null);
  process.stdout.write(`${JSON.stringify({
    runs_requested: runs,
    held,
    targets: Object.fromEntries(reports.map((r) => [r.name, {
      runs: r.runs, interrupted: r.interrupted, accepted: r.accepted, refusals: r.refusals, known_defects: r.knownDefects, seconds: r.seconds, seed: r.seed, failed: r.failure !== null,
    }])),
  })}\n`);
  process.exitCode = held ? 0 : 1;
}

main().catch((error: unknown) => {
  process.stderr.write(`npm run fuzz: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});

// npm run bench:recon — one M-Pesa organisation portal statement (the real CSV format: header
// block, 13 columns, "1,020.00" amounts, EAT times) of BENCH_LINES lines (default 1,000,000)
// reconciled against as many ledger payouts, through importStatement as the API and CLI will call
// it: bytes → SHA-256 + sealed chunks + COPY into the staging table → one set-based pass (cast,
// validate, insert lines, hash join with the account's payouts, classify, write items).
// Injected differences, found again exactly: every 200th payout has no line (missing at the
// provider), every 233rd line pays 1.00 more, every 701st line failed, every 1000th payout has a
// second line, and 4,000 lines name receipts the ledger does not know.
// Bounded: one statement on disk under a temporary directory (removed), one fresh database on
// 127.0.0.1 (dropped). lines_per_s = statement lines / the import's wall time, end to end.
// Profiling: every query of the import is timed by what it is (the readable table lists the slow
// ones); BENCH_KEEP_DATABASE=1 keeps the database (its name is printed) to read plans in;
// BENCH_EXPLAIN=1 also runs EXPLAIN (ANALYZE, BUFFERS) of each statement of the pass first, in a
// savepoint rolled back, and prints the plans (the figures are then not the import's own).
// Where the server's process can be read (/proc: PostgreSQL on this machine), each query's CPU
// seconds in the server are listed beside its wall time: on a shared machine the wall time varies
// with the load, the CPU much less.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { once } from 'node:events';
import pg from 'pg';
import { pino } from 'pino';
import { AesGcmVault } from '../src/adapters/crypto/vault.js';
import { migrateToLatest } from '../src/adapters/db/migrate.js';
import { kyselyPersistence } from '../src/adapters/db/persistence.js';
import { createDb } from '../src/adapters/db/pool.js';
import { statementStore } from '../src/adapters/db/reconciliation.repository.js';
import type { StatementStore } from '../src/application/ports.js';
import { importStatement } from '../src/application/reconcile.js';
import { setUpBenchProgramme } from './bench-programme.js';

const payouts = Number(process.env.BENCH_LINES ?? 1_000_000);
const linesMax = 1_000_000;
const accountId = 'mpesa-ke-bench';
/** Bytes per read of the statement file: large reads keep COPY's per-chunk overhead low. */
const readChunkBytes = 4 * 1024 * 1024;
const rssSampleMs = 50;
const keepDatabase = process.env.BENCH_KEEP_DATABASE === '1';
const explain = process.env.BENCH_EXPLAIN === '1';
const checkpointFirst = process.env.BENCH_CHECKPOINT === '1';
/** BENCH_EXPLAIN_TIMING=1: the plans with each node's time (the clock reads inflate them; compare nodes, not totals). */
const explainTiming = process.env.BENCH_EXPLAIN_TIMING === '1';
/** Queries at least this long are listed in the table. */
const slowQueryS = 0.05;
const adminUrl = process.env.BENCH_DATABASE_ADMIN_URL ?? process.env.TEST_DATABASE_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
/** May 2026 in East Africa Time, as [from, to). */
const period = { from: new Date('2026-04-30T21:00:00Z'), to: new Date('2026-05-31T21:00:00Z') };

function databaseUrl(name: string): string {
  const u = new URL(adminUrl);
  if (u.hostname !== '127.0.0.1' && u.hostname !== 'localhost') throw new Error('the benchmark talks to a local PostgreSQL only');
  u.pathname = `/${name}`;
  return u.toString();
}

const seconds = (from: bigint) => Number(process.hrtime.bigint() - from) / 1e9;
const peakRssMb = (): number => {
  const line = readFileSync('/proc/self/status', 'utf8').split('\n').find((l) => l.startsWith('VmHWM:'));
  return line ? Math.round(Number(line.replace(/\D+/g, '')) / 1024) : 0;
};

/** The ledger: `payouts` paid payouts through the bench account, receipt R<i>, amounts 100.00 to 1,099.00. */
async function insertLedger(pool: pg.Pool, organisationId: string, programmeId: string, makerKid: string): Promise<void> {
  await pool.query(
    `INSERT INTO batches (id, organisation_id, programme_id, currency, state, payout_count, total_minor, payload_enc, payload_sha256, signatures, maker_kid, document_created_at, expires_at)
     VALUES ('00000000-0000-4000-8000-000000000001', $1, $2, 'KES', 'completed', $3, 1, '\\x00', '\\x00', '[]', $4, now(), now() + interval '1 day')`,
    [organisationId, programmeId, payouts, makerKid],
  );
  await pool.query(`INSERT INTO payouts (id, batch_id, row_no, ref, provider, currency, amount_minor, msisdn_enc, msisdn_hash, state, provider_reference, attempt_count)
    SELECT md5(i::text)::uuid, '00000000-0000-4000-8000-000000000001', i, 'r-' || i, 'mpesa', 'KES', (100 + i % 1000) * 100, '\\x00', '\\x00', 'paid', 'R' || lpad(i::text, 9, '0'), 1
    FROM generate_series(1, $1::int) i`, [payouts]);
  await pool.query(`INSERT INTO payout_attempts (payout_id, attempt_no, idempotency_key, callback_token_sha256, outcome, account_id)
    SELECT md5(i::text)::uuid, 1, 'k-' || i, sha256(i::text::bytea), 'accepted', $2 FROM generate_series(1, $1::int) i`, [payouts, accountId]);
  await pool.query(`INSERT INTO payout_transitions (payout_id, from_state, to_state, cause, at)
    SELECT md5(i::text)::uuid, 'submitted', 'paid', 'bench', '2026-05-15T12:00:00Z' FROM generate_series(1, $1::int) i`, [payouts]);
  await pool.query('ANALYZE payouts; ANALYZE payout_attempts; ANALYZE payout_transitions');
}

const amount = (minor: number): string => {
  const units = Math.trunc(minor / 100).toLocaleString('en-US');
  return `"${units}.${String(minor % 100).padStart(2, '0')}"`;
};
const time = (i: number): string => {
  const s = i % 86_400;
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(1 + (i % 28))}-05-2026 ${two(Math.trunc(s / 3600))}:${two(Math.trunc((s % 3600) / 60))}:${two(s % 60)}`;
};

/** Writes the statement in chunks (bounded memory); returns the number of lines. */
async function writeStatement(path: string): Promise<number> {
  const out = createWriteStream(path);
  const write = async (text: string) => { if (!out.write(text)) await once(out, 'drain'); };
  await write([
    'Account Holder:,BENCH CASH PROGRAMME', 'Short Code:,600000', 'Account:,Utility Account',
    'Time Period:,From 01-05-2026 00:00:00 To 31-05-2026 23:59:59', 'Operator:,bench,Date of Report:,01-06-2026 08:00:00',
    'Opening Balance:,"9,000,000,000.00",Closing Balance:,"1.00"',
    'Receipt No.,Completion Time,Initiation Time,Details,Transaction Status,Paid In,Withdrawn,Balance,Balance Confirmed,Reason Type,Other Party Info,Linked Transaction ID,A/C No.',
  ].join('\r\n') + '\r\n');
  let lines = 0;
  let chunk: string[] = [];
  const line = (receipt: string, i: number, status: string, minor: number) => {
    chunk.push(`${receipt},${time(i)},${time(i)},Business Payment to 2547****${String(i % 1000).padStart(3, '0')} - BENEFICIARY ${i},${status},,"-${amount(minor).slice(1)},"8,000,000.00","8,000,000.00",Business Payment to Customer via API,"2547****${String(i % 1000).padStart(3, '0')} - BENEFICIARY ${i}",,`);
    lines += 1;
  };
  const unknown = Math.min(4000, Math.trunc(payouts / 250));
  for (let i = 1; i <= payouts; i += 1) {
    const receipt = `R${String(i).padStart(9, '0')}`;
    const minor = (100 + (i % 1000)) * 100;
    if (i % 200 !== 0) line(receipt, i, i % 701 === 0 ? 'Failed' : 'Completed', i % 233 === 0 ? minor + 100 : minor);
    if (i % 1000 === 1) line(receipt, i, 'Completed', minor);
    if (i <= unknown) line(`U${String(i).padStart(9, '0')}`, i, 'Completed', 5000);
    if (chunk.length >= 10_000) { await write(chunk.join('\r\n') + '\r\n'); chunk = []; }
  }
  if (chunk.length > 0) await write(chunk.join('\r\n') + '\r\n');
  out.end();
  await once(out, 'finish');
  return lines;
}

/** The store, with the set-based pass and the COPY timed. */
function timed(store: StatementStore, t: { copyS: number; matchS: number }): StatementStore {
  return {
    importing: (work) => store.importing((session) => work({
      ...session,
      async copy(feed) {
        const start = process.hrtime.bigint();
        try { return await session.copy(feed); } finally { t.copyS = seconds(start); }
      },
      async classify(q) {
        const start = process.hrtime.bigint();
        try { return await session.classify(q); } finally { t.matchS = seconds(start); }
      },
    })),
  };
}

/** The server's WAL counters (pg_stat_wal, PostgreSQL 14+); null where they cannot be read. */
async function walStats(client: pg.Client): Promise<{ records: number; fpi: number; bytes: number } | null> {
  try {
    const { rows } = await client.query<{ r: string; f: string; b: string }>('SELECT wal_records::text AS r, wal_fpi::text AS f, wal_bytes::text AS b FROM pg_stat_wal');
    const row = rows[0];
    return row ? { records: Number(row.r), fpi: Number(row.f), bytes: Number(row.b) } : null;
  } catch {
    return null;
  }
}

/** What a query is, for the table: the first words of its text or the CTE it writes with. */
function queryName(text: string): string {
  const t = text.trim().replace(/\s+/g, ' ');
  if (t.startsWith('WITH numbered AS')) return 'classify (match, insert lines)';
  if (t.startsWith('WITH raw AS')) return 'refusal (bad lines named)';
  if (t.startsWith('WITH unnamed AS')) return 'payout items (missing, timing)';
  if (t.startsWith('INSERT INTO statement_checks') && t.includes('running_balance')) return 'running-balance breaks (named)';
  return t.slice(0, 48);
}

/** CPU seconds (user + system) a process of this machine has used; null when it cannot be read. */
function processCpuS(pid: number): number | null {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return null;
  }
}

interface Step { wallS: number; cpuS: number | null }

/**
 * The pool, every query of its clients timed by name (a COPY's stream is passed through); with
 * BENCH_EXPLAIN each WITH statement is first run under EXPLAIN (ANALYZE, BUFFERS) in a savepoint
 * that is rolled back, and its plan printed.
 */
function profiledPool(pool: pg.Pool, steps: Map<string, Step>, sessions: { pid: number; cpuAtConnectS: number | null }[]): pg.Pool {
  const connect = async (): Promise<pg.PoolClient> => {
    const client = await pool.connect();
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    const backend = ((await query('SELECT pg_backend_pid() AS pid')) as pg.QueryResult<{ pid: number }>).rows[0]?.pid ?? 0;
    sessions.push({ pid: backend, cpuAtConnectS: processCpuS(backend) });
    const timedQuery = async (text: string, values?: unknown[]): Promise<unknown> => {
      const name = queryName(text);
      if (explain && text.trim().startsWith('WITH')) {
        await query('SAVEPOINT bench_explain');
        const plan = (await query(`EXPLAIN (ANALYZE, BUFFERS, TIMING ${explainTiming ? 'ON' : 'OFF'}) ${text}`, values)) as pg.QueryResult<Record<string, string>>;
        await query('ROLLBACK TO SAVEPOINT bench_explain');
        process.stdout.write(`--- ${name}\n${plan.rows.map((r) => Object.values(r)[0]).join('\n')}\n`);
      }
      const start = process.hrtime.bigint();
      const cpuStart = processCpuS(backend);
      try {
        return await query(text, values);
      } finally {
        const cpuEnd = processCpuS(backend);
        const step = steps.get(name) ?? { wallS: 0, cpuS: 0 };
        steps.set(name, { wallS: step.wallS + seconds(start), cpuS: cpuStart === null || cpuEnd === null || step.cpuS === null ? null : step.cpuS + cpuEnd - cpuStart });
      }
    };
    return new Proxy(client, {
      get(target, prop, receiver) {
        if (prop !== 'query') return Reflect.get(target, prop, receiver) as unknown;
        return (first: unknown, ...rest: unknown[]) => (typeof first === 'string' ? timedQuery(first, rest[0] as unknown[] | undefined) : query(first, ...rest));
      },
    });
  };
  return new Proxy(pool, { get: (target, prop, receiver) => (prop === 'connect' ? connect : Reflect.get(target, prop, receiver) as unknown) });
}

async function main(): Promise<void> {
  if (!Number.isInteger(payouts) || payouts < 1000 || payouts > linesMax) throw new Error(`BENCH_LINES is 1,000..${linesMax}`);
  const name = `tuma_bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const handle = createDb(databaseUrl(name), 4, pino({ level: 'silent' }));
  const dir = await mkdtemp(join(os.tmpdir(), 'tuma-recon-bench-'));
  const vault = new AesGcmVault(handle.db, randomBytes(32));
  try {
    await migrateToLatest(handle.db);
    const { organisationId, programmeId, kids } = await setUpBenchProgramme(kyselyPersistence(handle.db, handle.pool));
    let start = process.hrtime.bigint();
    await insertLedger(handle.pool, organisationId, programmeId, kids.maker);
    const ledgerS = seconds(start);
    const path = join(dir, 'statement.csv');
    start = process.hrtime.bigint();
    const lines = await writeStatementApart(path);
    const writeS = seconds(start);

    // The setup's garbage (the ledger's rows, the statement's text) is not the import's: collected
    // first where the process allows it (node --expose-gc), and the RSS the import starts from shown.
    (globalThis as { gc?: () => void }).gc?.();
    const rssAtStart = process.memoryUsage.rss();
    let rssMax = 0;
    const sampler = setInterval(() => { rssMax = Math.max(rssMax, process.memoryUsage.rss()); }, rssSampleMs);
    const t = { copyS: 0, matchS: 0 };
    const steps = new Map<string, Step>();
    const sessions: { pid: number; cpuAtConnectS: number | null }[] = [];
    // The setup's ledger left WAL behind: BENCH_CHECKPOINT=1 checkpoints first, so that where the
    // next checkpoint falls (and the full-page images it brings) is the same from run to run.
    if (checkpointFirst) await admin.query('CHECKPOINT');
    const walBefore = await walStats(admin);
    const ownCpuStart = process.cpuUsage();
    start = process.hrtime.bigint();
    const result = await importStatement({ store: timed(statementStore(profiledPool(handle.pool, steps, sessions)), t), vault }, {
      source: createReadStream(path, { highWaterMark: readChunkBytes }), accountId, currency: 'KES', format: 'mpesa-org-portal-csv@1', period,
      caller: { organisationId, subject: 'bench' },
    });
    const importS = seconds(start);
    const ownCpu = process.cpuUsage(ownCpuStart);
    const walAfter = await walStats(admin);
    const serverCpuS = sessions.reduce<number | null>((sum, x) => {
      const now = processCpuS(x.pid);
      return sum === null || now === null || x.cpuAtConnectS === null ? null : sum + now - x.cpuAtConnectS;
    }, 0);
    clearInterval(sampler);
    rssMax = Math.max(rssMax, process.memoryUsage.rss());
    if (!result.ok) throw new Error(`import refused: ${JSON.stringify(result.error)}`);
    const r = result.value;

    const { rows } = await handle.pool.query<{ v: string }>(`SELECT current_setting('server_version') AS v`);
    const w = (s: string, n: number) => s.padEnd(n);
    process.stdout.write(`reconciliation benchmark: PostgreSQL ${rows[0]?.v}, ${os.cpus().length} cores, Node ${process.version}\n`);
    process.stdout.write(`  setup: ${payouts} ledger payouts inserted in ${ledgerS.toFixed(1)} s; statement of ${lines} lines (${(r.sizeBytes / 1e6).toFixed(0)} MB) written in ${writeS.toFixed(1)} s\n`);
    const table: [string, string][] = [
      ['bytes → SHA-256 + sealed chunks + COPY', `${t.copyS.toFixed(2)} s`],
      ['set-based pass (cast, validate, match, classify)', `${t.matchS.toFixed(2)} s`],
      ...[...steps].filter(([, s]) => s.wallS >= slowQueryS)
        .map(([n, s]): [string, string] => [`  query: ${n}`, `${s.wallS.toFixed(2)} s${s.cpuS === null ? '' : `  (server CPU ${s.cpuS.toFixed(2)} s)`}`]),
      ['import end to end', `${importS.toFixed(2)} s  (${Math.round(lines / importS)} lines/s)`],
      ['CPU during the import: this process, server', `${((ownCpu.user + ownCpu.system) / 1e6).toFixed(2)} s, ${serverCpuS === null ? 'not readable' : `${serverCpuS.toFixed(2)} s`}`],
      ['WAL during the import (whole server): records, full-page images, bytes',
        walBefore && walAfter ? `${walAfter.records - walBefore.records}, ${walAfter.fpi - walBefore.fpi}, ${Math.round((walAfter.bytes - walBefore.bytes) / 1e6)} MB` : 'not readable'],
      ['peak RSS during the import (sampled)', `${Math.round(rssMax / 1e6)} MB  (process VmHWM ${peakRssMb()} MB; ${Math.round(rssAtStart / 1e6)} MB at its start)`],
    ];
    for (const [a, b] of table) process.stdout.write(`  ${w(a, 50)} ${b}\n`);
    for (const [c, f] of Object.entries(r.counts)) process.stdout.write(`  ${w(c, 24)} ${String(f.count).padStart(9)}  statement ${f.statementMinor}  ledger ${f.ledgerMinor}\n`);
    if (keepDatabase) process.stdout.write(`  database kept: ${name}\n`);
    process.stdout.write(`${JSON.stringify({ lines, lines_per_s: Math.round(lines / importS), rss_mb_max: Math.round(rssMax / 1e6), match_s: Number(t.matchS.toFixed(2)), cores: os.cpus().length })}\n`);
  } finally {
    await vault.close();
    await handle.close();
    await rm(dir, { recursive: true, force: true });
    if (!keepDatabase) await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  }
}

/**
 * The statement written by a child process of this script: 1M lines of text made in this process
 * would leave ~100 MB of its garbage in the RSS the import is measured by (the bench process held
 * 190-220 MB when the import began, 92 MB at 1,000 lines). Returns the number of lines.
 */
async function writeStatementApart(path: string): Promise<number> {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url)], { env: { ...process.env, BENCH_WRITE_STATEMENT_TO: path }, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
  const [code] = (await once(child, 'exit')) as [number | null];
  const lines = Number(out.trim());
  if (code !== 0 || !Number.isInteger(lines)) throw new Error(`writing the statement failed (exit ${code})`);
  return lines;
}

const writeTo = process.env.BENCH_WRITE_STATEMENT_TO;
(writeTo ? writeStatement(writeTo).then((lines) => { process.stdout.write(`${lines}\n`); }) : main()).catch((error: unknown) => {
  process.stderr.write(`bench:recon failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exitCode = 1;
});

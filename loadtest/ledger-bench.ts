// npm run bench:ledger — the ledger's posting throughput against the real PostgreSQL.
//   (a) single:  one transfer per SQL transaction, 16 concurrent clients, random pairs among
//                1,000 funding sources × 1,000 programme accounts (no artificial hot spot);
//   (b) chunked: 1,000 transfers per SQL transaction (a settlement chunk: 1,000 payouts paid from
//                one batch's committed account to the float), one client per core;
//   (c) raw:     single-row INSERT transactions with 16 clients on a table of the same shape,
//                through the same driver: the physical limit (a) is measured against;
//   (d) bare:    the least a double-entry transfer with running totals must write (two account
//                rows updated, one row inserted, one statement, no checks), 16 clients: the
//                ceiling for (a) on this server, reported beside it.
// Every loop is bounded by a count. The database is created fresh and dropped afterwards; the run
// ends with `ledger verify` over everything it wrote. Prints a table, then one JSON line.
import { randomBytes, randomUUID } from 'node:crypto';
import os from 'node:os';
import { sql } from 'kysely';
import pg from 'pg';
import { pino } from 'pino';
import { migrateToLatest } from '../src/adapters/db/migrate.js';
import { kyselyPersistence } from '../src/adapters/db/persistence.js';
import { createDb } from '../src/adapters/db/pool.js';
import { chainOnce, verifyLedger } from '../src/application/ledger-chain.js';
import { registerOrganisation, registerProgramme } from '../src/application/setup.js';
import { deriveId } from '../src/domain/ids.js';
import { postings, type Journal } from '../src/domain/ledger-rules.js';

const clients = 16;
const singleTransfers = Number(process.env.BENCH_SINGLE_TRANSFERS ?? 24_000);
const chunkSize = 1_000;
const chunks = Number(process.env.BENCH_CHUNKS ?? 120);
const chunkClients = Math.max(1, os.cpus().length);
const rawInserts = Number(process.env.BENCH_RAW_INSERTS ?? 24_000);
const sideAccounts = 1_000;
/** No run may take longer than this; a slower one is reported as such rather than left hanging. */
const phaseTimeLimitMs = 300_000;

const adminUrl = process.env.BENCH_DATABASE_ADMIN_URL ?? process.env.TEST_DATABASE_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

function databaseUrl(name: string): string {
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  return u.toString();
}

/** Runs `total` jobs on `workers` concurrent loops; returns jobs per second. */
async function drive(total: number, workers: number, job: (i: number) => Promise<void>): Promise<{ perSecond: number; seconds: number }> {
  let next = 0;
  const started = process.hrtime.bigint();
  const deadline = Date.now() + phaseTimeLimitMs;
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (next < total) {
        if (Date.now() > deadline) throw new Error(`a phase ran past ${phaseTimeLimitMs} ms`);
        await job(next++);
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { perSecond: total / seconds, seconds };
}

function assertPosted(r: { ok: boolean; value?: unknown; error?: { code: string } }): void {
  if (!r.ok || r.value !== 'posted') throw new Error(`posting failed: ${JSON.stringify(r.error ?? r.value)}`);
}

async function main(): Promise<void> {
  const name = `tuma_bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  // Silent: the pool's idle-client errors while the database is dropped at the end are expected; real failures throw.
  const logger = pino({ level: 'silent' });
  const handle = createDb(databaseUrl(name), clients + 2, logger);
  try {
    await migrateToLatest(handle.db);
    const persistence = kyselyPersistence(handle.db, handle.pool);
    const server = (await sql<{ v: string }>`SELECT current_setting('server_version') AS v`.execute(handle.db)).rows[0]!.v;
    const syncCommit = (await sql<{ v: string }>`SELECT current_setting('synchronous_commit') AS v`.execute(handle.db)).rows[0]!.v;

    // ---- (a) single transfers, 16 clients
    const org = 'bench-org';
    await registerOrganisation(persistence, org, 'Bench');
    await registerProgramme(persistence, { id: 'bench-programme', organisationId: org, name: 'Bench', currency: 'KES', approvalsRequired: 0 });
    // Create the 2,000 side accounts up front: the measured path is posting, not account creation.
    for (let i = 0; i < sideAccounts; i++) {
      assertPosted(await persistence.transaction((tx) => tx.ledger.postJournal(postings.funding({
        idempotencyKey: `warm-${i}`, organisationId: org, programmeId: `p${i}`, source: `s${i}`, currency: 'KES', amountMinor: 1n,
      }))));
    }
    const walAt = async () => (await sql<{ lsn: string }>`SELECT pg_current_wal_lsn()::text AS lsn`.execute(handle.db)).rows[0]!.lsn;
    const walSince = async (from: string) => Number((await sql<{ d: string }>`SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), ${from}::pg_lsn)::text AS d`.execute(handle.db)).rows[0]!.d);
    const singleWalFrom = await walAt();
    const single = await drive(singleTransfers, clients, async () => {
      const i = Math.floor(Math.random() * sideAccounts);
      const j = Math.floor(Math.random() * sideAccounts);
      const journal = postings.funding({ idempotencyKey: randomUUID(), organisationId: org, programmeId: `p${j}`, source: `s${i}`, currency: 'KES', amountMinor: 100n });
      assertPosted(await persistence.ledger.postJournal(journal));
    });

    const singleWal = (await walSince(singleWalFrom)) / singleTransfers;

    // ---- (b) chunks of 1,000 transfers: each chunk settles 1,000 payouts of its own batch
    const chunkJournals: Journal[][] = Array.from({ length: chunkClients }, () => []);
    for (let w = 0; w < chunkClients; w++) {
      const owner = `bench-org-${w}`;
      const programmeId = `bench-chunks-${w}`;
      await registerOrganisation(persistence, owner, 'Bench');
      await registerProgramme(persistence, { id: programmeId, organisationId: owner, name: 'Bench', currency: 'KES', approvalsRequired: 0 });
      const perWorker = Math.ceil(chunks / chunkClients);
      const total = BigInt(perWorker * chunkSize) * 500n;
      assertPosted(await persistence.transaction((tx) => tx.ledger.postJournal(postings.funding({ idempotencyKey: 'bench', organisationId: owner, programmeId, source: 'donor', currency: 'KES', amountMinor: total }))));
      assertPosted(await persistence.transaction((tx) => tx.ledger.postJournal(postings.floatTopUp({ idempotencyKey: 'bench', organisationId: owner, provider: 'mpesa', source: 'donor', currency: 'KES', amountMinor: total }))));
      for (let c = 0; c < perWorker; c++) {
        const batchId = randomUUID();
        assertPosted(await persistence.transaction((tx) => tx.ledger.postJournal(postings.batchCommit({ organisationId: owner, batchId, programmeId, currency: 'KES', totalMinor: BigInt(chunkSize) * 500n }))));
        const transfers = Array.from({ length: chunkSize }, (_, k) =>
          postings.payoutPaid({ organisationId: owner, batchId, payoutId: deriveId('bench-payout', batchId, String(k)), provider: 'mpesa', currency: 'KES', amountMinor: 500n }).transfers[0]!,
        );
        chunkJournals[w]!.push({ id: deriveId('bench-chunk', batchId), currency: 'KES', transfers });
      }
    }
    const chunkedWalFrom = await walAt();
    const chunkedStart = process.hrtime.bigint();
    let chunkedTransfers = 0;
    await Promise.all(chunkJournals.map(async (journals) => {
      for (const journal of journals) {
        assertPosted(await persistence.transaction((tx) => tx.ledger.postJournal(journal)));
        chunkedTransfers += journal.transfers.length;
      }
    }));
    const chunkedSeconds = Number(process.hrtime.bigint() - chunkedStart) / 1e9;
    const chunked = { perSecond: chunkedTransfers / chunkedSeconds, seconds: chunkedSeconds };
    const chunkedWal = (await walSince(chunkedWalFrom)) / chunkedTransfers;

    // ---- (c) raw single-row insert transactions, 16 clients, same driver, same server
    await sql`CREATE TABLE bench_raw (id uuid PRIMARY KEY, seq bigint GENERATED ALWAYS AS IDENTITY, debit bigint NOT NULL, credit bigint NOT NULL, amount bigint NOT NULL, created_at timestamptz NOT NULL DEFAULT now())`.execute(handle.db);
    const rawWalFrom = await walAt();
    const raw = await drive(rawInserts, clients, async () => {
      await handle.pool.query('INSERT INTO bench_raw (id, debit, credit, amount) VALUES ($1, $2, $3, $4)', [randomUUID(), 1, 2, 100]);
    });
    const rawWal = (await walSince(rawWalFrom)) / rawInserts;

    // ---- (d) the least any double-entry transfer with running totals writes: two account rows
    //      updated and one row inserted, one statement, no checks, no indexes beyond the keys
    await sql`CREATE TABLE bench_accounts (id bigint PRIMARY KEY, debits bigint NOT NULL DEFAULT 0, credits bigint NOT NULL DEFAULT 0) WITH (fillfactor = 50)`.execute(handle.db);
    await sql`INSERT INTO bench_accounts (id) SELECT generate_series(1, ${sideAccounts * 2})`.execute(handle.db);
    const bare = await drive(rawInserts, clients, async () => {
      const d = 1 + Math.floor(Math.random() * sideAccounts);
      const c = sideAccounts + 1 + Math.floor(Math.random() * sideAccounts);
      await handle.pool.query(
        `WITH d AS (UPDATE bench_accounts SET debits = debits + $3 WHERE id = $1), c AS (UPDATE bench_accounts SET credits = credits + $3 WHERE id = $2)
         INSERT INTO bench_raw (id, debit, credit, amount) VALUES ($4, $1, $2, $3)`,
        [d, c, 100, randomUUID()],
      );
    });

    // ---- the chain and verify over everything written
    const chainStart = process.hrtime.bigint();
    const maxSeq = (await sql<{ s: bigint }>`SELECT max(seq) AS s FROM transfers`.execute(handle.db)).rows[0]!.s;
    let linked = 0;
    for (let i = 0; i < 10_000; i++) {
      const step = await chainOnce(persistence);
      linked += step.linked;
      if (step.head.seq === maxSeq) break;
    }
    const chainSeconds = Number(process.hrtime.bigint() - chainStart) / 1e9;
    const verifyStart = process.hrtime.bigint();
    const report = await verifyLedger(persistence);
    const verifySeconds = Number(process.hrtime.bigint() - verifyStart) / 1e9;

    const rows: [string, string, string][] = [
      ['(a) single transfer / txn, 16 clients', `${singleTransfers} in ${single.seconds.toFixed(2)} s`, `${Math.round(single.perSecond)} transfers/s, ${Math.round(singleWal)} B WAL each`],
      [`(b) 1,000 transfers / txn, ${chunkClients} client(s)`, `${chunkedTransfers} in ${chunked.seconds.toFixed(2)} s`, `${Math.round(chunked.perSecond)} transfers/s, ${Math.round(chunkedWal)} B WAL each`],
      ['(c) raw single-row insert txn, 16 clients', `${rawInserts} in ${raw.seconds.toFixed(2)} s`, `${Math.round(raw.perSecond)} txn/s, ${Math.round(rawWal)} B WAL each`],
      ['(d) bare 2 updates + 1 insert txn, 16 clients', `${rawInserts} in ${bare.seconds.toFixed(2)} s`, `${Math.round(bare.perSecond)} txn/s`],
      ['(a) / (c)', '', `${((single.perSecond / raw.perSecond) * 100).toFixed(0)} % of the raw insert limit`],
      ['(a) / (d)', '', `${((single.perSecond / bare.perSecond) * 100).toFixed(0)} % of the bare double-entry write`],
      ['hash chain (off the hot path)', `${linked} links in ${chainSeconds.toFixed(2)} s`, `${Math.round(linked / chainSeconds)} links/s`],
      ['ledger verify', `${report.transfers} transfers in ${verifySeconds.toFixed(2)} s`, report.ok ? 'OK' : `${report.problemCount} problems`],
    ];
    const width = Math.max(...rows.map((r) => r[0].length));
    const mid = Math.max(...rows.map((r) => r[1].length));
    process.stdout.write(`ledger benchmark: PostgreSQL ${server} (synchronous_commit=${syncCommit}), ${os.cpus().length} cores, Node ${process.version}\n`);
    for (const [a, b, c] of rows) process.stdout.write(`  ${a.padEnd(width)}  ${b.padEnd(mid)}  ${c}\n`);
    if (!report.ok) {
      for (const p of report.problems.slice(0, 10)) process.stdout.write(`  problem: ${p.kind} ${p.detail}\n`);
      process.exitCode = 1;
    }
    process.stdout.write(`${JSON.stringify({
      single_tps: Math.round(single.perSecond),
      chunked_tps: Math.round(chunked.perSecond),
      raw_insert_tps: Math.round(raw.perSecond),
      cores: os.cpus().length,
    })}\n`);
  } finally {
    await handle.close();
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench:ledger failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exitCode = 1;
});

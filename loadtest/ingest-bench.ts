// npm run bench:ingest — one 100,000-payout batch through the real API and PostgreSQL:
//   sign     the maker signs the canonical batch JSON (client side, reported apart);
//   submit   POST /v1/batches: JWS verification, JSON parse, validation of every row (E.164 for
//            the provider's country, amounts, duplicates), sealing (AES-256-GCM per field, a keyed
//            hash per phone number), storage in chunks inside one SQL transaction;
//   approve  POST /v1/batches/{id}/approvals: the detached signature verified over the stored
//            bytes, then one SQL transaction commits the batch total in the ledger and makes
//            every payout dispatchable.
// payouts_per_s = payouts / (submit + approve). The API runs in a child process (ingest-server.ts)
// so its peak RSS (VmHWM from /proc, exact, not sampled) is the gateway's alone; the client's own
// peak is reported beside it.
// Bounded: one batch, one approval; the database is created fresh and dropped afterwards.
import { randomBytes, randomUUID } from 'node:crypto';
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import { sql } from 'kysely';
import pg from 'pg';
import { pino } from 'pino';
import { FlattenedSign, GeneralSign } from 'jose';
import { migrateToLatest } from '../src/adapters/db/migrate.js';
import { kyselyPersistence } from '../src/adapters/db/persistence.js';
import { createDb } from '../src/adapters/db/pool.js';
import { verifyLedger } from '../src/application/ledger-chain.js';
import { fundProgramme } from '../src/application/setup.js';
import { benchIssuer } from './bench-auth.js';
import { setUpBenchProgramme } from './bench-programme.js';

const payouts = Number(process.env.BENCH_PAYOUTS ?? 100_000);
/** The gateway's default (SEAL_THREADS). */
const sealThreads = Number(process.env.BENCH_SEAL_THREADS ?? 2);
/** Generous for a 100,000-payout document (about 13 MB as a JWS). */
const bodyMaxBytes = 64 * 1024 * 1024;
const requestTimeoutMs = 300_000;
const adminUrl = process.env.BENCH_DATABASE_ADMIN_URL ?? process.env.TEST_DATABASE_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

function databaseUrl(name: string): string {
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  return u.toString();
}

/** The process's peak resident set (VmHWM), in MB: exact, where sampling could miss a spike. */
function peakRssMb(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmHWM:'));
  if (!line) throw new Error('no VmHWM in /proc: this benchmark reads peak RSS from Linux');
  return Math.round(Number(line.replace(/\D+/g, '')) / 1024);
}

const seconds = (from: bigint) => Number(process.hrtime.bigint() - from) / 1e9;

async function main(): Promise<void> {
  if (!Number.isInteger(payouts) || payouts < 1 || payouts > 1_000_000) throw new Error('BENCH_PAYOUTS is 1..1,000,000');
  if (!Number.isInteger(sealThreads) || sealThreads < 0 || sealThreads > 16) throw new Error('BENCH_SEAL_THREADS is 0..16');
  const name = `tuma_bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const logger = pino({ level: 'silent' });
  const handle = createDb(databaseUrl(name), 8, logger);
  let server: ReturnType<typeof fork> | undefined;
  try {
    await migrateToLatest(handle.db);
    const persistence = kyselyPersistence(handle.db, handle.pool);
    const { organisationId, programmeId, keys, kids } = await setUpBenchProgramme(persistence);

    // The document: distinct Kenyan mobile numbers, whole-shilling amounts from 100 to 1,099.
    let totalMinor = 0n;
    const rows = Array.from({ length: payouts }, (_, i) => {
      const amount = 100 + (i % 1000);
      totalMinor += BigInt(amount) * 100n;
      return { ref: `r-${i}`, provider: 'mpesa', msisdn: `+2547${String(10_000_000 + i).padStart(8, '0')}`, amount: `${amount}.00`, name: `Beneficiary ${i}` };
    });
    const funded = await fundProgramme(persistence, { idempotencyKey: 'bench', organisationId, programmeId, source: 'donor', currency: 'KES', amountMinor: totalMinor });
    if (!funded.ok) throw new Error(funded.error.code);
    const now = Date.now();
    const batchId = randomUUID();
    const document = {
      batchId, organisationId, programmeId, currency: 'KES',
      createdAt: new Date(now - 1_000).toISOString(), expiresAt: new Date(now + 86_400_000).toISOString(),
      declared: { count: payouts, total: `${totalMinor / 100n}.${String(totalMinor % 100n).padStart(2, '0')}` },
      payouts: rows,
    };
    const bytes = Buffer.from(JSON.stringify(document));

    const issuer = await benchIssuer();
    server = fork(fileURLToPath(new URL('./ingest-server.js', import.meta.url)), { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const child = server;
    const port = await new Promise<number>((resolve, reject) => {
      child.once('message', (m: { port: number }) => resolve(m.port));
      child.once('exit', (code) => reject(new Error(`the API process exited (${code})`)));
      child.send({ databaseUrl: databaseUrl(name), masterKeyBase64: randomBytes(32).toString('base64'), auth: issuer.config, batchPayoutsMax: payouts, bodyMaxBytes, sealThreads });
    });
    const base = `http://127.0.0.1:${port}`;

    const signStart = process.hrtime.bigint();
    const jws = await new GeneralSign(bytes).addSignature(keys.maker.privateKey).setProtectedHeader({ alg: 'ES256', kid: kids.maker! }).sign();
    const body = JSON.stringify(jws);
    const signSeconds = seconds(signStart);

    const submitStart = process.hrtime.bigint();
    const submitted = await fetch(`${base}/v1/batches`, {
      method: 'POST',
      headers: { 'content-type': 'application/jose+json', authorization: `Bearer ${await issuer.token(organisationId, 'programme_manager', 'maker-person')}` },
      body,
      signal: AbortSignal.timeout(requestTimeoutMs),
    });
    const submitBody = (await submitted.json()) as { state?: string; error?: unknown };
    const submitSeconds = seconds(submitStart);
    if (submitted.status !== 201) throw new Error(`submit: ${submitted.status} ${JSON.stringify(submitBody).slice(0, 500)}`);

    const { protected: prot, signature } = await new FlattenedSign(bytes).setProtectedHeader({ alg: 'ES256', kid: kids.approver! }).sign(keys.approver.privateKey);
    const approveStart = process.hrtime.bigint();
    const approved = await fetch(`${base}/v1/batches/${batchId}/approvals`, {
      method: 'POST',
      headers: { 'content-type': 'application/jose+json', authorization: `Bearer ${await issuer.token(organisationId, 'approver', 'approver-person')}` },
      body: JSON.stringify({ protected: prot, signature }),
      signal: AbortSignal.timeout(requestTimeoutMs),
    });
    const approveBody = (await approved.json()) as { state?: string };
    const approveSeconds = seconds(approveStart);
    if (approved.status !== 201 || approveBody.state !== 'approved') throw new Error(`approve: ${approved.status} ${JSON.stringify(approveBody).slice(0, 500)}`);

    // What was stored is what was asked: every payout dispatchable (accepted, in an approved batch),
    // the ledger committed to the cent.
    const check = (await sql<{ n: string; total: string; committed: string }>`
      SELECT (SELECT count(*) FROM payouts p JOIN batches b ON b.id = p.batch_id
              WHERE p.batch_id = ${batchId} AND p.state = 'accepted' AND b.state = 'approved')::text AS n,
             (SELECT sum(amount_minor) FROM payouts WHERE batch_id = ${batchId})::text AS total,
             (SELECT credits_posted FROM accounts WHERE key = ${`batch:${batchId}:committed`})::text AS committed`.execute(handle.db)).rows[0]!;
    if (Number(check.n) !== payouts || BigInt(check.total) !== totalMinor || BigInt(check.committed) !== totalMinor) {
      throw new Error(`stored batch does not match: ${JSON.stringify(check)}`);
    }
    const apiPeakMb = peakRssMb(child.pid!);
    // `tuma ledger verify`'s code over what the run wrote (npm run loadtest checks it after each scenario).
    const verify = await verifyLedger(persistence);
    const clientPeakMb = peakRssMb(process.pid);

    const ingestSeconds = submitSeconds + approveSeconds;
    const table: [string, string, string][] = [
      ['sign (client, ES256 over the bytes)', `${(bytes.length / 1e6).toFixed(1)} MB in ${signSeconds.toFixed(2)} s`, ''],
      ['submit (verify, validate, seal, store)', `${payouts} payouts in ${submitSeconds.toFixed(2)} s`, `${Math.round(payouts / submitSeconds)} payouts/s`],
      ['approve (verify, ledger commit, release)', `${payouts} payouts in ${approveSeconds.toFixed(2)} s`, `${Math.round(payouts / approveSeconds)} payouts/s`],
      ['submit + approve', `${ingestSeconds.toFixed(2)} s`, `${Math.round(payouts / ingestSeconds)} payouts/s`],
      ['peak RSS of the API process', `${apiPeakMb} MB`, `(client process: ${clientPeakMb} MB)`],
      ['ledger verify', verify.ok ? 'OK' : `${verify.problemCount} problems`, `(${verify.transfers} transfers)`],
    ];
    const w = Math.max(...table.map((r) => r[0].length));
    const m = Math.max(...table.map((r) => r[1].length));
    const server_version = (await sql<{ v: string }>`SELECT current_setting('server_version') AS v`.execute(handle.db)).rows[0]!.v;
    process.stdout.write(`ingest benchmark: PostgreSQL ${server_version}, ${os.cpus().length} cores, Node ${process.version}, ${sealThreads} sealing threads\n`);
    for (const [a, b, c] of table) process.stdout.write(`  ${a.padEnd(w)}  ${b.padEnd(m)}  ${c}\n`);
    process.stdout.write(`${JSON.stringify({ payouts, payouts_per_s: Math.round(payouts / ingestSeconds), rss_mb_max: apiPeakMb, ledger_verified: verify.ok, cores: os.cpus().length })}\n`);
    if (!verify.ok) process.exitCode = 1;
  } finally {
    server?.disconnect();
    await handle.close();
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench:ingest failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exitCode = 1;
});

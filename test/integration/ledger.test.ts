// The ledger against the real PostgreSQL: posting, idempotency, refusals (the service's and the
// database's own), concurrency, the hash chain and `ledger verify` finding a tampered row.
import { randomBytes, randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { kyselyPersistence } from '../../src/adapters/db/persistence.js';
import { chainOnce, verifyLedger } from '../../src/application/ledger-chain.js';
import type { Persistence } from '../../src/application/ports.js';
import { registerOrganisation, registerProgramme } from '../../src/application/setup.js';
import { runLedgerCli } from '../../src/cli/ledger-cli.js';
import { loadConfig } from '../../src/config/config.js';
import { accounts, postings, type Journal } from '../../src/domain/ledger-rules.js';
import { testAuthEnv } from '../support/auth.js';
import { chainThrough } from '../support/chain.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { pino } from 'pino';

let database: TestDatabase;
let persistence: Persistence;

beforeAll(async () => {
  database = await createTestDatabase();
  persistence = kyselyPersistence(database.db, database.pool);
});
afterAll(async () => database?.drop());

interface Org {
  organisationId: string;
  programmeId: string;
}

async function newOrg(currency: 'KES' | 'UGX' = 'KES'): Promise<Org> {
  const suffix = randomBytes(4).toString('hex');
  const org = { organisationId: `org-${suffix}`, programmeId: `prog-${suffix}` };
  await registerOrganisation(persistence, org.organisationId, 'Ledger test');
  await registerProgramme(persistence, { id: org.programmeId, organisationId: org.organisationId, name: 'Ledger test', currency, approvalsRequired: 0 });
  return org;
}

const fund = (o: Org, amountMinor: bigint, key: string = randomUUID()) =>
  postings.funding({ idempotencyKey: key, organisationId: o.organisationId, programmeId: o.programmeId, source: 'donor', currency: 'KES', amountMinor });
const commit = (o: Org, batchId: string, totalMinor: bigint) =>
  postings.batchCommit({ organisationId: o.organisationId, batchId, programmeId: o.programmeId, currency: 'KES', totalMinor });
const topUp = (o: Org, amountMinor: bigint) =>
  postings.floatTopUp({ idempotencyKey: randomUUID(), organisationId: o.organisationId, provider: 'mpesa', source: 'donor', currency: 'KES', amountMinor });

async function balance(key: string): Promise<{ debits: bigint; credits: bigint } | null> {
  const a = await persistence.read.ledger.findAccount('KES', key);
  return a ? { debits: a.debitsPosted, credits: a.creditsPosted } : null;
}

async function transferCount(): Promise<number> {
  const r = await sql<{ n: string }>`SELECT count(*)::text AS n FROM transfers`.execute(database.db);
  return Number(r.rows[0]!.n);
}

async function post(journal: Journal) {
  return persistence.ledger.postJournal(journal);
}

async function chainAll(): Promise<void> {
  const max = (await sql<{ s: bigint | null }>`SELECT max(seq) AS s FROM transfers`.execute(database.db)).rows[0]!.s;
  await chainThrough(persistence, max);
}

describe('posting', () => {
  it('when a funding is posted, then both accounts move and each transfer records the totals after it', async () => {
    const o = await newOrg();
    const journal = fund(o, 150_00n);
    expect(await post(journal)).toEqual({ ok: true, value: 'posted' });
    expect(await balance(accounts.programmeAvailable(o.organisationId, o.programmeId).key)).toEqual({ debits: 0n, credits: 150_00n });
    expect(await balance(accounts.funding(o.organisationId, 'donor').key)).toEqual({ debits: 150_00n, credits: 0n });
    const [t] = await persistence.read.ledger.journal(journal.id);
    expect(t).toMatchObject({ amountMinor: 150_00n, code: 'funding', debitAfter: { debits: 150_00n, credits: 0n }, creditAfter: { debits: 0n, credits: 150_00n } });
  });

  it('when the same journal is posted again, then it is replayed and nothing changes', async () => {
    const o = await newOrg();
    const journal = fund(o, 10_00n, 'same-key');
    await post(journal);
    const before = await transferCount();
    expect(await post(journal)).toEqual({ ok: true, value: 'replayed' });
    expect(await post(fund(o, 10_00n, 'same-key'))).toEqual({ ok: true, value: 'replayed' });
    expect(await transferCount()).toBe(before);
    expect(await balance(accounts.programmeAvailable(o.organisationId, o.programmeId).key)).toEqual({ debits: 0n, credits: 10_00n });
  });

  it('when the same transfer id comes with another amount, then it is a conflict and nothing changes', async () => {
    const o = await newOrg();
    await post(fund(o, 10_00n, 'key-1'));
    const before = await transferCount();
    const r = await post(fund(o, 11_00n, 'key-1'));
    expect(r).toEqual({ ok: false, error: expect.objectContaining({ code: 'LEDGER_TRANSFER_CONFLICT' }) });
    expect(await transferCount()).toBe(before);
  });

  it('when a commitment exceeds what the programme holds, then it is refused with nothing written', async () => {
    const o = await newOrg();
    await post(fund(o, 100_00n));
    const before = await transferCount();
    const r = await post(commit(o, randomUUID(), 100_01n));
    expect(r).toEqual({ ok: false, error: { code: 'LEDGER_INSUFFICIENT_FUNDS', detail: `account programme:${o.programmeId}:available` } });
    expect(await transferCount()).toBe(before);
    expect(await post(commit(o, randomUUID(), 100_00n))).toEqual({ ok: true, value: 'posted' });
  });

  it('when a payout is paid with a fee, then both transfers post as one journal; when the float cannot cover the fee, then neither does', async () => {
    const o = await newOrg();
    const batchId = randomUUID();
    await post(fund(o, 1_000_00n));
    await post(topUp(o, 500_00n));
    await post(commit(o, batchId, 500_00n));
    const paid = (payoutId: string, fee: bigint) =>
      postings.payoutPaid({ organisationId: o.organisationId, batchId, payoutId, provider: 'mpesa', currency: 'KES', amountMinor: 400_00n, feeMinor: fee });
    const before = await transferCount();
    // 400 paid + 150 fee = 550 > 500 of float: the second transfer breaks the float's flag, so the journal fails whole.
    expect(await post(paid(randomUUID(), 150_00n))).toEqual({ ok: false, error: expect.objectContaining({ code: 'LEDGER_INSUFFICIENT_FUNDS' }) });
    expect(await transferCount()).toBe(before);
    const payoutId = randomUUID();
    expect(await post(paid(payoutId, 30_00n))).toEqual({ ok: true, value: 'posted' });
    expect(await transferCount()).toBe(before + 2);
    expect(await balance(accounts.providerFees(o.organisationId, 'mpesa').key)).toEqual({ debits: 30_00n, credits: 0n });
    expect(await balance(accounts.providerFloat(o.organisationId, 'mpesa').key)).toEqual({ debits: 500_00n, credits: 430_00n });
  });

  it('when a paid payout is reversed, then the money goes float → batch → programme as one journal', async () => {
    const o = await newOrg();
    const batchId = randomUUID();
    const payoutId = randomUUID();
    await post(fund(o, 100_00n));
    await post(topUp(o, 100_00n));
    await post(commit(o, batchId, 100_00n));
    await post(postings.payoutPaid({ organisationId: o.organisationId, batchId, payoutId, provider: 'mpesa', currency: 'KES', amountMinor: 100_00n }));
    const reversal = postings.payoutReversed({ organisationId: o.organisationId, batchId, payoutId, programmeId: o.programmeId, provider: 'mpesa', currency: 'KES', amountMinor: 100_00n });
    expect(await post(reversal)).toEqual({ ok: true, value: 'posted' });
    expect(await post(reversal)).toEqual({ ok: true, value: 'replayed' });
    const committed = await balance(accounts.batchCommitted(o.organisationId, batchId).key);
    expect(committed!.credits - committed!.debits).toBe(0n);
    const available = await balance(accounts.programmeAvailable(o.organisationId, o.programmeId).key);
    expect(available!.credits - available!.debits).toBe(100_00n);
  });

  it('when a payout was released, then paying it as well is a conflict: a payout settles once', async () => {
    const o = await newOrg();
    const batchId = randomUUID();
    const payoutId = randomUUID();
    await post(fund(o, 100_00n));
    await post(topUp(o, 100_00n));
    await post(commit(o, batchId, 100_00n));
    const owner = { organisationId: o.organisationId, batchId, payoutId, currency: 'KES' as const, amountMinor: 50_00n };
    expect(await post(postings.payoutReleased({ ...owner, programmeId: o.programmeId }))).toEqual({ ok: true, value: 'posted' });
    expect(await post(postings.payoutPaid({ ...owner, provider: 'mpesa' }))).toEqual({ ok: false, error: expect.objectContaining({ code: 'LEDGER_TRANSFER_CONFLICT' }) });
  });

  it('when an account is closed, then the ledger refuses to move money through it', async () => {
    const o = await newOrg();
    await post(fund(o, 10_00n));
    await sql`UPDATE accounts SET closed = true WHERE key = ${accounts.programmeAvailable(o.organisationId, o.programmeId).key}`.execute(database.db);
    expect(await post(fund(o, 10_00n))).toEqual({ ok: false, error: { code: 'LEDGER_ACCOUNT_CLOSED', detail: `account programme:${o.programmeId}:available` } });
    await expect(sql`UPDATE accounts SET closed = false WHERE key = ${accounts.programmeAvailable(o.organisationId, o.programmeId).key}`.execute(database.db)).rejects.toThrow(/is closed/);
  });
});

describe('concurrency', () => {
  it('when 50 commitments race for one programme, then none overdraws and the balance is the funding less the accepted ones', async () => {
    const o = await newOrg();
    await post(fund(o, 1_000_00n));
    const amounts = Array.from({ length: 50 }, (_, i) => BigInt(10_00 + ((i * 7919) % 40) * 1_00)); // 10.00 .. 49.00 KES
    const results = await Promise.all(amounts.map((amount) => persistence.transaction((tx) => tx.ledger.postJournal(commit(o, randomUUID(), amount)))));
    const accepted = amounts.filter((_, i) => results[i]!.ok);
    const refused = results.filter((r) => !r.ok);
    expect(refused.every((r) => !r.ok && r.error.code === 'LEDGER_INSUFFICIENT_FUNDS')).toBe(true);
    const acceptedSum = accepted.reduce((a, b) => a + b, 0n);
    expect(acceptedSum).toBeLessThanOrEqual(1_000_00n);
    expect(refused.length).toBeGreaterThan(0); // Σ amounts is far past the funding: some must have been refused
    const available = await balance(accounts.programmeAvailable(o.organisationId, o.programmeId).key);
    expect(available!.credits - available!.debits).toBe(1_000_00n - acceptedSum);
    const report = await verifyLedger(persistence);
    expect(report.problems).toEqual([]);
  });

  it('when journals touching the same accounts in opposite orders run together, then none deadlocks', async () => {
    const a = await newOrg();
    await post(fund(a, 1_000_000_00n));
    await post(topUp(a, 1_000_000_00n));
    const batchIds = [randomUUID(), randomUUID()];
    for (const b of batchIds) await post(commit(a, b, 100_000_00n));
    // Each journal pays from both batches, listed in opposite orders.
    const journals = Array.from({ length: 40 }, (_, i) => {
      const order = i % 2 === 0 ? batchIds : [...batchIds].reverse();
      const transfers = order.map((batchId) => postings.payoutPaid({ organisationId: a.organisationId, batchId, payoutId: randomUUID(), provider: 'mpesa', currency: 'KES', amountMinor: 1_00n }).transfers[0]!);
      return { id: randomUUID(), currency: 'KES' as const, transfers };
    });
    const results = await Promise.all(journals.map((j) => persistence.transaction((tx) => tx.ledger.postJournal(j))));
    expect(results.every((r) => r.ok && r.value === 'posted')).toBe(true);
    const float = await balance(accounts.providerFloat(a.organisationId, 'mpesa').key);
    expect(float!.credits).toBe(80_00n);
  });
});

describe('the database refuses on its own', () => {
  let o: Org;
  let ids: { funding: bigint; programme: bigint };
  beforeAll(async () => {
    o = await newOrg();
    await post(fund(o, 100_00n));
    const rows = await database.db.selectFrom('accounts').select(['id', 'key']).where('organisation_id', '=', o.organisationId).execute();
    ids = {
      funding: rows.find((r) => r.key.startsWith('funding:'))!.id,
      programme: rows.find((r) => r.key.startsWith('programme:'))!.id,
    };
  });

  const insert = (fields: { currency?: string; debit?: bigint; credit?: bigint; amount?: bigint; code?: string }) => sql`
    INSERT INTO transfers (id, journal_id, currency, debit_account_id, credit_account_id, amount, code,
                           debit_debits_after, debit_credits_after, credit_debits_after, credit_credits_after)
    VALUES (${randomUUID()}, ${randomUUID()}, ${fields.currency ?? 'KES'}, ${fields.debit ?? ids.funding}, ${fields.credit ?? ids.programme},
            ${fields.amount ?? 1n}, ${fields.code ?? 'funding'}, 1000000, 0, 0, 1000000)`.execute(database.db);

  it.each([
    ['a zero amount', { amount: 0n }, /transfers_amount_check/],
    ['a negative amount', { amount: -5n }, /transfers_amount_check/],
    ['debit and credit the same account', { credit: undefined as unknown as bigint, debit: undefined as unknown as bigint, same: true }, /transfers_check/],
    ['an unknown code', { code: 'gift' }, /transfers_code_check/],
    ['accounts of another ledger', { currency: 'UGX' }, /foreign key/],
  ])('when a transfer row has %s, then the insert is refused', async (_name, fields, message) => {
    const f = 'same' in fields ? { debit: ids.programme, credit: ids.programme } : fields;
    await expect(insert(f)).rejects.toThrow(message);
  });

  it('when a transfer is updated, deleted or the table truncated, then the trigger refuses', async () => {
    await expect(sql`UPDATE transfers SET amount = amount + 1`.execute(database.db)).rejects.toThrow(/append-only/);
    await expect(sql`DELETE FROM transfers`.execute(database.db)).rejects.toThrow(/append-only/);
    await expect(sql`TRUNCATE transfers CASCADE`.execute(database.db)).rejects.toThrow(/append-only/);
  });

  it('when a flagged account would go negative, then the CHECK constraint refuses', async () => {
    await expect(sql`UPDATE accounts SET debits_posted = credits_posted + 1 WHERE id = ${ids.programme}`.execute(database.db)).rejects.toThrow(/accounts_debits_within_credits/);
  });

  it('when posted totals would decrease or an account is deleted, then the trigger refuses', async () => {
    await expect(sql`UPDATE accounts SET credits_posted = credits_posted - 1 WHERE id = ${ids.programme}`.execute(database.db)).rejects.toThrow(/never decrease/);
    await expect(sql`UPDATE accounts SET key = 'programme:x:available' WHERE id = ${ids.programme}`.execute(database.db)).rejects.toThrow(/never change/);
    await expect(sql`DELETE FROM accounts WHERE id = ${ids.programme}`.execute(database.db)).rejects.toThrow(/append-only/);
  });

  it('when tuma_post_journal is called with arrays of different lengths or a bad position, then it refuses', async () => {
    await expect(sql`SELECT tuma_post_journal(${randomUUID()}::uuid, 'KES', ARRAY['a','b'], ARRAY[${randomUUID()}::uuid], ARRAY[1,1], ARRAY[2],
      ARRAY[1::int8], ARRAY['funding'], ARRAY[NULL::uuid], ARRAY[NULL::uuid], ARRAY[NULL::text])`.execute(database.db)).rejects.toThrow(/differ in length/);
    const fk = accounts.funding(o.organisationId, 'donor').key;
    const pk = accounts.programmeAvailable(o.organisationId, o.programmeId).key;
    await expect(sql`SELECT tuma_post_journal(${randomUUID()}::uuid, 'KES', ARRAY[${fk}, ${pk}], ARRAY[${randomUUID()}::uuid], ARRAY[1], ARRAY[1],
      ARRAY[1::int8], ARRAY['funding'], ARRAY[NULL::uuid], ARRAY[NULL::uuid], ARRAY[NULL::text])`.execute(database.db)).rejects.toThrow(/not a positive amount between two accounts/);
    await expect(sql`SELECT tuma_post_journal(${randomUUID()}::uuid, 'KES', ARRAY[${fk}, ${pk}], ARRAY[${randomUUID()}::uuid], ARRAY[1], ARRAY[2],
      ARRAY[0::int8], ARRAY['funding'], ARRAY[NULL::uuid], ARRAY[NULL::uuid], ARRAY[NULL::text])`.execute(database.db)).rejects.toThrow(/not a positive amount/);
  });

  it('when a total would pass the bigint range, then the ledger refuses with a code, not an overflow', async () => {
    const big = await newOrg();
    expect(await post(fund(big, 2n ** 63n - 1n))).toEqual({ ok: true, value: 'posted' });
    expect(await post(fund(big, 1n))).toEqual({ ok: false, error: expect.objectContaining({ code: 'LEDGER_TOTAL_OUT_OF_RANGE' }) });
  });
});

describe('hash chain and verify', () => {
  it('when transfers are chained, then verify recomputes everything and finds nothing wrong', async () => {
    const o = await newOrg();
    await post(fund(o, 500_00n));
    await post(commit(o, randomUUID(), 100_00n));
    await chainAll();
    const report = await verifyLedger(persistence);
    expect(report.problems).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.awaitingChain).toBe(0);
    expect(report.chained).toBe(report.transfers);
    expect(report.ledgers.every((l) => l.balanced)).toBe(true);
  });

  it('when a transaction that drew a seq is still open, then the chain stops below it and links it once it commits', async () => {
    const o = await newOrg();
    await post(fund(o, 500_00n));
    await chainAll();
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let openSeq = 0n;
    const open = database.db.transaction().execute(async (trx) => {
      await sql`SELECT tuma_post_journal(${randomUUID()}::uuid, 'KES', ARRAY[${accounts.funding(o.organisationId, 'donor').key}, ${accounts.programmeAvailable(o.organisationId, o.programmeId).key}],
        ARRAY[${randomUUID()}::uuid], ARRAY[1], ARRAY[2], ARRAY[1::int8], ARRAY['funding'], ARRAY[NULL::uuid], ARRAY[NULL::uuid], ARRAY[NULL::text])`.execute(trx);
      openSeq = (await sql<{ s: bigint }>`SELECT max(seq) AS s FROM transfers`.execute(trx)).rows[0]!.s;
      await held;
    });
    while (openSeq === 0n) await new Promise((r) => setTimeout(r, 10));
    const other = await newOrg();
    await post(fund(other, 1_00n)); // commits with a higher seq while the lower one is still open
    for (let i = 0; i < 5; i++) await chainOnce(persistence);
    const head = await persistence.read.audit.chainHead();
    expect(head.seq).not.toBeNull();
    expect(head.seq!).toBeLessThan(openSeq);
    release();
    await open;
    await chainAll();
    const report = await verifyLedger(persistence);
    expect(report.problems).toEqual([]);
  });

  it('when a transfer row is altered behind the triggers, then verify and `tuma ledger verify` name it', async () => {
    const o = await newOrg();
    const journal = fund(o, 77_00n);
    await post(journal);
    await chainAll();
    const head = await persistence.read.audit.chainHead();
    const anchor = `${head.seq}:${head.hash!.toString('hex')}`;
    const seq = (await sql<{ seq: bigint }>`SELECT seq FROM transfers WHERE id = ${journal.id}`.execute(database.db)).rows[0]!.seq;

    await sql`ALTER TABLE transfers DISABLE TRIGGER transfers_append_only`.execute(database.db);
    try {
      await sql`UPDATE transfers SET amount = 7600 WHERE id = ${journal.id}`.execute(database.db);
    } finally {
      await sql`ALTER TABLE transfers ENABLE TRIGGER transfers_append_only`.execute(database.db);
    }

    const report = await verifyLedger(persistence);
    expect(report.ok).toBe(false);
    expect(report.problems).toEqual(expect.arrayContaining([
      expect.objectContaining({ kind: 'chain_hash_mismatch', transferId: journal.id, seq: seq.toString() }),
      expect.objectContaining({ kind: 'transfer_totals_mismatch', transferId: journal.id }),
      expect.objectContaining({ kind: 'account_totals_mismatch', account: accounts.programmeAvailable(o.organisationId, o.programmeId).key }),
    ]));

    const lines: string[] = [];
    const config = loadConfig({ TUMA_MASTER_KEY: randomBytes(32).toString('base64'), TUMA_DEV_MODE: 'true', DATABASE_URL: database.url, ...testAuthEnv });
    const code = await runLedgerCli(['verify', '--anchor', anchor], config, pino({ level: 'silent' }), (l) => lines.push(l));
    expect(code).toBe(1);
    const output = lines.join('\n');
    expect(output).toMatch(/PROBLEMS/);
    expect(output).toContain(`chain_hash_mismatch [seq ${seq} transfer ${journal.id}]`);
    expect(await runLedgerCli(['verify', '--anchor', 'nonsense'], config, pino({ level: 'silent' }), () => undefined)).toBe(2);
  });

  it('when an append-only trigger is disabled, then verify reports the missing guard', async () => {
    await sql`ALTER TABLE transfers DISABLE TRIGGER transfers_append_only`.execute(database.db);
    try {
      const report = await verifyLedger(persistence);
      expect(report.problems).toEqual(expect.arrayContaining([expect.objectContaining({ kind: 'guard_missing', detail: expect.stringContaining('transfers_append_only') })]));
    } finally {
      await sql`ALTER TABLE transfers ENABLE TRIGGER transfers_append_only`.execute(database.db);
    }
  });

  it('when an anchor does not match the chain, then verify says so', async () => {
    // Runs after the tamper test: take a fresh database so only the anchor is wrong.
    const fresh = await createTestDatabase();
    try {
      const p = kyselyPersistence(fresh.db, fresh.pool);
      await registerOrganisation(p, 'org-anchor', 'Anchor');
      await registerProgramme(p, { id: 'prog-anchor', organisationId: 'org-anchor', name: 'Anchor', currency: 'KES', approvalsRequired: 0 });
      await p.ledger.postJournal(postings.funding({ idempotencyKey: 'a', organisationId: 'org-anchor', programmeId: 'prog-anchor', source: 'donor', currency: 'KES', amountMinor: 1n }));
      const seq = (await sql<{ s: bigint }>`SELECT max(seq) AS s FROM transfers`.execute(fresh.db)).rows[0]!.s;
      const head = await chainThrough(p, seq);
      expect((await verifyLedger(p, { anchors: [{ seq: head.seq!, hash: head.hash! }] })).ok).toBe(true);
      const wrong = await verifyLedger(p, { anchors: [{ seq: head.seq!, hash: Buffer.alloc(32, 1) }] });
      expect(wrong.problems).toEqual([expect.objectContaining({ kind: 'chain_anchor_mismatch', seq: head.seq!.toString() })]);
    } finally {
      await fresh.drop();
    }
  });
});

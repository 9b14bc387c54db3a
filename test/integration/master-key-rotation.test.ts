// Master-key rotation (issue #15 item 3): data sealed while the master key was A; every data key and
// the programme-independent key rewrapped under B in small transactions while another process keeps
// opening (no open fails meanwhile); then a vault given only B opens everything, one given only A
// nothing. Keys wrapped before key ids existed, a programme whose key a process still wraps under A
// during the rotation, and the unowned key as the master key derived it before it was stored are all
// carried over. `tuma keys rotate-master` does the same from a key file, and says when it cannot finish.
import { hkdfSync, randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { sql } from 'kysely';
import { seal } from '../../src/adapters/crypto/aead.mjs';
import { wrappedKeyStore } from '../../src/adapters/crypto/master-key-rotation.js';
import { AesGcmVault, masterKeyIdOf, unownedAadOf } from '../../src/adapters/crypto/vault.js';
import { kyselyPersistence } from '../../src/adapters/db/persistence.js';
import type { Persistence } from '../../src/application/ports.js';
import { rotateMasterKey, type WrappedKeyStore } from '../../src/application/rotate-master-key.js';
import { registerOrganisation, registerProgramme } from '../../src/application/setup.js';
import { runKeysRotateCli } from '../../src/cli/keys-rotate-cli.js';
import type { Config } from '../../src/config/config.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

const programmes = 40;
const organisationId = `org-rot-${randomBytes(3).toString('hex')}`;
const programmeIdOf = (i: number) => `prog-rot-${String(i).padStart(3, '0')}`;
/** Sorts before every other programme: created mid-rotation, it is behind the first pass's cursor. */
const lateProgramme = 'prog-rot-000-late';

interface Sealed {
  readonly programmeId: string;
  readonly subject: string;
  readonly plain: string;
  readonly sealed: Buffer;
}

let database: TestDatabase;
let persistence: Persistence;
const keyA = randomBytes(32);
const keyB = randomBytes(32);
const sealedValues: Sealed[] = [];
const unownedValues: { subject: string; plain: string; sealed: Buffer }[] = [];
const orphan = { provider: 'mpesa', scope: 'legacy', dedupeKey: 'orphan-before-key-ids', plain: '{"ReceiverPartyPublicName":"254700000001 - OLD ORPHAN"}' };

beforeAll(async () => {
  database = await createTestDatabase();
  persistence = kyselyPersistence(database.db, database.pool);
  await registerOrganisation(persistence, organisationId, 'Rotation test');
  for (let i = 0; i < programmes; i++) await registerProgramme(persistence, { id: programmeIdOf(i), organisationId, name: `P${i}`, currency: 'KES', approvalsRequired: 0 });
  await registerProgramme(persistence, { id: lateProgramme, organisationId, name: 'late', currency: 'KES', approvalsRequired: 0 });

  // An orphan callback sealed the way Tuma sealed unowned data before the key was stored: under a key derived from A.
  const legacyUnowned = Buffer.from(hkdfSync('sha256', keyA, Buffer.alloc(0), 'tuma:unowned-data-key:v1', 32));
  const subject = `${orphan.provider}:${orphan.scope}:${orphan.dedupeKey}`;
  await sql`INSERT INTO callbacks (provider, dedupe_key, scope, authenticated, payout_id, raw_body_enc)
    VALUES (${orphan.provider}, ${orphan.dedupeKey}, ${orphan.scope}, true, NULL, ${seal(legacyUnowned, Buffer.from(orphan.plain), unownedAadOf(subject, 'callback_body'))})`.execute(database.db);

  // Sealed while A is the only master key.
  const vaultA = new AesGcmVault(database.db, keyA);
  for (let i = 0; i < programmes; i++) {
    const programmeId = programmeIdOf(i);
    const plain = `+2547${String(10_000_000 + i)}`;
    sealedValues.push({ programmeId, subject: `payout-${i}`, plain, sealed: await vaultA.seal(programmeId, `payout-${i}`, 'msisdn', plain) });
  }
  for (let i = 0; i < 3; i++) {
    const plain = `statement chunk ${i}: 2547****${i}00 - NAME ${i}`;
    unownedValues.push({ subject: `statement:test:${i}`, plain, sealed: await vaultA.sealUnowned(`statement:test:${i}`, 'statement_file', plain) });
  }
  // The orphan sealed before keys were stored opens with the key A's vault stored.
  expect((await vaultA.openUnowned(subject, 'callback_body', (await orphanRow()).raw_body_enc)).toString()).toBe(orphan.plain);
  await vaultA.close();
  // Ten keys as they were wrapped before keys named their master key.
  await sql`UPDATE data_keys SET master_key_id = NULL WHERE programme_id IN (SELECT programme_id FROM data_keys ORDER BY programme_id LIMIT 10)`.execute(database.db);
});

afterAll(async () => {
  await database?.drop();
});

async function orphanRow() {
  return (await sql<{ raw_body_enc: Buffer }>`SELECT raw_body_enc FROM callbacks WHERE dedupe_key = ${orphan.dedupeKey}`.execute(database.db)).rows[0]!;
}

/** Opens every sealed value with a vault of its own (nothing cached): the number of values opened. */
async function openEverything(masterKeys: Buffer[]): Promise<number> {
  const vault = new AesGcmVault(database.db, masterKeys);
  try {
    let opened = 0;
    for (const v of sealedValues) {
      expect((await vault.open(v.programmeId, v.subject, 'msisdn', v.sealed)).toString()).toBe(v.plain);
      opened++;
    }
    for (const v of unownedValues) {
      expect((await vault.openUnowned(v.subject, 'statement_file', v.sealed)).toString()).toBe(v.plain);
      opened++;
    }
    expect((await vault.openUnowned(`${orphan.provider}:${orphan.scope}:${orphan.dedupeKey}`, 'callback_body', (await orphanRow()).raw_body_enc)).toString()).toBe(orphan.plain);
    return opened + 1;
  } finally {
    await vault.close();
  }
}

const wrappedBy = async () => (await sql<{ master_key_id: string | null; n: number }>`
  SELECT master_key_id, count(*)::int AS n FROM data_keys GROUP BY master_key_id ORDER BY master_key_id NULLS FIRST`.execute(database.db)).rows;

describe('rotating the master key from A to B', () => {
  it('when the keys are rewrapped under B while another process keeps opening, then no open fails, and afterwards B alone opens everything and A alone nothing', async () => {
    expect(await wrappedBy()).toEqual([{ master_key_id: null, n: 10 }, { master_key_id: masterKeyIdOf(keyA), n: 30 }]);

    // The other process, as in the rotation's step 2: B wraps, A still opens. It opens everything over and over, from scratch each time.
    let rotating = true;
    let rounds = 0;
    let roundsDuringRotation = 0;
    const failures: unknown[] = [];
    const opener = (async () => {
      while (rotating) {
        try {
          await openEverything([keyB, keyA]);
          rounds++;
          if (rotating) roundsDuringRotation++;
        } catch (error) {
          failures.push(error);
        }
      }
    })();

    // A process still at step 1 (A wraps, B opens) creates a programme's key mid-rotation, behind the first pass's cursor.
    let lateSealed: Buffer | null = null;
    const real = wrappedKeyStore(database.db, [keyA], keyB);
    let chunks = 0;
    const store: WrappedKeyStore = {
      ...real,
      targetKeyId: real.targetKeyId,
      async rewrapDataKeys(after, limit) {
        const r = await real.rewrapDataKeys(after, limit);
        chunks++;
        if (chunks === 1) {
          // Mid-rotation the rows really change: the first chunk's keys no longer open with A alone.
          const aAlone = new AesGcmVault(database.db, keyA);
          await expect(aAlone.open(sealedValues[0]!.programmeId, sealedValues[0]!.subject, 'msisdn', sealedValues[0]!.sealed)).rejects.toThrow(/not given/);
          await aAlone.close();
          const stepOne = new AesGcmVault(database.db, [keyA, keyB]);
          lateSealed = await stepOne.seal(lateProgramme, 'payout-late', 'msisdn', '+254799999999');
          await stepOne.close();
        }
        // Leave the opener time to run between transactions.
        await new Promise((r) => setTimeout(r, 20));
        return r;
      },
    };

    const report = await rotateMasterKey(store, { chunk: 5 });
    rotating = false;
    await opener;

    expect(failures).toEqual([]);
    expect(roundsDuringRotation).toBeGreaterThan(0);
    expect(rounds).toBeGreaterThan(0);
    expect(report).toMatchObject({
      targetMasterKeyId: masterKeyIdOf(keyB),
      dataKeys: { total: programmes + 1, rewrapped: programmes + 1, unopenable: 0, unopenableProgrammes: [] },
      unownedKey: 'rewrapped',
      remaining: 0,
      complete: true,
    });
    // The late key was behind the first pass's cursor: the second pass took it, the third found nothing left.
    expect(report.passes).toBe(3);
    expect(report.transactions).toBeGreaterThanOrEqual(Math.ceil(programmes / 5) + 1);
    expect(await wrappedBy()).toEqual([{ master_key_id: masterKeyIdOf(keyB), n: programmes + 1 }]);
    expect((await sql<{ master_key_id: string }>`SELECT master_key_id FROM vault_keys`.execute(database.db)).rows).toEqual([{ master_key_id: masterKeyIdOf(keyB) }]);

    // B alone opens everything, the late programme's value too.
    expect(await openEverything([keyB])).toBe(programmes + unownedValues.length + 1);
    const onlyB = new AesGcmVault(database.db, keyB);
    expect((await onlyB.open(lateProgramme, 'payout-late', 'msisdn', lateSealed!)).toString()).toBe('+254799999999');
    // New keys are wrapped by B.
    await registerProgramme(persistence, { id: 'prog-rot-after', organisationId, name: 'after', currency: 'KES', approvalsRequired: 0 });
    const after = await onlyB.seal('prog-rot-after', 'payout-after', 'msisdn', '+254711111111');
    await onlyB.close();
    expect((await sql<{ master_key_id: string }>`SELECT master_key_id FROM data_keys WHERE programme_id = 'prog-rot-after'`.execute(database.db)).rows[0]!.master_key_id).toBe(masterKeyIdOf(keyB));

    // A alone opens nothing any more: not a programme's data, not the unowned data.
    const onlyA = new AesGcmVault(database.db, keyA);
    await expect(onlyA.open(sealedValues[0]!.programmeId, sealedValues[0]!.subject, 'msisdn', sealedValues[0]!.sealed)).rejects.toThrow(/master key [0-9a-f]{16}, which this process is not given/);
    await expect(onlyA.open(sealedValues[39]!.programmeId, sealedValues[39]!.subject, 'msisdn', sealedValues[39]!.sealed)).rejects.toThrow(/not given/);
    await expect(onlyA.open('prog-rot-after', 'payout-after', 'msisdn', after)).rejects.toThrow(/not given/);
    await expect(onlyA.openUnowned(unownedValues[0]!.subject, 'statement_file', unownedValues[0]!.sealed)).rejects.toThrow(/not given/);
    await onlyA.close();
  });

  it('when the rotation to B runs again, then there is nothing to do and it says complete', async () => {
    const report = await rotateMasterKey(wrappedKeyStore(database.db, [keyA], keyB), { chunk: 7 });
    expect(report).toMatchObject({ dataKeys: { rewrapped: 0, unopenable: 0 }, unownedKey: 'already', passes: 1, remaining: 0, complete: true });
  });
});

describe('tuma keys rotate-master', () => {
  let dir: string;
  /** The master key every key is wrapped by after the first test here (D). */
  let current: Buffer = keyB;
  const lines: { out: string[]; err: string[] } = { out: [], err: [] };
  const cli = (argv: string[], masterKey: Buffer) => {
    lines.out.length = 0;
    lines.err.length = 0;
    const cfg = { database: { url: database.url }, crypto: { masterKey, sealThreads: 0 } } as unknown as Config;
    return runKeysRotateCli(argv, cfg, pino({ level: 'silent' }), (l) => lines.out.push(l), (l) => lines.err.push(l));
  };
  const keyFile = (name: string, content: string | Buffer, mode = 0o600) => {
    const path = join(dir, name);
    writeFileSync(path, content, { mode });
    chmodSync(path, mode);
    return path;
  };
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'tuma-rotate-'));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('when the new key comes from a file (base64 on one line), then every key is rewrapped under it, the report is printed, and it exits 0', async () => {
    const keyC = randomBytes(32);
    const path = keyFile('c.key', `${keyC.toString('base64')}\n`);
    expect(await cli(['--new-key-file', path, '--chunk', '8'], keyB)).toBe(0);
    const report = JSON.parse(lines.out.join('\n')) as { complete: boolean; targetMasterKeyId: string; dataKeys: { rewrapped: number } };
    expect(report).toMatchObject({ complete: true, targetMasterKeyId: masterKeyIdOf(keyC), dataKeys: { rewrapped: programmes + 2 } });
    expect(lines.err.join('\n')).toMatch(/remove the old master key from every process/);
    expect(lines.err.join('\n')).not.toContain(keyC.toString('base64'));
    expect(await openEverything([keyC])).toBe(programmes + unownedValues.length + 1);

    // A raw 32-byte file readable by others: it works, with a warning.
    const keyD = randomBytes(32);
    const raw = keyFile('d.key', keyD, 0o644);
    expect(await cli(['--new-key-file', raw], keyC)).toBe(0);
    expect(lines.err.join('\n')).toMatch(/readable by other users than its owner: chmod 600 it/);
    expect(await openEverything([keyD])).toBe(programmes + unownedValues.length + 1);
    current = keyD;
  });

  it('when a data key is wrapped by a master key nobody gave, then the rotation names it, is not complete, and exits 1: the old key must stay', async () => {
    const stranger = randomBytes(32);
    await registerProgramme(persistence, { id: 'prog-rot-stranger', organisationId, name: 'stranger', currency: 'KES', approvalsRequired: 0 });
    const strangerVault = new AesGcmVault(database.db, stranger);
    await strangerVault.seal('prog-rot-stranger', 'x', 'msisdn', '+254722222222');
    await strangerVault.close();
    const keyE = randomBytes(32);
    // TUMA_MASTER_KEY is D (the key every other key is wrapped by); the old-key file names another key that opens nothing.
    const other = keyFile('other.key', randomBytes(32).toString('base64'));
    expect(await cli(['--new-key-file', keyFile('e.key', keyE.toString('base64')), '--old-key-file', other], current)).toBe(1);
    const report = JSON.parse(lines.out.join('\n')) as Record<string, unknown>;
    expect(report).toMatchObject({ complete: false, remaining: 1, dataKeys: { unopenable: 1, unopenableProgrammes: ['prog-rot-stranger'] } });
    expect(lines.err.join('\n')).toMatch(/1 data key\(s\) still wrapped by another master key, 1 of them opened by none of the keys given \(prog-rot-stranger\): keep the old master key/);
  });

  it.each([
    ['no new key file', [], 2],
    ['a key file that holds no key', ['--new-key-file', 'bad.key'], 2],
    ['a chunk too large', ['--new-key-file', 'ok.key', '--chunk', '99999'], 2],
    ['an unknown option', ['--new-key-file', 'ok.key', '--force'], 2],
  ])('when it is given %s, then it refuses and changes nothing', async (_what, argv, code) => {
    keyFile('bad.key', 'not a key\n');
    keyFile('ok.key', randomBytes(32).toString('base64'));
    const before = await wrappedBy();
    expect(await cli(argv.map((a) => (a.endsWith('.key') ? join(dir, a) : a)), current)).toBe(code);
    expect(await wrappedBy()).toEqual(before);
  });
});

// Beneficiary data at rest: AES-256-GCM under a per-programme data key; data keys are wrapped
// by the master key (config). The additional data binds each ciphertext to its programme, payout
// and field, so a ciphertext moved to another row does not open. Deleting a programme's data key
// erases its beneficiaries' data (crypto-shredding: application/erase-programme.ts); the database
// then refuses the programme a new key, and this vault says so (ProgrammeErasedError) instead of
// failing to open. Data that names no programme we can tell (a callback about a transaction we do
// not know, a provider's statement file) is sealed under a key of its own (the unowned key): it is
// erased by deleting its rows, not by deleting a programme's key.
//
// Master keys (migration 0018): each wrapped key names the master key that wraps it (its id, an
// HMAC of a fixed label: it does not reveal the key). A vault may be given several master keys:
// the first wraps every new key, each of them opens what it wrapped. That is how the master key is
// rotated without downtime (application/rotate-master-key.ts rewraps every key under the new one
// while processes given both keep opening everything). The unowned key used to be derived from the
// master key (HKDF); it is now stored once, wrapped like a data key (vault_keys), so that it
// survives a rotation: the first vault to need it stores the key it derived.
import { createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import type { BeneficiaryRows, BeneficiaryVault, SealedBeneficiaries, SealedField } from '../../application/ports.js';
import type { Db } from '../db/database.js';
import { aadOf, open, seal, sealBeneficiaries } from './aead.mjs';
import { SealPool } from './seal-pool.js';

/** Unwrapped data keys kept in memory at most: one per active programme. */
export const dataKeyCacheMax = 10_000;
/**
 * How long an unwrapped data key is used before its row is read again. A programme erased through
 * another process stops opening here within this time (the erasing process forgets it at once).
 */
export const dataKeyCacheTtlMs = 60_000;

export interface VaultOptions {
  /** Sealing threads for whole chunks of beneficiaries; 0 seals them on the calling thread. */
  readonly sealThreads: number;
}

/** A programme whose data key was destroyed: nothing of it opens, nothing new is sealed for it. */
export class ProgrammeErasedError extends Error {
  constructor(readonly programmeId: string) {
    super(`programme ${programmeId} is erased: its beneficiary data was destroyed and cannot be opened or sealed`);
    this.name = 'ProgrammeErasedError';
  }
}

/** The additional data of an unowned sealed field: never equal to a programme's (aadOf starts "tuma:v1:"). */
export const unownedAadOf = (subjectId: string, field: SealedField): string => `tuma:unowned:v1:${subjectId}:${field}`;
/** The additional data of a wrapped data key (binds it to its programme) and of the wrapped unowned key. */
export const dataKeyAadOf = (programmeId: string): string => `tuma:data-key:v1:${programmeId}`;
export const unownedKeyAad = 'tuma:vault-key:v1:unowned';

/** The programme's blind-index key, derived from its data key (never the data key itself). */
const indexKeyOf = (dataKey: Buffer): Buffer => createHmac('sha256', dataKey).update('tuma:blind-index:v1').digest();

/** A master key's id: 64 bits of an HMAC of a fixed label under it. Names the key; reveals nothing of it. */
export const masterKeyIdOf = (masterKey: Buffer): string => createHmac('sha256', masterKey).update('tuma:master-key-id:v1').digest('hex').slice(0, 16);

/** The master keys a process holds: the first wraps new keys, every one opens the keys it wrapped. */
export class MasterKeyRing {
  private readonly keys: readonly { readonly id: string; readonly key: Buffer }[];

  constructor(masterKeys: Buffer | readonly Buffer[]) {
    const list = Buffer.isBuffer(masterKeys) ? [masterKeys] : masterKeys;
    if (list.length === 0) throw new Error('invariant violated: at least one master key');
    const keys: { id: string; key: Buffer }[] = [];
    for (const key of list) {
      if (key.length !== 32) throw new Error('invariant violated: the master key is 32 bytes');
      const id = masterKeyIdOf(key);
      if (!keys.some((k) => k.id === id)) keys.push({ id, key: Buffer.from(key) });
    }
    this.keys = keys;
  }

  /** The id of the master key that wraps new keys. */
  get currentId(): string {
    return this.keys[0]!.id;
  }

  get ids(): readonly string[] {
    return this.keys.map((k) => k.id);
  }

  wrap(key: Buffer, aad: string): { wrapped: Buffer; masterKeyId: string } {
    const current = this.keys[0]!;
    return { wrapped: seal(current.key, key, aad), masterKeyId: current.id };
  }

  /**
   * Opens a wrapped key with the master key its row names; a key wrapped before ids existed
   * (null) with each master key in turn. Throws when none of ours wrapped it.
   */
  unwrap(wrapped: Buffer, aad: string, masterKeyId: string | null): Buffer {
    if (masterKeyId !== null) {
      const named = this.keys.find((k) => k.id === masterKeyId);
      if (!named) throw new Error(`a key is wrapped by master key ${masterKeyId}, which this process is not given (it has ${this.ids.join(', ')})`);
      return open(named.key, wrapped, aad);
    }
    for (const k of this.keys) {
      try {
        return open(k.key, wrapped, aad);
      } catch {
        // not this one
      }
    }
    throw new Error(`a key wrapped before master key ids opens with none of this process's master keys (${this.ids.join(', ')})`);
  }

  /** The unowned key as it was derived from each master key before it was stored, in ring order. */
  legacyUnownedKeys(): Buffer[] {
    return this.keys.map((k) => Buffer.from(hkdfSync('sha256', k.key, Buffer.alloc(0), 'tuma:unowned-data-key:v1', 32)));
  }
}

/**
 * The unowned key: the stored one, opened; or, on first use, the key the master key derived before
 * keys were stored, stored now (wrapped by the ring's first key). With several master keys and no
 * stored key, the derivation that opens data already sealed is the right one (the first if none is).
 */
export async function loadUnownedKey(db: Db, ring: MasterKeyRing): Promise<Buffer> {
  const read = async () => (await sql<{ wrapped_key: Buffer; master_key_id: string }>`SELECT wrapped_key, master_key_id FROM vault_keys WHERE name = 'unowned'`.execute(db)).rows[0];
  const row = await read();
  if (row) return ring.unwrap(row.wrapped_key, unownedKeyAad, row.master_key_id);
  const derived = await legacyUnownedKey(db, ring);
  const { wrapped, masterKeyId } = ring.wrap(derived, unownedKeyAad);
  await sql`INSERT INTO vault_keys (name, master_key_id, wrapped_key) VALUES ('unowned', ${masterKeyId}, ${wrapped}) ON CONFLICT (name) DO NOTHING`.execute(db);
  // Another process may have won the insert: always use the stored key.
  const stored = await read();
  if (!stored) throw new Error('invariant violated: the unowned key is stored');
  return ring.unwrap(stored.wrapped_key, unownedKeyAad, stored.master_key_id);
}

/** Sealed rows tried when several master keys could have derived the unowned key. */
const unownedSamplesMax = 8;

async function legacyUnownedKey(db: Db, ring: MasterKeyRing): Promise<Buffer> {
  const candidates = ring.legacyUnownedKeys();
  if (candidates.length === 1) return candidates[0]!;
  const files = await sql<{ statement_id: string; chunk_no: number; sealed: Buffer }>`
    SELECT statement_id, chunk_no, sealed FROM statement_files ORDER BY statement_id, chunk_no LIMIT 1`.execute(db);
  const callbacks = await sql<{ provider: string; scope: string; dedupe_key: string; raw_body_enc: Buffer }>`
    SELECT provider, scope, dedupe_key, raw_body_enc FROM callbacks WHERE payout_id IS NULL ORDER BY id LIMIT ${unownedSamplesMax}`.execute(db);
  const samples = [
    ...files.rows.map((r) => ({ aad: unownedAadOf(`statement:${r.statement_id}:${r.chunk_no}`, 'statement_file'), sealed: r.sealed })),
    ...callbacks.rows.map((r) => ({ aad: unownedAadOf(`${r.provider}:${r.scope}:${r.dedupe_key}`, 'callback_body'), sealed: r.raw_body_enc })),
  ];
  for (const sample of samples) {
    for (const key of candidates) {
      try {
        open(key, sample.sealed, sample.aad);
        return key;
      } catch {
        // not derived from this master key
      }
    }
  }
  return candidates[0]!;
}

export class AesGcmVault implements BeneficiaryVault {
  private readonly keys = new Map<string, { readonly key: Promise<Buffer>; readonly at: number }>();
  private readonly pool: SealPool | null;
  private readonly ring: MasterKeyRing;
  private unowned: Promise<Buffer> | null = null;

  /** `masterKey`: one key, or several (the first wraps new keys; each opens what it wrapped: a rotation in progress). */
  constructor(private readonly db: Db, masterKey: Buffer | readonly Buffer[], options: VaultOptions = { sealThreads: 0 }) {
    this.ring = new MasterKeyRing(masterKey);
    this.pool = options.sealThreads > 0 ? new SealPool(options.sealThreads) : null;
  }

  /** The ids of the master keys this vault holds, the wrapping one first. */
  get masterKeyIds(): readonly string[] {
    return this.ring.ids;
  }

  /** Stops the sealing threads. */
  async close(): Promise<void> {
    await this.pool?.close();
  }

  /** Drops a programme's unwrapped key from memory (its erasure: the next use reads the database). */
  forget(programmeId: string): void {
    this.keys.delete(programmeId);
  }

  async seal(programmeId: string, subjectId: string, field: SealedField, plaintext: string | Buffer): Promise<Buffer> {
    const bytes = typeof plaintext === 'string' ? Buffer.from(plaintext, 'utf8') : plaintext;
    return seal(await this.dataKey(programmeId), bytes, aadOf(programmeId, subjectId, field));
  }

  async open(programmeId: string, subjectId: string, field: SealedField, sealed: Buffer): Promise<Buffer> {
    return open(await this.dataKey(programmeId), sealed, aadOf(programmeId, subjectId, field));
  }

  async sealUnowned(subjectId: string, field: SealedField, plaintext: string | Buffer): Promise<Buffer> {
    const bytes = typeof plaintext === 'string' ? Buffer.from(plaintext, 'utf8') : plaintext;
    return seal(await this.unownedKey(), bytes, unownedAadOf(subjectId, field));
  }

  async openUnowned(subjectId: string, field: SealedField, sealed: Buffer): Promise<Buffer> {
    return open(await this.unownedKey(), sealed, unownedAadOf(subjectId, field));
  }

  async blindIndex(programmeId: string, value: string): Promise<Buffer> {
    return createHmac('sha256', indexKeyOf(await this.dataKey(programmeId))).update(value, 'utf8').digest();
  }

  async sealBeneficiaries(programmeId: string, rows: BeneficiaryRows): Promise<SealedBeneficiaries> {
    const key = await this.dataKey(programmeId);
    const job = { key, indexKey: indexKeyOf(key), programmeId, ...rows };
    return this.pool ? this.pool.seal(job) : sealBeneficiaries(job);
  }

  private unownedKey(): Promise<Buffer> {
    if (!this.unowned) {
      const loading = loadUnownedKey(this.db, this.ring);
      loading.catch(() => {
        if (this.unowned === loading) this.unowned = null;
      });
      this.unowned = loading;
    }
    return this.unowned;
  }

  private dataKey(programmeId: string): Promise<Buffer> {
    const now = Date.now();
    let entry = this.keys.get(programmeId);
    if (entry && now - entry.at >= dataKeyCacheTtlMs) {
      this.keys.delete(programmeId);
      entry = undefined;
    }
    if (!entry) {
      if (this.keys.size >= dataKeyCacheMax) this.keys.delete(this.keys.keys().next().value as string);
      const loaded = { key: this.loadOrCreate(programmeId), at: now };
      loaded.key.catch(() => {
        if (this.keys.get(programmeId) === loaded) this.keys.delete(programmeId);
      });
      this.keys.set(programmeId, loaded);
      entry = loaded;
    }
    return entry.key;
  }

  /** The programme's erasure and its data key, in one read; undefined when the programme does not exist. */
  private async readDataKey(programmeId: string) {
    return this.db
      .selectFrom('programmes as p')
      .leftJoin('data_keys as k', 'k.programme_id', 'p.id')
      .select(['p.erased_at', 'k.wrapped_key', 'k.master_key_id'])
      .where('p.id', '=', programmeId)
      .executeTakeFirst();
  }

  private async loadOrCreate(programmeId: string): Promise<Buffer> {
    const aad = dataKeyAadOf(programmeId);
    const existing = await this.readDataKey(programmeId);
    if (existing?.erased_at) throw new ProgrammeErasedError(programmeId);
    if (existing?.wrapped_key) return this.ring.unwrap(existing.wrapped_key, aad, existing.master_key_id ?? null);
    const { wrapped, masterKeyId } = this.ring.wrap(randomBytes(32), aad);
    try {
      await this.db
        .insertInto('data_keys')
        .values({ programme_id: programmeId, wrapped_key: wrapped, master_key_id: masterKeyId })
        .onConflict((oc) => oc.column('programme_id').doNothing())
        .execute();
    } catch (error) {
      // Erased meanwhile: the database refuses the programme a new key (migration 0018).
      if ((await this.readDataKey(programmeId))?.erased_at) throw new ProgrammeErasedError(programmeId);
      throw error;
    }
    // Another process may have won the insert: always use the stored key.
    const stored = await this.readDataKey(programmeId);
    if (stored?.erased_at) throw new ProgrammeErasedError(programmeId);
    if (!stored?.wrapped_key) throw new Error(`invariant violated: programme ${programmeId} has a data key`);
    return this.ring.unwrap(stored.wrapped_key, aad, stored.master_key_id ?? null);
  }
}

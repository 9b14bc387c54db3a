// Beneficiary data at rest: AES-256-GCM under a per-programme data key; data keys are wrapped
// by the master key (config). The additional data binds each ciphertext to its programme, payout
// and field, so a ciphertext moved to another row does not open. Deleting a programme's data key
// erases its beneficiaries' data (crypto-shredding). Data that names no programme we can tell (a
// callback about a transaction we do not know) is sealed under a key derived from the master key
// for that purpose alone: it is erased by deleting its rows, not by deleting a programme's key.
import { createHmac, hkdfSync, randomBytes } from 'node:crypto';
import type { BeneficiaryRows, BeneficiaryVault, SealedBeneficiaries, SealedField } from '../../application/ports.js';
import type { Db } from '../db/database.js';
import { aadOf, open, seal, sealBeneficiaries } from './aead.mjs';
import { SealPool } from './seal-pool.js';

/** Unwrapped data keys kept in memory at most: one per active programme. */
export const dataKeyCacheMax = 10_000;

export interface VaultOptions {
  /** Sealing threads for whole chunks of beneficiaries; 0 seals them on the calling thread. */
  readonly sealThreads: number;
}

/** The additional data of an unowned sealed field: never equal to a programme's (aadOf starts "tuma:v1:"). */
const unownedAadOf = (subjectId: string, field: SealedField): string => `tuma:unowned:v1:${subjectId}:${field}`;

/** The programme's blind-index key, derived from its data key (never the data key itself). */
const indexKeyOf = (dataKey: Buffer): Buffer => createHmac('sha256', dataKey).update('tuma:blind-index:v1').digest();

export class AesGcmVault implements BeneficiaryVault {
  private readonly keys = new Map<string, Promise<Buffer>>();
  private readonly pool: SealPool | null;
  /** The key of unowned data: derived (HKDF-SHA256), so the master key itself never seals data. */
  private readonly unownedKey: Buffer;

  constructor(private readonly db: Db, private readonly masterKey: Buffer, options: VaultOptions = { sealThreads: 0 }) {
    if (masterKey.length !== 32) throw new Error('invariant violated: the master key is 32 bytes');
    this.pool = options.sealThreads > 0 ? new SealPool(options.sealThreads) : null;
    this.unownedKey = Buffer.from(hkdfSync('sha256', masterKey, Buffer.alloc(0), 'tuma:unowned-data-key:v1', 32));
  }

  /** Stops the sealing threads. */
  async close(): Promise<void> {
    await this.pool?.close();
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
    return seal(this.unownedKey, bytes, unownedAadOf(subjectId, field));
  }

  async openUnowned(subjectId: string, field: SealedField, sealed: Buffer): Promise<Buffer> {
    return open(this.unownedKey, sealed, unownedAadOf(subjectId, field));
  }

  async blindIndex(programmeId: string, value: string): Promise<Buffer> {
    return createHmac('sha256', indexKeyOf(await this.dataKey(programmeId))).update(value, 'utf8').digest();
  }

  async sealBeneficiaries(programmeId: string, rows: BeneficiaryRows): Promise<SealedBeneficiaries> {
    const key = await this.dataKey(programmeId);
    const job = { key, indexKey: indexKeyOf(key), programmeId, ...rows };
    return this.pool ? this.pool.seal(job) : sealBeneficiaries(job);
  }

  private dataKey(programmeId: string): Promise<Buffer> {
    let key = this.keys.get(programmeId);
    if (!key) {
      if (this.keys.size >= dataKeyCacheMax) this.keys.delete(this.keys.keys().next().value as string);
      key = this.loadOrCreate(programmeId);
      key.catch(() => this.keys.delete(programmeId));
      this.keys.set(programmeId, key);
    }
    return key;
  }

  private async loadOrCreate(programmeId: string): Promise<Buffer> {
    const aad = `tuma:data-key:v1:${programmeId}`;
    const existing = await this.db.selectFrom('data_keys').select('wrapped_key').where('programme_id', '=', programmeId).executeTakeFirst();
    if (existing) return open(this.masterKey, existing.wrapped_key, aad);
    await this.db
      .insertInto('data_keys')
      .values({ programme_id: programmeId, wrapped_key: seal(this.masterKey, randomBytes(32), aad) })
      .onConflict((oc) => oc.column('programme_id').doNothing())
      .execute();
    // Another process may have won the insert: always use the stored key.
    const stored = await this.db.selectFrom('data_keys').select('wrapped_key').where('programme_id', '=', programmeId).executeTakeFirstOrThrow();
    return open(this.masterKey, stored.wrapped_key, aad);
  }
}

// The wrapped keys as master-key rotation sees them (application/rotate-master-key.ts): data keys
// and the unowned key, opened with the master keys given, rewrapped under the new one. Each chunk
// is its own transaction: its rows are locked (FOR UPDATE) only while they are rewritten; a vault
// loading a key meanwhile reads the committed row, wrapped by one master key or the other.
import { sql } from 'kysely';
import type { WrappedKeyStore } from '../../application/rotate-master-key.js';
import type { Db } from '../db/database.js';
import { dataKeyAadOf, loadUnownedKey, MasterKeyRing, masterKeyIdOf, unownedKeyAad } from './vault.js';

/**
 * `opening`: the master keys that wrap keys today (the first wraps the unowned key if it was never
 * stored); `target`: the new master key.
 */
export function wrappedKeyStore(db: Db, opening: readonly Buffer[], target: Buffer): WrappedKeyStore {
  const targetId = masterKeyIdOf(target);
  const openingRing = new MasterKeyRing([...opening, target]);
  const targetRing = new MasterKeyRing(target);

  /** The key under the target, checked to open again before it replaces the old wrapping. */
  const rewrap = (key: Buffer, aad: string): Buffer => {
    const { wrapped } = targetRing.wrap(key, aad);
    if (!targetRing.unwrap(wrapped, aad, targetId).equals(key)) throw new Error('invariant violated: a rewrapped key opens to itself');
    return wrapped;
  };

  return {
    targetKeyId: targetId,

    async rewrapDataKeys(after, limit) {
      return db.transaction().execute(async (trx) => {
        const { rows } = await sql<{ programme_id: string; wrapped_key: Buffer; master_key_id: string | null }>`
          SELECT programme_id, wrapped_key, master_key_id FROM data_keys
          WHERE master_key_id IS DISTINCT FROM ${targetId} AND (${after}::text IS NULL OR programme_id > ${after})
          ORDER BY programme_id LIMIT ${limit} FOR UPDATE`.execute(trx);
        const unopenable: string[] = [];
        let rewrapped = 0;
        for (const row of rows) {
          const aad = dataKeyAadOf(row.programme_id);
          let key: Buffer;
          try {
            key = openingRing.unwrap(row.wrapped_key, aad, row.master_key_id);
          } catch {
            unopenable.push(row.programme_id);
            continue;
          }
          await sql`UPDATE data_keys SET wrapped_key = ${rewrap(key, aad)}, master_key_id = ${targetId}, rewrapped_at = now()
            WHERE programme_id = ${row.programme_id}`.execute(trx);
          rewrapped++;
        }
        return { scanned: rows.length, rewrapped, unopenable, last: rows[rows.length - 1]?.programme_id ?? null };
      });
    },

    async rewrapUnownedKey() {
      // Stored first if it never was (derived from the master key, as before keys were stored).
      await loadUnownedKey(db, new MasterKeyRing([...opening, target]));
      return db.transaction().execute(async (trx) => {
        const { rows } = await sql<{ wrapped_key: Buffer; master_key_id: string }>`
          SELECT wrapped_key, master_key_id FROM vault_keys WHERE name = 'unowned' FOR UPDATE`.execute(trx);
        const row = rows[0];
        if (!row) throw new Error('invariant violated: the unowned key is stored');
        if (row.master_key_id === targetId) return 'already' as const;
        const key = openingRing.unwrap(row.wrapped_key, unownedKeyAad, row.master_key_id);
        await sql`UPDATE vault_keys SET wrapped_key = ${rewrap(key, unownedKeyAad)}, master_key_id = ${targetId}, rewrapped_at = now()
          WHERE name = 'unowned'`.execute(trx);
        return 'rewrapped' as const;
      });
    },

    async remaining() {
      const { rows } = await sql<{ data_keys: number; unowned: boolean }>`
        SELECT (SELECT count(*) FROM data_keys WHERE master_key_id IS DISTINCT FROM ${targetId})::int AS data_keys,
               EXISTS (SELECT 1 FROM vault_keys WHERE master_key_id <> ${targetId}) AS unowned`.execute(db);
      return { dataKeys: rows[0]!.data_keys, unownedKey: rows[0]!.unowned };
    },

    async countDataKeys() {
      const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM data_keys`.execute(db);
      return rows[0]!.n;
    },
  };
}

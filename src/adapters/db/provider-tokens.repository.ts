// Provider credentials' access tokens, one per credential for every process (migration 0031): the
// token sealed under the vault's unowned key, replaced under the row's lock by one process at a
// time (adapters/providers/token-cache.ts says when).
import { sql } from 'kysely';
import type { BeneficiaryVault } from '../../application/ports.js';
import type { SharedToken, SharedTokenStore } from '../providers/token-cache.js';
import type { Db } from './database.js';

interface Row { generation: string; token_sealed: Buffer | null; refresh_at: Date | null }

export function providerTokenStore(db: Db, vault: Pick<BeneficiaryVault, 'sealUnowned' | 'openUnowned'>, now: () => number = Date.now): SharedTokenStore {
  const subject = (credential: string) => `provider-token:${credential}`;
  /** The row's token, opened; null when it has none or it cannot be opened (a key since rotated): then it is fetched anew. */
  const opened = async (credential: string, r: Row): Promise<SharedToken | null> => {
    if (r.token_sealed === null || r.refresh_at === null) return null;
    try {
      const value = (await vault.openUnowned(subject(credential), 'provider_token', r.token_sealed)).toString('utf8');
      return { value, refreshAtMs: r.refresh_at.getTime(), generation: Number(r.generation) };
    } catch {
      return null;
    }
  };
  return {
    async current(credential) {
      const { rows } = await sql<Row>`
        SELECT generation::text AS generation, token_sealed, refresh_at FROM provider_access_tokens WHERE credential = ${credential}`.execute(db);
      return rows[0] ? opened(credential, rows[0]) : null;
    },
    async replace(credential, stale, fetch) {
      return db.transaction().execute(async (trx) => {
        // A credential never seen has no row to lock yet: it is made first (two processes' first fetch then take turns).
        await sql`INSERT INTO provider_access_tokens (credential, generation, replaced_at) VALUES (${credential}, 0, now()) ON CONFLICT (credential) DO NOTHING`.execute(trx);
        const { rows } = await sql<Row>`
          SELECT generation::text AS generation, token_sealed, refresh_at FROM provider_access_tokens WHERE credential = ${credential} FOR UPDATE`.execute(trx);
        const row = rows[0];
        if (!row) throw new Error('invariant violated: the credential\'s token row exists once made');
        const generation = Number(row.generation);
        if (generation !== stale) {
          // Another process replaced the one this process held (or had none) while it waited: take that one.
          const theirs = await opened(credential, row);
          if (theirs && theirs.refreshAtMs > now()) return theirs;
        }
        const fetched = await fetch();
        const sealed = await vault.sealUnowned(subject(credential), 'provider_token', fetched.value);
        await sql`
          UPDATE provider_access_tokens SET generation = ${generation + 1}, token_sealed = ${sealed}, refresh_at = ${new Date(fetched.refreshAtMs)}, replaced_at = now()
          WHERE credential = ${credential}`.execute(trx);
        return { value: fetched.value, refreshAtMs: fetched.refreshAtMs, generation: generation + 1 };
      });
    },
  };
}

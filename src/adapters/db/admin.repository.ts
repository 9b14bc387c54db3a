import type { AdminRepo } from '../../application/ports.js';
import type { DbOrTx } from './database.js';

export function adminRepository(db: DbOrTx): AdminRepo {
  return {
    async insertOrganisation(id, name) {
      const r = await db.insertInto('organisations').values({ id, name }).onConflict((oc) => oc.column('id').doNothing()).returning('id').executeTakeFirst();
      return r !== undefined;
    },
    async ensureLedger(currency, scale) {
      await db.insertInto('ledgers').values({ currency, scale }).onConflict((oc) => oc.column('currency').doNothing()).execute();
    },
    async insertProgramme(p) {
      const r = await db
        .insertInto('programmes')
        .values({ id: p.id, organisation_id: p.organisationId, name: p.name, currency: p.currency, approvals_required: p.approvalsRequired })
        .onConflict((oc) => oc.column('id').doNothing())
        .returning('id')
        .executeTakeFirst();
      return r !== undefined;
    },
    async insertSignerKey(k) {
      const r = await db
        .insertInto('signer_keys')
        .values({
          kid: k.kid,
          organisation_id: k.organisationId,
          role: k.role,
          alg: k.alg,
          public_jwk: JSON.stringify(k.publicJwk),
          not_before: k.notBefore,
          not_after: k.notAfter,
          revoked_at: k.revokedAt,
        })
        .onConflict((oc) => oc.column('kid').doNothing())
        .returning('kid')
        .executeTakeFirst();
      return r !== undefined;
    },
  };
}

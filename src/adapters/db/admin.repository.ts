import { sql } from 'kysely';
import type { AdminRepo } from '../../application/ports.js';
import { toSignerKey } from './batch.repository.js';
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
          holder: k.holder,
          created_by: k.createdBy ?? null,
        })
        .onConflict((oc) => oc.column('kid').doNothing())
        .returning('kid')
        .executeTakeFirst();
      return r !== undefined;
    },
    async listSignerKeys(organisationId, role, afterKid, limit) {
      let q = db.selectFrom('signer_keys').selectAll().where('organisation_id', '=', organisationId);
      if (role) q = q.where('role', '=', role);
      if (afterKid !== null) q = q.where('kid', '>', afterKid);
      return (await q.orderBy('kid').limit(limit).execute()).map(toSignerKey);
    },
    async revokeSignerKey(kid, at, by) {
      // An earlier revocation stands; a later one is brought forward.
      await db
        .updateTable('signer_keys')
        .set({ revoked_at: at, revoked_by: by })
        .where('kid', '=', kid)
        .where((eb) => eb.or([eb('revoked_at', 'is', null), eb('revoked_at', '>', at)]))
        .execute();
      const r = await db.selectFrom('signer_keys').selectAll().where('kid', '=', kid).executeTakeFirst();
      return r ? toSignerKey(r) : null;
    },
    async setPolicy(programmeId, policy) {
      const [base, ...tiers] = policy.tiers;
      await db
        .updateTable('programmes')
        .set({
          approvals_required: base?.approvers ?? 0,
          approval_tiers: JSON.stringify(tiers.map((t) => ({ fromMinor: t.fromMinor.toString(), approvers: t.approvers }))),
          providers: [...policy.providers],
          payout_max_minor: policy.payoutMaxMinor,
          row_errors: policy.rowErrors,
          updated_at: sql`now()`,
        })
        .where('id', '=', programmeId)
        .execute();
    },
  };
}

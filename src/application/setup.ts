// Administrative set-up: organisations, programmes, signer keys, funding and float. The admin
// HTTP API arrives with issue #4; the CLI, the dev seed and the tests use these today.
import { scaleOf, type CurrencyCode } from '../domain/currency.js';
import { reject, type Rejection } from '../domain/errors.js';
import { postings } from '../domain/ledger-rules.js';
import { checkTiers, type ProgrammePolicy } from '../domain/programme-policy.js';
import { calculateJwkThumbprint } from 'jose';
import { err, ok, type Result } from '../domain/result.js';
import { checkPublicJwk } from './admin.js';
import { allowedAlgorithms } from './verify-batch-signature.js';
import type { Persistence, SignerKeyRecord } from './ports.js';

export async function registerOrganisation(persistence: Persistence, id: string, name: string): Promise<void> {
  await persistence.transaction(async (tx) => ok(await tx.admin.insertOrganisation(id, name)));
}

/** Registers a programme; its policy defaults to `approvalsRequired` approvers at any total, M-Pesa, no own maximum, reject_batch. */
export async function registerProgramme(
  persistence: Persistence,
  p: { id: string; organisationId: string; name: string; currency: CurrencyCode; approvalsRequired: number; policy?: ProgrammePolicy },
): Promise<void> {
  const policy: ProgrammePolicy = p.policy ?? { tiers: [{ fromMinor: 0n, approvers: p.approvalsRequired }], providers: ['mpesa'], payoutMaxMinor: null, rowErrors: 'reject_batch' };
  const problem = checkTiers(policy.tiers);
  if (problem) throw new Error(`invariant violated: a programme policy is valid (${problem})`);
  await persistence.transaction(async (tx) => {
    await tx.admin.ensureLedger(p.currency, scaleOf(p.currency));
    const inserted = await tx.admin.insertProgramme({ ...p, approvalsRequired: policy.tiers[0]!.approvers, policy });
    if (inserted) await tx.admin.setPolicy(p.id, policy);
    return ok(inserted);
  });
}

/**
 * Registers a public JWK with any validity window (the dev seed and tests use it, e.g. for keys
 * already expired); administrators go through admin.ts, which refuses windows reaching back.
 */
export async function registerSignerKey(
  persistence: Persistence,
  k: { organisationId: string; role: 'maker' | 'approver'; alg: string; publicJwk: Record<string, unknown>; notBefore: Date; notAfter: Date | null; revokedAt?: Date | null; holder?: string | null },
): Promise<Result<string, Rejection>> {
  if (!(allowedAlgorithms as readonly string[]).includes(k.alg)) return err(reject('JWS_ALG_NOT_ALLOWED'));
  const alg = k.alg as SignerKeyRecord['alg'];
  const jwk = await checkPublicJwk(alg, k.publicJwk);
  if (!jwk.ok) return jwk;
  const kid = await calculateJwkThumbprint(jwk.value as Parameters<typeof calculateJwkThumbprint>[0], 'sha256');
  await persistence.transaction(async (tx) => ok(await tx.admin.insertSignerKey({
    kid, organisationId: k.organisationId, role: k.role, alg, publicJwk: jwk.value, notBefore: k.notBefore, notAfter: k.notAfter, revokedAt: k.revokedAt ?? null, holder: k.holder ?? null, createdBy: 'setup',
  })));
  return ok(kid);
}

/** Donor money into a programme's available account; replaying the same key changes nothing. */
export async function fundProgramme(
  persistence: Persistence,
  f: { idempotencyKey: string; organisationId: string; programmeId: string; source: string; currency: CurrencyCode; amountMinor: bigint; reference?: string | null },
): Promise<Result<'posted' | 'replayed', Rejection>> {
  return persistence.ledger.postJournal(postings.funding(f));
}

/** Money moved into our float at a provider. */
export async function topUpFloat(
  persistence: Persistence,
  f: { idempotencyKey: string; organisationId: string; provider: string; source: string; currency: CurrencyCode; amountMinor: bigint; reference?: string | null },
): Promise<Result<'posted' | 'replayed', Rejection>> {
  return persistence.ledger.postJournal(postings.floatTopUp(f));
}

// Administrative set-up: organisations, programmes, signer keys, funding and float. The admin
// HTTP API arrives with issue #4; the CLI, the dev seed and the tests use these today.
import { calculateJwkThumbprint, importJWK } from 'jose';
import { scaleOf, type CurrencyCode } from '../domain/currency.js';
import { reject, type Rejection } from '../domain/errors.js';
import { postings } from '../domain/ledger-rules.js';
import { err, ok, type Result } from '../domain/result.js';
import type { Persistence, SignerKeyRecord } from './ports.js';
import { allowedAlgorithms } from './verify-batch-signature.js';

export async function registerOrganisation(persistence: Persistence, id: string, name: string): Promise<void> {
  await persistence.transaction(async (tx) => ok(await tx.admin.insertOrganisation(id, name)));
}

export async function registerProgramme(
  persistence: Persistence,
  p: { id: string; organisationId: string; name: string; currency: CurrencyCode; approvalsRequired: number },
): Promise<void> {
  await persistence.transaction(async (tx) => {
    await tx.admin.ensureLedger(p.currency, scaleOf(p.currency));
    return ok(await tx.admin.insertProgramme(p));
  });
}

/** Registers a public JWK; its kid is the RFC 7638 thumbprint, so the same key always has the same kid. */
export async function registerSignerKey(
  persistence: Persistence,
  k: { organisationId: string; role: 'maker' | 'approver'; alg: string; publicJwk: Record<string, unknown>; notBefore: Date; notAfter: Date | null },
): Promise<Result<string, Rejection>> {
  if (!(allowedAlgorithms as readonly string[]).includes(k.alg)) return err(reject('JWS_ALG_NOT_ALLOWED'));
  if ('d' in k.publicJwk) return err(reject('REQUEST_MALFORMED', 'a private key was given; register the public JWK only'));
  try {
    await importJWK(k.publicJwk, k.alg); // refuses a key that does not fit its algorithm
  } catch {
    return err(reject('REQUEST_MALFORMED', 'the JWK does not fit the algorithm'));
  }
  const kid = await calculateJwkThumbprint(k.publicJwk, 'sha256');
  const record: SignerKeyRecord = {
    kid,
    organisationId: k.organisationId,
    role: k.role,
    alg: k.alg as SignerKeyRecord['alg'],
    publicJwk: k.publicJwk,
    notBefore: k.notBefore,
    notAfter: k.notAfter,
    revokedAt: null,
  };
  await persistence.transaction(async (tx) => ok(await tx.admin.insertSignerKey(record)));
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

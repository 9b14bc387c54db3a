// The organisation a benchmark pays from: one KES programme through M-Pesa needing one approver,
// and a maker and an approver key registered for it (made per run; nothing here is a secret).
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type CryptoKey } from 'jose';
import type { Persistence } from '../src/application/ports.js';
import { registerOrganisation, registerProgramme, registerSignerKey } from '../src/application/setup.js';

export interface BenchProgramme {
  readonly organisationId: string;
  readonly programmeId: string;
  readonly keys: Record<'maker' | 'approver', { readonly privateKey: CryptoKey; readonly publicKey: CryptoKey }>;
  /** Each key's kid (its RFC 7638 thumbprint). */
  readonly kids: Record<'maker' | 'approver', string>;
}

export async function setUpBenchProgramme(persistence: Persistence): Promise<BenchProgramme> {
  const organisationId = 'bench-org';
  const programmeId = 'bench-programme';
  await registerOrganisation(persistence, organisationId, 'Bench');
  await registerProgramme(persistence, {
    id: programmeId, organisationId, name: 'Bench', currency: 'KES', approvalsRequired: 1,
    policy: { tiers: [{ fromMinor: 0n, approvers: 1 }], providers: ['mpesa'], payoutMaxMinor: null, rowErrors: 'reject_batch' },
  });
  const keys = { maker: await generateKeyPair('ES256', { extractable: true }), approver: await generateKeyPair('ES256', { extractable: true }) };
  const kids = { maker: '', approver: '' };
  for (const role of ['maker', 'approver'] as const) {
    const publicJwk = await exportJWK(keys[role].publicKey);
    const kid = await registerSignerKey(persistence, { organisationId, role, alg: 'ES256', publicJwk: publicJwk as Record<string, unknown>, notBefore: new Date(Date.now() - 60_000), notAfter: null });
    if (!kid.ok) throw new Error(kid.error.code);
    kids[role] = await calculateJwkThumbprint(publicJwk, 'sha256');
  }
  return { organisationId, programmeId, keys, kids };
}

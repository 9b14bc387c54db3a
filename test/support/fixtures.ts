// Test data: an organisation with a funded programme, signer keys, and signed batch documents.
import { randomBytes, randomUUID } from 'node:crypto';
import { net } from './net.js';
import { calculateJwkThumbprint, exportJWK, GeneralSign, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import type { Persistence } from '../../src/application/ports.js';
import type { CurrencyCode } from '../../src/domain/currency.js';
import type { ProviderId } from '../../src/domain/providers.js';
import { fundProgramme, registerOrganisation, registerProgramme, registerSignerKey, topUpFloat } from '../../src/application/setup.js';

export interface Maker {
  readonly kid: string;
  readonly privateKey: CryptoKey;
  readonly publicJwk: JWK;
}

export async function newKey(alg: 'ES256' | 'EdDSA' | 'PS256' = 'ES256'): Promise<Maker> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk = await exportJWK(publicKey);
  return { kid: await calculateJwkThumbprint(publicJwk, 'sha256'), privateKey, publicJwk };
}

export interface Scenario {
  readonly organisationId: string;
  readonly programmeId: string;
  readonly maker: Maker;
}

/** An organisation, a KES programme funded with `fundedMinor`, float at M-Pesa, a registered maker key. */
export async function setUpProgramme(persistence: Persistence, fundedMinor = 10_000_000n): Promise<Scenario> {
  const suffix = randomBytes(4).toString('hex');
  const organisationId = `org-${suffix}`;
  const programmeId = `prog-${suffix}`;
  await registerOrganisation(persistence, organisationId, 'Test organisation');
  await registerProgramme(persistence, { id: programmeId, organisationId, name: 'Test programme', currency: 'KES', approvalsRequired: 0 });
  const maker = await newKey();
  const registered = await registerSignerKey(persistence, {
    organisationId, role: 'maker', alg: 'ES256', publicJwk: maker.publicJwk as Record<string, unknown>, notBefore: new Date(0), notAfter: null,
  });
  if (!registered.ok) throw new Error(registered.error.code);
  if (fundedMinor > 0n) {
    await fundProgramme(persistence, { idempotencyKey: `fund-${suffix}`, organisationId, programmeId, source: 'donor', currency: 'KES', amountMinor: fundedMinor });
  }
  await topUpFloat(persistence, { idempotencyKey: `float-${suffix}`, organisationId, provider: 'mpesa', source: 'donor', currency: 'KES', amountMinor: 1_000_000_000n });
  return { organisationId, programmeId, maker };
}

/**
 * An organisation and a programme paying in `currency` through one `provider`: funded with
 * `fundedMinor`, float at the provider, a registered maker key, no approvals needed.
 */
export async function setUpProviderProgramme(
  persistence: Persistence,
  p: { readonly provider: ProviderId; readonly currency: CurrencyCode; readonly fundedMinor: bigint; readonly floatMinor: bigint },
): Promise<Scenario> {
  const suffix = randomBytes(4).toString('hex');
  const organisationId = `org-${suffix}`;
  const programmeId = `prog-${p.currency.toLowerCase()}-${suffix}`;
  await registerOrganisation(persistence, organisationId, 'Test organisation');
  await registerProgramme(persistence, {
    id: programmeId, organisationId, name: `${p.currency} cash`, currency: p.currency, approvalsRequired: 0,
    policy: { tiers: [{ fromMinor: 0n, approvers: 0 }], providers: [p.provider], payoutMaxMinor: null, rowErrors: 'reject_batch' },
  });
  const maker = await newKey();
  const kid = await registerSignerKey(persistence, { organisationId, role: 'maker', alg: 'ES256', publicJwk: maker.publicJwk as Record<string, unknown>, notBefore: new Date(0), notAfter: null });
  if (!kid.ok) throw new Error(kid.error.code);
  await fundProgramme(persistence, { idempotencyKey: `fund-${suffix}`, organisationId, programmeId, source: 'donor', currency: p.currency, amountMinor: p.fundedMinor });
  await topUpFloat(persistence, { idempotencyKey: `float-${suffix}`, organisationId, provider: p.provider, source: 'donor', currency: p.currency, amountMinor: p.floatMinor });
  return { organisationId, programmeId, maker };
}

export interface PayoutLine {
  ref: string;
  provider: string;
  msisdn: string;
  amount: unknown;
  name?: string;
}

/** `total` overrides declared.total; other overrides replace document members. */
export function batchDocument(s: Pick<Scenario, 'organisationId' | 'programmeId'>, payouts: PayoutLine[], { total, ...overrides }: Record<string, unknown> = {}) {
  const now = Date.now();
  return {
    batchId: randomUUID(),
    organisationId: s.organisationId,
    programmeId: s.programmeId,
    currency: 'KES',
    createdAt: new Date(now - 1_000).toISOString(),
    expiresAt: new Date(now + 86_400_000).toISOString(),
    declared: { count: payouts.length, total: total ?? sumKes(payouts) },
    payouts,
    ...overrides,
  };
}

function sumKes(payouts: PayoutLine[]): string {
  // Test fixture arithmetic in cents as bigint; amounts here are plain "N.NN" strings.
  const cents = payouts.reduce((t, p) => t + BigInt(String(p.amount).replace('.', '')), 0n);
  return `${cents / 100n}.${String(cents % 100n).padStart(2, '0')}`;
}

export async function sign(document: unknown, key: Maker, header: Record<string, unknown> = {}) {
  const payload = new TextEncoder().encode(JSON.stringify(document));
  return new GeneralSign(payload).addSignature(key.privateKey).setProtectedHeader({ alg: 'ES256', kid: key.kid, ...header }).sign();
}

export const kenyanPayout = (ref: string, amount = '100.00'): PayoutLine => ({ ref, provider: 'mpesa', msisdn: '+254712345678', amount, name: 'Amina Test' });

export { net };

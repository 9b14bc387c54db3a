// Administrators: signer keys (register, list, revoke) and programme policy. Every action is scoped
// to the administrator's organisation and records who did it.
//
// Rotation needs nothing special: register the new key (valid at once unless notBefore says
// otherwise) and leave the old one to its notAfter, or revoke it with a future `at`.
import { calculateJwkThumbprint, importJWK } from 'jose';
import { reject, type Rejection } from '../domain/errors.js';
import { formatPolicy, parsePolicy } from '../domain/programme-policy.js';
import { err, ok, type Result } from '../domain/result.js';
import { cursors } from './ledger.js';
import type { Actor, Persistence, SignerKeyRecord } from './ports.js';
import { allowedAlgorithms, keyValidAt } from './verify-batch-signature.js';
import { appendAudit } from './audit.js';

/** Signer keys per page of GET /v1/signer-keys. */
export const signerKeysPageMax = 500;
/** A public JWK is small; a PS256 key of 16,384 bits is about 3 KB. */
export const publicJwkMaxBytes = 8 * 1024;
/** A key holder is a JWT subject. */
export const holderMaxChars = 256;
/** How far back a registration's notBefore may reach (clock drift between the admin and us). */
export const notBeforeSkewMs = 5 * 60 * 1000;

/** The public members of each key type (RFC 7518 §6, RFC 8037): nothing else is stored. */
const publicMembers: Record<string, readonly string[]> = { EC: ['kty', 'crv', 'x', 'y'], OKP: ['kty', 'crv', 'x'], RSA: ['kty', 'n', 'e'] };
const keyTypeOf: Record<SignerKeyRecord['alg'], { kty: string; crv?: readonly string[] }> = {
  ES256: { kty: 'EC', crv: ['P-256'] },
  EdDSA: { kty: 'OKP', crv: ['Ed25519'] },
  PS256: { kty: 'RSA' },
};
/** RSA keys below this are refused (NIST SP 800-57: 2048 bits at least). */
const rsaModulusMinBits = 2048;

export type KeyStatus = 'pending' | 'active' | 'expired' | 'revoked';

export interface SignerKeyView {
  readonly kid: string;
  readonly organisationId: string;
  readonly role: 'maker' | 'approver';
  readonly alg: string;
  readonly publicJwk: Record<string, unknown>;
  readonly notBefore: string;
  readonly notAfter: string | null;
  readonly revokedAt: string | null;
  readonly holder: string | null;
  readonly createdAt: string | null;
  readonly status: KeyStatus;
}

export function signerKeyView(k: SignerKeyRecord, now: Date): SignerKeyView {
  const status: KeyStatus = keyValidAt(k, now)
    ? 'active'
    : k.revokedAt && k.revokedAt.getTime() <= now.getTime()
      ? 'revoked'
      : k.notBefore.getTime() > now.getTime()
        ? 'pending'
        : 'expired';
  return {
    kid: k.kid,
    organisationId: k.organisationId,
    role: k.role,
    alg: k.alg,
    publicJwk: k.publicJwk,
    notBefore: k.notBefore.toISOString(),
    notAfter: k.notAfter?.toISOString() ?? null,
    revokedAt: k.revokedAt?.toISOString() ?? null,
    holder: k.holder,
    createdAt: k.createdAt?.toISOString() ?? null,
    status,
  };
}

function parseInstant(raw: unknown, field: string): Result<Date | null, Rejection> {
  if (raw === undefined || raw === null) return ok(null);
  if (typeof raw !== 'string' || raw.length > 40 || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/.test(raw)) {
    return err(reject('SIGNER_KEY_INVALID', `${field} is an RFC 3339 date-time`));
  }
  const d = new Date(raw);
  return Number.isNaN(d.getTime()) ? err(reject('SIGNER_KEY_INVALID', `${field} is not a real instant`)) : ok(d);
}

/** The key as registered: only its public members, so a stray private member can never be stored or echoed. */
export async function checkPublicJwk(alg: SignerKeyRecord['alg'], jwk: unknown): Promise<Result<Record<string, unknown>, Rejection>> {
  if (!jwk || typeof jwk !== 'object' || Array.isArray(jwk)) return err(reject('SIGNER_KEY_INVALID', 'publicJwk is a JWK object'));
  const given = jwk as Record<string, unknown>;
  if (Buffer.byteLength(JSON.stringify(given)) > publicJwkMaxBytes) return err(reject('SIGNER_KEY_INVALID', `publicJwk is at most ${publicJwkMaxBytes} bytes`));
  for (const priv of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k']) {
    if (priv in given) return err(reject('SIGNER_KEY_INVALID', 'a private key was given; register the public JWK only (and treat the private key as exposed)'));
  }
  const expected = keyTypeOf[alg];
  if (given.kty !== expected.kty || (expected.crv && !expected.crv.includes(String(given.crv)))) {
    return err(reject('SIGNER_KEY_INVALID', `an ${alg} key is kty ${expected.kty}${expected.crv ? ` crv ${expected.crv.join('/')}` : ''}`));
  }
  if (given.alg !== undefined && given.alg !== alg) return err(reject('SIGNER_KEY_INVALID', `the JWK says alg ${String(given.alg).slice(0, 20)}`));
  if (given.use !== undefined && given.use !== 'sig') return err(reject('SIGNER_KEY_INVALID', 'the JWK is not for signatures (use)'));
  const members = publicMembers[expected.kty]!;
  const publicJwk: Record<string, unknown> = {};
  for (const m of members) {
    if (typeof given[m] !== 'string') return err(reject('SIGNER_KEY_INVALID', `publicJwk.${m} is missing`));
    publicJwk[m] = given[m];
  }
  if (expected.kty === 'RSA' && Buffer.from(String(given.n), 'base64url').length * 8 < rsaModulusMinBits) {
    return err(reject('SIGNER_KEY_INVALID', `RSA keys are at least ${rsaModulusMinBits} bits`));
  }
  try {
    await importJWK(publicJwk, alg);
  } catch {
    return err(reject('SIGNER_KEY_INVALID', 'the JWK is not a valid key for its algorithm'));
  }
  return ok(publicJwk);
}

/** The request a privileged action came in on (x-request-id), recorded with its audit event. */
export type RequestId = string | null;

export async function registerKey(
  persistence: Persistence,
  actor: Actor,
  body: unknown,
  now: Date,
  requestId: RequestId = null,
): Promise<Result<{ key: SignerKeyView; replayed: boolean }, Rejection>> {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return err(reject('SIGNER_KEY_INVALID', 'expected a JSON object'));
  const { role, alg, publicJwk, notBefore, notAfter, organisationId, holder, ...rest } = body as Record<string, unknown>;
  const extra = Object.keys(rest)[0];
  if (extra !== undefined) return err(reject('SIGNER_KEY_INVALID', `unknown member ${JSON.stringify(extra).slice(0, 40)}`));
  // The key joins the administrator's own organisation; naming another is a mistake worth saying.
  if (organisationId !== undefined && organisationId !== actor.organisationId) return err(reject('SIGNER_KEY_INVALID', "keys are registered in the administrator's own organisation"));
  if (role !== 'maker' && role !== 'approver') return err(reject('SIGNER_KEY_INVALID', 'role is maker or approver'));
  if (typeof holder !== 'string' || holder.length === 0 || holder.length > holderMaxChars) {
    return err(reject('SIGNER_KEY_INVALID', `holder is the JWT subject (sub) of the person who holds the private key, 1-${holderMaxChars} characters`));
  }
  if (typeof alg !== 'string' || !(allowedAlgorithms as readonly string[]).includes(alg)) {
    return err(reject('JWS_ALG_NOT_ALLOWED', `alg is one of ${allowedAlgorithms.join(', ')}`));
  }
  const jwk = await checkPublicJwk(alg as SignerKeyRecord['alg'], publicJwk);
  if (!jwk.ok) return jwk;
  const from = parseInstant(notBefore, 'notBefore');
  if (!from.ok) return from;
  const until = parseInstant(notAfter, 'notAfter');
  if (!until.ok) return until;
  const start = from.value ?? now;
  if (start.getTime() < now.getTime() - notBeforeSkewMs) return err(reject('SIGNER_KEY_INVALID', 'notBefore is in the past: a key cannot sign before it was registered'));
  if (until.value && until.value.getTime() <= start.getTime()) return err(reject('SIGNER_KEY_INVALID', 'notAfter is after notBefore'));
  const kid = await calculateJwkThumbprint(jwk.value as Parameters<typeof calculateJwkThumbprint>[0], 'sha256');
  const record: SignerKeyRecord = {
    kid,
    organisationId: actor.organisationId,
    role,
    alg: alg as SignerKeyRecord['alg'],
    publicJwk: jwk.value,
    notBefore: start,
    notAfter: until.value,
    revokedAt: null,
    holder,
  };
  const inserted = await persistence.transaction(async (tx) => {
    const fresh = await tx.admin.insertSignerKey({ ...record, createdBy: actor.subject });
    // Who may sign, for whom: on the record with the key, in the same transaction (never the holder's name).
    if (fresh) await appendAudit(tx, { organisationId: actor.organisationId, actor: actor.subject.slice(0, 128), requestId, action: 'signer_key.register', objectId: kid, detail: { role, alg: String(alg) } });
    return ok(fresh);
  });
  const stored = await persistence.read.batches.findSignerKey(kid);
  if (!stored) throw new Error(`invariant violated: signer key ${kid} is stored`);
  if (inserted.ok && inserted.value) return ok({ key: signerKeyView(stored, now), replayed: false });
  // The same key again: a replay if nothing differs that matters (notBefore defaults to "now", so an omitted one matches).
  const same = stored.organisationId === record.organisationId && stored.role === record.role && stored.alg === record.alg && stored.holder === record.holder &&
    (notBefore === undefined || stored.notBefore.getTime() === start.getTime()) && (stored.notAfter?.getTime() ?? null) === (record.notAfter?.getTime() ?? null);
  if (!same) return err(reject('SIGNER_KEY_EXISTS', stored.organisationId === actor.organisationId ? `kid ${kid}` : undefined));
  return ok({ key: signerKeyView(stored, now), replayed: true });
}

export async function getKey(persistence: Persistence, actor: Actor, kid: string, now: Date): Promise<SignerKeyView | null> {
  const key = await persistence.read.batches.findSignerKey(kid);
  return key && key.organisationId === actor.organisationId ? signerKeyView(key, now) : null;
}

export async function listKeys(
  persistence: Persistence,
  actor: Actor,
  q: { role: 'maker' | 'approver' | null; cursor: string | null; limit: number },
  now: Date,
): Promise<Result<{ items: SignerKeyView[]; nextCursor: string | null }, Rejection>> {
  const after = q.cursor === null ? null : cursors.decode('g', q.cursor);
  if (q.cursor !== null && after === null) return err(reject('QUERY_INVALID', 'cursor'));
  const keys = await persistence.read.admin.listSignerKeys(actor.organisationId, q.role, after, q.limit);
  const last = keys[keys.length - 1];
  return ok({ items: keys.map((k) => signerKeyView(k, now)), nextCursor: keys.length === q.limit && last ? cursors.encode('g', last.kid) : null });
}

/** Revokes now or at a future instant; never in the past (what was signed before stays signed). */
export async function revokeKey(persistence: Persistence, actor: Actor, kid: string, body: unknown, now: Date, requestId: RequestId = null): Promise<Result<SignerKeyView, Rejection>> {
  if (body !== undefined && body !== null && (typeof body !== 'object' || Array.isArray(body))) return err(reject('SIGNER_KEY_INVALID', 'expected a JSON object {at?}'));
  const { at, ...rest } = (body ?? {}) as Record<string, unknown>;
  if (Object.keys(rest).length > 0) return err(reject('SIGNER_KEY_INVALID', 'the only member is at'));
  const when = parseInstant(at, 'at');
  if (!when.ok) return when;
  const instant = when.value ?? now;
  if (instant.getTime() < now.getTime() - notBeforeSkewMs) return err(reject('SIGNER_KEY_INVALID', 'at is in the past: a revocation cannot reach back'));
  const existing = await persistence.read.batches.findSignerKey(kid);
  if (!existing || existing.organisationId !== actor.organisationId) return err(reject('NOT_FOUND'));
  const revoked = await persistence.transaction(async (tx) => {
    const at = instant.getTime() < now.getTime() ? now : instant;
    const key = await tx.admin.revokeSignerKey(kid, at, actor.subject);
    if (key) await appendAudit(tx, { organisationId: actor.organisationId, actor: actor.subject.slice(0, 128), requestId, action: 'signer_key.revoke', objectId: kid, detail: { revokedAt: at.toISOString() } });
    return ok(key);
  });
  if (!revoked.ok || !revoked.value) throw new Error(`invariant violated: signer key ${kid} is stored`);
  return ok(signerKeyView(revoked.value, now));
}

export async function getPolicy(persistence: Persistence, actor: Actor, programmeId: string) {
  const programme = await persistence.read.batches.findProgramme(programmeId);
  if (!programme || programme.organisationId !== actor.organisationId) return null;
  return formatPolicy(programme.policy, programme.currency);
}

export async function setPolicy(persistence: Persistence, actor: Actor, programmeId: string, body: unknown, requestId: RequestId = null): Promise<Result<ReturnType<typeof formatPolicy>, Rejection>> {
  const programme = await persistence.read.batches.findProgramme(programmeId);
  if (!programme || programme.organisationId !== actor.organisationId) return err(reject('NOT_FOUND'));
  const policy = parsePolicy(body, programme.currency);
  if (!policy.ok) return err(reject('POLICY_INVALID', policy.error));
  // Batches already stored keep the approvals they were given: the policy applies from the next one.
  await persistence.transaction(async (tx) => {
    await tx.admin.setPolicy(programmeId, policy.value);
    const shown = formatPolicy(policy.value, programme.currency);
    await appendAudit(tx, { organisationId: actor.organisationId, actor: actor.subject.slice(0, 128), requestId, action: 'programme.policy', objectId: programmeId, detail: { policy: JSON.stringify(shown).slice(0, 1_500) } });
    return ok(undefined);
  });
  return ok(formatPolicy(policy.value, programme.currency));
}

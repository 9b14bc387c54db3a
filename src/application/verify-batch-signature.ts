// JWS over batch documents: the maker's submission (JSON serialization, general syntax, RFC 7515
// §7.2, optionally with approvers' co-signatures) and approvers' detached signatures (Appendix F)
// over the same stored bytes. Asymmetric algorithms only; the algorithm must be the registered
// key's; the key must be valid now, of the batch's organisation and used in its own role.
import { flattenedVerify, importJWK } from 'jose';
import { approversMax } from '../domain/programme-policy.js';
import { reject, type Rejection } from '../domain/errors.js';
import { err, ok, type Result } from '../domain/result.js';
import type { BatchRepo, SignerKeyRecord } from './ports.js';

export const allowedAlgorithms = ['ES256', 'EdDSA', 'PS256'] as const;
/** A submission carries the maker's signature and at most `approversMax` co-signatures. */
export const submissionSignaturesMax = 1 + approversMax;
/** A protected header is a few short members. */
export const protectedHeaderMaxBytes = 4096;
/** The largest signature: PS256 with a 16,384-bit key, base64url. */
export const signatureMaxChars = 2800;

export interface JwsSignature {
  readonly protected: string;
  readonly signature: string;
}

export interface GeneralJws {
  readonly payload: string;
  readonly signatures: readonly JwsSignature[];
}

export interface SignedBy {
  readonly key: SignerKeyRecord;
  readonly signature: JwsSignature;
}

export interface VerifiedSubmission {
  readonly payload: Buffer;
  readonly maker: SignedBy;
  readonly coSigners: readonly SignedBy[];
}

const base64url = /^[A-Za-z0-9_-]*$/;

function checkSignatureShape(s: unknown): Result<JwsSignature, Rejection> {
  if (!s || typeof s !== 'object' || Array.isArray(s)) return err(reject('JWS_MALFORMED', 'each signature must be an object'));
  const { protected: prot, signature, header, ...rest } = s as Record<string, unknown>;
  if (header !== undefined) return err(reject('JWS_MALFORMED', 'unprotected headers are not accepted: put kid and alg in the protected header'));
  if (Object.keys(rest).length > 0) return err(reject('JWS_MALFORMED', `unexpected member ${JSON.stringify(Object.keys(rest)[0]).slice(0, 40)}`));
  if (typeof prot !== 'string' || prot.length === 0 || prot.length > protectedHeaderMaxBytes || !base64url.test(prot)) {
    return err(reject('JWS_MALFORMED', 'signature.protected must be base64url'));
  }
  // An empty signature is a stripped one: refused as invalid, not as malformed, so it reads as what it is.
  if (typeof signature !== 'string' || signature.length > signatureMaxChars || !base64url.test(signature)) {
    return err(reject('JWS_MALFORMED', 'signature.signature must be base64url'));
  }
  return ok({ protected: prot, signature });
}

/** Checks the shape of a general JWS JSON object without trusting anything in it. */
export function parseGeneralJws(body: unknown): Result<GeneralJws, Rejection> {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return err(reject('JWS_MALFORMED', 'expected a JSON object'));
  const { payload, signatures, ...rest } = body as Record<string, unknown>;
  if ('protected' in rest || 'signature' in rest) return err(reject('JWS_MALFORMED', 'use the general syntax: {payload, signatures: [{protected, signature}]}'));
  if (Object.keys(rest).length > 0) return err(reject('JWS_MALFORMED', `unexpected member ${JSON.stringify(Object.keys(rest)[0]).slice(0, 40)}`));
  if (typeof payload !== 'string' || payload.length === 0 || !base64url.test(payload)) {
    return err(reject('JWS_MALFORMED', 'payload must be a non-empty base64url string'));
  }
  if (!Array.isArray(signatures) || signatures.length === 0) return err(reject('JWS_MALFORMED', 'signatures must be a non-empty array'));
  if (signatures.length > submissionSignaturesMax) return err(reject('JWS_MALFORMED', `at most ${submissionSignaturesMax} signatures`));
  const checked: JwsSignature[] = [];
  for (const s of signatures as unknown[]) {
    const one = checkSignatureShape(s);
    if (!one.ok) return one;
    checked.push(one.value);
  }
  return ok({ payload, signatures: checked });
}

/** A detached approval: `{protected, signature}`, the payload being the stored batch bytes. */
export function parseDetachedJws(body: unknown): Result<JwsSignature, Rejection> {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return err(reject('JWS_MALFORMED', 'expected a JSON object {protected, signature}'));
  const { payload, ...rest } = body as Record<string, unknown>;
  if (payload !== undefined && payload !== '') return err(reject('JWS_MALFORMED', 'an approval is detached: leave the payload out, it is the stored batch'));
  return checkSignatureShape(rest);
}

function protectedHeader(encoded: string): Record<string, unknown> | null {
  try {
    const header: unknown = JSON.parse(Buffer.from(encoded, 'base64url').toString('utf8'));
    return header && typeof header === 'object' && !Array.isArray(header) ? (header as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/**
 * The decision a detached signature's protected header names (`"decision"`), or null when it names
 * none. A rejection names "reject"; an approval names none (or "approve"): one signature is never
 * both, though both are over the same bytes.
 */
export function decisionOf(signature: JwsSignature): string | null {
  const decision = protectedHeader(signature.protected)?.decision;
  return typeof decision === 'string' ? decision : decision === undefined ? null : '';
}

export function keyValidAt(key: SignerKeyRecord, now: Date): boolean {
  if (key.revokedAt && key.revokedAt.getTime() <= now.getTime()) return false;
  if (key.notBefore.getTime() > now.getTime()) return false;
  return !(key.notAfter && key.notAfter.getTime() <= now.getTime());
}

/** The kid a signature names, after the header checks that need no key. */
function readHeader(signature: JwsSignature): Result<{ alg: SignerKeyRecord['alg']; kid: string }, Rejection> {
  const header = protectedHeader(signature.protected);
  if (!header) return err(reject('JWS_MALFORMED', 'protected header is not a JSON object'));
  const { alg, kid } = header;
  if (typeof alg !== 'string' || !(allowedAlgorithms as readonly string[]).includes(alg)) {
    return err(reject('JWS_ALG_NOT_ALLOWED', `alg ${JSON.stringify(alg)?.slice(0, 40)} is not allowed`));
  }
  if (header.crit !== undefined || header.b64 !== undefined) return err(reject('JWS_MALFORMED', 'crit and b64 are not supported'));
  for (const k of ['jwk', 'jku', 'x5u', 'x5c']) {
    // The key comes from the registry, never from the message.
    if (header[k] !== undefined) return err(reject('JWS_MALFORMED', `${k} is not accepted: keys are registered`));
  }
  if (typeof kid !== 'string' || kid.length === 0 || kid.length > 128) return err(reject('JWS_MALFORMED', 'protected header needs a kid'));
  // Kids are RFC 7638 thumbprints: a kid of anything but printable ASCII names no key (and is never sent to the database).
  if (!/^[\x21-\x7E]+$/.test(kid)) return err(reject('JWS_KEY_UNKNOWN', 'no signer key has this kid'));
  return ok({ alg: alg as SignerKeyRecord['alg'], kid });
}

export interface SignatureExpectations {
  readonly organisationId: string;
  readonly now: Date;
}

/** Whether the key's holder (when it names one) is `subject`: a key signs only for the person who holds it. */
export const heldBy = (key: SignerKeyRecord, subject: string): boolean => key.holder === null || key.holder === subject;

/** Looks the key up and checks it may sign for this organisation now, then verifies the signature over `payload` (base64url). */
export async function verifyOne(
  signature: JwsSignature,
  payload: string,
  keys: Pick<BatchRepo, 'findSignerKey'>,
  expect: SignatureExpectations,
): Promise<Result<SignerKeyRecord, Rejection>> {
  const header = readHeader(signature);
  if (!header.ok) return header;
  const { alg, kid } = header.value;
  const key = await keys.findSignerKey(kid);
  if (!key) return err(reject('JWS_KEY_UNKNOWN'));
  if (key.organisationId !== expect.organisationId) return err(reject('JWS_KEY_WRONG_ORGANISATION'));
  if (!keyValidAt(key, expect.now)) return err(reject('JWS_KEY_NOT_VALID'));
  if (alg !== key.alg) return err(reject('JWS_ALG_NOT_ALLOWED', `key ${kid} is registered for ${key.alg}`));
  if (signature.signature.length === 0) return err(reject('JWS_SIGNATURE_INVALID', 'the signature is empty'));
  try {
    const publicKey = await importJWK(key.publicJwk, key.alg);
    await flattenedVerify({ payload, protected: signature.protected, signature: signature.signature }, publicKey, { algorithms: [key.alg] });
  } catch {
    return err(reject('JWS_SIGNATURE_INVALID'));
  }
  return ok(key);
}

/**
 * Verifies every signature of a submission: exactly one by a maker key, the others by approver
 * keys (each counts once as an approval), no key twice, all of `organisationId`.
 */
export async function verifySubmission(
  jws: GeneralJws,
  keys: Pick<BatchRepo, 'findSignerKey'>,
  expect: SignatureExpectations & { readonly subject: string },
): Promise<Result<VerifiedSubmission, Rejection>> {
  const kids = new Set<string>();
  for (const s of jws.signatures) {
    const header = readHeader(s);
    if (!header.ok) return header;
    if (kids.has(header.value.kid)) return err(reject('JWS_KEY_REUSED', `key ${header.value.kid} signs more than once`));
    kids.add(header.value.kid);
  }
  let maker: SignedBy | null = null;
  const coSigners: SignedBy[] = [];
  for (const s of jws.signatures) {
    const verified = await verifyOne(s, jws.payload, keys, expect);
    if (!verified.ok) return verified;
    const key = verified.value;
    if (key.role === 'maker') {
      if (maker) return err(reject('JWS_KEY_WRONG_ROLE', 'one maker signs a batch; the other signatures are approvers’'));
      maker = { key, signature: s };
    } else coSigners.push({ key, signature: s });
  }
  if (!maker) return err(reject('JWS_KEY_WRONG_ROLE', 'a batch is submitted under a maker key'));
  // Segregation of duties across people, not only keys: the maker signs as the caller, and no
  // co-signer is the maker or another co-signer under a second key.
  if (!heldBy(maker.key, expect.subject)) return err(reject('JWS_KEY_NOT_CALLERS', 'the maker key is registered to another person'));
  const holders = new Set([maker.key.holder ?? expect.subject]);
  for (const c of coSigners) {
    if (c.key.holder === null) continue;
    if (holders.has(c.key.holder)) return err(reject(c.key.holder === (maker.key.holder ?? expect.subject) ? 'APPROVAL_BY_MAKER' : 'APPROVAL_DUPLICATE', 'one person, one signature'));
    holders.add(c.key.holder);
  }
  return ok({ payload: Buffer.from(jws.payload, 'base64url'), maker, coSigners });
}

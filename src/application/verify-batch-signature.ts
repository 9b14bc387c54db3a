// Verifies the maker's JWS (JSON serialization, RFC 7515 §7.2) over the exact payload bytes.
// Asymmetric algorithms only; the algorithm must be the registered key's; the key must be valid now,
// of the signing organisation and in the maker role.
import { flattenedVerify, importJWK } from 'jose';
import { reject, type Rejection } from '../domain/errors.js';
import { err, ok, type Result } from '../domain/result.js';
import type { BatchRepo, SignerKeyRecord } from './ports.js';

export const allowedAlgorithms = ['ES256', 'EdDSA', 'PS256'] as const;
/** A submission carries the maker's signature; approvers sign separately. */
export const submissionSignaturesMax = 1;
const headerBytesMax = 4096;

export interface GeneralJws {
  readonly payload: string;
  readonly signatures: readonly { readonly protected: string; readonly signature: string; readonly header?: Record<string, unknown> }[];
}

export interface VerifiedPayload {
  readonly payload: Buffer;
  readonly signer: SignerKeyRecord;
  readonly signatures: GeneralJws['signatures'];
}

const base64url = /^[A-Za-z0-9_-]*$/;

/** Checks the shape of a general JWS JSON object without trusting anything in it. */
export function parseGeneralJws(body: unknown): Result<GeneralJws, Rejection> {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return err(reject('JWS_MALFORMED', 'expected a JSON object'));
  const { payload, signatures, ...rest } = body as Record<string, unknown>;
  if (Object.keys(rest).length > 0) return err(reject('JWS_MALFORMED', `unexpected member ${Object.keys(rest)[0]}`));
  if (typeof payload !== 'string' || payload.length === 0 || !base64url.test(payload)) {
    return err(reject('JWS_MALFORMED', 'payload must be a non-empty base64url string'));
  }
  if (!Array.isArray(signatures) || signatures.length === 0) return err(reject('JWS_MALFORMED', 'signatures must be a non-empty array'));
  if (signatures.length > submissionSignaturesMax) return err(reject('JWS_MALFORMED', `at most ${submissionSignaturesMax} signature on submission`));
  for (const s of signatures as unknown[]) {
    if (!s || typeof s !== 'object' || Array.isArray(s)) return err(reject('JWS_MALFORMED', 'each signature must be an object'));
    const sig = s as Record<string, unknown>;
    if (typeof sig.protected !== 'string' || sig.protected.length > headerBytesMax || !base64url.test(sig.protected)) {
      return err(reject('JWS_MALFORMED', 'signature.protected must be base64url'));
    }
    if (typeof sig.signature !== 'string' || !base64url.test(sig.signature)) return err(reject('JWS_MALFORMED', 'signature.signature must be base64url'));
    if (sig.header !== undefined) return err(reject('JWS_MALFORMED', 'unprotected headers are not accepted: put kid and alg in the protected header'));
  }
  return ok({ payload, signatures: signatures as GeneralJws['signatures'] });
}

function protectedHeader(encoded: string): Record<string, unknown> | null {
  try {
    const header: unknown = JSON.parse(Buffer.from(encoded, 'base64url').toString('utf8'));
    return header && typeof header === 'object' && !Array.isArray(header) ? (header as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

function keyValidAt(key: SignerKeyRecord, now: Date): boolean {
  if (key.revokedAt && key.revokedAt.getTime() <= now.getTime()) return false;
  if (key.notBefore.getTime() > now.getTime()) return false;
  return !(key.notAfter && key.notAfter.getTime() <= now.getTime());
}

/** Verifies the one maker signature; the caller checks the payload's organisation against the signer's. */
export async function verifyMakerSignature(jws: GeneralJws, keys: Pick<BatchRepo, 'findSignerKey'>, now: Date): Promise<Result<VerifiedPayload, Rejection>> {
  const [signature] = jws.signatures;
  if (!signature) return err(reject('JWS_MALFORMED', 'no signature'));
  const header = protectedHeader(signature.protected);
  if (!header) return err(reject('JWS_MALFORMED', 'protected header is not a JSON object'));
  const { alg, kid } = header;
  if (typeof alg !== 'string' || !(allowedAlgorithms as readonly string[]).includes(alg)) {
    return err(reject('JWS_ALG_NOT_ALLOWED', `alg ${JSON.stringify(alg)} is not allowed`));
  }
  if (header.crit !== undefined || header.b64 !== undefined) return err(reject('JWS_MALFORMED', 'crit and b64 are not supported'));
  if (typeof kid !== 'string' || kid.length === 0 || kid.length > 128) return err(reject('JWS_MALFORMED', 'protected header needs a kid'));
  const key = await keys.findSignerKey(kid);
  if (!key) return err(reject('JWS_KEY_UNKNOWN'));
  if (!keyValidAt(key, now)) return err(reject('JWS_KEY_NOT_VALID'));
  if (key.role !== 'maker') return err(reject('JWS_KEY_WRONG_ROLE', 'a batch is submitted under a maker key'));
  if (alg !== key.alg) return err(reject('JWS_ALG_NOT_ALLOWED', `key ${kid} is registered for ${key.alg}`));
  try {
    const publicKey = await importJWK(key.publicJwk, key.alg);
    await flattenedVerify({ payload: jws.payload, protected: signature.protected, signature: signature.signature }, publicKey, {
      algorithms: [key.alg],
    });
  } catch {
    return err(reject('JWS_SIGNATURE_INVALID'));
  }
  return ok({ payload: Buffer.from(jws.payload, 'base64url'), signer: key, signatures: jws.signatures });
}

// Signing keys that never leave the browser: ECDSA P-256 (JWS ES256) made by WebCrypto with a
// non-extractable private key, kept in IndexedDB (a CryptoKey is stored as itself, never as
// bytes). Only the public JWK is ever shown, for an administrator to register.
import { base64url } from './session';

export type SignerRole = 'maker' | 'approver';

export interface StoredKey {
  readonly id: string;
  readonly kid: string;
  readonly publicJwk: { kty: 'EC'; crv: 'P-256'; x: string; y: string };
  readonly privateKey: CryptoKey;
  readonly createdAt: string;
}

const dbName = 'tuma-console';
const storeName = 'keys';

function open(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(dbName, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(storeName, { keyPath: 'id' });
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error ?? new Error('IndexedDB'));
  });
}

async function tx<T>(mode: IDBTransactionMode, run: (store: IDBObjectStore) => IDBRequest<T>): Promise<T> {
  const db = await open();
  try {
    return await new Promise<T>((resolve, reject) => {
      const req = run(db.transaction(storeName, mode).objectStore(storeName));
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error ?? new Error('IndexedDB'));
    });
  } finally {
    db.close();
  }
}

/** One key per organisation, person and role in this browser. */
export const keyId = (organisationId: string, subject: string, role: SignerRole) => `${organisationId}|${subject}|${role}`;

export async function loadKey(id: string): Promise<StoredKey | null> {
  return ((await tx('readonly', (s) => s.get(id))) as StoredKey | undefined) ?? null;
}

/** RFC 7638 thumbprint of an EC public key: what Tuma calls the key's kid. */
export async function thumbprint(jwk: StoredKey['publicJwk']): Promise<string> {
  const canonical = `{"crv":"${jwk.crv}","kty":"${jwk.kty}","x":"${jwk.x}","y":"${jwk.y}"}`;
  return base64url(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(canonical))));
}

export async function generateKey(id: string): Promise<StoredKey> {
  const pair = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']);
  const exported = (await crypto.subtle.exportKey('jwk', pair.publicKey)) as JsonWebKey;
  const publicJwk = { kty: 'EC' as const, crv: 'P-256' as const, x: exported.x!, y: exported.y! };
  const stored: StoredKey = { id, kid: await thumbprint(publicJwk), publicJwk, privateKey: pair.privateKey, createdAt: new Date().toISOString() };
  await tx('readwrite', (s) => s.put(stored));
  return stored;
}

/** The JWK an administrator registers (POST /v1/signer-keys publicJwk). */
export const registrationJwk = (key: StoredKey) => ({ ...key.publicJwk, alg: 'ES256', use: 'sig' });

/** ES256 over `<protected>.<payload>`: WebCrypto's ECDSA signature is r‖s, JWS's own form. */
async function signingInput(key: StoredKey, payload: Uint8Array, extra: Record<string, string> = {}): Promise<{ protected: string; signature: string }> {
  const header = base64url(new TextEncoder().encode(JSON.stringify({ alg: 'ES256', kid: key.kid, ...extra })));
  const input = new TextEncoder().encode(`${header}.${base64url(payload)}`);
  const signature = await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, key.privateKey, input);
  return { protected: header, signature: base64url(new Uint8Array(signature)) };
}

/** A batch submission: the general JWS JSON serialization with one maker signature. */
export async function signBatch(key: StoredKey, payload: Uint8Array): Promise<{ payload: string; signatures: { protected: string; signature: string }[] }> {
  return { payload: base64url(payload), signatures: [await signingInput(key, payload)] };
}

/** An approval: a detached signature over the stored batch bytes (the payload is not sent). */
export async function signApproval(key: StoredKey, payload: Uint8Array): Promise<{ protected: string; signature: string }> {
  return signingInput(key, payload);
}

/**
 * A rejection: a detached signature over the same stored bytes whose protected header says
 * "decision": "reject" (so that it can never count as an approval), sent with the reason.
 */
export async function signRejection(key: StoredKey, payload: Uint8Array, reason: string): Promise<{ protected: string; signature: string; reason: string }> {
  return { ...(await signingInput(key, payload, { decision: 'reject' })), reason };
}

// A token issuer for tests: one ES256 key per test process, its public half given to Tuma as AUTH_JWKS.
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { SignJWT, importJWK, type JWK } from 'jose';
import type { AuthConfig, CallerRole } from '../../src/adapters/http/auth.js';

const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const privateJwk = { ...privateKey.export({ format: 'jwk' }), alg: 'ES256', kid: 'test-issuer' } as JWK;
const publicJwk = { ...createPublicKey(privateKey).export({ format: 'jwk' }), alg: 'ES256', kid: 'test-issuer', use: 'sig' };

export const testIssuer = { issuer: 'https://issuer.test', audience: 'tuma-test' } as const;
export const testJwks = JSON.stringify({ keys: [publicJwk] });

export const testAuthEnv = { AUTH_ISSUER: testIssuer.issuer, AUTH_AUDIENCE: testIssuer.audience, AUTH_JWKS: testJwks } as const;

export const testAuthConfig: AuthConfig = {
  issuer: testIssuer.issuer,
  audience: testIssuer.audience,
  jwks: { keys: [publicJwk] },
  jwksUrl: null,
  clockToleranceSeconds: 5,
};

/** A signed bearer token; override anything to make a bad one. */
export async function tokenFor(
  organisationId: string,
  roles: readonly (CallerRole | string)[],
  options: { issuer?: string; audience?: string; expiresIn?: string; subject?: string; key?: JWK; alg?: string; extra?: Record<string, unknown> } = {},
): Promise<string> {
  const alg = options.alg ?? 'ES256';
  const key = await importJWK(options.key ?? privateJwk, alg);
  return new SignJWT({ org: organisationId, roles: [...roles], ...options.extra })
    .setProtectedHeader({ alg, kid: 'test-issuer' })
    .setSubject(options.subject ?? 'test-user')
    .setIssuer(options.issuer ?? testIssuer.issuer)
    .setAudience(options.audience ?? testIssuer.audience)
    .setIssuedAt()
    .setExpirationTime(options.expiresIn ?? '5m')
    .sign(key);
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

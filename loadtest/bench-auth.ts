// A throwaway token issuer for benchmarks: an ES256 key made per run, its public half given to
// the API as its JWKS. Nothing here is a secret worth keeping.
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import type { AuthConfig } from '../src/adapters/http/auth.js';

export async function benchIssuer(): Promise<{ config: AuthConfig; token(org: string, role: string, subject: string): Promise<string> }> {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const publicJwk = { ...(await exportJWK(publicKey)), alg: 'ES256', kid: 'bench', use: 'sig' };
  const config: AuthConfig = { issuer: 'tuma-bench', audience: 'tuma', jwks: { keys: [publicJwk] }, jwksUrl: null, clockToleranceSeconds: 5 };
  return {
    config,
    token: (org, role, subject) =>
      new SignJWT({ org, roles: [role] }).setProtectedHeader({ alg: 'ES256', kid: 'bench' }).setSubject(subject).setIssuer('tuma-bench').setAudience('tuma').setIssuedAt().setExpirationTime('10m').sign(privateKey),
  };
}

// A JWK's public half: what `tuma keys generate` prints and what a key's kid is the thumbprint of.
import type { JWK } from 'jose';

/** The members a public JWK keeps; everything else (d, p, q, ...) is private. */
const publicMembers = ['kty', 'crv', 'x', 'y', 'n', 'e'] as const;

export function publicJwkOf(jwk: JWK): JWK {
  const pub: JWK = {};
  for (const m of publicMembers) if (jwk[m] !== undefined) (pub as Record<string, unknown>)[m] = jwk[m];
  return pub;
}

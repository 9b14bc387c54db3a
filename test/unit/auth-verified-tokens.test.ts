// The authenticator remembers tokens that verified (auth.ts verifiedTokensMax, verifiedTokenTtlMs):
// a remembered token is answered without its signature checked again, but never past its exp or
// the TTL, and a token that failed is never remembered.
import type { Request } from 'express';
import { createAuthenticator, verifiedTokenTtlMs } from '../../src/adapters/http/auth.js';
import { testAuthConfig, tokenFor } from '../support/auth.js';

const requestWith = (token: string) => ({ headers: { authorization: `Bearer ${token}` } }) as unknown as Request;

describe('verified tokens remembered', () => {
  it('when a token verified, then the same token is admitted again with the same caller, and one differing in its signature is not', async () => {
    const authenticate = createAuthenticator(testAuthConfig);
    const token = await tokenFor('org-a', ['finance'], { subject: 'someone' });
    const first = await authenticate(requestWith(token));
    expect(first).toEqual({ subject: 'someone', organisationId: 'org-a', roles: ['finance'] });
    expect(await authenticate(requestWith(token))).toEqual(first);
    const [h, p, s] = token.split('.') as [string, string, string];
    const flipped = `${s.slice(0, 10)}${s[10] === 'A' ? 'B' : 'A'}${s.slice(11)}`;
    expect(await authenticate(requestWith(`${h}.${p}.${flipped}`))).toBeNull();
    // A payload claiming more roles under the remembered token's signature is not that token.
    const other = await tokenFor('org-a', ['admin'], { subject: 'someone' });
    expect(await authenticate(requestWith(`${h}.${other.split('.')[1]!}.${s}`))).toBeNull();
  });

  it('when a remembered token expires, then it is refused (the memory never outlives exp)', async () => {
    let now = new Date();
    const authenticate = createAuthenticator(testAuthConfig, () => now);
    const token = await tokenFor('org-a', ['auditor'], { expiresIn: '30s' });
    expect(await authenticate(requestWith(token))).not.toBeNull();
    // Past exp and the clock tolerance (5 s), within the TTL of the memory.
    now = new Date(now.getTime() + 40_000);
    expect(40_000).toBeLessThan(verifiedTokenTtlMs);
    expect(await authenticate(requestWith(token))).toBeNull();
  });

  it('when a token failed (another audience), then asking again still fails', async () => {
    const authenticate = createAuthenticator(testAuthConfig);
    const token = await tokenFor('org-a', ['finance'], { audience: 'someone-else' });
    expect(await authenticate(requestWith(token))).toBeNull();
    expect(await authenticate(requestWith(token))).toBeNull();
  });
});

// The per-attempt callback token: the credential a provider that signs nothing (M-Pesa) proves
// itself with. 32 random bytes in the callback URL; only its SHA-256 is stored.
import { createHash, randomBytes } from 'node:crypto';

export const callbackTokenPattern = /^[A-Za-z0-9_-]{43}$/;

export const newCallbackToken = (): string => randomBytes(32).toString('base64url');

export const callbackTokenHash = (token: string): Buffer => createHash('sha256').update(token).digest();

/**
 * How long a token authenticates callbacks after it was issued. Providers answer within minutes
 * (their retries within hours); a token presented later is a replay of a leaked URL, refused.
 */
export const callbackTokenLifetimeMs = 7 * 24 * 3_600_000;

// One access token per provider credential: fetched once, shared by every caller, refreshed
// before it expires, with at most one refresh in flight (M-Pesa invalidates the previous token on
// every new one, so a stampede of refreshes would make callers invalidate each other's tokens).
// A caller whose token was refused (HTTP 401) invalidates exactly that token and asks again.
import { types } from 'node:util';

/** Refresh this long before expiry at most; a short-lived token is refreshed after two thirds of its life. */
export const tokenRefreshMarginMaxMs = 60_000;
/** A token the provider says lives longer than this is refreshed at this age anyway. */
export const tokenLifetimeMaxMs = 24 * 3600 * 1000;

export interface FetchedToken {
  readonly value: string;
  /** Seconds the provider says the token lives (providers send 3599, "3600" or "180"). */
  readonly expiresInS: number;
}

export class TokenCache {
  private token: { value: string; refreshAtMs: number } | null = null;
  private refreshing: Promise<string> | null = null;

  constructor(
    private readonly fetchToken: () => Promise<FetchedToken>,
    private readonly now: () => number = Date.now,
  ) {}

  /** A valid token: the cached one, or the one being fetched, or a new fetch. */
  get(): Promise<string> {
    if (this.token && this.token.refreshAtMs > this.now()) return Promise.resolve(this.token.value);
    this.refreshing ??= this.refresh().finally(() => (this.refreshing = null));
    return this.refreshing;
  }

  /** The provider refused `value`: forget it (unless a newer token already replaced it). */
  invalidate(value: string): void {
    if (this.token?.value === value) this.token = null;
  }

  private async refresh(): Promise<string> {
    const fetched = await this.fetchToken();
    const lifeMs = Math.min(tokenLifetimeMaxMs, Number.isFinite(fetched.expiresInS) && fetched.expiresInS > 0 ? fetched.expiresInS * 1000 : 0);
    const marginMs = Math.min(tokenRefreshMarginMaxMs, lifeMs / 3);
    this.token = { value: fetched.value, refreshAtMs: this.now() + lifeMs - marginMs };
    return fetched.value;
  }
}

/** Reads `expires_in` as providers send it: a number or a numeric string. */
export function expiresInSeconds(raw: unknown, fallbackS: number): number {
  const n = typeof raw === 'number' ? raw : typeof raw === 'string' && /^\d{1,9}$/.test(raw.trim()) ? Number(raw.trim()) : NaN;
  return Number.isFinite(n) && n > 0 ? n : fallbackS;
}

/**
 * An error as the clients put it in an outcome's detail (which goes to logs and the database): its
 * name and message, every URL in it replaced by "[url]" (fetch names the URL it could not use, and
 * a URL can carry credentials, "https://user:secret@host", or an attempt's callback token), at
 * most `charsMax` characters.
 */
export function errorDetail(error: unknown, charsMax: number): string {
  // isNativeError, not instanceof: fetch's errors may come from another realm (a vm context). A
  // timeout is a DOMException (TimeoutError, AbortError), which is no native Error: its name counts too.
  const named = types.isNativeError(error) || (typeof DOMException !== 'undefined' && error instanceof DOMException) || isNamed(error);
  return withoutUrls(named ? `${(error as Error).name}: ${(error as Error).message}` : 'error').slice(0, charsMax);
}

/** An error-like object from another realm: a string name and message. */
function isNamed(error: unknown): boolean {
  return !!error && typeof error === 'object' && typeof (error as { name?: unknown }).name === 'string' && typeof (error as { message?: unknown }).message === 'string';
}

/** `text` with every URL in it replaced by "[url]". */
export const withoutUrls = (text: string): string => text.replace(/\b[a-z][a-z0-9+.-]*:\/\/[^\s'"<>]*/gi, '[url]');

// One access token per provider credential: fetched once, shared by every caller, refreshed
// before it expires, with at most one refresh in flight (M-Pesa invalidates the previous token on
// every new one, so a stampede of refreshes would make callers invalidate each other's tokens).
// A caller whose token was refused (HTTP 401) invalidates exactly that token and asks again.
//
// Several processes with the same credential (workers scaled out by process, the status poller,
// the API's statement pulls) would do the same to each other: each process's first token
// invalidates the others', their retries invalidate its, and the provider's refusals read as
// ambiguous outcomes. With a SharedTokenStore the credential's token is one for every process: a
// process takes the stored token, and replaces it only when it is the one that expired or was
// refused, one process at a time (the others take the replacement).
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

/** A credential's token as every process holds it: its value, when to replace it, and which it is. */
export interface SharedToken {
  readonly value: string;
  /** When a process should stop using it and replace it (before the provider's expiry), in ms since the epoch. */
  readonly refreshAtMs: number;
  /** Counts the credential's tokens: a replacement has a greater one. */
  readonly generation: number;
}

/** Where the processes of a deployment keep each credential's token (adapters/db/provider-tokens.repository.ts). */
export interface SharedTokenStore {
  /** The credential's stored token; null when there is none. */
  current(credential: string): Promise<SharedToken | null>;
  /**
   * A token to use instead of generation `stale` (null: none was held): the stored one when
   * another process has already replaced `stale` and it is not due for refresh, else the one
   * `fetch` gets, stored; one process at a time per credential (the others wait, then take it).
   */
  replace(credential: string, stale: number | null, fetch: () => Promise<{ readonly value: string; readonly refreshAtMs: number }>): Promise<SharedToken>;
}

/** When to replace a token the provider says lives `expiresInS`, fetched at `nowMs`. */
export function refreshAtOf(fetched: FetchedToken, nowMs: number): number {
  const lifeMs = Math.min(tokenLifetimeMaxMs, Number.isFinite(fetched.expiresInS) && fetched.expiresInS > 0 ? fetched.expiresInS * 1000 : 0);
  return nowMs + lifeMs - Math.min(tokenRefreshMarginMaxMs, lifeMs / 3);
}

export class TokenCache {
  private token: { value: string; refreshAtMs: number; generation: number | null } | null = null;
  private refreshing: Promise<string> | null = null;
  /** The generation of the shared token last refused here: never taken again from the store. */
  private refused: number | null = null;

  constructor(
    private readonly fetchToken: () => Promise<FetchedToken>,
    private readonly now: () => number = Date.now,
    /** The store and the credential's name in it; without one, the token is this process's own. */
    private readonly shared: { readonly store: SharedTokenStore; readonly credential: string } | null = null,
  ) {}

  /** A valid token: the cached one, or the one being fetched, or a new fetch. */
  get(): Promise<string> {
    if (this.token && this.token.refreshAtMs > this.now()) return Promise.resolve(this.token.value);
    this.refreshing ??= this.refresh().finally(() => (this.refreshing = null));
    return this.refreshing;
  }

  /** The provider refused `value`: forget it (unless a newer token already replaced it). */
  invalidate(value: string): void {
    if (this.token?.value !== value) return;
    if (this.token.generation !== null) this.refused = this.token.generation;
    this.token = null;
  }

  private async refresh(): Promise<string> {
    const fetchNew = async () => {
      const fetched = await this.fetchToken();
      return { value: fetched.value, refreshAtMs: refreshAtOf(fetched, this.now()) };
    };
    if (!this.shared) {
      const own = await fetchNew();
      this.token = { ...own, generation: null };
      return own.value;
    }
    const { store, credential } = this.shared;
    const stored = await store.current(credential);
    let token: SharedToken;
    if (stored && stored.generation !== this.refused && stored.refreshAtMs > this.now()) token = stored;
    else token = await store.replace(credential, stored?.generation ?? this.refused, fetchNew);
    this.token = token;
    return token.value;
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

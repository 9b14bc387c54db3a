// One token per credential: shared, refreshed before expiry, one refresh in flight, and a refused
// token forgotten only if it is still the current one.
import { errorDetail, expiresInSeconds, TokenCache } from '../../src/adapters/providers/token-cache.js';

function fakeProvider(lifeS: number) {
  let issued = 0;
  const calls: ((v: { value: string; expiresInS: number }) => void)[] = [];
  return {
    get issued() {
      return issued;
    },
    fetch: () => new Promise<{ value: string; expiresInS: number }>((resolve) => calls.push(resolve)),
    answer() {
      const resolve = calls.shift();
      if (!resolve) throw new Error('no fetch pending');
      resolve({ value: `token-${++issued}`, expiresInS: lifeS });
    },
    pending: () => calls.length,
  };
}

describe('the token cache', () => {
  it('when many callers ask at once, then one token is fetched and all get it', async () => {
    const provider = fakeProvider(3600);
    const cache = new TokenCache(provider.fetch);
    const asked = Array.from({ length: 20 }, () => cache.get());
    expect(provider.pending()).toBe(1);
    provider.answer();
    expect(new Set(await Promise.all(asked))).toEqual(new Set(['token-1']));
    expect(await cache.get()).toBe('token-1');
    expect(provider.issued).toBe(1);
  });

  it('when a token nears its expiry, then it is refreshed ahead of time: 60 s early for long tokens, after two thirds of a short life', async () => {
    let now = 1_000_000;
    const long = fakeProvider(3600);
    const cache = new TokenCache(long.fetch, () => now);
    const first = cache.get();
    long.answer();
    await first;
    now += 3600_000 - 61_000;
    expect(await cache.get()).toBe('token-1');
    now += 2_000;
    const refreshed = cache.get();
    long.answer();
    expect(await refreshed).toBe('token-2');

    const short = fakeProvider(180); // Airtel's 180 s tokens
    const shortCache = new TokenCache(short.fetch, () => now);
    const s1 = shortCache.get();
    short.answer();
    await s1;
    now += 119_000;
    expect(await shortCache.get()).toBe('token-1');
    now += 2_000;
    const s2 = shortCache.get();
    short.answer();
    expect(await s2).toBe('token-2');
  });

  it('when a caller reports a refused token, then only that token is forgotten', async () => {
    const provider = fakeProvider(3600);
    const cache = new TokenCache(provider.fetch);
    const a = cache.get();
    provider.answer();
    const t1 = await a;
    cache.invalidate(t1);
    const b = cache.get();
    provider.answer();
    const t2 = await b;
    expect(t2).toBe('token-2');
    cache.invalidate(t1); // a late report about the old token does not throw away the new one
    expect(await cache.get()).toBe('token-2');
    expect(provider.issued).toBe(2);
  });

  it('when a fetch fails, then the callers see the error and the next call fetches again', async () => {
    let fail = true;
    const cache = new TokenCache(async () => {
      if (fail) throw new Error('token endpoint down');
      return { value: 'ok', expiresInS: 60 };
    });
    await expect(cache.get()).rejects.toThrow('token endpoint down');
    fail = false;
    expect(await cache.get()).toBe('ok');
  });

  it.each([
    [3599, 3599],
    ['3600', 3600],
    [' 180 ', 180],
    ['soon', 99],
    [-5, 99],
    [undefined, 99],
    ['1e3', 99],
  ])('when expires_in is %p, then it reads as %p seconds', (raw, expected) => {
    expect(expiresInSeconds(raw, 99)).toBe(expected);
  });
});

describe('errorDetail', () => {
  it('when a fetch times out (a DOMException, no native Error), then its name is kept: the outcome says TimeoutError, not "error"', () => {
    expect(errorDetail(new DOMException('The operation was aborted due to timeout', 'TimeoutError'), 200)).toBe('TimeoutError: The operation was aborted due to timeout');
  });

  it('when an error names a URL, then the URL is not in the detail; anything not error-like is "error"', () => {
    expect(errorDetail(new TypeError('fetch failed for http://user:secret@host/v1/callbacks/mpesa/abc'), 200)).toBe('TypeError: fetch failed for [url]');
    expect(errorDetail('a string', 200)).toBe('error');
    expect(errorDetail({ name: 1 }, 200)).toBe('error');
    expect(errorDetail(new Error('x'.repeat(500)), 20)).toHaveLength(20);
  });
});

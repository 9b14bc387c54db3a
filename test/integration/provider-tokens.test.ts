// A provider credential's access token is one for every process (issue #17, roles scaled out by
// process; migration 0031). Daraja invalidates a credential's previous token with each new one (the
// simulator does too): two worker processes that each fetched their own made each other's payment
// requests fail with 401, which the worker can only read as an ambiguous outcome (the split load
// test: 482 of 5,000 payments). Here two M-Pesa clients stand for two processes, each with its own
// cache, against the simulator and the real PostgreSQL as the application's role.
import { randomBytes, randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express from 'express';
import { sql } from 'kysely';
import { pino } from 'pino';
import { AesGcmVault } from '../../src/adapters/crypto/vault.js';
import { appRole, createDb, type DbHandle } from '../../src/adapters/db/pool.js';
import { providerTokenStore } from '../../src/adapters/db/provider-tokens.repository.js';
import { MpesaClient, type MpesaSettings } from '../../src/adapters/providers/mpesa/mpesa-client.js';
import { TokenCache, type SharedTokenStore } from '../../src/adapters/providers/token-cache.js';
import { createMpesaSimulator, type MpesaSimulator } from '../../src/simulator/mpesa-simulator.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

const silent = pino({ level: 'silent' });
let database: TestDatabase;
let app: DbHandle;
let vault: AesGcmVault;
let store: SharedTokenStore;
let server: Server;
let simulator: MpesaSimulator;
let base: string;
/** What the simulator was asked for and answered: token fetches, and payment requests refused for their token. */
const seen = { tokenFetches: 0, refused401: 0 };

beforeAll(async () => {
  database = await createTestDatabase();
  app = createDb(database.url, 6, silent, { role: appRole });
  vault = new AesGcmVault(app.db, randomBytes(32));
  store = providerTokenStore(app.db, vault);
  simulator = createMpesaSimulator({ consumerKey: 'ck', consumerSecret: 'cs', callbackDelayMs: 60_000, logger: silent });
  const web = express();
  web.use((req, res, next) => {
    if (req.path === '/oauth/v1/generate') seen.tokenFetches += 1;
    res.on('finish', () => { if (res.statusCode === 401) seen.refused401 += 1; });
    next();
  });
  web.use(express.json());
  web.use(simulator.router);
  await new Promise<void>((resolve) => { server = web.listen(0, '127.0.0.1', () => resolve()); });
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await simulator?.close();
  await new Promise((resolve) => server?.close(resolve));
  await vault?.close();
  await app?.close();
  await database?.drop();
});
beforeEach(async () => {
  await sql`TRUNCATE provider_access_tokens`.execute(app.db);
  seen.tokenFetches = 0;
  seen.refused401 = 0;
});

const settings = (): MpesaSettings => ({ baseUrl: base, consumerKey: 'ck', consumerSecret: 'cs', shortcode: '600000', initiatorName: 'tuma', securityCredential: 'c2VjcmV0' });
const pay = (client: MpesaClient) => client.submit({
  payoutId: randomUUID(), idempotencyKey: randomUUID(), msisdn: '+254712345678', amountMinor: 1_500_00n, currency: 'KES', callbackUrl: `${base}/cb/${randomUUID()}`,
});

describe('a provider credential\'s token shared by every process', () => {
  test('when two processes each keep their own token, then each new one refuses the other\'s calls (what the store is for)', async () => {
    const a = new MpesaClient(settings(), 5_000, silent);
    const b = new MpesaClient(settings(), 5_000, silent);
    expect((await pay(a)).kind).toBe('pending');
    expect((await pay(b)).kind).toBe('pending'); // b's first token invalidated a's
    expect((await pay(a)).kind).toBe('pending'); // a was refused once, fetched again, sent again
    expect(seen).toEqual({ tokenFetches: 3, refused401: 1 });
  });

  test('when two processes share the store, then one token serves both, fetched once, and no call is refused', async () => {
    const a = new MpesaClient(settings(), 5_000, silent, store);
    const b = new MpesaClient(settings(), 5_000, silent, store);
    const outcomes = await Promise.all(Array.from({ length: 40 }, (_, i) => pay(i % 2 === 0 ? a : b)));
    expect(outcomes.map((o) => o.kind)).toEqual(Array(40).fill('pending'));
    expect(seen).toEqual({ tokenFetches: 1, refused401: 0 });
  });

  test('when someone else\'s fetch invalidates the shared token, then the first process refused replaces it, and the other takes the replacement without a fetch of its own', async () => {
    const a = new MpesaClient(settings(), 5_000, silent, store);
    const b = new MpesaClient(settings(), 5_000, silent, store);
    await pay(a);
    await pay(b);
    // Another system with the same credential asks for a token: Daraja invalidates the shared one.
    await fetch(`${base}/oauth/v1/generate?grant_type=client_credentials`, { headers: { authorization: `Basic ${Buffer.from('ck:cs').toString('base64')}` } });
    expect((await pay(a)).kind).toBe('pending');
    expect((await pay(b)).kind).toBe('pending');
    // The first fetch, the outsider's, a's replacement; b was refused once and took a's from the store.
    expect(seen).toEqual({ tokenFetches: 3, refused401: 2 });
    const { rows } = await sql<{ generation: string }>`SELECT generation::text AS generation FROM provider_access_tokens`.execute(app.db);
    expect(rows).toEqual([{ generation: '2' }]);
  });

  test('when many caches ask at once for a credential no process has a token for, then the provider is asked once', async () => {
    let fetches = 0;
    const fetchToken = async () => {
      fetches += 1;
      await new Promise((resolve) => setTimeout(resolve, 50));
      return { value: `token-${fetches}`, expiresInS: 3599 };
    };
    const caches = Array.from({ length: 5 }, () => new TokenCache(fetchToken, Date.now, { store, credential: `mpesa:${'a'.repeat(64)}` }));
    const tokens = await Promise.all(caches.map((c) => c.get()));
    expect({ fetches, tokens: new Set(tokens) }).toEqual({ fetches: 1, tokens: new Set(['token-1']) });
  });

  test('when a token is due for refresh, then one process replaces it; a refused one is never taken again from the store', async () => {
    let now = 1_000_000;
    let fetches = 0;
    const fetchToken = async () => ({ value: `token-${++fetches}`, expiresInS: 180 });
    const credential = `airtel:${'b'.repeat(64)}`;
    const clock = () => now;
    const timed = providerTokenStore(app.db, vault, clock);
    const a = new TokenCache(fetchToken, clock, { store: timed, credential });
    const b = new TokenCache(fetchToken, clock, { store: timed, credential });
    expect([await a.get(), await b.get()]).toEqual(['token-1', 'token-1']);
    now += 121_000; // past two thirds of 180 s
    expect([await a.get(), await b.get()]).toEqual(['token-2', 'token-2']);
    a.invalidate('token-2');
    expect(await a.get()).toBe('token-3');
    expect(await b.get()).toBe('token-2'); // b was not refused: its cached token is still good to it
    b.invalidate('token-2');
    expect(await b.get()).toBe('token-3');
    expect(fetches).toBe(3);
  });

  test('the stored token is sealed: its bytes are not in the table, and a credential name is a digest, never a secret', async () => {
    const a = new MpesaClient(settings(), 5_000, silent, store);
    await pay(a);
    const { rows } = await sql<{ credential: string; token_sealed: Buffer }>`SELECT credential, token_sealed FROM provider_access_tokens`.execute(app.db);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.credential).toMatch(/^mpesa:[0-9a-f]{64}$/);
    const current = await store.current(rows[0]!.credential);
    expect(current?.value).toMatch(/^[A-Za-z0-9_-]{24}$/);
    expect(rows[0]!.token_sealed.includes(Buffer.from(current!.value))).toBe(false);
    await expect(sql`INSERT INTO provider_access_tokens (credential, generation, replaced_at) VALUES ('mpesa:ck-in-clear', 0, now())`.execute(app.db)).rejects.toThrow(/check constraint/);
  });
});

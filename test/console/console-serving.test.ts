// The web console as the gateway serves it (src/adapters/http/console.ts): its static files with
// their caching and content security policy, the API's own headers left as they were, which sign-in
// the page is offered, and the dev sign-in route, which exists only in dev mode with the dev issuer
// trusted and refuses every malformed, hostile or oversized body without minting anything.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import { pino } from 'pino';
import request from 'supertest';
import { createApp, type ApiDeps } from '../../src/adapters/http/app.js';
import type { ConsoleDeps, DevTokenClaims } from '../../src/adapters/http/console.js';
import { consoleDeps } from '../../src/cli/runtime.js';
import { devIssuerJwks, mintDevToken } from '../../src/cli/dev.js';
import { devAuth, loadConfig } from '../../src/config/config.js';
import { testAuthEnv } from '../support/auth.js';

const built = mkdtempSync(path.join(tmpdir(), 'tuma-console-'));
mkdirSync(path.join(built, 'assets'));
writeFileSync(path.join(built, 'index.html'), '<!doctype html><html lang="en"><head><script type="module" src="/console/assets/index-abc123.js"></script></head><body></body></html>');
writeFileSync(path.join(built, 'assets', 'index-abc123.js'), 'console.log(1)');
writeFileSync(path.join(built, '.secret'), 'no');
afterAll(() => rmSync(built, { recursive: true, force: true }));

function appWith(console: ConsoleDeps | undefined) {
  const deps = {
    persistence: {} as ApiDeps['persistence'],
    vault: {} as ApiDeps['vault'],
    batchPayoutsMax: 10,
    now: () => new Date(),
    bodyMaxBytes: 1024 * 1024,
    logger: pino({ level: 'silent' }),
    readiness: async () => ({ database: true, transport: true }),
    authenticate: async () => null,
    ...(console ? { console } : {}),
  } satisfies ApiDeps;
  return createApp(deps);
}

describe('static console', () => {
  const app = appWith({ dir: built });

  test('the page: its own strict CSP (scripts and styles from this origin only), revalidated each time', async () => {
    const bare = await request(app).get('/console');
    expect([bare.status, bare.headers.location]).toEqual([301, '/console/']);
    for (const url of ['/console/', '/console/index.html']) {
      const res = await request(app).get(url);
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toMatch(/^text\/html/);
      expect(res.headers['cache-control']).toBe('no-cache');
      const csp = res.headers['content-security-policy'] as string;
      expect(csp).toContain("default-src 'none'");
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("style-src 'self'");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).not.toContain('unsafe-inline');
      expect(csp).not.toContain('unsafe-eval');
    }
  });

  test('hashed assets are cached a year as immutable', async () => {
    const res = await request(app).get('/console/assets/index-abc123.js');
    expect(res.status).toBe(200);
    expect(res.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(res.text).toBe('console.log(1)');
  });

  test('a browser that accepts gzip gets the scripts and style sheets gzipped (a 3G-class link downloads the compressed console), with the same caching; one that does not gets them as they are', async () => {
    const script = `console.log(${JSON.stringify('x'.repeat(4096))});`;
    writeFileSync(path.join(built, 'assets', 'big-def456.js'), script);
    writeFileSync(path.join(built, 'assets', 'style-def456.css'), `body { margin: 0 }\n${'p { color: black }\n'.repeat(200)}`);
    for (const [file, type] of [['big-def456.js', /^text\/javascript/], ['style-def456.css', /^text\/css/]] as const) {
      // supertest gunzips the body it reads; content-length is what went over the wire.
      const res = await request(app).get(`/console/assets/${file}`).set('accept-encoding', 'gzip, deflate, br');
      expect(res.status).toBe(200);
      expect(res.headers['content-encoding']).toBe('gzip');
      expect(res.headers['vary']).toMatch(/accept-encoding/i);
      expect(res.headers['content-type']).toMatch(type);
      expect(res.headers['cache-control']).toBe('public, max-age=31536000, immutable');
      expect(res.headers['content-security-policy']).toContain("default-src 'none'");
      expect(res.text).toBe(readFileSync(path.join(built, 'assets', file), 'utf8'));
      const sent = Number(res.headers['content-length']);
      expect(sent).toBe(gzipSync(readFileSync(path.join(built, 'assets', file)), { level: 9 }).byteLength);
      expect(sent).toBeLessThan(statSync(path.join(built, 'assets', file)).size / 4);
      // Asked again: the same (compressed once and kept).
      const again = await request(app).get(`/console/assets/${file}`).set('accept-encoding', 'gzip');
      expect([again.headers['content-encoding'], Number(again.headers['content-length']), again.text]).toEqual(['gzip', sent, res.text]);
    }
    const head = await request(app).head('/console/assets/big-def456.js').set('accept-encoding', 'gzip');
    expect([head.status, head.headers['content-encoding']]).toEqual([200, 'gzip']);
    const plain = await request(app).get('/console/assets/big-def456.js').set('accept-encoding', 'identity');
    expect(plain.status).toBe(200);
    expect(plain.headers['content-encoding']).toBe(undefined);
    expect(plain.headers['vary']).toMatch(/accept-encoding/i);
    expect(plain.text).toBe(script);
    // Gzip accepted changes nothing for what is not there or not an asset's name.
    for (const url of ['/console/assets/nope.js', '/console/assets/..%2F..%2Fpackage.json', '/console/assets/.hidden.js']) {
      const res = await request(app).get(url).set('accept-encoding', 'gzip');
      expect([url, res.status]).toEqual([url, 404]);
    }
  });

  test('nothing else: a missing asset, a dotfile, a path out of the directory answer the API 404', async () => {
    for (const url of ['/console/assets/nope.js', '/console/.secret', '/console/assets/..%2F..%2Fpackage.json', '/console/..%2Findex.html', '/console/%2e%2e/%2e%2e/package.json']) {
      const res = await request(app).get(url);
      expect([400, 403, 404]).toContain(res.status);
      expect(res.text).not.toContain('"name"');
      expect(res.text).not.toBe('no');
    }
    const post = await request(app).post('/console/').send('x');
    expect(post.status).toBe(404);
  });

  test('the API keeps its own headers: helmet\'s CSP, no-store', async () => {
    const res = await request(app).get('/healthz');
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers['content-security-policy']).not.toBe(undefined);
    expect(res.headers['content-security-policy']).not.toContain("default-src 'none'");
  });

  test('without a built console (or none configured), /console is the API 404', async () => {
    for (const deps of [undefined, { dir: null }, { dir: path.join(built, 'missing') }]) {
      const res = await request(appWith(deps)).get('/console/');
      expect(res.status).toBe(404);
      expect(res.body.error.code).toBe('NOT_FOUND');
    }
  });

  test('config.json says which sign-in is offered, never cached', async () => {
    const res = await request(app).get('/console/config.json');
    expect(res.status).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.body).toEqual({ devSignIn: false, oidc: null });
    const oidc = { issuer: 'https://login.example.org/realms/tuma', clientId: 'tuma-console', scope: 'openid' };
    const withOidc = await request(appWith({ dir: built, oidc })).get('/console/config.json');
    expect(withOidc.body).toEqual({ devSignIn: false, oidc });
    // The browser exchanges its code at the issuer: its origin (only) is allowed to be fetched.
    expect(withOidc.headers['content-security-policy']).toContain("connect-src 'self' https://login.example.org;");
  });
});

describe('dev sign-in', () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'tuma-dev-'));
  const jwks = JSON.parse(devIssuerJwks(dataDir)) as JSONWebKeySet;
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));
  const minted: DevTokenClaims[] = [];
  const app = appWith({ dir: built, devSignIn: async (claims) => { minted.push(claims); return mintDevToken(dataDir, claims); } });
  const good = { organisationId: 'demo-org', subject: 'mary', roles: ['programme_manager', 'approver'] };

  test('mints a token of the dev issuer for the chosen subject, organisation and roles', async () => {
    const config = await request(app).get('/console/config.json');
    expect(config.body.devSignIn).toBe(true);
    const res = await request(app).post('/console/dev-sign-in').set('content-type', 'application/json').send(good);
    expect(res.status).toBe(201);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.body.expiresIn).toBe(3600);
    const { payload } = await jwtVerify(res.body.token as string, createLocalJWKSet(jwks), { issuer: devAuth.issuer, audience: devAuth.audience });
    expect(payload).toMatchObject({ sub: 'mary', org: 'demo-org', roles: ['programme_manager', 'approver'] });
    expect(payload.exp! - payload.iat!).toBe(3600);
  });

  test('refuses every bad body with a clear error and mints nothing', async () => {
    minted.length = 0;
    const bad: [string, string | object, number][] = [
      ['text/plain', JSON.stringify(good), 415],
      ['application/x-www-form-urlencoded', 'organisationId=demo-org&subject=x&roles=admin', 415],
      ['application/json', '{"organisationId":', 400],
      ['application/json', '{"organisationId":"a","organisationId":"b","subject":"x","roles":["admin"]}', 400],
      ['application/json', { ...good, roles: ['root'] }, 400],
      ['application/json', { ...good, roles: [] }, 400],
      ['application/json', { ...good, roles: ['admin', 'admin'] }, 400],
      ['application/json', { ...good, roles: 'admin' }, 400],
      ['application/json', { ...good, ttlSeconds: 999999 }, 400],
      ['application/json', { ...good, organisationId: '../../etc' }, 400],
      ['application/json', { ...good, organisationId: 'x'.repeat(65) }, 400],
      ['application/json', { ...good, subject: '' }, 400],
      ['application/json', { ...good, subject: 'a b' }, 400],
      ['application/json', { ...good, subject: 'evil\u0000' }, 400],
      ['application/json', '{"organisationId":"demo-org","subject":"m","roles":["admin"],"__proto__":{"admin":true}}', 400],
      ['application/json', '[]', 400],
      ['application/json', 'null', 400],
      ['application/json', JSON.stringify({ ...good, pad: 'x'.repeat(2000) }), 413],
    ];
    for (const [type, body, status] of bad) {
      const res = await request(app).post('/console/dev-sign-in').set('content-type', type).send(typeof body === 'string' ? body : JSON.stringify(body));
      expect([type, body, res.status]).toEqual([type, body, status]);
      expect(typeof res.body.error.code).toBe('string');
      expect(res.body.token).toBe(undefined);
    }
    expect(minted).toEqual([]);
  });

  test('only POST; a preflight is refused as every OPTIONS is', async () => {
    expect((await request(app).get('/console/dev-sign-in')).status).toBe(404);
    expect((await request(app).options('/console/dev-sign-in')).status).toBe(404);
  });

  test('does not exist when not given: the API 404, whatever the body', async () => {
    const off = appWith({ dir: built });
    const res = await request(off).post('/console/dev-sign-in').set('content-type', 'application/json').send(good);
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('NOT_FOUND');
    expect(res.body.token).toBe(undefined);
  });

  test('the runtime offers it only in dev mode, with the dev issuer trusted and its key at hand', () => {
    const base = { TUMA_MASTER_KEY: randomBytes(32).toString('base64'), MPESA_BASE_URL: 'http://127.0.0.1:1', EMBEDDED_DATA_DIR: dataDir };
    const dev = loadConfig({ ...base, TUMA_DEV_MODE: 'true', AUTH_JWKS: JSON.stringify(jwks) });
    expect(consoleDeps(dev, built).devSignIn).toBeInstanceOf(Function);
    // Dev mode, but another issuer is trusted (as in the tests): a dev token would be refused, so none is offered.
    expect(consoleDeps(loadConfig({ ...base, TUMA_DEV_MODE: 'true', ...testAuthEnv }), built).devSignIn).toBe(null);
    // Dev mode without the issuer's key in the data directory.
    const elsewhere = mkdtempSync(path.join(tmpdir(), 'tuma-empty-'));
    expect(consoleDeps(loadConfig({ ...base, TUMA_DEV_MODE: 'true', AUTH_JWKS: JSON.stringify(jwks), EMBEDDED_DATA_DIR: elsewhere }), built).devSignIn).toBe(null);
    rmSync(elsewhere, { recursive: true, force: true });
    // Not dev mode, even naming the dev issuer itself.
    const production = loadConfig({
      ...base, AUTH_ISSUER: devAuth.issuer, AUTH_AUDIENCE: devAuth.audience, AUTH_JWKS: JSON.stringify(jwks),
      MPESA_CONSUMER_KEY: 'k', MPESA_CONSUMER_SECRET: 's', MPESA_SHORTCODE: '600000', MPESA_INITIATOR_NAME: 'i', MPESA_SECURITY_CREDENTIAL: 'c',
      DATABASE_URL: 'postgres://x@127.0.0.1/x', CONSOLE_OIDC_CLIENT_ID: 'tuma-console',
    });
    expect(production.devMode).toBe(false);
    const deps = consoleDeps(production, built);
    expect(deps.devSignIn).toBe(null);
    expect(deps.oidc).toEqual({ issuer: devAuth.issuer, clientId: 'tuma-console', scope: 'openid' });
  });
});

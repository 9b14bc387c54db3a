// Signing in to the web console through OpenID Connect (issue #16 item 2), in a real browser
// (Debian's chromium, headless, through playwright-core): an issuer of the test's own on 127.0.0.1
// serves discovery, an authorization endpoint that sends the browser back with a code, and a token
// endpoint that gives an access token only for the code's PKCE verifier. Tuma trusts that issuer
// (AUTH_ISSUER, AUTH_JWKS) and names the console's client (CONSOLE_OIDC_CLIENT_ID); no dev sign-in
// exists. The console signs in as a public client (code + S256 PKCE, state checked), and the token
// it holds is one the API accepts. A refusal by the issuer and a forged state are shown as such.
// Needs /usr/bin/chromium (README: "The console").
import { createHash, randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { pino } from 'pino';
import { chromium, type Browser, type Page } from 'playwright-core';
import { registerOrganisation } from '../../src/application/setup.js';
import { startRuntime, type Runtime } from '../../src/cli/runtime.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { testConfig } from '../support/runtime.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const artifacts = path.join(root, 'test-artifacts', 'console');
const clientId = 'tuma-console';
const audience = 'tuma-api';
const organisationId = 'oidc-org';

let database: TestDatabase;
let runtime: Runtime;
let browser: Browser;
let issuer: string;
const dataDir = mkdtempSync(path.join(tmpdir(), 'tuma-console-oidc-'));
const built = path.join(dataDir, 'console');
let closeIssuer: () => Promise<void> = async () => undefined;
/** The issuer's public keys, as AUTH_JWKS. */
let issuerJwks = '';

/** What the issuer saw, for the assertions. */
const seen: { authorize: URLSearchParams[]; tokenRequests: URLSearchParams[]; tokensGiven: number; refusals: string[] } = { authorize: [], tokenRequests: [], tokensGiven: 0, refusals: [] };
/** The next authorization answers this error instead of a code (the user refused). */
let refuseNext: string | null = null;
/** The next authorization comes back with another state than the one asked (a forged answer). */
let forgeStateNext = false;

const b64url = (bytes: Buffer) => bytes.toString('base64url');

async function startIssuer(): Promise<void> {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const publicJwk = { ...(await exportJWK(publicKey)), kid: 'oidc-test-1', alg: 'ES256', use: 'sig' };
  const codes = new Map<string, { challenge: string; redirectUri: string; clientId: string; used: boolean }>();
  const cors = { 'access-control-allow-origin': '*' };
  const json = (res: ServerResponse, status: number, body: unknown) => { res.writeHead(status, { 'content-type': 'application/json', ...cors }).end(JSON.stringify(body)); };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', issuer);
    if (req.method === 'GET' && url.pathname === '/.well-known/openid-configuration') {
      return json(res, 200, { issuer, authorization_endpoint: `${issuer}/authorize`, token_endpoint: `${issuer}/token`, jwks_uri: `${issuer}/jwks`, code_challenge_methods_supported: ['S256'] });
    }
    if (req.method === 'GET' && url.pathname === '/authorize') {
      const q = url.searchParams;
      seen.authorize.push(q);
      const redirect = q.get('redirect_uri') ?? '';
      if (q.get('response_type') !== 'code' || q.get('client_id') !== clientId || q.get('code_challenge_method') !== 'S256' || !/^[A-Za-z0-9_-]{43}$/.test(q.get('code_challenge') ?? '')
        || !redirect.startsWith('http://127.0.0.1:')) {
        seen.refusals.push('authorize: not a PKCE code request of the console');
        return json(res, 400, { error: 'invalid_request' });
      }
      const back = new URL(redirect);
      if (refuseNext) {
        back.searchParams.set('error', refuseNext);
        refuseNext = null;
      } else {
        const code = b64url(randomBytes(24));
        codes.set(code, { challenge: q.get('code_challenge')!, redirectUri: redirect, clientId, used: false });
        back.searchParams.set('code', code);
      }
      back.searchParams.set('state', forgeStateNext ? b64url(randomBytes(16)) : q.get('state') ?? '');
      forgeStateNext = false;
      res.writeHead(302, { location: back.toString() }).end();
      return;
    }
    if (req.method === 'POST' && url.pathname === '/token') {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => { body += c; if (body.length > 4096) req.destroy(); });
      req.on('end', () => {
        void (async () => {
          const form = new URLSearchParams(body);
          seen.tokenRequests.push(form);
          const granted = codes.get(form.get('code') ?? '');
          const verifier = form.get('code_verifier') ?? '';
          const challenge = b64url(createHash('sha256').update(verifier).digest());
          if (form.get('grant_type') !== 'authorization_code' || !granted || granted.used || granted.clientId !== form.get('client_id')
            || granted.redirectUri !== form.get('redirect_uri') || challenge !== granted.challenge) {
            seen.refusals.push('token: code, client, redirect or verifier does not match');
            return json(res, 400, { error: 'invalid_grant' });
          }
          granted.used = true;
          const accessToken = await new SignJWT({ org: organisationId, roles: ['finance', 'auditor'] })
            .setProtectedHeader({ alg: 'ES256', kid: publicJwk.kid }).setIssuer(issuer).setAudience(audience).setSubject('olivia')
            .setIssuedAt().setExpirationTime('10m').sign(privateKey);
          seen.tokensGiven += 1;
          return json(res, 200, { access_token: accessToken, token_type: 'Bearer', expires_in: 600 });
        })();
      });
      return;
    }
    json(res, 404, { error: 'not_found' });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  closeIssuer = () => new Promise((resolve) => server.close(() => resolve()));
  issuerJwks = JSON.stringify({ keys: [publicJwk] });
}

beforeAll(async () => {
  if (!existsSync(chromiumPath)) throw new Error(`${chromiumPath} is missing: install Debian's chromium (apt-get install -y chromium; README, "The console")`);
  mkdirSync(artifacts, { recursive: true });
  await promisify(execFile)(process.execPath, [path.join(root, 'node_modules/vite/bin/vite.js'), 'build', '--config', path.join(root, 'console/vite.config.ts'), '--outDir', built, '--emptyOutDir', '--logLevel', 'warn'], { cwd: root });
  await startIssuer();
  database = await createTestDatabase();
  const config = await testConfig(database.url, 'in-process', {
    AUTH_ISSUER: issuer, AUTH_AUDIENCE: audience, AUTH_JWKS: issuerJwks, CONSOLE_OIDC_CLIENT_ID: clientId, EMBEDDED_DATA_DIR: dataDir,
  });
  runtime = await startRuntime(config, new Set(['api'] as const), pino({ level: config.logLevel }), { consoleDir: built });
  await registerOrganisation(runtime.persistence, organisationId, 'OIDC office');
  browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await runtime?.stop();
  await closeIssuer();
  await database?.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

async function openConsole(): Promise<{ page: Page; close: () => Promise<void> }> {
  const context = await browser.newContext({ locale: 'en-GB', viewport: { width: 1024, height: 800 } });
  const page = await context.newPage();
  await page.goto(`${runtime.apiUrl!}/console/`);
  return { page, close: () => context.close() };
}

describe('signing in to the console through OpenID Connect', () => {
  it('when the issuer is configured, then the console offers it alone, signs in with code and PKCE, and the API accepts the token it holds', async () => {
    const config = await (await fetch(`${runtime.apiUrl!}/console/config.json`)).json() as { devSignIn: boolean; oidc: { issuer: string; clientId: string } | null };
    expect(config).toMatchObject({ devSignIn: false, oidc: { issuer, clientId } });
    // No dev sign-in on a server that does not trust the dev issuer.
    expect((await fetch(`${runtime.apiUrl!}/console/dev-sign-in`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).status).toBe(404);

    const { page, close } = await openConsole();
    try {
      await page.getByRole('button', { name: 'Sign in with your organisation' }).click();
      await page.getByText('Signed in as olivia').waitFor({ timeout: 20_000 });
      await page.screenshot({ path: path.join(artifacts, '30-oidc-signed-in.png'), fullPage: true });
      // The code came back once, its state checked; the token was given for the verifier whose S256 was asked.
      expect(seen.authorize).toHaveLength(1);
      const asked = seen.authorize[0]!;
      expect([asked.get('client_id'), asked.get('code_challenge_method'), asked.get('redirect_uri')]).toEqual([clientId, 'S256', `${runtime.apiUrl!}/console/`]);
      expect([seen.tokensGiven, seen.refusals]).toEqual([1, []]);
      expect(seen.tokenRequests[0]!.get('code_verifier')).toMatch(/^[A-Za-z0-9_-]{43}$/);
      // The code and state left the address bar; the token is in this tab's sessionStorage only.
      expect(new URL(page.url()).search).toBe('');
      const token = await page.evaluate("sessionStorage.getItem('tuma.session')") as string | null;
      expect(await page.evaluate('localStorage.length')).toBe(0);
      const audit = await fetch(`${runtime.apiUrl!}/v1/audit`, { headers: { authorization: `Bearer ${token!}` } });
      expect(audit.status).toBe(200);
    } finally {
      await close();
    }
  }, 60_000);

  it('when the issuer refuses the sign-in, or the answer carries another state than asked, then the console says so and holds no token', async () => {
    for (const [setUp, words] of [[() => { refuseNext = 'access_denied'; }, 'access_denied'], [() => { forgeStateNext = true; }, 'the sign-in answer does not match the request (state)']] as const) {
      setUp();
      const given = seen.tokensGiven;
      const { page, close } = await openConsole();
      try {
        await page.getByRole('button', { name: 'Sign in with your organisation' }).click();
        await page.getByText(`Sign-in through your organisation failed: ${words}`, { exact: false }).waitFor({ timeout: 20_000 });
        expect(await page.evaluate("sessionStorage.getItem('tuma.session')")).toBeNull();
        expect(seen.tokensGiven).toBe(given);
        if (words === 'access_denied') await page.screenshot({ path: path.join(artifacts, '31-oidc-refused.png'), fullPage: true });
      } finally {
        await close();
      }
    }
  }, 60_000);
});

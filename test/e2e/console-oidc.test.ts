// Signing in to the web console through OpenID Connect (issue #16 item 2), in a real browser
// (Debian's chromium, headless, through playwright-core): an issuer of the test's own on 127.0.0.1
// serves discovery, an authorization endpoint that sends the browser back with a code, and a token
// endpoint that gives an access token only for the code's PKCE verifier. Tuma trusts that issuer
// (AUTH_ISSUER, AUTH_JWKS) and names the console's client (CONSOLE_OIDC_CLIENT_ID); no dev sign-in
// exists. The console signs in as a public client (code + S256 PKCE, state checked), and the token
// it holds is one the API accepts. A refusal by the issuer is said from the console's catalogue per
// OAuth error code, in the reader's language, never with the issuer's own words (its
// error_description is anyone's text); a forged state is shown as such.
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
import { accessible } from '../support/accessibility.js';

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
/** The next authorization answers this error (and description) instead of a code (the user refused). */
let refuseNext: { error: string; description: string } | null = null;
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
        back.searchParams.set('error', refuseNext.error);
        back.searchParams.set('error_description', refuseNext.description);
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
  // --bypass-lock: Vite 8 refuses a second `vite build` of the same project while one runs, and
  // jest runs both browser test files at once (maxWorkers 2); each builds into a directory of its own.
  await promisify(execFile)(process.execPath, [path.join(root, 'node_modules/vite/bin/vite.js'), 'build', '--config', path.join(root, 'console/vite.config.ts'), '--outDir', built, '--emptyOutDir', '--bypass-lock', '--logLevel', 'warn'], { cwd: root });
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

/** Whether the element has the focus, and a visible outline (the console's :focus-visible ring). */
async function focusOf(locator: ReturnType<Page['locator']>): Promise<{ focused: boolean; outlined: boolean }> {
  return locator.evaluate((el) => {
    const doc = el.ownerDocument as unknown as { activeElement: unknown; defaultView: { getComputedStyle(e: unknown): { outlineStyle: string; outlineWidth: string } } };
    const style = doc.defaultView.getComputedStyle(el);
    return { focused: el === doc.activeElement, outlined: style.outlineStyle !== 'none' && Number.parseFloat(style.outlineWidth) > 0 };
  });
}

describe('signing in to the console through OpenID Connect', () => {
  it('when the issuer is configured, then the console offers it alone, signs in with code and PKCE, and the API accepts the token it holds', async () => {
    const config = await (await fetch(`${runtime.apiUrl!}/console/config.json`)).json() as { devSignIn: boolean; oidc: { issuer: string; clientId: string } | null };
    expect(config).toMatchObject({ devSignIn: false, oidc: { issuer, clientId } });
    // No dev sign-in on a server that does not trust the dev issuer.
    expect((await fetch(`${runtime.apiUrl!}/console/dev-sign-in`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).status).toBe(404);

    const { page, close } = await openConsole();
    try {
      await page.getByRole('button', { name: 'Sign in with your organisation' }).waitFor();
      await accessible(page, 'oidc sign-in');
      await page.getByRole('button', { name: 'Sign in with your organisation' }).click();
      await page.getByText('Signed in as olivia').waitFor({ timeout: 20_000 });
      await accessible(page, 'oidc signed in');
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

  it('when the issuer refuses the sign-in, then the console says why from its catalogue per OAuth error code, in the reader\'s language, never the issuer\'s words, and holds no token; a forged state is said so', async () => {
    // The description is the issuer's (anyone's) text: markup and a lie in it must not reach the page.
    const hostile = '<img src=x onerror="window.pwned=1">Call +254700000000 to unlock';
    const cases: [string, { error: string; description: string } | 'forged-state', string][] = [
      ['en-GB', { error: 'access_denied', description: hostile }, 'Sign-in through your organisation failed: access was refused. If you did not cancel it yourself, ask your administrator whether your account may use the Tuma console.'],
      ['fr-FR', { error: 'login_required', description: hostile }, 'La connexion par votre organisation a échoué : votre organisation vous demande de vous reconnecter sur sa page. Réessayez.'],
      ['en-GB', { error: 'consent_required', description: hostile }, 'your organisation needs your consent before the Tuma console may sign you in.'],
      ['en-GB', { error: 'interaction_required', description: hostile }, 'your organisation needs you to complete a step on its sign-in page.'],
      ['fr-FR', { error: 'invalid_request', description: hostile }, 'votre organisation a refusé la demande de connexion comme invalide.'],
      ['en-GB', { error: 'server_error', description: hostile }, 'your organisation\'s sign-in service had an error. Try again later.'],
      ['fr-FR', { error: 'temporarily_unavailable', description: hostile }, 'le service de connexion de votre organisation est momentanément indisponible.'],
      // An unknown code, itself hostile: the generic sentence, the code not echoed.
      ['en-GB', { error: '<b>pwned</b>_error', description: hostile }, 'Sign-in through your organisation failed: your organisation\'s sign-in service refused it. Try again, or ask your administrator.'],
      ['en-GB', 'forged-state', 'Sign-in through your organisation failed: the answer does not match the sign-in this browser asked for. Start again from this page.'],
    ];
    for (const [locale, refusal, words] of cases) {
      if (refusal === 'forged-state') forgeStateNext = true;
      else refuseNext = refusal;
      const given = seen.tokensGiven;
      const context = await browser.newContext({ locale, viewport: { width: 1024, height: 800 } });
      const page = await context.newPage();
      try {
        await page.goto(`${runtime.apiUrl!}/console/`);
        await page.getByRole('button', { name: locale === 'fr-FR' ? 'Se connecter avec votre organisation' : 'Sign in with your organisation' }).click();
        const alert = page.getByRole('alert');
        await alert.filter({ hasText: words }).waitFor({ timeout: 20_000 });
        const shown = (await page.locator('main').textContent()) ?? '';
        expect({ words, echoed: ['pwned', 'unlock', '254700000000', 'access_denied', 'error_description'].filter((w) => shown.includes(w)) }).toEqual({ words, echoed: [] });
        expect(await page.locator('main img, main b').count()).toBe(0);
        expect(await page.evaluate('window.pwned')).toBeUndefined();
        // The answer's parameters left the address bar; no token is held.
        expect(new URL(page.url()).search).toBe('');
        expect(await page.evaluate("sessionStorage.getItem('tuma.session')")).toBeNull();
        expect(seen.tokensGiven).toBe(given);
        if (refusal !== 'forged-state' && refusal.error === 'access_denied') {
          await accessible(page, 'oidc refused');
          await page.screenshot({ path: path.join(artifacts, '31-oidc-refused.png'), fullPage: true });
          // Keyboard only: the sign-in button is reachable again from the page with Tab, and visibly focused.
          const button = page.getByRole('button', { name: 'Sign in with your organisation' });
          for (let i = 0; i < 12 && !(await focusOf(button)).focused; i++) await page.keyboard.press('Tab');
          expect(await focusOf(button)).toEqual({ focused: true, outlined: true });
        }
      } finally {
        await context.close();
      }
    }
  }, 120_000);
});

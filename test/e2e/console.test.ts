// The web console in a real browser (Debian's chromium, headless, through playwright-core) against a
// running Tuma: real PostgreSQL, Kafka and the M-Pesa simulator, the console built by Vite as
// `npm run build` builds it, signed in through the dev sign-in page. One path through the roles:
// an administrator registers the keys the maker and the approver made in their browsers
// (WebCrypto, non-extractable, in IndexedDB); the maker's malformed CSV is refused with every
// problem by line and column; the good one is signed and submitted; the maker cannot approve it
// and is told why; the approver approves it by signing in the browser; the batch is paid, followed
// live by state and provider. Each screen is checked with axe-core (no serious or critical
// violation) and photographed into test-artifacts/console/ (gitignored), with no CSP violation.
// Needs /usr/bin/chromium (README: "The console"; .ci/run installs it when missing).
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { pino } from 'pino';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { fundProgramme, registerOrganisation, registerProgramme, topUpFloat } from '../../src/application/setup.js';
import { devIssuerJwks, mintDevToken } from '../../src/cli/dev.js';
import { roles as allRoles, startRuntime, type Runtime } from '../../src/cli/runtime.js';
import { devAuth } from '../../src/config/config.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { net } from '../support/net.js';
import { testConfig } from '../support/runtime.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const artifacts = path.join(root, 'test-artifacts', 'console');
/** The whole console, compressed, as a 3G-class link downloads it (issue #16 item 1). */
const consoleGzipBytesMax = 300 * 1024;
const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

const organisationId = 'field-org';
const programmeId = 'turkana-cash';

let database: TestDatabase;
let runtime: Runtime;
let browser: Browser;
const dataDir = mkdtempSync(path.join(tmpdir(), 'tuma-console-e2e-'));
const built = path.join(dataDir, 'console');
const cspViolations: string[] = [];

beforeAll(async () => {
  if (!existsSync(chromiumPath)) throw new Error(`${chromiumPath} is missing: install Debian's chromium (apt-get install -y chromium; README, "The console")`);
  mkdirSync(artifacts, { recursive: true });
  // Built as `npm run build` builds it, into a directory of this test's own.
  await promisify(execFile)(process.execPath, [path.join(root, 'node_modules/vite/bin/vite.js'), 'build', '--config', path.join(root, 'console/vite.config.ts'), '--outDir', built, '--emptyOutDir', '--logLevel', 'warn'], { cwd: root });
  database = await createTestDatabase();
  // The dev issuer of this instance, trusted by its API: the dev sign-in page exists.
  const jwks = devIssuerJwks(dataDir);
  const config = await testConfig(database.url, 'kafka', { AUTH_ISSUER: devAuth.issuer, AUTH_AUDIENCE: devAuth.audience, AUTH_JWKS: jwks, EMBEDDED_DATA_DIR: dataDir });
  runtime = await startRuntime(config, new Set(allRoles), pino({ level: config.logLevel }), { consoleDir: built });
  await registerOrganisation(runtime.persistence, organisationId, 'Field office');
  await registerProgramme(runtime.persistence, { id: programmeId, organisationId, name: 'Turkana cash', currency: 'KES', approvalsRequired: 1 });
  await fundProgramme(runtime.persistence, { idempotencyKey: 'fund-e2e', organisationId, programmeId, source: 'donor', currency: 'KES', amountMinor: 10_000_000n });
  await topUpFloat(runtime.persistence, { idempotencyKey: 'float-e2e', organisationId, provider: 'mpesa', source: 'donor', currency: 'KES', amountMinor: 10_000_000n });
  browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await runtime?.stop();
  await database?.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

async function person(locale = 'en-GB'): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ locale, viewport: { width: 1024, height: 800 }, acceptDownloads: true });
  const page = await context.newPage();
  page.on('console', (m) => {
    if (/Content.Security.Policy/i.test(m.text())) cspViolations.push(m.text());
  });
  return { context, page };
}

/** axe-core on the page as it is: no serious or critical violation. */
async function accessible(page: Page, screen: string): Promise<void> {
  const found = (await page.evaluate(`(async () => {
    if (!window.axe) { ${axeSource}\n }
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => v.id + ': ' + v.nodes.map((n) => n.target.join(' ')).join(', '));
  })()`)) as string[];
  expect({ screen, violations: found }).toEqual({ screen, violations: [] });
}

async function shot(page: Page, name: string): Promise<void> {
  await accessible(page, name);
  await page.screenshot({ path: path.join(artifacts, `${name}.png`), fullPage: true });
}

/** The dev sign-in page, used with the keyboard alone: tab to each field, type, Enter. */
async function signIn(page: Page, subject: string, roles: string[]): Promise<void> {
  await page.goto(`${runtime.apiUrl}/console/`);
  await page.getByRole('heading', { name: 'Sign in', level: 1 }).waitFor();
  await page.getByLabel('Organisation').fill(organisationId);
  await page.getByLabel('Organisation').press('Tab');
  await page.keyboard.type(subject);
  // The roles: the first box is programme manager (checked by default).
  const boxes = page.getByRole('checkbox');
  for (const r of ['programme_manager', 'approver', 'finance', 'admin', 'auditor']) {
    const box = boxes.and(page.locator(`[value="${r}"]`));
    await page.keyboard.press('Tab');
    expect(await focused(box)).toBe(true);
    if ((await box.isChecked()) !== roles.includes(r)) await page.keyboard.press('Space');
  }
  await page.keyboard.press('Enter');
  await page.getByTestId('who').waitFor();
  expect(await page.getByTestId('who').textContent()).toContain(subject);
}

/** The public JWK the person's console shows for the administrator. */
async function makeKey(page: Page, role: 'maker' | 'approver'): Promise<string> {
  await page.getByRole('button', { name: new RegExp(`Make a .* key in this browser`) }).click();
  const jwk = await page.locator(`#jwk-${role}`).inputValue();
  expect(JSON.parse(jwk)).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256' });
  expect(JSON.parse(jwk).d).toBe(undefined);
  return jwk;
}

async function register(admin: Page, role: 'maker' | 'approver', holder: string, jwk: string): Promise<void> {
  await admin.goto(`${runtime.apiUrl}/console/#/keys`);
  await admin.getByRole('radio', { name: role === 'maker' ? /maker/ : /approver/ }).check();
  await admin.getByLabel(/^Holder/).fill(holder);
  await admin.getByLabel(/^Public key/).fill(jwk);
  await admin.getByRole('button', { name: 'Register' }).click();
  await admin.getByText(new RegExp(`Registered key .* for ${holder}`)).waitFor();
}

const badCsv = [
  'ref,msisdn,amount,provider,name',
  'hh-1,+254712000001,1500,mpesa,Achieng Otieno',
  'hh-2,0712000002,2000.00,mpesa,',
  'hh-3,+254733000003,12.345,mpesa,',
  'hh-1,+254711000004,2250,airtel-x,',
  'hh-5,+254711000005,100',
  'hh-6,+254711000006,3000,mtn-momo,',
].join('\n');
const goodCsv = ['ref,msisdn,amount,provider,name,note', 'hh-0001,+254712000001,1500,mpesa,Achieng Otieno,November', 'hh-0002,+254722000002,2000.00,mpesa,"Wafula, Peter",', 'hh-0003,+254733000003,1750,mpesa,,'].join('\r\n');

describe('the web console', () => {
  test('is under 300 KB compressed, every file of it', () => {
    const files: string[] = [];
    const walk = (dir: string) => {
      for (const f of readdirSync(dir)) {
        const p = path.join(dir, f);
        if (statSync(p).isDirectory()) walk(p);
        else files.push(p);
      }
    };
    walk(built);
    expect(files.some((f) => f.endsWith('.js'))).toBe(true);
    const compressed = files.reduce((sum, f) => sum + gzipSync(readFileSync(f), { level: 9 }).byteLength, 0);
    expect(compressed).toBeLessThan(consoleGzipBytesMax);
  });

  test('maker, administrator and approver: keys made in the browser, a refused CSV, a signed batch approved and paid', async () => {
    const ada = await person();
    const mary = await person();
    const abel = await person();

    await ada.page.goto(`${runtime.apiUrl}/console/`);
    await ada.page.getByRole('heading', { name: 'Sign in', level: 1 }).waitFor();
    await shot(ada.page, '01-sign-in');
    await signIn(ada.page, 'ada', ['admin']);
    await shot(ada.page, '02-home-admin');

    // Mary makes her maker key in her browser; Ada registers its public half for her.
    await signIn(mary.page, 'mary', ['programme_manager', 'approver']);
    await mary.page.goto(`${runtime.apiUrl}/console/#/new`);
    const maryJwk = await makeKey(mary.page, 'maker');
    await register(ada.page, 'maker', 'mary', maryJwk);
    await shot(ada.page, '03-keys-admin');
    // The private key is in IndexedDB as a CryptoKey that cannot be exported.
    const extractable = await mary.page.evaluate(`new Promise((resolve) => {
      const r = indexedDB.open('tuma-console');
      r.onsuccess = () => { const g = r.result.transaction('keys').objectStore('keys').getAll(); g.onsuccess = () => resolve(g.result.map((k) => [k.privateKey.type, k.privateKey.extractable, k.privateKey.algorithm.namedCurve])); };
    })`);
    expect(extractable).toEqual([['private', false, 'P-256']]);

    // The programme's rules come from the API; a malformed CSV shows every problem by line and column.
    await mary.page.getByLabel('Programme').fill(programmeId);
    await mary.page.getByRole('button', { name: "Load the programme's rules" }).click();
    await mary.page.getByTestId('rules').waitFor();
    await mary.page.getByLabel('Payouts CSV file').setInputFiles({ name: 'payouts-bad.csv', mimeType: 'text/csv', buffer: Buffer.from(badCsv) });
    const problems = mary.page.getByTestId('problems');
    await problems.waitFor();
    const rows = (await problems.locator('tbody tr').allTextContents()).map((r) => r.replace(/\s+/g, ' '));
    const has = (line: number, column: string, code: string) => expect(rows.some((r) => r.startsWith(`${line}${column}`) && r.includes(code))).toBe(true);
    has(3, 'msisdn', 'MSISDN_INVALID');
    has(4, 'amount', 'AMOUNT_SCALE');
    has(5, 'ref', 'REF_DUPLICATE');
    has(5, 'provider', 'PROVIDER_UNKNOWN');
    expect(rows.some((r) => r.startsWith('6(row)') && r.includes('3 fields, the header has 5'))).toBe(true);
    has(7, 'provider', 'PROVIDER_NOT_ENABLED');
    expect(await mary.page.getByRole('button', { name: /Sign with my key/ }).count()).toBe(0);
    await shot(mary.page, '04-new-batch-refused-csv');

    // The good file: summary, signed in the browser, submitted; it waits for one approval.
    await mary.page.getByLabel('Payouts CSV file').setInputFiles({ name: 'payouts.csv', mimeType: 'text/csv', buffer: Buffer.from(goodCsv) });
    await mary.page.getByRole('heading', { name: /payouts.csv: 3 payouts, KES\s?5,250.00, ready to sign/ }).waitFor();
    expect(await mary.page.getByRole('cell', { name: '+254712000001' }).count()).toBe(0);
    await shot(mary.page, '05-new-batch-ready');
    await mary.page.getByRole('button', { name: 'Sign with my key and submit' }).click();
    await mary.page.getByText(/submitted: awaiting approval/).waitFor();
    const [download] = await Promise.all([mary.page.waitForEvent('download'), mary.page.getByRole('link', { name: /Download the signed batch document/ }).click()]);
    const batchFile = path.join(dataDir, 'batch.json');
    await download.saveAs(batchFile);
    const batchId = (JSON.parse(readFileSync(batchFile, 'utf8')) as { batchId: string }).batchId;
    await shot(mary.page, '06-new-batch-submitted');

    // The maker may hold the approver role, but cannot approve her own batch: the console says why.
    await mary.page.goto(`${runtime.apiUrl}/console/#/approve`);
    await makeKey(mary.page, 'approver');
    await mary.page.getByLabel(/The batch document/).setInputFiles(batchFile);
    await mary.page.getByRole('button', { name: /Approve: sign/ }).click();
    await mary.page.getByRole('alert').filter({ hasText: 'another person must approve it' }).waitFor();
    await shot(mary.page, '07-approve-refused-maker');

    // Abel (in French) makes his approver key; Ada registers it; he approves by signing.
    await signIn(abel.page, 'abel', ['approver']);
    await abel.page.getByLabel('Language').selectOption('fr');
    await abel.page.goto(`${runtime.apiUrl}/console/#/approve`);
    await abel.page.getByRole('heading', { name: 'Approuver un lot', level: 1 }).waitFor();
    await abel.page.getByRole('button', { name: /Créer votre clé/ }).click();
    const abelJwk = await abel.page.locator('#jwk-approver').inputValue();
    await register(ada.page, 'approver', 'abel', abelJwk);
    await abel.page.getByLabel(/Le document de lot/).setInputFiles(batchFile);
    await abel.page.getByTestId('approvals').filter({ hasText: 'Approbations : 0 sur 1' }).waitFor();
    expect(await abel.page.getByRole('cell', { name: /5\s?250,00\s?KES/ }).count()).toBe(1);
    await shot(abel.page, '08-approve-summary-fr');
    await abel.page.getByRole('button', { name: /Approuver : signer/ }).click();
    await abel.page.getByText(/Approuvé : le lot est maintenant/).waitFor();

    // Followed live until every payout is paid, by state and by provider.
    await abel.page.goto(`${runtime.apiUrl}/console/#/batch/${batchId}`);
    await abel.page.getByTestId('batch-state').filter({ hasText: 'terminé' }).waitFor({ timeout: 45_000 });
    await abel.page.getByTestId('by-provider').getByRole('row', { name: /mpesa payé 3/ }).waitFor();
    await shot(abel.page, '09-follow-completed-fr');
    await abel.page.getByLabel('Langue').selectOption('en');
    await abel.page.getByTestId('batch-state').filter({ hasText: 'completed' }).waitFor();
    await shot(abel.page, '10-follow-completed-en');

    // What the API says, independently of the console.
    const token = await mintDevToken(dataDir, { subject: 'check', organisationId, roles: ['auditor'], ttlSeconds: 60 });
    const batch = await net.eventually(async () => {
      const res = await fetch(`${runtime.apiUrl}/v1/batches/${batchId}`, { headers: { authorization: `Bearer ${token}` } });
      return res.ok ? ((await res.json()) as Record<string, unknown>) : null;
    }, 5_000, 'the batch');
    expect(batch).toMatchObject({ state: 'completed', total: '5250.00', approvals: { required: 1, received: 1 }, payouts: { paid: { count: 3, amount: '5250.00' } } });
    expect(cspViolations).toEqual([]);
    for (const p of [ada, mary, abel]) await p.context.close();
  }, 150_000);
});

/** Whether the locator holds the focus (keyboard-only use: Tab lands where expected). */
async function focused(locator: ReturnType<Page['locator']>): Promise<boolean> {
  return locator.evaluate((el) => el === el.ownerDocument.activeElement);
}

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
import { createServer, request as httpRequest, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { sql } from 'kysely';
import { pino } from 'pino';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { fundProgramme, registerOrganisation, registerProgramme, registerSignerKey, topUpFloat } from '../../src/application/setup.js';
import { devIssuerJwks, mintDevToken } from '../../src/cli/dev.js';
import { payoutIdOf } from '../../src/domain/ids.js';
import { roles as allRoles, startRuntime, type Runtime } from '../../src/cli/runtime.js';
import { devAuth } from '../../src/config/config.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { batchDocument, newKey, setUpProviderProgramme, sign, type PayoutLine } from '../support/fixtures.js';
import { net } from '../support/net.js';
import { testConfig } from '../support/runtime.js';
import { accessible } from '../support/accessibility.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const artifacts = path.join(root, 'test-artifacts', 'console');
/** The whole console, compressed, as a 3G-class link downloads it (issue #16 item 1). */
const consoleGzipBytesMax = 300 * 1024;

const organisationId = 'field-org';
const programmeId = 'turkana-cash';

let database: TestDatabase;
let runtime: Runtime;
let browser: Browser;
const dataDir = mkdtempSync(path.join(tmpdir(), 'tuma-console-e2e-'));
const built = path.join(dataDir, 'console');
const cspViolations: string[] = [];
/** What afterAll closes (the holding proxy), whether the test passed or not. */
const closing: (() => Promise<void>)[] = [];

beforeAll(async () => {
  if (!existsSync(chromiumPath)) throw new Error(`${chromiumPath} is missing: install Debian's chromium (apt-get install -y chromium; README, "The console")`);
  mkdirSync(artifacts, { recursive: true });
  // Built as `npm run build` builds it, into a directory of this test's own.
  // --bypass-lock: Vite 8 refuses a second `vite build` of the same project while one runs, and
  // jest runs both browser test files at once (maxWorkers 2); each builds into a directory of its own.
  await promisify(execFile)(process.execPath, [path.join(root, 'node_modules/vite/bin/vite.js'), 'build', '--config', path.join(root, 'console/vite.config.ts'), '--outDir', built, '--emptyOutDir', '--bypass-lock', '--logLevel', 'warn'], { cwd: root });
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
  for (const close of closing) await close();
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

async function shot(page: Page, name: string): Promise<void> {
  await accessible(page, name);
  await page.screenshot({ path: path.join(artifacts, `${name}.png`), fullPage: true });
}

/** The dev sign-in page, used with the keyboard alone: tab to each field, type, Enter. */
async function signIn(page: Page, subject: string, roles: string[], org = organisationId, base = runtime.apiUrl): Promise<void> {
  await page.goto(`${base}/console/`);
  await page.getByRole('heading', { name: 'Sign in', level: 1 }).waitFor();
  await page.getByLabel('Organisation').fill(org);
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

  test('is sent gzipped: what a browser downloads is the compressed size', async () => {
    const page = await (await fetch(`${runtime.apiUrl}/console/`)).text();
    const assets = [...page.matchAll(/(?:src|href)="(\/console\/assets\/[^"]+\.(?:js|css))"/g)].map((m) => m[1]!);
    expect(assets.some((a) => a.endsWith('.js'))).toBe(true);
    let sent = 0;
    for (const asset of assets) {
      const res = await fetch(`${runtime.apiUrl}${asset}`, { headers: { 'accept-encoding': 'gzip' } });
      expect([asset, res.status, res.headers.get('content-encoding')]).toEqual([asset, 200, 'gzip']);
      sent += Number(res.headers.get('content-length'));
      await res.arrayBuffer();
    }
    expect(sent).toBeLessThan(consoleGzipBytesMax);
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
    // By provider and state from the server's own count (any batch size: no note of a limit any more).
    await abel.page.getByTestId('by-provider').getByRole('row', { name: /M-Pesa payé 3/ }).waitFor();
    await abel.page.getByTestId('by-provider').getByRole('progressbar', { name: 'M-Pesa, payé: 3 / 3' }).waitFor();
    expect(await abel.page.getByText(/affiché pour les lots/).count()).toBe(0);
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

/**
 * A pass-through HTTP proxy to `target` on 127.0.0.1 whose answers to the requests `holds` picks
 * are sent only once `until` resolves (the request itself is forwarded at once, body and all).
 */
async function holdingProxy(target: string, holds: (req: IncomingMessage) => boolean, until: Promise<void>): Promise<{ url: string; close: () => Promise<void> }> {
  const server = createServer((req, res) => {
    const upstream = httpRequest(new URL(req.url ?? '/', target), { method: req.method, headers: req.headers }, (answer) => {
      const send = () => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      };
      if (holds(req)) void until.then(send);
      else send();
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }) };
}

/** Whether the locator holds the focus (keyboard-only use: Tab lands where expected). */
async function focused(locator: ReturnType<Page['locator']>): Promise<boolean> {
  return locator.evaluate((el) => el === el.ownerDocument.activeElement);
}

describe('finance and the auditor in the web console', () => {
  /** A second boundary after every event so far, and not before the next whole second has begun. */
  async function boundary(): Promise<Date> {
    const at = new Date(Math.floor(Date.now() / 1000) * 1000 + 1000);
    await new Promise((r) => setTimeout(r, at.getTime() - Date.now() + 5));
    return at;
  }

  test('balances, a statement exported, a provider statement imported, its exception decided by one finance user and approved by another, the audit log', async () => {
    // An organisation whose M-Pesa payout Safaricom reverses after paying it: the period's statement has a late reversal.
    const s = await setUpProviderProgramme(runtime.persistence, { provider: 'mpesa', currency: 'KES', fundedMinor: 1_000_000_00n, floatMinor: 10_000_000_00n });
    const sim = runtime.simulator!;
    sim.setFaults({ rules: [{ pattern: '^254733000001$', fault: 'reverse-after-success', delayMs: 50 }] });
    const from = await boundary();
    const rows: PayoutLine[] = [
      { ref: 'plain', provider: 'mpesa', msisdn: '+254733000000', amount: '100.00' },
      { ref: 'reversed', provider: 'mpesa', msisdn: '+254733000001', amount: '200.00' },
    ];
    const document = batchDocument(s, rows, { total: '300.00' });
    const pm = await mintDevToken(dataDir, { subject: 'pm', organisationId: s.organisationId, roles: ['programme_manager', 'auditor'], ttlSeconds: 300 });
    const submitted = await fetch(`${runtime.apiUrl}/v1/batches`, { method: 'POST', headers: { authorization: `Bearer ${pm}`, 'content-type': 'application/jose+json' }, body: JSON.stringify(await sign(document, s.maker)) });
    expect(submitted.status).toBe(201);
    const reversed = payoutIdOf(document.batchId, 'reversed');
    const payoutState = async (id: string) => ((await (await fetch(`${runtime.apiUrl}/v1/payouts/${id}`, { headers: { authorization: `Bearer ${pm}` } })).json()) as { state: string }).state;
    for (const ref of ['plain', 'reversed']) await net.eventually(async () => ((await payoutState(payoutIdOf(document.batchId, ref))) === 'paid' ? true : null), 45_000, `${ref} paid`);
    await net.eventually(async () => (sim.statement().some((l) => l.status === 'Reversed') ? true : null), 45_000, 'the reversal');
    await sim.drained();
    const to = await boundary();
    sim.setFaults({});
    const statementCsv = await (await fetch(`${runtime.simulatorUrl}/__control/mpesa/statement?${new URLSearchParams({ format: 'csv', from: from.toISOString(), to: to.toISOString() }).toString()}`)).text();

    const fiona = await person();
    const frank = await person();
    const olga = await person();

    // Fiona's browser reaches Tuma through a pass-through proxy of this test's that holds the
    // statement import's answer back until released (the bytes go through for real).
    let release: () => void = () => undefined;
    const held = new Promise<void>((r) => (release = r));
    const proxy = await holdingProxy(runtime.apiUrl!, (req) => req.method === 'POST' && (req.url ?? '').startsWith('/v1/reconciliations?'), held);
    closing.push(proxy.close);
    const fionaBase = proxy.url;

    // Balances: the trial balance and every account, from the API.
    await signIn(fiona.page, 'fiona', ['finance'], s.organisationId, fionaBase);
    await fiona.page.goto(`${fionaBase}/console/#/finance`);
    await fiona.page.getByLabel(/^Currency/).fill('KES');
    await fiona.page.getByLabel(/^Currency/).press('Enter');
    await fiona.page.getByTestId('trial-balance').waitFor();
    expect(await fiona.page.getByText('Debits equal credits: the ledger balances.').count()).toBe(1);
    const programmeRow = fiona.page.getByTestId('accounts').getByRole('row', { name: new RegExp(`programme:${s.programmeId}:available`) });
    // Funded 1,000,000.00; 300.00 committed and paid.
    expect((await programmeRow.textContent())?.replace(/\s/g, ' ')).toContain('KES 999,700.00');
    await shot(fiona.page, '11-finance-balances');

    // An account's statement, and its whole history exported as the API's CSV.
    await programmeRow.getByRole('link').click();
    await fiona.page.getByTestId('statement-lines').waitFor();
    expect(await fiona.page.getByTestId('account-balance').textContent()).toMatch(/KES\s?999,700\.00/);
    const [exported] = await Promise.all([fiona.page.waitForEvent('download'), fiona.page.getByRole('button', { name: /Export the whole statement/ }).click()]);
    const exportedFile = path.join(dataDir, exported.suggestedFilename());
    await exported.saveAs(exportedFile);
    const csvLines = readFileSync(exportedFile, 'utf8').trim().split('\r\n');
    expect(csvLines[0]).toBe('seq,posted_at,transfer_id,journal_id,code,side,amount,counterparty,batch_id,payout_id,reference,balance');
    expect(csvLines.length).toBe(1 + (await fiona.page.getByTestId('statement-lines').locator('tbody tr').count()));
    await fiona.page.getByText(/^Saved statement-KES-.*\.csv/).waitFor();
    // Dates in the reader's own form: this browser reads en-GB (7 Dec 2026, 24-hour clock), not en-US (Dec 7, 2026, 11:41 AM).
    const posted = await fiona.page.getByTestId('statement-lines').locator('tbody tr td').first().textContent();
    expect(posted).toMatch(/^\d{1,2} [A-Z][a-z]{2} \d{4}, \d{2}:\d{2}:\d{2}$/);
    await shot(fiona.page, '12-finance-account-statement');

    // The provider's statement, imported with a progress bar; its answer is held back until the bar
    // has been seen full and the page says the server is reconciling.
    await fiona.page.goto(`${fionaBase}/console/#/recon`);
    await fiona.page.getByRole('heading', { name: 'Import a provider statement' }).waitFor();
    await fiona.page.getByLabel('Provider account').fill('mpesa');
    await fiona.page.getByLabel('Period from').fill(from.toISOString());
    await fiona.page.getByLabel(/^Period to/).fill(to.toISOString());
    await fiona.page.getByLabel('Statement file').setInputFiles({ name: 'mpesa-statement.csv', mimeType: 'text/csv', buffer: Buffer.from(statementCsv) });
    await fiona.page.getByRole('button', { name: 'Import and reconcile' }).click();
    const bar = fiona.page.getByTestId('upload-progress');
    await bar.getByText('Sent. The server is reconciling the statement…').waitFor();
    const progress = await bar.locator('progress').evaluate((p) => [(p as unknown as { value: number }).value, (p as unknown as { max: number }).max]);
    expect(progress).toEqual([Buffer.byteLength(statementCsv), Buffer.byteLength(statementCsv)]);
    await shot(fiona.page, '13-recon-import-progress');
    release();

    // The exceptions by class, with ageing and amount at risk.
    await fiona.page.getByTestId('class-report').waitFor();
    const lateRow = fiona.page.getByTestId('class-report').getByRole('row', { name: /late reversal/ });
    expect((await lateRow.textContent())?.replace(/\s/g, ' ')).toMatch(/1 of 1.*KES 200\.00/);
    expect(await fiona.page.getByTestId('recon-state').textContent()).toBe('open');
    await shot(fiona.page, '14-recon-exceptions');

    // Fiona resolves it with the keyboard alone: to the row's button, Enter, the action, a comment, Enter.
    const resolve = fiona.page.getByTestId('exceptions').getByRole('row', { name: /late reversal/ }).getByRole('button', { name: 'Resolve…' });
    await resolve.focus();
    await fiona.page.keyboard.press('Enter');
    const decideHeading = fiona.page.getByRole('heading', { name: /Resolve line \d+ \(late reversal\)/ });
    await net.eventually(async () => ((await focusOf(decideHeading)).focused ? true : null), 5_000, 'the focus on the form\'s heading');
    // Escape closes the form and gives the focus back to the row's button; Enter opens it again.
    await fiona.page.keyboard.press('Escape');
    await decideHeading.waitFor({ state: 'detached' });
    await net.eventually(async () => ((await focusOf(resolve)).focused ? true : null), 5_000, 'the focus back on Resolve…');
    await fiona.page.keyboard.press('Enter');
    await net.eventually(async () => ((await focusOf(decideHeading)).focused ? true : null), 5_000, 'the focus on the form\'s heading again');
    await fiona.page.keyboard.press('Tab');
    expect(await focused(fiona.page.getByRole('radio', { name: 'apply the reversal' }))).toBe(true);
    expect(await fiona.page.getByRole('radio', { name: 'apply the reversal' }).isChecked()).toBe(true);
    await fiona.page.keyboard.press('Tab');
    expect(await focused(fiona.page.getByLabel('Comment (kept on the record)'))).toBe(true);
    await fiona.page.keyboard.type('Safaricom reversed it on the statement');
    await fiona.page.keyboard.press('Tab');
    expect(await focused(fiona.page.getByRole('button', { name: 'Record the decision' }))).toBe(true);
    await shot(fiona.page, '15-recon-decide');
    await fiona.page.keyboard.press('Enter');
    await fiona.page.getByText(/waits for a second finance user to approve it/).waitFor();
    // Its maker cannot approve it, and is told why.
    await fiona.page.getByTestId('awaiting').getByText('You made this decision: another finance user must approve or reject it.', { exact: false }).waitFor();
    expect(await fiona.page.getByRole('button', { name: 'Approve and apply' }).count()).toBe(0);
    // Awaiting its second approval, nothing is posted: the exception is still at risk, on its row.
    const atRisk = async (page: Page) => (await page.getByTestId('exceptions').locator('tr[data-item="line-10"] td').nth(4).textContent())?.replace(/\s/g, ' ');
    expect(await atRisk(fiona.page)).toMatch(/200\.00/);
    await shot(fiona.page, '16-recon-awaiting-maker');
    // The float check (the simulator's balance is not the ledger's float) is acknowledged: nothing to post, applied at once.
    await fiona.page.getByTestId('exceptions').getByRole('row', { name: /float differs/ }).getByRole('button', { name: 'Resolve…' }).click();
    await fiona.page.getByRole('radio', { name: 'acknowledge' }).check();
    await fiona.page.getByLabel('Comment (kept on the record)').fill('The simulator keeps one balance for every organisation');
    await fiona.page.getByRole('button', { name: 'Record the decision' }).click();
    await fiona.page.getByText(/Recorded and applied: acknowledge/).waitFor();
    // The API says the same to the maker.
    const fionaToken = await mintDevToken(dataDir, { subject: 'fiona', organisationId: s.organisationId, roles: ['finance'], ttlSeconds: 60 });
    const statementId = /#\/recon\/([0-9a-f-]{36})/.exec(fiona.page.url())![1]!;
    const decisions = (await (await fetch(`${runtime.apiUrl}/v1/reconciliations/${statementId}/decisions`, { headers: { authorization: `Bearer ${fionaToken}` } })).json()) as { decisions: { decisionId: string }[] };
    const byMaker = await fetch(`${runtime.apiUrl}/v1/reconciliations/decisions/${decisions.decisions[0]!.decisionId}/approval`, { method: 'POST', headers: { authorization: `Bearer ${fionaToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ approve: true, comment: 'me' }) });
    expect(((await byMaker.json()) as { error: { code: string } }).error.code).toBe('RECONCILIATION_CHECKER_IS_MAKER');
    expect(await payoutState(reversed)).toBe('paid');

    // Frank, a second finance user reading French, approves it: the payout is reversed.
    await signIn(frank.page, 'frank', ['finance'], s.organisationId);
    await frank.page.getByLabel('Language').selectOption('fr');
    await frank.page.goto(`${runtime.apiUrl}/console/#/recon/${statementId}`);
    await frank.page.getByTestId('awaiting').waitFor();
    await frank.page.getByLabel('Commentaire (conservé au dossier)').fill('Vu sur le relevé de Safaricom');
    await shot(frank.page, '17-recon-approve-fr');
    await frank.page.getByRole('button', { name: 'Approuver et appliquer' }).click();
    await frank.page.getByText(/Approuvé : appliquer l'annulation de 200,00\s?KES est appliqué/).waitFor();
    await frank.page.getByTestId('recon-state').filter({ hasText: 'clos' }).waitFor();
    expect((await frank.page.getByTestId('decisions').textContent())?.replace(/\s/g, ' ')).toMatch(/appliquée.*fiona.*frank/);
    // Decided and applied: nothing at risk on its row either, as the class figure says (it read 200,00 KES).
    expect(await atRisk(frank.page)).toBe('0,00 KES');
    await shot(frank.page, '18-recon-closed-fr');
    expect(await payoutState(reversed)).toBe('reversed');

    // The auditor reads both steps in the audit log; the navigation holds only what her role may open.
    await signIn(olga.page, 'olga', ['auditor'], s.organisationId);
    expect(await olga.page.getByRole('navigation').getByRole('link').allTextContents()).toEqual(['Home', 'Follow a batch', 'Balances', 'Reconciliations', 'Audit log', 'Breakers', 'Queues']);
    await olga.page.getByRole('navigation').getByRole('link', { name: 'Audit log' }).click();
    const audit = olga.page.getByTestId('audit');
    await audit.waitFor();
    await audit.getByRole('row', { name: /frank.*reconciliation decision checked/ }).waitFor();
    // Fiona's two decisions (the reversal, the float check acknowledged).
    const fionas = audit.getByRole('row').filter({ has: olga.page.getByRole('rowheader', { name: 'fiona', exact: true }) });
    expect(await fionas.filter({ has: olga.page.getByRole('cell', { name: 'reconciliation decision', exact: true }) }).count()).toBe(2);
    expect(await audit.textContent()).not.toMatch(/2547330000/);
    await shot(olga.page, '19-audit-log');

    expect(cspViolations).toEqual([]);
    for (const p of [fiona, frank, olga]) await p.context.close();
  }, 150_000);
});

describe('operations in the web console', () => {
  test('an administrator holds a provider account open and closes it with the keyboard, sees a dead-lettered payout and requeues it: it is paid', async () => {
    const s = await setUpProviderProgramme(runtime.persistence, { provider: 'mpesa', currency: 'KES', fundedMinor: 1_000_000_00n, floatMinor: 1_000_000_00n });
    const oscar = await person();
    await signIn(oscar.page, 'oscar', ['admin'], s.organisationId);
    await oscar.page.getByRole('navigation').getByRole('link', { name: 'Breakers' }).click();
    const table = oscar.page.getByTestId('breakers');
    await table.waitFor();
    const row = table.locator('tr[data-account="mpesa"]');
    await row.getByText('Closed: payouts flow').waitFor();
    // Calls in flight as every worker process reported them: this server's own worker (it runs
    // every role), a worker process elsewhere, and one that stopped reporting a minute ago (stale,
    // not added up). The other two are written as their processes would write them.
    await sql`INSERT INTO provider_calls_in_flight (process, account_id, calls, interval_ms, reported_at) VALUES
      ('worker-2/4242', 'mpesa', 2, 60000, now()), ('worker-3/99', 'mpesa', 7, 5000, now() - interval '61 seconds')
      ON CONFLICT (process, account_id) DO UPDATE SET calls = excluded.calls, interval_ms = excluded.interval_ms, reported_at = excluded.reported_at`.execute(runtime.db);
    await oscar.page.reload();
    const inFlight = row.getByTestId('in-flight');
    await inFlight.getByText('2 calls in flight (the current reports added up)').waitFor();
    await inFlight.locator('li[data-process="worker-2/4242"]').getByText(/^worker-2\/4242: 2, reported [0-9]+ s ago$/).waitFor();
    await inFlight.locator('li[data-process="worker-3/99"]').getByText(/^worker-3\/99: 7, reported 6[0-9] s ago\. Stale: this worker stopped reporting; not added up$/).waitFor();
    // This server's own worker process (host/pid), reporting every 5 s, nothing in flight.
    await inFlight.locator('li:not([data-process^="worker-"])').getByText(/^[^ ]+\/[0-9]+: 0, reported [0-9]+ s ago$/).waitFor();
    await shot(oscar.page, '20-ops-breakers');

    // To the row's button, Enter: the form's heading has the focus; a reason, Enter.
    await row.getByRole('button', { name: 'Hold open… mpesa' }).focus();
    await oscar.page.keyboard.press('Enter');
    expect(await focused(oscar.page.getByRole('heading', { name: 'Hold mpesa open' }))).toBe(true);
    // Escape closes the form unsent and gives the focus back to its button; Enter opens it again.
    await oscar.page.keyboard.press('Escape');
    await oscar.page.getByRole('heading', { name: 'Hold mpesa open' }).waitFor({ state: 'detached' });
    await net.eventually(async () => ((await focusOf(row.getByRole('button', { name: 'Hold open… mpesa' }))).focused ? true : null), 5_000, 'the focus back on Hold open…');
    await oscar.page.keyboard.press('Enter');
    expect(await focused(oscar.page.getByRole('heading', { name: 'Hold mpesa open' }))).toBe(true);
    await oscar.page.keyboard.press('Tab');
    expect(await focused(oscar.page.getByLabel(/^Why/))).toBe(true);
    await oscar.page.keyboard.type('Safaricom maintenance window');
    await shot(oscar.page, '21-ops-breaker-hold');
    await oscar.page.keyboard.press('Tab');
    await oscar.page.keyboard.press('Enter');
    await oscar.page.getByText('mpesa is held open.').waitFor();
    await row.getByText('Held open by hand: no payout is sent').waitFor();
    await row.getByText(/Held open by oscar.*Reason: Safaricom maintenance window/).waitFor();
    // The worker applies the hold within 5 s and writes it to the audit log: the page shows it once reloaded.
    await net.eventually(async () => {
      await oscar.page.waitForTimeout(500);
      await oscar.page.reload();
      await table.waitFor();
      return (await row.getByText(/: open \(held by hand\)/).count()) > 0 ? true : null;
    }, 20_000, 'the worker reports the hold');
    await shot(oscar.page, '22-ops-breaker-held');

    // While the account is held, a payout waits queued; the workers give up on it (its attempts ran
    // out: here marked so at once, as the retry policy would after its attempts) and dead-letter it.
    const document = batchDocument(s, [{ ref: 'ops-stuck', provider: 'mpesa', msisdn: '+254733000042', amount: '150.00' }, { ref: 'ops-raced', provider: 'mpesa', msisdn: '+254733000043', amount: '50.00' }], { total: '200.00' });
    const pm = await mintDevToken(dataDir, { subject: 'pm', organisationId: s.organisationId, roles: ['programme_manager'], ttlSeconds: 300 });
    const submitted = await fetch(`${runtime.apiUrl}/v1/batches`, { method: 'POST', headers: { authorization: `Bearer ${pm}`, 'content-type': 'application/jose+json' }, body: JSON.stringify(await sign(document, s.maker)) });
    expect(submitted.status).toBe(201);
    const stuck = payoutIdOf(document.batchId, 'ops-stuck');
    const raced = payoutIdOf(document.batchId, 'ops-raced');
    await net.eventually(async () => {
      await sql`UPDATE payouts SET status_flagged_at = now(), dispatch_at = NULL WHERE id = ANY(${[stuck, raced]}::uuid[]) AND state = 'queued' AND status_flagged_at IS NULL`.execute(database.db);
      const r = await sql<{ n: number }>`SELECT count(*)::int AS n FROM payouts WHERE id = ANY(${[stuck, raced]}::uuid[]) AND state = 'queued' AND status_flagged_at IS NOT NULL`.execute(database.db);
      return r.rows[0]!.n === 2 ? true : null;
    }, 20_000, 'the payouts queued behind the hold');

    await row.getByRole('button', { name: 'Close… mpesa' }).click();
    await oscar.page.getByLabel(/^Why/).fill('Maintenance over');
    await oscar.page.getByRole('button', { name: 'Close now' }).click();
    await oscar.page.getByText('mpesa is closed: payouts flow again.').waitFor();
    await row.getByText(/Closed by hand by oscar/).waitFor();

    // The queues: the payout is dead-lettered; the administrator requeues it with the keyboard, and it is paid.
    await oscar.page.getByRole('navigation').getByRole('link', { name: 'Queues' }).click();
    const dead = oscar.page.getByTestId('dead-lettered');
    const deadRow = dead.locator(`tr[data-payout="${stuck}"]`);
    await deadRow.waitFor();
    expect((await deadRow.textContent())?.replace(/\s/g, ' ')).toMatch(/ops-stuck.*M-Pesa.*not sent: waits for an operator.*KES\s?150\.00/);
    expect(await oscar.page.locator('main').textContent()).not.toMatch(/733000042/);
    await oscar.page.getByTestId('queue-depths').getByRole('row', { name: /M-Pesa.*Dead-lettered.*2/ }).waitFor();
    await shot(oscar.page, '23-ops-queues-dead-lettered');
    // Another administrator requeues ops-raced through the API meanwhile, and it is paid: Oscar's page
    // still offers it, and the server's refusal says exactly why (its problem detail), not only that it failed.
    const admin = await mintDevToken(dataDir, { subject: 'other-admin', organisationId: s.organisationId, roles: ['admin'], ttlSeconds: 300 });
    expect((await fetch(`${runtime.apiUrl}/v1/payouts/${raced}/requeue`, { method: 'POST', headers: { authorization: `Bearer ${admin}` } })).status).toBe(200);
    const stateOf = async (id: string) => ((await (await fetch(`${runtime.apiUrl}/v1/payouts/${id}`, { headers: { authorization: `Bearer ${pm}` } })).json()) as { state: string }).state;
    await net.eventually(async () => ((await stateOf(raced)) === 'paid' ? true : null), 30_000, 'the payout requeued through the API paid');
    await dead.locator(`tr[data-payout="${raced}"]`).getByRole('button', { name: 'Requeue ops-raced' }).click();
    await oscar.page.getByRole('alert').filter({ hasText: 'This payout cannot be requeued in its present state. The server says: settled (paid): a settled payout is never sent again' }).waitFor();
    await shot(oscar.page, '23b-ops-requeue-refused-detail');
    await deadRow.getByRole('button', { name: 'Requeue ops-stuck' }).focus();
    await oscar.page.keyboard.press('Enter');
    await oscar.page.getByText('Payout ops-stuck is queued again for another attempt.').waitFor();
    await oscar.page.getByText('No dead-lettered payout.').waitFor();
    await shot(oscar.page, '24-ops-queues-requeued');
    await net.eventually(async () => ((await stateOf(stuck)) === 'paid' ? true : null), 30_000, 'the requeued payout paid');
    // The same screens in French, for an officer reading French.
    await oscar.page.getByLabel('Language').selectOption('fr');
    await oscar.page.getByRole('heading', { name: 'Files d\'attente et paiements en lettre morte' }).waitFor();
    await oscar.page.getByText('Le paiement ops-stuck est de nouveau en file pour une nouvelle tentative.').waitFor();
    await shot(oscar.page, '25-ops-queues-fr');
    await oscar.page.getByRole('navigation').getByRole('link', { name: 'Disjoncteurs' }).click();
    await table.locator('tr[data-account="mpesa"]').getByText('Fermé : les paiements passent').waitFor();
    await shot(oscar.page, '26-ops-breakers-fr');

    // An auditor of the organisation reads both screens and the hold in the audit log, and changes nothing.
    const ines = await person();
    await signIn(ines.page, 'ines', ['auditor'], s.organisationId);
    await ines.page.goto(`${runtime.apiUrl}/console/#/breakers`);
    await ines.page.getByTestId('breakers').locator('tr[data-account="mpesa"]').getByText(/Closed by hand by oscar/).waitFor();
    expect(await ines.page.getByRole('button', { name: /Hold open|Close…/ }).count()).toBe(0);
    await ines.page.goto(`${runtime.apiUrl}/console/#/queues`);
    await ines.page.getByText('An administrator can requeue these payouts; each requeue is in the audit log.').waitFor();
    expect(await ines.page.getByRole('button', { name: /Requeue/ }).count()).toBe(0);
    await ines.page.goto(`${runtime.apiUrl}/console/#/audit`);
    await ines.page.getByTestId('audit').getByRole('row', { name: /oscar.*provider account held open by hand.*mpesa/ }).waitFor();
    await ines.page.getByTestId('audit').getByRole('row', { name: /oscar.*payout requeued/ }).waitFor();

    expect(cspViolations).toEqual([]);
    await oscar.context.close();
    await ines.context.close();
  }, 120_000);
});

/** The focus and whether it is visible (the console's :focus-visible ring), for keyboard-only use. */
async function focusOf(locator: ReturnType<Page['locator']>): Promise<{ focused: boolean; outlined: boolean }> {
  return locator.evaluate((el) => {
    const doc = el.ownerDocument as unknown as { activeElement: unknown; defaultView: { getComputedStyle(e: unknown): { outlineStyle: string; outlineWidth: string } } };
    const style = doc.defaultView.getComputedStyle(el);
    return { focused: el === doc.activeElement, outlined: style.outlineStyle !== 'none' && Number.parseFloat(style.outlineWidth) > 0 };
  });
}

/** Presses Tab (or Shift+Tab) until `target` has the focus, at most `max` times; it must then show it. */
async function tabTo(page: Page, target: ReturnType<Page['locator']>, key: 'Tab' | 'Shift+Tab' = 'Tab', max = 40): Promise<void> {
  for (let i = 0; i < max && !(await focusOf(target)).focused; i++) await page.keyboard.press(key);
  expect(await focusOf(target)).toEqual({ focused: true, outlined: true });
}

/** A link of the navigation, followed with the keyboard: the new screen's heading then has the focus. */
async function navigate(page: Page, link: string, heading: string | RegExp): Promise<void> {
  await tabTo(page, page.getByRole('navigation').getByRole('link', { name: link, exact: true }));
  await page.keyboard.press('Enter');
  const h1 = page.getByRole('heading', { name: heading, level: 1 });
  await h1.waitFor();
  await net.eventually(async () => ((await focusOf(h1)).focused ? true : null), 5_000, `the focus on the heading ${String(heading)}`);
}

describe('keyboard-only use of the web console', () => {
  test('an approver goes from screen to screen with the keyboard alone (each heading takes the focus), and rejects a batch through a dialog that traps the focus, closes on Escape and gives the focus back', async () => {
    // A batch awaiting one approval, submitted through the API under a maker key of the test's.
    const maker = await newKey();
    const registered = await registerSignerKey(runtime.persistence, { organisationId, role: 'maker', alg: 'ES256', publicJwk: maker.publicJwk as Record<string, unknown>, notBefore: new Date(0), notAfter: null, holder: 'kim' });
    expect(registered.ok).toBe(true);
    const document = batchDocument({ organisationId, programmeId }, [{ ref: 'kb-1', provider: 'mpesa', msisdn: '+254712000101', amount: '120.00' }, { ref: 'kb-2', provider: 'mpesa', msisdn: '+254712000102', amount: '80.00' }], { total: '200.00' });
    const kim = await mintDevToken(dataDir, { subject: 'kim', organisationId, roles: ['programme_manager'], ttlSeconds: 300 });
    const submitted = await fetch(`${runtime.apiUrl}/v1/batches`, { method: 'POST', headers: { authorization: `Bearer ${kim}`, 'content-type': 'application/jose+json' }, body: JSON.stringify(await sign(document, maker)) });
    expect(submitted.status).toBe(201);
    const batchFile = path.join(dataDir, 'batch-keyboard.json');
    writeFileSync(batchFile, JSON.stringify(document));

    const ada = await person();
    const rita = await person();
    await signIn(ada.page, 'ada', ['admin']);
    await signIn(rita.page, 'rita', ['approver', 'auditor']);
    const page = rita.page;

    // Home's heading has the focus after sign-in; Tab reaches the screens, Enter opens one, whose heading takes the focus.
    await navigate(page, 'Approve a batch', 'Approve a batch');
    await tabTo(page, page.getByRole('button', { name: /Make a .* key in this browser/ }));
    await page.keyboard.press('Enter');
    // The administrator registers its public half with the keyboard too: to the form, the role (arrow keys in the radio group), holder, key, Enter.
    const jwk = await page.locator('#jwk-approver').inputValue();
    await navigate(ada.page, 'Signer keys', 'Register a signer key');
    await tabTo(ada.page, ada.page.getByRole('radio', { name: /maker/ }));
    await ada.page.keyboard.press('ArrowRight');
    expect(await ada.page.getByRole('radio', { name: /approver/ }).isChecked()).toBe(true);
    await ada.page.keyboard.press('Tab');
    expect((await focusOf(ada.page.getByLabel(/^Holder/))).focused).toBe(true);
    await ada.page.keyboard.type('rita');
    await ada.page.keyboard.press('Tab');
    await ada.page.keyboard.insertText(jwk);
    await ada.page.keyboard.press('Tab');
    expect(await focusOf(ada.page.getByRole('button', { name: 'Register' }))).toEqual({ focused: true, outlined: true });
    await ada.page.keyboard.press('Enter');
    await ada.page.getByText(/Registered key .* for rita/).waitFor();
    // A file is chosen through the system's file chooser, which is not the page's: set here as the chooser would.
    await page.getByLabel(/The batch document/).setInputFiles(batchFile);
    await page.getByTestId('approvals').filter({ hasText: '0 of 1' }).waitFor();

    const opener = page.getByRole('button', { name: 'Reject…' });
    await tabTo(page, opener, 'Shift+Tab');
    await page.keyboard.press('Enter');
    const dialog = page.getByRole('dialog', { name: /Reject batch/ });
    await dialog.waitFor();
    const reason = dialog.getByLabel(/Why you reject it/);
    expect((await focusOf(reason)).focused).toBe(true);
    await page.keyboard.type('Row kb-2 pays a household that left the camp');
    await page.keyboard.press('Tab');
    expect((await focusOf(dialog.getByRole('button', { name: 'Reject: sign with my approver key' }))).focused).toBe(true);
    await page.keyboard.press('Tab');
    expect((await focusOf(dialog.getByRole('button', { name: 'Cancel' }))).focused).toBe(true);
    // The focus stays in the dialog: Tab from its last control goes to its first, Shift+Tab back.
    await page.keyboard.press('Tab');
    expect((await focusOf(reason)).focused).toBe(true);
    await page.keyboard.press('Shift+Tab');
    expect((await focusOf(dialog.getByRole('button', { name: 'Cancel' }))).focused).toBe(true);
    await shot(page, '27-approve-reject-dialog');
    // Escape closes it unsent, and the focus is back on what opened it.
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    await net.eventually(async () => ((await focusOf(opener)).focused ? true : null), 5_000, 'the focus back on Reject…');
    expect(await focusOf(opener)).toEqual({ focused: true, outlined: true });

    // Again, to the end: the reason, Tab, Enter. The rejection is signed in this browser and sent.
    await page.keyboard.press('Enter');
    await dialog.waitFor();
    await page.keyboard.type('Row kb-2 pays a household that left the camp');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    await page.getByText('Rejected: the batch is now rejected; nothing of it will be paid.').waitFor();
    await dialog.waitFor({ state: 'detached' });
    await page.getByTestId('batch-state').filter({ hasText: 'rejected' }).waitFor();
    // Its opener is gone with the decision: the focus goes to the batch's heading.
    await net.eventually(async () => ((await focusOf(page.getByRole('heading', { name: new RegExp(document.batchId), level: 2 }))).focused ? true : null), 5_000, 'the focus on the batch heading');
    await shot(page, '28-approve-rejected');
    const auditor = await mintDevToken(dataDir, { subject: 'check', organisationId, roles: ['auditor'], ttlSeconds: 60 });
    const batch = (await (await fetch(`${runtime.apiUrl}/v1/batches/${document.batchId}`, { headers: { authorization: `Bearer ${auditor}` } })).json()) as Record<string, unknown>;
    expect(batch).toMatchObject({ state: 'rejected', approvals: { required: 1, received: 0 }, payouts: { cancelled: { count: 2, amount: '200.00' } } });

    // The other screens, with the keyboard alone: follow the batch by its id, the audit log (the rejection is in it), the operations screens.
    await navigate(page, 'Follow a batch', 'Batch');
    await tabTo(page, page.getByLabel(/Batch id/));
    await page.keyboard.type(document.batchId);
    await page.keyboard.press('Enter');
    await page.getByTestId('batch-state').filter({ hasText: 'rejected' }).waitFor();
    // Whoever follows the batch (its maker first) reads who rejected it and why.
    await page.getByTestId('rejection').filter({ hasText: /^Rejected by rita on .*\. Reason: Row kb-2 pays a household that left the camp$/ }).waitFor();
    await navigate(page, 'Audit log', 'Audit log');
    await page.getByTestId('audit').getByRole('row', { name: /rita.*batch rejected/ }).waitFor();
    await shot(page, '29-audit-rejection');
    await navigate(page, 'Balances', 'Balances');
    await navigate(page, 'Reconciliations', 'Reconciliations');
    await navigate(page, 'Breakers', /breakers/);
    await navigate(page, 'Queues', /Queues/);
    await navigate(page, 'Home', 'What you can do');
    expect(cspViolations).toEqual([]);
    await ada.context.close();
    await rita.context.close();
  }, 120_000);

  test('a programme manager sees the programme\'s open re-pay requests, and a repays column is checked as the server checks it', async () => {
    const repaid = randomUUID();
    // A re-pay request as finance's repay decision opens it (the decision and the reversed payout are finance's business: their foreign keys are left out here).
    await database.db.transaction().execute(async (tx) => {
      await sql`SET LOCAL ROLE NONE`.execute(tx);
      await sql`SET LOCAL session_replication_role = 'replica'`.execute(tx);
      await sql`INSERT INTO repay_requests (id, payout_id, organisation_id, programme_id, decision_id, currency, amount_minor, state)
        VALUES (${randomUUID()}, ${repaid}, ${organisationId}, ${programmeId}, ${randomUUID()}, 'KES', 25000, 'open')`.execute(tx);
    });
    const pam = await person();
    await signIn(pam.page, 'pam', ['programme_manager']);
    await navigate(pam.page, 'New batch', /New batch|Build/);
    await tabTo(pam.page, pam.page.getByLabel('Programme'));
    await pam.page.keyboard.press('Control+A');
    await pam.page.keyboard.type(programmeId);
    await pam.page.keyboard.press('Enter');
    const open = pam.page.getByTestId('repay-requests');
    await open.getByRole('row', { name: new RegExp(`${repaid}.*KES\\s?250\\.00`) }).waitFor();
    await shot(pam.page, '32-new-batch-repay-requests');
    // An id in upper case is refused by line and column, as the server would refuse it.
    const csv = (id: string) => ['ref,msisdn,amount,provider,repays', `again-1,+254712000201,250,mpesa,${id}`, 'new-1,+254712000202,100,mpesa,'].join('\n');
    await pam.page.getByLabel('Payouts CSV file').setInputFiles({ name: 'repay-bad.csv', mimeType: 'text/csv', buffer: Buffer.from(csv(repaid.toUpperCase())) });
    const problems = pam.page.getByTestId('problems');
    await problems.waitFor();
    expect((await problems.locator('tbody tr').allTextContents()).map((r) => r.replace(/\s+/g, ' '))).toEqual(['2repayswrong type or format FIELD_INVALID']);
    await pam.page.getByLabel('Payouts CSV file').setInputFiles({ name: 'repay.csv', mimeType: 'text/csv', buffer: Buffer.from(csv(repaid)) });
    await pam.page.getByTestId('repaying').filter({ hasText: '1 row pays a payout again' }).waitFor();
    expect(await pam.page.getByRole('cell', { name: repaid }).count()).toBe(1);
    await shot(pam.page, '33-new-batch-repays');
    expect(cspViolations).toEqual([]);
    await pam.context.close();
  }, 60_000);
});

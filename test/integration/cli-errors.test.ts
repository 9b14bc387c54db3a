// Every `tuma` failure is one sentence and an exit code, never a stack trace, and every success says
// what it did in one line (issue #21 item 3): existing output files (and --force), configuration a
// command does not need, a server or a database that is not there, dev mode run from another
// directory (it finds the project's .data/ or says where it looked, and never makes one).
// runCli runs in this process with its own streams, environment and directories.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createLocalJWKSet, exportJWK, generateKeyPair, jwtVerify } from 'jose';
import { devAuth } from '../../src/config/config.js';
import { devIssuerJwks } from '../../src/cli/dev.js';
import { runCli, type TumaIo } from '../../src/cli/tuma.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { net } from '../support/fixtures.js';

let database: TestDatabase;
let root: string;
beforeAll(async () => {
  database = await createTestDatabase();
  root = mkdtempSync(path.join(tmpdir(), 'tuma-cli-errors-'));
});
afterAll(async () => {
  await database?.drop();
});

interface Run {
  readonly code: number;
  readonly out: string[];
  readonly err: string[];
  readonly raw: string[];
}

/** `tuma <argv>` with exactly `env`, run from `cwd`, this tuma "installed" in `installRoot`. */
async function tuma(argv: string[], options: { env?: Record<string, string>; cwd?: string; installRoot?: string | null } = {}): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const raw: string[] = [];
  const io: TumaIo = {
    out: (l) => out.push(l),
    err: (l) => err.push(...l.split('\n')),
    write: (t) => raw.push(t),
    env: options.env ?? {},
    isTTY: false,
    isStderrTTY: false,
    fetch: globalThis.fetch,
    sleep: async () => undefined,
    now: () => new Date(),
    cwd: options.cwd ?? root,
    installRoot: options.installRoot ?? null,
  };
  const code = await runCli(argv, io);
  return { code, out, err, raw };
}

/** No line of a failure is a stack frame, and its first line names the command. */
function expectSentence(run: Run, command: string): void {
  expect(run.err.filter((l) => /^\s+at /.test(l))).toEqual([]);
  expect(run.err[0]).toMatch(new RegExp(`^${command}: `));
}

/** A fresh directory under this run's root. */
function directory(name: string): string {
  const dir = path.join(root, name);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** A Tuma project (a package.json named tuma) whose dev instance made its issuer in .data/. */
function devProject(name: string): string {
  const dir = directory(name);
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'tuma', private: true }));
  devIssuerJwks(path.join(dir, '.data'));
  return dir;
}

describe('configuration: a command asks only for what it reads', () => {
  it('when `tuma ledger verify` has DATABASE_URL and nothing else, then it verifies (no issuer, master key or provider asked for)', async () => {
    const run = await tuma(['ledger', 'verify'], { env: { DATABASE_URL: database.url } });
    expect(run).toMatchObject({ code: 0, err: [] });
    expect(run.out[0]).toBe('ledger verify: OK');
  });

  it.each([
    [['ledger', 'verify'], 'tuma ledger'],
    [['payouts', 'held'], 'tuma payouts held'],
    [['callbacks', 'orphans'], 'tuma callbacks orphans'],
    [['migrate'], 'tuma migrate'],
    [['audit', 'verify'], 'tuma audit'],
  ])('when `tuma %j` has no DATABASE_URL, then it names DATABASE_URL only and exits 78', async (argv, name) => {
    const run = await tuma(argv);
    expect(run.code).toBe(78);
    const said = [...run.out, ...run.err].join('\n');
    expect(said).toContain(`${name}: needs DATABASE_URL`);
    expect(said).not.toMatch(/AUTH_|TUMA_MASTER_KEY|MPESA_|invalid configuration/);
  });

  it('when a variable the command reads is malformed, then that variable alone is named and the exit is 78', async () => {
    const run = await tuma(['ledger', 'verify'], { env: { DATABASE_URL: 'not a url', AUTH_JWKS: 'nonsense' } });
    expect(run.code).toBe(78);
    expectSentence(run, 'tuma ledger verify');
    expect(run.err.join('\n')).toContain('DATABASE_URL: must be a URL');
    expect(run.err.join('\n')).not.toContain('AUTH_JWKS');
  });

  it('when `tuma start` is misconfigured, then it says which variables and exits 78 without starting', async () => {
    const run = await tuma(['start'], { env: { HTTP_PORT: 'eighty', EMBEDDED_DATA_DIR: directory('start-misconfigured') } });
    expect(run.code).toBe(78);
    expectSentence(run, 'tuma start');
    expect(run.err.join('\n')).toContain('HTTP_PORT: must be a whole number');
  });

  it('when `tuma token` is run without --dev, then one sentence says it is dev mode only (no configuration errors)', async () => {
    const run = await tuma(['token', '--org', 'demo-org', '--role', 'admin']);
    expect(run.code).toBe(2);
    expect(run.err).toEqual([expect.stringMatching(/^tuma token: dev mode only \(--dev\)/)]);
  });

  it('when an option is unknown, then it is a usage error (2), not a failure', async () => {
    const run = await tuma(['ledger', 'verify', '--nonsense'], { env: { DATABASE_URL: database.url } });
    expect(run.code).toBe(2);
    expectSentence(run, 'tuma ledger verify');
  });
});

describe('dev mode from another directory: the project\'s .data/ or where it looked, never a new one', () => {
  it('when `tuma token --dev` runs in a subdirectory of the project, then the token is signed by that project\'s issuer', async () => {
    const project = devProject('project-a');
    const deep = directory('project-a/docs/notes');
    const run = await tuma(['token', '--dev', '--org', 'demo-org', '--role', 'admin'], { cwd: deep });
    expect(run.code).toBe(0);
    expect(run.out).toHaveLength(1);
    const jwks = JSON.parse(devIssuerJwks(path.join(project, '.data'))) as { keys: Record<string, unknown>[] };
    const { payload } = await jwtVerify(run.out[0]!, createLocalJWKSet(jwks as never), { issuer: devAuth.issuer, audience: devAuth.audience });
    expect(payload).toMatchObject({ sub: 'dev-user', org: 'demo-org', roles: ['admin'] });
    expect(run.err).toEqual([expect.stringContaining(`a token for dev-user in demo-org as admin, valid 3600 s, from the dev issuer in ${path.join(project, '.data')}`)]);
    expect(existsSync(path.join(deep, '.data'))).toBe(false);
  });

  it('when it runs outside any project, then the project this tuma is installed in is used', async () => {
    const project = devProject('project-b');
    const elsewhere = directory('elsewhere-b');
    const run = await tuma(['token', '--dev', '--org', 'o', '--role', 'finance', '--subject', 'fiona'], { cwd: elsewhere, installRoot: project });
    expect(run.code).toBe(0);
    expect(run.err[0]).toContain(path.join(project, '.data'));
    expect(existsSync(path.join(elsewhere, '.data'))).toBe(false);
  });

  it('when no project holds a dev instance, then it says where it looked, exits 78 and makes no .data/', async () => {
    const elsewhere = directory('elsewhere-c');
    const bare = directory('bare-install');
    writeFileSync(path.join(bare, 'package.json'), JSON.stringify({ name: 'tuma' }));
    const run = await tuma(['token', '--dev', '--org', 'o', '--role', 'admin'], { cwd: elsewhere, installRoot: bare });
    expect(run.code).toBe(78);
    expectSentence(run, 'tuma token');
    expect(run.err.join('\n')).toContain(`looked for dev-issuer.private.jwk in ${path.join(bare, '.data')} (where this tuma is installed)`);
    expect(run.err.join('\n')).toContain(`no Tuma project (a package.json named tuma) is at or above ${elsewhere}`);
    expect(existsSync(path.join(elsewhere, '.data'))).toBe(false);
    expect(existsSync(path.join(bare, '.data'))).toBe(false);
    const demo = await tuma(['demo', '--dev'], { cwd: elsewhere, installRoot: bare });
    expect(demo.code).toBe(78);
    expect(demo.err.join('\n')).toContain('looked for demo-maker.private.jwk');
    const ledger = await tuma(['ledger', 'verify', '--dev'], { cwd: elsewhere, installRoot: bare });
    expect(ledger.code).toBe(78);
    expect(ledger.err.join('\n')).toContain('looked for pg-password');
  });

  it('when EMBEDDED_DATA_DIR names a directory without the issuer, then it says so', async () => {
    const run = await tuma(['token', '--dev', '--org', 'o', '--role', 'admin'], { env: { EMBEDDED_DATA_DIR: 'nowhere' }, cwd: directory('with-env') });
    expect(run.code).toBe(78);
    expect(run.err.join('\n')).toContain(`looked for dev-issuer.private.jwk in ${path.join(root, 'with-env', 'nowhere')} (EMBEDDED_DATA_DIR)`);
  });
});

describe('servers that are not there', () => {
  it('when the API does not answer, then submit, status and demo say which address and exit 69', async () => {
    const port = await net.freePort();
    const url = `http://127.0.0.1:${port}`;
    const dir = directory('unreachable');
    writeFileSync(path.join(dir, 'batch.jws.json'), JSON.stringify({ payload: 'e30', signatures: [] }));
    const submit = await tuma(['batch', 'submit', path.join(dir, 'batch.jws.json'), '--url', url, '--token', 't']);
    expect(submit.code).toBe(69);
    expect(submit.err).toEqual([`tuma batch submit: cannot reach the API at ${url}: connection refused (is Tuma running there? --url or TUMA_URL says where)`]);
    const status = await tuma(['batch', 'status', '7b0ba2c5-4f47-4b8e-9d0a-0b7f1c7c2e11'], { env: { TUMA_URL: url, TUMA_TOKEN: 't' } });
    expect(status.code).toBe(69);
    expectSentence(status, 'tuma batch status');

    const project = devProject('unreachable-project');
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    writeFileSync(path.join(project, '.data', 'demo-maker.private.jwk'), JSON.stringify({ ...(await exportJWK(privateKey)), alg: 'ES256' }));
    const demo = await tuma(['demo', '--dev'], { cwd: project, env: { HTTP_PORT: String(port) } });
    expect(demo.code).toBe(69);
    expect(demo.err).toEqual([`tuma demo: cannot reach the API at ${url}: connection refused (is \`npm start\` running? HTTP_HOST and HTTP_PORT say where)`]);
  });

  it('when the database does not answer, then the command says where and exits 69', async () => {
    const port = await net.freePort();
    const run = await tuma(['ledger', 'verify'], { env: { DATABASE_URL: `postgres://tuma:secret@127.0.0.1:${port}/tuma` } });
    expect(run.code).toBe(69);
    expect(run.err).toEqual([`tuma ledger verify: cannot reach 127.0.0.1:${port}: connection refused`]);
    expect(run.err.join()).not.toContain('secret');
  });

  it('when the database named does not exist, then the command says so and exits 78', async () => {
    const url = new URL(database.url);
    url.pathname = '/tuma_no_such_database';
    const run = await tuma(['callbacks', 'orphans'], { env: { DATABASE_URL: url.toString() } });
    expect(run.code).toBe(78);
    expect(run.err).toEqual(['tuma callbacks orphans: the database named in DATABASE_URL does not exist']);
  });
});

describe('output files and what a success says', () => {
  const csv = 'ref,msisdn,amount,provider,name\nhh-1,+254712000001,1500,mpesa,Achieng Otieno\nhh-2,+254722000002,2000,mpesa,\n';
  // No server here: --offline checks the rows with the providers' own rules (test/integration/cli.test.ts builds against the API).
  const build = (dir: string, ...extra: string[]) => tuma(['batch', 'build', '--csv', path.join(dir, 'payouts.csv'), '--org', 'demo-org', '--programme', 'demo-programme', '--currency', 'KES', '--out', path.join(dir, 'batch.json'), '--offline', ...extra]);
  const offline = "; checked offline against the providers' own rules only (not the programme's policy or accounts)";

  it('when `batch build` writes its file, then one line says what it wrote; an existing file is kept (73) unless --force', async () => {
    const dir = directory('outputs');
    writeFileSync(path.join(dir, 'payouts.csv'), csv);
    const first = await build(dir);
    expect(first.code).toBe(0);
    expect(first.err).toEqual([]);
    const document = JSON.parse(readFileSync(path.join(dir, 'batch.json'), 'utf8')) as { batchId: string; expiresAt: string };
    expect(first.out).toEqual([`wrote ${path.join(dir, 'batch.json')}: batch ${document.batchId}: 2 payouts, KES 3500.00, for demo-org/demo-programme, expires ${document.expiresAt}${offline}`]);

    const again = await build(dir);
    expect(again.code).toBe(73);
    expect(again.err).toEqual([`tuma batch build: ${path.join(dir, 'batch.json')} exists; nothing written (--force overwrites it)`]);
    expect(JSON.parse(readFileSync(path.join(dir, 'batch.json'), 'utf8')).batchId).toBe(document.batchId);

    const forced = await build(dir, '--force');
    expect(forced.code).toBe(0);
    expect(JSON.parse(readFileSync(path.join(dir, 'batch.json'), 'utf8')).batchId).not.toBe(document.batchId);
  });

  it('when `batch build` writes to stdout, then the document is the output and the line goes to stderr', async () => {
    const dir = directory('stdout');
    writeFileSync(path.join(dir, 'payouts.csv'), csv);
    const run = await tuma(['batch', 'build', '--csv', path.join(dir, 'payouts.csv'), '--org', 'o', '--programme', 'p', '--currency', 'KES', '--offline']);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.raw.join(''))).toMatchObject({ declared: { count: 2, total: '3500.00' } });
    expect(run.err).toEqual([expect.stringMatching(/^tuma batch build: batch [0-9a-f-]{36}: 2 payouts, KES 3500\.00, for o\/p, expires .*; checked offline/)]);
  });

  it('when `keys generate` and `batch sign` write their files, then each says so; an existing key file is never overwritten', async () => {
    const dir = directory('keys');
    writeFileSync(path.join(dir, 'payouts.csv'), csv);
    expect((await build(dir)).code).toBe(0);
    const key = await tuma(['keys', 'generate', '--alg', 'ES256', '--out', path.join(dir, 'maker.jwk')]);
    expect(key.code).toBe(0);
    const { kid } = JSON.parse(key.out[0]!) as { kid: string };
    expect(key.err).toEqual([`tuma keys generate: wrote the private ES256 key to ${path.join(dir, 'maker.jwk')} (only you can read it); the public JWK printed, kid ${kid}, is what an administrator registers`]);
    const twice = await tuma(['keys', 'generate', '--out', path.join(dir, 'maker.jwk'), '--force']);
    expect(twice.code).toBe(2); // no --force for keys
    const again = await tuma(['keys', 'generate', '--out', path.join(dir, 'maker.jwk')]);
    expect(again.code).toBe(73);
    expect(again.err[0]).toContain('exists and is kept');

    const sign = () => tuma(['batch', 'sign', '--key', path.join(dir, 'maker.jwk'), path.join(dir, 'batch.json'), '--out', path.join(dir, 'batch.jws.json')]);
    const signed = await sign();
    expect(signed.code).toBe(0);
    expect(signed.out).toEqual([`wrote ${path.join(dir, 'batch.jws.json')}: ${path.join(dir, 'batch.json')} signed with key ${kid}; 1 signature`]);
    const resigned = await sign();
    expect(resigned.code).toBe(73);
    expect(resigned.err[0]).toContain('exists; nothing written (--force overwrites it)');
  });

  it('when an input file is missing, then the sentence names it', async () => {
    const run = await tuma(['batch', 'sign', '--key', path.join(root, 'no-key.jwk'), path.join(root, 'no-batch.json')]);
    expect(run.code).toBe(66);
    expect(run.err).toEqual([`tuma batch sign: cannot read ${path.join(root, 'no-batch.json')}: no such file`]);
    const status = await tuma(['batch', 'status', path.join(root, 'no-batch.json')], { env: { TUMA_TOKEN: 't' } });
    expect(status.code).toBe(2);
    expectSentence(status, 'tuma batch status');
  });
});

// The README walked (issue #21 item 6): its own ```sh blocks, read from README.md (never copied
// here), run in order in one shell against a fresh dev instance, so a README that drifts from the
// code fails. The instance is what `npm start` starts, in a directory laid out as a fresh clone
// (package.json, dist/ built from src/ here, node_modules, examples/), in dev mode, with its
// .data/ found from that directory; only the database is the test PostgreSQL (DATABASE_URL) rather
// than the embedded one, for time.
//
// The walk changes the README's text in one way: the API's and the simulator's ports (8080, 8090)
// become the free ports this instance listens on. A block whose first line is
// `# not in the README walk: <why>` is not run (building and installing, starting a server, the
// tests themselves, servers of your own); those are few, and each says why.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { net } from '../support/fixtures.js';

const repo = path.resolve('.');
const buildTimeoutMs = 180_000;
const startTimeoutMs = 60_000;
const walkTimeoutMs = 120_000;
/** The convention that keeps a block out of the walk: its first line. */
const skipMarker = /^# not in the README walk: (.+)$/;

export interface ShellBlock {
  /** The README line the block's first line is on (1-based). */
  readonly line: number;
  readonly text: string;
  /** Why it is not run, or null. */
  readonly skipped: string | null;
}

/** The ```sh blocks of a Markdown text, in order. */
export function shellBlocks(markdown: string): ShellBlock[] {
  const lines = markdown.split('\n');
  const blocks: ShellBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.trim() !== '```sh') continue;
    const start = i + 1;
    let end = start;
    while (end < lines.length && lines[end]!.trim() !== '```') end++;
    const body = lines.slice(start, end);
    const skipped = skipMarker.exec(body[0] ?? '')?.[1] ?? null;
    blocks.push({ line: start + 1, text: body.join('\n'), skipped });
    i = end;
  }
  return blocks;
}

const readme = readFileSync(path.join(repo, 'README.md'), 'utf8');

function listFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? listFiles(path.join(dir, e.name)) : [path.join(dir, e.name)]));
}
const blocks = shellBlocks(readme);

describe('the README as a newcomer reads it', () => {
  it('when it or docs/architecture.md names a file or directory, then that is in the repository (nothing outside it)', () => {
    const architecture = readFileSync(path.join(repo, 'docs', 'architecture.md'), 'utf8');
    for (const text of [readme, architecture]) {
      expect(text).not.toMatch(/\.\.\//);
      const named = new Set<string>();
      for (const m of text.matchAll(/(?<![\w./-])((?:docs|examples|contracts|src|migrations|loadtest|scripts|test)\/[\w./-]*[\w/])/g)) {
        // A placeholder or a pattern (`src/adapters/providers/<provider>/`, `src/domain/ledger*.ts`) names no one file.
        if (!/[<*{]/.test(text[m.index + m[0].length] ?? '')) named.add(m[1]!);
      }
      expect([...named].filter((p) => !existsSync(path.join(repo, p)))).toEqual([]);
    }
    expect(readme).toContain('docs/architecture.md');
    expect(readme).toContain('examples/payouts.csv');
    // The architecture names source files by their name within their layer (`submit-batch.ts`, `domain/ids.ts`): each is one of the code's.
    const sources = [...listFiles(path.join(repo, 'src')), ...listFiles(path.join(repo, 'migrations'))].map((f) => f.split(path.sep).join('/'));
    const unknown = [...architecture.matchAll(/`([\w./-]+\.ts)`/g)].map((m) => m[1]!).filter((name) => !sources.some((f) => f.endsWith(`/${name}`)));
    expect(unknown).toEqual([]);
  });

  it('when a block is left out of the walk, then it says why, and such blocks are few', () => {
    const skipped = blocks.filter((b) => b.skipped !== null);
    expect(skipped.every((b) => b.skipped!.length >= 10)).toBe(true);
    expect(skipped.length).toBeLessThanOrEqual(6);
    expect(blocks.length - skipped.length).toBeGreaterThanOrEqual(8);
  });
});

describe('the README walked from a fresh clone to a paid batch', () => {
  let walk: string;
  let database: TestDatabase;
  let server: ChildProcess | undefined;
  let serverOutput = '';
  let apiPort: number;
  let simulatorPort: number;

  beforeAll(async () => {
    walk = mkdtempSync(path.join(tmpdir(), 'tuma-readme-'));
    // A fresh clone as far as the README's commands can tell, with dist/ built as `npm run build` does.
    const built = new Promise<void>((resolve, reject) =>
      execFile(process.execPath, [path.join(repo, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--noCheck', '--outDir', path.join(walk, 'dist')], { cwd: repo, timeout: buildTimeoutMs, killSignal: 'SIGKILL' }, (error, stdout, stderr) =>
        error ? reject(new Error(`the build failed (${error.message}):\n${stdout}${stderr}`)) : resolve(),
      ),
    );
    // The console, as `npm run build` builds it into dist/console (where `npm start` serves it from).
    const consoleBuilt = new Promise<void>((resolve, reject) =>
      execFile(process.execPath, [path.join(repo, 'node_modules/vite/bin/vite.js'), 'build', '--config', path.join(repo, 'console/vite.config.ts'), '--outDir', path.join(walk, 'dist', 'console'), '--emptyOutDir', '--bypass-lock', '--logLevel', 'warn'], { cwd: repo, timeout: buildTimeoutMs, killSignal: 'SIGKILL' }, (error, stdout, stderr) =>
        error ? reject(new Error(`the console build failed (${error.message}):\n${stdout}${stderr}`)) : resolve(),
      ),
    );
    cpSync(path.join(repo, 'package.json'), path.join(walk, 'package.json'));
    cpSync(path.join(repo, 'examples'), path.join(walk, 'examples'), { recursive: true });
    symlinkSync(path.join(repo, 'node_modules'), path.join(walk, 'node_modules'), 'dir');
    mkdirSync(path.join(walk, '.bin'));
    mkdirSync(path.join(walk, '.home'));
    // `tuma` is this build, as the README's alias makes it.
    writeFileSync(path.join(walk, '.bin', 'tuma'), `#!/bin/sh\nexec "${process.execPath}" "${path.join(walk, 'dist', 'src', 'main.js')}" "$@"\n`);
    chmodSync(path.join(walk, '.bin', 'tuma'), 0o755);
    [database, apiPort, simulatorPort] = await Promise.all([createTestDatabase(), net.freePort(), net.freePort()]);
    await Promise.all([built, consoleBuilt]);

    // `npm start` is `npm run build && node dist/src/main.js start --dev`, from the clone's root.
    const child = spawn(process.execPath, [path.join(walk, 'dist', 'src', 'main.js'), 'start', '--dev'], {
      cwd: walk,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: path.join(walk, '.home'), DATABASE_URL: database.url, HTTP_PORT: String(apiPort), SIMULATOR_PORT: String(simulatorPort), METRICS_PORT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    server = child;
    process.on('exit', () => child.kill('SIGKILL'));
    const running = new Promise<void>((resolve, reject) => {
      const take = (chunk: Buffer) => {
        serverOutput += chunk.toString('utf8');
        if (serverOutput.includes('"msg":"tuma is running"')) resolve();
      };
      child.stdout!.on('data', take);
      child.stderr!.on('data', take);
      child.once('exit', (code) => reject(new Error(`tuma start ended (${code}) before it ran:\n${serverOutput.slice(-4_000)}`)));
    });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([running, new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`tuma start did not run within ${startTimeoutMs} ms:\n${serverOutput.slice(-4_000)}`)), startTimeoutMs)))]);
    clearTimeout(timer);
  }, buildTimeoutMs + startTimeoutMs + 30_000);

  afterAll(async () => {
    if (server && server.exitCode === null && server.signalCode === null) {
      const exited = new Promise((resolve) => server!.once('exit', resolve));
      server.kill('SIGTERM');
      await exited;
    }
    await database?.drop();
    if (walk) rmSync(walk, { recursive: true, force: true });
  }, 30_000);

  it('when a newcomer opens the console `npm start` serves, then its page is there and its dev sign-in gives a token the API takes (#16 items 1 and 2)', async () => {
    const base = `http://127.0.0.1:${apiPort}`;
    const page = await fetch(`${base}/console/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/<script type="module"[^>]* src="\/console\/assets\/[^"]+\.js"/);
    expect(await (await fetch(`${base}/console/config.json`)).json()).toMatchObject({ devSignIn: true, oidc: null });
    const signIn = await fetch(`${base}/console/dev-sign-in`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ organisationId: 'demo-org', subject: 'newcomer', roles: ['programme_manager'] }) });
    expect(signIn.status).toBe(201);
    const { token } = (await signIn.json()) as { token: string };
    const policy = await fetch(`${base}/v1/programmes/demo-programme/policy`, { headers: { authorization: `Bearer ${token}` } });
    expect(policy.status).toBe(200);
  });

  it('when every block is run in order in one shell, then each succeeds and the batch built from examples/payouts.csv is paid', async () => {
    const runnable = blocks.filter((b) => b.skipped === null);
    const script = [
      'set -e',
      'set -o pipefail',
      'exec 2>&1',
      ...runnable.flatMap((b, i) => [
        `echo "::block ${i} (README line ${b.line})::"`,
        b.text.replace(/(127\.0\.0\.1|localhost):8080/g, `$1:${apiPort}`).replace(/(127\.0\.0\.1|localhost):8090/g, `$1:${simulatorPort}`),
      ]),
      'echo "::walked::"',
    ].join('\n');
    writeFileSync(path.join(walk, '.walk.sh'), script);
    const env = {
      PATH: `${path.join(walk, '.bin')}:${process.env.PATH ?? '/usr/bin:/bin'}`,
      HOME: path.join(walk, '.home'),
      LANG: 'C.UTF-8',
      // Where `npm run demo` (tuma demo --dev) finds the API; ledger verify --dev reads the same database.
      HTTP_PORT: String(apiPort),
      DATABASE_URL: database.url,
      NPM_CONFIG_UPDATE_NOTIFIER: 'false',
    };
    const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve) => {
      const shell = spawn('bash', [path.join(walk, '.walk.sh')], { cwd: walk, env, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      shell.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
      shell.stderr.on('data', (c: Buffer) => (out += c.toString('utf8')));
      const timer = setTimeout(() => shell.kill('SIGKILL'), walkTimeoutMs);
      shell.once('exit', (exitCode) => {
        clearTimeout(timer);
        resolve({ code: exitCode, output: out });
      });
    });
    if (code !== 0 || !output.includes('::walked::')) {
      const last = [...output.matchAll(/::block (\d+) \(README line (\d+)\)::/g)].at(-1);
      const block = last ? runnable[Number(last[1])] : undefined;
      throw new Error(
        `the README walk stopped (exit ${code}) in the block at README line ${last?.[2] ?? '?'}:\n${block?.text ?? '(before the first block)'}\n\n` +
          `its output:\n${output.slice(last?.index ?? 0).slice(-6_000)}\n\nthe server's last lines:\n${serverOutput.slice(-3_000)}`,
      );
    }

    if (process.env.README_WALK_PRINT === '1') process.stdout.write(`${output}\n`);
    // What the README promises at the end: the batch built from the example CSV, approved and paid.
    const { batchId } = JSON.parse(readFileSync(path.join(walk, 'batch.json'), 'utf8')) as { batchId: string };
    const batch = await sql<{ state: string; approvals_required: number }>`SELECT state, approvals_required FROM batches WHERE id = ${batchId}::uuid`.execute(database.db);
    expect(batch.rows).toEqual([{ state: 'completed', approvals_required: 1 }]);
    const payouts = await sql<{ state: string; n: number }>`SELECT state, count(*)::int AS n FROM payouts WHERE batch_id = ${batchId}::uuid GROUP BY state`.execute(database.db);
    expect(payouts.rows).toEqual([{ state: 'paid', n: 4 }]);
    expect(output).toMatch(/^wrote batch\.json: batch [0-9a-f-]{36}: 4 payouts, KES 7500\.00, for demo-org\/demo-programme, expires /m);
    expect(output).toMatch(/^submitted batch [0-9a-f-]{36}; awaiting_approval: 4 payouts, KES 7500\.00, approvals 0\/1/m);
    expect(output).toMatch(/^approved batch [0-9a-f-]{36} with key \S+; approved: 4 payouts/m);
    expect(output).toContain('ledger verify: OK');
  }, walkTimeoutMs + 10_000);
});

// The programme manager's and the approver's CLI against the real API and PostgreSQL: keys made
// locally, registered by an admin, a CSV built into a batch, signed, submitted, approved and
// followed. Plus the CSV problems `batch build` must name by line and field.
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Server } from 'node:http';
import { calculateJwkThumbprint, flattenedVerify, generalVerify, importJWK, type JWK } from 'jose';
import request from 'supertest';
import { buildBatch, progressBar, runBatchCli, type BatchCliIo } from '../../src/cli/batch-cli.js';
import { runKeysCli } from '../../src/cli/keys-cli.js';
import { bearer, startTestApi, type TestApi } from '../support/api.js';
import { setUpProgramme, type Scenario } from '../support/fixtures.js';

let api: TestApi;
let server: Server;
let url: string;
let dir: string;
beforeAll(async () => {
  api = await startTestApi();
  server = api.app.listen(0, '127.0.0.1');
  await new Promise<void>((r) => server.once('listening', () => r()));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  dir = mkdtempSync(path.join(tmpdir(), 'tuma-cli-'));
});
afterAll(async () => {
  await new Promise((r) => server?.close(r));
  await api?.close();
});

function io(env: Record<string, string> = {}): BatchCliIo & { lines: string[]; errors: string[]; raw: string[] } {
  const lines: string[] = [];
  const errors: string[] = [];
  const raw: string[] = [];
  return {
    lines, errors, raw,
    out: (l) => lines.push(l),
    err: (l) => errors.push(l),
    write: (t) => raw.push(t),
    env: { TUMA_URL: url, ...env },
    isTTY: false,
    fetch: globalThis.fetch,
    sleep: async () => undefined,
    now: () => new Date(),
  };
}

/** The kid of a private key file `generate` wrote. */
async function generateKidOf(name: string): Promise<string> {
  const { kty, crv, x, y } = JSON.parse(readFileSync(path.join(dir, name), 'utf8')) as JWK;
  return calculateJwkThumbprint({ kty: kty!, crv: crv!, x: x!, y: y! }, 'sha256');
}

async function generate(name: string, alg = 'ES256'): Promise<JWK> {
  const out: string[] = [];
  const file = path.join(dir, name);
  expect(await runKeysCli(['generate', '--alg', alg, '--out', file], { out: (l) => out.push(l), err: () => undefined })).toBe(0);
  return JSON.parse(out[0]!) as JWK;
}

describe('keys generate', () => {
  it('when a key is generated, then the private JWK is 0600, never overwritten, and the printed public JWK has no private member and its thumbprint as kid', async () => {
    const pub = await generate('k1.jwk', 'EdDSA');
    const file = path.join(dir, 'k1.jwk');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(pub).not.toHaveProperty('d');
    const { kid, alg: _alg, ...bare } = pub;
    expect(kid).toBe(await calculateJwkThumbprint(bare, 'sha256'));
    const errors: string[] = [];
    expect(await runKeysCli(['generate', '--out', file], { out: () => undefined, err: (l) => errors.push(l) })).toBe(73);
    expect(errors.join()).toContain(`${file} exists and is kept`);
    expect(await runKeysCli(['generate', '--alg', 'HS256', '--out', path.join(dir, 'k2.jwk')], { out: () => undefined, err: () => undefined })).toBe(2);
  });
});

describe('the whole round trip', () => {
  let s: Scenario;
  beforeAll(async () => {
    s = await setUpProgramme(api.persistence, 100_000_00n);
    const policy = await request(api.app).put(`/v1/programmes/${s.programmeId}/policy`).set('authorization', await bearer(s.organisationId, 'admin'))
      .send({ approvals: [{ fromTotal: '0', approvers: 1 }], providers: ['mpesa'], payoutMax: null, rowErrors: 'reject_batch' });
    expect(policy.status).toBe(200);
  });

  it('when a maker builds, signs and submits a CSV and an approver approves it, then the batch is approved and status shows it', async () => {
    const admin = await bearer(s.organisationId, 'admin');
    for (const [file, role, holder] of [['maker.jwk', 'maker', 'cli-maker'], ['approver.jwk', 'approver', 'cli-approver']] as const) {
      const publicJwk = await generate(file);
      const res = await request(api.app).post('/v1/signer-keys').set('authorization', admin).send({ role, alg: 'ES256', holder, publicJwk: { kty: publicJwk.kty, crv: publicJwk.crv, x: publicJwk.x, y: publicJwk.y } });
      expect(res.status).toBe(201);
      expect(res.body.kid).toBe(publicJwk.kid);
    }
    const csv = path.join(dir, 'batch.csv');
    writeFileSync(csv, '\ufeffref,msisdn,amount,provider,name\r\nr-1,+254712345678,1500,mpesa,"Otieno, Achieng"\r\nr-2,+254722000111,250.00,mpesa,Wafula\r\n');
    const batchFile = path.join(dir, 'batch.json');
    const built = io();
    expect(await runBatchCli(['build', '--csv', csv, '--org', s.organisationId, '--programme', s.programmeId, '--currency', 'KES', '--out', batchFile], built)).toBe(0);
    const document = JSON.parse(readFileSync(batchFile, 'utf8'));
    expect(Object.keys(document)).toEqual(['batchId', 'organisationId', 'programmeId', 'currency', 'createdAt', 'expiresAt', 'declared', 'payouts']);
    expect(document.declared).toEqual({ count: 2, total: '1750.00' });
    expect(document.payouts[0]).toEqual({ ref: 'r-1', provider: 'mpesa', msisdn: '+254712345678', amount: '1500.00', name: 'Otieno, Achieng' });

    const signed = path.join(dir, 'batch.jws.json');
    expect(await runBatchCli(['sign', '--key', path.join(dir, 'maker.jwk'), batchFile, '--out', signed], io())).toBe(0);
    const jws = JSON.parse(readFileSync(signed, 'utf8'));
    const makerJwk = JSON.parse(readFileSync(path.join(dir, 'maker.jwk'), 'utf8')) as JWK;
    const verified = await generalVerify(jws, await importJWK({ kty: makerJwk.kty, crv: makerJwk.crv, x: makerJwk.x, y: makerJwk.y }, 'ES256'));
    expect(Buffer.from(verified.payload).equals(readFileSync(batchFile))).toBe(true);

    const maker = io({ TUMA_TOKEN: (await bearer(s.organisationId, 'programme_manager', 'cli-maker')).slice(7) });
    expect(await runBatchCli(['submit', signed, '--json'], maker)).toBe(0);
    expect(JSON.parse(maker.lines.join('\n'))).toMatchObject({ batchId: document.batchId, state: 'awaiting_approval', approvals: { required: 1, received: 0 } });

    const approver = io({ TUMA_TOKEN: (await bearer(s.organisationId, 'approver', 'cli-approver')).slice(7) });
    expect(await runBatchCli(['approve', '--key', path.join(dir, 'approver.jwk'), batchFile], approver)).toBe(0);
    // One line that says what happened (--json prints the API's answer instead).
    expect(approver.lines).toEqual([`approved batch ${document.batchId} with key ${await generateKidOf('approver.jwk')}; approved: 2 payouts, KES 1750.00, approvals 1/1; approved 2`]);

    const watcher = io({ TUMA_TOKEN: (await bearer(s.organisationId, 'auditor')).slice(7) });
    expect(await runBatchCli(['status', document.batchId, '--watch', '--timeout', '3', '--interval', '1'], watcher)).toBe(1); // approved, not over: times out
    expect(watcher.lines[0]).toContain('0/2 settled');
    expect(watcher.errors.join()).toContain('still not over');
    expect(await runBatchCli(['status', document.batchId], watcher)).toBe(0);
    expect(watcher.lines.at(-1)).toMatch(/^approved: 2 payouts, KES 1750\.00, approvals 1\/1; approved 2$/);

    // The same signed file again is a replay, and says so in one line; a co-signature by the approver verifies over the same bytes.
    expect(await runBatchCli(['submit', signed], maker)).toBe(0);
    expect(maker.lines.at(-1)).toBe(`already submitted, nothing changed: batch ${document.batchId}; approved: 2 payouts, KES 1750.00, approvals 1/1; approved 2`);
    // The status of a batch by its file.
    expect(await runBatchCli(['status', batchFile], watcher)).toBe(0);
    expect(watcher.lines.at(-1)).toMatch(/^approved: 2 payouts/);
    const cosigned = path.join(dir, 'batch.cosigned.json');
    expect(await runBatchCli(['sign', '--key', path.join(dir, 'approver.jwk'), batchFile, '--add-to', signed, '--out', cosigned], io())).toBe(0);
    const both = JSON.parse(readFileSync(cosigned, 'utf8'));
    expect(both.signatures).toHaveLength(2);
    const approverJwk = JSON.parse(readFileSync(path.join(dir, 'approver.jwk'), 'utf8')) as JWK;
    await flattenedVerify({ payload: both.payload, ...both.signatures[1] }, await importJWK({ kty: approverJwk.kty, crv: approverJwk.crv, x: approverJwk.x, y: approverJwk.y }, 'ES256'));
  });

  it('when the server refuses, then the CLI prints the code and every row problem and exits 1', async () => {
    const maker = io({ TUMA_TOKEN: (await bearer(s.organisationId, 'programme_manager')).slice(7) });
    const file = path.join(dir, 'garbage.jws.json');
    writeFileSync(file, JSON.stringify({ payload: 'e30', signatures: [{ protected: 'e30', signature: 'AA' }] }));
    expect(await runBatchCli(['submit', file], maker)).toBe(1);
    expect(maker.errors[0]).toMatch(/^refused: 400 JWS_ALG_NOT_ALLOWED/);
    expect(await runBatchCli(['submit', file], io())).toBe(2); // no token
    expect(await runBatchCli(['nonsense'], io())).toBe(2);
  });
});

describe('batch build: every CSV problem named by line and field, nothing written', () => {
  const header = { organisationId: 'org', programmeId: 'prog', currency: 'KES' as const, batchId: '7b0ba2c5-4f47-4b8e-9d0a-0b7f1c7c2e11', createdAt: new Date('2026-11-25T10:00:00Z'), expiresAt: new Date('2026-11-28T10:00:00Z') };
  const build = (csv: string, maxRows = 100) => buildBatch(csv, header, maxRows);

  it('when the CSV is good, then the bytes are canonical and the same every time', () => {
    const csv = 'ref,msisdn,amount,provider\nr-1,+254712345678,100,mpesa\n';
    const a = build(csv);
    expect(a).toEqual({ ok: true, json: '{"batchId":"7b0ba2c5-4f47-4b8e-9d0a-0b7f1c7c2e11","organisationId":"org","programmeId":"prog","currency":"KES","createdAt":"2026-11-25T10:00:00.000Z","expiresAt":"2026-11-28T10:00:00.000Z","declared":{"count":1,"total":"100.00"},"payouts":[{"ref":"r-1","provider":"mpesa","msisdn":"+254712345678","amount":"100.00"}]}' });
    expect(build(csv)).toEqual(a);
  });

  it.each<[string, string, { line: number; field: string }[]]>([
    ['a missing column', 'ref,msisdn,provider\nr-1,+254712345678,mpesa\n', [{ line: 1, field: 'amount' }]],
    ['an unknown column', 'ref,msisdn,amount,provider,iban\nr-1,+254712345678,100,mpesa,KE00\n', [{ line: 1, field: 'iban' }]],
    ['a column twice', 'ref,msisdn,amount,provider,ref\nr-1,+254712345678,100,mpesa,r-1\n', [{ line: 1, field: 'ref' }]],
    ['an empty file', '', [{ line: 1, field: '(header)' }]],
    ['a header only', 'ref,msisdn,amount,provider\n', [{ line: 1, field: '(file)' }]],
    ['a bad amount', 'ref,msisdn,amount,provider\nr-1,+254712345678,1e3,mpesa\n', [{ line: 2, field: 'amount' }]],
    ['too many decimals for KES', 'ref,msisdn,amount,provider\nr-1,+254712345678,10.001,mpesa\n', [{ line: 2, field: 'amount' }]],
    ['a zero and a negative amount', 'ref,msisdn,amount,provider\nr-1,+254712345678,0,mpesa\nr-2,+254712345679,-5,mpesa\n', [{ line: 2, field: 'amount' }, { line: 3, field: 'amount' }]],
    ['a local phone number', 'ref,msisdn,amount,provider\nr-1,0712345678,100,mpesa\n', [{ line: 2, field: 'msisdn' }]],
    ['an empty ref', 'ref,msisdn,amount,provider\n,+254712345678,100,mpesa\n', [{ line: 2, field: 'ref' }]],
    ['a duplicate ref', 'ref,msisdn,amount,provider\nr-1,+254712345678,100,mpesa\nr-1,+254712345679,100,mpesa\n', [{ line: 3, field: 'ref' }]],
    ['a short row', 'ref,msisdn,amount,provider\nr-1,+254712345678,100\n', [{ line: 2, field: '(row)' }]],
    ['an unbalanced quote', 'ref,msisdn,amount,provider\nr-1,"+254712345678,100,mpesa\n', [{ line: 2, field: '(file)' }]],
    ['a name over 200 characters', `ref,msisdn,amount,provider,name\nr-1,+254712345678,100,mpesa,${'n'.repeat(201)}\n`, [{ line: 2, field: 'name' }]],
    ['a quoted newline before a bad row', 'ref,msisdn,amount,provider,name\nr-1,+254712345678,100,mpesa,"two\nlines"\nr-2,bad,100,mpesa,x\n', [{ line: 4, field: 'msisdn' }]],
    ['too many rows', 'ref,msisdn,amount,provider\nr-1,+254712345678,100,mpesa\nr-2,+254712345679,100,mpesa\nr-3,+254712345670,100,mpesa\n', [{ line: 4, field: '(file)' }]],
  ])('when the CSV has %s, then each problem is reported with its line and field', (_name, csv, expected) => {
    const built = build(csv, 2);
    expect(built.ok).toBe(false);
    if (built.ok) return;
    expect(built.problems.map((p) => ({ line: p.line, field: p.field }))).toEqual(expected);
    for (const p of built.problems) expect(p.problem.length).toBeGreaterThan(0);
  });

  it('when the CLI builds a bad CSV, then stderr names each problem and no file is written', async () => {
    const csv = path.join(dir, 'bad.csv');
    writeFileSync(csv, 'ref,msisdn,amount,provider\nr-1,0712,100,mpesa\nr-2,+254712345678,1.234,mpesa\n');
    const out = path.join(dir, 'bad.json');
    const cli = io();
    expect(await runBatchCli(['build', '--csv', csv, '--org', 'o', '--programme', 'p', '--currency', 'KES', '--out', out], cli)).toBe(1);
    expect(cli.errors.slice(0, 2)).toEqual([expect.stringMatching(/^line 2, field msisdn: /), expect.stringMatching(/^line 3, field amount: /)]);
    expect(() => statSync(out)).toThrow();
  });

  it('when the progress bar is drawn, then it counts settled payouts', () => {
    expect(progressBar({ state: 'dispatching', payoutCount: 4, total: '4.00', currency: 'KES', payouts: { paid: { count: 1, amount: '1.00' }, failed: { count: 1, amount: '1.00' }, submitted: { count: 2, amount: '2.00' } } }, 4))
      .toBe('[##..] 2/4 settled  dispatching: 4 payouts, KES 4.00; paid 1, failed 1, submitted 2');
  });
});

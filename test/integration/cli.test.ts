// The programme manager's and the approver's CLI against the real API and PostgreSQL: keys made
// locally, registered by an admin, a CSV built into a batch, signed, submitted, approved and
// followed. Plus the CSV problems `batch build` must name by line, column, sentence and code, with
// the server's own rules and codes (issue #21 item 2), and replays that say so (item 4).
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Server } from 'node:http';
import { calculateJwkThumbprint, flattenedVerify, generalVerify, importJWK, type JWK } from 'jose';
import request from 'supertest';
import { buildBatch, formatCsvProblem, offlineRules, progressBar, runBatchCli, type BatchCliIo } from '../../src/cli/batch-cli.js';
import { rowErrorSentence } from '../../src/domain/batch-document.js';
import { rowErrorCodes } from '../../src/domain/errors.js';
import { runKeysCli } from '../../src/cli/keys-cli.js';
import { runProgrammeCli } from '../../src/cli/programme-cli.js';
import { bearer, startTestApi, type TestApi } from '../support/api.js';
import { batchDocument, net, setUpProgramme, sign, type Scenario } from '../support/fixtures.js';

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
  return calculateJwkThumbprint({ kty: kty!, crv: crv!, x: x!, ...(y ? { y } : {}) }, 'sha256');
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
    for (const [file, role, holder, alg] of [['maker.jwk', 'maker', 'cli-maker', 'ES256'], ['approver.jwk', 'approver', 'cli-approver', 'EdDSA']] as const) {
      const publicJwk = await generate(file, alg);
      const res = await request(api.app).post('/v1/signer-keys').set('authorization', admin).send({ role, alg, holder, publicJwk: { kty: publicJwk.kty, crv: publicJwk.crv, x: publicJwk.x, ...(publicJwk.y ? { y: publicJwk.y } : {}) } });
      expect(res.status).toBe(201);
      expect(res.body.kid).toBe(publicJwk.kid);
    }
    const csv = path.join(dir, 'batch.csv');
    writeFileSync(csv, '\ufeffref,msisdn,amount,provider,name\r\nr-1,+254712345678,1500,mpesa,"Otieno, Achieng"\r\nr-2,+254722000111,250.00,mpesa,Wafula\r\n');
    const batchFile = path.join(dir, 'batch.json');
    // build reads the programme's policy and accounts with the maker's token.
    const built = io({ TUMA_TOKEN: (await bearer(s.organisationId, 'programme_manager', 'cli-maker')).slice(7) });
    expect(await runBatchCli(['build', '--csv', csv, '--org', s.organisationId, '--programme', s.programmeId, '--currency', 'KES', '--out', batchFile], built)).toBe(0);
    expect(built.lines).toEqual([expect.stringMatching(new RegExp(`^wrote ${batchFile}: batch [0-9a-f-]{36}: 2 payouts, KES 1750\\.00, for ${s.organisationId}/${s.programmeId}, expires .*; checked against the programme's policy and accounts$`))]);
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
    const approverKid = await generateKidOf('approver.jwk');
    expect(approver.lines).toEqual([`approved batch ${document.batchId} with key ${approverKid}; approved: 2 payouts, KES 1750.00, approvals 1/1; approved 2`]);
    // The same approval again: an EdDSA signature over the same bytes is the same signature, so it is recorded already, and the line says so.
    expect(await runBatchCli(['approve', '--key', path.join(dir, 'approver.jwk'), batchFile], approver)).toBe(0);
    expect(approver.lines.at(-1)).toBe(`already approved with this signature, nothing changed: batch ${document.batchId} with key ${approverKid}; approved: 2 payouts, KES 1750.00, approvals 1/1; approved 2`);
    expect(await runBatchCli(['approve', '--key', path.join(dir, 'approver.jwk'), batchFile, '--json'], approver)).toBe(0);
    expect(JSON.parse(approver.lines.at(-1)!)).toMatchObject({ batchId: document.batchId, replayed: true, approvals: { received: 1 } });

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
    await flattenedVerify({ payload: both.payload, ...both.signatures[1] }, await importJWK({ kty: approverJwk.kty, crv: approverJwk.crv, x: approverJwk.x }, 'EdDSA'));
  });

  it('when an unknown provider, a number of another country, cents M-Pesa cannot pay, duplicates and a provider the programme does not enable are built, then build refuses each by line, column, sentence and code, the same codes and sentences the server gives for the same rows', async () => {
    const rows = [
      ['p-1', '+254712000001', '100', 'mpesa'],
      ['p-2', '+254712000002', '100', 'paypal'],
      ['p-3', '+256772123456', '100', 'mpesa'],
      ['p-4', '+254712000004', '100.50', 'mpesa'],
      ['p-1', '+254712000005', '100', 'mpesa'],
      ['p-6', '+254712000001', '100', 'mpesa'],
      ['p-7', '+254712000007', '100', 'airtel'],
    ];
    const csv = path.join(dir, 'refused.csv');
    writeFileSync(csv, `ref,msisdn,amount,provider\n${rows.map((r) => r.join(',')).join('\n')}\n`);
    const out = path.join(dir, 'refused.json');
    const maker = io({ TUMA_TOKEN: (await bearer(s.organisationId, 'programme_manager', 'cli-maker')).slice(7) });
    expect(await runBatchCli(['build', '--csv', csv, '--org', s.organisationId, '--programme', s.programmeId, '--currency', 'KES', '--out', out], maker)).toBe(1);
    expect(maker.errors).toEqual([
      `line 3, column 4 (provider): ${rowErrorCodes.PROVIDER_UNKNOWN} (PROVIDER_UNKNOWN)`,
      `line 4, column 2 (msisdn): ${rowErrorCodes.MSISDN_COUNTRY} (MSISDN_COUNTRY)`,
      `line 5, column 3 (amount): ${rowErrorCodes.AMOUNT_PROVIDER_SCALE} (AMOUNT_PROVIDER_SCALE)`,
      `line 6, column 1 (ref): ${rowErrorCodes.REF_DUPLICATE} (REF_DUPLICATE)`,
      `line 7, column 2 (msisdn): ${rowErrorCodes.BENEFICIARY_DUPLICATE} (BENEFICIARY_DUPLICATE)`,
      `line 8, column 4 (provider): ${rowErrorCodes.PROVIDER_NOT_ENABLED} (PROVIDER_NOT_ENABLED)`,
      `tuma batch build: 6 problems in ${csv}; nothing written`,
    ]);
    expect(() => statSync(out)).toThrow();

    // The same rows, signed and submitted: the server names the same rows (numbered from 1: line n is row n-1), fields, codes and sentences.
    const document = batchDocument(s, rows.map(([ref, msisdn, amount, provider]) => ({ ref: ref!, msisdn: msisdn!, amount: amount!, provider: provider! })), { total: '700.50' });
    const res = await request(api.app).post('/v1/batches').set('authorization', await bearer(s.organisationId, 'programme_manager', 'cli-maker'))
      .set('content-type', 'application/jose+json').send(JSON.stringify(await sign(document, s.maker)));
    expect(res.status).toBe(422);
    const server = (res.body.error.errors as { row: number; field: string; code: string; message: string }[]).map((e) => `line ${e.row + 1}, ${e.field}: ${e.message} (${e.code})`);
    const cli = maker.errors.slice(0, -1).map((l) => l.replace(/, column \d+ \((\w+)\):/, ', $1:'));
    expect(server.sort()).toEqual(cli.sort());

    // And `batch submit` prints the server's rows the same way: row, field, sentence, code.
    const jwsFile = path.join(dir, 'refused.jws.json');
    writeFileSync(jwsFile, JSON.stringify(await sign(document, s.maker)));
    const submitter = io({ TUMA_TOKEN: (await bearer(s.organisationId, 'programme_manager', 'cli-maker')).slice(7) });
    expect(await runBatchCli(['submit', jwsFile], submitter)).toBe(1);
    expect(submitter.errors[0]).toMatch(/^refused: 422 BATCH_INVALID: /);
    expect(submitter.errors).toContain(`  row 4, field amount: ${rowErrorCodes.AMOUNT_PROVIDER_SCALE} (AMOUNT_PROVIDER_SCALE)`);
  });

  it('when build cannot read the programme, then it says why and writes nothing: another organisation\'s programme, the wrong currency, no token, no server', async () => {
    const csv = path.join(dir, 'one.csv');
    writeFileSync(csv, 'ref,msisdn,amount,provider\no-1,+254712000001,100,mpesa\n');
    const token = (await bearer(s.organisationId, 'programme_manager')).slice(7);
    const other = await setUpProgramme(api.persistence, 0n);
    const run = async (env: Record<string, string>, ...extra: string[]) => {
      const cli = io(env);
      const code = await runBatchCli(['build', '--csv', csv, '--org', s.organisationId, '--currency', 'KES', ...extra], cli);
      return { code, errors: cli.errors, raw: cli.raw };
    };
    expect(await run({ TUMA_TOKEN: token }, '--programme', other.programmeId)).toEqual({ code: 1, raw: [], errors: [`tuma batch build: programme ${other.programmeId} is not a programme of your organisation (404 NOT_FOUND); nothing written`] });
    expect(await run({ TUMA_TOKEN: token }, '--programme', s.programmeId, '--currency', 'UGX')).toEqual({ code: 1, raw: [], errors: [`tuma batch build: programme ${s.programmeId} pays in KES, not UGX (PROGRAMME_CURRENCY_MISMATCH); nothing written`] });
    expect(await run({}, '--programme', s.programmeId)).toEqual({ code: 2, raw: [], errors: ['tuma batch build: a bearer token is needed to check the rows against the programme (or --offline): --token or TUMA_TOKEN'] });
    const nowhere = `http://127.0.0.1:${await net.freePort()}`;
    const away = await run({ TUMA_TOKEN: token, TUMA_URL: nowhere }, '--programme', s.programmeId);
    expect(away.code).toBe(69);
    expect(away.errors).toEqual([`tuma batch build: cannot reach the API at ${nowhere}: connection refused (is Tuma running there? --url or TUMA_URL says where); nothing written (--offline builds without the server, checking the providers' own rules only)`]);
    // Offline: no server asked; the providers' own rules still apply, and the line says what was not checked.
    const offline = await run({ TUMA_URL: nowhere }, '--programme', s.programmeId, '--offline');
    expect(offline.code).toBe(0);
    expect(offline.errors).toEqual([expect.stringMatching(/; checked offline against the providers' own rules only \(not the programme's policy or accounts\)$/)]);
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

describe('keys register and programme fund: one line each, saying when it was recorded before (issue #21 item 4)', () => {
  let s: Scenario;
  beforeAll(async () => {
    s = await setUpProgramme(api.persistence, 0n);
  });

  it('when an admin registers a public key, then one line says so; the same again says it was already registered; a clash is refused; a private key is never sent', async () => {
    const pub = await generate('reg-maker.jwk');
    const pubFile = path.join(dir, 'reg-maker.pub.json');
    writeFileSync(pubFile, JSON.stringify(pub));
    const admin = io({ TUMA_TOKEN: (await bearer(s.organisationId, 'admin', 'ada')).slice(7) });
    const register = (...extra: string[]) => runKeysCli(['register', '--role', 'maker', '--holder', 'mary', ...extra, pubFile], admin);
    expect(await register()).toBe(0);
    expect(admin.lines.at(-1)).toBe(`registered maker key ${pub.kid} for mary; active`);
    expect(await register()).toBe(0);
    expect(admin.lines.at(-1)).toBe(`already registered, nothing changed: maker key ${pub.kid} for mary; active`);
    expect(await register('--json')).toBe(0);
    expect(JSON.parse(admin.lines.at(-1)!)).toMatchObject({ kid: pub.kid, role: 'maker', holder: 'mary', replayed: true });
    // The same key as an approver: registered already with other attributes.
    expect(await runKeysCli(['register', '--role', 'approver', '--holder', 'mary', pubFile], admin)).toBe(1);
    expect(admin.errors.at(-1)).toMatch(/^refused: 409 SIGNER_KEY_EXISTS: /);

    // Refused here, before any request: a private key, a file that is no JWK, a missing role, an unknown alg.
    let calls = 0;
    const counted = { ...admin, fetch: ((...a: Parameters<typeof fetch>) => { calls++; return globalThis.fetch(...a); }) as typeof fetch };
    const bigFile = path.join(dir, 'big.jwk');
    writeFileSync(bigFile, JSON.stringify({ kty: 'EC', x: 'x'.repeat(10_000) }));
    const notJson = path.join(dir, 'not.jwk');
    writeFileSync(notJson, 'kty=EC');
    for (const [args, words] of [
      [['--role', 'maker', '--holder', 'mary', path.join(dir, 'reg-maker.jwk')], 'holds a private key'],
      [['--role', 'maker', '--holder', 'mary', bigFile], 'larger than'],
      [['--role', 'maker', '--holder', 'mary', notJson], 'is not a JWK'],
      [['--holder', 'mary', pubFile], '--role, --holder and the public JWK file are required'],
      [['--role', 'checker', '--holder', 'mary', pubFile], '--role is maker or approver'],
      [['--role', 'maker', '--holder', 'mary', '--alg', 'HS256', pubFile], '--alg is'],
    ] as const) {
      const errors: string[] = [];
      expect(await runKeysCli(['register', ...args], { ...counted, err: (l) => errors.push(l) })).toBe(2);
      expect(errors).toEqual([expect.stringMatching(new RegExp(`^tuma keys register: .*${words.replace(/[-.]/g, '\\$&')}`))]);
    }
    expect(calls).toBe(0);
  });

  it('when finance records a funding, then one line says so; the same key again says it was already recorded and posts nothing; bad input is refused before any request', async () => {
    const finance = io({ TUMA_TOKEN: (await bearer(s.organisationId, 'finance', 'fatma')).slice(7) });
    const fund = (...extra: string[]) => runProgrammeCli(['fund', '--programme', s.programmeId, '--amount', '2500.00', '--currency', 'KES', '--source', 'echo-2026', '--idempotency-key', 'tranche-1', ...extra], finance);
    expect(await fund('--reference', 'GRANT-7')).toBe(0);
    const first = finance.lines.at(-1)!;
    expect(first).toMatch(new RegExp(`^recorded funding [0-9a-f-]{36} of KES 2500\\.00 from echo-2026 to programme ${s.programmeId} \\(key tranche-1\\); available after it: KES 2500\\.00$`));
    expect(await fund('--reference', 'GRANT-7')).toBe(0);
    expect(finance.lines.at(-1)).toBe(`already recorded, nothing posted: ${first.slice('recorded '.length)}`);
    expect(await fund('--reference', 'GRANT-7', '--json')).toBe(0);
    expect(JSON.parse(finance.lines.at(-1)!)).toMatchObject({ amount: '2500.00', replayed: true, availableAfter: '2500.00' });
    const balance = await request(api.app).get(`/v1/ledgers/KES/accounts/programme:${s.programmeId}:available`).set('authorization', await bearer(s.organisationId, 'finance'));
    expect(balance.body.balance).toBe('2500.00');
    // The same key with another amount: the API refuses, and the CLI says so.
    expect(await runProgrammeCli(['fund', '--programme', s.programmeId, '--amount', '2600.00', '--currency', 'KES', '--source', 'echo-2026', '--idempotency-key', 'tranche-1', '--reference', 'GRANT-7'], finance)).toBe(1);
    expect(finance.errors.at(-1)).toMatch(/^refused: 409 LEDGER_TRANSFER_CONFLICT: /);

    let calls = 0;
    const counted = { ...finance, fetch: ((...a: Parameters<typeof fetch>) => { calls++; return globalThis.fetch(...a); }) as typeof fetch };
    for (const [args, words] of [
      [['--amount', '1e3', '--currency', 'KES', '--source', 's', '--idempotency-key', 'k'], '--amount is a positive decimal'],
      [['--amount', '10.001', '--currency', 'KES', '--source', 's', '--idempotency-key', 'k'], 'AMOUNT_SCALE'],
      [['--amount', '10', '--currency', 'XXX', '--source', 's', '--idempotency-key', 'k'], 'unknown currency'],
      [['--amount', '10', '--currency', 'KES', '--source', 's'], 'are required'],
      [['--amount', '10', '--currency', 'KES', '--source', 's', '--idempotency-key', 'has space'], '--idempotency-key is'],
      [['--amount', '10', '--currency', 'KES', '--source', 's', '--idempotency-key', 'k'.repeat(129)], '--idempotency-key is'],
    ] as const) {
      const errors: string[] = [];
      expect(await runProgrammeCli(['fund', '--programme', s.programmeId, ...args], { ...counted, err: (l) => errors.push(l) })).toBe(2);
      expect(errors).toEqual([expect.stringContaining(`tuma programme fund: `)]);
      expect(errors[0]).toContain(words);
    }
    expect(calls).toBe(0);
  });
});

describe('batch build: every CSV problem named by line, column, sentence and code, nothing written', () => {
  const header = { organisationId: 'org', programmeId: 'prog', currency: 'KES' as const, batchId: '7b0ba2c5-4f47-4b8e-9d0a-0b7f1c7c2e11', createdAt: new Date('2026-11-25T10:00:00Z'), expiresAt: new Date('2026-11-28T10:00:00Z') };
  const build = (csv: string, maxRows = 100, rules = offlineRules) => buildBatch(csv, header, maxRows, rules);

  it('when the CSV is good, then the bytes are canonical and the same every time', () => {
    const csv = 'ref,msisdn,amount,provider\nr-1,+254712345678,100,mpesa\n';
    const a = build(csv);
    expect(a).toEqual({ ok: true, json: '{"batchId":"7b0ba2c5-4f47-4b8e-9d0a-0b7f1c7c2e11","organisationId":"org","programmeId":"prog","currency":"KES","createdAt":"2026-11-25T10:00:00.000Z","expiresAt":"2026-11-28T10:00:00.000Z","declared":{"count":1,"total":"100.00"},"payouts":[{"ref":"r-1","provider":"mpesa","msisdn":"+254712345678","amount":"100.00"}]}' });
    expect(build(csv)).toEqual(a);
  });

  it.each<[string, string, { line: number; column: string | null; code: string }[]]>([
    ['a missing column', 'ref,msisdn,provider\nr-1,+254712345678,mpesa\n', [{ line: 1, column: null, code: 'CSV_COLUMN_MISSING' }]],
    ['an unknown column', 'ref,msisdn,amount,provider,iban\nr-1,+254712345678,100,mpesa,KE00\n', [{ line: 1, column: 'iban', code: 'CSV_COLUMN_UNKNOWN' }]],
    ['a column twice', 'ref,msisdn,amount,provider,ref\nr-1,+254712345678,100,mpesa,r-1\n', [{ line: 1, column: 'ref', code: 'CSV_COLUMN_TWICE' }]],
    ['an empty file', '', [{ line: 1, column: null, code: 'CSV_EMPTY' }]],
    ['a header only', 'ref,msisdn,amount,provider\n', [{ line: 1, column: null, code: 'CSV_NO_ROWS' }]],
    ['a bad amount', 'ref,msisdn,amount,provider\nr-1,+254712345678,1e3,mpesa\n', [{ line: 2, column: 'amount', code: 'AMOUNT_INVALID' }]],
    ['too many decimals for KES', 'ref,msisdn,amount,provider\nr-1,+254712345678,10.001,mpesa\n', [{ line: 2, column: 'amount', code: 'AMOUNT_SCALE' }]],
    ['a zero and a negative amount', 'ref,msisdn,amount,provider\nr-1,+254712345678,0,mpesa\nr-2,+254712345679,-5,mpesa\n', [{ line: 2, column: 'amount', code: 'AMOUNT_INVALID' }, { line: 3, column: 'amount', code: 'AMOUNT_INVALID' }]],
    ['a local phone number', 'ref,msisdn,amount,provider\nr-1,0712345678,100,mpesa\n', [{ line: 2, column: 'msisdn', code: 'MSISDN_INVALID' }]],
    ['an empty ref', 'ref,msisdn,amount,provider\n,+254712345678,100,mpesa\n', [{ line: 2, column: 'ref', code: 'FIELD_INVALID' }]],
    ['a duplicate ref', 'ref,msisdn,amount,provider\nr-1,+254712345678,100,mpesa\nr-1,+254712345679,100,mpesa\n', [{ line: 3, column: 'ref', code: 'REF_DUPLICATE' }]],
    ['the same number paid the same amount twice', 'ref,msisdn,amount,provider\nr-1,+254712345678,100,mpesa\nr-2,+254712345678,100.00,mpesa\n', [{ line: 3, column: 'msisdn', code: 'BENEFICIARY_DUPLICATE' }]],
    ['an unknown provider', 'ref,msisdn,amount,provider\nr-1,+254712345678,100,m-pesa\n', [{ line: 2, column: 'provider', code: 'PROVIDER_UNKNOWN' }]],
    ['a provider that does not pay in the currency', 'ref,msisdn,amount,provider\nr-1,+256772123456,100,mtn-momo\n', [{ line: 2, column: 'provider', code: 'PROVIDER_CURRENCY' }]],
    ['a Ugandan number for M-Pesa', 'ref,msisdn,amount,provider\nr-1,+256772123456,100,mpesa\n', [{ line: 2, column: 'msisdn', code: 'MSISDN_COUNTRY' }]],
    ['a Kenyan landline', 'ref,msisdn,amount,provider\nr-1,+254202222222,100,mpesa\n', [{ line: 2, column: 'msisdn', code: 'MSISDN_INVALID' }]],
    ['cents M-Pesa cannot pay', 'ref,msisdn,amount,provider\nr-1,+254712345678,100.50,mpesa\n', [{ line: 2, column: 'amount', code: 'AMOUNT_PROVIDER_SCALE' }]],
    ["an amount below M-Pesa's minimum", 'ref,msisdn,amount,provider\nr-1,+254712345678,9,mpesa\n', [{ line: 2, column: 'amount', code: 'AMOUNT_BELOW_MINIMUM' }]],
    ['a short row', 'ref,msisdn,amount,provider\nr-1,+254712345678,100\n', [{ line: 2, column: null, code: 'CSV_ROW_LENGTH' }]],
    ['an unbalanced quote', 'ref,msisdn,amount,provider\nr-1,"+254712345678,100,mpesa\n', [{ line: 2, column: null, code: 'CSV_MALFORMED' }]],
    ['a name over 200 characters', `ref,msisdn,amount,provider,name\nr-1,+254712345678,100,mpesa,${'n'.repeat(201)}\n`, [{ line: 2, column: 'name', code: 'FIELD_INVALID' }]],
    ['a quoted newline before a bad row', 'ref,msisdn,amount,provider,name\nr-1,+254712345678,100,mpesa,"two\nlines"\nr-2,bad,100,mpesa,x\n', [{ line: 4, column: 'msisdn', code: 'MSISDN_INVALID' }]],
    ['too many rows', 'ref,msisdn,amount,provider\nr-1,+254712345678,100,mpesa\nr-2,+254712345679,100,mpesa\nr-3,+254712345670,100,mpesa\n', [{ line: 4, column: null, code: 'CSV_TOO_MANY_ROWS' }]],
    ['a repays that is no payout id', 'ref,msisdn,amount,provider,repays\nr-1,+254712345678,100,mpesa,RCP0101\n', [{ line: 2, column: 'repays', code: 'FIELD_INVALID' }]],
    ['one payout repaid on two rows', 'ref,msisdn,amount,provider,repays\nr-1,+254712345678,100,mpesa,0b8f3a52-64d1-4c1e-9a7b-2e5f4d3c2b10\nr-2,+254712345679,200,mpesa,0b8f3a52-64d1-4c1e-9a7b-2e5f4d3c2b10\n', [{ line: 3, column: 'repays', code: 'REPAY_DUPLICATE' }]],
  ])('when the CSV has %s, then each problem is reported with its line, column, sentence and code', (_name, csv, expected) => {
    const built = build(csv, 2);
    expect(built.ok).toBe(false);
    if (built.ok) return;
    expect(built.problems.map((p) => ({ line: p.line, column: p.column?.name ?? null, code: p.code }))).toEqual(expected);
    for (const p of built.problems) expect(p.problem).toMatch(/^[A-Z].*\.$/);
  });

  it('when a row names a payout it pays again (repays), then the document carries it; an empty cell carries none', () => {
    const built = build('ref,msisdn,amount,provider,repays\nr-1,+254712345678,100,mpesa,0b8f3a52-64d1-4c1e-9a7b-2e5f4d3c2b10\nr-2,+254712345679,100,mpesa,\n');
    expect(built.ok).toBe(true);
    if (!built.ok) return;
    expect(JSON.parse(built.json).payouts).toEqual([
      { ref: 'r-1', provider: 'mpesa', msisdn: '+254712345678', amount: '100.00', repays: '0b8f3a52-64d1-4c1e-9a7b-2e5f4d3c2b10' },
      { ref: 'r-2', provider: 'mpesa', msisdn: '+254712345679', amount: '100.00' },
    ]);
  });

  it("when a row breaks a rule of the server's, then its sentence and code are the server's (rowErrorSentence), its column is where it is", () => {
    const built = build('name,provider,amount,msisdn,ref\nAmina,mpesa,100,+254712345678,has space\n');
    expect(built).toEqual({ ok: false, problems: [{ line: 2, column: { index: 5, name: 'ref' }, code: 'FIELD_INVALID', problem: rowErrorSentence({ row: 0, field: 'ref', code: 'FIELD_INVALID' }) }] });
    if (built.ok) return;
    expect(formatCsvProblem(built.problems[0]!)).toBe('line 2, column 5 (ref): The ref has the wrong type or format. A ref is 1 to 64 printable ASCII characters without spaces. (FIELD_INVALID)');
  });

  it("when the rules are a programme's, then its policy and accounts apply: a provider it does not enable, a country or an amount its accounts do not take", () => {
    const rules = { providers: ['mpesa' as const], payoutMaxMinor: 500_00n, rowErrors: 'reject_batch' as const, routes: new Map([['mpesa' as const, new Map([['KE', { minMinor: 50_00n, maxMinor: null }]])]]) };
    const built = build('ref,msisdn,amount,provider\nr-1,+254712345678,600,mpesa\nr-2,+254712345679,20,mpesa\nr-3,+254712345670,100,airtel\n', 10, rules);
    expect(!built.ok && built.problems.map((p) => [p.line, p.column?.name, p.code])).toEqual([
      [2, 'amount', 'AMOUNT_ABOVE_MAXIMUM'], [3, 'amount', 'AMOUNT_BELOW_MINIMUM'], [4, 'provider', 'PROVIDER_NOT_ENABLED'], [4, 'provider', 'PROVIDER_NOT_CONFIGURED'],
    ]);
    // The same rows offline: the providers' own rules only (M-Pesa: KES 10 to 250,000), so they pass.
    expect(build('ref,msisdn,amount,provider\nr-1,+254712345678,600,mpesa\nr-2,+254712345679,20,mpesa\nr-3,+254712345670,100,airtel\n', 10).ok).toBe(true);
  });

  it('when the CLI builds a bad CSV, then stderr names each problem with its sentence and code, and no file is written', async () => {
    const csv = path.join(dir, 'bad.csv');
    writeFileSync(csv, 'ref,msisdn,amount,provider\nr-1,0712,100,mpesa\nr-2,+254712345678,1.234,mpesa\n');
    const out = path.join(dir, 'bad.json');
    const cli = io();
    expect(await runBatchCli(['build', '--csv', csv, '--org', 'o', '--programme', 'p', '--currency', 'KES', '--out', out, '--offline'], cli)).toBe(1);
    expect(cli.errors).toEqual([
      `line 2, column 2 (msisdn): ${rowErrorCodes.MSISDN_INVALID} (MSISDN_INVALID)`,
      `line 3, column 3 (amount): ${rowErrorCodes.AMOUNT_SCALE} (AMOUNT_SCALE)`,
      `tuma batch build: 2 problems in ${csv}; nothing written`,
    ]);
    expect(() => statSync(out)).toThrow();
  });

  it('when the progress bar is drawn, then it counts settled payouts', () => {
    expect(progressBar({ state: 'dispatching', payoutCount: 4, total: '4.00', currency: 'KES', payouts: { paid: { count: 1, amount: '1.00' }, failed: { count: 1, amount: '1.00' }, submitted: { count: 2, amount: '2.00' } } }, 4))
      .toBe('[##..] 2/4 settled  dispatching: 4 payouts, KES 4.00; paid 1, failed 1, submitted 2');
  });
});

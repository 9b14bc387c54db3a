// The finance API over HTTP: bearer-token authentication and roles, fundings (idempotent, and
// every malformed or hostile body refused with nothing written), balances, statements with
// running balances and cursors, the streamed CSV, the trial balance and journals — each scoped
// to the caller's organisation.
import { randomBytes, randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { pino } from 'pino';
import request from 'supertest';
import { AesGcmVault } from '../../src/adapters/crypto/vault.js';
import { kyselyPersistence } from '../../src/adapters/db/persistence.js';
import { createApp, fundingBodyMaxBytes } from '../../src/adapters/http/app.js';
import { createAuthenticator } from '../../src/adapters/http/auth.js';
import type { Persistence } from '../../src/application/ports.js';
import { registerOrganisation, registerProgramme } from '../../src/application/setup.js';
import { accounts, postings } from '../../src/domain/ledger-rules.js';
import { bearer, testAuthConfig, tokenFor } from '../support/auth.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

let database: TestDatabase;
let persistence: Persistence;
let app: ReturnType<typeof createApp>;
let finance: string;
const org = `org-${randomBytes(3).toString('hex')}`;
const programmeId = `prog-${randomBytes(3).toString('hex')}`;
const otherOrg = `org-${randomBytes(3).toString('hex')}`;
const otherProgramme = `prog-${randomBytes(3).toString('hex')}`;
const availableKey = `programme:${programmeId}:available`;

beforeAll(async () => {
  database = await createTestDatabase();
  persistence = kyselyPersistence(database.db, database.pool);
  app = createApp({
    persistence,
    vault: new AesGcmVault(database.db, randomBytes(32)),
    batchPayoutsMax: 5,
    now: () => new Date(),
    bodyMaxBytes: 64 * 1024,
    logger: pino({ level: 'silent' }),
    readiness: async () => ({ database: true, transport: true }),
    authenticate: createAuthenticator(testAuthConfig),
  });
  await registerOrganisation(persistence, org, 'Finance test');
  await registerProgramme(persistence, { id: programmeId, organisationId: org, name: 'P', currency: 'KES', approvalsRequired: 0 });
  await registerOrganisation(persistence, otherOrg, 'Someone else');
  await registerProgramme(persistence, { id: otherProgramme, organisationId: otherOrg, name: 'Q', currency: 'KES', approvalsRequired: 0 });
  await persistence.ledger.postJournal(postings.funding({ idempotencyKey: 'other', organisationId: otherOrg, programmeId: otherProgramme, source: 'donor', currency: 'KES', amountMinor: 5_00n }));
  finance = await tokenFor(org, ['finance']);
});
afterAll(async () => database?.drop());

async function transferCount(): Promise<number> {
  return Number((await sql<{ n: string }>`SELECT count(*)::text AS n FROM transfers`.execute(database.db)).rows[0]!.n);
}

const fundingUrl = `/v1/programmes/${programmeId}/fundings`;
const fundBody = { amount: '1500.50', currency: 'KES', source: 'echo-2026', reference: 'GRANT/2026/17' };

describe('authentication', () => {
  const url = `/v1/ledgers/KES/trial-balance`;

  it('when there is no bearer token, then 401 with WWW-Authenticate', async () => {
    const res = await request(app).get(url);
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('AUTH_UNAUTHENTICATED');
    expect(res.headers['www-authenticate']).toBe('Bearer');
  });

  it.each([
    ['another issuer', () => tokenFor(org, ['finance'], { issuer: 'https://evil.test' })],
    ['another audience', () => tokenFor(org, ['finance'], { audience: 'someone-else' })],
    ['an expired token', () => tokenFor(org, ['finance'], { expiresIn: '-10m' })],
    ['a token signed by another key', async () => {
      const { generateKeyPairSync } = await import('node:crypto');
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      return tokenFor(org, ['finance'], { key: { ...privateKey.export({ format: 'jwk' }), alg: 'ES256' } as never });
    }],
    ['an HMAC token', async () => tokenFor(org, ['finance'], { alg: 'HS256', key: { kty: 'oct', k: Buffer.alloc(32, 1).toString('base64url'), alg: 'HS256' } as never })],
    ['an unsigned (alg none) token', async () => {
      const enc = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
      return `${enc({ alg: 'none' })}.${enc({ sub: 'x', org, roles: ['finance'], iss: 'https://issuer.test', aud: 'tuma-test', exp: Math.floor(Date.now() / 1000) + 60 })}.`;
    }],
    ['no organisation claim', () => tokenFor(org, ['finance'], { extra: { org: undefined } })],
    ['an unknown role', () => tokenFor(org, ['superuser'])],
    ['a tampered payload', async () => {
      const t = await tokenFor(org, ['auditor']);
      const [h, , s] = t.split('.');
      return `${h}.${Buffer.from(JSON.stringify({ sub: 'x', org, roles: ['finance'], iss: 'https://issuer.test', aud: 'tuma-test', exp: 9_999_999_999 })).toString('base64url')}.${s}`;
    }],
    ['garbage', async () => 'not.a.jwt'],
  ])('when the token has %s, then 401', async (_name, make) => {
    const res = await request(app).get(url).set(bearer(await make()));
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('AUTH_UNAUTHENTICATED');
  });

  it('when the header is oversized or not a Bearer token, then 401', async () => {
    expect((await request(app).get(url).set('authorization', `Bearer ${'a'.repeat(9000)}`)).status).toBe(401);
    expect((await request(app).get(url).set('authorization', `Basic ${Buffer.from('a:b').toString('base64')}`)).status).toBe(401);
  });

  it('when the caller has no finance role, then 403', async () => {
    const res = await request(app).get(url).set(bearer(await tokenFor(org, ['programme_manager', 'approver'])));
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe('AUTH_FORBIDDEN');
  });

  it('when an auditor records a funding, then 403: auditors read, they do not post', async () => {
    const res = await request(app).post(fundingUrl).set(bearer(await tokenFor(org, ['auditor']))).set('idempotency-key', 'k').send(fundBody);
    expect(res.status).toBe(403);
  });
});

describe('POST /v1/programmes/{id}/fundings', () => {
  it('when finance records a funding, then 201 with the balance after it; the same key again gives 200, the same body and replayed: true', async () => {
    const first = await request(app).post(fundingUrl).set(bearer(finance)).set('idempotency-key', 'grant-17').send(fundBody);
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ programmeId, amount: '1500.50', currency: 'KES', source: 'echo-2026', reference: 'GRANT/2026/17', availableAfter: '1500.50', replayed: false });
    const before = await transferCount();
    const again = await request(app).post(fundingUrl).set(bearer(finance)).set('idempotency-key', 'grant-17').send(fundBody);
    expect(again.status).toBe(200);
    // The first result, saying it was already recorded.
    expect(again.body).toEqual({ ...first.body, replayed: true });
    expect(await transferCount()).toBe(before);
  });

  it('when the same key comes with another amount, then 409 and nothing changes', async () => {
    const before = await transferCount();
    const res = await request(app).post(fundingUrl).set(bearer(finance)).set('idempotency-key', 'grant-17').send({ ...fundBody, amount: '1500.51' });
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe('LEDGER_TRANSFER_CONFLICT');
    expect(await transferCount()).toBe(before);
  });

  it.each([
    ['a JSON number amount', { ...fundBody, amount: 1500.5 }],
    ['too many decimals', { ...fundBody, amount: '1.005' }],
    ['a negative amount', { ...fundBody, amount: '-1.00' }],
    ['zero', { ...fundBody, amount: '0.00' }],
    ['exponent notation', { ...fundBody, amount: '1e3' }],
    ['a leading plus', { ...fundBody, amount: '+10' }],
    ['past the bigint range', { ...fundBody, amount: '92233720368547758.08' }],
    ['another currency', { ...fundBody, currency: 'UGX' }],
    ['an unknown currency', { ...fundBody, currency: 'XXX' }],
    ['a source with a colon', { ...fundBody, source: 'a:b' }],
    ['a source with spaces', { ...fundBody, source: 'a b' }],
    ['an empty source', { ...fundBody, source: '' }],
    ['a reference with a newline', { ...fundBody, reference: 'a\nb' }],
    ['a reference of 129 characters', { ...fundBody, reference: 'r'.repeat(129) }],
    ['an unknown field', { ...fundBody, note: 'hi' }],
    ['no amount', { currency: 'KES', source: 'x' }],
    ['an array', [fundBody]],
  ])('when the body has %s, then 422 FUNDING_INVALID and nothing is written', async (_name, body) => {
    const before = await transferCount();
    const res = await request(app).post(fundingUrl).set(bearer(finance)).set('idempotency-key', `bad-${randomUUID()}`).set('content-type', 'application/json').send(JSON.stringify(body));
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe('FUNDING_INVALID');
    expect(await transferCount()).toBe(before);
  });

  it.each([
    ['no Idempotency-Key', undefined],
    ['an empty Idempotency-Key', ''],
    ['an Idempotency-Key with spaces', 'a b'],
    ['an Idempotency-Key of 129 characters', 'k'.repeat(129)],
  ])('when the request has %s, then 400 IDEMPOTENCY_KEY_INVALID', async (_name, key) => {
    const req = request(app).post(fundingUrl).set(bearer(finance));
    if (key !== undefined) req.set('idempotency-key', key);
    const res = await req.send(fundBody);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('IDEMPOTENCY_KEY_INVALID');
  });

  it('when the body is not JSON or too large, then 400 / 413 and nothing is written', async () => {
    const before = await transferCount();
    const malformed = await request(app).post(fundingUrl).set(bearer(finance)).set('idempotency-key', 'm').set('content-type', 'application/json').send('{"amount":');
    expect(malformed.status).toBe(400);
    expect(malformed.body.error.code).toBe('REQUEST_MALFORMED');
    for (const scalar of ['"fund me"', 'null', '42']) {
      const res = await request(app).post(fundingUrl).set(bearer(finance)).set('idempotency-key', 's').set('content-type', 'application/json').send(scalar);
      expect({ scalar, status: res.status, code: res.body.error.code }).toEqual({ scalar, status: 400, code: 'REQUEST_MALFORMED' });
    }
    const big = await request(app).post(fundingUrl).set(bearer(finance)).set('idempotency-key', 'b').send({ ...fundBody, reference: 'x'.repeat(fundingBodyMaxBytes) });
    expect(big.status).toBe(413);
    expect(await transferCount()).toBe(before);
  });

  it("when the programme is another organisation's or unknown, then 404", async () => {
    expect((await request(app).post(`/v1/programmes/${otherProgramme}/fundings`).set(bearer(finance)).set('idempotency-key', 'x').send(fundBody)).status).toBe(404);
    expect((await request(app).post('/v1/programmes/nope/fundings').set(bearer(finance)).set('idempotency-key', 'x').send(fundBody)).status).toBe(404);
  });
});

describe('finance reads', () => {
  beforeAll(async () => {
    // A statement long enough to page through: 25 fundings of 1.00 .. 25.00, one with a hostile reference.
    for (let i = 1; i <= 25; i++) {
      const res = await request(app).post(fundingUrl).set(bearer(finance)).set('idempotency-key', `page-${i}`)
        .send({ amount: `${i}.00`, currency: 'KES', source: 'echo-2026', ...(i === 3 ? { reference: '=HYPERLINK("http://x")' } : {}) });
      expect(res.status).toBe(201);
    }
  });

  it('when an account is read, then it shows posted totals and the balance on its normal side', async () => {
    const res = await request(app).get(`/v1/ledgers/KES/accounts/${availableKey}`).set(bearer(finance));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ key: availableKey, normalSide: 'credit', debitsPosted: '0.00', creditsPosted: '1825.50', balance: '1825.50' });
    const donor = await request(app).get(`/v1/ledgers/KES/accounts/funding:${org}:echo-2026`).set(bearer(finance));
    expect(donor.body).toMatchObject({ normalSide: 'debit', balance: '1825.50' });
  });

  it('when a statement is paged, then every line appears once, in order, with its running balance', async () => {
    const lines: { balance: string; amount: string; seq: string }[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < 10; page++) {
      const res: request.Response = await request(app).get(`/v1/ledgers/KES/accounts/${availableKey}/statement`).query({ limit: '7', ...(cursor ? { cursor } : {}) }).set(bearer(finance));
      expect(res.status).toBe(200);
      lines.push(...res.body.lines);
      cursor = res.body.nextCursor;
      if (!cursor) break;
    }
    expect(lines).toHaveLength(26);
    expect(new Set(lines.map((l) => l.seq)).size).toBe(26);
    let running = 0;
    for (const l of lines) {
      running += Math.round(Number(l.amount) * 100); // test arithmetic on small exact cents only
      expect(Math.round(Number(l.balance) * 100)).toBe(running);
    }
    expect(lines[lines.length - 1]!.balance).toBe('1825.50');
  });

  it.each([
    ['limit=0', { limit: '0' }],
    ['limit=1001', { limit: '1001' }],
    ['limit=abc', { limit: 'abc' }],
    ['a forged cursor', { cursor: Buffer.from('s1:; DROP TABLE transfers').toString('base64url') }],
    ['a cursor of another kind', { cursor: Buffer.from('k1:programme').toString('base64url') }],
    ['a cursor that is not base64url', { cursor: '!!!' }],
    ['two cursors', { cursor: ['a', 'b'] }],
  ])('when the statement query has %s, then 400 QUERY_INVALID', async (_name, query) => {
    const res = await request(app).get(`/v1/ledgers/KES/accounts/${availableKey}/statement`).query(query).set(bearer(finance));
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('QUERY_INVALID');
  });

  it('when the statement is exported as CSV, then it streams every line with a header, and a formula-like reference is defused', async () => {
    const res = await request(app).get(`/v1/ledgers/KES/accounts/${availableKey}/statement.csv`).set(bearer(finance)).buffer(true).parse((r, done) => {
      let text = '';
      r.setEncoding('utf8');
      r.on('data', (c: string) => (text += c));
      r.on('end', () => done(null, text));
    });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/csv/);
    const rows = (res.body as string).trimEnd().split('\r\n');
    expect(rows[0]).toBe('seq,posted_at,transfer_id,journal_id,code,side,amount,counterparty,batch_id,payout_id,reference,balance');
    expect(rows).toHaveLength(27);
    expect(rows[rows.length - 1]).toMatch(/,credit,25\.00,funding:[^,]+:echo-2026,,,,1825\.50$/);
    expect(res.body).toContain(`"'=HYPERLINK(""http://x"")"`);
  });

  it('when the trial balance is read, then Σ debits = Σ credits for the organisation', async () => {
    const res = await request(app).get('/v1/ledgers/KES/trial-balance').set(bearer(await tokenFor(org, ['auditor'])));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ currency: 'KES', balanced: true, totals: { debits: '1825.50', credits: '1825.50' } });
    expect(res.body.rows.map((r: { kind: string }) => r.kind)).toEqual(['funding', 'programme']);
  });

  it('when accounts are listed, then only the caller organisation\'s appear, page by page', async () => {
    const first = await request(app).get('/v1/ledgers/KES/accounts').query({ limit: '1' }).set(bearer(finance));
    expect(first.status).toBe(200);
    expect(first.body.accounts).toHaveLength(1);
    const second = await request(app).get('/v1/ledgers/KES/accounts').query({ limit: '1', cursor: first.body.nextCursor }).set(bearer(finance));
    const keys = [...first.body.accounts, ...second.body.accounts].map((a: { key: string }) => a.key);
    expect(keys).toEqual([`funding:${org}:echo-2026`, availableKey]);
  });

  it('when a journal is read, then its transfers are shown; another organisation\'s journal is not found', async () => {
    const first = await request(app).post(fundingUrl).set(bearer(finance)).set('idempotency-key', 'journal-read').send({ amount: '1.00', currency: 'KES', source: 'echo-2026' });
    const res = await request(app).get(`/v1/journals/${first.body.fundingId}`).set(bearer(finance));
    expect(res.status).toBe(200);
    expect(res.body.transfers).toEqual([expect.objectContaining({ id: first.body.fundingId, code: 'funding', amount: '1.00', creditAccount: availableKey })]);
    const other = postings.funding({ idempotencyKey: 'other', organisationId: otherOrg, programmeId: otherProgramme, source: 'donor', currency: 'KES', amountMinor: 5_00n });
    expect((await request(app).get(`/v1/journals/${other.id}`).set(bearer(finance))).status).toBe(404);
    expect((await request(app).get('/v1/journals/not-a-uuid').set(bearer(finance))).status).toBe(404);
  });

  it("when another organisation's account is read, then 404 — it is not even said to exist", async () => {
    const key = accounts.programmeAvailable(otherOrg, otherProgramme).key;
    expect((await request(app).get(`/v1/ledgers/KES/accounts/${key}`).set(bearer(finance))).status).toBe(404);
    expect((await request(app).get(`/v1/ledgers/KES/accounts/${key}/statement`).set(bearer(finance))).status).toBe(404);
    expect((await request(app).get(`/v1/ledgers/KES/accounts/${key}/statement.csv`).set(bearer(finance))).status).toBe(404);
    // The other organisation's own finance sees it.
    const theirs = await request(app).get(`/v1/ledgers/KES/accounts/${key}`).set(bearer(await tokenFor(otherOrg, ['finance'])));
    expect(theirs.body.balance).toBe('5.00');
  });

  it('when the currency in the path is unknown, then 400', async () => {
    expect((await request(app).get('/v1/ledgers/XYZ/trial-balance').set(bearer(finance))).status).toBe(400);
    expect((await request(app).get('/v1/ledgers/kes/accounts').set(bearer(finance))).status).toBe(400);
  });
});

// The API's hardening (issue #15 item 5), over every route of the permission table where it applies:
//  - a JSON body with a member name twice in one object is refused, 400 REQUEST_MALFORMED, on every
//    route that reads JSON (the signed batch document included), before anything acts on it;
//  - CORS is closed: no answer carries Access-Control-*, and a preflight (any OPTIONS) is refused;
//  - per route class, a rate per source address (429 RATE_LIMITED, Retry-After) and a deadline
//    past which the connection is closed;
//  - an internal error answers 500 INTERNAL and nothing else: no stack, no SQL, no message.
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import request from 'supertest';
import { createApp, type ApiDeps } from '../../src/adapters/http/app.js';
import { createAuthenticator, type CallerRole } from '../../src/adapters/http/auth.js';
import { rateWindowMs } from '../../src/adapters/http/limits.js';
import { routeKeys, routeOf, routePermissions, rolesOf, type RouteKey } from '../../src/adapters/http/permissions.js';
import type { Persistence } from '../../src/application/ports.js';
import { errorCodes } from '../../src/domain/errors.js';
import { bearer, postJson, startTestApi, type TestApi } from '../support/api.js';
import { testAuthConfig, tokenFor } from '../support/auth.js';
import { batchDocument, kenyanPayout, setUpProgramme } from '../support/fixtures.js';

const organisationId = 'org-hardening';
/** A well-formed value for each path parameter (nothing needs to exist: the checks come first). */
const ids: Record<string, string> = {
  batchId: randomUUID(), payoutId: randomUUID(), kid: 'A'.repeat(43), programmeId: 'prog-none', currency: 'KES', accountKey: 'programme:prog-none:available',
  journalId: randomUUID(), statementId: randomUUID(), itemId: 'line-1', decisionId: randomUUID(), token: 'T'.repeat(43),
};
const urlOf = (key: RouteKey) => routeOf(key).path.replace(/:([A-Za-z]+)/g, (_m, name: string) => ids[name]!);
const tokenOf = async (key: RouteKey) => {
  const roles = rolesOf(key);
  return roles.length > 0 ? `Bearer ${await tokenFor(organisationId, [roles[0]!] as CallerRole[])}` : null;
};
/** Routes whose body is JSON: every POST and PUT but the statement upload (a file) and the pull (no body). */
const jsonRoutes = routeKeys.filter((key) => routeOf(key).method !== 'get' && key !== 'POST /v1/reconciliations' && key !== 'POST /v1/reconciliations/pull');

describe('the API with its database', () => {
  let api: TestApi;
  beforeAll(async () => (api = await startTestApi()));
  afterAll(async () => api?.close());

  describe('a member name twice in one object', () => {
    it.each(jsonRoutes)('when %s is sent one, then it is refused 400 REQUEST_MALFORMED', async (key) => {
      const { method } = routeOf(key);
      let req = request(api.app)[method](urlOf(key)).set('content-type', key.includes('/batches') && !key.endsWith('/cancel') ? 'application/jose+json' : 'application/json');
      const token = await tokenOf(key);
      if (token) req = req.set('authorization', token);
      const res = await req.send('{"outcome":"failed","note":"x","nested":{"a":1,"\\u0061":2}}');
      expect({ key, status: res.status, code: res.body.error?.code, detail: res.body.error?.detail }).toEqual({ key, status: 400, code: 'REQUEST_MALFORMED', detail: 'a member name appears twice in one object' });
    });

    it('when a signed batch document has a member twice, then it is refused before it is read, and nothing is stored', async () => {
      const s = await setUpProgramme(api.persistence);
      const document = batchDocument(s, [kenyanPayout('dup-1')]);
      // The document's own bytes, with a second `currency`: what a JSON.parse would read as the last one.
      const text = JSON.stringify(document).replace('"currency":"KES"', '"currency":"KES","currency":"UGX"');
      const { GeneralSign } = await import('jose');
      const jws = await new GeneralSign(new TextEncoder().encode(text)).addSignature(s.maker.privateKey).setProtectedHeader({ alg: 'ES256', kid: s.maker.kid }).sign();
      const before = await api.footprint();
      const res = await postJson(api.app, '/v1/batches', await bearer(s.organisationId, 'programme_manager'), jws);
      expect({ status: res.status, code: res.body.error?.code, detail: res.body.error?.detail }).toEqual({ status: 400, code: 'REQUEST_MALFORMED', detail: 'the signed document: a member name appears twice in one object' });
      expect(await api.footprint()).toEqual(before);
    });

    it('when the same members are in different objects, then the body is read as before', async () => {
      const s = await setUpProgramme(api.persistence);
      const res = await request(api.app).put(`/v1/programmes/${s.programmeId}/policy`).set('authorization', await bearer(s.organisationId, 'admin'))
        .set('content-type', 'application/json').send('{"approvals":[{"fromTotal":"0","approvers":0},{"fromTotal":"10.00","approvers":1}],"providers":["mpesa"],"payoutMax":null,"rowErrors":"reject_batch"}');
      expect(res.status).toBe(200);
    });
  });

  describe('CORS', () => {
    it.each(routeKeys)('when a browser preflights %s, then it is refused with no Access-Control header, and the route itself sends none', async (key) => {
      const preflight = await request(api.app).options(urlOf(key)).set('origin', 'https://evil.example').set('access-control-request-method', routeOf(key).method.toUpperCase())
        .set('access-control-request-headers', 'authorization,content-type');
      expect({ key, status: preflight.status, code: preflight.body.error?.code }).toEqual({ key, status: 404, code: 'NOT_FOUND' });
      expect(Object.keys(preflight.headers).filter((h) => h.startsWith('access-control-') || h === 'allow')).toEqual([]);
      const token = await tokenOf(key);
      let req = request(api.app)[routeOf(key).method](urlOf(key)).set('origin', 'https://evil.example');
      if (token) req = req.set('authorization', token);
      const res = await req;
      expect({ key, cors: Object.keys(res.headers).filter((h) => h.startsWith('access-control-')) }).toEqual({ key, cors: [] });
      expect(res.headers['cross-origin-resource-policy']).toBe('same-origin');
    });
  });
});

describe('an internal error', () => {
  let api: TestApi;
  // What a failing database says: the SQL, the values, where; none of it may reach the client.
  const failure = () => Object.assign(new Error('syntax error at or near "FROM" in SELECT msisdn, name FROM beneficiaries WHERE id = $1'), {
    code: '42601', detail: 'Key (id)=(254712345678) already exists.', hint: 'check the SQL', where: 'PL/pgSQL function post_journal(jsonb) line 12', table: 'beneficiaries',
  });
  const failing = (real: Persistence): Persistence => {
    const reads = new Proxy(real.read, { get: () => new Proxy({}, { get: () => async () => { throw failure(); } }) });
    return { ...real, read: reads, snapshot: async () => { throw failure(); }, transaction: async () => { throw failure(); } };
  };
  beforeAll(async () => (api = await startTestApi({ persistenceOfApi: failing })));
  afterAll(async () => api?.close());

  it.each([
    ['GET /v1/batches/:batchId', 'programme_manager'],
    ['GET /v1/payouts/:payoutId', 'auditor'],
    ['POST /v1/batches/:batchId/cancel', 'admin'],
    ['GET /v1/signer-keys', 'admin'],
    ['GET /v1/ledgers/:currency/trial-balance', 'finance'],
    ['GET /v1/journals/:journalId', 'finance'],
  ] as const)('when %s meets a database failure, then it answers 500 INTERNAL and not a word of the failure', async (key, role) => {
    const res = await request(api.app)[routeOf(key).method](urlOf(key)).set('authorization', await bearer('org-x', role));
    expect(res.status).toBe(500);
    expect(res.body).toEqual({ error: { code: 'INTERNAL', message: errorCodes.INTERNAL.message } });
    expect(res.text).not.toMatch(/SELECT|FROM|syntax|beneficiaries|254712|PL\/pgSQL|42601|\bat\b|\.ts|node_modules/i);
    expect(Object.values(res.headers).join('\n')).not.toMatch(/SELECT|syntax|beneficiaries/i);
  });

  it('when a body is not JSON, then the parser\'s message (which quotes the body) is not passed on', async () => {
    const res = await request(api.app).put('/v1/programmes/p/policy').set('authorization', await bearer('org-x', 'admin')).set('content-type', 'application/json').send('{"secret-254712345678":');
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: { code: 'REQUEST_MALFORMED', message: errorCodes.REQUEST_MALFORMED.message } });
  });
});

describe('limits per route class', () => {
  /** The API without a database: nothing here gets past authentication and the body. */
  const appWith = (limits: ApiDeps['limits']) => createApp({
    persistence: {} as Persistence, vault: {} as ApiDeps['vault'], batchPayoutsMax: 10, now: () => new Date(), bodyMaxBytes: 64 * 1024,
    logger: pino({ level: 'silent' }), readiness: async () => ({ database: true, transport: true }), authenticate: createAuthenticator(testAuthConfig),
    ...(limits ? { limits } : {}),
  });

  it('when a source address sends more requests of a class than its rate, then the rest are refused 429 RATE_LIMITED with Retry-After, other classes and health still answer', async () => {
    const app = appWith({ ratePerMinute: { read: 3, write: 2, bulk: 1, callback: 2 } });
    const statuses = async (key: RouteKey, n: number) => {
      const out: number[] = [];
      for (let i = 0; i < n; i++) out.push((await request(app)[routeOf(key).method](urlOf(key)).set('content-type', 'application/json').send(routeOf(key).method === 'get' ? undefined : '{}')).status);
      return out;
    };
    // Unauthenticated requests count too: the rate comes before the token.
    expect(await statuses('GET /v1/batches/:batchId', 2)).toEqual([401, 401]);
    expect(await statuses('GET /v1/audit', 1)).toEqual([401]);
    const refused = await request(app).get(urlOf('GET /v1/payouts/:payoutId'));
    expect({ status: refused.status, code: refused.body.error?.code, retryAfter: refused.headers['retry-after'] }).toEqual({ status: 429, code: 'RATE_LIMITED', retryAfter: String(rateWindowMs / 1000) });
    expect(refused.body.error.detail).toBe('at most 3 read requests a minute from one address');
    expect(await statuses('POST /v1/batches/:batchId/cancel', 3)).toEqual([401, 401, 429]);
    expect(await statuses('GET /v1/reconciliations/:statementId/report.csv', 2)).toEqual([401, 429]);
    expect((await statuses('POST /v1/callbacks/mpesa/:token', 3)).map((status) => status === 429)).toEqual([false, false, true]);
    expect(await statuses('GET /healthz', 10)).toEqual(Array(10).fill(200));
  });

  it('when no rate is configured, then nothing is rate limited', async () => {
    const app = appWith(undefined);
    for (let i = 0; i < 50; i++) expect((await request(app).get(urlOf('GET /v1/batches/:batchId'))).status).toBe(401);
  });

  it.each(routeKeys.filter((k) => routePermissions[k].class !== 'public'))('when %s is rate limited, then it is by its class', async (key) => {
    const cls = routePermissions[key].class;
    const app = appWith({ ratePerMinute: { read: 1, write: 1, bulk: 1, callback: 1 } });
    const send = () => request(app)[routeOf(key).method](urlOf(key));
    await send();
    const res = await send();
    expect({ key, status: res.status, detail: res.body.error?.detail }).toEqual({ key, status: 429, detail: `at most 1 ${cls} requests a minute from one address` });
  });

  describe('deadlines', () => {
    let server: http.Server;
    let port: number;
    beforeAll(async () => {
      server = http.createServer(appWith({ timeoutMs: { write: 300, callback: 300 } }));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      port = (server.address() as AddressInfo).port;
    });
    afterAll(async () => new Promise<void>((resolve) => server.close(() => resolve())));

    /** Sends the headers and part of the body, then waits: what the client sees, and when. */
    const slowBody = (path: string, headers: Record<string, string>) => new Promise<{ outcome: string; ms: number }>((resolve) => {
      const started = Date.now();
      const req = http.request({ host: '127.0.0.1', port, path, method: 'POST', headers: { 'content-type': 'application/json', 'content-length': '100', ...headers } });
      req.on('response', (res) => resolve({ outcome: `answered ${res.statusCode}`, ms: Date.now() - started }));
      req.on('error', (error: NodeJS.ErrnoException) => resolve({ outcome: `closed (${error.code ?? error.message})`, ms: Date.now() - started }));
      req.write('{"note":');
      setTimeout(() => {
        req.destroy();
        resolve({ outcome: 'still open', ms: Date.now() - started });
      }, 3_000).unref();
    });

    it('when a client sends its body slower than its route allows, then the connection is closed at the deadline', async () => {
      const token = `Bearer ${await tokenFor(organisationId, ['finance'])}`;
      const slow = await slowBody(urlOf('POST /v1/payouts/:payoutId/decision'), { authorization: token });
      expect(slow.outcome).toMatch(/^closed \((ECONNRESET|socket hang up)\)$/);
      expect(slow.ms).toBeGreaterThanOrEqual(250);
      expect(slow.ms).toBeLessThan(2_000);
      const callback = await slowBody(urlOf('POST /v1/callbacks/mpesa/:token'), {});
      expect(callback.outcome).toMatch(/^closed/);
    });

    it('when a request is answered in time, then the deadline does nothing to it or its connection', async () => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      const get = () => new Promise<number>((resolve, reject) => {
        http.get({ host: '127.0.0.1', port, path: urlOf('POST /v1/batches/:batchId/cancel'), agent }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        }).on('error', reject);
      });
      expect(await get()).toBe(404);
      await new Promise((r) => setTimeout(r, 500));
      expect(await get()).toBe(404); // the same kept-alive socket, past the first request's deadline
      agent.destroy();
    });
  });
});

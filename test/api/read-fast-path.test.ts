// The status reads' path outside Express (read-fast-path.ts) answers as the Express routes do: the
// same status, body and headers, Express's weak ETag included, for every caller the routes admit
// or refuse; the same limits. Express routes case-insensitively, so the same route spelled
// `/v1/Payouts/...` is served by Express: each case is sent both ways and the answers compared, and
// the handler tells the test which path answered. Real PostgreSQL.
import request from 'supertest';
import { createApiHandler, type ApiDeps, type ServedBy } from '../../src/adapters/http/app.js';
import { createAuthenticator } from '../../src/adapters/http/auth.js';
import type { Persistence } from '../../src/application/ports.js';
import { createLogger } from '../../src/cli/logger.js';
import { payoutIdOf } from '../../src/domain/ids.js';
import { testAuthConfig, tokenFor } from '../support/auth.js';
import { bearer, postJson, startTestApi, type TestApi } from '../support/api.js';
import { batchDocument, setUpProgramme, sign } from '../support/fixtures.js';
import { logSink } from '../support/log-sink.js';
import { net } from '../support/net.js';

/** Headers that differ between any two answers, left out of comparisons (the ETag is compared: it is of the body). */
const varying = new Set(['date', 'x-request-id', 'connection', 'keep-alive']);
const headersOf = (res: request.Response) => Object.fromEntries(Object.entries(res.headers).filter(([k]) => !varying.has(k)).sort(([a], [b]) => a.localeCompare(b)));
const answerOf = (res: request.Response) => ({ status: res.status, body: res.body as unknown, headers: headersOf(res) });
const roles = ['programme_manager', 'approver', 'finance', 'admin', 'auditor'] as const;

describe('the status reads outside Express, against the Express routes', () => {
  let api: TestApi;
  let served: ServedBy[] = [];
  let organisationId: string;
  let otherOrganisationId: string;
  let batchId: string;
  let payoutId: string;
  beforeAll(async () => {
    api = await startTestApi({ served: (by) => served.push(by) });
    const s = await setUpProgramme(api.persistence, 100_000_00n);
    organisationId = s.organisationId;
    otherOrganisationId = (await setUpProgramme(api.persistence, 100_000_00n)).organisationId;
    const document = batchDocument(s, [{ ref: 'read-1', provider: 'mpesa', msisdn: '+254712000111', amount: '100.00' }, { ref: 'read-2', provider: 'mpesa', msisdn: '+254712000222', amount: '25.00' }]);
    const res = await postJson(api.app, '/v1/batches', await bearer(s.organisationId, 'programme_manager'), await sign(document, s.maker));
    expect(res.status).toBe(201);
    batchId = document.batchId;
    payoutId = payoutIdOf(document.batchId, 'read-1');
  });
  afterAll(async () => api?.close());

  /** GETs `path` with `authorization` (none when null), noting which path answered. */
  async function get(path: string, authorization: string | null, headers: Record<string, string> = {}): Promise<request.Response & { by: ServedBy[] }> {
    served = [];
    const req = request(api.app).get(path).set(headers);
    const res = await (authorization === null ? req : req.set('authorization', authorization));
    return Object.assign(res, { by: served });
  }
  const both = async (resource: 'payouts' | 'batches', id: string, authorization: string | null) => {
    const fast = await get(`/v1/${resource}/${id}`, authorization);
    const express = await get(`/v1/${resource[0]!.toUpperCase()}${resource.slice(1)}/${id}`, authorization);
    expect({ fast: fast.by, express: express.by }).toEqual({ fast: ['read-fast-path'], express: ['express'] });
    expect(answerOf(fast)).toEqual(answerOf(express));
    return fast;
  };

  it.each(roles)('when a %s of the organisation reads a payout and its batch, then the fast path answers 200 byte for byte as Express does, ETag included', async (role) => {
    const auth = await bearer(organisationId, role);
    const payout = await both('payouts', payoutId, auth);
    expect(payout.status).toBe(200);
    expect(payout.body).toMatchObject({ batchId, ref: 'read-1', amount: '100.00' });
    expect(payout.headers.etag).toMatch(/^W\/"[0-9a-f]+-[A-Za-z0-9+/]{27}"$/);
    expect(payout.headers['cache-control']).toBe('no-store');
    expect(payout.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(payout.headers['content-security-policy']).toBeDefined();
    const batch = await both('batches', batchId, auth);
    expect(batch.status).toBe(200);
    expect(batch.body).toMatchObject({ batchId, payoutCount: 2 });
  });

  it.each([
    ['no token', async () => null],
    ['a token that is not a JWT', async () => 'Bearer not-a-token'],
    ['a token signed by another key', async () => `Bearer ${await tokenFor('org', ['finance'], { issuer: 'https://someone-else.example' })}`],
    ['an expired token', async () => `Bearer ${await tokenFor('org', ['finance'], { expiresIn: '-10m' })}`],
    ['a Basic credential', async () => 'Basic dXNlcjpwYXNz'],
  ])('when a read comes with %s, then the fast path refuses it 401 as Express does', async (_case, authorization) => {
    const auth = await authorization();
    for (const [resource, id] of [['payouts', payoutId], ['batches', batchId]] as const) {
      const res = await both(resource, id, auth);
      expect(res.status).toBe(401);
      expect(res.headers['www-authenticate']).toBe('Bearer');
      expect((res.body as { error: { code: string } }).error.code).toBe('AUTH_UNAUTHENTICATED');
    }
  });

  it('when another organisation reads the payout or its batch, or anyone reads an id that does not exist, then 404 as Express answers, the same for both', async () => {
    const other = await bearer(otherOrganisationId, 'admin');
    const own = await bearer(organisationId, 'admin');
    const answers = [
      await both('payouts', payoutId, other),
      await both('batches', batchId, other),
      await both('payouts', '00000000-0000-4000-8000-000000000000', own),
      await both('batches', '00000000-0000-4000-8000-000000000000', own),
    ];
    // Another organisation's payout answers exactly as one that does not exist.
    expect(answers.map((a) => a.status)).toEqual([404, 404, 404, 404]);
    expect(answers[0]!.body).toEqual(answers[2]!.body);
    expect(answers[1]!.body).toEqual(answers[3]!.body);
  });

  it('when a read is spelled otherwise, conditional, or with a body, then Express answers it', async () => {
    const auth = await bearer(organisationId, 'finance');
    const cases: [string, Record<string, string>][] = [
      [`/v1/payouts/${payoutId.toUpperCase()}`, {}],
      [`/v1/payouts/${payoutId}?fields=all`, {}],
      [`/v1/payouts/${payoutId}/`, {}],
      [`//v1/payouts/${payoutId}`, {}],
    ];
    for (const [path, headers] of cases) {
      const res = await get(path, auth, headers);
      expect({ path, by: res.by }).toEqual({ path, by: ['express'] });
    }
    // A conditional read of what was just answered: Express says 304 Not Modified.
    const first = await get(`/v1/payouts/${payoutId}`, auth);
    expect(first.by).toEqual(['read-fast-path']);
    const again = await get(`/v1/payouts/${payoutId}`, auth, { 'if-none-match': String(first.headers.etag) });
    expect({ by: again.by, status: again.status }).toEqual({ by: ['express'], status: 304 });
    // A HEAD, and a GET with a body, go to Express too.
    served = [];
    await request(api.app).head(`/v1/payouts/${payoutId}`).set('authorization', auth);
    expect(served).toEqual(['express']);
    served = [];
    await request(api.app).get(`/v1/payouts/${payoutId}`).set('authorization', auth).set('content-type', 'application/json').send('{}');
    expect(served).toEqual(['express']);
  });
});

describe('the status reads outside Express, their limits and failures', () => {
  const id = '11111111-1111-4111-8111-111111111111';
  function handlerWith(limits: ApiDeps['limits'], persistence: Persistence, level = 'silent') {
    const { lines, stream } = logSink();
    const served: ServedBy[] = [];
    const handler = createApiHandler({
      persistence, vault: {} as ApiDeps['vault'], batchPayoutsMax: 10, now: () => new Date(), bodyMaxBytes: 64 * 1024,
      logger: createLogger(level, 'tuma', stream), readiness: async () => ({ database: true, transport: true }), authenticate: createAuthenticator(testAuthConfig),
      limits,
    }, { served: (by) => served.push(by) });
    return { handler, lines, served };
  }
  const failing = { read: { payouts: { findView: async () => Promise.reject(new Error('database down')) } } } as unknown as Persistence;
  const hanging = { read: { payouts: { findView: () => new Promise(() => undefined) } } } as unknown as Persistence;

  it('when a source reads more than its rate, then the fast path and Express share one budget: the third of two allowed is refused 429', async () => {
    const { handler, served } = handlerWith({ ratePerMinute: { read: 2 } }, failing);
    const statuses: number[] = [];
    for (const path of [`/v1/payouts/${id}`, `/v1/Payouts/${id}`, `/v1/payouts/${id}`]) statuses.push((await request(handler).get(path)).status);
    expect(statuses).toEqual([401, 401, 429]);
    expect(served).toEqual(['read-fast-path', 'express', 'express']);
  });

  it('when the read fails, then 500 INTERNAL as Express answers it, and the failure is logged with the path alone', async () => {
    const { handler, lines, served } = handlerWith({}, failing, 'warn');
    const auth = `Bearer ${await tokenFor('org-1', ['finance'])}`;
    const a = await request(handler).get(`/v1/payouts/${id}`).set('authorization', auth);
    const b = await request(handler).get(`/v1/Payouts/${id}`).set('authorization', auth);
    expect(served).toEqual(['read-fast-path', 'express']);
    expect({ status: a.status, body: a.body as unknown }).toEqual({ status: b.status, body: b.body as unknown });
    expect((a.body as { error: { code: string } }).error.code).toBe('INTERNAL');
    const logged = lines.map((l) => JSON.parse(l) as { msg: string; req?: { path: string }; err?: { message: string } });
    expect(logged.filter((l) => l.msg === 'request failed').map((l) => [l.req?.path, l.err?.message])).toEqual([[`/v1/payouts/${id}`, 'database down'], [`/v1/Payouts/${id}`, 'database down']]);
    expect(lines.join('\n')).not.toContain(auth.slice(7));
  });

  it('when a read takes longer than the read deadline, then the connection is closed and that is logged', async () => {
    const { handler, lines } = handlerWith({ timeoutMs: { read: 200 } }, hanging, 'warn');
    const token = await tokenFor('org-1', ['finance']);
    const closed = await net.rawExchange(handler, `GET /v1/payouts/${id} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${token}\r\n\r\n`);
    expect(closed.data).toBe('');
    expect(closed.ms).toBeGreaterThanOrEqual(150);
    expect(closed.ms).toBeLessThan(5_000);
    const logged = lines.map((l) => JSON.parse(l) as { msg: string; req?: { path: string } });
    expect(logged.map((l) => [l.msg, l.req?.path])).toEqual([['request timed out: connection closed', `/v1/payouts/${id}`]]);
  });

  it('when the API logs at info, then the fast path still answers, and logs each answer in the line pino-http writes for Express', async () => {
    const { handler, lines, served } = handlerWith({}, failing, 'info');
    const fast = await request(handler).get(`/v1/payouts/${id}`).set('x-request-id', 'read-fast');
    const express = await request(handler).get(`/v1/Payouts/${id}`).set('x-request-id', 'read-express');
    expect(served).toEqual(['read-fast-path', 'express']);
    expect([fast.status, express.status]).toEqual([401, 401]);
    type Line = { level: number; msg: string; req?: { method: string; path: string; id?: string }; res?: { status: number }; responseTime?: number };
    const completed = lines.map((l) => JSON.parse(l) as Line).filter((l) => l.res !== undefined);
    // The same line but the path's spelling, the id and the time taken.
    const shape = (l: Line) => ({ level: l.level, msg: l.msg, method: l.req?.method, res: l.res, keys: Object.keys(l).sort(), reqKeys: Object.keys(l.req ?? {}).sort(), timed: typeof l.responseTime });
    expect(completed.map(shape)).toEqual([shape(completed[1]!), shape(completed[1]!)]);
    expect(completed.map((l) => l.req?.path)).toEqual([`/v1/payouts/${id}`, `/v1/Payouts/${id}`]);
    expect(completed[0]).toMatchObject({ msg: 'request completed', res: { status: 401 } });
    expect([fast.headers['x-request-id'], express.headers['x-request-id']]).toEqual(['read-fast', 'read-express']);
  });
});

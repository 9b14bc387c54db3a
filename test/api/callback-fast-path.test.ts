// The M-Pesa result callbacks' fast path (callback-fast-path.ts) answers as the Express route does:
// the same status, body and headers (but Express's ETag), the same rows stored, the same limits.
// Express routes case-insensitively, so the same route spelled `/v1/callbacks/MPESA/...` is served
// by Express: each case is sent both ways and the answers compared. Express adds an ETag to a JSON
// answer and the fast path does not: that is how a test tells which one answered. Real PostgreSQL.
import { sql } from 'kysely';
import request from 'supertest';
import { createApiHandler, type ApiDeps } from '../../src/adapters/http/app.js';
import { createAuthenticator } from '../../src/adapters/http/auth.js';
import { callbackBodyMaxBytes } from '../../src/adapters/http/routing.js';
import { callbackTokenHash, newCallbackToken } from '../../src/application/callback-token.js';
import type { Persistence } from '../../src/application/ports.js';
import { createLogger } from '../../src/cli/logger.js';
import { attemptKey, payoutIdOf } from '../../src/domain/ids.js';
import { testAuthConfig } from '../support/auth.js';
import { bearer, postJson, startTestApi, type TestApi } from '../support/api.js';
import { batchDocument, setUpProgramme, sign } from '../support/fixtures.js';
import { logSink } from '../support/log-sink.js';
import { net } from '../support/net.js';

const resultBody = (key: string, code = 0) =>
  JSON.stringify({ Result: { ResultType: 0, ResultCode: code, ResultDesc: code === 0 ? 'ok' : 'failed', OriginatorConversationID: key, ConversationID: 'AG_1', TransactionID: 'SG632NMUAB' } });

/** Headers that differ between any two answers (or that only Express sends), left out of comparisons. */
const varying = new Set(['date', 'x-request-id', 'etag', 'connection', 'keep-alive', 'content-length']);
const headersOf = (res: request.Response) => Object.fromEntries(Object.entries(res.headers).filter(([k]) => !varying.has(k)).sort(([a], [b]) => a.localeCompare(b)));
const count = async (api: TestApi, table: 'callbacks' | 'payout_results') => Number((await sql<{ n: string }>`SELECT count(*)::text AS n FROM ${sql.table(table)}`.execute(api.database.db)).rows[0]!.n);

describe('the M-Pesa callbacks fast path, against the Express route', () => {
  let api: TestApi;
  let ref = 0;
  beforeAll(async () => (api = await startTestApi()));
  afterAll(async () => api?.close());

  /** A payout with an attempt and its callback token (M-Pesa). */
  async function attempt(): Promise<{ token: string; key: string; payoutId: string }> {
    const s = await setUpProgramme(api.persistence, 100_000_00n);
    ref += 1;
    const document = batchDocument(s, [{ ref: `fp-${ref}`, provider: 'mpesa', msisdn: '+254712000111', amount: '100.00' }]);
    const res = await postJson(api.app, '/v1/batches', await bearer(s.organisationId, 'programme_manager'), await sign(document, s.maker));
    expect(res.status).toBe(201);
    const payoutId = payoutIdOf(document.batchId, `fp-${ref}`);
    const token = newCallbackToken();
    const key = attemptKey(payoutId, 1);
    await api.persistence.transaction(async (tx) => {
      await tx.payouts.insertAttempts([{ payoutId, attemptNo: 1, idempotencyKey: key, callbackTokenSha256: callbackTokenHash(token), accountId: 'mpesa' }]);
      return { ok: true as const, value: undefined };
    });
    return { token, key, payoutId };
  }
  const post = (path: string, body: string) => request(api.app).post(path).set('content-type', 'application/json').send(body);

  it('when a valid result callback comes on the canonical path, then the fast path answers 200 as Express does, and each stores it once with its result', async () => {
    const fast = await attempt();
    const slow = await attempt();
    const [callbacksBefore, resultsBefore] = [await count(api, 'callbacks'), await count(api, 'payout_results')];
    const a = await post(`/v1/callbacks/mpesa/${fast.token}`, resultBody(fast.key));
    const b = await post(`/v1/callbacks/MPESA/${slow.token}`, resultBody(slow.key));
    expect({ fast: a.headers.etag, express: typeof b.headers.etag }).toEqual({ fast: undefined, express: 'string' });
    expect({ status: a.status, body: a.body, headers: headersOf(a) }).toEqual({ status: b.status, body: b.body, headers: headersOf(b) });
    expect(a.status).toBe(200);
    expect(a.body).toEqual({ ResultCode: 0, ResultDesc: 'Accepted' });
    expect(a.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect([await count(api, 'callbacks'), await count(api, 'payout_results')]).toEqual([callbacksBefore + 2, resultsBefore + 2]);
    // The same delivery again: answered alike, stored no more.
    const again = await post(`/v1/callbacks/mpesa/${fast.token}`, resultBody(fast.key));
    expect({ status: again.status, body: again.body }).toEqual({ status: 200, body: { ResultCode: 0, ResultDesc: 'Accepted' } });
    expect([await count(api, 'callbacks'), await count(api, 'payout_results')]).toEqual([callbacksBefore + 2, resultsBefore + 2]);
  });

  it.each([
    ['a token nobody was given', async () => ({ token: newCallbackToken(), body: resultBody('k') })],
    ['a body that is not JSON', async () => ({ token: (await attempt()).token, body: '{"Result": ' })],
    ['a body with a member twice', async () => ({ token: (await attempt()).token, body: '{"Result":{"ResultCode":0,"ResultCode":1}}' })],
    ['a JSON body that is no M-Pesa result', async () => ({ token: (await attempt()).token, body: '{"hello":"world"}' })],
  ])('when a callback brings %s, then the fast path refuses it as Express does and nothing is stored', async (_case, make) => {
    const before = [await count(api, 'callbacks'), await count(api, 'payout_results')];
    const { token, body } = await make();
    const a = await post(`/v1/callbacks/mpesa/${token}`, body);
    const b = await post(`/v1/callbacks/Mpesa/${token}`, body);
    expect(a.status).toBeGreaterThanOrEqual(400);
    expect({ fast: a.headers.etag, express: typeof b.headers.etag }).toEqual({ fast: undefined, express: 'string' });
    expect({ status: a.status, body: a.body, headers: headersOf(a) }).toEqual({ status: b.status, body: b.body, headers: headersOf(b) });
    expect([await count(api, 'callbacks'), await count(api, 'payout_results')]).toEqual(before);
  });

  it('when a status token comes on the payment route, or a payment token on the status route, then 401 as Express answers', async () => {
    const { token, key } = await attempt();
    const a = await post(`/v1/callbacks/mpesa/${token}/status`, resultBody(key));
    const b = await post(`/v1/callbacks/MPESA/${token}/status`, resultBody(key));
    expect(a.headers.etag).toBeUndefined();
    expect({ status: a.status, body: a.body }).toEqual({ status: b.status, body: b.body });
    expect(a.body.error.code).toBe('CALLBACK_UNAUTHENTICATED');
  });

  it.each([
    ['a trailing slash', (t: string) => `/v1/callbacks/mpesa/${t}/`, 200],
    ['a query string', (t: string) => `/v1/callbacks/mpesa/${t}?x=1`, 200],
    ['a token of the wrong length', (t: string) => `/v1/callbacks/mpesa/${t}x`, 401],
    ['a tail no route has', (t: string) => `/v1/callbacks/mpesa/${t}/other`, 404],
  ])('when the path has %s, then Express answers it (with its ETag), not the fast path', async (_case, pathOf, status) => {
    const { token, key } = await attempt();
    const res = await post(pathOf(token), resultBody(key));
    expect({ status: res.status, etag: typeof res.headers.etag }).toEqual({ status, etag: 'string' });
  });

  it('when a callback is sent with a content encoding, then Express reads it and answers as it answers the same request on its own path (the fast path reads plain bodies alone)', async () => {
    const { gzipSync } = await import('node:zlib');
    const send = async (path: string) => {
      const { token, key } = await attempt();
      return request(api.app).post(path.replace('TOKEN', token)).set('content-type', 'application/json').set('content-encoding', 'gzip').send(gzipSync(resultBody(key)));
    };
    const a = await send('/v1/callbacks/mpesa/TOKEN');
    const b = await send('/v1/callbacks/MPESA/TOKEN');
    expect({ status: a.status, body: a.body, etag: typeof a.headers.etag }).toEqual({ status: b.status, body: b.body, etag: 'string' });
  });

  it('when a callback is larger than the callback body limit, then Express refuses it 413 and nothing is stored', async () => {
    const { token } = await attempt();
    const before = await count(api, 'callbacks');
    const res = await post(`/v1/callbacks/mpesa/${token}`, JSON.stringify({ pad: 'x'.repeat(callbackBodyMaxBytes) }));
    expect(res.status).toBe(413);
    expect(await count(api, 'callbacks')).toBe(before);
  });
});

describe('the fast path at info, against the Express route', () => {
  it('when a valid callback comes at info, then both paths log the route\'s "mpesa callback stored" line and pino-http\'s line alike, no token in either', async () => {
    const { lines, stream } = logSink();
    const api = await startTestApi({ logger: createLogger('info', 'tuma', stream) });
    try {
      const made: { token: string; key: string }[] = [];
      for (const ref of ['info-1', 'info-2']) {
        const s = await setUpProgramme(api.persistence, 100_000_00n);
        const document = batchDocument(s, [{ ref, provider: 'mpesa', msisdn: '+254712000111', amount: '100.00' }]);
        expect((await postJson(api.app, '/v1/batches', await bearer(s.organisationId, 'programme_manager'), await sign(document, s.maker))).status).toBe(201);
        const payoutId = payoutIdOf(document.batchId, ref);
        const token = newCallbackToken();
        const key = attemptKey(payoutId, 1);
        await api.persistence.transaction(async (tx) => {
          await tx.payouts.insertAttempts([{ payoutId, attemptNo: 1, idempotencyKey: key, callbackTokenSha256: callbackTokenHash(token), accountId: 'mpesa' }]);
          return { ok: true as const, value: undefined };
        });
        made.push({ token, key });
      }
      const before = lines.length;
      const a = await request(api.app).post(`/v1/callbacks/mpesa/${made[0]!.token}`).set('content-type', 'application/json').send(resultBody(made[0]!.key));
      const b = await request(api.app).post(`/v1/callbacks/MPESA/${made[1]!.token}`).set('content-type', 'application/json').send(resultBody(made[1]!.key));
      expect({ fast: a.headers.etag, express: typeof b.headers.etag, statuses: [a.status, b.status] }).toEqual({ fast: undefined, express: 'string', statuses: [200, 200] });
      type Line = { level: number; msg: string; req?: { method: string; path: string }; res?: { status: number }; duplicate?: boolean; orphan?: boolean };
      const logged = lines.slice(before).map((l) => JSON.parse(l) as Line).filter((l) => l.msg === 'mpesa callback stored' || l.res !== undefined);
      const shape = (l: Line) => ({ level: l.level, msg: l.msg, path: l.req?.path.toLowerCase(), res: l.res, duplicate: l.duplicate, orphan: l.orphan });
      expect(logged.map(shape)).toEqual([
        { level: 30, msg: 'mpesa callback stored', path: '/v1/callbacks/mpesa/[token]', res: undefined, duplicate: false, orphan: false },
        { level: 30, msg: 'request completed', path: '/v1/callbacks/mpesa/[token]', res: { status: 200 }, duplicate: undefined, orphan: undefined },
        { level: 30, msg: 'mpesa callback stored', path: '/v1/callbacks/mpesa/[token]', res: undefined, duplicate: false, orphan: false },
        { level: 30, msg: 'request completed', path: '/v1/callbacks/mpesa/[token]', res: { status: 200 }, duplicate: undefined, orphan: undefined },
      ]);
      for (const l of lines) for (const { token } of made) expect(l).not.toContain(token);
    } finally {
      await api.close();
    }
  });
});

describe('the fast path and the callback class limits', () => {
  const token = 'B'.repeat(43);
  function handlerWith(limits: ApiDeps['limits'], level = 'silent') {
    const { lines, stream } = logSink();
    // No database: a callback that gets past its limits fails in recordCallback (500, logged).
    const handler = createApiHandler({
      persistence: {} as Persistence, vault: {} as ApiDeps['vault'], batchPayoutsMax: 10, now: () => new Date(), bodyMaxBytes: 64 * 1024,
      logger: createLogger(level, 'tuma', stream), readiness: async () => ({ database: true, transport: true }), authenticate: createAuthenticator(testAuthConfig),
      limits,
    });
    return { handler, lines };
  }

  it('when a source posts more callbacks than its rate, then the fast path and Express share one budget: the third of two allowed is refused 429', async () => {
    const { handler } = handlerWith({ ratePerMinute: { callback: 2 } });
    const statuses: number[] = [];
    for (const path of [`/v1/callbacks/mpesa/${token}`, `/v1/callbacks/MPESA/${token}`, `/v1/callbacks/mpesa/${token}`]) {
      statuses.push((await request(handler).post(path).set('content-type', 'application/json').send('{"Result":{}}')).status);
    }
    expect(statuses).toEqual([500, 500, 429]);
  });

  it('when a callback sends less body than it stated and stalls, then the connection is closed at the callback deadline', async () => {
    const { handler, lines } = handlerWith({ timeoutMs: { callback: 200 } }, 'warn');
    const closed = await net.rawExchange(handler, `POST /v1/callbacks/mpesa/${token} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"Result":`);
    expect(closed.data).toBe('');
    expect(closed.ms).toBeGreaterThanOrEqual(150);
    expect(closed.ms).toBeLessThan(5_000);
    const logged = lines.map((l) => JSON.parse(l) as { msg: string; req?: { path: string } });
    expect(logged.map((l) => l.msg)).toEqual(['request timed out: connection closed']);
    expect(logged[0]!.req?.path).toBe('/v1/callbacks/mpesa/[token]');
  });

  it('when the API logs at info, then the fast path still answers, and logs each answer in the line pino-http writes for Express, its token left out', async () => {
    const { handler, lines } = handlerWith({}, 'info');
    const fast = await request(handler).post(`/v1/callbacks/mpesa/${token}`).set('content-type', 'application/json').send('{"Result":{}}');
    const express = await request(handler).post(`/v1/callbacks/MPESA/${token}`).set('content-type', 'application/json').send('{"Result":{}}');
    expect({ fast: fast.headers.etag, express: typeof express.headers.etag }).toEqual({ fast: undefined, express: 'string' });
    expect([fast.status, express.status]).toEqual([500, 500]);
    type Line = { level: number; msg: string; req?: { method: string; path: string }; res?: { status: number } };
    const completed = lines.map((l) => JSON.parse(l) as Line).filter((l) => l.res !== undefined);
    const shape = (l: Line) => ({ level: l.level, msg: l.msg, res: l.res, keys: Object.keys(l).sort(), path: l.req?.path.toLowerCase() });
    expect(completed.map(shape)).toEqual([shape(completed[1]!), shape(completed[1]!)]);
    expect(completed[0]).toMatchObject({ msg: 'request errored', req: { method: 'POST', path: '/v1/callbacks/mpesa/[token]' }, res: { status: 500 } });
    for (const l of lines) expect(l).not.toContain(token);
  });
});

// A request at a log level above info skips pino-http (app.ts): it still gets its request id, and
// what it logs (a refusal, a failure) carries the request's method and redacted path, as a line
// through pino-http's per-request logger did; at info, pino-http logs it as every other request.
// A provider's callbacks first (a storm of them), then any other request.
import request from 'supertest';
import { createApiHandler, type ApiDeps } from '../../src/adapters/http/app.js';
import { createAuthenticator } from '../../src/adapters/http/auth.js';
import type { Persistence } from '../../src/application/ports.js';
import { createLogger } from '../../src/cli/logger.js';
import { logSink } from '../support/log-sink.js';
import { testAuthConfig, tokenFor } from '../support/auth.js';

const token = 'A'.repeat(43);

function appAt(level: string) {
  const { lines, stream } = logSink();
  // The handler the gateway serves: an M-Pesa callback takes the fast path at warn, Express at info.
  const app = createApiHandler({
    // No database: the first callback fails in its route (logged), the second is rate limited (logged).
    persistence: {} as Persistence, vault: {} as ApiDeps['vault'], batchPayoutsMax: 10, now: () => new Date(), bodyMaxBytes: 64 * 1024,
    logger: createLogger(level, 'tuma', stream), readiness: async () => ({ database: true, transport: true }), authenticate: createAuthenticator(testAuthConfig),
    limits: { ratePerMinute: { callback: 1 } },
  });
  return { app, lines };
}

describe('callback intake logging', () => {
  it('when the level is warn, then a callback has its request id, and its failure and its refusal are logged with the method and the path less its token', async () => {
    const { app, lines } = appAt('warn');
    const first = await request(app).post(`/v1/callbacks/mpesa/${token}`).set('content-type', 'application/json').set('x-request-id', 'cb-1').send('{"Result":{}}');
    expect(first.status).toBe(500);
    expect(first.headers['x-request-id']).toBe('cb-1');
    const second = await request(app).post(`/v1/callbacks/mpesa/${token}`).set('content-type', 'application/json').send('{"Result":{}}');
    expect(second.status).toBe(429);
    expect(second.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    const logged = lines.map((l) => JSON.parse(l) as { msg: string; req?: { method: string; path: string } });
    expect(logged.map((l) => l.msg)).toEqual(['request failed', 'rate limited']);
    for (const l of logged) expect(l.req).toEqual({ method: 'POST', path: '/v1/callbacks/mpesa/[token]' });
    for (const l of lines) expect(l).not.toContain(token);
  });

  it('when the level is warn, then any other request has its request id too, and its failure is logged with its method and path', async () => {
    const { app, lines } = appAt('warn');
    const bearer = await tokenFor('org-1', ['programme_manager']);
    const batchId = '6f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f';
    const failed = await request(app).get(`/v1/batches/${batchId}`).set('authorization', `Bearer ${bearer}`).set('x-request-id', 'read-1');
    expect(failed.status).toBe(500);
    expect(failed.headers['x-request-id']).toBe('read-1');
    const logged = lines.map((l) => JSON.parse(l) as { msg: string; req?: { method: string; path: string } });
    expect(logged.map((l) => l.msg)).toEqual(['request failed']);
    expect(logged[0]!.req).toEqual({ method: 'GET', path: `/v1/batches/${batchId}` });
  });

  it('when the level is info, then each callback answered is logged by pino-http, its path less its token', async () => {
    const { app, lines } = appAt('info');
    await request(app).post(`/v1/callbacks/mpesa/${token}`).set('content-type', 'application/json').send('{"Result":{}}');
    const completed = lines.map((l) => JSON.parse(l) as { msg: string; req?: { path: string }; res?: { status: number } }).filter((l) => l.res !== undefined);
    expect(completed).toHaveLength(1);
    expect(completed[0]!.req?.path).toBe('/v1/callbacks/mpesa/[token]');
    for (const l of lines) expect(l).not.toContain(token);
  });

  it('when a callback path is spelled in capitals, then it still reaches the callback routes (routing is case-insensitive)', async () => {
    const { app } = appAt('silent');
    const res = await request(app).post(`/V1/CALLBACKS/mpesa/${token}`).set('content-type', 'application/json').send('{"Result":{}}');
    // Past the route's rate limit and into the route (which fails without a database), not 404.
    expect(res.status).toBe(500);
  });
});

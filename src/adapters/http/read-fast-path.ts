// The status reads outside Express (issue #17): GET /v1/batches/{id} and GET /v1/payouts/{id},
// what programme managers' dashboards and integrations poll most. Express's own handling of a
// request cost about as much CPU as the read itself (fast-path.ts), and the reads' tail (p99) is
// where the API queues behind it. This path takes a request only where it answers as the Express
// route does: a GET of the route's exact path (a lower-case id, no query, no trailing slash), no
// body, no conditional header (Express answers 304 to a fresh If-None-Match: such requests go to
// it), and the read class's rate budget passed first. What it keeps, in the route's order: the
// class's deadline; the bearer token's check (the same authenticator); the permission table's
// roles for the route (permissions.ts; refusalOf, as requireRole answers); the organisation's
// scope (another organisation's id is 404 NOT_FOUND, as one that does not exist); the same read
// (application/queries.ts); every header Express sends, its weak ETag included; 500 with the
// request logged on a failure; at info, the same pino-http line for each answer. Anything else goes
// to Express untouched.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Request } from 'express';
import { getBatchView, getPayout } from '../../application/queries.js';
import { reject } from '../../domain/errors.js';
import type { ApiDeps } from './api-deps.js';
import { refusalOf } from './auth.js';
import { fastAnswers, type FastPathCommon } from './fast-path.js';
import { closeAtDeadline, type ClassLimits } from './limits.js';
import { permissionOf, rolesOf, type RouteKey } from './permissions.js';

const readPath = /^\/v1\/(batches|payouts)\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/;

/** The routes this path answers, by the path's first segment: their table entries decide who may read. */
const readRoutes = {
  batches: 'GET /v1/batches/:batchId',
  payouts: 'GET /v1/payouts/:payoutId',
} as const satisfies Record<string, RouteKey>;

/**
 * A handler for node:http's request event that answers the reads it takes and returns true; false
 * (the request untouched: nothing read, nothing written) for Express to handle.
 */
export function readFastPath(deps: ApiDeps, limits: ClassLimits, common: FastPathCommon): (req: IncomingMessage, res: ServerResponse) => boolean {
  for (const key of Object.values(readRoutes)) {
    if (permissionOf(key).class !== 'read' || permissionOf(key).scope !== 'organisation') throw new Error(`invariant violated: ${key} is no longer an organisation-scoped read`);
  }
  const timeoutMs = limits.timeoutMs('read');
  const { json, sendRejection } = fastAnswers(common, { etag: true });

  return (req, res) => {
    if (req.method !== 'GET') return false;
    const match = readPath.exec(req.url ?? '');
    if (!match) return false;
    const h = req.headers;
    if (h['if-none-match'] !== undefined || h['if-modified-since'] !== undefined || h['content-length'] !== undefined || h['transfer-encoding'] !== undefined) return false;
    // Taken from here on: the class's budget is spent for it, as Express's rate limit would.
    if (!limits.admits('read', req.socket.remoteAddress ?? 'unknown')) return false;

    const log = common.begin(req, res);
    closeAtDeadline(res, timeoutMs, log);
    const resource = match[1] as keyof typeof readRoutes;
    const id = match[2]!;
    const roles = rolesOf(readRoutes[resource]);
    // The authenticator reads the request's authorization header only.
    void deps
      .authenticate(req as Request)
      .then(async (caller) => {
        const refusal = refusalOf(caller, roles, res);
        if (refusal) return sendRejection(res, refusal);
        const { organisationId } = caller!;
        const view = resource === 'batches'
          ? await getBatchView(deps.persistence, organisationId, id, { reuseCounts: true })
          : await getPayout(deps.persistence, organisationId, id);
        if (res.destroyed) return;
        if (!view) return sendRejection(res, reject('NOT_FOUND'));
        json(res, 200, view);
      })
      .catch((error: unknown) => {
        log().error({ err: error }, 'request failed');
        if (res.headersSent) return void res.destroy();
        sendRejection(res, reject('INTERNAL'));
      });
    return true;
  };
}

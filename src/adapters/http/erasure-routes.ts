// Erasure of a programme's beneficiary data (issue #15 item 3), maker–checker between two admins:
//   POST /v1/programmes/{id}/erasure           an admin asks ({reason}); 201, or 200 for the same request again
//   POST /v1/programmes/{id}/erasure/confirm   another admin confirms (no body, or {erasureId}); 200
//   GET  /v1/programmes/{id}/erasure           where it stands (admin, auditor)
//   PUT  /v1/programmes/{id}/retention         how long its beneficiary data is kept ({days} or null; admin)
// Another organisation's programme is NOT_FOUND. Nothing here returns a name or a number: erasure
// views carry ids, counts, times and the requesting admins' reason.
// Mounted like reconciliation-pull-route.ts: the permission table (permissions.ts) has an entry for
// each of erasureRouteKeys, whose check (guardRoute) goes in front; the routes check their roles again.
import { jsonBody } from './json-body.js';
import { Router, type IRouter, type NextFunction, type Request, type Response } from 'express';
import { confirmErasure, getErasure, requestErasure, setRetention, type ErasureStore } from '../../application/erase-programme.js';
import type { BeneficiaryVault, Persistence } from '../../application/ports.js';
import { reject } from '../../domain/errors.js';
import { callerOf, requireRole, type Authenticate } from './auth.js';
import { sendRejection } from './errors.js';

/** What the routes need of the API's deps (ApiDeps is one once it carries `erasure`). */
export interface ErasureRouteDeps {
  readonly authenticate: Authenticate;
  readonly persistence: Persistence;
  readonly vault: Pick<BeneficiaryVault, 'forget'>;
  readonly now: () => Date;
  /** Absent: 503. */
  readonly erasure?: ErasureStore;
}

/** The routes this module registers, as the permission table keys them. */
export const erasureRouteKeys = [
  'GET /v1/programmes/:programmeId/erasure',
  'POST /v1/programmes/:programmeId/erasure',
  'POST /v1/programmes/:programmeId/erasure/confirm',
  'PUT /v1/programmes/:programmeId/retention',
] as const;

/** An erasure or retention body is a few short members. */
export const erasureBodyMaxBytes = 4 * 1024;
const programmePattern = /^[A-Za-z0-9_.:-]{1,64}$/;

// The API's own JSON parser: a member twice is refused (400) like on every other route.
const json = jsonBody({ limit: erasureBodyMaxBytes, type: () => true });
/** No body at all is fine (a confirmation). */
const optionalJson = jsonBody({
  limit: erasureBodyMaxBytes,
  type: (req) => Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined,
});

type Handler = (req: Request, res: Response) => Promise<void>;
const route = (handler: Handler) => (req: Request, res: Response, next: NextFunction) => {
  handler(req, res).catch(next);
};

const requestIdOf = (req: Request): string | null => (req.id === undefined ? null : String(req.id).slice(0, 128));

/** Registers the erasure routes on `app`, before its not-found handler. */
export function registerErasureRoutes(app: IRouter, deps: ErasureRouteDeps): void {
  const admin = requireRole(deps.authenticate, 'admin');
  const readers = requireRole(deps.authenticate, 'admin', 'auditor');
  const depsOf = (res: Response) => {
    if (!deps.erasure) {
      sendRejection(res, reject('SERVICE_UNAVAILABLE', 'erasure is not configured in this process'));
      return null;
    }
    return { persistence: deps.persistence, erasure: deps.erasure, vault: deps.vault, now: deps.now };
  };
  const programmeOf = (req: Request, res: Response): string | null => {
    const id = String(req.params.programmeId);
    if (programmePattern.test(id)) return id;
    sendRejection(res, reject('NOT_FOUND'));
    return null;
  };

  app.post('/v1/programmes/:programmeId/erasure', admin, json, route(async (req, res) => {
    const d = depsOf(res);
    const id = d && programmeOf(req, res);
    if (!d || !id) return;
    const result = await requestErasure(d, callerOf(req), id, req.body, requestIdOf(req));
    if (!result.ok) return sendRejection(res, result.error);
    req.log?.info({ programmeId: id, erasureId: result.value.view.request?.erasureId, replayed: result.value.replayed }, 'programme erasure requested');
    res.status(result.value.replayed ? 200 : 201).json(result.value.view);
  }));

  app.post('/v1/programmes/:programmeId/erasure/confirm', admin, optionalJson, route(async (req, res) => {
    const d = depsOf(res);
    const id = d && programmeOf(req, res);
    if (!d || !id) return;
    const result = await confirmErasure(d, callerOf(req), id, req.body, requestIdOf(req));
    if (!result.ok) return sendRejection(res, result.error);
    const v = result.value.view;
    req.log?.info({ programmeId: id, erasureId: v.request?.erasureId, payouts: v.request?.payouts, statements: v.statements.length, replayed: result.value.replayed }, 'programme erased');
    res.status(200).json(v);
  }));

  app.get('/v1/programmes/:programmeId/erasure', readers, route(async (req, res) => {
    const d = depsOf(res);
    const id = d && programmeOf(req, res);
    if (!d || !id) return;
    const result = await getErasure(d, callerOf(req), id);
    if (!result.ok) return sendRejection(res, result.error);
    res.json(result.value);
  }));

  app.put('/v1/programmes/:programmeId/retention', admin, json, route(async (req, res) => {
    const d = depsOf(res);
    const id = d && programmeOf(req, res);
    if (!d || !id) return;
    const result = await setRetention(d, callerOf(req), id, req.body, requestIdOf(req));
    if (!result.ok) return sendRejection(res, result.error);
    res.json(result.value);
  }));
}

/** The same routes as a router of their own, for `app.use(erasureRouter(deps))` beside the other resource routers. */
export function erasureRouter(deps: ErasureRouteDeps): Router {
  const router = Router();
  registerErasureRoutes(router, deps);
  return router;
}

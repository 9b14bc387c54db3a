// Administration and oversight: the organisation's audit log (auditors and admins).
import { Router } from 'express';
import { auditCursorPattern, auditPageDefault, auditPageMax, listAudit } from '../../../application/audit.js';
import { reject } from '../../../domain/errors.js';
import type { ApiDeps } from '../api-deps.js';
import { callerOf } from '../auth.js';
import { sendRejection } from '../errors.js';
import { routesOn, type RouteSetup } from '../permissions.js';
import { oneString, route } from '../routing.js';

export function adminRouter(deps: ApiDeps, setup: RouteSetup): Router {
  const router = Router();
  const on = routesOn(router, setup);

  // The organisation's audit log, oldest first, a page at a time (auditors and admins).
  on('GET /v1/audit', route(async (req, res) => {
    const after = oneString(req.query.after);
    const limitText = oneString(req.query.limit);
    const limit = limitText === undefined ? auditPageDefault : limitText !== null && /^[1-9][0-9]{0,3}$/.test(limitText) ? Number(limitText) : NaN;
    if (after === null || (after !== undefined && !auditCursorPattern.test(after)) || Number.isNaN(limit) || limit > auditPageMax) {
      return sendRejection(res, reject('QUERY_INVALID', `after: a seq from the last page's next; limit: 1 to ${auditPageMax}`));
    }
    res.json(await listAudit(deps.persistence, callerOf(req).organisationId, { cursor: after ?? null, limit }));
  }));

  return router;
}

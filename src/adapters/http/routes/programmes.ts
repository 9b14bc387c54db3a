// Programmes: their policy (administrators set it, the organisation reads it) and their funding (finance).
import { Router } from 'express';
import { getPolicy, setPolicy } from '../../../application/admin.js';
import { recordFunding } from '../../../application/ledger.js';
import { listRepayRequests } from '../../../application/repay-requests.js';
import { programmeProviderAccounts } from '../../../application/submit-batch.js';
import { reject } from '../../../domain/errors.js';
import type { ApiDeps } from '../api-deps.js';
import { callerOf } from '../auth.js';
import { sendRejection } from '../errors.js';
import { guardRoute, routesOn, type RouteSetup } from '../permissions.js';
import { erasureRouteKeys, registerErasureRoutes } from '../erasure-routes.js';
import { fundingJson, route, smallJson } from '../routing.js';

export function programmesRouter(deps: ApiDeps, setup: RouteSetup): Router {
  const router = Router();
  const on = routesOn(router, setup);

  on('GET /v1/programmes/:programmeId/policy', route(async (req, res) => {
    const policy = await getPolicy(deps.persistence, callerOf(req), String(req.params.programmeId));
    if (!policy) return sendRejection(res, reject('NOT_FOUND'));
    res.json(policy);
  }));

  // Where the programme's payouts can go (provider, country, the account's limits): what batch rows are checked against besides the policy.
  on('GET /v1/programmes/:programmeId/provider-accounts', route(async (req, res) => {
    const accounts = await programmeProviderAccounts(deps, callerOf(req), String(req.params.programmeId));
    if (!accounts) return sendRejection(res, reject('NOT_FOUND'));
    res.json(accounts);
  }));

  // The payouts finance decided to pay again (reconciliation `repay`), for the programme's next signed batch.
  on('GET /v1/programmes/:programmeId/repay-requests', route(async (req, res) => {
    const result = await listRepayRequests(deps.persistence, callerOf(req), String(req.params.programmeId), req.query);
    if (!result.ok) return sendRejection(res, result.error);
    res.json(result.value);
  }));

  on('PUT /v1/programmes/:programmeId/policy', smallJson(), route(async (req, res) => {
    const result = await setPolicy(deps.persistence, callerOf(req), String(req.params.programmeId), req.body, String(req.id));
    if (!result.ok) return sendRejection(res, result.error);
    req.log.info({ programmeId: req.params.programmeId }, 'programme policy changed');
    res.json(result.value);
  }));

  on('POST /v1/programmes/:programmeId/fundings', fundingJson(), route(async (req, res) => {
    const key = req.headers['idempotency-key'];
    const result = await recordFunding(deps.persistence, callerOf(req), String(req.params.programmeId), typeof key === 'string' ? key : '', req.body, String(req.id));
    if (!result.ok) return sendRejection(res, result.error);
    // replayed: this Idempotency-Key was posted before with the same body; nothing was posted again.
    res.status(result.value.replayed ? 200 : 201).json({ ...result.value.funding, replayed: result.value.replayed });
  }));

  // Erasure of the programme's beneficiary data and its retention (issue #15 item 3): the table's check in front of each.
  for (const key of erasureRouteKeys) guardRoute(router, setup, key);
  registerErasureRoutes(router, deps);

  return router;
}

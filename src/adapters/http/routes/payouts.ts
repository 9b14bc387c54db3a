// Payouts: anyone in the organisation reads one; finance decides one held for a decision.
import { Router } from 'express';
import { decideHeldPayout, parseDecisionBody } from '../../../application/decide-held-payout.js';
import { getPayout } from '../../../application/queries.js';
import { reject } from '../../../domain/errors.js';
import type { ApiDeps } from '../api-deps.js';
import { callerOf } from '../auth.js';
import { sendRejection } from '../errors.js';
import { routesOn, type RouteSetup } from '../permissions.js';
import { route, smallJson, uuidParam } from '../routing.js';

export function payoutsRouter(deps: ApiDeps, setup: RouteSetup): Router {
  const router = Router();
  const on = routesOn(router, setup);

  on('GET /v1/payouts/:payoutId', route(async (req, res) => {
    const id = uuidParam(req.params.payoutId);
    const payout = id ? await getPayout(deps.persistence, callerOf(req).organisationId, id) : null;
    if (!payout) return sendRejection(res, reject('NOT_FOUND'));
    res.json(payout);
  }));

  // Finance decides a payout held because a provider reported something that differs from it.
  on('POST /v1/payouts/:payoutId/decision', smallJson(), route(async (req, res) => {
    const id = uuidParam(req.params.payoutId);
    if (!id) return sendRejection(res, reject('NOT_FOUND'));
    const decision = parseDecisionBody(req.body);
    if (!decision.ok) return sendRejection(res, decision.error);
    const result = await decideHeldPayout(deps.persistence, callerOf(req), id, decision.value, String(req.id));
    if (!result.ok) return sendRejection(res, result.error);
    req.log.info({ payoutId: id, outcome: decision.value.outcome }, 'held payout decided by finance');
    res.json(result.value);
  }));

  return router;
}

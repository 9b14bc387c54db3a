// Payouts: anyone in the organisation reads one; finance decides one held for a decision.
import { Router } from 'express';
import { decideHeldPayout, parseDecisionBody } from '../../../application/decide-held-payout.js';
import { getPayout } from '../../../application/queries.js';
import { requeuePayout } from '../../../application/requeue-payout.js';
import { reject } from '../../../domain/errors.js';
import type { ApiDeps } from '../api-deps.js';
import { callerOf } from '../auth.js';
import { sendRejection } from '../errors.js';
import { routesOn, type RouteSetup } from '../permissions.js';
import { optionalJson, route, smallJson, uuidParam } from '../routing.js';

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

  // An admin sends a dead-lettered payout on its way again (application/requeue-payout.ts says which, and how); audited as payout.requeue.
  on('POST /v1/payouts/:payoutId/requeue', optionalJson, route(async (req, res) => {
    const id = uuidParam(req.params.payoutId);
    const caller = callerOf(req);
    const payout = id ? await getPayout(deps.persistence, caller.organisationId, id) : null;
    if (!id || !payout) return sendRejection(res, reject('NOT_FOUND'));
    if (Object.keys(req.query).length > 0) return sendRejection(res, reject('QUERY_INVALID', 'this request takes no query parameters'));
    // No body, or an empty object: nothing else is read.
    const body: unknown = req.body;
    if (body !== undefined && (body === null || typeof body !== 'object' || Array.isArray(body) || Object.keys(body).length > 0)) {
      return sendRejection(res, reject('REQUEST_MALFORMED', 'this request takes no body (or {})'));
    }
    const requeue = deps.operations?.requeue;
    if (!requeue) return sendRejection(res, reject('SERVICE_UNAVAILABLE', 'requeue is not configured in this process'));
    const result = await requeuePayout({ persistence: deps.persistence, transport: requeue.transport, topics: requeue.topics, now: deps.now, actor: caller.subject, requestId: String(req.id).slice(0, 128) }, id);
    if (!result.ok) return sendRejection(res, result.error.code === 'PAYOUT_NOT_FOUND' ? reject('NOT_FOUND') : reject('PAYOUT_NOT_REQUEUEABLE', result.error.detail));
    req.log.info({ payoutId: id, outcome: result.value }, 'payout requeued by an admin');
    res.json({ payoutId: id, outcome: result.value });
  }));

  return router;
}

// Batches: makers submit signed batches, approvers approve them, anyone in the organisation reads them.
import express, { Router } from 'express';
import { parseLimit } from '../../../application/ledger.js';
import { approveBatch } from '../../../application/approve-batch.js';
import { cancelBatch, parseCancelBody } from '../../../application/cancel-batch.js';
import { getBatchRejection, rejectBatch } from '../../../application/reject-batch.js';
import { getBatchView, listBatchPayouts, parsePayoutState, payoutsPageMax } from '../../../application/queries.js';
import { submitBatch } from '../../../application/submit-batch.js';
import { reject } from '../../../domain/errors.js';
import type { ApiDeps } from '../api-deps.js';
import { callerOf } from '../auth.js';
import { sendRejection } from '../errors.js';
import { duplicateMemberDetail, hasDuplicateMember } from '../json-body.js';
import { routesOn, type RouteSetup } from '../permissions.js';
import { approvalBodyMaxBytes, jsonOf, optionalJson, route, uuidParam } from '../routing.js';

export function batchesRouter(deps: ApiDeps, setup: RouteSetup): Router {
  const router = Router();
  const on = routesOn(router, setup);
  const jwsBody = express.raw({ type: ['application/json', 'application/jose+json'], limit: deps.bodyMaxBytes });
  const approvalBody = express.raw({ type: ['application/json', 'application/jose+json'], limit: approvalBodyMaxBytes });

  on('POST /v1/batches', jwsBody, route(async (req, res) => {
    const body = jsonOf(req.body);
    if (!body.ok) return sendRejection(res, body.error);
    // The signed document too: the signer's tool and Tuma must read the same members.
    const payload = (body.value as { payload?: unknown } | null)?.payload;
    if (typeof payload === 'string' && hasDuplicateMember(Buffer.from(payload, 'base64url').toString('utf8'))) {
      return sendRejection(res, reject('REQUEST_MALFORMED', `the signed document: ${duplicateMemberDetail}`));
    }
    const result = await submitBatch(deps, callerOf(req), body.value, String(req.id));
    if (!result.ok) return sendRejection(res, result.error);
    // replayed: this exact batch was submitted before; nothing changed (200), as the body says too.
    res.status(result.value.replayed ? 200 : 201).json({ ...result.value.batch, replayed: result.value.replayed });
  }));

  on('POST /v1/batches/:batchId/approvals', approvalBody, route(async (req, res) => {
    const id = uuidParam(req.params.batchId);
    if (!id) return sendRejection(res, reject('NOT_FOUND'));
    const body = jsonOf(req.body);
    if (!body.ok) return sendRejection(res, body.error);
    const result = await approveBatch(deps, callerOf(req), id, body.value, String(req.id));
    if (!result.ok) return sendRejection(res, result.error);
    // replayed: this exact approval was recorded before; nothing changed.
    res.status(result.value.replayed ? 200 : 201).json({ ...result.value.batch, replayed: result.value.replayed });
  }));

  on('POST /v1/batches/:batchId/rejection', approvalBody, route(async (req, res) => {
    const id = uuidParam(req.params.batchId);
    if (!id) return sendRejection(res, reject('NOT_FOUND'));
    const body = jsonOf(req.body);
    if (!body.ok) return sendRejection(res, body.error);
    const result = await rejectBatch(deps, callerOf(req), id, body.value, String(req.id));
    if (!result.ok) return sendRejection(res, result.error);
    // replayed: this exact rejection was recorded before; nothing changed.
    res.status(result.value.replayed ? 200 : 201).json({ ...result.value.batch, rejection: result.value.rejection, replayed: result.value.replayed });
  }));

  on('GET /v1/batches/:batchId/rejection', route(async (req, res) => {
    const id = uuidParam(req.params.batchId);
    const found = id ? await getBatchRejection(deps.persistence, callerOf(req), id) : null;
    if (!found) return sendRejection(res, reject('NOT_FOUND'));
    res.json(found);
  }));

  on('POST /v1/batches/:batchId/cancel', optionalJson, route(async (req, res) => {
    const id = uuidParam(req.params.batchId);
    if (!id) return sendRejection(res, reject('NOT_FOUND'));
    const reason = parseCancelBody(req.body);
    if (!reason.ok) return sendRejection(res, reason.error);
    const result = await cancelBatch(deps.persistence, callerOf(req), id, reason.value, String(req.id));
    if (!result.ok) return sendRejection(res, result.error);
    res.json({ ...result.value.batch, cancelled: result.value.cancelled });
  }));

  on('GET /v1/batches/:batchId', route(async (req, res) => {
    const id = uuidParam(req.params.batchId);
    const batch = id ? await getBatchView(deps.persistence, callerOf(req).organisationId, id, { reuseCounts: true }) : null;
    if (!batch) return sendRejection(res, reject('NOT_FOUND'));
    res.json(batch);
  }));

  on('GET /v1/batches/:batchId/payouts', route(async (req, res) => {
    const id = uuidParam(req.params.batchId);
    if (!id) return sendRejection(res, reject('NOT_FOUND'));
    const limit = parseLimit(req.query.limit, payoutsPageMax, 100);
    const state = parsePayoutState(req.query.state);
    const cursor = req.query.cursor;
    if (limit === null || state === undefined || (cursor !== undefined && typeof cursor !== 'string')) return sendRejection(res, reject('QUERY_INVALID'));
    const page = await listBatchPayouts(deps.persistence, callerOf(req).organisationId, id, { state, cursor: cursor ?? null, limit });
    if (!page.ok) return sendRejection(res, page.error);
    res.json(page.value);
  }));

  return router;
}

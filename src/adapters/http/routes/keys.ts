// Signer keys: administrators register and revoke the keys makers and approvers sign with; auditors read them.
import { Router } from 'express';
import { getKey, listKeys, registerKey, revokeKey, signerKeysPageMax } from '../../../application/admin.js';
import { parseLimit } from '../../../application/ledger.js';
import { reject } from '../../../domain/errors.js';
import type { ApiDeps } from '../api-deps.js';
import { callerOf } from '../auth.js';
import { sendRejection } from '../errors.js';
import { routesOn, type RouteSetup } from '../permissions.js';
import { optionalJson, route, smallJson } from '../routing.js';

/** A signer key id is an RFC 7638 SHA-256 thumbprint, base64url. */
const kidPattern = /^[A-Za-z0-9_-]{43}$/;

export function keysRouter(deps: ApiDeps, setup: RouteSetup): Router {
  const router = Router();
  const on = routesOn(router, setup);

  on('POST /v1/signer-keys', smallJson(), route(async (req, res) => {
    const result = await registerKey(deps.persistence, callerOf(req), req.body, deps.now(), String(req.id));
    if (!result.ok) return sendRejection(res, result.error);
    req.log.info({ kid: result.value.key.kid, role: result.value.key.role, replayed: result.value.replayed }, 'signer key registered');
    // replayed: the same key was registered before with the same attributes; nothing changed.
    res.status(result.value.replayed ? 200 : 201).json({ ...result.value.key, replayed: result.value.replayed });
  }));

  on('GET /v1/signer-keys', route(async (req, res) => {
    const limit = parseLimit(req.query.limit, signerKeysPageMax, 100);
    const role = req.query.role;
    const cursor = req.query.cursor;
    if (limit === null || (role !== undefined && role !== 'maker' && role !== 'approver') || (cursor !== undefined && typeof cursor !== 'string')) {
      return sendRejection(res, reject('QUERY_INVALID'));
    }
    const page = await listKeys(deps.persistence, callerOf(req), { role: role ?? null, cursor: cursor ?? null, limit }, deps.now());
    if (!page.ok) return sendRejection(res, page.error);
    res.json(page.value);
  }));

  on('GET /v1/signer-keys/:kid', route(async (req, res) => {
    const kid = String(req.params.kid);
    const key = kidPattern.test(kid) ? await getKey(deps.persistence, callerOf(req), kid, deps.now()) : null;
    if (!key) return sendRejection(res, reject('NOT_FOUND'));
    res.json(key);
  }));

  on('POST /v1/signer-keys/:kid/revoke', optionalJson, route(async (req, res) => {
    const kid = String(req.params.kid);
    if (!kidPattern.test(kid)) return sendRejection(res, reject('NOT_FOUND'));
    const result = await revokeKey(deps.persistence, callerOf(req), kid, req.body, deps.now(), String(req.id));
    if (!result.ok) return sendRejection(res, result.error);
    req.log.info({ kid, revokedAt: result.value.revokedAt }, 'signer key revoked');
    res.json(result.value);
  }));

  return router;
}

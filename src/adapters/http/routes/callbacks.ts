// Provider callbacks: each authenticated by its own scheme (a per-attempt token in the URL, an
// HMAC over the body, or nothing but a status query of our own), never by a bearer token.
import express, { Router, type NextFunction, type Request, type Response } from 'express';
import { recordAuthenticatedCallback, recordCallback, recordUnconfirmedCallback, type CallbackRoute, type ParsedCallback } from '../../../application/record-callback.js';
import { reject } from '../../../domain/errors.js';
import type { ProviderId } from '../../../domain/providers.js';
import { parseAirtelCallback, parseAirtelCallbackRecord, verifyAirtelCallback } from '../../providers/airtel/mapping.js';
import { parseCallback as parseGsmaCallback } from '../../providers/gsma/mapping.js';
import { parseB2CCallback, parseStatusCallback, parseStatusTimeoutCallback } from '../../providers/mpesa/mapping.js';
import { parseMomoCallback } from '../../providers/mtn-momo/mapping.js';
import type { ApiDeps } from '../api-deps.js';
import { sendRejection } from '../errors.js';
import { duplicateMemberDetail, isJsonWithDuplicateMember } from '../json-body.js';
import { routesOn, type RouteKey, type RouteSetup } from '../permissions.js';
import { callbackBodyMaxBytes, route, unsignedOrphanBodyMaxBytes } from '../routing.js';
import { gsmaBatchCallback } from '../../../application/gsma-batch-callback.js';

/**
 * The M-Pesa callback routes, by the path's tail after `/v1/callbacks/mpesa/:token` (served by
 * Express here and by the fast path, callback-fast-path.ts). Each takes the tokens issued for it
 * alone: a payment request's token on the payment routes, a status query's on the status routes
 * (issue #19 item 1).
 */
export const mpesaCallbackRoutes: Readonly<Record<'' | '/timeout' | '/status' | '/status/timeout', { readonly route: CallbackRoute; readonly parse: (b: Buffer) => ParsedCallback | null }>> = {
  '': { route: 'payment', parse: (b) => parseB2CCallback(b, 'result') },
  '/timeout': { route: 'payment', parse: (b) => parseB2CCallback(b, 'timeout') },
  // The asynchronous answer to a transaction status query about the attempt.
  '/status': { route: 'status', parse: (b) => parseStatusCallback(b) },
  '/status/timeout': { route: 'status', parse: (b) => parseStatusTimeoutCallback(b) },
};

export function callbacksRouter(deps: ApiDeps, setup: RouteSetup): Router {
  const router = Router();
  const on = routesOn(router, setup);
  const rawBody = express.raw({ type: () => true, limit: callbackBodyMaxBytes });
  // A JSON callback with a member name twice in one object is refused before anything reads it.
  const singleMembers = (req: Request, res: Response, next: NextFunction) => {
    const text = Buffer.isBuffer(req.body) ? req.body.toString('utf8') : '';
    if (isJsonWithDuplicateMember(text)) return sendRejection(res, reject('REQUEST_MALFORMED', duplicateMemberDetail));
    next();
  };
  const callbackBody = [rawBody, singleMembers];
  // Refused before the body is read: a caller outside the provider's addresses learns nothing.
  const allowedFrom = (provider: ProviderId) => (req: Request, res: Response, next: NextFunction) => {
    const allowed = deps.callbackAllowLists?.[provider];
    if (allowed && !allowed(req.socket.remoteAddress)) return sendRejection(res, reject('CALLBACK_UNAUTHENTICATED'));
    next();
  };
  for (const [tail, { route: kind, parse }] of Object.entries(mpesaCallbackRoutes)) {
    on(`POST /v1/callbacks/mpesa/:token${tail}` as RouteKey, allowedFrom('mpesa'), ...callbackBody, route(async (req, res) => {
      const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      const result = await recordCallback(deps, 'mpesa', kind, String(req.params.token), raw, parse);
      if (!result.ok) return sendRejection(res, result.error);
      req.log.info({ duplicate: result.value.duplicate, orphan: result.value.orphan, confirming: result.value.confirming }, 'mpesa callback stored');
      res.json({ ResultCode: 0, ResultDesc: 'Accepted' });
    }));
  }

  // MTN MoMo posts (or puts) the TransferResult to X-Callback-Url; it signs nothing, so the
  // per-attempt token in the URL authenticates it. Answered 200 with no body.
  for (const key of ['PUT /v1/callbacks/mtn-momo/:token', 'POST /v1/callbacks/mtn-momo/:token'] as const) {
    on(key, allowedFrom('mtn-momo'), ...callbackBody, route(async (req, res) => {
      const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      const result = await recordCallback(deps, 'mtn-momo', 'payment', String(req.params.token), raw, parseMomoCallback);
      if (!result.ok) return sendRejection(res, result.error);
      req.log.info({ duplicate: result.value.duplicate, orphan: result.value.orphan, confirming: result.value.confirming }, 'mtn-momo callback stored');
      res.status(200).end();
    }));
  }

  // GSMA MM API: PUT to X-Callback-URL with the final Transaction or an ErrorObject, echoing our
  // X-CorrelationID (which names the attempt even in an error body). Answered 204, as GSMA expects.
  on('PUT /v1/callbacks/gsma/:token', allowedFrom('gsma'), ...callbackBody, route(async (req, res) => {
    const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const correlationId = req.get('x-correlationid') ?? null;
    const result = await recordCallback(deps, 'gsma', 'payment', String(req.params.token), raw, (b) => parseGsmaCallback(b, correlationId));
    if (!result.ok) return sendRejection(res, result.error);
    req.log.info({ duplicate: result.value.duplicate, orphan: result.value.orphan, confirming: result.value.confirming }, 'gsma callback stored');
    res.status(204).end();
  }));

  // A GSMA provider batch's callback: it names the batch by our batch key (its X-CorrelationID) and
  // moves nothing itself; the items' status queries become due (application/gsma-batch-callback.ts).
  on('PUT /v1/callbacks/gsma/batch/:batchKey', allowedFrom('gsma'), ...callbackBody, route(async (req, res) => {
    const result = await gsmaBatchCallback(deps, String(req.params.batchKey));
    if (!result.ok) return sendRejection(res, result.error);
    req.log.info({ payouts: result.value.payouts }, 'gsma batch callback: its items are asked about now');
    res.status(204).end();
  }));

  // Airtel registers one callback URL per application: no per-attempt token can be in it. Where the
  // account signs (hmac mode) the `hash` header over the raw body authenticates the callback and its
  // outcome is a result; otherwise (status-query mode, or a transaction we do not know) it is kept
  // and only makes the payout's status query due: that answer, over our own authenticated
  // connection to Airtel, moves the ledger.
  on('POST /v1/callbacks/airtel', allowedFrom('airtel'), ...callbackBody, route(async (req, res) => {
    const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const callback = parseAirtelCallback(raw);
    if (!callback) return sendRejection(res, reject('CALLBACK_MALFORMED'));
    const attempt = callback.idempotencyKey ? await deps.persistence.read.payouts.findAttemptByKey(callback.idempotencyKey) : null;
    const auth = attempt ? (deps.callbackAuthOf?.(attempt.accountId) ?? null) : null;
    if (attempt && auth?.mode === 'hmac' && auth.hmacSecret !== null) {
      // An account that signs its callbacks: an unsigned or badly signed one is refused.
      const check = verifyAirtelCallback(Buffer.from(auth.hmacSecret, 'utf8'), raw, req.get('hash'));
      if (!check.ok) return sendRejection(res, reject('CALLBACK_UNAUTHENTICATED'));
      const proof = { channel: 'signed', scope: `a:${attempt.payoutId}:${attempt.attemptNo}` } as const;
      const result = await recordAuthenticatedCallback(deps, 'airtel', attempt, proof, raw, parseAirtelCallbackRecord);
      if (!result.ok) return sendRejection(res, result.error);
      req.log.info({ duplicate: result.value.duplicate, orphan: result.value.orphan, signed: true }, 'airtel callback stored');
    } else {
      // Nothing authenticates it. Where every Airtel account signs, nothing unsigned is taken at all;
      // otherwise one naming no payout we know is an orphan, budgeted per source address.
      if (!(deps.unsignedCallbacksAccepted?.('airtel') ?? true)) return sendRejection(res, reject('CALLBACK_UNAUTHENTICATED'));
      if (!attempt) {
        if (raw.length > unsignedOrphanBodyMaxBytes) return sendRejection(res, reject('REQUEST_TOO_LARGE', `an unauthenticated callback is at most ${unsignedOrphanBodyMaxBytes} bytes`));
        if (deps.unsignedOrphanBudget && !deps.unsignedOrphanBudget.take(req.socket.remoteAddress ?? 'unknown', raw.length)) {
          res.setHeader('retry-after', '60');
          return sendRejection(res, reject('RATE_LIMITED', 'too many unauthenticated callbacks from this address'));
        }
      }
      const who = callback.idempotencyKey ?? `txid:${callback.transactionId}`;
      const result = await recordUnconfirmedCallback(deps, 'airtel', who, `${who}:${callback.statusCode}`, raw);
      if (!result.ok) return sendRejection(res, result.error);
      req.log.info({ duplicate: result.value.duplicate, orphan: result.value.orphan, signed: false }, 'airtel callback stored; status query due');
    }
    res.status(200).json({ status: 'received' });
  }));

  return router;
}

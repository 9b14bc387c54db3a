// The M-Pesa result callbacks outside Express (issue #17). A provider's callbacks are the one route
// every payout hits, and Express's own handling of a request (its request and response objects,
// its router) cost ~110 µs of CPU more than node:http's alone on the 2-core load-test machine:
// 139-166 µs against 30-40 µs a request for the same answer (2026-12-07). This path takes the
// request only where it answers as the Express route does: a POST to the route's exact path
// (lower case, no query, no trailing slash) with a well-formed token, a body of a stated length
// within callbackBodyMaxBytes, no content encoding, and the same limits first (the source
// allow-list, the callback class's rate budget and deadline). Anything else goes to Express
// untouched. At info, each answer is logged by the same pino-http line Express's path logs.
// The checks and the answers are the route's: the duplicate-member refusal, recordCallback, the
// rejections' status and body, 503 with Retry-After when the callbacks queued for the database are
// too many, the security headers Express sets on every answer (helmet's, read from it once),
// x-request-id and cache-control. Only the ETag Express adds to a JSON answer is not sent.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { MicroBatchOverloadedError } from '../../application/micro-batch.js';
import { recordCallback } from '../../application/record-callback.js';
import { callbackTokenPattern } from '../../application/callback-token.js';
import { reject } from '../../domain/errors.js';
import type { ApiDeps } from './api-deps.js';
import { fastAnswers, type FastPathCommon } from './fast-path.js';
import { duplicateMemberDetail, isJsonWithDuplicateMember } from './json-body.js';
import { closeAtDeadline, type ClassLimits } from './limits.js';
import { mpesaCallbackRoutes } from './routes/callbacks.js';
import { callbackBodyMaxBytes } from './routing.js';

const mpesaPath = /^\/v1\/callbacks\/mpesa\/([A-Za-z0-9_-]+)(\/timeout|\/status|\/status\/timeout)?$/;
const contentLengthPattern = /^[0-9]{1,9}$/;
const accepted = Buffer.from(JSON.stringify({ ResultCode: 0, ResultDesc: 'Accepted' }));

/**
 * A handler for node:http's request event that answers the requests it takes and returns true;
 * false (the request untouched: nothing read, nothing written) for Express to handle.
 */
export function callbackFastPath(deps: ApiDeps, limits: ClassLimits, common: FastPathCommon): (req: IncomingMessage, res: ServerResponse) => boolean {
  const timeoutMs = limits.timeoutMs('callback');
  const { send, sendRejection } = fastAnswers(common, { etag: false });

  return (req, res) => {
    if (req.method !== 'POST') return false;
    const match = mpesaPath.exec(req.url ?? '');
    if (!match || !callbackTokenPattern.test(match[1]!)) return false;
    const handling = mpesaCallbackRoutes[(match[2] ?? '') as keyof typeof mpesaCallbackRoutes];
    const headers = req.headers;
    if (headers['content-encoding'] !== undefined || headers['transfer-encoding'] !== undefined || headers.expect !== undefined) return false;
    const length = headers['content-length'];
    if (length === undefined || !contentLengthPattern.test(length) || Number(length) < 1 || Number(length) > callbackBodyMaxBytes) return false;
    const address = req.socket.remoteAddress;
    const allowed = deps.callbackAllowLists?.mpesa;
    if (allowed && !allowed(address)) return false;
    // Taken from here on: the class's budget is spent for it, as Express's rate limit would.
    if (!limits.admits('callback', address ?? 'unknown')) return false;

    const log = common.begin(req, res);
    closeAtDeadline(res, timeoutMs, log);

    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      // node:http holds the body to its stated length; never more than the limit either way.
      if (size > callbackBodyMaxBytes) return void res.destroy();
      chunks.push(chunk);
    });
    req.once('error', () => res.destroy());
    req.once('end', () => {
      if (res.destroyed) return;
      const raw = Buffer.concat(chunks, size);
      void answer(res, raw, handling, String(match[1]), log).catch((error: unknown) => {
        if (error instanceof MicroBatchOverloadedError && !res.headersSent) {
          log().warn({ err: error }, 'overloaded: refused');
          res.setHeader('retry-after', '1');
          return sendRejection(res, reject('SERVICE_UNAVAILABLE', 'overloaded; try again later'));
        }
        log().error({ err: error }, 'request failed');
        if (res.headersSent) return void res.destroy();
        sendRejection(res, reject('INTERNAL'));
      });
    });
    return true;
  };

  async function answer(res: ServerResponse, raw: Buffer, handling: (typeof mpesaCallbackRoutes)[keyof typeof mpesaCallbackRoutes], token: string, log: () => Logger): Promise<void> {
    const text = raw.toString('utf8');
    if (isJsonWithDuplicateMember(text)) return sendRejection(res, reject('REQUEST_MALFORMED', duplicateMemberDetail));
    const result = await recordCallback(deps, 'mpesa', handling.route, token, raw, handling.parse);
    if (!result.ok) return sendRejection(res, result.error);
    // The route's own line (routes/callbacks.ts), at info.
    if (deps.logger.isLevelEnabled('info')) log().info({ duplicate: result.value.duplicate, orphan: result.value.orphan, confirming: result.value.confirming }, 'mpesa callback stored');
    send(res, 200, accepted);
  }
}

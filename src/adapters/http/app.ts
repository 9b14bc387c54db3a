// The Express API: routes, request ids, security headers, body limits, error mapping.
import { randomUUID } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import helmet from 'helmet';
import { pinoHttp } from 'pino-http';
import type { Logger } from 'pino';
import { getBatch, getPayout } from '../../application/queries.js';
import { recordCallback } from '../../application/record-callback.js';
import { submitBatch, type SubmitBatchDeps } from '../../application/submit-batch.js';
import { reject } from '../../domain/errors.js';
import { parseB2CCallback } from '../providers/mpesa/mapping.js';
import { sendRejection } from './errors.js';

/** A provider callback is small; anything larger is not one. */
export const callbackBodyMaxBytes = 64 * 1024;
const requestIdPattern = /^[A-Za-z0-9._-]{1,64}$/;
const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export interface ApiDeps extends SubmitBatchDeps {
  readonly bodyMaxBytes: number;
  readonly logger: Logger;
  readonly readiness: () => Promise<{ database: boolean; transport: boolean }>;
}

type Handler = (req: Request, res: Response) => Promise<void>;
const route = (handler: Handler) => (req: Request, res: Response, next: NextFunction) => {
  handler(req, res).catch(next);
};

export function createApp(deps: ApiDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', false);
  app.use(helmet());
  app.use(
    pinoHttp({
      logger: deps.logger,
      genReqId: (req, res) => {
        const incoming = req.headers['x-request-id'];
        const id = typeof incoming === 'string' && requestIdPattern.test(incoming) ? incoming : randomUUID();
        res.setHeader('x-request-id', id);
        return id;
      },
      // Only method, path template and status: no bodies, no query strings, no headers (tokens live in callback URLs).
      serializers: {
        req: (req: { method: string; url: string }) => ({ method: req.method, path: redactPath(req.url) }),
        res: (res: { statusCode: number }) => ({ status: res.statusCode }),
      },
    }),
  );
  app.use((_req, res, next) => {
    res.setHeader('cache-control', 'no-store');
    next();
  });

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', route(async (_req, res) => {
    const checks = await deps.readiness();
    const ready = checks.database && checks.transport;
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not_ready', checks });
  }));

  const jwsBody = express.raw({ type: ['application/json', 'application/jose+json'], limit: deps.bodyMaxBytes });
  app.post('/v1/batches', jwsBody, route(async (req, res) => {
    if (!Buffer.isBuffer(req.body)) return sendRejection(res, reject('REQUEST_UNSUPPORTED_MEDIA_TYPE', 'send application/jose+json or application/json'));
    let body: unknown;
    try {
      body = JSON.parse(req.body.toString('utf8'));
    } catch {
      return sendRejection(res, reject('REQUEST_MALFORMED', 'the body is not JSON'));
    }
    const result = await submitBatch(deps, body);
    if (!result.ok) return sendRejection(res, result.error);
    res.status(result.value.replayed ? 200 : 201).json(result.value.summary);
  }));

  app.get('/v1/batches/:batchId', route(async (req, res) => {
    const id = String(req.params.batchId).toLowerCase();
    const batch = uuidPattern.test(id) ? await getBatch(deps.persistence, id) : null;
    if (!batch) return sendRejection(res, reject('NOT_FOUND'));
    res.json(batch);
  }));

  app.get('/v1/payouts/:payoutId', route(async (req, res) => {
    const id = String(req.params.payoutId).toLowerCase();
    const payout = uuidPattern.test(id) ? await getPayout(deps.persistence, id) : null;
    if (!payout) return sendRejection(res, reject('NOT_FOUND'));
    res.json(payout);
  }));

  const callbackBody = express.raw({ type: () => true, limit: callbackBodyMaxBytes });
  for (const kind of ['result', 'timeout'] as const) {
    const path = kind === 'result' ? '/v1/callbacks/mpesa/:token' : '/v1/callbacks/mpesa/:token/timeout';
    app.post(path, callbackBody, route(async (req, res) => {
      const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      const result = await recordCallback(deps, 'mpesa', String(req.params.token), raw, (b) => parseB2CCallback(b, kind));
      if (!result.ok) return sendRejection(res, result.error);
      req.log.info({ duplicate: result.value.duplicate, orphan: result.value.orphan }, 'mpesa callback stored');
      res.json({ ResultCode: 0, ResultDesc: 'Accepted' });
    }));
  }

  app.use((_req, res) => sendRejection(res, reject('NOT_FOUND')));
  app.use((error: unknown, req: Request, res: Response, _next: NextFunction) => {
    const type = (error as { type?: string }).type;
    if (type === 'entity.too.large') return sendRejection(res, reject('REQUEST_TOO_LARGE', `at most ${deps.bodyMaxBytes} bytes`));
    if (type === 'entity.parse.failed' || type === 'encoding.unsupported' || type === 'charset.unsupported') {
      return sendRejection(res, reject('REQUEST_MALFORMED'));
    }
    req.log.error({ err: error }, 'request failed');
    if (res.headersSent) return;
    sendRejection(res, reject('INTERNAL'));
  });
  return app;
}

/** Callback tokens are credentials: never logged. */
function redactPath(url: string): string {
  const path = url.split('?')[0] ?? '';
  return path.replace(/^(\/v1\/callbacks\/[a-z]+\/)[^/]+/, '$1[token]');
}

// The Express API: routes, request ids, security headers, body limits, error mapping.
import { randomUUID } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import helmet from 'helmet';
import { pinoHttp } from 'pino-http';
import type { Logger } from 'pino';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  accountsPageMax, findOwnAccount, getAccount, getJournal, getStatement, getTrialBalance, listAccounts, parseCurrency, parseLimit,
  recordFunding, statementCsv, statementPageMax,
} from '../../application/ledger.js';
import { getBatch, getPayout } from '../../application/queries.js';
import { recordCallback } from '../../application/record-callback.js';
import { submitBatch, type SubmitBatchDeps } from '../../application/submit-batch.js';
import { reject } from '../../domain/errors.js';
import { parseB2CCallback } from '../providers/mpesa/mapping.js';
import { callerOf, requireRole, type Authenticate } from './auth.js';
import { sendRejection } from './errors.js';

/** A provider callback is small; anything larger is not one. */
export const callbackBodyMaxBytes = 64 * 1024;
const requestIdPattern = /^[A-Za-z0-9._-]{1,64}$/;
const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export interface ApiDeps extends SubmitBatchDeps {
  readonly bodyMaxBytes: number;
  readonly logger: Logger;
  readonly readiness: () => Promise<{ database: boolean; transport: boolean }>;
  readonly authenticate: Authenticate;
}

/** A funding body is a few short fields. */
export const fundingBodyMaxBytes = 4 * 1024;
/** Statement lines read per query while streaming CSV. */
export const csvPageSize = 1_000;

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

  // ---------------------------------------------------------------- ledger (finance)
  const finance = requireRole(deps.authenticate, 'finance', 'auditor', 'admin');
  const fundingJson = express.json({ limit: fundingBodyMaxBytes, strict: true, type: () => true });
  app.post('/v1/programmes/:programmeId/fundings', requireRole(deps.authenticate, 'finance', 'admin'), fundingJson, route(async (req, res) => {
    const key = req.headers['idempotency-key'];
    const result = await recordFunding(deps.persistence, callerOf(req).organisationId, String(req.params.programmeId), typeof key === 'string' ? key : '', req.body);
    if (!result.ok) return sendRejection(res, result.error);
    res.status(result.value.replayed ? 200 : 201).json(result.value.funding);
  }));

  app.get('/v1/ledgers/:currency/accounts', finance, route(async (req, res) => {
    const currency = parseCurrency(String(req.params.currency));
    const limit = parseLimit(req.query.limit, accountsPageMax, 100);
    const cursor = req.query.cursor;
    if (!currency || limit === null || (cursor !== undefined && typeof cursor !== 'string')) return sendRejection(res, reject('QUERY_INVALID'));
    const page = await listAccounts(deps.persistence, callerOf(req).organisationId, currency, { cursor: cursor ?? null, limit });
    if (!page.ok) return sendRejection(res, page.error);
    res.json(page.value);
  }));

  app.get('/v1/ledgers/:currency/accounts/:key', finance, route(async (req, res) => {
    const currency = parseCurrency(String(req.params.currency));
    if (!currency) return sendRejection(res, reject('QUERY_INVALID', 'currency'));
    const account = await getAccount(deps.persistence, callerOf(req).organisationId, currency, String(req.params.key));
    if (!account) return sendRejection(res, reject('NOT_FOUND'));
    res.json(account);
  }));

  app.get('/v1/ledgers/:currency/accounts/:key/statement', finance, route(async (req, res) => {
    const currency = parseCurrency(String(req.params.currency));
    const limit = parseLimit(req.query.limit, statementPageMax, 100);
    const cursor = req.query.cursor;
    if (!currency || limit === null || (cursor !== undefined && typeof cursor !== 'string')) return sendRejection(res, reject('QUERY_INVALID'));
    const page = await getStatement(deps.persistence, callerOf(req).organisationId, currency, String(req.params.key), { cursor: cursor ?? null, limit });
    if (!page.ok) return sendRejection(res, page.error);
    res.json(page.value);
  }));

  app.get('/v1/ledgers/:currency/accounts/:key/statement.csv', finance, route(async (req, res) => {
    const currency = parseCurrency(String(req.params.currency));
    if (!currency) return sendRejection(res, reject('QUERY_INVALID', 'currency'));
    const account = await findOwnAccount(deps.persistence, callerOf(req).organisationId, currency, String(req.params.key));
    if (!account) return sendRejection(res, reject('NOT_FOUND'));
    res.status(200);
    res.setHeader('content-type', 'text/csv; charset=utf-8');
    res.setHeader('content-disposition', `attachment; filename="statement-${currency}-${account.id}.csv"`);
    // Backpressure and client aborts are the stream's business: pipeline stops reading when the client goes.
    try {
      await pipeline(Readable.from(statementCsv(deps.persistence, account, csvPageSize)), res);
    } catch (error) {
      if ((error as { code?: string }).code === 'ERR_STREAM_PREMATURE_CLOSE') return; // the client went away
      throw error;
    }
  }));

  app.get('/v1/ledgers/:currency/trial-balance', finance, route(async (req, res) => {
    const currency = parseCurrency(String(req.params.currency));
    if (!currency) return sendRejection(res, reject('QUERY_INVALID', 'currency'));
    res.json(await getTrialBalance(deps.persistence, callerOf(req).organisationId, currency));
  }));

  app.get('/v1/journals/:journalId', finance, route(async (req, res) => {
    const id = String(req.params.journalId).toLowerCase();
    const journal = uuidPattern.test(id) ? await getJournal(deps.persistence, callerOf(req).organisationId, id) : null;
    if (!journal) return sendRejection(res, reject('NOT_FOUND'));
    res.json(journal);
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
    if (type === 'entity.too.large') {
      const limit = (error as { limit?: number }).limit ?? deps.bodyMaxBytes;
      return sendRejection(res, reject('REQUEST_TOO_LARGE', `at most ${limit} bytes`));
    }
    if (type === 'entity.parse.failed' || type === 'encoding.unsupported' || type === 'charset.unsupported') {
      return sendRejection(res, reject('REQUEST_MALFORMED'));
    }
    req.log.error({ err: error }, 'request failed');
    // Mid-stream: cut the connection, so the client sees a truncated response, never a complete-looking one.
    if (res.headersSent) return void res.destroy();
    sendRejection(res, reject('INTERNAL'));
  });
  return app;
}

/** Callback tokens are credentials: never logged. */
function redactPath(url: string): string {
  const path = url.split('?')[0] ?? '';
  return path.replace(/^(\/v1\/callbacks\/[a-z]+\/)[^/]+/, '$1[token]');
}

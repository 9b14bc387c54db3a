// The Express API: request ids, security headers and the error mapping, around one router per
// resource (src/adapters/http/routes/): batches, payouts, signer keys, programmes and their funding,
// the ledger, reconciliation, administration, provider callbacks.
import { MicroBatchOverloadedError } from '../../application/micro-batch.js';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import express, { type NextFunction, type Request, type Response } from 'express';
import helmet from 'helmet';
import type { Logger } from 'pino';
import { pinoHttp } from 'pino-http';
import { reject } from '../../domain/errors.js';
import type { ApiDeps } from './api-deps.js';
import { consoleRouter } from './console.js';
import { sendRejection } from './errors.js';
import { duplicateMemberDetail } from './json-body.js';
import { callbackFastPath } from './callback-fast-path.js';
import { headersSetBy, type FastPathCommon } from './fast-path.js';
import { readFastPath } from './read-fast-path.js';
import { classLimits, type ClassLimits } from './limits.js';
import { checkRoutes, entryOf, type RouteSetup } from './permissions.js';
import { route } from './routing.js';
import { adminRouter } from './routes/admin.js';
import { batchesRouter } from './routes/batches.js';
import { callbacksRouter } from './routes/callbacks.js';
import { keysRouter } from './routes/keys.js';
import { ledgerRouter } from './routes/ledger.js';
import { payoutsRouter } from './routes/payouts.js';
import { programmesRouter } from './routes/programmes.js';
import { reconciliationRouter } from './routes/reconciliation.js';

export type { ApiDeps } from './api-deps.js';
export { adminBodyMaxBytes, approvalBodyMaxBytes, callbackBodyMaxBytes, csvPageSize, fundingBodyMaxBytes, unsignedOrphanBodyMaxBytes } from './routing.js';
export { statementView } from './routes/reconciliation.js';

const requestIdPattern = /^[A-Za-z0-9._-]{1,64}$/;
/** A callback's path as the router matches it (case-insensitive); a target not in origin form is asked of every router, as before. */
const callbackPath = /^\/v1\/callbacks\//i;

/** A request's id: the caller's x-request-id when it is well formed, else a new one; set on the answer. */
const genReqId = (req: IncomingMessage, res: ServerResponse) => {
  const incoming = req.headers['x-request-id'];
  const id = typeof incoming === 'string' && requestIdPattern.test(incoming) ? incoming : randomUUID();
  res.setHeader('x-request-id', id);
  return id;
};
// Only method, path template and status: no bodies, no query strings, no headers (tokens live in callback URLs).
const serializers = {
  req: (req: { method: string; url: string }) => ({ method: req.method, path: redactPath(req.url) }),
  res: (res: { statusCode: number }) => ({ status: res.statusCode }),
};

/**
 * The API as node:http's request handler: the paths outside Express first (the M-Pesa result
 * callbacks, the status reads), Express for the rest (`app`). `served`, when given, is told which
 * answered each request (the tests tell the two apart with it).
 */
export type ApiHandler = ((req: IncomingMessage, res: ServerResponse) => void) & { readonly app: express.Express };
/** Which path answered a request. */
export type ServedBy = 'callback-fast-path' | 'read-fast-path' | 'express';

export function createApiHandler(deps: ApiDeps, options: { readonly served?: (by: ServedBy) => void } = {}): ApiHandler {
  const limits = classLimits(deps.limits);
  // One start for every request, whichever path answers it: Express's first middleware and the paths outside it.
  const begin = requestStart(deps);
  const app = createApp(deps, limits, begin);
  const common: FastPathCommon = {
    begin,
    securityHeaders: headersSetBy(helmet() as unknown as Parameters<typeof headersSetBy>[0]),
  };
  const callbacks = callbackFastPath(deps, limits, common);
  const reads = readFastPath(deps, limits, common);
  const served = options.served ?? (() => undefined);
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    if (callbacks(req, res)) return served('callback-fast-path');
    if (reads(req, res)) return served('read-fast-path');
    served('express');
    app(req, res);
  };
  return Object.assign(handler, { app });
}

/**
 * What every request gets first: its id (x-request-id set on the answer) and its logger. At info,
 * pino-http logs each answer and makes a child logger per request for it. Above info it logs
 * nothing, and every request paid for the child anyway (issue #17: a callback storm, then 3-4% of a
 * status read's CPU): there, the logger is made only when something logs (a refusal, a failure),
 * with the same bindings. Returns the request's logger.
 */
function requestStart(deps: ApiDeps): FastPathCommon['begin'] {
  const requestLogging = pinoHttp({ logger: deps.logger, genReqId, serializers });
  const quietLogger = deps.logger.child({}, { serializers });
  return (req, res) => {
    if (deps.logger.isLevelEnabled('info')) {
      requestLogging(req, res);
      return () => (req as IncomingMessage & { log: Logger }).log;
    }
    (req as IncomingMessage & { id?: unknown }).id = genReqId(req, res);
    let log: Logger | undefined;
    return () => (log ??= lazyRequestLogger(quietLogger, req));
  };
}

export function createApp(deps: ApiDeps, limits: ClassLimits = classLimits(deps.limits), begin: FastPathCommon['begin'] = requestStart(deps)): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', false);
  app.use(helmet());
  // pino-http logs each answer at info (errors too: no custom level is set); see requestStart.
  app.use((req, res, next) => {
    const log = begin(req, res);
    if (!deps.logger.isLevelEnabled('info')) {
      // pino-http has set req.log at info; above it, the logger is made on first use.
      let set: Logger | undefined;
      Object.defineProperty(req, 'log', { configurable: true, enumerable: true, get: () => set ?? log(), set: (value: Logger) => (set = value) });
    }
    next();
  });
  app.use((_req, res, next) => {
    res.setHeader('cache-control', 'no-store');
    next();
  });
  // CORS stays closed: no answer carries an Access-Control-* header (nothing here sets one; helmet
  // adds Cross-Origin-Resource-Policy: same-origin), and a preflight, or any OPTIONS, is answered
  // as a method no route has (404), never with the methods a path allows.
  app.use((req, res, next) => {
    if (req.method === 'OPTIONS') return sendRejection(res, reject('NOT_FOUND'));
    next();
  });

  // Each route runs its class's limits (limits.ts: a rate per source address, a deadline) first.
  const setup: RouteSetup = { authenticate: deps.authenticate, limitsOf: limits };

  // Public (the table's `public`): no role check, so registered here as they are.
  app.get('/healthz', ...entryOf(setup, 'GET /healthz'), (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', ...entryOf(setup, 'GET /readyz'), route(async (_req, res) => {
    const checks = await deps.readiness();
    const ready = checks.database && checks.transport;
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not_ready', checks });
  }));

  // Each router registers its routes through the permission table (permissions.ts), which names the
  // roles each admits and whose data its ids name. No two routers answer the same method and path;
  // within each, specific paths come before parameterised ones.
  // A callback (a provider's storm of them) goes to its router alone; no other router is asked about it, nor it about theirs.
  const callbacks = callbacksRouter(deps, setup);
  const callbacksOnly = Object.assign((req: Request, res: Response, next: NextFunction) => (callbackPath.test(req.url) || !req.url.startsWith('/') ? callbacks(req, res, next) : next()), {
    // What checkRoutes walks: the routes are the router's.
    stack: (callbacks as unknown as { stack: unknown }).stack,
  });
  app.use(callbacksOnly);
  app.use((req, res, next) => (callbackPath.test(req.url) ? sendRejection(res, reject('NOT_FOUND')) : next()));
  app.use(batchesRouter(deps, setup));
  app.use(payoutsRouter(deps, setup));
  app.use(keysRouter(deps, setup));
  app.use(programmesRouter(deps, setup));
  app.use(ledgerRouter(deps, setup));
  app.use(reconciliationRouter(deps, setup));
  app.use(adminRouter(deps, setup));
  // The web console (static files and its sign-in helpers), outside /v1 and not part of the API:
  // its own CSP and caching replace the API's on its paths only.
  if (deps.console) app.use('/console', consoleRouter(deps.console, setup.limitsOf?.('write') ?? []));

  app.use((_req, res) => sendRejection(res, reject('NOT_FOUND')));
  app.use((error: unknown, req: Request, res: Response, _next: NextFunction) => {
    const type = (error as { type?: string }).type;
    if (type === 'entity.too.large') {
      const limit = (error as { limit?: number }).limit ?? deps.bodyMaxBytes;
      return sendRejection(res, reject('REQUEST_TOO_LARGE', `at most ${limit} bytes`));
    }
    if (type === 'entity.duplicate.member') return sendRejection(res, reject('REQUEST_MALFORMED', duplicateMemberDetail));
    if (type === 'entity.parse.failed' || type === 'encoding.unsupported' || type === 'charset.unsupported') {
      return sendRejection(res, reject('REQUEST_MALFORMED'));
    }
    // A path the router cannot decode (a stray %): the caller's mistake; its message would quote the path.
    if (error instanceof URIError || (error as { status?: number }).status === 400) {
      return sendRejection(res, reject('REQUEST_MALFORMED'));
    }
    // More callbacks wait for the database than it is allowed to queue: the caller tries again later.
    if (error instanceof MicroBatchOverloadedError && !res.headersSent) {
      req.log.warn({ err: error }, 'overloaded: refused');
      res.setHeader('retry-after', '1');
      return sendRejection(res, reject('SERVICE_UNAVAILABLE', 'overloaded; try again later'));
    }
    req.log.error({ err: error }, 'request failed');
    // Mid-stream: cut the connection, so the client sees a truncated response, never a complete-looking one.
    if (res.headersSent) return void res.destroy();
    sendRejection(res, reject('INTERNAL'));
  });
  // Every route is in the permission table with the table's role check first, and every entry is served.
  checkRoutes(app);
  return app;
}

const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;

/**
 * `base` as a request's logger: a level `base` does not log is its no-op (a route's info line at
 * warn costs nothing); a level it logs, and child(), go through a child bound to the request,
 * made on first use (serialising the request is what a child costs).
 */
function lazyRequestLogger(base: Logger, req: IncomingMessage): Logger {
  let bound: Logger | undefined;
  const child = () => (bound ??= base.child({ req }));
  const log = Object.create(base) as Logger;
  for (const level of logLevels) {
    if (base.isLevelEnabled(level)) log[level] = ((...args: Parameters<Logger['info']>) => child()[level](...args)) as Logger['info'];
  }
  log.child = ((...args: Parameters<Logger['child']>) => child().child(...args)) as Logger['child'];
  return log;
}

/**
 * Callback tokens are credentials: never logged. The request target is logged as its path alone
 * (an absolute-form target "http://host/v1/…" is routed too, so its origin is dropped), with the
 * segment after /v1/callbacks/<provider>/ replaced, and any run of 40 or more token characters (a token has 43; ids have 36)
 * anywhere (a token in a path the router did not take, or spelled oddly) replaced as well; a run
 * of 7-15 digits standing alone (a phone number typed where an id belongs) is masked too.
 */
const callbackTokenInPath = /^(\/+v1\/+callbacks\/+[^/]+\/+)[^/]+/i;
const tokenLike = /[A-Za-z0-9_%-]{40,}/g;
/**
 * A phone number a caller put where an id belongs (`/v1/payouts/+254…`): 7 to 15 digits, after an
 * optional + (or %2B), standing alone between separators. A UUID's all-digit group is never alone
 * (a `-` follows it), and a seq or a count has fewer than 7 digits in practice.
 */
const numberLike = /(?<![0-9A-Za-z_.-])(?:\+|%2[Bb])?[0-9]{7,15}(?![0-9A-Za-z_-])/g;

export function redactPath(url: string): string {
  let path = (url.split(/[?#]/)[0] ?? '');
  if (!path.startsWith('/')) {
    try {
      path = new URL(path).pathname;
    } catch {
      path = '[unreadable]';
    }
  }
  return path.replace(callbackTokenInPath, '$1[token]').replace(tokenLike, '[token]').replace(numberLike, '[number]');
}

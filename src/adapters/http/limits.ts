// What one client may ask of the API (issue #15 item 5), per route class (permissions.ts names each
// route's): a number of requests a minute from one source address, answered 429 RATE_LIMITED with
// Retry-After past it; and the longest a request may take, from the moment its route is matched
// to its answer's last byte, past which the connection is closed (a client sending its body or
// reading its answer too slowly, or an answer that takes too long, holds nothing for longer).
// In memory and per process, as the unsigned-callback budget (callback-auth.ts sourceBudget, reused).
import type { ServerResponse } from 'node:http';
import type { RequestHandler } from 'express';
import type { Logger } from 'pino';
import { reject } from '../../domain/errors.js';
import { sourceBudget, sourceBudgetBytesMax, sourceBudgetRequestsMax } from './callback-auth.js';
import { sendRejection } from './errors.js';

/**
 * - `read`: reads of the organisation's data (GET);
 * - `write`: changes with a small body (approvals, decisions, keys, policies, fundings, cancels);
 * - `bulk`: what moves a lot of data or waits on a provider: a batch submission, a statement
 *   import or pull, the CSV and XLSX exports;
 * - `callback`: provider callbacks;
 * - `public`: health and readiness (never rate limited: probes must get through).
 */
export const routeClasses = ['read', 'write', 'bulk', 'callback', 'public'] as const;
export type RouteClass = (typeof routeClasses)[number];
export type LimitedClass = Exclude<RouteClass, 'public'>;
export const limitedClasses = ['read', 'write', 'bulk', 'callback'] as const satisfies readonly LimitedClass[];

/**
 * Requests a minute from one source address, per class (0: not limited); what config.ts defaults
 * to. Generous: a guard against one address flooding a class, not a quota (a provider's callbacks
 * of a large batch, or a CLI deciding many items, come from one address).
 */
export const rateLimitDefaults: Readonly<Record<LimitedClass, number>> = { read: 6_000, write: 1_200, bulk: 120, callback: 60_000 };
/** The most a per-class rate may be set to (the source budget's own maximum). */
export const rateLimitMax = sourceBudgetRequestsMax;
/** The window of a rate: a client past it is told to come back after it (Retry-After, seconds). */
export const rateWindowMs = 60_000;

/** The longest a request of each class may take, in ms (config.ts may change all but `public`). */
export const requestTimeoutDefaults: Readonly<Record<RouteClass, number>> = { read: 30_000, write: 60_000, bulk: 300_000, callback: 15_000, public: 5_000 };
export const requestTimeoutMinMs = 100;
export const requestTimeoutMaxMs = 3_600_000;

export interface HttpLimits {
  /** Requests a minute from one source address, per class; absent or 0: not limited. */
  readonly ratePerMinute?: Readonly<Partial<Record<LimitedClass, number>>>;
  /** The longest a request may take, per class; absent: requestTimeoutDefaults. */
  readonly timeoutMs?: Readonly<Partial<Record<RouteClass, number>>>;
}

/**
 * Per class, the middleware every route of the class runs first: its rate limit (one budget per
 * class, shared by its routes, keyed by the source address: `trust proxy` is off, so behind a
 * proxy every client is the proxy and the rates are the proxy's) and its deadline.
 */
export function classLimits(limits: HttpLimits = {}): ClassLimits {
  const handlers = new Map<RouteClass, readonly RequestHandler[]>();
  const budgets = new Map<RouteClass, ReturnType<typeof sourceBudget>>();
  const timeouts = new Map<RouteClass, number>();
  for (const routeClass of routeClasses) {
    const rate = routeClass === 'public' ? 0 : (limits.ratePerMinute?.[routeClass] ?? 0);
    const timeoutMs = limits.timeoutMs?.[routeClass] ?? requestTimeoutDefaults[routeClass];
    if (!Number.isInteger(timeoutMs) || timeoutMs < requestTimeoutMinMs || timeoutMs > requestTimeoutMaxMs) {
      throw new Error(`a ${routeClass} request timeout is ${requestTimeoutMinMs}..${requestTimeoutMaxMs} ms`);
    }
    timeouts.set(routeClass, timeoutMs);
    const budget = routeClass !== 'public' && rate > 0 ? sourceBudget({ requests: rate, bytes: sourceBudgetBytesMax, windowMs: rateWindowMs }) : null;
    if (budget) budgets.set(routeClass, budget);
    handlers.set(routeClass, [...(budget && routeClass !== 'public' ? [rateLimit(routeClass, rate, budget)] : []), deadline(timeoutMs)]);
  }
  return Object.assign((routeClass: RouteClass) => handlers.get(routeClass)!, {
    admits: (routeClass: RouteClass, address: string) => budgets.get(routeClass)?.take(address, 0) ?? true,
    timeoutMs: (routeClass: RouteClass) => timeouts.get(routeClass)!,
  });
}

/**
 * Per class, the middleware its routes run first; and, for a handler outside Express (the
 * callback intake's fast path), the same limits: `admits` takes a request from the class's budget
 * for the address (true when the class is not rate limited), `timeoutMs` is the class's deadline.
 */
export type ClassLimits = ((routeClass: RouteClass) => readonly RequestHandler[]) & {
  readonly admits: (routeClass: RouteClass, address: string) => boolean;
  readonly timeoutMs: (routeClass: RouteClass) => number;
};

function rateLimit(routeClass: LimitedClass, perMinute: number, budget: ReturnType<typeof sourceBudget>): RequestHandler {
  return (req, res, next) => {
    if (budget.take(req.socket.remoteAddress ?? 'unknown', 0)) return next();
    res.setHeader('retry-after', String(rateWindowMs / 1000));
    // The body is not read: the connection closes after the answer rather than drain it.
    res.setHeader('connection', 'close');
    req.log?.warn({ routeClass }, 'rate limited');
    sendRejection(res, reject('RATE_LIMITED', `at most ${perMinute} ${routeClass} requests a minute from one address`));
  };
}

/** Closes the connection of a request still unanswered after `ms` (no status: the answer may have begun). */
function deadline(ms: number): RequestHandler {
  return (req, res, next) => {
    closeAtDeadline(res, ms, () => req.log);
    next();
  };
}

/** Closes `res`'s connection if it is still unanswered after `ms`, told to the request's logger (the deadline of a route's class). */
export function closeAtDeadline(res: ServerResponse, ms: number, logger: () => Logger | undefined): void {
  const timer = setTimeout(() => {
    logger()?.warn({ timeoutMs: ms }, 'request timed out: connection closed');
    res.destroy();
  }, ms);
  timer.unref();
  const done = () => clearTimeout(timer);
  res.once('finish', done);
  res.once('close', done);
}

// Who may call each route of the API, and whose data its ids name: one table that the routers
// build their role checks from (routesOn), that createApp checks its routes against at build time
// (checkRoutes), and that the tests read (test/unit/permissions.test.ts against
// contracts/openapi.yaml's x-roles, test/api/permissions.test.ts every route × role × organisation).
// A route registered without an entry here, or an entry no router registers, stops createApp.
import type { IRouter, RequestHandler } from 'express';
import { callerRoles, requireRole, type Authenticate, type CallerRole } from './auth.js';
import type { RouteClass } from './limits.js';

/**
 * Who a route admits: a bearer token carrying one of the roles; `callback`: a provider callback,
 * authenticated by its own scheme (a token in the URL, an HMAC over the body; see callback-auth.ts),
 * never by a bearer token; `public`: anyone (health and readiness).
 */
export type Admits = readonly CallerRole[] | 'callback' | 'public';

/**
 * Whose data a route's ids name.
 * - `organisation`: ids in the path are of the caller's organisation (the token's `org`): another
 *   organisation's answers 404 NOT_FOUND exactly as an id that does not exist; a list shows the
 *   caller's organisation's items only.
 * - `account`: reconciliation; statements (and their items and decisions) of provider accounts
 *   serving a programme of the caller's organisation, and only such accounts may be named in the
 *   query or the path (a provider account's breaker): any other answers 404 NOT_FOUND.
 * - `none`: no organisation's data (health), or a callback whose own credential names what it is about.
 */
export type Scope = 'organisation' | 'account' | 'none';

export interface RoutePermission {
  readonly admits: Admits;
  readonly scope: Scope;
  /** Its rate limit and request timeout (limits.ts). */
  readonly class: RouteClass;
}

const anyRole = callerRoles;
const ledgerReaders = ['finance', 'auditor', 'admin'] as const;
const reconciliationReaders = ['finance', 'admin', 'auditor'] as const;
const reconciliationDeciders = ['finance', 'admin'] as const;
const callback = { admits: 'callback', scope: 'none', class: 'callback' } as const;

/** Every route of the API, by method and Express path. */
export const routePermissions = {
  // health
  'GET /healthz': { admits: 'public', scope: 'none', class: 'public' },
  'GET /readyz': { admits: 'public', scope: 'none', class: 'public' },
  // batches
  'POST /v1/batches': { admits: ['programme_manager'], scope: 'organisation', class: 'bulk' },
  'POST /v1/batches/:batchId/approvals': { admits: ['approver'], scope: 'organisation', class: 'write' },
  'POST /v1/batches/:batchId/rejection': { admits: ['approver'], scope: 'organisation', class: 'write' },
  'POST /v1/batches/:batchId/cancel': { admits: ['programme_manager', 'admin'], scope: 'organisation', class: 'write' },
  'GET /v1/batches/:batchId': { admits: anyRole, scope: 'organisation', class: 'read' },
  'GET /v1/batches/:batchId/payouts': { admits: anyRole, scope: 'organisation', class: 'read' },
  'GET /v1/batches/:batchId/rejection': { admits: anyRole, scope: 'organisation', class: 'read' },
  // payouts
  'GET /v1/payouts/:payoutId': { admits: anyRole, scope: 'organisation', class: 'read' },
  'POST /v1/payouts/:payoutId/decision': { admits: ['finance', 'admin'], scope: 'organisation', class: 'write' },
  'POST /v1/payouts/:payoutId/requeue': { admits: ['admin'], scope: 'organisation', class: 'write' },
  // signer keys
  'POST /v1/signer-keys': { admits: ['admin'], scope: 'organisation', class: 'write' },
  'GET /v1/signer-keys': { admits: ['admin', 'auditor'], scope: 'organisation', class: 'read' },
  'GET /v1/signer-keys/:kid': { admits: ['admin', 'auditor'], scope: 'organisation', class: 'read' },
  'POST /v1/signer-keys/:kid/revoke': { admits: ['admin'], scope: 'organisation', class: 'write' },
  // programmes and their funding
  'GET /v1/programmes/:programmeId/policy': { admits: anyRole, scope: 'organisation', class: 'read' },
  'GET /v1/programmes/:programmeId/provider-accounts': { admits: anyRole, scope: 'organisation', class: 'read' },
  'GET /v1/programmes/:programmeId/repay-requests': { admits: anyRole, scope: 'organisation', class: 'read' },
  'PUT /v1/programmes/:programmeId/policy': { admits: ['admin'], scope: 'organisation', class: 'write' },
  'GET /v1/programmes/:programmeId/erasure': { admits: ['admin', 'auditor'], scope: 'organisation', class: 'read' },
  'POST /v1/programmes/:programmeId/erasure': { admits: ['admin'], scope: 'organisation', class: 'write' },
  'POST /v1/programmes/:programmeId/erasure/confirm': { admits: ['admin'], scope: 'organisation', class: 'write' },
  'PUT /v1/programmes/:programmeId/retention': { admits: ['admin'], scope: 'organisation', class: 'write' },
  'GET /v1/programmes/retention-due': { admits: ['admin', 'auditor'], scope: 'organisation', class: 'read' },
  'POST /v1/programmes/:programmeId/fundings': { admits: ['finance', 'admin'], scope: 'organisation', class: 'write' },
  // ledger
  'GET /v1/ledgers/:currency/accounts': { admits: ledgerReaders, scope: 'organisation', class: 'read' },
  'GET /v1/ledgers/:currency/accounts/:accountKey': { admits: ledgerReaders, scope: 'organisation', class: 'read' },
  'GET /v1/ledgers/:currency/accounts/:accountKey/statement': { admits: ledgerReaders, scope: 'organisation', class: 'read' },
  'GET /v1/ledgers/:currency/accounts/:accountKey/statement.csv': { admits: ledgerReaders, scope: 'organisation', class: 'bulk' },
  'GET /v1/ledgers/:currency/trial-balance': { admits: ledgerReaders, scope: 'organisation', class: 'read' },
  'GET /v1/journals/:journalId': { admits: ledgerReaders, scope: 'organisation', class: 'read' },
  // reconciliation
  'POST /v1/reconciliations': { admits: reconciliationDeciders, scope: 'account', class: 'bulk' },
  'POST /v1/reconciliations/pull': { admits: reconciliationDeciders, scope: 'account', class: 'bulk' },
  'GET /v1/reconciliations': { admits: reconciliationReaders, scope: 'account', class: 'read' },
  'GET /v1/reconciliations/overdue': { admits: reconciliationReaders, scope: 'account', class: 'read' },
  'GET /v1/reconciliations/:statementId': { admits: reconciliationReaders, scope: 'account', class: 'read' },
  'GET /v1/reconciliations/:statementId/items': { admits: reconciliationReaders, scope: 'account', class: 'read' },
  'POST /v1/reconciliations/decisions/:decisionId/approval': { admits: reconciliationDeciders, scope: 'account', class: 'write' },
  'GET /v1/reconciliations/:statementId/decisions': { admits: reconciliationReaders, scope: 'account', class: 'read' },
  'POST /v1/reconciliations/:statementId/items/:itemId/decisions': { admits: reconciliationDeciders, scope: 'account', class: 'write' },
  'GET /v1/reconciliations/:statementId/report.csv': { admits: reconciliationReaders, scope: 'account', class: 'bulk' },
  'GET /v1/reconciliations/:statementId/report.xlsx': { admits: reconciliationReaders, scope: 'account', class: 'bulk' },
  // administration
  'GET /v1/audit': { admits: ['auditor', 'admin'], scope: 'organisation', class: 'read' },
  // a provider account's breaker by hand (application/breaker-holds.ts)
  'GET /v1/provider-accounts/:accountId/breaker': { admits: ['admin', 'auditor'], scope: 'account', class: 'read' },
  'PUT /v1/provider-accounts/:accountId/breaker': { admits: ['admin'], scope: 'account', class: 'write' },
  // operations (the console's, issue #16 item 6): the accounts serving the organisation, with their breakers
  'GET /v1/operations/providers': { admits: ['admin', 'auditor'], scope: 'account', class: 'read' },
  'GET /v1/operations/queues': { admits: ['admin', 'auditor'], scope: 'organisation', class: 'read' },
  'GET /v1/operations/dead-lettered': { admits: ['admin', 'auditor'], scope: 'organisation', class: 'read' },
  // orphan callbacks name no organisation: those of the providers whose accounts serve the caller's (application/operations.ts)
  'GET /v1/operations/orphan-callbacks': { admits: ['admin', 'auditor'], scope: 'account', class: 'read' },
  // provider callbacks
  'POST /v1/callbacks/mpesa/:token': callback,
  'POST /v1/callbacks/mpesa/:token/timeout': callback,
  'POST /v1/callbacks/mpesa/:token/status': callback,
  'POST /v1/callbacks/mpesa/:token/status/timeout': callback,
  'PUT /v1/callbacks/mtn-momo/:token': callback,
  'POST /v1/callbacks/mtn-momo/:token': callback,
  'PUT /v1/callbacks/gsma/:token': callback,
  'PUT /v1/callbacks/gsma/batch/:batchKey': callback,
  'POST /v1/callbacks/airtel': callback,
} as const satisfies Record<string, RoutePermission>;

export type RouteKey = keyof typeof routePermissions;
export type RouteMethod = 'get' | 'post' | 'put';

export const routeKeys = Object.keys(routePermissions) as RouteKey[];

export function permissionOf(key: RouteKey): RoutePermission {
  return routePermissions[key];
}

/** A table key's method (lower case, as Express names it) and path. */
export function routeOf(key: RouteKey): { readonly method: RouteMethod; readonly path: string } {
  const [method, path] = key.split(' ') as [string, string];
  return { method: method.toLowerCase() as RouteMethod, path };
}

/** The roles a route admits ([] for callbacks and public routes: no bearer token is looked at). */
export function rolesOf(key: RouteKey): readonly CallerRole[] {
  const { admits } = permissionOf(key);
  return typeof admits === 'string' ? [] : admits;
}

/** Marks a role check built from the table with the route it checks (what checkRoutes looks for). */
const guardKey = Symbol('tuma.route-guard');
type Guard = RequestHandler & { [guardKey]?: RouteKey };
/** Marks a class's limit, which runs before the role check. */
const limitMark = Symbol('tuma.route-limit');
type Limit = RequestHandler & { [limitMark]?: true };

/** The table's role check of `key` (requireRole with its roles); null for callbacks and public routes. */
export function guardOf(authenticate: Authenticate, key: RouteKey): RequestHandler | null {
  const roles = rolesOf(key);
  if (roles.length === 0) return null;
  const guard: Guard = requireRole(authenticate, ...roles);
  guard[guardKey] = key;
  return guard;
}

/** What registering a route needs: the authenticator, and what every route of a class runs first (its limits). */
export interface RouteSetup {
  readonly authenticate: Authenticate;
  readonly limitsOf?: (routeClass: RouteClass) => readonly RequestHandler[];
}

/** What a route runs before its own handlers: its class's limits, then the table's role check. */
export function entryOf(setup: RouteSetup, key: RouteKey): RequestHandler[] {
  const guard = guardOf(setup.authenticate, key);
  const limits = (setup.limitsOf?.(permissionOf(key).class) ?? []).map((limit: Limit) => {
    limit[limitMark] = true;
    return limit;
  });
  return [...limits, ...(guard ? [guard] : [])];
}

/**
 * Registers routes on `router` by their table key: the class's limits and the table's role check
 * first, then `handlers`. The only way a resource router adds a route.
 */
export function routesOn(router: IRouter, setup: RouteSetup) {
  return (key: RouteKey, ...handlers: RequestHandler[]): void => {
    const { method, path } = routeOf(key);
    router[method](path, ...entryOf(setup, key), ...handlers);
  };
}

/**
 * Puts the class's limits and the table's role check in front of a route another module registers
 * itself (as reconciliation-pull-route.ts does, with its own check behind it): call before that module.
 */
export function guardRoute(router: IRouter, setup: RouteSetup, key: RouteKey): void {
  const { method, path } = routeOf(key);
  if (rolesOf(key).length === 0) throw new Error(`${key} admits no roles: nothing to guard`);
  router[method](path, ...entryOf(setup, key));
}

interface StackLayer {
  readonly route?: { readonly path: unknown; readonly methods: Record<string, boolean | undefined>; readonly stack: readonly { readonly handle: Guard & Limit }[] };
  readonly handle?: { readonly stack?: readonly StackLayer[] };
}

/** Every route registered on an Express app or router, in the order requests meet them, with its first handler after its limits. */
export function registeredRoutes(app: { readonly router?: unknown }): { readonly key: string; readonly first: Guard | undefined }[] {
  const found: { key: string; first: Guard | undefined }[] = [];
  const walk = (stack: readonly StackLayer[]) => {
    for (const layer of stack) {
      if (layer.route) {
        const methods = Object.keys(layer.route.methods).filter((m) => layer.route!.methods[m]);
        for (const m of methods) found.push({ key: `${m === '_all' ? 'ALL' : m.toUpperCase()} ${String(layer.route.path)}`, first: layer.route.stack.find((l) => !l.handle[limitMark])?.handle });
      } else if (layer.handle?.stack) {
        walk(layer.handle.stack);
      }
    }
  };
  walk(((app.router ?? app) as { stack?: readonly StackLayer[] }).stack ?? []);
  return found;
}

/**
 * What is wrong between the routes registered on `app` and the table: a route not in it, an entry
 * no router registers, or a role route whose first handler after its limits (in the order requests
 * meet them) is not the table's check of it. [] when they agree.
 */
export function routeProblems(app: { readonly router?: unknown }): string[] {
  const routes = registeredRoutes(app);
  const problems: string[] = [];
  const known = new Set<string>(routeKeys);
  const seen = new Set<string>();
  for (const { key, first } of routes) {
    if (!known.has(key)) {
      problems.push(`${key} is registered but not in the permission table (src/adapters/http/permissions.ts)`);
      continue;
    }
    if (seen.has(key)) continue;
    seen.add(key);
    if (rolesOf(key as RouteKey).length > 0 && first?.[guardKey] !== key) problems.push(`${key} does not start with the table's role check`);
  }
  for (const key of routeKeys) if (!seen.has(key)) problems.push(`${key} is in the permission table but no router registers it`);
  return problems;
}

/** Throws, naming each problem, when the app's routes and the table disagree (createApp calls it). */
export function checkRoutes(app: { readonly router?: unknown }): void {
  const problems = routeProblems(app);
  if (problems.length > 0) throw new Error(`the API's routes and its permission table disagree:\n${problems.join('\n')}`);
}

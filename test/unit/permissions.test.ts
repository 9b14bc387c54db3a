// The permission table (src/adapters/http/permissions.ts) is the API's routes: every route the app
// registers is in it with the table's role check first, every entry is registered, and it says what
// contracts/openapi.yaml says (x-roles, bearerAuth) for every operation, and the contract nothing more.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import express from 'express';
import { pino } from 'pino';
import { parse as parseYaml } from 'yaml';
import { createApp, type ApiDeps } from '../../src/adapters/http/app.js';
import { callerRoles } from '../../src/adapters/http/auth.js';
import { registeredRoutes, routeKeys, routeOf, routePermissions, routeProblems, routesOn, rolesOf, type RouteKey } from '../../src/adapters/http/permissions.js';

const deps = {
  persistence: {}, vault: {}, batchPayoutsMax: 10, now: () => new Date(), bodyMaxBytes: 1024, logger: pino({ level: 'silent' }),
  readiness: async () => ({ database: true, transport: true }), authenticate: async () => null,
} as unknown as ApiDeps;

const openapi = parseYaml(readFileSync(join(process.cwd(), 'contracts/openapi.yaml'), 'utf8')) as { paths: Record<string, Record<string, { 'x-roles'?: string[]; security?: Record<string, unknown>[] }>> };
const httpMethods = new Set(['get', 'put', 'post', 'patch', 'delete', 'head', 'options']);
/** Every operation of the contract, as a table key ("POST /v1/batches/:batchId/approvals"). */
const contractOperations = Object.entries(openapi.paths).flatMap(([path, item]) =>
  Object.keys(item).filter((m) => httpMethods.has(m)).map((m) => `${m.toUpperCase()} ${path.replace(/\{([A-Za-z]+)\}/g, ':$1')}`));
const operationOf = (key: RouteKey) => {
  const { method, path } = routeOf(key);
  return openapi.paths[path.replace(/:([A-Za-z]+)/g, '{$1}')]?.[method] ?? null;
};
const sorted = (list: readonly string[]) => [...list].sort();

describe('the routes the app registers and the permission table', () => {
  it('when the app is built, then every registered route is in the table with its role check first, and every entry is registered', () => {
    const app = createApp(deps);
    expect(routeProblems(app)).toEqual([]);
    expect(sorted([...new Set(registeredRoutes(app).map((r) => r.key))])).toEqual(sorted(routeKeys));
  });

  it('when a route is registered outside the table, then the check names it', () => {
    const app = createApp(deps);
    app.get('/v1/batches/:batchId/secrets', (_req, res) => void res.end());
    expect(routeProblems(app)).toEqual(['GET /v1/batches/:batchId/secrets is registered but not in the permission table (src/adapters/http/permissions.ts)']);
  });

  it('when a table route is registered with a role check of its own, not the table\'s, then the check names it; and every entry not registered', () => {
    const app = express();
    const router = express.Router();
    router.get('/v1/audit', (_req, res) => void res.end());
    routesOn(router, { authenticate: deps.authenticate })('GET /v1/journals/:journalId', (_req, res) => void res.end());
    app.use(router);
    const problems = routeProblems(app);
    expect(problems).toContain('GET /v1/audit does not start with the table\'s role check');
    expect(problems).not.toContain('GET /v1/journals/:journalId does not start with the table\'s role check');
    expect(problems).toContain('POST /v1/batches is in the permission table but no router registers it');
    expect(problems.filter((p) => p.endsWith('no router registers it'))).toHaveLength(routeKeys.length - 2);
  });

  it('when createApp meets a route outside the table, then it refuses to build the app', async () => {
    const { checkRoutes } = await import('../../src/adapters/http/permissions.js');
    const app = express();
    app.post('/v1/anything', (_req, res) => void res.end());
    expect(() => checkRoutes(app)).toThrow(/POST \/v1\/anything is registered but not in the permission table/);
  });
});

describe('the permission table and contracts/openapi.yaml', () => {
  it.each(routeKeys)('when %s is read, then the contract has the operation, with the same roles in x-roles and bearerAuth exactly when it takes roles', (key) => {
    const op = operationOf(key);
    expect({ key, documented: op !== null }).toEqual({ key, documented: true });
    const roles = rolesOf(key);
    const bearer = (op!.security ?? []).some((s) => 'bearerAuth' in s);
    expect({ key, roles: sorted(op!['x-roles'] ?? []), bearer }).toEqual({ key, roles: sorted(roles), bearer: roles.length > 0 });
  });

  it('when every operation of the contract is read, then each is in the table', () => {
    const missing = contractOperations.filter((key) => !(key in routePermissions));
    expect(missing).toEqual([]);
  });

  it('when the table is read, then roles are token roles, only callbacks are authenticated otherwise, only health is public, and scoped routes take a token', () => {
    const wrong: string[] = [];
    for (const key of routeKeys) {
      const { admits, scope } = routePermissions[key];
      const { path } = routeOf(key);
      if (Array.isArray(admits) && (admits.length === 0 || !admits.every((r) => (callerRoles as readonly string[]).includes(r)))) wrong.push(`${key}: roles`);
      if (admits === 'callback' && !path.startsWith('/v1/callbacks/')) wrong.push(`${key}: a callback outside /v1/callbacks/`);
      if (path.startsWith('/v1/callbacks/') && admits !== 'callback') wrong.push(`${key}: a callback path taking ${String(admits)}`);
      if (admits === 'public' && !['/healthz', '/readyz'].includes(path)) wrong.push(`${key}: public`);
      if (scope !== 'none' && !Array.isArray(admits)) wrong.push(`${key}: scoped to ${scope} without a caller`);
      if (scope === 'none' && Array.isArray(admits)) wrong.push(`${key}: a caller's route scoped to nothing`);
    }
    expect(wrong).toEqual([]);
  });
});

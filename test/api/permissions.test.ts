// Every route of the permission table (src/adapters/http/permissions.ts) × every role × the
// caller's own organisation and another's, with real ids (issue #15 item 1). Organisations A and B
// each have a batch and its payouts (one held), a signer key, a funded programme, ledger accounts
// and a journal, and a reconciled statement of a provider account serving only their programme,
// with an open exception and a decision awaiting approval. Each route is called by a token of A for
// each role, with A's ids and with B's:
//  - a role the route does not admit: 403 AUTH_FORBIDDEN, whichever ids (no token: 401);
//  - an admitted role with A's ids: never 401, 403 or 404 (a success, or a refusal of the request);
//  - an admitted role with B's ids: 404 NOT_FOUND, exactly as an id that does not exist;
//  - a list (no ids): none of B's ids in A's answer.
// Provider callbacks take no bearer token: without their own credentials they answer 401 whoever
// calls. The cases come from the table, so a route added to it is tested here; a route the app
// registers outside the table stops createApp (and test/unit/permissions.test.ts).
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import express from 'express';
import { sql } from 'kysely';
import { pino } from 'pino';
import request from 'supertest';
import { createApiHandler } from '../../src/adapters/http/app.js';
import { erasureStore } from '../../src/adapters/db/erasure.repository.js';
import { operationsReads, queueReads } from '../../src/adapters/db/operations-reads.js';
import { createInProcessTransport } from '../../src/adapters/transport/in-process-transport.js';
import { topicNames } from '../../src/application/messages.js';
import { breakerHoldStore } from '../../src/adapters/db/breaker-hold.repository.js';
import { callerRoles, createAuthenticator, type CallerRole } from '../../src/adapters/http/auth.js';
import { routeKeys, routeOf, routePermissions, rolesOf, type RouteKey } from '../../src/adapters/http/permissions.js';
import { reconciliationReads } from '../../src/adapters/db/reconciliation-reads.js';
import { statementStore } from '../../src/adapters/db/reconciliation.repository.js';
import { statementReaders } from '../../src/adapters/statement-readers/index.js';
import type { StatementAccount } from '../../src/application/import-reconciliation.js';
import { pulledStatementFormat } from '../../src/application/pull-reconciliation.js';
import { payoutIdOf } from '../../src/domain/ids.js';
import { approval, contractRecorder, registerKey, startTestApi, type TestApi } from '../support/api.js';
import { testAuthConfig, tokenFor } from '../support/auth.js';
import { batchDocument, kenyanPayout, setUpProgramme, sign } from '../support/fixtures.js';

const fixture = readFileSync(new URL('../fixtures/statements/mpesa-org-portal-every-class.csv', import.meta.url));
/** The fixture's period, 1-31 May 2026 in East Africa Time. */
const may = 'from=2026-04-30T21:00:00Z&to=2026-05-31T21:00:00Z';

/** What one organisation has, by the names the routes give their path parameters. */
interface Org {
  readonly name: 'A' | 'B';
  readonly organisationId: string;
  readonly ids: Readonly<Record<string, string>>;
  /** Its provider accounts: statements (M-Pesa) and pulls (GSMA). */
  readonly mpesaAccount: string;
  readonly gsmaAccount: string;
  /** A well-formed approval of its batch, signed by its approver key. */
  readonly approval: Awaited<ReturnType<typeof approval>>;
  /** Strings that name its data: none may appear in an answer to the other organisation. */
  readonly names: readonly string[];
}

interface Call {
  readonly query?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: unknown;
  readonly type?: string;
}

/**
 * What a route is sent besides its path ids: a valid body where the route reads one (so that an id
 * of another organisation is looked up, not refused for the body first). A route not named here
 * is sent no body.
 */
const calls: Partial<Record<RouteKey, (o: Org) => Call>> = {
  'POST /v1/batches': () => ({ body: {}, type: 'application/jose+json' }),
  'POST /v1/batches/:batchId/approvals': (o) => ({ body: o.approval, type: 'application/jose+json' }),
  'POST /v1/batches/:batchId/rejection': (o) => ({ body: { ...o.approval, reason: 'permissions test' }, type: 'application/jose+json' }),
  'POST /v1/payouts/:payoutId/decision': () => ({ body: { outcome: 'failed', note: 'permissions test' } }),
  'POST /v1/signer-keys': () => ({ body: {} }),
  'PUT /v1/programmes/:programmeId/policy': () => ({ body: { approvals: [{ fromTotal: '0', approvers: 0 }], providers: ['mpesa'], payoutMax: null, rowErrors: 'reject_batch' } }),
  'POST /v1/programmes/:programmeId/fundings': () => ({ headers: { 'idempotency-key': `perm-${randomUUID()}` }, body: { amount: '1.00', currency: 'KES', source: 'donor', reference: 'permissions' } }),
  'POST /v1/reconciliations': (o) => ({ query: `account=${o.mpesaAccount}&${may}`, body: fixture, type: 'text/csv' }),
  // A window that has not ended: refused once the account is found to be the caller's.
  'POST /v1/reconciliations/pull': (o) => ({ query: `account=${o.gsmaAccount}&from=2026-01-01&to=2099-01-01` }),
  'GET /v1/reconciliations': (o) => ({ query: `account=${o.mpesaAccount}` }),
  'POST /v1/reconciliations/decisions/:decisionId/approval': () => ({ body: { approve: false, comment: 'permissions test' } }),
  'PUT /v1/provider-accounts/:accountId/breaker': () => ({ body: { state: 'closed', reason: 'permissions test' } }),
  'POST /v1/reconciliations/:statementId/items/:itemId/decisions': () => ({ body: { action: 'acknowledge', comment: 'permissions test' } }),
  'POST /v1/callbacks/airtel': () => ({ body: { transaction: { id: `PERMS${randomBytes(8).toString('hex').toUpperCase()}`, message: 'x', status_code: 'TS', airtel_money_id: 'MP210603.1234.L06941' } } }),
};

let api: TestApi;
let app: express.Express;
const problems: string[] = [];
let A: Org;
let B: Org;
const tokens = new Map<string, string>();
/** A's bearer token carrying `roles`. */
const tokenOf = async (roles: readonly CallerRole[]) => {
  const key = roles.join(',');
  if (!tokens.has(key)) tokens.set(key, `Bearer ${await tokenFor(A.organisationId, roles, { subject: `${roles.join('+')}-person` })}`);
  return tokens.get(key)!;
};

/** The request `key` makes with `org`'s ids, as a comparable description and a supertest request. */
function requestOf(key: RouteKey, org: Org, authorization: string | null) {
  const { method, path } = routeOf(key);
  const url = path.replace(/:([A-Za-z]+)/g, (_m, name: string) => {
    const id = org.ids[name];
    if (id === undefined) throw new Error(`${key}: the test has no id for :${name}; give each organisation one`);
    return encodeURIComponent(id);
  });
  const call = calls[key]?.(org) ?? {};
  const target = call.query ? `${url}?${call.query}` : url;
  let req = request(app)[method](target);
  if (authorization) req = req.set('authorization', authorization);
  for (const [name, value] of Object.entries(call.headers ?? {})) req = req.set(name, value);
  if (call.body !== undefined) {
    req = req.set('content-type', call.type ?? 'application/json').send(Buffer.isBuffer(call.body) ? call.body : JSON.stringify(call.body));
  }
  return { target, req };
}

const statusOf = async (key: RouteKey, org: Org, authorization: string | null) => {
  const res = await requestOf(key, org, authorization).req;
  return { status: res.status, code: (res.body as { error?: { code?: string } } | undefined)?.error?.code ?? null, text: res.text ?? '', headers: res.headers };
};

async function organisation(name: 'A' | 'B'): Promise<Org> {
  const s = await setUpProgramme(api.persistence, 1_000_00n);
  const mpesaAccount = `mpesa-${name.toLowerCase()}`;
  const gsmaAccount = `gsma-${name.toLowerCase()}`;
  accounts[mpesaAccount] = { currency: 'KES', statementFormat: 'mpesa-org-portal-csv@1', programmes: [s.programmeId] };
  accounts[gsmaAccount] = { currency: 'KES', statementFormat: pulledStatementFormat, programmes: [s.programmeId] };
  const approverKey = await registerKey(api.persistence, s.organisationId, 'approver', { holder: 'approver-person' });
  const as = (role: string, subject = `${role}-person`) => tokenFor(s.organisationId, [role], { subject }).then((t) => `Bearer ${t}`);

  const document = batchDocument(s, [kenyanPayout('perm-1'), kenyanPayout('perm-2', '50.00')]);
  const submitted = await request(app).post('/v1/batches').set('authorization', await as('programme_manager')).set('content-type', 'application/jose+json').send(JSON.stringify(await sign(document, s.maker)));
  expect(submitted.status).toBe(201);
  const held = payoutIdOf(document.batchId, 'perm-1');
  await sql`UPDATE payouts SET state = 'held', provider_reference = 'QK1' WHERE id = ${held}::uuid`.execute(api.database.db);
  await sql`INSERT INTO payout_exceptions (payout_id, kind, detail, result_id) VALUES (${held}::uuid, 'amount_mismatch', 'reported amount 999', ${randomUUID()}::uuid)`.execute(api.database.db);
  const journal = await sql<{ id: string }>`SELECT journal_id::text AS id FROM transfers WHERE batch_id = ${document.batchId}::uuid LIMIT 1`.execute(api.database.db);

  const finance = await as('finance');
  const imported = await request(app).post(`/v1/reconciliations?account=${mpesaAccount}&${may}`).set('authorization', finance).set('content-type', 'text/csv').send(fixture);
  expect(imported.status).toBe(201);
  const statementId = imported.body.statementId as string;
  const items = await request(app).get(`/v1/reconciliations/${statementId}/items?class=unknown_reference&limit=1000`).set('authorization', finance);
  const open = (items.body.items as { itemId: string }[]).map((i) => i.itemId);
  expect(open.length).toBeGreaterThanOrEqual(2);
  // Above the approval threshold: the decision waits for a second finance user.
  const decided = await request(app).post(`/v1/reconciliations/${statementId}/items/${open[0]}/decisions`).set('authorization', await as('finance', 'finance-maker'))
    .send({ action: 'write_off', comment: 'permissions test' });
  expect({ status: decided.status, state: decided.body.state }).toEqual({ status: 201, state: 'awaiting_approval' });

  const ids = {
    batchId: document.batchId, payoutId: held, kid: approverKey.kid, programmeId: s.programmeId, currency: 'KES', accountKey: `programme:${s.programmeId}:available`,
    journalId: journal.rows[0]!.id, statementId, itemId: open[1]!, decisionId: decided.body.decisionId as string, token: randomBytes(32).toString('base64url'),
    accountId: mpesaAccount, batchKey: randomUUID(),
  };
  return {
    name, organisationId: s.organisationId, ids, mpesaAccount, gsmaAccount, approval: await approval(document, approverKey),
    names: [s.organisationId, s.programmeId, s.maker.kid, approverKey.kid, document.batchId, held, payoutIdOf(document.batchId, 'perm-2'), ids.journalId, statementId, ids.decisionId, mpesaAccount, gsmaAccount],
  };
}

const accounts: Record<string, StatementAccount> = {};

beforeAll(async () => {
  api = await startTestApi();
  // The handler the gateway serves: the callbacks' and the status reads' paths outside Express, then Express.
  const inner = createApiHandler({
    persistence: api.persistence,
    vault: api.vault,
    batchPayoutsMax: 1_000,
    now: () => new Date(),
    bodyMaxBytes: 1024 * 1024,
    logger: pino({ level: 'silent' }),
    readiness: async () => ({ database: true, transport: true }),
    authenticate: createAuthenticator(testAuthConfig),
    // Every Airtel account signs: a callback without its signature is refused, as the others without their token.
    unsignedCallbacksAccepted: () => false,
    erasure: erasureStore(api.database.db),
    breakerHolds: breakerHoldStore(api.database.db),
    operations: {
      accounts: () => Object.entries(accounts).map(([id, a]) => ({ id, programmes: a.programmes, currency: a.currency, provider: a.statementFormat === pulledStatementFormat ? 'gsma' : 'mpesa', country: 'KE', callLimits: { concurrency: null, ratePerSecond: null } })),
      reads: operationsReads(api.database.db),
      queues: queueReads(api.database.db),
      // An in-process transport: a requeued queued payout's dispatch message is published and kept.
      requeue: { transport: createInProcessTransport(pino({ level: 'silent' })), topics: topicNames('test.') },
    },
    statements: {
      store: statementStore(api.database.pool),
      reads: reconciliationReads(api.database.pool),
      accounts: () => Object.entries(accounts).map(([id, a]) => ({ id, ...a })),
      overdueDays: 10,
      readers: statementReaders,
      approvalAbove: () => 1n,
      pull: () => Readable.from([]),
    },
  });
  app = express();
  app.use(contractRecorder(problems));
  app.use((req: IncomingMessage, res: ServerResponse) => inner(req, res));
  A = await organisation('A');
  B = await organisation('B');
}, 60_000);
afterAll(async () => api?.close());

const roleRoutes = routeKeys.filter((key) => rolesOf(key).length > 0);
const callbackRoutes = routeKeys.filter((key) => routePermissions[key].admits === 'callback');
const publicRoutes = routeKeys.filter((key) => routePermissions[key].admits === 'public');

describe('every route taking a bearer token × every role × own and another organisation', () => {
  it.each(roleRoutes)('%s', async (key) => {
    const admitted = rolesOf(key);
    const { scope } = routePermissions[key];
    // B's ids change the request (a path id, an account in the query): the route must not find them.
    const foreign = scope !== 'none' && requestOf(key, A, null).target !== requestOf(key, B, null).target;
    const wrong: string[] = [];
    const expect401 = (what: string, r: { status: number; code: string | null; headers: Record<string, string> }) => {
      if (r.status !== 401 || r.code !== 'AUTH_UNAUTHENTICATED' || r.headers['www-authenticate'] !== 'Bearer') wrong.push(`${what}: ${r.status} ${r.code}, not 401 AUTH_UNAUTHENTICATED`);
    };
    expect401('no token', await statusOf(key, A, null));
    expect401('a token that does not verify', await statusOf(key, A, `Bearer ${(await tokenOf(admitted)).slice(7, -4)}AAAA`));
    const others = callerRoles.filter((r) => !admitted.includes(r));
    if (others.length > 1) {
      const r = await statusOf(key, A, await tokenOf(others));
      if (r.status !== 403 || r.code !== 'AUTH_FORBIDDEN') wrong.push(`a token with every role but ${admitted.join(', ')}: ${r.status} ${r.code}, not 403`);
    }
    for (const role of callerRoles) {
      const token = await tokenOf([role]);
      const own = await statusOf(key, A, token);
      if (!admitted.includes(role)) {
        if (own.status !== 403 || own.code !== 'AUTH_FORBIDDEN') wrong.push(`${role}, own ids: ${own.status} ${own.code}, not 403 AUTH_FORBIDDEN`);
        if (foreign) {
          const other = await statusOf(key, B, token);
          if (other.status !== 403 || other.code !== 'AUTH_FORBIDDEN') wrong.push(`${role}, B's ids: ${other.status} ${other.code}, not 403 AUTH_FORBIDDEN`);
        }
        continue;
      }
      if ([401, 403, 404].includes(own.status) || own.status >= 500) wrong.push(`${role}, own ids: ${own.status} ${own.code}`);
      if (foreign) {
        const other = await statusOf(key, B, token);
        if (other.status !== 404 || other.code !== 'NOT_FOUND') wrong.push(`${role}, B's ids: ${other.status} ${other.code}, not 404 NOT_FOUND`);
        if (B.names.some((n) => other.text.includes(n))) wrong.push(`${role}, B's ids: the answer names B's data`);
      } else {
        const leaked = B.names.filter((n) => own.text.includes(n));
        if (leaked.length > 0) wrong.push(`${role}: A's answer names B's ${leaked.join(', ')}`);
      }
    }
    expect({ key, wrong }).toEqual({ key, wrong: [] });
  });
});

describe('provider callbacks: their own credentials, never a bearer token', () => {
  it.each(callbackRoutes)('%s', async (key) => {
    const wrong: string[] = [];
    for (const authorization of [null, ...(await Promise.all(callerRoles.map((r) => tokenOf([r])))), await tokenOf(callerRoles)]) {
      const r = await statusOf(key, A, authorization);
      if (r.status !== 401 || r.code !== 'CALLBACK_UNAUTHENTICATED') wrong.push(`${authorization ? 'a bearer token' : 'nothing'}: ${r.status} ${r.code}`);
    }
    expect({ key, wrong }).toEqual({ key, wrong: [] });
  });
});

describe('health', () => {
  it.each(publicRoutes)('%s answers anyone', async (key) => {
    for (const authorization of [null, await tokenOf(callerRoles)]) expect((await statusOf(key, A, authorization)).status).toBe(200);
  });
});

describe('the contract', () => {
  it('when every answer above is read, then each is one contracts/openapi.yaml documents', async () => {
    await new Promise((r) => setImmediate(r));
    expect(tokens.size).toBeGreaterThan(callerRoles.length); // the routes above have run
    expect(problems).toEqual([]);
  });
});

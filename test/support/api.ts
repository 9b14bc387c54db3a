// An API on a fresh database for HTTP tests, and the signing moves of makers and approvers.
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { FlattenedSign, GeneralSign } from 'jose';
import express, { type RequestHandler } from 'express';
import { pino, type Logger } from 'pino';
import request from 'supertest';
import { sql } from 'kysely';
import { AesGcmVault } from '../../src/adapters/crypto/vault.js';
import { kyselyPersistence } from '../../src/adapters/db/persistence.js';
import { createApiHandler, type ApiDeps, type ServedBy } from '../../src/adapters/http/app.js';
import { createAuthenticator } from '../../src/adapters/http/auth.js';
import type { Persistence } from '../../src/application/ports.js';
import { registerSignerKey } from '../../src/application/setup.js';
import { testAuthConfig, tokenFor } from './auth.js';
import { createTestDatabase, type TestDatabase } from './database.js';
import { newKey, type Maker } from './fixtures.js';
import { loadContract } from './openapi.js';
import { statementStore } from '../../src/adapters/db/reconciliation.repository.js';
import { erasureStore } from '../../src/adapters/db/erasure.repository.js';
import { operationsReads, queueReads } from '../../src/adapters/db/operations-reads.js';
import { createInProcessTransport } from '../../src/adapters/transport/in-process-transport.js';
import { topicNames } from '../../src/application/messages.js';
import { breakerHoldStore } from '../../src/adapters/db/breaker-hold.repository.js';
import { reconciliationReads } from '../../src/adapters/db/reconciliation-reads.js';
import { statementReaders } from '../../src/adapters/statement-readers/index.js';
import type { StatementAccount } from '../../src/application/import-reconciliation.js';

const contract = loadContract('openapi.yaml');

export interface TestApi {
  readonly database: TestDatabase;
  readonly persistence: Persistence;
  readonly vault: AesGcmVault;
  /** The API, behind a recorder that checks every answer against contracts/openapi.yaml. */
  readonly app: express.Express;
  /** Rows in the tables a refused request must not touch. */
  footprint(): Promise<Record<string, number>>;
  close(): Promise<void>;
}

export async function startTestApi(
  options: {
    batchPayoutsMax?: number;
    bodyMaxBytes?: number;
    callbackAllowLists?: ApiDeps['callbackAllowLists'];
    callbackAuthOf?: ApiDeps['callbackAuthOf'];
    unsignedCallbacksAccepted?: ApiDeps['unsignedCallbacksAccepted'];
    unsignedOrphanBudget?: ApiDeps['unsignedOrphanBudget'];
    /** The provider accounts a statement import may name (none: every import answers NOT_FOUND). */
    statementAccounts?: Readonly<Record<string, Omit<StatementAccount, 'statementFormat'> & { statementFormat?: string }>>;
    /** Provider and country of the statement accounts, as operations show them (default: an M-Pesa account in Kenya). */
    operatedAccounts?: Readonly<Record<string, { provider: string; country: string; concurrency?: number }>>;
    reconciliationOverdueDays?: number;
    /** Per currency, money a reconciliation decision moves without a second finance user. */
    reconciliationApprovalAbove?: Readonly<Record<string, bigint>>;
    reconciliationTolerance?: Readonly<Record<string, bigint>>;
    /** The API's clock (default: the real one). */
    now?: () => Date;
    /** What the API sees of the database (a fault injected into one port); the test's own `persistence` stays the real one. */
    persistenceOfApi?: (real: Persistence) => Persistence;
    /** Told which path answered each request (a handler outside Express, or Express). */
    served?: (by: ServedBy) => void;
    /** The API's logger (default: silent). */
    logger?: Logger;
  } = {},
): Promise<TestApi> {
  const database = await createTestDatabase();
  const persistence = kyselyPersistence(database.db, database.pool);
  // One sealing thread: the API tests go through the thread pool the gateway uses.
  const vault = new AesGcmVault(database.db, randomBytes(32), { sealThreads: 1 });
  // The handler the gateway serves: the M-Pesa callbacks' fast path, then Express.
  const inner = createApiHandler({
    persistence: options.persistenceOfApi ? options.persistenceOfApi(persistence) : persistence,
    vault,
    batchPayoutsMax: options.batchPayoutsMax ?? 1_000,
    now: options.now ?? (() => new Date()),
    bodyMaxBytes: options.bodyMaxBytes ?? 1024 * 1024,
    logger: options.logger ?? pino({ level: 'silent' }),
    readiness: async () => ({ database: true, transport: true }),
    authenticate: createAuthenticator(testAuthConfig),
    ...(options.callbackAllowLists ? { callbackAllowLists: options.callbackAllowLists } : {}),
    ...(options.callbackAuthOf ? { callbackAuthOf: options.callbackAuthOf } : {}),
    ...(options.unsignedCallbacksAccepted ? { unsignedCallbacksAccepted: options.unsignedCallbacksAccepted } : {}),
    ...(options.unsignedOrphanBudget ? { unsignedOrphanBudget: options.unsignedOrphanBudget } : {}),
    erasure: erasureStore(database.db),
    breakerHolds: breakerHoldStore(database.db),
    operations: {
      // The statement accounts, described as operations show them.
      accounts: () => Object.entries(options.statementAccounts ?? {}).map(([id, a]) => {
        const o = options.operatedAccounts?.[id];
        return { id, programmes: a.programmes, currency: a.currency, provider: o?.provider ?? 'mpesa', country: o?.country ?? 'KE', callLimits: { concurrency: o?.concurrency ?? null, ratePerSecond: null } };
      }),
      reads: operationsReads(database.db),
      queues: queueReads(database.db),
      // An in-process transport: a requeued queued payout's dispatch message is published and kept.
      requeue: { transport: createInProcessTransport(pino({ level: 'silent' })), topics: topicNames('test.') },
    },
    statements: {
      store: statementStore(database.pool),
      reads: reconciliationReads(database.pool),
      accounts: () => Object.entries(options.statementAccounts ?? {}).map(([id, a]) => ({ id, statementFormat: 'mpesa-org-portal-csv@1', ...a })),
      overdueDays: options.reconciliationOverdueDays ?? 10,
      readers: statementReaders,
      approvalAbove: (currency) => options.reconciliationApprovalAbove?.[currency] ?? null,
      tolerance: (currency) => options.reconciliationTolerance?.[currency] ?? null,
    },
  }, options.served ? { served: options.served } : {});
  const problems: string[] = [];
  const app = express();
  app.use(contractRecorder(problems));
  app.use((req: IncomingMessage, res: ServerResponse) => inner(req, res));
  return {
    database,
    persistence,
    vault,
    app,
    async footprint() {
      const r = await sql<Record<string, string>>`
        SELECT (SELECT count(*) FROM batches)::text AS batches, (SELECT count(*) FROM payouts)::text AS payouts,
               (SELECT count(*) FROM batch_approvals)::text AS approvals, (SELECT count(*) FROM transfers)::text AS transfers,
               (SELECT count(*) FROM payout_transitions)::text AS transitions, (SELECT count(*) FROM signer_keys)::text AS keys`.execute(database.db);
      return Object.fromEntries(Object.entries(r.rows[0]!).map(([k, v]) => [k, Number(v)]));
    },
    async close() {
      await vault.close();
      await database.drop();
      // Every answer the tests saw must be one the published contract describes.
      if (problems.length > 0) throw new Error(`answers outside contracts/openapi.yaml:\n${[...new Set(problems)].join('\n')}`);
    },
  };
}

export const bearer = async (organisationId: string, role: string, subject = `${role}-person`) => `Bearer ${await tokenFor(organisationId, [role], { subject })}`;

export async function registerKey(persistence: Persistence, organisationId: string, role: 'maker' | 'approver', options: { notBefore?: Date; notAfter?: Date | null; revokedAt?: Date | null; alg?: 'ES256' | 'EdDSA' | 'PS256'; holder?: string } = {}): Promise<Maker> {
  const key = await newKey(options.alg ?? 'ES256');
  const kid = await registerSignerKey(persistence, {
    organisationId, role, alg: options.alg ?? 'ES256', publicJwk: key.publicJwk as Record<string, unknown>,
    notBefore: options.notBefore ?? new Date(0), notAfter: options.notAfter ?? null, revokedAt: options.revokedAt ?? null, holder: options.holder ?? null,
  });
  if (!kid.ok) throw new Error(kid.error.code);
  return key;
}

/** The exact bytes a document is signed as (what fixtures' sign() signs). */
export const bytesOf = (document: unknown) => new TextEncoder().encode(JSON.stringify(document));

/** A detached approval: a flattened JWS over the stored bytes with the payload left out. */
export async function approval(document: unknown, key: Maker, header: Record<string, unknown> = {}) {
  const alg = (header.alg as string | undefined) ?? 'ES256';
  const { protected: prot, signature } = await new FlattenedSign(bytesOf(document)).setProtectedHeader({ alg, kid: key.kid, ...header }).sign(key.privateKey);
  return { protected: prot, signature };
}

/** One JWS signed by several keys (the maker and co-signing approvers). */
export async function signAll(document: unknown, keys: readonly Maker[]) {
  const signer = new GeneralSign(bytesOf(document));
  for (const k of keys) signer.addSignature(k.privateKey).setProtectedHeader({ alg: 'ES256', kid: k.kid });
  return signer.sign();
}

export const postJson = (app: TestApi['app'], path: string, authorization: string, body: unknown, type = 'application/jose+json') =>
  request(app).post(path).set('authorization', authorization).set('content-type', type).send(typeof body === 'string' ? body : JSON.stringify(body));

/**
 * Records each answer's status and JSON body and checks them against the OpenAPI contract of the
 * route it matched: an undocumented status, or a body its schema refuses, is a problem.
 */
export function contractRecorder(problems: string[]): RequestHandler {
  return (req, res, next) => {
    let body: unknown;
    const json = res.json.bind(res);
    res.json = (value: unknown) => {
      body = value;
      return json(value);
    };
    res.on('finish', () => {
      const template = contract.templateOf(req.path);
      if (!template) return; // an unknown path: answered 404 by the API, nothing to check against
      const method = req.method.toLowerCase();
      const type = String(res.getHeader('content-type') ?? '').split(';')[0]!.trim();
      let documented: boolean;
      try {
        documented = contract.documents(method, template, res.statusCode);
      } catch {
        return; // a method the path does not have: the API's own 404, nothing to check against
      }
      if (!documented) return void problems.push(`${req.method} ${template}: HTTP ${res.statusCode} is not documented`);
      if (body === undefined || type !== 'application/json') return;
      for (const p of contract.responseProblems(method, template, res.statusCode, body)) problems.push(`${req.method} ${template} ${res.statusCode}: ${p}`);
    });
    next();
  };
}

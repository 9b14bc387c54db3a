// The Express API: routes, request ids, security headers, body limits, error mapping.
import { MicroBatchOverloadedError } from '../../application/micro-batch.js';
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
import { getKey, getPolicy, listKeys, registerKey, revokeKey, setPolicy, signerKeysPageMax } from '../../application/admin.js';
import { approveBatch } from '../../application/approve-batch.js';
import { decideHeldPayout, parseDecisionBody } from '../../application/decide-held-payout.js';
import { importReconciliation, type StatementAccount } from '../../application/import-reconciliation.js';
import { checkStatementFloat } from '../../application/check-float.js';
import type { PullStatement } from '../../application/pull-reconciliation.js';
import { registerReconciliationPull } from './reconciliation-pull-route.js';
import { auditCursorPattern, auditPageDefault, auditPageMax, listAudit } from '../../application/audit.js';
import { xlsxStream } from '../export/xlsx-writer.js';
import {
  checkReconciliationDecision, decideReconciliationItem, decisionView, parseApprovalRequest, parseDecisionRequest, resolveWithinTolerance, type DecideReconciliationDeps,
} from '../../application/decide-reconciliation.js';
import {
  getReconciliation, listReconciliationItems, listReconciliations, overdueReconciliations, reconciliationCsv, reconciliationRows, statementForExport,
  type ItemsQuery, type ReconciliationReportDeps,
} from '../../application/reconciliation-report.js';
import type { ImportedStatement, ImportStatementDeps } from '../../application/reconcile.js';
import type { ReconciliationReads, StatementStore } from '../../application/ports.js';
import { formatAmount } from '../../domain/money.js';
import { isCurrencyCode, type CurrencyCode } from '../../domain/currency.js';
import { cancelBatch, parseCancelBody } from '../../application/cancel-batch.js';
import { getBatchView, getPayout, listBatchPayouts, parsePayoutState, payoutsPageMax } from '../../application/queries.js';
import { recordAuthenticatedCallback, recordCallback, recordUnconfirmedCallback, type CallbackRoute, type ParsedCallback } from '../../application/record-callback.js';
import { parseAirtelCallback, parseAirtelCallbackRecord, verifyAirtelCallback } from '../providers/airtel/mapping.js';
import { submitBatch, type SubmitBatchDeps } from '../../application/submit-batch.js';
import { reject, type Rejection } from '../../domain/errors.js';
import type { ProviderId } from '../../domain/providers.js';
import { err, ok, type Result } from '../../domain/result.js';
import { parseCallback as parseGsmaCallback } from '../providers/gsma/mapping.js';
import { parseB2CCallback, parseStatusCallback, parseStatusTimeoutCallback } from '../providers/mpesa/mapping.js';
import { parseMomoCallback } from '../providers/mtn-momo/mapping.js';
import { callerOf, callerRoles, requireRole, type Authenticate } from './auth.js';
import type { SourceBudget } from './callback-auth.js';
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
  /** Per provider, the addresses its callbacks may come from; a provider not listed is not restricted. */
  readonly callbackAllowLists?: Partial<Record<ProviderId, (address: string | undefined) => boolean>>;
  /** How a provider account's callbacks are authenticated, by the account id an attempt recorded (null: unknown account). */
  readonly callbackAuthOf?: (accountId: string) => { readonly mode: 'url-token' | 'hmac' | 'status-query'; readonly hmacSecret: string | null } | null;
  /** Whether any account of the provider takes callbacks nothing authenticates (false: every one signs; unsigned ones are refused). */
  readonly unsignedCallbacksAccepted?: (provider: ProviderId) => boolean;
  /** The per-source budget of unauthenticated callbacks that name no payout we know (429 beyond it). */
  readonly unsignedOrphanBudget?: SourceBudget;
  /** Provider statement imports: the store and the configured accounts (absent: 503). */
  readonly statements?: {
    readonly store: StatementStore;
    readonly reads: ReconciliationReads;
    /** Every configured provider account, as reconciliation sees it. */
    readonly accounts: () => readonly (StatementAccount & { readonly id: string })[];
    readonly overdueDays: number;
    readonly readers?: ImportStatementDeps['readers'];
    /** Money a reconciliation decision may move without a second finance user (minor units); null: none. */
    readonly approvalAbove: (currency: CurrencyCode) => bigint | null;
    /** A difference Tuma writes off by itself (minor units); null: none. */
    readonly tolerance?: (currency: CurrencyCode) => bigint | null;
    /** Pulls the statements of GSMA accounts (POST /v1/reconciliations/pull; absent: 503). */
    readonly pull?: PullStatement;
  };
}
const isoDay = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2}))?$/;

/** ?account=&from=&to=[&format=][&importGoodLines=true]; the body a statement file (text/csv or application/octet-stream). */
function parseReconciliationQuery(q: Request['query'], contentType: string | undefined): Result<{ accountId: string; format: string | null; period: { from: Date; to: Date }; importGoodLines: boolean }, Rejection> {
  const one = (name: string) => (typeof q[name] === 'string' ? (q[name] as string) : q[name] === undefined ? undefined : null);
  const [account, from, to, format, good] = ['account', 'from', 'to', 'format', 'importGoodLines'].map(one);
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'text/csv' && type !== 'application/octet-stream') return err(reject('REQUEST_UNSUPPORTED_MEDIA_TYPE', 'send the statement file as text/csv or application/octet-stream'));
  if (!account || !/^[a-z0-9][a-z0-9-]{0,62}$/.test(account)) return err(reject('STATEMENT_REQUEST_INVALID', 'account: a provider account id'));
  const at = (v: string | null | undefined) => (v && isoDay.test(v) ? new Date(v.length === 10 ? `${v}T00:00:00Z` : v) : null);
  const fromAt = at(from);
  const toAt = at(to);
  if (!fromAt || !toAt || Number.isNaN(fromAt.getTime()) || Number.isNaN(toAt.getTime())) return err(reject('STATEMENT_REQUEST_INVALID', 'from and to: ISO dates (YYYY-MM-DD) or instants; the period is [from, to)'));
  if (format === null || (format !== undefined && !/^[a-z0-9-]{1,64}@[0-9]{1,4}$/.test(format))) return err(reject('STATEMENT_REQUEST_INVALID', 'format: id@version'));
  if (good === null || (good !== undefined && good !== 'true' && good !== 'false')) return err(reject('STATEMENT_REQUEST_INVALID', 'importGoodLines: true or false'));
  return ok({ accountId: account, format: format ?? null, period: { from: fromAt, to: toAt }, importGoodLines: good === 'true' });
}

const oneString = (v: unknown): string | null | undefined => (v === undefined ? undefined : typeof v === 'string' ? v : null);

/** GET /v1/reconciliations: account, from, to (instants), limit. */
function parseListQuery(query: Record<string, unknown>): Result<{ accountId: string | null; from: Date | null; to: Date | null; limit: number }, Rejection> {
  const account = oneString(query.account);
  const at = (v: string | null | undefined) => (v === undefined ? undefined : v && isoDay.test(v) ? new Date(v.length === 10 ? `${v}T00:00:00Z` : v) : null);
  const from = at(oneString(query.from));
  const to = at(oneString(query.to));
  const limitText = oneString(query.limit);
  const limit = limitText === undefined ? 50 : limitText !== null && /^[0-9]{1,4}$/.test(limitText) ? Number(limitText) : NaN;
  if (account === null || (account !== undefined && !/^[a-z0-9][a-z0-9-]{0,62}$/.test(account))) return err(reject('QUERY_INVALID', 'account: a provider account id'));
  if (from === null || to === null || (from && Number.isNaN(from.getTime())) || (to && Number.isNaN(to.getTime()))) return err(reject('QUERY_INVALID', 'from, to: ISO dates or instants'));
  if (Number.isNaN(limit)) return err(reject('QUERY_INVALID', 'limit: an integer'));
  return ok({ accountId: account ?? null, from: from ?? null, to: to ?? null, limit });
}

/** GET /v1/reconciliations/{id}/items: class (comma-separated, or all), after (an item id), limit. */
function parseItemsQuery(query: Record<string, unknown>): Result<ItemsQuery, Rejection> {
  const classText = oneString(query.class);
  const after = oneString(query.after);
  const limitText = oneString(query.limit);
  const limit = limitText === undefined ? 100 : limitText !== null && /^[0-9]{1,4}$/.test(limitText) ? Number(limitText) : NaN;
  if (classText === null || after === null || Number.isNaN(limit)) return err(reject('QUERY_INVALID', 'class, after and limit: once each'));
  if (classText !== undefined && (classText.length > 400 || classText.length === 0)) return err(reject('QUERY_INVALID', 'class: one or more class names, comma-separated'));
  const classes = classText === undefined ? null : classText === 'all' ? 'all' as const : classText.split(',');
  return ok({ classes, after: after ?? null, limit });
}

/** A statement as the API shows it: amounts as decimal strings, no beneficiary data. */
export function statementView(s: ImportedStatement) {
  const money = (minor: bigint) => (isCurrencyCode(s.currency) ? formatAmount(minor, s.currency) : minor.toString());
  return {
    statementId: s.statementId,
    accountId: s.accountId,
    currency: s.currency,
    format: `${s.format}@${s.formatVersion}`,
    period: { from: s.periodFrom.toISOString(), to: s.periodTo.toISOString() },
    sha256: s.sha256Hex,
    sizeBytes: s.sizeBytes,
    version: s.version,
    previousId: s.previousId,
    openingBalance: s.openingBalanceMinor === null ? null : money(s.openingBalanceMinor),
    closingBalance: s.closingBalanceMinor === null ? null : money(s.closingBalanceMinor),
    lines: { total: s.linesTotal, imported: s.linesImported, refused: s.linesRefused },
    refusedLines: s.refusedLines,
    classes: Object.fromEntries(Object.entries(s.counts).map(([k, v]) => [k, { count: v.count, statementAmount: money(v.statementMinor), ledgerAmount: money(v.ledgerMinor) }])),
    balances: {
      linesNet: money(s.balances.linesNetMinor),
      total: s.balances.total === null ? null
        : { expectedClosing: money(s.balances.total.expectedClosingMinor), closing: money(s.balances.total.closingMinor), ok: s.balances.total.ok },
      runningOrder: s.balances.order,
      runningBreaks: s.balances.runningBreaks,
      breaks: s.balances.breaks.map((b) => ({ line: b.line, expectedBalance: money(b.expectedMinor), balance: money(b.balanceMinor) })),
    },
    diff: s.diff,
    replayed: s.replayed,
  };
}

/**
 * Streams an export to the client: a client that goes away ends the reads (the generator's
 * finally runs); an error after the headers destroys the response, so a broken download is never
 * taken for a short file.
 */
async function sendReport(source: Readable, res: Response): Promise<void> {
  try {
    await pipeline(source, res);
  } catch (error) {
    if ((error as { code?: string }).code === 'ERR_STREAM_PREMATURE_CLOSE') return;
    throw error;
  }
}

/** An unauthenticated callback naming no payout we know is small (Airtel's are about 200 bytes): larger ones are refused. */
export const unsignedOrphanBodyMaxBytes = 4 * 1024;

/** An approval is a protected header and one signature. */
export const approvalBodyMaxBytes = 16 * 1024;
/** Administrative bodies (a key registration, a policy, a cancel reason) are small. */
export const adminBodyMaxBytes = 16 * 1024;
/** A signer key id is an RFC 7638 SHA-256 thumbprint, base64url. */
const kidPattern = /^[A-Za-z0-9_-]{43}$/;

const uuidParam = (raw: unknown): string | null => {
  const id = String(raw).toLowerCase();
  return uuidPattern.test(id) ? id : null;
};

/** A raw JSON body (kept raw for JWS: the bytes matter), parsed once. */
function jsonOf(body: unknown): Result<unknown, Rejection> {
  if (!Buffer.isBuffer(body)) return err(reject('REQUEST_UNSUPPORTED_MEDIA_TYPE', 'send application/jose+json or application/json'));
  try {
    return ok(JSON.parse(body.toString('utf8')));
  } catch {
    return err(reject('REQUEST_MALFORMED', 'the body is not JSON'));
  }
}

/** An optional small JSON body: none at all is fine. */
const optionalJson = express.json({ limit: adminBodyMaxBytes, strict: true, type: (req) => Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined });

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

  // ---------------------------------------------------------------- batches
  const anyRole = requireRole(deps.authenticate, ...callerRoles);
  const jwsBody = express.raw({ type: ['application/json', 'application/jose+json'], limit: deps.bodyMaxBytes });
  const approvalBody = express.raw({ type: ['application/json', 'application/jose+json'], limit: approvalBodyMaxBytes });
  const smallJson = express.json({ limit: adminBodyMaxBytes, strict: true, type: () => true });

  app.post('/v1/batches', requireRole(deps.authenticate, 'programme_manager'), jwsBody, route(async (req, res) => {
    const body = jsonOf(req.body);
    if (!body.ok) return sendRejection(res, body.error);
    const result = await submitBatch(deps, callerOf(req), body.value, String(req.id));
    if (!result.ok) return sendRejection(res, result.error);
    res.status(result.value.replayed ? 200 : 201).json(result.value.batch);
  }));

  app.post('/v1/batches/:batchId/approvals', requireRole(deps.authenticate, 'approver'), approvalBody, route(async (req, res) => {
    const id = uuidParam(req.params.batchId);
    if (!id) return sendRejection(res, reject('NOT_FOUND'));
    const body = jsonOf(req.body);
    if (!body.ok) return sendRejection(res, body.error);
    const result = await approveBatch(deps, callerOf(req), id, body.value, String(req.id));
    if (!result.ok) return sendRejection(res, result.error);
    res.status(result.value.replayed ? 200 : 201).json(result.value.batch);
  }));

  app.post('/v1/batches/:batchId/cancel', requireRole(deps.authenticate, 'programme_manager', 'admin'), optionalJson, route(async (req, res) => {
    const id = uuidParam(req.params.batchId);
    if (!id) return sendRejection(res, reject('NOT_FOUND'));
    const reason = parseCancelBody(req.body);
    if (!reason.ok) return sendRejection(res, reason.error);
    const result = await cancelBatch(deps.persistence, callerOf(req), id, reason.value, String(req.id));
    if (!result.ok) return sendRejection(res, result.error);
    res.json({ ...result.value.batch, cancelled: result.value.cancelled });
  }));

  app.get('/v1/batches/:batchId', anyRole, route(async (req, res) => {
    const id = uuidParam(req.params.batchId);
    const batch = id ? await getBatchView(deps.persistence, callerOf(req).organisationId, id) : null;
    if (!batch) return sendRejection(res, reject('NOT_FOUND'));
    res.json(batch);
  }));

  app.get('/v1/batches/:batchId/payouts', anyRole, route(async (req, res) => {
    const id = uuidParam(req.params.batchId);
    if (!id) return sendRejection(res, reject('NOT_FOUND'));
    const limit = parseLimit(req.query.limit, payoutsPageMax, 100);
    const state = parsePayoutState(req.query.state);
    const cursor = req.query.cursor;
    if (limit === null || state === undefined || (cursor !== undefined && typeof cursor !== 'string')) return sendRejection(res, reject('QUERY_INVALID'));
    const page = await listBatchPayouts(deps.persistence, callerOf(req).organisationId, id, { state, cursor: cursor ?? null, limit });
    if (!page.ok) return sendRejection(res, page.error);
    res.json(page.value);
  }));

  app.get('/v1/payouts/:payoutId', anyRole, route(async (req, res) => {
    const id = uuidParam(req.params.payoutId);
    const payout = id ? await getPayout(deps.persistence, callerOf(req).organisationId, id) : null;
    if (!payout) return sendRejection(res, reject('NOT_FOUND'));
    res.json(payout);
  }));

  // Finance imports a provider statement: the body is the file's bytes, streamed (no body parser).
  app.post('/v1/reconciliations', requireRole(deps.authenticate, 'finance', 'admin'), route(async (req, res) => {
    if (!deps.statements) return sendRejection(res, reject('SERVICE_UNAVAILABLE', 'statement imports are not configured in this process'));
    const query = parseReconciliationQuery(req.query, req.headers['content-type']);
    if (!query.ok) {
      req.resume();
      return sendRejection(res, query.error);
    }
    const statements = deps.statements;
    const accountOf = (id: string) => statements.accounts().find((a) => a.id === id) ?? null;
    const result = await importReconciliation({ ...statements, accountOf, persistence: deps.persistence, vault: deps.vault }, callerOf(req), query.value, req);
    if (!result.ok) return sendRejection(res, result.error);
    const decide = decideDeps();
    if (decide && !result.value.replayed) await checkStatementFloat(decide, result.value);
    const tolerated = decide && !result.value.replayed ? await resolveWithinTolerance(decide, callerOf(req), result.value) : 0;
    req.log.info({ statementId: result.value.statementId, account: result.value.accountId, lines: result.value.linesTotal, replayed: result.value.replayed, tolerated }, 'statement imported');
    res.status(result.value.replayed ? 200 : 201).json(statementView(result.value));
  }));

  // Finance has a GSMA account's statement for a closed window pulled from the provider and reconciled.
  registerReconciliationPull(app, deps, statementView);

  // Finance (and auditors) read reconciliations: statements, their classes, items, overdue periods, the report.
  const reconciliationReaders = requireRole(deps.authenticate, 'finance', 'admin', 'auditor');
  const reportDeps = (): ReconciliationReportDeps | null => (deps.statements
    ? { persistence: deps.persistence, reads: deps.statements.reads, accounts: deps.statements.accounts, overdueDays: deps.statements.overdueDays }
    : null);
  app.get('/v1/reconciliations', reconciliationReaders, route(async (req, res) => {
    const report = reportDeps();
    if (!report) return sendRejection(res, reject('SERVICE_UNAVAILABLE', 'reconciliation is not configured in this process'));
    const q = parseListQuery(req.query);
    if (!q.ok) return sendRejection(res, q.error);
    const page = await listReconciliations(report, callerOf(req), q.value);
    if (!page.ok) return sendRejection(res, page.error);
    res.json({ statements: page.value.statements.map((s) => statementView({ ...s, replayed: false })).map(({ replayed: _r, ...v }) => v) });
  }));
  app.get('/v1/reconciliations/overdue', reconciliationReaders, route(async (req, res) => {
    const report = reportDeps();
    if (!report) return sendRejection(res, reject('SERVICE_UNAVAILABLE', 'reconciliation is not configured in this process'));
    res.json({ overdueDays: report.overdueDays, periods: await overdueReconciliations(report, callerOf(req), deps.now()) });
  }));
  app.get('/v1/reconciliations/:statementId', reconciliationReaders, route(async (req, res) => {
    const report = reportDeps();
    const id = uuidParam(req.params.statementId);
    if (!report || !id) return sendRejection(res, reject(report ? 'NOT_FOUND' : 'SERVICE_UNAVAILABLE'));
    const statement = await statementForExport(report, callerOf(req), id);
    if (!statement) return sendRejection(res, reject('NOT_FOUND'));
    const view = await getReconciliation(report, callerOf(req), id, deps.now());
    if (!view.ok) return sendRejection(res, view.error);
    const { replayed: _r, ...record } = statementView({ ...statement, replayed: false });
    res.json({ ...record, exceptions: view.value.exceptions, classReport: view.value.classes, checks: view.value.checks, float: view.value.float, closed: view.value.closed, resultSha256: view.value.resultSha256 });
  }));
  app.get('/v1/reconciliations/:statementId/items', reconciliationReaders, route(async (req, res) => {
    const report = reportDeps();
    const id = uuidParam(req.params.statementId);
    if (!report || !id) return sendRejection(res, reject(report ? 'NOT_FOUND' : 'SERVICE_UNAVAILABLE'));
    const q = parseItemsQuery(req.query);
    if (!q.ok) return sendRejection(res, q.error);
    const page = await listReconciliationItems(report, callerOf(req), id, q.value, deps.now());
    if (!page.ok) return sendRejection(res, page.error);
    res.json(page.value);
  }));
  const reconciliationDeciders = requireRole(deps.authenticate, 'finance', 'admin');
  const decideDeps = (): DecideReconciliationDeps | null => {
    const report = reportDeps();
    return report && deps.statements ? { ...report, approvalAbove: deps.statements.approvalAbove, ...(deps.statements.tolerance ? { tolerance: deps.statements.tolerance } : {}), now: deps.now } : null;
  };
  app.post('/v1/reconciliations/decisions/:decisionId/approval', reconciliationDeciders, smallJson, route(async (req, res) => {
    const decide = decideDeps();
    const id = uuidParam(req.params.decisionId);
    if (!decide || !id) return sendRejection(res, reject(decide ? 'NOT_FOUND' : 'SERVICE_UNAVAILABLE'));
    const body = parseApprovalRequest(req.body);
    if (!body.ok) return sendRejection(res, body.error);
    const result = await checkReconciliationDecision(decide, callerOf(req), id, body.value, String(req.id));
    if (!result.ok) return sendRejection(res, result.error);
    req.log.info({ decisionId: id, state: result.value.state }, 'reconciliation decision checked');
    res.json(result.value);
  }));
  app.get('/v1/reconciliations/:statementId/decisions', reconciliationReaders, route(async (req, res) => {
    const report = reportDeps();
    const id = uuidParam(req.params.statementId);
    if (!report || !id) return sendRejection(res, reject(report ? 'NOT_FOUND' : 'SERVICE_UNAVAILABLE'));
    const statement = await statementForExport(report, callerOf(req), id);
    if (!statement) return sendRejection(res, reject('NOT_FOUND'));
    const decisions = await deps.persistence.read.reconciliationDecisions.ofStatement(id);
    res.json({ decisions: decisions.map((d) => decisionView(d, statement.currency)) });
  }));
  app.post('/v1/reconciliations/:statementId/items/:itemId/decisions', reconciliationDeciders, smallJson, route(async (req, res) => {
    const decide = decideDeps();
    const id = uuidParam(req.params.statementId);
    const itemId = String(req.params.itemId);
    if (!decide || !id || itemId.length > 64) return sendRejection(res, reject(decide ? 'NOT_FOUND' : 'SERVICE_UNAVAILABLE'));
    const body = parseDecisionRequest(req.body);
    if (!body.ok) return sendRejection(res, body.error);
    const result = await decideReconciliationItem(decide, callerOf(req), id, itemId, body.value, String(req.id));
    if (!result.ok) return sendRejection(res, result.error);
    req.log.info({ statementId: id, itemId, action: result.value.action, state: result.value.state }, 'reconciliation decision');
    res.status(201).json(result.value);
  }));
  app.get('/v1/reconciliations/:statementId/report.csv', reconciliationReaders, route(async (req, res) => {
    const report = reportDeps();
    const id = uuidParam(req.params.statementId);
    if (!report || !id) return sendRejection(res, reject(report ? 'NOT_FOUND' : 'SERVICE_UNAVAILABLE'));
    const statement = await statementForExport(report, callerOf(req), id);
    if (!statement) return sendRejection(res, reject('NOT_FOUND'));
    res.status(200).type('text/csv; charset=utf-8').setHeader('content-disposition', `attachment; filename="reconciliation-${id}.csv"`);
    // Streamed a page of items at a time: a client that reads slowly slows the reads, one that goes away closes them.
    await sendReport(Readable.from((async function* lines() { for await (const line of reconciliationCsv(report, statement, deps.now())) yield `${line}\r\n`; })()), res);
  }));
  app.get('/v1/reconciliations/:statementId/report.xlsx', reconciliationReaders, route(async (req, res) => {
    const report = reportDeps();
    const id = uuidParam(req.params.statementId);
    if (!report || !id) return sendRejection(res, reject(report ? 'NOT_FOUND' : 'SERVICE_UNAVAILABLE'));
    const statement = await statementForExport(report, callerOf(req), id);
    if (!statement) return sendRejection(res, reject('NOT_FOUND'));
    res.status(200).type('application/vnd.openxmlformats-officedocument.spreadsheetml.sheet').setHeader('content-disposition', `attachment; filename="reconciliation-${id}.xlsx"`);
    await sendReport(xlsxStream(reconciliationRows(report, statement, deps.now()), { sheetName: 'Reconciliation' }), res);
  }));

  // Finance decides a payout held because a provider reported something that differs from it.
  app.post('/v1/payouts/:payoutId/decision', requireRole(deps.authenticate, 'finance', 'admin'), smallJson, route(async (req, res) => {
    const id = uuidParam(req.params.payoutId);
    if (!id) return sendRejection(res, reject('NOT_FOUND'));
    const decision = parseDecisionBody(req.body);
    if (!decision.ok) return sendRejection(res, decision.error);
    const result = await decideHeldPayout(deps.persistence, callerOf(req), id, decision.value, String(req.id));
    if (!result.ok) return sendRejection(res, result.error);
    req.log.info({ payoutId: id, outcome: decision.value.outcome }, 'held payout decided by finance');
    res.json(result.value);
  }));

  // The organisation's audit log, oldest first, a page at a time (auditors and admins).
  app.get('/v1/audit', requireRole(deps.authenticate, 'auditor', 'admin'), route(async (req, res) => {
    const after = oneString(req.query.after);
    const limitText = oneString(req.query.limit);
    const limit = limitText === undefined ? auditPageDefault : limitText !== null && /^[1-9][0-9]{0,3}$/.test(limitText) ? Number(limitText) : NaN;
    if (after === null || (after !== undefined && !auditCursorPattern.test(after)) || Number.isNaN(limit) || limit > auditPageMax) {
      return sendRejection(res, reject('QUERY_INVALID', `after: a seq from the last page's next; limit: 1 to ${auditPageMax}`));
    }
    res.json(await listAudit(deps.persistence, callerOf(req).organisationId, { cursor: after ?? null, limit }));
  }));

  // ---------------------------------------------------------------- administration
  const admin = requireRole(deps.authenticate, 'admin');
  app.post('/v1/signer-keys', admin, smallJson, route(async (req, res) => {
    const result = await registerKey(deps.persistence, callerOf(req), req.body, deps.now(), String(req.id));
    if (!result.ok) return sendRejection(res, result.error);
    req.log.info({ kid: result.value.key.kid, role: result.value.key.role, replayed: result.value.replayed }, 'signer key registered');
    res.status(result.value.replayed ? 200 : 201).json(result.value.key);
  }));

  app.get('/v1/signer-keys', requireRole(deps.authenticate, 'admin', 'auditor'), route(async (req, res) => {
    const limit = parseLimit(req.query.limit, signerKeysPageMax, 100);
    const role = req.query.role;
    const cursor = req.query.cursor;
    if (limit === null || (role !== undefined && role !== 'maker' && role !== 'approver') || (cursor !== undefined && typeof cursor !== 'string')) {
      return sendRejection(res, reject('QUERY_INVALID'));
    }
    const page = await listKeys(deps.persistence, callerOf(req), { role: role ?? null, cursor: cursor ?? null, limit }, deps.now());
    if (!page.ok) return sendRejection(res, page.error);
    res.json(page.value);
  }));

  app.get('/v1/signer-keys/:kid', requireRole(deps.authenticate, 'admin', 'auditor'), route(async (req, res) => {
    const kid = String(req.params.kid);
    const key = kidPattern.test(kid) ? await getKey(deps.persistence, callerOf(req), kid, deps.now()) : null;
    if (!key) return sendRejection(res, reject('NOT_FOUND'));
    res.json(key);
  }));

  app.post('/v1/signer-keys/:kid/revoke', admin, optionalJson, route(async (req, res) => {
    const kid = String(req.params.kid);
    if (!kidPattern.test(kid)) return sendRejection(res, reject('NOT_FOUND'));
    const result = await revokeKey(deps.persistence, callerOf(req), kid, req.body, deps.now(), String(req.id));
    if (!result.ok) return sendRejection(res, result.error);
    req.log.info({ kid, revokedAt: result.value.revokedAt }, 'signer key revoked');
    res.json(result.value);
  }));

  app.get('/v1/programmes/:programmeId/policy', anyRole, route(async (req, res) => {
    const policy = await getPolicy(deps.persistence, callerOf(req), String(req.params.programmeId));
    if (!policy) return sendRejection(res, reject('NOT_FOUND'));
    res.json(policy);
  }));

  app.put('/v1/programmes/:programmeId/policy', admin, smallJson, route(async (req, res) => {
    const result = await setPolicy(deps.persistence, callerOf(req), String(req.params.programmeId), req.body, String(req.id));
    if (!result.ok) return sendRejection(res, result.error);
    req.log.info({ programmeId: req.params.programmeId }, 'programme policy changed');
    res.json(result.value);
  }));

  // ---------------------------------------------------------------- ledger (finance)
  const finance = requireRole(deps.authenticate, 'finance', 'auditor', 'admin');
  const fundingJson = express.json({ limit: fundingBodyMaxBytes, strict: true, type: () => true });
  app.post('/v1/programmes/:programmeId/fundings', requireRole(deps.authenticate, 'finance', 'admin'), fundingJson, route(async (req, res) => {
    const key = req.headers['idempotency-key'];
    const result = await recordFunding(deps.persistence, callerOf(req), String(req.params.programmeId), typeof key === 'string' ? key : '', req.body, String(req.id));
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

  app.get('/v1/ledgers/:currency/accounts/:accountKey', finance, route(async (req, res) => {
    const currency = parseCurrency(String(req.params.currency));
    if (!currency) return sendRejection(res, reject('QUERY_INVALID', 'currency'));
    const account = await getAccount(deps.persistence, callerOf(req).organisationId, currency, String(req.params.accountKey));
    if (!account) return sendRejection(res, reject('NOT_FOUND'));
    res.json(account);
  }));

  app.get('/v1/ledgers/:currency/accounts/:accountKey/statement', finance, route(async (req, res) => {
    const currency = parseCurrency(String(req.params.currency));
    const limit = parseLimit(req.query.limit, statementPageMax, 100);
    const cursor = req.query.cursor;
    if (!currency || limit === null || (cursor !== undefined && typeof cursor !== 'string')) return sendRejection(res, reject('QUERY_INVALID'));
    const page = await getStatement(deps.persistence, callerOf(req).organisationId, currency, String(req.params.accountKey), { cursor: cursor ?? null, limit });
    if (!page.ok) return sendRejection(res, page.error);
    res.json(page.value);
  }));

  app.get('/v1/ledgers/:currency/accounts/:accountKey/statement.csv', finance, route(async (req, res) => {
    const currency = parseCurrency(String(req.params.currency));
    if (!currency) return sendRejection(res, reject('QUERY_INVALID', 'currency'));
    const account = await findOwnAccount(deps.persistence, callerOf(req).organisationId, currency, String(req.params.accountKey));
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
  // Each route takes the tokens issued for it alone: a payment request's token on the payment
  // routes, a status query's on the status routes (issue #19 item 1).
  const mpesaCallbacks: Record<string, { route: CallbackRoute; parse: (b: Buffer) => ParsedCallback | null }> = {
    '/v1/callbacks/mpesa/:token': { route: 'payment', parse: (b) => parseB2CCallback(b, 'result') },
    '/v1/callbacks/mpesa/:token/timeout': { route: 'payment', parse: (b) => parseB2CCallback(b, 'timeout') },
    // The asynchronous answer to a transaction status query about the attempt.
    '/v1/callbacks/mpesa/:token/status': { route: 'status', parse: (b) => parseStatusCallback(b) },
    '/v1/callbacks/mpesa/:token/status/timeout': { route: 'status', parse: (b) => parseStatusTimeoutCallback(b) },
  };
  // Refused before the body is read: a caller outside the provider's addresses learns nothing.
  const allowedFrom = (provider: ProviderId) => (req: Request, res: Response, next: NextFunction) => {
    const allowed = deps.callbackAllowLists?.[provider];
    if (allowed && !allowed(req.socket.remoteAddress)) return sendRejection(res, reject('CALLBACK_UNAUTHENTICATED'));
    next();
  };
  for (const [path, { route: kind, parse }] of Object.entries(mpesaCallbacks)) {
    app.post(path, allowedFrom('mpesa'), callbackBody, route(async (req, res) => {
      const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      const result = await recordCallback(deps, 'mpesa', kind, String(req.params.token), raw, parse);
      if (!result.ok) return sendRejection(res, result.error);
      req.log.info({ duplicate: result.value.duplicate, orphan: result.value.orphan, confirming: result.value.confirming }, 'mpesa callback stored');
      res.json({ ResultCode: 0, ResultDesc: 'Accepted' });
    }));
  }

  // MTN MoMo posts (or puts) the TransferResult to X-Callback-Url; it signs nothing, so the
  // per-attempt token in the URL authenticates it. Answered 200 with no body.
  for (const method of ['put', 'post'] as const) {
    app[method]('/v1/callbacks/mtn-momo/:token', allowedFrom('mtn-momo'), callbackBody, route(async (req, res) => {
      const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      const result = await recordCallback(deps, 'mtn-momo', 'payment', String(req.params.token), raw, parseMomoCallback);
      if (!result.ok) return sendRejection(res, result.error);
      req.log.info({ duplicate: result.value.duplicate, orphan: result.value.orphan, confirming: result.value.confirming }, 'mtn-momo callback stored');
      res.status(200).end();
    }));
  }

  // GSMA MM API: PUT to X-Callback-URL with the final Transaction or an ErrorObject, echoing our
  // X-CorrelationID (which names the attempt even in an error body). Answered 204, as GSMA expects.
  app.put('/v1/callbacks/gsma/:token', allowedFrom('gsma'), callbackBody, route(async (req, res) => {
    const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const correlationId = req.get('x-correlationid') ?? null;
    const result = await recordCallback(deps, 'gsma', 'payment', String(req.params.token), raw, (b) => parseGsmaCallback(b, correlationId));
    if (!result.ok) return sendRejection(res, result.error);
    req.log.info({ duplicate: result.value.duplicate, orphan: result.value.orphan, confirming: result.value.confirming }, 'gsma callback stored');
    res.status(204).end();
  }));

  // Airtel registers one callback URL per application: no per-attempt token can be in it. Where the
  // account signs (hmac mode) the `hash` header over the raw body authenticates the callback and its
  // outcome is a result; otherwise (status-query mode, or a transaction we do not know) it is kept
  // and only makes the payout's status query due: that answer, over our own authenticated
  // connection to Airtel, moves the ledger.
  app.post('/v1/callbacks/airtel', allowedFrom('airtel'), callbackBody, route(async (req, res) => {
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
  return app;
}

/**
 * Callback tokens are credentials: never logged. The request target is logged as its path alone
 * (an absolute-form target "http://host/v1/…" is routed too, so its origin is dropped), with the
 * segment after /v1/callbacks/<provider>/ replaced, and any run of 40 or more token characters (a token has 43; ids have 36)
 * anywhere (a token in a path the router did not take, or spelled oddly) replaced as well.
 */
const callbackTokenInPath = /^(\/+v1\/+callbacks\/+[^/]+\/+)[^/]+/i;
const tokenLike = /[A-Za-z0-9_%-]{40,}/g;

export function redactPath(url: string): string {
  let path = (url.split(/[?#]/)[0] ?? '');
  if (!path.startsWith('/')) {
    try {
      path = new URL(path).pathname;
    } catch {
      path = '[unreadable]';
    }
  }
  return path.replace(callbackTokenInPath, '$1[token]').replace(tokenLike, '[token]');
}

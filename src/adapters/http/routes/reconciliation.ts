// Reconciliation: finance imports or pulls provider statements and decides their exceptions;
// finance, admins and auditors read them, their items and decisions, and the report.
import type { Request } from 'express';
import { Router } from 'express';
import { Readable } from 'node:stream';
import { checkStatementFloat } from '../../../application/check-float.js';
import {
  checkReconciliationDecision, decideReconciliationItem, decisionView, parseApprovalRequest, parseDecisionRequest, resolveWithinTolerance, type DecideReconciliationDeps,
} from '../../../application/decide-reconciliation.js';
import { importReconciliation } from '../../../application/import-reconciliation.js';
import type { ImportedStatement } from '../../../application/reconcile.js';
import {
  getReconciliation, listReconciliationItems, listReconciliations, overdueReconciliations, reconciliationCsv, reconciliationRows, statementForExport,
  type ItemsQuery, type ReconciliationReportDeps,
} from '../../../application/reconciliation-report.js';
import { isCurrencyCode } from '../../../domain/currency.js';
import { reject, type Rejection } from '../../../domain/errors.js';
import { formatAmount } from '../../../domain/money.js';
import { err, ok, type Result } from '../../../domain/result.js';
import { xlsxStream } from '../../export/xlsx-writer.js';
import type { ApiDeps } from '../api-deps.js';
import { callerOf } from '../auth.js';
import { sendRejection } from '../errors.js';
import { guardRoute, routesOn, type RouteSetup } from '../permissions.js';
import { registerReconciliationPull } from '../reconciliation-pull-route.js';
import { isoDay, oneString, route, sendReport, smallJson, uuidParam } from '../routing.js';

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

export function reconciliationRouter(deps: ApiDeps, setup: RouteSetup): Router {
  const router = Router();
  const on = routesOn(router, setup);

  // Finance imports a provider statement: the body is the file's bytes, streamed (no body parser).
  on('POST /v1/reconciliations', route(async (req, res) => {
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
  // The module checks the roles itself too; the table's check comes first.
  guardRoute(router, setup, 'POST /v1/reconciliations/pull');
  registerReconciliationPull(router, deps, statementView);

  // Finance (and auditors) read reconciliations: statements, their classes, items, overdue periods, the report.
  const reportDeps = (): ReconciliationReportDeps | null => (deps.statements
    ? { persistence: deps.persistence, reads: deps.statements.reads, accounts: deps.statements.accounts, overdueDays: deps.statements.overdueDays }
    : null);
  on('GET /v1/reconciliations', route(async (req, res) => {
    const report = reportDeps();
    if (!report) return sendRejection(res, reject('SERVICE_UNAVAILABLE', 'reconciliation is not configured in this process'));
    const q = parseListQuery(req.query);
    if (!q.ok) return sendRejection(res, q.error);
    const page = await listReconciliations(report, callerOf(req), q.value);
    if (!page.ok) return sendRejection(res, page.error);
    res.json({ statements: page.value.statements.map((s) => statementView({ ...s, replayed: false })).map(({ replayed: _r, ...v }) => v) });
  }));
  on('GET /v1/reconciliations/overdue', route(async (req, res) => {
    const report = reportDeps();
    if (!report) return sendRejection(res, reject('SERVICE_UNAVAILABLE', 'reconciliation is not configured in this process'));
    res.json({ overdueDays: report.overdueDays, periods: await overdueReconciliations(report, callerOf(req), deps.now()) });
  }));
  on('GET /v1/reconciliations/:statementId', route(async (req, res) => {
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
  on('GET /v1/reconciliations/:statementId/items', route(async (req, res) => {
    const report = reportDeps();
    const id = uuidParam(req.params.statementId);
    if (!report || !id) return sendRejection(res, reject(report ? 'NOT_FOUND' : 'SERVICE_UNAVAILABLE'));
    const q = parseItemsQuery(req.query);
    if (!q.ok) return sendRejection(res, q.error);
    const page = await listReconciliationItems(report, callerOf(req), id, q.value, deps.now());
    if (!page.ok) return sendRejection(res, page.error);
    res.json(page.value);
  }));
  const decideDeps = (): DecideReconciliationDeps | null => {
    const report = reportDeps();
    return report && deps.statements ? { ...report, approvalAbove: deps.statements.approvalAbove, ...(deps.statements.tolerance ? { tolerance: deps.statements.tolerance } : {}), now: deps.now } : null;
  };
  on('POST /v1/reconciliations/decisions/:decisionId/approval', smallJson(), route(async (req, res) => {
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
  on('GET /v1/reconciliations/:statementId/decisions', route(async (req, res) => {
    const report = reportDeps();
    const id = uuidParam(req.params.statementId);
    if (!report || !id) return sendRejection(res, reject(report ? 'NOT_FOUND' : 'SERVICE_UNAVAILABLE'));
    const statement = await statementForExport(report, callerOf(req), id);
    if (!statement) return sendRejection(res, reject('NOT_FOUND'));
    const decisions = await deps.persistence.read.reconciliationDecisions.ofStatement(id);
    res.json({ decisions: decisions.map((d) => decisionView(d, statement.currency)) });
  }));
  on('POST /v1/reconciliations/:statementId/items/:itemId/decisions', smallJson(), route(async (req, res) => {
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
  on('GET /v1/reconciliations/:statementId/report.csv', route(async (req, res) => {
    const report = reportDeps();
    const id = uuidParam(req.params.statementId);
    if (!report || !id) return sendRejection(res, reject(report ? 'NOT_FOUND' : 'SERVICE_UNAVAILABLE'));
    const statement = await statementForExport(report, callerOf(req), id);
    if (!statement) return sendRejection(res, reject('NOT_FOUND'));
    res.status(200).type('text/csv; charset=utf-8').setHeader('content-disposition', `attachment; filename="reconciliation-${id}.csv"`);
    // Streamed a page of items at a time: a client that reads slowly slows the reads, one that goes away closes them.
    await sendReport(Readable.from((async function* lines() { for await (const line of reconciliationCsv(report, statement, deps.now())) yield `${line}\r\n`; })()), res);
  }));
  on('GET /v1/reconciliations/:statementId/report.xlsx', route(async (req, res) => {
    const report = reportDeps();
    const id = uuidParam(req.params.statementId);
    if (!report || !id) return sendRejection(res, reject(report ? 'NOT_FOUND' : 'SERVICE_UNAVAILABLE'));
    const statement = await statementForExport(report, callerOf(req), id);
    if (!statement) return sendRejection(res, reject('NOT_FOUND'));
    res.status(200).type('application/vnd.openxmlformats-officedocument.spreadsheetml.sheet').setHeader('content-disposition', `attachment; filename="reconciliation-${id}.xlsx"`);
    await sendReport(xlsxStream(reconciliationRows(report, statement, deps.now()), { sheetName: 'Reconciliation' }), res);
  }));

  return router;
}

// The ledger: accounts, statements, the trial balance and journals of the organisation (finance, auditors, admins).
import { Router } from 'express';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  accountsPageMax, findOwnAccount, getAccount, getJournal, getStatement, getTrialBalance, listAccounts, parseCurrency, parseLimit, statementCsv, statementPageMax,
} from '../../../application/ledger.js';
import { reject } from '../../../domain/errors.js';
import type { ApiDeps } from '../api-deps.js';
import { callerOf } from '../auth.js';
import { sendRejection } from '../errors.js';
import { routesOn, type RouteSetup } from '../permissions.js';
import { csvPageSize, route, uuidPattern } from '../routing.js';

export function ledgerRouter(deps: ApiDeps, setup: RouteSetup): Router {
  const router = Router();
  const on = routesOn(router, setup);

  on('GET /v1/ledgers/:currency/accounts', route(async (req, res) => {
    const currency = parseCurrency(String(req.params.currency));
    const limit = parseLimit(req.query.limit, accountsPageMax, 100);
    const cursor = req.query.cursor;
    if (!currency || limit === null || (cursor !== undefined && typeof cursor !== 'string')) return sendRejection(res, reject('QUERY_INVALID'));
    const page = await listAccounts(deps.persistence, callerOf(req).organisationId, currency, { cursor: cursor ?? null, limit });
    if (!page.ok) return sendRejection(res, page.error);
    res.json(page.value);
  }));

  on('GET /v1/ledgers/:currency/accounts/:accountKey', route(async (req, res) => {
    const currency = parseCurrency(String(req.params.currency));
    if (!currency) return sendRejection(res, reject('QUERY_INVALID', 'currency'));
    const account = await getAccount(deps.persistence, callerOf(req).organisationId, currency, String(req.params.accountKey));
    if (!account) return sendRejection(res, reject('NOT_FOUND'));
    res.json(account);
  }));

  on('GET /v1/ledgers/:currency/accounts/:accountKey/statement', route(async (req, res) => {
    const currency = parseCurrency(String(req.params.currency));
    const limit = parseLimit(req.query.limit, statementPageMax, 100);
    const cursor = req.query.cursor;
    if (!currency || limit === null || (cursor !== undefined && typeof cursor !== 'string')) return sendRejection(res, reject('QUERY_INVALID'));
    const page = await getStatement(deps.persistence, callerOf(req).organisationId, currency, String(req.params.accountKey), { cursor: cursor ?? null, limit });
    if (!page.ok) return sendRejection(res, page.error);
    res.json(page.value);
  }));

  on('GET /v1/ledgers/:currency/accounts/:accountKey/statement.csv', route(async (req, res) => {
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

  on('GET /v1/ledgers/:currency/trial-balance', route(async (req, res) => {
    const currency = parseCurrency(String(req.params.currency));
    if (!currency) return sendRejection(res, reject('QUERY_INVALID', 'currency'));
    res.json(await getTrialBalance(deps.persistence, callerOf(req).organisationId, currency));
  }));

  on('GET /v1/journals/:journalId', route(async (req, res) => {
    const id = String(req.params.journalId).toLowerCase();
    const journal = uuidPattern.test(id) ? await getJournal(deps.persistence, callerOf(req).organisationId, id) : null;
    if (!journal) return sendRejection(res, reject('NOT_FOUND'));
    res.json(journal);
  }));

  return router;
}

// Administration and oversight: the audit log (auditors and admins), provider account breakers by
// hand (admins), and the programmes past their retention (admins and auditors).
import { Router, type Request, type Response } from 'express';
import { auditCursorPattern, auditPageDefault, auditPageMax, listAudit } from '../../../application/audit.js';
import { accountsServing, getBreaker, setBreaker, type BreakerDeps } from '../../../application/breaker-holds.js';
import { deadLetteredCursorPattern, listOrphans, listProviderOperations, operationsPageDefault, operationsPageMax, orphanCursorPattern } from '../../../application/operations.js';
import type { CurrencyCode } from '../../../domain/currency.js';
import { formatAmount } from '../../../domain/money.js';
import { listPastRetention, retentionDuePageDefault, retentionDuePageMax } from '../../../application/erase-programme.js';
import { reject } from '../../../domain/errors.js';
import type { ApiDeps } from '../api-deps.js';
import { callerOf } from '../auth.js';
import { sendRejection } from '../errors.js';
import { jsonBody } from '../json-body.js';
import { routesOn, type RouteSetup } from '../permissions.js';
import { oneString, route } from '../routing.js';

/** A breaker change is {state, reason}: a few hundred bytes. */
export const breakerBodyMaxBytes = 4 * 1024;
const breakerJson = jsonBody({ limit: breakerBodyMaxBytes, type: () => true });
const programmeCursor = /^[A-Za-z0-9_.:-]{1,64}$/;

/** A page size from the query: 1..max, `fallback` when absent; NaN when malformed. */
function limitOf(req: Request, fallback: number, max: number): number {
  const text = oneString(req.query.limit);
  const limit = text === undefined ? fallback : text !== null && /^[1-9][0-9]{0,3}$/.test(text) ? Number(text) : NaN;
  return limit > max ? NaN : limit;
}

export function adminRouter(deps: ApiDeps, setup: RouteSetup): Router {
  const router = Router();
  const on = routesOn(router, setup);
  const breakerDeps = (res: Response): BreakerDeps | null => {
    if (!deps.breakerHolds) {
      sendRejection(res, reject('SERVICE_UNAVAILABLE', 'provider account holds are not configured in this process'));
      return null;
    }
    return { holds: deps.breakerHolds, accounts: () => deps.statements?.accounts() ?? [], now: deps.now };
  };

  // The organisation's audit log, and the system events that concern it, oldest first, a page at a time (auditors and admins).
  on('GET /v1/audit', route(async (req, res) => {
    const after = oneString(req.query.after);
    const limit = limitOf(req, auditPageDefault, auditPageMax);
    if (after === null || (after !== undefined && !auditCursorPattern.test(after)) || Number.isNaN(limit)) {
      return sendRejection(res, reject('QUERY_INVALID', `after: a seq from the last page's next; limit: 1 to ${auditPageMax}`));
    }
    const { organisationId } = callerOf(req);
    const accountIds = deps.breakerHolds ? (await accountsServing({ holds: deps.breakerHolds, accounts: () => deps.statements?.accounts() ?? [] }, organisationId)).map((a) => a.id) : [];
    res.json(await listAudit(deps.persistence, { organisationId, accountIds }, { cursor: after ?? null, limit }));
  }));

  // A provider account's breaker by hand: held open until closed, or closed now (admins; auditors read it).
  on('GET /v1/provider-accounts/:accountId/breaker', route(async (req, res) => {
    const d = breakerDeps(res);
    if (!d) return;
    const result = await getBreaker(d, callerOf(req), String(req.params.accountId));
    if (!result.ok) return sendRejection(res, result.error);
    res.json(result.value);
  }));

  on('PUT /v1/provider-accounts/:accountId/breaker', breakerJson, route(async (req, res) => {
    const d = breakerDeps(res);
    if (!d) return;
    const accountId = String(req.params.accountId);
    const result = await setBreaker(d, callerOf(req), accountId, req.body, req.id === undefined ? null : String(req.id).slice(0, 128));
    if (!result.ok) return sendRejection(res, result.error);
    req.log.warn({ account: accountId, hold: result.value.view.hold, replayed: result.value.replayed }, 'provider account breaker changed by hand');
    res.json({ ...result.value.view, replayed: result.value.replayed });
  }));

  // The provider accounts serving a programme of the organisation, with their holds and what each worker last reported of its breaker (admins and auditors).
  on('GET /v1/operations/providers', route(async (req, res) => {
    if (Object.keys(req.query).length > 0) return sendRejection(res, reject('QUERY_INVALID', 'this list takes no query parameters'));
    if (!deps.breakerHolds || !deps.operations) return sendRejection(res, reject('SERVICE_UNAVAILABLE', 'operations are not configured in this process'));
    const { reads, accounts } = deps.operations;
    res.json(await listProviderOperations({ holds: deps.breakerHolds, reads, accounts }, callerOf(req)));
  }));

  // The organisation's payouts on their way by provider and stage, as the database has them (admins and auditors).
  on('GET /v1/operations/queues', route(async (req, res) => {
    if (Object.keys(req.query).length > 0) return sendRejection(res, reject('QUERY_INVALID', 'this read takes no query parameters'));
    const queues = deps.operations?.queues;
    if (!queues) return sendRejection(res, reject('SERVICE_UNAVAILABLE', 'operations are not configured in this process'));
    const depths = await queues.queueDepths(callerOf(req).organisationId, deps.now());
    res.json({ depths: depths.map((d) => ({ provider: d.provider, stage: d.stage, count: d.count, oldest: d.oldest.toISOString() })) });
  }));

  // Its payouts flagged for operators (attempts or status checks ran out), oldest first, for an admin to requeue.
  on('GET /v1/operations/dead-lettered', route(async (req, res) => {
    const after = oneString(req.query.after);
    const limit = limitOf(req, operationsPageDefault, operationsPageMax);
    const cursor = after === undefined || after === null ? null : deadLetteredCursorPattern.exec(after);
    const unknown = Object.keys(req.query).some((k) => k !== 'after' && k !== 'limit');
    if (unknown || after === null || (after !== undefined && !cursor) || Number.isNaN(limit)) {
      return sendRejection(res, reject('QUERY_INVALID', `after: the last page's next; limit: 1 to ${operationsPageMax}`));
    }
    const queues = deps.operations?.queues;
    if (!queues) return sendRejection(res, reject('SERVICE_UNAVAILABLE', 'operations are not configured in this process'));
    const page = await queues.deadLettered(callerOf(req).organisationId, cursor ? { micros: BigInt(cursor[1]!), id: cursor[2]! } : null, limit);
    res.json({
      payouts: page.map((p) => ({
        payoutId: p.payoutId, batchId: p.batchId, ref: p.ref, provider: p.provider, state: p.state, amount: formatAmount(p.amountMinor, p.currency as CurrencyCode), currency: p.currency,
        attempts: p.attempts, failureCode: p.failureCode, flaggedAt: p.flaggedAt.toISOString(),
      })),
      next: page.length === limit ? page[page.length - 1]!.cursor : null,
    });
  }));

  // Callbacks kept for no payout: those of the providers serving the organisation, never their bodies.
  on('GET /v1/operations/orphan-callbacks', route(async (req, res) => {
    const after = oneString(req.query.after);
    const limit = limitOf(req, operationsPageDefault, operationsPageMax);
    const unknown = Object.keys(req.query).some((k) => k !== 'after' && k !== 'limit');
    if (unknown || after === null || (after !== undefined && !orphanCursorPattern.test(after)) || Number.isNaN(limit)) {
      return sendRejection(res, reject('QUERY_INVALID', `after: the last page's next (a callback id); limit: 1 to ${operationsPageMax}`));
    }
    const ops = deps.operations;
    if (!deps.breakerHolds || !ops?.queues) return sendRejection(res, reject('SERVICE_UNAVAILABLE', 'operations are not configured in this process'));
    res.json(await listOrphans({ holds: deps.breakerHolds, reads: ops.reads, accounts: ops.accounts, queues: ops.queues }, callerOf(req), BigInt(after ?? '0'), limit));
  }));

  // The organisation's programmes past their retention, not erased: for two admins to erase (admins and auditors).
  on('GET /v1/programmes/retention-due', route(async (req, res) => {
    const after = oneString(req.query.after);
    const limit = limitOf(req, retentionDuePageDefault, retentionDuePageMax);
    if (after === null || (after !== undefined && !programmeCursor.test(after)) || Number.isNaN(limit)) {
      return sendRejection(res, reject('QUERY_INVALID', `after: a programme id from the last page's next; limit: 1 to ${retentionDuePageMax}`));
    }
    if (!deps.erasure) return sendRejection(res, reject('SERVICE_UNAVAILABLE', 'erasure is not configured in this process'));
    res.json(await listPastRetention({ erasure: deps.erasure, now: deps.now }, callerOf(req), { after: after ?? null, limit }));
  }));

  return router;
}

// POST /v1/reconciliations/pull?account=&from=&to= (issue #14 item 1): finance has a GSMA
// account's statement for a window that has ended pulled from the provider and reconciled. No
// body; the answer is the import's (201 new, 200 the same entries pulled before: replayed), in the
// view app.ts gives it (passed in: importing it from app.ts, which registers this route, would be
// a cycle). The pull may take a while (a page per provider call): the request waits for it.
import type { IRouter, NextFunction, Request, Response } from 'express';
import type { StatementAccount } from '../../application/import-reconciliation.js';
import type { BeneficiaryVault, Persistence, StatementStore } from '../../application/ports.js';
import { pullReconciliation, type PullStatement } from '../../application/pull-reconciliation.js';
import type { ImportedStatement, ImportStatementDeps } from '../../application/reconcile.js';
import { reject, type Rejection } from '../../domain/errors.js';
import { err, ok, type Result } from '../../domain/result.js';
import { callerOf, requireRole, type Authenticate } from './auth.js';
import { sendRejection } from './errors.js';

/** What the route needs of the API's deps (ApiDeps is one). */
export interface ReconciliationPullRouteDeps {
  readonly authenticate: Authenticate;
  readonly persistence: Persistence;
  readonly vault: Pick<BeneficiaryVault, 'sealUnowned'>;
  readonly now: () => Date;
  /** Absent, or without `pull`: 503. */
  readonly statements?: {
    readonly store: StatementStore;
    readonly accounts: () => readonly (StatementAccount & { readonly id: string })[];
    readonly readers?: ImportStatementDeps['readers'];
    /** The statements Tuma pulls from providers (GSMA accounts). */
    readonly pull?: PullStatement;
  };
}

const isoInstant = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2}))?$/;
const accountPattern = /^[a-z0-9][a-z0-9-]{0,62}$/;
const parameters = new Set(['account', 'from', 'to']);

/** ?account=&from=&to=: each once; from and to ISO dates (00:00 UTC) or instants (whole seconds: pullReconciliation checks). */
function parsePullQuery(q: Request['query']): Result<{ accountId: string; period: { from: Date; to: Date } }, Rejection> {
  const other = Object.keys(q).find((name) => !parameters.has(name));
  if (other !== undefined) return err(reject('STATEMENT_REQUEST_INVALID', 'a pull takes account, from and to only (the format is the provider\'s, every line is checked)'));
  const one = (name: string) => (typeof q[name] === 'string' ? (q[name] as string) : null);
  const [account, from, to] = ['account', 'from', 'to'].map(one);
  if (!account || !accountPattern.test(account)) return err(reject('STATEMENT_REQUEST_INVALID', 'account: one provider account id'));
  const at = (v: string | null | undefined) => (v && isoInstant.test(v) ? new Date(v.length === 10 ? `${v}T00:00:00Z` : v) : null);
  const [fromAt, toAt] = [at(from), at(to)];
  if (!fromAt || !toAt || Number.isNaN(fromAt.getTime()) || Number.isNaN(toAt.getTime())) {
    return err(reject('STATEMENT_REQUEST_INVALID', 'from and to: once each, ISO dates (YYYY-MM-DD) or instants; the window is [from, to), in whole seconds'));
  }
  return ok({ accountId: account, period: { from: fromAt, to: toAt } });
}

/**
 * Registers POST /v1/reconciliations/pull (finance, admin) on `app`, before its not-found handler;
 * `view` is the import route's own view of a statement (app.ts statementView).
 */
export function registerReconciliationPull(app: IRouter, deps: ReconciliationPullRouteDeps, view: (statement: ImportedStatement) => object): void {
  app.post('/v1/reconciliations/pull', requireRole(deps.authenticate, 'finance', 'admin'), (req: Request, res: Response, next: NextFunction) => {
    pull(req, res).catch(next);
  });

  async function pull(req: Request, res: Response): Promise<void> {
    const hasBody = Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined;
    req.resume();
    const statements = deps.statements;
    const pullStatement = statements?.pull;
    if (!statements || !pullStatement) return sendRejection(res, reject('SERVICE_UNAVAILABLE', 'statement pulls are not configured in this process'));
    if (hasBody) return sendRejection(res, reject('STATEMENT_REQUEST_INVALID', 'a pull takes no body: the statement comes from the provider'));
    const query = parsePullQuery(req.query);
    if (!query.ok) return sendRejection(res, query.error);
    const accountOf = (id: string) => statements.accounts().find((a) => a.id === id) ?? null;
    const result = await pullReconciliation(
      { store: statements.store, readers: statements.readers, accountOf, pullStatement, persistence: deps.persistence, vault: deps.vault, now: deps.now },
      callerOf(req),
      query.value,
    );
    if (!result.ok) {
      if (result.error.code !== 'NOT_FOUND' && result.error.code !== 'STATEMENT_REQUEST_INVALID') {
        req.log.warn({ account: query.value.accountId, code: result.error.code, detail: result.error.detail }, 'statement pull refused');
      }
      return sendRejection(res, result.error);
    }
    req.log.info({ statementId: result.value.statementId, account: result.value.accountId, lines: result.value.linesTotal, replayed: result.value.replayed }, 'statement pulled and imported');
    res.status(result.value.replayed ? 200 : 201).json(view(result.value));
  }
}

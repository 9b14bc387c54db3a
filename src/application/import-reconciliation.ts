// POST /v1/reconciliations (issue #14): finance imports a provider statement for one provider
// account and period. The account must serve a programme of the caller's organisation (or every
// programme): a statement of a shared account is the account's, and every organisation it pays
// for may reconcile it. The bytes stream from the request into importStatement (SHA-256, sealed
// original, COPY, one set-based pass); nothing here holds the file.
import { PassThrough, type Readable } from 'node:stream';
import { reject, type ErrorCode, type Rejection } from '../domain/errors.js';
import type { StatementRejection } from '../domain/reconciliation.js';
import { err, ok, type Result } from '../domain/result.js';
import type { Actor, Persistence } from './ports.js';
import { importStatement, type ImportedStatement, type ImportStatementDeps } from './reconcile.js';

/** A provider account as a statement import needs it. */
export interface StatementAccount {
  readonly currency: string;
  /** The format (`id@version`) of the account's statements when an import names none: its provider's. */
  readonly statementFormat: string;
  /** Its own identifiers as statements name them (an M-Pesa shortcode, a GSMA `type/value`); none: not checked. */
  readonly identifiers?: readonly string[];
  /** The programmes it pays for; '*': every programme. */
  readonly programmes: readonly string[] | '*';
}

export interface ImportReconciliationDeps extends ImportStatementDeps {
  readonly persistence: Persistence;
  readonly accountOf: (accountId: string) => StatementAccount | null;
}

export interface ImportReconciliationRequest {
  readonly accountId: string;
  /** null: the account's own format. */
  readonly format: string | null;
  readonly period: { readonly from: Date; readonly to: Date };
  readonly importGoodLines: boolean;
}

/** The stable API code of each statement refusal. */
const codeOf: Record<StatementRejection['code'], ErrorCode> = {
  STATEMENT_REQUEST_INVALID: 'STATEMENT_REQUEST_INVALID',
  STATEMENT_FORMAT_UNKNOWN: 'STATEMENT_FORMAT_UNKNOWN',
  STATEMENT_TOO_LARGE: 'STATEMENT_TOO_LARGE',
  STATEMENT_HEADER_INVALID: 'STATEMENT_HEADER_INVALID',
  STATEMENT_PERIOD_MISMATCH: 'STATEMENT_PERIOD_MISMATCH',
  STATEMENT_PERIOD_OVERLAP: 'STATEMENT_PERIOD_OVERLAP',
  STATEMENT_CURRENCY_MISMATCH: 'STATEMENT_CURRENCY_MISMATCH',
  STATEMENT_FILE_INVALID: 'STATEMENT_FILE_INVALID',
  STATEMENT_ACCOUNT_MISMATCH: 'STATEMENT_ACCOUNT_MISMATCH',
  STATEMENT_LINES_INVALID: 'STATEMENT_LINES_INVALID',
};

/** Whether the caller's organisation may reconcile this account: it pays for one of its programmes, or for every programme. */
export async function servesCaller(persistence: Persistence, account: StatementAccount, organisationId: string): Promise<boolean> {
  if (account.programmes === '*') return true;
  for (const programmeId of account.programmes) {
    const programme = await persistence.read.batches.findProgramme(programmeId);
    if (programme?.organisationId === organisationId) return true;
  }
  return false;
}

export async function importReconciliation(
  deps: ImportReconciliationDeps,
  caller: Actor,
  request: ImportReconciliationRequest,
  source: Readable,
): Promise<Result<ImportedStatement, Rejection & { readonly lines?: StatementRejection['lines']; readonly badLines?: number }>> {
  const account = deps.accountOf(request.accountId);
  // Another organisation's account, or none: the same answer, so that ids are not probed.
  if (!account || !(await servesCaller(deps.persistence, account, caller.organisationId))) {
    source.resume();
    return err(reject('NOT_FOUND', 'no such provider account'));
  }
  // The import may stop reading (a refusal, a bad header) and destroy what it reads: it reads a
  // pipe of the request, and what it leaves of the request is drained, so the answer reaches the caller.
  const body = new PassThrough();
  // A pipe passes no error on: an upload that breaks off (or a pulled statement that fails) must
  // end the import, or COPY would wait inside its transaction for bytes that never come.
  const stop = (error: Error) => body.destroy(error);
  source.once('error', stop);
  source.once('close', () => {
    if (!source.readableEnded) body.destroy(new Error('the statement stopped before its end'));
  });
  source.pipe(body);
  const imported = await importStatement(deps, {
    source: body,
    accountId: request.accountId,
    currency: account.currency,
    format: request.format ?? account.statementFormat,
    ...(account.identifiers ? { accountIdentifiers: account.identifiers } : {}),
    period: request.period,
    options: { importGoodLines: request.importGoodLines },
    caller: { organisationId: caller.organisationId, subject: caller.subject },
  });
  source.unpipe(body);
  source.resume();
  if (imported.ok) return ok(imported.value);
  const r = imported.error;
  return err({ ...reject(codeOf[r.code], r.detail), ...(r.lines ? { lines: r.lines } : {}), ...(r.badLines !== undefined ? { badLines: r.badLines } : {}) });
}

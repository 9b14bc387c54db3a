// POST /v1/reconciliations/pull and `tuma reconcile pull` (issue #14 item 1): finance has a GSMA
// account's statement for a window that has ended pulled from the provider (the Account Statement
// Entries API has no file to export) and reconciled, exactly as an uploaded statement is: the
// pulled entries CSV (gsma-statemententries@1) is the source of importReconciliation, so the
// same access rule, the same import and the same answers hold. The pull itself is a port
// (adapters/providers/gsma/gsma-statement-source.ts): this module knows no provider.
//
// A pull that fails (the provider refuses a page, its count changes while the pages are read,
// the connection drops) fails the import: nothing is stored, and the answer says the pull failed.
// The same window pulled again with nothing changed at the provider is the same bytes: the stored
// reconciliation answers again (replayed).
import { PassThrough, type Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { reject, type ErrorCode, type Rejection } from '../domain/errors.js';
import { err, type Result } from '../domain/result.js';
import { formatKeyOf, gsmaStatementEntriesV1 } from '../domain/statement-formats.js';
import { importReconciliation, servesCaller, type ImportReconciliationDeps } from './import-reconciliation.js';
import type { Actor } from './ports.js';
import { statementPeriodMaxMs, type ImportedStatement } from './reconcile.js';

/** The format of a pulled statement: the GSMA entries CSV the pull writes. */
export const pulledStatementFormat = formatKeyOf(gsmaStatementEntriesV1);
/** Characters of a pull failure's own words kept in the answer's detail. */
export const pullDetailCharsMax = 300;

/** [from, to): whole seconds, `to` in the past. */
export interface StatementPeriod {
  readonly from: Date;
  readonly to: Date;
}

/**
 * Why a pull failed, in words fit for the caller (positions, counts, the provider's HTTP status
 * and error code; never an entry's content). The port throws it, or its stream errors with it.
 */
export class StatementPullError extends Error {
  override readonly name = 'StatementPullError';
}

/**
 * The statement of a provider account for a closed window, pulled from the provider as the entries
 * CSV of `pulledStatementFormat`, read once. The stream errors (or the call throws) with a
 * StatementPullError when the pull fails; destroying the stream stops the pull.
 */
export type PullStatement = (accountId: string, period: StatementPeriod) => Readable;

export interface PullReconciliationDeps extends ImportReconciliationDeps {
  readonly pullStatement: PullStatement;
  readonly now: () => Date;
}

export interface PullReconciliationRequest {
  readonly accountId: string;
  readonly period: StatementPeriod;
}

export async function pullReconciliation(
  deps: PullReconciliationDeps,
  caller: Actor,
  request: PullReconciliationRequest,
): Promise<Result<ImportedStatement, Rejection>> {
  const account = deps.accountOf(request.accountId);
  // Another organisation's account, none, or one whose statements are not pulled: the import's answer, so that ids are not probed.
  if (!account || !(await servesCaller(deps.persistence, account, caller.organisationId)) || account.statementFormat !== pulledStatementFormat) {
    return err(reject('NOT_FOUND', 'no such provider account'));
  }
  const problem = periodProblem(request.period, deps.now());
  if (problem) return err(reject('STATEMENT_REQUEST_INVALID', problem));

  let pulled: Readable;
  try {
    pulled = deps.pullStatement(request.accountId, request.period);
  } catch (error) {
    if (error instanceof StatementPullError) return err(pullFailed(error));
    throw error;
  }
  // What the pull errors with reaches the import through `source` (Readable.pipe, which
  // importReconciliation reads it with, would leave the import waiting for an end that never comes).
  const source = new ErrorForwarding();
  let pullError: unknown = null;
  source.on('error', (error) => {
    pullError ??= error;
  });
  void pipeline(pulled, source).catch(() => undefined);
  try {
    const imported = await importReconciliation(
      // The pulled bytes are the entries CSV already: the container's reader passes them on.
      { ...deps, readers: { ...deps.readers, 'gsma-statemententries': () => new PassThrough() } },
      caller,
      { accountId: request.accountId, format: pulledStatementFormat, period: request.period, importGoodLines: false },
      source,
    );
    if (pullError) return err(pullFailed(pullError));
    return imported;
  } catch (error) {
    if (pullError) return err(pullFailed(pullError));
    throw error;
  } finally {
    // A refusal stops reading: the pages not read yet are not asked for.
    source.destroy();
  }
}

/** What is wrong with a pull's window, or null: [from, to) in whole seconds, ended by `now`, at most a statement's longest period. */
function periodProblem({ from, to }: StatementPeriod, now: Date): string | null {
  const [f, t] = [from.getTime(), to.getTime()];
  if (!Number.isFinite(f) || !Number.isFinite(t) || f % 1000 !== 0 || t % 1000 !== 0) return 'from and to: instants in whole seconds';
  if (!(f < t) || t - f > statementPeriodMaxMs) return 'period: from must be before to, at most 366 days apart';
  if (t > now.getTime()) {
    return `the window has not ended (to is ${to.toISOString()}): entries still being created would shift the provider's pages; pull it once it has`;
  }
  return null;
}

/** The code of a pull that failed. */
/** A pull that failed: the provider refused or did not answer a page, or its entries moved while they were read. */
export const pullFailedCode: ErrorCode = 'STATEMENT_PULL_FAILED';

function pullFailed(error: unknown): Rejection {
  const words = error instanceof StatementPullError ? error.message : 'the pull stopped';
  return reject(pullFailedCode, `the provider's statement could not be pulled: ${words}`.slice(0, pullDetailCharsMax));
}

/**
 * A pass-through whose error reaches every stream it is piped to (Readable.pipe leaves them open,
 * waiting): the import reading it stops with the pull's error instead of waiting forever, also
 * when the pull failed before the import began to read.
 */
class ErrorForwarding extends PassThrough {
  override pipe<T extends NodeJS.WritableStream>(destination: T, options?: { end?: boolean }): T {
    const forward = (error: Error) => {
      // The import may not be reading yet: its pipeline finds the error in the stream's state.
      destination.on('error', () => undefined);
      (destination as unknown as Writable).destroy(error);
    };
    const unpiped = (from: unknown) => {
      if (from !== this) return;
      this.off('error', forward);
      destination.removeListener('unpipe', unpiped);
    };
    const failed = this.errored;
    if (failed) {
      process.nextTick(forward, failed);
      return destination;
    }
    this.on('error', forward);
    destination.on('unpipe', unpiped);
    return super.pipe(destination, options);
  }
}

// Finance resolves a reconciliation's exceptions (issue #14 item 6). A decision names one
// exception and one action (domain/reconciliation-decision.ts) with a comment. In one SQL
// transaction: the exception is read, the owner of its money found (its payout's organisation,
// programme and provider; or, for a line no payout of ours explains, the organisation that
// imported the statement), the decision stored (one live decision per exception: a second is a
// conflict), and — unless it moves more than RECONCILIATION_APPROVAL_ABOVE — applied: a balanced
// journal whose transfer id derives from the exception, the payout's own reversal, or a status
// query made due. Above the threshold it waits for a second finance user, who approves (it is then
// applied, in that user's transaction) or rejects it. Every step is an audit event of the same
// transaction: no decision without its record.
import { randomUUID } from 'node:crypto';
import { auditFreeText } from '../domain/audit.js';
import { isCurrencyCode, type CurrencyCode } from '../domain/currency.js';
import { reject, type Rejection } from '../domain/errors.js';
import { postings } from '../domain/ledger-rules.js';
import { formatAmount } from '../domain/money.js';
import { movePayout } from '../domain/payout-state.js';
import {
  decisionActions, decisionAmountMinor, decisionCommentCharsMax, decisionJournal, type DecidedException, type DecisionAction,
} from '../domain/reconciliation-decision.js';
import { exceptionClasses } from '../domain/reconciliation-report.js';
import { assert, err, ok, type Result } from '../domain/result.js';
import { providerOfFormat } from '../domain/statement-formats.js';
import { appendAudit } from './audit.js';
import type { Actor, ItemCursor, ReconciliationDecision, Repos, StatementRecord } from './ports.js';
import { itemCursorOf, statementForExport, type ReconciliationReportDeps } from './reconciliation-report.js';

export interface DecideReconciliationDeps extends ReconciliationReportDeps {
  /** Money a decision may move without a second finance user, per currency (minor units); absent: none. */
  readonly approvalAbove: (currency: CurrencyCode) => bigint | null;
  /** A difference Tuma writes off by itself, per currency (minor units); absent or 0: none (the default). */
  readonly tolerance?: (currency: CurrencyCode) => bigint | null;
  readonly now: () => Date;
}

/** The actor of decisions Tuma makes by itself (a difference within the configured tolerance). */
export const toleranceActor = 'tuma:tolerance';
/** Classes a tolerance applies to: a difference of amount or fee on a payout Tuma knows. */
const toleratedClasses = ['amount_over', 'amount_under', 'fee_mismatch'] as const;
/** Items read per page while looking for differences within the tolerance. */
const tolerancePage = 1_000;

export interface DecisionRequest {
  readonly action: DecisionAction;
  readonly comment: string;
}

const comment = (value: unknown): string | null =>
  typeof value === 'string' && value.trim().length > 0 && value.length <= decisionCommentCharsMax && !/\p{Cc}/u.test(value) ? value.trim() : null;

export function parseDecisionRequest(body: unknown): Result<DecisionRequest, Rejection> {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return err(reject('RECONCILIATION_DECISION_INVALID', 'expected a JSON object {action, comment}'));
  const { action, comment: text, ...rest } = body as Record<string, unknown>;
  if (Object.keys(rest).length > 0) return err(reject('RECONCILIATION_DECISION_INVALID', 'the only members are action and comment'));
  if (typeof action !== 'string' || !(decisionActions as readonly string[]).includes(action)) {
    return err(reject('RECONCILIATION_DECISION_INVALID', `action is one of ${decisionActions.join(', ')}`));
  }
  const c = comment(text);
  if (c === null) return err(reject('RECONCILIATION_DECISION_INVALID', `comment is 1-${decisionCommentCharsMax} printable characters saying why`));
  return ok({ action: action as DecisionAction, comment: c });
}

export function parseApprovalRequest(body: unknown): Result<{ approve: boolean; comment: string }, Rejection> {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return err(reject('RECONCILIATION_DECISION_INVALID', 'expected a JSON object {approve, comment}'));
  const { approve, comment: text, ...rest } = body as Record<string, unknown>;
  if (Object.keys(rest).length > 0 || typeof approve !== 'boolean') return err(reject('RECONCILIATION_DECISION_INVALID', 'expected {approve: true|false, comment}'));
  const c = comment(text);
  if (c === null) return err(reject('RECONCILIATION_DECISION_INVALID', `comment is 1-${decisionCommentCharsMax} printable characters`));
  return ok({ approve, comment: c });
}

/** The exception an item id names in a statement: a line or payout item, or a failed balance check. */
async function exceptionOf(deps: DecideReconciliationDeps, statement: StatementRecord, itemId: string): Promise<Result<DecidedException & { payoutId: string | null }, Rejection>> {
  const check = /^check-([0-9]{1,9})$/.exec(itemId);
  if (check) {
    const n = Number(check[1]);
    if (!(await deps.reads.checks(statement.statementId)).some((c) => c.checkNo === n)) return err(reject('NOT_FOUND', 'no such balance check'));
    return ok({ statementId: statement.statementId, itemId, class: 'balance_check', kind: null, statementMinor: null, feeMinor: null, ledgerMinor: null, ledgerFeeMinor: null, payoutId: null });
  }
  const item = await deps.reads.item(statement.statementId, itemId);
  if (!item) return err(reject('NOT_FOUND', 'no such item'));
  if (!exceptionClasses.includes(item.class)) return err(reject('RECONCILIATION_DECISION_INVALID', `a ${item.class} item needs no decision`));
  if (item.closedBy !== null && item.decision?.state !== 'applied') return err(reject('RECONCILIATION_DECISION_INVALID', `closed by statement ${item.closedBy}`));
  return ok({ statementId: statement.statementId, itemId, class: item.class, kind: item.kind, statementMinor: item.statementMinor, feeMinor: item.feeMinor,
    ledgerMinor: item.ledgerMinor, ledgerFeeMinor: item.ledgerFeeMinor, payoutId: item.payoutId });
}

export interface DecisionView {
  readonly decisionId: string;
  readonly statementId: string;
  readonly itemId: string;
  readonly action: DecisionAction;
  readonly comment: string;
  readonly amount: string;
  readonly state: ReconciliationDecision['state'];
  readonly decidedBy: string;
  readonly decidedAt: string;
  readonly checkedBy: string | null;
  readonly checkedAt: string | null;
}

export function decisionView(d: ReconciliationDecision, currency: string): DecisionView {
  return {
    decisionId: d.decisionId, statementId: d.statementId, itemId: d.itemId, action: d.action, comment: d.comment,
    amount: isCurrencyCode(currency) ? formatAmount(d.amountMinor, currency) : d.amountMinor.toString(),
    state: d.state, decidedBy: d.decidedBy, decidedAt: d.decidedAt.toISOString(), checkedBy: d.checkedBy, checkedAt: d.checkedAt?.toISOString() ?? null,
  };
}

/**
 * Applies a decision in `tx`: posts its journal, reverses its payout, or makes its status query
 * due. An Err (the ledger refuses: a programme without the money, say) rolls the whole decision back.
 */
async function apply(tx: Repos, deps: DecideReconciliationDeps, statement: StatementRecord, e: DecidedException & { payoutId: string | null }, action: DecisionAction, actor: Actor, decisionId: string): Promise<Result<void, Rejection>> {
  const payout = e.payoutId ? await tx.payouts.lock(e.payoutId) : null;
  if (action === 'requery') {
    if (!payout) return err(reject('RECONCILIATION_DECISION_INVALID', 'requery needs a payout'));
    // The provider's answer moves the payout and the ledger by the usual rules; a paid one is asked too.
    await tx.payouts.makeStatusChecksDue([payout.id], deps.now(), true);
    return ok(undefined);
  }
  if (action === 'acknowledge') return ok(undefined);
  if (action === 'apply_reversal' || action === 'repay') {
    if (!payout) return err(reject('RECONCILIATION_DECISION_INVALID', `${action} needs a payout`));
    if (payout.state !== 'paid' || !movePayout('paid', 'reversed').ok) return err(reject('RECONCILIATION_DECISION_INVALID', `the payout is ${payout.state}, not paid`));
    const owner = { organisationId: payout.organisationId, batchId: payout.batchId, payoutId: payout.id, programmeId: payout.programmeId, currency: payout.currency, amountMinor: payout.amountMinor };
    const posted = await tx.ledger.postJournal(postings.payoutReversed({ ...owner, provider: payout.provider }));
    if (!posted.ok) return posted;
    await tx.payouts.settleMany([{
      payoutId: payout.id, from: 'paid', to: 'reversed', providerReference: payout.providerReference, failureCode: 'reversed',
      cause: `reconciliation decision by ${actor.subject.slice(0, 128)}: the provider's statement ${statement.statementId} shows its reversal`,
    }]);
    // The money is back with the programme; its next signed batch pays it again by a row naming the request.
    if (action === 'repay') {
      const opened = await tx.repayRequests.open({
        requestId: randomUUID(), payoutId: payout.id, organisationId: payout.organisationId, programmeId: payout.programmeId, decisionId,
        currency: payout.currency, amountMinor: payout.amountMinor,
      });
      if (!opened) return err(reject('RECONCILIATION_DECISION_INVALID', 'the payout has been re-paid or has a re-pay request already'));
    }
    return ok(undefined);
  }
  if (!isCurrencyCode(statement.currency)) throw new Error(`invariant violated: statement ${statement.statementId} is in a currency Tuma pays in`);
  const provider = payout?.provider ?? providerOfFormat(statement.format);
  const owner = payout
    ? { organisationId: payout.organisationId, provider, currency: payout.currency, programmeId: payout.programmeId }
    : { organisationId: statement.organisationId, provider, currency: statement.currency, programmeId: null };
  const journal = decisionJournal(e, action, owner);
  if (!journal.ok) return err(reject('RECONCILIATION_DECISION_INVALID', journal.error));
  assert(journal.value !== null, 'a decision that moves money has a journal');
  const posted = await tx.ledger.postJournal(journal.value);
  if (!posted.ok) return posted;
  return ok(undefined);
}

/** POST /v1/reconciliations/{statementId}/items/{itemId}/decisions. `system`: Tuma decides by its own configured rule (no checker). */
export async function decideReconciliationItem(deps: DecideReconciliationDeps, actor: Actor, statementId: string, itemId: string, request: DecisionRequest, requestId: string | null, system = false): Promise<Result<DecisionView, Rejection>> {
  const statement = await statementForExport(deps, actor, statementId);
  if (!statement) return err(reject('NOT_FOUND'));
  const exception = await exceptionOf(deps, statement, itemId);
  if (!exception.ok) return exception;
  const e = exception.value;
  if (!isCurrencyCode(statement.currency)) return err(reject('RECONCILIATION_DECISION_INVALID', 'the statement is in no currency Tuma pays in'));
  // What the decision would post, checked before anything is stored.
  const dry = decisionJournal(e, request.action, { organisationId: statement.organisationId, provider: providerOfFormat(statement.format), currency: statement.currency, programmeId: e.payoutId ? 'dry-run' : null });
  if (!dry.ok) return err(reject('RECONCILIATION_DECISION_INVALID', dry.error));
  const amountMinor = decisionAmountMinor(e, request.action);
  const limit = deps.approvalAbove(statement.currency);
  const needsChecker = !system && amountMinor > 0n && (limit === null || amountMinor > limit);
  const decisionId = randomUUID();
  const currency = statement.currency;
  const done = await deps.persistence.transaction(async (tx) => {
    const stored = await tx.reconciliationDecisions.insert({
      decisionId, statementId, itemId, organisationId: actor.organisationId, action: request.action, comment: request.comment, amountMinor,
      state: needsChecker ? 'awaiting_approval' : 'applied', decidedBy: actor.subject, requestId,
    });
    if (!stored) return err(reject('RECONCILIATION_ALREADY_DECIDED', 'this exception has a decision (awaiting approval or applied)'));
    if (!needsChecker) {
      const applied = await apply(tx, deps, statement, e, request.action, actor, decisionId);
      if (!applied.ok) return applied;
    }
    await appendAudit(tx, {
      organisationId: actor.organisationId, actor: actor.subject.slice(0, 128), requestId, action: 'reconciliation.decision', objectId: decisionId,
      detail: { statement: statementId, item: itemId, action: request.action, amount: formatAmount(amountMinor, currency), state: needsChecker ? 'awaiting_approval' : 'applied', comment: auditFreeText(request.comment) },
    });
    return ok(undefined);
  });
  if (!done.ok) return done;
  const stored = await deps.persistence.read.reconciliationDecisions.live(statementId, itemId);
  if (!stored) throw new Error(`invariant violated: decision ${decisionId} vanished`);
  return ok(decisionView(stored, currency));
}

/** POST /v1/reconciliations/decisions/{decisionId}/approval: a second finance user approves (applies) or rejects. */
export async function checkReconciliationDecision(deps: DecideReconciliationDeps, actor: Actor, decisionId: string, request: { approve: boolean; comment: string }, requestId: string | null): Promise<Result<DecisionView, Rejection>> {
  const found = await deps.persistence.read.reconciliationDecisions.lock(decisionId);
  const statement = found ? await statementForExport(deps, actor, found.statementId) : null;
  if (!found || !statement || found.organisationId !== actor.organisationId) return err(reject('NOT_FOUND'));
  const exception = await exceptionOf(deps, statement, found.itemId);
  if (!exception.ok) return exception;
  const done = await deps.persistence.transaction(async (tx) => {
    const d = await tx.reconciliationDecisions.lock(decisionId);
    if (!d) return err(reject('NOT_FOUND'));
    if (d.state !== 'awaiting_approval') return err(reject('RECONCILIATION_DECISION_NOT_AWAITING', `the decision is ${d.state}`));
    if (d.decidedBy === actor.subject) return err(reject('RECONCILIATION_CHECKER_IS_MAKER', 'a second finance user approves or rejects a decision'));
    if (request.approve) {
      const applied = await apply(tx, deps, statement, exception.value, d.action, actor, decisionId);
      if (!applied.ok) return applied;
    }
    await tx.reconciliationDecisions.check(decisionId, request.approve ? 'applied' : 'rejected', actor.subject, request.comment);
    await appendAudit(tx, {
      organisationId: actor.organisationId, actor: actor.subject.slice(0, 128), requestId, action: 'reconciliation.approval', objectId: decisionId,
      detail: { statement: d.statementId, item: d.itemId, action: d.action, outcome: request.approve ? 'applied' : 'rejected', comment: auditFreeText(request.comment) },
    });
    return ok(undefined);
  });
  if (!done.ok) return done;
  const after = await deps.persistence.read.reconciliationDecisions.lock(decisionId);
  if (!after) throw new Error(`invariant violated: decision ${decisionId} vanished`);
  return ok(decisionView(after, statement.currency));
}

/**
 * After an import: every difference of amount or fee within the currency's tolerance is written
 * off by Tuma itself (to the organisation's reconciliation differences, one transfer per item,
 * audited as `tuma:tolerance`). With no tolerance configured (the default) nothing happens.
 * Returns how many items were resolved.
 */
export async function resolveWithinTolerance(deps: DecideReconciliationDeps, caller: Actor, statement: StatementRecord): Promise<number> {
  if (!isCurrencyCode(statement.currency)) return 0;
  const tolerance = deps.tolerance?.(statement.currency) ?? null;
  if (tolerance === null || tolerance <= 0n) return 0;
  const actor: Actor = { ...caller, subject: toleranceActor };
  let resolved = 0;
  let after: ItemCursor | null = null;
  for (;;) {
    const page = await deps.reads.items(statement.statementId, { classes: toleratedClasses, after, limit: tolerancePage });
    for (const item of page) {
      if (item.decision !== null || item.atRiskMinor === 0n || item.atRiskMinor > tolerance) continue;
      const comment = `within the tolerance of ${formatAmount(tolerance, statement.currency)} ${statement.currency}`;
      const done = await decideReconciliationItem(deps, actor, statement.statementId, item.itemId, { action: 'write_off', comment }, null, true);
      // A difference the ledger refuses to write off stays open for finance, as it is.
      if (done.ok) resolved += 1;
    }
    if (page.length < tolerancePage) return resolved;
    after = itemCursorOf(page[page.length - 1]!.itemId);
  }
}

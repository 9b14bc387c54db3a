// GET /v1/programmes/{programmeId}/repay-requests: the payouts finance decided to pay again
// (a `repay` reconciliation decision after the provider reversed them), for the programme manager
// to put in the next signed batch, and whether a batch has done so. No beneficiary data: ids,
// amounts and times only.
import { reject, type Rejection } from '../domain/errors.js';
import { formatAmount } from '../domain/money.js';
import { err, ok, type Result } from '../domain/result.js';
import { parseLimit } from './ledger.js';
import type { Actor, Persistence, RepayRequest } from './ports.js';

/** Requests per page: the default and the most a caller may ask for. */
export const repayRequestsPageDefault = 100;
export const repayRequestsPageMax = 1_000;

const states = ['open', 'fulfilled', 'all'] as const;
const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export interface RepayRequestView {
  readonly requestId: string;
  readonly payoutId: string;
  readonly decisionId: string;
  readonly amount: string;
  readonly currency: string;
  readonly state: RepayRequest['state'];
  readonly requestedAt: string;
  readonly fulfilledByPayoutId: string | null;
  readonly fulfilledAt: string | null;
  readonly releasedPayoutIds: readonly string[];
}

const viewOf = (r: RepayRequest): RepayRequestView => ({
  requestId: r.requestId, payoutId: r.payoutId, decisionId: r.decisionId, amount: formatAmount(r.amountMinor, r.currency), currency: r.currency,
  state: r.state, requestedAt: r.requestedAt.toISOString(), fulfilledByPayoutId: r.fulfilledByPayoutId, fulfilledAt: r.fulfilledAt?.toISOString() ?? null,
  releasedPayoutIds: r.releasedPayoutIds,
});

export async function listRepayRequests(
  persistence: Persistence, actor: Actor, programmeId: string, query: { state?: unknown; after?: unknown; limit?: unknown },
): Promise<Result<{ items: RepayRequestView[]; next: string | null }, Rejection>> {
  const state = query.state === undefined ? 'open' : query.state;
  if (typeof state !== 'string' || !(states as readonly string[]).includes(state)) return err(reject('QUERY_INVALID', `state: one of ${states.join(', ')}`));
  const after = query.after === undefined ? null : query.after;
  if (after !== null && (typeof after !== 'string' || !uuidPattern.test(after))) return err(reject('QUERY_INVALID', 'after: a request id'));
  const limit = parseLimit(query.limit, repayRequestsPageMax, repayRequestsPageDefault);
  if (limit === null) return err(reject('QUERY_INVALID', `limit: 1 to ${repayRequestsPageMax}`));
  const programme = await persistence.read.batches.findProgramme(programmeId);
  if (!programme || programme.organisationId !== actor.organisationId) return err(reject('NOT_FOUND'));
  const rows = await persistence.read.repayRequests.ofProgramme(actor.organisationId, programmeId, state as RepayRequest['state'] | 'all', after, limit);
  return ok({ items: rows.map(viewOf), next: rows.length === limit ? rows[rows.length - 1]!.requestId : null });
}

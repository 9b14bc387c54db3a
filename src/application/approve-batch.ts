// POST /v1/batches/{id}/approvals: an approver's detached signature over the stored batch bytes.
// When the approvals reach what the batch needs, the same SQL transaction moves the batch total
// from the programme's available account to the batch's committed account and approves the batch,
// which makes its payouts dispatchable. If the programme cannot fund it, nothing is stored and the batch keeps waiting.
import { reject, type Rejection } from '../domain/errors.js';
import { postings } from '../domain/ledger-rules.js';
import { formatAmount } from '../domain/money.js';
import { appendAudit } from './audit.js';
import { err, ok, type Result } from '../domain/result.js';
import type { CurrencyCode } from '../domain/currency.js';
import type { Actor, BeneficiaryVault, Persistence, Repos } from './ports.js';
import { getBatchView, type BatchView } from './queries.js';
import { decisionOf, heldBy, parseDetachedJws, verifyOne } from './verify-batch-signature.js';

export interface ApproveBatchDeps {
  readonly persistence: Persistence;
  readonly vault: BeneficiaryVault;
  readonly now: () => Date;
}

export interface ApproveBatchOutput {
  readonly batch: BatchView;
  /** true when this exact approval had been stored before. */
  readonly replayed: boolean;
}

/**
 * Inside a transaction: commit the batch total in the ledger and approve the batch. Its payouts
 * become dispatchable through the batch's state alone: no payout row is rewritten, so approving
 * 100,000 payouts costs what approving one does.
 */
export async function commitApprovedBatch(
  tx: Repos,
  b: { id: string; organisationId: string; programmeId: string; currency: CurrencyCode; totalMinor: bigint },
  released: { readonly by: string; readonly requestId: string | null },
): Promise<Result<void, Rejection>> {
  const posted = await tx.ledger.postJournal(postings.batchCommit({ organisationId: b.organisationId, batchId: b.id, programmeId: b.programmeId, currency: b.currency, totalMinor: b.totalMinor }));
  if (!posted.ok) return posted;
  await tx.batches.markApproved(b.id);
  // The release is the privileged act: from here the batch's payouts go to the providers.
  await appendAudit(tx, {
    organisationId: b.organisationId, actor: released.by.slice(0, 128), requestId: released.requestId, action: 'batch.release', objectId: b.id,
    detail: { total: formatAmount(b.totalMinor, b.currency), currency: b.currency },
  });
  return ok(undefined);
}

export async function approveBatch(deps: ApproveBatchDeps, actor: Actor, batchId: string, body: unknown, requestId: string | null = null): Promise<Result<ApproveBatchOutput, Rejection>> {
  const approval = parseDetachedJws(body);
  if (!approval.ok) return approval;
  // A rejection's signature (reject-batch.ts) is over the same bytes: its header tells it apart.
  const decision = decisionOf(approval.value);
  if (decision !== null && decision !== 'approve') return err(reject('JWS_MALFORMED', 'this signature is not an approval: its protected header names another decision'));
  const batch = await deps.persistence.read.batches.find(batchId);
  if (!batch || batch.organisationId !== actor.organisationId) return err(reject('NOT_FOUND'));

  // A replay of an approval already stored answers the same, whatever the batch has done since.
  const stored = (await deps.persistence.read.batches.approvals(batchId)).find((a) => a.protected === approval.value.protected && a.signature === approval.value.signature);
  if (stored) return view(deps, actor, batchId, true);

  if (batch.state !== 'awaiting_approval') return err(reject('BATCH_NOT_AWAITING_APPROVAL', `the batch is ${batch.state}`));
  const now = deps.now();
  if (batch.expiresAt.getTime() <= now.getTime()) return err(reject('BATCH_EXPIRED'));
  if (batch.submittedBy !== null && batch.submittedBy === actor.subject) return err(reject('APPROVAL_BY_MAKER', 'the caller submitted this batch'));

  // Verified outside the transaction: opening and hashing a large payload holds no lock.
  const sealed = await deps.persistence.read.batches.sealedPayload(batchId);
  if (!sealed) throw new Error(`invariant violated: batch ${batchId} has its payload`);
  const payload = (await deps.vault.open(batch.programmeId, batchId, 'batch_payload', sealed)).toString('base64url');
  const key = await verifyOne(approval.value, payload, deps.persistence.read.batches, { organisationId: batch.organisationId, now });
  if (!key.ok) return key;
  if (key.value.kid === batch.makerKid) return err(reject('APPROVAL_BY_MAKER', 'the maker key cannot approve'));
  if (key.value.role !== 'approver') return err(reject('JWS_KEY_WRONG_ROLE', 'approvals are signed with approver keys'));
  if (!heldBy(key.value, actor.subject)) return err(reject('JWS_KEY_NOT_CALLERS', 'the approver key is registered to another person'));
  // The batch's maker (by key holder) never approves it, whoever posts.
  if (key.value.holder !== null && key.value.holder === batch.submittedBy) return err(reject('APPROVAL_BY_MAKER', 'the key belongs to the person who submitted this batch'));

  const result = await deps.persistence.transaction(async (tx) => {
    const locked = await tx.batches.lock(batchId);
    if (!locked) throw new Error(`invariant violated: batch ${batchId} exists`);
    if (locked.state !== 'awaiting_approval') return err(reject('BATCH_NOT_AWAITING_APPROVAL', `the batch is ${locked.state}`));
    const approvals = await tx.batches.approvals(batchId);
    if (approvals.some((a) => a.kid === key.value.kid)) return err(reject('APPROVAL_DUPLICATE', 'this key has approved the batch already'));
    if (approvals.some((a) => a.approvedBy === actor.subject)) return err(reject('APPROVAL_DUPLICATE', 'this approver has approved the batch already'));
    const inserted = await tx.batches.insertApprovals(batchId, [{ kid: key.value.kid, protected: approval.value.protected, signature: approval.value.signature, approvedBy: actor.subject }]);
    if (!inserted) return err(reject('APPROVAL_DUPLICATE'));
    await appendAudit(tx, {
      organisationId: locked.organisationId, actor: actor.subject.slice(0, 128), requestId, action: 'batch.approve', objectId: batchId,
      detail: { kid: key.value.kid, approvals: String(approvals.length + 1), required: String(locked.approvalsRequired) },
    });
    if (approvals.length + 1 >= locked.approvalsRequired) {
      const committed = await commitApprovedBatch(tx, locked, { by: actor.subject, requestId });
      if (!committed.ok) return committed;
    }
    return ok(undefined);
  });
  if (!result.ok) return result;
  return view(deps, actor, batchId, false);
}

async function view(deps: ApproveBatchDeps, actor: Actor, batchId: string, replayed: boolean): Promise<Result<ApproveBatchOutput, Rejection>> {
  const batch = await getBatchView(deps.persistence, actor.organisationId, batchId);
  if (!batch) throw new Error(`invariant violated: batch ${batchId} is stored`);
  return ok({ batch, replayed });
}

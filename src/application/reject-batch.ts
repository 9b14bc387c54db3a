// POST /v1/batches/{id}/rejection: an approver of the batch's organisation, not its maker, refuses
// a batch awaiting approval. The body is a detached signature over the stored batch bytes (as an
// approval is) whose protected header says `"decision": "reject"` (so that an approval's signature
// can never be posted as a rejection, nor a rejection's as an approval), and a reason.
//
// In one SQL transaction: the batch goes to `rejected`, every payout of it to `cancelled`, a re-pay
// request one of its rows fulfilled at submission is open again, the rejection is stored with its
// signature and the act is audited (`batch.reject`). Nothing was committed in the ledger for a
// batch awaiting approval (commitment comes with the last approval: approve-batch.ts), so nothing
// moves there and the ledger stays balanced.
import { auditFreeText, withoutPhoneNumbers } from '../domain/audit.js';
import { reject, type Rejection } from '../domain/errors.js';
import { formatAmount } from '../domain/money.js';
import { moveBatch } from '../domain/payout-state.js';
import { err, ok, type Result } from '../domain/result.js';
import { appendAudit } from './audit.js';
import type { Actor, BeneficiaryVault, Persistence, RejectionRecord } from './ports.js';
import { getBatchView, type BatchView } from './queries.js';
import { decisionOf, heldBy, parseDetachedJws, verifyOne, type JwsSignature } from './verify-batch-signature.js';

/** A rejection reason is a sentence or two for the maker. */
export const rejectionReasonMaxChars = 500;
/** The decision a rejection's protected header names. */
export const rejectDecision = 'reject';

export interface RejectBatchDeps {
  readonly persistence: Persistence;
  readonly vault: BeneficiaryVault;
  readonly now: () => Date;
}

export interface RejectionView {
  readonly kid: string;
  /** The approver who rejected it (the token subject that posted the rejection). */
  readonly rejectedBy: string;
  readonly reason: string;
  readonly rejectedAt: string;
}

export interface RejectBatchOutput {
  readonly batch: BatchView;
  readonly rejection: RejectionView;
  /** true when this exact rejection had been stored before. */
  readonly replayed: boolean;
}

const controlCharacters = /[\p{Cc}\p{Cs}\u2028\u2029]/u;

/** `{protected, signature, reason}`: the detached signature and the reason, nothing else. */
export function parseRejectionBody(body: unknown): Result<{ signature: JwsSignature; reason: string }, Rejection> {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return err(reject('JWS_MALFORMED', 'expected a JSON object {protected, signature, reason}'));
  const { reason, ...jws } = body as Record<string, unknown>;
  const signature = parseDetachedJws(jws);
  if (!signature.ok) return signature;
  if (typeof reason !== 'string' || reason.trim().length === 0) return err(reject('REJECTION_REASON_INVALID', 'reason: a non-empty string'));
  if ([...reason].length > rejectionReasonMaxChars) return err(reject('REJECTION_REASON_INVALID', `reason: at most ${rejectionReasonMaxChars} characters`));
  if (controlCharacters.test(reason)) return err(reject('REJECTION_REASON_INVALID', 'reason: no control characters (one line of text)'));
  // A reason is free text: phone numbers are not kept in it, as the audit log keeps none.
  return ok({ signature: signature.value, reason: withoutPhoneNumbers(reason.trim()) });
}

/** The reason as the audit event carries it: within the event's detail budget (auditDetailBytesMax) beside the other members. */
export const auditReasonBytesMax = 1_200;

export function auditedReason(reason: string): string {
  const text = auditFreeText(reason);
  if (Buffer.byteLength(text, 'utf8') <= auditReasonBytesMax) return text;
  let out = '';
  let bytes = 0;
  for (const c of text) {
    const n = Buffer.byteLength(c, 'utf8');
    if (bytes + n > auditReasonBytesMax - 3) break;
    out += c;
    bytes += n;
  }
  return `${out}…`;
}

const viewOf = (r: RejectionRecord): RejectionView => ({ kid: r.kid, rejectedBy: r.rejectedBy, reason: r.reason, rejectedAt: r.rejectedAt.toISOString() });

/**
 * GET /v1/batches/{id}/rejection: why an approver rejected the batch, for its maker and everyone
 * who reads the batch; `rejection` null when no approver rejected it. null: no such batch in the
 * caller's organisation.
 */
export async function getBatchRejection(persistence: Persistence, actor: Actor, batchId: string): Promise<{ rejection: RejectionView | null } | null> {
  const batch = await persistence.read.batches.find(batchId);
  if (!batch || batch.organisationId !== actor.organisationId) return null;
  const stored = await persistence.read.batches.rejection(batchId);
  return { rejection: stored ? viewOf(stored) : null };
}

export async function rejectBatch(deps: RejectBatchDeps, actor: Actor, batchId: string, body: unknown, requestId: string | null = null): Promise<Result<RejectBatchOutput, Rejection>> {
  const parsed = parseRejectionBody(body);
  if (!parsed.ok) return parsed;
  const { signature, reason } = parsed.value;
  const batch = await deps.persistence.read.batches.find(batchId);
  if (!batch || batch.organisationId !== actor.organisationId) return err(reject('NOT_FOUND'));

  // A replay of the rejection stored answers the same, whatever was sent as the reason this time.
  const stored = await deps.persistence.read.batches.rejection(batchId);
  if (stored && stored.protected === signature.protected && stored.signature === signature.signature) return view(deps, actor, batchId, stored, true);
  if (stored && stored.rejectedBy === actor.subject) return err(reject('REJECTION_DUPLICATE', 'this approver rejected the batch already'));

  if (batch.state !== 'awaiting_approval') return err(reject('BATCH_NOT_AWAITING_APPROVAL', `the batch is ${batch.state}`));
  if (batch.submittedBy !== null && batch.submittedBy === actor.subject) return err(reject('REJECTION_BY_MAKER', 'the caller submitted this batch: a maker cancels it instead'));
  if (decisionOf(signature) !== rejectDecision) return err(reject('JWS_MALFORMED', 'a rejection is signed with "decision": "reject" in its protected header'));

  // Verified outside the transaction: opening and hashing a large payload holds no lock.
  const now = deps.now();
  const sealed = await deps.persistence.read.batches.sealedPayload(batchId);
  if (!sealed) throw new Error(`invariant violated: batch ${batchId} has its payload`);
  const payload = (await deps.vault.open(batch.programmeId, batchId, 'batch_payload', sealed)).toString('base64url');
  const key = await verifyOne(signature, payload, deps.persistence.read.batches, { organisationId: batch.organisationId, now });
  if (!key.ok) return key;
  if (key.value.kid === batch.makerKid) return err(reject('REJECTION_BY_MAKER', 'the maker key cannot reject'));
  if (key.value.role !== 'approver') return err(reject('JWS_KEY_WRONG_ROLE', 'rejections are signed with approver keys'));
  if (!heldBy(key.value, actor.subject)) return err(reject('JWS_KEY_NOT_CALLERS', 'the approver key is registered to another person'));
  if (key.value.holder !== null && key.value.holder === batch.submittedBy) return err(reject('REJECTION_BY_MAKER', 'the key belongs to the person who submitted this batch'));

  const result = await deps.persistence.transaction(async (tx) => {
    const locked = await tx.batches.lock(batchId);
    if (!locked) throw new Error(`invariant violated: batch ${batchId} exists`);
    if (locked.state !== 'awaiting_approval') return err(reject('BATCH_NOT_AWAITING_APPROVAL', `the batch is ${locked.state}`));
    const approvals = await tx.batches.approvals(batchId);
    if (approvals.some((a) => a.kid === key.value.kid)) return err(reject('REJECTION_DUPLICATE', 'this key has approved the batch already'));
    if (approvals.some((a) => a.approvedBy === actor.subject)) return err(reject('REJECTION_DUPLICATE', 'this approver has approved the batch already'));
    if (!moveBatch(locked.state, 'rejected').ok) throw new Error('invariant violated: awaiting_approval → rejected');
    const inserted = await tx.batches.insertRejection(batchId, { kid: key.value.kid, protected: signature.protected, signature: signature.signature, rejectedBy: actor.subject, reason });
    if (!inserted) return err(reject('BATCH_NOT_AWAITING_APPROVAL', 'the batch is rejected'));
    const cancelled = await tx.batches.cancelPayouts(batchId, `batch rejected by ${actor.subject.slice(0, 128)}`);
    const released = await tx.repayRequests.releaseCancelled(batchId);
    await tx.batches.setState(batchId, 'rejected');
    await appendAudit(tx, {
      organisationId: locked.organisationId, actor: actor.subject.slice(0, 128), requestId, action: 'batch.reject', objectId: batchId,
      detail: {
        kid: key.value.kid, reason: auditedReason(reason), payoutsCancelled: String(cancelled.length),
        amount: formatAmount(cancelled.reduce((s, c) => s + c.amountMinor, 0n), locked.currency), repayRequestsReopened: String(released),
      },
    });
    return ok(undefined);
  });
  if (!result.ok) return result;
  const rejection = await deps.persistence.read.batches.rejection(batchId);
  if (!rejection) throw new Error(`invariant violated: batch ${batchId} was just rejected`);
  return view(deps, actor, batchId, rejection, false);
}

async function view(deps: RejectBatchDeps, actor: Actor, batchId: string, rejection: RejectionRecord, replayed: boolean): Promise<Result<RejectBatchOutput, Rejection>> {
  const batch = await getBatchView(deps.persistence, actor.organisationId, batchId);
  if (!batch) throw new Error(`invariant violated: batch ${batchId} is stored`);
  return ok({ batch, rejection: viewOf(rejection), replayed });
}

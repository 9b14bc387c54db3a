// POST /v1/batches: a maker-signed batch is verified, validated, sealed and stored. When the
// programme needs no co-signers the same SQL transaction commits the batch total in the ledger
// and makes the payouts dispatchable (the payouts table is the outbox).
import { createHash } from 'node:crypto';
import { parseBatchDocument, type BatchDocument } from '../domain/batch-document.js';
import { reject, type Rejection } from '../domain/errors.js';
import { payoutIdOf } from '../domain/ids.js';
import { postings } from '../domain/ledger-rules.js';
import { formatAmount } from '../domain/money.js';
import { err, ok, type Result } from '../domain/result.js';
import type { BatchRecord, BeneficiaryVault, Persistence, ProgrammeRecord, SealedPayout } from './ports.js';
import { parseGeneralJws, verifyMakerSignature } from './verify-batch-signature.js';

/** How far in the future a batch's createdAt may be (signer clocks drift). */
export const batchClockSkewMaxMs = 5 * 60 * 1000;

export interface SubmitBatchDeps {
  readonly persistence: Persistence;
  readonly vault: BeneficiaryVault;
  readonly batchPayoutsMax: number;
  readonly now: () => Date;
}

export interface BatchSummary {
  readonly batchId: string;
  readonly state: string;
  readonly currency: string;
  readonly payoutCount: number;
  readonly total: string;
}

export interface SubmitBatchOutput {
  readonly summary: BatchSummary;
  /** true when this exact batch had been stored before (an idempotent replay). */
  readonly replayed: boolean;
}

export const summarise = (b: BatchRecord): BatchSummary => ({
  batchId: b.id,
  state: b.state,
  currency: b.currency,
  payoutCount: b.payoutCount,
  total: formatAmount(b.totalMinor, b.currency),
});

export async function submitBatch(deps: SubmitBatchDeps, body: unknown): Promise<Result<SubmitBatchOutput, Rejection>> {
  const jws = parseGeneralJws(body);
  if (!jws.ok) return jws;
  const now = deps.now();
  const verified = await verifyMakerSignature(jws.value, deps.persistence.read.batches, now);
  if (!verified.ok) return verified;
  const payloadSha256 = createHash('sha256').update(verified.value.payload).digest();

  let json: unknown;
  try {
    json = JSON.parse(verified.value.payload.toString('utf8'));
  } catch {
    return err(reject('BATCH_INVALID', 'the signed payload is not JSON', [{ row: null, field: '(document)', code: 'FIELD_INVALID' }]));
  }
  if (payoutCountOf(json) > deps.batchPayoutsMax) return err(reject('BATCH_TOO_LARGE', `at most ${deps.batchPayoutsMax} payouts`));
  const parsed = parseBatchDocument(json);
  if (!parsed.ok) return err(reject('BATCH_INVALID', undefined, parsed.error));
  const doc = parsed.value;
  if (doc.organisationId !== verified.value.signer.organisationId) return err(reject('JWS_KEY_WRONG_ORGANISATION'));

  const existing = await deps.persistence.read.batches.find(doc.batchId);
  if (existing) return replayOrConflict(existing, payloadSha256);
  if (doc.expiresAt.getTime() <= now.getTime()) return err(reject('BATCH_EXPIRED'));
  if (doc.createdAt.getTime() > now.getTime() + batchClockSkewMaxMs) return err(reject('BATCH_NOT_YET_VALID'));

  const programme = await deps.persistence.read.batches.findProgramme(doc.programmeId);
  if (!programme || programme.organisationId !== doc.organisationId) return err(reject('PROGRAMME_NOT_FOUND'));
  if (programme.currency !== doc.currency) return err(reject('PROGRAMME_CURRENCY_MISMATCH'));

  const sealed = await sealPayouts(deps.vault, doc);
  const payloadEnc = await deps.vault.seal(doc.programmeId, doc.batchId, 'batch_payload', verified.value.payload);
  return store(deps, doc, programme, sealed, { payloadEnc, payloadSha256, signatures: verified.value.signatures, kid: verified.value.signer.kid });
}

/** Counted before any per-row work, so an oversized batch costs nothing to refuse. */
function payoutCountOf(json: unknown): number {
  const payouts = json && typeof json === 'object' ? (json as { payouts?: unknown }).payouts : undefined;
  return Array.isArray(payouts) ? payouts.length : 0;
}

function replayOrConflict(existing: BatchRecord, payloadSha256: Buffer): Result<SubmitBatchOutput, Rejection> {
  return existing.payloadSha256.equals(payloadSha256)
    ? ok({ summary: summarise(existing), replayed: true })
    : err(reject('BATCH_CONFLICT'));
}

async function sealPayouts(vault: BeneficiaryVault, doc: BatchDocument): Promise<SealedPayout[]> {
  const sealed: SealedPayout[] = [];
  for (const p of doc.payouts) {
    const id = payoutIdOf(doc.batchId, p.ref);
    sealed.push({
      id,
      rowNo: p.row,
      ref: p.ref,
      provider: p.provider,
      amountMinor: p.amountMinor,
      msisdnEnc: await vault.seal(doc.programmeId, id, 'msisdn', p.msisdn),
      msisdnHash: await vault.blindIndex(doc.programmeId, p.msisdn),
      nameEnc: p.name === null ? null : await vault.seal(doc.programmeId, id, 'name', p.name),
    });
  }
  return sealed;
}

async function store(
  deps: SubmitBatchDeps,
  doc: BatchDocument,
  programme: ProgrammeRecord,
  sealed: readonly SealedPayout[],
  signed: { payloadEnc: Buffer; payloadSha256: Buffer; signatures: readonly unknown[]; kid: string },
): Promise<Result<SubmitBatchOutput, Rejection>> {
  const approved = programme.approvalsRequired === 0;
  const result = await deps.persistence.transaction(async (tx) => {
    const inserted = await tx.batches.insert({
      id: doc.batchId,
      organisationId: doc.organisationId,
      programmeId: doc.programmeId,
      currency: doc.currency,
      state: approved ? 'approved' : 'awaiting_approval',
      payoutCount: doc.payouts.length,
      totalMinor: doc.totalMinor,
      payloadEnc: signed.payloadEnc,
      payloadSha256: signed.payloadSha256,
      signatures: signed.signatures,
      makerKid: signed.kid,
      documentCreatedAt: doc.createdAt,
      expiresAt: doc.expiresAt,
    });
    if (!inserted) return ok<'raced'>('raced');
    await tx.payouts.insertMany(doc.batchId, doc.currency, approved ? 'approved' : 'accepted', sealed);
    if (approved) {
      const commit = postings.batchCommit({ organisationId: doc.organisationId, batchId: doc.batchId, programmeId: doc.programmeId, currency: doc.currency, totalMinor: doc.totalMinor });
      const posted = await tx.ledger.postJournal(commit);
      if (!posted.ok) return posted;
    }
    return ok<'stored'>('stored');
  });
  if (!result.ok) return result;
  if (result.value === 'stored') {
    const summary: BatchSummary = {
      batchId: doc.batchId,
      state: approved ? 'approved' : 'awaiting_approval',
      currency: doc.currency,
      payoutCount: doc.payouts.length,
      total: formatAmount(doc.totalMinor, doc.currency),
    };
    return ok({ summary, replayed: false });
  }
  // Lost a race with an identical or conflicting submission of the same batchId.
  const stored = await deps.persistence.read.batches.find(doc.batchId);
  if (!stored) throw new Error(`invariant violated: batch ${doc.batchId} raced but is not stored`);
  return replayOrConflict(stored, signed.payloadSha256);
}

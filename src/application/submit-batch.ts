// POST /v1/batches: a maker-signed batch (with any co-signatures) is verified, validated against
// its programme's policy, sealed and stored in one SQL transaction. When the approvals it carries
// already meet the policy, the same transaction commits the batch total in the ledger and makes
// the payouts dispatchable (the payouts table is the outbox).
import { createHash } from 'node:crypto';
import { readBatchHeader, startBatchValidation, type BatchValidation, type PayoutRow } from '../domain/batch-document.js';
import { reject, type Rejection, type RowError } from '../domain/errors.js';
import { formatAmount } from '../domain/money.js';
import type { CurrencyCode } from '../domain/currency.js';
import { payoutIdOf } from '../domain/ids.js';
import type { ProviderId, ProviderRoutes } from '../domain/providers.js';
import { approversRequired } from '../domain/programme-policy.js';
import { err, ok, type Result } from '../domain/result.js';
import { commitApprovedBatch } from './approve-batch.js';
import type { Actor, BatchRecord, BeneficiaryVault, Persistence, ProgrammeRecord, SealedPayoutChunk } from './ports.js';
import { getBatchView, type BatchView } from './queries.js';
import { parseGeneralJws, verifySubmission, type VerifiedSubmission } from './verify-batch-signature.js';

/**
 * Payouts sealed and written per step: small enough that sealing chunks overlaps the database
 * writing earlier ones, large enough that per-statement costs vanish (at most the repository's max).
 */
export const sealChunkRowsDefault = 5_000;
/** Chunks being sealed ahead of the one the database is writing: bounds memory whatever the batch size. */
export const sealChunksAhead = 2;

/** How far in the future a batch's createdAt may be (signer clocks drift). */
export const batchClockSkewMaxMs = 5 * 60 * 1000;

export interface SubmitBatchDeps {
  readonly persistence: Persistence;
  readonly vault: BeneficiaryVault;
  readonly batchPayoutsMax: number;
  /** Payouts sealed and written per step; `sealChunkRowsDefault` when not given. */
  readonly insertChunkRows?: number;
  readonly now: () => Date;
  /**
   * Where the gateway's provider accounts let a programme pay in a currency (per provider and
   * country, with each account's limits). Absent: the providers' own rules only (tests of ingest alone).
   */
  readonly providerRoutes?: (programmeId: string, currency: CurrencyCode) => ProviderRoutes;
}

export interface SubmitBatchOutput {
  readonly batch: BatchView;
  /** true when this exact batch had been stored before (an idempotent replay). */
  readonly replayed: boolean;
}

export async function submitBatch(deps: SubmitBatchDeps, actor: Actor, body: unknown, requestId: string | null = null): Promise<Result<SubmitBatchOutput, Rejection>> {
  const jws = parseGeneralJws(body);
  if (!jws.ok) return jws;
  const now = deps.now();
  const verified = await verifySubmission(jws.value, deps.persistence.read.batches, { organisationId: actor.organisationId, subject: actor.subject, now });
  if (!verified.ok) return verified;
  const payloadSha256 = createHash('sha256').update(verified.value.payload).digest();

  let json: unknown;
  try {
    json = JSON.parse(verified.value.payload.toString('utf8'));
  } catch {
    return err(reject('BATCH_INVALID', 'the signed payload is not JSON', [{ row: null, field: '(document)', code: 'FIELD_INVALID' }]));
  }
  if (payoutCountOf(json) > deps.batchPayoutsMax) return err(reject('BATCH_TOO_LARGE', `at most ${deps.batchPayoutsMax} payouts`));
  const header = readBatchHeader(json);
  if (!header.ok) return err(reject('BATCH_INVALID', undefined, header.error));
  if (header.value.organisationId !== actor.organisationId) return err(reject('JWS_KEY_WRONG_ORGANISATION', 'the batch names another organisation'));

  const existing = await deps.persistence.read.batches.find(header.value.batchId);
  if (existing) return replayOrConflict(deps, existing, payloadSha256);
  if (header.value.expiresAt.getTime() <= now.getTime()) return err(reject('BATCH_EXPIRED'));
  if (header.value.createdAt.getTime() > now.getTime() + batchClockSkewMaxMs) return err(reject('BATCH_NOT_YET_VALID'));

  const programme = await deps.persistence.read.batches.findProgramme(header.value.programmeId);
  if (!programme || programme.organisationId !== actor.organisationId) return err(reject('PROGRAMME_NOT_FOUND'));
  if (programme.erasedAt) return err(reject('PROGRAMME_ERASED', 'its beneficiary data was erased: it takes no new batch'));
  if (programme.currency !== header.value.currency) return err(reject('PROGRAMME_CURRENCY_MISMATCH'));

  const routes = deps.providerRoutes?.(programme.id, programme.currency);
  const started = startBatchValidation(json, routes ? { ...programme.policy, routes } : programme.policy);
  if (!started.ok) return err(rejectRows(started.error));
  const validation = started.value;
  const payloadEnc = await deps.vault.seal(header.value.programmeId, header.value.batchId, 'batch_payload', verified.value.payload);
  return store(deps, actor, validation, programme, { payloadEnc, payloadSha256, verified: verified.value }, requestId);
}

/** A row naming a payout it pays again: its own payout's id, the one it repays, its amount. */
interface RepayingRow {
  readonly row: number;
  readonly payoutId: string;
  readonly repays: string;
  readonly amountMinor: bigint;
}

const rejectRows = (problems: RowError[]): Rejection => reject('BATCH_INVALID', `${problems.length} problem(s)`, problems);

/** Counted before any per-row work, so an oversized batch costs nothing to refuse. */
function payoutCountOf(json: unknown): number {
  const payouts = json && typeof json === 'object' ? (json as { payouts?: unknown }).payouts : undefined;
  return Array.isArray(payouts) ? payouts.length : 0;
}

async function replayOrConflict(deps: SubmitBatchDeps, existing: BatchRecord, payloadSha256: Buffer): Promise<Result<SubmitBatchOutput, Rejection>> {
  if (!existing.payloadSha256.equals(payloadSha256)) return err(reject('BATCH_CONFLICT'));
  const view = await getBatchView(deps.persistence, existing.organisationId, existing.id);
  if (!view) throw new Error(`invariant violated: batch ${existing.id} is stored`);
  return ok({ batch: view, replayed: true });
}

/**
 * The batch's rows, validated, sealed and handed to the store a chunk at a time, in order: while
 * the database writes one chunk, this validates the next on the main thread and the vault seals
 * it on its sealing threads (at most `sealChunksAhead` chunks ahead, so memory stays bounded).
 * Once the batch is sure to be refused, the remaining rows are only validated, so that the answer
 * still names every problem, and nothing more is produced.
 */
async function* validatedChunks(vault: BeneficiaryVault, validation: BatchValidation, chunkRows: number, repaying: RepayingRow[]): AsyncGenerator<SealedPayoutChunk> {
  const { batchId, programmeId } = validation.header;
  const sealing: Promise<SealedPayoutChunk>[] = [];
  let next = 0;
  const begin = (rows: PayoutRow[]): Promise<SealedPayoutChunk> => {
    const ids = rows.map((p) => payoutIdOf(batchId, p.ref));
    rows.forEach((p, i) => { if (p.repays !== null) repaying.push({ row: p.row, payoutId: ids[i]!, repays: p.repays, amountMinor: p.amountMinor }); });
    const chunk = vault
      .sealBeneficiaries(programmeId, { subjectIds: ids, msisdns: rows.map((p) => p.msisdn), names: rows.map((p) => p.name) })
      .then((sealed) => ({ ids, rows: rows.map((p) => ({ rowNo: p.row, ref: p.ref, provider: p.provider, amountMinor: p.amountMinor })), sealed }));
    chunk.catch(() => undefined); // observed below, in order; never an unhandled rejection meanwhile
    return chunk;
  };
  try {
    while (next < validation.rowCount || sealing.length > 0) {
      while (next < validation.rowCount && sealing.length <= sealChunksAhead && !validation.refused) {
        const end = Math.min(validation.rowCount, next + chunkRows);
        const rows = validation.rows(next, end);
        next = end;
        if (rows.length > 0 && !validation.refused) sealing.push(begin(rows));
      }
      if (validation.refused) {
        if (next < validation.rowCount) validation.rows(next, validation.rowCount);
        return;
      }
      const chunk = sealing.shift();
      if (chunk) yield await chunk;
    }
  } finally {
    sealing.length = 0; // abandoned (refused, or the store failed): chunks still sealing settle unobserved
  }
}

async function store(
  deps: SubmitBatchDeps,
  actor: Actor,
  validation: BatchValidation,
  programme: ProgrammeRecord,
  signed: { payloadEnc: Buffer; payloadSha256: Buffer; verified: VerifiedSubmission },
  requestId: string | null,
): Promise<Result<SubmitBatchOutput, Rejection>> {
  const doc = validation.header;
  const coSigners = signed.verified.coSigners;
  const result = await deps.persistence.transaction(async (tx) => {
    // Stored first (the payouts refer to it) with the signed count and no total yet: validation
    // runs while the payouts are written, and the row is completed below, before anything commits.
    const inserted = await tx.batches.insert({
      id: doc.batchId,
      organisationId: doc.organisationId,
      programmeId: doc.programmeId,
      currency: doc.currency,
      state: 'awaiting_approval',
      payoutCount: validation.rowCount,
      totalMinor: 1n,
      payloadEnc: signed.payloadEnc,
      payloadSha256: signed.payloadSha256,
      signatures: [signed.verified.maker.signature, ...coSigners.map((c) => c.signature)],
      makerKid: signed.verified.maker.key.kid,
      documentCreatedAt: doc.createdAt,
      expiresAt: doc.expiresAt,
      approvalsRequired: 0,
      submittedBy: actor.subject,
      rejectedRows: [],
    });
    if (!inserted) return ok<'raced'>('raced');
    const repaying: RepayingRow[] = [];
    await tx.payouts.insertMany(doc.batchId, doc.currency, 'accepted', validatedChunks(deps.vault, validation, deps.insertChunkRows ?? sealChunkRowsDefault, repaying));
    // Every row has been validated: a refused batch rolls back whatever was written.
    const finished = validation.finish();
    if (!finished.ok) return err(rejectRows(finished.error));
    // Rows paying a reversed payout again fulfil its open re-pay request, once, for the same number and amount;
    // any that cannot refuses the batch whole (its payout is written already).
    const unfulfilled: RowError[] = [];
    for (const r of repaying) {
      const fulfilled = await tx.repayRequests.fulfil({ payoutId: r.repays, byPayoutId: r.payoutId, organisationId: doc.organisationId, programmeId: doc.programmeId, currency: doc.currency, amountMinor: r.amountMinor });
      if (!fulfilled) unfulfilled.push({ row: r.row, field: 'repays', code: 'REPAY_REQUEST_INVALID' });
    }
    if (unfulfilled.length > 0) return err(rejectRows(unfulfilled));
    const { totalMinor, payoutCount, rejectedRows } = finished.value;
    const required = approversRequired(programme.policy.tiers, totalMinor);
    await tx.batches.complete(doc.batchId, { payoutCount, totalMinor, approvalsRequired: required, rejectedRows });
    await tx.batches.insertApprovals(doc.batchId, coSigners.map((c) => ({ kid: c.key.kid, protected: c.signature.protected, signature: c.signature.signature, approvedBy: c.key.holder })));
    if (coSigners.length >= required) {
      // Co-signed in the document itself (or no approval needed): released by its submission.
      const committed = await commitApprovedBatch(tx, { id: doc.batchId, organisationId: doc.organisationId, programmeId: doc.programmeId, currency: doc.currency, totalMinor }, { by: actor.subject, requestId });
      if (!committed.ok) return committed;
    }
    return ok<'stored'>('stored');
  });
  if (!result.ok) return result;
  if (result.value === 'raced') {
    // Lost a race with an identical or conflicting submission of the same batchId.
    const stored = await deps.persistence.read.batches.find(doc.batchId);
    if (!stored) throw new Error(`invariant violated: batch ${doc.batchId} raced but is not stored`);
    return replayOrConflict(deps, stored, signed.payloadSha256);
  }
  const view = await getBatchView(deps.persistence, actor.organisationId, doc.batchId);
  if (!view) throw new Error(`invariant violated: batch ${doc.batchId} was just stored`);
  return ok({ batch: view, replayed: false });
}

/** A provider account a programme's payouts can go through in its currency: what its rows are checked against. */
export interface ProgrammeAccountView {
  readonly provider: ProviderId;
  /** ISO 3166-1 alpha-2: a row's number must be of this country to go through this account. */
  readonly country: string;
  /** The account's own per-payout bounds in the programme's currency (the provider's own apply too); null: none. */
  readonly payoutMin: string | null;
  readonly payoutMax: string | null;
}

export interface ProgrammeAccountsView {
  readonly programmeId: string;
  readonly currency: CurrencyCode;
  /**
   * Every account batch intake routes the programme's rows to, by provider and country (the
   * account listing the programme, else the one serving every programme); null when this server
   * routes by the providers' own rules alone (no provider accounts configured).
   */
  readonly accounts: readonly ProgrammeAccountView[] | null;
}

const programmeIdPattern = /^[A-Za-z0-9_.:-]{1,64}$/;

/**
 * GET /v1/programmes/{programmeId}/provider-accounts: what submitBatch checks the programme's rows
 * against besides its policy (the same providerRoutes), so that `tuma batch build` can check a
 * CSV with the domain's row rules before anything is signed. Names no credential, no account id
 * and no other programme. null: no such programme in the caller's organisation.
 */
export async function programmeProviderAccounts(deps: SubmitBatchDeps, actor: Actor, programmeId: string): Promise<ProgrammeAccountsView | null> {
  if (!programmeIdPattern.test(programmeId)) return null;
  const programme = await deps.persistence.read.batches.findProgramme(programmeId);
  if (!programme || programme.organisationId !== actor.organisationId) return null;
  const routes = deps.providerRoutes?.(programme.id, programme.currency);
  const amount = (minor: bigint | null) => (minor === null ? null : formatAmount(minor, programme.currency));
  const accounts = routes
    ? [...routes].flatMap(([provider, byCountry]) => [...byCountry].map(([country, limits]) => ({ provider, country, payoutMin: amount(limits.minMinor), payoutMax: amount(limits.maxMinor) })))
        .sort((a, b) => (a.provider === b.provider ? a.country.localeCompare(b.country) : a.provider.localeCompare(b.provider)))
    : null;
  return { programmeId: programme.id, currency: programme.currency, accounts };
}

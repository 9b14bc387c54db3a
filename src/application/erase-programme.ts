// Erasing a programme's beneficiary data (issue #15 item 3): crypto-shredding under maker–checker.
//
// An admin asks (requestErasure, with a reason); another admin of the organisation confirms
// (confirmErasure) before the request expires. Confirming, in one transaction with the programme
// row locked (no batch can be stored for it meanwhile: migration 0018's guard waits for the lock):
//   - refuses while anything of the programme is in flight: a batch not completed, rejected or
//     cancelled, a payout not settled (or paid with a status query due), a reconciliation decision
//     awaiting approval on one of its payouts — each of those still needs its beneficiary's number;
//   - marks the programme erased and deletes its data key: every number, name, signed batch
//     document and callback body sealed under it is unreadable from then on, in the database as in
//     every copy of it (migrations/0018-erasure.ts says why the ciphertext itself is left);
//   - statement files (sealed under the programme-independent key, so not shredded with it): a
//     statement names the programmes whose payouts its reconciliation names (its lines' payouts and
//     the ledger payouts of its period no line names). Its file is deleted once every one of them is
//     erased; while another is not, the file is kept and the erasure records that it still holds
//     sealed data (file_kept_shared) — the last of its programmes to be erased deletes it. A
//     statement naming no payout of ours is not any programme's: it stays, like an orphan callback;
//   - appends the audit events (programme.erase_request when asked, programme.erase when done).
// Confirming a programme already erased sweeps its statements again (files of statements imported
// since, or whose other programmes were erased meanwhile) and answers as a replay.
//
// The ledger, the audit log and the reconciliation are not touched: none holds beneficiary data,
// so they verify afterwards as before. Payout and reconciliation views say `beneficiary: erased`.
import { randomUUID } from 'node:crypto';
import { auditFreeText } from '../domain/audit.js';
import { reject, type ErrorCode, type Rejection } from '../domain/errors.js';
import { err, ok, type Result } from '../domain/result.js';
import { appendAudit } from './audit.js';
import type { Actor, BeneficiaryVault, Persistence, Repos } from './ports.js';

/** How long a request waits for its confirmation. */
export const erasureRequestTtlMs = 72 * 3600 * 1000;
export const erasureReasonMaxChars = 500;
/** A retention period is at most a century. */
export const retentionDaysMax = 36_600;
/** Statements listed with an erasure at most. */
export const erasureStatementsShownMax = 1_000;

/**
 * The codes of the erasure's refusals. Each stands in for a code of its own until the catalogue
 * (src/domain/errors.ts, contracts/error-codes.json) has it: the status is already the right one.
 */
export const erasureRefusal = {
  invalid: 'ERASURE_REQUEST_INVALID',
  alreadyRequested: 'ERASURE_ALREADY_REQUESTED',
  notRequested: 'ERASURE_NOT_REQUESTED',
  confirmerIsRequester: 'ERASURE_CONFIRMER_IS_REQUESTER',
  busy: 'PROGRAMME_BUSY',
  erased: 'PROGRAMME_ERASED',
  retentionInvalid: 'RETENTION_INVALID',
} as const satisfies Record<string, ErrorCode>;

// ---------------------------------------------------------------- port

export type ErasureRequestState = 'awaiting_confirmation' | 'erased' | 'expired';

export interface ErasureRequestRecord {
  readonly erasureId: string;
  readonly programmeId: string;
  readonly organisationId: string;
  readonly state: ErasureRequestState;
  readonly reason: string;
  readonly requestedBy: string;
  readonly requestedAt: Date;
  readonly expiresAt: Date;
  readonly confirmedBy: string | null;
  readonly confirmedAt: Date | null;
  /** Once erased: the programme's payouts (their ledger facts stay), and whether it had a data key to destroy. */
  readonly payouts: bigint | null;
  readonly dataKeyDestroyed: boolean | null;
}

export interface ProgrammeErasureState {
  readonly programmeId: string;
  readonly organisationId: string;
  readonly retentionDays: number | null;
  readonly erasedAt: Date | null;
  /** The last change to one of its batches (null: none). */
  readonly lastActivityAt: Date | null;
}

/** What of the programme still needs its beneficiaries' data. */
export interface WorkInFlight {
  readonly batches: number;
  readonly payouts: number;
  readonly decisions: number;
}

export interface StatementFileOutcome {
  readonly statementId: string;
  readonly outcome: 'file_erased' | 'file_kept_shared';
  /** The programmes the statement names that are not erased (0 once its file is erased). */
  readonly programmesNotErased: number;
}

/** The erasure's statements, on one SQL transaction. */
export interface ErasureTx {
  /** The repositories on the same transaction (the audit log). */
  readonly repos: Repos;
  /** The programme, locked FOR UPDATE; null when there is none. */
  lockProgramme(programmeId: string): Promise<ProgrammeErasureState | null>;
  workInFlight(programmeId: string): Promise<WorkInFlight>;
  /** The programme's live request (awaiting confirmation or erased), locked; null when none. */
  liveRequest(programmeId: string): Promise<ErasureRequestRecord | null>;
  insertRequest(request: Omit<ErasureRequestRecord, 'state' | 'confirmedBy' | 'confirmedAt' | 'payouts' | 'dataKeyDestroyed'> & { readonly requestId: string | null }): Promise<void>;
  expireRequest(erasureId: string): Promise<void>;
  confirmRequest(erasureId: string, c: { by: string; at: Date; requestId: string | null; payouts: bigint; dataKeyDestroyed: boolean }): Promise<void>;
  countPayouts(programmeId: string): Promise<bigint>;
  markErased(programmeId: string, at: Date): Promise<void>;
  /** Deletes the programme's data key (after markErased); false when it never had one. */
  destroyDataKey(programmeId: string): Promise<boolean>;
  /**
   * The statements still holding their file whose reconciliation names a payout of the programme,
   * locked, each with how many of the programmes it names are not erased.
   */
  statementsHoldingFiles(programmeId: string): Promise<{ statementId: string; programmesNotErased: number }[]>;
  /** Marks the statement's file erased and deletes its sealed chunks (how many); earlier records that kept it say erased. */
  eraseStatementFile(statementId: string, at: Date): Promise<number>;
  recordStatementOutcome(erasureId: string, outcome: StatementFileOutcome, at: Date): Promise<void>;
  setRetention(programmeId: string, days: number | null): Promise<void>;
}

export interface ErasureStore {
  /** Runs `work` in one SQL transaction; an Err result rolls it back and is returned as it is. */
  transaction<T>(work: (tx: ErasureTx) => Promise<Result<T, Rejection>>): Promise<Result<T, Rejection>>;
  programme(programmeId: string): Promise<ProgrammeErasureState | null>;
  /** The programme's newest request, whatever its state. */
  latestRequest(programmeId: string): Promise<ErasureRequestRecord | null>;
  /** The statements an erasure of the programme recorded, with their file's state now. */
  statementOutcomes(programmeId: string, limit: number): Promise<StatementFileOutcome[]>;
  /**
   * The organisation's programmes not erased whose retention ended by `at` (last batch activity +
   * retention days), by id after `afterId`, each with whether an erasure request awaits confirmation.
   */
  pastRetention(organisationId: string, at: Date, afterId: string | null, limit: number): Promise<(ProgrammeErasureState & { readonly awaitingConfirmation: boolean })[]>;
  /** How many programmes of every organisation are past their retention and not erased (the metric). */
  countPastRetention(at: Date): Promise<number>;
}

export interface ErasureDeps {
  readonly persistence: Persistence;
  readonly erasure: ErasureStore;
  /** The process's vault: forgets the erased programme's key at once (other processes within their cache's lifetime). */
  readonly vault?: Pick<BeneficiaryVault, 'forget'>;
  readonly now: () => Date;
}

// ---------------------------------------------------------------- views

export interface ErasureView {
  readonly programmeId: string;
  /** not_requested, awaiting_confirmation (a live request), or erased. */
  readonly state: 'not_requested' | 'awaiting_confirmation' | 'erased';
  readonly erasedAt: string | null;
  readonly retention: { readonly days: number | null; readonly lastActivityAt: string | null; readonly dueAt: string | null };
  /** The newest request (an awaiting one past its expiry shows as expired), or null. */
  readonly request: {
    readonly erasureId: string;
    readonly state: ErasureRequestState;
    readonly reason: string;
    readonly requestedBy: string;
    readonly requestedAt: string;
    readonly expiresAt: string;
    readonly confirmedBy: string | null;
    readonly confirmedAt: string | null;
    readonly payouts: number | null;
    readonly dataKeyDestroyed: boolean | null;
  } | null;
  /** The statements naming the programme's payouts, and whether their sealed file is erased or kept (shared). */
  readonly statements: readonly { readonly statementId: string; readonly file: 'erased' | 'kept_shared'; readonly programmesNotErased: number }[];
}

const dueAtOf = (p: ProgrammeErasureState): Date | null =>
  p.retentionDays !== null && p.lastActivityAt !== null ? new Date(p.lastActivityAt.getTime() + p.retentionDays * 86_400_000) : null;

const liveStateOf = (r: ErasureRequestRecord, now: Date): ErasureRequestState =>
  r.state === 'awaiting_confirmation' && r.expiresAt.getTime() <= now.getTime() ? 'expired' : r.state;

async function erasureView(deps: ErasureDeps, programme: ProgrammeErasureState): Promise<ErasureView> {
  const now = deps.now();
  const request = await deps.erasure.latestRequest(programme.programmeId);
  const requestState = request ? liveStateOf(request, now) : null;
  const statements = request?.state === 'erased' ? await deps.erasure.statementOutcomes(programme.programmeId, erasureStatementsShownMax) : [];
  const dueAt = dueAtOf(programme);
  return {
    programmeId: programme.programmeId,
    state: programme.erasedAt ? 'erased' : requestState === 'awaiting_confirmation' ? 'awaiting_confirmation' : 'not_requested',
    erasedAt: programme.erasedAt?.toISOString() ?? null,
    retention: { days: programme.retentionDays, lastActivityAt: programme.lastActivityAt?.toISOString() ?? null, dueAt: dueAt?.toISOString() ?? null },
    request: request && requestState
      ? {
        erasureId: request.erasureId,
        state: requestState,
        reason: request.reason,
        requestedBy: request.requestedBy,
        requestedAt: request.requestedAt.toISOString(),
        expiresAt: request.expiresAt.toISOString(),
        confirmedBy: request.confirmedBy,
        confirmedAt: request.confirmedAt?.toISOString() ?? null,
        payouts: request.payouts === null ? null : Number(request.payouts),
        dataKeyDestroyed: request.dataKeyDestroyed,
      }
      : null,
    statements: statements.map((s) => ({ statementId: s.statementId, file: s.outcome === 'file_erased' ? 'erased' : 'kept_shared', programmesNotErased: s.programmesNotErased })),
  };
}

/** The programme's erasure as the caller may see it (its own organisation's programmes only). */
export async function getErasure(deps: ErasureDeps, actor: Actor, programmeId: string): Promise<Result<ErasureView, Rejection>> {
  const programme = await deps.erasure.programme(programmeId);
  if (!programme || programme.organisationId !== actor.organisationId) return err(reject('NOT_FOUND'));
  return ok(await erasureView(deps, programme));
}

// ---------------------------------------------------------------- bodies

const unprintable = /[\p{Cc}\p{Cs}]/u;

function objectBody(body: unknown, allowed: readonly string[], optional: boolean, code: ErrorCode = erasureRefusal.invalid): Result<Record<string, unknown>, Rejection> {
  if ((body === undefined || body === null) && optional) return ok({});
  if (!body || typeof body !== 'object' || Array.isArray(body)) return err(reject(code, `expected a JSON object {${allowed.join(', ')}}`));
  const extra = Object.keys(body).find((k) => !allowed.includes(k));
  if (extra !== undefined) return err(reject(code, `unknown member ${JSON.stringify(extra).slice(0, 40)}`));
  return ok(body as Record<string, unknown>);
}

/** POST /v1/programmes/{id}/erasure: {reason}, 1-500 printable characters. */
export function parseErasureRequest(body: unknown): Result<{ reason: string }, Rejection> {
  const o = objectBody(body, ['reason'], false);
  if (!o.ok) return o;
  const reason = typeof o.value.reason === 'string' ? o.value.reason.trim() : null;
  if (!reason || reason.length > erasureReasonMaxChars || unprintable.test(reason)) {
    return err(reject(erasureRefusal.invalid, `reason: why the data is erased, 1-${erasureReasonMaxChars} printable characters`));
  }
  return ok({ reason });
}

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** POST /v1/programmes/{id}/erasure/confirm: no body, or {erasureId} (the request the confirmer read). */
export function parseErasureConfirmation(body: unknown): Result<{ erasureId: string | null }, Rejection> {
  const o = objectBody(body, ['erasureId'], true);
  if (!o.ok) return o;
  const id = o.value.erasureId;
  if (id === undefined) return ok({ erasureId: null });
  if (typeof id !== 'string' || !uuidPattern.test(id.toLowerCase())) return err(reject(erasureRefusal.invalid, 'erasureId: the id of the request being confirmed'));
  return ok({ erasureId: id.toLowerCase() });
}

/** PUT /v1/programmes/{id}/retention: {days}, 1-36600, or null for none. */
export function parseRetention(body: unknown): Result<{ days: number | null }, Rejection> {
  const o = objectBody(body, ['days'], false, erasureRefusal.retentionInvalid);
  if (!o.ok) return o;
  const days = o.value.days;
  if (days === null) return ok({ days: null });
  if (typeof days !== 'number' || !Number.isInteger(days) || days < 1 || days > retentionDaysMax) {
    return err(reject(erasureRefusal.retentionInvalid, `days: whole days the beneficiary data is kept after the programme's last batch activity, 1-${retentionDaysMax}, or null`));
  }
  return ok({ days });
}

// ---------------------------------------------------------------- actions

const actorOf = (actor: Actor) => actor.subject.slice(0, 128);

function busyDetail(w: WorkInFlight): string | null {
  const parts = [
    w.batches > 0 ? `${w.batches} batch(es) not completed, rejected or cancelled` : null,
    w.payouts > 0 ? `${w.payouts} payout(s) not settled` : null,
    w.decisions > 0 ? `${w.decisions} reconciliation decision(s) awaiting approval` : null,
  ].filter((p): p is string => p !== null);
  return parts.length > 0 ? `the programme still needs its beneficiaries' data: ${parts.join(', ')}` : null;
}

/** An admin asks for the programme's beneficiary data to be erased; another admin confirms it. */
export async function requestErasure(
  deps: ErasureDeps,
  actor: Actor,
  programmeId: string,
  body: unknown,
  requestId: string | null = null,
): Promise<Result<{ view: ErasureView; replayed: boolean }, Rejection>> {
  const now = deps.now();
  const done = await deps.erasure.transaction<{ replayed: boolean }>(async (tx) => {
    const programme = await tx.lockProgramme(programmeId);
    if (!programme || programme.organisationId !== actor.organisationId) return err(reject('NOT_FOUND'));
    // The body after the programme: another organisation's id is not found, whatever is sent.
    const parsed = parseErasureRequest(body);
    if (!parsed.ok) return parsed;
    const { reason } = parsed.value;
    if (programme.erasedAt) return err(reject(erasureRefusal.erased, `erased at ${programme.erasedAt.toISOString()}`));
    const live = await tx.liveRequest(programmeId);
    if (live && live.state === 'awaiting_confirmation') {
      if (liveStateOf(live, now) === 'expired') await tx.expireRequest(live.erasureId);
      else if (live.requestedBy === actor.subject && live.reason === reason) return ok({ replayed: true });
      else return err(reject(erasureRefusal.alreadyRequested, `request ${live.erasureId} by ${live.requestedBy} awaits a second admin's confirmation until ${live.expiresAt.toISOString()}`));
    }
    const busy = busyDetail(await tx.workInFlight(programmeId));
    if (busy) return err(reject(erasureRefusal.busy, busy));
    const erasureId = randomUUID();
    const expiresAt = new Date(now.getTime() + erasureRequestTtlMs);
    await tx.insertRequest({ erasureId, programmeId, organisationId: programme.organisationId, reason, requestedBy: actor.subject, requestedAt: now, expiresAt, requestId });
    const dueAt = dueAtOf(programme);
    await appendAudit(tx.repos, {
      organisationId: programme.organisationId,
      actor: actorOf(actor),
      requestId,
      action: 'programme.erase_request',
      objectId: programmeId,
      detail: {
        erasureId,
        reason: auditFreeText(reason),
        expiresAt: expiresAt.toISOString(),
        ...(dueAt ? { retentionDueAt: dueAt.toISOString(), beforeRetentionDue: String(now.getTime() < dueAt.getTime()) } : {}),
      },
    });
    return ok({ replayed: false });
  });
  if (!done.ok) return done;
  const view = await getErasure(deps, actor, programmeId);
  if (!view.ok) throw new Error(`invariant violated: programme ${programmeId} is readable after its erasure request`);
  return ok({ view: view.value, replayed: done.value.replayed });
}

/** Deletes the files no live programme needs among the statements naming the programme's payouts; records each. */
async function sweepStatementFiles(tx: ErasureTx, erasureId: string, programmeId: string, at: Date): Promise<{ erased: number; kept: number; chunks: number }> {
  let erased = 0;
  let kept = 0;
  let chunks = 0;
  for (const s of await tx.statementsHoldingFiles(programmeId)) {
    if (s.programmesNotErased === 0) {
      chunks += await tx.eraseStatementFile(s.statementId, at);
      erased++;
      await tx.recordStatementOutcome(erasureId, { statementId: s.statementId, outcome: 'file_erased', programmesNotErased: 0 }, at);
    } else {
      kept++;
      await tx.recordStatementOutcome(erasureId, { statementId: s.statementId, outcome: 'file_kept_shared', programmesNotErased: s.programmesNotErased }, at);
    }
  }
  return { erased, kept, chunks };
}

/**
 * A second admin confirms: the programme's data key is destroyed and the programme marked erased,
 * with the statement files no live programme needs, in one transaction. An erased programme is
 * swept again (a replay).
 */
export async function confirmErasure(
  deps: ErasureDeps,
  actor: Actor,
  programmeId: string,
  body: unknown,
  requestId: string | null = null,
): Promise<Result<{ view: ErasureView; replayed: boolean }, Rejection>> {
  const now = deps.now();
  const done = await deps.erasure.transaction<{ replayed: boolean }>(async (tx) => {
    const programme = await tx.lockProgramme(programmeId);
    if (!programme || programme.organisationId !== actor.organisationId) return err(reject('NOT_FOUND'));
    const parsed = parseErasureConfirmation(body);
    if (!parsed.ok) return parsed;
    const live = await tx.liveRequest(programmeId);
    if (programme.erasedAt) {
      if (!live || live.state !== 'erased') throw new Error(`invariant violated: erased programme ${programmeId} has its erasure request`);
      if (parsed.value.erasureId !== null && parsed.value.erasureId !== live.erasureId) return err(reject(erasureRefusal.notRequested, `the programme was erased by request ${live.erasureId}`));
      const swept = await sweepStatementFiles(tx, live.erasureId, programmeId, now);
      if (swept.erased > 0) {
        await appendAudit(tx.repos, {
          organisationId: programme.organisationId, actor: actorOf(actor), requestId, action: 'programme.erase', objectId: programmeId,
          detail: { erasureId: live.erasureId, sweep: 'true', statementFilesErased: String(swept.erased), statementFilesKept: String(swept.kept) },
        });
      }
      return ok({ replayed: true });
    }
    if (!live || live.state !== 'awaiting_confirmation') return err(reject(erasureRefusal.notRequested, 'no erasure request awaits confirmation: an admin asks first (POST /v1/programmes/{id}/erasure)'));
    if (liveStateOf(live, now) === 'expired') return err(reject(erasureRefusal.notRequested, `request ${live.erasureId} expired at ${live.expiresAt.toISOString()}: an admin asks again`));
    if (parsed.value.erasureId !== null && parsed.value.erasureId !== live.erasureId) return err(reject(erasureRefusal.notRequested, `the request awaiting confirmation is ${live.erasureId}`));
    if (live.requestedBy === actor.subject) return err(reject(erasureRefusal.confirmerIsRequester, 'a second admin confirms an erasure, not the admin who asked for it'));
    const busy = busyDetail(await tx.workInFlight(programmeId));
    if (busy) return err(reject(erasureRefusal.busy, busy));
    const payouts = await tx.countPayouts(programmeId);
    await tx.markErased(programmeId, now);
    const destroyed = await tx.destroyDataKey(programmeId);
    await tx.confirmRequest(live.erasureId, { by: actor.subject, at: now, requestId, payouts, dataKeyDestroyed: destroyed });
    const swept = await sweepStatementFiles(tx, live.erasureId, programmeId, now);
    await appendAudit(tx.repos, {
      organisationId: programme.organisationId,
      actor: actorOf(actor),
      requestId,
      action: 'programme.erase',
      objectId: programmeId,
      detail: {
        erasureId: live.erasureId,
        requestedBy: live.requestedBy,
        payouts: payouts.toString(),
        dataKeyDestroyed: String(destroyed),
        statementFilesErased: String(swept.erased),
        statementFilesKept: String(swept.kept),
      },
    });
    return ok({ replayed: false });
  });
  if (!done.ok) return done;
  // Committed: this process stops opening the programme's data now, not at its cache's expiry.
  deps.vault?.forget?.(programmeId);
  const view = await getErasure(deps, actor, programmeId);
  if (!view.ok) throw new Error(`invariant violated: programme ${programmeId} is readable after its erasure`);
  return ok({ view: view.value, replayed: done.value.replayed });
}

/** Sets how long the programme's beneficiary data is kept after its last batch activity (null: no period). */
export async function setRetention(deps: ErasureDeps, actor: Actor, programmeId: string, body: unknown, requestId: string | null = null): Promise<Result<ErasureView, Rejection>> {
  const done = await deps.erasure.transaction(async (tx) => {
    const programme = await tx.lockProgramme(programmeId);
    if (!programme || programme.organisationId !== actor.organisationId) return err(reject('NOT_FOUND'));
    const parsed = parseRetention(body);
    if (!parsed.ok) return parsed;
    if (programme.erasedAt) return err(reject(erasureRefusal.erased, `erased at ${programme.erasedAt.toISOString()}: nothing is kept`));
    await tx.setRetention(programmeId, parsed.value.days);
    await appendAudit(tx.repos, {
      organisationId: programme.organisationId, actor: actorOf(actor), requestId, action: 'programme.retention', objectId: programmeId,
      detail: { days: parsed.value.days === null ? 'none' : String(parsed.value.days) },
    });
    return ok(undefined);
  });
  if (!done.ok) return done;
  return getErasure(deps, actor, programmeId);
}

// ---------------------------------------------------------------- retention

/** Programmes per page of GET /v1/programmes/retention-due at most, and by default. */
export const retentionDuePageMax = 500;
export const retentionDuePageDefault = 100;

export interface RetentionDueView {
  readonly programmes: readonly {
    readonly programmeId: string;
    readonly retentionDays: number;
    readonly lastActivityAt: string;
    readonly dueAt: string;
    /** not_requested: an admin should ask (POST …/erasure); awaiting_confirmation: a second admin should confirm. */
    readonly erasure: 'not_requested' | 'awaiting_confirmation';
  }[];
  /** The cursor of the next page (the last programme id), or null. */
  readonly next: string | null;
}

/**
 * Retention is enforced by showing, never by erasing: the organisation's programmes whose beneficiary
 * data is past its retention and not erased, for its admins to ask for the erasure and a second
 * admin to confirm it (maker–checker, as any erasure). Nothing here erases or asks by itself: an
 * erasure needs two people, and a programme with work in flight cannot be erased yet anyway.
 * The same count, across organisations, is the metric tuma_programmes_past_retention.
 */
export async function listPastRetention(deps: Pick<ErasureDeps, 'erasure' | 'now'>, actor: Actor, page: { after: string | null; limit: number }): Promise<RetentionDueView> {
  const rows = await deps.erasure.pastRetention(actor.organisationId, deps.now(), page.after, page.limit);
  return {
    programmes: rows.map((p) => {
      const dueAt = dueAtOf(p);
      if (p.retentionDays === null || p.lastActivityAt === null || dueAt === null) throw new Error(`invariant violated: programme ${p.programmeId} past retention has a retention and an activity`);
      return { programmeId: p.programmeId, retentionDays: p.retentionDays, lastActivityAt: p.lastActivityAt.toISOString(), dueAt: dueAt.toISOString(), erasure: p.awaitingConfirmation ? 'awaiting_confirmation' : 'not_requested' };
    }),
    next: rows.length === page.limit ? rows[rows.length - 1]!.programmeId : null,
  };
}

// ---------------------------------------------------------------- views of erased data

/** What a payout or statement line of an erased programme carries in its view. */
export const erasedBeneficiary = { beneficiary: 'erased' } as const;

/** The programmes among `programmeIds` whose beneficiary data is erased. */
export async function erasedProgrammes(persistence: Persistence, programmeIds: Iterable<string>): Promise<Set<string>> {
  const erased = new Set<string>();
  for (const id of new Set(programmeIds)) {
    if ((await persistence.read.batches.findProgramme(id))?.erasedAt) erased.add(id);
  }
  return erased;
}

/** The payouts among `payoutIds` of an erased programme. */
export async function erasedPayouts(persistence: Persistence, payoutIds: readonly string[]): Promise<Set<string>> {
  if (payoutIds.length === 0) return new Set();
  const payouts = await persistence.read.payouts.findMany(payoutIds);
  const erased = await erasedProgrammes(persistence, payouts.map((p) => p.programmeId));
  return new Set(payouts.filter((p) => erased.has(p.programmeId)).map((p) => p.id));
}

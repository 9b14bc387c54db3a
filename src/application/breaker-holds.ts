// Provider account breakers by hand (issue #15 item 2; migration 0020): an admin holds an
// account's breaker open — no payout is sent through the account, no probe is made, its payouts
// wait queued — or closes it (lifting a hold, or ending an automatic open before its reset time:
// calls flow at once, and failures may open it again).
//
//   PUT /v1/provider-accounts/{accountId}/breaker   {state: "open" | "closed", reason}   admin
//   GET /v1/provider-accounts/{accountId}/breaker                                        admin, auditor
//
// Only an account that pays for a programme of the caller's organisation can be named (another is
// NOT_FOUND, as reconciliation's accounts are): an account that also serves other organisations
// (or every programme, "*") is held for them too, and their auditors see the hold in their audit
// log — it is a system event (no organisation) of the account, naming the admin's organisation.
// The API stores the hold; every worker reads it within holdFollowIntervalMs and applies it to its
// own breaker of the account, which then records its change (breaker.open, cause hold; or
// breaker.close, cause hand) from each process.
import type { Logger } from 'pino';
import { auditFreeText } from '../domain/audit.js';
import { reject, type Rejection } from '../domain/errors.js';
import { err, ok, type Result } from '../domain/result.js';
import { appendAudit } from './audit.js';
import { logStepFailure, runEvery } from './periodic.js';
import type { Actor, Repos } from './ports.js';

export const breakerReasonMaxChars = 500;
/** How often a worker reads the holds. */
export const holdFollowIntervalMs = 5_000;
/** The refusal of a malformed body. */
export const breakerRefusal = 'BREAKER_REQUEST_INVALID' as const;

export interface BreakerHoldRecord {
  readonly accountId: string;
  /** true: held open; false: not held (the last change was a close by hand). */
  readonly held: boolean;
  readonly reason: string;
  readonly setBy: string;
  readonly organisationId: string;
  readonly setAt: Date;
  /** Raised by every change: a worker applies each close once. */
  readonly revision: bigint;
}

export interface BreakerHoldTx {
  readonly repos: Repos;
  /** The account's hold, locked (FOR UPDATE); null when none was ever set. */
  lock(accountId: string): Promise<BreakerHoldRecord | null>;
  put(record: BreakerHoldRecord): Promise<void>;
}

export interface BreakerHoldStore {
  /** One SQL transaction (READ COMMITTED); an Err result rolls it back and is returned as it is. */
  transaction<T>(work: (tx: BreakerHoldTx) => Promise<Result<T, Rejection>>): Promise<Result<T, Rejection>>;
  get(accountId: string): Promise<BreakerHoldRecord | null>;
  all(): Promise<BreakerHoldRecord[]>;
  /** Which of `programmeIds` are programmes of the organisation. */
  programmesOf(organisationId: string, programmeIds: readonly string[]): Promise<Set<string>>;
}

/** A configured provider account as the routes see it: its id and the programmes it pays for. */
export interface HoldableAccount {
  readonly id: string;
  readonly programmes: readonly string[] | '*';
}

export interface BreakerDeps {
  readonly holds: BreakerHoldStore;
  readonly accounts: () => readonly HoldableAccount[];
  readonly now: () => Date;
}

/**
 * The configured accounts that pay for a programme of the organisation (an account of every
 * programme, "*", pays for every organisation's): the accounts its admins may hold and whose
 * system events its auditors read (one query, whatever the number of accounts).
 */
export async function accountsServing(deps: Pick<BreakerDeps, 'holds' | 'accounts'>, organisationId: string): Promise<HoldableAccount[]> {
  const accounts = deps.accounts();
  const listed = [...new Set(accounts.flatMap((a) => (a.programmes === '*' ? [] : a.programmes)))];
  const mine = listed.length > 0 ? await deps.holds.programmesOf(organisationId, listed) : new Set<string>();
  return accounts.filter((a) => a.programmes === '*' || a.programmes.some((p) => mine.has(p)));
}

export interface BreakerView {
  readonly accountId: string;
  /** held_open: an admin holds it open; automatic: its own calls decide (closed, or open until a probe succeeds). */
  readonly hold: 'held_open' | 'automatic';
  /** The last change by hand, if any. */
  readonly lastChange: {
    readonly state: 'open' | 'closed';
    readonly reason: string;
    /** Who, when it was an admin of the caller's organisation; null when another organisation's. */
    readonly setBy: string | null;
    readonly byThisOrganisation: boolean;
    readonly at: string;
    readonly revision: string;
  } | null;
}

const viewOf = (accountId: string, r: BreakerHoldRecord | null, organisationId: string): BreakerView => ({
  accountId,
  hold: r?.held ? 'held_open' : 'automatic',
  lastChange: r
    ? { state: r.held ? 'open' : 'closed', reason: r.reason, setBy: r.organisationId === organisationId ? r.setBy : null, byThisOrganisation: r.organisationId === organisationId, at: r.setAt.toISOString(), revision: r.revision.toString() }
    : null,
});

const accountPattern = /^[a-z0-9][a-z0-9-]{0,62}$/;
const unprintable = /[\p{Cc}\p{Cs}]/u;

async function accountOf(deps: BreakerDeps, actor: Actor, accountId: string): Promise<HoldableAccount | null> {
  if (!accountPattern.test(accountId)) return null;
  const account = deps.accounts().find((a) => a.id === accountId);
  if (!account) return null;
  return (await accountsServing({ holds: deps.holds, accounts: () => [account] }, actor.organisationId)).length === 1 ? account : null;
}

/** PUT body: {state: "open" | "closed", reason: 1-500 printable characters}. */
export function parseBreakerChange(body: unknown): Result<{ state: 'open' | 'closed'; reason: string }, Rejection> {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return err(reject(breakerRefusal, 'expected a JSON object {state, reason}'));
  const { state, reason, ...rest } = body as Record<string, unknown>;
  const extra = Object.keys(rest)[0];
  if (extra !== undefined) return err(reject(breakerRefusal, `unknown member ${JSON.stringify(extra).slice(0, 40)}`));
  if (state !== 'open' && state !== 'closed') return err(reject(breakerRefusal, 'state: "open" (held open by hand until closed) or "closed" (calls flow now)'));
  const text = typeof reason === 'string' ? reason.trim() : null;
  if (!text || text.length > breakerReasonMaxChars || unprintable.test(text)) return err(reject(breakerRefusal, `reason: why, 1-${breakerReasonMaxChars} printable characters`));
  return ok({ state, reason: text });
}

export async function getBreaker(deps: BreakerDeps, actor: Actor, accountId: string): Promise<Result<BreakerView, Rejection>> {
  const account = await accountOf(deps, actor, accountId);
  if (!account) return err(reject('NOT_FOUND'));
  return ok(viewOf(account.id, await deps.holds.get(account.id), actor.organisationId));
}

/** Holds the account open, or closes it; holding an account already held is a replay (no event). */
export async function setBreaker(deps: BreakerDeps, actor: Actor, accountId: string, body: unknown, requestId: string | null = null): Promise<Result<{ view: BreakerView; replayed: boolean }, Rejection>> {
  const account = await accountOf(deps, actor, accountId);
  // Another organisation's account is not found, whatever the body.
  if (!account) return err(reject('NOT_FOUND'));
  const parsed = parseBreakerChange(body);
  if (!parsed.ok) return parsed;
  const { state, reason } = parsed.value;
  const now = deps.now();
  return deps.holds.transaction(async (tx) => {
    const current = await tx.lock(account.id);
    if (state === 'open' && current?.held) return ok({ view: viewOf(account.id, current, actor.organisationId), replayed: true as boolean });
    const record: BreakerHoldRecord = { accountId: account.id, held: state === 'open', reason, setBy: actor.subject, organisationId: actor.organisationId, setAt: now, revision: (current?.revision ?? 0n) + 1n };
    await tx.put(record);
    await appendAudit(tx.repos, {
      organisationId: null,
      actor: actor.subject.slice(0, 128),
      requestId,
      action: state === 'open' ? 'breaker.hold' : 'breaker.release',
      objectId: account.id,
      detail: { organisationId: actor.organisationId, reason: auditFreeText(reason), revision: record.revision.toString(), wasHeld: String(current?.held ?? false) },
    });
    return ok({ view: viewOf(account.id, record, actor.organisationId), replayed: false as boolean });
  });
}

// ---------------------------------------------------------------- workers

/** What a worker's guarded provider offers the follower. */
export interface HoldableBreaker {
  readonly accountId: string;
  hold(): void;
  closeByHand(): void;
  isHeld(): boolean;
}

/**
 * Applies the holds to this process's breakers: a held account is held; a hold lifted, or a close
 * newer than this process has applied, closes the breaker. At start the current revisions are taken
 * as applied (a fresh breaker is closed already) but a held account is held at once.
 */
export async function applyHolds(holds: readonly BreakerHoldRecord[], breakers: readonly HoldableBreaker[], applied: Map<string, bigint>): Promise<void> {
  const byAccount = new Map(holds.map((h) => [h.accountId, h]));
  for (const b of breakers) {
    const h = byAccount.get(b.accountId);
    if (!h) continue;
    const first = !applied.has(b.accountId);
    const newer = !first && h.revision > applied.get(b.accountId)!;
    applied.set(b.accountId, h.revision);
    if (h.held) {
      if (!b.isHeld()) b.hold();
    } else if (b.isHeld() || newer) {
      b.closeByHand();
    }
  }
}

export function startHoldFollower(holds: BreakerHoldStore, breakers: readonly HoldableBreaker[], logger: Logger, intervalMs = holdFollowIntervalMs): { stop(): Promise<void> } {
  const applied = new Map<string, bigint>();
  return runEvery(intervalMs, async () => applyHolds(await holds.all(), breakers, applied), (error) => logStepFailure(logger, error, 'reading the provider account holds failed'));
}

// The audit log (architecture §8; issue #14 item 6, issue #15 item 2): every privileged action is
// one event, appended in the SQL transaction of the action itself, so the action and its record
// commit or roll back together. Events are chained as they are written, under one
// transaction-level lock (privileged actions are rare: the lock costs nothing that matters):
//   hash(n) = SHA-256(canonical bytes of event n, which include hash(n-1)); see domain/audit.ts.
// `tuma audit verify` recomputes the chain from the rows and names the first broken link; a head
// it printed can be passed back later as an anchor to prove nothing up to it was rewritten.
import { createHash } from 'node:crypto';
import {
  auditActionObjects,
  auditEventProblem,
  canonicalAuditEvent,
  isAuditAction,
  isSystemAuditAction,
  type AuditEvent,
  type StoredAuditEvent,
} from '../domain/audit.js';
import { assert } from '../domain/result.js';
import type { Persistence, Repos } from './ports.js';

/** Events read per page by verify. */
export const auditVerifyPageSize = 1_000;
/** Problems listed one by one in a report; past this only counted. */
export const auditProblemsListedMax = 1_000;
/** Anchors one verify checks at most. */
export const auditAnchorsMax = 64;
/** Events one page of GET /v1/audit returns at most, and by default. */
export const auditPageMax = 500;
export const auditPageDefault = 100;

/** The triggers verify insists on (migration 0012). */
const requiredGuards = ['audit_events_append_only', 'audit_events_no_truncate', 'audit_events_link_guard'] as const;

export function auditEventHash(event: Omit<StoredAuditEvent, 'hash'>): Buffer {
  return createHash('sha256').update(canonicalAuditEvent(event), 'utf8').digest();
}

/**
 * Appends one event to the chain. Call it inside the transaction of the action it records
 * (`persistence.transaction`, READ COMMITTED): the lock it takes is held until that commits.
 * An event the domain refuses is a programmer error: callers build events from validated facts.
 */
export async function appendAudit(tx: Repos, event: AuditEvent): Promise<StoredAuditEvent> {
  const problem = auditEventProblem(event);
  assert(problem === null, `audit event refused: ${problem}`);
  const next = await tx.auditLog.claimNext();
  const unhashed: Omit<StoredAuditEvent, 'hash'> = {
    seq: next.seq,
    atMicros: next.atMicros,
    organisationId: event.organisationId,
    actor: event.actor,
    requestId: event.requestId,
    action: event.action,
    objectType: auditActionObjects[event.action],
    objectId: event.objectId,
    detail: { ...event.detail },
    prevHash: next.prevHash,
  };
  const stored: StoredAuditEvent = { ...unhashed, hash: auditEventHash(unhashed) };
  await tx.auditLog.insert(stored);
  return stored;
}

// ---------------------------------------------------------------- verify

export type AuditProblemKind = 'hash_mismatch' | 'link_broken' | 'event_invalid' | 'anchor_mismatch' | 'guard_missing';

export interface AuditProblem {
  readonly kind: AuditProblemKind;
  readonly detail: string;
  readonly seq?: string;
}

export interface AuditVerifyReport {
  readonly ok: boolean;
  readonly events: number;
  /** The newest event: keep it, and pass it back later as an anchor. */
  readonly head: { seq: string; hash: string } | null;
  /** The first event whose link does not hold (its hash, or the hash it names as its predecessor). */
  readonly firstBroken: AuditProblem | null;
  readonly problemCount: number;
  readonly problems: AuditProblem[];
}

export interface AuditAnchor {
  readonly seq: bigint;
  readonly hash: Buffer;
}

/** Recomputes the chain from the rows in one read-only snapshot, and checks the append-only triggers are in place. */
export async function verifyAuditLog(persistence: Persistence, options: { anchors?: readonly AuditAnchor[] } = {}): Promise<AuditVerifyReport> {
  const anchorList = options.anchors ?? [];
  assert(anchorList.length <= auditAnchorsMax, `at most ${auditAnchorsMax} anchors`);
  return persistence.snapshot(async (tx) => {
    const problems: AuditProblem[] = [];
    let problemCount = 0;
    let firstBroken: AuditProblem | null = null;
    const report = (p: AuditProblem) => {
      problemCount++;
      if (problems.length < auditProblemsListedMax) problems.push(p);
      if (p.seq !== undefined && (firstBroken === null || BigInt(p.seq) < BigInt(firstBroken.seq!))) firstBroken = p;
    };

    const guards = await tx.auditLog.guards();
    for (const name of requiredGuards) {
      const guard = guards.find((g) => g.name === name);
      if (!guard || !guard.enabled) report({ kind: 'guard_missing', detail: `trigger ${name} on audit_events is ${guard ? 'disabled' : 'missing'}` });
    }

    const anchors = new Map(anchorList.map((a) => [a.seq, a.hash]));
    let events = 0;
    let previous: StoredAuditEvent | null = null;
    let after: bigint | null = null;
    // Bounded by the table: each page moves `after` forward, and an empty or short page ends it.
    for (;;) {
      const page = await tx.auditLog.eventsAfter(after, auditVerifyPageSize);
      for (const e of page) {
        events++;
        checkEvent(e, previous, anchors, report);
        // The next link must cover this row's stored hash: one altered row is reported once.
        previous = e;
      }
      if (page.length < auditVerifyPageSize) break;
      after = page[page.length - 1]!.seq;
    }
    for (const [seq, hash] of anchors) {
      report({ kind: 'anchor_mismatch', detail: `anchor seq ${seq} (${hash.toString('hex')}) is not in the audit log` });
    }
    const last = previous as StoredAuditEvent | null;
    return {
      ok: problemCount === 0,
      events,
      head: last ? { seq: last.seq.toString(), hash: last.hash.toString('hex') } : null,
      firstBroken,
      problemCount,
      problems,
    };
  });
}

function checkEvent(e: StoredAuditEvent, previous: StoredAuditEvent | null, anchors: Map<bigint, Buffer>, report: (p: AuditProblem) => void): void {
  const seq = e.seq.toString();
  const expected = previous?.hash ?? null;
  const linked = e.prevHash === null ? expected === null : expected !== null && e.prevHash.equals(expected);
  if (!linked) {
    const names = e.prevHash ? e.prevHash.toString('hex') : 'no predecessor';
    const should = previous ? `event ${previous.seq}'s hash ${previous.hash.toString('hex')}` : 'no predecessor (it is the first event)';
    report({ kind: 'link_broken', seq, detail: `names ${names}, expected ${should}: an event before it was removed, inserted or rehashed` });
  }
  const { hash: _stored, ...unhashed } = e;
  if (!auditEventHash(unhashed).equals(e.hash)) {
    report({ kind: 'hash_mismatch', seq, detail: 'the row does not match its hash: it was altered after it was written' });
  }
  if (!isAuditAction(e.action)) report({ kind: 'event_invalid', seq, detail: `unknown action ${JSON.stringify(e.action)}` });
  else if (auditActionObjects[e.action] !== e.objectType) report({ kind: 'event_invalid', seq, detail: `${e.action} acts on a ${auditActionObjects[e.action]}, not a ${e.objectType}` });
  else if ((e.organisationId === null) !== isSystemAuditAction(e.action)) report({ kind: 'event_invalid', seq, detail: `${e.action} ${e.organisationId === null ? 'has no organisation' : 'is a system event with an organisation'}` });
  const anchor = anchors.get(e.seq);
  if (anchor) {
    if (!anchor.equals(e.hash)) report({ kind: 'anchor_mismatch', seq, detail: `the event at seq ${seq} is not the anchored hash ${anchor.toString('hex')}` });
    anchors.delete(e.seq);
  }
}

// ---------------------------------------------------------------- read

export interface AuditEventView {
  readonly seq: string;
  readonly at: string;
  /** null: a system event (a provider account, its breaker, a role's configuration at start). */
  readonly organisationId: string | null;
  readonly actor: string;
  readonly requestId: string | null;
  readonly action: string;
  readonly object: { readonly type: string; readonly id: string };
  readonly detail: Readonly<Record<string, string>>;
  readonly prevHash: string | null;
  readonly hash: string;
}

export interface AuditPage {
  readonly events: AuditEventView[];
  /** The cursor of the next page (the last seq), or null when this page is the last. */
  readonly next: string | null;
}

/** A cursor is a seq: decimal digits. */
export const auditCursorPattern = /^[0-9]{1,19}$/;

/**
 * What an organisation's auditors and admins see of the audit log: the organisation's own events,
 * and the system events that concern it — every role's configuration at start (which names no
 * organisation: digests and counts), and the events of the provider accounts that pay for one of
 * its programmes (configuration, breaker states, holds; an account serving every programme, "*",
 * serves every organisation). An account that serves only other organisations' programmes is not
 * shown; neither is an account no longer configured (its events stay in the chain, and
 * `tuma audit verify` reads them all).
 */
export interface AuditAudience {
  readonly organisationId: string;
  /** The provider accounts that pay for a programme of the organisation. */
  readonly accountIds: readonly string[];
}

/** The events `audience` may read, oldest first, after `cursor`. The caller (GET /v1/audit) validates cursor and limit. */
export async function listAudit(persistence: Persistence, audience: AuditAudience, page: { cursor?: string | null; limit?: number } = {}): Promise<AuditPage> {
  const limit = page.limit ?? auditPageDefault;
  assert(Number.isInteger(limit) && limit >= 1 && limit <= auditPageMax, `an audit page is 1-${auditPageMax} events`);
  const cursor = page.cursor ?? null;
  assert(cursor === null || auditCursorPattern.test(cursor), 'an audit cursor is a seq');
  const rows = await persistence.read.auditLog.visibleEvents(audience, cursor === null ? null : BigInt(cursor), limit);
  return {
    events: rows.map(viewOf),
    next: rows.length === limit ? rows[rows.length - 1]!.seq.toString() : null,
  };
}

function viewOf(e: StoredAuditEvent): AuditEventView {
  return {
    seq: e.seq.toString(),
    at: microsToIso(e.atMicros),
    organisationId: e.organisationId,
    actor: e.actor,
    requestId: e.requestId,
    action: e.action,
    object: { type: e.objectType, id: e.objectId },
    detail: e.detail,
    prevHash: e.prevHash?.toString('hex') ?? null,
    hash: e.hash.toString('hex'),
  };
}

/** ISO 8601 with the stored microseconds (a Date would drop them). */
function microsToIso(micros: bigint): string {
  const millis = micros / 1000n;
  const rest = ((micros % 1000n) + 1000n) % 1000n;
  return new Date(Number(micros < 0n && rest !== 0n ? millis - 1n : millis)).toISOString().replace('Z', `${rest.toString().padStart(3, '0')}Z`);
}

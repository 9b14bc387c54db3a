// Tamper evidence: a hash chain over transfers, built off the hot path, and `ledger verify`,
// which recomputes the chain and every invariant of architecture §3 from the rows themselves.
//
// link(n) = SHA-256(link(n-1) || canonical bytes of transfer n); the first link has no predecessor.
// Anyone holding an earlier head (seq, hash), printed by verify, can later prove that nothing up
// to it was rewritten: pass it back with --anchor.
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { isCurrencyCode, scaleOf } from '../domain/currency.js';
import { breaksFlags, canonicalTransfer, type StoredTransfer, type Totals } from '../domain/ledger.js';
import { transferCodes } from '../domain/ledger-rules.js';
import { ok } from '../domain/result.js';
import type { AccountRecord, ChainHead, ChainLink, Persistence } from './ports.js';
import { logStepFailure, runEvery } from './periodic.js';

/** Transfers linked per SQL transaction by the chainer. */
export const chainBatchMax = 5_000;
/** Transfers read per page by verify. */
export const verifyPageSize = 5_000;
/** Problems listed one by one in a report; past this only counted. */
export const verifyProblemsListedMax = 1_000;

/** A link's hash: SHA-256. */
export const linkHashBytes = 32;

export function linkHash(prev: Buffer | null, transfer: StoredTransfer): Buffer {
  const h = createHash('sha256');
  if (prev) h.update(prev);
  h.update(canonicalTransfer(transfer), 'utf8');
  return h.digest();
}

export interface ChainProgress {
  readonly linked: number;
  readonly head: ChainHead;
}

/**
 * One chainer step: links every transfer proven final, up to `chainBatchMax`, then renews the
 * horizon once it has caught up. Safe to run from several processes: the chain row serialises them.
 */
export async function chainOnce(persistence: Persistence): Promise<ChainProgress> {
  const result = await persistence.transaction(async (tx) => {
    const { head, safeUpTo } = await tx.chain.claim();
    let linked = 0;
    let current = head;
    let caughtUp = true;
    if (safeUpTo !== null && (head.seq === null || safeUpTo > head.seq)) {
      const transfers = await tx.chain.transfersAfter(head.seq, safeUpTo, chainBatchMax);
      const links: ChainLink[] = [];
      for (const t of transfers) {
        const hash = linkHash(current.hash, t);
        links.push({ seq: t.seq, prevSeq: current.seq, hash });
        current = { seq: t.seq, hash };
      }
      await tx.chain.append(links);
      linked = links.length;
      caughtUp = transfers.length < chainBatchMax;
    }
    await tx.chain.advance(current, caughtUp);
    return ok({ linked, head: current });
  });
  if (!result.ok) throw new Error(`invariant violated: chaining was refused: ${result.error.code}`);
  return result.value;
}

/** Runs the chainer every `intervalMs` until stopped; a failed step is logged and retried next time. */
export function startChainer(persistence: Persistence, intervalMs: number, logger: Logger): { stop(): Promise<void> } {
  return runEvery(
    intervalMs,
    async (stopped) => {
      // Drain a backlog in steps, bounded so a stop request is never kept waiting long.
      for (let i = 0; i < 100 && !stopped(); i++) {
        const step = await chainOnce(persistence);
        if (step.linked < chainBatchMax) break;
      }
    },
    (error) => logStepFailure(logger, error, 'ledger chainer step failed'),
  );
}

// ---------------------------------------------------------------- verify

export type ProblemKind =
  | 'chain_hash_mismatch'
  | 'chain_link_broken'
  | 'chain_gap'
  | 'chain_head_mismatch'
  | 'chain_anchor_mismatch'
  | 'transfer_invalid'
  | 'transfer_totals_mismatch'
  | 'account_flags_breached'
  | 'account_totals_mismatch'
  | 'ledger_unbalanced'
  | 'ledger_scale_mismatch'
  | 'guard_missing';

export interface Problem {
  readonly kind: ProblemKind;
  readonly detail: string;
  readonly transferId?: string;
  readonly seq?: string;
  readonly account?: string;
}

export interface VerifyReport {
  readonly ok: boolean;
  readonly transfers: number;
  readonly accounts: number;
  readonly chained: number;
  /** Transfers past the chain head: not linked yet (normal for the newest few seconds). */
  readonly awaitingChain: number;
  readonly head: { seq: string | null; hash: string | null };
  readonly ledgers: { currency: string; debits: string; credits: string; balanced: boolean }[];
  readonly problemCount: number;
  readonly problems: Problem[];
}

export interface Anchor {
  readonly seq: bigint;
  readonly hash: Buffer;
}

/** The database guards verify insists on (migrations 0001 and 0002). */
const requiredGuards = [
  ['transfers', 'transfers_append_only'],
  ['transfers', 'transfers_no_truncate'],
  ['transfer_links', 'transfer_links_append_only'],
  ['transfer_links', 'transfer_links_no_truncate'],
  ['accounts', 'accounts_guard'],
  ['accounts', 'accounts_no_delete'],
] as const;

/**
 * Recomputes everything from the rows, in one read-only snapshot: the chain link by link, each
 * transfer's own rules, every account's totals as the sum of its transfers (and the running
 * totals each transfer recorded), the flags after every transfer, Σ debits = Σ credits per ledger,
 * and that the append-only guards are in place.
 */
export async function verifyLedger(persistence: Persistence, options: { anchors?: readonly Anchor[] } = {}): Promise<VerifyReport> {
  return persistence.snapshot(async (tx) => {
    const problems: Problem[] = [];
    let problemCount = 0;
    const report = (p: Problem) => {
      problemCount++;
      if (problems.length < verifyProblemsListedMax) problems.push(p);
    };

    const guards = await tx.audit.guards();
    for (const [table, name] of requiredGuards) {
      const guard = guards.find((g) => g.table === table && g.name === name);
      if (!guard || !guard.enabled) report({ kind: 'guard_missing', detail: `trigger ${name} on ${table} is ${guard ? 'disabled' : 'missing'}` });
    }

    const ledgers = await tx.audit.ledgers();
    for (const l of ledgers) {
      if (!isCurrencyCode(l.currency) || scaleOf(l.currency) !== l.scale) {
        report({ kind: 'ledger_scale_mismatch', detail: `ledger ${l.currency} has scale ${l.scale}; ISO 4217 says ${isCurrencyCode(l.currency) ? scaleOf(l.currency) : 'unknown currency'}` });
      }
    }

    const accounts = new Map<bigint, AccountRecord>((await tx.audit.accounts()).map((a) => [a.id, a]));
    const replayed = new Map<bigint, Totals>();
    const head = await tx.audit.chainHead();
    const anchors = new Map((options.anchors ?? []).map((a) => [a.seq, a.hash]));
    const codes = new Set<string>(transferCodes);

    let transfers = 0;
    let chained = 0;
    let awaitingChain = 0;
    let previous: ChainHead = { seq: null, hash: null };
    let after: bigint | null = null;
    for (;;) {
      const page = await tx.audit.transfersWithLinks(after, verifyPageSize);
      for (const t of page) {
        transfers++;
        const where = { transferId: t.id, seq: t.seq.toString() };
        checkTransfer(t, accounts, codes, (detail) => report({ kind: 'transfer_invalid', detail, ...where }));

        // The chain: every transfer up to the head is linked to the one before it.
        if (head.seq !== null && t.seq <= head.seq) {
          if (!t.link) {
            report({ kind: 'chain_gap', detail: 'the chain passed this transfer without linking it', ...where });
          } else {
            chained++;
            if (t.link.prevSeq !== previous.seq) {
              report({ kind: 'chain_link_broken', detail: `links to seq ${t.link.prevSeq ?? 'none'}, expected ${previous.seq ?? 'none'}`, ...where });
            }
            if (!linkHash(previous.hash, t).equals(t.link.hash)) {
              report({ kind: 'chain_hash_mismatch', detail: 'the row does not match its chain link: it was altered after it was linked', ...where });
            }
            const anchor = anchors.get(t.seq);
            if (anchor && !anchor.equals(t.link.hash)) {
              report({ kind: 'chain_anchor_mismatch', detail: `the chain at seq ${t.seq} is not the anchored hash ${anchor.toString('hex')}`, ...where });
            }
            anchors.delete(t.seq);
            // The next link must cover this row as it is now; continuing from the stored hash reports one altered row once.
            previous = { seq: t.seq, hash: t.link.hash };
          }
        } else {
          awaitingChain++;
          if (t.link) report({ kind: 'chain_head_mismatch', detail: `linked past the recorded head ${head.seq ?? 'none'}`, ...where });
        }

        // Replay: each account's totals are the sum of its transfers, in order, and match what the transfer recorded.
        for (const side of ['debit', 'credit'] as const) {
          const id = side === 'debit' ? t.debitAccountId : t.creditAccountId;
          const before = replayed.get(id) ?? { debits: 0n, credits: 0n };
          const now = side === 'debit' ? { debits: before.debits + t.amount, credits: before.credits } : { debits: before.debits, credits: before.credits + t.amount };
          replayed.set(id, now);
          const recorded = side === 'debit' ? t.debitAfter : t.creditAfter;
          const account = accounts.get(id);
          const name = account?.key ?? `#${id}`;
          if (recorded !== null && (recorded.debits !== now.debits || recorded.credits !== now.credits)) {
            report({ kind: 'transfer_totals_mismatch', detail: `${side} account ${name}: recorded ${recorded.debits}/${recorded.credits} after this transfer, replay gives ${now.debits}/${now.credits}`, ...where, account: name });
          }
          if (account && breaksFlags(account, now)) {
            report({ kind: 'account_flags_breached', detail: `account ${name} is past its limit after this transfer (${now.debits}/${now.credits})`, ...where, account: name });
          }
        }
      }
      if (page.length < verifyPageSize) break;
      after = page[page.length - 1]!.seq;
    }

    if (head.seq !== null && previous.seq !== head.seq) {
      report({ kind: 'chain_head_mismatch', detail: `the recorded head is seq ${head.seq} but the chain ends at ${previous.seq ?? 'nothing'}` });
    } else if (head.hash !== null && previous.hash !== null && !head.hash.equals(previous.hash)) {
      report({ kind: 'chain_head_mismatch', detail: `the recorded head hash differs from link ${head.seq}` });
    }
    for (const [seq, hash] of anchors) {
      report({ kind: 'chain_anchor_mismatch', detail: `anchor seq ${seq} (${hash.toString('hex')}) is not in the chain` });
    }
    const links = await tx.audit.linkCount();
    if (links !== BigInt(chained)) report({ kind: 'chain_gap', detail: `${links} links stored, ${chained} transfers linked` });

    // Each account's stored totals equal its transfers; per ledger, Σ debits = Σ credits.
    const sums = new Map<string, { debits: bigint; credits: bigint }>();
    for (const a of accounts.values()) {
      const r = replayed.get(a.id) ?? { debits: 0n, credits: 0n };
      if (r.debits !== a.debitsPosted || r.credits !== a.creditsPosted) {
        report({ kind: 'account_totals_mismatch', account: a.key, detail: `account ${a.currency} ${a.key} stores ${a.debitsPosted}/${a.creditsPosted}, its transfers sum to ${r.debits}/${r.credits}` });
      }
      if (breaksFlags(a, { debits: a.debitsPosted, credits: a.creditsPosted })) {
        report({ kind: 'account_flags_breached', account: a.key, detail: `account ${a.currency} ${a.key} stores totals past its limit` });
      }
      const s = sums.get(a.currency) ?? { debits: 0n, credits: 0n };
      sums.set(a.currency, { debits: s.debits + a.debitsPosted, credits: s.credits + a.creditsPosted });
    }
    const ledgerLines = [...sums].sort(([x], [y]) => (x < y ? -1 : 1)).map(([currency, s]) => {
      const balanced = s.debits === s.credits;
      if (!balanced) report({ kind: 'ledger_unbalanced', detail: `ledger ${currency}: accounts hold Σ debits ${s.debits} ≠ Σ credits ${s.credits}` });
      return { currency, debits: s.debits.toString(), credits: s.credits.toString(), balanced };
    });

    return {
      ok: problemCount === 0,
      transfers,
      accounts: accounts.size,
      chained,
      awaitingChain,
      head: { seq: head.seq?.toString() ?? null, hash: head.hash?.toString('hex') ?? null },
      ledgers: ledgerLines,
      problemCount,
      problems,
    };
  });
}

function checkTransfer(t: StoredTransfer, accounts: ReadonlyMap<bigint, AccountRecord>, codes: ReadonlySet<string>, problem: (detail: string) => void): void {
  if (t.amount <= 0n) problem(`amount ${t.amount} is not positive`);
  if (t.debitAccountId === t.creditAccountId) problem('debits and credits the same account');
  if (!codes.has(t.code)) problem(`unknown code ${t.code}`);
  for (const [side, id] of [['debit', t.debitAccountId], ['credit', t.creditAccountId]] as const) {
    const account = accounts.get(id);
    if (!account) problem(`${side} account #${id} does not exist`);
    else if (account.currency !== t.currency) problem(`${side} account ${account.key} is in ${account.currency}, the transfer in ${t.currency}`);
  }
  if (t.debitAfter === null || t.creditAfter === null) problem('running totals are missing');
}

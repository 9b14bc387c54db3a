// The status poller (architecture §5: "callbacks are hints, not guarantees"). A payout whose
// provider outcome was ambiguous (`unknown`) or whose result callback never came (`submitted`;
// MoMo calls back at most once, Daraja's callbacks can be lost) is asked about with the provider's
// status query, through the account its latest attempt went through, on a schedule kept on the
// payout row: first after the provider's deadline, then doubling up to a cap, and after a bounded
// number of checks the payout is flagged for operators instead of being asked forever.
//
// Three steps, so that no SQL transaction stays open across a provider call:
//  1. claim (one transaction, FOR UPDATE SKIP LOCKED): the due payouts; each gets its next check
//     time written at once (the lease: another poller does not see it due, and a poller that dies
//     mid-query leaves it due again then), its check counted, and a fresh callback token stored;
//  2. ask each provider, outside any transaction;
//  3. record: the final answers of the poll (paid, failed, reversed) together, in one transaction
//     under their rows' locks, into the results outbox (the settler moves the ledger): the items of
//     one GSMA provider batch are answered by one read of it, and recorded with one statement per
//     kind, not one transaction each. Anything else, one transaction per payout: it waits for the
//     time written in step 1, is sent again under its key, or, after the last check, is flagged.
//
// The callback URL of a status query: M-Pesa answers status queries asynchronously, to a URL we
// give it, and only the SHA-256 of the attempt's own token is stored. Each query therefore gets a
// fresh token whose hash is stored against the attempt (payout_status_tokens), committed before
// the query is sent: the answer authenticates through findCallbackSubjectsByTokens exactly as a result
// does, the attempt's original URL stays valid for a late result, and the tokens of one attempt
// are bounded by the number of checks.
import type { Logger } from 'pino';
import { deriveId } from '../domain/ids.js';
import { statusPolledPayoutStates } from '../domain/payout-state.js';
import { unknown, type ProviderOutcome } from '../domain/provider-outcome.js';
import { assert, ok } from '../domain/result.js';
import { callbackTokenHash, newCallbackToken } from './callback-token.js';
import { reasonCodeMax } from './messages.js';
import { confirmedReason, paidResultOf, parsedCallbackOf } from './record-callback.js';
import { recordAttemptOutcome } from './attempt-outcome.js';
import type { BeneficiaryVault, DueStatusCheck, NewResult, PayoutProvider, PayoutRecord, Persistence, ProviderDirectory } from './ports.js';
import { microBatcher, type Settled } from './micro-batch.js';
import { logStepFailure, runEvery } from './periodic.js';

/** When status checks happen. */
export interface StatusCheckPolicy {
  /**
   * The provider's deadline: how long a result callback may take before we ask. The first check
   * comes this long after a payout enters submitted or unknown, and the backoff starts from it.
   */
  readonly firstAfterMs: number;
  /** The longest wait between two checks (the backoff's cap). */
  readonly backoffMaxMs: number;
  /** Status queries per attempt; a payout still unresolved after the last is flagged for operators. */
  readonly checksMax: number;
}

/**
 * Defaults: first check a minute after submission (M-Pesa and MoMo call back within seconds when
 * they call back at all), doubling to a 15-minute cap; ten checks (about 1 h 45 min in all) before
 * operators are asked to look.
 */
export const statusCheckDefaults: StatusCheckPolicy = { firstAfterMs: 60_000, backoffMaxMs: 15 * 60_000, checksMax: 10 };

/** The bounds a configuration must respect (the lead's config validates against these). */
export const statusPollMaxima = {
  firstAfterMs: 3_600_000,
  backoffMaxMs: 86_400_000,
  checksMax: 100,
  /** Payouts claimed per poll. */
  limit: 1_000,
  intervalMs: 60_000,
} as const;

/**
 * How long a payout may stay in submitting before the poller takes it for stranded: its worker
 * recorded the attempt and its key, then died (or lost its database) before recording the answer,
 * and nothing else would ever look at it. It must exceed the longest a live worker keeps one
 * there (the provider timeout, plus its wait for the account's rate and concurrency limits).
 */
export const submittingStaleAfterDefaultMs = 300_000;
export const submittingStaleAfterMaxMs = 3_600_000;

/** An ambiguous payout whose status checks bring no final answer is sent again under its key every this many checks. */
export const sameKeyResendEveryChecks = 2;

/** Status queries in flight at once per poll: a claim of `limit` payouts is asked this many at a time. */
export const statusQueriesInFlightMax = 16;
/** Final answers recorded in one transaction at most (a claim's worth). */
export const finalsPerTransactionMax = 1_000;
/** Polls per tick of the running poller while each claims a full `limit`; then it sleeps its interval. */
export const statusPollRoundsPerTickMax = 10;

export interface StatusPollDeps {
  readonly persistence: Persistence;
  /** Opens the beneficiary's number for a resend under the same key (the provider had no record). */
  readonly vault: BeneficiaryVault;
  readonly providers: ProviderDirectory;
  /** Base of the callback URLs given to providers (the same as the worker's). */
  readonly publicBaseUrl: string;
  readonly logger: Logger;
  /** statusCheckDefaults when absent. */
  readonly policy?: StatusCheckPolicy;
  /**
   * Tells operators of a payout whose checks ran out (tuma.payouts.dlq.v1 in the runtime); they
   * look, then `tuma payouts requeue` it. Absent: the flag in the database and the log only.
   */
  readonly deadLetter?: (payoutId: string, reason: string) => Promise<void>;
  /** The running poller's clock (tests move it forward); the system clock when absent. */
  readonly now?: () => Date;
  /** submittingStaleAfterDefaultMs when absent. */
  readonly submittingStaleAfterMs?: number;
}

export interface StatusPollSummary {
  /** Due payouts claimed. */
  readonly claimed: number;
  /** Of those, left for later because their account cannot be called now (breaker open, account gone). */
  readonly skipped: number;
  /** Status queries sent. */
  readonly queried: number;
  /** Final answers put into the results outbox. */
  readonly resolved: number;
  /** Payouts flagged for operators after their last check. */
  readonly flagged: number;
  /** Payouts found stranded in submitting and made due for a status query (in this poll, before the claim). */
  readonly stranded: number;
}

/** The wait before the check after `checksDone` checks: firstAfterMs doubling per check, capped. */
export function statusCheckDelayMs(checksDone: number, policy: StatusCheckPolicy = statusCheckDefaults): number {
  // 2^31 × any positive firstAfterMs exceeds every cap allowed: no need to grow the exponent further.
  return Math.min(policy.firstAfterMs * 2 ** Math.min(Math.max(checksDone, 0), 31), policy.backoffMaxMs);
}

export function checkPolicy(policy: StatusCheckPolicy): void {
  assert(Number.isInteger(policy.firstAfterMs) && policy.firstAfterMs >= 1 && policy.firstAfterMs <= statusPollMaxima.firstAfterMs, `firstAfterMs is 1..${statusPollMaxima.firstAfterMs}`);
  assert(
    Number.isInteger(policy.backoffMaxMs) && policy.backoffMaxMs >= policy.firstAfterMs && policy.backoffMaxMs <= statusPollMaxima.backoffMaxMs,
    `backoffMaxMs is firstAfterMs..${statusPollMaxima.backoffMaxMs}`,
  );
  assert(Number.isInteger(policy.checksMax) && policy.checksMax >= 1 && policy.checksMax <= statusPollMaxima.checksMax, `checksMax is 1..${statusPollMaxima.checksMax}`);
}

interface Claimed {
  readonly check: DueStatusCheck;
  readonly provider: PayoutProvider;
  readonly token: string;
  /** Checks sent including this one. */
  readonly checks: number;
}

const after = (now: Date, ms: number) => new Date(now.getTime() + ms);

/** One poll: claims up to `limit` due payouts, asks their providers, records what they said. */
export async function pollStatuses(deps: StatusPollDeps, { limit, now }: { readonly limit: number; readonly now: Date }): Promise<StatusPollSummary> {
  const policy = deps.policy ?? statusCheckDefaults;
  checkPolicy(policy);
  assert(Number.isInteger(limit) && limit >= 1 && limit <= statusPollMaxima.limit, `a poll claims 1..${statusPollMaxima.limit} payouts`);

  // A payout stranded in submitting has an attempt whose key may or may not have reached the
  // provider: that is an ambiguous outcome, resolved like any other, by asking (and, if the
  // provider has no record of it, by sending it again under the same key).
  const staleAfterMs = deps.submittingStaleAfterMs ?? submittingStaleAfterDefaultMs;
  assert(Number.isInteger(staleAfterMs) && staleAfterMs >= 1 && staleAfterMs <= submittingStaleAfterMaxMs, `submittingStaleAfterMs is 1..${submittingStaleAfterMaxMs}`);
  const stranded = await deps.persistence.transaction(async (tx) =>
    ok(await tx.payouts.releaseStaleSubmitting(after(now, -staleAfterMs), now, limit, `poller: no answer recorded ${staleAfterMs} ms after the attempt started (its worker stopped?): asked by status query`)),
  );
  if (!stranded.ok) throw new Error(`invariant violated: stranded release rejected: ${stranded.error.code}`);
  if (stranded.value.length > 0) deps.logger.warn({ payouts: stranded.value.length, staleAfterMs }, 'payouts stranded in submitting are asked about by status query');

  const claim = await deps.persistence.transaction(async (tx) => {
    const polled = await tx.payouts.claimDueStatusChecks(now, limit);
    // Paid payouts whose reversal a URL-token callback reported: asked once, to confirm it.
    const due = polled.length < limit ? [...polled, ...(await tx.payouts.claimDueReversalChecks(now, limit - polled.length))] : polled;
    const claimed: Claimed[] = [];
    // Written for the whole claim at once: one statement for the tokens, one for the next checks.
    const tokens: { payoutId: string; attemptNo: number; tokenSha256: Buffer }[] = [];
    const schedule: { payoutId: string; at: Date; checks: number }[] = [];
    for (const check of due) {
      const provider = deps.providers.account(check.attempt.accountId);
      if (!provider) {
        // The account the attempt went through is no longer configured: only it knows the payment.
        deps.logger.error({ payoutId: check.payoutId, account: check.attempt.accountId }, 'status check: the attempt\'s provider account is not configured');
        schedule.push({ payoutId: check.payoutId, at: after(now, policy.backoffMaxMs), checks: check.checks });
        continue;
      }
      if (!provider.available()) {
        // Breaker open: nothing is asked and nothing counted; only the next check time moves.
        schedule.push({ payoutId: check.payoutId, at: after(now, statusCheckDelayMs(check.checks, policy)), checks: check.checks });
        continue;
      }
      const token = newCallbackToken();
      tokens.push({ payoutId: check.payoutId, attemptNo: check.attempt.attemptNo, tokenSha256: callbackTokenHash(token) });
      const checks = check.checks + 1;
      schedule.push({ payoutId: check.payoutId, at: after(now, statusCheckDelayMs(checks, policy)), checks });
      claimed.push({ check, provider, token, checks });
    }
    await tx.payouts.insertStatusTokens(tokens);
    await tx.payouts.setStatusChecks(schedule);
    return ok({ due: due.length, claimed });
  });
  if (!claim.ok) throw new Error(`invariant violated: status claim rejected: ${claim.error.code}`);
  const { due, claimed } = claim.value;

  let resolved = 0;
  let flagged = 0;
  // Final answers for payouts awaiting their outcome are recorded together, one transaction at a
  // time: those that come while one is written go into the next (group commit). Queries answered
  // at once (a provider batch's items, read once) then settle hundreds per transaction; queries
  // that wait on the network each go as soon as the one before is written.
  const recordFinal = microBatcher((finals: readonly Final[]) => recordFinals(deps, finals), finalsPerTransactionMax, 1);
  const recordings: Promise<void>[] = [];
  let next = 0;
  // statusQueriesInFlightMax queries at once: each asker takes the next claimed payout when its own is answered.
  const asker = async (): Promise<void> => {
    while (next < claimed.length) {
      const c = claimed[next++]!;
      const outcome = await ask(deps, c);
      if (c.check.state !== 'paid' && (outcome.kind === 'paid' || outcome.kind === 'failed' || outcome.kind === 'reversed')) {
        const recording = recordFinal({ c, outcome }).then((inOutbox) => void (inOutbox && resolved++));
        recording.catch(() => undefined); // awaited below, with the others
        recordings.push(recording);
        continue;
      }
      const recorded = await record(deps, policy, c, outcome, now);
      if (recorded === 'resolved') resolved++;
      if (recorded === 'flagged') flagged++;
    }
  };
  await Promise.all(Array.from({ length: Math.min(statusQueriesInFlightMax, claimed.length) }, asker));
  await Promise.all(recordings);
  return { claimed: due, skipped: due - claimed.length, queried: claimed.length, resolved, flagged, stranded: stranded.value.length };
}

interface Final {
  readonly c: Claimed;
  readonly outcome: ProviderOutcome;
}

async function ask(deps: StatusPollDeps, { check, provider, token }: Claimed): Promise<ProviderOutcome> {
  try {
    return await provider.status({
      payoutId: check.payoutId,
      idempotencyKey: check.attempt.idempotencyKey,
      providerReference: check.attempt.conversationId ?? check.providerReference,
      currency: check.currency,
      callbackUrl: `${deps.publicBaseUrl}/v1/callbacks/${check.provider}/${token}`,
    });
  } catch (error) {
    // The port says status() never throws; if one does, it is one more unanswered question.
    return unknown(null, `status query threw: ${(error as Error).name}`);
  }
}

type Recorded = 'resolved' | 'waiting' | 'flagged' | 'moved_on' | { readonly resend: string };

/** The outbox row of a final status answer (paid, failed or reversed) for a payout awaiting its outcome. */
function finalResultOf(check: DueStatusCheck, outcome: ProviderOutcome, paidFields: Awaited<ReturnType<typeof paidResultOf>> | null): NewResult {
  const result = parsedCallbackOf('', null, outcome);
  return {
    id: deriveId('result', check.payoutId, String(check.attempt.attemptNo), 'status'),
    payoutId: check.payoutId,
    batchId: check.batchId,
    outcome: result.outcome,
    reasonCode: (result.outcome === 'failed' ? confirmedReason(result.reasonCode, check.attempt.reportedFailure ?? null) : result.reasonCode)?.slice(0, reasonCodeMax) ?? null,
    providerReference: result.providerReference,
    source: 'status_query',
    attemptNo: check.attempt.attemptNo,
    ...(paidFields ?? {}),
  };
}

/**
 * Final answers for payouts awaiting their outcome, recorded together: their payouts read at once
 * (a paid answer's figures are checked as record() checks them), then one transaction that locks
 * their rows, puts the answers of those still awaiting that attempt's outcome into the outbox and
 * ends their status checks. An answer for a payout settled meanwhile, or moved on to a newer
 * attempt, changes nothing (as in record()). Answers, per final, whether it went into the outbox.
 */
async function recordFinals(deps: StatusPollDeps, finals: readonly Final[]): Promise<readonly Settled<boolean>[]> {
  if (finals.length === 0) return [];
  const reported = finals.filter((f) => f.outcome.kind === 'paid' && f.outcome.facts);
  const payouts = reported.length > 0 ? new Map((await deps.persistence.read.payouts.findMany(reported.map((f) => f.c.check.payoutId))).map((p) => [p.id, p])) : new Map<string, PayoutRecord>();
  const paidFields = new Map(
    await Promise.all(
      reported.flatMap(({ c, outcome }) => {
        const payout = payouts.get(c.check.payoutId);
        return payout && outcome.kind === 'paid' ? [paidResultOf(deps, payout, outcome.facts).then((fields) => [c.check.payoutId, fields] as const)] : [];
      }),
    ),
  );
  const done = await deps.persistence.transaction(async (tx) => {
    const current = new Map((await tx.payouts.lockMany(finals.map((f) => f.c.check.payoutId))).map((p) => [p.id, p]));
    const results = finals.flatMap(({ c: { check }, outcome }) => {
      const payout = current.get(check.payoutId);
      if (!payout || !statusPolledPayoutStates.includes(payout.state) || payout.attemptCount !== check.attempt.attemptNo) return [];
      return [finalResultOf(check, outcome, paidFields.get(check.payoutId) ?? null)];
    });
    if (results.length > 0) {
      await tx.results.insertMany(results);
      // The outbox has the answers: no more questions while the settler applies them.
      await tx.payouts.unscheduleStatusChecks(results.map((r) => r.payoutId));
    }
    return ok(results);
  });
  if (!done.ok) throw new Error(`invariant violated: status record rejected: ${done.error.code}`);
  for (const r of done.value) deps.logger.info({ payoutId: r.payoutId, attemptNo: r.attemptNo, outcome: r.outcome }, 'status query settled the payout\'s outcome');
  const inOutbox = new Set(done.value.map((r) => r.payoutId));
  return finals.map((f) => ({ ok: true, value: inOutbox.has(f.c.check.payoutId) }));
}

async function record(deps: StatusPollDeps, policy: StatusCheckPolicy, c: Claimed, outcome: ProviderOutcome, now: Date): Promise<'resolved' | 'waiting' | 'flagged' | 'moved_on'> {
  const { check } = c;
  const log = deps.logger.child({ payoutId: check.payoutId, attemptNo: check.attempt.attemptNo, account: check.attempt.accountId });
  // A paid answer's figures are checked against the payout before it settles (issue #19 item 4).
  const reported = outcome.kind === 'paid' && outcome.facts ? await deps.persistence.read.payouts.find(check.payoutId) : null;
  const paidFields = reported && outcome.kind === 'paid' ? await paidResultOf(deps, reported, outcome.facts) : null;
  const done = await deps.persistence.transaction(async (tx) => {
    const current = await tx.payouts.lock(check.payoutId);
    // A reported reversal of a paid payout: the provider's own answer confirms it, or nothing moves.
    if (current && current.state === 'paid' && check.state === 'paid') {
      if (outcome.kind !== 'reversed') {
        // Not (yet) reversed at the provider: asked again on the backoff until the checks run out, then left paid.
        if (c.checks >= policy.checksMax) await tx.payouts.setStatusCheck(check.payoutId, { at: null });
        return ok<Recorded>('moved_on');
      }
      await tx.payouts.setStatusCheck(check.payoutId, { at: null });
      const result = parsedCallbackOf('', null, outcome);
      await tx.results.insert({
        id: deriveId('result', check.payoutId, String(check.attempt.attemptNo), 'status-reversal'),
        payoutId: check.payoutId,
        batchId: check.batchId,
        outcome: 'reversed',
        reasonCode: result.reasonCode?.slice(0, reasonCodeMax) ?? null,
        providerReference: result.providerReference,
        source: 'status_query',
        attemptNo: check.attempt.attemptNo,
      });
      return ok<Recorded>('resolved');
    }
    // Settled meanwhile (a callback came), or a newer attempt exists: this answer changes nothing.
    if (!current || !statusPolledPayoutStates.includes(current.state) || current.attemptCount !== check.attempt.attemptNo) return ok<Recorded>('moved_on');
    if (outcome.kind === 'paid' || outcome.kind === 'failed' || outcome.kind === 'reversed') {
      await tx.results.insert(finalResultOf(check, outcome, paidFields));
      // The outbox has the answer: no more questions while the settler applies it.
      await tx.payouts.setStatusCheck(check.payoutId, { at: null });
      return ok<Recorded>('resolved');
    }
    const absent = current.state === 'unknown' && outcome.kind === 'absent';
    // The last check: operators look (`tuma payouts requeue` starts the checks over). Only a
    // provider's "no such transaction" still gets its resend then, and its answer one more check.
    if (c.checks > policy.checksMax || (c.checks === policy.checksMax && !absent)) {
      await tx.payouts.setStatusCheck(check.payoutId, { at: null, flaggedAt: now });
      return ok<Recorded>('flagged');
    }
    // Our last send was ambiguous and the provider has no transaction under the key: it never
    // arrived. Send it again under the same key (never a new one: that could pay twice). A
    // provider that cannot say "no such transaction" (M-Pesa's status result for a key it never
    // received is an undocumented failure of the query) gets the same-key resend every
    // sameKeyResendEveryChecks-th check instead, which its duplicate check makes safe: Daraja
    // answers a replayed OriginatorConversationID with 500.002.1001 (the first exists: keep
    // asking), or accepts it (the first never landed), as provider-apis.md recommends.
    if (absent || (current.state === 'unknown' && c.checks % sameKeyResendEveryChecks === 0)) {
      const why = outcome.kind === 'absent' ? 'the provider has no record of it' : `no final answer after ${c.checks} status checks`;
      await tx.payouts.move([check.payoutId], 'unknown', 'submitting', `poller: attempt ${check.attempt.attemptNo} sent again under the same key (${why})`);
      // The resend's callbacks come to a URL of their own, with a payment token: the status
      // query's token answers on the status route alone (issue #19 item 1).
      const token = newCallbackToken();
      await tx.payouts.insertStatusToken(check.payoutId, check.attempt.attemptNo, callbackTokenHash(token), 'payment');
      return ok<Recorded>({ resend: token });
    }
    // pending (accepted, or still processing; M-Pesa posts its answer later) or unknown: the next
    // check is the one the claim wrote.
    return ok<Recorded>('waiting');
  });
  if (!done.ok) throw new Error(`invariant violated: status record rejected: ${done.error.code}`);
  if (typeof done.value === 'object') {
    await resend(deps, policy, c, done.value.resend, log);
    return 'waiting';
  }
  if (done.value === 'flagged') {
    log.warn({ checks: c.checks, state: check.state, outcome: outcome.kind }, 'status checks exhausted without a final answer: payout flagged for operators');
    await deps.deadLetter?.(check.payoutId, `status checks exhausted after ${c.checks} (last answer: ${outcome.kind}); requeue with \`tuma payouts requeue ${check.payoutId}\``);
  } else if (done.value === 'resolved') {
    log.info({ outcome: outcome.kind, checks: c.checks }, 'status query settled the payout\'s outcome');
  } else {
    log.debug({ outcome: outcome.kind, checks: c.checks, detail: outcome.kind === 'unknown' ? outcome.detail : undefined }, 'status query answered without a final outcome');
  }
  return done.value;
}

/**
 * Sends the attempt again under its own key, through its account's guard, and records the answer
 * as the worker does. A refusal before sending (breaker open) puts the payout back in unknown.
 */
async function resend(deps: StatusPollDeps, policy: StatusCheckPolicy, c: Claimed, token: string, log: Logger): Promise<void> {
  const { check } = c;
  const payout = await deps.persistence.read.payouts.find(check.payoutId);
  const sealed = await deps.persistence.read.payouts.sealedMsisdn(check.payoutId);
  if (!payout || !sealed) throw new Error(`invariant violated: payout ${check.payoutId} vanished or has no msisdn`);
  const msisdn = (await deps.vault.open(payout.programmeId, payout.id, 'msisdn', sealed)).toString('utf8');
  let outcome: ProviderOutcome;
  try {
    outcome = await c.provider.submit({
      payoutId: payout.id,
      idempotencyKey: check.attempt.idempotencyKey,
      msisdn,
      amountMinor: payout.amountMinor,
      currency: payout.currency,
      callbackUrl: `${deps.publicBaseUrl}/v1/callbacks/${check.provider}/${token}`,
    });
  } catch (error) {
    outcome = unknown(null, `resend not sent: ${(error as Error).message}`.slice(0, 200));
  }
  log.info({ outcome: outcome.kind }, 'attempt sent again under the same key');
  await recordAttemptOutcome({ persistence: deps.persistence, vault: deps.vault, statusCheckFirstAfterMs: policy.firstAfterMs, resend: true }, payout, check.attempt.attemptNo, outcome);
}

/**
 * Runs the poller every `intervalMs` until stopped: per tick up to statusPollRoundsPerTickMax polls
 * while each claims a full `limit`, then a sleep (no busy loop). A failed poll is logged and tried
 * again next tick; stop() waits for the poll in flight.
 */
export function startStatusPoller(deps: StatusPollDeps, intervalMs: number, limit: number): { stop(): Promise<void> } {
  assert(Number.isInteger(intervalMs) && intervalMs >= 1 && intervalMs <= statusPollMaxima.intervalMs, `the poll interval is 1..${statusPollMaxima.intervalMs} ms`);
  assert(Number.isInteger(limit) && limit >= 1 && limit <= statusPollMaxima.limit, `a poll claims 1..${statusPollMaxima.limit} payouts`);
  checkPolicy(deps.policy ?? statusCheckDefaults);
  const now = deps.now ?? (() => new Date());
  return runEvery(
    intervalMs,
    async (stopped) => {
      for (let round = 0; round < statusPollRoundsPerTickMax && !stopped(); round++) {
        const summary = await pollStatuses(deps, { limit, now: now() });
        if (summary.queried > 0 || summary.skipped > 0 || summary.stranded > 0) deps.logger.debug(summary, 'status poll');
        if (summary.claimed < limit) break;
      }
    },
    (error) => logStepFailure(deps.logger, error, 'status poll failed; trying again next tick'),
  );
}

// What happens after a provider confirmed that a payout failed (issue #6 item 3). Some failures
// say nothing about the payee and may pass: our float ran out, our own daily limit was reached,
// the provider's queue let the request expire, or the provider failed without a reason. Those are
// tried again with a new attempt (a new idempotency key: the provider confirmed the old one moved
// no money) after a capped exponential backoff with jitter. Every other failure (the number is no
// wallet, the wallet may not receive, the amount is refused, our credentials are refused, the
// payee declined) would fail again the same way: it is final, and the money goes back to the
// programme. After the last attempt a retryable failure is not final either: the money stays
// committed and operators are asked to look (requeue it once the cause is fixed, or cancel it).
import type { FailureReason } from './provider-outcome.js';
import { failureReasons } from './provider-outcome.js';

export const retryableFailureReasons: readonly FailureReason[] = ['insufficient_float', 'payer_limit_exceeded', 'expired', 'provider_failure'];

export interface RetryPolicy {
  /** The failure reasons tried again (retryableFailureReasons, or fewer: none makes every failure final). */
  readonly reasons: readonly FailureReason[];
  /** Attempts a payout gets at most before operators are asked (1: no retries). */
  readonly attemptsMax: number;
  /** The wait before the second attempt; it doubles per attempt. */
  readonly backoffMs: number;
  /** The longest wait between two attempts. */
  readonly backoffMaxMs: number;
}

/** Three attempts, a minute and then two apart (each between half and all of that: jitter). */
export const retryDefaults: RetryPolicy = { reasons: retryableFailureReasons, attemptsMax: 3, backoffMs: 60_000, backoffMaxMs: 900_000 };
export const retryMaxima = { attemptsMax: 20, backoffMs: 3_600_000, backoffMaxMs: 86_400_000 } as const;

/** The Tuma failure reason at the head of a result's reason code ("insufficient_float:mpesa:2001"), or null. */
export function failureReasonOf(reasonCode: string | null): FailureReason | null {
  if (reasonCode === null) return null;
  const head = reasonCode.slice(0, reasonCode.indexOf(':') === -1 ? reasonCode.length : reasonCode.indexOf(':'));
  return (failureReasons as readonly string[]).includes(head) ? (head as FailureReason) : null;
}

/**
 * The wait after `attemptsDone` attempts: backoffMs doubling per attempt, capped, then "equal
 * jitter" (between half and all of it), so that the payouts a float shortage failed together do
 * not come back together. `random` is in [0, 1).
 */
export function retryDelayMs(attemptsDone: number, policy: RetryPolicy, random: number): number {
  const capped = Math.min(policy.backoffMs * 2 ** Math.min(Math.max(attemptsDone - 1, 0), 31), policy.backoffMaxMs);
  return Math.round(capped / 2 + (capped / 2) * random);
}

export type RetryDecision =
  /** The failure is final: release the money. */
  | { readonly kind: 'final' }
  /** Try again with a new attempt after `delayMs`. */
  | { readonly kind: 'retry'; readonly delayMs: number }
  /** Retryable, but the attempts are used up: hold the money and flag the payout for operators. */
  | { readonly kind: 'exhausted' };

/** What to do after attempt `attemptNo` of a payout failed with `reasonCode`. */
export function decideRetry(reasonCode: string | null, attemptNo: number, policy: RetryPolicy, random: number): RetryDecision {
  const reason = failureReasonOf(reasonCode);
  if (reason === null || !retryableFailureReasons.includes(reason) || !policy.reasons.includes(reason)) return { kind: 'final' };
  if (attemptNo >= policy.attemptsMax) return { kind: 'exhausted' };
  return { kind: 'retry', delayMs: retryDelayMs(attemptNo, policy, random) };
}

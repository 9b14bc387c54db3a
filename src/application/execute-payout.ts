// The worker's step for one dispatch message: persist the attempt and its provider idempotency
// key BEFORE calling the provider, call it through its guard (breaker, timeout), record the
// outcome. An ambiguous outcome becomes `unknown` (resolved by a status query), never `failed`.
import type { Logger } from 'pino';
import { attemptKey } from '../domain/ids.js';
import { countryOfMsisdn } from '../domain/phone.js';
import { ok } from '../domain/result.js';
import { callbackTokenHash, newCallbackToken } from './callback-token.js';
import { deadLetter } from './dead-letter.js';
import { decode, dispatchMessageSchema, type Topics } from './messages.js';
import {
  ProviderUnavailableError,
  type BeneficiaryVault,
  type Delivery,
  type NewAttempt,
  type PayoutProvider,
  type PayoutRecord,
  type ProviderDirectory,
  type Persistence,
  type Transport,
} from './ports.js';
import { unknown, type ProviderOutcome } from '../domain/provider-outcome.js';
import { statusCheckDefaults } from './poll-status.js';
import { recordAttemptOutcomes, type AttemptAnswer } from './attempt-outcome.js';
import { microBatcherPer, type Settled } from './micro-batch.js';

export interface ExecutePayoutDeps {
  readonly persistence: Persistence;
  readonly vault: BeneficiaryVault;
  readonly transport: Transport;
  readonly topics: Topics;
  readonly providers: ProviderDirectory;
  /** Base of the callback URLs we give providers, e.g. https://tuma.example.org */
  readonly publicBaseUrl: string;
  readonly logger: Logger;
  /** The status poller's first check after a payout enters submitted or unknown (statusCheckDefaults when absent). */
  readonly statusCheckFirstAfterMs?: number;
}

/** A chunk that failed as a whole: its messages go one by one; worth a look when it recurs. */
const chunkFailed = (step: string) => (deps: ExecutePayoutDeps, error: unknown, size: number) =>
  deps.logger.warn({ err: error, size, step }, 'a chunk failed as a whole; its messages go one by one');

/**
 * Attempts started (or answers recorded) in one transaction at most, and such transactions at
 * once per worker for each of the two steps (see microBatcher).
 */
export const workerChunkMax = 128;
export const workerFlushesMax = 2;

interface Started {
  readonly payout: PayoutRecord;
  readonly attemptNo: number;
  readonly idempotencyKey: string;
  readonly callbackToken: string;
  readonly provider: PayoutProvider;
  readonly msisdn: string;
}

export async function executePayout(deps: ExecutePayoutDeps, delivery: Delivery): Promise<void> {
  const message = decode(dispatchMessageSchema, delivery.value);
  if (!message) return deadLetter(deps, delivery, 'malformed dispatch message');
  const started = await startAttempt(deps, message.payoutId);
  if (started === 'missing') return deadLetter(deps, delivery, 'no such payout');
  if (started === 'skip') return; // a duplicate delivery: this payout is past queued already
  const { provider, msisdn } = started;
  const log = deps.logger.child({ payoutId: started.payout.id, attemptNo: started.attemptNo, account: provider.accountId });

  let outcome: ProviderOutcome;
  try {
    outcome = await provider.submit({
      payoutId: started.payout.id,
      idempotencyKey: started.idempotencyKey,
      msisdn,
      amountMinor: started.payout.amountMinor,
      currency: started.payout.currency,
      callbackUrl: `${deps.publicBaseUrl}/v1/callbacks/${message.provider}/${started.callbackToken}`,
    });
  } catch (error) {
    if (error instanceof ProviderUnavailableError) {
      // Nothing reached the provider: the attempt is void and the payout waits in queued.
      await abandonAttempt(deps, started, error.message);
      throw error;
    }
    outcome = unknown(null, `provider call threw: ${(error as Error).message}`.slice(0, 200));
  }
  log.info({ outcome: outcome.kind }, 'provider answered');
  await recordOutcome(deps, { payout: started.payout, attemptNo: started.attemptNo, outcome });
}

/** Records the provider's answer together with the others that came back at the same moment: one transaction for them all. */
const recordOutcome = microBatcherPer(
  async (deps: ExecutePayoutDeps, answers: readonly AttemptAnswer[]) => {
    await recordAttemptOutcomes({ persistence: deps.persistence, vault: deps.vault, statusCheckFirstAfterMs: deps.statusCheckFirstAfterMs ?? statusCheckDefaults.firstAfterMs }, answers);
    return answers.map(() => ({ ok: true, value: undefined }) as const);
  },
  workerChunkMax,
  workerFlushesMax,
  chunkFailed('recording answers'),
);

type StartOutcome = Started | 'missing' | 'skip';

/** Starts the payout's attempt together with the other messages in hand at the same moment: one transaction for them all. */
const startAttempt = microBatcherPer(startAttempts, workerChunkMax, workerFlushesMax, chunkFailed('starting attempts'));

/**
 * Under the payouts' locks (the relay marks each queued in the transaction that publishes it, so
 * a fast delivery waits here for that commit): opens each beneficiary's number, whose country is
 * part of the route, finds the account, and records the attempt with its key and account before
 * any call. Nothing is written for a payout no account can take now: no account serves it any
 * more (configuration changed after approval) or the account's breaker is open; its message comes
 * back after a backoff and nothing is failed for it. One answer per id, in order; an id twice
 * (the same message delivered twice at once) starts once.
 */
async function startAttempts(deps: ExecutePayoutDeps, payoutIds: readonly string[]): Promise<Settled<StartOutcome>[]> {
  const result = await deps.persistence.transaction(async (tx) => {
    const locked = new Map((await tx.payouts.lockManyWithMsisdn(payoutIds)).map((l) => [l.payout.id, l]));
    const starting = new Set<string>();
    const answers: Settled<StartOutcome>[] = [];
    const attempts: NewAttempt[] = [];
    for (const payoutId of payoutIds) {
      const row = locked.get(payoutId);
      if (!row) {
        answers.push({ ok: true, value: 'missing' });
        continue;
      }
      const { payout, sealedMsisdn } = row;
      // Past queued already, or started a moment ago by the same message delivered twice.
      if (payout.state !== 'queued' || starting.has(payout.id)) {
        answers.push({ ok: true, value: 'skip' });
        continue;
      }
      // Waiting for its next attempt (the relay publishes it when due), or held for operators after
      // its last attempt (`tuma payouts requeue` releases it): an older message starts nothing.
      if (payout.flaggedAt !== null || (payout.dispatchAt !== null && payout.dispatchAt.getTime() > Date.now())) {
        answers.push({ ok: true, value: 'skip' });
        continue;
      }
      let msisdn: string;
      try {
        msisdn = (await deps.vault.open(payout.programmeId, payout.id, 'msisdn', sealedMsisdn)).toString('utf8');
      } catch (error) {
        // This payout's message fails (and comes again) alone: the others of the chunk go on.
        answers.push({ ok: false, error });
        continue;
      }
      const country = countryOfMsisdn(msisdn);
      const provider = country ? deps.providers.route(payout, country) : null;
      if (!provider) {
        answers.push({ ok: false, error: new ProviderUnavailableError(payout.provider, `no ${payout.provider} account serves programme ${payout.programmeId} in ${payout.currency}/${country ?? '??'}`) });
        continue;
      }
      if (!provider.available()) {
        answers.push({ ok: false, error: new ProviderUnavailableError(provider.accountId, `${provider.accountId} is unavailable (breaker open)`) });
        continue;
      }
      const attemptNo = payout.attemptCount + 1;
      const idempotencyKey = attemptKey(payout.id, attemptNo);
      const callbackToken = newCallbackToken();
      starting.add(payout.id);
      attempts.push({ payoutId: payout.id, attemptNo, idempotencyKey, callbackTokenSha256: callbackTokenHash(callbackToken), accountId: provider.accountId });
      answers.push({ ok: true, value: { payout, attemptNo, idempotencyKey, callbackToken, provider, msisdn } });
    }
    await tx.payouts.insertAttempts(attempts);
    // One move per attempt number (nearly always all first attempts), each recorded with its number.
    const byAttemptNo = new Map<number, string[]>();
    for (const a of attempts) {
      const ids = byAttemptNo.get(a.attemptNo);
      if (ids) ids.push(a.payoutId);
      else byAttemptNo.set(a.attemptNo, [a.payoutId]);
    }
    for (const [attemptNo, ids] of byAttemptNo) {
      await tx.payouts.move(ids, 'queued', 'submitting', `worker: attempt ${attemptNo}`, { attemptCount: attemptNo });
    }
    return ok(answers);
  });
  if (!result.ok) throw new Error(`invariant violated: start attempts rejected: ${result.error.code}`);
  return result.value;
}

async function abandonAttempt(deps: ExecutePayoutDeps, started: Started, detail: string): Promise<void> {
  await deps.persistence.transaction(async (tx) => {
    const payout = await tx.payouts.lock(started.payout.id);
    await tx.payouts.setAttemptOutcomes([{ payoutId: started.payout.id, attemptNo: started.attemptNo, outcome: 'rejected', conversationId: null, detail: `not sent: ${detail}` }]);
    if (payout?.state === 'submitting') await tx.payouts.move([payout.id], 'submitting', 'queued', `worker: not sent (${detail})`);
    return ok(undefined);
  });
}


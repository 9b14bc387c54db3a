// The worker's step for one dispatch message: persist the attempt and its provider idempotency
// key BEFORE calling the provider, call it through its guard (breaker, timeout), record the
// outcome. An ambiguous outcome becomes `unknown` (resolved by a status query), never `failed`.
import type { Logger } from 'pino';
import { attemptKey, deriveId } from '../domain/ids.js';
import type { ProviderId } from '../domain/providers.js';
import { ok } from '../domain/result.js';
import { callbackTokenHash, newCallbackToken } from './callback-token.js';
import { deadLetter } from './dead-letter.js';
import { decode, dispatchMessageSchema, reasonCodeMax, type Topics } from './messages.js';
import {
  ProviderUnavailableError,
  type BeneficiaryVault,
  type Delivery,
  type PayoutProvider,
  type PayoutRecord,
  type Persistence,
  type Transport,
} from './ports.js';
import { unknown, type ProviderOutcome } from '../domain/provider-outcome.js';

export interface ExecutePayoutDeps {
  readonly persistence: Persistence;
  readonly vault: BeneficiaryVault;
  readonly transport: Transport;
  readonly topics: Topics;
  readonly providers: Partial<Record<ProviderId, PayoutProvider>>;
  /** Base of the callback URLs we give providers, e.g. https://tuma.example.org */
  readonly publicBaseUrl: string;
  readonly logger: Logger;
}

interface Started {
  readonly payout: PayoutRecord;
  readonly attemptNo: number;
  readonly idempotencyKey: string;
  readonly callbackToken: string;
}

export async function executePayout(deps: ExecutePayoutDeps, delivery: Delivery): Promise<void> {
  const message = decode(dispatchMessageSchema, delivery.value);
  if (!message) return deadLetter(deps, delivery, 'malformed dispatch message');
  const provider = deps.providers[message.provider];
  if (!provider) throw new ProviderUnavailableError(message.provider, `no adapter configured for ${message.provider}`);
  // While the provider's breaker is open, write nothing: the message comes back after a backoff.
  if (!provider.available()) throw new ProviderUnavailableError(message.provider, `${message.provider} is unavailable (breaker open)`);

  const started = await startAttempt(deps, message.payoutId);
  if (started === 'missing') return deadLetter(deps, delivery, 'no such payout');
  if (started === 'skip') return; // a duplicate delivery: this payout is past queued already
  const log = deps.logger.child({ payoutId: started.payout.id, attemptNo: started.attemptNo });

  const sealed = await deps.persistence.read.payouts.sealedMsisdn(started.payout.id);
  if (!sealed) throw new Error(`invariant violated: payout ${started.payout.id} has no msisdn`);
  const msisdn = (await deps.vault.open(started.payout.programmeId, started.payout.id, 'msisdn', sealed)).toString('utf8');

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
  await recordOutcome(deps, started, outcome);
}

async function startAttempt(deps: ExecutePayoutDeps, payoutId: string): Promise<Started | 'missing' | 'skip'> {
  const callbackToken = newCallbackToken();
  const result = await deps.persistence.transaction(async (tx) => {
    const payout = await tx.payouts.lock(payoutId);
    if (!payout) return ok<Started | 'missing' | 'skip'>('missing');
    if (payout.state !== 'queued') return ok<Started | 'missing' | 'skip'>('skip');
    const attemptNo = payout.attemptCount + 1;
    const idempotencyKey = attemptKey(payout.id, attemptNo);
    await tx.payouts.insertAttempt(payout.id, attemptNo, idempotencyKey, callbackTokenHash(callbackToken));
    await tx.payouts.move([payout.id], 'queued', 'submitting', `worker: attempt ${attemptNo}`, { attemptCount: attemptNo });
    return ok<Started | 'missing' | 'skip'>({ payout, attemptNo, idempotencyKey, callbackToken });
  });
  if (!result.ok) throw new Error(`invariant violated: start attempt rejected: ${result.error.code}`);
  return result.value;
}

async function abandonAttempt(deps: ExecutePayoutDeps, started: Started, detail: string): Promise<void> {
  await deps.persistence.transaction(async (tx) => {
    const payout = await tx.payouts.lock(started.payout.id);
    await tx.payouts.setAttemptOutcome(started.payout.id, started.attemptNo, 'rejected', null, `not sent: ${detail}`);
    if (payout?.state === 'submitting') await tx.payouts.move([payout.id], 'submitting', 'queued', `worker: not sent (${detail})`);
    return ok(undefined);
  });
}

/** A failed payout's reason code: "<Tuma failure reason>:<provider code>", e.g. "insufficient_float:mpesa:1". */
const reasonCodeOf = (outcome: Extract<ProviderOutcome, { kind: 'failed' }>) => `${outcome.reason}:${outcome.providerCode}`.slice(0, reasonCodeMax);

async function recordOutcome(deps: ExecutePayoutDeps, started: Started, outcome: ProviderOutcome): Promise<void> {
  const { payout, attemptNo } = started;
  const syncResult = (result: 'paid' | 'failed', reasonCode: string | null, providerReference: string | null) => ({
    id: deriveId('result', payout.id, String(attemptNo), 'sync'),
    payoutId: payout.id,
    batchId: payout.batchId,
    outcome: result,
    reasonCode,
    providerReference,
    source: 'sync' as const,
  });
  await deps.persistence.transaction(async (tx) => {
    const current = await tx.payouts.lock(payout.id);
    if (!current) throw new Error(`invariant violated: payout ${payout.id} vanished`);
    switch (outcome.kind) {
      case 'pending':
        await tx.payouts.setAttemptOutcome(payout.id, attemptNo, 'accepted', outcome.providerReference, null);
        // The callback may have settled it already: then there is nothing to move.
        if (current.state === 'submitting') {
          await tx.payouts.move([payout.id], 'submitting', 'submitted', 'provider accepted', { providerReference: outcome.providerReference });
        }
        break;
      case 'paid':
        // A provider that answers with the final result at once (Airtel): settled through the results path.
        await tx.payouts.setAttemptOutcome(payout.id, attemptNo, 'accepted', outcome.providerReference, null);
        await tx.results.insert(syncResult('paid', null, outcome.providerReference));
        break;
      case 'failed':
        await tx.payouts.setAttemptOutcome(payout.id, attemptNo, 'rejected', null, reasonCodeOf(outcome));
        await tx.results.insert(syncResult('failed', reasonCodeOf(outcome), null));
        break;
      case 'unknown':
        await tx.payouts.setAttemptOutcome(payout.id, attemptNo, 'ambiguous', null, outcome.detail.slice(0, 500));
        if (current.state === 'submitting') await tx.payouts.move([payout.id], 'submitting', 'unknown', `ambiguous: ${outcome.detail.slice(0, 200)}`);
        break;
    }
    return ok(undefined);
  });
}

// A provider callback: authenticated by the attempt's unguessable token in its URL (M-Pesa signs
// nothing), stored raw and once, and turned into a result in the results outbox in the same
// transaction. The HTTP answer goes out as soon as that commits.
import { reject, type Rejection } from '../domain/errors.js';
import { deriveId } from '../domain/ids.js';
import type { ProviderOutcome } from '../domain/provider-outcome.js';
import { err, ok, type Result } from '../domain/result.js';
import { callbackTokenHash, callbackTokenPattern } from './callback-token.js';
import { reasonCodeMax } from './messages.js';
import type { BeneficiaryVault, Persistence, ResultOutcome } from './ports.js';

/** What a provider adapter reads out of a callback body. */
export interface ParsedCallback {
  /** Equal for every delivery of the same provider message. */
  readonly dedupeKey: string;
  /** The idempotency key the provider echoes (M-Pesa OriginatorConversationID), if any. */
  readonly idempotencyKey: string | null;
  readonly outcome: ResultOutcome;
  readonly reasonCode: string | null;
  readonly providerReference: string | null;
}

/**
 * A provider callback's outcome, as stored: paid and failed are final; pending and unknown are
 * recorded as ambiguous (the payout stays unresolved until a final answer). A failure's reason
 * code reads "<Tuma failure reason>:<provider code>".
 */
export function parsedCallbackOf(dedupeKey: string, idempotencyKey: string | null, outcome: ProviderOutcome): ParsedCallback {
  return {
    dedupeKey,
    idempotencyKey,
    outcome: outcome.kind === 'paid' ? 'paid' : outcome.kind === 'failed' ? 'failed' : 'ambiguous',
    reasonCode: outcome.kind === 'failed' ? `${outcome.reason}:${outcome.providerCode}` : outcome.kind === 'unknown' ? outcome.providerCode : null,
    providerReference: outcome.kind === 'paid' || outcome.kind === 'pending' ? outcome.providerReference : null,
  };
}

export interface RecordCallbackOutput {
  readonly duplicate: boolean;
  readonly orphan: boolean;
}

export async function recordCallback(
  deps: { persistence: Persistence; vault: BeneficiaryVault },
  provider: string,
  token: string,
  rawBody: Buffer,
  parse: (raw: Buffer) => ParsedCallback | null,
): Promise<Result<RecordCallbackOutput, Rejection>> {
  const { persistence } = deps;
  if (!callbackTokenPattern.test(token)) return err(reject('CALLBACK_UNAUTHENTICATED'));
  const attempt = await persistence.read.payouts.findAttemptByToken(callbackTokenHash(token));
  if (!attempt) return err(reject('CALLBACK_UNAUTHENTICATED'));
  const parsed = parse(rawBody);
  if (!parsed) return err(reject('CALLBACK_MALFORMED'));
  // Authentic token but a message about another transaction: keep it for finance, move nothing.
  const orphan = parsed.idempotencyKey !== null && parsed.idempotencyKey !== attempt.idempotencyKey;
  const payout = await persistence.read.payouts.find(attempt.payoutId);
  if (!payout) throw new Error(`invariant violated: attempt without payout ${attempt.payoutId}`);

  // Callbacks name the receiver (Daraja: ReceiverPartyPublicName): sealed like every beneficiary field.
  const sealed = await deps.vault.seal(payout.programmeId, `${provider}:${parsed.dedupeKey}`, 'callback_body', rawBody);
  return persistence.transaction(async (tx) => {
    const fresh = await tx.callbacks.insert(provider, parsed.dedupeKey, orphan ? null : payout.id, sealed);
    if (!fresh || orphan) return ok({ duplicate: !fresh, orphan });
    await tx.results.insert({
      id: deriveId('result', provider, parsed.dedupeKey),
      payoutId: payout.id,
      batchId: payout.batchId,
      outcome: parsed.outcome,
      reasonCode: parsed.reasonCode?.slice(0, reasonCodeMax) ?? null,
      providerReference: parsed.providerReference,
      source: 'callback',
    });
    return ok({ duplicate: false, orphan: false });
  });
}

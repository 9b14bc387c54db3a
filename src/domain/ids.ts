// Deterministic identifiers: the same business fact always gets the same id, so every replay
// of a step lands on the row the first run wrote (idempotency by construction).
import { parse as parseUuid, v5 as uuidv5 } from 'uuid';

/** Tuma's UUIDv5 namespace (a fixed random UUID; never change it: ids derived from it are stored). */
const tumaNamespace = '6f1d7c2e-8a3b-4c5d-9e0f-1a2b3c4d5e6f';
/** Parsed once: a 100,000-payout batch derives 100,000 ids. */
const tumaNamespaceBytes = parseUuid(tumaNamespace);

export const deriveId = (...parts: readonly string[]): string => uuidv5(parts.join('\u001f'), tumaNamespaceBytes);

/** The provider idempotency key of one attempt: a resend of the same attempt reuses it. */
export const attemptKey = (payoutId: string, attemptNo: number): string => deriveId('payout-attempt', payoutId, String(attemptNo));

/** A payout id unique per batch row: replaying a batch never makes new payouts. */
export const payoutIdOf = (batchId: string, ref: string): string => deriveId('payout', batchId, ref);

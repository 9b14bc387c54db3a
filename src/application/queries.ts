// Reads for the API. No beneficiary data leaves through these: phone numbers and names stay sealed.
import { formatAmount } from '../domain/money.js';
import type { Persistence } from './ports.js';
import { summarise, type BatchSummary } from './submit-batch.js';

export interface BatchView extends BatchSummary {
  readonly programmeId: string;
  readonly receivedAt: string;
  readonly payouts: Record<string, { readonly count: number; readonly amount: string }>;
}

export async function getBatch(persistence: Persistence, batchId: string): Promise<BatchView | null> {
  const batch = await persistence.read.batches.find(batchId);
  if (!batch) return null;
  const counts = await persistence.read.batches.payoutCounts(batchId);
  return {
    ...summarise(batch),
    programmeId: batch.programmeId,
    receivedAt: batch.receivedAt.toISOString(),
    payouts: Object.fromEntries(counts.map((c) => [c.state, { count: c.count, amount: formatAmount(c.amountMinor, batch.currency) }])),
  };
}

export interface PayoutView {
  readonly payoutId: string;
  readonly batchId: string;
  readonly ref: string;
  readonly provider: string;
  readonly state: string;
  readonly amount: string;
  readonly currency: string;
  readonly attempts: number;
  readonly providerReference: string | null;
  readonly failureCode: string | null;
  readonly updatedAt: string;
}

export async function getPayout(persistence: Persistence, payoutId: string): Promise<PayoutView | null> {
  const p = await persistence.read.payouts.find(payoutId);
  if (!p) return null;
  return {
    payoutId: p.id,
    batchId: p.batchId,
    ref: p.ref,
    provider: p.provider,
    state: p.state,
    amount: formatAmount(p.amountMinor, p.currency),
    currency: p.currency,
    attempts: p.attemptCount,
    providerReference: p.providerReference,
    failureCode: p.failureCode,
    updatedAt: p.updatedAt.toISOString(),
  };
}

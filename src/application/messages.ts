// Kafka message contracts (JSON Schemas in contracts/messages/). Versioned; no beneficiary data:
// a dispatch message names the payout and the worker reads the sealed fields from the database.
import { z } from 'zod';
import { providerRules, type ProviderId } from '../domain/providers.js';

export const topicNames = (prefix: string) => ({
  dispatch: (provider: ProviderId) => `${prefix}tuma.payouts.dispatch.${provider}.v1`,
  results: `${prefix}tuma.payouts.results.v1`,
  dlq: `${prefix}tuma.payouts.dlq.v1`,
});
export type Topics = ReturnType<typeof topicNames>;

export const allTopics = (topics: Topics): string[] => [
  ...Object.keys(providerRules).map((p) => topics.dispatch(p as ProviderId)),
  topics.results,
  topics.dlq,
];

/** Reason codes travel in result messages; the contract bounds them. */
export const reasonCodeMax = 100;

const uuid = z.uuid();

export const dispatchMessageSchema = z.strictObject({
  type: z.literal('tuma.payout.dispatch'),
  version: z.literal(1),
  payoutId: uuid,
  batchId: uuid,
  provider: z.enum(Object.keys(providerRules) as [ProviderId, ...ProviderId[]]),
});
export type DispatchMessage = z.infer<typeof dispatchMessageSchema>;

export const resultMessageSchema = z.strictObject({
  type: z.literal('tuma.payout.result'),
  version: z.literal(1),
  resultId: uuid,
  payoutId: uuid,
  batchId: uuid,
  outcome: z.enum(['paid', 'failed', 'ambiguous', 'reversed', 'held']),
  reasonCode: z.string().max(reasonCodeMax).nullable(),
  providerReference: z.string().max(100).nullable(),
  source: z.enum(['sync', 'callback', 'status_query']),
  /** The attempt the result is about; absent in results published before it was added (never retried on). */
  attemptNo: z.number().int().min(1).max(1_000).optional(),
  /** The fee the provider reported for a paid payout, in minor units (a decimal string of digits). */
  feeMinor: z.string().regex(/^[1-9][0-9]{0,18}$/).optional(),
  /** A held result: what the provider reported that differs from the payout (never a number or a name). */
  differences: z
    .array(z.strictObject({ kind: z.enum(['amount_mismatch', 'currency_mismatch', 'receiver_mismatch', 'receipt_reused']), detail: z.string().min(1).max(500) }))
    .min(1)
    .max(8)
    .optional(),
});
export type ResultMessage = z.infer<typeof resultMessageSchema>;

export const dlqMessageSchema = z.strictObject({
  type: z.literal('tuma.dlq'),
  version: z.literal(1),
  sourceTopic: z.string(),
  reason: z.string().max(500),
  /** The poisoned message, base64: kept for operators, never parsed again automatically. */
  valueBase64: z.string(),
});

export const encode = (message: object): Buffer => Buffer.from(JSON.stringify(message));

/** Decodes a message body, or null when it is not valid JSON of the schema (a poisoned message). */
export function decode<T>(schema: z.ZodType<T>, value: Buffer): T | null {
  let json: unknown;
  try {
    json = JSON.parse(value.toString('utf8'));
  } catch {
    return null;
  }
  const parsed = schema.safeParse(json);
  return parsed.success ? parsed.data : null;
}

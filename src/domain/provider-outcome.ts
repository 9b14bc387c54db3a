// What a mobile-money provider said about a payout, in Tuma's words. Every provider adapter maps
// every documented status and error code of its provider to one of these (pure tables in
// src/adapters/providers/<provider>/mapping.ts), so that the engine never reads provider codes.
//
// The rule that keeps people from being paid twice: only a *confirmed* failure is `failed`.
// Timeouts, 5xx, connection resets, "duplicate request" answers and anything undocumented are
// `unknown`, resolved by a status query and never by a blind resend with a new key.

/** Why a payout failed, for the programme manager and finance; the provider's own code is kept beside it. */
export const failureReasons = [
  /** Our disbursement account at the provider lacks the money (float). */
  'insufficient_float',
  /** The number is not a wallet of this provider (unknown, invalid, not registered). */
  'payee_not_found',
  /** The wallet exists but may not receive this (blocked, wrong customer type, not allowed). */
  'payee_not_allowed',
  /** The recipient's balance or daily/monthly receive limit would be exceeded. */
  'payee_limit_exceeded',
  /** Our account's own transaction limit (daily, volume) would be exceeded. */
  'payer_limit_exceeded',
  'amount_below_minimum',
  'amount_above_maximum',
  /** An amount the provider does not accept (format, currency). */
  'amount_invalid',
  /** Our credentials or product setup do not allow the operation (initiator, permissions, environment). */
  'not_permitted',
  /** Our credentials were refused outright (security credential, PIN, keys). */
  'credentials_invalid',
  /** The request as sent can never succeed (a field the provider rejects). */
  'request_invalid',
  /** The provider let the transaction expire. */
  'expired',
  /** Declined, rejected or cancelled by the provider or the payee. */
  'declined',
  /** A final failure the provider gave no more specific reason for. */
  'provider_failure',
] as const;
export type FailureReason = (typeof failureReasons)[number];

/**
 * What a provider reports about a payment, each as it wrote it (null: not reported): checked
 * against the payout before a paid answer settles (issue #19 item 4); none is stored in clear.
 */
export interface ReportedFacts {
  /** The amount moved, as a plain decimal string ("50", "50.00"). */
  readonly amount: string | null;
  /** ISO 4217 code as reported. */
  readonly currency: string | null;
  /** The receiving number in international form, digits with or without a leading '+'; null when absent, masked or national. */
  readonly receiver: string | null;
  /** The provider's fee for this payment, a plain decimal string in the payout's currency. */
  readonly fee: string | null;
}

export type ProviderOutcome =
  /** The money reached the payee; `facts`, where the answer reports them, are checked against the payout. */
  | { readonly kind: 'paid'; readonly providerReference: string | null; readonly facts?: ReportedFacts }
  /** Confirmed: the money did not move and will not move for this request. */
  | { readonly kind: 'failed'; readonly reason: FailureReason; readonly providerCode: string }
  /** The provider has the request and has not finished it. */
  | { readonly kind: 'pending'; readonly providerReference: string | null }
  /** We do not know whether the money moved: ask the provider (status query), never resend with a new key. */
  | { readonly kind: 'unknown'; readonly providerCode: string | null; readonly detail: string }
  /**
   * The provider says it has no transaction under this key: nothing ran. The request never
   * arrived (or is not registered yet), so it may be sent again with the same key, never a new one.
   */
  | { readonly kind: 'absent'; readonly providerCode: string; readonly detail: string }
  /** The money reached the payee and the provider took it back later: it is in our float again. */
  | { readonly kind: 'reversed'; readonly providerReference: string | null; readonly providerCode: string };

export const paid = (providerReference: string | null = null, facts?: ReportedFacts): ProviderOutcome => (facts ? { kind: 'paid', providerReference, facts } : { kind: 'paid', providerReference });
export const failed = (reason: FailureReason, providerCode: string): ProviderOutcome => ({ kind: 'failed', reason, providerCode });
export const pending = (providerReference: string | null = null): ProviderOutcome => ({ kind: 'pending', providerReference });
export const unknown = (providerCode: string | null, detail: string): ProviderOutcome => ({ kind: 'unknown', providerCode, detail });
export const absent = (providerCode: string, detail: string): ProviderOutcome => ({ kind: 'absent', providerCode, detail });
export const reversed = (providerReference: string | null, providerCode: string): ProviderOutcome => ({ kind: 'reversed', providerReference, providerCode });

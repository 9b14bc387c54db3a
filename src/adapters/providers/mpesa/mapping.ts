// M-Pesa Daraja B2C v3: pure mapping between Tuma and the provider's JSON (no I/O here).
// Contract: shared/reference/provider-apis.md §1; full code tables arrive with issue #5.
import type { ParsedCallback } from '../../../application/record-callback.js';
import type { SubmitOutcome, SubmitRequest } from '../../../application/ports.js';
import { scaleOf } from '../../../domain/currency.js';

export interface B2CRequest {
  readonly OriginatorConversationID: string;
  readonly InitiatorName: string;
  readonly SecurityCredential: string;
  readonly CommandID: 'BusinessPayment';
  readonly Amount: string;
  readonly PartyA: string;
  readonly PartyB: string;
  readonly Remarks: string;
  readonly QueueTimeOutURL: string;
  readonly ResultURL: string;
  readonly Occassion: string;
}

export interface B2CCredentials {
  readonly shortcode: string;
  readonly initiatorName: string;
  readonly securityCredential: string;
}

/** Builds the B2C body. Remarks carry no beneficiary data; PartyB is the MSISDN without "+". */
export function toB2CRequest(req: SubmitRequest, credentials: B2CCredentials): B2CRequest {
  const unit = 10n ** BigInt(scaleOf(req.currency));
  if (req.amountMinor % unit !== 0n) throw new Error('invariant violated: M-Pesa amounts are whole units (validated at ingest)');
  return {
    OriginatorConversationID: req.idempotencyKey,
    InitiatorName: credentials.initiatorName,
    SecurityCredential: credentials.securityCredential,
    CommandID: 'BusinessPayment',
    Amount: (req.amountMinor / unit).toString(),
    PartyA: credentials.shortcode,
    PartyB: req.msisdn.replace(/^\+/, ''),
    Remarks: 'Tuma payout',
    QueueTimeOutURL: `${req.callbackUrl}/timeout`,
    ResultURL: req.callbackUrl,
    Occassion: req.payoutId.slice(0, 36),
  };
}

/** Gateway error codes meaning the request never ran and never will as sent. */
const definitiveRejections = new Set(['400.002.02', '400.002.05', '404.002.01', '404.001.04', '405.001', '400.008.01', '400.008.02']);

/** Maps the synchronous HTTP answer of a B2C request. Anything not clearly final is ambiguous. */
export function mapB2CResponse(status: number, body: unknown): SubmitOutcome {
  const b = (body && typeof body === 'object' ? body : {}) as Record<string, unknown>;
  if (status === 200 && String(b.ResponseCode) === '0') {
    return { kind: 'accepted', conversationId: typeof b.ConversationID === 'string' ? b.ConversationID : null };
  }
  const code = typeof b.errorCode === 'string' ? b.errorCode : undefined;
  if (code && definitiveRejections.has(code)) return { kind: 'rejected', reasonCode: `mpesa:${code}` };
  if (status === 200 && b.ResponseCode !== undefined) return { kind: 'rejected', reasonCode: `mpesa:response:${String(b.ResponseCode)}` };
  // 500.002.1001 "Duplicate OriginatorConversationID" means the first request exists: ambiguous, never failed.
  return { kind: 'ambiguous', reason: `HTTP ${status}${code ? ` ${code}` : ''}` };
}

/** Result codes that are final failures: the money did not move. Everything else unknown is ambiguous. */
const failureCodes = new Set(['1', '2', '3', '4', '8', '11', '21', '2001', '2006', '2028', '2040', '8006', 'SFC_IC0003']);

/** Parses a ResultURL or QueueTimeOutURL callback body; null if it is not the Daraja shape. */
export function parseB2CCallback(raw: Buffer, kind: 'result' | 'timeout'): ParsedCallback | null {
  let body: unknown;
  try {
    body = JSON.parse(raw.toString('utf8'));
  } catch {
    return null;
  }
  if (kind === 'timeout') {
    // The queue-timeout body echoes the request (undocumented shape): "not processed", to be confirmed by status query.
    const key = body && typeof body === 'object' ? (body as Record<string, unknown>).OriginatorConversationID : undefined;
    if (typeof key !== 'string') return null;
    return { dedupeKey: `${key}:timeout`, idempotencyKey: key, outcome: 'ambiguous', reasonCode: 'mpesa:queue_timeout', providerReference: null };
  }
  const result = body && typeof body === 'object' ? (body as { Result?: unknown }).Result : undefined;
  if (!result || typeof result !== 'object') return null;
  const r = result as Record<string, unknown>;
  const key = r.OriginatorConversationID;
  const code = r.ResultCode;
  if (typeof key !== 'string' || (typeof code !== 'number' && typeof code !== 'string')) return null;
  const resultCode = String(code);
  const receipt = typeof r.TransactionID === 'string' && r.TransactionID.length > 0 ? r.TransactionID : null;
  const outcome = resultCode === '0' ? 'paid' : failureCodes.has(resultCode) ? 'failed' : 'ambiguous';
  return {
    dedupeKey: `${key}:${resultCode}`,
    idempotencyKey: key,
    outcome,
    reasonCode: resultCode === '0' ? null : `mpesa:${resultCode}`,
    providerReference: receipt,
  };
}

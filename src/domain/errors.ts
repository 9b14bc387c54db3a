// The one catalogue of stable error codes. contracts/error-codes.json documents each; a test keeps
// the two in step. Codes never change meaning once released; new failures get new codes.

export const errorCodes = {
  // Requests
  REQUEST_MALFORMED: { status: 400, message: 'The request body is not well-formed.' },
  REQUEST_TOO_LARGE: { status: 413, message: 'The request body is larger than allowed.' },
  REQUEST_UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'The request content type is not supported.' },
  NOT_FOUND: { status: 404, message: 'No such resource.' },
  INTERNAL: { status: 500, message: 'Internal error; nothing was changed that is not reported.' },
  SERVICE_UNAVAILABLE: { status: 503, message: 'A dependency is not reachable.' },
  // Callers
  AUTH_UNAUTHENTICATED: { status: 401, message: 'A valid bearer token is required.' },
  AUTH_FORBIDDEN: { status: 403, message: 'The caller may not do this.' },
  IDEMPOTENCY_KEY_INVALID: { status: 400, message: 'An Idempotency-Key header of 1-128 characters [A-Za-z0-9._:-] is required.' },
  QUERY_INVALID: { status: 400, message: 'A query parameter is invalid.' },
  // Signatures (JWS)
  JWS_MALFORMED: { status: 400, message: 'The JWS is not a JSON-serialized JWS (RFC 7515 §7.2).' },
  JWS_ALG_NOT_ALLOWED: { status: 400, message: 'The JWS algorithm is not allowed (ES256, EdDSA, PS256 only).' },
  JWS_KEY_UNKNOWN: { status: 401, message: 'The signing key (kid) is not registered.' },
  JWS_KEY_NOT_VALID: { status: 401, message: 'The signing key is revoked, expired or not yet valid.' },
  JWS_KEY_WRONG_ORGANISATION: { status: 403, message: 'The signing key belongs to another organisation.' },
  JWS_KEY_WRONG_ROLE: { status: 403, message: 'The signing key may not be used in this role.' },
  JWS_SIGNATURE_INVALID: { status: 401, message: 'The signature does not verify over the payload.' },
  JWS_KEY_REUSED: { status: 400, message: 'The same key signs the batch more than once.' },
  JWS_KEY_NOT_CALLERS: { status: 403, message: 'The signing key is registered to another person than the caller.' },
  // Signer keys and programme policy (administrators)
  SIGNER_KEY_INVALID: { status: 422, message: 'The signer key registration is invalid; see detail.' },
  SIGNER_KEY_EXISTS: { status: 409, message: 'This public key is registered already, with other attributes.' },
  POLICY_INVALID: { status: 422, message: 'The programme policy is invalid; see detail.' },
  // Batches
  BATCH_INVALID: { status: 422, message: 'The batch document is invalid; see errors.' },
  BATCH_EXPIRED: { status: 422, message: 'The batch is past its expiresAt.' },
  BATCH_NOT_YET_VALID: { status: 422, message: 'The batch createdAt is in the future beyond the allowed skew.' },
  BATCH_TOO_LARGE: { status: 413, message: 'The batch has more payouts than allowed.' },
  BATCH_CONFLICT: { status: 409, message: 'A different batch with this batchId exists.' },
  BATCH_NOT_AWAITING_APPROVAL: { status: 409, message: 'The batch is not awaiting approval.' },
  BATCH_NOT_CANCELLABLE: { status: 409, message: 'The batch has nothing left that can be cancelled.' },
  APPROVAL_DUPLICATE: { status: 409, message: 'This key or this approver has approved the batch already.' },
  APPROVAL_BY_MAKER: { status: 403, message: 'The maker of a batch cannot approve it.' },
  REJECTION_BY_MAKER: { status: 403, message: 'The maker of a batch cannot reject it.' },
  REJECTION_DUPLICATE: { status: 409, message: 'This key or this approver has decided on the batch already.' },
  REJECTION_REASON_INVALID: { status: 400, message: 'A rejection needs a reason of 1 to 500 characters, without control characters.' },
  PROGRAMME_NOT_FOUND: { status: 422, message: 'The programme does not exist in this organisation.' },
  PROGRAMME_CURRENCY_MISMATCH: { status: 422, message: 'The batch currency is not the programme currency.' },
  // Ledger
  LEDGER_INSUFFICIENT_FUNDS: { status: 422, message: 'The account does not have enough funds.' },
  LEDGER_TRANSFER_CONFLICT: { status: 409, message: 'A transfer with this id exists with other fields.' },
  FUNDING_INVALID: { status: 422, message: 'The funding is invalid; see detail.' },
  LEDGER_ACCOUNT_CLOSED: { status: 422, message: 'A ledger account of the transfer is closed.' },
  LEDGER_TOTAL_OUT_OF_RANGE: { status: 422, message: "An account's posted total would pass the largest amount Tuma stores." },
  LEDGER_ACCOUNT_NOT_FOUND: { status: 422, message: 'A ledger account of the transfer does not exist.' },
  // Callbacks
  CALLBACK_UNAUTHENTICATED: { status: 401, message: 'The callback could not be authenticated.' },
  CALLBACK_MALFORMED: { status: 400, message: 'The callback body is not in the provider format.' },
  RATE_LIMITED: { status: 429, message: 'Too many requests from this source; try again later.' },
  // Held payouts (finance)
  PAYOUT_NOT_HELD: { status: 409, message: 'The payout is not held for a decision.' },
  PAYOUT_NOT_REQUEUEABLE: { status: 409, message: 'The payout cannot be requeued in its state; see detail.' },
  DECISION_INVALID: { status: 422, message: 'The decision is invalid; see detail.' },
  // Provider statements (finance)
  STATEMENT_REQUEST_INVALID: { status: 400, message: 'The import request is invalid; see detail.' },
  STATEMENT_FORMAT_UNKNOWN: { status: 422, message: 'No such statement format.' },
  STATEMENT_TOO_LARGE: { status: 413, message: 'The statement file is larger than allowed.' },
  STATEMENT_HEADER_INVALID: { status: 422, message: "The statement header block is not the format's; see detail." },
  STATEMENT_PERIOD_MISMATCH: { status: 422, message: 'The statement covers another period than the one given.' },
  STATEMENT_PERIOD_OVERLAP: { status: 409, message: 'Another statement of this account covers part of this period.' },
  STATEMENT_CURRENCY_MISMATCH: { status: 422, message: 'The statement is in another currency than the provider account.' },
  STATEMENT_FILE_INVALID: { status: 422, message: 'The file is not a valid file of the format; see detail.' },
  STATEMENT_ACCOUNT_MISMATCH: { status: 422, message: 'The statement is of another provider account than the one given.' },
  STATEMENT_PULL_FAILED: { status: 502, message: "The provider's statement could not be pulled; see detail." },
  ERASURE_REQUEST_INVALID: { status: 422, message: 'The erasure request is invalid; see detail.' },
  ERASURE_ALREADY_REQUESTED: { status: 409, message: 'Another erasure request of this programme awaits confirmation.' },
  ERASURE_NOT_REQUESTED: { status: 409, message: 'No erasure request of this programme awaits confirmation.' },
  ERASURE_CONFIRMER_IS_REQUESTER: { status: 403, message: 'A second admin confirms an erasure, not the admin who asked for it.' },
  PROGRAMME_BUSY: { status: 409, message: "The programme still needs its beneficiaries' data; see detail." },
  PROGRAMME_ERASED: { status: 409, message: "The programme's beneficiary data is erased." },
  RETENTION_INVALID: { status: 422, message: 'The retention period is invalid; see detail.' },
  BREAKER_REQUEST_INVALID: { status: 422, message: "The change of a provider account's breaker is invalid; see detail." },
  RECONCILIATION_DECISION_INVALID: { status: 422, message: 'The decision is not one this exception can take; see detail.' },
  RECONCILIATION_ALREADY_DECIDED: { status: 409, message: 'This exception already has a decision, awaiting approval or applied.' },
  RECONCILIATION_DECISION_NOT_AWAITING: { status: 409, message: 'The decision is not awaiting approval.' },
  RECONCILIATION_CHECKER_IS_MAKER: { status: 403, message: 'A second finance user approves or rejects a decision, not its maker.' },
  STATEMENT_LINES_INVALID: { status: 422, message: 'Lines of the statement are invalid; see lines. Nothing was stored.' },
} as const;

export type ErrorCode = keyof typeof errorCodes;

/** Per-row and per-field problems of a batch document. */
export const rowErrorCodes = {
  FIELD_MISSING: 'A required field is missing.',
  FIELD_INVALID: 'A field has the wrong type or format.',
  FIELD_UNKNOWN: 'A field is not part of the format.',
  AMOUNT_NOT_STRING: 'Amounts are decimal strings; a JSON number is refused.',
  AMOUNT_INVALID: 'The amount is not a positive decimal string.',
  AMOUNT_SCALE: 'The amount has more decimals than the currency allows.',
  AMOUNT_RANGE: 'The amount is out of range.',
  AMOUNT_PROVIDER_SCALE: 'The provider pays whole units of this currency only.',
  CURRENCY_UNKNOWN: 'The currency is not an ISO 4217 code Tuma knows.',
  MSISDN_INVALID: 'The phone number is not a valid E.164 number.',
  MSISDN_COUNTRY: "The phone number is not in a country the provider's accounts serve.",
  PROVIDER_UNKNOWN: 'The provider is not known.',
  PROVIDER_CURRENCY: 'The provider does not pay in this currency.',
  REF_DUPLICATE: 'The payout ref appears more than once.',
  PROVIDER_NOT_ENABLED: 'The provider is not enabled for the programme.',
  PROVIDER_NOT_CONFIGURED: 'No account of the provider serves the programme in this currency.',
  AMOUNT_BELOW_MINIMUM: "The amount is below the provider's or the account's per-transaction minimum.",
  AMOUNT_ABOVE_MAXIMUM: "The amount is above the programme's, the provider's or the account's per-payout maximum.",
  BENEFICIARY_DUPLICATE: 'The same beneficiary is paid the same amount more than once in the batch.',
  REPAY_DUPLICATE: 'Two rows of the batch pay the same payout again.',
  REPAY_REQUEST_INVALID: "The payout named in repays has no open re-pay request of this programme, or this row's amount or number is not that payout's.",
  DECLARED_COUNT_MISMATCH: 'declared.count differs from the number of payouts.',
  DECLARED_TOTAL_MISMATCH: 'declared.total differs from the sum of the payouts.',
  DATES_INVALID: 'expiresAt must be after createdAt.',
} as const;

export type RowErrorCode = keyof typeof rowErrorCodes;

export interface RowError {
  /** 0-based index into payouts, or null for a document-level problem. */
  readonly row: number | null;
  readonly field: string;
  readonly code: RowErrorCode;
}

/** An expected rejection: a stable code, optional details safe to show the caller. */
export interface Rejection {
  readonly code: ErrorCode;
  readonly detail?: string;
  readonly errors?: readonly RowError[];
  /** A statement's bad lines (line, column, problem; never a cell's content), the first of `badLines`. */
  readonly lines?: readonly { readonly line: number; readonly column: string; readonly problem: string }[];
  readonly badLines?: number;
}

export const reject = (code: ErrorCode, detail?: string, errors?: readonly RowError[]): Rejection =>
  errors ? { code, detail, errors } : detail ? { code, detail } : { code };

// Kysely's view of the schema in migrations/. bigint columns arrive as bigint (see pool.ts).
import type { ColumnType, Generated, Insertable, Kysely, Selectable, Transaction } from 'kysely';

type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type NullableTimestamp = ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
type Json<T> = ColumnType<T, string, string>;
type JsonDefault<T> = ColumnType<T, string | undefined, string>;

export interface OrganisationsTable { id: string; name: string; created_at: Generated<Date> }
export interface LedgersTable { currency: string; scale: number }
export interface ProgrammesTable {
  id: string;
  organisation_id: string;
  name: string;
  currency: string;
  approvals_required: Generated<number>;
  approval_tiers: JsonDefault<{ fromMinor: string; approvers: number }[]>;
  providers: ColumnType<string[], string[] | undefined, string[]>;
  payout_max_minor: bigint | null;
  row_errors: ColumnType<'reject_batch' | 'accept_valid_rows', 'reject_batch' | 'accept_valid_rows' | undefined, 'reject_batch' | 'accept_valid_rows'>;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
  /** Migration 0018: the days its beneficiary data is kept after its last batch activity, and when it was erased. */
  retention_days: number | null;
  erased_at: Date | null;
}
export interface DataKeysTable { programme_id: string; wrapped_key: Buffer; created_at: Generated<Date>; master_key_id: string | null; rewrapped_at: Date | null }
export interface SignerKeysTable {
  kid: string;
  organisation_id: string;
  role: 'maker' | 'approver';
  alg: 'ES256' | 'EdDSA' | 'PS256';
  public_jwk: Json<Record<string, unknown>>;
  not_before: Timestamp;
  not_after: Timestamp | null;
  revoked_at: Timestamp | null;
  created_at: Generated<Date>;
  holder: string | null;
  created_by: string | null;
  revoked_by: string | null;
}
export interface AccountsTable {
  id: Generated<bigint>;
  currency: string;
  key: string;
  debits_posted: Generated<bigint>;
  credits_posted: Generated<bigint>;
  debits_must_not_exceed_credits: boolean;
  credits_must_not_exceed_debits: boolean;
  closed: Generated<boolean>;
  organisation_id: string | null;
  created_at: Generated<Date>;
}
export interface TransfersTable {
  id: string;
  seq: Generated<bigint>;
  journal_id: string;
  currency: string;
  debit_account_id: bigint;
  credit_account_id: bigint;
  amount: bigint;
  code: string;
  batch_id: string | null;
  payout_id: string | null;
  reference: string | null;
  debit_debits_after: bigint | null;
  debit_credits_after: bigint | null;
  credit_debits_after: bigint | null;
  credit_credits_after: bigint | null;
  created_at: Generated<Date>;
}
export interface TransferLinksTable { seq: bigint; prev_seq: bigint | null; hash: Buffer; chained_at: Generated<Date> }
export interface LedgerChainTable {
  id: Generated<boolean>;
  head_seq: bigint | null;
  head_hash: Buffer | null;
  candidate_seq: bigint | null;
  candidate_xmax: string | null;
  updated_at: Generated<Date>;
}
export interface BatchesTable {
  id: string;
  organisation_id: string;
  programme_id: string;
  currency: string;
  state: string;
  payout_count: number;
  total_minor: bigint;
  payload_enc: Buffer;
  payload_sha256: Buffer;
  signatures: Json<unknown[]>;
  maker_kid: string;
  document_created_at: Timestamp;
  expires_at: Timestamp;
  received_at: Generated<Date>;
  updated_at: Generated<Date>;
  approvals_required: Generated<number>;
  submitted_by: string | null;
  rejected_rows: JsonDefault<{ row: number | null; field: string; code: string }[]>;
  cancelled_by: string | null;
  cancel_reason: string | null;
  approved_at: Timestamp | null;
}
export interface BatchApprovalsTable {
  batch_id: string;
  kid: string;
  protected: string;
  signature: string;
  approved_by: string | null;
  approved_at: Generated<Date>;
}
export interface PayoutsTable {
  id: string;
  batch_id: string;
  row_no: number;
  ref: string;
  provider: string;
  currency: string;
  amount_minor: bigint;
  msisdn_enc: Buffer;
  msisdn_hash: Buffer;
  name_enc: Buffer | null;
  state: string;
  attempt_count: Generated<number>;
  provider_reference: string | null;
  failure_code: string | null;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
  /** When the status poller next asks the provider about it (submitted and unknown payouts). */
  status_check_at: NullableTimestamp;
  /** Status queries sent for the current attempt. */
  status_checks: Generated<number>;
  /** When the poller gave up after its last check and flagged it for operators. */
  status_flagged_at: NullableTimestamp;
  /** A queued payout waiting for its next attempt after a confirmed, retryable failure: when the relay publishes it. */
  dispatch_at: NullableTimestamp;
}
export interface PayoutTransitionsTable {
  id: Generated<bigint>;
  payout_id: string;
  from_state: string | null;
  to_state: string;
  cause: string;
  at: Generated<Date>;
}
export interface PayoutAttemptsTable {
  payout_id: string;
  attempt_no: number;
  idempotency_key: string;
  callback_token_sha256: Buffer;
  account_id: string;
  outcome: Generated<'pending' | 'accepted' | 'rejected' | 'ambiguous'>;
  provider_conversation_id: string | null;
  detail: string | null;
  /** The failure a callback reported over a channel that cannot confirm one, kept until a status answer does. */
  reported_failure: string | null;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}
/** A status query's callback token (its SHA-256), for the attempt it asks about. */
export interface PayoutStatusTokensTable {
  token_sha256: Buffer;
  payout_id: string;
  attempt_no: number;
  created_at: Generated<Date>;
  purpose: Generated<'status' | 'payment'>;
}
export interface CallbacksTable {
  id: Generated<bigint>;
  provider: string;
  /** The request it answers: its dedupe slot (see NewCallback.scope). */
  scope: string;
  authenticated: boolean;
  dedupe_key: string;
  payout_id: string | null;
  raw_body_enc: Buffer;
  received_at: Generated<Date>;
}
export interface PayoutResultsTable {
  id: string;
  payout_id: string;
  batch_id: string;
  outcome: 'paid' | 'failed' | 'ambiguous' | 'reversed' | 'held';
  reason_code: string | null;
  provider_reference: string | null;
  source: 'sync' | 'callback' | 'status_query';
  /** The attempt the result is about (null: stored before results named their attempt). */
  attempt_no: number | null;
  /** The fee the provider reported for a paid payout. */
  fee_minor: bigint | null;
  /** A held result: what differed (JSON: [{kind, detail}]). */
  detail: string | null;
  created_at: Generated<Date>;
  published_at: Timestamp | null;
}
/** Why a payout is held (append-only). */
export interface PayoutExceptionsTable {
  id: Generated<bigint>;
  payout_id: string;
  kind: string;
  detail: string;
  result_id: string;
  created_at: Generated<Date>;
}
/** Which payout each provider receipt settled, per provider account. */
export interface ProviderReceiptsTable {
  account_id: string;
  receipt: string;
  payout_id: string;
  created_at: Generated<Date>;
}

/** Privileged actions, hash-chained as written (append-only; migration 0012). */
export interface AuditEventsTable {
  seq: ColumnType<bigint, bigint, never>;
  at: ColumnType<Date, Date | string, never>;
  organisation_id: string;
  actor: string;
  request_id: string | null;
  action: string;
  object_type: string;
  object_id: string;
  detail: Json<Record<string, string>>;
  prev_hash: Buffer | null;
  hash: Buffer;
}

/** Provider statements and their reconciliation (migration 0013). */
export interface StatementsTable {
  id: string;
  account_id: string;
  currency: string;
  organisation_id: string;
  imported_by: string;
  format: string;
  format_version: number;
  period_from: Date;
  period_to: Date;
  sha256: Buffer;
  size_bytes: bigint;
  file_chunks: number;
  /** How each chunk's plaintext is encoded before it is sealed (migration 0028). */
  file_encoding: Generated<'identity' | 'deflate'>;
  opening_balance_minor: bigint;
  closing_balance_minor: bigint;
  lines_total: number;
  lines_imported: number;
  lines_refused: number;
  refused_lines: JsonDefault<{ line: number; column: string; problem: string }[]>;
  counts: JsonDefault<Record<string, { count: number; statementMinor: string; ledgerMinor: string }>>;
  imported_at: Generated<Date>;
}
export interface StatementFilesTable { statement_id: string; chunk_no: number; sealed: Buffer }
export interface StatementLinesTable {
  statement_id: string;
  line_no: number;
  account_id: string;
  provider_transaction_id: string;
  kind: 'payout' | 'charge' | 'reversal' | 'other';
  status: 'completed' | 'failed';
  completed_at: Date;
  paid_in_minor: bigint;
  withdrawn_minor: bigint;
  balance_minor: bigint | null;
  linked_transaction_id: string | null;
  our_reference: string | null;
  duplicate: boolean;
  matched_by_our_reference: boolean;
}
export interface ReconciliationItemsTable {
  statement_id: string;
  line_no: number | null;
  payout_id: string | null;
  class: string;
  statement_minor: bigint | null;
  ledger_minor: bigint | null;
}

export interface Database {
  organisations: OrganisationsTable;
  ledgers: LedgersTable;
  programmes: ProgrammesTable;
  data_keys: DataKeysTable;
  signer_keys: SignerKeysTable;
  accounts: AccountsTable;
  transfers: TransfersTable;
  transfer_links: TransferLinksTable;
  ledger_chain: LedgerChainTable;
  batches: BatchesTable;
  batch_approvals: BatchApprovalsTable;
  payouts: PayoutsTable;
  payout_transitions: PayoutTransitionsTable;
  payout_attempts: PayoutAttemptsTable;
  payout_status_tokens: PayoutStatusTokensTable;
  callbacks: CallbacksTable;
  payout_results: PayoutResultsTable;
  payout_exceptions: PayoutExceptionsTable;
  provider_receipts: ProviderReceiptsTable;
  audit_events: AuditEventsTable;
  statements: StatementsTable;
  statement_files: StatementFilesTable;
  statement_lines: StatementLinesTable;
  reconciliation_items: ReconciliationItemsTable;
}

export type Db = Kysely<Database>;
/** A function taking Tx must run inside a transaction: the compiler refuses a plain Db. */
export type Tx = Transaction<Database>;
export type DbOrTx = Db | Tx;

export type PayoutRow = Selectable<PayoutsTable>;
export type NewPayout = Insertable<PayoutsTable>;
export type BatchRow = Selectable<BatchesTable>;
export type SignerKeyRow = Selectable<SignerKeysTable>;

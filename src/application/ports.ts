// What the use cases need from the outside world, as interfaces. adapters/ implements them;
// nothing in application/ imports an adapter.
import type { StoredAuditEvent } from '../domain/audit.js';
import type { BatchState, PayoutState } from '../domain/payout-state.js';
import type { CurrencyCode } from '../domain/currency.js';
import type { Rejection, RowError } from '../domain/errors.js';
import type { StoredTransfer, Totals } from '../domain/ledger.js';
import type { Journal } from '../domain/ledger-rules.js';
import type { ProgrammePolicy } from '../domain/programme-policy.js';
import type { ProviderOutcome } from '../domain/provider-outcome.js';
import type { ProviderId } from '../domain/providers.js';
import type { ReconciliationClass, StatementLineProblem, StatementRejection } from '../domain/reconciliation.js';
import type { DecisionAction } from '../domain/reconciliation-decision.js';
import type { Result } from '../domain/result.js';
import type { RunningBalanceOutcome } from '../domain/running-balance.js';
import type { StatementFormat } from '../domain/statement-formats.js';
import type { Writable } from 'node:stream';

// ---------- records ----------

export interface SignerKeyRecord {
  readonly kid: string;
  readonly organisationId: string;
  readonly role: 'maker' | 'approver';
  readonly alg: 'ES256' | 'EdDSA' | 'PS256';
  readonly publicJwk: Record<string, unknown>;
  readonly notBefore: Date;
  readonly notAfter: Date | null;
  readonly revokedAt: Date | null;
  /** The JWT subject who holds the private key; null for keys registered without one (dev seed, tests). */
  readonly holder: string | null;
  readonly createdAt?: Date;
}

export interface ProgrammeRecord {
  readonly id: string;
  readonly organisationId: string;
  readonly currency: CurrencyCode;
  /** The base tier (approvers needed from a total of 0); `policy.tiers[0]` says the same. */
  readonly approvalsRequired: number;
  readonly policy: ProgrammePolicy;
  /** When its beneficiary data was erased (its data key destroyed: application/erase-programme.ts); null or absent: not erased. */
  readonly erasedAt?: Date | null;
}

/** An approver's rejection of a batch awaiting approval: a detached signature over the stored bytes, with the reason. */
export interface RejectionRecord {
  readonly kid: string;
  readonly protected: string;
  readonly signature: string;
  readonly rejectedBy: string;
  readonly reason: string;
  readonly rejectedAt: Date;
}

export interface ApprovalRecord {
  readonly kid: string;
  readonly protected: string;
  readonly signature: string;
  /** The person who approved: who posted it, or a co-signing key's holder (null when the key names none). */
  readonly approvedBy: string | null;
  readonly approvedAt: Date;
}

export interface BatchRecord {
  readonly id: string;
  readonly organisationId: string;
  readonly programmeId: string;
  readonly currency: CurrencyCode;
  readonly state: BatchState;
  readonly payoutCount: number;
  readonly totalMinor: bigint;
  readonly payloadSha256: Buffer;
  readonly receivedAt: Date;
  readonly approvalsRequired: number;
  readonly makerKid: string;
  readonly submittedBy: string | null;
  readonly expiresAt: Date;
  readonly rejectedRows: readonly RowError[];
}

export interface PayoutRecord {
  readonly id: string;
  readonly rowNo?: number;
  readonly batchId: string;
  readonly programmeId: string;
  readonly organisationId: string;
  readonly ref: string;
  readonly provider: ProviderId;
  readonly currency: CurrencyCode;
  readonly amountMinor: bigint;
  /** The stored state ('approved' is never stored: see publicPayoutState). */
  readonly state: PayoutState;
  /** The state of the payout's batch, which decides whether an accepted payout is dispatchable. */
  readonly batchState: BatchState;
  readonly attemptCount: number;
  readonly providerReference: string | null;
  readonly failureCode: string | null;
  readonly updatedAt: Date;
  /** A queued payout waiting for its next attempt: when it is due (null: not waiting, or held for operators). */
  readonly dispatchAt: Date | null;
  /** When operators were asked to look at it (status checks or attempts ran out), or null. */
  readonly flaggedAt: Date | null;
}

/** A chunk of payouts ready to store: their plain columns, and their sealed beneficiary fields (row i ↔ ids[i]). */
export interface SealedPayoutChunk {
  readonly ids: readonly string[];
  readonly rows: readonly { readonly rowNo: number; readonly ref: string; readonly provider: ProviderId; readonly amountMinor: bigint }[];
  readonly sealed: SealedBeneficiaries;
}

export interface NewBatch {
  readonly id: string;
  readonly organisationId: string;
  readonly programmeId: string;
  readonly currency: CurrencyCode;
  readonly state: BatchState;
  readonly payoutCount: number;
  readonly totalMinor: bigint;
  /** The exact signed bytes, sealed: they contain phone numbers and names. */
  readonly payloadEnc: Buffer;
  readonly payloadSha256: Buffer;
  readonly signatures: readonly unknown[];
  readonly makerKid: string;
  readonly documentCreatedAt: Date;
  readonly expiresAt: Date;
  readonly approvalsRequired: number;
  readonly submittedBy: string;
  readonly rejectedRows: readonly RowError[];
}

/** What a callback bearing a token is about: the attempt the token was issued for, its payout, and the payout's blind-indexed number. */
export interface CallbackSubject {
  readonly attempt: AttemptRecord & { readonly tokenIssuedAt: Date; readonly purpose: TokenPurpose };
  readonly payout: PayoutRecord;
  readonly msisdnHash: Buffer;
}

/** What a callback token was issued for: a payment request's callbacks, or a status query's answer. */
export type TokenPurpose = 'payment' | 'status';

export interface AttemptRecord {
  readonly payoutId: string;
  readonly attemptNo: number;
  readonly idempotencyKey: string;
  /** The provider account the attempt was sent through: its status is asked of the same account. */
  readonly accountId: string;
}

/** A payout whose status check is due, claimed by the poller, with the attempt to ask about (its latest). */
export interface DueStatusCheck {
  readonly payoutId: string;
  readonly batchId: string;
  readonly provider: ProviderId;
  readonly currency: CurrencyCode;
  readonly state: PayoutState;
  readonly providerReference: string | null;
  /** Status queries already sent for the current attempt. */
  readonly checks: number;
  readonly attempt: AttemptRecord & { readonly conversationId: string | null; readonly reportedFailure?: string | null };
}

/** held: the provider reported something that disagrees with the payout; finance decides (issue #19 item 4). */
export type ResultOutcome = 'paid' | 'failed' | 'ambiguous' | 'reversed' | 'held';

/** Why a payout is held: one difference between what a provider reported and the payout. */
export type PayoutExceptionKind = 'amount_mismatch' | 'currency_mismatch' | 'receiver_mismatch' | 'receipt_reused';
export interface PayoutDifference {
  readonly kind: PayoutExceptionKind;
  /** In words finance can read; never a phone number or a name. */
  readonly detail: string;
}
export interface PayoutException extends PayoutDifference {
  readonly payoutId: string;
  readonly resultId: string;
  readonly createdAt?: Date;
}

export interface NewResult {
  readonly id: string;
  readonly payoutId: string;
  readonly batchId: string;
  readonly outcome: ResultOutcome;
  readonly reasonCode: string | null;
  readonly providerReference: string | null;
  readonly source: 'sync' | 'callback' | 'status_query';
  /** The attempt the result is about (null: unknown, as for results stored before they named it). */
  readonly attemptNo: number | null;
  /** The provider's fee for a paid payout, as it reported it (posted to its fees account). */
  readonly feeMinor?: bigint | null;
  /** A held result: what differed. */
  readonly differences?: readonly PayoutDifference[] | null;
}

export interface PayoutCounts {
  readonly state: PayoutState;
  readonly count: number;
  readonly amountMinor: bigint;
}

/** A batch's payouts of one provider in one state: how many, and their sum. */
export interface ProviderPayoutCounts extends PayoutCounts {
  readonly provider: string;
}

/** A batch as GET /v1/batches/{id} shows it (BatchRepo.view). */
export interface BatchViewRecord {
  readonly batch: BatchRecord;
  /** By provider and state, ordered so (one GROUP BY); null when not counted. */
  readonly counts: readonly ProviderPayoutCounts[] | null;
  readonly approvals: readonly { readonly kid: string; readonly approvedAt: Date }[];
}

/** A payout as GET /v1/payouts/{id} shows it (PayoutRepo.findView). */
export interface PayoutViewRecord {
  readonly payout: PayoutRecord;
  readonly exceptions: readonly PayoutException[];
  readonly erased: boolean;
}

// ---------- persistence ----------

export interface AccountRecord {
  readonly id: bigint;
  readonly currency: CurrencyCode;
  readonly key: string;
  readonly organisationId: string | null;
  readonly debitsPosted: bigint;
  readonly creditsPosted: bigint;
  readonly debitsMustNotExceedCredits: boolean;
  readonly creditsMustNotExceedDebits: boolean;
  readonly closed: boolean;
  readonly createdAt: Date;
}

export interface TransferRecord {
  readonly id: string;
  readonly seq: bigint;
  readonly journalId: string;
  readonly currency: CurrencyCode;
  readonly debitAccountId: bigint;
  readonly debitKey: string;
  readonly creditAccountId: bigint;
  readonly creditKey: string;
  readonly amountMinor: bigint;
  readonly code: string;
  readonly batchId: string | null;
  readonly payoutId: string | null;
  readonly reference: string | null;
  readonly debitAfter: Totals | null;
  readonly creditAfter: Totals | null;
  readonly createdAt: Date;
}

export interface TrialBalanceRow {
  /** The account class: the key's first segment (funding, programme, batch, provider). */
  readonly kind: string;
  readonly accounts: number;
  readonly debitsPosted: bigint;
  readonly creditsPosted: bigint;
}

export interface LedgerRepo {
  /**
   * Posts the journal atomically (all or none) and idempotently by transfer id: a replay with the
   * same fields is 'replayed' and writes nothing; the same id with other fields is a conflict.
   */
  postJournal(journal: Journal): Promise<Result<'posted' | 'replayed', Rejection>>;
  findAccount(currency: CurrencyCode, key: string): Promise<AccountRecord | null>;
  /** Accounts of an organisation in key order, after `afterKey`. */
  listAccounts(currency: CurrencyCode, organisationId: string, afterKey: string | null, limit: number): Promise<AccountRecord[]>;
  /** The account's transfers in posting order, after `afterSeq`. */
  statement(accountId: bigint, afterSeq: bigint | null, limit: number): Promise<TransferRecord[]>;
  journal(journalId: string): Promise<TransferRecord[]>;
  /** Posted totals per account class, for one organisation's accounts in one currency. */
  trialBalance(currency: CurrencyCode, organisationId: string): Promise<TrialBalanceRow[]>;
}

/** A link of the hash chain as stored. */
export interface ChainLink {
  readonly seq: bigint;
  readonly prevSeq: bigint | null;
  readonly hash: Buffer;
}

export interface ChainHead {
  readonly seq: bigint | null;
  readonly hash: Buffer | null;
}

export interface LedgerChainRepo {
  /**
   * Locks the chain (one chainer at a time) and tells how far it may safely go: up to the
   * candidate seq once every transaction that could still insert at or below it has ended.
   */
  claim(): Promise<{ head: ChainHead; safeUpTo: bigint | null }>;
  /** Transfers after `afterSeq` up to `upTo`, in seq order. */
  transfersAfter(afterSeq: bigint | null, upTo: bigint, limit: number): Promise<StoredTransfer[]>;
  append(links: readonly ChainLink[]): Promise<void>;
  /** Records the new head, and a new candidate horizon when `renewCandidate`. */
  advance(head: ChainHead, renewCandidate: boolean): Promise<void>;
}

/** Everything `ledger verify` reads, inside one consistent snapshot. */
export interface LedgerAuditRepo {
  ledgers(): Promise<{ currency: string; scale: number }[]>;
  accounts(): Promise<AccountRecord[]>;
  /** Transfers after `afterSeq` in seq order, each with its chain link if it has one. */
  transfersWithLinks(afterSeq: bigint | null, limit: number): Promise<(StoredTransfer & { link: ChainLink | null })[]>;
  chainHead(): Promise<ChainHead>;
  /** How many chain links are stored (verify compares it with the transfers it found linked). */
  linkCount(): Promise<bigint>;
  /** The database guards (append-only and account triggers) and whether each is enabled. */
  guards(): Promise<{ table: string; name: string; enabled: boolean }[]>;
}

/** The audit log's storage: append-only, each event chained as it is written (application/audit.ts). */
export interface AuditLogRepo {
  /**
   * Takes the audit log's transaction-level lock (held until commit: one appender at a time), then
   * reads the newest event's hash, draws the next seq and reads the transaction's time. The head is
   * read after the lock is granted, so only in a READ COMMITTED transaction is it the newest.
   */
  claimNext(): Promise<{ seq: bigint; atMicros: bigint; prevHash: Buffer | null }>;
  insert(event: StoredAuditEvent): Promise<void>;
  /** Every event after `afterSeq`, in seq order (verify). */
  eventsAfter(afterSeq: bigint | null, limit: number): Promise<StoredAuditEvent[]>;
  /** What an organisation's auditors read (listAudit says which events), after `afterSeq`, in seq order. */
  visibleEvents(audience: { readonly organisationId: string; readonly accountIds: readonly string[] }, afterSeq: bigint | null, limit: number): Promise<StoredAuditEvent[]>;
  /**
   * Takes the audit log's lock (as claimNext does; taken again by claimNext, it is still one lock),
   * so that what is read next and the events appended after it are one step: two processes
   * starting at once do not both record the same change.
   */
  lock(): Promise<void>;
  /** The newest system event of each object of `objectType` whose action starts with `actionPrefix` (e.g. `provider_account.`). */
  latestSystemEvents(objectType: string, actionPrefix: string): Promise<StoredAuditEvent[]>;
  /** The audit table's triggers and whether each is enabled. */
  guards(): Promise<{ name: string; enabled: boolean }[]>;
}

export interface BatchRepo {
  findSignerKey(kid: string): Promise<SignerKeyRecord | null>;
  findProgramme(programmeId: string): Promise<ProgrammeRecord | null>;
  find(batchId: string): Promise<BatchRecord | null>;
  /** Returns false when another transaction inserted the same id first. */
  insert(batch: NewBatch): Promise<boolean>;
  /** What is only known once every row is validated: the stored rows' count and total, the approvals they need, the rows left out. */
  complete(batchId: string, contents: { payoutCount: number; totalMinor: bigint; approvalsRequired: number; rejectedRows: readonly RowError[] }): Promise<void>;
  setState(batchId: string, to: BatchState): Promise<void>;
  payoutCounts(batchId: string): Promise<PayoutCounts[]>;
  /**
   * What GET /v1/batches/{id} shows, read in one statement (one snapshot, one round trip): the
   * batch, its payouts counted by provider and state (ordered by both; null unless `withCounts`:
   * counting reads every payout of the batch) and its approvals (oldest first).
   */
  view(batchId: string, withCounts: boolean): Promise<BatchViewRecord | null>;
  /** Locks the batch row for the rest of the transaction. */
  lock(batchId: string): Promise<BatchRecord | null>;
  /** The exact signed bytes, sealed with the programme's data key. */
  sealedPayload(batchId: string): Promise<Buffer | null>;
  approvals(batchId: string): Promise<ApprovalRecord[]>;
  /** Stores approvals; false when one of them (same key, or same subject) is there already. */
  insertApprovals(batchId: string, approvals: readonly Omit<ApprovalRecord, 'approvedAt'>[]): Promise<boolean>;
  /** The batch's rejection, if it was rejected by an approver. */
  rejection(batchId: string): Promise<RejectionRecord | null>;
  /** Stores the batch's rejection; false when the batch has one already (a batch is rejected once). */
  insertRejection(batchId: string, rejection: Omit<RejectionRecord, 'rejectedAt'>): Promise<boolean>;
  /** awaiting_approval → approved, stamped: from now on its accepted payouts are dispatchable. */
  markApproved(batchId: string): Promise<void>;
  /** The oldest-approved batches that are approved (their accepted payouts dispatchable), at most `limit`. */
  releasing(limit: number): Promise<string[]>;
  /** approved → dispatching for those of the batches with no accepted payout left (committed rows). */
  markDispatchingIfDrained(batchIds: readonly string[]): Promise<void>;
  /** Every payout of the batch not yet submitted → cancelled, each move recorded; returns what moved and from where. */
  cancelPayouts(batchId: string, cause: string): Promise<{ payoutId: string; amountMinor: bigint; from: PayoutState }[]>;
  markCancelled(batchId: string, by: string, reason: string | null, state: BatchState): Promise<void>;
  /** Batches still awaiting approval whose expiresAt is at or before `now`, oldest first. */
  expiredAwaitingApproval(now: Date, limit: number): Promise<string[]>;
  /** Payouts of the batch by row number after `afterRow`, optionally of one state. */
  payoutsPage(batchId: string, state: PayoutState | null, afterRow: number | null, limit: number): Promise<PayoutRecord[]>;
}

/** One settling move of a payout (into paid, failed or reversed), with the fields it leaves on the row. */
/** What became of an attempt, as the worker records it when the provider answered. */
export interface AttemptOutcomeUpdate {
  readonly payoutId: string;
  readonly attemptNo: number;
  readonly outcome: 'accepted' | 'rejected' | 'ambiguous';
  readonly conversationId: string | null;
  readonly detail: string | null;
}

/** An attempt as the worker records it before it calls the provider. */
export interface NewAttempt {
  readonly payoutId: string;
  readonly attemptNo: number;
  readonly idempotencyKey: string;
  readonly callbackTokenSha256: Buffer;
  readonly accountId: string;
}

export interface SettleMove {
  readonly payoutId: string;
  readonly from: PayoutState;
  readonly to: PayoutState;
  readonly cause: string;
  readonly providerReference: string | null;
  readonly failureCode: string | null;
}

export interface PayoutRepo {
  /**
   * Inserts the payouts chunk by chunk, in order. `chunks` is pulled lazily: the next chunk is
   * produced (sealed) while the database writes the previous one.
   */
  insertMany(batchId: string, currency: CurrencyCode, state: PayoutState, chunks: AsyncIterable<SealedPayoutChunk>): Promise<number>;
  find(payoutId: string): Promise<PayoutRecord | null>;
  /** The payouts found of these ids (absent ones are left out), in no particular order. */
  findMany(payoutIds: readonly string[]): Promise<PayoutRecord[]>;
  /** Locks the payout row for the rest of the transaction. */
  lock(payoutId: string): Promise<PayoutRecord | null>;
  /** Locks the payout rows (in id order: two lockers never wait on each other) for the rest of the transaction; absent ids are left out. */
  lockMany(payoutIds: readonly string[]): Promise<PayoutRecord[]>;
  /**
   * Settles payouts in one UPDATE and records every move in one INSERT. A payout may appear more
   * than once (paid, then reversed): its row ends in its last move's state and fields, and each
   * move is recorded in order. Each payout's first move must start from its stored state.
   */
  settleMany(moves: readonly SettleMove[]): Promise<void>;
  /**
   * After a confirmed, retryable failure of its latest attempt: the payout goes back to queued, due
   * again at `dispatchAt`, or (its attempts used up) held there for operators, flagged at `flaggedAt`.
   */
  scheduleRetry(payoutId: string, from: PayoutState, retry: { readonly dispatchAt: Date | null; readonly flaggedAt: Date | null; readonly failureCode: string | null; readonly cause: string }): Promise<void>;
  /** Claims up to `limit` queued payouts whose next attempt is due at `now`, earliest first, skipping rows other transactions hold. */
  claimDueRetries(now: Date, limit: number): Promise<PayoutRecord[]>;
  /**
   * After a restart of a transport that keeps nothing (in-process): makes every queued payout
   * (not held for operators) due for the relay to publish again. Answers how many.
   */
  redispatchQueued(now: Date): Promise<number>;
  /** Clears the due time of payouts whose dispatch message was published (and the operators' flag). */
  clearDispatchAt(payoutIds: readonly string[]): Promise<void>;
  /** Claims up to `limit` accepted payouts of the batch in row order, skipping rows other transactions hold. */
  claimAccepted(batchId: string, limit: number): Promise<PayoutRecord[]>;
  /** Moves payouts (already checked against the state machine) and records each move with its cause. */
  move(
    payoutIds: readonly string[],
    from: PayoutState,
    to: PayoutState,
    cause: string,
    fields?: {
      providerReference?: string | null;
      failureCode?: string | null;
      attemptCount?: number;
      /**
       * Entering submitted or unknown: when the status poller first asks (an earlier time already
       * set is kept; neither: due at once). Settling (paid, failed, cancelled, reversed) unschedules.
       */
      statusCheckAt?: Date;
      /**
       * Back in unknown after a resend under the same key that told nothing: the checks already
       * sent keep counting (else a payout resent again and again would never be flagged).
       */
      keepStatusChecks?: boolean;
    },
  ): Promise<void>;
  /** Whether any payout of the batch is not settled yet: one index probe per unsettled state, not a count. */
  hasUnsettled(batchId: string): Promise<boolean>;
  /** Locks the payout rows, as lockMany(), and reads their sealed numbers with them (the worker's attempts: one round trip). */
  lockManyWithMsisdn(payoutIds: readonly string[]): Promise<{ readonly payout: PayoutRecord; readonly sealedMsisdn: Buffer }[]>;
  /** The sealed beneficiary fields, for the worker alone. */
  sealedMsisdn(payoutId: string): Promise<Buffer | null>;
  /** Records attempts (before their calls), in one statement. */
  insertAttempts(attempts: readonly NewAttempt[]): Promise<void>;
  /** Records what became of attempts, in one statement. */
  setAttemptOutcomes(outcomes: readonly AttemptOutcomeUpdate[]): Promise<void>;
  /**
   * Moves payouts from submitting to submitted in one statement, each with the provider's own
   * reference, and records each move ('provider accepted'); the status check as move() sets it.
   */
  moveAccepted(accepted: readonly { readonly payoutId: string; readonly providerReference: string | null }[], fields: { readonly statusCheckAt?: Date; readonly keepStatusChecks?: boolean }): Promise<void>;
  /**
   * Per callback or status-query token (its SHA-256), in order: the attempt it was issued for, when
   * and for what (`payment`: the URL of a payment request's callbacks; `status`: of a status query's
   * answer), that attempt's payout (as find) and the payout's blind-indexed number, or
   * null; one statement for them all, so that a callback is authenticated and checked in one round trip.
   */
  findCallbackSubjectsByTokens(callbackTokenSha256s: readonly Buffer[]): Promise<(CallbackSubject | null)[]>;
  /** The blind index of each payout's number (absent payouts are left out): a callback's receiver is compared with it. */
  msisdnHashes(payoutIds: readonly string[]): Promise<ReadonlyMap<string, Buffer>>;
  /** The provider account each (payout, attempt) went through; absent attempts are left out. Keyed "payoutId:attemptNo". */
  attemptAccounts(attempts: readonly { readonly payoutId: string; readonly attemptNo: number }[]): Promise<ReadonlyMap<string, string>>;
  /** Per (account, receipt): the payout that receipt already settled, if any. Keyed "accountId\u0000receipt". */
  receiptOwners(receipts: readonly { readonly accountId: string; readonly receipt: string }[]): Promise<ReadonlyMap<string, string>>;
  /** Records that these receipts settled these payouts; throws when one settled another payout meanwhile (the chunk is retried). */
  claimReceipts(receipts: readonly { readonly accountId: string; readonly receipt: string; readonly payoutId: string }[]): Promise<void>;
  /** Records why payouts are held (once per result and kind). */
  insertExceptions(exceptions: readonly PayoutException[]): Promise<void>;
  /** Each held payout's differences, oldest first. */
  exceptionsOf(payoutIds: readonly string[]): Promise<readonly PayoutException[]>;
  /**
   * What GET /v1/payouts/{id} shows, read in one statement (one snapshot, one round trip): the
   * payout, its first `exceptionsMax` exceptions (oldest first) and whether its programme's
   * beneficiary data was erased.
   */
  findView(payoutId: string, exceptionsMax: number): Promise<PayoutViewRecord | null>;
  /**
   * Held payouts, oldest first, after the cursor of the last one seen ("<microseconds since the
   * epoch>:<payout id>", exact to the database's clock); at most `limit`, each with its cursor.
   */
  listHeld(after: { readonly micros: bigint; readonly id: string } | null, limit: number): Promise<{ readonly payout: PayoutRecord; readonly cursor: string }[]>;
  /** The attempt sent under the provider idempotency key. */
  findAttemptByKey(idempotencyKey: string): Promise<AttemptRecord | null>;
  /** How many payouts are in each stored state (every organisation: for operators' metrics). */
  countByState(): Promise<readonly { readonly state: PayoutState; readonly count: number }[]>;
  /** Stores a status query's callback token (its SHA-256) for the attempt it asks about, or (`payment`) the token of a same-key resend. */
  insertStatusToken(payoutId: string, attemptNo: number, tokenSha256: Buffer, purpose?: TokenPurpose): Promise<void>;
  /** insertStatusToken for many (status queries claimed together), in one statement. */
  insertStatusTokens(tokens: readonly { readonly payoutId: string; readonly attemptNo: number; readonly tokenSha256: Buffer; readonly purpose?: TokenPurpose }[]): Promise<void>;
  /**
   * Claims up to `limit` submitted or unknown payouts whose status check is due at `now`, earliest
   * first, each with its latest attempt; rows other transactions hold are skipped (several pollers).
   */
  claimDueStatusChecks(now: Date, limit: number): Promise<DueStatusCheck[]>;
  /** As claimDueStatusChecks, for paid payouts whose reported reversal is to be confirmed. */
  claimDueReversalChecks(now: Date, limit: number): Promise<DueStatusCheck[]>;
  /**
   * Moves up to `limit` payouts in submitting since before `staleBefore` (oldest first; rows other
   * transactions hold are skipped) to unknown, their first status check due at `checkAt`, each
   * move recorded with `cause`. Answers their ids.
   */
  releaseStaleSubmitting(staleBefore: Date, checkAt: Date, limit: number, cause: string): Promise<string[]>;
  /** Sets the next status check (null: none), and the count of checks sent or the operators' flag when given. */
  setStatusCheck(payoutId: string, update: { readonly at: Date | null; readonly checks?: number; readonly flaggedAt?: Date }): Promise<void>;
  /** setStatusCheck for many payouts (each its next check and its count of checks sent), in one statement. */
  setStatusChecks(updates: readonly { readonly payoutId: string; readonly at: Date | null; readonly checks: number }[]): Promise<void>;
  /** No status check for these payouts (their final answer is in the outbox). */
  unscheduleStatusChecks(payoutIds: readonly string[]): Promise<void>;
  /** Keeps the failure reasons callbacks reported, unconfirmed, on their attempts (the last one reported wins). */
  recordReportedFailures(reports: readonly { readonly payoutId: string; readonly attemptNo: number; readonly reasonCode: string }[]): Promise<void>;
  /** The failure reason a callback reported about the attempt, unconfirmed; null when none. */
  reportedFailure(payoutId: string, attemptNo: number): Promise<string | null>;
  /**
   * Makes the status checks of these payouts (submitting, submitted or unknown) due at `at` at the
   * latest, rows locked in id order, in one statement; with `paidToo`, a paid payout's too (a
   * reversal to confirm). Settled payouts are left as they are.
   */
  makeStatusChecksDue(payoutIds: readonly string[], at: Date, paidToo?: boolean): Promise<void>;
  /** The payouts whose attempts went in the GSMA provider batch `batchKey` (migration 0021); null when no such batch was sent. */
  payoutsOfProviderBatch(batchKey: string): Promise<string[] | null>;
  /** An operator's requeue: the checks of a submitted or unknown payout start over at `at`, its flag cleared; false in any other state. */
  restartStatusChecks(payoutId: string, at: Date): Promise<boolean>;
}

export interface ResultRepo {
  /** Inserts a result into the outbox; false if it was there already. */
  insert(result: NewResult): Promise<boolean>;
  /** insert for many results in one statement (those there already are left as they are). */
  insertMany(results: readonly NewResult[]): Promise<void>;
  claimUnpublished(limit: number): Promise<NewResult[]>;
  markPublished(ids: readonly string[]): Promise<void>;
  /**
   * After a restart of a transport that keeps nothing (in-process): the published results the
   * settler may not have applied (their payout still waits for its outcome, or is paid and the
   * result is a reversal) go back to the outbox. Answers how many.
   */
  republishUnapplied(): Promise<number>;
}

export interface CallbackRepo {
  /** Stores the sealed raw callback once per (provider, scope, dedupeKey); false if it was there already. */
  insert(callback: NewCallback): Promise<boolean>;
  /** Deletes unauthenticated orphans received before `before`, at most `limit`; answers how many. */
  purgeUnauthenticatedOrphans(before: Date, limit: number): Promise<number>;
  /** insert for many callbacks in one statement: per callback, in order, whether it was stored (false for one there already, and for the later of two equal ones). */
  insertMany(callbacks: readonly NewCallback[]): Promise<boolean[]>;
  /** Callbacks for no known payout, oldest first, after the one with id `afterId` (a cursor); at most `limit`. */
  listOrphans(afterId: bigint, limit: number): Promise<OrphanCallback[]>;
}

/** A callback kept for no payout Tuma knows: what identifies it, never its (sealed) body. */
export interface OrphanCallback {
  readonly id: bigint;
  readonly provider: string;
  readonly dedupeKey: string;
  readonly receivedAt: Date;
}

export interface NewCallback {
  readonly provider: string;
  /**
   * The request the callback answers (its dedupe slot): `t:<token hash>` for a token in the URL,
   * `a:<payout>:<attempt>` for a signed one, `u:` for an unauthenticated one. Two requests never share a slot.
   */
  readonly scope: string;
  /** False for a callback nothing authenticated (it is budgeted, and purged when an orphan). */
  readonly authenticated: boolean;
  readonly dedupeKey: string;
  readonly payoutId: string | null;
  readonly rawBodyEnc: Buffer;
}

export interface AdminRepo {
  /** Each insert is idempotent: an existing row with the same id is left as it is; false then. */
  insertOrganisation(id: string, name: string): Promise<boolean>;
  ensureLedger(currency: CurrencyCode, scale: number): Promise<void>;
  insertProgramme(programme: ProgrammeRecord & { readonly name: string }): Promise<boolean>;
  insertSignerKey(key: SignerKeyRecord & { readonly createdBy?: string | null }): Promise<boolean>;
  /** The organisation's keys in kid order after `afterKid`. */
  listSignerKeys(organisationId: string, role: 'maker' | 'approver' | null, afterKid: string | null, limit: number): Promise<SignerKeyRecord[]>;
  /** Sets revoked_at unless the key is revoked already at or before `at`; returns the key as it now is. */
  revokeSignerKey(kid: string, at: Date, by: string): Promise<SignerKeyRecord | null>;
  setPolicy(programmeId: string, policy: ProgrammePolicy): Promise<void>;
}

/** A finance decision on a reconciliation exception (issue #14 item 6). */
export interface ReconciliationDecision {
  readonly decisionId: string;
  readonly statementId: string;
  /** `line-<n>`, `payout-<id>`, or `check-<n>` (a balance check of the file). */
  readonly itemId: string;
  readonly organisationId: string;
  readonly action: DecisionAction;
  readonly comment: string;
  /** The money it moves (what it posts, or the payout it reverses); 0 for a requery or an acknowledgement. */
  readonly amountMinor: bigint;
  readonly state: 'awaiting_approval' | 'applied' | 'rejected';
  readonly decidedBy: string;
  readonly decidedAt: Date;
  readonly checkedBy: string | null;
  readonly checkedAt: Date | null;
  readonly checkComment: string | null;
}

export interface ReconciliationDecisionRepo {
  /** false when the exception already has a live (awaiting or applied) decision. */
  insert(d: Omit<ReconciliationDecision, 'decidedAt' | 'checkedBy' | 'checkedAt' | 'checkComment'> & { readonly requestId: string | null }): Promise<boolean>;
  live(statementId: string, itemId: string): Promise<ReconciliationDecision | null>;
  /** Locks the decision for the rest of the transaction. */
  lock(decisionId: string): Promise<ReconciliationDecision | null>;
  /** An awaiting decision, approved (applied) or rejected by a second finance user. */
  check(decisionId: string, state: 'applied' | 'rejected', checkedBy: string, comment: string): Promise<void>;
  ofStatement(statementId: string): Promise<ReconciliationDecision[]>;
}

/**
 * A payout the provider reversed after the ledger counted it paid, which finance decided to pay
 * again (migration 0023): the programme's next signed batch fulfils it by a row naming it.
 */
export interface RepayRequest {
  readonly requestId: string;
  readonly payoutId: string;
  readonly organisationId: string;
  readonly programmeId: string;
  readonly decisionId: string;
  readonly currency: CurrencyCode;
  readonly amountMinor: bigint;
  readonly requestedAt: Date;
  readonly state: 'open' | 'fulfilled';
  readonly fulfilledByPayoutId: string | null;
  readonly fulfilledAt: Date | null;
  /** Payouts that fulfilled it and then failed or were cancelled (oldest first): the request went back to open each time. */
  readonly releasedPayoutIds: readonly string[];
}

export interface RepayRequestRepo {
  /** false when the payout already has a request (open or fulfilled): a payout is paid again once at most. */
  open(r: Pick<RepayRequest, 'requestId' | 'payoutId' | 'organisationId' | 'programmeId' | 'decisionId' | 'currency' | 'amountMinor'>): Promise<boolean>;
  /** A programme's requests in `state` ('all': both), oldest first, after the request `after` (a page cursor). */
  ofProgramme(organisationId: string, programmeId: string, state: RepayRequest['state'] | 'all', after: string | null, limit: number): Promise<RepayRequest[]>;
  /**
   * The open request of `payoutId` fulfilled by `byPayoutId` (a row of a signed batch), when it is
   * the organisation's and programme's, in this currency, for this amount, and both payouts pay
   * the same number (their blind index); false otherwise. Locks the request: of two batches naming
   * it, one fulfils it.
   */
  fulfil(f: { payoutId: string; byPayoutId: string; organisationId: string; programmeId: string; currency: CurrencyCode; amountMinor: bigint }): Promise<boolean>;
  /**
   * How many requests the cancelled payouts of `batchId` opened again (the batch was rejected,
   * expired or cancelled before they went out: they will never be paid). The database opens a
   * request again as its fulfilling payout is cancelled or fails (migration 0025), in that transaction.
   */
  releaseCancelled(batchId: string): Promise<number>;
}

export interface Repos {
  readonly reconciliationDecisions: ReconciliationDecisionRepo;
  readonly repayRequests: RepayRequestRepo;
  readonly admin: AdminRepo;
  readonly ledger: LedgerRepo;
  readonly batches: BatchRepo;
  readonly payouts: PayoutRepo;
  readonly results: ResultRepo;
  readonly callbacks: CallbackRepo;
  readonly chain: LedgerChainRepo;
  readonly audit: LedgerAuditRepo;
  readonly auditLog: AuditLogRepo;
}

export interface Persistence {
  /** Runs `work` in one SQL transaction; an Err result rolls it back and is returned as it is. */
  transaction<T>(work: (tx: Repos) => Promise<Result<T, Rejection>>): Promise<Result<T, Rejection>>;
  /** Runs `work` in one read-only REPEATABLE READ transaction: every read sees the same instant. */
  snapshot<T>(work: (tx: Repos) => Promise<T>): Promise<T>;
  /** The ledger outside a transaction: postJournal is one statement, so each call is its own atomic SQL transaction. */
  readonly ledger: LedgerRepo;
  /** The same repositories outside a transaction, for reads. */
  readonly read: Repos;
}

// ---------- beneficiary data ----------

/** What may be sealed: every place beneficiary data can sit at rest. */
export type SealedField = 'msisdn' | 'name' | 'batch_payload' | 'callback_body' | 'statement_file' | 'provider_token';

export interface BeneficiaryVault {
  /** Encrypts under the programme's data key, bound to the subject (payout or batch id) and field. */
  seal(programmeId: string, subjectId: string, field: SealedField, plaintext: string | Buffer): Promise<Buffer>;
  open(programmeId: string, subjectId: string, field: SealedField, sealed: Buffer): Promise<Buffer>;
  /** Keyed hash for duplicate checks and lookup, per programme. */
  blindIndex(programmeId: string, value: string): Promise<Buffer>;
  /**
   * Seals one chunk of payouts' beneficiary fields (the msisdn, its blind index, the name) in one
   * go, on sealing threads where there are any: the bulk path of a large batch.
   */
  sealBeneficiaries(programmeId: string, rows: BeneficiaryRows): Promise<SealedBeneficiaries>;
  /**
   * Seals data that may name a beneficiary but belongs to no programme we can tell (a callback
   * about a transaction we do not know): under a key of its own, not a programme's data key.
   */
  sealUnowned(subjectId: string, field: SealedField, plaintext: string | Buffer): Promise<Buffer>;
  openUnowned(subjectId: string, field: SealedField, sealed: Buffer): Promise<Buffer>;
  /** Drops a programme's data key from memory, where one is kept (its erasure). */
  forget?(programmeId: string): void;
}

/** One chunk of beneficiaries to seal, column-wise: subjectIds[i] is the payout id of row i. */
export interface BeneficiaryRows {
  readonly subjectIds: string[];
  readonly msisdns: string[];
  readonly names: (string | null)[];
}

/**
 * A chunk sealed into one buffer: for row i, from `spans[3i]`: the sealed msisdn (`spans[3i+1]`
 * bytes), its 32-byte blind index, then the sealed name (`spans[3i+2]` bytes, -1 for none).
 */
export interface SealedBeneficiaries {
  readonly bytes: Buffer;
  readonly spans: Int32Array;
}

/** Who is acting, from the verified bearer token. */
export interface Actor {
  readonly subject: string;
  readonly organisationId: string;
}

// ---------- messaging ----------

export interface TransportMessage {
  readonly key: string;
  readonly value: Buffer;
}

export interface Delivery extends TransportMessage {
  readonly topic: string;
  /** Transport-specific position, for logs only. */
  readonly position: string;
}

export interface Subscription {
  /** Stops taking new messages, waits for in-flight handlers, commits what finished. */
  stop(): Promise<void>;
  /**
   * Stops fetching new messages until resume(): nothing is dropped and no offset moves past
   * unfinished work; a message whose handler failed comes back after resume.
   */
  pause(): void;
  resume(): void;
}

export interface ConsumerLag {
  readonly topic: string;
  readonly groupId: string;
  readonly lag: number;
}

/** The dispatch port: Kafka in production and tests, in-process on a single machine. */
export interface Transport {
  publish(topic: string, messages: readonly TransportMessage[]): Promise<void>;
  /**
   * Delivers each message to `handle` at least once. A message counts as done (its offset is
   * committed) only after `handle` resolved; a rejected handle means "deliver again later".
   */
  subscribe(options: {
    topic: string;
    groupId: string;
    /** Partitions handled at once (Kafka); the in-process transport handles concurrency × window messages at once. */
    concurrency: number;
    /**
     * Messages of one partition handled at once (1 when absent): for handlers that wait on the
     * network, whose messages may finish out of order. Offsets are committed up to the first
     * unfinished one, so a crash delivers again at most the window's messages, never skips one.
     */
    window?: number;
    handle: (d: Delivery) => Promise<void>;
  }): Promise<Subscription>;
  /**
   * Delivers messages in chunks of at most `chunkMax`, in order per key (a chunk may hold several
   * messages of one key, in their order). The whole chunk is done only after `handle` resolved; a
   * rejected handle delivers every message of the chunk again later, so `handle` must be
   * idempotent per message. At most `concurrency` chunks are handled at once.
   */
  subscribeChunks(options: { topic: string; groupId: string; concurrency: number; chunkMax: number; handle: (chunk: readonly Delivery[]) => Promise<void> }): Promise<Subscription>;
  ready(): Promise<boolean>;
  /** Messages published but not yet done, per subscription of this process (for metrics). */
  lag(): Promise<readonly ConsumerLag[]>;
  close(): Promise<void>;
}

// ---------- providers ----------

export interface SubmitRequest {
  readonly payoutId: string;
  readonly idempotencyKey: string;
  readonly msisdn: string;
  readonly amountMinor: bigint;
  readonly currency: CurrencyCode;
  /** Where the provider posts the result: carries the attempt's unguessable token. */
  readonly callbackUrl: string;
}

/** A status question about one attempt: by the idempotency key we sent, and the provider's own reference when we have it. */
export interface StatusQuery {
  readonly payoutId: string;
  readonly idempotencyKey: string;
  readonly providerReference: string | null;
  readonly currency: CurrencyCode;
  /** Where an asynchronous status answer is posted (M-Pesa), carrying the attempt's token. */
  readonly callbackUrl: string;
}

/**
 * A provider adapter (issue #5): one per provider, every answer mapped to a provider-neutral
 * outcome (domain/provider-outcome.ts). Provider trouble (timeouts, 5xx, resets, unreadable
 * answers, "duplicate" answers) is an `unknown` outcome, never a thrown error and never `failed`.
 */
export interface ProviderAdapter {
  readonly id: string;
  /** Sends the payout under `request.idempotencyKey`; a resend with the same key never pays twice. */
  submit(request: SubmitRequest): Promise<ProviderOutcome>;
  /** Asks what became of the attempt sent under `query.idempotencyKey`. */
  status(query: StatusQuery): Promise<ProviderOutcome>;
}

/** A provider account as the worker uses it: its adapter behind a guard that knows whether it may be called now. */
export interface PayoutProvider extends ProviderAdapter {
  readonly id: ProviderId;
  /** The provider account (credentials, market) this adapter calls; stored with every attempt. */
  readonly accountId: string;
  /** false while calls would be refused unsent (breaker open); a cheap check, no I/O. */
  available(): boolean;
}

/**
 * The provider accounts Tuma pays through (issue #5 item 6): which account pays a payout, chosen by
 * its programme, provider, currency and the beneficiary's country; and the account an earlier
 * attempt went through, to ask it about that attempt.
 */
export interface ProviderDirectory {
  route(payout: { readonly provider: ProviderId; readonly programmeId: string; readonly currency: CurrencyCode }, country: string): PayoutProvider | null;
  account(accountId: string): PayoutProvider | null;
  /** Every configured account, once each (for shutdown, metrics). */
  all(): readonly PayoutProvider[];
}

/** Thrown by a provider guard when it refused to call the provider (breaker open): nothing was sent. */
export class ProviderUnavailableError extends Error {
  constructor(readonly provider: string, message: string) {
    super(message);
    this.name = 'ProviderUnavailableError';
  }
}

// ---------- reconciliation (issue #14) ----------

/** One reconciliation class's figures: lines or payouts, and their sums in minor units. */
export interface ReconciliationClassFigures {
  readonly count: number;
  readonly statementMinor: bigint;
  readonly ledgerMinor: bigint;
}

/** A stored statement and its reconciliation, as an import answers it (the first time or again). */
export interface StatementRecord {
  readonly statementId: string;
  readonly accountId: string;
  readonly currency: string;
  readonly organisationId: string;
  readonly format: string;
  readonly formatVersion: number;
  readonly periodFrom: Date;
  readonly periodTo: Date;
  readonly sha256Hex: string;
  readonly sizeBytes: number;
  /** 1 for the first statement of its account and period; each other file for the same period is the next. */
  readonly version: number;
  readonly previousId: string | null;
  /** null when the format states no balances. */
  readonly openingBalanceMinor: bigint | null;
  readonly closingBalanceMinor: bigint | null;
  readonly linesTotal: number;
  readonly linesImported: number;
  readonly linesRefused: number;
  readonly refusedLines: readonly StatementLineProblem[];
  readonly counts: Readonly<Partial<Record<ReconciliationClass, ReconciliationClassFigures>>>;
  readonly balances: StatementBalanceCheck;
  /** Against the previous version (null for a first version). */
  readonly diff: StatementDiff | null;
}

/** The file's own balance checks (issue #14 item 4). */
export interface StatementBalanceCheck {
  /** Sum over completed lines of paid in - withdrawn - fee. */
  readonly linesNetMinor: bigint;
  /** opening + linesNet against closing; null when the format states no balances. */
  readonly total: { readonly expectedClosingMinor: bigint; readonly closingMinor: bigint; readonly ok: boolean } | null;
  /** The order in which the running balance reads continuous, if either; null without a balance column. */
  readonly order: 'oldest-first' | 'newest-first' | null;
  /** Breaks of the running balance in the order with fewer of them (the first ones in `breakLines`). */
  readonly runningBreaks: number;
  readonly breaks: readonly { readonly line: number; readonly expectedMinor: bigint; readonly balanceMinor: bigint }[];
}

/** The provider's closing balance against the ledger's float at the cut-off (issue #14 item 4). */
export type StatementFloatCheck =
  | { readonly state: 'ok' | 'mismatch'; readonly ledgerFloatMinor: bigint; readonly closingMinor: bigint }
  | { readonly state: 'not_comparable'; readonly note: string };

/** What changed between two versions of a period's statement, by transaction id and kind. */
export interface StatementDiff {
  readonly previousId: string;
  readonly added: number;
  readonly removed: number;
  /** Lines in both whose amount, fee, status or class changed. */
  readonly changed: number;
}

/** What the set-based pass needs: the format's columns by role, the account and the period. */
export interface StatementClassifyQuery {
  readonly statementId: string;
  readonly accountId: string;
  readonly format: StatementFormat;
  /** The currency's amount grammar (domain/reconciliation.ts amountPatternOf). */
  readonly amountPattern: string;
  readonly scale: number;
  readonly periodFrom: Date;
  readonly periodTo: Date;
  /** File lines before the first data line (header block and column header). */
  readonly linesBeforeData: number;
  readonly refusedLinesReportedMax: number;
  /** The header's balances, when the format states them (the total check needs them). */
  readonly balances: { readonly openingMinor: bigint; readonly closingMinor: bigint } | null;
  /** The version this one follows, to diff against. */
  readonly previousId: string | null;
  /** The running balance read while the lines streamed (its first breaks are stored as checks). */
  readonly running: RunningBalanceOutcome;
}

export interface StatementClassifyOutcome {
  readonly linesTotal: number;
  readonly linesImported: number;
  readonly linesRefused: number;
  /** The first bad lines' problems (at most refusedLinesReportedMax lines). */
  readonly refusedLines: readonly StatementLineProblem[];
  readonly counts: Readonly<Partial<Record<ReconciliationClass, ReconciliationClassFigures>>>;
  readonly balances: StatementBalanceCheck;
  readonly diff: StatementDiff | null;
}

export type NewStatement = Omit<StatementRecord, 'linesTotal' | 'linesImported' | 'linesRefused' | 'refusedLines' | 'counts' | 'balances' | 'diff'> & {
  readonly importedBy: string;
  readonly fileChunks: number;
  /** How each chunk of the original file was encoded before it was sealed. */
  readonly fileEncoding: StatementFileEncoding;
};

/** 'deflate': zlib (RFC 1950) per chunk, then sealed; 'identity': sealed as read (statements stored before migration 0028). */
export type StatementFileEncoding = 'identity' | 'deflate';

/** One import's SQL transaction: it holds the staging table (one import at a time). */
export interface StatementImportSession {
  /**
   * COPYs the rows `feed` writes into `sink` into the typed staging table (FORMAT text, the
   * columns of statement-lines.ts' typedStagingColumns, one row per data line: a good line typed,
   * a bad one its cells). Returns how many rows landed. A failure of `feed` is thrown as it is; the
   * transaction is then unusable and the import must end.
   */
  copy(feed: (sink: Writable) => Promise<void>): Promise<number>;
  findBySha256(accountId: string, sha256: Buffer): Promise<StatementRecord | null>;
  /** The latest version of a statement of the account whose period overlaps [from, to), if any. */
  findOverlapping(accountId: string, from: Date, to: Date): Promise<{ statementId: string; periodFrom: Date; periodTo: Date; version: number } | null>;
  insertStatement(statement: NewStatement): Promise<void>;
  /** Stores the sealed original file's chunks in order; returns how many. */
  storeFileChunks(statementId: string, chunks: AsyncIterable<Buffer>): Promise<number>;
  /** The one set-based pass: casts, validates, inserts lines, matches, classifies, writes items. */
  classify(query: StatementClassifyQuery): Promise<StatementClassifyOutcome>;
  recordOutcome(statementId: string, fileChunks: number, outcome: StatementClassifyOutcome): Promise<void>;
}

/** One item of a reconciliation: a statement line, or a ledger payout no line names. Never beneficiary data. */
export interface ReconciliationItem {
  /** `line-<n>` or `payout-<id>`: stable, the key of its decisions. */
  readonly itemId: string;
  readonly line: number | null;
  readonly kind: string;
  readonly class: ReconciliationClass;
  readonly status: string | null;
  readonly providerTransactionId: string | null;
  readonly payoutId: string | null;
  readonly completedAt: Date | null;
  /** The line's net debit (withdrawn - paid in), its fee, and the ledger's amount and fee of its payout. */
  readonly statementMinor: bigint | null;
  readonly feeMinor: bigint | null;
  readonly ledgerMinor: bigint | null;
  readonly ledgerFeeMinor: bigint | null;
  readonly atRiskMinor: bigint;
  /** When it happened: the line's time, or the period's end for a payout no line names. */
  readonly happenedAt: Date;
  /** A timing item's closing statement (a later period's line names its payout). */
  readonly closedBy: string | null;
  /** Its live decision, if any. */
  readonly decision: { readonly decisionId: string; readonly action: DecisionAction; readonly state: 'awaiting_approval' | 'applied' } | null;
}

export interface ReconciliationClassSummary {
  readonly class: ReconciliationClass;
  readonly count: number;
  readonly statementMinor: bigint;
  readonly ledgerMinor: bigint;
  readonly atRiskMinor: bigint;
  /** Exceptions of the class still open. */
  readonly open: number;
  /** Open exceptions by age bucket (domain/reconciliation-report.ts ageingBuckets). */
  readonly ageing: Readonly<Record<string, { readonly count: number; readonly atRiskMinor: bigint }>>;
}

/** The item after which a page starts (its part, line or payout). */
export interface ItemCursor {
  readonly part: 0 | 1;
  readonly line: number;
  readonly payoutId: string;
}

export interface ReconciliationReads {
  statement(statementId: string): Promise<StatementRecord | null>;
  /** Statements of the accounts (null: every account), newest period first, a page at a time. */
  statementsOf(accountIds: readonly string[] | null, filter: { from: Date | null; to: Date | null; after: { periodFrom: Date; statementId: string } | null; limit: number }): Promise<StatementRecord[]>;
  classSummary(statementId: string, now: Date): Promise<ReconciliationClassSummary[]>;
  /** The file's failed balance checks (`check-<checkNo>`), each with whether a decision acknowledged it. */
  checks(statementId: string): Promise<{ checkNo: number; kind: 'balance_total' | 'running_balance' | 'float_balance'; line: number | null; expectedMinor: bigint; actualMinor: bigint; acknowledged: boolean }[]>;
  /**
   * The ledger's float at `at` (debits - credits of transfers before it) over the float accounts of
   * `provider` in `currency`: those of `organisationIds`, or of every organisation (null).
   */
  floatAt(provider: string, currency: string, organisationIds: readonly string[] | null, at: Date): Promise<bigint>;
  floatCheck(statementId: string): Promise<StatementFloatCheck | null>;
  /** Records the float check of a statement (and its exception when it failed); once. */
  recordFloatCheck(statementId: string, check: StatementFloatCheck): Promise<void>;
  /** SHA-256 (hex) of the reconciliation's result: every item, check and applied decision in a fixed order. */
  resultSha256(statementId: string): Promise<string>;
  /** One item by its id (`line-<n>`, `payout-<id>`), or null. */
  item(statementId: string, itemId: string): Promise<ReconciliationItem | null>;
  items(statementId: string, query: { classes: readonly string[] | null; after: ItemCursor | null; limit: number }): Promise<ReconciliationItem[]>;
  /** The periods the account's statements cover (versions share theirs). */
  coveredPeriods(accountId: string): Promise<{ from: Date; to: Date }[]>;
  /** When the account first paid: its expected periods start there. */
  firstActivity(accountId: string): Promise<Date | null>;
}

export interface StatementStore {
  /** Runs `work` in one SQL transaction holding the staging table; an Err result rolls it back. */
  importing<T>(work: (session: StatementImportSession) => Promise<Result<T, StatementRejection>>): Promise<Result<T, StatementRejection>>;
}

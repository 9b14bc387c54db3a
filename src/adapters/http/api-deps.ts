// What the HTTP API needs of the process (createApp's one argument; each resource router takes it too).
import type { Logger } from 'pino';
import type { BreakerHoldStore } from '../../application/breaker-holds.js';
import type { ErasureStore } from '../../application/erase-programme.js';
import type { OperatedAccount, OperationsReads, QueueReads } from '../../application/operations.js';
import type { Topics } from '../../application/messages.js';
import type { StatementAccount } from '../../application/import-reconciliation.js';
import type { PullStatement } from '../../application/pull-reconciliation.js';
import type { ImportStatementDeps } from '../../application/reconcile.js';
import type { ReconciliationReads, StatementStore, Transport } from '../../application/ports.js';
import type { SubmitBatchDeps } from '../../application/submit-batch.js';
import type { CurrencyCode } from '../../domain/currency.js';
import type { ProviderId } from '../../domain/providers.js';
import type { Authenticate } from './auth.js';
import type { SourceBudget } from './callback-auth.js';
import type { ConsoleDeps } from './console.js';
import type { HttpLimits } from './limits.js';

export interface ApiDeps extends SubmitBatchDeps {
  readonly bodyMaxBytes: number;
  readonly logger: Logger;
  readonly readiness: () => Promise<{ database: boolean; transport: boolean }>;
  readonly authenticate: Authenticate;
  /** Per route class: requests a minute from one address (absent: not limited) and the longest a request may take (absent: the defaults of limits.ts). */
  readonly limits?: HttpLimits;
  /** Per provider, the addresses its callbacks may come from; a provider not listed is not restricted. */
  readonly callbackAllowLists?: Partial<Record<ProviderId, (address: string | undefined) => boolean>>;
  /** How a provider account's callbacks are authenticated, by the account id an attempt recorded (null: unknown account). */
  readonly callbackAuthOf?: (accountId: string) => { readonly mode: 'url-token' | 'hmac' | 'status-query'; readonly hmacSecret: string | null } | null;
  /** Whether any account of the provider takes callbacks nothing authenticates (false: every one signs; unsigned ones are refused). */
  readonly unsignedCallbacksAccepted?: (provider: ProviderId) => boolean;
  /** The per-source budget of unauthenticated callbacks that name no payout we know (429 beyond it). */
  readonly unsignedOrphanBudget?: SourceBudget;
  /** The web console at /console (absent: not served; its paths answer 404). */
  readonly console?: ConsoleDeps;
  /** Erasure of programmes' beneficiary data (absent: the erasure routes answer 503). */
  readonly erasure?: ErasureStore;
  /** Provider account breakers held or closed by hand (absent: their routes answer 503, and GET /v1/audit shows no account's system events). */
  readonly breakerHolds?: BreakerHoldStore;
  /** What operators read: the configured provider accounts and what the database knows of their breakers (absent: GET /v1/operations/* answers 503). */
  readonly operations?: {
    readonly accounts: () => readonly OperatedAccount[];
    readonly reads: OperationsReads;
    /** The organisation's payouts on their way, dead-lettered payouts and orphan callbacks (absent: their routes answer 503). */
    readonly queues?: QueueReads;
    /** Where a requeued queued payout's dispatch message is published (null: no broker; only status checks restart). */
    readonly requeue?: { readonly transport: Transport | null; readonly topics: Topics };
  };
  /** Provider statement imports: the store and the configured accounts (absent: 503). */
  readonly statements?: {
    readonly store: StatementStore;
    readonly reads: ReconciliationReads;
    /** Every configured provider account, as reconciliation sees it. */
    readonly accounts: () => readonly (StatementAccount & { readonly id: string })[];
    readonly overdueDays: number;
    readonly readers?: ImportStatementDeps['readers'];
    /** Money a reconciliation decision may move without a second finance user (minor units); null: none. */
    readonly approvalAbove: (currency: CurrencyCode) => bigint | null;
    /** A difference Tuma writes off by itself (minor units); null: none. */
    readonly tolerance?: (currency: CurrencyCode) => bigint | null;
    /** Pulls the statements of GSMA accounts (POST /v1/reconciliations/pull; absent: 503). */
    readonly pull?: PullStatement;
  };
}

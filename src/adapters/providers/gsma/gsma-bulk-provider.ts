// A GSMA account that takes batches (issue #20 item 3): the payout attempts the worker sends at the
// same moment go to the provider as one POST /batchtransactions of up to `itemsMax` items, and each
// attempt still gets its own outcome through the ordinary port (submit, status), so the worker,
// the poller and the settler treat a batch item exactly as a single payment: it settles its payout
// once, through the same results and the same ledger postings.
//
// - Persist before the call: the batch's X-CorrelationID and its items' keys are recorded in the
//   BatchIndex before the batch is sent, so a batch whose answer was lost is found again.
// - One guard per account, counting provider calls as it counts a single payment's, never one per
//   item: a batch's POST and its approval (PATCH) pass the breaker (refused unsent while it is open
//   or the account is held; an unanswered one counts against it) and the call limits; each read of
//   a batch (request state, /responses, the batch, each page of completions and rejections) waits
//   its turn under the call limits, as a status query does.
// - An item with no outcome is asked about: its status query reads its batch (request state or
//   /responses under the batch key, the batch, its completions and rejections; one read shared by
//   the items asked about together). A same-key resend of an item already in a batch never makes a
//   second batch: it is answered from its batch, and only when that batch was never created
//   (/responses 404) is the item sent again, alone, under its own key.
// - A batch refused or rejected whole gives every item the refusal's outcome, as a single payment
//   refused with it would have (the settler's retry rules then apply unchanged).
// - Two-step accounts: once the provider has parsed the batch (`created`), its approval (PATCH to
//   approved, under an X-CorrelationID of its own, recorded first) is sent by the next status read.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { microBatcher } from '../../../application/micro-batch.js';
import { ProviderUnavailableError, type PayoutProvider, type ProviderAdapter, type StatusQuery, type SubmitRequest } from '../../../application/ports.js';
import { absent, pending, unknown, type ProviderOutcome } from '../../../domain/provider-outcome.js';
import type { ProviderId } from '../../../domain/providers.js';
import type { CallLimits } from '../call-limiter.js';
import { GuardedProvider, type BreakerSettings, type ProviderCallObserver } from '../guarded-provider.js';
import type { BatchLookup, BatchReadGate, GsmaAnswer, GsmaClient } from './gsma-client.js';
import { batchItemReference, batchKeyOfReference, gsmaBatchItemsMax, unlistedItemOutcome, type BatchRequestAnswer, type GsmaBulkApproval } from './gsma-bulk-mapping.js';

/** Named maxima of an account's bulk settings. */
export const gsmaBulkMax = { itemsMax: gsmaBatchItemsMax, lingerMs: 1_000 } as const;

export interface GsmaBulkSettings {
  /** Items per provider batch at most (1 to gsmaBulkMax.itemsMax). */
  readonly itemsMax: number;
  /** one-step: the provider runs a parsed batch; two-step: Tuma approves it (PATCH to approved). */
  readonly approval: GsmaBulkApproval;
  /** How long the first attempt of a batch waits for others before the batch goes (0 to gsmaBulkMax.lingerMs). */
  readonly lingerMs: number;
}

/** What Tuma knows of a provider batch, recorded before each call about it. */
export interface BatchRecord {
  readonly batchKey: string;
  readonly accountId: string;
  readonly serverCorrelationId: string | null;
  readonly batchId: string | null;
  /** The X-CorrelationID of its approval (two-step), once one was sent. */
  readonly approvalKey: string | null;
}

/** Where batches and their items are recorded (PostgreSQL in production: gsma-batch-index.ts). */
export interface BatchIndex {
  /** Records a batch and its items' keys before it is sent. */
  record(batch: { readonly batchKey: string; readonly accountId: string; readonly itemKeys: readonly string[] }): Promise<void>;
  /** The batch an item (by its attempt key) was sent in, if any. */
  batchOf(itemKey: string): Promise<BatchRecord | null>;
  /** batchOf for many items in one read: the batch of each item found, by its key (lower-case). */
  batchesOf(itemKeys: readonly string[]): Promise<ReadonlyMap<string, BatchRecord>>;
  find(batchKey: string): Promise<BatchRecord | null>;
  /** What the provider said of it: its serverCorrelationId, its batchId once known. */
  accepted(batchKey: string, serverCorrelationId: string, batchId: string | null): Promise<void>;
  /** The approval's X-CorrelationID, recorded before the approval is sent. */
  approving(batchKey: string, approvalKey: string): Promise<void>;
}

/** An index in memory: for tests and dev mode (a restart forgets it; PostgreSQL's does not). */
export function memoryBatchIndex(): BatchIndex {
  const batches = new Map<string, BatchRecord>();
  const items = new Map<string, string>();
  const update = (batchKey: string, change: Partial<BatchRecord>) => {
    const current = batches.get(batchKey);
    if (current) batches.set(batchKey, { ...current, ...change });
  };
  return {
    async record(batch) {
      batches.set(batch.batchKey, { batchKey: batch.batchKey, accountId: batch.accountId, serverCorrelationId: null, batchId: null, approvalKey: null });
      for (const key of batch.itemKeys) items.set(key.toLowerCase(), batch.batchKey);
    },
    async batchOf(itemKey) {
      const batchKey = items.get(itemKey.toLowerCase());
      return batchKey ? batches.get(batchKey) ?? null : null;
    },
    async batchesOf(itemKeys) {
      const found = new Map<string, BatchRecord>();
      for (const key of itemKeys) {
        const batch = batches.get(items.get(key.toLowerCase()) ?? '');
        if (batch) found.set(key.toLowerCase(), batch);
      }
      return found;
    },
    async find(batchKey) {
      return batches.get(batchKey) ?? null;
    },
    async accepted(batchKey, serverCorrelationId, batchId) {
      update(batchKey, { serverCorrelationId, ...(batchId ? { batchId } : {}) });
    },
    async approving(batchKey, approvalKey) {
      update(batchKey, { approvalKey });
    },
  };
}

/** A batch lookup is shared by the status queries that ask within this long of it. */
export const batchLookupReuseMs = 1_000;
/** Attempts whose batch is read in one query at most, and such reads at once. */
const batchIndexReadsChunkMax = 1_024;
const batchIndexReadsAtOnceMax = 4;

interface Waiting {
  readonly request: SubmitRequest;
  readonly resolve: (outcome: ProviderOutcome) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Where the provider PUTs a batch's callback: the gateway's own route for it beside the items'
 * callback route (`<public base>/v1/callbacks/gsma/batch/<batch key>`); null (polling only) when
 * an item's callback URL is not the gateway's.
 */
export function batchCallbackUrl(itemCallbackUrl: string, batchKey: string): string | null {
  const at = itemCallbackUrl.lastIndexOf('/v1/callbacks/gsma/');
  return at <= 0 ? null : `${itemCallbackUrl.slice(0, at)}/v1/callbacks/gsma/batch/${batchKey}`;
}

/** The keys under which calls about provider batches pass the guard: never an attempt's key (a UUID). */
const batchCallKeyPrefix = 'gsma-batch-call:';

/**
 * The adapter the account's guard wraps. An attempt's own calls (an item sent alone, a single
 * payment's status query) go to the client as they are; every call about a provider batch (its
 * POST, its approval, each read of its state, completions and rejections) is registered under a
 * key of its own and made when the guard lets it through: the breaker and the call limits count
 * it exactly as they count a single payment's call.
 */
class GuardedCalls implements ProviderAdapter {
  readonly id = 'gsma' as const;
  private readonly registered = new Map<string, () => Promise<ProviderOutcome>>();

  constructor(private readonly client: GsmaClient) {}

  register(call: () => Promise<ProviderOutcome>): string {
    const key = `${batchCallKeyPrefix}${randomUUID()}`;
    this.registered.set(key, call);
    return key;
  }

  forget(key: string): void {
    this.registered.delete(key);
  }

  submit(request: SubmitRequest): Promise<ProviderOutcome> {
    return this.registered.get(request.idempotencyKey)?.() ?? this.client.submit(request);
  }

  status(query: StatusQuery): Promise<ProviderOutcome> {
    return this.registered.get(query.idempotencyKey)?.() ?? this.client.status(query);
  }
}

/** A read's outcome as the guard's observer sees it: answered (pending), or not (unknown). */
const readSummary = (answer: GsmaAnswer): ProviderOutcome => (answer.status >= 500 ? unknown(null, `HTTP ${answer.status}`) : pending(null));
/** A batch request's (POST, PATCH) outcome as the guard's breaker sees it: an unanswered one counts against it. */
const requestSummary = (answer: BatchRequestAnswer): ProviderOutcome => (answer.kind === 'accepted' ? pending(answer.serverCorrelationId) : answer.outcome);

export class GsmaBulkProvider implements PayoutProvider {
  readonly id: ProviderId = 'gsma';
  /** The account's guard: its breaker and call limits count provider batches. */
  readonly guard: GuardedProvider;
  private readonly calls: GuardedCalls;
  private waiting: Waiting[] = [];
  private timer: NodeJS.Timeout | null = null;
  private readonly shared = new Map<string, { readonly at: number; readonly record: BatchRecord; readonly lookup: Promise<BatchLookup> }>();
  /** The attempts' batches, read for the attempts sent (or asked about) at the same moment in one query. */
  private readonly batchOfItem: (itemKey: string) => Promise<BatchRecord | null>;

  constructor(
    private readonly client: GsmaClient,
    private readonly index: BatchIndex,
    private readonly bulk: GsmaBulkSettings,
    readonly accountId: string,
    breaker: BreakerSettings,
    private readonly logger: Logger,
    observer: ProviderCallObserver | null = null,
    callLimits: CallLimits = { ratePerSecond: null, concurrency: null },
  ) {
    if (!(Number.isInteger(bulk.itemsMax) && bulk.itemsMax >= 1 && bulk.itemsMax <= gsmaBulkMax.itemsMax)) throw new Error(`itemsMax is a whole number from 1 to ${gsmaBulkMax.itemsMax}`);
    if (!(Number.isInteger(bulk.lingerMs) && bulk.lingerMs >= 0 && bulk.lingerMs <= gsmaBulkMax.lingerMs)) throw new Error(`lingerMs is a whole number from 0 to ${gsmaBulkMax.lingerMs}`);
    this.calls = new GuardedCalls(client);
    this.batchOfItem = microBatcher(
      async (keys: readonly string[]) => {
        const found = await index.batchesOf(keys);
        return keys.map((key) => ({ ok: true, value: found.get(key.toLowerCase()) ?? null }) as const);
      },
      batchIndexReadsChunkMax,
      batchIndexReadsAtOnceMax,
    );
    this.guard = new GuardedProvider(this.calls, breaker, logger, accountId, observer, callLimits);
  }

  available(): boolean {
    return this.guard.available();
  }

  /**
   * An attempt: answered from its batch when it was sent in one already (a same-key resend);
   * else it joins the batch being gathered, which goes when it is full or `lingerMs` after its
   * first item. Rejects with ProviderUnavailableError when the guard refused the batch unsent.
   */
  async submit(request: SubmitRequest): Promise<ProviderOutcome> {
    const earlier = await this.batchOfItem(request.idempotencyKey);
    if (earlier) {
      const outcome = await this.itemOutcome(this.queryOf(request), earlier);
      if (outcome.kind !== 'absent') return outcome;
      // Its batch was never created, nor the item alone: it goes again, alone, under its own key (never another).
      return this.sendSingle(request);
    }
    return new Promise<ProviderOutcome>((resolve, reject) => {
      this.waiting.push({ request, resolve, reject });
      if (this.waiting.length >= this.bulk.itemsMax) this.flush();
      else this.timer ??= setTimeout(() => this.flush(), this.bulk.lingerMs);
    });
  }

  /** An item's status from its batch; an attempt sent alone is asked about as a single payment. */
  async status(query: StatusQuery): Promise<ProviderOutcome> {
    const batchKey = batchKeyOfReference(query.providerReference);
    // A reference naming a batch the index does not hold (an index lost with its process) is still
    // read as that batch, by its X-CorrelationID: never taken for a single payment that may be resent.
    // The items of a batch asked about together share its record with its read (batchLookupReuseMs).
    const fresh = batchKey ? this.fresh(batchKey) : null;
    const record = fresh
      ? fresh.record
      : batchKey
        ? ((await this.index.find(batchKey)) ?? { batchKey, accountId: this.accountId, serverCorrelationId: null, batchId: null, approvalKey: null })
        : await this.batchOfItem(query.idempotencyKey);
    if (!record) return this.guard.status(query);
    return this.itemOutcome(query, record);
  }

  private flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    while (this.waiting.length > 0) {
      const group = this.waiting.splice(0, this.bulk.itemsMax);
      void this.sendBatch(group);
    }
  }

  private async sendBatch(group: readonly Waiting[]): Promise<void> {
    const batchKey = randomUUID();
    const items = group.map((w) => w.request);
    try {
      // Refused unsent, as the guard would refuse a single payment: nothing recorded, the attempts are void.
      if (!this.guard.available()) throw new ProviderUnavailableError('gsma', `${this.accountId} is unavailable (breaker open)`);
      await this.index.record({ batchKey, accountId: this.accountId, itemKeys: items.map((i) => i.idempotencyKey) });
      const sent = await this.write(items[0]!, () => this.client.createBatch(batchKey, items, batchCallbackUrl(items[0]?.callbackUrl ?? '', batchKey)));
      const answer = 'answer' in sent ? sent.answer : { kind: 'unknown' as const, outcome: sent.summary.kind === 'unknown' ? sent.summary : unknown(null, 'batch not answered') };
      if (answer.kind === 'accepted') await this.index.accepted(batchKey, answer.serverCorrelationId, answer.batchId);
      this.logger.info({ batchKey, items: items.length, answer: answer.kind }, 'GSMA batch sent');
      const outcome = answer.kind === 'accepted' ? pending(batchItemReference(batchKey)) : answer.outcome;
      for (const w of group) w.resolve(outcome);
    } catch (error) {
      for (const w of group) w.reject(error);
    }
  }

  /** An attempt sent alone under its own key: the guard's call of a single payment. */
  private sendSingle(request: SubmitRequest): Promise<ProviderOutcome> {
    return this.guard.submit(request);
  }

  /**
   * A request about a provider batch that may move money (its POST, its approval), through the
   * guard as a payment is: refused unsent while the breaker is open or the account held
   * (ProviderUnavailableError), waiting its turn under the call limits, an unanswered one counted
   * against the breaker. Gives the provider's answer, or only the guard's summary when the answer
   * never came back to it (the breaker's own timeout).
   */
  private async write(like: SubmitRequest, send: () => Promise<BatchRequestAnswer>): Promise<{ readonly answer: BatchRequestAnswer } | { readonly summary: ProviderOutcome }> {
    const made: { answer?: BatchRequestAnswer } = {};
    const key = this.calls.register(async () => requestSummary((made.answer = await send())));
    try {
      const summary = await this.guard.submit({ payoutId: 'batch', idempotencyKey: key, msisdn: like.msisdn, amountMinor: like.amountMinor, currency: like.currency, callbackUrl: like.callbackUrl });
      return made.answer ? { answer: made.answer } : { summary };
    } finally {
      this.calls.forget(key);
    }
  }

  /**
   * One read about a provider batch (its request state, the batch, a page of completions or
   * rejections), through the guard as a payment's status query is: waiting its turn under the
   * call limits. Throws as the read itself would (no answer).
   */
  private read: BatchReadGate = async (get) => {
    const made: { answer?: GsmaAnswer; error?: unknown; failed?: true } = {};
    const key = this.calls.register(async () => {
      try {
        made.answer = await get();
        return readSummary(made.answer);
      } catch (error) {
        made.error = error;
        made.failed = true;
        return unknown(null, 'batch read not answered');
      }
    });
    try {
      const summary = await this.guard.status({ payoutId: 'batch', idempotencyKey: key, providerReference: null, currency: 'KES', callbackUrl: '' });
      if (made.failed) throw made.error;
      if (!made.answer) throw new Error(summary.kind === 'unknown' ? summary.detail : 'batch read not made');
      return made.answer;
    } finally {
      this.calls.forget(key);
    }
  };

  /** One batch read per batch for the status queries that ask together (batchLookupReuseMs). */
  private lookup(record: BatchRecord): Promise<BatchLookup> {
    const seen = this.fresh(record.batchKey);
    if (seen) return seen.lookup;
    const lookup = (async () => {
      const found = await this.client.batchStatus(record.batchKey, record.serverCorrelationId, this.read);
      // A parsed two-step batch is approved once per read, whatever number of its items asked.
      if (found.kind === 'found' && found.view.status === 'created' && this.bulk.approval === 'two-step') await this.approve(record, found.view.batchId);
      return found;
    })();
    this.shared.set(record.batchKey.toLowerCase(), { at: Date.now(), record, lookup });
    for (const [key, entry] of this.shared) if (Date.now() - entry.at >= batchLookupReuseMs) this.shared.delete(key);
    return lookup;
  }

  /** The read of a batch made within batchLookupReuseMs, with the record it was made for. */
  private fresh(batchKey: string): { readonly record: BatchRecord; readonly lookup: Promise<BatchLookup> } | null {
    const seen = this.shared.get(batchKey.toLowerCase());
    return seen && Date.now() - seen.at < batchLookupReuseMs ? seen : null;
  }

  private queryOf(request: SubmitRequest): StatusQuery {
    return { payoutId: request.payoutId, idempotencyKey: request.idempotencyKey, providerReference: null, currency: request.currency, callbackUrl: request.callbackUrl };
  }

  /**
   * An item's outcome from its batch. When the batch was never created, the item may have been
   * sent alone since (under its own key): that is asked as a single payment, whose "absent" means
   * it may go (again) alone under the same key.
   */
  private async itemOutcome(query: StatusQuery, record: BatchRecord): Promise<ProviderOutcome> {
    const itemKey = query.idempotencyKey;
    const found = await this.lookup(record);
    const reference = batchItemReference(record.batchKey);
    switch (found.kind) {
      case 'not-created': {
        const alone = await this.guard.status({ ...query, providerReference: null });
        return alone.kind === 'absent' ? absent('gsma:batch:not-created', 'neither its batch nor the item alone was created: send it alone under its own key') : alone;
      }
      case 'rejected':
      case 'unknown':
        return found.outcome;
      case 'found': {
        if (found.view.status === 'created') return pending(reference);
        return found.items.get(itemKey.toLowerCase()) ?? unlistedItemOutcome(found.view, reference);
      }
    }
  }

  /** Approves a parsed two-step batch once (a second ask under the same approval key is a harmless duplicate). */
  private async approve(record: BatchRecord, batchId: string): Promise<void> {
    const current = (await this.index.find(record.batchKey)) ?? record;
    const approvalKey = current.approvalKey ?? randomUUID();
    if (!current.approvalKey) await this.index.approving(record.batchKey, approvalKey);
    try {
      const sent = await this.write(this.approvalCall, () => this.client.approveBatch(batchId, approvalKey));
      this.logger.info({ batchKey: record.batchKey, answer: 'answer' in sent ? sent.answer.kind : sent.summary.kind }, 'GSMA batch approval sent');
    } catch (error) {
      // Refused unsent (breaker open, account held): the batch stays created, and a later read approves it, under the same key.
      if (!(error instanceof ProviderUnavailableError)) throw error;
      this.logger.info({ batchKey: record.batchKey, reason: error.message }, 'GSMA batch approval not sent: the account is unavailable');
    }
  }

  /** What the guard is shown of an approval (it carries no payment of its own). */
  private readonly approvalCall: SubmitRequest = { payoutId: 'batch', idempotencyKey: 'approval', msisdn: '', amountMinor: 0n, currency: 'KES', callbackUrl: '' };

  shutdown(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    // Never sent: their attempts are void, as when the breaker refuses.
    for (const w of this.waiting.splice(0)) w.reject(new ProviderUnavailableError('gsma', `${this.accountId} is shutting down`));
    this.guard.shutdown();
  }
}

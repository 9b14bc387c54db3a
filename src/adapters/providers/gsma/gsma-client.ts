// GSMA Mobile Money API v1.2 client for single disbursements: OAuth client-credentials token
// shared per credential (TokenCache), POST /transactions/type/disbursement under our idempotency
// key as X-CorrelationID (or POST /transactions with the type in the body, as the account says),
// with the account's X-API-Key, X-Client-Id and X-Date on every call, and status by request state, transaction view or missing-response
// retrieval (/responses). Provider trouble is an `unknown` outcome, never a throw.
import type { Logger } from 'pino';
import type { ProviderAdapter, StatusQuery, SubmitRequest } from '../../../application/ports.js';
import { failed, unknown, type ProviderOutcome } from '../../../domain/provider-outcome.js';
import {
  approvalPatch,
  gsmaBatchItemsMax,
  mapBatchRequestAnswer,
  readBatchObject,
  readCompletion,
  readRejection,
  toBatchRequest,
  type BatchRequestAnswer,
  type BatchView,
} from './gsma-bulk-mapping.js';
import { callProvider, jsonOf, type AnswerHeaders } from '../http-transport.js';
import { errorDetail, expiresInSeconds, TokenCache, type FetchedToken } from '../token-cache.js';
import {
  accountHeaders,
  mapCreateResponse,
  mapRequestState,
  mapResponsesLookup,
  mapTransaction,
  notCreated,
  readErrorObject,
  toDisbursementRequest,
  uuidPattern,
  type GsmaDateHeader,
  type GsmaDisbursementForm,
  type GsmaParty,
} from './mapping.js';

/** A response body larger than this is not a GSMA answer: read no further. */
export const gsmaResponseBytesMax = 64 * 1024;
/** Completions or rejections read per page, pages read per list at most, and a page's bytes at most. */
export const gsmaBatchPageLimit = 200;
export const gsmaBatchPagesMax = Math.ceil(gsmaBatchItemsMax / gsmaBatchPageLimit) + 1;
export const gsmaBatchPageBytesMax = 1024 * 1024;

/** What a batch query found. */
export type BatchLookup =
  /** Nothing was created under the batch's X-CorrelationID: the same request may be sent again. */
  | { readonly kind: 'not-created' }
  /** The batch was rejected whole: every item has this outcome. */
  | { readonly kind: 'rejected'; readonly outcome: ProviderOutcome }
  | { readonly kind: 'unknown'; readonly outcome: ProviderOutcome }
  /** The batch, and the outcome of every item it has listed as completed or rejected so far (by item key, lower-case). */
  | { readonly kind: 'found'; readonly view: BatchView; readonly items: ReadonlyMap<string, ProviderOutcome> };

/** Runs one read of a batch lookup (one provider call): the bulk account's guard counts each. */
export type BatchReadGate = (read: () => Promise<GsmaAnswer>) => Promise<GsmaAnswer>;

/** The token lifetime assumed when the provider sends no usable expires_in. */
export const gsmaTokenFallbackLifetimeS = 3600;
/** Error details kept in an outcome at most (they go to logs and the database). */
const detailCharsMax = 200;

export interface GsmaSettings {
  /** Up to and including the API version and "/mm", e.g. https://sandbox.mobilemoneyapi.io/2/oauth/simulator/v1.2/mm */
  readonly baseUrl: string;
  /** Where POST /oauth/accesstoken lives when it is not under baseUrl (the GSMA sandbox: https://sandbox.mobilemoneyapi.io/v1). */
  readonly tokenBaseUrl?: string;
  readonly consumerKey: string;
  readonly consumerSecret: string;
  /** Sent as X-API-Key (STANDARD/ENHANCED security levels). */
  readonly apiKey?: string;
  /** Sent as X-Client-Id on every call: the pre-shared client identifier some providers ask for. */
  readonly clientId?: string;
  /** Which of the specification's two forms creates a disbursement (default type-in-path). */
  readonly disbursementForm?: GsmaDisbursementForm;
  /** How X-Date is written on every call, or none sent (default date-time, as the OAS has it). */
  readonly dateHeader?: GsmaDateHeader;
  /** Our disbursement account, e.g. [{ key: 'walletid', value: '1' }]. */
  readonly debitParty: readonly GsmaParty[];
  readonly timeoutMs: number;
}

/** An account's GSMA settings as the accounts file gives them (null where absent). */
export interface GsmaAccountClientSettings {
  readonly baseUrl: string;
  readonly tokenBaseUrl: string | null;
  readonly consumerKey: string;
  readonly consumerSecret: string;
  readonly apiKey: string | null;
  readonly clientId?: string | null;
  readonly disbursementForm?: GsmaDisbursementForm;
  readonly dateHeader?: GsmaDateHeader;
  readonly debitParty: readonly GsmaParty[];
}

/** The client's settings for an account's, with the runtime's timeout. */
export function gsmaClientSettings(account: GsmaAccountClientSettings, timeoutMs: number): GsmaSettings {
  return {
    baseUrl: account.baseUrl,
    ...(account.tokenBaseUrl ? { tokenBaseUrl: account.tokenBaseUrl } : {}),
    consumerKey: account.consumerKey,
    consumerSecret: account.consumerSecret,
    ...(account.apiKey ? { apiKey: account.apiKey } : {}),
    ...(account.clientId ? { clientId: account.clientId } : {}),
    disbursementForm: account.disbursementForm ?? 'type-in-path',
    dateHeader: account.dateHeader ?? 'date-time',
    debitParty: account.debitParty,
    timeoutMs,
  };
}

/** An answer: its status, its body as JSON (null when too large, empty or not JSON), and its headers. */
export interface GsmaAnswer {
  readonly status: number;
  readonly body: unknown;
  readonly headers: AnswerHeaders;
}
type Answer = GsmaAnswer;

/** How an answer is read: its body up to `bytesMax`, and the caller's `signal` besides the timeout. */
export interface GsmaReadOptions {
  readonly bytesMax: number;
  readonly signal?: AbortSignal;
}
const defaultRead: GsmaReadOptions = { bytesMax: gsmaResponseBytesMax };

export class GsmaClient implements ProviderAdapter {
  readonly id = 'gsma' as const;
  private readonly tokens: TokenCache;

  constructor(private readonly settings: GsmaSettings, private readonly logger: Logger) {
    this.tokens = new TokenCache(() => this.fetchToken());
  }

  async submit(req: SubmitRequest): Promise<ProviderOutcome> {
    let request: ReturnType<typeof toDisbursementRequest>;
    try {
      request = toDisbursementRequest(req, this.settings);
    } catch {
      // Nothing was sent: a request we cannot build is certainly not executed.
      return failed('request_invalid', 'gsma:local:unbuildable-request');
    }
    try {
      const answer = await this.authorised('POST', request.path, request.headers, JSON.stringify(request.body));
      return mapCreateResponse(answer.status, answer.body);
    } catch (error) {
      // A timeout or a reset connection: the request may have landed. Same X-CorrelationID, status query.
      return unknown(null, `no answer: ${describe(error)}`);
    }
  }

  /**
   * With a serverCorrelationId (from the 202): the request state, then the transaction it names.
   * Without one, or when the provider does not know it: GET /responses/{X-CorrelationID} and the
   * transaction its link names; 404 there means nothing was created for the key.
   */
  async status(query: StatusQuery): Promise<ProviderOutcome> {
    try {
      if (query.providerReference && uuidPattern.test(query.providerReference)) {
        const state = await this.get(`/requeststates/${encodeURIComponent(query.providerReference)}`);
        if (state.status !== 404) {
          const outcome = mapRequestState(state.status, state.body);
          if (outcome.kind !== 'paid' || !outcome.providerReference) return outcome;
          // Completed: the transaction's own status is the receipt; if it cannot be read, the completed state stands.
          const tx = await this.get(`/transactions/${encodeURIComponent(outcome.providerReference)}`);
          return tx.status === 200 ? mapTransaction(tx.status, tx.body) : outcome;
        }
      }
      const lookup = await this.get(`/responses/${encodeURIComponent(query.idempotencyKey)}`);
      const found = mapResponsesLookup(lookup.status, lookup.body);
      if (found.kind === 'not-created') return notCreated();
      if (found.kind === 'unknown') return found.outcome;
      const tx = await this.get(`/transactions/${encodeURIComponent(found.transactionReference)}`);
      return mapTransaction(tx.status, tx.body);
    } catch (error) {
      return unknown(null, `status not answered: ${describe(error)}`);
    }
  }

  // ---------- bulk (/batchtransactions) ----------

  /** POST /batchtransactions of `items` under the batch's own X-CorrelationID. Never throws: no answer is unknown. */
  async createBatch(batchKey: string, items: readonly SubmitRequest[], callbackUrl: string | null): Promise<BatchRequestAnswer> {
    let request: ReturnType<typeof toBatchRequest>;
    try {
      request = toBatchRequest(batchKey, items, this.settings.debitParty, callbackUrl);
    } catch {
      return { kind: 'refused', outcome: failed('request_invalid', 'gsma:local:unbuildable-batch') };
    }
    try {
      const answer = await this.authorised('POST', request.path, request.headers, JSON.stringify(request.body));
      return mapBatchRequestAnswer(answer.status, answer.body);
    } catch (error) {
      return { kind: 'unknown', outcome: unknown(null, `no answer: ${describe(error)}`) };
    }
  }

  /** PATCH /batchtransactions/{batchId} to approved (two-step accounts), under its own X-CorrelationID. */
  async approveBatch(batchId: string, approvalKey: string): Promise<BatchRequestAnswer> {
    try {
      const answer = await this.authorised('PATCH', `/batchtransactions/${encodeURIComponent(batchId)}`, { 'X-CorrelationID': approvalKey, 'Content-Type': 'application/json' }, JSON.stringify(approvalPatch));
      return mapBatchRequestAnswer(answer.status, answer.body);
    } catch (error) {
      return { kind: 'unknown', outcome: unknown(null, `no answer: ${describe(error)}`) };
    }
  }

  /**
   * What became of the batch sent under `batchKey`: by its request state when the 202 named one,
   * else by missing-response retrieval (/responses/{batchKey}); then the batch itself and, once it
   * runs, every item's outcome from its completions and rejections. Each of these reads is one
   * provider call made through `each` (the bulk account passes each through its call limits).
   */
  async batchStatus(batchKey: string, serverCorrelationId: string | null, each: BatchReadGate = (read) => read()): Promise<BatchLookup> {
    try {
      let batchId: string | null = null;
      if (serverCorrelationId && uuidPattern.test(serverCorrelationId)) {
        const state = await each(() => this.get(`/requeststates/${encodeURIComponent(serverCorrelationId)}`));
        if (state.status === 200) {
          const answer = mapBatchRequestAnswer(202, state.body);
          if (answer.kind === 'refused') return { kind: 'rejected', outcome: answer.outcome };
          if (answer.kind === 'accepted') batchId = answer.batchId;
        }
      }
      if (!batchId) {
        const lookup = await each(() => this.get(`/responses/${encodeURIComponent(batchKey)}`));
        if (lookup.status === 404) return { kind: 'not-created' };
        const link = lookup.status === 200 ? (lookup.body as { link?: unknown } | null)?.link : undefined;
        const match = typeof link === 'string' && link.length <= 2048 ? /\/batchtransactions\/([^/?#]+)\/?(?:[?#].*)?$/.exec(link) : null;
        if (!match?.[1]) return { kind: 'unknown', outcome: unknown(null, `batch lookup answered HTTP ${lookup.status}`) };
        batchId = decodeURIComponent(match[1]);
        if (batchId.length > 256 || /[/\\]/.test(batchId)) return { kind: 'unknown', outcome: unknown(null, 'batch link names no batch') };
      }
      const viewed = await each(() => this.get(`/batchtransactions/${encodeURIComponent(batchId)}`));
      const view = viewed.status === 200 ? readBatchObject(viewed.body) : null;
      if (!view) return { kind: 'unknown', outcome: unknown(null, `batch view answered HTTP ${viewed.status}`) };
      if (view.status === 'created') return { kind: 'found', view, items: new Map() };
      const items = new Map<string, ProviderOutcome>();
      for (const list of ['completions', 'rejections'] as const) {
        const read = list === 'completions' ? readCompletion : readRejection;
        for (let page = 0, offset = 0; page < gsmaBatchPagesMax; page++) {
          const answer = await each(() => this.read(`/batchtransactions/${encodeURIComponent(view.batchId)}/${list}?limit=${gsmaBatchPageLimit}&offset=${offset}`, { bytesMax: gsmaBatchPageBytesMax }));
          if (answer.status !== 200 || !Array.isArray(answer.body)) return { kind: 'unknown', outcome: unknown(null, `batch ${list} answered HTTP ${answer.status}`) };
          for (const entry of answer.body as unknown[]) {
            const item = read(entry);
            if (item && !items.has(item.itemKey)) items.set(item.itemKey, item.outcome);
          }
          offset += answer.body.length;
          // The count the provider says it has decides (a provider may cap a page below our limit);
          // without it, a short page is the last.
          const header = answer.headers.get('x-records-available-count');
          const available = header !== null && /^[0-9]{1,9}$/.test(header) ? Number(header) : null;
          if (answer.body.length === 0 || (available !== null ? offset >= available : answer.body.length < gsmaBatchPageLimit)) break;
        }
      }
      return { kind: 'found', view, items };
    } catch (error) {
      return { kind: 'unknown', outcome: unknown(null, `batch status not answered: ${describe(error)}`) };
    }
  }

  private get(path: string): Promise<Answer> {
    return this.read(path, defaultRead);
  }

  /**
   * GET `path` (under baseUrl) with the shared token, as the status queries read: for list calls
   * (statement entries, see gsma-statement.ts), which need the headers, larger bodies and the
   * caller's signal. Throws when there is no answer (timeout, reset, abort).
   */
  read(path: string, options: GsmaReadOptions): Promise<GsmaAnswer> {
    return this.authorised('GET', path, {}, undefined, options);
  }

  /**
   * Sends with the shared token. A 401 that is about the token (no ErrorObject, or
   * clientAuthorisationError) is retried once with a fresh token and the SAME headers, hence the
   * same X-CorrelationID: if the first one did land, the provider refuses the second as a duplicate.
   */
  private async authorised(method: 'GET' | 'POST' | 'PATCH', path: string, headers: Readonly<Record<string, string>>, body: string | undefined, options: GsmaReadOptions = defaultRead): Promise<Answer> {
    const token = await this.tokens.get();
    const first = await this.send(method, path, headers, body, token, options);
    if (first.status !== 401) return first;
    const code = readErrorObject(first.body)?.code.toLowerCase();
    if (code !== undefined && code !== 'clientauthorisationerror') return first;
    this.tokens.invalidate(token);
    return this.send(method, path, headers, body, await this.tokens.get(), options);
  }

  private async send(method: 'GET' | 'POST' | 'PATCH', path: string, headers: Readonly<Record<string, string>>, body: string | undefined, token: string, options: GsmaReadOptions): Promise<Answer> {
    const res = await callProvider(`${this.settings.baseUrl}${path}`, {
      method,
      headers: {
        ...headers,
        ...accountHeaders(this.settings, new Date()),
        Accept: 'application/json',
        Authorization: `Bearer ${token}`,
      },
      ...(body === undefined ? {} : { body }),
      timeoutMs: this.settings.timeoutMs,
      ...(options.signal ? { signal: options.signal } : {}),
      bytesMax: options.bytesMax,
    });
    return { status: res.status, body: jsonOf(res.body), headers: res.headers };
  }

  private async fetchToken(): Promise<FetchedToken> {
    const basic = Buffer.from(`${this.settings.consumerKey}:${this.settings.consumerSecret}`).toString('base64');
    const res = await callProvider(`${this.settings.tokenBaseUrl ?? this.settings.baseUrl}/oauth/accesstoken`, {
      method: 'POST',
      headers: { Authorization: `Basic ${basic}`, 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
      body: 'grant_type=client_credentials',
      timeoutMs: this.settings.timeoutMs,
      bytesMax: gsmaResponseBytesMax,
    });
    const body = jsonOf(res.body) as { access_token?: unknown; expires_in?: unknown } | null;
    if (res.status !== 200 || typeof body?.access_token !== 'string' || body.access_token.length === 0) {
      this.logger.warn({ provider: 'gsma', status: res.status }, 'GSMA OAuth refused');
      throw new Error(`GSMA OAuth answered HTTP ${res.status}`);
    }
    return { value: body.access_token, expiresInS: expiresInSeconds(body.expires_in, gsmaTokenFallbackLifetimeS) };
  }
}

const describe = (error: unknown): string => errorDetail(error, detailCharsMax);

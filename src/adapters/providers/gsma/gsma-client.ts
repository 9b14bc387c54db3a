// GSMA Mobile Money API v1.2 client for single disbursements: OAuth client-credentials token
// shared per credential (TokenCache), POST /transactions/type/disbursement under our idempotency
// key as X-CorrelationID (or POST /transactions with the type in the body, as the account says),
// with the account's X-API-Key, X-Client-Id and X-Date on every call, and status by request state, transaction view or missing-response
// retrieval (/responses). Provider trouble is an `unknown` outcome, never a throw.
import type { Logger } from 'pino';
import type { ProviderAdapter, StatusQuery, SubmitRequest } from '../../../application/ports.js';
import { failed, unknown, type ProviderOutcome } from '../../../domain/provider-outcome.js';
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
  readonly headers: Headers;
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
  private async authorised(method: 'GET' | 'POST', path: string, headers: Readonly<Record<string, string>>, body: string | undefined, options: GsmaReadOptions = defaultRead): Promise<Answer> {
    const token = await this.tokens.get();
    const first = await this.send(method, path, headers, body, token, options);
    if (first.status !== 401) return first;
    const code = readErrorObject(first.body)?.code.toLowerCase();
    if (code !== undefined && code !== 'clientauthorisationerror') return first;
    this.tokens.invalidate(token);
    return this.send(method, path, headers, body, await this.tokens.get(), options);
  }

  private async send(method: 'GET' | 'POST', path: string, headers: Readonly<Record<string, string>>, body: string | undefined, token: string, options: GsmaReadOptions): Promise<Answer> {
    const timeout = AbortSignal.timeout(this.settings.timeoutMs);
    const res = await fetch(`${this.settings.baseUrl}${path}`, {
      method,
      headers: {
        ...headers,
        ...accountHeaders(this.settings, new Date()),
        Accept: 'application/json',
        Authorization: `Bearer ${token}`,
      },
      ...(body === undefined ? {} : { body }),
      signal: options.signal ? AbortSignal.any([options.signal, timeout]) : timeout,
    });
    return { status: res.status, body: await readJson(res, options.bytesMax), headers: res.headers };
  }

  private async fetchToken(): Promise<FetchedToken> {
    const basic = Buffer.from(`${this.settings.consumerKey}:${this.settings.consumerSecret}`).toString('base64');
    const res = await fetch(`${this.settings.tokenBaseUrl ?? this.settings.baseUrl}/oauth/accesstoken`, {
      method: 'POST',
      headers: { Authorization: `Basic ${basic}`, 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
      body: 'grant_type=client_credentials',
      signal: AbortSignal.timeout(this.settings.timeoutMs),
    });
    const body = (await readJson(res)) as { access_token?: unknown; expires_in?: unknown } | null;
    if (res.status !== 200 || typeof body?.access_token !== 'string' || body.access_token.length === 0) {
      this.logger.warn({ provider: 'gsma', status: res.status }, 'GSMA OAuth refused');
      throw new Error(`GSMA OAuth answered HTTP ${res.status}`);
    }
    return { value: body.access_token, expiresInS: expiresInSeconds(body.expires_in, gsmaTokenFallbackLifetimeS) };
  }
}

const describe = (error: unknown): string => errorDetail(error, detailCharsMax);

/** The body as JSON, read at most `bytesMax` bytes (gsmaResponseBytesMax by default); null when larger, empty or not JSON. */
async function readJson(res: Response, bytesMax = gsmaResponseBytesMax): Promise<unknown> {
  if (!res.body) return null;
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    size += chunk.byteLength;
    // Leaving the loop early cancels the stream: the rest is never read.
    if (size > bytesMax) return null;
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    return null;
  }
}

// M-Pesa Daraja client: OAuth token shared per credential (TokenCache: refreshed before expiry,
// one refresh in flight, since each new token invalidates the previous one), B2C payment
// request, Transaction Status query. Provider trouble is an `unknown` outcome, never a throw.
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { ProviderAdapter, StatusQuery, SubmitRequest } from '../../../application/ports.js';
import { unknown, type ProviderOutcome } from '../../../domain/provider-outcome.js';
import { callProvider, jsonOf } from '../http-transport.js';
import { errorDetail, expiresInSeconds, TokenCache, type FetchedToken, type SharedTokenStore } from '../token-cache.js';
import { mapB2CResponse, mapStatusQueryAck, toB2CRequest, toStatusQueryRequest } from './mapping.js';

/** A response body larger than this is not a Daraja answer: read no further. */
const responseBytesMax = 64 * 1024;

/** One Daraja account: where, the app's credentials, the shortcode and its initiator. */
export interface MpesaSettings {
  readonly baseUrl: string;
  readonly consumerKey: string;
  readonly consumerSecret: string;
  readonly shortcode: string;
  readonly initiatorName: string;
  readonly securityCredential: string;
}

export class MpesaClient implements ProviderAdapter {
  readonly id = 'mpesa' as const;
  private readonly tokens: TokenCache;

  /**
   * `sharedTokens`: where every process of the deployment keeps this credential's token (Daraja
   * invalidates a credential's previous token with each new one, so processes that fetched their
   * own would refuse each other's calls); without it the token is this client's own.
   */
  constructor(private readonly config: MpesaSettings, private readonly timeoutMs: number, private readonly logger: Logger, sharedTokens?: SharedTokenStore) {
    const credential = `mpesa:${createHash('sha256').update(`${config.baseUrl}\n${config.consumerKey}`).digest('hex')}`;
    this.tokens = new TokenCache(() => this.fetchToken(), Date.now, sharedTokens ? { store: sharedTokens, credential } : null);
  }

  /**
   * Asks Daraja about the payment sent under `query.idempotencyKey`. Daraja answers the query
   * asynchronously (to the attempt's callback URL + "/status"): this returns pending once the query
   * is accepted, unknown otherwise; never a payment outcome by itself.
   */
  async status(query: StatusQuery): Promise<ProviderOutcome> {
    try {
      const response = await this.postAuthorised('/mpesa/transactionstatus/v1/query', toStatusQueryRequest(query, this.config));
      return mapStatusQueryAck(response.status, response.body);
    } catch (error) {
      return unknown(null, `status query not answered: ${error instanceof Error ? error.name : 'error'}`);
    }
  }

  async submit(req: SubmitRequest): Promise<ProviderOutcome> {
    const body = toB2CRequest(req, this.config);
    try {
      const response = await this.postAuthorised('/mpesa/b2c/v3/paymentrequest', body);
      return mapB2CResponse(response.status, response.body);
    } catch (error) {
      // A timeout or a reset connection: the request may have landed. Same key, status query.
      return unknown(null, `no answer: ${errorDetail(error, 200)}`.slice(0, 200));
    }
  }

  /** Posts with the shared token; a 401 (our token was invalidated by a newer one) retries once, same body, same key. */
  private async postAuthorised(path: string, body: unknown): Promise<{ status: number; body: unknown }> {
    const token = await this.tokens.get();
    const response = await this.post(path, body, token);
    if (response.status !== 401) return response;
    this.tokens.invalidate(token);
    return this.post(path, body, await this.tokens.get());
  }

  private async post(path: string, body: unknown, token: string): Promise<{ status: number; body: unknown }> {
    const res = await callProvider(`${this.config.baseUrl}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      timeoutMs: this.timeoutMs,
      bytesMax: responseBytesMax,
    });
    return { status: res.status, body: jsonOf(res.body) };
  }

  private async fetchToken(): Promise<FetchedToken> {
    const basic = Buffer.from(`${this.config.consumerKey}:${this.config.consumerSecret}`).toString('base64');
    const res = await callProvider(`${this.config.baseUrl}/oauth/v1/generate?grant_type=client_credentials`, {
      method: 'GET',
      headers: { authorization: `Basic ${basic}` },
      timeoutMs: this.timeoutMs,
      bytesMax: responseBytesMax,
    });
    const body = jsonOf(res.body) as { access_token?: unknown; expires_in?: unknown } | null;
    if (res.status !== 200 || typeof body?.access_token !== 'string') {
      this.logger.warn({ status: res.status }, 'M-Pesa OAuth refused');
      throw new Error(`M-Pesa OAuth answered HTTP ${res.status}`);
    }
    // Daraja sends expires_in as a number or a string ("3599").
    return { value: body.access_token, expiresInS: expiresInSeconds(body.expires_in, 3599) };
  }
}

// MTN MoMo Disbursement client: access token shared per credential (TokenCache), Transfer under
// X-Reference-Id = Tuma's idempotency key, status by the same id. Provider trouble (timeouts,
// resets, 5xx, unreadable bodies) is an `unknown` outcome, never a throw and never `failed`.
// One MomoClient per credential (apiUserId + subscription key): its TokenCache is that credential's.
import type { Logger } from 'pino';
import type { ProviderAdapter, StatusQuery, SubmitRequest } from '../../../application/ports.js';
import { unknown, type ProviderOutcome } from '../../../domain/provider-outcome.js';
import { callProvider, jsonOf } from '../http-transport.js';
import { errorDetail, expiresInSeconds, TokenCache, type FetchedToken } from '../token-cache.js';
import { mapTransferResponse, momoReferenceId, mapTransferStatus, toTransferRequest } from './mapping.js';

/** A response body larger than this is not a MoMo answer: read no further. */
export const momoResponseBytesMax = 64 * 1024;
/** MoMo tokens live 3600 s; used when expires_in is missing or unreadable. */
export const momoTokenLifetimeFallbackS = 3600;
/** Longest error detail kept in an outcome. */
const detailCharsMax = 200;

export interface MomoSettings {
  readonly baseUrl: string;
  readonly apiUserId: string;
  readonly apiKey: string;
  /** Ocp-Apim-Subscription-Key of the Disbursement product (the Collection key is another). */
  readonly subscriptionKey: string;
  /** "sandbox" or the market, e.g. "mtnuganda". */
  readonly targetEnvironment: string;
  readonly timeoutMs: number;
}

interface Answer {
  readonly status: number;
  readonly body: unknown;
}

export class MomoClient implements ProviderAdapter {
  readonly id = 'mtn-momo' as const;
  private readonly tokens: TokenCache;

  constructor(private readonly settings: MomoSettings, private readonly logger?: Logger) {
    this.tokens = new TokenCache(() => this.fetchToken());
  }

  async submit(req: SubmitRequest): Promise<ProviderOutcome> {
    const { headers, body } = toTransferRequest(req, this.settings);
    try {
      const answer = await this.authorised((token) => this.call('POST', '/disbursement/v1_0/transfer', token, { ...headers }, JSON.stringify(body)));
      return mapTransferResponse(answer.status, answer.body);
    } catch (error) {
      // A timeout or a reset: the transfer may exist. Same reference id, status query.
      return unknown(null, `no answer: ${describe(error)}`);
    }
  }

  async status(query: StatusQuery): Promise<ProviderOutcome> {
    const referenceId = momoReferenceId(query.idempotencyKey);
    try {
      const path = `/disbursement/v1_0/transfer/${encodeURIComponent(referenceId)}`;
      const answer = await this.authorised((token) => this.call('GET', path, token, { 'X-Target-Environment': this.settings.targetEnvironment }));
      return mapTransferStatus(answer.status, answer.body);
    } catch (error) {
      return unknown(null, `status query not answered: ${describe(error)}`);
    }
  }

  /** Calls with the shared token; a 401 invalidates exactly that token and retries once (same request, same X-Reference-Id). */
  private async authorised(send: (token: string) => Promise<Answer>): Promise<Answer> {
    const token = await this.tokens.get();
    const answer = await send(token);
    if (answer.status !== 401) return answer;
    this.tokens.invalidate(token);
    return send(await this.tokens.get());
  }

  private async call(method: 'GET' | 'POST', path: string, token: string, headers: Record<string, string>, body?: string): Promise<Answer> {
    const res = await callProvider(`${this.settings.baseUrl}${path}`, {
      method,
      headers: { ...headers, authorization: `Bearer ${token}`, 'ocp-apim-subscription-key': this.settings.subscriptionKey },
      ...(body === undefined ? {} : { body }),
      timeoutMs: this.settings.timeoutMs,
      bytesMax: momoResponseBytesMax,
      unreadableBody: 'null',
    });
    return { status: res.status, body: jsonOf(res.body) };
  }

  private async fetchToken(): Promise<FetchedToken> {
    const basic = Buffer.from(`${this.settings.apiUserId}:${this.settings.apiKey}`).toString('base64');
    const res = await callProvider(`${this.settings.baseUrl}/disbursement/token/`, {
      method: 'POST',
      headers: { authorization: `Basic ${basic}`, 'ocp-apim-subscription-key': this.settings.subscriptionKey },
      timeoutMs: this.settings.timeoutMs,
      bytesMax: momoResponseBytesMax,
      unreadableBody: 'null',
    });
    const body = jsonOf(res.body) as { access_token?: unknown; expires_in?: unknown } | null;
    if (res.status !== 200 || typeof body?.access_token !== 'string' || body.access_token.length === 0) {
      this.logger?.warn({ provider: this.id, status: res.status }, 'MoMo token refused');
      throw new Error(`MoMo token endpoint answered HTTP ${res.status}`);
    }
    return { value: body.access_token, expiresInS: expiresInSeconds(body.expires_in, momoTokenLifetimeFallbackS) };
  }
}

const describe = (error: unknown): string => errorDetail(error, detailCharsMax);

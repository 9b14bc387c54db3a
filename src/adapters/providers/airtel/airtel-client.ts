// Airtel Money Disbursement v2 client: OAuth2 client-credentials token shared per credential
// (TokenCache; Airtel's live 180 s and come with expires_in as a string), the v2 disbursement
// under transaction.id = Tuma's idempotency key (hyphenless), and the enquiry by the same id.
// Provider trouble (timeouts, resets, 5xx, unreadable or oversized bodies) is an `unknown`
// outcome, never a throw and never `failed`. One AirtelClient per credential and market
// (X-Country / X-Currency): its TokenCache is that credential's.
//
// Logs carry the provider, HTTP status and codes only: Airtel's messages name the payee.
import { isSupportedCountry } from 'libphonenumber-js/mobile';
import type { Logger } from 'pino';
import type { ProviderAdapter, StatusQuery, SubmitRequest } from '../../../application/ports.js';
import { isCurrencyCode, type CurrencyCode } from '../../../domain/currency.js';
import { failed, unknown, type ProviderOutcome } from '../../../domain/provider-outcome.js';
import { callProvider, jsonOf } from '../http-transport.js';
import { errorDetail, expiresInSeconds, TokenCache, type FetchedToken } from '../token-cache.js';
import { airtelHeaders, airtelTransactionId, airtelTransactionType, isTokenRefusal, mapDisburseResponse, mapEnquiryResponse, readAnswer, toDisbursementRequest } from './mapping.js';

/** A response body larger than this is not an Airtel answer: read no further. */
export const airtelResponseBytesMax = 64 * 1024;
/** Airtel tokens live 180 s; used when expires_in is missing or unreadable. */
export const airtelTokenLifetimeFallbackS = 180;
/** Longest error detail kept in an outcome. */
const detailCharsMax = 200;

export interface AirtelSettings {
  /** https://openapiuat.airtel.africa or https://openapi.airtel.africa (or a country host). */
  readonly baseUrl: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** X-Country: ISO 3166-1 alpha-2 market of the account, e.g. ZM. Payee numbers must be of it. */
  readonly country: string;
  /** X-Currency: the market's currency, e.g. ZMW. */
  readonly currency: CurrencyCode;
  /** The disbursement PIN encrypted with Airtel's key (encryptAirtelPin), base64; computed once at start. */
  readonly encryptedPin: string;
  readonly timeoutMs: number;
}

interface Answer {
  readonly status: number;
  readonly body: unknown;
}

export class AirtelClient implements ProviderAdapter {
  readonly id = 'airtel' as const;
  private readonly tokens: TokenCache;

  /** Throws at start on settings no request could be built from (they would fail every payout one by one). */
  constructor(private readonly settings: AirtelSettings, private readonly logger?: Logger) {
    const problems = airtelSettingsProblems(settings);
    if (problems.length > 0) throw new Error(`Airtel settings: ${problems.join('; ')}`);
    this.tokens = new TokenCache(() => this.fetchToken());
  }

  async submit(req: SubmitRequest): Promise<ProviderOutcome> {
    let request: ReturnType<typeof toDisbursementRequest>;
    try {
      request = toDisbursementRequest(req, this.settings);
    } catch {
      // Nothing was sent: a request we cannot build (number of another market, other currency) is certainly not executed.
      return failed('request_invalid', 'airtel:local:unbuildable-request');
    }
    try {
      const id = request.body.transaction.id;
      const answer = await this.authorised((token) => this.call('POST', '/standard/v2/disbursements/', token, request.json));
      this.trace('disbursement', answer);
      return mapDisburseResponse(answer.status, answer.body, id);
    } catch (error) {
      // A timeout or a reset: the disbursement may have run. Same transaction.id, enquiry.
      return unknown(null, `no answer: ${describe(error)}`);
    }
  }

  async status(query: StatusQuery): Promise<ProviderOutcome> {
    let id: string;
    try {
      id = airtelTransactionId(query.idempotencyKey);
    } catch {
      return unknown(null, 'the attempt key is not a UUID: no Airtel transaction.id to enquire');
    }
    try {
      const path = `/standard/v2/disbursements/${encodeURIComponent(id)}?transactionType=${airtelTransactionType}`;
      const answer = await this.authorised((token) => this.call('GET', path, token));
      this.trace('enquiry', answer);
      return mapEnquiryResponse(answer.status, answer.body, id);
    } catch (error) {
      return unknown(null, `enquiry not answered: ${describe(error)}`);
    }
  }

  /**
   * Calls with the shared token. A refused token (401, or 403 invalid_token: the gateway refused it
   * before anything ran) is forgotten and the same request, with the same transaction.id, sent once
   * more with a fresh token; a second refusal is forgotten too and returned as it is.
   */
  private async authorised(send: (token: string) => Promise<Answer>): Promise<Answer> {
    const token = await this.tokens.get();
    const first = await send(token);
    if (!isTokenRefusal(first.status, first.body)) return first;
    this.tokens.invalidate(token);
    const fresh = await this.tokens.get();
    const second = await send(fresh);
    if (isTokenRefusal(second.status, second.body)) this.tokens.invalidate(fresh);
    return second;
  }

  private async call(method: 'GET' | 'POST', path: string, token: string, body?: string): Promise<Answer> {
    const res = await callProvider(`${this.settings.baseUrl}${path}`, {
      method,
      headers: { ...airtelHeaders(this.settings), Authorization: `Bearer ${token}` },
      ...(body === undefined ? {} : { body }),
      timeoutMs: this.settings.timeoutMs,
      bytesMax: airtelResponseBytesMax,
      unreadableBody: 'null',
    });
    return { status: res.status, body: jsonOf(res.body) };
  }

  private async fetchToken(): Promise<FetchedToken> {
    const res = await callProvider(`${this.settings.baseUrl}/auth/oauth2/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: '*/*' },
      body: JSON.stringify({ client_id: this.settings.clientId, client_secret: this.settings.clientSecret, grant_type: 'client_credentials' }),
      timeoutMs: this.settings.timeoutMs,
      bytesMax: airtelResponseBytesMax,
      unreadableBody: 'null',
    });
    const body = jsonOf(res.body) as { access_token?: unknown; expires_in?: unknown } | null;
    if (res.status !== 200 || typeof body?.access_token !== 'string' || body.access_token.length === 0) {
      this.logger?.warn({ provider: this.id, status: res.status, error: readAnswer(body).oauthError }, 'Airtel token refused');
      throw new Error(`Airtel token endpoint answered HTTP ${res.status}`);
    }
    return { value: body.access_token, expiresInS: expiresInSeconds(body.expires_in, airtelTokenLifetimeFallbackS) };
  }

  /** Status and codes only: never status.message, which names the payee. */
  private trace(what: 'disbursement' | 'enquiry', answer: Answer): void {
    const a = readAnswer(answer.body);
    this.logger?.debug({ provider: this.id, status: answer.status, responseCode: a.responseCode ?? a.routerCode ?? a.oauthError, letter: a.letter }, `Airtel ${what} answered`);
  }
}

/** What is wrong with the settings, in words that name no secret; [] when they are usable. */
export function airtelSettingsProblems(settings: AirtelSettings): string[] {
  const problems: string[] = [];
  if (!URL.canParse(settings.baseUrl) || !/^https?:$/.test(new URL(settings.baseUrl).protocol)) problems.push('baseUrl is not an http(s) URL');
  if (settings.clientId.length === 0 || settings.clientSecret.length === 0) problems.push('clientId and clientSecret are required');
  if (!/^[A-Z]{2}$/.test(settings.country) || !isSupportedCountry(settings.country)) problems.push('country is not an ISO 3166-1 alpha-2 code');
  if (!isCurrencyCode(settings.currency)) problems.push('currency is not a currency Tuma pays in');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(settings.encryptedPin)) problems.push('encryptedPin is not base64 (encryptAirtelPin makes it)');
  if (!Number.isInteger(settings.timeoutMs) || settings.timeoutMs <= 0) problems.push('timeoutMs is not a positive integer');
  return problems;
}

const describe = (error: unknown): string => errorDetail(error, detailCharsMax);

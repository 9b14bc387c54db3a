// M-Pesa Daraja client: OAuth token cached per credential (refreshed before expiry, one refresh
// in flight, since each new token invalidates the previous one), B2C payment request.
import type { Logger } from 'pino';
import type { PayoutProvider, StatusQuery, SubmitOutcome, SubmitRequest } from '../../../application/ports.js';
import { unknown, type ProviderOutcome } from '../../../domain/provider-outcome.js';
import type { MpesaConfig } from '../../../config/config.js';
import { mapB2CResponse, mapStatusQueryAck, toB2CRequest, toStatusQueryRequest } from './mapping.js';

/** Refresh this long before the token expires. */
const tokenRefreshMarginMs = 60_000;
/** A response body larger than this is not a Daraja answer. */
const responseBytesMax = 64 * 1024;

export class MpesaClient implements PayoutProvider {
  readonly id = 'mpesa' as const;
  private token: { value: string; expiresAtMs: number } | null = null;
  private refreshing: Promise<string> | null = null;

  constructor(private readonly config: MpesaConfig, private readonly timeoutMs: number, private readonly logger: Logger) {}

  /** The bare client has no breaker; GuardedProvider decides availability. */
  available(): boolean {
    return true;
  }

  /**
   * Asks Daraja about the payment sent under `query.idempotencyKey`. Daraja answers the query
   * asynchronously (to the attempt's callback URL + "/status"): this returns pending once the query
   * is accepted, unknown otherwise; never a payment outcome by itself.
   */
  async status(query: StatusQuery): Promise<ProviderOutcome> {
    const body = toStatusQueryRequest(query, this.config);
    try {
      let response = await this.post('/mpesa/transactionstatus/v1/query', body, await this.accessToken());
      if (response.status === 401) {
        this.token = null;
        response = await this.post('/mpesa/transactionstatus/v1/query', body, await this.accessToken());
      }
      return mapStatusQueryAck(response.status, response.body);
    } catch (error) {
      return unknown(null, `status query not answered: ${error instanceof Error ? error.name : 'error'}`);
    }
  }

  async submit(req: SubmitRequest): Promise<SubmitOutcome> {
    const body = toB2CRequest(req, this.config);
    let response = await this.post('/mpesa/b2c/v3/paymentrequest', body, await this.accessToken());
    if (response.status === 401) {
      // Our token was invalidated (another instance refreshed): the request did not run. Same key again.
      this.token = null;
      response = await this.post('/mpesa/b2c/v3/paymentrequest', body, await this.accessToken());
    }
    return mapB2CResponse(response.status, response.body);
  }

  private async post(path: string, body: unknown, token: string): Promise<{ status: number; body: unknown }> {
    const res = await fetch(`${this.config.baseUrl}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    return { status: res.status, body: await readJson(res) };
  }

  private async accessToken(): Promise<string> {
    if (this.token && this.token.expiresAtMs - tokenRefreshMarginMs > Date.now()) return this.token.value;
    this.refreshing ??= this.fetchToken().finally(() => (this.refreshing = null));
    return this.refreshing;
  }

  private async fetchToken(): Promise<string> {
    const basic = Buffer.from(`${this.config.consumerKey}:${this.config.consumerSecret}`).toString('base64');
    const res = await fetch(`${this.config.baseUrl}/oauth/v1/generate?grant_type=client_credentials`, {
      headers: { authorization: `Basic ${basic}` },
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    const body = (await readJson(res)) as { access_token?: unknown; expires_in?: unknown } | null;
    if (res.status !== 200 || typeof body?.access_token !== 'string') {
      this.logger.warn({ status: res.status }, 'M-Pesa OAuth refused');
      throw new Error(`M-Pesa OAuth answered HTTP ${res.status}`);
    }
    // Daraja sends expires_in as a number or a string ("3599").
    const expiresInS = Number.parseInt(String(body.expires_in ?? '3599'), 10);
    this.token = { value: body.access_token, expiresAtMs: Date.now() + (Number.isFinite(expiresInS) ? expiresInS : 3599) * 1000 };
    return this.token.value;
  }
}

async function readJson(res: Response): Promise<unknown> {
  const text = await res.text();
  if (text.length > responseBytesMax) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

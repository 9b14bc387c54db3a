// No secret in an outcome's detail or a provider client's log line (issue #19 item 6). A provider
// outcome's detail goes to the logs (the poller logs it) and to the database. fetch names the URL
// it could not use in its error message, and a misconfigured base URL can carry credentials
// ("https://user:secret@host"); a callback URL carries the attempt's token. Every client, and the
// guard around it, keeps the error's name and words but replaces each URL by "[url]".
import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import type { ProviderAdapter, StatusQuery, SubmitRequest } from '../../src/application/ports.js';
import { AirtelClient } from '../../src/adapters/providers/airtel/airtel-client.js';
import { encryptAirtelPin } from '../../src/adapters/providers/airtel/pin.js';
import { GsmaClient } from '../../src/adapters/providers/gsma/gsma-client.js';
import { GuardedProvider } from '../../src/adapters/providers/guarded-provider.js';
import { MpesaClient } from '../../src/adapters/providers/mpesa/mpesa-client.js';
import { MomoClient } from '../../src/adapters/providers/mtn-momo/momo-client.js';
import { errorDetail, withoutUrls } from '../../src/adapters/providers/token-cache.js';
import { newCallbackToken } from '../../src/application/callback-token.js';
import { createLogger } from '../../src/cli/logger.js';
import type { CurrencyCode } from '../../src/domain/currency.js';
import type { ProviderOutcome } from '../../src/domain/provider-outcome.js';
import { logSink } from '../support/log-sink.js';

function logSinkLogger() {
  const { lines, stream } = logSink();
  return { lines, logger: createLogger('trace', 'tuma', stream) };
}

const secret = `pw-${randomBytes(12).toString('hex')}`;
/** Port 9 (discard) on the loopback: nothing is sent anyway, fetch refuses a URL with credentials before connecting. */
const credentialedBase = `http://tuma:${secret}@127.0.0.1:9`;
const airtelKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }).toString();

const clients: readonly [string, CurrencyCode, string, (logger: ReturnType<typeof createLogger>) => ProviderAdapter][] = [
  ['M-Pesa', 'KES', '254712000001', (logger) => new MpesaClient({ baseUrl: credentialedBase, consumerKey: 'k', consumerSecret: 's', shortcode: '600000', initiatorName: 'tuma', securityCredential: 'c' }, 1_000, logger)],
  ['MoMo', 'UGX', '256772000001', (logger) => new MomoClient({ baseUrl: credentialedBase, apiUserId: randomUUID(), apiKey: 'k', subscriptionKey: 's', targetEnvironment: 'sandbox', timeoutMs: 1_000 }, logger)],
  ['GSMA', 'SLE', '23276000001', (logger) => new GsmaClient({ baseUrl: credentialedBase, consumerKey: 'k', consumerSecret: 's', debitParty: [{ key: 'walletid', value: '1' }], timeoutMs: 1_000 }, logger)],
  ['Airtel', 'ZMW', '260971000001', (logger) => new AirtelClient({ baseUrl: credentialedBase, clientId: 'i', clientSecret: 's', country: 'ZM', currency: 'ZMW', encryptedPin: encryptAirtelPin('4321', airtelKey), timeoutMs: 1_000 }, logger)],
];

const detailOf = (o: ProviderOutcome): string => JSON.stringify(o);

describe('provider clients: no credential or token in an outcome or a log line', () => {
  it.each(clients)('%s: a base URL with credentials is unknown, its detail names no URL', async (_name, currency, msisdn, make) => {
    const { lines, logger } = logSinkLogger();
    const client = make(logger);
    const token = newCallbackToken();
    const callbackUrl = `http://127.0.0.1:9/v1/callbacks/x/${token}`;
    const idempotencyKey = randomUUID();
    const submitted = await client.submit({ payoutId: randomUUID(), idempotencyKey, msisdn: `+${msisdn}`, amountMinor: 1_000n, currency, callbackUrl } satisfies SubmitRequest);
    const asked = await client.status({ payoutId: randomUUID(), idempotencyKey, providerReference: null, currency, callbackUrl } satisfies StatusQuery);
    for (const outcome of [submitted, asked]) {
      expect(outcome.kind).toBe('unknown');
      expect(detailOf(outcome)).not.toContain(secret);
      expect(detailOf(outcome)).not.toContain(token);
    }
    // The error is still told: its name and words, less the URL.
    expect(detailOf(submitted)).toContain('[url]');
    for (const line of lines) {
      expect(line).not.toContain(secret);
      expect(line).not.toContain(token);
    }
  });

  it('the guard: a throw whose message names a URL is unknown without it', async () => {
    const { lines, logger } = logSinkLogger();
    const leaky: ProviderAdapter & { readonly id: 'gsma' } = {
      id: 'gsma',
      submit: () => Promise.reject(new TypeError(`Failed to parse URL from ${credentialedBase}/x`)),
      status: () => Promise.reject(new TypeError(`Failed to parse URL from ${credentialedBase}/y`)),
    };
    const guarded = new GuardedProvider(leaky, { timeoutMs: 1_000, errorThresholdPercent: 50, resetTimeoutMs: 1_000, volumeThreshold: 100 }, logger, 'gsma-test');
    try {
      const query = { payoutId: randomUUID(), idempotencyKey: randomUUID(), providerReference: null, currency: 'SLE' as CurrencyCode, callbackUrl: 'http://127.0.0.1:9/cb' };
      const outcomes = [await guarded.submit({ ...query, msisdn: '+23276000001', amountMinor: 1n }), await guarded.status(query)];
      for (const outcome of outcomes) {
        expect(outcome.kind).toBe('unknown');
        expect(detailOf(outcome)).not.toContain(secret);
        expect(detailOf(outcome)).toContain('[url]');
      }
      for (const line of lines) expect(line).not.toContain(secret);
    } finally {
      guarded.shutdown();
    }
  });

  it('errorDetail and withoutUrls: every URL, whatever its scheme, goes; the rest stays', () => {
    expect(withoutUrls(`no: http://a:b@h/p?q=1 and HTTPS://x.y/${'t'.repeat(43)} 'ws://z' done`)).toBe("no: [url] and [url] '[url]' done");
    expect(errorDetail(new TypeError(`Request cannot be constructed from a URL that includes credentials: ${credentialedBase}/x`), 200))
      .toBe('TypeError: Request cannot be constructed from a URL that includes credentials: [url]');
    expect(errorDetail('not an error', 200)).toBe('error');
    expect(errorDetail(new Error('x'.repeat(500)), 50)).toHaveLength(50);
  });
});

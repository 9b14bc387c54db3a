// Structured JSON logs. Beneficiary data and secrets never reach a log: the code never passes them,
// and the paths below are redacted as a second line of defence.
import { pino, type DestinationStream, type Logger } from 'pino';

/**
 * Keys that carry beneficiary data or a credential wherever they stand (at the top of a log line's
 * object or one level down, e.g. `{ settings: { consumerSecret } }`, `{ headers: { authorization } }`):
 * bearer and basic credentials, provider credentials (consumer keys and secrets, API and
 * subscription keys, the Airtel PIN, the M-Pesa SecurityCredential and initiator password, HMAC
 * secrets, issued access tokens) and the callback URLs, whose last segment is the attempt's token.
 */
export const redactedKeys = [
  // beneficiary data
  'msisdn', 'PartyB',
  // bearer / basic credentials and the headers that carry provider keys
  'authorization', 'Authorization', 'cookie', 'ocp-apim-subscription-key', 'Ocp-Apim-Subscription-Key', 'x-api-key', 'X-API-Key',
  // provider credentials as configured
  'password', 'consumerKey', 'consumerSecret', 'clientSecret', 'client_secret', 'apiKey', 'subscriptionKey', 'hmacSecret', 'pin',
  'encryptedPin', 'securityCredential', 'SecurityCredential', 'initiatorPassword',
  // tokens issued to us and the URLs that carry the per-attempt callback token
  'token', 'accessToken', 'access_token', 'callbackUrl', 'callbackToken', 'ResultURL', 'QueueTimeOutURL', 'x-callback-url', 'X-Callback-Url', 'X-Callback-URL',
] as const;

/** fast-redact paths for a key at the top, one level down, and in any object's headers (bracket notation: some keys have hyphens). */
export const redactPaths: readonly string[] = redactedKeys.flatMap((key) => {
  const at = /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key) ? `.${key}` : `["${key}"]`;
  return [at.startsWith('.') ? key : at, `*${at}`, `*.headers${at}`];
});

/** The process's logger; `destination` defaults to stdout (tests pass a stream of their own). */
export function createLogger(level: string, name = 'tuma', destination?: DestinationStream): Logger {
  const options = { name, level, redact: { paths: [...redactPaths], censor: '[redacted]' } };
  return destination ? pino(options, destination) : pino(options);
}

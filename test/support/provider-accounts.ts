// A PROVIDERS_FILE with one account of each provider (M-Pesa KE, MoMo UG, GSMA SL, Airtel ZM), all
// pointing at the simulators through `via`, credentials referenced by the T_* variables the test
// sets. Written into `dir` with the Airtel PIN's public key beside it; returns the file's path.
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export function writeFourProviderAccounts(dir: string, via: string, options: { readonly gsmaApiKey?: boolean; readonly airtelCallbackAuth?: Record<string, unknown> } = {}): string {
  const publicKey = join(dir, 'airtel-public.pem');
  writeFileSync(publicKey, generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }));
  const file = join(dir, 'accounts.json');
  writeFileSync(file, JSON.stringify({
    accounts: [
      {
        id: 'mpesa-ke', provider: 'mpesa', country: 'KE', currency: 'KES', baseUrl: via, shortcode: '600000', initiatorName: 'tuma-initiator',
        consumerKey: { env: 'T_MPESA_KEY' }, consumerSecret: { env: 'T_MPESA_SECRET' }, securityCredential: { env: 'T_MPESA_CREDENTIAL' },
      },
      {
        id: 'momo-ug', provider: 'mtn-momo', country: 'UG', currency: 'UGX', baseUrl: via, targetEnvironment: 'mtnuganda',
        apiUserId: { env: 'T_MOMO_USER' }, apiKey: { env: 'T_MOMO_KEY' }, subscriptionKey: { env: 'T_MOMO_SUB' },
      },
      {
        id: 'gsma-sl', provider: 'gsma', country: 'SL', currency: 'SLE', baseUrl: `${via}/gsma`,
        consumerKey: { env: 'T_GSMA_KEY' }, consumerSecret: { env: 'T_GSMA_SECRET' },
        ...(options.gsmaApiKey ? { apiKey: { env: 'T_GSMA_API_KEY' } } : {}),
        debitParty: [{ key: 'walletid', value: '1' }],
      },
      {
        id: 'airtel-zm', provider: 'airtel', country: 'ZM', currency: 'ZMW', baseUrl: `${via}/airtel`,
        clientId: { env: 'T_AIRTEL_ID' }, clientSecret: { env: 'T_AIRTEL_SECRET' }, pin: { env: 'T_AIRTEL_PIN' }, pinPublicKeyFile: publicKey,
        ...(options.airtelCallbackAuth ? { callbackAuth: options.airtelCallbackAuth } : {}),
      },
    ],
  }));
  return file;
}

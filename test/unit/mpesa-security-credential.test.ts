// Daraja's SecurityCredential computed from the initiator password and Safaricom's certificate:
// RSA PKCS#1 v1.5 with the certificate's key, base64; configured once and checked at start.
import { constants, generateKeyPairSync, privateDecrypt } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mpesaSecurityCredential } from '../../src/adapters/providers/mpesa/security-credential.js';
import { ConfigError, loadConfig, type Config } from '../../src/config/config.js';

function mpesaSettingsOf(config: Config) {
  const account = config.providers.accounts.find((a) => a.provider === 'mpesa');
  if (account?.provider !== 'mpesa') throw new Error('no M-Pesa account');
  return account.settings;
}

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const rsaPem = rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString();
const ecPem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
/**
 * What Safaricom does with the credential. Node refuses PKCS#1 v1.5 private decryption (the Marvin
 * attack), so the test decrypts raw and checks the padding itself: 00 02 <non-zero bytes> 00 <message>.
 */
function open(credential: string): string {
  const block = privateDecrypt({ key: rsa.privateKey, padding: constants.RSA_NO_PADDING }, Buffer.from(credential, 'base64'));
  const separator = block.indexOf(0, 2);
  if (block[0] !== 0 || block[1] !== 2 || separator < 10) throw new Error('not PKCS#1 v1.5 encryption padding');
  return block.subarray(separator + 1).toString('utf8');
}

describe('the M-Pesa security credential', () => {
  it('when the password is encrypted with the certificate key, then Safaricom (the private key) reads it back, and each encryption differs', () => {
    const a = mpesaSecurityCredential('Safaricom999!*!', rsaPem);
    const b = mpesaSecurityCredential('Safaricom999!*!', rsaPem);
    expect(open(a)).toBe('Safaricom999!*!');
    expect(a).not.toBe(b);
  });

  it.each([
    ['not PEM', 'hello', /not a PEM X.509 certificate or public key/],
    ['an EC key', ecPem, /not RSA/],
  ])('when the certificate is %s, then it is refused with a reason', (_what, pem, reason) => {
    expect(() => mpesaSecurityCredential('pw', pem)).toThrow(reason);
  });

  it('when the password is empty, then it is refused', () => {
    expect(() => mpesaSecurityCredential('', rsaPem)).toThrow(/1 to/);
  });
});

describe('configuring the credential', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tuma-cert-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };
  const base = {
    AUTH_ISSUER: 'https://login.example.org', AUTH_AUDIENCE: 'tuma', TUMA_MASTER_KEY: Buffer.alloc(32, 7).toString('base64'),
    AUTH_JWKS: JSON.stringify({ keys: [{ kty: 'EC', crv: 'P-256', x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU', y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0', alg: 'ES256' }] }),
    DATABASE_URL: 'postgres://u@127.0.0.1:5432/tuma', MPESA_BASE_URL: 'https://api.example.org', MPESA_CONSUMER_KEY: 'ck', MPESA_CONSUMER_SECRET: 'cs', MPESA_SHORTCODE: '600000', MPESA_INITIATOR_NAME: 'init',
  };
  const problems = (env: Record<string, string>) => {
    try {
      loadConfig(env);
      return [];
    } catch (error) {
      if (error instanceof ConfigError) return [...error.problems];
      throw error;
    }
  };

  it('when the password and certificate file are given, then the credential is computed from them', () => {
    const config = loadConfig({ ...base, MPESA_INITIATOR_PASSWORD: 'pw-1', MPESA_CERTIFICATE_FILE: file('cert.pem', rsaPem) });
    expect(open(mpesaSettingsOf(config).securityCredential)).toBe('pw-1');
  });

  it.each([
    ['both ways at once', () => ({ MPESA_SECURITY_CREDENTIAL: 'c', MPESA_INITIATOR_PASSWORD: 'pw' }), /^MPESA_SECURITY_CREDENTIAL: set it, or/],
    ['a password without a certificate', () => ({ MPESA_INITIATOR_PASSWORD: 'pw' }), /^MPESA_CERTIFICATE_FILE: is required/],
    ['a certificate without a password', () => ({ MPESA_CERTIFICATE_FILE: file('c2.pem', rsaPem) }), /^MPESA_INITIATOR_PASSWORD: is required/],
    ['a missing file', () => ({ MPESA_INITIATOR_PASSWORD: 'pw', MPESA_CERTIFICATE_FILE: join(dir, 'nope.pem') }), /^MPESA_CERTIFICATE_FILE: cannot be read \(ENOENT\)/],
    ['an EC certificate', () => ({ MPESA_INITIATOR_PASSWORD: 'pw', MPESA_CERTIFICATE_FILE: file('ec.pem', ecPem) }), /^MPESA_CERTIFICATE_FILE: .*not RSA/],
    ['neither', () => ({}), /^MPESA_SECURITY_CREDENTIAL: is required/],
  ])('when the credential is configured with %s, then the start is refused naming it', (_what, extra, reason) => {
    expect(problems({ ...base, ...extra() })).toEqual([expect.stringMatching(reason)]);
  });
});

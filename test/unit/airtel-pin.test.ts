// The Airtel PIN encrypted with Airtel's RSA public key (PEM key, PEM certificate or the portal's
// bare base64), PKCS#1 v1.5 or OAEP-SHA-256, base64: what Airtel (the private key) reads back.
import { X509Certificate, constants, generateKeyPairSync, privateDecrypt, sign, type KeyObject } from 'node:crypto';
import { AirtelPinError, airtelPublicKey, encryptAirtelPin } from '../../src/adapters/providers/airtel/pin.js';

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const spkiPem = rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString();
const pkcs1Pem = rsa.publicKey.export({ type: 'pkcs1', format: 'pem' }).toString();
const bareBase64 = rsa.publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
const other = generateKeyPairSync('rsa', { modulusLength: 2048 });

/** DER, just enough to write one self-signed X.509 v3 certificate for the test key. */
const der = (tag: number, ...parts: Buffer[]): Buffer => {
  const body = Buffer.concat(parts);
  const length: number[] = [];
  for (let n = body.length; n > 0; n >>= 8) length.unshift(n & 0xff);
  return Buffer.concat([Buffer.from([tag]), body.length < 0x80 ? Buffer.from([body.length]) : Buffer.from([0x80 | length.length, ...length]), body]);
};
const oid = (dotted: string): Buffer => {
  const [a = 0, b = 0, ...rest] = dotted.split('.').map(Number);
  const bytes = [40 * a + b];
  for (const n of rest) {
    const groups = [n & 0x7f];
    for (let v = n >> 7; v > 0; v >>= 7) groups.unshift((v & 0x7f) | 0x80);
    bytes.push(...groups);
  }
  return der(0x06, Buffer.from(bytes));
};
function selfSignedCertificate(publicKey: KeyObject, privateKey: KeyObject): string {
  const algorithm = der(0x30, oid('1.2.840.113549.1.1.11'), Buffer.from([0x05, 0x00])); // sha256WithRSAEncryption
  const name = der(0x30, der(0x31, der(0x30, oid('2.5.4.3'), der(0x0c, Buffer.from('Airtel PIN test')))));
  const validity = der(0x30, der(0x17, Buffer.from('250101000000Z')), der(0x17, Buffer.from('350101000000Z')));
  const tbs = der(0x30, der(0xa0, der(0x02, Buffer.from([2]))), der(0x02, Buffer.from([1])), algorithm, name, validity, name, publicKey.export({ type: 'spki', format: 'der' }));
  const certificate = der(0x30, tbs, algorithm, der(0x03, Buffer.from([0]), sign('sha256', tbs, privateKey)));
  return `-----BEGIN CERTIFICATE-----\n${certificate.toString('base64').match(/.{1,64}/g)!.join('\n')}\n-----END CERTIFICATE-----\n`;
}
const certificatePem = selfSignedCertificate(rsa.publicKey, rsa.privateKey);

/** What Airtel does with a PKCS#1 v1.5 PIN. Node refuses PKCS#1 v1.5 private decryption (Marvin), so: raw, then the padding checked by hand. */
function openPkcs1(ciphertext: string, key: KeyObject = rsa.privateKey): string {
  const block = privateDecrypt({ key, padding: constants.RSA_NO_PADDING }, Buffer.from(ciphertext, 'base64'));
  const separator = block.indexOf(0, 2);
  if (block[0] !== 0 || block[1] !== 2 || separator < 10) throw new Error('not PKCS#1 v1.5 encryption padding');
  return block.subarray(separator + 1).toString('utf8');
}
const openOaep = (ciphertext: string): string =>
  privateDecrypt({ key: rsa.privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, Buffer.from(ciphertext, 'base64')).toString('utf8');

const codeOf = (run: () => unknown): string | null => {
  try {
    run();
    return null;
  } catch (error) {
    return error instanceof AirtelPinError ? error.code : `not an AirtelPinError: ${String(error)}`;
  }
};

describe('the Airtel PIN', () => {
  it('when the certificate is built for the test, then Node reads it as an X.509 certificate of the test key', () => {
    expect(new X509Certificate(certificatePem).publicKey.export({ type: 'spki', format: 'pem' })).toBe(spkiPem);
  });

  it.each([
    ['a PEM public key (SPKI)', spkiPem],
    ['a PEM RSA public key (PKCS#1)', pkcs1Pem],
    ['a PEM X.509 certificate', certificatePem],
    ["the portal's bare base64 key", bareBase64],
    ['the bare base64 key in 64-character lines', bareBase64.match(/.{1,64}/g)!.join('\n')],
  ])('when it is encrypted with %s and PKCS#1 v1.5, then Airtel reads the PIN back', (_what, key) => {
    const encrypted = encryptAirtelPin('1234', key, 'pkcs1');
    expect(encrypted).toMatch(/^[A-Za-z0-9+/]+={0,2}$/);
    expect(Buffer.from(encrypted, 'base64')).toHaveLength(256);
    expect(openPkcs1(encrypted)).toBe('1234');
  });

  it.each([
    ['a PEM public key', spkiPem],
    ['a PEM X.509 certificate', certificatePem],
  ])('when it is encrypted with %s and OAEP-SHA-256, then Airtel reads the PIN back, and not as PKCS#1 v1.5', (_what, key) => {
    const encrypted = encryptAirtelPin('0987', key, 'oaep-sha256');
    expect(openOaep(encrypted)).toBe('0987');
    expect(() => openPkcs1(encrypted)).toThrow();
  });

  it('when no padding is named, then it is PKCS#1 v1.5 (the 121 platform\'s choice), and each encryption differs', () => {
    const a = encryptAirtelPin('1234', spkiPem);
    const b = encryptAirtelPin('1234', spkiPem);
    expect(openPkcs1(a)).toBe('1234');
    expect(a).not.toBe(b);
    expect(() => openOaep(a)).toThrow();
  });

  it('when it is encrypted with another key, then Airtel cannot read it', () => {
    const encrypted = encryptAirtelPin('1234', other.publicKey.export({ type: 'spki', format: 'pem' }).toString());
    expect(() => openPkcs1(encrypted)).toThrow();
  });

  it('when a KeyObject is given, then it is used; a private KeyObject is refused', () => {
    expect(openPkcs1(encryptAirtelPin('4321', airtelPublicKey(spkiPem)))).toBe('4321');
    expect(codeOf(() => encryptAirtelPin('4321', rsa.privateKey))).toBe('KEY_PRIVATE');
    expect(codeOf(() => encryptAirtelPin('4321', generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey))).toBe('KEY_NOT_RSA');
  });

  it.each([
    ['not a key', 'KEY_UNREADABLE', 'hello'],
    ['empty', 'KEY_UNREADABLE', ''],
    ['a truncated PEM', 'KEY_UNREADABLE', spkiPem.slice(0, 120)],
    ['a private key', 'KEY_PRIVATE', rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()],
    ['an EC key', 'KEY_NOT_RSA', generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString()],
    ['an Ed25519 key', 'KEY_NOT_RSA', generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString()],
    ['a 512-bit RSA key', 'KEY_TOO_SMALL', generateKeyPairSync('rsa', { modulusLength: 512 }).publicKey.export({ type: 'spki', format: 'pem' }).toString()],
    ['far too long', 'KEY_UNREADABLE', 'A'.repeat(20_000)],
  ])('when the key is %s, then it is refused with %s', (_what, code, key) => {
    expect(codeOf(() => encryptAirtelPin('1234', key))).toBe(code);
  });

  it.each([['123'], ['12345'], ['12a4'], [''], [' 1234']])('when the PIN is %p, then it is refused without echoing it', (pin) => {
    let error: unknown;
    try {
      encryptAirtelPin(pin, spkiPem);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(AirtelPinError);
    expect((error as AirtelPinError).code).toBe('PIN_FORMAT');
    expect((error as AirtelPinError).name).toBe('AirtelPinError');
    if (pin.trim().length > 0) expect((error as Error).message).not.toContain(pin.trim());
  });

  it('when the padding is not one of the two, then it is refused', () => {
    expect(codeOf(() => encryptAirtelPin('1234', spkiPem, 'oaep-sha1' as never))).toBe('PADDING_UNKNOWN');
  });
});

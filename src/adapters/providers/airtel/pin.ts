// The Airtel disbursement PIN: "Encrypted four digit numeric pin", RSA with the public key Airtel
// publishes for the market, base64 (contracts/providers/airtel-disbursement-v2.openapi.yaml). The padding is not
// settled by the sources: the 121 platform, in production in Zambia, uses PKCS#1 v1.5; a planning
// document quoting Airtel's Tchad v3.0 docs says RSA/ECB/OAEPWithSHA-256AndMGF1Padding. So it is
// configurable, PKCS#1 v1.5 by default. Airtel answers ROUTER116 "PIN decryption failed" when it
// guessed wrong. 'oaep-sha256' is OAEP with SHA-256 for both the label hash and MGF1 (what Node
// does); a Java "OAEPWithSHA-256AndMGF1Padding" without explicit parameters uses MGF1 with SHA-1,
// which Node cannot produce: if Airtel decrypts that way, only UAT (ROUTER116) will tell. RSA encryption is randomised: the PIN is encrypted once at start and the same
// ciphertext sent with every request (as the 121 platform does).
import { constants, createPublicKey, publicEncrypt, type KeyObject } from 'node:crypto';

export const airtelPinPaddings = ['pkcs1', 'oaep-sha256'] as const;
export type AirtelPinPadding = (typeof airtelPinPaddings)[number];

/** Airtel: a four digit numeric PIN. */
export const airtelPinPattern = /^[0-9]{4}$/;
/** A key smaller than this protects nothing; Airtel's published keys are 1024 bits or more. */
export const airtelPinKeyBitsMin = 1024;
/** A key text longer than this is not a public key or certificate. */
export const airtelPinKeyCharsMax = 16 * 1024;

export type AirtelPinErrorCode = 'PIN_FORMAT' | 'KEY_UNREADABLE' | 'KEY_PRIVATE' | 'KEY_NOT_RSA' | 'KEY_TOO_SMALL' | 'PADDING_UNKNOWN';

/** Why the PIN could not be encrypted; the message never contains the PIN. */
export class AirtelPinError extends Error {
  constructor(readonly code: AirtelPinErrorCode, message: string) {
    super(message);
    this.name = 'AirtelPinError';
  }
}

/**
 * Airtel's key as configured: a PEM public key ("PUBLIC KEY" or "RSA PUBLIC KEY"), a PEM X.509
 * certificate, or the bare base64 SubjectPublicKeyInfo the Airtel portal shows (which the 121
 * platform wraps in PEM itself).
 */
export function airtelPublicKey(text: string): KeyObject {
  if (text.length === 0 || text.length > airtelPinKeyCharsMax) throw new AirtelPinError('KEY_UNREADABLE', 'the Airtel public key is empty or too long');
  // Ours would be the wrong key anyway: the PIN is encrypted for Airtel, with Airtel's public key.
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)) throw new AirtelPinError('KEY_PRIVATE', 'a private key was given: configure Airtel\'s public key or certificate');
  let key: KeyObject;
  try {
    const bare = text.replace(/\s+/g, '');
    key = text.includes('-----BEGIN ') ? createPublicKey(text) : createPublicKey({ key: Buffer.from(bare, 'base64'), format: 'der', type: 'spki' });
  } catch {
    throw new AirtelPinError('KEY_UNREADABLE', 'not a PEM public key, PEM X.509 certificate or base64 SubjectPublicKeyInfo');
  }
  return checked(key);
}

/** An RSA public key of at least airtelPinKeyBitsMin bits, or AirtelPinError. */
function checked(key: KeyObject): KeyObject {
  if (key.type !== 'public') throw new AirtelPinError('KEY_PRIVATE', 'a private key was given: configure Airtel\'s public key or certificate');
  if (key.asymmetricKeyType !== 'rsa') throw new AirtelPinError('KEY_NOT_RSA', `the Airtel key is ${key.asymmetricKeyType ?? 'of an unknown type'}, not RSA`);
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < airtelPinKeyBitsMin) throw new AirtelPinError('KEY_TOO_SMALL', `the Airtel RSA key has ${bits} bits, fewer than ${airtelPinKeyBitsMin}`);
  return key;
}

/** The PIN encrypted for Airtel with `padding`, base64. Throws AirtelPinError. */
export function encryptAirtelPin(pin: string, publicKey: string | KeyObject, padding: AirtelPinPadding = 'pkcs1'): string {
  if (!airtelPinPattern.test(pin)) throw new AirtelPinError('PIN_FORMAT', 'the Airtel PIN is four digits');
  if (!(airtelPinPaddings as readonly string[]).includes(padding)) throw new AirtelPinError('PADDING_UNKNOWN', `the PIN padding is one of ${airtelPinPaddings.join(', ')}`);
  const key = typeof publicKey === 'string' ? airtelPublicKey(publicKey) : checked(publicKey);
  const options =
    padding === 'pkcs1'
      ? { key, padding: constants.RSA_PKCS1_PADDING }
      : { key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' };
  return publicEncrypt(options, Buffer.from(pin, 'utf8')).toString('base64');
}

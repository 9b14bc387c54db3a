// Daraja's SecurityCredential: the initiator's password encrypted with the public key of the
// certificate Safaricom publishes for the environment (sandbox or production), RSA PKCS#1 v1.5,
// base64 (contracts/providers/mpesa-daraja.openapi.yaml). The same credential may be reused across
// requests; Tuma computes it once at start from the configured certificate and password.
import { constants, createPublicKey, publicEncrypt } from 'node:crypto';

/** An initiator password longer than this is not one. */
export const initiatorPasswordMaxChars = 256;

/** Encrypts the initiator password for Daraja; throws with a clear message when the certificate is not an RSA certificate or key. */
export function mpesaSecurityCredential(initiatorPassword: string, certificatePem: string): string {
  if (initiatorPassword.length === 0 || initiatorPassword.length > initiatorPasswordMaxChars) throw new Error(`the initiator password is 1 to ${initiatorPasswordMaxChars} characters`);
  let key;
  try {
    // Accepts the X.509 certificate Safaricom publishes, or its public key, in PEM.
    key = createPublicKey(certificatePem);
  } catch {
    throw new Error('not a PEM X.509 certificate or public key');
  }
  if (key.asymmetricKeyType !== 'rsa') throw new Error(`the certificate's key is ${key.asymmetricKeyType ?? 'unknown'}, not RSA`);
  return publicEncrypt({ key, padding: constants.RSA_PKCS1_PADDING }, Buffer.from(initiatorPassword, 'utf8')).toString('base64');
}

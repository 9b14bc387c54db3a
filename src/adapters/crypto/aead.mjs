// @ts-check
// The sealed-value format and the batch sealing routine, in plain JavaScript so that the same file
// runs on the main thread (imported by vault.ts) and in the sealing worker threads, from source
// under the tests as from dist/ in production; type-checked by tsc through JSDoc.
//
// Sealed value: version (1 byte) ‖ IV (12) ‖ GCM tag (16) ‖ ciphertext. AES-256-GCM with a fresh
// random 96-bit IV per value; the additional data binds the value to its programme, subject and field.
import { createCipheriv, createDecipheriv, createHmac, randomFillSync } from 'node:crypto';

export const formatVersion = 1;
export const ivBytes = 12;
export const tagBytes = 16;
/** Bytes a sealed value adds to its plaintext. */
export const sealOverheadBytes = 1 + ivBytes + tagBytes;
/** A blind index is one HMAC-SHA-256. */
export const blindIndexBytes = 32;

/**
 * Random IVs drawn from one CSPRNG fill at a time (per thread): a fresh random IV per value without
 * a system call per payout. Each slice is used once.
 */
const ivPoolIvs = 4096;
let ivPool = Buffer.alloc(0);
let ivPoolOffset = 0;

/** @returns {Buffer} */
function nextIv() {
  if (ivPoolOffset + ivBytes > ivPool.length) {
    ivPool = randomFillSync(Buffer.allocUnsafe(ivBytes * ivPoolIvs));
    ivPoolOffset = 0;
  }
  const iv = ivPool.subarray(ivPoolOffset, ivPoolOffset + ivBytes);
  ivPoolOffset += ivBytes;
  return iv;
}

/**
 * Seals `plaintext` into `out` at `at`; returns the offset after it.
 * @param {Buffer} key @param {string | Buffer} plaintext @param {Buffer} aad @param {Buffer} out @param {number} at
 * @returns {number}
 */
function sealInto(key, plaintext, aad, out, at) {
  const iv = nextIv();
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(aad);
  const body = typeof plaintext === 'string' ? cipher.update(plaintext, 'utf8') : cipher.update(plaintext);
  const tail = cipher.final();
  out[at] = formatVersion;
  iv.copy(out, at + 1);
  cipher.getAuthTag().copy(out, at + 1 + ivBytes);
  let end = at + sealOverheadBytes;
  end += body.copy(out, end);
  end += tail.copy(out, end);
  return end;
}

/**
 * @param {Buffer} key @param {Buffer} plaintext @param {string} aad
 * @returns {Buffer}
 */
export function seal(key, plaintext, aad) {
  const out = Buffer.allocUnsafe(sealOverheadBytes + plaintext.length);
  sealInto(key, plaintext, Buffer.from(aad, 'utf8'), out, 0);
  return out;
}

/**
 * @param {Buffer} key @param {Buffer} sealed @param {string} aad
 * @returns {Buffer}
 */
export function open(key, sealed, aad) {
  if (sealed.length < sealOverheadBytes || sealed[0] !== formatVersion) throw new Error('sealed value has an unknown format');
  const iv = sealed.subarray(1, 1 + ivBytes);
  const tag = sealed.subarray(1 + ivBytes, sealOverheadBytes);
  const decipher = createDecipheriv('aes-256-gcm', key, iv);
  decipher.setAAD(Buffer.from(aad, 'utf8'));
  decipher.setAuthTag(tag);
  return Buffer.concat([decipher.update(sealed.subarray(sealOverheadBytes)), decipher.final()]);
}

/**
 * The additional data of a sealed field.
 * @param {string} programmeId @param {string} subjectId @param {string} field
 */
export const aadOf = (programmeId, subjectId, field) => `tuma:v1:${programmeId}:${subjectId}:${field}`;

/**
 * @typedef {object} BeneficiarySealJob
 * @property {Buffer | Uint8Array} key        the programme's data key
 * @property {Buffer | Uint8Array} indexKey   the programme's blind-index key
 * @property {string} programmeId
 * @property {string[]} subjectIds            payout ids, one per row
 * @property {string[]} msisdns
 * @property {(string | null)[]} names
 *
 * @typedef {object} SealedBeneficiaryRows
 * @property {Buffer} bytes      per row, back to back: sealed msisdn ‖ blind index ‖ sealed name (if any)
 * @property {Int32Array} spans  per row: [offset, sealed msisdn length, sealed name length or -1]
 */

/**
 * Seals one chunk of beneficiaries into one buffer: no per-value allocation survives, and the
 * result crosses threads (and reaches the database as one binary parameter) without copies.
 * @param {BeneficiarySealJob} job
 * @returns {SealedBeneficiaryRows}
 */
export function sealBeneficiaries(job) {
  const key = Buffer.from(job.key.buffer, job.key.byteOffset, job.key.byteLength);
  const indexKey = Buffer.from(job.indexKey.buffer, job.indexKey.byteOffset, job.indexKey.byteLength);
  const rows = job.subjectIds.length;
  if (job.msisdns.length !== rows || job.names.length !== rows) throw new Error('invariant violated: one msisdn and one name (or null) per subject');
  let size = 0;
  let aadMax = 0;
  for (let i = 0; i < rows; i++) {
    const name = job.names[i];
    size += sealOverheadBytes + Buffer.byteLength(/** @type {string} */ (job.msisdns[i]), 'utf8') + blindIndexBytes;
    if (name !== null && name !== undefined) size += sealOverheadBytes + Buffer.byteLength(name, 'utf8');
    aadMax = Math.max(aadMax, Buffer.byteLength(aadOf(job.programmeId, /** @type {string} */ (job.subjectIds[i]), 'msisdn'), 'utf8'));
  }
  // Owned (not pooled) memory, so the whole buffer can be transferred to another thread.
  const bytes = Buffer.from(new ArrayBuffer(size));
  const spans = new Int32Array(rows * 3);
  const aad = Buffer.allocUnsafe(aadMax);
  let at = 0;
  for (let i = 0; i < rows; i++) {
    const subjectId = /** @type {string} */ (job.subjectIds[i]);
    const msisdn = /** @type {string} */ (job.msisdns[i]);
    const name = job.names[i];
    spans[i * 3] = at;
    let n = aad.write(aadOf(job.programmeId, subjectId, 'msisdn'), 0, 'utf8');
    const afterMsisdn = sealInto(key, msisdn, aad.subarray(0, n), bytes, at);
    spans[i * 3 + 1] = afterMsisdn - at;
    at = afterMsisdn + createHmac('sha256', indexKey).update(msisdn, 'utf8').digest().copy(bytes, afterMsisdn);
    if (name === null || name === undefined) spans[i * 3 + 2] = -1;
    else {
      n = aad.write(aadOf(job.programmeId, subjectId, 'name'), 0, 'utf8');
      const afterName = sealInto(key, name, aad.subarray(0, n), bytes, at);
      spans[i * 3 + 2] = afterName - at;
      at = afterName;
    }
  }
  if (at !== size) throw new Error('invariant violated: sealed sizes were computed exactly');
  return { bytes, spans };
}

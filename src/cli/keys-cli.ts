// `tuma keys generate`: a signing key pair for a maker or an approver. The private JWK goes to a
// file only its owner can read (never overwritten); the public JWK, printed, is what an
// administrator registers (POST /v1/signer-keys).
import { parseArgs } from 'node:util';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';
import { allowedAlgorithms } from '../application/verify-batch-signature.js';
import { CliError, writeOutputFile } from './cli-errors.js';

export interface CliIo {
  out(line: string): void;
  err(line: string): void;
}

/** The members a public JWK keeps; everything else (d, p, q, ...) is private. */
const publicMembers = ['kty', 'crv', 'x', 'y', 'n', 'e'] as const;

export function publicJwkOf(jwk: JWK): JWK {
  const pub: JWK = {};
  for (const m of publicMembers) if (jwk[m] !== undefined) (pub as Record<string, unknown>)[m] = jwk[m];
  return pub;
}

export async function runKeysCli(argv: readonly string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== 'generate') {
    io.err('usage: tuma keys generate --alg ES256|EdDSA|PS256 --out <private.jwk>');
    return 2;
  }
  let values: { alg?: string; out?: string };
  try {
    ({ values } = parseArgs({ args: [...rest], options: { alg: { type: 'string', default: 'ES256' }, out: { type: 'string' } }, strict: true }));
  } catch (error) {
    io.err(`tuma keys generate: ${(error as Error).message}`);
    return 2;
  }
  const alg = values.alg ?? 'ES256';
  if (!(allowedAlgorithms as readonly string[]).includes(alg) || !values.out) {
    io.err(`usage: tuma keys generate --alg ${allowedAlgorithms.join('|')} --out <private.jwk>`);
    return 2;
  }
  const { privateKey } = await generateKeyPair(alg, { extractable: true });
  const privateJwk = await exportJWK(privateKey);
  const publicJwk = publicJwkOf(privateJwk);
  const kid = await calculateJwkThumbprint(publicJwk, 'sha256');
  try {
    // Never over an existing file (no --force here): a key someone registered may be in it.
    writeOutputFile(values.out, `${JSON.stringify({ ...privateJwk, alg, kid })}\n`, { force: false, mode: 0o600 });
  } catch (error) {
    if (!(error instanceof CliError)) throw error;
    const exists = error.message.includes(' exists;');
    io.err(`tuma keys generate: ${exists ? `${values.out} exists and is kept: it may hold a key already registered; choose another file (or remove it yourself)` : error.message}`);
    return error.exitCode;
  }
  // The public JWK on stdout (what an administrator registers); what happened, on stderr.
  io.out(JSON.stringify({ ...publicJwk, alg, kid }));
  io.err(`tuma keys generate: wrote the private ${alg} key to ${values.out} (only you can read it); the public JWK printed, kid ${kid}, is what an administrator registers`);
  return 0;
}

// `tuma keys generate`: a signing key pair for a maker or an approver. The private JWK goes to a
// file only its owner can read (never overwritten); the public JWK, printed, is what an
// administrator registers (POST /v1/signer-keys).
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';
import { allowedAlgorithms } from '../application/verify-batch-signature.js';

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
    // 'wx': never overwrite a key someone may already have registered.
    writeFileSync(values.out, `${JSON.stringify({ ...privateJwk, alg, kid })}\n`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    io.err(`tuma keys generate: cannot write ${values.out}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    return 1;
  }
  io.out(JSON.stringify({ ...publicJwk, alg, kid }));
  return 0;
}

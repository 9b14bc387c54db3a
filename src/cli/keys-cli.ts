// `tuma keys generate`: a signing key pair for a maker or an approver. The private JWK goes to a
// file only its owner can read (never overwritten); the public JWK, printed, is what an
// administrator registers (POST /v1/signer-keys), with `tuma keys register`.
import { readFileSync, statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose';
import { allowedAlgorithms } from '../application/verify-batch-signature.js';
import { apiOf, jsonOf, printRefusal, requestTimeoutMs, UsageError, wasReplayed, type BatchCliIo } from './batch-cli.js';
import { CliError, exitCodes, unreachable, writeOutputFile } from './cli-errors.js';
import { publicJwkOf } from './jwk.js';

export interface CliIo {
  out(line: string): void;
  err(line: string): void;
}

export { publicJwkOf } from './jwk.js';

const usage = `usage:
  tuma keys generate --alg ES256|EdDSA|PS256 --out <private.jwk>
  tuma keys register --role maker|approver --holder <sub> [--alg <alg>] [--not-before <instant>] [--not-after <instant>] [--json] [--url <api>] [--token <jwt>] <public.jwk>
  register posts the public JWK generate printed (POST /v1/signer-keys, role admin); --alg defaults to the JWK's own.`;

/** The largest public JWK file `keys register` reads (an RSA-4096 public key is under 1 KiB). */
export const publicJwkFileBytesMax = 8 * 1024;
/** Members of a private JWK: a file holding one is refused before anything is sent. */
const privateMembers = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

export async function runKeysCli(argv: readonly string[], io: CliIo & Partial<BatchCliIo>): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === 'register' && io.fetch && io.env) {
    try {
      return await register(rest, io as BatchCliIo);
    } catch (error) {
      if (error instanceof UsageError) {
        io.err(`tuma keys register: ${error.message}`);
        return exitCodes.usage;
      }
      throw error;
    }
  }
  if (sub !== 'generate') {
    io.err(usage);
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

/**
 * `tuma keys register`: an administrator registers a maker's or an approver's public key. One line
 * says what happened: registered now, or registered before with the same attributes (the answer's
 * `replayed`), nothing changed.
 */
async function register(argv: string[], io: BatchCliIo): Promise<number> {
  let parsed: ReturnType<typeof parseRegister>;
  try {
    parsed = parseRegister(argv);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  const file = positionals[0];
  if (!file || positionals.length > 1 || !values.role || !values.holder) throw new UsageError('--role, --holder and the public JWK file are required');
  if (values.role !== 'maker' && values.role !== 'approver') throw new UsageError('--role is maker or approver');
  let size: number;
  try {
    size = statSync(file).size;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new CliError(`cannot read ${file}: ${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (code ?? 'an error')}`, exitCodes.noInput);
  }
  if (size > publicJwkFileBytesMax) throw new UsageError(`${file} is larger than ${publicJwkFileBytesMax} bytes: not a public JWK`);
  let jwk: Record<string, unknown>;
  try {
    const json = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    if (!json || typeof json !== 'object' || Array.isArray(json)) throw new Error('not an object');
    jwk = json as Record<string, unknown>;
  } catch {
    throw new UsageError(`${file} is not a JWK (the public JWK tuma keys generate printed)`);
  }
  // A private key never leaves the machine, not even to be refused.
  if (privateMembers.some((m) => Object.hasOwn(jwk, m))) throw new UsageError(`${file} holds a private key: register the public JWK tuma keys generate printed, and keep this file to yourself`);
  const alg = values.alg ?? (typeof jwk.alg === 'string' ? jwk.alg : undefined);
  if (!alg || !(allowedAlgorithms as readonly string[]).includes(alg)) throw new UsageError(`--alg is ${allowedAlgorithms.join(', ')} (the JWK names ${typeof jwk.alg === 'string' ? jwk.alg.slice(0, 20) : 'none'})`);
  const body = {
    role: values.role, alg, holder: values.holder, publicJwk: jwk,
    ...(values['not-before'] ? { notBefore: values['not-before'] } : {}), ...(values['not-after'] ? { notAfter: values['not-after'] } : {}),
  };
  const api = apiOf(values, io);
  let res: Response;
  try {
    res = await io.fetch(`${api.url}/v1/signer-keys`, {
      method: 'POST', headers: { authorization: `Bearer ${api.token}`, 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(requestTimeoutMs),
    });
  } catch (error) {
    throw unreachable(error, `the API at ${api.url}`, 'is Tuma running there? --url or TUMA_URL says where') ?? error;
  }
  const json = await jsonOf(res);
  if (res.status !== 200 && res.status !== 201) {
    printRefusal(io, res.status, json);
    return exitCodes.failed;
  }
  if (values.json) {
    io.out(JSON.stringify(json, null, 2));
    return 0;
  }
  const key = (json ?? {}) as { kid?: string; role?: string; holder?: string | null; status?: string };
  const what = `${key.role ?? values.role} key ${key.kid ?? '?'} for ${key.holder ?? values.holder}; ${key.status ?? '?'}`;
  io.out(wasReplayed(res.status, json) ? `already registered, nothing changed: ${what}` : `registered ${what}`);
  return 0;
}

function parseRegister(argv: string[]) {
  return parseArgs({
    args: argv, allowPositionals: true, strict: true,
    options: {
      role: { type: 'string' }, holder: { type: 'string' }, alg: { type: 'string' }, 'not-before': { type: 'string' }, 'not-after': { type: 'string' },
      json: { type: 'boolean', default: false }, url: { type: 'string' }, token: { type: 'string' },
    },
  });
}

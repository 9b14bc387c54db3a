// What a `tuma` command says when it cannot do what it was asked: one sentence on stderr and an
// exit code, never a stack trace (issue #21 item 3). The codes are sysexits.h's, so a script can
// tell a refusal from a usage mistake, a missing file, a server it cannot reach or a bad setting.
import { writeFileSync } from 'node:fs';

export const exitCodes = {
  ok: 0,
  /** The command ran and the answer is no: a refusal, a problem found, a CSV with bad lines. */
  failed: 1,
  usage: 2,
  /** EX_NOINPUT: an input file is missing or unreadable. */
  noInput: 66,
  /** EX_UNAVAILABLE: the API, the database or the broker cannot be reached. */
  unavailable: 69,
  /** EX_SOFTWARE: a failure nothing here expected (a bug): its sentence, and the stack with TUMA_DEBUG=1. */
  software: 70,
  /** EX_CANTCREAT: an output file exists (without --force) or cannot be written. */
  cantCreate: 73,
  /** EX_NOPERM. */
  noPermission: 77,
  /** EX_CONFIG: a setting is missing or wrong. */
  config: 78,
} as const;

/** A failure the command describes itself: the sentence is printed as it is, after the command's name. */
export class CliError extends Error {
  constructor(message: string, readonly exitCode: number) {
    super(message);
    this.name = 'CliError';
  }
}

/** What errno says, in words. */
const errnoWords: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EISDIR: 'it is a directory',
  ENOTDIR: 'a part of the path is not a directory',
  EEXIST: 'it exists',
  ENOSPC: 'no space left on the device',
  EROFS: 'the file system is read-only',
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'the connection was reset',
  ENOTFOUND: 'no such host',
  EAI_AGAIN: 'the host name could not be resolved now',
  ETIMEDOUT: 'the connection timed out',
  EHOSTUNREACH: 'no route to the host',
  ENETUNREACH: 'the network is unreachable',
  EPIPE: 'the connection was closed',
  EADDRINUSE: 'the address is in use',
  EADDRNOTAVAIL: 'the address is not available here',
  UND_ERR_SOCKET: 'the connection was closed',
  UND_ERR_CONNECT_TIMEOUT: 'the connection timed out',
};
const networkCodes = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT']);

interface ErrnoLike {
  code?: unknown;
  syscall?: unknown;
  path?: unknown;
  address?: unknown;
  port?: unknown;
  cause?: unknown;
  errors?: unknown;
  name?: unknown;
  message?: unknown;
}

/** The error itself or the first of its causes (fetch's `cause`, an AggregateError's `errors`) that carries an errno code. */
function errnoCause(error: unknown, depth = 0): ErrnoLike | null {
  if (!error || typeof error !== 'object' || depth > 4) return null;
  const e = error as ErrnoLike;
  if (typeof e.code === 'string' && (e.code in errnoWords || /^E[A-Z]+$/.test(e.code))) return e;
  if (Array.isArray(e.errors)) {
    for (const inner of e.errors) {
      const found = errnoCause(inner, depth + 1);
      if (found) return found;
    }
  }
  return errnoCause(e.cause, depth + 1);
}

const words = (code: string, fallback: string) => errnoWords[code] ?? `${fallback} (${code})`;
const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error)).split('\n')[0]!.slice(0, 300);

/** A network failure's sentence: what could not be reached and why; null when `error` is not one. */
export function unreachable(error: unknown, what: string, hint = ''): CliError | null {
  const e = error as ErrnoLike | null;
  if (e && typeof e === 'object' && (e.name === 'TimeoutError' || e.name === 'AbortError')) {
    return new CliError(`${what} did not answer in time${hint ? ` (${hint})` : ''}`, exitCodes.unavailable);
  }
  const cause = errnoCause(error);
  if (!cause || !networkCodes.has(String(cause.code))) return null;
  return new CliError(`cannot reach ${what}: ${words(String(cause.code), 'a network error')}${hint ? ` (${hint})` : ''}`, exitCodes.unavailable);
}

/** Writes a command's output file; an existing one is kept unless `force` (a sentence and 73 otherwise). */
export function writeOutputFile(file: string, text: string, options: { force: boolean; mode?: number }): void {
  try {
    writeFileSync(file, text, { flag: options.force ? 'w' : 'wx', ...(options.mode !== undefined ? { mode: options.mode } : {}) });
  } catch (error) {
    const code = String((error as ErrnoLike).code ?? '');
    if (code === 'EEXIST') throw new CliError(`${file} exists; nothing written (--force overwrites it)`, exitCodes.cantCreate);
    throw new CliError(`cannot write ${file}: ${code ? words(code, 'an error') : messageOf(error)}`, exitCodes.cantCreate);
  }
}

/** PostgreSQL's answers a command can meet before it does anything, in words (SQLSTATE → sentence, exit code). */
const postgresRefusals: Record<string, [string, number]> = {
  '28P01': ['the database refused the login: check the user and password of DATABASE_URL', exitCodes.config],
  '28000': ['the database refused the login: check the user of DATABASE_URL', exitCodes.config],
  '3D000': ['the database named in DATABASE_URL does not exist', exitCodes.config],
  '42P01': ['the database has no Tuma tables: `tuma migrate` (or `tuma start`) applies the migrations', exitCodes.config],
  '42501': ['the database user may not do this: the operators\' commands connect as the owner of the Tuma tables', exitCodes.noPermission],
  '57P01': ['the database is shutting down', exitCodes.unavailable],
  '57P02': ['the database is restarting', exitCodes.unavailable],
  '57P03': ['the database is starting or shutting down: try again in a moment', exitCodes.unavailable],
  '53300': ['the database has no connection to spare now', exitCodes.unavailable],
};

/**
 * Any failure as one sentence and an exit code: a CliError as it is, a configuration problem, a
 * file, a server, a database or a broker that said no; anything else is a bug, said as such.
 */
export function describeFailure(error: unknown): { message: string; exitCode: number } {
  if (error instanceof CliError) return { message: error.message, exitCode: error.exitCode };
  // config.ts's ConfigError (by name: this module loads nothing of the server's).
  if (error instanceof Error && error.name === 'ConfigError') return { message: error.message, exitCode: exitCodes.config };
  const e = (error && typeof error === 'object' ? error : {}) as ErrnoLike;
  // node:util parseArgs: an unknown option, a missing value, a stray argument.
  if (typeof e.code === 'string' && e.code.startsWith('ERR_PARSE_ARGS')) return { message: messageOf(error), exitCode: exitCodes.usage };
  const sqlState = typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code) ? postgresRefusals[e.code] : undefined;
  if (sqlState) return { message: sqlState[0], exitCode: sqlState[1] };
  const cause = errnoCause(error);
  if (cause) {
    const code = String(cause.code);
    const where = typeof cause.address === 'string' ? `${cause.address}${cause.port !== undefined ? `:${String(cause.port)}` : ''}` : null;
    if (networkCodes.has(code)) return { message: `cannot reach ${where ?? 'a server'}: ${words(code, 'a network error')}`, exitCode: exitCodes.unavailable };
    if (code === 'EADDRINUSE' || code === 'EADDRNOTAVAIL') return { message: `cannot listen on ${where ?? 'its address'}: ${words(code, '')}`, exitCode: exitCodes.unavailable };
    if (typeof cause.path === 'string') {
      return { message: `${cause.path}: ${words(code, 'cannot be used')}`, exitCode: code === 'ENOENT' ? exitCodes.noInput : code === 'EACCES' || code === 'EPERM' ? exitCodes.noPermission : exitCodes.cantCreate };
    }
  }
  if (typeof e.name === 'string' && e.name.startsWith('KafkaJS')) return { message: `the Kafka broker: ${messageOf(error)}`, exitCode: exitCodes.unavailable };
  if (e.name === 'TimeoutError') return { message: 'a server did not answer in time', exitCode: exitCodes.unavailable };
  return { message: `${messageOf(error)} (an unexpected failure; TUMA_DEBUG=1 prints where it happened)`, exitCode: exitCodes.software };
}

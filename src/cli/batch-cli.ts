// `tuma batch ...`: what a programme manager and an approver do from their own machine.
//   build    a CSV (ref, msisdn, amount, provider, name, note) → the canonical batch JSON
//   sign     the exact bytes of that file → a general JWS (or one more co-signature on it)
//   submit   POST /v1/batches
//   approve  a detached signature over the same bytes → POST /v1/batches/{id}/approvals
//   status   GET /v1/batches/{id}, with --watch a progress bar until the batch is over
// Keys never leave the machine; the server sees signatures only.
import { randomUUID } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parse as parseCsv } from 'csv-parse/sync';
import { calculateJwkThumbprint, FlattenedSign, importJWK, type JWK } from 'jose';
import { allowedAlgorithms, type GeneralJws } from '../application/verify-batch-signature.js';
import { isCurrencyCode, type CurrencyCode } from '../domain/currency.js';
import { payoutRowChecker, rowErrorSentence, type RowPolicy } from '../domain/batch-document.js';
import { formatAmount, parseAmount, sumMinor } from '../domain/money.js';
import { isProviderId, providerRules, type AccountLimits, type ProviderId } from '../domain/providers.js';
import { publicJwkOf } from './jwk.js';
import { CliError, describeFailure, exitCodes, unreachable, writeOutputFile } from './cli-errors.js';

export interface BatchCliIo {
  out(line: string): void;
  err(line: string): void;
  /** Raw output without a newline (the progress bar). */
  write(text: string): void;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly isTTY: boolean;
  readonly fetch: typeof fetch;
  sleep(ms: number): Promise<void>;
  now(): Date;
}

/** The largest CSV `batch build` reads. */
export const csvBytesMax = 64 * 1024 * 1024;
/** Rows a batch may have (the server's default BATCH_PAYOUTS_MAX); --max-rows may lower it. */
export const csvRowsMax = 100_000;
/** A batch expires at most this long after it is built. */
export const expiresInHoursMax = 720;
/** The largest batch or JWS file sign/submit/approve read. */
export const jwsFileBytesMax = 64 * 1024 * 1024;
/** Ordinary requests; a submission of a large batch gets longer. */
export const requestTimeoutMs = 30_000;
export const submitTimeoutMs = 300_000;
export const watchIntervalSecondsMax = 300;
export const watchTimeoutSecondsMax = 86_400;

const csvColumns = ['ref', 'msisdn', 'amount', 'provider', 'name', 'note', 'repays'] as const;
const requiredColumns = ['ref', 'msisdn', 'amount', 'provider'] as const;
const terminalBatchStates = ['completed', 'cancelled', 'rejected'];
const settledPayoutStates = ['paid', 'failed', 'cancelled', 'reversed'];

const usage = `usage:
  tuma batch build --csv <file> --org <id> --programme <id> --currency <CCY> [--batch-id <uuid>] [--expires-in <hours>] [--max-rows <n>] [--out <file> [--force]] [--url <api>] [--token <jwt>] [--offline]
  tuma batch sign --key <private.jwk> <batch.json> [--add-to <batch.jws.json>] [--out <file> [--force]]
  tuma batch submit <batch.jws.json> [--json] [--url <api>] [--token <jwt>]
  tuma batch approve --key <private.jwk> <batch.json> [--json] [--url <api>] [--token <jwt>]
  tuma batch status <batchId|batch.json> [--watch] [--interval <s>] [--timeout <s>] [--url <api>] [--token <jwt>]
  The CSV's columns: ref, msisdn, amount, provider (required), name, note, repays (optional), in any order.
  build checks every row with the server's own rules against the programme's policy and provider
  accounts, read from the API; --offline checks the providers' own rules only, without the server.
  The API is --url or TUMA_URL (default http://127.0.0.1:8080); the bearer token --token or TUMA_TOKEN.
  --force overwrites an existing --out file; --json prints the API's answer instead of one line.`;

export async function runBatchCli(argv: readonly string[], io: BatchCliIo): Promise<number> {
  const [sub, ...rest] = argv;
  const commands: Record<string, (args: string[], io: BatchCliIo) => Promise<number>> = { build, sign, submit, approve, status };
  const command = sub ? commands[sub] : undefined;
  if (!command) {
    io.err(usage);
    return 2;
  }
  try {
    return await command(rest, io);
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`tuma batch ${sub}: ${error.message}`);
      return 2;
    }
    // Every other failure is a sentence and an exit code too (cli-errors.ts), never a stack trace.
    const failure = describeFailure(error);
    io.err(`tuma batch ${sub}: ${failure.message}`);
    return failure.exitCode;
  }
}

export class UsageError extends Error {}

function args<T extends Record<string, { type: 'string' | 'boolean'; default?: string | boolean }>>(argv: string[], options: T) {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

function readBounded(file: string, max: number): Buffer {
  let size: number;
  try {
    size = statSync(file).size;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new CliError(`cannot read ${file}: ${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (code ?? 'an error')}`, exitCodes.noInput);
  }
  if (size > max) throw new UsageError(`${file} is larger than ${max} bytes`);
  return readFileSync(file);
}

// ---------------------------------------------------------------- build

/**
 * A problem of the CSV: its line (1 for the header), its column (1-based, with its name; null for
 * the file or the whole line), a sentence and a stable code. A row's codes are the server's own
 * (contracts/error-codes.json, rowErrors): the rows are checked by the domain's payoutRowChecker,
 * as POST /v1/batches checks them. Problems only a CSV can have are CSV_* codes.
 */
export interface CsvProblem {
  readonly line: number;
  readonly column: { readonly index: number; readonly name: string } | null;
  readonly problem: string;
  readonly code: string;
}

/** Problems of the file itself, which the server never sees (the server's row codes are rowErrorCodes). */
export const csvProblemCodes = {
  CSV_MALFORMED: 'The file is not CSV as RFC 4180 writes it (an unbalanced quote, a character after a closing quote).',
  CSV_EMPTY: 'The file is empty: its first line names the columns.',
  CSV_COLUMN_UNKNOWN: `The column is not one batch build reads; the columns are ${csvColumns.join(', ')}.`,
  CSV_COLUMN_TWICE: 'The column appears twice in the header.',
  CSV_COLUMN_MISSING: 'A required column is missing from the header: ref, msisdn, amount and provider are required.',
  CSV_NO_ROWS: 'The file has a header and no payout row.',
  CSV_TOO_MANY_ROWS: 'The file has more payout rows than a batch may have (--max-rows).',
  CSV_ROW_LENGTH: 'The line has another number of fields than the header.',
} as const;

/**
 * What a batch's rows are checked against: the programme's policy and accounts as the server has
 * them (GET /v1/programmes/{id}/policy and …/provider-accounts), or with --offline the providers'
 * own rules only.
 */
export type BuildRules = RowPolicy;

/** --offline: every provider Tuma knows, its own countries, currencies, scale and limits; no programme policy, no accounts. */
export const offlineRules: BuildRules = { providers: Object.keys(providerRules) as ProviderId[], payoutMaxMinor: null, rowErrors: 'reject_batch' };

const csvProblem = (line: number, code: keyof typeof csvProblemCodes, column: CsvProblem['column'] = null, problem: string = csvProblemCodes[code]): CsvProblem => ({ line, column, problem, code });

/** Turns CSV text into the canonical batch document, or every problem with its line, column, sentence and code. */
export function buildBatch(
  csv: string,
  header: { organisationId: string; programmeId: string; currency: CurrencyCode; batchId: string; createdAt: Date; expiresAt: Date },
  maxRows: number,
  rules: BuildRules,
): { ok: true; json: string } | { ok: false; problems: CsvProblem[] } {
  let records: { record: string[]; info: { lines: number } }[];
  try {
    // Either line ending, line by line (csv-parse otherwise takes the first line's for the whole file: a later CRLF was read as a CR in the last cell and two lines).
    records = parseCsv(csv, { bom: true, info: true, relax_column_count: true, skip_empty_lines: true, trim: false, record_delimiter: ['\r\n', '\n'] }) as unknown as { record: string[]; info: { lines: number } }[];
  } catch (error) {
    const e = error as { lines?: number; message: string };
    const detail = e.message.replace(/^Invalid Record Length: /, '').slice(0, 200).replace(/\.?$/, '.');
    return { ok: false, problems: [csvProblem(e.lines ?? 1, 'CSV_MALFORMED', null, `${csvProblemCodes.CSV_MALFORMED.replace(/\.$/, '')}: ${detail}`)] };
  }
  const first = records[0];
  if (!first) return { ok: false, problems: [csvProblem(1, 'CSV_EMPTY')] };
  const problems: CsvProblem[] = [];
  const columns = first.record.map((c) => c.trim().toLowerCase());
  const columnAt = (i: number) => ({ index: i + 1, name: columns[i] || `(column ${i + 1})` });
  columns.forEach((c, i) => {
    if (!(csvColumns as readonly string[]).includes(c)) problems.push(csvProblem(first.info.lines, 'CSV_COLUMN_UNKNOWN', columnAt(i)));
    else if (columns.indexOf(c) !== i) problems.push(csvProblem(first.info.lines, 'CSV_COLUMN_TWICE', columnAt(i)));
  });
  for (const c of requiredColumns) if (!columns.includes(c)) problems.push(csvProblem(first.info.lines, 'CSV_COLUMN_MISSING', null, `The column ${c} is missing from the header: ref, msisdn, amount and provider are required.`));
  if (problems.length > 0) return { ok: false, problems };
  const rows = records.slice(1);
  if (rows.length === 0) return { ok: false, problems: [csvProblem(first.info.lines, 'CSV_NO_ROWS')] };
  if (rows.length > maxRows) return { ok: false, problems: [csvProblem(rows[maxRows]!.info.lines, 'CSV_TOO_MANY_ROWS', null, `The file has more than ${maxRows} payout rows (--max-rows; a batch has at most ${csvRowsMax}).`)] };

  // The server's row rules, from the same code: each row as the document will carry it, checked in order.
  const checker = payoutRowChecker(header.currency, rules);
  const payouts: Record<string, string>[] = [];
  const amounts: bigint[] = [];
  rows.forEach(({ record, info }, row) => {
    const line = info.lines;
    if (record.length !== columns.length) {
      problems.push(csvProblem(line, 'CSV_ROW_LENGTH', null, `The line has ${record.length} field${record.length === 1 ? '' : 's'}; the header has ${columns.length}.`));
      return;
    }
    const value = (c: string) => (columns.includes(c) ? record[columns.indexOf(c)]!.trim() : '');
    const raw: Record<string, string> = { ref: value('ref'), provider: value('provider'), msisdn: value('msisdn'), amount: value('amount') };
    if (value('name')) raw.name = value('name');
    if (value('note')) raw.note = value('note');
    if (value('repays')) raw.repays = value('repays');
    const checked = checker.check(raw, row);
    for (const e of [...checked.structural, ...checked.semantic]) {
      const at = columns.indexOf(e.field);
      problems.push({ line, column: at < 0 ? null : columnAt(at), problem: rowErrorSentence(e), code: e.code });
    }
    if (checked.payout) {
      // Member order is fixed, the amount in the currency's full scale: the same CSV always gives the same bytes.
      const payout: Record<string, string> = { ref: raw.ref!, provider: raw.provider!, msisdn: raw.msisdn!, amount: formatAmount(checked.payout.amountMinor, header.currency) };
      if (raw.name) payout.name = raw.name;
      if (raw.note) payout.note = raw.note;
      if (raw.repays) payout.repays = raw.repays;
      payouts.push(payout);
      amounts.push(checked.payout.amountMinor);
    }
  });
  const total = sumMinor(amounts);
  if (!total.ok) problems.push({ line: first.info.lines, column: null, problem: 'The payouts add up to more than Tuma can store in one batch.', code: 'AMOUNT_RANGE' });
  if (problems.length > 0 || !total.ok) return { ok: false, problems };
  const document = {
    batchId: header.batchId,
    organisationId: header.organisationId,
    programmeId: header.programmeId,
    currency: header.currency,
    createdAt: header.createdAt.toISOString(),
    expiresAt: header.expiresAt.toISOString(),
    declared: { count: payouts.length, total: formatAmount(total.value, header.currency) },
    payouts,
  };
  return { ok: true, json: JSON.stringify(document) };
}

/** A problem as one line: where, the sentence, the code. */
export function formatCsvProblem(p: CsvProblem): string {
  return `line ${p.line}${p.column ? `, column ${p.column.index} (${p.column.name})` : ''}: ${p.problem} (${p.code})`;
}

/**
 * The rules the server checks the programme's rows against: its policy and its provider accounts,
 * read with the caller's token. A programme of another organisation, or none, is a refusal.
 */
export async function serverRules(io: BatchCliIo, api: Api, programmeId: string, currency: CurrencyCode): Promise<BuildRules> {
  const id = encodeURIComponent(programmeId);
  const read = async (path: string, what: string) => {
    let answer: Awaited<ReturnType<typeof call>>;
    try {
      answer = await call(io, api, 'GET', path, undefined, requestTimeoutMs);
    } catch (error) {
      if (error instanceof CliError && error.exitCode === exitCodes.unavailable) {
        throw new CliError(`${error.message}; nothing written (--offline builds without the server, checking the providers' own rules only)`, error.exitCode);
      }
      throw error;
    }
    const { status, json } = answer;
    if (status === 404) throw new CliError(`programme ${programmeId} is not a programme of your organisation (404 NOT_FOUND); nothing written`, exitCodes.failed);
    if (status !== 200 || !json) {
      const error = (json?.error ?? {}) as { code?: string; message?: string };
      throw new CliError(`the server would not give ${what} of programme ${programmeId}: ${status} ${error.code ?? '(no code)'}${error.message ? `: ${error.message}` : ''}; nothing written`, exitCodes.failed);
    }
    return json;
  };
  const policy = await read(`/v1/programmes/${id}/policy`, 'the policy');
  const accounts = await read(`/v1/programmes/${id}/provider-accounts`, 'the provider accounts');
  const malformed = () => new CliError(`the server's answer about programme ${programmeId} is not what this tuma reads (is it another version of Tuma?); nothing written`, exitCodes.failed);
  if (accounts.currency !== currency) {
    if (typeof accounts.currency !== 'string') throw malformed();
    throw new CliError(`programme ${programmeId} pays in ${accounts.currency}, not ${currency} (PROGRAMME_CURRENCY_MISMATCH); nothing written`, exitCodes.failed);
  }
  const providers = policy.providers;
  if (!Array.isArray(providers) || !providers.every((p): p is string => typeof p === 'string')) throw malformed();
  let payoutMaxMinor: bigint | null = null;
  if (policy.payoutMax !== null && policy.payoutMax !== undefined) {
    const max = parseAmount(policy.payoutMax, currency);
    if (!max.ok) throw malformed();
    payoutMaxMinor = max.value;
  }
  const rowErrors = policy.rowErrors === 'accept_valid_rows' ? 'accept_valid_rows' : 'reject_batch';
  let routes: Map<ProviderId, Map<string, AccountLimits>> | undefined;
  if (accounts.accounts !== null) {
    if (!Array.isArray(accounts.accounts)) throw malformed();
    routes = new Map();
    for (const a of accounts.accounts as { provider?: unknown; country?: unknown; payoutMin?: unknown; payoutMax?: unknown }[]) {
      if (typeof a?.provider !== 'string' || !isProviderId(a.provider) || typeof a.country !== 'string') throw malformed();
      const bound = (v: unknown) => {
        if (v === null || v === undefined) return null;
        const parsed = parseAmount(v, currency);
        if (!parsed.ok) throw malformed();
        return parsed.value;
      };
      let byCountry = routes.get(a.provider);
      if (!byCountry) routes.set(a.provider, (byCountry = new Map()));
      byCountry.set(a.country, { minMinor: bound(a.payoutMin), maxMinor: bound(a.payoutMax) });
    }
  }
  return { providers: providers.filter(isProviderId), payoutMaxMinor, rowErrors, ...(routes ? { routes } : {}) };
}

async function build(argv: string[], io: BatchCliIo): Promise<number> {
  const { values } = args(argv, {
    csv: { type: 'string' }, org: { type: 'string' }, programme: { type: 'string' }, currency: { type: 'string' },
    'batch-id': { type: 'string' }, 'expires-in': { type: 'string', default: '72' }, 'max-rows': { type: 'string', default: String(csvRowsMax) }, out: { type: 'string' },
    force: { type: 'boolean', default: false }, offline: { type: 'boolean', default: false }, url: { type: 'string' }, token: { type: 'string' },
  });
  if (!values.csv || !values.org || !values.programme || !values.currency) throw new UsageError('--csv, --org, --programme and --currency are required');
  if (!isCurrencyCode(values.currency)) throw new UsageError(`unknown currency ${values.currency}`);
  const hours = Number(values['expires-in']);
  if (!Number.isInteger(hours) || hours < 1 || hours > expiresInHoursMax) throw new UsageError(`--expires-in is 1..${expiresInHoursMax} hours`);
  const maxRows = Number(values['max-rows']);
  if (!Number.isInteger(maxRows) || maxRows < 1 || maxRows > csvRowsMax) throw new UsageError(`--max-rows is 1..${csvRowsMax}`);
  const batchId = values['batch-id'] ?? randomUUID();
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i.test(batchId)) throw new UsageError('--batch-id is a UUID');
  if (!/^[A-Za-z0-9_.:-]{1,64}$/.test(values.programme)) throw new UsageError('--programme is a programme id (1 to 64 of A-Z, a-z, 0-9, _ . : -)');
  if (values.offline && (values.url || values.token)) throw new UsageError('--offline asks no server: leave out --url and --token');
  const csv = readBounded(values.csv, csvBytesMax).toString('utf8');
  // The server's rules for this programme (its policy and its accounts), unless asked not to: a
  // CSV built here is then one the server accepts, or refused with the same codes.
  const rules = values.offline ? offlineRules : await serverRules(io, apiOf(values, io, 'to check the rows against the programme (or --offline)'), values.programme, values.currency);
  const now = io.now();
  const built = buildBatch(csv, {
    organisationId: values.org, programmeId: values.programme, currency: values.currency, batchId: batchId.toLowerCase(), createdAt: now, expiresAt: new Date(now.getTime() + hours * 3_600_000),
  }, maxRows, rules);
  if (!built.ok) {
    for (const p of built.problems) io.err(formatCsvProblem(p));
    io.err(`tuma batch build: ${built.problems.length} problem${built.problems.length === 1 ? '' : 's'} in ${values.csv}; nothing written`);
    return 1;
  }
  const document = JSON.parse(built.json) as { batchId: string; currency: string; expiresAt: string; declared: { count: number; total: string } };
  const checked = values.offline ? "checked offline against the providers' own rules only (not the programme's policy or accounts)" : "checked against the programme's policy and accounts";
  const summary = `batch ${document.batchId}: ${document.declared.count} payout${document.declared.count === 1 ? '' : 's'}, ${document.currency} ${document.declared.total}, for ${values.org}/${values.programme}, expires ${document.expiresAt}; ${checked}`;
  if (values.out) {
    writeOutputFile(values.out, built.json, { force: values.force === true });
    io.out(`wrote ${values.out}: ${summary}`);
  } else {
    // The document is the output: the line that says what it is goes to stderr.
    io.write(built.json);
    io.err(`tuma batch build: ${summary}`);
  }
  return 0;
}

// ---------------------------------------------------------------- sign and approve

async function signingKey(file: string): Promise<{ key: Awaited<ReturnType<typeof importJWK>>; alg: string; kid: string }> {
  let jwk: JWK;
  try {
    jwk = JSON.parse(readBounded(file, 64 * 1024).toString('utf8')) as JWK;
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(`${file} is not a JWK`);
  }
  const alg = jwk.alg;
  if (!alg || !(allowedAlgorithms as readonly string[]).includes(alg)) throw new UsageError(`${file} has no alg among ${allowedAlgorithms.join(', ')}`);
  if (!jwk.d) throw new UsageError(`${file} is not a private key`);
  const kid = await calculateJwkThumbprint(publicJwkOf(jwk), 'sha256');
  return { key: await importJWK(jwk, alg), alg, kid };
}

async function detachedSignature(bytes: Uint8Array, keyFile: string): Promise<{ protected: string; signature: string }> {
  const { key, alg, kid } = await signingKey(keyFile);
  const { protected: prot, signature } = await new FlattenedSign(bytes).setProtectedHeader({ alg, kid }).sign(key);
  return { protected: prot!, signature };
}

async function sign(argv: string[], io: BatchCliIo): Promise<number> {
  const { values, positionals } = args(argv, { key: { type: 'string' }, out: { type: 'string' }, 'add-to': { type: 'string' }, force: { type: 'boolean', default: false } });
  const file = positionals[0];
  if (!values.key || !file) throw new UsageError('--key and the batch file are required');
  const bytes = readBounded(file, jwsFileBytesMax);
  const payload = bytes.toString('base64url');
  const signature = await detachedSignature(bytes, values.key);
  const { kid } = JSON.parse(Buffer.from(signature.protected, 'base64url').toString('utf8')) as { kid: string };
  let jws: GeneralJws;
  if (values['add-to']) {
    const existing = JSON.parse(readBounded(values['add-to'], jwsFileBytesMax).toString('utf8')) as GeneralJws;
    if (existing.payload !== payload) {
      io.err(`tuma batch sign: ${values['add-to']} signs other bytes than ${file}`);
      return 1;
    }
    jws = { payload, signatures: [...existing.signatures, signature] };
  } else jws = { payload, signatures: [signature] };
  const text = JSON.stringify(jws);
  const summary = `${file} signed with key ${kid}; ${jws.signatures.length} signature${jws.signatures.length === 1 ? '' : 's'}`;
  if (values.out) {
    writeOutputFile(values.out, text, { force: values.force === true || values['add-to'] === values.out });
    io.out(`wrote ${values.out}: ${summary}`);
  } else {
    io.write(text);
    io.err(`tuma batch sign: ${summary}`);
  }
  return 0;
}

// ---------------------------------------------------------------- the API

export interface Api {
  readonly url: string;
  readonly token: string;
}

/** The API's address and bearer token: --url/--token, else TUMA_URL/TUMA_TOKEN; a UsageError names what is wrong. */
export function apiOf(values: { url?: string; token?: string }, io: BatchCliIo, why = ''): Api {
  const url = (values.url ?? io.env.TUMA_URL ?? 'http://127.0.0.1:8080').replace(/\/+$/, '');
  const token = values.token ?? io.env.TUMA_TOKEN;
  if (!/^https?:\/\/[^\s]+$/.test(url)) throw new UsageError(`--url ${url} is not an http(s) URL`);
  if (!token) throw new UsageError(`a bearer token is needed${why ? ` ${why}` : ''}: --token or TUMA_TOKEN`);
  return { url, token };
}

async function call(io: BatchCliIo, api: Api, method: string, path: string, body: string | undefined, timeoutMs: number): Promise<{ status: number; json: Record<string, unknown> | null }> {
  let res: Response;
  try {
    res = await io.fetch(`${api.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${api.token}`, ...(body !== undefined ? { 'content-type': 'application/jose+json' } : {}) },
      body,
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    throw unreachable(error, `the API at ${api.url}`, 'is Tuma running there? --url or TUMA_URL says where') ?? error;
  }
  return { status: res.status, json: await jsonOf(res) };
}

/** An answer's JSON body, or null when it has none. */
export async function jsonOf(res: Response): Promise<Record<string, unknown> | null> {
  try {
    return JSON.parse(await res.text()) as Record<string, unknown>;
  } catch {
    return null;
  }
}

/** Prints a refusal: its code and message, and every row problem on its own line (row from 1, field, sentence, code), as `batch build` prints a CSV's. */
export function printRefusal(io: Pick<BatchCliIo, 'err'>, status: number, json: Record<string, unknown> | null): void {
  const error = (json?.error ?? {}) as { code?: string; message?: string; detail?: string; errors?: { row: number | null; field: string; code: string; message?: string }[] };
  io.err(`refused: ${status} ${error.code ?? '(no code)'}: ${error.message ?? ''}${error.detail ? ` (${error.detail})` : ''}`);
  for (const e of error.errors ?? []) io.err(`  ${e.row === null ? 'the document' : `row ${e.row}`}, field ${e.field}: ${e.message ? `${e.message} ` : ''}(${e.code})`);
}

/** Whether an answer says its request had been made before (`replayed`, else a 200 where 201 means done now). */
export function wasReplayed(status: number, json: Record<string, unknown> | null): boolean {
  return typeof json?.replayed === 'boolean' ? json.replayed : status === 200;
}

async function submit(argv: string[], io: BatchCliIo): Promise<number> {
  const { values, positionals } = args(argv, { url: { type: 'string' }, token: { type: 'string' }, json: { type: 'boolean', default: false } });
  const file = positionals[0];
  if (!file) throw new UsageError('the signed batch file is required');
  const api = apiOf(values, io);
  const { status, json } = await call(io, api, 'POST', '/v1/batches', readBounded(file, jwsFileBytesMax).toString('utf8'), submitTimeoutMs);
  if (status !== 200 && status !== 201) {
    printRefusal(io, status, json);
    return 1;
  }
  // 201 (replayed false): stored now; 200 (replayed true): the same batch was submitted before, nothing changed.
  if (values.json) io.out(JSON.stringify(json, null, 2));
  else io.out(`${wasReplayed(status, json) ? 'already submitted, nothing changed:' : 'submitted'} batch ${String(json?.batchId ?? '')}; ${describe(json as unknown as BatchView)}`);
  return 0;
}

async function approve(argv: string[], io: BatchCliIo): Promise<number> {
  const { values, positionals } = args(argv, { key: { type: 'string' }, url: { type: 'string' }, token: { type: 'string' }, json: { type: 'boolean', default: false } });
  const file = positionals[0];
  if (!values.key || !file) throw new UsageError('--key and the batch file are required');
  const api = apiOf(values, io);
  const bytes = readBounded(file, jwsFileBytesMax);
  let batchId: unknown;
  try {
    batchId = (JSON.parse(bytes.toString('utf8')) as { batchId?: unknown }).batchId;
  } catch {
    throw new UsageError(`${file} is not a batch document`);
  }
  if (typeof batchId !== 'string' || !/^[0-9a-fA-F-]{36}$/.test(batchId)) throw new UsageError(`${file} has no batchId`);
  const signature = await detachedSignature(bytes, values.key);
  const { kid } = JSON.parse(Buffer.from(signature.protected, 'base64url').toString('utf8')) as { kid: string };
  const { status, json } = await call(io, api, 'POST', `/v1/batches/${batchId.toLowerCase()}/approvals`, JSON.stringify(signature), requestTimeoutMs);
  if (status !== 200 && status !== 201) {
    printRefusal(io, status, json);
    return 1;
  }
  if (values.json) io.out(JSON.stringify(json, null, 2));
  else io.out(`${wasReplayed(status, json) ? 'already approved with this signature, nothing changed:' : 'approved'} batch ${batchId.toLowerCase()} with key ${kid}; ${describe(json as unknown as BatchView)}`);
  return 0;
}

/** A batch id as given, or read from a batch document file (`tuma batch status batch.json`). */
function batchIdOf(given: string | undefined): string {
  if (!given) throw new UsageError('the batch id (a UUID) or the batch file is required');
  if (/^[0-9a-fA-F-]{36}$/.test(given)) return given;
  let id: unknown;
  try {
    id = (JSON.parse(readBounded(given, jwsFileBytesMax).toString('utf8')) as { batchId?: unknown }).batchId;
  } catch (error) {
    if (error instanceof CliError) throw new UsageError(`${given} is neither a batch id (a UUID) nor a batch file (${error.message})`);
    throw new UsageError(`${given} is neither a batch id (a UUID) nor a batch document`);
  }
  if (typeof id !== 'string' || !/^[0-9a-fA-F-]{36}$/.test(id)) throw new UsageError(`${given} has no batchId`);
  return id;
}

interface BatchView {
  state: string;
  payoutCount: number;
  total: string;
  currency: string;
  approvals?: { required: number; received: number };
  payouts: Record<string, { count: number; amount: string }>;
}

function describe(b: BatchView): string {
  const states = Object.entries(b.payouts).map(([s, c]) => `${s} ${c.count}`).join(', ');
  const approvals = b.approvals ? `, approvals ${b.approvals.received}/${b.approvals.required}` : '';
  return `${b.state}: ${b.payoutCount} payouts, ${b.currency} ${b.total}${approvals}; ${states}`;
}

export function progressBar(b: BatchView, width = 30): string {
  const settled = Object.entries(b.payouts).filter(([s]) => settledPayoutStates.includes(s)).reduce((n, [, c]) => n + c.count, 0);
  const filled = b.payoutCount === 0 ? width : Math.floor((settled / b.payoutCount) * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${settled}/${b.payoutCount} settled  ${describe(b)}`;
}

async function status(argv: string[], io: BatchCliIo): Promise<number> {
  const { values, positionals } = args(argv, {
    watch: { type: 'boolean', default: false }, interval: { type: 'string', default: '2' }, timeout: { type: 'string', default: '3600' },
    url: { type: 'string' }, token: { type: 'string' },
  });
  const batchId = batchIdOf(positionals[0]);
  const interval = Number(values.interval);
  const timeout = Number(values.timeout);
  if (!(interval > 0 && interval <= watchIntervalSecondsMax)) throw new UsageError(`--interval is up to ${watchIntervalSecondsMax} seconds`);
  if (!Number.isInteger(timeout) || timeout < 1 || timeout > watchTimeoutSecondsMax) throw new UsageError(`--timeout is 1..${watchTimeoutSecondsMax} seconds`);
  const api = apiOf(values, io);
  const deadline = io.now().getTime() + timeout * 1000;
  // Bounded by the deadline and by a count, whichever comes first.
  const pollsMax = Math.ceil(timeout / interval) + 1;
  for (let poll = 0; poll < pollsMax; poll++) {
    const { status: code, json } = await call(io, api, 'GET', `/v1/batches/${batchId.toLowerCase()}`, undefined, requestTimeoutMs);
    if (code !== 200 || !json) {
      if (io.isTTY && values.watch && poll > 0) io.write('\n');
      printRefusal(io, code, json);
      return 1;
    }
    const batch = json as unknown as BatchView;
    if (!values.watch) {
      io.out(describe(batch));
      return 0;
    }
    const line = progressBar(batch);
    if (io.isTTY) io.write(`\r${line}`);
    else io.out(line);
    if (terminalBatchStates.includes(batch.state)) {
      if (io.isTTY) io.write('\n');
      return 0;
    }
    if (io.now().getTime() + interval * 1000 > deadline) break;
    await io.sleep(interval * 1000);
  }
  if (io.isTTY) io.write('\n');
  io.err(`tuma batch status: still not over after ${timeout} s`);
  return 1;
}

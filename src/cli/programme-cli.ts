// `tuma programme erase` and `tuma programme retention`: administrators erase a programme's
// beneficiary data from a terminal, maker–checker (issue #15 item 3), through the API (TUMA_URL,
// TUMA_TOKEN, as the batch commands):
//   tuma programme erase --programme <id> --reason <text>   an admin asks   (POST .../erasure)
//   tuma programme erase --programme <id> --confirm         another confirms (GET, then POST .../erasure/confirm
//                                                           naming the request it read)
//   tuma programme erase --programme <id> --status          where it stands (GET .../erasure)
//   tuma programme retention --programme <id> --days <n|none>
// What is printed is the erasure's view (ids, counts, times; never a name or a number).
// And finance records donor money received for a programme:
//   tuma programme fund --programme <id> --amount <decimal> --currency <CCY> --source <id> --idempotency-key <key> [--reference <text>]
//                                                           (POST .../fundings; one line: recorded, or already recorded)
import { parseArgs } from 'node:util';
import { isCurrencyCode } from '../domain/currency.js';
import { parseAmount } from '../domain/money.js';
import { CliError, unreachable } from './cli-errors.js';
import { apiOf, jsonOf, printRefusal as printRowRefusal, requestTimeoutMs, UsageError, wasReplayed, type Api, type BatchCliIo } from './batch-cli.js';

const usage = `usage:
  tuma programme erase --programme <id> --reason <text>    ask for the programme's beneficiary data to be erased
  tuma programme erase --programme <id> --confirm          confirm another admin's request: destroys the data for good
  tuma programme erase --programme <id> --status           show the erasure's state
  tuma programme retention --programme <id> --days <n|none> keep the beneficiary data n days after the last batch activity
  tuma programme fund --programme <id> --amount <decimal> --currency <CCY> --source <id> --idempotency-key <key> [--reference <text>] [--json]
                                                            record donor money received (role finance or admin); the same
                                                            --idempotency-key again records nothing more and says so
  Common: [--url <api>] [--token <jwt>]; the API is --url or TUMA_URL (default http://127.0.0.1:8080),
  the bearer token --token or TUMA_TOKEN (role admin; --status also auditor; fund finance or admin).`;

/** Confirming can take a while: a programme's statement files are deleted in the same transaction. */
export const eraseConfirmTimeoutMs = 300_000;

interface Answer {
  readonly status: number;
  readonly json: Record<string, unknown> | null;
}

async function call(io: BatchCliIo, api: Api, method: string, path: string, body: unknown, timeoutMs = requestTimeoutMs): Promise<Answer | null> {
  try {
    const res = await io.fetch(`${api.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${api.token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    return { status: res.status, json: await jsonOf(res) };
  } catch (error) {
    io.err(`the API at ${api.url} did not answer (${(error as Error).name})`);
    return null;
  }
}

function printRefusal(io: BatchCliIo, a: Answer): number {
  const e = (a.json?.error ?? {}) as { code?: string; message?: string; detail?: string };
  io.err(`refused: ${a.status} ${e.code ?? '(no code)'}: ${e.message ?? ''}${e.detail ? ` (${e.detail})` : ''}`);
  return 1;
}

interface ErasureAnswer {
  state?: string;
  erasedAt?: string | null;
  request?: { erasureId?: string; state?: string; reason?: string; requestedBy?: string; expiresAt?: string; confirmedBy?: string | null; payouts?: number | null } | null;
  statements?: { file?: string }[];
  retention?: { days?: number | null; dueAt?: string | null };
}

function summary(io: BatchCliIo, programmeId: string, v: ErasureAnswer): void {
  const r = v.request;
  if (v.state === 'erased') {
    const files = v.statements ?? [];
    const erased = files.filter((s) => s.file === 'erased').length;
    io.err(`programme ${programmeId}: erased at ${v.erasedAt ?? '?'} (asked by ${r?.requestedBy ?? '?'}, confirmed by ${r?.confirmedBy ?? '?'}); `
      + `${r?.payouts ?? 0} payout(s) now show "erased"; statement files: ${erased} erased, ${files.length - erased} kept (shared with programmes not erased)`);
  } else if (v.state === 'awaiting_confirmation' && r) {
    io.err(`programme ${programmeId}: erasure ${r.erasureId ?? '?'} asked by ${r.requestedBy ?? '?'} ("${r.reason ?? ''}"); another admin confirms before ${r.expiresAt ?? '?'} with:`);
    io.err(`  tuma programme erase --programme ${programmeId} --confirm`);
  } else {
    io.err(`programme ${programmeId}: not erased${r?.state === 'expired' ? ` (request ${r.erasureId ?? '?'} expired unconfirmed)` : ''}`);
  }
  if (v.retention?.days) io.err(`retention: ${v.retention.days} day(s) after the last batch activity${v.retention.dueAt ? `, due ${v.retention.dueAt}` : ''}`);
}

/** `argv`: what follows `programme`. Exit codes: 0 done, 1 refused, 2 usage, 69 no answer from the API. */
export async function runProgrammeCli(argv: readonly string[], io: BatchCliIo): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === 'fund') {
    try {
      return await fund(rest, io);
    } catch (error) {
      if (!(error instanceof UsageError) && !(error instanceof CliError)) throw error;
      io.err(`tuma programme fund: ${error.message}`);
      return error instanceof CliError ? error.exitCode : 2;
    }
  }
  let values: { programme?: string; reason?: string; confirm?: boolean; status?: boolean; days?: string; url?: string; token?: string };
  try {
    ({ values } = parseArgs({
      args: rest,
      allowPositionals: false,
      strict: true,
      options: {
        programme: { type: 'string' }, reason: { type: 'string' }, confirm: { type: 'boolean' }, status: { type: 'boolean' }, days: { type: 'string' },
        url: { type: 'string' }, token: { type: 'string' },
      },
    }));
  } catch {
    io.err(usage);
    return 2;
  }
  const programmeId = values.programme;
  const modes = [values.reason !== undefined, values.confirm === true, values.status === true].filter(Boolean).length;
  const badErase = sub === 'erase' && modes !== 1;
  const badRetention = sub === 'retention' && (values.days === undefined || modes !== 0 || !/^([1-9][0-9]{0,4}|none)$/.test(values.days));
  if (!programmeId || !/^[A-Za-z0-9_.:-]{1,64}$/.test(programmeId) || (sub !== 'erase' && sub !== 'retention') || badErase || badRetention) {
    io.err(usage);
    return 2;
  }
  let api: Api;
  try {
    api = apiOf(values, io);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.err(`tuma programme ${sub}: ${error.message}`);
    return 2;
  }
  const path = `/v1/programmes/${encodeURIComponent(programmeId)}`;

  if (sub === 'retention') {
    const a = await call(io, api, 'PUT', `${path}/retention`, { days: values.days === 'none' ? null : Number(values.days) });
    if (!a) return 69;
    if (a.status !== 200) return printRefusal(io, a);
    io.out(JSON.stringify(a.json));
    summary(io, programmeId, a.json as ErasureAnswer);
    return 0;
  }
  if (values.status) {
    const a = await call(io, api, 'GET', `${path}/erasure`, undefined);
    if (!a) return 69;
    if (a.status !== 200) return printRefusal(io, a);
    io.out(JSON.stringify(a.json));
    summary(io, programmeId, a.json as ErasureAnswer);
    return 0;
  }
  if (values.reason !== undefined) {
    const a = await call(io, api, 'POST', `${path}/erasure`, { reason: values.reason });
    if (!a) return 69;
    if (a.status !== 200 && a.status !== 201) return printRefusal(io, a);
    io.out(JSON.stringify(a.json));
    summary(io, programmeId, a.json as ErasureAnswer);
    return 0;
  }
  // Confirm exactly the request shown: a request made since (the one read expired) is not confirmed by mistake.
  const read = await call(io, api, 'GET', `${path}/erasure`, undefined);
  if (!read) return 69;
  if (read.status !== 200) return printRefusal(io, read);
  const seen = read.json as ErasureAnswer;
  const erasureId = seen.request?.erasureId;
  if (seen.state === 'awaiting_confirmation' && erasureId) {
    io.err(`confirming erasure ${erasureId} of programme ${programmeId}, asked by ${seen.request?.requestedBy ?? '?'} ("${seen.request?.reason ?? ''}")…`);
  }
  const a = await call(io, api, 'POST', `${path}/erasure/confirm`, erasureId && seen.state !== 'not_requested' ? { erasureId } : undefined, eraseConfirmTimeoutMs);
  if (!a) return 69;
  if (a.status !== 200) return printRefusal(io, a);
  io.out(JSON.stringify(a.json));
  summary(io, programmeId, a.json as ErasureAnswer);
  return 0;
}

/** An Idempotency-Key as the API takes it: it names the funding event (a bank transfer's reference, a grant tranche). */
const idempotencyKeyPattern = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * `tuma programme fund`: POST /v1/programmes/{id}/fundings. The Idempotency-Key is the caller's:
 * the same funding recorded twice (a retry, a second person) posts once, and the second run says
 * it was already recorded (the answer's `replayed`).
 */
async function fund(argv: string[], io: BatchCliIo): Promise<number> {
  let values: { programme?: string; amount?: string; currency?: string; source?: string; reference?: string; 'idempotency-key'?: string; json?: boolean; url?: string; token?: string };
  try {
    ({ values } = parseArgs({
      args: argv, allowPositionals: false, strict: true,
      options: {
        programme: { type: 'string' }, amount: { type: 'string' }, currency: { type: 'string' }, source: { type: 'string' }, reference: { type: 'string' },
        'idempotency-key': { type: 'string' }, json: { type: 'boolean', default: false }, url: { type: 'string' }, token: { type: 'string' },
      },
    }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { programme, amount, currency, source } = values;
  const key = values['idempotency-key'];
  if (!programme || !amount || !currency || !source || !key) throw new UsageError('--programme, --amount, --currency, --source and --idempotency-key are required');
  if (!/^[A-Za-z0-9_.:-]{1,64}$/.test(programme)) throw new UsageError('--programme is a programme id (1 to 64 of A-Z, a-z, 0-9, _ . : -)');
  if (!isCurrencyCode(currency)) throw new UsageError(`unknown currency ${currency.slice(0, 8)}`);
  const parsed = parseAmount(amount, currency);
  if (!parsed.ok) throw new UsageError(`--amount is a positive decimal in ${currency}, like 250000.00 (${parsed.error})`);
  if (!idempotencyKeyPattern.test(key)) throw new UsageError('--idempotency-key is 1 to 128 of A-Z, a-z, 0-9, . _ : - and names the funding event (e.g. the bank transfer\'s reference)');
  const api = apiOf(values, io);
  const body = { amount, currency, source, ...(values.reference !== undefined ? { reference: values.reference } : {}) };
  let res: Response;
  try {
    res = await io.fetch(`${api.url}/v1/programmes/${encodeURIComponent(programme)}/fundings`, {
      method: 'POST',
      headers: { authorization: `Bearer ${api.token}`, 'content-type': 'application/json', 'idempotency-key': key },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(requestTimeoutMs),
    });
  } catch (error) {
    // Recorded or not, the same command again (the same key) records it once.
    throw unreachable(error, `the API at ${api.url}`, 'is Tuma running there? the same command again records the funding once') ?? error;
  }
  const json = await jsonOf(res);
  if (res.status !== 200 && res.status !== 201) {
    printRowRefusal(io, res.status, json);
    return 1;
  }
  if (values.json) {
    io.out(JSON.stringify(json, null, 2));
    return 0;
  }
  const f = (json ?? {}) as { fundingId?: string; amount?: string; currency?: string; source?: string; availableAfter?: string };
  const what = `funding ${f.fundingId ?? '?'} of ${f.currency ?? currency} ${f.amount ?? amount} from ${f.source ?? source} to programme ${programme} (key ${key}); available after it: ${f.currency ?? currency} ${f.availableAfter ?? '?'}`;
  io.out(wasReplayed(res.status, json) ? `already recorded, nothing posted: ${what}` : `recorded ${what}`);
  return 0;
}

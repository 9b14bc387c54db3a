// `tuma reconcile import --account <id> --from <date> --to <date> [--format id@v] [--good-lines] FILE`:
// finance's way to hand a provider statement to Tuma from a terminal. The file streams to
// POST /v1/reconciliations (TUMA_URL, TUMA_TOKEN, as the batch commands), never read whole, with
// a progress bar on a terminal (a line per tenth otherwise); the answer is printed as the classes'
// counts and amounts, or the refusal with every bad line named.
import { createReadStream, statSync } from 'node:fs';
import { Readable, Transform } from 'node:stream';
import { parseArgs } from 'node:util';
import { apiOf, jsonOf, UsageError, type Api, type BatchCliIo } from './batch-cli.js';

/** How long an import may take end to end (a 512 MiB file over a slow link, and the match). */
export const reconcileImportTimeoutMs = 30 * 60_000;
/** Bad lines printed at most (the answer lists up to 1,000). */
export const badLinesPrintedMax = 50;

const usage = `usage: tuma reconcile import --account <id> --from <date> --to <date> [--format <id@version>] [--good-lines] [--url <api>] [--token <jwt>] FILE
  The period is [from, to): ISO dates (00:00 UTC) or instants, the one the file declares.
  The API is --url or TUMA_URL (default http://127.0.0.1:8080); the bearer token --token or TUMA_TOKEN (role finance or admin).`;

export async function runReconcileCli(argv: readonly string[], io: BatchCliIo & { readonly isStderrTTY?: boolean }): Promise<number> {
  if (argv[0] !== 'import') {
    io.err(usage);
    return 2;
  }
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv.slice(1));
  } catch {
    io.err(usage);
    return 2;
  }
  const { values, positionals } = parsed;
  const file = positionals[0];
  if (!file || positionals.length !== 1 || !values.account || !values.from || !values.to) {
    io.err(usage);
    return 2;
  }
  let size: number;
  try {
    const st = statSync(file);
    if (!st.isFile()) throw new Error('not a file');
    size = st.size;
  } catch {
    io.err(`tuma reconcile import: cannot read ${file}`);
    return 66;
  }
  let api: Api;
  try {
    api = apiOf(values, io);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.err(`tuma reconcile import: ${error.message}`);
    return 2;
  }
  const { url, token } = api;
  const query = new URLSearchParams({ account: values.account, from: values.from, to: values.to, ...(values.format ? { format: values.format } : {}), ...(values['good-lines'] ? { importGoodLines: 'true' } : {}) });
  const progress = progressOf(io, size);
  const source = createReadStream(file);
  const body = source.pipe(progress.counter);
  let res: Response;
  try {
    res = await io.fetch(`${url}/v1/reconciliations?${query.toString()}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'text/csv', 'content-length': String(size) },
      body: Readable.toWeb(body) as ReadableStream,
      duplex: 'half',
      signal: AbortSignal.timeout(reconcileImportTimeoutMs),
    } as RequestInit);
  } catch (error) {
    // Nothing more is read: the file is closed now, not left opening after we answered.
    source.on('error', () => undefined).destroy();
    body.destroy();
    progress.done();
    io.err(`tuma reconcile import: the API at ${url} did not answer (${(error as Error).name})`);
    return 69;
  }
  progress.done();
  return printReconciliationAnswer(io, res);
}

/**
 * Prints the answer of POST /v1/reconciliations or /v1/reconciliations/pull: the refusal with its
 * bad lines, or the statement and its classes. Returns the exit code (0 reconciled, 1 refused).
 */
export async function printReconciliationAnswer(io: Pick<BatchCliIo, 'out' | 'err'>, res: Response): Promise<number> {
  const json = await jsonOf(res);
  if (res.status !== 200 && res.status !== 201) {
    const error = (json?.error ?? {}) as { code?: string; message?: string; detail?: string; lines?: { line: number; column: string; problem: string }[]; badLines?: number };
    io.err(`refused: ${res.status} ${error.code ?? '(no code)'}: ${error.message ?? ''}${error.detail ? ` (${error.detail})` : ''}`);
    for (const l of (error.lines ?? []).slice(0, badLinesPrintedMax)) io.err(`  line ${l.line}, column ${l.column}: ${l.problem}`);
    if ((error.badLines ?? 0) > badLinesPrintedMax) io.err(`  … ${error.badLines! - badLinesPrintedMax} more bad lines`);
    return 1;
  }
  const s = json as { statementId: string; replayed: boolean; currency: string; lines: { total: number; imported: number; refused: number }; classes: Record<string, { count: number; statementAmount: string; ledgerAmount: string }> };
  io.out(`${s.replayed ? 'already imported' : 'imported'}: statement ${s.statementId}, ${s.lines.imported} of ${s.lines.total} lines${s.lines.refused > 0 ? ` (${s.lines.refused} refused)` : ''}`);
  for (const [name, c] of Object.entries(s.classes).sort(([a], [b]) => a.localeCompare(b))) {
    io.out(`  ${name.padEnd(22)} ${String(c.count).padStart(9)}   statement ${c.statementAmount} ${s.currency}   ledger ${c.ledgerAmount} ${s.currency}`);
  }
  return 0;
}

function parse(args: string[]) {
  return parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      account: { type: 'string' },
      from: { type: 'string' },
      to: { type: 'string' },
      format: { type: 'string' },
      'good-lines': { type: 'boolean' },
      url: { type: 'string' },
      token: { type: 'string' },
    },
  });
}

/** Counts the bytes going out: a bar redrawn on a terminal, a line per tenth otherwise. */
function progressOf(io: BatchCliIo & { readonly isStderrTTY?: boolean }, size: number) {
  let sent = 0;
  let shownTenth = -1;
  const tty = io.isStderrTTY === true;
  const show = () => {
    const fraction = size === 0 ? 1 : Math.min(sent / size, 1);
    if (tty) {
      const width = 30;
      const full = Math.round(fraction * width);
      process.stderr.write(`\r[${'#'.repeat(full)}${'.'.repeat(width - full)}] ${Math.floor(fraction * 100)}% of ${size} bytes`);
    } else if (Math.floor(fraction * 10) > shownTenth) {
      shownTenth = Math.floor(fraction * 10);
      io.err(`sent ${Math.floor(fraction * 100)}% of ${size} bytes`);
    }
  };
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      sent += chunk.length;
      show();
      done(null, chunk);
    },
  });
  return {
    counter,
    done: () => {
      if (tty) process.stderr.write('\n');
    },
  };
}

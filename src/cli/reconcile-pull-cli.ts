// `tuma reconcile pull --account <id> --from <date> --to <date>`: finance's way to have a GSMA
// account's statement for a window that has ended pulled from the provider and reconciled, from a
// terminal: POST /v1/reconciliations/pull (TUMA_URL, TUMA_TOKEN, as the batch commands). The
// answer is printed as `tuma reconcile import` prints its own: the classes' counts and amounts, or
// the refusal (a pull that failed says why).
import { parseArgs } from 'node:util';
import { apiOf, UsageError, type Api, type BatchCliIo } from './batch-cli.js';
import { printReconciliationAnswer, reconcileImportTimeoutMs } from './reconcile-cli.js';

const usage = `usage: tuma reconcile pull --account <id> --from <date> --to <date> [--url <api>] [--token <jwt>]
  Pulls the GSMA account's statement entries for the window [from, to) from the provider and reconciles them.
  from and to: ISO dates (00:00 UTC) or instants in whole seconds; the window must have ended.
  The API is --url or TUMA_URL (default http://127.0.0.1:8080); the bearer token --token or TUMA_TOKEN (role finance or admin).`;

/** `argv`: what follows `reconcile pull`. Exit codes: 0 reconciled, 1 refused, 2 usage, 69 no answer from the API. */
export async function runReconcilePullCli(argv: readonly string[], io: BatchCliIo): Promise<number> {
  let values: { account?: string; from?: string; to?: string; url?: string; token?: string };
  try {
    ({ values } = parseArgs({
      args: [...argv],
      allowPositionals: false,
      strict: true,
      options: { account: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' }, url: { type: 'string' }, token: { type: 'string' } },
    }));
  } catch {
    io.err(usage);
    return 2;
  }
  if (!values.account || !values.from || !values.to) {
    io.err(usage);
    return 2;
  }
  let api: Api;
  try {
    api = apiOf(values, io);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.err(`tuma reconcile pull: ${error.message}`);
    return 2;
  }
  const query = new URLSearchParams({ account: values.account, from: values.from, to: values.to });
  io.err(`pulling the statement of ${values.account} from ${values.from} to ${values.to} from the provider…`);
  let res: Response;
  try {
    res = await io.fetch(`${api.url}/v1/reconciliations/pull?${query.toString()}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${api.token}` },
      signal: AbortSignal.timeout(reconcileImportTimeoutMs),
    });
  } catch (error) {
    io.err(`tuma reconcile pull: the API at ${api.url} did not answer (${(error as Error).name})`);
    return 69;
  }
  return printReconciliationAnswer(io, res);
}


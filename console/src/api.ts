// The public API (contracts/openapi.yaml), and nothing else: every call carries the session's
// bearer token; a refusal becomes an ApiError with the server's stable code.
import { session, signOut } from './session';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly serverMessage: string,
    readonly detail: string | null,
    readonly rowErrors: readonly { row: number | null; field: string; code: string }[],
    /** The error object as the server sent it (a refused statement's lines, say). */
    readonly body: Record<string, unknown> | null = null,
  ) {
    super(`${code}: ${serverMessage}`);
  }
}

/** The server was not reachable (no answer at all). */
export class NetworkError extends Error {}

export interface BatchView {
  batchId: string;
  programmeId: string;
  state: string;
  currency: string;
  payoutCount: number;
  total: string;
  receivedAt: string;
  approvals: { required: number; received: number; approvers: { kid: string; approvedAt: string }[] };
  payouts: Record<string, { count: number; amount: string }>;
  /** The same payouts per provider, then state, from the same count (any batch size). */
  byProvider: Record<string, Record<string, { count: number; amount: string }>>;
  rejectedRows: { row: number | null; field: string; code: string }[];
}

export interface PayoutView {
  payoutId: string;
  row: number | null;
  ref: string;
  provider: string;
  state: string;
  amount: string;
  currency: string;
}

export interface PolicyView {
  approvals: { fromTotal: string; approvers: number }[];
  providers: string[];
  payoutMax: string | null;
  rowErrors: 'reject_batch' | 'accept_valid_rows';
}

export interface ProviderAccountsView {
  programmeId: string;
  currency: string;
  accounts: { provider: string; country: string; payoutMin: string | null; payoutMax: string | null }[] | null;
}

export interface SignerKeyView {
  kid: string;
  role: string;
  alg: string;
  holder: string | null;
  status: string;
}

export async function api<T>(method: string, path: string, body?: { type: string; text: string }): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  const token = session.value?.token;
  if (token) headers.authorization = `Bearer ${token}`;
  if (body) headers['content-type'] = body.type;
  let res: Response;
  try {
    res = await fetch(path, { method, headers, ...(body ? { body: body.text } : {}), credentials: 'omit', cache: 'no-store' });
  } catch {
    throw new NetworkError('network');
  }
  const text = await res.text();
  let json: unknown = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (!res.ok) {
    const e = (json as { error?: { code?: string; message?: string; detail?: string; errors?: ApiError['rowErrors'] } } | null)?.error;
    if (res.status === 401 && e?.code === 'AUTH_UNAUTHENTICATED') signOut('expired');
    throw new ApiError(res.status, e?.code ?? `HTTP_${res.status}`, e?.message ?? res.statusText, e?.detail ?? null, e?.errors ?? []);
  }
  return json as T;
}

export const json = (value: unknown) => ({ type: 'application/json', text: JSON.stringify(value) });

// ---------------------------------------------------------------- finance and operations views

export interface LedgerAccountView {
  currency: string;
  key: string;
  normalSide: 'debit' | 'credit';
  debitsPosted: string;
  creditsPosted: string;
  balance: string;
  flags: { debitsMustNotExceedCredits: boolean; creditsMustNotExceedDebits: boolean; closed: boolean };
  openedAt: string;
}

export interface TrialBalanceView {
  currency: string;
  asOf: string;
  rows: { kind: string; normalSide: 'debit' | 'credit'; accounts: number; debits: string; credits: string; balance: string }[];
  totals: { debits: string; credits: string };
  balanced: boolean;
}

export interface LedgerStatementPage {
  account: LedgerAccountView;
  lines: { seq: string; transferId: string; journalId: string; code: string; postedAt: string; side: 'debit' | 'credit'; amount: string; counterparty: string; batchId: string | null; payoutId: string | null; reference: string | null; balance: string }[];
  nextCursor: string | null;
}

export interface StatementView {
  statementId: string;
  accountId: string;
  currency: string;
  format: string;
  period: { from: string; to: string };
  sha256: string;
  sizeBytes: number;
  version: number;
  previousId: string | null;
  openingBalance: string | null;
  closingBalance: string | null;
  lines: { total: number; imported: number; refused: number };
  refusedLines: { line: number; column: string; problem: string }[];
  classes: Record<string, { count: number; statementAmount: string; ledgerAmount: string }>;
  balances: { linesNet: string; total: { expectedClosing: string; closing: string; ok: boolean } | null; runningOrder: string | null; runningBreaks: number };
  replayed?: boolean;
}

export type Ageing = '0-7' | '8-30' | '31-90' | '90+';

export interface ReconciliationView extends StatementView {
  float: null | { state: 'ok' | 'mismatch'; ledgerFloat: string; closing: string } | { state: 'not_comparable'; note: string };
  closed: boolean;
  resultSha256: string | null;
  checks: { itemId: string; kind: string; line: number | null; expected: string; actual: string; acknowledged: boolean }[];
  exceptions: { open: number; balanceChecks: number; urgent: number; atRisk: string };
  classReport: { class: string; exception: boolean; count: number; open: number; statementAmount: string; ledgerAmount: string; atRisk: string; ageing: Partial<Record<Ageing, { count: number; atRisk: string }>> }[];
}

export interface ReconciliationItemView {
  itemId: string;
  line: number | null;
  kind: string;
  class: string;
  status: string | null;
  providerTransactionId: string | null;
  payoutId: string | null;
  completedAt: string | null;
  statementAmount: string | null;
  fee: string | null;
  ledgerAmount: string | null;
  ledgerFee: string | null;
  atRisk: string;
  open: boolean;
  ageDays: number | null;
  ageing: Ageing | null;
  decision: { decisionId: string; action: string; state: 'awaiting_approval' | 'applied' } | null;
}

export interface DecisionView {
  decisionId: string;
  statementId: string;
  itemId: string;
  action: string;
  comment: string;
  amount: string;
  state: 'awaiting_approval' | 'applied' | 'rejected';
  decidedBy: string;
  decidedAt: string;
  checkedBy: string | null;
  checkedAt: string | null;
}

export interface AuditEventView {
  seq: string;
  at: string;
  organisationId: string;
  actor: string;
  requestId: string | null;
  action: string;
  object: { type: string; id: string };
  detail: Record<string, string>;
  prevHash: string | null;
  hash: string;
}

function refusal(status: number, text: string, statusText: string): ApiError {
  let json: unknown = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  const e = (json as { error?: { code?: string; message?: string; detail?: string; errors?: ApiError['rowErrors'] } } | null)?.error;
  if (status === 401 && e?.code === 'AUTH_UNAUTHENTICATED') signOut('expired');
  return new ApiError(status, e?.code ?? `HTTP_${status}`, e?.message ?? statusText, e?.detail ?? null, e?.errors ?? [], (e as Record<string, unknown> | undefined) ?? null);
}

/**
 * Sends a file as the request body with XMLHttpRequest, whose upload events say how much of it has
 * left (fetch tells nothing of an upload's progress); the answer as `api` gives it.
 */
export function upload<T>(path: string, file: Blob, contentType: string, onProgress: (sent: number, total: number) => void): Promise<{ status: number; body: T }> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', path);
    xhr.setRequestHeader('accept', 'application/json');
    xhr.setRequestHeader('content-type', contentType);
    const token = session.value?.token;
    if (token) xhr.setRequestHeader('authorization', `Bearer ${token}`);
    xhr.upload.onprogress = (e) => onProgress(e.loaded, e.lengthComputable ? e.total : file.size);
    // Every byte has left: the server now reads and reconciles it.
    xhr.upload.onload = () => onProgress(file.size, file.size);
    xhr.onerror = () => reject(new NetworkError('network'));
    xhr.onload = () => {
      if (xhr.status < 200 || xhr.status > 299) return reject(refusal(xhr.status, xhr.responseText, xhr.statusText));
      try {
        resolve({ status: xhr.status, body: JSON.parse(xhr.responseText) as T });
      } catch {
        reject(new ApiError(xhr.status, `HTTP_${xhr.status}`, 'not JSON', null, []));
      }
    };
    xhr.send(file);
  });
}

/** A file the API streams (CSV exports), fetched with the bearer token: its bytes and the name the server gives it. */
export async function download(path: string, fallbackName: string): Promise<{ blob: Blob; name: string }> {
  const headers: Record<string, string> = {};
  const token = session.value?.token;
  if (token) headers.authorization = `Bearer ${token}`;
  let res: Response;
  try {
    res = await fetch(path, { headers, credentials: 'omit', cache: 'no-store' });
  } catch {
    throw new NetworkError('network');
  }
  if (!res.ok) throw refusal(res.status, await res.text(), res.statusText);
  const named = /filename="([^"]+)"/.exec(res.headers.get('content-disposition') ?? '')?.[1];
  return { blob: await res.blob(), name: named ?? fallbackName };
}

/** GET /v1/operations/providers: the accounts serving the organisation, with their breakers. */
export interface ProviderOperationsView {
  accounts: {
    accountId: string;
    provider: string;
    currency: string;
    country: string;
    callLimits: { concurrency: number | null; ratePerSecond: number | null };
    hold: 'held_open' | 'automatic';
    lastChange: { state: 'open' | 'closed'; reason: string; setBy: string | null; byThisOrganisation: boolean; at: string } | null;
    reported: { process: string; state: 'closed' | 'open' | 'half_open'; cause: string; at: string }[];
    /** Each worker process's last report of its calls in flight (newest first), and the sum of those not stale. */
    callsInFlight: { total: number; workers: { process: string; count: number; reportedAt: string; ageMs: number; stale: boolean }[] };
  }[];
}

export interface QueueDepthsView {
  depths: { provider: string; stage: 'queued' | 'retry_later' | 'submitting' | 'awaiting_outcome' | 'dead_lettered'; count: number; oldest: string }[];
}

export interface DeadLetteredPage {
  payouts: { payoutId: string; batchId: string; ref: string; provider: string; state: string; amount: string; currency: string; attempts: number; failureCode: string | null; flaggedAt: string }[];
  next: string | null;
}

export interface OrphanCallbacksPage {
  providers: string[];
  orphans: { id: string; provider: string; dedupeKey: string; authenticated: boolean; receivedAt: string }[];
  next: string | null;
}

/** GET /v1/programmes/{id}/repay-requests: payouts finance decided to pay again, for the next signed batch to name in `repays`. */
export interface RepayRequestsPage {
  items: { requestId: string; payoutId: string; decisionId: string; amount: string; currency: string; state: 'open' | 'fulfilled'; requestedAt: string; fulfilledByPayoutId: string | null; fulfilledAt: string | null }[];
  next: string | null;
}

/** GET /v1/batches/{id}/rejection: an approver's rejection of the batch, or null (none, or it expired). */
export interface BatchRejectionView {
  rejection: { kid: string; rejectedBy: string; reason: string; rejectedAt: string } | null;
}

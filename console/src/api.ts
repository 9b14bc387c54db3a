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

// Who is signed in: a bearer token of the API's issuer, kept for this tab only (sessionStorage),
// obtained from the dev sign-in (dev mode) or through OpenID Connect (authorization code + PKCE,
// entirely in the browser, as a public client).
export type Role = 'programme_manager' | 'approver' | 'finance' | 'admin' | 'auditor';
export const roles: readonly Role[] = ['programme_manager', 'approver', 'finance', 'admin', 'auditor'];

export interface Session {
  readonly token: string;
  readonly subject: string;
  readonly organisationId: string;
  readonly roles: readonly Role[];
  /** Seconds since the epoch. */
  readonly expiresAt: number;
}

export interface ConsoleConfig {
  readonly devSignIn: boolean;
  readonly oidc: { readonly issuer: string; readonly clientId: string; readonly scope: string } | null;
}

const storageKey = 'tuma.session';
const oidcKey = 'tuma.oidc';
const listeners = new Set<() => void>();

export const session: { value: Session | null; ended: 'expired' | null } = { value: read(), ended: null };

export function onSessionChange(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

function changed(): void {
  for (const l of listeners) l();
}

/** The token's claims, read (not verified: the API verifies every call). */
export function sessionOf(token: string): Session | null {
  const part = token.split('.')[1];
  if (!part) return null;
  try {
    const claims = JSON.parse(new TextDecoder().decode(fromBase64url(part))) as { sub?: unknown; org?: unknown; roles?: unknown; exp?: unknown };
    if (typeof claims.sub !== 'string' || typeof claims.org !== 'string' || !Array.isArray(claims.roles) || typeof claims.exp !== 'number') return null;
    const known = claims.roles.filter((r): r is Role => (roles as readonly unknown[]).includes(r));
    return { token, subject: claims.sub, organisationId: claims.org, roles: known, expiresAt: claims.exp };
  } catch {
    return null;
  }
}

function read(): Session | null {
  const token = typeof sessionStorage === 'undefined' ? null : sessionStorage.getItem(storageKey);
  const s = token ? sessionOf(token) : null;
  return s && s.expiresAt * 1000 > Date.now() ? s : null;
}

export function signIn(token: string): Session | null {
  const s = sessionOf(token);
  if (!s) return null;
  sessionStorage.setItem(storageKey, token);
  session.value = s;
  session.ended = null;
  changed();
  return s;
}

export function signOut(reason: 'expired' | null = null): void {
  sessionStorage.removeItem(storageKey);
  session.value = null;
  session.ended = reason;
  changed();
}

export const hasRole = (role: Role) => session.value?.roles.includes(role) ?? false;

export async function loadConsoleConfig(): Promise<ConsoleConfig> {
  const res = await fetch('/console/config.json', { cache: 'no-store', credentials: 'omit' });
  if (!res.ok) throw new Error(`config ${res.status}`);
  return (await res.json()) as ConsoleConfig;
}

/** Dev mode: a token from the server's dev issuer for whoever the form names. */
export async function devSignIn(organisationId: string, subject: string, chosen: readonly Role[]): Promise<Session> {
  const res = await fetch('/console/dev-sign-in', {
    method: 'POST', credentials: 'omit', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ organisationId, subject, roles: chosen }),
  });
  const body = (await res.json().catch(() => null)) as { token?: string; error?: { message?: string; detail?: string } } | null;
  if (!res.ok || !body?.token) throw new Error(body?.error?.detail ?? body?.error?.message ?? `HTTP ${res.status}`);
  const s = signIn(body.token);
  if (!s) throw new Error('the token is not one the console can read');
  return s;
}

// ---------------------------------------------------------------- OpenID Connect, code + PKCE

const redirectUri = () => `${location.origin}/console/`;

function base64url(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function fromBase64url(s: string): Uint8Array {
  const b = atob(s.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((s.length + 3) % 4));
  return Uint8Array.from(b, (c) => c.charCodeAt(0));
}

export { base64url, fromBase64url };

/** The OAuth 2.0 / OpenID Connect error codes the console has a sentence for (RFC 6749 §4.1.2.1, OIDC Core §3.1.2.6). */
export const oauthErrorCodes = ['access_denied', 'login_required', 'consent_required', 'interaction_required', 'invalid_request', 'server_error', 'temporarily_unavailable'] as const;
export type OauthErrorCode = (typeof oauthErrorCodes)[number];

/**
 * Why a sign-in through the issuer failed, as a code the console says in the reader's language:
 * nothing the issuer wrote (its error_description, its error code beyond the known ones) is shown.
 */
export class SignInError extends Error {
  constructor(readonly reason: 'issuer' | 'state' | 'token' | 'claims' | 'discovery', readonly oauthCode: OauthErrorCode | null = null) {
    super(`sign-in failed: ${reason}${oauthCode ? ` (${oauthCode})` : ''}`);
  }
}

async function discovery(issuer: string): Promise<{ authorization_endpoint: string; token_endpoint: string }> {
  const res = await fetch(`${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`, { credentials: 'omit' });
  if (!res.ok) throw new SignInError('discovery');
  const meta = (await res.json()) as { issuer?: string; authorization_endpoint?: string; token_endpoint?: string };
  if (meta.issuer !== issuer || !meta.authorization_endpoint || !meta.token_endpoint) throw new SignInError('discovery');
  return { authorization_endpoint: meta.authorization_endpoint, token_endpoint: meta.token_endpoint };
}

/** Sends the browser to the issuer's login; it comes back to /console/?code=…&state=…. */
export async function oidcStart(oidc: NonNullable<ConsoleConfig['oidc']>): Promise<void> {
  const meta = await discovery(oidc.issuer);
  const verifier = base64url(crypto.getRandomValues(new Uint8Array(32)));
  const state = base64url(crypto.getRandomValues(new Uint8Array(16)));
  const challenge = base64url(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier))));
  sessionStorage.setItem(oidcKey, JSON.stringify({ verifier, state, tokenEndpoint: meta.token_endpoint, clientId: oidc.clientId }));
  const url = new URL(meta.authorization_endpoint);
  url.search = new URLSearchParams({
    response_type: 'code', client_id: oidc.clientId, redirect_uri: redirectUri(), scope: oidc.scope,
    state, code_challenge: challenge, code_challenge_method: 'S256',
  }).toString();
  location.assign(url.toString());
}

/** On the way back from the issuer: checks the state, exchanges the code with the verifier; null when this is not a return. */
export async function oidcFinish(): Promise<Session | null> {
  const params = new URLSearchParams(location.search);
  const code = params.get('code');
  const returned = params.get('state');
  const error = params.get('error');
  if (!code && !error) return null;
  history.replaceState(null, '', `${location.pathname}${location.hash}`);
  const pending = JSON.parse(sessionStorage.getItem(oidcKey) ?? 'null') as { verifier: string; state: string; tokenEndpoint: string; clientId: string } | null;
  sessionStorage.removeItem(oidcKey);
  if (error) throw new SignInError('issuer', (oauthErrorCodes as readonly string[]).includes(error) ? (error as OauthErrorCode) : null);
  if (!pending || returned !== pending.state) throw new SignInError('state');
  const res = await fetch(pending.tokenEndpoint, {
    method: 'POST', credentials: 'omit', headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code: code ?? '', redirect_uri: redirectUri(), client_id: pending.clientId, code_verifier: pending.verifier }).toString(),
  });
  const body = (await res.json().catch(() => null)) as { access_token?: string; error?: string } | null;
  if (!res.ok || !body?.access_token) throw new SignInError('token');
  const s = signIn(body.access_token);
  if (!s) throw new SignInError('claims');
  return s;
}

// How the provider clients (mpesa, mtn-momo, airtel, gsma) call a provider: undici.request on
// keep-alive connections of one Agent per process, at most providerSocketsPerOriginMax connections
// to one origin (a call past them waits for one, inside its own timeout). fetch, which these
// replaced, cost an eighth of the gateway's CPU (a WHATWG Request, Response and streams per call,
// issue #17). The same semantics as before: the caller's timeout (and signal) bounds the whole call,
// from connecting to the answer's last byte, and a call that timed out after it was sent is the
// caller's to call ambiguous; a body is read at most bytesMax bytes (no further); redirects are not
// followed (no provider API redirects a payment: a 3xx is answered as it is); TLS is Node's default;
// a URL with credentials in it is refused unsent.
import { Agent, request } from 'undici';
import { callLimitsMax } from './call-limiter.js';

/**
 * Connections to one provider origin at most, per process: an account's calls in flight
 * (call-limiter.ts, at most callLimitsMax.concurrency) never wait for a socket.
 */
export const providerSocketsPerOriginMax = callLimitsMax.concurrency;
/** An idle keep-alive connection is closed after this (or sooner, when the provider says so). */
export const providerKeepAliveMs = 30_000;

let sharedAgent: Agent | null = null;

/** The process's provider connections (created on first use). */
export function providerAgent(): Agent {
  sharedAgent ??= new Agent({ connections: providerSocketsPerOriginMax, keepAliveTimeout: providerKeepAliveMs, pipelining: 1 });
  return sharedAgent;
}

/** An answer's headers, read by name (case-insensitive), as fetch's Headers.get reads them. */
export interface AnswerHeaders {
  get(name: string): string | null;
}

export interface ProviderAnswer {
  readonly status: number;
  readonly headers: AnswerHeaders;
  /** The body, or null when it is larger than bytesMax (read no further), or unreadable and the call said unreadableBody 'null'. */
  readonly body: Buffer | null;
}

export interface ProviderCall {
  readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH';
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string;
  /** The whole call, from connecting to the answer's last byte. */
  readonly timeoutMs: number;
  /** The caller's own cancellation, besides the timeout. */
  readonly signal?: AbortSignal;
  readonly bytesMax: number;
  /** A body that cannot be read to its end (timeout, reset) after the status came: the call throws (the default), or its body is null. */
  readonly unreadableBody?: 'throws' | 'null';
}

/**
 * Calls `url` and reads its answer. Throws when there is no answer (timeout, refused, reset, abort:
 * the error is the signal's reason for a timeout, a TimeoutError as fetch's was); a body larger
 * than bytesMax is null, the rest of it never read (the connection is closed).
 */
export async function callProvider(url: string, call: ProviderCall): Promise<ProviderAnswer> {
  // As fetch did: credentials in a URL are never sent (the message names the URL: errorDetail replaces it).
  const parsed = new URL(url);
  if (parsed.username !== '' || parsed.password !== '') throw new TypeError(`Request cannot be constructed from a URL that includes credentials: ${url}`);
  const timeout = AbortSignal.timeout(call.timeoutMs);
  const signal = call.signal ? AbortSignal.any([call.signal, timeout]) : timeout;
  const res = await request(url, {
    method: call.method,
    headers: withFetchDefaults(call.headers, call.body !== undefined),
    ...(call.body === undefined ? {} : { body: call.body }),
    dispatcher: providerAgent(),
    signal,
  });
  const chunks: Buffer[] = [];
  let size = 0;
  let unread = false;
  try {
    // Leaving the loop early destroys the body: the rest is never read.
    for await (const chunk of res.body) {
      size += (chunk as Buffer).byteLength;
      if (size > call.bytesMax) {
        unread = true;
        break;
      }
      chunks.push(chunk as Buffer);
    }
  } catch (error) {
    if (call.unreadableBody !== 'null') throw error;
    unread = true;
  }
  const headers = res.headers;
  return {
    status: res.statusCode,
    headers: {
      get: (name) => {
        const v = headers[name.toLowerCase()];
        return v === undefined ? null : Array.isArray(v) ? v.join(', ') : v;
      },
    },
    body: unread ? null : Buffer.concat(chunks),
  };
}

/** What fetch sent when the caller did not: an accept of any type, and a string body's content-type. */
function withFetchDefaults(headers: Readonly<Record<string, string>>, hasBody: boolean): Record<string, string> {
  const names = new Set(Object.keys(headers).map((k) => k.toLowerCase()));
  return {
    ...(names.has('accept') ? {} : { accept: '*/*' }),
    ...(hasBody && !names.has('content-type') ? { 'content-type': 'text/plain;charset=UTF-8' } : {}),
    ...headers,
  };
}

/** A body as JSON; null when there is none, it was too large, or it is not JSON. */
export function jsonOf(body: Buffer | null): unknown {
  if (body === null || body.length === 0) return null;
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return null;
  }
}

// How a provider callback proves it comes from the provider, per provider (issue #5, item 3):
//  - `token`: an unguessable per-attempt token in the callback URL (providers that sign nothing:
//    M-Pesa, MTN MoMo, GSMA without JOSE); checked by recordCallback against the attempt;
//  - `hmac`: an HMAC-SHA-256 of the raw body (and, where the provider sends one, a timestamp
//    inside a window, against replays) under a shared secret, compared in constant time;
//  - and, on top of either, an optional allow-list of the provider's addresses.
// A callback that fails is answered 401 and changes nothing.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { BlockList, isIPv4, isIPv6 } from 'node:net';

/** Entries in an address allow-list at most. */
export const allowListEntriesMax = 256;
/** The widest timestamp window accepted in configuration. */
export const callbackWindowMaxMs = 15 * 60 * 1000;
/** A signature header longer than this is not a signature. */
const signatureCharsMax = 512;

export type CallbackCheck = { readonly ok: true } | { readonly ok: false; readonly reason: string };
const pass: CallbackCheck = { ok: true };
const fail = (reason: string): CallbackCheck => ({ ok: false, reason });

/**
 * Parses "a.b.c.d/n, x:y::/n, a.b.c.d" into a matcher; every entry must be an address or CIDR.
 * Returns the problems instead when an entry is not one (for a clear start-up error).
 */
export function parseAllowList(text: string): { readonly ok: true; readonly allows: (address: string | undefined) => boolean } | { readonly ok: false; readonly problems: string[] } {
  const entries = text.split(',').map((e) => e.trim()).filter((e) => e.length > 0);
  const problems: string[] = [];
  if (entries.length === 0) problems.push('the list is empty');
  if (entries.length > allowListEntriesMax) problems.push(`at most ${allowListEntriesMax} entries`);
  const list = new BlockList();
  for (const entry of entries.slice(0, allowListEntriesMax)) {
    const [address, prefixText, ...rest] = entry.split('/');
    const family = address && isIPv4(address) ? 'ipv4' : address && isIPv6(address) ? 'ipv6' : null;
    const max = family === 'ipv4' ? 32 : 128;
    const prefix = prefixText === undefined ? max : /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
    if (!family || rest.length > 0 || !(prefix >= 0 && prefix <= max)) {
      problems.push(`"${entry}" is not an IP address or CIDR block`);
      continue;
    }
    list.addSubnet(address!, prefix, family);
  }
  if (problems.length > 0) return { ok: false, problems };
  return {
    ok: true,
    allows(raw) {
      if (!raw) return false;
      // An IPv4 client on a dual-stack socket shows as ::ffff:a.b.c.d.
      const address = raw.startsWith('::ffff:') && isIPv4(raw.slice(7)) ? raw.slice(7) : raw;
      if (isIPv4(address)) return list.check(address, 'ipv4');
      if (isIPv6(address)) return list.check(address, 'ipv6');
      return false;
    },
  };
}

export interface HmacSettings {
  readonly secret: Buffer;
  /** How the provider encodes the MAC in its header. */
  readonly encoding: 'hex' | 'base64';
  /**
   * When the provider signs a timestamp too: the MAC covers `${timestamp}.${body}` and the
   * timestamp (seconds or an ISO date) must be within `windowMs` of now.
   */
  readonly timestamp: { readonly windowMs: number } | null;
}

/** Checks an HMAC-SHA-256 callback signature over the exact raw body, in constant time. */
export function verifyHmac(settings: HmacSettings, rawBody: Buffer, signature: string | undefined, timestamp: string | undefined, nowMs: number): CallbackCheck {
  if (!signature || signature.length > signatureCharsMax) return fail('no signature');
  const mac = createHmac('sha256', settings.secret);
  if (settings.timestamp) {
    const at = timestamp === undefined ? NaN : /^\d{1,12}$/.test(timestamp) ? Number(timestamp) * 1000 : Date.parse(timestamp);
    if (!Number.isFinite(at)) return fail('no timestamp');
    if (Math.abs(nowMs - at) > settings.timestamp.windowMs) return fail('stale or future timestamp');
    mac.update(`${timestamp}.`);
  }
  const expected = mac.update(rawBody).digest();
  const given = Buffer.from(signature.trim().replace(/^sha256=/i, ''), settings.encoding);
  return given.length === expected.length && timingSafeEqual(given, expected) ? pass : fail('bad signature');
}

/** The most requests and bytes one source address may send in a budget window. */
export const sourceBudgetRequestsMax = 100_000;
export const sourceBudgetBytesMax = 64 * 1024 * 1024;
/** Sources tracked at once at most: past it the oldest window is forgotten (a flood of addresses cannot grow memory). */
export const sourceBudgetSourcesMax = 10_000;

export interface SourceBudget {
  /** Takes one request of `bytes` from the source's budget; false (nothing taken) when it would go past it. */
  take(source: string, bytes: number): boolean;
}

/**
 * A per-source fixed-window budget of requests and bytes (issue #19 item 7: unauthenticated intake
 * is bounded). In memory, per process: each API process bounds what it stores itself.
 */
export function sourceBudget(options: { readonly requests: number; readonly bytes: number; readonly windowMs: number; readonly now?: () => number }): SourceBudget {
  const { requests, bytes, windowMs } = options;
  if (!Number.isInteger(requests) || requests < 1 || requests > sourceBudgetRequestsMax) throw new Error(`a source budget allows 1..${sourceBudgetRequestsMax} requests`);
  if (!Number.isInteger(bytes) || bytes < 1 || bytes > sourceBudgetBytesMax) throw new Error(`a source budget allows 1..${sourceBudgetBytesMax} bytes`);
  if (!Number.isInteger(windowMs) || windowMs < 1_000 || windowMs > 3_600_000) throw new Error('a source budget window is 1 s..1 h');
  const now = options.now ?? Date.now;
  // Insertion order is window-start order: the first entry is always the oldest window.
  const windows = new Map<string, { start: number; requests: number; bytes: number }>();
  return {
    take(source, size) {
      const at = now();
      let w = windows.get(source);
      if (w && at - w.start >= windowMs) {
        windows.delete(source);
        w = undefined;
      }
      if (!w) {
        if (windows.size >= sourceBudgetSourcesMax) windows.delete(windows.keys().next().value!);
        w = { start: at, requests: 0, bytes: 0 };
        windows.set(source, w);
      }
      if (w.requests + 1 > requests || w.bytes + size > bytes) return false;
      w.requests += 1;
      w.bytes += size;
      return true;
    },
  };
}

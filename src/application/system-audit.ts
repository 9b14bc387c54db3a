// System events of the audit log (issue #15 item 2; migration 0020): what belongs to no
// organisation — the configuration a role starts with, the provider accounts it pays through, and
// their circuit breakers.
//
// At start (recordStart), in one transaction under the audit lock:
//   - `configuration.start` for the set of roles the process runs, with a digest of its effective
//     configuration, only when the digest differs from the one recorded last for that set of roles
//     (a restart with the same configuration writes nothing). The detail carries a digest per
//     section and names the sections that changed; never a value.
//   - per provider account: `provider_account.register` when first seen (or seen again after a
//     removal), `provider_account.change` when its digest differs from its last event (naming the
//     fields that changed: limits, callLimits, callbackAuth, credentials, settings, programmes…),
//     `provider_account.remove` for an account recorded before and configured no longer (its
//     payouts stop being routed: the account is disabled).
// Secrets are never recorded, nor hashed bare: a value under a secret-like name (a key, secret,
// password, PIN, token, credential, client or user id, a URL that may carry a password, any
// binary value) enters every digest only as its fingerprint, an HMAC-SHA-256 under a key derived
// from the master key — a short PIN cannot be guessed from the log without the master key. A new
// master key changes every fingerprint: its start records a change of the sections holding secrets.
//
// Breaker states (breakerAuditor): every change a worker's breaker goes through (open, half-open,
// closed), with its cause (its calls, an admin's hold, a close by hand), one event each, appended
// in order per account; a failure to write one is logged, never thrown into the call path.
import { createHash, createHmac, hkdfSync } from 'node:crypto';
import type { Logger } from 'pino';
import { systemActor, type AuditAction } from '../domain/audit.js';
import { ok } from '../domain/result.js';
import { appendAudit } from './audit.js';
import type { Persistence } from './ports.js';

/** Hex characters of a section's or a field's digest in an event's detail (64 bits: enough to tell a change). */
export const partDigestChars = 16;
/** Sections of a configuration, and fields of an account, recorded at most (the detail's size). */
export const configurationPartsMax = 40;

/** A value under a name like these is a secret: only its fingerprint is digested. */
const secretName = /(secret|password|passwd|pin|key|token|credential|clientid|userid|url|cert|private)$/i;

/** The key of the fingerprints: derived from the master key, for this purpose alone. */
export function fingerprintKeyOf(masterKey: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', masterKey, Buffer.alloc(0), 'tuma:audit:configuration-fingerprint:v1', 32));
}

/**
 * A value as canonical JSON (object keys sorted), with secrets replaced by their fingerprints:
 * what the digests are computed over. Functions and undefined are left out; bigints are written
 * as decimal strings, binary values and strings under a secret-like name as `hmac:<hex>`.
 */
export function canonicalConfiguration(value: unknown, fingerprintKey: Buffer, name = ''): string {
  const fingerprint = (bytes: Buffer | string) => JSON.stringify(`hmac:${createHmac('sha256', fingerprintKey).update(bytes).digest('hex')}`);
  if (value === null) return 'null';
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) return fingerprint(Buffer.from(value));
  switch (typeof value) {
    case 'string':
      return secretName.test(name) ? fingerprint(value) : JSON.stringify(value);
    case 'number':
    case 'boolean':
      return JSON.stringify(value);
    case 'bigint':
      return JSON.stringify(value.toString());
    case 'object': {
      if (Array.isArray(value)) return `[${value.map((v) => canonicalConfiguration(v ?? null, fingerprintKey, name)).join(',')}]`;
      const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined && typeof v !== 'function').sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalConfiguration(v, fingerprintKey, k)}`).join(',')}}`;
    }
    default:
      return 'null';
  }
}

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

/** What is recorded of a configuration or an account: the digest of the whole, and a digest per part. */
export interface Digested {
  readonly digest: string;
  /** Part name (a-z, A-Z, 0-9) → its digest's first partDigestChars hex digits. */
  readonly parts: Readonly<Record<string, string>>;
}

/** Digests each part and the whole (the parts' digests in name order). */
export function digestParts(parts: Readonly<Record<string, unknown>>, fingerprintKey: Buffer): Digested {
  const names = Object.keys(parts).filter((n) => parts[n] !== undefined && typeof parts[n] !== 'function').sort();
  if (names.length > configurationPartsMax) throw new Error(`invariant violated: at most ${configurationPartsMax} parts are recorded, not ${names.length}`);
  const digests: Record<string, string> = {};
  const full: string[] = [];
  for (const n of names) {
    if (!/^[A-Za-z][A-Za-z0-9]{0,31}$/.test(n)) throw new Error(`invariant violated: a configuration part is named with letters and digits, not ${JSON.stringify(n)}`);
    const d = sha256(canonicalConfiguration(parts[n], fingerprintKey, n));
    digests[n] = d.slice(0, partDigestChars);
    full.push(`${n}=${d}`);
  }
  return { digest: sha256(full.join('\n')), parts: digests };
}

const partsText = (parts: Readonly<Record<string, string>>) => Object.entries(parts).map(([k, v]) => `${k}=${v}`).join(',');

function partsOf(text: string | undefined): Record<string, string> {
  const parts: Record<string, string> = {};
  for (const item of (text ?? '').split(',')) {
    const eq = item.indexOf('=');
    if (eq > 0) parts[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return parts;
}

/** The parts whose digest differs, or that one side lacks. */
function changedParts(before: Readonly<Record<string, string>>, after: Readonly<Record<string, string>>): string[] {
  return [...new Set([...Object.keys(before), ...Object.keys(after)])].filter((k) => before[k] !== after[k]).sort();
}

/** A provider account as recorded: what may be shown (no programme id: an account may serve several organisations) and its digests. */
export interface AccountDescription {
  readonly accountId: string;
  readonly provider: string;
  readonly country: string;
  readonly currency: string;
  /** "*" or how many programmes it lists. */
  readonly programmes: string;
  readonly digested: Digested;
}

export interface StartRecord {
  /** The roles of the process, e.g. `api+relay` (the object of `configuration.start`). */
  readonly roles: string;
  readonly configuration: Digested;
  readonly accounts: readonly AccountDescription[];
}

export interface StartRecorded {
  readonly configuration: 'recorded' | 'unchanged';
  readonly accounts: { readonly registered: string[]; readonly changed: string[]; readonly removed: string[] };
}

/** Records the start's configuration and provider accounts, each only where it differs from the last record. */
export async function recordStart(persistence: Persistence, start: StartRecord): Promise<StartRecorded> {
  if (!/^[a-z]+(\+[a-z]+)*$/.test(start.roles) || start.roles.length > 128) throw new Error(`invariant violated: roles are names joined by +, not ${JSON.stringify(start.roles)}`);
  const actor = systemActor(start.roles);
  const done = await persistence.transaction<StartRecorded>(async (tx) => {
    // Read and append under one lock: two processes starting at once record a change once.
    await tx.auditLog.lock();
    const lastStart = (await tx.auditLog.latestSystemEvents('process_role', 'configuration.')).find((e) => e.objectId === start.roles);
    let configuration: StartRecorded['configuration'] = 'unchanged';
    if (lastStart?.detail.digest !== start.configuration.digest) {
      const changed = lastStart ? changedParts(partsOf(lastStart.detail.sections), start.configuration.parts) : [];
      await appendAudit(tx, {
        organisationId: null, actor, requestId: null, action: 'configuration.start', objectId: start.roles,
        detail: {
          digest: start.configuration.digest,
          sections: partsText(start.configuration.parts),
          ...(lastStart ? { previousDigest: lastStart.detail.digest ?? 'none', changed: changed.join(',') } : { first: 'true' }),
        },
      });
      configuration = 'recorded';
    }

    const last = new Map((await tx.auditLog.latestSystemEvents('provider_account', 'provider_account.')).map((e) => [e.objectId, e]));
    const recorded: StartRecorded['accounts'] = { registered: [], changed: [], removed: [] };
    const append = (action: AuditAction, objectId: string, detail: Record<string, string>) =>
      appendAudit(tx, { organisationId: null, actor, requestId: null, action, objectId, detail });
    for (const a of [...start.accounts].sort((x, y) => (x.accountId < y.accountId ? -1 : 1))) {
      const previous = last.get(a.accountId);
      const shown = { provider: a.provider, country: a.country, currency: a.currency, programmes: a.programmes, digest: a.digested.digest, fields: partsText(a.digested.parts) };
      if (!previous || previous.action === 'provider_account.remove') {
        await append('provider_account.register', a.accountId, shown);
        recorded.registered.push(a.accountId);
      } else if (previous.detail.digest !== a.digested.digest) {
        await append('provider_account.change', a.accountId, { ...shown, changed: changedParts(partsOf(previous.detail.fields), a.digested.parts).join(',') });
        recorded.changed.push(a.accountId);
      }
    }
    const configured = new Set(start.accounts.map((a) => a.accountId));
    for (const [accountId, previous] of [...last].sort(([x], [y]) => (x < y ? -1 : 1))) {
      if (configured.has(accountId) || previous.action === 'provider_account.remove') continue;
      await append('provider_account.remove', accountId, { provider: previous.detail.provider ?? 'unknown', lastDigest: previous.detail.digest ?? 'none' });
      recorded.removed.push(accountId);
    }
    return ok({ configuration, accounts: recorded });
  });
  if (!done.ok) throw new Error(`invariant violated: recording the start was refused (${done.error.code})`);
  return done.value;
}

// ---------------------------------------------------------------- breakers

export interface BreakerEvent {
  readonly accountId: string;
  readonly provider: string;
  readonly state: 'closed' | 'open' | 'half_open';
  readonly previous: 'closed' | 'open' | 'half_open';
  readonly cause: 'calls' | 'hold' | 'hand';
}

const breakerActions = { open: 'breaker.open', half_open: 'breaker.half_open', closed: 'breaker.close' } as const satisfies Record<BreakerEvent['state'], AuditAction>;

/**
 * Records each breaker change as it comes: one event per change, in order per process (a chain of
 * promises), the process named in the detail (several workers each have their own breaker per
 * account). `settled()` waits for those in flight (tests, shutdown).
 */
export function breakerAuditor(persistence: Persistence, processName: string, logger: Logger): { record(e: BreakerEvent): void; settled(): Promise<void> } {
  let tail: Promise<void> = Promise.resolve();
  return {
    record(e) {
      tail = tail.then(async () => {
        try {
          await persistence.transaction(async (tx) => {
            await appendAudit(tx, {
              organisationId: null, actor: systemActor('worker'), requestId: null, action: breakerActions[e.state], objectId: e.accountId,
              detail: { provider: e.provider, previous: e.previous, cause: e.cause, process: processName.slice(0, 128) },
            });
            return ok(undefined);
          });
        } catch (error) {
          logger.error({ err: error, account: e.accountId, state: e.state }, 'the breaker change could not be written to the audit log');
        }
      });
    },
    settled: () => tail,
  };
}

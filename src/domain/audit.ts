// The audit log's rules (architecture §8, issues #14 and #15): which privileged actions are
// recorded, what an event may carry, and the canonical bytes each event's hash covers.
// Pure: the hash itself (node:crypto) is computed in application/audit.ts.
//
// Canonical encoding, version `tuma.audit.v1` (never changed once events are stored; a new
// encoding gets a new tag). The bytes are the UTF-8 netstrings, in this order:
//   tag, seq, at, organisation_id, actor, request_id, action, object_type, object_id, detail, prev_hash
// where a string s is written `<UTF-8 byte length of s in decimal>:<s>,` and an absent value
// (request_id, organisation_id of a system event, or prev_hash of the first event) is written `~,`. A length prefix makes every
// field self-delimiting, so no value, whatever it holds, can shift bytes into its neighbour.
//   seq        decimal, no leading zeros
//   at         microseconds since 1970-01-01T00:00:00Z, decimal (exact: PostgreSQL's precision)
//   detail     canonical JSON: an object of string values, keys in ascending code-point order
//              (keys are ASCII), no whitespace, each key and value as JSON.stringify writes it
//   prev_hash  the previous event's hash, 64 lowercase hex digits
// hash = SHA-256(canonical bytes). Each event's hash covers its predecessor's, so altering,
// inserting or removing any event breaks every later link.

/** Each privileged action and the kind of object it acts on (a closed list: a new action is a line here). */
export const auditActionObjects = {
  'payout.decision': 'payout',
  'payout.requeue': 'payout',
  'batch.cancel': 'batch',
  'signer_key.register': 'signer_key',
  'signer_key.revoke': 'signer_key',
  'programme.policy': 'programme',
  'funding.record': 'programme',
  'batch.approve': 'batch',
  'batch.release': 'batch',
  'batch.reject': 'batch',
  'reconciliation.decision': 'reconciliation',
  'reconciliation.approval': 'reconciliation',
  'programme.retention': 'programme',
  'programme.erase_request': 'programme',
  'programme.erase': 'programme',
  // System events (no organisation: migration 0020): provider accounts as configured, seen at a start.
  'provider_account.register': 'provider_account',
  'provider_account.change': 'provider_account',
  'provider_account.remove': 'provider_account',
  // A provider account's circuit breaker: its states as a worker saw them change, and an admin's hold.
  'breaker.open': 'provider_account',
  'breaker.half_open': 'provider_account',
  'breaker.close': 'provider_account',
  'breaker.hold': 'provider_account',
  'breaker.release': 'provider_account',
  // The effective configuration a role started with, when it differs from the one recorded last.
  'configuration.start': 'process_role',
} as const;

export type AuditAction = keyof typeof auditActionObjects;
export type AuditObjectType = (typeof auditActionObjects)[AuditAction];
export const auditActions = Object.keys(auditActionObjects) as AuditAction[];

export const isAuditAction = (value: string): value is AuditAction => Object.hasOwn(auditActionObjects, value);

/**
 * The actions that belong to no organisation (system events, organisation null): a provider
 * account may pay for several organisations, and a role's configuration is every organisation's.
 * Every other action has the organisation it acted in. (Migration 0020 checks the same prefixes.)
 */
export const isSystemAuditAction = (action: string): boolean => /^(provider_account|breaker|configuration)\./.test(action);

/** The actor of what a process did by itself (a breaker opening, a start): `system:<role>`. */
export const systemActor = (role: string): string => `system:${role}`;

/** What an event says beyond its object: a few short strings (money as decimal strings), never beneficiary data. */
export type AuditDetail = Readonly<Record<string, string>>;

export const auditEncodingTag = 'tuma.audit.v1';
/** Members of one event's detail at most. */
export const auditDetailKeysMax = 16;
/** Bytes of one event's canonical detail at most: an audit event points at the facts, it does not copy them. */
export const auditDetailBytesMax = 2_048;
/** Characters of an organisation id, actor, request id or object id at most (the database checks the same). */
export const auditIdentifierCharsMax = 128;
/** Characters of a detail value at most (a decision's note is 500). */
export const auditDetailValueCharsMax = 1_000;

const detailKeyPattern = /^[a-z][A-Za-z0-9]{0,31}$/;
/** Control characters and lone surrogates: jsonb refuses some, and none belongs in an audit line. */
const unprintable = /[\p{Cc}\p{Cs}]/u;
/** A phone number as Tuma stores one (E.164): never in an audit row. */
const e164Like = /\+[0-9]{7,15}/;
/**
 * How people write phone numbers: `+` and 7 or more digits, or any run of 9 or more digits, with
 * spaces, dashes or brackets between them. (A long amount or reference in a note is masked too.)
 */
const phoneLikeRun = /\+[0-9](?:[\s()-]*[0-9]){6,}|[0-9](?:[\s()-]*[0-9]){8,}/g;
const unprintableAll = /[\p{Cc}\p{Cs}]/gu;

export interface AuditEvent {
  /** The organisation acted in; null for a system event (isSystemAuditAction), and only then. */
  readonly organisationId: string | null;
  /** Who acted: the JWT subject, or `operator:<name>` for a command run on a server. */
  readonly actor: string;
  /** The request the action came in on (`x-request-id`), when there was one. */
  readonly requestId: string | null;
  readonly action: AuditAction;
  readonly objectId: string;
  readonly detail: AuditDetail;
}

/** An event as stored: its place in the chain, its time, and the hashes. */
export interface StoredAuditEvent {
  readonly seq: bigint;
  readonly atMicros: bigint;
  readonly organisationId: string | null;
  readonly actor: string;
  readonly requestId: string | null;
  /** A string, not AuditAction: verify reads what is stored, whatever it is. */
  readonly action: string;
  readonly objectType: string;
  readonly objectId: string;
  readonly detail: AuditDetail;
  readonly prevHash: Buffer | null;
  readonly hash: Buffer;
}

/**
 * Free text made fit for an audit detail (a decision's note): phone-number-like digit runs are
 * replaced, so are control characters and lone surrogates, and it is cut to the value limit.
 */
export function auditFreeText(text: string): string {
  return withoutPhoneNumbers(text.replace(unprintableAll, '\uFFFD')).slice(0, auditDetailValueCharsMax).replace(/\p{Cs}$/u, '');
}

/** Free text with its phone-number-like digit runs replaced: what people write in a note or a reason keeps no number. */
export function withoutPhoneNumbers(text: string): string {
  return text.replace(phoneLikeRun, '[number removed]');
}

/** Why an event may not be written, or null. The caller builds events: a reason here is a programmer error. */
export function auditEventProblem(event: AuditEvent): string | null {
  if (!isAuditAction(event.action)) return `unknown action ${JSON.stringify(event.action)}`;
  if ((event.organisationId === null) !== isSystemAuditAction(event.action)) {
    return event.organisationId === null ? `${event.action} is done in an organisation` : `${event.action} is a system event: it has no organisation`;
  }
  for (const [name, value] of [['organisationId', event.organisationId], ['actor', event.actor], ['objectId', event.objectId], ['requestId', event.requestId]] as const) {
    if (value === null && (name === 'requestId' || name === 'organisationId')) continue;
    if (value === null || value.length === 0 || value.length > auditIdentifierCharsMax || unprintable.test(value)) return `${name} is 1-${auditIdentifierCharsMax} printable characters`;
  }
  const entries = Object.entries(event.detail);
  if (entries.length > auditDetailKeysMax) return `detail has more than ${auditDetailKeysMax} members`;
  for (const [key, value] of entries) {
    if (!detailKeyPattern.test(key)) return `detail key ${JSON.stringify(key)} is not a short camelCase name`;
    if (typeof value !== 'string' || value.length > auditDetailValueCharsMax || unprintable.test(value)) return `detail ${key} is a string of at most ${auditDetailValueCharsMax} printable characters`;
    if (e164Like.test(value)) return `detail ${key} holds a phone number`;
  }
  if (utf8Length(canonicalDetail(event.detail)) > auditDetailBytesMax) return `detail is over ${auditDetailBytesMax} bytes`;
  return null;
}

export function canonicalDetail(detail: AuditDetail): string {
  const keys = Object.keys(detail).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${JSON.stringify(detail[k])}`).join(',')}}`;
}

const netstring = (value: string | null): string => (value === null ? '~,' : `${utf8Length(value)}:${value},`);

/** The bytes (as a string, hashed as UTF-8) an event's hash covers: see the header for the encoding. */
export function canonicalAuditEvent(e: Omit<StoredAuditEvent, 'hash'>): string {
  return [
    auditEncodingTag,
    e.seq.toString(),
    e.atMicros.toString(),
    e.organisationId,
    e.actor,
    e.requestId,
    e.action,
    e.objectType,
    e.objectId,
    canonicalDetail(e.detail),
    e.prevHash === null ? null : e.prevHash.toString('hex'),
  ]
    .map(netstring)
    .join('');
}

function utf8Length(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

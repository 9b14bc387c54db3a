// Audit events are stored with their hashes: the canonical encoding and the hash never change
// (a new encoding gets a new tag). The vectors below were computed outside the code, with
// `printf '%s' '<bytes>' | sha256sum`, from the encoding as documented in src/domain/audit.ts.
import { auditEventHash } from '../../src/application/audit.js';
import {
  auditDetailBytesMax,
  auditEventProblem,
  auditFreeText,
  canonicalAuditEvent,
  type AuditEvent,
  type StoredAuditEvent,
} from '../../src/domain/audit.js';

const first: Omit<StoredAuditEvent, 'hash'> = {
  seq: 1n,
  atMicros: 1_764_979_200_123_456n,
  organisationId: 'demo-org',
  actor: 'finance-person',
  requestId: null,
  action: 'payout.decision',
  objectType: 'payout',
  objectId: 'f95da86b-f605-5b2c-9614-174fc657345c',
  detail: { outcome: 'failed', note: 'not on the statement' },
  prevHash: null,
};
const firstBytes = '13:tuma.audit.v1,1:1,16:1764979200123456,8:demo-org,14:finance-person,~,15:payout.decision,6:payout,36:f95da86b-f605-5b2c-9614-174fc657345c,50:{"note":"not on the statement","outcome":"failed"},~,';
const firstHash = 'c8e6bbda0efdfeba0d76b4761fbcbd90f796ecfff454dd437a039a0e13e3a492';

const second: Omit<StoredAuditEvent, 'hash'> = {
  seq: 2n,
  atMicros: 1_764_979_260_000_001n,
  organisationId: 'demo-org',
  actor: 'admin1',
  requestId: 'req-42a',
  action: 'signer_key.register',
  objectType: 'signer_key',
  objectId: 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs',
  detail: { role: 'maker', reason: 'clé perdue' },
  prevHash: Buffer.from(firstHash, 'hex'),
};
const secondBytes = `13:tuma.audit.v1,1:2,16:1764979260000001,8:demo-org,6:admin1,7:req-42a,19:signer_key.register,10:signer_key,43:NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs,39:{"reason":"clé perdue","role":"maker"},64:${firstHash},`;
const secondHash = '604d17efb4d0788f1f34ad9d01b034056948fb4c9affafad833177ade36363a4';

describe('the audit event encoding (tuma.audit.v1)', () => {
  it('when the first event is encoded, then it is the pinned netstrings and the pinned SHA-256', () => {
    expect(canonicalAuditEvent(first)).toBe(firstBytes);
    expect(auditEventHash(first).toString('hex')).toBe(firstHash);
  });

  it('when an event follows another, then its bytes carry the predecessor hash and lengths count UTF-8 bytes, keys sorted', () => {
    expect(canonicalAuditEvent(second)).toBe(secondBytes);
    expect(auditEventHash(second).toString('hex')).toBe(secondHash);
  });

  it('when characters move from one field to its neighbour, then the bytes differ (every field is length-prefixed)', () => {
    const a = canonicalAuditEvent({ ...first, actor: 'ab', requestId: 'c' });
    const b = canonicalAuditEvent({ ...first, actor: 'a', requestId: 'bc' });
    expect(a).not.toBe(b);
    // An absent request id is not an empty one, nor the text "~".
    expect(canonicalAuditEvent({ ...first, requestId: null })).not.toBe(canonicalAuditEvent({ ...first, requestId: '~' }));
    // A value that looks like the encoding itself cannot forge a field boundary.
    expect(canonicalAuditEvent({ ...first, actor: 'x,6:payout', objectType: '' })).not.toBe(canonicalAuditEvent({ ...first, actor: 'x' }));
  });

  it('when any field differs, then the hash differs', () => {
    const base = auditEventHash(first).toString('hex');
    const variants: Omit<StoredAuditEvent, 'hash'>[] = [
      { ...first, seq: 2n },
      { ...first, atMicros: first.atMicros + 1n },
      { ...first, organisationId: 'other-org' },
      { ...first, actor: 'finance-person2' },
      { ...first, requestId: 'r' },
      { ...first, action: 'payout.requeue' },
      { ...first, objectType: 'batch' },
      { ...first, objectId: 'f95da86b-f605-5b2c-9614-174fc657345d' },
      { ...first, detail: { outcome: 'paid', note: 'not on the statement' } },
      { ...first, prevHash: Buffer.alloc(32) },
    ];
    for (const v of variants) expect(auditEventHash(v).toString('hex')).not.toBe(base);
  });
});

describe('what an audit event may carry', () => {
  const event: AuditEvent = { organisationId: 'org', actor: 'someone', requestId: null, action: 'payout.decision', objectId: 'p-1', detail: { outcome: 'paid' } };

  it('when the event is well formed, then it may be written', () => {
    expect(auditEventProblem(event)).toBeNull();
    expect(auditEventProblem({ ...event, requestId: 'abc' })).toBeNull();
  });

  it.each([
    ['an unknown action', { ...event, action: 'payout.delete' as AuditEvent['action'] }, /unknown action/],
    ['an empty actor', { ...event, actor: '' }, /actor/],
    ['an actor over 128 characters', { ...event, actor: 'a'.repeat(129) }, /actor/],
    ['a control character in the object id', { ...event, objectId: 'p\u0000' }, /objectId/],
    ['an empty request id', { ...event, requestId: '' }, /requestId/],
    ['a phone number in the detail', { ...event, detail: { note: 'sent to +254722000001' } }, /phone number/],
    ['a detail key that is not a short name', { ...event, detail: { 'bad key': 'x' } }, /detail key/],
    ['a lone surrogate in the detail', { ...event, detail: { note: 'a\ud800' } }, /printable/],
    ['17 detail members', { ...event, detail: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 'v'])) }, /more than 16/],
    ['a detail over the byte limit', { ...event, detail: { a: 'é'.repeat(600), b: 'é'.repeat(600) } }, new RegExp(`over ${auditDetailBytesMax} bytes`)],
  ] as const)('when it has %s, then it is refused', (_what, e, reason) => {
    expect(auditEventProblem(e)).toMatch(reason);
  });

  it('when free text holds phone numbers however written, then they are masked and the rest is kept', () => {
    expect(auditFreeText('paid to +254722000001 per statement')).toBe('paid to [number removed] per statement');
    expect(auditFreeText('called 0722 000 001 and (0722) 000-002')).toBe('called [number removed] and ([number removed]');
    expect(auditFreeText('short +1234567 number')).toBe('short [number removed] number');
    expect(auditFreeText('statement of 2024-12-06, line 17, 100.00 KES')).toBe('statement of 2024-12-06, line 17, 100.00 KES');
    expect(auditFreeText('a\u0007b\ud800')).toBe('a\uFFFDb\uFFFD');
    expect(auditFreeText('x'.repeat(2_000))).toHaveLength(1_000);
    for (const note of ['+254722000001', '0722000001', 'x +1 234 567 890 y']) {
      expect(auditEventProblem({ ...event, detail: { note: auditFreeText(note) } })).toBeNull();
    }
  });
});

describe('system events (no organisation)', () => {
  const system: Omit<StoredAuditEvent, 'hash'> = {
    seq: 3n,
    atMicros: 1_764_979_300_000_000n,
    organisationId: null,
    actor: 'system:worker',
    requestId: null,
    action: 'breaker.open',
    objectType: 'provider_account',
    objectId: 'mpesa-ke',
    detail: { provider: 'mpesa', previous: 'closed', cause: 'calls' },
    prevHash: null,
  };

  it('when an event has no organisation, then the encoding writes it absent (~,), as an absent request id, and the hash covers that', () => {
    const bytes = '13:tuma.audit.v1,1:3,16:1764979300000000,~,13:system:worker,~,12:breaker.open,16:provider_account,8:mpesa-ke,56:{"cause":"calls","previous":"closed","provider":"mpesa"},~,';
    expect(canonicalAuditEvent(system)).toBe(bytes);
    expect(auditEventHash(system).toString('hex')).toBe('071342dbb5920e22c64872a5e795c2e213dd6913e99d5237daee4a94e93089bf');
    // An organisation named "~" is not an absent one.
    expect(canonicalAuditEvent({ ...system, organisationId: '~' })).not.toBe(bytes);
  });

  it('when a system action names an organisation, or an organisation\'s action names none, then the event is refused', () => {
    const base: AuditEvent = { organisationId: null, actor: 'system:worker', requestId: null, action: 'breaker.open', objectId: 'mpesa-ke', detail: {} };
    expect(auditEventProblem(base)).toBeNull();
    expect(auditEventProblem({ ...base, action: 'configuration.start' })).toBeNull();
    expect(auditEventProblem({ ...base, organisationId: 'demo-org' })).toMatch(/system event/);
    expect(auditEventProblem({ ...base, action: 'payout.decision' })).toMatch(/done in an organisation/);
  });
});

// The pieces that authenticate provider callbacks: address allow-lists and HMAC signatures over
// the raw body (with a timestamp window where the provider signs one).
import { createHmac } from 'node:crypto';
import { allowListEntriesMax, parseAllowList, verifyHmac, type HmacSettings } from '../../src/adapters/http/callback-auth.js';

describe('address allow-lists', () => {
  const allows = (list: string, address: string | undefined) => {
    const parsed = parseAllowList(list);
    if (!parsed.ok) throw new Error(parsed.problems.join('; '));
    return parsed.allows(address);
  };

  it.each([
    ['196.201.214.0/24', '196.201.214.200', true],
    ['196.201.214.0/24', '196.201.215.1', false],
    ['196.201.214.200', '196.201.214.200', true],
    ['196.201.214.0/24', '::ffff:196.201.214.7', true],
    ['2001:db8::/32', '2001:db8:1::5', true],
    ['2001:db8::/32', '2001:db9::5', false],
    ['10.0.0.0/8, 127.0.0.1', '127.0.0.1', true],
    ['10.0.0.0/8', undefined, false],
    ['10.0.0.0/8', 'not-an-address', false],
    ['0.0.0.0/0', '8.8.8.8', true],
  ])('when the list is %p and the caller is %p, then allowed is %p', (list, address, expected) => {
    expect(allows(list, address)).toBe(expected);
  });

  it.each([
    ['', /empty/],
    ['10.0.0.0/33', /not an IP address or CIDR/],
    ['10.0.0/8', /not an IP address or CIDR/],
    ['example.org', /not an IP address or CIDR/],
    ['10.0.0.0/8/1', /not an IP address or CIDR/],
    ['2001:db8::/129', /not an IP address or CIDR/],
    [Array.from({ length: allowListEntriesMax + 1 }, (_, i) => `10.0.${Math.floor(i / 250)}.${i % 250}`).join(','), /at most/],
  ])('when the list is %p, then it is refused with a reason', (list, reason) => {
    const parsed = parseAllowList(list);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.problems.join('; ')).toMatch(reason);
  });
});

describe('HMAC callback signatures', () => {
  const secret = Buffer.from('a shared secret of the provider');
  const body = Buffer.from('{"transaction":{"id":"k-1","status_code":"TS"}}');
  const mac = (input: string | Buffer, encoding: 'hex' | 'base64') => createHmac('sha256', secret).update(input).digest(encoding);
  const now = Date.parse('2026-11-25T10:00:00Z');
  const plain: HmacSettings = { secret, encoding: 'base64', timestamp: null };
  const stamped: HmacSettings = { secret, encoding: 'hex', timestamp: { windowMs: 5 * 60_000 } };

  it('when the body is signed with the secret, then it passes, in either encoding and with a sha256= prefix', () => {
    expect(verifyHmac(plain, body, mac(body, 'base64'), undefined, now)).toEqual({ ok: true });
    expect(verifyHmac({ ...plain, encoding: 'hex' }, body, `sha256=${mac(body, 'hex')}`, undefined, now)).toEqual({ ok: true });
  });

  it.each([
    ['no signature', undefined],
    ['a signature of another body', mac('{"transaction":{"id":"k-2"}}', 'base64')],
    ['a truncated signature', mac(body, 'base64').slice(0, 20)],
    ['garbage', '!!!!'],
    ['an oversized header', 'A'.repeat(600)],
  ])('when the callback carries %s, then it fails', (_what, signature) => {
    expect(verifyHmac(plain, body, signature, undefined, now).ok).toBe(false);
  });

  it('when the provider signs a timestamp, then a fresh one passes and a stale, future, missing or re-dated one fails', () => {
    const ts = String(Math.floor(now / 1000) - 60);
    const signed = mac(Buffer.concat([Buffer.from(`${ts}.`), body]), 'hex');
    expect(verifyHmac(stamped, body, signed, ts, now)).toEqual({ ok: true });
    expect(verifyHmac(stamped, body, signed, ts, now + 10 * 60_000)).toEqual({ ok: false, reason: 'stale or future timestamp' });
    expect(verifyHmac(stamped, body, signed, ts, now - 10 * 60_000)).toEqual({ ok: false, reason: 'stale or future timestamp' });
    expect(verifyHmac(stamped, body, signed, undefined, now)).toEqual({ ok: false, reason: 'no timestamp' });
    // A replay that moves the timestamp into the window no longer matches the MAC.
    expect(verifyHmac(stamped, body, signed, String(Number(ts) + 30), now)).toEqual({ ok: false, reason: 'bad signature' });
  });
});

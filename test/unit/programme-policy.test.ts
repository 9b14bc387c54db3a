// The approval policy: tiers by batch total, parsed from an administrator's JSON.
import fc from 'fast-check';
import { approversRequired, checkTiers, formatPolicy, parsePolicy } from '../../src/domain/programme-policy.js';

const tiers = [
  { fromMinor: 0n, approvers: 1 },
  { fromMinor: 1_000_00n, approvers: 2 },
  { fromMinor: 5_000_00n, approvers: 3 },
];

describe('approversRequired', () => {
  it.each([
    [1n, 1], [999_99n, 1], [1_000_00n, 2], [4_999_99n, 2], [5_000_00n, 3], [10n ** 15n, 3],
  ])('when the total is %s minor units, then %s approver(s)', (total, expected) => {
    expect(approversRequired(tiers, total)).toBe(expected);
  });

  it('when the total grows, then the approvers needed never fall', () => {
    fc.assert(fc.property(fc.bigInt({ min: 1n, max: 10n ** 12n }), fc.bigInt({ min: 0n, max: 10n ** 12n }), (a, extra) => {
      expect(approversRequired(tiers, a + extra)).toBeGreaterThanOrEqual(approversRequired(tiers, a));
    }));
  });
});

describe('parsePolicy', () => {
  const valid = { approvals: [{ fromTotal: '0', approvers: 1 }, { fromTotal: '1000.00', approvers: 2 }], providers: ['mpesa'], payoutMax: '150000.00', rowErrors: 'accept_valid_rows' };

  it('when the policy is valid, then it parses to minor units and formats back the same', () => {
    const parsed = parsePolicy(valid, 'KES');
    expect(parsed).toEqual({ ok: true, value: { tiers: [{ fromMinor: 0n, approvers: 1 }, { fromMinor: 1_000_00n, approvers: 2 }], providers: ['mpesa'], payoutMaxMinor: 150_000_00n, rowErrors: 'accept_valid_rows' } });
    expect(parsed.ok && formatPolicy(parsed.value, 'KES')).toEqual(valid);
  });

  it.each([
    ['not an object', []],
    ['an unknown member', { ...valid, extra: 1 }],
    ['no tiers', { ...valid, approvals: [] }],
    ['a first tier above 0', { ...valid, approvals: [{ fromTotal: '10.00', approvers: 1 }] }],
    ['tiers out of order', { ...valid, approvals: [{ fromTotal: '0', approvers: 1 }, { fromTotal: '500.00', approvers: 2 }, { fromTotal: '100.00', approvers: 3 }] }],
    ['a higher tier needing fewer approvers', { ...valid, approvals: [{ fromTotal: '0', approvers: 2 }, { fromTotal: '500.00', approvers: 1 }] }],
    ['approvers above 16', { ...valid, approvals: [{ fromTotal: '0', approvers: 17 }] }],
    ['negative approvers', { ...valid, approvals: [{ fromTotal: '0', approvers: -1 }] }],
    ['fractional approvers', { ...valid, approvals: [{ fromTotal: '0', approvers: 1.5 }] }],
    ['approvers as a string', { ...valid, approvals: [{ fromTotal: '0', approvers: '1' }] }],
    ['fromTotal as a number', { ...valid, approvals: [{ fromTotal: 0, approvers: 1 }, { fromTotal: 1000, approvers: 2 }] }],
    ['fromTotal with too many decimals', { ...valid, approvals: [{ fromTotal: '0', approvers: 1 }, { fromTotal: '10.001', approvers: 2 }] }],
    ['too many tiers', { ...valid, approvals: Array.from({ length: 9 }, (_, i) => ({ fromTotal: i === 0 ? '0' : `${i}.00`, approvers: i })) }],
    ['an unknown provider', { ...valid, providers: ['paypal'] }],
    ['no providers', { ...valid, providers: [] }],
    ['a provider twice', { ...valid, providers: ['mpesa', 'mpesa'] }],
    ['payoutMax as a number', { ...valid, payoutMax: 150000 }],
    ['payoutMax zero', { ...valid, payoutMax: '0' }],
    ['an unknown rowErrors mode', { ...valid, rowErrors: 'ignore' }],
  ])('when the policy has %s, then it is refused with a reason', (_name, input) => {
    const parsed = parsePolicy(input, 'KES');
    expect(parsed.ok).toBe(false);
    expect(!parsed.ok && parsed.error).toEqual(expect.any(String));
  });

  it('when tiers are checked directly, then only a well-ordered, non-decreasing list from 0 passes', () => {
    expect(checkTiers(tiers)).toBeNull();
    expect(checkTiers([])).toEqual(expect.any(String));
  });
});

// The deterministic parts of the simulators' fault injection (src/simulator/faults.ts): a latency
// distribution and an error rate drawn from the hash of the idempotency key, so that a rerun meets
// the same faults; their bounds; and the statement's reversal amount.
import fc from 'fast-check';
import {
  answerDelayMs,
  createAttemptCounter,
  deterministicDelayMs,
  failsAtErrorRate,
  faultDelayMaxMs,
  faultErrorRateSchema,
  faultFloatSchemaOf,
  faultLatencySchema,
  hashFraction,
  reversedAmount,
} from '../../src/simulator/faults.js';

const keys = Array.from({ length: 2_000 }, (_, i) => `0b7f2a9e-4c1d-5e8f-9a0b-${i.toString(16).padStart(12, '0')}`);

describe('deterministic latency', () => {
  it('when the same key is drawn twice, then the delay is the same, and it lies in [baseMs, baseMs + jitterMs]', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 100 }), fc.integer({ min: 0, max: 60_000 }), fc.integer({ min: 0, max: 60_000 }), (key, baseMs, jitterMs) => {
        const latency = { baseMs, jitterMs };
        const delay = deterministicDelayMs(key, latency);
        expect(deterministicDelayMs(key, { ...latency })).toBe(delay);
        expect(Number.isInteger(delay)).toBe(true);
        expect(delay).toBeGreaterThanOrEqual(baseMs);
        expect(delay).toBeLessThanOrEqual(baseMs + jitterMs);
      }),
    );
  });

  it('when many keys are drawn, then the delays spread over the whole range, both ends included', () => {
    const delays = keys.map((k) => deterministicDelayMs(k, { baseMs: 10, jitterMs: 9 }));
    expect(new Set(delays)).toEqual(new Set([10, 11, 12, 13, 14, 15, 16, 17, 18, 19]));
    // Roughly uniform: each of the 10 values about 200 times out of 2000.
    for (let v = 10; v <= 19; v++) expect(delays.filter((d) => d === v).length).toBeGreaterThan(120);
  });

  it('when there is no latency or no jitter, then the delay is 0 or exactly baseMs', () => {
    expect(deterministicDelayMs('k', undefined)).toBe(0);
    expect(deterministicDelayMs('k', { baseMs: 25, jitterMs: 0 })).toBe(25);
  });

  it("when a rule has its own latency, then it replaces the global one; the fixed latencyMs is added; the total never passes faultDelayMaxMs", () => {
    const global = { baseMs: 100, jitterMs: 0 };
    expect(answerDelayMs({ latencyMs: 5, latency: global }, undefined, 'k')).toBe(105);
    expect(answerDelayMs({ latencyMs: 5, latency: global }, { latency: { baseMs: 7, jitterMs: 0 } }, 'k')).toBe(12);
    expect(answerDelayMs({ latencyMs: 5 }, { latency: undefined }, 'k')).toBe(5);
    expect(answerDelayMs({ latencyMs: faultDelayMaxMs, latency: { baseMs: faultDelayMaxMs, jitterMs: 0 } }, undefined, 'k')).toBe(faultDelayMaxMs);
  });

  it.each([
    ['a negative base', { baseMs: -1 }],
    ['a fractional jitter', { baseMs: 1, jitterMs: 0.5 }],
    ['a base and jitter past the maximum together', { baseMs: faultDelayMaxMs, jitterMs: 1 }],
    ['an unknown member', { baseMs: 1, spread: 2 }],
  ])('when a latency has %s, then it is refused', (_what, latency) => {
    expect(faultLatencySchema.safeParse(latency).success).toBe(false);
  });
});

describe('deterministic error rate', () => {
  it('when the rate is 0 (or absent), then no request fails; when it is 100, then every one does', () => {
    for (const k of keys.slice(0, 200)) {
      expect(failsAtErrorRate(k, 0, 0)).toBe(false);
      expect(failsAtErrorRate(k, 0, undefined)).toBe(false);
      expect(failsAtErrorRate(k, 3, 100)).toBe(true);
    }
  });

  it('when the rate is 30, then about 30% of keys fail, each the same way on every draw, and a higher rate fails a superset', () => {
    const failing = keys.filter((k) => failsAtErrorRate(k, 0, 30));
    expect(failing.length / keys.length).toBeGreaterThan(0.26);
    expect(failing.length / keys.length).toBeLessThan(0.34);
    expect(keys.filter((k) => failsAtErrorRate(k, 0, 30))).toEqual(failing);
    const at60 = new Set(keys.filter((k) => failsAtErrorRate(k, 0, 60)));
    for (const k of failing) expect(at60.has(k)).toBe(true);
  });

  it('when a key that failed is sent again, then the next attempt is a new draw: some resends go through', () => {
    const failedFirst = keys.filter((k) => failsAtErrorRate(k, 0, 50));
    const throughSecond = failedFirst.filter((k) => !failsAtErrorRate(k, 1, 50));
    expect(throughSecond.length).toBeGreaterThan(failedFirst.length / 3);
    expect(throughSecond.length).toBeLessThan(failedFirst.length);
  });

  it('when attempts are counted per key, then each key counts from 0 on its own, and the oldest key is forgotten past the bound', () => {
    const counter = createAttemptCounter(2);
    expect([counter.next('a'), counter.next('a'), counter.next('b'), counter.next('a')]).toEqual([0, 1, 0, 2]);
    expect(counter.next('c')).toBe(0); // 'a' forgotten
    expect(counter.next('a')).toBe(0);
  });

  it('when latency and error rate draw on the same key, then they are independent draws', () => {
    expect(hashFraction('latency', 'k')).not.toBe(hashFraction('error-rate', 'k', '0'));
    expect(hashFraction('a', 'bc')).not.toBe(hashFraction('ab', 'c'));
  });

  it.each([-1, 100.5, Number.NaN, '50'])('when the rate is %p, then it is refused', (rate) => {
    expect(faultErrorRateSchema.safeParse(rate).success).toBe(false);
  });
});

describe('float and statement helpers', () => {
  it.each([
    ['100', true],
    ['100.50', true],
    ['0', true],
    ['100.505', false],
    ['-1', false],
    ['01', false],
    ['1e3', false],
  ])('when a float of %s is given with at most 2 decimals, then it is %p', (value, ok) => {
    expect(faultFloatSchemaOf(2).safeParse(value).success).toBe(ok);
  });

  it('when a line is reversed, then its amount is negated (and a negative one made positive)', () => {
    expect(reversedAmount('12.50')).toBe('-12.50');
    expect(reversedAmount('-12.50')).toBe('12.50');
  });
});

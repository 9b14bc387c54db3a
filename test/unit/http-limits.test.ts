// The API's hardening pieces on their own (issue #15 item 5): the duplicate-member scanner every
// JSON body goes through, the per-class limits' bounds, and their configuration variables.
import fc from 'fast-check';
import { hasDuplicateMember } from '../../src/adapters/http/json-body.js';
import { classLimits, rateLimitDefaults, requestTimeoutDefaults } from '../../src/adapters/http/limits.js';
import { ConfigError, loadConfig } from '../../src/config/config.js';

describe('a member name twice in one object', () => {
  it.each([
    ['{"a":1,"a":2}', true],
    ['{"a":1,"b":{"c":1,"c":2}}', true],
    ['[{"a":1},{"b":1,"b":[]}]', true],
    ['{"a":1,"\\u0061":2}', true],
    ['{"a\\"b":1,"a\\"b":2}', true],
    ['{ "a" : 1 , "a" : 2 }', true],
    ['{"a":{"a":1},"b":[{"a":1},{"a":2}]}', false],
    ['{"a":"a","b":"a"}', false],
    ['{"a\\\\":1,"a":2}', false],
    ['{"a":"}{\\"a\\":","b":1}', false],
    ['["a","a"]', false],
    ['{}', false],
    ['', false],
    ['{"a":1,"a', false],
  ])('when the text is %s, then it is %s', (text, duplicate) => {
    expect(hasDuplicateMember(text)).toBe(duplicate);
  });

  it('when any JSON value is written by JSON.stringify, then no member is twice; when one of its objects gets a member it has again, then one is', () => {
    fc.assert(fc.property(fc.jsonValue({ maxDepth: 4 }), (value) => {
      const text = JSON.stringify(value);
      expect(hasDuplicateMember(text)).toBe(false);
      // The first object with a member, given that member once more at its end.
      const match = /\{"((?:[^"\\]|\\.)*)":/.exec(text);
      if (!match) return;
      const at = text.indexOf('{', match.index);
      let depth = 0;
      for (let i = at; i < text.length; i++) {
        const c = text[i];
        if (c === '"') {
          i += 1;
          while (text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
        } else if (c === '{' || c === '[') depth += 1;
        else if (c === '}' || c === ']') {
          depth -= 1;
          if (depth === 0) {
            expect(hasDuplicateMember(`${text.slice(0, i)},"${match[1]}":0${text.slice(i)}`)).toBe(true);
            return;
          }
        }
      }
    }), { numRuns: 300 });
  });

  it('when a body of 4 MB is scanned, then it takes well under a second', () => {
    const text = JSON.stringify({ payouts: Array.from({ length: 40_000 }, (_, i) => ({ ref: `r-${i}`, msisdn: '+254712345678', amount: '100.00', name: 'A "quoted" name \\ here' })) });
    const started = performance.now();
    expect(hasDuplicateMember(text)).toBe(false);
    expect(performance.now() - started).toBeLessThan(1_000);
  });
});

describe('route class limits', () => {
  it('when a timeout is out of bounds, then the limits are refused', () => {
    expect(() => classLimits({ timeoutMs: { read: 5 } })).toThrow(/read request timeout/);
    expect(() => classLimits({ timeoutMs: { bulk: 7_200_000 } })).toThrow(/bulk request timeout/);
    expect(classLimits({})('public')).toHaveLength(1); // a deadline, never a rate
    expect(classLimits({ ratePerMinute: { read: 10 } })('read')).toHaveLength(2);
    expect(classLimits({ ratePerMinute: { read: 0 } })('read')).toHaveLength(1);
  });
});

describe('configuration', () => {
  // Every variable production requires (as test/unit/config.test.ts sets them).
  const env = {
    AUTH_ISSUER: 'https://login.example.org', AUTH_AUDIENCE: 'tuma', DATABASE_URL: 'postgres://u@127.0.0.1:5432/tuma', KAFKA_BROKERS: '127.0.0.1:9092',
    AUTH_JWKS: JSON.stringify({ keys: [{ kty: 'EC', crv: 'P-256', x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU', y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0', alg: 'ES256' }] }),
    TUMA_MASTER_KEY: Buffer.alloc(32, 7).toString('base64'), MPESA_BASE_URL: 'https://api.example.org', MPESA_CONSUMER_KEY: 'ck', MPESA_CONSUMER_SECRET: 'cs',
    MPESA_SHORTCODE: '600000', MPESA_INITIATOR_NAME: 'init', MPESA_SECURITY_CREDENTIAL: 'cred',
  };
  const problems = (env: Record<string, string>) => {
    try {
      loadConfig(env);
      return [];
    } catch (error) {
      if (error instanceof ConfigError) return [...error.problems];
      throw error;
    }
  };

  it('when nothing is set, then each class has its default rate and timeout', () => {
    expect(loadConfig(env).httpLimits).toEqual({
      ratePerMinute: { ...rateLimitDefaults },
      timeoutMs: { read: requestTimeoutDefaults.read, write: requestTimeoutDefaults.write, bulk: requestTimeoutDefaults.bulk, callback: requestTimeoutDefaults.callback },
    });
  });

  it('when the variables are set, then they are the limits; 0 turns a rate off', () => {
    const limits = loadConfig({ ...env, HTTP_RATE_READ_PER_MINUTE: '0', HTTP_RATE_WRITE_PER_MINUTE: '10', HTTP_RATE_BULK_PER_MINUTE: '2', HTTP_RATE_CALLBACK_PER_MINUTE: '500', HTTP_TIMEOUT_READ_MS: '1000', HTTP_TIMEOUT_WRITE_MS: '2000', HTTP_TIMEOUT_BULK_MS: '600000', HTTP_TIMEOUT_CALLBACK_MS: '3000' }).httpLimits;
    expect(limits).toEqual({ ratePerMinute: { read: 0, write: 10, bulk: 2, callback: 500 }, timeoutMs: { read: 1_000, write: 2_000, bulk: 600_000, callback: 3_000 } });
  });

  it.each([
    ['HTTP_RATE_READ_PER_MINUTE', 'lots'],
    ['HTTP_RATE_WRITE_PER_MINUTE', '100001'],
    ['HTTP_TIMEOUT_READ_MS', '99'],
    ['HTTP_TIMEOUT_BULK_MS', '3600001'],
  ])('when %s is %s, then the configuration is refused, naming it', (name, value) => {
    expect(problems({ ...env, [name]: value }).some((p) => p.startsWith(`${name}:`))).toBe(true);
  });
});

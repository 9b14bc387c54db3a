// Fuzz target: POST /v1/batches. Generated batch documents, mostly plausible with a few fields
// mutated (hostile strings, numbers where decimal strings belong, look-alike digits, members
// missing or unknown, rows past BATCH_PAYOUTS_MAX), serialised and then mutated as raw JSON text
// (a member given twice, a raw number, deep nesting, invalid UTF-8, lone surrogates), signed by
// the maker (or a co-signer, a stranger, another organisation, an expired key, a tampered
// header), and some raw envelopes and bodies that are no JWS at all, past the body limit, or sent
// with another content type or caller. Properties: never a 5xx; every refusal a documented code
// with its catalogue status (row errors too); every answer within contracts/openapi.yaml; a
// refusal or a replay changes no row; an accepted batch is stored whole (its payouts are the
// count it answers) and, where no row was left out, is a document contracts/batch.v1.schema.json accepts.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import fc from 'fast-check';
import { GeneralSign } from 'jose';
import { sql } from 'kysely';
import request from 'supertest';
import { fundProgramme, registerProgramme } from '../../src/application/setup.js';
import { bearer, registerKey, startTestApi } from '../support/api.js';
import { newKey, setUpProgramme, type Maker } from '../support/fixtures.js';
import {
  answerProblem, asIs, checkContract, codeOf, recorded, runProperty, Tally, violated, withCleanup, type FuzzOptions, type FuzzReport,
} from './common.js';
import {
  anyBytes, anyJson, around, deepJson, duplicateKey, homoglyphed, hostileString, invalidUtf8, mutated, nested, rawValue, stringOfLength,
} from './hostile.js';

type AddFormats = (ajv: Ajv2020) => Ajv2020;
const addFormats = ((addFormatsModule as unknown as { default?: AddFormats }).default ?? addFormatsModule) as unknown as AddFormats;

/** The published batch document schema: what an accepted batch must be. */
const batchSchema = (() => {
  const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: true });
  addFormats(ajv);
  return ajv.compile(JSON.parse(readFileSync(join(process.cwd(), 'contracts', 'batch.v1.schema.json'), 'utf8')) as object);
})();

const batchPayoutsMax = 40;
const bodyMaxBytes = 256 * 1024;
const funded = 10n ** 13n;

/** A member removed (in a mutation's value). */
const missing = Symbol('missing');
type Value = unknown;

interface Mutation {
  /** A path into the document: a top-level member, `declared.*`, `payouts.<n>.<field>`, or `+…` for an unknown member. */
  readonly path: string;
  readonly row: number;
  readonly value: Value;
}

type Signer = 'maker' | 'maker+approver' | 'approver' | 'stranger' | 'other-org' | 'expired' | 'two-makers';
type HeaderChange = null | { readonly protected: string } | { readonly header: Record<string, unknown> };
type TextChange =
  | { readonly kind: 'none' }
  | { readonly kind: 'duplicate'; readonly key: string; readonly first: string }
  | { readonly kind: 'raw'; readonly key: string; readonly raw: string }
  | { readonly kind: 'deep'; readonly key: string; readonly deep: string }
  | { readonly kind: 'bytes'; readonly at: number; readonly bytes: Buffer }
  | { readonly kind: 'wrap'; readonly before: string; readonly after: string };
type EnvelopeChange =
  | { readonly kind: 'none' }
  | { readonly kind: 'member'; readonly name: string; readonly value: Value }
  | { readonly kind: 'payload'; readonly payload: Value }
  | { readonly kind: 'signatures'; readonly signatures: Value }
  | { readonly kind: 'tamper-payload' }
  | { readonly kind: 'tamper-signature'; readonly at: number };

interface SignedBody {
  readonly kind: 'signed';
  readonly programme: 'reject' | 'accept-valid-rows' | 'other';
  readonly rows: readonly RowSpec[];
  readonly mutations: readonly Mutation[];
  readonly text: TextChange;
  readonly signer: Signer;
  readonly header: HeaderChange;
  readonly envelope: EnvelopeChange;
  /** Send the last accepted submission again (a replay), or its batchId with these bytes (a conflict). */
  readonly again: 'no' | 'replay' | 'same-id';
}

interface RawBody {
  readonly kind: 'raw';
  readonly bytes: Buffer;
}

export interface BatchInput {
  readonly caller: 'maker' | 'approver-role' | 'none' | 'garbage';
  readonly contentType: string | null;
  readonly body: SignedBody | RawBody;
}

interface RowSpec {
  readonly amount: number;
  readonly cents: boolean;
  readonly phone: number;
  readonly name: string | null;
  readonly note: string | null;
}

const rowFields = ['ref', 'provider', 'msisdn', 'amount', 'name', 'note'] as const;
const documentPaths = ['batchId', 'organisationId', 'programmeId', 'currency', 'createdAt', 'expiresAt', 'declared', 'declared.count', 'declared.total', 'payouts'] as const;

const isoNow = () => new Date().toISOString();

/** A value for `path` (of row `row`), plausible but wrong more often than not. */
function valueFor(path: string): fc.Arbitrary<Value> {
  const orMissing = (a: fc.Arbitrary<Value>) => fc.oneof({ weight: 6, arbitrary: a }, { weight: 1, arbitrary: fc.constant(missing) }, { weight: 1, arbitrary: anyJson });
  switch (path) {
    case 'batchId':
      return orMissing(fc.oneof(fc.uuid().map((u) => u.toUpperCase()), mutated('0b8f3a52-64d1-4c1e-9a7b-2e5f4d3c2b10'), fc.constantFrom('00000000-0000-0000-0000-000000000000', 'ffffffff-ffff-ffff-ffff-ffffffffffff', '0b8f3a52-64d1-0c1e-9a7b-2e5f4d3c2b10')));
    case 'organisationId':
    case 'programmeId':
      return orMissing(fc.oneof(mutated('org_relief'), stringOfLength(around(64), 'x'), hostileString()));
    case 'currency':
      return orMissing(fc.oneof(fc.constantFrom('UGX', 'kes', 'XXX', 'KES ', 'KE', 'KESS', 'ＫＥＳ', 'ΚES'), mutated('KES')));
    case 'createdAt':
    case 'expiresAt':
      return orMissing(fc.oneof(
        fc.date({ min: new Date('1900-01-01T00:00:00Z'), max: new Date('2200-01-01T00:00:00Z'), noInvalidDate: true }).map((d) => d.toISOString()),
        fc.constantFrom('2026-05-01T10:00Z', '2026-05-01T10:00:00+0300', '2026-05-01 10:00:00Z', '2026-02-30T00:00:00Z', '2026-05-01T24:00:00Z', '2026-05-01T10:00:00.123456789Z', '+275760-09-13T00:00:00Z', '0000-01-01T00:00:00Z', '2026-05-01'),
        fc.constant(isoNow()).chain((now) => homoglyphed(now)),
        hostileString(40),
      ));
    case 'declared':
      return orMissing(fc.oneof(anyJson, fc.constant({ count: 1 }), fc.constant({ total: '1.00' })));
    case 'declared.count':
      return orMissing(fc.oneof(fc.integer({ min: -2, max: batchPayoutsMax + 2 }), fc.constantFrom(1.5, 1e21, -0, '1', Number.MAX_SAFE_INTEGER + 2), anyJson));
    case 'declared.total':
    case 'amount':
      return orMissing(fc.oneof(
        fc.constantFrom('0', '0.00', '-100.00', '1e3', '100.', '.50', '0100.00', '1,000.00', '100.001', '100.50', '9.00', '250001.00', '92233720368547758.08', '99999999999999999999999999999999', ' 100.00', '100.00\u0000', '100.00\u200D', '\u202E00.001'),
        fc.integer({ min: 1, max: 10_000 }).chain((n) => homoglyphed(`${n}.00`)),
        fc.integer({ min: 1, max: 10_000 }),
        fc.double({ noNaN: false }),
        mutated('100.00', 40),
      ));
    case 'payouts':
      return orMissing(fc.oneof(fc.constant([]), fc.array(anyJson, { maxLength: 4 }), anyJson));
    case 'ref':
      return orMissing(fc.oneof(mutated('r-1'), stringOfLength(around(64), 'r'), fc.constantFrom('a b', 'é', 'r\u0000', 'r\u007f')));
    case 'provider':
      return orMissing(fc.oneof(fc.constantFrom('mtn-momo', 'airtel', 'gsma', 'MPESA', 'paypal', 'mpesa '), mutated('mpesa'), stringOfLength(around(32), 'p')));
    case 'msisdn':
      return orMissing(fc.oneof(
        fc.constantFrom('254712345678', '+254 712 345 678', '+256772123456', '+254202222222', '+2547', '+254712345678\u0000', '+٢٥٤٧١٢٣٤٥٦٧٨', '＋254712345678', '+254712345678 ', '+25471234567800000'),
        homoglyphed('+254712345678'),
        mutated('+254712345678', 24),
        stringOfLength(around(20), '7').map((s) => `+${s}`),
      ));
    case 'name':
      return orMissing(fc.oneof(hostileString(200), stringOfLength(around(200), 'n'), stringOfLength([100, 101, 150], '\u{1F4B0}'), fc.constant('')));
    case 'note':
      return orMissing(fc.oneof(hostileString(200), stringOfLength(around(200), 'o')));
    default:
      return anyJson;
  }
}

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...documentPaths).chain((path) => valueFor(path).map((value) => ({ path, row: 0, value }))) },
  { weight: 5, arbitrary: fc.tuple(fc.constantFrom(...rowFields), fc.nat(60)).chain(([field, row]) => valueFor(field).map((value) => ({ path: `payouts.*.${field}`, row, value }))) },
  { weight: 1, arbitrary: fc.tuple(fc.oneof(hostileString(24), fc.constantFrom('__proto__', 'constructor', 'toString', 'iban', '', 'amount ', 'Amount')), anyJson, fc.constantFrom('', 'declared', 'row'), fc.nat(60)).map(([name, value, where, row]) => ({ path: `+${where}:${name}`, row, value })) },
);

const row: fc.Arbitrary<RowSpec> = fc.record({
  amount: fc.integer({ min: 10, max: 20_000 }),
  cents: fc.boolean(),
  phone: fc.integer({ min: 0, max: 9_999_999 }),
  name: fc.option(fc.oneof(fc.constantFrom('Amina Ekai', 'محمد', 'Ölçü'), hostileString(60)), { nil: null }),
  note: fc.option(hostileString(60), { nil: null }),
});

const textChange: fc.Arbitrary<TextChange> = fc.oneof(
  { weight: 12, arbitrary: fc.constant({ kind: 'none' as const }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('duplicate' as const), key: fc.constantFrom('amount', 'batchId', 'organisationId', 'programmeId', 'currency', 'total', 'count', 'msisdn', 'ref', 'payouts'), first: fc.constantFrom('"1.00"', '"9999.00"', '"+256772123456"', '"other"', '1', 'null', '[]', '{}') }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('raw' as const), key: fc.constantFrom('amount', 'total', 'msisdn', 'batchId', 'createdAt'), raw: fc.constantFrom('100.00', '100', '1e2', '-0', '1e400', '12345678901234567890123', 'true', 'null', '[]', '{"$gt":""}', '"\\u0000"', '"\\ud800"', '"\\udfff1.00"') }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('deep' as const), key: fc.constantFrom('note', 'name', 'amount', 'payouts', 'declared', 'currency'), deep: deepJson }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('bytes' as const), at: fc.nat(400), bytes: invalidUtf8 }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('wrap' as const), before: fc.constantFrom('', ' ', '\uFEFF', '\n', '[', '\u0000'), after: fc.constantFrom('', ' ', '\n', ']', ',', '\u0000', '{}', ' // comment') }) },
);

const headerChange: fc.Arbitrary<HeaderChange> = fc.oneof(
  { weight: 14, arbitrary: fc.constant(null) },
  { weight: 2, arbitrary: fc.record({ header: fc.oneof(
    fc.constantFrom<Record<string, unknown>>({ alg: 'none' }, { alg: 'HS256' }, { alg: 'RS256' }, { alg: 'es256' }, { alg: 'EdDSA' }, { alg: 'PS256' }, { crit: ['b64'], b64: false }, { jwk: { kty: 'EC' } }, { jku: 'https://evil.example/jwks' }, { x5c: ['MII'] }, { kid: '' }, { kid: 'k'.repeat(129) }, { kid: null }, { kid: 7 }),
    fc.tuple(fc.constantFrom('alg', 'kid', 'typ', 'cty', 'zip'), anyJson).map(([k, v]) => ({ [k]: v })),
    hostileString(40).map((kid) => ({ kid })),
  ) }) },
  { weight: 1, arbitrary: fc.record({ protected: fc.oneof(hostileString(40), fc.constantFrom('', 'e30', 'W10', 'bnVsbA', '!!', 'eyJhbGciOiJFUzI1NiJ9'.repeat(300))) }) },
);

const envelopeChange: fc.Arbitrary<EnvelopeChange> = fc.oneof(
  { weight: 14, arbitrary: fc.constant({ kind: 'none' as const }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('member' as const), name: fc.oneof(fc.constantFrom('protected', 'signature', 'header', '__proto__', 'payload2'), hostileString(16)), value: anyJson }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('payload' as const), payload: fc.oneof(anyJson, hostileString(), fc.constantFrom('', 'e30=', 'e30', 'a'.repeat(1000))) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('signatures' as const), signatures: fc.oneof(anyJson, fc.constant([]), fc.constant(Array.from({ length: 18 }, () => ({ protected: 'e30', signature: 'AA' }))), fc.array(fc.dictionary(fc.constantFrom('protected', 'signature', 'header', 'x'), anyJson), { maxLength: 3 })) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'tamper-payload' as const }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('tamper-signature' as const), at: fc.nat(80) }) },
);

const signedBody: fc.Arbitrary<SignedBody> = fc.record({
  kind: fc.constant('signed' as const),
  programme: fc.constantFrom<SignedBody['programme'][]>('reject', 'reject', 'accept-valid-rows', 'other'),
  rows: fc.oneof({ weight: 8, arbitrary: fc.array(row, { minLength: 1, maxLength: 6 }) }, { weight: 1, arbitrary: fc.array(row, { minLength: batchPayoutsMax - 1, maxLength: batchPayoutsMax + 2 }) }),
  mutations: fc.oneof({ weight: 3, arbitrary: fc.constant([]) }, { weight: 4, arbitrary: fc.array(mutation, { minLength: 1, maxLength: 1 }) }, { weight: 2, arbitrary: fc.array(mutation, { minLength: 2, maxLength: 6 }) }),
  text: textChange,
  signer: fc.oneof({ weight: 12, arbitrary: fc.constant<Signer>('maker') }, { weight: 3, arbitrary: fc.constantFrom<Signer[]>('maker+approver', 'approver', 'stranger', 'other-org', 'expired', 'two-makers') }),
  header: headerChange,
  envelope: envelopeChange,
  again: fc.oneof({ weight: 12, arbitrary: fc.constant('no' as const) }, { weight: 1, arbitrary: fc.constantFrom('replay' as const, 'same-id' as const) }),
});

const rawBody: fc.Arbitrary<RawBody> = fc.record({
  kind: fc.constant('raw' as const),
  bytes: fc.oneof(
    anyJson.map((v) => Buffer.from(JSON.stringify(v) ?? '')),
    deepJson.map((t) => Buffer.from(t)),
    fc.constantFrom('', '{', '{"payload": ', 'null', '[]', '{}', '{"payload":"e30","signatures":[{"protected":"e30","signature":"AA"}]}').map((t) => Buffer.from(t)),
    fc.constant(Buffer.from(`{"payload":"${'a'.repeat(bodyMaxBytes + 1)}","signatures":[]}`)),
    fc.constant(Buffer.from(`{"payload":"e30","signatures":[{"protected":"e30","signature":"AA"}],"x":${nested(50_000)}}`)),
    anyBytes(512),
  ),
});

export const batchInput: fc.Arbitrary<BatchInput> = fc.record({
  caller: fc.oneof({ weight: 20, arbitrary: fc.constant('maker' as const) }, { weight: 1, arbitrary: fc.constantFrom('approver-role' as const, 'none' as const, 'garbage' as const) }),
  contentType: fc.oneof(
    { weight: 16, arbitrary: fc.constant('application/jose+json') },
    { weight: 3, arbitrary: fc.constant('application/json') },
    { weight: 1, arbitrary: fc.constantFrom(null, 'text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=utf-16', 'application/jose+json; charset=latin1', 'multipart/form-data; boundary=x', 'APPLICATION/JSON', 'application/json;;;', 'application/jose+json, text/plain') },
  ),
  body: fc.oneof({ weight: 9, arbitrary: signedBody }, { weight: 1, arbitrary: rawBody }),
});

interface Setup {
  readonly organisationId: string;
  readonly programmes: Record<SignedBody['programme'], string>;
  readonly signers: { maker: Maker; approver: Maker; stranger: Maker; otherOrg: Maker; expired: Maker; secondMaker: Maker };
  readonly tokens: Record<BatchInput['caller'], string | null>;
}

/** The document of `spec`, mutations applied, with the declared count and total of its rows as generated. */
function documentOf(spec: SignedBody, setup: Setup, batchId: string): Record<string, unknown> {
  const now = Date.now();
  const payouts: Record<string, unknown>[] = spec.rows.map((r, i) => {
    const p: Record<string, unknown> = {
      ref: `r-${i}`, provider: 'mpesa', msisdn: `+25471${String(r.phone).padStart(7, '0')}`, amount: r.cents ? `${r.amount}.00` : String(r.amount),
    };
    if (r.name !== null) p.name = r.name;
    if (r.note !== null) p.note = r.note;
    return p;
  });
  const totalCents = spec.rows.reduce((t, r) => t + BigInt(r.amount) * 100n, 0n);
  const doc: Record<string, unknown> = {
    batchId,
    organisationId: setup.organisationId,
    programmeId: setup.programmes[spec.programme],
    currency: 'KES',
    createdAt: new Date(now - 1_000).toISOString(),
    expiresAt: new Date(now + 86_400_000).toISOString(),
    declared: { count: payouts.length, total: `${totalCents / 100n}.00` },
    payouts,
  };
  const set = (target: Record<string, unknown>, key: string, value: Value) => {
    if (value === missing) delete target[key];
    else Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  };
  for (const m of spec.mutations) {
    const rowOf = () => (payouts.length > 0 ? payouts[m.row % payouts.length] : undefined);
    if (m.path.startsWith('payouts.*.')) {
      const target = rowOf();
      if (target) set(target, m.path.slice('payouts.*.'.length), m.value);
    } else if (m.path.startsWith('+')) {
      const [where, ...name] = m.path.slice(1).split(':');
      const target = where === 'declared' ? doc.declared : where === 'row' ? rowOf() : doc;
      if (target && typeof target === 'object' && !Array.isArray(target)) set(target as Record<string, unknown>, name.join(':'), m.value === missing ? null : m.value);
    } else if (m.path.startsWith('declared.')) {
      const declared = doc.declared;
      if (declared && typeof declared === 'object' && !Array.isArray(declared)) set(declared as Record<string, unknown>, m.path.slice('declared.'.length), m.value);
    } else set(doc, m.path, m.value);
  }
  return doc;
}

function textOf(doc: Record<string, unknown>, change: TextChange): Buffer {
  const json = JSON.stringify(doc);
  switch (change.kind) {
    case 'none':
      return Buffer.from(json);
    case 'duplicate':
      return Buffer.from(duplicateKey(json, change.key, change.first));
    case 'raw':
      return Buffer.from(rawValue(json, change.key, change.raw));
    case 'deep': {
      const at = json.indexOf(`"${change.key}":`);
      return Buffer.from(at < 0 ? json : rawValue(json, change.key, change.deep));
    }
    case 'bytes': {
      const bytes = Buffer.from(json);
      const at = Math.min(change.at, bytes.length);
      return Buffer.concat([bytes.subarray(0, at), change.bytes, bytes.subarray(at)]);
    }
    case 'wrap':
      return Buffer.from(`${change.before}${json}${change.after}`);
  }
}

const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

async function jwsOf(payload: Buffer, spec: SignedBody, setup: Setup): Promise<Record<string, unknown>> {
  const { maker, approver, stranger, otherOrg, expired, secondMaker } = setup.signers;
  const keys: Record<Signer, Maker[]> = {
    maker: [maker], 'maker+approver': [maker, approver], approver: [approver], stranger: [stranger], 'other-org': [otherOrg], expired: [expired], 'two-makers': [maker, secondMaker],
  };
  const signer = new GeneralSign(payload);
  for (const key of keys[spec.signer]) signer.addSignature(key.privateKey).setProtectedHeader({ alg: 'ES256', kid: key.kid });
  const jws = (await signer.sign()) as unknown as { payload: string; signatures: { protected: string; signature: string }[] };
  const first = jws.signatures[0]!;
  if (spec.header && 'protected' in spec.header) first.protected = spec.header.protected;
  else if (spec.header) first.protected = b64({ alg: 'ES256', kid: maker.kid, ...spec.header.header });
  const body: Record<string, unknown> = { payload: jws.payload, signatures: jws.signatures };
  const e = spec.envelope;
  switch (e.kind) {
    case 'none':
      break;
    case 'member':
      Object.defineProperty(body, e.name, { value: e.value, enumerable: true, writable: true, configurable: true });
      break;
    case 'payload':
      body.payload = e.payload;
      break;
    case 'signatures':
      body.signatures = e.signatures;
      break;
    case 'tamper-payload': {
      const bytes = Buffer.from(jws.payload, 'base64url');
      bytes[bytes.length - 2] = (bytes[bytes.length - 2] ?? 0) ^ 0x01;
      body.payload = bytes.toString('base64url');
      break;
    }
    case 'tamper-signature': {
      const sig = Buffer.from(first.signature, 'base64url');
      const at = e.at % Math.max(sig.length, 1);
      sig[at] = (sig[at] ?? 0) ^ 0xff;
      first.signature = sig.toString('base64url');
      break;
    }
  }
  return body;
}

/** The protected header's kid of the (first) signature, where the input sets one. */
const kidOf = (input: BatchInput): unknown => (input.body.kind === 'signed' && input.body.header && 'header' in input.body.header ? input.body.header.header.kid : undefined);

/**
 * Known defects: an input and its answer that a skipped `// BUG:` test of
 * test/integration/fuzz.test.ts records; counted in the report, not failed, so that the run goes on.
 */
export const batchKnownDefects: readonly { readonly name: string; readonly matches: (input: BatchInput, status: number) => boolean }[] = [
  // The kid is looked up in signer_keys as it is: PostgreSQL refuses a text parameter holding NUL.
  { name: 'NUL in a protected header kid: 500', matches: (input, status) => status === 500 && typeof kidOf(input) === 'string' && (kidOf(input) as string).includes('\u0000') },
  // Under accept_valid_rows a row left out for an unknown member names the member in rejected_rows
  // (jsonb): PostgreSQL refuses \u0000 in jsonb text.
  {
    name: 'NUL in an unknown row member under accept_valid_rows: 500',
    matches: (input, status) => status === 500 && input.body.kind === 'signed' && input.body.programme === 'accept-valid-rows'
      && input.body.mutations.some((m) => m.path.startsWith('+row:') && m.path.includes('\u0000')),
  },
];

export async function fuzzBatch(runs: number, options: FuzzOptions = {}): Promise<FuzzReport> {
  const api = await startTestApi({ batchPayoutsMax, bodyMaxBytes });
  return withCleanup(async () => {
    const s = await setUpProgramme(api.persistence, funded);
    const acceptValid = `${s.programmeId}-avr`;
    await registerProgramme(api.persistence, {
      id: acceptValid, organisationId: s.organisationId, name: 'Valid rows', currency: 'KES', approvalsRequired: 0,
      policy: { tiers: [{ fromMinor: 0n, approvers: 0 }], providers: ['mpesa'], payoutMaxMinor: null, rowErrors: 'accept_valid_rows' },
    });
    await fundProgramme(api.persistence, { idempotencyKey: `fund-${acceptValid}`, organisationId: s.organisationId, programmeId: acceptValid, source: 'donor', currency: 'KES', amountMinor: funded });
    const other = await setUpProgramme(api.persistence, 0n);
    const setup: Setup = {
      organisationId: s.organisationId,
      programmes: { reject: s.programmeId, 'accept-valid-rows': acceptValid, other: other.programmeId },
      signers: {
        maker: s.maker,
        approver: await registerKey(api.persistence, s.organisationId, 'approver'),
        stranger: await newKey(),
        otherOrg: other.maker,
        expired: await registerKey(api.persistence, s.organisationId, 'maker', { notAfter: new Date(Date.now() - 60_000) }),
        secondMaker: await registerKey(api.persistence, s.organisationId, 'maker'),
      },
      tokens: {
        maker: await bearer(s.organisationId, 'programme_manager'),
        'approver-role': await bearer(s.organisationId, 'approver'),
        none: null,
        garbage: 'Bearer eyj.\'; DROP TABLE batches; --',
      },
    };
    const { app, problems } = recorded(api.app);
    const tally = new Tally();
    let lastAccepted: { batchId: string; bytes: Buffer; doc: SignedBody } | null = null;

    const property = async (input: BatchInput) => {
      let bytes: Buffer;
      let batchId: string = randomUUID();
      let document: Buffer | null = null;
      if (input.body.kind === 'raw') bytes = input.body.bytes;
      else {
        const spec = input.body;
        if (spec.again === 'replay' && lastAccepted) bytes = lastAccepted.bytes;
        else {
          if (spec.again === 'same-id' && lastAccepted) batchId = lastAccepted.batchId;
          document = textOf(documentOf(spec, setup, batchId), spec.text);
          bytes = Buffer.from(JSON.stringify(await jwsOf(document, spec, setup)));
        }
      }
      const before = await api.footprint();
      const from = problems.length;
      let req = request(app).post('/v1/batches');
      const token = setup.tokens[input.caller];
      if (token !== null) req = req.set('authorization', token);
      if (input.contentType !== null) req = req.set('content-type', input.contentType);
      const res = await req.serialize(asIs).send(bytes);
      const problem = answerProblem({ status: res.status, body: res.body, text: res.text });
      const known = batchKnownDefects.find((d) => d.matches(input, res.status));
      if (problem && known) {
        tally.known(known.name);
        return;
      }
      if (problem) violated(problem);
      checkContract(problems, from);
      const after = await api.footprint();
      if (res.status >= 400) {
        tally.refuse(codeOf({ status: res.status, body: res.body }) ?? String(res.status));
        if (JSON.stringify(after) !== JSON.stringify(before)) violated(`refused ${res.status} ${codeOf({ status: res.status, body: res.body })} but rows changed: ${JSON.stringify(before)} → ${JSON.stringify(after)}`);
        return;
      }
      tally.accept();
      const view = res.body as { batchId?: string; payoutCount?: number; rejectedRows?: unknown[] };
      if (res.status === 200) {
        if (JSON.stringify(after) !== JSON.stringify(before)) violated(`a replay (200) changed rows: ${JSON.stringify(before)} → ${JSON.stringify(after)}`);
        return;
      }
      if (res.status !== 201 || typeof view.batchId !== 'string') violated(`accepted with HTTP ${res.status} and no batch`);
      if (after.batches !== before.batches! + 1) violated(`201 but ${after.batches! - before.batches!} batches stored`);
      const stored = await sql<{ payout_count: number; payouts: string }>`
        SELECT payout_count, (SELECT count(*) FROM payouts WHERE batch_id = b.id)::text AS payouts FROM batches b WHERE id = ${view.batchId}::uuid`.execute(api.database.db);
      const r = stored.rows[0];
      if (!r || Number(r.payouts) !== r.payout_count || r.payout_count !== view.payoutCount) {
        violated(`a partial write: batch ${view.batchId} answers ${view.payoutCount} payouts, stores ${r?.payout_count} and has ${r?.payouts} rows`);
      }
      if (after.payouts !== before.payouts! + r.payout_count) violated(`201 with ${r.payout_count} payouts but ${after.payouts! - before.payouts!} payout rows written`);
      if (input.body.kind === 'signed' && document && (view.rejectedRows ?? []).length === 0) {
        let parsed: unknown;
        try {
          parsed = JSON.parse(document.toString('utf8'));
        } catch {
          violated('accepted a payload that is not JSON');
        }
        if (!batchSchema(parsed)) violated(`accepted a document contracts/batch.v1.schema.json refuses: ${JSON.stringify(batchSchema.errors?.slice(0, 3))}`);
        lastAccepted = { batchId: view.batchId, bytes, doc: input.body };
      }
    };
    return runProperty('batch document (POST /v1/batches)', runs, batchInput, property, tally, options);
  }, () => api.close());
}

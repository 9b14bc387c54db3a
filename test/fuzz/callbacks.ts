// Fuzz target: the provider callback routes. M-Pesa (result, queue timeout, status result, status
// timeout), MTN MoMo (PUT and POST), GSMA (PUT with X-CorrelationID) and Airtel (one URL, HMAC
// `hash` or nothing). Each request goes with the attempt's own token (genuine), a token of another
// route or provider, a random or hostile one; its body is the provider's shape with leaves mutated
// (hostile strings, look-alike digits, other JSON types, members dropped or added, deep nesting),
// or any JSON, bytes that are not UTF-8, or a body past the 64 KiB limit. Properties: never a 5xx;
// every refusal a documented code with its catalogue status; every answer within
// contracts/openapi.yaml; a refusal stores nothing; no callback moves a payout's state, writes a
// transition or a transfer; only a genuine callback (its attempt's token on its own route, or a
// valid Airtel signature) may put a result in the outbox, and at most one, with the callback itself.
import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { sql } from 'kysely';
import request from 'supertest';
import { sourceBudget } from '../../src/adapters/http/callback-auth.js';
import { callbackTokenHash, newCallbackToken } from '../../src/application/callback-token.js';
import { attemptKey, payoutIdOf } from '../../src/domain/ids.js';
import { bearer, postJson, startTestApi, type TestApi } from '../support/api.js';
import { batchDocument, setUpProgramme, sign } from '../support/fixtures.js';
import {
  answerProblem, asIs, checkContract, codeOf, recorded, runProperty, Tally, violated, withCleanup, type FuzzOptions, type FuzzReport,
} from './common.js';
import { anyBytes, anyJson, deepJson, homoglyphed, hostileString, incompressible, nested, stringOfLength } from './hostile.js';

export const callbackRoutes = ['mpesa-result', 'mpesa-timeout', 'mpesa-status', 'mpesa-status-timeout', 'momo-put', 'momo-post', 'gsma', 'airtel'] as const;
type Route = (typeof callbackRoutes)[number];
type Provider = 'mpesa' | 'mtn-momo' | 'gsma' | 'airtel';
const providerOf = (route: Route): Provider => (route.startsWith('mpesa') ? 'mpesa' : route.startsWith('momo') ? 'mtn-momo' : route === 'gsma' ? 'gsma' : 'airtel');
const isStatusRoute = (route: Route) => route === 'mpesa-status' || route === 'mpesa-status-timeout';

/** The attempts the callbacks are about: one per provider (and kind of Airtel account). */
type AttemptName = 'mpesa' | 'mtn-momo' | 'gsma' | 'airtel-signed' | 'airtel-status-query';
const attemptNames: readonly AttemptName[] = ['mpesa', 'mtn-momo', 'gsma', 'airtel-signed', 'airtel-status-query'];
const airtelSecret = 'airtel-fuzz-secret';
const callbackBodyMaxBytes = 64 * 1024;

/** Placeholders a template's strings may be, replaced when the body is built. */
const KEY = '{{KEY}}';
const DEEP = '{{DEEP}}';
const AIRTEL_ID = '{{AIRTEL_ID}}';

/** The provider's own shape of a callback about an attempt whose key the body names as KEY. */
const templates: Record<Route, unknown> = {
  'mpesa-result': {
    Result: {
      ResultType: 0, ResultCode: 0, ResultDesc: 'The service request is processed successfully.', OriginatorConversationID: KEY, ConversationID: 'AG_20260501_00004e8d0d28b8d2d6d1', TransactionID: 'SG632NMUAB',
      ResultParameters: { ResultParameter: [{ Key: 'TransactionAmount', Value: 100 }, { Key: 'TransactionReceipt', Value: 'SG632NMUAB' }, { Key: 'ReceiverPartyPublicName', Value: '254712000111 - AMINA TEST' }] },
      ReferenceData: { ReferenceItem: { Key: 'QueueTimeoutURL', Value: 'https://example.invalid/timeout' } },
    },
  },
  'mpesa-timeout': { OriginatorConversationID: KEY, ConversationID: 'AG_1', ResponseCode: '0' },
  'mpesa-status': {
    Result: {
      ResultType: 0, ResultCode: 0, ResultDesc: 'ok', OriginatorConversationID: 'status-query-1', ConversationID: 'AG_2', TransactionID: 'SG632NMUAC',
      ResultParameters: { ResultParameter: [{ Key: 'OriginatorConversationID', Value: KEY }, { Key: 'TransactionStatus', Value: 'Completed' }, { Key: 'ReceiptNo', Value: 'SG632NMUAB' }, { Key: 'Amount', Value: 100 }, { Key: 'CreditPartyName', Value: '254712000111 - AMINA TEST' }] },
    },
  },
  'mpesa-status-timeout': { OriginalConversationID: KEY, OriginatorConversationID: 'status-query-1' },
  'momo-put': { financialTransactionId: '981569077', externalId: KEY, amount: '100', currency: 'KES', payee: { partyIdType: 'MSISDN', partyId: '254712000111' }, status: 'SUCCESSFUL', reason: null },
  'momo-post': { financialTransactionId: '981569078', externalId: KEY, amount: '100', currency: 'KES', payee: { partyIdType: 'MSISDN', partyId: '254712000111' }, status: 'FAILED', reason: 'PAYEE_NOT_FOUND' },
  gsma: {
    transactionReference: 'dd82cc6a-8a3b-4c5d-9e0f-1a2b3c4d5e6f', transactionStatus: 'completed', type: 'disbursement', amount: '100.00', currency: 'KES',
    creditParty: [{ key: 'msisdn', value: '+254712000111' }], debitParty: [{ key: 'accountid', value: '2999' }], fees: [{ feeType: 'transfer', feeAmount: '1.00', feeCurrency: 'KES' }],
  },
  airtel: { transaction: { id: AIRTEL_ID, message: 'Paid ZMW 100 to Amina Test 0971000111', status_code: 'TS', airtel_money_id: 'MP210603.1234.L06941' } },
};
const gsmaError = { errorCategory: 'businessRule', errorCode: 'insufficientFunds', errorDescription: 'no float', errorDateTime: '2026-05-01T10:00:00Z' };

/** Every path to a leaf (and to every object, where a member may be added) of a template. */
function pathsOf(value: unknown, at: readonly (string | number)[] = []): (readonly (string | number)[])[] {
  if (Array.isArray(value)) return [at, ...value.flatMap((v, i) => pathsOf(v, [...at, i]))];
  if (value && typeof value === 'object') return [at, ...Object.entries(value).flatMap(([k, v]) => pathsOf(v, [...at, k]))];
  return [at];
}

interface LeafChange {
  readonly path: number;
  /** `drop`: remove it; `add`: a member named `name` on the object; else the leaf's new value. */
  readonly change: { readonly kind: 'set'; readonly value: unknown } | { readonly kind: 'drop' } | { readonly kind: 'add'; readonly name: string; readonly value: unknown };
}

const leafValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: hostileString(80) },
  { weight: 2, arbitrary: anyJson },
  { weight: 1, arbitrary: homoglyphed('254712000111') },
  { weight: 1, arbitrary: homoglyphed('100.00') },
  { weight: 1, arbitrary: fc.constantFrom('0', '1', '1032', '2001', 'SUCCESSFUL', 'FAILED', 'PENDING', 'completed', 'failed', 'TS', 'TF', 'TIP', 'Completed', 'Failed', '-1', '1e400', DEEP, KEY, `${KEY}${KEY}`) },
  { weight: 1, arbitrary: stringOfLength([255, 256, 257, 2_000, 20_000], 'k') },
  { weight: 1, arbitrary: fc.constantFrom('\u0000', 'SG632\u0000NMUAB', '0\u0000', incompressible(4_000), incompressible(30_000)) },
);

const leafChange: fc.Arbitrary<LeafChange> = fc.record({
  path: fc.nat(200),
  change: fc.oneof(
    { weight: 5, arbitrary: fc.record({ kind: fc.constant('set' as const), value: leafValue }) },
    { weight: 1, arbitrary: fc.constant({ kind: 'drop' as const }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('add' as const), name: fc.oneof(hostileString(16), fc.constantFrom('__proto__', 'constructor', 'Result', 'status', 'errorCode')), value: leafValue }) },
  ),
});

type Body =
  | { readonly kind: 'shaped'; readonly gsmaError: boolean; readonly changes: readonly LeafChange[] }
  | { readonly kind: 'json'; readonly value: unknown }
  | { readonly kind: 'bytes'; readonly bytes: Buffer }
  | { readonly kind: 'deep'; readonly text: string }
  | { readonly kind: 'oversized'; readonly bytes: number };

export interface CallbackInput {
  readonly route: Route;
  /** Whose token is in the URL (ignored on the Airtel route, which has none). */
  readonly token: { readonly kind: 'genuine' | 'status-of-attempt' | 'of-other-provider' | 'random' } | { readonly kind: 'hostile'; readonly text: string; /** Put in the path as it is (else percent-encoded). */ readonly raw: boolean };
  /** The attempt the route is about (the one whose token is genuine); Airtel: the kind of account. */
  readonly attempt: AttemptName;
  /** The idempotency key the body names: its attempt's, another attempt's, or a hostile one. */
  readonly key: { readonly kind: 'own' | 'other' } | { readonly kind: 'hostile'; readonly text: string };
  readonly body: Body;
  readonly contentType: string | null;
  readonly correlation: { readonly kind: 'own' | 'none' | 'other' } | { readonly kind: 'hostile'; readonly text: string };
  readonly hash: 'valid' | 'none' | 'garbage' | 'other-secret';
}

/** Header-safe hostile text (HTTP refuses control characters and non-Latin-1 in headers). */
const headerSafe = (s: string) => s.replace(/[^\x20-\x7e]/g, '');

const body: fc.Arbitrary<Body> = fc.oneof(
  { weight: 12, arbitrary: fc.record({ kind: fc.constant('shaped' as const), gsmaError: fc.boolean(), changes: fc.oneof({ weight: 3, arbitrary: fc.constant([]) }, { weight: 5, arbitrary: fc.array(leafChange, { minLength: 1, maxLength: 4 }) }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('json' as const), value: anyJson }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('bytes' as const), bytes: anyBytes(256) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('deep' as const), text: deepJson.filter((t) => t.length < callbackBodyMaxBytes) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('oversized' as const), bytes: fc.constantFrom(callbackBodyMaxBytes - 64, callbackBodyMaxBytes + 1, 200 * 1024) }) },
);

export const callbackInput: fc.Arbitrary<CallbackInput> = fc.record({
  route: fc.constantFrom(...callbackRoutes),
  token: fc.oneof(
    { weight: 6, arbitrary: fc.constant({ kind: 'genuine' as const }) },
    { weight: 1, arbitrary: fc.constantFrom({ kind: 'status-of-attempt' as const }, { kind: 'of-other-provider' as const }, { kind: 'random' as const }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('hostile' as const), text: fc.oneof(hostileString(60), stringOfLength([42, 43, 44, 5_000], 'A')), raw: fc.constant(false) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('hostile' as const), text: fc.constantFrom('%', '%zz', '..', '%2F', '%00', '%E2%80%AE', '%C0%AF', `${'A'.repeat(42)}%3D`), raw: fc.constant(true) }) },
  ),
  attempt: fc.constantFrom(...attemptNames),
  key: fc.oneof(
    { weight: 6, arbitrary: fc.constant({ kind: 'own' as const }) },
    { weight: 1, arbitrary: fc.constant({ kind: 'other' as const }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('hostile' as const), text: fc.oneof(hostileString(80), fc.constantFrom('\u0000', 'key\u0000', incompressible(4_000), incompressible(30_000))) }) },
  ),
  body,
  contentType: fc.oneof({ weight: 8, arbitrary: fc.constant('application/json') }, { weight: 1, arbitrary: fc.constantFrom(null, 'text/plain', 'application/xml', 'application/json; charset=utf-16', 'application/x-www-form-urlencoded') }),
  correlation: fc.oneof({ weight: 4, arbitrary: fc.constant({ kind: 'own' as const }) }, { weight: 1, arbitrary: fc.constantFrom({ kind: 'none' as const }, { kind: 'other' as const }) }, { weight: 1, arbitrary: fc.record({ kind: fc.constant('hostile' as const), text: hostileString(40).map(headerSafe) }) }),
  hash: fc.oneof({ weight: 4, arbitrary: fc.constant('valid' as const) }, { weight: 1, arbitrary: fc.constantFrom('none' as const, 'garbage' as const, 'other-secret' as const) }),
});

interface Attempt {
  readonly payoutId: string;
  readonly key: string;
  readonly token: string;
  readonly statusToken: string;
  readonly provider: Provider;
}

function templateFor(input: CallbackInput): unknown {
  return input.route === 'gsma' && input.body.kind === 'shaped' && input.body.gsmaError ? gsmaError : templates[input.route];
}

/** The template with its changes applied (on a copy). */
function changed(template: unknown, changes: readonly LeafChange[]): unknown {
  let root: unknown = structuredClone(template);
  for (const c of changes) {
    const paths = pathsOf(root);
    const path = paths[c.path % paths.length]!;
    if (path.length === 0) {
      if (c.change.kind === 'set') root = c.change.value;
      else if (c.change.kind === 'add' && root && typeof root === 'object' && !Array.isArray(root)) Object.defineProperty(root, c.change.name, { value: c.change.value, enumerable: true, writable: true, configurable: true });
      continue;
    }
    const parent = path.slice(0, -1).reduce<unknown>((node, k) => (node as Record<string | number, unknown>)[k], root) as Record<string | number, unknown>;
    const last = path[path.length - 1]!;
    const node = parent[last];
    if (c.change.kind === 'set') parent[last] = c.change.value;
    else if (c.change.kind === 'drop') {
      if (Array.isArray(parent)) parent.splice(Number(last), 1);
      else delete parent[last];
    } else if (node && typeof node === 'object' && !Array.isArray(node)) Object.defineProperty(node, c.change.name, { value: c.change.value, enumerable: true, writable: true, configurable: true });
    else parent[last] = { [c.change.name]: c.change.value };
  }
  return root;
}

/**
 * The JSON text with each placeholder filled: a string that is the placeholder becomes `raw` (JSON
 * text: a string, or deep nesting), a placeholder inside a longer string becomes `inString`.
 */
function filled(json: string, values: Record<string, { readonly raw: string; readonly inString: string }>): string {
  let out = json;
  for (const [placeholder, v] of Object.entries(values)) out = out.split(JSON.stringify(placeholder)).join(v.raw).split(placeholder).join(v.inString);
  return out;
}

/** Percent-encoded UTF-8 (a lone surrogate goes as U+FFFD, as any client would send it). */
const percentEncoded = (text: string) => [...Buffer.from(text, 'utf8')].map((b) => (/[A-Za-z0-9_.~-]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`)).join('');

/** A value as a JSON string's content (no quotes). */
const inString = (value: string) => JSON.stringify(value).slice(1, -1);

interface Footprint {
  readonly callbacks: number;
  readonly results: number;
  readonly states: string;
  readonly transitions: number;
  readonly transfers: number;
}

async function footprint(api: TestApi): Promise<Footprint> {
  const r = await sql<{ callbacks: string; results: string; states: string; transitions: string; transfers: string }>`
    SELECT (SELECT count(*) FROM callbacks)::text AS callbacks, (SELECT count(*) FROM payout_results)::text AS results,
           (SELECT string_agg(id::text || ':' || state, ',' ORDER BY id) FROM payouts) AS states,
           (SELECT count(*) FROM payout_transitions)::text AS transitions, (SELECT count(*) FROM transfers)::text AS transfers`.execute(api.database.db);
  const row = r.rows[0]!;
  return { callbacks: Number(row.callbacks), results: Number(row.results), states: row.states, transitions: Number(row.transitions), transfers: Number(row.transfers) };
}

/** Known defects recorded as skipped `// BUG:` tests of test/integration/fuzz.test.ts; counted, not failed. */
export const callbackKnownDefects: readonly { readonly name: string; readonly matches: (input: CallbackInput, status: number, sent: Buffer) => boolean }[] = [
  // What an authenticated callback names (M-Pesa's OriginatorConversationID, a result code, a
  // receipt) is stored as text: PostgreSQL refuses a text parameter holding NUL.
  { name: 'NUL in what an authenticated callback stores: 500', matches: (_input, status, sent) => status === 500 && (sent.includes('\\u0000') || sent.includes(0)) },
  // An authenticated M-Pesa callback's dedupe key is its OriginatorConversationID (or a status
  // result's ConversationID) and ResultCode, unbounded: past about 2.7 kB that does not compress,
  // PostgreSQL cannot index it (callbacks_request_dedupe).
  { name: 'M-Pesa dedupe key past the index row limit: 500', matches: (input, status, sent) => status === 500 && input.route.startsWith('mpesa') && sent.length > 2_700 },
];

export async function fuzzCallbacks(runs: number, options: FuzzOptions = {}): Promise<FuzzReport> {
  const api = await startTestApi({
    callbackAuthOf: (accountId) => (accountId === 'airtel-signed' ? { mode: 'hmac', hmacSecret: airtelSecret } : accountId === 'airtel-status-query' ? { mode: 'status-query', hmacSecret: null } : null),
    unsignedOrphanBudget: sourceBudget({ requests: 200, bytes: 1024 * 1024, windowMs: 10_000 }),
  });
  return withCleanup(async () => {
    const s = await setUpProgramme(api.persistence, 100_000_00n);
    const document = batchDocument(s, attemptNames.map((name, i) => ({ ref: `cb-${name}`, provider: 'mpesa', msisdn: '+254712000111', amount: `${100 + i}.00` })));
    const submitted = await postJson(api.app, '/v1/batches', await bearer(s.organisationId, 'programme_manager'), await sign(document, s.maker));
    if (submitted.status !== 201) throw new Error(`the callbacks' batch was refused: ${submitted.text}`);
    const attempts = {} as Record<AttemptName, Attempt>;
    for (const name of attemptNames) {
      const payoutId = payoutIdOf(document.batchId, `cb-${name}`);
      const key = attemptKey(payoutId, 1);
      const token = newCallbackToken();
      const statusToken = newCallbackToken();
      const provider: Provider = name.startsWith('airtel') ? 'airtel' : (name as Provider);
      await api.persistence.transaction(async (tx) => {
        await tx.payouts.insertAttempts([{ payoutId, attemptNo: 1, idempotencyKey: key, callbackTokenSha256: callbackTokenHash(token), accountId: name }]);
        await tx.payouts.insertStatusToken(payoutId, 1, callbackTokenHash(statusToken), 'status');
        return { ok: true as const, value: undefined };
      });
      await sql`UPDATE payouts SET provider = ${provider}, state = 'submitted' WHERE id = ${payoutId}::uuid`.execute(api.database.db);
      attempts[name] = { payoutId, key, token, statusToken, provider };
    }
    const { app, problems } = recorded(api.app);
    const tally = new Tally();

    /** The attempt a route's genuine token belongs to: the input's when it is of the route's provider, else the provider's own. */
    const attemptOf = (input: CallbackInput): Attempt => {
      const provider = providerOf(input.route);
      const named = attempts[input.attempt];
      if (named.provider === provider) return named;
      return attempts[provider === 'airtel' ? 'airtel-signed' : provider];
    };

    const property = async (input: CallbackInput) => {
      const attempt = attemptOf(input);
      const provider = providerOf(input.route);
      const other = attempts[provider === 'mpesa' ? 'mtn-momo' : 'mpesa'];
      const key = 'text' in input.key ? input.key.text : input.key.kind === 'own' ? attempt.key : other.key;
      let bytes: Buffer;
      switch (input.body.kind) {
        case 'shaped': {
          const json = JSON.stringify(changed(templateFor(input), input.body.changes)) ?? 'null';
          const airtelId = key.replaceAll('-', '');
          bytes = Buffer.from(filled(json, {
            [KEY]: { raw: JSON.stringify(key), inString: inString(key) },
            [AIRTEL_ID]: { raw: JSON.stringify(airtelId), inString: inString(airtelId) },
            [DEEP]: { raw: nested(2_000), inString: '' },
          }));
          break;
        }
        case 'json':
          bytes = Buffer.from(JSON.stringify(input.body.value) ?? '');
          break;
        case 'bytes':
          bytes = input.body.bytes;
          break;
        case 'deep':
          bytes = Buffer.from(input.body.text);
          break;
        case 'oversized': {
          // BUG (test/integration/fuzz.test.ts): past 64 KiB the M-Pesa, MoMo and GSMA routes answer 413,
          // which their contract does not document (the test API's own recorder would fail the run):
          // only the Airtel route, which documents it, gets bodies past the limit.
          const capped = input.route !== 'airtel' && input.body.bytes > callbackBodyMaxBytes - 1024;
          if (capped) tally.known('body past 64 KiB kept off the routes whose contract has no 413');
          const pad = capped ? callbackBodyMaxBytes - 1024 : input.body.bytes;
          bytes = Buffer.from(JSON.stringify({ ...(templates[input.route] as object), pad: 'p'.repeat(pad) }).replace(JSON.stringify(KEY), JSON.stringify(key)));
          break;
        }
      }
      if (input.route !== 'airtel' && bytes.length > callbackBodyMaxBytes) {
        // The same defect as above, reached by a long value rather than padding: not sent.
        tally.known('body past 64 KiB kept off the routes whose contract has no 413');
        return;
      }
      const t = input.token;
      const token = 'text' in t ? (t.raw ? t.text : percentEncoded(t.text))
        : t.kind === 'genuine' ? (isStatusRoute(input.route) ? attempt.statusToken : attempt.token)
        : t.kind === 'status-of-attempt' ? (isStatusRoute(input.route) ? attempt.token : attempt.statusToken)
        : t.kind === 'of-other-provider' ? other.token
        : newCallbackToken();
      const path = {
        'mpesa-result': `/v1/callbacks/mpesa/${token}`,
        'mpesa-timeout': `/v1/callbacks/mpesa/${token}/timeout`,
        'mpesa-status': `/v1/callbacks/mpesa/${token}/status`,
        'mpesa-status-timeout': `/v1/callbacks/mpesa/${token}/status/timeout`,
        'momo-put': `/v1/callbacks/mtn-momo/${token}`,
        'momo-post': `/v1/callbacks/mtn-momo/${token}`,
        gsma: `/v1/callbacks/gsma/${token}`,
        airtel: '/v1/callbacks/airtel',
      }[input.route];
      const method = input.route === 'momo-put' || input.route === 'gsma' ? 'put' : 'post';
      let req = request(app)[method](path);
      if (input.contentType !== null) req = req.set('content-type', input.contentType);
      if (input.route === 'gsma' && input.correlation.kind !== 'none') {
        const c = input.correlation;
        req = req.set('x-correlationid', 'text' in c ? c.text : c.kind === 'own' ? attempt.key : other.key);
      }
      const signed = input.route === 'airtel' && input.hash !== 'none';
      if (signed) {
        const hash = input.hash === 'valid' ? createHmac('sha256', airtelSecret).update(bytes).digest('base64')
          : input.hash === 'other-secret' ? createHmac('sha256', 'guessed').update(bytes).digest('base64') : 'bm90IGEgaGFzaA==%%';
        req = req.set('hash', hash);
      }
      // Genuine: the attempt's own token on the route it was issued for, or Airtel's valid signature (a signing account's attempt).
      const genuine = input.route === 'airtel' ? input.hash === 'valid' : input.token.kind === 'genuine';

      const before = await footprint(api);
      const from = problems.length;
      const res = await req.serialize(asIs).send(bytes);
      const problem = answerProblem({ status: res.status, body: res.body, text: res.text });
      const known = problem ? callbackKnownDefects.find((d) => d.matches(input, res.status, bytes)) : undefined;
      if (known) {
        tally.known(known.name);
        return;
      }
      if (problem) violated(problem);
      checkContract(problems, from);
      const after = await footprint(api);
      if (after.states !== before.states || after.transitions !== before.transitions || after.transfers !== before.transfers) {
        violated(`a callback (HTTP ${res.status}) moved a payout: ${JSON.stringify(before)} → ${JSON.stringify(after)}`);
      }
      if (res.status >= 400) {
        tally.refuse(codeOf({ status: res.status, body: res.body }) ?? String(res.status));
        if (after.callbacks !== before.callbacks || after.results !== before.results) violated(`refused ${res.status} but stored: ${JSON.stringify(before)} → ${JSON.stringify(after)}`);
        return;
      }
      tally.accept();
      const newCallbacks = after.callbacks - before.callbacks;
      const newResults = after.results - before.results;
      if (newCallbacks < 0 || newCallbacks > 1) violated(`one callback stored ${newCallbacks} rows`);
      if (newResults > newCallbacks) violated(`a result (${newResults}) without a callback stored (${newCallbacks})`);
      if (!genuine && newResults !== 0) violated(`a callback that is not genuine (${input.route}, token ${input.token.kind}, hash ${input.hash}) put ${newResults} result(s) in the outbox`);
    };
    return runProperty('provider callbacks (M-Pesa, MoMo, GSMA, Airtel)', runs, callbackInput, property, tally, options);
  }, () => api.close());
}

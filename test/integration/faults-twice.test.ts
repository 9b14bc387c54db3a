// No payout is stuck (issue #19 item 5): every fault each provider simulator offers, met twice in
// a row, leaves every payout in a terminal state (paid, failed, cancelled, reversed) or in one an
// operator holds (held, or flagged: payouts.status_flagged_at set, in submitted / unknown after
// STATUS_CHECKS_MAX checks or in queued after the last attempt), within a bounded time.
//
// One runtime (every role, the real Kafka broker, real PostgreSQL) with one account of each
// provider (M-Pesa, MTN MoMo, GSMA, Airtel with unsigned callbacks: a PROVIDERS_FILE) and short
// status-poll and retry settings. Each case is one payout to a number of its own, matched by one
// fault rule: the rule is fixed per number (an error rate only at 100 %), so EVERY send of that
// payout meets the same fault — the first send, the status poller's same-key resend when the
// outcome stays ambiguous, and the next attempt under a new key after a retryable confirmed
// failure. (Where the engine settles a payout after its first send, there is no next send to
// meet: FAULTS_TWICE_VERBOSE=1 prints, per case, the sends, keys, checks and transitions.) The cases:
//  - M-Pesa: every `fault` (none, fail with a retryable and a final result code,
//    timeout-after-accept, error-500-after-accept, queue-timeout, reverse-after-success) crossed
//    with every `callback` (send, lose, duplicate, delay, out-of-order);
//  - MTN MoMo, GSMA, Airtel: every `fault` of their enum (fail with a retryable and a final
//    reason; Airtel's ambiguous answer with both its codes and fail with the router's refusal);
//  - on M-Pesa, MoMo and Airtel the rule's errorRatePercent (100) and latency (past the client's
//    timeout); on M-Pesa, MoMo and GSMA the report* knobs (a held payout each, and one receipt
//    reported for two payouts).
// Then:
//  - no payout is left non-terminal, not held and unflagged past the deadline, and each ends as
//    its fault says (expectedEnds);
//  - each idempotency key ran at most once at the simulator, and no payout was paid under two keys;
//  - `tuma payouts requeue` (requeuePayout) moves every flagged payout or says exactly why not
//    (never the generic fallback: held ones are refused with the reason), and what it moved does
//    move (a new attempt, or new status checks) and ends settled or flagged again;
//  - the ledger verifies (verifyLedger), before the requeues and after.
// And (item 4) a GSMA payout whose provider reports a fee ends paid with a payout_fee transfer from
// the provider's fees account to its float, and its batch's committed account at zero.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import type { ProviderAdapter, SubmitRequest } from '../../src/application/ports.js';
import { verifyLedger } from '../../src/application/ledger-chain.js';
import { requeuePayout } from '../../src/application/requeue-payout.js';
import { AirtelClient } from '../../src/adapters/providers/airtel/airtel-client.js';
import { GsmaClient } from '../../src/adapters/providers/gsma/gsma-client.js';
import { MpesaClient } from '../../src/adapters/providers/mpesa/mpesa-client.js';
import { MomoClient } from '../../src/adapters/providers/mtn-momo/momo-client.js';
import type { Runtime } from '../../src/cli/runtime.js';
import { attemptKey, payoutIdOf } from '../../src/domain/ids.js';
import type { AirtelFaults } from '../../src/simulator/airtel-simulator.js';
import type { GsmaFaults } from '../../src/simulator/gsma-simulator.js';
import type { MomoFaults } from '../../src/simulator/momo-simulator.js';
import type { MpesaFaults } from '../../src/simulator/mpesa-simulator.js';
import { tokenFor } from '../support/auth.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { batchDocument, net, setUpProviderProgramme, sign, type PayoutLine, type Scenario } from '../support/fixtures.js';
import { startTestRuntime, testConfig } from '../support/runtime.js';
import { writeFourProviderAccounts } from '../support/provider-accounts.js';

const providers = ['mpesa', 'mtn-momo', 'gsma', 'airtel'] as const;
type Provider = (typeof providers)[number];

// ---------------------------------------------------------------- timing

/** The provider call's timeout: a held answer is a timeout after this. */
const providerTimeoutMs = 3_000;
/** How long a held answer is held: past the client's timeout, short enough for the simulators to drain. */
const holdMs = 4_000;
/** How late a delayed callback comes: after the first status check (300 ms), so the late callback meets a settled payout. */
const callbackLateMs = 1_500;
const settings = {
  PROVIDER_TIMEOUT_MS: String(providerTimeoutMs),
  STATUS_SUBMITTING_STALE_AFTER_MS: '6000',
  STATUS_CHECK_FIRST_AFTER_MS: '300',
  STATUS_CHECK_BACKOFF_MAX_MS: '600',
  STATUS_CHECKS_MAX: '4',
  STATUS_POLL_INTERVAL_MS: '50',
  PAYOUT_RETRY_BACKOFF_MS: '100',
  PAYOUT_RETRY_BACKOFF_MAX_MS: '200',
  PAYOUT_ATTEMPTS_MAX: '2',
  // Every failure that may pass is tried again (the default list), so a retryable fault meets a second key.
  // The breaker must not turn a storm of deliberate timeouts into a pause of the whole provider.
  BREAKER_VOLUME_THRESHOLD: '10000',
};
/**
 * The bound on "not stuck": with the settings above the longest path is a held first answer (3 s)
 * and then four or five status checks (0.3 + 0.6 × 4 s) with their same-key resends, or two
 * attempts, plus the broker's and the relay's delays. Far less than this; more would be a stuck payout.
 */
const settleDeadlineMs = 40_000;

// ---------------------------------------------------------------- the cases

type MpesaRule = NonNullable<MpesaFaults['rules']>[number];
type MomoRule = NonNullable<MomoFaults['rules']>[number];
type GsmaRule = NonNullable<GsmaFaults['rules']>[number];
type AirtelRule = NonNullable<AirtelFaults['rules']>[number];
type RuleWithoutPattern<R> = Omit<R, 'pattern'>;

interface Case {
  readonly provider: Provider;
  readonly label: string;
  readonly ref: string;
  readonly msisdn: string;
  /** The fault rule without its pattern (the pattern is the case's number). */
  readonly rule: Record<string, unknown>;
}

const six = (n: number) => String(n).padStart(6, '0');

/** The case's number in E.164, and the rule's pattern over the number as the provider sees it. */
function numberOf(provider: Provider, n: number): { msisdn: string; pattern: string } {
  switch (provider) {
    case 'mpesa':
      return { msisdn: `+254711${six(n)}`, pattern: `^254711${six(n)}$` };
    case 'mtn-momo':
      return { msisdn: `+256772${six(n)}`, pattern: `^256772${six(n)}$` };
    case 'gsma':
      return { msisdn: `+23276${six(n)}`, pattern: `^\\+?23276${six(n)}$` };
    case 'airtel':
      return { msisdn: `+260971${six(n)}`, pattern: `^971${six(n)}$` };
  }
}

const mpesaFaultVariants: [string, RuleWithoutPattern<MpesaRule>][] = [
  ['none', {}],
  ['fail resultCode 1 (insufficient float: retried)', { fault: 'fail', resultCode: 1 }],
  ['fail resultCode 2001 (final)', { fault: 'fail', resultCode: 2001 }],
  ['timeout-after-accept', { fault: 'timeout-after-accept', holdMs }],
  ['error-500-after-accept', { fault: 'error-500-after-accept' }],
  ['queue-timeout', { fault: 'queue-timeout' }],
  ['reverse-after-success', { fault: 'reverse-after-success' }],
];
/** Outside the fault × callback product: the rule's error rate, latency and what it makes M-Pesa report. */
const mpesaOtherVariants: [string, RuleWithoutPattern<MpesaRule>][] = [
  ['errorRatePercent 100 (every send a transient 500 before anything runs)', { errorRatePercent: 100 }],
  ['latency past the client timeout (runs, answers late)', { latency: { baseMs: holdMs, jitterMs: 0 } }],
  ['reportAmount (held)', { reportAmount: '999' }],
  ['reportReceiver (held)', { reportReceiver: '254700000999' }],
  ['reportReceipt, the same receipt on two payouts (1)', { reportReceipt: 'QAZ1234567' }],
  ['reportReceipt, the same receipt on two payouts (2)', { reportReceipt: 'QAZ1234567' }],
];
const mpesaCallbackVariants: [string, RuleWithoutPattern<MpesaRule>][] = [
  ['send', { callback: 'send' }],
  ['lose', { callback: 'lose' }],
  ['duplicate', { callback: 'duplicate' }],
  ['delay', { callback: 'delay', delayMs: callbackLateMs }],
  ['out-of-order', { callback: 'out-of-order', delayMs: 100 }],
];

const momoVariants: [string, RuleWithoutPattern<MomoRule>][] = [
  ['none', { fault: 'none' }],
  ['fail COULD_NOT_PERFORM_TRANSACTION (provider failure: retried)', { fault: 'fail' }],
  ['fail PAYEE_NOT_FOUND (final)', { fault: 'fail', reason: 'PAYEE_NOT_FOUND' }],
  ['pending-forever', { fault: 'pending-forever' }],
  ['timeout-after-accept', { fault: 'timeout-after-accept', holdMs }],
  ['lost-callback', { fault: 'lost-callback' }],
  ['duplicate-callback', { fault: 'duplicate-callback' }],
  ['delay-callback', { fault: 'delay-callback', delayMs: callbackLateMs }],
  ['out-of-order-callback', { fault: 'out-of-order-callback' }],
  ['error-500-after-accept', { fault: 'error-500-after-accept' }],
  ['insufficient-float', { fault: 'insufficient-float' }],
  ['reverse-after-success', { fault: 'reverse-after-success', delayMs: 50 }],
  ['errorRatePercent 100 (every send a transient 503 before anything is recorded)', { errorRatePercent: 100 }],
  ['latency past the client timeout (runs, answers late)', { latency: { baseMs: holdMs, jitterMs: 0 } }],
  ['reportAmount (held)', { reportAmount: '999' }],
  ['reportCurrency (held)', { reportCurrency: 'EUR' }],
  ['reportReceiver (held)', { reportReceiver: '256772999999' }],
  ['reportReceipt, the same receipt on two payouts (1)', { reportReceipt: 'QAZ1234567' }],
  ['reportReceipt, the same receipt on two payouts (2)', { reportReceipt: 'QAZ1234567' }],
];

const gsmaVariants: [string, RuleWithoutPattern<GsmaRule>][] = [
  ['none', { fault: 'none' }],
  ['fail genericError (provider failure: retried)', { fault: 'fail' }],
  ['fail identifierError (final)', { fault: 'fail', errorCode: 'identifierError' }],
  ['pending-forever', { fault: 'pending-forever' }],
  ['timeout-after-create', { fault: 'timeout-after-create', holdMs }],
  ['error-503-after-create', { fault: 'error-503-after-create' }],
  ['lost-callback', { fault: 'lost-callback' }],
  ['duplicate-callback', { fault: 'duplicate-callback' }],
  ['out-of-order-callback', { fault: 'out-of-order-callback' }],
  ['delay-callback', { fault: 'delay-callback', delayMs: callbackLateMs }],
  ['insufficient-float', { fault: 'insufficient-float' }],
  ['reverse-after-success', { fault: 'reverse-after-success', delayMs: 50 }],
  ['reverse-after-success at once after the callback', { fault: 'reverse-after-success', delayMs: 0 }],
  ['reportAmount (held)', { reportAmount: '999' }],
  ['reportCurrency (held)', { reportCurrency: 'EUR' }],
  ['reportReceiver (held)', { reportReceiver: '23276999999' }],
  ['reportReceipt, the same receipt on two payouts (1)', { reportReceipt: 'QAZ-1234567' }],
  ['reportReceipt, the same receipt on two payouts (2)', { reportReceipt: 'QAZ-1234567' }],
];

const airtelVariants: [string, RuleWithoutPattern<AirtelRule>][] = [
  ['none', { fault: 'none' }],
  ['fail DP00900001005 (provider failure: retried)', { fault: 'fail' }],
  ['fail DP00900001012 (final)', { fault: 'fail', responseCode: 'DP00900001012' }],
  ['fail ROUTER116 (refused by the router)', { fault: 'fail', responseCode: 'ROUTER116' }],
  ['insufficient-funds', { fault: 'insufficient-funds' }],
  ['in-process', { fault: 'in-process' }],
  ['ambiguous-after-execution DP00900001000', { fault: 'ambiguous-after-execution' }],
  ['ambiguous-after-execution DP00900001014', { fault: 'ambiguous-after-execution', responseCode: 'DP00900001014' }],
  ['timeout-after-execution', { fault: 'timeout-after-execution', holdMs }],
  ['error-500-after-execution', { fault: 'error-500-after-execution' }],
  ['lost-callback', { fault: 'lost-callback' }],
  ['duplicate-callback', { fault: 'duplicate-callback' }],
  ['delay-callback', { fault: 'delay-callback', delayMs: callbackLateMs }],
  ['reverse-after-success', { fault: 'reverse-after-success', delayMs: 50 }],
  ['errorRatePercent 100 (every send a transient 503 before anything is recorded)', { errorRatePercent: 100 }],
  ['latency past the client timeout (runs, answers late)', { latency: { baseMs: holdMs, jitterMs: 0 } }],
];

function casesOf(provider: Provider, variants: readonly [string, Record<string, unknown>][]): Case[] {
  return variants.map(([label, rule], i) => {
    const n = i + 1;
    return { provider, label, ref: `${provider}-${n}`, msisdn: numberOf(provider, n).msisdn, rule };
  });
}

const cases: Case[] = [
  ...casesOf(
    'mpesa',
    [
      ...mpesaFaultVariants.flatMap(([f, fault]) => mpesaCallbackVariants.map(([c, callback]): [string, Record<string, unknown>] => [`${f} × callback ${c}`, { ...fault, ...callback }])),
      ...mpesaOtherVariants,
    ],
  ),
  ...casesOf('mtn-momo', momoVariants),
  ...casesOf('gsma', gsmaVariants),
  ...casesOf('airtel', airtelVariants),
];

type End = 'paid' | 'failed' | 'reversed' | 'held' | 'flagged';
/** How a payout ended: flagged for operators, or its state. */
const endOf = (p: { readonly state: string; readonly flagged: boolean }): string => (p.flagged ? 'flagged' : p.state);

/**
 * How each case may end. Not stuck is the property; these say which end, so a fault that settles
 * wrongly (paid twice, failed when paid) is seen too. Where two ends are allowed the engine's
 * timing decides between them (a late callback against the first status check; which of two
 * payouts reporting the same receipt settles first).
 */
function expectedEnds(c: Case): readonly End[] {
  const l = c.label;
  if (l.startsWith('reportReceipt')) return ['paid', 'held'];
  if (l.startsWith('report')) return ['held'];
  // A retryable failure met by both attempts: queued after the last, flagged. An ambiguous send
  // or a pending transfer that no check resolves: flagged after STATUS_CHECKS_MAX checks.
  if (/retried|insufficient|pending-forever|in-process|queue-timeout|errorRatePercent/.test(l)) return ['flagged'];
  if (c.provider === 'mpesa' && l.startsWith('fail resultCode 2001')) {
    // With no callback, only the status query speaks, and its TransactionStatus "Failed" carries
    // no result code: Tuma reads it as a provider failure, which is retried, twice: flagged.
    if (l.endsWith('callback lose')) return ['flagged'];
    // The late callback (its code, final) comes after the first status check, normally.
    if (l.endsWith('callback delay')) return ['failed', 'flagged'];
    return ['failed'];
  }
  if (/\(final\)|ROUTER116/.test(l)) return ['failed'];
  // Daraja's status answer "Reversed" is undocumented: read as unknown, asked again, then flagged.
  if (c.provider === 'mpesa' && l === 'reverse-after-success × callback lose') return ['flagged'];
  // GSMA reports the reversal (a callback the status answer confirms); the others take it back silently.
  if (c.provider === 'gsma' && l.startsWith('reverse-after-success')) return ['reversed'];
  return ['paid'];
}

/** The GSMA payout of the fee test: its number is out of the matrix's range. */
const fee = { n: 900, amount: '1.50', rule: { fault: 'none', fee: '1.5' } as RuleWithoutPattern<GsmaRule> };

const rulesOf = (provider: Provider) =>
  cases.filter((c) => c.provider === provider).map((c, i) => ({ pattern: numberOf(provider, i + 1).pattern, ...c.rule }));

const plans: Record<Provider, { currency: 'KES' | 'UGX' | 'SLE' | 'ZMW'; amount: string; minor: bigint }> = {
  mpesa: { currency: 'KES', amount: '20.00', minor: 20_00n },
  'mtn-momo': { currency: 'UGX', amount: '1000', minor: 1000n },
  gsma: { currency: 'SLE', amount: '10.00', minor: 10_00n },
  airtel: { currency: 'ZMW', amount: '10.00', minor: 10_00n },
};
/** A total in minor units as the document's decimal string. */
const totalText = (minor: bigint, currency: string) => (currency === 'UGX' ? String(minor) : `${minor / 100n}.${String(minor % 100n).padStart(2, '0')}`);

// ---------------------------------------------------------------- sends

/** Every send to a provider, per payout: the keys in order (a same-key resend repeats one). */
function recordSends(sends: Map<string, string[]>): () => void {
  const restores: (() => void)[] = [];
  for (const client of [MpesaClient, MomoClient, GsmaClient, AirtelClient] as unknown as { prototype: ProviderAdapter }[]) {
    const proto = client.prototype;
    const { submit } = proto;
    proto.submit = function (this: ProviderAdapter, req: SubmitRequest) {
      const keys = sends.get(req.payoutId) ?? [];
      keys.push(req.idempotencyKey);
      sends.set(req.payoutId, keys);
      return submit.call(this, req);
    };
    restores.push(() => {
      proto.submit = submit;
    });
  }
  return () => restores.forEach((r) => r());
}

// ---------------------------------------------------------------- what the database says

interface PayoutRow {
  readonly id: string;
  readonly ref: string;
  readonly state: string;
  readonly flagged: boolean;
  readonly attempt_count: number;
  readonly status_checks: number;
}

const endStates = ['paid', 'failed', 'cancelled', 'reversed', 'held'];
/** Terminal, held, or flagged for operators: not stuck. */
const notStuck = (p: PayoutRow) => endStates.includes(p.state) || p.flagged;

async function payoutRows(database: TestDatabase, ids: readonly string[]): Promise<PayoutRow[]> {
  const rows = await sql<PayoutRow>`
    SELECT id::text, ref, state, status_flagged_at IS NOT NULL AS flagged, attempt_count, status_checks
    FROM payouts WHERE id = ANY(${ids}::uuid[])`.execute(database.db);
  return rows.rows;
}

async function transitionsOf(database: TestDatabase, ids: readonly string[]): Promise<Map<string, string[]>> {
  const rows = await sql<{ payout_id: string; from_state: string | null; to_state: string; cause: string }>`
    SELECT payout_id::text, from_state, to_state, cause FROM payout_transitions WHERE payout_id = ANY(${ids}::uuid[]) ORDER BY id`.execute(database.db);
  const by = new Map<string, string[]>();
  for (const r of rows.rows) {
    const list = by.get(r.payout_id) ?? [];
    list.push(`${r.from_state ?? '∅'}→${r.to_state} (${r.cause.slice(0, 120)})`);
    by.set(r.payout_id, list);
  }
  return by;
}

/** Status queries asked about a payout so far (each gets a token of its own). */
async function statusTokens(database: TestDatabase, payoutId: string): Promise<number> {
  const r = await sql<{ n: number }>`SELECT count(*)::int AS n FROM payout_status_tokens WHERE payout_id = ${payoutId}::uuid`.execute(database.db);
  return r.rows[0]?.n ?? 0;
}

async function lastTransitionId(database: TestDatabase): Promise<string> {
  const r = await sql<{ id: string | null }>`SELECT max(id)::text AS id FROM payout_transitions`.execute(database.db);
  return r.rows[0]?.id ?? '0';
}

/** Waits (bounded) until nothing moves for `quietMs`: late callbacks, reversal checks and the settler are done. */
async function quiet(database: TestDatabase, quietMs: number, boundMs: number): Promise<void> {
  const deadline = Date.now() + boundMs;
  let last = await lastTransitionId(database);
  let since = Date.now();
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    const now = await lastTransitionId(database);
    if (now !== last) {
      last = now;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) {
      return;
    }
  }
}

// ---------------------------------------------------------------- the run

describe('no payout is stuck: every simulator fault, twice in a row, through every provider over Kafka', () => {
  let database: TestDatabase;
  let runtime: Runtime | undefined;
  let restoreClients: () => void = () => undefined;
  const sends = new Map<string, string[]>();
  const dir = mkdtempSync(join(tmpdir(), 'tuma-faults-twice-'));

  beforeAll(async () => {
    database = await createTestDatabase();
    const simulatorPort = await net.freePort();
    const via = `http://127.0.0.1:${simulatorPort}`;
    // Unsigned Airtel callbacks (the default, status-query): the weakest channel, every callback only makes Tuma ask.
    const file = writeFourProviderAccounts(dir, via);
    const config = await testConfig(database.url, 'kafka', {
      PROVIDERS_FILE: file, SIMULATOR_PORT: String(simulatorPort),
      T_MPESA_KEY: 'mpesa-key', T_MPESA_SECRET: 'mpesa-secret', T_MPESA_CREDENTIAL: Buffer.from('security-credential').toString('base64'),
      T_MOMO_USER: '3f1e7a52-5b7e-4c3e-9a53-6f0e2b9c1d11', T_MOMO_KEY: 'momo-key', T_MOMO_SUB: 'momo-subscription',
      T_GSMA_KEY: 'gsma-key', T_GSMA_SECRET: 'gsma-secret',
      T_AIRTEL_ID: 'airtel-client', T_AIRTEL_SECRET: 'airtel-secret', T_AIRTEL_PIN: '1234',
      ...settings,
    });
    restoreClients = recordSends(sends);
    runtime = await startTestRuntime(config);
    runtime.simulator!.setFaults({ rules: rulesOf('mpesa') as MpesaRule[] });
    runtime.momoSimulator!.setFaults({ rules: rulesOf('mtn-momo') as MomoRule[] });
    runtime.gsmaSimulator!.setFaults({ rules: [...(rulesOf('gsma') as GsmaRule[]), { pattern: numberOf('gsma', fee.n).pattern, ...fee.rule }] });
    runtime.airtelSimulator!.setFaults({ rules: rulesOf('airtel') as AirtelRule[] });
  }, 60_000);

  afterAll(async () => {
    await runtime?.stop();
    restoreClients();
    await database?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function submit(rt: Runtime, s: Scenario, currency: string, rows: PayoutLine[], total: string): Promise<string> {
    const auth = { authorization: `Bearer ${await tokenFor(s.organisationId, ['programme_manager'])}` };
    const document = { ...batchDocument(s, rows, { total }), currency };
    const submitted = await fetch(`${rt.apiUrl}/v1/batches`, { method: 'POST', headers: { ...auth, 'content-type': 'application/jose+json' }, body: JSON.stringify(await sign(document, s.maker)) });
    const body = (await submitted.json()) as Record<string, unknown>;
    expect({ currency, status: submitted.status, state: body.state }).toEqual({ currency, status: 201, state: 'approved' });
    return document.batchId;
  }

  it('when every fault of every provider hits a payout\'s first send and the next, then each payout ends terminal, held or flagged in bounded time, no key runs twice, requeue moves or explains each, and the ledger verifies', async () => {
    const rt = runtime!;
    const started = Date.now();

    // One batch per provider, one payout per case.
    const payoutIds = new Map<string, Case>();
    await Promise.all(providers.map(async (provider) => {
      const plan = plans[provider];
      const mine = cases.filter((c) => c.provider === provider);
      const s = await setUpProviderProgramme(rt.persistence, { provider, currency: plan.currency, fundedMinor: plan.minor * 1000n, floatMinor: plan.minor * 100_000n });
      const rows = mine.map((c) => ({ ref: c.ref, provider, msisdn: c.msisdn, amount: plan.amount }));
      const batchId = await submit(rt, s, plan.currency, rows, totalText(plan.minor * BigInt(rows.length), plan.currency));
      for (const c of mine) payoutIds.set(payoutIdOf(batchId, c.ref), c);
    }));
    const ids = [...payoutIds.keys()];

    // Every payout ends terminal, held or flagged, within the deadline.
    let stuck: PayoutRow[] = [];
    const deadline = started + settleDeadlineMs;
    while (Date.now() < deadline) {
      stuck = (await payoutRows(database, ids)).filter((p) => !notStuck(p));
      if (stuck.length === 0) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const settledAfterMs = Date.now() - started;
    // Late callbacks, reversals and their checks: let them come, then the property must still hold.
    await quiet(database, 1_500, 10_000);
    const rows = await payoutRows(database, ids);
    const transitions = await transitionsOf(database, ids);
    const table = rows
      .map((p) => ({ p, c: payoutIds.get(p.id)! }))
      .sort((a, b) => providers.indexOf(a.c.provider) - providers.indexOf(b.c.provider) || Number(a.c.ref.split('-').pop()) - Number(b.c.ref.split('-').pop()))
      .map(({ p, c }) => {
        const keys = sends.get(p.id) ?? [];
        return `${c.provider.padEnd(8)} ${c.label.padEnd(62)} ${(p.state + (p.flagged ? ' (flagged)' : '')).padEnd(20)} attempts ${p.attempt_count} sends ${keys.length} (keys ${new Set(keys).size}) checks ${p.status_checks}`;
      });
    const verbose = Boolean(process.env.FAULTS_TWICE_VERBOSE);
    if (verbose) {
      console.log(`faults twice in a row: settled or flagged after ${settledAfterMs} ms\n${table.join('\n')}`);
      for (const p of rows.filter((r) => r.flagged || ['unknown', 'submitted', 'queued'].includes(r.state) || payoutIds.get(r.id)!.label.includes('reverse'))) {
        console.log(`${payoutIds.get(p.id)!.provider} ${payoutIds.get(p.id)!.label}\n  ${(transitions.get(p.id) ?? []).join('\n  ')}`);
      }
    }
    const report = (p: PayoutRow) => ({ provider: payoutIds.get(p.id)!.provider, fault: payoutIds.get(p.id)!.label, state: p.state, flagged: p.flagged, transitions: transitions.get(p.id) ?? [] });
    expect(stuck.map(report)).toEqual([]);
    expect(rows.filter((p) => !notStuck(p)).map(report)).toEqual([]);
    expect(rows.length).toBe(cases.length);

    // Each ended as its fault says it must.
    const wrongEnd = rows.filter((p) => !expectedEnds(payoutIds.get(p.id)!).includes(endOf(p) as End));
    expect(wrongEnd.map((p) => ({ ...report(p), expected: expectedEnds(payoutIds.get(p.id)!) }))).toEqual([]);
    // Of two payouts reporting the same receipt, one settles and the other is held.
    for (const provider of ['mpesa', 'mtn-momo', 'gsma'] as const) {
      const pair = rows.filter((p) => payoutIds.get(p.id)!.provider === provider && payoutIds.get(p.id)!.label.startsWith('reportReceipt')).map(endOf).sort();
      expect({ provider, pair }).toEqual({ provider, pair: ['held', 'paid'] });
    }

    // The fault met more than one send where the engine sends again: a same-key resend of an
    // ambiguous outcome (M-Pesa's queue timeout) and a new key after a retryable failure.
    const sendsOf = (provider: Provider, label: string) => {
      const [id] = [...payoutIds].find(([, c]) => c.provider === provider && c.label === label)!;
      return sends.get(id) ?? [];
    };
    for (const [provider, label] of [
      ['mpesa', 'queue-timeout × callback send'],
      ['mpesa', 'fail resultCode 1 (insufficient float: retried) × callback send'],
      ['mtn-momo', 'insufficient-float'],
      ['gsma', 'insufficient-float'],
      ['airtel', 'insufficient-funds'],
      ['mpesa', 'errorRatePercent 100 (every send a transient 500 before anything runs)'],
      ['mtn-momo', 'errorRatePercent 100 (every send a transient 503 before anything is recorded)'],
      ['airtel', 'errorRatePercent 100 (every send a transient 503 before anything is recorded)'],
    ] as const) {
      expect({ provider, label, sends: sendsOf(provider, label).length >= 2 }).toEqual({ provider, label, sends: true });
    }

    // Each key ran at most once at its provider, and no payout was paid under two keys.
    const attempts = await sql<{ payout_id: string; idempotency_key: string }>`
      SELECT payout_id::text, idempotency_key FROM payout_attempts WHERE payout_id = ANY(${ids}::uuid[])`.execute(database.db);
    const executions = (provider: Provider, key: string) =>
      provider === 'mpesa' ? rt.simulator!.executions(key) : provider === 'mtn-momo' ? rt.momoSimulator!.executions(key) : provider === 'gsma' ? rt.gsmaSimulator!.executions(key) : rt.airtelSimulator!.executions(key);
    expect(attempts.rows.filter((a) => executions(payoutIds.get(a.payout_id)!.provider, a.idempotency_key) > 1)).toEqual([]);
    for (const [id, c] of payoutIds) {
      const attemptCount = rows.find((r) => r.id === id)!.attempt_count;
      for (let n = 1; n <= attemptCount; n++) expect(executions(c.provider, attemptKey(id, n))).toBeLessThanOrEqual(1);
    }
    const paidKeys = new Set([
      ...rt.simulator!.statement().filter((l) => l.status === 'Completed').map((l) => l.originatorConversationId),
      ...rt.momoSimulator!.statement().filter((l) => l.status === 'SUCCESSFUL').map((l) => l.referenceId),
      ...rt.gsmaSimulator!.statement().filter((l) => l.status === 'completed').map((l) => l.correlationId),
      ...rt.airtelSimulator!.statement().filter((l) => l.status === 'TS').map((l) => l.transactionId),
    ]);
    const paidTwice = ids.filter((id) => attempts.rows.filter((a) => a.payout_id === id && (paidKeys.has(a.idempotency_key) || paidKeys.has(a.idempotency_key.replaceAll('-', '')))).length > 1);
    expect(paidTwice.map((id) => payoutIds.get(id)!.label)).toEqual([]);
    const settlements = await sql<{ payout_id: string; n: number }>`
      SELECT payout_id::text, count(*)::int AS n FROM transfers WHERE code = 'payout_paid' AND payout_id = ANY(${ids}::uuid[]) GROUP BY payout_id HAVING count(*) > 1`.execute(database.db);
    expect(settlements.rows).toEqual([]);

    // The ledger verifies.
    const before = await verifyLedger(rt.persistence);
    expect({ ok: before.ok, problems: before.problems }).toEqual({ ok: true, problems: [] });

    // Requeue moves every flagged or held payout, or says exactly why not.
    const operated = rows.filter((p) => p.flagged || p.state === 'held');
    expect(operated.length).toBeGreaterThan(0);
    const deps = { persistence: rt.persistence, transport: rt.transport, topics: rt.topics, now: () => new Date() };
    const answers: { fault: string; state: string; answer: unknown }[] = [];
    const moved = new Map<string, { outcome: string; attempts: number; checks: number }>();
    for (const p of operated) {
      const checksBefore = await statusTokens(database, p.id);
      const answer = await requeuePayout(deps, p.id);
      answers.push({ fault: `${payoutIds.get(p.id)!.provider} ${payoutIds.get(p.id)!.label}`, state: p.state, answer });
      if (answer.ok) moved.set(p.id, { outcome: answer.value, attempts: p.attempt_count, checks: checksBefore });
      else {
        expect(answer.error.code).toBe('PAYOUT_NOT_REQUEUEABLE');
        expect(answer.error.detail.length).toBeGreaterThan(0);
        expect(answer.error.detail).not.toMatch(/^a \S+ payout is not requeued$/);
      }
    }
    if (verbose) console.log(`requeue:\n${answers.map((a) => `${a.fault.padEnd(72)} ${a.state.padEnd(10)} ${JSON.stringify(a.answer)}`).join('\n')}`);
    // What it moved did move (a new attempt under a new key, or new status checks), and ends,
    // again, terminal, held or flagged.
    const movedIds = [...moved.keys()];
    const requeueDeadline = Date.now() + 20_000;
    let unsettled: { row: PayoutRow; why: string }[] = [];
    while (Date.now() < requeueDeadline) {
      unsettled = [];
      for (const row of await payoutRows(database, movedIds)) {
        const m = moved.get(row.id)!;
        const progressed = m.outcome === 'dispatch_republished' ? row.attempt_count > m.attempts : (await statusTokens(database, row.id)) > m.checks;
        if (!progressed) unsettled.push({ row, why: `not moved by ${m.outcome}` });
        else if (!notStuck(row)) unsettled.push({ row, why: 'stuck after requeue' });
      }
      if (unsettled.length === 0) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const againTransitions = await transitionsOf(database, unsettled.map((u) => u.row.id));
    expect(unsettled.map((u) => ({ ...report(u.row), why: u.why, transitions: againTransitions.get(u.row.id) ?? [] }))).toEqual([]);

    // Once more at the end: keys at most once, the ledger whole.
    const finalAttempts = await sql<{ payout_id: string; idempotency_key: string }>`
      SELECT payout_id::text, idempotency_key FROM payout_attempts WHERE payout_id = ANY(${ids}::uuid[])`.execute(database.db);
    expect(finalAttempts.rows.filter((a) => executions(payoutIds.get(a.payout_id)!.provider, a.idempotency_key) > 1)).toEqual([]);
    const after = await verifyLedger(rt.persistence);
    expect({ ok: after.ok, problems: after.problems }).toEqual({ ok: true, problems: [] });
  }, 120_000);

  it('when a GSMA provider reports a fee, then the payout ends paid, the fee is posted from the provider\'s fees account to its float, and the batch\'s committed account is zero', async () => {
    const rt = runtime!;
    const s = await setUpProviderProgramme(rt.persistence, { provider: 'gsma', currency: 'SLE', fundedMinor: 1_000_00n, floatMinor: 100_000_00n });
    const batchId = await submit(rt, s, 'SLE', [{ ref: 'fee-1', provider: 'gsma', msisdn: numberOf('gsma', fee.n).msisdn, amount: '25.00' }], '25.00');
    const payoutId = payoutIdOf(batchId, 'fee-1');
    const [paid] = await net.eventually(async () => {
      const r = await payoutRows(database, [payoutId]);
      return r[0]?.state === 'paid' ? r : null;
    }, 20_000, 'the fee payout to be paid');
    expect(paid).toMatchObject({ state: 'paid', flagged: false });

    const fees = await sql<{ amount: string; debit: string; credit: string }>`
      SELECT t.amount::text AS amount, d.key AS debit, c.key AS credit FROM transfers t
      JOIN accounts d ON d.id = t.debit_account_id JOIN accounts c ON c.id = t.credit_account_id
      WHERE t.payout_id = ${payoutId}::uuid AND t.code = 'payout_fee'`.execute(database.db);
    expect(fees.rows).toEqual([{ amount: '150', debit: `provider:gsma:${s.organisationId}:fees`, credit: `provider:gsma:${s.organisationId}:float` }]);
    const codes = await sql<{ code: string; amount: string }>`SELECT code, amount::text AS amount FROM transfers WHERE payout_id = ${payoutId}::uuid ORDER BY seq`.execute(database.db);
    expect(codes.rows).toEqual(expect.arrayContaining([{ code: 'payout_paid', amount: '2500' }, { code: 'payout_fee', amount: '150' }]));
    const committed = await sql<{ balance: string }>`
      SELECT (credits_posted - debits_posted)::text AS balance FROM accounts WHERE key = ${`batch:${batchId}:committed`}`.execute(database.db);
    expect(committed.rows).toEqual([{ balance: '0' }]);
    const report = await verifyLedger(rt.persistence);
    expect({ ok: report.ok, problems: report.problems }).toEqual({ ok: true, problems: [] });
  }, 60_000);
});

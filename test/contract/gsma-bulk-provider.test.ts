// The bulk GSMA account as the worker and the poller use it (gsma-bulk-provider.ts), against the
// simulator: attempts sent together go as provider batches of at most itemsMax; each attempt gets
// its own outcome by submit and status; a resend under the same key never makes a second batch;
// a batch that was never created sends its item alone under the same key; two-step batches are
// approved; a batch rejected whole fails each item as a single payment would; the breaker and the
// call observer count provider batches, not items; every call about a batch (its POST, its
// approval, its reads) waits its turn under the account's call limits, and its approval is refused
// unsent while the breaker is open, as a payment is.
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { randomUUID } from 'node:crypto';
import express from 'express';
import { pino } from 'pino';
import { GsmaClient } from '../../src/adapters/providers/gsma/gsma-client.js';
import { GsmaBulkProvider, memoryBatchIndex, type BatchIndex, type GsmaBulkSettings } from '../../src/adapters/providers/gsma/gsma-bulk-provider.js';
import { ProviderUnavailableError } from '../../src/application/ports.js';
import type { CallLimits } from '../../src/adapters/providers/call-limiter.js';
import { createGsmaSimulator, type GsmaSimulator } from '../../src/simulator/gsma-simulator.js';
import type { ProviderOutcome } from '../../src/domain/provider-outcome.js';
import { net } from '../support/net.js';
import { loadContract } from '../support/openapi.js';

const { eventually } = net;
const contract = loadContract('providers/gsma-mmapi-v1.2.openapi.yaml');
const logger = pino({ level: 'silent' });
const credentials = { consumerKey: 'ck', consumerSecret: 'cs' };
const breaker = { timeoutMs: 2_000, errorThresholdPercent: 50, resetTimeoutMs: 60_000, volumeThreshold: 2 };

let server: Server;
let base: string;
let oneStep: GsmaSimulator;
let twoStep: GsmaSimulator;
const posts: { prefix: string; path: string; items: number; body: unknown }[] = [];
/** Calls under /slow (the two-step simulator, each answered 60 ms late): how many were in flight at once at most, and the PATCHes. */
const slow = { inFlight: 0, inFlightMax: 0, patches: 0 };

beforeAll(async () => {
  oneStep = createGsmaSimulator({ ...credentials, callbackDelayMs: 5, logger });
  twoStep = createGsmaSimulator({ ...credentials, callbackDelayMs: 5, logger, bulkApproval: 'two-step' });
  const app = express();
  app.use(express.json({ limit: '8mb' }));
  app.use((req, _res, next) => {
    if (req.method === 'POST' && !req.path.endsWith('/oauth/accesstoken')) {
      const prefix = req.path.startsWith('/two') || req.path.startsWith('/slow') ? 'two' : 'one';
      const body = req.body as { transactions?: unknown[] };
      posts.push({ prefix, path: req.path.replace(/^\/(two|slow)/, ''), items: Array.isArray(body.transactions) ? body.transactions.length : 1, body: req.body });
    }
    next();
  });
  app.use('/slow', async (req, res, next) => {
    if (req.path.endsWith('/oauth/accesstoken')) return next();
    slow.inFlight++;
    slow.inFlightMax = Math.max(slow.inFlightMax, slow.inFlight);
    if (req.method === 'PATCH') slow.patches++;
    res.once('close', () => slow.inFlight--);
    await new Promise((r) => setTimeout(r, 60));
    next();
  });
  app.use('/slow', twoStep.router);
  app.use('/two', twoStep.router);
  app.use(oneStep.router);
  server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  oneStep.close();
  twoStep.close();
  await new Promise((r) => server.close(r));
});

afterEach(() => {
  oneStep.setFaults({});
  twoStep.setFaults({});
  for (const p of posts) expect({ path: p.path, problems: contract.requestProblems('post', contract.templateOf(p.path)!, p.body) }).toEqual({ path: p.path, problems: [] });
  posts.length = 0;
});

const calls: { operation: string; outcome: string }[] = [];
const observer = { call: (_a: string, _p: string, operation: 'submit' | 'status', outcome: string) => void calls.push({ operation, outcome }) };
const providers: GsmaBulkProvider[] = [];
afterAll(() => providers.forEach((p) => p.shutdown()));

function bulkProvider(over: Partial<GsmaBulkSettings> = {}, options: { prefix?: string; index?: BatchIndex; callLimits?: CallLimits } = {}) {
  const client = new GsmaClient({ baseUrl: `${base}${options.prefix ?? ''}`, ...credentials, debitParty: [{ key: 'walletid', value: '1' }], timeoutMs: 1_000 }, logger);
  const provider = new GsmaBulkProvider(client, options.index ?? memoryBatchIndex(), { itemsMax: 10, approval: 'one-step', lingerMs: 20, ...over }, 'gsma-bulk', breaker, logger, observer, options.callLimits);
  providers.push(provider);
  return provider;
}
let n = 0;
const request = (msisdn?: string) => {
  n++;
  return { payoutId: `p-${n}`, idempotencyKey: randomUUID(), msisdn: msisdn ?? `+2547400${String(n).padStart(5, '0')}`, amountMinor: 2_500_00n, currency: 'KES' as const, callbackUrl: `${base}/cb/${n}` };
};
const statusOf = (r: ReturnType<typeof request>, outcome: ProviderOutcome) => ({ payoutId: r.payoutId, idempotencyKey: r.idempotencyKey, providerReference: outcome.kind === 'pending' ? outcome.providerReference : null, currency: r.currency, callbackUrl: r.callbackUrl });
const settled = (provider: GsmaBulkProvider, r: ReturnType<typeof request>, first: ProviderOutcome) =>
  eventually(async () => { const o = await provider.status(statusOf(r, first)); return o.kind === 'paid' || o.kind === 'failed' ? o : undefined; }, 10_000, 'a final outcome');

describe('GSMA bulk account', () => {
  it('when 25 attempts are sent at once with 10 items a batch, then 3 provider batches go (the observer sees 3 submits), each attempt is pending in its batch, and each reads paid, run once', async () => {
    calls.length = 0;
    const provider = bulkProvider();
    const requests = Array.from({ length: 25 }, () => request());
    const outcomes = await Promise.all(requests.map((r) => provider.submit(r)));
    // The three batches go at once: they may reach the provider in any order.
    expect(posts.map((p) => [p.path, p.items]).sort((a, b) => Number(b[1]) - Number(a[1]))).toEqual([['/batchtransactions', 10], ['/batchtransactions', 10], ['/batchtransactions', 5]]);
    expect(calls.filter((c) => c.operation === 'submit')).toEqual([{ operation: 'submit', outcome: 'pending' }, { operation: 'submit', outcome: 'pending' }, { operation: 'submit', outcome: 'pending' }]);
    for (const o of outcomes) expect(o).toEqual({ kind: 'pending', providerReference: expect.stringMatching(/^gsma-batch:[0-9a-f-]{36}$/) });
    const statusCallsBefore = calls.filter((c) => c.operation === 'status').length;
    const finals = await Promise.all(requests.map((r, i) => settled(provider, r, outcomes[i]!)));
    for (const f of finals) expect(f.kind).toBe('paid');
    // The items asked about together shared their batch's reads: far fewer guarded reads than items.
    expect(calls.filter((c) => c.operation === 'status').length - statusCallsBefore).toBeLessThan(25);
    for (const r of requests) expect(oneStep.executions(r.idempotencyKey)).toBe(1);
  });

  it('when an attempt already in a batch is sent again under the same key, then no batch and no payment is sent: the answer is its batch\'s', async () => {
    const provider = bulkProvider();
    const r = request();
    const first = await provider.submit(r);
    await settled(provider, r, first);
    posts.length = 0;
    expect((await provider.submit(r)).kind).toBe('paid');
    expect(posts).toEqual([]);
    expect(oneStep.executions(r.idempotencyKey)).toBe(1);
  });

  it('when the batch\'s answer is lost after it was created, then every item is unknown, its status finds it paid, and a same-key resend sends nothing', async () => {
    oneStep.setFaults({ batchRules: [{ pattern: '0951$', fault: 'timeout-after-create', holdMs: 3_000 }] });
    const provider = bulkProvider();
    const requests = [request('+254740000951'), request()];
    const outcomes = await Promise.all(requests.map((r) => provider.submit(r)));
    for (const o of outcomes) expect(o.kind).toBe('unknown');
    for (const [i, r] of requests.entries()) expect((await settled(provider, r, outcomes[i]!)).kind).toBe('paid');
    posts.length = 0;
    for (const r of requests) expect((await provider.submit(r)).kind).toBe('paid');
    expect(posts).toEqual([]);
    for (const r of requests) expect(oneStep.executions(r.idempotencyKey)).toBe(1);
  });

  it('when a batch was recorded but never created (a crash before the call), then the item is sent alone under its own key, once, and its status follows it', async () => {
    const index = memoryBatchIndex();
    const provider = bulkProvider({}, { index });
    const r = request();
    await index.record({ batchKey: randomUUID(), accountId: 'gsma-bulk', itemKeys: [r.idempotencyKey] });
    const first = await provider.submit(r);
    expect(first.kind).toBe('pending');
    expect(posts.map((p) => p.path)).toEqual(['/transactions/type/disbursement']);
    // Alone, it is a single payment: the payout as its reference, its own key as X-CorrelationID (executions counts by it).
    expect((posts[0]!.body as { requestingOrganisationTransactionReference: string }).requestingOrganisationTransactionReference).toBe(r.payoutId);
    expect((await settled(provider, r, first)).kind).toBe('paid');
    posts.length = 0;
    expect((await provider.submit(r)).kind).toBe('paid');
    expect(posts).toEqual([]);
    expect(oneStep.executions(r.idempotencyKey)).toBe(1);
  });

  it('when the account approves its own batches, then the items wait in a created batch until a status read approves it, then read paid', async () => {
    const provider = bulkProvider({ approval: 'two-step' }, { prefix: '/two' });
    const requests = [request(), request()];
    const outcomes = await Promise.all(requests.map((r) => provider.submit(r)));
    await twoStep.drained();
    for (const r of requests) expect(twoStep.executions(r.idempotencyKey)).toBe(0);
    for (const [i, r] of requests.entries()) expect((await settled(provider, r, outcomes[i]!)).kind).toBe('paid');
    for (const r of requests) expect(twoStep.executions(r.idempotencyKey)).toBe(1);
  });

  it('when items fail or the batch is rejected whole, then each item fails with the reason a single payment would have', async () => {
    oneStep.setFaults({ rules: [{ pattern: '0961$', fault: 'fail', errorCode: 'identifierError' }], batchRules: [{ pattern: '0962$', fault: 'reject', errorCode: 'insufficientFunds' }] });
    const mixed = bulkProvider();
    const partly = [request('+254740000961'), request()];
    const partlyOutcomes = await Promise.all(partly.map((r) => mixed.submit(r)));
    expect(await settled(mixed, partly[0]!, partlyOutcomes[0]!)).toEqual({ kind: 'failed', reason: 'payee_not_found', providerCode: 'gsma:batch-rejection:identifierError' });
    expect((await settled(mixed, partly[1]!, partlyOutcomes[1]!)).kind).toBe('paid');
    const rejected = bulkProvider();
    const whole = [request('+254740000962'), request()];
    const wholeOutcomes = await Promise.all(whole.map((r) => rejected.submit(r)));
    for (const [i, r] of whole.entries()) expect(await settled(rejected, r, wholeOutcomes[i]!)).toEqual({ kind: 'failed', reason: 'insufficient_float', providerCode: 'gsma:insufficientFunds' });
    for (const r of whole) expect(oneStep.executions(r.idempotencyKey)).toBe(0);
  });

  it('when provider batches go unanswered, then the breaker counts batches: it opens after two, and the next attempts are refused unsent (void), no batch posted', async () => {
    oneStep.setFaults({ batchRules: [{ pattern: '097[0-9]$', fault: 'error-503-after-create' }] });
    const provider = bulkProvider({ itemsMax: 3 });
    const first = await Promise.all([request('+254740000971'), request('+254740000972'), request('+254740000973')].map((r) => provider.submit(r)));
    const second = await Promise.all([request('+254740000974'), request('+254740000975')].map((r) => provider.submit(r)));
    for (const o of [...first, ...second]) expect(o.kind).toBe('unknown');
    expect(posts).toHaveLength(2);
    expect(provider.available()).toBe(false);
    await expect(provider.submit(request('+254740000976'))).rejects.toBeInstanceOf(ProviderUnavailableError);
    expect(posts).toHaveLength(2);
  });

  it('when the account takes one call at a time and its provider is slow, then no call about its batches overlaps another: each read and the approval (PATCH) wait their turn', async () => {
    const provider = bulkProvider({ approval: 'two-step', itemsMax: 1 }, { prefix: '/slow', callLimits: { ratePerSecond: null, concurrency: 1 } });
    const requests = [request(), request(), request()];
    // Three provider batches of one item, each created and waiting for its approval.
    const outcomes = await Promise.all(requests.map((r) => provider.submit(r)));
    await twoStep.drained();
    slow.inFlightMax = 0;
    slow.patches = 0;
    // Their items asked about together: each batch read, then its approval, while the others read.
    const finals = await Promise.all(requests.map((r, i) => settled(provider, r, outcomes[i]!)));
    for (const f of finals) expect(f.kind).toBe('paid');
    expect(slow.patches).toBe(3);
    expect(slow.inFlightMax).toBe(1);
    for (const r of requests) expect(twoStep.executions(r.idempotencyKey)).toBe(1);
  });

  it('when the breaker is open, then a created two-step batch is not approved (no PATCH reaches the provider); once it closes, the next read approves it', async () => {
    const provider = bulkProvider({ approval: 'two-step' }, { prefix: '/slow' });
    const r = request();
    const first = await provider.submit(r);
    await twoStep.drained();
    provider.guard.breaker.open();
    expect(provider.available()).toBe(false);
    slow.patches = 0;
    // The read still goes (status queries move no money), and the batch stays created: pending.
    expect(await provider.status(statusOf(r, first))).toEqual(first);
    expect(slow.patches).toBe(0);
    await twoStep.drained();
    expect(twoStep.executions(r.idempotencyKey)).toBe(0);
    provider.guard.closeByHand();
    expect((await settled(provider, r, first)).kind).toBe('paid');
    expect(slow.patches).toBe(1);
    expect(twoStep.executions(r.idempotencyKey)).toBe(1);
  });

  it('when the index that recorded a batch is gone (another process), then an item\'s reference still reads its batch, never taken for a payment never sent', async () => {
    const sender = bulkProvider();
    const r = request();
    const first = await sender.submit(r);
    const stranger = bulkProvider();
    expect((await eventually(async () => { const o = await stranger.status(statusOf(r, first)); return o.kind === 'paid' ? o : undefined; }, 10_000, 'paid')).kind).toBe('paid');
    expect(posts.filter((p) => p.path === '/transactions/type/disbursement')).toEqual([]);
    expect(oneStep.executions(r.idempotencyKey)).toBe(1);
  });

  it('when the bulk settings are out of range, then the account is not built', () => {
    expect(() => bulkProvider({ itemsMax: 0 })).toThrow(/itemsMax/);
    expect(() => bulkProvider({ itemsMax: 10_001 })).toThrow(/itemsMax/);
    expect(() => bulkProvider({ lingerMs: -1 })).toThrow(/lingerMs/);
    expect(() => bulkProvider({ lingerMs: 1.5 })).toThrow(/lingerMs/);
  });
});

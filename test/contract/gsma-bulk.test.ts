// GSMA bulk disbursement (issue #20 item 3), the provider side: the client's /batchtransactions
// requests and the simulator's answers and batch callbacks against the contract; one-step and
// two-step (PATCH to approved) batches; every item's outcome read from completions and
// rejections (paged); a batch that stays created; partial completion; a batch rejected whole
// (asynchronously) or refused (synchronously); the single-payment faults at batch level (answer
// held past the timeout, 503 after creation, lost and duplicated callbacks) resolved by a query
// under the batch's own X-CorrelationID, never by a second batch; hostile input refused.
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { randomUUID } from 'node:crypto';
import express from 'express';
import { pino } from 'pino';
import { GsmaClient, type GsmaSettings } from '../../src/adapters/providers/gsma/gsma-client.js';
import { gsmaAmountPattern } from '../../src/adapters/providers/gsma/mapping.js';
import { createGsmaSimulator, gsmaSimulatorBatchItemsMax, type GsmaSimulator } from '../../src/simulator/gsma-simulator.js';
import type { CurrencyCode } from '../../src/domain/currency.js';
import { net } from '../support/net.js';
import { loadContract } from '../support/openapi.js';

const { until, eventually } = net;
const contract = loadContract('providers/gsma-mmapi-v1.2.openapi.yaml');
const logger = pino({ level: 'silent' });
const credentials = { consumerKey: 'ck', consumerSecret: 'cs', apiKey: 'bulk-key' };

interface Seen {
  readonly method: string;
  readonly path: string;
  readonly query: Record<string, unknown>;
  readonly headers: Record<string, unknown>;
  readonly body: unknown;
}

let server: Server;
let base: string;
let oneStep: GsmaSimulator;
let twoStep: GsmaSimulator;
const requests: Seen[] = [];
const answers: { method: string; path: string; status: number; body: unknown }[] = [];
const callbacks: Seen[] = [];

beforeAll(async () => {
  oneStep = createGsmaSimulator({ ...credentials, callbackDelayMs: 5, logger, requireDate: 'date-time' });
  twoStep = createGsmaSimulator({ ...credentials, callbackDelayMs: 5, logger, bulkApproval: 'two-step' });
  const app = express();
  app.use((req, res, next) => {
    if (req.path.startsWith('/cb/')) return next();
    const path = req.path.replace(/^\/two/, '');
    // The body as the simulator parsed it, read when it is checked (a held answer is never sent).
    const seen: Seen = { method: req.method, path, query: { ...req.query }, headers: req.headers, get body() { return req.body as unknown; } };
    if (req.headers['x-test-raw'] === undefined) requests.push(seen);
    const json = res.json.bind(res);
    res.json = (body: unknown) => {
      answers.push({ method: req.method, path, status: res.statusCode, body });
      return json(body);
    };
    next();
  });
  app.use('/two', twoStep.router);
  app.use(oneStep.router);
  app.put('/cb/*rest', express.json({ limit: '1mb' }), (req, res) => {
    callbacks.push({ method: req.method, path: req.path, query: {}, headers: req.headers, body: req.body });
    res.status(204).end();
  });
  server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  oneStep.close();
  twoStep.close();
  await new Promise((r) => server.close(r));
});

afterEach(async () => {
  oneStep.setFaults({});
  twoStep.setFaults({});
  // Every request the client sent (headers, query and body) and every answer and callback is in the contract.
  for (const r of requests) {
    const template = contract.templateOf(r.path);
    expect({ path: r.path, template }).toEqual({ path: r.path, template: expect.any(String) });
    if (template === '/oauth/accesstoken') continue;
    expect({ path: r.path, problems: contract.parameterProblems(r.method, template!, { headers: r.headers, query: r.query }) }).toEqual({ path: r.path, problems: [] });
    if (r.method === 'POST' || r.method === 'PATCH') expect({ path: r.path, problems: contract.requestProblems(r.method, template!, r.body) }).toEqual({ path: r.path, problems: [] });
  }
  for (const a of answers) {
    const template = contract.templateOf(a.path)!;
    expect({ path: a.path, status: a.status, problems: contract.responseProblems(a.method, template, a.status, a.body) }).toEqual({ path: a.path, status: a.status, problems: [] });
  }
  for (const c of callbacks) expect(contract.schemaProblems('BatchCallbackBody', c.body)).toEqual([]);
  requests.length = 0;
  answers.length = 0;
});

const client = (over: Partial<GsmaSettings> = {}) => new GsmaClient({ baseUrl: base, ...credentials, debitParty: [{ key: 'walletid', value: '1' }], timeoutMs: 1_000, ...over }, logger);
const two = () => client({ baseUrl: `${base}/two` });
let n = 0;
const item = (msisdn?: string, amountMinor = 1_500_50n, currency: CurrencyCode = 'KES') => {
  n++;
  return { payoutId: `p-${n}`, idempotencyKey: randomUUID(), msisdn: msisdn ?? `+2547200${String(n).padStart(5, '0')}`, amountMinor, currency, callbackUrl: `${base}/cb/item-${n}` };
};
const keyOf = (i: { idempotencyKey: string }) => i.idempotencyKey.toLowerCase();

describe('GSMA bulk: one-step and two-step batches', () => {
  it('when a one-step batch is sent, then one request carries every item in the specification\'s amount form, the callback says completed, and every item reads paid, each run once', async () => {
    const items = [item(undefined, 1_500_00n), item(undefined, 1_500_50n), item(undefined, 200n, 'RWF'), item(undefined, 1_230n, 'JOD')];
    const batchKey = randomUUID();
    const sent = await client({ dateHeader: 'date-time' }).createBatch(batchKey, items, `${base}/cb/batch-1`);
    expect(sent).toEqual({ kind: 'accepted', serverCorrelationId: expect.any(String), batchId: expect.any(String) });
    const posts = requests.filter((r) => r.method === 'POST' && r.path === '/batchtransactions');
    expect(posts).toHaveLength(1);
    const amounts = (posts[0]!.body as { transactions: { amount: string }[] }).transactions.map((t) => t.amount);
    expect(amounts).toEqual(['1500', '1500.5', '200', '1.23']);
    for (const a of amounts) expect(a).toMatch(gsmaAmountPattern);
    const cb = await until(() => callbacks.find((c) => c.path === '/cb/batch-1'));
    expect(cb.headers['x-correlationid']).toBe(batchKey);
    expect(cb.body).toMatchObject({ batchStatus: 'completed', completedCount: 4, rejectionCount: 0 });
    const found = await client().batchStatus(batchKey, sent.kind === 'accepted' ? sent.serverCorrelationId : null);
    expect(found.kind).toBe('found');
    if (found.kind !== 'found') return;
    expect(found.view.status).toBe('completed');
    for (const i of items) {
      // The completion names the number paid: a fact checked against the payout before it settles.
      expect(found.items.get(keyOf(i))).toEqual({ kind: 'paid', providerReference: expect.any(String), facts: { amount: null, currency: null, receiver: i.msisdn, fee: null } });
      expect(oneStep.executions(i.idempotencyKey)).toBe(1);
    }
  });

  it('when the account approves its own batches (two-step), then the batch stays created until Tuma PATCHes it to approved, then completes; a second approval is refused', async () => {
    const items = [item(), item()];
    const batchKey = randomUUID();
    const sent = await two().createBatch(batchKey, items, `${base}/cb/batch-2`);
    expect(sent.kind).toBe('accepted');
    const created = await until(() => callbacks.find((c) => c.path === '/cb/batch-2'));
    expect(created.body).toMatchObject({ batchStatus: 'created' });
    const waiting = await two().batchStatus(batchKey, null);
    expect(waiting).toMatchObject({ kind: 'found', view: { status: 'created' } });
    for (const i of items) expect(twoStep.executions(i.idempotencyKey)).toBe(0);
    const batchId = waiting.kind === 'found' ? waiting.view.batchId : '';
    expect((await two().approveBatch(batchId, randomUUID())).kind).toBe('accepted');
    await until(() => callbacks.filter((c) => c.path === '/cb/batch-2').find((c) => (c.body as { batchStatus?: string }).batchStatus === 'completed'));
    const done = await two().batchStatus(batchKey, null);
    expect(done.kind === 'found' ? [done.view.status, [...done.items.values()].map((o) => o.kind)] : null).toEqual(['completed', ['paid', 'paid']]);
    for (const i of items) expect(twoStep.executions(i.idempotencyKey)).toBe(1);
    expect(await two().approveBatch(batchId, randomUUID())).toEqual({ kind: 'refused', outcome: { kind: 'failed', reason: 'payee_not_allowed', providerCode: 'gsma:incorrectState' } });
  });

  it('when items fail, run short of float or never finish, then the batch is partly completed: each item reads its own outcome, the unfinished one none (pending)', async () => {
    oneStep.setFaults({ rules: [{ pattern: '0901$', fault: 'fail', errorCode: 'maxBalanceExceeded' }, { pattern: '0902$', fault: 'insufficient-float' }, { pattern: '0903$', fault: 'pending-forever' }] });
    const items = [item('+254720000900'), item('+254720000901'), item('+254720000902'), item('+254720000903')];
    const batchKey = randomUUID();
    expect((await client().createBatch(batchKey, items, `${base}/cb/batch-3`)).kind).toBe('accepted');
    await until(() => callbacks.find((c) => c.path === '/cb/batch-3'));
    const found = await client().batchStatus(batchKey, null);
    expect(found.kind).toBe('found');
    if (found.kind !== 'found') return;
    expect(found.view.status).toBe('approved');
    expect(items.map((i) => found.items.get(keyOf(i)))).toEqual([
      { kind: 'paid', providerReference: expect.any(String), facts: { amount: null, currency: null, receiver: '+254720000900', fee: null } },
      { kind: 'failed', reason: 'payee_limit_exceeded', providerCode: 'gsma:batch-rejection:maxBalanceExceeded' },
      { kind: 'failed', reason: 'insufficient_float', providerCode: 'gsma:batch-rejection:insufficientFunds' },
      undefined,
    ]);
    expect(items.map((i) => oneStep.executions(i.idempotencyKey))).toEqual([1, 0, 0, 0]);
  });

  it('when a batch stays created, then it never runs, an approval is taken but changes nothing, and its items read no outcome', async () => {
    twoStep.setFaults({ batchRules: [{ pattern: '0911$', fault: 'stays-created' }] });
    const items = [item('+254720000911'), item()];
    const batchKey = randomUUID();
    expect((await two().createBatch(batchKey, items, null)).kind).toBe('accepted');
    const created = await eventually(async () => { const f = await two().batchStatus(batchKey, null); return f.kind === 'found' ? f : undefined; }, 10_000, 'the batch');
    await twoStep.drained(); // the batch is visible before it is parsed, and only a parsed one takes its approval
    expect((await two().approveBatch(created.view.batchId, randomUUID())).kind).toBe('accepted');
    await twoStep.drained();
    expect(await two().batchStatus(batchKey, null)).toMatchObject({ kind: 'found', view: { status: 'created' }, items: new Map() });
    for (const i of items) expect(twoStep.executions(i.idempotencyKey)).toBe(0);
  });
});

describe('GSMA bulk: whole-batch refusals and the single-payment faults', () => {
  it('when the provider rejects the batch whole after accepting it, then its request state fails with the reason every item takes (as a single payment would), the callback is an ErrorObject, and nothing ran', async () => {
    oneStep.setFaults({ batchRules: [{ pattern: '0921$', fault: 'reject', errorCode: 'insufficientFunds' }] });
    const items = [item('+254720000921'), item()];
    const batchKey = randomUUID();
    const sent = await client().createBatch(batchKey, items, `${base}/cb/batch-21`);
    const cb = await until(() => callbacks.find((c) => c.path === '/cb/batch-21'));
    expect(cb.body).toMatchObject({ errorCategory: 'businessRule', errorCode: 'insufficientFunds' });
    expect(await client().batchStatus(batchKey, sent.kind === 'accepted' ? sent.serverCorrelationId : null)).toEqual({ kind: 'rejected', outcome: { kind: 'failed', reason: 'insufficient_float', providerCode: 'gsma:insufficientFunds' } });
    for (const i of items) expect(oneStep.executions(i.idempotencyKey)).toBe(0);
  });

  it('when the provider refuses the batch at once, then nothing is created and every item has the refusal', async () => {
    oneStep.setFaults({ batchRules: [{ pattern: '0922$', fault: 'refuse', errorCode: 'requestDeclined' }] });
    const batchKey = randomUUID();
    expect(await client().createBatch(batchKey, [item('+254720000922')], null)).toEqual({ kind: 'refused', outcome: { kind: 'failed', reason: 'declined', providerCode: 'gsma:requestDeclined' } });
    expect(await client().batchStatus(batchKey, null)).toEqual({ kind: 'not-created' });
  });

  it('when the answer is held past the client\'s timeout, or is a 503, after the batch was created, then it is unknown and a query under the batch\'s X-CorrelationID finds every item paid, each run once', async () => {
    oneStep.setFaults({ batchRules: [{ pattern: '0931$', fault: 'timeout-after-create', holdMs: 3_000 }, { pattern: '0932$', fault: 'error-503-after-create' }] });
    for (const msisdn of ['+254720000931', '+254720000932']) {
      const items = [item(msisdn), item()];
      const batchKey = randomUUID();
      expect((await client().createBatch(batchKey, items, null)).kind).toBe('unknown');
      const found = await eventually(async () => { const f = await client().batchStatus(batchKey, null); return f.kind === 'found' && f.view.status === 'completed' ? f : undefined; }, 10_000, 'the batch');
      for (const i of items) {
        expect(found.items.get(keyOf(i))?.kind).toBe('paid');
        expect(oneStep.executions(i.idempotencyKey)).toBe(1);
      }
    }
  });

  it('when the same batch X-CorrelationID is sent again, then the provider refuses it as a duplicate (unknown: query it) and nothing runs twice', async () => {
    const items = [item()];
    const batchKey = randomUUID();
    expect((await client().createBatch(batchKey, items, null)).kind).toBe('accepted');
    expect(await client().createBatch(batchKey, items, null)).toEqual({ kind: 'unknown', outcome: { kind: 'unknown', providerCode: 'gsma:duplicateRequest', detail: 'exists: query' } });
    await oneStep.drained();
    expect(oneStep.executions(items[0]!.idempotencyKey)).toBe(1);
  });

  it('when a batch key was never sent, then the query says not created (the same request may be sent again)', async () => {
    expect(await client().batchStatus(randomUUID(), null)).toEqual({ kind: 'not-created' });
  });

  it('when the batch callback is lost, comes twice, or a stale one follows the final one, then the batch still reads the same by query', async () => {
    oneStep.setFaults({ batchRules: [{ pattern: '0941$', fault: 'lost-callback' }, { pattern: '0942$', fault: 'duplicate-callback' }, { pattern: '0943$', fault: 'out-of-order-callback' }] });
    const lost = randomUUID();
    const dup = randomUUID();
    const stale = randomUUID();
    await client().createBatch(lost, [item('+254720000941')], `${base}/cb/batch-41`);
    await client().createBatch(dup, [item('+254720000942')], `${base}/cb/batch-42`);
    await client().createBatch(stale, [item('+254720000943')], `${base}/cb/batch-43`);
    await oneStep.drained();
    expect(callbacks.filter((c) => c.path === '/cb/batch-41')).toHaveLength(0);
    expect(callbacks.filter((c) => c.path === '/cb/batch-42')).toHaveLength(2);
    expect(callbacks.filter((c) => c.path === '/cb/batch-43').map((c) => (c.body as { batchStatus: string }).batchStatus)).toEqual(['completed', 'created']);
    for (const key of [lost, dup, stale]) expect(await client().batchStatus(key, null)).toMatchObject({ kind: 'found', view: { status: 'completed' } });
  });

  it('when batch items ran, then each is a transaction of its own (its completion\'s link reads it), and the provider\'s statement has each under its reference, failures too', async () => {
    oneStep.setFaults({ rules: [{ pattern: '0951$', fault: 'fail', errorCode: 'identifierError' }] });
    const items = [item('+254720000950'), item('+254720000951')];
    const batchKey = randomUUID();
    await client().createBatch(batchKey, items, null);
    const found = await eventually(async () => { const f = await client().batchStatus(batchKey, null); return f.kind === 'found' && f.view.status === 'completed' ? f : undefined; }, 10_000, 'the batch');
    const paidRef = (found.items.get(keyOf(items[0]!)) as { providerReference: string }).providerReference;
    const token = ((await (await fetch(`${base}/oauth/accesstoken`, { method: 'POST', headers: { 'x-test-raw': '1', authorization: `Basic ${Buffer.from('ck:cs').toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials' })).json()) as { access_token: string }).access_token;
    const tx = await fetch(`${base}/transactions/${paidRef}`, { headers: { 'x-test-raw': '1', authorization: `Bearer ${token}`, 'x-api-key': credentials.apiKey, 'x-date': new Date().toISOString() } });
    expect(await tx.json()).toMatchObject({ transactionReference: paidRef, transactionStatus: 'completed', amount: '1500.5', requestingOrganisationTransactionReference: items[0]!.idempotencyKey });
    const lines = oneStep.statement().filter((l) => items.some((i) => keyOf(i) === l.correlationId));
    expect(lines.map((l) => [l.correlationId, l.amount, l.status, l.msisdn])).toEqual([[keyOf(items[0]!), '1500.50', 'completed', '**********950'], [keyOf(items[1]!), '1500.50', 'failed', '**********951']]);
  });

  it('when the provider reports another receiver for an item, or reverses one after completing it, then the completion says so and the item\'s transaction and statement keep the truth', async () => {
    oneStep.setFaults({ rules: [{ pattern: '0961$', reportReceiver: '254799999999' }, { pattern: '0962$', fault: 'reverse-after-success', delayMs: 20 }] });
    const items = [item('+254720000961'), item('+254720000962')];
    const batchKey = randomUUID();
    await client().createBatch(batchKey, items, null);
    const found = await eventually(async () => { const f = await client().batchStatus(batchKey, null); return f.kind === 'found' && f.view.status === 'completed' ? f : undefined; }, 10_000, 'the batch');
    expect(found.items.get(keyOf(items[0]!))).toMatchObject({ kind: 'paid', facts: { receiver: '+254799999999' } });
    await oneStep.drained();
    const lines = oneStep.statement().filter((l) => items.some((i) => keyOf(i) === l.correlationId));
    expect(lines.map((l) => [l.msisdn, l.status, l.amount])).toEqual([['**********961', 'completed', '1500.50'], ['**********962', 'completed', '1500.50'], ['**********962', 'reversed', '-1500.50']]);
  });

  it('when a batch has more items than a page, then every item is read from its completions and rejections pages', async () => {
    oneStep.setFaults({ rules: [{ pattern: '^\\+25473[0-9]*[05]$', fault: 'fail', errorCode: 'identifierError' }] });
    const items = Array.from({ length: 450 }, (_, i) => item(`+25473${String(i).padStart(7, '0')}`, BigInt(100 + i)));
    const batchKey = randomUUID();
    expect((await client().createBatch(batchKey, items, null)).kind).toBe('accepted');
    const found = await eventually(async () => { const f = await client().batchStatus(batchKey, null); return f.kind === 'found' && f.view.status === 'completed' ? f : undefined; }, 10_000, 'the batch');
    expect(found.items.size).toBe(450);
    const failedCount = [...found.items.values()].filter((o) => o.kind === 'failed').length;
    expect(failedCount).toBe(90);
    expect(requests.filter((r) => r.path.endsWith('/completions')).length).toBeGreaterThan(1);
  });
});

describe('GSMA bulk simulator: hostile and malformed input', () => {
  let token = '';
  beforeAll(async () => {
    token = ((await (await fetch(`${base}/two/oauth/accesstoken`, {
      method: 'POST', headers: { 'x-test-raw': '1', authorization: `Basic ${Buffer.from('ck:cs').toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials',
    })).json()) as { access_token: string }).access_token;
  });
  const raw = (method: string, path: string, body: string, headers: Record<string, string> = {}) => fetch(`${base}/two${path}`, {
    method, body, headers: { 'x-test-raw': '1', authorization: `Bearer ${token}`, 'x-api-key': credentials.apiKey, 'content-type': 'application/json', 'x-correlationid': randomUUID(), ...headers },
  });
  const tx = (over: Record<string, unknown> = {}) => ({ type: 'disbursement', amount: '1', currency: 'KES', creditParty: [{ key: 'msisdn', value: '+254712345690' }], debitParty: [{ key: 'walletid', value: '1' }], requestingOrganisationTransactionReference: randomUUID(), ...over });

  afterEach(() => {
    // Hand-made requests are not the client's: the contract check above does not apply to them.
    requests.length = 0;
    answers.length = 0;
  });

  it.each([
    ['no body', '', 400, 'mandatoryValueNotSupplied'],
    ['not JSON', '{"transactions": [', 400, 'formatError'],
    ['transactions not a list', JSON.stringify({ transactions: {} }), 400, 'mandatoryValueNotSupplied'],
    ['no transactions', JSON.stringify({ transactions: [] }), 400, 'mandatoryValueNotSupplied'],
    ['too many transactions', JSON.stringify({ transactions: Array.from({ length: gsmaSimulatorBatchItemsMax + 1 }, () => ({})) }), 400, 'lengthError'],
    ['an oversized title', JSON.stringify({ transactions: [tx()], batchTitle: 'x'.repeat(257) }), 400, 'lengthError'],
    ['a body past the size limit', JSON.stringify({ transactions: [tx({ descriptionText: 'x'.repeat(9 * 1024 * 1024) })] }), 400, 'lengthError'],
  ])('when a batch has %s, then it is refused and nothing is created', async (_what, body, status, code) => {
    const key = randomUUID();
    const res = await raw('POST', '/batchtransactions', body, { 'x-correlationid': key });
    expect(res.status).toBe(status);
    expect(await res.json()).toMatchObject({ errorCode: code });
    expect(await two().batchStatus(key, null)).toEqual({ kind: 'not-created' });
  });

  it('when some items of a batch are malformed (a padded amount, a number, another type), then those items are rejected at parsing with the reason and the rest run', async () => {
    const good = tx();
    const bad = [tx({ amount: '1.50' }), tx({ amount: 1 }), tx({ type: 'merchantpay' }), tx({ currency: 'XYZ' })];
    const key = randomUUID();
    const res = await raw('POST', '/batchtransactions', JSON.stringify({ transactions: [good, ...bad] }), { 'x-correlationid': key });
    expect(res.status).toBe(202);
    const created = await eventually(async () => { const f = await two().batchStatus(key, null); return f.kind === 'found' ? f : undefined; }, 10_000, 'the batch');
    await twoStep.drained(); // the batch is visible before it is parsed, and only a parsed one takes its approval
    expect((await two().approveBatch(created.view.batchId, randomUUID())).kind).toBe('accepted');
    const done = await eventually(async () => { const f = await two().batchStatus(key, null); return f.kind === 'found' && f.view.status === 'completed' ? f : undefined; }, 10_000, 'the batch');
    expect(done.items.get(good.requestingOrganisationTransactionReference)?.kind).toBe('paid');
    expect(bad.map((b) => done.items.get(b.requestingOrganisationTransactionReference))).toEqual([
      { kind: 'failed', reason: 'request_invalid', providerCode: 'gsma:batch-rejection:formatError' },
      { kind: 'failed', reason: 'request_invalid', providerCode: 'gsma:batch-rejection:formatError' },
      { kind: 'failed', reason: 'not_permitted', providerCode: 'gsma:batch-rejection:transactionTypeError' },
      { kind: 'failed', reason: 'amount_invalid', providerCode: 'gsma:batch-rejection:currencyNotSupported' },
    ]);
  });

  it.each([
    ['another operation', JSON.stringify([{ op: 'remove', path: '/batchStatus' }]), 400, 'formatError'],
    ['another status', JSON.stringify([{ op: 'replace', path: '/batchStatus', value: 'completed' }]), 400, 'formatError'],
    ['two operations', JSON.stringify([{ op: 'replace', path: '/batchStatus', value: 'approved' }, { op: 'replace', path: '/batchStatus', value: 'approved' }]), 400, 'formatError'],
    ['not a list', JSON.stringify({ op: 'replace', path: '/batchStatus', value: 'approved' }), 400, 'formatError'],
  ])('when an approval carries %s, then it is refused and the batch stays created', async (_what, body, status, code) => {
    const key = randomUUID();
    await raw('POST', '/batchtransactions', JSON.stringify({ transactions: [tx()] }), { 'x-correlationid': key });
    const created = await eventually(async () => { const f = await two().batchStatus(key, null); return f.kind === 'found' ? f : undefined; }, 10_000, 'the batch');
    const res = await raw('PATCH', `/batchtransactions/${created.view.batchId}`, body);
    expect(res.status).toBe(status);
    expect(await res.json()).toMatchObject({ errorCode: code });
    expect(await two().batchStatus(key, null)).toMatchObject({ kind: 'found', view: { status: 'created' } });
  });

  it.each([
    ['limit=0', 'formatError'],
    ['limit=1001', 'formatError'],
    ['limit=abc', 'formatError'],
    ['offset=-1', 'invalidOffset'],
    ['limit=1&limit=2', 'formatError'],
  ])('when completions are asked with %s, then the query is refused', async (query, code) => {
    const key = randomUUID();
    await raw('POST', '/batchtransactions', JSON.stringify({ transactions: [tx()] }), { 'x-correlationid': key });
    const created = await eventually(async () => { const f = await two().batchStatus(key, null); return f.kind === 'found' ? f : undefined; }, 10_000, 'the batch');
    const res = await fetch(`${base}/two/batchtransactions/${created.view.batchId}/completions?${query}`, { headers: { 'x-test-raw': '1', authorization: `Bearer ${token}`, 'x-api-key': credentials.apiKey } });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ errorCode: code });
  });
});

describe('GSMA bulk client against a provider of its own ways', () => {
  let stub: Server;
  let stubBase: string;
  const keys = Array.from({ length: 120 }, () => randomUUID());
  let completions: (offset: number, limit: number) => { status: number; body: string; count?: string } = () => ({ status: 200, body: '[]' });

  beforeAll(async () => {
    const app = express();
    app.post('/oauth/accesstoken', (_req, res) => res.json({ access_token: 't', token_type: 'Bearer', expires_in: 3600 }));
    app.get('/responses/:id', (req, res) => res.json({ link: `http://x/batchtransactions/b-${req.params.id}` }));
    app.get('/batchtransactions/:id', (req, res) => res.json({ batchId: req.params.id, batchStatus: 'completed' }));
    app.get('/batchtransactions/:id/completions', (req, res) => {
      const page = completions(Number(req.query.offset), Number(req.query.limit));
      if (page.count !== undefined) res.setHeader('X-Records-Available-Count', page.count);
      res.status(page.status).type('application/json').send(page.body);
    });
    app.get('/batchtransactions/:id/rejections', (_req, res) => res.json([]));
    stub = app.listen(0, '127.0.0.1');
    await new Promise((r) => stub.once('listening', r));
    stubBase = `http://127.0.0.1:${(stub.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise((r) => stub.close(r));
  });

  afterEach(() => {
    // The stub is not the simulator: its answers are this test's own.
    requests.length = 0;
    answers.length = 0;
  });

  const entry = (key: string) => ({ transactionReference: `tx-${key}`, requestingOrganisationTransactionReference: key, creditParty: [{ key: 'msisdn', value: '+254700000001' }], debitParty: [{ key: 'walletid', value: '1' }], completionDate: '2026-01-01T00:00:00Z', link: 'x' });

  it('when the provider caps its pages below what was asked, then its count of records decides and every item is read', async () => {
    completions = (offset) => ({ status: 200, body: JSON.stringify(keys.slice(offset, offset + 50).map(entry)), count: '120' });
    const found = await client({ baseUrl: stubBase }).batchStatus(randomUUID(), null);
    expect(found.kind === 'found' ? found.items.size : found).toBe(120);
  });

  it.each([
    ['a page past the size bound', () => ({ status: 200, body: `[${'{"x":"' + 'y'.repeat(2 * 1024 * 1024) + '"}'}]` })],
    ['a page that is not a list', () => ({ status: 200, body: '{"transactions": []}' })],
    ['a page that is not JSON', () => ({ status: 200, body: '[{' })],
    ['a 500', () => ({ status: 500, body: '{}' })],
  ])('when the provider answers %s, then the batch reads unknown (asked again later), never a failure', async (_what, page) => {
    completions = page;
    expect(await client({ baseUrl: stubBase }).batchStatus(randomUUID(), null)).toMatchObject({ kind: 'unknown' });
  });

  it('when entries are malformed (no reference, a reference that is not a key), then they name no item', async () => {
    completions = () => ({ status: 200, body: JSON.stringify([{ transactionReference: 'a' }, { ...entry('not-a-key') }, entry(keys[0]!)]), count: '3' });
    const found = await client({ baseUrl: stubBase }).batchStatus(randomUUID(), null);
    expect(found.kind === 'found' ? [...found.items.keys()] : found).toEqual([keys[0]]);
  });
});

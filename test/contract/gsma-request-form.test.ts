// Per-account request form (issue #20 item 2): a GSMA account says which of the specification's
// two disbursement forms it speaks (POST /transactions/type/disbursement, or POST /transactions
// with "type": "disbursement" in the body) and whether it sends X-Client-Id, X-API-Key and X-Date
// (and in which form). Each is tested against a simulator that insists on it and refuses a request
// without it; every request the client sends, whatever its form, is one the contract accepts. The
// accounts file refuses a bad value at start, naming its place.
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import express from 'express';
import { pino } from 'pino';
import { GsmaClient, gsmaClientSettings, type GsmaSettings } from '../../src/adapters/providers/gsma/gsma-client.js';
import { createGsmaSimulator, type GsmaSimulator, type GsmaSimulatorOptions } from '../../src/simulator/gsma-simulator.js';
import { loadProviderAccounts } from '../../src/config/provider-accounts.js';
import { loadContract } from '../support/openapi.js';

const contract = loadContract('providers/gsma-mmapi-v1.2.openapi.yaml');
const logger = pino({ level: 'silent' });
const credentials = { consumerKey: 'ck', consumerSecret: 'cs' };

interface Seen {
  readonly prefix: string;
  readonly method: string;
  readonly path: string;
  readonly headers: Record<string, unknown>;
  readonly body: unknown;
}

/** Simulators, each insisting on one thing, under their own prefix. */
const insisting: Record<string, Omit<GsmaSimulatorOptions, 'consumerKey' | 'consumerSecret' | 'logger' | 'callbackDelayMs'>> = {
  'in-body': { disbursementForm: 'type-in-body' },
  'in-path': { disbursementForm: 'type-in-path' },
  'client-id': { clientId: 'tuma-client-7' },
  'api-key': { apiKey: 'key-42' },
  'date-time': { requireDate: 'date-time' },
  'http-date': { requireDate: 'http-date' },
  all: { disbursementForm: 'type-in-body', clientId: 'tuma-client-7', apiKey: 'key-42', requireDate: 'http-date' },
};

let server: Server;
let base: string;
const simulators = new Map<string, GsmaSimulator>();
const requests: Seen[] = [];
const answers: { prefix: string; method: string; path: string; status: number; body: unknown }[] = [];

beforeAll(async () => {
  const app = express();
  app.use(express.json({ limit: '64kb' }));
  app.use(express.urlencoded({ extended: false, limit: '4kb' }));
  for (const [prefix, options] of Object.entries(insisting)) {
    const simulator = createGsmaSimulator({ ...credentials, ...options, callbackDelayMs: 5, logger });
    simulators.set(prefix, simulator);
    app.use(`/${prefix}`, (req, res, next) => {
      requests.push({ prefix, method: req.method, path: req.path, headers: req.headers, body: req.body });
      const json = res.json.bind(res);
      res.json = (body: unknown) => {
        answers.push({ prefix, method: req.method, path: req.path, status: res.statusCode, body });
        return json(body);
      };
      next();
    }, simulator.router);
  }
  app.put('/cb/*rest', (_req, res) => res.status(204).end());
  server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const s of simulators.values()) s.close();
  await new Promise((r) => server.close(r));
});

afterEach(() => {
  // Every request the client sent is one the contract accepts: its body and its headers.
  for (const r of requests) {
    const template = contract.templateOf(r.path);
    expect({ path: r.path, template }).toEqual({ path: r.path, template: expect.any(String) });
    if (template === '/oauth/accesstoken') continue;
    expect({ path: r.path, problems: contract.parameterProblems(r.method, template!, { headers: r.headers }) }).toEqual({ path: r.path, problems: [] });
    if (r.method === 'POST') expect({ path: r.path, problems: contract.requestProblems('post', template!, r.body) }).toEqual({ path: r.path, problems: [] });
  }
  for (const a of answers) {
    const template = contract.templateOf(a.path)!;
    expect({ path: a.path, problems: contract.responseProblems(a.method, template, a.status, a.body) }).toEqual({ path: a.path, problems: [] });
  }
  requests.length = 0;
  answers.length = 0;
});

const client = (prefix: string, over: Partial<GsmaSettings> = {}) =>
  new GsmaClient({ baseUrl: `${base}/${prefix}`, ...credentials, debitParty: [{ key: 'walletid', value: '1' }], timeoutMs: 2_000, ...over }, logger);
let n = 0;
const payout = () => {
  n++;
  return { payoutId: `p-${n}`, idempotencyKey: randomUUID(), msisdn: `+2547100${String(n).padStart(5, '0')}`, amountMinor: 12_345n, currency: 'KES' as const, callbackUrl: `${base}/cb/${n}` };
};
const posts = (prefix: string) => requests.filter((r) => r.prefix === prefix && r.method === 'POST' && r.path !== '/oauth/accesstoken');

describe('GSMA disbursement form per account', () => {
  it('when the provider serves POST /transactions only and the account says type-in-body, then the request goes there with "type": "disbursement" in the body and runs once', async () => {
    const p = payout();
    expect((await client('in-body', { disbursementForm: 'type-in-body' }).submit(p)).kind).toBe('pending');
    expect(posts('in-body').map((r) => [r.path, (r.body as { type?: string }).type, (r.body as { amount: string }).amount])).toEqual([['/transactions', 'disbursement', '123.45']]);
    expect(simulators.get('in-body')!.executions(p.idempotencyKey)).toBe(1);
    await simulators.get('in-body')!.drained(); // completed after its callback delay
    expect(await client('in-body', { disbursementForm: 'type-in-body' }).status({ ...p, providerReference: null })).toMatchObject({ kind: 'paid' });
  });

  it('when the provider serves POST /transactions only and the account says type-in-path, then the provider refuses it and nothing runs', async () => {
    const p = payout();
    const outcome = await client('in-body').submit(p);
    expect(outcome.kind).not.toBe('paid');
    expect(outcome.kind).not.toBe('pending');
    expect(answers.filter((a) => a.prefix === 'in-body' && a.method === 'POST' && a.path !== '/oauth/accesstoken').map((a) => a.status)).toEqual([404]);
    expect(simulators.get('in-body')!.executions(p.idempotencyKey)).toBe(0);
  });

  it('when the provider serves the type path only, then type-in-path reaches it and type-in-body is refused, nothing run', async () => {
    const ok = payout();
    expect((await client('in-path', { disbursementForm: 'type-in-path' }).submit(ok)).kind).toBe('pending');
    expect(posts('in-path').map((r) => [r.path, 'type' in (r.body as object)])).toEqual([['/transactions/type/disbursement', false]]);
    const refused = payout();
    expect((await client('in-path', { disbursementForm: 'type-in-body' }).submit(refused)).kind).not.toBe('pending');
    expect(simulators.get('in-path')!.executions(refused.idempotencyKey)).toBe(0);
  });

  it.each([
    ['no type', {}, 400, 'mandatoryValueNotSupplied'],
    ['another type', { type: 'merchantpay' }, 400, 'transactionTypeError'],
    ['a type that is not a string', { type: 7 }, 400, 'transactionTypeError'],
  ])('when POST /transactions carries %s, then the provider refuses it and runs nothing', async (_what, extra, status, code) => {
    const token = (await (await fetch(`${base}/in-body/oauth/accesstoken`, {
      method: 'POST', headers: { authorization: `Basic ${Buffer.from('ck:cs').toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials',
    })).json()) as { access_token: string };
    const key = randomUUID();
    const res = await fetch(`${base}/in-body/transactions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token.access_token}`, 'content-type': 'application/json', 'x-correlationid': key },
      body: JSON.stringify({ amount: '1', currency: 'KES', creditParty: [{ key: 'msisdn', value: '+254712345690' }], debitParty: [{ key: 'walletid', value: '1' }], ...extra }),
    });
    expect(res.status).toBe(status);
    expect(await res.json()).toMatchObject({ errorCode: code });
    expect(simulators.get('in-body')!.executions(key)).toBe(0);
    // Hand-made requests: not the client's, not held to the contract.
    requests.length = 0;
    answers.length = 0;
  });
});

describe('GSMA headers per account', () => {
  it('when the provider insists on X-Client-Id, then an account without it is refused (credentials, nothing run) and one with it is served', async () => {
    const refused = payout();
    expect(await client('client-id').submit(refused)).toEqual({ kind: 'failed', reason: 'credentials_invalid', providerCode: 'gsma:clientAuthorisationError' });
    expect(simulators.get('client-id')!.executions(refused.idempotencyKey)).toBe(0);
    const wrong = payout();
    expect((await client('client-id', { clientId: 'someone-else' }).submit(wrong)).kind).toBe('failed');
    const ok = payout();
    expect((await client('client-id', { clientId: 'tuma-client-7' }).submit(ok)).kind).toBe('pending');
    await simulators.get('client-id')!.drained(); // completed after its callback delay
    expect(await client('client-id', { clientId: 'tuma-client-7' }).status({ ...ok, providerReference: null })).toMatchObject({ kind: 'paid' });
    // Every call of that account carried it, the status queries too.
    const served = requests.filter((r) => r.prefix === 'client-id' && r.path !== '/oauth/accesstoken' && r.headers['x-client-id'] === 'tuma-client-7');
    expect(served.map((r) => r.method).sort()).toEqual(['GET', 'GET', 'POST']);
  });

  it('when the provider insists on X-API-Key, then an account without it is refused and one with it is served', async () => {
    const refused = payout();
    expect(await client('api-key').submit(refused)).toEqual({ kind: 'failed', reason: 'credentials_invalid', providerCode: 'gsma:clientAuthorisationError' });
    expect(simulators.get('api-key')!.executions(refused.idempotencyKey)).toBe(0);
    const ok = payout();
    expect((await client('api-key', { apiKey: 'key-42' }).submit(ok)).kind).toBe('pending');
  });

  it.each([
    ['date-time', 'none', 'mandatoryValueNotSupplied'],
    ['date-time', 'http-date', 'formatError'],
    ['http-date', 'none', 'mandatoryValueNotSupplied'],
    ['http-date', 'date-time', 'formatError'],
  ] as const)('when the provider insists on X-Date as a %s and the account sends %s, then it is refused before execution, and the status query too', async (prefix, dateHeader, code) => {
    const p = payout();
    expect(await client(prefix, { dateHeader }).submit(p)).toEqual({ kind: 'failed', reason: 'request_invalid', providerCode: `gsma:${code}` });
    expect(simulators.get(prefix)!.executions(p.idempotencyKey)).toBe(0);
    expect((await client(prefix, { dateHeader }).status({ ...p, providerReference: null })).kind).toBe('unknown');
  });

  it.each(['date-time', 'http-date'] as const)('when the provider insists on X-Date as a %s and the account sends one, then it is served and every call carried it', async (form) => {
    const p = payout();
    expect((await client(form, { dateHeader: form }).submit(p)).kind).toBe('pending');
    // The simulator completes the payment after its callback delay: asked before that, it is still pending.
    await simulators.get(form)!.drained();
    expect(await client(form, { dateHeader: form }).status({ ...p, providerReference: null })).toMatchObject({ kind: 'paid' });
    const dates = requests.filter((r) => r.prefix === form && r.path !== '/oauth/accesstoken').map((r) => String(r.headers['x-date']));
    expect(dates.length).toBe(3);
    for (const d of dates) expect(d).toMatch(form === 'date-time' ? /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/ : /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/);
  });

  it('when the provider insists on all of them, then an account configured with all of them (as the accounts file gives them) is served', async () => {
    const settings = gsmaClientSettings({
      baseUrl: `${base}/all`, tokenBaseUrl: null, ...credentials, apiKey: 'key-42', clientId: 'tuma-client-7', disbursementForm: 'type-in-body', dateHeader: 'http-date', debitParty: [{ key: 'walletid', value: '1' }],
    }, 2_000);
    const p = payout();
    expect((await new GsmaClient(settings, logger).submit(p)).kind).toBe('pending');
    // Completed after the simulator's callback delay: asked before that, it is still pending.
    await simulators.get('all')!.drained();
    expect(await new GsmaClient(settings, logger).status({ ...p, providerReference: null })).toMatchObject({ kind: 'paid' });
    expect(simulators.get('all')!.executions(p.idempotencyKey)).toBe(1);
  });
});

describe('GSMA account configuration at start', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tuma-gsma-accounts-'));
  const env = { GSMA_KEY: 'k', GSMA_SECRET: 's', GSMA_API_KEY: 'a' };
  const load = (extra: Record<string, unknown>) => {
    const file = join(dir, `${randomUUID()}.json`);
    writeFileSync(file, JSON.stringify({ accounts: [{
      id: 'gsma-sl', provider: 'gsma', country: 'SL', currency: 'SLE', baseUrl: 'https://gsma.example/v1.2/mm',
      consumerKey: { env: 'GSMA_KEY' }, consumerSecret: { env: 'GSMA_SECRET' }, debitParty: [{ key: 'walletid', value: '1' }], ...extra,
    }] }));
    const problems: string[] = [];
    const accounts = loadProviderAccounts(file, env, problems);
    return { accounts, problems };
  };

  it('when an account says nothing of its form, then it speaks the type path with an RFC 3339 X-Date and no X-Client-Id', () => {
    const { accounts, problems } = load({});
    expect(problems).toEqual([]);
    expect(accounts?.[0]?.settings).toMatchObject({ disbursementForm: 'type-in-path', dateHeader: 'date-time', clientId: null, apiKey: null });
  });

  it('when an account takes batches, then its bulk settings are read with their defaults (one-step, 20 ms)', () => {
    expect(load({ bulk: { itemsMax: 500 } }).accounts?.[0]?.settings).toMatchObject({ bulk: { itemsMax: 500, approval: 'one-step', lingerMs: 20 } });
    expect(load({ bulk: { itemsMax: 1, approval: 'two-step', lingerMs: 0 } }).accounts?.[0]?.settings).toMatchObject({ bulk: { itemsMax: 1, approval: 'two-step', lingerMs: 0 } });
    expect(load({}).accounts?.[0]?.settings).toMatchObject({ bulk: null });
  });

  it('when an account says its form, client id, API key and date form, then they are what its client sends', () => {
    const { accounts, problems } = load({ disbursementForm: 'type-in-body', clientId: 'tuma-7', apiKey: { env: 'GSMA_API_KEY' }, dateHeader: 'none' });
    expect(problems).toEqual([]);
    const account = accounts![0]!;
    if (account.provider !== 'gsma') throw new Error('not gsma');
    expect(gsmaClientSettings(account.settings, 1_000)).toMatchObject({ disbursementForm: 'type-in-body', clientId: 'tuma-7', apiKey: 'a', dateHeader: 'none' });
  });

  it.each([
    ['an unknown form', { disbursementForm: 'path' }, 'accounts[0].disbursementForm: must be "type-in-path" (POST /transactions/type/disbursement) or "type-in-body"'],
    ['a form of the wrong type', { disbursementForm: 1 }, 'accounts[0].disbursementForm: must be "type-in-path"'],
    ['an unknown date form', { dateHeader: 'rfc822' }, 'accounts[0].dateHeader: must be "date-time" (RFC 3339), "http-date" (RFC 7231) or "none"'],
    ['a client id with a space', { clientId: 'tuma 7' }, 'accounts[0].clientId: must be 1-256 printable ASCII characters'],
    ['a client id with a line break (header injection)', { clientId: 'a\r\nX-Evil: 1' }, 'accounts[0].clientId: must be 1-256 printable ASCII characters'],
    ['an empty client id', { clientId: '' }, 'accounts[0].clientId: must be 1-256 printable ASCII characters'],
    ['an oversized client id', { clientId: 'x'.repeat(257) }, 'accounts[0].clientId: must be 1-256 printable ASCII characters'],
    ['an API key written in the file', { apiKey: 'in-clear' }, 'accounts[0].apiKey: must be {"env": "VARIABLE"} or {"file": "/path"}'],
    ['bulk without itemsMax', { bulk: {} }, 'accounts[0].bulk.itemsMax: must be a whole number from 1 to 10000'],
    ['bulk of no items', { bulk: { itemsMax: 0 } }, 'accounts[0].bulk.itemsMax: must be a whole number from 1 to 10000'],
    ['bulk past the maximum', { bulk: { itemsMax: 10_001 } }, 'accounts[0].bulk.itemsMax: must be a whole number from 1 to 10000'],
    ['bulk of a fractional size', { bulk: { itemsMax: 2.5 } }, 'accounts[0].bulk.itemsMax: must be a whole number from 1 to 10000'],
    ['bulk of a size given as text', { bulk: { itemsMax: '100' } }, 'accounts[0].bulk.itemsMax: must be a whole number from 1 to 10000'],
    ['an unknown approval', { bulk: { itemsMax: 100, approval: 'maker-checker' } }, 'accounts[0].bulk.approval: must be "one-step" (the provider runs a batch at once) or "two-step"'],
    ['a linger past the maximum', { bulk: { itemsMax: 100, lingerMs: 5_000 } }, 'accounts[0].bulk.lingerMs: must be a whole number from 0 to 1000'],
    ['an unknown bulk setting', { bulk: { itemsMax: 100, parallel: true } }, 'accounts[0].bulk: Unrecognized key'],
  ])('when an account has %s, then start is refused with the place and what is allowed', (_what, extra, message) => {
    const { accounts, problems } = load(extra);
    expect(accounts).toBeNull();
    expect(problems).toEqual([expect.stringContaining(`PROVIDERS_FILE ${message}`)]);
  });
});

// No secret in any log line (issue #19 item 6). Tuma's whole runtime (every role, the real Kafka
// broker, real PostgreSQL, the four provider simulators) runs with the process's own logger
// (src/cli/logger.ts) at trace level, every line kept in memory, and pays a small batch through
// every provider: M-Pesa, MTN MoMo, Airtel (hmac-signed callbacks) and GSMA, each with a payout
// paid, one refused, and one whose callback is lost, so the status poller asks (M-Pesa answers its
// query with a callback on the status token's URL), plus duplicate callbacks and late M-Pesa
// timeout and status-timeout callbacks. Every secret issued or used during the run is collected:
//  - every callback token: each callback URL handed to a provider client (their submit and status
//    are wrapped, so even the tokens of Airtel attempts, never sent, are seen), checked against
//    every token hash the database stored, so none is missed;
//  - what went over the wire to the simulators (a recording proxy stands in front of them): basic
//    and bearer credentials, the access tokens they issued, subscription and API keys, the
//    encrypted Airtel PIN, the SecurityCredential, the callback URLs;
//  - every provider credential configured (consumer keys and secrets, API user and key,
//    subscription key, API key, client id and secret, PIN, HMAC secret, SecurityCredential), the
//    master key, and every bearer JWT the test sent to the API.
// No log line may contain any of them, as is, URL-encoded, base64 or base64url; and each
// provider contributed secrets of each kind, so the check cannot pass for want of any.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import type { ProviderAdapter, StatusQuery, SubmitRequest } from '../../src/application/ports.js';
import { AirtelClient } from '../../src/adapters/providers/airtel/airtel-client.js';
import { GsmaClient } from '../../src/adapters/providers/gsma/gsma-client.js';
import { MpesaClient } from '../../src/adapters/providers/mpesa/mpesa-client.js';
import { MomoClient } from '../../src/adapters/providers/mtn-momo/momo-client.js';
import { createLogger } from '../../src/cli/logger.js';
import { startRuntime, roles, type Runtime } from '../../src/cli/runtime.js';
import type { Config } from '../../src/config/config.js';
import { attemptKey, payoutIdOf } from '../../src/domain/ids.js';
import { tokenFor } from '../support/auth.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { batchDocument, net, setUpProviderProgramme, sign, type PayoutLine } from '../support/fixtures.js';
import { testConfig } from '../support/runtime.js';
import { logSink } from '../support/log-sink.js';
import { writeFourProviderAccounts } from '../support/provider-accounts.js';

const settleTimeoutMs = 40_000;
const providers = ['mpesa', 'mtn-momo', 'gsma', 'airtel'] as const;
type Provider = (typeof providers)[number];

// ---------------------------------------------------------------- what the test collects


type SecretKind = 'callback-token' | 'credential' | 'access-token' | 'wire-credential' | 'bearer-jwt' | 'master-key';

class Secrets {
  readonly all = new Map<string, { kind: SecretKind; provider: Provider | 'tuma'; what: string }>();
  add(value: string | undefined | null, kind: SecretKind, provider: Provider | 'tuma', what: string): void {
    if (!value) return;
    if (!this.all.has(value)) this.all.set(value, { kind, provider, what });
  }
  count(kind: SecretKind, provider: Provider | 'tuma'): number {
    return [...this.all.values()].filter((s) => s.kind === kind && s.provider === provider).length;
  }
}

const tokenInUrl = /\/v1\/callbacks\/([^/]+)\/([A-Za-z0-9_-]{43})(?:[/?]|$)/;

function addCallbackUrl(secrets: Secrets, url: unknown, what: string): void {
  if (typeof url !== 'string') return;
  const m = tokenInUrl.exec(url);
  if (!m) throw new Error(`a callback URL without a token: ${what}`);
  secrets.add(m[2], 'callback-token', m[1] as Provider, what);
}

/**
 * Where a secret could stand in a line: as is, URL-encoded, base64 and base64url (the basic
 * credentials are base64 of "key:secret"). A short secret (the four-digit PIN) is looked for as a
 * whole word of every string in the line, so that the digits of a time or an id do not match it.
 */
function findings(lines: readonly string[], secrets: Secrets): string[] {
  const found: string[] = [];
  const long: [string, string][] = [];
  const short: [RegExp, string][] = [];
  for (const [value, s] of secrets.all) {
    const label = `${s.provider} ${s.kind} (${s.what})`;
    if (value.length < 8) {
      short.push([new RegExp(`(?<![\\w-])${value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?![\\w-])`), label]);
      continue;
    }
    for (const form of new Set([value, encodeURIComponent(value), Buffer.from(value).toString('base64'), Buffer.from(value).toString('base64url'), JSON.stringify(value).slice(1, -1)])) {
      long.push([form, label]);
    }
  }
  for (const line of lines) {
    for (const [form, label] of long) if (line.includes(form)) found.push(`${label} in: ${line.slice(0, 600)}`);
    if (short.length === 0) continue;
    const strings: string[] = [];
    const walk = (v: unknown) => {
      if (typeof v === 'string') strings.push(v);
      else if (v && typeof v === 'object') {
        for (const [k, x] of Object.entries(v)) {
          strings.push(k);
          walk(x);
        }
      }
    };
    try {
      walk(JSON.parse(line));
    } catch {
      strings.push(line);
    }
    for (const [pattern, label] of short) if (strings.some((s) => pattern.test(s))) found.push(`${label} in: ${line.slice(0, 600)}`);
  }
  return found;
}

// ---------------------------------------------------------------- the recording proxy

interface Exchange {
  readonly provider: Provider;
  readonly method: string;
  readonly path: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
  status: number;
  response: string;
}

const providerOfPath = (path: string): Provider =>
  path.startsWith('/gsma') ? 'gsma' : path.startsWith('/airtel') ? 'airtel' : path.startsWith('/disbursement') ? 'mtn-momo' : 'mpesa';

/** Forwards every request to the simulators unchanged and keeps both sides. */
async function startRecordingProxy(target: () => number, exchanges: Exchange[]): Promise<{ port: number; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const exchange: Exchange = { provider: providerOfPath(req.url ?? ''), method: req.method ?? '', path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), status: 0, response: '' };
      exchanges.push(exchange);
      const upstream = http.request({ host: '127.0.0.1', port: target(), method: req.method, path: req.url, headers: req.headers }, (answer) => {
        const parts: Buffer[] = [];
        answer.on('data', (c: Buffer) => parts.push(c));
        answer.on('end', () => {
          exchange.status = answer.statusCode ?? 0;
          exchange.response = Buffer.concat(parts).toString('utf8');
          if (res.destroyed) return;
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          res.end(Buffer.concat(parts));
        });
        answer.on('error', () => res.destroy());
      });
      upstream.on('error', () => res.destroy());
      // The client gave up (its timeout): so does the proxy.
      res.on('close', () => upstream.destroy());
      upstream.end(Buffer.concat(chunks));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** What the simulators were sent and answered: credentials, access tokens, callback URLs. */
function collectFromWire(exchanges: readonly Exchange[], secrets: Secrets): void {
  const json = (text: string): Record<string, unknown> => {
    try {
      const v = JSON.parse(text) as unknown;
      return v && typeof v === 'object' ? (v as Record<string, unknown>) : {};
    } catch {
      return {};
    }
  };
  for (const x of exchanges) {
    const where = `${x.method} ${x.path.split('?')[0]}`;
    const auth = x.headers.authorization;
    if (typeof auth === 'string') {
      const [scheme, value] = auth.split(' ');
      secrets.add(value, scheme === 'Basic' ? 'wire-credential' : 'access-token', x.provider, `${scheme} credential sent to ${where}`);
    }
    for (const header of ['ocp-apim-subscription-key', 'x-api-key'] as const) secrets.add(x.headers[header] as string | undefined, 'wire-credential', x.provider, `${header} sent to ${where}`);
    if (typeof x.headers['x-callback-url'] === 'string') addCallbackUrl(secrets, x.headers['x-callback-url'], `X-Callback-URL sent to ${where}`);
    const body = json(x.body);
    for (const field of ['ResultURL', 'QueueTimeOutURL'] as const) if (body[field] !== undefined) addCallbackUrl(secrets, body[field], `${field} sent to ${where}`);
    for (const field of ['SecurityCredential', 'pin', 'client_secret', 'client_id'] as const) {
      if (typeof body[field] === 'string') secrets.add(body[field], 'wire-credential', x.provider, `${field} sent to ${where}`);
    }
    secrets.add(json(x.response).access_token as string | undefined, 'access-token', x.provider, `access token issued by ${where}`);
  }
}

/** Every callback URL Tuma hands to a provider client, by wrapping the clients' submit and status. */
function recordCallbackUrls(secrets: Secrets): () => void {
  const restores: (() => void)[] = [];
  for (const client of [MpesaClient, MomoClient, GsmaClient, AirtelClient] as unknown as { prototype: ProviderAdapter; name: string }[]) {
    const proto = client.prototype;
    const { submit, status } = proto;
    proto.submit = function (this: ProviderAdapter, req: SubmitRequest) {
      addCallbackUrl(secrets, req.callbackUrl, `${client.name}.submit callbackUrl`);
      return submit.call(this, req);
    };
    proto.status = function (this: ProviderAdapter, query: StatusQuery) {
      addCallbackUrl(secrets, query.callbackUrl, `${client.name}.status callbackUrl`);
      return status.call(this, query);
    };
    restores.push(() => {
      proto.submit = submit;
      proto.status = status;
    });
  }
  return () => restores.forEach((r) => r());
}

// ---------------------------------------------------------------- the run

const secretValue = (what: string) => `${what}-${randomBytes(16).toString('hex')}`;

describe('no secret in any log line, through every provider over Kafka', () => {
  const sink = logSink();
  const secrets = new Secrets();
  const exchanges: Exchange[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'tuma-log-secrets-'));
  let database: TestDatabase;
  let runtime: Runtime | undefined;
  let proxy: { port: number; close(): Promise<void> } | undefined;
  let config: Config;
  let restoreClients: () => void = () => undefined;
  // Four digits, not a year, so that no date in a line reads as it.
  const pin = String(3000 + Math.floor(Math.random() * 7000));
  const env: Record<string, string> = {
    T_MPESA_KEY: secretValue('mpesa-key'),
    T_MPESA_SECRET: secretValue('mpesa-secret'),
    T_MPESA_CREDENTIAL: Buffer.from(secretValue('mpesa-security-credential')).toString('base64'),
    T_MOMO_USER: randomUUID(),
    T_MOMO_KEY: randomBytes(16).toString('hex'),
    T_MOMO_SUB: randomBytes(16).toString('hex'),
    T_GSMA_KEY: secretValue('gsma-key'),
    T_GSMA_SECRET: secretValue('gsma-secret'),
    T_GSMA_API_KEY: secretValue('gsma-api-key'),
    T_AIRTEL_ID: secretValue('airtel-client'),
    T_AIRTEL_SECRET: secretValue('airtel-secret'),
    T_AIRTEL_PIN: pin,
    T_AIRTEL_HMAC: secretValue('airtel-hmac'),
  };
  const credentialOf: Record<string, Provider> = {
    T_MPESA_KEY: 'mpesa', T_MPESA_SECRET: 'mpesa', T_MPESA_CREDENTIAL: 'mpesa',
    T_MOMO_USER: 'mtn-momo', T_MOMO_KEY: 'mtn-momo', T_MOMO_SUB: 'mtn-momo',
    T_GSMA_KEY: 'gsma', T_GSMA_SECRET: 'gsma', T_GSMA_API_KEY: 'gsma',
    T_AIRTEL_ID: 'airtel', T_AIRTEL_SECRET: 'airtel', T_AIRTEL_PIN: 'airtel', T_AIRTEL_HMAC: 'airtel',
  };

  beforeAll(async () => {
    database = await createTestDatabase();
    const simulatorPort = await net.freePort();
    proxy = await startRecordingProxy(() => simulatorPort, exchanges);
    const via = `http://127.0.0.1:${proxy.port}`;
    const file = writeFourProviderAccounts(dir, via, { gsmaApiKey: true, airtelCallbackAuth: { mode: 'hmac', hmacSecret: { env: 'T_AIRTEL_HMAC' } } });
    config = await testConfig(database.url, 'kafka', {
      PROVIDERS_FILE: file, SIMULATOR_PORT: String(simulatorPort),
      // Refusals are final here, and a payout whose callback is lost is asked about soon.
      PAYOUT_RETRY_REASONS: 'none', PROVIDER_TIMEOUT_MS: '2000',
      STATUS_CHECK_FIRST_AFTER_MS: '400', STATUS_CHECK_BACKOFF_MAX_MS: '1000', STATUS_POLL_INTERVAL_MS: '100',
      ...env,
    });
    for (const [name, value] of Object.entries(env)) secrets.add(value, 'credential', credentialOf[name]!, name);
    secrets.add(config.crypto.masterKey.toString('base64'), 'master-key', 'tuma', 'TUMA_MASTER_KEY');
    secrets.add(config.crypto.masterKey.toString('hex'), 'master-key', 'tuma', 'TUMA_MASTER_KEY (hex)');
    secrets.add(new URL(database.url).password || null, 'credential', 'tuma', 'database password');
    restoreClients = recordCallbackUrls(secrets);
    runtime = await startRuntime(config, new Set(roles), createLogger('trace', 'tuma', sink.stream));
  });

  afterAll(async () => {
    await runtime?.stop();
    restoreClients();
    await proxy?.close();
    await database?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A bearer JWT for the API, kept as a secret. */
  async function bearer(organisationId: string, role: string): Promise<{ authorization: string }> {
    const jwt = await tokenFor(organisationId, [role]);
    secrets.add(jwt, 'bearer-jwt', 'tuma', `JWT of ${role}`);
    secrets.add(jwt.split('.')[2], 'bearer-jwt', 'tuma', `signature of the JWT of ${role}`);
    return { authorization: `Bearer ${jwt}` };
  }

  it('pays through every provider, status queries and callbacks of every kind included, and no log line carries a secret', async () => {
    const rt = runtime!;
    rt.simulator!.setFaults({
      rules: [
        { pattern: '^254712000001$', callback: 'duplicate' },
        { pattern: '^254712000002$', fault: 'fail', resultCode: 2001 },
        // Lost: the poller asks, and Daraja answers the query on the status token's URL.
        { pattern: '^254712000003$', callback: 'lose' },
      ],
    });
    rt.momoSimulator!.setFaults({
      rules: [
        { pattern: '^256772000001$', fault: 'duplicate-callback' },
        { pattern: '^256772000002$', fault: 'fail', reason: 'NOT_ENOUGH_FUNDS' },
        { pattern: '^256772000003$', fault: 'lost-callback' },
      ],
    });
    rt.gsmaSimulator!.setFaults({
      rules: [
        { pattern: '^\\+?23276000001$', fault: 'duplicate-callback' },
        { pattern: '^\\+?23276000002$', fault: 'insufficient-float' },
        { pattern: '^\\+?23276000003$', fault: 'lost-callback' },
      ],
    });
    rt.airtelSimulator!.setFaults({
      rules: [
        { pattern: '^971000002$', fault: 'insufficient-funds' },
        // Paid, answered ambiguously: the signed callback, or the enquiry, settles it.
        { pattern: '^971000003$', fault: 'ambiguous-after-execution' },
        // Paid, the answer held past the client's timeout: unknown until the callback or the enquiry.
        { pattern: '^971000004$', fault: 'timeout-after-execution', holdMs: 3_000 },
      ],
    });

    const plans: { provider: Provider; currency: 'KES' | 'UGX' | 'SLE' | 'ZMW'; funded: bigint; rows: PayoutLine[]; total: string }[] = [
      {
        provider: 'mpesa', currency: 'KES', funded: 10_000_00n, total: '60.00',
        rows: [1, 2, 3].map((n) => ({ ref: `ke-${n}`, provider: 'mpesa', msisdn: `+25471200000${n}`, amount: '20.00' })),
      },
      {
        provider: 'mtn-momo', currency: 'UGX', funded: 10_000_000n, total: '3000',
        rows: [1, 2, 3].map((n) => ({ ref: `ug-${n}`, provider: 'mtn-momo', msisdn: `+25677200000${n}`, amount: '1000' })),
      },
      {
        provider: 'gsma', currency: 'SLE', funded: 10_000_00n, total: '30.00',
        rows: [1, 2, 3].map((n) => ({ ref: `sl-${n}`, provider: 'gsma', msisdn: `+2327600000${n}`, amount: '10.00' })),
      },
      {
        provider: 'airtel', currency: 'ZMW', funded: 10_000_00n, total: '40.00',
        rows: [1, 2, 3, 4].map((n) => ({ ref: `zm-${n}`, provider: 'airtel', msisdn: `+26097100000${n}`, amount: '10.00' })),
      },
    ];
    const batches = await Promise.all(plans.map(async (p) => {
      const s = await setUpProviderProgramme(rt.persistence, { provider: p.provider, currency: p.currency, fundedMinor: p.funded, floatMinor: p.funded * 10n });
      const auth = await bearer(s.organisationId, 'programme_manager');
      const document = { ...batchDocument(s, p.rows, { total: p.total }), currency: p.currency };
      const submitted = await fetch(`${rt.apiUrl}/v1/batches`, { method: 'POST', headers: { ...auth, 'content-type': 'application/jose+json' }, body: JSON.stringify(await sign(document, s.maker)) });
      expect({ provider: p.provider, status: submitted.status }).toEqual({ provider: p.provider, status: 201 });
      return { ...p, s, auth, document };
    }));

    // Every batch completes: each payout paid or refused, the lost callbacks' payouts by status query.
    const deadline = Date.now() + settleTimeoutMs;
    for (const b of batches) {
      await net.eventually(async () => {
        const body = (await (await fetch(`${rt.apiUrl}/v1/batches/${b.document.batchId}`, { headers: b.auth })).json()) as { state: string };
        return body.state === 'completed' ? body : null;
      }, Math.max(1_000, deadline - Date.now()), `the ${b.provider} batch to complete`);
    }
    // The finance view of one of them, with a bearer of another role.
    const finance = await bearer(batches[0]!.s.organisationId, 'finance');
    expect((await fetch(`${rt.apiUrl}/v1/ledgers/KES/trial-balance`, { headers: finance })).status).toBe(200);

    // What the run went through, so the scan below covers it: status queries answered for every
    // provider, and callbacks of every route stored.
    const sources = await sql<{ provider: string; source: string }>`
      SELECT DISTINCT a.account_id AS provider, r.source FROM payout_results r
      JOIN payout_attempts a ON a.payout_id = r.payout_id AND a.attempt_no = r.attempt_no`.execute(database.db);
    const byAccount = (account: string) => sources.rows.filter((r) => r.provider === account).map((r) => r.source).sort();
    expect(byAccount('mpesa-ke')).toEqual(expect.arrayContaining(['callback'])); // M-Pesa's status answer is a callback too (on the status URL)
    expect(byAccount('momo-ug')).toEqual(expect.arrayContaining(['callback', 'status_query']));
    expect(byAccount('gsma-sl')).toEqual(expect.arrayContaining(['callback', 'status_query']));
    expect(byAccount('airtel-zm').length).toBeGreaterThan(0);
    expect(exchanges.some((x) => x.provider === 'mpesa' && x.path.startsWith('/mpesa/transactionstatus'))).toBe(true);

    // Late callbacks on M-Pesa's two timeout routes, with the tokens issued for them (the
    // simulator sends neither): the payment token of ke-1 and the status token of ke-3.
    collectFromWire(exchanges, secrets);
    const b2c = (ref: string) => exchanges.find((x) => x.path.startsWith('/mpesa/b2c') && x.body.includes(attemptKey(payoutIdOf(batches[0]!.document.batchId, ref), 1)));
    const statusQuery = exchanges.find((x) => x.path.startsWith('/mpesa/transactionstatus'));
    const paymentUrl = JSON.parse(b2c('ke-1')!.body).QueueTimeOutURL as string;
    const statusUrl = JSON.parse(statusQuery!.body).QueueTimeOutURL as string;
    for (const [url, body] of [
      [paymentUrl, { OriginatorConversationID: attemptKey(payoutIdOf(batches[0]!.document.batchId, 'ke-1'), 1) }],
      [statusUrl, { OriginatorConversationID: 'x', OriginalConversationID: attemptKey(payoutIdOf(batches[0]!.document.batchId, 'ke-3'), 1) }],
    ] as const) {
      expect(url).toMatch(/\/timeout$/);
      const answer = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      expect(answer.status).toBeLessThan(500);
    }

    await rt.stop();
    runtime = undefined;
    collectFromWire(exchanges, secrets);

    // Every token the database holds a hash of was collected: none was issued out of sight.
    const hashes = await sql<{ h: Buffer }>`
      SELECT callback_token_sha256 AS h FROM payout_attempts UNION ALL SELECT token_sha256 AS h FROM payout_status_tokens`.execute(database.db);
    const collected = new Set([...secrets.all].filter(([, s]) => s.kind === 'callback-token').map(([v]) => createHash('sha256').update(v).digest('hex')));
    expect(hashes.rows.length).toBeGreaterThan(0);
    expect(hashes.rows.map((r) => r.h.toString('hex')).filter((h) => !collected.has(h))).toEqual([]);

    // Not vacuous: secrets of each kind from each provider, and the lines of each provider's work.
    for (const p of providers) {
      expect({ p, tokens: secrets.count('callback-token', p) > 0, credentials: secrets.count('credential', p) > 0, wire: secrets.count('wire-credential', p) > 0, access: secrets.count('access-token', p) > 0 })
        .toEqual({ p, tokens: true, credentials: true, wire: true, access: true });
    }
    expect(secrets.count('bearer-jwt', 'tuma')).toBeGreaterThanOrEqual(10);
    for (const stored of ['mpesa callback stored', 'mtn-momo callback stored', 'gsma callback stored', 'airtel callback stored']) {
      expect({ stored, seen: sink.lines.some((l) => l.includes(stored)) }).toEqual({ stored, seen: true });
    }
    expect(sink.lines.some((l) => l.includes('"level":10') || l.includes('"level":20'))).toBe(true);
    // The scan would see a secret: one line with each kind, checked by the same function.
    for (const [value] of [...secrets.all].slice(0, 50)) expect(findings([JSON.stringify({ msg: `x ${value} y` })], secrets).length).toBeGreaterThan(0);
    expect(findings([JSON.stringify({ pin })], secrets).length).toBeGreaterThan(0);

    // The check itself.
    expect(findings(sink.lines, secrets)).toEqual([]);
  });
});

// `tuma demo`: signs a three-payout batch with the dev demo key, submits it to the running API
// and follows it until every payout is settled. Bounded: gives up after demoWaitMs.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { calculateJwkThumbprint, GeneralSign, importJWK, type JWK } from 'jose';
import { demo, demoKeyFile, mintDevToken } from './dev.js';
import { unreachable } from './cli-errors.js';

const demoWaitMs = 60_000;

export async function runDemo(apiUrl: string, dataDir: string, out: (line: string) => void): Promise<boolean> {
  const jwk = JSON.parse(readFileSync(demoKeyFile(dataDir), 'utf8')) as JWK;
  const { d: _private, ...publicJwk } = jwk;
  const kid = await calculateJwkThumbprint(publicJwk, 'sha256');
  const now = new Date();
  const document = {
    batchId: randomUUID(),
    organisationId: demo.organisationId,
    programmeId: demo.programmeId,
    currency: demo.currency,
    createdAt: now.toISOString(),
    expiresAt: new Date(now.getTime() + 86_400_000).toISOString(),
    declared: { count: 3, total: '4500.00' },
    payouts: [
      { ref: 'demo-1', provider: 'mpesa', msisdn: '+254712345678', amount: '1000.00' },
      { ref: 'demo-2', provider: 'mpesa', msisdn: '+254722000111', amount: '1500.00' },
      { ref: 'demo-3', provider: 'mpesa', msisdn: '+254733000222', amount: '2000.00' },
    ],
  };
  const jws = await new GeneralSign(new TextEncoder().encode(JSON.stringify(document)))
    .addSignature(await importJWK(jwk, 'ES256'))
    .setProtectedHeader({ alg: 'ES256', kid })
    .sign();
  const token = await mintDevToken(dataDir, { subject: 'demo-programme-manager', organisationId: demo.organisationId, roles: ['programme_manager'], ttlSeconds: 600 });
  const authorization = `Bearer ${token}`;
  // A server that is not there is a sentence (cli-errors.ts), not a stack trace.
  const fetch = (url: string, init: RequestInit) =>
    globalThis.fetch(url, { ...init, signal: AbortSignal.timeout(30_000) }).catch((error: unknown) => {
      throw unreachable(error, `the API at ${apiUrl}`, 'is `npm start` running? HTTP_HOST and HTTP_PORT say where') ?? error;
    });
  const submitted = await fetch(`${apiUrl}/v1/batches`, { method: 'POST', headers: { 'content-type': 'application/jose+json', authorization }, body: JSON.stringify(jws) });
  out(`POST /v1/batches → ${submitted.status} ${await submitted.text()}`);
  if (!submitted.ok) return false;
  const deadline = Date.now() + demoWaitMs;
  while (Date.now() < deadline) {
    const res = await fetch(`${apiUrl}/v1/batches/${document.batchId}`, { headers: { authorization } });
    const batch = (await res.json()) as { state: string; payouts: Record<string, { count: number }> };
    out(`batch ${document.batchId}: ${batch.state} ${JSON.stringify(batch.payouts)}`);
    if (batch.state === 'completed') return true;
    await new Promise((r) => setTimeout(r, 500));
  }
  out('gave up waiting');
  return false;
}

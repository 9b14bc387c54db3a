// Dev mode helpers: a local master key, and a demo organisation with a funded programme and a
// registered maker key, so the default run shows the whole job. Never used outside dev mode.
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, type JsonWebKey } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { exportJWK, generateKeyPair, importJWK, SignJWT, type JWK } from 'jose';
import { devAuth } from '../config/config.js';
import type { Logger } from 'pino';
import type { Persistence } from '../application/ports.js';
import { fundProgramme, registerOrganisation, registerProgramme, registerSignerKey, topUpFloat } from '../application/setup.js';

export const demo = { organisationId: 'demo-org', programmeId: 'demo-programme', currency: 'KES' } as const;

/** The dev master key lives in the data folder (0600), made once, so embedded data stays readable across runs. */
export function devMasterKey(dataDir: string): string {
  const file = path.resolve(dataDir, 'dev-master-key');
  if (!existsSync(file)) {
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    writeFileSync(file, randomBytes(32).toString('base64'), { mode: 0o600 });
  }
  return readFileSync(file, 'utf8').trim();
}

/** The dev token issuer's key pair (ES256), made once in the data folder; its public half becomes AUTH_JWKS. */
export function devIssuerJwks(dataDir: string): string {
  const file = devIssuerKeyFile(dataDir);
  if (!existsSync(file)) {
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    writeFileSync(file, JSON.stringify({ ...privateKey.export({ format: 'jwk' }), alg: 'ES256', kid: 'tuma-dev' }), { mode: 0o600 });
  }
  const privateJwk = JSON.parse(readFileSync(file, 'utf8')) as JsonWebKey & { kid: string };
  const publicJwk = createPublicKey(createPrivateKey({ key: privateJwk, format: 'jwk' })).export({ format: 'jwk' });
  return JSON.stringify({ keys: [{ ...publicJwk, alg: 'ES256', kid: privateJwk.kid, use: 'sig' }] });
}

const devIssuerKeyFile = (dataDir: string) => path.resolve(dataDir, 'dev-issuer.private.jwk');

/** A bearer token from the dev issuer, for trying the API by hand (`tuma token --dev`). */
export async function mintDevToken(dataDir: string, claims: { subject: string; organisationId: string; roles: readonly string[]; ttlSeconds: number }): Promise<string> {
  devIssuerJwks(dataDir);
  const jwk = JSON.parse(readFileSync(devIssuerKeyFile(dataDir), 'utf8')) as JWK;
  const key = await importJWK(jwk, 'ES256');
  return new SignJWT({ org: claims.organisationId, roles: [...claims.roles] })
    .setProtectedHeader({ alg: 'ES256', kid: 'tuma-dev' })
    .setSubject(claims.subject)
    .setIssuer(devAuth.issuer)
    .setAudience(devAuth.audience)
    .setIssuedAt()
    .setExpirationTime(`${claims.ttlSeconds}s`)
    .sign(key);
}

export const demoKeyFile = (dataDir: string) => path.resolve(dataDir, 'demo-maker.private.jwk');

export async function seedDemo(persistence: Persistence, dataDir: string, logger: Logger): Promise<void> {
  await registerOrganisation(persistence, demo.organisationId, 'Demo organisation');
  await registerProgramme(persistence, { id: demo.programmeId, organisationId: demo.organisationId, name: 'Demo programme', currency: demo.currency, approvalsRequired: 0 });
  const keyFile = demoKeyFile(dataDir);
  if (!existsSync(keyFile)) {
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    writeFileSync(keyFile, JSON.stringify({ ...(await exportJWK(privateKey)), alg: 'ES256' }), { mode: 0o600 });
  }
  const { d: _private, ...publicJwk } = JSON.parse(readFileSync(keyFile, 'utf8')) as JWK;
  const kid = await registerSignerKey(persistence, {
    organisationId: demo.organisationId, role: 'maker', alg: 'ES256', publicJwk: publicJwk as Record<string, unknown>, notBefore: new Date(0), notAfter: null,
  });
  if (!kid.ok) throw new Error(`demo key refused: ${kid.error.code}`);
  await fundProgramme(persistence, { idempotencyKey: 'dev-seed', organisationId: demo.organisationId, programmeId: demo.programmeId, source: 'demo-donor', currency: demo.currency, amountMinor: 100_000_000n });
  await topUpFloat(persistence, { idempotencyKey: 'dev-seed', organisationId: demo.organisationId, provider: 'mpesa', source: 'demo-donor', currency: demo.currency, amountMinor: 100_000_000n });
  logger.info({ organisationId: demo.organisationId, programmeId: demo.programmeId, kid: kid.value }, 'dev mode: demo organisation ready (KES 1,000,000.00 funded)');
}

// Dev mode helpers: a local master key, and a demo organisation with a funded programme and a
// registered maker key, so the default run shows the whole job. Never used outside dev mode.
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, type JsonWebKey } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { exportJWK, generateKeyPair, importJWK, SignJWT, type JWK } from 'jose';
import { devAuth, type Env } from '../config/config.js';
import { CliError, exitCodes } from './cli-errors.js';
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

const devIssuerKeyFile = (dataDir: string) => path.resolve(dataDir, devIssuerKeyFileName);

/** The dev issuer's private key file, made by the first `tuma start --dev`. */
export const devIssuerKeyFileName = 'dev-issuer.private.jwk';

/**
 * A bearer token from the dev issuer of the instance whose data directory is `dataDir`, for trying
 * the API by hand (`tuma token --dev`). Never makes an issuer: a token no running instance trusts
 * would only be answered 401.
 */
export async function mintDevToken(dataDir: string, claims: { subject: string; organisationId: string; roles: readonly string[]; ttlSeconds: number }): Promise<string> {
  if (!existsSync(devIssuerKeyFile(dataDir))) throw new CliError(`${devIssuerKeyFile(dataDir)} does not exist: \`tuma start --dev\` makes it`, exitCodes.config);
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

/** The demo maker's private key file, made by the first `tuma start --dev` and registered for demo-org. */
export const demoKeyFileName = 'demo-maker.private.jwk';
export const demoKeyFile = (dataDir: string) => path.resolve(dataDir, demoKeyFileName);

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

// ---------------------------------------------------------------- where the dev files are

/** Where a command looks for a dev instance's data directory: its working directory and environment, and where this tuma is installed. */
export interface DevDataPlaces {
  readonly cwd: string;
  readonly env: Env;
  /** The Tuma project this code runs from (installRoot()), or null. */
  readonly installRoot: string | null;
}

/** The nearest directory at or above `from` whose package.json names the package `tuma`; null if there is none. */
export function projectRootAbove(from: string): string | null {
  let dir = path.resolve(from);
  for (;;) {
    const file = path.join(dir, 'package.json');
    if (existsSync(file)) {
      try {
        if ((JSON.parse(readFileSync(file, 'utf8')) as { name?: unknown }).name === 'tuma') return dir;
      } catch {
        // not JSON: another project's business; keep going up
      }
    }
    const up = path.dirname(dir);
    if (up === dir) return null;
    dir = up;
  }
}

/** The Tuma project this code runs from (dist/src/cli/dev.js, or src/cli/dev.ts under the tests). */
export function installRoot(): string | null {
  return projectRootAbove(path.dirname(fileURLToPath(import.meta.url)));
}

/** The candidates, in order, each with the words that say what it is. */
function dataDirCandidates(p: DevDataPlaces): { dir: string; what: string }[] {
  const given = p.env.EMBEDDED_DATA_DIR;
  if (given) return [{ dir: path.resolve(p.cwd, given), what: 'EMBEDDED_DATA_DIR' }];
  const candidates: { dir: string; what: string }[] = [];
  const project = projectRootAbove(p.cwd);
  if (project) candidates.push({ dir: path.join(project, '.data'), what: `the Tuma project above ${p.cwd}` });
  if (p.installRoot && p.installRoot !== project) candidates.push({ dir: path.join(p.installRoot, '.data'), what: 'where this tuma is installed' });
  return candidates;
}

/**
 * Where `tuma start` keeps dev mode's files and the embedded PostgreSQL: EMBEDDED_DATA_DIR, else
 * `.data` of the Tuma project at or above the working directory, else of the project this tuma
 * runs from, else `./.data`. Absolute, so the tools run from elsewhere find the same one.
 */
export function devDataDirForStart(p: DevDataPlaces): string {
  return dataDirCandidates(p)[0]?.dir ?? path.resolve(p.cwd, '.data');
}

/**
 * The data directory of the dev instance that holds `file` (the issuer's key, the demo key, the
 * embedded PostgreSQL's password). Never creates one: when none holds it, a CliError says where it
 * looked and what to do.
 */
export function findDevData(p: DevDataPlaces, file: string): string {
  const candidates = dataDirCandidates(p);
  const found = candidates.find((c) => existsSync(path.join(c.dir, file)));
  if (found) return found.dir;
  const looked = candidates.map((c) => `${c.dir} (${c.what})`).join(' and ');
  const noProject = p.env.EMBEDDED_DATA_DIR || projectRootAbove(p.cwd) ? '' : `no Tuma project (a package.json named tuma) is at or above ${p.cwd}`;
  const where = [looked ? `looked for ${file} in ${looked}` : '', noProject].filter(Boolean).join('; ');
  return fail(`no dev instance found: ${where}. Start one with \`npm start\` in the Tuma project (dev mode keeps its keys in .data/ there) and run this from that project, or set EMBEDDED_DATA_DIR to its data directory`);
}

function fail(message: string): never {
  throw new CliError(message, exitCodes.config);
}

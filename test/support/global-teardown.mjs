import { execFileSync } from 'node:child_process';
import path from 'node:path';

const repo = path.resolve(import.meta.dirname, '../..');

/** Stops only what global-setup started; a broker or server that was already up stays up. */
export default async function globalTeardown() {
  const port = globalThis.__tumaKafkaStartedPort;
  if (port && !process.env.TUMA_TEST_KEEP_KAFKA) {
    execFileSync(path.join(repo, 'scripts/kafka.sh'), ['stop'], {
      env: { ...process.env, KAFKA_PORT: port, KAFKA_CONTROLLER_PORT: String(Number(port) + 1) },
      stdio: 'inherit',
    });
  }
  await globalThis.__tumaEmbeddedPostgres?.stop();
}

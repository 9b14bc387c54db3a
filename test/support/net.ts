import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect, createServer, type AddressInfo } from 'node:net';

// Ports for the servers a test starts (API, simulator, a broker of its own) come from below the
// kernel's ephemeral range (32768-60999 on Linux). A port taken from listen(0) and released is
// free only for a moment: an outgoing connection of another jest worker (to PostgreSQL, to Kafka)
// can be handed the same number before the test binds it again, and the test then fails with
// EADDRINUSE. Below 32768 the kernel hands out nothing, so each worker walks a slice of its own.
const rangeStart = 20_000;
const sliceSize = 1_500;
const slices = 8;
const worker = Math.max(1, Number(process.env.JEST_WORKER_ID ?? '1'));
const sliceStart = rangeStart + ((worker - 1) % slices) * sliceSize;
const kafkaPort = Number(process.env.TEST_KAFKA_PORT ?? '19092');
const reserved = new Set([kafkaPort, kafkaPort + 1, 19_092, 19_093, 29_092, 29_093, 54_330]);
// A random start inside the slice keeps two test runs on one machine apart.
let next = Math.floor(Math.random() * sliceSize);

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A port free on 127.0.0.1 now and handed to no one else by this process or the kernel. */
async function freePort(): Promise<number> {
  for (let tries = 0; tries < sliceSize; tries += 1) {
    const port = sliceStart + (next % sliceSize);
    next += 1;
    if (!reserved.has(port) && (await bindable(port))) return port;
  }
  throw new Error(`no free port in ${sliceStart}-${sliceStart + sliceSize - 1}`);
}

/** Polls `check` until it returns a value, at most `timeoutMs`. */
async function eventually<T>(check: () => Promise<T | null | undefined | false>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await check();
    if (value) return value;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/**
 * What `find` finds, looked for every 10 ms for at most 300 tries (about 3 s): for what a test
 * collected in memory (callbacks received, requests seen), where eventually()'s 100 ms is too slow.
 */
async function until<T>(find: () => T | undefined): Promise<T> {
  for (let i = 0; i < 300; i++) {
    const found = find();
    if (found !== undefined) return found;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('not seen in time');
}

/**
 * Serves `handler` on 127.0.0.1 for one raw exchange: `request` is written as it is (a request that
 * stalls, a body shorter than it says), and what came back is read until the server closes the
 * connection. Answers what was read and after how long.
 */
async function rawExchange(handler: (req: IncomingMessage, res: ServerResponse) => void, request: string): Promise<{ ms: number; data: string }> {
  const server = createHttpServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address() as AddressInfo;
    return await new Promise<{ ms: number; data: string }>((resolve) => {
      const started = Date.now();
      let data = '';
      const socket = connect(port, '127.0.0.1', () => socket.write(request));
      socket.on('data', (d) => (data += d.toString()));
      socket.on('close', () => resolve({ ms: Date.now() - started, data }));
      socket.on('error', () => undefined);
    });
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
}

export const net = { freePort, eventually, until, rawExchange };

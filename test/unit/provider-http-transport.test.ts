// The provider clients' transport (adapters/providers/http-transport.ts): a body read at most
// bytesMax, a timeout that covers the answer's body, a body cut short either thrown or null as the
// client says, a URL with credentials refused unsent, headers read by name.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { callProvider, jsonOf } from '../../src/adapters/providers/http-transport.js';

let server: Server;
let base: string;
const seen: { method: string; headers: Record<string, unknown>; body: string }[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', (): void => {
      seen.push({ method: req.method ?? '', headers: req.headers, body });
      if (req.url === '/big') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(`"${'x'.repeat(10_000)}"`);
        return;
      }
      if (req.url === '/cut') {
        res.writeHead(200, { 'x-records-available-count': '7' });
        res.write('{"a":');
        return; // never ends: the timeout cuts the body
      }
      if (req.url === '/silent') return; // never answers
      res.writeHead(201, { 'x-records-available-count': '7' }).end('{"ok":true}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

const call = { method: 'POST' as const, headers: { 'content-type': 'application/json' }, body: '{"n":1}', timeoutMs: 300, bytesMax: 1_000 };

describe('provider transport', () => {
  it('when a provider answers, then the status, the body and the headers by name come back, and the request carried its body and headers', async () => {
    const a = await callProvider(`${base}/ok`, call);
    expect(a.status).toBe(201);
    expect(jsonOf(a.body)).toEqual({ ok: true });
    expect(a.headers.get('X-Records-Available-Count')).toBe('7');
    expect(a.headers.get('absent')).toBeNull();
    const last = seen.at(-1)!;
    expect(last).toMatchObject({ method: 'POST', body: '{"n":1}' });
    expect(last.headers['content-type']).toBe('application/json');
  });

  it('when the body is larger than bytesMax, then it is null', async () => {
    const a = await callProvider(`${base}/big`, call);
    expect(a.status).toBe(200);
    expect(a.body).toBeNull();
  });

  it('when nothing answers within the timeout, then the call throws a TimeoutError', async () => {
    await expect(callProvider(`${base}/silent`, call)).rejects.toMatchObject({ name: 'TimeoutError' });
  });

  it('when the body is cut short by the timeout, then the call throws, or its body is null when the client asks for that', async () => {
    await expect(callProvider(`${base}/cut`, call)).rejects.toMatchObject({ name: 'TimeoutError' });
    const a = await callProvider(`${base}/cut`, { ...call, unreadableBody: 'null' });
    expect(a.status).toBe(200);
    expect(a.body).toBeNull();
  });

  it('when the caller cancels, then the call throws with its reason', async () => {
    const controller = new AbortController();
    const pending = callProvider(`${base}/silent`, { ...call, timeoutMs: 10_000, signal: controller.signal });
    controller.abort(new Error('stop'));
    await expect(pending).rejects.toThrow('stop');
  });

  it('when the URL carries credentials, then nothing is sent', async () => {
    const before = seen.length;
    await expect(callProvider(`http://user:secret@${base.slice('http://'.length)}/ok`, call)).rejects.toThrow(TypeError);
    expect(seen.length).toBe(before);
  });
});

// The open-loop load of `npm run loadtest`'s status reads (loadtest/paced-load.ts): it must send
// on its schedule, never ahead of it and never in bursts, and count a request's latency from when
// it was due, so that a stalled server shows in the figure instead of being hidden by the
// generator waiting for it (coordinated omission).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { pacedLoad, pacedOriginsMax, pacedRequestsMax } from '../../loadtest/paced-load.js';

interface Seen {
  readonly k: number;
  readonly at: number;
}

async function server(answer: (k: number, res: http.ServerResponse) => void): Promise<{ origin: string; seen: Seen[]; close: () => Promise<void> }> {
  const seen: Seen[] = [];
  const s = http.createServer((req, res) => {
    const k = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('k'));
    seen.push({ k, at: performance.now() });
    answer(k, res);
  });
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    seen,
    close: () => new Promise<void>((resolve) => { s.closeAllConnections(); s.close(() => resolve()); }),
  };
}

describe('pacedLoad (an open-loop load at a constant rate)', () => {
  it('sends request k no earlier than k / rate after the start: spread over the second, not a burst at its start', async () => {
    const s = await server((_k, res) => res.end('ok'));
    try {
      const start = performance.now();
      const result = await pacedLoad({ origin: s.origin, ratePerS: 100, durationS: 1, path: (k) => `/?k=${k}` });
      expect(result).toMatchObject({ scheduled: 100, ok2xx: 100, non2xx: 0, errors: 0 });
      expect(s.seen).toHaveLength(100);
      // Never ahead of its schedule (10 ms apart); the clock's own granularity aside.
      for (const { k, at } of s.seen) expect(at - start).toBeGreaterThanOrEqual(k * 10 - 1);
      // A burst would bring most of them in the first tenth of the second.
      expect(s.seen.filter((x) => x.at - start < 100).length).toBeLessThanOrEqual(11);
    } finally {
      await s.close();
    }
  });

  it('counts the wait behind a stalled answer from when each request was due (no coordinated omission)', async () => {
    // One connection and one request on the wire: the first answer takes 300 ms, every other is at once.
    const s = await server((k, res) => (k === 0 ? setTimeout(() => res.end('slow'), 300) : res.end('ok')));
    try {
      const result = await pacedLoad({ origin: s.origin, ratePerS: 100, durationS: 0.5, path: (k) => `/?k=${k}`, connections: 1, inFlightMax: 1 });
      expect(result.ok2xx).toBe(50);
      // Requests 1..29 were due during the stall and waited for it: timed from when they left, all
      // but one would be ~0 ms, and p90 would say nothing of the stall.
      expect(result.p90Ms!).toBeGreaterThanOrEqual(150);
      expect(result.maxMs!).toBeGreaterThanOrEqual(290);
    } finally {
      await s.close();
    }
  });

  it('keeps a warm-up out of the figures, and reports its p99 apart', async () => {
    // The first 30 requests (the warm-up, due over 0.3 s) wait behind a 300 ms answer; the rest are answered at once.
    const s = await server((k, res) => (k === 0 ? setTimeout(() => res.end('slow'), 300) : res.end('ok')));
    try {
      const result = await pacedLoad({ origin: s.origin, ratePerS: 100, warmupS: 0.3, durationS: 0.5, path: (k) => `/?k=${k}`, connections: 1, inFlightMax: 1 });
      expect(s.seen).toHaveLength(80);
      expect(result).toMatchObject({ scheduled: 50, ok2xx: 50, errors: 0 });
      expect(result.warmupP99Ms!).toBeGreaterThanOrEqual(250);
      // Measured: the requests due after the warm-up; those due right after it may still wait a little behind the queue it left.
      expect(result.p50Ms!).toBeLessThan(result.warmupP99Ms!);
    } finally {
      await s.close();
    }
  });

  it('counts answers that are not 2xx and requests that fail apart, and times only the 2xx', async () => {
    const s = await server((k, res) => {
      if (k % 4 === 1) {
        res.statusCode = 503;
        res.end('no');
      } else if (k % 4 === 2) res.socket?.destroy();
      else res.end('ok');
    });
    try {
      const result = await pacedLoad({ origin: s.origin, ratePerS: 200, durationS: 0.2, path: (k) => `/?k=${k}` });
      expect(result).toMatchObject({ scheduled: 40, ok2xx: 20, non2xx: 10, errors: 10 });
      expect(result.p50Ms).not.toBeNull();
    } finally {
      await s.close();
    }
  });

  it('spreads request k over several origins in turn (k mod n), each origin answering its share', async () => {
    const servers = await Promise.all([0, 1, 2].map(() => server((_k, res) => res.end('ok'))));
    try {
      const result = await pacedLoad({ origin: servers.map((x) => x.origin), ratePerS: 300, durationS: 0.2, path: (k) => `/?k=${k}`, connections: 6 });
      expect(result).toMatchObject({ scheduled: 60, ok2xx: 60, non2xx: 0, errors: 0 });
      servers.forEach((x, i) => expect(x.seen.map((r) => r.k % 3)).toEqual(Array.from({ length: 20 }, () => i)));
    } finally {
      await Promise.all(servers.map((x) => x.close()));
    }
  });

  it('refuses a load it would not bound or that leaves this machine', async () => {
    await expect(pacedLoad({ origin: ['http://127.0.0.1:9', 'http://10.0.0.1:80'], ratePerS: 1, durationS: 1, path: () => '/' })).rejects.toThrow(/127\.0\.0\.1 only/);
    await expect(pacedLoad({ origin: [], ratePerS: 1, durationS: 1, path: () => '/' })).rejects.toThrow(/origins/);
    await expect(pacedLoad({ origin: Array.from({ length: pacedOriginsMax + 1 }, () => 'http://127.0.0.1:9'), ratePerS: 1, durationS: 1, path: () => '/' })).rejects.toThrow(/origins/);
    await expect(pacedLoad({ origin: 'http://10.0.0.1:80', ratePerS: 1, durationS: 1, path: () => '/' })).rejects.toThrow(/127\.0\.0\.1 only/);
    await expect(pacedLoad({ origin: 'http://127.0.0.1:9', ratePerS: pacedRequestsMax, durationS: 2, path: () => '/' })).rejects.toThrow(/1 to/);
    await expect(pacedLoad({ origin: 'http://127.0.0.1:9', ratePerS: 0, durationS: 2, path: () => '/' })).rejects.toThrow(/1 to/);
    await expect(pacedLoad({ origin: 'http://127.0.0.1:9', ratePerS: 1, durationS: 1, path: () => '/', inFlightMax: 0 })).rejects.toThrow(/inFlightMax/);
    await expect(pacedLoad({ origin: 'http://127.0.0.1:9', ratePerS: 1, durationS: 1, warmupS: -1, path: () => '/' })).rejects.toThrow(/1 to/);
  });
});

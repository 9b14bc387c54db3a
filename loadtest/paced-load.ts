// An open-loop HTTP load at a constant rate, for latency targets stated "at N requests/s".
//
// Why not autocannon's rate option: autocannon's `overallRate` / `connectionRate` let each
// connection send back to back until it has made its share for the current second, then pause
// until the next one (autocannon issue #174), so "1,000 requests/s over 32 connections" is 32
// clients firing as fast as they can for the first few milliseconds of every second: what it
// measures is the queue of that burst, not a steady 1,000/s. And its coordinated-omission
// correction assumes one request every ceil(1/rate) = 1 ms per connection, adding synthetic samples
// to every slower answer.
//
// Here request k is due at start + k / rate (wrk2's schedule), sent when due over a keep-alive pool,
// and its latency is counted from when it was due, not from when it left: when the generator or the
// server falls behind, the wait is in the figure (no coordinated omission). Bounded: at most
// `rate × durationS` requests, at most `inFlightMax` on the wire (the rest wait their turn, their
// wait counted), each abandoned after `timeoutMs`.
import { Pool } from 'undici';
import { percentile } from './loadtest-report.js';

/** The most requests one run may schedule (memory: one latency sample each). */
export const pacedRequestsMax = 1_000_000;
/** The most requests on the wire at once. */
export const pacedInFlightMax = 1_024;

/** The most origins one run spreads its requests over. */
export const pacedOriginsMax = 16;

export interface PacedLoadOptions {
  /**
   * `http://127.0.0.1:<port>`: the load goes to this machine only. Several (the API in more than
   * one process): request k goes to origin k mod n, and the connections are shared out among them.
   */
  readonly origin: string | readonly string[];
  readonly ratePerS: number;
  /** The measured part of the run, after the warm-up. */
  readonly durationS: number;
  /**
   * First this long at the same rate, answered but kept out of the figures (default 0): the
   * server's first second after idle (its code paths compiled, its pools grown, this pool's
   * connections opened) is not the steady state a rate target is about. Its p99 is reported apart.
   */
  readonly warmupS?: number;
  /** The path of request k (k from 0). */
  readonly path: (k: number) => string;
  readonly headers?: Record<string, string>;
  /** Keep-alive connections (default 32). */
  readonly connections?: number;
  /** Requests on the wire at once at most (default 256, at most pacedInFlightMax). */
  readonly inFlightMax?: number;
  /** Default 10,000 ms. */
  readonly timeoutMs?: number;
  /** An answer slower than this is counted as slow (default 10 ms). */
  readonly slowMs?: number;
}

export interface PacedLoadResult {
  /** Requests of the measured part (the warm-up's are not counted in any figure but warmupP99Ms). */
  readonly scheduled: number;
  readonly ok2xx: number;
  readonly non2xx: number;
  readonly errors: number;
  /** Wall time from the first measured request's due time to the last answer, s. */
  readonly durationS: number;
  /** Latency from each answered (2xx) request's due time, ms. */
  readonly p50Ms: number | null;
  readonly p90Ms: number | null;
  readonly p99Ms: number | null;
  readonly p999Ms: number | null;
  readonly maxMs: number | null;
  /** How late the generator sent its requests past their due time (its own lag), p99, ms. */
  readonly sendLagP99Ms: number | null;
  /** Answers slower than `slowMs` (default 10 ms), and in how many of the run's seconds (by due time) they fell: a few seconds means stalls, most of them a slow path. */
  readonly slow: number;
  readonly secondsWithSlow: number;
  /** The most slow answers due within one second, and which second of the run it was (from 0). */
  readonly slowInWorstSecond: number;
  readonly worstSecond: number | null;
  /** The warm-up's p99 (null without one), ms. */
  readonly warmupP99Ms: number | null;
}

/** The p-th percentile (nearest rank) to 0.01 ms, or null when nothing was answered. */
const pct = (values: readonly number[], p: number): number | null => (values.length === 0 ? null : Math.round(percentile(values, p) * 100) / 100);

export async function pacedLoad(opts: PacedLoadOptions): Promise<PacedLoadResult> {
  const urls = (typeof opts.origin === 'string' ? [opts.origin] : [...opts.origin]).map((o) => new URL(o));
  if (urls.length < 1 || urls.length > pacedOriginsMax) throw new Error(`origins: 1 to ${pacedOriginsMax}`);
  for (const url of urls) if (url.hostname !== '127.0.0.1' && url.hostname !== 'localhost') throw new Error('the paced load goes to 127.0.0.1 only');
  const warmupS = opts.warmupS ?? 0;
  const warmup = Math.round(opts.ratePerS * warmupS);
  const total = warmup + Math.round(opts.ratePerS * opts.durationS);
  if (!(opts.ratePerS > 0) || !(opts.durationS > 0) || !(warmupS >= 0) || total - warmup < 1 || total > pacedRequestsMax) {
    throw new Error(`rate × (warm-up + duration): 1 to ${pacedRequestsMax} requests`);
  }
  const inFlightMax = opts.inFlightMax ?? 256;
  if (!Number.isInteger(inFlightMax) || inFlightMax < 1 || inFlightMax > pacedInFlightMax) throw new Error(`inFlightMax: 1 to ${pacedInFlightMax}`);
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const intervalMs = 1000 / opts.ratePerS;
  const connections = Math.max(1, Math.ceil((opts.connections ?? 32) / urls.length));
  const pools = urls.map((url) => new Pool(url.origin, { connections, pipelining: 1, keepAliveTimeout: 30_000, headersTimeout: timeoutMs, bodyTimeout: timeoutMs }));
  const latencies = new Float64Array(total - warmup);
  const warmupLatencies = new Float64Array(warmup);
  let warmedUp = 0;
  const slowMs = opts.slowMs ?? 10;
  const slowBySecond = new Map<number, number>();
  const sendLags = new Float64Array(total - warmup);
  let answered = 0;
  let lagged = 0;
  let ok2xx = 0;
  let non2xx = 0;
  let errors = 0;
  let inFlight = 0;
  let next = 0;
  let done = 0;
  const start = performance.now();
  let lastAnswerAt = start;
  const measuredFrom = start + warmup * intervalMs;
  try {
    await new Promise<void>((resolve) => {
      const finish = () => {
        done += 1;
        if (done === total) resolve();
        else pump();
      };
      const send = (k: number) => {
        const due = start + k * intervalMs;
        const sentAt = performance.now();
        if (k >= warmup) sendLags[lagged++] = sentAt - due;
        inFlight += 1;
        pools[k % pools.length]!
          .request({ method: 'GET', path: opts.path(k), headers: opts.headers ?? {} })
          .then(async (res) => {
            await res.body.dump();
            const at = performance.now();
            if (k < warmup) {
              if (res.statusCode >= 200 && res.statusCode < 300) warmupLatencies[warmedUp++] = at - due;
              return;
            }
            lastAnswerAt = at;
            if (res.statusCode >= 200 && res.statusCode < 300) {
              ok2xx += 1;
              latencies[answered++] = at - due;
              if (at - due > slowMs) {
                const second = Math.floor(((k - warmup) * intervalMs) / 1000);
                slowBySecond.set(second, (slowBySecond.get(second) ?? 0) + 1);
              }
            } else non2xx += 1;
          })
          .catch(() => {
            if (k >= warmup) errors += 1;
          })
          .finally(() => {
            inFlight -= 1;
            finish();
          });
      };
      let timer: NodeJS.Timeout | null = null;
      function pump(): void {
        const now = performance.now();
        // Everything due by now goes (as far as the bound on the wire allows).
        while (next < total && start + next * intervalMs <= now && inFlight < inFlightMax) send(next++);
        if (next >= total || timer) return;
        // Not yet due: wake when the next one is (a full wire wakes on an answer instead).
        if (inFlight < inFlightMax) {
          timer = setTimeout(() => {
            timer = null;
            pump();
          }, Math.max(0, start + next * intervalMs - now));
        }
      }
      pump();
    });
  } finally {
    await Promise.all(pools.map((pool) => pool.close()));
  }
  const answeredMs = Array.from(latencies.subarray(0, answered));
  const lags = Array.from(sendLags.subarray(0, lagged));
  return {
    scheduled: total - warmup,
    ok2xx,
    non2xx,
    errors,
    durationS: Math.round((lastAnswerAt - measuredFrom) / 10) / 100,
    p50Ms: pct(answeredMs, 50),
    p90Ms: pct(answeredMs, 90),
    p99Ms: pct(answeredMs, 99),
    p999Ms: pct(answeredMs, 99.9),
    maxMs: pct(answeredMs, 100),
    sendLagP99Ms: pct(lags, 99),
    slow: [...slowBySecond.values()].reduce((a, b) => a + b, 0),
    secondsWithSlow: slowBySecond.size,
    slowInWorstSecond: Math.max(0, ...slowBySecond.values()),
    warmupP99Ms: pct(Array.from(warmupLatencies.subarray(0, warmedUp)), 99),
    worstSecond: [...slowBySecond].reduce<[number, number] | null>((w, e) => (w === null || e[1] > w[1] ? e : w), null)?.[0] ?? null,
  };
}

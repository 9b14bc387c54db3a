// Calls that arrive together become one: each call of the returned function waits for a flush
// that takes every call pending at the time (at most `chunkMax`), so that many messages handled
// at once share one database transaction instead of one each. A flush starts on the next turn of
// the event loop, or at once when `chunkMax` calls wait; at most `flushesMax` run at a time, and
// calls that arrive meanwhile wait for the next one (the busier, the larger the chunks). When a
// flush of several fails as a whole (its transaction rolled back), each of its calls is flushed
// again alone, so that one call that cannot succeed fails alone and the others go on.

/** One call's own result within a flush: a value, or an error for that call alone. */
export type Settled<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: unknown };

/** Calls of one flush at most, and flushes at once at most (named maxima). */
export const microBatchLimitsMax = { chunkMax: 1_024, flushesMax: 16 } as const;
/**
 * Calls waiting for a flush at most: one more is refused at once (its caller retries later: a
 * message comes again, a provider resends its callback) instead of growing memory without bound
 * while the database is slower than the calls arrive.
 */
export const microBatchPendingMax = 65_536;

export class MicroBatchOverloadedError extends Error {
  constructor() {
    super(`more than ${microBatchPendingMax} calls wait for the database; try again later`);
    this.name = 'MicroBatchOverloadedError';
  }
}

export function microBatcher<Req, Res>(
  flush: (requests: readonly Req[]) => Promise<readonly Settled<Res>[]>,
  chunkMax: number,
  flushesMax: number,
  /** Told when a flush of several fails as a whole, before its calls go one by one (a chunk's own handling should make that rare). */
  onChunkFailed?: (error: unknown, size: number) => void,
): (request: Req) => Promise<Res> {
  if (!(Number.isInteger(chunkMax) && chunkMax >= 1 && chunkMax <= microBatchLimitsMax.chunkMax)) throw new Error(`chunkMax is a whole number from 1 to ${microBatchLimitsMax.chunkMax}`);
  if (!(Number.isInteger(flushesMax) && flushesMax >= 1 && flushesMax <= microBatchLimitsMax.flushesMax)) throw new Error(`flushesMax is a whole number from 1 to ${microBatchLimitsMax.flushesMax}`);
  const pending: { request: Req; resolve: (value: Res) => void; reject: (error: unknown) => void }[] = [];
  let flushing = 0;
  let scheduled = false;

  const flushOf = async (requests: readonly Req[]): Promise<readonly Settled<Res>[]> => {
    const settled = await flush(requests);
    if (settled.length !== requests.length) throw new Error(`invariant violated: a flush of ${requests.length} answered ${settled.length}`);
    return settled;
  };

  const run = async (chunk: typeof pending): Promise<void> => {
    let settled: readonly Settled<Res>[];
    try {
      settled = await flushOf(chunk.map((c) => c.request));
    } catch (error) {
      if (chunk.length === 1) {
        chunk[0]!.reject(error);
        return;
      }
      // One by one, in turn: each fails or succeeds on its own (a failure is retried by its caller).
      onChunkFailed?.(error, chunk.length);
      for (const c of chunk) await run([c]);
      return;
    }
    chunk.forEach((c, i) => {
      const r = settled[i]!;
      if (r.ok) c.resolve(r.value);
      else c.reject(r.error);
    });
  };

  const drain = () => {
    scheduled = false;
    while (pending.length > 0 && flushing < flushesMax) {
      const chunk = pending.splice(0, chunkMax);
      flushing += 1;
      void run(chunk).finally(() => {
        flushing -= 1;
        schedule();
      });
    }
  };

  const schedule = () => {
    if (scheduled || pending.length === 0 || flushing >= flushesMax) return;
    scheduled = true;
    setImmediate(drain);
  };

  return (request) =>
    new Promise<Res>((resolve, reject) => {
      if (pending.length >= microBatchPendingMax) {
        reject(new MicroBatchOverloadedError());
        return;
      }
      pending.push({ request, resolve, reject });
      if (pending.length >= chunkMax && flushing < flushesMax) drain();
      else schedule();
    });
}

/**
 * A microBatcher per owner (a worker's dependencies, a persistence): calls of one owner share
 * flushes, calls of different owners never do. Owners are held weakly.
 */
export function microBatcherPer<Owner extends object, Req, Res>(
  flush: (owner: Owner, requests: readonly Req[]) => Promise<readonly Settled<Res>[]>,
  chunkMax: number,
  flushesMax: number,
  onChunkFailed?: (owner: Owner, error: unknown, size: number) => void,
): (owner: Owner, request: Req) => Promise<Res> {
  const batchers = new WeakMap<Owner, (request: Req) => Promise<Res>>();
  return (owner, request) => {
    let batcher = batchers.get(owner);
    if (!batcher) {
      const told = onChunkFailed ? (error: unknown, size: number) => onChunkFailed(owner, error, size) : undefined;
      batcher = microBatcher((requests: readonly Req[]) => flush(owner, requests), chunkMax, flushesMax, told);
      batchers.set(owner, batcher);
    }
    return batcher(request);
  };
}

// The Transport port inside one process, for the single-machine default run. Same contract as
// Kafka: per-key ordering, at-least-once delivery, a message is done only when its handler
// resolved, a failed handler gets the message again after a capped backoff. Nothing survives a
// restart: the outboxes in PostgreSQL (payouts, payout_results) are the durable record; at the
// next start the relay publishes again what may have been in flight (recoverInProcessWork in
// application/relay.ts), and the worker and settler are idempotent.
import type { Logger } from 'pino';
import type { Delivery, Subscription, Transport, TransportMessage } from '../../application/ports.js';

/** Messages waiting per topic and group at most; past it publish refuses (backpressure). */
export const inProcessQueueMax = 1_000_000;
export const inProcessRetryBackoffMaxMs = 5_000;
/** How often a failed message waiting on a paused subscription looks whether it was resumed. */
export const inProcessPausedPollMs = 100;

interface Group {
  readonly topic: string;
  readonly groupId: string;
  /** Chunks handled at once at most. */
  readonly concurrency: number;
  /** Messages per chunk at most (1 for `subscribe`). */
  readonly chunkMax: number;
  readonly handle: (chunk: readonly Delivery[]) => Promise<void>;
  /** Waiting messages, per key in order; keys in `ready` have no message in flight. */
  readonly byKey: Map<string, TransportMessage[]>;
  readonly ready: string[];
  readonly busyKeys: Set<string>;
  size: number;
  inFlight: number;
  stopped: boolean;
  paused: boolean;
  seq: number;
  idle: (() => void) | null;
}

export function createInProcessTransport(logger: Logger): Transport {
  const groups = new Map<string, Group[]>();
  /** Published before anyone subscribed: handed to the first group of the topic, as Kafka retains it. */
  const retained = new Map<string, TransportMessage[]>();
  const timers = new Set<NodeJS.Timeout>();

  function enqueue(g: Group, m: TransportMessage): void {
    const queue = g.byKey.get(m.key);
    if (queue) queue.push(m);
    else {
      g.byKey.set(m.key, [m]);
      if (!g.busyKeys.has(m.key)) g.ready.push(m.key);
    }
    g.size += 1;
  }

  function pump(g: Group): void {
    while (!g.stopped && !g.paused && g.inFlight < g.concurrency && g.ready.length > 0) {
      // A chunk takes ready keys' messages in their order; a key stays busy until its chunk is done.
      const chunk: TransportMessage[] = [];
      const keys: string[] = [];
      while (chunk.length < g.chunkMax && g.ready.length > 0) {
        const key = g.ready.shift()!;
        const queue = g.byKey.get(key)!;
        const taken = queue.splice(0, g.chunkMax - chunk.length);
        if (queue.length === 0) g.byKey.delete(key);
        g.size -= taken.length;
        g.busyKeys.add(key);
        keys.push(key);
        chunk.push(...taken);
      }
      g.inFlight += 1;
      void deliver(g, chunk, keys, 0);
    }
    if (g.inFlight === 0) g.idle?.();
  }

  async function deliver(g: Group, chunk: readonly TransportMessage[], keys: readonly string[], failed: number): Promise<void> {
    const deliveries = chunk.map((m) => ({ topic: g.topic, key: m.key, value: m.value, position: `${g.topic}@${g.seq++}` }));
    try {
      await g.handle(deliveries);
    } catch (error) {
      logger.warn({ err: error, position: deliveries[0]!.position, messages: chunk.length, failed: failed + 1 }, 'handler failed; the message will be delivered again');
      if (!g.stopped) {
        const retry = () => {
          // Paused (its provider's breakers are open): look again later, without calling the handler.
          if (g.paused && !g.stopped) {
            const wait = setTimeout(() => {
              timers.delete(wait);
              retry();
            }, inProcessPausedPollMs);
            timers.add(wait);
            return;
          }
          void deliver(g, chunk, keys, failed + 1);
        };
        // Capped exponential backoff with full jitter.
        const timer = setTimeout(() => {
          timers.delete(timer);
          retry();
        }, Math.random() * Math.min(inProcessRetryBackoffMaxMs, 100 * 2 ** Math.min(failed + 1, 10)));
        timers.add(timer);
        return;
      }
    }
    g.inFlight -= 1;
    for (const key of keys) {
      g.busyKeys.delete(key);
      if (g.byKey.has(key)) g.ready.push(key);
    }
    pump(g);
  }

  function join(options: Pick<Group, 'topic' | 'groupId' | 'concurrency' | 'chunkMax' | 'handle'>): Subscription {
    const { topic } = options;
    const g: Group = { ...options, byKey: new Map(), ready: [], busyKeys: new Set(), size: 0, inFlight: 0, stopped: false, paused: false, seq: 0, idle: null };
    groups.set(topic, [...(groups.get(topic) ?? []), g]);
    for (const m of retained.get(topic) ?? []) enqueue(g, m);
    retained.delete(topic);
    pump(g);
    return {
      async stop() {
        g.stopped = true;
        if (g.inFlight > 0) await new Promise<void>((resolve) => (g.idle = resolve));
        groups.set(topic, (groups.get(topic) ?? []).filter((x) => x !== g));
      },
      pause() {
        g.paused = true;
      },
      resume() {
        g.paused = false;
        pump(g);
      },
    };
  }

  return {
    async publish(topic, messages) {
      const subscribed = groups.get(topic) ?? [];
      if (subscribed.length === 0) {
        const kept = retained.get(topic) ?? [];
        if (kept.length + messages.length > inProcessQueueMax) throw new Error(`in-process queue for ${topic} is full`);
        for (const m of messages) kept.push(m);
        retained.set(topic, kept);
        return;
      }
      for (const g of subscribed) if (g.size + messages.length > inProcessQueueMax) throw new Error(`in-process queue for ${topic} is full`);
      for (const g of subscribed) {
        for (const m of messages) enqueue(g, m);
        pump(g);
      }
    },

    async subscribe({ topic, groupId, concurrency, window = 1, handle }): Promise<Subscription> {
      return join({ topic, groupId, concurrency: concurrency * window, chunkMax: 1, handle: (chunk) => handle(chunk[0]!) });
    },

    async subscribeChunks({ topic, groupId, concurrency, chunkMax, handle }): Promise<Subscription> {
      return join({ topic, groupId, concurrency, chunkMax, handle });
    },

    async ready() {
      return true;
    },

    async lag() {
      return [...groups.values()].flat().map((g) => ({ topic: g.topic, groupId: g.groupId, lag: g.size + g.inFlight }));
    },

    async close() {
      for (const t of timers) clearTimeout(t);
      timers.clear();
    },
  };
}

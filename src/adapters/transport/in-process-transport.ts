// The Transport port inside one process, for the single-machine default run. Same contract as
// Kafka: per-key ordering, at-least-once delivery, a message is done only when its handler
// resolved, a failed handler gets the message again after a capped backoff. Nothing survives a
// restart: the outboxes in PostgreSQL (payouts, payout_results) are the durable record, and the
// worker and settler are idempotent, so what was in flight is simply republished or recovered.
import type { Logger } from 'pino';
import type { Delivery, Subscription, Transport, TransportMessage } from '../../application/ports.js';

/** Messages waiting per topic and group at most; past it publish refuses (backpressure). */
export const inProcessQueueMax = 1_000_000;
export const inProcessRetryBackoffMaxMs = 5_000;

interface Group {
  readonly topic: string;
  readonly concurrency: number;
  readonly handle: (d: Delivery) => Promise<void>;
  /** Waiting messages, per key in order; keys in `ready` have no message in flight. */
  readonly byKey: Map<string, TransportMessage[]>;
  readonly ready: string[];
  readonly busyKeys: Set<string>;
  size: number;
  inFlight: number;
  stopped: boolean;
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
    while (!g.stopped && g.inFlight < g.concurrency && g.ready.length > 0) {
      const key = g.ready.shift()!;
      const queue = g.byKey.get(key)!;
      const message = queue.shift()!;
      if (queue.length === 0) g.byKey.delete(key);
      g.size -= 1;
      g.busyKeys.add(key);
      g.inFlight += 1;
      void deliver(g, message, 0);
    }
    if (g.inFlight === 0) g.idle?.();
  }

  async function deliver(g: Group, message: TransportMessage, failed: number): Promise<void> {
    const position = `${g.topic}@${g.seq++}`;
    try {
      await g.handle({ topic: g.topic, key: message.key, value: message.value, position });
    } catch (error) {
      logger.warn({ err: error, position, failed: failed + 1 }, 'handler failed; the message will be delivered again');
      if (!g.stopped) {
        const timer = setTimeout(() => {
          timers.delete(timer);
          void deliver(g, message, failed + 1);
        }, Math.min(inProcessRetryBackoffMaxMs, 100 * 2 ** Math.min(failed + 1, 10)));
        timers.add(timer);
        return;
      }
    }
    g.inFlight -= 1;
    g.busyKeys.delete(message.key);
    if (g.byKey.has(message.key)) g.ready.push(message.key);
    pump(g);
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

    async subscribe({ topic, concurrency, handle }): Promise<Subscription> {
      const g: Group = { topic, concurrency, handle, byKey: new Map(), ready: [], busyKeys: new Set(), size: 0, inFlight: 0, stopped: false, seq: 0, idle: null };
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
      };
    },

    async ready() {
      return true;
    },

    async close() {
      for (const t of timers) clearTimeout(t);
      timers.clear();
    },
  };
}

// The Transport port on Apache Kafka (kafkajs). The producer is idempotent and waits for all
// in-sync replicas; consumers commit an offset only after the handler of that message resolved,
// i.e. after the work it carries is durable in PostgreSQL.
import { Kafka, logLevel, type Consumer, type ConsumerRunConfig, type KafkaMessage, type LogEntry, type Producer } from 'kafkajs';
import type { Logger } from 'pino';
import type { Delivery, Subscription, Transport } from '../../application/ports.js';

/** Partitions of a topic Tuma creates, by default: a consumer works on at most this many messages of a topic at once. */
export const topicPartitionsDefault = 16;
/** A topic's partitions at most (each is a file set and a fetch session on the broker). */
export const topicPartitionsMax = 256;
/** A failing handler is retried after this long at most (doubling from 100 ms). */
export const handlerRetryBackoffMaxMs = 5_000;
/** A windowed subscription commits its finished prefix at most this often while a fetched batch is in hand (and always at its end). */
export const windowCommitIntervalMs = 200;

/** Capped exponential backoff with full jitter: retries of many messages do not arrive in step. */
export const retryDelayMs = (failed: number): number => Math.random() * Math.min(handlerRetryBackoffMaxMs, 100 * 2 ** Math.min(failed, 10));
const readyTimeoutMs = 3_000;
/** The group waits at least this long for members to rejoin a rebalance (kafkajs' default). */
export const rebalanceTimeoutMsMin = 60_000;
/** At most (the broker's group.max.session.timeout.ms, 30 min by default, bounds it too). */
export const rebalanceTimeoutMsMax = 30 * 60_000;
/** A consumer's session: the broker expels a member it has not heard from for this long. The broker's own bounds by default (group.min/max.session.timeout.ms). */
export const kafkaSessionTimeoutMsMin = 6_000;
export const kafkaSessionTimeoutMsMax = 300_000;
export const kafkaSessionTimeoutMsDefault = 30_000;

export interface KafkaTransportOptions {
  readonly brokers: readonly string[];
  readonly clientId: string;
  readonly topics: readonly string[];
  /** Partitions of the topics it creates (existing topics keep theirs); topicPartitionsDefault when absent. */
  readonly partitions?: number;
  /** The consumers' session timeout; kafkaSessionTimeoutMsDefault when absent. They heartbeat every tenth of it. */
  readonly sessionTimeoutMs?: number;
  /**
   * How long the group waits, in a rebalance, for a member to finish the calls it has in hand
   * and rejoin; a member slower than this is dropped and its partitions handed on while its calls
   * still run. More than the longest call. Twice the session, and at least rebalanceTimeoutMsMin, when absent.
   */
  readonly rebalanceTimeoutMs?: number;
  readonly logger: Logger;
}

function pinoLogCreator(logger: Logger) {
  return () =>
    ({ level, log }: LogEntry) => {
      const { message, ...extra } = log;
      const fields = { kafka: extra };
      // A member draining its calls during a rebalance heartbeats on purpose and is told so each time.
      const expected = message.startsWith('Response Heartbeat') && /rebalanc/i.test(String(extra.error ?? ''));
      // A partition whose leader is moving (a fresh topic, a broker restart) is retried by kafkajs
      // itself: worth a warning, not an error, unless the retries run out (which it reports apart).
      const retried = /not the leader|leader not available|leadership election|LEADER_NOT_AVAILABLE|NOT_LEADER/i.test(`${message} ${String(extra.error ?? '')} ${String(extra.type ?? '')}`);
      if (expected) logger.debug(fields, message);
      else if (level === logLevel.ERROR && retried) logger.warn(fields, message);
      else if (level === logLevel.ERROR) logger.error(fields, message);
      else if (level === logLevel.WARN) logger.warn(fields, message);
      else logger.debug(fields, message);
    };
}

export async function createKafkaTransport(options: KafkaTransportOptions): Promise<Transport> {
  const logger = options.logger.child({ component: 'kafka' });
  const sessionTimeout = options.sessionTimeoutMs ?? kafkaSessionTimeoutMsDefault;
  if (!(Number.isInteger(sessionTimeout) && sessionTimeout >= kafkaSessionTimeoutMsMin && sessionTimeout <= kafkaSessionTimeoutMsMax)) {
    throw new Error(`sessionTimeoutMs is a whole number from ${kafkaSessionTimeoutMsMin} to ${kafkaSessionTimeoutMsMax}`);
  }
  const heartbeatInterval = Math.floor(sessionTimeout / 10);
  // How long the group waits for its members to rejoin: a member first finishes the calls in hand.
  const rebalanceTimeout = Math.min(rebalanceTimeoutMsMax, Math.max(rebalanceTimeoutMsMin, sessionTimeout * 2, options.rebalanceTimeoutMs ?? 0));
  const kafka = new Kafka({
    clientId: options.clientId,
    brokers: [...options.brokers],
    logLevel: logLevel.WARN,
    logCreator: pinoLogCreator(logger),
    retry: { initialRetryTime: 200, retries: 8, maxRetryTime: 5_000 },
  });
  const admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin, options.topics, options.partitions ?? topicPartitionsDefault);
  // One in-flight request keeps the idempotent producer's ordering guarantee in kafkajs.
  const producer: Producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
  await producer.connect();
  const consumers = new Set<Consumer>();
  const subscriptions = new Set<string>(); // "topic\u0000groupId"

  const deliveryOf = (topic: string, partition: number, message: KafkaMessage): Delivery => ({
    topic,
    key: message.key?.toString('utf8') ?? '',
    value: message.value ?? Buffer.alloc(0),
    position: `${topic}/${partition}@${message.offset}`,
  });

  /** Consumers that crashed and are waiting to be started again: the transport is not ready meanwhile. */
  const down = new Set<string>();
  /** After close(), nothing is started again. */
  let closed = false;

  /**
   * Runs a consumer of the group. `failing` wraps a handler: a failure is logged and waited out
   * (capped backoff, full jitter) before it is rethrown, and nothing is committed, so kafkajs
   * fetches the message again from the last committed offset. A consumer that kafkajs gives up on
   * (it does for a TypeError in a handler, or a commit refused to an expelled member) is started
   * again, with the same backoff, until the subscription is stopped: a worker never sits silent.
   */
  async function consume(
    topic: string,
    groupId: string,
    config: (
      consumer: Consumer,
      failing: (position: string, work: () => Promise<void>, wait?: boolean) => Promise<void>,
      paused: () => boolean,
      failuresOf: (position: string) => number,
    ) => ConsumerRunConfig,
  ): Promise<Subscription> {
    const subscription = `${topic}\u0000${groupId}`;
    subscriptions.add(subscription);
    const failures = new Map<string, number>();
    let isPaused = false;
    let stopped = false;
    let crashes = 0;
    let restartTimer: NodeJS.Timeout | null = null;
    const failing = async (position: string, work: () => Promise<void>, wait = true) => {
      try {
        await work();
      } catch (error) {
        const failed = (failures.get(position) ?? 0) + 1;
        failures.set(position, failed);
        logger.warn({ err: error, position, failed }, 'handler failed; the message will be delivered again');
        if (wait) await new Promise((r) => setTimeout(r, retryDelayMs(failed)));
        throw new HandlerFailed(error);
      }
      failures.delete(position);
    };
    let consumer: Consumer;
    const start = async () => {
      const started = kafka.consumer({ groupId, allowAutoTopicCreation: false, sessionTimeout, rebalanceTimeout, heartbeatInterval });
      consumer = started;
      consumers.add(started);
      started.on(started.events.CRASH, ({ payload }) => {
        if (payload.restart || stopped || closed) return;
        consumers.delete(started);
        down.add(subscription);
        crashes += 1;
        const delay = retryDelayMs(crashes);
        logger.error({ err: payload.error, topic, groupId, crashes, delayMs: Math.round(delay) }, 'consumer stopped on an error kafkajs does not restart on; starting it again');
        const again = () => {
          restartTimer = null;
          if (stopped || closed) return;
          start().then(
            () => down.delete(subscription),
            (error: unknown) => {
              crashes += 1;
              logger.error({ err: error, topic, groupId, crashes }, 'consumer could not be started again; trying later');
              restartTimer = setTimeout(again, retryDelayMs(crashes)).unref();
            },
          );
        };
        restartTimer = setTimeout(again, delay).unref();
      });
      started.on(started.events.GROUP_JOIN, () => {
        crashes = 0;
      });
      await started.connect();
      await started.subscribe({ topic, fromBeginning: true });
      await started.run(config(started, failing, () => isPaused, (position) => failures.get(position) ?? 1));
      if (isPaused) started.pause([{ topic }]);
    };
    await start();
    return {
      async stop() {
        stopped = true;
        if (restartTimer) clearTimeout(restartTimer);
        // disconnect() lets the work in hand finish; its offsets are committed by the handlers above.
        await consumer.disconnect();
        consumers.delete(consumer);
        subscriptions.delete(subscription);
        down.delete(subscription);
      },
      pause() {
        isPaused = true;
        consumer.pause([{ topic }]);
      },
      resume() {
        isPaused = false;
        consumer.resume([{ topic }]);
      },
    };
  }

  return {
    async publish(topic, messages) {
      if (messages.length === 0) return;
      await producer.send({ topic, acks: -1, messages: messages.map((m) => ({ key: m.key, value: m.value })) });
    },

    async subscribe({ topic, groupId, concurrency, window = 1, handle }): Promise<Subscription> {
      // One message at a time is a window of one: the same heartbeats while it waits, the same commits.
      return consume(topic, groupId, (consumer, failing, paused, failuresOf) => ({
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: concurrency,
        eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
          const { partition, messages } = batch;
          const finished = new Set<number>(); // indexes into messages
          const inFlight = new Set<Promise<void>>();
          let launched = 0;
          let prefix = 0; // messages[0 .. prefix) are finished
          let committed = 0; // messages[0 .. committed) are committed
          let committedAt = Date.now();
          let failure: { error: unknown; position: string } | null = null;
          const advance = async (force: boolean) => {
            const before = prefix;
            while (prefix < launched && finished.has(prefix)) prefix += 1;
            if (prefix > before) resolveOffset(messages[prefix - 1]!.offset);
            // Committing is a round trip to the broker: at most every windowCommitIntervalMs, and at the end.
            if (prefix > committed && (force || Date.now() - committedAt >= windowCommitIntervalMs)) {
              committed = prefix;
              committedAt = Date.now();
              await consumer.commitOffsets([{ topic, partition, offset: (BigInt(messages[prefix - 1]!.offset) + 1n).toString() }]);
            }
          };
          const beats = heartbeatsWhileBusy(heartbeat, heartbeatInterval);
          let refused: unknown = null; // a commit refused mid-batch: the member lost its place
          try {
            while (launched < messages.length && failure === null && refused === null && beats.lost() === null && isRunning() && !isStale() && !paused()) {
              if (inFlight.size >= window) {
                await Promise.race(inFlight);
                await advance(false).catch((error: unknown) => void (refused = error));
                continue;
              }
              const index = launched;
              launched += 1;
              const delivery = deliveryOf(topic, partition, messages[index]!);
              const work: Promise<void> = failing(delivery.position, () => handle(delivery), false).then(
                () => void finished.add(index),
                (error: unknown) => void (failure ??= { error, position: delivery.position }),
              );
              const tracked = work.finally(() => inFlight.delete(tracked));
              inFlight.add(tracked);
            }
            // Stopping, pausing, rebalanced or failed: what is in hand finishes, and what finished in order is committed.
            await Promise.all(inFlight);
          } finally {
            await beats.stop();
          }
          await settle(beats.lost() ?? refused, () => advance(true));
          await heartbeat().catch(rethrowForRejoin);
          if (failure !== null) {
            const { error, position } = failure;
            // Not committed past it: kafkajs fetches again from here, after the backoff.
            await new Promise((r) => setTimeout(r, retryDelayMs(failuresOf(position))));
            throw error;
          }
        },
      }));
    },

    async subscribeChunks({ topic, groupId, concurrency, chunkMax, handle }): Promise<Subscription> {
      return consume(topic, groupId, (consumer, failing, paused) => ({
        autoCommit: false,
        // Offsets are resolved chunk by chunk: what is left of a fetched batch when the consumer
        // stops, pauses or is rebalanced is fetched again from the last resolved offset.
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: concurrency,
        eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
          const { partition, messages } = batch;
          for (let i = 0; i < messages.length; i += chunkMax) {
            if (!isRunning() || isStale() || paused()) return;
            const slice = messages.slice(i, i + chunkMax);
            const chunk = slice.map((m) => deliveryOf(topic, partition, m));
            const beats = heartbeatsWhileBusy(heartbeat, heartbeatInterval);
            try {
              await failing(chunk[0]!.position, () => handle(chunk));
            } finally {
              await beats.stop();
            }
            const last = slice[slice.length - 1]!.offset;
            resolveOffset(last);
            await settle(beats.lost(), () => consumer.commitOffsets([{ topic, partition, offset: (BigInt(last) + 1n).toString() }]));
            await heartbeat().catch(rethrowForRejoin);
          }
        },
      }));
    },

    async ready() {
      if (down.size > 0) return false;
      const probe = admin.describeCluster().then((c) => c.brokers.length > 0, () => false);
      const timeout = new Promise<boolean>((resolve) => setTimeout(() => resolve(false), readyTimeoutMs).unref());
      return Promise.race([probe, timeout]);
    },

    async lag() {
      // Per subscription: the partitions' high watermarks minus the group's committed offsets.
      const lags: { topic: string; groupId: string; lag: number }[] = [];
      for (const s of subscriptions) {
        const [topic, groupId] = s.split('\u0000') as [string, string];
        const [high, committed] = await Promise.all([admin.fetchTopicOffsets(topic), admin.fetchOffsets({ groupId, topics: [topic] })]);
        const done = new Map((committed[0]?.partitions ?? []).map((p) => [p.partition, BigInt(p.offset)]));
        let lag = 0n;
        for (const p of high) {
          const end = BigInt(p.high);
          const at = done.get(p.partition) ?? -1n;
          lag += at < 0n ? end - BigInt(p.low) : end - at;
        }
        lags.push({ topic, groupId, lag: Number(lag) });
      }
      return lags;
    },

    async close() {
      closed = true;
      await Promise.all([...consumers].map((c) => c.disconnect()));
      consumers.clear();
      await producer.disconnect();
      await admin.disconnect();
    },
  };
}

/** A handler's failure, marked so that kafkajs retries it (it would give up the consumer on a TypeError). */
class HandlerFailed extends Error {
  readonly retriable = true;
  constructor(cause: unknown) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
    this.name = 'HandlerFailed';
  }
}

/** Kafka's answers that mean "this member must join the group again" (the message says why). */
const rejoinTypes = new Set(['UNKNOWN_MEMBER_ID', 'REBALANCE_IN_PROGRESS', 'ILLEGAL_GENERATION', 'NOT_COORDINATOR_FOR_GROUP', 'NOT_COORDINATOR', 'FENCED_INSTANCE_ID']);

/**
 * The protocol error under kafkajs' wrappers when it asks for a rejoin, so that the runner sees
 * its type and rejoins; kafkajs does not look under a commit's KafkaJSNonRetriableError and would
 * otherwise stop the consumer for good.
 */
function rejoinCause(error: unknown): unknown {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth += 1) {
    const type = (e as { type?: unknown }).type;
    if (typeof type === 'string' && rejoinTypes.has(type)) return e;
  }
  return null;
}

function rethrowForRejoin(error: unknown): never {
  throw rejoinCause(error) ?? error;
}

/**
 * Heartbeats every `intervalMs` while a handler is busy, so that a slow provider (or a call that
 * waits its turn under an account's rate limit) does not outlast the session and get the member
 * expelled. The first failure, a rebalance or an expulsion, is kept: the caller launches nothing
 * more, lets what is in hand finish, commits what it can and rejoins. It goes on heartbeating
 * meanwhile: the broker answers "rebalance in progress" but still counts the member alive, and a
 * member that fell silent while it drained would be dropped from the rebalance and its partitions
 * handed on with its calls still in hand: the same payout in two workers' hands at once.
 */
function heartbeatsWhileBusy(heartbeat: () => Promise<void>, intervalMs: number) {
  let lost: unknown = null;
  let beating: Promise<void> | null = null;
  const timer = setInterval(() => {
    if (beating !== null) return;
    beating = heartbeat()
      .catch((error: unknown) => {
        lost ??= error;
      })
      .finally(() => {
        beating = null;
      });
  }, intervalMs);
  return {
    lost: () => lost,
    /** No more beats; one in flight is not waited for (kafkajs shares it with the next heartbeat()), so an unreachable broker does not hold the batch up. */
    async stop() {
      clearInterval(timer);
    },
  };
}

/**
 * Commits the work that finished; when the member lost its place meanwhile, a refused commit is
 * expected (the next owner gets those messages again, and handlers are idempotent), and the loss
 * is what is thrown, so that kafkajs rejoins the group.
 */
async function settle(lost: unknown, commit: () => Promise<unknown>): Promise<void> {
  try {
    await commit();
  } catch (error) {
    rethrowForRejoin(lost ?? error);
  }
  if (lost !== null) rethrowForRejoin(lost);
}

/** How long a start waits for the topics it created to have a leader on every partition. */
export const topicsReadyTimeoutMs = 60_000;

async function ensureTopics(admin: ReturnType<Kafka['admin']>, topics: readonly string[], partitions: number): Promise<void> {
  const existing = new Set(await admin.listTopics());
  const missing = topics.filter((t) => !existing.has(t));
  if (missing.length === 0) return;
  // kafkajs' own waitForLeaders gives up on "does not host this topic-partition", which a fresh
  // topic answers while its partitions are being placed: wait here until each has a leader.
  await admin.createTopics({ waitForLeaders: false, topics: missing.map((topic) => ({ topic, numPartitions: partitions })) });
  const deadline = Date.now() + topicsReadyTimeoutMs;
  for (;;) {
    try {
      const { topics: described } = await admin.fetchTopicMetadata({ topics: missing });
      const ready = described.length === missing.length && described.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0));
      if (ready) return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
    }
    if (Date.now() > deadline) throw new Error(`topics without a leader after ${topicsReadyTimeoutMs} ms: ${missing.join(', ')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// Per provider account: at most `concurrency` calls at once and at most `ratePerSecond` started
// per second (a token bucket holding one second's worth), both FIFO. Providers throttle partners
// that exceed their agreed rates (HTTP 429, "rate limit" codes, or silently slower answers); the
// worker waits here instead, holding its slot, which is the backpressure the consumer needs.

/** Named maxima of an account's limits. */
export const callLimitsMax = { ratePerSecond: 10_000, concurrency: 1_024 } as const;

export interface CallLimits {
  /** Calls started per second at most; null = no limit. */
  readonly ratePerSecond: number | null;
  /** Calls in flight at most; null = no limit. */
  readonly concurrency: number | null;
}

/**
 * One process's share of an account's limits when `processes` worker processes call it (config
 * WORKER_PROCESSES): the rate divided, the calls at once divided and rounded down, so that the
 * processes together stay within what the partner agreed. The config refuses more processes than
 * an account has calls at once.
 */
export function shareOf(limits: CallLimits, processes: number): CallLimits {
  if (!(Number.isInteger(processes) && processes >= 1)) throw new Error('processes is a whole number from 1');
  if (processes === 1) return limits;
  if (limits.concurrency !== null && limits.concurrency < processes) throw new Error(`${processes} processes cannot share ${limits.concurrency} call(s) at once`);
  return {
    ratePerSecond: limits.ratePerSecond === null ? null : limits.ratePerSecond / processes,
    concurrency: limits.concurrency === null ? null : Math.floor(limits.concurrency / processes),
  };
}

export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

const systemClock: Clock = { now: () => performance.now(), sleep: (ms) => new Promise((r) => setTimeout(r, ms)) };

export class CallLimiter {
  private tokens: number;
  private refilledAt: number;
  private inFlight = 0;
  /** Calls past both limits and not yet answered: the calls at the provider now, whatever the limits. */
  private calling = 0;
  private readonly slotWaiters: (() => void)[] = [];
  private rateQueue: Promise<void> = Promise.resolve();

  constructor(private readonly limits: CallLimits, private readonly clock: Clock = systemClock) {
    if (limits.ratePerSecond !== null && !(limits.ratePerSecond > 0 && limits.ratePerSecond <= callLimitsMax.ratePerSecond)) {
      throw new Error(`ratePerSecond is between 0 and ${callLimitsMax.ratePerSecond}`);
    }
    if (limits.concurrency !== null && !(Number.isInteger(limits.concurrency) && limits.concurrency >= 1 && limits.concurrency <= callLimitsMax.concurrency)) {
      throw new Error(`concurrency is a whole number from 1 to ${callLimitsMax.concurrency}`);
    }
    this.tokens = this.capacity();
    this.refilledAt = clock.now();
  }

  async run<T>(call: () => Promise<T>): Promise<T> {
    await this.slot();
    try {
      await this.token();
      this.calling++;
      try {
        return await call();
      } finally {
        this.calling--;
      }
    } finally {
      this.release();
    }
  }

  /** The calls this limiter has let through and that have not ended yet (in this process). */
  get callsInFlight(): number {
    return this.calling;
  }

  private capacity(): number {
    return Math.max(1, this.limits.ratePerSecond ?? 1);
  }

  private async slot(): Promise<void> {
    const max = this.limits.concurrency;
    if (max === null) return;
    if (this.inFlight < max) {
      this.inFlight++;
      return;
    }
    // The slot is handed over by release(): inFlight stays counted for the waiter.
    await new Promise<void>((resolve) => this.slotWaiters.push(resolve));
  }

  private release(): void {
    if (this.limits.concurrency === null) return;
    const next = this.slotWaiters.shift();
    if (next) next();
    else this.inFlight--;
  }

  /** One token, in arrival order: each caller waits behind the ones before it. */
  private token(): Promise<void> {
    const rate = this.limits.ratePerSecond;
    if (rate === null) return Promise.resolve();
    const turn = this.rateQueue.then(async () => {
      const now = this.clock.now();
      this.tokens = Math.min(this.capacity(), this.tokens + ((now - this.refilledAt) / 1_000) * rate);
      this.refilledAt = now;
      if (this.tokens < 1) {
        const waitMs = ((1 - this.tokens) / rate) * 1_000;
        await this.clock.sleep(waitMs);
        this.tokens = 1;
        this.refilledAt = this.clock.now();
      }
      this.tokens -= 1;
    });
    this.rateQueue = turn;
    return turn;
  }
}

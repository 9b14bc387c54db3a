// Every provider call goes through its own opossum circuit breaker. Only provider trouble
// (timeouts, 5xx, connection errors: ambiguous outcomes) counts against the breaker; a business
// rejection is a healthy answer. While open, calls are refused before anything is sent.
// An admin may hold an account open by hand (no payout sent, no probe, until released; status
// queries still go out: they move no money) or close its breaker by hand (provider_account_holds,
// applied by application/breaker-holds.ts).
import CircuitBreaker from 'opossum';
import type { Logger } from 'pino';
import { ProviderUnavailableError, type PayoutProvider, type ProviderAdapter, type StatusQuery, type SubmitRequest } from '../../application/ports.js';
import type { ProviderId } from '../../domain/providers.js';
import { CallLimiter, type CallLimits } from './call-limiter.js';
import { withoutUrls } from './token-cache.js';
import { unknown, type ProviderOutcome } from '../../domain/provider-outcome.js';

export interface BreakerSettings {
  readonly timeoutMs: number;
  readonly errorThresholdPercent: number;
  readonly resetTimeoutMs: number;
  readonly volumeThreshold: number;
}

/** Told of every provider call: what was asked, what came of it, how long it took. */
export interface ProviderCallObserver {
  call(account: string, provider: string, operation: 'submit' | 'status', outcome: ProviderOutcome['kind'] | 'refused', seconds: number): void;
}

export type BreakerState = 'closed' | 'open' | 'half_open';
/** Why the breaker's state changed: its calls (failures, a probe), an admin's hold, or a close by hand. */
export type BreakerCause = 'calls' | 'hold' | 'hand';
export interface BreakerChange {
  readonly state: BreakerState;
  readonly previous: BreakerState;
  readonly cause: BreakerCause;
}

class AmbiguousOutcome extends Error {
  constructor(readonly outcome: ProviderOutcome) {
    super(outcome.kind === 'unknown' ? outcome.detail : outcome.kind);
  }
}

export class GuardedProvider implements PayoutProvider {
  readonly id: ProviderId;
  readonly accountId: string;
  readonly breaker: CircuitBreaker<[SubmitRequest], ProviderOutcome>;
  /** The account's agreed rate and concurrency: a call waits here, outside the breaker's timeout. */
  private readonly limiter: CallLimiter;

  /** The account's calls sent and not yet answered, by this process (each worker process counts its own). */
  callsInFlight(): number {
    return this.limiter.callsInFlight;
  }

  /** One guard (one breaker) per provider account: an outage of one market does not stop another. */
  constructor(
    private readonly inner: ProviderAdapter & { readonly id: ProviderId },
    settings: BreakerSettings,
    logger: Logger,
    accountId: string = inner.id,
    private readonly observer: ProviderCallObserver | null = null,
    callLimits: CallLimits = { ratePerSecond: null, concurrency: null },
  ) {
    this.limiter = new CallLimiter(callLimits);
    this.id = inner.id;
    this.accountId = accountId;
    this.breaker = new CircuitBreaker(
      async (req: SubmitRequest) => {
        const outcome = await inner.submit(req);
        if (outcome.kind === 'unknown') throw new AmbiguousOutcome(outcome); // counts as a failure
        return outcome;
      },
      {
        name: `provider:${accountId}`,
        // The client's own fetch timeout is the real bound; opossum's is a backstop a little later.
        timeout: settings.timeoutMs + 1_000,
        errorThresholdPercentage: settings.errorThresholdPercent,
        resetTimeout: settings.resetTimeoutMs,
        volumeThreshold: settings.volumeThreshold,
        // Nothing reads opossum's latency percentiles or its per-second snapshots (the metrics time
        // calls themselves: observed()). With percentiles on, every failure's threshold check
        // concatenated and sorted the window's latencies (a sort of up to ~10,000 per failure when a
        // provider fails at 1,000 calls a second), and a snapshot did the same every second.
        rollingPercentilesEnabled: false,
        enableSnapshots: false,
      },
    );
    const log = logger.child({ provider: inner.id, account: accountId });
    this.breaker.on('open', () => log.warn('breaker open: calls refused until a probe succeeds'));
    this.breaker.on('halfOpen', () => log.info('breaker half-open: probing'));
    this.breaker.on('close', () => log.info('breaker closed'));
    this.breaker.on('open', () => this.changed());
    this.breaker.on('halfOpen', () => this.changed());
    this.breaker.on('close', () => this.changed());
  }

  available(): boolean {
    return !this.held && !this.breaker.opened;
  }

  private readonly listeners: ((change: BreakerChange) => void)[] = [];
  private held = false;
  private cause: BreakerCause = 'calls';
  private lastState: BreakerState = 'closed';

  /** Called after every change of the breaker's state as callers see it (open, half-open, closed), with its cause. */
  onStateChange(listener: (change: BreakerChange) => void): void {
    this.listeners.push(listener);
  }

  private changed(): void {
    const state = this.breakerState();
    const cause = this.cause;
    this.cause = 'calls';
    if (state === this.lastState) return;
    const change = { state, previous: this.lastState, cause };
    this.lastState = state;
    for (const listener of this.listeners) listener(change);
  }

  /** Held open by an admin: no payout is sent and no probe is made until closeByHand (status queries still are). */
  hold(): void {
    if (this.held) return;
    this.held = true;
    this.cause = 'hold';
    this.changed();
  }

  /** Lifts a hold and closes the breaker now: calls flow (failures may open it again). */
  closeByHand(): void {
    this.held = false;
    this.cause = 'hand';
    this.breaker.close();
    this.cause = 'hand';
    this.changed();
  }

  isHeld(): boolean {
    return this.held;
  }

  /** The breaker: closed (calls flow), open (calls refused unsent; held open by an admin too), half-open (a probe decides). */
  breakerState(): BreakerState {
    if (this.held) return 'open';
    return this.breaker.halfOpen ? 'half_open' : this.breaker.opened ? 'open' : 'closed';
  }

  private observed(operation: 'submit' | 'status', outcome: ProviderOutcome['kind'] | 'refused', started: bigint): void {
    this.observer?.call(this.accountId, this.id, operation, outcome, Number(process.hrtime.bigint() - started) / 1e9);
  }

  /** Status queries are not guarded yet: an unanswered one is unknown and simply asked again later. */
  async status(query: StatusQuery): Promise<ProviderOutcome> {
    const started = process.hrtime.bigint();
    let outcome: ProviderOutcome;
    try {
      outcome = await this.limiter.run(() => this.inner.status(query));
    } catch (error) {
      outcome = unknown(null, withoutUrls(`status query failed: ${(error as Error).message}`).slice(0, 200));
    }
    this.observed('status', outcome.kind, started);
    return outcome;
  }

  async submit(req: SubmitRequest): Promise<ProviderOutcome> {
    const started = process.hrtime.bigint();
    if (this.held) {
      this.observed('submit', 'refused', started);
      throw new ProviderUnavailableError(this.id, `${this.id} account ${this.accountId} is held open by an admin`);
    }
    let outcome: ProviderOutcome;
    try {
      outcome = await this.limiter.run(() => this.breaker.fire(req));
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === 'EOPENBREAKER') {
        this.observed('submit', 'refused', started);
        throw new ProviderUnavailableError(this.id, `${this.id} breaker is open`);
      }
      // ETIMEDOUT from opossum, an aborted fetch, a reset connection: the request may have landed.
      outcome = error instanceof AmbiguousOutcome ? error.outcome : unknown(code ?? null, withoutUrls(`${code ?? 'error'}: ${(error as Error).message}`).slice(0, 200));
    }
    this.observed('submit', outcome.kind, started);
    return outcome;
  }

  shutdown(): void {
    this.breaker.shutdown();
  }
}

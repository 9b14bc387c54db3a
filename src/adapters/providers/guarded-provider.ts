// Every provider call goes through its own opossum circuit breaker. Only provider trouble
// (timeouts, 5xx, connection errors: ambiguous outcomes) counts against the breaker; a business
// rejection is a healthy answer. While open, calls are refused before anything is sent.
import CircuitBreaker from 'opossum';
import type { Logger } from 'pino';
import { ProviderUnavailableError, type PayoutProvider, type ProviderAdapter, type StatusQuery, type SubmitRequest } from '../../application/ports.js';
import type { ProviderId } from '../../domain/providers.js';
import { unknown, type ProviderOutcome } from '../../domain/provider-outcome.js';

export interface BreakerSettings {
  readonly timeoutMs: number;
  readonly errorThresholdPercent: number;
  readonly resetTimeoutMs: number;
  readonly volumeThreshold: number;
}

class AmbiguousOutcome extends Error {
  constructor(readonly outcome: ProviderOutcome) {
    super(outcome.kind === 'unknown' ? outcome.detail : outcome.kind);
  }
}

export class GuardedProvider implements PayoutProvider {
  readonly id: ProviderId;
  readonly breaker: CircuitBreaker<[SubmitRequest], ProviderOutcome>;

  constructor(private readonly inner: ProviderAdapter & { readonly id: ProviderId }, settings: BreakerSettings, logger: Logger) {
    this.id = inner.id;
    this.breaker = new CircuitBreaker(
      async (req: SubmitRequest) => {
        const outcome = await inner.submit(req);
        if (outcome.kind === 'unknown') throw new AmbiguousOutcome(outcome); // counts as a failure
        return outcome;
      },
      {
        name: `provider:${inner.id}`,
        // The client's own fetch timeout is the real bound; opossum's is a backstop a little later.
        timeout: settings.timeoutMs + 1_000,
        errorThresholdPercentage: settings.errorThresholdPercent,
        resetTimeout: settings.resetTimeoutMs,
        volumeThreshold: settings.volumeThreshold,
      },
    );
    const log = logger.child({ provider: inner.id });
    this.breaker.on('open', () => log.warn('breaker open: calls refused until a probe succeeds'));
    this.breaker.on('halfOpen', () => log.info('breaker half-open: probing'));
    this.breaker.on('close', () => log.info('breaker closed'));
  }

  available(): boolean {
    return !this.breaker.opened;
  }

  /** Status queries are not guarded yet: an unanswered one is unknown and simply asked again later. */
  async status(query: StatusQuery): Promise<ProviderOutcome> {
    try {
      return await this.inner.status(query);
    } catch (error) {
      return unknown(null, `status query failed: ${(error as Error).message}`.slice(0, 200));
    }
  }

  async submit(req: SubmitRequest): Promise<ProviderOutcome> {
    try {
      return await this.breaker.fire(req);
    } catch (error) {
      if (error instanceof AmbiguousOutcome) return error.outcome;
      const code = (error as { code?: string }).code;
      if (code === 'EOPENBREAKER') throw new ProviderUnavailableError(this.id, `${this.id} breaker is open`);
      // ETIMEDOUT from opossum, an aborted fetch, a reset connection: the request may have landed.
      return unknown(code ?? null, `${code ?? 'error'}: ${(error as Error).message}`.slice(0, 200));
    }
  }

  shutdown(): void {
    this.breaker.shutdown();
  }
}

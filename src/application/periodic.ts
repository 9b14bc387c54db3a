import type { Logger } from 'pino';

/**
 * Whether a failure is the database server shutting down or restarting (SQLSTATE 57P01 admin
 * shutdown, 57P02 crash shutdown, 57P03 cannot connect now): at a stop (the embedded PostgreSQL
 * takes the same Ctrl-C as we do) or a restart, the step is tried again next time; no error of ours.
 */
export const isDatabaseShuttingDown = (error: unknown): boolean => /^57P0[123]$/.test(String((error as { code?: unknown } | null)?.code ?? ''));

/** Logs a failed background step: a warning without a stack while the database is shutting down, an error otherwise. */
export function logStepFailure(logger: Logger, error: unknown, message: string): void {
  if (isDatabaseShuttingDown(error)) logger.warn({ code: (error as { code?: string }).code }, `${message} (the database is shutting down or restarting)`);
  else logger.error({ err: error }, message);
}

// A background step run every `intervalMs` until stopped: the next run is scheduled after the
// previous one ends (no overlap, no busy loop); a failing step is reported and tried again next
// time; stop() waits for the step in flight. `stopped()` lets a step that drains a backlog in
// rounds end early.
export function runEvery(
  intervalMs: number,
  step: (stopped: () => boolean) => Promise<void>,
  onError: (error: unknown) => void,
): { stop(): Promise<void> } {
  let stopped = false;
  let running: Promise<void> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  const tick = () => {
    running = (async () => {
      try {
        await step(() => stopped);
      } catch (error) {
        onError(error);
      }
      if (!stopped) timer = setTimeout(tick, intervalMs);
    })();
  };
  timer = setTimeout(tick, 0);
  return {
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}

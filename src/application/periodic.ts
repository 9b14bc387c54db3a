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

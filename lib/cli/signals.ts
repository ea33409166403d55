/**
 * SIGTERM, SIGINT and SIGHUP during a run (SPEC §9): the first stops new work and aborts running
 * transfers, and the run then writes its state and hold ledger, releases the lock and exits
 * non-zero; if that has not happened within STOP_DEADLINE_MS, or a second signal comes, `now`
 * writes what it can and exits at once.
 */
export const STOP_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;
/** Well inside the 15 s a service manager or a cron timeout gives before SIGKILL. */
export const STOP_DEADLINE_MS = 12_000;

export interface StopHandling {
  /** Aborted with the signal's name as the reason. */
  signal: AbortSignal;
  /** Removes the handlers (the run is over). */
  uninstall(): void;
}

export function handleStopSignals(onFirst: (name: string) => void, now: (name: string) => void): StopHandling {
  const controller = new AbortController();
  let deadline: NodeJS.Timeout | undefined;
  const handler = (name: NodeJS.Signals) => {
    if (controller.signal.aborted) return now(name);
    controller.abort(name);
    onFirst(name);
    deadline = setTimeout(() => now(name), STOP_DEADLINE_MS);
  };
  for (const s of STOP_SIGNALS) process.on(s, handler);
  return {
    signal: controller.signal,
    uninstall() {
      clearTimeout(deadline);
      for (const s of STOP_SIGNALS) process.off(s, handler);
    },
  };
}

/**
 * `run --splay SECONDS` (SPEC §11): a fleet whose cron fires at the same minute spreads its runs
 * over SECONDS, each host by a fixed share of it (from a hash of its name), so a thousand sources
 * do not open their SSH connections to one backup host at once (sshd's MaxStartups).
 * The same host waits the same time every run: its snapshots keep a steady rhythm.
 */
import { createHash } from 'node:crypto';
import { STOP_SIGNALS } from './signals.js';

/** Longest --splay: a run must start well inside the cron interval that follows. */
export const MAX_SPLAY_S = 3600;

/** This host's wait, in ms, within [0, splayS): stable for a host name, spread evenly across names. */
export function splayDelayMs(hostName: string, splayS: number): number {
  const hash = createHash('sha256').update(hostName).digest().readUInt32BE(0);
  return Math.floor((hash / 2 ** 32) * splayS * 1000);
}

/**
 * Waits `ms`. A stop signal (SIGTERM, SIGINT, SIGHUP) ends the wait at once: the name of the
 * signal is returned, and the run must not start.
 */
export function waitForSplay(ms: number): Promise<string | null> {
  return new Promise((resolve) => {
    const done = (name: string | null) => {
      clearTimeout(timer);
      for (const s of STOP_SIGNALS) process.off(s, onSignal);
      resolve(name);
    };
    const onSignal = (name: NodeJS.Signals) => done(name);
    const timer = setTimeout(() => done(null), ms);
    for (const s of STOP_SIGNALS) process.on(s, onSignal);
  });
}

/**
 * What the last runs did, per dataset and destination: `<state-dir>/state.json`. `zback status`
 * reads it (no network needed). Written atomically (temporary file + rename), so a reader never
 * sees half a file even while a run is writing it.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const STATE_VERSION = 1;

export type DestinationResult = 'sent' | 'up-to-date' | 'not-due' | 'failed' | 'diverged' | 'unreachable' | 'error' | 'resume';

export interface DestinationState {
  /** When a run last looked at this destination. */
  lastRun: string;
  result: DestinationResult;
  error?: string;
  /** The newest snapshot known to be on the destination (the base of the next send). */
  lastReplicated?: string;
  /**
   * Snapshots that may be on the destination beyond lastReplicated: a send that failed after some
   * of an -I stream was received, or whose result was lost with the connection. Kept on the source
   * like bases until the destination can be asked again (then the guids tell).
   */
  mayHave?: string[];
  /** The time of that snapshot (from its name), ISO. */
  lastReplicatedTime?: string;
  /** When a run last succeeded for this destination. */
  lastSuccess?: string;
  bytes?: number;
}

export interface DatasetState {
  lastRun: string;
  ok: boolean;
  errors: string[];
  notes: string[];
  destinations: Record<string, DestinationState>;
}

export interface RunState {
  version: number;
  run?: { started: string; finished: string; exitCode: number; host: string; interrupted?: string };
  datasets: Record<string, DatasetState>;
}

export function statePath(stateDir: string): string {
  return join(stateDir, 'state.json');
}

/** The recorded state, or an empty one when there is none yet (or it is unreadable). */
export function readRunState(stateDir: string): RunState {
  try {
    const data = JSON.parse(readFileSync(statePath(stateDir), 'utf8')) as RunState;
    if (data.version === STATE_VERSION && data.datasets && typeof data.datasets === 'object') return data;
  } catch {
    /* none yet */
  }
  return { version: STATE_VERSION, datasets: {} };
}

export function writeRunState(stateDir: string, state: RunState): void {
  mkdirSync(stateDir, { recursive: true });
  const path = statePath(stateDir);
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(state, null, 1) + '\n', { mode: 0o644 });
  renameSync(tmp, path);
}

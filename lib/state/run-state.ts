/**
 * What the last runs did, per dataset and destination: `<state-dir>/state.json`. `zback status`
 * reads it (no network needed). Written atomically (temporary file + rename), so a reader never
 * sees half a file even while a run is writing it.
 */
import { mkdirSync } from 'node:fs';
import { keepAside, readJson, writeFileAtomically } from './files.js';
import { join } from 'node:path';

export const STATE_VERSION = 1;

export type DestinationResult = 'sent' | 'up-to-date' | 'not-due' | 'failed' | 'diverged' | 'unreachable' | 'error' | 'resume';

export interface RecordedDestination {
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
  /** The stream options the copy was seeded with ("-L -e -c", "" for none): every later send keeps them (SPEC §11). */
  stream?: string;
  bytes?: number;
}

export interface RecordedDataset {
  lastRun: string;
  ok: boolean;
  errors: string[];
  notes: string[];
  destinations: Record<string, RecordedDestination>;
}

export interface RunState {
  version: number;
  run?: { started: string; finished: string; exitCode: number; host: string; interrupted?: string };
  datasets: Record<string, RecordedDataset>;
}

export function statePath(stateDir: string): string {
  return join(stateDir, 'state.json');
}

/** The recorded state, or an empty one when there is none yet (or it is corrupt: see readRunStateChecked). */
export function readRunState(stateDir: string): RunState {
  return readRunStateChecked(stateDir).state;
}

/**
 * The recorded state and, when the file is corrupt, what is wrong; with `keepAside` (a run) the
 * corrupt file is renamed `state.json.corrupt-<time>` so the run's new state does not replace it.
 */
export function readRunStateChecked(stateDir: string, options: { keepAside?: boolean } = {}): { state: RunState; problem?: string } {
  const path = statePath(stateDir);
  const read = readJson(path);
  const empty = { version: STATE_VERSION, datasets: {} };
  if (read.kind === 'missing') return { state: empty };
  const data = read.kind === 'ok' ? (read.value as RunState) : null;
  if (data && data.version === STATE_VERSION && data.datasets && typeof data.datasets === 'object') return { state: data };
  const why = read.kind === 'error' ? read.error : 'not a zback state file of this version';
  return { state: empty, problem: `${path} is corrupt (${why})${options.keepAside ? `; kept as ${keepAside(path)}` : ''}` };
}

export function writeRunState(stateDir: string, state: RunState): void {
  mkdirSync(stateDir, { recursive: true });
  writeFileAtomically(statePath(stateDir), JSON.stringify(state, null, 1) + '\n');
}

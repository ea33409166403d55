/**
 * A bounded history of runs: `<state-dir>/history.jsonl`, one line per run, for the replication
 * lag that `zback status --html` draws over the last runs. A line is appended at the end of each
 * run (no read, so a run pays nothing for the history); once the file passes MAX_BYTES it is
 * rewritten with the newest runs that fit in half of it. A line that cannot be read is skipped, never fatal: the history
 * only draws a picture.
 */
import { appendFileSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { RunState } from './run-state.js';
import { writeFileAtomically } from './files.js';

/** 4 MiB: months of runs every 5 minutes for a few datasets, dozens of runs for a thousand. */
export const MAX_HISTORY_BYTES = 4 * 1024 * 1024;

export interface RunHistoryEntry {
  /** When the run finished (ISO; the run's own clock, as state.json). */
  t: string;
  exit: number;
  /** Per dataset and destination key: the replication lag in seconds at the end of the run (null: nothing replicated yet) and the run's result. */
  d: Record<string, Record<string, [number | null, string]>>;
}

export function historyPath(stateDir: string): string {
  return join(stateDir, 'history.jsonl');
}

/** What a run leaves in the history: its end, its exit code, and each destination's lag then. */
export function historyEntry(state: RunState, finished: number, exitCode: number): RunHistoryEntry {
  const d: RunHistoryEntry['d'] = {};
  for (const [dataset, recorded] of Object.entries(state.datasets)) {
    for (const [key, r] of Object.entries(recorded.destinations ?? {})) {
      const t = r.lastReplicatedTime ? Date.parse(r.lastReplicatedTime) : NaN;
      (d[dataset] ??= {})[key] = [Number.isFinite(t) ? Math.max(0, Math.round((finished - t) / 1000)) : null, r.result];
    }
  }
  return { t: new Date(finished).toISOString(), exit: exitCode, d };
}

export function appendRunHistory(stateDir: string, entry: RunHistoryEntry, maxBytes = MAX_HISTORY_BYTES): void {
  mkdirSync(stateDir, { recursive: true });
  const path = historyPath(stateDir);
  appendFileSync(path, JSON.stringify(entry) + '\n', { mode: 0o644 });
  if (statSync(path).size <= maxBytes) return;
  const lines = readFileSync(path, 'utf8').split('\n').filter(Boolean);
  // The newest lines that fit in half the cap (at least the newest run).
  let first = lines.length - 1;
  for (let size = lines[first]!.length + 1; first > 0 && size + lines[first - 1]!.length + 1 <= maxBytes / 2; first--) size += lines[first - 1]!.length + 1;
  const keep = lines.slice(first);
  writeFileAtomically(path, keep.map((l) => `${l}\n`).join(''));
}

/** The runs recorded, oldest first; lines that cannot be read are skipped. */
export function readRunHistory(stateDir: string): RunHistoryEntry[] {
  let text: string;
  try {
    text = readFileSync(historyPath(stateDir), 'utf8');
  } catch {
    return [];
  }
  const entries: RunHistoryEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    try {
      const e = JSON.parse(line) as RunHistoryEntry;
      if (typeof e.t === 'string' && Number.isFinite(Date.parse(e.t)) && typeof e.exit === 'number' && e.d && typeof e.d === 'object') entries.push(e);
    } catch {
      // a torn or foreign line: skipped
    }
  }
  return entries;
}

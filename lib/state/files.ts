/**
 * Reading zback's own state files (state.json, holds.json): a missing file is normal, a corrupt
 * one is a problem to report (SPEC §9), never silently an empty state.
 */
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';

export type JsonRead = { kind: 'missing' } | { kind: 'ok'; value: unknown } | { kind: 'error'; error: string };

export function readJson(path: string): JsonRead {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'missing' };
    return { kind: 'error', error: (e as Error).message };
  }
  try {
    return { kind: 'ok', value: JSON.parse(text) as unknown };
  } catch (e) {
    return { kind: 'error', error: `not valid JSON: ${(e as Error).message}` };
  }
}

/** Move a corrupt file out of the way, keeping it for a person to look at; returns its new path. */
export function keepAside(path: string): string {
  const aside = `${path}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`;
  renameSync(path, aside);
  return aside;
}

/**
 * Replace a file atomically (a temporary file beside it, then a rename): a reader — zback status,
 * node_exporter — sees the old file or the new one, never half of one.
 */
export function writeFileAtomically(path: string, text: string, mode = 0o644): void {
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, text, { mode });
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

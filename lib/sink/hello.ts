/**
 * How a restricted sink makes itself known: on `zfs version` it adds one line to stderr, so a
 * source learns its rules with no extra round trip and no configuration, and plans only what the
 * sink allows (no destination holds, releases or destroys when it is append-only; no destroy of a
 * snapshot younger than its floor). A host that is not a sink never prints the line; one that
 * lies can only make the source do less on it.
 */
import { datasetNameProblem } from '../zfs/dataset-names.js';

export const SINK_HELLO = 'ZBACK_SINK';

export interface SinkInfo {
  roots: string[];
  appendOnly: boolean;
  keepDays: number;
  /** What this sink accepts beyond version 1's commands: `schedule-mark` (a copy's schedule mark), `restore` (zfs send under its roots). */
  accepts?: string[];
}

/** What this version of the sink accepts beyond version 1 (a source leaves out what an older sink would refuse). */
export const SINK_ACCEPTS = ['schedule-mark', 'restore'];

/** What this sink says it accepts: restore only where the administrator allowed it (--allow-restore). */
export function sinkAccepts(allowRestore: boolean): string[] {
  return SINK_ACCEPTS.filter((a) => a !== 'restore' || allowRestore);
}

export function helloLine(info: SinkInfo): string {
  return `${SINK_HELLO} ${JSON.stringify({ v: 1, roots: info.roots, appendOnly: info.appendOnly, keepDays: info.keepDays, accepts: info.accepts ?? sinkAccepts(false) })}\n`;
}

/** The sink's rules from a `zfs version` stderr; null when the host is not a sink (or says nonsense). */
export function parseHello(stderr: string): SinkInfo | null {
  const line = stderr.split('\n').find((l) => l.startsWith(`${SINK_HELLO} `));
  if (!line) return null;
  try {
    const j = JSON.parse(line.slice(SINK_HELLO.length + 1)) as Record<string, unknown>;
    // Only names ZFS would accept: the text is the backup host's, and it ends up in messages.
    const roots = Array.isArray(j.roots) ? j.roots.filter((r): r is string => typeof r === 'string' && datasetNameProblem(r) === null) : [];
    const keepDays = typeof j.keepDays === 'number' && Number.isFinite(j.keepDays) && j.keepDays >= 0 ? j.keepDays : 0;
    const accepts = Array.isArray(j.accepts) ? j.accepts.filter((a): a is string => typeof a === 'string' && /^[a-z-]{1,40}$/.test(a)) : [];
    return { roots, appendOnly: j.appendOnly === true, keepDays, accepts };
  } catch {
    return null;
  }
}

/** The hello line removed (it is not an error message). */
export function withoutHello(stderr: string): string {
  return stderr
    .split('\n')
    .filter((l) => !l.startsWith(`${SINK_HELLO} `))
    .join('\n');
}

/**
 * What a failure of a run says, in words: the one place the typed outcomes of lib/execute become
 * the lines on stderr, in the state file and in `zback status`.
 */
import type { Failure } from '../execute/executor.js';

/** The failure as a line about its dataset (without the dataset's name in front). */
export function failureText(f: Failure): string {
  switch (f.kind) {
    case 'planning':
      return f.reason;
    case 'broken':
      return `replication to ${f.where}: ${f.unreachable ? 'unreachable: ' : ''}${f.reason}`;
    case 'snapshot':
      return `snapshot failed: ${f.reason}`;
    case 'hook':
      return f.when === 'pre'
        ? `no snapshot: its pre-snapshot hook ${f.file} failed (${f.reason})`
        : `its post-snapshot hook ${f.file} failed (${f.reason})${f.taken ? '; the snapshot was taken and is kept' : ''}`;
    case 'replication':
      return `replication to ${f.where} failed: ${f.reason}${f.discarded ? `; ${discardText(f.discarded)}` : ''}`;
    case 'discard':
      return `replication to ${f.where}: ${discardText({ ok: false, reason: f.reason })}`;
    case 'mark':
      return `could not mark ${f.where} as a copy (${f.property}): ${f.reason}`;
    case 'hold':
      return `hold bookkeeping for ${f.where}: ${f.reason}`;
    case 'stale-hold':
      return `could not release stale hold ${f.tag} on ${f.where}@${f.snapshot}: ${f.reason}`;
    case 'prune':
      return `prune of ${f.where} failed: ${f.reason}`;
    case 'bookmark':
      return f.made
        ? `could not bookmark the base of ${f.where} (#${f.bookmark}): ${f.reason}; the base stays held, and the next run tries again`
        : `could not remove the replaced bookmark #${f.bookmark} of ${f.where}: ${f.reason}`;
    case 'not-run':
      return `replication to ${f.where}: ${f.reason}`;
  }
}

/** A destination's error as the state file records it (and `zback status` shows after its result). */
export function recordedError(f: Failure): string {
  return f.kind === 'broken' || f.kind === 'not-run' ? f.reason : failureText(f);
}

function discardText(d: NonNullable<Extract<Failure, { kind: 'replication' }>['discarded']>): string {
  return d.ok ? 'its partial state was discarded: the next run starts again from the last common snapshot' : `discarding it failed too: ${d.reason}`;
}

/** The line on stderr: the dataset's name, then the failure (a planning message may name it already). */
export function failureLine(f: Failure): string {
  const text = failureText(f);
  return f.kind === 'planning' && (text === f.dataset || text.startsWith(`${f.dataset}:`)) ? text : `${f.dataset}: ${text}`;
}

/** A replication's failure, as recorded in the state file and shown by `zback status`. */
export function isReplicationFailure(f: Failure): boolean {
  return f.kind === 'broken' || f.kind === 'replication' || f.kind === 'discard';
}

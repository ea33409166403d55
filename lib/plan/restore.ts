/**
 * `zback restore` (SPEC §12), the pure part: where a dataset's copies are, which one `--from`
 * names, which snapshot `--at` names, and what to tell the operator afterwards. The shell
 * (lib/cli/restore.ts) reads ZFS and the destinations and runs the one send and receive.
 *
 * A dataset's copies are known from its configuration today and, when the dataset is gone (the
 * day a restore is needed most) or no longer configured, from what the last runs recorded in the
 * state file. With neither, `--from host:pool/path` names the copy outright (a new machine).
 */
import type { ConfigResult } from '../policy/properties.js';
import type { RunState } from '../state/run-state.js';
import { hostLabel, type HostTarget } from '../transport/target.js';
import type { SnapshotInfo } from '../zfs/parse.js';
import { datasetNameProblem, snapshotNameProblem } from '../zfs/dataset-names.js';
import { hostIdentity, splitKey } from './identity.js';
import { shellCommand } from '../transport/quote.js';

/** One copy of a dataset: on this machine (host label "local") or on a destination host. */
export interface CopyLocation {
  /** The source dataset the copy is of. */
  dataset: string;
  hostLabel: string;
  /** Where to connect to reach it. */
  host: HostTarget;
  /** The copy's dataset on that host. */
  target: string;
  /** Named by the dataset's configuration today (else only by the state a run recorded, or by --from). */
  configured: boolean;
}

/** How a copy is named in messages, --list and --from: "backup:bpool/x", or the bare path on this machine. */
export function copyName(c: Pick<CopyLocation, 'hostLabel' | 'target'>): string {
  return c.hostLabel === 'local' ? c.target : `${c.hostLabel}:${c.target}`;
}

/** "[user@]host[:port]" (a host label as hostLabel() writes it) back into where to connect. */
export function hostTargetOf(label: string): HostTarget | null {
  if (label === 'local') return {};
  const m = /^(?:([A-Za-z_][A-Za-z0-9_.-]*)@)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_][A-Za-z0-9_.-]*)(?::(\d{1,5}))?$/.exec(label);
  if (!m) return null;
  const port = m[3] !== undefined ? Number(m[3]) : undefined;
  if (port !== undefined && (port < 1 || port > 65535)) return null;
  return { host: m[2]!, ...(m[1] ? { user: m[1] } : {}), ...(port !== undefined ? { port } : {}) };
}

/**
 * Every copy zback knows of, per source dataset (or of `only` and the datasets below it): from the
 * configuration first, then from the state file for destinations the configuration no longer
 * names (a destroyed dataset, a removed destination). Same copy spelled two ways: listed once.
 */
export function knownCopies(configs: readonly ConfigResult[], state: RunState, only?: string): CopyLocation[] {
  const wanted = (d: string) => only === undefined || d === only || d.startsWith(`${only}/`);
  const copies: CopyLocation[] = [];
  const seen = new Set<string>();
  const add = (c: CopyLocation) => {
    const key = `${c.dataset}\n${hostIdentity(c.hostLabel)}:${c.target}`;
    if (seen.has(key)) return;
    seen.add(key);
    copies.push(c);
  };
  for (const c of configs) {
    if (c.kind !== 'managed' || !wanted(c.dataset)) continue;
    for (const d of c.config.destinations) {
      const host: HostTarget = { ...(d.host !== undefined ? { host: d.host } : {}), ...(d.user ? { user: d.user } : {}), ...(d.port ? { port: d.port } : {}) };
      add({ dataset: c.dataset, hostLabel: hostLabel(host), host, target: d.datasetPath, configured: true });
    }
  }
  for (const [dataset, recorded] of Object.entries(state.datasets)) {
    if (!wanted(dataset)) continue;
    for (const key of Object.keys(recorded.destinations ?? {})) {
      const { hostLabel: label, target } = splitKey(key);
      const host = hostTargetOf(label);
      if (host && datasetNameProblem(target) === null) add({ dataset, hostLabel: label, host, target, configured: false });
    }
  }
  return copies.sort((a, b) => (a.dataset < b.dataset ? -1 : a.dataset > b.dataset ? 1 : 0));
}

export type Choice<T> = { ok: true; value: T } | { ok: false; problem: string };

/**
 * The copy `--from` names among the dataset's known copies: its full name ("backup:bpool/x", as
 * --list shows it), or its host alone when the dataset has one copy there. A full name that zback
 * does not know of is taken as it is: the operator names the copy outright (a machine whose
 * configuration and state are gone).
 */
export function chooseCopy(dataset: string, copies: readonly CopyLocation[], from: string): Choice<CopyLocation> {
  const mine = copies.filter((c) => c.dataset === dataset);
  const listed = mine.map(copyName).join(', ');
  const { hostLabel: label, target } = splitKey(from);
  const named = from.includes('/');
  if (named) {
    const match = mine.find((c) => c.target === target && hostIdentity(c.hostLabel) === hostIdentity(label));
    if (match) return { ok: true, value: match };
    const host = hostTargetOf(label);
    const problem = datasetNameProblem(target);
    if (!host || problem !== null || target.includes('@'))
      return {
        ok: false,
        problem: `--from ${JSON.stringify(from)}: give a copy as [user@]host[:port]:pool/path, or a path on this machine (${problem ?? 'not a host'})`,
      };
    return { ok: true, value: { dataset, hostLabel: label, host, target, configured: false } };
  }
  const onHost = mine.filter((c) => hostIdentity(c.hostLabel) === hostIdentity(from));
  if (onHost.length === 1) return { ok: true, value: onHost[0]! };
  if (onHost.length > 1)
    return { ok: false, problem: `--from ${from}: ${dataset} has ${onHost.length} copies on ${from} (${onHost.map(copyName).join(', ')}); name one of them` };
  return {
    ok: false,
    problem: mine.length
      ? `--from ${from}: ${dataset} has no copy there that zback knows of; its copies: ${listed}`
      : `--from ${from}: zback knows of no copy of ${dataset} (no configuration names one and no run recorded one); name the copy as host:pool/path`,
  };
}

/** The snapshot `--at` names on the copy (its name, or dataset@name), or the newest one there. */
export function chooseSnapshot(copy: string, snapshots: readonly SnapshotInfo[], at?: string): Choice<SnapshotInfo> {
  if (snapshots.length === 0) return { ok: false, problem: `${copy} has no snapshot: there is nothing to restore from it` };
  if (at === undefined) return { ok: true, value: snapshots[snapshots.length - 1]! };
  const name = at.includes('@') ? at.slice(at.indexOf('@') + 1) : at;
  const problem = snapshotNameProblem(name);
  if (problem !== null) return { ok: false, problem: `--at ${JSON.stringify(at)}: not a snapshot name (${problem})` };
  const found = snapshots.find((s) => s.name === name);
  if (found) return { ok: true, value: found };
  const near = snapshots
    .slice(-5)
    .map((s) => s.name)
    .reverse();
  return { ok: false, problem: `--at ${name}: ${copy} has no such snapshot (its newest: ${near.join(', ')}; zback restore --list shows them all)` };
}

/** What to check about `--to` before anything is received: a new dataset whose parent exists. */
export function newDatasetProblem(to: string, existing: ReadonlySet<string>): string | null {
  const problem = datasetNameProblem(to) ?? (to.includes('@') ? 'a snapshot, not a dataset' : null);
  if (problem !== null) return `--to ${JSON.stringify(to)}: not a dataset name (${problem})`;
  if (existing.has(to))
    return `--to ${to}: that dataset exists; zback restores only into a new dataset (it never overwrites one). Choose a new name, e.g. ${to}.restored`;
  const slash = to.lastIndexOf('/');
  if (slash < 0) return `--to ${to}: give a dataset inside a pool (pool/name), not a pool`;
  const parent = to.slice(0, slash);
  if (!existing.has(parent))
    return `--to ${to}: its parent ${parent} does not exist here (create it first: ${shellCommand(['zfs', 'create', parent])}), or choose another place`;
  return null;
}

/**
 * Where the swap puts the dataset a restore replaces: `<dataset>.before-restore`, or `-2`, `-3`, …
 * when that is taken (a second restore); null when no such name fits in ZFS's 255 characters.
 */
export function freeAsideName(dataset: string, existing: ReadonlySet<string>): string | null {
  for (let i = 1; i < 100; i++) {
    const name = `${dataset}.before-restore${i === 1 ? '' : `-${i}`}`;
    if (datasetNameProblem(name) !== null) return null;
    if (!existing.has(name)) return name;
  }
  return null;
}

/**
 * One planned snapshot command with its datasets' hooks around it (SPEC §11):
 *
 * 1. each hook file's pre command, once for this command (ZBACK_DATASETS lists the members it
 *    applies to, a hook with `children = yes` over a subtree runs once, not once per child), in file
 *    order; a failing one (non-zero exit, its timeout, a stop signal: then it is not even started)
 *    costs the datasets it applies to their snapshot, and that is their error;
 * 2. the one atomic snapshot of the datasets that remain (the planned command when none dropped
 *    out; otherwise `zfs snapshot a@n b@n …` where the ZFS takes a list, else one by one);
 * 3. the post commands in reverse order, for every hook whose pre was tried (or that has none), also
 *    after a failed snapshot or pre (ZBACK_SNAPSHOT_RESULT says which), so what a pre froze is
 *    always thawed. A failing post command is an error of its datasets; the snapshots stay.
 */
import type { Action } from '../plan/types.js';
import type { SnapshotHook } from '../policy/hooks.js';
import { exitText } from '../transport/host.js';
import type { HookResult, LocalHost } from '../transport/local.js';
import type { Zfs } from '../zfs/client.js';
import { snapshotCommand } from '../zfs/commands.js';
import { snapshotGroup, type SnapshotResult } from '../zfs/operations.js';
import type { HookFailure } from './executor.js';

function hookFailure(r: HookResult): string | null {
  if (r.stopped) return r.stopped;
  return r.code === 0 ? null : exitText({ code: r.code, signal: r.signal, stderr: r.output });
}

export interface HookedSnapshotResult extends SnapshotResult {
  hookFailures: HookFailure[];
}

export async function hookedSnapshot(zfs: Zfs, local: LocalHost, a: Action, signal?: AbortSignal): Promise<HookedSnapshotResult> {
  const name = a.snapshots[0]!;
  const members = a.datasets ?? [a.target];
  if (!a.hooks?.length) return { ...(await snapshotGroup(zfs, a.argv, members, name)), hookFailures: [] };

  // Each hook file once, with the members it applies to; in the order of the files.
  const byFile = new Map<string, { hook: SnapshotHook; datasets: string[] }>();
  for (const h of a.hooks) {
    const entry = byFile.get(h.hook.file) ?? { hook: h.hook, datasets: [] };
    entry.datasets.push(h.dataset);
    byFile.set(h.hook.file, entry);
  }
  const hooks = [...byFile.values()].sort((x, y) => (x.hook.file < y.hook.file ? -1 : 1));
  const env = (h: { hook: SnapshotHook; datasets: string[] }, when: 'pre-snapshot' | 'post-snapshot', result?: string) => ({
    ZBACK_HOOK: when,
    ZBACK_HOOK_FILE: h.hook.file,
    ZBACK_DATASET: h.datasets[0]!,
    ZBACK_DATASETS: h.datasets.join('\n'),
    ZBACK_SNAPSHOT: `${h.datasets[0]!}@${name}`,
    ZBACK_SNAPSHOT_NAME: name,
    ...(result ? { ZBACK_SNAPSHOT_RESULT: result } : {}),
  });
  const skipped = new Set<string>();
  const hookFailures: HookFailure[] = [];
  const tried: typeof hooks = [];
  let result: SnapshotResult = { taken: [], failed: new Map() };
  try {
    for (const h of hooks) {
      // Every dataset it applies to lost its snapshot already: nothing to prepare, nor to undo.
      if (h.datasets.every((d) => skipped.has(d))) continue;
      // The run is being stopped: no freeze is begun (so there is nothing to thaw either).
      let why = signal?.aborted && h.hook.pre ? `not run: stopped by ${String(signal.reason)}` : null;
      if (!why) tried.push(h);
      if (!why && !h.hook.pre) continue;
      why ??= hookFailure(await local.runHook(h.hook.pre!, env(h, 'pre-snapshot'), h.hook.timeoutS * 1000, signal));
      if (!why) continue;
      for (const d of h.datasets) {
        skipped.add(d);
        hookFailures.push({ dataset: d, file: h.hook.file, when: 'pre', taken: false, reason: why });
      }
    }

    const rest = members.filter((d) => !skipped.has(d));
    if (rest.length === members.length) result = await snapshotGroup(zfs, a.argv, members, name);
    else if (rest.length && (zfs.caps.multiSnapshot || rest.length === 1)) result = await snapshotGroup(zfs, snapshotCommand(rest, name), rest, name);
    else
      for (const d of rest) {
        const one = await snapshotGroup(zfs, snapshotCommand([d], name), [d], name);
        result.taken.push(...one.taken);
        for (const [k, v] of one.failed) result.failed.set(k, v);
      }
  } finally {
    // Whatever happened above: what was frozen is thawed.
    for (const h of [...tried].reverse()) {
      if (!h.hook.post) continue;
      const outcome = h.datasets.some((d) => skipped.has(d)) ? 'skipped' : h.datasets.every((d) => result.taken.includes(d)) ? 'taken' : 'failed';
      const why = hookFailure(await local.runHook(h.hook.post, env(h, 'post-snapshot', outcome), h.hook.timeoutS * 1000));
      if (why) for (const d of h.datasets) hookFailures.push({ dataset: d, file: h.hook.file, when: 'post', taken: result.taken.includes(d), reason: why });
    }
  }
  return { ...result, hookFailures };
}

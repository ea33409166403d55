/**
 * One planned snapshot command with its datasets' hooks around it (SPEC §11):
 *
 * 1. every pre-snapshot hook, in file order; a dataset whose pre hook fails (non-zero exit, its
 *    timeout, a stop signal) gets no snapshot, and that is its error;
 * 2. the one atomic snapshot of the datasets that remain (the planned command when none dropped
 *    out; otherwise `zfs snapshot a@n b@n …` where the ZFS takes a list, else one by one);
 * 3. every post-snapshot hook, in reverse order, also after a failed snapshot or a failed pre hook
 *    of its own (ZBACK_SNAPSHOT_RESULT says which), so what a pre hook froze is always thawed.
 *    A failing post hook is an error of its dataset; the snapshot stays and is replicated.
 */
import type { Action } from '../plan/types.js';
import type { HookFailure } from './executor.js';
import type { SnapshotHook } from '../policy/hooks.js';
import type { HookResult, LocalHost } from '../transport/local.js';
import type { Zfs } from '../zfs/client.js';
import { snapshotCommand } from '../zfs/commands.js';
import { snapshotGroup, type SnapshotResult } from '../zfs/operations.js';

function hookFailure(r: HookResult): string | null {
  if (r.stopped) return r.stopped;
  if (r.code === 0) return null;
  const said = r.output.trim().split('\n').filter(Boolean).slice(-2).join(' / ');
  const status = r.code !== null ? `exit ${r.code}` : `signal ${r.signal}`;
  return said ? `${status}: ${said}` : status;
}

export interface HookedSnapshotResult extends SnapshotResult {
  hookFailures: HookFailure[];
}

export async function hookedSnapshot(zfs: Zfs, local: LocalHost, a: Action, signal?: AbortSignal): Promise<HookedSnapshotResult> {
  const name = a.snapshots[0]!;
  const members = a.datasets ?? [a.target];
  const hooks = a.hooks ?? [];
  if (!hooks.length) return { ...(await snapshotGroup(zfs, a.argv, members, name)), hookFailures: [] };

  const env = (dataset: string, hook: SnapshotHook, when: 'pre-snapshot' | 'post-snapshot', result?: string) => ({
    ZBACK_HOOK: when,
    ZBACK_HOOK_FILE: hook.file,
    ZBACK_DATASET: dataset,
    ZBACK_SNAPSHOT: `${dataset}@${name}`,
    ZBACK_SNAPSHOT_NAME: name,
    ...(result ? { ZBACK_SNAPSHOT_RESULT: result } : {}),
  });
  const skipped = new Set<string>();
  const hookFailures: HookFailure[] = [];
  const ran: Array<{ dataset: string; hook: SnapshotHook }> = [];
  for (const h of hooks) {
    // After an earlier hook of its dataset failed, a hook's pre command is not tried, nor its post.
    if (h.hook.pre && skipped.has(h.dataset)) continue;
    ran.push(h);
    if (!h.hook.pre) continue;
    const why = hookFailure(await local.runHook(h.hook.pre, env(h.dataset, h.hook, 'pre-snapshot'), h.hook.timeoutS * 1000, signal));
    if (why) {
      skipped.add(h.dataset);
      hookFailures.push({ dataset: h.dataset, file: h.hook.file, when: 'pre', taken: false, reason: why });
    }
  }

  const rest = members.filter((d) => !skipped.has(d));
  let result: SnapshotResult = { taken: [], failed: new Map() };
  if (rest.length === members.length) result = await snapshotGroup(zfs, a.argv, members, name);
  else if (rest.length && (zfs.caps.multiSnapshot || rest.length === 1)) result = await snapshotGroup(zfs, snapshotCommand(rest, name), rest, name);
  else
    for (const d of rest) {
      const one = await snapshotGroup(zfs, snapshotCommand([d], name), [d], name);
      result.taken.push(...one.taken);
      for (const [k, v] of one.failed) result.failed.set(k, v);
    }

  for (const h of [...ran].reverse()) {
    if (!h.hook.post) continue;
    const outcome = skipped.has(h.dataset) ? 'skipped' : result.taken.includes(h.dataset) ? 'taken' : 'failed';
    const why = hookFailure(await local.runHook(h.hook.post, env(h.dataset, h.hook, 'post-snapshot', outcome), h.hook.timeoutS * 1000));
    if (why) hookFailures.push({ dataset: h.dataset, file: h.hook.file, when: 'post', taken: outcome === 'taken', reason: why });
  }
  return { ...result, hookFailures };
}

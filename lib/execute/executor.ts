/**
 * Carries a plan out: snapshots first, then pruning. A failure is recorded against the datasets
 * it concerns and never stops the others. A dataset whose snapshot failed is not pruned in this
 * run (its previous newest snapshot may be what the plan counted on replacing).
 */
import { errorMessage } from '../errors.js';
import type { Plan, SnapshotAction } from '../plan/types.js';
import { destroyCommands, snapshotCommand } from '../zfs/commands.js';
import { pruneSnapshots } from './prune.js';
import type { Zfs } from '../zfs/client.js';

export interface DatasetOutcome {
  dataset: string;
  errors: string[];
  /** Things worth knowing that are not failures (a snapshot kept because it has clones). */
  notes: string[];
  snapshot?: string;
  destroyed: string[];
}

export interface RunOutcome {
  datasets: Map<string, DatasetOutcome>;
  /** True when nothing failed (including configuration errors found while planning). */
  ok: boolean;
}

export interface ExecuteOptions {
  /** Datasets pruned at the same time (each dataset's destroys run one after another). */
  pruneConcurrency?: number;
  /**
   * Runs between snapshotting and local pruning (SPEC §5: snapshot → replicate → prune); returns
   * the replications that succeeded, as "dataset\nkey" (see replicationKey).
   */
  replicate?: (outcome: (dataset: string) => DatasetOutcome) => Promise<ReadonlySet<string>>;
}

async function runSnapshot(zfs: Zfs, action: SnapshotAction, outcome: (d: string) => DatasetOutcome): Promise<void> {
  try {
    await zfs.exec(action.argv);
    for (const d of action.datasets) outcome(d).snapshot = action.name;
    return;
  } catch (e) {
    if (action.datasets.length === 1) {
      outcome(action.datasets[0]!).errors.push(`snapshot failed: ${errorMessage(e)}`);
      return;
    }
    // One bad dataset must not cost the others their snapshot: retry them one by one
    // (no longer atomic across the group, which the message says).
    const first = errorMessage(e);
    for (const d of action.datasets) {
      try {
        await zfs.exec(snapshotCommand([d], action.name));
        outcome(d).snapshot = action.name;
      } catch (e2) {
        outcome(d).errors.push(`snapshot failed: ${errorMessage(e2)} (the group command had failed too: ${first})`);
      }
    }
  }
}

export async function executePlan(plan: Plan, zfs: Zfs, options: ExecuteOptions = {}): Promise<RunOutcome> {
  const datasets = new Map<string, DatasetOutcome>();
  const outcome = (d: string): DatasetOutcome => {
    let o = datasets.get(d);
    if (!o) datasets.set(d, (o = { dataset: d, errors: [], notes: [], destroyed: [] }));
    return o;
  };
  for (const d of plan.datasets) {
    const o = outcome(d.dataset);
    if (d.error) o.errors.push(d.error);
  }

  for (const action of plan.snapshots) await runSnapshot(zfs, action, outcome);
  const replicated = options.replicate ? await options.replicate(outcome) : new Set<string>();

  const planned = new Map(plan.datasets.map((d) => [d.dataset, d]));
  // Bases that this run's sends replaced: destroyed only where every such send succeeded.
  const destroys = new Map(plan.destroys.map((a) => [a.dataset, [...a.snapshots]]));
  for (const d of plan.datasets) {
    const freed = d.destroyAfterSend.filter((x) => x.after.every((key) => replicated.has(`${d.dataset}\n${key}`))).map((x) => x.name);
    if (freed.length) destroys.set(d.dataset, [...(destroys.get(d.dataset) ?? []), ...freed]);
  }
  const queue = [...destroys]
    .filter(([dataset]) => {
      const p = planned.get(dataset);
      // Prune only when the planned snapshot exists: otherwise the plan's "newest" is not there.
      return !(p?.newSnapshot && outcome(dataset).snapshot !== p.newSnapshot);
    })
    .map(([dataset, snapshots]) => ({ dataset, argvs: destroyCommands(dataset, snapshots, zfs.caps) }));
  const workers = Math.max(1, options.pruneConcurrency ?? 2);
  await Promise.all(
    Array.from({ length: workers }, async () => {
      for (let a = queue.shift(); a; a = queue.shift()) await pruneSnapshots(zfs, a.dataset, a.argvs, outcome(a.dataset));
    }),
  );

  const ok = [...datasets.values()].every((o) => o.errors.length === 0);
  return { datasets, ok };
}

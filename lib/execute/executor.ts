/**
 * Carries a plan out: snapshots first, then pruning. A failure is recorded against the datasets
 * it concerns and never stops the others. A dataset whose snapshot failed is not pruned in this
 * run (its previous newest snapshot may be what the plan counted on replacing).
 */
import { CommandError, errorMessage } from '../errors.js';
import type { DestroyAction, Plan, SnapshotAction } from '../plan/types.js';
import { LEGACY_CAPABILITIES } from '../zfs/capabilities.js';
import { destroyCommands, snapshotCommand } from '../zfs/commands.js';
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

/** The snapshot names (after "@") that a destroy command names. */
function destroyedNames(dataset: string, argv: readonly string[]): string[] {
  return argv[argv.length - 1]!.slice(dataset.length + 1).split(',');
}

async function attempt(zfs: Zfs, argv: string[]): Promise<unknown> {
  try {
    await zfs.exec(argv);
    return null;
  } catch (e) {
    return e;
  }
}

/** Destroy one dataset's snapshots; a failed batch (OpenZFS `ds@a,b,c`) is retried one by one. */
async function prune(zfs: Zfs, action: DestroyAction, o: DatasetOutcome): Promise<void> {
  const pending = [...action.argvs];
  for (let argv = pending.shift(); argv; argv = pending.shift()) {
    const names = destroyedNames(action.dataset, argv);
    const err = await attempt(zfs, argv);
    if (err === null) o.destroyed.push(...names);
    else if (names.length > 1) pending.unshift(...destroyCommands(action.dataset, names, LEGACY_CAPABILITIES));
    else if (err instanceof CommandError && /dependent clones/.test(err.stderr)) {
      // A clone's origin cannot be destroyed: the operator's choice, not a failure that should
      // make every cron run mail. It is kept and reported.
      o.notes.push(`kept ${action.dataset}@${names[0]}: it has dependent clones (promote or destroy the clone to let it go)`);
    } else o.errors.push(`prune failed: ${errorMessage(err)}`);
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

  const planned = new Map(plan.datasets.map((d) => [d.dataset, d]));
  const queue = plan.destroys.filter((a) => {
    const p = planned.get(a.dataset);
    // Prune only when the planned snapshot exists: otherwise the plan's "newest" is not there.
    return !(p?.newSnapshot && outcome(a.dataset).snapshot !== p.newSnapshot);
  });
  const workers = Math.max(1, options.pruneConcurrency ?? 2);
  await Promise.all(
    Array.from({ length: workers }, async () => {
      for (let a = queue.shift(); a; a = queue.shift()) await prune(zfs, a, outcome(a.dataset));
    }),
  );

  const ok = [...datasets.values()].every((o) => o.errors.length === 0);
  return { datasets, ok };
}

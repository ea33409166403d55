import type { DatasetConfig } from '../policy/properties.js';
import type { PruneDecision } from '../policy/retention.js';
import type { DueVerdict } from '../policy/schedule.js';

/** One `zfs snapshot` command: atomic for every dataset it names. */
export interface SnapshotAction {
  kind: 'snapshot';
  /** The datasets that get the snapshot. */
  datasets: string[];
  name: string;
  /** Set when the command is `zfs snapshot -r root@name` (the whole subtree is due). */
  recursiveRoot?: string;
  argv: string[];
}

/** Destroy snapshots of one dataset; runs only if that dataset's snapshot (if any) succeeded. */
export interface DestroyAction {
  kind: 'destroy';
  dataset: string;
  snapshots: string[];
  argvs: string[][];
}

export interface DatasetPlan {
  dataset: string;
  /** Set when the configuration is valid. */
  config?: DatasetConfig;
  /** Set when the dataset cannot be processed (bad property, vanished dataset). */
  error?: string;
  zbackSnapshots: number;
  foreignSnapshots: number;
  /** Time of the newest zback snapshot before this run. */
  latest: number | null;
  due?: DueVerdict;
  /** Name of the snapshot this run takes (after "@"), when due. */
  newSnapshot?: string;
  /** Every zback snapshot (including the new one) with keep/destroy and the reasons. */
  decisions: PruneDecision[];
  destroy: string[];
}

export interface Plan {
  now: number;
  zone: string;
  datasets: DatasetPlan[];
  snapshots: SnapshotAction[];
  destroys: DestroyAction[];
  /** Datasets with zback properties that are not managed, and why (shown with --verbose). */
  ignored: Array<{ dataset: string; why: string }>;
}

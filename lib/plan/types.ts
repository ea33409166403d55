import type { DatasetConfig } from '../policy/properties.js';
import type { PruneDecision } from '../policy/retention.js';
export type { PruneDecision };
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
  /** Kept only as the base of sends this run makes; destroyed once all those sends succeeded. */
  destroyAfterSend: Array<{ name: string; after: string[] }>;
}

export interface Plan {
  now: number;
  zone: string;
  datasets: DatasetPlan[];
  snapshots: SnapshotAction[];
  destroys: DestroyAction[];
  /** Replication, per dataset and destination. */
  replications: ReplicationPlan[];
  /** zback holds from earlier runs to release: they no longer mark a base. */
  staleHolds: StaleHold[];
  /** Datasets with zback properties that are not managed, and why (shown with --verbose). */
  ignored: Array<{ dataset: string; why: string }>;
}

/** One `zfs send | zfs recv` of a replication. */
export interface SendStep {
  kind: 'full' | 'incremental' | 'resume';
  /** Snapshot names (after "@"); `from` is absent for full and resume. */
  from?: string;
  to: string;
  /** Every snapshot the step delivers (for -I: the ones in between too). */
  delivers: string[];
  sendArgv: string[];
  recvArgv: string[];
}

export type ReplicationStatus =
  | 'send' // something to send now
  | 'resume' // an interrupted receive is resumed first
  | 'up-to-date'
  | 'not-due'
  | 'diverged'
  | 'unreachable'
  | 'error';

/** What one run does for one dataset and one of its destinations. */
export interface ReplicationPlan {
  dataset: string;
  /** The destination as written in the property. */
  destination: string;
  /** Connection label: "local" or [user@]host[:port]. */
  hostLabel: string;
  target: string;
  status: ReplicationStatus;
  /** For diverged/unreachable/error: what is wrong and how to fix it. */
  message?: string;
  /** Last snapshot both sides have (matched by guid), before this run. */
  common?: string;
  /** After the sends: the new last common snapshot. */
  newCommon?: string;
  /** Next tick of the destination's schedule, for not-due. */
  nextDue?: number;
  /** Missing parents to create before the seed. */
  createParents?: string[];
  /** Target of another replication in this run (same host) that must succeed first: it seeds this one's parent. */
  after?: string;
  sends: SendStep[];
  /** Hold bookkeeping (tags name the destination so they are recognisable and never confused). */
  sourceTag: string;
  targetTag: string;
  /** Destination pruning after the sends (with the destination's retention). */
  targetDecisions: PruneDecision[];
  targetDestroy: string[];
  targetDestroyArgvs: string[][];
}

/** A hold zback placed earlier that no longer marks a base. */
export interface StaleHold {
  role: 'source' | 'target';
  host: string;
  dataset: string;
  snapshot: string;
  tag: string;
  why: string;
}

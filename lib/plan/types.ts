import type { SnapshotHook } from '../policy/hooks.js';
import type { StreamFlag } from '../zfs/capabilities.js';
import type { DatasetConfig } from '../policy/properties.js';
import type { PruneDecision } from '../policy/retention.js';
export type { PruneDecision };
import type { DueVerdict } from '../policy/schedule.js';
import type { HoldRecord } from '../state/holds.js';

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
  /** Managed by earlier runs, not there now (SPEC §9): reported from the state's memory. */
  missing?: boolean;
  /** zback-named snapshots dated after the run's clock: ignored for due, retention and replication, never destroyed. */
  future?: string[];
  /** Failures to report that do not stop the dataset (exit 1, a line on stderr). */
  problems?: string[];
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
  /** Every command the run may execute, with its condition: what the executor runs (SPEC §9). */
  actions: Action[];
  /** Actions the safety interlock refused (they are no longer in `actions`). */
  refused?: Refusal[];
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
  /** A seed whose receive sets the copy's marks (`zfs receive -o`): no `zfs set` after it. */
  marksInReceive?: true;
  /** `from` is a bookmark (after "#"), not a snapshot: the base snapshot was destroyed here (SPEC §11). */
  fromBookmark?: true;
}

export type ReplicationStatus =
  | 'send' // something to send now
  | 'resume' // an interrupted receive is resumed first
  | 'up-to-date'
  | 'not-due'
  | 'diverged'
  | 'unreachable'
  | 'error';

/**
 * Why a replication cannot go on, as data. `seededBase`: the base snapshots zback seeded this
 * destination with before, which stay held and kept until the conflict is resolved.
 */
export type Conflict =
  /** The destination's pool is not imported there (a rotated disk, or a typo). */
  | { kind: 'pool-missing'; pool: string; seededBase: string[] }
  /** zback seeded the copy before and it is gone now: never re-seeded without the operator. */
  | { kind: 'target-missing'; seededBase: string[] }
  /** The target shares no snapshot with the source (by guid); `targetEmpty`: it has none at all. */
  | { kind: 'no-common'; targetEmpty: boolean; seededBefore: boolean; seededBase: string[] }
  /** The target has snapshots newer than the last common one (as the target names it: `rollbackTo`). */
  | { kind: 'newer-on-target'; common: string; rollbackTo: string; newer: string[]; seededBase: string[] };

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
  /** The conflict a diverged or error status is, where it is one of these (lib/report/conflicts.ts says it in words, in `message`). */
  conflict?: Conflict;
  /** Last snapshot both sides have (matched by guid), before this run. */
  common?: string;
  /** The common snapshot's name on the target, where it differs (renamed there), or the target's snapshot a bookmark base marks. */
  commonOnTarget?: string;
  /**
   * The last common point is a bookmark here (its snapshot was destroyed on the source, SPEC §11):
   * the next send starts from it (`-i ds#bookmark`); `common` is then unset.
   */
  baseBookmark?: { name: string; guid: string };
  /**
   * zback's bookmark for this destination (SPEC §11): made for the base once the sends succeeded
   * (`create`), or already there (`current`); `remove`: this destination's older ones, destroyed
   * only once the new one is made.
   */
  bookmark?: { create?: { snapshot: string; name: string }; current?: string; remove: string[]; skipped?: string };
  /** After the sends: the new last common snapshot. */
  newCommon?: string;
  /** Next tick of the destination's schedule, for not-due. */
  nextDue?: number;
  /** Missing parents to create before the seed. */
  createParents?: string[];
  /** Target of another replication in this run (same host) that must succeed first: it seeds this one's parent. */
  after?: string;
  sends: SendStep[];
  /** The source dataset's guid (recorded with its holds, which follow a rename). */
  datasetGuid?: string;
  /** The base stays and zback's hold on it is recorded and present: not placed again (per side). */
  baseHeld?: { source?: true; target?: true };
  /** The old base carries no hold with this replication's tag (only an older tag, released as stale): no release with it. */
  oldBaseNotHeld?: { source?: true; target?: true };
  /** Hold bookkeeping (tags name the destination so they are recognisable and never confused). */
  sourceTag: string;
  targetTag: string;
  /** Destination pruning after the sends (with the destination's retention). */
  targetDecisions: PruneDecision[];
  targetDestroy: string[];
  targetDestroyArgvs: string[][];
  /** The destination's retention as text: recorded on a copy when it is seeded (zback prune reads it). */
  copyRetention: string;
  /** The copy's schedule mark (scheduleMark), or undefined where its restricted sink is too old to accept one. */
  copySchedule?: string;
  /** The copy's stream options beyond a plain stream (`-L -e -c`; SPEC §11): recorded when they were sent. */
  streamFlags?: StreamFlag[];
  /** The destination's `bwlimit=`: bytes per second at most on the link to its host (SPEC §11). */
  bwlimit?: number;
  /**
   * The destination is a restricted sink (zback sink) that is append-only: no hold, release or
   * destroy there (the backup host prunes its copies itself, and keeps the newest).
   */
  appendOnlySink?: boolean;
  /**
   * The destination's interrupted receive has a resume token that failed zback's own check (it
   * names another dataset or snapshot, would send encrypted data decrypted, or cannot be decoded
   * here): it is never used, and the partial receive is discarded (`zfs receive -A`).
   */
  discardReceive?: boolean;
}

/** A hold zback placed earlier that no longer marks a base. */
export interface StaleHold extends Pick<HoldRecord, 'role' | 'host' | 'dataset' | 'snapshot' | 'tag' | 'destination'> {
  why: string;
  /** The replication whose new hold replaces this one: released only once that hold is placed. */
  replication?: string;
}

/**
 * One entry of the plan: a command with the condition under which it runs (SPEC §9: the plan is
 * the whole truth). The executor runs these as stored and nothing else; --dry-run prints them.
 */
export type ActionOp =
  | 'snapshot' // zfs snapshot (a group, atomic; falls back one by one if the group fails)
  | 'create-parent' // zfs create -p of a missing parent of a seed's target
  | 'send' // zfs send (argv, here) | zfs receive (recvArgv, on `host`)
  | 'mark-copy' // zfs set on a seeded copy (replica-of, canmount=noauto)
  | 'hold' // zfs hold TAG ds@snap
  | 'release' // zfs release TAG ds@snap
  | 'destroy' // zfs destroy ds@a[,b…] (exactly the named snapshots)
  | 'bookmark' // zfs bookmark ds@snap ds#name (the safety net of a destination's base)
  | 'unbookmark' // zfs destroy ds#name (one of zback's bookmarks, replaced by a newer one)
  | 'abort-receive'; // zfs receive -A: discard an interrupted receive that can never be resumed

export type Phase = 'snapshot' | 'replicate' | 'prune';

export interface Action {
  /** Unique in the plan ("a1", "a2", …); conditions refer to it. */
  id: string;
  phase: Phase;
  op: ActionOp;
  /** Where `argv` runs ("local" or a destination's host label); for a send, where `recvArgv` runs. */
  host: string;
  /** The managed source dataset this action serves: its failure is that dataset's failure. */
  dataset: string;
  /** For replication actions: the replication's key ("host:target"). */
  replication?: string;
  argv: string[];
  /** send: the receiving command (on `host`); the send itself runs on this machine. */
  recvArgv?: string[];
  /** The dataset `argv` acts on (for a snapshot of several datasets: the first). */
  target: string;
  /** snapshot: every dataset it snapshots. */
  datasets?: string[];
  /** The snapshot names (after "@") the action creates, holds, releases, destroys or delivers. */
  snapshots: string[];
  /** hold/release: the tag. */
  tag?: string;
  /** bookmark/unbookmark: the bookmark's name (after "#"). */
  bookmark?: string;
  /** hold/release: the record zback's hold ledger gains or loses when the action succeeds. */
  record?: HoldRecord;
  /** send: full, incremental (with `from`) or resume. */
  send?: SendStep;
  /** snapshot: the hooks to run around it, for each member dataset that has any (in file order). */
  hooks?: ReadonlyArray<{ dataset: string; hook: SnapshotHook }>;
  /** send: the destination's bandwidth limit (bytes/s); every stream to the host shares the lowest. */
  bwlimit?: number;
  /** Runs only when every one of these actions succeeded. */
  after: string[];
  /**
   * Actions with the same batch (holds or releases with one tag on one host) run as ONE command,
   * `zfs hold|release TAG snap…` (SPEC §7): once what every member waits for has settled, with the
   * members whose conditions held; a command that fails is retried member by member.
   */
  batch?: string;
  /** Runs only when this action failed, and for this reason (instead of `after`). */
  onFailure?: { id: string; because: 'resume-token-unusable' };
  /** Why the plan has it, in words ("base for bk:pool/x until …"). */
  why: string;
}

/** The interlock's verdict on one action it refused (see lib/safety/interlock.ts). */
export interface Refusal {
  actionId: string;
  dataset: string;
  host: string;
  target: string;
  snapshot: string;
  rule: string;
  message: string;
}

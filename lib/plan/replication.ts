/**
 * Replication planning for one dataset and one destination (SPEC §4). Pure.
 *
 * - The common snapshot is matched by guid, never by name.
 * - No target yet: seed it with a full send (creating missing parents), then incrementals.
 * - Divergence (target snapshots newer than the common one, or none in common) is reported with
 *   the exact fix; zback never destroys destination data to make a send fit.
 * - Nothing is sent that the destination's retention would delete straight away: `-I` covers runs
 *   of snapshots the destination keeps, `-i` jumps over the ones it would not.
 * - Due when the common snapshot is older than the most recent tick of the destination's schedule.
 */
import { sourceHoldTag, TARGET_HOLD_TAG } from './hold-tags.js';
import { copyMarkProperties, DEFAULT_COPY_MARK, scheduleMark, type CopyMark } from './copy-mark.js';
import type { Calendar } from '../policy/calendar.js';
import { destinationHostLabel } from '../policy/destinations.js';
import type { NameFormat } from '../policy/snapshot-names.js';
import type { DatasetConfig, DestinationConfig } from '../policy/properties.js';
import { decideRetention, formatRetention, type PruneCandidate } from '../policy/retention.js';
import type { SinkInfo } from '../sink/hello.js';
import { checkResumeToken, type ResumeTokenInfo } from '../zfs/resume-token.js';
import { underRoot } from '../sink/rules.js';
import { isDue, type TickCache } from '../policy/schedule.js';
import { chooseStreamFlags, type PoolFeatures, type StreamFlag, type ZfsCapabilities } from '../zfs/capabilities.js';
import {
  createParentCommand,
  destroyCommands,
  receiveAbortCommand,
  receiveCommand,
  sendFromBookmarkCommand,
  sendFullCommand,
  sendResumeCommand,
} from '../zfs/commands.js';
import { shellCommand } from '../transport/quote.js';
import { parentOf, poolOf } from '../zfs/dataset-names.js';
import { incrementalSteps } from './send-steps.js';
import type { BookmarkInfo, Inventory, SnapshotInfo } from '../zfs/parse.js';
import { destinationBookmarks } from './bookmarks.js';
import type { Conflict, ReplicationPlan } from './types.js';
import { conflictText } from '../report/conflicts.js';

/** What discovery found on one destination host. */
export type DestinationState =
  | {
      label: string;
      reachable: true;
      caps: ZfsCapabilities;
      datasets: ReadonlySet<string>;
      inventory: Inventory;
      sink?: SinkInfo;
      /** The targets' resume tokens as this machine's ZFS decoded them (null: it could not). */
      decodedTokens?: ReadonlyMap<string, ResumeTokenInfo | null>;
      /** The targets' pools' features (OpenZFS; empty on an old ZFS or when they could not be read). */
      features?: PoolFeatures;
    }
  | { label: string; reachable: false; error: string };

export interface ReplicationInput {
  config: DatasetConfig;
  destination: DestinationConfig;
  /** Source snapshots in creation order. */
  snapshots: readonly SnapshotInfo[];
  /** The snapshot this run takes first (it becomes the newest). */
  planned?: string;
  /**
   * The source dataset is encrypted (OpenZFS native encryption): it is sent raw. 'unknown': the ZFS
   * here has encryption but would not say whether this dataset uses it — then it is not sent.
   */
  encrypted?: boolean | 'unknown';
  state: DestinationState;
  now: number;
  calendar: Calendar;
  names: NameFormat;
  ticks?: TickCache;
  /**
   * Evidence that zback seeded this destination before (its recorded holds, the last run's state):
   * the snapshots it names. A target missing now is then a failure, not a fresh start (SPEC §9).
   */
  seededBefore?: readonly string[];
  /** The operator asked for a new full copy (`zback run --reseed DATASET=DESTINATION`). */
  reseed?: boolean;
  /** What this machine's ZFS can do (for messages). */
  localCaps?: ZfsCapabilities;
  /** How a seeded copy is marked (the default: org.wit's marks, from "localhost"). */
  copyMark?: CopyMark;
  /** The features of the source dataset's pool (OpenZFS). */
  sourcePool?: ReadonlyMap<string, string>;
  /** The stream options this copy was seeded with, as recorded then: every later send keeps them. */
  recordedStream?: readonly StreamFlag[];
  /** The source dataset's bookmarks (OpenZFS), in creation order. */
  bookmarks?: readonly BookmarkInfo[];
  /** This machine's ZFS and the dataset's pool can bookmark (OpenZFS, pool feature `bookmarks`): zback keeps one per destination. */
  bookmarksUsable?: boolean;
}

export { TARGET_HOLD_TAG, sourceHoldTag } from './hold-tags.js';

/**
 * The replication cannot go on: its destination is unreachable, diverged or in error (a plan's
 * status, or the result a run recorded: zback's one test of it).
 */
export function isBroken<T extends { status: string | null }>(r: T): r is T & { status: 'unreachable' | 'diverged' | 'error' } {
  return r.status === 'unreachable' || r.status === 'diverged' || r.status === 'error';
}

/** "host:target" (just the target on this machine): a replication in messages and keys. */
export function replicationKey(r: Pick<ReplicationPlan, 'hostLabel' | 'target'>): string {
  return r.hostLabel === 'local' ? r.target : `${r.hostLabel}:${r.target}`;
}

interface Snap {
  name: string;
  guid: string | null; // null: planned, not taken yet
  createtxg: number;
  time: number | null; // null: foreign
}

function candidatesOf(snaps: readonly Snap[]): PruneCandidate[] {
  return snaps.filter((s) => s.time !== null).map((s) => ({ name: s.name, time: s.time!, createtxg: s.createtxg }));
}

export function planReplication(input: ReplicationInput): ReplicationPlan {
  try {
    return planReplicationUnguarded(input);
  } catch (e) {
    // A name ZFS would refuse (too long once mapped under the destination path, …): only this
    // destination of this dataset fails.
    return { ...emptyPlan(input), status: 'error', message: (e as Error).message };
  }
}

/** A plan for this dataset and destination that does nothing yet. */
function emptyPlan(input: ReplicationInput): ReplicationPlan {
  const target = input.destination.datasetPath;
  const hostLabel = destinationHostLabel(input.destination);
  return {
    dataset: input.config.dataset,
    destination: input.destination.text,
    hostLabel,
    target,
    status: 'up-to-date',
    sends: [],
    // One tag for every dataset that inherits this destination: their holds go in one command.
    sourceTag: sourceHoldTag(hostLabel, input.destination.path),
    targetTag: TARGET_HOLD_TAG,
    targetDecisions: [],
    targetDestroy: [],
    targetDestroyArgvs: [],
    copyRetention: formatRetention(input.destination.retention ?? input.config.retention.value),
    // A sink from before schedule marks would refuse the seed that carries one.
    ...(!input.state.reachable || !input.state.sink || input.state.sink.accepts?.includes('schedule-mark')
      ? { copySchedule: scheduleMark(input.destination.schedule, input.calendar.zone, input.config.schedule) }
      : {}),
    ...(input.destination.bwlimit ? { bwlimit: input.destination.bwlimit } : {}),
  };
}

function planReplicationUnguarded(input: ReplicationInput): ReplicationPlan {
  const { config, destination, state } = input;
  const dataset = config.dataset;
  const target = destination.datasetPath;
  const hostLabel = destinationHostLabel(destination);
  const plan = emptyPlan(input);
  const where = replicationKey(plan);
  if (!state.reachable) {
    plan.status = 'unreachable';
    plan.message = state.error;
    return plan;
  }
  const caps = state.caps;
  if (state.sink) {
    // A restricted sink (zback sink): only what it allows is planned, so nothing is refused there.
    if (!underRoot(target, state.sink.roots)) {
      plan.status = 'error';
      plan.message = `${where} is outside what the restricted sink on ${hostLabel} accepts (its root${state.sink.roots.length === 1 ? '' : 's'}: ${state.sink.roots.join(', ') || 'none'}); correct the destination in ${config.dataset}'s destinations property, or add a --root to the sink's line in authorized_keys on ${hostLabel}`;
      return plan;
    }
    if (state.sink.appendOnly) plan.appendOnlySink = true;
  }
  const recvArgv = receiveCommand(target, caps);
  // An encrypted dataset travels raw (`zfs send -w`): the copy stays encrypted under the source's
  // key, and the backup host never needs the key. Sending it decrypted would leak it; never do.
  if (input.encrypted === 'unknown') {
    plan.status = 'error';
    plan.message = `zback cannot tell whether ${dataset} is encrypted (zfs get encryption ${dataset} gave no answer), so it is not sent: sending an encrypted dataset without -w would send it decrypted`;
    return plan;
  }
  const raw = input.encrypted === true;
  if (raw && !caps.encryption) {
    plan.status = 'error';
    plan.message =
      `${dataset} is encrypted, and the ZFS on ${hostLabel} (${caps.description}) cannot receive it encrypted (a raw send, zfs send -w). ` +
      `zback never sends encrypted data decrypted: replicate it to a host with OpenZFS 0.8 or newer.`;
    return plan;
  }
  const pool = poolOf(target);
  // The stream options (SPEC §11): chosen at the seed from both sides' ZFS and pool features, then
  // kept for the copy (a copy seeded with -L must go on getting -L). Not OpenZFS on both sides: none.
  const both = input.localCaps?.openzfs === true && caps.openzfs;
  const chosen = chooseStreamFlags(input.localCaps ?? caps, caps, input.sourcePool, state.features?.get(pool), raw);
  const stillUsable = (recorded: readonly StreamFlag[]) => (raw ? (['-w'] as StreamFlag[]) : both ? recorded.filter((f) => f !== '-w') : []);
  const flags = state.datasets.has(target) && input.recordedStream ? stillUsable(input.recordedStream) : chosen;
  if (!raw && flags.length) plan.streamFlags = flags;
  const source: Snap[] = input.snapshots.map((s) => ({ name: s.name, guid: s.guid, createtxg: s.createtxg, time: input.names.parse(s.name) }));
  if (input.planned) {
    source.push({ name: input.planned, guid: null, createtxg: Number.MAX_SAFE_INTEGER, time: input.names.parse(input.planned) });
  }
  const retention = destination.retention ?? config.retention.value;
  const info = state.inventory.get(target);
  const exists = state.datasets.has(target);
  const seeded = (input.seededBefore ?? []).filter((n) => input.snapshots.some((s) => s.name === n));

  const place = { where, hostLabel, target, dataset };
  const conflict = (c: Conflict) => {
    plan.conflict = c;
    plan.message = conflictText(c, place);
  };
  if (!state.datasets.has(pool)) {
    // With no pool, `zfs create -p` would fail with "missing dataset name"; and a pool that was
    // exported (a rotated disk) must not look like a destination to seed afresh.
    plan.status = 'error';
    conflict({ kind: 'pool-missing', pool, seededBase: seeded });
    return plan;
  }

  // An interrupted resumable receive: finish it before anything else — but only once this
  // machine has decoded its token and found that it names this dataset and one of its snapshots
  // (and raw, for an encrypted one): the token is text the backup host chose (SPEC §10).
  if (info?.resumeToken) {
    const decoded = state.decodedTokens?.get(target);
    const check = decoded
      ? checkResumeToken(decoded, {
          dataset,
          snapshots: new Map(input.snapshots.map((s) => [s.name, s.guid])),
          bookmarks: new Map((input.bookmarks ?? []).map((b) => [b.name, b.guid])),
          encrypted: raw,
        })
      : {
          ok: false as const,
          problem: `this machine's ZFS (${input.localCaps?.description ?? 'here'}) could not decode it (zfs send -nvt), so it cannot be checked`,
        };
    if (!check.ok) {
      plan.status = 'error';
      plan.discardReceive = true;
      plan.message = `${where} has an interrupted receive whose resume token zback does not use: ${check.problem}. The partial receive is discarded (${shellCommand(receiveAbortCommand(target))}); the next run sends afresh from the last common snapshot.`;
      return plan;
    }
    plan.status = 'resume';
    plan.sends.push({ kind: 'resume', to: check.to, delivers: [], sendArgv: sendResumeCommand(info.resumeToken, raw), recvArgv });
    return plan;
  }

  const targetSnaps: Snap[] = (info?.snapshots ?? []).map((s) => ({ name: s.name, guid: s.guid, createtxg: s.createtxg, time: input.names.parse(s.name) }));
  const heldOnTarget = (common?: string) => {
    // zback's own hold is on the common snapshot; it moves with the base and is not a user's.
    const held = new Map<string, string[]>();
    for (const s of info?.snapshots ?? []) {
      const n = s.userrefs - (s.name === common ? 1 : 0);
      if (n > 0) held.set(s.name, [`held (${n} user hold${n === 1 ? '' : 's'})`]);
    }
    return held;
  };
  let held = heldOnTarget();

  if (!exists && (input.seededBefore ?? []).length > 0 && !input.reseed) {
    plan.status = 'error';
    conflict({ kind: 'target-missing', seededBase: seeded });
    return plan;
  }

  if (!exists) {
    const zbackSource = source.filter((s) => s.time !== null);
    if (zbackSource.length === 0) {
      plan.status = 'error';
      plan.message = `nothing to seed ${where} with: ${dataset} has no zback snapshot yet`;
      return plan;
    }
    // Seed with the oldest snapshot the destination's retention keeps, then go on incrementally.
    const kept = new Set(
      decideRetention(candidatesOf(source), retention, input.calendar)
        .filter((d) => d.keep)
        .map((d) => d.name),
    );
    const seed = source.find((s) => s.time !== null && kept.has(s.name))!;
    // Every missing ancestor, top down: each is created on its own (never mounted).
    const missing: string[] = [];
    for (let p = parentOf(target); p !== null && !state.datasets.has(p); p = parentOf(p)) missing.unshift(p);
    if (missing.length) plan.createParents = missing;
    const root = state.sink && missing.find((p) => !state.sink!.roots.some((r) => p.startsWith(`${r}/`)));
    if (root) {
      plan.status = 'error';
      plan.message = `${root} does not exist on ${hostLabel}, and its restricted sink creates nothing at or above its root (${state.sink!.roots.join(', ')}); create it there (${shellCommand(createParentCommand(root))})`;
      plan.sends = [];
      delete plan.createParents;
      return plan;
    }
    plan.status = 'send';
    // Where the destination's ZFS can, the seed's receive marks the copy itself: one command, and
    // no moment when the copy exists unmarked (a zback there could take it for its own).
    const marks = caps.receiveProperties ? copyMarkProperties(input.copyMark ?? DEFAULT_COPY_MARK, dataset, plan.copyRetention, plan.copySchedule) : [];
    plan.sends.push({
      kind: 'full',
      to: seed.name,
      delivers: [seed.name],
      sendArgv: sendFullCommand(dataset, seed.name, flags),
      recvArgv: marks.length ? receiveCommand(target, caps, marks) : recvArgv,
      ...(marks.length ? { marksInReceive: true as const } : {}),
    });
    plan.sends.push(
      ...incrementalSteps(dataset, seed.name, source.slice(source.indexOf(seed) + 1), (s) => s.time === null || kept.has(s.name), recvArgv, flags),
    );
    plan.newCommon = plan.sends[plan.sends.length - 1]!.to;
    return finish(plan, input, targetSnaps, held, retention, caps);
  }

  const targetGuids = new Map(targetSnaps.map((s) => [s.guid, s]));
  const common = [...source].reverse().find((s) => s.guid !== null && targetGuids.has(s.guid));
  // A bookmark newer than the last common snapshot whose snapshot the target has: the base was
  // destroyed here (by hand, or by another tool), and the bookmark carries the chain on (SPEC §11).
  const usable = (input.bookmarks ?? []).filter((b) => targetGuids.has(b.guid) && b.createtxg > (common?.createtxg ?? -1));
  const newestTxg = Math.max(...usable.map((b) => b.createtxg));
  // Of several bookmarks of that point (each destination keeps its own), this destination's: so
  // that another destination's rotation never takes the base from under this send.
  const atNewest = usable.filter((b) => b.createtxg === newestTxg);
  const ours = atNewest.length > 1 ? destinationBookmarks(hostLabel, target) : undefined;
  const mark = atNewest.find((b) => ours?.owns(b.name)) ?? atNewest[atNewest.length - 1];
  if (!common && !mark) {
    plan.status = 'diverged';
    conflict({ kind: 'no-common', targetEmpty: targetSnaps.length === 0, seededBefore: (input.seededBefore ?? []).length > 0, seededBase: seeded });
    return plan;
  }
  const commonOnTarget = targetGuids.get(mark ? mark.guid : common!.guid)!;
  const baseTxg = mark ? mark.createtxg : common!.createtxg;
  const baseTime = mark ? input.names.parse(commonOnTarget.name) : common!.time;
  if (mark) {
    plan.baseBookmark = { name: mark.name, guid: mark.guid };
    plan.commonOnTarget = commonOnTarget.name;
  } else {
    plan.common = common!.name;
    if (commonOnTarget.name !== common!.name) plan.commonOnTarget = commonOnTarget.name;
  }
  held = heldOnTarget(commonOnTarget.name);
  const newer = targetSnaps.filter((s) => s.createtxg > commonOnTarget.createtxg);
  if (newer.length > 0) {
    plan.status = 'diverged';
    conflict({
      kind: 'newer-on-target',
      common: mark ? commonOnTarget.name : common!.name,
      rollbackTo: commonOnTarget.name,
      newer: newer.map((s) => s.name),
      seededBase: seeded,
    });
    return plan;
  }
  const after = source.filter((s) => s.createtxg > baseTxg);
  if (after.length === 0) {
    plan.status = 'up-to-date';
    return finish(plan, input, targetSnaps, held, retention, caps);
  }
  const verdict = isDue(destination.schedule, baseTime, input.now, input.calendar.zone, input.ticks);
  if (baseTime !== null && !verdict.due) {
    plan.status = 'not-due';
    plan.nextDue = verdict.next;
    return finish(plan, input, targetSnaps, held, retention, caps);
  }
  // What the destination keeps once everything newer arrived (existing copies count too).
  const all = [...targetSnaps.filter((s) => s.createtxg <= commonOnTarget.createtxg), ...after];
  const protect = new Map(held);
  protect.set(mark ? commonOnTarget.name : common!.name, ['last common snapshot']);
  const kept = new Set(
    decideRetention(candidatesOf(all), retention, input.calendar, protect)
      .filter((d) => d.keep)
      .map((d) => d.name),
  );
  const keep = (s: Snap) => s.time === null || kept.has(s.name);
  if (mark) {
    // Only `-i` can start at a bookmark: one step onto the first snapshot the destination keeps,
    // then on from that snapshot as usual.
    const first = after.find(keep);
    if (first) {
      plan.sends = [
        {
          kind: 'incremental',
          from: mark.name,
          fromBookmark: true,
          to: first.name,
          delivers: [first.name],
          sendArgv: sendFromBookmarkCommand(dataset, mark.name, first.name, flags),
          recvArgv,
        },
        ...incrementalSteps(dataset, first.name, after.slice(after.indexOf(first) + 1), keep, recvArgv, flags),
      ];
    }
  } else {
    plan.sends = incrementalSteps(dataset, common!.name, after, keep, recvArgv, flags);
  }
  if (plan.sends.length === 0) {
    // Only snapshots the destination would delete at once are newer (e.g. one made by hand with an
    // older time in its name): nothing to send.
    plan.status = 'up-to-date';
    return finish(plan, input, targetSnaps, held, retention, caps);
  }
  plan.status = 'send';
  plan.newCommon = plan.sends[plan.sends.length - 1]!.to;
  return finish(plan, input, targetSnaps, held, retention, caps);
}

/** Destination pruning once the sends are done: the target's retention, never the common snapshot. */
function finish(
  plan: ReplicationPlan,
  input: ReplicationInput,
  targetSnaps: readonly Snap[],
  held: ReadonlyMap<string, string[]>,
  retention: DatasetConfig['retention']['value'],
  caps: ZfsCapabilities,
): ReplicationPlan {
  const delivered = plan.sends.flatMap((s) => s.delivers);
  const arriving: Snap[] = delivered.map((name, i) => ({
    name,
    guid: null,
    createtxg: Number.MAX_SAFE_INTEGER - delivered.length + i,
    time: input.names.parse(name),
  }));
  planBookmarks(plan, input);
  const protect = new Map(held);
  const base = plan.newCommon ?? plan.common;
  if (base) protect.set(base, [...(protect.get(base) ?? []), 'last common snapshot with the source']);
  // A bookmark base and nothing sent: the target's snapshot it marks is the only link left.
  if (!base && plan.baseBookmark && plan.commonOnTarget)
    protect.set(plan.commonOnTarget, [
      ...(protect.get(plan.commonOnTarget) ?? []),
      `last common point with the source (its bookmark #${plan.baseBookmark.name})`,
    ]);
  // Renamed on the target: protected under the name it has there.
  if (base && base === plan.common && plan.commonOnTarget)
    protect.set(plan.commonOnTarget, [...(protect.get(plan.commonOnTarget) ?? []), 'last common snapshot with the source']);
  const sink = input.state.reachable ? input.state.sink : undefined;
  if (sink && sink.keepDays > 0) {
    // The sink refuses to destroy what its ZFS says is younger than its floor; a received
    // snapshot keeps the creation time of the source's, which the name records (an hour's margin).
    const floor = input.now - sink.keepDays * 86_400_000 - 3_600_000;
    for (const s of [...targetSnaps, ...arriving]) {
      if (s.time !== null && s.time > floor) protect.set(s.name, [...(protect.get(s.name) ?? []), `younger than the sink's floor of ${sink.keepDays} days`]);
    }
  }
  plan.targetDecisions = decideRetention(candidatesOf([...targetSnaps, ...arriving]), retention, input.calendar, protect);
  if (plan.appendOnlySink) {
    // The backup host prunes its copies itself (zback prune, by the retention recorded on the copy).
    plan.targetDestroy = [];
    plan.targetDestroyArgvs = [];
    return plan;
  }
  const existing = new Set(targetSnaps.map((s) => s.name));
  plan.targetDestroy = plan.targetDecisions.filter((d) => !d.keep && existing.has(d.name)).map((d) => d.name);
  plan.targetDestroyArgvs = plan.targetDestroy.length ? destroyCommands(plan.target, plan.targetDestroy, caps) : [];
  return plan;
}

/**
 * zback's bookmark for this destination (SPEC §11): the base after this run (the last snapshot
 * sent, or the common one) gets one unless it has it; this destination's older ones go once it
 * is there. A bookmark base with nothing newer to send keeps its bookmark as it is.
 */
function planBookmarks(plan: ReplicationPlan, input: ReplicationInput): void {
  if (!input.bookmarksUsable) return;
  const base = plan.newCommon ?? plan.common;
  if (base === undefined) return;
  const snap = input.snapshots.find((s) => s.name === base);
  const ours = destinationBookmarks(plan.hostLabel, plan.target);
  const name = ours.nameFor(plan.dataset, base);
  const mine = (input.bookmarks ?? []).filter((b) => ours.owns(b.name));
  const current = name !== null && snap !== undefined ? mine.find((b) => b.name === name && b.guid === snap.guid) : undefined;
  // (One of that name for another snapshot — destroyed and taken again in the same second — would
  // make `zfs bookmark` fail: none is made, and that old one stays until a newer base.)
  const clash = name !== null && !current && mine.some((b) => b.name === name);
  const baseTxg = snap?.createtxg ?? Number.MAX_SAFE_INTEGER; // not taken yet: newer than every bookmark
  plan.bookmark = {
    ...(name === null ? { skipped: `its name would be longer than ZFS allows (${plan.dataset}#${base}${ours.suffix})` } : {}),
    ...(clash ? { skipped: `a bookmark of that name marks another snapshot (${plan.dataset}#${name}); the next base gets one` } : {}),
    ...(name !== null && !current && !clash ? { create: { snapshot: base, name } } : {}),
    ...(current ? { current: current.name } : {}),
    remove: current || (name !== null && !clash) ? mine.filter((b) => b.name !== name && b.createtxg < baseTxg).map((b) => b.name) : [],
  };
}

/**
 * Seeds of nested targets: a child's target lives inside its parent's target, so the child must
 * wait for the parent's seed (creating the parent itself would make the parent's seed fail), and
 * must not be seeded at all while the parent cannot be.
 */
export function orderNestedSeeds(replications: ReplicationPlan[]): void {
  const byHost = new Map<string, ReplicationPlan[]>();
  for (const r of replications) byHost.set(r.hostLabel, [...(byHost.get(r.hostLabel) ?? []), r]);
  for (const list of byHost.values()) {
    const byTarget = new Map(list.map((r) => [r.target, r]));
    for (const r of list) {
      if (!r.sends.some((s) => s.kind === 'full')) continue;
      let ancestor: ReplicationPlan | undefined;
      for (let p = parentOf(r.target); p !== null && !ancestor; p = parentOf(p)) ancestor = byTarget.get(p);
      if (!ancestor) continue;
      const seeded = ancestor.sends.some((s) => s.kind === 'full');
      const present = ancestor.status === 'send' || ancestor.status === 'up-to-date' || ancestor.status === 'not-due' || ancestor.status === 'resume';
      if (seeded) {
        r.after = ancestor.target;
        // The ancestor's seed creates it (and it needs what is above it): only what lies below is left.
        const below = (r.createParents ?? []).filter((p) => p.startsWith(`${ancestor!.target}/`));
        if (below.length) r.createParents = below;
        else delete r.createParents;
      } else if (!present) {
        r.status = 'error';
        r.message = `waits for ${ancestor.target} to be seeded first (${ancestor.status}: ${ancestor.message ?? ''})`;
        r.sends = [];
        delete r.createParents;
        delete r.newCommon;
      }
    }
  }
}

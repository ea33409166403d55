/**
 * The planner: a pure function from (configuration, inventory, capabilities, clock) to the plan
 * of one run. The executor carries the plan out; --dry-run prints it. No I/O here.
 */
import { blockedBy, type SnapshotHook } from '../policy/hooks.js';
import { canBookmark, type PoolFeatures, type StreamFlag } from '../zfs/capabilities.js';
import type { Calendar } from '../policy/calendar.js';
import { TrustedNames, type NameFormat } from '../policy/snapshot-names.js';
import { errorMessage } from '../errors.js';
import { destinationHostLabel } from '../policy/destinations.js';
import type { ConfigResult, DatasetConfig } from '../policy/properties.js';
import { decideRetention, type PruneCandidate } from '../policy/retention.js';
import { isDue, TickCache } from '../policy/schedule.js';
import type { ZfsCapabilities } from '../zfs/capabilities.js';
import { destroyCommands, renameCommand } from '../zfs/commands.js';
import { shellCommand } from '../transport/quote.js';
import { isSameOrBelow, poolOf } from '../zfs/dataset-names.js';
import type { DatasetInfo, Inventory } from '../zfs/parse.js';
import { orderNestedSeeds, planReplication, replicationKey, type DestinationState } from './replication.js';
import { snapshotActions } from './snapshot-groups.js';
import { destinationIdentity, holdIdentity, holdTargetPath, hostIdentity, keyIdentity } from './identity.js';
import { buildActions, type CopyMark } from './actions.js';
import type { HoldRecord } from '../state/holds.js';
import type { DatasetPlan, DestroyAction, Plan, ReplicationPlan, SnapshotAction, StaleHold } from './types.js';

export interface PlanInput {
  configs: readonly ConfigResult[];
  inventory: Inventory;
  caps: ZfsCapabilities;
  now: number;
  calendar: Calendar;
  names: NameFormat;
  /** Discovery results per destination host label; absent: replication is not planned. */
  destinations?: ReadonlyMap<string, DestinationState>;
  /** Shared by every dataset of the plan; buildPlan makes one when absent. */
  ticks?: TickCache;
  /** Holds zback placed in earlier runs (the state directory's record). */
  holds?: readonly HoldRecord[];
  /** Datasets known to be here (see LocalDiscovery.datasets: every one, or at least every configured one when nothing recorded is missing): tells a dataset that is gone from one that is no longer managed. */
  localDatasets?: ReadonlySet<string>;
  /** What the last runs recorded. */
  history?: PlanHistory;
  /** Destinations to seed afresh on the operator's request. */
  reseed?: readonly ReseedRequest[];
  /** How seeded copies are marked on the destination. */
  copyMark?: CopyMark;
  /** The features of this machine's pools (OpenZFS), for the stream options. */
  localFeatures?: PoolFeatures;
  /** Snapshot hooks (root's hooks folder): run around the snapshots of the datasets they name. */
  hooks?: readonly SnapshotHook[];
  /** Hook files that cannot be used: the datasets they name get no snapshot until they are fixed. */
  unusableHooks?: ReadonlyArray<{ file: string; datasets: readonly string[]; problems: readonly string[] }>;
  /**
   * Plan no snapshot: this run took its snapshots already (before the destinations were asked),
   * so the plan works from what is there, whether or not a due snapshot could be taken.
   */
  noSnapshots?: boolean;
}

/** The topmost datasets among `names`: one `zfs get -r` over them covers all. */
export function topmost(names: Iterable<string>): string[] {
  const sorted = [...new Set(names)].sort();
  const out: string[] = [];
  for (const n of sorted) if (!out.some((r) => isSameOrBelow(n, r))) out.push(n);
  return out;
}

export { replicationKey };

/** What earlier runs recorded (state.json): which datasets were managed and what each destination got. */
export interface PlanHistory {
  /** Datasets the last recorded run managed (a dataset missing now is reported, SPEC §9). */
  managed: readonly string[];
  /** The last snapshot each destination was known to have: evidence that it was seeded. */
  replicated: ReadonlyArray<{ dataset: string; replication: string; snapshot: string }>;
  /** The stream options each copy was seeded with (SPEC §11). */
  streams?: ReadonlyArray<{ dataset: string; replication: string; flags: StreamFlag[] }>;
}

/** A request to seed a destination afresh although it was seeded before (`--reseed DATASET=DESTINATION`). */
export interface ReseedRequest {
  dataset: string;
  destination: string;
}

const identityOf = (r: Pick<ReplicationPlan, 'hostLabel' | 'target'>) => destinationIdentity(r.hostLabel, r.target);

/** The replication has a known last common snapshot, found by guid on a target that is there. */
function established(r: ReplicationPlan): boolean {
  return r.common !== undefined && (r.status === 'send' || r.status === 'up-to-date' || r.status === 'not-due');
}

/** The base this replication holds after the run (the new one once its sends succeed). */
function heldBase(r: ReplicationPlan): string | undefined {
  return r.newCommon ?? (established(r) ? r.common : undefined);
}

/**
 * The configured replication a recorded hold belongs to: same destination identity (whatever the
 * spelling), or else, while that destination has no established base, the same target path (a
 * host renamed in the property). Undefined: its destination is no longer configured.
 */
function owner(h: HoldRecord, mine: readonly ReplicationPlan[]): ReplicationPlan | undefined {
  const id = holdIdentity(h);
  const exact = id === null ? undefined : mine.find((r) => identityOf(r) === id);
  if (exact) return exact;
  const path = holdTargetPath(h);
  return mine.find((r) => !established(r) && (path === null || r.target === path));
}

/**
 * zback's recorded holds on this dataset's snapshots and on its copies, sorted into those that
 * still mark a base (kept) and those that no longer do (released by the plan, once the hold that
 * replaces them is placed). A hold is never released while its destination has no established
 * base: unreachable, pool not imported, target missing, diverged, or being resumed.
 */
function sortHolds(
  dataset: string,
  mine: readonly ReplicationPlan[],
  records: readonly HoldRecord[],
  present: ReadonlySet<string>,
  targets: (r: ReplicationPlan) => ReadonlySet<string>,
) {
  const stale: StaleHold[] = [];
  const bases = new Map<ReplicationPlan, Set<string>>(); // recorded bases of replications without an established one
  for (const h of records) {
    if (h.role === 'source' && h.dataset === dataset) {
      const r = owner(h, mine);
      if (!r) {
        stale.push({ ...h, why: 'its destination is no longer configured' });
      } else if (heldBase(r) === undefined) {
        bases.set(r, (bases.get(r) ?? new Set()).add(h.snapshot));
      } else if (present.has(h.snapshot) && !(h.tag === r.sourceTag && (h.snapshot === r.common || h.snapshot === r.newCommon))) {
        // (A recorded hold whose snapshot is gone has nothing left to release.)
        stale.push({ ...h, why: `no longer the base for ${replicationKey(r)}`, replication: replicationKey(r) });
      }
    } else if (h.role === 'target') {
      const id = holdIdentity(h);
      const r = mine.find((x) => identityOf(x) === id);
      // Only on a target that is there now: the hold of a copy renamed away went with it.
      if (r && heldBase(r) !== undefined && targets(r).has(h.snapshot) && !(h.tag === r.targetTag && (h.snapshot === r.common || h.snapshot === r.newCommon))) {
        stale.push({ ...h, host: r.hostLabel, why: `no longer the base of ${replicationKey(r)}`, replication: replicationKey(r) });
      }
    }
  }
  return { stale, bases };
}

/**
 * Which side's base is already held by zback and stays the base (nothing to send): the hold is in
 * zback's records and ZFS shows a hold on that snapshot. Then the run places no hold there again
 * (an existing tag would fail a whole batched `zfs hold`), unless a stale hold of this replication
 * waits to be replaced.
 */
function markHeldBases(
  r: ReplicationPlan,
  records: readonly HoldRecord[],
  info: DatasetInfo,
  state: DestinationState | undefined,
  stale: readonly StaleHold[],
): void {
  if (r.status === 'resume' || r.common === undefined) return;
  const key = replicationKey(r);
  if (r.newCommon !== undefined && r.newCommon !== r.common) {
    // The old base is released with this replication's tag, unless zback's records show it held
    // only under another tag (zback 0.1's): that hold is released as stale, and this one is not there.
    const otherTagOnly = (role: 'source' | 'target', tag: string) => {
      const mine = stale.filter(
        (h) => h.role === role && h.replication === key && h.snapshot === (role === 'target' ? (r.commonOnTarget ?? r.common) : r.common),
      );
      return mine.length > 0 && mine.every((h) => h.tag !== tag);
    };
    const skip: { source?: true; target?: true } = {};
    if (
      otherTagOnly('source', r.sourceTag) &&
      !records.some((h) => h.role === 'source' && h.dataset === r.dataset && h.snapshot === r.common && h.tag === r.sourceTag)
    )
      skip.source = true;
    if (skip.source) r.oldBaseNotHeld = skip;
    return;
  }
  const waiting = (role: 'source' | 'target') => stale.some((h) => h.role === role && h.replication === key);
  const refs = (snaps: readonly { name: string; userrefs: number }[] | undefined, name: string) => snaps?.find((x) => x.name === name)?.userrefs ?? 0;
  const held: { source?: true; target?: true } = {};
  const base = r.common;
  // userrefs counts every hold: one zback recorded may be gone (released by hand) while another
  // destination's, or anyone's, remains. Held only if there are at least as many holds as zback
  // recorded tags on that snapshot (a foreign hold can still hide a missing one: it protects the
  // snapshot meanwhile, and the next run without it holds again).
  const recorded = (role: 'source' | 'target', dataset: string, snapshot: string) =>
    records.filter(
      (h) => h.role === role && h.dataset === dataset && h.snapshot === snapshot && (role === 'source' || hostIdentity(h.host) === hostIdentity(r.hostLabel)),
    );
  const isHeld = (role: 'source' | 'target', userrefs: number, dataset: string, snapshot: string, tag: string) => {
    const mine = recorded(role, dataset, snapshot);
    return mine.some((h) => h.tag === tag) && userrefs >= new Set(mine.map((h) => h.tag)).size;
  };
  if (!waiting('source') && isHeld('source', refs(info.snapshots, base), r.dataset, base, r.sourceTag)) held.source = true;
  const onTarget = r.commonOnTarget ?? base;
  const target = state?.reachable ? state.inventory.get(r.target) : undefined;
  if (target && !waiting('target') && isHeld('target', refs(target.snapshots, onTarget), r.target, onTarget, r.targetTag)) held.target = true;
  if (held.source || held.target) r.baseHeld = held;
}

/**
 * A destination replaces only its own bookmarks, but another destination of the dataset may stand
 * on one of them: its base snapshot destroyed, the bookmark (of the same guid) is its last common
 * point. Such a bookmark stays while nothing else of its guid does (the snapshot, another bookmark
 * this plan keeps) — also for a destination whose common point is unknown now (unreachable,
 * diverged, seeding): it may stand on it. The interlock checks the same (lib/safety/interlock.ts).
 */
function keepSharedBookmarks(mine: readonly ReplicationPlan[], info: DatasetInfo): void {
  const guidOf = new Map((info.bookmarks ?? []).map((b) => [b.name, b.guid]));
  const snapshotGuids = new Set(info.snapshots.map((s) => s.guid));
  for (const r of mine) {
    if (!r.bookmark?.remove.length) continue;
    const removed = new Set(mine.flatMap((x) => x.bookmark?.remove ?? []));
    r.bookmark.remove = r.bookmark.remove.filter((name) => {
      const guid = guidOf.get(name);
      if (guid === undefined || snapshotGuids.has(guid)) return true;
      const survivor = (info.bookmarks ?? []).some((b) => b.guid === guid && b.name !== name && !removed.has(b.name));
      const standsOnIt = mine.some((x) => x !== r && (x.baseBookmark?.guid === guid || (x.common === undefined && x.baseBookmark === undefined)));
      return survivor || !standsOnIt;
    });
  }
}

/** zback's records, indexed once per plan: each dataset then reads only its own (1,000 datasets × 2,000 records was seconds). */
interface RecordIndex {
  sourceByDataset: Map<string, HoldRecord[]>;
  targetByIdentity: Map<string, HoldRecord[]>;
  replicatedByDataset: Map<string, PlanHistory['replicated'][number][]>;
}
function indexRecords(input: PlanInput): RecordIndex {
  const push = <K, V>(m: Map<K, V[]>, k: K, v: V) => {
    const list = m.get(k);
    if (list) list.push(v);
    else m.set(k, [v]);
  };
  const index: RecordIndex = { sourceByDataset: new Map(), targetByIdentity: new Map(), replicatedByDataset: new Map() };
  for (const h of input.holds ?? []) {
    if (h.role === 'source') push(index.sourceByDataset, h.dataset, h);
    else push(index.targetByIdentity, holdIdentity(h)!, h);
  }
  for (const x of input.history?.replicated ?? []) push(index.replicatedByDataset, x.dataset, x);
  return index;
}

function planDataset(
  config: DatasetConfig,
  input: PlanInput & { names: TrustedNames },
  newName: string,
  nowSec: number,
  replications: ReplicationPlan[],
  stale: StaleHold[],
  index: RecordIndex,
): DatasetPlan {
  const info = input.inventory.get(config.dataset)!;
  const zback: PruneCandidate[] = [];
  let foreign = 0;
  const future: string[] = [];
  for (const s of info.snapshots) {
    const time = input.names.parse(s.name);
    if (input.names.isFuture(s.name)) future.push(s.name);
    else if (time === null) foreign++;
    else zback.push({ name: s.name, time, createtxg: s.createtxg });
  }
  const latest = zback.reduce<number | null>((m, s) => (m === null || s.time > m ? s.time : m), null);
  const due = isDue(config.schedule, latest, input.now, input.calendar.zone, input.ticks);
  const exists = info.snapshots.some((s) => s.name === newName);
  const plan: DatasetPlan = {
    dataset: config.dataset,
    config,
    zbackSnapshots: zback.length,
    foreignSnapshots: foreign,
    latest,
    due,
    decisions: [],
    destroy: [],
    destroyAfterSend: [],
  };
  if (future.length) {
    plan.future = future;
    plan.problems = [
      `${config.dataset}: ${future.map((n) => `@${n}`).join(', ')} ${future.length === 1 ? 'is' : 'are'} dated after this run's clock (${new Date(input.now).toISOString()}): ` +
        `zback ignores ${future.length === 1 ? 'it' : 'them'} for due snapshots, retention and replication and never destroys ${future.length === 1 ? 'it' : 'them'}. ` +
        `If the clock is right, rename ${future.length === 1 ? 'it' : 'them'} (${shellCommand(renameCommand(`${config.dataset}@${future[0]}`, `${config.dataset}@manual-${future[0]}`))}) or destroy ${future.length === 1 ? 'it' : 'them'} by hand; if the clock was wrong, fix it (NTP).`,
    ];
  }
  const candidates = [...zback];
  // (Also when this plan takes no snapshot: a run's second plan reports what its first one skipped.)
  const unusableHook = due.due && !exists ? input.unusableHooks?.find((u) => blockedBy(config.dataset, [u])) : undefined;
  if (unusableHook) {
    // Its hook would quiesce something before the snapshot: none is taken without it.
    plan.problems = [
      ...(plan.problems ?? []),
      `${config.dataset}: the snapshot that is due was not taken: its hook file ${unusableHook.file} cannot be used (${unusableHook.problems.join('; ')})`,
    ];
  } else if (due.due && !exists && !input.noSnapshots) {
    plan.newSnapshot = newName;
    candidates.push({ name: newName, time: nowSec, createtxg: Number.MAX_SAFE_INTEGER });
  }

  // zback's records of this dataset's own holds (the index keeps a plan linear in datasets).
  const own = index.sourceByDataset.get(config.dataset) ?? [];
  const mine: ReplicationPlan[] = [];
  const evidence = new Map<ReplicationPlan, string[]>();
  if (input.destinations) {
    for (const destination of config.destinations) {
      const label = destinationHostLabel(destination);
      const id = destinationIdentity(label, destination.datasetPath);
      const state = input.destinations.get(label) ?? { label, reachable: false as const, error: `${label} was not contacted` };
      // Evidence that this destination was seeded before: zback's recorded holds for it, and what
      // the last runs recorded as replicated to it (under any spelling of its host).
      const seededBefore = new Set<string>();
      for (const h of own) if (holdIdentity(h) === id) seededBefore.add(h.snapshot);
      for (const x of index.replicatedByDataset.get(config.dataset) ?? []) if (keyIdentity(x.replication) === id) seededBefore.add(x.snapshot);
      const reseed = (input.reseed ?? []).some((q) => q.dataset === config.dataset && keyIdentity(q.destination) === id);
      const recordedStream = input.history?.streams?.find((x) => x.dataset === config.dataset && keyIdentity(x.replication) === id)?.flags;
      const r = planReplication({
        config,
        destination,
        localCaps: input.caps,
        snapshots: info.snapshots,
        ...(plan.newSnapshot ? { planned: plan.newSnapshot } : {}),
        // Fails closed: a ZFS that has encryption but did not say whether this dataset uses it.
        encrypted: !input.caps.encryption ? false : info.encryption === undefined ? 'unknown' : info.encryption !== 'off',
        state,
        now: input.now,
        calendar: input.calendar,
        names: input.names,
        ...(input.ticks ? { ticks: input.ticks } : {}),
        seededBefore: [...seededBefore],
        reseed,
        ...(input.copyMark ? { copyMark: input.copyMark } : {}),
        ...(input.localFeatures?.has(poolOf(config.dataset)) ? { sourcePool: input.localFeatures.get(poolOf(config.dataset))! } : {}),
        ...(recordedStream ? { recordedStream } : {}),
        ...(info.bookmarks ? { bookmarks: info.bookmarks } : {}),
        bookmarksUsable: canBookmark(input.caps, input.localFeatures?.get(poolOf(config.dataset))),
      });
      if (info.guid) r.datasetGuid = info.guid;
      mine.push(r);
      evidence.set(r, [...seededBefore]);
    }
    keepSharedBookmarks(mine, info);
    replications.push(...mine);
  }
  // The records that concern this dataset: its own holds, and those on its destinations' targets.
  const records = [...own, ...new Set(mine.flatMap((r) => index.targetByIdentity.get(identityOf(r)) ?? []))];
  const present = new Set(info.snapshots.map((s) => s.name));
  const onTarget = (r: ReplicationPlan) => {
    const state = input.destinations?.get(r.hostLabel);
    return new Set(state?.reachable ? (state.inventory.get(r.target)?.snapshots ?? []).map((s) => s.name) : []);
  };
  const holds = sortHolds(config.dataset, mine, records, present, onTarget);
  stale.push(...holds.stale);
  for (const r of mine) markHeldBases(r, records, info, input.destinations?.get(r.hostLabel), holds.stale);

  // Always kept: snapshots held by someone other than zback (zback's own holds mark bases, which
  // are kept as bases), every base of a configured destination, and everything while a receive
  // is being resumed (its target snapshot is not known here).
  const sure = new Map<string, string[]>();
  const add = (m: Map<string, string[]>, name: string, why: string) => m.set(name, [...(m.get(name) ?? []), why]);
  // zback's own holds: those it recorded placing (a tag it would place but has not is no hold).
  const ownTags = new Map<string, Set<string>>();
  for (const h of records) if (h.role === 'source' && h.dataset === config.dataset) ownTags.set(h.snapshot, (ownTags.get(h.snapshot) ?? new Set()).add(h.tag));
  for (const s of info.snapshots) {
    const others = s.userrefs - (ownTags.get(s.name)?.size ?? 0);
    if (others > 0) add(sure, s.name, `held (${others} user hold${others === 1 ? '' : 's'})`);
  }
  // A base that this run's send replaces, and every snapshot the send delivers, are kept until
  // that send succeeded: should it fail half-way, the next run goes on from what arrived.
  const untilSent = new Map<string, string[]>();
  const neededBy = new Map<string, string[]>();
  for (const r of mine) {
    const key = replicationKey(r);
    if (r.status === 'resume') for (const c of candidates) add(sure, c.name, `an interrupted receive on ${key} is being resumed`);
    const seeding = r.sends.some((s) => s.kind === 'full');
    // A destination's bases: its common snapshot once established; otherwise what zback recorded
    // (whether the destination is unreachable, its pool away, its target missing or diverged).
    const bases = established(r) ? [r.common!] : [...(holds.bases.get(r) ?? []), ...(evidence.get(r) ?? []), ...(r.common && !seeding ? [r.common] : [])];
    const moving = r.newCommon !== undefined;
    const note = established(r) || seeding ? '' : ` (${r.conflict?.kind ?? r.status} now)`;
    for (const b of new Set(bases)) {
      if (!present.has(b)) continue;
      if (moving && b !== r.newCommon) {
        add(untilSent, b, `base for ${key} until this run's send succeeds`);
        add(neededBy, b, key);
      } else add(sure, b, `base for ${key}${note}`);
    }
    if (r.newCommon) add(sure, r.newCommon, `base for ${key}`);
    for (const name of moving ? r.sends.flatMap((s) => s.delivers) : []) {
      if (!bases.includes(name)) add(untilSent, name, `sent to ${key} in this run`);
      add(neededBy, name, key);
    }
  }
  const all = new Map(sure);
  for (const [name, why] of untilSent) all.set(name, [...(all.get(name) ?? []), ...why]);
  plan.decisions = decideRetention(candidates, config.retention.value, input.calendar, all);
  plan.destroy = plan.decisions.filter((d) => !d.keep).map((d) => d.name);
  if (untilSent.size) {
    const keptForSure = new Set(
      decideRetention(candidates, config.retention.value, input.calendar, sure)
        .filter((d) => d.keep)
        .map((d) => d.name),
    );
    for (const d of plan.decisions) {
      if (!d.keep || keptForSure.has(d.name)) continue;
      plan.destroyAfterSend.push({ name: d.name, after: [...new Set(neededBy.get(d.name) ?? [])] });
    }
  }
  return plan;
}

export function buildPlan(planInput: PlanInput): Plan {
  // Names dated after the clock are not trusted as times (SPEC §9): see TrustedNames.
  const names = planInput.names instanceof TrustedNames ? planInput.names : new TrustedNames(planInput.names, planInput.now);
  const input = { ...planInput, names, ticks: planInput.ticks ?? new TickCache() };
  const nowSec = Math.floor(input.now / 1000) * 1000;
  const newName = input.names.nameFor(nowSec);
  const datasets: DatasetPlan[] = [];
  const ignored: Plan['ignored'] = [];
  const replications: ReplicationPlan[] = [];
  const stale: StaleHold[] = [];
  const index = indexRecords(input);
  const empty = { zbackSnapshots: 0, foreignSnapshots: 0, latest: null, decisions: [], destroy: [], destroyAfterSend: [] };

  for (const c of input.configs) {
    if (c.kind === 'ignored') ignored.push({ dataset: c.dataset, why: c.why });
    else if (c.kind === 'error') datasets.push({ dataset: c.dataset, error: c.error.message, ...empty });
    else if (!input.inventory.has(c.dataset)) {
      datasets.push({ dataset: c.dataset, error: `${c.dataset}: the dataset disappeared while zback was reading the pools`, ...empty });
    } else {
      // A dataset that cannot be planned (a name ZFS would refuse, …) fails alone.
      const before = { replications: replications.length, stale: stale.length };
      try {
        datasets.push(planDataset(c.config, input, newName, nowSec, replications, stale, index));
      } catch (e) {
        replications.length = before.replications;
        stale.length = before.stale;
        datasets.push({ dataset: c.dataset, error: `${c.dataset}: cannot be planned: ${errorMessage(e)}`, ...empty });
      }
    }
  }
  datasets.sort((a, b) => (a.dataset < b.dataset ? -1 : a.dataset > b.dataset ? 1 : 0));

  // Group due datasets by the ancestor whose `snapshot=yes` they share: one atomic command each.
  const groups = new Map<string, string[]>();
  for (const d of datasets) {
    if (!d.newSnapshot || !d.config) continue;
    const list = groups.get(d.config.group) ?? [];
    list.push(d.dataset);
    groups.set(d.config.group, list);
  }
  const allDatasets = [...input.inventory.keys()];
  const snapshots: SnapshotAction[] = [];
  for (const [root, due] of [...groups].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const subtree = allDatasets.filter((n) => isSameOrBelow(n, root));
    try {
      snapshots.push(...snapshotActions(root, due, subtree, newName, input.caps));
    } catch (e) {
      for (const d of datasets.filter((x) => due.includes(x.dataset))) {
        d.error = `${d.dataset}: cannot snapshot: ${errorMessage(e)}`;
        delete d.newSnapshot;
        d.destroy = [];
        d.destroyAfterSend = [];
        for (const r of replications.filter((x) => x.dataset === d.dataset && x.sends.length)) {
          Object.assign(r, { status: 'error', message: `not replicated: ${d.error}`, sends: [], targetDestroy: [], targetDestroyArgvs: [] });
          delete r.newCommon;
          delete r.createParents;
        }
      }
    }
  }

  const destroys: DestroyAction[] = datasets
    .filter((d) => d.destroy.length > 0 && !d.error)
    .map((d) => ({ kind: 'destroy', dataset: d.dataset, snapshots: d.destroy, argvs: destroyCommands(d.dataset, d.destroy, input.caps) }));

  replications.sort((a, b) => (a.dataset < b.dataset ? -1 : a.dataset > b.dataset ? 1 : 0));
  orderNestedSeeds(replications);
  // A dataset that earlier runs managed and that is not there now (its pool not imported, renamed,
  // destroyed): an error every run until it is back or forgotten; its recorded holds stay.
  const known = new Set(input.configs.map((c) => c.dataset));
  const missing = new Set<string>();
  if (input.localDatasets) {
    const remembered = [...(input.history?.managed ?? []), ...(input.holds ?? []).filter((h) => h.role === 'source').map((h) => h.dataset)];
    for (const name of remembered) if (!input.localDatasets.has(name) && !known.has(name)) missing.add(name);
  }
  for (const name of [...missing].sort()) {
    const pool = poolOf(name);
    const poolThere = [...input.localDatasets!].some((d) => d === pool);
    datasets.push({
      dataset: name,
      missing: true,
      error:
        `${name}: zback managed it, but it is not there now (${poolThere ? 'renamed or destroyed?' : `the pool ${pool} is not imported`}). ` +
        `Its recorded holds are kept. ${poolThere ? 'If it was renamed, rename it back' : `Import the pool (zpool import ${pool})`}; ` +
        `if it is gone for good, run: zback forget '${name}'`,
      ...empty,
    });
  }
  datasets.sort((a, b) => (a.dataset < b.dataset ? -1 : a.dataset > b.dataset ? 1 : 0));
  // Holds on datasets that are still here but that zback no longer manages (configuration removed,
  // or snapshot=no). Without the list of local datasets nothing is known to be unmanaged.
  const managed = new Set(input.configs.filter((c) => c.kind !== 'ignored').map((c) => c.dataset));
  for (const h of input.holds ?? []) {
    const there = input.inventory.get(h.dataset)?.snapshots.some((s) => s.name === h.snapshot);
    if (h.role === 'source' && !managed.has(h.dataset) && input.localDatasets?.has(h.dataset) && there)
      stale.push({ ...h, why: 'the dataset is no longer managed by zback' });
  }
  const plan: Plan = { now: input.now, zone: input.calendar.zone, datasets, snapshots, destroys, replications, staleHolds: stale, ignored, actions: [] };
  plan.actions = buildActions(plan, input.caps, input.copyMark, input.hooks);
  return plan;
}

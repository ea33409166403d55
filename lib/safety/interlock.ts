/**
 * The safety interlock (SPEC §9): checks a plan before anything runs, independently of the
 * planner — from the inventories, the configuration and zback's records alone — and refuses
 * every action that would destroy or release what must survive:
 *
 *  foreign       a snapshot whose name is not zback's (never destroyed);
 *  newest        the newest zback snapshot of a dataset (on either side), unless the destroy waits
 *                for a snapshot or send that brings a newer one;
 *  held          a snapshot held by someone other than zback;
 *  not-zback     a hold whose tag is not zback's (never released);
 *  resume        anything of a dataset whose destination has an interrupted receive, or of that
 *                destination's target;
 *  base          the last common snapshot of a configured destination — found by guid when the
 *                target can be read, else from zback's hold records and the last runs' state, so
 *                it is protected whether the destination is reachable, its pool imported, its
 *                target present or its spelling changed — unless the destroy waits for a send to
 *                that destination that establishes a newer base (a release: for the hold on it);
 *  unknown       a snapshot or dataset the inventory does not show (it cannot be checked);
 *  undone        a release of the very hold (host, snapshot, tag) the same plan places;
 *  bookmark      a bookmark destroyed that is not zback's for the destination the action serves,
 *                or that is that destination's newest (a newer one of it must exist, or be made
 *                first), or that a send of the plan starts from and the destroy does not wait for.
 *
 * The last common point of a destination is found by guid among the source's snapshots and its
 * bookmarks (SPEC §11): where a bookmark is newer than every common snapshot, the target's snapshot
 * it marks is that destination's base there.
 *
 * The planner is not trusted here: nothing of lib/plan's decisions is read, only its actions.
 */
import { destinationHostLabel } from '../policy/destinations.js';
import type { NameFormat } from '../policy/snapshot-names.js';
import type { ConfigResult, DestinationConfig } from '../policy/properties.js';
import { destinationIdentity, destinationOfTag, holdIdentity, holdTargetPath, hostIdentity, keyIdentity } from '../plan/identity.js';
import type { DestinationState } from '../plan/replication.js';
import type { Action, Plan, Refusal } from '../plan/types.js';
import type { HoldRecord } from '../state/holds.js';
import type { DatasetInfo, Inventory } from '../zfs/parse.js';
import { destinationBookmarks } from '../plan/bookmarks.js';

export interface InterlockInput {
  actions: readonly Action[];
  configs: readonly ConfigResult[];
  /** This machine's inventory. */
  inventory: Inventory;
  /** What discovery found on each destination host (by host label). */
  destinations?: ReadonlyMap<string, DestinationState>;
  /** zback's hold ledger. */
  holds: readonly HoldRecord[];
  /** What the last runs recorded as replicated: dataset, replication key, snapshot. */
  replicated?: ReadonlyArray<{ dataset: string; replication: string; snapshot: string }>;
  names: NameFormat;
}

interface Dest {
  dataset: string;
  config: DestinationConfig;
  label: string;
  id: string;
}

const RULES: Record<string, string> = {
  foreign: 'it is not a zback snapshot (foreign snapshots are never destroyed)',
  newest: 'it is the newest zback snapshot of the dataset',
  held: 'it is held by someone other than zback',
  'not-zback': 'the hold is not zback’s',
  resume: 'an interrupted receive of this dataset is pending (its target snapshot must survive)',
  base: 'it is the last common snapshot (the base of the next incremental send) of a configured destination',
  unknown: 'zback cannot see it in the inventory, so it cannot check it',
  undone: 'the same plan places this very hold (releasing it would undo it)',
  bookmark: 'it is the safety net of a destination (a bookmark zback keeps until a newer one of the same destination exists)',
};

export function checkPlan(input: InterlockInput): Refusal[] {
  const byId = new Map(input.actions.map((a) => [a.id, a]));
  const dests: Dest[] = [];
  for (const c of input.configs) {
    if (c.kind !== 'managed') continue;
    for (const d of c.config.destinations) {
      const label = destinationHostLabel(d);
      dests.push({ dataset: c.dataset, config: d, label, id: destinationIdentity(label, d.datasetPath) });
    }
  }

  /** Every action `a` waits for, directly or through others. */
  const ancestors = (a: Action): Action[] => {
    const seen = new Set<string>();
    const out: Action[] = [];
    const walk = (ids: readonly string[]) => {
      for (const id of ids) {
        if (seen.has(id)) continue;
        seen.add(id);
        const x = byId.get(id);
        if (!x) continue;
        out.push(x);
        walk(x.after);
      }
    };
    walk(a.after);
    return out;
  };

  /** The inventory an action's dataset is in: this machine's for a managed dataset, else its destination host's. */
  const inventoryOn = (host: string, sourceSide: boolean): Inventory | undefined => {
    if (sourceSide) return input.inventory;
    const s = input.destinations?.get(host);
    return s && s.reachable ? s.inventory : undefined;
  };
  const targetOf = (d: Dest): DatasetInfo | undefined => {
    const s = input.destinations?.get(d.label);
    return s && s.reachable ? s.inventory.get(d.config.datasetPath) : undefined;
  };

  /**
   * The destination's last common point by guid: the newest source snapshot or bookmark whose guid
   * the target has (`source`: the snapshot's name here, unset for a bookmark; `target`: the name
   * there). Undefined when its target cannot be read or shares none.
   */
  const commonByGuid = (d: Dest): { source?: string; target: string; guid: string; txg: number } | undefined => {
    const target = targetOf(d);
    const source = input.inventory.get(d.dataset);
    if (!target || !source) return undefined;
    const there = new Map(target.snapshots.map((s) => [s.guid, s.name]));
    let best: { txg: number; source?: string; target: string; guid: string } | undefined;
    for (const s of source.snapshots)
      if (there.has(s.guid) && (!best || s.createtxg >= best.txg)) best = { txg: s.createtxg, source: s.name, target: there.get(s.guid)!, guid: s.guid };
    for (const b of source.bookmarks ?? [])
      if (there.has(b.guid) && (!best || b.createtxg > best.txg)) best = { txg: b.createtxg, target: there.get(b.guid)!, guid: b.guid };
    return best;
  };
  /** Bases of a destination on the source: by guid where readable, else every recorded one. */
  const sourceBases = (d: Dest): Set<string> => {
    const common = commonByGuid(d);
    if (common !== undefined) return new Set(common.source !== undefined ? [common.source] : []);
    const out = new Set<string>();
    for (const h of input.holds) {
      if (h.role !== 'source' || h.dataset !== d.dataset) continue;
      const id = holdIdentity(h);
      // A re-spelled host keeps its base: the same identity, or the same target path.
      // A re-spelled host keeps its base: the same identity; or a record whose destination is no
      // configured one of this dataset (a host renamed in the property) with the same target path.
      const configured = id !== null && dests.some((x) => x.dataset === d.dataset && x.id === id);
      if (id === d.id || (!configured && (holdTargetPath(h) ?? d.config.datasetPath) === d.config.datasetPath)) out.add(h.snapshot);
    }
    for (const x of input.replicated ?? []) if (x.dataset === d.dataset && keyIdentity(x.replication) === d.id) out.add(x.snapshot);
    return out;
  };

  const resumePending = (d: Dest) => targetOf(d)?.resumeToken !== undefined;

  /** zback's own holds on a snapshot: the tags its records and its configured destinations account for. */
  const zbackHolds = (host: string, sourceSide: boolean, dataset: string, snapshot: string): number => {
    const tags = new Set<string>();
    for (const h of input.holds) {
      if (h.dataset !== dataset || h.snapshot !== snapshot) continue;
      if (sourceSide ? h.role === 'source' : h.role === 'target' && hostIdentity(h.host) === hostIdentity(host)) tags.add(h.tag);
    }
    return tags.size;
  };

  const refusals: Refusal[] = [];
  const refuse = (a: Action, snapshot: string, rule: keyof typeof RULES, detail = '') => {
    const at = a.host === 'local' ? a.target : `${a.host}:${a.target}`;
    refusals.push({
      actionId: a.id,
      dataset: a.dataset,
      host: a.host,
      target: a.target,
      snapshot,
      rule,
      message:
        `${a.dataset}: the safety interlock refused to ${a.op} ${a.op === 'release' ? `${a.tag} on ` : ''}${at}${snapshot.startsWith('#') ? '' : '@'}${snapshot}: ${RULES[rule]}${detail}. ` +
        `Nothing of ${a.dataset} is destroyed or released in this run. This is a bug in zback's planner: please report it with the output of 'zback run --dry-run --json'.`,
    });
  };

  for (const a of input.actions) {
    if (a.op === 'unbookmark') {
      checkUnbookmark(a);
      continue;
    }
    if (a.op !== 'destroy' && a.op !== 'release') continue;
    // On this machine: a source dataset, unless it is the target of a destination pool here.
    const local = a.host === 'local' && !dests.some((d) => d.label === 'local' && d.config.datasetPath === a.target);
    const info = inventoryOn(a.host, local)?.get(a.target);
    const before = ancestors(a);
    // The destinations this action's dataset belongs to: on the source, the dataset's own; on a
    // destination, those whose target it is.
    const mine = local
      ? dests.filter((d) => d.dataset === a.target)
      : dests.filter((d) => hostIdentity(d.label) === hostIdentity(a.host) && d.config.datasetPath === a.target);

    for (const s of a.snapshots) {
      if (!info || !info.snapshots.some((x) => x.name === s)) {
        refuse(a, s, 'unknown');
        continue;
      }
      if (a.op === 'release') {
        if (!a.tag?.startsWith('zback:')) refuse(a, s, 'not-zback');
        // Whichever runs last wins: a hold placed and released in one run may end up released.
        const placed = input.actions.some((b) => b.op === 'hold' && b.host === a.host && b.target === a.target && b.tag === a.tag && b.snapshots.includes(s));
        if (placed) {
          refuse(a, s, 'undone');
          continue;
        }
      } else {
        if (input.names.parse(s) === null) {
          refuse(a, s, 'foreign');
          continue;
        }
        // Newest: existing ones, and what this destroy waits to see arrive (a snapshot or a send).
        const arriving = before
          .filter(
            (b) => (b.op === 'snapshot' && local && (b.datasets ?? [b.target]).includes(a.target)) || (b.op === 'send' && !local && b.target === a.target),
          )
          .flatMap((b) => b.snapshots);
        const times = [...info.snapshots.map((x) => x.name), ...arriving].map((n) => ({ n, t: input.names.parse(n) })).filter((x) => x.t !== null);
        const newest = times.reduce<{ n: string; t: number | null } | null>((m, x) => (m === null || x.t! > m.t! ? x : m), null);
        if (newest?.n === s) {
          refuse(a, s, 'newest');
          continue;
        }
        const userrefs = info.snapshots.find((x) => x.name === s)!.userrefs;
        // zback's holds are those it recorded placing; any other hold is someone else's.
        const own = zbackHolds(a.host, local, a.target, s);
        if (userrefs > own) {
          refuse(a, s, 'held', ` (${userrefs} hold${userrefs === 1 ? '' : 's'}, zback knows of ${own})`);
          continue;
        }
      }
      // A pending resume protects everything of its dataset from destroys (its target snapshot is
      // not known), and that destination's own holds from release; another destination's holds
      // move as usual.
      const tagDestination = a.op === 'release' && local ? destinationOfTag(a.tag ?? '') : null;
      const resuming = mine.filter(resumePending).filter((d) => a.op !== 'release' || !local || tagDestination === null || tagMayName(tagDestination, d));
      if (resuming.length) {
        refuse(a, s, 'resume');
        continue;
      }
      for (const d of mine) {
        const point = local ? undefined : commonByGuid(d);
        const bases = local ? sourceBases(d) : new Set([point?.target].filter((x): x is string => x !== undefined));
        if (!bases.has(s)) continue;
        // A base the source keeps only as a bookmark (its snapshot destroyed here): newer is by that bookmark's creation.
        const baseTxg = point?.target === s ? point.txg : undefined;
        if (a.op === 'release') {
          const tagDest = local ? destinationOfTag(a.tag ?? '') : null;
          if (tagDest && !tagMayName(tagDest, d)) continue; // another destination's tag: d's own hold stays
          const sourceInfo = local ? info : input.inventory.get(d.dataset);
          const replaced = before.some(
            (b) =>
              b.op === 'hold' &&
              b.host === a.host &&
              b.target === a.target &&
              b.replication !== undefined &&
              sameDestination(b.replication, d) &&
              (b.snapshots[0] === s ? b.tag !== a.tag : isNewer(sourceInfo, b.snapshots[0]!, s, input.names, baseTxg)),
          );
          if (!replaced) refuse(a, s, 'base', ` (${shown(d)}), and no hold on a newer base is placed first`);
        } else {
          const sourceInfo = input.inventory.get(d.dataset);
          const established = before.some(
            (b) =>
              b.op === 'send' &&
              b.replication !== undefined &&
              sameDestination(b.replication, d) &&
              b.snapshots.some((n) => isNewer(sourceInfo, n, s, input.names, baseTxg)),
          );
          if (!established) refuse(a, s, 'base', ` (${shown(d)}), and the destroy does not wait for a send that establishes a newer one`);
        }
      }
    }
  }
  return refusals;

  /**
   * A zback bookmark destroyed: only on this machine, only one of the destination the action
   * serves, and never that destination's last: a newer one of it is there, or made before (by an
   * action this one waits for); never one a send of this plan starts from, unless after that send.
   */
  function checkUnbookmark(a: Action): void {
    const name = a.bookmark ?? '';
    const marks = input.inventory.get(a.target)?.bookmarks ?? [];
    const it = marks.find((b) => b.name === name);
    const full = `${a.target}#${name}`;
    if (a.host !== 'local' || !it || a.argv.length !== 3 || a.argv[1] !== 'destroy' || a.argv[2] !== full) {
      refuse(a, `#${name}`, 'unknown');
      return;
    }
    const d = dests.find((x) => x.dataset === a.target && a.replication !== undefined && sameDestination(a.replication, x));
    const ofD = d === undefined ? () => false : destinationBookmarks(d.label, d.config.datasetPath).owns;
    if (!d || !ofD(name)) {
      refuse(a, `#${name}`, 'bookmark', ' (it is not zback’s bookmark for the destination this action serves)');
      return;
    }
    const before = ancestors(a);
    const source = input.inventory.get(a.target);
    const txgOf = (snapshot: string) => source?.snapshots.find((s) => s.name === snapshot)?.createtxg ?? Number.MAX_SAFE_INTEGER; // taken in this run
    const newerThere = marks.some((b) => ofD(b.name) && b.createtxg > it.createtxg);
    // (Read from the command itself: `zfs bookmark ds@snap ds#name`.)
    const made = (b: Action) =>
      b.op === 'bookmark' &&
      b.host === 'local' &&
      b.argv.length === 4 &&
      b.argv[1] === 'bookmark' &&
      b.argv[2]!.startsWith(`${a.target}@`) &&
      b.argv[3]!.startsWith(`${a.target}#`) &&
      ofD(b.argv[3]!.slice(a.target.length + 1)) &&
      txgOf(b.argv[2]!.slice(a.target.length + 1)) > it.createtxg;
    const newerMade = before.some(made);
    if (!newerThere && !newerMade) {
      refuse(a, `#${name}`, 'bookmark', ' (no newer bookmark of that destination is there or made first)');
      return;
    }
    const startsHere = input.actions.some((b) => b.op === 'send' && b.argv.includes(full) && !before.includes(b));
    if (startsHere) {
      refuse(a, `#${name}`, 'bookmark', ' (a send of this plan starts from it, and its destroy does not wait for that send)');
      return;
    }
    // Another destination of the dataset may stand on it: its base snapshot destroyed here, this
    // bookmark (of the same guid) is its last common point — or its point is unknown now (its
    // target unreadable, or being resumed: a resume from a bookmark names no bookmark in its
    // command). Only where nothing else of that guid stays: the snapshot, or a bookmark this plan
    // does not destroy.
    if (source?.snapshots.some((s) => s.guid === it.guid)) return;
    const destroyed = new Set(input.actions.filter((x) => x.op === 'unbookmark' && x.host === 'local').map((x) => x.argv[2]));
    if (marks.some((b) => b.guid === it.guid && b.name !== name && !destroyed.has(`${a.target}#${b.name}`))) return;
    for (const other of dests.filter((x) => x.dataset === a.target)) {
      const point = resumePending(other) ? undefined : commonByGuid(other);
      if (other.id === d.id && point !== undefined) continue; // its own: checked above
      if (point === undefined || point.guid === it.guid) {
        refuse(
          a,
          `#${name}`,
          'bookmark',
          ` (${point ? 'it is the last common point' : 'it may be the last common point'} of ${shown(other)}, whose base snapshot is gone here)`,
        );
        return;
      }
    }
  }

  /** A destination in messages: "host:path", or the path on this machine. */
  function shown(d: Dest): string {
    return d.label === 'local' ? d.config.datasetPath : `${d.label}:${d.config.datasetPath}`;
  }

  function sameDestination(key: string, d: Dest): boolean {
    // (Keys are "host:target" as replicationKey writes them; keyIdentity splits them safely.)
    return keyIdentity(key) === d.id;
  }
}

/**
 * Whether a source hold's tag may be `d`'s: it names d's host and either the path the property
 * sets (this version's tags, shared by the datasets that inherit it) or d's own target path (the
 * tags of zback 0.1). Read from the configuration, not the planner; where both readings are
 * possible, the release is checked as d's.
 */
function tagMayName(tagDest: { hostLabel: string; target: string }, d: Dest): boolean {
  return hostIdentity(tagDest.hostLabel) === hostIdentity(d.label) && (tagDest.target === d.config.path || tagDest.target === d.config.datasetPath);
}

/**
 * `a` is a later snapshot than `b` of the dataset: by creation, or (not taken yet) by its name's
 * time. `bTxg`: b's creation when the source has it only as a bookmark.
 */
function isNewer(info: DatasetInfo | undefined, a: string, b: string, names: NameFormat, bTxg?: number): boolean {
  const ta = info?.snapshots.find((s) => s.name === a)?.createtxg;
  const tb = info?.snapshots.find((s) => s.name === b)?.createtxg ?? bTxg;
  if (ta !== undefined && tb !== undefined) return ta > tb;
  if (ta === undefined && tb !== undefined) return true; // a is taken in this run: newer than anything there
  const na = names.parse(a);
  const nb = names.parse(b);
  return na !== null && nb !== null && na > nb;
}

/**
 * The plan without what the interlock refused: the refused actions, every other destroy and
 * release of the same datasets (their plan is not to be trusted), and whatever waits for those.
 */
export function applyRefusals(plan: Plan, refusals: readonly Refusal[]): Plan {
  if (refusals.length === 0) return plan;
  const datasets = new Set(refusals.map((r) => r.dataset));
  const dropped = new Set(refusals.map((r) => r.actionId));
  for (const a of plan.actions) if (datasets.has(a.dataset) && (a.op === 'destroy' || a.op === 'release' || a.op === 'unbookmark')) dropped.add(a.id);
  for (let changed = true; changed;) {
    changed = false;
    for (const a of plan.actions) {
      if (dropped.has(a.id)) continue;
      if (a.after.some((id) => dropped.has(id)) || (a.onFailure && dropped.has(a.onFailure.id))) {
        dropped.add(a.id);
        changed = true;
      }
    }
  }
  return { ...plan, actions: plan.actions.filter((a) => !dropped.has(a.id)), refused: [...(plan.refused ?? []), ...refusals] };
}

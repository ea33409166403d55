/**
 * The planner: a pure function from (configuration, inventory, capabilities, clock) to the plan
 * of one run. The executor carries the plan out; --dry-run prints it. No I/O here.
 */
import type { Calendar } from '../policy/calendar.js';
import type { NameFormat } from '../policy/names.js';
import { errorMessage } from '../errors.js';
import { destinationHostLabel } from '../policy/destinations.js';
import type { ConfigResult, DatasetConfig } from '../policy/properties.js';
import { decideRetention, type PruneCandidate } from '../policy/retention.js';
import { isDue, TickCache } from '../policy/schedule.js';
import type { ZfsCapabilities } from '../zfs/capabilities.js';
import { destroyCommands } from '../zfs/commands.js';
import { isSameOrBelow } from '../zfs/names.js';
import type { Inventory } from '../zfs/parse.js';
import { orderNestedSeeds, planReplication, replicationKey, type DestinationState } from './replication.js';
import { snapshotActions } from './snapshot-groups.js';
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
}

/** The topmost datasets among `names`: one `zfs get -r` over them covers all. */
export function topmost(names: Iterable<string>): string[] {
  const sorted = [...new Set(names)].sort();
  const out: string[] = [];
  for (const n of sorted) if (!out.some((r) => isSameOrBelow(n, r))) out.push(n);
  return out;
}

export { replicationKey };

/**
 * zback's holds from earlier runs that no longer mark a base: the destination was removed from the
 * configuration, or a run stopped between holding the new base and releasing the old one.
 * Kept when the destination could not be asked (its base is not known).
 */
function staleHolds(dataset: string, mine: readonly ReplicationPlan[], records: readonly HoldRecord[]): StaleHold[] {
  const out: StaleHold[] = [];
  for (const h of records) {
    if (h.role === 'source' && h.dataset === dataset) {
      const r = mine.find((x) => x.sourceTag === h.tag);
      if (!r) out.push({ ...h, why: 'its destination is no longer configured' });
      else if (!['unreachable', 'error', 'resume'].includes(r.status) && h.snapshot !== r.common && h.snapshot !== r.newCommon) {
        out.push({ ...h, why: `no longer the base for ${replicationKey(r)}` });
      }
    } else if (h.role === 'target') {
      const r = mine.find((x) => x.hostLabel === h.host && x.target === h.dataset && x.targetTag === h.tag);
      if (r && !['unreachable', 'error', 'resume'].includes(r.status) && h.snapshot !== r.common && h.snapshot !== r.newCommon) {
        out.push({ ...h, why: `no longer the base of ${replicationKey(r)}` });
      }
    }
  }
  return out;
}

function planDataset(
  config: DatasetConfig,
  input: PlanInput,
  newName: string,
  nowSec: number,
  replications: ReplicationPlan[],
  stale: StaleHold[],
): DatasetPlan {
  const info = input.inventory.get(config.dataset)!;
  const zback: PruneCandidate[] = [];
  let foreign = 0;
  for (const s of info.snapshots) {
    const time = input.names.parse(s.name);
    if (time === null) foreign++;
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
  const candidates = [...zback];
  if (due.due && !exists) {
    plan.newSnapshot = newName;
    candidates.push({ name: newName, time: nowSec, createtxg: Number.MAX_SAFE_INTEGER });
  }

  const mine: ReplicationPlan[] = [];
  if (input.destinations) {
    for (const destination of config.destinations) {
      const label = destinationHostLabel(destination);
      const state = input.destinations.get(label) ?? { label, reachable: false as const, error: `${label} was not contacted` };
      mine.push(
        planReplication({
          config,
          destination,
          snapshots: info.snapshots,
          ...(plan.newSnapshot ? { planned: plan.newSnapshot } : {}),
          encrypted: info.encryption !== undefined && info.encryption !== 'off',
          state,
          now: input.now,
          calendar: input.calendar,
          names: input.names,
          ...(input.ticks ? { ticks: input.ticks } : {}),
        }),
      );
    }
    replications.push(...mine);
  }
  const releasing = staleHolds(config.dataset, mine, input.holds ?? []);
  stale.push(...releasing);

  // Always kept: snapshots held by someone (zback's own holds on bases do not count: the bases
  // are kept as bases), every base of an incremental send, and everything while a receive is
  // being resumed (its target snapshot is not known here).
  const sure = new Map<string, string[]>();
  const add = (m: Map<string, string[]>, name: string, why: string) => m.set(name, [...(m.get(name) ?? []), why]);
  for (const s of info.snapshots) {
    const own = mine.filter((r) => r.common === s.name).length + releasing.filter((h) => h.role === 'source' && h.snapshot === s.name).length;
    const others = s.userrefs - own;
    if (others > 0) add(sure, s.name, `held (${others} user hold${others === 1 ? '' : 's'})`);
  }
  // A base that this run's send replaces, and every snapshot the send delivers, are kept until
  // that send succeeded: should it fail half-way, the next run goes on from what arrived.
  const untilSent = new Map<string, string[]>();
  const neededBy = new Map<string, string[]>();
  for (const r of mine) {
    const key = replicationKey(r);
    if (r.status === 'resume') for (const c of candidates) add(sure, c.name, `an interrupted receive on ${key} is being resumed`);
    if (r.newCommon) add(sure, r.newCommon, `base for ${key}`);
    const moving = r.newCommon !== undefined && r.newCommon !== r.common;
    if (r.common && moving) add(untilSent, r.common, `base for ${key} until this run's send succeeds`);
    else if (r.common) add(sure, r.common, `base for ${key}`);
    const delivered = moving ? [...(r.common ? [r.common] : []), ...r.sends.flatMap((s) => s.delivers)] : [];
    for (const name of delivered) {
      if (name !== r.common) add(untilSent, name, `sent to ${key} in this run`);
      add(neededBy, name, key);
    }
    if (r.status === 'unreachable') {
      // The base is not known without the destination; zback's record of its hold says which it is.
      for (const h of input.holds ?? []) {
        if (h.role === 'source' && h.dataset === config.dataset && h.tag === r.sourceTag) add(sure, h.snapshot, `base for ${key} (unreachable now)`);
      }
    }
  }
  const all = new Map(sure);
  for (const [name, why] of untilSent) all.set(name, [...(all.get(name) ?? []), ...why]);
  plan.decisions = decideRetention(candidates, config.retention.value, input.calendar, all);
  plan.destroy = plan.decisions.filter((d) => !d.keep).map((d) => d.name);
  if (untilSent.size) {
    const keptForSure = new Set(decideRetention(candidates, config.retention.value, input.calendar, sure).filter((d) => d.keep).map((d) => d.name));
    for (const d of plan.decisions) {
      if (!d.keep || keptForSure.has(d.name)) continue;
      plan.destroyAfterSend.push({ name: d.name, after: [...new Set(neededBy.get(d.name) ?? [])] });
    }
  }
  return plan;
}

export function buildPlan(planInput: PlanInput): Plan {
  const input = { ...planInput, ticks: planInput.ticks ?? new TickCache() };
  const nowSec = Math.floor(input.now / 1000) * 1000;
  const newName = input.names.nameFor(nowSec);
  const datasets: DatasetPlan[] = [];
  const ignored: Plan['ignored'] = [];
  const replications: ReplicationPlan[] = [];
  const stale: StaleHold[] = [];
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
        datasets.push(planDataset(c.config, input, newName, nowSec, replications, stale));
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
      }
    }
  }

  const destroys: DestroyAction[] = datasets
    .filter((d) => d.destroy.length > 0 && !d.error)
    .map((d) => ({ kind: 'destroy', dataset: d.dataset, snapshots: d.destroy, argvs: destroyCommands(d.dataset, d.destroy, input.caps) }));

  replications.sort((a, b) => (a.dataset < b.dataset ? -1 : a.dataset > b.dataset ? 1 : 0));
  orderNestedSeeds(replications);
  // Holds on datasets that zback no longer manages (configuration removed, or snapshot=no).
  const known = new Set(input.configs.filter((c) => c.kind !== 'ignored').map((c) => c.dataset));
  for (const h of input.holds ?? []) {
    if (h.role === 'source' && !known.has(h.dataset)) stale.push({ ...h, why: 'the dataset is no longer managed by zback' });
  }
  return { now: input.now, zone: input.calendar.zone, datasets, snapshots, destroys, replications, staleHolds: stale, ignored };
}

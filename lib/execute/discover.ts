/**
 * Discovery: a constant number of zfs commands per host, whatever the number of datasets.
 * Local: version, configuration, inventory. Each destination host: version, dataset list,
 * inventory of the targets that exist.
 */
import { errorMessage } from '../errors.js';
import { buildPlan, topmost, type PlanHistory, type ReseedRequest } from '../plan/planner.js';
import type { CopyMark } from '../plan/actions.js';
import { readRunState, type RunState } from '../state/run-state.js';
import type { Calendar } from '../policy/calendar.js';
import type { NameFormat } from '../policy/snapshot-names.js';
import type { TickCache } from '../policy/schedule.js';
import { HoldLedger, type HoldRecord } from '../state/holds.js';
import type { DestinationState } from '../plan/replication.js';
import { destinationHostLabel, type Destination } from '../policy/destinations.js';
import { propertyList, resolveConfigs, type ConfigResult, type PropertyNames } from '../policy/properties.js';
import type { HostPool } from '../transport/pool.js';
import { Zfs } from '../zfs/client.js';
import type { Inventory } from '../zfs/parse.js';
import type { ResumeTokenInfo } from '../zfs/resume-token.js';
import { poolOf } from '../zfs/dataset-names.js';
import { isStreamFlag, type PoolFeatures } from '../zfs/capabilities.js';

export interface LocalDiscovery {
  configs: ConfigResult[];
  inventory: Inventory;
  /**
   * Datasets that are here: every filesystem and volume when a dataset zback recorded is not among
   * the configured ones (it tells one that is gone from one that is no longer managed); otherwise
   * the configured ones, which are all that is asked about.
   */
  datasets: Set<string>;
  /** The features of the managed datasets' pools (OpenZFS; one `zpool get`), for the stream options. */
  features: PoolFeatures;
}

/**
 * `held`: datasets zback recorded holds on; those that still exist are read too, so a hold on a
 * dataset that is no longer managed can be checked and released. `managedBefore`: the datasets
 * the last run managed.
 */
export async function discoverLocal(
  zfs: Zfs,
  names: PropertyNames,
  held: Iterable<string> = [],
  managedBefore: Iterable<string> = [],
): Promise<LocalDiscovery> {
  const { rows, unreadable } = await zfs.config(propertyList(names));
  const configs = resolveConfigs(rows, names, unreadable);
  // Every dataset with a zback property is here. The list of all of them (one more zfs command) is
  // read only when a recorded one is not configured now: in a steady state, never.
  const configured = new Set(configs.map((c) => c.dataset));
  const recorded = [...held, ...managedBefore];
  const datasets = recorded.some((d) => !configured.has(d)) ? new Set(await zfs.listDatasets()) : configured;
  const roots = topmost([...configs.filter((c) => c.kind !== 'ignored').map((c) => c.dataset), ...[...held].filter((d) => datasets.has(d))]);
  // (On OpenZFS with its bookmarks: the safety net of the sends, SPEC §11.)
  const inventory = await zfs.inventory(roots, false, zfs.caps.openzfs);
  const replicated = configs.filter((c) => c.kind === 'managed' && c.config.destinations.length > 0).map((c) => c.dataset);
  await zfs.readMissingEncryption(inventory, replicated);
  // Only where something is replicated, and only on OpenZFS (an old ZFS has pool versions, no features).
  const features = await zfs.poolFeatures(replicated.map(poolOf));
  return { configs, inventory, datasets, features };
}

/** What earlier runs left in the state directory that planning needs. */
export function readHistory(stateDir: string): { holds: HoldRecord[]; history: PlanHistory } {
  return { holds: HoldLedger.load(stateDir).all(), history: historyOf(readRunState(stateDir)) };
}

/** The datasets the recorded run managed, and the last snapshot each destination was known to have. */
export function historyOf(state: RunState): PlanHistory {
  const replicated: PlanHistory['replicated'][number][] = [];
  for (const [dataset, d] of Object.entries(state.datasets)) {
    for (const [replication, r] of Object.entries(d.destinations ?? {})) {
      for (const snapshot of [...(r.lastReplicated ? [r.lastReplicated] : []), ...(r.mayHave ?? [])]) replicated.push({ dataset, replication, snapshot });
    }
  }
  const streams: NonNullable<PlanHistory['streams']>[number][] = [];
  for (const [dataset, d] of Object.entries(state.datasets))
    for (const [replication, r] of Object.entries(d.destinations ?? {}))
      if (r.stream !== undefined) streams.push({ dataset, replication, flags: r.stream.split(' ').filter(isStreamFlag) });
  return { managed: Object.keys(state.datasets), replicated, streams };
}

/** Every destination host the managed datasets name, with the targets on it. */
export function destinationTargets(configs: readonly ConfigResult[]) {
  const hosts = new Map<string, { destination: Destination; targets: Set<string> }>();
  for (const c of configs) {
    if (c.kind !== 'managed') continue;
    for (const d of c.config.destinations) {
      const label = destinationHostLabel(d);
      const entry = hosts.get(label) ?? { destination: d, targets: new Set<string>() };
      entry.targets.add(d.datasetPath);
      hosts.set(label, entry);
    }
  }
  return hosts;
}

export interface DestinationDiscovery {
  states: Map<string, DestinationState>;
  zfs: Map<string, Zfs>;
}

/** Connect to every destination host (in parallel) and read what is there. */
export async function discoverDestinations(configs: readonly ConfigResult[], pool: HostPool): Promise<DestinationDiscovery> {
  const states = new Map<string, DestinationState>();
  const clients = new Map<string, Zfs>();
  await Promise.all(
    [...destinationTargets(configs)].map(async ([label, { destination, targets }]) => {
      try {
        const zfs = await Zfs.detect(await pool.get(destination));
        const datasets = new Set(await zfs.listDatasets());
        const inventory = await zfs.inventory(topmost([...targets].filter((t) => datasets.has(t))));
        const features = await zfs.poolFeatures([...targets].map(poolOf).filter((p) => datasets.has(p)));
        states.set(label, { label, reachable: true, caps: zfs.caps, datasets, inventory, features, ...(zfs.sink ? { sink: zfs.sink } : {}) });
        clients.set(label, zfs);
      } catch (e) {
        states.set(label, { label, reachable: false, error: errorMessage(e) });
      }
    }),
  );
  return { states, zfs: clients };
}

/**
 * Every resume token a destination reports, decoded by this machine's ZFS (`zfs send -nvt`), so
 * the planner can check what it names before anything is sent with it (SPEC §10). One local
 * command per token; there are none unless a receive was interrupted.
 */
export async function decodeResumeTokens(zfs: Zfs, states: Map<string, DestinationState>): Promise<void> {
  for (const [label, s] of states) {
    if (!s.reachable) continue;
    const decoded = new Map<string, ResumeTokenInfo | null>();
    for (const [target, info] of s.inventory) {
      if (!info.resumeToken) continue;
      // A token that cannot be decoded is one that cannot be checked: the planner refuses it.
      decoded.set(target, await zfs.decodeResumeToken(info.resumeToken).catch(() => null));
    }
    if (decoded.size) states.set(label, { ...s, decodedTokens: decoded });
  }
}

export interface DiscoverAndPlanOptions {
  properties: PropertyNames;
  now: number;
  calendar: Calendar;
  format: NameFormat;
  stateDir: string;
  /** Ask the destination hosts (a run, or status --remote). */
  destinations: boolean;
  ticks?: TickCache;
  /** Destinations to seed afresh although they were seeded before (run --reseed). */
  reseed?: readonly ReseedRequest[];
  /** How seeded copies are marked. */
  copyMark?: CopyMark;
}

/** Discovery on this machine (and the destinations), then the plan: what run and status share. */
export async function discoverAndPlan(zfs: Zfs, pool: HostPool, o: DiscoverAndPlanOptions) {
  const { holds, history } = readHistory(o.stateDir);
  const local = await discoverLocal(zfs, o.properties, new Set(holds.filter((h) => h.role === 'source').map((h) => h.dataset)), history.managed);
  const remote = o.destinations ? await discoverDestinations(local.configs, pool) : null;
  if (remote) await decodeResumeTokens(zfs, remote.states);
  const plan = buildPlan({
    configs: local.configs,
    inventory: local.inventory,
    caps: zfs.caps,
    now: o.now,
    calendar: o.calendar,
    names: o.format,
    ...(remote ? { destinations: remote.states } : {}),
    holds,
    history,
    localDatasets: local.datasets,
    localFeatures: local.features,
    ...(o.reseed ? { reseed: o.reseed } : {}),
    ...(o.copyMark ? { copyMark: o.copyMark } : {}),
    ...(o.ticks ? { ticks: o.ticks } : {}),
  });
  return { ...local, remote, plan, holds, history };
}

/**
 * Turns the rows of one `zfs get -s local,inherited,received` over every dataset into each
 * dataset's zback configuration (SPEC §1).
 *
 * Only `local` values and values `inherited from` a local value count. A `received` value — a
 * replicated copy's configuration on a backup host — never does, nor does anything inherited from
 * one: such a dataset is a copy that the backup host must not snapshot, prune or replicate by
 * itself. A dataset that carries received zback values is left alone unless an operator set
 * `snapshot` locally on that very dataset.
 */
import { ConfigError, InvalidValue } from '../errors.js';
import type { PropertyRow } from '../zfs/parse.js';
import { isSameOrBelow } from '../zfs/dataset-names.js';
import { destinationPathFor, parseDestinations, type Destination } from './destinations.js';
import { finestUnit, parseRetention, type Retention } from './retention.js';
import { parseSchedule, presetForUnit, type Schedule } from './schedule.js';

export const DEFAULT_PREFIX = 'org.wit';

export interface PropertyNames {
  snapshot: string;
  retention: string;
  destinations: string;
  schedule: string;
  /** Set by zback on a destination it seeded: that copy is never managed by the host it lives on. */
  replicaOf: string;
  /** Set by zback on a copy it seeded: the destination's retention, which `zback prune` applies there. */
  replicaRetention: string;
  /** Set by zback on a copy it seeded: the destination's schedule and zone, by which `zback status --replicas` there judges it stale. */
  replicaSchedule: string;
}

/** Validates a user-property prefix (the part before ":"). */
export function validatePrefix(prefix: string): string {
  if (!/^[a-z0-9][a-z0-9._-]*$/.test(prefix)) {
    throw new InvalidValue(
      `property prefix ${JSON.stringify(prefix)} is invalid: ZFS user properties need a lowercase prefix of letters, digits, ".", "-", "_" (for example org.wit)`,
    );
  }
  return prefix;
}

export function propertyNames(prefix: string = DEFAULT_PREFIX): PropertyNames {
  validatePrefix(prefix);
  return {
    snapshot: `${prefix}:snapshot`,
    retention: `${prefix}:retention`,
    destinations: `${prefix}:destinations`,
    schedule: `${prefix}:schedule`,
    replicaOf: `${prefix}:replica-of`,
    replicaRetention: `${prefix}:replica-retention`,
    replicaSchedule: `${prefix}:replica-schedule`,
  };
}

export function propertyList(p: PropertyNames): string[] {
  return [p.snapshot, p.retention, p.destinations, p.schedule, p.replicaOf];
}

/** Where a value comes from: the dataset that sets it locally. */
export interface Sourced<T> {
  value: T;
  /** The dataset where it is set (the dataset itself, or the ancestor it inherits from). */
  origin: string;
  raw: string;
}

export interface DestinationConfig extends Destination {
  /** Destination path for this dataset (child paths mapped under the inherited path). */
  datasetPath: string;
  origin: string;
}

export interface DatasetConfig {
  dataset: string;
  retention: Sourced<Retention>;
  schedule: Schedule;
  /** Whether the schedule was set or derived from the retention. */
  scheduleOrigin: string | null;
  destinations: DestinationConfig[];
  /** The dataset whose local `snapshot=yes` makes this one managed: datasets sharing it snapshot together. */
  group: string;
}

export type ConfigResult =
  | { kind: 'managed'; dataset: string; config: DatasetConfig }
  | { kind: 'error'; dataset: string; error: ConfigError }
  | { kind: 'ignored'; dataset: string; why: string };

interface RawValue {
  value: string;
  source: string;
}

type Effective = { value: string; origin: string } | { received: true; origin: string } | null;

function effective(rows: Map<string, Map<string, RawValue>>, dataset: string, property: string): Effective {
  const v = rows.get(dataset)?.get(property);
  if (!v) return null;
  if (v.source === 'local') return { value: v.value, origin: dataset };
  if (v.source === 'received') return { received: true, origin: dataset };
  const m = /^inherited from (.+)$/.exec(v.source);
  if (m) {
    const from = m[1]!;
    const there = rows.get(from)?.get(property);
    // Follow to the holder; its own row says whether it is local or received.
    if (!there) return { value: v.value, origin: from };
    if (there.source === 'received') return { received: true, origin: from };
    if (there.source === 'local') return { value: there.value, origin: from };
    return effective(rows, from, property);
  }
  return null;
}

/**
 * Resolve every dataset that has any zback property into a configuration, an error, or a reason
 * to ignore it. Datasets with no zback property at all do not appear.
 */
export function resolveConfigs(
  propertyRows: readonly PropertyRow[],
  names: PropertyNames,
  /** Datasets whose rows could not be read unambiguously (see crossCheckRows). */
  unreadable: ReadonlySet<string> = new Set(),
): ConfigResult[] {
  const rows = new Map<string, Map<string, RawValue>>();
  for (const r of propertyRows) {
    if (r.name.includes('@')) continue; // snapshots inherit user properties too; they are not datasets
    let m = rows.get(r.name);
    if (!m) rows.set(r.name, (m = new Map()));
    m.set(r.property, { value: r.value, source: r.source });
  }
  const all = propertyList(names);
  const look = (dataset: string) => `look with: zfs get -H -o name,property,value,source ${all.join(',')} ${dataset}`;
  const out: ConfigResult[] = [];
  const unread = [...unreadable].filter((d) => !d.includes('@')).sort();
  for (const dataset of unread) {
    const problem =
      'one of its property values (set here or inherited) contains a line break that makes the output of `zfs get` ambiguous, ' +
      `so zback trusts none of it; ${look(dataset)}`;
    out.push({ kind: 'error', dataset, error: ConfigError.unreadable(dataset, problem) });
  }
  for (const dataset of [...rows.keys()].sort()) {
    if (unreadable.has(dataset)) continue;
    // Below an unreadable dataset, its rows cannot say what is inherited (nor whether from a local
    // or a received value): no value here can be trusted to manage, nor its absence to ignore.
    const above = unread.filter((u) => isSameOrBelow(dataset, u)).pop(); // the nearest (sorted)
    if (above !== undefined) {
      const problem = `its ancestor ${above}'s zback properties could not be read unambiguously, so zback cannot tell what it inherits; ${look(above)}`;
      out.push({ kind: 'error', dataset, error: ConfigError.unreadable(dataset, problem) });
      continue;
    }
    const eff = new Map(all.map((p) => [p, effective(rows, dataset, p)] as const));
    const snap = eff.get(names.snapshot) ?? null;
    const receivedFrom = [...eff.values()].find((e) => e !== null && 'received' in e);
    const snapshotSetHere = snap !== null && 'value' in snap && snap.origin === dataset;

    if (receivedFrom && !snapshotSetHere) {
      out.push({ kind: 'ignored', dataset, why: `replicated copy: its zback properties were received (from ${receivedFrom.origin})` });
      continue;
    }
    const replica = eff.get(names.replicaOf) ?? null;
    if (replica !== null && 'value' in replica && !snapshotSetHere) {
      out.push({ kind: 'ignored', dataset, why: `replicated copy made by zback (${names.replicaOf}=${replica.value})` });
      continue;
    }
    if (snap === null || !('value' in snap)) {
      out.push({ kind: 'ignored', dataset, why: `${names.snapshot} is not set` });
      continue;
    }
    const fail = (property: string, e: Effective & { value: string }, problem: string): void => {
      out.push({ kind: 'error', dataset, error: new ConfigError(dataset, property, e.value, problem, e.origin) });
    };
    const sv = snap.value.trim().toLowerCase();
    if (sv === 'no' || sv === 'off') {
      out.push({ kind: 'ignored', dataset, why: `${names.snapshot}=no${snap.origin !== dataset ? ` (inherited from ${snap.origin})` : ''}` });
      continue;
    }
    if (sv !== 'yes' && sv !== 'on') {
      fail(names.snapshot, snap, 'expected yes or no');
      continue;
    }

    const ret = eff.get(names.retention) ?? null;
    if (ret === null || !('value' in ret)) {
      out.push({
        kind: 'error',
        dataset,
        error: new ConfigError(dataset, names.retention, '', `${names.snapshot}=yes needs a retention such as 24h30d0w3m`),
      });
      continue;
    }
    let retention: Retention;
    try {
      retention = parseRetention(ret.value);
    } catch (e) {
      fail(names.retention, ret, (e as InvalidValue).message);
      continue;
    }

    const sch = eff.get(names.schedule) ?? null;
    let schedule = presetForUnit(finestUnit(retention));
    let scheduleOrigin: string | null = null;
    if (sch !== null && 'value' in sch && sch.value.trim() !== '') {
      try {
        schedule = parseSchedule(sch.value);
        scheduleOrigin = sch.origin;
      } catch (e) {
        fail(names.schedule, sch, (e as InvalidValue).message);
        continue;
      }
    }

    const dst = eff.get(names.destinations) ?? null;
    const destinations: DestinationConfig[] = [];
    if (dst !== null && 'value' in dst) {
      try {
        for (const d of parseDestinations(dst.value)) {
          const datasetPath = destinationPathFor(d, dst.origin, dataset);
          if (datasetPath.length > 255) throw new InvalidValue(`destination path ${datasetPath} for this dataset is longer than 255 characters`);
          destinations.push({ ...d, datasetPath, origin: dst.origin });
        }
      } catch (e) {
        fail(names.destinations, dst, (e as InvalidValue).message);
        continue;
      }
    }

    out.push({
      kind: 'managed',
      dataset,
      config: {
        dataset,
        retention: { value: retention, origin: ret.origin, raw: ret.value },
        schedule,
        scheduleOrigin,
        destinations,
        group: snap.origin,
      },
    });
  }
  return out;
}

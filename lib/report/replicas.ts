/**
 * `zback status --replicas` (SPEC §12): the backup host's own view. Every copy zback seeded here
 * carries `replica-of` ("<source host>:<dataset>"), its retention and, since copies record it, its
 * schedule and zone. From those marks and the copies' snapshots this tells, per source host, which
 * copies are current and which have stopped getting snapshots — without asking any source.
 *
 * A copy with a schedule mark is stale as `zback status` judges a replication: overdue from the
 * first tick after its newest snapshot, by more than --warn-after / --crit-after. A copy without
 * one (seeded by an older zback, or through an older sink) can only be judged by age: critical
 * when its newest snapshot is older than --crit-after.
 */
import { parseScheduleMark } from '../plan/copy-mark.js';
import { validateTimeZone } from '../policy/calendar.js';
import type { PropertyNames } from '../policy/properties.js';
import type { NameFormat } from '../policy/snapshot-names.js';
import { mostRecentTick, nextTick } from '../policy/schedule.js';
import { datasetNameProblem } from '../zfs/dataset-names.js';
import type { Inventory } from '../zfs/parse.js';
import { overdueProblem, type Level, type Problem, type Thresholds } from './status.js';

export const REPLICAS_SCHEMA = 'zback.replicas/1';

export interface ReplicaStatus {
  /** The copy here. */
  copy: string;
  /** The source host and dataset, from replica-of. */
  source: string;
  dataset: string;
  retention: string | null;
  /** The schedule as the source wrote it, and the zone it ticks in; null when the copy does not record one. */
  schedule: string | null;
  /** The dataset's snapshot schedule where it differs from the destination's (both must tick for a new snapshot to arrive). */
  snapshotSchedule: string | null;
  zone: string | null;
  snapshots: number;
  newest: { name: string; time: string; ageSeconds: number } | null;
  usedBytes: number | null;
  problems: Problem[];
}

export interface ReplicasReport {
  schema: typeof REPLICAS_SCHEMA;
  generated: string;
  /** This (backup) host. */
  host: string;
  sources: { source: string; copies: ReplicaStatus[] }[];
  summary: { sources: number; copies: number; warnings: number; criticals: number; status: Level };
}

export interface ReplicasInput {
  /** `zfs get -s local` rows of the copy marks, every dataset here. */
  marks: ReadonlyArray<{ name: string; property: string; value: string }>;
  /** The copies' snapshots, with their creation times. */
  inventory: Inventory;
  used: ReadonlyMap<string, number>;
  /** Datasets whose marks the two readings disagree on (a value with a line break): shown, never trusted. */
  unreadable?: Iterable<string>;
  names: PropertyNames;
  /** zback's snapshot names: a snapshot's time is the one its name carries (as on the source), else its creation here. */
  format: NameFormat;
  now: number;
  thresholds: Thresholds;
  host: string;
}

function human(ms: number): string {
  const mins = Math.round(ms / 60_000);
  return mins >= 48 * 60 ? `${Math.round(mins / 1440)} d` : mins >= 120 ? `${Math.round(mins / 60)} h` : `${mins} min`;
}

/** The copies the marks name (a dataset whose replica-of is "<host>:<dataset>"), grouped by source host. */
export function buildReplicas(input: ReplicasInput): ReplicasReport {
  const byCopy = new Map<string, Map<string, string>>();
  for (const r of input.marks) {
    const props = byCopy.get(r.name) ?? new Map<string, string>();
    props.set(r.property, r.value);
    byCopy.set(r.name, props);
  }
  const copies: ReplicaStatus[] = [];
  for (const [copy, props] of byCopy) {
    const of = props.get(input.names.replicaOf);
    if (of === undefined) continue; // only a retention or schedule mark: not a copy zback seeded
    const colon = of.indexOf(':');
    const source = colon > 0 ? of.slice(0, colon) : '(unknown)';
    const dataset = colon > 0 ? of.slice(colon + 1) : of;
    const problems: Problem[] = [];
    let schedule: ReturnType<typeof parseScheduleMark> | null = null;
    const scheduleText = props.get(input.names.replicaSchedule);
    if (scheduleText !== undefined) {
      try {
        schedule = parseScheduleMark(scheduleText);
        validateTimeZone(schedule.zone);
      } catch (e) {
        schedule = null;
        problems.push({
          level: 'warning',
          message: `its ${input.names.replicaSchedule} (${JSON.stringify(scheduleText)}) cannot be read: ${(e as Error).message}`,
        });
      }
    }
    const snaps = input.inventory.get(copy)?.snapshots ?? [];
    // The newest snapshot zback named (one made by hand on the backup host must not make a copy
    // that gets nothing any more look current); any snapshot where none has a zback name.
    const named = snaps.filter((s) => input.format.parse(s.name) !== null);
    const last = named[named.length - 1] ?? snaps[snaps.length - 1];
    const newestMs = last ? (input.format.parse(last.name) ?? (last.creation !== undefined ? last.creation * 1000 : null)) : null;
    if (!last) problems.push({ level: 'critical', message: 'the copy has no snapshot' });
    else if (newestMs !== null && schedule) {
      // A copy gets its next snapshot at the first tick of the destination's schedule at or after
      // the first tick of the dataset's snapshot schedule (where it records one that differs).
      const made = schedule.snapshots ? nextTick(schedule.snapshots, newestMs, schedule.zone) : newestMs;
      const due = schedule.snapshots
        ? mostRecentTick(schedule.schedule, made, schedule.zone) === made
          ? made
          : nextTick(schedule.schedule, made, schedule.zone)
        : nextTick(schedule.schedule, newestMs, schedule.zone);
      const p = input.now > due ? overdueProblem(`the next snapshot from ${source}`, input.now - due, input.thresholds) : null;
      const cadence = schedule.snapshots ? `schedule ${schedule.schedule.text}, snapshots ${schedule.snapshots.text}` : `schedule ${schedule.schedule.text}`;
      if (p) problems.push({ ...p, message: `stale: ${p.message} (${cadence} in ${schedule.zone})` });
    } else if (newestMs !== null && input.now - newestMs > input.thresholds.critMs) {
      problems.push({
        level: 'critical',
        message: `silent: no snapshot has come from ${source} for ${human(input.now - newestMs)} (--crit-after ${human(input.thresholds.critMs)}; the copy records no schedule)`,
      });
    }
    copies.push({
      copy,
      source,
      dataset,
      retention: props.get(input.names.replicaRetention) ?? null,
      schedule: schedule?.schedule.text ?? null,
      snapshotSchedule: schedule?.snapshots?.text ?? null,
      zone: schedule?.zone ?? null,
      snapshots: snaps.length,
      newest:
        last && newestMs !== null
          ? { name: last.name, time: new Date(newestMs).toISOString(), ageSeconds: Math.max(0, Math.round((input.now - newestMs) / 1000)) }
          : null,
      usedBytes: input.used.get(copy) ?? null,
      problems,
    });
  }
  for (const copy of input.unreadable ?? []) {
    if (copy.includes('@') || datasetNameProblem(copy) !== null) continue;
    copies.push({
      copy,
      source: '(marks unreadable)',
      dataset: '-',
      retention: null,
      schedule: null,
      snapshotSchedule: null,
      zone: null,
      snapshots: input.inventory.get(copy)?.snapshots.length ?? 0,
      newest: null,
      usedBytes: input.used.get(copy) ?? null,
      problems: [{ level: 'warning', message: `its zback marks cannot be read unambiguously (a value with a line break in it): zfs get -s local all ${copy}` }],
    });
  }
  copies.sort((a, b) => (a.source === b.source ? (a.copy < b.copy ? -1 : 1) : a.source < b.source ? -1 : 1));
  const sources = new Map<string, ReplicaStatus[]>();
  for (const c of copies) {
    if (!sources.has(c.source)) sources.set(c.source, []);
    sources.get(c.source)!.push(c);
  }
  const all = copies.flatMap((c) => c.problems);
  const criticals = all.filter((p) => p.level === 'critical').length;
  const warnings = all.length - criticals;
  return {
    schema: REPLICAS_SCHEMA,
    generated: new Date(input.now).toISOString(),
    host: input.host,
    sources: [...sources].map(([source, list]) => ({ source, copies: list })),
    summary: { sources: sources.size, copies: copies.length, warnings, criticals, status: criticals ? 'critical' : warnings ? 'warning' : 'ok' },
  };
}

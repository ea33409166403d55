/**
 * `zback status`: what each dataset's policy is, how fresh its snapshots are, when the next one is
 * due, and per destination what was last replicated and how far behind it is — with the problems
 * a monitoring system should see. Pure: local inventory, configuration, recorded run state (and,
 * with --remote, a live plan) in; a report out. The JSON form is a stable, documented schema.
 */
import { destinationHostLabel } from '../policy/destinations.js';
import type { ConfigResult } from '../policy/properties.js';
import type { Calendar } from '../policy/calendar.js';
import { TrustedNames, type NameFormat } from '../policy/snapshot-names.js';
import { formatRetention } from '../policy/retention.js';
import { isDue, nextTick, type TickCache } from '../policy/schedule.js';
import { replicationKey } from '../plan/planner.js';
import { isBroken } from '../plan/replication.js';
import type { ReplicationPlan } from '../plan/types.js';
import type { RunState } from '../state/run-state.js';
import type { Inventory } from '../zfs/parse.js';
import { destinationBookmarks } from '../plan/bookmarks.js';

export const STATUS_SCHEMA = 'zback.status/1';

export type Level = 'ok' | 'warning' | 'critical';

export interface Problem {
  level: Exclude<Level, 'ok'>;
  message: string;
}

export interface DestinationStatus {
  /** "host:target" or the local target. */
  destination: string;
  /** As written in the property. */
  text: string;
  schedule: string;
  /** The last run's result for it (sent, up-to-date, not-due, failed, diverged, unreachable, error, resume), or null. */
  result: string | null;
  lastReplicated: string | null;
  lastReplicatedTime: string | null;
  /** now − the time of the last replicated snapshot. */
  lagSeconds: number | null;
  lastSuccess: string | null;
  error: string | null;
  /**
   * zback's newest bookmark for this destination here (OpenZFS, SPEC §11): `snapshot` is the one it
   * marks; `snapshotGone`: that snapshot was destroyed here, and the next send starts from the bookmark.
   */
  bookmark: { name: string; snapshot: string; snapshotGone: boolean } | null;
  /** The stream options the copy was seeded with and keeps ("-L -e -c"; "" for a plain stream), as the runs recorded; null: not recorded. */
  stream: string | null;
  problems: Problem[];
}

export interface DatasetStatus {
  dataset: string;
  managed: boolean;
  /** Managed by earlier runs and not there now (pool not imported, renamed, destroyed). */
  missing?: boolean;
  error: string | null;
  retention: string | null;
  schedule: string | null;
  snapshots: { zback: number; foreign: number };
  newest: { name: string; time: string; ageSeconds: number } | null;
  /** ISO time of the next snapshot, or "now" when one is due. */
  nextDue: string | null;
  lastRun: { time: string; ok: boolean; errors: string[] } | null;
  destinations: DestinationStatus[];
  problems: Problem[];
}

export interface StatusReport {
  schema: typeof STATUS_SCHEMA;
  generated: string;
  zone: string;
  stateDir: string;
  remote: boolean;
  lastRun: { started: string; finished: string; exitCode: number; host: string; interrupted?: string } | null;
  /** Problems of the run as a whole (an interrupted last run). */
  problems: Problem[];
  datasets: DatasetStatus[];
  summary: { datasets: number; warnings: number; criticals: number; status: Level };
}

export interface Thresholds {
  /** How long overdue (a snapshot, a replication) before a warning / critical. */
  warnMs: number;
  critMs: number;
}

/** zback status' defaults (--warn-after 2h, --crit-after 1d): what a run's metrics count problems by. */
export const DEFAULT_THRESHOLDS: Thresholds = { warnMs: 2 * 3_600_000, critMs: 24 * 3_600_000 };

export interface StatusInput {
  configs: readonly ConfigResult[];
  inventory: Inventory;
  state: RunState;
  stateDir: string;
  now: number;
  calendar: Calendar;
  names: NameFormat;
  thresholds: Thresholds;
  ticks?: TickCache;
  /** Live replication plans (--remote): they override the recorded state. */
  live?: readonly ReplicationPlan[];
  /** zback's own files that are corrupt (state.json, holds.json): critical. */
  fileProblems?: readonly string[];
  /** Managed datasets that are gone (from the plan: the state remembers them), with the message. */
  missing?: ReadonlyArray<{ dataset: string; error?: string }>;
}

export function overdueProblem(what: string, overdueMs: number, t: Thresholds): Problem | null {
  const mins = Math.round(overdueMs / 60_000);
  const human = mins >= 120 ? `${Math.round(mins / 60)} h` : `${mins} min`;
  if (overdueMs > t.critMs) return { level: 'critical', message: `${what} is overdue by ${human}` };
  if (overdueMs > t.warnMs) return { level: 'warning', message: `${what} is overdue by ${human}` };
  return null;
}

/** A dataset's line with nothing known yet but what the last run recorded. */
function emptyStatus(dataset: string, managed: boolean, state: RunState): DatasetStatus {
  const recorded = state.datasets[dataset];
  return {
    dataset,
    managed,
    error: null,
    retention: null,
    schedule: null,
    snapshots: { zback: 0, foreign: 0 },
    newest: null,
    nextDue: null,
    lastRun: recorded ? { time: recorded.lastRun, ok: recorded.ok, errors: recorded.errors } : null,
    destinations: [],
    problems: [],
  };
}

export function buildStatus(input: StatusInput): StatusReport {
  const { now, calendar } = input;
  const names = new TrustedNames(input.names, now);
  const datasets: DatasetStatus[] = [];
  for (const c of input.configs) {
    if (c.kind === 'ignored') continue;
    const recorded = input.state.datasets[c.dataset];
    const base = emptyStatus(c.dataset, c.kind === 'managed', input.state);
    if (c.kind === 'error') {
      base.error = c.error.message;
      base.problems.push({ level: 'critical', message: c.error.message });
      datasets.push(base);
      continue;
    }
    const config = c.config;
    base.retention = formatRetention(config.retention.value);
    base.schedule = config.schedule.text;
    const info = input.inventory.get(c.dataset);
    let latest: number | null = null;
    let newestName = '';
    const future: string[] = [];
    for (const s of info?.snapshots ?? []) {
      const t = names.parse(s.name);
      if (names.isFuture(s.name)) future.push(s.name);
      else if (t === null) base.snapshots.foreign++;
      else {
        base.snapshots.zback++;
        if (latest === null || t > latest) [latest, newestName] = [t, s.name];
      }
    }
    if (future.length) {
      base.problems.push({
        level: 'critical',
        message: `dated after the clock: ${future.map((n) => `@${n}`).join(', ')} (ignored for due and retention, never destroyed; rename or destroy by hand, or fix the clock)`,
      });
    }
    if (latest !== null) base.newest = { name: newestName, time: new Date(latest).toISOString(), ageSeconds: Math.round((now - latest) / 1000) };
    const due = isDue(config.schedule, latest, now, calendar.zone, input.ticks);
    base.nextDue = due.due ? 'now' : new Date(due.next).toISOString();
    if (due.due) {
      // Overdue since the first tick after the newest snapshot (not since the latest tick).
      const since = latest === null ? due.tick : nextTick(config.schedule, latest, calendar.zone);
      const p = overdueProblem('the next snapshot', now - since, input.thresholds);
      if (p) base.problems.push(p);
    }
    if (recorded && !recorded.ok) base.problems.push({ level: 'critical', message: `the last run failed: ${recorded.errors[0] ?? 'see the log'}` });
    // What the last run kept although the rules let it go (a snapshot with dependent clones): not a
    // failure that should mail from cron on every run, but monitoring hears of it.
    for (const note of recorded?.notes ?? []) base.problems.push({ level: 'warning', message: note });

    for (const d of config.destinations) {
      const key = replicationKey({ hostLabel: destinationHostLabel(d), target: d.datasetPath });
      const rec = recorded?.destinations[key];
      const live = input.live?.find((r) => r.dataset === c.dataset && replicationKey(r) === key);
      const ds: DestinationStatus = {
        destination: key,
        text: d.text,
        schedule: d.schedule.text,
        result: rec?.result ?? null,
        lastReplicated: rec?.lastReplicated ?? null,
        lastReplicatedTime: rec?.lastReplicatedTime ?? null,
        lagSeconds: null,
        lastSuccess: rec?.lastSuccess ?? null,
        error: rec?.error ?? null,
        bookmark: null,
        stream: rec?.stream ?? null,
        problems: [],
      };
      const ours = destinationBookmarks(destinationHostLabel(d), d.datasetPath);
      const mark = [...(info?.bookmarks ?? [])].reverse().find((b) => ours.owns(b.name));
      if (mark) {
        const snapshot = ours.snapshotOf(mark.name);
        const snapshotGone = !info!.snapshots.some((s) => s.guid === mark.guid);
        ds.bookmark = { name: mark.name, snapshot, snapshotGone };
        if (snapshotGone)
          ds.problems.push({
            level: 'warning',
            message: `its base @${snapshot} was destroyed here (not by zback); the next send starts from the bookmark #${mark.name} instead of a full resend`,
          });
      }
      if (live) {
        // What the destination says now beats what the last run recorded.
        ds.result = live.status;
        ds.error = live.message ?? null;
        const common = live.common ?? (live.baseBookmark ? live.commonOnTarget : undefined);
        if (common) {
          ds.lastReplicated = common;
          const t = names.parse(common);
          ds.lastReplicatedTime = t === null ? null : new Date(t).toISOString();
        }
      }
      if (ds.lastReplicatedTime) ds.lagSeconds = Math.round((now - Date.parse(ds.lastReplicatedTime)) / 1000);
      if (ds.result === 'failed' || isBroken({ status: ds.result })) {
        ds.problems.push({ level: 'critical', message: `${ds.result}: ${ds.error ?? 'see the log'}` });
      } else if (ds.result === 'resume') {
        ds.problems.push({ level: 'warning', message: 'an interrupted receive is pending; the next run resumes it' });
      }
      if (ds.lastReplicatedTime === null && ds.result === null) {
        ds.problems.push({ level: 'warning', message: 'not replicated yet (no run has reached it)' });
      } else if (ds.lastReplicatedTime !== null && latest !== null && latest > Date.parse(ds.lastReplicatedTime)) {
        // Something newer exists: the replication is overdue from the first tick after the last one sent.
        const dueAt = nextTick(d.schedule, Date.parse(ds.lastReplicatedTime), calendar.zone);
        const p = now > dueAt ? overdueProblem(`replication to ${key}`, now - dueAt, input.thresholds) : null;
        if (p) ds.problems.push({ ...p, message: `stale: ${p.message}` });
      }
      base.destinations.push(ds);
    }
    datasets.push(base);
  }
  for (const m of input.missing ?? []) {
    const message = m.error ?? `${m.dataset} is not there`;
    datasets.push({ ...emptyStatus(m.dataset, true, input.state), missing: true, error: message, problems: [{ level: 'critical', message }] });
  }
  datasets.sort((a, b) => (a.dataset < b.dataset ? -1 : a.dataset > b.dataset ? 1 : 0));
  // The last run was stopped by a signal: critical until a run finishes (SPEC §9).
  const run = input.state.run;
  const runProblems: Problem[] = [
    ...(run?.interrupted
      ? [{ level: 'critical' as const, message: `the last run (${run.started}) was stopped by ${run.interrupted} before it finished; the next run continues` }]
      : []),
    ...(input.fileProblems ?? []).map((message) => ({ level: 'critical' as const, message: `${message}; the next run keeps it aside and rebuilds` })),
  ];
  const all = [...runProblems, ...datasets.flatMap((d) => [...d.problems, ...d.destinations.flatMap((x) => x.problems)])];
  const criticals = all.filter((p) => p.level === 'critical').length;
  const warnings = all.filter((p) => p.level === 'warning').length;
  return {
    schema: STATUS_SCHEMA,
    generated: new Date(now).toISOString(),
    zone: calendar.zone,
    stateDir: input.stateDir,
    remote: input.live !== undefined,
    lastRun: input.state.run ?? null,
    problems: runProblems,
    datasets,
    summary: { datasets: datasets.length, warnings, criticals, status: criticals ? 'critical' : warnings ? 'warning' : 'ok' },
  };
}

/**
 * `zback status [--json] [--check] [--remote]`: read-only. Local ZFS plus the state the last run
 * recorded; destinations only with --remote (over the same pooled connection a run uses).
 */
import { hostname } from 'node:os';
import type { Plan } from '../plan/types.js';
import { replicationKey, type DestinationState } from '../plan/replication.js';
import { renderHtml, type TimelineRow } from '../report/html.js';
import { readRunHistory } from '../state/history.js';
import { writeFileAtomically } from '../state/files.js';
import type { RunState } from '../state/run-state.js';
import { discoverAndPlan } from '../execute/discover.js';
import { topmost } from '../plan/planner.js';
import { datasetNameProblem } from '../zfs/dataset-names.js';
import { buildReplicas } from '../report/replicas.js';
import { renderReplicas, renderReplicasCheck } from '../report/replicas-text.js';
import { errorMessage } from '../errors.js';
import { TickCache } from '../policy/schedule.js';
import { buildStatus, type Thresholds } from '../report/status.js';
import { renderCheck, renderStatus, CHECK_EXIT } from '../report/status-text.js';
import { readRunStateChecked } from '../state/run-state.js';
import { HoldLedger } from '../state/holds.js';
import { shellCommand } from '../transport/quote.js';
import { Zfs } from '../zfs/client.js';
import type { Context } from './context.js';
import { EXIT } from './exit-codes.js';
import type { Output } from './output.js';
import { commandHosts } from './hosts.js';

export interface StatusArgs {
  json: boolean;
  check: boolean;
  remote: boolean;
  /** The backup host's view: the copies zback seeded here (SPEC §12). */
  replicas?: boolean;
  /** Write the status as one self-contained HTML page here (absolute path). */
  html?: string;
  thresholds: Thresholds;
  sshConfig?: string;
  maxChannels: number;
  /** Deadline of every command and channel open. */
  commandTimeoutS: number;
}

export async function statusCommand(ctx: Context, args: StatusArgs, out: Output): Promise<number> {
  // On stderr: stdout is the report alone (its JSON with --json).
  const observe = ctx.verbose ? (h: string, argv: readonly string[]) => out.trace(`[${h}] ${shellCommand(argv)}`) : undefined;
  const { local, pool } = commandHosts({ ...args, acceptNewHostKeys: false, recordNewHostKeys: false }, observe);
  try {
    const zfs = await Zfs.detect(local);
    if (args.replicas) return await replicas(zfs, ctx, args, out);
    const stateRead = readRunStateChecked(ctx.stateDir); // read-only: status never moves a file
    const ticks = new TickCache();
    const { configs, inventory, plan, remote } = await discoverAndPlan(zfs, pool, { ...ctx, destinations: args.remote, ticks });
    const live = args.remote ? plan.replications : undefined;
    const report = buildStatus({
      configs,
      inventory,
      state: stateRead.state,
      fileProblems: [stateRead.problem, HoldLedger.load(ctx.stateDir).problem].filter((p): p is string => p !== undefined),
      stateDir: ctx.stateDir,
      now: ctx.now,
      calendar: ctx.calendar,
      names: ctx.format,
      thresholds: args.thresholds,
      ticks,
      ...(live ? { live } : {}),
      missing: plan.datasets.filter((d) => d.missing).map((d) => ({ dataset: d.dataset, ...(d.error ? { error: d.error } : {}) })),
    });
    if (args.html) {
      const timelines = timelinesOf(plan, stateRead.state, remote?.states ?? null, hostname());
      writeFileAtomically(args.html, renderHtml({ report, timelines, history: readRunHistory(ctx.stateDir), calendar: ctx.calendar, host: hostname() }));
      // For cron: the page alone, unless a check or the JSON is asked for too.
      if (!args.check && !args.json) return EXIT.OK;
    }
    if (args.check) {
      const { line, exitCode } = renderCheck(report);
      out.print(line + '\n');
      return exitCode;
    }
    out.print(args.json ? JSON.stringify(report, null, 2) + '\n' : renderStatus(report, ctx.calendar, { verbose: ctx.verbose }));
    return EXIT.OK;
  } catch (e) {
    if (args.check) {
      // Monitoring must see that the check itself could not run: UNKNOWN.
      out.print(`ZBACK UNKNOWN - ${errorMessage(e)}\n`);
      return CHECK_EXIT.UNKNOWN;
    }
    out.error(errorMessage(e));
    return EXIT.FAILED;
  } finally {
    await pool.closeAll();
  }
}

/**
 * Each dataset's timeline rows: its snapshots here with the retention's decisions, then each
 * destination's — all its snapshots with --remote, else only the last one the runs recorded.
 */
function timelinesOf(plan: Plan, state: RunState, live: ReadonlyMap<string, DestinationState> | null, host: string): Map<string, TimelineRow[]> {
  const rows = new Map<string, TimelineRow[]>();
  for (const d of plan.datasets) {
    if (!d.config) continue;
    rows.set(d.dataset, [{ label: `${d.dataset} (here, ${host})`, snapshots: d.decisions.filter((x) => x.name !== d.newSnapshot) }]);
  }
  for (const r of plan.replications) {
    const list = rows.get(r.dataset);
    if (!list) continue;
    const key = replicationKey(r);
    const there = live?.get(r.hostLabel);
    if (there?.reachable) {
      const present = new Set((there.inventory.get(r.target)?.snapshots ?? []).map((s) => s.name));
      list.push({ label: key, snapshots: r.targetDecisions.filter((x) => present.has(x.name)) });
    } else {
      const recorded = state.datasets[r.dataset]?.destinations?.[key];
      const time = recorded?.lastReplicatedTime ? Date.parse(recorded.lastReplicatedTime) : NaN;
      list.push({
        label: key,
        snapshots: [],
        recordedOnly: recorded?.lastReplicated && Number.isFinite(time) ? { name: recorded.lastReplicated, time } : null,
      });
    }
  }
  return rows;
}

/** `zback status --replicas`: every copy zback seeded on this (backup) host, from the copies' own marks. */
async function replicas(zfs: Zfs, ctx: Context, args: StatusArgs, out: Output): Promise<number> {
  const p = ctx.properties;
  const { rows, unreadable } = await zfs.copyMarks(null, [p.replicaOf, p.replicaRetention, p.replicaSchedule]);
  // (A name in `unreadable` may be forged by a value with a line break: only real dataset names are read further.)
  const copies = [...new Set([...rows.filter((r) => r.property === p.replicaOf).map((r) => r.name), ...unreadable])].filter(
    (n) => !n.includes('@') && datasetNameProblem(n) === null,
  );
  const [inventory, used] = await Promise.all([zfs.inventory(topmost(copies), true), zfs.used(copies)]);
  const report = buildReplicas({
    marks: rows,
    inventory,
    used,
    unreadable,
    names: p,
    format: ctx.format,
    now: ctx.now,
    thresholds: args.thresholds,
    host: hostname(),
  });
  if (args.check) {
    const { line, exitCode } = renderReplicasCheck(report);
    out.print(line + '\n');
    return exitCode;
  }
  out.print(args.json ? JSON.stringify(report, null, 2) + '\n' : renderReplicas(report, ctx.calendar));
  return EXIT.OK;
}

/**
 * `zback run [--dry-run]`: lock → discover → plan → snapshot → replicate → prune → report (SPEC §5).
 */
import { hostname } from 'node:os';
import { executePlan, type ReplicationOutcome, type RunOutcome } from '../execute/executor.js';
import { zfsPorts } from '../execute/ports.js';
import { isBroken } from '../plan/replication.js';
import { handleStopSignals, type StopHandling } from './signals.js';
import { decodeResumeTokens, discoverDestinations, discoverLocal, historyOf, type DestinationDiscovery } from '../execute/discover.js';
import { rebuildHolds } from '../execute/rebuild-holds.js';
import { bandwidthLimits } from '../execute/bandwidth.js';
import { loadHookFiles } from '../execute/hook-files.js';
import { isSameOrBelow } from '../zfs/dataset-names.js';
import { followRenames } from '../state/renames.js';
import { buildPlan, topmost } from '../plan/planner.js';
import { destinationHostLabel } from '../policy/destinations.js';
import type { ConfigResult } from '../policy/properties.js';
import type { Inventory } from '../zfs/parse.js';
import { actionCommand } from '../report/plan-text.js';
import { keyIdentity } from '../plan/identity.js';
import type { ReseedRequest } from '../plan/planner.js';
import { applyRefusals, checkPlan } from '../safety/interlock.js';
import { recordRun } from '../execute/record.js';
import { progressReporter } from '../report/progress.js';
import { HoldLedger } from '../state/holds.js';
import { readRunState, readRunStateChecked, writeRunState } from '../state/run-state.js';
import { appendRunHistory, historyEntry } from '../state/history.js';
import { writeFileAtomically } from '../state/files.js';
import { buildStatus, DEFAULT_THRESHOLDS } from '../report/status.js';
import { renderMetrics } from '../report/metrics.js';
import { errorMessage } from '../errors.js';
import { replicationKey } from '../plan/planner.js';
import type { Plan } from '../plan/types.js';
import { failureLine } from '../report/failures.js';
import { renderPlan } from '../report/plan-text.js';
import { capabilityLines } from '../report/capability-text.js';
import { style } from '../report/style.js';
import { LockBusy, RunLock } from '../state/lock.js';
import { shellCommand } from '../transport/quote.js';
import { Zfs } from '../zfs/client.js';
import type { Context } from './context.js';
import { EXIT } from './exit-codes.js';
import type { Output } from './output.js';
import { commandHosts } from './hosts.js';

export interface RunArgs {
  dryRun: boolean;
  sshConfig?: string;
  maxChannels: number;
  acceptNewHostKeys: boolean;
  idleTimeoutS: number;
  /** Deadline of every non-streaming command and channel open (SPEC §9). */
  commandTimeoutS: number;
  /** Destinations to seed afresh although they were seeded before. */
  reseed?: ReseedRequest[];
  /** --bwlimit: bytes per second for all the run's streams together (null: no limit). */
  bwlimit: number | null;
  /** Root's snapshot hooks (--hooks-dir); `given`: named on the command line, so it must exist. */
  hooksDir: { path: string; given: boolean };
  /** --metrics-file: the run's outcome for node_exporter's textfile collector (absolute path). */
  metricsFile?: string;
}

/** A --reseed destination names this replication: the same key, or the same destination spelled otherwise. */
function sameReplication(key: string, asked: string): boolean {
  return keyIdentity(key) === keyIdentity(asked);
}

/** Whether a --reseed request names a configured destination of a managed dataset (any spelling). */
function hasDestination(configs: readonly ConfigResult[], q: ReseedRequest): boolean {
  const c = configs.find((x) => x.dataset === q.dataset);
  return (
    c?.kind === 'managed' &&
    c.config.destinations.some((d) => sameReplication(replicationKey({ hostLabel: destinationHostLabel(d), target: d.datasetPath }), q.destination))
  );
}

/** The snapshot phase ran before the rest of the plan: its results join the run's outcome. */
function mergeSnapshots(outcome: RunOutcome, taken: RunOutcome): void {
  for (const [dataset, o] of taken.datasets) {
    const into = outcome.datasets.get(dataset) ?? { dataset, failures: [], notes: [], destroyed: [] };
    if (o.snapshot) into.snapshot = o.snapshot;
    into.failures.unshift(...o.failures);
    outcome.datasets.set(dataset, into);
  }
  outcome.ok &&= taken.ok;
}

function reportOutcome(plan: Plan, outcome: RunOutcome, replications: ReplicationOutcome[], out: Output): void {
  for (const d of plan.datasets) {
    const o = outcome.datasets.get(d.dataset);
    if (!o) continue;
    for (const f of o.failures) out.error(failureLine(f));
    for (const n of o.notes) out.info(style.warn(`${d.dataset}: ${n}`));
    const did: string[] = [];
    if (o.snapshot) did.push(`snapshot @${o.snapshot}`);
    for (const r of replications.filter((x) => x.plan.dataset === d.dataset && x.ok && x.sent.length)) {
      did.push(`sent ${r.sent.length} to ${replicationKey(r.plan)}`);
    }
    if (o.destroyed.length) did.push(`destroyed ${o.destroyed.length} (${o.destroyed.join(', ')})`);
    if (did.length) out.info(`${d.dataset}: ${did.join('; ')}`);
  }
  const failed = [...outcome.datasets.values()].filter((o) => o.failures.length).length;
  out.info(failed ? style.error(`${failed} of ${plan.datasets.length} datasets failed.`) : `All ${plan.datasets.length} datasets done.`);
}

export async function runCommand(ctx: Context, args: RunArgs, out: Output): Promise<number> {
  const started = Date.now();
  const lock = new RunLock(ctx.stateDir);
  if (!args.dryRun) {
    try {
      await lock.acquire();
    } catch (e) {
      if (e instanceof LockBusy) {
        out.error(e.message);
        return EXIT.LOCKED;
      }
      out.error(`cannot take the run lock in ${ctx.stateDir}: ${errorMessage(e)}`);
      return EXIT.FAILED;
    }
  }
  let stopHandling: StopHandling | undefined;
  const observe = ctx.verbose ? (h: string, argv: readonly string[]) => out.info(style.dim(`[${h}] ${shellCommand(argv)}`)) : undefined;
  const { local, pool } = commandHosts({ ...args, recordNewHostKeys: !args.dryRun }, observe);
  try {
    const zfs = await Zfs.detect(local);
    if (ctx.verbose) out.info(style.dim(`local zfs: ${zfs.caps.description}`));
    // The version and the pools' features behind the stream options, once the destinations are known.
    const sayCapabilities = (remote: DestinationDiscovery) => {
      if (!ctx.verbose) return;
      const lines = capabilityLines('local', zfs.caps, local0.features).slice(1);
      for (const [label, s] of remote.states) if (s.reachable) lines.push(...capabilityLines(label, s.caps, s.features));
      if (lines.length) out.info(style.dim(lines.join('\n')));
    };
    // zback's own records: a corrupt file is reported (exit 1), kept aside in a run, and the hold
    // ledger rebuilt from ZFS once the destinations are known.
    const ledger = HoldLedger.load(ctx.stateDir, { keepAside: !args.dryRun });
    const stateRead = readRunStateChecked(ctx.stateDir, { keepAside: !args.dryRun });
    const hookFiles = loadHookFiles(args.hooksDir.path, args.hooksDir.given);
    const fileProblems = [
      ledger.problem,
      stateRead.problem,
      ...hookFiles.problems,
      ...hookFiles.unusable.map((u) => `hook file ${u.file} is not used: ${u.problems.join('; ')}`),
    ].filter((p): p is string => p !== undefined);
    for (const p of fileProblems) out.error(p);
    let holds = ledger.all();
    let history = historyOf(stateRead.state);
    const local0 = await discoverLocal(zfs, ctx.properties, new Set(holds.filter((h) => h.role === 'source').map((h) => h.dataset)), history.managed);
    // A renamed dataset's holds went with it: the ledger follows (by the dataset's guid).
    const followed = followRenames(holds, local0.inventory, local0.datasets);
    if (followed.renamed.length) {
      ledger.replace(followed.holds);
      if (!args.dryRun) ledger.save();
      holds = ledger.all();
      for (const m of followed.renamed) {
        out.info(`${m.from} was renamed to ${m.to}: zback's holds on its snapshots follow it`);
        delete stateRead.state.datasets[m.from];
      }
      history = historyOf(stateRead.state);
    }
    // A hook for a dataset zback does not manage is most likely a typo, and the real one's
    // snapshots are then taken without it: said in every run until it is fixed.
    const managed = local0.configs.filter((c) => c.kind === 'managed').map((c) => c.dataset);
    for (const h of hookFiles.hooks)
      for (const d of h.datasets)
        if (!managed.some((m) => m === d || (h.children && isSameOrBelow(m, d)))) {
          const problem = `hook file ${h.file} names ${d}, which zback does not manage (a typo?): its commands run for no snapshot`;
          out.error(problem);
          fileProblems.push(problem); // the run fails (exit 1)
        }
    const unknownReseed = (args.reseed ?? []).filter((q) => !hasDestination(local0.configs, q));
    if (unknownReseed.length) {
      // A mistyped --reseed must not run anything: it is a usage error, found before any change.
      for (const q of unknownReseed) {
        const c = local0.configs.find((x) => x.dataset === q.dataset);
        const known =
          c?.kind === 'managed' ? c.config.destinations.map((d) => replicationKey({ hostLabel: destinationHostLabel(d), target: d.datasetPath })) : [];
        out.error(
          `--reseed ${q.dataset}=${q.destination}: ${known.length ? `${q.dataset} has no such destination (its destinations: ${known.join(', ')})` : `${q.dataset} is not a dataset zback replicates`}; nothing was done`,
        );
      }
      return EXIT.USAGE;
    }
    // The snapshots never wait for a destination (SPEC §9): the destinations are discovered while
    // they are taken, each host within --command-timeout.
    // Resume tokens are decoded here before the planner checks what they name (SPEC §10).
    const remoteSoon = discoverDestinations(local0.configs, pool).then(async (r) => {
      await decodeResumeTokens(zfs, r.states);
      return r;
    });
    const planInput = {
      configs: local0.configs,
      caps: zfs.caps,
      now: ctx.now,
      calendar: ctx.calendar,
      names: ctx.format,
      holds,
      history,
      localDatasets: local0.datasets,
      localFeatures: local0.features,
      reseed: args.reseed ?? [],
      hooks: hookFiles.hooks,
      unusableHooks: hookFiles.unusable,
      copyMark: {
        property: ctx.properties.replicaOf,
        source: hostname(),
        retentionProperty: ctx.properties.replicaRetention,
        scheduleProperty: ctx.properties.replicaSchedule,
      },
    };
    const check = (p: Plan, inventory: Inventory, remote: DestinationDiscovery) =>
      // The interlock checks the plan against the inventories and zback's records, not the planner.
      applyRefusals(
        p,
        checkPlan({
          actions: p.actions,
          configs: local0.configs,
          inventory,
          destinations: remote.states,
          holds,
          replicated: history.replicated,
          names: ctx.format,
        }),
      );

    if (args.dryRun) {
      const remote = await remoteSoon;
      sayCapabilities(remote);
      const plan = check(buildPlan({ ...planInput, inventory: local0.inventory, destinations: remote.states }), local0.inventory, remote);
      out.print(
        ctx.json
          ? JSON.stringify({ type: 'plan', plan }) + '\n'
          : renderPlan(plan, ctx.calendar, { verbose: ctx.verbose, dryRun: true, ...(args.bwlimit ? { bwlimit: args.bwlimit } : {}) }),
      );
      for (const d of plan.datasets) for (const e of [...(d.error ? [d.error] : []), ...(d.problems ?? [])]) out.error(e);
      for (const r of plan.refused ?? []) out.error(r.message);
      const broken = plan.replications.filter(isBroken);
      for (const r of broken) out.error(`${r.dataset}: replication to ${replicationKey(r)}: ${r.message}`);
      return fileProblems.length || plan.datasets.some((d) => d.error || d.problems?.length) || broken.length || plan.refused?.length ? EXIT.FAILED : EXIT.OK;
    }

    const record = (plan: Plan | null, outcome: RunOutcome | null, exitCode: number, interrupted?: string) => {
      // Recorded on the run's own clock (--now moves it), so status compares like with like.
      const previous = readRunState(ctx.stateDir);
      const times = { started: ctx.now, finished: ctx.now + (Date.now() - started), exitCode, host: hostname(), ...(interrupted ? { interrupted } : {}) };
      // Stopped before the plan: what earlier runs recorded stays, the run is marked interrupted.
      const run = {
        started: new Date(times.started).toISOString(),
        finished: new Date(times.finished).toISOString(),
        exitCode,
        host: times.host,
        ...(interrupted ? { interrupted } : {}),
      };
      const state = plan && outcome ? recordRun(previous, plan, outcome, outcome.replications, ctx.format, times) : { ...previous, run };
      writeRunState(ctx.stateDir, state);
      // The lag over the last runs, for zback status --html (a run that planned nothing to record adds nothing).
      if (plan && outcome) {
        try {
          appendRunHistory(ctx.stateDir, historyEntry(state, times.finished, exitCode));
        } catch (e) {
          // Only the page's lag chart misses this run: not a failure of the backup.
          out.info(`the run history (${ctx.stateDir}/history.jsonl, for status --html) was not written: ${errorMessage(e)}`);
        }
      }
      if (args.metricsFile) {
        const report = buildStatus({
          configs: local0.configs,
          inventory: latest,
          state,
          stateDir: ctx.stateDir,
          now: times.finished,
          calendar: ctx.calendar,
          names: ctx.format,
          thresholds: DEFAULT_THRESHOLDS,
        });
        writeFileAtomically(args.metricsFile, renderMetrics(report, state));
      }
    };
    /** The datasets and snapshots as this run last read them (the metrics' newest snapshots). */
    let latest = local0.inventory;
    const stop = handleStopSignals(
      (name) => out.error(`received ${name}: stopping (no new work; running transfers are aborted on both sides); send it again to exit at once`),
      (name) => {
        // Out of time, or a second signal: keep what can be kept, free the lock, go.
        try {
          ledger.save();
          record(null, null, EXIT.FAILED, name);
        } catch {
          /* exiting anyway */
        }
        lock.release();
        out.error(`stopped by ${name} before the run finished; the next run continues`);
        process.exit(EXIT.FAILED);
      },
    );
    stopHandling = stop;
    const channels = Math.max(1, args.maxChannels - 1);
    const portsContext = {
      local,
      localZfs: zfs,
      ledger,
      idleTimeoutMs: args.idleTimeoutS * 1000,
      // Only where progress is shown: its size estimate (zfs send -nP) is one more command per send.
      ...(out.showsProgress ? { onProgress: progressReporter((line) => out.progress(line)) } : {}),
      signal: stop.signal,
    };
    const options = {
      concurrency: (host: string) => (host === 'local' ? 2 : channels),
      onEvent: (line: string) => out.event('replication', line),
      signal: stop.signal,
    };
    let plan: Plan | null = null;
    let outcome: RunOutcome | null = null;
    try {
      const snapshotPlan = buildPlan({ ...planInput, inventory: local0.inventory });
      const snapshots = snapshotPlan.actions.filter((a) => a.phase === 'snapshot');
      if (ctx.verbose && snapshots.length) out.info(snapshots.map((a) => `${a.id} ${actionCommand(a)}`).join('\n'));
      const taken = await executePlan(
        { ...snapshotPlan, datasets: [], replications: [], actions: snapshots },
        zfsPorts({ ...portsContext, destinations: new Map() }),
        options,
      );

      // A signal does not wait for a destination that is slow to answer.
      const remote = await Promise.race([remoteSoon, aborted(stop.signal)]);
      if (remote) {
        sayCapabilities(remote);
        // What this run's snapshots added: read again (one command), then plan the rest.
        const inventory = taken.results.size ? await zfs.inventory(topmost([...local0.inventory.keys()]), false, zfs.caps.openzfs) : local0.inventory;
        latest = inventory;
        if (ledger.problem) {
          ledger.replace(await rebuildHolds(zfs, local0.configs, inventory, remote));
          ledger.save();
          holds = ledger.all();
          Object.assign(planInput, { holds });
          out.error(`the hold ledger was rebuilt from ZFS: ${holds.length} zback hold${holds.length === 1 ? '' : 's'} found`);
        }
        plan = check(buildPlan({ ...planInput, inventory, destinations: remote.states, noSnapshots: true }), inventory, remote);
        if (ctx.verbose) out.info(renderPlan(plan, ctx.calendar, { verbose: true, dryRun: false, ...(args.bwlimit ? { bwlimit: args.bwlimit } : {}) }));
        outcome = await executePlan(
          plan,
          zfsPorts({
            ...portsContext,
            destinations: remote.zfs,
            resumable: (h) => remote.zfs.get(h)?.caps.resumableReceive ?? false,
            limits: bandwidthLimits(plan.actions, args.bwlimit),
          }),
          options,
        );
        mergeSnapshots(outcome, taken);
      } else for (const o of taken.datasets.values()) for (const f of o.failures) out.error(failureLine(f));
    } finally {
      ledger.save();
    }
    const interrupted = stop.signal.aborted ? String(stop.signal.reason) : undefined;
    if (plan && outcome) reportOutcome(plan, outcome, outcome.replications, out);
    if (interrupted)
      out.error(`stopped by ${interrupted} before the run finished; the next run continues${outcome ? '' : ' (nothing was replicated or pruned)'}`);
    const exitCode = outcome?.ok && !interrupted && !fileProblems.length ? EXIT.OK : EXIT.FAILED;
    try {
      record(plan, outcome, exitCode, interrupted);
    } catch (e) {
      out.error(`cannot write the run state in ${ctx.stateDir}${args.metricsFile ? ` or the metrics file ${args.metricsFile}` : ''}: ${errorMessage(e)}`);
      return EXIT.FAILED;
    }
    return exitCode;
  } catch (e) {
    out.error(errorMessage(e));
    return EXIT.FAILED;
  } finally {
    await pool.closeAll();
    stopHandling?.uninstall();
    lock.release();
  }
}

/** Resolves null once the signal is aborted (never, otherwise). */
function aborted(signal: AbortSignal): Promise<null> {
  return new Promise((resolve) => (signal.aborted ? resolve(null) : signal.addEventListener('abort', () => resolve(null), { once: true })));
}

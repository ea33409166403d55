/**
 * `zback run [--dry-run]`: lock → discover → plan → snapshot → replicate → prune → report (SPEC §5).
 */
import { hostname } from 'node:os';
import { discoverAndPlan } from '../execute/discover.js';
import { executePlan, type ReplicationOutcome, type RunOutcome } from '../execute/executor.js';
import { zfsPorts } from '../execute/ports.js';
import { keyIdentity } from '../plan/identity.js';
import type { ReseedRequest } from '../plan/planner.js';
import { applyRefusals, checkPlan } from '../safety/interlock.js';
import { recordRun } from '../execute/record.js';
import { progressReporter } from '../report/progress.js';
import { HoldLedger } from '../state/holds.js';
import { readRunState, writeRunState } from '../state/run-state.js';
import { errorMessage } from '../errors.js';
import { replicationKey } from '../plan/planner.js';
import type { Plan, ReplicationPlan } from '../plan/types.js';
import { renderPlan } from '../report/plan-text.js';
import { style } from '../report/style.js';
import { LockBusy, RunLock } from '../state/lock.js';
import { LocalHost } from '../transport/local.js';
import { HostPool } from '../transport/pool.js';
import { shellCommand } from '../transport/quote.js';
import { Zfs } from '../zfs/client.js';
import type { Context } from './context.js';
import { EXIT } from './exit-codes.js';
import type { Output } from './output.js';

export interface RunArgs {
  dryRun: boolean;
  sshConfig?: string;
  maxChannels: number;
  acceptNewHostKeys: boolean;
  idleTimeoutS: number;
  /** Destinations to seed afresh although they were seeded before. */
  reseed?: ReseedRequest[];
}

/** A --reseed destination names this replication: the same key, or the same destination spelled otherwise. */
function sameReplication(key: string, asked: string): boolean {
  return keyIdentity(key) === keyIdentity(asked);
}

function isBroken(r: ReplicationPlan): boolean {
  return r.status === 'diverged' || r.status === 'unreachable' || r.status === 'error';
}

function reportOutcome(plan: Plan, outcome: RunOutcome, replications: ReplicationOutcome[], out: Output): void {
  for (const d of plan.datasets) {
    const o = outcome.datasets.get(d.dataset);
    if (!o) continue;
    for (const e of o.errors) out.error(e.startsWith(d.dataset) ? e : `${d.dataset}: ${e}`);
    for (const n of o.notes) out.info(style.warn(`${d.dataset}: ${n}`));
    const did: string[] = [];
    if (o.snapshot) did.push(`snapshot @${o.snapshot}`);
    for (const r of replications.filter((x) => x.plan.dataset === d.dataset && x.ok && x.sent.length)) {
      did.push(`sent ${r.sent.length} to ${replicationKey(r.plan)}`);
    }
    if (o.destroyed.length) did.push(`destroyed ${o.destroyed.length} (${o.destroyed.join(', ')})`);
    if (did.length) out.info(`${d.dataset}: ${did.join('; ')}`);
  }
  const failed = [...outcome.datasets.values()].filter((o) => o.errors.length).length;
  out.info(failed ? style.error(`${failed} of ${plan.datasets.length} datasets failed.`) : `All ${plan.datasets.length} datasets done.`);
}

export async function runCommand(ctx: Context, args: RunArgs, out: Output): Promise<number> {
  const started = Date.now();
  const lock = new RunLock(ctx.stateDir);
  if (!args.dryRun) {
    try {
      lock.acquire();
    } catch (e) {
      if (e instanceof LockBusy) {
        out.error(e.message);
        return EXIT.LOCKED;
      }
      out.error(`cannot take the run lock in ${ctx.stateDir}: ${errorMessage(e)}`);
      return EXIT.FAILED;
    }
  }
  const observe = ctx.verbose ? (h: string, argv: readonly string[]) => out.info(style.dim(`[${h}] ${shellCommand(argv)}`)) : undefined;
  const local = new LocalHost(observe);
  const pool = new HostPool(local, {
    ...(args.sshConfig ? { sshConfig: args.sshConfig } : {}),
    acceptNewHostKeys: args.acceptNewHostKeys,
    recordNewHostKeys: !args.dryRun,
    maxChannels: args.maxChannels,
    ...(observe ? { observe } : {}),
  });
  try {
    const zfs = await Zfs.detect(local);
    if (ctx.verbose) out.info(style.dim(`local zfs: ${zfs.caps.description}`));
    const discovered = await discoverAndPlan(zfs, pool, {
      ...ctx,
      destinations: true,
      reseed: args.reseed ?? [],
      copyMark: { property: ctx.names.replicaOf, source: hostname() },
    });
    const { remote } = discovered;
    // The interlock checks the plan against the inventories and zback's records, not the planner.
    const refusals = checkPlan({
      actions: discovered.plan.actions,
      configs: discovered.configs,
      inventory: discovered.inventory,
      ...(remote ? { destinations: remote.states } : {}),
      holds: discovered.holds,
      replicated: discovered.history.replicated,
      names: ctx.format,
    });
    const plan = applyRefusals(discovered.plan, refusals);
    const unknownReseed = (args.reseed ?? []).filter((q) => !plan.replications.some((r) => r.dataset === q.dataset && sameReplication(replicationKey(r), q.destination)));
    if (unknownReseed.length) {
      // A mistyped --reseed must not run anything: it is a usage error, found before any change.
      for (const q of unknownReseed) {
        const known = plan.replications.filter((r) => r.dataset === q.dataset).map(replicationKey);
        out.error(`--reseed ${q.dataset}=${q.destination}: ${known.length ? `${q.dataset} has no such destination (its destinations: ${known.join(', ')})` : `${q.dataset} is not a dataset zback replicates`}; nothing was done`);
      }
      return EXIT.USAGE;
    }
    if (args.dryRun) {
      out.print(ctx.json ? JSON.stringify({ type: 'plan', plan }) + '\n' : renderPlan(plan, ctx.calendar, { verbose: ctx.verbose, dryRun: true }));
      for (const d of plan.datasets) if (d.error) out.error(d.error);
      for (const r of plan.refused ?? []) out.error(r.message);
      const broken = plan.replications.filter(isBroken);
      for (const r of broken) out.error(`${r.dataset}: replication to ${replicationKey(r)}: ${r.message}`);
      return plan.datasets.some((d) => d.error) || broken.length || plan.refused?.length ? EXIT.FAILED : EXIT.OK;
    }
    if (ctx.verbose) out.info(renderPlan(plan, ctx.calendar, { verbose: true, dryRun: false }));
    const ledger = HoldLedger.load(ctx.stateDir);
    const channels = Math.max(1, args.maxChannels - 1);
    let outcome: RunOutcome;
    try {
      outcome = await executePlan(
        plan,
        zfsPorts({
          local,
          localZfs: zfs,
          destinations: remote!.zfs,
          ledger,
          idleTimeoutMs: args.idleTimeoutS * 1000,
          onProgress: progressReporter((line) => out.progress(line)),
        }),
        { concurrency: (host) => (host === 'local' ? 2 : channels), onEvent: (line) => out.event('replication', line) },
      );
    } finally {
      ledger.save();
    }
    const replications = outcome.replications;
    reportOutcome(plan, outcome, replications, out);
    const exitCode = outcome.ok ? EXIT.OK : EXIT.FAILED;
    try {
      // Recorded on the run's own clock (--now moves it), so status compares like with like.
      const state = recordRun(readRunState(ctx.stateDir), plan, outcome, replications, ctx.format, {
        started: ctx.now,
        finished: ctx.now + (Date.now() - started),
        exitCode,
        host: hostname(),
      });
      writeRunState(ctx.stateDir, state);
    } catch (e) {
      out.error(`cannot write the run state in ${ctx.stateDir}: ${errorMessage(e)}`);
      return EXIT.FAILED;
    }
    return exitCode;
  } catch (e) {
    out.error(errorMessage(e));
    return EXIT.FAILED;
  } finally {
    await pool.closeAll();
    lock.release();
  }
}

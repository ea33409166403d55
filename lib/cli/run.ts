/**
 * `zback run [--dry-run]`: lock → discover → plan → snapshot → prune → report (SPEC §5).
 */
import { executePlan, type RunOutcome } from '../execute/executor.js';
import { errorMessage } from '../errors.js';
import { buildPlan, topmost } from '../plan/planner.js';
import type { Plan } from '../plan/types.js';
import { propertyList, resolveConfigs } from '../policy/properties.js';
import { renderPlan } from '../report/plan-text.js';
import { style } from '../report/style.js';
import { LockBusy, RunLock } from '../state/lock.js';
import { LocalHost } from '../transport/local.js';
import { shellCommand } from '../transport/quote.js';
import { Zfs } from '../zfs/client.js';
import type { Context } from './context.js';
import { EXIT } from './exit-codes.js';
import type { Output } from './output.js';

export interface RunArgs {
  dryRun: boolean;
}

async function discoverAndPlan(ctx: Context, zfs: Zfs): Promise<Plan> {
  const configs = resolveConfigs(await zfs.config(propertyList(ctx.names)), ctx.names);
  const roots = topmost(configs.filter((c) => c.kind !== 'ignored').map((c) => c.dataset));
  const inventory = await zfs.inventory(roots);
  return buildPlan({ configs, inventory, caps: zfs.caps, now: ctx.now, calendar: ctx.calendar, names: ctx.format });
}

function reportOutcome(plan: Plan, outcome: RunOutcome, out: Output): void {
  for (const d of plan.datasets) {
    const o = outcome.datasets.get(d.dataset);
    if (!o) continue;
    for (const e of o.errors) out.error(e.startsWith(d.dataset) ? e : `${d.dataset}: ${e}`);
    for (const n of o.notes) out.info(style.warn(`${d.dataset}: ${n}`));
    const did: string[] = [];
    if (o.snapshot) did.push(`snapshot @${o.snapshot}`);
    if (o.destroyed.length) did.push(`destroyed ${o.destroyed.length} (${o.destroyed.join(', ')})`);
    if (did.length) out.info(`${d.dataset}: ${did.join('; ')}`);
  }
  const failed = [...outcome.datasets.values()].filter((o) => o.errors.length).length;
  out.info(failed ? style.error(`${failed} of ${plan.datasets.length} datasets failed.`) : `All ${plan.datasets.length} datasets done.`);
}

export async function runCommand(ctx: Context, args: RunArgs, out: Output): Promise<number> {
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
  const host = new LocalHost(ctx.verbose ? (h, argv) => out.info(style.dim(`[${h}] ${shellCommand(argv)}`)) : undefined);
  try {
    const zfs = await Zfs.detect(host);
    if (ctx.verbose) out.info(style.dim(`local zfs: ${zfs.caps.description}`));
    const plan = await discoverAndPlan(ctx, zfs);
    if (args.dryRun) {
      out.print(renderPlan(plan, ctx.calendar, { verbose: ctx.verbose, dryRun: true }));
      for (const d of plan.datasets) if (d.error) out.error(d.error);
      return plan.datasets.some((d) => d.error) ? EXIT.FAILED : EXIT.OK;
    }
    if (ctx.verbose) out.info(renderPlan(plan, ctx.calendar, { verbose: true, dryRun: false }));
    const outcome = await executePlan(plan, zfs);
    reportOutcome(plan, outcome, out);
    return outcome.ok ? EXIT.OK : EXIT.FAILED;
  } catch (e) {
    out.error(errorMessage(e));
    return EXIT.FAILED;
  } finally {
    await host.close();
    lock.release();
  }
}

/**
 * `zback status [--json] [--check] [--remote]`: read-only. Local ZFS plus the state the last run
 * recorded; destinations only with --remote (over the same pooled connection a run uses).
 */
import { discoverAndPlan } from '../execute/discover.js';
import { errorMessage } from '../errors.js';
import { TickCache } from '../policy/schedule.js';
import { buildStatus, type Thresholds } from '../report/status.js';
import { renderCheck, renderStatus, CHECK_EXIT } from '../report/status-text.js';
import { readRunStateChecked } from '../state/run-state.js';
import { HoldLedger } from '../state/holds.js';
import { LocalHost } from '../transport/local.js';
import { DEFAULT_LIMITS } from '../transport/host.js';
import { HostPool } from '../transport/pool.js';
import { shellCommand } from '../transport/quote.js';
import { Zfs } from '../zfs/client.js';
import type { Context } from './context.js';
import { EXIT } from './exit-codes.js';
import type { Output } from './output.js';

export interface StatusArgs {
  json: boolean;
  check: boolean;
  remote: boolean;
  thresholds: Thresholds;
  sshConfig?: string;
  maxChannels: number;
  /** Deadline of every command and channel open. */
  commandTimeoutS: number;
}

export async function statusCommand(ctx: Context, args: StatusArgs, out: Output): Promise<number> {
  // On stderr: stdout is the report alone (its JSON with --json).
  const observe = ctx.verbose ? (h: string, argv: readonly string[]) => out.trace(`[${h}] ${shellCommand(argv)}`) : undefined;
  const limits = { ...DEFAULT_LIMITS, timeoutMs: args.commandTimeoutS * 1000 };
  const local = new LocalHost(observe, limits);
  const pool = new HostPool(local, {
    limits,
    ...(args.sshConfig ? { sshConfig: args.sshConfig } : {}),
    acceptNewHostKeys: false,
    recordNewHostKeys: false,
    maxChannels: args.maxChannels,
    ...(observe ? { observe } : {}),
  });
  try {
    const zfs = await Zfs.detect(local);
    const stateRead = readRunStateChecked(ctx.stateDir); // read-only: status never moves a file
    const ticks = new TickCache();
    const { configs, inventory, plan } = await discoverAndPlan(zfs, pool, { ...ctx, destinations: args.remote, ticks });
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

/**
 * `zback prune` on a backup host whose sink is append-only: prunes the copies below --root by the
 * retention each carries (see lib/plan/copy-prune.ts), never below --keep-days. Same conventions
 * as `run`: --dry-run prints the plan, --verbose says why each snapshot is kept, errors go to
 * stderr and make the exit status 1.
 */
import { errorMessage } from '../errors.js';
import { planCopyPrune, type CopyMarks, type CopyPrune } from '../plan/copy-prune.js';
import { style } from '../report/style.js';
import { LocalHost } from '../transport/local.js';
import { shellCommand } from '../transport/quote.js';
import { Zfs } from '../zfs/client.js';
import { destroySnapshots } from '../zfs/operations.js';
import type { Context } from './context.js';
import { EXIT } from './exit-codes.js';
import type { Output } from './output.js';

export interface PruneArgs {
  roots: string[];
  keepDays: number;
  dryRun: boolean;
}

export async function pruneCommand(ctx: Context, args: PruneArgs, out: Output): Promise<number> {
  const observe = ctx.verbose ? (h: string, argv: readonly string[]) => out.info(style.dim(`[${h}] ${shellCommand(argv)}`)) : undefined;
  let failed = false;
  const fail = (line: string) => {
    failed = true;
    out.error(line);
  };
  let zfs: Zfs;
  try {
    zfs = await Zfs.detect(new LocalHost(observe));
  } catch (e) {
    out.error(errorMessage(e));
    return EXIT.FAILED;
  }
  const plans: CopyPrune[] = [];
  for (const root of args.roots) {
    try {
      const marks = await zfs.copyMarks(root, [ctx.properties.replicaOf, ctx.properties.replicaRetention]);
      for (const d of [...marks.unreadable].sort())
        fail(
          `${d}: its ${ctx.properties.replicaOf} / ${ctx.properties.replicaRetention} values contain a line break, so zback cannot read them unambiguously; nothing of it is pruned`,
        );
      const copies = new Map<string, CopyMarks>();
      for (const r of marks.rows) {
        if (r.property === ctx.properties.replicaOf) copies.set(r.name, { ...copies.get(r.name), replicaOf: r.value });
      }
      for (const r of marks.rows) {
        const c = copies.get(r.name);
        if (c && r.property === ctx.properties.replicaRetention) c.retention = r.value;
      }
      const inventory = await zfs.inventory([root], true);
      plans.push(...planCopyPrune({ inventory, copies, names: ctx.format, calendar: ctx.calendar, now: ctx.now, keepDays: args.keepDays, caps: zfs.caps }));
    } catch (e) {
      fail(`${root}: ${errorMessage(e)}`);
    }
  }

  if (ctx.json) out.print(`${JSON.stringify({ dryRun: args.dryRun, keepDays: args.keepDays, copies: plans }, null, 2)}\n`);
  else if (args.dryRun || ctx.verbose) out.print(pruneText(plans, args, ctx.verbose));
  for (const p of plans) if (p.problem) fail(`${p.dataset}: ${p.problem}`);
  if (!args.dryRun) {
    for (const p of plans) {
      for (const argv of p.argvs) {
        const r = await destroySnapshots(zfs, p.dataset, argv);
        if (r.destroyed.length) out.info(`${p.dataset}: destroyed ${r.destroyed.map((s) => '@' + s).join(', ')}`);
        for (const s of r.withClones) out.info(`${p.dataset}@${s} has dependent clones: kept`);
        for (const e of r.errors) fail(`${p.dataset}: ${e}`);
      }
    }
  }
  return failed ? EXIT.FAILED : EXIT.OK;
}

function pruneText(plans: readonly CopyPrune[], args: PruneArgs, verbose: boolean): string {
  const lines: string[] = [];
  if (args.dryRun) lines.push(style.title(`zback prune --dry-run: nothing will be changed`), '');
  for (const p of plans) {
    lines.push(
      `${style.dataset(p.dataset)}  ${style.dim(`copy of ${p.replicaOf} · retention ${p.retention ?? '(none recorded)'}${args.keepDays ? ` · floor ${args.keepDays} days` : ''}`)}`,
    );
    if (p.problem) lines.push(`  ${style.error('!')} ${p.problem}`);
    for (const d of p.decisions) {
      if (!d.keep) lines.push(`  ${style.remove('- destroy')} @${d.name}  ${style.dim('(kept by no rule)')}`);
      else if (verbose) lines.push(`  ${style.keep(`  keep    @${d.name}  (${d.reasons.join('; ')})`)}`);
    }
    for (const argv of p.argvs) lines.push(`  ${style.dim(shellCommand(argv))}`);
  }
  const total = plans.reduce((n, p) => n + p.destroy.length, 0);
  lines.push('', `Plan: ${plans.length} cop${plans.length === 1 ? 'y' : 'ies'}, ${total} snapshot${total === 1 ? '' : 's'} to destroy.`);
  return `${lines.join('\n')}\n`;
}

/**
 * The plan as a person reads it: per dataset what is due and why, what is destroyed and (with
 * verbose) why every other snapshot is kept; then the exact commands, then one summary line.
 * `zback run --dry-run` prints this; it is the truth about what a run would do.
 */
import type { Calendar } from '../policy/calendar.js';
import { formatRetention } from '../policy/retention.js';
import type { DatasetPlan, Plan } from '../plan/types.js';
import { style } from './style.js';

export interface PlanTextOptions {
  verbose: boolean;
  dryRun: boolean;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function policyLine(d: DatasetPlan): string {
  const c = d.config!;
  const ret = formatRetention(c.retention.value) + (c.retention.origin !== d.dataset ? ` (from ${c.retention.origin})` : '');
  const sched = c.schedule.text + (c.scheduleOrigin === null ? '' : c.scheduleOrigin !== d.dataset ? ` (from ${c.scheduleOrigin})` : '');
  const counts = `${plural(d.zbackSnapshots, 'zback snapshot')}${d.foreignSnapshots ? `, ${d.foreignSnapshots} foreign (never touched)` : ''}`;
  return `retention ${ret} · schedule ${sched} · ${counts}`;
}

function datasetLines(d: DatasetPlan, plan: Plan, cal: Calendar, opts: PlanTextOptions): string[] {
  const out: string[] = [style.dataset(d.dataset)];
  if (d.error) {
    out.push(`  ${style.error('error')}  ${d.error}`);
    return out;
  }
  out.push(`  ${style.dim(policyLine(d))}`);
  const due = d.due!;
  if (d.newSnapshot) {
    const why = d.latest === null ? 'no zback snapshot yet' : `newest is ${cal.format(d.latest)}, before the ${cal.format(due.tick)} tick`;
    const action = plan.snapshots.find((a) => a.datasets.includes(d.dataset));
    const together = action && action.datasets.length > 1 ? `, one atomic command with ${plural(action.datasets.length - 1, 'other dataset')}` : '';
    out.push(`  ${style.add('+ snapshot')} ${d.dataset}@${d.newSnapshot}  ${style.dim(`(due: ${why}${together})`)}`);
  } else {
    out.push(`  ${style.dim(`  not due  newest ${d.latest === null ? '-' : cal.format(d.latest)}; next tick ${cal.format(due.next)}`)}`);
  }
  for (const dec of d.decisions) {
    if (!dec.keep) out.push(`  ${style.remove('- destroy ')} ${d.dataset}@${dec.name}  ${style.dim('(kept by no rule)')}`);
    else if (opts.verbose) out.push(`  ${style.keep(`  keep     ${dec.name}  ${dec.reasons.join('; ')}`)}`);
  }
  return out;
}

export function renderPlan(plan: Plan, cal: Calendar, opts: PlanTextOptions): string {
  const lines: string[] = [];
  const when = `${cal.format(plan.now)} (${plan.zone})`;
  lines.push(style.title(opts.dryRun ? `zback run --dry-run at ${when}: nothing will be changed` : `zback run at ${when}`));
  lines.push('');
  for (const d of plan.datasets) lines.push(...datasetLines(d, plan, cal, opts));
  if (plan.datasets.length === 0) lines.push(style.dim('No dataset is managed by zback (set its snapshot property to yes, see `zback set --help`).'));
  if (opts.verbose && plan.ignored.length) {
    lines.push('', style.dim('Not managed:'));
    for (const i of plan.ignored) lines.push(style.dim(`  ${i.dataset}: ${i.why}`));
  }
  const commands = [...plan.snapshots.map((a) => a.argv), ...plan.destroys.flatMap((a) => a.argvs)];
  if (commands.length) {
    lines.push('', style.title(opts.dryRun ? 'Commands a run would execute, in order:' : 'Commands:'));
    for (const argv of commands) lines.push(`  ${argv.map((a) => (/[\s'"\\$`]/.test(a) ? JSON.stringify(a) : a)).join(' ')}`);
  }
  lines.push('', summaryLine(plan));
  return lines.join('\n') + '\n';
}

export function summaryLine(plan: Plan): string {
  const snaps = plan.snapshots.reduce((n, a) => n + a.datasets.length, 0);
  const destroys = plan.destroys.reduce((n, a) => n + a.snapshots.length, 0);
  const errors = plan.datasets.filter((d) => d.error).length;
  const parts = [
    `${plural(plan.datasets.length, 'dataset')}`,
    `${plural(snaps, 'snapshot')} to take${snaps ? ` in ${plural(plan.snapshots.length, 'command')}` : ''}`,
    `${destroys} to destroy`,
  ];
  if (errors) parts.push(style.error(`${plural(errors, 'dataset')} with errors`));
  return `Plan: ${parts.join(', ')}.`;
}

/**
 * The plan as a person reads it: per dataset what is due and why, what is destroyed and (with
 * verbose) why every other snapshot is kept; then the exact commands, then one summary line.
 * `zback run --dry-run` prints this; it is the truth about what a run would do.
 */
import { formatRate } from '../policy/rate.js';
import type { Calendar } from '../policy/calendar.js';
import { formatRetention, retentionSentence } from '../policy/retention.js';
import { isBroken, replicationKey } from '../plan/replication.js';
import type { Action, DatasetPlan, Plan, ReplicationPlan, SendStep } from '../plan/types.js';
import { style } from './style.js';

export interface PlanTextOptions {
  verbose: boolean;
  dryRun: boolean;
  /** run --bwlimit: bytes per second for all the run's streams together. */
  bwlimit?: number;
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
  if (opts.verbose) out.push(`  ${style.dim(retentionSentence(d.config!.retention.value, cal.zone))}`);
  for (const p of d.problems ?? []) out.push(`  ${style.error('✗')} ${p}`);
  const due = d.due!;
  if (d.newSnapshot) {
    const why = d.latest === null ? 'no zback snapshot yet' : `newest is ${cal.format(d.latest)}, before the ${cal.format(due.tick)} tick`;
    const action = plan.snapshots.find((a) => a.datasets.includes(d.dataset));
    const together = action && action.datasets.length > 1 ? `, one atomic command with ${plural(action.datasets.length - 1, 'other dataset')}` : '';
    out.push(`  ${style.add('+ snapshot')} ${d.dataset}@${d.newSnapshot}  ${style.dim(`(due: ${why}${together})`)}`);
  } else {
    out.push(`  ${style.dim(`  not due  newest ${d.latest === null ? '-' : cal.format(d.latest)}; next tick ${cal.format(due.next)}`)}`);
  }
  for (const r of plan.replications.filter((x) => x.dataset === d.dataset)) out.push(...replicationLines(r, cal, opts));
  const afterSend = new Map(d.destroyAfterSend.map((x) => [x.name, x.after]));
  for (const dec of d.decisions) {
    const after = afterSend.get(dec.name);
    if (after)
      out.push(
        `  ${style.remove('- destroy ')} ${d.dataset}@${dec.name}  ${style.dim(`(once the send to ${after.join(', ')} succeeded: it is no longer a base)`)}`,
      );
    else if (!dec.keep) out.push(`  ${style.remove('- destroy ')} ${d.dataset}@${dec.name}  ${style.dim('(kept by no rule)')}`);
    else if (opts.verbose) out.push(`  ${style.keep(`  keep     ${dec.name}  ${dec.reasons.join('; ')}`)}`);
  }
  return out;
}

function stepText(s: SendStep): string {
  if (s.kind === 'full') return `full @${s.to}`;
  if (s.kind === 'resume') return 'resume the interrupted receive';
  if (s.fromBookmark) return `-i #${s.from} → @${s.to} (from the bookmark: the base snapshot is gone here)`;
  return s.delivers.length > 1 ? `-I @${s.from} → @${s.to} (${s.delivers.length} snapshots)` : `-i @${s.from} → @${s.to}`;
}

function replicationLines(r: ReplicationPlan, cal: Calendar, opts: PlanTextOptions): string[] {
  const dest = replicationKey(r);
  const out: string[] = [];
  switch (r.status) {
    case 'send':
    case 'resume': {
      const parents = r.createParents?.length ? ` (creates ${r.createParents.join(', ')})` : '';
      const limit = r.bwlimit ? ` (at most ${formatRate(r.bwlimit)} to ${r.hostLabel}, bwlimit=)` : '';
      const stream = r.streamFlags?.length && r.status === 'send' ? ` · stream ${r.streamFlags.join(' ')}` : '';
      out.push(`  ${style.add('→ send    ')} to ${dest}: ${r.sends.map(stepText).join(', then ')}${parents}${stream}${limit}`);
      break;
    }
    case 'up-to-date':
      out.push(`  ${style.dim(`  send      to ${dest}: up to date (${commonText(r)})`)}`);
      break;
    case 'not-due':
      out.push(`  ${style.dim(`  send      to ${dest}: not due (last common ${commonText(r)}; next tick ${cal.format(r.nextDue!)})`)}`);
      break;
    default:
      out.push(`  ${style.error(`✗ ${r.status.padEnd(9)}`)} ${dest}: ${r.message}`);
  }
  const b = r.bookmark;
  if (b?.create)
    out.push(`  ${style.add('+ bookmark')} ${r.dataset}#${b.create.name}  ${style.dim(`(the safety net of ${dest}'s base @${b.create.snapshot})`)}`);
  else if (b?.current && opts.verbose) out.push(`  ${style.keep(`  bookmark ${r.dataset}#${b.current}  (the safety net of ${dest}'s base)`)}`);
  if (b?.skipped) out.push(`  ${style.dim(`  bookmark  none for ${dest}: ${b.skipped} (its base is protected by holds only)`)}`);
  for (const old of b?.remove ?? []) out.push(`  ${style.remove('- bookmark')} ${r.dataset}#${old}  ${style.dim('(replaced by the newer one)')}`);
  for (const dec of r.targetDecisions) {
    if (!dec.keep && r.targetDestroy.includes(dec.name))
      out.push(`  ${style.remove('- destroy ')} ${dest}@${dec.name}  ${style.dim('(destination retention keeps it by no rule)')}`);
    else if (opts.verbose && dec.keep) out.push(`  ${style.keep(`  keep     ${dest}@${dec.name}  ${dec.reasons.join('; ')}`)}`);
  }
  return out;
}

/** The last common point: a snapshot, or the bookmark that stands for it here (SPEC §11). */
function commonText(r: ReplicationPlan): string {
  return r.baseBookmark ? `#${r.baseBookmark.name}, for @${r.commonOnTarget} there: the snapshot is gone here` : `@${r.common}`;
}

/** The command of an action as a person would type it; `[host]` says where it runs. */
export function actionCommand(a: Action): string {
  const on = a.host === 'local' ? '' : `[${a.host}] `;
  if (a.op === 'send') return `${quoted(a.argv)} | ${on}${quoted(a.recvArgv!)}`;
  return on + quoted(a.argv);
}

/** The one command a batch of holds or releases runs (the plan's members, one snapshot each). */
export function batchCommand(members: readonly Action[]): string {
  const a = members[0]!;
  const snaps = [...new Set(members.map((m) => `${m.target}@${m.snapshots[0]!}`))];
  return actionCommand({ ...a, argv: [...a.argv.slice(0, 3), ...snaps] });
}

/** "after a3 (the send …) succeeded", or "only if a5 fails because …". */
export function conditionText(a: Action, byId: ReadonlyMap<string, Action>): string {
  if (a.onFailure) return `only if ${a.onFailure.id} fails because its resume token can no longer be used`;
  if (a.after.length === 0) return '';
  const names = a.after.map((id) => `${id} (${byId.get(id)?.op ?? '?'})`);
  return `after ${names.join(', ')} succeeded`;
}

function quoted(argv: readonly string[]): string {
  return argv.map((a) => (/[\s'"\\$`|;&<>]/.test(a) ? JSON.stringify(a) : a)).join(' ');
}

export function renderPlan(plan: Plan, cal: Calendar, opts: PlanTextOptions): string {
  const lines: string[] = [];
  const when = `${cal.format(plan.now)} (${plan.zone})`;
  lines.push(style.title(opts.dryRun ? `zback run --dry-run at ${when}: nothing will be changed` : `zback run at ${when}`));
  lines.push('');
  for (const d of plan.datasets) lines.push(...datasetLines(d, plan, cal, opts));
  if (plan.datasets.length === 0) lines.push(style.dim('No dataset is managed by zback (set its snapshot property to yes, see `zback set --help`).'));
  if (plan.staleHolds.length) {
    lines.push('', style.title('Stale zback holds to release:'));
    for (const h of plan.staleHolds)
      lines.push(`  ${replicationKey({ hostLabel: h.host, target: h.dataset })}@${h.snapshot}  ${h.tag}  ${style.dim(`(${h.why})`)}`);
  }
  if (opts.verbose && plan.ignored.length) {
    lines.push('', style.dim('Not managed:'));
    for (const i of plan.ignored) lines.push(style.dim(`  ${i.dataset}: ${i.why}`));
  }
  if (plan.refused?.length) {
    lines.push('', style.error('Refused by the safety interlock (not run):'));
    for (const r of plan.refused) lines.push(`  ${style.error('✗')} ${r.message}`);
  }
  if (plan.actions.length) {
    lines.push('', style.title(opts.dryRun ? 'Every command a run would execute, in order, with its condition:' : 'Commands:'));
    const byId = new Map(plan.actions.map((a) => [a.id, a]));
    const batches = new Map<string, Action[]>();
    for (const a of plan.actions) if (a.batch) batches.set(a.batch, [...(batches.get(a.batch) ?? []), a]);
    for (const a of plan.actions) {
      const members = a.batch ? batches.get(a.batch)! : [a];
      if (members[0] !== a) continue; // printed with the first member of its batch
      lines.push(`  ${style.dim(a.id.padEnd(4))} ${members.length > 1 ? batchCommand(members) : actionCommand(a)}`);
      if (members.length > 1) lines.push(`       ${style.dim(`one command for ${members.length} ${a.op}s, each member only if its condition holds:`)}`);
      for (const m of members) {
        const when = conditionText(m, byId);
        lines.push(`       ${style.dim(`${members.length > 1 ? `${m.id}: ` : ''}${m.why}${when ? `; ${when}` : ''}`)}`);
      }
      for (const h of a.hooks ?? []) {
        const runs = [h.hook.pre ? `before: ${quoted(h.hook.pre)}` : '', h.hook.post ? `after: ${quoted(h.hook.post)}` : ''].filter(Boolean).join('; ');
        lines.push(`       ${style.dim(`hook ${h.hook.file} for ${h.dataset} (timeout ${h.hook.timeoutS} s): ${runs}`)}`);
      }
    }
  }
  lines.push('', summaryLine(plan));
  if (opts.bwlimit) lines.push(`Bandwidth: the run's streams together at most ${formatRate(opts.bwlimit)} (--bwlimit).`);
  return lines.join('\n') + '\n';
}

export function summaryLine(plan: Plan): string {
  const snaps = plan.snapshots.reduce((n, a) => n + a.datasets.length, 0);
  // Counted from the actions (what a run executes); on destinations they prune after the sends.
  const count = (phase: string) => plan.actions.filter((a) => a.op === 'destroy' && a.phase === phase).reduce((n, a) => n + a.snapshots.length, 0);
  const destroys = count('prune');
  const errors = plan.datasets.filter((d) => d.error).length;
  const parts = [
    `${plural(plan.datasets.length, 'dataset')}`,
    `${plural(snaps, 'snapshot')} to take${snaps ? ` in ${plural(plan.snapshots.length, 'command')}` : ''}`,
    `${destroys} to destroy here`,
  ];
  const remote = count('replicate');
  if (remote) parts.push(`${remote} to destroy on destinations`);
  const sends = plan.replications.filter((r) => r.status === 'send' || r.status === 'resume').length;
  parts.push(`${plural(sends, 'replication')} to send`);
  const broken = plan.replications.filter(isBroken).length;
  if (errors) parts.push(style.error(`${plural(errors, 'dataset')} with errors`));
  if (broken) parts.push(style.error(`${plural(broken, 'destination')} with problems`));
  if (plan.refused?.length) parts.push(style.error(`${plural(plan.refused.length, 'action')} refused by the safety interlock`));
  return `Plan: ${parts.join(', ')}.`;
}

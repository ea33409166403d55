/**
 * Carries out the replication part of a plan: per destination host in parallel, several datasets
 * at once within the host's channel budget, each dataset's sends in order. After a dataset's
 * sends succeed, the holds move forward on both sides and the destination is pruned.
 */
import { CommandError, errorMessage } from '../errors.js';
import type { Plan, ReplicationPlan } from '../plan/types.js';
import type { LocalHost } from '../transport/local.js';
import { transfer } from '../transport/pipe.js';
import type { Zfs } from '../zfs/client.js';
import type { HoldLedger, HoldRecord } from '../state/holds.js';
import { createParentsCommand, holdCommand, receiveAbortCommand, releaseCommand, setPropertyCommand } from '../zfs/commands.js';
import type { DatasetOutcome } from './executor.js';
import { pruneSnapshots } from './prune.js';

export interface ReplicationContext {
  local: LocalHost;
  localZfs: Zfs;
  /** Destination zfs clients by host label (reachable hosts only). */
  destinations: ReadonlyMap<string, Zfs>;
  /** Property that marks a seeded copy on the destination, and its value's prefix. */
  replicaProperty: string;
  sourceName: string;
  concurrency: number;
  idleTimeoutMs: number;
  outcome: (dataset: string) => DatasetOutcome;
  /** The record of holds zback placed (see state/holds.ts). */
  ledger: HoldLedger;
  onEvent?: (line: string) => void;
}

export interface ReplicationOutcome {
  plan: ReplicationPlan;
  ok: boolean;
  bytes: number;
  sent: string[];
  /** Snapshots destroyed on the destination by its retention. */
  targetDestroyed: string[];
  error?: string;
}

/** Holds are bookkeeping: "already held" and "no such tag" mean the state is already right. */
async function tolerant(zfs: Zfs, argv: string[]): Promise<string | null> {
  try {
    await zfs.exec(argv);
    return null;
  } catch (e) {
    if (e instanceof CommandError && /tag already exists|no such tag/.test(e.stderr)) return null;
    return errorMessage(e);
  }
}

async function hold(zfs: Zfs, ctx: ReplicationContext, record: HoldRecord): Promise<string | null> {
  const problem = await tolerant(zfs, holdCommand(record.tag, record.dataset, record.snapshot));
  if (!problem) ctx.ledger.add(record);
  return problem;
}

async function release(zfs: Zfs, ctx: ReplicationContext, record: HoldRecord): Promise<string | null> {
  const problem = await tolerant(zfs, releaseCommand(record.tag, record.dataset, record.snapshot));
  // A snapshot that is gone has no hold left to release either.
  if (!problem || /does not exist|could not find/.test(problem)) ctx.ledger.remove(record);
  return problem;
}

async function replicateOne(r: ReplicationPlan, dest: Zfs, ctx: ReplicationContext): Promise<ReplicationOutcome> {
  const result: ReplicationOutcome = { plan: r, ok: false, bytes: 0, sent: [], targetDestroyed: [] };
  const where = `${r.hostLabel === 'local' ? '' : r.hostLabel + ':'}${r.target}`;
  const fail = (why: string) => {
    result.error = `replication to ${where} failed: ${why}`;
    ctx.outcome(r.dataset).errors.push(result.error);
    return result;
  };
  try {
    for (const parent of r.createParents ?? []) await dest.exec(createParentsCommand(parent));
    for (const step of r.sends) {
      const sink = await dest.host.startSink(step.recvArgv);
      const source = ctx.local.startSource(step.sendArgv);
      const t = await transfer(source, sink, { idleTimeoutMs: ctx.idleTimeoutMs });
      result.bytes += t.bytes;
      if (!t.ok) {
        if (step.kind === 'resume') {
          // A token that cannot be resumed must not block this destination forever.
          const abort = await tolerant(dest, receiveAbortCommand(r.target));
          return fail(`resuming the interrupted receive failed (${t.reason}); ${abort ? `aborting it failed too: ${abort}` : 'its partial state was discarded, the next run starts over from the last common snapshot'}`);
        }
        return fail(t.reason ?? 'unknown error');
      }
      result.sent.push(...step.delivers);
      ctx.onEvent?.(`${r.dataset} → ${where}: ${step.kind} ${step.from ? `@${step.from} → ` : ''}@${step.to} (${t.bytes} bytes)`);
      if (step.kind === 'full') {
        const mark = await tolerant(dest, setPropertyCommand(r.target, ctx.replicaProperty, `${ctx.sourceName}:${r.dataset}`));
        if (mark) ctx.outcome(r.dataset).notes.push(`could not mark ${where} as a replica: ${mark}`);
      }
    }
  } catch (e) {
    return fail(errorMessage(e));
  }

  // Move the holds forward: hold the new base first, then release the old one, on both sides.
  const onSource = (snapshot: string): HoldRecord => ({ host: 'local', dataset: r.dataset, snapshot, tag: r.sourceTag });
  const onTarget = (snapshot: string): HoldRecord => ({ host: r.hostLabel, dataset: r.target, snapshot, tag: r.targetTag });
  if (r.newCommon && r.newCommon !== r.common) {
    const problems = [await hold(ctx.localZfs, ctx, onSource(r.newCommon)), await hold(dest, ctx, onTarget(r.newCommon))];
    if (r.common) {
      problems.push(await release(ctx.localZfs, ctx, onSource(r.common)));
      problems.push(await release(dest, ctx, onTarget(r.common)));
    }
    for (const p of problems) if (p) ctx.outcome(r.dataset).errors.push(`hold bookkeeping for ${where}: ${p}`);
  } else if (r.common && r.status !== 'resume') {
    // Up to date or not due: make sure the base is held (a first run after an upgrade, a lost hold).
    await hold(ctx.localZfs, ctx, onSource(r.common));
    await hold(dest, ctx, onTarget(r.common));
  }
  if (r.targetDestroyArgvs.length) {
    const o = ctx.outcome(r.dataset);
    await pruneSnapshots(dest, r.target, r.targetDestroyArgvs, { errors: o.errors, notes: o.notes, destroyed: result.targetDestroyed }, where);
  }
  result.ok = true;
  return result;
}

class Slots {
  private readonly waiting: Array<() => void> = [];
  constructor(private free: number) {}
  async take(): Promise<() => void> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((r) => this.waiting.push(r));
    return () => {
      const next = this.waiting.shift();
      if (next) next();
      else this.free++;
    };
  }
}

/** Release the holds the plan found stale (on the source, or on reachable destinations). */
export async function releaseStaleHolds(plan: Plan, ctx: ReplicationContext): Promise<void> {
  for (const h of plan.staleHolds) {
    const zfs = h.host === 'local' ? ctx.localZfs : ctx.destinations.get(h.host);
    if (!zfs) continue;
    const problem = await release(zfs, ctx, h);
    const where = h.host === 'local' ? '' : `${h.host}:`;
    if (!problem) ctx.onEvent?.(`released stale hold ${h.tag} on ${where}${h.dataset}@${h.snapshot} (${h.why})`);
    else if (!/does not exist|could not find/.test(problem)) ctx.outcome(h.dataset).notes.push(`could not release stale hold ${h.tag} on ${where}${h.dataset}@${h.snapshot}: ${problem}`);
  }
}

export async function executeReplication(plan: Plan, ctx: ReplicationContext): Promise<ReplicationOutcome[]> {
  const results: ReplicationOutcome[] = [];
  const byHost = new Map<string, ReplicationPlan[]>();
  const snapshotFailed = new Set(plan.datasets.filter((d) => d.newSnapshot && ctx.outcome(d.dataset).snapshot !== d.newSnapshot).map((d) => d.dataset));
  for (const r of plan.replications) {
    const where = `${r.hostLabel === 'local' ? '' : r.hostLabel + ':'}${r.target}`;
    if (r.status === 'unreachable' || r.status === 'diverged' || r.status === 'error') {
      ctx.outcome(r.dataset).errors.push(`replication to ${where}: ${r.status === 'unreachable' ? 'unreachable: ' : ''}${r.message}`);
      results.push({ plan: r, ok: false, bytes: 0, sent: [], targetDestroyed: [], error: r.message ?? r.status });
      continue;
    }
    if (snapshotFailed.has(r.dataset) && r.sends.length) {
      results.push({ plan: r, ok: false, bytes: 0, sent: [], targetDestroyed: [], error: 'not replicated: the snapshot of this run failed' });
      continue;
    }
    byHost.set(r.hostLabel, [...(byHost.get(r.hostLabel) ?? []), r]);
  }
  await Promise.all(
    [...byHost].map(async ([label, list]) => {
      const dest = ctx.destinations.get(label)!;
      const slots = new Slots(Math.max(1, ctx.concurrency));
      const done = new Map<string, Promise<ReplicationOutcome>>();
      // A nested seed waits for its parent's seed; waiting happens before taking a slot, so no
      // task can hold a slot while it waits for one that has none.
      for (const r of list) {
        const parent = r.after !== undefined ? done.get(r.after) : undefined;
        done.set(
          r.target,
          (async () => {
            if (parent && !(await parent).ok) {
              const error = `not seeded: the replication of its parent ${r.after} failed`;
              ctx.outcome(r.dataset).errors.push(`replication to ${label === 'local' ? '' : label + ':'}${r.target}: ${error}`);
              return { plan: r, ok: false, bytes: 0, sent: [], targetDestroyed: [], error };
            }
            const release = await slots.take();
            try {
              return await replicateOne(r, dest, ctx);
            } finally {
              release();
            }
          })(),
        );
      }
      results.push(...(await Promise.all(done.values())));
    }),
  );
  return results;
}

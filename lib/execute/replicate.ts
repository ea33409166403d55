/**
 * Carries out the replication part of a plan: per destination host in parallel, several datasets
 * at once within the host's channel budget, each dataset's sends in order. After a dataset's
 * sends succeed, the holds move forward on both sides and the destination is pruned.
 */
import { CommandError, errorMessage } from '../errors.js';
import { replicationKey } from '../plan/replication.js';
import type { Plan, ReplicationPlan } from '../plan/types.js';
import type { LocalHost } from '../transport/local.js';
import { transfer } from '../transport/pipe.js';
import { Semaphore } from '../util/semaphore.js';
import type { Zfs } from '../zfs/client.js';
import type { HoldLedger, HoldRecord } from '../state/holds.js';
import { createParentsCommand, holdCommand, receiveAbortCommand, releaseCommand, setPropertyCommand } from '../zfs/commands.js';
import { resumeTokenUnusable } from '../zfs/parse.js';
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
  /** Bytes sent so far of a stream (and its size, where the ZFS could estimate it); null: done. */
  onProgress?: (label: string, bytes: number | null, total: number | null) => void;
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
  const where = replicationKey(r);
  const fail = (why: string) => {
    result.error = `replication to ${where} failed: ${why}`;
    ctx.outcome(r.dataset).errors.push(result.error);
    return result;
  };
  try {
    for (const parent of r.createParents ?? []) {
      // Two seeds under the same new parent create it at the same time: one of them is told it exists.
      const problem = await tolerant(dest, createParentsCommand(parent));
      if (problem && !/already exists/.test(problem)) throw new Error(problem);
    }
    for (const step of r.sends) {
      const total = ctx.onProgress && step.kind !== 'resume' ? await ctx.localZfs.sendSize(step.sendArgv) : null;
      const label = `${r.dataset} → ${where}`;
      const sink = await dest.host.startSink(step.recvArgv);
      const source = ctx.local.startSource(step.sendArgv);
      const t = await transfer(source, sink, {
        idleTimeoutMs: ctx.idleTimeoutMs,
        ...(ctx.onProgress ? { onProgress: (bytes: number) => ctx.onProgress!(label, bytes, total) } : {}),
      });
      ctx.onProgress?.(label, null, null);
      result.bytes += t.bytes;
      if (!t.ok) {
        if (step.kind === 'resume' && resumeTokenUnusable({ sendStderr: t.source.stderr, sendCode: t.source.code, recvStderr: t.sink.stderr, bytes: t.bytes })) {
          // A token that cannot be resumed must not block this destination forever.
          const abort = await tolerant(dest, receiveAbortCommand(r.target));
          return fail(`the interrupted receive cannot be resumed (${t.reason}); ${abort ? `discarding it failed too: ${abort}` : 'its partial state was discarded: the next run starts again from the last common snapshot'}`);
        }
        return fail(`${t.reason ?? 'unknown error'}${step.kind === 'resume' ? ' (the partial receive is kept; the next run resumes it)' : ''}`);
      }
      result.sent.push(...step.delivers);
      ctx.onEvent?.(`${r.dataset} → ${where}: ${step.kind} ${step.from ? `@${step.from} → ` : ''}@${step.to} (${t.bytes} bytes)`);
      if (step.kind === 'full' || step.kind === 'resume') {
        // Mark the copy (a zback on the backup host then leaves it alone) and keep it from being
        // mounted at boot: a mounted copy that anything writes to refuses the next incremental.
        for (const argv of [setPropertyCommand(r.target, ctx.replicaProperty, `${ctx.sourceName}:${r.dataset}`), setPropertyCommand(r.target, 'canmount', 'noauto')]) {
          const problem = await tolerant(dest, argv);
          if (problem) ctx.outcome(r.dataset).notes.push(`could not mark ${where} as a copy: ${problem}`);
        }
      }
    }
  } catch (e) {
    return fail(errorMessage(e));
  }

  // Move the holds forward on each side: hold the new base; only once that worked, release the old.
  const onSource = (snapshot: string): HoldRecord => ({ role: 'source', host: 'local', dataset: r.dataset, snapshot, tag: r.sourceTag });
  const onTarget = (snapshot: string): HoldRecord => ({ role: 'target', host: r.hostLabel, dataset: r.target, snapshot, tag: r.targetTag });
  const problems: string[] = [];
  const note = (p: string | null) => p && problems.push(p);
  const base = r.newCommon ?? (r.status === 'resume' ? undefined : r.common);
  if (base) {
    for (const [zfs, record] of [
      [ctx.localZfs, onSource],
      [dest, onTarget],
    ] as const) {
      const held = await hold(zfs, ctx, record(base));
      note(held);
      if (!held && r.common && r.common !== base) note(await release(zfs, ctx, record(r.common)));
    }
  }
  for (const p of problems) ctx.outcome(r.dataset).errors.push(`hold bookkeeping for ${where}: ${p}`);
  if (r.targetDestroyArgvs.length) {
    const o = ctx.outcome(r.dataset);
    await pruneSnapshots(dest, r.target, r.targetDestroyArgvs, { errors: o.errors, notes: o.notes, destroyed: result.targetDestroyed }, where);
  }
  result.ok = true;
  return result;
}

/** Release the holds the plan found stale (on the source, or on reachable destinations). */
export async function releaseStaleHolds(plan: Plan, ctx: ReplicationContext): Promise<void> {
  for (const h of plan.staleHolds) {
    const zfs = h.host === 'local' ? ctx.localZfs : ctx.destinations.get(h.host);
    if (!zfs) continue;
    const problem = await release(zfs, ctx, h);
    const where = replicationKey({ hostLabel: h.host, target: h.dataset });
    if (!problem) ctx.onEvent?.(`released stale hold ${h.tag} on ${where}@${h.snapshot} (${h.why})`);
    else if (!/does not exist|could not find/.test(problem)) ctx.outcome(h.dataset).notes.push(`could not release stale hold ${h.tag} on ${where}@${h.snapshot}: ${problem}`);
  }
}

export async function executeReplication(plan: Plan, ctx: ReplicationContext): Promise<ReplicationOutcome[]> {
  const results: ReplicationOutcome[] = [];
  const byHost = new Map<string, ReplicationPlan[]>();
  const snapshotFailed = new Set(plan.datasets.filter((d) => d.newSnapshot && ctx.outcome(d.dataset).snapshot !== d.newSnapshot).map((d) => d.dataset));
  for (const r of plan.replications) {
    const where = replicationKey(r);
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
      const slots = new Semaphore(ctx.concurrency);
      const done = new Map<string, Promise<ReplicationOutcome>>();
      let registered!: () => void;
      const allRegistered = new Promise<void>((resolve) => (registered = resolve));
      // A nested seed waits for its parent's seed; waiting happens before taking a slot, so no
      // task can hold a slot while it waits for one that has none. Every target is registered
      // before any task looks up its parent, whatever the order of the list.
      for (const r of list) {
        done.set(
          r.target,
          (async () => {
            await allRegistered;
            const parent = r.after !== undefined ? done.get(r.after) : undefined;
            if (parent && !(await parent).ok) {
              const error = `not seeded: the replication of its parent ${r.after} failed`;
              ctx.outcome(r.dataset).errors.push(`replication to ${replicationKey(r)}: ${error}`);
              return { plan: r, ok: false, bytes: 0, sent: [], targetDestroyed: [], error };
            }
            const release = await slots.acquire();
            try {
              return await replicateOne(r, dest, ctx);
            } finally {
              release();
            }
          })(),
        );
      }
      registered();
      results.push(...(await Promise.all(done.values())));
    }),
  );
  return results;
}

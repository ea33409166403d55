/**
 * Runs plan actions for real: zfs on this machine or on a destination (over its pooled SSH
 * connection), streams through transfer(), and the hold ledger kept in step with the holds.
 */
import type { Action } from '../plan/types.js';
import type { HoldLedger } from '../state/holds.js';
import type { LocalHost } from '../transport/local.js';
import { transfer } from '../transport/pipe.js';
import type { TokenBucket } from '../transport/rate-limit.js';
import type { Zfs } from '../zfs/client.js';
import { createParent, destroySnapshots, hold, holdOrReleaseMany, release } from '../zfs/operations.js';
import { hookedSnapshot } from './hooked-snapshot.js';
import { resumeTokenUnusable } from '../zfs/parse.js';
import type { ActionPorts, ActionResult } from './executor.js';

export interface PortsContext {
  local: LocalHost;
  localZfs: Zfs;
  /** zfs clients of the destination hosts that were reached, by host label. */
  destinations: ReadonlyMap<string, Zfs>;
  ledger: HoldLedger;
  idleTimeoutMs: number;
  /** Bytes sent so far of a stream (and its size, where the ZFS could estimate it); null: done. */
  onProgress?: (label: string, bytes: number | null, total: number | null) => void;
  /** Aborted (a signal): running streams are stopped on both sides. */
  signal?: AbortSignal;
  /** Whether a destination host keeps partial receives (OpenZFS `recv -s`). */
  resumable?: (host: string) => boolean;
  /** The bandwidth limits a send's stream passes through (lib/execute/bandwidth.ts). */
  limits?: (a: Action) => readonly TokenBucket[];
}

export function zfsPorts(ctx: PortsContext): ActionPorts {
  const saved = (change: () => void) => {
    change();
    ctx.ledger.save();
  };
  const zfsOn = (host: string): Zfs => {
    const z = host === 'local' ? ctx.localZfs : ctx.destinations.get(host);
    if (!z) throw new Error(`${host} is not connected in this run`);
    return z;
  };
  return {
    async run(a: Action): Promise<ActionResult> {
      switch (a.op) {
        case 'snapshot': {
          const r = await hookedSnapshot(ctx.localZfs, ctx.local, a, ctx.signal);
          return { ok: r.failed.size === 0 && r.hookFailures.length === 0, taken: r.taken, failed: r.failed, hookFailures: r.hookFailures };
        }
        case 'create-parent':
          await createParent(zfsOn(a.host), a.argv);
          return { ok: true };
        case 'mark-copy':
        case 'abort-receive':
        case 'bookmark':
        case 'unbookmark':
          await zfsOn(a.host).exec(a.argv);
          return { ok: true };
        case 'hold':
          await hold(zfsOn(a.host), a.argv);
          // Written at once: a run killed right after must not leave a hold zback does not know of.
          if (a.record) saved(() => ctx.ledger.add(a.record!));
          return { ok: true };
        case 'release':
          await release(zfsOn(a.host), a.argv);
          if (a.record) saved(() => ctx.ledger.remove(a.record!));
          return { ok: true };
        case 'destroy': {
          const r = await destroySnapshots(zfsOn(a.host), a.target, a.argv);
          return { ok: r.errors.length === 0, destroyed: r.destroyed, withClones: r.withClones, errors: r.errors };
        }
        case 'send':
          return send(a);
      }
    },

    async runBatch(members: readonly Action[]): Promise<Map<string, ActionResult>> {
      const first = members[0]!;
      if (first.op !== 'hold' && first.op !== 'release') throw new Error(`${first.op} is not run in batches`);
      const op = first.op;
      const full = (a: Action) => `${a.target}@${a.snapshots[0]!}`;
      const done = await holdOrReleaseMany(zfsOn(first.host), op, first.tag!, [...new Set(members.map(full))]);
      const out = new Map<string, ActionResult>();
      // The ledger follows ZFS at once, once for the whole batch: a run killed right after must
      // not leave a hold zback does not know of.
      saved(() => {
        for (const a of members) {
          const r = done.get(full(a)) ?? { ok: false as const, error: 'not run' };
          out.set(a.id, r.ok ? { ok: true } : { ok: false, error: r.error });
          if (r.ok && a.record && op === 'hold') ctx.ledger.add(a.record);
          else if (r.ok && a.record) ctx.ledger.remove(a.record);
        }
      });
      return out;
    },
  };

  async function send(a: Action): Promise<ActionResult> {
    const step = a.send!;
    const dest = zfsOn(a.host);
    const label = `${a.dataset} → ${a.replication ?? a.target}`;
    const total = ctx.onProgress && step.kind !== 'resume' ? await ctx.localZfs.sendSize(a.argv) : null;
    const sink = await dest.host.startSink(a.recvArgv!);
    const source = ctx.local.startSource(a.argv);
    // Stopped by a signal: neither zfs send here nor zfs recv there may be left running.
    const stop = () => {
      source.abort();
      sink.abort();
    };
    ctx.signal?.addEventListener('abort', stop, { once: true });
    if (ctx.signal?.aborted) stop();
    const t = await transfer(source, sink, {
      idleTimeoutMs: ctx.idleTimeoutMs,
      ...(ctx.limits ? { limits: ctx.limits(a) } : {}),
      ...(ctx.onProgress ? { onProgress: (bytes: number) => ctx.onProgress!(label, bytes, total) } : {}),
    }).finally(() => ctx.signal?.removeEventListener('abort', stop));
    if (ctx.signal?.aborted && !t.ok)
      return {
        ok: false,
        bytes: t.bytes,
        error: `stopped by ${String(ctx.signal.reason)}${step.kind === 'resume' || ctx.resumable?.(a.host) ? ' (the partial receive is kept; the next run resumes it)' : ''}`,
      };
    ctx.onProgress?.(label, null, null);
    if (t.ok) return { ok: true, bytes: t.bytes };
    const reason = t.reason ?? 'unknown error';
    if (step.kind === 'resume') {
      if (resumeTokenUnusable({ sendStderr: t.source.stderr, sendCode: t.source.code, recvStderr: t.sink.stderr, bytes: t.produced })) {
        return { ok: false, bytes: t.bytes, because: 'resume-token-unusable', error: `the interrupted receive cannot be resumed (${reason})` };
      }
      return { ok: false, bytes: t.bytes, error: `${reason} (the partial receive is kept; the next run resumes it)` };
    }
    return { ok: false, bytes: t.bytes, error: reason };
  }
}

/**
 * Carries a plan out: runs the plan's actions (lib/plan/actions.ts) as stored and nothing else,
 * each once every action it waits for succeeded, phase after phase (snapshot → replicate → prune,
 * SPEC §5). A failure is recorded against the dataset the action serves and never stops the
 * others: what waits for a failed action is skipped, everything else goes on.
 *
 * How an action is run (zfs on which host, streams, the hold ledger) is behind `ActionPorts`, so
 * this engine is tested with a scripted fake and the model of lib/../__tests__.
 */
import { errorMessage } from '../errors.js';
import { isBroken, replicationKey } from '../plan/replication.js';
import type { Action, Phase, Plan, ReplicationPlan } from '../plan/types.js';
import { Semaphore } from '../util/semaphore.js';

export interface HookFailure {
  dataset: string;
  file: string;
  when: 'pre' | 'post';
  /** Whether the dataset's snapshot was taken. */
  taken: boolean;
  reason: string;
}

export interface ActionResult {
  ok: boolean;
  /** Why it failed (zfs's words, or the stream's), without the action's description. */
  error?: string;
  /** A failure of a kind that a plan entry waits for (`onFailure`). */
  because?: 'resume-token-unusable';
  /** snapshot: the datasets that got it (one bad dataset does not cost the others theirs). */
  taken?: string[];
  /** snapshot: the datasets that did not, and why. */
  failed?: ReadonlyMap<string, string>;
  /** snapshot: the hooks that failed around it (lib/execute/hooked-snapshot.ts). */
  hookFailures?: ReadonlyArray<HookFailure>;
  /** destroy: what is gone now. */
  destroyed?: string[];
  /** destroy: kept because they have dependent clones (reported, not a failure). */
  withClones?: string[];
  /** destroy: errors of single snapshots after a batch fell back to one by one. */
  errors?: string[];
  /** send: bytes that went over. */
  bytes?: number;
}

/** Runs one action for real (lib/execute/ports.ts) or on a model (tests). Rejects count as failures. */
export interface ActionPorts {
  run(action: Action): Promise<ActionResult>;
  /**
   * Runs the members of one batch (holds or releases with one tag on one host) as one command;
   * a result for every member. Without it, the members run one by one.
   */
  runBatch?(actions: readonly Action[]): Promise<Map<string, ActionResult>>;
}

/**
 * One failure of a run, as data (lib/report/failures.ts says it in words). `where` is the
 * replication key or the dataset (or host:dataset) acted on; `reason` zfs's or the stream's words.
 */
export type Failure =
  /** What planning found wrong with the dataset (its configuration, a snapshot dated after the clock, an interlock refusal): the whole message. */
  | { kind: 'planning'; dataset: string; reason: string }
  /** A replication that cannot go on in this run: unreachable, diverged, or in error. */
  | { kind: 'broken'; dataset: string; where: string; unreachable: boolean; reason: string }
  | { kind: 'snapshot'; dataset: string; reason: string }
  /** A snapshot hook failed: `pre`, so no snapshot was taken; `post`, after the snapshot (`taken`: it was). */
  | { kind: 'hook'; dataset: string; file: string; when: 'pre' | 'post'; taken: boolean; reason: string }
  /** A send (or the creation of a missing parent) failed; `discarded`: what came of discarding the receive it left. */
  | { kind: 'replication'; dataset: string; where: string; reason: string; discarded?: { ok: true } | { ok: false; reason: string } }
  /** Discarding an unusable interrupted receive failed (its resume's failure was not this run's). */
  | { kind: 'discard'; dataset: string; where: string; reason: string }
  | { kind: 'mark'; dataset: string; where: string; property: string; reason: string }
  | { kind: 'hold'; dataset: string; where: string; reason: string }
  | { kind: 'stale-hold'; dataset: string; where: string; tag: string; snapshot: string; reason: string }
  | { kind: 'prune'; dataset: string; where: string; reason: string }
  | { kind: 'bookmark'; dataset: string; where: string; bookmark: string; made: boolean; reason: string }
  /** A replication not attempted because what it waits for failed (its own failure is reported there). */
  | { kind: 'not-run'; dataset: string; where: string; reason: string };

export interface DatasetOutcome {
  dataset: string;
  failures: Failure[];
  /** Things worth knowing that are not failures (a snapshot kept because it has clones). */
  notes: string[];
  snapshot?: string;
  destroyed: string[];
}

export interface ReplicationOutcome {
  plan: ReplicationPlan;
  ok: boolean;
  bytes: number;
  sent: string[];
  /** Snapshots destroyed on the destination by its retention. */
  targetDestroyed: string[];
  /** Why it did not complete: its failure, or why it was not run. */
  failure?: Failure;
}

export interface RunOutcome {
  datasets: Map<string, DatasetOutcome>;
  replications: ReplicationOutcome[];
  /** Every action's result; absent: it did not run (what it waited for failed). */
  results: Map<string, ActionResult>;
  /** True when nothing failed (including configuration errors found while planning). */
  ok: boolean;
}

export interface ExecuteOptions {
  /** Actions running at once on one host (a destination's channels, or this machine's zfs). */
  concurrency?: (host: string) => number;
  onEvent?: (line: string) => void;
  /** Aborted (a signal): no new action starts; running transfers are aborted by the ports. */
  signal?: AbortSignal;
}

const PHASES: readonly Phase[] = ['snapshot', 'replicate', 'prune'];

function where(a: Action): string {
  return a.replication ?? (a.host === 'local' ? a.target : `${a.host}:${a.target}`);
}

/** The failure of action `a` for its dataset `dataset`, with zfs's (or the stream's) words. */
function failureOf(a: Action, reason: string, dataset = a.dataset): Failure {
  const at = where(a);
  switch (a.op) {
    case 'snapshot':
      return { kind: 'snapshot', dataset, reason };
    case 'create-parent':
    case 'send':
      return { kind: 'replication', dataset, where: at, reason };
    case 'mark-copy':
      return { kind: 'mark', dataset, where: at, property: a.argv[2]!, reason };
    case 'abort-receive':
      return { kind: 'discard', dataset, where: at, reason };
    case 'hold':
    case 'release':
      return a.why.startsWith('stale hold')
        ? { kind: 'stale-hold', dataset, where: at, tag: a.tag!, snapshot: a.snapshots[0]!, reason }
        : { kind: 'hold', dataset, where: at, reason };
    case 'destroy':
      return { kind: 'prune', dataset, where: at, reason };
    case 'bookmark':
    case 'unbookmark':
      return { kind: 'bookmark', dataset, where: at, bookmark: a.bookmark!, made: a.op === 'bookmark', reason };
  }
}

export async function executePlan(plan: Plan, ports: ActionPorts, options: ExecuteOptions = {}): Promise<RunOutcome> {
  const datasets = new Map<string, DatasetOutcome>();
  const outcome = (d: string): DatasetOutcome => {
    let o = datasets.get(d);
    if (!o) datasets.set(d, (o = { dataset: d, failures: [], notes: [], destroyed: [] }));
    return o;
  };
  for (const d of plan.datasets) {
    const o = outcome(d.dataset);
    for (const reason of [...(d.error ? [d.error] : []), ...(d.problems ?? [])]) o.failures.push({ kind: 'planning', dataset: d.dataset, reason });
  }
  for (const r of plan.refused ?? []) outcome(r.dataset).failures.push({ kind: 'planning', dataset: r.dataset, reason: r.message });
  for (const r of plan.replications) {
    if (isBroken(r)) {
      outcome(r.dataset).failures.push({
        kind: 'broken',
        dataset: r.dataset,
        where: replicationKey(r),
        unreachable: r.status === 'unreachable',
        reason: r.message ?? r.status,
      });
    }
  }

  const byId = new Map(plan.actions.map((a) => [a.id, a]));
  const results = new Map<string, ActionResult>();
  const settled = new Map<string, Promise<ActionResult | null>>();
  const slots = new Map<string, Semaphore>();
  const slot = (host: string) => {
    let s = slots.get(host);
    if (!s) slots.set(host, (s = new Semaphore(options.concurrency?.(host) ?? 2)));
    return s;
  };
  /** Whether `dep` succeeded as far as `a` is concerned (a group snapshot: for a's dataset). */
  const satisfied = (a: Action, dep: Action, r: ActionResult | null) => r !== null && (r.ok || (dep.op === 'snapshot' && (r.taken ?? []).includes(a.dataset)));

  /** Whether everything `a` waits for succeeded (a failure of another dataset's action is reported). */
  const conditionsHold = async (a: Action): Promise<boolean> => {
    if (a.onFailure) {
      const r = await start(byId.get(a.onFailure.id)!);
      if (!r || r.ok || r.because !== a.onFailure.because) return false;
    }
    for (const id of a.after) {
      const dep = byId.get(id)!;
      const r = await start(dep);
      if (!satisfied(a, dep, r)) {
        // The failure of a dataset's own action was reported; waiting on another's is news.
        const own = dep.dataset === a.dataset || (dep.datasets ?? []).includes(a.dataset);
        if (!own) outcome(a.dataset).failures.push(failureOf(a, `not run: it waits for ${dep.why} (${dep.dataset}), which did not succeed`));
        return false;
      }
    }
    return true;
  };

  /** Runs `run` in a slot of `host`, unless the run is stopping; null: not run. */
  const inSlot = async <T>(host: string, run: () => Promise<T>): Promise<T | null> => {
    if (options.signal?.aborted) return null; // stopping: no new work
    const release = await slot(host).acquire();
    try {
      return options.signal?.aborted ? null : await run();
    } finally {
      release();
    }
  };

  const runOne = async (a: Action): Promise<ActionResult> => {
    try {
      return await ports.run(a);
    } catch (e) {
      return { ok: false, error: errorMessage(e) };
    }
  };

  /** A batch: once every member's conditions have settled, one command for those whose held. */
  const batchMembers = new Map<string, Action[]>();
  for (const a of plan.actions) if (a.batch) batchMembers.set(a.batch, [...(batchMembers.get(a.batch) ?? []), a]);
  const batchRuns = new Map<string, Promise<Map<string, ActionResult>>>();
  const runBatch = (key: string): Promise<Map<string, ActionResult>> => {
    let p = batchRuns.get(key);
    if (p) return p;
    p = (async () => {
      const members = batchMembers.get(key)!;
      const ready = (await Promise.all(members.map(async (m) => ((await conditionsHold(m)) ? m : null)))).filter((m): m is Action => m !== null);
      const out = new Map<string, ActionResult>();
      if (ready.length === 0) return out;
      const ran = await inSlot(ready[0]!.host, async () => {
        if (ready.length === 1 || !ports.runBatch) {
          for (const m of ready) out.set(m.id, await runOne(m));
          return out;
        }
        try {
          return await ports.runBatch(ready);
        } catch (e) {
          const error = errorMessage(e);
          return new Map(ready.map((m) => [m.id, { ok: false, error }]));
        }
      });
      for (const m of ready) {
        const r = ran?.get(m.id);
        if (!r) continue;
        results.set(m.id, r);
        record(m, r);
      }
      return ran ?? out;
    })();
    batchRuns.set(key, p);
    return p;
  };

  const start = (a: Action): Promise<ActionResult | null> => {
    let p = settled.get(a.id);
    if (p) return p;
    p = (async () => {
      if (a.batch) return (await runBatch(a.batch)).get(a.id) ?? null;
      if (!(await conditionsHold(a))) return null;
      const r = await inSlot(a.host, () => runOne(a));
      if (r === null) return null;
      results.set(a.id, r);
      record(a, r);
      return r;
    })();
    settled.set(a.id, p);
    return p;
  };

  /** The failure each failed action added (an abort that follows a failed resume completes it). */
  const reported = new Map<string, Failure>();
  const record = (a: Action, r: ActionResult) => {
    const o = outcome(a.dataset);
    if (a.op === 'snapshot') {
      for (const d of r.taken ?? []) outcome(d).snapshot = a.snapshots[0]!;
      for (const [d, why] of r.failed ?? new Map<string, string>()) outcome(d).failures.push(failureOf(a, why, d));
      for (const h of r.hookFailures ?? []) outcome(h.dataset).failures.push({ kind: 'hook', ...h });
      if (!r.ok && !r.failed?.size && !r.hookFailures?.length)
        for (const d of a.datasets ?? [a.dataset]) outcome(d).failures.push(failureOf(a, r.error ?? 'unknown error', d));
      return;
    }
    if (a.op === 'destroy') {
      const remote = a.host !== 'local';
      if (!remote) o.destroyed.push(...(r.destroyed ?? []));
      for (const s of r.withClones ?? []) o.notes.push(`kept ${where(a)}@${s}: it has dependent clones (promote or destroy the clone to let it go)`);
      for (const e of r.errors ?? []) o.failures.push(failureOf(a, e));
      if (!r.ok && r.error) o.failures.push(failureOf(a, r.error));
      return;
    }
    if (a.op === 'send' && r.ok && a.send) {
      const s = a.send;
      options.onEvent?.(`${a.dataset} → ${where(a)}: ${s.kind} ${s.from ? `${s.fromBookmark ? '#' : '@'}${s.from} → ` : ''}@${s.to} (${r.bytes ?? 0} bytes)`);
    }
    if (a.op === 'release' && r.ok && a.why.startsWith('stale hold')) options.onEvent?.(`released ${a.tag} on ${where(a)}@${a.snapshots[0]} (${a.why})`);
    if (a.op === 'abort-receive' && a.onFailure) {
      // Said with the failure of the resume, so that one line tells the whole story.
      const resume = reported.get(a.onFailure.id);
      if (resume?.kind === 'replication') resume.discarded = r.ok ? { ok: true } : { ok: false, reason: r.error ?? 'unknown error' };
      else if (r.ok) o.notes.push(`replication to ${where(a)}: its partial state was discarded: the next run starts again from the last common snapshot`);
      else o.failures.push(failureOf(a, r.error ?? 'unknown error'));
      return;
    }
    if (!r.ok) {
      const failure = failureOf(a, r.error ?? 'unknown error');
      reported.set(a.id, failure);
      o.failures.push(failure);
    }
  };

  for (const phase of PHASES) await Promise.all(plan.actions.filter((a) => a.phase === phase).map(start));

  const replications: ReplicationOutcome[] = plan.replications.map((r) => {
    const key = replicationKey(r);
    const mine = plan.actions.filter((a) => a.replication === key && a.dataset === r.dataset);
    const out: ReplicationOutcome = { plan: r, ok: false, bytes: 0, sent: [], targetDestroyed: [] };
    if (isBroken(r)) {
      out.failure = { kind: 'broken', dataset: r.dataset, where: key, unreachable: r.status === 'unreachable', reason: r.message ?? r.status };
      return out;
    }
    const sends = mine.filter((a) => a.op === 'send' || a.op === 'create-parent');
    for (const a of mine) {
      const res = results.get(a.id);
      if (a.op === 'send' && res?.ok) out.sent.push(...a.snapshots);
      if (a.op === 'send') out.bytes += res?.bytes ?? 0;
      if (a.op === 'destroy') out.targetDestroyed.push(...(res?.destroyed ?? []));
    }
    const failed = sends.find((a) => !results.get(a.id)?.ok);
    out.ok = failed === undefined;
    if (failed) {
      const res = results.get(failed.id);
      const reason = res
        ? (res.error ?? 'unknown error')
        : outcome(r.dataset).snapshot === undefined && plan.datasets.find((d) => d.dataset === r.dataset)?.newSnapshot
          ? 'not replicated: the snapshot of this run failed'
          : 'not run: what it waits for did not succeed';
      out.failure = res ? failureOf(failed, reason) : { kind: 'not-run', dataset: r.dataset, where: key, reason };
    }
    return out;
  });

  const ok = [...datasets.values()].every((o) => o.failures.length === 0);
  return { datasets, replications, results, ok };
}

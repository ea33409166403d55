/**
 * The executor runs the plan's actions as stored, each once what it waits for succeeded, and
 * records every failure against its dataset. Tested with scripted ports (no ZFS).
 */
import { describe, expect, test } from '@jest/globals';
import { executePlan, type ActionResult, type RunOutcome } from '../../lib/execute/executor.js';
import { failureText } from '../../lib/report/failures.js';
import type { Action, Plan, ReplicationPlan } from '../../lib/plan/types.js';

let n = 0;
/** A dataset's failures as the run says them (lib/report/failures.ts). */
const lines = (o: RunOutcome, dataset: string) => o.datasets.get(dataset)!.failures.map(failureText);
function act(a: Partial<Action> & Pick<Action, 'op'>): Action {
  const id = `a${++n}`;
  return {
    id,
    phase: 'replicate',
    host: 'local',
    dataset: 'p/a',
    argv: ['zfs', a.op, id],
    target: 'p/a',
    snapshots: ['s'],
    after: [],
    why: `${a.op} ${id}`,
    ...a,
  };
}
function plan(actions: Action[], replications: ReplicationPlan[] = []): Plan {
  return {
    now: 0,
    zone: 'UTC',
    datasets: [{ dataset: 'p/a', zbackSnapshots: 0, foreignSnapshots: 0, latest: null, decisions: [], destroy: [], destroyAfterSend: [] }],
    snapshots: [],
    destroys: [],
    replications,
    staleHolds: [],
    ignored: [],
    actions,
  };
}
/** Ports that answer from a table (default: success) and record the order of the actions they ran. */
function ports(results: Record<string, ActionResult> = {}, delay = 0) {
  const ran: string[] = [];
  let running = 0;
  let most = 0;
  return {
    ran,
    most: () => most,
    ports: {
      async run(a: Action): Promise<ActionResult> {
        running++;
        most = Math.max(most, running);
        await new Promise((r) => setTimeout(r, delay));
        running--;
        ran.push(a.id);
        const r = results[a.id];
        if (r instanceof Error) throw r;
        return r ?? { ok: true };
      },
    },
  };
}

describe('conditions', () => {
  test('an action whose condition failed does not run; a failure of its own dataset is reported once', async () => {
    const send = act({ op: 'send', host: 'bk', replication: 'bk:t' });
    const hold = act({ op: 'hold', after: [send.id], replication: 'bk:t' });
    const other = act({ op: 'destroy', phase: 'prune' });
    const p = ports({ [send.id]: { ok: false, error: 'connection lost' } });
    const o = await executePlan(plan([send, hold, other]), p.ports);
    expect(p.ran).toEqual([send.id, other.id]);
    expect(lines(o, 'p/a')).toEqual(['replication to bk:t failed: connection lost']);
    expect(o.ok).toBe(false);
    expect(o.results.has(hold.id)).toBe(false);
  });

  test("waiting on another dataset's failed action is news for this dataset", async () => {
    const parent = act({ op: 'send', host: 'bk', dataset: 'p/a', replication: 'bk:t' });
    const child = act({ op: 'send', host: 'bk', dataset: 'p/a/b', replication: 'bk:t/b', after: [parent.id] });
    const o = await executePlan(plan([parent, child]), ports({ [parent.id]: { ok: false, error: 'boom' } }).ports);
    expect(lines(o, 'p/a/b')).toEqual([`replication to bk:t/b failed: not run: it waits for ${parent.why} (p/a), which did not succeed`]);
  });

  test('onFailure: runs only when that action failed for that reason', async () => {
    const resume = act({ op: 'send', host: 'bk', replication: 'bk:t' });
    const abort = act({ op: 'abort-receive', host: 'bk', replication: 'bk:t', onFailure: { id: resume.id, because: 'resume-token-unusable' } });
    const ok = await executePlan(plan([resume, abort]), ports().ports);
    expect(ok.results.has(abort.id)).toBe(false);
    const cut = await executePlan(plan([resume, abort]), ports({ [resume.id]: { ok: false, error: 'cut' } }).ports);
    expect(cut.results.has(abort.id)).toBe(false);
    const dead = ports({ [resume.id]: { ok: false, error: 'token unusable', because: 'resume-token-unusable' } });
    const o = await executePlan(plan([resume, abort]), dead.ports);
    expect(dead.ran).toEqual([resume.id, abort.id]);
    expect(lines(o, 'p/a')).toEqual([
      'replication to bk:t failed: token unusable; its partial state was discarded: the next run starts again from the last common snapshot',
    ]);
    const stuck = await executePlan(
      plan([resume, abort]),
      ports({ [resume.id]: { ok: false, error: 'token unusable', because: 'resume-token-unusable' }, [abort.id]: { ok: false, error: 'pool busy' } }).ports,
    );
    expect(lines(stuck, 'p/a')).toEqual(['replication to bk:t failed: token unusable; discarding it failed too: pool busy']);
  });

  test("a group snapshot that worked for one dataset and not another: only the first one's sends run", async () => {
    const snap = act({ op: 'snapshot', phase: 'snapshot', datasets: ['p/a', 'p/b'] });
    const sa = act({ op: 'send', host: 'bk', dataset: 'p/a', after: [snap.id], replication: 'bk:a' });
    const sb = act({ op: 'send', host: 'bk', dataset: 'p/b', after: [snap.id], replication: 'bk:b' });
    const p = ports({ [snap.id]: { ok: false, taken: ['p/a'], failed: new Map([['p/b', 'busy']]) } });
    const o = await executePlan(plan([snap, sa, sb]), p.ports);
    expect(p.ran).toEqual([snap.id, sa.id]);
    expect(o.datasets.get('p/a')!.snapshot).toBe('s');
    expect(lines(o, 'p/b')).toEqual(['snapshot failed: busy']);
  });

  test('a port that throws is a failure of that action, not of the run', async () => {
    const a = act({ op: 'hold', replication: 'bk:t' });
    const b = act({ op: 'destroy', phase: 'prune' });
    const o = await executePlan(plan([a, b]), ports({ [a.id]: new Error('bk is not connected in this run') as unknown as ActionResult }).ports);
    expect(lines(o, 'p/a')).toEqual(['hold bookkeeping for bk:t: bk is not connected in this run']);
    expect(o.results.get(b.id)!.ok).toBe(true);
  });
});

describe('order and concurrency', () => {
  test('phases: snapshot, then replicate, then prune; within a host, at most its concurrency at once', async () => {
    const prune = act({ op: 'destroy', phase: 'prune' });
    const sends = Array.from({ length: 6 }, () => act({ op: 'send', host: 'bk', replication: 'bk:t' }));
    const snap = act({ op: 'snapshot', phase: 'snapshot', datasets: ['p/a'] });
    const p = ports({}, 5);
    await executePlan(plan([prune, ...sends, snap]), p.ports, { concurrency: (h) => (h === 'bk' ? 2 : 1) });
    expect(p.ran[0]).toBe(snap.id);
    expect(p.ran[p.ran.length - 1]).toBe(prune.id);
    expect(p.most()).toBe(2);
  });

  test('destroy results: clones are notes, single errors are errors, what is gone is counted on this machine only', async () => {
    const local = act({ op: 'destroy', phase: 'prune' });
    const remote = act({ op: 'destroy', host: 'bk', target: 't', replication: 'bk:t' });
    const o = await executePlan(
      plan([local, remote]),
      ports({
        [local.id]: { ok: false, destroyed: ['x'], withClones: ['y'], errors: ['busy z'] },
        [remote.id]: { ok: true, destroyed: ['r'] },
      }).ports,
    );
    const d = o.datasets.get('p/a')!;
    expect(d.destroyed).toEqual(['x']);
    expect(d.notes).toEqual(['kept p/a@y: it has dependent clones (promote or destroy the clone to let it go)']);
    expect(d.failures.map(failureText)).toEqual(['prune of p/a failed: busy z']);
  });
});

describe('replication outcomes', () => {
  const r = (status: ReplicationPlan['status']): ReplicationPlan =>
    ({
      dataset: 'p/a',
      destination: 'bk:t|hourly',
      hostLabel: 'bk',
      target: 't',
      status,
      sends: [],
      sourceTag: 'zback:bk:t',
      targetTag: 'zback:replica',
      targetDecisions: [],
      targetDestroy: [],
      targetDestroyArgvs: [],
      copyRetention: '24h',
      message: 'why',
    }) as ReplicationPlan;

  test('sent, bytes and destroyed on the target come from the actions; an unreachable one fails with its message', async () => {
    const s1 = act({ op: 'send', host: 'bk', target: 't', replication: 'bk:t', snapshots: ['1', '2'] });
    const s2 = act({ op: 'send', host: 'bk', target: 't', replication: 'bk:t', snapshots: ['3'], after: [s1.id] });
    const d = act({ op: 'destroy', host: 'bk', target: 't', replication: 'bk:t', snapshots: ['0'], after: [s2.id] });
    const o = await executePlan(
      plan([s1, s2, d], [r('send')]),
      ports({ [s1.id]: { ok: true, bytes: 10 }, [s2.id]: { ok: true, bytes: 5 }, [d.id]: { ok: true, destroyed: ['0'] } }).ports,
    );
    expect(o.replications[0]).toMatchObject({ ok: true, bytes: 15, sent: ['1', '2', '3'], targetDestroyed: ['0'] });
    const down = await executePlan(plan([], [r('unreachable')]), ports().ports);
    expect(down.replications[0]).toMatchObject({ ok: false, failure: { kind: 'broken', dataset: 'p/a', where: 'bk:t', unreachable: true, reason: 'why' } });
    expect(lines(down, 'p/a')).toEqual(['replication to bk:t: unreachable: why']);
  });
});

describe('batches (one zfs hold/release per host and tag)', () => {
  /** Ports with runBatch: records each batch (member ids) it ran, and answers from a table. */
  function batchPorts(results: Record<string, ActionResult> = {}, batchError?: Error) {
    const base = ports(results);
    const batches: string[][] = [];
    return {
      ...base,
      batches,
      ports: {
        ...base.ports,
        async runBatch(members: readonly Action[]): Promise<Map<string, ActionResult>> {
          batches.push(members.map((m) => m.id));
          if (batchError) throw batchError;
          return new Map(members.map((m) => [m.id, results[m.id] ?? { ok: true }]));
        },
      },
    };
  }

  test('members run as one command, once every member has what it waits for; a member whose send failed is left out', async () => {
    const sends = ['x', 'y', 'z'].map((t) => act({ op: 'send', host: 'bk', dataset: `p/${t}`, target: `t/${t}`, replication: `bk:t/${t}` }));
    const holds = sends.map((s) =>
      act({ op: 'hold', host: 'bk', dataset: s.dataset, target: s.target, replication: s.replication, after: [s.id], batch: 'hold bk zback:replica' }),
    );
    const releases = holds.map((h) =>
      act({ op: 'release', host: 'bk', dataset: h.dataset, target: h.target, replication: h.replication, after: [h.id], batch: 'release bk zback:replica' }),
    );
    const p = batchPorts({ [sends[1]!.id]: { ok: false, error: 'cut' } });
    const o = await executePlan(plan([...sends, ...holds, ...releases]), p.ports);
    expect(p.batches).toEqual([
      [holds[0]!.id, holds[2]!.id],
      [releases[0]!.id, releases[2]!.id],
    ]);
    // Only the sends went through run(); the holds and releases only as batches.
    expect(p.ran.sort()).toEqual(sends.map((s) => s.id).sort());
    expect(o.results.has(holds[1]!.id)).toBe(false);
    expect(o.results.has(releases[1]!.id)).toBe(false);
    expect(lines(o, 'p/y')).toEqual(['replication to bk:t/y failed: cut']);
    expect(lines(o, 'p/x')).toEqual([]);
  });

  test('each member has its own result: a member that failed fails only what waits for it', async () => {
    const h1 = act({ op: 'hold', dataset: 'p/x', target: 'p/x', replication: 'bk:t/x', batch: 'h' });
    const h2 = act({ op: 'hold', dataset: 'p/y', target: 'p/y', replication: 'bk:t/y', batch: 'h' });
    const r1 = act({ op: 'release', dataset: 'p/x', target: 'p/x', replication: 'bk:t/x', after: [h1.id], batch: 'r' });
    const r2 = act({ op: 'release', dataset: 'p/y', target: 'p/y', replication: 'bk:t/y', after: [h2.id], batch: 'r' });
    const p = batchPorts({ [h2.id]: { ok: false, error: 'out of space' } });
    const o = await executePlan(plan([h1, h2, r1, r2]), p.ports);
    expect(p.batches).toEqual([[h1.id, h2.id]]);
    expect(p.ran).toEqual([r1.id]); // one member left: its own command
    expect(lines(o, 'p/y')).toEqual(['hold bookkeeping for bk:t/y: out of space']);
    expect(o.results.get(r1.id)!.ok).toBe(true);
  });

  test('a batch whose port throws fails every member; without runBatch the members run one by one', async () => {
    const h1 = act({ op: 'hold', dataset: 'p/x', replication: 'bk:t/x', batch: 'h' });
    const h2 = act({ op: 'hold', dataset: 'p/y', replication: 'bk:t/y', batch: 'h' });
    const broken = await executePlan(plan([h1, h2]), batchPorts({}, new Error('bk is not connected in this run')).ports);
    expect(lines(broken, 'p/x')).toEqual(['hold bookkeeping for bk:t/x: bk is not connected in this run']);
    expect(lines(broken, 'p/y')).toEqual(['hold bookkeeping for bk:t/y: bk is not connected in this run']);
    const plain = ports();
    const o = await executePlan(plan([h1, h2]), plain.ports);
    expect(plain.ran).toEqual([h1.id, h2.id]);
    expect(o.ok).toBe(true);
  });

  test('stopping (a signal) before a batch starts: none of its members runs', async () => {
    const h1 = act({ op: 'hold', dataset: 'p/x', batch: 'h' });
    const h2 = act({ op: 'hold', dataset: 'p/y', batch: 'h' });
    const stop = new AbortController();
    stop.abort('SIGTERM');
    const p = batchPorts();
    const o = await executePlan(plan([h1, h2]), p.ports, { signal: stop.signal });
    expect(p.batches).toEqual([]);
    expect(o.results.size).toBe(0);
  });
});

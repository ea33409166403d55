/**
 * The plan's actions (SPEC §9, "the plan is the whole truth"): every command a run may execute —
 * snapshots, parents, sends, marking copies, holds, releases, destroys, discarding a receive that
 * cannot be resumed — with its argv and the actions it waits for. Built here, from the planner's
 * decisions, and nowhere else: the executor runs these as stored, --dry-run prints them.
 *
 * Conditions, in words:
 * - a dataset's sends wait for its snapshot of this run (when it takes one), a nested seed for its
 *   parent's seed, each send for the one before;
 * - the hold on a new base waits for the last send; the release of the old base for that hold;
 * - a destroy waits for the release of every zback hold on what it destroys, and a snapshot kept
 *   only as the base of a send is destroyed only once that send succeeded;
 * - a stale hold is released only once the hold that replaces it is placed;
 * - a destination's bookmark of its new base waits for the last send; its older bookmark is
 *   destroyed only once the new one is made (SPEC §11);
 * - holds (and releases) with one tag on one host are one batch: one `zfs hold TAG snap…` for
 *   every member whose condition held, so a run of N datasets costs one hold and one release
 *   command per host and tag, not N of each; all holds of a run come before its releases.
 */
import { hooksFor, type SnapshotHook } from '../policy/hooks.js';
import type { ZfsCapabilities } from '../zfs/capabilities.js';
import {
  bookmarkCommand,
  createParentCommand,
  destroyBookmarkCommand,
  destroyCommands,
  holdCommand,
  receiveAbortCommand,
  releaseCommand,
  setPropertyCommand,
} from '../zfs/commands.js';
import { isBroken, replicationKey } from './replication.js';
import type { Action, Plan, ReplicationPlan } from './types.js';
import type { HoldRecord } from '../state/holds.js';
import { copyMarkProperties, DEFAULT_COPY_MARK, type CopyMark } from './copy-mark.js';

export { DEFAULT_COPY_MARK, type CopyMark } from './copy-mark.js';

/** `zfs receive -A` on a replication's target: its interrupted receive is discarded. */
function abortReceive(r: ReplicationPlan, why: string): Omit<Action, 'id'> {
  const target = r.target;
  return {
    host: r.hostLabel,
    dataset: r.dataset,
    replication: replicationKey(r),
    phase: 'replicate',
    op: 'abort-receive',
    argv: receiveAbortCommand(target),
    target,
    snapshots: [],
    after: [],
    why,
  };
}

/** A destroy on this machine, in the prune phase. */
function localDestroy(dataset: string, argv: string[], after: string[], why: string): Omit<Action, 'id'> {
  return { phase: 'prune', op: 'destroy', host: 'local', dataset, argv, target: dataset, snapshots: namesOf(dataset, argv), after, why };
}

/** Replications that send or bookkeep in this run (the others are only reported). */
export function active(r: ReplicationPlan): boolean {
  return !isBroken(r);
}

function sendWhy(r: ReplicationPlan, i: number): string {
  const s = r.sends[i]!;
  const key = replicationKey(r);
  if (s.kind === 'full') return `seed ${key} with @${s.to}`;
  if (s.kind === 'resume') return `resume the interrupted receive on ${key}`;
  return `${s.delivers.length > 1 ? '-I' : '-i'} ${s.fromBookmark ? '#' : '@'}${s.from} → @${s.to} to ${key}`;
}

export function buildActions(
  plan: Omit<Plan, 'actions'>,
  caps: ZfsCapabilities,
  mark: CopyMark = DEFAULT_COPY_MARK,
  hooks: readonly SnapshotHook[] = [],
): Action[] {
  const actions: Action[] = [];
  const push = (a: Omit<Action, 'id'>): string => {
    const id = `a${actions.length + 1}`;
    actions.push({ id, ...a, after: [...a.after] }); // never shared: conditions are added below
    return id;
  };

  const snapshotOf = new Map<string, string>();
  for (const s of plan.snapshots) {
    const around = s.datasets.flatMap((dataset) => hooksFor(dataset, hooks).map((hook) => ({ dataset, hook })));
    const id = push({
      phase: 'snapshot',
      op: 'snapshot',
      host: 'local',
      dataset: s.datasets[0]!,
      argv: s.argv,
      target: s.recursiveRoot ?? s.datasets[0]!,
      datasets: s.datasets,
      snapshots: [s.name],
      after: [],
      why: s.datasets.length > 1 ? `due: ${s.datasets.length} datasets in one atomic command` : 'due',
      ...(around.length ? { hooks: around } : {}),
    });
    for (const d of s.datasets) snapshotOf.set(d, id);
  }

  // Interrupted receives whose token failed zback's check: discarded, never resumed.
  for (const r of plan.replications.filter((x) => x.discardReceive)) {
    push(abortReceive(r, `the resume token on ${replicationKey(r)} failed zback's check: discard the partial receive, never use the token`));
  }

  // Replications: a nested seed after its parent's, so parents come first.
  const lastSend = new Map<ReplicationPlan, string>();
  const holdOf = new Map<string, { source?: string; target?: string }>();
  const depth = (r: ReplicationPlan) => r.target.split('/').length;
  const ordered = plan.replications.filter(active).sort((a, b) => depth(a) - depth(b));
  for (const r of ordered) {
    const key = replicationKey(r);
    const on = { host: r.hostLabel, dataset: r.dataset, replication: key };
    let prev: string[] = [];
    const snap = snapshotOf.get(r.dataset);
    if (snap && r.sends.length) prev.push(snap);
    if (r.after !== undefined) {
      const parent = ordered.find((x) => x.hostLabel === r.hostLabel && x.target === r.after);
      const p = parent && lastSend.get(parent);
      if (p) prev.push(p);
    }
    for (const parent of r.createParents ?? []) {
      prev = [
        push({
          ...on,
          phase: 'replicate',
          op: 'create-parent',
          argv: createParentCommand(parent),
          target: parent,
          snapshots: [],
          after: prev,
          why: `the parent of ${key} is missing`,
        }),
      ];
    }
    r.sends.forEach((step, i) => {
      const id = push({
        ...on,
        phase: 'replicate',
        op: 'send',
        argv: step.sendArgv,
        recvArgv: step.recvArgv,
        target: r.target,
        snapshots: step.delivers,
        send: step,
        ...(r.bwlimit ? { bwlimit: r.bwlimit } : {}),
        after: prev,
        why: sendWhy(r, i),
      });
      prev = [id];
      // A seed's receive sets the copy's marks itself where the destination's ZFS can (`-o`);
      // otherwise, and after a resumed receive (which may be a seed's), they are set one by one.
      if ((step.kind === 'full' && !step.marksInReceive) || step.kind === 'resume') {
        for (const [property, value] of copyMarkProperties(mark, r.dataset, r.copyRetention, r.copySchedule)) {
          const argv = setPropertyCommand(r.target, property, value);
          push({
            ...on,
            phase: 'replicate',
            op: 'mark-copy',
            argv,
            target: r.target,
            snapshots: [],
            after: [id],
            why: `mark ${key} as a copy of ${r.dataset}`,
          });
        }
      }
      if (step.kind === 'resume') {
        const why = `the interrupted receive on ${key} can never be resumed: discard it, or it blocks this destination for ever`;
        push({ ...abortReceive(r, why), onFailure: { id, because: 'resume-token-unusable' } });
      }
    });
    if (r.sends.length) lastSend.set(r, prev[0]!);

    // Move the holds forward on each side: hold the new base; only once that worked, release the old.
    const base = r.newCommon ?? (r.status === 'resume' ? undefined : r.common);
    if (!base) continue;
    const sent = r.sends.length ? [prev[0]!] : [];
    const holds: { source?: string; target?: string } = {};
    // The target may call the common snapshot by another name (renamed there): same guid, its name.
    const onTarget = (s: string) => (s === r.common && r.commonOnTarget ? r.commonOnTarget : s);
    const sides = [
      { side: 'source' as const, host: 'local', dataset: r.dataset, tag: r.sourceTag, name: (s: string) => s },
      // An append-only sink releases nothing, so zback holds nothing there (it keeps the newest).
      ...(r.appendOnlySink ? [] : [{ side: 'target' as const, host: r.hostLabel, dataset: r.target, tag: r.targetTag, name: onTarget }]),
    ];
    for (const side of sides) {
      if (r.baseHeld?.[side.side]) continue; // held by an earlier run, and still the base
      const record = (snapshot: string): HoldRecord => ({
        role: side.side,
        host: side.host,
        dataset: side.dataset,
        snapshot,
        tag: side.tag,
        ...(side.side === 'source'
          ? { destination: { hostLabel: r.hostLabel, target: r.target }, ...(r.datasetGuid ? { datasetGuid: r.datasetGuid } : {}) }
          : {}),
      });
      const hold = push({
        ...on,
        host: side.host,
        phase: 'replicate',
        op: 'hold',
        argv: holdCommand(side.tag, side.dataset, side.name(base)),
        target: side.dataset,
        snapshots: [side.name(base)],
        tag: side.tag,
        record: record(side.name(base)),
        after: sent,
        batch: batchKey('hold', side.host, side.tag),
        why: `protect the base of ${key}`,
      });
      holds[side.side] = hold;
      if (r.common && r.common !== base && !r.oldBaseNotHeld?.[side.side]) {
        push({
          ...on,
          host: side.host,
          phase: 'replicate',
          op: 'release',
          argv: releaseCommand(side.tag, side.dataset, side.name(r.common)),
          target: side.dataset,
          snapshots: [side.name(r.common)],
          tag: side.tag,
          record: record(side.name(r.common)),
          after: [hold],
          batch: batchKey('release', side.host, side.tag),
          why: `@${r.common} is no longer the base of ${key}`,
        });
      }
    }
    holdOf.set(key, holds);
    if (r.bookmark) {
      const b = r.bookmark;
      const local = { ...on, host: 'local', phase: 'replicate' as const, target: r.dataset };
      const made = b.create
        ? [
            push({
              ...local,
              op: 'bookmark',
              argv: bookmarkCommand(r.dataset, b.create.snapshot, b.create.name),
              snapshots: [b.create.snapshot],
              bookmark: b.create.name,
              after: sent,
              why: `bookmark the base of ${key}: should @${b.create.snapshot} be destroyed, the next send starts there`,
            }),
          ]
        : sent;
      for (const old of b.remove) {
        push({
          ...local,
          op: 'unbookmark',
          argv: destroyBookmarkCommand(r.dataset, old),
          snapshots: [],
          bookmark: old,
          after: made,
          why: `${key}'s older bookmark, replaced by #${b.create?.name ?? b.current}`,
        });
      }
    }
    for (const argv of r.targetDestroyArgvs) {
      const names = namesOf(r.target, argv);
      push({
        ...on,
        phase: 'replicate',
        op: 'destroy',
        argv,
        target: r.target,
        snapshots: names,
        after: sent,
        why: `${key}'s retention keeps them by no rule`,
      });
    }
  }

  // Stale holds: released once the hold that replaces them is placed.
  const appendOnly = new Set(plan.replications.filter((r) => r.appendOnlySink).map((r) => r.hostLabel));
  // A tag is shared by the children that inherit a destination, so a stale record (a child renamed,
  // a destination moved) can name the very hold this plan places or keeps as a base: releasing it
  // would run after that hold and take it away. Such a hold is not stale; it is not released.
  const holdKey = (host: string, dataset: string, snapshot: string, tag: string) => `${host}\0${dataset}@${snapshot}\0${tag}`;
  const needed = new Set<string>();
  for (const a of actions) if (a.op === 'hold' && a.tag) for (const s of a.snapshots ?? []) needed.add(holdKey(a.host, a.target ?? a.dataset ?? '', s, a.tag));
  for (const r of plan.replications) {
    if (r.baseHeld?.source && r.common) needed.add(holdKey('local', r.dataset, r.common, r.sourceTag));
    if (r.baseHeld?.target && r.common) needed.add(holdKey(r.hostLabel, r.target, r.commonOnTarget ?? r.common, r.targetTag));
  }
  for (const h of plan.staleHolds) {
    if (h.role === 'target' && appendOnly.has(h.host)) continue; // it would be refused: kept, and recorded
    if (needed.has(holdKey(h.host, h.dataset, h.snapshot, h.tag))) continue;
    const replacing = h.replication ? holdOf.get(h.replication)?.[h.role] : undefined;
    if (h.replication && !replacing) continue; // the replacing hold is not planned: keep this one
    push({
      phase: 'replicate',
      op: 'release',
      host: h.host,
      dataset: h.role === 'source' ? h.dataset : (plan.replications.find((r) => replicationKey(r) === h.replication)?.dataset ?? h.dataset),
      ...(h.replication ? { replication: h.replication } : {}),
      argv: releaseCommand(h.tag, h.dataset, h.snapshot),
      target: h.dataset,
      snapshots: [h.snapshot],
      tag: h.tag,
      record: { role: h.role, host: h.host, dataset: h.dataset, snapshot: h.snapshot, tag: h.tag, ...(h.destination ? { destination: h.destination } : {}) },
      after: replacing ? [replacing] : [],
      batch: batchKey('release', h.host, h.tag),
      why: `stale hold: ${h.why}`,
    });
  }

  // Pruning on this machine.
  const byKey = new Map(plan.replications.map((r) => [replicationKey(r), r]));
  for (const d of plan.datasets) {
    if (d.error) continue;
    const snap = snapshotOf.get(d.dataset);
    const first = snap ? [snap] : [];
    for (const a of plan.destroys.filter((x) => x.dataset === d.dataset)) {
      for (const argv of a.argvs) push(localDestroy(d.dataset, argv, first, 'kept by no rule'));
    }
    const groups = new Map<string, string[]>();
    for (const x of d.destroyAfterSend) {
      const k = JSON.stringify([...x.after].sort());
      groups.set(k, [...(groups.get(k) ?? []), x.name]);
    }
    for (const [k, names] of groups) {
      const keys = JSON.parse(k) as string[];
      const sends = keys.map((key) => {
        const r = byKey.get(key);
        return r && r.dataset === d.dataset ? lastSend.get(r) : undefined;
      });
      // A condition that can never hold (the send it waits for is not planned): keep them.
      if (keys.length === 0 || sends.some((s) => s === undefined)) continue;
      const why = `no longer a base once the send to ${keys.join(', ')} succeeded`;
      for (const argv of destroyCommands(d.dataset, names, caps)) push(localDestroy(d.dataset, argv, [...first, ...(sends as string[])], why));
    }
  }

  // A destroy waits for the release of every zback hold on what it destroys (a held snapshot
  // cannot be destroyed), wherever in the plan that release is.
  // (Releases indexed by host and dataset: a scan of every pair was quadratic, 16 s at 1,000 datasets.)
  const releases = new Map<string, Action[]>();
  const at = (a: Action) => JSON.stringify([a.host, a.target]);
  for (const r of actions) if (r.op === 'release') releases.set(at(r), [...(releases.get(at(r)) ?? []), r]);
  for (const a of actions) {
    if (a.op !== 'destroy') continue;
    for (const r of releases.get(at(a)) ?? []) {
      if (r.snapshots.some((s) => a.snapshots.includes(s)) && !a.after.includes(r.id)) a.after.push(r.id);
    }
  }
  assertAcyclic(actions);
  return actions;
}

/** One command per host, operation and tag: ZFS holds and releases many snapshots in one (SPEC §7). */
function batchKey(op: 'hold' | 'release', host: string, tag: string): string {
  return JSON.stringify([op, host, tag]);
}

/**
 * A plan whose conditions wait on each other in a circle would never end: refuse to build it. A
 * batch runs once all its members' conditions have settled, so each member waits, in effect, for
 * what every other member of its batch waits for.
 */
function assertAcyclic(actions: readonly Action[]): void {
  const byId = new Map(actions.map((a) => [a.id, a]));
  const batchWaits = new Map<string, string[]>();
  for (const a of actions) if (a.batch) batchWaits.set(a.batch, [...(batchWaits.get(a.batch) ?? []), ...a.after]);
  const state = new Map<string, 'open' | 'done'>();
  const visit = (a: Action, path: string[]) => {
    const s = state.get(a.id);
    if (s === 'done') return;
    if (s === 'open') throw new Error(`the plan's conditions wait in a circle: ${[...path, a.id].join(' → ')}`);
    state.set(a.id, 'open');
    for (const id of [...(a.batch ? batchWaits.get(a.batch)! : a.after), ...(a.onFailure ? [a.onFailure.id] : [])]) {
      const dep = byId.get(id);
      if (!dep) throw new Error(`${a.id} waits for ${id}, which is not in the plan`);
      visit(dep, [...path, a.id]);
    }
    state.set(a.id, 'done');
  };
  for (const a of actions) visit(a, []);
}

/** The snapshot names (after "@") a `zfs destroy ds@a,b` names. */
export function namesOf(dataset: string, argv: readonly string[]): string[] {
  return argv[argv.length - 1]!.slice(dataset.length + 1).split(',');
}

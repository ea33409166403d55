/**
 * Model-based property test of the chain's safety (SPEC §9), no ZFS: a model of a source host and
 * a backup host — snapshots with guids and creation order, holds by tag, pools that can be
 * exported, a target that can be renamed away or replaced — and random sequences of events: runs
 * at random times, the backup host down, its pool exported and imported, the target renamed away
 * and back or replaced by an unrelated dataset, the destination re-spelled, retention changed,
 * hand-made snapshots, user holds, sends failing midway. Every run is planned by the real planner,
 * checked by the real interlock, carried out by the real executor against the model, and recorded
 * by the real state recorder; then these must hold:
 *
 *  1. the base of the configured, once-seeded destination exists on both sides (the copy, wherever
 *     it is now, still shares a snapshot with the source);
 *  2. nothing foreign, held by a user, or newest is ever destroyed (the model refuses and records it);
 *  3. source and copy agree on the guid of every snapshot they both have;
 *  4. when the destination is back (up, pool imported, target in place) the run succeeds and sends
 *     incrementally: a copy that was seeded is never seeded again;
 *  5. with a second destination (another target, a daily schedule), all of this holds for it too:
 *     one destination's bookkeeping never cuts the other's chain;
 *  6. on OpenZFS, a base destroyed by hand (its holds released first, as a person would) that zback
 *     had bookmarked does not cut the chain: the copy shares that bookmark's guid, the next run
 *     sends from the bookmark, and zback never destroys a bookmark that is not its own (SPEC §11).
 *
 * Seeded and reproducible: ZBACK_MODEL_SEED and ZBACK_MODEL_RUNS override; a failure prints the
 * shrunk sequence of events.
 */
import { expect, test } from '@jest/globals';
import fc from 'fast-check';
import { historyOf } from '../../lib/execute/discover.js';
import { executePlan, type ActionPorts, type ActionResult } from '../../lib/execute/executor.js';
import { recordRun } from '../../lib/execute/record.js';
import { failureText } from '../../lib/report/failures.js';
import { buildPlan } from '../../lib/plan/planner.js';
import type { DestinationState } from '../../lib/plan/replication.js';
import type { Action } from '../../lib/plan/types.js';
import { Calendar } from '../../lib/policy/calendar.js';
import { NameFormat } from '../../lib/policy/snapshot-names.js';
import { propertyNames, resolveConfigs } from '../../lib/policy/properties.js';
import { applyRefusals, checkPlan } from '../../lib/safety/interlock.js';
import { HoldLedger } from '../../lib/state/holds.js';
import { STATE_VERSION, type RunState } from '../../lib/state/run-state.js';
import { capabilitiesFor, LEGACY_CAPABILITIES, type ZfsCapabilities } from '../../lib/zfs/capabilities.js';
import type { DatasetInfo, Inventory, PropertyRow } from '../../lib/zfs/parse.js';
import { isZbackBookmark } from '../../lib/plan/bookmarks.js';

const SOURCE = 'tank/d';
const TARGET = 'bpool/c';
/** The second destination (when the world has one): never renamed or replaced, daily. */
const TARGET2 = 'bpool/c2';
const names = new NameFormat();
const cal = new Calendar('UTC');
const N = propertyNames('org.wit');

type Event =
  | { kind: 'run'; hours: number }
  | { kind: 'down' }
  | { kind: 'up' }
  | { kind: 'export' }
  | { kind: 'import' }
  | { kind: 'rename-away' }
  | { kind: 'rename-back' }
  | { kind: 'replace' }
  | { kind: 'respell'; label: string }
  | { kind: 'retention'; source: string; destination: string | null }
  | { kind: 'hand-made'; foreign: boolean }
  | { kind: 'future'; years: number }
  | { kind: 'user-hold'; pick: number }
  | { kind: 'user-release' }
  | { kind: 'fail-next-send'; afterBytes: boolean }
  /** A person releases the holds on the source's base of a destination and destroys it (OpenZFS: where zback bookmarked it). */
  | { kind: 'destroy-base'; second: boolean }
  /** A person bookmarks the newest source snapshot (zback must leave it alone). */
  | { kind: 'hand-bookmark' }
  /** What zpool get says of the backup pool: every feature, an old pool's few, or nothing (it failed). */
  | { kind: 'features'; pool: 'new' | 'old' | 'unknown' };

const events: fc.Arbitrary<Event> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ kind: fc.constant('run' as const), hours: fc.integer({ min: 1, max: 30 }) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'down' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'up' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'export' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'import' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'rename-away' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'rename-back' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'replace' as const }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('respell' as const), label: fc.constantFrom('bk', 'root@bk', 'bk:22', 'root@BK:22') }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('retention' as const),
      source: fc.constantFrom('3h', '1h', '6h2d', '1d', '24h7d', '2h1d1w'),
      destination: fc.constantFrom(null, '1h', '2d', '48h7d'),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('hand-made' as const), foreign: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('future' as const), years: fc.integer({ min: 1, max: 30 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('user-hold' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'user-release' as const }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('fail-next-send' as const), afterBytes: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('features' as const), pool: fc.constantFrom('new' as const, 'old' as const, 'unknown' as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('destroy-base' as const), second: fc.boolean() }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'hand-bookmark' as const }) },
);

interface Snap {
  name: string;
  guid: string;
  txg: number;
  holds: Set<string>;
}
interface Dataset {
  snaps: Snap[];
}
interface Bookmark {
  name: string;
  guid: string;
  txg: number;
}

/** Two hosts' ZFS, as far as zback can tell. */
class World {
  txg = 1;
  guids = 0;
  now = Date.parse('2026-03-01T00:00:00Z');
  source: Dataset = { snaps: [] };
  /** The source's bookmarks (OpenZFS). */
  bookmarks: Bookmark[] = [];
  handBookmarks = 0;
  /** Backup host: datasets by name (a pool's datasets stay in the map while it is exported). */
  backup = new Map<string, Dataset>([['bpool', { snaps: [] }]]);
  up = true;
  imported = true;
  /** The dataset that carries the chain (the real copy), wherever it was renamed to. */
  copyName: string | null = null;
  seeded = false;
  /** The second destination's copy was seeded (it stays at TARGET2). */
  seeded2 = false;
  label = 'bk';
  retention = '6h';
  destRetention: string | null = null;
  failNext: null | { afterBytes: boolean } = null;
  ledger = new HoldLedger(null);
  state: RunState = { version: STATE_VERSION, datasets: {} };
  violations: string[] = [];
  userHeld: Snap | null = null;
  handMade = 0;
  features: 'new' | 'old' | 'unknown' = 'new';
  /** Datasets on the backup host that hold large blocks (received with -L): ZFS wants -L for each later incremental. */
  largeBlocks = new Set<string>();

  constructor(
    readonly caps: ZfsCapabilities,
    readonly second = false,
  ) {}

  snap(name: string): Snap {
    return { name, guid: `g${++this.guids}`, txg: ++this.txg, holds: new Set() };
  }
  visible(name: string): Dataset | undefined {
    if (!this.imported || !(name === 'bpool' || name.startsWith('bpool/'))) return undefined;
    return this.backup.get(name);
  }
  info(name: string, d: Dataset): DatasetInfo {
    return {
      name,
      guid: `ds:${name}`,
      createtxg: 1,
      snapshots: d.snaps.map((s) => ({ name: s.name, guid: s.guid, createtxg: s.txg, userrefs: s.holds.size })),
      ...(d === this.source && this.caps.openzfs ? { bookmarks: this.bookmarks.map((b) => ({ name: b.name, guid: b.guid, createtxg: b.txg })) } : {}),
      // OpenZFS says whether a dataset is encrypted (zback sends nothing it cannot tell): not these.
      ...(this.caps.encryption ? { encryption: 'off' } : {}),
    };
  }
  destinationState(): DestinationState {
    if (!this.up) return { label: this.label, reachable: false, error: 'connect ETIMEDOUT' };
    const inventory: Inventory = new Map();
    const datasets = new Set<string>();
    for (const [name, d] of this.backup) {
      if (!this.visible(name)) continue;
      datasets.add(name);
      inventory.set(name, this.info(name, d));
    }
    const pool =
      this.features === 'new'
        ? new Map(['large_blocks', 'embedded_data', 'lz4_compress', 'zstd_compress'].map((f) => [f, 'enabled']))
        : new Map([
            ['large_blocks', 'disabled'],
            ['lz4_compress', 'enabled'],
          ]);
    return {
      label: this.label,
      reachable: true,
      caps: this.caps,
      datasets,
      inventory,
      ...(this.features === 'unknown' ? {} : { features: new Map([['bpool', pool]]) }),
    };
  }
  rows(): PropertyRow[] {
    const dest = `${this.label}:${TARGET}|hourly${this.destRetention ? `|${this.destRetention}` : ''}` + (this.second ? `,${this.label}:${TARGET2}|daily` : '');
    return Object.entries({ snapshot: 'yes', retention: this.retention, destinations: dest }).map(([k, v]) => ({
      name: SOURCE,
      property: `org.wit:${k}`,
      value: v,
      source: 'local',
    }));
  }

  /** The plan's actions, carried out on the model with ZFS's rules. */
  ports(): ActionPorts {
    const fail = (error: string): ActionResult => ({ ok: false, error });
    const onHost = (a: Action) => (a.host === 'local' ? true : this.up);
    return {
      run: async (a: Action): Promise<ActionResult> => {
        if (!onHost(a)) return fail('connection lost');
        switch (a.op) {
          case 'snapshot': {
            for (const d of a.datasets ?? [a.target]) if (d === SOURCE) this.source.snaps.push(this.snap(a.snapshots[0]!));
            return { ok: true, taken: a.datasets ?? [a.target] };
          }
          case 'create-parent': {
            if (!this.visible('bpool')) return fail(`cannot create '${a.target}': missing dataset name`);
            if (!this.backup.has(a.target)) this.backup.set(a.target, { snaps: [] });
            return { ok: true };
          }
          case 'mark-copy':
            return this.visible(a.target) ? { ok: true } : fail('dataset does not exist');
          case 'abort-receive':
            return { ok: true };
          case 'bookmark': {
            const s = this.source.snaps.find((x) => x.name === a.snapshots[0]);
            if (!s) return fail(`cannot bookmark '${SOURCE}@${a.snapshots[0]}': dataset does not exist`);
            if (this.bookmarks.some((b) => b.name === a.bookmark)) return fail(`cannot create bookmark '${SOURCE}#${a.bookmark}': bookmark exists`);
            this.bookmarks.push({ name: a.bookmark!, guid: s.guid, txg: s.txg });
            return { ok: true };
          }
          case 'unbookmark': {
            const b = this.bookmarks.find((x) => x.name === a.bookmark);
            if (!b) return fail(`cannot destroy '${SOURCE}#${a.bookmark}': bookmark does not exist`);
            if (!isZbackBookmark(b.name)) this.violations.push(`destroyed a bookmark that is not zback's: #${b.name}`);
            this.bookmarks.splice(this.bookmarks.indexOf(b), 1);
            return { ok: true };
          }
          case 'send':
            return this.send(a);
          case 'hold':
          case 'release': {
            const d = a.host === 'local' ? this.source : this.visible(a.target);
            const s = d?.snaps.find((x) => x.name === a.snapshots[0]);
            if (!s) return a.op === 'release' ? { ok: true } : fail(`cannot hold snapshot: dataset does not exist`);
            if (a.op === 'hold') s.holds.add(a.tag!);
            else s.holds.delete(a.tag!);
            if (a.record && a.op === 'hold') this.ledger.add(a.record);
            else if (a.record) this.ledger.remove(a.record);
            return { ok: true };
          }
          case 'destroy': {
            const d = a.host === 'local' ? this.source : this.visible(a.target);
            if (!d) return fail('dataset does not exist');
            const destroyed: string[] = [];
            const errors: string[] = [];
            for (const name of a.snapshots) {
              const s = d.snaps.find((x) => x.name === name);
              if (!s) {
                errors.push(`cannot open '${a.target}@${name}': dataset does not exist`);
                continue;
              }
              const where = `${a.host}:${a.target}@${name}`;
              if (names.parse(name) === null) this.violations.push(`destroyed a foreign snapshot ${where}`);
              const newest = d.snaps.filter((x) => names.parse(x.name) !== null).reduce((m, x) => (names.parse(x.name)! > names.parse(m.name)! ? x : m), s);
              if (newest === s) this.violations.push(`destroyed the newest zback snapshot ${where}`);
              if ([...s.holds].some((t) => !t.startsWith('zback:'))) this.violations.push(`destroyed a snapshot held by a user: ${where}`);
              if (s.holds.size > 0) {
                errors.push(`cannot destroy '${a.target}@${name}': dataset is busy`);
                continue;
              }
              d.snaps.splice(d.snaps.indexOf(s), 1);
              destroyed.push(name);
            }
            return { ok: errors.length === 0, destroyed, errors };
          }
        }
      },
    };
  }

  send(a: Action): ActionResult {
    const step = a.send!;
    if (this.failNext) {
      const partial = this.failNext.afterBytes;
      this.failNext = null;
      // Cut after some bytes: of an -I stream, what was received before the cut stays (each
      // snapshot of the stream is committed as it arrives).
      const target = this.visible(a.target);
      if (partial && step.kind === 'incremental' && step.delivers.length > 1 && target) {
        const first = this.source.snaps.find((s) => s.name === step.delivers[0]);
        const last = target.snaps[target.snaps.length - 1];
        const from = this.source.snaps.find((s) => s.name === step.from);
        if (first && last && from && last.guid === from.guid) target.snaps.push({ name: first.name, guid: first.guid, txg: ++this.txg, holds: new Set() });
      }
      return { ok: false, bytes: partial ? 1000 : 0, error: partial ? 'connection lost after 1000 bytes' : 'exit 1: cannot receive' };
    }
    const at = (name: string) => this.source.snaps.findIndex((s) => s.name === name);
    const target = this.visible(a.target);
    const copyOf = (s: Snap): Snap => ({ name: s.name, guid: s.guid, txg: ++this.txg, holds: new Set() });
    if (step.kind === 'full') {
      if (target) return { ok: false, error: `destination '${a.target}' exists` };
      const parent = a.target.slice(0, a.target.lastIndexOf('/'));
      if (!this.visible(parent)) return { ok: false, error: `cannot receive: parent does not exist` };
      const s = this.source.snaps[at(step.to)];
      if (!s) return { ok: false, error: 'source snapshot does not exist' };
      if (a.target === TARGET2) {
        if (this.seeded2) this.violations.push(`seeded ${a.target} again`);
        this.seeded2 = true;
      } else {
        if (this.seeded) this.violations.push(`seeded ${a.target} again although the copy at ${this.copyName} was seeded before`);
        this.copyName = a.target;
        this.seeded = true;
      }
      this.backup.set(a.target, { snaps: [copyOf(s)] });
      if (a.argv.includes('-L')) this.largeBlocks.add(a.target);
      return { ok: true, bytes: 100 };
    }
    if (!target) return { ok: false, error: `destination '${a.target}' does not exist` };
    const from = step.fromBookmark ? this.bookmarks.find((b) => b.name === step.from) : this.source.snaps[at(step.from!)];
    const to = this.source.snaps[at(step.to)];
    if (!from || !to) return { ok: false, error: 'incremental source or target does not exist' };
    const last = target.snaps[target.snaps.length - 1];
    if (!last || last.guid !== from.guid) return { ok: false, error: 'most recent snapshot of the destination does not match incremental source' };
    if (this.largeBlocks.has(a.target) && !a.argv.includes('-L')) {
      this.violations.push(`sent to ${a.target}, seeded with -L, without -L: ${a.argv.join(' ')}`);
      return { ok: false, error: 'incremental send stream requires -L (--large-block), to match previous receive.' };
    }
    const delivered = step.delivers.length > 1 ? this.source.snaps.slice(at(step.from!) + 1, at(step.to) + 1) : [to];
    target.snaps.push(...delivered.map(copyOf));
    return { ok: true, bytes: 10 * delivered.length };
  }

  /** The copy that carries the chain, wherever it is now (renamed, or on an exported pool). */
  copy(): Dataset | undefined {
    return this.copyName ? this.backup.get(this.copyName) : undefined;
  }

  async run(): Promise<{ normal: boolean; normal2: boolean; outcome: Awaited<ReturnType<typeof executePlan>>; plan: ReturnType<typeof buildPlan> }> {
    const configs = resolveConfigs(this.rows(), N);
    const inventory: Inventory = new Map([[SOURCE, this.info(SOURCE, this.source)]]);
    const destinations = new Map([[this.label, this.destinationState()]]);
    const holds = this.ledger.all();
    const history = historyOf(this.state);
    const planned = buildPlan({
      configs,
      inventory,
      caps: this.caps,
      now: this.now,
      calendar: cal,
      names,
      destinations,
      holds,
      history,
      localDatasets: new Set(['tank', SOURCE]),
      localFeatures: new Map([['tank', new Map([['bookmarks', 'enabled']])]]),
    });
    const refusals = checkPlan({ actions: planned.actions, configs, inventory, destinations, holds, replicated: history.replicated, names });
    // The planner and the interlock agree: a refusal is a loud failure for the operator.
    if (refusals.length) this.violations.push(`interlock refused the planner's plan: ${refusals.map((r) => r.message).join(' | ')}`);
    const plan = applyRefusals(planned, refusals);
    const normal = this.up && this.imported && this.copyName === TARGET && this.failNext === null;
    const normal2 = this.up && this.imported && this.failNext === null;
    const outcome = await executePlan(plan, this.ports());
    this.failNext = null; // a failure injected for this run only
    this.state = recordRun(this.state, plan, outcome, outcome.replications, names, {
      started: this.now,
      finished: this.now,
      exitCode: outcome.ok ? 0 : 1,
      host: 'model',
    });
    return { normal, normal2, outcome, plan };
  }

  check(after: string): void {
    this.checkCopy(after, this.seeded, this.copy());
    if (this.second) this.checkCopy(`${after} (${TARGET2})`, this.seeded2, this.backup.get(TARGET2));
  }

  checkCopy(after: string, seeded: boolean, copy: Dataset | undefined): void {
    if (seeded && copy) {
      const guids = new Set(copy.snaps.map((s) => s.guid));
      if (!this.source.snaps.some((s) => guids.has(s.guid)) && !this.bookmarks.some((b) => guids.has(b.guid)))
        this.violations.push(`${after}: the copy shares no snapshot or bookmark with the source any more (chain cut)`);
      for (const s of copy.snaps) {
        const same = this.source.snaps.find((x) => x.name === s.name);
        if (same && same.guid !== s.guid) this.violations.push(`${after}: ${s.name} has guid ${same.guid} here and ${s.guid} on the copy`);
      }
    }
    if (seeded && !copy) this.violations.push(`${after}: the copy is gone`);
  }
}

/** The run replicated to `target` (found by it in the plan, its result in the outcome), or why not. */
function replicatedTo(target: string, plan: ReturnType<typeof buildPlan>, outcome: Awaited<ReturnType<typeof executePlan>>): string | null {
  const r = plan.replications.find((x) => x.target === target);
  if (!r) return `no replication to ${target} in the plan`;
  const done = outcome.replications.find((x) => x.plan === r);
  if (['send', 'up-to-date', 'not-due'].includes(r.status) && done?.ok) return null;
  return `${target}: ${r.status} ${r.message ?? (done?.failure ? failureText(done.failure) : '')}`;
}

async function simulate(sequence: readonly Event[], caps: ZfsCapabilities, second = false): Promise<void> {
  const w = new World(caps, second);
  let step = 0;
  for (const e of sequence) {
    step++;
    const tag = `step ${step} (${JSON.stringify(e)})`;
    switch (e.kind) {
      case 'run': {
        w.now += e.hours * 3_600_000;
        const before = w.source.snaps.length;
        const { normal, normal2, outcome, plan } = await w.run();
        // Snapshots never stop: after 1 h or more the hourly or daily schedule may be due; with
        // retention in hours it always is.
        if (
          /^\d+h$/.test(w.retention) &&
          e.hours >= 1 &&
          !w.source.snaps.slice(before).length &&
          !w.source.snaps.some((s) => s.name === names.nameFor(w.now))
        ) {
          w.violations.push(`${tag}: no snapshot was taken although one was due`);
        }
        const held = w.source.snaps.some((s) => [...s.holds].some((t) => !t.startsWith('zback:')));
        const why = normal && w.seeded ? replicatedTo(TARGET, plan, outcome) : null;
        if (why) w.violations.push(`${tag}: the destination is back but the run did not replicate: ${why}${held ? ' (a user hold is set)' : ''}`);
        const why2 = second && normal2 && w.seeded2 ? replicatedTo(TARGET2, plan, outcome) : null;
        if (why2) w.violations.push(`${tag}: the second destination is there but the run did not replicate: ${why2}${held ? ' (a user hold is set)' : ''}`);
        break;
      }
      case 'down':
        w.up = false;
        break;
      case 'up':
        w.up = true;
        break;
      case 'export':
        w.imported = false;
        break;
      case 'import':
        w.imported = true;
        break;
      case 'rename-away': {
        const d = w.backup.get(TARGET);
        if (d && w.imported && !w.backup.has(`${TARGET}.away`)) {
          w.backup.delete(TARGET);
          w.backup.set(`${TARGET}.away`, d);
          if (w.copyName === TARGET) w.copyName = `${TARGET}.away`;
        }
        break;
      }
      case 'rename-back': {
        const d = w.backup.get(`${TARGET}.away`);
        if (d && w.imported && !w.backup.has(TARGET)) {
          w.backup.delete(`${TARGET}.away`);
          w.backup.set(TARGET, d);
          if (w.copyName === `${TARGET}.away`) w.copyName = TARGET;
        }
        break;
      }
      case 'replace': {
        // The copy moved aside and an unrelated dataset put in its place (with a zback-like name).
        if (w.imported && w.backup.has(TARGET) && !w.backup.has(`${TARGET}.away`)) {
          w.backup.set(`${TARGET}.away`, w.backup.get(TARGET)!);
          if (w.copyName === TARGET) w.copyName = `${TARGET}.away`;
          w.backup.set(TARGET, { snaps: [w.snap(names.nameFor(w.now - 1800_000))] });
        }
        break;
      }
      case 'features':
        w.features = e.pool;
        break;
      case 'destroy-base': {
        // The newest snapshot a copy has too, if zback bookmarked it: its holds released by hand, then destroyed.
        const copy = e.second && second ? w.backup.get(TARGET2) : w.copy();
        const guids = new Set(copy?.snaps.map((s) => s.guid) ?? []);
        const base = [...w.source.snaps].reverse().find((s) => guids.has(s.guid));
        if (base && w.bookmarks.some((b) => b.guid === base.guid && isZbackBookmark(b.name))) {
          if (w.userHeld === base) w.userHeld = null;
          w.source.snaps.splice(w.source.snaps.indexOf(base), 1);
        }
        break;
      }
      case 'hand-bookmark': {
        const newest = w.source.snaps[w.source.snaps.length - 1];
        if (newest && w.caps.openzfs) w.bookmarks.push({ name: `by-hand-${++w.handBookmarks}`, guid: newest.guid, txg: newest.txg });
        break;
      }
      case 'respell':
        w.label = e.label;
        break;
      case 'retention':
        w.retention = e.source;
        w.destRetention = e.destination;
        break;
      case 'hand-made':
        {
          // A name that exists already is refused by ZFS ("dataset already exists").
          const name = e.foreign ? `manual-${++w.handMade}` : names.nameFor(w.now - 90 * 60_000);
          if (!w.source.snaps.some((s) => s.name === name)) w.source.snaps.push(w.snap(name));
        }
        break;
      case 'future': {
        // A zback name dated years ahead (a clock that jumped): it must change nothing.
        const name = names.nameFor(w.now + e.years * 365 * 86_400_000);
        if (!w.source.snaps.some((s) => s.name === name)) w.source.snaps.push(w.snap(name));
        break;
      }
      case 'user-hold': {
        const s = w.source.snaps[e.pick % Math.max(1, w.source.snaps.length)];
        if (s && !w.userHeld) {
          s.holds.add('backup-admin');
          w.userHeld = s;
        }
        break;
      }
      case 'user-release':
        w.userHeld?.holds.delete('backup-admin');
        w.userHeld = null;
        break;
      case 'fail-next-send':
        w.failNext = { afterBytes: e.afterBytes };
        break;
    }
    w.check(tag);
    if (w.violations.length) throw new Error(`${w.violations.join('\n')}\nafter: ${JSON.stringify(sequence.slice(0, step))}`);
  }
  // The destination returns for good: the next runs continue the chain incrementally.
  Object.assign(w, { up: true, imported: true, failNext: null });
  if (w.copyName === `${TARGET}.away` && !w.backup.has(TARGET)) {
    w.backup.set(TARGET, w.backup.get(`${TARGET}.away`)!);
    w.backup.delete(`${TARGET}.away`);
    w.copyName = TARGET;
  }
  if (w.copyName === TARGET || (second && w.seeded2)) {
    for (let i = 0; i < 2; i++) {
      w.now += 3_600_000;
      const { outcome, plan } = await w.run();
      const why = w.seeded && w.copyName === TARGET ? replicatedTo(TARGET, plan, outcome) : null;
      if (why) w.violations.push(`after the destination returned: ${why}`);
      const why2 = second && w.seeded2 ? replicatedTo(TARGET2, plan, outcome) : null;
      if (why2) w.violations.push(`after the destinations returned: ${why2}`);
      w.check('after the destination returned');
    }
  }
  if (w.violations.length) throw new Error(w.violations.join('\n'));
}

const RUNS = Number(process.env.ZBACK_MODEL_RUNS ?? 4000);
/** ZBACK_MODEL_REPLAY='[…events…]' replays one sequence (a counterexample) with its full error. */
const REPLAY = process.env.ZBACK_MODEL_REPLAY;
const SEED = Number(process.env.ZBACK_MODEL_SEED ?? 20261202);

test.each([
  ['legacy ZFS (zfs-fuse)', LEGACY_CAPABILITIES, 0, false],
  ['OpenZFS 2.3 (batched destroys)', capabilitiesFor('2.3.2'), 1, false],
  ['OpenZFS 2.3 with a second destination (bookmarks shared)', capabilitiesFor('2.3.2'), 2, true],
])(
  `chain model on %s: ${RUNS} random sequences keep every invariant`,
  async (_name, caps, offset, second) => {
    const started = Date.now();
    if (REPLAY) return simulate(JSON.parse(REPLAY) as Event[], caps, second);
    await fc.assert(
      fc.asyncProperty(fc.array(events, { minLength: 3, maxLength: 30 }), (sequence) => simulate(sequence, caps, second)),
      { numRuns: RUNS, seed: SEED + offset, endOnFailure: false },
    );
    // Shown in the CI log: how many sequences, in how long.
    process.stdout.write(
      `chain model (${caps === LEGACY_CAPABILITIES ? 'legacy' : 'OpenZFS'}${second ? ', two destinations' : ''}): ${RUNS} sequences in ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
    );
    expect(RUNS).toBeGreaterThan(0);
  },
  600_000,
);

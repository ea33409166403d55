/**
 * SPEC §7, batched bookkeeping: the holds and releases of a run go as one `zfs hold|release TAG
 * snap…` per host and tag. The tags are designed for it (every dataset that inherits a destination
 * shares its source tag; the target tag is one per host), holds already in place are not placed
 * again, and the safety rules still hold: a new base is held before the old one is released, and
 * the interlock checks every member on its own.
 */
import { describe, expect, test } from '@jest/globals';
import { buildPlan } from '../../lib/plan/planner.js';
import { sourceHoldTag } from '../../lib/plan/hold-tags.js';
import type { DestinationState } from '../../lib/plan/replication.js';
import type { Action, Plan } from '../../lib/plan/types.js';
import { resolveConfigs } from '../../lib/policy/properties.js';
import { renderPlan } from '../../lib/report/plan-text.js';
import { checkPlan } from '../../lib/safety/interlock.js';
import type { HoldRecord } from '../../lib/state/holds.js';
import type { PropertyRow } from '../../lib/zfs/parse.js';
import { cal, hourly, inventoryOf, N, names, NOW, OZ, reachable, type DsSpec, type Snap } from './plan-fixtures.js';

const CHILDREN = ['p/a/x', 'p/a/y', 'p/a/z'];
// The run is at 12:05: s10 (12:00) is the newest, so no snapshot is due; s9 (11:00) the old base.
const [s9, s10] = hourly('11-25 11', 2) as [string, string];
const TAG = sourceHoldTag('bk', 'tank/off');

/** p/a sets the destination; its three children inherit it (as ZFS lists inherited values). */
function rows(destinations = 'bk:tank/off|hourly'): PropertyRow[] {
  const props = { snapshot: 'yes', retention: '24h', destinations };
  const out: PropertyRow[] = [];
  for (const d of ['p/a', ...CHILDREN]) {
    for (const [k, v] of Object.entries(props)) out.push({ name: d, property: `org.wit:${k}`, value: v, source: d === 'p/a' ? 'local' : 'inherited from p/a' });
  }
  return out;
}
const target = (d: string) => d.replace(/^p\/a/, 'tank/off');
const held = (name: string): Snap => ({ name, userrefs: 1 });

function world(o: { source: (d: string) => Snap[]; copy: (d: string) => Snap[]; holds?: HoldRecord[] }) {
  const configs = resolveConfigs(rows(), N);
  const all = ['p/a', ...CHILDREN];
  const inventory = inventoryOf(Object.fromEntries(all.map((d) => [d, { snaps: o.source(d) } as DsSpec])));
  const state: DestinationState = reachable({ tank: {}, ...Object.fromEntries(all.map((d) => [target(d), { snaps: o.copy(d) } as DsSpec])) });
  const destinations = new Map([['bk', state]]);
  const holds = o.holds ?? [];
  const plan = buildPlan({ configs, inventory, caps: OZ, now: NOW, calendar: cal, names, destinations, holds });
  const refusals = checkPlan({ actions: plan.actions, configs, inventory, destinations, holds, names });
  return { plan, refusals };
}
const of = (p: Plan, op: Action['op'], host?: string) => p.actions.filter((a) => a.op === op && (host === undefined || a.host === host));
const records = (snapshot: string): HoldRecord[] =>
  ['p/a', ...CHILDREN].flatMap((d) => [
    { role: 'source' as const, host: 'local', dataset: d, snapshot, tag: TAG, destination: { hostLabel: 'bk', target: target(d) } },
    { role: 'target' as const, host: 'bk', dataset: target(d), snapshot, tag: 'zback:replica' },
  ]);

describe('one command per host and tag', () => {
  test('an incremental run of four datasets: one batch of holds and one of releases on each side, each member after its own condition', () => {
    const { plan, refusals } = world({ source: () => [held(s9), s10], copy: () => [held(s9)], holds: records(s9) });
    expect(refusals).toEqual([]);
    const holds = of(plan, 'hold');
    const releases = of(plan, 'release');
    expect(holds).toHaveLength(8);
    expect(releases).toHaveLength(8);
    // Two batches of each: the source tag (shared by p/a and the children that inherit it), the target tag.
    expect(new Set(holds.map((a) => a.batch)).size).toBe(2);
    expect(new Set(releases.map((a) => a.batch)).size).toBe(2);
    expect(new Set(holds.filter((a) => a.host === 'local').map((a) => a.tag))).toEqual(new Set([TAG]));
    const byId = new Map(plan.actions.map((a) => [a.id, a]));
    for (const h of holds) {
      // Each hold waits for its own dataset's send; each release for its own dataset's new hold.
      expect(h.after.map((id) => byId.get(id)!)).toEqual([expect.objectContaining({ op: 'send', dataset: h.dataset })]);
      expect(h.snapshots).toEqual([s10]);
    }
    for (const r of releases) {
      expect(r.after.map((id) => byId.get(id)!)).toEqual([expect.objectContaining({ op: 'hold', dataset: r.dataset, host: r.host })]);
      expect(r.snapshots).toEqual([s9]);
    }
  });

  test('the dry run shows each batch as the one command it runs, with every member and its condition', () => {
    const { plan } = world({ source: () => [held(s9), s10], copy: () => [held(s9)], holds: records(s9) });
    const text = renderPlan(plan, cal, { verbose: false, dryRun: true });
    expect(text).toContain(`zfs hold ${TAG} p/a@${s10} p/a/x@${s10} p/a/y@${s10} p/a/z@${s10}\n`);
    expect(text).toContain(`[bk] zfs release zback:replica tank/off@${s9} tank/off/x@${s9} tank/off/y@${s9} tank/off/z@${s9}\n`);
    expect(text).toContain('one command for 4 holds, each member only if its condition holds:');
    expect(text.match(/zfs hold /g)).toHaveLength(2);
    expect(text.match(/zfs release /g)).toHaveLength(2);
  });

  test('nothing to send and the bases already held (recorded, and ZFS shows a hold): no hold and no release at all', () => {
    const { plan } = world({ source: () => [held(s10)], copy: () => [held(s10)], holds: records(s10) });
    expect(plan.replications.every((r) => r.status === 'up-to-date')).toBe(true);
    expect(of(plan, 'hold')).toEqual([]);
    expect(of(plan, 'release')).toEqual([]);
  });

  test('a recorded hold that ZFS no longer shows (released by hand) is placed again; one not recorded is placed', () => {
    const { plan } = world({
      source: (d) => [d === 'p/a/x' ? s10 : held(s10)],
      copy: () => [held(s10)],
      holds: records(s10).filter((h) => !(h.role === 'target' && h.dataset === 'tank/off/y')),
    });
    expect(of(plan, 'hold').map((a) => `${a.host} ${a.target}@${a.snapshots[0]}`)).toEqual([`local p/a/x@${s10}`, `bk tank/off/y@${s10}`]);
  });

  test('holds of zback 0.1 (one tag per target): the new tag is held first, then the old one released, and the interlock agrees', () => {
    const legacy: HoldRecord[] = ['p/a', ...CHILDREN].map((d) => ({
      role: 'source',
      host: 'local',
      dataset: d,
      snapshot: s9,
      tag: sourceHoldTag('bk', target(d)),
      destination: { hostLabel: 'bk', target: target(d) },
    }));
    const targets = records(s9).filter((h) => h.role === 'target');
    const { plan, refusals } = world({ source: () => [held(s9), s10], copy: () => [held(s9)], holds: [...legacy, ...targets] });
    expect(refusals).toEqual([]);
    const byId = new Map(plan.actions.map((a) => [a.id, a]));
    const local = of(plan, 'release', 'local');
    // p/a's old tag happens to be the new one (it sets the destination): one plain release of s9.
    expect(local.map((a) => `${a.tag} ${a.target}@${a.snapshots[0]}`).sort()).toEqual(
      ['p/a', ...CHILDREN].map((d) => `${sourceHoldTag('bk', target(d))} ${d}@${s9}`).sort(),
    );
    for (const r of local) expect(r.after.map((id) => byId.get(id)!.op)).toEqual(['hold']);
    // The children's old tags are three batches of one (one tag each); p/a's is the shared tag's batch.
    expect(new Set(local.map((a) => a.batch)).size).toBe(4);
  });

  test('up to date, but an old-tag hold on the base: the base is held with the new tag before the old tag goes (same snapshot)', () => {
    const legacy: HoldRecord = {
      role: 'source',
      host: 'local',
      dataset: 'p/a/x',
      snapshot: s10,
      tag: sourceHoldTag('bk', 'tank/off/x'),
      destination: { hostLabel: 'bk', target: 'tank/off/x' },
    };
    const rest = records(s10).filter((h) => !(h.role === 'source' && h.dataset === 'p/a/x'));
    const { plan, refusals } = world({ source: () => [held(s10)], copy: () => [held(s10)], holds: [...rest, legacy] });
    expect(refusals).toEqual([]);
    const hold = of(plan, 'hold');
    expect(hold.map((a) => `${a.tag} ${a.target}@${a.snapshots[0]}`)).toEqual([`${TAG} p/a/x@${s10}`]);
    const release = of(plan, 'release');
    expect(release.map((a) => `${a.tag} ${a.target}@${a.snapshots[0]}`)).toEqual([`${legacy.tag} p/a/x@${s10}`]);
    expect(release[0]!.after).toEqual([hold[0]!.id]);
  });

  test('the interlock checks each member: releasing a base with the shared tag and no newer hold is refused', () => {
    const { plan, refusals } = world({ source: () => [held(s9), s10], copy: () => [held(s9)], holds: records(s9) });
    expect(refusals).toEqual([]);
    // Forge a plan in which one child's release no longer waits for its new hold.
    const forged = plan.actions.map((a) => (a.op === 'release' && a.host === 'local' && a.dataset === 'p/a/y' ? { ...a, after: [] } : a));
    const configs = resolveConfigs(rows(), N);
    const inventory = inventoryOf(Object.fromEntries(['p/a', ...CHILDREN].map((d) => [d, { snaps: [held(s9), s10] } as DsSpec])));
    const state = reachable({ tank: {}, ...Object.fromEntries(['p/a', ...CHILDREN].map((d) => [target(d), { snaps: [held(s9)] } as DsSpec])) });
    // The copy has s9 only: s9 is the base by guid until s10 arrives, so releasing it needs the newer hold first.
    const r = checkPlan({ actions: forged, configs, inventory, destinations: new Map([['bk', state]]), holds: records(s9), names });
    expect(r.map((x) => `${x.rule} ${x.target}@${x.snapshot}`)).toEqual([`base p/a/y@${s9}`]);
  });
});

describe('holds the batching must not lose (found by an adversarial review)', () => {
  const all = ['p/a', ...CHILDREN];
  const copyAt = (root: string, snaps: (d: string) => Snap[] | null, label: string) =>
    reachable(
      {
        tank: {},
        ...Object.fromEntries(all.flatMap((d) => (snaps(d) ? [[d.replace(/^p\/a/, root), { snaps: snaps(d)! } as DsSpec]] : []))),
      },
      OZ,
      label,
    );

  test('two destinations share a base and one of their holds was released by hand: the other hold does not hide it, it is placed again', () => {
    const configs = resolveConfigs(rows('bk:tank/off|hourly,bk2:tank/two|hourly'), N);
    const TAG2 = sourceHoldTag('bk2', 'tank/two');
    // ZFS shows one hold on each base (bk2's); zback recorded two tags there.
    const inventory = inventoryOf(Object.fromEntries(all.map((d) => [d, { snaps: [held(s10)] } as DsSpec])));
    const destinations = new Map([
      ['bk', copyAt('tank/off', () => [held(s10)], 'bk')],
      ['bk2', copyAt('tank/two', () => [held(s10)], 'bk2')],
    ]);
    const holds: HoldRecord[] = all.flatMap((d) => [
      ...(
        [
          ['bk', TAG, 'tank/off'],
          ['bk2', TAG2, 'tank/two'],
        ] as const
      ).map(([hostLabel, tag, root]) => ({
        role: 'source' as const,
        host: 'local',
        dataset: d,
        snapshot: s10,
        tag,
        destination: { hostLabel, target: d.replace(/^p\/a/, root) },
      })),
      { role: 'target' as const, host: 'bk', dataset: d.replace(/^p\/a/, 'tank/off'), snapshot: s10, tag: 'zback:replica' },
      { role: 'target' as const, host: 'bk2', dataset: d.replace(/^p\/a/, 'tank/two'), snapshot: s10, tag: 'zback:replica' },
    ]);
    const plan = buildPlan({ configs, inventory, caps: OZ, now: NOW, calendar: cal, names, destinations, holds });
    const local = of(plan, 'hold', 'local');
    for (const d of all) expect(local).toContainEqual(expect.objectContaining({ tag: TAG, target: d, snapshots: [s10] }));
    expect(of(plan, 'release')).toEqual([]);
  });

  test('a stale record names the hold this plan places (a child moved under the same destination tag): that hold is not released after it is placed', () => {
    const configs = resolveConfigs(rows(), N);
    const inventory = inventoryOf(Object.fromEntries(all.map((d) => [d, { snaps: [held(s10)] } as DsSpec])));
    // tank/off/x is not there yet (a child renamed into p/a/x): it is seeded with s10, whose hold
    // under TAG is recorded for the old place, tank/off/old, which no destination names now.
    const destinations = new Map([['bk', copyAt('tank/off', (d) => (d === 'p/a/x' ? null : [held(s10)]), 'bk')]]);
    const holds: HoldRecord[] = [
      ...records(s10).filter((h) => !(h.dataset === 'p/a/x' || h.dataset === 'tank/off/x')),
      { role: 'source', host: 'local', dataset: 'p/a/x', snapshot: s10, tag: TAG, destination: { hostLabel: 'bk', target: 'tank/off/old' } },
    ];
    const plan = buildPlan({ configs, inventory, caps: OZ, now: NOW, calendar: cal, names, destinations, holds });
    expect(plan.replications.find((r) => r.dataset === 'p/a/x')?.sends[0]).toMatchObject({ kind: 'full' });
    expect(of(plan, 'hold', 'local')).toContainEqual(expect.objectContaining({ tag: TAG, target: 'p/a/x', snapshots: [s10] }));
    expect(of(plan, 'release', 'local').filter((a) => a.target === 'p/a/x' && a.snapshots.includes(s10))).toEqual([]);
    expect(checkPlan({ actions: plan.actions, configs, inventory, destinations, holds, names })).toEqual([]);
  });
});

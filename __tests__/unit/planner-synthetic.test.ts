import { describe, expect, test } from '@jest/globals';
import { buildPlan, topmost } from '../../lib/plan/planner.js';
import { snapshotActions } from '../../lib/plan/snapshot-groups.js';
import type { Plan } from '../../lib/plan/types.js';
import { Calendar } from '../../lib/policy/calendar.js';
import { NameFormat } from '../../lib/policy/snapshot-names.js';
import { propertyNames, resolveConfigs } from '../../lib/policy/properties.js';
import { TickCache } from '../../lib/policy/schedule.js';
import { capabilitiesFor, LEGACY_CAPABILITIES, type ZfsCapabilities } from '../../lib/zfs/capabilities.js';
import { parseInventory, type Inventory, type PropertyRow } from '../../lib/zfs/parse.js';

const OZ = capabilitiesFor('2.3.2');
const LEG = LEGACY_CAPABILITIES;
const cal = new Calendar('Europe/Berlin');
const names = new NameFormat();
const N = propertyNames('org.wit');
const NOW = '2026-11-25T12:05:00Z';
const NEW = '2026-11-25-120500';

/**
 * A pool described compactly: each dataset with its local properties (s = snapshot, r = retention,
 * c = schedule) and its snapshots ("name" or "name!" for a held one). Inherited rows are derived as
 * ZFS shows them.
 */
interface Spec {
  [dataset: string]: { s?: string; r?: string; c?: string; snaps?: string[] };
}
function rowsOf(spec: Spec): PropertyRow[] {
  const short = { s: 'snapshot', r: 'retention', c: 'schedule' } as const;
  const out: PropertyRow[] = [];
  const all = Object.keys(spec).sort();
  for (const d of all) {
    for (const k of ['s', 'r', 'c'] as const) {
      const local = spec[d]![k];
      if (local !== undefined) {
        out.push({ name: d, property: `org.wit:${short[k]}`, value: local, source: 'local' });
        continue;
      }
      for (
        let a = d.lastIndexOf('/') < 0 ? null : d.slice(0, d.lastIndexOf('/'));
        a !== null;
        a = a.lastIndexOf('/') < 0 ? null : a.slice(0, a.lastIndexOf('/'))
      ) {
        const v = spec[a]?.[k];
        if (v !== undefined) {
          out.push({ name: d, property: `org.wit:${short[k]}`, value: v, source: `inherited from ${a}` });
          break;
        }
      }
    }
  }
  return out;
}
function inventoryOf(spec: Spec): Inventory {
  const lines: string[] = [];
  let txg = 1;
  let guid = 1000;
  for (const d of Object.keys(spec).sort()) {
    lines.push(`${d}\tguid\t${guid++}`, `${d}\tcreatetxg\t${txg++}`, `${d}\tuserrefs\t-`);
    for (const s of spec[d]!.snaps ?? []) {
      const held = s.endsWith('!');
      const n = held ? s.slice(0, -1) : s;
      lines.push(`${d}@${n}\tguid\t${guid++}`, `${d}@${n}\tcreatetxg\t${txg++}`, `${d}@${n}\tuserrefs\t${held ? 1 : 0}`);
    }
  }
  return parseInventory(lines.join('\n') + '\n');
}
function planOf(spec: Spec, caps: ZfsCapabilities, now = NOW, inventory = inventoryOf(spec)): Plan {
  return buildPlan({ configs: resolveConfigs(rowsOf(spec), N), inventory, caps, now: Date.parse(now), calendar: cal, names });
}
const argvs = (p: Plan) => p.snapshots.map((s) => s.argv);
const ds = (p: Plan, name: string) => p.datasets.find((d) => d.dataset === name)!;

describe('one atomic snapshot per configuration group', () => {
  const spec: Spec = {
    p: {},
    'p/a': { s: 'yes', r: '24h' },
    'p/a/b': {},
    'p/a/b/c': {},
    'p/a/d': { r: '7d' }, // daily, but never snapshotted: due now too
  };
  test.each([
    ['legacy', LEG],
    ['OpenZFS', OZ],
  ])('%s: whole subtree due → one zfs snapshot -r', (_l, caps) => {
    const p = planOf(spec, caps);
    expect(p.snapshots).toEqual([
      { kind: 'snapshot', datasets: ['p/a', 'p/a/b', 'p/a/b/c', 'p/a/d'], name: NEW, recursiveRoot: 'p/a', argv: ['zfs', 'snapshot', '-r', `p/a@${NEW}`] },
    ]);
  });

  test('a group of one dataset without children: no -r', () => {
    for (const caps of [LEG, OZ]) {
      expect(argvs(planOf({ p: {}, 'p/a': { s: 'yes', r: '1d' }, 'p/b': {} }, caps))).toEqual([['zfs', 'snapshot', `p/a@${NEW}`]]);
    }
  });

  const mixed: Spec = {
    'p/a': { s: 'yes', r: '24h' },
    'p/a/b': {},
    'p/a/b/c': {},
    'p/a/b/d': {},
    'p/a/skip': { s: 'no' },
    'p/a/skip/x': {},
    'p/a/e': {},
  };
  test('OpenZFS: a subtree with an unmanaged child → one multi-name command for the due datasets', () => {
    const p = planOf(mixed, OZ);
    expect(p.snapshots).toEqual([
      {
        kind: 'snapshot',
        datasets: ['p/a', 'p/a/b', 'p/a/b/c', 'p/a/b/d', 'p/a/e'],
        name: NEW,
        argv: ['zfs', 'snapshot', `p/a@${NEW}`, `p/a/b@${NEW}`, `p/a/b/c@${NEW}`, `p/a/b/d@${NEW}`, `p/a/e@${NEW}`],
      },
    ]);
    expect(p.ignored.map((i) => i.dataset)).toEqual(['p/a/skip', 'p/a/skip/x']);
  });
  test('legacy: per dataset, -r on every topmost fully-due subtree, nothing unmanaged covered', () => {
    const p = planOf(mixed, LEG);
    expect(argvs(p)).toEqual([
      ['zfs', 'snapshot', `p/a@${NEW}`],
      ['zfs', 'snapshot', '-r', `p/a/b@${NEW}`],
      ['zfs', 'snapshot', `p/a/e@${NEW}`],
    ]);
    expect(p.snapshots[1]!.datasets).toEqual(['p/a/b', 'p/a/b/c', 'p/a/b/d']);
    const covered = p.snapshots.flatMap((s) => s.datasets).sort();
    expect(covered).toEqual(['p/a', 'p/a/b', 'p/a/b/c', 'p/a/b/d', 'p/a/e']);
    for (const a of p.snapshots.flatMap((s) => s.argv)) expect(a).not.toMatch(/skip/);
  });

  test("a child with its own snapshot=yes is its own group: never covered by the parent's -r", () => {
    const spec2: Spec = { 'p/a': { s: 'yes', r: '24h' }, 'p/a/b': { s: 'yes' }, 'p/a/b/c': {} };
    for (const caps of [LEG, OZ]) {
      const p = planOf(spec2, caps);
      expect(argvs(p)).toEqual([
        ['zfs', 'snapshot', `p/a@${NEW}`],
        ['zfs', 'snapshot', '-r', `p/a/b@${NEW}`],
      ]);
      expect(ds(p, 'p/a/b').config!.group).toBe('p/a/b');
      expect(ds(p, 'p/a/b/c').config!.group).toBe('p/a/b');
    }
  });

  test('a received copy below a managed dataset is never snapshotted', () => {
    const rows: PropertyRow[] = [
      ...rowsOf({ 'p/a': { s: 'yes', r: '24h' }, 'p/a/b': {} }),
      { name: 'p/a/copy', property: 'org.wit:snapshot', value: 'yes', source: 'received' },
      { name: 'p/a/copy', property: 'org.wit:retention', value: '7d', source: 'received' },
    ];
    const inventory = inventoryOf({ 'p/a': {}, 'p/a/b': {}, 'p/a/copy': {} });
    for (const caps of [LEG, OZ]) {
      const p = buildPlan({ configs: resolveConfigs(rows, N), inventory, caps, now: Date.parse(NOW), calendar: cal, names });
      expect(p.snapshots.flatMap((s) => s.datasets)).toEqual(['p/a', 'p/a/b']);
      expect(JSON.stringify(argvs(p))).not.toContain('copy');
    }
  });
});

describe('failures stay with their dataset', () => {
  test('a config error on one dataset: it has `error`, the others are planned', () => {
    const spec: Spec = {
      'p/a': { s: 'yes', r: '24h' },
      'p/a/bad': { r: '24x' },
      'p/a/good': {},
      'p/z': { s: 'yes', r: '7d', snaps: ['2026-11-20-000000', '2026-11-21-000000'] },
    };
    for (const caps of [LEG, OZ]) {
      const p = planOf(spec, caps);
      expect(ds(p, 'p/a/bad')).toEqual({
        dataset: 'p/a/bad',
        error: 'p/a/bad: org.wit:retention="24x" is invalid: unknown unit "x" (use h, d, w, m or y)',
        zbackSnapshots: 0,
        foreignSnapshots: 0,
        latest: null,
        decisions: [],
        destroy: [],
        destroyAfterSend: [],
      });
      expect(p.datasets.filter((d) => d.newSnapshot).map((d) => d.dataset)).toEqual(['p/a', 'p/a/good', 'p/z']);
      const all = p.snapshots.flatMap((s) => s.datasets);
      expect(all).not.toContain('p/a/bad');
      expect(p.snapshots.some((s) => s.recursiveRoot === 'p/a')).toBe(false);
    }
    expect(argvs(planOf(spec, OZ))).toEqual([
      ['zfs', 'snapshot', `p/a@${NEW}`, `p/a/good@${NEW}`],
      ['zfs', 'snapshot', `p/z@${NEW}`],
    ]);
    expect(argvs(planOf(spec, LEG))).toEqual([
      ['zfs', 'snapshot', `p/a@${NEW}`],
      ['zfs', 'snapshot', `p/a/good@${NEW}`],
      ['zfs', 'snapshot', `p/z@${NEW}`],
    ]);
  });

  test('an error on the group root: its children are still snapshotted, without -r on the root', () => {
    const spec: Spec = { 'p/a': { s: 'yes', r: 'bogus' }, 'p/a/b': { r: '24h' }, 'p/a/b/c': {}, 'p/a/d': { r: '1d' } };
    expect(argvs(planOf(spec, OZ))).toEqual([['zfs', 'snapshot', `p/a/b@${NEW}`, `p/a/b/c@${NEW}`, `p/a/d@${NEW}`]]);
    expect(argvs(planOf(spec, LEG))).toEqual([
      ['zfs', 'snapshot', '-r', `p/a/b@${NEW}`],
      ['zfs', 'snapshot', `p/a/d@${NEW}`],
    ]);
    expect(ds(planOf(spec, OZ), 'p/a').error).toMatch(/^p\/a: org\.wit:retention="bogus" is invalid/);
  });

  test('a dataset vanished from the inventory → error; the rest of its group is planned', () => {
    const spec: Spec = { 'p/a': { s: 'yes', r: '24h' }, 'p/a/gone': {}, 'p/a/here': {} };
    const inventory = inventoryOf({ 'p/a': {}, 'p/a/here': {} });
    for (const caps of [LEG, OZ]) {
      const p = planOf(spec, caps, NOW, inventory);
      expect(ds(p, 'p/a/gone')).toMatchObject({ error: 'p/a/gone: the dataset disappeared while zback was reading the pools', decisions: [], destroy: [] });
      expect(ds(p, 'p/a/gone').newSnapshot).toBeUndefined();
      // What is left of the subtree is all due: -r is still exact.
      expect(argvs(p)).toEqual([['zfs', 'snapshot', '-r', `p/a@${NEW}`]]);
      expect(p.snapshots[0]!.datasets).toEqual(['p/a', 'p/a/here']);
    }
  });
});

describe('no snapshot is planned twice', () => {
  const spec: Spec = { 'p/a': { s: 'yes', r: '24h' }, 'p/a/b': {} };
  test('re-planning after the snapshot was taken: nothing to do, the snapshot counted once', () => {
    for (const caps of [LEG, OZ]) {
      const first = planOf(spec, caps);
      expect(argvs(first)).toEqual([['zfs', 'snapshot', '-r', `p/a@${NEW}`]]);
      const after: Spec = { 'p/a': { ...spec['p/a'], snaps: [NEW] }, 'p/a/b': { snaps: [NEW] } };
      const again = planOf(after, caps);
      expect(again.snapshots).toEqual([]);
      for (const d of again.datasets) {
        expect(d.newSnapshot).toBeUndefined();
        expect(d.decisions.map((x) => x.name)).toEqual([NEW]);
      }
    }
  });
  test("a child that already has this run's name (earlier partial run): only the parent, no -r", () => {
    const partial: Spec = { 'p/a': { s: 'yes', r: '24h' }, 'p/a/b': { snaps: [NEW] } };
    for (const caps of [LEG, OZ]) {
      const p = planOf(partial, caps);
      expect(argvs(p)).toEqual([['zfs', 'snapshot', `p/a@${NEW}`]]);
      expect(ds(p, 'p/a/b').decisions.filter((d) => d.name === NEW)).toHaveLength(1);
    }
  });
});

describe('retention in the plan', () => {
  test('held and foreign snapshots are never destroyed; the oldest of each bucket is kept', () => {
    const spec: Spec = {
      'p/a': {
        s: 'yes',
        r: '2h',
        snaps: [
          '2026-11-25-080000!',
          '2026-11-25-090000',
          'before-upgrade',
          '2026-11-25-100000',
          '2026-11-25-101500',
          '2026-11-25-110000',
          '2026-02-30-000000',
        ],
      },
    };
    for (const caps of [LEG, OZ]) {
      const p = planOf(spec, caps);
      const a = ds(p, 'p/a');
      expect(a.foreignSnapshots).toBe(2); // manual name and an impossible date
      expect(a.zbackSnapshots).toBe(5);
      expect(a.newSnapshot).toBe(NEW);
      // hourly 2: buckets 12:xx (new) and 11:xx keep; 10:00 and 10:15 and 09:00 go; 08:00 is held.
      expect(a.destroy).toEqual(['2026-11-25-090000', '2026-11-25-100000', '2026-11-25-101500']);
      expect(a.decisions.filter((d) => d.keep).map((d) => d.name)).toEqual(['2026-11-25-080000', '2026-11-25-110000', NEW]);
    }
    expect(planOf(spec, OZ).destroys[0]!.argvs).toEqual([['zfs', 'destroy', 'p/a@2026-11-25-090000,2026-11-25-100000,2026-11-25-101500']]);
    expect(planOf(spec, LEG).destroys[0]!.argvs).toHaveLength(3);
  });

  test('the oldest snapshot of a bucket is kept (stable from run to run)', () => {
    const spec: Spec = { 'p/a': { s: 'yes', r: '1d', snaps: ['2026-11-25-000000', '2026-11-25-060000', '2026-11-25-110000'] } };
    const p = planOf(spec, OZ, '2026-11-25T12:05:00Z');
    // daily schedule: the newest is from today (local), not due.
    expect(ds(p, 'p/a').newSnapshot).toBeUndefined();
    // local day 2026-11-25 (Berlin) starts at 2026-11-24T23:00Z: all three in it; oldest kept, newest kept.
    expect(ds(p, 'p/a').destroy).toEqual(['2026-11-25-060000']);
  });

  test('a machine that was off: one snapshot, not one per missed tick', () => {
    const spec: Spec = { 'p/a': { s: 'yes', r: '24h', snaps: ['2026-11-20-100000'] } };
    const p = planOf(spec, LEG);
    expect(argvs(p)).toEqual([['zfs', 'snapshot', `p/a@${NEW}`]]);
  });
});

describe('snapshotActions and topmost', () => {
  const sub = ['t/r', 't/r/a', 't/r/a/x', 't/r/b', 't/r/c'];
  test('nothing due → nothing', () => {
    expect(snapshotActions('t/r', [], sub, 'n', OZ)).toEqual([]);
    expect(snapshotActions('t/r', [], sub, 'n', LEG)).toEqual([]);
  });
  test('root not due, two full sub-subtrees', () => {
    const due = ['t/r/c', 't/r/a/x', 't/r/a', 't/r/b'];
    expect(snapshotActions('t/r', due, sub, 'n', OZ).map((a) => a.argv)).toEqual([['zfs', 'snapshot', 't/r/a@n', 't/r/a/x@n', 't/r/b@n', 't/r/c@n']]);
    expect(snapshotActions('t/r', due, sub, 'n', LEG).map((a) => a.argv)).toEqual([
      ['zfs', 'snapshot', '-r', 't/r/a@n'],
      ['zfs', 'snapshot', 't/r/b@n'],
      ['zfs', 'snapshot', 't/r/c@n'],
    ]);
  });
  test('whole subtree due → -r whatever the order of `due`', () => {
    expect(snapshotActions('t/r', [...sub].reverse(), sub, 'n', LEG)).toEqual([
      { kind: 'snapshot', datasets: sub, name: 'n', recursiveRoot: 't/r', argv: ['zfs', 'snapshot', '-r', 't/r@n'] },
    ]);
  });
  test('similar prefixes are not children', () => {
    const s2 = ['t/r', 't/r-x', 't/rr'];
    expect(
      snapshotActions(
        't/r',
        ['t/r'],
        s2.filter((x) => x === 't/r' || x.startsWith('t/r/')),
        'n',
        LEG,
      ).map((a) => a.argv),
    ).toEqual([['zfs', 'snapshot', 't/r@n']]);
  });
  test('topmost', () => {
    expect(topmost(['t/a/b', 't/a', 'u', 't/ab', 'u/x', 't/a'])).toEqual(['t/a', 't/ab', 'u']);
    expect(topmost([])).toEqual([]);
  });
});

describe('cron every 5 minutes, applying each plan', () => {
  /** Runs the planner every 5 minutes from `from` to `to`, "taking" and "destroying" what it plans. */
  function simulate(retention: string, from: string, to: string, stepMinutes = 5): string[] {
    const snaps: string[] = [];
    const conf: Spec[string] = { s: 'yes', r: retention };
    for (let t = Date.parse(from); t <= Date.parse(to); t += stepMinutes * 60_000) {
      const spec: Spec = { 'p/a': { ...conf, snaps: [...snaps] } };
      const p = planOf(spec, OZ, new Date(t).toISOString());
      for (const s of p.snapshots) snaps.push(s.name);
      for (const d of p.destroys) for (const s of d.snapshots) snaps.splice(snaps.indexOf(s), 1);
    }
    return snaps;
  }
  test('hourly across the end of DST in Berlin: one snapshot per real hour (the repeated hour twice)', () => {
    // 2026-10-25: 03:00 CEST → 02:00 CET at 01:00 UTC.
    expect(simulate('100h', '2026-10-24T21:55:00Z', '2026-10-25T03:30:00Z')).toEqual([
      '2026-10-24-215500', // first run: no snapshot yet
      '2026-10-24-220000',
      '2026-10-24-230000',
      '2026-10-25-000000',
      '2026-10-25-010000',
      '2026-10-25-020000',
      '2026-10-25-030000',
    ]);
  });
  test('hourly across the start of DST: one per real hour', () => {
    // 2026-03-29: 02:00 CET → 03:00 CEST at 01:00 UTC.
    expect(simulate('100h', '2026-03-28T23:55:00Z', '2026-03-29T02:30:00Z')).toEqual([
      '2026-03-28-235500',
      '2026-03-29-000000',
      '2026-03-29-010000',
      '2026-03-29-020000',
    ]);
  });
  test('daily across the end of DST (cron every 15 minutes): one per local day, at local midnight', () => {
    expect(simulate('30d', '2026-10-23T12:00:00Z', '2026-10-27T12:00:00Z', 15)).toEqual([
      '2026-10-23-120000', // first run: no snapshot yet
      '2026-10-23-220000', // 2026-10-24 00:00 CEST
      '2026-10-24-220000', // 2026-10-25 00:00 CEST
      '2026-10-25-230000', // 2026-10-26 00:00 CET
      '2026-10-26-230000',
    ]);
  });
  test('2h retention while running: never more than the kept buckets plus the new one', () => {
    const left = simulate('2h', '2026-11-25T00:00:00Z', '2026-11-25T06:00:00Z');
    expect(left).toEqual(['2026-11-25-050000', '2026-11-25-060000']);
  });
});

describe('planning evaluates each schedule once (SPEC §7: cost independent of the schedule)', () => {
  // Timings belong to the benchmarks; here the number of cron evaluations is counted.
  function bigPool(n: number, retention: string): Spec {
    const spec: Spec = { 'p/r': { s: 'yes', r: retention } };
    for (let i = 0; i < n; i++) spec[`p/r/d${i}`] = { snaps: ['2026-11-01-000000'] };
    return spec;
  }
  test.each(['24h', '3m', '7d'])('150 datasets with retention %s: one cron evaluation for the whole plan', (retention) => {
    const spec = bigPool(150, retention);
    const ticks = new TickCache();
    const plan = buildPlan({
      configs: resolveConfigs(rowsOf(spec), N),
      inventory: inventoryOf(spec),
      caps: OZ,
      now: Date.parse('2026-11-26T12:00:00Z'),
      calendar: cal,
      names,
      ticks,
    });
    expect(plan.datasets).toHaveLength(151);
    expect(ticks.evaluations).toBe(1);
  });
});

describe('snapshot hooks in the plan', () => {
  const spec: Spec = { p: {}, 'p/a': { s: 'yes', r: '24h' }, 'p/a/db': {}, 'p/a/web': {} };
  const plan = (extra: Partial<Parameters<typeof buildPlan>[0]>) =>
    buildPlan({ configs: resolveConfigs(rowsOf(spec), N), inventory: inventoryOf(spec), caps: OZ, now: Date.parse(NOW), calendar: cal, names, ...extra });
  const hook = { file: 'db.conf', datasets: ['p/a/db'], children: false, pre: ['/usr/sbin/freeze'], post: ['/usr/sbin/thaw'], timeoutS: 30 };

  test("the one atomic snapshot carries each member's hooks (the dry run shows them)", () => {
    const p = plan({ hooks: [hook, { ...hook, file: 'all.conf', datasets: ['p/a'], children: true, pre: undefined! }] });
    const [snap] = p.actions.filter((a) => a.op === 'snapshot');
    expect(snap!.argv).toEqual(['zfs', 'snapshot', '-r', `p/a@${NEW}`]);
    expect(snap!.hooks!.map((h) => `${h.dataset} ${h.hook.file}`)).toEqual(['p/a all.conf', 'p/a/db db.conf', 'p/a/db all.conf', 'p/a/web all.conf']);
  });

  test('a dataset named by an unusable hook file gets no snapshot and a problem that says why; the others do', () => {
    const p = plan({
      unusableHooks: [{ file: 'db.conf', datasets: ['p/a/db'], problems: ['db.conf line 2: pre = "freeze": the command must be an absolute path'] }],
    });
    expect(p.snapshots.flatMap((s) => s.datasets)).toEqual(['p/a', 'p/a/web']);
    expect(ds(p, 'p/a/db').newSnapshot).toBeUndefined();
    expect(ds(p, 'p/a/db').problems).toEqual([
      `p/a/db: the snapshot that is due was not taken: its hook file db.conf cannot be used (db.conf line 2: pre = "freeze": the command must be an absolute path)`,
    ]);
    // Not due: nothing to block, no problem.
    const later = buildPlan({
      configs: resolveConfigs(rowsOf(spec), N),
      inventory: inventoryOf({ ...spec, 'p/a/db': { snaps: [NEW] } }),
      caps: OZ,
      now: Date.parse(NOW),
      calendar: cal,
      names,
      unusableHooks: [{ file: 'db.conf', datasets: ['p/a/db'], problems: ['x'] }],
    });
    expect(ds(later, 'p/a/db').problems).toBeUndefined();
  });
});

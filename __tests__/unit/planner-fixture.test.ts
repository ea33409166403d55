/**
 * The planner on the configuration and inventory recorded from a real zfs-fuse pool
 * (__tests__/fixtures/zfs-fuse): tank/data (24h7d, hourly) with children db (own 48h) and web,
 * tank/off (snapshot=no), tank/recv and tank/recv/child (received copy), tank/other (no zback
 * property). tank/data@2026-11-25-100000 carries a user hold; tank/data@manual-1 is foreign.
 */
import { describe, expect, test } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildPlan } from '../../lib/plan/planner.js';
import type { Plan } from '../../lib/plan/types.js';
import { Calendar } from '../../lib/policy/calendar.js';
import { NameFormat } from '../../lib/policy/snapshot-names.js';
import { propertyNames, resolveConfigs } from '../../lib/policy/properties.js';
import { capabilitiesFor, LEGACY_CAPABILITIES, type ZfsCapabilities } from '../../lib/zfs/capabilities.js';
import { parseInventory, parsePropertyRows, type PropertyRow } from '../../lib/zfs/parse.js';

const FIX = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'zfs-fuse');
const configRows = parsePropertyRows(readFileSync(join(FIX, 'get-config.txt'), 'utf8'));
const inventoryText = readFileSync(join(FIX, 'get-inventory.txt'), 'utf8');
const OZ = capabilitiesFor('2.3.2');
const LEG = LEGACY_CAPABILITIES;
const cal = new Calendar('Europe/Berlin');
const names = new NameFormat();
const N = propertyNames('org.wit');

function plan(now: string, caps: ZfsCapabilities, rows: readonly PropertyRow[] = configRows): Plan {
  return buildPlan({
    configs: resolveConfigs(rows, N),
    inventory: parseInventory(inventoryText),
    caps,
    now: Date.parse(now),
    calendar: cal,
    names,
  });
}
/** The recorded configuration with tank/data's retention (and what inherits it) changed. */
function withDataRetention(value: string): PropertyRow[] {
  return configRows.map((r) => (r.property === 'org.wit:retention' && r.value === '24h7d' ? { ...r, value } : r));
}
const ds = (p: Plan, name: string) => p.datasets.find((d) => d.dataset === name)!;
const kept = (p: Plan, name: string) =>
  ds(p, name)
    .decisions.filter((d) => d.keep)
    .map((d) => d.name);
const allDestroyed = (p: Plan) => p.destroys.flatMap((d) => d.snapshots.map((s) => `${d.dataset}@${s}`));
const allArgv = (p: Plan) => [...p.snapshots.map((s) => s.argv), ...p.destroys.flatMap((d) => d.argvs)];
const T = (s: string) => Date.parse(s);

describe.each([
  ['legacy zfs-fuse', LEG],
  ['OpenZFS 2.3.2', OZ],
])('recorded pool, %s', (_label, caps) => {
  test('only tank/data and its children are planned; the rest is ignored or absent', () => {
    const p = plan('2026-11-25T11:30:00Z', caps);
    expect(p.zone).toBe('Europe/Berlin');
    expect(p.datasets.map((d) => d.dataset)).toEqual(['tank/data', 'tank/data/db', 'tank/data/web']);
    expect(p.datasets.every((d) => d.error === undefined)).toBe(true);
    expect(p.ignored).toEqual([
      { dataset: 'tank/off', why: 'org.wit:snapshot=no' },
      { dataset: 'tank/recv', why: 'replicated copy: its zback properties were received (from tank/recv)' },
      { dataset: 'tank/recv/child', why: 'replicated copy: its zback properties were received (from tank/recv)' },
    ]);
    const mentioned = JSON.stringify(allArgv(p));
    for (const other of ['tank/off', 'tank/recv', 'tank/other']) expect(mentioned).not.toContain(other);
    expect(JSON.stringify(p.datasets)).not.toContain('tank/other');
    expect(p.ignored.some((i) => i.dataset === 'tank/other')).toBe(false);
  });

  test('11:30 UTC: the 11:00 snapshots exist, nothing is due, nothing is destroyed', () => {
    const p = plan('2026-11-25T11:30:00Z', caps);
    expect(p.snapshots).toEqual([]);
    expect(p.destroys).toEqual([]);
    const data = ds(p, 'tank/data');
    expect(data).toMatchObject({ zbackSnapshots: 2, foreignSnapshots: 1, latest: T('2026-11-25T11:00:00Z'), destroy: [] });
    expect(data.newSnapshot).toBeUndefined();
    expect(data.due).toEqual({ due: false, tick: T('2026-11-25T11:00:00Z'), next: T('2026-11-25T12:00:00Z') });
    expect(data.decisions).toEqual([
      {
        name: '2026-11-25-100000',
        time: T('2026-11-25T10:00:00Z'),
        keep: true,
        reasons: ['hourly 2/24 (2026-11-25 11:00 +01:00)', 'daily 1/7 (2026-11-25)', 'held (1 user hold)'],
      },
      {
        name: '2026-11-25-110000',
        time: T('2026-11-25T11:00:00Z'),
        keep: true,
        reasons: ['hourly 1/24 (2026-11-25 12:00 +01:00)', 'newest zback snapshot'],
      },
    ]);
    expect(ds(p, 'tank/data/db').decisions.map((d) => d.reasons)).toEqual([
      ['hourly 2/48 (2026-11-25 11:00 +01:00)'],
      ['hourly 1/48 (2026-11-25 12:00 +01:00)', 'newest zback snapshot'],
    ]);
    expect(ds(p, 'tank/data/db')).toMatchObject({ zbackSnapshots: 2, foreignSnapshots: 0 });
  });

  test('exactly on the 12:00 tick: due, one recursive snapshot of the whole group', () => {
    const p = plan('2026-11-25T12:00:00Z', caps);
    expect(p.snapshots).toEqual([
      {
        kind: 'snapshot',
        datasets: ['tank/data', 'tank/data/db', 'tank/data/web'],
        name: '2026-11-25-120000',
        recursiveRoot: 'tank/data',
        argv: ['zfs', 'snapshot', '-r', 'tank/data@2026-11-25-120000'],
      },
    ]);
    expect(p.destroys).toEqual([]);
  });

  test('one millisecond before the tick: nothing due', () => {
    expect(plan('2026-11-25T11:59:59.999Z', caps).snapshots).toEqual([]);
  });

  test('12:05:07.9 UTC: snapshot named for the whole second, in UTC', () => {
    const p = plan('2026-11-25T12:05:07.900Z', caps);
    expect(p.now).toBe(T('2026-11-25T12:05:07.900Z'));
    expect(p.snapshots.map((s) => s.argv)).toEqual([['zfs', 'snapshot', '-r', 'tank/data@2026-11-25-120507']]);
    for (const d of p.datasets) {
      expect(d.newSnapshot).toBe('2026-11-25-120507');
      expect(d.due?.due).toBe(true);
      expect(d.destroy).toEqual([]);
    }
    expect(kept(p, 'tank/data')).toEqual(['2026-11-25-100000', '2026-11-25-110000', '2026-11-25-120507']);
  });

  test.each(['2026-11-26T00:00:00Z', '2026-12-02T12:05:00Z', '2027-06-01T08:00:00Z'])('%s: three snapshots never exceed 24h/48h, nothing destroyed', (now) => {
    const p = plan(now, caps);
    expect(p.snapshots).toHaveLength(1);
    expect(p.snapshots[0]!.recursiveRoot).toBe('tank/data');
    expect(p.destroys).toEqual([]);
  });

  test('retention 1h on tank/data (and web, which inherits it), not due: only web loses its old snapshot; the held one stays', () => {
    const p = plan('2026-11-25T11:30:00Z', caps, withDataRetention('1h'));
    expect(p.snapshots).toEqual([]);
    expect(ds(p, 'tank/data').destroy).toEqual([]);
    expect(ds(p, 'tank/data').decisions.find((d) => d.name === '2026-11-25-100000')!.reasons).toEqual(['held (1 user hold)']);
    expect(p.destroys).toEqual([
      { kind: 'destroy', dataset: 'tank/data/web', snapshots: ['2026-11-25-100000'], argvs: [['zfs', 'destroy', 'tank/data/web@2026-11-25-100000']] },
    ]);
  });

  test('retention 1h, due at 12:05: new snapshot kept, held and foreign snapshots never destroyed', () => {
    const p = plan('2026-11-25T12:05:00Z', caps, withDataRetention('1h'));
    expect(p.snapshots.map((s) => s.argv)).toEqual([['zfs', 'snapshot', '-r', 'tank/data@2026-11-25-120500']]);
    expect(ds(p, 'tank/data').destroy).toEqual(['2026-11-25-110000']);
    expect(kept(p, 'tank/data')).toEqual(['2026-11-25-100000', '2026-11-25-120500']);
    expect(ds(p, 'tank/data/web').destroy).toEqual(['2026-11-25-100000', '2026-11-25-110000']);
    expect(ds(p, 'tank/data/db').destroy).toEqual([]);
    expect(allDestroyed(p)).toEqual(['tank/data@2026-11-25-110000', 'tank/data/web@2026-11-25-100000', 'tank/data/web@2026-11-25-110000']);
    expect(allDestroyed(p).join()).not.toMatch(/manual-1|tank\/data@2026-11-25-100000/);
    const argvs = p.destroys.flatMap((d) => d.argvs);
    if (caps.destroyList) {
      expect(argvs).toEqual([
        ['zfs', 'destroy', 'tank/data@2026-11-25-110000'],
        ['zfs', 'destroy', 'tank/data/web@2026-11-25-100000,2026-11-25-110000'],
      ]);
    } else {
      expect(argvs).toEqual([
        ['zfs', 'destroy', 'tank/data@2026-11-25-110000'],
        ['zfs', 'destroy', 'tank/data/web@2026-11-25-100000'],
        ['zfs', 'destroy', 'tank/data/web@2026-11-25-110000'],
      ]);
    }
  });

  test('retention 1d a week later: the old day is pruned except the held snapshot', () => {
    const p = plan('2026-12-02T09:00:00Z', caps, withDataRetention('1d'));
    // 1d → daily schedule: tick at local midnight (2026-12-01T23:00Z), due.
    expect(ds(p, 'tank/data').due).toMatchObject({ due: true, tick: T('2026-12-01T23:00:00Z') });
    expect(ds(p, 'tank/data').destroy).toEqual(['2026-11-25-110000']);
    expect(ds(p, 'tank/data/web').destroy).toEqual(['2026-11-25-100000', '2026-11-25-110000']);
    // db keeps 48 hourly buckets: 3 snapshots, all kept.
    expect(ds(p, 'tank/data/db').destroy).toEqual([]);
    // db is hourly and web/data daily: all due now, so still one -r for the group.
    expect(p.snapshots.map((s) => s.argv)).toEqual([['zfs', 'snapshot', '-r', 'tank/data@2026-12-02-090000']]);
  });

  test('the plan is a pure function: same input, same plan', () => {
    expect(plan('2026-11-25T12:05:00Z', caps, withDataRetention('1h'))).toEqual(plan('2026-11-25T12:05:00Z', caps, withDataRetention('1h')));
  });
});

describe('recorded pool: schedules differ inside the group', () => {
  test('only the hourly child is due → no -r, only that child', () => {
    const rows = withDataRetention('1d'); // tank/data and web daily, db hourly (48h)
    for (const caps of [LEG, OZ]) {
      const p = plan('2026-11-25T12:05:00Z', caps, rows);
      expect(p.datasets.filter((d) => d.newSnapshot).map((d) => d.dataset)).toEqual(['tank/data/db']);
      expect(p.snapshots).toEqual([
        { kind: 'snapshot', datasets: ['tank/data/db'], name: '2026-11-25-120500', argv: ['zfs', 'snapshot', 'tank/data/db@2026-11-25-120500'] },
      ]);
    }
  });
});

import { describe, expect, test } from '@jest/globals';
import { planCopyPrune, type CopyMarks } from '../../lib/plan/copy-prune.js';
import { Calendar } from '../../lib/policy/calendar.js';
import { NameFormat } from '../../lib/policy/snapshot-names.js';
import { capabilitiesFor, LEGACY_CAPABILITIES } from '../../lib/zfs/capabilities.js';
import type { Inventory, SnapshotInfo } from '../../lib/zfs/parse.js';

const cal = new Calendar('UTC');
const names = new NameFormat();
const NOW = Date.parse('2026-12-10T12:30:00Z');
const C = 'bpool/off/web1/data';

/** Hourly snapshots named by their time, created at that time, oldest first. */
function hourly(from: string, n: number, extra: Partial<SnapshotInfo> = {}): SnapshotInfo[] {
  const t0 = Date.parse(from);
  return Array.from({ length: n }, (_, i) => {
    const t = t0 + i * 3_600_000;
    return { name: names.nameFor(t), guid: String(1000 + i), createtxg: 10 + i, userrefs: 0, creation: t / 1000, ...extra };
  });
}

function run(snaps: SnapshotInfo[], marks: CopyMarks, keepDays = 0, caps = LEGACY_CAPABILITIES) {
  const inventory: Inventory = new Map([[C, { name: C, guid: '1', createtxg: 1, snapshots: snaps }]]);
  return planCopyPrune({ inventory, copies: new Map([[C, marks]]), names, calendar: cal, now: NOW, keepDays, caps })[0]!;
}

describe('zback prune on a backup host', () => {
  test('keeps what the recorded retention keeps, destroys the rest, one command per snapshot on legacy ZFS', () => {
    const snaps = hourly('2026-12-10T06:00:00Z', 6);
    const p = run(snaps, { replicaOf: 'web1:tank/data', retention: '2h' });
    expect(p.destroy).toEqual(snaps.slice(0, 4).map((s) => s.name));
    expect(p.argvs).toEqual(snaps.slice(0, 4).map((s) => ['zfs', 'destroy', `${C}@${s.name}`]));
    expect(p.decisions.filter((d) => d.keep).map((d) => d.name)).toEqual(snaps.slice(4).map((s) => s.name));
  });

  test('one batched command on OpenZFS', () => {
    const p = run(hourly('2026-12-10T06:00:00Z', 6), { replicaOf: 'w:t', retention: '2h' }, 0, capabilitiesFor('2.3.2'));
    expect(p.argvs).toHaveLength(1);
  });

  test('never the held, the younger than the floor, the foreign, the future-dated, nor the last received', () => {
    const snaps = hourly('2026-12-01T06:00:00Z', 4);
    snaps[0]!.userrefs = 1;
    const young = hourly('2026-12-09T06:00:00Z', 2).map((s, i) => ({ ...s, createtxg: 100 + i }));
    const foreign = { name: 'manual', guid: '9', createtxg: 200, userrefs: 0, creation: 1 };
    const future = { ...hourly('2027-06-01T00:00:00Z', 1)[0]!, createtxg: 201 };
    // The last received has an old name but the highest createtxg: it is the source's base.
    const lastReceived = { ...hourly('2026-11-20T00:00:00Z', 1)[0]!, createtxg: 300 };
    const p = run([...snaps, ...young, foreign, future, lastReceived], { replicaOf: 'w:t', retention: '1h' }, 3);
    expect(p.destroy).toEqual(snaps.slice(1).map((s) => s.name));
    const why = (n: string) => p.decisions.find((d) => d.name === n)?.reasons.join('; ');
    expect(why(snaps[0]!.name)).toMatch(/held/);
    expect(why(young[0]!.name)).toMatch(/younger than the floor of 3 days/);
    expect(why(lastReceived.name)).toMatch(/newest received/);
    expect(p.decisions.map((d) => d.name)).not.toContain('manual');
    expect(p.decisions.map((d) => d.name)).not.toContain(future.name);
  });

  test('a copy with no or a broken recorded retention is left alone, with the reason', () => {
    const snaps = hourly('2026-12-10T06:00:00Z', 3);
    expect(run(snaps, { replicaOf: 'w:t' })).toMatchObject({ destroy: [], problem: expect.stringMatching(/no retention is recorded/) });
    expect(run(snaps, { replicaOf: 'w:t', retention: 'forever' })).toMatchObject({ destroy: [], problem: expect.stringMatching(/not valid/) });
  });

  test('a snapshot whose creation could not be read is kept', () => {
    const snaps = hourly('2026-12-01T06:00:00Z', 3);
    delete snaps[0]!.creation;
    expect(run(snaps, { replicaOf: 'w:t', retention: '1h' }, 1).destroy).toEqual([snaps[1]!.name]);
  });
});

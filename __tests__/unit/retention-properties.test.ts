/**
 * decideRetention (SPEC §3): property-based invariants over random snapshot sets, random retention,
 * random zones (Europe/Berlin, America/New_York, Asia/Kolkata +05:30, Australia/Lord_Howe with its
 * 30-minute DST, UTC), random holds / protected names; plus finestUnit and a few small cases.
 */
import fc from 'fast-check';
import { Calendar } from '../../lib/policy/calendar.js';
import { NameFormat } from '../../lib/policy/snapshot-names.js';
import { decideRetention, finestUnit, UNITS, unitName, type PruneCandidate, type PruneDecision, type Retention } from '../../lib/policy/retention.js';
import { DAY_MS, HOUR_MS, oracleDecide, oracleOffsetChanges, retentionOf } from './retention-oracle.js';

const ZONES = ['Europe/Berlin', 'America/New_York', 'Asia/Kolkata', 'Australia/Lord_Howe', 'UTC'] as const;
type Zone = (typeof ZONES)[number];
const FROM = Date.UTC(2026, 0, 1);
const TO = Date.UTC(2029, 0, 1);
const fmt = new NameFormat();
const calendars = new Map<Zone, Calendar>(ZONES.map((z) => [z, new Calendar(z)]));

/** Instants worth clustering around: offset changes, month and year ends (UTC, ± a day covers local). */
const ANCHORS = new Map<Zone, number[]>(
  ZONES.map((z) => {
    const a = oracleOffsetChanges(z, FROM, TO);
    for (let y = 2026; y <= 2028; y++) for (let m = 0; m < 12; m++) a.push(Date.UTC(y, m, 1));
    a.push(Date.UTC(2028, 1, 29), Date.UTC(2026, 11, 28), Date.UTC(2027, 0, 4));
    return [z, a];
  }),
);

function timeArb(zone: Zone): fc.Arbitrary<number> {
  const anywhere = fc.integer({ min: FROM / 1000, max: TO / 1000 - 1 }).map((s) => s * 1000);
  const nearAnchor = fc
    .tuple(fc.constantFrom(...ANCHORS.get(zone)!), fc.integer({ min: -36 * 3600, max: 36 * 3600 }))
    .map(([a, d]) => Math.floor(a / 1000) * 1000 + d * 1000);
  // Whole hours and half hours exactly (the boundaries of hour buckets in every zone here).
  const onBoundary = fc
    .tuple(fc.constantFrom(...ANCHORS.get(zone)!), fc.integer({ min: -72, max: 72 }))
    .map(([a, k]) => Math.floor(a / HOUR_MS) * HOUR_MS + k * (HOUR_MS / 2));
  return fc.oneof(anywhere, nearAnchor, onBoundary);
}

const countArb = fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 60 }));
const retentionArb: fc.Arbitrary<Retention> = fc
  .record({ h: countArb, d: countArb, w: countArb, m: countArb, y: countArb })
  .filter((r) => UNITS.some((u) => r[u] > 0));

const FOREIGN = [
  'manual-1',
  'before-upgrade',
  'zback_2024-01-01-000000',
  'autosnap_2026-03-01_00:00:00_hourly',
  'znap_2026-01-01-0000',
  '2026-13-01-000000',
  '2026-02-30-000000',
  '2026-11-26-246000',
  '2026-11-26-000000x',
  'x2026-11-26-000000',
  '2026-11-26-00000',
];
const foreignArb = fc.oneof(fc.constantFrom(...FOREIGN), fc.stringMatching(/^[a-z][a-z0-9_.:-]{0,20}$/));

interface Scenario {
  zone: Zone;
  retention: Retention;
  snapshots: PruneCandidate[];
  held: Map<string, string[]>;
  foreign: string[];
}

const tagArb = fc.stringMatching(/^[a-z0-9_.:-]{1,12}$/);
const txgGapsArb = fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 120, maxLength: 120 });

function scenarioFor(zone: Zone): fc.Arbitrary<Scenario> {
  return fc
    .record({
      retention: retentionArb,
      times: fc.uniqueArray(timeArb(zone), { maxLength: 120, size: 'medium' }),
      heldPick: fc.array(fc.nat(), { maxLength: 6 }),
      tags: fc.array(tagArb, { minLength: 1, maxLength: 3 }),
      foreign: fc.uniqueArray(foreignArb, { maxLength: 6 }),
      txgGaps: txgGapsArb,
    })
    .map(({ retention, times, heldPick, tags, foreign, txgGaps }) => {
      const sorted = [...times].sort((a, b) => a - b);
      let txg = 0;
      const snapshots = sorted.map((t, i) => ({ name: fmt.nameFor(t), time: t, createtxg: (txg += txgGaps[i]!) }));
      const held = new Map<string, string[]>();
      heldPick.forEach((k, i) => {
        if (snapshots.length > 0) {
          const name = snapshots[k % snapshots.length]!.name;
          held.set(name, [...(held.get(name) ?? []), `user hold ${tags[i % tags.length]}`]);
        }
      });
      // Holds and "last common snapshot" marks on foreign snapshots too: callers may pass them.
      for (const f of foreign.slice(0, 2)) held.set(f, ['last common snapshot with backup:pool/x']);
      return { zone, retention, snapshots, held, foreign };
    });
}

// Built once (building arbitraries inside .chain() on every run is slow).
const scenarioArb: fc.Arbitrary<Scenario> = fc.oneof(...ZONES.map(scenarioFor));

const PARAMS = { numRuns: 150 };

function keptNames(ds: readonly PruneDecision[]): string[] {
  return ds.filter((d) => d.keep).map((d) => d.name);
}

describe('decideRetention properties', () => {
  test('agrees with the independent oracle (keep and every reason)', () => {
    fc.assert(
      fc.property(scenarioArb, ({ zone, retention, snapshots, held }) => {
        const got = decideRetention(snapshots, retention, calendars.get(zone)!, held);
        const want = oracleDecide(snapshots, retention, zone, held);
        expect(got.map((d) => [d.name, d.reasons])).toEqual([...want.entries()]);
      }),
      PARAMS,
    );
  });

  test('the newest is always kept; held names are always kept; keep ⇔ at least one reason; per-unit count ≤ N', () => {
    fc.assert(
      fc.property(scenarioArb, ({ zone, retention, snapshots, held }) => {
        const ds = decideRetention(snapshots, retention, calendars.get(zone)!, held);
        const byName = new Map(ds.map((d) => [d.name, d]));
        const problems: string[] = [];
        if (snapshots.length > 0) {
          const newest = snapshots.reduce((a, b) => (b.time > a.time ? b : a));
          const d = byName.get(newest.name)!;
          if (!d.keep || !d.reasons.includes('newest zback snapshot')) problems.push(`newest ${newest.name} not kept as newest`);
        }
        for (const [name, why] of held) {
          const d = byName.get(name);
          if (!d) continue; // a foreign name: not ours to decide
          if (!d.keep || !why.every((w) => d.reasons.includes(w))) problems.push(`held ${name} not kept with ${why}`);
        }
        for (const d of ds) if (d.keep !== d.reasons.length > 0) problems.push(`${d.name}: keep=${d.keep} with ${d.reasons.length} reasons`);
        for (const u of UNITS) {
          const prefix = `${unitName(u)} `;
          const mine = ds.flatMap((d) => d.reasons.filter((r) => r.startsWith(prefix)));
          if (mine.length > retention[u]) problems.push(`${mine.length} kept by ${u} > ${retention[u]}`);
          // ranks 1..k, each once; a snapshot kept by a unit at most once
          const ranks = mine.map((r) => Number(/ (\d+)\//.exec(r)![1])).sort((a, b) => a - b);
          if (ranks.some((r, i) => r !== i + 1)) problems.push(`${u} ranks ${ranks}`);
          for (const d of ds) if (d.reasons.filter((r) => r.startsWith(prefix)).length > 1) problems.push(`${d.name} kept twice by ${u}`);
        }
        expect(problems).toEqual([]);
      }),
      PARAMS,
    );
  });

  test('decides about exactly its input: never a name outside it, so foreign snapshots cannot be destroyed', () => {
    fc.assert(
      fc.property(scenarioArb, ({ zone, retention, snapshots, held, foreign }) => {
        // What a caller sees on the dataset: zback snapshots and foreign ones, in any order.
        const listing = [...foreign, ...snapshots.map((s) => s.name)].sort();
        for (const f of foreign) expect(fmt.parse(f)).toBeNull();
        const candidates = listing
          .map((name) => ({ name, time: fmt.parse(name) }))
          .filter((c): c is { name: string; time: number } => c.time !== null)
          .map((c) => snapshots.find((s) => s.name === c.name)!);
        const ds = decideRetention(candidates, retention, calendars.get(zone)!, held);
        const input = new Set(snapshots.map((s) => s.name));
        expect(ds.length).toBe(snapshots.length);
        expect(new Set(ds.map((d) => d.name))).toEqual(input);
        const destroyed = ds.filter((d) => !d.keep).map((d) => d.name);
        for (const f of foreign) {
          expect(destroyed).not.toContain(f);
          expect(ds.map((d) => d.name)).not.toContain(f);
        }
        for (const d of destroyed) expect(input.has(d)).toBe(true);
      }),
      PARAMS,
    );
  });

  test('idempotent: a second prune over the survivors deletes nothing and gives the same reasons', () => {
    fc.assert(
      fc.property(scenarioArb, ({ zone, retention, snapshots, held }) => {
        const cal = calendars.get(zone)!;
        const first = decideRetention(snapshots, retention, cal, held);
        const survivors = snapshots.filter((s) => first.find((d) => d.name === s.name)!.keep);
        const second = decideRetention(survivors, retention, cal, held);
        expect(second.filter((d) => !d.keep)).toEqual([]);
        expect(second).toEqual(first.filter((d) => d.keep));
      }),
      PARAMS,
    );
  });

  test('order of the input does not matter', () => {
    fc.assert(
      fc.property(
        scenarioArb.chain((s) => fc.tuple(fc.constant(s), fc.shuffledSubarray(s.snapshots, { minLength: s.snapshots.length, maxLength: s.snapshots.length }))),
        ([{ zone, retention, snapshots, held }, shuffled]) => {
          const cal = calendars.get(zone)!;
          const a = decideRetention(snapshots, retention, cal, held);
          const b = decideRetention(shuffled, retention, cal, held);
          const c = decideRetention([...snapshots].reverse(), retention, new Calendar(zone), held);
          expect(b).toEqual(a);
          expect(c).toEqual(a);
        },
      ),
      PARAMS,
    );
  });

  test('adding newer snapshots and pruning again = pruning everything at once (stable choice)', () => {
    fc.assert(
      fc.property(scenarioArb, fc.nat(), ({ zone, retention, snapshots }, cut) => {
        const cal = calendars.get(zone)!;
        const k = snapshots.length === 0 ? 0 : cut % (snapshots.length + 1);
        const older = snapshots.slice(0, k);
        const newer = snapshots.slice(k);
        const firstKept = new Set(keptNames(decideRetention(older, retention, cal)));
        const rolling = keptNames(decideRetention([...older.filter((s) => firstKept.has(s.name)), ...newer], retention, cal));
        expect(rolling).toEqual(keptNames(decideRetention(snapshots, retention, cal)));
      }),
      PARAMS,
    );
  });

  test('does not modify its input', () => {
    fc.assert(
      fc.property(scenarioArb, ({ zone, retention, snapshots, held }) => {
        const copy = JSON.parse(JSON.stringify(snapshots)) as PruneCandidate[];
        const heldCopy = JSON.stringify([...held]);
        decideRetention([...snapshots].reverse(), retention, calendars.get(zone)!, held);
        expect(snapshots).toEqual(copy);
        expect(JSON.stringify([...held])).toBe(heldCopy);
      }),
      { numRuns: 30 },
    );
  });
});

describe('decideRetention, small cases', () => {
  const utc = new Calendar('UTC');
  const snap = (name: string, iso: string, createtxg: number): PruneCandidate => ({ name, time: Date.parse(iso), createtxg });

  test('no snapshots: no decisions', () => {
    expect(decideRetention([], retentionOf({ h: 24 }), utc)).toEqual([]);
  });

  test('a single snapshot is kept, as newest and by every unit', () => {
    const s = snap('2026-06-01-120000', '2026-06-01T12:00:00Z', 1);
    expect(decideRetention([s], retentionOf({ h: 1, d: 1, w: 1, m: 1, y: 1 }), utc)).toEqual([
      {
        name: s.name,
        time: s.time,
        keep: true,
        reasons: [
          'hourly 1/1 (2026-06-01 12:00 +00:00)',
          'daily 1/1 (2026-06-01)',
          'weekly 1/1 (2026-W23)',
          'monthly 1/1 (2026-06)',
          'yearly 1/1 (2026)',
          'newest zback snapshot',
        ],
      },
    ]);
  });

  test('the OLDEST of a bucket is kept, not the newest (stable from run to run)', () => {
    const a = snap('a', '2026-06-01T00:10:00Z', 1);
    const b = snap('b', '2026-06-01T08:00:00Z', 2);
    const c = snap('c', '2026-06-01T16:00:00Z', 3);
    const d = snap('d', '2026-06-02T16:00:00Z', 4);
    const ds = decideRetention([d, c, b, a], retentionOf({ d: 2 }), utc);
    expect(ds.map((x) => [x.name, x.keep])).toEqual([
      ['a', true],
      ['b', false],
      ['c', false],
      ['d', true],
    ]);
  });

  test('equal times: creation order (createtxg) decides which one is the oldest, whatever the input order', () => {
    const x = snap('x', '2026-06-01T10:00:00Z', 7);
    const y = snap('y', '2026-06-01T10:00:00Z', 5);
    const z = snap('z', '2026-06-01T11:00:00Z', 9);
    for (const input of [
      [x, y, z],
      [z, x, y],
      [y, z, x],
    ]) {
      const ds = decideRetention(input, retentionOf({ d: 1 }), utc);
      expect(ds.map((q) => [q.name, q.reasons])).toEqual([
        ['y', ['daily 1/1 (2026-06-01)']],
        ['x', []],
        ['z', ['newest zback snapshot']],
      ]);
    }
  });

  test('held snapshots take part in their buckets like any other', () => {
    // The held one is not the oldest: the oldest still keeps the bucket, the hold keeps the other.
    const a = snap('a', '2026-06-01T01:00:00Z', 1);
    const b = snap('b', '2026-06-01T02:00:00Z', 2);
    const c = snap('c', '2026-06-01T03:00:00Z', 3);
    const n = snap('n', '2026-06-05T03:00:00Z', 4);
    const held = new Map([['b', ['user hold keep']]]);
    expect(decideRetention([a, b, c, n], retentionOf({ d: 2 }), utc, held).map((q) => [q.name, q.reasons])).toEqual([
      ['a', ['daily 2/2 (2026-06-01)']],
      ['b', ['user hold keep']],
      ['c', []],
      ['n', ['daily 1/2 (2026-06-05)', 'newest zback snapshot']],
    ]);
    // The held one is the oldest: it serves the bucket and keeps its hold reason; nothing else in it is kept.
    const held2 = new Map([['a', ['user hold keep']]]);
    expect(decideRetention([a, b, c, n], retentionOf({ d: 2 }), utc, held2).map((q) => [q.name, q.reasons])).toEqual([
      ['a', ['daily 2/2 (2026-06-01)', 'user hold keep']],
      ['b', []],
      ['c', []],
      ['n', ['daily 1/2 (2026-06-05)', 'newest zback snapshot']],
    ]);
  });

  test('a held or protected name that is not in the input is ignored, not invented', () => {
    const a = snap('2026-06-01-010000', '2026-06-01T01:00:00Z', 1);
    const held = new Map([
      ['manual-1', ['user hold keep']],
      ['2026-05-01-000000', ['last common snapshot with b:pool']],
    ]);
    const ds = decideRetention([a], retentionOf({ h: 1 }), utc, held);
    expect(ds.map((d) => d.name)).toEqual([a.name]);
  });

  test('a count of 0 is ignored; nothing but the newest survives a unit whose buckets are all older than N', () => {
    const snaps = [0, 1, 2, 3].map((k) => snap(`s${k}`, new Date(Date.UTC(2026, 0, 1) + k * DAY_MS).toISOString(), k));
    const ds = decideRetention(snaps, retentionOf({ h: 1, d: 0 }), utc);
    expect(ds.map((d) => [d.name, d.reasons])).toEqual([
      ['s0', []],
      ['s1', []],
      ['s2', []],
      ['s3', ['hourly 1/1 (2026-01-04 00:00 +00:00)', 'newest zback snapshot']],
    ]);
  });

  test('Asia/Kolkata: hour buckets are local clock hours at +05:30', () => {
    const cal = new Calendar('Asia/Kolkata');
    // 04:29:59Z = 09:59:59 IST, 04:30Z = 10:00 IST: two buckets; 04:30Z and 05:29:59Z: one bucket.
    const a = snap('a', '2026-06-01T04:29:59Z', 1);
    const b = snap('b', '2026-06-01T04:30:00Z', 2);
    const c = snap('c', '2026-06-01T05:29:59Z', 3);
    const d = snap('d', '2026-06-01T05:30:00Z', 4);
    expect(decideRetention([a, b, c, d], retentionOf({ h: 10 }), cal).map((q) => [q.name, q.reasons])).toEqual([
      ['a', ['hourly 3/10 (2026-06-01 09:00 +05:30)']],
      ['b', ['hourly 2/10 (2026-06-01 10:00 +05:30)']],
      ['c', []],
      ['d', ['hourly 1/10 (2026-06-01 11:00 +05:30)', 'newest zback snapshot']],
    ]);
  });

  test('Australia/Lord_Howe: the half hour that repeats when DST ends (+11 → +10:30) is its own hour bucket', () => {
    const cal = new Calendar('Australia/Lord_Howe');
    // 2026-04-05 02:00 +11 (15:00Z) → 01:30 +10:30. 14:45Z = 01:45 +11, 15:15Z = 01:45 +10:30.
    const a = snap('a', '2026-04-04T14:45:00Z', 1);
    const b = snap('b', '2026-04-04T15:15:00Z', 2);
    const c = snap('c', '2026-04-04T15:45:00Z', 3); // 02:15 +10:30
    expect(decideRetention([a, b, c], retentionOf({ h: 10, d: 1 }), cal).map((q) => [q.name, q.reasons])).toEqual([
      ['a', ['hourly 3/10 (2026-04-05 01:00 +11:00)', 'daily 1/1 (2026-04-05)']],
      ['b', ['hourly 2/10 (2026-04-05 01:00 +10:30)']],
      ['c', ['hourly 1/10 (2026-04-05 02:00 +10:30)', 'newest zback snapshot']],
    ]);
  });
});

describe('finestUnit', () => {
  test.each<[Partial<Record<'h' | 'd' | 'w' | 'm' | 'y', number>>, string]>([
    [{ h: 24, d: 30, w: 0, m: 3 }, 'h'],
    [{ h: 0, d: 30, w: 4, m: 3 }, 'd'],
    [{ d: 0, w: 4, m: 3 }, 'w'],
    [{ m: 3 }, 'm'],
    [{ y: 10 }, 'y'],
    [{ h: 1, y: 10 }, 'h'],
    [{ w: 1, y: 1 }, 'w'],
  ])('%o → %s', (r, unit) => {
    expect(finestUnit(retentionOf(r))).toBe(unit);
  });

  test('is the first unit with a count > 0 in the order h d w m y', () => {
    fc.assert(
      fc.property(retentionArb, (r) => {
        const u = finestUnit(r);
        expect(r[u]).toBeGreaterThan(0);
        for (const finer of UNITS.slice(0, UNITS.indexOf(u))) expect(r[finer]).toBe(0);
      }),
    );
  });
});

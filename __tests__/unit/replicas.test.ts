/**
 * `zback status --replicas` (lib/report/replicas.ts): the backup host's view from the copies' own
 * marks — grouped by source host, stale by each copy's recorded schedule and zone, silent by age
 * where a copy records none, and marks that cannot be read shown but not trusted.
 */
import { describe, expect, test } from '@jest/globals';
import { propertyNames } from '../../lib/policy/properties.js';
import { NameFormat } from '../../lib/policy/snapshot-names.js';
import { buildReplicas, type ReplicasInput } from '../../lib/report/replicas.js';
import { renderReplicasCheck } from '../../lib/report/replicas-text.js';
import { DEFAULT_THRESHOLDS } from '../../lib/report/status.js';
import type { Inventory } from '../../lib/zfs/parse.js';

const P = propertyNames();
const NOW = Date.parse('2026-12-04T15:10:00Z');
const H = 3_600_000;

/** A copy with snapshots made at these instants (creation, seconds). */
function inventory(copies: Record<string, number[]>): Inventory {
  return new Map(
    Object.entries(copies).map(([name, times]) => [
      name,
      {
        name,
        guid: '1',
        createtxg: 1,
        snapshots: times.map((t, i) => ({
          name: new Date(t).toISOString().slice(0, 13),
          guid: String(i + 2),
          createtxg: i + 2,
          userrefs: 0,
          creation: t / 1000,
        })),
      },
    ]),
  );
}
const marks = (copy: string, of: string, schedule?: string, retention = '48h') => [
  { name: copy, property: P.replicaOf, value: of },
  { name: copy, property: P.replicaRetention, value: retention },
  ...(schedule !== undefined ? [{ name: copy, property: P.replicaSchedule, value: schedule }] : []),
];
const build = (over: Partial<ReplicasInput>) =>
  buildReplicas({
    marks: [],
    inventory: new Map(),
    used: new Map(),
    names: P,
    format: new NameFormat(),
    now: NOW,
    thresholds: DEFAULT_THRESHOLDS,
    host: 'bak',
    ...over,
  });

describe('the backup host’s view', () => {
  const input: Partial<ReplicasInput> = {
    marks: [
      ...marks('bpool/web1/d', 'web1:tank/d', 'hourly@UTC'),
      ...marks('bpool/web1/e', 'web1:tank/e', 'daily@Europe/Berlin'),
      ...marks('bpool/web2/d', 'web2:tank/d', 'hourly@UTC'),
      ...marks('bpool/web3/d', 'web3:tank/d'), // seeded by an older zback: no schedule recorded
      { name: 'bpool/web1', property: P.replicaRetention, value: '1d' }, // a mark without replica-of: not a copy
    ],
    inventory: inventory({
      'bpool/web1/d': [NOW - 2 * H, NOW - H - 10 * 60_000], // newest 14:00: the 15:00 tick is 10 min ago
      'bpool/web1/e': [NOW - 30 * H], // 2026-12-03 09:10 UTC: Berlin's next midnight (23:00 UTC) is 16 h ago
      'bpool/web2/d': [NOW - 5 * H], // 10:10: overdue since 11:00, 4 h 10 min
      'bpool/web3/d': [NOW - 3 * 24 * H],
    }),
    used: new Map([['bpool/web1/d', 1024]]),
  };
  const report = build(input);
  const copy = (name: string) => report.sources.flatMap((s) => s.copies).find((c) => c.copy === name)!;

  test('grouped by source host, with what each copy records', () => {
    expect(report.sources.map((s) => [s.source, s.copies.map((c) => c.copy)])).toEqual([
      ['web1', ['bpool/web1/d', 'bpool/web1/e']],
      ['web2', ['bpool/web2/d']],
      ['web3', ['bpool/web3/d']],
    ]);
    expect(copy('bpool/web1/d')).toMatchObject({
      dataset: 'tank/d',
      retention: '48h',
      schedule: 'hourly',
      zone: 'UTC',
      snapshots: 2,
      usedBytes: 1024,
      problems: [],
    });
    expect(copy('bpool/web1/d').newest).toEqual({ name: '2026-12-04T14', time: '2026-12-04T14:00:00.000Z', ageSeconds: 4200 });
  });

  test('stale by the recorded schedule, in its zone, by the thresholds', () => {
    expect(copy('bpool/web1/e').problems).toEqual([
      { level: 'warning', message: 'stale: the next snapshot from web1 is overdue by 16 h (schedule daily in Europe/Berlin)' },
    ]);
    expect(copy('bpool/web2/d').problems).toEqual([
      { level: 'warning', message: 'stale: the next snapshot from web2 is overdue by 4 h (schedule hourly in UTC)' },
    ]);
    const later = build({ ...input, now: NOW + 24 * H });
    expect(later.sources[1]!.copies[0]!.problems[0]!.level).toBe('critical');
  });

  test('a copy gets a snapshot only when both schedules have ticked: hourly sends of daily snapshots are not overdue by day', () => {
    const daily = build({
      marks: [...marks('bpool/web1/db', 'web1:tank/db', 'hourly+daily@UTC'), ...marks('bpool/web1/old', 'web1:tank/old', 'hourly+daily@UTC')],
      inventory: inventory({ 'bpool/web1/db': [Date.parse('2026-12-04T00:00:00Z')], 'bpool/web1/old': [Date.parse('2026-12-03T00:00:00Z')] }),
    });
    const [db, old] = daily.sources[0]!.copies;
    expect(db!.problems).toEqual([]); // today's 00:00 snapshot is the newest there can be
    expect(db!.snapshotSchedule).toBe('daily');
    expect(old!.problems).toEqual([
      { level: 'warning', message: 'stale: the next snapshot from web1 is overdue by 15 h (schedule hourly, snapshots daily in UTC)' },
    ]);
  });

  test('a snapshot made by hand on the backup host does not make a copy that gets nothing look current', () => {
    const inv = inventory({ 'bpool/web2/d': [NOW - 5 * H, NOW - 60_000] });
    inv.get('bpool/web2/d')!.snapshots[0]!.name = '2026-12-04-100000';
    inv.get('bpool/web2/d')!.snapshots[1]!.name = 'before-upgrade';
    const c = build({ ...input, inventory: inv }).sources.find((s) => s.source === 'web2')!.copies[0]!;
    expect(c.newest!.name).toBe('2026-12-04-100000');
    expect(c.problems[0]!.message).toMatch(/overdue by 4 h/);
  });

  test('a copy that records no schedule: silent when older than --crit-after', () => {
    expect(copy('bpool/web3/d').problems).toEqual([
      { level: 'critical', message: 'silent: no snapshot has come from web3 for 3 d (--crit-after 24 h; the copy records no schedule)' },
    ]);
    expect(build({ ...input, thresholds: { warnMs: H, critMs: 4 * 24 * H } }).sources[2]!.copies[0]!.problems).toEqual([]);
  });

  test('the summary and the Nagios line', () => {
    expect(report.summary).toEqual({ sources: 3, copies: 4, warnings: 2, criticals: 1, status: 'critical' });
    const check = renderReplicasCheck(report);
    expect(check.exitCode).toBe(2);
    expect(check.line).toMatch(/^ZBACK REPLICAS CRITICAL - 4 copies from 3 hosts, 1 critical, 2 warning: bpool\/web3\/d \(web3:tank\/d\): silent: /);
    expect(check.line).toMatch(/\| copies=4 sources=3 critical=1 warning=2$/);
    expect(renderReplicasCheck(build({})).line).toBe(
      'ZBACK REPLICAS OK - 0 copies from 0 hosts, 0 critical, 0 warning | copies=0 sources=0 critical=0 warning=0',
    );
  });

  test("a snapshot's time is the one its zback name carries (as on the source), not when it was received", () => {
    const inv = inventory({ 'bpool/web2/d': [NOW] }); // received just now…
    inv.get('bpool/web2/d')!.snapshots[0]!.name = '2026-12-04-100000'; // …but taken at 10:00 on the source
    const r = build({ ...input, inventory: inv });
    const c = r.sources.find((s) => s.source === 'web2')!.copies[0]!;
    expect(c.newest).toEqual({ name: '2026-12-04-100000', time: '2026-12-04T10:00:00.000Z', ageSeconds: 5 * 3600 + 600 });
    expect(c.problems[0]!.message).toMatch(/overdue by 4 h/);
  });

  test('a copy without snapshots, a schedule mark that cannot be read, marks that cannot be read at all', () => {
    const r = build({
      marks: [...marks('bpool/x', 'web1:tank/x', 'sometimes@UTC'), ...marks('bpool/y', 'web1:tank/y', 'hourly@Mars/Base')],
      inventory: inventory({ 'bpool/x': [], 'bpool/y': [NOW - 10 * 60_000] }),
      unreadable: ['bpool/forged', 'bpool/forged@snap'],
    });
    const all = r.sources.flatMap((s) => s.copies);
    expect(all.map((c) => [c.copy, c.problems.map((p) => `${p.level}: ${p.message}`)])).toEqual([
      ['bpool/forged', [expect.stringMatching(/^warning: its zback marks cannot be read unambiguously/)]],
      ['bpool/x', [expect.stringMatching(/^warning: its org.wit:replica-schedule \("sometimes@UTC"\) cannot be read/), 'critical: the copy has no snapshot']],
      ['bpool/y', [expect.stringMatching(/^warning: its org.wit:replica-schedule \("hourly@Mars\/Base"\) cannot be read/)]],
    ]);
  });
});

/**
 * The small pure helpers: durations (status thresholds, ages), transfer progress lines, destination
 * identities (the same copy under any spelling of its host), the copy's marks, the semaphore that
 * caps SSH channels, and zback's JSON files (a corrupt one is kept aside, never lost).
 */
import { splayDelayMs } from '../../lib/cli/splay.js';
import { bandwidthLimits } from '../../lib/execute/bandwidth.js';
import type { Action } from '../../lib/plan/types.js';
import { formatRate, parseRate } from '../../lib/policy/rate.js';
import { describe, expect, test } from '@jest/globals';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { copyMarkProperties, DEFAULT_COPY_MARK, parseScheduleMark, scheduleMark } from '../../lib/plan/copy-mark.js';
import { parseSchedule } from '../../lib/policy/schedule.js';
import { destinationIdentity, destinationOfTag, holdIdentity, hostIdentity, keyIdentity, splitKey } from '../../lib/plan/identity.js';
import { formatDuration, parseDuration } from '../../lib/policy/duration.js';
import { formatBytes, progressReporter } from '../../lib/report/progress.js';
import { keepAside, readJson } from '../../lib/state/files.js';
import { Semaphore } from '../../lib/util/semaphore.js';

describe('durations', () => {
  test.each([
    ['90m', 5_400_000],
    ['2h', 7_200_000],
    ['1d12h', 129_600_000],
    ['1w', 604_800_000],
    [' 30s ', 30_000],
  ])('%j → %d ms', (text, ms) => expect(parseDuration(text)).toBe(ms));
  test.each(['', '2', 'h', '2x', '1.5h', '-1h', '2h 30m'])('%j is refused, with an example', (text) => {
    expect(() => parseDuration(text)).toThrow(/is not a duration such as 90m, 2h or 1d/);
  });
  test.each([
    [0, '0s'],
    [4_000, '4s'],
    [5_400_000, '1h30m'],
    [90_061_000, '1d1h'],
    [-61_000, '-1m1s'],
  ])('%d ms → %j (two units at most)', (ms, text) => expect(formatDuration(ms)).toBe(text));
});

describe('transfer progress', () => {
  test('bytes in binary units', () => {
    expect([0, 1023, 1024, 1536, 5 * 1024 ** 3].map(formatBytes)).toEqual(['0 B', '1023 B', '1.0 KiB', '1.5 KiB', '5.0 GiB']);
  });
  test('throttled lines with rate and, when the size is known, percent and ETA; null clears', () => {
    let now = 1000;
    const lines: Array<string | null> = [];
    const report = progressReporter(
      (l) => lines.push(l),
      () => now,
      250,
    );
    report('tank/a → bk:b/a', 0, 4 * 1024 ** 2);
    now = 1100;
    report('tank/a → bk:b/a', 512 * 1024, 4 * 1024 ** 2); // within 250 ms: not shown
    now = 3000;
    report('tank/a → bk:b/a', 2 * 1024 ** 2, 4 * 1024 ** 2);
    report('tank/a → bk:b/a', null, null);
    expect(lines).toEqual(['tank/a → bk:b/a: 0 B of 4.0 MiB (0%), 0 B/s', 'tank/a → bk:b/a: 2.0 MiB of 4.0 MiB (50%), 1.0 MiB/s, ETA 2s', null]);
  });
});

describe('destination identity: one copy, any spelling of its host', () => {
  test('user, case and port 22 do not matter; another port is another machine', () => {
    expect(['bk', 'root@bk', 'BK', 'bk:22', 'root@BK:22'].map(hostIdentity)).toEqual(['bk', 'bk', 'bk', 'bk', 'bk']);
    expect(hostIdentity('gw:2201')).not.toBe(hostIdentity('gw:2202'));
    expect(hostIdentity('[fd00::5]:22')).toBe('[fd00::5]');
    expect(destinationIdentity('root@BK:22', 'pool/x')).toBe(keyIdentity('bk:pool/x'));
  });
  test('keys and tags split at the host, even when the dataset has ":" in it', () => {
    expect(splitKey('root@bk:2222:pool/x:y')).toEqual({ hostLabel: 'root@bk:2222', target: 'pool/x:y' });
    expect(splitKey('pool/x')).toEqual({ hostLabel: 'local', target: 'pool/x' });
    expect(destinationOfTag('zback:bk:pool/x')).toEqual({ hostLabel: 'bk', target: 'pool/x' });
    expect(destinationOfTag('zback:0123456789abcdef0123456789abcdef')).toBeNull(); // hashed: cannot tell
    expect(destinationOfTag('keep')).toBeNull();
  });
  test('a recorded hold names the destination whose base it protects', () => {
    const source = { role: 'source' as const, host: 'local', dataset: 'p/a', snapshot: 's', tag: 'zback:BK:pool/x' };
    expect(holdIdentity(source)).toBe('bk:pool/x');
    expect(holdIdentity({ ...source, destination: { hostLabel: 'root@bk', target: 'pool/y' } })).toBe('bk:pool/y');
    expect(holdIdentity({ role: 'target', host: 'bk:22', dataset: 'pool/x', snapshot: 's', tag: 'zback:replica' })).toBe('bk:pool/x');
  });
});

test("a seeded copy's marks: replica-of names this machine and the source, canmount=noauto, the destination's retention", () => {
  expect(copyMarkProperties({ ...DEFAULT_COPY_MARK, source: 'web1' }, 'tank/a', '24h30d')).toEqual([
    ['org.wit:replica-of', 'web1:tank/a'],
    ['canmount', 'noauto'],
    ['org.wit:replica-retention', '24h30d'],
  ]);
  expect(copyMarkProperties({ property: 'x:replica-of', source: 'h' }, 'tank/a', '1d')).toEqual([
    ['x:replica-of', 'h:tank/a'],
    ['canmount', 'noauto'],
  ]);
});

test("a copy's schedule mark: one word (spaces as _), with the zone it ticks in, read back as it was", () => {
  const cron = parseSchedule('0 */4 * * 1-5');
  expect(scheduleMark(cron, 'Europe/Berlin')).toBe('0_*/4_*_*_1-5@Europe/Berlin');
  expect(parseScheduleMark('0_*/4_*_*_1-5@Europe/Berlin')).toEqual({ schedule: cron, zone: 'Europe/Berlin' });
  expect(parseScheduleMark(scheduleMark(parseSchedule('hourly'), 'UTC'))).toEqual({ schedule: parseSchedule('hourly'), zone: 'UTC' });
  expect(copyMarkProperties({ ...DEFAULT_COPY_MARK, scheduleProperty: 'org.wit:replica-schedule' }, 'tank/a', '1d', 'daily@UTC').at(-1)).toEqual([
    'org.wit:replica-schedule',
    'daily@UTC',
  ]);
  expect(scheduleMark(parseSchedule('hourly'), 'UTC', parseSchedule('daily'))).toBe('hourly+daily@UTC');
  expect(scheduleMark(parseSchedule('hourly'), 'UTC', parseSchedule('hourly'))).toBe('hourly@UTC');
  expect(parseScheduleMark('0_*/4_*_*_*+daily@UTC')).toEqual({ schedule: parseSchedule('0 */4 * * *'), snapshots: parseSchedule('daily'), zone: 'UTC' });
  expect(() => parseScheduleMark('hourly+daily+weekly@UTC')).toThrow(/not a schedule mark/);
  expect(() => parseScheduleMark('hourly')).toThrow(/not a schedule mark/);
  expect(() => parseScheduleMark('sometimes@UTC')).toThrow(/unknown schedule/);
});

test('the semaphore: at most N holders, the others in order, a release given twice counts once', async () => {
  const s = new Semaphore(2);
  const order: string[] = [];
  const a = await s.acquire();
  const b = await s.acquire();
  const c = s.acquire().then((r) => (order.push('c'), r));
  const d = s.acquire().then((r) => (order.push('d'), r));
  await new Promise((r) => setImmediate(r));
  expect(order).toEqual([]);
  a();
  a(); // twice: harmless
  await new Promise((r) => setImmediate(r));
  expect(order).toEqual(['c']);
  b();
  await d;
  expect(order).toEqual(['c', 'd']);
  (await c)();
});

describe("zback's JSON files", () => {
  const dir = mkdtempSync(join(tmpdir(), 'zback-files-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  test('missing, whole, or corrupt (with why); a corrupt one is kept aside under a new name', () => {
    expect(readJson(join(dir, 'none.json'))).toEqual({ kind: 'missing' });
    writeFileSync(join(dir, 'ok.json'), '{"a":1}');
    expect(readJson(join(dir, 'ok.json'))).toEqual({ kind: 'ok', value: { a: 1 } });
    const bad = join(dir, 'state.json');
    writeFileSync(bad, '{"a":');
    const read = readJson(bad);
    expect(read.kind).toBe('error');
    const aside = keepAside(bad);
    expect(aside).toMatch(/state\.json\.corrupt-/);
    expect([existsSync(bad), readFileSync(aside, 'utf8')]).toEqual([false, '{"a":']);
  });
});

describe('splayDelayMs (run --splay)', () => {
  test('the same host waits the same time every run, within [0, splay)', () => {
    expect(splayDelayMs('fs1.example.org', 60)).toBe(splayDelayMs('fs1.example.org', 60));
    for (const s of [1, 60, 3600]) {
      const d = splayDelayMs('fs1.example.org', s);
      expect(d).toBeGreaterThanOrEqual(0);
      expect(d).toBeLessThan(s * 1000);
    }
    expect(splayDelayMs('fs1.example.org', 0)).toBe(0);
    // A host keeps its place in the window when the window changes.
    expect(splayDelayMs('fs1', 120) / 120).toBeCloseTo(splayDelayMs('fs1', 60) / 60, 3);
  });
  test('a fleet of 1,000 hosts is spread evenly: each tenth of the window gets 10% ± 3%', () => {
    const tenths = new Array<number>(10).fill(0);
    for (let i = 0; i < 1000; i++) tenths[Math.floor(splayDelayMs(`fs${i}.example.org`, 60) / 6000)]!++;
    for (const n of tenths) {
      expect(n).toBeGreaterThanOrEqual(70);
      expect(n).toBeLessThanOrEqual(130);
    }
  });
});

describe('rates (--bwlimit, bwlimit=)', () => {
  test.each<[string, number | null]>([
    ['20M', 20 * 1024 ** 2],
    ['20m', 20 * 1024 ** 2],
    ['512K', 512 * 1024],
    ['1.5G', 1.5 * 1024 ** 3],
    ['1T', 1024 ** 4],
    ['1024', 1024],
    [' 8M ', 8 * 1024 ** 2],
    ['0', null],
    ['0.0M', null],
  ])('parseRate(%j) = %p', (text, bytes) => expect(parseRate(text)).toBe(bytes));
  test.each(['', '20MB', '20 M', '-1M', 'fast', '1e6', '1023', '0.5K'])('parseRate(%j) is refused', (text) =>
    expect(() => parseRate(text)).toThrow(/not a rate|below 1K/),
  );
  test('formatRate', () => {
    expect([formatRate(20 * 1024 ** 2), formatRate(1536), formatRate(1000), formatRate(1.5 * 1024 ** 3)]).toEqual([
      '20 MiB/s',
      '1.5 KiB/s',
      '1000 B/s',
      '1.5 GiB/s',
    ]);
  });
});

describe('bandwidthLimits', () => {
  const send = (id: string, host: string, bwlimit?: number) =>
    ({
      id,
      phase: 'replicate',
      op: 'send',
      host,
      dataset: 'tank/a',
      argv: [],
      target: 'p/a',
      snapshots: [],
      after: [],
      why: '',
      ...(bwlimit ? { bwlimit } : {}),
    }) as Action;
  test("one bucket for the run; one per host at the lowest of its destinations' rates; none where nothing is limited", () => {
    const actions = [send('a1', 'bak', 4096), send('a2', 'bak', 2048), send('a3', 'bak'), send('a4', 'far', 8192), send('a5', 'near')];
    const limits = bandwidthLimits(actions, null);
    expect(limits(actions[0]!).map((b) => b.bytesPerSecond)).toEqual([2048]);
    expect(limits(actions[2]!)).toEqual([limits(actions[1]!)[0]]); // the same bucket: one link
    expect(limits(actions[3]!).map((b) => b.bytesPerSecond)).toEqual([8192]);
    expect(limits(actions[4]!)).toEqual([]);
    const withRun = bandwidthLimits(actions, 1024 ** 2);
    expect(withRun(actions[4]!).map((b) => b.bytesPerSecond)).toEqual([1024 ** 2]);
    expect(withRun(actions[0]!)[0]).toBe(withRun(actions[3]!)[0]); // one bucket for every stream of the run
    expect(withRun(actions[0]!).map((b) => b.bytesPerSecond)).toEqual([1024 ** 2, 2048]);
    // One machine reached as another user or on another port: one link, one bucket.
    const same = [send('b1', 'bak', 8192), send('b2', 'root@bak:2222', 4096), send('b3', 'BAK')];
    const shared = bandwidthLimits(same, null);
    expect(new Set(same.map((a) => shared(a)[0]))).toEqual(new Set([shared(same[0]!)[0]]));
    expect(shared(same[2]!).map((b) => b.bytesPerSecond)).toEqual([4096]);
  });
});

/**
 * lib/policy/calendar.ts against the independent oracle (Intl formatToParts with longOffset, the
 * classic ISO-week algorithm): offsets, local fields, bucket identity, isoWeek, format, zone validation.
 */
import fc from 'fast-check';
import { execFileSync } from 'node:child_process';
import { Calendar, systemTimeZone, validateTimeZone } from '../../lib/policy/calendar.js';
import { InvalidValue } from '../../lib/errors.js';
import { DAY_MS, HOUR_MS, MINUTE_MS, isoWeekday, oracleIsoWeek, oracleLocal, oracleMemo, oracleOffsetChanges, type OracleUnit } from './retention-oracle.js';

const ZONES = ['Europe/Berlin', 'America/New_York', 'Asia/Kolkata', 'Australia/Lord_Howe', 'UTC'] as const;
const FROM = Date.UTC(2026, 0, 1);
const TO = Date.UTC(2029, 0, 1);

const TRANSITIONS = new Map<string, number[]>(ZONES.map((z) => [z, oracleOffsetChanges(z, FROM, TO)]));

test('the oracle finds the DST changes we expect (sanity check of the test itself)', () => {
  expect(TRANSITIONS.get('UTC')).toEqual([]);
  expect(TRANSITIONS.get('Asia/Kolkata')).toEqual([]);
  expect(
    TRANSITIONS.get('Europe/Berlin')!
      .slice(0, 2)
      .map((t) => new Date(t).toISOString()),
  ).toEqual(['2026-03-29T01:00:00.000Z', '2026-10-25T01:00:00.000Z']);
  expect(
    TRANSITIONS.get('America/New_York')!
      .slice(0, 2)
      .map((t) => new Date(t).toISOString()),
  ).toEqual(['2026-03-08T07:00:00.000Z', '2026-11-01T06:00:00.000Z']);
  // Lord Howe: +11 → +10:30 at 02:00 local in April, +10:30 → +11 at 02:00 local in October.
  expect(
    TRANSITIONS.get('Australia/Lord_Howe')!
      .slice(0, 2)
      .map((t) => new Date(t).toISOString()),
  ).toEqual(['2026-04-04T15:00:00.000Z', '2026-10-03T15:30:00.000Z']);
  expect(oracleLocal(Date.UTC(2026, 0, 1), 'Australia/Lord_Howe').offsetText).toBe('+11:00');
  expect(oracleLocal(Date.UTC(2026, 5, 1), 'Australia/Lord_Howe').offsetText).toBe('+10:30');
  expect(oracleLocal(Date.UTC(2026, 5, 1), 'Asia/Kolkata').offsetText).toBe('+05:30');
  for (const z of ['Europe/Berlin', 'America/New_York', 'Australia/Lord_Howe']) expect(TRANSITIONS.get(z)!.length).toBe(6);
});

/** Instants to compare: a coarse sweep of three years and a dense one around every offset change. */
function sampleInstants(zone: string): number[] {
  const out: number[] = [];
  for (let t = FROM + 17 * MINUTE_MS + 13_000; t < TO; t += 5 * HOUR_MS + 23 * MINUTE_MS) out.push(t);
  for (const tr of TRANSITIONS.get(zone)!) {
    for (let t = tr - 3 * HOUR_MS; t <= tr + 3 * HOUR_MS; t += 10 * MINUTE_MS) out.push(t);
    for (const d of [-1001, -1000, -999, -1, 0, 1, 999, 1000]) out.push(tr + d);
  }
  // UTC-day boundaries near transitions: the per-UTC-day offset cache must not leak across them.
  for (const tr of TRANSITIONS.get(zone)!) {
    const midnight = Math.floor(tr / DAY_MS) * DAY_MS;
    for (const d of [-DAY_MS, 0, DAY_MS]) for (const e of [-1, 0, 1, 1000]) out.push(midnight + d + e);
  }
  return out;
}

describe.each(ZONES)('Calendar(%s)', (zone) => {
  const cal = new Calendar(zone);
  const samples = sampleInstants(zone);

  test('fields() and the offset agree with Intl at every sampled instant', () => {
    const diffs: string[] = [];
    for (const t of samples) {
      const l = oracleMemo(t, zone).local;
      const f = cal.fields(t);
      const want = {
        year: l.year,
        month: l.month,
        day: l.day,
        hour: l.hour,
        minute: l.minute,
        second: l.second,
        weekday: isoWeekday(l.year, l.month, l.day),
        offsetMinutes: l.offsetMinutes,
      };
      if (JSON.stringify(f) !== JSON.stringify(want) || cal.offsetMs(t) !== l.offsetMinutes * MINUTE_MS) {
        diffs.push(`${new Date(t).toISOString()}: ${JSON.stringify(f)} vs ${JSON.stringify(want)}`);
      }
    }
    expect(diffs.slice(0, 10)).toEqual([]);
  });

  test('fields() agrees with Intl at random instants (cold and warm cache)', () => {
    fc.assert(
      fc.property(fc.integer({ min: FROM, max: TO }), fc.boolean(), (t, cold) => {
        const c = cold ? new Calendar(zone) : cal;
        const l = oracleLocal(t, zone);
        const f = c.fields(t);
        expect([f.year, f.month, f.day, f.hour, f.minute, f.second, f.offsetMinutes]).toEqual([
          l.year,
          l.month,
          l.day,
          l.hour,
          l.minute,
          l.second,
          l.offsetMinutes,
        ]);
      }),
      { numRuns: 300 },
    );
  });

  test.each<[OracleUnit, (t: number) => number]>([
    ['h', (t) => cal.hourBucket(t)],
    ['d', (t) => cal.dayBucket(t)],
    ['w', (t) => cal.weekBucket(t)],
    ['m', (t) => cal.monthBucket(t)],
    ['y', (t) => cal.yearBucket(t)],
  ])('bucket %s: same bucket exactly when the oracle key is the same, and every bucket is one interval of time', (unit, bucket) => {
    // decideRetention orders buckets by their oldest snapshot, which is only right when each bucket is
    // one contiguous interval of real time: once time has left a bucket it never comes back. (The
    // numbers themselves need not grow with time: hourBucket's repeated DST hour has a smaller one.)
    const sorted = [...samples].sort((a, b) => a - b);
    const libToKey = new Map<number, string>();
    const keyToLib = new Map<string, number>();
    const problems: string[] = [];
    const left = new Set<number>();
    let prev: number | undefined;
    for (const t of sorted) {
      const b = bucket(t);
      const k = oracleMemo(t, zone).keys[unit];
      if ((libToKey.get(b) ?? k) !== k || (keyToLib.get(k) ?? b) !== b) {
        problems.push(`${new Date(t).toISOString()}: lib ${b} / oracle ${k} (${libToKey.get(b)}, ${keyToLib.get(k)})`);
      }
      libToKey.set(b, k);
      keyToLib.set(k, b);
      if (prev !== undefined && b !== prev) {
        if (left.has(b)) problems.push(`${new Date(t).toISOString()}: back in bucket ${b} after leaving it`);
        left.add(prev);
      }
      prev = b;
    }
    expect(problems.slice(0, 10)).toEqual([]);
  });

  test('isoWeek() of the local date agrees with the classic algorithm for every day 2020–2031', () => {
    const bad: string[] = [];
    for (let day = Date.UTC(2020, 0, 1); day < Date.UTC(2032, 0, 1); day += DAY_MS) {
      // Local noon of that calendar date (noon is never skipped nor repeated by DST).
      const t = day + 12 * HOUR_MS - oracleLocal(day + 12 * HOUR_MS, zone).offsetMinutes * MINUTE_MS;
      const d = new Date(day);
      const want = oracleIsoWeek(d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate());
      const got = cal.isoWeek(t);
      if (got.year !== want.year || got.week !== want.week) bad.push(`${d.toISOString().slice(0, 10)}: ${JSON.stringify(got)} vs ${JSON.stringify(want)}`);
    }
    expect(bad.slice(0, 10)).toEqual([]);
  });
});

describe('ISO weeks, hand-checked', () => {
  test.each([
    ['2026-12-28', 2026, 53],
    ['2026-12-31', 2026, 53],
    ['2027-01-01', 2026, 53],
    ['2027-01-03', 2026, 53],
    ['2027-01-04', 2027, 1],
    ['2020-12-31', 2020, 53],
    ['2021-01-03', 2020, 53],
    ['2024-12-30', 2025, 1],
    ['2028-01-02', 2027, 52],
    ['2028-01-03', 2028, 1],
    ['2028-02-29', 2028, 9],
    ['2029-12-31', 2030, 1],
  ])('%s is %i-W%i (oracle and Calendar)', (date, year, week) => {
    const [y, m, d] = date.split('-').map(Number) as [number, number, number];
    expect(oracleIsoWeek(y, m, d)).toEqual({ year, week });
    expect(new Calendar('UTC').isoWeek(Date.UTC(y, m - 1, d, 12))).toEqual({ year, week });
  });

  test('the local date decides, not the UTC date: Monday 00:30 in Berlin is still Sunday in UTC', () => {
    const cal = new Calendar('Europe/Berlin');
    const t = Date.UTC(2027, 0, 3, 23, 30); // 2027-01-04 00:30 CET
    expect(cal.isoWeek(t)).toEqual({ year: 2027, week: 1 });
    expect(new Calendar('UTC').isoWeek(t)).toEqual({ year: 2026, week: 53 });
    expect(cal.weekBucket(t)).not.toBe(cal.weekBucket(t - HOUR_MS));
    expect(cal.fields(t).weekday).toBe(1);
  });

  test('weekBucket starts on Monday 00:00 local', () => {
    const cal = new Calendar('America/New_York');
    const mondayMidnight = Date.UTC(2027, 4, 31, 4); // 2027-05-31 00:00 EDT
    expect(cal.weekBucket(mondayMidnight - 1000)).toBe(cal.weekBucket(mondayMidnight) - 1);
    expect(cal.weekBucket(mondayMidnight + 7 * DAY_MS - 1000)).toBe(cal.weekBucket(mondayMidnight));
  });
});

describe('format', () => {
  test.each([
    ['Europe/Berlin', Date.UTC(2026, 10, 26, 4, 0, 12), '2026-11-26 05:00:12 +01:00', '2026-11-26 05:00 +01:00'],
    ['Europe/Berlin', Date.UTC(2026, 9, 25, 0, 30), '2026-10-25 02:30:00 +02:00', '2026-10-25 02:30 +02:00'],
    ['Europe/Berlin', Date.UTC(2026, 9, 25, 1, 30), '2026-10-25 02:30:00 +01:00', '2026-10-25 02:30 +01:00'],
    ['America/New_York', Date.UTC(2026, 0, 1, 4, 59, 59), '2025-12-31 23:59:59 -05:00', '2025-12-31 23:59 -05:00'],
    ['Asia/Kolkata', Date.UTC(2026, 0, 1, 0, 0, 0), '2026-01-01 05:30:00 +05:30', '2026-01-01 05:30 +05:30'],
    ['Australia/Lord_Howe', Date.UTC(2026, 9, 3, 15, 30), '2026-10-04 02:30:00 +11:00', '2026-10-04 02:30 +11:00'],
    ['Australia/Lord_Howe', Date.UTC(2026, 9, 3, 15, 29, 59), '2026-10-04 01:59:59 +10:30', '2026-10-04 01:59 +10:30'],
    ['UTC', Date.UTC(2028, 1, 29, 7, 8, 9), '2028-02-29 07:08:09 +00:00', '2028-02-29 07:08 +00:00'],
  ])('%s %d → %s', (zone, t, withSeconds, without) => {
    const cal = new Calendar(zone);
    expect(cal.format(t)).toBe(withSeconds);
    expect(cal.format(t, false)).toBe(without);
  });
});

describe('time zones', () => {
  test('an unknown zone is an InvalidValue that names it', () => {
    expect(() => new Calendar('Mars/Olympus_Mons')).toThrow(InvalidValue);
    expect(() => validateTimeZone('Europe/Berlinn')).toThrow(/unknown time zone "Europe\/Berlinn"/);
  });

  test('a known zone is accepted and canonicalised by Intl', () => {
    expect(validateTimeZone('Europe/Berlin')).toBe('Europe/Berlin');
    expect(new Calendar('UTC').zone).toBe('UTC');
  });
});

describe('UTC without Intl (start-up: ICU costs ~25 ms of a run from cron)', () => {
  test.each(['UTC', 'Etc/UTC', 'GMT', 'Etc/Zulu', 'utc'])('%s is UTC, the same calendar as Intl’s', (zone) => {
    const cal = new Calendar(zone);
    expect(cal.zone).toBe('UTC');
    const t = Date.parse('2026-03-29T01:30:00Z');
    expect(cal.fields(t)).toMatchObject({ year: 2026, month: 3, day: 29, hour: 1, minute: 30, offsetMinutes: 0 });
    expect(cal.bucketStart('d', t)).toBe(Date.parse('2026-03-29T00:00:00Z'));
  });

  test('a UTC calendar makes no Intl.DateTimeFormat; another zone does', () => {
    let made = 0;
    const Real = Intl.DateTimeFormat;
    Intl.DateTimeFormat = function (...args: ConstructorParameters<typeof Intl.DateTimeFormat>) {
      made++;
      return new Real(...args);
    } as unknown as typeof Intl.DateTimeFormat;
    try {
      new Calendar('Etc/UTC').format(Date.parse('2026-11-25T12:00:00Z'));
      expect(made).toBe(0);
      new Calendar('Europe/Berlin');
      expect(made).toBeGreaterThan(0);
    } finally {
      Intl.DateTimeFormat = Real;
    }
  });

  test('the system zone: UTC from TZ (with or without the leading ":") or the /etc/localtime link, without Intl', () => {
    for (const tz of ['UTC', ':Etc/UTC', 'Etc/GMT']) expect(systemTimeZone({ tz })).toBe('UTC');
    expect(systemTimeZone({ localtime: () => '/usr/share/zoneinfo/Etc/UTC' })).toBe('UTC');
    expect(systemTimeZone({ tz: '', localtime: () => '../usr/share/zoneinfo/UTC' })).toBe('UTC');
  });

  test('another zone, or none known: what Intl resolves (in a fresh process: Intl reads TZ when it starts)', () => {
    const calendar = new URL('../../dist/lib/policy/calendar.js', import.meta.url).pathname;
    const zone = (tz: string) =>
      execFileSync(
        process.execPath,
        ['--input-type=module', '-e', `import { systemTimeZone } from ${JSON.stringify(calendar)}; console.log(systemTimeZone({ tz: process.env.TZ }))`],
        { encoding: 'utf8', env: { ...process.env, TZ: tz } },
      ).trim();
    expect(zone('Europe/Berlin')).toBe('Europe/Berlin');
    expect(zone(':America/New_York')).toBe('America/New_York');
    expect(systemTimeZone({ localtime: () => null })).toBe(Intl.DateTimeFormat().resolvedOptions().timeZone);
    expect(systemTimeZone({ localtime: () => '/usr/share/zoneinfo/Europe/Berlin' })).toBe(Intl.DateTimeFormat().resolvedOptions().timeZone);
  });
});

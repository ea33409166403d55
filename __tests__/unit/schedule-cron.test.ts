/**
 * parseSchedule (presets, 5-field cron, every parse error), presetForUnit, custom cron schedules in
 * Europe/Berlin across DST, nextTick/mostRecentTick consistency, and zones with a 30-minute DST.
 */
import fc from 'fast-check';
import { InvalidValue } from '../../lib/errors.js';
import { NameFormat } from '../../lib/policy/snapshot-names.js';
import { Calendar } from '../../lib/policy/calendar.js';
import { isDue, mostRecentTick, nextTick, parseSchedule, presetForUnit } from '../../lib/policy/schedule.js';
import { simulate } from './schedule-simulation.js';
import { DAY_MS, HOUR_MS, MINUTE_MS, oracleBucket, oracleLocal, oracleOffsetChanges, ymd, type OracleUnit } from './retention-oracle.js';

const fmt = new NameFormat();
const BERLIN = 'Europe/Berlin';

const local = (t: number, zone: string) => {
  const l = oracleLocal(t, zone);
  return `${ymd(l)} ${String(l.hour).padStart(2, '0')}:${String(l.minute).padStart(2, '0')} ${l.offsetText}`;
};

describe('parseSchedule: presets and valid cron', () => {
  test.each([
    ['hourly', '0 * * * *', 'h'],
    ['daily', '0 0 * * *', 'd'],
    ['weekly', '0 0 * * 1', 'w'],
    ['monthly', '0 0 1 * *', 'm'],
    ['yearly', '0 0 1 1 *', 'y'],
    ['Hourly', '0 * * * *', 'h'],
    ['  DAILY ', '0 0 * * *', 'd'],
  ])('%j → %s (ticks at the start of each %s bucket)', (text, cron, unit) => {
    expect(parseSchedule(text)).toEqual({ text: text.trim().toLowerCase(), cron, unit });
  });

  test.each([
    '*/5 * * * *',
    '0 */6 * * *',
    '30 2 * * *',
    '0 0 * * MON',
    '0 0 * * thu', // contains an h, but it is a day name, not the random H
    '0 0 * * MON-THU',
    '15 3 * * TUE,THU',
    '0 0 1 JAN-MAR *',
    '0 0 L * *',
    '0 0 * * 7',
    '0 0 * * 1#2',
  ])('%j is accepted as it is', (text) => {
    expect(parseSchedule(text)).toEqual({ text, cron: text });
  });

  test('presetForUnit: the default schedule of the finest retention unit (weekly starts on Monday)', () => {
    expect(presetForUnit('h')).toEqual({ text: 'hourly', cron: '0 * * * *', unit: 'h' });
    expect(presetForUnit('d')).toEqual({ text: 'daily', cron: '0 0 * * *', unit: 'd' });
    expect(presetForUnit('w')).toEqual({ text: 'weekly', cron: '0 0 * * 1', unit: 'w' });
    expect(presetForUnit('m')).toEqual({ text: 'monthly', cron: '0 0 1 * *', unit: 'm' });
    expect(presetForUnit('y')).toEqual({ text: 'yearly', cron: '0 0 1 1 *', unit: 'y' });
  });
});

describe('parseSchedule: every error is an InvalidValue that names the problem', () => {
  test.each([
    ['', /^empty schedule; use hourly, daily, weekly, monthly, yearly or a 5-field cron expression$/],
    ['   ', /^empty schedule/],
    ['often', /unknown schedule "often".*5 fields.*got 1 field$/],
    ['@hourly', /unknown schedule "@hourly".*got 1 field$/],
    ['every hour', /unknown schedule "every hour".*got 2 fields$/],
    ['0 * * *', /unknown schedule "0 \* \* \*".*got 4 fields$/],
    ['0 0 * * * *', /unknown schedule "0 0 \* \* \* \*".*\(minute hour day-of-month month day-of-week\), got 6 fields$/],
    ['0 0 0 * * * *', /got 7 fields$/],
    ['H * * * *', /cron expression "H \* \* \* \*": the random "H" field is not supported/],
    ['0 H * * *', /the random "H" field is not supported/],
    ['H/15 * * * *', /the random "H" field is not supported/],
    ['0 0 * * H', /the random "H" field is not supported/],
    ['61 * * * *', /bad cron expression "61 \* \* \* \*": .*61.*0-59/],
    ['0 24 * * *', /bad cron expression "0 24 \* \* \*": .*24.*0-23/],
    ['0 0 32 * *', /bad cron expression .*32.*1-31/],
    ['0 0 0 * *', /bad cron expression .*got value 0.*1-31/],
    ['0 0 * 13 *', /bad cron expression .*13.*1-12/],
    ['0 0 * * 8', /bad cron expression .*8.*0-7/],
    ['x * * * *', /bad cron expression "x \* \* \* \*": .*x/],
    ['*/0 * * * *', /bad cron expression .*every 0/],
    ['5-1 * * * *', /bad cron expression .*5-1/],
    ['1,,2 * * * *', /bad cron expression .*list/i],
    ['0 0 * * FOO', /bad cron expression .*foo/i],
    ['0 0 30 2 *', /bad cron expression "0 0 30 2 \*": .*day of month/],
  ])('%j', (text, message) => {
    let error: unknown;
    try {
      parseSchedule(text);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidValue);
    expect((error as InvalidValue).message).toMatch(message);
    expect((error as InvalidValue).problem).toBe((error as InvalidValue).message);
  });
});

describe('custom cron schedules in Europe/Berlin across DST', () => {
  // zback runs every 15 minutes in these simulations (cron-parser is slow on daily expressions);
  // the 5-minute case is simulated in schedule-due.test.ts.
  const EVERY_15 = 15 * MINUTE_MS;

  test.each([
    ['spring forward', Date.UTC(2026, 2, 28, 23), 23 + 24, ['2026-03-29', '2026-03-30']],
    ['fall back', Date.UTC(2026, 9, 24, 22), 25 + 24, ['2026-10-25', '2026-10-26']],
  ])('0 */6 * * * on the %s days: 00:00, 06:00, 12:00, 18:00 local, four per day', (_what, from, hours, days) => {
    const { snapshots, problems } = simulate(parseSchedule('0 */6 * * *'), BERLIN, from, from + hours * HOUR_MS, { step: EVERY_15, cheapNext: true });
    expect(problems).toEqual([]);
    const got = snapshots.map((t) => local(t, BERLIN).slice(0, 16));
    expect(got).toEqual(days.flatMap((d) => ['00:00', '06:00', '12:00', '18:00'].map((h) => `${d} ${h}`)));
  });

  /*
   * 30 2 * * * around the DST changes — what actually happens (cron-parser 5.x, via mostRecentTick):
   *  - spring forward (2026-03-29, 02:00 CET → 03:00 CEST; 02:30 does not exist): NO snapshot that
   *    day. mostRecentTick never returns a tick on 2026-03-29 (it stays at 2026-03-28 02:30 CET until
   *    2026-03-30 02:30 CEST); nextTick, derived from it, announces 2026-03-30 02:30 CEST.
   *  - fall back (2026-10-25, 02:30 happens twice): TWO snapshots, at 02:30 CEST and at 02:30 CET,
   *    and nextTick announces both.
   * The assertions below pin what is uncontroversial: one snapshot at 02:30 local on ordinary days,
   * never more than one on the spring-forward day, at least one on the fall-back day.
   */
  test('30 2 * * * around the spring-forward day', () => {
    const schedule = parseSchedule('30 2 * * *');
    const from = Date.UTC(2026, 2, 27, 23); // 2026-03-28 00:00 CET; the 2026-03-27 02:30 snapshot exists
    const latest = Date.UTC(2026, 2, 27, 1, 30);
    const { snapshots, problems } = simulate(schedule, BERLIN, from, Date.UTC(2026, 2, 30, 4), { latest, step: EVERY_15, cheapNext: true });
    expect(problems).toEqual([]);
    const got = snapshots.map((t) => local(t, BERLIN));
    expect(got[0]).toBe('2026-03-28 02:30 +01:00');
    expect(got[got.length - 1]).toBe('2026-03-30 02:30 +02:00');
    expect(got.filter((s) => s.startsWith('2026-03-29')).length).toBeLessThanOrEqual(1);
  });

  test('30 2 * * * around the fall-back day', () => {
    const schedule = parseSchedule('30 2 * * *');
    const from = Date.UTC(2026, 9, 23, 22); // 2026-10-24 00:00 CEST; the 2026-10-23 02:30 snapshot exists
    const latest = Date.UTC(2026, 9, 23, 0, 30);
    const { snapshots, problems } = simulate(schedule, BERLIN, from, Date.UTC(2026, 9, 26, 5), { latest, step: EVERY_15, cheapNext: true });
    expect(problems).toEqual([]);
    const got = snapshots.map((t) => local(t, BERLIN));
    expect(got[0]).toBe('2026-10-24 02:30 +02:00');
    expect(got[got.length - 1]).toBe('2026-10-26 02:30 +01:00');
    expect(got.filter((s) => s.startsWith('2026-10-25')).length).toBeGreaterThanOrEqual(1);
    expect(got.filter((s) => s.startsWith('2026-10-25')).length).toBeLessThanOrEqual(2);
  });

  // nextTick must announce exactly the ticks mostRecentTick reports once they are reached, around
  // DST changes too (cron-parser's own next() and prev() disagree there; nextTick is derived from prev).
  test.each([
    ['30 2 * * *', BERLIN, Date.UTC(2026, 2, 28, 12)],
    ['30 2 * * *', BERLIN, Date.UTC(2026, 9, 24, 12)],
    ['0 2 * * *', 'America/New_York', Date.UTC(2026, 2, 7, 12)],
    ['30 1 * * *', 'America/New_York', Date.UTC(2026, 9, 31, 12)],
    // Controls that pass: the presets and */6 agree on both sides of the changes.
    ['hourly', BERLIN, Date.UTC(2026, 2, 28, 20)],
    ['hourly', 'America/New_York', Date.UTC(2026, 9, 31, 20)],
    ['0 */6 * * *', BERLIN, Date.UTC(2026, 9, 24, 12)],
  ])('%s in %s from %d: the ticks nextTick announces are exactly the ticks mostRecentTick reports', (cron, zone, from) => {
    const schedule = parseSchedule(cron);
    const to = from + 2 * DAY_MS;
    const problems: string[] = [];
    let prev = mostRecentTick(schedule, from, zone);
    for (let k = nextTick(schedule, from, zone); k < to; prev = k, k = nextTick(schedule, k, zone)) {
      const iso = (t: number) => new Date(t).toISOString();
      const atK = mostRecentTick(schedule, k, zone);
      if (atK !== k) problems.push(`nextTick announced ${iso(k)}, but at that instant mostRecentTick is ${iso(atK)}`);
      const justBefore = mostRecentTick(schedule, k - 1, zone);
      if (justBefore !== prev) problems.push(`between ${iso(prev)} and ${iso(k)} mostRecentTick reports ${iso(justBefore)}`);
    }
    expect(problems).toEqual([]);
  });
});

describe('nextTick and mostRecentTick', () => {
  const schedules = ['hourly', 'daily', 'weekly', 'monthly', 'yearly', '*/5 * * * *', '0 */6 * * *', '15 3 * * 1-5', '0 12 1 */3 *'].map(parseSchedule);

  test('random now (ms precision): tick ≤ now < next; the tick is a tick; due exactly when the newest is before it', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...schedules),
        fc.constantFrom(BERLIN, 'America/New_York', 'Asia/Kolkata', 'UTC'),
        fc.integer({ min: Date.UTC(2026, 0, 1), max: Date.UTC(2029, 0, 1) }),
        (schedule, zone, now) => {
          const tick = mostRecentTick(schedule, now, zone);
          const next = nextTick(schedule, now, zone);
          expect(tick).toBeLessThanOrEqual(now);
          expect(next).toBeGreaterThan(now);
          expect(mostRecentTick(schedule, tick, zone)).toBe(tick);
          expect(tick % MINUTE_MS).toBe(0);
          expect(isDue(schedule, tick, now, zone)).toEqual({ due: false, tick, next });
          expect(isDue(schedule, tick - 1000, now, zone).due).toBe(true);
        },
      ),
      { numRuns: 30 },
    );
  });

  test('presets tick at the first instant of every retention bucket (oracle), in every zone, Lord Howe included', () => {
    const zones = [BERLIN, 'America/New_York', 'Asia/Kolkata', 'Australia/Lord_Howe', 'UTC'];
    const from = Date.UTC(2026, 0, 1);
    const to = Date.UTC(2029, 0, 1);
    const anchors = zones.flatMap((z) => oracleOffsetChanges(z, from, to));
    anchors.push(Date.UTC(2026, 11, 31), Date.UTC(2027, 0, 4), Date.UTC(2028, 1, 29), Date.UTC(2028, 2, 1));
    const nowArb = fc.oneof(
      fc.integer({ min: from, max: to }),
      fc.tuple(fc.constantFrom(...anchors), fc.integer({ min: -2 * DAY_MS, max: 2 * DAY_MS })).map(([a, d]) => a + d),
      fc.tuple(fc.constantFrom(...anchors), fc.integer({ min: -8, max: 8 })).map(([a, k]) => a + k * 15 * MINUTE_MS),
    );
    const presets: Array<[string, OracleUnit]> = [
      ['hourly', 'h'],
      ['daily', 'd'],
      ['weekly', 'w'],
      ['monthly', 'm'],
      ['yearly', 'y'],
    ];
    fc.assert(
      fc.property(fc.constantFrom(...presets), fc.constantFrom(...zones), nowArb, ([text, unit], zone, now) => {
        const schedule = parseSchedule(text);
        const tick = mostRecentTick(schedule, now, zone);
        const next = nextTick(schedule, now, zone);
        const key = oracleBucket(unit, now, zone);
        expect(tick).toBeLessThanOrEqual(now);
        expect(next).toBeGreaterThan(now);
        // tick is the first instant of now's bucket, next the first instant of the following one.
        expect(oracleBucket(unit, tick, zone)).toBe(key);
        expect(oracleBucket(unit, tick - 1, zone)).not.toBe(key);
        expect(oracleBucket(unit, next - 1, zone)).toBe(key);
        expect(oracleBucket(unit, next, zone)).not.toBe(key);
      }),
      { numRuns: 400 },
    );
  });

  test('nextTick is strictly after now even when now is a tick', () => {
    const hourly = parseSchedule('hourly');
    const t = Date.UTC(2026, 5, 1, 8);
    expect(nextTick(hourly, t, BERLIN)).toBe(t + HOUR_MS);
    expect(nextTick(parseSchedule('daily'), Date.UTC(2026, 4, 31, 22), BERLIN)).toBe(Date.UTC(2026, 5, 1, 22));
  });
});

describe('Australia/Lord_Howe (DST of 30 minutes)', () => {
  // Presets tick at the start of every clock-hour bucket, the same buckets retention uses (the hour
  // key includes the UTC offset). Around a 30-minute change one local hour is half an hour long:
  // it still gets its snapshot, at its first instant, which is not a local :00. (cron-parser, which
  // evaluated presets before, threw "loop limit exceeded" in these runs.)
  test.each([
    // October: 02:00 +10:30 (15:30Z) becomes 02:30 +11; local hour 02 is 02:30–03:00 +11.
    ['October change, +10:30 → +11', Date.UTC(2026, 9, 3, 12, 30), ['123000', '133000', '143000', '153000', '160000', '170000', '180000'], '153000'],
    // April: 02:00 +11 (15:00Z) becomes 01:30 +10:30; the repeated half hour 01:30–02:00 is a bucket of its own.
    ['April change, +11 → +10:30', Date.UTC(2026, 3, 4, 12, 0), ['120000', '130000', '140000', '150000', '153000', '163000', '173000'], '150000'],
  ])('hourly across the %s: no error, one snapshot per clock-hour bucket', (_what, from, times, short) => {
    const zone = 'Australia/Lord_Howe';
    const { snapshots, problems } = simulate(parseSchedule('hourly'), zone, from, from + 6 * HOUR_MS + MINUTE_MS, { step: 10 * MINUTE_MS });
    expect(problems.slice(0, 5)).toEqual([]);
    expect(snapshots.map((t) => fmt.nameFor(t).slice(11))).toEqual(times);
    // Every snapshot opens a bucket of its own, and all but the short hour's are at local :00.
    const cal = new Calendar(zone);
    expect(new Set(snapshots.map((t) => cal.hourBucket(t))).size).toBe(snapshots.length);
    expect(snapshots.filter((t) => oracleLocal(t, zone).minute !== 0).map((t) => fmt.nameFor(t).slice(11))).toEqual([short]);
  });
});

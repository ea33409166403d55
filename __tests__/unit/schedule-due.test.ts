/**
 * The due rule of SPEC §2, simulated the way zback runs: cron every 5 minutes steps `now`, and a
 * snapshot named for `now` (NameFormat, time = name) is taken whenever isDue says so.
 * Across the DST changes of Europe/Berlin and America/New_York: exactly one snapshot per real hour
 * with an hourly schedule, one per local calendar day with a daily one; after the machine was off,
 * exactly one catch-up snapshot. Local wall time for the checks comes from the oracle (Intl).
 */
import { NameFormat } from '../../lib/policy/snapshot-names.js';
import { isDue, mostRecentTick, nextTick, parseSchedule } from '../../lib/policy/schedule.js';
import { simulate } from './schedule-simulation.js';
import { DAY_MS, HOUR_MS, MINUTE_MS, oracleLocal, ymd } from './retention-oracle.js';

const fmt = new NameFormat();
const STEP = 5 * MINUTE_MS;
const BERLIN = 'Europe/Berlin';
const NEW_YORK = 'America/New_York';

function perLocalDay(times: readonly number[], zone: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const t of times) {
    const day = ymd(oracleLocal(t, zone));
    out[day] = (out[day] ?? 0) + 1;
  }
  return out;
}

const localClock = (t: number, zone: string) => {
  const l = oracleLocal(t, zone);
  return `${String(l.hour).padStart(2, '0')}:${String(l.minute).padStart(2, '0')}:${String(l.second).padStart(2, '0')}`;
};

describe('hourly schedule, cron every 5 minutes, across DST changes', () => {
  const hourly = parseSchedule('hourly');

  test.each([
    // zone, first local midnight (UTC), local days → expected snapshots
    [BERLIN, 'spring forward', Date.UTC(2026, 2, 28, 23), { '2026-03-29': 23, '2026-03-30': 24 }],
    [BERLIN, 'fall back', Date.UTC(2026, 9, 24, 22), { '2026-10-25': 25, '2026-10-26': 24 }],
    [NEW_YORK, 'spring forward', Date.UTC(2026, 2, 8, 5), { '2026-03-08': 23, '2026-03-09': 24 }],
    [NEW_YORK, 'fall back', Date.UTC(2026, 10, 1, 4), { '2026-11-01': 25, '2026-11-02': 24 }],
  ])('%s %s: one snapshot per real hour, 24±1 per local day', (zone, _what, from, perDay) => {
    const hours = Object.values(perDay).reduce((a, b) => a + b, 0);
    const to = from + hours * HOUR_MS;
    const { snapshots, problems } = simulate(hourly, zone, from, to);
    expect(problems).toEqual([]);
    // Exactly one per real (UTC) hour, taken at the tick: minute 0 of the local hour.
    const perUtcHour = new Map<number, number>();
    for (const t of snapshots) perUtcHour.set(Math.floor(t / HOUR_MS), (perUtcHour.get(Math.floor(t / HOUR_MS)) ?? 0) + 1);
    expect(perUtcHour.size).toBe(hours);
    expect([...perUtcHour.values()].every((n) => n === 1)).toBe(true);
    expect(snapshots.filter((t) => !localClock(t, zone).endsWith(':00:00'))).toEqual([]);
    expect(perLocalDay(snapshots, zone)).toEqual(perDay);
  });

  test('Berlin fall-back: both 02:00 (CEST and CET) are ticks; the second 02:xx hour gets its own snapshot', () => {
    const from = Date.UTC(2026, 9, 24, 23, 0); // 01:00 CEST
    const { snapshots } = simulate(hourly, BERLIN, from, from + 4 * HOUR_MS);
    expect(snapshots.map((t) => fmt.nameFor(t))).toEqual([
      '2026-10-24-230000', // 01:00 CEST
      '2026-10-25-000000', // 02:00 CEST
      '2026-10-25-010000', // 02:00 CET
      '2026-10-25-020000', // 03:00 CET
    ]);
  });

  test('Asia/Kolkata (+05:30): ticks at local :00, i.e. UTC :30, one per hour', () => {
    const from = Date.UTC(2026, 5, 1, 18, 30); // 00:00 IST
    const { snapshots, problems } = simulate(hourly, 'Asia/Kolkata', from, from + DAY_MS);
    expect(problems).toEqual([]);
    expect(snapshots.length).toBe(24);
    expect(snapshots.every((t) => new Date(t).getUTCMinutes() === 30)).toBe(true);
    expect(perLocalDay(snapshots, 'Asia/Kolkata')).toEqual({ '2026-06-02': 24 });
  });
});

describe('daily schedule: one snapshot per local calendar day', () => {
  const daily = parseSchedule('daily');
  // Runs every 10 minutes here: cron-parser needs ~2 ms per daily isDue, and the 5-minute grid adds
  // nothing for a daily schedule that the hourly simulations above do not already cover.
  const EVERY_10 = 10 * MINUTE_MS;

  test.each([
    // zone, first local midnight (UTC), the two local days, their length in hours
    [BERLIN, 'spring forward', Date.UTC(2026, 2, 28, 23), ['2026-03-29', '2026-03-30'], 23 + 24],
    [BERLIN, 'fall back', Date.UTC(2026, 9, 24, 22), ['2026-10-25', '2026-10-26'], 25 + 24],
    [NEW_YORK, 'spring forward', Date.UTC(2026, 2, 8, 5), ['2026-03-08', '2026-03-09'], 23 + 24],
    [NEW_YORK, 'fall back', Date.UTC(2026, 10, 1, 4), ['2026-11-01', '2026-11-02'], 25 + 24],
  ])('%s %s', (zone, _what, from, days, hours) => {
    const to = from + hours * HOUR_MS;
    const { snapshots, problems } = simulate(daily, zone, from, to, { step: EVERY_10 });
    expect(problems).toEqual([]);
    const counted = perLocalDay(snapshots, zone);
    for (const d of days) expect(counted[d]).toBe(1);
    expect(snapshots.length).toBe(2);
    expect(snapshots.map((t) => localClock(t, zone))).toEqual(['00:00:00', '00:00:00']);
  });
});

describe('machine off', () => {
  const hourly = parseSchedule('hourly');

  test('hourly, off for a week across the Berlin fall-back: one snapshot when it comes back, then none until the next tick', () => {
    const start = Date.UTC(2026, 9, 20, 0, 0);
    const offFrom = Date.UTC(2026, 9, 20, 6, 0);
    const back = Date.UTC(2026, 9, 27, 9, 15); // cron resumes at 09:15Z (10:15 CET)
    const end = Date.UTC(2026, 9, 27, 11, 5);
    const { snapshots, problems } = simulate(hourly, BERLIN, start, end, { off: [[offFrom, back]] });
    expect(problems).toEqual([]);
    const after = snapshots.filter((t) => t >= offFrom).map((t) => fmt.nameFor(t));
    expect(after).toEqual(['2026-10-27-091500', '2026-10-27-100000', '2026-10-27-110000']);
    expect(snapshots.filter((t) => t < offFrom).length).toBe(6);
  });

  test('right after the catch-up snapshot: not due, and next is the next tick', () => {
    const latest = Date.UTC(2026, 9, 27, 9, 15);
    for (let now = latest; now < Date.UTC(2026, 9, 27, 10, 0); now += STEP) {
      const v = isDue(hourly, latest, now, BERLIN);
      expect(v.due).toBe(false);
      expect(v.next).toBe(Date.UTC(2026, 9, 27, 10, 0));
    }
    expect(isDue(hourly, latest, Date.UTC(2026, 9, 27, 10, 0), BERLIN).due).toBe(true);
  });

  test('daily, off for a week: one snapshot, whatever the number of missed days', () => {
    const daily = parseSchedule('daily');
    const lastBefore = Date.UTC(2026, 5, 1, 22, 0); // 2026-06-02 00:00 CEST
    const back = Date.UTC(2026, 5, 9, 13, 40);
    const { snapshots, problems } = simulate(daily, BERLIN, back, back + 6 * HOUR_MS, { latest: lastBefore });
    expect(problems).toEqual([]);
    expect(snapshots.map((t) => fmt.nameFor(t))).toEqual(['2026-06-09-134000']);
    expect(isDue(daily, snapshots[0]!, back + 6 * HOUR_MS, BERLIN).next).toBe(Date.UTC(2026, 5, 9, 22, 0));
  });
});

describe('the tick itself', () => {
  const hourly = parseSchedule('hourly');
  const tenOClock = Date.UTC(2026, 5, 1, 8, 0, 0, 0); // 10:00:00.000 CEST

  test('a tick exactly at now counts: now 10:00:00.000, newest 09:00 → due', () => {
    const v = isDue(hourly, Date.UTC(2026, 5, 1, 7, 0), tenOClock, BERLIN);
    expect(v).toEqual({ due: true, tick: tenOClock, next: tenOClock + HOUR_MS });
    expect(mostRecentTick(hourly, tenOClock, BERLIN)).toBe(tenOClock);
  });

  test('1 ms before the tick, the previous hour is the tick; milliseconds after it, the tick holds', () => {
    expect(mostRecentTick(hourly, tenOClock - 1, BERLIN)).toBe(tenOClock - HOUR_MS);
    expect(isDue(hourly, Date.UTC(2026, 5, 1, 7, 0), tenOClock - 1, BERLIN).due).toBe(false);
    expect(mostRecentTick(hourly, tenOClock + 999, BERLIN)).toBe(tenOClock);
    expect(nextTick(hourly, tenOClock, BERLIN)).toBe(tenOClock + HOUR_MS);
    expect(nextTick(hourly, tenOClock - 1, BERLIN)).toBe(tenOClock);
  });

  test('a snapshot at or after the tick makes it not due; one before it makes it due', () => {
    expect(isDue(hourly, tenOClock, tenOClock + 10 * MINUTE_MS, BERLIN).due).toBe(false);
    expect(isDue(hourly, tenOClock + 1000, tenOClock + 10 * MINUTE_MS, BERLIN).due).toBe(false);
    // A snapshot newer than now (clock went back, or --now in the past): not due.
    expect(isDue(hourly, tenOClock + 30 * MINUTE_MS, tenOClock + 10 * MINUTE_MS, BERLIN).due).toBe(false);
    expect(isDue(hourly, tenOClock - 1000, tenOClock + 10 * MINUTE_MS, BERLIN).due).toBe(true);
    expect(isDue(hourly, null, tenOClock + 10 * MINUTE_MS, BERLIN).due).toBe(true);
  });

  test('the zone matters: 0 0 * * * is local midnight', () => {
    const daily = parseSchedule('daily');
    const now = Date.UTC(2026, 5, 1, 12);
    expect(mostRecentTick(daily, now, BERLIN)).toBe(Date.UTC(2026, 4, 31, 22));
    expect(mostRecentTick(daily, now, NEW_YORK)).toBe(Date.UTC(2026, 5, 1, 4));
    expect(mostRecentTick(daily, now, 'UTC')).toBe(Date.UTC(2026, 5, 1, 0));
    expect(mostRecentTick(daily, now, 'Asia/Kolkata')).toBe(Date.UTC(2026, 4, 31, 18, 30));
  });
});

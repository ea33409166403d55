/**
 * SPEC §3 over two years of synthetic HOURLY history (one zback snapshot per real hour, named by
 * NameFormat, time = name), in Europe/Berlin and America/New_York, checked against the independent
 * oracle in retention-oracle.ts (Intl + string keys + classic ISO-week algorithm; no Calendar).
 *
 * Span A: 2026-06-01 → 2028-06-30: contains ISO week 2026-W53, the leap day 2028-02-29, every month
 *         end, the fall-back of 2026, both changes of 2027, the spring-forward of 2028. Berlin with
 *         snapshots at HH:30:00Z, New York at HH:00:00Z (exactly on its DST instants).
 * Span B: 2027-01-01 → 2029-01-14 at HH:00:00Z, for hand-checked facts: both DST changes of 2027
 *         and 2028, month ends, 2028-02-29, the survivors at its end.
 */
import { Calendar } from '../../lib/policy/calendar.js';
import { NameFormat } from '../../lib/policy/snapshot-names.js';
import { decideRetention, type PruneCandidate, type PruneDecision, type Retention } from '../../lib/policy/retention.js';
import { DAY_MS, HOUR_MS, oracleDecide, oracleMemo, retentionOf, ymd } from './retention-oracle.js';

const fmt = new NameFormat();

interface Span {
  label: string;
  from: number; // first snapshot
  to: number; // exclusive
}

const SPAN_A: Span = { label: 'A 2026-06-01..2028-06-30 @HH:30Z', from: Date.UTC(2026, 5, 1, 0, 30), to: Date.UTC(2028, 6, 1) };
const SPAN_A00: Span = { label: 'A 2026-06-01..2028-06-30 @HH:00Z', from: Date.UTC(2026, 5, 1, 0, 0), to: Date.UTC(2028, 6, 1) };
const SPAN_B: Span = { label: 'B 2027-01-01..2029-01-14 @HH:00Z', from: Date.UTC(2027, 0, 1, 0, 0), to: Date.UTC(2029, 0, 15) };

function hourlyHistory(span: Span): PruneCandidate[] {
  const out: PruneCandidate[] = [];
  let txg = 1000;
  for (let t = span.from; t < span.to; t += HOUR_MS) {
    const name = fmt.nameFor(t);
    const time = fmt.parse(name);
    if (time !== t) throw new Error(`NameFormat round trip failed for ${name}`);
    out.push({ name, time, createtxg: txg++ });
  }
  return out;
}

const R_REQUIRED: Retention = retentionOf({ h: 24, d: 30, w: 8, m: 12, y: 2 });
const R_EVERYTHING: Retention = retentionOf({ h: 20_000, d: 800, w: 120, m: 30, y: 5 });

/** Compact comparison: a list of differences (empty when lib and oracle agree on keep and reasons). */
function differences(decisions: readonly PruneDecision[], oracle: ReadonlyMap<string, readonly string[]>): string[] {
  const diffs: string[] = [];
  const seen = new Set<string>();
  for (const d of decisions) {
    seen.add(d.name);
    const want = oracle.get(d.name);
    if (!want) {
      diffs.push(`${d.name}: not in the input`);
      continue;
    }
    const wantKeep = want.length > 0;
    if (d.keep !== wantKeep || JSON.stringify(d.reasons) !== JSON.stringify(want)) {
      diffs.push(`${d.name}: lib keep=${d.keep} ${JSON.stringify(d.reasons)} / oracle keep=${wantKeep} ${JSON.stringify(want)}`);
    }
  }
  for (const name of oracle.keys()) if (!seen.has(name)) diffs.push(`${name}: missing from the decisions`);
  return diffs.slice(0, 20);
}

const kept = (ds: readonly PruneDecision[]) => ds.filter((d) => d.keep).map((d) => d.name);

describe.each([
  ['Europe/Berlin', SPAN_A],
  ['America/New_York', SPAN_A00],
])('hourly history in %s, span %o', (zone, span) => {
  const cal = new Calendar(zone);
  const history = hourlyHistory(span);
  const local = (t: number) => oracleMemo(t, zone).local;

  test('history is what it claims: one snapshot per real hour, > 2 years, DST both ways', () => {
    expect(history.length).toBeGreaterThan(2 * 365 * 24);
    const offsets = new Set(history.map((s) => local(s.time).offsetMinutes));
    expect(offsets.size).toBe(2); // standard and summer time both present
    const days = new Set(history.map((s) => ymd(local(s.time))));
    for (const d of [
      '2026-10-25',
      '2026-11-01',
      '2026-12-31',
      '2027-01-03',
      '2027-03-14',
      '2027-03-28',
      '2027-10-31',
      '2027-11-07',
      '2028-02-29',
      '2028-03-12',
      '2028-03-26',
    ]) {
      expect(days.has(d)).toBe(true);
    }
  });

  let oneShot: PruneDecision[] | undefined;
  const oneShotRequired = () => (oneShot ??= decideRetention(history, R_REQUIRED, cal));

  test.each([
    ['24h30d8w12m2y', R_REQUIRED],
    ['20000h800d120w30m5y (every bucket of every unit)', R_EVERYTHING],
  ])('one prune over the whole history with %s equals the oracle', (_label, retention) => {
    const decisions = retention === R_REQUIRED ? oneShotRequired() : decideRetention(history, retention, cal);
    const oracle = oracleDecide(history, retention, zone);
    expect(differences(decisions, oracle)).toEqual([]);
    if (retention === R_EVERYTHING) {
      // Every real hour is its own hour bucket, the repeated DST hour included: nothing is destroyed.
      expect(decisions.filter((d) => !d.keep)).toEqual([]);
      expect(decisions.filter((d) => d.reasons.some((r) => r.startsWith('hourly '))).length).toBe(history.length);
      // Spot checks that do not depend on the oracle.
      const all = decisions.flatMap((d) => d.reasons);
      const count = (re: RegExp) => all.filter((r) => re.test(r)).length;
      expect(count(/^weekly \d+\/120 \(2026-W53\)$/)).toBe(1);
      expect(count(/^daily \d+\/800 \(2028-02-29\)$/)).toBe(1);
      expect(count(/^monthly \d+\/30 \(2028-02\)$/)).toBe(1);
      expect(count(/^yearly \d+\/5 \(2027\)$/)).toBe(1);
      const fallBack =
        zone === 'Europe/Berlin' ? ['2026-10-25 02:00 +02:00', '2026-10-25 02:00 +01:00'] : ['2026-11-01 01:00 -04:00', '2026-11-01 01:00 -05:00'];
      for (const label of fallBack) expect(count(new RegExp(`^hourly \\d+/20000 \\(${label.replace('+', '\\+')}\\)$`))).toBe(1);
      const springDay = zone === 'Europe/Berlin' ? '2027-03-28' : '2027-03-14';
      expect(count(new RegExp(`^hourly \\d+/20000 \\(${springDay} `))).toBe(23);
    }
  });

  test('pruning day by day for two years (rolling) matches the oracle at every prune and ends where one prune ends', () => {
    // A prune at the end of every UTC day that is near something interesting (a DST change, a month
    // end, the leap day, a year end / ISO week 53), and once a week otherwise; between prunes the
    // snapshots accumulate. The 24h window of a prune on a DST-change day covers the change.
    const interesting = (t: number) => {
      const date = new Date(t).getUTCDate();
      const offsetChanged = [-2, -1, 0, 1].some((k) => local(t + k * DAY_MS).offsetMinutes !== local(t + (k + 1) * DAY_MS).offsetMinutes);
      return offsetChanged || date >= 27 || date <= 2;
    };
    let current: PruneCandidate[] = [];
    let prunes = 0;
    let day = 0;
    const failures: string[] = [];
    for (let i = 0; i < history.length; i++) {
      const s = history[i]!;
      current.push(s);
      const next = history[i + 1];
      const endOfUtcDay = next === undefined || Math.floor(next.time / DAY_MS) !== Math.floor(s.time / DAY_MS);
      if (!endOfUtcDay) continue;
      day++;
      if (next !== undefined && day % 7 !== 0 && !interesting(s.time)) continue;
      const decisions = decideRetention(current, R_REQUIRED, cal);
      const diffs = differences(decisions, oracleDecide(current, R_REQUIRED, zone));
      if (diffs.length > 0 && failures.length < 5) failures.push(`prune at ${s.name}: ${diffs.slice(0, 3).join(' | ')}`);
      const keep = new Set(kept(decisions));
      current = current.filter((c) => keep.has(c.name));
      prunes++;
    }
    expect(failures).toEqual([]);
    expect(prunes).toBeGreaterThan(200);
    // Keeping the oldest of each bucket makes pruning stable: pruning as we go = one prune at the end.
    expect(current.map((c) => c.name)).toEqual(kept(oneShotRequired()));
  });
});

// ---- hand-checked facts ----

const BERLIN = 'Europe/Berlin';
const NEW_YORK = 'America/New_York';

/** Snapshots whose local date (by the oracle) is within [first, last]; only looks ±2 days around them in UTC. */
function onLocalDays(history: readonly PruneCandidate[], zone: string, first: string, last = first): PruneCandidate[] {
  const lo = Date.parse(`${first}T00:00:00Z`) - 2 * DAY_MS;
  const hi = Date.parse(`${last}T00:00:00Z`) + 3 * DAY_MS;
  return history.filter((s) => {
    if (s.time < lo || s.time >= hi) return false;
    const key = ymd(oracleMemo(s.time, zone).local);
    return key >= first && key <= last;
  });
}

describe('hand-checked facts', () => {
  const historyA = hourlyHistory(SPAN_A);
  const historyB = hourlyHistory(SPAN_B);

  test.each([
    [BERLIN, '2026-10-25', 25, ['2026-10-25 02:00 +02:00', '2026-10-25 02:00 +01:00']],
    [BERLIN, '2027-10-31', 25, ['2027-10-31 02:00 +02:00', '2027-10-31 02:00 +01:00']],
    [BERLIN, '2027-03-28', 23, []],
    [BERLIN, '2028-03-26', 23, []],
    [NEW_YORK, '2026-11-01', 25, ['2026-11-01 01:00 -04:00', '2026-11-01 01:00 -05:00']],
    [NEW_YORK, '2027-11-07', 25, ['2027-11-07 01:00 -04:00', '2027-11-07 01:00 -05:00']],
    [NEW_YORK, '2027-03-14', 23, []],
    [NEW_YORK, '2028-03-12', 23, []],
  ])('%s %s has %i hourly buckets', (zone, day, hours, repeated) => {
    const cal = new Calendar(zone);
    const history = day.startsWith('2026') ? historyA : historyB;
    const snaps = onLocalDays(history, zone, day);
    expect(snaps.length).toBe(hours); // one snapshot per real hour
    expect(new Set(snaps.map((s) => cal.hourBucket(s.time))).size).toBe(hours);
    expect(new Set(snaps.map((s) => cal.dayBucket(s.time))).size).toBe(1);
    const decisions = decideRetention(snaps, retentionOf({ h: 100, d: 1 }), cal);
    const hourly = decisions.flatMap((d) => d.reasons.filter((r) => r.startsWith('hourly ')));
    expect(hourly.length).toBe(hours);
    const labels = hourly.map((r) => /\((.*)\)$/.exec(r)![1]!);
    expect(new Set(labels).size).toBe(hours);
    for (const l of repeated) expect(labels).toContain(l);
    expect(decisions.flatMap((d) => d.reasons.filter((r) => r.startsWith('daily ')))).toEqual([`daily 1/1 (${day})`]);
  });

  test('Berlin 2026-10-25 00:30Z and 01:30Z: both 02:30 local, different hour buckets, same day bucket', () => {
    const cal = new Calendar(BERLIN);
    const a = historyA.find((s) => s.name === '2026-10-25-003000')!;
    const b = historyA.find((s) => s.name === '2026-10-25-013000')!;
    const c = historyA.find((s) => s.name === '2026-10-25-023000')!;
    expect(cal.format(a.time)).toBe('2026-10-25 02:30:00 +02:00');
    expect(cal.format(b.time)).toBe('2026-10-25 02:30:00 +01:00');
    expect(cal.hourBucket(a.time)).not.toBe(cal.hourBucket(b.time));
    expect(cal.dayBucket(a.time)).toBe(cal.dayBucket(b.time));

    const twoHours = decideRetention([a, b, c], retentionOf({ h: 2 }), cal);
    expect(twoHours.map((d) => [d.name, d.reasons])).toEqual([
      ['2026-10-25-003000', []],
      ['2026-10-25-013000', ['hourly 2/2 (2026-10-25 02:00 +01:00)']],
      ['2026-10-25-023000', ['hourly 1/2 (2026-10-25 03:00 +01:00)', 'newest zback snapshot']],
    ]);
    const oneDay = decideRetention([a, b, c], retentionOf({ d: 1 }), cal);
    expect(oneDay.map((d) => [d.name, d.keep])).toEqual([
      ['2026-10-25-003000', true],
      ['2026-10-25-013000', false],
      ['2026-10-25-023000', true],
    ]);
  });

  test.each([
    // zone, 2026-12-31 23:30 local, 2027-01-01 00:30 local (UTC names)
    [BERLIN, '2026-12-31-223000', '2026-12-31-233000'],
    [NEW_YORK, '2027-01-01-043000', '2027-01-01-053000'],
  ])('%s: 2026-12-31 23:30 and 2027-01-01 00:30 local are the same ISO week 2026-W53', (zone, n1, n2) => {
    const cal = new Calendar(zone);
    const a = historyA.find((s) => s.name === n1)!;
    const b = historyA.find((s) => s.name === n2)!;
    expect(cal.format(a.time, false).slice(0, 16)).toBe('2026-12-31 23:30');
    expect(cal.format(b.time, false).slice(0, 16)).toBe('2027-01-01 00:30');
    expect(cal.isoWeek(a.time)).toEqual({ year: 2026, week: 53 });
    expect(cal.isoWeek(b.time)).toEqual({ year: 2026, week: 53 });
    expect(cal.weekBucket(a.time)).toBe(cal.weekBucket(b.time));
    expect(cal.dayBucket(a.time)).not.toBe(cal.dayBucket(b.time));
    expect(cal.monthBucket(a.time)).not.toBe(cal.monthBucket(b.time));
    expect(cal.yearBucket(a.time)).not.toBe(cal.yearBucket(b.time));
    const d = decideRetention([b, a], retentionOf({ w: 1, y: 2 }), cal);
    expect(d.map((x) => [x.name, x.reasons])).toEqual([
      [n1, ['weekly 1/1 (2026-W53)', 'yearly 2/2 (2026)']],
      [n2, ['yearly 1/2 (2027)', 'newest zback snapshot']],
    ]);
    // The whole of 2026-W53 (Mon 2026-12-28 .. Sun 2027-01-03 local) is one weekly bucket of 168 hours.
    const week = onLocalDays(historyA, zone, '2026-12-28', '2027-01-03');
    expect(week.length).toBe(7 * 24);
    expect(new Set(week.map((s) => cal.weekBucket(s.time))).size).toBe(1);
  });

  test.each([BERLIN, NEW_YORK])('%s: a week spanning a month end (2027-05-31 .. 2027-06-06) keeps exactly one weekly snapshot', (zone) => {
    const cal = new Calendar(zone);
    const week = onLocalDays(historyB, zone, '2027-05-31', '2027-06-06');
    expect(week.length).toBe(168);
    const d = decideRetention(week, retentionOf({ w: 1, m: 2 }), cal);
    const weekly = d.filter((x) => x.reasons.some((r) => r.startsWith('weekly ')));
    expect(weekly.map((x) => [x.name, x.reasons.filter((r) => r.startsWith('weekly '))])).toEqual([[week[0]!.name, ['weekly 1/1 (2027-W22)']]]);
    expect(cal.format(week[0]!.time, false).slice(0, 16)).toBe('2027-05-31 00:00');
    const monthly = d.flatMap((x) => x.reasons.filter((r) => r.startsWith('monthly ')));
    expect(monthly).toEqual(['monthly 2/2 (2027-05)', 'monthly 1/2 (2027-06)']);
    expect(d.filter((x) => x.keep).length).toBe(3); // Monday 00:00 (weekly + May), June 1st 00:00, newest
  });

  test.each([BERLIN, NEW_YORK])('%s: 2028-02-29 is its own day bucket', (zone) => {
    const cal = new Calendar(zone);
    const days = onLocalDays(historyB, zone, '2028-02-28', '2028-03-01');
    expect(days.length).toBe(72);
    expect(new Set(days.map((s) => cal.dayBucket(s.time))).size).toBe(3);
    const d = decideRetention(days, retentionOf({ d: 3 }), cal);
    expect(d.flatMap((x) => x.reasons)).toEqual(['daily 3/3 (2028-02-28)', 'daily 2/3 (2028-02-29)', 'daily 1/3 (2028-03-01)', 'newest zback snapshot']);
    const leap = onLocalDays(days, zone, '2028-02-29');
    expect(leap.length).toBe(24);
    expect(new Set(leap.map((s) => cal.dayBucket(s.time))).size).toBe(1);
    expect(cal.fields(leap[0]!.time)).toMatchObject({ year: 2028, month: 2, day: 29, hour: 0, weekday: 2 });
  });

  test('Berlin, end of span B with 24h30d8w12m2y: the survivors, hand-computed', () => {
    const cal = new Calendar(BERLIN);
    const d = decideRetention(historyB, R_REQUIRED, cal);
    const why = new Map(d.filter((x) => x.keep).map((x) => [x.name, x.reasons]));
    // The newest is 2029-01-14T23:00Z = Monday 2029-01-15 00:00 CET (2029-W03).
    expect(why.get('2029-01-14-230000')).toEqual([
      'hourly 1/24 (2029-01-15 00:00 +01:00)',
      'daily 1/30 (2029-01-15)',
      'weekly 1/8 (2029-W03)',
      'newest zback snapshot',
    ]);
    expect(why.get('2029-01-14-000000')).toEqual(['hourly 24/24 (2029-01-14 01:00 +01:00)']);
    expect(why.get('2028-12-16-230000')).toEqual(['daily 30/30 (2028-12-17)']);
    expect(why.get('2028-11-26-230000')).toEqual(['weekly 8/8 (2028-W48)']);
    expect(why.get('2028-12-31-230000')).toEqual(['daily 15/30 (2029-01-01)', 'weekly 3/8 (2029-W01)', 'monthly 1/12 (2029-01)', 'yearly 1/2 (2029)']);
    expect(why.get('2028-01-31-230000')).toEqual(['monthly 12/12 (2028-02)']);
    expect(why.get('2027-12-31-230000')).toEqual(['yearly 2/2 (2028)']);
    // 24 hourly + 30 daily + 8 weekly + 12 monthly + 2 yearly, minus the snapshots that serve several units.
    const hourly = d.filter((x) => x.reasons.some((r) => r.startsWith('hourly '))).length;
    const daily = d.filter((x) => x.reasons.some((r) => r.startsWith('daily '))).length;
    const weekly = d.filter((x) => x.reasons.some((r) => r.startsWith('weekly '))).length;
    const monthly = d.filter((x) => x.reasons.some((r) => r.startsWith('monthly '))).length;
    const yearly = d.filter((x) => x.reasons.some((r) => r.startsWith('yearly '))).length;
    expect([hourly, daily, weekly, monthly, yearly]).toEqual([24, 30, 8, 12, 2]);
    // Overlaps: 2029-01-15 00:00 (h,d,w,newest); daily ∩ weekly: Mondays 01-08, 01-01, 12-25, 12-18;
    // monthly ∩ daily ∩ weekly: 2029-01-01; monthly 2029-01 = yearly 2029.
    // distinct = 24 + (30-1) + (8-1-4) + (12-1) + (2-1) = 24 + 29 + 3 + 11 + 1 = 68
    expect(d.filter((x) => x.keep).length).toBe(68);
  });
});

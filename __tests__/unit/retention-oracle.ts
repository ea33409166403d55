/**
 * An independent oracle for the retention rule of SPEC §3, for the retention/schedule unit tests.
 *
 * It deliberately shares no code with lib/policy/calendar.ts: local wall time and the UTC offset
 * come straight from Intl.DateTimeFormat#formatToParts (timeZoneName: 'longOffset'), the ISO week
 * from the classic ordinal-date algorithm (no Date arithmetic), and buckets are plain string keys.
 * The keys are written in the same shape as the labels decideRetention prints in its reasons, so
 * the tests can compare reasons verbatim.
 */

export const DAY_MS = 86_400_000;
export const HOUR_MS = 3_600_000;
export const MINUTE_MS = 60_000;

export type OracleUnit = 'h' | 'd' | 'w' | 'm' | 'y';
export const ORACLE_UNITS: readonly OracleUnit[] = ['h', 'd', 'w', 'm', 'y'];
export const ORACLE_UNIT_NAMES: Record<OracleUnit, string> = {
  h: 'hourly',
  d: 'daily',
  w: 'weekly',
  m: 'monthly',
  y: 'yearly',
};

export interface OracleLocal {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  /** local − UTC, minutes */
  offsetMinutes: number;
  /** "+01:00", "-05:00", "+05:30", "+00:00" */
  offsetText: string;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
      timeZoneName: 'longOffset',
    });
    formatters.set(zone, f);
  }
  return f;
}

/** Local wall time and offset of an instant in a zone, from Intl only. */
export function oracleLocal(utcMs: number, zone: string): OracleLocal {
  const p: Record<string, string> = {};
  for (const part of formatter(zone).formatToParts(new Date(utcMs))) p[part.type] = part.value;
  const tz = p.timeZoneName ?? '';
  // "GMT+01:00", "GMT-05:00", "GMT+05:30", or plain "GMT" for a zero offset.
  const m = /^GMT(?:([+-])(\d{1,2})(?::?(\d{2}))?)?$/.exec(tz);
  if (!m) throw new Error(`oracle: cannot read offset ${JSON.stringify(tz)}`);
  const sign = m[1] === '-' ? -1 : 1;
  const offsetMinutes = m[1] ? sign * (Number(m[2]) * 60 + Number(m[3] ?? '0')) : 0;
  const abs = Math.abs(offsetMinutes);
  const offsetText = `${offsetMinutes < 0 ? '-' : '+'}${pad2(Math.floor(abs / 60))}:${pad2(abs % 60)}`;
  return {
    year: Number(p.year),
    month: Number(p.month),
    day: Number(p.day),
    hour: Number(p.hour),
    minute: Number(p.minute),
    second: Number(p.second),
    offsetMinutes,
    offsetText,
  };
}

export function pad2(n: number): string {
  return String(n).padStart(2, '0');
}

export function ymd(l: { year: number; month: number; day: number }): string {
  return `${l.year}-${pad2(l.month)}-${pad2(l.day)}`;
}

/** Offset changes of a zone in [from, to), located to the minute with the oracle (first minute of the new offset). */
export function oracleOffsetChanges(zone: string, from: number, to: number): number[] {
  const out: number[] = [];
  const STEP = 6 * HOUR_MS;
  for (let t = from; t < to; t += STEP) {
    const before = oracleLocal(t, zone).offsetMinutes;
    if (before === oracleLocal(t + STEP, zone).offsetMinutes) continue;
    let lo = t;
    let hi = t + STEP;
    while (hi - lo > MINUTE_MS) {
      const mid = lo + Math.floor((hi - lo) / 2 / MINUTE_MS) * MINUTE_MS;
      if (oracleLocal(mid, zone).offsetMinutes === before) lo = mid;
      else hi = mid;
    }
    out.push(hi);
  }
  return out;
}

// ---- ISO 8601 week date, the classic algorithm (ordinal date, weekday, weeks-in-year) ----

export function isLeapYear(y: number): boolean {
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
}

const CUMULATIVE_DAYS = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];

export function ordinalDay(y: number, m: number, d: number): number {
  return CUMULATIVE_DAYS[m - 1]! + d + (m > 2 && isLeapYear(y) ? 1 : 0);
}

/** ISO weekday, 1 = Monday … 7 = Sunday (Sakamoto's method). */
export function isoWeekday(y: number, m: number, d: number): number {
  const t = [0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4];
  const yy = m < 3 ? y - 1 : y;
  const dow = (yy + Math.floor(yy / 4) - Math.floor(yy / 100) + Math.floor(yy / 400) + t[m - 1]! + d) % 7; // 0 = Sunday
  return dow === 0 ? 7 : dow;
}

/** 52 or 53: a year has 53 ISO weeks when it starts on a Thursday, or is a leap year starting on a Wednesday. */
export function isoWeeksInYear(y: number): number {
  const p = (x: number) => (x + Math.floor(x / 4) - Math.floor(x / 100) + Math.floor(x / 400)) % 7;
  return p(y) === 4 || p(y - 1) === 3 ? 53 : 52;
}

export function oracleIsoWeek(y: number, m: number, d: number): { year: number; week: number } {
  const w = Math.floor((ordinalDay(y, m, d) - isoWeekday(y, m, d) + 10) / 7);
  if (w < 1) return { year: y - 1, week: isoWeeksInYear(y - 1) };
  if (w > isoWeeksInYear(y)) return { year: y + 1, week: 1 };
  return { year: y, week: w };
}

// ---- buckets ----

/** The bucket key of an instant, written like decideRetention's labels. */
export function oracleBucket(unit: OracleUnit, utcMs: number, zone: string): string {
  return bucketFromLocal(unit, oracleLocal(utcMs, zone));
}

export function bucketFromLocal(unit: OracleUnit, l: OracleLocal): string {
  switch (unit) {
    case 'h':
      // Includes the offset: the hour that repeats when DST ends is two real hours, two buckets.
      return `${ymd(l)} ${pad2(l.hour)}:00 ${l.offsetText}`;
    case 'd':
      return ymd(l);
    case 'w': {
      const w = oracleIsoWeek(l.year, l.month, l.day);
      return `${w.year}-W${pad2(w.week)}`;
    }
    case 'm':
      return `${l.year}-${pad2(l.month)}`;
    case 'y':
      return String(l.year);
  }
}

export interface OracleSnapshot {
  name: string;
  time: number;
  createtxg: number;
}

export type OracleRetention = Record<OracleUnit, number>;

/** Memo of zone|time → local fields and bucket keys (the histories are large; Intl is the slow part). */
const keyMemo = new Map<string, { local: OracleLocal; keys: Record<OracleUnit, string> }>();

export function oracleMemo(utcMs: number, zone: string): { local: OracleLocal; keys: Record<OracleUnit, string> } {
  const k = `${zone}|${utcMs}`;
  let e = keyMemo.get(k);
  if (!e) {
    const local = oracleLocal(utcMs, zone);
    e = {
      local,
      keys: {
        h: bucketFromLocal('h', local),
        d: bucketFromLocal('d', local),
        w: bucketFromLocal('w', local),
        m: bucketFromLocal('m', local),
        y: bucketFromLocal('y', local),
      },
    };
    keyMemo.set(k, e);
  }
  return e;
}

/**
 * SPEC §3, written from the text: per unit with count N > 0, the N most recent buckets that contain a
 * snapshot each keep their oldest snapshot; the newest snapshot is always kept; protected names keep
 * their reasons. Returns name → reasons (empty = destroyed), reasons in the order
 * hourly, daily, weekly, monthly, yearly, newest, protected.
 */
export function oracleDecide(
  snapshots: readonly OracleSnapshot[],
  retention: OracleRetention,
  zone: string,
  protectedReasons: ReadonlyMap<string, readonly string[]> = new Map(),
): Map<string, string[]> {
  const sorted = [...snapshots].sort((a, b) => a.time - b.time || a.createtxg - b.createtxg || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const out = new Map<string, string[]>(sorted.map((s) => [s.name, []]));
  const keysOf = sorted.map((s) => oracleMemo(s.time, zone).keys);
  for (const unit of ORACLE_UNITS) {
    const n = retention[unit];
    if (n <= 0) continue;
    // bucket key → its oldest member (sorted is oldest first, so the first one seen).
    const oldest = new Map<string, OracleSnapshot>();
    sorted.forEach((s, i) => {
      const key = keysOf[i]![unit];
      if (!oldest.has(key)) oldest.set(key, s);
    });
    // Buckets are disjoint real time intervals, so "most recent" = latest oldest member.
    const recentFirst = [...oldest.entries()].sort((a, b) => b[1].time - a[1].time || b[1].createtxg - a[1].createtxg);
    recentFirst.slice(0, n).forEach(([key, s], i) => {
      out.get(s.name)!.push(`${ORACLE_UNIT_NAMES[unit]} ${i + 1}/${n} (${key})`);
    });
  }
  const newest = sorted[sorted.length - 1];
  if (newest) out.get(newest.name)!.push('newest zback snapshot');
  for (const [name, why] of protectedReasons) out.get(name)?.push(...why);
  return out;
}

export function retentionOf(r: Partial<OracleRetention>): OracleRetention {
  return { h: 0, d: 0, w: 0, m: 0, y: 0, ...r };
}

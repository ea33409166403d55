/**
 * Calendar arithmetic in an IANA time zone, without a date library: Intl tells the UTC offset,
 * everything else is integer arithmetic on "local wall time as if it were UTC".
 *
 * Offsets are looked up once per UTC day and reused for the whole day when the offset at the
 * start and at the end of that day agree (no transition inside it); only transition days fall
 * back to an exact lookup. That keeps 100,000 snapshots cheap.
 */
import { InvalidValue } from '../errors.js';

const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;

export type CalendarUnit = 'h' | 'd' | 'w' | 'm' | 'y';

export interface LocalFields {
  year: number;
  month: number; // 1-12
  day: number; // 1-31
  hour: number;
  minute: number;
  second: number;
  weekday: number; // 1 = Monday … 7 = Sunday (ISO)
  offsetMinutes: number; // local − UTC
}

/**
 * The names of UTC itself. A calendar in UTC needs no Intl: ICU's first use costs ~25 ms of CPU,
 * a tenth of a run from cron, and file servers often run in UTC.
 */
const UTC_NAMES: ReadonlySet<string> = new Set(
  ['UTC', 'UCT', 'Universal', 'Zulu', 'GMT', 'GMT0', 'GMT+0', 'GMT-0', 'Greenwich'].flatMap((n) => [n, `Etc/${n}`]),
);

/**
 * The system's zone, as Intl would resolve it (from TZ, else the /etc/localtime link; the shell
 * reads both), without loading ICU when the system plainly says UTC.
 */
export function systemTimeZone(system: { tz?: string | undefined; localtime?: () => string | null } = {}): string {
  const tz = system.tz?.replace(/^:/, '');
  const named = tz !== undefined && tz !== '' ? tz : /\/zoneinfo\/(.+)$/.exec(system.localtime?.() ?? '')?.[1];
  if (named !== undefined && UTC_NAMES.has(named)) return 'UTC';
  return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
}

/** Throws InvalidValue for a name that is not an IANA time zone. */
export function validateTimeZone(zone: string): string {
  if (UTC_NAMES.has(zone)) return 'UTC';
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: zone }).resolvedOptions().timeZone;
  } catch {
    throw new InvalidValue(`unknown time zone ${JSON.stringify(zone)} (use an IANA name such as Europe/Berlin or UTC)`);
  }
}

export class Calendar {
  readonly zone: string;
  /** Undefined for UTC: its offset is always 0. */
  private readonly fmt: Intl.DateTimeFormat | undefined;
  private readonly dayCache = new Map<number, number | null>();

  constructor(zone: string) {
    this.zone = validateTimeZone(zone);
    this.fmt =
      this.zone === 'UTC'
        ? undefined
        : new Intl.DateTimeFormat('en-US', {
            timeZone: this.zone,
            hourCycle: 'h23',
            year: 'numeric',
            month: 'numeric',
            day: 'numeric',
            hour: 'numeric',
            minute: 'numeric',
            second: 'numeric',
          });
  }

  /** Offset (ms, local − UTC) at an instant, exact. */
  private exactOffset(utcMs: number): number {
    if (!this.fmt) return 0;
    const p: Record<string, number> = {};
    for (const part of this.fmt.formatToParts(new Date(utcMs))) {
      if (part.type !== 'literal') p[part.type] = Number(part.value);
    }
    const wall = Date.UTC(p.year!, p.month! - 1, p.day!, p.hour!, p.minute!, p.second!);
    const utcSeconds = Math.floor(utcMs / 1000) * 1000;
    return wall - utcSeconds;
  }

  offsetMs(utcMs: number): number {
    const dayIndex = Math.floor(utcMs / DAY);
    let cached = this.dayCache.get(dayIndex);
    if (cached === undefined) {
      const start = this.exactOffset(dayIndex * DAY);
      const end = this.exactOffset(dayIndex * DAY + DAY - 1000);
      cached = start === end ? start : null;
      this.dayCache.set(dayIndex, cached);
    }
    return cached ?? this.exactOffset(utcMs);
  }

  fields(utcMs: number): LocalFields {
    const off = this.offsetMs(utcMs);
    const d = new Date(utcMs + off);
    const dow = d.getUTCDay();
    return {
      year: d.getUTCFullYear(),
      month: d.getUTCMonth() + 1,
      day: d.getUTCDate(),
      hour: d.getUTCHours(),
      minute: d.getUTCMinutes(),
      second: d.getUTCSeconds(),
      weekday: dow === 0 ? 7 : dow,
      offsetMinutes: Math.round(off / MINUTE),
    };
  }

  /** Days since 1970-01-01 of the local calendar date. */
  localDayIndex(utcMs: number): number {
    return Math.floor((utcMs + this.offsetMs(utcMs)) / DAY);
  }

  /**
   * A number that identifies the local clock hour. It includes the offset, so the hour that
   * repeats when DST ends gives two different buckets: they are two real hours.
   */
  hourBucket(utcMs: number): number {
    const off = this.offsetMs(utcMs);
    return Math.floor((utcMs + off) / HOUR) * 4096 + (Math.round(off / MINUTE) + 2048);
  }

  dayBucket(utcMs: number): number {
    return this.localDayIndex(utcMs);
  }

  /** ISO week (Monday start): 1970-01-01 was a Thursday, so day index + 3 counts from a Monday. */
  weekBucket(utcMs: number): number {
    return Math.floor((this.localDayIndex(utcMs) + 3) / 7);
  }

  monthBucket(utcMs: number): number {
    const f = this.fields(utcMs);
    return f.year * 12 + (f.month - 1);
  }

  yearBucket(utcMs: number): number {
    return this.fields(utcMs).year;
  }

  /** The bucket of an instant for a unit: clock hour, day, ISO week, month or year. */
  bucket(unit: CalendarUnit, utcMs: number): number {
    switch (unit) {
      case 'h':
        return this.hourBucket(utcMs);
      case 'd':
        return this.dayBucket(utcMs);
      case 'w':
        return this.weekBucket(utcMs);
      case 'm':
        return this.monthBucket(utcMs);
      case 'y':
        return this.yearBucket(utcMs);
    }
  }

  /**
   * The first instant of the bucket that contains `utcMs`: the start of its clock hour, day, …
   * Found by searching (buckets are contiguous and begin on whole minutes), so gaps and repeats
   * of DST changes — of any size, at any time of day — come out right: local midnight that does
   * not exist starts the day at the first instant that does; the repeated hour starts twice.
   */
  bucketStart(unit: CalendarUnit, utcMs: number): number {
    const key = this.bucket(unit, utcMs);
    let inside = Math.floor(utcMs / MINUTE) * MINUTE;
    let step = MINUTE;
    let outside = inside - step;
    while (this.bucket(unit, outside) === key) {
      inside = outside;
      step *= 2;
      outside = inside - step;
    }
    return this.boundary(outside, inside, (t) => this.bucket(unit, t) === key);
  }

  /** The first instant after `utcMs` that belongs to another bucket: the start of the next one. */
  nextBucketStart(unit: CalendarUnit, utcMs: number): number {
    const key = this.bucket(unit, utcMs);
    let inside = Math.floor(utcMs / MINUTE) * MINUTE;
    let step = MINUTE;
    let outside = inside + step;
    while (this.bucket(unit, outside) === key) {
      inside = outside;
      step *= 2;
      outside = inside + step;
    }
    return this.boundary(inside, outside, (t) => this.bucket(unit, t) !== key);
  }

  /** The first whole minute in (before, after] where `is` holds, given it holds at `after` only. */
  private boundary(before: number, after: number, is: (t: number) => boolean): number {
    let lo = before;
    let hi = after;
    while (hi - lo > MINUTE) {
      const mid = lo + Math.floor((hi - lo) / 2 / MINUTE) * MINUTE;
      if (is(mid)) hi = mid;
      else lo = mid;
    }
    return hi;
  }

  /** ISO 8601 week-numbering year and week of the local date. */
  isoWeek(utcMs: number): { year: number; week: number } {
    const dayIndex = this.localDayIndex(utcMs);
    const weekday = ((((dayIndex + 3) % 7) + 7) % 7) + 1; // 1 = Monday
    const thursday = dayIndex - weekday + 4; // the Thursday of this ISO week decides its year
    const year = new Date(thursday * DAY).getUTCFullYear();
    const jan1 = Math.floor(Date.UTC(year, 0, 1) / DAY);
    return { year, week: Math.floor((thursday - jan1) / 7) + 1 };
  }

  /** "2026-11-26 05:00:12 +01:00" */
  format(utcMs: number, withSeconds = true): string {
    const f = this.fields(utcMs);
    const off = f.offsetMinutes;
    const sign = off < 0 ? '-' : '+';
    const abs = Math.abs(off);
    const time = withSeconds ? `${p2(f.hour)}:${p2(f.minute)}:${p2(f.second)}` : `${p2(f.hour)}:${p2(f.minute)}`;
    return `${f.year}-${p2(f.month)}-${p2(f.day)} ${time} ${sign}${p2(Math.floor(abs / 60))}:${p2(abs % 60)}`;
  }
}

function p2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

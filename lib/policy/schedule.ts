/**
 * Schedules: the presets hourly/daily/weekly/monthly/yearly or a 5-field cron expression, in the
 * configured time zone.
 *
 * Due rule (SPEC §2): due when no zback snapshot exists at or after the most recent tick. Only the
 * most recent tick matters, so a machine that was off for a week takes one snapshot, not 168.
 *
 * A preset ticks at the start of every retention bucket of its unit — every clock hour, local day,
 * ISO week, month, year — computed from the calendar, so each bucket gets exactly one snapshot
 * across any DST change (cron-parser skips or throws around some, e.g. Lord Howe's 30-minute
 * shift). Cron expressions are evaluated by cron-parser; the next tick is derived from the same
 * "most recent tick" the due rule uses, so the two never disagree around DST changes.
 */
import { createRequire } from 'node:module';
import type { CronExpressionParser as Parser } from 'cron-parser';
import { InvalidValue } from '../errors.js';
import { Calendar } from './calendar.js';
import type { Unit } from './retention.js';

export interface Schedule {
  /** As the operator wrote it. */
  text: string;
  /** The cron expression (for a preset: its usual equivalent, for display). */
  cron: string;
  /** Set for the presets: ticks at the start of each bucket of this unit. */
  unit?: Unit;
}

/**
 * cron-parser (and the date library it brings, 260 KB) is loaded the first time a cron expression
 * is met: the presets never need it, and a start-up that skips it is a fifth faster.
 */
let cronParser: typeof Parser | undefined;
function cron(): typeof Parser {
  return (cronParser ??= (createRequire(import.meta.url)('cron-parser') as typeof import('cron-parser')).CronExpressionParser);
}

const PRESETS: Record<string, { cron: string; unit: Unit }> = {
  hourly: { cron: '0 * * * *', unit: 'h' },
  daily: { cron: '0 0 * * *', unit: 'd' },
  weekly: { cron: '0 0 * * 1', unit: 'w' }, // ISO weeks start on Monday, like the retention buckets
  monthly: { cron: '0 0 1 * *', unit: 'm' },
  yearly: { cron: '0 0 1 1 *', unit: 'y' },
};

const UNIT_PRESET: Record<Unit, string> = { h: 'hourly', d: 'daily', w: 'weekly', m: 'monthly', y: 'yearly' };

export function presetForUnit(unit: Unit): Schedule {
  const text = UNIT_PRESET[unit];
  return { text, ...PRESETS[text]! };
}

export function parseSchedule(text: string): Schedule {
  const s = text.trim();
  if (s === '') throw new InvalidValue('empty schedule; use hourly, daily, weekly, monthly, yearly or a 5-field cron expression');
  const preset = PRESETS[s.toLowerCase()];
  if (preset) return { text: s.toLowerCase(), ...preset };
  const fields = s.split(/\s+/);
  if (fields.length !== 5) {
    throw new InvalidValue(
      `unknown schedule ${JSON.stringify(s)}: use hourly, daily, weekly, monthly, yearly or a cron expression with 5 fields (minute hour day-of-month month day-of-week), got ${fields.length} field${fields.length === 1 ? '' : 's'}`,
    );
  }
  if (/[Hh]/.test(s.replace(/\b(THU|TUE|SAT|SUN|MON|WED|FRI|JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC)\b/gi, ''))) {
    throw new InvalidValue(`cron expression ${JSON.stringify(s)}: the random "H" field is not supported, give explicit values`);
  }
  try {
    cron().parse(s, { currentDate: new Date(0), tz: 'UTC' });
  } catch (e) {
    throw new InvalidValue(`bad cron expression ${JSON.stringify(s)}: ${(e as Error).message}`);
  }
  return { text: s, cron: s };
}

const calendars = new Map<string, Calendar>();
function calendar(zone: string): Calendar {
  let c = calendars.get(zone);
  if (!c) calendars.set(zone, (c = new Calendar(zone)));
  return c;
}

function cronPrev(schedule: Schedule, now: number, zone: string): number {
  try {
    // cron-parser's prev() is strictly before currentDate; +1 ms makes a tick at exactly `now` count.
    return cron()
      .parse(schedule.cron, { currentDate: new Date(now + 1), tz: zone })
      .prev()
      .getTime();
  } catch (e) {
    throw new InvalidValue(
      `cron expression ${JSON.stringify(schedule.text)} cannot be evaluated in ${zone} at ${new Date(now).toISOString()}: ${(e as Error).message}`,
    );
  }
}

/** The most recent tick at or before `now` (UTC ms). */
export function mostRecentTick(schedule: Schedule, now: number, zone: string): number {
  if (schedule.unit) return calendar(zone).bucketStart(schedule.unit, now);
  return cronPrev(schedule, now, zone);
}

const MINUTE = 60_000;
const HORIZON = 800 * 86_400_000; // every 5-field expression ticks within a leap-year cycle's worst case

/** The first tick strictly after `now`: the first instant where the most recent tick changes. */
export function nextTick(schedule: Schedule, now: number, zone: string): number {
  if (schedule.unit) return calendar(zone).nextBucketStart(schedule.unit, now);
  const current = cronPrev(schedule, now, zone);
  // Ticks are on whole minutes; gallop forward, then bisect, on the due rule's own function.
  let inside = Math.floor(now / MINUTE) * MINUTE;
  let step = MINUTE;
  let outside = inside + step;
  while (cronPrev(schedule, outside, zone) === current) {
    if (outside - now > HORIZON) throw new InvalidValue(`cron expression ${JSON.stringify(schedule.text)} never ticks again`);
    inside = outside;
    step *= 2;
    outside = inside + step;
  }
  while (outside - inside > MINUTE) {
    const mid = inside + Math.floor((outside - inside) / 2 / MINUTE) * MINUTE;
    if (cronPrev(schedule, mid, zone) === current) inside = mid;
    else outside = mid;
  }
  return outside;
}

/**
 * Ticks depend only on (schedule, zone, now), and cron-parser is slow for coarse schedules in
 * zones with DST (a monthly prev() costs milliseconds): one plan computes each distinct tick once.
 */
export class TickCache {
  private readonly ticks = new Map<string, { tick: number; next: number }>();
  /** How many times cron-parser was asked (for tests). */
  evaluations = 0;

  get(schedule: Schedule, now: number, zone: string): { tick: number; next: number } {
    const key = `${schedule.cron}\n${zone}\n${now}`;
    let t = this.ticks.get(key);
    if (!t) {
      this.evaluations++;
      t = { tick: mostRecentTick(schedule, now, zone), next: nextTick(schedule, now, zone) };
      this.ticks.set(key, t);
    }
    return t;
  }
}

export interface DueVerdict {
  due: boolean;
  tick: number;
  next: number;
}

/** `latest` is the time of the newest zback snapshot (null when there is none). */
export function isDue(schedule: Schedule, latest: number | null, now: number, zone: string, cache?: TickCache): DueVerdict {
  const { tick, next } = cache ? cache.get(schedule, now, zone) : { tick: mostRecentTick(schedule, now, zone), next: nextTick(schedule, now, zone) };
  return { due: latest === null || latest < tick, tick, next };
}

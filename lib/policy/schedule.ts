/**
 * Schedules: the presets hourly/daily/weekly/monthly/yearly or a 5-field cron expression,
 * evaluated by cron-parser in the configured time zone.
 *
 * Due rule (SPEC §2): due when no zback snapshot exists at or after the most recent tick. Only the
 * most recent tick matters, so a machine that was off for a week takes one snapshot, not 168.
 */
import { CronExpressionParser, type CronExpression } from 'cron-parser';
import { InvalidValue } from '../errors.js';
import type { Unit } from './retention.js';

export interface Schedule {
  /** As the operator wrote it. */
  text: string;
  /** The cron expression cron-parser evaluates. */
  cron: string;
}

const PRESETS: Record<string, string> = {
  hourly: '0 * * * *',
  daily: '0 0 * * *',
  weekly: '0 0 * * 1', // ISO weeks start on Monday, like the retention buckets
  monthly: '0 0 1 * *',
  yearly: '0 0 1 1 *',
};

const UNIT_PRESET: Record<Unit, string> = { h: 'hourly', d: 'daily', w: 'weekly', m: 'monthly', y: 'yearly' };

export function presetForUnit(unit: Unit): Schedule {
  const text = UNIT_PRESET[unit];
  return { text, cron: PRESETS[text]! };
}

export function parseSchedule(text: string): Schedule {
  const s = text.trim();
  if (s === '') throw new InvalidValue('empty schedule; use hourly, daily, weekly, monthly, yearly or a 5-field cron expression');
  const preset = PRESETS[s.toLowerCase()];
  if (preset) return { text: s.toLowerCase(), cron: preset };
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
    CronExpressionParser.parse(s, { currentDate: new Date(0), tz: 'UTC' });
  } catch (e) {
    throw new InvalidValue(`bad cron expression ${JSON.stringify(s)}: ${(e as Error).message}`);
  }
  return { text: s, cron: s };
}

function iterator(schedule: Schedule, from: number, zone: string): CronExpression {
  return CronExpressionParser.parse(schedule.cron, { currentDate: new Date(from), tz: zone });
}

/** The most recent tick at or before `now` (UTC ms). */
export function mostRecentTick(schedule: Schedule, now: number, zone: string): number {
  // cron-parser's prev() is strictly before currentDate; +1 ms makes a tick at exactly `now` count.
  return iterator(schedule, now + 1, zone).prev().getTime();
}

/** The first tick strictly after `now`. */
export function nextTick(schedule: Schedule, now: number, zone: string): number {
  return iterator(schedule, now, zone).next().getTime();
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

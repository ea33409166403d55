/**
 * Retention strings (`24h30d0w3m`) and the pruning rule of SPEC §3.
 *
 * For every unit with a count N > 0, zback snapshots fall into calendar buckets in the configured
 * zone (clock hour, day, ISO week, month, year); the N most recent buckets that contain one keep
 * their OLDEST snapshot, so the choice is stable from run to run. Some snapshots are always kept
 * (newest, held, bases of incremental sends, resume targets). Foreign snapshots never enter here.
 */
import { InvalidValue } from '../errors.js';
import type { Calendar } from './calendar.js';

export const UNITS = ['h', 'd', 'w', 'm', 'y'] as const;
export type Unit = (typeof UNITS)[number];
export type Retention = Readonly<Record<Unit, number>>;

const UNIT_NAMES: Record<Unit, string> = { h: 'hourly', d: 'daily', w: 'weekly', m: 'monthly', y: 'yearly' };
/** A generous bound that still catches typos such as 2400000h. */
const MAX_COUNT = 100_000;

export function parseRetention(text: string): Retention {
  const s = text.trim();
  if (s === '') throw new InvalidValue('empty retention; expected counts with units, e.g. 24h30d0w3m');
  const counts: Record<Unit, number> = { h: 0, d: 0, w: 0, m: 0, y: 0 };
  const seen = new Set<string>();
  const re = /(\d+)([a-zA-Z])/y;
  let pos = 0;
  while (pos < s.length) {
    re.lastIndex = pos;
    const m = re.exec(s);
    if (!m) {
      const rest = s.slice(pos);
      if (/^\d+$/.test(rest)) throw new InvalidValue(`count ${rest} has no unit (use h, d, w, m or y)`);
      throw new InvalidValue(`unexpected ${JSON.stringify(rest[0])} at position ${pos + 1}; expected counts with units h, d, w, m, y such as 24h30d`);
    }
    const unit = m[2]!;
    if (!(UNITS as readonly string[]).includes(unit)) {
      throw new InvalidValue(`unknown unit ${JSON.stringify(unit)} (use h, d, w, m or y)`);
    }
    if (seen.has(unit)) throw new InvalidValue(`unit ${JSON.stringify(unit)} appears more than once`);
    seen.add(unit);
    const n = Number(m[1]);
    if (n > MAX_COUNT) throw new InvalidValue(`count ${m[1]}${unit} is larger than ${MAX_COUNT}`);
    counts[unit as Unit] = n;
    pos = re.lastIndex;
  }
  if (UNITS.every((u) => counts[u] === 0)) throw new InvalidValue('every count is 0: at least one count must be greater than 0');
  return counts;
}

export function formatRetention(r: Retention): string {
  return UNITS.filter((u) => r[u] > 0)
    .map((u) => `${r[u]}${u}`)
    .join('');
}

const UNIT_WORDS: Record<Unit, [string, string]> = {
  h: ['hour', 'hours'],
  d: ['day', 'days'],
  w: ['week', 'weeks'],
  m: ['month', 'months'],
  y: ['year', 'years'],
};

/**
 * What a retention keeps, in words (README "Snapshots and retention"): `24h30d1m` → "keeps the
 * oldest snapshot of each of the last 24 hours, the last 30 days and the last month that have one,
 * the newest snapshot and every held one; destroys zback's other snapshots (never a foreign one)".
 */
export function describeRetention(r: Retention, zone?: string): string {
  const units = UNITS.filter((u) => r[u] > 0);
  const parts = units.map((u) => (r[u] === 1 ? `the last ${UNIT_WORDS[u][0]}` : `the last ${r[u]} ${UNIT_WORDS[u][1]}`));
  const list = parts.length === 1 ? parts[0]! : `${parts.slice(0, -1).join(', ')} and ${parts[parts.length - 1]}`;
  const which = units.length === 1 && r[units[0]!] === 1 ? `of ${list} that has one` : `of each of ${list} that have one`;
  const notes = [...(r.w > 0 ? ['weeks start on Monday'] : []), ...(zone ? [`${zone} time`] : [])];
  return `keeps the oldest snapshot ${which}${notes.length ? ` (${notes.join('; ')})` : ''}, the newest snapshot and every held one; destroys zback's other snapshots (never a foreign one)`;
}

/** "retention 24h keeps …": the retention as written, then in words. */
export function retentionSentence(r: Retention, zone?: string): string {
  return `retention ${formatRetention(r)} ${describeRetention(r, zone)}`;
}

/** The finest unit with a count > 0: the default snapshot schedule (`24h…` means hourly). */
export function finestUnit(r: Retention): Unit {
  return UNITS.find((u) => r[u] > 0)!;
}

export function unitName(u: Unit): string {
  return UNIT_NAMES[u];
}

/** One zback snapshot as the pruning rule sees it. */
export interface PruneCandidate {
  /** Snapshot name after the @. */
  name: string;
  /** UTC ms from the name. */
  time: number;
  /** Creation order on this dataset, for ties. */
  createtxg: number;
}

/** Snapshots kept whatever the buckets say, with the reason to show. */
export type ProtectedReasons = ReadonlyMap<string, readonly string[]>;

export interface PruneDecision {
  name: string;
  time: number;
  keep: boolean;
  /** Why it is kept; empty when it is destroyed. */
  reasons: string[];
}

/** Labels already made, per calendar and unit: the same instants recur on every dataset of a tree. */
const labels = new WeakMap<Calendar, Record<Unit, Map<number, string>>>();

function bucketLabel(cal: Calendar, unit: Unit, t: number): string {
  let made = labels.get(cal);
  if (!made) labels.set(cal, (made = { h: new Map(), d: new Map(), w: new Map(), m: new Map(), y: new Map() }));
  let label = made[unit].get(t);
  if (label === undefined) made[unit].set(t, (label = makeBucketLabel(cal, unit, t)));
  return label;
}

function makeBucketLabel(cal: Calendar, unit: Unit, t: number): string {
  const f = cal.fields(t);
  const ymd = `${f.year}-${String(f.month).padStart(2, '0')}-${String(f.day).padStart(2, '0')}`;
  switch (unit) {
    case 'h':
      return cal.format(t, false).replace(/:\d\d (?=[+-])/, ':00 ');
    case 'd':
      return ymd;
    case 'w': {
      const w = cal.isoWeek(t);
      return `${w.year}-W${String(w.week).padStart(2, '0')}`;
    }
    case 'm':
      return ymd.slice(0, 7);
    case 'y':
      return String(f.year);
  }
}

function byTime(a: PruneCandidate, b: PruneCandidate): number {
  return a.time - b.time || a.createtxg - b.createtxg || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
}

/**
 * Decide, for every zback snapshot of one dataset, whether it is kept and why.
 * Pure: the result depends only on the arguments, not on their order.
 */
export function decideRetention(
  snapshots: readonly PruneCandidate[],
  retention: Retention,
  cal: Calendar,
  protectedReasons: ProtectedReasons = new Map(),
): PruneDecision[] {
  const sorted = [...snapshots].sort(byTime);
  const reasons = new Map<string, string[]>(sorted.map((s) => [s.name, []]));

  for (const unit of UNITS) {
    const n = retention[unit];
    if (n <= 0) continue;
    // Oldest snapshot of each bucket, buckets in time order (they are disjoint real intervals).
    const oldestOfBucket = new Map<number, PruneCandidate>();
    for (const s of sorted) {
      const key = cal.bucket(unit, s.time);
      if (!oldestOfBucket.has(key)) oldestOfBucket.set(key, s);
    }
    const buckets = [...oldestOfBucket.values()].sort(byTime).reverse();
    buckets.slice(0, n).forEach((s, i) => {
      reasons.get(s.name)!.push(`${unitName(unit)} ${i + 1}/${n} (${bucketLabel(cal, unit, s.time)})`);
    });
  }

  const newest = sorted[sorted.length - 1];
  if (newest) reasons.get(newest.name)!.push('newest zback snapshot');
  for (const [name, why] of protectedReasons) reasons.get(name)?.push(...why);

  return sorted.map((s) => {
    const r = reasons.get(s.name)!;
    return { name: s.name, time: s.time, keep: r.length > 0, reasons: r };
  });
}

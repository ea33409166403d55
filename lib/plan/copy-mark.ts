/**
 * How a seeded copy is marked on its destination: `replica-of` (so a zback there leaves it alone
 * and `zback prune` knows whose copy it is), `canmount=noauto` (a copy mounted at boot that anything
 * writes to refuses the next incremental), the destination's retention (for `zback prune`) and its
 * schedule (for `zback status --replicas`, which tells a copy that stopped getting snapshots).
 */
import { parseSchedule, type Schedule } from '../policy/schedule.js';
export interface CopyMark {
  property: string;
  /** This machine's name: the property's value is "<source>:<dataset>". */
  source: string;
  /** Where the destination's retention is recorded on the copy, for `zback prune` on the backup host. */
  retentionProperty?: string;
  /** Where the destination's schedule is recorded on the copy (see scheduleMark). */
  scheduleProperty?: string;
}

export const DEFAULT_COPY_MARK: CopyMark = { property: 'org.wit:replica-of', source: 'localhost', retentionProperty: 'org.wit:replica-retention' };

/**
 * The marks of the copy of `dataset` kept with `retention`, as (property, value) pairs; with the
 * schedule mark (scheduleMark's value) when `schedule` is given (not to a sink too old to accept it).
 */
export function copyMarkProperties(mark: CopyMark, dataset: string, retention: string, schedule?: string): [string, string][] {
  const marks: [string, string][] = [
    [mark.property, `${mark.source}:${dataset}`],
    ['canmount', 'noauto'],
  ];
  if (mark.retentionProperty) marks.push([mark.retentionProperty, retention]);
  if (mark.scheduleProperty && schedule !== undefined) marks.push([mark.scheduleProperty, schedule]);
  return marks;
}

/**
 * The destination's schedule, the dataset's snapshot schedule where it differs (a copy gets a new
 * snapshot only when both have ticked), and the zone they tick in, as one word: a copy's mark is
 * printable text without spaces (the sink's rule: no value may forge another row of `zfs get`), so
 * a cron expression's spaces become "_", which no cron field contains, and "+" joins the two:
 * `hourly@UTC`, `hourly+daily@UTC`, `0_9_*_*_1-5@Europe/Berlin`.
 */
export function scheduleMark(destination: Schedule, zone: string, snapshots?: Schedule): string {
  const word = (s: Schedule) => s.text.trim().split(/\s+/).join('_');
  return `${word(destination)}${snapshots && snapshots.text !== destination.text ? `+${word(snapshots)}` : ''}@${zone}`;
}

/** A schedule mark read back (parseSchedule's errors for a bad schedule; the zone is checked by the caller). */
export function parseScheduleMark(value: string): { schedule: Schedule; snapshots?: Schedule; zone: string } {
  const at = value.lastIndexOf('@');
  if (at <= 0 || at === value.length - 1) throw new Error(`${JSON.stringify(value)} is not a schedule mark (schedule@zone)`);
  const [destination, snapshots, ...more] = value.slice(0, at).split('+');
  if (more.length || destination === '' || snapshots === '')
    throw new Error(`${JSON.stringify(value)} is not a schedule mark (schedule[+snapshot schedule]@zone)`);
  const read = (word: string) => parseSchedule(word.split('_').join(' '));
  return { schedule: read(destination!), ...(snapshots !== undefined ? { snapshots: read(snapshots) } : {}), zone: value.slice(at + 1) };
}

/**
 * zback's due rule simulated the way it runs: cron starts zback every `step` (5 minutes unless
 * told), and a snapshot named for `now` (NameFormat, time = name) is taken whenever the rule says
 * so. Shared by the schedule tests; `problems` lists every broken invariant (tick after now, next
 * not after now, isDue throwing).
 */
import { NameFormat } from '../../lib/policy/snapshot-names.js';
import { isDue, mostRecentTick, nextTick, type Schedule } from '../../lib/policy/schedule.js';
import { MINUTE_MS } from './retention-oracle.js';

const fmt = new NameFormat();

export interface Simulation {
  snapshots: number[];
  problems: string[];
}

export interface SimulationOptions {
  /** The newest snapshot before `from` (null: none). */
  latest?: number | null;
  /** Periods [from, to) while the machine is off: no run. */
  off?: ReadonlyArray<readonly [number, number]>;
  step?: number;
  /**
   * A cron expression's nextTick is costly (it searches for the instant where the most recent tick
   * changes: tens of cron-parser evaluations), so with `cheapNext` a run applies the due rule to
   * mostRecentTick directly and nextTick is checked only after each snapshot (it must be after now,
   * and be a tick); isDue itself is exercised by the other simulations.
   */
  cheapNext?: boolean;
}

/** Runs every `step` in [from, to), except while the machine is off. */
export function simulate(schedule: Schedule, zone: string, from: number, to: number, options: SimulationOptions = {}): Simulation {
  const { off = [], step = 5 * MINUTE_MS, cheapNext = false } = options;
  let latest = options.latest ?? null;
  const snapshots: number[] = [];
  const problems: string[] = [];
  const iso = (t: number) => new Date(t).toISOString();
  for (let now = from; now < to; now += step) {
    if (off.some(([a, b]) => now >= a && now < b)) continue;
    let v: { due: boolean; tick: number; next: number | null };
    try {
      if (cheapNext) {
        const tick = mostRecentTick(schedule, now, zone);
        v = { due: latest === null || latest < tick, tick, next: null };
      } else {
        v = isDue(schedule, latest, now, zone);
      }
    } catch (e) {
      problems.push(`${iso(now)}: isDue threw ${(e as Error).message}`);
      continue;
    }
    if (!(v.tick <= now)) problems.push(`${iso(now)}: tick ${iso(v.tick)} is after now`);
    if (v.next !== null && !(v.next > now)) problems.push(`${iso(now)}: next ${iso(v.next)} is not after now`);
    if (v.due) {
      latest = fmt.parse(fmt.nameFor(now))!;
      snapshots.push(latest);
      if (cheapNext) {
        const next = nextTick(schedule, now, zone);
        if (!(next > now) || mostRecentTick(schedule, next, zone) !== next) problems.push(`${iso(now)}: next ${iso(next)} is not a tick after now`);
      }
    }
  }
  return { snapshots, problems };
}

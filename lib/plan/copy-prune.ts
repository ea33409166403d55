/**
 * `zback prune` on a backup host (SPEC §10): its copies pruned by the retention each one carries
 * (recorded by the source when it seeded the copy), because an append-only sink lets no source
 * destroy anything there. Pure: inventory and marks in, decisions and commands out.
 *
 * Never destroyed: a snapshot whose name is not zback's, the newest zback snapshot of a copy (the
 * base of the source's next incremental), a held snapshot, one younger than the floor (by its
 * creation time as ZFS records it here), one dated in the future, or anything of a copy whose
 * retention is missing or unreadable.
 */
import type { Calendar } from '../policy/calendar.js';
import type { NameFormat } from '../policy/snapshot-names.js';
import { decideRetention, parseRetention, type PruneDecision, type Retention } from '../policy/retention.js';
import type { ZfsCapabilities } from '../zfs/capabilities.js';
import { destroyCommands } from '../zfs/commands.js';
import type { Inventory } from '../zfs/parse.js';

export interface CopyMarks {
  /** `<source host>:<dataset>` */
  replicaOf: string;
  /** The destination's retention as the source recorded it. */
  retention?: string;
}

export interface CopyPruneInput {
  inventory: Inventory;
  /** The copies below the root: dataset → its marks (local values only). */
  copies: ReadonlyMap<string, CopyMarks>;
  names: NameFormat;
  calendar: Calendar;
  now: number;
  /** The floor: nothing younger than this many days is destroyed. */
  keepDays: number;
  caps: ZfsCapabilities;
}

export interface CopyPrune {
  dataset: string;
  replicaOf: string;
  retention?: string;
  /** Why nothing of this copy is pruned (its retention is missing or wrong). */
  problem?: string;
  decisions: PruneDecision[];
  destroy: string[];
  argvs: string[][];
}

/** A name dated this far ahead of the clock is not trusted (as on the source, lib/policy/names.ts). */
const FUTURE_MARGIN_MS = 5 * 60_000;

export function planCopyPrune(input: CopyPruneInput): CopyPrune[] {
  const out: CopyPrune[] = [];
  for (const [dataset, marks] of [...input.copies].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const base: CopyPrune = {
      dataset,
      replicaOf: marks.replicaOf,
      ...(marks.retention !== undefined ? { retention: marks.retention } : {}),
      decisions: [],
      destroy: [],
      argvs: [],
    };
    let retention: Retention;
    if (marks.retention === undefined) {
      out.push({
        ...base,
        problem: 'no retention is recorded on it (seeded by a zback before 0.2?): nothing is pruned; set one with zfs set org.wit:replica-retention=… on it',
      });
      continue;
    }
    try {
      retention = parseRetention(marks.retention);
    } catch (e) {
      out.push({ ...base, problem: `its recorded retention ${JSON.stringify(marks.retention)} is not valid (${(e as Error).message}): nothing is pruned` });
      continue;
    }
    const snaps = input.inventory.get(dataset)?.snapshots ?? [];
    const protect = new Map<string, string[]>();
    const add = (name: string, why: string) => protect.set(name, [...(protect.get(name) ?? []), why]);
    const candidates = [];
    const floor = input.now - input.keepDays * 86_400_000;
    for (const s of snaps) {
      const time = input.names.parse(s.name);
      if (time === null || time > input.now + FUTURE_MARGIN_MS) continue; // foreign or future-dated: never touched
      candidates.push({ name: s.name, time, createtxg: s.createtxg });
      if (s.userrefs > 0) add(s.name, `held (${s.userrefs} hold${s.userrefs === 1 ? '' : 's'})`);
      if (input.keepDays > 0 && s.creation === undefined) add(s.name, 'its creation time could not be read (the floor cannot be checked)');
      else if (input.keepDays > 0 && s.creation! * 1000 > floor) add(s.name, `younger than the floor of ${input.keepDays} days`);
    }
    // The last one received (by createtxg) is the source's base, whatever its name says.
    const newest = candidates.reduce<(typeof candidates)[number] | undefined>((a, s) => (!a || s.createtxg > a.createtxg ? s : a), undefined);
    if (newest) add(newest.name, 'newest received (the base of the next incremental)');
    const decisions = decideRetention(candidates, retention, input.calendar, protect);
    const destroy = decisions.filter((d) => !d.keep).map((d) => d.name);
    out.push({ ...base, decisions, destroy, argvs: destroy.length ? destroyCommands(dataset, destroy, input.caps) : [] });
  }
  return out;
}

/**
 * What the restricted sink lets a source do (SPEC §10): exactly the argv shapes zback's destination
 * side sends (lib/zfs/commands.ts), on datasets under the sink's roots, and nothing else — no
 * destroy of a filesystem, no rollback, no `recv -F`, no property but the copy's marks.
 *
 * Pure: the sink (./sink.ts) runs what this returns; tests check every shape and refusal here.
 */
import { TARGET_HOLD_TAG } from '../plan/hold-tags.js';
import { parseRetention } from '../policy/retention.js';
import { parseScheduleMark } from '../plan/copy-mark.js';
import { validateTimeZone } from '../policy/calendar.js';
import { isStreamFlag } from '../zfs/capabilities.js';
import { poolFeaturesCommand } from '../zfs/commands.js';
import { datasetNameProblem, poolOf, snapshotNameProblem } from '../zfs/dataset-names.js';

export interface SinkOptions {
  /** Datasets under which the source may receive, hold, release and prune. */
  roots: readonly string[];
  /** Refuse to destroy a snapshot whose creation (as ZFS records it here) is younger than this. */
  keepDays: number;
  /** Refuse every destroy and release: the backup host prunes its copies itself (zback prune). */
  appendOnly: boolean;
  /**
   * Allow `zfs send` of a snapshot under the roots (zback restore). Off unless the backup host's
   * administrator asks for it: without it the sink is write-only, and a compromised source cannot
   * read back what it deleted long ago.
   */
  allowRestore?: boolean;
}

export type Allowed =
  | { op: 'version' | 'get' | 'create' | 'receive' | 'receive-abort' | 'hold' | 'release' | 'set' | 'pool-features'; argv: string[] }
  /** zback restore: one snapshot under a root, as a full stream back to the source (or its size). */
  | { op: 'send'; argv: string[] }
  /** The dataset list: only the roots, what is below them and their ancestors are shown. */
  | { op: 'list'; argv: string[] }
  /** Snapshots whose creation is checked against --keep-days before the destroy. */
  | { op: 'destroy'; argv: string[]; snapshots: string[] };

export class Refused extends Error {}

/** Properties the source reads on a destination (discovery, status). */
const READABLE = new Set(['guid', 'createtxg', 'userrefs', 'receive_resume_token', 'encryption', 'creation']);
/** Properties the source sets on a copy it seeded. */
const COPY_MARK = /^[a-z0-9][a-z0-9._-]*:replica-(of|retention|schedule)$/;

function dataset(name: string | undefined, what: string): string {
  if (name === undefined) throw new Refused(`${what} is missing`);
  const problem = datasetNameProblem(name);
  if (problem) throw new Refused(`${JSON.stringify(name)} is not a dataset name (${problem})`);
  return name;
}

export function underRoot(name: string, roots: readonly string[]): boolean {
  return roots.some((r) => name === r || name.startsWith(`${r}/`));
}

function inRoot(name: string | undefined, o: SinkOptions, what: string): string {
  const d = dataset(name, what);
  if (!underRoot(d, o.roots)) throw new Refused(`${d} is outside this sink's root${o.roots.length > 1 ? 's' : ''} (${o.roots.join(', ')})`);
  return d;
}

function snapshotsOf(operand: string | undefined, o: SinkOptions): { dataset: string; names: string[] } {
  if (operand === undefined || !operand.includes('@'))
    throw new Refused(`only snapshots (dataset@name) may be named here, not ${JSON.stringify(operand ?? '')}`);
  const at = operand.indexOf('@');
  const d = inRoot(operand.slice(0, at), o, 'the dataset');
  const names = operand.slice(at + 1).split(',');
  for (const n of names) {
    const problem = snapshotNameProblem(n);
    if (problem) throw new Refused(`${JSON.stringify(`${d}@${n}`)} is not a snapshot name (${problem})`);
  }
  return { dataset: d, names };
}

function exactly(argv: readonly string[], shape: readonly string[]): boolean {
  return argv.length === shape.length && shape.every((w, i) => argv[i] === w);
}

/** `property=value` (of `zfs set` or `zfs receive -o`) on `d`, if it is one of a copy's marks; else Refused. */
function copyMark(assignment: string, d: string, o: SinkOptions): void {
  const eq = assignment.indexOf('=');
  const prop = eq > 0 ? assignment.slice(0, eq) : '';
  const value = assignment.slice(eq + 1);
  const mark = COPY_MARK.test(prop) || (prop === 'canmount' && (value === 'noauto' || value === 'off'));
  if (!mark) throw new Refused(`setting ${JSON.stringify(assignment)} is not something zback does on a backup host (only its copy marks and canmount=noauto)`);
  // zback prune reads these marks: no line break or space may forge another copy's row.
  if (!/^[\x21-\x7e]{1,1024}$/.test(value)) throw new Refused(`the value of ${prop} must be printable text without spaces`);
  if (prop.endsWith(':replica-schedule')) {
    try {
      const { zone } = parseScheduleMark(value);
      validateTimeZone(zone);
    } catch (e) {
      throw new Refused(`${JSON.stringify(value)} is not a schedule mark (${(e as Error).message})`);
    }
  }
  if (prop.endsWith(':replica-retention')) {
    try {
      parseRetention(value);
    } catch (e) {
      throw new Refused(`${JSON.stringify(value)} is not a retention (${(e as Error).message})`);
    }
  }
  if (o.roots.includes(d)) throw new Refused(`${d} is this sink's root: only copies below it are marked`);
}

/** The request if zback's destination side sends it in exactly this form; else Refused says why. */
export function allow(argv: readonly string[], o: SinkOptions): Allowed {
  if (argv[0] === 'zpool') {
    // The stream-related features of the pools this sink receives into (OpenZFS; no other pool is shown).
    const shape = poolFeaturesCommand(['p']).slice(0, -1);
    const pools = argv.slice(shape.length);
    if (!exactly(argv.slice(0, shape.length), shape) || pools.length === 0)
      throw new Refused("only zback's own reading of pool features (zpool get … feature@…) runs here");
    const own = new Set(o.roots.map(poolOf));
    const other = pools.find((p) => !own.has(p));
    if (other !== undefined)
      throw new Refused(`${JSON.stringify(other)} is not the pool of this sink's root${o.roots.length > 1 ? 's' : ''} (${o.roots.join(', ')})`);
    return { op: 'pool-features', argv: [...argv] };
  }
  if (argv[0] !== 'zfs') throw new Refused(`only zfs runs here, not ${JSON.stringify(argv[0])}`);
  const a = [...argv];
  const sub = a[1];
  switch (sub) {
    case 'version':
      if (a.length === 2) return { op: 'version', argv: a };
      break;
    case 'list':
      if (exactly(a, ['zfs', 'list', '-H', '-o', 'name', '-t', 'filesystem,volume'])) return { op: 'list', argv: a };
      break;
    case 'get': {
      if (!exactly(a.slice(0, 5), ['zfs', 'get', '-H', '-p', '-o']) || a[5] !== 'name,property,value') break;
      let i = 6;
      if (a[i] === '-t') {
        if (a[i + 1] !== 'filesystem,volume,snapshot') break;
        i += 2;
      }
      if (a[i] !== '-r') break;
      const props = (a[i + 1] ?? '').split(',');
      const bad = props.find((p) => !READABLE.has(p));
      if (bad !== undefined) throw new Refused(`reading the property ${JSON.stringify(bad)} is not something zback does`);
      const roots = a.slice(i + 2);
      if (roots.length === 0) break;
      roots.forEach((r) => inRoot(r, o, 'a dataset to read'));
      return { op: 'get', argv: a };
    }
    case 'create':
      // Parents of a copy, one level at a time and never mounted (SPEC §10).
      if (a.length === 5 && a[2] === '-o' && a[3] === 'canmount=off') {
        const d = inRoot(a[4], o, 'the dataset to create');
        if (o.roots.includes(d)) throw new Refused(`${d} is this sink's root: the backup host's administrator creates it`);
        return { op: 'create', argv: a };
      }
      break;
    case 'receive':
      if (a.length === 4 && a[2] === '-A') {
        inRoot(a[3], o, 'the receive to discard');
        return { op: 'receive-abort', argv: a };
      }
      if (a[2] === '-u' && a.length >= 4) {
        // zfs receive -u [-s] [-o MARK]… TARGET: a seed may set the copy's marks inside its receive.
        let i = a[3] === '-s' ? 4 : 3;
        const marks: string[] = [];
        for (; a[i] === '-o' && i + 2 < a.length; i += 2) marks.push(a[i + 1]!);
        if (i === a.length - 1 && !a[i]!.startsWith('-')) {
          const d = inRoot(a[i], o, 'the receive target');
          for (const m of marks) copyMark(m, d, o);
          return { op: 'receive', argv: a };
        }
      }
      if (a.some((w) => w === '-F' || /^-[a-zA-Z]*F/.test(w)))
        throw new Refused('zfs receive -F (which rolls back and destroys on the backup host) is never allowed');
      break;
    case 'hold':
    case 'release': {
      if (a[2] !== TARGET_HOLD_TAG || a.length < 4) {
        if (a[2]?.startsWith('-')) break;
        throw new Refused(`only zback's own hold tag (${TARGET_HOLD_TAG}) may be placed or released here`);
      }
      if (sub === 'release' && o.appendOnly)
        throw new Refused('this sink is append-only: it releases nothing (the backup host prunes its copies with zback prune)');
      // zback holds nothing on an append-only sink; a hold would only keep zback prune from pruning.
      if (sub === 'hold' && o.appendOnly) throw new Refused('this sink is append-only: zback places no holds on it');
      for (const s of a.slice(3)) {
        const { names } = snapshotsOf(s, o);
        if (names.length !== 1) throw new Refused(`one snapshot per name in zfs ${sub}, not ${JSON.stringify(s)}`);
      }
      return { op: sub, argv: a };
    }
    case 'destroy': {
      if (a.length !== 3 || a[2]!.startsWith('-')) {
        if (a.some((w) => /^-[a-zA-Z]*[rRdf]/.test(w)))
          throw new Refused(`zfs destroy with options (${a.filter((w) => w.startsWith('-')).join(' ')}) is never allowed: only named snapshots`);
        break;
      }
      const { dataset: d, names } = snapshotsOf(a[2], o);
      if (o.appendOnly) throw new Refused('this sink is append-only: it destroys nothing (the backup host prunes its copies with zback prune)');
      return { op: 'destroy', argv: a, snapshots: names.map((n) => `${d}@${n}`) };
    }
    case 'set': {
      if (a.length !== 4) break;
      copyMark(a[2]!, inRoot(a[3], o, 'the dataset'), o);
      return { op: 'set', argv: a };
    }
    case 'send': {
      // zback restore (SPEC §12): `zfs send [-nP] [-w -L -e -c] DATASET@SNAPSHOT`, one snapshot under
      // a root as a full stream (sendFullCommand, sendEstimateCommand). Nothing else: no -R, -p,
      // -i/-I, -t or -b, and nothing outside the roots.
      let i = a[2] === '-nP' ? 3 : 2;
      const flags = new Set<string>();
      for (; i < a.length - 1 && isStreamFlag(a[i]!) && !flags.has(a[i]!); i++) flags.add(a[i]!);
      if (i !== a.length - 1 || a[i]!.startsWith('-')) break;
      const { names } = snapshotsOf(a[i], o);
      if (names.length !== 1) throw new Refused(`one snapshot in zfs send, not ${JSON.stringify(a[i])}`);
      if (!o.allowRestore) throw new Refused('this sink does not send copies back (zback restore needs zback sink --allow-restore on the backup host)');
      return { op: 'send', argv: a };
    }
    case 'rollback':
      throw new Refused('zfs rollback is never allowed (it destroys snapshots on the backup host)');
    default:
      break; // refused below
  }
  throw new Refused(`${JSON.stringify(`zfs ${sub ?? ''}`.trim())} in this form is not a command zback sends to a backup host`);
}

/**
 * The dataset list as the source may see it: the roots, everything below them, and their
 * ancestors (so it can tell that a pool is imported and a root exists), nothing else.
 */
export function visibleDatasets(names: readonly string[], roots: readonly string[]): string[] {
  const ancestors = new Set<string>();
  for (const r of roots) for (let i = r.indexOf('/'); i > 0; i = r.indexOf('/', i + 1)) ancestors.add(r.slice(0, i));
  return names.filter((n) => underRoot(n, roots) || ancestors.has(n));
}

/** Snapshots younger than the floor, from `zfs get -H -p -o name,value creation …` output. */
export function tooYoung(creationRows: string, snapshots: readonly string[], keepDays: number, now: number): string[] | { unreadable: string[] } {
  const created = new Map<string, number>();
  for (const line of creationRows.split('\n')) {
    const [name, value] = line.split('\t');
    if (name && value && /^\d+$/.test(value)) created.set(name, Number(value) * 1000);
  }
  const missing = snapshots.filter((s) => !created.has(s));
  if (missing.length) return { unreadable: missing };
  return snapshots.filter((s) => now - created.get(s)! < keepDays * 86_400_000);
}

/**
 * The holds zback placed, remembered in the state directory. Old ZFS (zfs-fuse) cannot list hold
 * tags (`zfs holds` is missing), so without this record a hold left behind — by a destination that
 * was removed from the configuration, or a run that stopped between placing the new hold and
 * releasing the old one — would keep its snapshot forever. With it, every run releases its stale
 * holds.
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { keepAside, readJson } from './files.js';
import { join } from 'node:path';

export interface HoldRecord {
  /** Which side of a replication: the source's base, or the copy's base on the destination. */
  role: 'source' | 'target';
  /** "local" or the destination's host label (a destination pool on this machine is "local" too). */
  host: string;
  dataset: string;
  snapshot: string;
  tag: string;
  /** Source holds: the destination whose base this is (older records: read from the tag). */
  destination?: { hostLabel: string; target: string };
  /** Source holds: the guid of the dataset, so its holds can be followed when it is renamed. */
  datasetGuid?: string;
}

const key = (r: HoldRecord) => JSON.stringify([r.role, r.host, r.dataset, r.snapshot, r.tag]);

function validRecord(r: unknown): r is HoldRecord {
  const x = r as Record<string, unknown> | null;
  return (
    x !== null &&
    typeof x === 'object' &&
    (x.role === 'source' || x.role === 'target') &&
    ['host', 'dataset', 'snapshot', 'tag'].every((k) => typeof x[k] === 'string')
  );
}

export class HoldLedger {
  private readonly records = new Map<string, HoldRecord>();
  private dirty = false;

  constructor(
    private readonly path: string | null,
    records: readonly HoldRecord[] = [],
  ) {
    for (const r of records) this.records.set(key(r), r);
  }

  /**
   * What was wrong with the file when it was read (corrupt, unreadable): the ledger is then empty
   * and must be rebuilt from ZFS; with `keepAside` the file was moved out of the way first.
   */
  problem?: string;

  /**
   * Reads `<stateDir>/holds.json`. A missing file is an empty ledger; a corrupt one is an empty
   * ledger with `problem` set, and with `keepAside` (a run, not status) it is renamed
   * `holds.json.corrupt-<time>` so nothing is lost and the next save starts clean.
   */
  static load(stateDir: string, options: { keepAside?: boolean } = {}): HoldLedger {
    const path = join(stateDir, 'holds.json');
    const read = readJson(path);
    if (read.kind === 'missing') return new HoldLedger(path);
    const holds = read.kind === 'ok' ? (read.value as { holds?: unknown }).holds : undefined;
    if (read.kind === 'ok' && Array.isArray(holds) && holds.every(validRecord)) return new HoldLedger(path, holds);
    const why = read.kind === 'error' ? read.error : 'its content is not a hold ledger';
    const ledger = new HoldLedger(path);
    ledger.problem = `${path} is corrupt (${why})${options.keepAside ? `; kept as ${keepAside(path)}` : ''}`;
    return ledger;
  }

  /** Replace every record (a ledger rebuilt from ZFS). */
  replace(records: readonly HoldRecord[]): void {
    this.records.clear();
    for (const r of records) this.records.set(key(r), r);
    this.dirty = true;
  }

  all(): HoldRecord[] {
    return [...this.records.values()];
  }

  add(r: HoldRecord): void {
    this.records.set(key(r), r);
    this.dirty = true;
  }

  remove(r: HoldRecord): void {
    this.dirty = this.records.delete(key(r)) || this.dirty;
  }

  /** Atomic: written to a temporary file and renamed, so a reader never sees half a file. */
  save(): void {
    if (!this.path || !this.dirty) return;
    mkdirSync(join(this.path, '..'), { recursive: true });
    const tmp = `${this.path}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify({ version: 1, holds: this.all() }, null, 1) + '\n', { mode: 0o644 });
    renameSync(tmp, this.path);
    this.dirty = false;
  }
}

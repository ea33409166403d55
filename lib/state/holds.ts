/**
 * The holds zback placed, remembered in the state directory. Old ZFS (zfs-fuse) cannot list hold
 * tags (`zfs holds` is missing), so without this record a hold left behind — by a destination that
 * was removed from the configuration, or a run that stopped between placing the new hold and
 * releasing the old one — would keep its snapshot forever. With it, every run releases its stale
 * holds.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
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
}

const key = (r: HoldRecord) => JSON.stringify([r.role, r.host, r.dataset, r.snapshot, r.tag]);

export class HoldLedger {
  private readonly records = new Map<string, HoldRecord>();
  private dirty = false;

  constructor(
    private readonly path: string | null,
    records: readonly HoldRecord[] = [],
  ) {
    for (const r of records) this.records.set(key(r), r);
  }

  /** Reads `<stateDir>/holds.json`; a missing or unreadable file is an empty ledger. */
  static load(stateDir: string): HoldLedger {
    const path = join(stateDir, 'holds.json');
    try {
      const data = JSON.parse(readFileSync(path, 'utf8')) as { holds?: HoldRecord[] };
      const valid = (data.holds ?? []).filter(
        (r) => (r.role === 'source' || r.role === 'target') && ['host', 'dataset', 'snapshot', 'tag'].every((k) => typeof (r as unknown as Record<string, unknown>)[k] === 'string'),
      );
      return new HoldLedger(path, valid);
    } catch {
      return new HoldLedger(path);
    }
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

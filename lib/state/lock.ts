/**
 * The run lock: one `zback run` at a time per state directory. A second run finds the lock held
 * and exits at once (exit code 75) instead of waiting or overlapping.
 *
 * The lock file is created with O_EXCL and holds the owner's PID and its start time (from
 * /proc), so a lock left by a crashed run — or by a PID that was since reused — is recognised as
 * stale and taken over. Taking over is itself guarded by a short-lived ".break" file so that two
 * runs finding the same stale lock cannot both win.
 */
import { closeSync, mkdirSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

export interface LockOwner {
  pid: number;
  startTime: string;
  host: string;
  since: string;
}

export class LockBusy extends Error {
  constructor(
    readonly path: string,
    readonly owner: LockOwner | null,
  ) {
    super(
      owner
        ? `another zback run (pid ${owner.pid}, started ${owner.since}) holds the lock ${path}; this run exits without doing anything`
        : `another zback run holds the lock ${path}; this run exits without doing anything`,
    );
    this.name = 'LockBusy';
  }
}

function processStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 22 (starttime) counted after the ")" that ends the command name.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19] ?? null;
  } catch {
    return null;
  }
}

function readOwner(path: string): LockOwner | null {
  try {
    const o = JSON.parse(readFileSync(path, 'utf8')) as LockOwner;
    return typeof o.pid === 'number' ? o : null;
  } catch {
    return null;
  }
}

function ownerAlive(o: LockOwner): boolean {
  if (o.host !== hostname()) return true; // a lock from another machine (shared state dir): never assume it is stale
  const start = processStartTime(o.pid);
  if (start !== null) return start === o.startTime;
  try {
    process.kill(o.pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function tryCreate(path: string, content: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o644);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
  try {
    writeSync(fd, content);
  } finally {
    closeSync(fd);
  }
  return true;
}

export class RunLock {
  private held = false;
  readonly path: string;

  constructor(stateDir: string) {
    this.path = join(stateDir, 'run.lock');
  }

  /** Takes the lock or throws LockBusy. */
  acquire(): void {
    mkdirSync(join(this.path, '..'), { recursive: true, mode: 0o755 });
    const me: LockOwner = {
      pid: process.pid,
      startTime: processStartTime(process.pid) ?? '',
      host: hostname(),
      since: new Date().toISOString(),
    };
    const content = JSON.stringify(me) + '\n';
    for (let attempt = 0; attempt < 3; attempt++) {
      if (tryCreate(this.path, content)) {
        this.held = true;
        process.once('exit', () => this.release());
        return;
      }
      const owner = readOwner(this.path);
      if (owner === null) {
        // Being written right now, or garbage left by a crash: only garbage older than a minute is stale.
        if (ageMs(this.path) < 60_000) throw new LockBusy(this.path, null);
      } else if (ownerAlive(owner)) {
        throw new LockBusy(this.path, owner);
      }
      this.breakStale(owner);
    }
    throw new LockBusy(this.path, readOwner(this.path));
  }

  private breakStale(seen: LockOwner | null): void {
    const guard = this.path + '.break';
    if (!tryCreate(guard, String(process.pid))) {
      if (ageMs(guard) < 10_000) throw new LockBusy(this.path, readOwner(this.path));
      unlinkQuiet(guard); // a taker that crashed mid-takeover
      if (!tryCreate(guard, String(process.pid))) throw new LockBusy(this.path, readOwner(this.path));
    }
    try {
      // Still the same stale owner? Then nobody took it over meanwhile.
      const now = readOwner(this.path);
      // An unreadable lock may be one another run has just created and not yet written: only
      // an old one is garbage.
      const stillStale = seen !== null || ageMs(this.path) >= 60_000;
      if (stillStale && JSON.stringify(now) === JSON.stringify(seen)) unlinkQuiet(this.path);
    } finally {
      unlinkQuiet(guard);
    }
  }

  release(): void {
    if (!this.held) return;
    this.held = false;
    const owner = readOwner(this.path);
    if (owner && owner.pid === process.pid) unlinkQuiet(this.path);
  }
}

function ageMs(path: string): number {
  try {
    return Date.now() - statSync(path).mtimeMs;
  } catch {
    return Infinity;
  }
}

function unlinkQuiet(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    /* already gone */
  }
}

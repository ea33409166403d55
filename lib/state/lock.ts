/**
 * The run lock: one `zback run` at a time per state directory. A second run finds the lock held
 * and exits at once (exit code 75) instead of waiting or overlapping.
 *
 * The lock is the kernel's: flock(2) on `<state-dir>/run.lock`, held by a small `flock` process
 * (util-linux, on every Linux) that zback starts and feeds through a pipe. When zback ends in any
 * way — normally, killed, crashed, the machine's name changed meanwhile — the pipe closes, that
 * process exits and the kernel drops the lock: there is no stale lock to detect or take over, and
 * no PID to trust. (Node cannot call flock(2) itself; a native add-on would be a build dependency
 * for one system call.) The file keeps its owner's PID and start for messages, and is never
 * removed, so two runs can never lock two different files of the same name.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

export interface LockOwner {
  pid: number;
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

function readOwner(path: string): LockOwner | null {
  try {
    const o = JSON.parse(readFileSync(path, 'utf8')) as LockOwner;
    return typeof o.pid === 'number' ? o : null;
  } catch {
    return null;
  }
}

/** flock's exit code when the lock is held (chosen: EX_TEMPFAIL, like zback's own). */
const BUSY = 75;

export class RunLock {
  private holder: ChildProcess | null = null;
  readonly path: string;

  constructor(stateDir: string) {
    this.path = join(stateDir, 'run.lock');
  }

  /** Takes the lock, or throws LockBusy when another run holds it (or an Error when it cannot try). */
  async acquire(): Promise<void> {
    mkdirSync(join(this.path, '..'), { recursive: true, mode: 0o755 });
    const child = spawn('flock', ['--nonblock', '--conflict-exit-code', String(BUSY), this.path, 'sh', '-c', 'echo locked; exec cat >/dev/null'], {
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true, // its own process group: a Ctrl-C meant for zback must not drop the lock early
    });
    const result = await new Promise<'locked' | number | Error>((resolve) => {
      let err = '';
      child.stdout!.once('data', () => resolve('locked'));
      child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      child.once('error', (e) => resolve(new Error(`cannot run flock (util-linux) to lock ${this.path}: ${e.message}`)));
      child.once('exit', (code) => resolve(code === BUSY ? BUSY : new Error(`flock ${this.path} failed (exit ${code}): ${err.trim()}`)));
    });
    if (result === BUSY) throw new LockBusy(this.path, readOwner(this.path));
    if (result instanceof Error) throw result;
    this.holder = child;
    child.stdin!.on('error', () => {});
    // The holder must not keep zback alive, and ends with it.
    child.unref();
    for (const s of [child.stdin, child.stdout, child.stderr] as Array<{ unref?: () => void } | null>) s?.unref?.();
    const me: LockOwner = { pid: process.pid, host: hostname(), since: new Date().toISOString() };
    writeFileSync(this.path, JSON.stringify(me) + '\n', { mode: 0o644 });
  }

  release(): void {
    const child = this.holder;
    if (!child) return;
    this.holder = null;
    child.stdin?.end(); // cat sees EOF, flock exits, the kernel drops the lock
    child.kill('SIGTERM');
  }
}

/**
 * Integration-test lab: real zfs-fuse daemons, one per private mount namespace ("host"), driven
 * through __tests__/lab/zfs-lab.sh. zback itself runs inside a host's namespace, exactly as it
 * runs on a server: it finds `zfs` on PATH and nothing tells it that it is being tested.
 *
 * A test that cannot get its ZFS fails loudly here; nothing is skipped.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const ROOT = process.cwd();
export const LAB_SCRIPT = join(ROOT, '__tests__/lab/zfs-lab.sh');
export const ZBACK = join(ROOT, 'bin/zback');

export interface Result {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function requireLabPrerequisites(): void {
  const missing: string[] = [];
  if (process.getuid?.() !== 0) missing.push('root (the tests create pools and mount namespaces)');
  for (const bin of ['zfs-fuse', 'zfs', 'zpool', 'unshare', 'nsenter']) {
    if (spawnSync('sh', ['-c', `command -v ${bin}`]).status !== 0) missing.push(bin);
  }
  if (!existsSync('/dev/fuse')) missing.push('/dev/fuse');
  if (!existsSync(join(ROOT, 'dist/bundle/zback.cjs'))) missing.push('a build of zback (npm run build)');
  if (missing.length) {
    throw new Error(
      `integration tests need: ${missing.join(', ')}. Run the README's test command as root on Debian 12 ` + `(it installs zfs-fuse and openssh-server).`,
    );
  }
}

/** Runs a process to its end and collects its output; rejects (after SIGKILL) on a timeout. */
export function run(argv: string[], opts: { env?: NodeJS.ProcessEnv; input?: string | Buffer; timeoutMs?: number } = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`timed out after ${opts.timeoutMs} ms: ${argv.join(' ')}\n${stdout}\n${stderr}`));
    }, opts.timeoutMs ?? 120_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    // A command that exits without reading its stdin (pkill, a killed run) makes this write EPIPE:
    // not a failure of the command, whose exit status says what happened.
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? '');
  });
}

function readlinkQuiet(path: string): string {
  try {
    return readlinkSync(path);
  } catch {
    return '';
  }
}

/** Whether zback's run lock (a kernel flock on the file) is free now: `flock -n` can take it. */
export function lockIsFree(path: string): boolean {
  return spawnSync('flock', ['--nonblock', path, 'true']).status === 0;
}

export class LabHost {
  constructor(
    readonly lab: Lab,
    readonly name: string,
  ) {}

  /** Run a command inside this host's mount namespace. */
  exec(argv: string[], opts: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {}): Promise<Result> {
    return run([LAB_SCRIPT, 'exec', this.name, ...argv], { ...opts, env: { ...this.lab.env(), ...opts.env } });
  }

  /** `zfs ARGS` inside the host; throws with zfs's stderr when it fails. Retries zfs-fuse's transient "busy". */
  async zfs(...args: string[]): Promise<string> {
    // zfs-fuse reports "busy" once for a mounted dataset that it is still unmounting; a retry
    // works. A snapshot that is busy is held, and that must stay an error.
    const transient = (stderr: string) => /pool is busy/.test(stderr) || (/dataset is busy/.test(stderr) && !args.some((a) => a.includes('@')));
    for (let attempt = 0; ; attempt++) {
      const r = await this.exec(['zfs', ...args]);
      if (r.code === 0) return r.stdout;
      if (attempt < 5 && transient(r.stderr)) {
        await new Promise((res) => setTimeout(res, 200));
        continue;
      }
      throw new Error(`zfs ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
    }
  }

  async pool(pool: string, size = '256M'): Promise<void> {
    const r = await run([LAB_SCRIPT, 'pool', this.name, pool, size], { env: this.lab.env() });
    if (r.code !== 0) throw new Error(`pool ${pool}: ${r.stderr}`);
  }

  /** Write `kib` KiB of random data (nothing compresses away) to a file in a mounted dataset. */
  async writeRandom(dataset: string, file: string, kib = 16): Promise<void> {
    const r = await this.exec(['sh', '-c', `head -c ${kib * 1024} /dev/urandom > "$(zfs get -H -o value mountpoint "$1")/$2"`, 'sh', dataset, file]);
    if (r.code !== 0) throw new Error(`writing ${file} in ${dataset}: ${r.stderr}`);
  }

  /** Create a dataset holding `kib` KiB of random data (data.bin). */
  async datasetWithData(dataset: string, kib = 64): Promise<void> {
    await this.zfs('create', dataset);
    await this.writeRandom(dataset, 'data.bin', kib);
  }

  /** The directory holding this host's pool image files (what `zpool import -d` searches). */
  get imageDir(): string {
    return join(this.lab.dir, this.name, 'img');
  }

  /** `zpool ARGS` inside the host; throws with zpool's stderr when it fails. Retries "pool is busy". */
  async zpool(...args: string[]): Promise<string> {
    for (let attempt = 0; ; attempt++) {
      const r = await this.exec(['zpool', ...args]);
      if (r.code === 0) return r.stdout;
      if (attempt < 10 && /is busy/.test(r.stderr)) {
        await new Promise((res) => setTimeout(res, 200));
        continue;
      }
      throw new Error(`zpool ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
    }
  }

  /** Export a pool: it disappears from the host while the host (and its sshd) stays up. */
  async exportPool(pool: string): Promise<void> {
    await this.zpool('export', pool);
  }

  /** Import an exported pool from this host's image directory (it comes back with the same guids). */
  async importPool(pool: string): Promise<void> {
    await this.zpool('import', '-d', this.imageDir, pool);
  }

  /** Names of the pools imported on this host. */
  async pools(): Promise<string[]> {
    return (await this.zpool('list', '-H', '-o', 'name')).trim().split('\n').filter(Boolean).sort();
  }

  /**
   * Rename a dataset. zfs-fuse refuses to rename a mounted dataset ("dataset is busy") at first,
   * and a parent with children received with -u on every try: unmount it first (a dataset that is
   * not mounted makes that fail, which is fine), then rename with zfs()'s retries.
   */
  async renameDataset(from: string, to: string): Promise<void> {
    await this.exec(['zfs', 'unmount', from]);
    await this.zfs('rename', from, to);
  }

  /** Snapshot name (after "@") → guid of every snapshot of one dataset (not its children), in creation order. */
  async snapshotGuids(dataset: string): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    const guids = new Map<string, string>();
    // zfs-fuse has no `zfs get -t` and prints guids humanized in `zfs list`: get -p, filtered here.
    for (const line of (await this.zfs('get', '-H', '-p', '-o', 'name,value', 'guid', '-r', dataset)).trim().split('\n')) {
      const [name = '', value = ''] = line.split('\t');
      if (name.startsWith(dataset + '@')) guids.set(name.slice(dataset.length + 1), value);
    }
    for (const s of await this.snapshots(dataset)) out.set(s, guids.get(s) ?? '');
    return out;
  }

  /** Names (and optionally other columns) of every dataset and snapshot, sorted. */
  async listAll(columns = 'name'): Promise<string[]> {
    return (await this.zfs('list', '-H', '-t', 'all', '-o', columns)).trim().split('\n').filter(Boolean).sort();
  }

  async snapshots(dataset: string): Promise<string[]> {
    const out = await this.zfs('list', '-H', '-t', 'snapshot', '-o', 'name', '-r', '-s', 'createtxg', dataset);
    return out
      .trim()
      .split('\n')
      .filter((l) => l.startsWith(dataset + '@'))
      .map((l) => l.slice(dataset.length + 1));
  }

  async getProp(dataset: string, prop: string): Promise<{ value: string; source: string }> {
    const [value = '', source = ''] = (await this.zfs('get', '-H', '-o', 'value,source', prop, dataset)).trim().split('\t');
    return { value, source };
  }

  get sshDir(): string {
    return join(this.lab.dir, this.name, 'ssh');
  }

  /** An sshd inside this host on 127.0.0.1:port; `reuse` restarts it with its earlier keys. */
  async sshd(port: number, reuse = false, maxSessions = 10): Promise<void> {
    const env = { ...this.lab.env(), ZFS_LAB_SSHD_MAX_SESSIONS: String(maxSessions) };
    const r = await run([LAB_SCRIPT, 'sshd', this.name, String(port), ...(reuse ? ['--reuse-keys'] : [])], { env });
    if (r.code !== 0) throw new Error(`sshd in ${this.name}: ${r.stderr}`);
  }

  async stopSshd(): Promise<void> {
    const r = await run([LAB_SCRIPT, 'stop-sshd', this.name], { env: this.lab.env() });
    if (r.code !== 0) throw new Error(`stop-sshd ${this.name}: ${r.stderr}`);
  }

  /** Connections sshd accepted so far (its VERBOSE log has one line per login). */
  acceptedConnections(): number {
    const log = join(this.sshDir, 'sshd.log');
    return existsSync(log) ? (readFileSync(log, 'utf8').match(/Accepted publickey for /g) ?? []).length : 0;
  }

  /** PIDs of processes living in this host's mount namespace whose command line matches. */
  processes(pattern: RegExp): number[] {
    const daemon = Number(readFileSync(join(this.lab.dir, this.name, 'daemon.pid'), 'utf8').trim());
    const ns = readlinkQuiet(`/proc/${daemon}/ns/mnt`);
    const out: number[] = [];
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry) || Number(entry) === daemon) continue;
      if (readlinkQuiet(`/proc/${entry}/ns/mnt`) !== ns) continue;
      let cmd = '';
      try {
        cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' ');
      } catch {
        continue;
      }
      if (pattern.test(cmd)) out.push(Number(entry));
    }
    return out;
  }

  /** Bytes a process has read so far (/proc/PID/io), 0 when it is gone. */
  static bytesRead(pid: number): number {
    try {
      return Number(/^rchar: (\d+)$/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))?.[1] ?? 0);
    } catch {
      return 0;
    }
  }

  /** sha256 of every file of a dataset (mounted), sorted by path. */
  async checksums(dataset: string): Promise<string> {
    const r = await this.exec([
      'sh',
      '-c',
      'cd "$(zfs get -H -o value mountpoint "$1")" && find . -type f -print0 | sort -z | xargs -0 -r sha256sum',
      'sh',
      dataset,
    ]);
    if (r.code !== 0) throw new Error(`checksums of ${dataset}: ${r.stderr}`);
    return r.stdout;
  }

  /** Checksums of a snapshot's files, through a temporary clone (the replica itself stays untouched). */
  async snapshotChecksums(snapshot: string): Promise<string> {
    const clone = `${snapshot.split('/')[0]}/verify-${Math.random().toString(36).slice(2, 8)}`;
    await this.zfs('clone', snapshot, clone);
    try {
      return await this.checksums(clone);
    } finally {
      await this.zfs('destroy', clone);
    }
  }

  /**
   * Run zback inside this host. `zfsDelayS` makes every zfs call slower (to hold the lock for a
   * while); `zfsLog` records every zfs invocation, one argv per line.
   */
  zback(args: string[], opts: { zfsLog?: string; zfsDelayS?: number; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<Result> {
    const env: NodeJS.ProcessEnv = {
      PATH: `${this.lab.wrapperDir}:${process.env.PATH}`,
      ZBACK_TEST_ZFS_LOG: opts.zfsLog ?? '',
      ZBACK_TEST_ZFS_DELAY: String(opts.zfsDelayS ?? 0),
      TZ: 'UTC',
      ...opts.env,
    };
    return this.exec(['node', ZBACK, ...args], { env, timeoutMs: opts.timeoutMs ?? 120_000 });
  }
}

/**
 * One lab per test file: its own directory, its own hosts; stopped in afterAll.
 * A `zfs` wrapper is put first on PATH for zback runs only: it logs each invocation and can add a
 * delay, then execs the real zfs. zback is not aware of it.
 */
export class Lab {
  readonly dir: string;
  readonly wrapperDir: string;
  readonly stateDir: string;
  private readonly hosts: LabHost[] = [];

  constructor(label: string) {
    requireLabPrerequisites();
    this.dir = mkdtempSync(join(tmpdir(), `zback-it-${label}-`));
    this.wrapperDir = join(this.dir, 'bin');
    this.stateDir = join(this.dir, 'state');
    mkdirSync(this.wrapperDir);
    const realZfs = spawnSync('sh', ['-c', 'command -v zfs']).stdout.toString().trim();
    const wrapper = join(this.wrapperDir, 'zfs');
    writeFileSync(
      wrapper,
      [
        '#!/bin/sh',
        'if [ -n "$ZBACK_TEST_ZFS_LOG" ]; then printf "%s\\n" "$*" >> "$ZBACK_TEST_ZFS_LOG"; fi',
        'if [ "${ZBACK_TEST_ZFS_DELAY:-0}" != 0 ]; then sleep "$ZBACK_TEST_ZFS_DELAY"; fi',
        `exec ${realZfs} "$@"`,
        '',
      ].join('\n'),
    );
    chmodSync(wrapper, 0o755);
  }

  env(): NodeJS.ProcessEnv {
    return { ...process.env, ZFS_LAB_DIR: this.dir };
  }

  async start(name: string): Promise<LabHost> {
    const r = await run([LAB_SCRIPT, 'start', name], { env: this.env() });
    if (r.code !== 0) throw new Error(`cannot start zfs-fuse host ${name}: ${r.stderr}`);
    const h = new LabHost(this, name);
    this.hosts.push(h);
    return h;
  }

  async stop(): Promise<void> {
    await run([LAB_SCRIPT, 'stop-all'], { env: this.env() });
    rmSync(this.dir, { recursive: true, force: true });
  }

  readLog(path: string): string[] {
    return existsSync(path) ? readFileSync(path, 'utf8').trim().split('\n').filter(Boolean) : [];
  }
}

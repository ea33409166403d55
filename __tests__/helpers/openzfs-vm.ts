/**
 * A guest with real OpenZFS 2.3 (Debian bookworm-backports) under QEMU, driven through
 * __tests__/lab/openzfs-vm.sh, for zback's OpenZFS-only paths. zback runs inside the guest
 * (the host's node binary is baked into the image, zback's build and runtime dependencies are
 * copied in), with two pools: `tank` (source) and `bpool` (backup), and the guest's own sshd as the
 * "backup" destination host, so the remote paths go through ssh2 too.
 *
 * Nothing here skips: a guest that cannot be built or booted fails the tests that need it.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { ROOT, run, type Result } from './lab.js';

export const VM_SCRIPT = join(ROOT, '__tests__/lab/openzfs-vm.sh');

export class OpenZfsVm {
  readonly dir = mkdtempSync(join(tmpdir(), 'zback-openzfs-vm-'));
  // Outside the ranges the zfs-fuse tests give their sshds (22100–26120, 26200–26699).
  readonly port = 27000 + (process.pid % 500);
  /** The cached image's folder: its id_ed25519 logs in to the guest as root. */
  imageDir = '';

  private env(): NodeJS.ProcessEnv {
    return { ...process.env, OPENZFS_VM_DIR: this.dir, OPENZFS_VM_PORT: String(this.port) };
  }

  private script(args: string[], input?: string, timeoutMs = 120_000): Promise<Result> {
    return run([VM_SCRIPT, ...args], { env: this.env(), input, timeoutMs });
  }

  /** Build (cached after the first time: about 5 minutes fresh) and boot the guest; set it up. */
  async start(): Promise<void> {
    const build = await this.script(['build'], undefined, 15 * 60_000);
    if (build.code !== 0) throw new Error(`building the OpenZFS guest failed:\n${build.stderr}`);
    this.imageDir = build.stdout.trim();
    const boot = await this.script(['boot'], undefined, 6 * 60_000);
    if (boot.code !== 0) throw new Error(`booting the OpenZFS guest failed:\n${boot.stderr}`);
    await this.sh(`
      set -e
      truncate -s 1G /root/tank.img /root/bpool.img
      zpool create -f -m /tank tank /root/tank.img
      zpool create -f -m /bpool bpool /root/bpool.img
      ssh-keygen -q -t ed25519 -N '' -f /root/.ssh/id_ed25519
      cat /root/.ssh/id_ed25519.pub >> /root/.ssh/authorized_keys
      ssh-keyscan -t ed25519 127.0.0.1 2>/dev/null > /root/.ssh/known_hosts
      test -s /root/.ssh/known_hosts
      printf 'Host backup\\n  HostName 127.0.0.1\\n  User root\\n' > /root/.ssh/config
      mkdir -p /opt/zback`);
    this.ship();
  }

  /** zback's build and its runtime dependencies (not the dev ones) into /opt/zback. */
  private ship(): void {
    const ls = spawnSync('npm', ['ls', '--omit=dev', '--all', '--parseable'], { cwd: ROOT, encoding: 'utf8' });
    const deps = ls.stdout
      .split('\n')
      .filter((p) => p.includes('node_modules'))
      .map((p) => relative(ROOT, p));
    if (!deps.some((d) => d.endsWith('node_modules/ssh2'))) throw new Error(`npm ls found no runtime dependencies:\n${ls.stderr}`);
    const tar = spawnSync('bash', ['-c', 'tar -C "$1" -cf - bin dist package.json "${@:2}" | "$0" ssh tar -C /opt/zback -xf -', VM_SCRIPT, ROOT, ...deps], {
      env: this.env(),
      encoding: 'utf8',
      timeout: 300_000,
    });
    if (tar.status !== 0) throw new Error(`copying zback into the guest failed: ${tar.stderr}`);
  }

  /** A shell script in the guest (bash, as root). */
  sh(script: string, timeoutMs = 300_000): Promise<Result> {
    return this.script(['ssh', 'bash', '-s'], script, timeoutMs).then((r) => {
      if (r.code === 255) throw new Error(`ssh to the OpenZFS guest failed: ${r.stderr}`);
      return r;
    });
  }

  /** Like sh, but throws with stderr unless the script exits 0; returns stdout. */
  async ok(script: string, timeoutMs?: number): Promise<string> {
    const r = await this.sh(script, timeoutMs);
    if (r.code !== 0) throw new Error(`in the OpenZFS guest, exit ${r.code}: ${script.trim()}\n${r.stderr}`);
    return r.stdout;
  }

  /** `zback ARGS` in the guest; every argument is single-quoted for the guest's shell. */
  zback(args: string[], timeoutMs = 600_000): Promise<Result> {
    const quoted = args.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
    return this.sh(`cd /root && PATH=/usr/sbin:/usr/bin:/sbin:/bin TZ=UTC exec /usr/local/bin/node /opt/zback/bin/zback ${quoted}`, timeoutMs);
  }

  async stop(): Promise<void> {
    await this.script(['stop'], undefined, 60_000);
  }
}

/**
 * Installing zback as an operator would: `npm install -g` from a clone and from a packed tarball
 * (npm pack), with `zback` on PATH afterwards; and the cron file that comes with it.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CronExpressionParser } from 'cron-parser';
import { ROOT } from '../helpers/lab.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'zback-install-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function sh(cmd: string, args: string[], cwd = ROOT) {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: 300_000 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

function installedWorks(prefix: string): void {
  const bin = join(prefix, 'bin', 'zback');
  expect(existsSync(bin)).toBe(true);
  // As cron runs it: PATH with the prefix's bin, nothing else of this checkout.
  const env = { PATH: `${join(prefix, 'bin')}:/usr/bin:/bin`, HOME: dir };
  const version = spawnSync('zback', ['--version'], { encoding: 'utf8', env, cwd: dir });
  expect([version.status, version.stdout.trim()]).toEqual([0, JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version]);
  const help = spawnSync('zback', ['status', '--help'], { encoding: 'utf8', env, cwd: dir });
  expect(help.status).toBe(0);
  expect(help.stdout).toContain('--check');
}

test('npm install -g from a packed tarball: zback on PATH, with the native ssh2 crypto and the cron file', () => {
  sh('npm', ['pack', '--pack-destination', dir]);
  const tarball = readdirSync(dir).find((f) => f.endsWith('.tgz'))!;
  const prefix = join(dir, 'from-tarball');
  sh('npm', ['install', '-g', '--allow-scripts=ssh2,cpu-features', '--prefix', prefix, join(dir, tarball)], dir);
  installedWorks(prefix);
  const pkg = join(prefix, 'lib', 'node_modules', 'zback');
  expect(existsSync(join(pkg, 'cron.d', 'zback'))).toBe(true);
  expect(existsSync(join(pkg, 'dist', 'bundle', 'zback.cjs'))).toBe(true); // the bundle, not the hundred modules it is made of
  expect(existsSync(join(pkg, 'dist', 'lib'))).toBe(false);
  expect(existsSync(join(pkg, '__tests__'))).toBe(false); // only what an installation needs
  expect(existsSync(join(pkg, 'node_modules', 'ssh2', 'lib', 'protocol', 'crypto', 'build', 'Release', 'sshcrypto.node'))).toBe(true);
});

test("npm install -g from a clone (the README's first command): zback on PATH", () => {
  const prefix = join(dir, 'from-clone');
  sh('npm', ['install', '-g', '--allow-scripts=ssh2,cpu-features', '--prefix', prefix, ROOT], dir);
  installedWorks(prefix);
});

test('cron.d/zback: every 5 minutes as root, a PATH that finds a global install, zback run with a splay well inside the 5 minutes', () => {
  const lines = readFileSync(join(ROOT, 'cron.d', 'zback'), 'utf8')
    .split('\n')
    .filter((l) => l.trim() && !l.startsWith('#'));
  const path = lines.find((l) => l.startsWith('PATH='))!;
  expect(path.split('=')[1]!.split(':')).toEqual(expect.arrayContaining(['/usr/local/bin', '/usr/bin', '/usr/sbin', '/sbin']));
  const jobs = lines.filter((l) => !/^[A-Z_]+=/.test(l));
  expect(jobs).toHaveLength(1);
  const fields = jobs[0]!.trim().split(/\s+/);
  expect(fields.slice(5)).toEqual(['root', 'zback', 'run', '--splay', '60']);
  const schedule = fields.slice(0, 5).join(' ');
  const it = CronExpressionParser.parse(schedule, { currentDate: new Date('2026-11-25T10:00:00Z'), tz: 'UTC' });
  expect([1, 2, 3].map(() => it.next().toDate().toISOString())).toEqual(['2026-11-25T10:05:00.000Z', '2026-11-25T10:10:00.000Z', '2026-11-25T10:15:00.000Z']);
});

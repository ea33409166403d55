/**
 * bin/zback's code cache (V8's compiled code for the bundle, README "Start-up"): written after a
 * command, used by the next one, and never trusted when it is damaged, of another build, or
 * writable by anyone but the user who runs zback. Runs the real bin/zback on the real bundle
 * (npm test builds it first).
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFileSync, spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = join(ROOT, 'bin', 'zback');
const VERSION = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version as string;

let dir: string;
beforeAll(() => {
  if (!existsSync(join(ROOT, 'dist', 'bundle', 'zback.cjs'))) throw new Error('these tests run bin/zback: build it first (npm run build; npm test does)');
  dir = mkdtempSync(join(tmpdir(), 'zback-code-cache-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function zback(cacheDir: string, args = ['--version'], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, ZBACK_CODE_CACHE_DIR: cacheDir, ...env } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
const caches = (d: string) => (existsSync(d) ? readdirSync(d).filter((f) => f.endsWith('.cache')) : []);
const fresh = (name: string) => join(dir, name);

describe('the code cache', () => {
  test('the first command writes it (private to its user), the next ones use it as it is', () => {
    const d = fresh('first');
    expect(zback(d)).toEqual({ code: 0, stdout: `${VERSION}\n`, stderr: '' });
    const [file] = caches(d);
    expect(file).toMatch(/^zback-[0-9a-f]{16}-other\.cache$/);
    const path = join(d, file!);
    expect(statSync(d).mode & 0o777).toBe(0o700);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const before = { ino: statSync(path).ino, bytes: readFileSync(path) };
    expect(zback(d)).toEqual({ code: 0, stdout: `${VERSION}\n`, stderr: '' });
    // Accepted as it is: not written again.
    expect({ ino: statSync(path).ino, bytes: readFileSync(path) }).toEqual(before);
    // Each command has its own (each compiles different code).
    expect(zback(d, ['run', '--help']).code).toBe(0);
    expect(caches(d).sort()).toEqual([file, file!.replace('-other.', '-run.')].sort());
  });

  test('a damaged cache is never used: the command works, and the cache is written anew', () => {
    const d = fresh('damaged');
    zback(d);
    const path = join(d, caches(d)[0]!);
    const bytes = readFileSync(path);
    bytes[bytes.length - 100]! ^= 0xff; // one bit pattern flipped inside V8's data, its length unchanged
    writeFileSync(path, bytes);
    expect(zback(d)).toEqual({ code: 0, stdout: `${VERSION}\n`, stderr: '' });
    const again = readFileSync(path);
    expect(again.equals(bytes)).toBe(false);
    expect(zback(d)).toEqual({ code: 0, stdout: `${VERSION}\n`, stderr: '' });
    expect(readFileSync(path).equals(again)).toBe(true);
  });

  test('another build’s cache is removed when this build writes its own', () => {
    const d = fresh('stale');
    mkdirSync(d, { mode: 0o700 });
    const stale = join(d, 'zback-0123456789abcdef-other.cache');
    writeFileSync(stale, 'x'.repeat(64), { mode: 0o600 });
    const foreign = join(d, 'notes.txt'); // not zback's: left alone
    writeFileSync(foreign, 'keep');
    expect(zback(d).code).toBe(0);
    expect(existsSync(stale)).toBe(false);
    expect(existsSync(foreign)).toBe(true);
    expect(caches(d)).toHaveLength(1);
  });

  test('a cache folder others may write to is neither read nor written (an intact cache there included)', () => {
    const d = fresh('shared');
    zback(d);
    const path = join(d, caches(d)[0]!);
    const intact = readFileSync(path);
    chmodSync(d, 0o777);
    const r = zback(d, ['--version'], { ZBACK_CODE_CACHE_DEBUG: '1' });
    expect([r.code, r.stdout]).toEqual([0, `${VERSION}\n`]);
    expect(r.stderr).toBe(
      `zback: code cache: not read: ${d} is not a folder of this user's alone\nzback: code cache: not written: ${d} is not a folder of this user's alone\n`,
    );
    expect(readFileSync(path).equals(intact)).toBe(true);
  });

  test('a folder that is a symlink, a second link to the cache file, or a FIFO in its place: not read', () => {
    const real = fresh('real');
    zback(real);
    const file = caches(real)[0]!;
    const link = fresh('link');
    symlinkSync(real, link);
    expect(zback(link, ['--version'], { ZBACK_CODE_CACHE_DEBUG: '1' }).stderr).toMatch(
      /^zback: code cache: not read: .*link is not a folder of this user's alone$/m,
    );

    const hard = fresh('hard');
    mkdirSync(hard, { mode: 0o700 });
    linkSync(join(real, file), join(hard, file));
    expect(zback(hard, ['--version'], { ZBACK_CODE_CACHE_DEBUG: '1' }).stderr).toMatch(/not read: .* is not a plain file of this user's alone/);

    const fifo = fresh('fifo');
    mkdirSync(fifo, { mode: 0o700 });
    execFileSync('mkfifo', [join(fifo, file)]);
    const r = spawnSync(process.execPath, [BIN, '--version'], {
      encoding: 'utf8',
      timeout: 20_000,
      env: { ...process.env, ZBACK_CODE_CACHE_DIR: fifo, ZBACK_CODE_CACHE_DEBUG: '1' },
    });
    expect([r.status, r.stdout]).toEqual([0, `${VERSION}\n`]); // no hang on the FIFO
    expect(r.stderr).toMatch(/not read: .* is not a plain file of this user's alone/);
  });

  test('the debug line says when the cache is used', () => {
    const d = fresh('debug');
    expect(zback(d, ['--version'], { ZBACK_CODE_CACHE_DEBUG: '1' }).stderr).toMatch(
      /^zback: code cache: not read: ENOENT\nzback: code cache: written .*-other\.cache\n$/,
    );
    expect(zback(d, ['--version'], { ZBACK_CODE_CACHE_DEBUG: '1' }).stderr).toMatch(/^zback: code cache: used .*-other\.cache\n$/);
    // A mistyped command shares the cache of the others (it does not leave one of its own).
    expect(zback(d, ['frobnicate']).code).toBe(2);
    expect(caches(d)).toHaveLength(1);
  });

  test('a cache file others may write to is not used', () => {
    const d = fresh('group-writable');
    zback(d);
    const path = join(d, caches(d)[0]!);
    chmodSync(path, 0o666);
    const ino = statSync(path).ino;
    expect(zback(d).code).toBe(0);
    // Treated as absent: replaced by a private one, which the next command uses as it is.
    expect([statSync(path).ino === ino, statSync(path).mode & 0o777]).toEqual([false, 0o600]);
    const replaced = readFileSync(path);
    expect(zback(d).code).toBe(0);
    expect(readFileSync(path).equals(replaced)).toBe(true);
  });

  test('no home at all (a uid without a passwd entry, HOME unset), or a relative folder: zback works without a cache', () => {
    const env = { ...process.env };
    delete env.HOME;
    delete env.ZBACK_CODE_CACHE_DIR;
    delete env.XDG_CACHE_HOME;
    // A copy of zback that any user can read (this checkout may be under a private home).
    const copy = mkdtempSync(join(tmpdir(), 'zback-anyone-'));
    for (const f of ['bin/zback', 'bin/package.json', 'dist/bundle/zback.cjs', 'package.json']) {
      mkdirSync(dirname(join(copy, f)), { recursive: true });
      copyFileSync(join(ROOT, f), join(copy, f));
    }
    execFileSync('chmod', ['-R', 'a+rX', copy]);
    try {
      const r = spawnSync('setpriv', ['--reuid=4242', '--regid=4242', '--clear-groups', process.execPath, join(copy, 'bin', 'zback'), '--version'], {
        encoding: 'utf8',
        env,
        cwd: '/',
      });
      expect([r.status, r.stdout, r.stderr]).toEqual([0, `${VERSION}\n`, '']);
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
    const relative = spawnSync(process.execPath, [BIN, '--version'], {
      encoding: 'utf8',
      cwd: dir,
      env: { ...process.env, ZBACK_CODE_CACHE_DIR: 'cache-here', ZBACK_CODE_CACHE_DEBUG: '1' },
    });
    expect(relative.stderr).toBe('zback: code cache: not used: cache-here is not an absolute path\n');
    expect(existsSync(join(dir, 'cache-here'))).toBe(false);
  });

  test('no usable place for it (a file where the folder would be), or turned off: zback works and writes nothing', () => {
    const blocked = fresh('blocked');
    writeFileSync(blocked, 'not a folder');
    expect(zback(blocked)).toEqual({ code: 0, stdout: `${VERSION}\n`, stderr: '' });
    expect(readFileSync(blocked, 'utf8')).toBe('not a folder');

    const off = zback('off');
    expect(off).toEqual({ code: 0, stdout: `${VERSION}\n`, stderr: '' });
    expect(existsSync(join(process.cwd(), 'off'))).toBe(false);
  });

  test('the restricted sink has its own cache, and a sink with a bad argument still fails as before', () => {
    const d = fresh('sink');
    const r = zback(d, ['sink']);
    expect(r.code).not.toBe(0); // no --root: refused
    expect(r.stderr).toMatch(/root/);
    expect(caches(d)).toEqual([expect.stringMatching(/-sink\.cache$/)]);
  });
});

describe('what the bundle loads at start (README "Start-up")', () => {
  // string-width builds an Intl.Segmenter when it is evaluated: counting Segmenters tells whether
  // the module ran. Only yargs' help layout needs it.
  const counter = (file: string) => {
    const preload = join(dir, 'count-segmenters.cjs');
    writeFileSync(
      preload,
      `const Real = Intl.Segmenter; let n = 0;
       Intl.Segmenter = class extends Real { constructor(...a) { super(...a); n++; } };
       process.on('exit', () => require('node:fs').writeFileSync(${JSON.stringify(file)}, String(n)));`,
    );
    return preload;
  };
  const segmentersMade = (args: string[]) => {
    const out = join(dir, `segmenters-${args.join('-')}`);
    const r = spawnSync(process.execPath, ['-r', counter(out), BIN, ...args], { encoding: 'utf8', env: { ...process.env, ZBACK_CODE_CACHE_DIR: 'off' } });
    return { code: r.status, stdout: r.stdout, made: Number(readFileSync(out, 'utf8')) };
  };

  test('a command that prints no help never evaluates string-width; --help does, and lays its columns out with it', () => {
    expect(segmentersMade(['--version'])).toEqual({ code: 0, stdout: `${VERSION}\n`, made: 0 });
    const help = segmentersMade(['run', '--help']);
    expect(help.code).toBe(0);
    expect(help.made).toBeGreaterThan(0);
    // cliui aligns each option's description in one column: the widths were measured.
    const described = help.stdout.split('\n').filter((l) => /^ +--[a-z-]+ {2,}\S/.test(l));
    expect(described.length).toBeGreaterThan(3);
    const column = (l: string) => /^ +--[a-z-]+ {2,}/.exec(l)![0].length;
    expect(new Set(described.map(column)).size).toBe(1);
  });
});

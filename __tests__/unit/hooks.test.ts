/**
 * Snapshot hooks: the file format (lib/policy/hooks.ts) and who may write what
 * (lib/execute/hook-files.ts, on real files owned by root and by nobody).
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { loadHookFiles } from '../../lib/execute/hook-files.js';
import { blockedBy, hooksFor, parseHookFile } from '../../lib/policy/hooks.js';

describe('parseHookFile', () => {
  test('a full file: datasets (repeatable), children, pre, post, timeout; comments and blank lines', () => {
    const r = parseHookFile(
      'db.conf',
      '# quiesce\ndataset = tank/db\n\ndataset=tank/db2   # a second one\nchildren = yes\npre = /usr/local/sbin/pg-freeze --fast  -q\npost = /usr/local/sbin/pg-thaw\ntimeout = 90\n',
    );
    expect(r.problems).toEqual([]);
    expect(r.hook).toEqual({
      file: 'db.conf',
      datasets: ['tank/db', 'tank/db2'],
      children: true,
      pre: ['/usr/local/sbin/pg-freeze', '--fast', '-q'],
      post: ['/usr/local/sbin/pg-thaw'],
      timeoutS: 90,
    });
  });
  test('defaults: the dataset alone, a timeout of 60 s; pre or post alone is enough', () => {
    expect(parseHookFile('a.conf', 'dataset = tank/a\npost = /bin/true\n').hook).toEqual({
      file: 'a.conf',
      datasets: ['tank/a'],
      children: false,
      post: ['/bin/true'],
      timeoutS: 60,
    });
  });
  test.each<[string, RegExp]>([
    ['dataset = tank/a\npre = pg-freeze\n', /x\.conf line 2: pre = "pg-freeze": the command must be an absolute path/],
    [
      'dataset = tank/a\npre = /bin/sh -c "echo hi"\n',
      /runs without a shell, so quotes, \$, ;, \|, & and redirections mean nothing here; put them in a script/,
    ],
    ['dataset = tank/a\npre = /bin/echo $HOME\n', /runs without a shell/],
    ['dataset = tank/a\npre = /bin/true\npre = /bin/false\n', /line 3: pre is set twice/],
    ['dataset = tank/a\nbefore = /bin/true\n', /line 2: unknown setting "before" \(the settings are dataset, children, pre, post, timeout\)/],
    ['dataset = tank/a\npre\n', /line 2: pre has no value/],
    ['dataset = tank/a\npre = /bin/true\ntimeout = 0\n', /timeout = "0": give whole seconds from 1 to 3600/],
    ['dataset = tank/a\npre = /bin/true\ntimeout = 5m\n', /timeout = "5m"/],
    ['dataset = tank/a\npre = /bin/true\nchildren = true\n', /children = "true": write yes or no/],
    ['dataset = tank/a@snap\npre = /bin/true\n', /dataset "tank\/a@snap": /],
    ['dataset = /tank/a\npre = /bin/true\n', /dataset "\/tank\/a": /],
    ['pre = /bin/true\n', /x\.conf: no dataset = line: the hook applies to nothing/],
    ['dataset = tank/a\ntimeout = 5\n', /neither pre = nor post = is set/],
  ])('refused: %j', (text, problem) => {
    const r = parseHookFile('x.conf', text);
    expect(r.hook).toBeUndefined();
    expect(r.problems.join('\n')).toMatch(problem);
  });
  test('a file with a mistake still tells which datasets it names (their snapshots then wait for it)', () => {
    const r = parseHookFile('x.conf', 'dataset = tank/db\npre = pg-freeze\n');
    expect([r.hook, r.datasets]).toEqual([undefined, ['tank/db']]);
  });
});

describe('hooksFor and blockedBy', () => {
  const a = { file: 'a.conf', datasets: ['tank/db'], children: false, pre: ['/bin/true'], timeoutS: 60 };
  const b = { file: 'b.conf', datasets: ['tank/vm', 'tank/db'], children: true, post: ['/bin/true'], timeoutS: 60 };
  test('a dataset named, or below one named with children = yes; in file order', () => {
    expect(hooksFor('tank/db', [a, b]).map((h) => h.file)).toEqual(['a.conf', 'b.conf']);
    expect(hooksFor('tank/db/wal', [a, b]).map((h) => h.file)).toEqual(['b.conf']);
    expect(hooksFor('tank/vm/disk0', [a, b]).map((h) => h.file)).toEqual(['b.conf']);
    expect(hooksFor('tank/dbx', [a, b])).toEqual([]); // a prefix of the name is not a parent
    expect(hooksFor('tank', [a, b])).toEqual([]);
  });
  test('an unusable file blocks what it names and what is below it (its children = setting is not trusted)', () => {
    const u = [{ datasets: ['tank/db'] }];
    expect([blockedBy('tank/db', u), blockedBy('tank/db/wal', u), blockedBy('tank/dbx', u), blockedBy('tank', u)]).toEqual([true, true, false, false]);
  });
});

describe('loadHookFiles: nothing anyone but root can change may configure or be a hook', () => {
  let dir: string;
  let hooks: string;
  let bin: string;
  beforeAll(() => {
    // Under /var/lib: every folder above it is root's and not writable by others (/tmp is).
    mkdirSync('/var/lib/zback-unit', { recursive: true, mode: 0o755 });
    dir = mkdtempSync('/var/lib/zback-unit/hooks-');
    chmodSync(dir, 0o755);
    hooks = join(dir, 'hooks.d');
    bin = join(dir, 'bin');
    mkdirSync(hooks, { mode: 0o755 });
    mkdirSync(bin, { mode: 0o755 });
    writeFileSync(join(bin, 'freeze'), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    writeFileSync(join(bin, 'data'), 'not a program\n', { mode: 0o644 });
    writeFileSync(join(bin, 'open'), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    chmodSync(join(bin, 'open'), 0o757);
    const conf = (name: string, text: string, mode = 0o644) => {
      writeFileSync(join(hooks, name), text);
      chmodSync(join(hooks, name), mode);
    };
    conf('good.conf', `dataset = tank/good\npre = ${bin}/freeze\npost = ${bin}/freeze\n`);
    conf('group-writable.conf', `dataset = tank/gw\npre = ${bin}/freeze\n`, 0o664);
    conf('nobodys.conf', `dataset = tank/nobody\npre = ${bin}/freeze\n`);
    chownSync(join(hooks, 'nobodys.conf'), 65534, 65534);
    conf('open-command.conf', `dataset = tank/open\npre = ${bin}/open\n`);
    conf('not-executable.conf', `dataset = tank/data\npre = ${bin}/data\n`);
    conf('missing-command.conf', `dataset = tank/missing\npost = ${bin}/nothing-here\n`);
    conf('broken.conf', 'dataset = tank/broken\npre = freeze\n');
    symlinkSync(join(hooks, 'good.conf'), join(hooks, 'linked.conf'));
    writeFileSync(join(hooks, 'README'), 'not a .conf file: ignored\n');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('good files are used; every other file is named with what is wrong and the datasets it names', () => {
    const r = loadHookFiles(hooks, true);
    expect(r.problems).toEqual([]);
    expect(r.hooks.map((h) => h.file)).toEqual(['good.conf']);
    const why = Object.fromEntries(r.unusable.map((u) => [u.file, `${u.datasets.join(',')}: ${u.problems.join('; ')}`]));
    expect(why).toEqual({
      'broken.conf': expect.stringMatching(/^tank\/broken: broken\.conf line 2: pre = "freeze": the command must be an absolute path/),
      'group-writable.conf': `tank/gw: ${hooks}/group-writable.conf is writable by its group (mode 664); run chmod go-w ${hooks}/group-writable.conf`,
      'linked.conf': `tank/good: ${hooks}/linked.conf is not a plain file (a symbolic link?)`,
      'missing-command.conf': expect.stringMatching(/^tank\/missing: missing-command\.conf: its command .*\/nothing-here cannot be found/),
      'nobodys.conf': `tank/nobody: ${hooks}/nobodys.conf is owned by uid 65534, not root (chown root: ${hooks}/nobodys.conf, if root means to use it)`,
      'not-executable.conf': `tank/data: not-executable.conf: its command ${bin}/data is not executable (chmod 0755 ${bin}/data)`,
      'open-command.conf': `tank/open: open-command.conf: its command ${bin}/open: ${bin}/open is writable by others (mode 757); run chmod go-w ${bin}/open`,
    });
  });

  test('a command reached through a symbolic link runs as the real file (re-pointing the link later changes nothing); a link into a folder another user owns is refused', () => {
    const sub = mkdtempSync(join(dir, 'links-'));
    chmodSync(sub, 0o755);
    const hd = join(sub, 'hooks.d');
    mkdirSync(hd, { mode: 0o755 });
    const user = join(sub, 'alice');
    mkdirSync(user, { mode: 0o755 });
    chownSync(user, 65534, 65534);
    symlinkSync(join(bin, 'freeze'), join(sub, 'freeze-link'));
    symlinkSync(join(bin, 'freeze'), join(user, 'freeze')); // alice's own link, to a root-owned script
    writeFileSync(join(hd, 'a.conf'), `dataset = tank/a\npre = ${sub}/freeze-link\n`, { mode: 0o644 });
    writeFileSync(join(hd, 'b.conf'), `dataset = tank/b\npre = ${user}/freeze\n`, { mode: 0o644 });
    writeFileSync(join(hd, 'c.conf'), `dataset = tank/c\npre = /bin/sh ${user}/script.sh\n`, { mode: 0o644 });
    writeFileSync(join(user, 'script.sh'), 'exit 0\n', { mode: 0o644 });
    chownSync(join(user, 'script.sh'), 65534, 65534);
    const r = loadHookFiles(hd, true);
    // b.conf names alice's link: it is resolved once, now, to root's file, and that file is what
    // runs; alice re-pointing her link afterwards changes nothing.
    expect(r.hooks.map((h) => [h.file, h.pre])).toEqual([
      ['a.conf', [join(bin, 'freeze')]],
      ['b.conf', [join(bin, 'freeze')]],
    ]);
    const why = Object.fromEntries(r.unusable.map((u) => [u.file, u.problems.join('; ')]));
    expect(why).toEqual({
      'c.conf': `c.conf: its argument ${user}/script.sh: ${user}/script.sh is owned by uid 65534, not root (chown root: ${user}/script.sh, if root means to use it)`,
    });
    // A hooks folder reached through a link into alice's folder: the real folder is checked, and refused.
    mkdirSync(join(user, 'hooks.d'), { mode: 0o755 });
    chownSync(join(user, 'hooks.d'), 65534, 65534);
    symlinkSync(join(user, 'hooks.d'), join(sub, 'hooks-link'));
    expect(loadHookFiles(join(sub, 'hooks-link'), true).problems).toEqual([
      `hooks folder ${join(sub, 'hooks-link')} is not used: ${user}/hooks.d is owned by uid 65534, not root (chown root: ${user}/hooks.d, if root means to use it)`,
    ]);
  });

  test('a FIFO (or anything but a plain file) in the folder is not opened: no hang', () => {
    const fifo = join(hooks, 'fifo.conf');
    execFileSync('mkfifo', [fifo]);
    try {
      const r = loadHookFiles(hooks, true);
      expect(r.unusable.find((u) => u.file === 'fifo.conf')).toEqual({
        file: 'fifo.conf',
        datasets: [],
        problems: [`${fifo} is not a plain file (a symbolic link?)`],
      });
    } finally {
      rmSync(fifo);
    }
  });

  test('a folder others can write to: no file in it is used', () => {
    chmodSync(hooks, 0o777);
    try {
      const r = loadHookFiles(hooks, true);
      expect(r.hooks).toEqual([]);
      expect(r.problems).toEqual([`hooks folder ${hooks} is not used: ${hooks} is writable by its group and others (mode 777); run chmod go-w ${hooks}`]);
      expect(r.unusable.find((u) => u.file === 'good.conf')?.datasets).toEqual(['tank/good']);
    } finally {
      chmodSync(hooks, 0o755);
    }
  });

  test('no folder: no hooks, unless it was given (--hooks-dir), then it is an error', () => {
    expect(loadHookFiles(join(dir, 'none'), false)).toEqual({ hooks: [], unusable: [], problems: [] });
    expect(loadHookFiles(join(dir, 'none'), true).problems).toEqual([`hooks folder ${join(dir, 'none')} (--hooks-dir) does not exist: no hook was run`]);
  });
});

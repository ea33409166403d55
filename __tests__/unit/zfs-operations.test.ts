/**
 * Typed zfs operations: the quirks that decide success are read from zfs's own words, never from
 * a name that happens to contain them. A scripted Host answers as zfs-fuse and OpenZFS do.
 */
import { describe, expect, test } from '@jest/globals';
import type { Host, RunResult } from '../../lib/transport/host.js';
import { LEGACY_CAPABILITIES, capabilitiesFor } from '../../lib/zfs/capabilities.js';
import { Zfs } from '../../lib/zfs/client.js';
import { createParent, destroySnapshots, hold, holdOrReleaseMany, release, snapshotGroup, zfsWords } from '../../lib/zfs/operations.js';

/** A Host whose every command is answered by `answer` (argv joined by spaces); records what ran. */
function scripted(answer: (cmd: string) => Partial<RunResult>) {
  const ran: string[] = [];
  const host: Host = {
    label: 'bk',
    async run(argv) {
      const cmd = argv.join(' ');
      ran.push(cmd);
      return { code: 0, signal: null, stdout: '', stderr: '', ...answer(cmd) };
    },
    async startSink() {
      throw new Error('not used');
    },
    startSource() {
      throw new Error('not used');
    },
    async close() {},
  };
  return { zfs: new Zfs(host, LEGACY_CAPABILITIES), ran };
}
const fail = (stderr: string, code = 1): Partial<RunResult> => ({ code, stderr });

describe('zfsWords: names blanked out before classification', () => {
  test("quoted names and the command's operands are removed", () => {
    expect(
      zfsWords("cannot hold snapshot 'tank/already exists@s': tag already exists on this dataset", ['zfs', 'hold', 'zback:x', 'tank/already exists@s']),
    ).toBe('cannot hold snapshot <name>: tag already exists on this dataset');
    expect(zfsWords('cannot open tank/no such tag@s: dataset does not exist', ['zfs', 'release', 'zback:x', 'tank/no such tag@s'])).toBe(
      'cannot open <name>: dataset does not exist',
    );
  });
});

describe('hold and release', () => {
  test("a tag that is already there is what was wanted; another failure throws with zfs's words", async () => {
    const { zfs } = scripted((c) =>
      c.includes('@a')
        ? fail("cannot hold snapshot 'tank/x@a': tag already exists on this dataset")
        : c.includes('@b')
          ? fail("cannot hold 'tank/x@b': dataset does not exist")
          : {},
    );
    expect(await hold(zfs, ['zfs', 'hold', 'zback:bk:p', 'tank/x@a'])).toBe('already-held');
    expect(await hold(zfs, ['zfs', 'hold', 'zback:bk:p', 'tank/x@c'])).toBe('held');
    await expect(hold(zfs, ['zfs', 'hold', 'zback:bk:p', 'tank/x@b'])).rejects.toThrow(/dataset does not exist/);
  });

  test('a dataset whose name says "tag already exists" does not make a real failure look benign', async () => {
    const name = 'tank/tag already exists@a';
    const { zfs } = scripted(() => fail(`cannot hold snapshot '${name}': pool I/O is currently suspended`));
    await expect(hold(zfs, ['zfs', 'hold', 'zback:t', name])).rejects.toThrow(/suspended/);
    const gone = scripted(() => fail(`cannot release hold from snapshot '${'tank/no such tag@a'}': permission denied`));
    await expect(release(gone.zfs, ['zfs', 'release', 'zback:t', 'tank/no such tag@a'])).rejects.toThrow(/permission denied/);
  });

  test('release: no such tag, or the snapshot is gone, means there is no hold left', async () => {
    const { zfs } = scripted((c) =>
      c.endsWith('@a')
        ? fail("cannot release hold from snapshot 'tank/x@a': no such tag on this dataset")
        : c.endsWith('@b')
          ? fail("cannot open 'tank/x@b': dataset does not exist")
          : {},
    );
    expect(await release(zfs, ['zfs', 'release', 'zback:t', 'tank/x@a'])).toBe('no-such-tag');
    expect(await release(zfs, ['zfs', 'release', 'zback:t', 'tank/x@b'])).toBe('snapshot-gone');
    expect(await release(zfs, ['zfs', 'release', 'zback:t', 'tank/x@c'])).toBe('released');
  });

  test('create -p: a parent created at the same time by another seed exists', async () => {
    const { zfs } = scripted(() => fail("cannot create 'bpool/p': dataset already exists"));
    expect(await createParent(zfs, ['zfs', 'create', '-p', 'bpool/p'])).toBe('exists');
    const none = scripted(() => fail("cannot create 'coldpool': missing dataset name"));
    await expect(createParent(none.zfs, ['zfs', 'create', '-p', 'coldpool'])).rejects.toThrow(/missing dataset name/);
  });
});

describe('destroy: a batch falls back one by one; clones are kept and reported', () => {
  test('OpenZFS batch fails → each snapshot alone; one with clones kept, one busy is an error, the rest go', async () => {
    const { zfs, ran } = scripted((c) => {
      if (c.includes(',')) return fail('cannot destroy snapshot tank/x@b: dataset is busy');
      if (c.endsWith('@b')) return fail("cannot destroy 'tank/x@b': snapshot has dependent clones\nuse '-R' to destroy the following datasets:");
      if (c.endsWith('@c')) return fail("cannot destroy 'tank/x@c': dataset is busy");
      return {};
    });
    const r = await destroySnapshots(zfs, 'tank/x', ['zfs', 'destroy', 'tank/x@a,b,c,d']);
    expect(r.destroyed).toEqual(['a', 'd']);
    expect(r.withClones).toEqual(['b']);
    expect(r.errors).toEqual([expect.stringMatching(/zfs destroy tank\/x@c failed on bk \(exit 1\): cannot destroy 'tank\/x@c': dataset is busy/)]);
    expect(ran).toEqual(['zfs destroy tank/x@a,b,c,d', 'zfs destroy tank/x@a', 'zfs destroy tank/x@b', 'zfs destroy tank/x@c', 'zfs destroy tank/x@d']);
  });
});

describe('snapshot groups', () => {
  test('the group fails → one by one; the others still get theirs, the message says the group failed too', async () => {
    const { zfs, ran } = scripted((c) =>
      c.includes(' tank/a@s tank/b@s')
        ? fail('cannot create snapshots: out of space')
        : c === 'zfs snapshot tank/b@s'
          ? fail("cannot create snapshot 'tank/b@s': dataset is busy")
          : {},
    );
    const z = new Zfs(zfs.host, capabilitiesFor('2.3.2'));
    const r = await snapshotGroup(z, ['zfs', 'snapshot', 'tank/a@s', 'tank/b@s'], ['tank/a', 'tank/b'], 's');
    expect(r.taken).toEqual(['tank/a']);
    expect([...r.failed.keys()]).toEqual(['tank/b']);
    expect(r.failed.get('tank/b')).toMatch(/dataset is busy \(the group command had failed too: .*out of space\)/);
    expect(ran).toEqual(['zfs snapshot tank/a@s tank/b@s', 'zfs snapshot tank/a@s', 'zfs snapshot tank/b@s']);
  });
});

describe('batched hold and release (one command per host and tag)', () => {
  test('one command for every snapshot when it works', async () => {
    const { zfs, ran } = scripted(() => ({}));
    const r = await holdOrReleaseMany(zfs, 'hold', 'zback:replica', ['b/x@s1', 'b/y@s1', 'b/z@s2']);
    expect(ran).toEqual(['zfs hold zback:replica b/x@s1 b/y@s1 b/z@s2']);
    expect([...r.values()].every((x) => x.ok)).toBe(true);
  });

  test('a command that fails (zfs goes on with the other snapshots, then exits 1) is retried one by one: "already there" is fine, a real failure is that snapshot\'s', async () => {
    const { zfs, ran } = scripted((c) =>
      c.split(' ').length > 4
        ? fail("cannot hold snapshot 'b/x@s1': tag already exists on this dataset")
        : c.endsWith('b/x@s1')
          ? fail("cannot hold snapshot 'b/x@s1': tag already exists on this dataset")
          : c.endsWith('b/z@s2')
            ? fail("cannot hold 'b/z@s2': pool I/O is currently suspended")
            : {},
    );
    const r = await holdOrReleaseMany(zfs, 'hold', 'zback:replica', ['b/x@s1', 'b/y@s1', 'b/z@s2']);
    expect(ran).toEqual([
      'zfs hold zback:replica b/x@s1 b/y@s1 b/z@s2',
      'zfs hold zback:replica b/x@s1',
      'zfs hold zback:replica b/y@s1',
      'zfs hold zback:replica b/z@s2',
    ]);
    expect(r.get('b/x@s1')).toEqual({ ok: true });
    expect(r.get('b/y@s1')).toEqual({ ok: true });
    expect(r.get('b/z@s2')).toMatchObject({ ok: false, error: expect.stringMatching(/suspended/) });
  });

  test('release one by one after a failed batch: no such tag and a gone snapshot leave nothing held', async () => {
    const { zfs } = scripted((c) =>
      c.split(' ').length > 4
        ? fail('cannot release: no such tag on this dataset')
        : c.endsWith('@a')
          ? fail("cannot release hold from snapshot 'b/x@a': no such tag on this dataset")
          : {},
    );
    const r = await holdOrReleaseMany(zfs, 'release', 'zback:t', ['b/x@a', 'b/y@a']);
    expect([...r.values()]).toEqual([{ ok: true }, { ok: true }]);
  });

  test('a long list is split so each command stays within 64 KiB of operands', async () => {
    const { zfs, ran } = scripted(() => ({}));
    const names = Array.from({ length: 3000 }, (_, i) => `pool/backups/host-${String(i).padStart(4, '0')}/data@2026-12-02-120000`);
    await holdOrReleaseMany(zfs, 'release', 'zback:t', names);
    expect(ran.length).toBe(Math.ceil((names.join(' ').length + 1) / (64 * 1024)));
    expect(ran.flatMap((c) => c.split(' ').slice(3))).toEqual(names);
    for (const c of ran) expect(c.length).toBeLessThan(64 * 1024 + 100);
  });

  test('a name that is not a snapshot is refused before anything runs', async () => {
    const { zfs, ran } = scripted(() => ({}));
    await expect(holdOrReleaseMany(zfs, 'hold', 'zback:t', ['b/x'])).rejects.toThrow(/not a snapshot name/);
    expect(ran).toEqual([]);
  });
});

describe('ZFS not available at all: one line that says why, for every command of zback', () => {
  // What each ZFS says then, recorded: zfs-fuse without its daemon (this machine), OpenZFS without
  // its module or /dev/zfs, no zfs at all (the shell's, and Node's spawn error).
  test.each<[string, number, string, RegExp]>([
    [
      'zfs-fuse, no daemon',
      1,
      'connect: No such file or directory\nPlease make sure that the zfs-fuse daemon is running.\ninternal error: failed to initialize ZFS library\n',
      /^ZFS is not available on bk: the zfs-fuse daemon is not running \(start it with: systemctl start zfs-fuse\) \(zfs said: "connect: No such file or directory"\)$/,
    ],
    [
      'OpenZFS, no module',
      1,
      "The ZFS modules are not loaded.\nTry running '/sbin/modprobe zfs' as root to load them.\n",
      /^ZFS is not available on bk: the ZFS kernel module is not loaded \(load it with: modprobe zfs\)/,
    ],
    [
      'OpenZFS, no /dev/zfs',
      1,
      "/dev/zfs and /proc/self/mounts are required.\nTry running 'udevadm trigger' and 'mount -t proc proc /proc' as root.\n",
      /\/dev\/zfs or \/proc is missing/,
    ],
    ['OpenZFS, not root', 1, 'Permission denied the ZFS utilities must be run as root.\n', /this user may not use \/dev\/zfs/],
    ['no zfs (remote shell)', 127, 'bash: line 1: zfs: command not found\n', /^ZFS is not available on bk: the zfs command is not installed, or not on PATH$/],
    ['no zfs (spawn)', 127, 'spawn zfs ENOENT', /not installed, or not on PATH$/],
  ])('%s', async (_what, code, stderr, message) => {
    const { ran, zfs } = scripted(() => fail(stderr, code));
    const detect = Zfs.detect(zfs.host);
    await expect(detect).rejects.toThrow(message);
    await expect(detect).rejects.toThrow(expect.objectContaining({ name: 'ZfsUnavailable' }) as unknown as Error);
    expect(ran).toEqual(['zfs version']); // nothing else is tried
    expect(((await detect.catch((e: unknown) => e)) as Error).message).not.toContain('\n');
  });

  test('an old ZFS without `zfs version` (a usage error) is not taken for a missing one', async () => {
    const { zfs } = scripted(() => fail("unrecognized command 'version'\nusage: zfs command args ...\n", 2));
    expect((await Zfs.detect(zfs.host)).caps).toEqual(LEGACY_CAPABILITIES);
  });
});

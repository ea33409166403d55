/**
 * zback on real OpenZFS 2.3 (a QEMU guest, see helpers/openzfs-vm.ts): the paths zfs-fuse cannot
 * run. zback detects OpenZFS with `zfs version` and then uses atomic multi-dataset snapshots,
 * batched destroys, resumable receives (`recv -s`, `send -t`) and size estimates; these tests run
 * them against the real thing, source and destination both OpenZFS, the destination over ssh2 to
 * the guest's own sshd. One test mixes them, as an old server backing up to a new one does:
 * zback on zfs-fuse (this machine's lab) replicating into the OpenZFS guest.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Lab } from '../helpers/lab.js';
import { OpenZfsVm } from '../helpers/openzfs-vm.js';

let vm: OpenZfsVm;

beforeAll(async () => {
  vm = new OpenZfsVm();
  await vm.start();
}, 25 * 60_000);
afterAll(async () => {
  await vm?.stop();
}, 120_000);

const hour = (h: number, day = 26) => `2026-11-${day}T${String(h).padStart(2, '0')}:00:00Z`;
const state = ['--state-dir', '/root/state'];
const MINUTES = 60_000;

async function snapshots(dataset: string): Promise<string[]> {
  const out = await vm.ok(`zfs list -H -o name -t snapshot -s createtxg -d 1 '${dataset}'`);
  return out
    .split('\n')
    .filter(Boolean)
    .map((l) => l.slice(l.indexOf('@') + 1));
}

/** sha256 of every file in a dataset's snapshot, read through a temporary read-only clone. */
async function checksums(snapshot: string): Promise<string> {
  const clone = `${snapshot.split('/')[0]}/verify-${Math.random().toString(36).slice(2, 8)}`;
  return vm.ok(`
    set -e
    zfs clone -o mountpoint=/mnt/${clone} -o readonly=on '${snapshot}' '${clone}'
    (cd '/mnt/${clone}' && find . -type f -print0 | sort -z | xargs -0 -r sha256sum)
    zfs destroy '${clone}'`);
}

/** A new dataset holding `bytes` of random data, managed by zback, replicated hourly to `target` on the guest's sshd. */
async function managed(dataset: string, bytes: number, target: string, prefix = 'org.wit'): Promise<void> {
  // Plain `zfs set` (which the README documents too): a zback start costs seconds in the emulated guest.
  await vm.ok(`
    set -e
    zfs create '${dataset}'
    head -c ${bytes} /dev/urandom > '/${dataset}/data.bin'
    zfs set ${prefix}:snapshot=yes ${prefix}:retention=24h '${prefix}:destinations=backup:${target}|hourly' '${dataset}'`);
}

/**
 * Runs zback (with `args`) so that it sends `dataset` to `target`, and cuts the stream (the local
 * process matching `send`) once part of it has arrived; returns zback's stderr and the
 * receive_resume_token left on the target. The receive side reads
 * slowly (a wrapper on the ssh session's PATH only), and killing the local `zfs send` is a network
 * drop as far as the receiving side can tell.
 */
async function interruptedSend(
  dataset: string,
  target: string,
  args: string[],
  send = `^zfs send (-[Lec] )*${dataset}@`,
  /** What cuts the stream: the zfs send is killed (a dropped link), or zback gets SIGTERM. */
  cutBy: 'send' | 'sigterm' = 'send',
): Promise<{ token: string; stderr: string }> {
  await vm.ok(`
    set -e
    cat > /usr/local/sbin/zfs <<'EOF'
#!/bin/sh
if [ "$1" = receive ]; then
  node -e 'process.stdin.on("data", (d) => { process.stdin.pause(); process.stdout.write(d, () => setTimeout(() => process.stdin.resume(), 20)); })' | /sbin/zfs "$@"
  exit $?
fi
exec /sbin/zfs "$@"
EOF
    chmod 755 /usr/local/sbin/zfs`);
  let stderr = '';
  try {
    const run = vm.zback(['run', ...args]);
    const cut = await vm.ok(`
      for i in $(seq 600); do
        pid=$(pgrep -f '${send}' | head -1)
        recv=$(pgrep -f '^/sbin/zfs receive' | head -1)
        if [ -n "$pid" ] && [ -n "$recv" ]; then sleep 3; ${cutBy === 'send' ? 'kill -9 "$pid"' : "pkill -TERM -f 'bin/zback run'"} && echo cut; exit 0; fi
        sleep 0.1
      done
      echo "no send seen" >&2; exit 1`);
    expect(cut.trim()).toBe('cut');
    const failed = await run;
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain(`${dataset}: replication to backup:${target} failed`);
    stderr = failed.stderr;
  } finally {
    await vm.ok('rm -f /usr/local/sbin/zfs');
  }
  const token = (await vm.ok(`zfs get -H -o value receive_resume_token '${target}'`)).trim();
  expect(token).toMatch(/^[0-9a-f]+-[0-9a-f]+-[0-9a-f]+-[0-9a-f]+$/);
  return { token, stderr };
}

test(
  'detects OpenZFS: one atomic snapshot for a partial subtree, resumable receive, batched destroys; data identical; a diverged copy is reported, nothing destroyed',
  async () => {
    await vm.ok(`
    set -e
    zfs create tank/data; zfs create -o compression=lz4 -o recordsize=1M tank/data/x; zfs create tank/data/scratch
    head -c 3000000 /dev/urandom > /tank/data/a.bin
    head -c 2000000 /dev/urandom > /tank/data/x/b.bin
    # A history from before zback: six hourly snapshots, one of them held, and a foreign one.
    for h in 01 02 03 04 05 06; do zfs snapshot -r tank/data@2026-11-26-\${h}0000; done
    zfs hold keep tank/data@2026-11-26-020000
    zfs snapshot tank/data@before-upgrade`);
    // Plain zfs set (zback set is tested on zfs-fuse; a zback start costs seconds in the emulated guest).
    await vm.ok(
      "zfs set org.wit:snapshot=yes org.wit:retention=3h 'org.wit:destinations=backup:bpool/copy/data|hourly' tank/data && zfs set org.wit:snapshot=no tank/data/scratch",
    );

    const first = await vm.zback(['run', '--verbose', '--now', hour(10), ...state]);
    expect([first.code, first.stderr]).toEqual([0, '']);
    expect(first.stdout).toMatch(/local zfs: OpenZFS 2\.\d+/);
    // Both sides' pools read in one zpool get each; both OpenZFS with every feature: -L -e -c (SPEC §11).
    expect(first.stdout).toMatch(/^local pool tank: large_blocks embedded_data lz4_compress zstd_compress bookmarks bookmark_v2 encryption$/m);
    expect(first.stdout).toMatch(/^backup pool bpool: large_blocks embedded_data lz4_compress zstd_compress bookmarks bookmark_v2 encryption$/m);
    expect(first.stdout).toContain('[local] zfs send -L -e -c tank/data@2026-11-26-050000\n');
    // tank/data/scratch is not managed, so `snapshot -r` would not do: one atomic command for both.
    expect(first.stdout).toContain('[local] zfs snapshot tank/data@2026-11-26-100000 tank/data/x@2026-11-26-100000');
    // OpenZFS on the backup host: each seed marks its copy inside the receive (zfs receive -o), no zfs set after it.
    expect(first.stdout).toMatch(
      /\[backup\] zfs receive -u -s -o org\.wit:replica-of=\S+:tank\/data -o canmount=noauto -o org\.wit:replica-retention=3h -o org\.wit:replica-schedule=hourly@UTC bpool\/copy\/data\n/,
    );
    expect(first.stdout).not.toMatch(/\[backup\] zfs set/);
    // Not on a terminal: no progress is shown, so no size estimate (zfs send -nP) is asked for.
    expect(first.stdout).not.toMatch(/zfs send -n/);
    // Retention 3h keeps the oldest of the 3 newest hour buckets holding a zback snapshot (10, 06,
    // 05); the rest of the old history goes in one destroy per dataset; held and foreign stay.
    expect(first.stdout).toContain('[local] zfs destroy tank/data@2026-11-26-010000,2026-11-26-030000,2026-11-26-040000\n');
    expect(first.stdout).toContain('[local] zfs destroy tank/data/x@2026-11-26-010000,2026-11-26-020000,2026-11-26-030000,2026-11-26-040000\n');
    expect(await snapshots('tank/data')).toEqual(['2026-11-26-020000', '2026-11-26-050000', '2026-11-26-060000', 'before-upgrade', '2026-11-26-100000']);
    expect(await snapshots('tank/data/x')).toEqual(['2026-11-26-050000', '2026-11-26-060000', '2026-11-26-100000']);
    expect(await snapshots('tank/data/scratch')).toEqual([
      '2026-11-26-010000',
      '2026-11-26-020000',
      '2026-11-26-030000',
      '2026-11-26-040000',
      '2026-11-26-050000',
      '2026-11-26-060000',
    ]);
    // The seed carries what the destination's retention (the same 3h) keeps; the foreign snapshot
    // in between travels with -I (it is part of the history) and is never pruned there either.
    expect(await snapshots('bpool/copy/data')).toEqual(['2026-11-26-050000', '2026-11-26-060000', 'before-upgrade', '2026-11-26-100000']);
    expect(await snapshots('bpool/copy/data/x')).toEqual(['2026-11-26-050000', '2026-11-26-060000', '2026-11-26-100000']);
    expect(await vm.ok('zfs get -H -o value,source canmount,org.wit:replica-retention bpool/copy/data/x')).toBe('noauto\tlocal\n3h\tlocal\n');
    expect(await vm.ok('zfs get -H -o value org.wit:replica-of bpool/copy/data/x')).toMatch(/^\S+:tank\/data\/x\n$/);

    // The next hour: incremental, and the destination pruned by the same rules (05 goes).
    // tank/data/x has lz4 and 1 MiB records: 4 MiB of log text goes compressed (-c), in whole blocks (-L).
    await vm.ok(
      "head -c 500000 /dev/urandom > /tank/data/x/more-11.bin && yes 'log text that compresses well, 0123456789' | head -c 4194304 > /tank/data/x/log-11.txt && sync",
    );
    const second = await vm.zback(['run', '--verbose', '--now', hour(11), ...state]);
    expect([second.code, second.stderr]).toEqual([0, '']);
    expect(second.stdout).toMatch(/tank\/data\/x → backup:bpool\/copy\/data\/x: incremental @2026-11-26-100000 → @2026-11-26-110000/);
    expect(second.stdout).toContain('[local] zfs send -L -e -c -i tank/data/x@2026-11-26-100000 tank/data/x@2026-11-26-110000\n');
    const recorded = JSON.parse(await vm.ok('cat /root/state/state.json')).datasets['tank/data/x'].destinations['backup:bpool/copy/data/x'];
    expect(recorded.stream).toBe('-L -e -c'); // chosen at the seed, kept for the copy
    const plain = Number(/size\s+(\d+)/.exec(await vm.ok('zfs send -nP -i tank/data/x@2026-11-26-100000 tank/data/x@2026-11-26-110000'))![1]);
    console.log(`stream options: 4 MiB of log text and 0.5 MB of random data sent as ${recorded.bytes} bytes with -L -e -c; a plain stream: ${plain} bytes`);
    expect(plain).toBeGreaterThan(4_500_000);
    expect(recorded.bytes).toBeLessThan(plain / 4); // compressed records on the wire, not the logical data
    // The copy kept the records as they were: 1 MiB blocks, the source's compression ratio.
    const [blocks, here, there] = (
      await vm.ok(`
        set -e
        zfs clone -o mountpoint=/mnt/x-check -o readonly=on bpool/copy/data/x@2026-11-26-110000 bpool/x-check
        stat -c %o /mnt/x-check/log-11.txt
        zfs destroy bpool/x-check
        zfs get -H -o value compressratio tank/data/x bpool/copy/data/x`)
    )
      .trim()
      .split('\n')
      .map((v) => parseFloat(v));
    expect(blocks).toBe(1048576);
    expect(here).toBeGreaterThan(1.5);
    expect(Math.abs(there! - here!)).toBeLessThan(0.1);
    expect(await snapshots('bpool/copy/data/x')).toEqual(['2026-11-26-060000', '2026-11-26-100000', '2026-11-26-110000']);
    expect(await snapshots('bpool/copy/data')).toEqual(['2026-11-26-060000', 'before-upgrade', '2026-11-26-100000', '2026-11-26-110000']);

    // A shorter retention on the destination: its pruning goes in one remote destroy per dataset.
    await vm.ok("zfs set 'org.wit:destinations=backup:bpool/copy/data|hourly|1h' tank/data");
    await vm.ok('head -c 500000 /dev/urandom > /tank/data/x/more-12.bin');
    const pruned = await vm.zback(['run', '--verbose', '--now', hour(12), ...state]);
    expect([pruned.code, pruned.stderr]).toEqual([0, '']);
    expect(pruned.stdout).toContain('[backup] zfs destroy bpool/copy/data/x@2026-11-26-060000,2026-11-26-100000,2026-11-26-110000\n');
    expect(pruned.stdout).toContain('[backup] zfs destroy bpool/copy/data@2026-11-26-060000,2026-11-26-100000,2026-11-26-110000\n');
    expect(await snapshots('bpool/copy/data/x')).toEqual(['2026-11-26-120000']);
    expect(await snapshots('bpool/copy/data')).toEqual(['before-upgrade', '2026-11-26-120000']);
    expect(await checksums('bpool/copy/data/x@2026-11-26-120000')).toBe(await checksums('tank/data/x@2026-11-26-120000'));
    expect(await checksums('bpool/copy/data@2026-11-26-120000')).toBe(await checksums('tank/data@2026-11-26-120000'));
    // The base of the next send is held on both sides (zfs holds exists on OpenZFS: check the tag).
    expect(await vm.ok('zfs holds -H tank/data/x@2026-11-26-120000 bpool/copy/data/x@2026-11-26-120000 | cut -f1,2')).toMatch(
      /^tank\/data\/x@2026-11-26-120000\tzback[^\n]*\nbpool\/copy\/data\/x@2026-11-26-120000\tzback/,
    );
    expect(await vm.ok('zfs holds -H tank/data/x@2026-11-26-110000')).toBe('');
    // And bookmarked (SPEC §11): one zback bookmark per dataset and destination, moved with the base.
    const bookmarks = async () => (await vm.ok('zfs list -H -t bookmark -o name -r tank/data')).trim().split('\n');
    const marks = await bookmarks();
    expect(marks).toEqual([
      expect.stringMatching(/^tank\/data#2026-11-26-120000\.zback\.backup_bpool_copy_data\.[0-9a-f]{8}$/),
      expect.stringMatching(/^tank\/data\/x#2026-11-26-120000\.zback\.backup_bpool_copy_data_x\.[0-9a-f]{8}$/),
    ]);
    // A person releases the holds on tank/data's base and destroys it: status says so, and the next
    // run sends from the bookmark (-i #…), not a full resend; the bookmark moves on.
    await vm.ok(`
      set -e
      for t in $(zfs holds -H tank/data@2026-11-26-120000 | cut -f2); do zfs release "$t" tank/data@2026-11-26-120000; done
      zfs destroy tank/data@2026-11-26-120000`);
    const warned = await vm.zback(['status', '--now', '2026-11-26T12:30:00Z', ...state]);
    expect(warned.stdout).toContain(
      `its base @2026-11-26-120000 was destroyed here (not by zback); the next send starts from the bookmark #${marks[0]!.split('#')[1]}`,
    );

    // A change made on a copy: reported with the fix, nothing destroyed; the other copy goes on.
    await vm.ok('zfs snapshot bpool/copy/data/x@local-change');
    const diverged = await vm.zback(['run', '--verbose', '--now', hour(13), ...state]);
    expect(diverged.code).toBe(1);
    expect(diverged.stderr).toContain(
      'tank/data/x: replication to backup:bpool/copy/data/x: backup:bpool/copy/data/x has 1 snapshot newer than the last common one (@2026-11-26-120000): @local-change. zback does not destroy them. To continue replication, run on backup: zfs rollback -r bpool/copy/data/x@2026-11-26-120000',
    );
    expect(await snapshots('bpool/copy/data/x')).toEqual(['2026-11-26-120000', 'local-change']);
    expect(await snapshots('tank/data/x')).toEqual(expect.arrayContaining(['2026-11-26-120000', '2026-11-26-130000']));
    expect((await snapshots('bpool/copy/data')).at(-1)).toBe('2026-11-26-130000');
    expect(diverged.stdout).toMatch(
      new RegExp(`tank/data → backup:bpool/copy/data: incremental #${marks[0]!.split('#')[1]} → @2026-11-26-130000 \\(\\d+ bytes\\)`),
    );
    expect(diverged.stderr).not.toMatch(/^tank\/data:/m); // only the diverged copy of tank/data/x fails
    expect((await bookmarks())[0]).toBe(marks[0]!.replace('120000', '130000'));
  },
  20 * MINUTES,
);

test(
  'a send cut off half-way, then SIGTERM during its resume: what arrived is kept, status shows it, the next run resumes with send -t',
  async () => {
    // Its own prefix and state: the clock of each test starts again at 10:00, and another test's
    // later snapshots would be dated in this test's future.
    const state = ['--prefix', 'test.big', '--state-dir', '/root/state-big'];
    await managed('tank/big', 32_000_000, 'bpool/big', 'test.big');
    const first = await interruptedSend('tank/big', 'bpool/big', ['--now', hour(10), ...state]);
    // The resumed stream is stopped too, by SIGTERM this time: zback ends its sends and exits 1.
    const { token, stderr } = await interruptedSend('tank/big', 'bpool/big', ['--now', hour(10), ...state], `^zfs send -t ${first.token}`, 'sigterm');
    expect(stderr).toMatch(/received SIGTERM: stopping/);
    expect(stderr).toContain('tank/big: replication to backup:bpool/big failed: stopped by SIGTERM (the partial receive is kept; the next run resumes it)');
    expect((await vm.sh("pgrep -af 'zfs (send|recv|receive)'")).stdout).toBe('');

    // Critical (the run was stopped), and the destination's pending receive is named.
    const status = await vm.zback(['status', '--remote', '--check', '--now', hour(10), ...state]);
    expect(status.code).toBe(2);
    expect(status.stdout).toMatch(/was stopped by SIGTERM before it finished/);
    expect(status.stdout).toMatch(/tank\/big → backup:bpool\/big: an interrupted receive is pending; the next run resumes it/);

    const dry = await vm.zback(['run', '--dry-run', '--now', hour(10), ...state]);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/^tank\/big\n(.*\n)*? +→ send +to backup:bpool\/big: resume the interrupted receive$/m);

    const resumed = await vm.zback(['run', '--verbose', '--now', hour(10), ...state]);
    expect([resumed.code, resumed.stderr]).toEqual([0, '']);
    expect(resumed.stdout).toContain(`[local] zfs send -t ${token}`);
    expect((await vm.ok('zfs get -H -o value receive_resume_token bpool/big')).trim()).toBe('-');
    expect(await snapshots('bpool/big')).toEqual(['2026-11-26-100000']);
    expect(await checksums('bpool/big@2026-11-26-100000')).toBe(await checksums('tank/big@2026-11-26-100000'));

    // And the next hour continues incrementally from the resumed snapshot; status is clean again.
    await vm.ok('head -c 100000 /dev/urandom > /tank/big/next.bin');
    const next = await vm.zback(['run', '--verbose', '--now', hour(11), ...state]);
    expect([next.code, next.stderr]).toEqual([0, '']);
    expect(next.stdout).toMatch(/tank\/big → backup:bpool\/big: incremental @2026-11-26-100000 → @2026-11-26-110000/);
    expect(await snapshots('bpool/big')).toEqual(['2026-11-26-100000', '2026-11-26-110000']);
    expect((await vm.zback(['status', '--check', '--now', hour(11), ...state])).code).toBe(0);
  },
  20 * MINUTES,
);

test(
  'zfs-fuse here, OpenZFS there: each side gets the commands its own ZFS supports',
  async () => {
    const lab = new Lab('openzfs-mixed');
    try {
      const src = await lab.start('src');
      await src.pool('tank');
      const knownHosts = join(lab.dir, 'vm_known_hosts');
      const scan = spawnSync('ssh-keyscan', ['-p', String(vm.port), '-t', 'ed25519', '127.0.0.1'], { encoding: 'utf8' });
      expect(scan.stdout).toContain(`[127.0.0.1]:${vm.port} ssh-ed25519 `);
      writeFileSync(knownHosts, scan.stdout);
      const config = join(lab.dir, 'ssh_config');
      writeFileSync(
        config,
        `Host vm\n  HostName 127.0.0.1\n  Port ${vm.port}\n  User root\n  IdentityFile ${join(vm.imageDir, 'id_ed25519')}\n  UserKnownHostsFile ${knownHosts}\n`,
      );
      const zback = (args: string[]) => src.zback([...args, '--ssh-config', config, '--state-dir', join(lab.dir, 'state')], { timeoutMs: 300_000 });

      await src.zfs('create', 'tank/m');
      const write = async (file: string) => {
        const w = await src.exec(['sh', '-c', `head -c 300000 /dev/urandom > "$(zfs get -H -o value mountpoint tank/m)/${file}"`]);
        expect(w.code).toBe(0);
      };
      await write('a.bin');
      const set = await src.zback(['set', 'tank/m', '--snapshot', 'yes', '--retention', '24h', '--destinations', 'vm:bpool/fuse/m|hourly|3h']);
      expect([set.code, set.stderr]).toEqual([0, '']);

      const seed = await zback(['run', '--verbose', '--now', hour(10)]);
      expect([seed.code, seed.stderr]).toEqual([0, '']);
      expect(seed.stdout).toMatch(/local zfs: legacy ZFS/);
      expect(seed.stdout).toMatch(/\[vm\] zfs receive -u -s -o \S+ -o canmount=noauto -o \S+ -o \S+:replica-schedule=hourly@UTC bpool\/fuse\/m\n/); // resumable and marked there …
      expect(seed.stdout).toContain('[local] zfs send tank/m@2026-11-26-100000'); // … a plain send here
      for (const h of [11, 12]) {
        await write(`more-${h}.bin`);
        const r = await zback(['run', '--now', hour(h)]);
        expect([r.code, r.stderr]).toEqual([0, '']);
      }
      expect(await snapshots('bpool/fuse/m')).toEqual(['2026-11-26-100000', '2026-11-26-110000', '2026-11-26-120000']);

      // A shorter destination retention: the OpenZFS side prunes in one batched destroy.
      expect((await src.zback(['set', 'tank/m', '--destinations', 'vm:bpool/fuse/m|hourly|1h'])).code).toBe(0);
      await write('more-13.bin');
      const r = await zback(['run', '--verbose', '--now', hour(13)]);
      expect([r.code, r.stderr]).toEqual([0, '']);
      expect(r.stdout).toMatch(/tank\/m → vm:bpool\/fuse\/m: incremental @2026-11-26-120000 → @2026-11-26-130000/);
      expect(r.stdout).toContain('[vm] zfs destroy bpool/fuse/m@2026-11-26-100000,2026-11-26-110000,2026-11-26-120000\n');
      expect(await snapshots('bpool/fuse/m')).toEqual(['2026-11-26-130000']);
      expect(await checksums('bpool/fuse/m@2026-11-26-130000')).toBe(await src.checksums('tank/m'));
    } finally {
      await lab.stop();
    }
  },
  10 * MINUTES,
);

test(
  'on a terminal, a long send shows its size from zfs send -nP, a percentage and an ETA',
  async () => {
    // Its own property prefix: the other tests' datasets (one of them diverged) are not this run's.
    await managed('tank/eta', 10_000_000, 'bpool/eta', 'test.eta');
    // script(1) gives zback a pseudo-terminal, as a person running it by hand has.
    const r = await vm.sh(
      `cd /root && PATH=/usr/sbin:/usr/bin:/sbin:/bin TZ=UTC script -qec '/usr/local/bin/node /opt/zback/bin/zback run --prefix test.eta --now ${hour(10)} --state-dir /root/state-eta' /dev/null`,
    );
    expect({ code: r.code, output: r.stdout }).toMatchObject({ code: 0 }); // the output is the failure's explanation
    expect(r.stdout).toMatch(/tank\/eta → backup:bpool\/eta: [\d.]+ (B|KiB|MiB) of (9|10)\.\d MiB \(\d+%\), [\d.]+ (B|KiB|MiB|GiB)\/s, ETA \d/);
    expect(r.stdout).toMatch(/tank\/eta: snapshot @2026-11-26-100000; sent 1 to backup:bpool\/eta/);
  },
  10 * MINUTES,
);

test(
  'a resume token zback will not use (its snapshot is gone, or it names another dataset) is never sent with: the receive is aborted and reported, the next run seeds',
  async () => {
    const own = ['--prefix', 'test.tok', '--state-dir', '/root/state-tok'];
    await managed('tank/stale', 1_000_000, 'bpool/stale', 'test.tok');
    await managed('tank/toka', 1_000_000, 'bpool/toka', 'test.tok');
    // Two partial receives, made by hand (a stream cut after its first part): bpool/stale's is of
    // tank/stale@old, destroyed since (the token points nowhere); bpool/toka's is of another
    // dataset, tank/tokb, as a hostile backup host (or a mistake there) could leave it.
    await vm.ok(`
    set -e
    zfs snapshot tank/stale@old
    zfs send tank/stale@old | head -c 500000 | zfs receive -s bpool/stale || true
    zfs destroy tank/stale@old
    zfs create tank/tokb
    head -c 3000000 /dev/urandom > /tank/tokb/data.bin
    zfs snapshot tank/tokb@x
    zfs send tank/tokb@x | head -c 1000000 | zfs receive -s bpool/toka || true
    for c in bpool/stale bpool/toka; do zfs get -H -o value receive_resume_token $c | grep -q '^[0-9a-f]*-[0-9a-f]'; done`);
    const r = await vm.zback(['run', '--verbose', ...own, '--now', hour(10)]);
    expect(r.code).toBe(1);
    const refused = 'has an interrupted receive whose resume token zback does not use: the resume token for';
    expect(r.stderr).toContain(
      `tank/stale: replication to backup:bpool/stale: backup:bpool/stale ${refused} tank/stale names tank/stale@old, a snapshot tank/stale does not have.`,
    );
    expect(r.stderr).toContain(
      `tank/toka: replication to backup:bpool/toka: backup:bpool/toka ${refused} tank/toka names tank/tokb@x, a snapshot of another dataset (tank/tokb).`,
    );
    // Each token is decoded here first (zfs send -nvPt) and never sent with.
    expect(r.stdout).not.toMatch(/zfs send (-\w+ )*-t/);
    for (const copy of ['bpool/stale', 'bpool/toka']) {
      expect(r.stdout).toContain(`[backup] zfs receive -A ${copy}`);
      expect((await vm.sh(`zfs list -H -o name ${copy}`)).code).not.toBe(0); // the partial dataset is gone
    }

    const again = await vm.zback(['run', ...own, '--now', hour(10)]);
    expect([again.code, again.stderr]).toEqual([0, '']);
    for (const d of ['stale', 'toka']) {
      expect(await snapshots(`bpool/${d}`)).toEqual(['2026-11-26-100000']);
      expect(await checksums(`bpool/${d}@2026-11-26-100000`)).toBe(await checksums(`tank/${d}@2026-11-26-100000`));
    }
  },
  10 * MINUTES,
);

/** The forced command's program in the guest (sshd runs it with the account's shell and PATH). */
const SINK = '/usr/local/bin/node /opt/zback/bin/zback sink';
/**
 * The least an unprivileged sink account needs on its root (found by taking each one away, see
 * the findings in the test below): create and mount for `zfs create` and every `zfs receive`
 * (and mount for every destroy too, although nothing is ever mounted), receive, canmount for
 * `create -o canmount=off` and `set canmount=noauto`, userprop for the copy's marks, hold and
 * release for the tag zback:replica, destroy for pruning and `zfs receive -A`.
 */
const ZSINK_ALLOW = 'canmount,create,destroy,hold,mount,receive,release,userprop';
const at = (h: number) => `2026-11-26-${String(h).padStart(2, '0')}0000`;

/**
 * The guest root's key (the source's) forced to `zback sink ARGS --log LOG` in root's own
 * authorized_keys (the harness logs in with another key); undone by unforceRootSink.
 */
async function forceRootSink(args: string, log: string): Promise<void> {
  await vm.ok(`
    set -e
    cp -p /root/.ssh/authorized_keys /root/.ssh/authorized_keys.before-sink
    key=$(cat /root/.ssh/id_ed25519.pub)
    { grep -vxF "$key" /root/.ssh/authorized_keys.before-sink || true; printf 'restrict,command="%s" %s\\n' '${SINK} ${args} --log ${log}' "$key"; } > /root/.ssh/authorized_keys
    # In force: anything but zback's own commands is refused (that refusal is not the test's);
    # -n, or ssh would read the rest of this script (bash's stdin) as its own input.
    ! ssh -n backup true 2>/dev/null
    rm -f '${log}'`);
}
async function unforceRootSink(): Promise<void> {
  await vm.ok('if [ -f /root/.ssh/authorized_keys.before-sink ]; then mv /root/.ssh/authorized_keys.before-sink /root/.ssh/authorized_keys; fi');
}
/** A sink log's text ('' when the sink has written none: it logs only refusals and destroys). */
const sinkLog = (file: string) => vm.ok(`cat '${file}' 2>/dev/null || true`);

test(
  'an unprivileged user with zfs allow receives everything through zback sink',
  async () => {
    const cfg = '/root/.ssh/config-zsink';
    const own = ['--prefix', 'test.sink', '--state-dir', '/root/state-sink', '--ssh-config', cfg];
    const copy = 'bpool/sinkroot/web1/d';
    const log = '/home/zsink/sink.log';
    await vm.ok(`
    set -e
    useradd -m zsink
    zfs create bpool/sinkroot
    zfs allow -u zsink ${ZSINK_ALLOW} bpool/sinkroot
    install -d -m 700 -o zsink -g zsink /home/zsink/.ssh
    printf 'restrict,command="%s" %s\\n' '${SINK} --root bpool/sinkroot --allow-restore --log ${log}' "$(cat /root/.ssh/id_ed25519.pub)" > /home/zsink/.ssh/authorized_keys
    chown zsink:zsink /home/zsink/.ssh/authorized_keys
    # The same host "backup", reached as zsink (the destination reads backup:… as in the other tests).
    printf 'Host backup\\n  HostName 127.0.0.1\\n  User zsink\\n' > ${cfg}
    zfs create tank/sink1
    head -c 2000000 /dev/urandom > /tank/sink1/data.bin
    zfs set test.sink:snapshot=yes test.sink:retention=24h 'test.sink:destinations=backup:${copy}|hourly|2h' tank/sink1`);
    try {
      // The seed: through a missing parent, which the sink account creates unmounted.
      const seed = await vm.zback(['run', '--verbose', ...own, '--now', hour(10)]);
      expect([seed.code, seed.stderr]).toEqual([0, '']);
      expect(seed.stdout).toContain('[backup] zfs create -o canmount=off bpool/sinkroot/web1\n');
      // The copy's marks inside the seed's receive: the sink allows -o for them, and zsink's userprop and canmount.
      expect(seed.stdout).toMatch(
        new RegExp(
          `\\[backup\\] zfs receive -u -s -o test\\.sink:replica-of=\\S+:tank/sink1 -o canmount=noauto -o test\\.sink:replica-retention=2h -o test\\.sink:replica-schedule=hourly@UTC ${copy}\\n`,
        ),
      );
      expect(seed.stdout).not.toMatch(/could not mark/);
      expect(await vm.ok(`zfs get -H -o name,value canmount bpool/sinkroot/web1 ${copy}`)).toBe(`bpool/sinkroot/web1\toff\n${copy}\tnoauto\n`);

      // Incrementals, and the destination's 2h retention applied through the sink (destroy, release).
      for (const h of [11, 12]) {
        await vm.ok(`head -c 300000 /dev/urandom > /tank/sink1/h${h}.bin`);
        const r = await vm.zback(['run', '--verbose', ...own, '--now', hour(h)]);
        expect([r.code, r.stderr]).toEqual([0, '']);
        expect(r.stdout).toMatch(new RegExp(`tank/sink1 → backup:${copy}: incremental @${at(h - 1)} → @${at(h)}`));
      }
      expect(await snapshots(copy)).toEqual([11, 12].map(at));
      expect(await vm.ok(`zfs holds -H ${copy}@${at(12)} | cut -f2`)).toBe('zback:replica\n');
      expect(await vm.ok(`zfs holds -H ${copy}@${at(11)}`)).toBe('');

      // A send cut off half-way: the partial receive is kept (zsink may), the next run resumes it.
      // zsink's PATH (sshd's for a user) has no sbin: the slow-receiving wrapper goes in its bin too.
      await vm.ok('head -c 16000000 /dev/urandom > /tank/sink1/big.bin && ln -sfn /usr/local/sbin/zfs /usr/local/bin/zfs');
      let token: string;
      try {
        ({ token } = await interruptedSend('tank/sink1', copy, [...own, '--now', hour(13)], '^zfs send (-[Lec] )*-[iI] tank/sink1@'));
      } finally {
        await vm.ok('rm -f /usr/local/bin/zfs');
      }
      const resumed = await vm.zback(['run', '--verbose', ...own, '--now', hour(13)]);
      expect([resumed.code, resumed.stderr]).toEqual([0, '']);
      expect(resumed.stdout).toContain(`[local] zfs send -t ${token}`);
      expect((await vm.ok(`zfs get -H -o value receive_resume_token ${copy}`)).trim()).toBe('-');
      // (A run that resumes prunes nothing of that copy: the next one does.)
      expect(await snapshots(copy)).toEqual([11, 12, 13].map(at));
      expect(await checksums(`${copy}@${at(13)}`)).toBe(await checksums(`tank/sink1@${at(13)}`));
      expect(await vm.ok(`zfs get -H -o source,value test.sink:replica-retention ${copy}`)).toBe('local\t2h\n');

      // zback restore through the sink needs one more permission, send: without it ZFS refuses
      // (loudly, and nothing is created here); with it the copy comes back as it was.
      const restore = ['restore', 'tank/sink1', ...own, '--from', 'backup', '--at', at(12), '--to', 'tank/sink1back'];
      const denied = await vm.zback(restore);
      expect([denied.code, denied.stderr]).toEqual([1, expect.stringMatching(/restore of backup:\S+ into tank\/sink1back failed: .*permission denied/i)]);
      expect(await vm.ok('zfs list -H -o name tank/sink1back 2>/dev/null || true')).toBe('');
      await vm.ok('zfs allow -u zsink send bpool/sinkroot');
      const back = await vm.zback(restore);
      expect([back.code, back.stderr]).toEqual([0, '']);
      expect(await checksums(`tank/sink1back@${at(12)}`)).toBe(await checksums(`tank/sink1@${at(12)}`));
      // The sink ran as zsink (its log is zsink's), logged the destroys it ran, and refused nothing.
      expect(await vm.ok(`stat -c %U ${log}`)).toBe('zsink\n');
      const text = await sinkLog(log);
      expect(text).toContain(`destroy ${copy}@${at(10)}`);
      expect(text).not.toMatch(/refused/);
    } finally {
      await vm.ok(`rm -f ${cfg} /usr/local/bin/zfs`);
    }
  },
  20 * MINUTES,
);

test(
  'an encrypted dataset goes raw (zfs send -w) through the sink, with its key unloaded and a resume: the copy stays sealed',
  async () => {
    const own = ['--prefix', 'test.senc', '--state-dir', '/root/state-senc'];
    const copy = 'bpool/sencroot/secret';
    const log = '/root/sink-senc.log';
    // The backup host never has the key: the copy stays encrypted and locked there.
    const sealed = `aes-256-gcm\nunavailable\n${copy}\nnoauto\n`;
    await vm.ok(`
    set -e
    printf 'correct horse battery staple\\n' > /root/senc.key
    zfs create -o encryption=on -o keyformat=passphrase -o keylocation=file:///root/senc.key tank/sinksecret
    head -c 2000000 /dev/urandom > /tank/sinksecret/data.bin
    zfs create bpool/sencroot
    zfs set test.senc:snapshot=yes test.senc:retention=24h 'test.senc:destinations=backup:${copy}|hourly' tank/sinksecret`);
    await forceRootSink('--root bpool/sencroot --allow-restore', log);
    try {
      const seed = await vm.zback(['run', '--verbose', ...own, '--now', hour(10)]);
      expect([seed.code, seed.stderr]).toEqual([0, '']);
      expect(seed.stdout).toContain(`[local] zfs send -w tank/sinksecret@${at(10)}`);
      expect(seed.stdout).not.toMatch(/could not mark/);
      expect(await vm.ok(`zfs get -H -o value encryption,keystatus,encryptionroot,canmount ${copy}`)).toBe(sealed);

      // The source locked (key unloaded), as on a server rebooted without its passphrase: snapshots
      // and raw sends go on, nothing is decrypted anywhere; the raw send is cut off half-way.
      await vm.ok('head -c 16000000 /dev/urandom > /tank/sinksecret/big.bin && zfs unmount tank/sinksecret && zfs unload-key tank/sinksecret');
      const { token } = await interruptedSend('tank/sinksecret', copy, [...own, '--now', hour(11)], '^zfs send -w -[iI] tank/sinksecret@');
      // The partial receive is of a raw stream, and so is what resumes it (the token says so).
      expect(await vm.ok(`zfs send -nvt ${token} 2>&1`)).toMatch(/^\s*rawok = 1$/m);
      expect(await vm.ok(`zfs get -H -o value encryption,keystatus,encryptionroot,canmount ${copy}`)).toBe(sealed);
      const resumed = await vm.zback(['run', '--verbose', ...own, '--now', hour(11)]);
      expect([resumed.code, resumed.stderr]).toEqual([0, '']);
      expect(resumed.stdout).toContain(`[local] zfs send -w -t ${token}`);
      expect((await vm.ok(`zfs get -H -o value receive_resume_token ${copy}`)).trim()).toBe('-');
      expect(await snapshots(copy)).toEqual([10, 11].map(at));
      expect(await vm.ok(`zfs get -H -o value encryption,keystatus,encryptionroot,canmount ${copy}`)).toBe(sealed);
      expect(await sinkLog(log)).not.toMatch(/refused/);

      // zback restore from the sealed copy, through the sink: raw, so the key never goes to the
      // backup host (the source's is not even loaded now); the restored dataset opens with it.
      const plan = await vm.zback(['restore', 'tank/sinksecret', ...own, '--from', 'backup', '--to', 'tank/sinkrestored', '--dry-run']);
      expect([plan.code, plan.stderr]).toEqual([0, '']);
      expect(plan.stdout).toMatch(new RegExp(`^  \\[backup\\] zfs send -w ${copy}@${at(11)} \\| zfs receive -u tank/sinkrestored$`, 'm'));
      expect(plan.stdout).toMatch(/\(about \d+(\.\d)? MiB\)/); // zfs send -nP through the sink
      const restored = await vm.zback(['restore', 'tank/sinksecret', ...own, '--from', 'backup', '--to', 'tank/sinkrestored']);
      expect([restored.code, restored.stderr]).toEqual([0, '']);
      expect(restored.stdout).toContain(`Load the key first:\n  zfs load-key tank/sinkrestored\n`);
      expect(await vm.ok('zfs get -H -o value encryption,keystatus,encryptionroot tank/sinkrestored')).toBe('aes-256-gcm\nunavailable\ntank/sinkrestored\n');
      await vm.ok('zfs load-key -L file:///root/senc.key tank/sinkrestored');

      // With the key, the copy reads exactly as the source.
      await vm.ok(`zfs load-key tank/sinksecret && zfs load-key -L file:///root/senc.key ${copy}`);
      expect(await checksums(`${copy}@${at(11)}`)).toBe(await checksums(`tank/sinksecret@${at(11)}`));
      expect(await checksums(`tank/sinkrestored@${at(11)}`)).toBe(await checksums(`tank/sinksecret@${at(11)}`));
      await vm.ok(`zfs unload-key ${copy}`);
    } finally {
      await unforceRootSink();
    }
  },
  15 * MINUTES,
);

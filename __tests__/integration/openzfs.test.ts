/**
 * zback on real OpenZFS 2.3 (a QEMU guest, see helpers/openzfs-vm.ts): the paths zfs-fuse cannot
 * run. zback detects OpenZFS with `zfs version` and then uses atomic multi-dataset snapshots,
 * batched destroys, resumable receives (`recv -s`, `send -t`) and size estimates; these tests run
 * them against the real thing, source and destination both OpenZFS, the destination over ssh2 to
 * the guest's own sshd. The last test mixes them, as an old server backing up to a new one does:
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
  return out.split('\n').filter(Boolean).map((l) => l.slice(l.indexOf('@') + 1));
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
  send = `^zfs send ${dataset}@`,
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

test('detects OpenZFS: one atomic snapshot for a partial subtree, resumable receive, batched destroys; data identical', async () => {
  await vm.ok(`
    set -e
    zfs create tank/data; zfs create tank/data/x; zfs create tank/data/scratch
    head -c 3000000 /dev/urandom > /tank/data/a.bin
    head -c 2000000 /dev/urandom > /tank/data/x/b.bin
    # A history from before zback: six hourly snapshots, one of them held, and a foreign one.
    for h in 01 02 03 04 05 06; do zfs snapshot -r tank/data@2026-11-26-\${h}0000; done
    zfs hold keep tank/data@2026-11-26-020000
    zfs snapshot tank/data@before-upgrade`);
  const set = await vm.zback(['set', 'tank/data', '--snapshot', 'yes', '--retention', '3h', '--destinations', 'backup:bpool/copy/data|hourly']);
  expect([set.code, set.stderr]).toEqual([0, '']);
  expect((await vm.zback(['set', 'tank/data/scratch', '--snapshot', 'no'])).code).toBe(0);

  const first = await vm.zback(['run', '--verbose', '--now', hour(10), ...state]);
  expect([first.code, first.stderr]).toEqual([0, '']);
  expect(first.stdout).toMatch(/local zfs: OpenZFS 2\.\d+/);
  // tank/data/scratch is not managed, so `snapshot -r` would not do: one atomic command for both.
  expect(first.stdout).toContain('[local] zfs snapshot tank/data@2026-11-26-100000 tank/data/x@2026-11-26-100000');
  expect(first.stdout).toMatch(/zfs receive -u -s bpool\/copy\/data\b/);
  // Retention 3h keeps the oldest of the 3 newest hour buckets holding a zback snapshot (10, 06,
  // 05); the rest of the old history goes in one destroy per dataset; held and foreign stay.
  expect(first.stdout).toContain('[local] zfs destroy tank/data@2026-11-26-010000,2026-11-26-030000,2026-11-26-040000\n');
  expect(first.stdout).toContain('[local] zfs destroy tank/data/x@2026-11-26-010000,2026-11-26-020000,2026-11-26-030000,2026-11-26-040000\n');
  expect(await snapshots('tank/data')).toEqual(['2026-11-26-020000', '2026-11-26-050000', '2026-11-26-060000', 'before-upgrade', '2026-11-26-100000']);
  expect(await snapshots('tank/data/x')).toEqual(['2026-11-26-050000', '2026-11-26-060000', '2026-11-26-100000']);
  expect(await snapshots('tank/data/scratch')).toEqual(['2026-11-26-010000', '2026-11-26-020000', '2026-11-26-030000', '2026-11-26-040000', '2026-11-26-050000', '2026-11-26-060000']);
  // The seed carries what the destination's retention (the same 3h) keeps; the foreign snapshot
  // in between travels with -I (it is part of the history) and is never pruned there either.
  expect(await snapshots('bpool/copy/data')).toEqual(['2026-11-26-050000', '2026-11-26-060000', 'before-upgrade', '2026-11-26-100000']);
  expect(await snapshots('bpool/copy/data/x')).toEqual(['2026-11-26-050000', '2026-11-26-060000', '2026-11-26-100000']);

  // The next hour: incremental, and the destination pruned by the same rules (05 goes).
  await vm.ok('head -c 500000 /dev/urandom > /tank/data/x/more-11.bin');
  const second = await vm.zback(['run', '--verbose', '--now', hour(11), ...state]);
  expect([second.code, second.stderr]).toEqual([0, '']);
  expect(second.stdout).toMatch(/tank\/data\/x → backup:bpool\/copy\/data\/x: incremental @2026-11-26-100000 → @2026-11-26-110000/);
  expect(await snapshots('bpool/copy/data/x')).toEqual(['2026-11-26-060000', '2026-11-26-100000', '2026-11-26-110000']);
  expect(await snapshots('bpool/copy/data')).toEqual(['2026-11-26-060000', 'before-upgrade', '2026-11-26-100000', '2026-11-26-110000']);

  // A shorter retention on the destination: its pruning goes in one remote destroy per dataset.
  const shorter = await vm.zback(['set', 'tank/data', '--destinations', 'backup:bpool/copy/data|hourly|1h']);
  expect([shorter.code, shorter.stderr]).toEqual([0, '']);
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
}, 20 * MINUTES);

test('a send cut off half-way leaves a resumable receive: status shows it, the next run resumes it with send -t', async () => {
  // Its own prefix and state: the clock of each test starts again at 10:00, and another test's
  // later snapshots would be dated in this test's future.
  const state = ['--prefix', 'test.big', '--state-dir', '/root/state-big'];
  await managed('tank/big', 80_000_000, 'bpool/big', 'test.big');
  const first = await interruptedSend('tank/big', 'bpool/big', ['--now', hour(10), ...state]);
  // The link drops again, this time during the resumed stream: what arrived is kept, not discarded.
  const again = await interruptedSend('tank/big', 'bpool/big', ['--now', hour(10), ...state], `^zfs send -t ${first.token}`);
  expect(again.stderr).toContain('(the partial receive is kept; the next run resumes it)');
  const token = again.token;

  const status = await vm.zback(['status', '--remote', '--check', '--now', hour(10), ...state]);
  expect(status.code).toBe(1); // a warning, not critical: nothing is lost, the next run resumes
  expect(status.stdout).toMatch(/tank\/big.*an interrupted receive is pending; the next run resumes it/);

  const dry = await vm.zback(['run', '--dry-run', '--now', hour(10), ...state]);
  expect(dry.code).toBe(0);
  expect(dry.stdout).toMatch(/^tank\/big\n(.*\n)*? +→ send +to backup:bpool\/big: resume the interrupted receive$/m);

  const resumed = await vm.zback(['run', '--verbose', '--now', hour(10), ...state]);
  expect([resumed.code, resumed.stderr]).toEqual([0, '']);
  expect(resumed.stdout).toContain(`[local] zfs send -t ${token}`);
  expect((await vm.ok('zfs get -H -o value receive_resume_token bpool/big')).trim()).toBe('-');
  expect(await snapshots('bpool/big')).toEqual(['2026-11-26-100000']);
  expect(await checksums('bpool/big@2026-11-26-100000')).toBe(await checksums('tank/big@2026-11-26-100000'));

  // And the next hour continues incrementally from the resumed snapshot.
  await vm.ok('head -c 100000 /dev/urandom > /tank/big/next.bin');
  const next = await vm.zback(['run', '--verbose', '--now', hour(11), ...state]);
  expect([next.code, next.stderr]).toEqual([0, '']);
  expect(next.stdout).toMatch(/tank\/big → backup:bpool\/big: incremental @2026-11-26-100000 → @2026-11-26-110000/);
  expect(await snapshots('bpool/big')).toEqual(['2026-11-26-100000', '2026-11-26-110000']);
}, 20 * MINUTES);

test('SIGTERM in the middle of a send on OpenZFS: the partial receive is kept, status is critical, the next run resumes it', async () => {
  const state = ['--prefix', 'test.term', '--state-dir', '/root/state-term'];
  await managed('tank/term', 40_000_000, 'bpool/term', 'test.term');
  const { token, stderr } = await interruptedSend('tank/term', 'bpool/term', ['--now', hour(10), ...state], undefined, 'sigterm');
  expect(stderr).toMatch(/received SIGTERM: stopping/);
  expect(stderr).toContain('tank/term: replication to backup:bpool/term failed: stopped by SIGTERM (the partial receive is kept; the next run resumes it)');
  expect((await vm.sh("pgrep -af 'zfs (send|recv|receive)'")).stdout).toBe('');
  const status = await vm.zback(['status', '--check', '--now', hour(10), ...state]);
  expect(status.code).toBe(2);
  expect(status.stdout).toMatch(/was stopped by SIGTERM before it finished/);

  const resumed = await vm.zback(['run', '--verbose', '--now', hour(10), ...state]);
  expect([resumed.code, resumed.stderr]).toEqual([0, '']);
  expect(resumed.stdout).toContain(`[local] zfs send -t ${token}`);
  expect(await checksums('bpool/term@2026-11-26-100000')).toBe(await checksums('tank/term@2026-11-26-100000'));
  expect((await vm.zback(['status', '--check', '--now', hour(10), ...state])).code).toBe(0);
}, 15 * MINUTES);

test('a diverged copy on OpenZFS is reported with the fix, and nothing is destroyed', async () => {
  const state = ['--prefix', 'test.div', '--state-dir', '/root/state-div'];
  await managed('tank/div', 100_000, 'bpool/div', 'test.div');
  expect((await vm.zback(['run', '--now', hour(10), ...state])).code).toBe(0);
  await vm.ok('zfs snapshot bpool/div@local-change');
  const r = await vm.zback(['run', '--now', hour(11), ...state]);
  expect(r.code).toBe(1);
  expect(r.stderr).toContain(
    "tank/div: replication to backup:bpool/div: backup:bpool/div has 1 snapshot newer than the last common one (@2026-11-26-100000): @local-change. zback does not destroy them. To continue replication, run on backup: zfs rollback -r 'bpool/div@2026-11-26-100000'",
  );
  expect(await snapshots('bpool/div')).toEqual(['2026-11-26-100000', 'local-change']);
  expect(await snapshots('tank/div')).toEqual(['2026-11-26-100000', '2026-11-26-110000']);
}, 10 * MINUTES);

test('zfs-fuse here, OpenZFS there: each side gets the commands its own ZFS supports', async () => {
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
    expect(seed.stdout).toContain('[vm] zfs receive -u -s bpool/fuse/m'); // resumable there …
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
}, 10 * MINUTES);

test('on a terminal, a long send shows its size from zfs send -nP, a percentage and an ETA', async () => {
  // Its own property prefix: the other tests' datasets (one of them diverged) are not this run's.
  await managed('tank/eta', 10_000_000, 'bpool/eta', 'test.eta');
  // script(1) gives zback a pseudo-terminal, as a person running it by hand has.
  const r = await vm.sh(
    `cd /root && PATH=/usr/sbin:/usr/bin:/sbin:/bin TZ=UTC script -qec '/usr/local/bin/node /opt/zback/bin/zback run --prefix test.eta --now ${hour(10)} --state-dir /root/state-eta' /dev/null`,
  );
  expect({ code: r.code, output: r.stdout }).toMatchObject({ code: 0 }); // the output is the failure's explanation
  expect(r.stdout).toMatch(/tank\/eta → backup:bpool\/eta: [\d.]+ (B|KiB|MiB) of (9|10)\.\d MiB \(\d+%\), [\d.]+ (B|KiB|MiB|GiB)\/s, ETA \d/);
  expect(r.stdout).toMatch(/tank\/eta: snapshot @2026-11-26-100000; sent 1 to backup:bpool\/eta/);
}, 10 * MINUTES);

test('a resume token that can no longer be used is discarded (zfs recv -A); the next run seeds afresh', async () => {
  const own = ['--prefix', 'test.stale', '--state-dir', '/root/state-stale'];
  await managed('tank/stale', 50_000_000, 'bpool/stale', 'test.stale');
  const { token } = await interruptedSend('tank/stale', 'bpool/stale', [...own, '--now', hour(10)]);
  // Someone destroyed the snapshot the interrupted send was made from: the token points nowhere.
  await vm.ok("zfs destroy 'tank/stale@2026-11-26-100000'");
  const r = await vm.zback(['run', '--verbose', ...own, '--now', hour(11)]);
  expect(r.code).toBe(1);
  // The token is decoded here first (zfs send -nvPt) and, naming a snapshot that is gone, never sent with.
  expect(r.stdout).not.toContain(`zfs send -t ${token}`);
  expect(r.stdout).toContain('[backup] zfs receive -A bpool/stale');
  expect(r.stderr).toContain(
    'tank/stale: replication to backup:bpool/stale: backup:bpool/stale has an interrupted receive whose resume token zback does not use: the resume token for tank/stale names tank/stale@2026-11-26-100000, a snapshot tank/stale does not have.',
  );
  expect((await vm.sh('zfs get -H -o value receive_resume_token bpool/stale')).stdout.trim()).not.toMatch(/^[0-9a-f]+-/);

  const again = await vm.zback(['run', ...own, '--now', hour(11)]);
  expect([again.code, again.stderr]).toEqual([0, '']);
  expect(await snapshots('bpool/stale')).toEqual(['2026-11-26-110000']);
  expect(await checksums('bpool/stale@2026-11-26-110000')).toBe(await checksums('tank/stale@2026-11-26-110000'));
}, 10 * MINUTES);

test('a resume token that names another dataset is never sent with: the receive is aborted and reported, the next run seeds', async () => {
  const own = ['--prefix', 'test.tok', '--state-dir', '/root/state-tok'];
  await managed('tank/toka', 1_000_000, 'bpool/toka', 'test.tok');
  // The copy's place holds a partial receive of another dataset, as a hostile backup host (or a
  // mistake there) could leave it: its token names tank/tokb, which the source also has.
  await vm.ok(`
    set -e
    zfs create tank/tokb
    head -c 3000000 /dev/urandom > /tank/tokb/data.bin
    zfs snapshot tank/tokb@x
    zfs send tank/tokb@x | head -c 1000000 | zfs receive -s bpool/toka || true
    zfs get -H -o value receive_resume_token bpool/toka | grep -q -- -`);
  const r = await vm.zback(['run', '--verbose', ...own, '--now', hour(10)]);
  expect(r.code).toBe(1);
  expect(r.stderr).toContain(
    'tank/toka: replication to backup:bpool/toka: backup:bpool/toka has an interrupted receive whose resume token zback does not use: the resume token for tank/toka names tank/tokb@x, a snapshot of another dataset (tank/tokb).',
  );
  expect(r.stdout).not.toMatch(/zfs send (-\w+ )*-t/);
  expect(r.stdout).toContain('[backup] zfs receive -A bpool/toka');
  expect((await vm.sh('zfs list -H -o name bpool/toka')).code).not.toBe(0); // the partial dataset is gone

  const again = await vm.zback(['run', ...own, '--now', hour(10)]);
  expect([again.code, again.stderr]).toEqual([0, '']);
  expect(await snapshots('bpool/toka')).toEqual(['2026-11-26-100000']);
  expect(await checksums('bpool/toka@2026-11-26-100000')).toBe(await checksums('tank/toka@2026-11-26-100000'));
}, 10 * MINUTES);

test('an encrypted dataset travels raw (zfs send -w): the copy stays encrypted, the backup host never has the key', async () => {
  const own = ['--prefix', 'test.enc', '--state-dir', '/root/state-enc'];
  await vm.ok(`
    set -e
    printf 'correct horse battery staple\\n' > /root/enc.key
    zfs create -o encryption=on -o keyformat=passphrase -o keylocation=file:///root/enc.key tank/secret
    head -c 2000000 /dev/urandom > /tank/secret/data.bin`);
  const set = await vm.zback(['set', 'tank/secret', ...own.slice(0, 2), '--snapshot', 'yes', '--retention', '24h', '--destinations', 'backup:bpool/secret|hourly']);
  expect([set.code, set.stderr]).toEqual([0, '']);

  const seed = await vm.zback(['run', '--verbose', ...own, '--now', hour(10)]);
  expect([seed.code, seed.stderr]).toEqual([0, '']);
  expect(seed.stdout).toContain('[local] zfs send -w tank/secret@2026-11-26-100000');
  expect(seed.stdout).not.toMatch(/could not mark/);
  expect(await vm.ok('zfs get -H -o value encryption,keystatus,encryptionroot,canmount bpool/secret')).toBe('aes-256-gcm\nunavailable\nbpool/secret\nnoauto\n');

  // The source locked (key unloaded), as on a server rebooted without its passphrase: snapshots
  // and raw sends go on, nothing is decrypted anywhere.
  await vm.ok('head -c 500000 /dev/urandom > /tank/secret/more.bin && zfs unmount tank/secret && zfs unload-key tank/secret');
  const next = await vm.zback(['run', '--verbose', ...own, '--now', hour(11)]);
  expect([next.code, next.stderr]).toEqual([0, '']);
  expect(next.stdout).toContain('[local] zfs send -w -i tank/secret@2026-11-26-100000 tank/secret@2026-11-26-110000');
  expect(await snapshots('bpool/secret')).toEqual(['2026-11-26-100000', '2026-11-26-110000']);

  // With the key, the copy reads exactly as the source.
  await vm.ok('zfs load-key tank/secret && zfs load-key -L file:///root/enc.key bpool/secret');
  expect(await checksums('bpool/secret@2026-11-26-110000')).toBe(await checksums('tank/secret@2026-11-26-110000'));
}, 10 * MINUTES);

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

test('an unprivileged user with zfs allow receives everything through zback sink', async () => {
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
    printf 'restrict,command="%s" %s\\n' '${SINK} --root bpool/sinkroot --log ${log}' "$(cat /root/.ssh/id_ed25519.pub)" > /home/zsink/.ssh/authorized_keys
    chown zsink:zsink /home/zsink/.ssh/authorized_keys
    # The same host "backup", reached as zsink (the destination reads backup:… as in the other tests).
    printf 'Host backup\\n  HostName 127.0.0.1\\n  User zsink\\n' > ${cfg}
    zfs create tank/sink1
    head -c 2000000 /dev/urandom > /tank/sink1/data.bin
    zfs set test.sink:snapshot=yes test.sink:retention=24h 'test.sink:destinations=backup:${copy}|hourly|3h' tank/sink1`);
  try {
    // The seed: through a missing parent, which the sink account creates unmounted.
    const seed = await vm.zback(['run', '--verbose', ...own, '--now', hour(10)]);
    expect([seed.code, seed.stderr]).toEqual([0, '']);
    expect(seed.stdout).toContain('[backup] zfs create -o canmount=off bpool/sinkroot/web1\n');
    expect(seed.stdout).toContain(`[backup] zfs receive -u -s ${copy}\n`);
    expect(seed.stdout).not.toMatch(/could not mark/);
    expect(await vm.ok(`zfs get -H -o name,value canmount bpool/sinkroot/web1 ${copy}`)).toBe(`bpool/sinkroot/web1\toff\n${copy}\tnoauto\n`);

    // Incrementals, and the destination's 3h retention applied through the sink (destroy, release).
    for (const h of [11, 12, 13]) {
      await vm.ok(`head -c 300000 /dev/urandom > /tank/sink1/h${h}.bin`);
      const r = await vm.zback(['run', '--verbose', ...own, '--now', hour(h)]);
      expect([r.code, r.stderr]).toEqual([0, '']);
      expect(r.stdout).toMatch(new RegExp(`tank/sink1 → backup:${copy}: incremental @${at(h - 1)} → @${at(h)}`));
    }
    expect(await snapshots(copy)).toEqual([11, 12, 13].map(at));
    expect(await vm.ok(`zfs holds -H ${copy}@${at(13)} | cut -f2`)).toBe('zback:replica\n');
    expect(await vm.ok(`zfs holds -H ${copy}@${at(11)} ${copy}@${at(12)}`)).toBe('');

    // A send cut off half-way: the partial receive is kept (zsink may), the next run resumes it.
    // zsink's PATH (sshd's for a user) has no sbin: the slow-receiving wrapper goes in its bin too.
    await vm.ok('head -c 40000000 /dev/urandom > /tank/sink1/big.bin && ln -sfn /usr/local/sbin/zfs /usr/local/bin/zfs');
    let token: string;
    try {
      ({ token } = await interruptedSend('tank/sink1', copy, [...own, '--now', hour(14)], '^zfs send -[iI] tank/sink1@'));
    } finally {
      await vm.ok('rm -f /usr/local/bin/zfs');
    }
    const resumed = await vm.zback(['run', '--verbose', ...own, '--now', hour(14)]);
    expect([resumed.code, resumed.stderr]).toEqual([0, '']);
    expect(resumed.stdout).toContain(`[local] zfs send -t ${token}`);
    expect((await vm.ok(`zfs get -H -o value receive_resume_token ${copy}`)).trim()).toBe('-');

    await vm.ok('head -c 300000 /dev/urandom > /tank/sink1/h15.bin');
    const last = await vm.zback(['run', '--verbose', ...own, '--now', hour(15)]);
    expect([last.code, last.stderr]).toEqual([0, '']);
    expect(await snapshots(copy)).toEqual([13, 14, 15].map(at));
    expect(await checksums(`${copy}@${at(15)}`)).toBe(await checksums(`tank/sink1@${at(15)}`));
    expect(await vm.ok(`zfs get -H -o source,value test.sink:replica-retention ${copy}`)).toBe('local\t3h\n');
    // The sink ran as zsink (its log is zsink's), logged the destroys it ran, and refused nothing.
    expect(await vm.ok(`stat -c %U ${log}`)).toBe('zsink\n');
    const text = await sinkLog(log);
    expect(text).toContain(`destroy ${copy}@${at(10)}`);
    expect(text).not.toMatch(/refused/);
  } finally {
    await vm.ok(`rm -f ${cfg} /usr/local/bin/zfs`);
  }
}, 20 * MINUTES);

test('an encrypted dataset through the sink goes raw, resume included', async () => {
  const own = ['--prefix', 'test.senc', '--state-dir', '/root/state-senc'];
  const copy = 'bpool/sencroot/secret';
  const log = '/root/sink-senc.log';
  const sealed = `aes-256-gcm\nunavailable\n${copy}\nnoauto\n`;
  await vm.ok(`
    set -e
    printf 'correct horse battery staple\\n' > /root/senc.key
    zfs create -o encryption=on -o keyformat=passphrase -o keylocation=file:///root/senc.key tank/sinksecret
    head -c 2000000 /dev/urandom > /tank/sinksecret/data.bin
    zfs create bpool/sencroot
    zfs set test.senc:snapshot=yes test.senc:retention=24h 'test.senc:destinations=backup:${copy}|hourly' tank/sinksecret`);
  await forceRootSink('--root bpool/sencroot', log);
  try {
    const seed = await vm.zback(['run', '--verbose', ...own, '--now', hour(10)]);
    expect([seed.code, seed.stderr]).toEqual([0, '']);
    expect(seed.stdout).toContain(`[local] zfs send -w tank/sinksecret@${at(10)}`);
    expect(seed.stdout).not.toMatch(/could not mark/);
    expect(await vm.ok(`zfs get -H -o value encryption,keystatus,encryptionroot,canmount ${copy}`)).toBe(sealed);

    await vm.ok('head -c 40000000 /dev/urandom > /tank/sinksecret/big.bin');
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

    // With the key, the copy reads exactly as the source.
    await vm.ok(`zfs load-key -L file:///root/senc.key ${copy}`);
    expect(await checksums(`${copy}@${at(11)}`)).toBe(await checksums(`tank/sinksecret@${at(11)}`));
    await vm.ok(`zfs unload-key ${copy}`);
  } finally {
    await unforceRootSink();
  }
}, 15 * MINUTES);

test('append-only sink: the source neither holds nor destroys there; zback prune on the backup host prunes by the recorded retention', async () => {
  const own = ['--prefix', 'test.sao', '--state-dir', '/root/state-sao'];
  const copy = 'bpool/aoroot/web1/d';
  const log = '/root/sink-ao.log';
  const all = [10, 11, 12, 13, 14].map(at);
  await vm.ok(`
    set -e
    zfs create tank/sinkao
    head -c 1000000 /dev/urandom > /tank/sinkao/data.bin
    zfs create bpool/aoroot
    zfs set test.sao:snapshot=yes test.sao:retention=24h 'test.sao:destinations=backup:${copy}|hourly|2h' tank/sinkao`);
  await forceRootSink('--root bpool/aoroot --append-only', log);
  try {
    for (let h = 10; h <= 14; h++) {
      if (h > 10) await vm.ok(`head -c 200000 /dev/urandom > /tank/sinkao/h${h}.bin`);
      const r = await vm.zback(['run', '--verbose', ...own, '--now', hour(h)]);
      expect([r.code, r.stderr]).toEqual([0, '']);
      // Nothing planned that the sink would refuse: no hold, release or destroy on backup.
      expect(r.stdout).not.toMatch(/\[backup\] zfs (hold|release|destroy) /);
    }
    expect(await snapshots(copy)).toEqual(all);
    expect(await vm.ok(`zfs list -H -o name -t snapshot -r bpool/aoroot | xargs -r zfs holds -H`)).toBe('');
    expect(await vm.ok(`zfs get -H -o source,value test.sao:replica-retention ${copy}`)).toBe('local\t2h\n');
    expect(await sinkLog(log)).not.toMatch(/refused|destroy/);

    // On the backup host: the dry run changes nothing and says what would go.
    const prune = (more: string[]) => vm.zback(['prune', '--prefix', 'test.sao', '--root', 'bpool/aoroot', '--now', hour(14), ...more]);
    const dry = await prune(['--dry-run']);
    expect([dry.code, dry.stderr]).toEqual([0, '']);
    for (const s of [10, 11, 12].map(at)) expect(dry.stdout).toContain(`- destroy @${s}`);
    for (const s of [13, 14].map(at)) expect(dry.stdout).not.toContain(`@${s}`);
    expect(await snapshots(copy)).toEqual(all);
    // The floor: every copy snapshot was made minutes ago (after this --now even), so 1 day keeps them all.
    const floor = await prune(['--keep-days', '1']);
    expect([floor.code, floor.stderr]).toEqual([0, '']);
    expect(await snapshots(copy)).toEqual(all);
    const pruned = await prune([]);
    expect([pruned.code, pruned.stderr]).toEqual([0, '']);
    expect(await snapshots(copy)).toEqual([13, 14].map(at));

    // Replication goes on from the copy's newest snapshot, which prune kept.
    await vm.ok('head -c 200000 /dev/urandom > /tank/sinkao/h15.bin');
    const next = await vm.zback(['run', '--verbose', ...own, '--now', hour(15)]);
    expect([next.code, next.stderr]).toEqual([0, '']);
    expect(next.stdout).toMatch(new RegExp(`tank/sinkao → backup:${copy}: incremental @${at(14)} → @${at(15)}`));
    expect(await snapshots(copy)).toEqual([13, 14, 15].map(at));
    expect(await checksums(`${copy}@${at(15)}`)).toBe(await checksums(`tank/sinkao@${at(15)}`));
    expect(await sinkLog(log)).not.toMatch(/refused/);
  } finally {
    await unforceRootSink();
  }
}, 15 * MINUTES);

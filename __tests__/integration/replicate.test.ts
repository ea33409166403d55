/**
 * Replication against real zfs-fuse on two "hosts" (one daemon per private mount namespace) with a
 * real OpenSSH server on loopback inside the backup one. zback runs inside the source host.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Lab, LabHost } from '../helpers/lab.js';
import { twoHosts } from '../helpers/two-hosts.js';

const hosts = twoHosts('replicate', (n) => 22100 + n + (process.pid % 200) * 20);
let lab: Lab;
let src: LabHost;
let bak: LabHost;
let n = 0;
let port = 0;
beforeEach(() => ({ lab, src, bak, n, port } = hosts));

const sshConfig = () => join(bak.sshDir, 'config');
function zback(args: string[], opts: Parameters<LabHost['zback']>[1] = {}) {
  return src.zback([...args, '--ssh-config', sshConfig(), '--state-dir', join(lab.dir, `state-${n}`)], opts);
}
/** A dataset with some random data on the source, and more data written into one. */
const dataset = (name: string, kib?: number) => src.datasetWithData(name, kib);
const write = (name: string, file: string, kib?: number) => src.writeRandom(name, file, kib);
const hour = (h: number, day = 25) => `2026-11-${day}T${String(h).padStart(2, '0')}:00:00Z`;

test('20 datasets: seeded, then incremental, over exactly one SSH connection per run; data identical', async () => {
  await src.zfs('create', 'tank/p');
  for (let i = 0; i < 20; i++) await dataset(`tank/p/d${String(i).padStart(2, '0')}`, 32);
  const set = await src.zback(['set', 'tank/p', '--snapshot', 'yes', '--retention', '24h7d', '--destinations', `bak${n}:bpool/backup/p|hourly`]);
  expect([set.code, set.stderr]).toEqual([0, '']);

  let before = bak.acceptedConnections();
  const first = await zback(['run', '--now', hour(10)]);
  expect([first.code, first.stderr]).toEqual([0, '']);
  expect(bak.acceptedConnections() - before).toBe(1);

  for (let i = 0; i < 20; i += 3) await write(`tank/p/d${String(i).padStart(2, '0')}`, 'more.bin');
  before = bak.acceptedConnections();
  const zfsLog = join(lab.dir, `zfs-${n}.log`);
  const second = await zback(['run', '--verbose', '--now', hour(11)], { zfsLog });
  expect([second.code, second.stderr]).toEqual([0, '']);
  expect(bak.acceptedConnections() - before).toBe(1);
  // The bookkeeping of 21 datasets is batched (SPEC §7): one hold and one release per side, every
  // new base held (both sides) before any old one is released.
  const executed = (op: string) => new RegExp(`^\\[(local|bak\\d+)\\] zfs ${op} `);
  const holdLines = (text: string, op: string) => text.split('\n').filter((l) => executed(op).test(l));
  const holds = holdLines(second.stdout, 'hold');
  expect(holds).toHaveLength(2);
  expect(holds).toContainEqual(
    expect.stringMatching(/^\[local\] zfs hold zback:bak\d+:bpool\/backup\/p tank\/p@2026-11-25-110000( tank\/p\/d\d\d@2026-11-25-110000){20}$/),
  );
  expect(holds).toContainEqual(
    expect.stringMatching(/^\[bak\d+\] zfs hold zback:replica bpool\/backup\/p@2026-11-25-110000( bpool\/backup\/p\/d\d\d@2026-11-25-110000){20}$/),
  );
  expect(holdLines(second.stdout, 'release')).toHaveLength(2);
  // (The executed commands' lines, not the plan's listing above them.)
  const lines = second.stdout.split('\n');
  const where = (op: string) => lines.flatMap((l, i) => (executed(op).test(l) ? [i] : []));
  expect(Math.max(...where('hold'))).toBeLessThan(Math.min(...where('release')));
  const localCalls = readFileSync(zfsLog, 'utf8').split('\n');
  expect(localCalls.filter((l) => /^hold /.test(l))).toHaveLength(1);
  expect(localCalls.filter((l) => /^release /.test(l))).toHaveLength(1);
  expect(second.stdout).toMatch(/tank\/p\/d00 → bak\d+:bpool\/backup\/p\/d00: incremental @2026-11-25-100000 → @2026-11-25-110000/);
  expect(second.stdout).not.toMatch(/: full @/);

  const listed = await bak.listAll('name,userrefs');
  for (let i = 0; i < 20; i++) {
    const d = `d${String(i).padStart(2, '0')}`;
    expect(await bak.snapshots(`bpool/backup/p/${d}`)).toEqual(['2026-11-25-100000', '2026-11-25-110000']);
    expect(await bak.snapshotChecksums(`bpool/backup/p/${d}@2026-11-25-110000`)).toBe(await src.checksums(`tank/p/${d}`));
  }
  // The base of the next send is held on both sides, the previous one released.
  expect(listed).toContain('bpool/backup/p/d07@2026-11-25-110000\t1');
  expect(listed).toContain('bpool/backup/p/d07@2026-11-25-100000\t0');
  expect((await src.getProp('tank/p/d07@2026-11-25-110000', 'userrefs')).value).toBe('1');
  expect((await src.getProp('tank/p/d07@2026-11-25-100000', 'userrefs')).value).toBe('0');
  // The seeded copies are marked, so a zback on the backup host leaves them alone.
  expect((await bak.getProp('bpool/backup/p/d07', 'org.wit:replica-of')).value).toMatch(/:tank\/p\/d07$/);

  // Nothing due, nothing to send: the bases are held already, so no hold or release at all.
  const idleLog = join(lab.dir, `zfs-idle-${n}.log`);
  const idle = await zback(['run', '--verbose', '--now', '2026-11-25T11:30:00Z'], { zfsLog: idleLog });
  expect([idle.code, idle.stderr]).toEqual([0, '']);
  expect(idle.stdout).not.toMatch(/zfs (hold|release) /);
  expect(readFileSync(idleLog, 'utf8')).not.toMatch(/^(hold|release|send) /m);
});

test('two destinations with different schedules each receive only when due', async () => {
  await dataset('tank/s');
  await src.zback(['set', 'tank/s', '--snapshot', 'yes', '--retention', '48h7d', '--destinations', `bak${n}:bpool/h|hourly,bak${n}:bpool/d|daily`]);
  const runAt = async (now: string) => {
    const r = await zback(['run', '--now', now]);
    expect([r.code, r.stderr]).toEqual([0, '']);
  };
  await runAt(hour(10)); // seeds both
  await runAt(hour(11));
  await runAt(hour(12));
  expect(await bak.snapshots('bpool/h')).toEqual(['2026-11-25-100000', '2026-11-25-110000', '2026-11-25-120000']);
  expect(await bak.snapshots('bpool/d')).toEqual(['2026-11-25-100000']);
  const dry = await zback(['run', '--dry-run', '--now', '2026-11-25T12:30:00Z']);
  expect(dry.stdout).toMatch(/to bak\d+:bpool\/d: not due \(last common @2026-11-25-100000; next tick 2026-11-26 00:00:00/);
  // A new day: the daily destination catches up in one -I send (its retention, 48h7d, keeps them all).
  const catchUp = await zback(['run', '--verbose', '--now', '2026-11-26T00:05:00Z']);
  expect([catchUp.code, catchUp.stderr]).toEqual([0, '']);
  expect(catchUp.stdout).toMatch(/\[local\] zfs send -I tank\/s@2026-11-25-100000 tank\/s@2026-11-26-000500\n/);
  expect(await bak.snapshots('bpool/d')).toEqual(['2026-11-25-100000', '2026-11-25-110000', '2026-11-25-120000', '2026-11-26-000500']);
  expect(await bak.snapshots('bpool/h')).toContain('2026-11-26-000500');
});

test('destination retention keeps the common snapshot; after a week unreachable, replication continues incrementally', async () => {
  await dataset('tank/w');
  await src.zback(['set', 'tank/w', '--snapshot', 'yes', '--retention', '2d', '--destinations', `bak${n}:bpool/w|daily|1d`]);
  const seed = await zback(['run', '--now', '2026-11-01T00:00:00Z']);
  expect([seed.code, seed.stderr]).toEqual([0, '']);
  const second = await zback(['run', '--now', '2026-11-02T00:00:00Z']);
  expect([second.code, second.stderr]).toEqual([0, '']);
  // Retention 1d on the destination: only the newest day is kept there, which is also the common snapshot.
  expect(await bak.snapshots('bpool/w')).toEqual(['2026-11-02-000000']);

  await bak.stopSshd();
  for (let day = 3; day <= 9; day++) {
    await write('tank/w', `day${day}.bin`);
    const r = await zback(['run', '--now', `2026-11-0${day}T00:00:00Z`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/tank\/w: replication to bak\d+:bpool\/w: unreachable: cannot connect to bak\d+ .*ECONNREFUSED/);
  }
  // The source kept pruning by its 2d retention, but never the base of the next incremental send.
  expect(await src.snapshots('tank/w')).toEqual(['2026-11-02-000000', '2026-11-08-000000', '2026-11-09-000000']);

  await bak.sshd(port, true);
  const back = await zback(['run', '--verbose', '--now', '2026-11-10T00:00:00Z']);
  expect([back.code, back.stderr]).toEqual([0, '']);
  expect(back.stdout).toMatch(/incremental @2026-11-02-000000 → @2026-11-10-000000/);
  expect(back.stdout).not.toMatch(/: full @/);
  expect(await bak.snapshots('bpool/w')).toEqual(['2026-11-10-000000']);
  expect(await bak.snapshotChecksums('bpool/w@2026-11-10-000000')).toBe(await src.checksums('tank/w'));
  // The old base is released and pruned now that the new one is common.
  expect(await src.snapshots('tank/w')).toEqual(['2026-11-09-000000', '2026-11-10-000000']);
});

test('a diverged or modified destination fails only its dataset, with the fix; the others succeed (exit 1)', async () => {
  for (const d of ['tank/ok', 'tank/div', 'tank/mod']) await dataset(d);
  for (const d of ['ok', 'div', 'mod']) {
    await src.zback(['set', `tank/${d}`, '--snapshot', 'yes', '--retention', '24h', '--destinations', `bak${n}:bpool/${d}|hourly`]);
  }
  expect((await zback(['run', '--now', hour(10)])).code).toBe(0);
  // Someone snapshots one copy on the backup host, and writes into another one.
  await bak.zfs('snapshot', 'bpool/div@local-change');
  await bak.zfs('mount', 'bpool/mod');
  expect((await bak.exec(['sh', '-c', 'echo x > "$(zfs get -H -o value mountpoint bpool/mod)/oops"'])).code).toBe(0);
  for (const d of ['ok', 'div', 'mod']) await write(`tank/${d}`, 'next.bin');

  const r = await zback(['run', '--now', hour(11)]);
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(
    /tank\/div: replication to bak\d+:bpool\/div: bak\d+:bpool\/div has 1 snapshot newer than the last common one \(@2026-11-25-100000\): @local-change\. zback does not destroy them\. To continue replication, run on bak\d+: zfs rollback -r bpool\/div@2026-11-25-100000/,
  );
  expect(r.stderr).toMatch(/tank\/mod: replication to bak\d+:bpool\/mod failed: zfs recv failed \(exit 1: .*modified/);
  expect(r.stderr).not.toMatch(/tank\/ok:/);
  expect(await bak.snapshots('bpool/ok')).toEqual(['2026-11-25-100000', '2026-11-25-110000']);
  expect(await bak.snapshots('bpool/div')).toEqual(['2026-11-25-100000', 'local-change']);
  expect(await bak.snapshots('bpool/mod')).toEqual(['2026-11-25-100000']);
  // Local work was done for all three, and the failed ones keep their base.
  for (const d of ['ok', 'div', 'mod']) expect(await src.snapshots(`tank/${d}`)).toContain('2026-11-25-110000');
  expect(await src.snapshots('tank/div')).toContain('2026-11-25-100000');
  expect(bak.processes(/zfs (receive|recv)/)).toEqual([]);
  expect(src.processes(/zfs send/)).toEqual([]);
});

test('sshd killed in the middle of a send: the run fails and leaves no process; the next run succeeds', async () => {
  await src.pool('big', '1G');
  await dataset('big/data', 192 * 1024);
  await src.zback(['set', 'big/data', '--snapshot', 'yes', '--retention', '24h', '--destinations', `bak${n}:bpool/big|hourly`]);
  const running = zback(['run', '--now', hour(10)]);
  // Once zback has passed 16 MB of the ~200 MB stream on (zfs-fuse's daemon, not the zfs command,
  // writes the stream, so zback's own reads are what can be measured), kill sshd and its sessions.
  const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));
  for (let i = 0; i < 1000 && src.processes(/zfs send/).length === 0; i++) await wait(10);
  const [zbackPid] = src.processes(/bin\/zback run/);
  expect(zbackPid).toBeDefined();
  const start = LabHost.bytesRead(zbackPid!);
  const moved = () => LabHost.bytesRead(zbackPid!) - start;
  for (let i = 0; i < 1000 && moved() < 16 << 20; i++) await wait(5);
  expect(moved()).toBeGreaterThanOrEqual(16 << 20);
  await bak.stopSshd();
  const r = await running;
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/big\/data: replication to bak\d+:bpool\/big failed: .*(connection|lost)/);
  await new Promise((res) => setTimeout(res, 500));
  expect(src.processes(/zfs send|zback/)).toEqual([]);
  expect(bak.processes(/zfs receive|sshd/)).toEqual([]);
  expect(await bak.listAll()).toEqual(['bpool']);

  await bak.sshd(port, true);
  const again = await zback(['run', '--now', hour(10)]);
  expect([again.code, again.stderr]).toEqual([0, '']);
  expect(await bak.snapshots('bpool/big')).toEqual(['2026-11-25-100000']);
  expect(await bak.snapshotChecksums('bpool/big@2026-11-25-100000')).toBe(await src.checksums('big/data'));
});

test('a changed host key is refused and nothing is sent; local snapshots go on', async () => {
  await dataset('tank/k');
  await src.zback(['set', 'tank/k', '--snapshot', 'yes', '--retention', '24h', '--destinations', `bak${n}:bpool/k|hourly`]);
  const knownHosts = join(bak.sshDir, 'known_hosts');
  const [name, type] = readFileSync(knownHosts, 'utf8').trim().split(' ');
  // Another ed25519 key for the same host: what an attacker in the middle would present.
  const other = 'AAAAC3NzaC1lZDI1NTE5AAAAIBm0vJHf8h5N2wQx8H1w6ZqXc7u7mYw3a7yQGqGq0n3T';
  writeFileSync(knownHosts, `${name} ${type} ${other}\n`);
  const before = bak.acceptedConnections();
  const r = await zback(['run', '--now', hour(10)]);
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/the host key of \[127\.0\.0\.1\]:\d+ has CHANGED .*known_hosts:1.*ssh-keygen -R/);
  expect(bak.acceptedConnections()).toBe(before);
  expect(await bak.listAll()).toEqual(['bpool']);
  expect(await src.snapshots('tank/k')).toEqual(['2026-11-25-100000']);

  // An unknown host (empty known_hosts) is refused too, unless new keys are accepted.
  writeFileSync(knownHosts, '');
  const unknown = await zback(['run', '--now', hour(11)]);
  expect(unknown.stderr).toMatch(/is not in .*known_hosts/);
  const accepted = await zback(['run', '--accept-new-host-keys', '--now', hour(12)]);
  expect([accepted.code, accepted.stderr]).toEqual([0, '']);
  expect(readFileSync(knownHosts, 'utf8')).toMatch(/^\[127\.0\.0\.1\]:\d+ ssh-ed25519 /);
  // The seed starts from the oldest snapshot the destination keeps: the ones of the refused runs too.
  expect(await bak.snapshots('bpool/k')).toEqual(['2026-11-25-100000', '2026-11-25-110000', '2026-11-25-120000']);
});

test('a hostile destination value is rejected as invalid and nothing runs', async () => {
  await dataset('tank/h');
  await src.zfs('set', 'org.wit:snapshot=yes', 'tank/h');
  await src.zfs('set', 'org.wit:retention=24h', 'tank/h');
  await src.zfs('set', `org.wit:destinations=bak${n}:pool/x;touch /tmp/zback-owned-${n}|daily`, 'tank/h');
  const before = bak.acceptedConnections();
  const log = join(lab.dir, `zfs-hostile-${n}.log`);
  const r = await zback(['run', '--now', hour(10)], { zfsLog: log });
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/tank\/h: org\.wit:destinations=".*" is invalid: destination path "pool\/x;touch \/tmp\/zback-owned-\d+": invalid character ";"/);
  expect(existsSync(`/tmp/zback-owned-${n}`)).toBe(false);
  expect(bak.acceptedConnections()).toBe(before);
  expect(lab.readLog(log).every((l) => /^(version|get|list)\b/.test(l))).toBe(true);
});

test('a destination without host: a pool on the same machine, same code path', async () => {
  await src.pool('copy');
  await dataset('tank/l');
  await src.zback(['set', 'tank/l', '--snapshot', 'yes', '--retention', '24h', '--destinations', 'copy/mirror/l|hourly']);
  for (const h of [10, 11]) {
    await write('tank/l', `f${h}.bin`);
    const r = await zback(['run', '--now', hour(h)]);
    expect([r.code, r.stderr]).toEqual([0, '']);
  }
  expect(await src.snapshots('copy/mirror/l')).toEqual(['2026-11-25-100000', '2026-11-25-110000']);
  expect(await src.snapshotChecksums('copy/mirror/l@2026-11-25-110000')).toBe(await src.checksums('tank/l'));
  expect(bak.acceptedConnections()).toBe(1); // only the lab's own check when sshd started
});

test('stale holds are released: a destination removed from the configuration no longer pins its base', async () => {
  await dataset('tank/r');
  await src.zback(['set', 'tank/r', '--snapshot', 'yes', '--retention', '1h', '--destinations', `bak${n}:bpool/r|daily`]);
  expect((await zback(['run', '--now', hour(10)])).code).toBe(0);
  expect((await zback(['run', '--now', hour(11)])).code).toBe(0);
  // Not due again until tomorrow: the 10:00 snapshot is the base and stays, held, despite retention 1h.
  expect(await src.snapshots('tank/r')).toEqual(['2026-11-25-100000', '2026-11-25-110000']);
  expect((await src.getProp('tank/r@2026-11-25-100000', 'userrefs')).value).toBe('1');
  const unset = await src.zback(['unset', 'tank/r', '--destinations']);
  expect(unset.code).toBe(0);
  const dry = await zback(['run', '--dry-run', '--now', hour(12)]);
  expect(dry.stdout).toMatch(/tank\/r@2026-11-25-100000\s+zback:bak\d+:bpool\/r\s+\(its destination is no longer configured\)/);
  const r = await zback(['run', '--now', hour(12)]);
  expect([r.code, r.stderr]).toEqual([0, '']);
  expect(await src.snapshots('tank/r')).toEqual(['2026-11-25-120000']);
  const ledger = JSON.parse(readFileSync(join(lab.dir, `state-${n}`, 'holds.json'), 'utf8')) as { holds: Array<{ host: string }> };
  expect(ledger.holds.filter((h) => h.host === 'local')).toEqual([]);
});

test('sessions refused by sshd (MaxSessions) are retried with backoff, not fatal', async () => {
  // An sshd that allows only 3 sessions per connection, and zback told it may open 6 channels.
  await bak.stopSshd();
  await bak.sshd(port, false, 3); // new keys and config: the lab writes known_hosts and ssh config anew
  await src.zfs('create', 'tank/m');
  for (let i = 0; i < 8; i++) await dataset(`tank/m/d${i}`, 2048);
  await src.zback(['set', 'tank/m', '--snapshot', 'yes', '--retention', '24h', '--destinations', `bak${n}:bpool/m|hourly`]);
  const r = await zback(['run', '--max-channels', '6', '--now', hour(10)]);
  expect([r.code, r.stderr]).toEqual([0, '']);
  const log = readFileSync(join(bak.sshDir, 'sshd.log'), 'utf8');
  expect(log).toMatch(/no more sessions/); // the limit was hit …
  for (let i = 0; i < 8; i++) expect(await bak.snapshots(`bpool/m/d${i}`)).toEqual(['2026-11-25-100000']); // … and survived
});

test('ssh settings: Include, a hashed known_hosts entry and a key that only ssh-agent has', async () => {
  await dataset('tank/g');
  const dir = join(lab.dir, `ssh-agent-${n}`);
  mkdirSync(dir, { recursive: true });
  // known_hosts with the host name hashed (ssh-keygen -H), as many distributions write it.
  const knownHosts = join(dir, 'known_hosts');
  copyFileSync(join(bak.sshDir, 'known_hosts'), knownHosts);
  expect(spawnSync('ssh-keygen', ['-H', '-f', knownHosts]).status).toBe(0);
  expect(readFileSync(knownHosts, 'utf8')).toMatch(/^\|1\|/);
  // The host block lives in an included file; no IdentityFile there: the key is in the agent only.
  writeFileSync(
    join(dir, 'hosts.conf'),
    `Host backup-via-agent\n  HostName 127.0.0.1\n  Port ${port}\n  User root\n  IdentityFile ${join(dir, 'nonexistent')}\n  UserKnownHostsFile ${knownHosts}\n  GlobalKnownHostsFile /dev/null\n`,
  );
  writeFileSync(join(dir, 'config'), `Include ${join(dir, 'hosts.conf')}\n`);
  const sock = join(dir, 'agent.sock');
  const agent = spawnSync('ssh-agent', ['-a', sock], { encoding: 'utf8' });
  expect(agent.status).toBe(0);
  const agentPid = Number(/SSH_AGENT_PID=(\d+)/.exec(agent.stdout)?.[1]);
  try {
    expect(spawnSync('ssh-add', [join(bak.sshDir, 'id_ed25519')], { env: { ...process.env, SSH_AUTH_SOCK: sock } }).status).toBe(0);
    await src.zback(['set', 'tank/g', '--snapshot', 'yes', '--retention', '24h', '--destinations', 'backup-via-agent:bpool/g|hourly']);
    const without = await src.zback(['run', '--ssh-config', join(dir, 'config'), '--state-dir', join(lab.dir, `state-${n}`), '--now', hour(10)]);
    expect(without.code).toBe(1);
    expect(without.stderr).toMatch(/no way to log in to backup-via-agent/);
    const r = await src.zback(['run', '--ssh-config', join(dir, 'config'), '--state-dir', join(lab.dir, `state-${n}`), '--now', hour(11)], {
      env: { SSH_AUTH_SOCK: sock },
    });
    expect([r.code, r.stderr]).toEqual([0, '']);
    expect(await bak.snapshots('bpool/g')).toEqual(['2026-11-25-100000', '2026-11-25-110000']);
  } finally {
    process.kill(agentPid);
  }
});

test('a copy made before zback (by hand or by ZnapZend, same snapshot names) is continued incrementally, not resent', async () => {
  await dataset('tank/z');
  for (const t of ['2026-11-20-000000', '2026-11-21-000000']) await src.zfs('snapshot', `tank/z@${t}`);
  // The old way: a manual "offsite seed" with zfs send | ssh zfs recv.
  const seed = await src.exec(['sh', '-c', `zfs send tank/z@2026-11-21-000000 | ssh -F "$1" bak${n} zfs recv -u bpool/z`, 'sh', sshConfig()]);
  expect([seed.code, seed.stderr]).toEqual([0, '']);
  await src.zback(['set', 'tank/z', '--snapshot', 'yes', '--retention', '7d', '--destinations', `bak${n}:bpool/z|daily`]);
  await write('tank/z', 'new.bin');
  const r = await zback(['run', '--verbose', '--now', '2026-11-22T00:00:00Z']);
  expect([r.code, r.stderr]).toEqual([0, '']);
  expect(r.stdout).toMatch(/tank\/z → bak\d+:bpool\/z: incremental @2026-11-21-000000 → @2026-11-22-000000/);
  expect(r.stdout).not.toMatch(/: full @/);
  expect(await bak.snapshots('bpool/z')).toEqual(['2026-11-21-000000', '2026-11-22-000000']);
});

test("bandwidth limits: a destination's bwlimit= and the run's --bwlimit hold the stream to their rate over sshd; data identical; the dry run says so", async () => {
  const MiB = 1024 * 1024;
  await dataset('tank/slow', 3 * 1024); // 3 MiB of random data: the seed's stream is a little more
  const set = await src.zback(['set', 'tank/slow', '--snapshot', 'yes', '--retention', '24h', '--destinations', `bak${n}:bpool/slow|hourly|bwlimit=1M`]);
  expect([set.code, set.stderr]).toEqual([0, '']);

  const dry = await zback(['run', '--dry-run', '--now', hour(10), '--bwlimit', '64M']);
  expect(dry.code).toBe(0);
  expect(dry.stdout).toContain(`→ send     to bak${n}:bpool/slow: full @2026-11-25-100000 (at most 1 MiB/s to bak${n}, bwlimit=)`);
  expect(dry.stdout).toContain("Bandwidth: the run's streams together at most 64 MiB/s (--bwlimit).");

  const t0 = Date.now();
  const seed = await zback(['run', '--now', hour(10)]);
  const seedS = (Date.now() - t0) / 1000;
  expect([seed.code, seed.stderr]).toEqual([0, '']);
  expect(seedS).toBeGreaterThanOrEqual(3); // 3 MiB and more at 1 MiB/s
  expect(await bak.snapshotChecksums('bpool/slow@2026-11-25-100000')).toBe(await src.checksums('tank/slow'));

  // The run's own limit, tighter than the destination's: 2 MiB more at 512 KiB/s take 4 s.
  await write('tank/slow', 'more.bin', 2 * 1024);
  const t1 = Date.now();
  const inc = await zback(['run', '--now', hour(11), '--bwlimit', '512K']);
  const incS = (Date.now() - t1) / 1000;
  expect([inc.code, inc.stderr]).toEqual([0, '']);
  expect(incS).toBeGreaterThanOrEqual((2 * MiB) / (512 * 1024));
  expect(await bak.snapshotChecksums('bpool/slow@2026-11-25-110000')).toBe(await src.checksums('tank/slow'));
  console.log(`bwlimit: a 3 MiB seed at 1 MiB/s took ${seedS.toFixed(1)} s; 2 MiB more at 512 KiB/s ${incS.toFixed(1)} s`);

  const bad = await zback(['run', '--now', hour(12), '--bwlimit', '20 Mbit']);
  expect(bad).toMatchObject({ code: 2, stderr: expect.stringMatching(/^zback: --bwlimit: "20 Mbit" is not a rate: give bytes per second with K, M, G or T/) });
}, 180_000);

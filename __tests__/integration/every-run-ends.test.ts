/**
 * SPEC §9 "every run ends" on real zfs-fuse and a real sshd: a backup host whose zfs hangs costs
 * at most --command-timeout and fails only its destinations (local snapshots are taken anyway, no
 * process is left behind, the lock is free); a snapshot dated years ahead does not stop snapshots
 * and is reported.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Lab, type LabHost, lockIsFree, type Result } from '../helpers/lab.js';
import { twoHosts } from '../helpers/two-hosts.js';

// 30000–31999: outside every other integration file's ports.
const hosts = twoHosts('run-ends', (n) => 30000 + n + (process.pid % 200) * 10);
let lab: Lab;
let src: LabHost;
let bak: LabHost;
let n = 0;
beforeEach(() => ({ lab, src, bak, n } = hosts));

const stateDir = () => join(lab.dir, `state-${n}`);
const zback = (args: string[]) => src.zback([...args, '--ssh-config', join(bak.sshDir, 'config'), '--state-dir', stateDir()]);
const hour = (h: number) => new Date(Date.UTC(2026, 10, 25, h)).toISOString().replace('.000Z', 'Z');
const snapAt = (h: number) => hour(h).slice(0, 13).replace('T', '-') + '0000';
const ok = (r: Result) => expect([r.code, r.stderr]).toEqual([0, '']);

test('a backup host whose zfs hangs: the run ends after --command-timeout, every local dataset got its snapshot, nothing is left running', async () => {
  for (const d of ['tank/a', 'tank/b']) {
    await src.datasetWithData(d, 32);
    ok(await src.zback(['set', d, '--snapshot', 'yes', '--retention', '24h', '--destinations', `bak${n}:bpool/${d.slice(5)}|hourly`]));
  }
  await src.datasetWithData('tank/local', 16);
  ok(await src.zback(['set', 'tank/local', '--snapshot', 'yes', '--retention', '24h']));
  ok(await zback(['run', '--now', hour(10)]));

  // zfs on the backup host now hangs (a suspended pool, hung I/O): a wrapper that sleeps, bound
  // over zfs inside that host only. sshd still answers.
  const wrapper = join(lab.dir, `hang-zfs-${n}`);
  writeFileSync(wrapper, '#!/bin/sh\nexec sleep 3600\n', { mode: 0o755 });
  const bind = await bak.exec(['mount', '--bind', wrapper, '/usr/sbin/zfs']);
  expect(bind.code).toBe(0);
  try {
    const started = Date.now();
    const r = await zback(['run', '--command-timeout', '20', '--now', hour(11)]);
    const seconds = (Date.now() - started) / 1000;
    console.log(`every-run-ends: a hung backup host cost ${seconds.toFixed(1)} s with --command-timeout 20`);
    expect(seconds).toBeLessThan(60);
    expect(r.code).toBe(1);
    for (const d of ['tank/a', 'tank/b']) {
      expect(r.stderr).toMatch(
        new RegExp(
          `${d}: replication to bak\\d+:bpool/${d.slice(5)}: unreachable: zfs version failed on bak\\d+ \\(stopped\\): did not finish within 20 s \\(--command-timeout\\)`,
        ),
      );
    }
    // Every local dataset got its snapshot, replicated or not.
    for (const d of ['tank/a', 'tank/b', 'tank/local']) expect(await src.snapshots(d)).toContain(snapAt(11));
    // Nothing left running: not the hung zfs on the backup host, not zback here; the lock is free.
    expect((await bak.exec(['pgrep', '-f', 'sleep 3600'])).stdout).toBe('');
    // (Only this test's zback, by its state dir: other test files run zback at the same time.)
    expect((await src.exec(['pgrep', '-f', `bin/zback .*--state-dir ${stateDir()}`])).stdout).toBe('');
    expect(lockIsFree(join(stateDir(), 'run.lock'))).toBe(true);
  } finally {
    await bak.exec(['umount', '/usr/sbin/zfs']);
  }
  // The host answers again: the next run catches up.
  ok(await zback(['run', '--now', hour(12)]));
  expect(await bak.snapshots('bpool/a')).toContain(snapAt(12));
}, 300_000);

test('a snapshot dated years ahead: snapshots go on every hour, nothing real is destroyed, an error line and a critical status', async () => {
  await src.datasetWithData('tank/f', 16);
  ok(await src.zback(['set', 'tank/f', '--snapshot', 'yes', '--retention', '3h', '--destinations', `bak${n}:bpool/f|hourly`]));
  ok(await zback(['run', '--now', hour(10)]));
  await src.zfs('snapshot', 'tank/f@2031-01-01-000000'); // a clock that jumped, then was corrected
  for (const h of [11, 12, 13, 14]) {
    const r = await zback(['run', '--now', hour(h)]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^zback: tank\/f: @2031-01-01-000000 is dated after this run's clock \(.*\): zback ignores it for due snapshots, retention and replication and never destroys it\./m,
    );
    expect(await src.snapshots('tank/f')).toContain(snapAt(h));
  }
  // Retention 3h keeps the three newest real hours (and the base); the future one is never destroyed.
  expect((await src.snapshots('tank/f')).sort()).toEqual([snapAt(12), snapAt(13), snapAt(14), '2031-01-01-000000'].sort());
  expect(await bak.snapshots('bpool/f')).toContain(snapAt(14));
  const check = await zback(['status', '--check', '--now', hour(14)]);
  expect(check.code).toBe(2);
  expect(check.stdout).toMatch(/^ZBACK CRITICAL .*dated after the clock: @2031-01-01-000000/);
}, 300_000);

test('SIGTERM in the middle of a large send: exit within 15 s, no zfs send or receive left on either side, lock free, status not OK until the next run, which completes', async () => {
  await src.pool('big', '768M');
  await bak.pool('bbig', '768M');
  await src.zfs('create', 'big/data');
  await src.writeRandom('big/data', 'data.bin', 300 * 1024);
  ok(await src.zback(['set', 'big/data', '--snapshot', 'yes', '--retention', '24h', '--destinations', `bak${n}:bbig/data|hourly`]));

  const running = zback(['run', '--now', hour(10)]);
  // As soon as the seed's zfs send runs, half a second in: SIGTERM, as a cron timeout or a shutdown sends it.
  for (let i = 0; i < 400 && (await src.exec(['pgrep', '-f', 'zfs send big/data'])).stdout === ''; i++) await new Promise((r) => setTimeout(r, 50));
  await new Promise((r) => setTimeout(r, 500));
  const signalled = Date.now();
  // Only this test's run (its own state dir): other test files run zback at the same time.
  expect((await src.exec(['pkill', '-TERM', '-f', `bin/zback run .*--state-dir ${stateDir()}`])).code).toBe(0);
  const r = await running;
  const seconds = (Date.now() - signalled) / 1000;
  console.log(`every-run-ends: SIGTERM to exit took ${seconds.toFixed(1)} s`);
  expect(seconds).toBeLessThan(15);
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/^zback: received SIGTERM: stopping/m);
  expect(r.stderr).toMatch(/^zback: stopped by SIGTERM before the run finished; the next run continues/m);
  // It was stopped in the middle of the send, not after it.
  expect(r.stderr).toMatch(/^zback: big\/data: replication to bak\d+:bbig\/data failed: stopped by SIGTERM/m);
  // This test's streams only (big/data → bbig/data): other test files send at the same time.
  expect((await src.exec(['pgrep', '-af', 'zfs (send|recv|receive) .*big/data'])).stdout).toBe('');
  expect((await bak.exec(['pgrep', '-af', 'zfs (send|recv|receive) .*bbig/data'])).stdout).toBe('');
  expect(lockIsFree(join(stateDir(), 'run.lock'))).toBe(true);
  const check = await zback(['status', '--check', '--now', hour(10)]);
  expect(check.code).toBe(2);
  expect(check.stdout).toMatch(/the last run \(.*\) was stopped by SIGTERM before it finished/);

  const next = await zback(['run', '--now', hour(11)]);
  ok(next);
  expect(await bak.snapshots('bbig/data')).toContain(snapAt(11));
  expect(await bak.snapshotChecksums(`bbig/data@${snapAt(11)}`)).toBe(await src.checksums('big/data'));
  expect((await zback(['status', '--check', '--now', hour(11)])).code).toBe(0);
}, 600_000);

test('a corrupt holds.json: reported and kept aside, the ledger rebuilt from ZFS (probing on zfs-fuse), and no snapshot kept for ever', async () => {
  await src.datasetWithData('tank/c', 16);
  ok(await src.zback(['set', 'tank/c', '--snapshot', 'yes', '--retention', '2h', '--destinations', `bak${n}:bpool/c|hourly`]));
  ok(await zback(['run', '--now', hour(10)]));
  ok(await zback(['run', '--now', hour(11)]));
  const ledgerPath = join(stateDir(), 'holds.json');
  writeFileSync(ledgerPath, '{"version": 1, "holds": [ {"role": "sou'); // cut off mid-write by a full disk
  // status says so (critical) and, being read-only, leaves the file where it is.
  const status = await zback(['status', '--check', '--now', hour(11)]);
  expect(status.code).toBe(2);
  expect(status.stdout).toMatch(/holds\.json is corrupt \(not valid JSON: .*\); the next run keeps it aside and rebuilds/);
  expect(readdirSync(stateDir()).some((f) => f.startsWith('holds.json.corrupt-'))).toBe(false);

  const r = await zback(['run', '--now', hour(12)]);
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/^zback: .*holds\.json is corrupt \(not valid JSON: .*\); kept as .*holds\.json\.corrupt-\S+$/m);
  expect(r.stderr).toMatch(/^zback: the hold ledger was rebuilt from ZFS: 2 zback holds found$/m);
  expect(readdirSync(stateDir()).some((f) => f.startsWith('holds.json.corrupt-'))).toBe(true);
  // Replication went on: the base moved to 12:00 on both sides, the old one was released.
  expect(await bak.snapshots('bpool/c')).toContain(snapAt(12));
  const ledger = JSON.parse(readFileSync(ledgerPath, 'utf8')) as { holds: Array<{ role: string; snapshot: string }> };
  expect(ledger.holds.map((h) => [h.role, h.snapshot]).sort()).toEqual([
    ['source', snapAt(12)],
    ['target', snapAt(12)],
  ]);
  expect((await src.getProp(`tank/c@${snapAt(11)}`, 'userrefs')).value).toBe('0');

  // Nothing is kept for ever: with retention 2h the old snapshots go.
  ok(await zback(['run', '--now', hour(13)]));
  ok(await zback(['run', '--now', hour(14)]));
  expect(await src.snapshots('tank/c')).toEqual([snapAt(13), snapAt(14)]);
}, 300_000);

test('a managed dataset renamed: its holds follow it (no missing dataset, nothing held for ever)', async () => {
  await src.datasetWithData('tank/r', 16);
  ok(await src.zback(['set', 'tank/r', '--snapshot', 'yes', '--retention', '2h', '--destinations', `bak${n}:bpool/r|hourly`]));
  ok(await zback(['run', '--now', hour(10)]));
  await src.exec(['zfs', 'unmount', 'tank/r']);
  await src.zfs('rename', 'tank/r', 'tank/r2'); // its local zback properties go along
  const r = await zback(['run', '--verbose', '--now', hour(11)]);
  ok(r);
  expect(r.stdout).toContain("tank/r was renamed to tank/r2: zback's holds on its snapshots follow it");
  expect(r.stdout).toMatch(/tank\/r2 → bak\d+:bpool\/r: incremental @2026-11-25-100000 → @2026-11-25-110000/);
  ok(await zback(['run', '--now', hour(12)]));
  ok(await zback(['run', '--now', hour(13)]));
  // The hold placed under the old name was zback's, and went: the old snapshots are pruned.
  expect(await src.snapshots('tank/r2')).toEqual([snapAt(12), snapAt(13)]);
  expect((await zback(['status', '--check', '--now', hour(13)])).code).toBe(0);
}, 300_000);

/**
 * Chain safety against real zfs-fuse and a real sshd (same lab as replicate.test.ts): whatever
 * happens to a destination — its pool exported, its host down while the destination is re-spelled,
 * its copy replaced by an unrelated dataset or renamed away — zback keeps the base of the next
 * incremental send (held, never pruned), never seeds or overwrites on its own, and says what is
 * wrong. Re-seeding a copy that went missing takes an explicit `zback run --reseed DS=DEST`.
 */
import { join } from 'node:path';
import { type Lab, type LabHost, type Result } from '../helpers/lab.js';
import { twoHosts } from '../helpers/two-hosts.js';

// 28000–29999: outside replicate (22100–26120), status (26200–26699), every-run-ends (30000–31999) and the OpenZFS guest (27000–27499).
const hosts = twoHosts('chain-safety', (n) => 28000 + n + (process.pid % 200) * 10);
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
/** Hour h after 2026-11-25 00:00 UTC (h ≥ 24 is the next day): the ISO time for --now … */
const hour = (h: number) => new Date(Date.UTC(2026, 10, 25, h)).toISOString().replace('.000Z', 'Z');
/** … and the name of the snapshot a run at that time takes. */
const snapAt = (h: number) => hour(h).slice(0, 13).replace('T', '-') + '0000';
/** The first line of the output that matches; otherwise the whole output, marked, so a failed expectation shows it. */
const lineMatching = (text: string, re: RegExp) => text.split('\n').find((l) => re.test(l)) ?? `(no such line) ${JSON.stringify(text)}`;
/** userrefs of a source snapshot; a snapshot that is gone says so (an expectation then fails with it, not the zfs call). */
const userrefs = async (snapshot: string) => {
  const r = await src.exec(['zfs', 'get', '-H', '-o', 'value', 'userrefs', snapshot]);
  return r.code === 0 ? r.stdout.trim() : `(${snapshot}: ${r.stderr.trim()})`;
};
const ok = (r: Result) => expect([r.code, r.stderr]).toEqual([0, '']);

test('backup pool exported for a day of hourly runs: the base stays held, then replication continues incrementally', async () => {
  await dataset('tank/w');
  const set = await src.zback(['set', 'tank/w', '--snapshot', 'yes', '--retention', '6h', '--destinations', `bak${n}:bpool/w|hourly`]);
  ok(set);
  ok(await zback(['run', '--now', hour(10)])); // seed
  await write('tank/w', 'h11.bin');
  ok(await zback(['run', '--now', hour(11)])); // incremental
  const base = snapAt(11); // 2026-11-25-110000
  expect(base).toBe('2026-11-25-110000');
  const copyGuids = await bak.snapshotGuids('bpool/w');
  expect([...copyGuids.keys()]).toEqual(['2026-11-25-100000', base]);
  expect(copyGuids.get(base)).toBe((await src.snapshotGuids('tank/w')).get(base));

  // The pool disappears; the backup host and its sshd stay up.
  await bak.exportPool('bpool');
  expect(await bak.pools()).toEqual([]);

  const started = Date.now();
  for (let h = 12; h <= 35; h++) {
    if (h % 3 === 0) await write('tank/w', `h${h}.bin`, 8);
    const r = await zback(['run', '--now', hour(h)]);
    expect(r.code).toBe(1);
    const line = lineMatching(r.stderr, /pool bpool is not imported/);
    expect(line).toMatch(/pool bpool is not imported/);
    expect(line).toContain('tank/w');
  }
  const perRun = (Date.now() - started) / 24;
  // The base is still there, with zback's hold …
  const kept = await src.snapshots('tank/w');
  expect(kept).toContain(base);
  expect(await userrefs(`tank/w@${base}`)).toBe('1');
  // … and retention went on pruning everything else: 6 hourly + the base + at most one in between.
  expect(kept.length).toBeLessThanOrEqual(6 + 1 + 1);
  expect(kept).toContain(snapAt(35));
  // Nothing was created on the backup host meanwhile (it has no pool to create anything in).
  expect(await bak.pools()).toEqual([]);

  // The pool comes back, with the same copy (same guids).
  await bak.importPool('bpool');
  expect(await bak.snapshotGuids('bpool/w')).toEqual(copyGuids);
  await write('tank/w', 'h36.bin');
  const back = await zback(['run', '--verbose', '--now', hour(36)]);
  ok(back);
  expect(back.stdout).toMatch(new RegExp(`tank/w → bak\\d+:bpool/w: incremental @${base} → @`));
  expect(back.stdout).not.toMatch(/: full @/);
  const copy = await bak.snapshotGuids('bpool/w');
  const source = await src.snapshotGuids('tank/w');
  // Old snapshots the destination's retention (6h, the source's) still keeps are the very same.
  for (const [name, guid] of copyGuids) if (copy.has(name)) expect(copy.get(name)).toBe(guid);
  const newest = [...copy.keys()].pop()!;
  expect(newest).toBe(snapAt(36));
  expect(copy.get(newest)).toBe(source.get(newest));
  expect(await bak.snapshotChecksums(`bpool/w@${newest}`)).toBe(await src.checksums('tank/w'));
  console.log(`chain-safety: 24 runs with bpool exported took ${Math.round(perRun)} ms per run`);
}, 600_000);

test('destination re-spelled (bakN → root@bakN) while its host is down: the base survives, then incremental', async () => {
  await dataset('tank/r');
  ok(await src.zback(['set', 'tank/r', '--snapshot', 'yes', '--retention', '2h', '--destinations', `bak${n}:bpool/r|hourly`]));
  ok(await zback(['run', '--now', hour(10)])); // seed
  await write('tank/r', 'h11.bin');
  ok(await zback(['run', '--now', hour(11)])); // incremental
  const base = snapAt(11);
  expect(await bak.snapshots('bpool/r')).toEqual([snapAt(10), base]);

  await bak.stopSshd();
  // The same host and target, now with the user spelled out (the lab's ssh config logs in as root anyway).
  ok(await src.zback(['set', 'tank/r', '--destinations', `root@bak${n}:bpool/r|hourly`]));
  for (const h of [12, 13, 14]) {
    await write('tank/r', `h${h}.bin`, 8);
    const r = await zback(['run', '--now', hour(h)]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/tank\/r: replication to root@bak\d+:bpool\/r: unreachable/);
    // Retention 2h would have pruned the base long ago; it stays, held.
    expect(await src.snapshots('tank/r')).toContain(base);
    expect(await userrefs(`tank/r@${base}`)).toBe('1');
  }

  await bak.sshd(port, true);
  const back = await zback(['run', '--verbose', '--now', hour(15)]);
  ok(back);
  // From the old base: -i to the first snapshot the destination's retention (2h) keeps, then on.
  expect(back.stdout).toMatch(new RegExp(`tank/r → root@bak\\d+:bpool/r: incremental @${base} → @${snapAt(14)}`));
  expect(back.stdout).toMatch(new RegExp(`tank/r → root@bak\\d+:bpool/r: incremental @${snapAt(14)} → @${snapAt(15)}`));
  expect(back.stdout).not.toMatch(/: full @/);
  // Both holds on the old base (the old spelling's and the new one's) are gone with it: nothing leaks.
  expect(await src.snapshots('tank/r')).not.toContain(base);
  expect(await bak.snapshots('bpool/r')).toContain(snapAt(15));
  expect(await bak.snapshotChecksums(`bpool/r@${snapAt(15)}`)).toBe(await src.checksums('tank/r'));
}, 300_000);

test('target replaced by an unrelated dataset: no snapshot in common is an error; nothing destroyed on either side', async () => {
  await dataset('tank/x');
  ok(await src.zback(['set', 'tank/x', '--snapshot', 'yes', '--retention', '1h', '--destinations', `bak${n}:bpool/x|hourly`]));
  ok(await zback(['run', '--now', hour(10)])); // seed
  const base = snapAt(10);
  expect((await src.snapshotGuids('tank/x')).get(base)).toBe((await bak.snapshotGuids('bpool/x')).get(base));

  // On the backup host someone moves the copy aside and puts an unrelated dataset in its place,
  // with a snapshot whose name looks like zback's.
  await bak.renameDataset('bpool/x', 'bpool/x.old');
  await bak.zfs('create', 'bpool/x');
  await bak.zfs('snapshot', 'bpool/x@2026-11-25-103000');
  const before = { x: await bak.snapshotGuids('bpool/x'), old: await bak.snapshotGuids('bpool/x.old') };
  expect([...before.x.keys()]).toEqual(['2026-11-25-103000']);
  expect([...before.old.keys()]).toEqual([base]);

  await write('tank/x', 'h12.bin');
  const r = await zback(['run', '--now', hour(12)]);
  expect(r.code).toBe(1);
  expect(lineMatching(r.stderr, /no snapshot in common/)).toMatch(/tank\/x: .*bak\d+:bpool\/x.*no snapshot in common/);
  // The base stays on the source, held, despite retention 1h.
  expect(await src.snapshots('tank/x')).toEqual([base, snapAt(12)]);
  expect(await userrefs(`tank/x@${base}`)).toBe('1');
  // Nothing changed on the backup host.
  expect(await bak.snapshotGuids('bpool/x')).toEqual(before.x);
  expect(await bak.snapshotGuids('bpool/x.old')).toEqual(before.old);
  expect((await bak.listAll()).filter((d) => !d.includes('@'))).toEqual(['bpool', 'bpool/x', 'bpool/x.old']);
}, 300_000);

test('copy renamed away: an error naming --reseed and nothing seeded; then re-seeded on purpose with --reseed', async () => {
  await dataset('tank/m');
  ok(await src.zback(['set', 'tank/m', '--snapshot', 'yes', '--retention', '24h', '--destinations', `bak${n}:bpool/m|hourly`]));
  ok(await zback(['run', '--now', hour(10)])); // seed
  const base = snapAt(10);
  await bak.renameDataset('bpool/m', 'bpool/m.moved');
  const moved = await bak.snapshotGuids('bpool/m.moved');
  expect([...moved.keys()]).toEqual([base]);

  await write('tank/m', 'h11.bin');
  const r = await zback(['run', '--now', hour(11)]);
  expect(r.code).toBe(1);
  const line = lineMatching(r.stderr, /is missing/);
  expect(line).toMatch(/tank\/m: .*bak\d+:bpool\/m.*is missing/);
  expect(r.stderr).toContain('--reseed');
  // Nothing seeded, the base kept and held.
  expect((await bak.listAll()).filter((d) => !d.includes('@'))).toEqual(['bpool', 'bpool/m.moved']);
  expect(await src.snapshots('tank/m')).toContain(base);
  expect(await userrefs(`tank/m@${base}`)).toBe('1');

  // A mistyped --reseed is a usage error: nothing runs (no snapshot, no seed).
  const typo = await zback(['run', '--reseed', `tank/m=bak${n}:bpool/mm`, '--now', hour(12)]);
  expect(typo.code).toBe(2);
  expect(typo.stderr).toMatch(/--reseed tank\/m=bak\d+:bpool\/mm: tank\/m has no such destination \(its destinations: bak\d+:bpool\/m\); nothing was done/);
  expect(await src.snapshots('tank/m')).not.toContain(snapAt(12));
  expect((await bak.listAll()).filter((d) => !d.includes('@'))).toEqual(['bpool', 'bpool/m.moved']);

  // The dry run shows the seed and every command with its condition.
  const dry = await zback(['run', '--dry-run', '--reseed', `tank/m=bak${n}:bpool/m`, '--now', hour(12)]);
  expect(dry.code).toBe(0);
  expect(dry.stdout).toMatch(/a1 +zfs snapshot tank\/m@2026-11-25-120000\n +due/);
  expect(dry.stdout).toMatch(/zfs send tank\/m@\S+ \| \[bak\d+\] zfs receive -u bpool\/m\n +seed bak\d+:bpool\/m with @\S+; after a1 \(snapshot\) succeeded/);
  expect(dry.stdout).toMatch(
    /zfs release zback:bak\d+:bpool\/m tank\/m@2026-11-25-100000\n +stale hold: no longer the base for bak\d+:bpool\/m; after a\d+ \(hold\) succeeded/,
  );
  const json = JSON.parse((await zback(['run', '--dry-run', '--json', '--reseed', `tank/m=bak${n}:bpool/m`, '--now', hour(12)])).stdout) as {
    plan: { actions: Array<{ op: string; argv: string[]; after: string[] }> };
  };
  expect(json.plan.actions.map((a) => a.op)).toEqual(expect.arrayContaining(['snapshot', 'send', 'mark-copy', 'hold', 'release']));

  // The operator asks for a new full copy.
  await write('tank/m', 'h12.bin');
  const reseed = await zback(['run', '--reseed', `tank/m=bak${n}:bpool/m`, '--now', hour(12)]);
  ok(reseed);
  const copy = await bak.snapshots('bpool/m');
  expect(copy[copy.length - 1]).toBe(snapAt(12));
  expect(await bak.snapshotChecksums(`bpool/m@${snapAt(12)}`)).toBe(await src.checksums('tank/m'));
  // The copy that was moved away is untouched.
  expect(await bak.snapshotGuids('bpool/m.moved')).toEqual(moved);
}, 300_000);

test('a managed dataset whose pool is exported: an error every run and critical in status, holds kept; back when imported; zback forget when gone for good', async () => {
  await src.pool('tank2');
  await src.zfs('create', 'tank2/v');
  await write('tank2/v', 'data.bin');
  await dataset('tank/keep');
  ok(await src.zback(['set', 'tank2/v', '--snapshot', 'yes', '--retention', '24h', '--destinations', `bak${n}:bpool/v|hourly`]));
  ok(await src.zback(['set', 'tank/keep', '--snapshot', 'yes', '--retention', '24h']));
  ok(await zback(['run', '--now', hour(10)]));
  const base = snapAt(10);
  expect(await userrefs(`tank2/v@${base}`)).toBe('1');

  await src.exportPool('tank2');
  for (const h of [11, 12]) {
    const r = await zback(['run', '--now', hour(h)]);
    expect(r.code).toBe(1);
    expect(lineMatching(r.stderr, /tank2\/v/)).toMatch(
      /^zback: tank2\/v: zback managed it, but it is not there now \(the pool tank2 is not imported\).*zpool import tank2.*zback forget 'tank2\/v'/,
    );
    // The other dataset goes on.
    expect(await src.snapshots('tank/keep')).toContain(snapAt(h));
  }
  const status = await zback(['status', '--check', '--now', hour(12)]);
  expect(status.code).toBe(2);
  expect(status.stdout).toMatch(/^ZBACK CRITICAL .*tank2\/v: zback managed it, but it is not there now/);
  // Refused while it exists somewhere? It does not: but a dataset that exists is never forgotten.
  const forgetCmd = (dataset: string) => src.zback(['forget', dataset, '--state-dir', join(lab.dir, `state-${n}`)]);
  const existing = await forgetCmd('tank/keep');
  expect(existing.code).toBe(2);
  expect(existing.stderr).toMatch(/tank\/keep exists: zback forgets only a dataset that is gone/);

  // Back: the hold recorded for it was kept, so the next run continues incrementally.
  await src.importPool('tank2');
  const back = await zback(['run', '--verbose', '--now', hour(13)]);
  ok(back);
  expect(back.stdout).toMatch(new RegExp(`tank2/v → bak\\d+:bpool/v: incremental @${base} → @${snapAt(13)}`));
  expect(await userrefs(`tank2/v@${base}`)).toBe('0');

  // Gone for good: forget it; the runs are quiet again.
  await src.exportPool('tank2');
  expect((await zback(['run', '--now', hour(14)])).code).toBe(1);
  const forget = await forgetCmd('tank2/v');
  expect(forget.code).toBe(0);
  expect(forget.stdout).toMatch(new RegExp(`^Forgot tank2/v\\.\\n  No longer tracked: hold zback:bak\\d+:bpool/v on tank2/v@${snapAt(13)}`));
  ok(await zback(['run', '--now', hour(15)]));
  expect((await zback(['status', '--check', '--now', hour(15)])).code).toBe(0);
}, 300_000);

test('a usage error stops every command before anything is read or changed', async () => {
  await dataset('tank/u');
  ok(await src.zback(['set', 'tank/u', '--snapshot', 'yes', '--retention', '24h', '--destinations', `bak${n}:bpool/u|hourly`]));
  ok(await zback(['run', '--now', hour(10)]));
  const pools = async () => [await src.listAll('name,userrefs,org.wit:retention,org.wit:snapshot'), await bak.listAll('name,userrefs')];
  const before = await pools();
  const state = join(lab.dir, `state-${n}`);
  const typo = await zback(['run', '--dryrun', '--now', hour(11)]);
  expect([typo.code, typo.stderr]).toEqual([2, expect.stringMatching(/^zback: Unknown argument: dryrun\n/)]);
  for (const argv of [
    ['run', '--now', hour(11), '--bogus', '--ssh-config', sshConfig(), '--state-dir', state],
    ['status', '--bogus', '--state-dir', state],
    ['set', 'tank/u', '--retention', '1h', '--bogus', '1'],
    ['unset', 'tank/u', '--retention', '--bogus'],
    ['forget', 'tank/u', '--bogus', '--state-dir', state],
    ['run', '--max-channels', 'many', '--state-dir', state],
    ['run', '--command-timeout', '99999999', '--state-dir', state],
    ['run', '--reseed', 'tank/u', '--state-dir', state],
    ['bogus-command'],
  ]) {
    const r = await src.zback(argv);
    expect([argv.join(' '), r.code, r.stdout]).toEqual([argv.join(' '), 2, '']);
    expect(r.stderr).toMatch(/^zback: /);
  }
  expect(await pools()).toEqual(before);
}, 120_000);

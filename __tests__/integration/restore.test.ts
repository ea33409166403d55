/**
 * zback restore (SPEC §12) against real zfs-fuse and a real sshd: data destroyed on the source comes
 * back from the backup host byte for byte, the swap the restore prints (run as printed) lets
 * replication carry on incrementally, the same through a restricted sink, and a restore whose
 * stream is cut or whose host is gone fails loudly and leaves nothing behind.
 */
import { readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { run, ZBACK, type Lab, type LabHost, type Result } from '../helpers/lab.js';
import { twoHosts } from '../helpers/two-hosts.js';

// 34000–35999: outside every other file's sshd ports.
const hosts = twoHosts('restore', (n) => 34000 + n + (process.pid % 200) * 10);
let lab: Lab;
let src: LabHost;
let bak: LabHost;
let n = 0;
beforeEach(() => ({ lab, src, bak, n } = hosts));

const sshConfig = () => join(bak.sshDir, 'config');
const state = () => join(lab.dir, `state-${n}`);
const zback = (args: string[]) => src.zback([...args, '--ssh-config', sshConfig(), '--state-dir', state()]);
const hour = (h: number) => new Date(Date.UTC(2026, 10, 25, h)).toISOString().replace('.000Z', 'Z');
const snapAt = (h: number) => hour(h).slice(0, 13).replace('T', '-') + '0000';
const ok = (r: Result) => expect([r.code, r.stderr]).toEqual([0, '']);

/** tank/d with data, replicated hourly to the backup host at 10:00, 11:00 and 12:00 (data changed each hour). */
async function replicated(target: string): Promise<void> {
  await src.datasetWithData('tank/d', 512);
  ok(await src.zback(['set', 'tank/d', '--snapshot', 'yes', '--retention', '24h', '--destinations', `bak${n}:${target}|hourly`]));
  for (const h of [10, 11, 12]) {
    await src.writeRandom('tank/d', `h${h}.bin`, 64);
    ok(await zback(['run', '--now', hour(h)]));
  }
}

/** A shell command as the restore printed it, run on the source (zfs-fuse may call a just-unmounted dataset busy once). */
async function asPrinted(line: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const r = await src.exec(['sh', '-c', line]);
    if (r.code === 0) return;
    if (attempt < 5 && /busy/.test(r.stderr)) {
      await new Promise((res) => setTimeout(res, 300));
      continue;
    }
    throw new Error(`${line}: ${r.stderr}`);
  }
}

test('data destroyed on the source comes back byte for byte; the printed swap lets replication carry on', async () => {
  await bak.zfs('create', 'bpool/c');
  await replicated('bpool/c/d');
  const at11 = await src.snapshotChecksums(`tank/d@${snapAt(11)}`);
  const at12 = await src.snapshotChecksums(`tank/d@${snapAt(12)}`);
  const guids = await src.snapshotGuids('tank/d');
  // The data is destroyed (as ransomware or a wrong rm would).
  expect((await src.exec(['sh', '-c', 'rm -f "$(zfs get -H -o value mountpoint tank/d)"/*'])).code).toBe(0);

  const list = await zback(['restore', '--list', 'tank/d']);
  ok(list);
  expect(list.stdout).toContain(`bak${n}:bpool/c/d: 3 snapshots`);
  expect(list.stdout.indexOf(snapAt(12))).toBeLessThan(list.stdout.indexOf(snapAt(10))); // newest first
  const json = JSON.parse((await zback(['restore', '--list', '--json'])).stdout) as {
    dataset: string;
    copy: string;
    snapshots: { name: string; guid: string }[];
  }[];
  expect(json.map((c) => [c.dataset, c.copy, c.snapshots.map((s) => [s.name, s.guid])])).toEqual([
    ['tank/d', `bak${n}:bpool/c/d`, [10, 11, 12].map((h) => [snapAt(h), guids.get(snapAt(h))])],
  ]);

  // Mistakes an operator under stress makes: each a clear message, nothing received.
  const before = await src.listAll();
  for (const [args, message] of [
    [['--from', `bak${n}`, '--to', 'tank/d'], /tank\/d: that dataset exists; zback restores only into a new dataset/],
    [['--from', `bak${n}`, '--to', 'tank/none/d'], /its parent tank\/none does not exist here/],
    [['--from', `bak${n}`, '--to', 'tank/r', '--at', '2026-01-01-0000'], /has no such snapshot \(its newest: /],
    [['--from', 'elsewhere', '--to', 'tank/r'], /its copies: bak\d+:bpool\/c\/d/],
    [['--to', 'tank/r'], /--from: name the copy/],
  ] as const) {
    const r = await zback(['restore', 'tank/d', ...args]);
    expect([r.code, r.stderr]).toEqual([2, expect.stringMatching(message)]);
  }
  const dry = await zback(['restore', 'tank/d', '--from', `bak${n}`, '--to', 'tank/r', '--dry-run']);
  ok(dry);
  expect(dry.stdout).toContain(`[bak${n}] zfs send bpool/c/d@${snapAt(12)} | zfs receive -u tank/r`);
  expect(await src.listAll()).toEqual(before);

  // An older snapshot, and the newest: both exactly what the source had.
  ok(await zback(['restore', 'tank/d', '--from', `bak${n}:bpool/c/d`, '--at', snapAt(11), '--to', 'tank/d.at11']));
  expect(await src.snapshotChecksums(`tank/d.at11@${snapAt(11)}`)).toBe(at11);
  expect((await src.snapshotGuids('tank/d.at11')).get(snapAt(11))).toBe(guids.get(snapAt(11)));
  const restored = await zback(['restore', 'tank/d', '--from', `bak${n}`, '--to', 'tank/d.restored']);
  ok(restored);
  expect(restored.stdout).toMatch(new RegExp(`Restored bak${n}:bpool/c/d@${snapAt(12)} into tank/d.restored: .* It is not mounted`));
  expect(await src.snapshotChecksums(`tank/d.restored@${snapAt(12)}`)).toBe(at12);
  expect((await src.getProp('tank/d.restored', 'mounted')).value).toBe('no');
  // zback's own marks of the copy did not come back with it.
  expect((await src.getProp('tank/d.restored', 'org.wit:replica-of')).value).toBe('-');

  // The swap, exactly as printed: the damaged dataset aside (and no longer managed), the restored one in its place.
  const text = restored.stdout;
  const steps = text
    .slice(text.indexOf('To put it in place of tank/d:'))
    .split('\n')
    .slice(1)
    .filter((l) => l.startsWith('  zfs '))
    .map((l) => l.trim().replace(/ {4}\(.*\)$/, ''));
  expect(steps).toEqual([
    'zfs unmount tank/d',
    'zfs rename tank/d tank/d.before-restore',
    'zfs set org.wit:snapshot=no tank/d.before-restore',
    'zfs set canmount=noauto tank/d.before-restore',
    'zfs rename tank/d.restored tank/d',
    'zfs set org.wit:snapshot=yes tank/d',
    'zfs set org.wit:retention=24h tank/d',
    `zfs set 'org.wit:destinations=bak${n}:bpool/c/d|hourly' tank/d`,
    'zfs mount tank/d',
  ]);
  for (const step of steps) await asPrinted(step);
  expect(await src.checksums('tank/d')).toBe(at12);

  // Replication carries on from the restored snapshot: an incremental, the same data on both sides.
  await src.writeRandom('tank/d', 'h13.bin', 64);
  ok(await zback(['run', '--now', hour(13)]));
  expect(await bak.snapshots('bpool/c/d')).toEqual([10, 11, 12, 13].map(snapAt));
  expect(await bak.snapshotChecksums(`bpool/c/d@${snapAt(13)}`)).toBe(await src.snapshotChecksums(`tank/d@${snapAt(13)}`));
  // The dataset set aside is left alone: no new snapshot there.
  expect(await src.snapshots('tank/d.before-restore')).toEqual([10, 11, 12].map(snapAt));
});

test('through a restricted sink: a snapshot under its root comes back; nothing outside it can be sent', async () => {
  await bak.zfs('create', 'bpool/off');
  await bak.zfs('create', 'bpool/other');
  await bak.zfs('snapshot', 'bpool/other@keep');
  const key = readFileSync(join(bak.sshDir, 'id_ed25519.pub'), 'utf8').trim();
  const log = join(lab.dir, `sink-${n}.log`);
  const sink = (more: string) =>
    writeFileSync(join(bak.sshDir, 'authorized_keys'), `restrict,command="${process.execPath} ${ZBACK} sink --root bpool/off${more} --log ${log}" ${key}\n`);
  sink('');
  await replicated('bpool/off/d');
  const at12 = await src.snapshotChecksums(`tank/d@${snapAt(12)}`);
  ok(await zback(['restore', '--list', 'tank/d']));
  // A sink is write-only unless its administrator lets the source read its copies back.
  const refused = await zback(['restore', 'tank/d', '--from', `bak${n}`, '--to', 'tank/back']);
  expect([refused.code, refused.stderr]).toEqual([
    1,
    expect.stringMatching(/the zback sink on bak\d+ does not send copies back: .*zback sink --allow-restore/),
  ]);
  expect((await src.exec(['zfs', 'list', 'tank/back'])).code).not.toBe(0);
  sink(' --allow-restore');
  ok(await zback(['restore', 'tank/d', '--from', `bak${n}`, '--to', 'tank/back']));
  expect(await src.snapshotChecksums(`tank/back@${snapAt(12)}`)).toBe(at12);
  // A copy outside the sink's root, named outright: refused there, nothing received here.
  const r = await zback(['restore', 'tank/d', '--from', `bak${n}:bpool/other`, '--to', 'tank/other']);
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/bpool\/other .*(outside this sink's root|does not exist)/);
  expect((await src.exec(['zfs', 'list', 'tank/other'])).code).not.toBe(0);
  // Asked outright with the source's key, as a compromised source would: refused and logged.
  const line = `echo "ZBACK_PID_0123456789ab $$" >&2; exec zfs send bpool/other@keep`;
  const asked = await run(['ssh', '-F', sshConfig(), `bak${n}`, line], { timeoutMs: 30_000 });
  expect([asked.code, asked.stderr]).toEqual([126, expect.stringMatching(/refused: bpool\/other is outside this sink's root/)]);
  expect(readFileSync(log, 'utf8')).toMatch(/refused: bpool\/other is outside this sink's root.*zfs send bpool\/other@keep/);
});

test('a restore whose stream is cut, stalls or is stopped by a signal, or whose host is gone, fails loudly and leaves nothing behind', async () => {
  await bak.zfs('create', 'bpool/c');
  await replicated('bpool/c/d');
  // What the backup host's send does to its stream, by the mode file: dies after 100 KB (a disk
  // error, a killed process), or stalls there (a hung disk); every other command runs as usual.
  const mode = join(lab.dir, `mode-${n}`);
  const wrapper = join(lab.dir, `wrapper-${n}.sh`);
  writeFileSync(
    wrapper,
    `#!/bin/sh\ncase "$SSH_ORIGINAL_COMMAND" in\n  *"exec zfs send bpool"*)\n    if [ "$(cat ${mode})" = cut ]; then sh -c "$SSH_ORIGINAL_COMMAND" | head -c 100000; exit 1; fi\n    sh -c "$SSH_ORIGINAL_COMMAND" | { head -c 100000; sleep 60; }; exit 1;;\n  *) exec sh -c "$SSH_ORIGINAL_COMMAND";;\nesac\n`,
  );
  chmodSync(wrapper, 0o755);
  const key = readFileSync(join(bak.sshDir, 'id_ed25519.pub'), 'utf8').trim();
  writeFileSync(join(bak.sshDir, 'authorized_keys'), `command="${wrapper}" ${key}\n`);
  const nothingLeft = async (to: string) => {
    expect((await src.exec(['zfs', 'list', to])).code).not.toBe(0);
    expect((await src.exec(['pgrep', '-af', `zfs receive -u ${to}`])).stdout).toBe('');
  };

  writeFileSync(mode, 'cut');
  const cut = await zback(['restore', 'tank/d', '--from', `bak${n}`, '--to', 'tank/cut']);
  expect(cut.code).toBe(1);
  expect(cut.stderr).toMatch(/^zback: restore of bak\d+:bpool\/c\/d@\S+ into tank\/cut failed: zfs send failed/m);
  await nothingLeft('tank/cut');

  writeFileSync(mode, 'stall');
  const started = Date.now();
  const stalled = await zback(['restore', 'tank/d', '--from', `bak${n}`, '--to', 'tank/stall', '--idle-timeout', '2']);
  expect(stalled.code).toBe(1);
  expect(stalled.stderr).toMatch(/^zback: restore of \S+ into tank\/stall failed: no progress for 2 s/m);
  expect(Date.now() - started).toBeLessThan(30_000);
  await nothingLeft('tank/stall');

  // SIGTERM (or Ctrl-C) in the middle of the stream: both ends stopped, at once.
  const running = zback(['restore', 'tank/d', '--from', `bak${n}`, '--to', 'tank/sig']);
  for (let i = 0; i < 400 && (await src.exec(['pgrep', '-f', 'zfs receive -u tank/sig'])).stdout === ''; i++) await new Promise((r) => setTimeout(r, 50));
  await new Promise((r) => setTimeout(r, 500));
  const signalled = Date.now();
  expect((await src.exec(['pkill', '-TERM', '-f', `bin/zback restore .*--state-dir ${state()}`])).code).toBe(0);
  const stopped = await running;
  expect(Date.now() - signalled).toBeLessThan(15_000);
  expect(stopped.code).toBe(1);
  expect(stopped.stderr).toMatch(/^zback: stopped by SIGTERM: the restore is being aborted$/m);
  expect(stopped.stderr).toMatch(/^zback: restore of \S+ into tank\/sig failed: stopped by SIGTERM/m);
  await nothingLeft('tank/sig');

  await bak.stopSshd();
  const gone = await zback(['restore', 'tank/d', '--from', `bak${n}`, '--to', 'tank/gone']);
  expect(gone.code).toBe(1);
  expect(gone.stderr).toMatch(/cannot connect to bak\d+/);
  const listed = await zback(['restore', '--list']);
  expect(listed.code).toBe(1);
  expect(listed.stdout).toMatch(/bak\d+:bpool\/c\/d: cannot connect/);
  await nothingLeft('tank/gone');
});

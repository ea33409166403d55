/**
 * The restricted sink (SPEC §10) against real zfs-fuse and a real sshd whose authorized_keys
 * forces `zback sink` for the source's key: zback's whole replication passes through it with no
 * change on the source; everything else a compromised source might try is refused, logged and
 * changes nothing; an append-only sink leaves pruning to `zback prune` on the backup host. And the
 * reverse: a hostile "backup host" (a forced command that answers crafted zfs output) fails only
 * itself, and the source loses nothing.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { withPidReport } from '../../lib/transport/quote.js';
import { run, ZBACK, type Lab, type LabHost, type Result } from '../helpers/lab.js';
import { twoHosts } from '../helpers/two-hosts.js';

// 32000–33999: outside every other file's sshd ports.
const hosts = twoHosts('sink', (n) => 32000 + n + (process.pid % 200) * 10);
let lab: Lab;
let src: LabHost;
let bak: LabHost;
let n = 0;
beforeEach(() => ({ lab, src, bak, n } = hosts));

const sshConfig = () => join(bak.sshDir, 'config');
const state = () => join(lab.dir, `state-${n}`);
const sinkLog = () => join(lab.dir, `sink-${n}.log`);
function zback(args: string[], opts: Parameters<LabHost['zback']>[1] = {}) {
  return src.zback([...args, '--ssh-config', sshConfig(), '--state-dir', state()], opts);
}
const hour = (h: number) => new Date(Date.UTC(2026, 10, 25, h)).toISOString().replace('.000Z', 'Z');
const snapAt = (h: number) => hour(h).slice(0, 13).replace('T', '-') + '0000';
const ok = (r: Result) => expect([r.code, r.stderr]).toEqual([0, '']);

/** The source's key may run only this on the backup host (as the README's authorized_keys line). */
function forceCommand(command: string): void {
  const key = readFileSync(join(bak.sshDir, 'id_ed25519.pub'), 'utf8').trim();
  writeFileSync(join(bak.sshDir, 'authorized_keys'), `restrict,command="${command}" ${key}\n`);
}
function forceSink(args: string): void {
  forceCommand(`${process.execPath} ${ZBACK} sink ${args} --log ${sinkLog()}`);
}
/** A command line sent with the source's key, as a compromised source would. */
const sshWithKey = (line: string, input = '') => run(['ssh', '-F', sshConfig(), `bak${n}`, line], { input, timeoutMs: 30_000 });
const asZback = (argv: string[]) => withPidReport('ZBACK_PID_0123456789ab', argv);
/** Every dataset and snapshot of the backup pool with its guid and holds: "nothing changed" is this being equal. */
const poolState = () => bak.zfs('get', '-H', '-p', '-o', 'name,property,value', '-r', 'guid,userrefs', 'bpool');
const log = () => (existsSync(sinkLog()) ? readFileSync(sinkLog(), 'utf8') : '');

async function managed(dataset: string, destinations: string, retention = '24h') {
  await src.datasetWithData(dataset);
  ok(await src.zback(['set', dataset, '--snapshot', 'yes', '--retention', retention, '--destinations', destinations]));
}

test('through a sink: seed (its parent created unmounted), incrementals and the destination pruned; the copy carries its retention', async () => {
  await bak.zfs('create', 'bpool/off');
  forceSink('--root bpool/off');
  await managed('tank/d', `bak${n}:bpool/off/web1/d|hourly|3h`);
  for (let h = 10; h <= 15; h++) {
    if (h > 10) await src.writeRandom('tank/d', `h${h}.bin`, 16);
    ok(await zback(['run', '--now', hour(h)]));
  }
  expect(await bak.snapshots('bpool/off/web1/d')).toEqual([13, 14, 15].map(snapAt));
  expect((await bak.getProp('bpool/off/web1', 'canmount')).value).toBe('off');
  expect((await bak.getProp('bpool/off/web1/d', 'org.wit:replica-retention')).value).toBe('3h');
  expect(await bak.snapshotChecksums(`bpool/off/web1/d@${snapAt(15)}`)).toBe(await src.snapshotChecksums(`tank/d@${snapAt(15)}`));
  expect(log()).not.toMatch(/refused/);
  // The source's own view is unchanged by the sink: status sees the copy as current.
  const status = await zback(['status', '--remote', '--json', '--now', hour(15)]);
  expect(status.code).toBe(0);
});

test('what a compromised source might try is refused with a message, logged, and changes nothing', async () => {
  await bak.zfs('create', 'bpool/off');
  await bak.zfs('create', 'bpool/other');
  await bak.zfs('snapshot', 'bpool/other@keep');
  forceSink('--root bpool/off --keep-days 7');
  await managed('tank/d', `bak${n}:bpool/off/d|hourly`);
  ok(await zback(['run', '--now', hour(10)]));
  const copy = `bpool/off/d@${snapAt(10)}`;
  const before = await poolState();

  const attempts: Array<[string, string, RegExp]> = [
    ['a shell', 'sh -c "zfs destroy -r bpool"', /not a command zback sends/],
    ['an interactive login', '', /no command/],
    ['zfs destroy -r', asZback(['zfs', 'destroy', '-r', copy]), /never allowed/],
    ['destroy of the copy itself', asZback(['zfs', 'destroy', 'bpool/off/d']), /only snapshots/],
    ["destroy of another root's snapshot", asZback(['zfs', 'destroy', 'bpool/other@keep']), /outside this sink's root/],
    ['recv -F', asZback(['zfs', 'receive', '-u', '-F', 'bpool/off/d']), /-F/],
    ['rollback', asZback(['zfs', 'rollback', '-r', copy]), /rollback is never allowed/],
    ['a receive outside the root', asZback(['zfs', 'receive', '-u', 'bpool/other/x']), /outside this sink's root/],
    ['a destroy younger than --keep-days', asZback(['zfs', 'destroy', copy]), /younger than this sink's floor of 7 days/],
    ['a second command', `${asZback(['zfs', 'version'])}; zfs destroy ${copy}`, /not quoted the way zback quotes it/],
    ['release of a user hold', asZback(['zfs', 'release', 'keep', copy]), /zback's own hold tag/],
  ];
  for (const [what, line, message] of attempts) {
    const r = await sshWithKey(line);
    expect([what, r.code, r.stderr]).toEqual([what, 126, expect.stringMatching(message)]);
    expect(r.stderr).toMatch(/^zback sink: refused: /m);
  }
  expect(await poolState()).toBe(before);
  // One log line per refusal, each with the command it refused.
  expect(log().split('\n').filter((l) => / refused: /.test(l))).toHaveLength(attempts.length);
  expect(log()).toContain('zfs destroy -r');
});

test('append-only: the source holds and destroys nothing there and reports no error; zback prune on the backup host prunes by the copy’s retention', async () => {
  await bak.zfs('create', 'bpool/off');
  forceSink('--root bpool/off --append-only');
  await managed('tank/d', `bak${n}:bpool/off/d|hourly|2h`);
  for (let h = 10; h <= 14; h++) {
    if (h > 10) await src.writeRandom('tank/d', `h${h}.bin`, 8);
    ok(await zback(['run', '--now', hour(h)]));
  }
  const all = [10, 11, 12, 13, 14].map(snapAt);
  expect(await bak.snapshots('bpool/off/d')).toEqual(all);
  const refs = await bak.zfs('get', '-H', '-o', 'value', '-r', 'userrefs', 'bpool/off/d');
  expect(refs.trim().split('\n').filter((v) => v !== '-' && v !== '0')).toEqual([]);
  expect(log()).not.toMatch(/refused/);

  // On the backup host: a dry run changes nothing, and says what would go.
  const dry = await bak.zback(['prune', '--root', 'bpool/off', '--dry-run', '--now', hour(14)]);
  expect(dry.code).toBe(0);
  expect(dry.stdout).toContain(`- destroy @${snapAt(10)}`);
  expect(await bak.snapshots('bpool/off/d')).toEqual(all);
  // The floor: every copy snapshot was created minutes ago, so --keep-days 1 keeps them all.
  ok(await bak.zback(['prune', '--root', 'bpool/off', '--keep-days', '1', '--now', hour(14)]));
  expect(await bak.snapshots('bpool/off/d')).toEqual(all);
  ok(await bak.zback(['prune', '--root', 'bpool/off', '--now', hour(14)]));
  expect(await bak.snapshots('bpool/off/d')).toEqual([13, 14].map(snapAt));

  // Replication goes on from the copy's newest snapshot, which prune kept.
  await src.writeRandom('tank/d', 'h15.bin', 8);
  ok(await zback(['run', '--now', hour(15)]));
  expect(await bak.snapshots('bpool/off/d')).toEqual([13, 14, 15].map(snapAt));
});

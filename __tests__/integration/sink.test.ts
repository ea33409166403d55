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
import { spawn } from 'node:child_process';
import { killCommand, withPidReport } from '../../lib/transport/quote.js';
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
const sshWithKey = (line: string, input: string | Buffer = '') => run(['ssh', '-F', sshConfig(), `bak${n}`, line], { input, timeoutMs: 30_000 });
const asZback = (argv: string[]) => withPidReport('ZBACK_PID_0123456789ab', argv);
/** Every dataset and snapshot of the backup pool with its guid and holds: "nothing changed" is this being equal. */
const poolState = () => bak.zfs('get', '-H', '-p', '-o', 'name,property,value', '-r', 'guid,userrefs', 'bpool');
const log = () => (existsSync(sinkLog()) ? readFileSync(sinkLog(), 'utf8') : '');

async function managed(dataset: string, destinations: string, retention = '24h') {
  await src.datasetWithData(dataset);
  ok(await src.zback(['set', dataset, '--snapshot', 'yes', '--retention', retention, ...(destinations ? ['--destinations', destinations] : [])]));
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

  // Real zfs-fuse stream headers (the sink decides on the first records; see lib/sink/stream-header.ts).
  const stream = (name: string) => readFileSync(new URL(`../fixtures/zfs-fuse/streams/${name}.bin`, import.meta.url));
  const attempts: Array<[string, string, RegExp, Buffer?]> = [
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
    [
      'a replication stream (-R: mountpoint, setuid… as received properties)',
      asZback(['zfs', 'receive', '-u', 'bpool/off/evil']),
      /replication or properties stream/,
      stream('replicate'),
    ],
    ['a properties stream (-p)', asZback(['zfs', 'receive', '-u', 'bpool/off/evil']), /replication or properties stream/, stream('props')],
    ['a clone stream (ties the copy to a snapshot elsewhere)', asZback(['zfs', 'receive', '-u', 'bpool/off/evil']), /a clone stream/, stream('clone')],
    ['the mark of the root itself', asZback(['zfs', 'set', 'canmount=off', 'bpool/off']), /this sink's root/],
  ];
  for (const [what, line, message, input] of attempts) {
    const r = await sshWithKey(line, input);
    expect([what, r.code, r.stderr]).toEqual([what, 126, expect.stringMatching(message)]);
    expect(r.stderr).toMatch(/^zback sink: refused: /m);
  }
  expect(await poolState()).toBe(before);
  // One log line per refusal, each with the command it refused.
  expect(
    log()
      .split('\n')
      .filter((l) => / refused: /.test(l)),
  ).toHaveLength(attempts.length);
  expect(log()).toContain('zfs destroy -r');
});

test('a command the source stops (its deadline, a signal) is stopped through the sink; nothing else can be signalled', async () => {
  await bak.zfs('create', 'bpool/off');
  forceSink('--root bpool/off');
  // A receive waiting for its stream: what a stalled send leaves on the backup host.
  const marker = 'ZBACK_PID_00000000000a';
  const session = spawn('ssh', ['-F', sshConfig(), `bak${n}`, withPidReport(marker, ['zfs', 'receive', '-u', 'bpool/off/stalled'])], {
    stdio: ['pipe', 'ignore', 'pipe'],
  });
  const ended = new Promise<number | null>((resolve) => session.on('exit', (code) => resolve(code)));
  // The start of a real stream, then nothing more: the sink passes it on, zfs receive waits for the rest.
  session.stdin.write(readFileSync(new URL('../fixtures/zfs-fuse/streams/full.bin', import.meta.url)));
  const pid = await new Promise<number>((resolve, reject) => {
    let err = '';
    const timer = setTimeout(() => reject(new Error(`no PID report: ${err}`)), 20_000);
    session.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      const m = new RegExp(`^${marker} (\\d+)$`, 'm').exec(err);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
  });
  // The PID is reported just before zfs starts.
  for (let i = 0; i < 100 && bak.processes(/zfs receive -u bpool\/off\/stalled/).length === 0; i++) await new Promise((r) => setTimeout(r, 50));
  expect(bak.processes(/zfs receive -u bpool\/off\/stalled/)).toHaveLength(1);
  // The backup host's own processes (here its ZFS daemon) are not the source's to stop.
  const daemon = Number(readFileSync(join(lab.dir, `bak${n}`, 'daemon.pid'), 'utf8').trim());
  const refused = await sshWithKey(killCommand(daemon));
  expect([refused.code, refused.stderr]).toEqual([126, expect.stringMatching(/process \d+ is not one of this sink's running commands/)]);
  const stopped = await sshWithKey(killCommand(pid));
  expect([stopped.code, stopped.stderr]).toEqual([0, '']);
  expect(await ended).not.toBe(0);
  expect(bak.processes(/zfs receive -u bpool\/off\/stalled/)).toEqual([]);
  expect(await bak.zfs('list', '-H', '-o', 'name', '-r', 'bpool/off')).toBe('bpool/off\n');
  session.stdin.end();
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
  expect(
    refs
      .trim()
      .split('\n')
      .filter((v) => v !== '-' && v !== '0'),
  ).toEqual([]);
  expect(log()).not.toMatch(/refused/);
  // The retention zback prune applies is the backup host's once recorded: the source cannot widen it.
  const copyRetention = () => bak.getProp('bpool/off/d', 'org.wit:replica-retention');
  expect((await copyRetention()).value).toBe('2h');
  const widen = await sshWithKey(asZback(['zfs', 'set', 'org.wit:replica-retention=1y', 'bpool/off/d']));
  expect([widen.code, widen.stderr]).toEqual([126, expect.stringMatching(/append-only: bpool\/off\/d already has org.wit:replica-retention=2h/)]);
  expect((await copyRetention()).value).toBe('2h');
  const hold = await sshWithKey(asZback(['zfs', 'hold', 'zback:replica', `bpool/off/d@${snapAt(10)}`]));
  expect([hold.code, hold.stderr]).toEqual([126, expect.stringMatching(/append-only: zback places no holds/)]);

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

/**
 * A "backup host" that lies: a forced command answering crafted zfs output. `mode` picks the lie;
 * every command it is sent is appended to a record file.
 */
function forceHostile(mode: 'flood' | 'token' | 'guids', extra: Record<string, string> = {}): string {
  const record = join(lab.dir, `hostile-${n}.log`);
  const script = join(lab.dir, `hostile-${n}.mjs`);
  writeFileSync(
    script,
    `
import { appendFileSync } from 'node:fs';
const line = process.env.SSH_ORIGINAL_COMMAND ?? '';
appendFileSync(${JSON.stringify(record)}, line + '\\n');
const mode = ${JSON.stringify(mode)};
const extra = ${JSON.stringify(extra)};
const m = /ZBACK_PID_[0-9a-f]{12}/.exec(line);
if (m) process.stderr.write(m[0] + ' ' + process.pid + '\\n');
const out = (s) => process.stdout.write(s);
if (/ zfs version$/.test(line)) {
  // Claims OpenZFS (resumable receives, encryption) and tries to take over the operator's terminal.
  out('zfs-2.3.2-1\\nzfs-kmod-2.3.2-1\\n');
  process.stderr.write('\\u001b]0;owned\\u0007\\u001b[2J\\u001b[31mwarning\\u001b[0m\\n');
} else if (/ zfs list /.test(line)) {
  out('bpool\\nbpool/h\\nbpool/h/d\\n');
} else if (/ zfs get /.test(line)) {
  if (mode === 'flood') {
    const chunk = ('bpool/h/d\\tguid\\t1\\n').repeat(4096);
    const more = () => { while (process.stdout.write(chunk)); };
    process.stdout.on('drain', more);
    process.stdout.on('error', () => process.exit(0));
    more();
  } else {
    const rows = ['bpool/h/d\\tguid\\t77', 'bpool/h/d\\tcreatetxg\\t5', 'bpool/h/d\\tuserrefs\\t-', 'bpool/h/d\\tencryption\\toff'];
    if (mode === 'token') rows.push('bpool/h/d\\treceive_resume_token\\t' + extra.token);
    if (mode === 'guids') rows.push('bpool/h/d@' + extra.name + '\\tguid\\t' + extra.guid, 'bpool/h/d@' + extra.name + '\\tcreatetxg\\t6', 'bpool/h/d@' + extra.name + '\\tuserrefs\\t0');
    out(rows.join('\\n') + '\\n');
  }
} else if (/ zfs receive -u /.test(line)) {
  let bytes = 0;
  process.stdin.on('data', (d) => (bytes += d.length));
  process.stdin.on('end', () => { appendFileSync(${JSON.stringify(record)}, 'received ' + bytes + ' bytes\\n'); process.exit(1); });
} else {
  process.exitCode = 0;
}
`,
  );
  forceCommand(`${process.execPath} ${script}`);
  return record;
}

describe('a hostile backup host fails only itself; the source loses nothing', () => {
  // Everything on the source before and after: no snapshot of it may go because of what the host says.
  const sourceState = () => src.zfs('get', '-H', '-p', '-o', 'name,property,value', '-r', 'guid,userrefs', 'tank');

  test('gigabytes of output are cut at the cap, and escape sequences never reach the terminal or the log', async () => {
    await managed('tank/d', `bak${n}:bpool/h/d|hourly`);
    const record = forceHostile('flood');
    const logFile = join(lab.dir, `zback-${n}.log`);
    const started = Date.now();
    const r = await zback(['run', '--now', hour(10), '--log-file', logFile], { timeoutMs: 180_000 });
    const seconds = (Date.now() - started) / 1000;
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/printed more than 256 MiB; it was stopped/);
    expect(seconds).toBeLessThan(120);
    // The source's own work went on: its snapshot was taken, nothing was sent.
    expect(await src.snapshots('tank/d')).toEqual([snapAt(10)]);
    expect(readFileSync(record, 'utf8')).not.toMatch(/zfs receive/);
    for (const text of [r.stdout, r.stderr, readFileSync(logFile, 'utf8')]) expect(text).not.toContain('\u001b');
  });

  test('a resume token the source cannot check is never used: the partial receive is discarded, nothing is sent', async () => {
    await managed('tank/d', '');
    ok(await src.zback(['run', '--now', hour(9), '--state-dir', state()])); // a snapshot; no destination yet
    ok(await src.zback(['set', 'tank/d', '--destinations', `bak${n}:bpool/h/d|hourly`]));
    const before = await sourceState();
    // A token that (decoded) would name another dataset: zfs-fuse cannot decode it, so it cannot be checked.
    const record = forceHostile('token', { token: '1-e604ea4bf-e0-789c63' });
    const zfsLog = join(lab.dir, `zfs-${n}.log`);
    const r = await zback(['run', '--now', hour(10)], { zfsLog });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/resume token/);
    expect(readFileSync(zfsLog, 'utf8')).not.toMatch(/^send/m); // nothing left this machine
    expect(readFileSync(record, 'utf8')).toMatch(/zfs receive -A bpool\/h\/d/);
    expect(readFileSync(record, 'utf8')).not.toMatch(/received/);
    // Only the new snapshot was added; nothing of the source went.
    const after = await sourceState();
    expect(after.split('\n').filter((l) => !l.includes(snapAt(10)))).toEqual(before.split('\n'));
  });

  test('forged guids (the host claims the source’s newest snapshot under another name): the send fails there, the source keeps everything', async () => {
    await managed('tank/d', '', '2h');
    for (const h of [7, 8, 9]) ok(await src.zback(['run', '--now', hour(h), '--state-dir', state()]));
    ok(await src.zback(['set', 'tank/d', '--destinations', `bak${n}:bpool/h/d|hourly`]));
    const guids = await src.snapshotGuids('tank/d');
    const record = forceHostile('guids', { name: 'fake', guid: guids.get(snapAt(9))! });
    const r = await zback(['run', '--now', hour(10)]);
    // Only that destination fails (its receive), nothing is refused by the interlock.
    expect([r.code, r.stderr]).toEqual([1, expect.stringMatching(/^zback: tank\/d: replication to bak\d+:bpool\/h\/d failed: zfs recv failed \(exit 1\)\n$/)]);
    // The source's retention (2h) and nothing else decides what goes here: 9 (the "common"
    // snapshot the host claims) stays as the base, 10 is new; 8 goes by retention (7 went at 9).
    expect(await src.snapshots('tank/d')).toEqual([9, 10].map(snapAt));
    expect(readFileSync(record, 'utf8')).not.toMatch(/destroy|rollback|-F/);
  });
});

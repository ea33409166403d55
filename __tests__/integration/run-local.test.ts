/**
 * `zback run` on one host against real zfs-fuse pools: discovery, due snapshots, pruning,
 * foreign and held snapshots, dry run, lock, failures, set/unset, command counts.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Lab, lockIsFree, run, ZBACK, type LabHost } from '../helpers/lab.js';
import { splayDelayMs } from '../../lib/cli/splay.js';

let lab: Lab;
let host: LabHost;
let hostCount = 0;

beforeAll(() => {
  lab = new Lab('run-local');
});
afterAll(async () => {
  await lab?.stop();
});

/** Every test gets a fresh host with an empty pool `tank`, so runs never see another test's data. */
beforeEach(async () => {
  host = await lab.start(`h${++hostCount}`);
  await host.pool('tank');
});

const state = () => ['--state-dir', join(lab.dir, `state-${hostCount}`)];
const BERLIN = ['--timezone', 'Europe/Berlin'];

async function snapshotAll(h: LabHost, root: string, names: string[]): Promise<void> {
  for (const n of names) await h.zfs('snapshot', '-r', `${root}@${n}`);
}

test('discovery: inherited configuration is managed, received configuration is left alone', async () => {
  await host.zfs('create', 'tank/data');
  await host.zfs('create', 'tank/data/web');
  await host.zfs('create', 'tank/plain');
  // A replicated copy: configuration that arrives with `zfs send -R` has source "received".
  await host.zfs('create', 'tank/src');
  await host.zfs('create', 'tank/src/child');
  await host.zfs('set', 'org.wit:snapshot=yes', 'tank/src');
  await host.zfs('set', 'org.wit:retention=1h', 'tank/src');
  await snapshotAll(host, 'tank/src', ['2026-11-01-000000', '2026-11-02-000000']);
  const send = await host.exec(['sh', '-c', 'zfs send -R tank/src@2026-11-02-000000 | zfs recv -u tank/recv']);
  expect(send.code).toBe(0);
  expect((await host.getProp('tank/recv', 'org.wit:snapshot')).source).toBe('received');
  expect((await host.getProp('tank/recv/child', 'org.wit:snapshot')).source).toBe('inherited from tank/recv');
  // The source itself is reconfigured so that it is not what this test is about.
  await host.zfs('inherit', 'org.wit:snapshot', 'tank/src');
  await host.zfs('set', 'org.wit:snapshot=yes', 'tank/data');
  await host.zfs('set', 'org.wit:retention=24h', 'tank/data');

  const before = await host.listAll();
  const r = await host.zback(['run', '--now', '2026-11-25T12:00:00Z', ...state()]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  const after = await host.listAll();
  const added = after.filter((n) => !before.includes(n));
  expect(added).toEqual(['tank/data/web@2026-11-25-120000', 'tank/data@2026-11-25-120000']);
  // The received copies keep both old snapshots although retention 1h would prune one of them.
  expect(await host.snapshots('tank/recv')).toEqual(['2026-11-01-000000', '2026-11-02-000000']);
  expect(await host.snapshots('tank/recv/child')).toEqual(['2026-11-01-000000', '2026-11-02-000000']);

  const dry = await host.zback(['run', '--dry-run', '--verbose', '--now', '2026-11-25T12:30:00Z', ...state()]);
  expect(dry.code).toBe(0);
  expect(dry.stdout).toMatch(/tank\/recv: replicated copy: its zback properties were received/);
  expect(dry.stdout).toMatch(/tank\/recv\/child: replicated copy/);
});

test('snapshots are taken when due and not when not due; children share one atomic snapshot', async () => {
  await host.zfs('create', 'tank/d');
  await host.zfs('create', 'tank/d/a');
  await host.zfs('create', 'tank/d/b');
  await host.zfs('set', 'org.wit:snapshot=yes', 'tank/d');
  await host.zfs('set', 'org.wit:retention=48h', 'tank/d');
  const at = async (now: string) => {
    const r = await host.zback(['run', '--now', now, ...state()]);
    expect([r.code, r.stderr]).toEqual([0, '']);
  };
  await at('2026-11-25T10:05:00Z');
  await at('2026-11-25T10:10:00Z'); // same hour: not due
  await at('2026-11-25T10:59:59Z'); // still the same hour
  await at('2026-11-25T11:00:00Z'); // the tick itself: due
  await at('2026-11-25T11:30:00Z');
  for (const ds of ['tank/d', 'tank/d/a', 'tank/d/b']) {
    expect(await host.snapshots(ds)).toEqual(['2026-11-25-100500', '2026-11-25-110000']);
  }
  // `zfs snapshot -r` made them in one transaction group: the same createtxg on every dataset.
  const txgs = new Set(
    (await host.zfs('get', '-H', '-p', '-o', 'value', '-r', 'createtxg', 'tank/d')).trim().split('\n').slice(3), // the three datasets' own createtxg come first (sorted by name: tank/d, tank/d@…)
  );
  expect(txgs.size).toBeGreaterThan(0);
  const byName = (await host.zfs('get', '-H', '-p', '-o', 'name,value', '-r', 'createtxg', 'tank/d')).trim().split('\n');
  const txgOf = (snap: string) => byName.filter((l) => l.split('\t')[0]!.endsWith(`@${snap}`)).map((l) => l.split('\t')[1]);
  expect(new Set(txgOf('2026-11-25-110000')).size).toBe(1);
  expect(txgOf('2026-11-25-110000')).toHaveLength(3);
});

test('pruning a recreated history keeps exactly the snapshots the rules keep; foreign and held survive', async () => {
  await host.zfs('create', 'tank/h');
  await host.zfs('create', 'tank/h/child');
  await snapshotAll(host, 'tank/h', [
    '2026-11-20-100000',
    '2026-11-21-100000', // held below
    '2026-11-22-230000', // 00:00 on the 23rd in Berlin
    '2026-11-23-050000',
    '2026-11-24-080000',
    '2026-11-24-090000',
    '2026-11-25-080000',
    '2026-11-25-090000',
    '2026-11-25-093000',
    '2026-11-25-100000',
    '2026-11-25-110000',
    '2026-11-25-114500',
  ]);
  await host.zfs('snapshot', 'tank/h@manual-keep');
  await host.zfs('snapshot', 'tank/h@2026-11-19-000000-not-zback');
  await host.zfs('hold', 'keep', 'tank/h@2026-11-21-100000');
  await host.zfs('set', 'org.wit:snapshot=yes', 'tank/h');
  await host.zfs('set', 'org.wit:retention=4h3d', 'tank/h');

  const r = await host.zback(['run', ...BERLIN, '--now', '2026-11-25T12:10:00Z', ...state()]);
  expect([r.code, r.stderr, r.stdout]).toEqual([0, '', '']);
  const expected = [
    '2026-11-21-100000', // held
    '2026-11-22-230000', // daily 3/3: oldest of Berlin's Nov 23 (in UTC it would be 2026-11-23-050000)
    '2026-11-24-080000', // daily 2/3
    '2026-11-25-080000', // daily 1/3
    '2026-11-25-090000', // hourly 4/4
    '2026-11-25-100000', // hourly 3/4
    '2026-11-25-110000', // hourly 2/4 (oldest of its hour; 11:45 goes)
    '2026-11-25-121000', // taken by this run: hourly 1/4 and newest
  ];
  const foreign = ['manual-keep', '2026-11-19-000000-not-zback'];
  expect((await host.snapshots('tank/h')).sort()).toEqual([...expected, ...foreign].sort());
  // The hold is on tank/h only: the child's snapshot of that hour is not kept by it.
  expect((await host.snapshots('tank/h/child')).sort()).toEqual(expected.filter((n) => n !== '2026-11-21-100000'));
  expect((await host.getProp('tank/h@2026-11-21-100000', 'userrefs')).value).toBe('1');

  // Right after, nothing more to do: a second run changes nothing.
  const before = await host.listAll('name,userrefs');
  const again = await host.zback(['run', ...BERLIN, '--now', '2026-11-25T12:15:00Z', ...state()]);
  expect(again.code).toBe(0);
  expect(await host.listAll('name,userrefs')).toEqual(before);
});

test('a dry run prints the plan and changes nothing (datasets, snapshots and holds identical)', async () => {
  await host.zfs('create', 'tank/p');
  await host.zfs('create', 'tank/p/c');
  await snapshotAll(host, 'tank/p', ['2026-11-25-080000', '2026-11-25-083000', '2026-11-25-090000']);
  await host.zfs('hold', 'mine', 'tank/p@2026-11-25-083000');
  await host.zfs('set', 'org.wit:snapshot=yes', 'tank/p');
  await host.zfs('set', 'org.wit:retention=2h', 'tank/p');
  const before = await host.listAll('name,userrefs');
  const log = join(lab.dir, `zfs-${hostCount}.log`);
  const r = await host.zback(['run', '--dry-run', '--verbose', '--now', '2026-11-25T10:00:00Z', ...state()], { zfsLog: log });
  expect(r.code).toBe(0);
  expect(await host.listAll('name,userrefs')).toEqual(before);
  // Only read-only commands ran.
  const ran = lab.readLog(log);
  expect(ran.length).toBeGreaterThan(0);
  for (const line of ran) expect(line).toMatch(/^(version|get|list)\b/);
  expect(r.stdout).toContain('nothing will be changed');
  expect(r.stdout).toContain('retention 2h keeps the oldest snapshot of each of the last 2 hours that have one');
  expect(r.stdout).toContain('+ snapshot tank/p@2026-11-25-100000');
  expect(r.stdout).toMatch(/- destroy\s+tank\/p@2026-11-25-080000/);
  expect(r.stdout).toMatch(/keep\s+2026-11-25-083000\s+held \(1 user hold\)/);
  expect(r.stdout).toContain('zfs snapshot -r tank/p@2026-11-25-100000');
  expect(r.stdout).toContain('zfs destroy tank/p/c@2026-11-25-080000');
  // A dry run needs no lock and leaves no state behind.
  expect(existsSync(join(lab.dir, `state-${hostCount}`))).toBe(false);
});

test('two overlapping runs: the second exits 75 at once and changes nothing', async () => {
  await host.zfs('create', 'tank/l');
  await host.zfs('set', 'org.wit:snapshot=yes', 'tank/l');
  await host.zfs('set', 'org.wit:retention=24h', 'tank/l');
  const stateDir = join(lab.dir, `state-${hostCount}`);
  // The first run is slowed down (every zfs call takes 1.5 s) so that it holds the lock for a while.
  let firstDone = false;
  const first = host.zback(['run', '--now', '2026-11-25T10:00:00Z', '--state-dir', stateDir], { zfsDelayS: 1.5 }).then((r) => {
    firstDone = true;
    return r;
  });
  const lockFile = join(stateDir, 'run.lock');
  for (let i = 0; i < 100 && !existsSync(lockFile); i++) await new Promise((res) => setTimeout(res, 50));
  expect(existsSync(lockFile)).toBe(true);
  const log = join(lab.dir, `zfs-lock-${hostCount}.log`);
  const second = await host.zback(['run', '--now', '2026-11-25T10:00:00Z', '--state-dir', stateDir], { zfsLog: log });
  expect(firstDone).toBe(false);
  expect(second.code).toBe(75);
  expect(second.stderr).toMatch(/another zback run \(pid \d+, started .*\) holds the lock/);
  expect(lab.readLog(log)).toEqual([]); // it did not even look at ZFS
  const r = await first;
  expect([r.code, r.stderr]).toEqual([0, '']);
  expect(await host.snapshots('tank/l')).toEqual(['2026-11-25-100000']);
  expect(lockIsFree(lockFile)).toBe(true);
});

test('a bad property fails only its dataset: the others are done, exit 1, the error names everything', async () => {
  for (const ds of ['tank/good', 'tank/bad', 'tank/hostile', 'tank/sched']) {
    await host.zfs('create', ds);
    await host.zfs('set', 'org.wit:snapshot=yes', ds);
    await host.zfs('set', 'org.wit:retention=24h', ds);
  }
  await host.zfs('create', 'tank/bad/kid');
  await host.zfs('set', 'org.wit:retention=24q', 'tank/bad');
  await host.zfs('set', 'org.wit:destinations=host:pool/x;touch /tmp/zback-owned|daily', 'tank/hostile');
  await host.zfs('set', 'org.wit:schedule=every tuesday', 'tank/sched');
  const r = await host.zback(['run', '--now', '2026-11-25T10:00:00Z', ...state()]);
  expect(r.code).toBe(1);
  expect(r.stderr).toContain('tank/bad: org.wit:retention="24q" is invalid: unknown unit "q"');
  expect(r.stderr).toContain('tank/bad/kid: org.wit:retention="24q" (inherited from tank/bad) is invalid');
  expect(r.stderr).toMatch(/tank\/hostile: org\.wit:destinations="host:pool\/x;touch \/tmp\/zback-owned\|daily" is invalid: .*invalid character ";"/);
  expect(r.stderr).toMatch(/tank\/sched: org\.wit:schedule="every tuesday" is invalid: unknown schedule/);
  expect(await host.snapshots('tank/good')).toEqual(['2026-11-25-100000']);
  for (const ds of ['tank/bad', 'tank/bad/kid', 'tank/hostile', 'tank/sched']) expect(await host.snapshots(ds)).toEqual([]);
  expect(existsSync('/tmp/zback-owned')).toBe(false);
});

test('discovery costs the same number of zfs commands for 1 and for 30 datasets', async () => {
  const count = async (label: string) => {
    const log = join(lab.dir, `zfs-count-${label}-${hostCount}.log`);
    const r = await host.zback(['run', '--dry-run', '--now', '2026-11-25T10:00:00Z', ...state()], { zfsLog: log });
    expect(r.code).toBe(0);
    return lab.readLog(log);
  };
  await host.zfs('create', 'tank/n');
  await host.zfs('set', 'org.wit:snapshot=yes', 'tank/n');
  await host.zfs('set', 'org.wit:retention=24h', 'tank/n');
  const one = await count('1');
  for (let i = 1; i < 30; i++) {
    await host.zfs('create', `tank/m${i}`);
    await host.zfs('set', 'org.wit:snapshot=yes', `tank/m${i}`);
    await host.zfs('set', 'org.wit:retention=24h', `tank/m${i}`);
  }
  const thirty = await count('30');
  // version, the configuration read twice (the cross-check against forged values), the inventory;
  // the list of every dataset only when one zback recorded is not configured now (see the tests of
  // a managed dataset that disappeared), never in a steady state like this one.
  expect(one.map((l) => l.split(' ')[0])).toEqual(['version', 'get', 'get', 'get']);
  expect(thirty.length).toBe(one.length);
});

test('from cron a successful run prints nothing; --verbose shows the commands', async () => {
  await host.zfs('create', 'tank/q');
  await host.zback(['set', 'tank/q', '--snapshot', 'yes', '--retention', '24h']);
  const quiet = await host.zback(['run', '--now', '2026-11-25T10:00:00Z', ...state()]);
  expect(quiet).toMatchObject({ code: 0, stdout: '', stderr: '' });
  const loud = await host.zback(['run', '--verbose', '--now', '2026-11-25T11:00:00Z', ...state()]);
  expect(loud.code).toBe(0);
  expect(loud.stdout).toContain('[local] zfs snapshot tank/q@2026-11-25-110000');
  expect(loud.stdout).toContain('tank/q: snapshot @2026-11-25-110000');
});

test("--metrics-file: the run's outcome for node_exporter, replaced atomically, valid for promtool; a broken dataset and a failed run show; mistakes are refused before the run", async () => {
  await host.pool('cold');
  await host.zfs('create', 'cold/c');
  await host.zfs('create', 'tank/m');
  await host.zback(['set', 'tank/m', '--snapshot', 'yes', '--retention', '24h', '--destinations', 'cold/c/m|hourly']);
  const dir = mkdtempSync(join(lab.dir, 'textfile-'));
  const file = join(dir, 'zback.prom');
  const metrics = () => {
    // promtool is Prometheus' own parser and linter: exit 0 only for a valid, clean exposition.
    const check = spawnSync('promtool', ['check', 'metrics'], { input: readFileSync(file), encoding: 'utf8' });
    if (check.error) throw new Error(`promtool is needed for this test (apt-get install prometheus): ${check.error.message}`);
    expect([check.status, check.stdout, check.stderr]).toEqual([0, '', '']);
    const values = new Map<string, number>();
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const m = /^(zback_[a-z_]+(?:\{[^}]*\})?) (\S+)$/.exec(line);
      if (m) values.set(m[1]!, Number(m[2]));
    }
    return values;
  };
  const first = await host.zback(['run', '--now', '2026-11-25T10:00:00Z', '--metrics-file', file, ...state()]);
  expect([first.code, first.stderr]).toEqual([0, '']);
  await host.writeRandom('tank/m', 'data.bin', 300);
  const second = await host.zback(['run', '--now', '2026-11-25T11:00:00Z', '--metrics-file', file, ...state()]);
  expect([second.code, second.stderr]).toEqual([0, '']);
  const at11 = Date.parse('2026-11-25T11:00:00Z') / 1000;
  const m = metrics();
  const both = '{dataset="tank/m",destination="cold/c/m"}';
  expect(m.get('zback_run_success')).toBe(1);
  expect(m.get('zback_run_finished_timestamp_seconds')).toBeGreaterThanOrEqual(at11);
  expect(m.get('zback_dataset_snapshots{dataset="tank/m"}')).toBe(2);
  expect(m.get('zback_dataset_newest_snapshot_timestamp_seconds{dataset="tank/m"}')).toBe(at11);
  expect(m.get('zback_dataset_ok{dataset="tank/m"}')).toBe(1);
  expect(m.get(`zback_destination_last_replicated_timestamp_seconds${both}`)).toBe(at11);
  expect(m.get(`zback_destination_ok${both}`)).toBe(1);
  expect(m.get(`zback_destination_sent_bytes${both}`)).toBeGreaterThan(300_000);
  expect(m.get('zback_problems{level="critical"}')).toBe(0);
  expect(readdirSync(dir)).toEqual(['zback.prom']); // no temporary file left beside it

  // A dataset with a bad property, and a destination whose pool is away: both in the next file.
  await host.zfs('create', 'tank/bad');
  await host.zfs('set', 'org.wit:snapshot=yes', 'tank/bad');
  await host.exportPool('cold');
  const failed = await host.zback(['run', '--now', '2026-11-25T12:00:00Z', '--metrics-file', file, ...state()]);
  expect(failed.code).toBe(1);
  const f = metrics();
  expect(f.get('zback_run_success')).toBe(0);
  expect(f.get('zback_dataset_ok{dataset="tank/bad"}')).toBe(0);
  expect(f.get(`zback_destination_ok${both}`)).toBe(0);
  expect(f.get(`zback_destination_last_replicated_timestamp_seconds${both}`)).toBe(at11); // still what it has
  expect(f.get('zback_problems{level="critical"}')).toBeGreaterThanOrEqual(2);

  // Mistakes, refused before anything runs: a name node_exporter would not read, a missing folder.
  for (const [bad, why] of [
    [join(dir, 'zback.txt'), 'reads only files named *.prom'],
    [join(lab.dir, 'no-such-folder', 'zback.prom'), 'does not exist'],
  ] as const) {
    const r = await host.zback(['run', '--now', '2026-11-25T13:00:00Z', '--metrics-file', bad, ...state()]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(why);
  }
  expect(await host.snapshots('tank/m')).not.toContain('2026-11-25-130000');

  // The README's sample alert rules are valid rules for Prometheus.
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const rules = /A sample alert rule[^\n]*\n\n```yaml\n([\s\S]*?)```/.exec(readme)?.[1];
  expect(rules).toContain('zback_destination_last_replicated_timestamp_seconds');
  writeFileSync(join(dir, 'rules.yml'), rules!);
  const checked = spawnSync('promtool', ['check', 'rules', join(dir, 'rules.yml')], { encoding: 'utf8' });
  expect([checked.status, checked.stdout]).toEqual([0, expect.stringContaining('SUCCESS: 2 rules found')]);
});

test("--splay: a run waits its host's fixed share first and is dated when it starts; a signal in the wait ends it with nothing done; --dry-run and --now do not wait", async () => {
  await host.zfs('create', 'tank/sp');
  await host.zback(['set', 'tank/sp', '--snapshot', 'yes', '--retention', '24h']);
  // Each lab host has its own name (its own UTS namespace): zback there sees it as hostname().
  const share = splayDelayMs(host.name, 1) / 1000; // this host's fraction of any --splay
  expect(share).toBeGreaterThan(0.0005); // else no --splay up to 3600 s could be seen to wait
  const splay = Math.min(3600, Math.ceil(2.5 / share));
  const expected = splayDelayMs(host.name, splay);
  const started = Date.now();
  const r = await host.zback(['run', '--verbose', '--splay', String(splay), ...state()]);
  const waited = Date.now() - started;
  expect([r.code, r.stderr]).toEqual([0, '']);
  expect(r.stdout).toContain(`waiting ${(expected / 1000).toFixed(1)} s before the run (--splay ${splay}: the share of ${host.name})`);
  expect(waited).toBeGreaterThanOrEqual(expected);
  // The snapshot carries the time the run started, after the wait (names have whole seconds).
  const [name] = await host.snapshots('tank/sp');
  const m = /^(\d{4})-(\d\d)-(\d\d)-(\d\d)(\d\d)(\d\d)$/.exec(name!)!;
  const dated = Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!);
  expect(dated).toBeGreaterThanOrEqual(Math.floor((started + expected) / 1000) * 1000);

  // The dry run and a run at a given --now do not wait, whatever --splay says.
  const inAnHour = new Date(Date.now() + 3600_000).toISOString();
  for (const args of [['--dry-run'], ['--now', inAnHour]]) {
    const t = Date.now();
    const q = await host.zback(['run', '--splay', '3600', ...args, ...state()]);
    expect([q.code, q.stderr]).toEqual([0, '']);
    expect(Date.now() - t).toBeLessThan(splayDelayMs(host.name, 3600));
  }

  // SIGTERM while waiting (a shutdown, a cron timeout): exit 1 with a line, no snapshot, no run recorded.
  const before = await host.snapshots('tank/sp');
  const stateFile = join(lab.dir, `state-${hostCount}`, 'state.json');
  const recorded = readFileSync(stateFile, 'utf8');
  const waiting = host.zback(['run', '--splay', '3600', ...state()]);
  await new Promise((res) => setTimeout(res, 1500));
  expect((await host.exec(['pkill', '-TERM', '-f', `bin/zback run --splay 3600 --state-dir ${join(lab.dir, `state-${hostCount}`)}`])).code).toBe(0);
  const stopped = await waiting;
  expect(stopped).toMatchObject({ code: 1, stdout: '', stderr: 'zback: stopped by SIGTERM while waiting (--splay) before the run; nothing was done\n' });
  expect(await host.snapshots('tank/sp')).toEqual(before);
  expect(readFileSync(stateFile, 'utf8')).toBe(recorded);
  expect(lockIsFree(join(lab.dir, `state-${hostCount}`, 'run.lock'))).toBe(true);

  for (const bad of ['-5', 'soon', '3601']) {
    const u = await host.zback(['run', '--splay', bad, ...state()]);
    expect(u).toMatchObject({ code: 2, stderr: `zback: --splay ${JSON.stringify(bad)}: give a number of seconds from 0 to 3600\n` });
  }
}, 180_000);

test('snapshot hooks: run around the one atomic snapshot with the names in the environment; a failing or hung pre hook skips only its dataset; post always runs; a file others can write is refused', async () => {
  // Root's hooks, under /var/lib (every folder above root's and not writable by others; /tmp is).
  mkdirSync('/var/lib/zback-tests', { recursive: true, mode: 0o755 });
  const root = mkdtempSync('/var/lib/zback-tests/hooks-');
  chmodSync(root, 0o755);
  const hooksDir = join(root, 'hooks.d');
  const log = join(root, 'log');
  mkdirSync(hooksDir, { mode: 0o755 });
  try {
    const script = join(root, 'hook');
    // Logs its environment; fails or hangs (with a child of its own) when a flag file says so.
    writeFileSync(
      script,
      `#!/bin/sh\necho "$ZBACK_HOOK $ZBACK_HOOK_FILE $ZBACK_DATASET $(echo "$ZBACK_DATASETS" | paste -sd,) $ZBACK_SNAPSHOT $ZBACK_SNAPSHOT_NAME \${ZBACK_SNAPSHOT_RESULT:-} $1" >> ${log}\n` +
        `[ -e ${root}/fail-$ZBACK_HOOK-$1 ] && { echo "refused by the database" >&2; exit 3; }\n` +
        `[ -e ${root}/hang-$1 ] && { sleep 300 & wait; }\nexit 0\n`,
      { mode: 0o755 },
    );
    const conf = (name: string, text: string) => writeFileSync(join(hooksDir, name), text, { mode: 0o644 });
    conf('db.conf', `dataset = tank/h/db\npre = ${script} db\npost = ${script} db\ntimeout = 2\n`);
    conf('vm.conf', `dataset = tank/h/vm\nchildren = yes\npre = ${script} vm\npost = ${script} vm\n`);
    await host.zfs('create', 'tank/h');
    for (const d of ['db', 'vm', 'vm/disk', 'web']) await host.zfs('create', `tank/h/${d}`);
    await host.zback(['set', 'tank/h', '--snapshot', 'yes', '--retention', '48h']);
    const run = (at: string, extra: string[] = []) => host.zback(['run', '--hooks-dir', hooksDir, '--now', at, ...extra, ...state()]);
    const lines = () => readFileSync(log, 'utf8').trim().split('\n');

    const dry = await run('2026-11-25T10:00:00Z', ['--dry-run']);
    expect([dry.code, dry.stderr]).toEqual([0, '']);
    expect(dry.stdout).toContain(`zfs snapshot -r tank/h@2026-11-25-100000`);
    expect(dry.stdout).toContain(`hook db.conf for tank/h/db (timeout 2 s): before: ${script} db; after: ${script} db`);
    expect(dry.stdout).toContain(`hook vm.conf for tank/h/vm/disk (timeout 60 s)`);
    expect(existsSync(log)).toBe(false); // the dry run runs no hook

    // All well: each hook file's pre once (a subtree's hook once, for all the datasets it covers), in
    // file order; one atomic snapshot of the whole tree; the posts in reverse.
    const ok = await run('2026-11-25T10:00:00Z');
    expect([ok.code, ok.stderr]).toEqual([0, '']);
    const n1 = '2026-11-25-100000';
    expect(lines()).toEqual([
      `pre-snapshot db.conf tank/h/db tank/h/db tank/h/db@${n1} ${n1}  db`,
      `pre-snapshot vm.conf tank/h/vm tank/h/vm,tank/h/vm/disk tank/h/vm@${n1} ${n1}  vm`,
      `post-snapshot vm.conf tank/h/vm tank/h/vm,tank/h/vm/disk tank/h/vm@${n1} ${n1} taken vm`,
      `post-snapshot db.conf tank/h/db tank/h/db tank/h/db@${n1} ${n1} taken db`,
    ]);
    for (const d of ['h', 'h/db', 'h/vm', 'h/vm/disk', 'h/web']) expect(await host.snapshots(`tank/${d}`)).toEqual([n1]);

    // The database refuses: no snapshot of tank/h/db, an error naming the hook; the rest get theirs.
    writeFileSync(join(root, 'fail-pre-snapshot-db'), '');
    rmSync(log);
    const refused = await run('2026-11-25T11:00:00Z');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe('zback: tank/h/db: no snapshot: its pre-snapshot hook db.conf failed (exit 3: refused by the database)\n');
    expect(await host.snapshots('tank/h/db')).toEqual([n1]);
    for (const d of ['h', 'h/vm', 'h/vm/disk', 'h/web']) expect(await host.snapshots(`tank/${d}`)).toEqual([n1, '2026-11-25-110000']);
    // Its post hook still ran, told that the snapshot was skipped (to undo what pre began).
    expect(lines().filter((l) => l.startsWith('post-snapshot db.conf'))).toEqual([
      `post-snapshot db.conf tank/h/db tank/h/db tank/h/db@2026-11-25-110000 2026-11-25-110000 skipped db`,
    ]);
    rmSync(join(root, 'fail-pre-snapshot-db'));

    // A pre hook that hangs: stopped at its timeout with what it started; the others are not held up for ever.
    writeFileSync(join(root, 'hang-db'), '');
    const t = Date.now();
    const hung = await run('2026-11-25T12:00:00Z');
    expect(Date.now() - t).toBeLessThan(20_000);
    expect(hung.code).toBe(1);
    expect(hung.stderr).toContain('zback: tank/h/db: no snapshot: its pre-snapshot hook db.conf failed (did not finish within 2 s (its timeout))');
    expect(await host.snapshots('tank/h/web')).toContain('2026-11-25-120000');
    expect((await host.exec(['pgrep', '-f', 'sleep 300'])).stdout).toBe('');
    rmSync(join(root, 'hang-db'));

    // A post hook that fails: its error, and the snapshot is kept.
    writeFileSync(join(root, 'fail-post-snapshot-vm'), '');
    const post = await run('2026-11-25T13:00:00Z');
    expect(post.code).toBe(1);
    expect(post.stderr).toContain(
      'zback: tank/h/vm: its post-snapshot hook vm.conf failed (exit 3: refused by the database); the snapshot was taken and is kept',
    );
    expect(await host.snapshots('tank/h/vm')).toContain('2026-11-25-130000');
    rmSync(join(root, 'fail-post-snapshot-vm'));

    // A hook file others can write to is not run: its datasets wait, with the fix; the rest go on.
    chmodSync(join(hooksDir, 'db.conf'), 0o646);
    rmSync(log);
    const open = await run('2026-11-25T14:00:00Z');
    expect(open.code).toBe(1);
    const fix = `${hooksDir}/db.conf is writable by others (mode 646); run chmod go-w ${hooksDir}/db.conf`;
    expect(open.stderr).toContain(`zback: hook file db.conf is not used: ${fix}`);
    expect(open.stderr).toContain(`zback: tank/h/db: the snapshot that is due was not taken: its hook file db.conf cannot be used (${fix})`);
    expect(await host.snapshots('tank/h/db')).not.toContain('2026-11-25-140000');
    expect(await host.snapshots('tank/h/web')).toContain('2026-11-25-140000');
    expect(lines().some((l) => l.includes('db.conf'))).toBe(false);

    chmodSync(join(hooksDir, 'db.conf'), 0o644);
    // A hook for a dataset zback does not manage (a typo): said, and the rest goes on.
    conf('typo.conf', `dataset = tank/h/dbb\npost = ${script} typo\n`);
    const typoed = await run('2026-11-25T15:00:00Z');
    expect(typoed.code).toBe(1);
    expect(typoed.stderr).toBe('zback: hook file typo.conf names tank/h/dbb, which zback does not manage (a typo?): its commands run for no snapshot\n');
    expect(await host.snapshots('tank/h/db')).toContain('2026-11-25-150000');
    rmSync(join(hooksDir, 'typo.conf'));

    // A hook that leaves something running in the background (its own business) has still finished.
    writeFileSync(join(root, 'bg'), '#!/bin/sh\nsleep 37 &\nexit 0\n', { mode: 0o755 });
    conf('bg.conf', `dataset = tank/h/web\npre = ${join(root, 'bg')}\ntimeout = 5\n`);
    const t2 = Date.now();
    const bg = await run('2026-11-25T16:00:00Z');
    expect([bg.code, bg.stderr]).toEqual([0, '']);
    expect(Date.now() - t2).toBeLessThan(15_000);
    expect(await host.snapshots('tank/h/web')).toContain('2026-11-25-160000');
    await host.exec(['pkill', '-f', 'sleep 37']);

    // A mistyped --hooks-dir is an error (and no hook is run), not a quiet run without them.
    const typo = await host.zback(['run', '--hooks-dir', `${hooksDir}-typo`, '--now', '2026-11-25T17:00:00Z', ...state()]);
    expect(typo.code).toBe(1);
    expect(typo.stderr).toContain(`zback: hooks folder ${hooksDir}-typo (--hooks-dir) does not exist: no hook was run`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}, 180_000);

test('zback set validates before writing; unset clears', async () => {
  await host.zfs('create', 'tank/s');
  await host.zfs('create', 'tank/s/kid');
  const bad = await host.zback(['set', 'tank/s', '--snapshot', 'yes', '--retention', '24h0x']);
  expect(bad.code).toBe(2);
  expect(bad.stderr).toContain('tank/s: org.wit:retention="24h0x" is invalid: unknown unit "x"');
  expect(bad.stderr).toContain('nothing was written');
  expect((await host.getProp('tank/s', 'org.wit:snapshot')).value).toBe('-');

  const noRetention = await host.zback(['set', 'tank/s', '--snapshot', 'yes']);
  expect(noRetention.code).toBe(2);
  expect(noRetention.stderr).toMatch(/tank\/s: org\.wit:retention="" is invalid: org\.wit:snapshot=yes needs a retention/);

  const hostile = await host.zback(['set', 'tank/s', '--snapshot', 'yes', '--retention', '24h', '--destinations', 'h:tank/x`id`|daily']);
  expect(hostile.code).toBe(2);
  expect((await host.getProp('tank/s', 'org.wit:destinations')).value).toBe('-');

  const ok = await host.zback([
    'set',
    'tank/s',
    '--verbose',
    '--timezone',
    'Europe/Berlin',
    '--snapshot',
    'yes',
    '--retention',
    '24h7d',
    '--destinations',
    'backup-host:bpool/s|0 0,12 * * *|7d',
  ]);
  expect([ok.code, ok.stderr]).toEqual([0, '']);
  // The policy in words, as it is now written.
  expect(ok.stdout).toContain(
    'tank/s: retention 24h7d keeps the oldest snapshot of each of the last 24 hours and the last 7 days that have one (Europe/Berlin time), the newest snapshot and every held one',
  );
  expect(await host.getProp('tank/s', 'org.wit:retention')).toEqual({ value: '24h7d', source: 'local' });
  expect(await host.getProp('tank/s', 'org.wit:destinations')).toEqual({ value: 'backup-host:bpool/s|0 0,12 * * *|7d', source: 'local' });
  expect((await host.getProp('tank/s/kid', 'org.wit:retention')).source).toBe('inherited from tank/s');

  // Unsetting the retention that snapshot=yes needs would break the configuration: refused.
  const breaks = await host.zback(['unset', 'tank/s', '--retention']);
  expect(breaks.code).toBe(2);
  expect((await host.getProp('tank/s', 'org.wit:retention')).value).toBe('24h7d');

  const kid = await host.zback(['set', 'tank/s/kid', '--snapshot', 'no']);
  expect(kid.code).toBe(0);
  const unset = await host.zback(['unset', 'tank/s', '--all']);
  expect([unset.code, unset.stderr]).toEqual([0, '']);
  for (const p of ['snapshot', 'retention', 'destinations']) expect((await host.getProp('tank/s', `org.wit:${p}`)).value).toBe('-');
  expect(await host.getProp('tank/s/kid', 'org.wit:snapshot')).toEqual({ value: 'no', source: 'local' });

  const missing = await host.zback(['set', 'tank/nope', '--retention', '24h']);
  expect(missing.code).toBe(2);
  expect(missing.stderr).toContain('tank/nope: no such dataset');
});

test('usage errors exit 2 with a message', async () => {
  for (const args of [['frobnicate'], ['run', '--timezone', 'Nowhere/City'], ['run', '--now', 'tomorrow'], ['run', '--prefix', 'Bad Prefix']]) {
    const r = await host.zback(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^zback: /);
  }
});

test('--prefix selects other properties', async () => {
  await host.zfs('create', 'tank/x');
  await host.zfs('set', 'com.example:snapshot=yes', 'tank/x');
  await host.zfs('set', 'com.example:retention=24h', 'tank/x');
  const other = await host.zback(['run', '--now', '2026-11-25T10:00:00Z', ...state()]);
  expect(other.code).toBe(0);
  expect(await host.snapshots('tank/x')).toEqual([]);
  const mine = await host.zback(['run', '--now', '2026-11-25T10:00:00Z', ...state()], { env: { ZBACK_PREFIX: 'com.example' } });
  expect([mine.code, mine.stderr]).toEqual([0, '']);
  expect(await host.snapshots('tank/x')).toEqual(['2026-11-25-100000']);
});

test('a run killed while it holds the lock leaves no lock behind (the kernel drops it), whatever the host name says', async () => {
  await host.zfs('create', 'tank/st');
  await host.zback(['set', 'tank/st', '--snapshot', 'yes', '--retention', '24h']);
  const stateDir = join(lab.dir, `state-${hostCount}`);
  const lockFile = join(stateDir, 'run.lock');
  // A run slowed down (every zfs call 1.5 s), killed with SIGKILL while it holds the lock.
  const crashed = host.zback(['run', '--now', '2026-11-25T09:00:00Z', '--state-dir', stateDir], { zfsDelayS: 1.5 });
  for (let i = 0; i < 100 && !existsSync(lockFile); i++) await new Promise((res) => setTimeout(res, 50));
  expect(lockIsFree(lockFile)).toBe(false);
  // Only this test's run (its own state dir): other test files run zback at the same time.
  expect((await host.exec(['pkill', '-KILL', '-f', `bin/zback run .*--state-dir ${stateDir}`])).code).toBe(0);
  expect((await crashed).code).not.toBe(0);
  // The machine was renamed since: the record in the file names another host. It does not matter.
  writeFileSync(lockFile, JSON.stringify({ pid: 1, host: 'old-name', since: '2026-11-01T00:00:00Z' }) + '\n');
  for (let i = 0; i < 40 && !lockIsFree(lockFile); i++) await new Promise((res) => setTimeout(res, 50));
  const r = await host.zback(['run', '--now', '2026-11-25T10:00:00Z', '--state-dir', stateDir]);
  expect([r.code, r.stderr]).toEqual([0, '']);
  expect(await host.snapshots('tank/st')).toContain('2026-11-25-100000');
  expect(lockIsFree(lockFile)).toBe(true);
});

test('a snapshot with a dependent clone is kept and reported, not a failure; the rest is pruned', async () => {
  await host.zfs('create', 'tank/cl');
  await snapshotAll(host, 'tank/cl', ['2026-11-25-050000', '2026-11-25-060000', '2026-11-25-070000']);
  await host.zfs('clone', 'tank/cl@2026-11-25-050000', 'tank/work');
  await host.zback(['set', 'tank/cl', '--snapshot', 'yes', '--retention', '1h']);
  const r = await host.zback(['run', '--verbose', '--now', '2026-11-25T08:00:00Z', ...state()]);
  expect([r.code, r.stderr]).toEqual([0, '']);
  expect(r.stdout).toContain('kept tank/cl@2026-11-25-050000: it has dependent clones');
  expect(await host.snapshots('tank/cl')).toEqual(['2026-11-25-050000', '2026-11-25-080000']);
  // Quiet from cron, but monitoring hears of it: a warning in status.
  const check = await host.zback(['status', '--check', '--now', '2026-11-25T08:05:00Z', ...state()]);
  expect(check.code).toBe(1);
  expect(check.stdout).toMatch(/^ZBACK WARNING .*tank\/cl: kept tank\/cl@2026-11-25-050000: it has dependent clones/);
});

test('--snapshot-format names snapshots differently; other names are foreign to it', async () => {
  await host.zfs('create', 'tank/f');
  await host.zback(['set', 'tank/f', '--snapshot', 'yes', '--retention', '1h']);
  await host.zfs('snapshot', 'tank/f@2026-11-25-050000'); // default shape: foreign under the custom format
  const fmt = ['--snapshot-format', 'auto_%Y%m%d_%H%M%S'];
  for (const now of ['2026-11-25T08:00:00Z', '2026-11-25T09:00:00Z']) {
    const r = await host.zback(['run', ...fmt, '--now', now, ...state()]);
    expect([r.code, r.stderr]).toEqual([0, '']);
  }
  expect(await host.snapshots('tank/f')).toEqual(['2026-11-25-050000', 'auto_20261125_090000']);
});

test('retention and schedules use the system time zone unless --timezone is given', async () => {
  await host.zfs('create', 'tank/tz');
  await host.zback(['set', 'tank/tz', '--snapshot', 'yes', '--retention', '7d']);
  const r = await host.zback(['run', '--dry-run', '--now', '2026-11-25T22:30:00Z', ...state()], { env: { TZ: 'Asia/Tokyo' } });
  expect(r.code).toBe(0);
  expect(r.stdout).toContain('at 2026-11-26 07:30:00 +09:00 (Asia/Tokyo)');
  expect(r.stdout).toContain('+ snapshot tank/tz@2026-11-25-223000');
});

test('a property value that imitates zfs output cannot configure another dataset, nor take it out of zback', async () => {
  // Someone allowed to set properties on tank/a only tries to give tank/b a destination: the value
  // contains a line break and a whole forged row, which `zfs get -H` prints raw.
  for (const ds of ['tank/a', 'tank/b', 'tank/c']) {
    await host.zfs('create', ds);
    await host.zfs('set', 'org.wit:snapshot=yes', ds);
    await host.zfs('set', 'org.wit:retention=24h', ds);
  }
  await host.zfs('set', 'org.wit:retention=7d\tlocal\ntank/b\torg.wit:destinations\tevil:pool/stolen|daily', 'tank/a');
  const raw = await host.zfs('get', '-H', '-o', 'name,property,value,source', 'org.wit:retention', 'tank/a');
  expect(raw).toContain('tank/b\torg.wit:destinations\tevil:pool/stolen|daily'); // the forgery is real
  const r = await host.zback(['run', '--dry-run', '--now', '2026-11-25T10:00:00Z', ...state()]);
  expect(r.code).toBe(1);
  expect(r.stdout).not.toContain('evil');
  expect(r.stderr).toContain('tank/a: cannot read its zback properties');
  // tank/b, whose rows the value fakes, is read again on its own and is managed as it says (SPEC §10).
  expect(r.stderr).not.toContain('tank/b');
  expect(r.stdout).toContain('+ snapshot tank/b@2026-11-25-100000');
  expect(r.stdout).toContain('+ snapshot tank/c@2026-11-25-100000'); // the others go on
});

test('ZFS not running here (no zfs-fuse daemon) or not installed: each command says so in one line and fails (status --check: UNKNOWN)', async () => {
  // A mount namespace whose /run is empty: zfs finds no zfs-fuse daemon's socket there.
  const noDaemon = (args: string[]) =>
    run(['unshare', '-m', 'sh', '-c', 'mount -t tmpfs none /run && exec "$@"', 'sh', process.execPath, ZBACK, ...args, ...state()]);
  const said =
    /^zback: ZFS is not available on this machine: the zfs-fuse daemon is not running \(start it with: systemctl start zfs-fuse\) \(zfs said: "[^"\n]+"\)\n$/;
  for (const args of [['run'], ['run', '--dry-run'], ['status']]) {
    const r = await noDaemon(args);
    expect([r.code, r.stdout]).toEqual([1, '']);
    expect(r.stderr).toMatch(said);
  }
  const check = await noDaemon(['status', '--check']);
  expect(check.code).toBe(3);
  expect(check.stdout).toMatch(/^ZBACK UNKNOWN - ZFS is not available on this machine: the zfs-fuse daemon is not running/);

  // A PATH with what the run lock needs (flock, sh, cat) and no zfs.
  const bin = join(lab.dir, 'bin-without-zfs');
  mkdirSync(bin, { recursive: true });
  for (const tool of ['flock', 'sh', 'cat'])
    if (!existsSync(join(bin, tool))) symlinkSync(execFileSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim(), join(bin, tool));
  const noZfs = await run([process.execPath, ZBACK, 'run', ...state()], { env: { ...process.env, PATH: bin } });
  expect([noZfs.code, noZfs.stdout, noZfs.stderr]).toEqual([
    1,
    '',
    'zback: ZFS is not available on this machine: the zfs command is not installed, or not on PATH\n',
  ]);
});

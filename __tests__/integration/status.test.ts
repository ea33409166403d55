/**
 * The operator's view on real zfs-fuse state: zback status (table, JSON, --check, --remote),
 * the state file, --json and --log-file, completion, colour rules, and what a person sees in a
 * real terminal (tmux).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Lab, ZBACK, type LabHost } from '../helpers/lab.js';

let lab: Lab;
let src: LabHost;
let bak: LabHost;
// Outside the range replicate.test.ts uses (22100–26120): the two files run side by side.
const port = 26200 + (process.pid % 500);
let stateDir: string;

beforeAll(async () => {
  lab = new Lab('status');
  src = await lab.start('src');
  bak = await lab.start('bak');
  await src.pool('tank');
  await bak.pool('bpool');
  await bak.sshd(port);
  stateDir = join(lab.dir, 'state');
  // A second host name in the ssh config that nothing listens on.
  writeFileSync(
    join(lab.dir, 'ssh-config'),
    `Include ${join(bak.sshDir, 'config')}\nHost nowhere\n  HostName 127.0.0.1\n  Port 9\n  User root\n  IdentityFile ${join(bak.sshDir, 'id_ed25519')}\n`,
  );
});
afterAll(async () => {
  await lab?.stop();
});

const common = () => ['--state-dir', stateDir, '--timezone', 'UTC'];
function zback(args: string[], opts: Parameters<LabHost['zback']>[1] = {}) {
  return src.zback([...args, ...common()], opts);
}
const run = (now: string, ...more: string[]) => zback(['run', '--ssh-config', join(lab.dir, 'ssh-config'), '--now', now, ...more]);

interface Report {
  schema: string;
  lastRun: { exitCode: number } | null;
  datasets: Array<{
    dataset: string;
    retention: string | null;
    schedule: string | null;
    snapshots: { zback: number; foreign: number };
    newest: { name: string; ageSeconds: number } | null;
    nextDue: string | null;
    destinations: Array<{
      destination: string;
      result: string | null;
      lastReplicated: string | null;
      lagSeconds: number | null;
      problems: Array<{ level: string; message: string }>;
    }>;
    problems: Array<{ level: string; message: string }>;
  }>;
  summary: { datasets: number; warnings: number; criticals: number; status: string };
}
async function json(now: string, ...more: string[]): Promise<Report> {
  const r = await zback(['status', '--json', '--now', now, ...more]);
  expect([r.code, r.stderr]).toEqual([0, '']);
  return JSON.parse(r.stdout) as Report;
}

test('status: fresh, then stale (warning), then critical; --check exit codes follow', async () => {
  await src.zfs('create', 'tank/good');
  await src.zback(['set', 'tank/good', '--snapshot', 'yes', '--retention', '24h7d', '--destinations', 'bak:bpool/good|hourly']);
  const first = await run('2026-11-25T10:00:00Z');
  expect([first.code, first.stderr]).toEqual([0, '']);

  const fresh = await json('2026-11-25T10:10:00Z');
  expect(fresh.schema).toBe('zback.status/1');
  expect(fresh.lastRun?.exitCode).toBe(0);
  expect(fresh.datasets).toHaveLength(1);
  const good = fresh.datasets[0]!;
  expect(good).toMatchObject({
    dataset: 'tank/good',
    retention: '24h7d',
    schedule: 'hourly',
    snapshots: { zback: 1, foreign: 0 },
    nextDue: '2026-11-25T11:00:00.000Z',
    problems: [],
  });
  expect(good.newest).toEqual({ name: '2026-11-25-100000', time: '2026-11-25T10:00:00.000Z', ageSeconds: 600 });
  expect(good.destinations).toEqual([
    expect.objectContaining({ destination: 'bak:bpool/good', result: 'sent', lastReplicated: '2026-11-25-100000', lagSeconds: 600, problems: [] }),
  ]);
  expect(fresh.summary).toEqual({ datasets: 1, warnings: 0, criticals: 0, status: 'ok' });
  const ok = await zback(['status', '--check', '--now', '2026-11-25T10:10:00Z']);
  expect([ok.code, ok.stdout.trim()]).toEqual([0, 'ZBACK OK - 1 datasets, 0 critical, 0 warning | datasets=1 critical=0 warning=0']);

  // No run for six hours: the snapshot and the replication are overdue by 5 h > 2 h: warnings.
  const late = await json('2026-11-25T16:30:00Z');
  expect(late.datasets[0]!.problems).toEqual([{ level: 'warning', message: 'the next snapshot is overdue by 6 h' }]);
  expect(late.datasets[0]!.destinations[0]!.problems).toEqual([]);
  const warn = await zback(['status', '--check', '--now', '2026-11-25T16:30:00Z']);
  expect(warn.code).toBe(1);
  expect(warn.stdout).toMatch(/^ZBACK WARNING - 1 datasets, 0 critical, 1 warning: tank\/good: the next snapshot is overdue by 6 h \|/);
  // Custom thresholds: 30 minutes is already critical.
  const tight = await zback(['status', '--check', '--warn-after', '10m', '--crit-after', '30m', '--now', '2026-11-25T16:30:00Z']);
  expect(tight.code).toBe(2);
  // Two days without a run: critical.
  const crit = await zback(['status', '--check', '--now', '2026-11-27T12:00:00Z']);
  expect(crit.code).toBe(2);
  expect(crit.stdout).toMatch(/^ZBACK CRITICAL/);

  // A local snapshot taken while the backup is not replicated: the destination becomes stale.
  const catchUp = await run('2026-11-27T12:05:00Z', '--ssh-config', '/dev/null'); // an unusable ssh config: the host is unknown
  expect(catchUp.code).toBe(1);
  const stale = await json('2026-11-27T15:00:00Z');
  const dest = stale.datasets[0]!.destinations[0]!;
  expect(dest.lastReplicated).toBe('2026-11-25-100000');
  expect(dest.problems.map((p) => p.level)).toContain('critical');
  expect(dest.problems.map((p) => p.message).join('\n')).toMatch(/unreachable: /);
  expect(dest.problems.map((p) => p.message).join('\n')).toMatch(/stale: replication to bak:bpool\/good is overdue by 5\d h/);
  // Back to normal.
  const again = await run('2026-11-27T15:05:00Z');
  expect([again.code, again.stderr]).toEqual([0, '']);
  expect((await json('2026-11-27T15:10:00Z')).summary.status).toBe('ok');
});

test('status shows a failed destination and a diverged one; --remote asks the destination now', async () => {
  await src.zfs('create', 'tank/far');
  await src.zback(['set', 'tank/far', '--snapshot', 'yes', '--retention', '24h', '--destinations', 'nowhere:bpool/far|hourly']);
  await src.zfs('create', 'tank/div');
  await src.zback(['set', 'tank/div', '--snapshot', 'yes', '--retention', '24h', '--destinations', 'bak:bpool/div|hourly']);
  expect((await run('2026-11-27T16:00:00Z')).code).toBe(1); // tank/far cannot connect
  await bak.zfs('snapshot', 'bpool/div@someone-was-here');

  const recorded = await json('2026-11-27T16:10:00Z');
  const far = recorded.datasets.find((d) => d.dataset === 'tank/far')!;
  expect(far.destinations[0]).toMatchObject({ destination: 'nowhere:bpool/far', result: 'unreachable', lastReplicated: null });
  expect(far.destinations[0]!.problems[0]!.message).toMatch(/^unreachable: cannot connect to nowhere .*ECONNREFUSED/);
  // Without --remote, status knows only what the last run recorded: tank/div was fine then.
  expect(recorded.datasets.find((d) => d.dataset === 'tank/div')!.destinations[0]!.result).toBe('sent');

  const before = bak.acceptedConnections();
  const live = await json('2026-11-27T16:10:00Z', '--remote', '--ssh-config', join(lab.dir, 'ssh-config'));
  expect(bak.acceptedConnections() - before).toBe(1);
  const div = live.datasets.find((d) => d.dataset === 'tank/div')!.destinations[0]!;
  expect(div.result).toBe('diverged');
  expect(div.problems[0]!.message).toMatch(/diverged: .*@someone-was-here.*zfs rollback -r bpool\/div@2026-11-27-160000/);
  // --verbose beside --json: the commands it ran go to stderr; stdout stays exactly the report.
  const traced = await zback(['status', '--json', '--verbose', '--remote', '--now', '2026-11-27T16:10:00Z', '--ssh-config', join(lab.dir, 'ssh-config')]);
  expect(traced.code).toBe(0);
  expect((JSON.parse(traced.stdout) as Report).datasets.map((d) => d.dataset)).toEqual(live.datasets.map((d) => d.dataset));
  expect(traced.stderr).toMatch(/^\[local\] zfs get /m);
  expect(traced.stderr).not.toMatch(/^zback: /m);

  const table = await zback(['status', '--now', '2026-11-27T16:10:00Z']);
  expect(table.code).toBe(0);
  expect(table.stdout).toMatch(/^CRIT\s+tank\/far\s+24h\s+hourly\s+1\s+10m ago\s+in 50m$/m);
  expect(table.stdout).toMatch(/→ nowhere:bpool\/far {2}hourly {2}last nothing yet {2}CRIT unreachable/);
  // eslint-disable-next-line no-control-regex -- the terminal's colour codes are what is checked
  expect(table.stdout).not.toMatch(/\u001b\[/); // not a terminal: no colour
  expect(table.stdout).not.toContain('Retention:');
  // --verbose: each retention of the table said in words below it.
  const words = await zback(['status', '--verbose', '--now', '2026-11-27T16:10:00Z']);
  expect(words.stdout).toMatch(/^Retention:\n(?: {2}\S+ {2}keeps the oldest snapshot .*\n)+/m);
  expect(words.stdout).toMatch(/^ {2}24h {2}keeps the oldest snapshot of each of the last 24 hours that have one \(\S+ time\)/m);
  const check = await zback(['status', '--check', '--now', '2026-11-27T16:10:00Z']);
  expect(check.code).toBe(2);
  await bak.zfs('destroy', 'bpool/div@someone-was-here');
  await src.zback(['unset', 'tank/far', '--all']);
});

test('status shows a destination whose receive failed (copy modified on the backup host)', async () => {
  await src.zfs('create', 'tank/mod');
  await src.zback(['set', 'tank/mod', '--snapshot', 'yes', '--retention', '24h', '--destinations', 'bak:bpool/mod|hourly']);
  expect((await run('2026-11-27T16:20:00Z')).code).toBe(0);
  await bak.zfs('mount', 'bpool/mod');
  expect((await bak.exec(['sh', '-c', 'echo x > "$(zfs get -H -o value mountpoint bpool/mod)/oops"'])).code).toBe(0);
  await src.exec(['sh', '-c', 'echo y > "$(zfs get -H -o value mountpoint tank/mod)/new"']);
  expect((await run('2026-11-27T17:20:00Z')).code).toBe(1);
  const report = await json('2026-11-27T17:25:00Z');
  const mod = report.datasets.find((d) => d.dataset === 'tank/mod')!;
  expect(mod.destinations[0]).toMatchObject({ result: 'failed', lastReplicated: '2026-11-27-162000' });
  expect(mod.destinations[0]!.problems[0]).toEqual({
    level: 'critical',
    message: expect.stringMatching(/^failed: replication to bak:bpool\/mod failed: zfs recv failed .*modified/),
  });
  const table = await zback(['status', '--now', '2026-11-27T17:25:00Z']);
  expect(table.stdout).toMatch(/^CRIT\s+tank\/mod\s/m);
  // Put it right for the tests after this one.
  await bak.zfs('rollback', 'bpool/mod@2026-11-27-162000');
  await src.zback(['unset', 'tank/mod', '--all']);
});

test('the state file is written atomically: a reader during a run always sees whole JSON', async () => {
  await src.zfs('create', 'tank/atomic');
  await src.zback(['set', 'tank/atomic', '--snapshot', 'yes', '--retention', '24h']);
  const path = join(stateDir, 'state.json');
  let reads = 0;
  let running = true;
  // After the previous test's 17:20 run: a clock that goes back would make its snapshots future-dated.
  const slow = run('2026-11-27T17:40:00Z', '--verbose').finally(() => (running = false));
  while (running) {
    if (existsSync(path)) {
      JSON.parse(readFileSync(path, 'utf8')); // throws on a half-written file
      reads++;
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  expect((await slow).code).toBe(0);
  expect(reads).toBeGreaterThan(0);
  expect(readdirSync(stateDir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  const state = JSON.parse(readFileSync(path, 'utf8')) as { datasets: Record<string, { ok: boolean }> };
  expect(state.datasets['tank/atomic']).toMatchObject({ ok: true });
});

test('--json prints one JSON object per event; --log-file appends timestamped lines', async () => {
  const log = join(lab.dir, 'zback.log');
  const r = await run('2026-11-27T18:00:00Z', '--json', '--log-file', log);
  expect([r.code, r.stderr]).toEqual([0, '']);
  const events = r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { time: string; type: string; message: string });
  expect(events.length).toBeGreaterThan(2);
  expect(events.some((e) => e.type === 'replication' && /tank\/good → bak:bpool\/good: incremental/.test(e.message))).toBe(true);
  for (const e of events) expect(e.time).toMatch(/^\d{4}-\d\d-\d\dT/);
  const lines = readFileSync(log, 'utf8').trim().split('\n');
  expect(lines.length).toBeGreaterThan(2);
  for (const l of lines) expect(l).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (info|error) /);
  expect(lines.join('\n')).toContain('tank/good: snapshot @2026-11-27-180000');
});

test('completion for bash and zsh', () => {
  const bash = spawnSync('node', [ZBACK, 'completion'], { encoding: 'utf8', env: { ...process.env, SHELL: '/bin/bash' } });
  expect(bash.status).toBe(0);
  expect(bash.stdout).toContain('complete -o bashdefault -o default -F _zback_yargs_completions zback');
  const zsh = spawnSync('node', [ZBACK, 'completion'], { encoding: 'utf8', env: { ...process.env, SHELL: '/usr/bin/zsh' } });
  expect(zsh.stdout).toMatch(/^#compdef zback/);
  const words = spawnSync('node', [ZBACK, '--get-yargs-completions', 'zback', ''], { encoding: 'utf8' }).stdout.split('\n');
  expect(words).toEqual(expect.arrayContaining(['run', 'status', 'set', 'unset', 'completion']));
  const opts = spawnSync('node', [ZBACK, '--get-yargs-completions', 'zback', 'status', '--'], { encoding: 'utf8' }).stdout.split('\n');
  expect(opts).toEqual(expect.arrayContaining(['--check', '--remote', '--json']));
});

/**
 * Runs a command in a real terminal (tmux, 110×40) and returns the screen, and all it wrote.
 * The terminal is a person's, not the test runner's: its own tmux server (no config) and a shell
 * with a clean environment, so what CI exports (CI=true, FORCE_COLOR, TERM=dumb …), which would
 * rightly turn colour off, does not leak into it.
 */
function inTerminal(command: string, env: Record<string, string> = {}): { screen: string; raw: string } {
  const session = `zback-${process.pid}-${Math.random().toString(36).slice(2, 7)}`;
  const raw = join(lab.dir, `${session}.raw`);
  const exports = Object.entries(env)
    .map(([k, v]) => `export ${k}=${JSON.stringify(v)}; `)
    .join('');
  const tmux = (...a: string[]) => spawnSync('tmux', ['-L', session, '-f', '/dev/null', ...a], { encoding: 'utf8' });
  const shell = `env -i HOME=/root PATH=${JSON.stringify(process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin')} TERM=tmux-256color LANG=C.UTF-8 bash --norc --noprofile`;
  expect(tmux('new-session', '-d', '-s', session, '-x', '110', '-y', '40', shell).status).toBe(0);
  try {
    tmux('pipe-pane', '-t', session, '-o', `cat >> ${raw}`);
    tmux('send-keys', '-t', session, `${exports}${command}; echo "EXIT=$?"`, 'Enter');
    let screen = '';
    for (let i = 0; i < 300 && !/^EXIT=\d+/m.test(screen); i++) {
      spawnSync('sleep', ['0.1']);
      screen = tmux('capture-pane', '-t', session, '-p', '-J').stdout;
    }
    return { screen, raw: existsSync(raw) ? readFileSync(raw, 'utf8') : '' };
  } finally {
    tmux('kill-server');
  }
}

test('in a real terminal: a person sees the status table, in colour unless NO_COLOR; a long send shows progress', async () => {
  const cmd = `${join(lab.dir, 'bin', 'zfs-lab-exec')} node ${ZBACK} status --now 2026-11-27T18:10:00Z --state-dir ${stateDir} --timezone UTC`;
  writeFileSync(
    join(lab.dir, 'bin', 'zfs-lab-exec'),
    `#!/bin/sh\nexec env ZFS_LAB_DIR=${lab.dir} ${join(process.cwd(), '__tests__/lab/zfs-lab.sh')} exec src "$@"\n`,
    { mode: 0o755 },
  );
  const { screen, raw } = inTerminal(cmd);
  // The run finished a second or so after its --now (its own duration): 9m5Xs or 10m before.
  expect(screen).toMatch(/zback status at 2026-11-27 18:10:00 \+00:00 \(UTC\) · last run (10m|9m5\ds) ago \(exit 0\)/);
  expect(screen).toMatch(/^\s+DATASET\s+RETENTION\s+SCHEDULE\s+SNAPS\s+NEWEST\s+NEXT DUE$/m);
  expect(screen).toMatch(/^ok\s+tank\/good\s+24h7d\s+hourly\s+\d+\s+10m ago\s+in 50m$/m);
  expect(screen).toMatch(/→ bak:bpool\/good {2}hourly {2}last @2026-11-27-180000 \(10m ago\) {2}ok/);
  expect(screen).toMatch(/^\d+ datasets: all ok$/m);
  expect(screen).toMatch(/^EXIT=0$/m);
  // eslint-disable-next-line no-control-regex -- the terminal's colour codes are what is checked
  expect(raw).toMatch(/\u001b\[3\dm/); // colour on a terminal …
  const plain = inTerminal(cmd, { NO_COLOR: '1' });
  expect(plain.screen).toMatch(/^ok\s+tank\/good/m);
  // eslint-disable-next-line no-control-regex -- the terminal's colour codes are what is checked
  expect(plain.raw).not.toMatch(/\u001b\[3\dm/); // … and none with NO_COLOR

  // A send of ~48 MB to the backup host: on a terminal the progress line shows bytes and rate.
  await src.zfs('create', 'tank/big');
  const w = await src.exec(['sh', '-c', 'head -c 50000000 /dev/urandom > "$(zfs get -H -o value mountpoint tank/big)/data"']);
  expect(w.code).toBe(0);
  await src.zback(['set', 'tank/big', '--snapshot', 'yes', '--retention', '24h', '--destinations', 'bak:bpool/big|hourly']);
  const send = inTerminal(
    `${join(lab.dir, 'bin', 'zfs-lab-exec')} node ${ZBACK} run --now 2026-11-27T19:00:00Z --state-dir ${stateDir} --timezone UTC --ssh-config ${join(lab.dir, 'ssh-config')}`,
  );
  expect(send.screen).toMatch(/^EXIT=0$/m);
  expect(send.raw).toMatch(/tank\/big → bak:bpool\/big: [\d.]+ (KiB|MiB), [\d.]+ (KiB|MiB|GiB)\/s/);
  expect(send.screen).toMatch(/tank\/big: snapshot @2026-11-27-190000; sent 1 to bak:bpool\/big/);

  // The same ~48 MB back with zback restore: progress on the terminal, then what was done and how to swap it in.
  const back = inTerminal(
    `${join(lab.dir, 'bin', 'zfs-lab-exec')} node ${ZBACK} restore tank/big --from bak --to tank/big-restored --state-dir ${stateDir} --ssh-config ${join(lab.dir, 'ssh-config')}`,
  );
  expect(back.screen).toMatch(/^EXIT=0$/m);
  expect(back.raw).toMatch(/bak:bpool\/big@2026-11-27-190000 → tank\/big-restored: [\d.]+ (B|KiB|MiB), [\d.]+ (B|KiB|MiB|GiB)\/s/);
  expect(back.screen).toMatch(
    /^Restored bak:bpool\/big@2026-11-27-190000 into tank\/big-restored: 4\d\.\d MiB in [\d.]+ s, [\d.]+ MiB\/s\. It is not mounted\.$/m,
  );
  expect(back.screen).toMatch(/^ {2}zfs rename tank\/big-restored tank\/big$/m);
});

test('status --replicas on the backup host: three source hosts push to it; grouped by host, the one that stopped is stale by its recorded schedule', async () => {
  // Three more "hosts", each with its own name (its own UTS namespace): what zback records as a copy's source.
  // A backup host of its own (the other tests' copies are on bak): "hub", with its own sshd.
  const sources = await Promise.all(['web1', 'web2', 'web3'].map((name) => lab.start(name)));
  const hub = await lab.start('hub');
  await hub.pool('hpool');
  await hub.sshd(port + 1);
  const hourAt = (h: number) => `2026-11-26T${String(h).padStart(2, '0')}:00:00Z`;
  const own = (w: LabHost) => ['--state-dir', join(lab.dir, `state-${w.name}`), '--timezone', 'UTC', '--ssh-config', join(hub.sshDir, 'config')];
  await hub.zfs('create', 'hpool/from');
  for (const w of sources) {
    await w.pool('tank');
    await w.datasetWithData('tank/d', 64);
    const schedule = w.name === 'web3' ? 'daily' : 'hourly';
    const set = await w.zback(['set', 'tank/d', '--snapshot', 'yes', '--retention', '48h', '--destinations', `hub:hpool/from/${w.name}/d|${schedule}`]);
    expect([set.code, set.stderr]).toEqual([0, '']);
  }
  // All three send at 10:00; web2 then stops (its server is down), the others go on.
  for (const [h, hosts] of [
    [10, sources],
    [11, [sources[0]!, sources[2]!]],
    [12, [sources[0]!, sources[2]!]],
  ] as const) {
    for (const w of hosts) {
      const r = await w.zback(['run', '--now', hourAt(h), ...own(w)]);
      expect([w.name, h, r.code, r.stderr]).toEqual([w.name, h, 0, '']);
    }
  }
  await hub.zfs('create', 'hpool/by-hand'); // not a copy zback seeded: not listed
  expect((await hub.getProp('hpool/from/web1/d', 'org.wit:replica-schedule')).value).toBe('hourly@UTC');
  expect((await hub.getProp('hpool/from/web3/d', 'org.wit:replica-schedule')).value).toBe('daily+hourly@UTC'); // hourly snapshots (48h), sent daily

  const view = (...more: string[]) =>
    hub.zback(['status', '--replicas', '--now', '2026-11-26T12:30:00Z', '--warn-after', '30m', '--crit-after', '1h', ...more]);
  const text = await view();
  expect([text.code, text.stderr]).toEqual([0, '']);
  expect(text.stdout).toMatch(/^zback status --replicas on hub at 2026-11-26 12:30:00 \+00:00 \(UTC\)$/m);
  for (const w of ['web1', 'web2', 'web3']) expect(text.stdout).toMatch(new RegExp(`^${w} · 1 copy\\n.*\\n +\\S+ +hpool/from/${w}/d +tank/d `, 'm'));
  expect(text.stdout).toMatch(/CRIT +hpool\/from\/web2\/d +tank\/d +hourly +1 +@2026-11-26-100000 \(2h30m ago\)/);
  expect(text.stdout).toContain('✗ stale: the next snapshot from web2 is overdue by 90 min (schedule hourly in UTC)');
  expect(text.stdout).not.toContain('by-hand');
  expect(text.stdout).toMatch(/3 copies from 3 source hosts: 1 critical$/m);

  const check = await view('--check');
  expect(check.code).toBe(2);
  expect(check.stdout).toBe(
    'ZBACK REPLICAS CRITICAL - 3 copies from 3 hosts, 1 critical, 0 warning: hpool/from/web2/d (web2:tank/d): stale: the next snapshot from web2 is overdue by 90 min (schedule hourly in UTC) | copies=3 sources=3 critical=1 warning=0\n',
  );
  const report = JSON.parse((await view('--json')).stdout) as {
    schema: string;
    sources: {
      source: string;
      copies: { copy: string; dataset: string; schedule: string; zone: string; snapshots: number; usedBytes: number; newest: { name: string } }[];
    }[];
  };
  expect(report.schema).toBe('zback.replicas/1');
  expect(report.sources.map((s) => [s.source, s.copies.map((c) => [c.copy, c.dataset, c.schedule, c.zone, c.snapshots, c.newest.name])])).toEqual([
    ['web1', [['hpool/from/web1/d', 'tank/d', 'hourly', 'UTC', 3, '2026-11-26-120000']]],
    ['web2', [['hpool/from/web2/d', 'tank/d', 'hourly', 'UTC', 1, '2026-11-26-100000']]],
    ['web3', [['hpool/from/web3/d', 'tank/d', 'daily', 'UTC', 1, '2026-11-26-100000']]],
  ]);
  expect(report.sources.every((s) => s.copies.every((c) => c.usedBytes > 64 * 1024))).toBe(true);
  // web2 back: the next run sends, and the view is all ok again.
  const back = await sources[1]!.zback(['run', '--now', hourAt(12), ...own(sources[1]!)]);
  expect([back.code, back.stderr]).toEqual([0, '']);
  expect((await view('--check')).code).toBe(0);
});

/** Headless Chromium (Debian's chromium), as a person's browser would render the page. */
function chromium(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync('chromium', ['--headless', '--no-sandbox', '--disable-gpu', '--hide-scrollbars', '--enable-logging=stderr', '--v=0', ...args], {
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, HOME: lab.dir },
  });
  if (r.error) throw new Error(`chromium could not run (Debian package chromium; the README's test command installs it): ${r.error.message}`);
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('status --html: one self-contained page, rendered by a real browser (headless Chromium): the table with its problems, timelines with why each snapshot is kept, the lag over the last runs', async () => {
  await src.datasetWithData('tank/page', 64);
  await zback(['set', 'tank/page', '--snapshot', 'yes', '--retention', '6h2d', '--destinations', `bak:bpool/page|hourly|12h2d,nowhere:bpool/page|daily`]);
  // Every 3 hours for a day and a half; the backup pool is away for three runs (its lag grows, then is caught up).
  for (let h = 0; h <= 36; h += 3) {
    const at = new Date(Date.UTC(2026, 11, 1, h)).toISOString().replace('.000Z', 'Z');
    if (h === 12) await bak.exportPool('bpool');
    if (h === 21) await bak.importPool('bpool');
    await src.writeRandom('tank/page', `h${h}.bin`, 8);
    await run(at, '--max-channels', '2'); // exit 1 (nowhere is unreachable): its failure is part of the page
  }
  const page = join(lab.dir, 'page.html');
  const bad = await zback(['status', '--html', join(lab.dir, 'no-such-folder', 'page.html')]);
  expect([bad.code, bad.stderr]).toEqual([2, expect.stringMatching(/--html .*: the folder .*no-such-folder does not exist/)]);
  const r = await zback(['status', '--html', page, '--remote', '--ssh-config', join(lab.dir, 'ssh-config'), '--now', '2026-12-02T12:30:00Z']);
  expect([r.code, r.stdout, r.stderr]).toEqual([0, '', '']); // for cron: the page alone
  const html = readFileSync(page, 'utf8');
  // Self-contained: no script, nothing fetched from anywhere.
  expect(html).not.toMatch(/<script|<link|<img|<iframe|url\(|@import/i);
  expect(html).not.toMatch(/(src|href)="(?!#)/);

  const dom = chromium(['--dump-dom', `file://${page}`]);
  expect(dom.code).toBe(0);
  expect(dom.stdout).toContain('<h2>tank/page</h2>');
  expect(dom.stdout).toMatch(/CRIT<\/td><td colspan="6">→ nowhere:bpool\/page · daily · last nothing yet · unreachable/);
  // Why each snapshot is kept, here and on the backup host (each side by its own retention).
  expect(dom.stdout).toContain(
    '<td class="name">@2026-12-02-120000</td><td class="hourly">hourly 1/6 (2026-12-02 12:00 +00:00); newest zback snapshot; base for bak:bpool/page</td>' +
      '<td class="hourly">hourly 1/12 (2026-12-02 12:00 +00:00); newest zback snapshot; last common snapshot with the source</td><td class="absent">–</td>',
  );
  expect(dom.stdout).toMatch(/<td class="name">@2026-12-02-000000<\/td><td class="daily">[^<]*daily 1\/2 \(2026-12-02\)/);
  expect(dom.stdout).toContain('Replication lag over the last runs');
  // The pool's three runs away: each failed run is marked on bak's lag line.
  for (const h of [12, 15, 18]) expect(dom.stdout).toContain(`<title>2026-12-01 ${h}:00 +00:00: error</title>`);
  // (The other tests' runs share the state directory: at least this test's 13.)
  expect(Number(/<title>replication lag of tank\/page over the last (\d+) runs<\/title>/.exec(dom.stdout)?.[1])).toBeGreaterThanOrEqual(13);
  const png = join(lab.dir, 'page.png');
  const shot = chromium([`--screenshot=${png}`, '--window-size=1100,1400', `file://${page}`]);
  expect(shot.code).toBe(0);
  expect(shot.stderr).not.toMatch(/CONSOLE|Uncaught|Failed to load resource|net::ERR/);
  const image = readFileSync(png);
  expect(image.subarray(1, 4).toString('latin1')).toBe('PNG');
  expect(image.length).toBeGreaterThan(30_000); // a drawn page, not a blank one
  console.log(`status --html: ${html.length} bytes of HTML, a ${image.length}-byte screenshot in ${png}`);
});

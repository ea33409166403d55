#!/usr/bin/env node
/**
 * zback's performance contract (SPEC §7), measured side by side in one run on this machine:
 * discovery cost, parse+plan time at scale, SSH connections per run, catch-up after missed
 * snapshots, and stream throughput against OpenSSH with peak memory. Prints a table and writes
 * the figures to bench-results/bench.json. Needs root, zfs-fuse and sshd (like the tests).
 *
 *   npm run bench            full sizes (1 GiB dataset, 2 GiB plain stream)
 *   npm run bench -- --quick small sizes, for trying the harness
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = new URL('../../', import.meta.url).pathname.replace(/\/$/, '');
const LAB = join(ROOT, '__tests__/lab/zfs-lab.sh');
const ZBACK = join(ROOT, 'bin/zback');
const QUICK = process.argv.includes('--quick');
const REPS = QUICK ? 3 : 5;
/** Datasets in the scale measurement: 1,000 (SPEC §7), 100 with --quick. */
const SCALE = QUICK ? 100 : 1000;
/** --only=sideBySide,scale runs only those measurements (names as in main()). */
const ONLY = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length).split(',') ?? null;
const dir = mkdtempSync(join(tmpdir(), 'zback-bench-'));
const env = { ...process.env, ZFS_LAB_DIR: dir };
const results = { date: new Date().toISOString(), machine: `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${process.platform}, node ${process.version}`, quick: QUICK };

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const lab = (...args) => execFileSync(LAB, args, { env, encoding: 'utf8' });
const inHost = (host, argv, opts = {}) => spawnSync(LAB, ['exec', host, ...argv], { env: { ...env, ...opts.env }, encoding: 'utf8', maxBuffer: 1 << 28 });
const zfs = (host, ...args) => {
  const r = inHost(host, ['zfs', ...args]);
  if (r.status !== 0) throw new Error(`zfs ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
};
function log(line) {
  process.stderr.write(`[bench] ${line}\n`);
}

// A zfs wrapper first on PATH counts invocations (zback is not aware of it).
const wrapperDir = join(dir, 'bin');
mkdirSync(wrapperDir);
const realZfs = execFileSync('sh', ['-c', 'command -v zfs'], { encoding: 'utf8' }).trim();
writeFileSync(join(wrapperDir, 'zfs'), `#!/bin/sh\n[ -n "$BENCH_ZFS_LOG" ] && printf '%s\\n' "$*" >> "$BENCH_ZFS_LOG"\nexec ${realZfs} "$@"\n`, { mode: 0o755 });

/** Runs zback in host `src`; returns wall ms, zback's own CPU, zfs invocations, stderr. */
function zback(args, { count = false, stateDir = join(dir, 'state') } = {}) {
  const zlog = join(dir, `zfs-${Math.random().toString(36).slice(2)}.log`);
  const t0 = performance.now();
  const r = inHost('src', ['node', ZBACK, ...args, '--state-dir', stateDir, '--ssh-config', join(dir, 'bak', 'ssh', 'config')], {
    env: { PATH: `${wrapperDir}:${process.env.PATH}`, ZBACK_REPORT_CPU: '1', BENCH_ZFS_LOG: count ? zlog : '' },
  });
  const wallMs = performance.now() - t0;
  const cpu = JSON.parse(/zback-cpu (\{.*\})/.exec(r.stderr)?.[1] ?? '{}');
  let calls = [];
  try {
    calls = readFileSync(zlog, 'utf8').trim().split('\n').filter(Boolean);
  } catch {}
  return { code: r.status, wallMs, cpuMs: (cpu.userMs ?? NaN) + (cpu.systemMs ?? NaN), maxRssKiB: cpu.maxRssKiB, calls, stderr: r.stderr.replace(/zback-cpu .*\n/, '') };
}
const accepted = () => (readFileSync(join(dir, 'bak', 'ssh', 'sshd.log'), 'utf8').match(/Accepted publickey/g) ?? []).length;

async function main() {
  log(`lab in ${dir}`);
  lab('start', 'src');
  lab('start', 'bak');
  lab('pool', 'src', 'tank', '4G');
  lab('pool', 'bak', 'bpool', '4G');
  lab('sshd', 'bak', String(24000 + (process.pid % 1000)));
  try {
    const measurements = { discovery, planScale, connections, catchUp, sinkOverhead, sideBySide, scale, throughput, bandwidth };
    for (const name of ONLY ?? []) if (!(name in measurements)) throw new Error(`--only: no measurement ${name} (there are ${Object.keys(measurements).join(', ')})`);
    for (const [name, measure] of Object.entries(measurements)) {
      if (ONLY && !ONLY.includes(name)) continue;
      await measure();
      save(); // what is measured is kept, should a later measurement fail or hang
    }
  } finally {
    lab('stop-all');
    rmSync(dir, { recursive: true, force: true });
  }
  report();
}

/** 1. zfs invocations and zback's own CPU for a no-op run with 1, 10 and 100 real datasets. */
async function discovery() {
  results.discovery = [];
  zfs('src', 'create', 'tank/d');
  let made = 0;
  for (const n of [1, 10, 100]) {
    for (; made < n; made++) {
      const ds = `tank/d/n${made}`;
      zfs('src', 'create', ds);
      zfs('src', 'set', 'org.wit:snapshot=yes', ds);
      zfs('src', 'set', 'org.wit:retention=24h', ds);
    }
    zback(['run', '--now', '2026-11-25T10:00:00Z']); // take the snapshots: the runs below are no-ops
    const runs = Array.from({ length: REPS }, () => zback(['run', '--now', '2026-11-25T10:10:00Z'], { count: true }));
    results.discovery.push({ datasets: n, zfsCommands: runs[0].calls.length, zbackCpuMs: median(runs.map((r) => r.cpuMs)), wallMs: median(runs.map((r) => r.wallMs)) });
    log(`discovery ${n}: ${runs[0].calls.length} zfs commands, cpu ${median(runs.map((r) => r.cpuMs)).toFixed(0)} ms`);
  }
  for (let i = 0; i < made; i++) zfs('src', 'set', 'org.wit:snapshot=no', `tank/d/n${i}`);
}

/** 2. Parse + plan time on zfs output for D datasets × 100 snapshots (recorded-format text). */
function planScale() {
  const script = `
    import { parsePropertyRows, parsePropertyRowsValueFirst, crossCheckRows, parseInventory } from '${ROOT}/dist/lib/zfs/parse.js';
    import { propertyNames, resolveConfigs } from '${ROOT}/dist/lib/policy/properties.js';
    import { buildPlan } from '${ROOT}/dist/lib/plan/planner.js';
    import { Calendar } from '${ROOT}/dist/lib/policy/calendar.js';
    import { NameFormat } from '${ROOT}/dist/lib/policy/snapshot-names.js';
    import { LEGACY_CAPABILITIES } from '${ROOT}/dist/lib/zfs/capabilities.js';
    const D = Number(process.argv[1]); const S = 100; const names = new NameFormat(); const N = propertyNames('org.wit');
    let cfgA = 'pool/r\\torg.wit:snapshot\\tyes\\tlocal\\npool/r\\torg.wit:retention\\t24h30d8w12m\\tlocal\\n';
    let cfgB = 'yes\\tlocal\\torg.wit:snapshot\\tpool/r\\n24h30d8w12m\\tlocal\\torg.wit:retention\\tpool/r\\n';
    let inv = 'pool/r\\tguid\\t1\\npool/r\\tcreatetxg\\t1\\npool/r\\tuserrefs\\t-\\n';
    const t0 = Date.UTC(2026, 8, 1);
    for (let d = 0; d < D; d++) {
      const ds = 'pool/r/d' + d;
      for (const p of ['snapshot', 'retention']) { const v = p === 'snapshot' ? 'yes' : '24h30d8w12m'; cfgA += ds + '\\torg.wit:' + p + '\\t' + v + '\\tinherited from pool/r\\n'; cfgB += v + '\\tinherited from pool/r\\torg.wit:' + p + '\\t' + ds + '\\n'; }
      inv += ds + '\\tguid\\t' + (1000 + d) + '\\n' + ds + '\\tcreatetxg\\t2\\n' + ds + '\\tuserrefs\\t-\\n';
      for (let s = 0; s < S; s++) { const sn = ds + '@' + names.nameFor(t0 + s * 6 * 3600e3); inv += sn + '\\tguid\\t' + (d * 1000 + s) + '\\n' + sn + '\\tcreatetxg\\t' + (10 + s) + '\\n' + sn + '\\tuserrefs\\t0\\n'; }
    }
    const times = [];
    for (let i = 0; i < ${REPS}; i++) {
      const t = performance.now();
      const { rows, unreadable } = crossCheckRows(parsePropertyRows(cfgA), parsePropertyRowsValueFirst(cfgB));
      const configs = resolveConfigs(rows, N, unreadable);
      const inventory = parseInventory(inv);
      buildPlan({ configs, inventory, caps: LEGACY_CAPABILITIES, now: t0 + 101 * 6 * 3600e3, calendar: new Calendar('Europe/Berlin'), names });
      times.push(performance.now() - t);
    }
    console.log(JSON.stringify({ datasets: D, snapshots: D * S, ms: times.sort((a, b) => a - b)[Math.floor(times.length / 2)], inventoryLines: inv.split('\\n').length - 1 }));
  `;
  results.planScale = [100, 300, 1000].map((D) => {
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script, String(D)], { encoding: 'utf8' });
    const r = JSON.parse(out);
    log(`parse+plan ${r.datasets} datasets × 100 snapshots: ${r.ms.toFixed(0)} ms`);
    return r;
  });
}

/** 3. TCP connections accepted by the backup host's sshd per run, for 1, 20 and 100 datasets. */
async function connections() {
  results.connections = [];
  zfs('src', 'create', 'tank/c');
  let made = 0;
  let hour = 10;
  for (const n of [1, 20, 100]) {
    for (; made < n; made++) zfs('src', 'create', `tank/c/x${made}`);
    zfs('src', 'set', 'org.wit:snapshot=yes', 'tank/c');
    zfs('src', 'set', 'org.wit:retention=24h', 'tank/c');
    zfs('src', 'set', `org.wit:destinations=bak:bpool/c${n}|hourly`, 'tank/c');
    const before = accepted();
    const r = zback(['run', '--now', `2026-11-25T${String(hour++).padStart(2, '0')}:00:00Z`]);
    if (r.code !== 0) throw new Error(`connections run failed: ${r.stderr}`);
    results.connections.push({ datasets: n + 1, connections: accepted() - before, wallMs: r.wallMs });
    log(`connections with ${n + 1} datasets: ${accepted() - before}`);
  }
  zfs('src', 'set', 'org.wit:snapshot=no', 'tank/c');
}

/** 4. Catch-up after 48 missed hourly snapshots: zback's -I against one -i per snapshot. */
async function catchUp() {
  zfs('src', 'create', 'tank/u');
  zfs('src', 'set', 'org.wit:snapshot=yes', 'tank/u');
  zfs('src', 'set', 'org.wit:retention=72h', 'tank/u');
  zfs('src', 'set', 'org.wit:destinations=bak:bpool/u|hourly', 'tank/u');
  const mnt = zfs('src', 'get', '-H', '-o', 'value', 'mountpoint', 'tank/u').trim();
  const t0 = Date.UTC(2026, 10, 20, 0);
  const iso = (h) => new Date(t0 + h * 3600e3).toISOString().replace('.000', '');
  if (zback(['run', '--now', iso(0)]).code !== 0) throw new Error('seed failed');
  for (let h = 1; h <= 48; h++) {
    inHost('src', ['sh', '-c', `head -c 262144 /dev/urandom > "${mnt}/f${h % 6}"`]);
    zfs('src', 'snapshot', `tank/u@${new Date(t0 + h * 3600e3).toISOString().slice(0, 19).replace('T', '-').replace(/:/g, '')}`);
  }
  const zb = zback(['run', '--now', iso(48) + '', '--verbose'], { count: true });
  if (zb.code !== 0) throw new Error(`catch-up failed: ${zb.stderr}`);
  const sends = zb.calls.filter((c) => /^send /.test(c));
  // The same 48 snapshots one -i at a time, through OpenSSH, into a second copy.
  const snaps = zfs('src', 'list', '-H', '-o', 'name', '-t', 'snapshot', '-s', 'createtxg', '-r', 'tank/u').trim().split('\n');
  const ssh = ['ssh', '-F', join(dir, 'bak', 'ssh', 'config'), 'bak'];
  inHost('src', ['sh', '-c', `zfs send ${snaps[0]} | ${ssh.join(' ')} zfs recv -u bpool/u2`]);
  const t = performance.now();
  for (let i = 1; i <= 48; i++) {
    const r = inHost('src', ['sh', '-c', `zfs send -i ${snaps[i - 1]} ${snaps[i]} | ${ssh.join(' ')} zfs recv -u bpool/u2`]);
    if (r.status !== 0) throw new Error(`-i ${i}: ${r.stderr}`);
  }
  const perSnapshotMs = performance.now() - t;
  zfs('src', 'set', 'org.wit:snapshot=no', 'tank/u'); // done: later runs are about their own datasets
  results.catchUp = { missed: 48, zbackSendCommands: sends.length, zbackWallMs: zb.wallMs, perSnapshotSends: 48, perSnapshotWallMs: perSnapshotMs };
  log(`catch-up: zback ${sends.length} send(s) in ${zb.wallMs.toFixed(0)} ms; one -i per snapshot: ${perSnapshotMs.toFixed(0)} ms`);
}

/**
 * 6. The restricted sink's cost: an incremental run of 21 datasets (64 KiB changed in each) to the
 * backup host as a plain root login, then the same through `zback sink` as the key's forced
 * command (one sink process per command the source sends), side by side.
 */
async function sinkOverhead() {
  const keys = join(dir, 'bak', 'ssh', 'authorized_keys');
  const plain = readFileSync(keys, 'utf8');
  zfs('src', 'create', 'tank/k');
  for (let i = 0; i < 20; i++) zfs('src', 'create', `tank/k/d${i}`);
  zfs('src', 'set', 'org.wit:snapshot=yes', 'tank/k');
  zfs('src', 'set', 'org.wit:retention=24h', 'tank/k');
  zfs('bak', 'create', 'bpool/sink');
  const datasets = zfs('src', 'list', '-H', '-o', 'name,mountpoint', '-r', 'tank/k').trim().split('\n').map((l) => l.split('\t'));
  const change = (tag) => {
    for (const [, mnt] of datasets) inHost('src', ['sh', '-c', `head -c 65536 /dev/urandom > "${mnt}/${tag}"`]);
  };
  const measure = (target, h) => {
    zfs('src', 'set', `org.wit:destinations=bak:${target}|hourly`, 'tank/k');
    const seed = zback(['run', '--now', `2026-12-01T${String(h).padStart(2, '0')}:00:00Z`]);
    if (seed.code !== 0) throw new Error(`sink bench: seed to ${target} failed: ${seed.stderr}`);
    change(`h${h}`);
    const r = zback(['run', '--now', `2026-12-01T${String(h + 1).padStart(2, '0')}:00:00Z`], { count: true });
    if (r.code !== 0) throw new Error(`sink bench: incremental to ${target} failed: ${r.stderr}`);
    if (!r.calls.some((c) => c.startsWith('send '))) throw new Error(`sink bench: nothing was sent to ${target}`);
    return r;
  };
  try {
    const direct = measure('bpool/direct', 10);
    writeFileSync(keys, plain.split('\n').filter(Boolean).map((k) => `restrict,command="${process.execPath} ${ZBACK} sink --root bpool/sink --log ${join(dir, 'sink.log')}" ${k}`).join('\n') + '\n');
    const viaSink = measure('bpool/sink/k', 12);
    results.sink = { datasets: datasets.length, directWallMs: direct.wallMs, sinkWallMs: viaSink.wallMs, ratio: viaSink.wallMs / direct.wallMs };
    log(`sink: incremental of ${datasets.length} datasets ${direct.wallMs.toFixed(0)} ms direct, ${viaSink.wallMs.toFixed(0)} ms through zback sink`);
  } finally {
    writeFileSync(keys, plain);
    zfs('src', 'set', 'org.wit:snapshot=no', 'tank/k');
  }
}

/**
 * Runs `measure` with the backup host's sshd logging every command a key runs (a forced command
 * that appends SSH_ORIGINAL_COMMAND to a log, then runs it as sshd would): exec channels and zfs
 * calls on the backup side, counted where they happen.
 */
function withRemoteCommandLog(measure) {
  const keys = join(dir, 'bak', 'ssh', 'authorized_keys');
  const plain = readFileSync(keys, 'utf8');
  const logFile = join(dir, 'remote-commands.log');
  const logger = join(dir, 'log-command.sh');
  writeFileSync(logger, `#!/bin/sh\nprintf '%s\\n' "$SSH_ORIGINAL_COMMAND" >> ${logFile}\nexec /bin/sh -c "$SSH_ORIGINAL_COMMAND"\n`, { mode: 0o755 });
  writeFileSync(keys, plain.split('\n').filter(Boolean).map((k) => `command="${logger}" ${k}`).join('\n') + '\n');
  const remote = () => {
    let lines = [];
    try {
      lines = readFileSync(logFile, 'utf8').split('\n').filter(Boolean);
    } catch {}
    rmSync(logFile, { force: true });
    return { channels: lines.length, zfsCalls: lines.filter((l) => /(^|[\s'";|])zfs\s/.test(l)).length, lines };
  };
  try {
    return measure(remote);
  } finally {
    writeFileSync(keys, plain);
  }
}

/**
 * 7. The 21-dataset incremental (64 KiB changed in each), side by side in one run: zback, one
 * `zfs send -i | ssh zfs recv` per dataset, and one `zfs send -R -I` stream of the whole tree,
 * each into its own copy, interleaved; wall time, exec channels, zfs calls on each side.
 */
async function sideBySide() {
  /** A parent and 20 children, managed by zback under `prefix`; returns [name, mountpoint] of all 21. */
  const tree = (root, prefix, target) => {
    zfs('src', 'create', root);
    for (let i = 0; i < 20; i++) zfs('src', 'create', `${root}/d${String(i).padStart(2, '0')}`);
    zfs('src', 'set', `${prefix}:snapshot=yes`, root);
    zfs('src', 'set', `${prefix}:retention=24h`, root);
    zfs('src', 'set', `${prefix}:destinations=bak:${target}|hourly`, root);
    return zfs('src', 'list', '-H', '-o', 'name,mountpoint', '-r', root).trim().split('\n').map((l) => l.split('\t'));
  };
  /** 64 KiB of new data in every dataset of a tree. */
  const change = (list, h) => {
    for (const [, mnt] of list) inHost('src', ['sh', '-c', `head -c 65536 /dev/urandom > "${mnt}/h${h}"`]);
  };
  const datasets = tree('tank/w', 'org.wit', 'bpool/w-zback');
  // A twin tree for zback with 8 channels at once instead of 4 (its own prefix and state: the two
  // runs never see each other's datasets), to tell how much the per-dataset receives bound it.
  const twins = tree('tank/x', 'bench8', 'bpool/x-zback');
  const eight = (h, count = false) => zback(['run', '--prefix', 'bench8', '--max-channels', '8', '--now', at(h)], { count, stateDir: join(dir, 'state8') });
  const ssh = `ssh -F ${join(dir, 'bak', 'ssh', 'config')} bak`;
  const at = (h) => `2026-12-02T${String(h).padStart(2, '0')}:00:00Z`;
  const snap = (h) => `2026-12-02-${String(h).padStart(2, '0')}0000`;
  const timed = (script) => {
    const t = performance.now();
    const r = inHost('src', ['sh', '-c', `BENCH_ZFS_LOG=${join(dir, 'loop-zfs.log')} PATH=${wrapperDir}:$PATH; export BENCH_ZFS_LOG PATH; ${script}`]);
    if (r.status !== 0) throw new Error(`side by side: ${script.slice(0, 80)}…: ${r.stderr}`);
    const ms = performance.now() - t;
    let calls = 0;
    try {
      calls = readFileSync(join(dir, 'loop-zfs.log'), 'utf8').split('\n').filter(Boolean).length;
    } catch {}
    rmSync(join(dir, 'loop-zfs.log'), { force: true });
    return { ms, calls };
  };
  return withRemoteCommandLog((remote) => {
    // Seeds: zback's own, and one -R stream for each of the two copies the others update.
    const seed = zback(['run', '--now', at(1)]);
    if (seed.code !== 0) throw new Error(`side by side: zback seed failed: ${seed.stderr}`);
    const seed8 = eight(1);
    if (seed8.code !== 0) throw new Error(`side by side: zback (8 channels) seed failed: ${seed8.stderr}`);
    timed(`zfs send -R tank/w@${snap(1)} | ${ssh} zfs recv -u bpool/w-loop && zfs send -R tank/w@${snap(1)} | ${ssh} zfs recv -u bpool/w-stream`);
    remote();
    const runs = { zback: [], zback8: [], loop: [], stream: [] };
    for (let h = 2; h < 2 + REPS; h++) {
      change(datasets, h);
      const z = zback(['run', '--now', at(h)], { count: true });
      if (z.code !== 0) throw new Error(`side by side: zback incremental failed: ${z.stderr}`);
      runs.zback.push({ ms: z.wallMs, channels: remote(), localCalls: z.calls.length, cpuMs: z.cpuMs });
      change(twins, h);
      const z8 = eight(h, true);
      if (z8.code !== 0) throw new Error(`side by side: zback (8 channels) incremental failed: ${z8.stderr}`);
      runs.zback8.push({ ms: z8.wallMs, channels: remote(), localCalls: z8.calls.length, cpuMs: z8.cpuMs });
      const loop = timed(datasets.map(([d]) => `zfs send -i @${snap(h - 1)} ${d}@${snap(h)} | ${ssh} zfs recv -u bpool/w-loop${d.slice('tank/w'.length)}`).join(' && '));
      runs.loop.push({ ...loop, channels: remote() });
      const stream = timed(`zfs send -R -I @${snap(h - 1)} tank/w@${snap(h)} | ${ssh} zfs recv -u bpool/w-stream`);
      runs.stream.push({ ...stream, channels: remote() });
      log(`side by side ${h - 1}/${REPS}: zback ${z.wallMs.toFixed(0)} ms (8 channels: ${z8.wallMs.toFixed(0)} ms), per-dataset loop ${loop.ms.toFixed(0)} ms, one -R stream ${stream.ms.toFixed(0)} ms`);
    }
    zfs('src', 'set', 'org.wit:snapshot=no', 'tank/w');
    zfs('src', 'set', 'bench8:snapshot=no', 'tank/x');
    const summary = (xs) => ({
      wallMs: median(xs.map((x) => x.ms)),
      execChannels: median(xs.map((x) => x.channels.channels)),
      zfsCallsSource: median(xs.map((x) => x.localCalls ?? x.calls)),
      zfsCallsBackup: median(xs.map((x) => x.channels.zfsCalls)),
      ...(xs[0].cpuMs !== undefined ? { zbackCpuMs: median(xs.map((x) => x.cpuMs)) } : {}),
    });
    results.sideBySide = { datasets: datasets.length, zback: summary(runs.zback), zback8: summary(runs.zback8), loop: summary(runs.loop), stream: summary(runs.stream), backupCommands: runs.zback[0].channels.lines };
  });
}

/** A shell script in a lab host; throws with its stderr unless it exits 0. */
function sh(host, script) {
  const r = inHost(host, ['sh', '-c', script]);
  if (r.status !== 0) throw new Error(`in ${host}: ${script.slice(0, 120)}…: exit ${r.status}: ${r.stderr}`);
  return r.stdout;
}

/**
 * 8. Scale, end to end on zfs-fuse: SCALE datasets under one parent replicated to the backup host
 * (seed, then a no-op run, an incremental run of the next hour's snapshots, and status), then 100
 * datasets with 100 snapshots each (no-op run and status again). Wall time, zback's CPU and peak
 * RSS, exec channels and zfs calls on each side.
 */
async function scale() {
  const n = SCALE;
  const t0 = performance.now();
  // Unmounted (mountpoint=none, inherited): zfs-fuse mounts each dataset through FUSE and stops at
  // about 1,024 mounted datasets per daemon (the rest fail to be created).
  sh('src', `zfs create -o mountpoint=none tank/s && i=0; while [ $i -lt ${n - 1} ]; do zfs create tank/s/d$i || exit 1; i=$((i+1)); done`);
  const createMs = performance.now() - t0;
  log(`scale: created ${n} datasets in ${(createMs / 1000).toFixed(0)} s`);
  zfs('src', 'set', 'org.wit:snapshot=yes', 'tank/s');
  zfs('src', 'set', 'org.wit:retention=24h', 'tank/s');
  zfs('src', 'set', 'org.wit:destinations=bak:bpool/s|hourly', 'tank/s');
  const at = (h, m = 0) => `2026-12-03T${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}:00Z`;
  const status = () => {
    const t = performance.now();
    const r = inHost('src', ['node', ZBACK, 'status', '--now', at(2, 10), '--state-dir', join(dir, 'state')], { env: { ZBACK_REPORT_CPU: '1' } });
    const cpu = JSON.parse(/zback-cpu (\{.*\})/.exec(r.stderr)?.[1] ?? '{}');
    return { wallMs: performance.now() - t, cpuMs: cpu.userMs + cpu.systemMs, peakRssMiB: cpu.maxRssKiB / 1024 };
  };
  const figures = (r, remote) => ({ wallMs: r.wallMs, cpuMs: r.cpuMs, peakRssMiB: r.maxRssKiB / 1024, zfsCallsSource: r.calls.length, ...(remote ? { execChannels: remote.channels, zfsCallsBackup: remote.zfsCalls } : {}) });
  const out = withRemoteCommandLog((remote) => {
    const seed = zback(['run', '--now', at(1)], { count: true });
    if (seed.code !== 0) throw new Error(`scale: seed failed: ${seed.stderr.slice(0, 2000)}`);
    const seeded = figures(seed, remote());
    log(`scale: seed of ${n} datasets ${(seed.wallMs / 1000).toFixed(0)} s`);
    const noop = zback(['run', '--now', at(1, 10)], { count: true });
    if (noop.code !== 0) throw new Error(`scale: no-op run failed: ${noop.stderr.slice(0, 2000)}`);
    const idle = figures(noop, remote());
    // No data is written first: zfs-fuse stops answering after writes into about 500 of 1,000
    // datasets (measured: a 64 KiB write blocked for 17 minutes, the daemon spinning). The run still
    // sends one incremental stream (of the new snapshot) per dataset, which is what is counted.
    const inc = zback(['run', '--now', at(2)], { count: true });
    if (inc.code !== 0) throw new Error(`scale: incremental failed: ${inc.stderr.slice(0, 2000)}`);
    const incremental = figures(inc, remote());
    log(`scale: incremental of ${n} datasets ${(inc.wallMs / 1000).toFixed(1)} s, ${incremental.execChannels} channels`);
    return { datasets: n, createMs, seed: seeded, noop: idle, incremental, status: status() };
  });
  zfs('src', 'set', 'org.wit:snapshot=no', 'tank/s');
  // Separately, many snapshots: 100 datasets kept locally only (no destination, a retention that
  // keeps ten days of hours) with 99 more snapshots each, dated the days before. 100 datasets, not
  // 1,000: zfs-fuse's own `zfs get -r` over snapshots takes about 5 ms per snapshot, so 100,000 would
  // take minutes per command whatever the tool (zback's share is its CPU time, shown); parse + plan
  // of 100,000 is measured without ZFS above.
  const m = 100;
  sh('src', `zfs create -o mountpoint=none tank/m && i=0; while [ $i -lt ${m - 1} ]; do zfs create tank/m/d$i || exit 1; i=$((i+1)); done`);
  zfs('src', 'set', 'org.wit:snapshot=yes', 'tank/m');
  zfs('src', 'set', 'org.wit:retention=240h', 'tank/m');
  const t1 = performance.now();
  sh('src', `i=0; while [ $i -lt 99 ]; do zfs snapshot -r "tank/m@2026-11-$((26 + i / 24))-$(printf %02d $((i % 24)))0000" || exit 1; i=$((i+1)); done`);
  log(`scale: 99 snapshots of ${m} datasets in ${((performance.now() - t1) / 1000).toFixed(0)} s`);
  const warm = zback(['run', '--now', at(2, 10)]); // takes the 100th snapshot
  if (warm.code !== 0) throw new Error(`scale: run with many snapshots failed: ${warm.stderr.slice(0, 2000)}`);
  const many = zback(['run', '--now', at(2, 20)], { count: true });
  if (many.code !== 0) throw new Error(`scale: no-op run with many snapshots failed: ${many.stderr.slice(0, 2000)}`);
  out.snapshots = { datasets: m, count: zfs('src', 'list', '-H', '-t', 'snapshot', '-o', 'name', '-r', 'tank/m').trim().split('\n').length, noop: figures(many), status: status() };
  zfs('src', 'set', 'org.wit:snapshot=no', 'tank/m');
  results.scale = out;
}

/**
 * 5. Throughput. (a) A zfs send of a dataset with ≥1 GiB of incompressible data, seeded by zback
 * vs `zfs send | ssh bak zfs recv` (OpenSSH defaults). (b) A plain 2 GiB stream, which isolates
 * the transport: zback's transfer over its ssh2 connection vs `cat | ssh bak 'cat >/dev/null'`.
 */
async function throughput() {
  const size = QUICK ? 128 : 1024; // MiB
  zfs('src', 'create', 'tank/big');
  const mnt = zfs('src', 'get', '-H', '-o', 'value', 'mountpoint', 'tank/big').trim();
  log(`writing ${size} MiB of random data`);
  inHost('src', ['sh', '-c', `head -c ${size}M /dev/urandom > "${mnt}/data"`]);
  zfs('src', 'snapshot', 'tank/big@2026-11-25-100000');
  const ssh = `ssh -F ${join(dir, 'bak', 'ssh', 'config')} bak`;
  const zbMs = [];
  const sshMs = [];
  const rss = [];
  let opensshCipher = '';
  for (let i = 0; i < (QUICK ? 2 : 3); i++) {
    // Interleaved, each into a fresh target.
    const target = `bpool/t${i}`;
    zfs('src', 'set', 'org.wit:snapshot=yes', 'tank/big');
    zfs('src', 'set', 'org.wit:retention=24h', 'tank/big');
    zfs('src', 'set', `org.wit:destinations=bak:${target}z|hourly`, 'tank/big');
    const z = zback(['run', '--now', '2026-11-25T10:30:00Z']);
    if (z.code !== 0) throw new Error(`zback seed: ${z.stderr}`);
    zbMs.push(z.wallMs);
    rss.push(z.maxRssKiB);
    zfs('src', 'set', 'org.wit:snapshot=no', 'tank/big');
    const t = performance.now();
    const o = inHost('src', ['sh', '-c', `zfs send tank/big@2026-11-25-100000 | ${ssh} -v zfs recv -u ${target}o 2>/tmp/zback-bench-ssh.$$; grep -m1 -o 'cipher: [^ ]*' /tmp/zback-bench-ssh.$$; rm -f /tmp/zback-bench-ssh.$$`]);
    sshMs.push(performance.now() - t);
    opensshCipher ||= (/cipher: (\S+)/.exec(o.stdout) ?? [])[1] ?? '?';
    log(`zfs stream ${i + 1}: zback ${z.wallMs.toFixed(0)} ms, openssh ${sshMs[sshMs.length - 1].toFixed(0)} ms`);
    // Make room for the next pair (the pool holds a few copies only); the last zback copy stays for the restores.
    const last = i === (QUICK ? 2 : 3) - 1;
    for (const t of last ? [`${target}o`] : [`${target}z`, `${target}o`]) {
      for (let k = 0; k < 10 && inHost('bak', ['zfs', 'destroy', '-r', t]).status !== 0; k++) execFileSync('sleep', ['0.3']);
    }
  }
  // zback restore of that copy back to the source host, against `ssh bak zfs send | zfs recv` of the same snapshot.
  const copy = `bpool/t${(QUICK ? 2 : 3) - 1}z`;
  const snap = inHost('bak', ['zfs', 'list', '-H', '-o', 'name', '-t', 'snapshot', '-r', copy]).stdout.trim().split('\n').pop();
  const restoreMs = [];
  const pullMs = [];
  for (let i = 0; i < (QUICK ? 2 : 3); i++) {
    const r = zback(['restore', 'tank/big', '--from', `bak:${copy}`, '--to', `tank/rz${i}`]);
    if (r.code !== 0) throw new Error(`zback restore: ${r.stderr}`);
    restoreMs.push(r.wallMs);
    const t = performance.now();
    const o = inHost('src', ['sh', '-c', `${ssh} zfs send ${snap} | zfs recv -u tank/ro${i}`]);
    if (o.status !== 0) throw new Error(`ssh zfs send | zfs recv: ${o.stderr}`);
    pullMs.push(performance.now() - t);
    log(`restore ${i + 1}: zback ${r.wallMs.toFixed(0)} ms, ssh zfs send | zfs recv ${pullMs[pullMs.length - 1].toFixed(0)} ms`);
    for (const t of [`tank/rz${i}`, `tank/ro${i}`]) for (let k = 0; k < 10 && inHost('src', ['zfs', 'destroy', '-r', t]).status !== 0; k++) execFileSync('sleep', ['0.3']);
  }
  results.restore = { mib: size, zbackMiBps: size / (median(restoreMs) / 1000), opensshMiBps: size / (median(pullMs) / 1000), ratio: median(pullMs) / median(restoreMs) };
  results.zfsStream = {
    mib: size,
    zbackMiBps: size / (median(zbMs) / 1000),
    opensshMiBps: size / (median(sshMs) / 1000),
    ratio: median(sshMs) / median(zbMs),
    zbackPeakRssMiB: Math.max(...rss) / 1024,
    opensshCipher,
    note: 'zback wall time includes its discovery, snapshot bookkeeping and holds (~0.5 s)',
  };
  results.plainStream = plainStream(QUICK ? 256 : 2048, ssh);
}

/**
 * 9. Bandwidth limits (--bwlimit, bwlimit=): a random stream through zback's transfer over its ssh2
 * connection to the backup host, throttled at several rates, each for about 6 s; the achieved rate
 * is bytes / time from the first byte to the receiver's exit. An unlimited run is shown beside.
 */
function bandwidth() {
  const file = join(dir, 'bw.bin');
  const script = `
    import { LocalHost } from '${ROOT}/dist/lib/transport/local.js';
    import { RemoteHost } from '${ROOT}/dist/lib/transport/remote.js';
    import { resolveSsh } from '${ROOT}/dist/lib/transport/ssh-config.js';
    import { transfer } from '${ROOT}/dist/lib/transport/pipe.js';
    import { TokenBucket } from '${ROOT}/dist/lib/transport/rate-limit.js';
    const local = new LocalHost();
    const settings = await resolveSsh(local, { alias: 'bak' }, process.argv[1], false);
    const host = await RemoteHost.connect('bak', settings, {});
    const rate = Number(process.argv[3]);
    const t = performance.now();
    const r = await transfer(local.startSource(['cat', process.argv[2]]), await host.startSink(['sh', '-c', 'cat > /dev/null']), { idleTimeoutMs: 60000, ...(rate ? { limits: [new TokenBucket(rate)] } : {}) });
    console.log(JSON.stringify({ ok: r.ok, bytes: r.bytes, ms: performance.now() - t }));
    await host.close();
  `;
  const MiB = 1024 * 1024;
  const rates = QUICK ? [4, 16] : [2, 8, 32, 64];
  const maxMiB = Math.max(...rates) * 6;
  execFileSync('sh', ['-c', `head -c ${maxMiB}M /dev/urandom > ${file}`]);
  const out = [];
  for (const r of [0, ...rates]) {
    const mib = (r || Math.max(...rates)) * 6;
    const part = join(dir, `bw-${mib}.bin`);
    execFileSync('sh', ['-c', `head -c ${mib}M ${file} > ${part}`]);
    const x = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script, join(dir, 'bak', 'ssh', 'config'), part, String(r * MiB)], { encoding: 'utf8' }));
    if (!x.ok || x.bytes !== mib * MiB) throw new Error(`bandwidth: the stream at ${r} MiB/s failed`);
    const achieved = x.bytes / MiB / (x.ms / 1000);
    out.push({ limitMiBps: r || null, mib, seconds: x.ms / 1000, achievedMiBps: achieved, error: r ? achieved / r - 1 : null });
    log(`bandwidth: limit ${r ? `${r} MiB/s` : 'none'}: ${achieved.toFixed(2)} MiB/s over ${(x.ms / 1000).toFixed(1)} s`);
  }
  results.bandwidth = out;
}

function plainStream(mib, ssh) {
  const file = join(dir, 'stream.bin');
  execFileSync('sh', ['-c', `head -c ${mib}M /dev/urandom > ${file}`]);
  const script = `
    import { LocalHost } from '${ROOT}/dist/lib/transport/local.js';
    import { RemoteHost } from '${ROOT}/dist/lib/transport/remote.js';
    import { resolveSsh } from '${ROOT}/dist/lib/transport/ssh-config.js';
    import { transfer } from '${ROOT}/dist/lib/transport/pipe.js';
    const local = new LocalHost();
    const settings = await resolveSsh(local, { alias: 'bak' }, process.argv[1], false);
    const host = await RemoteHost.connect('bak', settings, {});
    let peak = 0; const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
    const t = performance.now();
    const r = await transfer(local.startSource(['cat', process.argv[2]]), await host.startSink(['sh', '-c', 'cat > /dev/null']), { idleTimeoutMs: 60000 });
    const ms = performance.now() - t; clearInterval(timer);
    console.log(JSON.stringify({ ok: r.ok, bytes: r.bytes, ms, peakRss: peak, cipher: host.negotiated?.cs?.cipher ?? '?' }));
    await host.close();
  `;
  const zb = [];
  const os = [];
  let cipher = '';
  let peak = 0;
  for (let i = 0; i < REPS; i++) {
    const r = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script, join(dir, 'bak', 'ssh', 'config'), file], { encoding: 'utf8' }));
    if (!r.ok) throw new Error('plain stream through zback failed');
    zb.push(r.ms);
    peak = Math.max(peak, r.peakRss);
    cipher = r.cipher;
    const t = performance.now();
    execFileSync('sh', ['-c', `cat ${file} | ${ssh} 'cat > /dev/null'`]);
    os.push(performance.now() - t);
    log(`plain stream ${i + 1}/${REPS}: zback ${r.ms.toFixed(0)} ms, openssh ${os[os.length - 1].toFixed(0)} ms`);
  }
  return { mib, zbackMiBps: mib / (median(zb) / 1000), opensshMiBps: mib / (median(os) / 1000), ratio: median(os) / median(zb), zbackPeakRssMiB: peak / 1048576, zbackCipher: cipher };
}

function report() {
  const rows = [];
  for (const d of results.discovery ?? []) rows.push([`no-op run, ${d.datasets} datasets`, `${d.zfsCommands} zfs commands, zback CPU ${d.zbackCpuMs.toFixed(0)} ms`, 'constant; < 1 s']);
  for (const p of results.planScale ?? []) rows.push([`parse + plan, ${p.datasets} × 100 snapshots`, `${p.ms.toFixed(0)} ms`, '< 1 s at 100,000; linear']);
  for (const c of results.connections ?? []) rows.push([`SSH connections, ${c.datasets} datasets`, `${c.connections}`, '1']);
  const u = results.catchUp;
  if (u) rows.push(['catch-up after 48 missed', `${u.zbackSendCommands} send, ${(u.zbackWallMs / 1000).toFixed(1)} s vs 48 × -i ${(u.perSnapshotWallMs / 1000).toFixed(1)} s`, 'one -I per dataset']);
  const k = results.sink;
  if (k) rows.push([`incremental, ${k.datasets} datasets`, `direct ${(k.directWallMs / 1000).toFixed(1)} s, through zback sink ${(k.sinkWallMs / 1000).toFixed(1)} s (× ${k.ratio.toFixed(2)})`, 'shown, not a target: one node start (≈0.16 s CPU) per command the sink runs']);
  const b = results.sideBySide;
  const row = (name, x) => `${name} ${(x.wallMs / 1000).toFixed(2)} s, ${x.execChannels} channels, zfs ${x.zfsCallsSource}/${x.zfsCallsBackup}`;
  if (b) rows.push([`incremental, ${b.datasets} datasets (zfs calls source/backup)`, `${row('zback', b.zback)}${b.zback8 ? ` (×${(b.zback.wallMs / b.stream.wallMs).toFixed(2)} the stream); ${row('zback --max-channels 8', b.zback8)} (×${(b.zback8.wallMs / b.stream.wallMs).toFixed(2)})` : ''}; ${row('send|ssh recv per dataset', b.loop)}; ${row('one send -R -I', b.stream)}`, `≤ ${b.datasets + 6} channels, ≤ ${b.datasets + 8} zfs calls per side; wall ≤ 2 × send -R`]);
  const c = results.scale;
  const fig = (x) => `${(x.wallMs / 1000).toFixed(1)} s wall, CPU ${(x.cpuMs / 1000).toFixed(2)} s, RSS ${x.peakRssMiB.toFixed(0)} MiB${x.execChannels !== undefined ? `, ${x.execChannels} channels, zfs ${x.zfsCallsSource}/${x.zfsCallsBackup}` : `, ${x.zfsCallsSource ?? '-'} zfs calls`}`;
  if (c) {
    rows.push([`${c.datasets} datasets: no-op run`, fig(c.noop), 'CPU ≤ 0.2 s (start-up included)']);
    rows.push([`${c.datasets} datasets: incremental`, fig(c.incremental), `≤ ${c.datasets + 6} channels, ≤ ${c.datasets + 8} zfs calls per side`]);
    rows.push([`${c.datasets} datasets: status`, fig(c.status), 'interactive (< 1 s of zback)']);
    rows.push([`${c.snapshots.count} snapshots: no-op run`, fig(c.snapshots.noop), 'interactive (< 1 s of zback)']);
    rows.push([`${c.snapshots.count} snapshots: status`, fig(c.snapshots.status), 'interactive (< 1 s of zback)']);
  }
  const z = results.zfsStream;
  if (z) rows.push([`zfs send ${z.mib} MiB`, `zback ${z.zbackMiBps.toFixed(0)} MiB/s vs OpenSSH (${z.opensshCipher}) ${z.opensshMiBps.toFixed(0)} MiB/s = ${z.ratio.toFixed(2)}; peak RSS ${z.zbackPeakRssMiB.toFixed(0)} MiB`, '≥ 0.9; flat < 150 MB']);
  const rs = results.restore;
  if (rs) rows.push([`zback restore ${rs.mib} MiB`, `zback ${rs.zbackMiBps.toFixed(0)} MiB/s vs ssh host zfs send | zfs recv ${rs.opensshMiBps.toFixed(0)} MiB/s = ${rs.ratio.toFixed(2)}`, '≥ 0.9']);
  const s = results.plainStream;
  if (s) rows.push([`plain stream ${s.mib} MiB`, `zback (${s.zbackCipher}) ${s.zbackMiBps.toFixed(0)} MiB/s vs OpenSSH ${s.opensshMiBps.toFixed(0)} MiB/s = ${s.ratio.toFixed(2)}; peak RSS ${s.zbackPeakRssMiB.toFixed(0)} MiB`, '≥ 0.9; flat']);
  for (const x of results.bandwidth ?? [])
    rows.push([
      x.limitMiBps ? `--bwlimit ${x.limitMiBps}M, ${x.mib} MiB over ssh2` : `no limit, ${x.mib} MiB over ssh2`,
      `${x.achievedMiBps.toFixed(2)} MiB/s in ${x.seconds.toFixed(1)} s${x.error !== null ? ` (${x.error >= 0 ? '+' : ''}${(x.error * 100).toFixed(1)} %)` : ''}`,
      x.limitMiBps ? 'within 5 % of the limit' : 'reference',
    ]);
  const w = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i].length), 6));
  const line = (r) => `| ${r.map((c, i) => c.padEnd(w[i])).join(' | ')} |`;
  console.log(`zback benchmarks, ${results.date}, ${results.machine}${QUICK ? ' (quick)' : ''}\n`);
  console.log(line(['measure', 'result', 'target']));
  console.log(`|${w.map((n) => '-'.repeat(n + 2)).join('|')}|`);
  for (const r of rows) console.log(line(r));
  save();
  console.log(`\nfigures: ${join(ROOT, 'bench-results', 'bench.json')}`);
}

function save() {
  mkdirSync(join(ROOT, 'bench-results'), { recursive: true });
  writeFileSync(join(ROOT, 'bench-results', 'bench.json'), JSON.stringify(results, null, 2) + '\n');
}

main().catch((e) => {
  console.error(e);
  try {
    lab('stop-all');
  } catch {}
  process.exit(1);
});

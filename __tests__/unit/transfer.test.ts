/**
 * transfer() with real local processes (LocalHost.startSource / startSink): success, failures on
 * either side, early exits, stalls and spawn failures. Every command runs through a symlink in a
 * per-file bin directory, so `ps` can tell whether anything this file started is still running.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import type { RunResult } from '../../lib/transport/host.js';
import { LocalHost } from '../../lib/transport/local.js';
import { transfer, withHeadCheck, type TransferOptions, type TransferResult } from '../../lib/transport/pipe.js';
import { TokenBucket } from '../../lib/transport/rate-limit.js';

let dir: string;
let B: string; // bin directory with symlinks: B/cat, B/head, …
const local = new LocalHost();

/** The program's path (not a shell builtin: `false` must be /usr/bin/false). */
function which(cmd: string): string {
  return execFileSync('which', [cmd], { encoding: 'utf8' }).trim();
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'zback-xfer-'));
  B = join(dir, 'bin');
  mkdirSync(B);
  for (const cmd of ['sh', 'cat', 'head', 'yes', 'sleep', 'false', 'tee']) symlinkSync(which(cmd), join(B, cmd));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Processes started from this file's bin directory that are still there. */
function leftovers(): string[] {
  return execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l.includes(B) && !l.includes('ps -eo'));
}
afterEach(() => {
  expect(leftovers()).toEqual([]);
});

const sh = (script: string) => [`${B}/sh`, '-c', script];

async function run(source: string[], sink: string[], options: TransferOptions = {}): Promise<TransferResult & { ms: number }> {
  const t0 = Date.now();
  const src = local.startSource(source);
  let snk;
  try {
    snk = await local.startSink(sink);
  } catch (e) {
    src.abort(); // test hygiene: never leave the source behind
    await src.done;
    throw e;
  }
  const r = await transfer(src, snk, options);
  const ms = Date.now() - t0;
  // Nothing this transfer started is left: every process was reaped before transfer settled.
  expect(leftovers()).toEqual([]);
  return { ...r, ms };
}

function gone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
const pidIn = (file: string) => Number(readFileSync(file, 'utf8').trim());

describe('transfer: success', () => {
  test('5 MB of random data arrive intact; bytes counted; both exit 0', async () => {
    const copy = join(dir, 'sent.bin');
    const out = join(dir, 'received.bin');
    const progress: number[] = [];
    const r = await run(sh(`${B}/head -c 5000000 /dev/urandom | ${B}/tee ${copy}`), sh(`${B}/cat > ${out}`), { onProgress: (b) => progress.push(b) });
    expect(r.reason).toBeUndefined();
    expect(r.ok).toBe(true);
    expect(r.bytes).toBe(5_000_000);
    expect(r.source).toMatchObject({ code: 0, signal: null });
    expect(r.sink).toMatchObject({ code: 0, signal: null });
    expect(statSync(out).size).toBe(5_000_000);
    expect(readFileSync(out).equals(readFileSync(copy))).toBe(true);
    expect(progress.at(-1)).toBe(5_000_000);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    expect(r.ms).toBeLessThan(5000);
  });

  test('an empty stream is a success too', async () => {
    const out = join(dir, 'empty.bin');
    const r = await run([`${B}/head`, '-c', '0', '/dev/zero'], sh(`${B}/cat > ${out}`));
    expect(r.ok).toBe(true);
    expect(r.bytes).toBe(0);
    expect(statSync(out).size).toBe(0);
  });

  test("the sink exits 0 after reading the whole stream, before the source's exit is seen → ok", async () => {
    const out = join(dir, 'early-exit.bin');
    // The source closes its stdout after 1000 bytes but exits only a second later.
    const r = await run(sh(`${B}/head -c 1000 /dev/zero; exec 1>&-; ${B}/sleep 1`), sh(`${B}/head -c 1000 > ${out}`));
    expect(r.reason).toBeUndefined();
    expect(r.ok).toBe(true);
    expect(r.bytes).toBe(1000);
    expect(statSync(out).size).toBe(1000);
    expect(r.ms).toBeGreaterThanOrEqual(900);
    expect(r.ms).toBeLessThan(5000);
  });
});

describe('transfer: the source fails', () => {
  test('source exits 3 mid-stream → not ok; the sink is aborted (no EOF), so it never finishes normally', async () => {
    const flag = join(dir, 'sink-finished');
    const sinkPid = join(dir, 'sink.pid');
    const r = await run(sh(`${B}/head -c 100000 /dev/zero; exit 3`), sh(`echo $$ > ${sinkPid}; ${B}/cat >/dev/null; echo done > ${flag}`));
    expect(r.ok).toBe(false);
    expect(r.reason).toBe('zfs send failed (exit 3)');
    expect(r.source.code).toBe(3);
    expect(r.sink.code).not.toBe(0);
    expect(r.sink.signal).toBe('SIGTERM');
    expect(existsSync(flag)).toBe(false);
    if (existsSync(sinkPid)) expect(gone(pidIn(sinkPid))).toBe(true);
    expect(r.ms).toBeLessThan(5000);
  });

  test("the source's stderr is in the reason", async () => {
    const r = await run(sh(`echo "cannot open 'p/a@x': dataset does not exist" >&2; exit 1`), [`${B}/cat`]);
    expect(r.ok).toBe(false);
    expect(r.reason).toBe("zfs send failed (exit 1: cannot open 'p/a@x': dataset does not exist)");
    expect(r.sink.signal).toBe('SIGTERM');
  });

  test('source binary does not exist → not ok (127), the sink is aborted, nothing hangs', async () => {
    const r = await run(['/nonexistent/zfs', 'send', 'p/a@x'], [`${B}/cat`]);
    expect(r.ok).toBe(false);
    expect(r.source.code).toBe(127);
    expect(r.reason).toMatch(/^zfs send failed \(exit 127: .*ENOENT/);
    expect(r.sink.signal).toBe('SIGTERM');
    expect(r.ms).toBeLessThan(5000);
  });
});

describe('transfer: the sink fails or ends first', () => {
  test('sink `false` → not ok; the endless source (cat /dev/zero) is killed', async () => {
    const srcPid = join(dir, 'src1.pid');
    const r = await run(sh(`echo $$ > ${srcPid}; exec ${B}/cat /dev/zero`), [`${B}/false`]);
    expect(r.ok).toBe(false);
    expect(r.reason).toBe('zfs recv failed (exit 1)');
    expect(r.sink.code).toBe(1);
    expect(r.source.signal).toBe('SIGTERM');
    // The pid file is missing when the SIGTERM came before the shell wrote it.
    if (existsSync(srcPid)) expect(gone(pidIn(srcPid))).toBe(true);
    expect(r.ms).toBeLessThan(5000);
  });

  test('sink reads 1000 bytes then exits 1 → not ok; the endless source (yes) is killed', async () => {
    const r = await run([`${B}/yes`], sh(`${B}/head -c 1000 >/dev/null; exit 1`));
    expect(r.ok).toBe(false);
    expect(r.reason).toBe('zfs recv failed (exit 1)');
    expect(r.source.signal).toBe('SIGTERM');
    expect(r.ms).toBeLessThan(5000);
  });

  test('sink stderr is in the reason', async () => {
    const r = await run([`${B}/cat`, '/dev/zero'], sh(`echo "cannot receive: destination has been modified" >&2; exit 1`));
    expect(r.reason).toBe('zfs recv failed (exit 1: cannot receive: destination has been modified)');
  });

  test('sink exits 0 before reading everything → not ok ("ended before the stream did")', async () => {
    const r = await run([`${B}/head`, '-c', '5000000', '/dev/zero'], [`${B}/head`, '-c', '1000']);
    expect(r.ok).toBe(false);
    expect(r.reason).toMatch(/^zfs recv ended before the stream did$/);
    expect(r.sink.code).toBe(0);
    expect(r.ms).toBeLessThan(5000);
  });

  test('sink exits 0 early while an endless source goes on → not ok at once, the source is stopped', async () => {
    const src = local.startSource([`${B}/cat`, '/dev/zero']);
    const snk = await local.startSink([`${B}/head`, '-c', '1000']);
    const t0 = Date.now();
    const pending = transfer(src, snk);
    let timer: NodeJS.Timeout | undefined;
    const first = await Promise.race([pending, new Promise<'still running'>((resolve) => (timer = setTimeout(() => resolve('still running'), 4000)))]);
    clearTimeout(timer);
    if (first === 'still running') src.abort(); // clean up: transfer() then settles
    const r = await pending;
    // Bytes after the sink exited 0 prove the stream was cut short: the sender is stopped at once.
    expect(first).not.toBe('still running');
    expect(r.ok).toBe(false);
    expect(r.reason).toMatch(/^zfs recv ended before the stream did/);
    expect(Date.now() - t0).toBeLessThan(4000);
  });

  test('sink binary does not exist → not ok; the source is killed, nothing hangs', async () => {
    const r = await run([`${B}/cat`, '/dev/zero'], ['/nonexistent/zfs', 'receive', 'tank/a']);
    expect(r.ok).toBe(false);
    expect(r.sink.code).toBe(127);
    expect(r.reason).toMatch(/^zfs recv failed \(exit 127: .*ENOENT/);
    expect(r.source.signal).toBe('SIGTERM');
    expect(r.ms).toBeLessThan(5000);
  });
});

describe('transfer: stalls', () => {
  test('a source that sends nothing (sleep 30), idleTimeoutMs 500 → not ok, "no progress", both ended', async () => {
    const r = await run([`${B}/sleep`, '30'], [`${B}/cat`], { idleTimeoutMs: 500 });
    expect(r.ok).toBe(false);
    expect(r.reason).toMatch(/^no progress for /);
    expect(r.source.signal).toBe('SIGTERM');
    expect(r.sink.signal).toBe('SIGTERM');
    expect(r.ms).toBeLessThan(3000);
  });

  test('a sink that stops reading: backpressure holds the source, then the idle timeout ends both', async () => {
    const r = await run([`${B}/cat`, '/dev/zero'], [`${B}/sleep`, '30'], { idleTimeoutMs: 500 });
    expect(r.ok).toBe(false);
    expect(r.reason).toMatch(/^no progress for /);
    expect(r.bytes).toBeLessThan(16 * 1024 * 1024); // flat memory: the source was paused
    expect(r.source.signal).toBe('SIGTERM');
    expect(r.sink.signal).toBe('SIGTERM');
    expect(r.ms).toBeLessThan(3000);
  });

  test('once the sender is done, the receiver may take longer than the idle timeout to finish', async () => {
    const r = await run([`${B}/head`, '-c', '1000', '/dev/zero'], sh(`${B}/cat >/dev/null; ${B}/sleep 1.5`), { idleTimeoutMs: 500 });
    expect(r.reason).toBeUndefined();
    expect(r.ok).toBe(true);
    expect(r.ms).toBeGreaterThanOrEqual(1400);
  });

  test('a steady stream is not cut by the idle timeout', async () => {
    const r = await run(sh(`for i in 1 2 3 4 5 6; do echo $i; ${B}/sleep 0.2; done`), [`${B}/cat`], { idleTimeoutMs: 500 });
    expect(r.reason).toBeUndefined();
    expect(r.ok).toBe(true);
    expect(r.bytes).toBe(12);
  });
});

describe('transfer: bandwidth limits (token buckets)', () => {
  const MiB = 1024 * 1024;

  test('4 MiB at 2 MiB/s: intact, and it takes the 2 s the limit allows (the throttle holds the sender back)', async () => {
    const copy = join(dir, 'limited-sent.bin');
    const out = join(dir, 'limited-received.bin');
    const r = await run(sh(`${B}/head -c ${4 * MiB} /dev/urandom | ${B}/tee ${copy}`), sh(`${B}/cat > ${out}`), { limits: [new TokenBucket(2 * MiB)] });
    expect([r.ok, r.reason, r.bytes]).toEqual([true, undefined, 4 * MiB]);
    expect(readFileSync(out).equals(readFileSync(copy))).toBe(true);
    expect(r.ms).toBeGreaterThanOrEqual(1900);
    expect(r.ms).toBeLessThan(3500);
  });

  test('two streams share one bucket: 2 × 2 MiB at 2 MiB/s together take 2 s', async () => {
    const shared = new TokenBucket(2 * MiB);
    const t0 = Date.now();
    // Not through run(): each of the two would see the other's processes as left over.
    const one = async () =>
      transfer(local.startSource([`${B}/head`, '-c', String(2 * MiB), '/dev/zero']), await local.startSink(sh(`${B}/cat >/dev/null`)), { limits: [shared] });
    const both = await Promise.all([one(), one()]);
    expect(both.map((r) => [r.ok, r.bytes])).toEqual([
      [true, 2 * MiB],
      [true, 2 * MiB],
    ]);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1900);
  });

  test('the slower of two buckets sets the pace (a run limit and a host limit)', async () => {
    const r = await run([`${B}/head`, '-c', String(MiB), '/dev/zero'], sh(`${B}/cat >/dev/null`), {
      limits: [new TokenBucket(50 * MiB), new TokenBucket(MiB)],
    });
    expect(r.ok).toBe(true);
    expect(r.ms).toBeGreaterThanOrEqual(950);
  });

  test('a receiver that exits 0 before the throttle passed everything on → not ok, nothing hangs', async () => {
    const r = await run([`${B}/head`, '-c', String(2 * MiB), '/dev/zero'], sh(`${B}/head -c 100000 >/dev/null`), { limits: [new TokenBucket(MiB)] });
    expect(r.ok).toBe(false);
    expect(r.reason).toMatch(/zfs recv ended before the stream did/);
    expect(r.ms).toBeLessThan(5000);
  });

  test('the sender exits, then the receiver exits 0 while the throttle still holds bytes → not ok (they never arrived)', async () => {
    const r = await run([`${B}/head`, '-c', '150000', '/dev/zero'], sh(`${B}/head -c 100000 >/dev/null`), { limits: [new TokenBucket(200 * 1024)] });
    expect(r.ok).toBe(false);
    expect(r.reason).toMatch(/zfs recv ended before the stream did/);
    expect(r.produced).toBe(150000);
  });

  test('a slow limit moves the stream on in small pieces: 64 KiB chunks at 16 KiB/s are not "no progress" for a 3 s idle timeout', async () => {
    const r = await run([`${B}/head`, '-c', String(96 * 1024), '/dev/zero'], sh(`${B}/cat >/dev/null`), {
      idleTimeoutMs: 3000,
      limits: [new TokenBucket(16 * 1024)],
    });
    expect([r.ok, r.reason, r.bytes]).toEqual([true, undefined, 96 * 1024]);
    expect(r.ms).toBeGreaterThanOrEqual(5500);
  }, 20_000);

  test('a receiver that stops reading behind a throttle: the idle timeout still ends both', async () => {
    const r = await run([`${B}/cat`, '/dev/zero'], [`${B}/sleep`, '30'], { idleTimeoutMs: 500, limits: [new TokenBucket(64 * MiB)] });
    expect(r.ok).toBe(false);
    expect(r.reason).toMatch(/^no progress for /);
    expect(r.bytes).toBeLessThan(16 * MiB);
    expect(r.ms).toBeLessThan(3000);
  });

  test('a receiver that stops reading after the sender exited, with bytes still in the throttle: ended by the idle timeout', async () => {
    // The sender writes 1 MiB and exits at once; the throttle holds most of it; the receiver sleeps.
    const r = await run([`${B}/head`, '-c', String(MiB), '/dev/zero'], [`${B}/sleep`, '30'], { idleTimeoutMs: 700, limits: [new TokenBucket(MiB)] });
    expect(r.ok).toBe(false);
    expect(r.reason).toMatch(/^no progress for /);
    expect(r.sink.signal).toBe('SIGTERM');
    expect(r.ms).toBeLessThan(4000);
  });
});

describe('TokenBucket', () => {
  test('the rate is kept within 2% over a second of 64 KiB chunks, starting empty (no burst)', async () => {
    const b = new TokenBucket(8 * 1024 * 1024);
    const t0 = performance.now();
    for (let i = 0; i < 128; i++) await b.take(64 * 1024); // 8 MiB
    const s = (performance.now() - t0) / 1000;
    expect(s).toBeGreaterThan(0.98 - 64 / 8192); // the first chunk is paid for after it passes
    expect(s).toBeLessThan(1.06);
  });
  test('refuses a rate of 0 or below', () => {
    expect(() => new TokenBucket(0)).toThrow(/above 0/);
    expect(() => new TokenBucket(-5)).toThrow(/above 0/);
  });
});

describe('withHeadCheck: the first bytes are checked before any reaches the receiver', () => {
  const MiB = 1024 * 1024;
  const startsWithOk = (head: Buffer) =>
    head.length < 2 ? { need: 2 } : head.subarray(0, 2).toString() === 'OK' ? { ok: true as const } : { ok: false as const, why: 'not OK' };
  test('an accepted stream passes whole, in chunks of any size', async () => {
    const out = join(dir, 'head-ok');
    const src = withHeadCheck(local.startSource(sh(`printf O; sleep 0.1; printf K; head -c ${MiB} /dev/zero`)), startsWithOk);
    const r = await transfer(src, await local.startSink(sh(`${B}/cat > ${out}`)));
    expect([r.ok, r.bytes, statSync(out).size]).toEqual([true, MiB + 2, MiB + 2]);
  });
  test('a refused stream never reaches the receiver, which is stopped without EOF; the sender is stopped too', async () => {
    const out = join(dir, 'head-refused');
    const src = withHeadCheck(local.startSource([`${B}/yes`, 'NO']), startsWithOk);
    const r = await transfer(src, await local.startSink(sh(`${B}/cat > ${out}; echo received`)));
    expect(r.ok).toBe(false);
    expect(r.reason).toMatch(/zfs send failed \(.*refused here: not OK\)/);
    expect(r.sink.code).not.toBe(0); // aborted, not ended: it never saw EOF
    expect(existsSync(out) ? readFileSync(out).length : 0).toBe(0); // (killed before its redirect, or empty)
  });
  test('a stream that ends before its head: refused; a sender that failed says why itself', async () => {
    const short = await transfer(withHeadCheck(local.startSource(sh('printf O')), startsWithOk), await local.startSink([`${B}/cat`]));
    expect(short.reason).toMatch(/refused here: the stream ended after 1 bytes, before its header could be checked/);
    const failed = await transfer(
      withHeadCheck(local.startSource(sh('echo "cannot send: permission denied" >&2; exit 1')), startsWithOk),
      await local.startSink([`${B}/cat`]),
    );
    expect(failed.reason).toBe('zfs send failed (exit 1: cannot send: permission denied)');
  });
});

test("a sender that reports its exit before its last bytes were read (a remote one: the channel's exit status comes first): the receiver still gets every byte before EOF", async () => {
  const out = join(dir, 'late-bytes');
  const stdout = new PassThrough({ highWaterMark: 1024 });
  let finish!: () => void;
  const source = {
    stdout,
    done: new Promise<RunResult>((resolve) => (finish = () => resolve({ code: 0, signal: null, stdout: '', stderr: '' }))),
    abort: () => {},
  };
  const chunks = Array.from({ length: 64 }, (_, i) => Buffer.alloc(16 * 1024, i));
  const writer = (async () => {
    for (const [i, c] of chunks.entries()) {
      if (i === 8) finish(); // exit reported with 56 chunks still to come
      stdout.write(c);
      await new Promise((r) => setTimeout(r, 1)); // the rest arrives later, as from a network
    }
    stdout.end();
  })();
  const r = await transfer(source, await local.startSink(sh(`${B}/cat > ${out}`)));
  await writer;
  expect([r.ok, r.bytes]).toEqual([true, 64 * 16 * 1024]);
  expect(readFileSync(out).equals(Buffer.concat(chunks))).toBe(true);
});

/**
 * Stream a Source (local `zfs send`) into a Sink (`zfs recv`, local or remote) with failures
 * propagated both ways: no hang, no orphan, no partial result reported as success.
 *
 * - The sink gets EOF only after the source exited 0; otherwise it is aborted without EOF.
 * - A sink that ends first (it failed, or the connection dropped) stops the source.
 * - Backpressure: the source is paused while the sink's buffer is full (pipe()), so memory stays
 *   flat whatever the stream size.
 * - A stream that makes no progress for `idleTimeoutMs` is aborted on both sides.
 * - Success means: source exit 0 AND sink exit 0.
 */
import { Transform, type Readable } from 'node:stream';
import { exitText, type RunResult, type Sink, type Source } from './host.js';
import { throttle, type TokenBucket } from './rate-limit.js';

export interface TransferResult {
  ok: boolean;
  /** Bytes passed on towards the receiver. */
  bytes: number;
  /** Bytes zfs send wrote (more than `bytes` when a throttle held some back as the stream failed). */
  produced: number;
  /** Why it failed, in one line; undefined on success. */
  reason?: string;
  source: RunResult;
  sink: RunResult;
}

export interface TransferOptions {
  idleTimeoutMs?: number;
  onProgress?: (bytes: number) => void;
  /** Bandwidth limits the stream passes through (none: as fast as both ends go). */
  limits?: readonly TokenBucket[];
}

/** After the stream ended, zfs recv may take a while to finish (at least this long, or the idle timeout). */
const FINISH_GRACE_MS = 300_000;

export async function transfer(source: Source, sink: Sink, options: TransferOptions = {}): Promise<TransferResult> {
  let bytes = 0;
  let reason: string | undefined;
  /** zfs send exited. */
  let sourceExited = false;
  /** zfs send exited and every byte it wrote was passed on (a throttle may still hold some after it exited). */
  let sourceDone = false;
  let sinkDone = false;
  /** Bytes the source produced after the sink had ended (they reached nobody). */
  let unread = 0;
  const fail = (why: string) => {
    reason ??= why;
  };

  // With a bandwidth limit the bytes pass through a throttle, which holds zfs send back.
  const limiter = options.limits?.length ? throttle(options.limits) : null;
  const stream: Readable = limiter ? source.stdout.pipe(limiter) : source.stdout;
  // Progress is what went on towards the receiver (through the throttle, where there is one).
  stream.on('data', (d: Buffer) => {
    if (sinkDone) return;
    bytes += d.length;
    options.onProgress?.(bytes);
  });
  let produced = 0;
  source.stdout.on('data', (d: Buffer) => {
    produced += d.length;
    if (sinkDone && (unread += d.length) === d.length) {
      // The receiver already ended, and more of the stream comes: it was cut short.
      fail('zfs recv ended before the stream did');
      source.abort();
    }
  });
  stream.pipe(sink.stdin, { end: false });
  /**
   * Resolves once every byte of the stream was passed on towards the receiver (or the stream was
   * destroyed): the sender's exit is not enough. A remote sender's channel can report its exit
   * while its last bytes still wait in a buffer here, and the receiver must not get EOF before them.
   */
  const flushed = new Promise<void>((resolve) => {
    if (stream.readableEnded || stream.destroyed) return resolve();
    stream.once('end', resolve);
    stream.once('close', resolve);
  });

  let idle: NodeJS.Timeout | undefined;
  if (options.idleTimeoutMs) {
    let last = -1;
    idle = setInterval(() => {
      // Only the sender's progress is measured; once it is done, zfs recv may take its time.
      if (bytes === last && !sourceDone && !sinkDone) {
        fail(`no progress for ${Math.round(options.idleTimeoutMs! / 1000)} s`);
        source.abort();
        sink.abort();
      }
      last = bytes;
    }, options.idleTimeoutMs);
  }

  let finishing: NodeJS.Timeout | undefined;
  const sourceResult = source.done.then(async (r) => {
    sourceExited = true;
    // What the throttle still holds goes on at the limit (the idle timeout still watches it),
    // unless the receiver ends first.
    if (!sinkDone && r.code === 0 && reason === undefined) await Promise.race([flushed, sink.done]);
    sourceDone = true;
    if (sinkDone) return r;
    if (r.code === 0 && reason === undefined) {
      sink.stdin.end();
      // The stream is complete; a receiver that never finishes must not hang the run either.
      if (options.idleTimeoutMs) {
        const limit = Math.max(options.idleTimeoutMs, FINISH_GRACE_MS);
        finishing = setTimeout(() => {
          fail(`zfs recv did not finish within ${Math.round(limit / 1000)} s after the stream ended`);
          sink.abort();
        }, limit);
      }
    } else {
      fail(`zfs send failed (${exitText(r)})`);
      sink.abort();
    }
    return r;
  });
  let grace: NodeJS.Timeout | undefined;
  const sinkResult = sink.done.then((r) => {
    sinkDone = true;
    if (limiter && !sourceDone) {
      // The receiver ended while the throttle still held bytes (whether or not zfs send had
      // exited): they never reached it.
      stream.unpipe(sink.stdin);
      const held = limiter.readableLength + limiter.writableLength;
      if (produced > bytes || held > 0) {
        unread += Math.max(held, produced - bytes);
        if (r.code === 0) fail('zfs recv ended before the stream did');
      }
    }
    if (!sourceExited) {
      stream.unpipe(sink.stdin);
      if (limiter) source.stdout.unpipe(limiter);
      source.stdout.resume(); // drain, so the sender is not stuck on a full pipe
      if (r.code === 0) {
        // zfs recv exits as soon as it has read the stream's end record, which can be before the
        // sender's exit is seen here. That is success if nothing more comes; give it a moment.
        grace = setTimeout(() => {
          fail('zfs recv ended but zfs send did not');
          source.abort();
        }, 30_000);
      } else {
        fail(`zfs recv failed (${exitText(r)})`);
        source.abort();
      }
    }
    return r;
  });
  const [s, k] = await Promise.all([sourceResult, sinkResult]);
  if (grace) clearTimeout(grace);
  if (finishing) clearTimeout(finishing);
  if (idle) clearInterval(idle);
  if (reason === undefined && unread > 0) fail(`zfs recv ended before the stream did (${unread} bytes were not read)`);
  if (reason === undefined && k.code !== 0) fail(`zfs recv failed (${exitText(k)})`);
  if (reason === undefined && s.code !== 0) fail(`zfs send failed (${exitText(s)})`);
  return { ok: reason === undefined, bytes, produced, ...(reason !== undefined ? { reason } : {}), source: s, sink: k };
}

/** What a head check says of a stream's first bytes (lib/sink/stream-header.ts). */
export type HeadVerdict = { ok: true } | { ok: false; why: string } | { need: number };

/**
 * The source with its first bytes checked before any reaches the receiver: a stream the check
 * refuses is never passed on (the source is stopped and fails with the reason, so transfer() aborts
 * the receiver without EOF); one the check accepts flows on unchanged, with backpressure.
 */
export function withHeadCheck(source: Source, check: (head: Buffer) => HeadVerdict): Source {
  const head: Buffer[] = [];
  let size = 0;
  let state: 'checking' | 'passing' | 'refused' = 'checking';
  let refusal: string | null = null;
  /** The stream ended too soon: the source's own failure, if it failed, says why. */
  let cut = false;
  // A Transform keeps the order of the bytes and the backpressure of the pipe as they are.
  const checked = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      if (state === 'passing') return callback(null, chunk);
      if (state === 'refused') return callback(); // drained, never passed on
      head.push(chunk);
      size += chunk.length;
      const verdict = check(Buffer.concat(head, size));
      if ('need' in verdict) return callback();
      if (verdict.ok) {
        state = 'passing';
        return callback(null, Buffer.concat(head.splice(0), size));
      }
      state = 'refused';
      refusal = verdict.why;
      source.abort();
      callback();
    },
    flush(callback) {
      if (state === 'checking') {
        cut = true;
        refusal = `the stream ended after ${size} bytes, before its header could be checked`;
      }
      callback();
    },
  });
  source.stdout.pipe(checked);
  const done = source.done.then((r) =>
    refusal === null || (cut && r.code !== 0)
      ? r
      : {
          ...r,
          code: r.code === 0 || r.code === null ? 1 : r.code,
          stderr: `${r.stderr}${r.stderr && !r.stderr.endsWith('\n') ? '\n' : ''}refused here: ${refusal}`,
        },
  );
  return { stdout: checked, done, abort: () => source.abort() };
}

/**
 * Bandwidth limits (SPEC §11, `--bwlimit` and a destination's `bwlimit=`): token buckets that a
 * stream's bytes pass through. A chunk waits until its bucket has paid for it, and while it waits
 * the stream's pipe is full, so `zfs send` itself is held back (backpressure): nothing piles up in
 * memory, and the rate is kept on the wire, not on average after a burst.
 *
 * A bucket may run into debt by one chunk (chunks are not split): the next chunk then waits until
 * the debt is paid. Buckets start empty, so a stream does not begin with a burst above the limit.
 */
import { Transform } from 'node:stream';

export class TokenBucket {
  private tokens = 0;
  private last = performance.now();
  /** Takes one after the other: concurrent streams share the rate in turn. */
  private queue: Promise<void> = Promise.resolve();

  /** `burst`: bytes that may pass at once after the bucket was idle (default: a tenth of a second's worth, at least 64 KiB). */
  constructor(
    readonly bytesPerSecond: number,
    private readonly burst = Math.max(64 * 1024, bytesPerSecond / 10),
  ) {
    if (!(bytesPerSecond > 0)) throw new RangeError(`a bandwidth limit must be above 0 bytes/s, not ${bytesPerSecond}`);
  }

  /** Resolves when `bytes` may pass. */
  take(bytes: number): Promise<void> {
    const turn = this.queue.then(() => this.pay(bytes));
    this.queue = turn;
    return turn;
  }

  private pay(bytes: number): Promise<void> {
    const now = performance.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.bytesPerSecond);
    this.last = now;
    this.tokens -= bytes;
    if (this.tokens >= 0) return Promise.resolve();
    const waitMs = (-this.tokens / this.bytesPerSecond) * 1000;
    return new Promise((resolve) => setTimeout(resolve, waitMs));
  }
}

/**
 * A pass-through stream that lets its bytes go no faster than every one of `buckets` allows.
 * Chunks are passed on in pieces of at most a tenth of a second at the lowest rate, so a slow limit
 * moves the stream on steadily (the idle timeout sees progress) instead of in long silent waits.
 */
export function throttle(buckets: readonly TokenBucket[]): Transform {
  const slowest = Math.min(...buckets.map((b) => b.bytesPerSecond));
  const piece = Math.max(1024, Math.floor(slowest / 10));
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      void (async () => {
        for (let at = 0; at < chunk.length; at += piece) {
          const part = chunk.subarray(at, at + piece);
          await Promise.all(buckets.map((b) => b.take(part.length)));
          this.push(part);
        }
      })().then(
        () => done(),
        (e: unknown) => done(e as Error),
      );
    },
  });
}

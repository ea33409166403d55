/** zback's one retry loop (lib/util/retry.ts). */
import { describe, expect, test } from '@jest/globals';
import { withRetries } from '../../lib/util/retry.js';

describe('withRetries', () => {
  test('tries again while the failure is retryable, waiting 1×, 2×, 4× the base, and returns the first success', async () => {
    const at: number[] = [];
    const start = Date.now();
    const r = await withRetries(
      async (attempt) => {
        at.push(Date.now() - start);
        if (attempt < 3) throw new Error('open failed');
        return 'channel';
      },
      { retries: 8, baseMs: 20, retryable: () => true },
    );
    expect(r).toBe('channel');
    expect(at).toHaveLength(4);
    // 20 + 40 + 80 ms of waiting before the fourth try (timers may be late, never early).
    expect(at[3]!).toBeGreaterThanOrEqual(140);
  });

  test('after `retries` more tries, the last failure is thrown', async () => {
    let tries = 0;
    await expect(
      withRetries(
        async () => {
          tries++;
          throw new Error(`refused ${tries}`);
        },
        { retries: 2, baseMs: 1, retryable: () => true },
      ),
    ).rejects.toThrow('refused 3');
    expect(tries).toBe(3);
  });

  test('a failure that is not retryable is thrown at once', async () => {
    let tries = 0;
    const e = new Error('host given up');
    await expect(
      withRetries(
        async () => {
          tries++;
          throw e;
        },
        { retries: 8, baseMs: 1, retryable: (x) => x !== e },
      ),
    ).rejects.toBe(e);
    expect(tries).toBe(1);
  });
});

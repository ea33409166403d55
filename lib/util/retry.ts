/**
 * zback's one retry loop: `op` again after 1×, 2×, 4×… `baseMs` while `retryable` says the failure
 * is worth another try, at most `retries` times more; then the last failure is thrown. Used where
 * a peer refuses for a moment what it will take soon (sshd refusing a channel over MaxSessions).
 */
export interface RetryOptions {
  retries: number;
  baseMs: number;
  /** Whether this failure may be tried again (e.g. not when the host is given up meanwhile). */
  retryable: (error: unknown, attempt: number) => boolean;
}

export async function withRetries<T>(op: (attempt: number) => Promise<T>, o: RetryOptions): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await op(attempt);
    } catch (e) {
      if (attempt >= o.retries || !o.retryable(e, attempt)) throw e;
      await new Promise((r) => setTimeout(r, o.baseMs * 2 ** attempt));
    }
  }
}

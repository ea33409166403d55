/**
 * The bandwidth limits of a run's streams (SPEC §11): `--bwlimit` is one bucket that every stream
 * of the run shares; a destination's `bwlimit=` is one bucket per destination host, shared by
 * every stream to that host (it is one link), at the lowest rate any of its destinations names.
 */
import type { Action } from '../plan/types.js';
import { TokenBucket } from '../transport/rate-limit.js';

export function bandwidthLimits(actions: readonly Action[], runRate: number | null): (a: Action) => TokenBucket[] {
  const run = runRate ? new TokenBucket(runRate) : null;
  const lowest = new Map<string, number>();
  for (const a of actions) if (a.op === 'send' && a.bwlimit) lowest.set(a.host, Math.min(lowest.get(a.host) ?? Infinity, a.bwlimit));
  const byHost = new Map([...lowest].map(([host, rate]) => [host, new TokenBucket(rate)]));
  return (a) => [...(run ? [run] : []), ...(byHost.has(a.host) ? [byHost.get(a.host)!] : [])];
}

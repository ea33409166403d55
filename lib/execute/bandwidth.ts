/**
 * The bandwidth limits of a run's streams (SPEC §11): `--bwlimit` is one bucket that every stream
 * of the run shares; a destination's `bwlimit=` is one bucket per destination host, shared by
 * every stream to that machine (it is one link, whatever user or port reaches it), at the lowest
 * rate any of this run's sends to it names.
 */
import type { Action } from '../plan/types.js';
import { TokenBucket } from '../transport/rate-limit.js';
import { hostIdentity } from '../plan/identity.js';

/** The machine at the other end of a host label: `backup`, `root@backup` and `backup:2222` share one link. */
function linkOf(label: string): string {
  const id = hostIdentity(label);
  return id.startsWith('[') ? id.slice(0, id.indexOf(']') + 1) : id.split(':')[0]!;
}

export function bandwidthLimits(actions: readonly Action[], runRate: number | null): (a: Action) => TokenBucket[] {
  const run = runRate ? new TokenBucket(runRate) : null;
  const lowest = new Map<string, number>();
  for (const a of actions) if (a.op === 'send' && a.bwlimit) lowest.set(linkOf(a.host), Math.min(lowest.get(linkOf(a.host)) ?? Infinity, a.bwlimit));
  const byLink = new Map([...lowest].map(([link, rate]) => [link, new TokenBucket(rate)]));
  return (a) => [...(run ? [run] : []), ...(byLink.has(linkOf(a.host)) ? [byLink.get(linkOf(a.host))!] : [])];
}

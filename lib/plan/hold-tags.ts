/**
 * zback's hold tags. Small and without imports on purpose: the restricted sink (lib/sink) checks
 * the target tag on every command it runs, and must start fast.
 */
import { createHash } from 'node:crypto';

/** The tag of zback's hold on a destination's base snapshot. */
export const TARGET_HOLD_TAG = 'zback:replica';

/**
 * The source-side hold tag: names the destination as the property sets it (host and path on the
 * dataset that sets it), so `zfs holds` explains itself, and every dataset that inherits that
 * destination shares the tag: a run holds all their bases in one `zfs hold TAG snap…` (SPEC §7).
 * A dataset has each destination once, so a tag still names one destination of one snapshot.
 * (zback 0.1 named each dataset's own target path instead; such holds are released as stale.)
 */
export function sourceHoldTag(hostLabel: string, target: string): string {
  const tag = `zback:${hostLabel}:${target}`;
  return tag.length <= 200 ? tag : `zback:${createHash('sha256').update(tag).digest('hex').slice(0, 32)}`;
}

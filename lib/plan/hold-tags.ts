/**
 * zback's hold tags. Small and without imports on purpose: the restricted sink (lib/sink) checks
 * the target tag on every command it runs, and must start fast.
 */
import { createHash } from 'node:crypto';

/** The tag of zback's hold on a destination's base snapshot. */
export const TARGET_HOLD_TAG = 'zback:replica';

/** The source-side hold tag: names the destination, so `zfs holds` explains itself. */
export function sourceHoldTag(hostLabel: string, target: string): string {
  const tag = `zback:${hostLabel}:${target}`;
  return tag.length <= 200 ? tag : `zback:${createHash('sha256').update(tag).digest('hex').slice(0, 32)}`;
}

/**
 * How the due datasets of one configuration group (datasets managed through the same ancestor)
 * are snapshotted: as few atomic commands as the ZFS allows.
 *
 * - The whole subtree of the group's root is due: `zfs snapshot -r root@name` (every ZFS).
 * - OpenZFS: every other case in one `zfs snapshot a@name b@name …` (atomic across the list).
 * - Legacy ZFS (one name per command): `-r` on every topmost dataset whose whole subtree is due,
 *   one command for each remaining dataset.
 */
import type { ZfsCapabilities } from '../zfs/capabilities.js';
import { snapshotCommand, snapshotRecursiveCommand } from '../zfs/commands.js';
import { isSameOrBelow } from '../zfs/dataset-names.js';
import type { SnapshotAction } from './types.js';

export function snapshotActions(
  root: string,
  due: readonly string[],
  /** Every filesystem/volume below (and including) root that exists, managed or not. */
  subtree: readonly string[],
  name: string,
  caps: ZfsCapabilities,
): SnapshotAction[] {
  const dueSet = new Set(due);
  const below = (d: string) => subtree.filter((x) => isSameOrBelow(x, d));
  const wholeSubtreeDue = (d: string) => below(d).every((x) => dueSet.has(x));
  const sorted = [...due].sort();
  if (sorted.length === 0) return [];

  if (dueSet.has(root) && wholeSubtreeDue(root) && below(root).length > 1) {
    return [{ kind: 'snapshot', datasets: below(root).sort(), name, recursiveRoot: root, argv: snapshotRecursiveCommand(root, name) }];
  }
  if (caps.multiSnapshot || sorted.length === 1) {
    return [{ kind: 'snapshot', datasets: sorted, name, argv: snapshotCommand(sorted, name) }];
  }
  const actions: SnapshotAction[] = [];
  const covered = new Set<string>();
  for (const d of sorted) {
    if (covered.has(d)) continue;
    const sub = below(d);
    if (sub.length > 1 && wholeSubtreeDue(d)) {
      sub.forEach((x) => covered.add(x));
      actions.push({ kind: 'snapshot', datasets: sub.sort(), name, recursiveRoot: d, argv: snapshotRecursiveCommand(d, name) });
    } else {
      covered.add(d);
      actions.push({ kind: 'snapshot', datasets: [d], name, argv: snapshotCommand([d], name) });
    }
  }
  return actions;
}

/**
 * Rebuilds zback's hold ledger when holds.json was corrupt (SPEC §9): which holds on the managed
 * datasets and on their copies are zback's. zfs-fuse cannot list hold tags, so each candidate —
 * a held snapshot and a tag zback would have placed on it — is probed: `zfs hold` answers "tag
 * already exists" when the hold is there; a hold the probe placed itself is released at once.
 * Holding is harmless (it only protects), so a probe never puts a snapshot at risk.
 */
import { destinationHostLabel } from '../policy/destinations.js';
import type { ConfigResult } from '../policy/properties.js';
import { sourceHoldTag, TARGET_HOLD_TAG } from '../plan/replication.js';
import type { HoldRecord } from '../state/holds.js';
import type { Zfs } from '../zfs/client.js';
import { holdCommand, releaseCommand } from '../zfs/commands.js';
import { hold, release } from '../zfs/operations.js';
import type { Inventory } from '../zfs/parse.js';
import type { DestinationDiscovery } from './discover.js';

async function isHeld(zfs: Zfs, tag: string, dataset: string, snapshot: string): Promise<boolean> {
  if ((await hold(zfs, holdCommand(tag, dataset, snapshot))) === 'already-held') return true;
  await release(zfs, releaseCommand(tag, dataset, snapshot));
  return false;
}

export async function rebuildHolds(local: Zfs, configs: readonly ConfigResult[], inventory: Inventory, remote: DestinationDiscovery): Promise<HoldRecord[]> {
  const records: HoldRecord[] = [];
  for (const c of configs) {
    if (c.kind !== 'managed') continue;
    const held = (inventory.get(c.dataset)?.snapshots ?? []).filter((s) => s.userrefs > 0);
    for (const d of c.config.destinations) {
      const hostLabel = destinationHostLabel(d);
      const target = d.datasetPath;
      // The tag of this version, and the one zback before 0.2 placed (per target path).
      const tags = [...new Set([sourceHoldTag(hostLabel, d.path), sourceHoldTag(hostLabel, target)])];
      for (const s of held) {
        for (const tag of tags) {
          if (await isHeld(local, tag, c.dataset, s.name))
            records.push({ role: 'source', host: 'local', dataset: c.dataset, snapshot: s.name, tag, destination: { hostLabel, target } });
        }
      }
      const state = remote.states.get(hostLabel);
      const zfs = remote.zfs.get(hostLabel);
      // An append-only sink refuses the probe's release (and zback holds nothing there anyway).
      if (!state?.reachable || !zfs || state.sink?.appendOnly) continue;
      for (const s of (state.inventory.get(target)?.snapshots ?? []).filter((x) => x.userrefs > 0)) {
        if (await isHeld(zfs, TARGET_HOLD_TAG, target, s.name))
          records.push({ role: 'target', host: hostLabel, dataset: target, snapshot: s.name, tag: TARGET_HOLD_TAG });
      }
    }
  }
  return records;
}

/**
 * A managed dataset that was renamed takes its snapshots, and so zback's holds on them, along: the
 * hold ledger follows it by the dataset's guid, so the holds are neither lost nor mistaken for a
 * user's under the new name (SPEC §9: nothing zback holds is leaked for ever).
 */
import type { Inventory } from '../zfs/parse.js';
import type { HoldRecord } from './holds.js';

export interface Renamed {
  from: string;
  to: string;
}

/** The records with their dataset renamed where the old name is gone and the guid is found under a new one. */
export function followRenames(
  holds: readonly HoldRecord[],
  inventory: Inventory,
  localDatasets: ReadonlySet<string>,
): { holds: HoldRecord[]; renamed: Renamed[] } {
  const byGuid = new Map<string, string>();
  for (const d of inventory.values()) if (d.guid) byGuid.set(d.guid, d.name);
  const renamed = new Map<string, string>();
  const out = holds.map((h) => {
    if (h.role !== 'source' || !h.datasetGuid || localDatasets.has(h.dataset)) return h;
    const to = byGuid.get(h.datasetGuid);
    if (!to || to === h.dataset) return h;
    renamed.set(h.dataset, to);
    return { ...h, dataset: to };
  });
  return { holds: out, renamed: [...renamed].map(([from, to]) => ({ from, to })) };
}

/**
 * What the properties would look like after `zback set` / `zback unset`, computed before anything
 * is written: the dataset gets (or loses) its local values and every dataset below it re-inherits.
 * `zback set` validates that result, so an operator cannot store a value zback would reject.
 */
import type { PropertyRow } from '../zfs/parse.js';
import { isSameOrBelow, parentOf } from '../zfs/dataset-names.js';

/** value null = clear the local value (`zfs inherit`). */
export type PropertyChanges = ReadonlyMap<string, string | null>;

export function simulateEdit(
  rows: readonly PropertyRow[],
  /** Every filesystem/volume at and below `dataset`. */
  subtree: readonly string[],
  dataset: string,
  changes: PropertyChanges,
): PropertyRow[] {
  const table = new Map<string, Map<string, { value: string; source: string }>>();
  for (const r of rows) {
    if (r.name.includes('@')) continue;
    let m = table.get(r.name);
    if (!m) table.set(r.name, (m = new Map()));
    m.set(r.property, { value: r.value, source: r.source });
  }
  for (const [prop, value] of changes) {
    const own = table.get(dataset) ?? new Map();
    table.set(dataset, own);
    if (value === null) own.delete(prop);
    else own.set(prop, { value, source: 'local' });
    // Re-inherit below (and, for a cleared value, at) the dataset: nearest ancestor that sets it.
    const targets = [...new Set([dataset, ...subtree])].filter((d) => isSameOrBelow(d, dataset)).sort();
    for (const d of targets) {
      const m = table.get(d) ?? new Map();
      table.set(d, m);
      const cur = m.get(prop);
      if (cur && (cur.source === 'local' || cur.source === 'received')) continue;
      m.delete(prop);
      for (let a = parentOf(d); a !== null; a = parentOf(a)) {
        const there = table.get(a)?.get(prop);
        if (there && (there.source === 'local' || there.source === 'received')) {
          m.set(prop, { value: there.value, source: `inherited from ${a}` });
          break;
        }
      }
    }
  }
  const out: PropertyRow[] = [];
  for (const [name, m] of table) for (const [property, v] of m) out.push({ name, property, ...v });
  return out;
}

/**
 * How a seeded copy is marked on its destination: `replica-of` (so a zback there leaves it alone
 * and `zback prune` knows whose copy it is), `canmount=noauto` (a copy mounted at boot that anything
 * writes to refuses the next incremental) and the destination's retention (for `zback prune`).
 */
export interface CopyMark {
  property: string;
  /** This machine's name: the property's value is "<source>:<dataset>". */
  source: string;
  /** Where the destination's retention is recorded on the copy, for `zback prune` on the backup host. */
  retentionProperty?: string;
}

export const DEFAULT_COPY_MARK: CopyMark = { property: 'org.wit:replica-of', source: 'localhost', retentionProperty: 'org.wit:replica-retention' };

/** The marks of the copy of `dataset` kept with `retention`, as (property, value) pairs. */
export function copyMarkProperties(mark: CopyMark, dataset: string, retention: string): [string, string][] {
  const marks: [string, string][] = [
    [mark.property, `${mark.source}:${dataset}`],
    ['canmount', 'noauto'],
  ];
  if (mark.retentionProperty) marks.push([mark.retentionProperty, retention]);
  return marks;
}

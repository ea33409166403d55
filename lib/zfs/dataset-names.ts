/**
 * ZFS name rules (as in OpenZFS's zfs_namecheck): what a dataset or pool name may contain.
 * Used to reject destination paths and command arguments before anything runs.
 */

export const MAX_NAME_LENGTH = 255;
const COMPONENT = /^[A-Za-z0-9_.: -]+$/;
const RESERVED_POOL = /^(mirror|raidz\d*|draid\d*|spare|log|cache|special|dedup)$/;

/** Returns what is wrong with a dataset name (filesystem or volume), or null when it is valid. */
export function datasetNameProblem(name: string): string | null {
  if (name === '') return 'the dataset name is empty';
  if (name.length > MAX_NAME_LENGTH) return `the dataset name is longer than ${MAX_NAME_LENGTH} characters`;
  if (name.includes('@')) return 'a dataset name cannot contain "@" (that marks a snapshot)';
  if (name.includes('#')) return 'a dataset name cannot contain "#" (that marks a bookmark)';
  if (name.startsWith('/') || name.endsWith('/')) return 'a dataset name cannot begin or end with "/"';
  if (name.includes('//')) return 'a dataset name cannot contain an empty component ("//")';
  const parts = name.split('/');
  for (const part of parts) {
    if (part === '.' || part === '..') return `a dataset name cannot contain the component ${JSON.stringify(part)}`;
    if (!COMPONENT.test(part)) {
      const bad = [...part].find((c) => !/[A-Za-z0-9_.: -]/.test(c)) ?? '';
      return `invalid character ${JSON.stringify(bad)} in dataset name (allowed: letters, digits, "_", "-", ".", ":", space)`;
    }
    if (part !== part.trim()) return 'a name component cannot begin or end with a space';
  }
  const pool = parts[0]!;
  if (!/^[A-Za-z]/.test(pool)) return 'the pool name must begin with a letter';
  if (RESERVED_POOL.test(pool)) return `${JSON.stringify(pool)} is a reserved pool name`;
  return null;
}

/** Snapshot names (the part after "@"): same characters as a component. */
export function snapshotNameProblem(name: string): string | null {
  if (name === '') return 'the snapshot name is empty';
  if (!COMPONENT.test(name)) return `invalid character in snapshot name ${JSON.stringify(name)}`;
  return null;
}

export function poolOf(dataset: string): string {
  const i = dataset.indexOf('/');
  return i < 0 ? dataset : dataset.slice(0, i);
}

export function parentOf(dataset: string): string | null {
  const i = dataset.lastIndexOf('/');
  return i < 0 ? null : dataset.slice(0, i);
}

/** True when `child` is `ancestor` itself or below it. */
export function isSameOrBelow(child: string, ancestor: string): boolean {
  return child === ancestor || child.startsWith(ancestor + '/');
}

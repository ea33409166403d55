/**
 * Every `zfs` command zback runs, built as an argv array. Nothing else in zback spells a zfs
 * command; the executor and the dry run both print what these functions return.
 */
import type { ZfsCapabilities } from './capabilities.js';
import { datasetNameProblem, snapshotNameProblem } from './names.js';

export const ZFS = 'zfs';

function assertDataset(name: string): void {
  const problem = datasetNameProblem(name);
  if (problem) throw new Error(`refusing to build a zfs command for ${JSON.stringify(name)}: ${problem}`);
}

function assertSnapshot(dataset: string, snap: string): void {
  assertDataset(dataset);
  const problem = snapshotNameProblem(snap);
  if (problem) throw new Error(`refusing to build a zfs command for ${JSON.stringify(`${dataset}@${snap}`)}: ${problem}`);
}

export function versionCommand(): string[] {
  return [ZFS, 'version'];
}

/** zback's properties on every dataset of every pool, in one command. */
export function configCommand(properties: readonly string[], caps: ZfsCapabilities): string[] {
  const argv = [ZFS, 'get', '-H', '-p', '-o', 'name,property,value,source', '-s', 'local,inherited,received'];
  if (caps.getTypeFilter) argv.push('-t', 'filesystem,volume');
  argv.push('-r', properties.join(','));
  return argv;
}

/** guid, createtxg and holds of every dataset and snapshot below the roots, in one command. */
export function inventoryCommand(roots: readonly string[], caps: ZfsCapabilities): string[] {
  roots.forEach(assertDataset);
  const props = ['guid', 'createtxg', 'userrefs'];
  if (caps.resumableReceive) props.push('receive_resume_token');
  return [ZFS, 'get', '-H', '-p', '-o', 'name,property,value', '-r', props.join(','), ...roots];
}

/** Every filesystem and volume (names only). */
export function listDatasetsCommand(): string[] {
  return [ZFS, 'list', '-H', '-o', 'name', '-t', 'filesystem,volume'];
}

/** `zfs snapshot -r root@name`: atomic for the whole subtree, on every ZFS. */
export function snapshotRecursiveCommand(root: string, name: string): string[] {
  assertSnapshot(root, name);
  return [ZFS, 'snapshot', '-r', `${root}@${name}`];
}

/** `zfs snapshot a@name b@name …`: atomic across the list; needs caps.multiSnapshot for more than one. */
export function snapshotCommand(datasets: readonly string[], name: string): string[] {
  datasets.forEach((d) => assertSnapshot(d, name));
  return [ZFS, 'snapshot', ...datasets.map((d) => `${d}@${name}`)];
}

/**
 * Destroy snapshots of one dataset: one command per snapshot on legacy ZFS, or
 * `zfs destroy ds@a,b,c` batches on OpenZFS. Never -r, -R or -f: exactly the named snapshots.
 */
export function destroyCommands(dataset: string, snapshots: readonly string[], caps: ZfsCapabilities): string[][] {
  snapshots.forEach((s) => assertSnapshot(dataset, s));
  if (!caps.destroyList) return snapshots.map((s) => [ZFS, 'destroy', `${dataset}@${s}`]);
  const out: string[][] = [];
  const batch = 100; // keeps each argument far below ARG_MAX
  for (let i = 0; i < snapshots.length; i += batch) out.push([ZFS, 'destroy', `${dataset}@${snapshots.slice(i, i + batch).join(',')}`]);
  return out;
}

export function setPropertyCommand(dataset: string, property: string, value: string): string[] {
  assertDataset(dataset);
  return [ZFS, 'set', `${property}=${value}`, dataset];
}

export function inheritPropertyCommand(dataset: string, property: string): string[] {
  assertDataset(dataset);
  return [ZFS, 'inherit', property, dataset];
}

/** The properties of one dataset (for `zback set`'s validation of the merged result). */
export function datasetPropertiesCommand(dataset: string, properties: readonly string[]): string[] {
  assertDataset(dataset);
  return [ZFS, 'get', '-H', '-p', '-o', 'name,property,value,source', properties.join(','), dataset];
}

/**
 * Every `zfs` command zback runs, built as an argv array. Nothing else in zback spells a zfs
 * command; the executor and the dry run both print what these functions return.
 */
import { isStreamFlag, POOL_FEATURES, type StreamFlag, type ZfsCapabilities } from './capabilities.js';
import { MAX_NAME_LENGTH, datasetNameProblem, snapshotNameProblem } from './dataset-names.js';

export const ZFS = 'zfs';

function assertDataset(name: string): void {
  const problem = datasetNameProblem(name);
  if (problem) throw new Error(`refusing to build a zfs command for ${JSON.stringify(name)}: ${problem}`);
}

function assertSnapshot(dataset: string, snap: string): void {
  assertDataset(dataset);
  if (dataset.length + 1 + snap.length > MAX_NAME_LENGTH) {
    throw new Error(`refusing to build a zfs command for ${dataset}@${snap}: the full name is longer than ${MAX_NAME_LENGTH} characters`);
  }
  const problem = snapshotNameProblem(snap);
  if (problem) throw new Error(`refusing to build a zfs command for ${JSON.stringify(`${dataset}@${snap}`)}: ${problem}`);
}

/** A snapshot given as "dataset@name". */
function assertFullSnapshot(full: string): void {
  const at = full.indexOf('@');
  if (at < 0) throw new Error(`not a snapshot: ${JSON.stringify(full)}`);
  assertSnapshot(full.slice(0, at), full.slice(at + 1));
}

export function versionCommand(): string[] {
  return [ZFS, 'version'];
}

/**
 * zback's properties on every dataset of every pool, in one command. `valueFirst` puts the value
 * in the first column: the second reading that cross-checks the first (see crossCheckRows).
 */
export function configCommand(properties: readonly string[], caps: ZfsCapabilities, valueFirst = false): string[] {
  const columns = valueFirst ? 'value,source,property,name' : 'name,property,value,source';
  const argv = [ZFS, 'get', '-H', '-p', '-o', columns, '-s', 'local,inherited,received'];
  if (caps.getTypeFilter) argv.push('-t', 'filesystem,volume');
  argv.push('-r', properties.join(','));
  return argv;
}

/**
 * guid, createtxg and holds of every dataset and snapshot below the roots, in one command
 * (`creation` too for zback prune on a backup host, whose floor is by creation time; bookmarks too
 * on a source whose ZFS has them: the safety net of its sends, SPEC §11).
 */
export function inventoryCommand(roots: readonly string[], caps: ZfsCapabilities, withCreation = false, withBookmarks = false): string[] {
  roots.forEach(assertDataset);
  const props = ['guid', 'createtxg', 'userrefs', ...(withCreation ? ['creation'] : [])];
  if (caps.resumableReceive) props.push('receive_resume_token');
  if (caps.encryption) props.push('encryption');
  // OpenZFS lists bookmarks too unless told the types.
  const types = caps.getTypeFilter ? ['-t', `filesystem,volume,snapshot${withBookmarks ? ',bookmark' : ''}`] : [];
  return [ZFS, 'get', '-H', '-p', '-o', 'name,property,value', ...types, '-r', props.join(','), ...roots];
}

/**
 * The marks zback set on the copies it seeded below a backup host's root (local values only:
 * what the copies inherit is not theirs). `valueFirst`: the cross-checking second reading.
 */
export function copyMarksCommand(root: string | null, properties: readonly string[], valueFirst = false, caps?: ZfsCapabilities): string[] {
  if (root !== null) assertDataset(root);
  return [
    ZFS,
    'get',
    '-H',
    '-p',
    '-o',
    valueFirst ? 'value,source,property,name' : 'name,property,value,source',
    '-s',
    'local',
    // No root: every dataset of every pool (zback status --replicas), not their snapshots where the ZFS can say so.
    ...(root !== null ? ['-r', properties.join(','), root] : [...(caps?.getTypeFilter ? ['-t', 'filesystem,volume'] : []), properties.join(',')]),
  ];
}

/** The space each dataset uses, in bytes. */
export function usedCommand(datasets: readonly string[]): string[] {
  if (datasets.length === 0) throw new Error('refusing to build a zfs get command without a dataset');
  datasets.forEach(assertDataset);
  return [ZFS, 'get', '-H', '-p', '-o', 'name,value', 'used', ...datasets];
}

/** A property's local value on one dataset (empty output: not set there). */
export function localPropertyCommand(dataset: string, property: string): string[] {
  assertDataset(dataset);
  return [ZFS, 'get', '-H', '-p', '-o', 'value', '-s', 'local', property, dataset];
}

/** The `encryption` property of each dataset, read on its own (when the inventory did not show it). */
export function encryptionCommand(datasets: readonly string[]): string[] {
  if (datasets.length === 0) throw new Error('refusing to build a zfs get command without a dataset');
  datasets.forEach(assertDataset);
  return [ZFS, 'get', '-H', '-p', '-o', 'name,value', 'encryption', ...datasets];
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
  if (datasets.length === 0) throw new Error('refusing to build a zfs snapshot command without a dataset');
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
  return [ZFS, 'set', propertyAssignment(property, value), dataset];
}

/** `property=value` as `zfs set` and `zfs receive -o` take it. */
function propertyAssignment(property: string, value: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9.:_+-]*$/.test(property)) throw new Error(`not a property name: ${JSON.stringify(property)}`);
  return `${property}=${value}`;
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

/** The stream options zback sends with (capabilities.ts chooses them); nothing else reaches a send. */
function streamFlags(flags: readonly StreamFlag[]): string[] {
  for (const f of flags) if (!isStreamFlag(f)) throw new Error(`refusing a zfs send option that is not a stream option: ${JSON.stringify(f)}`);
  return [...flags];
}

/**
 * `zfs send` of one full snapshot (the initial seed of a destination). Flags: `-w` (OpenZFS) for an
 * encrypted dataset, which travels as it is stored, so the copy stays encrypted and no key is
 * needed; otherwise `-L -e -c` where both sides can (capabilities.ts).
 */
export function sendFullCommand(dataset: string, snap: string, flags: readonly StreamFlag[] = []): string[] {
  assertSnapshot(dataset, snap);
  return [ZFS, 'send', ...streamFlags(flags), `${dataset}@${snap}`];
}

/**
 * `zfs send -I from to` (every snapshot in between too) or `-i from to` (only `to`: used to jump
 * over snapshots the destination would delete straight away).
 */
export function sendIncrementalCommand(dataset: string, from: string, to: string, intermediates: boolean, flags: readonly StreamFlag[] = []): string[] {
  assertSnapshot(dataset, from);
  assertSnapshot(dataset, to);
  return [ZFS, 'send', ...streamFlags(flags), intermediates ? '-I' : '-i', `${dataset}@${from}`, `${dataset}@${to}`];
}

/** `zfs send -i ds#bookmark ds@to`: an incremental from a bookmark (the base snapshot itself is gone; only -i can start there). */
export function sendFromBookmarkCommand(dataset: string, bookmark: string, to: string, flags: readonly StreamFlag[] = []): string[] {
  assertSnapshot(dataset, bookmark);
  assertSnapshot(dataset, to);
  return [ZFS, 'send', ...streamFlags(flags), '-i', `${dataset}#${bookmark}`, `${dataset}@${to}`];
}

/** `zfs bookmark ds@snap ds#bookmark`. */
export function bookmarkCommand(dataset: string, snap: string, bookmark: string): string[] {
  assertSnapshot(dataset, snap);
  assertSnapshot(dataset, bookmark);
  return [ZFS, 'bookmark', `${dataset}@${snap}`, `${dataset}#${bookmark}`];
}

/** `zfs destroy ds#bookmark`: one bookmark (never a snapshot: the name has "#"). */
export function destroyBookmarkCommand(dataset: string, bookmark: string): string[] {
  assertSnapshot(dataset, bookmark);
  return [ZFS, 'destroy', `${dataset}#${bookmark}`];
}

/** The features of these pools that bear on streams (OpenZFS; `zpool get`, one command per host). */
export function poolFeaturesCommand(pools: readonly string[]): string[] {
  if (pools.length === 0) throw new Error('refusing to build a zpool get command without a pool');
  pools.forEach((p) => assertDataset(p));
  if (pools.some((p) => p.includes('/'))) throw new Error(`not a pool name: ${pools.find((p) => p.includes('/'))}`);
  return ['zpool', 'get', '-H', '-o', 'name,property,value', POOL_FEATURES.map((f) => `feature@${f}`).join(','), ...pools];
}

/** The same send as a dry run that prints its size (`zfs send -nP …`, OpenZFS). */
export function sendEstimateCommand(sendArgv: readonly string[]): string[] {
  if (sendArgv[0] !== ZFS || sendArgv[1] !== 'send') throw new Error('not a zfs send command');
  return [ZFS, 'send', '-nP', ...sendArgv.slice(2)];
}

/**
 * Resume an interrupted receive (OpenZFS). `raw` (-w) for an encrypted dataset: whatever the token
 * says, the rest of the stream goes encrypted.
 */
export function sendResumeCommand(token: string, raw = false): string[] {
  if (!/^[0-9a-zA-Z-]+$/.test(token)) throw new Error('refusing to use a malformed receive_resume_token');
  return [ZFS, 'send', ...(raw ? ['-w'] : []), '-t', token];
}

/**
 * Decode a resume token here, sending nothing (`zfs send -nvPt`: the token's contents, then what it
 * would send, tab-separated so a dataset name with a space stays one field). See ./resume-token.ts.
 */
export function resumeTokenInfoCommand(token: string): string[] {
  const checked = sendResumeCommand(token); // the same rule for what a token may contain
  return [ZFS, 'send', '-nvPt', checked[checked.length - 1]!];
}

/** `zfs recv -u` (never mount what arrives), resumable (`-s`) where the ZFS supports it. Never -F. */
/**
 * The receive of a stream into `target`, never mounted. `properties` (a seed's copy marks) are set
 * inside the receive with `-o`, where the ZFS there can (OpenZFS); the caller checks that it can.
 */
export function receiveCommand(target: string, caps: ZfsCapabilities, properties: readonly (readonly [string, string])[] = []): string[] {
  assertDataset(target);
  if (properties.length && !caps.receiveProperties) throw new Error(`refusing zfs receive -o on a ZFS without it (${caps.description})`);
  const set = properties.flatMap(([p, v]) => ['-o', propertyAssignment(p, v)]);
  return [ZFS, 'receive', '-u', ...(caps.resumableReceive ? ['-s'] : []), ...set, target];
}

/**
 * zback restore's receive: a full stream into a new dataset here, never mounted, never -F (so
 * never over an existing dataset), not resumable (an interrupted restore leaves nothing behind).
 */
export function restoreReceiveCommand(target: string): string[] {
  assertDataset(target);
  return [ZFS, 'receive', '-u', target];
}

/** Load an encrypted dataset's key (advice after a raw restore). */
export function loadKeyCommand(dataset: string): string[] {
  assertDataset(dataset);
  return [ZFS, 'load-key', dataset];
}

/** Unmount a dataset (advice before a restored one takes its place). */
export function unmountCommand(dataset: string): string[] {
  assertDataset(dataset);
  return [ZFS, 'unmount', dataset];
}

/** Mount a dataset (advice after a restore). */
export function mountCommand(dataset: string): string[] {
  assertDataset(dataset);
  return [ZFS, 'mount', dataset];
}

/**
 * The commands below are only ever advised to the operator, in the fix of a conflict
 * (lib/report/conflicts.ts): zback itself never renames, rolls back or destroys a filesystem.
 */

/** Rename a dataset or a snapshot. */
export function renameCommand(from: string, to: string): string[] {
  for (const n of [from, to]) {
    if (n.includes('@')) assertFullSnapshot(n);
    else assertDataset(n);
  }
  return [ZFS, 'rename', from, to];
}

/** Roll a copy back to its last common snapshot (destroys what is newer there). */
export function rollbackCommand(dataset: string, snapshot: string): string[] {
  assertSnapshot(dataset, snapshot);
  return [ZFS, 'rollback', '-r', `${dataset}@${snapshot}`];
}

/** Destroy an empty dataset in the way of a seed. */
export function destroyDatasetCommand(dataset: string): string[] {
  assertDataset(dataset);
  return [ZFS, 'destroy', dataset];
}

/** Discard the partial state of an interrupted resumable receive. */
export function receiveAbortCommand(target: string): string[] {
  assertDataset(target);
  return [ZFS, 'receive', '-A', target];
}

/**
 * Create one missing parent of a destination (the seed's `zfs recv` needs its parent to exist),
 * never mounted: it only holds copies. One level per command, because `zfs create -p` would give
 * the ancestors it creates on the way neither this option nor any other.
 */
export function createParentCommand(parent: string): string[] {
  assertDataset(parent);
  return [ZFS, 'create', '-o', 'canmount=off', parent];
}

/** When each snapshot was made, as ZFS records it (seconds since the epoch). */
export function creationCommand(snapshots: readonly string[]): string[] {
  if (snapshots.length === 0) throw new Error('refusing to build a zfs get command without a snapshot');
  for (const s of snapshots) assertFullSnapshot(s);
  return [ZFS, 'get', '-H', '-p', '-o', 'name,value', 'creation', ...snapshots];
}

export function holdCommand(tag: string, dataset: string, snap: string): string[] {
  assertSnapshot(dataset, snap);
  return [ZFS, 'hold', tag, `${dataset}@${snap}`];
}

export function releaseCommand(tag: string, dataset: string, snap: string): string[] {
  assertSnapshot(dataset, snap);
  return [ZFS, 'release', tag, `${dataset}@${snap}`];
}

/** `zfs hold|release TAG ds@snap…`: one tag, many full snapshot names (one batch of the plan). */
export function holdOrReleaseCommand(op: 'hold' | 'release', tag: string, snapshots: readonly string[]): string[] {
  for (const full of snapshots) {
    const at = full.indexOf('@');
    if (at <= 0) throw new Error(`refusing to build a zfs ${op} for ${JSON.stringify(full)}: not a snapshot name`);
    assertSnapshot(full.slice(0, at), full.slice(at + 1));
  }
  return [ZFS, op, tag, ...snapshots];
}

/**
 * zback's properties of ONE dataset (not recursive): the re-reading of a dataset the two readings
 * of configCommand disagreed on, alone, so that no other dataset's value can forge its rows.
 * `valueFirst`: the cross-checking second reading.
 */
export function datasetConfigCommand(properties: readonly string[], dataset: string, valueFirst = false): string[] {
  assertDataset(dataset);
  const columns = valueFirst ? 'value,source,property,name' : 'name,property,value,source';
  return [ZFS, 'get', '-H', '-p', '-o', columns, '-s', 'local,inherited,received', properties.join(','), dataset];
}

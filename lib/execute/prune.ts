/**
 * Destroying snapshots of one dataset, on the source or a destination: exactly the named
 * snapshots; a failed batch (OpenZFS `ds@a,b,c`) is retried one by one; a snapshot that has
 * dependent clones is kept and reported, not treated as a failure.
 */
import { CommandError, errorMessage } from '../errors.js';
import { LEGACY_CAPABILITIES } from '../zfs/capabilities.js';
import type { Zfs } from '../zfs/client.js';
import { destroyCommands } from '../zfs/commands.js';

export interface PruneOutcome {
  errors: string[];
  notes: string[];
  destroyed: string[];
}

/** The snapshot names (after "@") that a destroy command names. */
function destroyedNames(dataset: string, argv: readonly string[]): string[] {
  return argv[argv.length - 1]!.slice(dataset.length + 1).split(',');
}

export async function pruneSnapshots(zfs: Zfs, dataset: string, argvs: readonly string[][], o: PruneOutcome, where = dataset): Promise<void> {
  const pending = [...argvs];
  for (let argv = pending.shift(); argv; argv = pending.shift()) {
    const names = destroyedNames(dataset, argv);
    let err: unknown = null;
    try {
      await zfs.exec(argv);
    } catch (e) {
      err = e;
    }
    if (err === null) o.destroyed.push(...names);
    else if (names.length > 1) pending.unshift(...destroyCommands(dataset, names, LEGACY_CAPABILITIES));
    else if (err instanceof CommandError && /dependent clones/.test(err.stderr)) {
      // A clone's origin cannot be destroyed: the operator's choice, not a failure that should
      // make every cron run mail. It is kept and reported.
      o.notes.push(`kept ${where}@${names[0]}: it has dependent clones (promote or destroy the clone to let it go)`);
    } else o.errors.push(`prune of ${where} failed: ${errorMessage(err)}`);
  }
}

/**
 * Typed zfs operations: the quirks that decide whether a command succeeded, in one place.
 * zfs reports "already held", "no such tag", "already exists" and "has dependent clones" as
 * failures; here they are outcomes. The classification reads zfs's own words only: every name the
 * command was given, and everything zfs quotes, is removed first, so a dataset or tag called
 * "already exists" cannot pass for the message.
 */
import { CommandError, errorMessage } from '../errors.js';
import { LEGACY_CAPABILITIES } from './capabilities.js';
import type { Zfs } from './client.js';
import { destroyCommands, holdOrReleaseCommand, snapshotCommand } from './commands.js';

/** zfs's message with the command's operands and every quoted name blanked out. */
export function zfsWords(stderr: string, argv: readonly string[]): string {
  let text = stderr;
  const operands = argv.slice(2).filter((a) => !a.startsWith('-') && a.length > 0);
  for (const a of [...operands].sort((x, y) => y.length - x.length)) text = text.split(a).join('<name>');
  return text.replace(/'[^'\n]*'/g, '<name>');
}

async function attempt(zfs: Zfs, argv: string[]): Promise<{ ok: true } | { ok: false; words: string; error: string }> {
  try {
    await zfs.exec(argv);
    return { ok: true };
  } catch (e) {
    const words = e instanceof CommandError ? zfsWords(e.stderr, argv) : '';
    return { ok: false, words, error: errorMessage(e) };
  }
}

export type HoldResult = 'held' | 'already-held';
/** `zfs hold TAG ds@snap`: a tag that is already there is what was wanted. */
export async function hold(zfs: Zfs, argv: string[]): Promise<HoldResult> {
  const r = await attempt(zfs, argv);
  if (r.ok) return 'held';
  if (/tag already exists/i.test(r.words)) return 'already-held';
  throw new Error(r.error);
}

export type ReleaseResult = 'released' | 'no-such-tag' | 'snapshot-gone';
/** `zfs release TAG ds@snap`: a tag or snapshot that is gone has no hold left to release. */
export async function release(zfs: Zfs, argv: string[]): Promise<ReleaseResult> {
  const r = await attempt(zfs, argv);
  if (r.ok) return 'released';
  if (/no such tag/i.test(r.words)) return 'no-such-tag';
  if (/does not exist|could not find/i.test(r.words)) return 'snapshot-gone';
  throw new Error(r.error);
}

/** What a batched hold or release did for each snapshot: done, or the error of its own command. */
export type BatchOutcome = Map<string, { ok: true } | { ok: false; error: string }>;

/**
 * `zfs hold|release TAG snap…` for many snapshots in as few commands as the command line allows
 * (SPEC §7: one per host and tag). zfs applies such a command snapshot by snapshot and exits 1 if
 * any of them failed (a tag already there fails that one), so a command that fails is retried one
 * snapshot at a time: each gets its own outcome, the quirks above apply ("already there" and "no
 * such tag" are what the batch did or found), and the ledger records exactly what is held.
 */
export async function holdOrReleaseMany(zfs: Zfs, op: 'hold' | 'release', tag: string, snapshots: readonly string[]): Promise<BatchOutcome> {
  const out: BatchOutcome = new Map();
  for (const chunk of commandChunks(snapshots)) {
    const batch = await attempt(zfs, holdOrReleaseCommand(op, tag, chunk));
    for (const name of chunk) {
      if (batch.ok) {
        out.set(name, { ok: true });
        continue;
      }
      try {
        const argv = holdOrReleaseCommand(op, tag, [name]);
        await (op === 'hold' ? hold(zfs, argv) : release(zfs, argv));
        out.set(name, { ok: true });
      } catch (e) {
        out.set(name, { ok: false, error: errorMessage(e) });
      }
    }
  }
  return out;
}

/** Operands in chunks of at most 64 KiB: well inside ARG_MAX and an SSH exec request. */
function commandChunks(names: readonly string[], limit = 64 * 1024): string[][] {
  const chunks: string[][] = [];
  let size = 0;
  for (const n of names) {
    if (chunks.length === 0 || size + n.length + 1 > limit) {
      chunks.push([]);
      size = 0;
    }
    chunks[chunks.length - 1]!.push(n);
    size += n.length + 1;
  }
  return chunks;
}

export type CreateResult = 'created' | 'exists';
/** `zfs create -p`: two seeds under the same new parent create it at the same time. */
export async function createParent(zfs: Zfs, argv: string[]): Promise<CreateResult> {
  const r = await attempt(zfs, argv);
  if (r.ok) return 'created';
  if (/already exists/i.test(r.words)) return 'exists';
  throw new Error(r.error);
}

export interface DestroyResult {
  destroyed: string[];
  /** Kept because they have dependent clones: the operator's choice, not a failure. */
  withClones: string[];
  errors: string[];
}

/**
 * Destroy exactly the snapshots one `zfs destroy ds@a[,b…]` names. A batch that fails is retried
 * one snapshot at a time, so one snapshot that cannot go does not keep the others.
 */
export async function destroySnapshots(zfs: Zfs, dataset: string, argv: string[]): Promise<DestroyResult> {
  const out: DestroyResult = { destroyed: [], withClones: [], errors: [] };
  const names = argv[argv.length - 1]!.slice(dataset.length + 1).split(',');
  const r = await attempt(zfs, argv);
  if (r.ok) {
    out.destroyed.push(...names);
    return out;
  }
  if (names.length > 1) {
    for (const one of destroyCommands(dataset, names, LEGACY_CAPABILITIES)) {
      const part = await destroySnapshots(zfs, dataset, one);
      out.destroyed.push(...part.destroyed);
      out.withClones.push(...part.withClones);
      out.errors.push(...part.errors);
    }
  } else if (/dependent clones/i.test(r.words)) out.withClones.push(names[0]!);
  else out.errors.push(r.error);
  return out;
}

export interface SnapshotResult {
  taken: string[];
  /** Per dataset that did not get its snapshot: why. */
  failed: Map<string, string>;
}

/**
 * One atomic `zfs snapshot` for a group; when it fails, one dataset at a time, so one bad dataset
 * does not cost the others their snapshot (no longer atomic across the group, which the message says).
 */
export async function snapshotGroup(zfs: Zfs, argv: string[], datasets: readonly string[], name: string): Promise<SnapshotResult> {
  const r = await attempt(zfs, argv);
  if (r.ok) return { taken: [...datasets], failed: new Map() };
  if (datasets.length === 1) return { taken: [], failed: new Map([[datasets[0]!, r.error]]) };
  const out: SnapshotResult = { taken: [], failed: new Map() };
  for (const d of datasets) {
    const one = await attempt(zfs, snapshotCommand([d], name));
    if (one.ok) out.taken.push(d);
    else out.failed.set(d, `${one.error} (the group command had failed too: ${r.error})`);
  }
  return out;
}

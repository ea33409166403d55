/**
 * A replication's conflict (lib/plan/types.ts) in words, with the command that fixes it: the one
 * place these texts are written. Copy-pastable: every command is rendered by shellCommand.
 */
import type { Conflict } from '../plan/types.js';
import { shellCommand, shellQuote } from '../transport/quote.js';
import { destroyDatasetCommand, renameCommand, rollbackCommand } from '../zfs/commands.js';

/** Where the conflict is: the destination ("host:target"), its host, its target, and the source dataset. */
export interface ConflictPlace {
  where: string;
  hostLabel: string;
  target: string;
  dataset: string;
}

export function conflictText(c: Conflict, p: ConflictPlace): string {
  const base = c.seededBase.map((n) => `${p.dataset}@${n}`).join(', ');
  const reseed = shellCommand(['zback', 'run', '--reseed', `${p.dataset}=${p.where}`]);
  const moveAside = shellCommand(renameCommand(p.target, `${p.target}.old`));
  switch (c.kind) {
    case 'pool-missing':
      return (
        `the pool ${c.pool} is not imported on ${p.hostLabel} (or does not exist there), so ${p.where} cannot be reached` +
        `${base ? `; its base ${base} stays held and kept here until then` : ''}. Import it on ${p.hostLabel} (${shellCommand(['zpool', 'import', c.pool])}), ` +
        `or correct the destination in ${p.dataset}'s destinations property.`
      );
    case 'target-missing':
      return (
        `${p.where} is missing, but zback seeded it before${base ? `; its base ${base} stays held and kept here until then` : ''}. ` +
        `If the copy was renamed or its dataset is on a disk that is away, ` +
        `bring it back under its name (on ${p.hostLabel}: zfs rename <its new name> ${shellQuote(p.target)}); the next run then continues incrementally. ` +
        `To start a new full copy on purpose, run: ${reseed}`
      );
    case 'no-common': {
      // zback seeded it before: a new copy is the operator's decision, not the next run's.
      const next = c.seededBefore
        ? `then start a new copy on purpose with: ${reseed}.`
        : c.targetEmpty
          ? 'the next run then seeds it.'
          : 'the next run then seeds a new copy.';
      const text = c.targetEmpty
        ? `${p.where} exists but has no snapshot, so zback cannot tell it is a copy of ${p.dataset}. zback never overwrites it: ` +
          `move it aside on ${p.hostLabel} with: ${moveAside} (or, if it holds nothing you need, ${shellCommand(destroyDatasetCommand(p.target))}) — ${next}`
        : `${p.where} has no snapshot in common with ${p.dataset} (compared by guid). zback never overwrites it: move it aside on ` +
          `${p.hostLabel} with: ${moveAside} — ${next}`;
      return base ? `${text} Its base ${base} stays held and kept here.` : text;
    }
    case 'newer-on-target':
      return (
        `${p.where} has ${c.newer.length} snapshot${c.newer.length === 1 ? '' : 's'} newer than the last common one (@${c.common}): ` +
        `${c.newer.map((s) => '@' + s).join(', ')}. zback does not destroy them. To continue replication, run on ${p.hostLabel}: ` +
        `${shellCommand(rollbackCommand(p.target, c.rollbackTo))}  (this destroys the newer snapshots on the destination).`
      );
  }
}

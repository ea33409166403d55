/**
 * What `zback restore` prints: the list of copies and their snapshots, the plan of a restore, and
 * afterwards how to put the restored dataset in place (commands to copy and paste, quoted for a shell).
 */
import type { Calendar } from '../policy/calendar.js';
import { formatDuration } from '../policy/duration.js';
import { copyName, type CopyLocation } from '../plan/restore.js';
import { shellCommand } from '../transport/quote.js';
import { inheritPropertyCommand, loadKeyCommand, mountCommand, renameCommand, setPropertyCommand, unmountCommand } from '../zfs/commands.js';
import { formatBytes } from './progress.js';
import { style } from './style.js';

/** One copy as --list found it. */
export interface ListedCopy {
  copy: CopyLocation;
  /** Why it could not be read (host unreachable, the copy is missing, …). */
  error?: string;
  /** Oldest first. */
  snapshots?: { name: string; guid: string; creation?: number }[];
  /** OpenZFS: the copy's `encryption` (not "off": it restores raw). */
  encryption?: string;
}

export function renderCopyList(copies: readonly ListedCopy[], cal: Calendar, now: number): string {
  const lines: string[] = [];
  let dataset = '';
  for (const c of copies) {
    if (c.copy.dataset !== dataset) {
      dataset = c.copy.dataset;
      lines.push(style.dataset(dataset));
    }
    const origin = c.copy.configured ? '' : ' (recorded by an earlier run; no longer configured)';
    if (c.error !== undefined) {
      lines.push(`  ${copyName(c.copy)}${origin}: ${style.error(c.error)}`);
      continue;
    }
    const snaps = c.snapshots ?? [];
    const raw = c.encryption !== undefined && c.encryption !== 'off' ? `, encrypted (${c.encryption}): restores raw` : '';
    lines.push(`  ${copyName(c.copy)}${origin}: ${snaps.length} snapshot${snaps.length === 1 ? '' : 's'}${raw}`);
    for (const s of [...snaps].reverse()) {
      const when = s.creation !== undefined ? `  ${cal.format(s.creation * 1000, false)}  (${formatDuration(Math.max(0, now - s.creation * 1000))} ago)` : '';
      lines.push(`    ${s.name}${when}`);
    }
  }
  return lines.map((l) => `${l}\n`).join('');
}

export interface RestorePlanText {
  copy: CopyLocation;
  snapshot: string;
  to: string;
  send: readonly string[];
  receive: readonly string[];
  size: number | null;
}

/** The restore as it will run (the dry run prints only this). */
export function renderRestorePlan(p: RestorePlanText): string {
  const where = p.copy.hostLabel === 'local' ? '' : `[${p.copy.hostLabel}] `;
  return (
    `Restore ${copyName(p.copy)}@${p.snapshot} into ${p.to}${p.size !== null ? ` (about ${formatBytes(p.size)})` : ''}:\n` +
    `  ${where}${shellCommand(p.send)} | ${shellCommand(p.receive)}\n`
  );
}

export interface RestoreOutcome {
  dataset: string;
  copy: CopyLocation;
  snapshot: string;
  to: string;
  bytes: number;
  ms: number;
  raw: boolean;
  /** The dataset restored for is here (then the advice renames it aside first). */
  originalExists: boolean;
  /** It has child datasets here (they move aside with it). */
  originalHasChildren: boolean;
  /** A free name for the dataset set aside (see freeAsideName). */
  aside: string;
  /** zback's properties set on the dataset itself: they stay with it and must be set on the restored one. */
  ownProperties: readonly (readonly [string, string])[];
  /** PREFIX:snapshot, which the advice sets to "no" on the dataset renamed aside. */
  managedBy: string;
  /**
   * The restored dataset would be managed by inheritance (its parent's PREFIX:snapshot=yes): zback
   * set PREFIX:snapshot=no on it right after the receive, so that no run snapshots or seeds it
   * before it is in place; the swap undoes that.
   */
  heldBack?: { origin: string };
}

/** What was done and how to put it in place, as commands to copy. */
export function renderRestoreDone(o: RestoreOutcome): string {
  const rate = o.ms > 0 ? `, ${formatBytes((o.bytes / o.ms) * 1000)}/s` : '';
  const lines = [
    `Restored ${copyName(o.copy)}@${o.snapshot} into ${o.to}: ${formatBytes(o.bytes)} in ${o.ms < 60_000 ? `${(o.ms / 1000).toFixed(1)} s` : formatDuration(o.ms)}${rate}. It is not mounted.`,
  ];
  const step = (text: string) => lines.push(`  ${text}`);
  if (o.heldBack)
    lines.push(
      `It would inherit ${o.managedBy}=yes from ${o.heldBack.origin}: zback set ${o.managedBy}=no on it, so that no run takes snapshots of it or seeds a copy of it before it is in place.`,
    );
  if (o.raw) {
    lines.push(`It is encrypted as the copy was, with ${o.dataset}'s key (the backup host never had it). Load the key first:`);
    step(shellCommand(loadKeyCommand(o.to)));
    lines.push(
      `  (It is its own encryption root now: for it to unlock at boot as before, set its keylocation as the original had it: zfs get keylocation ${shellCommand([o.dataset])}; zfs set keylocation=… ${shellCommand([o.to])}.)`,
    );
  }
  lines.push('To look at it:');
  step(`${shellCommand(mountCommand(o.to))}    (at the mountpoint it inherits: zfs get mountpoint ${shellCommand([o.to])})`);
  const pool = (d: string) => d.split('/')[0];
  if (o.to !== o.dataset && pool(o.to) !== pool(o.dataset)) {
    lines.push(
      `To put it in place of ${o.dataset}, it must be in the pool ${pool(o.dataset)} (zfs rename stays in a pool): restore again with --to ${pool(o.dataset)}/….`,
    );
  } else if (o.to !== o.dataset && o.to.startsWith(`${o.dataset}/`)) {
    lines.push(`To put it in place of ${o.dataset}, restore again with --to outside ${o.dataset} (it would move aside with ${o.dataset}).`);
  } else if (o.to !== o.dataset) {
    lines.push(`To put it in place of ${o.dataset}:`);
    const aside = o.aside;
    if (o.originalExists) {
      // Explicit, so that what still uses it is found first (a rename would fail on it half-way).
      step(`${shellCommand(unmountCommand(o.dataset))}    (stop what uses it first${o.originalHasChildren ? '; its child datasets too' : ''})`);
      step(`${shellCommand(renameCommand(o.dataset, aside))}    (keep it until you are sure)`);
      // Renamed, it would still be managed, with the same destinations: two datasets for one copy;
      // and it would still mount where the restored one will.
      step(`${shellCommand(setPropertyCommand(aside, o.managedBy, 'no'))}    (zback leaves it alone from now on)`);
      step(`${shellCommand(setPropertyCommand(aside, 'canmount', 'noauto'))}    (it no longer mounts at boot)`);
    }
    step(shellCommand(renameCommand(o.to, o.dataset)));
    if (o.heldBack) step(shellCommand(inheritPropertyCommand(o.dataset, o.managedBy)));
    for (const [p, v] of o.ownProperties) step(shellCommand(setPropertyCommand(o.dataset, p, v)));
    step(shellCommand(mountCommand(o.dataset)));
    if (o.originalExists) {
      lines.push(
        `Other properties set on ${o.dataset} itself (mountpoint, quota, …) stay with it: zfs get -s local all ${shellCommand([aside])} shows them; set those you need on ${shellCommand([o.dataset])}.`,
        `${aside} keeps zback's holds on its snapshots: to destroy it once you are sure, release them first (zfs holds -r ${shellCommand([aside])} lists them).`,
      );
      if (o.originalHasChildren)
        lines.push(
          `${o.dataset}'s child datasets move aside with it: restore each of them too (zback restore --list ${shellCommand([o.dataset])} shows their copies).`,
        );
    }
  }
  const managed = o.ownProperties.some(([p, v]) => p === o.managedBy && v === 'yes') || o.heldBack !== undefined;
  lines.push(
    managed
      ? `zback's next run carries on from @${o.snapshot}: the copy has the same snapshot. If the copy has newer snapshots than that, the run says how to roll it back first.`
      : `zback does not manage ${o.dataset} now (no ${o.managedBy}=yes on it or above it here): set its zback properties again (zback set ${shellCommand([o.dataset])} --snapshot yes …) and the runs carry on from @${o.snapshot}, which the copy has too.`,
  );
  return lines.map((l) => `${l}\n`).join('');
}

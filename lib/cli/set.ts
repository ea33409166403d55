/**
 * `zback set DATASET --snapshot yes --retention 24h30d0w3m --destinations … [--schedule …]`
 * and `zback unset DATASET --retention …`: validate the result first, then write with zfs set /
 * zfs inherit (one property per command: old ZFS takes only one).
 */
import { errorMessage } from '../errors.js';
import { simulateEdit, type PropertyChanges } from '../policy/config-edit.js';
import { propertyList, resolveConfigs, type PropertyNames } from '../policy/properties.js';
import { retentionSentence } from '../policy/retention.js';
import { LocalHost } from '../transport/local.js';
import { shellCommand } from '../transport/quote.js';
import { Zfs } from '../zfs/client.js';
import { inheritPropertyCommand, setPropertyCommand } from '../zfs/commands.js';
import { datasetNameProblem, isSameOrBelow, poolOf } from '../zfs/dataset-names.js';
import type { Context } from './context.js';
import { EXIT } from './exit-codes.js';
import type { Output } from './output.js';

export type Field = 'snapshot' | 'retention' | 'destinations' | 'schedule';
export const FIELDS: Field[] = ['snapshot', 'retention', 'destinations', 'schedule'];

export async function editCommand(ctx: Context, dataset: string, values: Partial<Record<Field, string | null>>, out: Output): Promise<number> {
  const problem = datasetNameProblem(dataset);
  if (problem) {
    out.error(`${JSON.stringify(dataset)}: ${problem}`);
    return EXIT.USAGE;
  }
  const names: PropertyNames = ctx.properties;
  const changes = new Map<string, string | null>();
  for (const f of FIELDS) {
    const v = values[f];
    if (v !== undefined) changes.set(names[f], v === null ? null : v.trim());
  }
  if (changes.size === 0) {
    out.error('nothing to change: give at least one of --snapshot, --retention, --destinations, --schedule');
    return EXIT.USAGE;
  }
  const host = new LocalHost(ctx.verbose ? (h, argv) => out.info(`[${h}] ${shellCommand(argv)}`) : undefined);
  try {
    const zfs = await Zfs.detect(host);
    const all = await zfs.listDatasets();
    if (!all.includes(dataset)) {
      out.error(`${dataset}: no such dataset`);
      return EXIT.USAGE;
    }
    const pool = poolOf(dataset);
    const config = await zfs.config(propertyList(names));
    const rows = config.rows.filter((r) => isSameOrBelow(r.name, pool));
    const subtree = all.filter((d) => isSameOrBelow(d, dataset));
    const after = resolveConfigs(simulateEdit(rows, subtree, dataset, changes as PropertyChanges), names, config.unreadable);
    // Refuse what this edit breaks; problems that were already there are not this edit's doing.
    const before = new Set(resolveConfigs(rows, names, config.unreadable).flatMap((c) => (c.kind === 'error' ? [c.error.message] : [])));
    const errors = after.filter((c) => c.kind === 'error' && isSameOrBelow(c.dataset, dataset) && !before.has(c.error.message));
    if (errors.length) {
      for (const e of errors) if (e.kind === 'error') out.error(e.error.message);
      out.error('nothing was written');
      return EXIT.USAGE;
    }
    for (const [prop, value] of changes) {
      await zfs.exec(value === null ? inheritPropertyCommand(dataset, prop) : setPropertyCommand(dataset, prop, value));
    }
    const managed = after.filter((c) => c.kind === 'managed' && isSameOrBelow(c.dataset, dataset)).length;
    out.info(`${dataset}: written. ${managed} dataset${managed === 1 ? '' : 's'} at and below it ${managed === 1 ? 'is' : 'are'} managed by zback.`);
    const mine = after.find((c) => c.dataset === dataset);
    if (mine?.kind === 'managed') {
      out.info(`${dataset}: ${retentionSentence(mine.config.retention.value, ctx.calendar.zone)}.`);
    }
    return EXIT.OK;
  } catch (e) {
    out.error(errorMessage(e));
    return EXIT.FAILED;
  } finally {
    await host.close();
  }
}

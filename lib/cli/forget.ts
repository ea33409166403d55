/**
 * `zback forget DATASET`: the operator says a managed dataset that disappeared is gone for good
 * (SPEC §9: until then every run reports it). Only for a dataset that is not there: zback then
 * drops it from the run state and its hold records, and says which holds it no longer tracks.
 */
import { errorMessage } from '../errors.js';
import { HoldLedger } from '../state/holds.js';
import { LockBusy, RunLock } from '../state/lock.js';
import { shellCommand } from '../transport/quote.js';
import { releaseCommand } from '../zfs/commands.js';
import { readRunState, writeRunState } from '../state/run-state.js';
import { LocalHost } from '../transport/local.js';
import { Zfs } from '../zfs/client.js';
import { datasetNameProblem } from '../zfs/dataset-names.js';
import type { Context } from './context.js';
import { EXIT } from './exit-codes.js';
import type { Output } from './output.js';

export async function forgetCommand(ctx: Context, dataset: string, out: Output): Promise<number> {
  const problem = datasetNameProblem(dataset);
  if (problem) {
    out.error(`${JSON.stringify(dataset)}: ${problem}`);
    return EXIT.USAGE;
  }
  const lock = new RunLock(ctx.stateDir);
  try {
    await lock.acquire();
  } catch (e) {
    out.error(e instanceof LockBusy ? e.message : `cannot take the run lock in ${ctx.stateDir}: ${errorMessage(e)}`);
    return e instanceof LockBusy ? EXIT.LOCKED : EXIT.FAILED;
  }
  try {
    const zfs = await Zfs.detect(new LocalHost());
    if ((await zfs.listDatasets()).includes(dataset)) {
      out.error(`${dataset} exists: zback forgets only a dataset that is gone. To stop managing it, run: zback set ${dataset} --snapshot no`);
      return EXIT.USAGE;
    }
    const state = readRunState(ctx.stateDir);
    const ledger = HoldLedger.load(ctx.stateDir);
    const holds = ledger.all().filter((h) => h.role === 'source' && h.dataset === dataset);
    if (!state.datasets[dataset] && holds.length === 0) {
      out.error(`zback has no record of ${dataset}: nothing to forget`);
      return EXIT.USAGE;
    }
    delete state.datasets[dataset];
    writeRunState(ctx.stateDir, state);
    for (const h of holds) ledger.remove(h);
    ledger.save();
    out.print(`Forgot ${dataset}.\n`);
    for (const h of holds) {
      out.print(
        `  No longer tracked: hold ${h.tag} on ${h.dataset}@${h.snapshot}. Should the dataset come back, release it with: ${shellCommand(releaseCommand(h.tag, h.dataset, h.snapshot))}\n`,
      );
    }
    return EXIT.OK;
  } catch (e) {
    out.error(errorMessage(e));
    return EXIT.FAILED;
  } finally {
    lock.release();
  }
}

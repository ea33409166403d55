/**
 * `zback restore --list [DATASET]` and `zback restore DATASET --from COPY [--at SNAPSHOT] --to NEW`
 * (SPEC §12): the copy's snapshot comes back over the same pooled SSH connection a run uses, as
 * one full stream (`zfs send` in an exec channel there, `zfs receive -u` here, failures propagated
 * both ways), raw when the copy is encrypted, into a new dataset only. Through a `zback sink` too.
 */
import { errorMessage } from '../errors.js';
import { topmost } from '../plan/planner.js';
import { chooseCopy, chooseSnapshot, copyName, freeAsideName, knownCopies, newDatasetProblem, type CopyLocation } from '../plan/restore.js';
import { propertyList, resolveConfigs } from '../policy/properties.js';
import { progressReporter } from '../report/progress.js';
import { renderCopyList, renderRestoreDone, renderRestorePlan, type ListedCopy } from '../report/restore-text.js';
import { readRunState } from '../state/run-state.js';
import type { LocalHost } from '../transport/local.js';
import { transfer, withHeadCheck } from '../transport/pipe.js';
import { restoreStreamVerdict } from '../sink/stream-header.js';
import type { HostPool } from '../transport/pool.js';
import { hostIdentity } from '../plan/identity.js';
import { shellCommand } from '../transport/quote.js';
import { chooseStreamFlags } from '../zfs/capabilities.js';
import { Zfs } from '../zfs/client.js';
import { restoreReceiveCommand, sendFullCommand, setPropertyCommand } from '../zfs/commands.js';
import { datasetNameProblem, poolOf } from '../zfs/dataset-names.js';
import type { Context } from './context.js';
import { EXIT } from './exit-codes.js';
import type { Output } from './output.js';
import { commandHosts } from './hosts.js';
import { handleStopSignals } from './signals.js';

export interface RestoreArgs {
  /** The source dataset (restore), or the dataset whose copies --list shows (all without it). */
  dataset?: string;
  list: boolean;
  from?: string;
  at?: string;
  to?: string;
  dryRun: boolean;
  sshConfig?: string;
  maxChannels: number;
  acceptNewHostKeys: boolean;
  commandTimeoutS: number;
  idleTimeoutS: number;
}

export async function restoreCommand(ctx: Context, args: RestoreArgs, out: Output): Promise<number> {
  const observe = ctx.verbose ? (h: string, argv: readonly string[]) => out.trace(`[${h}] ${shellCommand(argv)}`) : undefined;
  const { local, pool } = commandHosts({ ...args, recordNewHostKeys: !args.dryRun }, observe);
  try {
    const zfs = await Zfs.detect(local);
    const { rows, unreadable } = await zfs.config(propertyList(ctx.properties));
    const configs = resolveConfigs(rows, ctx.properties, unreadable);
    const copies = knownCopies(configs, readRunState(ctx.stateDir), args.list ? args.dataset : undefined);
    if (args.list) return await list(copies, pool, ctx, args, out);
    return await restore(zfs, local, pool, { rows, configs, copies }, ctx, args, out);
  } catch (e) {
    out.error(errorMessage(e));
    return EXIT.FAILED;
  } finally {
    await pool.closeAll();
  }
}

/** Every copy of every dataset (or of one), read over one connection per host. */
async function list(copies: readonly CopyLocation[], pool: HostPool, ctx: Context, args: RestoreArgs, out: Output): Promise<number> {
  if (copies.length === 0) {
    out.error(
      args.dataset
        ? `zback knows of no copy of ${args.dataset} (no configuration names one and no run recorded one)`
        : 'zback knows of no copy: no dataset here names a destination, and no run recorded one',
    );
    return EXIT.FAILED;
  }
  const byHost = new Map<string, CopyLocation[]>();
  for (const c of copies) {
    const id = hostIdentity(c.hostLabel);
    if (!byHost.has(id)) byHost.set(id, []);
    byHost.get(id)!.push(c);
  }
  const listed = new Map<CopyLocation, ListedCopy>();
  await Promise.all(
    [...byHost.values()].map(async (onHost) => {
      try {
        const zfs = await Zfs.detect(await pool.get(onHost[0]!.host));
        const present = new Set(await zfs.listDatasets());
        const targets = topmost([...new Set(onHost.map((c) => c.target))].filter((t) => present.has(t)));
        const inventory = targets.length ? await zfs.inventory(targets, true) : new Map();
        for (const c of onHost) {
          const info = inventory.get(c.target);
          listed.set(
            c,
            info
              ? { copy: c, snapshots: info.snapshots, ...(info.encryption !== undefined ? { encryption: info.encryption } : {}) }
              : { copy: c, error: `${c.target} does not exist on ${c.hostLabel === 'local' ? 'this machine' : c.hostLabel}` },
          );
        }
      } catch (e) {
        for (const c of onHost) listed.set(c, { copy: c, error: errorMessage(e) });
      }
    }),
  );
  const all = copies.map((c) => listed.get(c)!);
  if (ctx.json) {
    const json = all.map((l) => ({
      dataset: l.copy.dataset,
      copy: copyName(l.copy),
      host: l.copy.hostLabel,
      target: l.copy.target,
      configured: l.copy.configured,
      ...(l.error !== undefined ? { error: l.error } : {}),
      ...(l.encryption !== undefined ? { encryption: l.encryption } : {}),
      ...(l.snapshots
        ? {
            snapshots: l.snapshots.map((s) => ({
              name: s.name,
              guid: s.guid,
              ...(s.creation !== undefined ? { created: new Date(s.creation * 1000).toISOString() } : {}),
            })),
          }
        : {}),
    }));
    out.print(JSON.stringify(json, null, 2) + '\n');
  } else out.print(renderCopyList(all, ctx.calendar, ctx.now));
  for (const l of all) if (l.error !== undefined) out.error(`${l.copy.dataset}: ${copyName(l.copy)}: ${l.error}`);
  return all.some((l) => l.error !== undefined) ? EXIT.FAILED : EXIT.OK;
}

interface Known {
  rows: Awaited<ReturnType<Zfs['config']>>['rows'];
  configs: ReturnType<typeof resolveConfigs>;
  copies: readonly CopyLocation[];
}

async function restore(zfs: Zfs, local: LocalHost, pool: HostPool, known: Known, ctx: Context, args: RestoreArgs, out: Output): Promise<number> {
  const usage = (text: string) => {
    out.error(text);
    return EXIT.USAGE;
  };
  const dataset = args.dataset;
  if (dataset === undefined) return usage('give the dataset to restore (zback restore DATASET --from COPY --to NEW), or --list');
  const nameProblem = datasetNameProblem(dataset);
  if (nameProblem !== null || dataset.includes('@')) return usage(`${JSON.stringify(dataset)}: not a dataset name (${nameProblem ?? 'a snapshot'})`);
  if (args.from === undefined) return usage(`--from: name the copy to restore from (zback restore --list ${shellCommand([dataset])} shows them)`);
  if (args.to === undefined) return usage(`--to: name the new dataset to restore into, e.g. --to ${dataset}.restored`);
  const chosen = chooseCopy(dataset, known.copies, args.from);
  if (!chosen.ok) return usage(chosen.problem);
  const copy = chosen.value;
  const here = new Set(await zfs.listDatasets());
  const toProblem = newDatasetProblem(args.to, here);
  if (toProblem !== null) return usage(toProblem);
  const to = args.to;

  const where = copy.hostLabel === 'local' ? 'this machine' : copy.hostLabel;
  const host = await pool.get(copy.host);
  const theirs = copy.hostLabel === 'local' ? zfs : await Zfs.detect(host);
  if (theirs.sink && !theirs.sink.accepts?.includes('restore')) {
    out.error(
      `${copyName(copy)}: the zback sink on ${where} does not send copies back: its administrator allows it with zback sink --allow-restore in the key's forced command (a sink older than zback restore cannot)`,
    );
    return EXIT.FAILED;
  }
  if (!(await theirs.listDatasets()).includes(copy.target)) {
    out.error(`${copyName(copy)}: ${copy.target} does not exist on ${where} (zback restore --list ${shellCommand([dataset])} shows the copies)`);
    return EXIT.FAILED;
  }
  const info = (await theirs.inventory([copy.target], true)).get(copy.target);
  const snapshot = chooseSnapshot(copyName(copy), info?.snapshots ?? [], args.at);
  if (!snapshot.ok) return usage(snapshot.problem);
  const snap = snapshot.value;
  // An encrypted copy goes back raw, as it is stored: its key never left the source.
  const raw = info?.encryption !== undefined && info.encryption !== 'off';
  if (raw && !zfs.caps.encryption) {
    out.error(`${copyName(copy)} is encrypted (${info!.encryption}): only a raw stream restores it, and this ZFS (${zfs.caps.description}) cannot receive one`);
    return EXIT.FAILED;
  }
  const theirPool = poolOf(copy.target);
  const ourPool = poolOf(to);
  const [theirFeatures, ourFeatures] = await Promise.all([theirs.poolFeatures([theirPool]), zfs.poolFeatures([ourPool])]);
  const flags = chooseStreamFlags(theirs.caps, zfs.caps, theirFeatures.get(theirPool), ourFeatures.get(ourPool), raw);
  const send = sendFullCommand(copy.target, snap.name, flags);
  const receive = restoreReceiveCommand(to);
  // The size (OpenZFS) only for a person watching: a percentage and an ETA.
  const size = out.showsProgress || args.dryRun ? await theirs.sendSize(send).catch(() => null) : null;
  out.print(renderRestorePlan({ copy, snapshot: snap.name, to, send, receive, size }));
  if (args.dryRun) return EXIT.OK;

  const started = Date.now();
  const sink = await local.startSink(receive);
  let source;
  try {
    // Only the one full stream of the snapshot asked for reaches zfs receive (see restoreStreamVerdict).
    source = withHeadCheck(await host.startSource(send), (head) => restoreStreamVerdict(head, snap.guid));
  } catch (e) {
    sink.abort();
    await sink.done;
    out.error(`restore of ${copyName(copy)}@${snap.name}: cannot start the send on ${where}: ${errorMessage(e)}`);
    return EXIT.FAILED;
  }
  const stop = handleStopSignals(
    (name) => {
      out.error(`stopped by ${name}: the restore is being aborted`);
      source.abort();
      sink.abort();
    },
    () => process.exit(EXIT.FAILED),
  );
  const label = `${copyName(copy)}@${snap.name} → ${to}`;
  const progress = out.showsProgress ? progressReporter((line) => out.progress(line)) : undefined;
  let result;
  try {
    result = await transfer(source, sink, {
      idleTimeoutMs: args.idleTimeoutS * 1000,
      ...(progress ? { onProgress: (bytes: number) => progress(label, bytes, size) } : {}),
    });
  } finally {
    progress?.(label, null, null);
    stop.uninstall();
  }
  if (stop.signal.aborted || !result.ok) {
    out.error(
      `restore of ${copyName(copy)}@${snap.name} into ${to} failed: ${stop.signal.aborted ? `stopped by ${String(stop.signal.reason)}` : result.reason}`,
    );
    // A signal that came as zfs receive was committing: say so rather than let it pass for nothing.
    if ((await zfs.listDatasets().catch((): string[] => [])).includes(to))
      out.error(`${to} exists all the same (the receive had finished): check it, or destroy it (zfs destroy -r ${shellCommand([to])})`);
    return EXIT.FAILED;
  }
  // What arrived is the copy's snapshot itself: the same guid, here.
  const arrived = (await zfs.inventory([to])).get(to)?.snapshots.find((s) => s.name === snap.name);
  if (arrived?.guid !== snap.guid) {
    out.error(`restore into ${to}: the received snapshot's guid (${arrived?.guid ?? 'none'}) is not the copy's (${snap.guid}); do not use it`);
    return EXIT.FAILED;
  }
  // A restored dataset under a managed parent would be taken on by the next run (snapshots, a new
  // seed, retention) before it is in place: held back until the swap, which undoes this.
  const config = resolveConfigs((await zfs.config(propertyList(ctx.properties))).rows, ctx.properties).find((c) => c.dataset === to);
  let heldBack: { origin: string } | undefined;
  if (config?.kind === 'managed') {
    try {
      await zfs.exec(setPropertyCommand(to, ctx.properties.snapshot, 'no'));
      heldBack = { origin: config.config.group };
    } catch (e) {
      out.error(
        `${to} inherits ${ctx.properties.snapshot}=yes from ${config.config.group}, and setting it to no failed (${errorMessage(e)}): a run would take it on; put it in place before the next run`,
      );
    }
  }
  const own = known.rows.filter((r) => r.name === dataset && r.source === 'local' && Object.values(ctx.properties).includes(r.property));
  out.print(
    renderRestoreDone({
      dataset,
      copy,
      snapshot: snap.name,
      to,
      bytes: result.bytes,
      ms: Date.now() - started,
      raw,
      originalExists: here.has(dataset),
      originalHasChildren: [...here].some((d) => d.startsWith(`${dataset}/`)),
      aside: freeAsideName(dataset, here) ?? `${dataset.slice(0, 200)}.aside`,
      ownProperties: own.map((r) => [r.property, r.value] as const),
      managedBy: ctx.properties.snapshot,
      ...(heldBack ? { heldBack } : {}),
    }),
  );
  return EXIT.OK;
}

/**
 * The command line (yargs). Parsing and validation of options happen here; each command's work
 * lives in its own module.
 */
import { readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { hostname } from 'node:os';
import yargs, { type Argv } from 'yargs';
import { UsageError } from '../errors.js';
import { DEFAULT_NAME_FORMAT } from '../policy/snapshot-names.js';
import { DEFAULT_PREFIX } from '../policy/properties.js';
import { buildContext, type Context, type GlobalArgs } from './context.js';
import { EXIT } from './exit-codes.js';
import { consoleOutput } from './output.js';
import { parseDuration } from '../policy/duration.js';
import { parseRate } from '../policy/rate.js';
import { DEFAULT_HOOKS_DIR } from '../policy/hooks.js';
import type { Field } from './set.js';
import { datasetNameProblem } from '../zfs/dataset-names.js';
import { MAX_TIMER_MS } from '../transport/host.js';
import { MAX_SPLAY_S, splayDelayMs, waitForSplay } from './splay.js';

/** zback's version from its package.json: the first one up from this file (dist/lib/cli or dist/bundle). */
function packageVersion(): string {
  for (let up = '../'; up.length < 16; up += '../') {
    try {
      const pkg = JSON.parse(readFileSync(new URL(`${up}package.json`, import.meta.url), 'utf8')) as { name?: string; version: string };
      if (pkg.name === 'zback') return pkg.version;
    } catch {
      // not here: one folder up
    }
  }
  return 'unknown';
}

function output(ctx: Context) {
  return consoleOutput({ verbose: ctx.verbose, json: ctx.json, ...(ctx.logFile ? { logFile: ctx.logFile } : {}) });
}

/** A number of seconds for a timer: above 0 and within what Node's timers can wait (about 24.8 days). */
function seconds(option: string, value: number): number {
  const max = Math.floor(MAX_TIMER_MS / 1000);
  if (!(value > 0) || value > max) throw new UsageError(`--${option} ${value}: give a number of seconds above 0 and at most ${max}`);
  return value;
}

/**
 * --metrics-file, checked before the run (a mistake found at its end would cost the whole run's
 * metrics): node_exporter's textfile collector reads only `*.prom` files, from a folder that exists.
 */
function metricsFile(value: string): string {
  const path = resolve(value);
  if (!path.endsWith('.prom'))
    throw new UsageError(`--metrics-file ${JSON.stringify(value)}: node_exporter's textfile collector reads only files named *.prom`);
  let folder = false;
  try {
    folder = statSync(dirname(path)).isDirectory();
  } catch {
    /* not there */
  }
  if (!folder)
    throw new UsageError(
      `--metrics-file ${JSON.stringify(value)}: the folder ${dirname(path)} does not exist (node_exporter's --collector.textfile.directory)`,
    );
  return path;
}

/** --html: a page written where a folder exists (checked before the status is gathered). */
function htmlFile(value: string): string {
  const path = resolve(value);
  let folder = false;
  try {
    folder = statSync(dirname(path)).isDirectory();
  } catch {
    /* not there */
  }
  if (!folder) throw new UsageError(`--html ${JSON.stringify(value)}: the folder ${dirname(path)} does not exist`);
  return path;
}

/**
 * Each command's options. The commands' work is not given to yargs as handlers: yargs renders the
 * whole help text before it calls a handler (to have it for a failure message), which was most of
 * its cost at start-up; main() dispatches on the parsed command instead.
 */
const builders = {
  run: (y: Argv) =>
    y
      .usage(
        '$0 run [options]\n\nOne pass, as cron runs it: for every dataset with PREFIX:snapshot=yes, take the snapshot that is due; ' +
          'send what each destination in PREFIX:destinations lacks (zfs send -I over one SSH connection per host, ' +
          'the receive in an exec channel of it; holds keep each base); prune by PREFIX:retention here and by each ' +
          "destination's own retention there. Every failure is a line on stderr and exit 1; one broken dataset or host never stops the rest.",
      )
      .option('dry-run', { alias: 'n', type: 'boolean', default: false, describe: 'Print the plan; change nothing' })
      .option('ssh-config', { type: 'string', describe: 'OpenSSH client configuration to use, as `ssh -F FILE` (default: ~/.ssh/config)' })
      .option('max-channels', {
        type: 'number',
        default: 4,
        describe: 'SSH channels open at once per destination host (keep below sshd MaxSessions, default 10)',
      })
      .option('accept-new-host-keys', { type: 'boolean', default: false, describe: 'Accept and record unknown host keys (never a changed one)' })
      .option('idle-timeout', { type: 'number', default: 600, describe: 'Abort a send that makes no progress for this many seconds' })
      .option('command-timeout', {
        type: 'number',
        default: 300,
        describe:
          'Stop any other zfs command or SSH channel open that takes longer than this many seconds (its host is then unreachable for the rest of the run)',
      })
      .option('bwlimit', {
        type: 'string',
        describe:
          "At most this many bytes per second for all the run's streams together, e.g. 20M (K M G T: powers of 1024); a destination's bwlimit= limits its host's link",
      })
      .option('metrics-file', {
        type: 'string',
        describe: "Write the run's outcome here for node_exporter's textfile collector (Prometheus text format, replaced atomically at the end of each run)",
      })
      .option('hooks-dir', {
        type: 'string',
        describe: `Root's snapshot hooks: *.conf files naming a dataset and the commands to run before and after its snapshot (default ${DEFAULT_HOOKS_DIR})`,
      })
      .option('splay', {
        type: 'string',
        default: '0',
        describe:
          "Wait up to this many seconds before the run, a fixed share of it for each host (from its name), so a fleet's runs do not all reach a backup host at once; ignored by --dry-run and --now",
      })
      .option('reseed', {
        type: 'string',
        array: true,
        describe:
          'DATASET=DESTINATION (e.g. tank/home=backup:bpool/home): seed a new full copy of a destination that zback seeded before and that is missing now (repeatable)',
      }),
  status: (y: Argv) =>
    y
      .option('check', { type: 'boolean', default: false, describe: 'One line and a Nagios exit code: 0 ok, 1 warning, 2 critical, 3 unknown' })
      .option('remote', { type: 'boolean', default: false, describe: 'Ask the destinations now (over one SSH connection per host)' })
      .option('html', {
        type: 'string',
        describe:
          'Also write the status as one self-contained web page here (timelines of every snapshot and why it is kept, lag over the last runs); prints nothing else unless --check or --json',
      })
      .option('replicas', {
        type: 'boolean',
        default: false,
        describe: 'On a backup host: every copy zback seeded here, by source host, and which have stopped getting snapshots (by the schedule each records)',
      })
      .option('warn-after', { type: 'string', default: '2h', describe: 'Overdue snapshot or replication: warning after this long (e.g. 90m, 2h)' })
      .option('crit-after', { type: 'string', default: '1d', describe: 'Overdue snapshot or replication: critical after this long' })
      .option('ssh-config', { type: 'string', describe: 'OpenSSH client configuration for --remote, as `ssh -F FILE`' })
      .option('max-channels', { type: 'number', default: 4, describe: 'SSH channels open at once per destination host' })
      .option('command-timeout', {
        type: 'number',
        default: 300,
        describe: 'Stop any zfs command or SSH channel open that takes longer than this many seconds',
      }),
  set: (y: Argv) =>
    y
      .positional('dataset', { type: 'string', demandOption: true, describe: 'Dataset, e.g. tank/projects' })
      .option('snapshot', { type: 'string', describe: 'yes or no: manage this dataset and its children' })
      .option('retention', { type: 'string', describe: 'e.g. 24h30d0w3m (units h d w m y)' })
      .option('destinations', { type: 'string', describe: "e.g. 'backup-host:tank/backup/projects|hourly|48h30d'" })
      .option('schedule', { type: 'string', describe: 'hourly, daily, weekly, monthly, yearly or a 5-field cron expression' })
      .example("$0 set tank/projects --snapshot yes --retention 24h30d0w3m --destinations 'dest-srv:backup/projects|hourly'", ''),
  unset: (y: Argv) =>
    y
      .positional('dataset', { type: 'string', demandOption: true })
      .option('snapshot', { type: 'boolean', describe: 'Clear PREFIX:snapshot' })
      .option('retention', { type: 'boolean', describe: 'Clear PREFIX:retention' })
      .option('destinations', { type: 'boolean', describe: 'Clear PREFIX:destinations' })
      .option('schedule', { type: 'boolean', describe: 'Clear PREFIX:schedule' })
      .option('all', { type: 'boolean', describe: 'Clear all four' }),
  forget: (y: Argv) => y.positional('dataset', { type: 'string', demandOption: true, describe: 'The dataset as zback reported it missing' }),
  sink: (y: Argv) =>
    y
      .option('root', { type: 'string', array: true, demandOption: true, describe: 'Dataset under which the source may receive and prune (repeatable)' })
      .option('keep-days', { type: 'number', default: 0, describe: 'Refuse to destroy a snapshot made less than this many days ago (as ZFS records it here)' })
      .option('append-only', { type: 'boolean', default: false, describe: 'Refuse every destroy and release (prune here with zback prune)' })
      .option('allow-restore', {
        type: 'boolean',
        default: false,
        describe: 'Let the source read its copies back (zback restore: zfs send of one snapshot under --root); off, the sink is write-only',
      })
      .option('log', { type: 'string', describe: 'Log of refusals and destroys (default /var/log/zback/sink.log, or ~/.zback-sink.log for a user)' })
      .example('restrict,command="zback sink --root bpool/offsite/web1 --keep-days 7" ssh-ed25519 AAAA… root@web1', '(one line of authorized_keys)'),
  restore: (y: Argv) =>
    y
      .usage(
        '$0 restore --list [DATASET]\n$0 restore DATASET --from COPY [--at SNAPSHOT] --to NEW_DATASET\n\n' +
          'Get data back from a copy (SPEC §12): --list shows every copy of each dataset and the snapshots it holds; a restore receives one snapshot of a copy (the newest, or --at) into a new dataset here, over one SSH connection (raw for an encrypted copy), and says how to put it in place. It never writes into an existing dataset.',
      )
      .positional('dataset', { type: 'string', describe: 'The dataset whose copy to restore (with --list: whose copies to show)' })
      .option('list', { type: 'boolean', default: false, describe: 'Show the copies and their snapshots; restore nothing' })
      .option('from', { type: 'string', describe: 'The copy: host:pool/path as --list shows it, or its host when the dataset has one copy there' })
      .option('at', { type: 'string', describe: 'The snapshot to restore (default: the newest on the copy)' })
      .option('to', { type: 'string', describe: 'The new dataset to receive into (it must not exist; its parent must)' })
      .option('dry-run', { alias: 'n', type: 'boolean', default: false, describe: 'Print the send and receive; change nothing' })
      .option('ssh-config', { type: 'string', describe: 'OpenSSH client configuration to use, as `ssh -F FILE`' })
      .option('max-channels', { type: 'number', default: 4, describe: 'SSH channels open at once per host' })
      .option('accept-new-host-keys', { type: 'boolean', default: false, describe: 'Accept and record unknown host keys (never a changed one)' })
      .option('idle-timeout', { type: 'number', default: 600, describe: 'Abort a restore whose stream makes no progress for this many seconds' })
      .option('command-timeout', {
        type: 'number',
        default: 300,
        describe: 'Stop any other zfs command or SSH channel open that takes longer than this many seconds',
      })
      .example('$0 restore --list tank/projects', '')
      .example('$0 restore tank/projects --from backup:bpool/web1/projects --to tank/projects.restored', ''),
  prune: (y: Argv) =>
    y
      .option('root', { type: 'string', array: true, demandOption: true, describe: "Dataset whose copies are pruned (repeatable; as the sink's --root)" })
      .option('keep-days', { type: 'number', default: 0, describe: "Never destroy a snapshot made less than this many days ago (use the sink's --keep-days)" })
      .option('dry-run', { alias: 'n', type: 'boolean', default: false, describe: 'Print the plan; change nothing' }),
};
type ArgsOf<K extends keyof typeof builders> = Awaited<ReturnType<(typeof builders)[K]>['argv']>;

/**
 * yargs lays out the whole help text of a command each time it runs one, to have it ready should
 * the command's handler fail. zback never shows it then (a usage error prints one line, a failure
 * its own message), and the layout (string widths of every option's text) was a third of
 * zback's start-up; in an emulated guest, seconds. --help itself is not affected.
 */
function skipHelpLayout(cli: unknown): void {
  const usage = (cli as { getInternalMethods?: () => { getUsageInstance?: () => { cacheHelpMessage?: () => void } } })
    .getInternalMethods?.()
    .getUsageInstance?.();
  if (usage && typeof usage.cacheHelpMessage === 'function') usage.cacheHelpMessage = () => {};
}

export async function main(argv: string[]): Promise<number> {
  const withContext = async (args: unknown, f: (ctx: ReturnType<typeof buildContext>) => Promise<number>): Promise<number> => {
    const global = args as GlobalArgs;
    const out = consoleOutput({ verbose: global.verbose, json: global.json });
    try {
      return await f(buildContext(global));
    } catch (e) {
      if (!(e instanceof UsageError)) throw e;
      out.error(e.message);
      return EXIT.USAGE;
    }
  };
  const handlers: { [K in keyof typeof builders]: (args: ArgsOf<K>) => Promise<number> } = {
    run: (args: ArgsOf<'run'>) =>
      withContext(args, async (ctx) => {
        const channels = args['max-channels'];
        if (!Number.isInteger(channels) || channels < 1 || channels > 64) throw new UsageError(`--max-channels ${channels}: give a whole number from 1 to 64`);
        const idle = seconds('idle-timeout', args['idle-timeout']);
        const commandTimeout = seconds('command-timeout', args['command-timeout']);
        const reseed = (args.reseed ?? []).map((text) => {
          const eq = String(text).indexOf('=');
          const dataset = eq > 0 ? String(text).slice(0, eq) : '';
          const destination = eq > 0 ? String(text).slice(eq + 1) : '';
          const problem =
            eq < 0
              ? "no '=' between the dataset and the destination"
              : !dataset
                ? 'no dataset before "="'
                : (datasetNameProblem(dataset) ?? (destination ? null : 'no destination after "="'));
          if (problem)
            throw new UsageError(`--reseed ${JSON.stringify(text)}: give DATASET=DESTINATION, as in --reseed 'tank/home=backup:bpool/home' (${problem})`);
          return { dataset, destination };
        });
        let bwlimit: number | null = null;
        if (args.bwlimit !== undefined) {
          try {
            bwlimit = parseRate(String(args.bwlimit));
          } catch (e) {
            throw new UsageError(`--bwlimit: ${(e as Error).message}`);
          }
        }
        const splay = /^\d+(\.\d+)?$/.test(args.splay.trim()) ? Number(args.splay) : NaN;
        if (!(splay <= MAX_SPLAY_S)) throw new UsageError(`--splay ${JSON.stringify(args.splay)}: give a number of seconds from 0 to ${MAX_SPLAY_S}`);
        let clock = ctx;
        if (splay > 0 && !args['dry-run'] && args.now === undefined) {
          const out = output(ctx);
          const ms = splayDelayMs(hostname(), splay);
          if (ctx.verbose) out.info(`waiting ${(ms / 1000).toFixed(1)} s before the run (--splay ${splay}: the share of ${hostname()})`);
          const stoppedBy = await waitForSplay(ms);
          if (stoppedBy) {
            out.error(`stopped by ${stoppedBy} while waiting (--splay) before the run; nothing was done`);
            return EXIT.FAILED;
          }
          clock = { ...ctx, now: Date.now() }; // the run's time is when it starts, not when cron fired
        }
        // Each command's code is loaded when it runs (start-up time: only what the command needs).
        const { runCommand } = await import('./run.js');
        return runCommand(
          clock,
          {
            dryRun: args['dry-run'],
            ...(args['ssh-config'] ? { sshConfig: args['ssh-config'] } : {}),
            maxChannels: channels,
            acceptNewHostKeys: args['accept-new-host-keys'],
            idleTimeoutS: idle,
            commandTimeoutS: commandTimeout,
            reseed,
            bwlimit,
            ...(args['metrics-file'] !== undefined ? { metricsFile: metricsFile(String(args['metrics-file'])) } : {}),
            hooksDir: { path: args['hooks-dir'] ?? DEFAULT_HOOKS_DIR, given: args['hooks-dir'] !== undefined },
          },
          output(ctx),
        );
      }),
    status: (args: ArgsOf<'status'>) =>
      withContext(args, async (ctx) => {
        const duration = (name: string, v: string) => {
          try {
            return parseDuration(v);
          } catch (e) {
            throw new UsageError(`--${name}: ${(e as Error).message}`);
          }
        };
        const warnMs = duration('warn-after', args['warn-after']);
        const critMs = duration('crit-after', args['crit-after']);
        if (critMs < warnMs) throw new UsageError('--crit-after must not be shorter than --warn-after');
        if (args.replicas && args.remote)
          throw new UsageError('--replicas shows the copies on this host; --remote asks the destinations of the datasets here (give one or the other)');
        const { statusCommand } = await import('./status.js');
        return statusCommand(
          ctx,
          {
            json: ctx.json,
            check: args.check,
            remote: args.remote,
            replicas: args.replicas,
            ...(args.html !== undefined ? { html: htmlFile(String(args.html)) } : {}),
            thresholds: { warnMs, critMs },
            ...(args['ssh-config'] ? { sshConfig: args['ssh-config'] } : {}),
            maxChannels: args['max-channels'],
            commandTimeoutS: seconds('command-timeout', args['command-timeout']),
          },
          output(ctx),
        );
      }),
    set: (args: ArgsOf<'set'>) =>
      withContext(args, async (ctx) => {
        const { editCommand, FIELDS } = await import('./set.js');
        const values: Partial<Record<Field, string>> = {};
        for (const f of FIELDS) if (typeof args[f] === 'string') values[f] = args[f] as string;
        return editCommand(ctx, args.dataset, values, output(ctx));
      }),
    unset: (args: ArgsOf<'unset'>) =>
      withContext(args, async (ctx) => {
        const { editCommand, FIELDS } = await import('./set.js');
        const values: Partial<Record<Field, null>> = {};
        for (const f of FIELDS) if (args[f] || args.all) values[f] = null;
        return editCommand(ctx, args.dataset, values, output(ctx));
      }),
    forget: (args: ArgsOf<'forget'>) => withContext(args, async (ctx) => (await import('./forget.js')).forgetCommand(ctx, args.dataset, output(ctx))),
    sink: async (args: ArgsOf<'sink'>) => {
      // bin/zback starts a real sink through sinkMain (fast); this is for --help and a direct call.
      const { sinkArgs, sinkCommand } = await import('./sink.js');
      return sinkCommand(sinkArgs(args.root ?? [], args['keep-days'], args['append-only'], args.log, args['allow-restore']));
    },
    restore: (args: ArgsOf<'restore'>) =>
      withContext(args, async (ctx) => {
        const channels = args['max-channels'];
        if (!Number.isInteger(channels) || channels < 1 || channels > 64) throw new UsageError(`--max-channels ${channels}: give a whole number from 1 to 64`);
        if (args.list && (args.from !== undefined || args.to !== undefined || args.at !== undefined))
          throw new UsageError('--list shows the copies; --from, --at and --to are for a restore (give one or the other)');
        const { restoreCommand } = await import('./restore.js');
        return restoreCommand(
          ctx,
          {
            ...(args.dataset !== undefined ? { dataset: String(args.dataset) } : {}),
            list: args.list,
            ...(args.from !== undefined ? { from: String(args.from) } : {}),
            ...(args.at !== undefined ? { at: String(args.at) } : {}),
            ...(args.to !== undefined ? { to: String(args.to) } : {}),
            dryRun: args['dry-run'],
            ...(args['ssh-config'] ? { sshConfig: args['ssh-config'] } : {}),
            maxChannels: channels,
            acceptNewHostKeys: args['accept-new-host-keys'],
            commandTimeoutS: seconds('command-timeout', args['command-timeout']),
            idleTimeoutS: seconds('idle-timeout', args['idle-timeout']),
          },
          output(ctx),
        );
      }),
    prune: (args: ArgsOf<'prune'>) =>
      withContext(args, async (ctx) => {
        const roots = (args.root ?? []).map(String);
        for (const r of roots) {
          const problem = datasetNameProblem(r) ?? (r.includes('@') ? 'a snapshot' : null);
          if (problem) throw new UsageError(`--root ${JSON.stringify(r)}: not a dataset (${problem})`);
        }
        const keepDays = args['keep-days'];
        if (!Number.isInteger(keepDays) || keepDays < 0 || keepDays > 36500)
          throw new UsageError(`--keep-days ${keepDays}: give a whole number of days from 0 to 36500`);
        const { pruneCommand } = await import('./prune.js');
        return pruneCommand(ctx, { roots, keepDays, dryRun: args['dry-run'] }, output(ctx));
      }),
  };

  const cli = yargs(argv)
    .scriptName('zback')
    // An option given twice takes the last value (as most tools do), not an array of both.
    .parserConfiguration({ 'duplicate-arguments-array': false })
    .usage('$0 <command> [options]\n\nZFS snapshots, retention and replication, configured in ZFS user properties.')
    .option('prefix', {
      type: 'string',
      // Only this option reads the environment: yargs' .env('ZBACK') would turn every ZBACK_*
      // variable into an option, and .strict() would then reject unrelated ones.
      default: process.env.ZBACK_PREFIX || DEFAULT_PREFIX,
      describe: 'User-property prefix: zback reads PREFIX:snapshot, PREFIX:retention, PREFIX:destinations, PREFIX:schedule (env ZBACK_PREFIX)',
    })
    .option('timezone', { type: 'string', describe: 'Time zone for schedules and retention buckets (default: the system zone)' })
    .option('now', { type: 'string', describe: 'Pretend the time is this ISO 8601 instant (what-if dry runs, tests)' })
    .option('state-dir', { type: 'string', default: '/var/lib/zback', describe: 'Where the run lock and run state live' })
    .option('snapshot-format', { type: 'string', default: DEFAULT_NAME_FORMAT, describe: 'Snapshot name format, UTC (%Y %m %d %H %M %S)' })
    .option('verbose', { alias: 'v', type: 'boolean', default: false, describe: 'Show every command and why each snapshot is kept' })
    .option('json', { type: 'boolean', default: false, describe: 'run: one JSON object per event; status: the report as JSON' })
    .option('log-file', { type: 'string', describe: 'Append every message, with a timestamp, to this file' })
    .command(
      'run',
      'Take the snapshots that are due, replicate them to their destinations (one SSH connection per host) and prune by retention, on both sides',
      builders.run,
    )
    .command('status', 'Show each dataset: policy, snapshots, next due, replication lag, problems', builders.status)
    .command('set <dataset>', 'Validate and write zback properties on a dataset', builders.set)
    .command('unset <dataset>', 'Clear zback properties set on a dataset (it then inherits them again)', builders.unset)
    .command('forget <dataset>', 'Stop reporting a managed dataset that is gone for good (destroyed, or its pool retired)', builders.forget)
    .command('sink', "The forced command of a source's key on a backup host: only zback's own zfs commands, only under --root", builders.sink)
    .command(
      'restore [dataset]',
      'Get data back: list the copies and their snapshots (--list), or receive a snapshot of one into a new dataset here',
      builders.restore,
    )
    .command('prune', 'On a backup host: prune the copies below --root by the retention each one carries (for an append-only sink)', builders.prune)
    .completion('completion', 'Print a shell completion script (bash; zsh with SHELL=zsh): zback completion >> ~/.bashrc')
    .exitProcess(false)
    .demandCommand(1, 'Give a command: run, status, restore, set, unset, forget, sink or prune (see --help).')
    .strict()
    .version(packageVersion())
    .help()
    .alias('help', 'h')
    .wrap(Math.min(110, process.stdout.columns || 100))
    .fail((msg, err) => {
      if (err) throw err;
      // Thrown, not only reported: a usage error must stop the command before it reads or
      // writes anything (yargs would otherwise still run the handler, e.g. a real run for --dryrun).
      throw new UsageError(msg);
    });

  skipHelpLayout(cli);
  let parsed: Record<string, unknown>;
  try {
    parsed = await cli.parseAsync();
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`zback: ${e.message}\nRun 'zback --help' for usage.\n`);
    return EXIT.USAGE;
  }
  // --help, --version and the completion script are yargs' own output: nothing more to do.
  const command = (parsed._ as unknown[])[0];
  if (parsed.help || parsed.version || typeof command !== 'string' || !Object.hasOwn(handlers, command)) return EXIT.OK;
  const handler = handlers[command as keyof typeof builders] as (args: unknown) => Promise<number>;
  return handler(parsed);
}

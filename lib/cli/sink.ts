/**
 * `zback sink`: run by sshd as the forced command of a source's key (see lib/sink/sink.ts), once
 * per command the source sends. It takes its request from SSH_ORIGINAL_COMMAND, never from its own
 * arguments. bin/zback starts it through sinkMain, which parses its few options with Node's own
 * util.parseArgs and loads nothing else of zback (yargs, chalk, ssh2 and the planner would cost
 * about 0.3 s of CPU per command); `zback sink --help` goes through yargs like every command.
 */
import { parseArgs } from 'node:util';
import { UsageError } from '../errors.js';
import { defaultSinkLog, runSink } from '../sink/sink.js';
import { datasetNameProblem } from '../zfs/dataset-names.js';

export interface SinkArgs {
  roots: string[];
  keepDays: number;
  appendOnly: boolean;
  /** Let the source read its copies back (zback restore): off unless asked for. */
  allowRestore: boolean;
  log?: string;
}

/** The options as both parsers see them, checked once. */
export function sinkArgs(root: readonly unknown[], keepDays: number, appendOnly: boolean, log: string | undefined, allowRestore = false): SinkArgs {
  const roots = root.map(String);
  if (roots.length === 0) throw new UsageError('give at least one --root DATASET');
  for (const r of roots) {
    const problem = datasetNameProblem(r) ?? (r.includes('@') ? 'a snapshot' : null);
    if (problem) throw new UsageError(`--root ${JSON.stringify(r)}: not a dataset (${problem})`);
  }
  if (!Number.isInteger(keepDays) || keepDays < 0 || keepDays > 36500)
    throw new UsageError(`--keep-days ${keepDays}: give a whole number of days from 0 to 36500`);
  return { roots, keepDays, appendOnly, allowRestore, ...(log ? { log } : {}) };
}

export function sinkCommand(a: SinkArgs): Promise<number> {
  return runSink({
    roots: a.roots,
    keepDays: a.keepDays,
    appendOnly: a.appendOnly,
    allowRestore: a.allowRestore,
    command: process.env.SSH_ORIGINAL_COMMAND,
    logFile: a.log ?? defaultSinkLog(),
    ...(process.env.SSH_CLIENT ? { client: process.env.SSH_CLIENT } : {}),
    now: Date.now(),
  });
}

/** `zback sink …` from bin/zback (argv after "sink"); a usage error is exit 2, on stderr. */
export async function sinkMain(argv: string[]): Promise<number> {
  try {
    const { values } = parseArgs({
      args: argv,
      options: {
        root: { type: 'string', multiple: true, default: [] },
        'keep-days': { type: 'string', default: '0' },
        'append-only': { type: 'boolean', default: false },
        'allow-restore': { type: 'boolean', default: false },
        log: { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    });
    const keep = values['keep-days'];
    if (!/^\d{1,5}$/.test(keep)) throw new UsageError(`--keep-days ${JSON.stringify(keep)}: give a whole number of days from 0 to 36500`);
    return await sinkCommand(sinkArgs(values.root, Number(keep), values['append-only'], values.log, values['allow-restore']));
  } catch (e) {
    const message = e instanceof UsageError ? e.message : (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') ? (e as Error).message : null;
    if (message === null) throw e;
    process.stderr.write(`zback sink: ${message}\nRun 'zback sink --help' for usage.\n`);
    return 2;
  }
}

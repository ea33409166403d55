/**
 * `zback sink`: the forced command of a source's key on a backup host (SPEC §10). One SSH exec
 * request is one sink process: it reads SSH_ORIGINAL_COMMAND strictly (./command-line.ts), checks
 * it against the rules (./rules.ts), and runs `zfs` from an argv array — never through a shell —
 * on the channel's own stdin/stdout/stderr. Every refusal is a line on stderr (the source shows
 * it) and in the sink's log.
 */
import { appendFileSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { printable } from '../transport/host.js';
import { LocalHost } from '../transport/local.js';
import { creationCommand } from '../zfs/commands.js';
import { parseSinkCommand, SinkRefusal } from './command-line.js';
import { helloLine } from './hello.js';
import { allow, Refused, tooYoung, visibleDatasets, type SinkOptions } from './rules.js';

export interface SinkRun extends SinkOptions {
  /** SSH_ORIGINAL_COMMAND. */
  command: string | undefined;
  logFile: string;
  /** Where the connection comes from (SSH_CLIENT), for the log. */
  client?: string;
  now: number;
}

/** Exit status of a refused request (the source reports the sink's message). */
export const REFUSED = 126;

export function defaultSinkLog(): string {
  return process.getuid?.() === 0 ? '/var/log/zback/sink.log' : `${process.env.HOME ?? '/tmp'}/.zback-sink.log`;
}

function log(file: string, client: string | undefined, text: string): void {
  try {
    mkdirSync(dirname(file), { recursive: true });
    appendFileSync(file, `${new Date().toISOString()} ${client ? `from ${client.split(' ')[0]} ` : ''}${text}\n`);
  } catch (e) {
    process.stderr.write(`zback sink: cannot write its log ${file}: ${(e as Error).message}\n`);
  }
}

function shown(command: string | undefined): string {
  const text = printable(command ?? '').replace(/\n/g, '\\n');
  return text.length > 400 ? `${text.slice(0, 400)}… (${text.length} characters)` : text;
}

export async function runSink(o: SinkRun): Promise<number> {
  const refuse = (why: string): number => {
    process.stderr.write(`zback sink: refused: ${why}\n`);
    log(o.logFile, o.client, `refused: ${why}: ${shown(o.command)}`);
    return REFUSED;
  };
  let request;
  try {
    request = parseSinkCommand(o.command);
  } catch (e) {
    if (e instanceof SinkRefusal) return refuse(e.message);
    throw e;
  }
  if (request.kind === 'kill') return killOwn(request.pid) ? 0 : refuse(`process ${request.pid} is not one of this sink's own commands`);

  let allowed;
  try {
    allowed = allow(request.argv, o);
  } catch (e) {
    if (e instanceof Refused) return refuse(e.message);
    throw e;
  }
  // The PID the source stops the command by if it misses its deadline (this process forwards it).
  process.stderr.write(`${request.marker} ${process.pid}\n`);
  const local = new LocalHost();

  if (allowed.op === 'version') process.stderr.write(helloLine({ roots: [...o.roots], appendOnly: o.appendOnly, keepDays: o.keepDays }));
  if (allowed.op === 'list') {
    const r = await local.run(allowed.argv);
    process.stdout.write(visibleDatasets(r.stdout.split('\n').filter(Boolean), o.roots).map((n) => `${n}\n`).join(''));
    process.stderr.write(r.stderr);
    return r.code ?? 1;
  }
  if (allowed.op === 'destroy' && o.keepDays > 0) {
    const r = await local.run(creationCommand(allowed.snapshots));
    if (r.code !== 0) return refuse(`cannot read when ${allowed.snapshots.join(', ')} were made, so the ${o.keepDays}-day floor cannot be checked: ${r.stderr.trim()}`);
    const young = tooYoung(r.stdout, allowed.snapshots, o.keepDays, o.now);
    if (!Array.isArray(young)) return refuse(`cannot tell when ${young.unreadable.join(', ')} were made, so the ${o.keepDays}-day floor cannot be checked`);
    if (young.length) return refuse(`${young.join(', ')} ${young.length === 1 ? 'is' : 'are'} younger than this sink's floor of ${o.keepDays} days (--keep-days); nothing was destroyed`);
  }
  if (allowed.op === 'destroy') log(o.logFile, o.client, `destroy ${allowed.snapshots.join(' ')}`);

  const child = local.runAttached(allowed.argv);
  const forward = (s: NodeJS.Signals) => child.signal(s);
  for (const s of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(s, forward);
  const r = await child.done;
  return r.code ?? 1;
}

/**
 * Stop one of this sink's own running commands (the source's deadline or an abort): only a
 * process started with exactly this sink's command line, so a source cannot signal anything else.
 */
function killOwn(pid: number): boolean {
  const cmdline = (p: number | 'self') => {
    try {
      return readFileSync(`/proc/${p}/cmdline`, 'latin1');
    } catch {
      return null;
    }
  };
  const theirs = cmdline(pid);
  if (theirs === null) return true; // it has ended already: nothing to stop
  if (pid === process.pid || theirs !== cmdline('self')) return false;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return false;
  }
  return true;
}

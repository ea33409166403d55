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
import { creationCommand, localPropertyCommand } from '../zfs/commands.js';
import { parseSinkCommand, SinkRefusal } from './command-line.js';
import { helloLine, sinkAccepts } from './hello.js';
import { allow, Refused, tooYoung, visibleDatasets, type SinkOptions } from './rules.js';
import { streamVerdict } from './stream-header.js';

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
  // The same answer for a process that is not the sink's and one that does not exist, so the
  // source learns nothing about the backup host's processes; only the first is worth a log line.
  if (request.kind === 'kill') {
    const r = killOwn(request.pid);
    if (r === 'stopped') return 0;
    process.stderr.write(`zback sink: refused: process ${request.pid} is not one of this sink's running commands\n`);
    if (r === 'foreign') log(o.logFile, o.client, `refused: process ${request.pid} is not one of this sink's own commands: ${shown(o.command)}`);
    return REFUSED;
  }

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

  if (allowed.op === 'version')
    process.stderr.write(helloLine({ roots: [...o.roots], appendOnly: o.appendOnly, keepDays: o.keepDays, accepts: sinkAccepts(o.allowRestore ?? false) }));
  if (allowed.op === 'list') {
    const r = await local.run(allowed.argv);
    process.stdout.write(
      visibleDatasets(r.stdout.split('\n').filter(Boolean), o.roots)
        .map((n) => `${n}\n`)
        .join(''),
    );
    process.stderr.write(r.stderr);
    return r.code ?? 1;
  }
  if (allowed.op === 'destroy' && o.keepDays > 0) {
    const r = await local.run(creationCommand(allowed.snapshots));
    if (r.code !== 0)
      return refuse(`cannot read when ${allowed.snapshots.join(', ')} were made, so the ${o.keepDays}-day floor cannot be checked: ${r.stderr.trim()}`);
    const young = tooYoung(r.stdout, allowed.snapshots, o.keepDays, o.now);
    if (!Array.isArray(young)) return refuse(`cannot tell when ${young.unreadable.join(', ')} were made, so the ${o.keepDays}-day floor cannot be checked`);
    if (young.length)
      return refuse(
        `${young.join(', ')} ${young.length === 1 ? 'is' : 'are'} younger than this sink's floor of ${o.keepDays} days (--keep-days); nothing was destroyed`,
      );
  }
  if (allowed.op === 'destroy') log(o.logFile, o.client, `destroy ${allowed.snapshots.join(' ')}`);
  if (allowed.op === 'set' && o.appendOnly && /:replica-retention=/.test(allowed.argv[2]!)) {
    // zback prune applies this retention here: behind an append-only sink it is recorded once (at
    // the seed, again only unchanged after a resume) and is then the backup host's to change.
    const [, , assignment, dataset] = allowed.argv as [string, string, string, string];
    const property = assignment.slice(0, assignment.indexOf('='));
    const r = await local.run(localPropertyCommand(dataset, property));
    if (r.code !== 0) return refuse(`cannot read ${property} of ${dataset}: ${r.stderr.trim()}`);
    const now = r.stdout.trim();
    if (now !== '' && now !== '-' && `${property}=${now}` !== assignment) {
      return refuse(`this sink is append-only: ${dataset} already has ${property}=${now}, which only the backup host changes (zfs set there)`);
    }
  }

  let head: Buffer | null = null;
  if (allowed.op === 'receive') {
    // Only the kinds of stream zback sends (see ./stream-header.ts): read its first records here.
    const read = await readHead(process.stdin);
    if (!read.ok) return refuse(`the receive into ${allowed.argv[allowed.argv.length - 1]} got ${read.why}`);
    head = read.head;
  }
  const child = local.runAttached(allowed.argv, head !== null);
  const forward = (s: NodeJS.Signals) => child.signal(s);
  for (const s of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(s, forward);
  if (head !== null && child.stdin) {
    child.stdin.write(head);
    // The rest of the stream as it comes; EOF only at the stream's real end (a cut is zfs recv's to see).
    process.stdin.pipe(child.stdin);
  }
  const r = await child.done;
  return r.code ?? 1;
}

/** The first bytes of the stream on stdin, until streamVerdict can decide; stdin is left paused. */
async function readHead(stdin: NodeJS.ReadStream): Promise<{ ok: true; head: Buffer } | { ok: false; why: string }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for (;;) {
    const verdict = streamVerdict(Buffer.concat(chunks, size));
    if ('ok' in verdict) {
      stdin.pause();
      return verdict.ok ? { ok: true, head: Buffer.concat(chunks, size) } : { ok: false, why: verdict.why };
    }
    const chunk = await new Promise<Buffer | null>((resolve) => {
      const onData = (d: Buffer) => done(d);
      const onEnd = () => done(null);
      const done = (d: Buffer | null) => {
        stdin.off('data', onData);
        stdin.off('end', onEnd);
        stdin.pause();
        resolve(d);
      };
      stdin.on('data', onData);
      stdin.on('end', onEnd);
      stdin.resume();
    });
    if (chunk === null) return { ok: false, why: `a stream that ended after ${size} bytes, before its header` };
    chunks.push(chunk);
    size += chunk.length;
  }
}

/**
 * Stop one of this sink's own running commands (the source's deadline or an abort): only a
 * process started with exactly this sink's command line, so a source cannot signal anything else.
 */
export function killOwn(
  pid: number,
  cmdline: (p: number | 'self') => string | null = procCmdline,
  kill: (pid: number, signal: NodeJS.Signals) => void = (p, s) => process.kill(p, s),
): 'stopped' | 'gone' | 'foreign' {
  const theirs = cmdline(pid);
  // An exiting process (a zombie until sshd reaps it) has an empty command line: it is gone, not foreign.
  if (theirs === null || theirs === '') return 'gone';
  if (pid === process.pid || theirs !== cmdline('self')) return 'foreign';
  try {
    kill(pid, 'SIGTERM');
  } catch {
    return 'gone';
  }
  return 'stopped';
}

/** A process's command line (NUL-separated), or null when it does not exist (or cannot be read). */
function procCmdline(p: number | 'self'): string | null {
  try {
    return readFileSync(`/proc/${p}/cmdline`, 'latin1');
  } catch {
    return null;
  }
}

import { spawn, type ChildProcess } from 'node:child_process';
import { PassThrough, type Writable } from 'node:stream';
import { DEFAULT_LIMITS, MAX_STDERR, outputCapText, timeoutText } from './host.js';
import type { CommandLimits, CommandObserver, Host, RunResult, Sink, Source } from './host.js';

/** After SIGTERM, a process that is still there after this long gets SIGKILL. */
const KILL_GRACE_MS = 3000;

function collect(child: ChildProcess, keepStdout: boolean, limits?: CommandLimits): Promise<RunResult> {
  return new Promise((resolve) => {
    const out: Buffer[] = [];
    let size = 0;
    let err = '';
    let stopped: string | null = null;
    const stop = (why: string) => {
      stopped ??= why;
      terminate(child);
    };
    const timer = limits ? setTimeout(() => stop(timeoutText(limits)), limits.timeoutMs) : undefined;
    if (keepStdout) {
      child.stdout?.on('data', (d: Buffer) => {
        if (stopped) return;
        size += d.length;
        if (limits && size > limits.maxOutputBytes) return stop(outputCapText(limits));
        out.push(d);
      });
    }
    child.stderr?.on('data', (d: Buffer) => {
      if (err.length < MAX_STDERR) err += d.toString('utf8');
    });
    let spawnError: Error | null = null;
    child.on('error', (e) => (spawnError = e));
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const failed = spawnError as Error | null;
      if (stopped) return resolve({ code: null, signal, stdout: '', stderr: `${err}${err && !err.endsWith('\n') ? '\n' : ''}${stopped}` });
      resolve({
        code: failed ? 127 : code,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: failed ? `${err}${failed.message}` : err,
      });
    });
  });
}

/**
 * spawn() throws for some failures (ELOOP, EINVAL, …) instead of emitting 'error': turn those into
 * a process that failed at once, so callers have one failure path and can clean up the other side.
 */
function spawnSafely(argv: readonly string[], stdio: Array<'ignore' | 'pipe'>): ChildProcess | Error {
  try {
    return spawn(argv[0]!, argv.slice(1), { stdio: stdio as ['ignore' | 'pipe', 'pipe', 'pipe'] });
  } catch (e) {
    return e as Error;
  }
}

function failedAtOnce(e: Error): { done: Promise<RunResult>; stream: PassThrough } {
  const stream = new PassThrough();
  stream.end();
  return { done: Promise.resolve({ code: 127, signal: null, stdout: '', stderr: e.message }), stream };
}

function terminate(child: ChildProcess): void {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  setTimeout(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }, KILL_GRACE_MS).unref();
}

/** What became of a hook: its exit, its output (stdout and stderr together), or why it was stopped. */
export interface HookResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
  stopped: string | null;
}

/** This machine: every command is a child process started from an argv array (no shell). */
export class LocalHost implements Host {
  readonly label = 'local';

  constructor(
    private readonly observe?: CommandObserver,
    private readonly limits: CommandLimits = DEFAULT_LIMITS,
  ) {}

  run(argv: readonly string[]): Promise<RunResult> {
    this.observe?.(this.label, argv);
    const child = spawnSafely(argv, ['ignore', 'pipe', 'pipe']);
    return child instanceof Error ? failedAtOnce(child).done : collect(child, true, this.limits);
  }

  async startSink(argv: readonly string[]): Promise<Sink> {
    this.observe?.(this.label, argv);
    const child = spawnSafely(argv, ['pipe', 'pipe', 'pipe']);
    if (child instanceof Error) {
      const f = failedAtOnce(child);
      f.stream.resume();
      return { stdin: f.stream, done: f.done, abort: () => {} };
    }
    child.stdout!.resume();
    child.stdin!.on('error', () => {}); // EPIPE when it dies early: reported through `done`
    return { stdin: child.stdin!, done: collect(child, false), abort: () => terminate(child) };
  }

  /**
   * Run a snapshot hook (root's own command, lib/policy/hooks.ts): in a process group of its own,
   * so that when it misses its deadline or the run is stopped, whatever it started is stopped too
   * (SIGTERM to the group, SIGKILL 3 s later). Its output is kept for the report.
   */
  runHook(argv: readonly string[], env: Record<string, string>, timeoutMs: number, signal?: AbortSignal): Promise<HookResult> {
    this.observe?.(this.label, argv);
    // Not started once the run is being stopped: a freeze begun and killed half-way helps nobody.
    if (signal?.aborted) return Promise.resolve({ code: null, signal: null, output: '', stopped: `not run: stopped by ${String(signal.reason)}` });
    return new Promise((resolve) => {
      let child: ChildProcess;
      try {
        child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env }, detached: true });
      } catch (e) {
        return resolve({ code: 127, signal: null, output: (e as Error).message, stopped: null });
      }
      let output = '';
      const keep = (d: Buffer) => {
        if (output.length < MAX_STDERR) output += d.toString('utf8');
      };
      child.stdout!.on('data', keep);
      child.stderr!.on('data', keep);
      let stopped: string | null = null;
      let killer: NodeJS.Timeout | undefined;
      const stopGroup = (why: string) => {
        stopped ??= why;
        const group = (sig: NodeJS.Signals) => {
          try {
            if (child.pid) process.kill(-child.pid, sig);
          } catch {
            /* already gone */
          }
        };
        group('SIGTERM');
        killer = setTimeout(() => group('SIGKILL'), KILL_GRACE_MS);
        killer.unref();
      };
      const timer = setTimeout(() => stopGroup(`did not finish within ${Math.round(timeoutMs / 1000)} s (its timeout)`), timeoutMs);
      const onAbort = () => stopGroup(`stopped by ${String(signal!.reason)}`);
      signal?.addEventListener('abort', onAbort, { once: true });
      let spawnError: Error | null = null;
      let settled = false;
      const settle = (code: number | null, sig: NodeJS.Signals | null) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        const failed = spawnError as Error | null;
        resolve({ code: failed ? 127 : code, signal: sig, output: failed ? `${output}${failed.message}` : output, stopped });
      };
      child.on('error', (e) => {
        spawnError = e;
        settle(127, null);
      });
      // Done when the hook exits, not when its output closes: something it left running in the
      // background (its own business) may hold the pipes open for ever. Its last words get a moment.
      child.on('exit', (code, sig) => {
        clearTimeout(timer);
        const late = setTimeout(() => {
          child.stdout!.destroy();
          child.stderr!.destroy();
          settle(code, sig);
        }, 200);
        child.on('close', () => {
          clearTimeout(late);
          settle(code, sig);
        });
      });
    });
  }

  /** Start a command whose stdout is a stream (only this machine sends). */
  startSource(argv: readonly string[]): Source {
    this.observe?.(this.label, argv);
    const child = spawnSafely(argv, ['ignore', 'pipe', 'pipe']);
    if (child instanceof Error) {
      const f = failedAtOnce(child);
      return { stdout: f.stream, done: f.done, abort: () => {} };
    }
    return { stdout: child.stdout!, done: collect(child, false), abort: () => terminate(child) };
  }

  /**
   * Run a command on this process's own stdin, stdout and stderr (the restricted sink: a receive
   * stream passes straight from the SSH channel to `zfs recv`). `signal` forwards a signal to it.
   */
  runAttached(
    argv: readonly string[],
    /** Give the command a pipe as stdin (returned) instead of this process's stdin. */
    pipeStdin = false,
  ): { done: Promise<{ code: number | null; signal: string | null }>; signal: (s: NodeJS.Signals) => void; stdin?: Writable } {
    this.observe?.(this.label, argv);
    let child: ChildProcess;
    try {
      child = spawn(argv[0]!, argv.slice(1), { stdio: [pipeStdin ? 'pipe' : 'inherit', 'inherit', 'inherit'] });
    } catch (e) {
      return { done: Promise.resolve({ code: 127, signal: null }), signal: () => {} };
    }
    child.stdin?.on('error', () => {}); // EPIPE when it exits early: its exit status says why
    const done = new Promise<{ code: number | null; signal: string | null }>((resolve) => {
      child.on('error', (e) => {
        process.stderr.write(`${argv[0]}: ${e.message}\n`);
        resolve({ code: 127, signal: null });
      });
      child.on('exit', (code, signal) => resolve({ code, signal }));
    });
    return {
      done,
      signal: (sig) => void (child.exitCode === null && child.signalCode === null && child.kill(sig)),
      ...(child.stdin ? { stdin: child.stdin } : {}),
    };
  }

  async close(): Promise<void> {}
}

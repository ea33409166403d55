/**
 * Where `zfs` runs. Replication and discovery code talk to a Host and do not care whether it is
 * this machine (child processes) or a remote one (exec channels of one pooled SSH connection).
 */
import type { Readable, Writable } from 'node:stream';

export interface RunResult {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

/** A running process that reads a stream on its stdin (`zfs recv`). */
export interface Sink {
  stdin: Writable;
  /** Settles when the process has ended (never rejects; code null means it did not exit normally). */
  done: Promise<RunResult>;
  /** Stop it without giving it EOF, so it cannot take a truncated stream for a complete one. */
  abort(): void;
}

/** A running process whose stdout is a stream (`zfs send`). */
export interface Source {
  stdout: Readable;
  done: Promise<RunResult>;
  abort(): void;
}

export interface Host {
  /** "local" or the destination's host label, for messages. */
  readonly label: string;
  /** Run one command given as an argv array and collect its output. */
  run(argv: readonly string[]): Promise<RunResult>;
  /** Start a command that reads stdin; resolves once it is running. */
  startSink(argv: readonly string[]): Promise<Sink>;
  /** Start a command whose stdout is a stream (`zfs send`: a run's sends here, a restore's on a destination). */
  startSource(argv: readonly string[]): Source | Promise<Source>;
  /** Release what the host holds (the SSH connection); idempotent. */
  close(): Promise<void>;
}

/** Observes every command a host runs (for --verbose and tests that count commands). */
export type CommandObserver = (host: string, argv: readonly string[]) => void;

/** Keep at most this much stderr of a command: it is for messages, and zfs can be chatty. */
export const MAX_STDERR = 64 * 1024;

/** Deadlines and caps for non-streaming commands (SPEC §9: every run ends). */
export interface CommandLimits {
  /** A command (or a channel open) that takes longer is stopped and fails (--command-timeout). */
  timeoutMs: number;
  /** A command that prints more than this on stdout is stopped and fails. */
  maxOutputBytes: number;
}

/**
 * 300 s, and 256 MiB of output: `zfs get` of 100,000 snapshots with five properties each is about
 * 45 MiB, so the cap only ever stops a runaway (or hostile) command.
 */
export const DEFAULT_LIMITS: CommandLimits = { timeoutMs: 300_000, maxOutputBytes: 256 * 1024 * 1024 };

/** The longest delay Node's timers take (2^31 − 1 ms); a longer one fires at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export function timeoutText(limits: CommandLimits): string {
  return `did not finish within ${Math.round(limits.timeoutMs / 1000)} s (--command-timeout)`;
}

export function outputCapText(limits: CommandLimits): string {
  return `printed more than ${Math.round(limits.maxOutputBytes / 1024 / 1024)} MiB; it was stopped`;
}

/**
 * Text from another host (a destination's zfs, its shell) made safe to print or log: control
 * characters other than newline and tab (escape sequences that could rewrite a terminal or hide a
 * line in cron mail) become "?".
 */
export function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, '?');
}

/** How a command ended, in one line: "exit 1: <its last two lines of stderr>", a signal, or a lost connection. */
export function exitText(r: Pick<RunResult, 'code' | 'signal' | 'stderr'>): string {
  const status = r.code !== null ? `exit ${r.code}` : r.signal ? `signal ${r.signal}` : 'connection lost';
  const text = r.stderr.trim().split('\n').filter(Boolean).slice(-2).join(' / ');
  return text ? `${status}: ${text}` : status;
}

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
  /** Release what the host holds (the SSH connection); idempotent. */
  close(): Promise<void>;
}

/** Observes every command a host runs (for --verbose and tests that count commands). */
export type CommandObserver = (host: string, argv: readonly string[]) => void;

/** Keep at most this much stderr of a command: it is for messages, and zfs can be chatty. */
export const MAX_STDERR = 64 * 1024;

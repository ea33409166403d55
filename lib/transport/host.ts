/**
 * Where `zfs` runs. Replication and discovery code talk to a Host and do not care whether it is
 * this machine (child processes) or a remote one (exec channels of one pooled SSH connection).
 */

export interface RunResult {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

export interface Host {
  /** "local" or the destination's host label, for messages. */
  readonly label: string;
  /** Run one command given as an argv array; never through a shell on this machine. */
  run(argv: readonly string[]): Promise<RunResult>;
  /** Release what the host holds (the SSH connection); idempotent. */
  close(): Promise<void>;
}

/** Observes every command a host runs (for --verbose and tests that count commands). */
export type CommandObserver = (host: string, argv: readonly string[]) => void;

/**
 * `zback sink`: run by sshd as the forced command of a source's key (see lib/sink/sink.ts).
 * It takes its request from SSH_ORIGINAL_COMMAND, never from its own arguments.
 */
import { defaultSinkLog, runSink } from '../sink/sink.js';

export interface SinkArgs {
  roots: string[];
  keepDays: number;
  appendOnly: boolean;
  log?: string;
}

export function sinkCommand(a: SinkArgs): Promise<number> {
  return runSink({
    roots: a.roots,
    keepDays: a.keepDays,
    appendOnly: a.appendOnly,
    command: process.env.SSH_ORIGINAL_COMMAND,
    logFile: a.log ?? defaultSinkLog(),
    ...(process.env.SSH_CLIENT ? { client: process.env.SSH_CLIENT } : {}),
    now: Date.now(),
  });
}

/**
 * The hosts a command talks to: this machine, and one pooled SSH connection per destination host,
 * both under the command's --command-timeout (run, status, restore build them alike).
 */
import { DEFAULT_LIMITS, type CommandObserver } from '../transport/host.js';
import { LocalHost } from '../transport/local.js';
import { HostPool } from '../transport/pool.js';

export interface HostOptions {
  commandTimeoutS: number;
  sshConfig?: string;
  acceptNewHostKeys: boolean;
  /** False where nothing may change (a dry run, status): an accepted new key is not written down. */
  recordNewHostKeys: boolean;
  maxChannels: number;
}

export function commandHosts(o: HostOptions, observe?: CommandObserver): { local: LocalHost; pool: HostPool } {
  const limits = { ...DEFAULT_LIMITS, timeoutMs: o.commandTimeoutS * 1000 };
  const local = new LocalHost(observe, limits);
  const pool = new HostPool(local, {
    limits,
    ...(o.sshConfig ? { sshConfig: o.sshConfig } : {}),
    acceptNewHostKeys: o.acceptNewHostKeys,
    recordNewHostKeys: o.recordNewHostKeys,
    maxChannels: o.maxChannels,
    ...(observe ? { observe } : {}),
  });
  return { local, pool };
}

/**
 * Where a Host is, as the transport sees it: this machine, or an SSH target (an ssh_config alias or
 * a host name, with an optional user and port). The policy's destinations are parsed into this
 * shape; the transport never needs more of them.
 */
export interface HostTarget {
  /** Absent: this machine. */
  host?: string;
  user?: string;
  port?: number;
}

/** "local" for this machine, else "[user@]host[:port]": the host's name in messages, records and the pool. */
export function hostLabel(t: HostTarget): string {
  if (t.host === undefined) return 'local';
  return `${t.user ? t.user + '@' : ''}${t.host}${t.port ? ':' + t.port : ''}`;
}

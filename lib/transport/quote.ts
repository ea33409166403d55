/**
 * The one place that turns an argv array into a command line for a remote shell (SSH exec runs
 * the command through the remote user's shell). Every argument is single-quoted, so no dataset
 * name, property value or snapshot name can be interpreted by that shell.
 */

const SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

export function shellQuote(arg: string): string {
  if (arg.includes('\0')) throw new Error('an argument contains a NUL byte');
  if (arg !== '' && SAFE.test(arg)) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

export function shellCommand(argv: readonly string[]): string {
  if (argv.length === 0) throw new Error('empty command');
  return argv.map(shellQuote).join(' ');
}

/** Marker lines on a remote command's stderr that report its PID start with this. */
export const PID_MARKER_PREFIX = 'ZBACK_PID_';

/**
 * A remote command that first reports its PID on stderr (so it can be stopped by PID: sshd refuses
 * channel signals for root and for forced commands) and then becomes the command (`exec`).
 */
export function withPidReport(marker: string, argv: readonly string[]): string {
  if (!new RegExp(`^${PID_MARKER_PREFIX}[0-9a-f]{12}$`).test(marker)) throw new Error(`not a PID marker: ${marker}`);
  return `echo "${marker} $$" >&2; exec ${shellCommand(argv)}`;
}

/** Stop a remote command by the PID it reported: its process group first, else the process. */
export function killCommand(pid: number): string {
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`not a PID: ${pid}`);
  return `kill -TERM -- -${pid} 2>/dev/null || kill -TERM ${pid} 2>/dev/null`;
}

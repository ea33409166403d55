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

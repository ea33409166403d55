/**
 * Errors that carry what an operator needs to fix a problem: which dataset, which property,
 * the offending value and what is wrong with it.
 */

/** A value that failed validation; `problem` says what is wrong, in words an operator understands. */
export class InvalidValue extends Error {
  constructor(readonly problem: string) {
    super(problem);
    this.name = 'InvalidValue';
  }
}

/** A configuration value on one dataset that zback rejects. Only that dataset fails. */
export class ConfigError extends Error {
  constructor(
    readonly dataset: string,
    readonly property: string,
    readonly value: string,
    readonly problem: string,
    /** Where the value is set when the dataset inherits it. */
    readonly inheritedFrom?: string,
  ) {
    const from = inheritedFrom !== undefined && inheritedFrom !== dataset ? ` (inherited from ${inheritedFrom})` : '';
    super(`${dataset}: ${property}=${JSON.stringify(value)}${from} is invalid: ${problem}`);
    this.name = 'ConfigError';
  }

  /** The properties could not be read at all, so no single value can be named. */
  static unreadable(dataset: string, problem: string): ConfigError {
    const e = new ConfigError(dataset, '', '', problem);
    e.message = `${dataset}: cannot read its zback properties: ${problem}`;
    return e;
  }
}

/** A bad command-line argument or option: exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** A zfs command that failed: names the command and carries zfs's own words. */
export class CommandError extends Error {
  constructor(
    readonly argv: readonly string[],
    readonly code: number | null,
    readonly signal: string | null,
    readonly stderr: string,
    readonly hostName: string,
  ) {
    const why = code !== null ? `exit ${code}` : signal ? `signal ${signal}` : 'stopped';
    const text = stderr.trim().split('\n').filter(Boolean).slice(-3).join(' / ');
    super(`${argv.join(' ')} failed on ${hostName} (${why})${text ? `: ${text}` : ''}`);
    this.name = 'CommandError';
  }
}

/** ZFS cannot be used on a host at all (not installed, module not loaded, daemon not running): one line, why. */
export class ZfsUnavailable extends Error {
  constructor(
    readonly hostName: string,
    readonly why: string,
    /** What zfs itself said, as it said it. */
    readonly said: string,
  ) {
    const where = hostName === 'local' ? 'this machine' : hostName;
    const words = said.trim().split('\n').filter(Boolean)[0];
    super(`ZFS is not available on ${where}: ${why}${words ? ` (zfs said: ${JSON.stringify(words.trim())})` : ''}`);
    this.name = 'ZfsUnavailable';
  }
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

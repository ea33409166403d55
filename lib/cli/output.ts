/**
 * Where messages go. Errors always reach stderr. Progress and summaries ("info") are shown on a
 * terminal or with --verbose, and never from cron on success: a quiet cron job mails nothing.
 * --log-file appends every message with a timestamp; --json prints one JSON object per event.
 */
import { appendFileSync } from 'node:fs';
import { stripVTControlCharacters } from 'node:util';

export interface Output {
  /** The command's own result (a plan, a table): always printed on stdout. */
  print(text: string): void;
  info(line: string): void;
  error(line: string): void;
  /**
   * A diagnostic beside a command's result (the commands `status --verbose` shows): on stderr and in
   * the log file only, so stdout keeps exactly the report (or its JSON).
   */
  trace(line: string): void;
  /** A structured event (for --json and the log file); `message` is what a person reads. */
  event(type: string, message: string, data?: Record<string, unknown>): void;
  /** A line that replaces itself on a terminal (transfer progress); nothing elsewhere. */
  progress(line: string | null): void;
  /** Whether progress lines are shown at all (a terminal, not --json): else nothing is measured for them. */
  readonly showsProgress: boolean;
}

export interface OutputOptions {
  verbose: boolean;
  json?: boolean;
  logFile?: string;
}

const plain = stripVTControlCharacters;

export function consoleOutput(opts: OutputOptions): Output {
  const tty = Boolean(process.stdout.isTTY);
  const chatty = opts.verbose || tty;
  let progressShown = false;
  const clearProgress = () => {
    if (progressShown) process.stdout.write('\r\u001b[K');
    progressShown = false;
  };
  const log = (level: string, message: string) => {
    if (!opts.logFile) return;
    try {
      appendFileSync(opts.logFile, `${new Date().toISOString()} ${level} ${plain(message)}\n`);
    } catch (e) {
      process.stderr.write(`zback: cannot write the log file ${opts.logFile}: ${(e as Error).message}\n`);
      opts.logFile = undefined;
    }
  };
  const json = (type: string, level: string, message: string, data?: Record<string, unknown>) => {
    if (opts.json) process.stdout.write(JSON.stringify({ time: new Date().toISOString(), type, level, message: plain(message), ...data }) + '\n');
  };
  return {
    showsProgress: tty && !opts.json,
    print: (text) => {
      clearProgress();
      process.stdout.write(text);
    },
    info: (line) => {
      log('info', line);
      if (opts.json) return json('info', 'info', line);
      if (!chatty) return;
      clearProgress();
      process.stdout.write(line + '\n');
    },
    error: (line) => {
      log('error', line);
      json('error', 'error', line);
      clearProgress();
      process.stderr.write(`zback: ${line}\n`);
    },
    trace: (line) => {
      log('info', line);
      clearProgress();
      process.stderr.write(line + '\n');
    },
    event: (type, message, data) => {
      log('info', message);
      if (opts.json) return json(type, 'info', message, data);
      if (!chatty) return;
      clearProgress();
      process.stdout.write(message + '\n');
    },
    progress: (line) => {
      if (!tty || opts.json) return;
      if (line === null) return clearProgress();
      process.stdout.write(`\r\u001b[K${line.slice(0, (process.stdout.columns || 100) - 1)}`);
      progressShown = true;
    },
  };
}

/**
 * Where messages go. Errors always reach stderr. Progress and summaries ("info") are shown on a
 * terminal or with --verbose, and never from cron on success: a quiet cron job mails nothing.
 */
export interface Output {
  /** The command's own result (a plan, a table): always printed on stdout. */
  print(text: string): void;
  info(line: string): void;
  error(line: string): void;
}

export function consoleOutput(opts: { verbose: boolean }): Output {
  const chatty = opts.verbose || Boolean(process.stdout.isTTY);
  return {
    print: (text) => void process.stdout.write(text),
    info: (line) => {
      if (chatty) process.stdout.write(line + '\n');
    },
    error: (line) => void process.stderr.write(`zback: ${line}\n`),
  };
}

import { spawn } from 'node:child_process';
import type { CommandObserver, Host, RunResult } from './host.js';

/** Keep at most this much stderr; stdout is the parsed result and is kept whole. */
const MAX_STDERR = 64 * 1024;

/** This machine: every command is a child process started from an argv array (no shell). */
export class LocalHost implements Host {
  readonly label = 'local';

  constructor(private readonly observe?: CommandObserver) {}

  run(argv: readonly string[]): Promise<RunResult> {
    this.observe?.(this.label, argv);
    return new Promise((resolve) => {
      const out: Buffer[] = [];
      let err = '';
      const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout.on('data', (d: Buffer) => out.push(d));
      child.stderr.on('data', (d: Buffer) => {
        if (err.length < MAX_STDERR) err += d.toString('utf8');
      });
      let spawnError: Error | null = null;
      child.on('error', (e) => (spawnError = e));
      child.on('close', (code, signal) => {
        const stderr = spawnError ? `${err}${(spawnError as Error).message}` : err;
        resolve({ code: spawnError ? 127 : code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr });
      });
    });
  }

  async close(): Promise<void> {}
}

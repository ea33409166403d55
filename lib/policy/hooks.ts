/**
 * Snapshot hooks (SPEC §11): commands run before and after a dataset's snapshot (to quiesce a
 * database), configured by root in files, never in a ZFS property (delegated users can set those).
 *
 * One file per hook in the hooks folder (`/etc/zback/hooks.d` or `--hooks-dir`), named `*.conf`:
 *
 *     # /etc/zback/hooks.d/postgres.conf
 *     dataset  = tank/db             # repeatable
 *     children = yes                 # also for the datasets below it (default: no)
 *     pre      = /usr/local/sbin/pg-freeze --fast
 *     post     = /usr/local/sbin/pg-thaw
 *     timeout  = 60                  # seconds, each command (default 60)
 *
 * A command is an absolute path and arguments separated by spaces, run without a shell (a script
 * does what needs quoting). This module only parses; lib/execute/hook-files.ts reads the folder and
 * checks who may write what, and the snapshot port runs the commands.
 */
import { datasetNameProblem, isSameOrBelow } from '../zfs/dataset-names.js';

export interface SnapshotHook {
  /** The file's name in the hooks folder ("postgres.conf"), for messages. */
  file: string;
  datasets: string[];
  children: boolean;
  pre?: string[];
  post?: string[];
  timeoutS: number;
}

/** Where root keeps the hook files unless `run --hooks-dir` says otherwise. */
export const DEFAULT_HOOKS_DIR = '/etc/zback/hooks.d';

export const DEFAULT_HOOK_TIMEOUT_S = 60;
export const MAX_HOOK_TIMEOUT_S = 3600;

export interface ParsedHookFile {
  hook?: SnapshotHook;
  /** What is wrong, one line each ("postgres.conf line 3: …"). */
  problems: string[];
  /** The datasets the file names, even when it is not usable: their snapshots must wait for it. */
  datasets: string[];
}

const KEYS = ['dataset', 'children', 'pre', 'post', 'timeout'] as const;

export function parseHookFile(file: string, text: string): ParsedHookFile {
  const problems: string[] = [];
  const datasets: string[] = [];
  const seen = new Set<string>();
  let children = false;
  let pre: string[] | undefined;
  let post: string[] | undefined;
  let timeoutS = DEFAULT_HOOK_TIMEOUT_S;
  text.split('\n').forEach((raw, i) => {
    const at = `${file} line ${i + 1}`;
    const line = raw.replace(/(^|\s)#.*$/, '').trim();
    if (line === '') return;
    const eq = line.indexOf('=');
    const key = (eq < 0 ? line : line.slice(0, eq)).trim();
    const value = eq < 0 ? '' : line.slice(eq + 1).trim();
    if (!(KEYS as readonly string[]).includes(key)) return problems.push(`${at}: unknown setting ${JSON.stringify(key)} (the settings are ${KEYS.join(', ')})`);
    if (eq < 0 || value === '') return problems.push(`${at}: ${key} has no value (write ${key} = …)`);
    if (key !== 'dataset' && seen.has(key)) return problems.push(`${at}: ${key} is set twice`);
    seen.add(key);
    switch (key) {
      case 'dataset': {
        const problem = datasetNameProblem(value) ?? (value.includes('@') ? 'a snapshot, not a dataset' : null);
        if (problem) return problems.push(`${at}: dataset ${JSON.stringify(value)}: ${problem}`);
        datasets.push(value);
        return;
      }
      case 'children':
        if (value !== 'yes' && value !== 'no') return problems.push(`${at}: children = ${JSON.stringify(value)}: write yes or no`);
        children = value === 'yes';
        return;
      case 'pre':
      case 'post': {
        const argv = value.split(/\s+/);
        if (!argv[0]!.startsWith('/'))
          return problems.push(`${at}: ${key} = ${JSON.stringify(value)}: the command must be an absolute path (no shell, no PATH search)`);
        if (/['"`$\\;|&<>]/.test(value))
          return problems.push(
            `${at}: ${key} = ${JSON.stringify(value)}: runs without a shell, so quotes, $, ;, |, & and redirections mean nothing here; put them in a script`,
          );
        if (key === 'pre') pre = argv;
        else post = argv;
        return;
      }
      case 'timeout': {
        const n = /^\d+$/.test(value) ? Number(value) : NaN;
        if (!(n >= 1 && n <= MAX_HOOK_TIMEOUT_S))
          return problems.push(`${at}: timeout = ${JSON.stringify(value)}: give whole seconds from 1 to ${MAX_HOOK_TIMEOUT_S}`);
        timeoutS = n;
        return;
      }
    }
  });
  if (!datasets.length && !problems.length) problems.push(`${file}: no dataset = line: the hook applies to nothing`);
  if (!pre && !post && !problems.length) problems.push(`${file}: neither pre = nor post = is set: the hook runs nothing`);
  if (problems.length) return { problems, datasets };
  return { hook: { file, datasets, children, ...(pre ? { pre } : {}), ...(post ? { post } : {}), timeoutS }, problems, datasets };
}

/** The hooks of a dataset, in the order of their files. */
export function hooksFor(dataset: string, hooks: readonly SnapshotHook[]): SnapshotHook[] {
  return hooks.filter((h) => h.datasets.some((d) => d === dataset || (h.children && isSameOrBelow(dataset, d))));
}

/** Whether a file that could not be used names the dataset (its snapshot then waits for a fix). */
export function blockedBy(dataset: string, unusable: ReadonlyArray<{ datasets: readonly string[] }>): boolean {
  // An unusable file's `children` setting is not trusted either way: below a named dataset counts.
  return unusable.some((u) => u.datasets.some((d) => isSameOrBelow(dataset, d)));
}

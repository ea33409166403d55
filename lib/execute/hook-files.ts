/**
 * Reads the hooks folder (`/etc/zback/hooks.d`, `--hooks-dir`) and decides which hook files may be
 * used. A hook runs as root with the run's rights, so nothing anyone but root can change may
 * configure or be one: the folder, every folder above it, each `*.conf` file, each command and the
 * folders above the command must be owned by root and not writable by group or others (the test
 * OpenSSH's StrictModes makes). A file that fails the test is not used, and the snapshots of the
 * datasets it names wait until it is fixed (an unquiesced database snapshot is not what root asked
 * for); the rest go on.
 */
import { lstatSync, readdirSync, readFileSync, realpathSync, statSync, type Stats } from 'node:fs';
import { dirname, join } from 'node:path';
import { errorMessage } from '../errors.js';
import { parseHookFile, type SnapshotHook } from '../policy/hooks.js';

export const DEFAULT_HOOKS_DIR = '/etc/zback/hooks.d';

export interface UnusableHookFile {
  file: string;
  /** The datasets the file names (as far as it could be read). */
  datasets: string[];
  problems: string[];
}

export interface HookFiles {
  hooks: SnapshotHook[];
  unusable: UnusableHookFile[];
  /** The folder itself cannot be used (each file is then unusable too), or a given folder is missing. */
  problems: string[];
}

/** Why nobody but root can change this file or folder, or null when that is so. */
function notRootOnly(path: string, st: Stats): string | null {
  if (st.uid !== 0) return `${path} is owned by uid ${st.uid}, not root`;
  if (st.mode & 0o022) {
    const who = [st.mode & 0o020 ? 'its group' : '', st.mode & 0o002 ? 'others' : ''].filter(Boolean).join(' and ');
    return `${path} is writable by ${who} (mode ${(st.mode & 0o7777).toString(8)}); run chmod go-w ${path}`;
  }
  return null;
}

/** The same for a path and every folder above it. */
function chainProblem(path: string): string | null {
  for (let p = path; ; p = dirname(p)) {
    const problem = notRootOnly(p, statSync(p));
    if (problem) return problem;
    if (p === dirname(p)) return null;
  }
}

function commandProblem(argv0: string): string | null {
  let real: string;
  try {
    real = realpathSync(argv0);
  } catch (e) {
    return `its command ${argv0} cannot be found (${errorMessage(e)})`;
  }
  const st = statSync(real);
  if (!st.isFile()) return `its command ${argv0} is not a file`;
  if (!(st.mode & 0o111)) return `its command ${argv0} is not executable (chmod 0755 ${argv0})`;
  const problem = chainProblem(real);
  return problem ? `its command ${argv0}: ${problem}` : null;
}

export function loadHookFiles(dir: string, given: boolean): HookFiles {
  const out: HookFiles = { hooks: [], unusable: [], problems: [] };
  let names: string[];
  try {
    names = readdirSync(dir)
      .filter((n) => n.endsWith('.conf'))
      .sort();
  } catch (e) {
    // No folder is no hooks; but a folder given on the command line must be there (a typo).
    const missing = (e as NodeJS.ErrnoException).code === 'ENOENT';
    if (missing && !given) return out;
    out.problems.push(missing ? `hooks folder ${dir} (--hooks-dir) does not exist: no hook was run` : `hooks folder ${dir}: ${errorMessage(e)}`);
    return out;
  }
  const folderProblem = (() => {
    const st = lstatSync(dir);
    if (!st.isDirectory()) return `${dir} is not a folder (a symbolic link?)`;
    return chainProblem(dir);
  })();
  if (folderProblem) out.problems.push(`hooks folder ${dir} is not used: ${folderProblem}`);
  for (const name of names) {
    const path = join(dir, name);
    let text: string;
    let problem: string | null = folderProblem;
    try {
      const st = lstatSync(path);
      if (!st.isFile()) problem ??= `${path} is not a plain file (a symbolic link?)`;
      problem ??= notRootOnly(path, st);
      text = readFileSync(path, 'utf8');
    } catch (e) {
      out.unusable.push({ file: name, datasets: [], problems: [`${path}: ${errorMessage(e)}`] });
      continue;
    }
    const parsed = parseHookFile(name, text);
    if (!parsed.hook || problem) {
      out.unusable.push({ file: name, datasets: parsed.datasets, problems: [...(problem ? [problem] : []), ...parsed.problems] });
      continue;
    }
    const commands = [parsed.hook.pre, parsed.hook.post].filter((c): c is string[] => c !== undefined);
    const commandProblems = commands.map((c) => commandProblem(c[0]!)).filter((p): p is string => p !== null);
    if (commandProblems.length) out.unusable.push({ file: name, datasets: parsed.datasets, problems: commandProblems.map((p) => `${name}: ${p}`) });
    else out.hooks.push(parsed.hook);
  }
  return out;
}

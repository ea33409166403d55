/**
 * Reads the hooks folder (`/etc/zback/hooks.d`, `--hooks-dir`) and decides which hook files may be
 * used. A hook runs as root with the run's rights, so nothing anyone but root can change may
 * configure or be one: the folder, every folder above it, each `*.conf` file, each command and the
 * folders above the command must be owned by root and not writable by group or others (the test
 * OpenSSH's StrictModes makes). A file that fails the test is not used, and the snapshots of the
 * datasets it names wait until it is fixed (an unquiesced database snapshot is not what root asked
 * for); the rest go on.
 */
import { closeSync, constants, fstatSync, lstatSync, openSync, readdirSync, readFileSync, realpathSync, statSync, type Stats } from 'node:fs';
import { dirname, join } from 'node:path';
import { errorMessage } from '../errors.js';
import { parseHookFile, type SnapshotHook } from '../policy/hooks.js';

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
  if (st.uid !== 0) return `${path} is owned by uid ${st.uid}, not root (chown root: ${path}, if root means to use it)`;
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

/**
 * The command as it will run: its program resolved to the real file (a symbolic link anyone could
 * re-point is not followed at run time), which, like every absolute path among its arguments (a
 * script given to an interpreter), nobody but root can change. Or what is wrong.
 */
function resolveCommand(argv: readonly string[]): { argv: string[] } | { problem: string } {
  let program: string;
  try {
    program = realpathSync(argv[0]!);
  } catch (e) {
    return { problem: `its command ${argv[0]} cannot be found (${errorMessage(e)})` };
  }
  const st = statSync(program);
  if (!st.isFile()) return { problem: `its command ${argv[0]} is not a file` };
  if (!(st.mode & 0o111)) return { problem: `its command ${argv[0]} is not executable (chmod 0755 ${argv[0]})` };
  const programProblem = chainProblem(program);
  if (programProblem) return { problem: `its command ${argv[0]}: ${programProblem}` };
  for (const arg of argv.slice(1)) {
    if (!arg.startsWith('/')) continue;
    let real: string;
    try {
      real = realpathSync(arg);
    } catch {
      continue; // not a file (yet): an argument, not code
    }
    const problem = chainProblem(real);
    if (problem) return { problem: `its argument ${arg}: ${problem}` };
  }
  return { argv: [program, ...argv.slice(1)] };
}

/** A plain file's text, opened without blocking (a FIFO cannot hang the run); null for anything else. */
function readPlain(path: string, noFollow: boolean): string | null {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | (noFollow ? constants.O_NOFOLLOW : 0));
  } catch (e) {
    if (noFollow) throw e;
    return null;
  }
  try {
    return fstatSync(fd).isFile() ? readFileSync(fd, 'utf8') : null;
  } finally {
    closeSync(fd);
  }
}

export function loadHookFiles(dir: string, given: boolean): HookFiles {
  const out: HookFiles = { hooks: [], unusable: [], problems: [] };
  let real: string;
  let names: string[];
  try {
    // Read from where the folder really is: a symbolic link re-pointed after the check changes nothing.
    real = realpathSync(dir);
    names = readdirSync(real)
      .filter((n) => n.endsWith('.conf'))
      .sort();
  } catch (e) {
    // No folder is no hooks; but a folder given on the command line must be there (a typo).
    const missing = (e as NodeJS.ErrnoException).code === 'ENOENT';
    if (missing && !given) return out;
    out.problems.push(missing ? `hooks folder ${dir} (--hooks-dir) does not exist: no hook was run` : `hooks folder ${dir}: ${errorMessage(e)}`);
    return out;
  }
  const folderProblem = chainProblem(real);
  if (folderProblem) out.problems.push(`hooks folder ${dir} is not used: ${folderProblem}`);
  for (const name of names) {
    const path = join(real, name);
    let text: string;
    let problem: string | null = folderProblem;
    try {
      const st = lstatSync(path);
      // Nothing but a plain file is opened (a FIFO would block the run).
      if (!st.isFile()) {
        // Not used; but the datasets it names (if it leads to a plain file) wait for it to be fixed.
        const linked = st.isSymbolicLink() ? readPlain(path, false) : null;
        const named = linked === null ? [] : parseHookFile(name, linked).datasets;
        out.unusable.push({ file: name, datasets: named, problems: [`${path} is not a plain file (a symbolic link?)`] });
        continue;
      }
      problem ??= notRootOnly(path, st);
      const read = readPlain(path, true);
      if (read === null) throw new Error('it is no longer a plain file');
      text = read;
    } catch (e) {
      out.unusable.push({ file: name, datasets: [], problems: [`${path}: ${errorMessage(e)}`] });
      continue;
    }
    const parsed = parseHookFile(name, text);
    if (!parsed.hook || problem) {
      out.unusable.push({ file: name, datasets: parsed.datasets, problems: [...(problem ? [problem] : []), ...parsed.problems] });
      continue;
    }
    const hook = { ...parsed.hook };
    const problems: string[] = [];
    for (const when of ['pre', 'post'] as const) {
      const argv = hook[when];
      if (!argv) continue;
      const r = resolveCommand(argv);
      if ('problem' in r) problems.push(`${name}: ${r.problem}`);
      else hook[when] = r.argv;
    }
    if (problems.length) out.unusable.push({ file: name, datasets: parsed.datasets, problems });
    else out.hooks.push(hook);
  }
  return out;
}

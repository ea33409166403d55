// The lint gate (npm run lint; npm test runs it). A small, type-aware rule set, each rule for a
// failure a backup tool must not have, plus the architecture's boundaries as import rules.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** Modules that touch the world: only the shell (lib/transport, lib/execute, lib/cli, lib/state) may load them. */
const WORLD = [
  { name: 'node:child_process', message: 'only lib/transport (and the run lock) start processes' },
  { name: 'node:fs', message: 'the functional core reads no files: pass the data in' },
  { name: 'ssh2', message: 'only lib/transport opens SSH channels' },
];
const SHELL = [
  {
    group: ['**/transport/*.js', '!**/transport/host.js', '!**/transport/quote.js', '!**/transport/target.js'],
    message: 'the core plans; the shell talks to hosts',
    allowTypeImports: true,
  },
  { group: ['**/execute/*.js', '**/cli/*.js', '**/zfs/client.js', '**/state/*.js'], message: 'the functional core must not depend on the shell', allowTypeImports: true },
];

/** The functional core (SPEC: the planner is pure). */
const CORE = ['lib/policy/**', 'lib/plan/**', 'lib/safety/**', 'lib/report/**', 'lib/sink/rules.ts', 'lib/zfs/commands.ts', 'lib/zfs/parse.ts', 'lib/zfs/dataset-names.ts'];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.ci/**', '__tests__/bench/**', '__tests__/helpers/*.cjs', 'bin/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['lib/**/*.ts', '__tests__/**/*.ts'],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: new URL('..', import.meta.url).pathname },
    },
    rules: {
      // A promise nobody awaits fails in silence: the worst bug a backup tool can have.
      '@typescript-eslint/no-floating-promises': 'error',
      // An async function where a callback's result is ignored (an event handler): its failure is lost.
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      // Every action, status and conflict kind handled where a switch decides on it.
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
      // Only Error objects are thrown: what reaches stderr has a message (and a stack when it is a bug).
      '@typescript-eslint/only-throw-error': 'error',
      '@typescript-eslint/prefer-promise-reject-errors': 'error',
      // What comes from ZFS, SSH and JSON is parsed into types, never passed along as any.
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      eqeqeq: ['error', 'always'],
    },
  },
  {
    // The functional core (SPEC: the planner is pure): no processes, files, SSH or shell modules.
    files: CORE,
    rules: { '@typescript-eslint/no-restricted-imports': ['error', { paths: WORLD, patterns: SHELL }] },
  },
  {
    // The rest of lib: processes and SSH only in lib/transport, and the run lock's flock.
    files: ['lib/**/*.ts'],
    ignores: ['lib/transport/**', 'lib/state/lock.ts', ...CORE],
    rules: { '@typescript-eslint/no-restricted-imports': ['error', { paths: WORLD.filter((p) => p.name !== 'node:fs') }] },
  },
);

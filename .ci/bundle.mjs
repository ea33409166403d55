// Bundles the compiled CLI (dist/lib) into one CommonJS file, dist/bundle/zback.cjs, that bin/zback
// loads with V8's code cache (README, "Start-up"). Run by `npm run build`.
//
// One plugin: yargs loads `string-width` (twice: its own and cliui's copy) only to lay out --help,
// and evaluating it costs ~40 ms of every run (an Intl.Segmenter and Unicode-property regexes built
// when the module loads). Each import of it is replaced by a function that loads the real module on
// its first call: esbuild evaluates a require()d ES module lazily, so a run from cron never pays it.
import { build } from 'esbuild';
import { rmSync } from 'node:fs';
import path from 'node:path';

const LAZY = 'zback-lazy';

/** @type {import('esbuild').Plugin} */
const lazyStringWidth = {
  name: 'lazy-string-width',
  setup(b) {
    b.onResolve({ filter: /^string-width$/ }, async (args) => {
      if (args.namespace === LAZY) return undefined;
      const real = await b.resolve(args.path, { kind: args.kind, resolveDir: args.resolveDir, namespace: LAZY });
      if (real.errors.length > 0) return { errors: real.errors };
      return { path: real.path, namespace: LAZY };
    });
    b.onLoad({ filter: /.*/, namespace: LAZY }, (args) => ({
      contents: [
        `let real;`,
        `export default function stringWidth(text, options) {`,
        `  real ??= require(${JSON.stringify(args.path)}).default;`,
        `  return real(text, options);`,
        `}`,
      ].join('\n'),
      resolveDir: path.dirname(args.path),
      loader: 'js',
    }));
  },
};

rmSync('dist/bundle', { recursive: true, force: true });
await build({
  entryPoints: ['dist/lib/cli/entry.js'],
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  outfile: 'dist/bundle/zback.cjs',
  external: ['ssh2'],
  // The bundle is CommonJS: import.meta.url becomes the bundle's own file URL.
  define: { 'import.meta.url': '__zbackUrl' },
  banner: { js: "var __zbackUrl = require('node:url').pathToFileURL(__filename).href;" },
  minifyWhitespace: true,
  minifySyntax: true,
  logLevel: 'warning',
  plugins: [lazyStringWidth],
});

/**
 * The bundle's entry (esbuild makes dist/bundle/zback.cjs of it; bin/zback loads that). Both entry
 * points load their modules only when called: the restricted sink, which runs once per command a
 * source sends, never evaluates yargs or the planner.
 */
export async function main(argv: string[]): Promise<number> {
  return (await import('./main.js')).main(argv);
}

export async function sinkMain(argv: string[]): Promise<number> {
  return (await import('./sink.js')).sinkMain(argv);
}

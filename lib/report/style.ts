/**
 * Colour for people, plain text for everything else: chalk decides whether stdout is a terminal
 * (and honours FORCE_COLOR); NO_COLOR turns colour off.
 */
import chalk from 'chalk';

// chalk honours FORCE_COLOR and terminals, not NO_COLOR (no-color.org): do that here.
if (process.env.NO_COLOR) chalk.level = 0;

export const style = {
  title: (s: string) => chalk.bold(s),
  dataset: (s: string) => chalk.bold.cyan(s),
  add: (s: string) => chalk.green(s),
  remove: (s: string) => chalk.red(s),
  keep: (s: string) => chalk.dim(s),
  error: (s: string) => chalk.bold.red(s),
  warn: (s: string) => chalk.yellow(s),
  dim: (s: string) => chalk.dim(s),
};

export const level = {
  ok: (s: string) => chalk.green(s),
  warning: (s: string) => chalk.yellow(s),
  critical: (s: string) => chalk.bold.red(s),
};

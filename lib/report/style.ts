/**
 * Colour for people, plain text for everything else: chalk decides by itself whether stdout is a
 * terminal and honours NO_COLOR / FORCE_COLOR.
 */
import chalk from 'chalk';

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

import { describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import fc from 'fast-check';
import { shellCommand, shellQuote } from '../../lib/transport/quote.js';

const SHELLS = ['/bin/sh', '/bin/dash', '/bin/bash'].filter((s) => existsSync(s));

/** Runs `printf "%s\n" ARGS` through a real shell and returns its stdout. */
function viaShell(shell: string, args: readonly string[]): string {
  return execFileSync(shell, ['-c', `printf "%s\\n" ${args.map(shellQuote).join(' ')}`], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/nonexistent' },
  });
}
/** The number of arguments the shell sees. */
function argCount(shell: string, args: readonly string[]): number {
  return Number(execFileSync(shell, ['-c', `set -- ${args.map(shellQuote).join(' ')}; printf %s "$#"`], { encoding: 'utf8' }));
}

const HOSTILE = [
  '',
  ' ',
  'plain',
  "it's",
  "''",
  "'",
  '"',
  '"$HOME"',
  '$(touch /tmp/zback-quote-owned)',
  '`touch /tmp/zback-quote-owned`',
  '${PATH}',
  '$PATH',
  'a;b',
  'a|b',
  'a&b',
  'a && b || c',
  'a\nb',
  '\n',
  'a\tb',
  'a\\b',
  '\\',
  '*',
  '?',
  '[a-z]',
  '{a,b}',
  '~',
  '~root',
  '#comment',
  '!',
  '!!',
  'a > /tmp/zback-quote-owned',
  '< /etc/passwd',
  '-rf',
  '--',
  'tank/data@2026-11-25-100000',
  'org.wit:destinations=h:p/x|0 0,12 * * *',
  "x'; touch /tmp/zback-quote-owned; echo '",
  'ünïcødé ✓ 😀',
  '%s %d %n',
];

describe('shellQuote survives a real shell unchanged, as one argument', () => {
  test.each(SHELLS)('%s: hostile strings', (shell) => {
    expect(viaShell(shell, HOSTILE)).toBe(HOSTILE.map((a) => a + '\n').join(''));
    expect(argCount(shell, HOSTILE)).toBe(HOSTILE.length);
    expect(existsSync('/tmp/zback-quote-owned')).toBe(false);
  });

  test.each(SHELLS)('%s: each string alone is exactly one argument', (shell) => {
    const script = HOSTILE.map((a) => `set -- ${shellQuote(a)}; printf '%s ' "$#"`).join('\n');
    expect(execFileSync(shell, ['-c', script], { encoding: 'utf8' })).toBe('1 '.repeat(HOSTILE.length));
  });

  test('random strings (fast-check) through /bin/sh', () => {
    const arg = fc.string({ unit: 'binary', maxLength: 40 }).map((s) => s.replace(/\0/g, ''));
    const special = fc.constantFrom(...HOSTILE);
    fc.assert(
      fc.property(
        fc.array(fc.oneof(arg, special, fc.string({ unit: fc.constantFrom(...`'"\\$\`;|&*?!~#{}[]()<> \n\t`), maxLength: 12 })), {
          minLength: 1,
          maxLength: 20,
        }),
        (args) => {
          expect(viaShell('/bin/sh', args)).toBe(args.map((a) => a + '\n').join(''));
        },
      ),
      { numRuns: 40 },
    );
    expect(existsSync('/tmp/zback-quote-owned')).toBe(false);
  });
});

describe('shellQuote and shellCommand output', () => {
  test('safe words stay readable', () => {
    for (const a of ['zfs', 'tank/data@2026-11-25-100000', '-H', 'name,property,value', 'org.wit:snapshot=yes', 'a+b%c']) {
      expect(shellQuote(a)).toBe(a);
    }
  });
  test('everything else is single-quoted', () => {
    expect(shellQuote('')).toBe("''");
    expect(shellQuote('a b')).toBe("'a b'");
    expect(shellQuote("it's")).toBe("'it'\\''s'");
    expect(shellQuote('~')).toBe("'~'");
    expect(shellQuote('$(id)')).toBe("'$(id)'");
  });
  test('NUL bytes are refused (a shell cannot carry them)', () => {
    expect(() => shellQuote('a\0b')).toThrow(/NUL/);
  });
  test('shellCommand', () => {
    expect(shellCommand(['zfs', 'set', 'org.wit:destinations=h:p/x|daily', 'tank/my data'])).toBe("zfs set 'org.wit:destinations=h:p/x|daily' 'tank/my data'");
    expect(() => shellCommand([])).toThrow(/empty command/);
  });
  test('a whole command line runs as the same argv', () => {
    const argv = ['printf', '%s\\n', 'tank/x; id', '$(id)', "a'b", 'c\nd'];
    const out = execFileSync('/bin/sh', ['-c', shellCommand(argv)], { encoding: 'utf8' });
    expect(out).toBe("tank/x; id\n$(id)\na'b\nc\nd\n");
  });
});

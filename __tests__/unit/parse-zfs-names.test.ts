import { describe, expect, test } from '@jest/globals';
import { datasetNameProblem, isSameOrBelow, parentOf, poolOf, snapshotNameProblem } from '../../lib/zfs/dataset-names.js';

describe('datasetNameProblem', () => {
  test.each(['tank', 'tank/data', 'tank/my data', 'Pool_1/a.b/c-d/e:f/g_h', 'tank/...', 'tank/.hidden', 'a/' + 'b'.repeat(253)])('valid: %j', (n) => {
    expect(datasetNameProblem(n)).toBeNull();
  });
  test.each<[string, RegExp]>([
    ['', /empty/],
    ['a/' + 'b'.repeat(254), /longer than 255/],
    ['tank/a@b', /"@"/],
    ['tank/a#b', /"#"/],
    ['/tank', /begin or end with "\/"/],
    ['tank/', /begin or end with "\/"/],
    ['tank//a', /"\/\/"/],
    ['tank/./a', /component "\."/],
    ['tank/..', /component "\.\."/],
    ['tank/a;b', /invalid character ";"/],
    ['tank/$(id)', /invalid character "\$"/],
    ['tank/a`b`', /invalid character "`"/],
    ['tank/a|b', /invalid character "\|"/],
    ['tank/a,b', /invalid character ","/],
    ['tank/a%b', /invalid character "%"/],
    ['tank/a\tb', /invalid character "\\t"/],
    ['tank/a\nb', /invalid character "\\n"/],
    ['tank/é', /invalid character "é"/],
    ['tank/ a', /space/],
    ['tank/a ', /space/],
    ['1tank/a', /pool name must begin with a letter/],
    ['-tank', /pool name must begin with a letter/],
    ['mirror/a', /reserved/],
    ['raidz2', /reserved/],
    ['log', /reserved/],
  ])('invalid: %j', (n, re) => {
    expect(datasetNameProblem(n)).toMatch(re);
  });
});

describe('snapshotNameProblem', () => {
  test('valid', () => {
    for (const s of ['2026-11-25-100000', 'manual-1', 'a.b:c_d e']) expect(snapshotNameProblem(s)).toBeNull();
  });
  test('invalid', () => {
    for (const s of ['', 'a@b', 'a,b', 'a%b', 'a/b', 'a;b', '$(id)', 'a#b']) expect(snapshotNameProblem(s)).not.toBeNull();
  });
});

describe('poolOf, parentOf, isSameOrBelow', () => {
  test('poolOf', () => {
    expect(poolOf('tank')).toBe('tank');
    expect(poolOf('tank/a/b')).toBe('tank');
  });
  test('parentOf', () => {
    expect(parentOf('tank')).toBeNull();
    expect(parentOf('tank/a')).toBe('tank');
    expect(parentOf('tank/a/b')).toBe('tank/a');
  });
  test('isSameOrBelow', () => {
    expect(isSameOrBelow('tank/a', 'tank/a')).toBe(true);
    expect(isSameOrBelow('tank/a/b', 'tank/a')).toBe(true);
    expect(isSameOrBelow('tank/a/b/c', 'tank')).toBe(true);
    expect(isSameOrBelow('tank/ab', 'tank/a')).toBe(false);
    expect(isSameOrBelow('tank', 'tank/a')).toBe(false);
    expect(isSameOrBelow('tank2/a', 'tank')).toBe(false);
  });
});

import { describe, expect, test } from '@jest/globals';
import { InvalidValue } from '../../lib/errors.js';
import { describeRetention, formatRetention, parseRetention, type Retention } from '../../lib/policy/retention.js';

function err(text: string): string {
  try {
    parseRetention(text);
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidValue);
    return (e as Error).message;
  }
  throw new Error(`parseRetention(${JSON.stringify(text)}) did not throw`);
}

const R = (p: Partial<Record<keyof Retention, number>>): Retention => ({ h: 0, d: 0, w: 0, m: 0, y: 0, ...p });

describe('parseRetention: valid', () => {
  test.each<[string, Retention]>([
    ['24h30d0w3m', R({ h: 24, d: 30, m: 3 })],
    ['3m0w30d24h', R({ h: 24, d: 30, m: 3 })],
    ['7d', R({ d: 7 })],
    ['0w1d', R({ d: 1 })],
    ['1y', R({ y: 1 })],
    ['48h', R({ h: 48 })],
    ['  24h7d  ', R({ h: 24, d: 7 })],
    ['024h', R({ h: 24 })],
    ['100000h', R({ h: 100000 })],
    ['1h1d1w1m1y', R({ h: 1, d: 1, w: 1, m: 1, y: 1 })],
  ])('%j', (text, expected) => {
    expect(parseRetention(text)).toEqual(expected);
  });
});

describe('parseRetention: errors say what is wrong', () => {
  test('empty', () => {
    expect(err('')).toMatch(/empty retention/);
    expect(err('   ')).toMatch(/empty retention/);
  });
  test('unknown unit', () => {
    expect(err('24x')).toMatch(/unknown unit "x"/);
    expect(err('24H')).toMatch(/unknown unit "H"/);
    expect(err('24h7s')).toMatch(/unknown unit "s"/);
  });
  test('duplicate unit', () => {
    expect(err('24h12h')).toMatch(/unit "h" appears more than once/);
    expect(err('7d0w7d')).toMatch(/unit "d" appears more than once/);
    expect(err('0h0h1d')).toMatch(/unit "h" appears more than once/);
  });
  test('all zero', () => {
    expect(err('0h')).toMatch(/every count is 0/);
    expect(err('0h0d0w0m0y')).toMatch(/every count is 0/);
  });
  test('count without unit', () => {
    expect(err('24')).toMatch(/count 24 has no unit/);
    expect(err('24h7')).toMatch(/count 7 has no unit/);
  });
  test('garbage', () => {
    expect(err('h')).toMatch(/unexpected "h" at position 1/);
    expect(err('24h 7d')).toMatch(/unexpected " " at position 4/);
    expect(err('-1h')).toMatch(/unexpected "-" at position 1/);
    expect(err('24h,7d')).toMatch(/unexpected "," at position 4/);
    expect(err('1.5h')).toMatch(/unexpected/);
    expect(err('daily')).toMatch(/unexpected "d" at position 1/);
    expect(err('24h;rm -rf /')).toMatch(/unexpected ";"/);
  });
  test('huge count', () => {
    expect(err('100001h')).toMatch(/count 100001h is larger than 100000/);
    expect(err('2400000h')).toMatch(/larger than/);
    expect(err('99999999999999999999999d')).toMatch(/larger than/);
  });
});

describe('formatRetention', () => {
  test('canonical order, zero counts dropped', () => {
    expect(formatRetention(parseRetention('3m0w30d24h'))).toBe('24h30d3m');
    expect(formatRetention(R({ y: 2, h: 1 }))).toBe('1h2y');
  });
  test('round trip', () => {
    for (const s of ['24h30d0w3m', '7d', '1y', '5w2m', '1h1d1w1m1y']) {
      const r = parseRetention(s);
      expect(parseRetention(formatRetention(r))).toEqual(r);
    }
  });
});

describe('describeRetention: the policy in words', () => {
  test.each<[string, string | undefined, string]>([
    [
      '24h30d1m',
      undefined,
      'keeps the oldest snapshot of each of the last 24 hours, the last 30 days and the last month that have one, the newest snapshot and every held one',
    ],
    ['1d', undefined, 'keeps the oldest snapshot of the last day that has one, the newest snapshot and every held one'],
    [
      '24h',
      'Europe/Berlin',
      'keeps the oldest snapshot of each of the last 24 hours that have one (Europe/Berlin time), the newest snapshot and every held one',
    ],
    ['2w', undefined, 'keeps the oldest snapshot of each of the last 2 weeks that have one (weeks start on Monday), the newest snapshot'],
    ['0h7d0w1y', 'UTC', 'keeps the oldest snapshot of each of the last 7 days and the last year that have one (UTC time)'],
  ])('%s', (text, zone, words) => {
    const said = describeRetention(parseRetention(text), zone);
    expect(said.startsWith(words)).toBe(true);
    expect(said).toMatch(/; destroys zback's other snapshots \(never a foreign one\)$/);
  });

  test('every unit with a count is said, in order from the finest, and none without one', () => {
    const said = describeRetention(parseRetention('3y2m1w5d4h'));
    expect(said).toContain('the last 4 hours, the last 5 days, the last week, the last 2 months and the last 3 years');
    expect(describeRetention(parseRetention('30d'))).not.toMatch(/hour|week|month|year/);
  });
});

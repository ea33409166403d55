/**
 * NameFormat (SPEC §2): zback's snapshot names, `%Y-%m-%d-%H%M%S` in UTC by default (ZnapZend's
 * default), round trip, foreign names, custom formats, invalid formats.
 */
import fc from 'fast-check';
import { InvalidValue } from '../../lib/errors.js';
import { DEFAULT_NAME_FORMAT, NameFormat } from '../../lib/policy/snapshot-names.js';

const fmt = new NameFormat();
const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** Days in a month, written out (not via Date). */
function daysIn(y: number, m: number): number {
  if (m === 2) return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0 ? 29 : 28;
  return [4, 6, 9, 11].includes(m) ? 30 : 31;
}

describe('default format', () => {
  test('is %Y-%m-%d-%H%M%S', () => {
    expect(DEFAULT_NAME_FORMAT).toBe('%Y-%m-%d-%H%M%S');
    expect(fmt.format).toBe(DEFAULT_NAME_FORMAT);
  });

  test('names are UTC, whatever the zone of the machine', () => {
    expect(fmt.nameFor(Date.UTC(2026, 10, 26, 5, 0, 12))).toBe('2026-11-26-050012');
    expect(fmt.nameFor(Date.UTC(2026, 9, 25, 0, 30))).toBe('2026-10-25-003000');
    expect(fmt.nameFor(Date.UTC(2026, 9, 25, 1, 30))).toBe('2026-10-25-013000');
    expect(fmt.nameFor(Date.UTC(2028, 1, 29, 23, 59, 59))).toBe('2028-02-29-235959');
    expect(fmt.nameFor(Date.UTC(2026, 0, 1, 0, 0, 0, 999))).toBe('2026-01-01-000000'); // milliseconds dropped
  });

  test('a ZnapZend snapshot name is recognised, its time is the UTC time in it', () => {
    expect(fmt.parse('2026-11-26-050012')).toBe(Date.UTC(2026, 10, 26, 5, 0, 12));
    expect(fmt.parse('2028-02-29-000000')).toBe(Date.UTC(2028, 1, 29));
    expect(fmt.parse('2000-02-29-120000')).toBe(Date.UTC(2000, 1, 29, 12));
    expect(fmt.parse('1970-01-01-000000')).toBe(0);
  });

  test('round trip for many instants 1970–2200: parse(nameFor(t)) is t to the second', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: Date.UTC(2200, 0, 1) }), (t) => {
        const name = fmt.nameFor(t);
        expect(name).toMatch(/^\d{4}-\d{2}-\d{2}-\d{6}$/);
        expect(fmt.parse(name)).toBe(Math.floor(t / 1000) * 1000);
      }),
      { numRuns: 2000 },
    );
  });

  test('names sort like their times (so a listing sorted by name is in time order)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: Date.UTC(9999, 0, 1) }), fc.integer({ min: 0, max: Date.UTC(9999, 0, 1) }), (a, b) => {
        const [na, nb] = [fmt.nameFor(a), fmt.nameFor(b)];
        expect(na < nb ? -1 : na > nb ? 1 : 0).toBe(Math.sign(Math.floor(a / 1000) - Math.floor(b / 1000)));
      }),
      { numRuns: 500 },
    );
  });

  test('every well-formed name with year 0100–9999 parses exactly when its date is real, and round-trips', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 100, max: 9999 }),
        fc.integer({ min: 0, max: 13 }),
        fc.integer({ min: 0, max: 32 }),
        fc.integer({ min: 0, max: 25 }),
        fc.integer({ min: 0, max: 61 }),
        fc.integer({ min: 0, max: 61 }),
        (y, mo, d, h, mi, s) => {
          const name = `${pad(y, 4)}-${pad(mo)}-${pad(d)}-${pad(h)}${pad(mi)}${pad(s)}`;
          const real = mo >= 1 && mo <= 12 && d >= 1 && d <= daysIn(y, mo) && h <= 23 && mi <= 59 && s <= 59;
          const t = fmt.parse(name);
          if (!real) {
            expect(t).toBeNull();
            return;
          }
          expect(t).not.toBeNull();
          expect(fmt.nameFor(t!)).toBe(name);
        },
      ),
      { numRuns: 3000 },
    );
  });

  // Regression (found by these tests, fixed in lib/policy/names.ts): a name with a year 0000–0099
  // was accepted but given a time in 1900–1999 (Date.UTC maps two-digit years to 19xx), so
  // "0050-06-01-000000" parsed to 1950-06-01T00:00:00Z. It must parse to its own year (or be foreign).
  test.each(['0050-06-01-000000', '0000-01-01-000000', '0099-12-31-235959'])('%s: parse gives its own year or null', (name) => {
    const t = fmt.parse(name);
    if (t !== null) expect(fmt.nameFor(t)).toBe(name);
  });

  test.each([
    'manual-1',
    'before-upgrade',
    '',
    'zback_2024-01-01-000000',
    'autosnap_2026-03-01_00:00:00_hourly',
    '2026-13-01-000000', // month 13
    '2026-00-10-000000', // month 0
    '2026-02-30-000000', // 30 February
    '2027-02-29-000000', // not a leap year
    '2100-02-29-000000', // not a leap year either (century)
    '2026-04-31-000000', // April has 30 days
    '2026-11-00-000000', // day 0
    '2026-11-32-000000',
    '2026-11-26-246000', // hour 24
    '2026-11-26-240000',
    '2026-11-26-236000', // minute 60
    '2026-11-26-235960', // second 60 (no leap seconds)
    '2026-11-26-00000', // too short
    '2026-11-26-0000000', // too long
    '2026-11-26-000000x', // suffix garbage
    'x2026-11-26-000000', // prefix garbage
    ' 2026-11-26-000000',
    '2026-11-26-000000 ',
    '2026-11-26_000000',
    '2026/11/26-000000',
    '26-11-26-000000',
    '12026-11-26-000000',
    '2026-1-26-000000',
    '+2026-11-26-000000',
    '2026-11-26-0a0000',
    '２０２６-11-26-000000', // full-width digits
  ])('foreign: %j is not zback’s', (name) => {
    expect(fmt.parse(name)).toBeNull();
  });
});

describe('custom formats', () => {
  test.each([
    ['%Y%m%d%H%M%S', '20280229070809'],
    ['zback_%Y-%m-%d-%H%M%S', 'zback_2028-02-29-070809'],
    ['snap.%Y-%m-%dT%H:%M:%S', 'snap.2028-02-29T07:08:09'],
    ['%d.%m.%Y-%H.%M.%S', '29.02.2028-07.08.09'],
    ['%H%M%S_%Y%m%d', '070809_20280229'],
  ])('%s: name, round trip, and the default shape is foreign to it', (format, name) => {
    const f = new NameFormat(format);
    const t = Date.UTC(2028, 1, 29, 7, 8, 9);
    expect(f.nameFor(t)).toBe(name);
    expect(f.parse(name)).toBe(t);
    expect(f.parse('2028-02-29-070809')).toBeNull();
    expect(f.parse(`${name}x`)).toBeNull();
    expect(f.parse(`x${name}`)).toBeNull();
    fc.assert(
      fc.property(fc.integer({ min: 0, max: Date.UTC(2200, 0, 1) }), (u) => {
        expect(f.parse(f.nameFor(u))).toBe(Math.floor(u / 1000) * 1000);
      }),
      { numRuns: 200 },
    );
  });

  test('a dot in the format is a literal dot, not "any character"', () => {
    const f = new NameFormat('snap.%Y-%m-%d-%H%M%S');
    expect(f.parse('snap.2026-11-26-050012')).toBe(Date.UTC(2026, 10, 26, 5, 0, 12));
    expect(f.parse('snapX2026-11-26-050012')).toBeNull();
  });

  test('invalid dates are rejected in custom formats too', () => {
    const f = new NameFormat('%d.%m.%Y-%H.%M.%S');
    expect(f.parse('30.02.2026-00.00.00')).toBeNull();
    expect(f.parse('31.12.2026-24.00.00')).toBeNull();
  });
});

describe('invalid formats throw InvalidValue naming the problem', () => {
  test.each([
    ['', /must contain %Y/],
    ['%Y', /must contain %m/],
    ['%Y-%m-%d', /must contain %H/],
    ['%Y-%m-%d-%H%M', /must contain %S/],
    ['%Y-%m-%d-%H%M%S%', /unsupported token %/],
    ['%Y-%m-%d-%H%M%S-%y', /unsupported token %y/],
    ['%Y-%m-%d-%H%M%S-%Z', /unsupported token %Z/],
    ['%%Y-%m-%d-%H%M%S', /unsupported token %%/],
    ['%Y%Y-%m-%d-%H%M%S', /token %Y appears twice/],
    ['%Y-%m-%d-%H%M%S-%S', /token %S appears twice/],
    ['%Y-%m-%d %H%M%S', /character " " is not allowed/],
    ['%Y/%m/%d-%H%M%S', /character "\/" is not allowed/],
    ['%Y-%m-%d-%H%M%S@x', /character "@" is not allowed/],
    ['%Y-%m-%d-%H%M%S#1', /character "#" is not allowed/],
  ])('%j', (format, message) => {
    let error: unknown;
    try {
      new NameFormat(format);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidValue);
    expect((error as Error).message).toMatch(message);
  });
});

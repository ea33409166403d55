import { describe, expect, test } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { simulateEdit } from '../../lib/policy/config-edit.js';
import { propertyNames, resolveConfigs, type ConfigResult } from '../../lib/policy/properties.js';
import { parseNameList, parsePropertyRows, type PropertyRow } from '../../lib/zfs/parse.js';

const FIX = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'zfs-fuse');
const N = propertyNames('org.wit');
const P = (s: string) => `org.wit:${s}`;

function rows(...t: Array<[string, string, string, string]>): PropertyRow[] {
  return t.map(([name, p, value, source]) => ({ name, property: P(p), value, source }));
}
/** "dataset property" → "value source", order-independent. */
function table(r: readonly PropertyRow[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const x of r) out[`${x.name} ${x.property.replace('org.wit:', '')}`] = `${x.value} | ${x.source}`;
  return out;
}
const kinds = (r: ConfigResult[]) => Object.fromEntries(r.map((c) => [c.dataset, c.kind]));

describe('simulateEdit', () => {
  test('setting on a fresh subtree: local at the dataset, inherited below', () => {
    const out = simulateEdit(
      [],
      ['p/a', 'p/a/b', 'p/a/b/c'],
      'p/a',
      new Map([
        [P('snapshot'), 'yes'],
        [P('retention'), '24h'],
      ]),
    );
    expect(table(out)).toEqual({
      'p/a snapshot': 'yes | local',
      'p/a retention': '24h | local',
      'p/a/b snapshot': 'yes | inherited from p/a',
      'p/a/b retention': '24h | inherited from p/a',
      'p/a/b/c snapshot': 'yes | inherited from p/a',
      'p/a/b/c retention': '24h | inherited from p/a',
    });
  });

  test('does not touch datasets outside the subtree, nor the input', () => {
    const input = rows(['p/x', 'snapshot', 'yes', 'local'], ['p/ab', 'snapshot', 'no', 'local']);
    const copy = structuredClone(input);
    const out = simulateEdit(input, ['p/a', 'p/ab', 'p/x'], 'p/a', new Map([[P('snapshot'), 'yes']]));
    expect(input).toEqual(copy);
    expect(table(out)).toEqual({ 'p/x snapshot': 'yes | local', 'p/ab snapshot': 'no | local', 'p/a snapshot': 'yes | local' });
  });

  test('a child with its own local or received value keeps it; its children keep inheriting from it', () => {
    const out = simulateEdit(
      rows(
        ['p/a', 'retention', '7d', 'local'],
        ['p/a/b', 'retention', '48h', 'local'],
        ['p/a/b/c', 'retention', '48h', 'inherited from p/a/b'],
        ['p/a/r', 'retention', '1d', 'received'],
        ['p/a/r/s', 'retention', '1d', 'inherited from p/a/r'],
        ['p/a/d', 'retention', '7d', 'inherited from p/a'],
      ),
      ['p/a', 'p/a/b', 'p/a/b/c', 'p/a/r', 'p/a/r/s', 'p/a/d'],
      'p/a',
      new Map([[P('retention'), '30d']]),
    );
    expect(table(out)).toEqual({
      'p/a retention': '30d | local',
      'p/a/b retention': '48h | local',
      'p/a/b/c retention': '48h | inherited from p/a/b',
      'p/a/r retention': '1d | received',
      'p/a/r/s retention': '1d | inherited from p/a/r',
      'p/a/d retention': '30d | inherited from p/a',
    });
  });

  test('clearing a value (zfs inherit): the dataset and its children inherit from above, or lose it', () => {
    const before = rows(
      ['p', 'retention', '1y', 'local'],
      ['p/a', 'retention', '7d', 'local'],
      ['p/a/b', 'retention', '7d', 'inherited from p/a'],
      ['p/a', 'destinations', 'h:x/y|daily', 'local'],
      ['p/a/b', 'destinations', 'h:x/y|daily', 'inherited from p/a'],
    );
    const out = simulateEdit(
      before,
      ['p/a', 'p/a/b'],
      'p/a',
      new Map<string, string | null>([
        [P('retention'), null],
        [P('destinations'), null],
      ]),
    );
    expect(table(out)).toEqual({
      'p retention': '1y | local',
      'p/a retention': '1y | inherited from p',
      'p/a/b retention': '1y | inherited from p',
    });
  });

  test('inherits a received value from above as ZFS shows it', () => {
    const out = simulateEdit(
      rows(['b/copy', 'snapshot', 'yes', 'received'], ['b/copy/x', 'snapshot', 'no', 'local']),
      ['b/copy/x', 'b/copy/x/y'],
      'b/copy/x',
      new Map([[P('snapshot'), null]]),
    );
    expect(table(out)).toEqual({
      'b/copy snapshot': 'yes | received',
      'b/copy/x snapshot': 'yes | inherited from b/copy',
      'b/copy/x/y snapshot': 'yes | inherited from b/copy',
    });
  });

  test('snapshot rows are dropped', () => {
    const out = simulateEdit(
      rows(['p/a', 'snapshot', 'yes', 'local'], ['p/a@s', 'snapshot', 'yes', 'inherited from p/a']),
      ['p/a'],
      'p/a',
      new Map([[P('retention'), '1d']]),
    );
    expect(out.some((r) => r.name.includes('@'))).toBe(false);
  });

  test('on the recorded configuration: what resolveConfigs makes of the edit', () => {
    const recorded = parsePropertyRows(readFileSync(join(FIX, 'get-config.txt'), 'utf8'));
    const all = parseNameList(readFileSync(join(FIX, 'list-datasets.txt'), 'utf8'));
    const sub = (d: string) => all.filter((x) => x === d || x.startsWith(d + '/'));

    // A bad retention on tank/data breaks tank/data and tank/data/web, not tank/data/db (own value).
    const bad = resolveConfigs(simulateEdit(recorded, sub('tank/data'), 'tank/data', new Map([[P('retention'), '24x']])), N);
    expect(kinds(bad)).toMatchObject({ 'tank/data': 'error', 'tank/data/web': 'error', 'tank/data/db': 'managed' });
    const web = bad.find((c) => c.dataset === 'tank/data/web');
    expect(web?.kind === 'error' && web.error.message).toBe(
      'tank/data/web: org.wit:retention="24x" (inherited from tank/data) is invalid: unknown unit "x" (use h, d, w, m or y)',
    );

    // Enabling tank/other without a retention is refused; with one it is managed.
    const noRet = resolveConfigs(simulateEdit(recorded, sub('tank/other'), 'tank/other', new Map([[P('snapshot'), 'yes']])), N);
    expect(kinds(noRet)['tank/other']).toBe('error');
    const ok = resolveConfigs(
      simulateEdit(
        recorded,
        sub('tank/other'),
        'tank/other',
        new Map([
          [P('snapshot'), 'yes'],
          [P('retention'), '7d'],
        ]),
      ),
      N,
    );
    expect(kinds(ok)['tank/other']).toBe('managed');

    // Unsetting snapshot on tank/data: children no longer managed.
    const unset = resolveConfigs(simulateEdit(recorded, sub('tank/data'), 'tank/data', new Map([[P('snapshot'), null]])), N);
    expect(kinds(unset)).toMatchObject({ 'tank/data': 'ignored', 'tank/data/db': 'ignored', 'tank/data/web': 'ignored' });

    // A local snapshot=yes on the received copy makes it (only it) managed once it has a local retention.
    const recv = resolveConfigs(
      simulateEdit(
        recorded,
        sub('tank/recv'),
        'tank/recv',
        new Map([
          [P('snapshot'), 'yes'],
          [P('retention'), '14d'],
        ]),
      ),
      N,
    );
    expect(kinds(recv)).toMatchObject({ 'tank/recv': 'managed', 'tank/recv/child': 'ignored' });
  });
});
